"""How an outside listener hears a speech checkpoint's samples, beside the project's own classifier.

For ``--num`` samples (and, for a class-conditional model, ``--num`` more asked for each digit in turn) it
reports, per set (samples, real held-out clips through the codec = the ceiling, as they are, noise bursts
and reversed speech = the floors):

- the outside judge (modalities/audio/judge.py: MFCC CNN trained on voices the model never hears, and
  DTW template matching): IS, class entropy, confidence, FID, template margin, digit histograms;
- the project's own classifier (the log-mel CNN pfgm-eval's ``is`` uses): IS, entropy, histogram;
- a second outside classifier of another kind: an MLP on per-clip MFCC statistics (mean and standard
  deviation over time of the judge's MFCCs and deltas), trained on the judge's data; it sees no time
  order, so it leans on spectral detail where the CNN leans on the word's shape;
- nearest training neighbours: each clip's distance to its nearest training clip in the judge's feature
  space, median, against held-out real clips' (a sample far from every training clip is new or a blur).

    OMP_NUM_THREADS=1 python benchmarks/audio_judge.py --checkpoint zoo:speech_digits --num 256 \\
        --out benchmarks/results/audio_judge_speech_digits_8k.json
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
import torch

import pfgm
from pfgm.core.atomic import atomic_write_text
from torch import nn

from pfgm.modalities.audio.judge import MFCCFrontEnd, noise_bursts, wave_augment
from pfgm.modalities.shared.scorer import Scorer, accuracy, train_scorer
from pfgm.modalities.shared.classifier_scores import inception_score

ROW_KEYS = ("is", "entropy", "max_softmax", "fid", "template_margin", "template_entropy", "accuracy")


def _entropy(counts: list[int]) -> float:
    p = np.asarray(counts, np.float64) / max(sum(counts), 1)
    return float(-(p[p > 0] * np.log(p[p > 0])).sum())


class _Stats(nn.Module):
    def __init__(self, sample_rate: int):
        super().__init__()
        self.front = MFCCFrontEnd(sample_rate)

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        f = self.front(wave)
        c = self.front.cepstra(wave)  # un-normalised: the mean carries the spectral envelope
        return torch.cat([c.mean(-1), f.std(-1)], 1)


class StatsJudge(Scorer):
    """Waves → MFCC mean (20) and MFCC+delta standard deviation (40) → MLP → logits."""

    def __init__(self, sample_rate: int, num_classes: int = 10):
        super().__init__()
        self.body = nn.Sequential(_Stats(sample_rate), nn.BatchNorm1d(60), nn.Linear(60, 128), nn.ReLU(),
                                  nn.Linear(128, 128), nn.ReLU())  # fmt: skip
        self.head = nn.Sequential(nn.Dropout(0.2), nn.Linear(128, num_classes))


def stats_judge_view(modality, sets: dict[str, torch.Tensor]) -> dict[str, dict]:
    """Train :class:`StatsJudge` on the judge's data (as it is and through the codec), score every set."""
    w, y, _ = modality.judge_data()
    wc = modality.codec_round_trip(w)
    model = StatsJudge(modality.sample_rate, len(modality.classes))
    train_scorer(model, torch.cat([w, wc]), torch.cat([y, y]), wave_augment(modality.sample_rate), epochs=40, batch_size=64,
                 lr=3e-3, seed=0, min_batch=2)  # fmt: skip
    wt, yt = modality.waves("test")
    out: dict = {"heldout_accuracy": accuracy(model, wt, yt, batch_size=128)}
    for name, x in sets.items():
        with torch.no_grad():
            logits = torch.cat([model(c) for c in x.split(256)])
        hist = torch.bincount(logits.argmax(1), minlength=logits.shape[1]).tolist()
        out[name] = {"is": inception_score(logits), "entropy": _entropy(hist), "histogram": hist}
    return out


def project_classifier_view(modality, sets: dict[str, torch.Tensor]) -> dict[str, dict]:
    """The modality's own log-mel classifier on each set of waves: IS, histogram, entropy."""
    model, info = modality.classifier(verbose=True)  # trained here when not cached: outside no_grad
    out = {}
    for name, w in sets.items():
        with torch.no_grad():
            logits = torch.cat([model(c) for c in modality._mels(w).split(256)])
        hist = torch.bincount(logits.argmax(1), minlength=logits.shape[1]).tolist()
        out[name] = {"is": inception_score(logits), "entropy": _entropy(hist), "histogram": hist}
    out["heldout_accuracy"] = float(info["test_accuracy"])
    return out


@torch.no_grad()
def nearest_train(modality, sets: dict[str, torch.Tensor]) -> dict[str, float]:
    """Median distance (judge features) from each clip to its nearest training clip, per set."""
    judge, *_ = modality.judge()
    w_train, _ = modality.waves("train")
    f_tr = torch.cat([judge.features(c) for c in w_train.split(256)])
    return {name: float(torch.cdist(torch.cat([judge.features(c) for c in w.split(256)]), f_tr).min(1).values.median())
            for name, w in sets.items()}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--num", type=int, default=256)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--guidance", type=float, default=None, help="classifier-free guidance for the conditional rows")
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    model = pfgm.load(a.checkpoint)
    m = model.modality
    opts = {} if a.guidance is None else {"guidance": a.guidance}
    if m.class_cond:  # unconditional: the null label a CFG-trained model was also trained on
        clips = model.sample(a.num, seed=a.seed, label="none")
    else:
        clips = model.sample(a.num, seed=a.seed)
    sample_seconds = time.perf_counter() - t0
    report, info = m.judge_report([c for c in clips if c is not None], verbose=True)
    result: dict = {"checkpoint": a.checkpoint, "num": a.num, "seed": a.seed, "sample_rate": m.sample_rate,
                    "num_samples_per_clip": m.num_samples, "judge": report, "judge_info": info,
                    "sample_seconds": round(sample_seconds, 1)}  # fmt: skip
    if m.class_cond:
        per = max(a.num // 10, 1)
        asked = []
        for k in range(len(m.classes)):
            asked += [c for c in model.sample(per, seed=a.seed + 1 + k, label=k, **opts) if c is not None]
        cond_report, _ = m.judge_report(asked)
        result["conditional"] = {"guidance": a.guidance, "per_digit": per, "samples": cond_report["samples"],
                                 "real_codec": cond_report["real_codec"]}  # fmt: skip
    gen = torch.from_numpy(np.stack([c.wave for c in clips if c is not None]))
    w_test, _ = m.waves("test")
    n = min(len(gen), len(w_test))
    real_codec = m.codec_round_trip(w_test[:n])
    sets = {"samples": gen, "real_codec": real_codec, "real": w_test[:n], "noise": noise_bursts(real_codec),
            "reversed": real_codec.flip(1)}  # fmt: skip
    result["project_classifier"] = project_classifier_view(m, sets)
    result["stats_judge"] = stats_judge_view(m, sets)
    result["nearest_train_median"] = nearest_train(m, sets)
    extra = f" --guidance {a.guidance}" if a.guidance is not None else ""
    result["command"] = (f"OMP_NUM_THREADS=1 python benchmarks/audio_judge.py --checkpoint {a.checkpoint} --num {a.num} "
                         f"--seed {a.seed}{extra}" + (f" --out {a.out}" if a.out else ""))  # fmt: skip
    result["seconds"] = round(time.perf_counter() - t0, 1)

    print(f"| set | {' | '.join(ROW_KEYS)} | stats-MLP IS | stats-MLP entropy | project IS | project entropy | nearest train |")
    print("| --- " * (len(ROW_KEYS) + 6) + "|")
    for name, r in report.items():
        pc, st = result["project_classifier"][name], result["stats_judge"][name]
        cells = [f"{r[k]:.3f}" if isinstance(r.get(k), float) and math.isfinite(r[k]) else "—" for k in ROW_KEYS]
        print(
            f"| {name} | {' | '.join(cells)} | {st['is']:.2f} | {st['entropy']:.2f} | {pc['is']:.2f} | {pc['entropy']:.2f} | "
            f"{result['nearest_train_median'][name]:.2f} |"
        )
    if "conditional" in result:
        c = result["conditional"]
        print(
            f"requested-digit accuracy (judge): samples {c['samples'].get('accuracy', float('nan')):.3f}, "
            f"real through the codec {c['real_codec'].get('accuracy', float('nan')):.3f}"
        )
    if a.out:
        atomic_write_text(Path(a.out), json.dumps(result, indent=2) + "\n")
        print(f"→ {a.out}")


if __name__ == "__main__":
    main()
