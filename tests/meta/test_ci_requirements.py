"""In CI (``CI=true``) a missing data set or system program fails the run instead of skipping silently."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[2]


def _pytest(args: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    """pytest in a child process with ``env`` added (no cache, no xdist, no plugins that read the env)."""
    command = [sys.executable, "-m", "pytest", "-n", "0", "-p", "no:cacheprovider", "-q", *args]
    return subprocess.run(
        command, cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True, timeout=600
    )


def test_missing_data_folder_fails_the_run_in_ci(tmp_path: Path) -> None:
    absent = tmp_path / "nonexistent"
    done = _pytest(["tests/integration"], CI="true", MEDCLASS_DATA_DIR=str(absent))
    output = done.stdout + done.stderr
    assert done.returncode != 0, output
    assert f"{absent}/brain_mri_yesno" in output and "CI=true" in output, output
    assert "passed" not in output.splitlines()[-1]


def test_missing_data_folder_skips_with_the_reason_outside_ci(tmp_path: Path) -> None:
    absent = tmp_path / "nonexistent"
    done = _pytest(["tests/integration", "-rs"], CI="", MEDCLASS_DATA_DIR=str(absent))
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "skipped" in output.splitlines()[-1] and f"{absent}/brain_mri_yesno" in output, output


def _sysdeps_as_non_root(tmp_path: Path, ci: str) -> subprocess.CompletedProcess[str]:
    """The sysdeps script with ``id -u`` answering 1000, so that it cannot install anything."""
    fake = tmp_path / "bin"
    fake.mkdir(exist_ok=True)
    (fake / "id").write_text("#!/bin/sh\necho 1000\n")
    (fake / "id").chmod(stat.S_IRWXU)
    env = {**os.environ, "PATH": f"{fake}:{os.environ['PATH']}", "CI": ci}
    script = ROOT / "scripts" / "install-sysdeps.sh"
    return subprocess.run(["bash", str(script)], env=env, capture_output=True, text=True, timeout=60)


def _missing_programs() -> list[str]:
    missing = []
    if not (
        Path("/usr/bin/chromium").exists() or any(Path(p, "chromium").exists() for p in os.get_exec_path())
    ):
        missing.append("chromium")
    if not list(Path("/usr/lib/postgresql").glob("*/bin/postgres")):
        missing.append("postgresql")
    return missing


def test_sysdeps_fails_in_ci_when_it_cannot_install_what_the_tests_need(tmp_path: Path) -> None:
    missing = _missing_programs()
    in_ci, outside = _sysdeps_as_non_root(tmp_path, "true"), _sysdeps_as_non_root(tmp_path, "")
    assert outside.returncode == 0, outside.stderr
    if not missing:  # a fully provisioned machine: nothing to install, nothing to fail
        assert in_ci.returncode == 0, in_ci.stderr
        return
    assert in_ci.returncode == 1
    assert all(name in in_ci.stderr for name in missing), in_ci.stderr
    assert all(name in outside.stdout for name in missing) and "skip" in outside.stdout
