"""Outputs go to regular files: a link is followed, a device or FIFO is never replaced; the
command line says parse errors and wrapped operating-system errors in one line."""

from __future__ import annotations

import errno
import os

import pytest

from ndx_encoding_subspace import cli
from ndx_encoding_subspace.atomic import write_text
from ndx_encoding_subspace.errors import ConfigError, os_cause


def test_a_fifo_is_refused_and_left_as_it_is(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(OSError, match="not a regular file") as err:
        write_text(fifo, "x")
    assert err.value.filename == str(fifo) and err.value.errno == errno.EEXIST
    assert fifo.is_fifo() and sorted(p.name for p in tmp_path.iterdir()) == ["pipe"]


def test_a_link_is_followed_and_kept(tmp_path):
    target, link = tmp_path / "real.html", tmp_path / "link.html"
    target.write_text("old")
    link.symlink_to(target)
    write_text(link, "new")
    assert link.is_symlink() and target.read_text() == "new"


def test_a_report_is_not_written_over_a_fifo(tmp_path):
    from ndx_encoding_subspace.viz.report import write_report

    fifo = tmp_path / "report.html"
    os.mkfifo(fifo)
    with pytest.raises(ConfigError, match="not a regular file"):
        write_report(tmp_path / "absent.results.nwb", fifo, overwrite=True)  # refused before reading
    assert fifo.is_fifo()


def test_a_missing_option_value_is_one_line(capsys):
    with pytest.raises(SystemExit) as done:
        cli.main(["run", "site.nwb", "--training.max_epochs"])
    assert done.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["encoding-subspace run: error: argument --training.max_epochs: expected one argument "
                   "(see encoding-subspace run --help)"]


def test_an_os_error_wrapped_by_a_library_is_one_line_with_advice(capsys):
    try:
        try:
            raise FileNotFoundError(errno.ENOENT, "No usable temporary directory found in ['/tmp']")
        except OSError as inner:
            raise RuntimeError(f"Cluster failed to start: {inner}") from inner
    except RuntimeError as outer:
        cause = os_cause(outer)
    assert isinstance(cause, FileNotFoundError)
    assert cli._os_error(cause) == cli.EXIT_OS_ERROR
    assert "(set TMPDIR to a writable folder)" in capsys.readouterr().err
    readonly = OSError(errno.EROFS, "Read-only file system", "/home/user/.cache")
    cli._os_error(readonly)
    assert capsys.readouterr().err.strip() == ("encoding-subspace: error: /home/user/.cache: Read-only file "
                                               "system (set XDG_CACHE_HOME to a writable folder)")


def test_a_lock_is_held_for_the_block_and_refused_to_another_run(tmp_path):
    from ndx_encoding_subspace.atomic import _HOST, held

    lock = tmp_path / ".site.lock"
    with held(lock, "site 'a'"):
        assert lock.read_text() == f"{_HOST} {os.getpid()} hb"
        with pytest.raises(ConfigError, match=rf"another run \(process {os.getpid()} on host {_HOST}\) is "
                                              r"writing site 'a' there.*leaves .*\.site\.lock.*remove it"):
            with held(lock, "site 'a'"):
                pass
    assert not lock.exists()


def test_the_lock_of_a_dead_process_is_taken_over_and_one_of_another_host_is_not(tmp_path):
    import subprocess
    import sys

    from ndx_encoding_subspace.atomic import _HOST, held

    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True).stdout.strip()
    lock = tmp_path / ".site.lock"
    lock.write_text(f"{_HOST} {gone}")
    with held(lock, "site 'a'"):
        assert lock.read_text().endswith(f"{os.getpid()} hb")
    lock.write_text(f"elsewhere-{_HOST} 1")
    with pytest.raises(ConfigError, match="on host elsewhere.*taken over after 10 minutes without"):
        with held(lock, "site 'a'"):
            pass
    assert lock.exists()  # another host's live lock is left for its owner


def test_hosts_sharing_a_long_prefix_are_told_apart_and_a_reused_process_id_is_no_holder(tmp_path):
    import time

    from ndx_encoding_subspace import atomic

    pods = [f"analysis-cluster-default-worker-{h}.svc.cluster.local" for h in ("7f9c2", "81ab4")]
    keys = [atomic._host_key(p) for p in pods]
    assert keys[0] != keys[1] and all(len(k) <= 40 and k.replace("_", "").isalnum() for k in keys)
    assert atomic._host_key("node17") == "node17" and atomic._host_key("gpu-node.lab") == "gpu_node_lab"
    # a lock of this host whose process id now belongs to another live process (a restarted
    # container): that process started after the lock was last touched, so it holds it not
    import subprocess
    import sys

    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        lock = tmp_path / ".site.lock"
        lock.write_text(f"{atomic._HOST} {other.pid} hb")
        old = time.time() - 30
        os.utime(lock, (old, old))
        if atomic._started(other.pid) is not None:  # where the system says when processes started
            with atomic.held(lock, "site 'a'"):
                assert lock.read_text() == f"{atomic._HOST} {os.getpid()} hb"
        lock.write_text(f"{atomic._HOST} {other.pid} hb")  # touched since it started: its holder's
        with pytest.raises(ConfigError, match="another run"):
            with atomic.held(lock, "site 'a'"):
                pass
    finally:
        other.kill()
        other.wait()


def test_a_lock_untouched_past_its_heartbeat_is_taken_over_and_a_held_one_is_touched(tmp_path, monkeypatch):
    import time

    from ndx_encoding_subspace import atomic

    lock = tmp_path / ".site.lock"
    old = time.time() - atomic.LOCK_STALE_S - 60
    lock.write_text("elsewhere 1")  # an earlier release's lock, which beats not: kept
    os.utime(lock, (old, old))
    with pytest.raises(ConfigError, match="on host elsewhere"):
        with atomic.held(lock, "site 'a'"):
            pass
    lock.write_text("elsewhere 1 hb")  # a run killed on another host: no heartbeat since
    os.utime(lock, (old, old))
    with atomic.held(lock, "site 'a'"):
        assert lock.read_text() == f"{atomic._HOST} {os.getpid()} hb"
    assert not lock.exists() and not list(tmp_path.iterdir())  # nothing left beside it
    (tmp_path / ".site.lock.takeover").write_text("")  # another process taking it over: wait
    lock.write_text("elsewhere 1 hb")
    os.utime(lock, (old, old))
    with pytest.raises(ConfigError, match="on host elsewhere"):
        with atomic.held(lock, "site 'a'"):
            pass
    (tmp_path / ".site.lock.takeover").unlink()
    monkeypatch.setattr(atomic, "LOCK_HEARTBEAT_S", 0.05)
    with atomic.held(lock, "site 'a'"):
        os.utime(lock, (old, old))
        deadline = time.time() + 10
        while lock.stat().st_mtime < time.time() - 60 and time.time() < deadline:
            time.sleep(0.05)
        assert lock.stat().st_mtime > time.time() - 60  # the heartbeat touched it
    assert not lock.exists()


@pytest.mark.parametrize("name", ["my_analysis.py", "notes.html", "config.toml"])
def test_report_is_never_written_over_a_file_that_is_no_report(tmp_path, name, capsys):
    """``report --out`` replaces an earlier report, never a script, page or config of the user."""
    from ndx_encoding_subspace.cli import main

    target = tmp_path / name
    target.write_text("print('my work')\n")
    results = tmp_path / "site.results.nwb"
    results.write_bytes(b"not read: the target is refused first")
    assert main(["report", str(results), "--out", str(target)]) == 2
    assert target.read_text() == "print('my work')\n"
    assert "is not a report of this package; it is never written over" in capsys.readouterr().err


@pytest.mark.parametrize("what", ["folder", "fifo"])
def test_a_folder_or_fifo_where_the_results_go_is_said_before_any_training(tmp_path, small_recording,
                                                                            monkeypatch, capsys, what):
    """Even with --overwrite (nothing can be written over it): refused once the site's name is
    known, naming the path, before a model is trained."""
    from ndx_encoding_subspace.pipeline import stages

    recording, config = small_recording(tmp_path, "tiny", {"ensemble": {"n_jackknife": 2, "n_init": 1}})
    out = tmp_path / "out"
    out.mkdir()
    target = out / "site.results.nwb"
    target.mkdir() if what == "folder" else os.mkfifo(target)

    def never(*args, **kwargs):
        raise AssertionError("the analysis started")

    monkeypatch.setattr(stages, "analyse_site", never)
    code = cli.main(["run", str(recording), "--out", str(out), "--config", str(config), "--overwrite",
                     "--no-progress"])
    err = capsys.readouterr().err
    assert code == 7 and str(target) in err and "nothing is written over it" in err and "Traceback" not in err
    assert target.is_dir() if what == "folder" else target.is_fifo()


def test_a_lock_that_cannot_be_written_is_not_left_empty_and_an_old_empty_one_is_taken_over(tmp_path):
    """A full disk while the lock is written (here a file-size limit of 0) leaves no empty
    lock behind, and says which file; an empty lock left by a crash is taken over once old."""
    import subprocess
    import sys
    import time

    from ndx_encoding_subspace import atomic

    lock = tmp_path / ".site.lock"
    code = ("import resource, signal, sys\n"
            "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
            "from ndx_encoding_subspace.atomic import held\n"
            "resource.setrlimit(resource.RLIMIT_FSIZE, (0, resource.RLIM_INFINITY))\n"
            "try:\n"
            f"    with held({str(lock)!r}, 'x'):\n"
            "        pass\n"
            "except OSError as err:\n"
            "    resource.setrlimit(resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY,) * 2)\n"
            "    print(err.filename)\n")
    said = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert said.stdout.strip() == str(lock) and not lock.exists()
    lock.write_text("")  # a writer that died between creating and writing it (or a power cut)
    old = time.time() - atomic._EMPTY_STALE_S - 60
    os.utime(lock, (old, old))
    with atomic.held(lock, "site 'a'"):
        assert lock.read_text() == f"{atomic._HOST} {os.getpid()} hb"
    assert not lock.exists()


def test_an_output_folder_that_cannot_be_written_in_is_said_before_the_input_is_read(tmp_path, monkeypatch,
                                                                                     capsys):
    """A read-only output folder (or file system) was named only after the input was read
    (minutes on a DANDI stream): now before, exit 7."""
    import ndx_encoding_subspace.io as io
    from ndx_encoding_subspace.preflight import output_folder

    out = tmp_path / "out"
    out.mkdir()
    writable = os.access
    monkeypatch.setattr(os, "access", lambda path, mode: str(path) != str(out) and writable(path, mode))
    with pytest.raises(PermissionError) as err:
        output_folder(out / "deeper")
    assert err.value.filename == str(out) and "cannot write in" in err.value.strerror
    read = []
    monkeypatch.setattr(io, "read_site", lambda *a, **k: read.append(a))
    (tmp_path / "in.nwb").write_bytes(b"\x89HDF\r\n\x1a\n")
    assert cli.main(["run", str(tmp_path / "in.nwb"), "--out", str(out), "--no-progress"]) == 7 and not read
    said = capsys.readouterr().err
    assert f"{out}: a folder this process cannot write in" in said and "Traceback" not in said


def test_a_lock_is_let_go_when_absent_or_left_by_a_dead_process_not_while_held(tmp_path):
    import subprocess
    import sys

    from ndx_encoding_subspace import atomic

    lock = tmp_path / ".site.lock"
    assert atomic.lock_let_go(lock)
    with atomic.held(lock, "site 'a'"):
        assert not atomic.lock_let_go(lock)
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    lock.write_text(f"{atomic._HOST} {gone.pid} hb")  # a worker killed with the interrupt
    assert atomic.lock_let_go(lock)
