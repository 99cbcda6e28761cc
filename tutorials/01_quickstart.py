"""Tutorial 1: quickstart on the simulated auditory-cortex site, from Python.

The package ships a virtual recording site: units whose responses depend on the sound
through known tuning subspaces (2-6 spectro-temporal filters each) and known
nonlinearities. This tutorial

1. simulates the site and writes it as a standard NWB file (sounds, presentations, units);
2. runs the whole method on that file with :func:`ndx_encoding_subspace.pipeline.run.run_site`
   (LN and population CNN fits, dSTRFs, tuning subspaces, subspace models, SSRFs, site
   analyses) and writes one results NWB file;
3. loads the results back and prints each unit's prediction scores next to the true and
   recovered subspace dimension;
4. writes the HTML report.

Run from the repository root::

    python tutorials/01_quickstart.py --quick           # tiny site and models, ~1 minute
    python tutorials/01_quickstart.py --out quickstart  # the demo's size, ~10 minutes

Outputs go to ``--out`` (default: a new temporary folder).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from ndx_encoding_subspace.datasets.simulated.site import SimulationParams, load_truth, simulate_site
from ndx_encoding_subspace.pipeline.demo import demo_config, demo_simulation
from ndx_encoding_subspace.pipeline.run import run_site
from ndx_encoding_subspace.results import load_results
from ndx_encoding_subspace.viz.report import write_report

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--quick", action="store_true", help="tiny site and models (CI size)")
parser.add_argument("--out", type=Path, default=None, help="output folder (default: temporary)")
args = parser.parse_args()
out = args.out or Path(tempfile.mkdtemp(prefix="encoding-subspace-quickstart-"))
out.mkdir(parents=True, exist_ok=True)

# %% [markdown]
# ## 1. Simulate a site and write it as NWB
# ``SimulationParams`` sets its size; ``quick()`` gives 8 units and 30 s of sound, and
# ``demo_simulation()`` the demo's site (16 units, 120 s). The file is an ordinary NWB
# recording: the same reader handles your own files and DANDI assets.
if args.quick:
    sim_params = SimulationParams.quick(n_units=4, n_estimation_sounds=16, validation_repeats=6)
else:
    sim_params = demo_simulation()
recording = simulate_site(sim_params).write_nwb(out / "simulated_site.nwb", overwrite=True)
print(f"recording: {recording}")

# %% [markdown]
# ## 2. Configure and run the method
# ``PipelineConfig`` holds every parameter of the paper (its values are the defaults);
# ``demo_config`` shrinks the ensemble and the epochs for a laptop, and ``replace`` changes
# any parameter by section. Unknown sections or keys are errors.
config = demo_config(quick=args.quick)
if args.quick:
    config = config.replace(
        training={"max_epochs": 12, "patience": 4},
        cnn={"mix_channels": 8, "hidden": [8, 8]},
        ln={"channels": 8},
        subspace={"n_components": 10, "noise_repeats": 2},
        dstrf={"max_samples": 400},
        subspace_model={"hidden": [6, 6]},
        tiling={"n_grid": 8},
        scoring={"n_shuffles": 10},
    )
result = run_site(recording, out, config, progress=not args.quick)
print(result.format())

# %% [markdown]
# ## 3. Read the results back
# ``load_results`` returns plain arrays (and the models as torch modules). Scores are per
# unit: Pearson r on the validation sounds for the LN, CNN and subspace models.
loaded = load_results(result.path)
truth = load_truth(recording)
r = loaded.unit_scores("r")
ids = np.asarray(loaded.units["id"])
print(f"\n{'unit':>5} {'r LN':>6} {'r CNN':>6} {'r sub':>6} {'k true':>6} {'k':>3} {'k90':>4}")
for sub in loaded.subspaces:
    u = sub.unit_position
    row = [r.get(name, np.full(len(ids), np.nan))[u]
           for name in ("ln_baseline", "population_cnn", "subspace_models")]
    print(f"{ids[u]:>5} {row[0]:>6.3f} {row[1]:>6.3f} {row[2]:>6.3f} "
          f"{truth.unit(int(ids[u])).k:>6} {sub.k:>3} {sub.k90:>4}")

# %% [markdown]
# ## 4. The report
# One self-contained HTML file next to the results (open it in any browser, offline).
# ``encoding-subspace report RESULTS.nwb`` does the same from the shell.
if not args.quick:
    print(f"report: {write_report(result.path, overwrite=True)}")
print(f"results: {result.path}")
