"""Notebooks are committed clean: only `# NBVAL_CHECK_OUTPUT` cells store outputs."""

from pathlib import Path

import nbformat
import pytest

from memwall_lab import nbtools

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted(
    path for folder in ("notebooks", "solutions", "exercises")
    for path in (ROOT / folder).glob("*.ipynb")
)


def test_there_are_notebooks():
    assert (ROOT / "notebooks" / "00_meet_your_machine.ipynb") in NOTEBOOKS


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_only_check_cells_store_outputs(path):
    notebook = nbtools.read(path)
    assert nbtools.stray_output_cells(notebook) == [], (
        f"{path.name} stores outputs outside NBVAL_CHECK_OUTPUT cells: "
        f"run `memwall-lab refresh-outputs {path.relative_to(ROOT)}`")
    nbformat.validate(notebook)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_check_cell_has_its_expected_output(path):
    notebook = nbtools.read(path)
    for index, cell in enumerate(notebook.cells):
        if nbtools.is_check_cell(cell):
            assert cell.outputs, f"{path.name} cell {index} is a check cell with no expected output"


def _notebook(*cells):
    return nbformat.v4.new_notebook(cells=list(cells))


def test_is_check_cell_follows_nbval_comment_rule():
    assert nbtools.is_check_cell(nbformat.v4.new_code_cell("# NBVAL_CHECK_OUTPUT\nprint(1)"))
    assert nbtools.is_check_cell(nbformat.v4.new_code_cell("x = 1\n#  NBVAL_CHECK_OUTPUT"))
    assert not nbtools.is_check_cell(nbformat.v4.new_code_cell("print('NBVAL_CHECK_OUTPUT')"))
    assert not nbtools.is_check_cell(nbformat.v4.new_markdown_cell("# NBVAL_CHECK_OUTPUT"))


def test_strip_keeps_only_check_outputs():
    output = nbformat.v4.new_output("stream", name="stdout", text="42\n")
    plain = nbformat.v4.new_code_cell("print(42)", outputs=[output], execution_count=3)
    check = nbformat.v4.new_code_cell("# NBVAL_CHECK_OUTPUT\nprint(42)", outputs=[output],
                                      execution_count=4)
    notebook = _notebook(plain, check)
    assert nbtools.stray_output_cells(notebook) == [0]
    nbtools.strip_outputs(notebook)
    assert notebook.cells[0].outputs == [] and notebook.cells[0].execution_count is None
    assert notebook.cells[1].outputs[0]["text"] == "42\n"
    assert notebook.cells[1].execution_count == 4, "nbval skips check cells marked unrun"
    assert nbtools.stray_output_cells(notebook) == []


def test_refresh_executes_and_keeps_check_outputs(tmp_path):
    path = tmp_path / "tiny.ipynb"
    nbtools.write(_notebook(
        nbformat.v4.new_code_cell("x = 6 * 7\nprint('scratch', x)"),
        nbformat.v4.new_code_cell("# NBVAL_CHECK_OUTPUT\nprint(x)"),
    ), path)
    assert nbtools.refresh(path, timeout_s=120) == [1]
    notebook = nbtools.read(path)
    assert notebook.cells[0].outputs == []
    assert notebook.cells[1].outputs[0]["text"] == "42\n"


def test_cli_refresh_no_execute_strips_strays_and_keeps_checks(tmp_path, capsys):
    from memwall_lab import cli

    stray = nbformat.v4.new_output("stream", name="stdout", text="scratch 42\n")
    # the stored check output is deliberately not what running the cell would print (42):
    # finding "stale" afterwards proves --no-execute did not run the notebook
    expected = nbformat.v4.new_output("stream", name="stdout", text="stale\n")
    path = tmp_path / "tiny.ipynb"
    nbtools.write(_notebook(
        nbformat.v4.new_code_cell("x = 6 * 7\nprint('scratch', x)", outputs=[stray],
                                  execution_count=1),
        nbformat.v4.new_code_cell("# NBVAL_CHECK_OUTPUT\nprint(x)", outputs=[expected],
                                  execution_count=2),
    ), path)
    assert cli.main(["refresh-outputs", "--no-execute", str(path)]) == 0
    assert "stripped every output except NBVAL_CHECK_OUTPUT cells" in capsys.readouterr().out
    notebook = nbtools.read(path)
    assert notebook.cells[0].outputs == [] and notebook.cells[0].execution_count is None
    assert [o["text"] for o in notebook.cells[1].outputs] == ["stale\n"]
    assert notebook.cells[1].execution_count == 2
    assert nbtools.stray_output_cells(notebook) == []
    nbformat.validate(notebook)


SOLUTIONS = sorted((ROOT / "solutions").glob("*.ipynb"))


def test_exercises_are_generated_from_solutions(tmp_path):
    from memwall_lab import assignments

    exercises = sorted((ROOT / "exercises").glob("*.ipynb"))
    assert [p.name for p in exercises] == [p.name for p in SOLUTIONS], (
        "exercises/ and solutions/ must hold the same notebooks: run `memwall-lab make-exercises`")
    if not SOLUTIONS:
        return
    assignments.generate(ROOT / "solutions", tmp_path)
    for exercise in exercises:
        assert (tmp_path / exercise.name).read_text() == exercise.read_text(), (
            f"exercises/{exercise.name} differs from what its solution generates: never edit "
            "exercises by hand; run `memwall-lab make-exercises`")


@pytest.mark.parametrize("path", sorted((ROOT / "exercises").glob("*.ipynb")),
                         ids=lambda p: p.name)
def test_exercises_leak_no_answers(path):
    from memwall_lab import assignments

    notebook = nbtools.read(path)
    assert assignments.leaks(notebook) == []
    for cell in notebook.cells:
        if nbtools.is_check_cell(cell):
            text = "".join(o.get("text", "") for o in cell.outputs)
            assert ": passed" not in text, f"{path.name}: a check cell expects 'passed'"
