import types
import warnings

import numpy as np
import pytest

from memwall_lab import timing
from memwall_lab.timing import (
    NoisyMachineWarning,
    Samples,
    check_choice,
    check_count,
    check_positive,
    time_call,
)
from memwall_lab.units import format_bytes, format_rate, format_seconds


def test_samples_statistics_by_hand():
    samples = Samples((0.4, 0.1, 0.2, 0.3, 0.2))
    assert samples.best == 0.1
    assert samples.median == 0.2
    assert samples.spread == pytest.approx(1.0)  # (0.2 - 0.1) / 0.1


def _fake_clock(monkeypatch, durations_ns, start_ns=1_000_000_000):
    """Make timing's perf_counter_ns tick in (start, stop) pairs `durations_ns` apart.

    The clock fails if read more often than 2 x len(durations_ns) times."""
    ticks = []
    for k, duration in enumerate(durations_ns):
        start = start_ns + 10**9 * k
        ticks += [start, start + duration]
    ticks = iter(ticks)
    monkeypatch.setattr(timing, "time", types.SimpleNamespace(perf_counter_ns=lambda: next(ticks)))
    return ticks


def test_time_call_turns_clock_ticks_into_seconds(monkeypatch):
    ticks = _fake_clock(monkeypatch, [20_000_000, 7_000, 1_500_000_000])
    calls = []
    samples = time_call(lambda: calls.append(1), repeats=3, warmup=2, warn=False)
    # Each repeat is stop - start in ns x 1e-9: 20 ms, 7 us, 1.5 s.
    assert samples.seconds == pytest.approx((0.02, 7e-6, 1.5), rel=1e-15, abs=0)
    assert len(calls) == 5  # 2 warm-ups + 3 repeats
    assert next(ticks, None) is None  # the clock was read exactly twice per repeat, not warm-ups


def test_time_call_runs_warmup_untimed():
    calls = []
    samples = time_call(lambda: calls.append(1), repeats=4, warmup=2, warn=False)
    assert len(calls) == 6
    assert len(samples.seconds) == 4


def _noisy_warnings(monkeypatch, durations_ns, **options):
    _fake_clock(monkeypatch, durations_ns)
    monkeypatch.setattr(timing, "_noticed_cells", set())  # a new process, as far as it knows
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        time_call(lambda: None, warmup=0, **options)
    return [str(w.message) for w in caught if issubclass(w.category, NoisyMachineWarning)]


BEST_NS = 4_000_000  # 4 ms: here (5 ms - 4 ms) / 4 ms is exactly 0.25 in floating point too


def test_noisy_timings_warn_above_the_threshold(monkeypatch):
    assert timing.NOISY_SPREAD == 0.25
    # best 4 ms, median 4 ms x (1 + 0.25) + 40 us = 5.04 ms: spread 0.26 > 0.25.
    median_ns = round(BEST_NS * (1 + timing.NOISY_SPREAD)) + 40_000
    messages = _noisy_warnings(monkeypatch, [median_ns, BEST_NS, 9_000_000], repeats=3)
    assert len(messages) == 1 and messages[0].startswith("timings varied by 26% between")


@pytest.mark.parametrize("extra_ns", [0, -40_000])  # spread exactly 0.25, and 0.24
def test_timings_at_or_below_the_threshold_do_not_warn(monkeypatch, extra_ns):
    median_ns = round(BEST_NS * (1 + timing.NOISY_SPREAD)) + extra_ns
    assert _noisy_warnings(monkeypatch, [median_ns, BEST_NS, 9_000_000], repeats=3) == []


def test_fewer_than_three_repeats_or_warn_false_never_warn(monkeypatch):
    # best 1 ms, the other 100 ms: a spread of 49.5 (median of two: 50.5 ms) is not judged
    # from one or two repeats; time_call only warns from 3 repeats on (its code, not its
    # docstring, says so).
    assert _noisy_warnings(monkeypatch, [1_000_000, 100_000_000], repeats=2) == []
    assert _noisy_warnings(monkeypatch, [100_000_000], repeats=1) == []
    noisy = [1_000_000, 100_000_000, 100_000_000]
    assert _noisy_warnings(monkeypatch, noisy, repeats=3, warn=False) == []
    assert len(_noisy_warnings(monkeypatch, noisy, repeats=3)) == 1  # the same, judged


@pytest.mark.parametrize("value", [0, -1, 1.5, "3", True, None])
def test_bad_repeats_raise(value):
    with pytest.raises(ValueError, match="repeats must be an integer"):
        time_call(lambda: None, repeats=value)


def test_not_callable_raises():
    with pytest.raises(ValueError, match="callable"):
        time_call(42)


def test_check_count_range_message():
    with pytest.raises(ValueError, match="between 1 and 4"):
        check_count("threads", 9, 1, 4)
    assert check_count("threads", 4, 1, 4) == 4


def test_check_count_accepts_numpy_integers_and_returns_an_int():
    count = check_count("size_bytes", np.int64(16384), 4096)
    assert count == 16384 and type(count) is int
    assert type(check_count("threads", np.uint8(2), 1, 4)) is int
    with pytest.raises(ValueError, match="between 1 and 4, got 9"):
        check_count("threads", np.int64(9), 1, 4)
    with pytest.raises(ValueError, match="must be an integer"):
        check_count("threads", np.True_, 1, 4)  # a numpy bool is not a count


def test_check_count_wrong_type_message_states_the_whole_range():
    with pytest.raises(ValueError, match=r"threads must be an integer between 1 and 4, got 1\.5"):
        check_count("threads", 1.5, 1, 4)


def test_check_positive_accepts_numpy_reals_and_returns_a_float():
    value = check_positive("peak", np.float32(0.5))
    assert value == 0.5 and type(value) is float
    assert check_positive("bandwidth", np.int64(3)) == 3.0


@pytest.mark.parametrize("value", [10**400, -(10**400), np.float64("nan"), np.True_, "1"])
def test_check_positive_rejects_huge_ints_and_non_numbers_with_value_error(value):
    with pytest.raises(ValueError, match="positive finite number"):
        check_positive("peak", value)


def test_check_choice_suggests_the_closest_name_and_lists_all():
    assert check_choice("cache", "warm", ("warm", "cold")) == "warm"
    with pytest.raises(ValueError, match=r"warm, cold; got 'wram' \(did you mean 'warm'\?\)"):
        check_choice("cache", "wram", ("warm", "cold"))
    with pytest.raises(ValueError, match=r"got 'xyz'$"):  # nothing close: no guess
        check_choice("cache", "xyz", ("warm", "cold"))


# ---------------------------------------------------------------- units.py (formatting)


def test_format_docstring_examples():
    assert format_bytes(33554432) == "32 MiB"  # 32 x 1024**2
    assert format_rate(1.2e10, "B/s") == "12 GB/s"
    assert format_seconds(8.5e-8) == "85 ns"


def test_format_just_below_a_unit_boundary_moves_up_a_unit():
    assert format_rate(999.6e9, "B/s") == "1 TB/s"  # 999.6 GB/s rounds to 1000 at 3 digits
    assert format_rate(999.4e9, "B/s") == "999 GB/s"  # ordinary values print as before
    assert format_bytes(1048575) == "1.0 MiB"  # 1048575 / 1024 = 1023.999 KiB rounds to 1024.0
    assert format_bytes(1536) == "1.5 KiB"
    assert format_seconds(0.9996) == "1 s"  # 999.6 ms rounds to 1000 at 3 digits
    assert format_seconds(0.9994) == "999 ms"


def test_format_non_finite_values_read_plainly():
    assert format_bytes(float("nan")) == "nan B"
    assert format_bytes(float("inf")) == "inf B"
    assert format_rate(float("nan"), "B/s") == "nan B/s"
    assert format_seconds(float("-inf")) == "-inf s"


class FakeShell:
    """Stands in for IPython's shell: its execution_count is the running cell's number."""

    def __init__(self):
        self.execution_count = 1


@pytest.fixture
def notebook_cell(monkeypatch):
    shell = FakeShell()
    monkeypatch.setitem(__import__("sys").modules, "IPython",
                        types.SimpleNamespace(get_ipython=lambda: shell))
    monkeypatch.setattr(timing, "_noticed_cells", set())
    return shell


def test_a_notebook_cell_says_a_busy_machine_once_however_many_timings_it_runs(
        notebook_cell, capsys):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for spread in (0.4, 0.9, 0.3):  # three noisy timings in one cell
            timing.notice_spread(spread)
        timing.notice_spread(0.1)  # a quiet one says nothing
    lines = capsys.readouterr().err.splitlines()
    assert caught == [] and len(lines) == 1
    assert lines[0].startswith("note: timings varied by 40% between best and median")
    assert lines[0].endswith("said once for this cell")
    notebook_cell.execution_count = 2  # the next cell says it again, once
    timing.notice_spread(0.5)
    timing.notice_spread(0.5)
    assert len(capsys.readouterr().err.splitlines()) == 1


def test_quiet_notices_hides_the_note_inside_a_check(notebook_cell, capsys):
    with timing.quiet_notices():
        timing.notice_spread(0.9)
    assert capsys.readouterr().err == ""
    timing.notice_spread(0.9)  # outside the block the cell still hears it
    assert capsys.readouterr().err.count("note:") == 1


def test_measurements_report_their_spread_even_when_timed_without_warnings(
        notebook_cell, capsys):
    from memwall_lab.measure import Measurement

    result = Measurement("bandwidth", "copy", "B/s", (10e9, 5e9, 5e9), 1024, 1)
    assert result.spread == pytest.approx(0.5)  # best 10, median 5
    assert "copy bandwidth readings varied by 50%" in capsys.readouterr().err


def test_interleave_alternates_sides_and_keeps_the_best_of_each():
    order = []
    first_readings = iter([10.0, 30.0, 29.0, 29.5])
    second_readings = iter([20.0, 21.0, 20.5, 20.6])

    def first():
        order.append("A")
        return next(first_readings)

    def second():
        order.append("B")
        return next(second_readings)

    result = timing.interleave(first, second, rounds=2, max_rounds=4)
    assert order[:4] == ["A", "B", "B", "A"]  # A B, then B A: drift hits both alike
    assert result.best_first == 30.0 and result.best_second == 21.0
    assert result.ratio == pytest.approx(30 / 21)
    # round 3 improved neither best by more than 2 %: it stopped there, settled
    assert len(result.first) == 3 and len(result.second) == 3


def test_interleave_of_times_keeps_the_shortest():
    times = iter([3.0, 2.0, 1.0, 4.0])  # A=3, B=2, then B=1, A=4
    result = timing.interleave(lambda: next(times), lambda: next(times), rounds=2,
                               max_rounds=2, higher_is_better=False)
    assert result.first == (3.0, 4.0) and result.second == (2.0, 1.0)
    assert (result.best_first, result.best_second) == (3.0, 1.0)


def test_interleave_stops_at_its_time_budget(monkeypatch):
    clock = iter(range(0, 1000, 100))  # each reading of the clock is 100 s later
    monkeypatch.setattr(timing, "time", types.SimpleNamespace(perf_counter=lambda: next(clock)))
    values = iter(float(n) for n in range(1, 100))  # always improving: never settles
    result = timing.interleave(lambda: next(values), lambda: next(values), rounds=1,
                               max_rounds=50, budget_s=50)
    assert len(result.first) == 1


def test_best_and_median_are_marked_as_measured():
    from memwall_lab import provenance

    samples = Samples((0.4, 0.1, 0.2))
    assert isinstance(samples.best, provenance.Measured)
    assert provenance.is_measured(1_000_000 / samples.best)


def test_outside_a_notebook_a_process_says_a_busy_machine_once(monkeypatch):
    monkeypatch.setattr(timing, "_noticed_cells", set())
    monkeypatch.setattr(timing, "_running_cell", lambda: None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for spread in (0.5, 0.7, 0.9):
            timing.notice_spread(spread)
    assert [str(w.message)[:27] for w in caught] == ["timings varied by 50% betwe"]
