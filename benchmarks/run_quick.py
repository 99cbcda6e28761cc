"""Smoke-run every benchmark at tiny size (``--quick``), as CI does.

Each benchmark must exit 0 and print its figures as ``name=value`` pairs on its last
line. Exits non-zero when one does not.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
PAIR = re.compile(r"^[A-Za-z_][\w.]*=\S+$")


def main() -> int:
    scripts = sorted(HERE.glob("bench_*.py"))
    if not scripts:
        print("no benchmarks found", file=sys.stderr)
        return 1
    failed = []
    for script in scripts:
        start = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, str(script), "--quick"], capture_output=True, text=True
        )
        lines = [line for line in proc.stdout.splitlines() if line.strip()]
        last = lines[-1] if lines else ""
        ok = proc.returncode == 0 and last and all(PAIR.match(t) for t in last.split())
        took = time.perf_counter() - start
        print(f"{'ok  ' if ok else 'FAIL'} {script.name} ({took:.0f} s): {last}")
        if not ok:
            failed.append(script.name)
            sys.stdout.write(proc.stdout[-2000:])
            sys.stderr.write(proc.stderr[-4000:])
    if failed:
        print(f"benchmarks failing their quick run: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
