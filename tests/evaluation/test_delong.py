"""DeLong's test against the paper's definitions computed pair by pair, against scikit-learn's AUROC, and its
standard error against a paired bootstrap of the AUROC difference on random correlated scores."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import roc_auc_score

from medclass.evaluation.delong import delong_test


def _naive_delong(y: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """DeLong et al. (1988), eqs. for V10, V01, S10, S01, pair by pair: (difference, p-value)."""
    pos, neg = y == 1, y == 0

    def psi(x: np.ndarray) -> np.ndarray:  # (m, n) kernel: 1 above, 1/2 tied, 0 below
        d = x[pos][:, None] - x[neg][None, :]
        return (d > 0) + 0.5 * (d == 0)

    ka, kb = psi(a), psi(b)
    v10 = np.stack([ka.mean(axis=1), kb.mean(axis=1)])
    v01 = np.stack([ka.mean(axis=0), kb.mean(axis=0)])
    s = np.cov(v10) / pos.sum() + np.cov(v01) / neg.sum()
    diff = ka.mean() - kb.mean()
    z = diff / np.sqrt(s[0, 0] + s[1, 1] - 2 * s[0, 1])
    return float(diff), float(2 * stats.norm.sf(abs(z)))


def _scores(seed: int, n: int = 120) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.4).astype(int)
    shared = rng.normal(size=n)  # the two models' scores are correlated, as two models of one image are
    a = y * 1.0 + shared + 0.5 * rng.normal(size=n)
    b = np.round(y * 0.6 + shared + 0.8 * rng.normal(size=n), 1)  # rounded: ties within and across classes
    return y, a, b


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_delong_equals_the_papers_definitions_and_sklearn(seed: int) -> None:
    y, a, b = _scores(seed)
    result = delong_test(y, a, b)
    assert result["auroc_a"] == pytest.approx(roc_auc_score(y, a), abs=1e-12)
    assert result["auroc_b"] == pytest.approx(roc_auc_score(y, b), abs=1e-12)
    difference, p_value = _naive_delong(y, a, b)
    assert result["difference"] == pytest.approx(difference, abs=1e-12)
    assert result["p_value"] == pytest.approx(p_value, rel=1e-9)
    assert result["ci_low"] < result["difference"] < result["ci_high"]


def test_delong_standard_error_matches_a_paired_bootstrap() -> None:
    y, a, b = _scores(7, n=300)
    result = delong_test(y, a, b)
    rng = np.random.default_rng(0)

    def auroc(truth: np.ndarray, scores: np.ndarray) -> float:  # Mann-Whitney U / (m n), midranks for ties
        m, n = truth.sum(), (1 - truth).sum()
        return (stats.rankdata(scores)[truth == 1].sum() - m * (m + 1) / 2) / (m * n)

    diffs = []
    for _ in range(1000):
        i = rng.integers(0, len(y), len(y))
        diffs.append(auroc(y[i], a[i]) - auroc(y[i], b[i]))
    assert result["se"] == pytest.approx(np.std(diffs), rel=0.1)
    assert 0 < result["p_value"] < 1


def test_equal_perfect_models_give_p_one_and_bad_input_is_refused() -> None:
    y = np.array([0, 0, 1, 1])
    perfect = delong_test(y, [0.1, 0.2, 0.8, 0.9], [0.3, 0.4, 0.6, 0.7])
    assert perfect["difference"] == 0 and perfect["se"] == 0 and perfect["p_value"] == 1.0
    with pytest.raises(ValueError, match="positives and negatives"):
        delong_test([1, 1], [0.1, 0.2], [0.3, 0.4])
    with pytest.raises(ValueError, match="alike"):
        delong_test([0, 1], [0.1, 0.2], [0.3])
