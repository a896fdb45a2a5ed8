"""External validation: the frozen model scored on its own test split and on other sites, each site summarised
(metrics with CIs, calibration, the operating point), compared with the internal test split in plain words, and
pooled across sites with a random-effects model.

Nothing is refitted: the probabilities are those of the checkpoint's preprocessing and temperature, and the
decision is its stored threshold (binary) or the argmax, exactly what ``predict`` returns.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from medclass.evaluation.bootstrap import BOOTSTRAP_SEED
from medclass.evaluation.calibration import calibration_slope_intercept, reliability_curve
from medclass.evaluation.gaps import rate_difference
from medclass.evaluation.heterogeneity import pool_proportions
from medclass.evaluation.scoring import score
from medclass.inference.decision import ECE_BINS, Decision
from medclass.inference.runner import Predictor
from medclass.utils.errors import DataError

INTERNAL_SITE = "internal"  # the name of the run's own test split among the sites

# A calibration slope outside [0.8, 1.2] is called "far from 1": a common rule of thumb in external validation
# (slope 1 is ideal, Van Calster et al., J Clin Epidemiol 74, 2016); below 0.8 the predictions are too extreme.
SLOPE_RANGE = (0.8, 1.2)
# A site's slope within this factor of an internal slope that is already outside SLOPE_RANGE (same side) is the
# same mis-calibration, not a new one.
SLOPE_FACTOR = 1.5
# ECE worse than the internal test split's by more than this is reported as a calibration loss.
ECE_LOSS = 0.05
# I^2 above this is "substantial" heterogeneity (Higgins et al., BMJ 327, 2003: 25/50/75% low/moderate/high).
I2_SUBSTANTIAL = 0.5


@dataclass
class SiteScores:
    """The frozen model's outputs on the labelled images of one site.

    Attributes:
        name: the site's name (``internal`` for the run's own test split).
        data: where its images come from (a folder or manifest, or the run's splits file).
        paths, y_true, probs, predicted: the readable images, true class indices, probabilities and decisions.
        skipped: unreadable file -> reason.
        groups: the group (patient) of each image when known (the CIs then resample groups), else None.
    """

    name: str
    data: str
    paths: list[str]
    y_true: np.ndarray
    probs: np.ndarray
    predicted: np.ndarray
    skipped: dict[str, str] = field(default_factory=dict)
    groups: list[str] | None = None

    @property
    def correct(self) -> np.ndarray:
        """1.0 where the decision is the true class."""
        return (self.predicted == self.y_true).astype(float)


def score_site(
    predictor: Predictor,
    name: str,
    data: str,
    paths: Sequence[str],
    labels: Sequence[str],
    groups_of: Callable[[list[str]], list[str] | None] = lambda paths: None,
) -> SiteScores:
    """Score ``predictor`` on one site's labelled images (unreadable ones are skipped and listed);
    ``groups_of`` gives the readable images' groups (patients), or None.

    Raises:
        DataError: none of the site's images is readable.
    """
    result, y_true = predictor.predict_labelled(list(paths), list(labels))
    if len(y_true) == 0:
        first, reason = next(iter(result.failures.items()), ("-", "no file"))
        raise DataError(
            f"{data}: none of the {len(paths)} image(s) of site {name!r} is readable ({first}: {reason})"
        )
    return SiteScores(
        name,
        data,
        result.paths,
        y_true,
        result.probs,
        result.predicted,
        dict(result.failures),
        groups_of(result.paths),
    )


def _interval(block: dict[str, Any], key: str) -> dict[str, Any]:
    """``{"value", "ci_low", "ci_high"}`` of ``key`` from a score block (no CI without bootstrap)."""
    if "ci" in block and key in block["ci"]:
        return dict(block["ci"][key])
    return {"value": block.get(key), "ci_low": None, "ci_high": None}


def summarise_site(
    site: SiteScores, classes: list[str], decision: Decision, bootstrap: int
) -> dict[str, Any]:
    """One site's entry of ``validation.json``: n, metrics with CIs, per-class rates, calibration, and for a
    binary model the operating point's sensitivity, specificity, PPV and NPV with CIs."""
    positive = decision.positive_class if len(classes) == 2 else None
    block = score(
        site.y_true,
        site.probs,
        classes,
        decision.threshold,
        bootstrap,
        BOOTSTRAP_SEED,
        groups=site.groups,
        positive_class=positive,
    )
    column = classes.index(positive) if positive in classes else None
    calibration = calibration_slope_intercept(site.y_true, site.probs, column)
    summary: dict[str, Any] = {
        "name": site.name,
        "data": site.data,
        "internal": site.name == INTERNAL_SITE,
        "n": int(site.y_true.size),
        "skipped": len(site.skipped),
        "ci_unit": block["ci"]["unit"] if "ci" in block else None,
        "class_counts": {c: int((site.y_true == i).sum()) for i, c in enumerate(classes)},
        "metrics": {k: _interval(block, k) for k in ("accuracy", "balanced_accuracy", "macro_f1", "auroc")},
        "per_class": {
            c: {
                rate: block["ci"]["per_class"][c][rate] if "ci" in block else None
                for rate in ("sensitivity", "specificity")
            }
            for c in classes
        },
        "calibration": {
            "ece": block["ece"],
            "ece_bins": ECE_BINS,
            **calibration,
            "reliability": reliability_curve(site.y_true, site.probs, ECE_BINS),
        },
        "confusion_matrix": block["confusion_matrix"],
    }
    if "clinical" in block:
        clinical = block["clinical"]
        summary["operating_point"] = {
            "threshold": decision.threshold,
            "rule": clinical["rule"],
            **{
                k: clinical[k]
                for k in (
                    "positive_class",
                    "sensitivity",
                    "specificity",
                    "ppv",
                    "npv",
                    "tp",
                    "fn",
                    "fp",
                    "tn",
                )
            },
        }
    return summary


def _finding(
    measure: str, reference: SiteScores, site: SiteScores, members: np.ndarray | None
) -> dict[str, Any]:
    """The difference of a rate (accuracy; with ``members`` (a boolean per image) the rate within them: the
    sensitivity or specificity) between the reference and ``site``, with its CI and verdict."""
    ref_in = np.ones(reference.y_true.size, bool) if members is None else members[0]
    site_in = np.ones(site.y_true.size, bool) if members is None else members[1]
    if not ref_in.any() or not site_in.any():
        return {"measure": measure, "verdict": "not judged", "text": f"{measure}: no images to compare"}
    diff = rate_difference(reference.correct[ref_in], site.correct[site_in])
    words = (
        f"{measure} {diff['a']:.3f} on {reference.name} vs {diff['b']:.3f} at {site.name} "
        f"(difference {diff['difference']:+.3f}, 95% CI {diff['ci_low']:+.3f} to {diff['ci_high']:+.3f}"
    )
    if diff["excludes_zero"] and diff["difference"] < 0:
        verdict, text = "breaks", f"{words}; the CI excludes 0: it drops)"
    elif diff["excludes_zero"]:
        verdict, text = "transfers", f"{words}; the CI excludes 0: it is higher here)"
    else:
        verdict, text = "transfers", f"{words}; the CI includes 0: no drop shown)"
    return {"measure": measure, **diff, "verdict": verdict, "text": text}


def _slope_finding(name: str, slope: float | None, reference: float | None) -> dict[str, Any] | None:
    """The calibration slope at a site: it breaks outside :data:`SLOPE_RANGE`, unless the internal slope is
    already off on the same side and the site's is within a factor :data:`SLOPE_FACTOR` of it (then the model
    is mis-calibrated everywhere, which is said, but nothing broke in transfer)."""
    if slope is None:
        return None
    low, high = SLOPE_RANGE
    if low <= slope <= high:
        return {
            "measure": "calibration slope",
            "value": slope,
            "reference": reference,
            "verdict": "transfers",
            "text": f"calibration slope {slope:.2f} at {name}, within {low}-{high}",
        }
    if slope <= 0:
        side = "carry no usable ranking here (slope <= 0)"
    else:
        side = "too extreme: over-confident" if slope < low else "too timid: under-confident"
    text = f"calibration slope {slope:.2f} at {name}, outside {low}-{high}: predictions {side}"
    same_side = reference is not None and (reference < low if slope < low else reference > high)
    if same_side and slope > 0 and 1 / SLOPE_FACTOR <= slope / reference <= SLOPE_FACTOR:
        text += f", as on the internal test split ({reference:.2f}): mis-calibrated already, recalibrate before any use"
        return {
            "measure": "calibration slope",
            "value": slope,
            "reference": reference,
            "verdict": "transfers",
            "text": text,
        }
    internal = "" if reference is None else f" (internal {reference:.2f})"
    return {
        "measure": "calibration slope",
        "value": slope,
        "reference": reference,
        "verdict": "breaks",
        "text": f"{text}{internal}; recalibrate before use here",
    }


def compare_with_reference(
    reference: SiteScores,
    site: SiteScores,
    summaries: dict[str, dict[str, Any]],
    classes: list[str],
    decision: Decision,
) -> dict[str, Any]:
    """What transfers from the internal test split to ``site`` and what breaks, measure by measure.

    Accuracy (and for a binary model the operating point's sensitivity and specificity, for a multi-class one
    each class's sensitivity) differences with bootstrap CIs: a drop whose CI excludes 0 breaks. The calibration slope breaks outside
    :data:`SLOPE_RANGE`; the ECE breaks when it is worse than the reference's by more than :data:`ECE_LOSS`.

    Returns:
        ``{"verdict": "transfers"|"breaks", "findings": [{"measure", "verdict", "text", ...}]}``.
    """
    findings = [_finding("accuracy", reference, site, None)]
    if len(classes) == 2 and decision.positive_class in classes:
        pos = classes.index(decision.positive_class)
        for measure, is_member in (("sensitivity", lambda y: y == pos), ("specificity", lambda y: y != pos)):
            findings.append(
                _finding(measure, reference, site, (is_member(reference.y_true), is_member(site.y_true)))
            )
    elif len(classes) > 2:  # each class's sensitivity (recall): which class stops being found
        for j, name in enumerate(classes):
            findings.append(
                _finding(f"sensitivity of {name}", reference, site, (reference.y_true == j, site.y_true == j))
            )
    calibration = summaries[site.name]["calibration"]
    slope_finding = _slope_finding(
        site.name, calibration["slope"], summaries[reference.name]["calibration"]["slope"]
    )
    if slope_finding is not None:
        findings.append(slope_finding)
    ece, ref_ece = calibration["ece"], summaries[reference.name]["calibration"]["ece"]
    worse = ece - ref_ece > ECE_LOSS
    findings.append(
        {
            "measure": "ECE",
            "value": ece,
            "reference": ref_ece,
            "verdict": "breaks" if worse else "transfers",
            "text": f"ECE {ref_ece:.3f} on {reference.name} vs {ece:.3f} at {site.name}"
            + (f" (worse by more than {ECE_LOSS})" if worse else ""),
        }
    )
    verdict = "breaks" if any(f["verdict"] == "breaks" for f in findings) else "transfers"
    return {"verdict": verdict, "findings": findings}


def heterogeneity(
    sites: Sequence[SiteScores], classes: list[str], decision: Decision
) -> dict[str, Any] | None:
    """Random-effects pooled accuracy (binary: also sensitivity and specificity) across >= 2 sites, with I^2 and
    a sentence per measure; None for a single site."""
    if len(sites) < 2:
        return None
    measures: dict[str, list[np.ndarray]] = {"accuracy": [np.ones(s.y_true.size, bool) for s in sites]}
    if len(classes) == 2 and decision.positive_class in classes:
        pos = classes.index(decision.positive_class)
        measures["sensitivity"] = [s.y_true == pos for s in sites]
        measures["specificity"] = [s.y_true != pos for s in sites]
    result: dict[str, Any] = {
        "sites": [s.name for s in sites],
        "method": "DerSimonian-Laird random effects, logit scale",
    }
    for measure, members in measures.items():
        totals = [int(m.sum()) for m in members]
        if min(totals) == 0:
            continue
        successes = [int(s.correct[m].sum()) for s, m in zip(sites, members, strict=True)]
        pooled = pool_proportions(successes, totals)
        spread = "substantial" if pooled["i2"] > I2_SUBSTANTIAL else "little"
        pooled["text"] = (
            f"pooled {measure} {pooled['estimate']:.3f} (95% CI {pooled['ci_low']:.3f} to {pooled['ci_high']:.3f}) "
            f"over {len(sites)} sites; I^2 = {100 * pooled['i2']:.0f}%: {spread} heterogeneity "
            f"(sites range {min(pooled['proportions']):.3f} to {max(pooled['proportions']):.3f})"
        )
        result[measure] = pooled
    return result


def predictions_table(sites: Sequence[SiteScores], classes: list[str]) -> pd.DataFrame:
    """One row per scored image: ``site, path, label, predicted, p_<class>...`` (``predictions.csv``)."""
    frames = []
    for site in sites:
        frame = pd.DataFrame(
            {"site": site.name, "path": site.paths, "label": [classes[i] for i in site.y_true]}
        )
        frame["predicted"] = [classes[i] for i in site.predicted]
        for j, name in enumerate(classes):
            frame[f"p_{name}"] = site.probs[:, j]
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)
