"""Run Python as if some packages were not installed: what an install without an extra meets."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence

__all__ = ["run_without"]

_PRELUDE = """
import importlib.abc
import sys


class _Absent(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {absent!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)


sys.meta_path.insert(0, _Absent())
"""


def run_without(packages: Sequence[str], code: str, *args: str, timeout: float = 300,
                ) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter in which importing any of ``packages`` (top-level
    names, e.g. ``"torch"``) fails as it does where they are not installed.

    Parameters
    ----------
    packages : sequence of str
        Top-level import names made absent.
    code : str
        The script; ``sys.argv[1:]`` are ``args``.
    *args : str
        Its arguments.
    timeout : float
        Seconds before :class:`subprocess.TimeoutExpired`.

    Returns
    -------
    subprocess.CompletedProcess
        With ``stdout`` and ``stderr`` as text.
    """
    prelude = _PRELUDE.format(absent=set(packages))
    env = {**os.environ, "MPLBACKEND": "Agg"}
    return subprocess.run([sys.executable, "-c", prelude + code, *args], capture_output=True, text=True,
                          timeout=timeout, env=env)
