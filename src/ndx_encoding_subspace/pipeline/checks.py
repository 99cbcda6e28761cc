"""What a site needs before any computation: checked by ``run`` and listed by ``inspect``.

The reader refuses what it cannot read (damaged indexes, NaN or silent sounds, duplicate
unit ids, ...). Some inputs are readable and still cannot be analysed under a given
configuration; :func:`site_problems` lists every such problem of a read site, and
:func:`check_site` refuses the site with all of them at once, before any training, so a
run never fails hours later on what a look at the input could tell:

- no spike of any unit during the presented sounds;
- no validation sound, or validation sounds presented fewer than twice while other sounds
  are repeated (CCnorm needs repeated presentations to estimate the signal power; a
  recording that repeats no sound at all is scored by r alone, with a warning);
- estimation sounds too short for two dSTRF samples (every ``dstrf.sample_step``-th bin);
- too few estimation sounds for ``ensemble.n_jackknife``: no more jackknifes than
  sounds, and a jackknife fit keeps the sounds its jackknife does not drop and needs at
  least 2 of them (sounds to fit, and sounds held out for early stopping);
- more PCA components (``subspace.n_components``) than a dSTRF has dimensions;
- estimation sounds whose spectrograms are all one value (nothing to fit on; the reader
  refuses silent sounds, a site built in Python is checked here).

:func:`check_site` also leaves out units that fire during none of the
estimation sounds or fire the same count in every estimation bin (nothing to fit them
on: scoring, dSTRFs and subspaces of a constant prediction would describe float
rounding), and warns of those, of units that fire during none of the validation sounds
(no score), and of validation sounds whose spectrogram is one value (a constant
prediction there).

Sounds shorter than a model's receptive field are not a problem: the bins before a
sound's onset count as silence, as between presentations.
"""

from __future__ import annotations

import hashlib
import warnings

import numpy as np

from ..data.site import SiteData
from ..dstrf import sample_times
from ..errors import ConfigError, InvalidDataError
from ..io.names import listing
from .config import PipelineConfig

__all__ = ["site_problems", "check_site", "check_config"]


def check_config(config: PipelineConfig) -> None:
    """Refuse (:class:`ConfigError`) a configuration whose dSTRF window is shorter than the
    receptive field of the CNN it describes, before any input is read."""
    problem = _window_problem(config)
    if problem:
        raise ConfigError(problem)


def _window_problem(config: PipelineConfig) -> str | None:
    """Why the dSTRF window is shorter than the receptive field the CNN's parameters give."""
    field, lags = config.cnn.receptive_field, config.dstrf.n_lags
    if lags >= field:
        return None
    return (f"--dstrf.n_lags {lags} is shorter than the CNN's receptive field ({field} bins, from "
            f"--cnn.fir_taps {config.cnn.fir_taps} and --cnn.second_fir_taps {config.cnn.second_fir_taps}): "
            f"use at least {field}")


def _where(site: SiteData) -> str:
    path = site.source.get("path") or site.source.get("url") or site.source.get("asset_path")
    return f"{path}" if path else f"site {site.name!r}"


def site_problems(site: SiteData, config: PipelineConfig | None = None) -> list[str]:
    """Every reason why ``site`` cannot be analysed with ``config``, one message each."""
    config = PipelineConfig.of(config)
    problems: list[str] = []
    ids, counts = np.unique(np.asarray(site.units.ids), return_counts=True)
    if np.any(counts > 1):  # each unit's results are named by its id (a joined population repeats them)
        problems.append(f"unit ids given more than once: {ids[counts > 1].tolist()[:10]}")
    spikes = np.sum([s.counts.sum(axis=(0, 1)) for s in site.sounds], axis=0) if site.sounds else np.zeros(0)
    if site.n_units and not np.any(spikes > 0):
        problems.append(f"none of the {site.n_units} units fires during the {len(site.sounds)} presented "
                        "sounds (0 spikes in every presentation): are the spike times and the "
                        "presentation times both in seconds, on the same clock?")
    if not site.validation:
        problems.append("no validation sound: the site's sounds cannot be split into estimation and "
                        "validation sounds (a single sound?)")
    once = [s.name for s in site.split("validation") if s.n_repeats < 2]
    if once and not any(s.n_repeats >= 2 for s in site.sounds):
        once = []  # nothing repeated at all: scored by r alone (check_site says so)
    if once:
        problems.append(
            f"validation sound(s) {', '.join(map(repr, once[:5]))}{' ...' if len(once) > 5 else ''} "
            "presented once: CCnorm needs at least 2 presentations of each validation sound "
            "(choose repeated sounds with --reader.validation_sounds, or record repeats)")
    lengths = [s.n_bins for s in site.split("estimation")]
    n_samples = sum(len(t) for t in sample_times(lengths, config.dstrf)) if lengths else 0
    if n_samples < 2:
        problems.append(
            f"the estimation sounds hold {sum(lengths)} bins of {site.bin_size * 1000:g} ms in all "
            f"({', '.join(f'{s.name!r}: {s.n_bins}' for s in site.split('estimation'))[:200]}): fewer "
            f"than 2 dSTRF samples at every {config.dstrf.sample_step}th bin from bin "
            f"{config.dstrf.sample_offset} (longer sounds, or a smaller --dstrf.sample_step or "
            "--dstrf.sample_offset)")
    flat = [s.name for s in site.split("estimation") if _constant(s.spectrogram)]
    if flat and len(flat) == len(site.split("estimation")):
        problems.append(f"every estimation sound's spectrogram is the same value in every bin and channel "
                        f"({listing(flat)}): nothing in the stimulus to fit the models on")
    problems.extend(_jackknife_problems(site, config))
    problems.extend(_lag_problems(site, config))
    problems.extend(_memory_problems(site, config))
    dims = site.n_frequencies * config.dstrf.n_lags
    if config.subspace.n_components > dims:
        problems.append(
            f"--subspace.n_components {config.subspace.n_components} is more than the {dims} dimensions "
            f"of a dSTRF here ({site.n_frequencies} spectrogram channels x {config.dstrf.n_lags} lags, "
            f"--dstrf.n_lags): use at most {dims}")
    return problems


def _validation_heard_in_estimation(site: SiteData) -> list[str]:
    """Validation sounds whose spectrogram is also an estimation sound's (a sound listed
    twice under two names): their scores are not held out."""
    seen: dict[bytes, str] = {}
    for s in site.split("estimation"):
        seen.setdefault(hashlib.sha256(np.ascontiguousarray(s.spectrogram).tobytes()).digest(), s.name)
    pairs = [(s.name, seen[key]) for s in site.split("validation")
             if (key := hashlib.sha256(np.ascontiguousarray(s.spectrogram).tobytes()).digest()) in seen]
    if not pairs:
        return []
    return [f"validation sound(s) {listing(f'{v!r} (as {e!r})' for v, e in pairs)} are also estimation "
            "sounds under other names (the same spectrogram): their scores are not of held-out sound; "
            "name each sound once, or choose other validation sounds (--reader.validation_sounds)"]


def _constant(values: np.ndarray) -> bool:
    return bool(values.size) and float(np.max(values)) == float(np.min(values))


def _lag_problems(site: SiteData, config: PipelineConfig) -> list[str]:
    """A dSTRF window shorter than the CNN's receptive field, or a CNN too large for memory,
    said before any training (the CNN is built on torch's meta device: shapes, no memory).
    Without torch (``inspect`` of an install without the model extra) the window is judged on
    the parameters' receptive field, and the memory not at all: nothing is trained there."""
    try:
        import torch
    except ModuleNotFoundError:
        return [problem] if (problem := _window_problem(config)) else []

    from ..compute import available_memory
    from ..fitting.training_params import resolve_device

    with torch.device("meta"):
        model = config.cnn.build(site.n_frequencies, max(site.n_units, 1))
    problems = []
    field = getattr(model, "receptive_field", None)
    if isinstance(field, int) and field > config.dstrf.n_lags:
        problems.append(f"--dstrf.n_lags {config.dstrf.n_lags} is shorter than the CNN's receptive field "
                        f"({field} bins, from its --cnn.* parameters): use at least {field}")
    weights = sum(p.numel() for p in model.parameters())
    need = 16 * weights  # float32 weights, their gradients and Adam's two moments, for one member
    try:
        have = available_memory(resolve_device(config.training.device))
    except Exception:  # a device torch does not see is said by the run's own checks
        return problems
    if need > have:
        problems.append(f"--cnn.*: a CNN of {weights:,} weights needs {need / 2**30:,.3g} GiB to train "
                        f"({have / 2**30:,.1f} GiB free): use fewer channels (--cnn.mix_channels "
                        f"{config.cnn.mix_channels}, --cnn.hidden {list(config.cnn.hidden)})")
    return problems


def _memory_problems(site: SiteData, config: PipelineConfig) -> list[str]:
    """A dSTRF too large for memory, said before any training: the subspaces keep, for every
    unit, the scatter of its dSTRFs (``(frequencies x lags)^2`` float64 values)."""
    from ..compute import available_memory

    dims = site.n_frequencies * config.dstrf.n_lags
    need = 8 * max(site.n_units, 1) * dims * dims
    try:
        have = available_memory(config.dstrf.torch_device())
    except Exception:  # a device torch does not see is said by the run's own checks
        return []
    if need <= have:
        return []
    # the parameter to lower: whichever is further above the paper's (32 channels, 30 lags)
    channels = site.n_frequencies / 32 >= config.dstrf.n_lags / 30
    flag = (f"--spectrogram.n_channels {config.spectrogram.n_channels}" if channels
            else f"--dstrf.n_lags {config.dstrf.n_lags}")
    advice = "use fewer channels (32 in the paper)" if channels else "use fewer lags (30 in the paper)"
    return [f"{flag}: a dSTRF of {site.n_frequencies} channels x {config.dstrf.n_lags} lags has {dims:,} "
            f"dimensions, and the subspaces of {site.n_units} units would need {need / 2**30:,.3g} GiB for "
            f"their scatter matrices ({have / 2**30:,.1f} GiB free): {advice}"]


def _jackknife_problems(site: SiteData, config: PipelineConfig) -> list[str]:
    """Too few estimation sounds for the jackknife fits (see the module's text)."""
    from ..fitting.pieces import estimation_pieces

    n, k = len(estimation_pieces(site)), config.ensemble.n_jackknife  # long sounds count as pieces
    if 0 < n < k:
        return [f"{n} estimation sound(s) for --ensemble.n_jackknife {k}: each jackknife drops "
                f"sounds of its own, so there can be at most {n} (use --ensemble.n_jackknife {n} "
                "or fewer, or more sounds presented once)"]
    kept = n if k == 1 else n - -(-n // k)  # the fewest sounds a jackknife keeps
    if 0 < n and k <= n and kept < 2:
        return [f"{n} estimation sound(s) for --ensemble.n_jackknife {k}: a jackknife fit keeps "
                f"{kept} of them, and needs at least 2 (to fit, and to hold out for early stopping); "
                "use another number of jackknifes, or more sounds presented once"]
    return []


def _spikes_per_split(site: SiteData) -> dict[str, np.ndarray]:
    """Spikes of each unit during the estimation and during the validation sounds."""
    return {part: np.sum([s.counts.sum(axis=(0, 1)) for s in site.split(part)], axis=0)
            for part in ("estimation", "validation") if site.split(part)}


def _silent_in_a_split(site: SiteData) -> list[str]:
    """Units that fire during some sounds but none of the validation sounds (the reader
    names those silent during every sound; :func:`check_site` leaves out those silent
    during every estimation sound)."""
    spikes = _spikes_per_split(site)
    if len(spikes) < 2:
        return []
    silent = (spikes["validation"] == 0) & (spikes["estimation"] > 0)
    if not np.any(silent):
        return []
    return [f"unit(s) {listing(site.units.ids[silent])} fire no spike during the validation sounds: "
            "their scores are undefined (NaN)"]


def _unvarying_in_estimation(site: SiteData) -> np.ndarray:
    """Per unit: whether its response is the same in every bin of every estimation sound
    (every presentation)."""
    sounds = site.split("estimation")
    low = np.min([s.counts.min(axis=(0, 1)) for s in sounds], axis=0)
    high = np.max([s.counts.max(axis=(0, 1)) for s in sounds], axis=0)
    return low == high


def _fitted_units(site: SiteData) -> SiteData:
    """``site`` without the units whose response does not vary during the estimation
    sounds (said): those that fire no spike there (those silent during every sound as
    well) and those with the same count in every bin (a saturated or clipped unit), whose
    constant prediction has gradients of float rounding. Refused when that leaves none."""
    spikes = _spikes_per_split(site)
    if "estimation" not in spikes or "validation" not in spikes:
        return site
    silent = spikes["estimation"] == 0
    flat = _unvarying_in_estimation(site) & ~silent
    left_out = silent | flat
    if not np.any(left_out):
        return site
    n_est = len(site.split("estimation"))
    if np.all(left_out):
        raise InvalidDataError(f"{_where(site)}: the response of none of the {site.n_units} units varies "
                               f"during the {n_est} estimation sounds (no spike, or the same count in "
                               "every bin): nothing to fit the models on")
    if np.any(silent):
        warnings.warn(f"{_where(site)}: unit(s) {listing(site.units.ids[silent])} left out: they fire no "
                      "spike during the estimation sounds (nothing to fit them on)", stacklevel=3)
    if np.any(flat):
        warnings.warn(f"{_where(site)}: unit(s) {listing(site.units.ids[flat])} left out: the same count "
                      f"in every bin of the {n_est} estimation sounds (a saturated or clipped response; "
                      "nothing varies to fit them on)", stacklevel=3)
    return site.select_units(np.flatnonzero(~left_out))


def check_site(site: SiteData, config: PipelineConfig | None = None) -> SiteData:
    """Refuse ``site`` (:class:`InvalidDataError`, every problem named) when it cannot be
    analysed with ``config``; warn when its scores will lack CCnorm (no repeated sound).

    Returns
    -------
    SiteData
        The site to analyse: ``site`` itself, or ``site`` without the units that fire
        during none of its estimation sounds (a warning names them).
    """
    problems = site_problems(site, config)
    if problems:
        raise InvalidDataError(f"{_where(site)}: " + "; ".join(problems))
    site = _fitted_units(site)
    for note in _silent_in_a_split(site):
        warnings.warn(f"{_where(site)}: {note}", stacklevel=2)
    for note in _validation_heard_in_estimation(site):
        warnings.warn(f"{_where(site)}: {note}", stacklevel=2)
    flat = [s.name for s in site.split("validation") if _constant(s.spectrogram)]
    if flat:
        warnings.warn(f"{_where(site)}: validation sound(s) {listing(flat)} have a spectrogram of one value "
                      "in every bin and channel: the models predict a constant there"
                      + (", so every score is undefined (NaN)" if len(flat) == len(site.validation) else ""),
                      stacklevel=2)
    config = PipelineConfig.of(config)
    n = sum(len(t) for t in sample_times([len(s) for s in site.stimuli("estimation")], config.dstrf))
    if n <= config.subspace.n_components:  # n centred samples span n - 1 directions at most
        warnings.warn(f"{_where(site)}: {n} dSTRF sample(s) per unit, fewer than --subspace.n_components "
                      f"{config.subspace.n_components} + 1: k is at most {max(n - 1, 0)}, limited by the "
                      "samples, not by the units' tuning; use longer or more estimation sounds, or a "
                      "smaller --dstrf.sample_step", stacklevel=2)
    if site.validation and not any(s.n_repeats >= 2 for s in site.sounds):
        warnings.warn(f"{_where(site)}: no sound is presented more than once, so CCnorm and the noise "
                      "ceiling are undefined (NaN); the models are scored by r, the correlation with the "
                      "single presentation of each validation sound", stacklevel=2)
    return site

