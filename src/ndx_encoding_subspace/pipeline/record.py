"""The record of a multi-site run: which sites are finished, and the state of every site.

:func:`initial_states` reads the record an earlier run left in ``OUT/summary/sites.json``
and marks as ``skipped`` the sites it lists as finished with the same inputs and
parameters whose results file is in ``OUT``; :func:`check_stale` refuses, before anything
runs, to replace results made with other parameters (or another population) unless told
to; :class:`Tracker` keeps the record, the progress bar and the callback up to date at
each change; :class:`DatasetResult` is what the run returns.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ..atomic import write_text
from ..errors import ConfigError, SitesFailedError
from ..inputs import input_stat
from ..results.files import results_path
from .config import PipelineConfig
from .distributed import SiteStatus
from .fingerprint import accepted_fingerprints, content_digest
from .sources import SiteSource

__all__ = ["RECORD", "DatasetResult", "SiteCallback", "Tracker", "initial_states", "check_stale"]

#: the record of a run, relative to the output folder
RECORD = Path("summary") / "sites.json"

SiteCallback = Callable[[SiteStatus], None]


@dataclasses.dataclass
class DatasetResult:
    """What :func:`run_dataset` did.

    Attributes
    ----------
    sites : list of SiteStatus
        Every site, in the order of the inputs.
    out : Path
        Output folder.
    record : Path
        ``OUT/summary/sites.json``: ``{"started", "updated", "counts", "sites": [...]}``
        with every field of :class:`~.distributed.SiteStatus` per site (and
        ``"population"`` when one population served every site; ``"earlier"``: the
        entries of sites that earlier runs into ``out`` recorded and this one left alone).
    population : dict
        With ``population='dataset'``: status, units, sites, seconds and the models file
        of the population; empty otherwise.
    """

    sites: list[SiteStatus]
    out: Path
    record: Path
    population: dict[str, Any] = dataclasses.field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        """Sites per state."""
        out = dict.fromkeys(("done", "skipped", "failed", "running", "pending"), 0)
        for s in self.sites:
            out[s.status] = out.get(s.status, 0) + 1
        return out

    @property
    def failed(self) -> list[SiteStatus]:
        """The sites that failed."""
        return [s for s in self.sites if s.status == "failed"]

    @property
    def exit_code(self) -> int:
        """0 when every site finished; else see :mod:`.dataset`'s notes."""
        failed = self.failed
        if not failed and all(s.status in ("done", "skipped") for s in self.sites):
            return 0
        codes = {s.exit_code or 1 for s in failed}
        if failed and len(failed) == len(self.sites) and len(codes) == 1:  # every site, for one reason
            return codes.pop()
        return SitesFailedError.exit_code

    def format(self) -> str:
        """A short text summary: counts, then one line per failed site."""
        counts = ", ".join(f"{n} {state}" for state, n in self.counts().items() if n)
        lines = [f"{len(self.sites)} sites: {counts}; record: {self.record}"]
        pop = self.population
        if pop.get("status") == "done":
            how = f"fitted in {pop['seconds']:.0f} s" if pop.get("fitted") else "found fitted"
            lines.append(f"one population: {pop['units']} units of {len(pop['sites'])} sites, {how}")
        lines += [f"  {s.line()}" for s in self.failed]
        return "\n".join(lines)


class Tracker:
    """The states of the sites: callback, progress bar and record at each change."""

    def __init__(self, sites: list[SiteStatus], out: Path, on_site: SiteCallback | None,
                 progress: bool, started: str) -> None:
        self.sites = {s.site: s for s in sites}
        self.order = sites
        self.out = out
        self.on_site = on_site
        self.started = started
        self.population: dict[str, Any] = {}
        # sites of earlier runs into this folder that this run leaves alone: kept in the record
        self.earlier = [{**entry, "status": "interrupted"} if entry.get("status") == "running" else entry
                        for site, entry in _previous(out).items() if site not in self.sites]
        self.ran = False  # whether any site changed state: a run refused before holds none
        try:
            self.before: str | None = (out / RECORD).read_text()
        except (OSError, UnicodeDecodeError):
            self.before = None
        self.made_folder = not (out / RECORD.parent).exists()
        self.bar = None
        if progress:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=len(sites), unit="site", desc="sites", file=sys.stderr,
                            initial=sum(s.finished for s in sites))
        self.write()

    def update(self, status: SiteStatus) -> None:
        """Replace the state of ``status.site``; tell the callback, the bar and the record."""
        before = self.sites[status.site]
        if before.finished and status.status == "running":
            return  # a late start event of a finished site
        if not status.config_key:  # a worker's state does not carry it
            status = dataclasses.replace(status, config_key=before.config_key)
        if status.status in ("done", "skipped"):  # the file this run made or found
            status = dataclasses.replace(status, made_with=status.made_with or before.config_key)
        else:  # the file left as it was
            status = dataclasses.replace(status, made=status.made or before.made,
                                         made_with=status.made_with or before.made_with)
        index = self.order.index(before)
        self.order[index] = self.sites[status.site] = status
        self.ran = True
        if self.bar is not None:
            if status.finished and not before.finished:
                self.bar.update(1)
            counts = DatasetResult(self.order, self.out, self.out / RECORD).counts()
            self.bar.set_postfix(done=counts["done"] + counts["skipped"], failed=counts["failed"],
                                 running=counts["running"], refresh=True)
        if self.on_site is not None:
            self.on_site(status)
        self.write()

    def say(self, line: str) -> None:
        """A line on stderr about the whole run (above the bar when there is one)."""
        if self.bar is not None:
            self.bar.write(line, file=sys.stderr)
        elif self.on_site is not None:
            print(line, file=sys.stderr, flush=True)

    def write(self) -> None:
        """Rewrite ``summary/sites.json`` atomically."""
        (self.out / RECORD.parent).mkdir(parents=True, exist_ok=True)
        body = {"started": self.started, "updated": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "counts": DatasetResult(self.order, self.out, self.out / RECORD).counts(),
                "sites": [s.to_dict() for s in self.order]}
        if self.population:
            body["population"] = self.population
        if self.earlier:
            body["earlier"] = self.earlier
        write_text(self.out / RECORD, json.dumps(body, indent=1) + "\n")

    def undo(self) -> None:
        """Put back the record as it was before this run (none, when there was none): for a run
        refused before any site ran, whose sites would otherwise stay listed as pending."""
        if self.before is not None:
            write_text(self.out / RECORD, self.before)
        else:
            (self.out / RECORD).unlink(missing_ok=True)
            if self.made_folder:  # the summary folder this run made, left empty: removed
                with contextlib.suppress(OSError):
                    (self.out / RECORD.parent).rmdir()

    def close(self) -> None:
        """Close the progress bar."""
        if self.bar is not None:
            self.bar.close()


def _previous(out: Path) -> dict[str, dict[str, Any]]:
    path = out / RECORD
    try:
        body = json.loads(path.read_text())
        return {str(s["site"]): s for s in [*body.get("earlier", []), *body.get("sites", [])]}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}  # no record (first run) or an unreadable one: every site runs


def _names(sites: Sequence[str], shown: int = 10) -> str:
    return ", ".join(sites[:shown]) + (f" and {len(sites) - shown} more" if len(sites) > shown else "")


def _previous_population(out: Path) -> list[str] | None:
    """The sites of the population the record in ``out`` says was fitted (None: none)."""
    try:
        sites = json.loads((out / RECORD).read_text())["population"]["sites"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return [str(s) for s in sites] if isinstance(sites, list) else None


def _source_identity(item: SiteSource, *, earlier: bool = False) -> dict[str, Any]:
    """What of a site's input its record key holds: a DANDI asset's content (its checksum,
    in any version of its Dandiset), a plain URL with what its server says of its content,
    a local file's size and time. ``earlier``: as records kept it before remote inputs were
    known by their content (the source as named, and a DANDI listing's whole record)."""
    dandi = '"asset_id"' in item.version
    if dandi and not earlier:
        listed = json.loads(item.version)
        return {"asset": content_digest(listed.get("digest") or {}) or listed.get("asset_id"),
                "size": listed.get("size")}
    identity: dict[str, Any] = {"source": item.source}
    if item.version and (dandi or not earlier):
        identity["version"] = item.version
    if item.is_local:
        try:
            size, mtime_ns, _ = input_stat(item.source)
        except OSError as err:  # the site fails when it is read, naming the file; others run
            identity.update(unreadable=str(err))
        else:
            identity.update(size=size, mtime_ns=mtime_ns)
    return identity


def _seconds(value: object) -> float:
    """How long a finished site took, as its record says (0 when it does not)."""
    try:
        seconds = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return 0.0
    return seconds if seconds >= 0 and seconds == seconds else 0.0


def initial_states(items: Sequence[SiteSource], out: Path, config: PipelineConfig,
                   population: str = "site") -> list[SiteStatus]:
    """The state of every site before the run: ``skipped`` when the record of an earlier
    run in ``out`` lists it finished with the same key and its results file is there,
    else ``pending``; each with its :attr:`~.distributed.SiteStatus.key` and ``config_key``.

    Parameters
    ----------
    items : sequence of SiteSource
    out : Path
        The output folder.
    config : PipelineConfig
        The parameters the sites run with (threads left out).
    population : {'site', 'dataset'}
        With ``dataset`` a site's keys include every site of the population.

    Returns
    -------
    list of SiteStatus
    """
    from ..io.sound_files import folder_identity

    before = _previous(out)
    together = {e: [_source_identity(i, earlier=e) for i in items] for e in (False, True)} \
        if population == "dataset" else None
    sounds = folder_identity(config.reader.sound_folder) if config.reader.sound_folder else None
    # the parameters alone (and which sites make the population): what makes results differ
    # for check_stale, where a moved or touched input only makes run_site check its content
    config_key, *earlier_keys = accepted_fingerprints(config, {"population": sorted(i.site for i in items)}
                                                      if population == "dataset" else {})
    sites = []
    for item in items:
        keys = []
        for was in (False, True):  # the record's key, then as earlier releases kept it
            identity = _source_identity(item, earlier=was)
            if sounds is not None:  # sites that name their sounds by file depend on those files
                identity["sound_files"] = sounds
            if together is not None:  # a site's results depend on every site of the population
                identity["population"] = together[was]
            keys += accepted_fingerprints(config, identity)
        key, *earlier = dict.fromkeys(keys)
        old = before.get(item.site, {})
        results = results_path(out, item.site)  # in this folder, wherever the record was made
        vouched, made, made_with = _vouched(old, results)
        made_with = config_key if made_with in earlier_keys else made_with  # the same parameters
        status = SiteStatus(item.site, item.source, key=key, config_key=config_key, made=made,
                            made_with=made_with)
        if old.get("status") in ("done", "skipped") and old.get("key") in (key, *earlier) and vouched:
            status = dataclasses.replace(status, status="skipped", results=str(results),
                                         device=str(old.get("device", "")),
                                         seconds=_seconds(old.get("seconds")))
        sites.append(status)
    return sites


def stored_fingerprint(results: Path) -> str | None:
    """The fingerprint in the provenance of the results file ``results`` ('' when it holds
    none); None when there is no readable results file there (a truncated or overwritten
    one is run again, and its site fails naming it)."""
    if not results.is_file():
        return None
    import h5py

    from ..extension._namespace import MODULE

    def text(value: Any) -> str:
        return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)

    try:
        with h5py.File(results, "r") as f:
            module = f.get(f"processing/{MODULE}")
            if not isinstance(module, h5py.Group):
                return None
            table = module.get("provenance")
            if not isinstance(table, h5py.Group):
                return ""
            keys = [text(k) for k in table["key"][()]]
            if "/fingerprint" not in keys:
                return ""
            value = json.loads(text(table["value"][keys.index("/fingerprint")]))
            return value if isinstance(value, str) else ""
    except (OSError, ValueError, KeyError, TypeError, IndexError, AttributeError, RuntimeError):
        return None


def _vouched(old: dict[str, Any], results: Path) -> tuple[bool, str, str]:
    """Whether the record's entry ``old`` speaks of the results file there (readable, and
    holding the fingerprint the entry saw; the record of an earlier release holds none: any
    readable results file), with the fingerprint and the parameters' key that made it."""
    stored = stored_fingerprint(results)
    if stored is None or not old:
        return False, "", ""
    if "made" not in old:  # an earlier release's record: its parameters taken for the file's
        return True, stored, str(old.get("config_key", ""))
    if not old["made"] or stored != old["made"]:
        return False, "", ""
    return True, stored, str(old.get("made_with", ""))


def check_stale(sites: Sequence[SiteStatus], out: Path, overwrite: bool, population: str) -> None:
    """Refuse to run when ``out`` holds results of these sites that the record says were
    made with other parameters (or another population of sites with ``population =
    'dataset'``), unless ``overwrite``: every site would otherwise fail after reading. A
    site whose input moved or was touched is not refused: its run checks the content.

    Raises
    ------
    ConfigError
        Naming the sites and the two ways out.
    """
    before = _previous(out)
    stale = [s.site for s in sites if s.status == "pending" and s.made_with and s.made_with != s.config_key]
    if stale and not overwrite:
        what = "another population of sites or other parameters" if population == "dataset" else \
            "other parameters"
        raise ConfigError(f"{out}: the results of {_names(stale)} were made with {what}; pass --overwrite "
                          "(overwrite=True from Python) to make them again, or choose another output "
                          "folder")
    made = _previous_population(out) if population == "dataset" else None
    if made is not None and sorted(made) != sorted(s.site for s in sites) and not overwrite:
        remade = [s.site for s in sites if s.status == "pending" and results_path(out, s.site).is_file()
                  and before.get(s.site, {}).get("status") in ("done", "skipped")]
        if remade:  # a population of other sites: every finished site would fail after the fit
            raise ConfigError(
                f"{out}: the results of {_names(remade)} were made with a population of "
                f"{len(made)} sites ({_names(sorted(made))}), and this run's population would "
                f"hold {len(sites)}; pass --overwrite (overwrite=True from Python) to make them all "
                "again, or choose another output folder")
