"""dSTRF: exact gradients against a one-bin-at-a-time autograd reference."""

from __future__ import annotations

import logging
import subprocess
import sys

import numpy as np
import pytest
import torch
from torch import nn

from ndx_encoding_subspace.dstrf import layers as dstrf_layers
from ndx_encoding_subspace.dstrf.ensemble import ensemble_dstrf, ensemble_statistics, model_scales, shrink
from ndx_encoding_subspace.dstrf.gradients import dstrf, iter_dstrf_chunks
from ndx_encoding_subspace.dstrf.params import CPU_CHUNK, DEVICE_CHUNK, DSTRFParams, sample_times
from ndx_encoding_subspace.dstrf.stages import _params, receptive_field
from ndx_encoding_subspace.errors import ConfigError
from ndx_encoding_subspace.models import LNPopulation, PopulationCNN


class CausalFIR(nn.Module):
    """Depthwise causal FIR over time, [B, T, C] -> [B, T, C]."""

    def __init__(self, channels: int, taps: int) -> None:
        super().__init__()
        self.taps = taps
        self.weight = nn.Parameter(torch.randn(channels, 1, taps) / taps**0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = nn.functional.pad(x.transpose(1, 2), (self.taps - 1, 0))
        return nn.functional.conv1d(y, self.weight, groups=self.weight.shape[0]).transpose(1, 2)


class ShiftedReLU(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.shift = nn.Parameter(0.1 * torch.randn(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x + self.shift)


class DoubleExp(nn.Module):
    """y = b + a exp(-exp(-exp(k) (x + s))) per unit."""

    def __init__(self, units: int) -> None:
        super().__init__()
        self.b = nn.Parameter(0.1 * torch.rand(units))
        self.a = nn.Parameter(1.0 + torch.rand(units))
        self.k = nn.Parameter(0.2 * torch.randn(units))
        self.s = nn.Parameter(0.2 * torch.randn(units))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.b + self.a * torch.exp(-torch.exp(-torch.exp(self.k) * (x + self.s)))

    def slope(self, x: torch.Tensor) -> torch.Tensor:
        e = torch.exp(self.k)
        inner = torch.exp(-e * (x + self.s))
        return self.a * torch.exp(-inner) * inner * e


class TinyCNN(nn.Module):
    """The paper's CNN layout at toy size; ``core`` is an nn.Sequential (staged path)."""

    receptive_field = 9

    def __init__(self, n_freq: int = 6, n_units: int = 4) -> None:
        super().__init__()
        self.core = nn.Sequential(
            nn.Sequential(nn.Linear(n_freq, 7), CausalFIR(7, 5), ShiftedReLU(7)),
            nn.Sequential(nn.Linear(7, 8), CausalFIR(8, 5), ShiftedReLU(8)),
            nn.Sequential(nn.Linear(8, 9), ShiftedReLU(9)),
            nn.Linear(9, n_units),
        )
        self.output = DoubleExp(n_units)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.output(self.core(x))


class OpaqueCNN(TinyCNN):
    """Same network without a declared receptive field or visible stages."""

    receptive_field = None

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.hidden = self.core
        del self.core

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.output(self.hidden(x))


class TinyLN(nn.Module):
    """LN model: per-unit causal linear filter [U, F, L] (lag order) then double exp."""

    def __init__(self, n_freq: int = 5, n_units: int = 3, taps: int = 8) -> None:
        super().__init__()
        self.filters = nn.Parameter(torch.randn(n_units, n_freq, taps) / 4)
        self.bias = nn.Parameter(torch.randn(n_units) / 4)
        self.output = DoubleExp(n_units)
        self.receptive_field = taps

    def core(self, x: torch.Tensor) -> torch.Tensor:
        taps = self.filters.shape[2]
        y = nn.functional.pad(x.transpose(1, 2), (taps - 1, 0))
        z = nn.functional.conv1d(y, self.filters.flip(-1))
        return z.transpose(1, 2) + self.bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.output(self.core(x))


def reference_dstrf(model: nn.Module, stim: np.ndarray, times, n_lags: int, fn=None) -> np.ndarray:
    """torch.autograd.functional.jacobian, one time point at a time."""
    fn = fn or model
    padded = np.concatenate([np.zeros((n_lags - 1, stim.shape[1]), np.float32), stim])
    out = []
    for t in times:
        window = torch.from_numpy(padded[t:t + n_lags]).double()[None]
        jac = torch.autograd.functional.jacobian(lambda w: fn(w.float())[0, -1].double(), window)
        out.append(jac[:, 0].permute(0, 2, 1).flip(-1).numpy())  # [U, F, lag]
    return np.stack(out)


@pytest.fixture()
def stim() -> np.ndarray:
    return np.random.default_rng(0).random((70, 6)).astype(np.float32)


CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (run in the GPU checks)")
DEVICES = ["cpu", pytest.param("cuda", marks=CUDA)]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("cls", [TinyCNN, OpaqueCNN])
def test_dstrf_equals_autograd_loop(cls, device, stim, caplog):
    torch.manual_seed(1)
    model = cls().eval()
    params = DSTRFParams(n_lags=12, chunk_size=16, device=device)
    times = np.r_[0:12, 40:44, 69]  # includes bins whose window starts before the stimulus
    with caplog.at_level(logging.INFO, logger="ndx_encoding_subspace.dstrf.stages"):
        fast = dstrf(model, stim, times, params)
    staged = "per-layer dSTRF over 10 layers (6 generic)" in caplog.text
    assert staged == (cls is TinyCNN), caplog.text
    slow = reference_dstrf(model, stim, times, 12)
    assert fast.shape == (len(times), 4, 6, 12)
    np.testing.assert_allclose(fast, slow, atol=1e-5, rtol=0)
    assert np.abs(slow).max() > 1e-2
    assert np.all(fast[..., 9:] == 0)  # lags beyond the receptive field (9 bins)


@pytest.mark.parametrize(("include_output", "input_columns", "device"),
                         [(True, 256, "cpu"), (False, 256, "cpu"), (True, 10, "cpu"),
                          pytest.param(True, 256, "cuda", marks=CUDA),
                          pytest.param(False, 256, "cuda", marks=CUDA)])
def test_population_cnn_uses_explicit_rules(stim, caplog, monkeypatch, include_output, input_columns,
                                            device):
    # 10 columns: the input layers run two windows at a time, the last block of a chunk short
    monkeypatch.setattr(dstrf_layers, "CPU_INPUT_COLUMNS", input_columns)
    torch.manual_seed(7)
    model = PopulationCNN(6, 5, mix_channels=8, fir_taps=4, hidden=(9, 7)).eval()
    with torch.no_grad():
        for layer in model.core_layers:
            if hasattr(layer, "shift"):
                layer.shift.normal_(0.0, 0.2)
    params = DSTRFParams(n_lags=8, chunk_size=13, device=device,
                         include_output_nonlinearity=include_output)
    times = np.arange(0, len(stim), 3)
    with caplog.at_level(logging.INFO, logger="ndx_encoding_subspace.dstrf.stages"):
        fast = dstrf(model, stim, times, params)
    n_layers = 10 if include_output else 9
    assert f"per-layer dSTRF over {n_layers} layers (0 generic)" in caplog.text
    fn = model if include_output else model.core
    slow = reference_dstrf(model, stim, times, 8, fn=fn)
    np.testing.assert_allclose(fast, slow, atol=1e-5, rtol=0)
    assert np.all(fast[..., 7:] == 0)


def _shifted_cnn(seed: int = 7) -> PopulationCNN:
    torch.manual_seed(seed)
    model = PopulationCNN(6, 3, mix_channels=8, fir_taps=4, hidden=(9, 7)).eval()
    with torch.no_grad():  # a silent stimulus then drives the deeper layers
        for layer in model.core_layers:
            if hasattr(layer, "shift"):
                layer.shift.normal_(0.3, 0.3)
    return model


def test_models_predict_as_if_silence_preceded_the_stimulus(stim):
    model = _shifted_cnn()
    x = torch.from_numpy(stim)[None]
    with torch.no_grad():
        y = model(x)
        for k in (model.receptive_field - 1, model.receptive_field + 4):
            silent = torch.cat([x.new_zeros(1, k, x.shape[2]), x], dim=1)
            torch.testing.assert_close(model(silent)[:, k:], y, rtol=1e-5, atol=1e-6)
        # padding inside the layers would differ at the start (the reason for the rule)
        assert not torch.allclose(model.output(model.core_layers(x))[:, :3], y[:, :3], atol=1e-4)
        # input that carries its context: the same outputs after it, without padding
        c = model.receptive_field - 1
        torch.testing.assert_close(model(x, has_context=True)[:, c:], y[:, c:], rtol=1e-5, atol=1e-6)


def test_dstrf_is_the_gradient_of_the_models_own_prediction_at_every_bin(stim):
    model = _shifted_cnn()
    d = 8
    got = dstrf(model, stim, "all", DSTRFParams(n_lags=d, device="cpu"))
    x = torch.from_numpy(stim)[None].double().requires_grad_(True)
    double = model.double()
    for t in (0, 1, 2, 5, 6, 7, 30, 69):
        (g,) = torch.autograd.grad(double(x)[0, t, 1], x)
        lags = min(d, t + 1)  # the bins before the stimulus are not the model's input
        want = g[0, t - np.arange(lags)].T.numpy()  # [F, lag]
        np.testing.assert_allclose(got[t, 1][:, :lags], want, atol=1e-6, rtol=1e-5)
        if t >= d:  # nothing outside the window matters
            assert float(g[0, : t - d + 1].abs().max()) == 0.0


def test_ln_population_dstrf_is_its_filter_times_slope(stim):
    torch.manual_seed(8)
    model = LNPopulation(6, 3, channels=5, taps=6).eval()
    with torch.no_grad():
        model.output.kappa.normal_(0.0, 0.3)
    params = DSTRFParams(n_lags=6, device="cpu")
    full = dstrf(model, stim, "all", params)
    linear = dstrf(model, stim, "all", params.replace(include_output_nonlinearity=False))
    np.testing.assert_allclose(linear, np.broadcast_to(linear[:1], linear.shape), atol=1e-6)
    with torch.no_grad():
        z = model.core(torch.from_numpy(stim)[None])
        _, slope = torch.func.jvp(model.output, (z,), (torch.ones_like(z),))
    expected = slope[0].numpy()[:, :, None, None] * linear
    np.testing.assert_allclose(full, expected, atol=1e-6)


def test_core_without_output_nonlinearity(stim):
    torch.manual_seed(2)
    model = TinyCNN().eval()
    params = DSTRFParams(n_lags=10, include_output_nonlinearity=False, device="cpu")
    times = np.array([0, 3, 20, 69])
    np.testing.assert_allclose(
        dstrf(model, stim, times, params),
        reference_dstrf(model, stim, times, 10, fn=model.core),
        atol=1e-5,
    )


def test_ln_dstrf_is_filter_times_slope():
    torch.manual_seed(3)
    model = TinyLN().eval()
    stim = np.random.default_rng(1).random((40, 5)).astype(np.float32)
    params = DSTRFParams(n_lags=11, device="cpu")
    got = dstrf(model, stim, "all", params)
    with torch.no_grad():
        z = model.core(torch.from_numpy(stim)[None])[0]
        slope = model.output.slope(z).numpy()  # [T, U]
    filt = model.filters.detach().numpy()
    expected = np.zeros((40, 3, 5, 11), np.float32)
    expected[..., :8] = slope[:, :, None, None] * filt[None]
    np.testing.assert_allclose(got, expected, atol=1e-6)
    core_only = dstrf(model, stim, [5, 30], params.replace(include_output_nonlinearity=False))
    np.testing.assert_allclose(core_only[:, :, :, :8], np.stack([filt, filt]), atol=1e-6)


def test_refuses_window_shorter_than_receptive_field(stim):
    with pytest.raises(ConfigError, match="n_lags=8.*9 bins, declared"):
        dstrf(TinyCNN().eval(), stim, [10], DSTRFParams(n_lags=8, device="cpu"))
    with pytest.raises(ConfigError, match="n_lags=8.*measured by perturbation"):
        dstrf(OpaqueCNN().eval(), stim, [10], DSTRFParams(n_lags=8, device="cpu"))


def test_a_declared_receptive_field_too_short_is_refused(stim):
    model = TinyCNN().eval()
    model.receptive_field = 5  # its output depends on 9 bins
    with pytest.raises(ConfigError, match=r"TinyCNN.receptive_field is 5 bins.*depends on 9 bins"):
        dstrf(model, stim, [20], DSTRFParams(n_lags=12, device="cpu"))


@pytest.mark.parametrize(("units", "message"), [([4], r"units \[4\]: the model has outputs 0 to 3"),
                                              ([-1], r"units \[-1\]"), ([], "none chosen")])
def test_units_outside_the_model_are_refused(stim, units, message):
    with pytest.raises(ConfigError, match=message):
        dstrf(TinyCNN().eval(), stim, [20], DSTRFParams(n_lags=12, device="cpu"), units=units)


def test_the_parameters_of_a_bound_core_are_found():
    # the receptive-field probes go to the device of model.core's parameters
    model = LNPopulation(4, 2)
    assert len(list(_params(model.core))) == len(list(model.parameters())) > 0


def test_measured_receptive_field():
    torch.manual_seed(4)
    model = OpaqueCNN().eval()
    assert receptive_field(model, 6, 30) == 9
    ln = TinyLN(taps=6)
    del ln.receptive_field
    assert receptive_field(ln, 5, 30) == 6


def test_chunking_units_and_streaming_agree(stim):
    torch.manual_seed(5)
    model = TinyCNN().train()  # training mode: the function works on an eval copy
    big = dstrf(model, stim, "all", DSTRFParams(n_lags=10, chunk_size=500, device="cpu"))
    assert model.training
    chunks = list(iter_dstrf_chunks(model, [stim[:30], stim[30:]], "all",
                                    DSTRFParams(n_lags=10, chunk_size=7, device="cpu")))
    assert max(len(c.times) for c in chunks) == 7
    assert [c.sound for c in chunks][:5] == [0] * 5
    small = dstrf(model, stim, "all", DSTRFParams(n_lags=10, chunk_size=7, device="cpu"),
                  units=[2, 0])
    np.testing.assert_allclose(small, big[:, [2, 0]], atol=1e-6)
    first = np.concatenate([c.values for c in chunks if c.sound == 0])
    np.testing.assert_allclose(first, big[:30], atol=1e-6)
    # dstrf() writes its chunks in place: same values as the chunks, lags past the field zero
    written = dstrf(model, [stim[:30], stim[30:]], "all", DSTRFParams(n_lags=12, chunk_size=7, device="cpu"))
    np.testing.assert_array_equal(written[..., :10], np.concatenate([c.values for c in chunks]))
    assert not written[..., 10:].any()


def test_sample_times_follow_the_paper():
    lengths = [100, 50, 200]
    got = sample_times(lengths, DSTRFParams(sample_step=47))
    flat = np.concatenate([t + s for t, s in zip(got, [0, 100, 150])])
    np.testing.assert_array_equal(flat, np.arange(0, 350, 47))
    capped = sample_times([10_000], DSTRFParams(sample_step=1, max_samples=300))[0]
    assert len(capped) == 300 and capped[0] == 0 and capped[-1] == 9999
    # the authors' code starts after its first window
    later = sample_times(lengths, DSTRFParams(sample_step=47, sample_offset=20))
    flat = np.concatenate([t + s for t, s in zip(later, [0, 100, 150])])
    np.testing.assert_array_equal(flat, np.arange(20, 350, 47))
    assert all((t >= 0).all() and (t < n).all() for t, n in zip(later, lengths))
    with pytest.raises(ConfigError, match="sample_offset"):
        DSTRFParams(sample_offset=-1)
    with pytest.raises(ConfigError, match="sample_step"):
        DSTRFParams(sample_step=0)
    with pytest.raises(ConfigError, match="max_samples"):
        DSTRFParams(max_samples=1)
    with pytest.raises(ConfigError, match="device"):
        DSTRFParams(device="gpu")


def test_chunk_size_defaults_to_the_device():
    assert DSTRFParams(device="cpu").windows_per_chunk() == CPU_CHUNK
    assert DSTRFParams(device="cuda").windows_per_chunk() == DEVICE_CHUNK > CPU_CHUNK
    assert DSTRFParams(device="cuda", chunk_size=64).windows_per_chunk() == 64
    config = DSTRFParams.from_dict(DSTRFParams().to_dict())  # None survives a round trip
    assert config.chunk_size is None
    for bad in (0, 2.5, "many"):
        with pytest.raises(ConfigError, match="chunk_size"):
            DSTRFParams(chunk_size=bad)


def test_ensemble_normalises_each_model(stim):
    torch.manual_seed(6)
    a = TinyLN(n_freq=6).eval()
    b = TinyLN(n_freq=6).eval()
    b.load_state_dict(a.state_dict())
    with torch.no_grad():
        b.output.a.mul_(3.0)  # same dSTRF shape, three times the gain
    params = DSTRFParams(n_lags=10, sample_step=3, device="cpu")
    scales = model_scales([a, b], stim, params)
    np.testing.assert_allclose(scales[1], 3 * scales[0], rtol=1e-5)
    one = dstrf(a, stim, "all", params) / scales[0][None, :, None, None]
    both = ensemble_dstrf([a, b], stim, "all", params)
    np.testing.assert_allclose(both, one, rtol=1e-4, atol=1e-6)


def test_shrink():
    mean = np.array([1.0, 0.1, -2.0, 0.0])
    sem = np.array([0.1, 0.2, 0.5, 0.3])
    np.testing.assert_allclose(shrink(mean, sem, 0.0), mean)
    got = shrink(mean, sem, 1.0)
    np.testing.assert_allclose(got, [1.0 * (1 - 0.01), 0.0, -2.0 * (1 - 1 / 16), 0.0])
    on_device = shrink(torch.as_tensor(mean), torch.as_tensor(sem), 1.0)  # tensors stay tensors
    np.testing.assert_allclose(on_device.numpy(), got)
    np.testing.assert_allclose(shrink(mean[::-1], sem[::-1], 1.0), got[::-1])  # any strides
    assert shrink(mean.astype(np.float32), sem, 1.0).dtype == np.float32
    assert shrink(np.array(2.0), np.array(0.5), 1.0).shape == ()


def test_model_scales_stream_equals_the_in_memory_std() -> None:
    torch.manual_seed(3)
    model = PopulationCNN(6, 3, mix_channels=5, fir_taps=4, hidden=(4, 4)).eval()
    stim = [np.random.default_rng(i).random((n, 6)).astype(np.float32) for i, n in enumerate((37, 23))]
    params = DSTRFParams(n_lags=10, sample_step=2, chunk_size=5, device="cpu")
    direct = dstrf(model, stim, None, params).std(axis=(0, 2, 3), dtype=np.float64)
    np.testing.assert_allclose(model_scales([model], stim, params)[0], direct, rtol=1e-6)


def test_ensemble_statistics_in_one_pass_equal_the_in_memory_ones() -> None:
    torch.manual_seed(4)
    models = [PopulationCNN(6, 3, mix_channels=5, fir_taps=4, hidden=(4, 4)).eval() for _ in range(3)]
    with torch.no_grad():
        models[2].output.amplitude.mul_(5.0)
    stim = [np.random.default_rng(i).random((n, 6)).astype(np.float32) for i, n in enumerate((41, 19))]
    params = DSTRFParams(n_lags=10, sample_step=2, chunk_size=7, device="cpu")
    stats = ensemble_statistics(models, stim, params)
    np.testing.assert_allclose(stats.scales, model_scales(models, stim, params), rtol=1e-6)
    values = ensemble_dstrf(models, stim, None, params, stats.scales).astype(np.float64)
    flat = values.reshape(*values.shape[:2], -1)
    centre = flat.mean(axis=0)
    assert stats.count == len(flat)
    np.testing.assert_allclose(stats.centre, centre, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(stats.rms, np.sqrt(((flat - centre) ** 2).sum(axis=2).mean(axis=0)), rtol=1e-5)
    with pytest.raises(ConfigError, match="at least one model"):
        ensemble_statistics([], stim, params)


@pytest.mark.parametrize("shrinkage", [0.0, 1.5])
def test_ensemble_at_the_sample_in_one_pass_equals_the_two_pass_route(shrinkage) -> None:
    torch.manual_seed(5)
    models = [PopulationCNN(6, 3, mix_channels=5, fir_taps=4, hidden=(4, 4)).eval() for _ in range(3)]
    with torch.no_grad():
        models[1].output.amplitude.mul_(4.0)
    stim = [np.random.default_rng(i).random((n, 6)).astype(np.float32) for i, n in enumerate((43, 21))]
    params = DSTRFParams(n_lags=10, sample_step=2, chunk_size=6, shrinkage=shrinkage, device="cpu")
    scales = model_scales(models, stim, params)
    two_pass = ensemble_dstrf(models, stim, None, params, scales)  # normalisers given: iterator
    one_pass = ensemble_dstrf(models, stim, None, params)
    assert one_pass.dtype == np.float32 and one_pass.shape == two_pass.shape
    np.testing.assert_allclose(one_pass, two_pass, rtol=1e-5, atol=1e-6 * np.abs(two_pass).max())
    if shrinkage:
        assert (one_pass == 0).sum() > 0 and (one_pass == 0).sum() == (two_pass == 0).sum()


def test_workspace_reuses_its_buffers_and_grows():
    ws = dstrf_layers.Workspace()
    like = torch.zeros(1)
    a = ws.get("x", (4, 5), like)
    b = ws.get("x", (3, 2), like)  # smaller: the same memory
    assert b.data_ptr() == a.data_ptr() and b.shape == (3, 2) and b.is_contiguous()
    c = ws.get("x", (6, 5), like)  # larger: a new buffer
    assert c.shape == (6, 5) and c.numel() == 30
    assert ws.get("y", (2,), like.double()).dtype == torch.float64


_PRECISION_CHECK = """
import torch
from ndx_encoding_subspace.compute import full_float32
b = torch.backends
{setup}
before = {read}
try:
    with full_float32("cuda"):
        assert b.cuda.matmul.fp32_precision == b.cudnn.conv.fp32_precision == "ieee"
        raise KeyError("inside")
except KeyError:
    pass
assert {read} == before, ({read}, before)
with full_float32("cpu"):  # nothing changes for another device
    assert {read} == before
print("ok")
"""


@pytest.mark.parametrize(("setup", "read"), [
    # the user chose TF32 through the per-backend settings
    ('b.cuda.matmul.fp32_precision = "tf32"', "(b.cuda.matmul.fp32_precision, b.cudnn.conv.fp32_precision)"),
    # through the older switches: they still read the same afterwards
    ('b.cudnn.allow_tf32 = True; torch.set_float32_matmul_precision("medium")',
     "(b.cudnn.allow_tf32, b.cuda.matmul.allow_tf32, torch.get_float32_matmul_precision())"),
])
def test_full_float32_restores_the_settings_also_after_an_error(setup, read):
    # a fresh interpreter: these settings belong to the whole process
    code = _PRECISION_CHECK.format(setup=setup, read=read)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]


def test_dstrf_runs_whatever_precision_settings_the_caller_chose():
    code = ("import numpy as np, torch\n"
            "from ndx_encoding_subspace.dstrf import DSTRFParams, dstrf\n"
            "from ndx_encoding_subspace.models import LNPopulation\n"
            "torch.backends.cuda.matmul.fp32_precision = 'tf32'\n"
            "m = LNPopulation(4, 2, channels=3, taps=3).eval()\n"
            "x = np.random.default_rng(0).random((20, 4)).astype(np.float32)\n"
            "print(dstrf(m, x, 'all', DSTRFParams(n_lags=4, device='cpu')).shape)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0 and "(20, 2, 4, 4)" in done.stdout, done.stderr[-2000:]


def test_times_as_a_mask_are_its_bins_and_fractional_times_are_refused(stim):
    from ndx_encoding_subspace.errors import InvalidDataError

    torch.manual_seed(0)
    model = LNPopulation(stim.shape[1], 2, taps=5)
    params = DSTRFParams(n_lags=12)
    mask = np.zeros(len(stim), dtype=bool)
    mask[[3, 17, 30]] = True
    np.testing.assert_array_equal(dstrf(model, [stim], times=mask, params=params),
                                  dstrf(model, [stim], times=[np.array([3, 17, 30])], params=params))
    with pytest.raises(InvalidDataError, match="bin indices .whole numbers. or a mask, got float64"):
        dstrf(model, [stim], times=np.array([1.7, 2.2]), params=params)
    np.testing.assert_array_equal(dstrf(model, stim, times=np.array([3.0, 17.0, 30.0]), params=params),
                                  dstrf(model, stim, times=np.flatnonzero(mask), params=params))
    with pytest.raises(InvalidDataError, match="a mask of"):
        dstrf(model, [stim], times=mask[:-1], params=params)
