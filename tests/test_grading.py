"""`memwall-lab check` on tiny notebooks made here: a cell that kills the kernel or hangs
leaves every later exercise "not run", and a student's fake `check` passes nothing.

Each grade starts a real pytest process and kernel (a few seconds each).
"""

import json

import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from memwall_lab import assignments, check, cli, grading, nbtools

LABELS = [f"Exercise {n} [tiny]" for n in (1, 2, 3)]


def _check_cell(number: int):
    label = LABELS[number - 1]
    return new_code_cell(
        f"# NBVAL_CHECK_OUTPUT\nfrom memwall_lab import check\n"
        f"check.exact({label!r}, lambda: answer_{number}, {number})",
        execution_count=number,
        outputs=[new_output("stream", name="stdout", text=f"{label}: {check.PASSED}\n")])


def solution_notebook():
    """Three exercises; answer N is N."""
    cells = [new_markdown_cell("# 98 · Tiny")]
    for number in (1, 2, 3):
        cells += [new_code_cell(f"### BEGIN SOLUTION\nanswer_{number} = {number}\n"
                                "### END SOLUTION"), _check_cell(number)]
    return new_notebook(cells=cells, metadata={"kernelspec": {
        "name": "python3", "display_name": "Python 3", "language": "python"}})


@pytest.fixture
def course(tmp_path):
    """solutions/98_tiny.ipynb and its generated exercises/98_tiny.ipynb."""
    (tmp_path / "solutions").mkdir()
    nbtools.write(solution_notebook(), tmp_path / "solutions" / "98_tiny.ipynb")
    assignments.generate(tmp_path / "solutions", tmp_path / "exercises")
    return tmp_path


def _student(course, name: str, *, after_first: str | None = None, blank: bool = False):
    """The solved notebook (or the blank exercise), with a cell inserted after exercise 1."""
    folder = "exercises" if blank else "solutions"
    notebook = nbtools.read(course / folder / "98_tiny.ipynb")
    if after_first is not None:
        notebook.cells.insert(3, new_code_cell(after_first))
    path = course / f"98_{name}.ipynb"
    nbtools.write(notebook, path)
    return path


def _grade(course, path, timeout_s=60):
    lines = []
    results = grading.grade(path, course / "solutions" / "98_tiny.ipynb", timeout_s=timeout_s,
                            progress=lines.append)
    return [(r.label, r.status, r.detail) for r in results], lines


def test_a_solved_notebook_passes_every_exercise(course):
    results, progress = _grade(course, _student(course, "solved"))
    assert results == [(label, "passed", "passed") for label in LABELS]
    assert len(progress) == 6 and all(": ran (" in line for line in progress), progress


def test_a_kernel_that_dies_leaves_every_later_exercise_not_run(course):
    path = _student(course, "crash", after_first="import os\nos._exit(1)")
    results, progress = _grade(course, path)
    why = "not run: the kernel died in cell 4 (`import os`)"
    assert results == [(LABELS[0], "passed", "passed"),
                       (LABELS[1], "not run", why), (LABELS[2], "not run", why)]
    assert "  cell 4 of 8: the kernel died" in progress


def test_a_blank_notebook_with_a_crash_scores_nothing(course, capsys):
    path = _student(course, "blank_crash", after_first="import os; os._exit(1)", blank=True)
    assert cli.main(["check", str(path), "--solutions", str(course / "solutions")]) == 1
    out = capsys.readouterr().out
    assert "0 of 3 exercises passed, 2 not run" in out
    assert "[PASS]" not in out
    assert "cell 4 of 8: the kernel died" in out, "progress is shown while the notebook runs"


def test_a_hanging_cell_times_out_and_later_exercises_are_not_run(course):
    path = _student(course, "hang", after_first="import time\ntime.sleep(60)")
    results, progress = _grade(course, path, timeout_s=3)
    why = "not run: cell 4 (`import time`) timed out after 3 s"
    assert results == [(LABELS[0], "passed", "passed"),
                       (LABELS[1], "not run", why), (LABELS[2], "not run", why)]
    assert "  cell 4 of 8: timed out after 3 s" in progress
    # later cells may still run in the interrupted kernel: they are not counted
    assert all("not counted" in line for line in progress[progress.index(
        "  cell 4 of 8: timed out after 3 s") + 1:])


FAKE_CHECK = """from memwall_lab import check
def _always_passed(label, *args, **kwargs):
    print(f"{label}: passed")
for _name in ("exact", "close", "measured", "true", "choice"):
    setattr(check, _name, _always_passed)
check.exact = _always_passed
# a real check, called in the student's own cell with the answer typed in
import importlib
importlib.import_module("memwall_lab.check").exact("Exercise 2 [tiny]", lambda: 2, 2)
"""


def test_a_student_cell_that_redefines_check_passes_nothing(course):
    path = _student(course, "fake", after_first=FAKE_CHECK, blank=True)
    results, _ = _grade(course, path)
    assert results == [(LABELS[0], "not done yet", "not done yet"),
                       (LABELS[1], "not done yet", "not done yet"),
                       (LABELS[2], "not done yet", "not done yet")]


def test_the_judged_copy_imports_check_fresh_and_drops_generator_metadata(course):
    exercise = nbtools.read(course / "exercises" / "98_tiny.ipynb")
    assert assignments.METADATA_KEY in exercise.metadata
    judged = grading.judged_copy(exercise, nbtools.read(course / "solutions" / "98_tiny.ipynb"))
    assert assignments.METADATA_KEY not in judged.metadata
    for index in (2, 4, 6):
        assert judged.cells[index].source.startswith(grading.FRESH_CHECK + "\n# NBVAL_CHECK")
        assert nbtools.is_check_cell(judged.cells[index])


def _event(cell, outcome, checks=()):
    return {"cell": cell, "outcome": outcome, "message": "", "seconds": 0.1,
            "checks": list(checks)}


def test_a_pass_needs_both_the_record_and_nbvals_comparison():
    judged = grading.judged_copy(*(2 * [solution_notebook()]))
    passed = [{"label": LABELS[0], "status": "passed", "hint": ""}]
    # nbval saw the expected line but the record has no verdict: not passed
    results = grading.grade_events(judged, [_event(0, "ran"), _event(1, "ran")], 60)
    assert results[0].status == "not yet" and "did not report" in results[0].detail
    # the record says passed but the output differed: not passed
    results = grading.grade_events(judged, [_event(0, "ran"), _event(1, "failed", passed)], 60)
    assert results[0].status == "not yet" and "output" in results[0].detail
    # both agree
    results = grading.grade_events(judged, [_event(0, "ran"), _event(1, "ran", passed)], 60)
    assert results[0].passed
    # cells nbval never reported (the checker stopped) are not run, never passed
    assert [r.status for r in results[1:]] == ["not run", "not run"]
    assert results[1].detail == "not run: the checker stopped before cell 4 (`answer_2 = 2`)"


def test_a_hint_comes_from_the_record():
    judged = grading.judged_copy(*(2 * [solution_notebook()]))
    said = [{"label": LABELS[0], "status": "not yet", "hint": "2 is too large"}]
    (result, *_) = grading.grade_events(judged, [_event(0, "ran"), _event(1, "failed", said)], 9)
    assert (result.status, result.detail) == ("not yet", "not yet - 2 is too large")


def test_scorecard_counts_not_run():
    results = [grading.ExerciseResult(LABELS[0], "passed", "passed"),
               grading.ExerciseResult(LABELS[1], "not run", "not run: the kernel died in cell 4")]
    assert grading.scorecard("98_tiny.ipynb", results).splitlines() == [
        "98_tiny.ipynb:",
        f"  [PASS] {LABELS[0]}",
        f"  [ -- ] {LABELS[1]}: not run: the kernel died in cell 4",
        "  1 of 2 exercises passed, 1 not run"]


@pytest.mark.parametrize("timeout", [0, -1.5])
def test_grade_needs_a_positive_timeout(course, timeout):
    with pytest.raises(ValueError, match="positive number of seconds"):
        grading.grade(course / "exercises" / "98_tiny.ipynb",
                      course / "solutions" / "98_tiny.ipynb", timeout_s=timeout)


def test_check_goes_on_after_a_corrupt_notebook(course, capsys):
    corrupt = course / "98_corrupt.ipynb"
    corrupt.write_text(json.dumps({}))
    solved = _student(course, "solved")
    assert cli.main(["check", str(corrupt), str(solved),
                     "--solutions", str(course / "solutions")]) == 2
    captured = capsys.readouterr()
    assert f"{corrupt}: not a Jupyter notebook: it has no list of cells" in captured.err
    assert "Traceback" not in captured.err
    assert "3 of 3 exercises passed" in captured.out, "the next notebook is still checked"
    assert "1 of 2 notebooks could not be checked" in captured.err
