"""The audio modality through the protocol, on procedural tones (no espeak-ng needed): data, config round
trip without data, blank/decode/write, sample-time options, metrics on real clips, and a 1-step checkpoint
sampled and written while every data loader raises."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

sf = pytest.importorskip("soundfile")
pytest.importorskip("torchaudio")
pytest.importorskip("PIL")

from pfgm.modalities.audio import AudioModality  # noqa: E402
from pfgm.modalities.audio import data as audio_data  # noqa: E402
from pfgm.modalities.audio import modality as audio_modality  # noqa: E402
from pfgm.modalities.audio.io import write_wav  # noqa: E402
from pfgm.modalities.audio.writers import AudioClip  # noqa: E402
from pfgm.modalities.base import build_modality, get_modality  # noqa: E402

SMALL_UNET = dict(model_channels=8, channel_mult=[1, 2], num_blocks=1, attn_resolutions=[])


def tones(**kw) -> AudioModality:
    return build_modality({"name": "audio", "dataset": "tones", "num_tones": 120, **kw})


def test_tones_dataset_config_and_blank():
    m = tones(class_cond=True)
    assert get_modality("audio") is AudioModality and m.num_classes == 8 and m.classes[0] == "C4"
    ds = m.dataset("train")
    assert len(ds) == 102 and len(m.dataset("test")) == 18
    assert ds.x.shape == (102, 1, 32, 32) and ds.mask is None and ds.cond.dtype == torch.long
    assert ds.x.min() >= -1 and ds.x.max() == pytest.approx(1.0, abs=0.01)  # the loudest bin is pinned to +1
    cfg = m.config()
    assert cfg["ref_db"] == m.ref_db and cfg["classes"] == m.classes and isinstance(cfg["ref_db"], float)

    # the config rebuilds the modality without reading data: backbone, blank and decode work while loaders raise
    rebuilt = AudioModality(**cfg)
    rebuilt._all_clips = lambda: (_ for _ in ()).throw(AssertionError("sampling read the data"))  # type: ignore[method-assign]
    net = rebuilt.backbone(**SMALL_UNET)
    b = rebuilt.blank(5, torch.Generator().manual_seed(0))
    assert b.x.shape == (5, 1, 32, 32) and not b.x.any() and b.cond.shape == (5,)
    assert torch.equal(b.cond, rebuilt.blank(5, torch.Generator().manual_seed(0)).cond)
    assert net(b.x, torch.zeros(5), b.cond).shape == b.x.shape
    clips = rebuilt.decode(ds.x[:3], cond=ds.cond[:3])
    assert [c.label for c in clips] == ds.cond[:3].tolist() and clips[0].name == m.classes[clips[0].label]
    assert clips[0].wave.shape == (m.num_samples,) and clips[0].sample_rate == 8000

    with pytest.raises(ValueError, match="contradicts the data"):
        m.backbone(**SMALL_UNET, image_size=[16, 16])


def test_sample_options():
    m = tones(class_cond=True)
    m.set_sample_options(label="A4")
    assert (m.blank(6, torch.Generator()).cond == 4).all()
    m.set_sample_options(label=2, griffin_lim_iters=4)
    assert (m.blank(2, torch.Generator()).cond == 2).all() and m.codec.griffin_lim_iters == 4
    with pytest.raises(ValueError, match=r"class index in \[0, 8\)"):
        m.set_sample_options(label=8)
    with pytest.raises(ValueError, match="not a class"):
        m.set_sample_options(label="H9")
    with pytest.raises(ValueError, match="griffin_lim_iters must be >= 1"):
        m.set_sample_options(griffin_lim_iters=0)
    assert m.label == 2 and m.griffin_lim_iters == 4
    with pytest.raises(ValueError, match="class-conditional"):
        tones().set_sample_options(label=1)
    assert tones().blank(3, torch.Generator()).cond is None


def test_write_folder_wav_and_png(tmp_path):
    m = tones(class_cond=True)
    x, cond = m.dataset("test").x[:4], m.dataset("test").cond[:4]
    clips = m.decode(x, cond=cond)
    paths = m.write(clips + [None], tmp_path / "out")
    wavs = sorted((tmp_path / "out").glob("*.wav"))
    assert len(wavs) == 4 and (tmp_path / "out" / "spectrograms.png").is_file() and len(paths) == 5
    assert wavs[0].name == f"000000_{clips[0].name}.wav"
    info = sf.info(str(wavs[0]))
    assert info.samplerate == 8000 and info.subtype == "PCM_16" and info.channels == 1 and info.frames == m.num_samples
    back, _ = sf.read(str(wavs[0]), dtype="int16")
    assert np.array_equal(back, np.clip(np.round(clips[0].wave.astype(np.float64) * 32767), -32768, 32767).astype(np.int16))
    from PIL import Image

    sheet = Image.open(tmp_path / "out" / "spectrograms.png")
    assert sheet.mode == "RGB" and sheet.size == (2 + 2 * (96 + 2), 2 + 2 * (96 + 2))

    one = m.write(clips, tmp_path / "all.wav")[0]
    assert sf.info(str(one)).frames == 4 * m.num_samples + 3 * 2000  # 0.25 s gaps at 8 kHz
    assert m.write(clips, tmp_path / "sheet.png")[0].stat().st_size > 0
    with pytest.raises(ValueError, match="unknown audio output format"):
        m.write(clips, tmp_path / "x.mp3")
    from pfgm.modalities.audio.writers import FILE_FORMATS

    assert set(m.OUT_FORMATS) == {""} | set(FILE_FORMATS)  # what pfgm-sample checks before sampling
    with pytest.raises(ValueError, match="one sample rate"):
        m.write([clips[0], AudioClip(clips[1].wave, 16000)], tmp_path / "mixed")
    assert not list(tmp_path.rglob(".*.tmp"))


def test_evaluate_real_tones_scores_near_the_ceiling(tmp_path, monkeypatch):
    monkeypatch.setenv("PFGM_CACHE", str(tmp_path / "cache"))
    m = tones()
    w, labels = m.waves("test")
    real = [AudioClip(x.numpy(), 8000, int(y)) for x, y in zip(w, labels)]
    ev = m.evaluate(real)
    r = ev.metrics
    assert r["invalid_fraction"] == 0.0 and r["pitch_in_tune"] == 1.0
    assert r["pitch_accuracy"] == 1.0  # the labels are the tones' own notes
    # the real clips are exactly the reference's held-out set: the same numbers as the real_* ones
    assert r["fid"] == pytest.approx(r["fid_real"]) and r["is"] == pytest.approx(r["real_is"])
    assert r["spectral_distance"] == pytest.approx(r["spectral_distance_real"])
    assert 0.0 <= r["classifier_accuracy"] <= 1.0 and any("held-out accuracy" in n for n in ev.notes)
    assert list((tmp_path / "cache").glob("audio_classifier_*.pt"))  # cached
    # noise is scored as noise
    noise = [
        AudioClip((0.1 * np.random.default_rng(i).standard_normal(m.num_samples)).astype(np.float32), 8000) for i in range(18)
    ]
    bad = m.evaluate(noise + [None]).metrics
    assert bad["pitch_in_tune"] < 0.5 and bad["spectral_distance"] > r["spectral_distance"] + 3
    assert bad["fid"] > r["fid"] and bad["invalid_fraction"] == pytest.approx(1 / 19)


def test_unlabelled_folder_reports_spectral_distance_only(tmp_path):
    root = tmp_path / "clips"
    t = np.arange(4000) / 8000
    for i in range(10):
        write_wav(root / f"{i}.wav", (0.3 * np.sin(2 * np.pi * (200 + 30 * i) * t)).astype(np.float32), 8000)
    m = build_modality({"name": "audio", "dataset": "folder", "root": str(root), "test_fraction": 0.3})
    assert m.classes == [] and m.num_classes == 0 and len(m.dataset("train")) == 7
    w, _ = m.waves("test")
    ev = m.evaluate([AudioClip(x.numpy(), 8000) for x in w])
    assert set(ev.metrics) == {"invalid_fraction", "spectral_distance", "spectral_distance_real"}
    assert any("no labels" in n for n in ev.notes)
    with pytest.raises(ValueError, match="class subfolders"):
        build_modality({"name": "audio", "dataset": "folder", "root": str(root), "class_cond": True}).dataset()
    with pytest.raises(ValueError, match="needs modality.root"):
        AudioModality(dataset="folder")


def test_waveform_representation_uses_diffwave():
    m = tones(representation="wave")
    ds = m.dataset("train")
    assert ds.x.shape == (102, 1, m.num_samples)
    net = m.backbone(channels=8, layers=2, dilation_cycle=2)
    assert type(net).__name__ == "DiffWave"
    clips = m.decode(ds.x[:2])
    assert np.allclose(clips[0].wave, ds.x[0, 0].numpy().clip(-1, 1))


def test_checkpoint_samples_and_writes_without_data(tmp_path, monkeypatch):
    pytest.importorskip("hydra")
    from pfgm.recipes.cli import compose
    from pfgm.recipes.sample import generate_from_checkpoint
    from pfgm.recipes.train import run_training

    monkeypatch.setenv("PFGM_CACHE", str(tmp_path / "cache"))
    cfg = compose("train", ["recipe=tones"])
    cfg["modality"]["num_tones"] = 40
    cfg["backbone"] = dict(SMALL_UNET)
    cfg["run_dir"] = str(tmp_path / "run")
    cfg["trainer"].update(max_steps=1, batch_size=8, progress=False, preview_every=0)
    run_training(cfg)

    def no_data(*a, **k):
        raise AssertionError("sampling must not read training data")

    for name in ("make_tones", "synth_digits", "load_wav_folder", "load_sc09", "fixed_length"):
        monkeypatch.setattr(audio_modality, name, no_data)
        monkeypatch.setattr(audio_data, name, no_data)
    modality, objects, info, _ = generate_from_checkpoint(
        {"checkpoint": str(tmp_path / "run"), "num_samples": 3, "seed": 0, "device": "cpu",
         "sampler": {"steps": 2}, "progress": False})  # fmt: skip
    assert len(objects) == 3 and all(o.wave.shape == (modality.num_samples,) for o in objects)
    paths = modality.write(objects, tmp_path / "wavs")
    assert sum(p.suffix == ".wav" for p in paths) == 3
    assert all(math.isfinite(float(np.abs(o.wave).max())) for o in objects)
    assert isinstance(Path(paths[0]), Path)


def test_label_on_request_none_for_unconditional_and_16khz_one_second_wavs(tmp_path, monkeypatch):
    """A class-conditional, CFG-trained model in SC09's shape: modality.label names the class asked for,
    label=none samples with the null label (cond −1) and gives unlabelled clips, guidance works with both,
    and the files are 16-bit WAVs of 16,000 samples at 16 kHz."""
    pytest.importorskip("hydra")
    import pfgm
    from pfgm.recipes.cli import compose
    from pfgm.recipes.train import run_training

    monkeypatch.setenv("PFGM_CACHE", str(tmp_path / "cache"))
    cfg = compose("train", ["recipe=tones"])
    cfg["modality"].update(num_tones=40, sample_rate=16000, duration=1.0, n_fft=1024, hop_length=250, n_mels=64, frames=64)
    cfg["backbone"] = dict(SMALL_UNET)
    cfg["run_dir"] = str(tmp_path / "run")
    cfg["trainer"].update(max_steps=1, batch_size=8, progress=False, preview_every=0)
    run_training(cfg)
    model = pfgm.load(tmp_path / "run")
    seen = []
    net = model.denoiser
    hook = net.register_forward_pre_hook(lambda mod, args, kwargs: seen.append(kwargs.get("cond", args[2] if len(args) > 2 else None)),
                                         with_kwargs=True)  # fmt: skip
    asked = model.sample(3, seed=0, steps=2, label="A4", guidance=2.0)
    assert [c.label for c in asked] == [4, 4, 4] and asked[0].name == "A4"
    unconditional = model.sample(3, seed=0, steps=2, label="none", guidance=2.0)
    assert [c.label for c in unconditional] == [None] * 3
    hook.remove()
    conds = [c for c in seen if c is not None]
    # with guidance the net sees the asked labels and the null label side by side: [cond, −1]
    assert any((c[: len(c) // 2] == 4).all() and (c[len(c) // 2 :] == -1).all() for c in conds)
    assert any((c == -1).all() for c in conds)
    assert model.modality.label is None  # the option lasted one call
    with pytest.raises(ValueError, match="not a class"):
        model.sample(1, seed=0, steps=2, label="H9")
    paths = model.write(asked, tmp_path / "wavs")
    info = sf.info(str([p for p in paths if p.suffix == ".wav"][0]))
    assert (info.samplerate, info.frames, info.channels, info.subtype) == (16000, 16000, 1, "PCM_16")
