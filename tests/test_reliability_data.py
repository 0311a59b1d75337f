"""Data files a user brings (issue 33): salts and mixtures in SMILES files, WAV files much longer or
shorter than a clip, files a folder loader passes over, a data set too small for its held-out split.
Nothing is dropped or truncated without being counted. Each test failed on the code before the fix."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from pfgm.modalities.base import build_modality

SALTS = "CC(=O)[O-].[Na+]\nCCO\nc1ccccc1.Cl\nCCN.CCCCO\nCCCCCCCCCCCCCCCCCCCCCCCC.O\n"


def quiet(fn, *a, **k):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*a, **k)


# -- salts and mixtures ----------------------------------------------------------------------------


def test_a_salt_keeps_its_largest_fragment_by_default_counted(tmp_path):
    pytest.importorskip("rdkit")
    from pfgm.modalities.molecules.molecule_sources import load_smiles_file

    p = tmp_path / "salts.smi"
    p.write_text(SALTS)
    ms = quiet(load_smiles_file, p)
    assert ms.smiles == ["CC(=O)[O-]", "CCO", "c1ccccc1", "CCCCO"]
    from pfgm.modalities.molecules.molecule_sources import LARGEST_FRAGMENT

    assert ms.report.fixed == {LARGEST_FRAGMENT: 3} and ms.report.skipped == {"above max_atoms": 1}
    assert f"3 {LARGEST_FRAGMENT} (e.g. CC(=O)[O-].[Na+], c1ccccc1.Cl, CCN.CCCCO)" in ms.report.summary()


def test_fragments_skip_drops_multi_fragment_records_counted_and_the_modality_takes_it(tmp_path):
    pytest.importorskip("rdkit")
    p = tmp_path / "salts.smi"
    p.write_text(SALTS + "CCC\nCCCl\n")
    m = build_modality({"name": "molecules", "source": "smiles", "path": str(p), "fragments": "skip", "test_fraction": 0})
    quiet(m.dataset, "train")
    assert sorted(m.train_smiles) == ["CCC", "CCCl", "CCO"]
    from pfgm.modalities.molecules.molecule_sources import MULTI_FRAGMENT_SKIPPED

    assert m.reports[0].skipped == {MULTI_FRAGMENT_SKIPPED: 4} and m.reports[0].fixed == {}
    assert m.config()["fragments"] == "skip"
    with pytest.raises(ValueError, match="modality.fragments must be one of largest, skip, keep, got 'biggest'"):
        build_modality({"name": "molecules", "source": "smiles", "path": str(p), "fragments": "biggest"})


def test_the_nci_benchmark_keeps_its_multi_fragment_records_whole_and_counts_them():
    pytest.importorskip("rdkit")
    from pfgm.modalities.molecules.molecule_sources import load_molecules

    ms = quiet(load_molecules, "nci")
    assert len(ms) == 3876 and sum("." in s for s in ms.smiles) == 43  # the published set, as measured
    assert ms.report.fixed == {"multi-fragment records kept whole (fragments=keep)": 43}


# -- audio folders ---------------------------------------------------------------------------------


def _tone(path: Path, seconds: float, rate: int = 8000) -> None:
    import soundfile as sf

    t = np.arange(int(seconds * rate)) / rate
    sf.write(str(path), (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), rate)


def _audio(root: Path, **options):
    return build_modality({"name": "audio", "dataset": "folder", "root": str(root), "test_fraction": 0, **options})


def test_a_wav_much_longer_than_the_clip_is_cut_into_clips_counted(tmp_path):
    pytest.importorskip("soundfile")
    _tone(tmp_path / "long.wav", 10.0)
    _tone(tmp_path / "word.wav", 0.5)
    m = _audio(tmp_path)
    clip = m.num_samples  # 5,952 samples at 8 kHz: 0.744 s
    clips = quiet(m.clips, "train")
    pieces = -(-80_000 // clip)  # 14: 13 whole clips and the 0.33 s rest (silence trimming may take a sample)
    lengths = [len(w) for w in clips.waves]
    assert len(lengths) == pieces + 1 and lengths.count(clip) == pieces - 1
    assert abs(sum(lengths) - 84_000) <= 4  # every second of both files is in a clip: nothing dropped
    from pfgm.modalities.audio.data import _reasons

    cut = _reasons(clip, 8000, 400)["cut"]
    assert m.report.fixed == {cut: 1} and m.report.lines(cut) == [f"long.wav: {pieces} clips"]
    assert "files longer than 2x the clip (0.74 s) cut into clips (e.g. long.wav: 14 clips)" in m.report.summary()


def test_long_files_error_refuses_a_wav_much_longer_than_the_clip_naming_it(tmp_path):
    pytest.importorskip("soundfile")
    from pfgm.modalities.audio.io import AudioFileError

    _tone(tmp_path / "long.wav", 10.0)
    with pytest.raises(
        AudioFileError,
        match=r"long\.wav: is 10\.00 s long \(after trimming silence\), more than 2x the "
        r"clip length \(0\.74 s\); modality\.long_files=cut cuts such files into clips",
    ):
        quiet(_audio(tmp_path, long_files="error").clips, "train")


def test_clips_shorter_than_the_minimum_and_skipped_non_audio_files_are_counted(tmp_path):
    pytest.importorskip("soundfile")
    _tone(tmp_path / "word.wav", 0.5)
    _tone(tmp_path / "click.wav", 0.02)
    (tmp_path / "README.md").write_text("notes")
    m = _audio(tmp_path, skip_non_audio=True)
    assert [round(len(w), -2) for w in quiet(m.clips, "train").waves] == [4000]  # the word; the click is skipped
    from pfgm.modalities.audio.data import _reasons

    why = _reasons(m.num_samples, 8000, 400)
    r = m.report
    assert (r.records, r.kept) == (3, 1) and r.skipped == {why["other"]: 1, why["short"]: 1}
    assert r.lines(why["short"]) == ["click.wav"] and r.lines(why["other"]) == ["README.md"]
    assert "clips shorter than min_duration (0.050 s) (e.g. click.wav)" in r.summary()


# -- image folders ---------------------------------------------------------------------------------


def test_skipped_non_image_files_are_counted_in_the_load_report(tmp_path):
    pytest.importorskip("PIL")
    from PIL import Image

    for c in ("cats", "dogs"):
        (tmp_path / c).mkdir()
        for i in range(2):
            Image.fromarray(np.full((8, 8), 60 * i, np.uint8)).save(tmp_path / c / f"{i}.png")
    (tmp_path / "cats" / "Thumbs.db").write_bytes(b"\0")
    (tmp_path / "LICENSE").write_text("CC-BY")
    m = build_modality({"name": "images", "dataset": "folder", "root": str(tmp_path), "skip_non_images": True, "image_size": 8})
    with pytest.warns(
        UserWarning, match=r"kept 4 of 6 records; 2 non-image files \(skip_non_images=true\) \(e\.g\. LICENSE, cats/Thumbs\.db\)"
    ):
        assert len(m.dataset("train")) + len(m.dataset("test")) == 4
    from pfgm.modalities.images.data import NOT_IMAGES

    assert (m.report.records, m.report.kept, m.report.skipped) == (6, 4, {NOT_IMAGES: 2})


# -- a data set too small for its split ------------------------------------------------------------


def test_one_molecule_names_the_test_fraction_that_took_it(tmp_path):
    pytest.importorskip("rdkit")
    p = tmp_path / "one.smi"
    p.write_text("CCO\n")
    m = build_modality({"name": "molecules", "source": "smiles", "path": str(p)})
    with pytest.raises(
        ValueError,
        match=r"one\.smi: 1 usable molecule\(s\), and modality\.test_fraction=0\.1 holds out 1 "
        r"for the test split, leaving none to train on",
    ):
        quiet(m.dataset, "train")
    m = build_modality({"name": "molecules", "source": "smiles", "path": str(p), "test_fraction": 0})
    assert len(quiet(m.dataset, "train")) == 1  # ... and test_fraction=0 trains on it


def test_one_sequence_names_the_test_fraction_that_took_it(tmp_path):
    pytest.importorskip("Bio")
    p = tmp_path / "one.fasta"
    p.write_text(">a\nCARDW\n")
    m = build_modality({"name": "sequences", "source": "file", "path": str(p), "alphabet": "protein"})
    with pytest.raises(
        ValueError,
        match=r"one\.fasta: 1 usable sequence\(s\), and modality\.test_fraction=0\.1 holds out 1 "
        r"for the test split, leaving none to train on",
    ):
        quiet(m.dataset, "train")


def test_one_clip_names_the_test_fraction_that_took_it(tmp_path):
    pytest.importorskip("soundfile")
    _tone(tmp_path / "word.wav", 0.5)
    m = _audio(tmp_path, test_fraction=0.9)
    with pytest.raises(
        ValueError,
        match=rf"{tmp_path}: 1 clip\(s\), and modality\.test_fraction=0\.9 holds out 1 for the "
        r"test split, leaving none to train on",
    ):
        quiet(m.dataset, "train")


# -- the campaign ----------------------------------------------------------------------------------


def test_the_campaign_reruns_one_family_into_the_full_runs_results(tmp_path):
    """benchmarks/reliability.py --only FAMILY: that family's cases run, the rest is read back from the full run's JSON,
    and the page is regenerated from the merged results (what docs/reliability.md's header names)."""
    pytest.importorskip("rdkit")
    import json
    import os
    import shutil
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    full = tmp_path / "reliability.json"
    shutil.copy(root / "benchmarks" / "results" / "reliability.json", full)
    before = json.loads(full.read_text())
    p = subprocess.run(
        [
            sys.executable,
            "benchmarks/reliability.py",
            "--only",
            "data_files",
            "--json",
            str(full),
            "--out",
            str(tmp_path / "reliability.md"),
        ],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert p.returncode == 0, p.stderr[-2000:]
    after = json.loads(full.read_text())
    rows = after["probe"]["data_files"]
    assert len(rows) == 13 and {r["outcome"] for r in rows} <= {"held", "skipped"}, rows
    assert after["kill"] == before["kill"] and after["load"] == before["load"]
    assert "--only data_files" in after["made_by"]["data_files"]
    assert after["made_by"].get("kill") == before.get("made_by", {}).get("kill")
    page = (tmp_path / "reliability.md").read_text()
    assert f"- data_files: `{after['made_by']['data_files']}`" in page
    assert "### Data files: BOM, headers" in page and "## Faults injected into training" in page
