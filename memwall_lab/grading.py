"""`memwall-lab check`: nbval runs a student's exercise notebook; the checks' record grades it.

The student's notebook is copied (their file is never modified); every check
cell of the copy gets the source and the expected output stored in the matching
solution notebook (the "passed" lines), and starts by importing the check module
fresh from disk, so a student cell that redefined `check.exact` cannot pass for
it. nbval runs the copy in a real kernel, in a pytest process that loads this
module as a plugin: the plugin writes one JSON line per cell (ran, timed out,
kernel died, not run) with the verdicts the checks wrote to the record file
(`check.RECORD_ENV`) while that cell ran. An exercise passes only if its check
recorded "passed" *and* nbval found the cell's output equal to the expected one.
A cell after one that hung or killed the kernel did not run: its exercises are
"not run", never passed.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from queue import Empty

import pytest
from nbval.kernel import RunningKernel

from memwall_lab import check, nbtools
from memwall_lab.assignments import METADATA_KEY

NOT_RUN = "not run"
CELLS_ENV = "MEMWALL_CHECK_CELLS"  # the plugin's per-cell JSON lines (pytest process only)
FRESH_CHECK = ('import importlib as _importlib, sys as _sys; _sys.modules.pop("memwall_lab.check", '
               'None); check = _importlib.import_module("memwall_lab.check")  # memwall-lab check')
KERNEL_POLL_S = 1.0  # how often a running cell's kernel is checked for being alive


@dataclass(frozen=True)
class ExerciseResult:
    """One exercise's verdict: its label, status (passed, not yet, not done yet, not run), detail.

    `detail` is the line the scorecard shows: "passed", "not yet - <hint>",
    "not done yet", or "not run: <why>".
    """

    label: str
    status: str
    detail: str

    @property
    def passed(self) -> bool:
        return self.status == check.PASSED


def expected_lines(cell) -> list[str]:
    """The labels of the 'Exercise ...: passed' lines stored as a check cell's expected output."""
    text = "".join(o.get("text", "") for o in cell.get("outputs", [])
                   if o.get("output_type") == "stream")
    suffix = f": {check.PASSED}"
    return [line[: -len(suffix)] for line in text.splitlines()
            if line.startswith("Exercise ") and line.endswith(suffix)]


def _check_cells(notebook) -> list[int]:
    return [i for i, cell in enumerate(notebook["cells"]) if nbtools.is_check_cell(cell)]


def judged_copy(student, solution):
    """The student's notebook with the solution's check cells, each importing `check` fresh."""
    student_checks, solution_checks = _check_cells(student), _check_cells(solution)
    if len(student_checks) != len(solution_checks):
        raise ValueError(
            f"this notebook has {len(student_checks)} check cells but its solution has "
            f"{len(solution_checks)}: was a check cell deleted or added? Copy the missing "
            "cell back from a fresh exercise notebook (make-exercises regenerates them)")
    judged = nbtools.strip_outputs(copy.deepcopy(student), keep_checks=False)
    judged.get("metadata", {}).pop(METADATA_KEY, None)
    for mine, reference in zip(student_checks, solution_checks):
        cell = copy.deepcopy(solution["cells"][reference])
        cell["source"] = FRESH_CHECK + "\n" + "".join(cell["source"])
        judged["cells"][mine] = cell
    return judged


def _code_cells(notebook) -> list[int]:
    """Notebook index of each code cell, in order: nbval's 'Cell N' is entry N."""
    return [i for i, cell in enumerate(notebook["cells"]) if cell.get("cell_type") == "code"]


def _cell_name(notebook, index: int) -> str:
    """'cell 7 (`time.sleep(100)`)': 1-based position in the notebook and first code line."""
    lines = [line.strip() for line in "".join(notebook["cells"][index]["source"]).splitlines()]
    code = next((line for line in lines
                 if line and not line.startswith("#") and line != FRESH_CHECK), "")
    if len(code) > 40:
        code = code[:37] + "..."
    return f"cell {index + 1}" + (f" (`{code}`)" if code else "")


# ---- the pytest plugin (`pytest -p memwall_lab.grading`), run in the pytest process ------

class KernelDied(RuntimeError):
    """The kernel process exited while a cell ran (crash, os._exit, out-of-memory kill)."""


def _await_reply(self, msg_id, timeout=None):
    """nbval's RunningKernel.await_reply, watching the kernel: a dead one fails at once."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        left = None if deadline is None else deadline - time.monotonic()
        if left is not None and left <= 0:
            self.memwall_event = "timed out"
            raise Empty
        try:
            msg = self.get_message(stream="shell",
                                   timeout=KERNEL_POLL_S if left is None else min(left,
                                                                                  KERNEL_POLL_S))
        except Empty:
            if not self.is_alive():
                self.memwall_event = "died"
                with contextlib.suppress(Exception):  # it is gone; only its channels remain
                    self.stop()
                raise KernelDied("the kernel died") from None
            continue
        if msg["parent_header"].get("msg_id") == msg_id:
            if msg["content"]["status"] == "aborted":
                raise RuntimeError("Kernel aborted execution request")
            return


def pytest_configure(config):
    """Let nbval notice a dead kernel within KERNEL_POLL_S, not after the cell timeout."""
    RunningKernel.await_reply = _await_reply


def _record_size() -> int:
    path = os.environ.get(check.RECORD_ENV)
    return os.path.getsize(path) if path and os.path.exists(path) else 0


def _records_since(offset: int) -> list[dict]:
    path = os.environ.get(check.RECORD_ENV)
    if not path or not os.path.exists(path):
        return []
    with open(path, "rb") as record:
        record.seek(offset)
        return _json_lines(record.read().decode("utf-8", errors="replace").splitlines())


def _json_lines(lines) -> list[dict]:
    """The JSON objects among `lines`; a line cut short or written by hand is skipped."""
    found = []
    for line in lines:
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(entry, dict):
            found.append(entry)
    return found


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    """Note whether the kernel was alive, and collect the verdicts recorded while the cell ran."""
    kernel = getattr(item.parent, "kernel", None)
    item.memwall_alive_before = kernel is not None and kernel.is_alive()
    if kernel is not None:
        kernel.memwall_event = None
    offset = _record_size()
    yield
    item.memwall_checks = _records_since(offset)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Write the cell's event: its outcome and the checks' verdicts (one JSON line)."""
    yield
    if call.when == "call":
        kernel = getattr(item.parent, "kernel", None)
        event = getattr(kernel, "memwall_event", None)
        if not getattr(item, "memwall_alive_before", True):
            outcome = NOT_RUN
        elif event:
            outcome = event
        elif call.excinfo is not None and call.excinfo.errisinstance(pytest.skip.Exception):
            outcome = "skipped"
        elif kernel is None or not kernel.is_alive():
            outcome = "died"
        else:
            outcome = "ran" if call.excinfo is None else "failed"
        checks = getattr(item, "memwall_checks", [])
    elif call.when == "setup" and call.excinfo is not None:
        outcome = "no kernel"
        checks = []
    else:
        return
    message = "" if call.excinfo is None else str(call.excinfo.value).strip()
    _emit({"cell": getattr(item, "cell_num", None), "outcome": outcome,
           "message": message.splitlines()[0] if message else "",
           "seconds": round(call.duration, 3), "checks": checks})


def _emit(event: dict) -> None:
    path = os.environ.get(CELLS_ENV)
    if path:
        with open(path, "a", encoding="utf-8") as cells:
            cells.write(json.dumps(event) + "\n")


# ---- running nbval and grading from its events ----------------------------------------

STOPS = ("timed out", "died", "no kernel")  # outcomes after which no later cell counts


def _progress_line(notebook, code_cells: list[int], event: dict, timeout_s: float,
                   stopped: bool) -> str:
    """'  cell 7 of 20: ran (0.3 s)': one cell as nbval reports it."""
    number = event.get("cell")
    index = code_cells[number] if isinstance(number, int) and number < len(code_cells) else None
    where = (f"cell {index + 1} of {len(notebook['cells'])}" if index is not None
             else "the notebook")
    failed = ("its check did not pass" if index is not None
              and nbtools.is_check_cell(notebook["cells"][index]) else "it raised an error")
    said = {"ran": f"ran ({event['seconds']:.1f} s)",
            "failed": f"ran ({event['seconds']:.1f} s), {failed}",
            "skipped": "skipped (NBVAL_SKIP)",
            "timed out": f"timed out after {timeout_s:g} s",
            "died": "the kernel died",
            "no kernel": f"the kernel did not start ({event.get('message', '')})",
            NOT_RUN: "not run"}
    if stopped:
        return f"  {where}: not counted, an earlier cell did not finish"
    return f"  {where}: {said.get(event['outcome'], event['outcome'])}"


def _read_new(handle, pending: str) -> tuple[list[dict], str]:
    """Complete JSON lines appended since the last read, and the incomplete rest."""
    text = pending + handle.read()
    *complete, rest = text.split("\n")
    return _json_lines(complete), rest


def run_nbval(path: Path, timeout_s: float, progress=print) -> list[dict]:
    """Run nbval on the notebook at `path`; return the plugin's events, one per cell.

    `progress` gets one line per cell as it finishes (None: quiet).
    """
    folder = path.parent
    record, cells_file, log = (folder / "record.jsonl", folder / "cells.jsonl",
                               folder / "pytest.log")
    record.write_text("")
    cells_file.write_text("")
    (folder / "pytest.ini").write_text("[pytest]\n")  # no outside config reaches this run
    environment = {**os.environ, check.RECORD_ENV: str(record), CELLS_ENV: str(cells_file)}
    command = [sys.executable, "-m", "pytest", path.name, "--nbval-lax", "--nbval-current-env",
               f"--nbval-cell-timeout={timeout_s:g}", "-p", "memwall_lab.grading",
               "-p", "no:cacheprovider", "-q", "--color=no", "--rootdir", str(folder)]
    notebook = nbtools.read(path)
    code_cells = _code_cells(notebook)
    events, pending, stopped = [], "", False
    with open(log, "w") as log_file, open(cells_file, encoding="utf-8") as handle:
        process = subprocess.Popen(command, cwd=folder, env=environment,
                                   stdout=log_file, stderr=subprocess.STDOUT)
        try:
            while True:
                finished = process.poll() is not None
                new, pending = _read_new(handle, pending)
                for event in new:
                    events.append(event)
                    if progress:
                        progress(_progress_line(notebook, code_cells, event, timeout_s,
                                                stopped))
                    stopped = stopped or event.get("outcome") in STOPS
                if finished:
                    break
                time.sleep(0.1)
        finally:
            if process.poll() is None:  # interrupted: take the kernel's pytest down with us
                process.kill()
                process.wait()
    if not events and code_cells:
        tail = log.read_text(errors="replace").strip().splitlines()[-3:]
        raise ValueError(f"nbval could not run {path.name} (are pytest and nbval installed? "
                         f"pip install memwall-lab installs both): {' / '.join(tail)}")
    return events


def _verdict(label: str, checks: list[dict], outcome: str) -> tuple[str, str]:
    """(status, detail) for one exercise of a check cell that ran."""
    said = [c for c in checks if c.get("label") == label]
    if not said:
        return check.NOT_YET, (f"{check.NOT_YET} - its check did not report a verdict; open "
                               "the notebook and run the cell to see why")
    status, hint = said[-1].get("status"), said[-1].get("hint") or ""
    if status == check.PASSED:
        if outcome == "ran":
            return check.PASSED, check.PASSED
        return check.NOT_YET, (f"{check.NOT_YET} - the check passed but the cell's output is "
                               "not the expected line alone; run the cell to see what else it "
                               "prints")
    if status in (check.NOT_YET, check.NOT_DONE):
        return status, status + (f" - {hint}" if hint else "")
    return check.NOT_YET, f"{check.NOT_YET} - its check reported {status!r}"


def _stop_reason(judged, index: int, event: dict, timeout_s: float) -> str | None:
    """Why no cell after this one ran, if this cell hung, killed the kernel or never ran."""
    name = _cell_name(judged, index)
    return {"timed out": f"{name} timed out after {timeout_s:g} s",
            "died": f"the kernel died in {name}",
            NOT_RUN: f"the kernel was gone before {name}",
            "missing": f"the checker stopped before {name}",
            "no kernel": "the kernel did not start" + (
                f" ({event['message']})" if event.get("message") else "")}.get(event["outcome"])


def grade_events(judged, events: list[dict], timeout_s: float) -> list[ExerciseResult]:
    """One result per exercise of the judged notebook, from nbval's per-cell events."""
    code_cells = _code_cells(judged)
    by_index = {code_cells[e["cell"]]: e for e in events
                if isinstance(e.get("cell"), int) and 0 <= e["cell"] < len(code_cells)}
    stopped = None  # why no later cell ran: the first cell that hung or killed the kernel
    results = []
    for index in code_cells:
        event = by_index.get(index, {"outcome": "missing"})
        stopped = stopped or _stop_reason(judged, index, event, timeout_s)
        if not nbtools.is_check_cell(judged["cells"][index]):
            continue
        for label in expected_lines(judged["cells"][index]):
            if stopped is None and event["outcome"] in ("ran", "failed"):
                status, detail = _verdict(label, event.get("checks", []), event["outcome"])
            else:
                status, detail = NOT_RUN, f"{NOT_RUN}: {stopped or 'its cell was skipped'}"
            results.append(ExerciseResult(label, status, detail))
    return results


def grade(student_path: str | Path, solution_path: str | Path, timeout_s: float = 600,
          progress=None) -> list[ExerciseResult]:
    """Run nbval on a judged copy of the student's notebook; one result per exercise.

    `timeout_s` limits each cell; `progress` gets a line per cell as nbval reports it.
    """
    if not (isinstance(timeout_s, (int, float)) and timeout_s > 0):
        raise ValueError(f"the timeout is a positive number of seconds per cell, got {timeout_s!r}")
    student, solution = nbtools.read(student_path), nbtools.read(solution_path)
    try:
        judged = judged_copy(student, solution)
    except ValueError as error:
        raise ValueError(f"{student_path}: {error}") from None
    with tempfile.TemporaryDirectory(prefix="memwall-check-") as folder:
        copy_path = Path(folder) / "judged.ipynb"
        nbtools.write(judged, copy_path)
        events = run_nbval(copy_path, timeout_s, progress)
    return grade_events(judged, events, timeout_s)


def find_solution(exercise_path: str | Path, solutions_dirs) -> Path:
    """The solution notebook whose 'NN_' prefix matches the exercise file's name.

    `solutions_dirs` is one folder (str or PathLike) or an iterable of folders.
    """
    if isinstance(solutions_dirs, (str, os.PathLike)):
        solutions_dirs = [solutions_dirs]
    solutions_dirs = list(solutions_dirs)
    name = Path(exercise_path).name
    prefix = name.split("_", 1)[0]
    candidates = []
    for folder in solutions_dirs:
        candidates += sorted(Path(folder).glob(f"{prefix}_*.ipynb"))
    if not prefix.isdigit() or not candidates:
        raise ValueError(f"{name}: no solution notebook found for it; exercise files are "
                         f"named like 01_measure_dram_latency_and_bandwidth.ipynb and solutions "
                         f"are looked for in {', '.join(map(str, solutions_dirs))}")
    return candidates[0]


def scorecard(name: str, results: list[ExerciseResult]) -> str:
    """Plain-text scorecard: one line per exercise and a total."""
    marks = {check.PASSED: "PASS", NOT_RUN: " -- "}
    lines = [f"{name}:"]
    for result in results:
        detail = "" if result.passed else f": {result.detail}"
        lines.append(f"  [{marks.get(result.status, '    ')}] {result.label}{detail}")
    passed = sum(r.passed for r in results)
    not_run = sum(r.status == NOT_RUN for r in results)
    lines.append(f"  {passed} of {len(results)} exercises passed"
                 + (f", {not_run} not run" if not_run else ""))
    return "\n".join(lines)
