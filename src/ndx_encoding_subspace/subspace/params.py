"""Parameters of the tuning-subspace step (:class:`SubspaceParams`) and the rules they name.

Only the standard library is imported here: the command line builds its flags from the
parameters. The step itself is :mod:`.pca` (in memory) and :mod:`.stream` (streamed).
"""

from __future__ import annotations

import dataclasses

from ..errors import ConfigError
from ..params import Params, check_choice, check_range

__all__ = ["SubspaceParams", "K_RULES", "RELIABILITY_RULES"]


#: Rules that choose k (``SubspaceParams.k_rule``).
K_RULES = ("variance", "significance")
#: Rules that measure a subspace's reliability (``SubspaceParams.reliability_rule``).
RELIABILITY_RULES = ("auto", "members", "split_halves", "none")


@dataclasses.dataclass(frozen=True)
class SubspaceParams(Params):
    """Parameters of the tuning-subspace step.

    Parameters
    ----------
    n_components : int
        Principal components kept (paper: 25).
    outlier_sd : float
        Outlier threshold in RMS deviations (paper: 5; at least 1); ``inf`` keeps every
        sample.
    variance_threshold : float
        Cumulative variance fraction (of the first ``n_components``) that defines k.
    noise_repeats : int
        Shuffles for the noise floor (paper: 10); 0 skips it.
    noise_max_samples : int
        Samples (a uniform random subset when there are more) on which the noise floor
        is computed.
    seed : int
        Seed of the shuffles and of the reservoir.
    k_rule : {"variance", "significance"}
        How k is chosen: the cumulative-variance threshold (paper) or the count of
        leading components above the noise floor (needs ``noise_repeats >= 1``).
    reliability_rule : {"auto", "members", "split_halves", "none"}
        How each subspace's reliability is measured (:mod:`.reliability`): the
        ensemble's members' subspaces compared pairwise, the two halves of the dSTRF
        samples compared, or not at all; ``"auto"``: members when the ensemble has two
        or more, else split halves.
    reliability_variance : float
        The subspaces are compared in their first ``min(k, k_r)`` components, ``k_r``
        the count reaching this fraction of the unit's variance (0.90: the paper's
        reporting dimension; :mod:`.reliability` says why not ``k`` at 0.95).
    reliability_max_samples : int
        dSTRF sample bins (evenly spaced among the subspace step's) on which the
        reliability is measured; bounds its time and memory on large sites.
    reliability_threshold : float
        Units whose reliability is below this are flagged unreliable (widgets, report,
        the demo's ground-truth line).
    """

    n_components: int = 25
    outlier_sd: float = 5.0
    variance_threshold: float = 0.95
    noise_repeats: int = 10
    noise_max_samples: int = 3000
    seed: int = 0
    k_rule: str = "variance"
    reliability_rule: str = "auto"
    reliability_variance: float = 0.9
    reliability_max_samples: int = 3000
    #: :data:`~ndx_encoding_subspace.extension.reliability.DEFAULT_RELIABILITY_THRESHOLD`,
    #: written out so that the parameters import without pynwb (a test keeps them equal)
    reliability_threshold: float = 0.5

    def validate(self) -> None:
        for name in ("n_components", "noise_max_samples"):
            check_range(f"SubspaceParams.{name}", getattr(self, name), 1)
        check_range("SubspaceParams.noise_repeats", self.noise_repeats, 0)
        # below 1 RMS deviation most samples, or all, would be outliers
        check_range("SubspaceParams.outlier_sd", self.outlier_sd, 1.0)
        check_range("SubspaceParams.variance_threshold", self.variance_threshold, 0.0, 1.0,
                    low_open=True)
        for name in ("n_components", "noise_repeats", "noise_max_samples", "seed",
                     "reliability_max_samples"):
            if not isinstance(getattr(self, name), int):
                raise ConfigError(f"SubspaceParams.{name} must be an integer, "
                                  f"got {getattr(self, name)!r}")
        check_choice("SubspaceParams.k_rule", self.k_rule, K_RULES)
        check_choice("SubspaceParams.reliability_rule", self.reliability_rule,
                     RELIABILITY_RULES)
        check_range("SubspaceParams.reliability_max_samples", self.reliability_max_samples, 4)
        check_range("SubspaceParams.reliability_threshold", self.reliability_threshold, 0.0, 1.0)
        check_range("SubspaceParams.reliability_variance", self.reliability_variance, 0.0, 1.0,
                    low_open=True)
        if self.k_rule == "significance" and self.noise_repeats == 0:
            raise ConfigError("SubspaceParams.k_rule='significance' needs the noise floor: "
                              "noise_repeats must be at least 1, got 0")
