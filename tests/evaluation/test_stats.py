"""McNemar's test: textbook values in the exact and chi-square branches."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import binomtest, chi2

from medclass.evaluation.stats import mcnemar_test


def _pairs(both: int, only_a: int, only_b: int, neither: int) -> tuple[np.ndarray, np.ndarray]:
    a = np.array([True] * both + [True] * only_a + [False] * only_b + [False] * neither)
    b = np.array([True] * both + [False] * only_a + [True] * only_b + [False] * neither)
    return a, b


def test_exact_branch_hand_computed() -> None:
    # b = 10, c = 2: two-sided exact p = 2 * P(X <= 2) with X ~ Bin(12, 1/2)
    #   = 2 * (1 + 12 + 66) / 4096 = 158 / 4096 = 0.0386.
    result = mcnemar_test(*_pairs(50, 10, 2, 8))
    assert (result["b"], result["c"], result["method"]) == (10, 2, "exact binomial")
    assert result["p_value"] == pytest.approx(158 / 4096)
    assert result["p_value"] == pytest.approx(binomtest(2, 12, 0.5).pvalue)
    assert result["statistic"] == 2.0


def test_chi_square_branch_textbook() -> None:
    # Wikipedia's McNemar example: b = 121, c = 59. With continuity correction
    # (|121 - 59| - 1)^2 / 180 = 61^2 / 180 = 20.672, p = 5.4e-6 (chi-square, 1 df).
    result = mcnemar_test(*_pairs(0, 121, 59, 0))
    assert result["method"] == "chi-square with continuity correction"
    assert result["statistic"] == pytest.approx(3721 / 180)
    assert result["p_value"] == pytest.approx(chi2.sf(3721 / 180, 1))
    assert result["p_value"] == pytest.approx(5.45e-6, rel=0.01)


def test_branch_boundary_and_symmetry() -> None:
    assert mcnemar_test(*_pairs(5, 14, 10, 0))["method"] == "exact binomial"  # b + c = 24
    at_25 = mcnemar_test(*_pairs(5, 15, 10, 0))
    assert at_25["method"].startswith("chi-square")
    assert at_25["statistic"] == pytest.approx(16 / 25)  # (|15 - 10| - 1)^2 / 25
    swapped = mcnemar_test(*reversed(_pairs(5, 15, 10, 0)))
    assert (swapped["b"], swapped["c"]) == (10, 15)
    assert swapped["p_value"] == pytest.approx(at_25["p_value"])


def test_no_discordant_pairs_and_equal_counts() -> None:
    none = mcnemar_test([True, False, True], [True, False, True])
    assert (none["b"], none["c"], none["p_value"]) == (0, 0, 1.0)
    equal = mcnemar_test(*_pairs(0, 20, 20, 0))
    assert equal["statistic"] == 0.0 and equal["p_value"] == pytest.approx(1.0)


def test_bad_input() -> None:
    with pytest.raises(ValueError, match=r"\(3,\) and \(4,\)"):
        mcnemar_test([True, False, True], [True, False, True, True])
    with pytest.raises(ValueError, match=r"\(2, 2\)"):
        mcnemar_test(np.ones((2, 2), bool), np.ones((2, 2), bool))
    with pytest.raises(ValueError, match="booleans"):
        mcnemar_test([0.5, 1.0], [1, 0])


def test_bad_inputs_name_the_argument() -> None:
    with pytest.raises(ValueError, match=r"correct_a must have shape \(N,\)"):
        mcnemar_test(np.zeros((2, 2), bool), np.zeros(4, bool))
    with pytest.raises(ValueError, match="correct_b must hold booleans"):
        mcnemar_test(np.zeros(3, bool), np.array([0.5, 1.0, 0.0]))
