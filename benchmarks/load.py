"""Memory under load: peak RSS of pfgm-sample against the number of samples (streamed vs collected),
and of training against the size of the data set.

    python benchmarks/load.py --out benchmarks/results/load.json                 # 1k, 10k, 100k samples
    python benchmarks/load.py --counts 500 2000 --train-sizes 400 --steps 20      # what the test runs

Sampling: a small molecules checkpoint (the molecules recipe with a one-block backbone, trained
here for 300 steps, enough that the samples are valid molecules the writer has to hold or stream) samples N molecules to
one .smi file at 2 NFE, once through pfgm-sample's streaming path (``stream_samples``: each batch
decoded, appended to a temp file and dropped) and once collected (``sample_loaded`` then one
write, the path pfgm-eval takes). Each run is its own process; its peak RSS is the kernel's
ru_maxrss, its baseline the RSS after loading the checkpoint.

Training: the same small molecules net trained on n and 10·n distinct QM9 SMILES (qm9pack; one
loader, one file format). Reported: peak RSS of each and, beside their difference, the data
itself: the encoded train and test tensors, and the molecules kept beside them (pickles and
SMILES, for novelty and the metrics).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SMALL_NET = ["backbone.depth=1", "backbone.node_width=32", "backbone.edge_width=16", "backbone.heads=2"]
FAST_SAMPLER = ["sampler.solver=euler", "sampler.steps=2", "sampler.churn=0"]


def _rss_mb() -> float:
    """Current resident set size (MB), from /proc."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class PeakRSS:
    """The largest RSS seen while the block runs (a thread polls /proc every few ms): the process's
    ru_maxrss would also count import-time peaks that have nothing to do with the work measured."""

    def __init__(self, every_s: float = 0.003):
        self.every_s, self.peak_mb, self._stop = every_s, _rss_mb(), threading.Event()

    def _poll(self) -> None:
        while not self._stop.wait(self.every_s):
            self.peak_mb = max(self.peak_mb, _rss_mb())

    def __enter__(self) -> "PeakRSS":
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_: Any) -> None:
        self._stop.set()
        self._thread.join()
        self.peak_mb = max(self.peak_mb, _rss_mb())


def _child(args: list[str]) -> dict[str, Any]:
    """Run one measurement in a fresh process (its own ru_maxrss) and return its JSON line."""
    p = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, cwd=ROOT)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed:\n{p.stderr[-2000:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def _train(run_dir: Path, overrides: list[str]) -> dict[str, Any]:
    from pfgm.recipes.cli import compose
    from pfgm.recipes.train import run_training

    cfg = compose("train", ["recipe=molecules", f"run_dir={run_dir}", "trainer.progress=false", *SMALL_NET, *overrides])
    return run_training(cfg)


# ------------------------------------------------------------------------------------------------
# child processes


def sample_child(checkpoint: str, n: int, mode: str, out: str) -> dict[str, Any]:
    import warnings

    warnings.filterwarnings("ignore")
    from pfgm.core.distributed import init_distributed
    from pfgm.recipes.cli import compose
    from pfgm.recipes.sample import load_for_sampling, sample_loaded, stream_samples, write_samples

    c = compose("sample", [f"checkpoint={checkpoint}", f"num_samples={n}", f"out={out}", "progress=false", *FAST_SAMPLER])
    dist = init_distributed("cpu")
    modality, den, config = load_for_sampling(c, dist)
    base = _rss_mb()
    t0 = time.perf_counter()
    with PeakRSS() as peak:
        if mode == "stream":
            stream_samples(c, dist, modality, den, config, Path(out))
        else:
            modality, objects, _, _ = sample_loaded(c, dist, modality, den, config)
            write_samples(modality, objects, Path(out))
    lines = sum(1 for _ in open(out))
    return {
        "mode": mode,
        "num_samples": n,
        "seconds": time.perf_counter() - t0,
        "baseline_mb": base,
        "peak_mb": peak.peak_mb,
        "growth_mb": peak.peak_mb - base,
        "smiles_written": lines,
    }


def train_child(run_dir: str, smiles: str, steps: int) -> dict[str, Any]:
    import warnings

    warnings.filterwarnings("ignore")
    import pfgm.recipes.train  # noqa: F401  (imports before the baseline: they are not the data)
    import pfgm.modalities.molecules  # noqa: F401

    base = _rss_mb()
    with PeakRSS() as peak:
        _train(
            Path(run_dir),
            [
                f"trainer.max_steps={steps}",
                "modality.source=smiles",
                f"++modality.path={smiles}",
                "modality.max_atoms=9",
                "trainer.ckpt_every=0",
            ],
        )
    return {"peak_mb": peak.peak_mb, "baseline_mb": base, "growth_mb": peak.peak_mb - base}


def encoded_bytes_child(smiles: str) -> dict[str, Any]:
    import warnings

    warnings.filterwarnings("ignore")
    from pfgm.recipes.build import make_modality

    m = make_modality(
        {"name": "molecules", "source": "smiles", "path": smiles, "max_atoms": 9, "charges": False, "test_fraction": 0.1}
    )
    train, test = m.dataset("train"), m.dataset("test")
    tensors = [t for ds in (train, test) for t in (ds.x, ds.mask, ds.cond) if t is not None]
    held = m.train_mols.nbytes() + m.test_mols.nbytes() + sum(len(s) for s in m.train_smiles + m.test_smiles)
    return {
        "train_items": len(train),
        "encoded_mb": sum(t.numel() * t.element_size() for t in tensors) / 2**20,
        "molecules_mb": held / 2**20,
    }


# ------------------------------------------------------------------------------------------------


def sampling_table(counts: list[int], work: Path, train_steps: int = 300) -> list[dict[str, Any]]:
    run = work / "ckpt"
    _train(run, [f"trainer.max_steps={train_steps}"])
    rows = []
    for n in counts:
        for mode in ("stream", "collect"):
            rows.append(_child(["_sample", str(run), str(n), mode, str(work / f"{mode}-{n}.smi")]))
    return rows


def qm9_smiles(n: int, path: Path) -> Path:
    from pfgm.modalities.molecules.molecule_sources import qm9pack_data_dir, read_qm9pack

    d = qm9pack_data_dir()
    if d is None:
        raise SystemExit("the training half needs qm9pack (pip install 'pfgm[qm9]')")
    path.write_text("".join(s + "\n" for _, s in read_qm9pack(d)[:n]))
    return path


def training_table(sizes: list[int], steps: int, work: Path) -> list[dict[str, Any]]:
    rows = []
    for n in sizes:
        smi = qm9_smiles(n, work / f"qm9_{n}.smi")
        row = {"smiles": n, **_child(["_encoded", str(smi)])}
        row.update(_child(["_train", str(work / f"train-{n}"), str(smi), str(steps)]))
        rows.append(row)
    return rows


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1].startswith("_"):
        kind, *rest = sys.argv[1:]
        fn = {
            "_sample": lambda a: sample_child(a[0], int(a[1]), a[2], a[3]),
            "_train": lambda a: train_child(a[0], a[1], int(a[2])),
            "_encoded": lambda a: encoded_bytes_child(a[0]),
        }[kind]
        print(json.dumps(fn(rest)))
        return
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--counts", type=int, nargs="+", default=[1000, 10000, 100000])
    ap.add_argument("--train-sizes", type=int, nargs="+", default=[3876, 38760], help="default: NCI's size and 10x")
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--out", type=Path, default=None)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        res = {
            "sampling": sampling_table(a.counts, Path(d)),
            "training": training_table(a.train_sizes, a.steps, Path(d)),
            "command": "python benchmarks/load.py " + " ".join(sys.argv[1:]),
        }
    text = json.dumps(res, indent=2)
    if a.out:
        a.out.parent.mkdir(parents=True, exist_ok=True)
        a.out.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
