"""The dashboards work where students see them: JupyterLab in a real (headless) Chromium.

A JupyterLab server starts on 127.0.0.1 (random port and token) over small
generated notebooks, one per dashboard (the lesson's arguments, fixed roofs for
this machine), and Playwright drives Debian's Chromium (no browser is
downloaded). For every control of every dashboard, after each change the readout
must state the new value and no error, and the plot must be redrawn for the new
settings with different pixels (except where the figure does not draw that
control). Every wait is bounded: a broken dashboard fails the test instead of
hanging it. Two deliberately broken dashboards (a frozen plot; a control that
raises) must be caught. The latencies seen are printed (``pytest -s``).
The harness is shared with ``benchmarks/dashboard_latency.py``.
Skipped, with instructions, where Chromium or Playwright is missing.
"""

from __future__ import annotations

import importlib.util
import statistics
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HARNESS = ROOT / "benchmarks" / "dashboard_latency.py"

playwright_api = pytest.importorskip(
    "playwright.sync_api", reason="the browser test needs Playwright: pip install playwright")


def _load_harness():
    spec = importlib.util.spec_from_file_location("dashboard_latency", HARNESS)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


harness = _load_harness()
pytestmark = pytest.mark.skipif(
    harness.chromium() is None,
    reason="no Chromium found: install Debian's chromium (sudo apt-get install chromium) "
           "to run the browser test of the dashboards")

# Broken on purpose: each must make the check fail. Run before the dashboard is built.
FROZEN_PLOT = """
import memwall_lab.dashboard as shell

_first_png, _draw = [], shell.figure_png

def _frozen_png(figure, *args):
    if not _first_png:
        _first_png.append(_draw(figure, *args))
    return _first_png[0]

shell.figure_png = _frozen_png
"""
BATCH_RAISES = """
_kv_readings = widgets.kv_readings

def _broken_kv_readings(model_name, context_len, batch=1, *args, **options):
    if batch > 1:
        raise RuntimeError("broken on purpose: batch above 1")
    return _kv_readings(model_name, context_len, batch, *args, **options)

widgets.kv_readings = _broken_kv_readings
"""
BROKEN = {"frozen-plot": FROZEN_PLOT, "batch-raises": BATCH_RAISES}
LATENCIES: dict[str, list] = {}


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """JupyterLab over one notebook per dashboard and per broken variant of lesson 04's."""
    root = tmp_path_factory.mktemp("lab")
    for spec in harness.DASHBOARDS:
        harness.dashboard_notebook(root, spec)
    for name, before in BROKEN.items():
        broken = harness.Spec(f"kv-{name}", "04", harness.BY_NAME["kv"].code)
        harness.dashboard_notebook(root, broken, before)
    with harness.lab_server(root) as (base, token):
        yield base, token


@pytest.fixture(scope="module")
def browser():
    with harness.browser_session() as chromium:
        yield chromium


@pytest.fixture
def open_dashboard(lab, browser, tmp_path):
    """Open a generated notebook's dashboard; closes it (and its kernel) afterwards."""
    pages = []

    def opened(name: str):
        page = harness.DashboardPage(browser, *lab, f"{name}.ipynb")
        pages.append(page)
        return page

    yield opened
    for page in pages:
        page.page.screenshot(path=str(tmp_path / "last.png"))
        page.close()


def _print_latencies(name: str, changes) -> None:
    readout = [c.readout_ms for c in changes if c.readout_ms is not None]
    plot = [c.plot_ms for c in changes if c.plot_ms is not None]
    LATENCIES[name] = readout + plot
    print(f"\n{name}: {len(changes)} changes; readout shown after median "
          f"{statistics.median(readout):.0f} ms (worst {max(readout):.0f}), plot after "
          f"median {statistics.median(plot):.0f} ms (worst {max(plot):.0f})")


@pytest.mark.parametrize("spec", harness.DASHBOARDS, ids=[s.name for s in harness.DASHBOARDS])
def test_every_control_updates_readout_and_plot(open_dashboard, spec):
    page = open_dashboard(spec.name)
    changes = [page.change(step) for step in spec.steps]
    failures = [f"{c.step.label} -> {c.step.value or 'click'}: {c.error}"
                for c in changes if c.error]
    assert not failures, "\n".join(failures)
    assert all(c.readout_ms is not None and c.plot_ms is not None for c in changes)
    drag = page.drag(spec.drag, seconds=1.0, moves=30)  # bounded: settles or fails
    assert not page.errors, f"the page raised: {page.errors}"
    _print_latencies(spec.name, changes)
    print(f"{spec.name}: a 1-second drag of '{spec.drag}' settled {drag['settle_ms']:.0f} ms "
          f"after the release ({drag['positions']} positions shown, {drag['computed']} "
          f"computed, {drag['drawn']} drawn)")


def test_every_dashboard_control_is_exercised():
    """Each control of each dashboard has at least one step (the list is the coverage)."""
    expected = {
        "decode": {"model", "batch (sequences)"},
        "kv": {"model", "attention", "KV dtype", "context (tokens, log scale)",
               "batch (sequences)"},
        "moe": {"model", "device", "devices", "batch (sequences)", "context (tokens)",
                "weights", "KV"},
        "training": {"model", "params (billions)", "tokens per sequence", "optimizer",
                     "precision", "checkpointing", "ZeRO stage", "devices",
                     "offload to host (ZeRO-Offload)"},
        "disaggregation": {"prompt (tokens)", "answer (tokens)", "KV link"},
        "parallel": {"model", "device", "link", "devices", "phase", "alpha", "batch",
                     "context"},
    }
    assert {spec.name: {step.label for step in spec.steps}
            for spec in harness.DASHBOARDS} == expected


@pytest.mark.parametrize("variant, step_index, symptom", [
    ("frozen-plot", 0, "pixels did not change"),
    ("batch-raises", 4, "RuntimeError: broken on purpose"),
])
def test_a_broken_dashboard_fails_the_check(open_dashboard, variant, step_index, symptom):
    page = open_dashboard(f"kv-{variant}")
    steps = harness.BY_NAME["kv"].steps
    started = time.monotonic()
    change = page.change(steps[step_index], timeout_s=10)
    print(f"\nkv-{variant}: the check says: {' '.join(change.error.splitlines()[:2])}")
    assert symptom in change.error, change
    assert time.monotonic() - started < 15  # caught, not waited out
