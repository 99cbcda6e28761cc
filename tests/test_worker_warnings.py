"""Warnings raised while a site runs on a worker print as one line, as the command line's do."""

from __future__ import annotations

import threading
import warnings

from ndx_encoding_subspace.errors import InvalidDataError
from ndx_encoding_subspace.pipeline import distributed
from ndx_encoding_subspace.pipeline import run as pipeline


def test_a_warning_of_a_site_on_a_worker_thread_is_one_line(monkeypatch, capsys):
    monkeypatch.setattr(warnings, "showwarning", warnings.showwarning)  # restored after the test

    def run_site(source, out, config, **kwargs):
        warnings.warn(f"{source}: 3 presentation(s) name no sound of the file", UserWarning, stacklevel=2)
        raise InvalidDataError(f"{source}: nothing to encode")

    monkeypatch.setattr(pipeline, "run_site", run_site)
    statuses = []
    worker = threading.Thread(target=lambda: statuses.append(
        distributed.run_site_task("a", "a.nwb", "out", {})))
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        worker.start()
        worker.join()
    err = capsys.readouterr().err
    assert err.strip() == "encoding-subspace: warning: a.nwb: 3 presentation(s) name no sound of the file"
    assert statuses[0].status == "failed" and "nothing to encode" in statuses[0].error
