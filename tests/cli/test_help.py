"""`medclass --help`: every command listed by the console script, fast start-up, defaults and flags shown."""

from __future__ import annotations

import subprocess
import sys

import pytest
import typer
import yaml
from console_script import console_script, script_env

import medclass
from medclass.cli.app import app, run_app
from medclass.config import build_config, config_to_dict

COMMANDS = [
    "compare",
    "demo",
    "dicom-node",
    "ensemble",
    "evaluate",
    "explain",
    "export",
    "inspect",
    "predict",
    "profile",
    "recipes",
    "report",
    "serve",
    "split",
    "train",
    "tune",
    "validate",
]
HEAVY = ["torch", "torchvision", "lightning", "timm", "mlflow", "optuna"]
ACTIONS = {"--help", "--version", "--print-config"}  # flags that do something, not settings


def test_console_script_lists_every_command() -> None:
    done = subprocess.run([*console_script(), "--help"], capture_output=True, text=True, env=script_env())
    assert done.returncode == 0, done.stderr
    listed = [
        line.strip("│ ").split()[0]
        for line in done.stdout.splitlines()
        if line.startswith("│ ") and "  " in line
    ]
    assert sorted(set(listed) & set(COMMANDS)) == COMMANDS, done.stdout


def test_help_of_every_command_imports_no_heavy_module() -> None:
    code = (
        "import contextlib, io, sys\n"
        "from medclass.cli.app import run_app\n"
        f"for argv in [['--help'], *[[c, '--help'] for c in {COMMANDS!r}]]:\n"
        "    with contextlib.redirect_stdout(io.StringIO()) as shown:\n"
        "        assert run_app(argv) == 0, argv\n"
        "    usage = ' '.join(['Usage: medclass', *argv[:-1]])\n"
        "    assert usage in shown.getvalue(), (argv, shown.getvalue())\n"
        f"print([m for m in {HEAVY!r} if m in sys.modules])\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=script_env())
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def _commands() -> dict[str, typer.core.TyperCommand]:
    group = typer.main.get_command(app)
    return {name: group.commands[name] for name in COMMANDS}


def test_the_list_of_commands_is_every_command() -> None:
    """A new command goes into COMMANDS, so that the tests above check its --help too."""
    assert sorted(typer.main.get_command(app).commands) == COMMANDS


def test_every_option_shows_its_default_and_booleans_have_a_no_form() -> None:
    for name, command in _commands().items():
        for param in command.params:
            if param.param_type_name != "option" or param.opts[0] in ACTIONS or param.required:
                continue
            flag = f"{name} {param.opts[0]}"
            shown = "[default:" in (param.help or "") or isinstance(param.show_default, str)
            assert shown or (param.show_default and param.default is not None), (
                f"{flag}: no default in --help"
            )
            if param.is_bool_flag:
                assert param.secondary_opts, f"{flag}: a boolean flag needs --no-..."


def test_help_shows_the_schema_defaults(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("COLUMNS", "300")  # one line per option
    from medclass.cli.options import NEAR_DUP_DEFAULT
    from medclass.config import Config
    from medclass.data.duplicates import DEFAULT_NEAR_DUP_DISTANCE

    assert NEAR_DUP_DEFAULT == DEFAULT_NEAR_DUP_DISTANCE
    assert run_app(["train", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    defaults = Config()
    assert f"Maximum epochs. (>= 1) [default: {defaults.trainer.epochs}]" in text
    assert f"[default: {defaults.model.name}]" in text and f"[default: {defaults.seed}]" in text
    assert "--no-overwrite" in text and "--no-allow-duplicate-leakage" in text


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_app(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"medclass {medclass.__version__}"


def test_print_config_resolves_without_training(
    tmp_path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    argv = ["train", "--data", "scans", "--epochs", "3", "--set", "optim.lr=0.01", "--print-config"]
    assert run_app(argv) == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    expected = build_config(values={"data.path": "scans", "trainer.epochs": 3, "optim.lr": 0.01})
    assert printed == config_to_dict(expected)
    assert printed["trainer"]["epochs"] == 3 and printed["scheduler"]["name"] == expected.scheduler.name
    assert list(tmp_path.iterdir()) == []  # no run folder, nothing written


@pytest.mark.parametrize(
    ("argv", "flag"),
    [
        (["train", "--seed", "-1"], "--seed"),
        (["train", "--set", "seed=-1"], "seed"),
        (["split", "data", "--seed", "-1"], "--seed"),
        (["train", "--epochs", "0"], "--epochs"),
        (["train", "--batch-size", "0"], "--batch-size"),
        (["train", "--folds", "1"], "--folds"),
        (["train", "--val-frac", "1"], "--val-frac"),
        (["train", "--lr", "0"], "--lr"),
        (["train", "--image-size", "4"], "--image-size"),
        (["train", "--strategy", "random"], "--strategy"),
        (["predict", "ck", "img", "--batch-size", "0"], "--batch-size"),
        (["predict", "ck", "img", "--mc-dropout", "-1"], "--mc-dropout"),
        (["predict", "ck", "img", "--tta", "-1"], "--tta"),
        (["predict", "ck", "img", "--seed", "-1"], "--seed"),
        (["explain", "ck", "img", "--batch-size", "0"], "--batch-size"),
        (["evaluate", "run", "--bootstrap", "-1"], "--bootstrap"),
        (["evaluate", "run", "--mc-dropout", "-1"], "--mc-dropout"),
        (["evaluate", "run", "--epoch", "0"], "--epoch"),
        (["tune", "--space", "s.yaml", "--trials", "0"], "--trials"),
        (["tune", "--space", "s.yaml", "--folds", "0"], "--folds"),
        (["compare", "--repeats", "0"], "--repeats"),
        (["profile", "--repeats", "0"], "--repeats"),
        (["demo", "--n-per-class", "0"], "--n-per-class"),
    ],
)
def test_out_of_range_values_are_one_clear_error(
    argv: list[str], flag: str, tmp_path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert run_app(argv) == 2
    captured = capsys.readouterr()
    err = " ".join(captured.err.split())
    assert flag in err and "Traceback" not in captured.err + captured.out
    assert any(word in err for word in ("greater than", "less than", "should be", ">=")), err
    assert list(tmp_path.iterdir()) == []
