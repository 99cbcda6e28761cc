"""NS1 benchmark (METHOD.md section 9): LN and population CNN, CCnorm / CCraw over 73 units.

Data: Harper et al. (2016), PLoS Comput Biol 12:e1005113 (``../shared/data/ns1``). At run
time the 27 archive sites holding valid units are written to NWB by the public converter
(:func:`convert_ns1`, into ``--nwb-dir`` or a temporary folder) and read back, file by file,
with :func:`read_site` (:func:`read_ns1` joins them into one population); nothing else
reads the archive's spikes or sounds. With ``--quick``: the first 4 of those sites.
Protocol: 73 valid units as one population; test clips 3, 6, 9, 19 never used for fitting,
early stopping or any choice; 5 ms bins (999 per clip), trials smoothed with
[0.5, 1, 0.5], target = trial mean. Front end: this package's gammatone spectrogram
(32 channels, 200 Hz - 20 kHz, power^0.25, log(10x + 1), min-max scaled) at 5 ms bins.

Each model is fitted from several seeds on all 16 training clips (the last 20% held out
for early stopping inside each fit) with the paper's training defaults. Reported: mean and
median over units of CCnorm and CCraw, averaged over seeds (``*_seedavg``), and of the
seed ensemble (prediction averaged over seeds). The last line's ``ln_ccnorm_mean`` etc.
are the seed averages.

Subspace step (METHOD.md sections 3 to 5, paper defaults of :class:`PipelineConfig`):
ensemble dSTRFs of the CNN's seed members (D = 30 lags = 150 ms, at least the CNN's
receptive field of 29 bins) at every 47th estimation bin, per-unit PCA (25 components,
k at 95% of their variance), then one subspace model (k -> 15 -> 15 -> 1) per unit,
trained like the CNN on the estimation clips and scored on the same test clips with
the same scores. Reported over the units fitted (all 73 unless ``--subspace-units``):

* ``subspace_ccnorm_mean`` / ``_median``: CCnorm of the subspace models, next to the
  CNN ensemble's CCnorm over the same units (``cnn_ens_ccnorm_mean_ss_units``);
* ``ss_cnn_r2_ratio_median``: median over units of ``(r_subspace / r_CNN)^2``, with
  ``r_CNN`` the r of the seed ensemble the subspaces come from (its sign kept: a unit
  whose two r's differ in sign counts negative; units with ``r_CNN <= 0`` or a NaN r
  are left out; ``ss_ratio_n`` counts those kept); ``ss_cnn_r2_ratio_median_vs_seed``
  takes ``r_CNN`` as the mean over seeds of each single CNN's r (one fit against one fit);
* ``k90_median`` (and the full distribution of k at 90%, printed), ``k95_median``;
* ``similarity_within_median`` / ``similarity_between_median``: mean squared cosine of
  the principal angles between the tuning subspaces of two units recorded at the same
  NS1 site (shared ``experiment/penetration``) against two units of different sites,
  with ``similarity_p_value``: the Wilcoxon signed-rank test over sites of each site's
  within-site mean against the mean of its pairs with other sites.

Reuse: :func:`fit_ns1` returns the fitted :class:`Ensemble` of one model kind;
:func:`subspace_step` runs the subspace step on a fitted CNN ensemble.

The user's path, ``--command`` (:mod:`ns1_command`): the converted files are run through
``encoding-subspace run --population dataset`` (one CNN for all 73 units) and, for the
sites with at least 5 valid units, ``--population site`` (one CNN each); every figure is
read from the runs' summary tables, the per-site ones prefixed ``persite_``.

The paper's ensemble instead of the seeds: ``--ensemble 8x4`` fits 8 jackknifes x 4
starts of each model as one batched fit (best start per jackknife kept), on
``--device cuda`` when there is a GPU (training, dSTRFs and subspace models).

Usage: ``python benchmarks/bench_ns1.py [--quick] [--seeds 3 | --ensemble 8x4] [--device cpu]
[--threads 1] [--subspace-units N] [--skip-ln] [--nwb-dir DIR]
[--command [--workers 2] [--preset paper]]``.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from ndx_encoding_subspace.circuit import within_between
from ndx_encoding_subspace.compute import thread_limits
from ndx_encoding_subspace.data.site import SiteData
from ndx_encoding_subspace.datasets.ns1 import NS1_SIGNAL_POWER, convert_ns1, protocol_sites, read_ns1
from ndx_encoding_subspace.fitting.ensemble import Ensemble, EnsembleParams, fit_ensemble
from ndx_encoding_subspace.fitting.schedule import TrainingParams
from ndx_encoding_subspace.fitting.scores import score_model
from ndx_encoding_subspace.models import LNPopulation, PopulationCNN
from ndx_encoding_subspace.pipeline.config import PipelineConfig
from ndx_encoding_subspace.pipeline.stages import score_ensemble, subspace_models, tuning_subspaces

DATA = Path(os.environ.get("NDX_ES_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
NS1 = DATA / "ns1" / "ns1_compact.npz"


def ns1_site(path: Path = NS1, nwb_dir: Path | None = None, n_sites: int | None = None) -> SiteData:
    """The NS1 benchmark site (73 units, test clips as validation sounds), read from NWB.

    The archive's sites holding valid units (the first ``n_sites`` of them) are converted
    with :func:`convert_ns1` into ``nwb_dir`` (gzipped, kept) or a temporary folder
    (uncompressed, removed), then read back with :func:`read_ns1`.
    """
    sites = protocol_sites(path)[:n_sites]
    with tempfile.TemporaryDirectory(prefix="ns1-nwb-") as tmp:
        folder = Path(nwb_dir) if nwb_dir is not None else Path(tmp)
        files = convert_ns1(path, folder, sites=sites, compression=nwb_dir is not None)
        return read_ns1(files)


def fit_ns1(kind: str, site: SiteData, seeds: tuple[int, ...] = (0, 1, 2), *, quick: bool = False,
            training: TrainingParams | None = None, ensemble: EnsembleParams | None = None) -> Ensemble:
    """Fit ``kind`` ('ln' or 'cnn') once per seed, the members forming one ensemble; or,
    with ``ensemble``, the paper's ensemble (jackknifes x starts, batched) from seed 0."""
    n_f, n_u = site.n_frequencies, site.n_units
    if kind == "cnn":
        make = (lambda: PopulationCNN(n_f, n_u, mix_channels=12, hidden=(12, 12))) if quick \
            else (lambda: PopulationCNN(n_f, n_u))
    elif kind == "ln":
        make = (lambda: LNPopulation(n_f, n_u, channels=12)) if quick else (lambda: LNPopulation(n_f, n_u))
    else:
        raise ValueError(f"kind must be 'ln' or 'cnn', got {kind!r}")
    training = training or TrainingParams(device="cpu", **({"max_epochs": 3} if quick else {}))
    if ensemble is not None:
        return fit_ensemble(site, make, training.replace(seed=seeds[0]), ensemble)
    fits = [fit_ensemble(site, make, training.replace(seed=s), EnsembleParams(n_jackknife=1, n_init=1))
            for s in seeds]
    return Ensemble(
        members=[m for f in fits for m in f.members], records=[r for f in fits for r in f.records],
        info=[i for f in fits for i in f.info], candidates=[c for f in fits for c in f.candidates],
    )


def evaluate(kind: str, ens: Ensemble, site: SiteData) -> dict[str, float]:
    """Per-seed and ensemble CCnorm / CCraw summaries."""
    per_seed = []
    for m in ens.members:
        single = Ensemble([m], [], [], [])
        per_seed.append(score_model(single.predict, site, n_shuffles=20,
                                    signal_power_rule=NS1_SIGNAL_POWER).summary())
    joint = score_model(ens.predict, site, n_shuffles=20, signal_power_rule=NS1_SIGNAL_POWER).summary()
    out = {}
    for key in ("ccnorm_mean", "ccnorm_median", "ccraw_mean", "ccraw_median"):
        vals = [s[key] for s in per_seed]
        out[f"{kind}_{key}"] = float(np.mean(vals))
        out[f"{kind}_{key}_seedsd"] = float(np.std(vals))
        out[f"{kind}_{key}_ens"] = joint[key]
    out[f"{kind}_epochs_mean"] = float(np.mean([r.epochs for r in ens.records]))
    return out


def subspace_config(quick: bool = False, sample_step: int = 47, device: str = "cpu") -> PipelineConfig:
    """The paper's defaults on ``device`` (dSTRFs at every 47th bin, at most 3000; another
    ``sample_step`` lifts the cap); ``quick``: 3 epochs and a small sample."""
    dstrf: dict = {"device": device, "sample_step": sample_step}
    if sample_step != 47:
        dstrf["max_samples"] = 10_000_000
    sections: dict[str, dict] = {"training": {"device": device}, "dstrf": dstrf,
                                 "scoring": {"signal_power": NS1_SIGNAL_POWER}}
    if quick:
        sections["training"]["max_epochs"] = 3
        sections["dstrf"]["max_samples"] = 60
        sections["subspace"] = {"noise_repeats": 2}
    return PipelineConfig(**sections)


def _site_groups(site: SiteData) -> list[list[int]]:
    """Unit positions of ``site`` grouped by NS1 recording site (one NWB file each)."""
    position = {int(u): p for p, u in enumerate(site.units.ids)}
    groups = [[position[u] for u in members if u in position]
              for members in site.source["recording_sites"].values()]
    return [g for g in groups if g]


def subspace_step(cnn: Ensemble, site: SiteData, *, units: np.ndarray | None = None,
                  quick: bool = False, sample_step: int = 47, device: str = "cpu") -> dict[str, float]:
    """Tuning subspaces of every unit from the CNN ensemble, subspace models for ``units``.

    Prints a per-unit table and the distribution of k at 90%; returns the summary
    figures (see the module docstring).
    """
    config = subspace_config(quick, sample_step, device)
    out: dict[str, float] = {}
    start = time.perf_counter()
    subs, _shared = tuning_subspaces(cnn, site, config)
    out["subspace_s"] = time.perf_counter() - start
    k90 = np.array([s.k90 for s in subs])
    k95 = np.array([s.k95 for s in subs])
    k = np.array([s.k for s in subs])
    values, counts = np.unique(k90, return_counts=True)
    print("k90 distribution (k: units): " + ", ".join(f"{v}: {c}" for v, c in zip(values, counts)))
    out.update(k90_median=float(np.median(k90)), k90_mean=float(k90.mean()),
               k90_min=int(k90.min()), k90_max=int(k90.max()), k95_median=float(np.median(k95)),
               k_median=float(np.median(k)))

    groups = _site_groups(site)
    wb = within_between([[subs[p] for p in g] for g in groups])
    out.update(similarity_within_median=wb["within_median"],
               similarity_between_median=wb["between_median"], similarity_p_value=wb["p_value"],
               similarity_n_within=len(wb["within"]), similarity_n_between=len(wb["between"]),
               n_recording_sites=len(groups))

    units = np.arange(site.n_units) if units is None else np.asarray(units, dtype=np.int64)
    cnn_scores = score_ensemble(cnn, site, config)
    start = time.perf_counter()

    def progress(stage: str, done: int, total: int) -> None:
        if done:
            print(f"{stage}: {done}/{total} fitted, {time.perf_counter() - start:.0f} s", flush=True)

    fitted = subspace_models(site, [subs[u] for u in units], config, progress=progress)
    out["ssmodel_s"] = time.perf_counter() - start
    r_ss = np.array([float(m.scores.r[0]) for m in fitted])
    cc_ss = np.array([float(m.scores.ccnorm[0]) for m in fitted])
    r_cnn, cc_cnn = cnn_scores.r[units], cnn_scores.ccnorm[units]
    ok = np.isfinite(r_ss) & np.isfinite(r_cnn) & (r_cnn > 0)
    ratio = np.full(len(units), np.nan)
    ratio[ok] = np.sign(r_ss[ok]) * (r_ss[ok] / r_cnn[ok]) ** 2
    # single fit against single fit: r of each CNN seed, averaged over seeds
    r_seed = np.mean([score_model(Ensemble([m], [], [], []).predict, site, n_shuffles=1).r[units]
                      for m in cnn.members], axis=0)
    ok_seed = np.isfinite(r_ss) & np.isfinite(r_seed) & (r_seed > 0)
    ratio_seed = np.sign(r_ss[ok_seed]) * (r_ss[ok_seed] / r_seed[ok_seed]) ** 2

    site_of = {p: gi for gi, g in enumerate(groups) for p in g}
    print(f"{'pos':>4} {'unit':>5} {'site':>4} {'k90':>4} {'k95':>4} {'k':>3} {'epochs':>6} "
          f"{'r_cnn':>7} {'r_ss':>7} {'cc_cnn':>7} {'cc_ss':>7} {'ratio':>7}")
    for i, (u, m) in enumerate(zip(units, fitted)):
        print(f"{u:4d} {int(site.units.ids[u]):5d} {site_of.get(int(u), -1):4d} {k90[u]:4d} "
              f"{k95[u]:4d} {k[u]:3d} {m.record.epochs:6d} {r_cnn[i]:7.3f} {r_ss[i]:7.3f} "
              f"{cc_cnn[i]:7.3f} {cc_ss[i]:7.3f} {ratio[i]:7.3f}", flush=True)
    out.update(
        subspace_ccnorm_mean=float(np.nanmean(cc_ss)), subspace_ccnorm_median=float(np.nanmedian(cc_ss)),
        cnn_ens_ccnorm_mean_ss_units=float(np.nanmean(cc_cnn)),
        subspace_r_mean=float(np.nanmean(r_ss)), cnn_ens_r_mean_ss_units=float(np.nanmean(r_cnn)),
        ss_cnn_r2_ratio_median=float(np.median(ratio[ok])) if ok.any() else float("nan"),
        ss_cnn_r2_ratio_frac_ge_095=float(np.mean(ratio[ok] >= 0.95)) if ok.any() else float("nan"),
        ss_cnn_r2_ratio_median_vs_seed=float(np.median(ratio_seed)) if ok_seed.any() else float("nan"),
        ss_ratio_n=int(ok.sum()), ss_units=len(units),
    )
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="tiny models, 3 epochs, 1 seed")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1,
                    help="CPU threads for torch, BLAS and OpenMP (0: leave as they are)")
    ap.add_argument("--subspace-units", type=int, default=None,
                    help="subspace models for this many units, evenly spread (default: all; 3 with --quick)")
    ap.add_argument("--skip-ln", action="store_true", help="fit the CNN only")
    ap.add_argument("--ensemble", default="",
                    help="JxI: instead of --seeds, the paper's ensemble of J jackknifes x I starts "
                         "(e.g. 8x4), trained batched")
    ap.add_argument("--device", default="cpu", help="cpu or cuda: training, dSTRFs and subspace models")
    ap.add_argument("--sample-step", type=int, default=47,
                    help="dSTRFs at every N-th estimation bin (paper: 47, at most 3000; "
                         "other steps: no cap, streamed when large)")
    ap.add_argument("--nwb-dir", type=Path, default=None,
                    help="keep the converted NS1 NWB files here (default: a temporary folder)")
    ap.add_argument("--command", action="store_true",
                    help="run NS1 through 'encoding-subspace run' and read the summary tables")
    ap.add_argument("--workers", type=int, default=2, help="dask worker processes with --command")
    ap.add_argument("--preset", default=None,
                    help="with --command: start from this shipped preset (e.g. 'paper')")
    args = ap.parse_args(argv)
    if not NS1.exists():
        print(f"NS1 archive not found at {NS1} (set NDX_ES_SHARED_DATA to the shared data folder); "
              "skipped")
        print("skipped=1")
        return 0
    # bounded BLAS threads too: on a shared machine a threaded OpenBLAS waits on busy
    # cores (the subspace PCA ran 60x slower with 2 BLAS threads under load)
    if args.command or args.preset:
        return _command(args)
    with thread_limits(args.threads):
        return _run(args)


def _command(args: argparse.Namespace) -> int:
    from ns1_command import run_command

    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="ns1-command-") as tmp:
        work = Path(args.nwb_dir) if args.nwb_dir is not None else Path(tmp)
        results = run_command(NS1, work, seeds=1 if args.quick else args.seeds, quick=args.quick,
                              workers=args.workers, preset=args.preset)
    results["seeds"] = 1 if args.quick else args.seeds
    results["total_s"] = time.perf_counter() - t0
    head = ["ln_ccnorm_mean", "ln_ccnorm_median", "cnn_ccnorm_mean", "cnn_ccnorm_median",
            "ss_cnn_r2_ratio_median", "subspace_ccnorm_mean"]
    order = [k for k in head if k in results] + [k for k in results if k not in head]
    print(" ".join(f"{k}={_fmt(results[k])}" for k in order))
    return 0 if results.get("dataset_exit") == 0 and results.get("per_site_exit") == 0 else 1


def _fmt(v: float | int) -> str:
    if not isinstance(v, float):
        return str(v)
    return f"{v:.3e}" if 0 < abs(v) < 1e-3 else f"{v:.4f}"


def _run(args: argparse.Namespace) -> int:
    t0 = time.perf_counter()
    site = ns1_site(nwb_dir=args.nwb_dir, n_sites=4 if args.quick else None)
    read_s = time.perf_counter() - t0
    print(f"NS1 read from NWB: {site.n_units} units of {len(site.source['recording_sites'])} sites, "
          f"{read_s:.0f} s", flush=True)
    seeds = (0,) if args.quick else tuple(range(args.seeds))
    ensemble = None
    if args.ensemble:
        try:
            n_jackknife, n_init = (int(v) for v in args.ensemble.lower().split("x"))
        except ValueError:
            print(f"--ensemble takes JxI, such as 8x4, not {args.ensemble!r}", file=sys.stderr)
            return 2
        ensemble = EnsembleParams(n_jackknife=n_jackknife, n_init=n_init)
    training = TrainingParams(device=args.device, **({"max_epochs": 3} if args.quick else {}))
    results: dict[str, float] = {}
    for kind in ("cnn",) if args.skip_ln else ("ln", "cnn"):
        start = time.perf_counter()
        ens = fit_ns1(kind, site, seeds, quick=args.quick, training=training, ensemble=ensemble)
        results.update(evaluate(kind, ens, site))
        results[f"{kind}_fit_s"] = time.perf_counter() - start
        print(" ".join(f"{k}={v:.4f}" for k, v in results.items() if k.startswith(kind)), flush=True)
    n_ss = args.subspace_units if args.subspace_units is not None else (3 if args.quick else site.n_units)
    n_ss = min(max(n_ss, 1), site.n_units)
    units = np.unique(np.linspace(0, site.n_units - 1, n_ss).round().astype(np.int64))
    results.update(subspace_step(ens, site, units=units, quick=args.quick,
                                 sample_step=args.sample_step, device=args.device))
    if args.ensemble:
        results["ensemble"] = args.ensemble
    results["dstrf_sample_step"] = args.sample_step
    results["seeds"] = len(seeds)
    results["nwb_read_s"] = read_s
    results["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    results["total_s"] = time.perf_counter() - t0
    head = ["ln_ccnorm_mean", "ln_ccnorm_median", "cnn_ccnorm_mean", "cnn_ccnorm_median",
            "ln_ccraw_mean", "cnn_ccraw_mean"]
    order = [k for k in head if k in results] + [k for k in results if k not in head]
    print(" ".join(f"{k}={_fmt(results[k])}" for k in order))
    return 0


if __name__ == "__main__":
    sys.exit(main())
