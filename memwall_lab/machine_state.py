"""Is this machine quiet enough to measure? One quick reading, said in one line (introduced
in lesson 00; `show()` opens every measuring lesson).

`assess` reads, over a short window (`calibration_s`, 0.3 s by default):

- other programs' CPU use, in CPUs: the busy time in /proc/stat of the CPUs this process
  may run on, less this process's own CPU time (`os.times`), scaled to the usable share
  (`machine.usable_cpus`) where a quota lets this process use only part of those CPUs;
- the 1-minute load average per usable CPU (`os.getloadavg`; on Linux in a container it
  counts the whole host, so it only decides where /proc/stat cannot be read);
- the steal fraction: CPU time a hypervisor gave to other virtual machines (/proc/stat);
- the spread of a calibration: one fixed 1 MiB numpy copy timed 20 times back to back,
  (median - best) / best, as `timing.Samples.spread` computes it.

CPU use and load are in CPUs, fractions are 0-1 (0.1 = 10 %). A reading the OS does not
give is None, and `reasons` says why; `assess` never raises.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass
from functools import partial

import numpy as np

from memwall_lab import machine, timing

QUIET, BUSY, TOO_BUSY = "quiet", "busy", "too busy to measure"
VERDICTS = (QUIET, BUSY, TOO_BUSY)

# Busy: an all-core run puts a thread on every usable CPU, so another program using half a
# CPU takes one thread's CPU half the time. Too busy: others use the whole share (at least
# one CPU), so every thread shares its CPU and a timing measures the other programs.
BUSY_OTHER_CPUS = 0.5
TOO_BUSY_OTHER_SHARE = 1.0  # x usable CPUs
# A fixed in-cache copy should repeat within a few %; 15 % is noise a lesson's ratios see,
# and a median twice the best means nothing measured now repeats.
BUSY_SPREAD = 0.15
TOO_BUSY_SPREAD = 1.0
# Cloud guides treat steady steal above ~5 % as a noisy neighbour; at 25 % a quarter of
# every timing is another virtual machine's.
BUSY_STEAL = 0.05
TOO_BUSY_STEAL = 0.25
# Used only where /proc/stat is not read (macOS, BSD): more runnable threads than CPUs,
# this process included, over the last minute.
BUSY_LOAD_PER_CPU = 1.0

CALIBRATION_BYTES = 1024**2  # in cache on any machine: it times the CPU, not DRAM
CALIBRATION_REPEATS = 20
CALIBRATION_WARMUP = 3
ADVICE = {
    QUIET: "timings should repeat within a few %",
    BUSY: "timings will vary, so lessons use the best repeat and compare ratios measured "
          "side by side",
    TOO_BUSY: "close other programs (or wait) and rerun: timings now measure them, not "
              "this machine",
}
# /proc/stat's cpu columns (USER_HZ ticks): busy ones, and steal; the rest is idle or iowait.
_BUSY_COLUMNS = (0, 1, 2, 5, 6)  # user, nice, system, irq, softirq (guest is inside user)
_STEAL_COLUMN = 7


@dataclass(frozen=True)
class MachineState:
    """One reading of how busy this machine is; None where the OS does not say (see reasons)."""

    verdict: str  # QUIET, BUSY or TOO_BUSY
    usable_cpus: int | None
    other_cpus_busy: float | None  # CPUs other programs kept busy, out of usable_cpus
    load_per_cpu: float | None  # 1-minute load average / usable CPUs
    steal_fraction: float | None  # share of CPU time a hypervisor gave elsewhere, 0-1
    calibration_spread: float | None  # (median - best) / best of the calibration copies
    reasons: tuple[str, ...]  # what decided the verdict first, then every unknown

    def line(self) -> str:
        """The reading as one line, e.g. 'machine state: busy - other programs use 1.8 of
        2 CPUs; timings will vary, ...'."""
        found = f"{self.reasons[0]}; " if self.reasons else ""
        return f"machine state: {self.verdict} - {found}{ADVICE[self.verdict]}"

    def as_dict(self) -> dict:
        """Plain JSON-ready dict of every field (reasons as a list)."""
        return {**asdict(self), "reasons": list(self.reasons)}

    @classmethod
    def from_dict(cls, data: dict) -> MachineState:
        """The state `as_dict` wrote (e.g. read back from a report); ValueError if it is not."""
        if not isinstance(data, dict) or data.get("verdict") not in VERDICTS:
            raise ValueError(f"not a machine state: {data!r:.80}")
        reasons = data.get("reasons") or ()
        return cls(verdict=data["verdict"], usable_cpus=data.get("usable_cpus"),
                   other_cpus_busy=data.get("other_cpus_busy"),
                   load_per_cpu=data.get("load_per_cpu"),
                   steal_fraction=data.get("steal_fraction"),
                   calibration_spread=data.get("calibration_spread"),
                   reasons=tuple(str(reason) for reason in reasons))


def _read_proc_stat() -> str | None:
    try:
        with open("/proc/stat") as file:
            return file.read()
    except OSError:
        return None


def _cpu_ids() -> set[int] | None:
    """Ids of the CPUs this process may run on, or None where the OS will not say."""
    try:
        return set(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return None


def cpu_ticks(text: str, cpu_ids: set[int] | None) -> tuple[int, int, int, int] | None:
    """(busy, steal, total ticks, CPUs counted) summed over `cpu_ids` ('cpuN' lines of
    /proc/stat), or over the all-CPU 'cpu' line when `cpu_ids` is None; None if absent."""
    busy = steal = total = counted = 0
    for line in text.splitlines():
        name, *columns = line.split() or [""]
        number = name[3:]
        if not name.startswith("cpu") or len(columns) < 4 or not (number == "" or
                                                                  number.isdigit()):
            continue
        if (cpu_ids is None) != (number == "") or (number and int(number) not in cpu_ids):
            continue
        ticks = [int(value) for value in columns[:8]]
        busy += sum(ticks[i] for i in _BUSY_COLUMNS if i < len(ticks))
        steal += ticks[_STEAL_COLUMN] if len(ticks) > _STEAL_COLUMN else 0
        total += sum(ticks)
        counted += 1 if number else (os.cpu_count() or 1)
    return (busy, steal, total, counted) if counted else None


def _own_cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


def _calibration_spread() -> float:
    """(median - best) / best of CALIBRATION_REPEATS timed copies of CALIBRATION_BYTES."""
    source = np.ones(CALIBRATION_BYTES // 8)
    target = np.empty_like(source)
    return timing.time_call(partial(np.copyto, target, source), repeats=CALIBRATION_REPEATS,
                            warmup=CALIBRATION_WARMUP, warn=False).spread


def _load_average() -> float | None:
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return None


def _cpus(value: float) -> str:
    return f"{value:.1f}" if value < 10 else f"{value:.0f}"


def verdict_of(usable: int, other: float | None, load: float | None, steal: float | None,
               spread: float | None) -> tuple[str, list[str]]:
    """(verdict, the readings that decided it, worst first) from the thresholds above.

    "too busy to measure" where others use the whole usable share (1 CPU at least), steal
    reaches TOO_BUSY_STEAL or the calibration's median is twice its best; else "busy" where
    others use BUSY_OTHER_CPUS, steal reaches BUSY_STEAL or the spread passes BUSY_SPREAD
    (the median of 20 back-to-back copies moves with sustained contention, not with one
    preemption: /proc/stat is the main reading); else "quiet". The load average decides
    only where other programs' CPU use is unknown.
    """
    share = f"{usable} CPU{'s' if usable != 1 else ''}"
    too_busy, busy, calm = [], [], []
    if other is not None:
        text = f"other programs use {_cpus(other)} of {share}"
        if other >= max(TOO_BUSY_OTHER_SHARE * usable, 1.0):
            too_busy.append(text)
        elif other >= BUSY_OTHER_CPUS:
            busy.append(text)
        else:
            calm.append(text)
    elif load is not None:
        text = f"the load average is {load:.1f} per CPU (this process included)"
        (busy if load > BUSY_LOAD_PER_CPU else calm).append(text)
    if steal is not None:
        text = f"the hypervisor gave {steal:.0%} of CPU time to other machines (steal)"
        if steal >= TOO_BUSY_STEAL:
            too_busy.append(text)
        elif steal >= BUSY_STEAL:
            busy.append(text)
    if spread is not None:
        text = f"a fixed copy's timings varied by {spread:.0%} (median over best)"
        if spread >= TOO_BUSY_SPREAD:
            too_busy.append(text)
        elif spread > BUSY_SPREAD:
            busy.append(text)
        else:
            calm.append(text)
    verdict = TOO_BUSY if too_busy else BUSY if busy else QUIET
    return verdict, too_busy + busy + calm


def _cpu_reading() -> tuple[str | None, float]:
    """(/proc/stat's text or None, this process's CPU seconds so far), read together."""
    return _read_proc_stat(), _own_cpu_seconds()


def other_cpus(start: tuple[str | None, float], end: tuple[str | None, float], usable: int,
               cpu_ids: set[int] | None) -> tuple[float, float]:
    """(CPUs other programs kept busy out of `usable`, steal fraction) between two readings.

    Busy ticks of the CPUs counted, as CPUs, less this process's own CPU time; where a
    quota lets this process use `usable` of more CPUs, their use is scaled to that share
    (half of 64 CPUs busy is 1 of a 2-CPU share). ValueError where /proc/stat says nothing.
    """
    (start_text, start_own), (end_text, end_own) = start, end
    first = cpu_ticks(start_text or "", cpu_ids)
    last = cpu_ticks(end_text or "", cpu_ids)
    if not first or not last or last[2] <= first[2]:
        raise ValueError("not reported by the OS (no /proc/stat)")
    busy, stolen, total = (b - a for a, b in zip(first[:3], last[:3]))
    counted = last[3]
    window_ticks = total / counted  # ticks each counted CPU had in the window
    own_cpus = (end_own - start_own) * os.sysconf("SC_CLK_TCK") / window_ticks
    others_there = max(counted * busy / total - own_cpus, 0.0)
    return others_there * min(usable / counted, 1.0), stolen / total


def assess(calibration_s: float = 0.3) -> MachineState:
    """Read how busy this machine is over about `calibration_s` seconds; never raises."""
    unknown = []
    try:
        usable = machine.usable_cpus()
    except Exception as error:  # noqa: BLE001 - an unknown, not a crash
        usable = os.cpu_count() or 1
        unknown.append(f"usable CPUs: could not read the quota or affinity ({error})")
    cpu_ids = _cpu_ids()
    start = _cpu_reading()
    try:
        spread = _calibration_spread()
    except Exception as error:  # noqa: BLE001
        spread = None
        unknown.append(f"calibration spread: the calibration copy failed ({error})")
    time.sleep(max(float(calibration_s), 0.0))
    try:
        other, steal = other_cpus(start, _cpu_reading(), usable, cpu_ids)
    except Exception as error:  # noqa: BLE001
        other = steal = None
        unknown.append(f"other programs' CPU use and steal: {error}")
    load_average = _load_average()
    load = None if load_average is None else load_average / usable
    if load is None:
        unknown.append("load average: not reported by the OS")
    verdict, found = verdict_of(usable, other, load, steal, spread)
    return MachineState(verdict=verdict, usable_cpus=usable, other_cpus_busy=other,
                        load_per_cpu=load, steal_fraction=steal, calibration_spread=spread,
                        reasons=tuple(found + unknown))


def show(calibration_s: float = 0.3) -> None:
    """Assess this machine and print its one-line state (the top of each measuring lesson;
    returns nothing, so a cell ending in `show()` prints the line and no repr)."""
    print(assess(calibration_s).line())
