"""DANDI identifiers and streaming, with the real dandi client and remfile against a local server."""

from __future__ import annotations

import dataclasses
import json
import logging
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from ndx_encoding_subspace.errors import (
    AmbiguousInputError,
    ConfigError,
    InputError,
    MissingDependencyError,
    NotNWBError,
    RemoteError,
)
from ndx_encoding_subspace.io import (
    DandiRef,
    ReaderParams,
    inspect_nwb,
    list_assets,
    parse_dandi_id,
    read_site,
)
from ndx_encoding_subspace.io.download import download_asset
from ndx_encoding_subspace.io.stream import RetryingSession
from ndx_encoding_subspace.testing.dandi_server import MockDandiServer
from ndx_encoding_subspace.testing.files import mock_site, write_nwb

SES1 = "sub-1/sub-1_ses-1.nwb"


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("dandi")
    big = mock_site(waveforms=False, n_sounds=4, duration=2.0, rate=22050.0, seed=1)
    raw = big.nwbfile
    from pynwb import TimeSeries

    raw.add_acquisition(
        TimeSeries(
            name="raw",
            data=np.random.default_rng(0).standard_normal((150_000, 4)).astype(np.float32),
            unit="V",
            rate=30000.0,
        )
    )
    paths = {
        SES1: big.write(folder / "a.nwb"),
        "sub-1/sub-1_ses-2.nwb": mock_site(waveforms=False, seed=2).write(folder / "b.nwb"),
        "sub-2/sub-2_ses-1.nwb": mock_site(waveforms=False, seed=3).write(folder / "c.nwb"),
        "sub-2/broken.nwb": folder / "broken.nwb",
        "README.txt": folder / "readme.txt",
    }
    paths["sub-2/broken.nwb"].write_bytes(b"this is no HDF5 file" * 100)
    paths["README.txt"].write_text("notes")
    return paths, big


@pytest.fixture(scope="module")
def server(files):
    with MockDandiServer(files[0], page_size=2) as srv:
        yield srv


@pytest.fixture
def params(server, monkeypatch):
    monkeypatch.setenv("DANDI_NO_ET", "1")
    monkeypatch.delenv("DANDI_API_KEY", raising=False)
    server.heal()
    server.reset_counters()
    # a generous deadline: a loaded test machine can be slow to answer, and no test here is about it
    return ReaderParams(dandi_api_url=server.api_url, retries=2, retry_backoff_s=0.01, deadline_s=120.0)


def test_parse_identifiers():
    assert parse_dandi_id("DANDI:000123") == DandiRef("000123")
    assert parse_dandi_id("dandi:000123@0.230101.1234") == DandiRef("000123", "0.230101.1234")
    ref = parse_dandi_id("DANDI:000123@draft/sub-x/*.nwb")
    assert ref == DandiRef("000123", "draft", "sub-x/*.nwb") and ref.is_glob
    assert str(ref) == "DANDI:000123@draft/sub-x/*.nwb"
    for bad in ("DANDI:123", "DANDI:000123@latest", "000123"):
        with pytest.raises(ConfigError, match="not a DANDI identifier"):
            parse_dandi_id(bad)


def test_list_assets_pages_versions_and_globs(server, params):
    every = list_assets("DANDI:000123", api_url=server.api_url)  # 5 assets over 3 pages
    assert [a.path for a in every] == [
        SES1,
        "sub-1/sub-1_ses-2.nwb",
        "sub-2/broken.nwb",
        "sub-2/sub-2_ses-1.nwb",
    ]
    assert {a.version for a in every} == {"0.230101.1234"}
    globbed = list_assets("DANDI:000123@draft/sub-1/*.nwb", api_url=server.api_url)
    assert [a.name for a in globbed] == [
        f"DANDI:000123@draft/{SES1}",
        "DANDI:000123@draft/sub-1/sub-1_ses-2.nwb",
    ]
    folder = list_assets("DANDI:000123/sub-2/", api_url=server.api_url)
    assert [a.path for a in folder] == ["sub-2/broken.nwb", "sub-2/sub-2_ses-1.nwb"]
    with pytest.raises(RemoteError, match="DANDI:000999: not found"):
        list_assets("DANDI:000999", api_url=server.api_url)
    with pytest.raises(InputError, match="no NWB asset matches"):
        list_assets("DANDI:000123/sub-9/*.nwb", api_url=server.api_url)


def test_stream_reads_a_small_part(server, params, files):
    paths, big = files
    streamed = read_site(f"DANDI:000123/{SES1}", reader=params)
    local = read_site(paths[SES1])
    size = paths[SES1].stat().st_size
    print(f"served {server.bytes_served} of {size} bytes")
    assert server.bytes_served < 0.6 * size  # the 2.4 MB raw acquisition is never read
    assert streamed.source["bytes_read"] == server.bytes_served
    assert streamed.name == "sub-1_ses-1" and streamed.source["dandiset"] == "000123"
    for a, b in zip(streamed.sounds, local.sounds):
        np.testing.assert_array_equal(a.counts, b.counts)
        np.testing.assert_array_equal(a.spectrogram, b.spectrogram)


def test_asset_urls_and_ambiguity(server, params):
    by_url = read_site(server.asset_url("sub-2/sub-2_ses-1.nwb"), reader=params)
    direct = read_site(server.blob_url("sub-2/sub-2_ses-1.nwb"), reader=params)
    assert by_url.name == "sub-2_ses-1"
    np.testing.assert_array_equal(by_url.sounds[0].counts, direct.sounds[0].counts)
    with pytest.raises(AmbiguousInputError, match="names 2 NWB assets"):
        read_site("DANDI:000123/sub-1/*.nwb", reader=params)


def test_assets_that_are_not_nwb(server, params):
    with pytest.raises(NotNWBError, match=r"DANDI:000123@0.230101.1234/README.txt: the asset is not an NWB"):
        read_site("DANDI:000123/README.txt", reader=params)
    with pytest.raises(NotNWBError, match=r"DANDI:000123@0.230101.1234/sub-2/broken.nwb: not an HDF5 file"):
        inspect_nwb("DANDI:000123/sub-2/broken.nwb", reader=params)


def test_cache_and_download(server, params, tmp_path):
    cached = params.replace(cache_dir=str(tmp_path / "cache"))
    first = read_site("DANDI:000123/sub-1/sub-1_ses-2.nwb", reader=cached)
    assert server.bytes_served > 0
    server.reset_counters()
    again = read_site("DANDI:000123/sub-1/sub-1_ses-2.nwb", reader=cached)
    assert server.bytes_served == 0  # every range came from the cache
    np.testing.assert_array_equal(first.sounds[1].counts, again.sounds[1].counts)
    whole = read_site("DANDI:000123/sub-1/sub-1_ses-2.nwb", reader=cached.replace(download=True))
    assert whole.source["local"].endswith("sub-1/sub-1_ses-2.nwb")
    np.testing.assert_array_equal(whole.sounds[1].counts, first.sounds[1].counts)


def test_network_failure_mid_stream(server, params):
    server.fail_requests(2, after=2)  # two dropped connections, then fine again
    site = read_site(f"DANDI:000123/{SES1}", reader=params)
    assert site.n_units == 4
    server.reset_counters()
    server.fail_requests(None, after=3)  # the network goes away after three requests
    with pytest.raises(RemoteError) as err:
        read_site(f"DANDI:000123/{SES1}", reader=params)
    message = str(err.value)
    assert message.startswith(f"DANDI:000123@0.230101.1234/{SES1}: network failure reading")
    assert "after 3 attempts" in message and "bytes " in message
    assert server.range_requests == 3 + 3  # 3 served, then 1 try + 2 retries


def test_an_asset_cut_short_or_gone_is_a_network_failure(tmp_path, monkeypatch):
    """A blob that ends before the size its listing and headers give, or that the server no
    longer has: a RemoteError within the retries (not a damaged file, not remfile's own
    minute of retries)."""
    monkeypatch.setenv("DANDI_NO_ET", "1")
    whole = mock_site(waveforms=False, seed=5).write(tmp_path / "d.nwb")
    with MockDandiServer({"sub-9/d.nwb": whole}) as srv:
        params = ReaderParams(dandi_api_url=srv.api_url, retries=1, retry_backoff_s=0.01, timeout_s=10.0,
                              deadline_s=60.0)
        data = whole.read_bytes()
        whole.write_bytes(data[: len(data) // 2])
        with pytest.raises(RemoteError, match=r"network failure reading .* after 2 attempts .*cut short"):
            read_site("DANDI:000123/sub-9/d.nwb", reader=params)
        whole.unlink()
        with pytest.raises(RemoteError, match=r"sub-9/d.nwb: cannot read .*: HTTP 404 Not Found"):
            read_site("DANDI:000123/sub-9/d.nwb", reader=params)


def test_retry_backoff_doubles():
    waits = []
    session = RetryingSession("x", retries=3, backoff_s=0.5, sleep=waits.append, timeout_s=1.0)
    response = session.get("http://127.0.0.1:9/none")  # nothing listens on port 9
    assert response.status_code == 408 and waits == [0.5, 1.0, 2.0]
    with pytest.raises(RemoteError, match="x: network failure reading http://127.0.0.1:9/none after 4"):
        session.check()


def test_api_key_only_from_environment(files, monkeypatch, tmp_path):
    monkeypatch.setenv("DANDI_NO_ET", "1")
    with MockDandiServer({SES1: files[0]["sub-1/sub-1_ses-2.nwb"]}, api_key="secret") as srv:
        params = ReaderParams(dandi_api_url=srv.api_url, retries=0, deadline_s=120.0)
        monkeypatch.delenv("DANDI_API_KEY", raising=False)
        with pytest.raises(RemoteError, match=r"401.*\(set DANDI_API_KEY to an API key of the archive"):
            read_site(f"DANDI:000123/{SES1}", reader=params)
        monkeypatch.setenv("DANDI_API_KEY", "wrong")
        with pytest.raises(RemoteError, match=r"\(the archive refuses the key in DANDI_API_KEY\)"):
            read_site(f"DANDI:000123/{SES1}", reader=params)
        monkeypatch.setenv("DANDI_API_KEY", "secret")
        assert read_site(f"DANDI:000123/{SES1}", reader=params).n_units == 4


def test_client_logs_are_routed_to_debug(files, monkeypatch, caplog):
    # the dandi client logs an error (with a traceback for connection errors) before it
    # raises; the reader raises one RemoteError and passes the client's records on at DEBUG
    monkeypatch.setenv("DANDI_NO_ET", "1")
    monkeypatch.delenv("DANDI_API_KEY", raising=False)
    with MockDandiServer({SES1: files[0]["sub-1/sub-1_ses-2.nwb"]}, api_key="secret") as srv:
        params = ReaderParams(dandi_api_url=srv.api_url, retries=0, deadline_s=120.0)
        with caplog.at_level(logging.DEBUG), pytest.raises(RemoteError, match="Error 401") as err:
            list_assets(f"DANDI:000123/{SES1}", reader=params)
    assert "\n" not in str(err.value)
    assert not [r for r in caplog.records if r.name.startswith("dandi")]
    routed = [r for r in caplog.records if r.name == "ndx_encoding_subspace.io.dandi_client"]
    assert routed and all(r.levelno == logging.DEBUG for r in routed)
    assert any("Error 401" in r.getMessage() for r in routed)
    assert logging.getLogger("dandi").filters == []  # the routing ends with the lookup


def test_plain_http_file(tmp_path, params):
    path = write_nwb(mock_site(waveforms=False, seed=5).nwbfile, tmp_path / "x.nwb")
    local = read_site(path)
    with MockDandiServer({"x.nwb": path}) as srv:
        url = srv.blob_url("x.nwb")
        site = read_site(url, reader=params)
        assert site.source == {**site.source, "url": url, "name": url}
    np.testing.assert_array_equal(site.sounds[2].counts, local.sounds[2].counts)


def test_local_reading_needs_no_remfile_and_streaming_names_the_extra(monkeypatch):
    # a fresh interpreter without the dandi extra's packages: the analysis API still loads
    code = ("import sys; sys.modules['remfile'] = sys.modules['requests'] = None; "
            "import ndx_encoding_subspace.pipeline.stages, ndx_encoding_subspace.io, "
            "ndx_encoding_subspace.pipeline.run")
    subprocess.run([sys.executable, "-c", code], check=True)
    from ndx_encoding_subspace.io import stream

    monkeypatch.setitem(sys.modules, "remfile", None)
    with pytest.raises(MissingDependencyError, match=r"ndx-encoding-subspace\[dandi\]"):
        stream.open_stream("http://127.0.0.1:9/x.nwb", name="x.nwb", size=10)


def test_download_is_atomic_and_safe_for_two_workers(server, params, files, tmp_path, monkeypatch):
    from ndx_encoding_subspace import atomic

    synced = []
    fsync = atomic.fsync_path
    monkeypatch.setattr(atomic, "fsync_path", lambda p, **kw: (synced.append((Path(p), kw)), fsync(p, **kw)))
    from ndx_encoding_subspace.io import download

    both = threading.Barrier(2, timeout=30)
    copy = download._copy_body
    monkeypatch.setattr(download, "_copy_body", lambda *a: (both.wait(), copy(*a)))
    (asset,) = list_assets("DANDI:000123/sub-1/sub-1_ses-2.nwb", reader=params)
    with ThreadPoolExecutor(2) as pool:  # two workers writing the same asset at the same time
        done = list(pool.map(lambda _: download_asset(asset, tmp_path, reader=params), range(2)))
    assert done[0] == done[1] and done[0].read_bytes() == files[0]["sub-1/sub-1_ses-2.nwb"].read_bytes()
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == [done[0]]  # no partial file left
    assert len([p for p, kw in synced if not kw and p.parent == done[0].parent]) == 2  # each fsynced
    assert (done[0].parent, {"directory": True}) in synced


def test_download_of_the_wrong_size_leaves_nothing(server, params, tmp_path):
    (asset,) = list_assets("DANDI:000123/sub-1/sub-1_ses-2.nwb", reader=params)
    wrong = dataclasses.replace(asset, size=asset.size + 10)
    with pytest.raises(RemoteError, match=rf"gave {asset.size} bytes, not the asset's {asset.size + 10}"):
        download_asset(wrong, tmp_path, reader=params)
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]


def test_downloads_are_kept_per_content_not_per_name(tmp_path, monkeypatch):
    """A file changed at the same draft path (same size: DANDI gives it another checksum), or
    two URLs ending in the same name, are two downloads, never one taken for the other."""
    import h5py

    monkeypatch.setenv("DANDI_NO_ET", "1")
    old = mock_site(waveforms=False, seed=2).write(tmp_path / "old.nwb")
    new = tmp_path / "new.nwb"
    new.write_bytes(old.read_bytes())
    with h5py.File(new, "r+") as f:
        f["units/spike_times"][:] = f["units/spike_times"][:] + 0.5
    cache = tmp_path / "cache"
    kept = []
    for local in (old, new):
        with MockDandiServer({"sub-1/s.nwb": local}) as srv:
            params = ReaderParams(dandi_api_url=srv.api_url, retries=0, deadline_s=120.0)
            (asset,) = list_assets("DANDI:000123@draft/sub-1/s.nwb", reader=params)
            kept.append(download_asset(asset, cache, reader=params))
            plain = [download_asset(dataclasses.replace(asset, dandiset="", version="", asset_id="",
                                                        digest={}, url=f"{asset.url}?copy={k}"), cache,
                                    reader=params) for k in range(2)]
            assert plain[0] != plain[1]  # two URLs, one name: two files
    assert kept[0] != kept[1] and kept[1].read_bytes() == new.read_bytes()
    assert kept[0].read_bytes() == old.read_bytes()


def test_the_api_key_goes_to_the_configured_archive_only(files, monkeypatch):
    """An asset URL of the configured archive (embargoed: it needs the key) is read with
    DANDI_API_KEY; one of another host never receives the key, and is refused by it."""
    monkeypatch.setenv("DANDI_NO_ET", "1")
    monkeypatch.setenv("DANDI_API_KEY", "secret")
    nwb = files[0]["sub-1/sub-1_ses-2.nwb"]
    with MockDandiServer({SES1: nwb}, api_key="secret") as home, \
            MockDandiServer({SES1: nwb}, api_key="secret") as other:
        params = ReaderParams(dandi_api_url=home.api_url, retries=0, deadline_s=120.0)
        url = f"{home.api_url}/assets/{home.assets[0]['asset_id']}/download/"
        assert read_site(url, reader=params).n_units == 4
        elsewhere = f"{other.api_url}/assets/{other.assets[0]['asset_id']}/download/"
        with pytest.raises(RemoteError, match="401"):
            read_site(elsewhere, reader=params)


def test_inputs_are_known_by_their_content(server, params, tmp_path):
    """The same DANDI asset in the draft and in a published version is one input (a rerun
    after a new publication finds its results); a file changed behind a plain URL is
    another (its server's ETag), and a signed URL keeps no signature in what is stored."""
    import os

    from ndx_encoding_subspace.pipeline.run import input_identity

    path = "sub-1/sub-1_ses-2.nwb"
    draft, published = (read_site(f"DANDI:000123@{v}/{path}", reader=params)
                        for v in ("draft", server.version))
    assert draft.source["version"] != published.source["version"]
    assert input_identity(draft.source) == input_identity(published.source)
    assert "digest" in input_identity(draft.source) and "version" not in input_identity(draft.source)
    assert input_identity(draft.source, earlier=True) != input_identity(published.source, earlier=True)

    local = write_nwb(mock_site(waveforms=False, seed=5).nwbfile, tmp_path / "x.nwb")
    with MockDandiServer({"x.nwb": local}) as srv:
        url = srv.blob_url("x.nwb") + "?X-Amz-Signature=secret&X-Amz-Credential=me&part=1"
        before = read_site(url, reader=params)
        os.utime(local, ns=(local.stat().st_atime_ns, local.stat().st_mtime_ns + 10**9))  # re-exported
        after = read_site(url, reader=params)
    first, second = input_identity(before.source), input_identity(after.source)
    assert first["served_bytes"] == local.stat().st_size and first["validator"] != second["validator"]
    assert first != second and {k: v for k, v in first.items() if k != "validator"} == {
        k: v for k, v in second.items() if k != "validator"}
    assert "secret" not in json.dumps(before.source) and "Credential" not in json.dumps(before.source)
    assert before.source["url"].endswith("?part=1")


def test_a_dataset_record_knows_remote_sites_by_their_content(server, params, tmp_path):
    """A finished site is skipped on a rerun by what its record says: the same DANDI asset
    listed through another version is the same site; a plain URL whose file changed at its
    server (another ETag) is not."""
    import os

    from ndx_encoding_subspace.pipeline.record import _source_identity
    from ndx_encoding_subspace.pipeline.sources import expand_inputs

    path = "sub-1/sub-1_ses-2.nwb"
    (draft,), (published,) = (expand_inputs([f"DANDI:000123@{v}/{path}"], reader=params)
                              for v in ("draft", server.version))
    assert draft.source != published.source
    assert _source_identity(draft) == _source_identity(published)
    local = write_nwb(mock_site(waveforms=False, seed=5).nwbfile, tmp_path / "x.nwb")
    with MockDandiServer({"x.nwb": local}) as srv:
        url = srv.blob_url("x.nwb")
        (before,) = expand_inputs([url], reader=params)
        os.utime(local, ns=(local.stat().st_atime_ns, local.stat().st_mtime_ns + 10**9))
        (after,) = expand_inputs([url], reader=params)
    assert json.loads(before.version)["served_bytes"] == local.stat().st_size
    assert _source_identity(before) != _source_identity(after)
    (gone,) = expand_inputs([url], reader=dataclasses.replace(params, retries=0))  # never skipped
    assert "unanswered" in gone.version


def test_a_dandi_asset_is_known_by_one_checksum_and_a_url_alike_streamed_or_downloaded(server, params,
                                                                                      tmp_path):
    """The archive adds an asset's SHA-256 after its upload: its identity keeps the etag it
    had. A plain URL downloaded is the same input as streamed (``reader.download`` changes
    where bytes go, not results)."""
    from ndx_encoding_subspace.pipeline.fingerprint import content_digest, input_identity

    etag = {"dandi:dandi-etag": "abc-1"}
    later = {**etag, "dandi:sha2-256": "f" * 64}
    source = {"asset_id": "a1", "dandiset": "000123", "url": "https://x/a1"}
    assert input_identity({**source, "digest": etag}) == input_identity({**source, "digest": later})
    assert content_digest({"dandi:sha2-256": "f" * 64}) == {"dandi:sha2-256": "f" * 64}
    local = write_nwb(mock_site(waveforms=False, seed=5).nwbfile, tmp_path / "x.nwb")
    with MockDandiServer({"x.nwb": local}) as srv:
        url = srv.blob_url("x.nwb")
        streamed = read_site(url, reader=params)
        downloaded = read_site(url, reader=dataclasses.replace(params, download=True))
        cached = dataclasses.replace(params, download=True, cache_dir=str(tmp_path / "c"))
        kept = read_site(url, reader=cached)
    assert input_identity(streamed.source) == input_identity(downloaded.source) == input_identity(kept.source)
    assert "sha256" not in input_identity(downloaded.source) and "local" in kept.source


def test_no_signature_of_a_signed_url_reaches_the_results_file(params, tmp_path):
    """A presigned URL's signature is a credential: the results file (notes, provenance,
    input) holds the URL without it."""
    from conftest import TINY_CONFIG
    from ndx_encoding_subspace.pipeline.config import PipelineConfig
    from ndx_encoding_subspace.pipeline.run import run_site

    local = write_nwb(mock_site(n_units=2, n_sounds=3, duration=0.5, seed=1).nwbfile, tmp_path / "x.nwb")
    config = PipelineConfig.from_dict({**TINY_CONFIG, "ensemble": {"n_jackknife": 1, "n_init": 1}})
    config = config.replace(reader={"dandi_api_url": params.dandi_api_url, "retries": 2})
    with MockDandiServer({"x.nwb": local}) as srv:
        url = srv.blob_url("x.nwb") + "?X-Amz-Signature=s3cr3tsig&X-Amz-Credential=AKIAME&part=1"
        result = run_site(url, tmp_path / "out", config, progress=False)
    written = result.path.read_bytes()
    assert b"s3cr3tsig" not in written and b"AKIAME" not in written
    assert b"part=1" in written  # the URL itself is kept
