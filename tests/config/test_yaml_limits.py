"""YAML files are read within an alias-expansion budget and a size cap; errors quote values shortly (issue 22)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import bombs
import pytest

from medclass.campaigns.grid import parse_grid
from medclass.campaigns.search_space import parse_space
from medclass.config import build_config, parse_override, read_config_tree, read_yaml
from medclass.config.safe_yaml import MAX_YAML_BYTES
from medclass.utils.errors import ConfigError


def test_an_alias_bomb_is_refused_before_python_objects_are_built(tmp_path: Path) -> None:
    path = tmp_path / "bomb.yaml"
    path.write_text(bombs.YAML_BOMB)
    assert path.stat().st_size < 1024
    start = time.perf_counter()
    with pytest.raises(ConfigError) as info:
        read_yaml(path)
    assert time.perf_counter() - start < 1.0
    assert str(info.value) == (
        f"config file {path}: its aliases expand to more than 100,000 values (an alias bomb?); "
        "write the values out or reuse fewer"
    )


def test_merge_key_bombs_are_refused_too(tmp_path: Path) -> None:
    lines = ["a0: &a0 {x: 1, y: 2}"]
    lines += [f"a{i}: &a{i} {{<<: [{', '.join([f'*a{i - 1}'] * 8)}]}}" for i in range(1, 8)]
    path = tmp_path / "merge.yaml"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ConfigError, match="alias bomb"):
        read_config_tree(path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a: &a [1, *a]\n", "an alias refers to a value that contains it"),
        ("x: " + "[" * 5000 + "]" * 5000 + "\n", "nested too deeply to read"),
    ],
    ids=["recursive", "deep"],
)
def test_recursive_and_deep_documents_are_refused(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "odd.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=f"^config file {path}: {message}"):
        read_config_tree(path)


def test_a_few_aliases_still_work(tmp_path: Path) -> None:
    path = tmp_path / "ok.yaml"
    path.write_text("optim: &o {lr: 0.01}\nx: [*o, *o]\n")
    assert read_yaml(path)["x"] == [{"lr": 0.01}, {"lr": 0.01}]


def test_a_file_over_the_size_cap_is_refused_unread(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_text("name: " + "x" * MAX_YAML_BYTES + "\n")
    with pytest.raises(ConfigError) as info:
        read_yaml(path)
    assert str(info.value) == (
        f"config file {path}: {path.stat().st_size:,} bytes; config files are at most {MAX_YAML_BYTES:,} bytes"
    )


def test_an_override_bomb_is_refused() -> None:
    with pytest.raises(ConfigError, match="--set model.kwargs: its aliases expand"):
        parse_override("model.kwargs=" + bombs.YAML_BOMB.replace("\n", ", ").join("{}"))


def test_error_messages_quote_values_shortly() -> None:
    with pytest.raises(ConfigError) as info:
        build_config({"name": ["x" * 10_000] * 10_000})
    assert len(str(info.value)) < 300


def _cap_memory() -> None:
    """Before the fix the bomb grows without bound: keep the child to 4 GiB of address space."""
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))


def test_train_with_an_alias_bomb_config_exits_2_quickly(tmp_path: Path) -> None:
    path = tmp_path / "bomb.yaml"
    path.write_text(bombs.YAML_BOMB)
    command = [sys.executable, "-m", "medclass", "train", "--config", str(path), "--data", str(tmp_path)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, preexec_fn=_cap_memory)
    assert done.returncode == 2, done.stderr[-2000:]
    assert "alias bomb" in done.stdout + done.stderr and "Traceback" not in done.stderr


def _refusal(call) -> str:
    with pytest.raises(ConfigError) as info:
        call()
    return str(info.value)


@pytest.mark.parametrize(
    "call",
    [
        lambda: build_config({"name": "a/" + "x" * 100_000}),
        lambda: build_config({"optim": {"lr": list(range(100_000))}}),
        lambda: parse_grid({"variants": {"a": {}}, "seeds": ["x" * 100_000]}, source="GRID.yaml"),
        lambda: parse_grid({"variants": {"a": {}}, "repeats": "x" * 100_000}, source="GRID.yaml"),
        lambda: parse_grid({"variants": {"!" * 100_000: {}}}, source="GRID.yaml"),
        lambda: parse_space({"optim.lr": ["x" * 100_000]}, source="SPACE.yaml"),
        lambda: parse_space({"optim.lr": {"type": "x" * 100_000}}, source="SPACE.yaml"),
    ],
    ids=["name", "lr-list", "grid-seeds", "grid-repeats", "grid-variant", "space-spec", "space-type"],
)
def test_a_refused_value_is_quoted_in_at_most_a_few_hundred_characters(call) -> None:
    assert len(_refusal(call)) < 400
