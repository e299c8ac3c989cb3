"""Exercise notebooks cannot be fooled and give nothing away.

Every measured check refuses a number typed in and a copied prediction (run here on
each exercise's own check cell), every check cell re-measures the student's side after
a miss, and no exercise notebook shows an expected value, in a check cell's source or
in its stored output.
"""

import ast
import contextlib
import io
from pathlib import Path

import nbformat
import pytest

from memwall_lab import check, nbtools, provenance

ROOT = Path(__file__).resolve().parent.parent
EXERCISES = sorted((ROOT / "exercises").glob("*.ipynb"))
SOLUTIONS = sorted((ROOT / "solutions").glob("*.ipynb"))
REVEALING = {"exact", "close", "choice"}  # checks that hold an expected value


def check_cells(path: Path) -> list[str]:
    notebook = nbformat.read(str(path), as_version=4)
    return [cell.source for cell in notebook.cells if nbtools.is_check_cell(cell)]


def check_calls(source: str, kind: str | None = None) -> list[ast.Call]:
    calls = []
    for node in ast.walk(ast.parse(source)):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and isinstance(node.func.value, ast.Name) and node.func.value.id == "check"
                and (kind is None or node.func.attr == kind)):
            calls.append(node)
    return calls


def argument(call: ast.Call, position: int, name: str):
    for keyword in call.keywords:
        if keyword.arg == name:
            return keyword.value
    return call.args[position] if len(call.args) > position else None  # 99: keyword only


def lambda_name(node) -> str | None:
    """NAME of `lambda: NAME`, else None."""
    if isinstance(node, ast.Lambda) and isinstance(node.body, ast.Name):
        return node.body.id
    return None


def only_constants(node) -> bool:
    """True for a literal or arithmetic on literals: the value is readable in the source."""
    if isinstance(node, ast.Constant):
        return True
    if isinstance(node, ast.BinOp):
        return only_constants(node.left) and only_constants(node.right)
    if isinstance(node, ast.UnaryOp):
        return only_constants(node.operand)
    return False


MEASURED = [(path.name, source, call) for path in EXERCISES for source in check_cells(path)
            for call in check_calls(source, "measured")]


def test_every_lesson_has_a_measured_exercise():
    assert {name for name, *_ in MEASURED} == {path.name for path in EXERCISES}


def run_check_cell(source: str, namespace: dict) -> str:
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        exec(compile(source, "<check cell>", "exec"), namespace)  # noqa: S102
    return output.getvalue()


def label_of(call: ast.Call) -> str:
    return ast.literal_eval(argument(call, 0, "label"))


@pytest.mark.parametrize("name, source, call", MEASURED,
                         ids=[f"{name}:{label_of(call)}" for name, _, call in MEASURED])
def test_a_typed_in_number_fails_every_measured_exercise(name, source, call):
    answer = lambda_name(argument(call, 1, "answer"))
    assert answer, f"{name}: a measured check takes its answer as `lambda: NAME`"
    provenance.forget()
    for typed in (20e9, 1.0, 3.5):  # nothing measured in this kernel: none of them passes
        said = run_check_cell(source, {"check": check, answer: typed})
        assert f"{label_of(call)}: not yet - {check.NOT_MEASURED}" in said


@pytest.mark.parametrize("name, source, call", MEASURED,
                         ids=[f"{name}:{label_of(call)}" for name, _, call in MEASURED])
def test_a_copied_prediction_fails_where_the_exercise_has_one(name, source, call):
    prediction = argument(call, 99, "prediction")
    if prediction is None:
        pytest.skip("this exercise states no prediction to copy")
    answer = lambda_name(argument(call, 1, "answer"))
    predicted = provenance.mark(1234.5)  # even a prediction built on a measured bandwidth
    namespace = {"check": check, answer: predicted, lambda_name(prediction): predicted}
    said = run_check_cell(source, namespace)
    assert f"{label_of(call)}: not yet - {check.COPIED_PREDICTION}" in said


@pytest.mark.parametrize("name, source, call", MEASURED,
                         ids=[f"{name}:{label_of(call)}" for name, _, call in MEASURED])
def test_every_measured_check_measures_the_student_side_again(name, source, call):
    again = argument(call, 99, "again")
    assert isinstance(again, ast.Lambda), f"{name}: give again=lambda: your_function()"


@pytest.mark.parametrize("path", EXERCISES, ids=lambda path: path.name)
def test_no_exercise_shows_an_expected_value_in_a_check_cell(path):
    for source in check_cells(path):
        for call in check_calls(source):
            if call.func.attr in REVEALING:
                expected = argument(call, 2, "expected")
                assert expected is not None and not only_constants(expected), (
                    f"{path.name}: {ast.unparse(call)[:80]}... shows its expected value; "
                    "seal it with check.sealed(check.seal(value))")


@pytest.mark.parametrize("path", EXERCISES, ids=lambda path: path.name)
def test_no_exercise_stores_an_expected_value_in_an_output(path):
    notebook = nbformat.read(str(path), as_version=4)
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            for text in output.get("text", "").splitlines():
                assert text.endswith(f": {check.NOT_DONE}"), (path.name, text)


def test_every_sealed_value_opens_to_an_answer_its_check_can_accept():
    # nbval over solutions/ proves each sealed value is the right one (their stored lines say
    # "passed"); here: each opens, a choice to one of its allowed words, an exact to an int
    sealed = [call for path in SOLUTIONS for source in check_cells(path)
              for call in check_calls(source) if call.func.attr in REVEALING
              and isinstance(argument(call, 2, "expected"), ast.Call)
              and ast.unparse(argument(call, 2, "expected")).startswith("check.sealed")]
    assert len(sealed) >= 8
    for call in sealed:
        opened = check.sealed(ast.literal_eval(argument(call, 2, "expected").args[0])).open()
        if call.func.attr == "choice":
            assert opened in ast.literal_eval(argument(call, 3, "allowed")), ast.unparse(call)
        elif call.func.attr == "exact":
            assert isinstance(opened, int) and not isinstance(opened, bool)
        else:
            assert isinstance(opened, float)


def test_the_off_by_one_cache_answer_cannot_pass():
    # the latency curve's working sets are 2x apart (4x in quick mode): the point at the
    # cliff, one step past the answer, must fall outside the check's ratio bounds
    calls = [call for source in check_cells(ROOT / "solutions" /
                                            "01_measure_dram_latency_and_bandwidth.ipynb")
             for call in check_calls(source, "measured") if "cache size" in label_of(call)]
    assert len(calls) == 1
    low = ast.literal_eval(argument(calls[0], 3, "low"))
    high = ast.literal_eval(argument(calls[0], 4, "high"))
    assert 0.5 < low <= 1 <= high < 2
