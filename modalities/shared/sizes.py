"""Object sizes (graph nodes, sequence length): the training histogram a checkpoint pins, and size bucketing.

A variable-size modality samples sizes from the training distribution. The histogram is stored in the
modality's ``config()`` so that sampling from a checkpoint never reads the data set; drawing uses the
caller's generator only, so a sample is a function of its seed.

Bucketing cuts a batch into groups of similar size so each group runs trimmed to its largest member;
the cost callback says what one item of size m costs (a graph's pairs ~m², a sequence ~m).
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch
from torch import Tensor

__all__ = ["SizeHistogram", "size_groups"]


class SizeHistogram:
    """counts[n] = number of training items of size n (n = 0 … max_size)."""

    def __init__(self, counts: Sequence[int]):
        counts = [int(c) for c in counts]
        if not counts or any(c < 0 for c in counts) or sum(counts) == 0:
            raise ValueError(f"a size histogram needs non-negative counts with a positive total, got {counts[:8]}...")
        self.counts = counts
        # float64 as in every earlier release, so the same seed draws the same sizes
        self.probs = torch.tensor(counts, dtype=torch.float64) / sum(counts)

    @classmethod
    def from_sizes(cls, sizes: Sequence[int], max_size: int | None = None) -> "SizeHistogram":
        sizes = [int(s) for s in sizes]
        if not sizes:
            raise ValueError("no sizes to build a histogram from")
        top = max(sizes) if max_size is None else int(max_size)
        if max(sizes) > top or min(sizes) < 0:
            raise ValueError(f"sizes must lie in [0, {top}], got [{min(sizes)}, {max(sizes)}]")
        counts = [0] * (top + 1)
        for s in sizes:
            counts[s] += 1
        return cls(counts)

    @property
    def max_size(self) -> int:
        """The largest size the histogram can hold (its length − 1; may exceed the largest seen)."""
        return len(self.counts) - 1

    def sample(self, num: int, generator: torch.Generator | None = None) -> Tensor:
        """num sizes (num,) long, drawn with ``generator`` only."""
        return torch.multinomial(self.probs, num, replacement=True, generator=generator)

    def to_config(self) -> list[int]:
        return list(self.counts)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SizeHistogram) and other.counts == self.counts

    def __repr__(self) -> str:
        return f"SizeHistogram(total={sum(self.counts)}, max_size={self.max_size})"


def size_groups(sizes: Tensor, overhead: float, cost: Callable[[int], float]) -> list[Tensor]:
    """sizes (B,) → index tensors into the batch, one per group, groups in ascending size.

    A group of b items whose largest has size m costs b·cost(m) + overhead (the fixed price of one
    more pass through the net, in the same units). Groups are runs of the sorted sizes; the cut points
    minimise the total cost exactly (dynamic programming over the distinct sizes).
    """
    sizes = sizes.long().flatten().cpu()
    if sizes.numel() == 0:
        return []
    order = torch.argsort(sizes, stable=True)
    values, counts = torch.unique(sizes, return_counts=True)  # ascending
    vals, cnts = values.tolist(), counts.tolist()
    K = len(vals)
    prefix = [0]
    for c in cnts:
        prefix.append(prefix[-1] + c)
    best = [0.0] + [float("inf")] * K
    cut = [0] * (K + 1)
    for k in range(1, K + 1):  # best[k]: distinct sizes 0..k-1 grouped, the last group ending at k-1
        w = cost(vals[k - 1])
        for j in range(k):
            c = best[j] + (prefix[k] - prefix[j]) * w + overhead
            if c < best[k]:
                best[k], cut[k] = c, j
    bounds, k = [], K
    while k > 0:
        bounds.append((prefix[cut[k]], prefix[k]))
        k = cut[k]
    return [order[a:b] for a, b in reversed(bounds)]
