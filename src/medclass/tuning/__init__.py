"""Hyperparameter search (Optuna) and experiment grids with their comparison.

- :mod:`~medclass.tuning.space`: SPACE.yaml -> :class:`~medclass.tuning.space.SearchSpace`.
- :mod:`~medclass.tuning.study`: storage, sampler, pruner; running trials until a study holds N of them.
- :mod:`~medclass.tuning.pruning`: the per-epoch Lightning callback that reports to a trial and prunes.
- :mod:`~medclass.tuning.objective`: one trial = K fold trainings, scored by the mean best validation metric.
- :mod:`~medclass.tuning.grid`: GRID.yaml -> planned runs, run resumably.
- :mod:`~medclass.tuning.compare`: the comparison table (CIs, cost, McNemar) from finished run folders.
- study and comparison plots: :mod:`medclass.reporting.plots_campaigns`.

The workflows that string these together are :func:`medclass.api.tune.tune` and
:func:`medclass.api.compare.compare`.
"""

from medclass.tuning.compare import Comparison, compare_runs, to_markdown
from medclass.tuning.grid import Grid, PlannedRun, load_grid, parse_grid, plan_runs, run_grid
from medclass.tuning.space import Param, SearchSpace, apply_values, check_space, load_space, parse_space

__all__ = [
    "Comparison",
    "Grid",
    "Param",
    "PlannedRun",
    "SearchSpace",
    "apply_values",
    "check_space",
    "compare_runs",
    "load_grid",
    "load_space",
    "parse_grid",
    "parse_space",
    "plan_runs",
    "run_grid",
    "to_markdown",
]
