"""Crafted results files are refused before anything is allocated, in one line, exit code 6.

A results file written by the package's own writer is edited with h5py into files that
declare huge layers, 200,000 members, 10,000-deep documents, unknown kinds, shapes that
differ from the stored arrays, and other damage. Each must end in a ResultsError naming
the file and the object (exit code 6 and one line from the command line, no traceback),
leave the file unchanged, and cost memory in proportion to the file, not to its claims.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from ndx_encoding_subspace.cli import main
from ndx_encoding_subspace.data.site import SiteData, Sound, UnitInfo
from ndx_encoding_subspace.errors import ResultsError
from ndx_encoding_subspace.models import (
    LNPopulation,
    MemberAverage,
    PopulationCNN,
    SubspaceNetwork,
    SubspaceNetworks,
    select_units,
    state_arrays,
    to_architecture,
)
from ndx_encoding_subspace.models.schema import check_document
from ndx_encoding_subspace.results import (
    MODULE,
    ModelResult,
    SiteResults,
    UnitNonlinearity,
    UnitSubspace,
    load_results,
    write_results,
)

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

N_UNITS, N_FREQ, N_LAGS = 3, 5, 4
ROOT = f"processing/{MODULE}"
LN = f"{ROOT}/ln_baseline/ln"
CNN = f"{ROOT}/population_cnn/cnn_jk0_init0"
AVERAGED = f"{ROOT}/subspace_models/unit_1"
#: the run's configuration, as the provenance records it
CONFIG = {"training": {"seed": 3}, "dstrf": {"max_samples": 3000}}


def _randomise(module: torch.nn.Module, seed: int) -> torch.nn.Module:
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(0.3 * torch.randn(p.shape, generator=gen))
    return module


def _results() -> SiteResults:
    """Small models of every kind the pipeline writes, with a subspace and an SSRF."""
    rng = np.random.default_rng(0)
    sounds = tuple(Sound(f"s{i}", rng.uniform(0, 1, (30, N_FREQ)).astype(np.float32),
                         rng.poisson(1.0, (2, 30, N_UNITS)).astype(np.float32)) for i in range(3))
    site = SiteData("site-a", sounds, np.geomspace(200, 20000, N_FREQ), 0.01,
                    UnitInfo.from_ids([10, 11, 12]), ("s0", "s1"), ("s2",),
                    source={"name": "site-a", "sha256": "ab" * 32})
    every = np.arange(N_UNITS)
    r, ceiling = rng.uniform(0, 1, N_UNITS), rng.uniform(0.5, 1, N_UNITS)
    models = [
        ModelResult("cnn_jk0_init0", "cnn", _randomise(PopulationCNN(
            N_FREQ, N_UNITS, mix_channels=4, fir_taps=3, hidden=(4, 3)), 1), every,
            scores={"r": r, "ccnorm": r / ceiling, "noise_ceiling": ceiling, "shuffle_floor": np.full(3, .1)},
            training_parameters={"lr": 1e-3}),
        ModelResult("ln", "ln", _randomise(LNPopulation(N_FREQ, N_UNITS, channels=3, taps=N_LAGS), 2),
                    every, scores={"r": rng.uniform(0, 1, N_UNITS)}),
        ModelResult("unit_0", "subspace_nonlinearity", _randomise(SubspaceNetwork(2, hidden=(3, 3)), 3),
                    [0], n_lags=N_LAGS),
        ModelResult("unit_1", "subspace_nonlinearity", MemberAverage(
            [_randomise(SubspaceNetwork(1, hidden=(3, 3)), 4 + i) for i in range(2)]), [1], n_lags=N_LAGS),
    ]
    subspaces = [UnitSubspace(u, rng.normal(size=(2 - u, N_FREQ, N_LAGS)),
                              np.array([0.6, 0.3, 0.1]), np.full(3, 0.2), 0.95,
                              rng.normal(size=(N_FREQ, N_LAGS)), k90=2, k95=2) for u in (0, 1)]
    pairs = np.array([[0, 1]], dtype=np.int32)
    nonlin = [UnitNonlinearity(
        0, "unit_0", np.ones(2, dtype=int), rng.uniform(-1, 1, 2),
        tuning={"bin_edges": np.tile(np.linspace(-1, 1, 5), (2, 1)), "mean": rng.normal(size=(2, 4)),
                "sem": rng.uniform(0, .1, (2, 4)), "count": rng.integers(2, 9, (2, 4))},
        ssrf={"bin_edges": np.tile(np.linspace(-1, 1, 5), (2, 1)), "pairs": pairs,
              "mean": rng.normal(size=(1, 4, 4)), "count": rng.integers(2, 6, (1, 4, 4))})]
    return SiteResults(site=site, models=models, subspaces=subspaces, nonlinearities=nonlin,
                       ssrf_min_count=2, provenance={"config": CONFIG})


@pytest.fixture(scope="module")
def genuine(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, SiteResults]:
    """A results file written by the package's writer, and what was written."""
    results = _results()
    meta = {"subject": {"subject_id": "f1", "species": "Mustela putorius furo", "sex": "F", "age": "P1Y"}}
    path = write_results(results, tmp_path_factory.mktemp("genuine") / "site-a.results.nwb", metadata=meta)
    return path, results


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _replace(f: h5py.File, where: str, data: object, **kwargs: object) -> None:
    attrs = dict(f[where].attrs)
    del f[where]
    f.create_dataset(where, data=data, **kwargs)
    f[where].attrs.update(attrs)


def _text(f: h5py.File, where: str, text: str) -> None:
    _replace(f, where, text, dtype=h5py.string_dtype())


def _document(f: h5py.File, model: str, change: Callable[[dict], object]) -> None:
    """Rewrite ``model``'s architecture document with ``change(doc)`` (in place or returned)."""
    doc = json.loads(f[f"{model}/architecture"][()])
    new = change(doc)
    _text(f, f"{model}/architecture", json.dumps(doc if new is None else new))


def _wide(big: int) -> Callable[[dict], None]:
    """The LN model with every width ``big``: a consistent document of ``big``^2 weights."""
    def change(doc: dict) -> None:
        doc["core"][0]["params"]["n_out"] = big
        doc["core"][1]["params"]["channels"] = big
        doc["core"][2]["params"].update(n_in=big, n_out=big)
        doc["output"]["params"]["n_units"] = big
    return change


def _params(layer: int, **values: object) -> Callable[[dict], None]:
    def change(doc: dict) -> None:
        doc["core"][layer]["params"].update(values)
    return change


def _deep(f: h5py.File) -> None:
    text = ('{"format": "ndx-encoding-subspace/architecture", "version": 1, "core": '
            + "[" * 10_000 + "]" * 10_000 + ', "output": {}}')
    _text(f, f"{LN}/architecture", text)


def _unallocated(f: h5py.File) -> None:
    """A parameter declared 20,000 x 20,000 (1.6 GB) whose chunks were never written."""
    where = f"{LN}/parameters/core_layers.2.linear.weight"
    attrs = dict(f[where].attrs)
    del f[where]
    f.create_dataset(where, shape=(20_000, 20_000), dtype="f4", chunks=(1000, 1000))
    f[where].attrs.update(attrs)


def _linked(f: h5py.File) -> None:
    """One array of 0.5 MB that the file names 400 times (each name is read on its own)."""
    f.create_dataset(f"{ROOT}/block", data=np.zeros(1 << 17, np.float32))
    for i in range(400):
        f[f"{ROOT}/alias_{i}"] = h5py.SoftLink(f"/{ROOT}/block")


def _shape(f: h5py.File) -> None:
    where = f"{LN}/parameters/core_layers.2.linear.weight"
    _replace(f, where, np.ones((N_UNITS + 1, 3), np.float32))


def _strings(f: h5py.File) -> None:
    where = f"{LN}/parameters/core_layers.2.linear.weight"
    _replace(f, where, np.full((N_UNITS, 3), "x", dtype=object), dtype=h5py.string_dtype())


def _nan(f: h5py.File) -> None:
    f[f"{LN}/parameters/output.base"][0] = np.nan


def _renamed(f: h5py.File) -> None:
    f.move(f"{LN}/parameters/output.base", f"{LN}/parameters/output.bias")


def _removed(f: h5py.File) -> None:
    del f[f"{LN}/parameters/core_layers.2.linear.weight"]


def _units(f: h5py.File) -> None:
    f[f"{LN}/units"][0] = 99


def _index(f: h5py.File) -> None:
    index = f[f"{ROOT}/tuning_subspaces/filters_index"]
    index[...] = index[()][::-1]


def _external(f: h5py.File) -> None:
    f[f"{ROOT}/elsewhere"] = h5py.ExternalLink("/etc/hostname", "/")


def _provenance(f: h5py.File) -> None:
    f[f"{ROOT}/provenance/value"][0] = "[" * 10_000 + "]" * 10_000


def _key_twice(f: h5py.File) -> None:
    """A provenance key given twice (readers keeping the first or the last differ)."""
    keys = f[f"{ROOT}/provenance/key"]
    names = [k.decode() if isinstance(k, bytes) else k for k in keys[:]]
    keys[names.index("/input/name")] = "/site"


def _model_of_another_unit(f: h5py.File) -> None:
    models = f[f"{ROOT}/subspace_nonlinearities/model"]
    mine = f[models[0]].name.rsplit("/", 1)[1]
    other = "unit_0" if mine != "unit_0" else "unit_1"
    models[0] = f[f"{ROOT}/subspace_models/{other}"].ref


def _model_not_a_model(f: h5py.File) -> None:
    f[f"{ROOT}/subspace_nonlinearities/model"][0] = f[f"{ROOT}/spectrogram"].ref


#: name -> (edit of the file, the object the message must name, what it must say)
def _fewer_frequencies(f: h5py.File) -> None:
    where = f"{ROOT}/tuning_subspaces/filters"
    shape = f[where].shape
    _replace(f, where, np.zeros((shape[0], shape[1] - 1, *shape[2:]), dtype="f4"))


def _nan_filter(f: h5py.File) -> None:
    f[f"{ROOT}/tuning_subspaces/filters"][0, 0, 0] = np.nan


def _resized(where: str, shape: Callable[[tuple[int, ...]], tuple[int, ...]], value: float = 0.0):
    def edit(f: h5py.File) -> None:
        _replace(f, f"{ROOT}/{where}", np.full(shape(f[f"{ROOT}/{where}"].shape), value,
                                              dtype=f[f"{ROOT}/{where}"].dtype))
    return edit


def _attribute(where: str, key: str, value: object) -> Callable[[h5py.File], None]:
    return lambda f: f[where].attrs.__setitem__(key, value)


def _edited(where: str, change: Callable[[np.ndarray], object]) -> Callable[[h5py.File], None]:
    """The dataset at ``where`` rewritten in place with ``change(its values)``."""
    def edit(f: h5py.File) -> None:
        f[where][...] = change(f[where][()])
    return edit


def _restored(where: str, change: Callable[[np.ndarray], object]) -> Callable[[h5py.File], None]:
    """The dataset at ``where`` stored again as ``change(its values)``, of whatever type that has."""
    def edit(f: h5py.File) -> None:
        values = change(f[where][()])
        text = isinstance(values, list) and values and isinstance(values[0], str)
        _replace(f, where, values, **({"dtype": h5py.string_dtype()} if text else {}))
    return edit


def _overflowing(f: h5py.File) -> None:
    """A number of the subspace parameters beyond a float's range (1e309: infinite in Python)."""
    table = f[f"{ROOT}/tuning_subspaces"]
    doc = json.loads(table.attrs["parameters"])
    doc["variance_threshold"] = "OVER"
    table.attrs["parameters"] = json.dumps(doc).replace('"OVER"', "1e309")


def _retyped(f: h5py.File) -> None:
    """The tuning subspace table marked as a plain DynamicTable of hdmf."""
    table = f[f"{ROOT}/tuning_subspaces"]
    table.attrs["neurodata_type"], table.attrs["namespace"] = "DynamicTable", "hdmf-common"


def _k90_above_k95(f: h5py.File) -> None:
    f[f"{ROOT}/tuning_subspaces/k95"][0] = 0
    f[f"{ROOT}/tuning_subspaces/k90"][0] = 1


def _increasing(f: h5py.File) -> None:
    """Row 0's explained variance in increasing order."""
    end = int(f[f"{ROOT}/tuning_subspaces/explained_variance_index"][0])
    values = f[f"{ROOT}/tuning_subspaces/explained_variance"]
    values[:end] = np.sort(values[:end])


def _swapped_subspace_models(f: h5py.File) -> None:
    """unit_0 (2 inputs) set to predict unit 1 (k = 1), unit_1 to predict unit 0."""
    f[f"{ROOT}/subspace_models/unit_0/units"][0] = 1
    f[f"{AVERAGED}/units"][0] = 0
    models, units = f[f"{ROOT}/subspace_nonlinearities/model"], f[f"{ROOT}/subspace_nonlinearities/units"]
    for row, unit in enumerate(units[:]):  # each nonlinearity's model, the one predicting its unit now
        models[row] = f[f"{ROOT}/subspace_models/unit_{1 - int(unit)}"].ref


CRAFTED: dict[str, tuple[Callable[[h5py.File], None], str, str]] = {
    "filter_with_nan": (_nan_filter, "tuning_subspaces row 0", "filters or mean_dstrf hold NaN or infinite"),
    "sound_bins_outside": (lambda f: f[f"{ROOT}/spectrogram_sounds/start_bin"].__setitem__(0, -50),
                           "spectrogram_sounds row 0", "bins -50 to .* are not a span"),
    "ssrf_pairs_outside": (_resized("subspace_nonlinearities/ssrf_pairs", lambda s: s, 99),
                           "subspace_nonlinearities row 0", "ssrf_pairs name dimensions 99 to 99"),
    "tuning_mean_of_another_shape": (_resized("subspace_nonlinearities/tuning_mean", lambda s: (s[0], 2)),
                                     "subspace_nonlinearities row 0", "tuning_mean of shape .* not match"),
    "huge_dense_layer": (lambda f: _document(f, LN, _wide(100_000)), "ln_baseline/ln (ln): architecture",
                         r"declares 10,0[\d,]+ values over 1 model\(s\), more than 1,073,741,824"),
    "dense_layer_beyond_the_stored_arrays": (
        lambda f: _document(f, LN, _wide(20_000)), "ln_baseline/ln (ln): architecture",
        r"declares 400,[\d,]+ parameter values over 1 model\(s\), more than the 42 stored"),
    "dense_layer_that_does_not_fit": (lambda f: _document(f, LN, _params(2, n_in=100_000, n_out=100_000)),
                                      r"ln_baseline/ln \(ln\): architecture core\[2\] \(dense\)",
                                      "takes 100000 inputs, the layer before gives 3"),
    "200000_members": (lambda f: _document(f, AVERAGED, lambda d: d.update(members=200_000)),
                       r"subspace_models/unit_1 \(subspace_nonlinearity\)",
                       r"'members' must be an integer in 1\.\.10000, got 200000"),
    "members_beyond_the_stored_arrays": (lambda f: _document(f, CNN, lambda d: d.update(members=5000)),
                                         r"population_cnn/cnn_jk0_init0 \(cnn\)",
                                         "over 5000 model.* more than the .* stored"),
    "10000_deep_document": (_deep, r"ln_baseline/ln \(ln\): architecture", "nested 10001 deep"),
    "unknown_kind": (lambda f: _document(f, LN, lambda d: d["core"][1].update(kind="python_eval")),
                     r"ln_baseline/ln \(ln\): architecture core\[1\]", "unknown layer kind 'python_eval'"),
    "declared_shape_differs": (lambda f: _document(f, LN, _params(1, taps=N_LAGS - 1)),
                               r"core\[1\] \(fir\): array core_layers\.1\.weight",
                               r"shape \(3, 1, 4\), the document declares \(3, 1, 3\)"),
    "stored_shape_differs": (_shape, r"core\[2\] \(dense\): array core_layers\.2\.linear\.weight",
                             r"shape \(4, 3\), the document declares \(3, 3\)"),
    "parameters_beyond_the_stored_arrays": (_removed, "ln_baseline/ln", "more than the .* stored"),
    "array_missing": (_renamed, "ln_baseline/ln", "missing from the file: 'output.base'; unexpected "
                                                  "arrays: 'output.bias'"),
    "array_of_strings": (_strings, "ln_baseline/ln", "not as real numbers"),
    "array_with_nan": (_nan, "ln_baseline/ln", "output.base holds NaN or inf"),
    "huge_unwritten_array": (_unallocated, "ln_baseline/ln/parameters/core_layers.2.linear.weight: "
                             "1,600,000,000", "out of proportion to the"),
    "one_array_linked_400_times": (_linked, "", "out of proportion to the"),
    "not_an_object": (lambda f: _text(f, f"{LN}/architecture", "[1, 2, 3]"), "ln_baseline/ln",
                      "architecture: expected a JSON object, got list"),
    "not_json": (lambda f: _text(f, f"{LN}/architecture", '{"format": '), "ln_baseline/ln",
                 "architecture: not valid JSON"),
    "nan_in_document": (lambda f: _text(f, f"{LN}/architecture", f[f"{LN}/architecture"][()].decode()
                                        .replace('"taps": 4', '"taps": NaN')), "ln_baseline/ln",
                        "not valid JSON .*NaN is not a JSON number"),
    "infinite_width": (lambda f: _text(f, f"{LN}/architecture", f[f"{LN}/architecture"][()].decode()
                                       .replace('"taps": 4', '"taps": 1e999')),
                       r"ln_baseline/ln \(ln\): architecture", "number 1e999 is beyond a float's range"),
    "float_width": (lambda f: _document(f, LN, _params(1, taps=4.0)), r"core\[1\] \(fir\)",
                    r"parameter taps must be an integer in 1\.\.10000, got 4\.0"),
    "unknown_key": (lambda f: _document(f, LN, lambda d: d.update(code={"eval": [1]})), "ln_baseline/ln",
                    "architecture document keys .* differ"),
    "mistyped_parameter": (lambda f: _document(f, LN, _params(2, bias="yes")), r"core\[2\] \(dense\)",
                           "parameter bias must be a boolean, got 'yes'"),
    "unknown_parameter": (lambda f: _document(f, LN, _params(1, dilation=[2])), r"core\[1\] \(fir\)",
                          "unknown parameter"),
    "training_parameters_not_an_object": (
        lambda f: _text(f, f"{CNN}/training_parameters", "[1]"), "population_cnn/cnn_jk0_init0",
        "training_parameters: expected a JSON object"),
    "units_outside_the_table": (_units, "ln_baseline/ln", "rows outside the Units table of 3 units"),
    "filters_of_another_size": (_fewer_frequencies, "tuning_subspaces row 0",
                                "filters of shape .* do not match its mean_dstrf"),
    "column_missing": (lambda f: f.__delitem__(f"{ROOT}/tuning_subspaces/k"), f"{ROOT}/tuning_subspaces",
                       "column 'k' is listed by the table but absent"),
    "ragged_index_backwards": (_index, "tuning_subspaces/filters_index", "ragged index decreases"),
    "link_to_another_file": (_external, f"{ROOT}/elsewhere", "link to another file"),
    "deep_provenance_value": (_provenance, f"{ROOT}/provenance", "nested 10000 deep"),
    # numbers that cannot be
    "reliability_above_one": (_resized("tuning_subspaces/reliability", lambda s: s, 1.7),
                              "tuning_subspaces row 0", "reliability 1.7 is outside"),
    "k_not_the_filters": (_resized("tuning_subspaces/k", lambda s: s, 99),
                          "tuning_subspaces row 0", "k is 99 where the row holds"),
    "variance_past_one": (_resized("tuning_subspaces/explained_variance", lambda s: s, 0.9),
                          "tuning_subspaces row 0", "explained_variance holds values outside"),
    "negative_samples": (_resized("tuning_subspaces/n_samples", lambda s: s, -5),
                         "tuning_subspaces row 0", "counts of samples that cannot be"),
    "dimension_sign_77": (_resized("subspace_nonlinearities/dimension_sign", lambda s: s, 77),
                          "subspace_nonlinearities row 0", "dimension_sign holds values other than"),
    "correlation_of_5": (_resized("population_cnn/cnn_jk0_init0/scores/r", lambda s: s, 5),
                         r"population_cnn/cnn_jk0_init0 \(cnn\)", r"correlations outside \[-1, 1\]"),
    "attribute_of_another_type": (lambda f: f[f"{ROOT}/spectrogram"].attrs.__setitem__("bin_size", "ten ms"),
                                  f"{ROOT}/spectrogram", "incorrect type for 'bin_size'"),
    "negative_repeats": (_resized("spectrogram_sounds/n_repeats", lambda s: s, -4),
                         "spectrogram_sounds", "n_repeats holds negative"),
    "negative_tuning_sem": (_resized("subspace_nonlinearities/tuning_sem", lambda s: s, -1.0),
                            "subspace_nonlinearities row 0", "tuning_sem holds infinite or negative"),
    "infinite_tuning_mean": (_resized("subspace_nonlinearities/tuning_mean", lambda s: s, np.inf),
                             "subspace_nonlinearities row 0", "tuning_mean holds infinite values"),
    "infinite_spectrogram": (_resized("spectrogram/data", lambda s: s, np.inf),
                             f"{ROOT}/spectrogram", "data holds infinite values"),
    "nan_in_spectrogram": (_edited(f"{ROOT}/spectrogram/data", lambda d: np.where(d == d.flat[3], np.nan, d)),
                           f"{ROOT}/spectrogram", "data holds NaN values"),
    "frequencies_reversed": (lambda f: _replace(f, f"{ROOT}/spectrogram/frequencies",
                                                f[f"{ROOT}/spectrogram/frequencies"][:][::-1].copy()),
                             f"{ROOT}/spectrogram", "frequencies are not positive and increasing"),
    "repeated_unit_ids": (lambda f: _replace(f, "units/id", np.zeros_like(f["units/id"][:])),
                          "units", "ids repeated"),
    "nonlinearity_without_subspace": (lambda f: f.__delitem__(f"{ROOT}/tuning_subspaces"), ROOT,
                                      "unit 0 has no tuning subspace in the file"),
    "link_to_a_missing_model": (lambda f: f.__delitem__(f"{ROOT}/population_cnn"),
                                f"{ROOT}/tuning_subspaces/source_models",
                                "link to /processing/encoding_subspace/population_cnn, which the file does "
                                "not hold"),
    "negative_min_count": (lambda f: f[f"{ROOT}/subspace_nonlinearities"].attrs.__setitem__("min_count", -5),
                           f"{ROOT}/subspace_nonlinearities: min_count", "-5 is no count"),
    "model_bin_size_nan": (lambda f: f[CNN].attrs.__setitem__("bin_size", np.nan),
                           r"population_cnn/cnn_jk0_init0 \(cnn\)", "bin_size nan is not a positive"),
    # objects that contradict each other, and names outside their vocabulary
    "unit_of_two_subspace_models": (_edited(f"{AVERAGED}/units", lambda a: a * 0),
                                    r"subspace_models/unit_1 \(subspace_nonlinearity\)",
                                    "unit 0 is predicted by subspace_models/unit_0 too"),
    "subspace_model_inputs_not_k": (_swapped_subspace_models,
                                    r"subspace_models/unit_0 \(subspace_nonlinearity\)",
                                    "takes 2 inputs, where unit 1's subspace has k = 1 filters"),
    "spectrogram_rate_0": (_attribute(f"{ROOT}/spectrogram/starting_time", "rate", 0.0),
                           f"{ROOT}/spectrogram", "rate 0 Hz is not one bin per its bin_size 0.01 s"),
    "spectrogram_rate_1000": (_attribute(f"{ROOT}/spectrogram/starting_time", "rate", 1000.0),
                              f"{ROOT}/spectrogram", "rate 1000 Hz is not one bin per its bin_size 0.01 s"),
    "spectrogram_n_channels_7": (_attribute(f"{ROOT}/spectrogram", "n_channels", 7), f"{ROOT}/spectrogram",
                                 f"n_channels 7 differs from the {N_FREQ} channels stored"),
    "model_bin_size_not_the_spectrogram": (_attribute(CNN, "bin_size", 0.05),
                                           r"population_cnn/cnn_jk0_init0 \(cnn\)",
                                           "bin_size 0.05 s differs from the 0.01 s of its input"),
    "n_lags_below_the_receptive_field": (_attribute(LN, "n_lags", 2), r"ln_baseline/ln \(ln\)",
                                         f"n_lags 2 is fewer than the {N_LAGS} bins of the model's"),
    "unknown_role": (_attribute(CNN, "role", "bogus"), r"population_cnn/cnn_jk0_init0 \(bogus\)",
                     "role 'bogus' is not the role 'cnn' of collection population_cnn"),
    "role_of_another_collection": (_attribute(CNN, "role", "ln"), r"population_cnn/cnn_jk0_init0 \(ln\)",
                                   "role 'ln' is not the role 'cnn' of collection population_cnn "
                                   r"\(models of role 'ln' belong in ln_baseline\)"),
    "negative_jackknife_index": (_attribute(CNN, "jackknife_index", -4),
                                 r"population_cnn/cnn_jk0_init0 \(cnn\)",
                                 "jackknife_index must be an integer of at least 0, got -4"),
    "unknown_reliability_rule": (_edited(f"{ROOT}/tuning_subspaces/reliability_rule",
                                         lambda a: ["bogus"] * len(a)), "tuning_subspaces row 0",
                                 "reliability_rule 'bogus' is none of members, split_halves, unknown"),
    "unknown_split": (_edited(f"{ROOT}/spectrogram_sounds/split", lambda a: ["bogus"] * len(a)),
                      "spectrogram_sounds row 0", "split 'bogus' is none of estimation, validation, unused"),
    "shuffle_floor_of_7": (_resized("population_cnn/cnn_jk0_init0/scores/shuffle_floor", lambda s: s, 7),
                           r"population_cnn/cnn_jk0_init0 \(cnn\)", r"shuffle_floor.* correlations outside"),
    "ccnorm_of_7": (_resized("population_cnn/cnn_jk0_init0/scores/ccnorm", lambda s: s, 7),
                    r"population_cnn/cnn_jk0_init0 \(cnn\)",
                    "ccnorm holds values whose product with noise_ceiling passes 1"),
    "more_samples_than_bins": (_resized("tuning_subspaces/n_outliers", lambda s: s, 10**6),
                               "tuning_subspaces row 0", "count more dSTRF samples than the 90 the run"),
    "negative_source_row": (_edited("units/source_row", lambda a: a * 0 - 5), "units",
                            "'source_row' holds negative rows"),
    "ssrf_edges_decreasing": (_edited(f"{ROOT}/subspace_nonlinearities/ssrf_bin_edges", lambda a: a[:, ::-1]),
                              "subspace_nonlinearities row 0", "ssrf_bin_edges decrease along a dimension"),
    "filters_scaled_1e6": (_edited(f"{ROOT}/tuning_subspaces/filters", lambda a: a * 1e6),
                           "tuning_subspaces row 0", r"filters of norm .*e\+06, not directions"),
    "number_beyond_a_float": (_overflowing, "tuning_subspaces: parameters", "number 1e309 is beyond"),
    "units_table_removed": (lambda f: f.__delitem__("units"), "units: attribute 'table'",
                            "points to an object the file does not hold"),
    "subspace_models_removed": (lambda f: f.__delitem__(f"{ROOT}/subspace_models"),
                                "subspace_nonlinearities/model: row 0",
                                "points to an object the file does not hold"),
    "tuning_subspaces_of_another_type": (_retyped, "processing/encoding_subspace/tuning_subspaces",
                                         "a DynamicTable, not the TuningSubspaceTable"),
    "k90_above_k95": (_k90_above_k95, "tuning_subspaces row 0", "k90 1 is more than k95 0"),
    "variance_increasing": (_increasing, "tuning_subspaces row 0", "not in decreasing order"),
    "sounds_overlapping": (_edited(f"{ROOT}/spectrogram_sounds/start_bin", lambda a: a * 0),
                           "spectrogram_sounds row 1", "overlap another sound's"),
    # the specification's types: a count as floating point or a number as text is not converted
    "k_as_float": (_restored(f"{ROOT}/tuning_subspaces/k", lambda a: a + 0.7), "tuning_subspaces/k",
                   "stored as float64, where a TuningSubspaceTable's 'k' holds int32"),
    "threshold_as_text": (_restored(f"{ROOT}/tuning_subspaces/threshold", lambda a: [str(v) for v in a]),
                          "tuning_subspaces/threshold", "stored as text, where a TuningSubspaceTable's"),
    "unit_ids_as_text": (_restored("units/id", lambda a: [str(v) for v in a]), "units/id",
                         "stored as text, where a Units's 'id' holds int"),
    "provenance_key_twice": (_key_twice, f"{ROOT}/provenance", "provenance key '/site' is given twice"),
    "json_key_twice": (_attribute(f"{ROOT}/tuning_subspaces", "parameters",
                                  '{"reliability_threshold": 0.5, "reliability_threshold": 0.99}'),
                       "tuning_subspaces: parameters", "key 'reliability_threshold' given twice"),
    "nonlinearity_of_another_unit_s_model": (_model_of_another_unit, "subspace_nonlinearities row 0",
                                             "its model 'unit_1' predicts units table row.s. .1., not the "
                                             "row's unit .0."),
    "nonlinearity_model_no_model": (_model_not_a_model, "subspace_nonlinearities row 0",
                                    "its model 'spectrogram' is no subspace model"),
    "sound_named_twice": (_edited(f"{ROOT}/spectrogram_sounds/sound", lambda a: [a[0]] * len(a)),
                          "spectrogram_sounds row 1", "is named twice"),
}


def _craft(genuine: Path, folder: Path, name: str) -> Path:
    path = folder / f"{name}.results.nwb"
    shutil.copyfile(genuine, path)
    with h5py.File(path, "r+") as f:
        CRAFTED[name][0](f)
    return path


@pytest.fixture(scope="module")
def crafted(genuine, tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, str]]:
    """name -> (crafted file, its sha256)."""
    folder = tmp_path_factory.mktemp("crafted")
    out = {}
    for name in CRAFTED:
        path = _craft(genuine[0], folder, name)
        out[name] = (path, _sha256(path))
    return out


def test_the_genuine_file_loads_and_predicts_identically(genuine) -> None:
    path, results = genuine
    loaded = load_results(path)
    written = {m.name: m for m in results.models}
    assert sorted(m.name for m in loaded.models) == sorted(written)
    x = np.random.default_rng(1).uniform(0, 1, (2, 25, N_FREQ)).astype(np.float32)
    for model in loaded.models:
        original = written[model.name]
        assert set(state_arrays(model.module)) == set(state_arrays(original.module))
        for key, value in state_arrays(original.module).items():
            np.testing.assert_array_equal(state_arrays(model.module)[key], value)
        stim = x if model.role != "subspace_nonlinearity" else x[..., : original.module.n_inputs]
        np.testing.assert_array_equal(model.predict(stim), original.predict(stim))
        np.testing.assert_array_equal(model.unit_positions, original.unit_positions)
    assert loaded.provenance["config"] == CONFIG


@pytest.mark.parametrize("make", [
    lambda: PopulationCNN(16, 7, mix_channels=10, fir_taps=5, hidden=(12, 9)),
    lambda: PopulationCNN(8, 4, params=None, mix_channels=3, fir_taps=2, hidden=(2, 2)),
    lambda: LNPopulation(16, 7, channels=8, taps=4),
    lambda: SubspaceNetwork(3),
    lambda: SubspaceNetworks([2, 4, 1], hidden=(5, 3)),
    lambda: MemberAverage([SubspaceNetwork(3, hidden=(4, 2)) for _ in range(3)]),
    lambda: select_units(LNPopulation(6, 5, channels=2, taps=3), [4, 1]),
])
def test_the_schema_declares_exactly_the_arrays_of_every_model_kind(make) -> None:
    model = make()
    layout = check_document(json.loads(json.dumps(to_architecture(model))))
    declared = {key: shape for key, shape, _ in layout.shapes()}
    assert declared == {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert layout.n_parameters == sum(v.numel() for v in model.state_dict().values())


@pytest.mark.parametrize("name", CRAFTED)
def test_crafted_file_is_refused_naming_the_file_and_the_object(crafted, name) -> None:
    path, digest = crafted[name]
    _, obj, says = CRAFTED[name]
    with pytest.raises(ResultsError) as err:
        load_results(path)
    message = str(err.value)
    assert "\n" not in message and len(message) < 600, message
    assert message.startswith(f"{path}: "), message
    assert obj in message or re.search(obj, message), message
    assert re.search(says, message), message
    assert _sha256(path) == digest


@pytest.mark.parametrize("name", CRAFTED)
def test_report_of_a_crafted_file_exits_6_in_one_line(crafted, name, capsys, tmp_path) -> None:
    path, digest = crafted[name]
    assert main(["report", str(path), "--out", str(tmp_path / "report.html")]) == 6
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"encoding-subspace: error: {path}: "), err
    assert "Traceback" not in err
    assert not (tmp_path / "report.html").exists()
    assert _sha256(path) == digest


@pytest.mark.parametrize("name", ["huge_dense_layer", "200000_members", "10000_deep_document"])
def test_the_command_line_process_exits_6_without_a_traceback(crafted, name, tmp_path) -> None:
    path, digest = crafted[name]
    done = subprocess.run([sys.executable, "-m", "ndx_encoding_subspace.cli", "report", str(path),
                           "--out", str(tmp_path / "report.html")],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 6, done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("encoding-subspace: error: "), done.stderr
    assert _sha256(path) == digest


def test_refusals_cost_memory_in_proportion_to_the_file(genuine, crafted) -> None:
    """In a fresh process: after one genuine load, refusing the crafted files that claim
    gigabytes raises the peak resident memory by a few MB at most (and Python's own
    allocations, numpy's included, by less)."""
    names = ["huge_dense_layer", "dense_layer_beyond_the_stored_arrays", "200000_members",
             "members_beyond_the_stored_arrays", "huge_unwritten_array", "10000_deep_document"]
    script = textwrap.dedent("""
        import json, resource, sys, warnings
        warnings.simplefilter("ignore")
        from ndx_encoding_subspace.errors import ResultsError
        from ndx_encoding_subspace.results import load_results
        import tracemalloc
        load_results(sys.argv[1])
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        refused, traced = [], 0
        for path in sys.argv[2:]:
            tracemalloc.start()
            try:
                load_results(path)
            except ResultsError:
                refused.append(path)
            traced = max(traced, tracemalloc.get_traced_memory()[1])
            tracemalloc.stop()
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(json.dumps({"refused": len(refused), "grown_kib": after - before, "traced": traced}))
    """)
    done = subprocess.run([sys.executable, "-c", script, str(genuine[0]),
                           *(str(crafted[n][0]) for n in names)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout.strip().splitlines()[-1])
    assert got["refused"] == len(names)
    assert got["grown_kib"] < 16 * 1024 and got["traced"] < 4 << 20, got


def test_the_limits_follow_the_file_not_a_constant(genuine, crafted, monkeypatch) -> None:
    """Without the fixed floor, a genuine file still fits in the budget its own size gives,
    and the crafted one does not."""
    from ndx_encoding_subspace.results import limits

    monkeypatch.setattr(limits, "FLOOR_BYTES", 0)
    assert len(load_results(genuine[0]).models) == 4
    with pytest.raises(ResultsError, match="out of proportion"):
        load_results(crafted["huge_unwritten_array"][0])


def test_more_outliers_than_samples_kept_is_a_possible_file(genuine, tmp_path) -> None:
    """``subspace.outlier_sd`` below 1 drops most samples: such a file loads."""
    path = tmp_path / "outliers.results.nwb"
    shutil.copyfile(genuine[0], path)
    with h5py.File(path, "r+") as f:
        kept = f[f"{ROOT}/tuning_subspaces/n_samples"][0]
        f[f"{ROOT}/tuning_subspaces/n_outliers"][0] = 3 * kept + 1
    assert load_results(path).subspaces[0].n_outliers == 3 * kept + 1


POSSIBLE: dict[str, Callable[[h5py.File], None]] = {
    "role_of_release_0_1_0": _attribute(CNN, "role", "population_cnn"),
    "ssrf_of_a_constant_projection": _edited(f"{ROOT}/subspace_nonlinearities/ssrf_bin_edges",
                                             lambda a: np.full_like(a, 0.5)),
    "ccnorm_past_1_by_noise": lambda f: (_edited(f"{CNN}/scores/noise_ceiling", lambda a: a * 0 + 0.5)(f),
                                         _edited(f"{CNN}/scores/ccnorm", lambda a: a * 0 + 1.5)(f)),
}


@pytest.mark.parametrize("name", POSSIBLE)
def test_possible_values_load(genuine, tmp_path, name) -> None:
    """The 0.1.0 name of the CNN role, SSRF edges of a constant projection (all equal) and
    a CCnorm above 1 under a low noise ceiling are values the package can write."""
    path = tmp_path / f"{name}.results.nwb"
    shutil.copyfile(genuine[0], path)
    with h5py.File(path, "r+") as f:
        POSSIBLE[name](f)
    assert len(load_results(path).models) == 4


def test_a_file_pynwb_cannot_build_is_closed_before_the_error(tmp_path: Path) -> None:
    """A results file whose objects pynwb cannot build is refused and closed at once, so the
    same process can write a file over it (the error's traceback would keep it open)."""
    import warnings

    from pynwb import NWBHDF5IO

    from ndx_encoding_subspace.testing.mock import mock_results_nwbfile

    path = tmp_path / "bad.results.nwb"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with NWBHDF5IO(str(path), "w") as io:
            io.write(mock_results_nwbfile())
    with h5py.File(path, "a") as f:  # a model's description stored as a number
        models = f["processing/encoding_subspace/population_cnn"]
        models[sorted(models)[0]].attrs["description"] = np.int64(3)
    with pytest.raises(ResultsError, match="cannot read as NWB"):
        load_results(path)
    with h5py.File(path, "a"):  # no collection needed first
        pass


def test_a_model_tensor_stored_as_opaque_bytes_is_named(tmp_path: Path) -> None:
    """A tensor replaced by opaque bytes (a pickle, say) is refused naming it; nothing of it is
    read, let alone unpickled."""
    import warnings

    from pynwb import NWBHDF5IO

    from ndx_encoding_subspace.testing.mock import mock_results_nwbfile

    path = tmp_path / "opaque.results.nwb"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with NWBHDF5IO(str(path), "w") as io:
            io.write(mock_results_nwbfile())
    with h5py.File(path, "a") as f:
        models = f["processing/encoding_subspace/population_cnn"]
        group = models[sorted(models)[0]]["parameters"]
        name = sorted(group)[-1]
        attrs = dict(group[name].attrs)
        del group[name]
        ds = group.create_dataset(name, data=np.void(b"\x80\x04opaque"))
        for key, value in attrs.items():
            ds.attrs[key] = value
    with pytest.raises(ResultsError, match=rf"parameters/{re.escape(name)}: a model tensor stored as \|V\d+"):
        load_results(path)
