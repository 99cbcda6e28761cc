"""Sounds stored padded with silence to a common length: rows that stop before their sound
ends where, read whole, the sounds would run into the next presentation (which the rows do
not), and the samples after every row's stop are silent. Each is then read until its row's
stop (:func:`~.presentations.template_rows`)."""

from __future__ import annotations

import numpy as np

from .inventory import Presentation

__all__ = ["PADDING_SHARE", "silent_after", "runs_into_next"]

#: samples after a row's stop this far below the sound's loudest (-60 dB) are its padding
PADDING_SHARE = 1e-3


def silent_after(rated: list[Presentation], cut: dict[int, int]) -> bool:
    """Whether every sound whose rows stop early (``cut``: row -> samples played) is silent
    after the earliest of those stops (:data:`PADDING_SHARE`): reading until the stops
    then loses nothing of it."""
    shortest: dict[tuple[str, int, int], tuple[int, Presentation]] = {}
    for p in rated:
        if p.row in cut:
            key = (p.series.path, p.first_sample, p.n_samples)
            shortest[key] = min(shortest.get(key, (cut[p.row], p)), (cut[p.row], p), key=lambda c: c[0])
    for (_, first, count), (n, p) in shortest.items():
        try:
            samples = np.abs(np.asarray(p.series.series.data[first: first + count], dtype=np.float64))
        except (TypeError, ValueError, OSError):  # unreadable here: said when the samples are read
            return False
        head, tail = samples[:n], samples[n:]
        if tail.size and (not head.size or not np.all(tail <= PADDING_SHARE * head.max())):
            return False
    return True


def runs_into_next(rated: list[Presentation], stop: np.ndarray) -> bool:
    """Whether some sound read whole would run into the next presentation while its row
    stops before that presentation begins (sounds stored with silence after them)."""
    from .presentations import OVERLAP_TOLERANCE_S as tolerance  # (which imports this module)

    ordered = sorted(rated, key=lambda p: p.start)
    return any(a.stop > b.start + tolerance and stop[a.row] <= b.start + tolerance
               for a, b in zip(ordered, ordered[1:]))
