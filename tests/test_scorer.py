"""The one scorer-training loop: deterministic for a seed, the caller's RNG untouched, small batches skipped."""

import torch
from torch import nn

from pfgm.modalities.shared.scorer import Scorer, accuracy, train_scorer


class _Tiny(Scorer):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(4, 8), nn.ReLU())
        self.head = nn.Sequential(nn.Dropout(0.3), nn.Linear(8, 3))


def _data():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(65, 4, generator=g)  # the last batch of 64 holds 1 item
    return x, (x[:, 0] > 0).long() + (x[:, 1] > 1).long()


def _trained(min_batch=1, seed=0):
    torch.manual_seed(1)
    m = _Tiny()
    seen = []

    def augment(b, g):
        seen.append(len(b))
        return b + 0.01 * torch.randn(b.shape, generator=g)

    x, y = _data()
    rng = torch.get_rng_state()
    train_scorer(m, x, y, augment, epochs=3, batch_size=64, lr=1e-2, seed=seed, min_batch=min_batch)
    assert torch.equal(torch.get_rng_state(), rng)  # the caller's global RNG is left as it was
    return m, seen


def test_deterministic_and_leaves_the_global_rng_alone():
    a, seen = _trained()
    assert not a.training
    b, _ = _trained()
    assert all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values()))
    c, _ = _trained(seed=1)
    assert not torch.equal(a.head[1].weight, c.head[1].weight)
    assert sorted(seen) == [1, 1, 1, 64, 64, 64]


def test_batches_below_min_batch_are_skipped():
    _, seen = _trained(min_batch=2)
    assert seen == [64, 64, 64]


def test_features_logits_and_accuracy():
    m, _ = _trained()
    x, y = _data()
    assert torch.equal(m.head(m.features(x)), m(x))
    m.train()
    acc = accuracy(m, x, y, batch_size=10)
    assert m.training and acc == (m.eval()(x).argmax(1) == y).double().mean().item()
