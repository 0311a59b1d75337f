"""Tests of the image modality: data loaders, U-Net, writers, digit metrics (fast; < 60 s on 2 cores)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("sklearn")
PIL = pytest.importorskip("PIL")
from PIL import Image  # noqa: E402

from pfgm.modalities.base import build_modality, get_modality  # noqa: E402
from pfgm.modalities.images import ImageModality  # noqa: E402
from pfgm.modalities.images import metrics as M  # noqa: E402
from pfgm.modalities.images.data import (  # noqa: E402
    CorruptImageError,
    EmptyImageFolderError,
    ImageFolderError,
    NonImageFileError,
    load_digits_split,
    load_image_folder,
    split_indices,
)
from pfgm.modalities.shared.unet import UNet  # noqa: E402
from pfgm.modalities.images.writers import write_images  # noqa: E402

CONFIGS = Path(__file__).resolve().parents[1] / "configs" / "recipe"


def n_params(m: torch.nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def save(path: Path, array: np.ndarray, mode: str | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array.astype(np.uint8), mode=mode).save(path)
    return path


# ----------------------------------------------------------------------------------------------
# digits data


def test_digits_shapes_range_and_split():
    x, y = load_digits_split("train")
    xt, yt = load_digits_split("test")
    assert x.shape == (1527, 1, 8, 8) and xt.shape == (270, 1, 8, 8)
    assert x.dtype == torch.float32 and y.dtype == torch.long
    assert x.min() == -1 and x.max() == 1 and set(y.tolist()) == set(range(10))
    # the two splits partition the data set
    tr_idx, te_idx = split_indices(1797, "train", 0.15, 0), split_indices(1797, "test", 0.15, 0)
    assert sorted(torch.cat([tr_idx, te_idx]).tolist()) == list(range(1797))
    # deterministic, and a function of the seed
    x2, y2 = load_digits_split("train")
    assert torch.equal(x, x2) and torch.equal(y, y2)
    x3, _ = load_digits_split("train", seed=1)
    assert not torch.equal(x, x3)


def test_digits_modality_dataset_layout_decode():
    m = build_modality({"name": "images", "dataset": "digits", "class_cond": True})
    assert get_modality("images") is ImageModality and m.num_classes == 10 and m.shape == (1, 8, 8)
    ds = m.dataset("train")
    item = ds[0]
    assert item.x.shape == (1, 8, 8) and item.mask is None and item.cond.dtype == torch.long
    batch = m.collate([ds[i] for i in range(5)])
    assert batch.x.shape == (5, 1, 8, 8) and batch.cond.shape == (5,)

    lay = m.blank(16, torch.Generator().manual_seed(3))
    lay2 = m.blank(16, torch.Generator().manual_seed(3))
    assert lay.x.shape == (16, 1, 8, 8) and not lay.x.any() and lay.mask is None
    assert torch.equal(lay.cond, lay2.cond) and lay.cond.min() >= 0 and lay.cond.max() < 10

    m.set_sample_options(label=7)  # sample-time: one class for every sample
    assert (m.blank(16, torch.Generator().manual_seed(3)).cond == 7).all()
    m.set_sample_options(label="3")  # a class name (digits are named '0'..'9')
    assert (m.blank(2, torch.Generator()).cond == 3).all()
    with pytest.raises(ValueError, match=r"class index in \[0, 10\)"):
        m.set_sample_options(label=10)
    assert m.label == "3"
    with pytest.raises(ValueError, match="not a class"):
        m.set_sample_options(label="seven")
    with pytest.raises(ValueError, match="no sample-time option num_nodes"):
        m.set_sample_options(num_nodes=4)
    m.set_sample_options(label=None)
    assert len(set(m.blank(64, torch.Generator()).cond.tolist())) > 1

    unc = ImageModality()
    with pytest.raises(ValueError, match="class-conditional"):
        unc.set_sample_options(label=1)
    assert unc.label is None  # the refused value was not kept
    assert unc.num_classes == 0 and unc.dataset("test").cond is None and unc.blank(2, torch.Generator()).cond is None

    # decode ∘ encode is exact on byte values, and decoding clamps
    u8 = torch.arange(256, dtype=torch.uint8).reshape(4, 1, 8, 8)
    objs = m.decode(u8.float() / 127.5 - 1)
    assert objs[0].shape == (8, 8, 1) and objs[0].dtype == np.uint8
    assert np.array_equal(np.stack(objs)[..., 0], u8[:, 0].numpy())
    assert m.decode(torch.full((1, 1, 8, 8), 5.0))[0].min() == 255

    with pytest.raises(ValueError, match="8"):
        ImageModality(image_size=32)


# ----------------------------------------------------------------------------------------------
# image folders


def test_folder_rgb_classes_resize_crop(tmp_path):
    root = tmp_path / "imgs"
    # a wide image: green 10-pixel borders left and right, white middle; after resizing the short
    # side 20 → 16 and centre-cropping, the inner columns must be white (the borders are cut off)
    wide = np.zeros((20, 40, 3), np.uint8)
    wide[:, :] = (0, 255, 0)
    wide[:, 10:30] = 255
    save(root / "b_dog" / "wide.png", wide)
    save(root / "a_cat" / "red.jpg", np.tile(np.array([255, 0, 0], np.uint8), (30, 20, 1)))
    save(root / "a_cat" / "gray.bmp", np.full((16, 16), 77, np.uint8), mode="L")  # widened to RGB
    (root / "a_cat" / ".DS_Store").write_bytes(b"\0junk")  # hidden: ignored
    save(root / ".hidden_class" / "x.png", np.zeros((4, 4), np.uint8))  # hidden folder: ignored

    x, labels, classes = load_image_folder(root, image_size=16)
    assert classes == ["a_cat", "b_dog"] and labels.tolist() == [0, 0, 1]
    assert x.shape == (3, 3, 16, 16) and x.min() >= -1 and x.max() <= 1
    # sorted file order within a class: gray.bmp, then red.jpg
    gray = (x[0] + 1) * 127.5
    assert torch.allclose(gray, torch.full_like(gray, 77), atol=1e-4)  # native size: exact bytes
    red = (x[1] + 1) * 127.5
    assert red[0].min() > 240 and red[1:].max() < 15  # JPEG: close, not exact
    crop = ((x[2] + 1) * 127.5)[:, :, 2:14]
    assert crop.min() >= 250, "centre crop should keep only the white middle"

    m = ImageModality(dataset="folder", root=root, image_size=16, class_cond=True, test_fraction=0.34)
    assert m.num_classes == 2 and m.shape == (3, 16, 16)
    tr, te = m.dataset("train"), m.dataset("test")
    assert len(tr) == 2 and len(te) == 1 and tr.cond is not None
    assert m.config()["classes"] == ["a_cat", "b_dog"] and m.evaluate(m.decode(te.x)).metrics == {}
    net = m.backbone(model_channels=16, channel_mult=(1, 2), attn_resolutions=(8,))
    assert net(tr.x, torch.zeros(2), tr.cond).shape == (2, 3, 16, 16)

    # a checkpoint's resolved options rebuild the modality without the folder
    opts = {k: v for k, v in m.config().items() if k != "name"}
    opts["root"] = str(tmp_path / "gone")
    m2 = ImageModality(**opts)
    assert m2.shape == (3, 16, 16) and m2.num_classes == 2


def test_folder_grayscale_and_channel_choice(tmp_path):
    root = tmp_path / "g"
    for i in range(3):
        save(root / f"{i}.png", np.full((12, 12), 40 * i, np.uint8), mode="L")
    x, labels, classes = load_image_folder(root, image_size=12)
    assert x.shape == (3, 1, 12, 12) and labels is None and classes == []
    assert torch.allclose((x[:, 0, 0, 0] + 1) * 127.5, torch.tensor([0.0, 40.0, 80.0]), atol=1e-4)
    assert load_image_folder(root, image_size=6, channels=3)[0].shape == (3, 3, 6, 6)
    save(root / "c.webp", np.zeros((12, 12, 3), np.uint8))
    assert load_image_folder(root, image_size=8)[0].shape == (4, 3, 8, 8)  # one colour image → RGB
    assert load_image_folder(root, image_size=8, channels=1)[0].shape == (4, 1, 8, 8)
    with pytest.raises(ValueError, match="class subfolders"):
        ImageModality(dataset="folder", root=root, class_cond=True).num_classes


def test_folder_bad_inputs(tmp_path):
    missing = tmp_path / "nope"
    with pytest.raises(FileNotFoundError, match="nope.*does not exist"):
        load_image_folder(missing)
    with pytest.raises(ImageFolderError, match="nope"):  # also a ValueError subclass
        ImageModality(dataset="folder", root=missing).dataset()

    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / ".hidden.png").write_bytes(b"")
    with pytest.raises(EmptyImageFolderError, match="empty.*no images"):
        load_image_folder(empty)

    corrupt = tmp_path / "corrupt"
    save(corrupt / "ok.png", np.zeros((8, 8), np.uint8), mode="L")
    (corrupt / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really a png")
    with pytest.raises(CorruptImageError, match="broken.png"):
        load_image_folder(corrupt)

    mixed = tmp_path / "mixed"
    save(mixed / "ok.png", np.zeros((8, 8), np.uint8), mode="L")
    (mixed / "notes.txt").write_text("hello")
    with pytest.raises(NonImageFileError, match="notes.txt"):
        load_image_folder(mixed)
    assert load_image_folder(mixed, image_size=8, skip_non_images=True)[0].shape == (1, 1, 8, 8)

    classes = tmp_path / "classes"
    save(classes / "a" / "1.png", np.zeros((8, 8), np.uint8), mode="L")
    (classes / "b").mkdir()
    with pytest.raises(EmptyImageFolderError, match="b.*no images"):
        load_image_folder(classes)
    save(classes / "b" / "2.png", np.zeros((8, 8), np.uint8), mode="L")
    save(classes / "loose.png", np.zeros((8, 8), np.uint8), mode="L")
    with pytest.raises(ImageFolderError, match="loose.png"):
        load_image_folder(classes)


# ----------------------------------------------------------------------------------------------
# U-Net


def test_unet_digits_default_size_and_zero_init():
    m = ImageModality()
    net = m.backbone()
    count = n_params(net)
    assert 300_000 <= count <= 600_000, count
    x = torch.randn(3, 1, 8, 8)
    out = net(x, torch.randn(3))
    assert out.shape == x.shape and torch.count_nonzero(out) == 0  # zero-initialised output conv
    out.sum().backward()  # the zero conv still gets a gradient, so training can start
    assert net.conv_out.weight.grad.abs().sum() > 0

    # the recipe's backbone block builds the same-size net
    yaml = pytest.importorskip("yaml")
    cfg = yaml.safe_load((CONFIGS / "digits.yaml").read_text())
    assert cfg["modality"]["name"] == "images" and cfg["group"] == "images"
    assert (
        300_000
        <= n_params(ImageModality(**{k: v for k, v in cfg["modality"].items() if k != "name"}).backbone(**cfg["backbone"]))
        <= 600_000
    )
    folder_cfg = yaml.safe_load((CONFIGS / "image_folder.yaml").read_text())
    assert folder_cfg["modality"]["root"] == "???" and folder_cfg["modality"]["image_size"] == 32


def _perturb(net: torch.nn.Module) -> torch.nn.Module:
    # move away from the zero init so outputs depend on the inputs
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=g))
    return net.eval()


@pytest.mark.parametrize("size,ch,attn", [(8, 1, (4,)), (8, 3, (4,)), (32, 1, (8,)), (32, 3, (8,))])
def test_unet_shapes(size, ch, attn):
    net = UNet(model_channels=16, channel_mult=(1, 2, 2), attn_resolutions=attn, in_channels=ch, image_size=size)
    x = torch.randn(2, ch, size, size)
    assert net(x, torch.randn(2), mask=torch.ones_like(x)).shape == x.shape


def test_unet_64_rgb():
    net = UNet(model_channels=8, channel_mult=(1, 1, 2, 2), attn_resolutions=(8,), in_channels=3, image_size=64)
    assert net(torch.randn(1, 3, 64, 64), torch.zeros(1)).shape == (1, 3, 64, 64)


def test_unet_class_conditioning_null_label():
    net = _perturb(UNet(num_classes=10))
    x, c = torch.randn(4, 1, 8, 8), torch.full((4,), -0.3)
    with torch.no_grad():
        none = net(x, c, None)
        null = net(x, c, torch.full((4,), -1))
        labelled = net(x, c, torch.tensor([0, 3, -1, 9]))
        noise2 = net(x, c + 1.0, None)
    assert torch.allclose(none, null)  # no cond ≡ the null token (row num_classes)
    assert torch.allclose(labelled[2], null[2]) and not torch.allclose(labelled[0], null[0])
    assert not torch.allclose(none, noise2)  # c_noise matters
    assert net.label_embed.num_embeddings == 11
    with pytest.raises(TypeError):
        net(x, c, torch.randn(4, 2))
    with pytest.raises(ValueError, match="divisible"):
        UNet(channel_mult=(1, 2, 2, 2), image_size=12)


# ----------------------------------------------------------------------------------------------
# writers


def test_writers_roundtrip(tmp_path):
    rng = np.random.default_rng(0)
    gray = [rng.integers(0, 256, (8, 8, 1), dtype=np.uint8) for _ in range(5)]
    paths = write_images(gray, tmp_path / "deep" / "out")
    names = sorted(p.name for p in paths)
    assert names == ["000000.png", "000001.png", "000002.png", "000003.png", "000004.png", "grid.png", "samples.npz"]
    for i, im in enumerate(gray):
        with Image.open(tmp_path / "deep" / "out" / f"{i:06d}.png") as back:
            assert back.mode == "L" and np.array_equal(np.asarray(back), im[:, :, 0])
    with Image.open(tmp_path / "deep" / "out" / "grid.png") as g:
        grid = np.asarray(g)
    # 5 images → 3 columns, 2 rows, 2-pixel padding: image 4 sits in row 1, column 1
    assert grid.shape == (2 * 10 + 2, 3 * 10 + 2)
    assert np.array_equal(grid[12:20, 12:20], gray[4][:, :, 0]) and grid[0].max() == 0
    with np.load(tmp_path / "deep" / "out" / "samples.npz") as z:
        assert np.array_equal(z["images"], np.stack(gray))

    rgb = [rng.integers(0, 256, (4, 6, 3), dtype=np.uint8) for _ in range(2)]
    (p,) = write_images(rgb, tmp_path / "a" / "grid_only.png")
    with Image.open(p) as g:
        assert g.mode == "RGB" and np.array_equal(np.asarray(g)[2:6, 2:8], rgb[0])
    (p,) = write_images(rgb, tmp_path / "b" / "arrays.npz")
    with np.load(p) as z:
        assert np.array_equal(z["images"], np.stack(rgb))
    assert sorted(q.name for q in p.parent.iterdir()) == ["arrays.npz"]  # no temp files left

    with pytest.raises(ValueError, match="format"):
        write_images(rgb, tmp_path / "x.jpg")
    with pytest.raises(ValueError, match="shape"):
        write_images([rgb[0], gray[0]], tmp_path / "y")

    # the modality's write goes through the same path
    m = ImageModality()
    out = m.write(m.decode(torch.zeros(2, 1, 8, 8)), tmp_path / "mod")
    with Image.open(out[1]) as im:
        assert np.asarray(im).tolist() == [[128] * 8] * 8  # 0.0 ↦ 127.5 rounds to 128


# ----------------------------------------------------------------------------------------------
# metrics on hand-computable inputs


def test_confident_fraction():
    logits = torch.tensor([[10.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 5.0, 0.0]])  # max p: .9999, 1/3, .987
    assert M.confident_fraction(logits) == pytest.approx(2 / 3)


# ----------------------------------------------------------------------------------------------
# the digits classifier and end-to-end evaluation


@pytest.fixture(scope="module")
def classifier_cache(tmp_path_factory):
    cache = tmp_path_factory.mktemp("pfgm_cache")
    clf = M.load_digits_classifier(cache)
    return cache, clf


def test_classifier_accuracy_and_cache(classifier_cache):
    cache, clf = classifier_cache
    assert clf.test_accuracy >= 0.95
    xt, yt = load_digits_split("test")
    assert M.accuracy(clf, xt, yt) == pytest.approx(clf.test_accuracy)
    (path,) = cache.glob("digits_classifier_*.pt")
    torch.load(path, weights_only=True)  # plain tensors and numbers only
    again = M.load_digits_classifier(cache)  # from the cache, not retrained
    assert again.test_accuracy == clf.test_accuracy
    assert torch.equal(again(xt[:8]), clf(xt[:8]))


def test_evaluate_digits_real_vs_noise(classifier_cache, monkeypatch):
    cache, _ = classifier_cache
    monkeypatch.setenv("PFGM_CACHE", str(cache))
    m = ImageModality()
    real = m.evaluate(m.decode(m.split("test")[0][:100])).metrics
    assert set(real) == {
        "digits_fd",
        "digits_fd_floor",
        "digits_fd_same_n",
        "precision",
        "recall",
        "confident_fraction",
        "confident_fraction_real",
    }
    assert real["digits_fd_same_n"] == pytest.approx(real["digits_fd"])  # 100 samples ≤ 270 test images
    assert real["digits_fd"] == pytest.approx(real["digits_fd_floor"], rel=0.05)  # the same 100 images
    assert real["precision"] > 0.7 and real["recall"] > 0.7 and real["confident_fraction"] > 0.8
    noise = m.evaluate(m.decode(torch.rand(100, 1, 8, 8, generator=torch.Generator().manual_seed(0)) * 2 - 1)).metrics
    assert noise["digits_fd"] > 10 * real["digits_fd_floor"]
    # k-NN precision is lenient with few samples (noise features sit near the bulk): loose bound
    assert noise["confident_fraction"] < 0.3 and noise["precision"] < 0.4 and noise["recall"] < 0.1
    assert all(
        math.isnan(v) for k, v in m.evaluate(m.decode(torch.zeros(1, 1, 8, 8))).metrics.items() if k in ("digits_fd", "precision")
    )
