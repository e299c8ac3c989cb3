import numpy as np
import pytest

from memwall_lab import check, provenance

mark = provenance.mark  # a value as if it came from a measurement in this kernel


def said(capsys) -> str:
    return capsys.readouterr().out.strip()


def stub():
    raise NotImplementedError("replace this line with your answer")


def test_exact_right_wrong_and_not_done(capsys):
    check.exact("Exercise 1 [KV]", lambda: 524_288, 524_288)
    assert said(capsys) == "Exercise 1 [KV]: passed"
    check.exact("Exercise 1 [KV]", lambda: 524_289, 524_288, hint="count K and V")
    assert said(capsys) == "Exercise 1 [KV]: not yet - 524,289 is too large; count K and V"
    check.exact("Exercise 1 [KV]", stub, 524_288)
    assert said(capsys) == "Exercise 1 [KV]: not done yet"


def test_undefined_name_is_not_done(capsys):
    check.exact("Exercise 2 [x]", lambda: name_the_student_never_defined, 1)  # noqa: F821
    assert said(capsys) == "Exercise 2 [x]: not done yet"


def test_none_and_ellipsis_are_not_done(capsys):
    check.close("Exercise 3 [y]", lambda: None, 1.0)
    check.close("Exercise 3 [y]", lambda: ..., 1.0)
    assert said(capsys).splitlines() == ["Exercise 3 [y]: not done yet"] * 2


def test_exact_wants_integers_but_accepts_whole_floats(capsys):
    check.exact("E [b]", lambda: 1024.0, 1024)
    check.exact("E [b]", lambda: 1024.5, 1024)
    lines = said(capsys).splitlines()
    assert lines[0] == "E [b]: passed"
    assert lines[1].startswith("E [b]: not yet - give a whole number")


def test_close_uses_relative_tolerance(capsys):
    check.close("E [t]", lambda: 240.1, 240.0, rel_tol=1e-3)
    check.close("E [t]", lambda: 250.0, 240.0, rel_tol=1e-3)
    assert said(capsys).splitlines() == ["E [t]: passed", "E [t]: not yet - 250 is off by 4.2%"]


def test_measured_is_a_ratio_to_a_reference(capsys):
    check.measured("E [bw]", lambda: mark(30e9), lambda: 40e9, low=0.5, high=2)
    check.measured("E [bw]", lambda: mark(3e9), lambda: 40e9, low=0.5, high=2)
    lines = said(capsys).splitlines()
    assert lines[0] == "E [bw]: passed"
    assert "0.07x what the library measures" in lines[1]


def test_measured_reads_the_reference_again_after_a_miss(capsys):
    readings = iter([100e9, 40e9])  # a busy moment, then a normal reading
    calls = []

    def reference():
        calls.append(1)
        return next(readings)

    check.measured("E [bw]", lambda: mark(30e9), reference, low=0.5, high=2)
    assert said(capsys) == "E [bw]: passed" and len(calls) == 2


def test_measured_wrong_answer_misses_every_reading(capsys):
    calls = []

    def reference():
        calls.append(1)
        return 40e9

    check.measured("E [bw]", lambda: mark(4e9), reference, low=0.5, high=2, hint="use .best")
    assert len(calls) == check.MEASURED_TRIES
    assert said(capsys) == ("E [bw]: not yet - your value is 0.10x, 0.10x, 0.10x what the "
                            "library measures now (allowed 0.5x to 2x); use .best")


def test_measured_says_when_the_machine_is_busy(capsys):
    readings = iter([10e9, 20e9, 40e9])  # 4x apart: something else is running
    check.measured("E [bw]", lambda: mark(100e9), lambda: next(readings), low=0.5, high=2)
    out = said(capsys)
    assert "10.00x, 5.00x, 2.50x" in out and "varied 4.0x, so this machine is busy" in out


def test_measured_bounds_are_validated():
    with pytest.raises(ValueError, match="low <= 1 <= high"):
        check.measured("E", lambda: 1, lambda: 1, low=2, high=3)


def test_true_and_choice(capsys):
    check.true("E [q]", lambda: True)
    check.true("E [q]", lambda: "yes")
    check.choice("E [c]", lambda: " Memory ", "memory", ["memory", "compute"])
    check.choice("E [c]", lambda: "compute", "memory", ["memory", "compute"])
    lines = said(capsys).splitlines()
    assert lines[0] == "E [q]: passed" and lines[2] == "E [c]: passed"
    assert lines[1] == "E [q]: not yet - answer True or False, not 'yes'"
    assert lines[3] == "E [c]: not yet - not this one"


def test_a_broken_answer_never_crashes(capsys):
    assert check.exact("E [z]", lambda: 1 / 0, 1) is None
    assert "could not be checked (ZeroDivisionError" in said(capsys)
    check.close("E [z]", lambda: "12", 12.0)
    assert "expected a number" in said(capsys)


def test_true_accepts_numpy_bools_from_comparisons(capsys):
    check.true("E [q]", lambda: np.float64(3.0) > 2.0)  # a numpy comparison: np.True_
    check.true("E [q]", lambda: np.False_, hint="compare the two times")
    assert said(capsys).splitlines() == ["E [q]: passed", "E [q]: not yet - compare the two times"]


def test_a_failing_reference_is_not_blamed_on_the_answer(capsys):
    def reference():
        raise ValueError("bandwidth needs 96 GiB, but at most 4 GiB may be used")

    check.measured("E [bw]", lambda: mark(30e9), reference)
    assert said(capsys) == (
        "E [bw]: not yet - the library could not measure its reference on this machine "
        "(ValueError('bandwidth needs 96 GiB, but at most 4 GiB may be used')), so your answer "
        "was not judged: close other programs and run the cell again")


def test_a_zero_reference_reading_is_the_machine_s_problem(capsys):
    check.measured("E [bw]", lambda: mark(30e9), lambda: 0.0)
    out = said(capsys)
    assert "could not measure its reference on this machine (it read 0.0)" in out
    assert "could not be checked" not in out


def test_measured_judges_a_value_of_zero_or_less_without_measuring(capsys):
    calls = []
    check.measured("E [bw]", lambda: -5.0, lambda: calls.append(1) or 40e9, hint="use .best")
    assert calls == []  # the reference (seconds of measuring) is not run for a hopeless answer
    assert said(capsys) == "E [bw]: not yet - a measured value is above 0, got -5; use .best"


def test_a_typed_in_number_is_not_a_measurement(capsys):
    calls = []
    provenance.forget()
    check.measured("E [bw]", lambda: 20e9, lambda: calls.append(1) or 20e9)
    assert calls == []  # judged without measuring
    assert said(capsys) == f"E [bw]: not yet - {check.NOT_MEASURED}"


def test_arithmetic_on_a_measured_value_stays_measured(capsys):
    seconds = mark(0.5)
    check.measured("E [bw]", lambda: 10_000_000_000 / seconds, lambda: 20e9)
    check.measured("E [r]", lambda: mark(2.0) / mark(4.0) * 3, lambda: 1.5)
    assert said(capsys).splitlines() == ["E [bw]: passed", "E [r]: passed"]


def test_a_copied_prediction_fails_even_when_it_carries_a_measured_bandwidth(capsys):
    predicted = mark(40e9) / 1_000_000  # a prediction built on a measured bandwidth
    check.measured("E [t]", lambda: predicted, lambda: 40_000.0, prediction=lambda: predicted)
    assert said(capsys) == f"E [t]: not yet - {check.COPIED_PREDICTION}"


def test_after_a_miss_both_sides_are_measured_again_side_by_side(capsys):
    # the student's first reading came at a busy moment; their measurement run again agrees
    order = []
    mine = iter([40e9, 41e9])
    references = iter([40e9, 40e9, 40e9])

    def again():
        order.append("mine")
        return mark(next(mine))

    def reference():
        order.append("reference")
        return next(references)

    check.measured("E [bw]", lambda: mark(10e9), reference, again=again)
    assert said(capsys) == "E [bw]: passed"
    assert order[:3] == ["reference", "mine", "reference"]  # alternating, first reading first


def test_a_check_prints_its_one_line_even_when_the_measurements_print(capsys):
    # the student's function and the reference print their readings; the check stays one line
    def again():
        print("    4 KiB: 1.2 ns")
        return mark(40e9)

    def reference():
        print("reference reading")
        return 40e9

    check.measured("E [bw]", lambda: mark(10e9), reference, again=again,
                   prediction=lambda: print("predicted") or 1.0)
    assert said(capsys) == "E [bw]: passed"


def test_a_wrong_method_misses_even_when_measured_again(capsys):
    check.measured("E [bw]", lambda: mark(10e9), lambda: 40e9, again=lambda: mark(10e9))
    out = said(capsys)
    assert "0.25x, 0.25x, 0.25x" in out and "run again beside each reading" in out


def test_sealed_expected_values_open_in_the_check_only(capsys):
    token = check.seal("mqa")
    assert "mqa" not in token
    check.choice("E [c]", lambda: "MQA", check.sealed(token), ["mha", "mqa"])
    check.exact("E [n]", lambda: 7, check.sealed(check.seal(8)))
    check.close("E [x]", lambda: 2.5, check.sealed(check.seal(2.5)))
    assert said(capsys).splitlines() == [
        "E [c]: passed", "E [n]: not yet - 7 is too small", "E [x]: passed"]


def test_verdicts_are_recorded_as_json_lines(tmp_path, monkeypatch, capsys):
    import json

    record = tmp_path / "record.jsonl"
    monkeypatch.setenv(check.RECORD_ENV, str(record))
    check.exact("Exercise 1 [a]", lambda: 1, 1)
    check.exact("Exercise 2 [b]", stub, 1)
    check.exact("Exercise 3 [c]", lambda: 2, 1, hint="h")
    lines = [json.loads(text) for text in record.read_text().splitlines()]
    assert lines == [
        {"label": "Exercise 1 [a]", "status": "passed", "hint": ""},
        {"label": "Exercise 2 [b]", "status": "not done yet", "hint": ""},
        {"label": "Exercise 3 [c]", "status": "not yet", "hint": "2 is too large; h"},
    ]
