"""The run figures that need the model (:mod:`medclass.reporting.model_figures`), with explain's maps: the one
place where the two feature packages meet, for ``train`` (at its end) and ``report``."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from medclass.explain.feature_maps import capture_activations
from medclass.explain.model_maps import default_class_maps
from medclass.explain.overlay import save_overlay_pairs
from medclass.reporting import model_figures
from medclass.reporting.model_figures import ModelMaps

EXPLAIN_MAPS = ModelMaps(
    activations=capture_activations, class_maps=default_class_maps, overlay_pairs=save_overlay_pairs
)


def write_model_figures(
    run_dir: str | Path,
    checkpoint: str | Path | None = None,
    n_augmented: int = 12,
    only_missing: bool = False,
    console: Console | None = None,
) -> dict[str, Path]:
    """Write the augmented-sample grid, the feature-map grid, the class-activation panel of the test errors and
    the model profile of a run (see :func:`medclass.reporting.model_figures.write_model_figures`).

    Returns:
        Name -> path of the files written or kept.

    Raises:
        RunDirError, WeightsError: no usable checkpoint.
    """
    return model_figures.write_model_figures(
        run_dir, EXPLAIN_MAPS, checkpoint, n_augmented=n_augmented, only_missing=only_missing, console=console
    )
