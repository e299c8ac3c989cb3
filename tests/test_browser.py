"""The dashboards work where students see them: JupyterLab in a real (headless) Chromium.

A JupyterLab server starts on 127.0.0.1 with a random port and token over a copy
of the lessons; Playwright drives Debian's Chromium (`executable_path`: no
browser is downloaded), runs every cell, moves a slider and checks that the
dashboard's readout changed. Screenshots are saved in the test's temporary folder.
Skipped, with instructions, where Chromium or Playwright is missing.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync"]
RUN_ALL_TIMEOUT_S = 240


def _chromium() -> str | None:
    found = [shutil.which(name) for name in CHROMIUM_NAMES]
    return next((path for path in found if path), None)


playwright_api = pytest.importorskip(
    "playwright.sync_api", reason="the browser test needs Playwright: pip install playwright")
CHROMIUM = _chromium()
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="no Chromium found: install Debian's chromium (sudo apt-get install chromium) "
           "to run the browser test of the dashboards")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A JupyterLab server over a copy of notebooks/, on 127.0.0.1, random port and token."""
    root = tmp_path_factory.mktemp("lab")
    shutil.copytree(ROOT / "notebooks", root / "notebooks")
    # Render every cell: JupyterLab's default windowing leaves cells far from view hidden.
    settings = root / "config" / "lab" / "user-settings" / "@jupyterlab" / "notebook-extension"
    settings.mkdir(parents=True)
    (settings / "tracker.jupyterlab-settings").write_text('{"windowingMode": "none"}')
    port, token = _free_port(), secrets.token_hex(16)
    environment = dict(os.environ, MEMWALL_QUICK="1", JUPYTER_CONFIG_DIR=str(root / "config"),
                       JUPYTER_RUNTIME_DIR=str(root / "runtime"),
                       JUPYTERLAB_WORKSPACES_DIR=str(root / "workspaces"))
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1",
         f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
         "--LabApp.expose_app_in_browser=True", "--ServerApp.open_browser=False",
         "--ServerApp.allow_root=True"],
        env=environment, stdout=subprocess.DEVNULL, stderr=(root / "server.log").open("w"))
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2)
            break
        except OSError:
            if time.monotonic() > deadline or server.poll() is not None:
                server.kill()
                pytest.fail(f"JupyterLab did not start:\n{(root / 'server.log').read_text()}")
            time.sleep(0.5)
    yield base, token
    server.terminate()
    try:
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.kill()


@pytest.fixture(scope="module")
def browser():
    with playwright_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                              args=CHROMIUM_FLAGS)
        yield chromium
        chromium.close()


KERNEL_STATUS = ("window.jupyterapp?.shell?.currentWidget?.sessionContext?.session?.kernel"
                 "?.status")


CURRENT_PATH = "window.jupyterapp?.shell?.currentWidget?.context?.path"


def _notebook_url(base: str, token: str, notebook: str) -> str:
    """The notebook in a workspace of its own, reset: no tab of an earlier test comes back."""
    workspace = Path(notebook).stem.replace("_", "-")
    return f"{base}/lab/workspaces/{workspace}/tree/notebooks/{notebook}?reset&token={token}"


def _run_all(page, url: str) -> None:
    """Open a notebook, run every cell and wait until the kernel is idle again."""
    page.goto(url)
    notebook = url.split("/tree/", 1)[1].split("?", 1)[0]
    # Run All acts on the current tab: wait until it is this notebook, with its kernel idle.
    page.wait_for_function(
        f"() => {CURRENT_PATH} === {notebook!r} && {KERNEL_STATUS} === 'idle'",
        timeout=90_000, polling=250)
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
    # Done when every code cell shows its execution count ([7], not [*] or [ ]) and the
    # kernel is idle: on a busy machine the prompts turn to [*] late, so "no [*] yet" alone
    # can pass before anything ran.
    # A cell that raises stops Run All: the cells after it keep [ ], so an error shown with
    # nothing still queued is done too (and the test then reports the error).
    page.wait_for_function(
        "() => { const prompts = [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')];"
        "  const ran = prompts.length > 0"
        "    && prompts.every(p => /\\[\\d+\\]/.test(p.textContent));"
        "  const queued = prompts.some(p => p.textContent.includes('*'));"
        "  const failed = document.querySelector("
        "    \".jp-OutputArea-output[data-mime-type*='error']\");"
        f" return (ran || (failed && !queued)) && {KERNEL_STATUS} === 'idle'; }}",
        timeout=RUN_ALL_TIMEOUT_S * 1000, polling=500)


def _errors(page) -> list[str]:
    return page.locator(".jp-OutputArea-output[data-mime-type*='error']").all_inner_texts()


def _move_slider_and_read(page, slider_label: str, key: str, presses: int):
    """The dashboard readout before and after pressing `key` on the labelled slider."""
    slider = page.locator(".widget-slider", has_text=slider_label).last
    dashboard = page.locator(".widget-vbox", has=slider).last
    readout = dashboard.locator(".widget-html").last
    readout.wait_for(state="attached", timeout=60_000)
    readout.scroll_into_view_if_needed(timeout=60_000)
    readout.wait_for(timeout=60_000)
    before = readout.inner_text()
    handle = slider.locator(".noUi-handle").first
    handle.scroll_into_view_if_needed()
    handle.click()
    for _ in range(presses):
        handle.press(key)
    page.wait_for_function("([el, old]) => el.innerText !== old",
                           arg=[readout.element_handle(), before], timeout=30_000)
    return before, readout.inner_text()


@pytest.mark.parametrize("notebook, slider_label, key, presses", [
    ("04_watch_the_kv_cache_grow.ipynb", "context", "ArrowRight", 3),
    ("03_see_why_decoding_is_memory_bound.ipynb", "batch", "ArrowRight", 2),
    ("06_move_fewer_bytes_offload_quantize_disaggregate.ipynb", "prompt", "ArrowLeft", 2),
    ("09_split_the_model_across_many_chips.ipynb", "batch", "ArrowRight", 2),
])
def test_dashboard_readout_follows_the_slider(lab, browser, tmp_path, notebook, slider_label,
                                               key, presses):
    base, token = lab
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        _run_all(page, _notebook_url(base, token, notebook))
        assert _errors(page) == [], f"{notebook} raised in the browser"
        before, after = _move_slider_and_read(page, slider_label, key, presses)
    finally:
        page.screenshot(path=str(tmp_path / f"{Path(notebook).stem}.png"), full_page=False)
        page.close()
    assert before != after
    assert after.strip(), "the readout should say something after the update"


def test_training_dashboard_follows_the_model_picker(lab, browser, tmp_path):
    base, token = lab
    notebook = "05_trace_the_memory_wall_through_hardware_history.ipynb"
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        _run_all(page, _notebook_url(base, token, notebook))
        assert _errors(page) == [], f"{notebook} raised in the browser"
        readout = page.locator(".widget-html").last
        readout.wait_for(timeout=30_000)
        before = readout.inner_text()
        picker = page.locator(".widget-dropdown", has_text="model").last.locator("select")
        picker.scroll_into_view_if_needed()
        picker.select_option("llama-3-70b")
        page.wait_for_function("([el, old]) => el.innerText !== old",
                               arg=[readout.element_handle(), before], timeout=30_000)
        after = readout.inner_text()
        page.screenshot(path=str(tmp_path / "05_training.png"), full_page=False)
    finally:
        page.close()
    assert "llama-2-7b" in before and "llama-3-70b" in after
