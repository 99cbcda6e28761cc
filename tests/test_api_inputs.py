"""Arrays a notebook hands the Python API: torch tensors (with gradients too), nested lists,
complex numbers, empty arrays and models of another precision, each taken as real numbers
or refused with the package's own error naming what was given."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ndx_encoding_subspace.arrays import real_array
from ndx_encoding_subspace.dstrf import DSTRFParams, dstrf
from ndx_encoding_subspace.errors import InvalidDataError
from ndx_encoding_subspace.nonlinearity.ssrf import SSRFParams, ssrf
from ndx_encoding_subspace.subspace.pca import SubspaceParams, fit_subspaces
from ndx_encoding_subspace.subspace.projection import project, project_direct


def test_real_array_detaches_tensors_and_refuses_what_is_no_real_number():
    grad = torch.ones(3, requires_grad=True) * 2
    np.testing.assert_array_equal(real_array(grad, "x"), [2.0, 2.0, 2.0])
    assert real_array([[1, 2], [3, 4]], "x").shape == (2, 2)
    with pytest.raises(InvalidDataError, match="x: complex numbers"):
        real_array(np.ones(3) + 1j, "x")
    with pytest.raises(InvalidDataError, match="x: values of type <U1, not numbers"):
        real_array(["a", "b"], "x")
    with pytest.raises(InvalidDataError, match="x: not an array of numbers"):
        real_array([[1, 2], [3]], "x")


def test_projection_takes_tensors_and_refuses_filters_of_no_direction():
    rng = np.random.default_rng(0)
    stim, filters = rng.standard_normal((20, 4)), rng.standard_normal((2, 4, 3))
    np.testing.assert_allclose(project(torch.tensor(stim, requires_grad=True), torch.tensor(filters)),
                               project_direct(stim, filters), atol=1e-12)
    with pytest.raises(InvalidDataError, match=r"filters of shape \(0, 4, 3\) hold no direction"):
        project(stim, filters[:0])


def test_subspaces_of_nested_lists_and_ssrf_of_no_bins():
    samples = np.random.default_rng(1).standard_normal((30, 1, 2, 3))
    params = SubspaceParams(n_components=2, noise_repeats=0)
    listed = fit_subspaces(samples.tolist(), params)[0]
    direct = fit_subspaces(samples, params)[0]
    np.testing.assert_allclose(listed.explained_variance, direct.explained_variance)
    with pytest.raises(InvalidDataError, match="at least one bin and one dimension"):
        ssrf(np.zeros((0, 2)), np.zeros(0), SSRFParams())


def test_a_model_of_another_precision_is_named_as_such():
    class Double(torch.nn.Module):
        receptive_field = 3

        def __init__(self) -> None:
            super().__init__()
            self.conv = torch.nn.Conv1d(4, 2, 3)

        def forward(self, x):
            return self.conv(torch.nn.functional.pad(x.transpose(1, 2), (2, 0))).transpose(1, 2)

    stim = [np.random.default_rng(2).random((20, 4))]
    with pytest.raises(InvalidDataError, match=r"Double holds torch.float64 parameters.*model.float\(\)"):
        dstrf(Double().double(), stim, params=DSTRFParams(n_lags=4, device="cpu"))


def test_a_short_description_of_any_value():
    """What the reprs of results objects show: small tensors (with gradients too) as lists,
    large ones by shape, paths whole, long mappings by their keys."""
    from pathlib import Path

    from ndx_encoding_subspace.arrays import short

    assert short(torch.ones(2, requires_grad=True)) == "[1.0, 1.0]"
    assert short(torch.zeros(3, 40)) == "<Tensor 3x40 torch.float32>"
    assert short(np.float64(0.5)) == "0.5" and short(np.array(2.0)) == "2.0" and short(None) == "None"
    long = Path("/data") / ("x" * 80) / "site.results.nwb"
    assert short(long) == repr(str(long))
    assert short({f"k{i}": i for i in range(9)}).startswith("<dict of 9: k0, k1, k2, k3, ...")


def _model():
    from ndx_encoding_subspace.models.params import CNNParams

    torch.manual_seed(0)
    return CNNParams(mix_channels=4, hidden=(4, 4)).build(6, 2)


def test_dstrf_of_a_reversed_view_a_frame_or_a_tensor_with_gradients_equals_the_plain_array():
    import pandas as pd

    stim = np.random.default_rng(0).random((50, 6)).astype(np.float32)
    reversed_view = np.ascontiguousarray(stim[:, ::-1])[:, ::-1]  # same values, negative stride
    model, params = _model(), DSTRFParams(n_lags=30)
    plain = dstrf(model, stim, times=[5, 30], params=params)
    for given in (reversed_view, pd.DataFrame(stim), torch.tensor(stim, requires_grad=True)):
        np.testing.assert_array_equal(dstrf(model, given, times=[5, 30], params=params), plain)
    with pytest.raises(InvalidDataError, match="stimulus 0: complex numbers"):
        dstrf(model, stim + 1j, times=[5], params=params)


def test_a_sound_keeps_real_numbers_in_one_layout_and_a_site_refuses_malformed_units():
    from ndx_encoding_subspace.data.site import SiteData, Sound, UnitInfo

    rng = np.random.default_rng(0)
    spec, counts = rng.random((20, 3)), rng.poisson(1.0, (2, 20, 2)).astype(float)
    sound = Sound("a", spec[:, ::-1], np.asfortranarray(counts))
    assert sound.spectrogram.flags.c_contiguous and sound.counts.flags.c_contiguous
    for bad, said in ((spec + 1j, "complex"), (spec.astype(object), "object"),
                      (np.ma.masked_array(spec, mask=spec > 0.5), "masked")):
        with pytest.raises(InvalidDataError, match=said):
            Sound("a", bad, counts)
    sounds = (Sound("a", spec, counts), Sound("b", spec, counts))
    site = dict(name="s", sounds=sounds, frequencies=np.arange(3.0) + 1, bin_size=0.01,
                estimation=("a",), validation=("b",))
    from ndx_encoding_subspace.pipeline.checks import site_problems

    twice = SiteData(units=UnitInfo.from_ids([4, 4]), **site)  # a joined population may repeat them
    assert "unit ids given more than once: [4]" in site_problems(twice)  # a run refuses them first
    with pytest.raises(InvalidDataError, match="units must be a UnitInfo"):
        SiteData(units=np.arange(2), **site)
    whole = SiteData(units=UnitInfo.from_ids([4, 5]), **site)
    assert whole.select_units([1]).units.ids.tolist() == [5]
    assert whole.select_units(np.array([False, True])).units.ids.tolist() == [5]  # a mask of the units
    for index in ([], [2], [0.0]):
        with pytest.raises(InvalidDataError, match="select_units takes unit positions in 0..1"):
            whole.select_units(index)


def test_depth_summary_refuses_values_of_other_units_and_bins_of_no_width():
    from ndx_encoding_subspace.circuit import summarise_by_depth
    from ndx_encoding_subspace.data.site import UnitInfo

    units = UnitInfo.from_ids([1, 2, 3, 4], depth_um=[100, 300, 500, 700])
    assert summarise_by_depth([1.0, 2, 3, 4], units, bin_um=200)["bins"][0.0]["n"] == 1
    with pytest.raises(InvalidDataError, match="1 values for 4 units"):
        summarise_by_depth([0.5], units)
    for width in (0, -100, float("nan")):
        with pytest.raises(InvalidDataError, match="bin_um must be a positive number"):
            summarise_by_depth([1.0, 2, 3, 4], units, bin_um=width)


def test_a_site_given_with_a_missing_source_file_is_refused_before_any_work(tmp_path):
    from ndx_encoding_subspace.data.site import SiteData, Sound, UnitInfo
    from ndx_encoding_subspace.errors import NotNWBError
    from ndx_encoding_subspace.pipeline import run_site
    from ndx_encoding_subspace.pipeline.stages import analyse_site

    rng = np.random.default_rng(0)
    sounds = tuple(Sound(n, rng.random((40, 3)), rng.poisson(1.0, (2, 40, 2)).astype(float)) for n in "abc")
    site = SiteData("s", sounds, np.arange(3.0) + 1, 0.01, UnitInfo.from_ids([0, 1]), ("a", "b"), ("c",))
    with pytest.raises(NotNWBError, match="missing.nwb: file not found"):
        run_site(tmp_path / "missing.nwb", tmp_path / "out", site=site, progress=False)
    assert not (tmp_path / "out").exists()
    with pytest.raises(TypeError, match="analyse_site: site must be a SiteData"):
        analyse_site(str(tmp_path / "missing.nwb"))


def test_fit_model_of_fortran_order_targets_equals_the_plain_fit():
    from ndx_encoding_subspace.fitting.schedule import TrainingParams, fit_model

    class Conv(torch.nn.Module):
        receptive_field = 3

        def __init__(self) -> None:
            super().__init__()
            self.conv = torch.nn.Conv1d(4, 2, 3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            h = torch.nn.functional.pad(x.transpose(1, 2), (2, 0))
            return torch.nn.functional.softplus(self.conv(h)).transpose(1, 2)

    rng = np.random.default_rng(0)
    inputs = [rng.random((50, 4)).astype(np.float32) for _ in range(5)]
    targets = [rng.poisson(1.0, (50, 2)).astype(np.float32) for _ in range(5)]

    def fitted(y: list[np.ndarray]) -> np.ndarray:
        torch.manual_seed(0)
        model = Conv()
        fit_model(model, inputs, y, TrainingParams(max_epochs=3, patience=2, device="cpu"))
        return torch.cat([p.detach().flatten() for p in model.parameters()]).numpy()

    np.testing.assert_array_equal(fitted([np.asfortranarray(t) for t in targets]), fitted(targets))
