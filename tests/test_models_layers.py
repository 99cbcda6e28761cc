"""Layers and models: shapes, causality, receptive field, Gaussian widths, dexp init."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ndx_encoding_subspace.errors import ConfigError
from ndx_encoding_subspace.models import (
    DepthwiseCausalFIR,
    DoubleExponential,
    GaussianChannelMix,
    LNPopulation,
    PopulationCNN,
    ShiftedReLU,
    SubspaceNetwork,
    to_architecture,
)


def _models():
    torch.manual_seed(0)
    return [PopulationCNN(12, 5, mix_channels=9, hidden=(10, 8)), LNPopulation(12, 5, channels=7, taps=6)]


def test_paper_cnn_receptive_field_and_shapes():
    torch.manual_seed(0)
    m = PopulationCNN(32, 50)
    assert m.receptive_field == 29
    assert LNPopulation(32, 50).receptive_field == 25
    assert m(torch.randn(2, 40, 32)).shape == (2, 40, 50)
    assert m.core(torch.randn(2, 40, 32)).shape == (2, 40, 50)
    assert [type(x).__name__ for x in m.core_layers][:3] == [
        "GaussianChannelMix", "DepthwiseCausalFIR", "ShiftedReLU"]
    assert m.core_layers[0].n_out == 90 and m.core_layers[3].n_out == 100 and m.core_layers[6].n_out == 120


@pytest.mark.parametrize("index", [0, 1])
def test_models_are_causal(index):
    m = _models()[index]
    x = torch.rand(1, 60, 12)
    y = m(x)
    for t in (0, 17, 45):
        x2 = x.clone()
        x2[:, t + 1:] = torch.rand_like(x2[:, t + 1:]) * 3
        y2 = m(x2)
        assert torch.equal(y[:, : t + 1], y2[:, : t + 1])
        assert not torch.allclose(y[:, t + 1:], y2[:, t + 1:])


@pytest.mark.parametrize("index", [0, 1])
def test_receptive_field_is_exact(index):
    m = _models()[index]
    rf = m.receptive_field
    x = torch.rand(1, 80, 12)
    x2 = x.clone()
    x2[:, 10] += 1.0  # an impulse change at bin 10 reaches bins 10 .. 10 + rf - 1 only
    d = (m.core(x2) - m.core(x)).abs().sum(-1)[0]
    changed = torch.nonzero(d > 0).flatten()
    assert changed.min() == 10 and changed.max() <= 10 + rf - 1


def test_fir_matches_direct_convolution():
    torch.manual_seed(1)
    fir = DepthwiseCausalFIR(3, 4)
    x = torch.randn(2, 20, 3)
    y = fir(x).detach().numpy()
    h = fir.filters().detach().numpy()
    xn = x.numpy()
    ref = np.zeros_like(xn)
    for t in range(20):
        for lag in range(4):
            if t - lag >= 0:
                ref[:, t] += h[:, lag] * xn[:, t - lag]
    np.testing.assert_allclose(y, ref, atol=1e-5)


def test_fir_gradients_equal_the_convolutions(one_thread):
    """The FIR's own weight gradient (a forward convolution) equals autograd's through
    conv1d, for one model and for stacked members under vmap, and is twice differentiable."""
    from torch.func import vmap
    from torch.nn import functional as F

    from ndx_encoding_subspace.models.layers import depthwise_conv

    torch.manual_seed(0)
    z = torch.randn(2, 3, 12, dtype=torch.float64, requires_grad=True)
    w = torch.randn(3, 1, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(depthwise_conv, (z, w))
    assert torch.autograd.gradgradcheck(depthwise_conv, (z, w))
    zs = torch.randn(4, 3, 6, 40, requires_grad=True)
    ws = torch.randn(4, 6, 1, 7, requires_grad=True)
    target = torch.randn(4, 3, 6, 34)
    grads = []
    for conv in (depthwise_conv, lambda a, b: F.conv1d(a, b, groups=b.shape[0])):
        out = vmap(conv)(zs, ws)
        grads.append(torch.autograd.grad(((out - target) ** 2).sum(), (zs, ws)))
    for mine, reference in zip(*grads, strict=True):
        torch.testing.assert_close(mine, reference, rtol=1e-4, atol=1e-4)


def test_gaussian_width_floor_and_normalisation():
    mix = GaussianChannelMix(32, 6, min_width=0.05)
    with torch.no_grad():
        mix.raw_width.fill_(-50.0)  # softplus -> 0: width at its floor
        mix.mean.copy_(torch.linspace(0, 1, 6))
    w = mix.weights().detach()
    np.testing.assert_allclose(w.sum(1).numpy(), 1.0, rtol=1e-6)
    pos = torch.linspace(0, 1, 32)
    centre = (w * pos).sum(1)
    spread = torch.sqrt((w * (pos - centre[:, None]) ** 2).sum(1))
    assert torch.all(spread[1:-1] > 0.045)  # never narrower than the floor (interior centres)


def test_shifted_relu():
    r = ShiftedReLU(2)
    with torch.no_grad():
        r.shift.copy_(torch.tensor([1.0, -1.0]))
    y = r(torch.tensor([[[0.5, 0.5]]]))
    assert torch.allclose(y, torch.tensor([[[1.5, 0.0]]]))


def test_double_exponential_formula_and_init():
    d = DoubleExponential(2)
    mean, sd = np.array([2.0, 0.5]), np.array([1.0, 0.2])
    d.init_from_response(mean, sd, pred_mean=np.array([0.3, -1.0]), pred_sd=np.array([2.0, 0.1]))
    assert torch.allclose(d.base, torch.tensor([1.0, 0.3]))
    assert torch.allclose(d.amplitude, torch.tensor([4.0, 0.8]))
    x = torch.tensor([[[0.3, -1.0]]], requires_grad=True)
    y = d(x)
    assert torch.allclose(y, torch.tensor([[[2.0, 0.5]]]), atol=1e-5)  # mean at pred mean
    y.sum().backward()
    assert torch.allclose(x.grad, torch.tensor([[[0.5, 2.0]]]), atol=1e-4)  # slope sd / pred_sd
    z = torch.tensor([[[0.7, 0.1]]])
    b, a, k, s = d.base, d.amplitude, d.kappa, d.shift
    ref = b + a * torch.exp(-torch.exp(-torch.exp(k) * (z + s)))
    assert torch.allclose(d(z), ref)


@pytest.mark.parametrize("base_sd, amplitude_sd", [(0.5, 4.0), (2.0, 3.0), (1.0, 10.0)])
def test_double_exponential_init_at_other_base_and_amplitude(base_sd, amplitude_sd):
    d = DoubleExponential(2)
    mean, sd = np.array([2.0, 0.5]), np.array([1.0, 0.2])
    d.init_from_response(mean, sd, pred_mean=np.array([0.3, -1.0]), pred_sd=np.array([2.0, 0.1]),
                         base_sd=base_sd, amplitude_sd=amplitude_sd)
    assert torch.allclose(d.base, torch.tensor(mean - base_sd * sd, dtype=torch.float32))
    assert torch.allclose(d.amplitude, torch.tensor(amplitude_sd * sd, dtype=torch.float32))
    x = torch.tensor([[[0.3, -1.0]]], requires_grad=True)
    y = d(x)
    assert torch.allclose(y, torch.tensor([[[2.0, 0.5]]]), atol=1e-5)  # mean at pred mean
    y.sum().backward()
    assert torch.allclose(x.grad, torch.tensor([[[0.5, 2.0]]]), atol=1e-4)  # slope sd / pred_sd


def test_output_init_parameters_are_validated_early():
    from ndx_encoding_subspace.errors import ConfigError
    from ndx_encoding_subspace.fitting.training_params import TrainingParams

    assert (TrainingParams().init_base_sd, TrainingParams().init_amplitude_sd) == (1.0, 4.0)
    with pytest.raises(ConfigError, match="init_base_sd .* must be below"):
        TrainingParams(init_base_sd=4.0)
    with pytest.raises(ConfigError, match="init_amplitude_sd"):
        TrainingParams(init_amplitude_sd=0.0)


def test_double_exponential_has_finite_gradients_far_below_its_threshold():
    # a unit whose linear prediction barely varies is initialised with a very steep slope;
    # far below the threshold the output is the base and the gradients are 0, not NaN
    d = DoubleExponential(1)
    d.init_from_response(np.array([1.0]), np.array([0.5]), pred_mean=np.array([0.0]),
                         pred_sd=np.array([1e-6]))
    x = torch.tensor([[[0.0], [-1e-3], [-1.0], [1e-3]]], requires_grad=True)
    y = d(x)
    y.sum().backward()
    assert torch.isfinite(x.grad).all() and all(torch.isfinite(p.grad).all() for p in d.parameters())
    assert torch.allclose(y[0, 2], d.base) and x.grad[0, 2, 0] == 0
    assert torch.allclose(y[0, 0], torch.tensor([1.0]), atol=1e-5)


def test_subspace_network_shape_and_validation():
    net = SubspaceNetwork(3)
    assert net(torch.randn(4, 10, 3)).shape == (4, 10, 1)
    assert net.receptive_field == 1
    assert [m.n_out for m in net.core_layers if hasattr(m, "n_out")] == [15, 15, 1]
    with pytest.raises(ConfigError):
        SubspaceNetwork(0)
    with pytest.raises(ConfigError, match="n_units"):
        PopulationCNN(32, 0)


def test_sizes_default_to_and_are_checked_by_the_parameter_classes():
    from ndx_encoding_subspace.models import SubspaceNetworks
    from ndx_encoding_subspace.models.params import CNNParams, LNParams, SubspaceModelParams

    def arch(model):
        return to_architecture(model)["core"]

    torch.manual_seed(0)
    cnn, ln = CNNParams(), LNParams()
    assert arch(PopulationCNN(8, 3)) == arch(cnn.build(8, 3))
    assert arch(PopulationCNN(8, 3, fir_taps=4)) == arch(CNNParams(fir_taps=4).build(8, 3))
    assert arch(PopulationCNN(8, 3, params=cnn, hidden=(6, 5))) == arch(
        PopulationCNN(8, 3, hidden=(6, 5)))
    assert arch(LNPopulation(8, 3)) == arch(ln.build(8, 3))
    mix, fir = LNPopulation(8, 3).core_layers[:2]
    assert (mix.n_out, mix.min_width, fir.taps) == (ln.channels, ln.min_width, ln.taps)
    hidden = SubspaceModelParams().hidden
    assert tuple(m.n_out for m in SubspaceNetworks([2, 1]).core_layers
                 if type(m).__name__ == "UnitDense")[:-1] == hidden
    for make, message in [
        (lambda: PopulationCNN(8, 3, fir_taps=0), "CNNParams.fir_taps"),
        (lambda: PopulationCNN(8, 3, hidden=(4, 5, 6)), "CNNParams.hidden"),
        (lambda: PopulationCNN(8, 3, params=ln), "params must be CNNParams"),
        (lambda: LNPopulation(8, 3, taps=0), "LNParams.taps"),
        (lambda: LNPopulation(8, 3, min_width=0.0), "LNParams.min_width"),
        (lambda: SubspaceNetwork(3, hidden=(4, 0)), "SubspaceModelParams.hidden"),
        (lambda: SubspaceNetwork(3, hidden=(4.5,)), "SubspaceModelParams.hidden"),
        (lambda: SubspaceNetworks([2], hidden=()), "SubspaceModelParams.hidden"),
    ]:
        with pytest.raises(ConfigError, match=message):
            make()


def test_batched_subspace_networks_equal_separate_networks():
    from ndx_encoding_subspace.models import SubspaceNetworks

    torch.manual_seed(0)
    dims = [2, 3, 1]
    batched = SubspaceNetworks(dims, hidden=(4, 5))
    x = torch.randn(2, 9, sum(dims))
    y = batched(x)
    start = 0
    for u, k in enumerate(dims):
        single = SubspaceNetwork(k, hidden=(4, 5))
        dense = [m for m in single.core_layers if hasattr(m, "linear")]
        udense = [m for m in batched.core_layers if type(m).__name__ == "UnitDense"]
        with torch.no_grad():
            for d, ud in zip(dense, udense):
                d.linear.weight.copy_(ud.weight[u, :, : d.n_in])
                d.linear.bias.copy_(ud.bias[u])
            for name in ("base", "amplitude", "kappa", "shift"):
                getattr(single.output, name).copy_(getattr(batched.output, name)[u: u + 1])
        ref = single(x[..., start: start + k])[..., 0]
        assert torch.allclose(y[..., u], ref, atol=1e-6)
        start += k
    x2 = x.clone()
    x2[..., 2:5] += 1.0  # unit 1's projections only
    y2 = batched(x2)
    assert torch.equal(y2[..., 0], y[..., 0]) and torch.equal(y2[..., 2], y[..., 2])
