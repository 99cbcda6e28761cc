"""A checkpoint save interrupted by Ctrl-C or SIGTERM ends in the interrupt, nothing else.

``torch.save`` on a Python file lets its C++ writer call back into Python; a signal
handler raising there once left the writer unfinished: the interrupt was replaced by a
``RuntimeError`` from the writer, or the process aborted later in the writer's
destructor ("terminate called after throwing an instance of 'pybind11::error_already_set'"),
and a run sent SIGTERM in training exited by SIGABRT instead of with code 143.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest
import torch

from ndx_encoding_subspace.atomic import write_torch
from ndx_encoding_subspace.errors import signals_deferred

# Saves a checkpoint over and over while a timer thread sends SIGTERM after a delay
# that varies from trial to trial, so that over the trials the signal lands in every
# part of the save; the handler raises as the command line's does.
SCRIPT = textwrap.dedent("""
    import os, signal, sys, threading
    import torch
    from ndx_encoding_subspace.atomic import write_torch

    class Stop(KeyboardInterrupt):
        pass

    def stop(signum, frame):
        raise Stop()

    signal.signal(signal.SIGTERM, stop)
    blob = {"w": torch.randn(2000, 50), "meta": "x" * 1000}
    target, trials = sys.argv[1], int(sys.argv[2])
    write_torch(target, blob)  # a complete file first: on a slow machine every later save may be cut
    saved = 0
    for trial in range(trials):
        timer = threading.Timer(0.0003 + (trial % 37) * 0.00003, os.kill, (os.getpid(), signal.SIGTERM))
        try:
            timer.start()
            while True:
                write_torch(target, blob)
                saved += 1
        except Stop:
            pass
        timer.join()
    print("trials", trials, "saved", saved)
""")


@pytest.mark.slow
def test_saves_interrupted_at_any_point_raise_the_interrupt_and_leave_a_readable_file(tmp_path):
    target = tmp_path / "fit.pt"
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(target), "300"], capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.startswith("trials 300"), proc.stdout
    assert "Traceback" not in proc.stderr and "terminate called" not in proc.stderr, proc.stderr[-2000:]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fit.pt"]  # no temporary file left
    assert torch.load(target, weights_only=True)["w"].shape == (2000, 50)


def _raise_soon(signum: int) -> threading.Thread:
    sender = threading.Thread(target=os.kill, args=(os.getpid(), signum))
    sender.start()
    return sender


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_inside_the_block_is_handled_once_when_it_ends(signum):
    seen = []
    previous = signal.signal(signum, lambda s, _frame: seen.append(s))
    try:
        with signals_deferred():
            _raise_soon(signum).join()
            time.sleep(0.05)  # a handler would have run by now
            assert seen == []
        assert seen == [signum]
        assert signal.getsignal(signum) is not None and seen == [signum]
    finally:
        signal.signal(signum, previous)


def test_the_default_ctrl_c_raises_keyboard_interrupt_after_the_block_and_the_block_finishes():
    finished = []
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)  # whatever imports installed
    try:
        with pytest.raises(KeyboardInterrupt):
            with signals_deferred():
                _raise_soon(signal.SIGINT).join()
                time.sleep(0.05)
                finished.append(True)
        assert finished == [True]
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        signal.signal(signal.SIGINT, previous)


def test_handlers_are_restored_and_an_ignored_signal_stays_ignored():
    previous = signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        with signals_deferred():
            _raise_soon(signal.SIGTERM).join()
            time.sleep(0.05)
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_outside_the_main_thread_the_block_runs_unchanged(tmp_path):
    handlers = []
    installed = signal.getsignal(signal.SIGINT)

    def work() -> None:
        with signals_deferred():
            handlers.append(signal.getsignal(signal.SIGINT))
        write_torch(tmp_path / "x.pt", {"a": torch.ones(3)})

    worker = threading.Thread(target=work)
    worker.start()
    worker.join()
    assert handlers == [installed]
    assert torch.equal(torch.load(tmp_path / "x.pt", weights_only=True)["a"], torch.ones(3))


def test_running_on_slurm_keeps_the_ctrl_c_handler():
    """dask-jobqueue's ``runner`` module installs a SIGINT handler calling ``sys.exit()`` when
    imported: an interrupted cluster run would end with exit code 0."""
    script = textwrap.dedent("""
        import signal
        from ndx_encoding_subspace.pipeline.slurm import _jobqueue
        _jobqueue()
        print(signal.getsignal(signal.SIGINT) is signal.default_int_handler)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "True", done.stderr[-2000:]
