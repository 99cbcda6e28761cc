"""Tutorial 3: read a results file back, plot it with matplotlib, view it in nwbwidgets.

A results file is a standalone NWB file: the analysed units (copied from the input), the
spectrogram, every trained model (architecture document + tensors, no pickles), the
tuning subspaces, the SSRFs and tuning curves, the site analyses and a provenance table.
This tutorial

1. loads a results file with :func:`ndx_encoding_subspace.results.load_results`;
2. draws one unit's mean dSTRF, subspace filters, SSRF map and tuning curves with plain
   matplotlib from the loaded arrays;
3. predicts a validation sound with the stored CNN ensemble (the models come back as
   torch modules);
4. builds the interactive nwbwidgets view: ``import ndx_encoding_subspace.widgets``
   registers the package's views, then nwbwidgets' own ``nwb2widget`` shows the file
   (display it in Jupyter).

Run from the repository root::

    python tutorials/03_results_and_viewing.py RESULTS.nwb --out figures
    python tutorials/03_results_and_viewing.py --quick   # makes a tiny results file first

Without a results file the tutorial first runs the simulated demo (``--quick``: at a tiny
size). Figures go to ``--out`` (default: a new temporary folder).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from ndx_encoding_subspace.results import load_results
from ndx_encoding_subspace.results.roles import CNN

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("results", type=Path, nargs="?", default=None, help="results NWB file")
parser.add_argument("--quick", action="store_true", help="tiny demo run when no file is given")
parser.add_argument("--out", type=Path, default=None, help="output folder (default: temporary)")
args = parser.parse_args()
out = args.out or Path(tempfile.mkdtemp(prefix="encoding-subspace-tutorial3-"))
out.mkdir(parents=True, exist_ok=True)

# %% [markdown]
# ## 0. A results file
# Any file written by ``encoding-subspace run`` or ``demo``; otherwise make one here.
path = args.results
if path is None:
    from ndx_encoding_subspace.datasets.simulated.site import SimulationParams, simulate_site
    from ndx_encoding_subspace.pipeline.demo import demo_config
    from ndx_encoding_subspace.pipeline.run import run_site

    config = demo_config(quick=True)
    sim = SimulationParams.quick()
    if args.quick:
        config = config.replace(training={"max_epochs": 4, "patience": 2},
                                cnn={"mix_channels": 8, "hidden": [8, 8]}, ln={"channels": 8},
                                subspace={"n_components": 10, "noise_repeats": 2},
                                dstrf={"max_samples": 300}, subspace_model={"hidden": [6, 6]},
                                tiling={"n_grid": 8}, scoring={"n_shuffles": 10})
        sim = SimulationParams.quick(n_units=4, n_estimation_sounds=12, validation_repeats=6)
    recording = simulate_site(sim).write_nwb(out / "simulated_site.nwb", overwrite=True)
    path = run_site(recording, out, config, progress=False).path

# %% [markdown]
# ## 1. Load everything into memory
# ``LoadedResults`` holds the units table (as arrays), the model collections, one
# ``UnitSubspace`` and one ``UnitNonlinearity`` per unit, the site analysis and the
# provenance (input identity, every parameter, package versions). Collections are named
# after the model roles of ``ndx_encoding_subspace.results.roles``: ``CNN.container`` is
# ``population_cnn``, the collection of the models of role ``cnn``.
res = load_results(path)
ids = np.asarray(res.units["id"])
print(f"{path}: {len(ids)} units; collections {list(res.collections)}")
print("input:", res.provenance.get("input"))
r_cnn = res.unit_scores("r")[CNN.container]
best = max((s.unit_position for s in res.subspaces), key=lambda u: np.nan_to_num(r_cnn[u], nan=-1))
sub, nonlin = res.subspace(best), res.nonlinearity(best)
print(f"unit {ids[best]}: CNN r = {r_cnn[best]:.3f}, k = {sub.k} (k90 = {sub.k90}), "
      f"asymmetry index {np.round(nonlin.asymmetry_index, 2)}")

# %% [markdown]
# ## 2. The unit's subspace filters: arrays [k, frequency, lag]
# Frequencies and the bin size come from the stored spectrogram.
freqs = res.spectrogram.frequencies
ms = 1000 * res.spectrogram.bin_size
n_lags = sub.filters.shape[2]
extent = (0, n_lags * ms, 0, len(freqs))
fig = Figure(figsize=(2.4 * (sub.k + 1), 2.6), layout="constrained")
axes = fig.subplots(1, sub.k + 1, squeeze=False)[0]
images = [sub.mean_dstrf, *sub.filters]
titles = ["mean dSTRF"] + [f"filter {j + 1}: {100 * sub.explained_variance[j]:.0f}%"
                           for j in range(sub.k)]
for ax, image, title in zip(axes, images, titles):
    scale = np.abs(image).max() or 1.0
    ax.imshow(image, origin="lower", aspect="auto", cmap="RdBu_r", vmin=-scale, vmax=scale,
              extent=extent)
    ax.set_title(title, fontsize=9)
    ax.set_xlabel("lag (ms)")
axes[0].set_yticks([0.5, len(freqs) - 0.5], [f"{freqs[0]:.0f}", f"{freqs[-1]:.0f}"])
axes[0].set_ylabel("frequency (Hz)")
fig.savefig(out / f"unit{ids[best]}_filters.png", dpi=80)

# %% [markdown]
# ## 3. Its SSRF (dimension 1 x 2) and tuning curves
# ``ssrf_map(a, b)`` returns the mean response and the sample count per bin; bins with
# fewer than ``min_count`` samples are not to be trusted.
min_count = res.parameters["ssrf"]["min_count"]
fig = Figure(figsize=(8, 3.2), layout="constrained")
ax_map, ax_curve = fig.subplots(1, 2)
if sub.k >= 2:
    mean, count = nonlin.ssrf_map(0, 1)
    edges = nonlin.ssrf["bin_edges"]
    shown = np.ma.masked_where((count < min_count) | ~np.isfinite(mean), mean)
    mesh = ax_map.pcolormesh(edges[1], edges[0], shown, shading="flat")
    fig.colorbar(mesh, ax=ax_map, label="mean response")
    ax_map.set_xlabel("projection on dim 2")
    ax_map.set_ylabel("projection on dim 1")
for d in range(sub.k):
    e = nonlin.tuning["bin_edges"][d]
    ax_curve.errorbar((e[:-1] + e[1:]) / 2, nonlin.tuning["mean"][d],
                      yerr=nonlin.tuning["sem"][d],
                      label=f"dim {d + 1}: AI {nonlin.asymmetry_index[d]:+.2f}")
ax_curve.set_xlabel("projection")
ax_curve.legend(fontsize=7)
fig.savefig(out / f"unit{ids[best]}_ssrf.png", dpi=80)
print(f"figures in {out}")

# %% [markdown]
# ## 4. The stored models are torch modules
# The CNN ensemble's mean prediction for the first validation sound.
name = next(n for n, s in zip(res.spectrogram.sounds["sound"], res.spectrogram.sounds["split"])
            if s == "validation")
prediction = res.ensemble(CNN.name).predict(res.spectrogram.sound(name))
print(f"CNN prediction for {name!r}: shape {prediction.shape} (time bins x units)")

# %% [markdown]
# ## 5. The interactive view
# Importing ``ndx_encoding_subspace.widgets`` registers the package's views in nwbwidgets
# (``vis_spec`` lists them); nwbwidgets' own ``nwb2widget`` then shows the file with
# them: subspace filters, SSRFs, score comparison (LN, CNN, subspace), loss curves,
# tiling and similarity. In Jupyter, ``display(widget)``. The file must stay open as long
# as the widget is used.
import ndx_encoding_subspace.widgets as es_widgets  # noqa: E402

print(f"views of {len(es_widgets.vis_spec)} types: "
      f"{', '.join(cls.__name__ for cls in es_widgets.vis_spec)}")

from nwbwidgets import nwb2widget  # noqa: E402  (after the import above: the pynwb 4 shim)
from pynwb import NWBHDF5IO  # noqa: E402

with NWBHDF5IO(str(path), "r") as io:
    widget = nwb2widget(io.read())
    print(f"nwbwidgets view: {type(widget).__name__} with {len(widget.children)} parts")
