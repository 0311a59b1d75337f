"""Outputs and data under faults: sample folders never mix runs, the output is checked before sampling,
a full disk keeps the previous file, a constant 16-bit PNG is not black, crafted checkpoints are refused."""

from __future__ import annotations

import errno
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import pfgm.reliability as rel

from pfgm.core.atomic import AtomicAppender, atomic_torch_save, atomic_write_bytes
from pfgm.recipes.sample import MANIFEST, check_out, write_samples


class _Images:
    """Stands in for a modality: writes one PNG-named file per object into a folder."""

    name = "fake"
    OUT_FORMATS = ("", ".png")

    def write(self, objects, out):
        out = Path(out)
        return [atomic_write_bytes(out / f"{i:06d}.png", bytes([o])) for i, o in enumerate(objects)]


def test_fewer_samples_into_the_same_folder_leave_no_stale_files(tmp_path):
    out = tmp_path / "samples"
    write_samples(_Images(), [1, 2, 3, 4], out)
    paths = write_samples(_Images(), [9, 8], out)
    assert sorted(p.name for p in out.iterdir()) == [".pfgm-samples.json", "000000.png", "000001.png"]
    assert [p.read_bytes() for p in paths] == [b"\x09", b"\x08"]
    assert not list(tmp_path.glob(".pfgm-tmp-*"))


def test_a_failed_write_leaves_the_previous_folder_as_it_was(tmp_path):
    out = tmp_path / "samples"
    write_samples(_Images(), [1, 2, 3], out)

    class Broken(_Images):
        def write(self, objects, out):
            super().write(objects[:1], out)
            raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OSError):
        write_samples(Broken(), [7, 7], out)
    assert [p.read_bytes() for p in sorted(out.glob("*.png"))] == [b"\x01", b"\x02", b"\x03"]
    assert not list(tmp_path.glob(".pfgm-tmp-*"))


def test_output_is_checked_before_sampling(tmp_path):
    with pytest.raises(ValueError, match=r"cannot write \.jpg; it writes a folder, \.png"):
        check_out(_Images(), tmp_path / "x.jpg")
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "thesis.tex").write_text("precious")
    with pytest.raises(FileExistsError, match="thesis.tex"):
        check_out(_Images(), foreign)
    write_samples(_Images(), [1], tmp_path / "ok")
    check_out(_Images(), tmp_path / "ok")  # a folder pfgm-sample wrote may be written again
    assert (tmp_path / "ok" / MANIFEST).exists()


def test_sample_cli_refuses_a_bad_extension_before_sampling(tmp_path, monkeypatch):
    """generate is never reached: check_out runs between loading the checkpoint and sampling."""
    import pfgm.recipes.sample as sample

    run = tmp_path / "run"
    from pfgm.recipes.train import run_training

    run_training(rel.toy_config(run, max_steps=1))
    monkeypatch.setattr(rel.ToyModality, "OUT_FORMATS", (".json",), raising=False)
    for fn in ("generate", "generate_batches"):
        monkeypatch.setattr(sample, fn, lambda *a, **k: pytest.fail("sampled before checking the output"))
    monkeypatch.setattr(sys, "argv", ["pfgm-sample", f"checkpoint={run}", "out=" + str(tmp_path / "s.png"), "num_samples=2"])
    with pytest.raises(SystemExit) as e:
        sample._hydra_main()
    assert e.value.code == 1 and not (tmp_path / "s.png").exists()


def test_sample_cli_into_the_same_folder_twice(tmp_path, monkeypatch, capsys):
    """The whole pfgm-sample path: a folder written, then rewritten by a run that writes other files."""
    import pfgm.recipes.sample as sample
    from pfgm.recipes.train import run_training

    run = tmp_path / "run"
    run_training(rel.toy_config(run, max_steps=1))
    out = tmp_path / "samples"
    monkeypatch.setattr(
        rel.ToyModality,
        "write",
        lambda self, objs, o: [atomic_write_bytes(Path(o) / f"{i}.json", b"[]") for i in range(len(objs))],
    )
    for n in (3, 1):
        monkeypatch.setattr(sys, "argv", ["pfgm-sample", f"checkpoint={run}", f"out={out}", f"num_samples={n}", "progress=false"])
        sample._hydra_main()
    assert sorted(p.name for p in out.iterdir()) == [".pfgm-samples.json", "0.json"]
    assert '"num_written_files": 1' in capsys.readouterr().out


def test_disk_full_keeps_the_previous_checkpoint_file(tmp_path, monkeypatch):
    import pfgm.core.atomic as atomic

    path = atomic_torch_save({"w": torch.ones(3)}, tmp_path / "state.pt")

    def full(self, data):
        self.error = OSError(errno.ENOSPC, "No space left on device")
        raise self.error

    monkeypatch.setattr(atomic._Recording, "write", full)
    with pytest.raises(OSError) as e:
        atomic_torch_save({"w": torch.zeros(3)}, path)
    assert e.value.errno == errno.ENOSPC and e.value.filename == str(path)  # not torch's "unexpected pos"
    assert torch.equal(torch.load(path, weights_only=True)["w"], torch.ones(3))
    assert [p.name for p in tmp_path.iterdir()] == ["state.pt"]


@pytest.mark.parametrize("value", [0, 1000, 40000, 65535])
def test_constant_16_bit_png_keeps_its_brightness(tmp_path, value):
    Image = pytest.importorskip("PIL.Image")
    from pfgm.modalities.images.data import load_image_folder

    Image.fromarray(np.full((8, 8), value, np.uint16)).save(tmp_path / "a.png")
    x, _, _ = load_image_folder(tmp_path, image_size=8)
    want = round(value / 65535 * 255) / 127.5 - 1
    assert torch.allclose(x, torch.full_like(x, want))  # per-image min-max made every one of these -1 (black)


def test_16_bit_gradient_matches_its_8_bit_version(tmp_path):
    Image = pytest.importorskip("PIL.Image")
    from pfgm.modalities.images.data import load_image_folder

    a8 = np.arange(64, dtype=np.uint8).reshape(8, 8) * 2 + 50
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    Image.fromarray(a8.astype(np.uint16) * 257).save(tmp_path / "a" / "x.png")
    Image.fromarray(a8).save(tmp_path / "b" / "x.png")
    x16, _, _ = load_image_folder(tmp_path / "a", image_size=8)
    x8, _, _ = load_image_folder(tmp_path / "b", image_size=8)
    assert torch.equal(x16, x8)


# -- checkpoint attacks (tests/test_checkpoint.py covers plain corrupt files and code pickles of state files) --


def test_crafted_checkpoints_are_refused_before_anything_runs(tmp_path):
    files = rel.attack_files(tmp_path)
    outcomes = {name: rel.attack_case(p) for name, p in files.items()}
    assert all(o == "refused" for o, _ in outcomes.values()), outcomes
    assert "zip bomb" in outcomes["zip bomb (.pt, 50 MB deflated member)"][1]
    assert "os.system" in outcomes["config _target_: os.system"][1]
    assert not (tmp_path / "PWNED").exists()


def test_a_flipped_bit_in_tensor_data_is_refused_not_loaded(tmp_path):
    import struct
    import zipfile

    from pfgm.core.checkpoint import CheckpointError, load_state, save_state

    path = save_state(tmp_path, 1, {"model": {"w": torch.ones(64)}}, keep_last=0)
    with zipfile.ZipFile(path) as z:
        info = next(i for i in z.infolist() if i.filename.endswith("data/0"))
    raw = bytearray(path.read_bytes())
    name_len, extra_len = struct.unpack("<HH", raw[info.header_offset + 26 : info.header_offset + 30])
    raw[info.header_offset + 30 + name_len + extra_len + 5] ^= 0x10  # one bit of one float
    path.write_bytes(bytes(raw))
    with pytest.raises(CheckpointError, match="fails its CRC-32 check"):
        load_state(path)  # torch alone loads it, with one weight silently changed


def test_an_appended_file_appears_whole_or_not_at_all(tmp_path):
    path = tmp_path / "big.smi"
    path.write_text("old\n")
    w = AtomicAppender(path)
    for k in range(3):
        w.write(f"C{k}\n")
        assert path.read_text() == "old\n"  # parts are never visible at the path
    w.commit()
    assert path.read_text() == "C0\nC1\nC2\n"
    with pytest.raises(RuntimeError):
        with AtomicAppender(path) as w:
            w.write("half\n")
            raise RuntimeError("killed mid-stream")
    assert path.read_text() == "C0\nC1\nC2\n" and sorted(p.name for p in tmp_path.iterdir()) == ["big.smi"]


def test_sample_cli_streams_batches_to_the_sink(tmp_path, monkeypatch, capsys):
    """pfgm-sample hands the sink one batch at a time (never all samples at once) and publishes at close."""
    import pfgm.recipes.sample as sample
    from pfgm.modalities.base import SampleSink
    from pfgm.recipes.train import run_training

    run = tmp_path / "run"
    run_training(rel.toy_config(run, max_steps=1))
    batches: list[int] = []

    class Sink(SampleSink):
        def __init__(self, out):
            self.out = Path(out)

        def add(self, objects):
            batches.append(len(objects))

        def close(self):
            return [atomic_write_bytes(self.out / "n.txt", str(sum(batches)).encode())]

    monkeypatch.setattr(rel.ToyModality, "open_sink", lambda self, out: Sink(out), raising=False)
    out = tmp_path / "samples"
    monkeypatch.setattr(
        sys,
        "argv",
        ["pfgm-sample", f"checkpoint={run}", f"out={out}", "num_samples=10", "sampler.batch_size=4", "progress=false"],
    )
    sample._hydra_main()
    assert batches == [4, 4, 2] and (out / "n.txt").read_text() == "10"


@pytest.mark.slow  # trains 300 steps and samples 14,000 molecules (~2 min); keeps CI under its 15 minutes
def test_streamed_sampling_memory_does_not_grow_with_the_count(tmp_path):
    """6x the samples through pfgm-sample's streaming path: the peak RSS above the loaded model stays
    put, while the collecting path (the control, so the test can tell the two apart) grows with the
    count (benchmarks/load.py runs the same at 1k / 10k / 100k for docs/reliability.md)."""
    import load

    rows = {(r["mode"], r["num_samples"]): r for r in load.sampling_table([1000, 6000], tmp_path, train_steps=300)}
    grow = {mode: rows[(mode, 6000)]["growth_mb"] - rows[(mode, 1000)]["growth_mb"] for mode in ("stream", "collect")}
    assert rows[("stream", 6000)]["smiles_written"] > 5000  # valid molecules: the writer had something to hold
    # measured: stream +8 MB, collect +99 MB (~20 KB a decoded molecule held)
    assert grow["stream"] < 30 and grow["collect"] > grow["stream"] + 60, (grow, rows)


def test_a_published_folders_summary_names_files_that_exist(tmp_path):
    """The graph writer's summary.json is written inside the temporary folder publish() renames:
    the files it names must be the published ones, not the temporary folder's."""
    import json

    import networkx as nx

    from pfgm.modalities.graphs.modality import GraphModality
    from pfgm.recipes.sample import publish

    mod = GraphModality.__new__(GraphModality)
    out = tmp_path / "graphs"
    publish(out, lambda target: mod.write([nx.cycle_graph(4), None], target))
    summary = json.loads((out / "summary.json").read_text())
    assert summary["files"] and all((out / f).exists() for f in summary["files"]), summary["files"]
    assert not any(".pfgm-tmp" in f for f in summary["files"])
