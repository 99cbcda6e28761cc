"""Opening and reading NWB files: which errors mean a damaged file, and nothing left open.

Remote files come from :class:`MockDandiServer` on 127.0.0.1; nothing contacts the internet.
"""

from __future__ import annotations

import socket
import tempfile
from pathlib import Path

import h5py
import numpy as np
import pytest
from hdmf.build.errors import ConstructError

from ndx_encoding_subspace.errors import NotNWBError, NoUnitsError, RemoteError
from ndx_encoding_subspace.io import ReaderParams, read_site
from ndx_encoding_subspace.io import stream as stream_module
from ndx_encoding_subspace.io.open import UnexpectedReadError, open_nwb
from ndx_encoding_subspace.testing.dandi_server import MockDandiServer
from ndx_encoding_subspace.testing.files import mock_site, write_nwb


@pytest.fixture(scope="module")
def nwb_path(tmp_path_factory) -> Path:
    return write_nwb(mock_site(waveforms=False, seed=7).nwbfile, tmp_path_factory.mktemp("open") / "s.nwb")


@pytest.fixture(autouse=True)
def _no_dandi_telemetry(monkeypatch):
    monkeypatch.setenv("DANDI_NO_ET", "1")
    monkeypatch.delenv("DANDI_API_KEY", raising=False)


# ---------------------------------------------------------------------- reading()


def _raise(err: BaseException):
    def fail(opened):
        raise err

    return fail


@pytest.mark.parametrize("fail", [
    pytest.param(_raise(OSError("Can't read data (inflate() failed)")), id="os-error"),
    pytest.param(_raise(ConstructError("builder", "no such type")), id="hdmf-construct"),
    pytest.param(lambda opened: opened._h5["no/such/object"], id="hdf5-library-keyerror"),
])
def test_hdf5_read_failures_mean_a_damaged_file(nwb_path, fail):
    with open_nwb(nwb_path) as opened, pytest.raises(NotNWBError) as err:
        with opened.reading("the units"):
            fail(opened)
    message = str(err.value)
    assert message.startswith(f"{nwb_path}: the file is damaged while reading the units: ")
    assert type(err.value.__cause__).__name__ in message  # the original type is named


@pytest.mark.parametrize("bug", [KeyError("onset"), ValueError("bad shape"), RuntimeError("oops"),
                                 IndexError("index 9"), TypeError("not a number")])
def test_other_failures_are_named_not_called_damage(nwb_path, bug):
    with open_nwb(nwb_path) as opened, pytest.raises(UnexpectedReadError) as err:
        with opened.reading("the presentations"):
            raise bug
    assert not isinstance(err.value, NotNWBError)
    assert err.value.__cause__ is bug
    assert str(err.value) == (
        f"{nwb_path}: unexpected error while reading the presentations: {type(bug).__name__}: {bug}"
    )


def test_a_full_disk_while_the_output_is_written_is_no_damage_of_the_input(nwb_path, tmp_path):
    from ndx_encoding_subspace.cli import _os_error

    out = tmp_path / ".site.results.host-1-2.tmp.nwb"
    said = (f"Can't synchronously write data (file write failed: time = Sun Dec  6, filename = '{out}', "
            "file descriptor = 7, errno = 28, error message = 'No space left on device', buf = 0x1)")
    with open_nwb(nwb_path) as opened, pytest.raises(OSError) as err:
        with opened.reading("units and session metadata"):
            raise RuntimeError(said)
    assert not isinstance(err.value, NotNWBError)
    refused = err.value
    assert (refused.errno, refused.strerror, refused.filename) == (28, "No space left on device", str(out))
    assert _os_error(err.value) == 7


@pytest.mark.parametrize("machine", [
    FileNotFoundError(2, "No usable temporary directory found in ['/tmp', '/var/tmp']"),
    OSError(28, "No space left on device"), OSError(27, "File too large"),
])
def test_a_machine_without_room_or_a_temporary_folder_is_no_damage_of_the_input(nwb_path, machine):
    """A library imported while the file is read finds no usable temporary folder, or a
    cache write meets a full disk: said as it is (exit 7 and its advice), not as damage."""
    from ndx_encoding_subspace.cli import _os_error

    with open_nwb(nwb_path) as opened, pytest.raises(OSError) as err:
        with opened.reading("units and sounds"):
            raise machine
    assert err.value.errno == machine.errno and not isinstance(err.value, NotNWBError)
    assert _os_error(err.value) == 7


def test_numpy_index_errors_from_h5py_are_not_damage(nwb_path):
    with open_nwb(nwb_path) as opened, pytest.raises(UnexpectedReadError, match="IndexError"):
        with opened.reading("spikes"):
            data = opened.nwbfile.units["spike_times"].target.data
            data[np.int64(len(data) + 5)]  # a bug of the caller, raised inside h5py


def test_own_errors_pass_unchanged_and_wrapping_happens_once(nwb_path):
    own = NoUnitsError("x.nwb: no units")
    with open_nwb(nwb_path) as opened:
        with pytest.raises(NoUnitsError) as err, opened.reading("units"):
            raise own
        assert err.value is own
        with pytest.raises(UnexpectedReadError) as wrapped:
            with opened.reading("outer"), opened.reading("inner"):
                raise KeyError("k")
        assert "while reading inner" in str(wrapped.value) and "outer" not in str(wrapped.value)


# ---------------------------------------------------------------------- nothing left open


@pytest.fixture
def sessions(monkeypatch) -> dict[str, list]:
    """Every RetryingSession made, and those closed."""
    made: dict[str, list] = {"made": [], "closed": []}
    cls = stream_module.RetryingSession
    init, close = cls.__init__, cls.close

    def tracked_init(self, *args, **kwargs):
        made["made"].append(self)
        init(self, *args, **kwargs)

    def tracked_close(self):
        made["closed"].append(self)
        close(self)

    monkeypatch.setattr(cls, "__init__", tracked_init)
    monkeypatch.setattr(cls, "close", tracked_close)
    return made


def _all_closed(sessions: dict[str, list]) -> bool:
    return bool(sessions["made"]) and all(any(s is c for c in sessions["closed"]) for s in sessions["made"])


@pytest.fixture(scope="module")
def odd_files(tmp_path_factory, nwb_path) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("odd")
    text = folder / "text.nwb"
    text.write_bytes(b"this is no HDF5 file" * 100)
    plain = folder / "plain.nwb"
    with h5py.File(plain, "w") as f:
        f["data"] = np.arange(10)
    return {"text.nwb": text, "plain.nwb": plain, "good.nwb": nwb_path}


@pytest.fixture(scope="module")
def odd_server(odd_files):
    with MockDandiServer(odd_files) as srv:
        yield srv


@pytest.mark.parametrize("name, match", [
    ("text.nwb", "not an HDF5 file"),  # h5py.File(stream) fails
    ("plain.nwb", "an HDF5 file but not an NWB file"),  # opening with pynwb fails
])
def test_failed_stream_opens_close_the_session(odd_server, sessions, name, match):
    with pytest.raises(NotNWBError, match=match):
        open_nwb(odd_server.blob_url(name), reader=ReaderParams(retries=0))
    assert _all_closed(sessions)


def test_failed_size_request_closes_the_session(sessions):
    with socket.socket() as held:  # bound, never listening: refused, and no other server can take it
        held.bind(("127.0.0.1", 0))
        port = held.getsockname()[1]
        with pytest.raises(RemoteError, match="connection refused"):
            stream_module.open_stream(f"http://127.0.0.1:{port}/x.nwb", name="x.nwb", retries=0)
    assert _all_closed(sessions)


def test_streamed_file_closes_its_session(odd_server, sessions):
    with open_nwb(odd_server.blob_url("good.nwb"), reader=ReaderParams(retries=0)) as opened:
        assert opened.nwbfile.units is not None
        assert not _all_closed(sessions)
    assert _all_closed(sessions)


@pytest.fixture
def scratch(tmp_path, monkeypatch) -> Path:
    """The folder where tempfile makes its folders during the test."""
    folder = tmp_path / "scratch"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def test_download_without_cache_removes_its_folder(odd_server, scratch):
    params = ReaderParams(download=True, retries=0)
    with open_nwb(odd_server.blob_url("good.nwb"), reader=params) as opened:
        (folder,) = scratch.iterdir()
        assert opened.nwbfile.units is not None and any(p.is_file() for p in folder.rglob("*"))
        assert "local" not in opened.provenance  # it would name a file soon removed
    assert not any(scratch.iterdir())
    site = read_site(odd_server.blob_url("good.nwb"), reader=params)
    assert site.n_units > 0 and not any(scratch.iterdir())
    with pytest.raises(NotNWBError, match="not an HDF5 file"):
        read_site(odd_server.blob_url("text.nwb"), reader=params)
    assert not any(scratch.iterdir())  # removed when opening fails too


def test_download_into_the_cache_is_kept(odd_server, scratch, tmp_path):
    params = ReaderParams(download=True, retries=0, cache_dir=str(tmp_path / "cache"))
    with open_nwb(odd_server.blob_url("good.nwb"), reader=params) as opened:
        local = Path(opened.provenance["local"])
    assert local.is_file() and not any(scratch.iterdir())
