"""An outside model's score of antibody sequences: AntiBERTy's pseudo-log-likelihood per residue.

AntiBERTy (Ruffolo et al. 2021: a BERT, 8 layers × 512, trained by masked-language modelling on 558M
natural antibody sequences from OAS) ships its weights inside the ``antiberty`` 0.1.3 wheel
(``pip install "antiberty==0.1.3"``, the ``antibody`` extra; version 1.0.0 downloads them at run time
instead, which cannot work offline). The wheel's own runner builds the network through ``transformers`` 4
and fails under transformers 5, so the network is written out here (BERT with post-layer-norm, GELU, learned
positions; the masked-LM head) and the weights are read with ``torch.load(weights_only=True)`` from the
installed package's files: nothing of the package is imported or run.

The score of a sequence is AntiBERTy's ``pseudo_log_likelihood``: mask each residue in turn and average
log p(true residue | the rest) over residues, the special tokens excluded from the softmax. It needs one
forward pass per residue (~120 for a VH), so ``positions=k`` scores a seeded random k of them per sequence: an
unbiased estimate of the same per-sequence mean, whose extra noise the between-sequence SE includes.
"""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch import Tensor, nn

__all__ = ["VOCAB", "MISSING", "weights_path", "AntiBERTy", "load_antiberty", "pseudo_log_likelihood", "pll_summary"]

VOCAB = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *"ACDEFGHIKLMNPQRSTVWY")
PAD, UNK, CLS, SEP, MASK = range(5)
_IDS = {a: i for i, a in enumerate(VOCAB) if len(a) == 1}
_WEIGHTS = ("trained_models", "AntiBERTy_md_smooth", "pytorch_model.bin")
#: the one-line message when the weights are not installed
MISSING = 'AntiBERTy is not installed: pip install "antiberty==0.1.3" (or pip install "pfgm[antibody]"); 1.0.0 ships no weights'


def weights_path() -> Path:
    """The AntiBERTy weights file inside the installed antiberty package (ImportError with MISSING if absent)."""
    spec = importlib.util.find_spec("antiberty")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(MISSING)
    p = Path(list(spec.submodule_search_locations)[0]).joinpath(*_WEIGHTS)
    if not p.is_file():
        raise ImportError(f"{MISSING} (found the package at {p.parents[2]} without {'/'.join(_WEIGHTS)})")
    return p


class _Layer(nn.Module):
    def __init__(self, d: int, heads: int, ff: int, eps: float):
        super().__init__()
        self.heads = heads
        self.q, self.k, self.v, self.o = (nn.Linear(d, d) for _ in range(4))
        self.ln1, self.ln2 = nn.LayerNorm(d, eps=eps), nn.LayerNorm(d, eps=eps)
        self.ff1, self.ff2 = nn.Linear(d, ff), nn.Linear(ff, d)

    def forward(self, x: Tensor, bias: Tensor) -> Tensor:
        B, L, d = x.shape
        split = lambda t: t.view(B, L, self.heads, d // self.heads).transpose(1, 2)  # noqa: E731
        a = nn.functional.scaled_dot_product_attention(split(self.q(x)), split(self.k(x)), split(self.v(x)), attn_mask=bias)
        x = self.ln1(x + self.o(a.transpose(1, 2).reshape(B, L, d)))
        return self.ln2(x + self.ff2(nn.functional.gelu(self.ff1(x))))


class AntiBERTy(nn.Module):
    """AntiBERTy's encoder and masked-LM head (the species/chain/graft classifiers are not needed)."""

    def __init__(
        self,
        vocab: int = 25,
        d: int = 512,
        layers: int = 8,
        heads: int = 8,
        ff: int = 2048,
        max_len: int = 512,
        eps: float = 1e-12,
    ):
        super().__init__()
        self.word, self.pos, self.segment = nn.Embedding(vocab, d), nn.Embedding(max_len, d), nn.Embedding(2, d)
        self.ln = nn.LayerNorm(d, eps=eps)
        self.layers = nn.ModuleList(_Layer(d, heads, ff, eps) for _ in range(layers))
        self.head, self.head_ln = nn.Linear(d, d), nn.LayerNorm(d, eps=eps)
        self.decoder = nn.Linear(d, vocab)

    def forward(self, tokens: Tensor, attention: Tensor) -> Tensor:
        """Logits (B, L, vocab) for tokens (B, L) with attention (B, L) 1 on real tokens."""
        L = tokens.shape[1]
        x = self.word(tokens) + self.pos.weight[:L][None] + self.segment.weight[0]
        x = self.ln(x)
        bias = torch.zeros(attention.shape, dtype=x.dtype).masked_fill(attention == 0, torch.finfo(x.dtype).min)[:, None, None, :]
        for layer in self.layers:
            x = layer(x, bias)
        return self.decoder(self.head_ln(nn.functional.gelu(self.head(x))))

    def load_bert_state(self, sd: dict[str, Tensor]) -> None:
        """Load a BertForPreTraining-style state dict (AntiBERTy's pytorch_model.bin)."""
        e = "bert.embeddings."
        mine = {
            "word.weight": sd[e + "word_embeddings.weight"],
            "pos.weight": sd[e + "position_embeddings.weight"],
            "segment.weight": sd[e + "token_type_embeddings.weight"],
            "ln.weight": sd[e + "LayerNorm.weight"],
            "ln.bias": sd[e + "LayerNorm.bias"],
        }
        names = {
            "q": "attention.self.query",
            "k": "attention.self.key",
            "v": "attention.self.value",
            "o": "attention.output.dense",
            "ln1": "attention.output.LayerNorm",
            "ff1": "intermediate.dense",
            "ff2": "output.dense",
            "ln2": "output.LayerNorm",
        }
        for i in range(len(self.layers)):
            for m, theirs in names.items():
                for w in ("weight", "bias"):
                    mine[f"layers.{i}.{m}.{w}"] = sd[f"bert.encoder.layer.{i}.{theirs}.{w}"]
        p = "cls.predictions."
        mine.update(
            {
                "head.weight": sd[p + "transform.dense.weight"],
                "head.bias": sd[p + "transform.dense.bias"],
                "head_ln.weight": sd[p + "transform.LayerNorm.weight"],
                "head_ln.bias": sd[p + "transform.LayerNorm.bias"],
                "decoder.weight": sd[p + "decoder.weight"],
                "decoder.bias": sd[p + "bias"],
            }
        )
        self.load_state_dict(mine, strict=True)


_MODEL: AntiBERTy | None = None


def load_antiberty() -> AntiBERTy:
    """The AntiBERTy network with its shipped weights, in eval mode (cached; ImportError when absent)."""
    global _MODEL
    if _MODEL is None:
        sd = torch.load(weights_path(), map_location="cpu", weights_only=True)
        net = AntiBERTy()
        net.load_bert_state(sd)
        _MODEL = net.eval()
    return _MODEL


def _tokens(seq: str) -> list[int]:
    return [CLS, *(_IDS.get(a, UNK) for a in seq.upper()), SEP]


@torch.no_grad()
def pseudo_log_likelihood(seqs: Sequence[str], positions: int | None = None, seed: int = 0, batch: int = 64) -> np.ndarray:
    """Per sequence, the mean over residues of log p(residue | all others) under AntiBERTy (nats).

    ``positions=k`` averages over a seeded random k residues of each sequence instead of all of them.
    Empty sequences score NaN.
    """
    net = load_antiberty()
    rng = np.random.default_rng(seed)
    jobs: list[tuple[int, list[int], int]] = []  # (sequence index, tokens, masked token index)
    for i, s in enumerate(seqs):
        if not s:
            continue
        toks = _tokens(s)
        idx = np.arange(len(s))
        if positions is not None and positions < len(s):
            idx = np.sort(rng.choice(len(s), size=positions, replace=False))
        jobs += [(i, toks, int(p) + 1) for p in idx]
    total = np.zeros(len(seqs))
    count = np.zeros(len(seqs))
    jobs.sort(key=lambda j: len(j[1]))  # similar lengths share a batch: less padding
    for b in range(0, len(jobs), batch):
        chunk = jobs[b : b + batch]
        L = max(len(t) for _, t, _ in chunk)
        tok = torch.full((len(chunk), L), PAD, dtype=torch.long)
        att = torch.zeros((len(chunk), L), dtype=torch.long)
        for r, (_, t, m) in enumerate(chunk):
            tok[r, : len(t)] = torch.as_tensor(t)
            att[r, : len(t)] = 1
        truth = tok[torch.arange(len(chunk)), [m for _, _, m in chunk]].clone()
        tok[torch.arange(len(chunk)), [m for _, _, m in chunk]] = MASK
        logits = net(tok, att)[torch.arange(len(chunk)), [m for _, _, m in chunk]]
        logits[:, :5] = -math.inf  # the special tokens, as AntiBERTy's own pseudo_log_likelihood does
        lp = torch.log_softmax(logits.double(), -1)[torch.arange(len(chunk)), truth].numpy()
        for (i, _, _), v in zip(chunk, lp):
            total[i] += v
            count[i] += 1
    with np.errstate(invalid="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def pll_summary(values: np.ndarray, prefix: str = "antiberty_pll") -> dict[str, float]:
    """Mean and its standard error over sequences (NaNs, empty sequences, left out)."""
    v = np.asarray(values, np.float64)
    v = v[np.isfinite(v)]
    return {
        prefix: float(v.mean()) if len(v) else math.nan,
        f"{prefix}_se": float(v.std(ddof=1) / math.sqrt(len(v))) if len(v) > 1 else math.nan,
    }
