"""The results file appears complete or not at all; the input is never touched."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from ndx_encoding_subspace.errors import ResultsError
from ndx_encoding_subspace.testing.files import mock_site

TESTS = Path(__file__).resolve().parent

# Builds a site with ~48 MB of spectrogram, then writes it with every HDF5 dataset
# creation reported on stdout and slowed down, so the test can kill it mid-write.
SCRIPT = textwrap.dedent("""
    import sys, time
    import h5py
    import numpy as np
    sys.path.insert(0, {tests!r})
    from test_results_roundtrip import make_results
    from ndx_encoding_subspace.results import write_results
    from ndx_encoding_subspace.data.site import SiteData, Sound, UnitInfo

    rng = np.random.default_rng(0)
    sounds = tuple(Sound(f"s{{i}}", rng.random((100_000, 30), dtype=np.float32),
                         np.zeros((1, 100_000, 3), dtype=np.float32)) for i in range(4))
    site = SiteData(name="big", sounds=sounds, frequencies=np.geomspace(200, 2e4, 30),
                    bin_size=0.01, units=UnitInfo.from_ids([0, 1, 2]),
                    estimation=("s0", "s1", "s2"), validation=("s3",),
                    source={{"units": "units"}})
    results = make_results(site)
    original = h5py.Group.create_dataset

    def reporting(self, *args, **kwargs):
        out = original(self, *args, **kwargs)
        print("dataset", out.name, flush=True)
        time.sleep(0.02)
        return out

    h5py.Group.create_dataset = reporting
    print("writing", flush=True)
    write_results(results, {out!r}, source={source!r}, metadata={{"subject": {{
        "subject_id": "f1", "species": "Mustela putorius"}}}})
    print("done", flush=True)
""")


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
def test_sigkill_mid_write_leaves_no_output_and_the_input_intact(tmp_path: Path) -> None:
    source = mock_site(n_units=3, n_sounds=2, duration=0.2, seed=1).write(tmp_path / "in.nwb")
    before = _sha(source)
    out = tmp_path / "results.nwb"
    code = SCRIPT.format(tests=str(TESTS), out=str(out), source=str(source))
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    seen, temporary = 0, None
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            seen += line.startswith("dataset")
            if seen == 40:  # the file is built in memory: at most its hidden temporary is on disk
                temporary = list(tmp_path.glob(".results.*.tmp.nwb"))
                os.kill(proc.pid, signal.SIGKILL)
                break
    finally:
        if proc.poll() is None and seen < 40:
            proc.kill()
        proc.wait(timeout=60)
    assert seen == 40, proc.stderr.read() if proc.stderr else ""
    assert proc.returncode == -signal.SIGKILL
    assert not out.exists()
    assert _sha(source) == before
    # a partial file is only ever under the hidden temporary name
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith("results")] == []
    assert temporary is not None and len(temporary) <= 1


def test_failure_before_rename_removes_the_temporary(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    if str(TESTS) not in sys.path:
        sys.path.insert(0, str(TESTS))
    from ndx_encoding_subspace.data.spectrogram import SpectrogramParams
    from ndx_encoding_subspace.io import read_site
    from ndx_encoding_subspace.results import writer
    from test_results_roundtrip import make_results

    source = mock_site(n_units=2, n_sounds=2, duration=0.2, seed=2).write(tmp_path / "in.nwb")
    before = _sha(source)
    site = read_site(source, spectrogram=SpectrogramParams(n_channels=4))
    results = make_results(site, n_members=1)

    def broken(src: object, dst: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(writer.os, "replace", broken)
    with pytest.raises(OSError, match="disk full"), pytest.warns(UserWarning, match="subject"):
        writer.write_results(results, tmp_path / "out.nwb", source=source)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.nwb"]
    assert _sha(source) == before
    monkeypatch.undo()
    with pytest.raises(ResultsError, match="over the input"):  # source: the site's own file
        writer.write_results(results, source, overwrite=True)
    assert _sha(source) == before


def test_a_full_disk_is_one_error_naming_the_results_file(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """The file is built in memory and written in one go: a full disk is one OSError naming
    the results file (exit 7 from the command line), no HDF5 object left open, no temporary."""
    import errno

    if str(TESTS) not in sys.path:
        sys.path.insert(0, str(TESTS))
    from ndx_encoding_subspace.data.spectrogram import SpectrogramParams
    from ndx_encoding_subspace.io import read_site
    from ndx_encoding_subspace.results import writer
    from test_results_roundtrip import make_results

    source = mock_site(n_units=2, n_sounds=2, duration=0.2, seed=2).write(tmp_path / "in.nwb")
    results = make_results(read_site(source, spectrogram=SpectrogramParams(n_channels=4)), n_members=1)

    class Full:
        def __init__(self, path: object, mode: str) -> None:
            self.file = open(path, mode)  # noqa: SIM115

        def __enter__(self) -> Full:
            return self

        def __exit__(self, *exc: object) -> None:
            self.file.close()

        def write(self, data: bytes) -> int:
            self.file.write(data[:1000])
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(writer, "open", Full, raising=False)
    target = tmp_path / "out.nwb"
    with pytest.raises(OSError, match=r"No space left on device \(writing [\d,]+ bytes\)") as caught, \
            pytest.warns(UserWarning, match="subject"):
        writer.write_results(results, target, source=source)
    assert caught.value.errno == errno.ENOSPC and caught.value.filename == str(target)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.nwb"]


def test_a_checkpoint_that_cannot_be_written_is_named(tmp_path: Path) -> None:
    """A file-size limit (as a quota or a full disk) met while writing a checkpoint: the
    error names the file (the OS says only "File too large"), and no temporary is left."""
    import errno
    import resource

    from ndx_encoding_subspace.atomic import write_bytes

    target = tmp_path / "ckpt" / "jk0_init0.pt"
    target.parent.mkdir()
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    try:
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, hard))
        with pytest.raises(OSError) as caught:
            write_bytes(target, lambda handle: handle.write(b"x" * 100_000))
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, previous)
    assert caught.value.errno == errno.EFBIG and caught.value.filename == str(target)
    assert str(target) in str(caught.value) and not list(target.parent.iterdir())


def test_a_name_near_the_file_systems_limit_is_written_and_its_leftovers_found(tmp_path: Path) -> None:
    """A target of 240 bytes: its temporary file's name stays within 255 bytes (the target's
    stem shortened with a hash), and a killed writer's leftover of it is removed."""
    from ndx_encoding_subspace import atomic

    target = tmp_path / ("é" * 110 + "a" * 9 + ".results.nwb")
    assert len(target.name.encode()) == 241
    atomic.write_text(target, "whole")
    assert target.read_text() == "whole"
    temporary = atomic._temporary(target)
    assert len(temporary.name.encode()) <= 255 and temporary.name.endswith(".tmp.nwb")
    left = temporary.with_name(temporary.name.replace(f"-{os.getpid()}-", "-4194303-"))
    left.write_bytes(b"part")
    assert atomic.remove_stale(target) == [left] and not left.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [target.name]
