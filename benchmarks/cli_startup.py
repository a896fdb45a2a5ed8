"""Start-up time of the CLI: `medclass --help` and `medclass train --help`, wall time and peak memory.

Runs each command REPEATS times under `/usr/bin/time -v` and prints the median wall time and the largest
resident set. Give several source trees to compare them side by side in one run:

    python benchmarks/cli_startup.py src /tmp/before/src
"""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
from pathlib import Path

REPEATS = 5
COMMANDS = [["--help"], ["train", "--help"]]


def measure(src: str, argv: list[str]) -> tuple[float, int]:
    """Median wall seconds and max RSS (MB) of the console script on the sources in ``src``."""
    script = Path(sys.executable).parent / "medclass"
    env = {**os.environ, "PYTHONPATH": str(Path(src).resolve())}
    walls, rss = [], []
    for _ in range(REPEATS):
        done = subprocess.run(
            ["/usr/bin/time", "-v", str(script), *argv], capture_output=True, text=True, env=env
        )
        m, s = re.search(r"Elapsed \(wall clock\) time .*: (\d+):([\d.]+)", done.stderr).groups()
        walls.append(int(m) * 60 + float(s))
        rss.append(
            int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr).group(1)) // 1024
        )
    return statistics.median(walls), max(rss)


if __name__ == "__main__":
    for src in sys.argv[1:] or ["src"]:
        for argv in COMMANDS:
            wall, mb = measure(src, argv)
            print(f"{src:20s} medclass {' '.join(argv):14s} median {wall:.2f} s wall, {mb} MB max RSS")
