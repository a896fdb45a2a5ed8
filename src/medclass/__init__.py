"""medclass: train, evaluate, compare, tune and explain classifiers for 2D medical images.

The Python API mirrors the CLI: ``medclass.train(cfg)``, ``medclass.evaluate(run_dir)``,
``medclass.predict(ckpt, paths)``, ``medclass.report(run_dir)``, ``medclass.tune(...)``, ``medclass.compare(...)``, ``medclass.inspect(data)``, ``medclass.split(cfg)``, with
configs from ``medclass.load_config(path)``; explanations are ``medclass.api.explain.explain`` (the name
``medclass.explain`` is the explanation package). Each loads its (heavy) modules on first use.
"""

from __future__ import annotations

from medclass.utils.lazy import lazy_attributes

__version__ = "0.1.0"

_API = {
    "train": "medclass.api.train",
    "evaluate": "medclass.api.evaluate",
    "predict": "medclass.api.predict",
    "report": "medclass.api.report",
    "tune": "medclass.api.tune",
    "compare": "medclass.api.compare",
    "inspect": "medclass.api.data",
    "split": "medclass.api.data",
    "demo": "medclass.api.demo",
    "load_config": "medclass.config",
    "build_config": "medclass.config",
    "Config": "medclass.config",
}


__getattr__ = lazy_attributes(__name__, _API)

__all__ = sorted(_API)
