"""Loading a results file back: models as torch modules, subspaces and SSRFs as arrays.

Models are rebuilt only from each ``EncodingModel``'s architecture document and its
stored arrays: nothing is unpickled and no code is taken from the file. Everything is read
into memory and the file closed.

A results file may come from anywhere, so nothing in it is trusted before it is checked: the
file's metadata first (:mod:`.limits`: what reading it may cost, no links to other files, ragged
indexes, the specification's types), then each document (bounded size and nesting) and each
model's document against :mod:`~ndx_encoding_subspace.models.schema` and the shapes and dtypes of
its stored arrays, before any module is built. Loading costs memory in proportion to the file's
size on disk; whatever cannot be loaded raises ResultsError naming the file and the object."""

from __future__ import annotations

import dataclasses
import operator
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from pynwb import NWBHDF5IO

from ..arrays import summary_repr
from ..errors import ResultsError
from ..extension import EncodingModels
from ..extension.models import SCORE_NAMES
from ..preflight import results_file
from .bundle import ModelResult, SiteAnalysis, UnitNonlinearity, UnitSubspace
from .consistency import check_agreement
from .convert import MODULE
from .limits import check_file, read_error
from .new_sounds import site_spectrogram
from .rebuild import check_kind, guarded, json_object, read_model, read_provenance, strings
from .roles import container_of_role, role_order
from .rows import nonlinearity_rows, site_analysis, subspace_rows
from .spectrogram_data import SpectrogramData
from .values import (
    check_nonlinearities,
    check_sounds,
    check_spectrogram,
    check_units,
    count,
)
from .versions import warn_if_newer

__all__ = ["load_results", "LoadedResults", "LoadedEnsemble", "SpectrogramData"]


@dataclasses.dataclass
class LoadedEnsemble:
    """One collection of models (e.g. ``population_cnn``): its members, in stored order."""

    __repr__ = summary_repr

    name: str
    description: str
    members: list[ModelResult]

    def __len__(self) -> int:
        return len(self.members)

    def member(self, name: str) -> ModelResult:
        """The member called ``name``."""
        for m in self.members:
            if m.name == name:
                return m
        raise KeyError(f"collection {self.name!r} has no model {name!r}")

    def predict(self, stim: np.ndarray) -> np.ndarray:
        """Mean prediction of the members for ``stim`` [(batch,) time, frequency].

        Raises
        ------
        ResultsError
            Members predict different units (e.g. per-unit subspace models).
        """
        if not self.members:
            raise ResultsError(f"collection {self.name!r} holds no model")
        first = self.members[0].unit_positions
        if any(not np.array_equal(m.unit_positions, first) for m in self.members):
            raise ResultsError(f"collection {self.name!r}: members predict different units; "
                               "predict with one member instead")
        return np.mean([m.predict(stim) for m in self.members], axis=0)


@dataclasses.dataclass
class LoadedResults:
    """Everything a results file holds, in memory.

    Unit positions are rows of ``units`` (the analysed units, in the site's order).
    ``collections`` are in the order of :data:`.roles.ROLES` (LN, CNN, subspace), then
    any others by name. ``related_publications`` and ``keywords`` are the file's own
    session metadata (copied from the input recording by the writer). ``newer_version``
    is the extension version that wrote the file where it is newer than the one installed
    (what it added is not read; :func:`~.versions.warn_if_newer`), else None.
    """

    __repr__ = summary_repr

    path: Path
    identifier: str
    session_description: str
    units: dict[str, Any]
    spectrogram: SpectrogramData | None
    collections: dict[str, LoadedEnsemble]
    subspaces: list[UnitSubspace]
    nonlinearities: list[UnitNonlinearity]
    site_subspace: SiteAnalysis | None
    provenance: dict[str, Any]
    parameters: dict[str, dict[str, Any]]
    related_publications: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()
    newer_version: str | None = None

    def ensemble(self, name: str) -> LoadedEnsemble:
        """Collection ``name`` (``population_cnn``, ``ln_baseline``, ``subspace_models``)
        or the collection of role ``name`` (``cnn``, ``ln``, ``subspace_nonlinearity``)."""
        key = name if name in self.collections else container_of_role(name)
        if key not in self.collections:
            raise ResultsError(f"{self.path}: no model collection {name!r}; present: "
                               f"{', '.join(self.collections) or 'none'}")
        return self.collections[key]

    @property
    def models(self) -> list[ModelResult]:
        """Every model of every collection."""
        return [m for c in self.collections.values() for m in c.members]

    def units_frame(self) -> Any:
        """The analysed units as a pandas DataFrame, one row per unit position: every
        column with one value per unit (id, depth, area, cell type...), and the number of
        spike times; ``spike_times`` and ``waveform_mean`` stay in :attr:`units`."""
        import pandas as pd

        n = len(self.units["id"])
        columns = {name: values for name, values in self.units.items()
                   if isinstance(values, np.ndarray) and values.shape == (n,)}
        if "spike_times" in self.units:
            columns["n_spikes"] = np.array([len(t) for t in self.units["spike_times"]], dtype=np.int64)
        return pd.DataFrame(columns)

    def spectrogram_of(self, waveform: np.ndarray, rate: float, name: str = "new sound") -> np.ndarray:
        """A new sound's spectrogram as this site's models take their input: its DC offset
        removed where the run's ``reader.remove_offset`` was on, the silence of the run's
        ``reader.response_tail_s`` appended, the stored spectrogram parameters, then each
        channel scaled by the site's range (the minimum and maximum over the site's sounds,
        which :func:`~..data.minmax_scale` mapped to 0 and 1; a new sound may leave [0, 1]).

        Parameters
        ----------
        waveform : ndarray (samples,)
            The sound, in the units of the recording's sounds; integer samples (a WAV file's)
            as fractions of their full scale, as the reader reads them.
        rate : float
            Its sample rate in Hz.
        name : str
            How messages name it.

        Returns
        -------
        ndarray (time, frequency), float32
            Input for the loaded models' ``predict`` and for
            :func:`~..subspace.projection.project`.

        Raises
        ------
        ResultsError
            The file keeps no spectrogram scale (written before it did).
        ConfigError
            ``rate`` is not a positive number, or is below twice every channel's frequency
            (a rate too slow for the top channels only is said in a warning).
        """
        return site_spectrogram(self.provenance, waveform, rate, name, self.path)

    def subspace(self, unit_position: int) -> UnitSubspace:
        """Tuning subspace of the unit at ``unit_position``."""
        unit_position = _position(unit_position, self.path)
        for s in self.subspaces:
            if s.unit_position == unit_position:
                return s
        raise KeyError(f"{self.path}: unit {unit_position} has no tuning subspace")

    def nonlinearity(self, unit_position: int) -> UnitNonlinearity:
        """Subspace nonlinearity (tuning curves, SSRFs) of the unit at ``unit_position``."""
        unit_position = _position(unit_position, self.path)
        for s in self.nonlinearities:
            if s.unit_position == unit_position:
                return s
        raise KeyError(f"{self.path}: unit {unit_position} has no subspace nonlinearity")

    def unit_scores(self, score: str = "r") -> dict[str, np.ndarray]:
        """Per collection, ``score`` of every unit (mean over the collection's models that
        predict it; NaN where none does), shape (units,).

        Raises
        ------
        KeyError
            A score name neither of the format nor held by a model (the message lists them).
        """
        known = dict.fromkeys([*SCORE_NAMES, *(name for m in self.models for name in m.scores)])
        if score not in known:  # a known score no model holds is NaN (CCnorm without repeats)
            raise KeyError(f"{self.path}: no score {score!r}; scores: {', '.join(known)}")
        n = len(self.units["id"])
        out = {}
        for name, coll in self.collections.items():
            total, count = np.zeros(n), np.zeros(n)
            for m in coll.members:
                if score in m.scores:
                    np.add.at(total, m.unit_positions, m.scores[score])
                    np.add.at(count, m.unit_positions, 1)
            with np.errstate(invalid="ignore", divide="ignore"):
                out[name] = np.where(count > 0, total / count, np.nan)
        return out


#: columns of the results' units table that hold numbers (the writer's), checked as such
_NUMBER_COLUMNS = ("depth_um", "spike_width_ms", "source_row")


def _units(units: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"id": np.asarray(units.id.data[:])}
    for name in units.colnames:
        column = units[name]
        if name in ("spike_times", "obs_intervals", "electrodes"):
            out[name] = [np.asarray(column[i]) for i in range(len(units))]
        else:
            out[name] = np.asarray(column.data[:])
    check_units(out, _NUMBER_COLUMNS)
    return out


def _spectrogram(module: Any) -> SpectrogramData | None:
    if "spectrogram" not in module.data_interfaces:
        return None
    series = module["spectrogram"]
    sounds: dict[str, np.ndarray] = {}
    if "spectrogram_sounds" in module.data_interfaces:
        table = module["spectrogram_sounds"]
        sounds = {c: np.asarray(table[c].data[:]) for c in table.colnames}
        for key in ("sound", "split"):
            sounds[key] = np.array(strings(sounds[key]), dtype=object)
    data, frequencies = np.asarray(series.data[:]), np.asarray(series.frequencies[:])
    check_spectrogram(data, frequencies, float(series.bin_size), series.rate, series.n_channels)
    if sounds:
        check_sounds(sounds, data.shape[0])
    return SpectrogramData(data, frequencies, float(series.bin_size), sounds)


def load_results(path: str | Path) -> LoadedResults:
    """Read a results file written by :func:`write_results`.

    Nothing is read before the file's metadata passed :func:`.limits.check_file`, and no
    model is built before its document passed the schema and matched its stored arrays'
    shapes and dtypes (:func:`.rebuild.read_model`): loading costs memory in proportion
    to the file's size on disk, whatever its documents declare.

    Raises
    ------
    ResultsError
        Missing file, not a results file, or an object that cannot be loaded safely: data
        out of proportion to the file or kept outside it, a document too deep, too long or
        outside the schema (unknown keys or layer kinds, sizes out of bounds, more values
        declared than stored, shapes or dtypes that differ from the stored arrays), rows
        outside the Units table, values no computation gives, objects that contradict
        each other (:mod:`.consistency`), or any damaged object. The message, one line, names the
        file and the object (collection/model (role), the layer).

    Warns
    -----
    NewerResultsWarning
        The file was written by a newer version of the extension: what that version added
        is not read.
    """
    path = results_file(path)
    check_file(path)
    newer = warn_if_newer(path)
    io = None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            io = NWBHDF5IO(str(path), "r", load_namespaces=True)
            nwbfile = io.read()
    except Exception as err:
        if io is not None:  # closed now (the traceback would hold it open): the file may be rewritten
            io.close()
        raise ResultsError(f"{path}: cannot read as NWB ({read_error(err)})") from None
    try:
        return dataclasses.replace(_read(path, nwbfile), newer_version=newer)
    finally:
        io.close()


def _read(path: Path, nwbfile: Any) -> LoadedResults:
    """Every object of an open results file, each checked (see the module's description)."""
    if MODULE not in nwbfile.processing:
        raise ResultsError(f"{path}: no processing module {MODULE!r}; not a results file")
    module = nwbfile.processing[MODULE]
    units = (guarded(f"{path}: units", _units, nwbfile.units) if nwbfile.units is not None
             else {"id": np.zeros(0)})
    n_units = len(units["id"])
    collections, subspaces, nonlin, site, prov = {}, [], [], None, {}
    parameters: dict[str, dict[str, Any]] = {}
    for name, obj in module.data_interfaces.items():
        where = f"{path}: processing/{MODULE}/{name}"
        check_kind(name, obj, where)
        if isinstance(obj, EncodingModels):
            members = [read_model(m, f"{where}/{k}", n_units) for k, m in obj.models.items()]
            collections[name] = LoadedEnsemble(name, obj.description, members)
        elif name == "tuning_subspaces":
            subspaces = guarded(where, subspace_rows, obj, n_units)
            parameters["subspace"] = json_object(obj.parameters, f"{where}: parameters", "subspace")
        elif name == "subspace_nonlinearities":
            nonlin = guarded(where, nonlinearity_rows, obj, n_units)
            parameters["ssrf"] = {**json_object(obj.parameters, f"{where}: parameters", "ssrf"),
                                  "min_count": guarded(f"{where}: min_count", count, obj.min_count)}
        elif name == "site_subspace":
            site = guarded(where, site_analysis, obj, n_units)
        elif name == "provenance":
            prov = guarded(where, read_provenance, obj)
    guarded(f"{path}: processing/{MODULE}", check_nonlinearities, nonlin, subspaces)
    loaded = LoadedResults(
        path=path, identifier=str(nwbfile.identifier),
        session_description=str(nwbfile.session_description),
        units=units,
        spectrogram=guarded(f"{path}: processing/{MODULE}/spectrogram", _spectrogram, module),
        collections={k: collections[k] for k in sorted(collections, key=role_order)},
        subspaces=subspaces, nonlinearities=nonlin, site_subspace=site, provenance=prov,
        parameters=parameters,
        related_publications=guarded(f"{path}: related_publications", strings,
                                      nwbfile.related_publications),
        keywords=guarded(f"{path}: keywords", strings, nwbfile.keywords),
    )
    guarded(str(path), check_agreement, loaded)
    return loaded


def _position(unit_position: object, path: object) -> int:
    """A unit's position at the site, an integer (not its id as text)."""
    try:
        return operator.index(unit_position)
    except TypeError:
        raise TypeError(f"{path}: a unit is asked by its position at the site (an integer), got "
                        f"{unit_position!r}") from None
