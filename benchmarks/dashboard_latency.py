"""Benchmark: what a student waits for after moving a dashboard's control, in a real browser.

Each dashboard (lessons 03, 04 KV and MoE, 05, 06, 09) is opened on its own in a
small generated notebook (the lesson's arguments, fixed roofs instead of
measured ones) in JupyterLab in headless Chromium. Every control is changed many
times, one change at a time; for each change the page records when the readout
showed the new value and when the new plot was shown (an ``Image`` that loaded,
whose hover text names the new settings). A slider of each dashboard is then
dragged for two seconds and the time from the release until the readout and the
plot both show its final position is taken. Printed beside each: the time of the
computation alone (``widget_updates.py``'s figure).

Targets on a 2-core machine: readout <= 100 ms and plot <= 300 ms median; a
2-second drag settles within 300 ms of the release.

Run: ``python benchmarks/dashboard_latency.py [--rounds N] [--screenshots DIR]``.
Needs Playwright and Chromium (``tests/test_browser.py`` uses the same harness).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--disable-renderer-backgrounding",
                  "--disable-background-timer-throttling"]
LAPTOP_VIEWPORT = {"width": 1280, "height": 900}
SERVER_START_S = 60
OPEN_S = 60  # open a notebook, start its kernel, run its cell, show the dashboard
CHANGE_S = 15  # one control change, until readout and plot both show it
TARGETS_MS = {"readout": 100, "plot": 300, "settle": 300}

PREAMBLE = """\
from memwall_lab import comm_widgets, hardware, moe, roofline, widgets
from memwall_lab.plotting import use_course_style

use_course_style()
"""


@dataclass(frozen=True)
class Step:
    """One change of one control and what the readout must then say.

    ``kind`` is how the control is found and changed: "dropdown" (``value`` is the
    option's label), "slider" (``value`` is the key to press on its handle),
    "toggle" (the button's label) or "checkbox" (``value`` unused). ``expect`` is a
    regular expression (JavaScript's and Python's alike) the readout must match.
    ``plot_changes``: whether the plot's pixels must differ afterwards (False only
    where the figure does not depend on that control).
    """

    kind: str
    label: str
    value: str
    expect: str
    plot_changes: bool = True


def _steps(*pairs) -> list[Step]:
    return [Step(*pair) for pair in pairs]


@dataclass(frozen=True)
class Spec:
    """A dashboard as a lesson builds it, and a round of steps that ends where it began."""

    name: str
    lesson: str
    code: str
    steps: list[Step] = field(default_factory=list)
    drag: str = ""  # the label of the slider dragged


DASHBOARDS = [
    Spec("decode", "03", """\
this_machine = roofline.Roof("this machine (fp32)", 1.0e11, 2.0e10)  # fixed, not measured
h100_roof = roofline.Roof.from_hardware("h100-sxm")
capacities = {h100_roof.name: hardware.get("h100-sxm").capacity_bytes, this_machine.name: 16e9}
dashboard = widgets.decode_dashboard([this_machine, h100_roof], context_len=1024,
                                     capacities_bytes=capacities,
                                     dtypes={this_machine.name: "fp32"})
""", _steps(
        ("dropdown", "model", "gpt2", r"^gpt2, batch 1,"),
        ("slider", "batch (sequences)", "ArrowRight", r"^gpt2, batch 2,"),
        ("dropdown", "model", "llama-2-7b", r"^llama-2-7b, batch 2,"),
        ("slider", "batch (sequences)", "ArrowLeft", r"^llama-2-7b, batch 1,"),
    ), drag="batch (sequences)"),
    Spec("kv", "04", """\
dashboard = widgets.kv_dashboard("llama-3-8b", context_len=8192, batch=1)
""", _steps(
        ("dropdown", "model", "llama-2-7b", r"^llama-2-7b \("),
        ("dropdown", "attention", "MQA (1 kv head)", r"attention view 'mqa'"),
        ("dropdown", "KV dtype", "int8", r"int8 KV"),
        ("slider", "context (tokens, log scale)", "ArrowRight", r"context 16,384 tokens"),
        ("slider", "batch (sequences)", "ArrowRight", r"tokens, batch 2\b"),
        ("slider", "batch (sequences)", "ArrowLeft", r"tokens, batch 1\b"),
        ("slider", "context (tokens, log scale)", "ArrowLeft", r"context 8,192 tokens"),
        ("dropdown", "KV dtype", "fp16", r"fp16 KV"),
        ("dropdown", "attention", "as published", r"attention view 'published'"),
        ("dropdown", "model", "llama-3-8b", r"^llama-3-8b \("),
    ), drag="context (tokens, log scale)"),
    Spec("moe", "04", """\
moe_board = moe.moe_dashboard("deepseek-v3", batch=32, context_len=4096, dtype="fp8",
                              device_name="h200", devices=8)
""", _steps(
        # moe.moe_figure draws weight bytes against the batch for one model and dtype:
        # the device, the device count, the context and the KV dtype are not in it.
        ("dropdown", "model", "mixtral-8x7b", r"^Mixtral-8x7B:"),
        ("dropdown", "device", "h100-sxm", r"on 8 x NVIDIA H100", False),
        ("slider", "devices", "ArrowRight", r"on 16 x NVIDIA H100", False),
        ("slider", "batch (sequences)", "ArrowRight", r"batch 64 \(sequences\)"),
        ("slider", "context (tokens)", "ArrowRight", r"context 8,192 tokens", False),
        ("dropdown", "weights", "int4", r"int4 weights"),
        ("dropdown", "KV", "fp16", r"fp16 KV", False),
        ("dropdown", "KV", "fp8", r"fp8 KV", False),
        ("dropdown", "weights", "fp8", r"fp8 weights"),
        ("slider", "context (tokens)", "ArrowLeft", r"context 4,096 tokens", False),
        ("slider", "batch (sequences)", "ArrowLeft", r"batch 32 \(sequences\)"),
        ("slider", "devices", "ArrowLeft", r"on 8 x NVIDIA H100", False),
        ("dropdown", "device", "h200", r"on 8 x NVIDIA H200", False),
        ("dropdown", "model", "deepseek-v3", r"^DeepSeek-V3:"),
    ), drag="batch (sequences)"),
    Spec("training", "05", """\
dashboard = widgets.training_dashboard(accelerator_bytes=hardware.get("h100-sxm").capacity_bytes,
                                       batch=1, seq_len=4096)
""", _steps(
        ("dropdown", "model", "llama-3-70b", r"\nllama-3-70b:"),
        ("dropdown", "model", "parameter count (slider)", r"B-parameter model:"),
        ("slider", "params (billions)", "ArrowRight", r"^(?![\s\S]*\n7 ?B-parameter)"),
        ("slider", "params (billions)", "ArrowLeft", r"\n7B-parameter model:"),
        ("dropdown", "model", "llama-2-7b", r"\nllama-2-7b:"),
        ("slider", "tokens per sequence", "ArrowRight", r"1 x 8,192 tokens"),
        ("dropdown", "optimizer", "sgd", r"sgd, mixed precision"),
        ("dropdown", "precision", "fp32", r"sgd, fp32 precision"),
        ("dropdown", "checkpointing", "full (each layer recomputed)",
         r"checkpointing: full \(each layer recomputed\)"),
        ("dropdown", "ZeRO stage", "3: + weights (FSDP)", r"ZeRO stage 3 over 1 "),
        ("slider", "devices", "ArrowRight", r"ZeRO stage 3 over 2 data-parallel devices"),
        ("checkbox", "offload to host (ZeRO-Offload)", "", r"offload to host: on"),
        ("checkbox", "offload to host (ZeRO-Offload)", "", r"offload to host: off"),
        ("slider", "devices", "ArrowLeft", r"over 1 data-parallel device\b"),
        ("dropdown", "ZeRO stage", "0: copy all (plain data parallel)", r"ZeRO stage 0 over"),
        ("dropdown", "checkpointing", "none, fused attention",
         r"checkpointing: none, fused attention"),
        ("dropdown", "precision", "mixed", r"sgd, mixed precision"),
        ("dropdown", "optimizer", "adam", r"adam, mixed precision"),
        ("slider", "tokens per sequence", "ArrowLeft", r"1 x 4,096 tokens"),
    ), drag="tokens per sequence"),
    Spec("disaggregation", "06", """\
dashboard = widgets.disaggregation_dashboard("llama-3-8b", "h100-sxm", n_requests=24,
                                             arrival_rate_per_s=10.0)
""", _steps(
        ("slider", "prompt (tokens)", "ArrowLeft", r"prompts ~4,096 tokens"),
        ("slider", "answer (tokens)", "ArrowRight", r"answers ~512 tokens"),
        ("dropdown", "KV link", "pcie5-x16", r"over pcie5-x16"),
        ("dropdown", "KV link", "infiniband-ndr", r"over infiniband-ndr"),
        ("slider", "answer (tokens)", "ArrowLeft", r"answers ~256 tokens"),
        ("slider", "prompt (tokens)", "ArrowRight", r"prompts ~8,192 tokens"),
    ), drag="prompt (tokens)"),
    Spec("parallel", "09", """\
dashboard = comm_widgets.parallel_dashboard("llama-3-70b", "h100-sxm", "nvlink4", devices=8,
                                           batch=16, context_len=4096)
""", _steps(
        ("dropdown", "model", "qwen2.5-72b", r"^qwen2\.5-72b split"),
        ("dropdown", "device", "h200", r"ways on h200 over"),
        ("dropdown", "link", "nvlink5", r"over nvlink5 "),
        ("slider", "devices", "ArrowRight", r"split 16 ways"),
        ("toggle", "phase", "prefill", r"prefill, batch 16,"),
        ("dropdown", "alpha", "1 us", r"alpha 1 us per round"),
        ("slider", "batch", "ArrowRight", r"batch 32, context 4,096"),
        ("slider", "context", "ArrowRight", r"batch 32, context 8,192"),
        ("slider", "context", "ArrowLeft", r"batch 32, context 4,096"),
        ("slider", "batch", "ArrowLeft", r"batch 16, context 4,096"),
        ("dropdown", "alpha", "3 us", r"alpha 3 us per round"),
        ("toggle", "phase", "decode", r"decode, batch 16,"),
        ("slider", "devices", "ArrowLeft", r"split 8 ways"),
        ("dropdown", "link", "nvlink4", r"over nvlink4 "),
        ("dropdown", "device", "h100-sxm", r"ways on h100-sxm over"),
        ("dropdown", "model", "llama-3-70b", r"^llama-3-70b split"),
    ), drag="batch"),
]
BY_NAME = {spec.name: spec for spec in DASHBOARDS}


def chromium() -> str | None:
    """Debian's (or any) Chromium on PATH; Playwright downloads no browser here."""
    return next((path for path in map(shutil.which, CHROMIUM_NAMES) if path), None)


def write_notebook(path: Path, *cells: str) -> Path:
    """A notebook of code cells (no outputs) at ``path``."""
    notebook = {"cells": [{"cell_type": "code", "execution_count": None, "id": f"cell{index}",
                           "metadata": {}, "outputs": [], "source": source}
                          for index, source in enumerate(cells)],
                "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python",
                                            "name": "python3"}},
                "nbformat": 4, "nbformat_minor": 5}
    path.write_text(json.dumps(notebook, indent=1) + "\n")
    return path


def dashboard_notebook(folder: Path, spec: Spec, before: str = "") -> Path:
    """The small notebook that builds one dashboard; ``before`` runs first (a broken variant)."""
    cells = [PREAMBLE + before, spec.code] if before else [PREAMBLE, spec.code]
    return write_notebook(folder / f"{spec.name}.ipynb", *cells)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def lab_server(root: Path):
    """JupyterLab over ``root`` on 127.0.0.1, random port and token: yields (url, token)."""
    settings = root / "config" / "lab" / "user-settings" / "@jupyterlab"
    (settings / "notebook-extension").mkdir(parents=True, exist_ok=True)
    # Render every cell (no windowing), and no news or update checks.
    (settings / "notebook-extension" / "tracker.jupyterlab-settings").write_text(
        '{"windowingMode": "none"}')
    (settings / "apputils-extension").mkdir(exist_ok=True)
    (settings / "apputils-extension" / "notification.jupyterlab-settings").write_text(
        '{"fetchNews": "false", "checkForUpdates": false}')
    port, token = _free_port(), secrets.token_hex(16)
    environment = dict(os.environ, MEMWALL_QUICK="1", JUPYTER_CONFIG_DIR=str(root / "config"),
                       JUPYTER_RUNTIME_DIR=str(root / "runtime"),
                       JUPYTERLAB_WORKSPACES_DIR=str(root / "workspaces"),
                       PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT),
                                                                os.environ.get("PYTHONPATH")])))
    log = (root / "server.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1",
         f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
         "--LabApp.expose_app_in_browser=True", "--ServerApp.open_browser=False",
         "--ServerApp.allow_root=True", "--LabApp.news_url=''"],
        env=environment, stdout=subprocess.DEVNULL, stderr=log)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + SERVER_START_S
        while True:
            try:
                urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2)
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError("JupyterLab did not start:\n"
                                       + (root / "server.log").read_text()) from None
                time.sleep(0.3)
        yield base, token
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=20)
        log.close()


@contextlib.contextmanager
def browser_session():
    """Headless Chromium driven by Playwright: yields the browser."""
    from playwright.sync_api import sync_playwright

    path = chromium()
    if path is None:
        raise RuntimeError("no Chromium found: sudo apt-get install chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=path, headless=True,
                                             args=CHROMIUM_FLAGS)
        try:
            yield browser
        finally:
            browser.close()


KERNEL = "window.jupyterapp?.shell?.currentWidget?.sessionContext?.session?.kernel"

# Runs in the page: record when the readout changes and when a plot is shown.
PROBE = """(root) => {
  const readout = root.querySelector('.widget-html');
  const image = root.querySelector('img.widget-image');
  const log = window.__memwall = {readout: [], plot: [], release: null};
  const state = () => readout.querySelector('.memwall-readout')?.dataset.status;
  new MutationObserver(() => {
    const text = readout.innerText, status = state(), at = performance.now();
    requestAnimationFrame(() => log.readout.push({at, shown: performance.now(), text, status}));
  }).observe(readout, {subtree: true, childList: true, characterData: true});
  image.addEventListener('load', () => {
    const title = image.title, src = image.src, at = performance.now();
    requestAnimationFrame(() => log.plot.push({at, shown: performance.now(), title, src}));
  });
  document.addEventListener('pointerup', () => { log.release = performance.now(); }, true);
}"""

# Runs in the page: the label and shown value of one control ("batch (sequences) 64").
SETTING = """(box) => {
  const plain = (text) => (text ?? '').replace(/\u00a0/g, ' ').replace(/\u200b/g, '').trim();
  const label = plain(box.querySelector('.widget-label')?.innerText);
  const select = box.querySelector('select');
  if (select) return label + ' ' + plain(select.options[select.selectedIndex].text);
  const readout = box.querySelector('.widget-readout');
  if (readout) return label + ' ' + plain(readout.innerText);
  const check = box.querySelector('input[type=checkbox]');
  if (check) return plain(box.innerText) + ' ' + (check.checked ? 'on' : 'off');
  const active = box.querySelector('.mod-active');
  return label + ' ' + plain(active?.innerText);
}"""

# Runs in the page: true once the readout is final (ready or failed) and says `expect`,
# and the last plot shown after `since` is of `setting`.
SETTLED = """([root, since, expect, setting]) => {
  const box = root.querySelector('.memwall-readout');
  if (!box) return false;
  const status = box.dataset.status;
  if (status === 'error') return true;
  if (status !== 'ready' || !new RegExp(expect).test(root.querySelector('.widget-html').innerText))
    return false;
  const shows = (title) => title.replace(/^plot of: /, '').split('; ').includes(setting);
  const image = root.querySelector('img.widget-image');
  return shows(image.title)
    && window.__memwall.plot.some(p => p.shown > since && shows(p.title));
}"""

IMAGE_HASH = """async (root) => {
  const image = root.querySelector('img.widget-image');
  const bytes = new Uint8Array(await (await fetch(image.src)).arrayBuffer());
  let hash = 2166136261;
  for (const byte of bytes) hash = Math.imul(hash ^ byte, 16777619) >>> 0;
  return hash + ':' + bytes.length;
}"""


def _shows(title: str, setting: str) -> bool:
    """True if a plot's hover text ('plot of: a; b; c') names exactly this setting."""
    return setting in title.removeprefix("plot of: ").split("; ")


def _exactly(text: str) -> re.Pattern:
    """A pattern for exactly this text, whatever the spaces (widgets write some as NBSP, and
    an empty label as a zero-width space)."""
    return re.compile(r"^[\s\u200b]*" + r"\s+".join(map(re.escape, text.split()))
                      + r"[\s\u200b]*$")


@dataclass
class Change:
    """What one control change looked like in the browser (times in ms from the change)."""

    step: Step
    readout_ms: float | None
    plot_ms: float | None
    plot_changed: bool
    error: str = ""


class DashboardPage:
    """One dashboard open in a browser tab: change its controls and time what shows."""

    def __init__(self, browser, base: str, token: str, notebook: str,
                 viewport: dict = LAPTOP_VIEWPORT, open_s: float = OPEN_S):
        self.page = browser.new_page(viewport=viewport)
        self.page.set_default_timeout(CHANGE_S * 1000)
        self.errors: list[str] = []
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        workspace = Path(notebook).stem.replace("_", "-")
        self.page.goto(f"{base}/lab/workspaces/{workspace}/tree/{notebook}?reset&token={token}",
                       timeout=open_s * 1000)
        self.page.wait_for_function(
            f"() => window.jupyterapp?.shell?.currentWidget?.context?.path === {notebook!r}"
            f" && {KERNEL}?.status === 'idle'", timeout=open_s * 1000, polling=200)
        self.page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
        # Bounded: the dashboard's first plot, or an error (the cell's or the readout's).
        failed = ("document.querySelector(\".jp-OutputArea-output[data-mime-type*='error'],"
                  " .memwall-readout[data-status='error']\")")
        self.page.wait_for_function(
            "() => document.querySelector('img.widget-image')?.complete"
            f" && document.querySelector('img.widget-image').naturalWidth > 0 || {failed}",
            timeout=open_s * 1000, polling=200)
        errors = self.page.evaluate(f"() => {failed}?.innerText")
        if errors:
            raise AssertionError(f"{notebook} shows an error:\n{errors}")
        self.root = self.page.locator(".widget-vbox", has=self.page.locator("img.widget-image"))
        self.root = self.root.last.element_handle()
        self.page.evaluate(PROBE, self.root)
        self.page.wait_for_function("(root) => root.querySelector('.memwall-readout')"
                                    "?.dataset.status === 'ready'", arg=self.root)

    def control(self, kind: str, label: str):
        """The control's box, found by its exact label."""
        css = {"dropdown": ".widget-dropdown", "slider": ".widget-slider",
               "toggle": ".widget-toggle-buttons", "checkbox": ".widget-checkbox"}[kind]
        exact = _exactly(label)
        boxes = self.page.locator(css)
        if kind == "checkbox":
            return boxes.filter(has_text=exact).first
        return boxes.filter(has=self.page.locator(".widget-label", has_text=exact)).first

    def readout(self) -> str:
        return self.page.evaluate("(root) => root.querySelector('.widget-html').innerText",
                                  self.root)

    def image_hash(self) -> str:
        return self.page.evaluate(IMAGE_HASH, self.root)

    def now(self) -> float:
        return self.page.evaluate("() => performance.now()")

    def act(self, step: Step) -> None:
        """Make the change, as a student would: pick, press a key, click."""
        box = self.control(step.kind, step.label)
        if step.kind == "dropdown":
            box.locator("select").select_option(label=step.value)
        elif step.kind == "slider":
            handle = box.locator(".noUi-handle").first
            handle.focus()
            handle.press(step.value)
        elif step.kind == "toggle":
            box.locator("button", has_text=_exactly(step.value)).click()
        else:
            box.locator("input[type=checkbox]").click()

    def change(self, step: Step, timeout_s: float = CHANGE_S) -> Change:
        """One step: act, wait (bounded) until readout and plot show it, read the times."""
        before = self.image_hash()
        since = self.now()
        self.act(step)
        setting = self.page.evaluate(SETTING, self.control(step.kind, step.label)
                                     .element_handle())
        try:
            self.page.wait_for_function(SETTLED, arg=[self.root, since, step.expect, setting],
                                        timeout=timeout_s * 1000, polling="raf")
        except Exception as error:  # noqa: BLE001 -- reported with what the page showed
            return Change(step, None, None, False,
                          f"not shown within {timeout_s:.0f} s ({type(error).__name__}); "
                          f"readout:\n{self.readout()}")
        text = self.readout()
        log = self.page.evaluate("() => window.__memwall")
        if re.search(r"cannot compute|failed|Error|Traceback", text):
            return Change(step, None, None, False, f"the readout shows an error:\n{text}")
        pattern = re.compile(step.expect)
        readout_at = next((entry["shown"] for entry in log["readout"]
                           if entry["shown"] > since and pattern.search(entry["text"])), None)
        plot_at = next((entry["shown"] for entry in log["plot"]
                        if entry["shown"] > since and _shows(entry["title"], setting)), None)
        changed = self.image_hash() != before
        error = "" if changed or not step.plot_changes else (
            f"the plot's pixels did not change after {step.label} -> {step.value or 'click'}")
        return Change(step, readout_at and readout_at - since, plot_at and plot_at - since,
                      changed, error)

    def drag(self, label: str, seconds: float = 2.0, moves: int = 60) -> dict:
        """Drag a slider's handle right to the end, then back part way, over ``seconds``.

        Returns the time from the release until the readout and the plot both show the
        position it was released at, in ms.
        """
        box = self.control("slider", label)
        before = self.kernel_counts()
        self.page.evaluate("""(box) => {
          const readout = box.querySelector('.widget-readout');
          window.__memwall.positions = 0;
          new MutationObserver(() => { window.__memwall.positions += 1; })
            .observe(readout, {subtree: true, childList: true, characterData: true});
        }""", box.element_handle())
        handle, track = box.locator(".noUi-handle").first, box.locator(".noUi-base").first
        start, bar = handle.bounding_box(), track.bounding_box()
        x0, y = start["x"] + start["width"] / 2, start["y"] + start["height"] / 2
        right = bar["x"] + bar["width"]
        middle = bar["x"] + 0.4 * bar["width"]
        out = [x0 + (right - x0) * k / (moves // 2) for k in range(moves // 2 + 1)]
        back = [right + (middle - right) * k / (moves // 2) for k in range(1, moves // 2 + 1)]
        self.page.mouse.move(x0, y)
        self.page.mouse.down()
        for x in out + back:
            self.page.mouse.move(x, y)
            self.page.wait_for_timeout(seconds * 1000 / moves)
        self.page.mouse.up()
        setting = self.page.evaluate(SETTING, box.element_handle())
        release = self.page.evaluate("() => window.__memwall.release")
        # Settled: the readout is final and the plot is the one of the released position
        # (it may have been drawn just before the release: then the settling took 0 ms).
        self.page.wait_for_function(SETTLED, arg=[self.root, 0, r"[\s\S]", setting],
                                    timeout=CHANGE_S * 1000, polling="raf")
        log = self.page.evaluate("() => window.__memwall")
        last = max([entry["shown"] for entry in log["readout"] + log["plot"]
                    if entry["shown"] > release] or [release])
        after = self.kernel_counts()
        return {"settle_ms": last - release, "setting": setting,
                "positions": log["positions"], "told": after[0] - before[0],
                "computed": after[1] - before[1], "drawn": after[2] - before[2]}

    def kernel_counts(self) -> tuple[int, int, int]:
        """(changes the dashboard's shell was told of, compute() runs, plots drawn)."""
        code = ("from memwall_lab.dashboard import Dashboard as _Shell\n"
                "_shell = next(v.dashboard for v in list(globals().values())"
                " if isinstance(getattr(v, 'dashboard', None), _Shell))\n"
                "print(_shell.wanted, _shell.computations, _shell.plots)")
        text = self.page.evaluate(f"""async () => {{
            const future = {KERNEL}.requestExecute({{code: {json.dumps(code)},
                                                    store_history: false}});
            let text = '';
            future.onIOPub = (msg) => {{ if (msg.content.text) text += msg.content.text; }};
            await Promise.race([future.done, new Promise(done => setTimeout(done, 10000))]);
            return text.trim();
        }}""")
        wanted, computations, plots = map(int, text.split())
        return wanted, computations, plots

    def screenshot(self, path: Path) -> None:
        """The dashboard's cell as a 1280-px-wide window shows it (made tall enough to fit)."""
        cell = self.page.locator(".jp-Cell", has=self.page.locator("img.widget-image")).last
        size = self.page.viewport_size
        self.page.set_viewport_size({"width": size["width"], "height": 2400})
        try:
            cell.scroll_into_view_if_needed()
            cell.screenshot(path=str(path))
        finally:
            self.page.set_viewport_size(size)

    def close(self) -> None:
        """Shut the notebook's kernel down (bounded) and close the tab."""
        try:
            self.page.evaluate(f"() => Promise.race([{KERNEL}?.shutdown(),"
                               " new Promise(done => setTimeout(done, 5000))])")
        finally:
            self.page.close()


def summarize(values: list[float]) -> tuple[float, float]:
    """(median, worst) of the values in ms; (nan, nan) when there are none."""
    return (statistics.median(values), max(values)) if values else (float("nan"),) * 2


def computation_ms() -> dict[str, float]:
    """Median ms of each dashboard's computation alone (``widget_updates.py``), by name."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import widget_updates

    return {name: seconds * 1e3 for name, seconds in widget_updates.slowest_by_dashboard().items()}


def machine_line() -> str:
    from memwall_lab import machine

    info = machine.describe()
    return (f"{info.cpu_model or 'CPU'}, {info.logical_cores} logical CPUs "
            f"({info.usable_cpus} usable), "
            f"{(info.ram_total_bytes or 0) / 2**30:.0f} GiB RAM, {sys.platform}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5,
                        help="times each dashboard's round of changes is repeated (default 5)")
    parser.add_argument("--only", nargs="*", default=None, help="dashboard names to run")
    parser.add_argument("--screenshots", type=Path, default=None,
                        help="save a 1280-px-wide screenshot of each dashboard here")
    args = parser.parse_args(argv)
    specs = [BY_NAME[name] for name in args.only] if args.only else DASHBOARDS
    rows, failures = [], []
    computed = computation_ms()
    with tempfile.TemporaryDirectory() as folder, lab_server(Path(folder)) as (base, token), \
            browser_session() as browser:
        for spec in specs:
            dashboard_notebook(Path(folder), spec)
            page = DashboardPage(browser, base, token, f"{spec.name}.ipynb")
            try:
                if args.screenshots:
                    args.screenshots.mkdir(parents=True, exist_ok=True)
                    page.screenshot(args.screenshots / f"{spec.lesson}_{spec.name}.png")
                changes = [page.change(step) for _ in range(args.rounds) for step in spec.steps]
                failures += [f"{spec.name}: {c.error}" for c in changes if c.error]
                drags = [page.drag(spec.drag) for _ in range(3)]
            finally:
                page.close()
            readout = summarize([c.readout_ms for c in changes if c.readout_ms is not None])
            plot = summarize([c.plot_ms for c in changes if c.plot_ms is not None])
            settle = summarize([drag["settle_ms"] for drag in drags])
            passed = "/".join(str(sum(drag[key] for drag in drags))
                              for key in ("positions", "told", "computed", "drawn"))
            rows.append((spec, len(changes), readout, plot, settle, passed))
    print(f"machine: {machine_line()}")
    print(f"{'dashboard':<20}{'changes':>8}{'readout ms':>16}{'plot ms':>16}{'drag settle ms':>18}"
          f"{'compute ms':>12}  3 drags: positions shown/kernel told/computed/drawn")
    print(f"{'':<20}{'':>8}{'median  worst':>16}{'median  worst':>16}{'median  worst':>18}")
    for spec, count, readout, plot, settle, passed in rows:
        print(f"{spec.lesson + ' ' + spec.name:<20}{count:>8}{readout[0]:>8.0f}{readout[1]:>7.0f}"
              f"{plot[0]:>9.0f}{plot[1]:>7.0f}{settle[0]:>11.0f}{settle[1]:>7.0f}"
              f"{computed.get(spec.name, float('nan')):>12.1f}  {passed}")
    misses = [f"{spec.name} {what}" for spec, _, readout, plot, settle, _ in rows
              for what, value in (("readout", readout[0]), ("plot", plot[0]),
                                  ("settle", settle[0]))
              if not value <= TARGETS_MS[what]]
    print(f"targets: readout <= {TARGETS_MS['readout']} ms, plot <= {TARGETS_MS['plot']} ms "
          f"(medians), drag settles <= {TARGETS_MS['settle']} ms: "
          + ("PASS" if not misses else "MISS " + ", ".join(misses)))
    for failure in failures:
        print("FAILED", failure)
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
