"""The mutation score of the last ``mutmut run`` (``make mutation``), per module and in total.

Reads the ``mutants/**/*.meta`` files mutmut leaves behind and maps its exit codes with mutmut's own table
(``mutmut.stats.status_by_exit_code``). Score = killed / (killed + survived + no tests): a mutant no test
reaches counts against the score, a timed-out one as killed, one not checked yet (a bounded run that
stopped) is left out and counted separately.

    python scripts/mutation_score.py [--markdown] [MODULE_PREFIX ...]

With prefixes (e.g. ``medclass.runs medclass.data.readers``) only the modules whose dotted name starts with one
of them are listed and totalled: the modules of a run limited to some mutants (``mutmut run "medclass.runs*"``).
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

from mutmut.stats import status_by_exit_code

KILLED = {"killed", "timeout", "caught by type check", "segfault"}
AGAINST = {"survived", "no tests", "suspicious"}


def counts(root: Path = Path("mutants")) -> dict[str, Counter]:
    """Module (dotted) -> Counter of mutant statuses."""
    table: dict[str, Counter] = {}
    for meta in sorted(root.rglob("*.py.meta")):
        results = json.loads(meta.read_text())["exit_code_by_key"]
        if not results:
            continue
        module = ".".join(meta.relative_to(root / "src").with_suffix("").with_suffix("").parts)
        table[module] = Counter(status_by_exit_code[code] for code in results.values())
    return table


def score(counter: Counter) -> tuple[int, int, float]:
    """(killed, judged, killed / judged) where judged = killed + survived + no tests."""
    killed = sum(counter[s] for s in KILLED)
    judged = killed + sum(counter[s] for s in AGAINST)
    return killed, judged, killed / judged if judged else float("nan")


def main(argv: list[str]) -> int:
    """Print the table (plain, or Markdown with ``--markdown``); exit 2 without results."""
    prefixes = [arg for arg in argv if not arg.startswith("--")]
    table = {
        name: counter
        for name, counter in counts().items()
        if not prefixes or any(name == p or name.startswith(p + ".") for p in prefixes)
    }
    if not table:
        where = f" for {', '.join(prefixes)}" if prefixes else ""
        print(f"no mutmut results under mutants/{where}: run `make mutation` first", file=sys.stderr)
        return 2
    total = sum(table.values(), Counter())
    rows = [*table.items(), ("total", total)]
    header = ("module", "mutants", "killed", "survived", "no tests", "not checked", "score")
    lines = []
    for name, counter in rows:
        killed, _, value = score(counter)
        lines.append(
            (name, sum(counter.values()), killed, counter["survived"], counter["no tests"],
             counter["not checked"], f"{value:.1%}")
        )  # fmt: skip
    if "--markdown" in argv:
        print("| " + " | ".join(header) + " |")
        print("|" + "---|" * len(header))
        for line in lines:
            print("| " + " | ".join(map(str, line)) + " |")
    else:
        width = max(len(line[0]) for line in lines)
        print(f"{header[0]:<{width}}  " + "  ".join(f"{h:>11}" for h in header[1:]))
        for line in lines:
            print(f"{line[0]:<{width}}  " + "  ".join(f"{v!s:>11}" for v in line[1:]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
