import time
import warnings

import pytest

from memwall_lab.timing import NoisyMachineWarning, Samples, check_count, time_call


def test_samples_statistics_by_hand():
    samples = Samples((0.4, 0.1, 0.2, 0.3, 0.2))
    assert samples.best == 0.1
    assert samples.median == 0.2
    assert samples.spread == pytest.approx(1.0)  # (0.2 - 0.1) / 0.1


def test_time_call_against_a_known_sleep():
    samples = time_call(lambda: time.sleep(0.02), repeats=3, warmup=0, warn=False)
    assert len(samples.seconds) == 3
    # A sleep never returns early; 0.5 s bounds any scheduler hiccup on a busy machine.
    assert all(0.02 <= s < 0.5 for s in samples.seconds)


def test_time_call_runs_warmup_untimed():
    calls = []
    samples = time_call(lambda: calls.append(1), repeats=4, warmup=2, warn=False)
    assert len(calls) == 6
    assert len(samples.seconds) == 4


def test_noisy_timings_warn():
    durations = iter([0.0, 0.001, 0.03, 0.03])

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        time_call(lambda: time.sleep(next(durations)), repeats=3, warmup=1)
    assert any(issubclass(w.category, NoisyMachineWarning) for w in caught)


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
