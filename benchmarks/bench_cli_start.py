"""How fast the command line answers what needs no computation, against a bare Python.

Times, as wall clock of a fresh process each, the command users run (the
``encoding-subspace`` script next to this interpreter, else ``python -m
ndx_encoding_subspace.cli``):

* ``--version``;
* ``--help``;
* ``run missing.nwb`` (an input that does not exist: exit code 3);

and ``python -c pass`` in the same run, for the machine's own start-up time. Each figure
is the median of ``--repeats`` runs, after one unmeasured run of each (disk caches).
Goals: ``--version`` and ``--help`` under 1 s, the missing input under 2 s.

Usage: ``python benchmarks/bench_cli_start.py [--quick] [--repeats 7]``. The last line:
``cli_start_s=... cli_start_ratio=... help_s=... missing_input_s=... python_s=...``
(``cli_start_s`` is ``--version``; the ratio is to ``python_s``).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def command() -> list[str]:
    """The command users run: the console script of this environment, when installed."""
    script = Path(sys.executable).with_name("encoding-subspace")
    if script.is_file():
        return [str(script)]
    return [sys.executable, "-m", "ndx_encoding_subspace.cli"]


def median_seconds(argv: list[str], *, expect: int, repeats: int, cwd: Path) -> float:
    """Median wall time of ``repeats`` runs of ``argv``; each must exit with ``expect``."""
    times = []
    for run in range(repeats + 1):
        start = time.perf_counter()
        done = subprocess.run(argv, capture_output=True, text=True, cwd=cwd)
        took = time.perf_counter() - start
        if done.returncode != expect:
            raise SystemExit(f"{' '.join(argv)} exited {done.returncode}, expected {expect}:\n"
                             f"{done.stderr[-2000:]}")
        if run:  # the first run only warms the disk caches
            times.append(took)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few repeats (CI smoke test)")
    parser.add_argument("--repeats", type=int, default=7, help="measured runs of each (quick: 2)")
    args = parser.parse_args()
    repeats = 2 if args.quick else args.repeats
    cli = command()
    print(f"command={' '.join(cli)}")
    with tempfile.TemporaryDirectory() as folder:
        cwd = Path(folder)
        figures = {
            "cli_start_s": median_seconds([*cli, "--version"], expect=0, repeats=repeats, cwd=cwd),
            "help_s": median_seconds([*cli, "--help"], expect=0, repeats=repeats, cwd=cwd),
            "missing_input_s": median_seconds([*cli, "run", "missing.nwb"], expect=3,
                                              repeats=repeats, cwd=cwd),
            "python_s": median_seconds([sys.executable, "-c", "pass"], expect=0, repeats=repeats,
                                       cwd=cwd),
        }
    figures["cli_start_ratio"] = figures["cli_start_s"] / figures["python_s"]
    for name, value in figures.items():
        print(f"{name}={value:.3f}")
    print(f"repeats={repeats}")
    order = ("cli_start_s", "cli_start_ratio", "help_s", "missing_input_s", "python_s")
    print(" ".join(f"{name}={figures[name]:.3f}" for name in order))


if __name__ == "__main__":
    main()
