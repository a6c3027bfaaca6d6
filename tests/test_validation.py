"""The shared input checks check_int and check_choice (the per-module copies they replaced raised the
same messages)."""

import numpy as np
import pytest
import torch

from mlcompanion.validation import check_choice, check_int


def test_check_int_accepts_python_and_numpy_integers_at_or_above_the_minimum():
    assert check_int(3, "n") == 3 and type(check_int(np.int64(3), "n")) is int
    assert check_int(0, "seed", 0) == 0
    for bad in (0, -1, 2.0, "3", None, True, np.float32(3)):
        with pytest.raises(ValueError, match=r"n must be an int >= 1, got"):
            check_int(bad, "n")


def test_check_choice_by_equality_without_bool_standing_for_int():
    assert check_choice("mean", "reduction", ("mean", "sum")) == "mean"
    assert check_choice(2, "p", (1, 2)) == 2
    for bad in ("avg", None, True, 1.5, ["mean"], torch.tensor([1, 2])):
        with pytest.raises(ValueError, match=r"reduction must be one of \('mean', 'sum'\), got"):
            check_choice(bad, "reduction", ("mean", "sum"))
    with pytest.raises(ValueError, match="flag must be one of"):
        check_choice(1, "flag", (True, False))
