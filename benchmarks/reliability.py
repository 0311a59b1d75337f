"""The reliability campaign: faults injected into training, bad input fed to every loader and entry
point, crafted checkpoints; each trial's outcome counted into docs/reliability.md.

    python benchmarks/reliability.py --out docs/reliability.md            # 50 kill -9 trials, 200 inputs per loader
    python benchmarks/reliability.py --trials 8 --examples 25             # fewer trials, as the tests run them
    python benchmarks/reliability.py --only divergence environment --json benchmarks/results/reliability.json \
        --out docs/reliability.md                                         # some families, merged into the full run's results

Families: load, kill, disk_full, fuzz, config, attacks, and what a new user tries (PROBE_FAMILIES:
divergence, run_dirs, outputs, multirun, data_files, environment).

The toy modality and the fault trials live in the package (:mod:`pfgm.reliability`); the tests
(tests/test_reliability_*.py, tests/test_fuzz_inputs.py) call the same functions with fewer trials,
so the table is the harness's own results. A new loader joins the fuzz campaign with one line in
``pfgm.reliability.LOADERS``.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any, Callable

import torch

from pfgm.core.checkpoint import list_states
from pfgm.reliability import (
    BAD_OVERRIDES,
    CONFIG_VALUES,
    KINDS,
    LOADERS,
    PHASES,
    TOY_TRAIN,
    attack_case,
    attack_files,
    available,
    cli_command,
    config_case,
    disk_full_trial,
    every_config_case,
    fuzz_loader,
    kill_trial,
    random_config_case,
    reference_run,
)

# ------------------------------------------------------------------------------------------------
# What a demanding new user tries (issue 33): divergence, run dirs holding the user's files, outputs over
# the user's files, multirun, awkward data files and an awkward machine. Each case runs the command-line
# app (in this process, or in a child where a signal or --multirun needs one) or the loader, and states
# what must hold; its outcome is "held", "FAILED" (ran, but not as documented), "traceback" (a bug
# escaped) or "skipped" (an optional package or a read-only mount is not available here).


PROBE_FAMILIES = ("divergence", "run_dirs", "outputs", "multirun", "data_files", "environment")
PROBE_TITLES = {
    "divergence": "Divergence and non-finite weights",
    "run_dirs": "Run dirs holding the user's files",
    "outputs": "Outputs over the user's files, signals, killed runs",
    "multirun": "--multirun jobs",
    "data_files": "Data files: BOM, headers, stop codons, salts, long and short audio, stray files, tiny sets",
    "environment": "The machine: read-only folders, PFGM_CACHE, a missing espeak-ng, --help",
}


class _Skip(Exception):
    """A case that cannot run here (a missing optional package, no read-only mount)."""


def _needs(*modules: str) -> None:
    import importlib.util

    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        raise _Skip(f"needs {', '.join(missing)}")


_APPS = {
    "pfgm-train": "pfgm.recipes.train",
    "pfgm-sample": "pfgm.recipes.sample",
    "pfgm-eval": "pfgm.recipes.evaluate",
    "pfgm-bench": "pfgm.recipes.bench",
}


def _app(prog: str, argv: list[str], cwd: Path | None = None, env: dict[str, str | None] | None = None) -> tuple[int, str, str]:
    """A console script's Hydra app run in this process as a user would type it → (exit status, stdout, stderr).
    ``env``: variables set (None: unset) for the call."""
    import importlib

    from pfgm.recipes.sample import open_overrides

    module = importlib.import_module(_APPS[prog])
    if prog in ("pfgm-sample", "pfgm-eval"):
        argv = open_overrides(argv)
    old_argv, old_cwd = sys.argv, os.getcwd()
    old_env = {k: os.environ.get(k) for k in (env or {})}
    out, err = io.StringIO(), io.StringIO()
    try:
        for k, v in (env or {}).items():
            os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)
        if cwd is not None:
            os.chdir(cwd)
        sys.argv = [prog, *argv]
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                module._hydra_main(None) if prog == "pfgm-bench" else module._hydra_main()
                code = 0
            except SystemExit as e:
                code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    finally:
        sys.argv = old_argv
        os.chdir(old_cwd)
        for k, v in old_env.items():
            os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)
    return code, out.getvalue(), err.getvalue()


def _child(app: str, args: list[str], cwd: Path) -> list[str]:
    """The command line of a console script's main() in a fresh interpreter, with the toy modality registered."""
    return cli_command(app, *args)


_CHILD_ENV = {**os.environ, "PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": "1"}


def _one_line(err: str) -> str | None:
    """The error line when stderr holds exactly one line of ours (``prog: error: ...``) and no traceback, else
    None (pfgm-train's banner and notices before it are not errors)."""
    errors = [ln for ln in err.splitlines() if ": error: " in ln]
    return errors[0] if len(errors) == 1 and "Traceback" not in err else None


def _check(ok: bool, detail: str) -> tuple[bool, str]:
    return bool(ok), detail


def _expect_error(code: int, err: str, *needles: str, status: int = 1) -> tuple[bool, str]:
    """Held when the app exited with ``status`` and one error line holding every needle."""
    line = _one_line(err)
    shown = line or f"exit {code}; stderr: {' / '.join(err.strip().splitlines()[-3:])[:300]}"
    return _check(code == status and line is not None and all(n in line for n in needles), shown)


def _toy_cli_run(run: Path, steps: int = 6, *extra: str) -> None:
    code, _, err = _app("pfgm-train", [*TOY_TRAIN, f"run_dir={run}", f"trainer.max_steps={steps}", *extra])
    if code != 0:
        raise RuntimeError(f"the healthy toy run failed: {err.strip()[-300:]}")


def _finite_run(run: Path) -> bool:
    from pfgm.core.checkpoint import load_state
    from pfgm.core.weights import EMA_WEIGHTS_NAME, load_weights

    for p in list_states(run):
        load_state(p)  # raises on a non-finite tensor
    load_weights(run / EMA_WEIGHTS_NAME)
    return bool(list_states(run))


def _poison(path: Path) -> str:
    """Write NaN into one tensor of an EMA export (as a diverged run of an older version left it) → its name."""
    from pfgm.core.weights import export_weights, load_weights

    weights, config, meta = load_weights(path)
    name = sorted(weights)[0]
    weights[name] = torch.full_like(weights[name], float("nan"))
    export_weights(path, weights, config, meta)
    return name


def _read_only(path: Path) -> contextlib.AbstractContextManager:
    """A folder nobody can write, root included (a read-only tmpfs; chmod stops everyone but root)."""

    @contextlib.contextmanager
    def cm():
        path.mkdir(parents=True)
        if os.geteuid() == 0:
            if subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(path)], capture_output=True).returncode:
                raise _Skip("root cannot mount a read-only tmpfs here")
            try:
                yield path
            finally:
                subprocess.run(["umount", str(path)], capture_output=True)
        else:
            path.chmod(0o555)
            try:
                yield path
            finally:
                path.chmod(0o755)

    return cm()


def _divergence(w: Path) -> dict[str, Callable[[], tuple[bool, str]]]:
    run = w / "run"
    msg: dict[str, str] = {}

    def lr_blowup():
        _toy_cli_run(run, 6)
        code, _, err = _app(
            "pfgm-train", [*TOY_TRAIN, f"run_dir={run}", "trainer.max_steps=40", "trainer.lr=1e30", "resume=true"]
        )
        msg["line"] = _one_line(err) or ""
        ok, detail = _expect_error(code, err, "training diverged at step", "trainer.lr=1e+30", "resume=", status=3)
        return _check(ok and _finite_run(run), detail + f" [states: {', '.join(p.name for p in list_states(run))}, all finite]")

    def resume_back():
        m = re.search(r"resume=(checkpoints/state-\d+\.pt)", msg.get("line", ""))
        if m is None:
            return False, "the divergence message named no state to go back to"
        code, out, err = _app("pfgm-train", [*TOY_TRAIN, f"run_dir={run}", "trainer.max_steps=12", f"resume={m.group(1)}"])
        summary = json.loads(out.strip().splitlines()[-1]) if code == 0 else {}
        return _check(
            code == 0 and summary.get("step") == 12 and _finite_run(run),
            f"exit {code}; resumed at {summary.get('resumed_at')}, step {summary.get('step')}, loss {summary.get('loss')}",
        )

    def bf16():
        code, _, err = _app(
            "pfgm-train", [*TOY_TRAIN, f"run_dir={w / 'bf16'}", "trainer.max_steps=40", "trainer.lr=1e30", "trainer.bf16=true"]
        )
        return _expect_error(code, err, "training diverged at step", status=3)

    def sample_nan():
        bad = w / "nan"
        _toy_cli_run(bad, 3)
        name = _poison(bad / "ema.safetensors")
        code, _, err = _app("pfgm-sample", [f"checkpoint={bad}", f"out={w / 'nan-samples'}", "num_samples=4", "progress=false"])
        ok, detail = _expect_error(code, err, name, "holds NaN")
        return _check(ok and not (w / "nan-samples").exists(), detail)

    def init_from_nan():
        code, _, err = _app("pfgm-train", [*TOY_TRAIN, f"run_dir={w / 'ft'}", "trainer.max_steps=2", f"init_from={w / 'nan'}"])
        ok, detail = _expect_error(code, err, "holds NaN")
        return _check(ok and not (w / "ft").exists(), detail)

    return {
        "trainer.lr=1e30 on a healthy run, resumed: stops, exit 3, one line; every state and the EMA export finite": lr_blowup,
        "resume=<the state the message names> at a sane lr: trains on from it": resume_back,
        "trainer.bf16=true trainer.lr=1e30: stops, exit 3, one line": bf16,
        "pfgm-sample of an EMA export holding NaN: refused naming the tensor, nothing written": sample_nan,
        "init_from= an export holding NaN: refused, no run dir made": init_from_nan,
    }


def _run_dirs(w: Path) -> dict[str, Callable[[], tuple[bool, str]]]:
    def dot():
        p = w / "project"
        p.mkdir()
        (p / "thesis.tex").write_text("precious")
        code, _, err = _app("pfgm-train", [*TOY_TRAIN, "run_dir=.", "trainer.max_steps=2"], cwd=p)
        ok, detail = _expect_error(code, err, "run_dir=", "thesis.tex")
        return _check(ok and [q.name for q in p.iterdir()] == ["thesis.tex"], detail)

    def users_config():
        p = w / "mine"
        p.mkdir()
        (p / "config.json").write_text('{"mine": true}')
        (p / "data.csv").write_text("a,b\n")
        code, _, err = _app("pfgm-train", [*TOY_TRAIN, f"run_dir={p}", "trainer.max_steps=2"])
        ok, detail = _expect_error(code, err, "did not write", "data.csv")
        return _check(ok and (p / "config.json").read_text() == '{"mine": true}', detail)

    def a_file():
        (w / "taken").write_text("a file")
        code, _, err = _app("pfgm-train", [*TOY_TRAIN, f"run_dir={w / 'taken'}", "trainer.max_steps=2"])
        return _expect_error(code, err, "run_dir=", "is a file, not a folder")

    def below_a_file():
        (w / "notes.txt").write_text("a file")
        code, _, err = _app("pfgm-train", [*TOY_TRAIN, f"run_dir={w / 'notes.txt' / 'run'}", "trainer.max_steps=2"])
        return _expect_error(code, err, "run_dir=", "notes.txt")

    def ours():
        run = w / "ours"
        _toy_cli_run(run, 3)
        (run / "eval.json").write_text("{}")
        (run / "samples").mkdir()
        (run / "samples" / ".pfgm-samples.json").write_text('{"files": []}')
        code, out, err = _app("pfgm-train", [*TOY_TRAIN, f"run_dir={run}", "trainer.max_steps=6", "resume=true"])
        return _check(code == 0 and json.loads(out.strip().splitlines()[-1])["step"] == 6, f"exit {code} {err.strip()[-200:]}")

    return {
        "run_dir=. in a folder holding the user's files: refused naming them, nothing written": dot,
        "run_dir= a folder holding the user's config.json: refused, the file intact": users_config,
        "run_dir= a file: one line naming run_dir": a_file,
        "run_dir= below a file (notes.txt/run): one line naming run_dir": below_a_file,
        "a run dir pfgm wrote, with pfgm-eval's report and a sample folder inside: resumes": ours,
    }


def _start_sampling(run: Path, cwd: Path) -> subprocess.Popen:
    p = subprocess.Popen(
        _child("sample", [f"checkpoint={run}", "out=out", "num_samples=400000", "progress=false", "sampler.steps=4"], cwd),
        cwd=cwd,
        env=_CHILD_ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.time() + 120
    while not list(cwd.glob(".pfgm-tmp-*")):
        if p.poll() is not None or time.time() > deadline:
            raise RuntimeError(f"sampling did not start: {p.communicate()[1][-300:]}")
        time.sleep(0.05)
    time.sleep(0.3)
    return p


def _outputs(w: Path) -> dict[str, Callable[[], tuple[bool, str]]]:
    run = w / "run"
    mine = w / "seqs.json"

    def user_file():
        _toy_cli_run(run, 3)
        mine.write_text("my own data")
        code, _, err = _app("pfgm-sample", [f"checkpoint={run}", f"out={mine}", "num_samples=2", "progress=false"])
        ok, detail = _expect_error(code, err, "overwrite=true", "seqs.json")
        return _check(ok and mine.read_text() == "my own data", detail)

    def overwrite():
        code, _, err = _app(
            "pfgm-sample", [f"checkpoint={run}", f"out={mine}", "num_samples=2", "progress=false", "overwrite=true"]
        )
        return _check(code == 0 and len(json.loads(mine.read_text())) == 2, f"exit {code}; {mine.name} holds 2 samples")

    def foreign_folder():
        d = w / "photos"
        d.mkdir()
        (d / "holiday.jpg").write_bytes(b"\xff\xd8")
        code, _, err = _app("pfgm-sample", [f"checkpoint={run}", f"out={d}", "num_samples=2", "progress=false"])
        return _expect_error(code, err, "holiday.jpg")

    def below_a_file():
        (w / "notes.txt").write_text("mine")
        code, _, err = _app(
            "pfgm-sample", [f"checkpoint={run}", f"out={w / 'notes.txt' / 's.json'}", "num_samples=2", "progress=false"]
        )
        return _expect_error(code, err, "out=", "notes.txt is a file, not a folder")

    def sigterm():
        d = w / "term"
        d.mkdir()
        p = _start_sampling(run, d)
        p.send_signal(signal.SIGTERM)
        _, err = p.communicate(timeout=120)
        left = [q.name for q in d.iterdir()]
        return _check(
            p.returncode == 143 and "interrupted by SIGTERM" in err and not left,
            f"exit {p.returncode}; {err.strip()}; left: {left or 'nothing'}",
        )

    def killed():
        d = w / "killed"
        d.mkdir()
        p = _start_sampling(run, d)
        p.kill()
        p.communicate(timeout=60)
        before = sorted(q.name for q in d.iterdir())
        done = subprocess.run(
            _child("sample", [f"checkpoint={run}", "out=out", "num_samples=2", "progress=false"], d),
            cwd=d,
            env=_CHILD_ENV,
            capture_output=True,
            text=True,
            timeout=300,
        )
        after = sorted(q.name for q in d.iterdir())
        shown = [re.sub(r"[0-9a-f]{12}-\d+-[0-9a-f]{8}", "<random>-<pid>-<host>", n) for n in before]
        return _check(done.returncode == 0 and after == ["out"], f"after kill -9: {shown}; after the next run: {after}")

    def printed_paths():
        code, out, _ = _app("pfgm-sample", [f"checkpoint={run}", f"out={w / 'folder'}", "num_samples=3", "progress=false"])
        written = json.loads(out.strip().splitlines()[-1])["written"] if code == 0 else []
        return _check(bool(written) and all(Path(p).is_file() for p in written), f"printed {written}")

    return {
        "out= the user's own file: refused naming overwrite=true, the file intact": user_file,
        "... with overwrite=true: replaced": overwrite,
        "out= a folder holding other files: refused naming one": foreign_folder,
        "out= below a file: one line naming out=, before sampling": below_a_file,
        "SIGTERM while sampling: exit 143, one line, no temp files": sigterm,
        "kill -9 while sampling, then the same command: its temp folder removed": killed,
        "the paths pfgm-sample prints exist after publishing": printed_paths,
    }


def _multirun(w: Path) -> dict[str, Callable[[], tuple[bool, str]]]:
    def child(app: str, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            _child(app, ["--multirun", *args], w), cwd=w, env=_CHILD_ENV, capture_output=True, text=True, timeout=600
        )

    def lines(p: subprocess.CompletedProcess, key: str) -> list[Any]:
        return [json.loads(ln).get(key) for ln in p.stdout.splitlines() if ln.startswith("{")]

    def train():
        p = child("train", *TOY_TRAIN, "trainer.max_steps=2", "trainer.seed=0,1", "run_dir=mr")
        runs = lines(p, "run_dir")
        return _check(
            p.returncode == 0 and runs == ["mr/0", "mr/1"] and all((w / r / "ema.safetensors").is_file() for r in runs),
            f"exit {p.returncode}; run dirs {runs}",
        )

    def sample():
        p = child("sample", "checkpoint=mr/0", "seed=0,100", "num_samples=2", "out=msr/", "progress=false")
        written = lines(p, "written")
        ok = p.returncode == 0 and written == [["msr/0/samples.json"], ["msr/1/samples.json"]]
        return _check(
            ok and (w / "msr/0/samples.json").read_text() != (w / "msr/1/samples.json").read_text(),
            f"exit {p.returncode}; written {written}",
        )

    def evaluate():
        p = child("eval", "checkpoint=mr/0", "seed=0,1", "num_samples=2", "out=e.json", "progress=false")
        return _check(
            p.returncode == 0 and (w / "e-0.json").is_file() and (w / "e-1.json").is_file(),
            f"exit {p.returncode}; {sorted(q.name for q in w.glob('e*.json'))}",
        )

    return {
        "pfgm-train --multirun trainer.seed=0,1 run_dir=mr: mr/0 and mr/1": train,
        "pfgm-sample --multirun seed=0,100 out=msr/: msr/0 and msr/1, both kept": sample,
        "pfgm-eval --multirun seed=0,1 out=e.json: e-0.json and e-1.json": evaluate,
    }


def _tone_wav(path: Path, seconds: float, rate: int = 8000) -> None:
    import numpy as np
    import soundfile as sf

    t = np.arange(int(seconds * rate)) / rate
    sf.write(str(path), (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), rate)


def _data_files(w: Path) -> dict[str, Callable[[], tuple[bool, str]]]:
    from pfgm.modalities.base import build_modality

    def quiet(fn, *a, **k):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return fn(*a, **k)

    def fasta_bom():
        _needs("Bio")
        from pfgm.modalities.sequences.alphabet import Alphabet
        from pfgm.modalities.sequences.parsers import read_sequences

        (w / "a.fasta").write_text("\ufeff>s1\nCARDW\n>s2\nCASSW\n", encoding="utf-8")
        items, _ = read_sequences(w / "a.fasta", Alphabet("protein"))
        got = [(i.id, i.seq) for i in items]
        return _check(got == [("s1", "CARDW"), ("s2", "CASSW")], f"read {got}")

    def smiles_bom():
        _needs("rdkit")
        from pfgm.modalities.molecules.molecule_sources import read_smiles_records

        (w / "m.csv").write_text("\ufeffsmiles,name\nCCO,ethanol\n", encoding="utf-8")
        got = read_smiles_records(w / "m.csv")
        return _check(got == ([(2, "CCO")], True), f"read {got}")

    def named_molecule():
        _needs("rdkit")
        from pfgm.modalities.molecules.molecule_sources import read_smiles_records

        (w / "named.smi").write_text("".join(f"{s}\tmolecule number {k}\n" for k, s in enumerate(["CCO", "CCN", "CCC"], 1)))
        got = read_smiles_records(w / "named.smi")
        return _check(got == ([(1, "CCO"), (2, "CCN"), (3, "CCC")], False), f"read {got}")

    def stop_codons():
        _needs("Bio")
        from pfgm.modalities.sequences.alphabet import Alphabet
        from pfgm.modalities.sequences.parsers import read_sequences

        (w / "t.fasta").write_text(">a\nCARDW*\n>b\nCASSW\n")
        items, rep = read_sequences(w / "t.fasta", Alphabet("protein"))
        return _check([i.seq for i in items] == ["CARDW", "CASSW"] and sum(rep.fixed.values()) == 1, rep.summary())

    def salts(fragments: str | None, want: list[str]):
        def case():
            _needs("rdkit")
            from pfgm.modalities.molecules.molecule_sources import load_molecules

            (w / "salts.smi").write_text("CC(=O)[O-].[Na+]\nCCO\nc1ccccc1.Cl\n")
            ms = quiet(load_molecules, "smiles", w / "salts.smi", fragments=fragments)
            counted = sum(ms.report.fixed.values()) + sum(n for r, n in ms.report.skipped.items() if "fragment" in r)
            return _check(ms.smiles == want and counted == 2, ms.report.summary())

        return case

    def long_wav():
        _needs("soundfile", "torchaudio")
        d = w / "long"
        d.mkdir()
        _tone_wav(d / "long.wav", 10.0)
        m = build_modality({"name": "audio", "dataset": "folder", "root": str(d), "test_fraction": 0})
        n = len(quiet(m.clips, "train").waves)
        return _check(n == 14 and sum(m.report.fixed.values()) == 1, f"{n} clips; {m.report.summary()}")

    def long_wav_error():
        _needs("soundfile", "torchaudio")
        m = build_modality({"name": "audio", "dataset": "folder", "root": str(w / "long"), "long_files": "error"})
        try:
            quiet(m.clips, "train")
        except ValueError as e:
            return _check("long.wav" in str(e) and "long_files=cut" in str(e), str(e))
        return False, "loaded"

    def short_wav():
        _needs("soundfile", "torchaudio")
        d = w / "short"
        d.mkdir()
        _tone_wav(d / "word.wav", 0.5)
        _tone_wav(d / "click.wav", 0.02)
        (d / "README.md").write_text("notes")
        m = build_modality({"name": "audio", "dataset": "folder", "root": str(d), "skip_non_audio": True, "test_fraction": 0})
        n = len(quiet(m.clips, "train").waves)
        return _check(n == 1 and sum(m.report.skipped.values()) == 2, m.report.summary())

    def stray_files():
        _needs("PIL")
        import numpy as np
        from PIL import Image

        d = w / "img"
        d.mkdir()
        for i in range(3):
            Image.fromarray(np.full((8, 8), 60 * i, np.uint8)).save(d / f"{i}.png")
        (d / "LICENSE").write_text("CC-BY")
        m = build_modality({"name": "images", "dataset": "folder", "root": str(d), "skip_non_images": True, "image_size": 8})
        quiet(m.dataset, "train")
        return _check(sum(m.report.skipped.values()) == 1 and m.report.kept == 3, m.report.summary())

    def tiny(kind: str):
        def case():
            d = w / f"tiny-{kind}"
            d.mkdir()
            if kind == "smiles":
                _needs("rdkit")
                (d / "one.smi").write_text("CCO\n")
                opts = {"name": "molecules", "source": "smiles", "path": str(d / "one.smi")}
            elif kind == "fasta":
                _needs("Bio")
                (d / "one.fasta").write_text(">a\nCARDW\n")
                opts = {"name": "sequences", "source": "file", "path": str(d / "one.fasta"), "alphabet": "protein"}
            else:
                _needs("soundfile", "torchaudio")
                _tone_wav(d / "one.wav", 0.5)
                opts = {"name": "audio", "dataset": "folder", "root": str(d), "test_fraction": 0.9}
            try:
                quiet(build_modality(opts).dataset, "train")
            except ValueError as e:
                return _check("test_fraction" in str(e) and "\n" not in str(e), str(e))
            return False, "trained on an empty split"

        return case

    return {
        "FASTA with a UTF-8 BOM": fasta_bom,
        "SMILES CSV with a UTF-8 BOM": smiles_bom,
        "SMILES lines named 'molecule number k': no record taken for a header": named_molecule,
        "protein with a trailing * stop codon: stripped, counted": stop_codons,
        "SMILES salts: the largest fragment, counted": salts(None, ["CC(=O)[O-]", "CCO", "c1ccccc1"]),
        "SMILES salts with fragments=skip: skipped, counted": salts("skip", ["CCO"]),
        "a 10 s WAV (clip 0.74 s): cut into 14 clips, counted": long_wav,
        "... with long_files=error: refused naming the file": long_wav_error,
        "a 20 ms WAV and a README in a clip folder: counted": short_wav,
        "a LICENSE among the images (skip_non_images=true): counted": stray_files,
        "a 1-record SMILES file: the error names test_fraction": tiny("smiles"),
        "a 1-record FASTA file: the error names test_fraction": tiny("fasta"),
        "a 1-clip folder at test_fraction=0.9: the error names test_fraction": tiny("wav"),
    }


def _environment(w: Path) -> dict[str, Callable[[], tuple[bool, str]]]:
    def ro_cwd_train():
        with _read_only(w / "ro-train") as ro:
            code, _, err = _app("pfgm-train", [*TOY_TRAIN, "trainer.max_steps=2"], cwd=ro)
        return _expect_error(code, err, "cannot create run_dir", "not writable")

    def ro_cwd_sample():
        run = w / "run"
        _toy_cli_run(run, 2)
        with _read_only(w / "ro-sample") as ro:
            code, _, err = _app("pfgm-sample", [f"checkpoint={run}", "num_samples=2", "progress=false"], cwd=ro)
        return _expect_error(code, err, "out=samples", "not writable")

    def cache_file():
        (w / "cachefile").write_text("x")
        code, _, err = _app(
            "pfgm-train", [*TOY_TRAIN, f"run_dir={w / 'r1'}", "trainer.max_steps=2"], env={"PFGM_CACHE": str(w / "cachefile")}
        )
        ok, detail = _expect_error(code, err, "PFGM_CACHE=", "is a file, not a folder")
        return _check(ok and not (w / "r1").exists(), detail)

    def cache_below_file():
        code, _, err = _app(
            "pfgm-sample",
            [f"checkpoint={w / 'run'}", f"out={w / 's'}", "num_samples=2", "progress=false"],
            env={"PFGM_CACHE": str(w / "cachefile" / "sub")},
        )
        return _expect_error(code, err, "PFGM_CACHE=", "cannot be used as the cache folder")

    def ro_home():
        import tempfile as tf

        import pfgm.modalities.shared.paths as paths
        from pfgm.modalities.sequences.cache import cached_json

        with _read_only(w / "ro-home") as home:
            old = (os.environ.get("HOME"), os.environ.pop("PFGM_CACHE", None), list(paths._fallback), tf.tempdir)
            os.environ["HOME"] = str(home)
            paths._fallback.clear()
            (w / "systmp").mkdir()
            tf.tempdir = str(w / "systmp")
            try:
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    got = [cached_json("probe", {"k": 1}, lambda: [1, 2]), cached_json("probe", {"k": 1}, lambda: [9])]
            finally:
                os.environ["HOME"] = old[0] or ""
                if old[1] is not None:
                    os.environ["PFGM_CACHE"] = old[1]
                paths._fallback[:] = old[2]
                tf.tempdir = old[3]
        said = [str(x.message) for x in caught if "PFGM_CACHE" in str(x.message)]
        return _check(got == [[1, 2], [1, 2]] and len(said) == 1, said[0] if said else f"got {got}, no warning")

    def espeak():
        import pfgm.modalities.audio.data as audio_data
        import pfgm.recipes.sample as sample

        which, gen = audio_data.shutil.which, sample.generate
        sampled = []
        audio_data.shutil.which = lambda name, *a, **k: None if name == "espeak-ng" else which(name, *a, **k)
        sample.generate = lambda *a, **k: sampled.append(1) or gen(*a, **k)
        try:
            code, _, err = _app(
                "pfgm-eval", ["checkpoint=zoo:speech_digits", "num_samples=2", "progress=false", f"out={w / 'eval.json'}"]
            )
        finally:
            audio_data.shutil.which, sample.generate = which, gen
        ok, detail = _expect_error(code, err, "espeak-ng is not installed", "apt-get install espeak-ng")
        return _check(ok and not sampled, detail + ("" if not sampled else " (after sampling)"))

    def help_syntax():
        import shlex

        from pfgm.recipes.cli import compose
        from pfgm.recipes.sample import open_overrides

        bad = []
        for app in ("train", "sample", "eval", "bench"):
            code, out, _ = _app(f"pfgm-{app}", ["--help"])
            examples = [shlex.split(ln)[1:] for ln in out.splitlines() if ln.startswith(f"  pfgm-{app} ")]
            groups = "== Groups (group=option) ==" in out
            if code != 0 or not examples or groups != (app in ("train", "bench")) or "(group=option)" in out and not groups:
                bad.append(f"pfgm-{app}: exit {code}, {len(examples)} examples, groups listed: {groups}")
            for args in examples:
                try:
                    compose(app, open_overrides(args) if app in ("sample", "eval") else args)
                except Exception as e:
                    bad.append(f"pfgm-{app} {' '.join(args)}: {first_line_of(e)}")
        return _check(not bad, "; ".join(bad) or "every example composes; groups listed only by pfgm-train and pfgm-bench")

    return {
        "a read-only current folder, pfgm-train (default run_dir): one line naming run_dir": ro_cwd_train,
        "a read-only current folder, pfgm-sample (default out=samples): one line naming out=": ro_cwd_sample,
        "PFGM_CACHE= a file: one line naming PFGM_CACHE, before any work": cache_file,
        "PFGM_CACHE= below a file: one line naming PFGM_CACHE": cache_below_file,
        "a read-only HOME: a temporary cache, one warning naming PFGM_CACHE": ro_home,
        "no espeak-ng, pfgm-eval of zoo:speech_digits: one line naming the package, before sampling": espeak,
        "--help of pfgm-train/sample/eval/bench: every example composes, groups only where they work": help_syntax,
    }


def first_line_of(e: BaseException) -> str:
    return (str(e).strip().splitlines() or [type(e).__name__])[0][:200]


def probe_family(family: str, work: Path) -> list[dict[str, Any]]:
    """Run one family's cases → [{case, outcome, detail, seconds}]."""
    w = work / family
    w.mkdir(parents=True, exist_ok=True)
    cases = {
        "divergence": _divergence,
        "run_dirs": _run_dirs,
        "outputs": _outputs,
        "multirun": _multirun,
        "data_files": _data_files,
        "environment": _environment,
    }[family](w)
    rows = []
    for name, fn in cases.items():
        t0 = time.perf_counter()
        try:
            held, detail = fn()
            outcome = "held" if held else "FAILED"
        except _Skip as e:
            outcome, detail = "skipped", str(e)
        except Exception as e:  # recorded, not raised: the table counts it
            outcome, detail = "traceback", f"{type(e).__name__}: {first_line_of(e)}"
        rows.append(
            {"case": name, "outcome": outcome, "detail": _cell(str(detail), 400), "seconds": round(time.perf_counter() - t0, 1)}
        )
    return rows


def probe_section(probe: dict[str, list[dict[str, Any]]]) -> list[str]:
    L = [
        "",
        "## What a new user tries",
        "",
        "Each case runs the command-line app as typed (in this process, or in a child process where a signal or",
        "`--multirun` needs one) or the loader, and checks what must hold: a one-line error naming the setting or",
        "the file, exit status, what is left on disk, what the load report counts. **held** = as documented;",
        "**FAILED** / **traceback** would be failures; **skipped** = an optional package or a read-only mount is",
        "missing here.",
        "",
        "| family | cases | held | failed | traceback | skipped |",
        "|---|---|---|---|---|---|",
    ]
    for fam in PROBE_FAMILIES:
        rows = probe.get(fam) or []
        if rows:
            n = {o: sum(r["outcome"] == o for r in rows) for o in ("held", "FAILED", "traceback", "skipped")}
            L.append(f"| {PROBE_TITLES[fam]} | {len(rows)} | {n['held']} | {n['FAILED']} | {n['traceback']} | {n['skipped']} |")
    for fam in PROBE_FAMILIES:
        rows = probe.get(fam) or []
        if rows:
            L += ["", f"### {PROBE_TITLES[fam]}", "", "| case | outcome | what happened |", "|---|---|---|"]
            L += [f"| {_cell(r['case'], 200)} | {r['outcome']} | {_cell(r['detail'], 300)} |" for r in rows]
    return L


# ------------------------------------------------------------------------------------------------
# The campaign and its table


#: the families of the campaign, each a part of the results (``--only`` picks some)
FAMILIES = ("load", "kill", "disk_full", "fuzz", "config", "attacks", *PROBE_FAMILIES)


def campaign(
    trials: int,
    examples: int,
    work: Path,
    load_counts: list[int] | None = None,
    load_sizes: list[int] | None = None,
    families: tuple[str, ...] = FAMILIES,
) -> dict[str, Any]:
    torch.set_num_threads(1)
    res: dict[str, Any] = {"trials": trials, "examples": examples}
    if "load" in families and (load_counts or load_sizes):
        import load

        (work / "load").mkdir()
        res["load"] = {
            "sampling": load.sampling_table(load_counts, work / "load") if load_counts else [],
            "training": load.training_table(load_sizes, 200, work / "load") if load_sizes else [],
        }
    if "kill" in families:
        ref = reference_run(work)
        res["kill"] = [kill_trial(k, work, ref) for k in range(trials)]
    if "disk_full" in families:
        res["disk_full"] = disk_full_trial(work)
    if "fuzz" in families:
        res["fuzz"] = []
        for loader in LOADERS:
            why = available(loader)
            res["fuzz"].append({"loader": loader.name, "skipped": why} if why else fuzz_loader(loader, examples, work / "f"))
    if "config" in families:
        res["config_named"] = [(json.dumps(o), k, *config_case(o, k)) for o, k in BAD_OVERRIDES]
        r = random.Random(0)
        res["config_random"] = [random_config_case(r) for _ in range(examples)]
        res["config_every"] = every_config_case()
    if "attacks" in families:
        d = work / "attacks"
        d.mkdir(exist_ok=True)
        res["attacks"] = [(name, *attack_case(p)) for name, p in attack_files(d).items()]
    probe = {fam: probe_family(fam, work / "probe") for fam in PROBE_FAMILIES if fam in families}
    if probe:
        res["probe"] = probe
    return res


def _cell(text: str, limit: int) -> str:
    """One Markdown table cell: no newlines, no pipes, bounded length."""
    return " ".join(text.split()).replace("|", "/")[:limit]


#: the command of a full campaign (what families from before per-family records were made by)
FULL_COMMAND = (
    "OMP_NUM_THREADS=1 python benchmarks/reliability.py --out docs/reliability.md --json benchmarks/results/reliability.json"
)


def provenance(res: dict[str, Any], command: str) -> list[str]:
    """The header lines saying which command made which tables (``res["made_by"]``: family → command)."""
    made = res.get("made_by") or {}
    by: dict[str, list[str]] = {}
    for fam in FAMILIES:
        if (
            fam in made
            or fam in res
            or (fam in PROBE_FAMILIES and fam in res.get("probe", {}))
            or (fam == "config" and "config_named" in res)
        ):
            by.setdefault(made.get(fam, FULL_COMMAND), []).append(fam)
    if len(by) <= 1:
        return [
            f"Regenerated by `{next(iter(by), command)}` (the tests run the same harness, benchmarks/reliability.py, "
            "with fewer trials)."
        ]
    return [
        "Regenerated family by family (the tests run the same harness, benchmarks/reliability.py, with fewer trials); "
        "`--only` runs some families and merges them into benchmarks/results/reliability.json:",
        "",
        *[f"- {', '.join(fams)}: `{cmd}`" for cmd, fams in by.items()],
        "",
    ]


def table(res: dict[str, Any], command: str) -> str:
    L = [
        "# Reliability campaign",
        "",
        *provenance(res, command),
        "Outcomes: **clean** = the project's own error in one line naming the file or key; **ok** = loaded (the input",
        "was still valid); **unclear** / **traceback** / **slow** / **CODE RAN** would be failures.",
        "",
        "## Faults injected into training",
        "",
        "Each trial trains a tiny run (12 steps, a checkpoint every 3) in a forked process, kills it with SIGKILL",
        "at a random point of the phase, resumes with `resume=auto` and compares model, EMA and optimizer",
        "tensors with an uninterrupted run's.",
        "",
        "| fault | trials | killed | resumed from a complete checkpoint | bit-identical at the end | errors |",
        "|---|---|---|---|---|---|",
    ]
    for phase in PHASES:
        rows = [t for t in res["kill"] if t["phase"] == phase]
        if rows:
            L.append(
                f"| kill -9 during {phase.replace('_', ' ')} | {len(rows)} | {sum(t['killed'] for t in rows)} | "
                f"{sum(t['error'] is None for t in rows)} | {sum(t['identical'] for t in rows)} | "
                f"{sum(t['error'] is not None for t in rows)} |"
            )
    df = res["disk_full"]
    L += [
        "",
        f"Disk full during a checkpoint write ({df['how']}): error `{df['error']}`; the previous checkpoint "
        f"(step {df['previous_step']}) still loads; temp files left: {len(df['litter'])}.",
        "",
        "## Bad input to every loader",
        "",
        f"{res['examples']} inputs per loader, cycling through: {', '.join(KINDS)}.",
        "",
        "| loader | inputs | clean error | loaded | unclear | traceback | slow | first problems |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for f in res["fuzz"]:
        if "skipped" in f:
            L.append(f"| {f['loader']} | skipped ({f['skipped']}) | | | | | | |")
            continue
        c = f["counts"]
        L.append(
            f"| {f['loader']} | {sum(c.values())} | {c.get('clean', 0)} | {c.get('ok', 0)} | {c.get('unclear', 0)} | "
            f"{c.get('traceback', 0)} | {c.get('slow', 0)} | {_cell('; '.join(f['bad']), 400)} |"
        )
    named = res["config_named"]
    rnd = res["config_random"]
    L += [
        "",
        "## Config entry points",
        "",
        "| input | cases | refused naming the key | accepted | other |",
        "|---|---|---|---|---|",
        f"| named bad overrides (batch_size=0, max_steps=-1/abc, lr=abc, bf16=maybe, grad_accum=0, +pfgm.DD, +sampler.stepz, run_dir=, ...) "
        f"| {len(named)} | {sum(n[2] == 'clean' for n in named)} | {sum(n[2] == 'accepted' for n in named)} | "
        f"{sum(n[2] not in ('clean', 'accepted') for n in named)} |",
        f"| random key × wrong-type/range value in trainer/pfgm/sampler | {len(rnd)} | {sum(o == 'clean' for o, _ in rnd)} | "
        f"{sum(o == 'accepted' for o, _ in rnd)} | {sum(o not in ('clean', 'accepted') for o, _ in rnd)} |",
        *(
            [
                f"| every key of trainer/pfgm/sampler × each of those {len(CONFIG_VALUES)} values | {len(every)} | "
                f"{sum(o == 'clean' for o, _ in every)} | {sum(o == 'accepted' for o, _ in every)} | "
                f"{sum(o not in ('clean', 'accepted') for o, _ in every)} |"
            ]
            if (every := res.get("config_every"))
            else []
        ),
        "",
        "## Checkpoint attacks",
        "",
        "| file | outcome | message |",
        "|---|---|---|",
    ]
    for name, outcome, msg in res["attacks"]:
        L.append(f"| {name} | {outcome} | {_cell(msg, 160)} |")
    if res.get("probe"):
        L += probe_section(res["probe"])
    if res.get("load"):
        L += load_section(res["load"])
    L += [
        "",
        "## What the campaign fixed, and the test that holds each fix",
        "",
        *FIXES,
        "",
        "## In use",
        "",
        *USE,
        "",
        "## Still open",
        "",
        *OPEN,
    ]
    return "\n".join(L) + "\n"


def load_section(res: dict[str, Any]) -> list[str]:
    """The Load tables (benchmarks/load.py measures them; see its docstring for how)."""
    L = [
        "",
        "## Load",
        "",
        "Peak RSS while the work runs (a thread polls /proc), above the RSS right before it; each run its own process.",
        "",
    ]
    if res["sampling"]:
        L += [
            "pfgm-sample of a small molecules checkpoint (one-block net, 2 NFE) into one .smi file:",
            "",
            "| samples | streamed: growth MB | collected: growth MB | streamed s | collected s | SMILES written |",
            "|---|---|---|---|---|---|",
        ]
        by = {(r["mode"], r["num_samples"]): r for r in res["sampling"]}
        for n in sorted({r["num_samples"] for r in res["sampling"]}):
            st, co = by[("stream", n)], by[("collect", n)]
            L.append(
                f"| {n:,} | {st['growth_mb']:.0f} | {co['growth_mb']:.0f} | {st['seconds']:.0f} | {co['seconds']:.0f} | "
                f"{st['smiles_written']:,} |"
            )
    if res["training"]:
        L += [
            "",
            "Training the same small net for 200 steps on n distinct QM9 SMILES (the default's size and 10×):",
            "",
            "| SMILES | train items | RSS growth MB | encoded tensors MB | molecules kept (pickles + SMILES) MB |",
            "|---|---|---|---|---|",
        ]
        for r in res["training"]:
            L.append(
                f"| {r['smiles']:,} | {r['train_items']:,} | {r['growth_mb']:.0f} | {r['encoded_mb']:.1f} | "
                f"{r['molecules_mb']:.1f} |"
            )
        if len(res["training"]) > 1:
            a, b = res["training"][0], res["training"][-1]
            data = (b["encoded_mb"] + b["molecules_mb"]) - (a["encoded_mb"] + a["molecules_mb"])
            L += [
                "",
                f"From {a['smiles']:,} to {b['smiles']:,} SMILES the RSS grows by {b['growth_mb'] - a['growth_mb']:.0f} MB "
                f"while the data held grows by {data:.0f} MB.",
            ]
    return L


#: the fixes this campaign made (issue 16), each with the test that failed before it
FIXES = [
    "| class | before | now | test |",
    "|---|---|---|---|",
    "| two trainings into one run dir | both ran, the second overwrote the first | `run_dir/.lock` (pid, host, start time); the second refuses naming them; a dead pid's lock on this host is taken over | tests/test_reliability_runs.py::test_second_training_into_a_locked_run_dir_is_refused_naming_the_owner, ::test_stale_lock_of_a_dead_pid_does_not_block |",
    "| `resume=true` without a checkpoint | silently started from scratch | an error; `resume=auto` = resume if present | ::test_resume_true_without_a_checkpoint_is_an_error_and_auto_starts |",
    "| resume / bench with another config | continued, overwrote config.json, or a 165-line size-mismatch traceback; bench reported an old checkpoint as the new settings | refused naming `field: old -> new` for modality, backbone, pfgm, recipe; max_steps, stop_after, logging, device, progress, preview change freely; optimiser and sampler changes print a notice; `resume=force` overrides | ::test_resume_refuses_a_changed_model_naming_old_and_new, ::test_resume_allows_length_and_logging_and_force_overrides, ::test_bench_reuse_refuses_a_run_trained_otherwise |",
    "| bad overrides | reached torch/tqdm, or trained then died at the first preview | one check of the whole config first (recipes/validate.py): ConfigError (a ValueError) naming key, value and expectation; CLI: one line, exit 1, nothing written (also for `run_dir=`) | ::test_every_bad_override_is_refused_naming_the_key, ::test_cli_bad_value_is_one_line_exit_1_and_writes_nothing |",
    "| SIGINT / SIGTERM | traceback, nothing saved | the step finishes, a checkpoint is written, exit 130 / 143 with the resume command | ::test_signals_finish_the_step_save_and_exit_with_their_codes |",
    "| corrupt newest checkpoint | resume stopped | falls back to the newest older one that loads, warning naming the bad file | ::test_corrupt_latest_checkpoint_falls_back_to_the_older_one |",
    "| full disk | torch's `unexpected pos` RuntimeError (13 frames), or the metrics plot's error masking it | OSError ENOSPC naming the file, one line on the CLI; the previous checkpoint intact | ::test_disk_full_during_a_checkpoint_write, ::test_disk_full_is_one_line_on_the_cli, tests/test_reliability_outputs.py::test_disk_full_keeps_the_previous_checkpoint_file |",
    "| stale sample files | fewer samples into a folder left the old ones | folders are written into a fresh hidden folder, then replace exactly the files the previous run's manifest lists; a folder with foreign files is refused | tests/test_reliability_outputs.py::test_fewer_samples_into_the_same_folder_leave_no_stale_files, ::test_a_failed_write_leaves_the_previous_folder_as_it_was |",
    "| output checked after sampling | a bad extension failed after all the work | checked between loading and sampling (`OUT_FORMATS` of the modality when it declares one) | ::test_output_is_checked_before_sampling, ::test_sample_cli_refuses_a_bad_extension_before_sampling |",
    "| constant 16-bit PNG | decoded black (per-image min-max stretch) | scaled by bit depth (16-bit /257, float 0..1) | ::test_constant_16_bit_png_keeps_its_brightness, ::test_16_bit_gradient_matches_its_8_bit_version |",
    "| zip bomb / flipped bit in a .pt | torch inflates it / loads a changed weight silently | compressed members, sizes beyond the file and CRC-32 failures are refused before torch reads the file | ::test_crafted_checkpoints_are_refused_before_anything_runs, ::test_a_flipped_bit_in_tensor_data_is_refused_not_loaded |",
    "| NaN / negative sampler numbers | accepted | refused naming the key | tests/test_fuzz_inputs.py::test_config_entry_point_fuzz |",
    "| 100,000 samples | every sample held in memory, then written | pfgm-sample streams: `generate_batches` yields one batch, the modality's sink appends it to a temp file (molecules .smi/.sdf) published whole at close | tests/test_generate.py, tests/test_reliability_outputs.py::test_sample_cli_streams_batches_to_the_sink, ::test_an_appended_file_appears_whole_or_not_at_all, tests/test_molecules_writers.py::test_molecule_sink_streams_batches_into_the_same_files |",
    "| 10x data set | molecules held as RDKit Mols, ~12 KB each: 10x QM9 grew RSS by 515 MB for 43 MB of encoded tensors | molecules kept as pickles (`modalities/molecules/mol_list.py`), rebuilt when read | tests/test_mol_list.py::test_mol_list_is_compact_and_encodes_exactly_like_mols |",
    # issue 33: what a demanding new user tried
    "| divergence (`trainer.lr=1000`, `pfgm.P_mean=100`, bf16) | exit 0 with a NaN loss; keep_last rotated the finite states out; ema.safetensors overwritten with NaN | a non-finite loss or gradient is skipped and counted; after `trainer.nonfinite_patience` the run stops with one line (step, loss, likely cause, the last finite checkpoint and the command to resume from it), exit 3; nothing non-finite is saved; the state a run resumed from is never rotated out | tests/test_divergence.py::test_lr_1000_on_a_healthy_run_stops_with_one_line_and_keeps_the_finite_checkpoints, ::test_divergence_stops_every_modality_and_writes_nothing_non_finite |",
    '| NaN weights sampled, resumed or fine-tuned from | black PNGs, `C.C.C` SMILES and `"invalid": 0`; a 46-line torch assert for audio | refused at load naming the file and the first non-finite tensor; a non-finite sample decodes to None (counted invalid) in every modality | tests/test_divergence.py::test_cli_sample_eval_and_init_from_refuse_non_finite_weights, ::test_a_non_finite_sample_decodes_to_none_and_the_others_as_before |',
    "| `run_dir=` a folder of the user's files (`run_dir=.` too) | trained there, overwriting their config.json | refused naming the foreign files | tests/test_reliability_edges.py::test_training_refuses_a_run_dir_holding_the_users_files_naming_them, ::test_cli_run_dir_dot_with_user_files_and_a_file_as_run_dir_are_one_line_errors |",
    "| `out=` the user's own file | replaced silently | refused unless `overwrite=true` | tests/test_reliability_edges.py::test_sample_out_over_a_users_file_is_refused_unless_overwrite |",
    "| `--multirun` | every job wrote the same output; only the last one's files remained | each job writes its own (`run_dir/<k>`, `out/<k>`, `name-<k>.ext`) and the report lists them | tests/test_reliability_edges.py::test_multirun_jobs_each_get_their_own_run_dir_and_output |",
    "| a BOM, a record named 'molecule k', a trailing `*` | the BOM glued to the first field; the first record dropped as a header; the record refused | BOM stripped everywhere; a header only when the first line does not parse, and reported; stop codons stripped and counted | tests/test_reliability_edges.py::test_bom_is_stripped_in_fasta_and_csv, ::test_a_record_whose_name_says_molecule_is_not_a_header_and_a_header_is_reported, ::test_trailing_stop_codon_is_stripped_and_counted |",
    "| salts and mixtures in a SMILES file | trained on as disconnected graphs, uncounted | `modality.fragments`: largest (default for files), skip, or keep (default for the published sets), counted in the load report | tests/test_reliability_data.py::test_a_salt_keeps_its_largest_fragment_by_default_counted, ::test_fragments_skip_drops_multi_fragment_records_counted_and_the_modality_takes_it, ::test_the_nci_benchmark_keeps_its_multi_fragment_records_whole_and_counts_them |",
    "| a 10 s WAV in a clip folder | fitted to one 0.74 s clip, the rest dropped without a word | cut into clips (`modality.long_files=cut`) or refused naming the file (`=error`), counted | tests/test_reliability_data.py::test_a_wav_much_longer_than_the_clip_is_cut_into_clips_counted, ::test_long_files_error_refuses_a_wav_much_longer_than_the_clip_naming_it |",
    "| a 20 ms clip, a README among the clips or images | padded to a clip of silence; skipped files uncounted | clips under `modality.min_duration` skipped, and skipped files, counted in the load report | tests/test_reliability_data.py::test_clips_shorter_than_the_minimum_and_skipped_non_audio_files_are_counted, ::test_skipped_non_image_files_are_counted_in_the_load_report |",
    "| a 1-record data set | 'no training molecules left after filtering', 'need at least 2 sequences', a torch RuntimeError for audio | the error names `modality.test_fraction`, which took the record | tests/test_reliability_data.py::test_one_molecule_names_the_test_fraction_that_took_it, ::test_one_sequence_names_the_test_fraction_that_took_it, ::test_one_clip_names_the_test_fraction_that_took_it |",
    "| a read-only current folder; `PFGM_CACHE` a file; `run_dir=`/`out=` below a file | an OSError traceback from Hydra's mkdir; a failure after the work; `[Errno 17] File exists` | one line naming the setting, before any work | tests/test_reliability_env.py::test_a_read_only_current_folder_is_one_line_naming_run_dir, ::test_pfgm_cache_naming_a_file_is_one_line_before_any_work, ::test_a_run_dir_below_a_file_is_named, ::test_out_below_a_file_is_refused_naming_out_before_sampling |",
    "| a read-only home | the cache write failed after the work | a per-user temporary cache, one warning naming PFGM_CACHE | tests/test_reliability_env.py::test_a_read_only_home_falls_back_to_a_temporary_cache_with_one_warning |",
    "| SIGTERM while sampling; a kill -9 | died with its temp folder left; the folder stayed | like Ctrl-C: one line, exit 143, temp files removed; temp names carry pid and host, and the next run into the same place removes those whose writer is gone | tests/test_reliability_env.py::test_sigterm_while_sampling_acts_like_ctrl_c, ::test_the_temp_folder_of_a_killed_run_is_removed_by_the_next_run_into_the_same_place, ::test_only_temps_whose_writer_is_gone_are_removed, ::test_a_resumed_training_removes_the_temp_files_a_killed_run_left |",
    "| no espeak-ng, `pfgm-eval` of a speech_digits model | failed after sampling | checked before sampling, one line naming the package | tests/test_reliability_env.py::test_pfgm_eval_checks_espeak_before_sampling_a_speech_digits_model |",
    "| `--help` | Hydra's text listed `group=option` groups for pfgm-sample and pfgm-eval, where none works | examples that compose, and groups only where `group=option` works | tests/test_reliability_env.py::test_help_shows_only_syntax_that_works |",
]

#: what a user meets
USE = [
    "- `resume=false` (default): a run dir that holds a checkpoint is refused. `resume=true`: continue; an error if there is no checkpoint. "
    "`resume=auto`: continue if there is one, else start. `resume=force`: continue even though the model or objective changed (listed on stderr). "
    "pfgm-bench's `resume: true` means auto.",
    "- A training holds `run_dir/.lock` (`{pid, host, start, since}`); a lock of a pid that is gone on this host is taken over with a warning; "
    "a lock of another host is never judged stale: delete it by hand when that run is gone.",
    "- Ctrl-C or SIGTERM (a scheduler's pre-emption): the step finishes, a checkpoint is written, and the last line is "
    "`pfgm-train: interrupted by SIGTERM: checkpoint written at step N in DIR; resume with: pfgm-train ... resume=true`; exit 130 / 143. "
    "A second Ctrl-C stops at once (the atomic writes keep the previous checkpoint).",
    "- `pfgm-sample out=FOLDER` writes `.pfgm-samples.json` (the files it wrote); the next run into that folder replaces exactly those. "
    "A folder holding other files is refused.",
    "- A diverged training exits 3 with one line; `resume=checkpoints/state-N.pt` goes back to the state it names (newer states move to "
    "`checkpoints/abandoned/`, nothing is deleted).",
    "- SIGTERM to pfgm-sample or pfgm-eval: `interrupted by SIGTERM while sampling; nothing new was saved`, exit 143. Temp files are "
    "`.<name>.<random>-<pid>-<host>.tmp` (folders `.pfgm-tmp-<random>-<pid>-<host>`): the next run into the same place, or a resumed "
    "training, removes those whose pid is gone on this host.",
    "- The cache (scorer networks, synthesised data): `$PFGM_CACHE`, which must be a folder this user can write (checked before any work), "
    "else `~/.cache/pfgm`, else (a read-only home) `$TMPDIR/pfgm-cache-<uid>` with one warning.",
    "- Data policies, each counted in the load report: `modality.fragments` (molecules), `modality.long_files` and `modality.min_duration` "
    "(audio folders), `skip_non_audio` / `skip_non_images`, trailing stop codons stripped (sequences).",
]

#: what the campaign found and is not fixed yet (fixed since: binary community-small files are a RecordError
#: naming the file; molecule checkpoints pin vocabulary and size histogram and never re-read their data;
#: safetensors exports carry a sha256 of their tensors, checked on load; an over-long CSV field and Biopython's
#: Stockholm assertion are RecordErrors naming the file)
OPEN = [
    "- Sinks that stream: molecules (.smi, .sdf; the PNG grid keeps 64). Images, graphs, audio and sequences collect the decoded objects "
    "(not the raw tensors) and write once at the end: memory grows with the objects (small for all of them), not with the model's tensors.",
    "- pfgm-eval keeps every sample: its metrics need the whole set.",
    "- The `accepted` config cases above are valid settings (e.g. trainer.warmup_steps=0, pfgm.D=inf).",
    "- `$PFGM_DATA` (downloads: QM9, ZINC, SpeechCommands) has no read-only-home fallback and is not checked before the work.",
    "- Temp files of a killed run on another host of a shared file system, and those named before the pid/host tag, are left in place: "
    "whether their writer is alive cannot be told from here.",
    "- A resumed folder run whose clips include a long file now reads it cut into clips (it was fitted to one): the resume check compares "
    "options, not the data read.",
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=50)
    ap.add_argument("--examples", type=int, default=200)
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument(
        "--load-counts",
        type=int,
        nargs="*",
        default=[1000, 10000, 100000],
        help="sample counts for the Load table (none: skip it)",
    )
    ap.add_argument(
        "--load-sizes", type=int, nargs="*", default=[3876, 38760], help="training-set sizes for the Load table (none: skip it)"
    )
    ap.add_argument(
        "--only",
        nargs="+",
        choices=FAMILIES,
        default=None,
        help="run only these families; the others are read back from --json (an earlier full run) and "
        "the merged results written to --json and --out",
    )
    a = ap.parse_args()
    base: dict[str, Any] = {}
    if a.only:
        if a.json is None or not a.json.is_file():
            ap.error("--only needs --json naming an earlier full run's results to merge into")
        base = json.loads(a.json.read_text())
    with tempfile.TemporaryDirectory() as d:
        res = campaign(
            base.get("trials", a.trials) if a.only else a.trials,
            base.get("examples", a.examples) if a.only else a.examples,
            Path(d),
            a.load_counts,
            a.load_sizes,
            tuple(a.only or FAMILIES),
        )
        cmd = (
            "OMP_NUM_THREADS=1 python benchmarks/reliability.py"
            + (f" --trials {a.trials}" if a.trials != 50 else "")
            + (f" --examples {a.examples}" if a.examples != 200 else "")
            + (f" --only {' '.join(a.only)}" if a.only else "")
            + (f" --out {a.out}" if a.out else "")
            + (f" --json {a.json}" if a.json else "")
        )
        ran = [f for f in FAMILIES if f in (a.only or FAMILIES) and (f != "load" or a.load_counts or a.load_sizes)]
        made = {**(base.get("made_by") or {}), **{f: cmd for f in ran}}
        if a.only:  # the parts this run did not make come from the earlier one
            res = {**base, **res, "probe": {**base.get("probe", {}), **res.get("probe", {})}}
        res.pop("regenerated", None)  # a key of an earlier layout
        res["made_by"] = made
        # the work folders' random names would make every run's table differ
        text = re.sub(r"/[\w/.-]*pfgm-tmpfs-\w+", "<tmpfs>", table(res, cmd).replace(d, "<tmp>"))
        blob = json.dumps(res, indent=1, default=str).replace(d, "<tmp>")
    from pfgm.core.atomic import atomic_write_bytes

    if a.out:
        atomic_write_bytes(a.out, text.encode())
    if a.json:
        atomic_write_bytes(a.json, blob.encode())
    print(text)


if __name__ == "__main__":
    main()
