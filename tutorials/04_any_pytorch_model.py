"""Tutorial 4: flatten any PyTorch encoding model into tuning subspaces.

Nothing in the dSTRF, subspace and SSRF steps is specific to the package's population
CNN: they need a ``torch.nn.Module`` mapping a spectrogram ``[batch, time, frequency]`` to
responses ``[batch, time, units]``, causally (output at t depends on input up to t).
This tutorial

1. simulates a small site and reads it like any NWB recording (``read_site``);
2. defines its own small model (a causal convolution, a nonlinearity, a readout);
3. fits it with :func:`ndx_encoding_subspace.fitting.schedule.fit_model` (one stage, since the
   model has no ``core``/``output`` split) and scores it on the validation sounds;
4. computes its dSTRFs (exact gradients, :func:`ndx_encoding_subspace.dstrf.dstrf`),
   the tuning subspace of every unit (:func:`ndx_encoding_subspace.subspace.pca.fit_subspaces`)
   and each unit's SSRF and tuning curves (:func:`ndx_encoding_subspace.nonlinearity.ssrf.ssrf`).

Run from the repository root::

    python tutorials/04_any_pytorch_model.py --quick
    python tutorials/04_any_pytorch_model.py --out tutorial4

Files go to ``--out`` (default: a new temporary folder).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import torch
from matplotlib.figure import Figure
from torch import nn

from ndx_encoding_subspace.data.spectrogram import SpectrogramParams
from ndx_encoding_subspace.datasets.simulated.site import SimulationParams, load_truth, simulate_site
from ndx_encoding_subspace.dstrf import DSTRFParams, dstrf
from ndx_encoding_subspace.fitting.schedule import TrainingParams, fit_model
from ndx_encoding_subspace.fitting.scores import score_model
from ndx_encoding_subspace.io import read_site
from ndx_encoding_subspace.nonlinearity.ssrf import SSRFParams, ssrf
from ndx_encoding_subspace.subspace.pca import SubspaceParams, fit_subspaces
from ndx_encoding_subspace.subspace.projection import project

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--quick", action="store_true", help="tiny site and fit (CI size)")
parser.add_argument("--out", type=Path, default=None, help="output folder (default: temporary)")
args = parser.parse_args()
out = args.out or Path(tempfile.mkdtemp(prefix="encoding-subspace-tutorial4-"))
out.mkdir(parents=True, exist_ok=True)
torch.manual_seed(0)

# %% [markdown]
# ## 1. A site: spectrograms and responses of every sound
sim_params = (SimulationParams.quick(n_units=4, n_estimation_sounds=16, validation_repeats=6)
              if args.quick else SimulationParams.quick())
recording = simulate_site(sim_params).write_nwb(out / "simulated_site.nwb", overwrite=True)
site = read_site(recording, spectrogram=SpectrogramParams(n_channels=16 if args.quick else 32))
print(f"{site.n_units} units, {site.n_frequencies} channels, {len(site.estimation)} estimation "
      f"and {len(site.validation)} validation sounds")


# %% [markdown]
# ## 2. Your own model
# The contract: ``forward(x)`` with x ``[batch, time, frequency]`` returns
# ``[batch, time, units]``, causally. Padding on the left only keeps the convolution causal.
# ``receptive_field`` (bins) is optional: it lets the trainer cut sounds into segments.
class TinyConvModel(nn.Module):
    """Causal 1-D convolution over time (frequency as channels), softplus, linear readout."""

    def __init__(self, n_freq: int, n_units: int, channels: int = 8, taps: int = 12) -> None:
        super().__init__()
        self.taps = taps
        self.receptive_field = taps
        self.conv = nn.Conv1d(n_freq, channels, taps)
        self.readout = nn.Linear(channels, n_units)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = nn.functional.pad(x.transpose(1, 2), (self.taps - 1, 0))  # [batch, freq, time]
        h = nn.functional.softplus(self.conv(h)).transpose(1, 2)     # [batch, time, channels]
        return nn.functional.softplus(self.readout(h))               # [batch, time, units]


model = TinyConvModel(site.n_frequencies, site.n_units)

# %% [markdown]
# ## 3. Fit (one stage, early stopping on the last 20% of estimation sounds) and score
training = TrainingParams(max_epochs=15 if args.quick else 200, patience=5, lr_stage1=3e-3,
                          device="cpu")
inputs = site.stimuli("estimation")
targets = [s.psth for s in site.split("estimation")]
record = fit_model(model, inputs, targets, training)
print(f"fit: {record.epochs} epochs, best epoch {record.best_epoch}")
model.eval()


def predict(spectrogram: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return model(torch.as_tensor(spectrogram[None], dtype=torch.float32))[0].numpy()


scores = score_model(predict, site, n_shuffles=20)
print("validation r per unit:", np.round(scores.r, 3))

# %% [markdown]
# ## 4. dSTRFs: the gradient of each unit's output with respect to the input window
# ``[samples, units, frequency, lag]``; every 5th bin of the estimation sounds here (the
# paper samples every 47th; ``times="all"`` takes every bin).
lags = 20
d = dstrf(model, inputs, params=DSTRFParams(n_lags=lags, sample_step=5, max_samples=600,
                                            device="cpu"))
print(f"dSTRFs: {d.shape}")

# %% [markdown]
# ## 5. Tuning subspaces: PCA of each unit's dSTRFs, k at 95% of the variance
subspaces = fit_subspaces(d, SubspaceParams(n_components=10, noise_repeats=2))
truth = load_truth(recording)
for s in subspaces:
    true_k = truth.unit(int(site.units.ids[s.unit])).k
    print(f"unit {site.units.ids[s.unit]}: k = {s.k} (k90 = {s.k90}; true k = {true_k}), "
          f"{s.n_significant} components above the noise floor")

# %% [markdown]
# ## 6. SSRFs: the measured response at each point of the subspace
# Project the estimation sounds onto a unit's filters (a causal convolution), then bin the
# response by the projections.
params = SSRFParams(n_bins_2d=8, n_bins_1d=6, min_count=2)
psth = np.concatenate(targets)
fig = Figure(figsize=(3.2 * len(subspaces), 3.0), layout="constrained")
for ax, s in zip(fig.subplots(1, len(subspaces), squeeze=False)[0], subspaces):
    k = max(s.k, 2)  # two dimensions at least, to draw a map
    x = np.concatenate([project(stim, s.components[:k]) for stim in inputs])
    result = ssrf(x, psth[:, s.unit], params)
    print(f"unit {site.units.ids[s.unit]}: asymmetry {np.round(result.asymmetry, 2)}, "
          f"shapes {result.shapes}")
    ax.pcolormesh(result.edges[1], result.edges[0], np.ma.masked_invalid(result.maps[0]))
    ax.set_title(f"unit {site.units.ids[s.unit]}: dim 1 x dim 2", fontsize=9)
fig.savefig(out / "ssrf_maps.png", dpi=80)
print(f"figure: {out / 'ssrf_maps.png'}")
