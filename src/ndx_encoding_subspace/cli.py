"""The ``encoding-subspace`` command line: a thin layer over the Python API.

Exit codes: 0 success; 1 unexpected internal error; 2 bad option or configuration; 3 unusable input data
(``inspect`` too, after printing its report, when it finds problems that keep the reader from using the
file); 4 remote (DANDI / HTTP / dask scheduler) failure; 5 training failure; 6 unusable results file; 7
the operating system refused a file operation (for example an output folder that cannot be created); 8 an
optional package is missing; 9 some sites of a multi-site run failed (the others finished; a table says
which and why); 130 interrupted (Ctrl-C); 143 terminated (SIGTERM, as a batch system or ``timeout`` sends
it): either way a multi-site run records its running sites as interrupted, and a rerun finishes them.

Start-up stays light: the flags are built from the parameter sets, which import neither
torch, scipy nor pynwb, and each command imports what it runs when it runs. So
``--version``, ``--help`` and argument errors answer at once, and ``run`` reports an input
that names nothing before it loads the pipeline (``tests/test_cli_startup.py``).
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from .cli_flags import (
    _add_config_flags,
    _add_dataset_flags,
    _config_from_args,
    _dataset_from_args,
    _negatives_joined,
    _path,
    _text,
)
from .errors import (
    ConfigError,
    EncodingSubspaceError,
    InputError,
    MissingDependencyError,
    ResultsError,
    SitesFailedError,
    Terminated,
    cause_of,
    missing_extra,
    one_line_warning,
    os_cause,
    terminate_as_interrupt,
)
from .preflight import is_remote, local_nwb, output_folder, results_file, results_folder

__all__ = ["main", "build_parser"]

EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143
EXIT_OS_ERROR = 7
#: ``inspect`` found problems: the code of the errors behind them (InputError)
EXIT_UNUSABLE = InputError.exit_code

EXIT_CODES = (
    "exit codes: 0 success; 1 unexpected internal error; 2 bad option or configuration; "
    f"{EXIT_UNUSABLE} unusable input data (inspect: the file has problems, after the report); "
    "4 remote (DANDI / HTTP / dask scheduler) failure; 5 training failure; 6 unusable results file; "
    f"{EXIT_OS_ERROR} the operating system refused a file operation; 8 an optional package "
    f"is missing; 9 some sites of a multi-site run failed (summarize: some results files could not be "
    f"read); {EXIT_INTERRUPTED} interrupted; "
    f"{EXIT_TERMINATED} terminated (SIGTERM)"
)


class _Parser(argparse.ArgumentParser):
    """argparse's parser, its errors said in one line (the usage is in ``--help``)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _add_summarize(sub: Any) -> None:
    summarize = sub.add_parser(
        "summarize", allow_abbrev=False, help="tables and report of every results file in a folder",
        description="Write OUT/summary/: units.csv, dimensions.csv, pairs.csv, sites.csv and "
        "report.html (the cross-site figures with their statistics).", epilog=EXIT_CODES)
    summarize.add_argument("out", type=_path, help="output folder of a run")
    summarize.add_argument("--out", dest="summary_folder", metavar="DIR", type=_path, default=None,
                           help="folder of the tables and report (default OUT/summary; elsewhere for a "
                                "read-only OUT)")
    summarize.add_argument("--config", type=_path, action="append",
                           help="TOML or YAML file whose [dataset] table sets the statistics' parameters "
                                "(repeatable; the flags below change them further)")
    _add_dataset_flags(summarize)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = _Parser(
        prog="encoding-subspace", allow_abbrev=False,
        description="Fit deep encoding models to auditory neurons recorded in NWB files and "
        "reduce them to tuning subspaces, written back into NWB.", epilog=EXIT_CODES,
    )
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    demo = sub.add_parser(
        "demo", allow_abbrev=False, help="simulate a virtual site and run the whole method on it",
        epilog=EXIT_CODES)
    demo.add_argument("--out", type=_path, default=Path("encoding-subspace-demo"),
                      help="output folder (default: ./encoding-subspace-demo)")
    demo.add_argument("--quick", action="store_true", help="small sizes to try the steps (about a minute; "
                      "the models are barely trained: no results to read)")
    demo.add_argument("--device", default=None, help="torch device: auto, cpu, cuda, cuda:1")
    demo.add_argument("--seed", type=int, default=None,
                      help="simulation and training seed (default: the parameters' own)")
    demo.add_argument("--no-progress", action="store_true", help="no progress bars")
    demo.add_argument("--overwrite", action="store_true",
                      help="simulate the demo's recording again when it was simulated with other "
                      "parameters (another --seed or --quick), and replace its results file when it was "
                      "made with other parameters (another --seed, --quick or --config)")
    _add_config_flags(demo, sections=("compute",), preset=False)

    run = sub.add_parser(
        "run", allow_abbrev=False, help="run the whole method on NWB files or a DANDI dataset",
        description="Run the whole method on every site the inputs name: one results file per "
        "site, resumable. One site runs in this process; several run in parallel on a dask "
        "LocalCluster (--workers), an existing cluster (--scheduler, --scheduler-file) or SLURM "
        "([cluster] kind = 'slurm'). A site that fails is recorded and the others go on; a rerun "
        "retries only the unfinished sites; OUT/summary/ gets the dataset tables and report.",
        epilog=EXIT_CODES)
    run.add_argument("input", nargs="+", type=_text,
                     help="NWB files, folders, glob patterns, DANDI:000123[@version][/path glob], "
                     "or asset URLs")
    run.add_argument("--out", type=_path, default=None,
                     help="output folder (default: ./encoding-subspace-results)")
    run.add_argument("--device", default=None, help="torch device: auto, cpu, cuda, cuda:1")
    run.add_argument("--cache", type=_path, default=None, help="local cache folder for DANDI assets")
    run.add_argument("--no-progress", action="store_true", help="no progress bars")
    run.add_argument("--report", action="store_true", help="also write the HTML report of each site")
    run.add_argument("--overwrite", action="store_true",
                     help="replace results files made from another input or with other parameters "
                     "(refused otherwise; a complete one of the same input and parameters is kept)")
    run.add_argument("--population", choices=("site", "dataset"), default="site",
                     help="site (default, the paper's): one CNN per site; dataset: one CNN fitted on "
                     "the units of every site (they must have heard the same sounds), subspaces and "
                     "results per site")
    where = run.add_argument_group("where sites run (shortcuts of the [cluster] parameters)")
    where.add_argument("--workers", type=int, default=None,
                       help="worker processes of the local dask cluster (0: one per core)")
    where.add_argument("--scheduler", default=None, help="address of a running dask scheduler")
    where.add_argument("--scheduler-file", default=None, help="scheduler file of a running dask cluster")
    _add_config_flags(run)
    _add_dataset_flags(run)

    _add_summarize(sub)

    inspect = sub.add_parser(
        "inspect", allow_abbrev=False, help="show what the reader finds in an NWB file",
        description="Show what the reader finds in an NWB file and what it would use; the "
        "--reader.* flags (and [reader] of --config) show what an override would choose, the "
        "--dstrf.*, --ensemble.* and --subspace.* flags whether a run with them could analyse the site.",
        epilog=f"exits {EXIT_UNUSABLE}, after printing the report, when the reader cannot use "
        f"the file as it is (the report lists the problems); {EXIT_CODES}",
    )
    inspect.add_argument("input", type=_text, help="local NWB path, DANDI identifier or asset URL")
    inspect.add_argument("--json", action="store_true", help="machine-readable output")
    _add_config_flags(inspect, sections=("reader", "spectrogram", "dstrf", "ensemble", "subspace"))

    report = sub.add_parser("report", allow_abbrev=False, help="write a static HTML report of a results file",
                            epilog=EXIT_CODES)
    report.add_argument("results", type=_path, help="results NWB file written by run or demo")
    report.add_argument("--out", type=_path, default=None,
                        help="HTML file (default: next to the results, .html)")
    parser.commands = dict(sub.choices)  # type: ignore[attr-defined]
    return parser


def _flags_win(config: Any, device: str | None, seed: int | None = None) -> Any:
    """``config`` with the ``--device`` and ``--seed`` flags given, over a ``--config`` file."""
    if device is not None:
        config = config.replace(training={"device": device}, dstrf={"device": device})
    return config if seed is None else config.replace(training={"seed": seed})


def _run_config(args: argparse.Namespace):
    config = _flags_win(_config_from_args(args), args.device)
    if args.cache is not None:  # the same folder as --reader.cache_dir
        config = config.replace(reader={"cache_dir": str(args.cache)})
    cluster: dict[str, Any] = {}
    if args.workers is not None:
        kind = config.cluster.kind
        if kind == "scheduler" and args.scheduler is None and args.scheduler_file is None:
            raise ConfigError(f"--workers {args.workers}: the configuration's [cluster] connects to a dask "
                              "scheduler, whose workers are its own; leave out --workers, or set "
                              "--cluster.kind local")
        cluster.update(kind="slurm" if kind == "slurm" else "local", workers=args.workers)
    if args.scheduler is not None:
        cluster.update(kind="scheduler", scheduler=args.scheduler)
    if args.scheduler_file is not None:
        cluster.update(kind="scheduler", scheduler_file=args.scheduler_file)
    return config.replace(cluster=cluster) if cluster else config


def _run(args: argparse.Namespace) -> int:
    """One site in this process; several on dask, with a failure table and the summary."""
    from .pipeline.checks import check_config
    from .pipeline.sources import expand_inputs

    config = _run_config(args)
    check_config(config)  # before any input is read
    statistics = _dataset_from_args(args)  # a bad value refused before any site runs
    out = output_folder(args.out or Path("encoding-subspace-results"))
    sites = expand_inputs(args.input, reader=config.reader)  # before the pipeline loads
    if args.report and out.is_dir():  # a report that could not be written is refused before any site runs
        from .pipeline.run import results_path
        from .viz.report import check_report_target, report_path

        for site in sites:
            check_report_target(report_path(results_path(out, site.site)), overwrite=True)
    many = (len(sites) > 1 or args.workers is not None or args.scheduler or args.scheduler_file
            or args.population != "site" or config.cluster.kind in ("scheduler", "slurm"))
    if not many:
        from .pipeline.run import run_site

        result = run_site(sites[0].source, out, config, progress=not args.no_progress,
                          cache=args.cache, overwrite=args.overwrite)
        print(result.format())
        if args.report:
            from .viz.report import write_report

            print(f"report: {write_report(result.path, overwrite=True)}")
        return 0
    from .pipeline.dataset import run_dataset, summarize_run

    failed = 0
    done = run_dataset(sites, out, config, progress=not args.no_progress, population=args.population,
                       on_site=lambda s: print(s.line(), file=sys.stderr, flush=True),
                       overwrite=args.overwrite)
    print(done.format())
    if args.report:
        from .viz.report import write_report

        for site in done.sites:
            if site.status in ("done", "skipped") and site.results:
                try:
                    print(f"report: {write_report(site.results, overwrite=True)}")
                except (ConfigError, ResultsError, OSError) as err:  # the other reports and the summary go on
                    print(f"encoding-subspace: error: report of site {site.site!r} not written: {err}",
                          file=sys.stderr)
                    failed = failed or getattr(err, "exit_code", EXIT_OS_ERROR)
    summary = summarize_run(out, params=statistics)
    print(f"summary: {summary.folder}")
    return done.exit_code or failed


def _summarize(args: argparse.Namespace) -> int:
    """``summarize OUT``: the tables and report; 9 when some results files could not be read."""
    results_folder(args.out)  # before the summary's modules load
    _config_from_args(args)  # every section of the --config files checked, as run checks them
    if not any(Path(args.out).glob("*.results.nwb")):
        raise ResultsError(f"{args.out}: no results files (*.results.nwb) to summarize")
    from .pipeline.dataset import summarize_run

    summary = summarize_run(args.out, params=_dataset_from_args(args), folder=args.summary_folder)
    print("\n".join(f"{name}: {path}" for name, path in summary.files.items()))
    sites = summary.sites
    if not any(name and state != "unreadable" for name, state in zip(sites["results"], sites["status"])):
        raise ResultsError(f"{args.out}: no results file could be read (sites.csv names them)")
    if summary.unreadable:  # a partial summary is not taken for a whole one
        print(f"encoding-subspace: error: {len(summary.unreadable)} results file(s) could not be read "
              f"and are left out of the summary: {', '.join(summary.unreadable[:5])} (sites.csv names "
              "them)", file=sys.stderr)
        return SitesFailedError.exit_code
    return 0


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "demo":
        from .pipeline.demo import demo_config, run_demo

        config = _config_from_args(args, demo_config(quick=args.quick, device=args.device, seed=args.seed))
        config = _flags_win(config, args.device, args.seed)  # over --config, as in run
        summary = run_demo(args.out, quick=args.quick, device=args.device, seed=args.seed,
                           progress=not args.no_progress, config=config, overwrite=args.overwrite)
        print(summary.format())
        return 0
    if args.command == "run":
        return _run(args)
    if args.command == "summarize":
        return _summarize(args)
    if args.command == "inspect":
        if not is_remote(str(args.input)):
            local_nwb(args.input)  # before the readers load
        from .io import inspect_nwb
        from .pipeline.checks import check_config, site_problems

        config = _config_from_args(args)
        check_config(config)
        found = inspect_nwb(args.input, reader=config.reader, check=True, spectrogram=config.spectrogram,
                            validate=lambda site: site_problems(site, config))
        print(json.dumps(found.to_dict(), indent=2) if args.json else found.format())
        if found.problems:
            count = f"{len(found.problems)} problem{'s' if len(found.problems) > 1 else ''}"
            print(f"encoding-subspace: error: {found.source}: the reader cannot use this file "
                  f"({count}, listed in the report)", file=sys.stderr)
            return EXIT_UNUSABLE
        return 0
    if args.command == "report":
        results_file(args.results)  # before the loader loads
        from .viz.report import write_report

        print(f"report: {write_report(args.results, args.out, overwrite=True)}")
        return 0
    raise ConfigError("no command given; try: encoding-subspace demo")


def _unknown(parser: argparse.ArgumentParser, args: argparse.Namespace, extra: list[str],
             given: list[str]) -> NoReturn:
    """Arguments no parser knows, said by the parser of the subcommand they follow (else the
    main one) with the closest flag."""
    import difflib

    name = getattr(args, "command", None) or ""
    before = name in given and extra[0] in given and given.index(extra[0]) < given.index(name)
    command = parser if before else parser.commands.get(name, parser)  # type: ignore[attr-defined]
    flags = [o for action in command._actions for o in action.option_strings]
    close = difflib.get_close_matches(extra[0].split("=")[0], flags, n=1, cutoff=0.75) \
        if extra[0].startswith("--") else []
    command.error(f"unrecognized arguments: {' '.join(extra)}"
                  + (f" (did you mean {close[0]}?)" if close else ""))


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``encoding-subspace``; returns the exit code."""
    try:
        with warnings.catch_warnings(), terminate_as_interrupt():
            warnings.showwarning = one_line_warning
            parser = build_parser()
            given = _negatives_joined(sys.argv[1:] if argv is None else list(argv))
            args, extra = parser.parse_known_args(given)
            if extra:
                _unknown(parser, args, extra, given)
            if args.version:
                from . import __version__

                print(__version__)
                return 0
            if args.command is None:
                parser.print_help()
                return 2
            return _dispatch(args)
    except EncodingSubspaceError as err:
        print(f"encoding-subspace: error: {err}", file=sys.stderr)
        return err.exit_code
    except Exception as err:
        stopped = cause_of(err, KeyboardInterrupt)  # wrapped by Python (in a class creation)
        if stopped is not None:
            return _interrupted(stopped)
        extra = missing_extra(err)
        if extra is None:
            cause = os_cause(err)  # an OSError, or one a library wrapped (dask's cluster start)
            if cause is not None:
                return _os_error(cause)
            raise
        print(f"encoding-subspace: error: this needs {extra[0]}, which is not installed: "
              f"pip install 'ndx-encoding-subspace[{extra[1]}]'", file=sys.stderr)
        return MissingDependencyError.exit_code
    except KeyboardInterrupt as err:
        return _interrupted(err)


def _interrupted(err: KeyboardInterrupt) -> int:
    if isinstance(err, Terminated):
        print("encoding-subspace: terminated", file=sys.stderr)
        return EXIT_TERMINATED
    print("encoding-subspace: interrupted", file=sys.stderr)
    return EXIT_INTERRUPTED


def _os_error(err: OSError) -> int:
    """One line for an operating-system refusal ("out/file/sub: Not a directory")."""
    said = f"{err.filename}: {err.strerror}" if err.filename and err.strerror else str(err)
    if isinstance(err, FileExistsError) and err.filename and Path(err.filename).is_file():
        said = f"{err.filename}: a file where a folder is needed"
    if "temporary directory" in str(err):
        said += " (set TMPDIR to a writable folder)"
    elif err.filename and Path(str(err.filename)).name == ".cache":  # pynwb's cache, made on import
        said += " (set XDG_CACHE_HOME to a writable folder)"
    print(f"encoding-subspace: error: {said}", file=sys.stderr)
    return EXIT_OS_ERROR


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
