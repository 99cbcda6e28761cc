"""How results files are named: one rule for the run that writes them and the summary
that reads a folder of them back.

A site's results file is ``<stem>.results.nwb`` in the output folder, where the stem is
the site's name made safe for every file system (:func:`file_stem`). This module imports
nothing beyond the standard library.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path
from typing import Any

__all__ = ["SUFFIX", "file_stem", "results_path", "site_name"]

#: Suffix of the results files of a run.
SUFFIX = ".results.nwb"


def file_stem(site: str) -> str:
    """The name a site's files take: letters, digits and marks of any script, ``_``, ``.``
    and ``-`` kept (in Unicode's composed form, as file systems compare names), every other
    run of characters one ``_`` (``"rec 1"`` -> ``"rec_1"``, ``"Älfeld"`` stays); ``"site"``
    when nothing is left."""
    kept = "".join(c if c.isalnum() or c in "_.-" or unicodedata.category(c).startswith("M") else "\0"
                   for c in unicodedata.normalize("NFC", site))  # marks: Devanagari vowel signs...
    return re.sub("\0+", "_", kept).strip("._") or "site"


def results_path(out: str | Path, site: str) -> Path:
    """Where the results file of site ``site`` goes in folder ``out``."""
    return Path(out) / f"{file_stem(site)}{SUFFIX}"


def site_name(path: Any) -> str:
    """Site of a results file: its name without ``.results.nwb``."""
    name = str(getattr(path, "name", path))
    return name[: -len(SUFFIX)] if name.endswith(SUFFIX) else name.rsplit(".", 1)[0]
