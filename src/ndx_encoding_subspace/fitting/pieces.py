"""The estimation sounds as the ensembles split them: long sounds cut into pieces.

A jackknife drops 1/n of the estimation sounds, and each fit holds out its last sounds for
early stopping (METHOD.md section 2). Both count sounds, which is a share of the data only
when the sounds are of similar length, as the paper's clips are. A sound longer than
twice the median of the other estimation sounds is therefore cut into pieces
(:func:`estimation_pieces`), so that a recording with one long sound heard once
beside short clips (ten minutes of sound and a few seconds) is still split by time rather
than by sound. A sole estimation sound (one story, one stream) is always cut. Sounds of
similar length are not cut: their pieces are the sounds, under their own names.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..data.site import SiteData

__all__ = ["Piece", "estimation_pieces", "piece_arrays"]

#: a sound longer than this many times the median of the other estimation sounds is cut
LONG_SOUND_RATIO = 2.0
#: pieces are at least this fraction (1 / PIECES) of all the estimation bins
PIECES = 40


@dataclasses.dataclass(frozen=True)
class Piece:
    """A stretch of an estimation sound: bins ``first`` to ``stop`` of sound ``sound``.

    Attributes
    ----------
    name : str
        The sound's name when it is whole, else ``sound[first:stop]``.
    sound : str
    first, stop : int
    """

    name: str
    sound: str
    first: int
    stop: int


def estimation_pieces(site: SiteData) -> list[Piece]:
    """The estimation sounds, long ones cut into pieces, in order.

    A sound longer than :data:`LONG_SOUND_RATIO` times the median of the other estimation
    sounds is cut into pieces of equal length, at least that median and at least
    1/:data:`PIECES` of all the estimation bins (so that few pieces start without the
    sound's history, which the model's first bins of a piece do not see). A sole
    estimation sound is cut into :data:`PIECES` pieces.

    Parameters
    ----------
    site : SiteData

    Returns
    -------
    list of Piece
        Whole sounds under their own names; pieces named ``sound[first:stop]``.
    """
    lengths = {name: site.sound(name).n_bins for name in site.estimation}
    total = sum(lengths.values())
    pieces = []
    for name, n in lengths.items():
        others = [m for other, m in lengths.items() if other != name]
        typical = float(np.median(others)) if others else 0.0
        if n <= LONG_SOUND_RATIO * typical:
            pieces.append(Piece(name, name, 0, n))
            continue
        size = max(typical, total / PIECES)
        count = min(n, max(2, int(round(n / size))))  # pieces of one bin at least
        bounds = np.round(np.linspace(0, n, count + 1)).astype(int)
        pieces += [Piece(f"{name}[{a}:{b}]", name, int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:])]
    return pieces


def piece_arrays(site: SiteData, pieces: list[Piece]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Spectrogram and PSTH (float32) of every piece, by name."""
    out = {}
    for p in pieces:
        sound = site.sound(p.sound)
        out[p.name] = (np.asarray(sound.spectrogram[p.first:p.stop], dtype=np.float32),
                       np.asarray(sound.psth[p.first:p.stop], dtype=np.float32))
    return out
