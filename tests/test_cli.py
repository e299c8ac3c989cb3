"""Bad input to `memwall-lab` is one error line on stderr and a nonzero exit, never a
traceback, and it is caught before anything is measured or run."""

import json

import pytest
from nbformat.v4 import new_code_cell, new_notebook, new_output

from memwall_lab import cli, nbtools, report

CELL = {"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None}
NOT_NOTEBOOKS = {
    "empty object": ({}, "it has no list of cells"),
    "no cells": ({"nbformat": 4, "nbformat_minor": 5, "metadata": {}}, "it has no list of cells"),
    "cells not a list": ({"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": 5},
                         "its 'cells' is a int, not a list"),
    "source not text": ({"nbformat": 4, "nbformat_minor": 5, "metadata": {},
                         "cells": [{**CELL, "source": 5}]},
                        "cell 1 has a source that is not text"),
    "a cell not a cell": ({"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [[]]},
                          "cell 1 is not a cell (no cell_type)"),
    "a JSON list": ([], "the file holds a JSON list, a notebook holds an object"),
}


def _one_error_line(capsys) -> str:
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err + captured.out
    lines = captured.err.splitlines()
    assert len(lines) == 1, lines
    return lines[0]


@pytest.fixture
def solutions(tmp_path):
    folder = tmp_path / "solutions"
    folder.mkdir()
    nbtools.write(new_notebook(cells=[new_code_cell(
        "# NBVAL_CHECK_OUTPUT\nprint('Exercise 1 [x]: passed')", execution_count=1,
        outputs=[new_output("stream", name="stdout", text="Exercise 1 [x]: passed\n")])]),
        folder / "97_tiny.ipynb")
    return folder


@pytest.mark.parametrize("name", NOT_NOTEBOOKS)
def test_check_on_json_that_is_not_a_notebook(tmp_path, capsys, solutions, name):
    content, message = NOT_NOTEBOOKS[name]
    path = tmp_path / "97_mine.ipynb"
    path.write_text(json.dumps(content))
    assert cli.main(["check", str(path), "--solutions", str(solutions)]) == 2
    captured = capsys.readouterr()
    assert f"memwall-lab: {path}: not a Jupyter notebook: {message}" in captured.err
    assert "Traceback" not in captured.err


@pytest.mark.parametrize("execute", [True, False])
@pytest.mark.parametrize("name", NOT_NOTEBOOKS)
def test_refresh_outputs_on_json_that_is_not_a_notebook(tmp_path, capsys, name, execute):
    content, message = NOT_NOTEBOOKS[name]
    path = tmp_path / "tiny.ipynb"
    path.write_text(json.dumps(content))
    argv = ["refresh-outputs", str(path)] + ([] if execute else ["--no-execute"])
    assert cli.main(argv) == 2
    assert _one_error_line(capsys) == f"memwall-lab: {path}: not a Jupyter notebook: {message}"
    assert path.read_text() == json.dumps(content), "a bad notebook is left as it was"


def test_refresh_outputs_on_text_that_is_not_json(tmp_path, capsys):
    path = tmp_path / "tiny.ipynb"
    path.write_bytes(b"\xff\xfe not text")
    assert cli.main(["refresh-outputs", "--no-execute", str(path)]) == 2
    assert _one_error_line(capsys) == f"memwall-lab: {path}: not a Jupyter notebook: not UTF-8 text"


def test_a_notebook_saved_with_a_byte_order_mark_is_read(tmp_path):
    path = tmp_path / "tiny.ipynb"
    nbtools.write(new_notebook(cells=[new_code_cell("x = 1")]), path)
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    assert nbtools.read(path).cells[0].source == "x = 1"


def test_refresh_outputs_names_the_cell_that_raises(tmp_path, capsys):
    path = tmp_path / "tiny.ipynb"
    nbtools.write(new_notebook(cells=[new_code_cell("x = 1"), new_code_cell("1 / 0")]), path)
    before = path.read_text()
    assert cli.main(["refresh-outputs", str(path)]) == 2
    assert _one_error_line(capsys) == (
        f"memwall-lab: {path}: cell 2 raised ZeroDivisionError: division by zero")
    assert path.read_text() == before


def _no_measuring(monkeypatch):
    def collect(**options):
        raise AssertionError("report.collect must not run for a bad output path")

    monkeypatch.setattr(report, "collect", collect)


@pytest.mark.parametrize("option", ["--json", "--plot"])
@pytest.mark.parametrize("value", ["", "  "])
def test_report_refuses_an_empty_output_name_before_measuring(monkeypatch, capsys, option,
                                                              value):
    _no_measuring(monkeypatch)
    assert cli.main(["report", "--quick", option, value]) == 2
    assert "not an empty one" in _one_error_line(capsys)


def test_report_refuses_an_unwritable_path_before_measuring(monkeypatch, capsys, tmp_path):
    _no_measuring(monkeypatch)

    def refuse(path, mode="r", *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(cli, "open", refuse, raising=False)  # root may write anywhere
    target = tmp_path / "me.json"
    assert cli.main(["report", "--quick", "--json", str(target)]) == 2
    assert _one_error_line(capsys) == (
        f"memwall-lab: {target}: cannot write the report there (Permission denied)")


def test_the_writability_probe_leaves_no_file_and_keeps_an_existing_one(monkeypatch, tmp_path):
    new, old = tmp_path / "new.json", tmp_path / "old.png"
    old.write_bytes(b"keep me")
    cli._check_output(new, "report")
    cli._check_output(old, "plot", ".png")
    assert not new.exists()
    assert old.read_bytes() == b"keep me"


def test_compare_refuses_an_unwritable_plot_before_reading(monkeypatch, capsys, tmp_path):
    def refuse(path, mode="r", *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(cli, "open", refuse, raising=False)
    plot = tmp_path / "class.png"
    assert cli.main(["compare", str(tmp_path), "--plot", str(plot)]) == 2
    assert _one_error_line(capsys) == (
        f"memwall-lab: {plot}: cannot write the plot there (Permission denied)")


def test_compare_on_a_folder_with_a_symlink_loop(tmp_path, capsys):
    (tmp_path / "a.json").symlink_to(tmp_path / "b.json")
    (tmp_path / "b.json").symlink_to(tmp_path / "a.json")
    (tmp_path / "here").symlink_to(tmp_path, target_is_directory=True)
    assert cli.main(["compare", str(tmp_path)]) == 1
    captured = capsys.readouterr()
    assert "Traceback" not in captured.out + captured.err
    assert f"skipped {tmp_path / 'a.json'}: a symlink loop, not a report file" in captured.out
    assert cli.main(["compare", str(tmp_path / "a.json")]) == 1
    assert "a symbolic link to nothing (or a symlink loop)" in capsys.readouterr().out


@pytest.mark.parametrize("value", ["0", "-3", "soon", "inf", "nan"])
def test_check_timeout_must_be_positive_seconds(value, capsys):
    with pytest.raises(SystemExit) as stopped:
        cli.main(["check", "--timeout", value])
    assert stopped.value.code == 2
    assert "give a positive number of seconds" in capsys.readouterr().err


def test_check_passes_the_timeout_and_prints_the_machine_state_first(
        tmp_path, capsys, monkeypatch, solutions):
    from memwall_lab import grading

    asked = []

    def fake_grade(path, solution, timeout_s, progress):
        asked.append(timeout_s)
        progress("  cell 1 of 1: ran (0.1 s)")
        return [grading.ExerciseResult("Exercise 1 [x]", "passed", "passed")]

    monkeypatch.setattr(grading, "grade", fake_grade)
    monkeypatch.setattr(cli, "machine_state_line", lambda: "machine state: quiet - test")
    mine = tmp_path / "97_mine.ipynb"
    mine.write_text("{}")  # never read: grade is faked
    assert cli.main(["check", str(mine), "--solutions", str(solutions), "--timeout", "7"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert asked == [7.0]
    assert out[0] == "machine state: quiet - test"
    assert "  cell 1 of 1: ran (0.1 s)" in out and "  [PASS] Exercise 1 [x]" in out


def test_the_machine_state_line_is_optional(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_machine_state(name, *args, **kwargs):
        if name == "memwall_lab" and args[2] and "machine_state" in args[2]:
            raise ImportError("not written yet")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_machine_state)
    assert cli.machine_state_line() is None


def test_refresh_outputs_goes_on_after_a_bad_notebook(tmp_path, capsys):
    bad, good = tmp_path / "bad.ipynb", tmp_path / "good.ipynb"
    bad.write_text("{}")
    nbtools.write(new_notebook(cells=[new_code_cell("x = 1")]), good)
    assert cli.main(["refresh-outputs", "--no-execute", str(bad), str(good)]) == 2
    captured = capsys.readouterr()
    assert f"{good}: stripped every output" in captured.out
    assert captured.err.splitlines() == [
        f"memwall-lab: {bad}: not a Jupyter notebook: it has no list of cells",
        "memwall-lab: 1 of 2 notebooks were not refreshed"]
