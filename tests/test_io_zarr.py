"""NWB files stored as Zarr (``site.nwb.zarr`` folders), written by hdmf-zarr's NWBZarrIO."""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from ndx_encoding_subspace.errors import InvalidDataError, MissingDependencyError, NotNWBError
from ndx_encoding_subspace.inputs import input_sha256, input_stat, is_nwb_store, nwb_stem
from ndx_encoding_subspace.io import ReaderParams, inspect_nwb, read_site
from ndx_encoding_subspace.pipeline.sources import expand_inputs
from ndx_encoding_subspace.testing.files import mock_site

pytest.importorskip("hdmf_zarr")


def _write_zarr(site, path: Path, **kwargs) -> Path:
    from hdmf_zarr.nwb import NWBZarrIO

    with NWBZarrIO(str(path), mode="w", **kwargs) as io:
        io.write(site.nwbfile)
    return path


def _tree_digest(path: Path) -> str:
    digest = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        digest.update(file.relative_to(path).as_posix().encode() + file.read_bytes())
    return digest.hexdigest()


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """The same site as HDF5 and as Zarr."""
    folder = tmp_path_factory.mktemp("zarr")
    kwargs = dict(n_units=5, n_sounds=5, repeats=(1, 1, 1, 1, 4), duration=1.0, seed=4)
    h5 = mock_site(**kwargs).write(folder / "site-a.nwb")
    store = _write_zarr(mock_site(**kwargs), folder / "site-a.nwb.zarr")
    return h5, store


def test_a_zarr_store_reads_as_its_hdf5_twin_and_is_left_unchanged(pair):
    h5, store = pair
    before = _tree_digest(store)
    a, b = read_site(h5), read_site(store)
    assert b.name == "site-a" and a.name == "site-a"
    assert b.source["layout"] == a.source["layout"] == "templates"
    assert [s.name for s in b.sounds] == [s.name for s in a.sounds]
    for x, y in zip(a.sounds, b.sounds, strict=True):
        np.testing.assert_array_equal(x.spectrogram, y.spectrogram)
        np.testing.assert_array_equal(x.counts, y.counts)
    np.testing.assert_array_equal(a.units.depth_um, b.units.depth_um)
    assert b.source["format"] == "zarr" and b.source["sha256"] == input_sha256(store)
    report = inspect_nwb(store)
    assert report.use["layout"] == "templates" and not report.problems
    assert _tree_digest(store) == before


def test_folders_find_zarr_stores_without_searching_them(pair, tmp_path):
    h5, store = pair
    shutil.copy(h5, tmp_path / "one.nwb")
    shutil.copytree(store, tmp_path / "sub" / "two.nwb.zarr")
    shutil.copytree(store, tmp_path / "renamed.zarr")  # an NWB file by its root's attributes
    raw = tmp_path / "raw.zarr"  # a Zarr store of something else, holding a file named .nwb
    raw.mkdir()
    (raw / ".zgroup").write_text(json.dumps({"zarr_format": 2}))
    (raw / "inner.nwb").write_bytes(b"")
    sites = expand_inputs([str(tmp_path)])
    assert [s.site for s in sites] == ["one", "renamed", "two"]
    assert [s.site for s in expand_inputs([str(tmp_path / "sub" / "two.nwb.zarr")])] == ["two"]
    assert [s.site for s in expand_inputs([f"{tmp_path}/**/*.nwb.zarr"])] == ["two"]
    assert [s.site for s in expand_inputs([f"{tmp_path}/**"])] == ["one", "renamed", "two"]  # no chunk
    assert nwb_stem("rec.h5") == "rec" and nwb_stem("sess.nwb.h5") == "sess.nwb"
    assert nwb_stem("x/sub-1_ses-2.nwb.zarr") == "sub-1_ses-2" and nwb_stem("a.NWB") == "a"
    assert is_nwb_store(tmp_path / "renamed.zarr") and not is_nwb_store(raw)


def test_identity_follows_every_file_of_the_store(pair, tmp_path):
    store = shutil.copytree(pair[1], tmp_path / "s.nwb.zarr")
    digest, (size, _, count) = input_sha256(store), input_stat(store)
    assert size == sum(p.stat().st_size for p in store.rglob("*") if p.is_file())
    assert count == sum(1 for p in store.rglob("*") if p.is_file())
    (store / ".DS_Store").write_bytes(b"finder")  # not part of the store
    (store / "units" / ".spike_times.swp").write_bytes(b"editor")
    assert input_sha256(store) == digest
    chunk = store / "units" / "spike_times" / "0"
    chunk.write_bytes(chunk.read_bytes()[:-1] + b"\0")
    assert input_sha256(store) != digest
    moved = tmp_path / "elsewhere"  # a folder of the store kept elsewhere, linked in
    shutil.move(store / "units" / "spike_times", moved)
    (store / "units" / "spike_times").symlink_to(moved, target_is_directory=True)
    linked = input_sha256(store)
    (moved / "0").write_bytes(b"changed")
    assert input_sha256(store) != linked


def test_a_missing_chunk_of_spike_times_is_refused(pair, tmp_path):
    store = shutil.copytree(pair[1], tmp_path / "s.nwb.zarr")
    (store / "units" / "spike_times" / "0").unlink()
    with pytest.raises(InvalidDataError, match=r"s\.nwb\.zarr.*spike_times.*absent from the store"):
        read_site(store)


def test_a_missing_chunk_of_a_sound_reads_as_the_fill_value_with_a_warning(pair, tmp_path):
    store = shutil.copytree(pair[1], tmp_path / "s.nwb.zarr")
    sound = sorted(p for p in (store / "stimulus" / "templates").iterdir() if p.is_dir())[0]
    (sound / "data" / "0").unlink()
    with pytest.warns(UserWarning) as caught:
        site = read_site(store)
    said = [str(w.message) for w in caught if "absent from the store" in str(w.message)]
    assert len(said) == 1 and f"{sound.name}" in said[0] and "Zarr chunks holding samples 0 to" in said[0]
    assert np.all(site.sound(sound.name).spectrogram == site.sound(sound.name).spectrogram.min())


def test_a_missing_chunk_without_a_fill_value_is_refused(pair, tmp_path):
    store = shutil.copytree(pair[1], tmp_path / "n.nwb.zarr")
    sound = sorted(p for p in (store / "stimulus" / "templates").iterdir() if p.is_dir())[0]
    meta = json.loads((sound / "data" / ".zarray").read_text()) | {"fill_value": None}
    (sound / "data" / ".zarray").write_text(json.dumps(meta))
    consolidated = json.loads((store / ".zmetadata").read_text())
    consolidated["metadata"][f"stimulus/templates/{sound.name}/data/.zarray"] = meta
    (store / ".zmetadata").write_text(json.dumps(consolidated))
    (sound / "data" / "0").unlink()
    with pytest.raises(InvalidDataError, match="declares no fill value"):
        read_site(store)


class _Payload:
    """Unpickled, it would create the file ``target``."""

    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self):
        return (Path.touch, (self.target,))


def test_pickled_arrays_are_refused_before_anything_is_read(pair, tmp_path, monkeypatch):
    numcodecs = pytest.importorskip("numcodecs")
    zarr = pytest.importorskip("zarr")
    # refused even where a user has allowed unpickling for their own files
    monkeypatch.setattr(numcodecs.pickles, "ALLOW_UNSAFE_PICKLE_DECODE", True, raising=False)
    store = shutil.copytree(pair[1], tmp_path / "p.nwb.zarr")
    column = store / "intervals" / "sound_presentations" / "sound"
    attrs = (column / ".zattrs").read_text()
    target = tmp_path / "ran"
    values = np.empty(8, dtype=object)
    values[:] = [_Payload(target)] * 8
    array = zarr.open_array(str(column), mode="w", shape=(8,), dtype=object, object_codec=numcodecs.Pickle())
    array[:] = values
    (column / ".zattrs").write_text(attrs)
    zarr.consolidate_metadata(str(store))
    with pytest.raises(InvalidDataError, match=r"p\.nwb\.zarr: intervals/sound_presentations/sound: "
                                               r"kept with Python's pickle codec, which runs code"):
        read_site(store)
    assert not target.exists()


def test_a_pickled_array_behind_a_linked_folder_is_refused(pair, tmp_path):
    numcodecs = pytest.importorskip("numcodecs")
    zarr = pytest.importorskip("zarr")
    store = shutil.copytree(pair[1], tmp_path / "l.nwb.zarr")
    (store / ".zmetadata").unlink()
    column = store / "intervals" / "sound_presentations" / "sound"
    attrs = (column / ".zattrs").read_text()
    shutil.rmtree(column)
    outside = tmp_path / "outside"
    array = zarr.open_array(str(outside), mode="w", shape=(8,), dtype=object, object_codec=numcodecs.Pickle())
    array[:] = np.array(["sound_00"] * 8, dtype=object)
    (outside / ".zattrs").write_text(attrs)
    column.symlink_to(outside, target_is_directory=True)
    said = r"intervals/sound_presentations/sound: kept with Python's pickle"
    with pytest.raises(InvalidDataError, match=said):
        read_site(store)


def test_consolidated_metadata_naming_a_pickle_is_refused(pair, tmp_path):
    store = shutil.copytree(pair[1], tmp_path / "c.nwb.zarr")
    meta = {".zarray": {}} | {"units/id/.zarray": {"compressor": None, "filters": [{"id": "pickle"}]}}
    (store / ".zmetadata").write_text(json.dumps({"metadata": meta, "zarr_consolidated_format": 1}))
    with pytest.raises(InvalidDataError, match=r"units/id \(consolidated\)"):
        read_site(store)


@pytest.mark.parametrize(("make", "message"), [
    (lambda p: (p / ".zgroup").write_text('{"zarr_format": 2}'), "a Zarr store but not an NWB file"),
    (lambda p: (p / "zarr.json").write_text('{"zarr_format": 3}'), "Zarr format 3 store"),
    (lambda p: (p / "notes.txt").write_text("x"), "a folder, not an NWB file"),
    (lambda p: (p / ".zgroup").write_text("{not json"), r"damaged Zarr store: \.zgroup|not an NWB file"),
])
def test_folders_that_are_not_nwb_files(tmp_path, make, message):
    folder = tmp_path / "x.nwb.zarr"
    folder.mkdir()
    make(folder)
    with pytest.raises(NotNWBError, match=message):
        read_site(folder)


def test_a_damaged_store_names_the_file(pair, tmp_path):
    store = shutil.copytree(pair[1], tmp_path / "d.nwb.zarr")
    (store / "units" / "spike_times" / "0").write_bytes(b"garbage")
    with pytest.raises(NotNWBError, match=r"d\.nwb\.zarr: the file is damaged"):
        read_site(store)


def test_without_hdmf_zarr_the_extra_is_named(pair, monkeypatch):
    monkeypatch.setitem(sys.modules, "hdmf_zarr", None)
    with pytest.raises(MissingDependencyError, match=r"ndx-encoding-subspace\[zarr\]"):
        read_site(pair[1])


def test_a_dataset_of_hdf5_and_zarr_twins_gives_the_same_results_and_reruns_nothing(tmp_path):
    """A folder holding a site as HDF5 and its twin as Zarr runs through the whole method:
    the two results files hold the same numbers, and a rerun finds both sites finished."""
    import h5py

    from conftest import TINY_CONFIG
    from ndx_encoding_subspace.pipeline.cluster import ClusterParams
    from ndx_encoding_subspace.pipeline.config import PipelineConfig
    from ndx_encoding_subspace.pipeline.dataset import run_dataset

    data = tmp_path / "data"
    data.mkdir()
    kwargs = dict(n_units=2, n_sounds=6, repeats=(1, 1, 1, 1, 3, 3), duration=1.5, seed=6)
    mock_site(**kwargs).write(data / "h5site.nwb")
    _write_zarr(mock_site(**kwargs), data / "zsite.nwb.zarr")
    config = PipelineConfig.from_dict({**TINY_CONFIG, "compute": {"threads": 1}})
    out, serial = tmp_path / "out", ClusterParams(kind="serial")
    result = run_dataset([data], out, config, cluster=serial, progress=False)
    assert result.exit_code == 0, result.format()

    def arrays(path: Path) -> dict[str, np.ndarray]:
        found: dict[str, np.ndarray] = {}
        with h5py.File(path, "r") as f:
            f["processing/encoding_subspace"].visititems(
                lambda name, obj: found.__setitem__(name, obj[()])
                if isinstance(obj, h5py.Dataset) and obj.dtype.kind in "fiub" else None)
        return found

    a, b = arrays(out / "h5site.results.nwb"), arrays(out / "zsite.results.nwb")
    assert a.keys() == b.keys() and len(a) > 10
    for key in (k for k in a if not k.startswith("provenance")):  # where the input was: not the same
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    again = run_dataset([data], out, config, cluster=serial, progress=False)
    assert again.exit_code == 0 and {s.status for s in again.sites} == {"skipped"}


@pytest.fixture
def zarr_server(pair, monkeypatch):
    """A mock DANDI API holding the pair: one asset as HDF5, one as a Zarr store."""
    from ndx_encoding_subspace.io import ReaderParams
    from ndx_encoding_subspace.testing.dandi_server import MockDandiServer

    monkeypatch.setenv("DANDI_NO_ET", "1")
    monkeypatch.delenv("DANDI_API_KEY", raising=False)
    h5, store = pair
    with MockDandiServer({"sub-1/a.nwb": h5, "sub-1/b.nwb.zarr": store}, page_size=50) as server:
        yield server, ReaderParams(dandi_api_url=server.api_url, retries=1, deadline_s=120.0)


def test_a_dandi_zarr_asset_streams_as_its_local_store_reads(pair, zarr_server):
    from ndx_encoding_subspace.io import list_assets

    server, reader = zarr_server
    assets = list_assets("DANDI:000123", reader=reader)
    assert [a.path for a in assets] == ["sub-1/a.nwb", "sub-1/b.nwb.zarr"]
    zarr_asset = assets[1]
    assert zarr_asset.zarr and zarr_asset.url.startswith(f"{server.url}/zarr/")
    local, remote = read_site(pair[1]), read_site("DANDI:000123/sub-1/b.nwb.zarr", reader=reader)
    assert remote.source["format"] == "zarr" and remote.source["zarr"] == zarr_asset.zarr
    assert [s.name for s in remote.sounds] == [s.name for s in local.sounds]
    for x, y in zip(local.sounds, remote.sounds, strict=True):
        np.testing.assert_array_equal(x.spectrogram, y.spectrogram)
        np.testing.assert_array_equal(x.counts, y.counts)
    np.testing.assert_array_equal(local.units.depth_um, remote.units.depth_um)
    # only the files read were fetched, not the whole store
    assert 0 < server.bytes_served < input_stat(pair[1])[0]


def test_a_dandi_zarr_asset_downloads_whole_when_asked(pair, zarr_server, tmp_path):
    server, reader = zarr_server
    import dataclasses

    asked = dataclasses.replace(reader, download=True, cache_dir=str(tmp_path))
    site = read_site("DANDI:000123/sub-1/b.nwb.zarr", reader=asked)
    (copy,) = (tmp_path / "downloads" / "000123" / "0.230101.1234").glob("*/sub-1/b.nwb.zarr")  # by asset id
    assert _tree_digest(copy) == _tree_digest(pair[1]) and site.name == "b"
    server.reset_counters()
    read_site("DANDI:000123/sub-1/b.nwb.zarr", reader=asked)  # the copy is complete: kept
    assert server.bytes_served == 0


def test_a_streamed_zarr_store_is_checked_as_a_local_one(pair, tmp_path, monkeypatch):
    """A pickle codec is refused before anything is read, and chunks the listing lacks are
    said, naming the asset."""
    from ndx_encoding_subspace.io import ReaderParams
    from ndx_encoding_subspace.testing.dandi_server import MockDandiServer

    monkeypatch.setenv("DANDI_NO_ET", "1")
    pickled = shutil.copytree(pair[1], tmp_path / "p.nwb.zarr")
    meta = json.loads((pickled / ".zmetadata").read_text())
    meta["metadata"]["units/id/.zarray"]["filters"] = [{"id": "pickle"}]
    (pickled / ".zmetadata").write_text(json.dumps(meta))
    holed = shutil.copytree(pair[1], tmp_path / "h.nwb.zarr")
    times = holed / "units" / "spike_times"
    for chunk in [p for p in times.iterdir() if not p.name.startswith(".")]:
        chunk.unlink()
    with MockDandiServer({"sub-1/p.nwb.zarr": pickled, "sub-1/h.nwb.zarr": holed}) as server:
        reader = ReaderParams(dandi_api_url=server.api_url, retries=1, deadline_s=120.0)
        with pytest.raises(InvalidDataError, match=r"DANDI:000123@0\.230101\.1234/sub-1/p\.nwb\.zarr: "
                                                   r"units/id \(consolidated\): kept with Python's pickle"):
            read_site("DANDI:000123/sub-1/p.nwb.zarr", reader=reader)
        with pytest.raises(InvalidDataError, match=r"h\.nwb\.zarr.*spike_times.*absent from the store"):
            read_site("DANDI:000123/sub-1/h.nwb.zarr", reader=reader)


def test_a_zarr_store_that_the_server_loses_is_a_network_failure(pair, zarr_server):
    from ndx_encoding_subspace.errors import RemoteError

    server, reader = zarr_server
    server.fail_requests()  # every file request dropped, after the listing
    with pytest.raises(RemoteError, match=r"sub-1/b\.nwb\.zarr: network failure reading .*/zarr/"):
        read_site("DANDI:000123/sub-1/b.nwb.zarr", reader=reader)


def test_command_line_inspects_a_store_and_refuses_other_folders_in_one_line(pair, tmp_path, capsys):
    from ndx_encoding_subspace.cli import main

    assert main(["inspect", str(pair[1]), "--ensemble.n_jackknife", "4"]) == 0
    assert "would use: templates layout" in capsys.readouterr().out
    assert main(["inspect", str(tmp_path)]) == 3
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "a folder, not an NWB file" in err and "Traceback" not in err


def test_an_embargoed_zarr_asset_is_read_with_the_key_through_the_api(pair, monkeypatch):
    """With DANDI_API_KEY set, each file of the store is fetched through the API's download
    URL (which checks the key, then redirects); without the key, one line says why not."""
    from ndx_encoding_subspace.errors import RemoteError
    from ndx_encoding_subspace.io import ReaderParams
    from ndx_encoding_subspace.testing.dandi_server import MockDandiServer

    monkeypatch.setenv("DANDI_NO_ET", "1")
    with MockDandiServer({"sub-1/b.nwb.zarr": pair[1]}, api_key="secret") as server:
        reader = ReaderParams(dandi_api_url=server.api_url, retries=1, deadline_s=120.0)
        monkeypatch.setenv("DANDI_API_KEY", "secret")
        site = read_site("DANDI:000123/sub-1/b.nwb.zarr", reader=reader)
        assert site.source["format"] == "zarr" and len(site.sounds) == 5
        monkeypatch.delenv("DANDI_API_KEY")
        with pytest.raises(RemoteError, match="DANDI:000123"):
            read_site("DANDI:000123/sub-1/b.nwb.zarr", reader=reader)


def test_a_streamed_store_reads_each_metadata_file_once_and_keeps_files_in_the_cache(pair, zarr_server,
                                                                                      tmp_path):
    """What the codec check reads is what Zarr reads (one fetch per metadata file); with
    reader.cache_dir, a second reading fetches nothing."""
    import dataclasses

    from ndx_encoding_subspace.io import list_assets
    from ndx_encoding_subspace.io.dandi import zarr_store
    from ndx_encoding_subspace.io.stream import RetryingSession

    server, reader = zarr_server
    asset = list_assets("DANDI:000123/sub-1/b.nwb.zarr", reader=reader)[0]
    with RetryingSession("t", deadline_s=120.0) as session:
        store = zarr_store(asset, session, reader)
        first = store[".zmetadata"]
        sent = session.n_requests
        assert store[".zmetadata"] == first and session.n_requests == sent
    cached = dataclasses.replace(reader, cache_dir=str(tmp_path))
    read_site("DANDI:000123/sub-1/b.nwb.zarr", reader=cached)
    server.reset_counters()
    read_site("DANDI:000123/sub-1/b.nwb.zarr", reader=cached)
    assert server.bytes_served == 0


def test_a_zarr_asset_without_a_store_url_is_refused_only_when_opened():
    from ndx_encoding_subspace.io.dandi import RemoteAsset, _store_url

    assert _store_url({"contentUrl": ["https://api.x/api/assets/1/download/"]}) == ""
    assert _store_url({"contentUrl": ["https://api.x/a/", "https://s3.x/zarr/abc/"]}) == "https://s3.x/zarr/abc/"
    asset = RemoteAsset(name="DANDI:000123/b.nwb.zarr", url="", path="b.nwb.zarr", dandiset="000123",
                        zarr="abc", encoding_format="application/x-zarr")
    with pytest.raises(NotNWBError, match=r"DANDI:000123/b\.nwb\.zarr: .*no URL of the store"):
        asset.check_nwb()
    other = RemoteAsset(name="n", url="u", path="b.nwb", dandiset="000123",
                        encoding_format="application/x-zarr")
    with pytest.raises(NotNWBError, match="not an NWB file"):
        other.check_nwb()


def test_a_complete_downloaded_store_is_kept_and_an_incomplete_one_replaced(pair, zarr_server, tmp_path):
    from ndx_encoding_subspace.io import list_assets
    from ndx_encoding_subspace.io.dandi import zarr_store
    from ndx_encoding_subspace.io.stream import RetryingSession
    from ndx_encoding_subspace.io.zarr_remote import download_store

    server, reader = zarr_server
    asset = list_assets("DANDI:000123/sub-1/b.nwb.zarr", reader=reader)[0]
    target = tmp_path / "b.nwb.zarr"
    with RetryingSession("t", deadline_s=120.0) as session:
        store = zarr_store(asset, session, reader)
        download_store(store, target)
        assert _tree_digest(target) == _tree_digest(pair[1])
        server.reset_counters()
        assert download_store(store, target) == target and server.bytes_served == 0
        (target / ".zattrs").unlink()  # an incomplete copy (a download of an older listing)
        (target / "stale").write_text("x")
        download_store(store, target)
        assert _tree_digest(target) == _tree_digest(pair[1])
    assert [p.name for p in tmp_path.iterdir()] == ["b.nwb.zarr"]  # no partial folder left


def test_timeseries_references_of_a_json_coded_store_are_named_not_called_damage(tmp_path):
    """A presentation table whose rows reference their sound (``add_trial(timeseries=...)``)
    exported to Zarr with the JSON codec, as the README advises against pickles: hdmf-zarr
    cannot read that column back; the reader names the column and the way out."""
    import numcodecs
    import pynwb
    from hdmf_zarr.backend import ZarrIO

    site = mock_site(n_units=3, n_sounds=3, repeats=(1, 1, 3), duration=0.5, seed=2)
    nwb = site.nwbfile
    templates = list(nwb.stimulus_template.values())
    nwb.add_trial_column("sound", "what played")
    for k, series in enumerate(templates):
        nwb.add_trial(start_time=0.5 + k, stop_time=0.9 + k, timeseries=[series], sound=series.name)
    h5 = tmp_path / "refs.nwb"
    with pynwb.NWBHDF5IO(str(h5), "w") as io:
        io.write(nwb)
    store = tmp_path / "refs.nwb.zarr"
    with pynwb.NWBHDF5IO(str(h5), "r") as source, \
            ZarrIO(str(store), "w", manager=pynwb.get_manager(), object_codec_class=numcodecs.JSON) as out:
        out.export(src_io=source, write_args={"link_data": False})
    said = r"column 'timeseries' of trials: hdmf-zarr cannot read this column back .*keep such a file as HDF5"
    with pytest.raises(InvalidDataError, match=said):
        read_site(store, reader=ReaderParams(presentations="intervals/trials"))
