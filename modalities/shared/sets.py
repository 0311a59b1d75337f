"""Set statistics of generated objects against the training data, one definition for every modality.

Objects are compared by a canonical string (canonical SMILES, a sequence, …):

- ``uniqueness``: distinct objects / all objects;
- ``novelty`` (MOSES, Polykovskiy et al. 2020): distinct objects not in the training set / distinct objects.

Both are 0 for an empty set.
"""

from __future__ import annotations

from typing import Iterable, Sequence

__all__ = ["uniqueness", "novelty"]


def uniqueness(items: Sequence[str]) -> float:
    """Distinct / all (0 for an empty set)."""
    return len(set(items)) / len(items) if len(items) else 0.0


def novelty(items: Iterable[str], train: Iterable[str]) -> float:
    """Distinct items not in ``train`` / distinct items (0 for an empty set)."""
    distinct = set(items)
    if not distinct:
        return 0.0
    return len(distinct - set(train)) / len(distinct)
