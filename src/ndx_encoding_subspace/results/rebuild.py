"""Models of a results file rebuilt from their documents and arrays, each checked first.

For every ``EncodingModel``: its architecture document is parsed with bounded size and
nesting (:func:`.limits.parse_json`) and checked against the schema
(:mod:`~ndx_encoding_subspace.models.schema`); its units, outputs and ``n_lags`` against
the file (``n_lags`` at least the receptive field, the bin size its spectrogram's, fold
and initialisation indexes not negative); the shapes and dtypes of its stored arrays
(metadata only) against what the document declares. Only then is the module built and
its arrays read, so a model costs memory in proportion to the arrays the file holds.
Helpers shared with the loader turn the errors of damaged objects into
:class:`~ndx_encoding_subspace.errors.ResultsError` naming the file and the object.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from ..errors import ConfigError, ResultsError
from ..extension import EncodingModel
from ..models.schema import check_stored, short
from .bundle import ModelResult
from .limits import MAX_JSON_DEPTH, one_line, parse_json
from .provenance import unflatten

__all__ = ["check_kind", "read_model", "read_provenance", "guarded", "rows_in", "strings", "json_object",
           "ARCHITECTURE_DEPTH", "MAX_LAGS"]

#: deepest nesting of an architecture document (the package's own are 5 deep)
ARCHITECTURE_DEPTH = 8
#: largest number of input bins a stored model may declare
MAX_LAGS = 100_000
#: errors of reading damaged objects, turned into ResultsError naming the object
_DATA_ERRORS = (KeyError, IndexError, TypeError, ValueError, AttributeError, OSError, RuntimeError,
                OverflowError)


def json_object(text: Any, where: str, stage: str = "") -> dict[str, Any]:
    """A JSON object of the file ({} when absent); with ``stage`` (``subspace``, ``ssrf``) the
    parameters of that stage, whose values this release knows checked for type and range as
    when they are made (keys of other releases are kept as they are)."""
    document = {} if text is None else parse_json(text, where)
    if stage:
        from ..nonlinearity.ssrf import SSRFParams
        from ..subspace.params import SubspaceParams

        kind = {"subspace": SubspaceParams, "ssrf": SSRFParams}[stage]
        known = {f.name for f in dataclasses.fields(kind)}
        try:
            kind.from_dict({k: v for k, v in document.items() if k in known})
        except ConfigError as err:
            raise ResultsError(f"{where}: {err}") from None
    return document


def strings(values: Any) -> tuple[str, ...]:
    """Text values of the file (a string, or an array of strings or bytes) as a tuple."""
    if values is None:
        return ()
    if isinstance(values, str | bytes):
        values = [values]
    return tuple(v.decode() if isinstance(v, bytes) else str(v) for v in values[:])


def _fit_scalars(arrays: dict[str, np.ndarray], own: dict[str, Any]) -> dict[str, np.ndarray]:
    """Give one-element tensors stored as scalars back their shape (nothing else changes).

    ``EncodingModel.state_dict`` returns every tensor with its stored shape; only files whose
    size-1 tensors were written as 0-d datasets (e.g. exported after an earlier version of
    this package read them as scalars) need this."""
    out = dict(arrays)
    for key, ref in own.items():
        value = out.get(key)
        if value is not None and value.ndim == 0 and ref.numel() == 1:
            out[key] = value.reshape(tuple(ref.shape))
    return out


def check_kind(name: str, obj: Any, where: str) -> None:
    """Refuse an object of the results module whose fixed name (``tuning_subspaces``...)
    holds another type than a results file's."""
    from ..extension import SiteSubspace, SubspaceNonlinearityTable, TuningSubspaceTable

    kinds = {"tuning_subspaces": TuningSubspaceTable, "subspace_nonlinearities": SubspaceNonlinearityTable,
             "site_subspace": SiteSubspace}
    if name in kinds and not isinstance(obj, kinds[name]):
        raise ResultsError(f"{where}: a {type(obj).__name__}, not the {kinds[name].__name__} of a "
                           "results file")


def guarded(where: str, read: Any, *args: Any) -> Any:
    """``read(*args)``, any error of a damaged object raised as ResultsError naming ``where``."""
    try:
        return read(*args)
    except ResultsError as err:
        raise ResultsError(f"{where}: {err}") from None
    except _DATA_ERRORS as err:
        raise ResultsError(f"{where}: cannot be loaded ({type(err).__name__}: {one_line(err)})") from None


def rows_in(rows: np.ndarray, n_units: int, what: str) -> np.ndarray:
    """``rows`` (units table rows), checked to lie in the table."""
    rows = np.asarray(rows, dtype=np.int64).reshape(-1)
    if rows.size and (rows.min() < 0 or rows.max() >= n_units):
        raise ResultsError(f"{what}: rows outside the Units table of {n_units} units")
    return rows


def _metadata(em: EncodingModel) -> tuple[dict[str, tuple[int, ...]], dict[str, np.dtype]]:
    """Shape and dtype of every stored tensor, from the file's metadata (no data is read)."""
    shapes, dtypes = {}, {}
    for key, param in em.model_parameters.items():
        data = param.data
        if not (hasattr(data, "shape") and hasattr(data, "dtype")):
            data = np.asarray(data)  # a scalar, read with its value
        shapes[key] = tuple(int(s) for s in data.shape)
        dtypes[key] = data.dtype
    return shapes, dtypes


def _scores(em: EncodingModel, n_out: int) -> dict[str, np.ndarray]:
    if em.scores is None:
        return {}
    scores = {k: np.asarray(em.scores[k].data[:]) for k in em.scores.colnames}
    for key, values in scores.items():
        if values.shape != (n_out,) or values.dtype.kind not in "fiu":
            raise ResultsError(f"scores: column {short(key)} holds {values.dtype} of shape "
                               f"{values.shape}, not one number per each of the {n_out} outputs")
        if values.dtype.kind == "f" and np.isinf(values).any():  # NaN: a score not defined
            raise ResultsError(f"scores: column {short(key)} holds infinite values")
        finite = values[np.isfinite(values)] if values.dtype.kind == "f" else values
        if key in _CORRELATIONS and finite.size and np.abs(finite).max() > 1 + 1e-4:
            raise ResultsError(f"scores: column {short(key)} holds correlations outside [-1, 1]")
    if "ccnorm" in scores and "noise_ceiling" in scores:
        # CCnorm is the raw correlation over the noise ceiling, so |CCnorm| x ceiling <= 1;
        # CCnorm alone has no bound (it passes 1 by noise, and grows as the ceiling shrinks)
        raw = np.abs(scores["ccnorm"] * scores["noise_ceiling"].astype(np.float64))
        if np.nanmax(np.append(raw, 0.0)) > 1 + 1e-4:
            raise ResultsError("scores: column ccnorm holds values whose product with noise_ceiling "
                               "passes 1 (a correlation over 1)")
    return scores


#: score columns that are correlation coefficients (CCnorm may pass 1 by noise);
#: the shuffle floor is a percentile of correlations
_CORRELATIONS = ("r", "r_floor", "shuffle_floor", "ccraw", "noise_ceiling")


def _check_record(em: EncodingModel, receptive_field: int) -> None:
    """The model's ``n_lags`` (the input bins it sees) no fewer than its receptive field,
    its bin size its input spectrogram's (where linked), its jackknife fold and
    initialisation (where stored) not negative."""
    theirs = getattr(em.spectrogram, "bin_size", None)
    if (isinstance(theirs, int | float | np.number) and not isinstance(theirs, bool) and np.isfinite(theirs)
            and theirs > 0
            and not np.isclose(float(em.bin_size), float(theirs), rtol=1e-6, atol=0)):
        raise ResultsError(f"bin_size {float(em.bin_size):g} s differs from the {float(theirs):g} s of "
                           "its input spectrogram")
    if em.n_lags < receptive_field:
        raise ResultsError(f"n_lags {em.n_lags} is fewer than the {receptive_field} bins of the "
                           "model's receptive field")
    for name in ("jackknife_index", "init_index"):
        value = getattr(em, name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | np.integer)
                                  or value < 0):
            raise ResultsError(f"{name} must be an integer of at least 0, got {short(value)}")


def _read_model(em: EncodingModel, n_units: int) -> ModelResult:
    """One model, checked before anything is allocated (messages without the location)."""
    # here, not at the top: the viewers read rows through this module, with the viz extra alone
    from ..models.architecture import from_architecture, load_state, validate_architecture

    doc = parse_json(em.architecture, "architecture", max_depth=ARCHITECTURE_DEPTH)
    layout = validate_architecture(doc)
    check_stored(layout, *_metadata(em))
    rows = rows_in(em.unit_rows(), n_units, "units")
    if rows.size != layout.n_units:
        raise ResultsError(f"units: {rows.size} rows for the {layout.n_units} outputs of the architecture")
    size = em.bin_size
    if not (isinstance(size, float | int | np.number) and np.isfinite(size) and size > 0):
        raise ResultsError(f"bin_size {short(size if isinstance(size, str) else float(size))} is not a "
                           "positive number of seconds")
    n_lags = em.n_lags
    if isinstance(n_lags, bool) or not isinstance(n_lags, int | np.integer) or not 0 <= n_lags <= MAX_LAGS:
        raise ResultsError(f"n_lags must be an integer in 0..{MAX_LAGS}, got {short(n_lags)}")
    module = from_architecture(doc)
    _check_record(em, int(getattr(module, "receptive_field", 1)))
    load_state(module, _fit_scalars(em.state_dict(), module.state_dict()))
    module.eval()
    log = em.training_log.get_loss_curves() if em.training_log is not None else {}
    return ModelResult(
        name=em.name, role=em.role, module=module, unit_positions=rows,
        fit_log=log, scores=_scores(em, rows.size), seed=em.seed, jackknife_index=em.jackknife_index,
        init_index=em.init_index, estimation_sounds=strings(em.estimation_sounds),
        early_stopping_sounds=strings(em.early_stopping_sounds),
        validation_sounds=strings(em.validation_sounds),
        training_parameters=json_object(em.training_parameters, "training_parameters"),
        package_versions=json_object(em.package_versions, "package_versions"),
        description=em.description, n_lags=int(n_lags), architecture=doc,
    )


def read_model(em: EncodingModel, where: str, n_units: int) -> ModelResult:
    """One stored model as a :class:`ModelResult` with its module rebuilt.

    Parameters
    ----------
    em : EncodingModel
        The model as pynwb read it (its arrays not yet read).
    where : str
        The file and the model's path in it, for messages (its role is added).
    n_units : int
        Rows of the file's Units table.

    Raises
    ------
    ResultsError
        Anything that does not pass the checks of the module's description, or a damaged
        object; the message names the file, the model, its role and the layer.
    """
    return guarded(f"{where} ({one_line(em.role, 60)})", _read_model, em, n_units)


def read_provenance(obj: Any) -> dict[str, Any]:
    """The provenance document, each key and value checked before it is unpacked.

    Raises
    ------
    ResultsError
        A key nested deeper than :data:`.limits.MAX_JSON_DEPTH`, a value that is not
        JSON of bounded depth, or rows that do not unpack into one document.
    """
    rows = list(zip(strings(obj["key"].data), strings(obj["value"].data)))
    for key, value in rows:
        if key.count("/") > MAX_JSON_DEPTH:
            raise ResultsError(f"key {short(key)} is nested deeper than {MAX_JSON_DEPTH}")
        parse_json(value, f"value of {short(key)}", kind=object)
    try:
        return unflatten(rows)
    except (ValueError, IndexError, KeyError, TypeError, AttributeError) as err:
        raise ResultsError(one_line(err)) from None
