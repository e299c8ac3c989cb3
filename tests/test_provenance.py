"""Measured numbers keep their mark through arithmetic; typed numbers never get one."""

import numpy as np
import pytest

from memwall_lab import provenance
from memwall_lab.provenance import Measured, is_measured, mark


@pytest.fixture(autouse=True)
def empty_ledger():
    provenance.forget()
    yield
    provenance.forget()


def test_arithmetic_with_plain_numbers_keeps_the_mark():
    seconds = mark(0.25)
    for value in (3 / seconds, seconds / 3, seconds * 2, 2 * seconds, seconds + 1, 1 - seconds,
                  seconds**2, -seconds, abs(-seconds), sum([seconds, seconds]),
                  seconds * np.float64(2.0), 10_000 / seconds / mark(2.0)):
        assert isinstance(value, Measured), value
    assert 3 / seconds == 12.0  # and the value is an ordinary float's


def test_typed_numbers_and_predictions_from_sizes_are_not_measured():
    assert not is_measured(20e9)
    assert not is_measured(1_000_000 / 4_096)  # a ratio of byte counts
    assert not is_measured(True) and not is_measured("3.0") and not is_measured(float("nan"))


def test_numpy_drops_the_mark_but_the_ledger_remembers_values_and_ratios():
    long, short = mark(0.008), mark(0.002)
    assert is_measured(float(np.float64(long)))  # the same value, through numpy
    assert is_measured(np.float64(long) / np.float64(short))  # a ratio of two measured values
    assert not is_measured(np.float64(long) * 3.7)  # anything else is not


def test_remembered_sizes_count_as_measured():
    provenance.remember(32 * 1024**2)
    assert is_measured(32 * 1024**2)
    assert not is_measured(64 * 1024**2 + 1)


def test_arrays_are_left_to_numpy():
    result = mark(2.0) * np.ones(3)
    assert isinstance(result, np.ndarray) and result.tolist() == [2.0, 2.0, 2.0]
