"""Hyperparameter search (Optuna) and experiment grids with their comparison.

- :mod:`~medclass.campaigns.search_space`: SPACE.yaml -> :class:`~medclass.campaigns.search_space.SearchSpace`.
- :mod:`~medclass.campaigns.study`: storage, sampler, pruner; running trials until a study holds N of them.
- :mod:`~medclass.campaigns.pruning`: the per-epoch Lightning callback that reports to a trial and prunes.
- :mod:`~medclass.campaigns.objective`: one trial = K fold trainings, scored by the mean best validation metric.
- :mod:`~medclass.campaigns.tuning`: one study from its settings to its result files (trials.csv, best.yaml).
- :mod:`~medclass.campaigns.grid`: GRID.yaml -> planned runs, run resumably.
- :mod:`~medclass.campaigns.comparison`: the comparison table (CIs, cost, McNemar) from finished run folders.
- :mod:`~medclass.campaigns.compare_outputs`: the comparison's tables, HTML rows and learning curves.
- the folder names of both: :mod:`medclass.runs.campaign_layout`.
- study and comparison plots: :mod:`medclass.reporting.plots_campaigns`.

The workflows that string these together are :func:`medclass.api.tune.tune` and
:func:`medclass.api.compare.compare`.
"""

from medclass.campaigns.comparison import Comparison, compare_runs, to_markdown
from medclass.campaigns.grid import Grid, PlannedRun, load_grid, parse_grid, plan_runs, run_grid
from medclass.campaigns.search_space import (
    Param,
    SearchSpace,
    apply_values,
    check_space,
    load_space,
    parse_space,
)

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
