"""Parameters of the dataset summary: which units and pairs enter the statistics."""

from __future__ import annotations

import dataclasses

from ..params import Params, check_range

__all__ = ["DatasetParams"]


@dataclasses.dataclass(frozen=True)
class DatasetParams(Params):
    """How the cross-site tables and statistics are computed.

    The tables hold every unit and every pair; these parameters choose what enters the
    statistics and the report's figures, and the dimensions compared.

    Parameters
    ----------
    min_r : float
        Units enter the similarity statistics when their CNN r is at least this (the
        authors' code: 0.15); the score, k and region statistics use every unit.
    same_area : bool
        Similarity statistics over pairs of units in the same area only (the authors'
        code); units without an area share the area "".
    similarity_variance : float or None
        Each unit's dimensions for the similarity: the first components reaching this
        share of its explained variance (the authors' code: 0.75); None: its k filters.
    paper_variance : float
        The share of the authors' statistic (0.75), always reported beside the one above
        (``similarity_paper`` in ``pairs.csv``; "authors' dimensions" in the statistics).
    depth_split_um : float or None
        Units above this depth are "superficial", the others "deep"; None: the median
        depth of the dataset's units (the paper aligns depth to the layer 3/4 boundary).
    symmetry_threshold : float or None
        ``|asymmetry index|`` below this is a symmetric nonlinearity; None:
        ``SSRFParams.symmetry_threshold``.
    flat_threshold : float or None
        A dimension whose tuning curve's flanks move the response by at most this many
        response standard deviations is "flat"; None: ``SSRFParams.flat_threshold``.
    """

    min_r: float = 0.15
    same_area: bool = True
    similarity_variance: float | None = None
    paper_variance: float = 0.75
    depth_split_um: float | None = None
    symmetry_threshold: float | None = None
    flat_threshold: float | None = None

    def validate(self) -> None:
        check_range("DatasetParams.min_r", self.min_r, -1.0, 1.0)
        if self.similarity_variance is not None:
            check_range("DatasetParams.similarity_variance", self.similarity_variance, 0.0,
                        1.0, low_open=True)
        check_range("DatasetParams.paper_variance", self.paper_variance, 0.0, 1.0, low_open=True)
        if self.symmetry_threshold is not None:
            check_range("DatasetParams.symmetry_threshold", self.symmetry_threshold, 0.0, 1.0)
        if self.flat_threshold is not None:
            check_range("DatasetParams.flat_threshold", self.flat_threshold, 0.0)
