"""`memwall-lab check`: nbval judges a student's exercise notebook.

The student's notebook is copied (their file is never modified); every check
cell of the copy gets the source and the expected output stored in the matching
solution notebook (the "passed" lines); nbval runs the copy in a real kernel and
compares. A check cell whose output differs is an exercise not passed. The
result is a scorecard, one line per exercise.
"""

from __future__ import annotations

import copy
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree

from memwall_lab import check, nbtools

_LINE = re.compile(r"^(?P<label>Exercise [^:\n]*): (?P<status>.*)$", re.MULTILINE)
_SAID = re.compile(r"(?P<label>Exercise [^:\n]*): (?P<status>[^\n]*)")
_ANSI = re.compile(r"(\x1b|#x1B)\[[0-9;]*m")  # junit XML spells ESC as #x1B


@dataclass(frozen=True)
class ExerciseResult:
    """One exercise's verdict: its label, whether it passed, and what the student's check said."""

    label: str
    passed: bool
    detail: str


def expected_lines(cell) -> list[str]:
    """The 'Exercise ...: passed' lines stored as a check cell's expected output."""
    text = "".join(o.get("text", "") for o in cell.get("outputs", [])
                   if o.get("output_type") == "stream")
    return [m.group("label") for m in _LINE.finditer(text)]


def _check_cells(notebook) -> list[int]:
    return [i for i, cell in enumerate(notebook["cells"]) if nbtools.is_check_cell(cell)]


def judged_copy(student, solution):
    """The student's notebook with the solution's check cells (source and expected output)."""
    student_checks, solution_checks = _check_cells(student), _check_cells(solution)
    if len(student_checks) != len(solution_checks):
        raise ValueError(
            f"this notebook has {len(student_checks)} check cells but its solution has "
            f"{len(solution_checks)}: was a check cell deleted or added? Copy the missing "
            "cell back from a fresh exercise notebook (make-exercises regenerates them)")
    judged = nbtools.strip_outputs(copy.deepcopy(student), keep_checks=False)
    for mine, reference in zip(student_checks, solution_checks):
        judged["cells"][mine] = copy.deepcopy(solution["cells"][reference])
    return judged


def _code_cell_numbers(notebook) -> dict[int, int]:
    """Map notebook cell index -> nbval's 'Cell N' number (N counts code cells only)."""
    numbers, count = {}, 0
    for index, cell in enumerate(notebook["cells"]):
        if cell.get("cell_type") == "code":
            numbers[index] = count
            count += 1
    return numbers


def _run_nbval(path: Path, timeout_s: int) -> dict[str, tuple[bool, str]]:
    """Run nbval on `path` in a fresh pytest process; map 'Cell N' -> (passed, failure text)."""
    junit = path.with_suffix(".xml")
    subprocess.run(
        [sys.executable, "-m", "pytest", str(path), "--nbval-lax", "-p", "no:cacheprovider",
         "-q", f"--nbval-cell-timeout={timeout_s}", "--rootdir", str(path.parent),
         f"--junitxml={junit}"],
        cwd=path.parent, capture_output=True, text=True, check=False)
    if not junit.exists():
        raise ValueError(f"nbval could not run {path.name}: are pytest and nbval installed "
                         "(pip install memwall-lab installs both)?")
    reports = {}
    for case in ElementTree.parse(junit).iter("testcase"):
        problems = [child for child in case if child.tag in ("failure", "error")]
        text = "\n".join((p.get("message") or "") + "\n" + (p.text or "") for p in problems)
        reports[case.get("name", "")] = (not problems, text)
    return reports


def _student_lines(failure: str) -> dict[str, str]:
    """Each exercise's line as the student's notebook printed it, read off nbval's diff."""
    said = {}
    for text in _ANSI.sub("", failure).splitlines():
        if "' == '" in text:  # pytest's one-line summary of the comparison, not a line
            continue
        match = _SAID.match(text.strip().lstrip("+-?").strip())
        if match and match.group("status") != check.PASSED:
            said.setdefault(match.group("label"), match.group("status"))
    return said


def grade(student_path: str | Path, solution_path: str | Path,
          timeout_s: int = 600) -> list[ExerciseResult]:
    """Run nbval on a judged copy of the student's notebook; one result per exercise."""
    student, solution = nbtools.read(student_path), nbtools.read(solution_path)
    judged = judged_copy(student, solution)
    numbers = _code_cell_numbers(judged)
    with tempfile.TemporaryDirectory(prefix="memwall-check-") as folder:
        copy_path = Path(folder) / Path(student_path).name
        nbtools.write(judged, copy_path)
        reports = _run_nbval(copy_path, timeout_s)
    results = []
    for index in _check_cells(judged):
        passed, failure = reports.get(f"Cell {numbers[index]}", (False, "the cell did not run"))
        said = _student_lines(failure)
        for label in expected_lines(judged["cells"][index]):
            status = check.PASSED if passed else said.get(label, "did not run; open the "
                                                          "notebook and run it to see why")
            results.append(ExerciseResult(label, passed, status))
    return results


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
    lines = [f"{name}:"]
    for result in results:
        mark = "PASS" if result.passed else "    "
        detail = "" if result.passed else f": {result.detail}"
        lines.append(f"  [{mark}] {result.label}{detail}")
    passed = sum(r.passed for r in results)
    lines.append(f"  {passed} of {len(results)} exercises passed")
    return "\n".join(lines)
