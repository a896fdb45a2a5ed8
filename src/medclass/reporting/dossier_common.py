"""What the dossier's fact modules share: a :class:`Fact` (an answer and the files it comes from), the
collector that keeps only sources that exist, and the texts of counts, duplicates and CIs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from medclass.reporting.tables import Estimate

AUTHORS = "to be written by the authors"
BEST_CHECKPOINT = "checkpoints/best.ckpt"


@dataclass(frozen=True)
class Fact:
    """The answer a run gives to one checklist topic: ``text`` and the ``sources`` it was read from (paths
    relative to the run folder, or to the validation folder for ``validation.json`` and its figures)."""

    text: str
    sources: tuple[str, ...]


def ci_text(entry: dict[str, Any] | None) -> str:
    entry = entry or {}
    return Estimate(entry.get("value"), entry.get("ci_low"), entry.get("ci_high")).text(3)


def _split_counts(report: dict[str, Any]) -> dict[str, dict[str, int]]:
    return {split: dict(by_class) for split, by_class in (report.get("counts") or {}).items()}


def counts_text(report: dict[str, Any]) -> str:
    labelled = report.get("multilabel") or {}
    if labelled:  # images per split, then positives per label (an image may count for several labels)
        return "; ".join(
            f"{split} {labelled[split].get('n')} images (positives: "
            + ", ".join(
                f"{name} {f.get('positive')}" for name, f in (labelled[split].get("frequency") or {}).items()
            )
            + f"; no finding {labelled[split].get('no_finding')})"
            for split in ("train", "val", "test")
            if split in labelled
        )
    counts = _split_counts(report)
    parts = []
    for split in ("train", "val", "test"):
        if split in counts:
            by_class = ", ".join(f"{name} {n}" for name, n in counts[split].items())
            parts.append(f"{split} {sum(counts[split].values())} ({by_class})")
    return "; ".join(parts)


def duplicates_text(report: dict[str, Any]) -> str:
    dup = report.get("duplicates") or {}
    exact = (dup.get("exact") or {}) if isinstance(dup, dict) else {}
    near = (dup.get("near") or {}) if isinstance(dup, dict) else {}
    policy = report.get("duplicate_policy") or "unknown"
    return (
        f"{exact.get('groups', 0)} groups of byte-identical files ({exact.get('extra_copies', 0)} extra copies) and "
        f"{near.get('groups', 0)} near-duplicate groups (perceptual-hash distance <= {dup.get('near_distance', '?')}); "
        f"duplicate policy: {policy}"
    )


class FactCollector:
    """Collects facts, keeping only the sources that exist (a fact without any is left out)."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.facts: dict[str, Fact] = {}

    def add(self, name: str, text: str, *sources: str) -> None:
        present = tuple(s for s in sources if (self.run_dir / s).exists())
        if present:
            self.facts[name] = Fact(text, present)
