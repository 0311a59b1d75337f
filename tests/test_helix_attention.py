"""Helix attention: the anti-diagonal shifts, what the stacking taps read, padding, and the ByteNet hook."""

from __future__ import annotations

import pytest
import torch

from pfgm.modalities.sequences.backbone import build_backbone
from pfgm.modalities.sequences.helix_attention import HelixAttention, antidiagonal_shifts


def test_antidiagonal_shifts_by_the_definition():
    a = torch.randn(2, 3, 6, 6)
    s = antidiagonal_shifts(a, reach=2)
    assert s.shape == (2, 3, 5, 6, 6)
    for di, d in enumerate(range(-2, 3)):
        for i in range(6):
            for j in range(6):
                inside = 0 <= i + d < 6 and 0 <= j - d < 6
                want = a[:, :, i + d, j - d] if inside else torch.zeros(2, 3)
                assert torch.equal(s[:, :, di, i, j], want)


def test_stacking_taps_make_a_helix_line_outscore_an_isolated_pair():
    """One head, all taps at 1 (reach 2): the logit of a pair is the sum of the raw pair logits along
    its anti-diagonal. Raw logits that are high on a 5-pair helix line and at one isolated pair give
    the helix's middle pair 5 × the isolated pair's logit."""
    att = HelixAttention(width=8, emb=4, heads=1, head_dim=2, reach=2)
    with torch.no_grad():
        att.stack.fill_(1.0)
    a = torch.zeros(1, 1, 12, 12)
    for t in range(5):  # helix (1, 10), (2, 9), (3, 8), (4, 7), (5, 6)
        a[0, 0, 1 + t, 10 - t] = 1.0
    a[0, 0, 0, 3] = 1.0  # an isolated pair
    s = att.stacked(a)
    assert s[0, 0, 3, 8] == 5.0 and s[0, 0, 0, 3] == 1.0 and s[0, 0, 1, 10] == 3.0


def test_padding_never_leaks_and_an_empty_row_reads_nothing():
    torch.manual_seed(0)
    att = HelixAttention(width=8, emb=4, heads=2, head_dim=4)
    for p in att.parameters():
        torch.nn.init.normal_(p, std=0.3)
    h, e = torch.randn(3, 7, 8), torch.randn(3, 4)
    m = torch.ones(3, 7, 1)
    m[1, 4:] = 0
    m[2] = 0  # no real position at all
    y = att(h * m, e, m)
    junk = h * m + 9.0 * torch.randn_like(h) * (1 - m)
    assert torch.isfinite(y).all() and (y[m[..., 0] == 0] == 0).all()
    assert torch.allclose(y, att(junk, e, m), atol=1e-6)


def test_bytenet_hook_gives_a_path_between_positions():
    """A one-block ByteNet with 1-wide convolutions has no path between positions; helix attention
    adds one, and does not let padding in."""
    opts = dict(width=16, depth=1, kernel=1, dilations=[1])
    plain = build_backbone(4, 10, type="bytenet", **opts)
    helix = build_backbone(4, 10, type="bytenet", helix_attention=1, **opts)
    assert sum(p.numel() for p in helix.parameters()) > sum(p.numel() for p in plain.parameters())
    torch.manual_seed(0)
    for net in (plain, helix):
        for p in net.parameters():  # small enough that the attention does not saturate onto one position
            torch.nn.init.normal_(p, std=0.15)
    x = torch.randn(2, 10, 4)
    x2 = x.clone()
    x2[:, 7] += 1.0
    c = torch.tensor([0.1, 0.4])
    assert torch.allclose(plain(x, c)[:, 2], plain(x2, c)[:, 2])
    assert ((helix(x, c)[:, 2] - helix(x2, c)[:, 2]).abs().amax(-1) > 1e-5).all()  # in every sample
    mask = torch.ones(2, 10, 4)
    mask[1, 6:] = 0
    junk = x + 5.0 * torch.randn_like(x) * (1 - mask)
    assert torch.allclose(helix(x, c, mask=mask), helix(junk, c, mask=mask), atol=1e-5)
    with pytest.raises(ValueError, match="helix_attention must be between 0 and depth=1"):
        build_backbone(4, 10, type="bytenet", helix_attention=2, **opts)
