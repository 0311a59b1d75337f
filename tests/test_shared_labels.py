"""Tests of modalities.shared.labels: label by name or index, and the labels a blank carries."""

import pytest
import torch

from pfgm.modalities.shared.labels import blank_labels, label_index


def test_label_by_name_first_then_index():
    classes = ["3", "10", "20"]
    assert label_index("10", True, classes) == 1  # the folder named "10", not index 10
    assert label_index(2, True, classes) == 2 and label_index(None, False, ()) is None
    with pytest.raises(ValueError, match=r"class index in \[0, 3\)"):
        label_index(3, True, classes)
    with pytest.raises(ValueError, match="not a class"):
        label_index("cat", True, classes)
    with pytest.raises(ValueError, match="class-conditional"):
        label_index(0, False, classes)


def test_blank_labels_draw_the_same_stream_fixed_or_not():
    g1, g2 = torch.Generator().manual_seed(0), torch.Generator().manual_seed(0)
    free = blank_labels(64, 10, None, g1)
    fixed = blank_labels(64, 10, 7, g2)
    assert (fixed == 7).all() and len(set(free.tolist())) > 1
    assert torch.equal(torch.rand(3, generator=g1), torch.rand(3, generator=g2))  # same draws consumed
