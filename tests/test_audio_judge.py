"""The outside judge of spoken digits (modalities/audio/judge.py): DTW against its recursion, the MFCC front
end's independence of the model's codec, and the ordering the judge must give: real clips through the
codec near real clips as they are, far above time-reversed speech and noise bursts."""

from __future__ import annotations

import math
import shutil

import pytest
import torch

pytest.importorskip("torchaudio")
pytest.importorskip("soundfile")

from pfgm.modalities.audio.data import fixed_length, synth_digits  # noqa: E402
from pfgm.modalities.audio.features import MelCodec  # noqa: E402
from pfgm.modalities.audio.judge import (  # noqa: E402
    DigitJudge,
    MFCCFrontEnd,
    dtw_distances,
    judge_report,
    noise_bursts,
    template_margins,
    train_judge,
)

needs_espeak = pytest.mark.skipif(
    shutil.which("espeak-ng") is None, reason="espeak-ng is not installed (sudo apt-get install espeak-ng)"
)


def _dtw_reference(x: torch.Tensor, y: torch.Tensor) -> float:
    t, u = len(x), len(y)
    d = [[math.inf] * (u + 1) for _ in range(t + 1)]
    d[0][0] = 0.0
    for i in range(1, t + 1):
        for j in range(1, u + 1):
            d[i][j] = float((x[i - 1] - y[j - 1]).norm()) + min(d[i - 1][j], d[i][j - 1], d[i - 1][j - 1])
    return d[t][u] / (t + u)


def test_dtw_equals_the_recursion_for_pairs_of_any_lengths():
    g = torch.Generator().manual_seed(0)
    a = [torch.randn(n, 3, generator=g) for n in (4, 9, 1, 6)]
    b = [torch.randn(n, 3, generator=g) for n in (7, 2, 1)]
    got = dtw_distances(a, b, chunk=5)  # chunks that split the pairs unevenly
    want = torch.tensor([[_dtw_reference(x, y) for y in b] for x in a], dtype=torch.float64)
    assert torch.allclose(got, want, atol=1e-5)
    # a sequence and itself stretched twice in time are at distance 0
    x = torch.randn(5, 3, generator=g)
    assert dtw_distances([x], [x.repeat_interleave(2, 0)])[0, 0] == 0.0


def test_noise_bursts_keep_the_envelope_and_lose_the_spectrum():
    t = torch.arange(8000) / 8000
    tone = (0.1 * torch.sin(2 * math.pi * 440 * t) * (t > 0.5)).unsqueeze(0)  # silent first half
    burst = noise_bursts(tone, frame=160)
    assert burst[0, :3900].abs().max() == 0.0 and burst[0, 4200:].square().mean().sqrt() == pytest.approx(0.0707, rel=0.1)

    def peakiness(x: torch.Tensor) -> float:
        spec = torch.fft.rfft(x).abs()
        return float(spec.max() / spec.median())

    assert peakiness(tone[0, 4200:]) > 100 and peakiness(burst[0, 4200:]) < 10  # a line against a flat spectrum


def test_front_end_is_not_the_models_representation():
    front = MFCCFrontEnd(16000)
    codec = MelCodec(16000, 1024, 200, 80, 80, clip_samples=16000)
    w = torch.randn(2, 16000) * 0.1
    feats = front(w)
    assert feats.shape == (2, 40, 101)  # 20 MFCCs + deltas, 10 ms hop, mean-normalised per clip
    assert feats[:, :20].mean(-1).abs().max() < 1e-4
    assert codec.encode(w).shape == (2, 1, 80, 80)


@pytest.fixture(scope="module")
def judged():
    """A small judge at 8 kHz: trained on four voices, asked about four others it never heard."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed")
    torch.manual_seed(0)
    codec = MelCodec()
    train = synth_digits(["en-us-nyc", "en-gb-x-rp+f2", "en-029+m1", "en-gb+m4"], [35, 65], [160])
    test = synth_digits(["en-us", "en-gb+f4", "en-gb-scotland", "en-029+f3"], [50], [175])
    w, _ = fixed_length(train, codec.num_samples)
    wt, _ = fixed_length(test, codec.num_samples, seed=1)
    codec.ref_db = float(codec.mel_db(w).max())

    def through(x: torch.Tensor) -> torch.Tensor:
        return codec.decode(codec.encode(x), generator=torch.Generator().manual_seed(0))

    wc = through(w)
    judge = DigitJudge(8000)
    train_judge(judge, torch.cat([w, wc]), torch.cat([train.labels, train.labels]), 8000, epochs=12)
    with torch.no_grad():
        ref = judge.features(w).double().numpy()
    # templates: the first voice's ten digits at its first pitch (the grid is voice → pitch → speed → digit)
    report = judge_report(judge, through(wt), wt, through(wt), ref, wc[:10], train.labels[:10], test.labels, test.labels)
    return report


@needs_espeak
def test_judge_hears_held_out_voices_through_the_codec(judged):
    real, codec = judged["real"], judged["real_codec"]
    assert real["accuracy"] >= 0.8 and codec["accuracy"] >= 0.8
    assert codec["accuracy"] >= real["accuracy"] - 0.1  # the codec costs the words little
    assert judged["samples"]["accuracy"] == codec["accuracy"]  # samples here are the codec's clips


@needs_espeak
def test_judge_orders_real_above_reversed_and_noise(judged):
    real, rev, noise = judged["real_codec"], judged["reversed"], judged["noise"]
    assert real["is"] > 1.5 * rev["is"] and real["is"] > 2 * noise["is"]
    assert real["template_margin"] > 2 * rev["template_margin"] and real["template_margin"] > 2 * noise["template_margin"]
    assert real["entropy"] > math.log(10) - 0.1 and noise["entropy"] < real["entropy"]
    assert real["fid"] < min(rev["fid"], noise["fid"])
    assert sum(real["histogram"]) == sum(noise["histogram"]) == 40


def test_template_margins_pick_the_nearest_class():
    front = MFCCFrontEnd(8000)
    t = torch.arange(4000) / 8000
    tones = torch.stack([torch.sin(2 * math.pi * f * t) * 0.3 for f in (300.0, 900.0, 2000.0)])
    pred, margin = template_margins(front, tones[[2, 0]] * 0.9, tones, torch.tensor([0, 1, 2]), 3)
    assert pred.tolist() == [2, 0] and (margin > 0).all()
