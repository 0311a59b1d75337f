"""AntiBERTy's pseudo-log-likelihood: the written-out network against transformers' BERT, the masking
bookkeeping against a by-hand loop, the one-line message when the weights are absent, and (with the
antiberty 0.1.3 wheel) germline genes scoring far above shuffled ones."""

import importlib.util
import math

import numpy as np
import pytest
import torch

from pfgm.modalities.sequences import plm


def _small(seed=0, max_len=64):
    torch.manual_seed(seed)
    net = plm.AntiBERTy(d=32, layers=2, heads=4, ff=64, max_len=max_len).eval()
    for p in net.parameters():  # LayerNorm at 1/0 and Linear defaults are too tame to catch a wrong wiring
        torch.nn.init.normal_(p, std=0.3)
    return net


def test_missing_weights_is_one_line(monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ImportError) as e:
        plm.weights_path()
    assert "\n" not in str(e.value) and 'pip install "antiberty==0.1.3"' in str(e.value)


def test_network_matches_transformers_bert():
    tr = pytest.importorskip("transformers")
    net = _small()
    cfg = tr.BertConfig(
        vocab_size=25,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=64,
        hidden_act="gelu",
        layer_norm_eps=1e-12,
    )
    ref = tr.BertForMaskedLM(cfg).eval()
    sd = ref.state_dict()
    for k in sd:  # random weights for the reference, then the same into ours through the loader
        sd[k] = torch.randn_like(sd[k].float()) * 0.3 if sd[k].is_floating_point() else sd[k]
    sd["cls.predictions.decoder.bias"] = sd["cls.predictions.bias"]
    sd["cls.predictions.decoder.weight"] = sd["bert.embeddings.word_embeddings.weight"]  # tied in BERT (and in AntiBERTy's file)
    ref.load_state_dict(sd, strict=False)
    net.load_bert_state(sd)
    tok = torch.tensor([[2, 5, 9, 4, 12, 3, 0, 0], [2, 7, 7, 8, 9, 10, 11, 3]])
    att = (tok != 0).long()
    with torch.no_grad():
        a, b = net(tok, att), ref(input_ids=tok, attention_mask=att).logits
    assert torch.allclose(a[att.bool()], b[att.bool()], atol=1e-4)


def test_pll_bookkeeping_by_hand(monkeypatch):
    net = _small(1)
    monkeypatch.setattr(plm, "_MODEL", net)
    seqs = ["CARDW", "EVQLV", ""]
    got = plm.pseudo_log_likelihood(seqs, batch=3)  # batches cross sequences
    for s, g in zip(seqs[:2], got):
        toks = plm._tokens(s)
        lps = []
        for i in range(1, len(toks) - 1):
            t = torch.tensor([toks])
            t[0, i] = plm.MASK
            with torch.no_grad():
                logit = net(t, torch.ones_like(t))[0, i]
            logit[:5] = -math.inf
            lps.append(torch.log_softmax(logit.double(), -1)[toks[i]].item())
        assert g == pytest.approx(np.mean(lps), abs=1e-6)
    assert math.isnan(got[2])
    # a subset of positions: the mean over those residues only, the same for the same seed
    a = plm.pseudo_log_likelihood(["EVQLVESGG"], positions=3, seed=4)
    assert a == pytest.approx(plm.pseudo_log_likelihood(["EVQLVESGG"], positions=3, seed=4))


def test_pll_summary():
    s = plm.pll_summary(np.array([-1.0, -3.0, np.nan]), "x")
    assert s["x"] == -2.0 and s["x_se"] == pytest.approx(math.sqrt(2) / math.sqrt(2))
    assert math.isnan(plm.pll_summary(np.array([np.nan]))["antiberty_pll"])


def test_antiberty_prefers_germline_to_shuffled():
    try:
        plm.weights_path()
    except ImportError as e:
        pytest.skip(str(e))
    v = "EVQLLESGGGLVQPGGSLRLSCAASGFTFSSYAMSWVRQAPGKGLEWVSAISGSGGSTYYADSVKGRFTISRDNSKNTLYLQMNSLRAEDTAVYYC"
    shuffled = "".join(np.random.default_rng(0).permutation(list(v)))
    germ, shuf = plm.pseudo_log_likelihood([v, shuffled], positions=12, seed=0)
    assert germ > -0.5 and shuf < -2.0


def test_vh_evaluate_antiberty_option(tmp_path, monkeypatch):
    pytest.importorskip("olga", reason="the sequences extra (olga) is not installed")
    monkeypatch.setenv("PFGM_CACHE", str(tmp_path / "cache"))
    from pfgm.modalities.base import build_modality

    opts = {
        "name": "sequences",
        "source": "olga_vh",
        "num_sequences": 40,
        "eval_reference": 3,
        "pgen_samples": 2,
        "numbering": "alignment",
    }
    with pytest.raises(ValueError, match="modality.antiberty"):
        build_modality({**opts, "antiberty": -1})
    m = build_modality({**opts, "antiberty": 2})

    def absent():
        raise ImportError(plm.MISSING)

    monkeypatch.setattr(plm, "weights_path", absent)
    ev = m.evaluate(m.sequences("train")[:2])
    assert "antiberty_pll" not in ev.metrics and any(plm.MISSING in n for n in ev.notes)
    monkeypatch.setattr(plm, "weights_path", lambda: None)
    monkeypatch.setattr(plm, "_MODEL", _small(2, max_len=160))  # a tiny stand-in network: the wiring, not the score
    ev = m.evaluate(m.sequences("train")[:2])
    assert {"antiberty_pll", "antiberty_pll_se", "antiberty_pll_heldout", "antiberty_pll_se_heldout"} <= set(ev.metrics)
