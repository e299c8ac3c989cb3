"""The exercise generator and the nbval-based grader, on small notebooks made here."""

import re

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from memwall_lab import assignments, cli, grading, nbtools

SOLUTION_CODE = """def kv_bytes_per_token(layers, kv_heads, head_dim, bytes_per_element):
    ### BEGIN SOLUTION
    return 2 * layers * kv_heads * head_dim * bytes_per_element
    ### END SOLUTION

answer = kv_bytes_per_token(32, 32, 128, 2)"""

CHECK_CODE = """# NBVAL_CHECK_OUTPUT
from memwall_lab import check
check.exact("Exercise 1 [KV cache]", lambda: answer, 524288)"""


def solution_notebook():
    return new_notebook(cells=[
        new_markdown_cell("# 99 · A tiny lesson"),
        new_code_cell(SOLUTION_CODE),
        new_code_cell(CHECK_CODE, execution_count=2, outputs=[
            new_output("stream", name="stdout", text="Exercise 1 [KV cache]: passed\n")]),
        new_markdown_cell("Why?\n\n### BEGIN SOLUTION\nBecause K and V.\n### END SOLUTION"),
    ], metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                "language": "python"}})


def test_replace_solutions_keeps_indentation():
    out = assignments.replace_solutions(SOLUTION_CODE, assignments.CODE_STUB)
    assert "    raise NotImplementedError" in out
    assert "return 2 *" not in out and "answer = kv_bytes_per_token" in out


@pytest.mark.parametrize("source, message", [
    ("### END SOLUTION", "without a"),
    ("### BEGIN SOLUTION\nx = 1", "never closed"),
    ("### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION", "inside another"),
])
def test_malformed_markers_raise(source, message):
    with pytest.raises(ValueError, match=message):
        assignments.replace_solutions(source, "stub")


def test_exercise_has_stubs_no_answers_and_not_done_outputs():
    exercise = assignments.make_exercise(solution_notebook())
    code, check_cell, markdown = exercise.cells[1], exercise.cells[2], exercise.cells[3]
    assert code.source.startswith(assignments.RAISES_MARKER)
    assert "return 2 *" not in code.source
    assert check_cell.outputs[0]["text"] == "Exercise 1 [KV cache]: not done yet\n"
    assert markdown.source == "Why?\n\nYOUR ANSWER HERE"
    assert assignments.leaks(exercise) == []
    assert nbtools.stray_output_cells(exercise) == []


def test_generation_is_idempotent_and_leaves_solutions_alone(tmp_path):
    solutions, exercises = tmp_path / "solutions", tmp_path / "exercises"
    solutions.mkdir()
    nbtools.write(solution_notebook(), solutions / "99_tiny.ipynb")
    before = (solutions / "99_tiny.ipynb").read_text()
    assignments.generate(solutions, exercises)
    first = (exercises / "99_tiny.ipynb").read_text()
    assignments.generate(solutions, exercises)
    assert (exercises / "99_tiny.ipynb").read_text() == first
    assert (solutions / "99_tiny.ipynb").read_text() == before


def _two_solutions(tmp_path):
    solutions, exercises = tmp_path / "solutions", tmp_path / "exercises"
    solutions.mkdir()
    nbtools.write(solution_notebook(), solutions / "98_edited.ipynb")
    nbtools.write(solution_notebook(), solutions / "99_tiny.ipynb")
    assignments.generate(solutions, exercises)
    return solutions, exercises


def test_make_exercises_keeps_an_edited_exercise_and_overwrites_an_untouched_one(
        tmp_path, capsys):
    solutions, exercises = _two_solutions(tmp_path)
    edited, untouched = exercises / "98_edited.ipynb", exercises / "99_tiny.ipynb"
    # the student answers exercise 1 in 98; 99 is only run (outputs, no edits)
    mine = nbtools.read(edited)
    mine.cells[1].source = mine.cells[1].source.replace(assignments.CODE_STUB, "return 42")
    nbtools.write(mine, edited)
    ran = nbtools.read(untouched)
    ran.cells[1].outputs = [new_output("stream", name="stdout", text="scratch\n")]
    ran.cells[1].execution_count = 1
    nbtools.write(ran, untouched)
    # the author changes the solutions; both exercises would change
    for path in solutions.iterdir():
        solution = nbtools.read(path)
        solution.cells[0].source = "# 99 · A tiny lesson, revised"
        nbtools.write(solution, path)
    assert cli.main(["make-exercises", "--solutions", str(solutions),
                     "--exercises", str(exercises)]) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"wrote {untouched}",
        f"kept {edited}: edited by hand (use --force to overwrite)"]
    assert "return 42" in edited.read_text(), "a student's answer must never be overwritten"
    assert "revised" in nbtools.read(untouched).cells[0].source
    assert "revised" not in edited.read_text()
    # --force overwrites the edited one too
    assert cli.main(["make-exercises", "--solutions", str(solutions),
                     "--exercises", str(exercises), "--force"]) == 0
    assert capsys.readouterr().out.splitlines() == [f"wrote {edited}", f"wrote {untouched}"]
    assert "return 42" not in edited.read_text()
    assert "revised" in nbtools.read(edited).cells[0].source


def test_an_exercise_without_a_fingerprint_is_overwritten_only_if_it_equals_the_new_one(
        tmp_path):
    solutions, exercises = _two_solutions(tmp_path)
    for path in exercises.iterdir():  # as written before exercises carried fingerprints
        notebook = nbtools.read(path)
        del notebook.metadata[assignments.METADATA_KEY]
        nbtools.write(notebook, path)
    edited = nbtools.read(exercises / "98_edited.ipynb")
    edited.cells[3].source = "Why?\n\nBecause I said so."
    nbtools.write(edited, exercises / "98_edited.ipynb")
    done = assignments.generate(solutions, exercises)
    assert done.written == [exercises / "99_tiny.ipynb"]
    assert done.kept == [(exercises / "98_edited.ipynb", "edited by hand")]
    assert assignments.METADATA_KEY in nbtools.read(exercises / "99_tiny.ipynb").metadata


def test_a_corrupt_exercise_is_kept(tmp_path):
    solutions, exercises = _two_solutions(tmp_path)
    (exercises / "99_tiny.ipynb").write_text("{}")
    done = assignments.generate(solutions, exercises)
    ((path, reason),) = done.kept
    assert path == exercises / "99_tiny.ipynb" and reason.startswith("not a notebook this tool")
    assert (exercises / "99_tiny.ipynb").read_text() == "{}"


def test_the_fingerprint_covers_sources_and_check_outputs_only():
    exercise = assignments.make_exercise(solution_notebook())
    recorded = assignments.recorded_fingerprint(exercise)
    assert recorded == assignments.fingerprint(exercise)
    exercise.cells[1].execution_count = 3
    exercise.cells[1].metadata["collapsed"] = True
    assert assignments.fingerprint(exercise) == recorded
    exercise.cells[2].outputs[0]["text"] = "Exercise 1 [KV cache]: passed\n"
    assert assignments.fingerprint(exercise) != recorded


def test_generate_needs_solutions(tmp_path):
    with pytest.raises(ValueError, match="no solution notebooks"):
        assignments.generate(tmp_path, tmp_path / "out")


def test_cli_make_exercises_writes_leak_free_exercises(tmp_path, capsys):
    solutions, exercises = tmp_path / "solutions", tmp_path / "exercises"
    solutions.mkdir()
    nbtools.write(solution_notebook(), solutions / "99_tiny.ipynb")
    assert cli.main(["make-exercises", "--solutions", str(solutions),
                     "--exercises", str(exercises)]) == 0
    target = exercises / "99_tiny.ipynb"
    assert capsys.readouterr().out == f"wrote {target}\n"
    assert sorted(p.name for p in exercises.iterdir()) == ["99_tiny.ipynb"]
    exercise = nbtools.read(target)
    assert assignments.leaks(exercise) == []
    assert assignments.CODE_STUB in exercise.cells[1].source
    assert exercise.cells[3].source == "Why?\n\nYOUR ANSWER HERE"
    text = target.read_text()
    assert "return 2 *" not in text and "Because K and V." not in text
    # an empty solutions folder is one clear line on stderr, exit status 2
    empty = tmp_path / "empty"
    empty.mkdir()
    assert cli.main(["make-exercises", "--solutions", str(empty),
                     "--exercises", str(tmp_path / "out")]) == 2
    assert "no solution notebooks" in capsys.readouterr().err


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    root = tmp_path_factory.mktemp("course")
    (root / "solutions").mkdir()
    nbtools.write(solution_notebook(), root / "solutions" / "99_tiny.ipynb")
    assignments.generate(root / "solutions", root / "exercises")
    return root


def test_grading_an_untouched_exercise_says_not_done(course):
    results = grading.grade(course / "exercises" / "99_tiny.ipynb",
                            course / "solutions" / "99_tiny.ipynb", timeout_s=120)
    assert [(r.label, r.passed, r.detail) for r in results] == [
        ("Exercise 1 [KV cache]", False, "not done yet")]


def test_grading_a_wrong_answer_fails_with_its_hint(course, tmp_path):
    student = nbtools.read(course / "exercises" / "99_tiny.ipynb")
    student.cells[1].source = student.cells[1].source.replace(
        'raise NotImplementedError("replace this line with your answer")',
        "return layers * kv_heads * head_dim * bytes_per_element")
    path = tmp_path / "99_tiny.ipynb"
    nbtools.write(student, path)
    before = path.read_text()
    (result,) = grading.grade(path, course / "solutions" / "99_tiny.ipynb", timeout_s=120)
    assert not result.passed and result.detail == "not yet - 262,144 is too small"
    assert path.read_text() == before, "the student's file must never be modified"


def test_cli_check_passes_a_finished_notebook_and_fails_an_untouched_one(course, capsys,
                                                                          monkeypatch):
    monkeypatch.chdir(course)
    finished = course / "finished" / "99_mine.ipynb"
    finished.parent.mkdir()
    notebook = nbtools.read(course / "solutions" / "99_tiny.ipynb")
    nbformat.validate(notebook)
    nbtools.write(notebook, finished)
    assert cli.main(["check", str(finished)]) == 0
    assert "[PASS] Exercise 1 [KV cache]" in capsys.readouterr().out
    assert cli.main(["check"]) == 1
    assert "0 of 1 exercises passed" in capsys.readouterr().out


def test_check_refuses_a_notebook_without_a_solution(course, capsys, monkeypatch):
    monkeypatch.chdir(course)
    stray = course / "notes.ipynb"
    nbtools.write(new_notebook(), stray)
    assert cli.main(["check", str(stray)]) == 2
    assert "no solution notebook found" in capsys.readouterr().err


def test_deleted_check_cell_is_a_clear_error(course):
    student = nbtools.read(course / "exercises" / "99_tiny.ipynb")
    del student.cells[2]
    with pytest.raises(ValueError, match="0 check cells but its solution has 1"):
        grading.judged_copy(student, nbtools.read(course / "solutions" / "99_tiny.ipynb"))


@pytest.mark.parametrize("as_folder", [str, lambda path: path, lambda path: [path]])
def test_find_solution_takes_one_folder_or_a_list(tmp_path, as_folder):
    folder = tmp_path / "solutions"
    folder.mkdir()
    (folder / "03_decode.ipynb").write_text("{}")
    found = grading.find_solution(tmp_path / "03_mine.ipynb", as_folder(folder))
    assert found == folder / "03_decode.ipynb"
    with pytest.raises(ValueError, match=f"looked for in {re.escape(str(folder))}$"):
        grading.find_solution(tmp_path / "04_other.ipynb", as_folder(folder))
