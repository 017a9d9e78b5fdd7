"""check_finite: one sum first, then value by value where the sum is not finite."""

from __future__ import annotations

import numpy as np
import pytest

from chainrule.data.checks import check_finite
from chainrule.errors import DataError


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_large_finite_values_that_overflow_the_sum_pass(dtype) -> None:
    big = np.full((40, 3), np.finfo(dtype).max / 2, dtype=dtype)  # the sum overflows to inf
    with np.errstate(over="ignore"):
        assert not np.isfinite(np.sum(big))
    check_finite(big)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("bad, word", [(np.nan, "a NaN"), (np.inf, "an infinite value"),
                                        (-np.inf, "an infinite value")])
def test_a_bad_value_is_found_among_large_and_small_ones(dtype, bad, word) -> None:
    a = np.ones((50, 4), dtype=dtype)
    a[::2, 0] = np.finfo(dtype).max / 2
    a[37, 2] = bad
    with pytest.raises(DataError, match=f"{word} at row 37, column 2"):
        check_finite(a)
