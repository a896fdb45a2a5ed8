"""The package API: ``dir()`` and ``help()`` show the public functions with their signatures, cheaply, and the
light functions of :mod:`medclass.facade` keep the signatures of the api functions they call."""

from __future__ import annotations

import inspect
import subprocess
import sys

import pytest

import medclass

PUBLIC = {
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
}
# Each light function of medclass.facade and the api function it calls.
WRAPPED = {
    "evaluate": ("medclass.api.evaluate", "evaluate"),
    "predict": ("medclass.api.predict", "predict"),
    "report": ("medclass.api.report", "report"),
    "inspect": ("medclass.api.data", "inspect"),
    "split": ("medclass.api.data", "split"),
    "tune": ("medclass.api.tune", "tune"),
    "compare": ("medclass.api.compare", "compare"),
    "demo": ("medclass.api.demo", "demo"),
}


def test_every_public_name_is_a_callable_of_the_facade_or_the_config() -> None:
    assert set(medclass.__all__) == PUBLIC
    for name in medclass.__all__:
        value = getattr(medclass, name)
        assert callable(value), name
        assert value.__module__.startswith(("medclass.facade", "medclass.config")), (name, value.__module__)


def test_dir_lists_the_public_names_and_not_the_machinery() -> None:
    names = set(dir(medclass))
    assert PUBLIC | {"__version__", "__doc__"} <= names
    assert not names & {"annotations", "lazy_attributes", "utils", "facade", "__getattr__", "__dir__"}


@pytest.mark.parametrize("name", sorted(WRAPPED))
def test_a_light_function_has_the_parameters_of_the_api_function(name: str) -> None:
    module, attribute = WRAPPED[name]
    real = getattr(pytest.importorskip(module, reason="its extra is not installed"), attribute)

    def parameters(function: object) -> list[tuple[str, object, object]]:
        return [(p.name, p.kind, p.default) for p in inspect.signature(function).parameters.values()]

    assert parameters(getattr(medclass, name)) == parameters(real)


def test_help_lists_the_functions_with_signatures_without_importing_torch() -> None:
    code = "import sys, medclass; help(medclass); print('torch' in sys.modules, 'pandas' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    text, last = done.stdout.rsplit("\n", 2)[0], done.stdout.strip().splitlines()[-1]
    functions = text.split("\nFUNCTIONS\n", 1)[1].split("\nDATA\n", 1)[0]
    for signature in (
        "train(data",
        "load_run(path",
        "evaluate(source",
        "predict(checkpoint",
        "report(run_dir",
        "inspect(data",
        "tune(base_tree",
    ):
        assert f"\n    {signature}" in functions, signature
    assert "__getattr__" not in functions and "__dir__" not in functions
    assert "class Run" in text and "predict(self, inputs" in text
    assert last == "False False"


def test_importing_medclass_does_not_import_torch() -> None:
    code = "import sys, medclass; print([m for m in ('torch', 'lightning', 'pandas') if m in sys.modules])"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stdout.strip() == "[]", done.stderr
