import json
import os
import subprocess
import sys
import time

import pytest

from memwall_lab import machine_state

# /proc/stat's cpu lines: user nice system idle iowait irq softirq steal guest guest_nice.
HEADER = "intr 1 2 3\nctxt 42\n"


def proc_stat(per_cpu: list[tuple[int, ...]]) -> str:
    """A /proc/stat with an all-CPU line and one line per CPU (8 columns each, in ticks)."""
    total = tuple(map(sum, zip(*per_cpu)))
    lines = [f"cpu  {' '.join(map(str, total))} 0 0"]
    lines += [f"cpu{i} {' '.join(map(str, ticks))} 0 0" for i, ticks in enumerate(per_cpu)]
    return "\n".join(lines) + "\n" + HEADER


def fake_readings(monkeypatch, before, after, own_seconds=(0.0, 0.0), usable=2,
                  cpu_ids=None, spread=0.02, load=0.5, ticks_per_s=100):
    """Make assess read `before` then `after` as /proc/stat, this process's CPU seconds
    `own_seconds`, and the given calibration spread and load average; no waiting."""
    texts, own = iter([before, after]), iter(own_seconds)
    monkeypatch.setattr(machine_state, "_read_proc_stat", lambda: next(texts))
    monkeypatch.setattr(machine_state, "_own_cpu_seconds", lambda: next(own))
    monkeypatch.setattr(machine_state.machine, "usable_cpus", lambda: usable)
    monkeypatch.setattr(machine_state, "_cpu_ids", lambda: cpu_ids)
    monkeypatch.setattr(machine_state, "_calibration_spread", lambda: spread)
    monkeypatch.setattr(machine_state, "_load_average", lambda: load)
    monkeypatch.setattr(machine_state.os, "sysconf", lambda name: ticks_per_s)
    monkeypatch.setattr(machine_state.time, "sleep", lambda seconds: None)


def idle(ticks=0):
    return (0, 0, 0, ticks, 0, 0, 0, 0)


def test_a_quiet_machine(monkeypatch):
    # 2 CPUs, 30 ticks each (0.3 s at 100 ticks/s): 3 busy ticks in all = 0.1 CPU.
    fake_readings(monkeypatch, proc_stat([idle(), idle()]),
                  proc_stat([(2, 0, 1, 27, 0, 0, 0, 0), idle(30)]))
    state = machine_state.assess()
    assert state.verdict == machine_state.QUIET
    assert state.other_cpus_busy == pytest.approx(0.1)
    assert state.steal_fraction == 0.0 and state.load_per_cpu == 0.25
    assert state.line() == ("machine state: quiet - other programs use 0.1 of 2 CPUs; "
                            "timings should repeat within a few %")


def test_this_process_own_cpu_time_is_not_counted_as_others(monkeypatch):
    # 60 busy ticks on 2 CPUs in 30 ticks each = 2 CPUs busy; this process used 0.3 s of
    # CPU = 1 CPU over the window, so others kept 1 CPU busy.
    fake_readings(monkeypatch, proc_stat([idle(), idle()]),
                  proc_stat([(30, 0, 0, 0, 0, 0, 0, 0), (25, 0, 5, 0, 0, 0, 0, 0)]),
                  own_seconds=(10.0, 10.3))
    state = machine_state.assess()
    assert state.other_cpus_busy == pytest.approx(1.0)
    assert state.verdict == machine_state.BUSY


def test_a_busy_machine_says_why_and_what_lessons_do(monkeypatch):
    # 54 of 60 ticks busy: 1.8 of 2 CPUs.
    fake_readings(monkeypatch, proc_stat([idle(), idle()]),
                  proc_stat([(24, 0, 3, 3, 0, 0, 0, 0), (27, 0, 0, 3, 0, 0, 0, 0)]))
    state = machine_state.assess()
    assert state.verdict == machine_state.BUSY
    assert state.line() == (
        "machine state: busy - other programs use 1.8 of 2 CPUs; timings will vary, so "
        "lessons use the best repeat and compare ratios measured side by side")


def test_others_using_the_whole_share_is_too_busy_to_measure(monkeypatch):
    fake_readings(monkeypatch, proc_stat([idle(), idle()]),
                  proc_stat([(30, 0, 0, 0, 0, 0, 0, 0), (29, 0, 1, 0, 0, 0, 0, 0)]))
    state = machine_state.assess()
    assert state.verdict == machine_state.TOO_BUSY
    assert state.other_cpus_busy == pytest.approx(2.0)
    assert state.line().startswith("machine state: too busy to measure - other programs use "
                                   "2.0 of 2 CPUs; close other programs")


def test_only_the_cpus_this_process_may_use_count(monkeypatch):
    # CPU 1 is saturated, but this process is pinned to CPU 0, which is idle.
    fake_readings(monkeypatch, proc_stat([idle(), idle()]),
                  proc_stat([idle(30), (30, 0, 0, 0, 0, 0, 0, 0)]), usable=1, cpu_ids={0})
    state = machine_state.assess()
    assert state.other_cpus_busy == 0.0 and state.verdict == machine_state.QUIET
    assert state.reasons[0] == "other programs use 0.0 of 1 CPU"


def test_a_quota_scales_the_hosts_use_to_the_share(monkeypatch):
    # 4 CPUs, half of their ticks busy; a quota of 2: others take 1 CPU of the share.
    busy_half = (15, 0, 0, 15, 0, 0, 0, 0)
    fake_readings(monkeypatch, proc_stat([idle()] * 4), proc_stat([busy_half] * 4), usable=2,
                  cpu_ids={0, 1, 2, 3})
    assert machine_state.assess().other_cpus_busy == pytest.approx(1.0)


@pytest.mark.parametrize("steal_ticks, verdict", [(1, "quiet"), (6, "busy"),
                                                  (20, "too busy to measure")])
def test_steal_time_from_a_hypervisor(monkeypatch, steal_ticks, verdict):
    # 2 CPUs x 40 ticks; steal_ticks of the 80 went to other virtual machines.
    fake_readings(monkeypatch, proc_stat([idle(), idle()]), proc_stat(
        [(0, 0, 0, 40 - steal_ticks, 0, 0, 0, steal_ticks), idle(40)]))
    state = machine_state.assess()
    assert state.steal_fraction == pytest.approx(steal_ticks / 80)
    assert state.verdict == verdict


@pytest.mark.parametrize("spread, verdict", [(0.05, "quiet"), (0.3, "busy"),
                                             (1.5, "too busy to measure")])
def test_a_noisy_calibration_alone_sets_the_verdict(monkeypatch, spread, verdict):
    fake_readings(monkeypatch, proc_stat([idle(), idle()]), proc_stat([idle(30), idle(30)]),
                  spread=spread)
    state = machine_state.assess()
    assert state.verdict == verdict
    if verdict != "quiet":
        assert state.reasons[0] == f"a fixed copy's timings varied by {spread:.0%} (median " \
                                   "over best)"


def test_without_proc_stat_the_load_average_decides_and_unknowns_get_reasons(monkeypatch):
    # macOS: no /proc/stat; a load of 5 on 2 CPUs is 2.5 runnable threads per CPU.
    fake_readings(monkeypatch, None, None, load=5.0)
    state = machine_state.assess()
    assert state.other_cpus_busy is None and state.steal_fraction is None
    assert state.load_per_cpu == 2.5 and state.verdict == machine_state.BUSY
    assert any(r.startswith("other programs' CPU use and steal: not reported") for r in
               state.reasons)
    fake_readings(monkeypatch, None, None, load=None)  # Windows: no load average either
    state = machine_state.assess()
    assert state.verdict == machine_state.QUIET and state.load_per_cpu is None
    assert "load average: not reported by the OS" in state.reasons


def test_garbage_and_failures_are_reasons_not_crashes(monkeypatch):
    fake_readings(monkeypatch, "cpu  x y z w\n\ncpu0 1 2\n", "", usable=1)

    def broken():
        raise MemoryError("no room for the calibration copy")

    monkeypatch.setattr(machine_state, "_calibration_spread", broken)
    monkeypatch.setattr(machine_state.machine, "usable_cpus", lambda: 1 / 0)
    state = machine_state.assess()
    assert state.verdict in machine_state.VERDICTS and state.calibration_spread is None
    assert any("calibration copy failed" in reason for reason in state.reasons)
    assert any(reason.startswith("usable CPUs:") for reason in state.reasons)


def test_as_dict_is_json_and_reads_back(monkeypatch):
    fake_readings(monkeypatch, proc_stat([idle(), idle()]),
                  proc_stat([(24, 0, 3, 3, 0, 0, 0, 0), (27, 0, 0, 3, 0, 0, 0, 0)]))
    state = machine_state.assess()
    data = json.loads(json.dumps(state.as_dict()))
    assert set(data) == {"verdict", "usable_cpus", "other_cpus_busy", "load_per_cpu",
                         "steal_fraction", "calibration_spread", "reasons"}
    assert machine_state.MachineState.from_dict(data) == state
    with pytest.raises(ValueError, match="not a machine state"):
        machine_state.MachineState.from_dict({"verdict": "sleepy"})


def test_cpu_ticks_reads_the_kernels_columns():
    text = "cpu  10 1 5 100 7 2 3 4 9 0\ncpu0 10 1 5 100 7 2 3 4 9 0\n"
    # busy = user 10 + nice 1 + system 5 + irq 2 + softirq 3; total = first 8 columns
    assert machine_state.cpu_ticks(text, None) == (21, 4, 132, os.cpu_count() or 1)
    assert machine_state.cpu_ticks(text, {0}) == (21, 4, 132, 1)
    assert machine_state.cpu_ticks(text, {5}) is None


def test_a_real_assessment_is_quick_and_valid(capsys):
    started = time.perf_counter()
    state = machine_state.assess(calibration_s=0.3)
    assert time.perf_counter() - started < 2.0
    assert state.verdict in machine_state.VERDICTS and state.usable_cpus >= 1
    assert machine_state.show(calibration_s=0.05) is None
    printed = capsys.readouterr().out
    assert printed.count("\n") == 1 and printed.startswith("machine state: ")
    if sys.platform.startswith("linux"):
        assert state.other_cpus_busy is not None and state.other_cpus_busy >= 0
        assert 0 <= state.steal_fraction <= 1


BURN_CPU = "import time\nend = time.monotonic() + 5\nwhile time.monotonic() < end:\n    pass\n"


@pytest.mark.skipif(not os.path.exists("/proc/stat"), reason="reads /proc/stat")
def test_two_cpu_bound_programs_make_the_machine_busy():
    usable = machine_state.machine.usable_cpus()
    if usable > 2:
        pytest.skip("two CPU-bound programs only fill a share of 2 CPUs or fewer")
    burners = [subprocess.Popen([sys.executable, "-c", BURN_CPU]) for _ in range(2)]
    try:
        time.sleep(0.3)  # both started and spinning
        state = machine_state.assess(calibration_s=0.5)
    finally:
        for burner in burners:
            burner.kill()
            burner.wait()
    assert state.verdict != machine_state.QUIET, state
    assert state.other_cpus_busy >= 1, state
