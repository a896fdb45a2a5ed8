"""medclass: train, evaluate, compare, tune and explain classifiers for 2D medical images.

The Python API does what the ``medclass`` commands do. A notebook session:

    >>> import medclass
    >>> run = medclass.train(data="path/to/data", epochs=10, optim={"lr": 3e-4})
    >>> run.metrics["accuracy"]          # the test split's metrics; run.history has one row per epoch
    >>> run.predict(["new_scans/"])      # a table: prediction, confidence and p_<class> per image
    >>> run.evaluate(data="other_site/") # metrics on another labelled data set
    >>> run.report()                     # report.html
    >>> medclass.load_run("runs/<name>") # a finished run, later

Functions (``help(medclass.train)`` and the others tell more):

    train(data, model=, epochs=, image_size=, recipe=, config=, **overrides) -> Run
        Train and test a classifier; keywords for the common settings, any other config key as a keyword
        (a section as a dict: ``optim={"lr": 3e-4}``), the rest in a ``Config``, YAML file or recipe.
    load_run(path) -> Run
        A run folder: ``metrics``, ``history``, ``config``, ``checkpoint``, ``report_file``, ``plots``, and
        ``predict``, ``evaluate``, ``report`` with its best checkpoint.
    evaluate(source, data=None, split="test", ...) -> dict
        Metrics of a run's (or checkpoint's) model on one of its splits or on another labelled data set.
    predict(checkpoint, inputs, out=None, ...) -> pandas.DataFrame
        Class probabilities for image files and folders (optionally with MC dropout / TTA uncertainty).
    report(run_dir, out=None) -> ReportResult
        The figures, report.html and summary.md of a run folder.
    inspect(data) -> dict;  split(config, out) -> pandas.DataFrame
        The data-quality report of a data set; the train/val/test split table of a config.
    tune(base_tree, space, out_dir, ...);  compare(run_dirs, experiments, ...);  demo(data_dir, ...)
        Hyper-parameter search, comparison of runs or a grid, the phantom-data demo.
    load_config(path, overrides), build_config(tree, overrides, values) -> Config
        The typed, validated run config (``Config``: pydantic, every key documented in its sections).

Explanations are ``medclass.api.explain.explain`` (the name ``medclass.explain`` is the explanation package).
Importing medclass is cheap: each function imports its (heavy) modules on first use.
"""

from __future__ import annotations

from medclass.facade import (
    Run,
    compare,
    demo,
    evaluate,
    inspect,
    load_run,
    predict,
    report,
    split,
    train,
    tune,
)
from medclass.utils.lazy import lazy_attributes

__version__ = "0.1.0"

# The config names import pydantic on first use.
_CONFIG = {name: "medclass.config" for name in ("Config", "build_config", "load_config")}

__getattr__ = lazy_attributes(__name__, _CONFIG)

__all__ = [
    "Config",
    "Run",
    "build_config",
    "compare",
    "demo",
    "evaluate",
    "inspect",
    "load_config",
    "load_run",
    "predict",
    "report",
    "split",
    "train",
    "tune",
]


def __dir__() -> list[str]:
    """The public names (the lazy ones included) and the module's dunder attributes, for ``dir()``, ``help()``
    and tab completion; the module's own machinery (``__getattr__``, ``__dir__``) is left out."""
    dunders = {name for name in globals() if name.startswith("__")} - {
        "__getattr__",
        "__dir__",
        "__builtins__",
    }
    return sorted({*__all__, *dunders})
