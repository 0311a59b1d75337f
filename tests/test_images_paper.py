"""The paper-scale image setting: the CIFAR-10 archive reader (restricted unpickler), EDM-style zips and
folders, EDM's augmentation, the DDPM++ backbone and one CLI training run of the cifar10 recipe at full size."""

from __future__ import annotations

import io
import json
import os
import pickle
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from pfgm.modalities.images.archive import ArchiveError, load_cifar10, safe_loads, write_cifar10_archive
from pfgm.modalities.images.augment import AUGMENT_DIM, EDMAugment
from pfgm.modalities.images.data import ImageFolderError, NonImageFileError
from pfgm.modalities.images.packed import load_packed_images

ROOT = Path(__file__).resolve().parents[1]


def _images(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 3, 32, 32), dtype=np.uint8), rng.integers(0, 10, n)


def tiny_cifar(folder: Path, n: int = 10) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    x, y = _images(n)
    write_cifar10_archive(folder / "cifar-10-python.tar.gz", x, y)
    return folder


# -- the CIFAR-10 python archive ----------------------------------------------------------------------


def test_archive_round_trip_keeps_the_plane_layout(tmp_path):
    x, y = _images(12)
    write_cifar10_archive(tmp_path / "cifar-10-python.tar.gz", x, y, x[:3], y[:3])
    got, labels = load_cifar10(tmp_path, "train")
    assert got.shape == (12, 3, 32, 32) and got.dtype == np.uint8
    assert np.array_equal(got, x) and np.array_equal(labels, y)
    # a row of the format is 1024 red, 1024 green, 1024 blue bytes
    with tarfile.open(tmp_path / "cifar-10-python.tar.gz") as tar:
        raw = pickle.loads(tar.extractfile("cifar-10-batches-py/data_batch_1").read(), encoding="bytes")
    assert np.array_equal(raw[b"data"][0, 1024:2048].reshape(32, 32), x[0, 1])
    assert load_cifar10(tmp_path, "test")[0].shape == (3, 3, 32, 32)


def test_extracted_folder_reads_the_same(tmp_path):
    x, y = _images(6)
    write_cifar10_archive(tmp_path / "a.tar.gz", x, y)
    with tarfile.open(tmp_path / "a.tar.gz") as tar:
        tar.extractall(tmp_path, filter="data")
    got, labels = load_cifar10(tmp_path / "cifar-10-batches-py")
    assert np.array_equal(got, x) and np.array_equal(labels, y)


def test_truncated_archive_is_one_line_naming_it(tmp_path):
    x, y = _images(10)
    full = write_cifar10_archive(tmp_path / "full.tar.gz", x, y).read_bytes()
    cut = tmp_path / "cifar-10-python.tar.gz"
    cut.write_bytes(full[: len(full) // 2])
    with pytest.raises(ArchiveError) as e:
        load_cifar10(tmp_path)
    assert str(cut) in str(e.value) and "\n" not in str(e.value)


def _archive_with(tmp_path: Path, batch1: bytes) -> Path:
    x, y = _images(10)
    src = write_cifar10_archive(tmp_path / "src.tar.gz", x, y)
    out = tmp_path / "cifar-10-python.tar.gz"
    with tarfile.open(src) as tin, tarfile.open(out, "w:gz") as tout:
        for m in tin:
            data = tin.extractfile(m).read()
            if m.name.endswith("data_batch_1"):
                data = batch1
            info = tarfile.TarInfo(m.name)
            info.size = len(data)
            tout.addfile(info, io.BytesIO(data))
    return out


def test_wrong_shape_names_the_member(tmp_path):
    bad = pickle.dumps({b"data": np.zeros((2, 3000), np.uint8), b"labels": [0, 1]}, protocol=2)
    _archive_with(tmp_path, bad)
    with pytest.raises(ArchiveError, match=r"data_batch_1: 'data' must be uint8 of shape \(M, 3072\), got uint8 \(2, 3000\)"):
        load_cifar10(tmp_path)


class _RunsCode:
    def __init__(self, path: str):
        self.path = path

    def __reduce__(self):
        return (os.system, (f"touch {self.path}",))


def test_a_pickle_that_would_run_code_is_refused(tmp_path):
    flag = tmp_path / "pwned"
    crafted = pickle.dumps({b"data": _RunsCode(str(flag)), b"labels": [0]}, protocol=2)
    _archive_with(tmp_path, crafted)
    with pytest.raises(ArchiveError, match=r"data_batch_1: refused: global '(posix|os|nt)\.system' is not allowed"):
        load_cifar10(tmp_path)
    assert not flag.exists()
    with pytest.raises(ArchiveError, match="builtins.eval"):
        safe_loads(b"cbuiltins\neval\n(S'1+1'\ntR.", "x")


# -- EDM-style zips and folders ---------------------------------------------------------------------


def _png(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, format="PNG")
    return buf.getvalue()


def test_edm_zip_with_labels(tmp_path):
    rng = np.random.default_rng(1)
    imgs = rng.integers(0, 256, (5, 8, 8, 3), dtype=np.uint8)
    names = [f"00000/img{i:08d}.png" for i in range(5)]
    with zipfile.ZipFile(tmp_path / "d.zip", "w") as z:
        for n, a in zip(names, imgs):
            z.writestr(n, _png(a))
        z.writestr("dataset.json", json.dumps({"labels": [[n, i % 3] for i, n in enumerate(names)]}))
    x, labels = load_packed_images(tmp_path / "d.zip")
    assert x.shape == (5, 3, 8, 8) and np.array_equal(x.transpose(0, 2, 3, 1), imgs)
    assert labels.tolist() == [0, 1, 2, 0, 1]


def test_edm_folder_refuses_a_non_image_and_a_wrong_size_in_one_line(tmp_path):
    for i in range(3):
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / f"{i}.png")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(NonImageFileError) as e:
        load_packed_images(tmp_path)
    assert str(tmp_path / "notes.txt") in str(e.value) and "\n" not in str(e.value)
    assert load_packed_images(tmp_path, skip_non_images=True)[0].shape == (3, 3, 8, 8)
    (tmp_path / "notes.txt").unlink()
    Image.fromarray(np.zeros((9, 9, 3), np.uint8)).save(tmp_path / "9.png")
    with pytest.raises(ImageFolderError, match=r"9\.png: shape \(3, 9, 9\)"):
        load_packed_images(tmp_path)


# -- augmentation and the network ------------------------------------------------------------------


def test_augmentation_off_is_identity_and_flips_are_labelled():
    x = torch.rand(6, 3, 16, 16) * 2 - 1
    g = torch.Generator().manual_seed(0)
    out, labels = EDMAugment(p=0.0)(x, g)
    assert torch.equal(out, x) and labels.shape == (6, AUGMENT_DIM) and not labels.any()
    out, labels = EDMAugment(p=1.0, yflip=0, scale=0, rotate=0, aniso=0, translate=0)(x, g)
    flipped = labels[:, 0].bool()
    assert torch.equal(out[flipped], x[flipped].flip(3)) and torch.equal(out[~flipped], x[~flipped])
    assert not labels[:, 1:].any()


def test_augmentation_is_a_function_of_the_seed_and_keeps_the_range():
    x = torch.rand(4, 3, 16, 16) * 2 - 1
    a = EDMAugment(p=1.0)(x, torch.Generator().manual_seed(3))
    b = EDMAugment(p=1.0)(x, torch.Generator().manual_seed(3))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert a[0].shape == x.shape and a[0].abs().max() < 1.5 and a[1][:, 2:].abs().sum() > 0


def test_ddpmpp_has_the_papers_parameter_count():
    from pfgm.modalities.images.ddpmpp import DDPMpp

    cifar = DDPMpp(in_channels=3, image_size=32, augment_dim=9)  # recipe cifar10: 55.73M as EDM/PFGM++ report
    assert sum(p.numel() for p in cifar.parameters()) == 55_733_891
    small = DDPMpp(image_size=8, model_channels=16, channel_mult=(1, 2), num_blocks=1, num_classes=3, augment_dim=9)
    x = torch.randn(2, 3, 8, 8)
    cond = torch.cat([torch.tensor([[1.0], [float("nan")]]), torch.randn(2, 9)], 1)
    assert small(x, torch.randn(2), cond=cond).shape == x.shape
    assert small(x, torch.randn(2), cond=torch.tensor([2, -1])).shape == x.shape


# -- the recipe end to end -------------------------------------------------------------------------


def test_cifar10_recipe_trains_two_steps_at_full_size_on_the_cpu(tmp_path):
    """The must-hold: pfgm-train recipe=cifar10 trainer.max_steps=2 modality.root=<tiny archive> at full size
    (55.7M parameters; a micro-batch of 2 keeps it to about a minute on two threads)."""
    data = tiny_cifar(tmp_path / "data")
    run = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "2", "PYTHONPATH": str(ROOT)}
    p = subprocess.run(
        [
            sys.executable,
            "-m",
            "pfgm.recipes.train",
            "recipe=cifar10",
            "trainer.max_steps=2",
            f"modality.root={data}",
            f"run_dir={run}",
            "trainer.batch_size=2",
            "trainer.num_workers=0",
            "trainer.progress=false",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=900,
    )
    assert p.returncode == 0, p.stderr[-2000:]
    summary = json.loads(p.stdout.strip().splitlines()[-1])
    assert summary["step"] == 2 and summary["loss"] == summary["loss"]
    assert "55734k parameters" in p.stderr and "D=2048" in p.stderr
    config = json.loads((run / "config.json").read_text())
    assert config["modality"]["augment"] == 0.12 and config["backbone"]["arch"] == "ddpmpp"
