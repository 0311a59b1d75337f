"""IS, modified IS, AM score and mean max-softmax against values worked out by hand."""

from __future__ import annotations

import math

import pytest
import torch

from pfgm.modalities.shared.classifier_scores import (
    am_score,
    class_scores,
    inception_score,
    inception_score_se,
    mean_max_softmax,
    modified_inception_score,
)


def one_hot_logits(labels: list[int], k: int) -> torch.Tensor:
    """Exactly one-hot predictions: log(one-hot), i.e. 0 for the class and −inf elsewhere."""
    out = torch.full((len(labels), k), -math.inf, dtype=torch.float64)
    out[torch.arange(len(labels)), torch.tensor(labels)] = 0.0
    return out


def test_certain_and_uniformly_spread_predictions_score_the_class_count():
    k = 10
    logits = one_hot_logits(list(range(k)) * 3, k)
    assert inception_score(logits) == pytest.approx(k, rel=1e-12)
    assert mean_max_softmax(logits) == 1.0
    # predictions match the reference's class spread and have no entropy: AM's best value, 0
    assert am_score(logits, logits) == pytest.approx(0.0, abs=1e-12)
    # two certain samples of different classes: infinite KL, so mIS is infinite
    assert modified_inception_score(logits) == math.inf


def test_all_samples_certain_of_one_class():
    k = 4
    logits = one_hot_logits([2] * 5, k)
    assert inception_score(logits) == pytest.approx(1.0)
    assert modified_inception_score(logits) == pytest.approx(1.0)
    # reference spread uniformly over 4 classes, samples all class 2: KL(u ‖ δ) = inf
    assert am_score(logits, one_hot_logits([0, 1, 2, 3], k)) == math.inf


def test_uninformative_predictions():
    k = 7
    logits = torch.zeros(9, k)
    assert inception_score(logits) == pytest.approx(1.0)
    assert modified_inception_score(logits) == pytest.approx(1.0)
    assert mean_max_softmax(logits) == pytest.approx(1 / k)
    # KL(uniform ‖ uniform) = 0, entropy log K
    assert am_score(logits, torch.zeros(3, k)) == pytest.approx(math.log(k))


def test_two_soft_predictions_closed_form():
    # p1 = (a, 1−a), p2 = (1−a, a): mean (½, ½); KL(p_i ‖ mean) = log 2 − H(a); KL(p1 ‖ p2) = (2a−1)·log(a/(1−a))
    a = 0.8
    logits = torch.tensor([[math.log(a), math.log(1 - a)], [math.log(1 - a), math.log(a)]], dtype=torch.float64)
    h = -(a * math.log(a) + (1 - a) * math.log(1 - a))
    assert inception_score(logits) == pytest.approx(2 * math.exp(-h), rel=1e-12)
    assert modified_inception_score(logits) == pytest.approx(math.exp((2 * a - 1) * math.log(a / (1 - a))), rel=1e-12)
    assert mean_max_softmax(logits) == pytest.approx(a)
    # reference all class 0 (certain): KL((1, 0) ‖ (½, ½)) = log 2
    assert am_score(logits, one_hot_logits([0], 2)) == pytest.approx(math.log(2) + h, rel=1e-12)


def test_mis_chunking_and_the_dict():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(37, 5, generator=g) * 2
    # brute force over pairs i ≠ j
    p = logits.double().softmax(1)
    kl = [(p[i] * (p[i] / p[j]).log()).sum().item() for i in range(37) for j in range(37) if i != j]
    assert modified_inception_score(logits, chunk=4) == pytest.approx(math.exp(sum(kl) / len(kl)), rel=1e-10)
    d = class_scores(logits, logits[:10], prefix="real_")
    assert set(d) == {"real_is", "real_mis", "real_am", "real_max_softmax"}
    assert math.isnan(class_scores(logits[:1])["mis"])
    with pytest.raises(ValueError, match="at least 2"):
        modified_inception_score(logits[:1])
    with pytest.raises(ValueError, match="shaped"):
        inception_score(torch.zeros(0, 3))


def test_inception_score_se_matches_the_spread_over_independent_sample_sets():
    """The bootstrap SE from one set of 256 samples ≈ the SD of the score over 300 independent sets drawn
    from the same predictions law (within 35 %); certain predictions of one class have SE 0."""
    g = torch.Generator().manual_seed(0)

    def draw():  # logits of a classifier that is confident about a skewed class mix
        cls = torch.multinomial(torch.tensor([4.0, 2, 1, 1, 1, 1]), 256, replacement=True, generator=g)
        return 3.0 * torch.nn.functional.one_hot(cls, 6).double() + torch.randn(256, 6, generator=g, dtype=torch.float64)

    spread = torch.tensor([inception_score(draw()) for _ in range(300)]).std().item()
    se = inception_score_se(draw(), resamples=400)
    assert 0.65 * spread < se < 1.35 * spread
    assert inception_score_se(torch.full((50, 4), -math.inf).index_fill_(1, torch.tensor([2]), 0.0)) == 0.0
