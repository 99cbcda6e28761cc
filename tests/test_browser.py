"""A results file seen in a real browser: Voila serves a notebook, headless Chromium shows it.

The notebook opens a results file written here, registers our views with
``import ndx_encoding_subspace.widgets`` and displays the SSRF view of the file's
SubspaceNonlinearityTable and the whole ``nwb2widget`` tree. Chromium (Debian's
``chromium``; installed with apt-get when missing and running as root) loads the page;
the DOM is polled over the DevTools protocol until the SSRF widget holds a loaded image.
A screenshot goes to ``test-artifacts/``.
"""

from __future__ import annotations

import base64
import contextlib
import importlib.util
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
# generous: a cold kernel on a busy machine imports pynwb, torch and the widgets first
DEADLINE_S = 240.0
# a page whose widgets never came (a kernel or websocket lost on a shared machine) is loaded
# again, with a fresh kernel, this many times before the test fails
PAGE_LOADS = 2
KERNEL = "ndx-es-browser-test"
# state of the n-th SSRF widget in the page (n = 0: the one displayed directly)
SSRF_READY = """((n) => {
  const view = document.querySelectorAll('.ndx-es-ssrf')[n];
  if (!view) return 'no-widget';
  const img = view.querySelector('img, canvas');
  if (!img) return 'no-image';
  if (img.tagName === 'IMG' && !(img.complete && img.naturalWidth > 0)) return 'loading';
  return 'ready:' + img.tagName + ':' + (img.naturalWidth || img.width);
})(%d)"""
# open the accordion entry whose title starts with a prefix (nwbwidgets builds it lazily)
OPEN_ENTRY = """((prefix) => {
  const headers = [...document.querySelectorAll('.jupyter-widget-Collapse-header')];
  const header = headers.find(h => h.textContent.trim().startsWith(prefix));
  if (!header) return 'absent';
  if (!header.parentElement.classList.contains('jupyter-widget-Collapse-open')) header.click();
  return 'opened';
})(%s)"""

for _module in ("voila", "nbformat", "websocket", "ipykernel"):
    if importlib.util.find_spec(_module) is None:
        pytest.skip(f"{_module} not installed (test extra: pip install "
                    f"'ndx-encoding-subspace[test]'; websocket-client for 'websocket')",
                    allow_module_level=True)

import nbformat  # noqa: E402
import websocket  # noqa: E402  (websocket-client)


def _install_chromium() -> str | None:
    """Path of chromium, installed with apt-get when missing and possible, else None."""
    found = shutil.which("chromium") or (CHROMIUM if Path(CHROMIUM).exists() else None)
    if found:
        return found
    if os.name != "posix" or os.geteuid() != 0 or shutil.which("apt-get") is None:
        return None
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "install", "-y", "chromium"],
                    ["apt-get", "update"], ["apt-get", "install", "-y", "chromium"]):
        subprocess.run(command, env=env, capture_output=True, timeout=600, check=False)
        found = shutil.which("chromium")
        if found:
            return found
    return None


@pytest.fixture(scope="module")
def chromium() -> str:
    path = _install_chromium()
    if path is None:
        pytest.skip("headless Chromium is not available and could not be installed "
                    "(needs Debian's 'chromium' package: run 'apt-get install -y chromium' "
                    "as root)")
    return path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for_port(port: int, proc: subprocess.Popen, log: Path, deadline: float) -> None:
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"voila exited with {proc.returncode}:\n"
                                 f"{log.read_text(errors='replace')[-3000:]}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.2)
    raise AssertionError(f"voila did not listen on port {port}:\n{log.read_text()[-3000:]}")


def _write_notebook(path: Path, results: Path) -> None:
    cells = [
        nbformat.v4.new_code_cell(
            "import ndx_encoding_subspace.widgets  # registers the views in nwbwidgets\n"
            "import nwbwidgets\n"
            "from IPython.display import display\n"
            "from pynwb import NWBHDF5IO\n"
            "from ndx_encoding_subspace.viz.widgets.ssrf import SSRFWidget\n"
            f"io = NWBHDF5IO({str(results)!r}, 'r')\n"
            "nwbfile = io.read()"),
        nbformat.v4.new_code_cell(
            "results = nwbfile.processing['encoding_subspace']\n"
            "display(SSRFWidget(results['subspace_nonlinearities']))"),
        nbformat.v4.new_code_cell("display(nwbwidgets.nwb2widget(nwbfile))"),
    ]
    notebook = nbformat.v4.new_notebook(cells=cells)
    notebook.metadata["kernelspec"] = {"name": KERNEL, "display_name": KERNEL,
                                       "language": "python"}
    nbformat.write(notebook, str(path))


def _write_kernelspec(jupyter_path: Path) -> None:
    """A kernel spec running this interpreter, under a name no other install uses."""
    folder = jupyter_path / "kernels" / KERNEL
    folder.mkdir(parents=True)
    spec = {"argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": KERNEL, "language": "python"}
    (folder / "kernel.json").write_text(json.dumps(spec))


@contextlib.contextmanager
def _voila(notebook: Path, port: int, log: Path) -> Iterator[subprocess.Popen]:
    jupyter_path = notebook.parent / "jupyter"
    _write_kernelspec(jupyter_path)
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "MPLBACKEND": "Agg",
           "JUPYTER_PATH": os.pathsep.join(filter(None, [str(jupyter_path),
                                                         os.environ.get("JUPYTER_PATH")]))}
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "voila", "--no-browser", f"--port={port}",
             "--Voila.ip=127.0.0.1", "--show_tracebacks=True", notebook.name],
            cwd=notebook.parent, stdout=out, stderr=subprocess.STDOUT, env=env)
        try:
            yield proc
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)


@contextlib.contextmanager
def _chromium(binary: str, url: str, profile: Path, log: Path) -> Iterator[websocket.WebSocket]:
    """Headless Chromium on ``url``; yields a DevTools websocket attached to the page."""
    args = [binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
            "--no-first-run", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--disable-dev-shm-usage", f"--user-data-dir={profile}",
            "--remote-debugging-port=0", "--remote-allow-origins=*",
            "--window-size=1400,2000", url]
    with open(log, "w") as out:
        # its temporary folders (a socket's among them: a short path) are removed afterwards,
        # not left in the machine's /tmp
        scratch = tempfile.mkdtemp(prefix="ndx-es-chromium-")
        env = {**os.environ, "TMPDIR": scratch}
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=env)
        try:
            port_file = profile / "DevToolsActivePort"
            deadline = time.monotonic() + 30
            while not port_file.exists() or not port_file.read_text().strip():
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"chromium did not start:\n{log.read_text()[-3000:]}")
                time.sleep(0.1)
            devtools_port = int(port_file.read_text().split()[0])
            with urllib.request.urlopen(f"http://127.0.0.1:{devtools_port}/json/list",
                                        timeout=10) as response:
                targets = json.load(response)
            page = next(t for t in targets if t.get("type") == "page")
            ws = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=30,
                                             suppress_origin=True)
            try:
                yield ws
            finally:
                ws.close()
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
            shutil.rmtree(scratch, ignore_errors=True)


class _DevTools:
    """Minimal synchronous DevTools protocol client (command -> result)."""

    def __init__(self, ws: websocket.WebSocket) -> None:
        self.ws = ws
        self.next_id = 0

    def call(self, method: str, **params: object) -> dict:
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise AssertionError(f"{method}: {message['error']}")
                return message["result"]

    def evaluate(self, expression: str) -> object:
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return result["result"].get("value")


def _poll(tools: _DevTools, expression: str, deadline: float, want: str = "ready") -> str:
    """Evaluate ``expression`` until its value starts with ``want`` or time runs out."""
    state = ""
    while time.monotonic() < deadline:
        state = str(tools.evaluate(expression))
        if state.startswith(want):
            break
        time.sleep(0.5)
    return state


def _page_text(tools: _DevTools) -> str:
    """The page's visible text (a cell's traceback, Voila's progress), for a failure message."""
    try:
        return str(tools.evaluate("document.body ? document.body.innerText : ''") or "")[-2000:]
    except Exception as error:  # the page itself may be gone
        return f"(page text not read: {error})"


def _load_until_ready(tools: _DevTools, url: str) -> tuple[str, list[str]]:
    """Load ``url`` until the first SSRF view holds an image; the last state and one note per load."""
    state, loads = "", []
    for load in range(PAGE_LOADS):
        if load:
            tools.call("Page.navigate", url=url)
        state = _poll(tools, SSRF_READY % 0, time.monotonic() + DEADLINE_S)
        if state.startswith("ready"):
            break
        loads.append(f"load {load + 1}: {state!r} after {DEADLINE_S:.0f} s; page text:\n"
                     f"{_page_text(tools)}")
    return state, loads


def test_ssrf_widget_renders_in_voila_and_chromium(tmp_path, chromium):
    from pynwb import NWBHDF5IO

    from ndx_encoding_subspace.testing.mock import mock_results_nwbfile

    start = time.monotonic()
    results = tmp_path / "results.nwb"
    with NWBHDF5IO(str(results), "w") as io:
        io.write(mock_results_nwbfile())
    notebook = tmp_path / "view_results.ipynb"
    _write_notebook(notebook, results)
    ARTIFACTS.mkdir(exist_ok=True)
    port = _free_port()
    voila_log = tmp_path / "voila.log"
    chromium_log = tmp_path / "chromium.log"
    with _voila(notebook, port, voila_log) as voila:
        _wait_for_port(port, voila, voila_log, start + DEADLINE_S)
        url = f"http://127.0.0.1:{port}/"
        with _chromium(chromium, url, tmp_path / "profile", chromium_log) as ws:
            tools = _DevTools(ws)
            tools.call("Emulation.setDeviceMetricsOverride", width=1400, height=2000,
                       deviceScaleFactor=1, mobile=False)
            state, failed_loads = _load_until_ready(tools, url)
            # then through the nwb2widget tree: processing > subspace_nonlinearities
            tree = "not reached"
            if state.startswith("ready"):
                deadline = time.monotonic() + DEADLINE_S
                for entry in ("processing", "subspace_nonlinearities"):
                    _poll(tools, OPEN_ENTRY % json.dumps(entry), deadline, want="opened")
                tree = _poll(tools, SSRF_READY % 1, deadline)
            time.sleep(1.0)  # let the rest of the page settle for the screenshot
            shot = tools.call("Page.captureScreenshot", format="png")
            screenshot = ARTIFACTS / "voila_ssrf.png"
            screenshot.write_bytes(base64.b64decode(shot["data"]))
            html = tools.evaluate("document.documentElement.outerHTML") or ""
            (ARTIFACTS / "voila_ssrf.html").write_text(html)
    elapsed = time.monotonic() - start
    (ARTIFACTS / "voila_ssrf.txt").write_text(
        f"state={state}\ntree={tree}\nelapsed_s={elapsed:.1f}\n" + "\n".join(failed_loads))
    assert isinstance(state, str) and state.startswith("ready"), (
        f"SSRF widget not rendered in {len(failed_loads)} page load(s), {elapsed:.0f} s:\n"
        + "\n".join(failed_loads)
        + f"\nvoila log:\n{voila_log.read_text(errors='replace')[-3000:]}"
        + f"\nchromium log:\n{chromium_log.read_text(errors='replace')[-2000:]}")
    assert 'class="' in html and "ndx-es-ssrf" in html
    assert screenshot.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    # the whole nwb2widget tree rendered below it (the file's session description), and
    # its entry for the SubspaceNonlinearityTable opens on our SSRF view
    assert "Example results of the encoding-subspace method." in html
    assert tree.startswith("ready"), f"SSRF view not reached in the nwb2widget tree: {tree}"
