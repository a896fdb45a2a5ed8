"""What a ``pip install`` of medclass puts on disk: packages and MB, with and without torch's own share.

Each spec is installed into a fresh venv (then deleted), and every installed distribution is measured by the
files its RECORD lists (bytes on disk). ``torch`` alone (torch + torchvision and what they pull in) is measured
the same way, so each row also says what the spec adds beyond torch: the number that an extra or the core
costs a user who already has PyTorch (Colab, a workstation with CUDA).

Usage:
    python benchmarks/install_size.py [--python python3.11] LABEL=SPEC [LABEL=SPEC ...]

    python benchmarks/install_size.py torch="torch==2.14.1 torchvision==0.29.1" \
        before=/tmp/old/medclass-0.1.0-py3-none-any.whl \
        core=dist/medclass-0.1.0-py3-none-any.whl all=dist/medclass-0.1.0-py3-none-any.whl[all]

The row labelled ``torch`` is the reference for the "beyond torch" columns (give it first).
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

# Run inside the venv: {distribution: bytes} of every installed distribution but the venv's own tools.
MEASURE = """
import json
from importlib import metadata
sizes = {}
for dist in metadata.distributions():
    name = dist.metadata["Name"].lower().replace("_", "-")
    if name in ("pip", "setuptools", "wheel"):
        continue
    total = 0
    for file in dist.files or []:
        path = file.locate()
        if path.is_file():
            total += path.stat().st_size
    sizes[name] = total
print(json.dumps(sizes))
"""


def measure(python: str, spec: str) -> dict[str, int]:
    """Install ``spec`` (a pip argument string) into a fresh venv and return its distributions' sizes."""
    folder = Path(tempfile.mkdtemp(prefix="medclass-size-"))
    try:
        subprocess.run([python, "-m", "venv", str(folder / "venv")], check=True)
        venv_python = str(folder / "venv" / "bin" / "python")
        subprocess.run([venv_python, "-m", "pip", "install", "--quiet", *shlex.split(spec)], check=True)
        out = subprocess.run([venv_python, "-c", MEASURE], check=True, capture_output=True, text=True)
        return json.loads(out.stdout)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def row(label: str, sizes: dict[str, int], reference: dict[str, int] | None) -> str:
    """A markdown row: packages and MB in all, and beyond the reference's distributions."""
    mb = sum(sizes.values()) / 2**20
    cells = [label, str(len(sizes)), f"{mb:,.0f}"]
    if reference is not None:
        extra = {name: size for name, size in sizes.items() if name not in reference}
        cells += [str(len(extra)), f"{sum(extra.values()) / 2**20:,.0f}"]
    else:
        cells += ["", ""]
    return "| " + " | ".join(cells) + " |"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--python", default=sys.executable, help="Interpreter the venvs are made from.")
    parser.add_argument("--json", type=Path, help="Also write every distribution's size here.")
    parser.add_argument("specs", nargs="+", help="LABEL=SPEC (SPEC: pip install arguments).")
    args = parser.parse_args(argv)
    measured: dict[str, dict[str, int]] = {}
    for item in args.specs:
        label, _, spec = item.partition("=")
        measured[label] = measure(args.python, spec)
        print(f"{label}: {len(measured[label])} distributions", file=sys.stderr, flush=True)
    reference = measured.get("torch")
    print("| install | packages | MB | packages beyond torch | MB beyond torch |")
    print("|---|---:|---:|---:|---:|")
    for label, sizes in measured.items():
        print(row(label, sizes, reference))
    if args.json:
        args.json.write_text(json.dumps(measured, indent=1, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
