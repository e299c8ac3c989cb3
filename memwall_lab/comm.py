"""Collectives and what they cost: the communication roofline (lesson 09).

A model split over many chips turns part of every step into messages. One message
of S bytes costs **α + S / β** (the α-β model): a fixed latency α, then the bytes
at the link's bandwidth β. Collectives are rounds of such messages among n devices:

- ring all-reduce: reduce-scatter then all-gather, 2(n - 1) rounds of S/n bytes:
  2(n - 1)/n · S/β + 2(n - 1)·α;
- all-gather or reduce-scatter alone: (n - 1)/n · S/β + (n - 1)·α;
- a pipelined tree all-reduce: 2·S/β + 2·ceil(log2 n)·α, fewer latencies for small
  messages (a library picks the cheaper of the two);
- all-to-all (expert parallelism): each device sends S/n to each of the n - 1 others.

The lesson measures all-reduce with a real MPI (mpi4py under ``mpiexec``): this
module is also the program that runs under it (``python -m memwall_lab.comm
allreduce --sizes 8,1024 --json``) and fits α and β to the times. Then it costs
tensor-parallel steps of real models on sourced links (``tensor_parallel_step``),
expert parallelism's all-to-alls and pipeline bubbles.

Sizes are bytes, times seconds, bandwidths bytes/s per direction; ``devices`` is n.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import inspect
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from memwall_lab import hardware, machine, measure, models, provenance
from memwall_lab.step import StepCost, StepTime
from memwall_lab.validate import check_choice, check_count, check_positive

# α of one round on a GPU link: a 2-GPU all-reduce of a small message (2 rounds) takes
# about 6 us on an H100 node (NVIDIA/nccl issue 1259). Spec sheets give no latency; the
# lesson uses this one value for every link.
GPU_ROUND_LATENCY_S = 3e-6
NO_MPI_LINE = ("no MPI found: run `pip install mpi4py mpich` (Linux, macOS) or `pip install "
               "mpi4py impi-rt` (Windows) in this Python's environment, then restart the kernel")
DEFAULT_TIMEOUT_S = 120.0
MAX_PROCESSES = 8  # more ranks on one machine only queue for the same memory
PHASES = ("decode", "prefill")


# ---------------------------------------------------------------- the α-β model


def message_seconds(size_bytes: float, latency_s: float, bandwidth_bytes_per_s: float) -> float:
    """One message in s: α + S / β."""
    return latency_s + size_bytes / bandwidth_bytes_per_s


def _rounds(devices: int) -> int:
    """n - 1: the rounds of a ring all-gather or reduce-scatter among ``devices``."""
    return check_count("devices", devices, 1) - 1


def ring_allreduce_seconds(size_bytes: float, devices: int, latency_s: float,
                           bandwidth_bytes_per_s: float) -> float:
    """Ring all-reduce in s: 2(n - 1)/n · S/β + 2(n - 1)·α (reduce-scatter, then all-gather)."""
    rounds = _rounds(devices)
    return 2 * rounds / devices * size_bytes / bandwidth_bytes_per_s + 2 * rounds * latency_s


def tree_allreduce_seconds(size_bytes: float, devices: int, latency_s: float,
                           bandwidth_bytes_per_s: float) -> float:
    """Pipelined tree all-reduce in s: 2·S/β + 2·ceil(log2 n)·α (0 on one device)."""
    if _rounds(devices) == 0:
        return 0.0
    depth = math.ceil(math.log2(devices))
    return 2 * size_bytes / bandwidth_bytes_per_s + 2 * depth * latency_s


def allreduce_seconds(size_bytes: float, devices: int, latency_s: float,
                      bandwidth_bytes_per_s: float) -> float:
    """All-reduce in s as a library runs it: the cheaper of the ring and the tree."""
    return min(ring_allreduce_seconds(size_bytes, devices, latency_s, bandwidth_bytes_per_s),
               tree_allreduce_seconds(size_bytes, devices, latency_s, bandwidth_bytes_per_s))


def allgather_seconds(size_bytes: float, devices: int, latency_s: float,
                      bandwidth_bytes_per_s: float) -> float:
    """Ring all-gather of an S-byte result in s: (n - 1)/n · S/β + (n - 1)·α."""
    rounds = _rounds(devices)
    return rounds / devices * size_bytes / bandwidth_bytes_per_s + rounds * latency_s


def reduce_scatter_seconds(size_bytes: float, devices: int, latency_s: float,
                           bandwidth_bytes_per_s: float) -> float:
    """Ring reduce-scatter of an S-byte input in s: (n - 1)/n · S/β + (n - 1)·α."""
    return allgather_seconds(size_bytes, devices, latency_s, bandwidth_bytes_per_s)


def alltoall_seconds(size_bytes: float, devices: int, latency_s: float,
                     bandwidth_bytes_per_s: float) -> float:
    """All-to-all in s, each device sending S/n of its S bytes to each other one directly:
    (n - 1)/n · S/β + (n - 1)·α (a switch that lets every device send at once)."""
    return allgather_seconds(size_bytes, devices, latency_s, bandwidth_bytes_per_s)


def bus_bandwidth_bytes_per_s(size_bytes: float, seconds: float, devices: int) -> float:
    """The link bandwidth an all-reduce's time implies (nccl-tests' "bus bandwidth"):
    2(n - 1)/n · S / t; it approaches β for large messages."""
    return 2 * _rounds(devices) / devices * size_bytes / check_positive("seconds", seconds)


def pipeline_bubble_fraction(stages: int, microbatches: int) -> float:
    """Share of a pipeline's time its stages sit idle (GPipe schedule): (p - 1)/(m + p - 1)."""
    stages, microbatches = check_count("stages", stages, 1), check_count("microbatches",
                                                                         microbatches, 1)
    return (stages - 1) / (microbatches + stages - 1)


# ---------------------------------------------------------------- fitting α and β


@dataclass(frozen=True)
class AlphaBeta:
    """A link's α-β model: latency in s per message (round), bandwidth in bytes/s."""

    latency_s: float
    bandwidth_bytes_per_s: float


def fit_line(sizes_bytes: Sequence[float], seconds: Sequence[float]) -> tuple[float, float]:
    """(a in s, b in s/byte) of t = a + b·S by least squares, each residual relative to t.

    Dividing each residual by its t weighs an 8-byte time as much as a 32 MB one;
    a plain fit would let the large sizes' noise set a (the small times) at random.
    """
    sizes, times = np.asarray(sizes_bytes, dtype=float), np.asarray(seconds, dtype=float)
    if sizes.shape != times.shape or sizes.size < 2:
        raise ValueError(f"need as many times as sizes, at least 2; got {sizes.size} sizes "
                         f"and {times.size} times")
    if np.unique(sizes).size < 2 or not np.all(times > 0):
        raise ValueError("need at least 2 different sizes and every time above 0")
    slope, intercept = np.polyfit(sizes, times, 1, w=1 / times)
    return float(intercept), float(slope)


def fit_allreduce(sizes_bytes: Sequence[float], seconds: Sequence[float],
                  devices: int) -> AlphaBeta:
    """α and β of the ring model fitted to all-reduce times: a = 2(n - 1)·α, b = 2(n - 1)/(n·β).

    Measured times give measured α and β (``provenance``).
    """
    rounds = _rounds(devices)
    if rounds == 0:
        raise ValueError("an all-reduce on one device sends nothing: fit with devices >= 2")
    intercept_s, seconds_per_byte = fit_line(sizes_bytes, seconds)
    if seconds_per_byte <= 0:
        raise ValueError("the times do not grow with the size: measure larger sizes")
    latency_s = intercept_s / (2 * rounds)
    bandwidth = 2 * rounds / (devices * seconds_per_byte)
    if all(provenance.is_measured(value) for value in seconds):
        latency_s, bandwidth = provenance.mark(latency_s), provenance.mark(bandwidth)
    return AlphaBeta(latency_s, bandwidth)


# ---------------------------------------------------------------- running MPI


class CommError(RuntimeError):
    """An MPI run that could not start, failed or ran out of time; the message says which."""


def find_mpiexec() -> str | None:
    """The mpiexec next to this Python (a venv's bin/ or Scripts/, or the Library/bin/ of
    Windows MPI wheels), else the first on PATH; None where there is none."""
    prefix = Path(sys.prefix)
    for folder in (Path(sys.executable).parent, prefix / "bin", prefix / "Scripts",
                   prefix / "Library" / "bin"):
        found = shutil.which("mpiexec", path=str(folder))
        if found:
            return found
    return shutil.which("mpiexec")


def mpi_problem() -> str | None:
    """Why MPI measurements cannot run here (one line), or None if they can."""
    if find_mpiexec() is None or importlib.util.find_spec("mpi4py") is None:
        return NO_MPI_LINE
    return None


def default_processes() -> int:
    """MPI ranks to start on this machine: its usable CPUs, at least 2, at most 8."""
    return max(2, min(machine.usable_cpus(), MAX_PROCESSES))


def default_sizes_bytes(processes: int = 2, quick: bool | None = None) -> list[int]:
    """Message sizes for an all-reduce sweep: 8 B to 32 MiB (2 MiB quick), capped by memory.

    Every rank holds two arrays of the largest size; all of them together stay within
    the course's memory budget.
    """
    sizes = [8 * 8**k for k in range(7)] if measure.quick_mode(quick) else [
        8 * 4**k for k in range(12)]
    budget = measure.memory_budget_bytes() // (2 * check_count("processes", processes, 1))
    return [size for size in sizes if size <= max(budget, 8)]


def _command(mpiexec: str, processes: int, arguments: list[str],
             hosts: Sequence[str] | None) -> list[str]:
    """mpiexec -n N [-hosts a,b] python -m memwall_lab.comm ARGUMENTS."""
    spread = ["-hosts", ",".join(hosts)] if hosts else []
    return [mpiexec, "-n", str(processes), *spread, sys.executable, "-m", "memwall_lab.comm",
            *arguments]


def allreduce_command(processes: int, sizes_bytes: Sequence[int], repeats: int,
                      hosts: Sequence[str] | None = None, mpiexec: str = "mpiexec") -> list[str]:
    """The command line that measures all-reduce, as a list (``hosts``: MPICH's -hosts a,b)."""
    arguments = ["allreduce", "--sizes", ",".join(str(int(size)) for size in sizes_bytes),
                 "--repeats", str(repeats), "--json"]
    return _command(mpiexec, processes, arguments, hosts)


def _environment() -> dict[str, str]:
    """This environment, with this package importable and one BLAS thread per rank."""
    environment = dict(os.environ)
    package_parent = str(Path(__file__).resolve().parent.parent)
    paths = [package_parent, *filter(None, [environment.get("PYTHONPATH")])]
    environment["PYTHONPATH"] = os.pathsep.join(paths)
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        environment[name] = "1"
    return environment


def _tail(text: str, lines: int = 6) -> str:
    """The last few lines of a program's output, on one line."""
    kept = [line.strip() for line in (text or "").strip().splitlines()[-lines:]]
    return " | ".join(line for line in kept if line) or "(no output)"


def _stop(process: subprocess.Popen) -> None:
    """Kill a launcher and every rank it started (its process group on POSIX)."""
    if os.name == "posix":
        with contextlib.suppress(ProcessLookupError):  # already gone
            os.killpg(process.pid, signal.SIGKILL)
    else:
        process.kill()


def run_mpi(command: list[str], timeout_s: float = DEFAULT_TIMEOUT_S) -> dict:
    """Run an MPI command and return the JSON its rank 0 printed; CommError saying why not.

    The launcher gets a process group of its own, so a run that hangs is stopped with
    every rank it started, not only the launcher.
    """
    timeout_s = check_positive("timeout_s", timeout_s)
    own_group = {"start_new_session": True} if os.name == "posix" else {}
    try:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   text=True, env=_environment(), **own_group)
    except OSError as error:
        raise CommError(f"mpiexec could not start ({error}): {NO_MPI_LINE}") from None
    try:
        stdout, stderr = process.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        _stop(process)
        stdout, stderr = process.communicate()
        raise CommError(f"mpiexec did not finish within {timeout_s:g} s (a rank may wait for "
                        f"another forever): {_tail(stderr)}") from None
    if process.returncode != 0:
        raise CommError(f"mpiexec failed (exit status {process.returncode}): "
                        f"{_tail(stderr + stdout)}")
    lines = [line for line in stdout.splitlines() if line.startswith("{")]
    try:
        return json.loads(lines[-1])
    except (IndexError, json.JSONDecodeError):
        raise CommError(f"mpiexec printed no result: {_tail(stdout)}") from None


@dataclass(frozen=True)
class AllreduceSweep:
    """All-reduce times over message sizes: per size, the best repeat of the slowest rank."""

    processes: int
    sizes_bytes: tuple[int, ...]
    seconds: tuple[float, ...]
    library: str
    hosts: tuple[str, ...]

    def fit(self) -> AlphaBeta:
        """α and β of the ring model fitted to these times (``fit_allreduce``)."""
        return fit_allreduce(self.sizes_bytes, self.seconds, self.processes)


def measure_allreduce(
    processes: int | None = None, sizes_bytes: Sequence[int] | None = None,
    repeats: int | None = None, hosts: Sequence[str] | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S, quick: bool | None = None,
) -> AllreduceSweep:
    """Time MPI_Allreduce of float64 arrays over ``sizes_bytes`` in ``processes`` MPI ranks.

    Each timed call follows a barrier; a call's time is its slowest rank's; the best
    of ``repeats`` is kept. CommError (its message says why) if MPI cannot run.
    """
    problem = mpi_problem()
    if problem:
        raise CommError(problem)
    processes = default_processes() if processes is None else check_count("processes",
                                                                          processes, 1)
    sizes = (default_sizes_bytes(processes, quick) if sizes_bytes is None
             else [check_count("size_bytes", size, 8) for size in sizes_bytes])
    repeats = (5 if measure.quick_mode(quick) else 20) if repeats is None else check_count(
        "repeats", repeats, 1)
    result = run_mpi(allreduce_command(processes, sizes, repeats, hosts, find_mpiexec()),
                     timeout_s)
    return AllreduceSweep(
        processes=int(result["processes"]),
        sizes_bytes=tuple(int(size) for size in result["sizes_bytes"]),
        seconds=tuple(provenance.mark(float(seconds)) for seconds in result["seconds"]),
        library=str(result["library"]), hosts=tuple(result["hosts"]))


def try_measure_allreduce(**arguments) -> AllreduceSweep | None:
    """``measure_allreduce(**arguments)``, or None after printing one line saying why not."""
    try:
        return measure_allreduce(**arguments)
    except CommError as error:
        print(f"all-reduce not measured: {error}")
        return None


@dataclass(frozen=True)
class FunctionTiming:
    """Your all-reduce function timed under MPI beside MPI's own, on the same data."""

    processes: int
    size_bytes: int
    seconds: float  # your function: best repeat of the slowest rank
    mpi_seconds: float  # MPI_Allreduce, timed the same way
    correct: bool  # every rank's result equals MPI_Allreduce's

    @property
    def ratio_to_mpi(self) -> float:
        """Your time / MPI's, no unit."""
        return self.seconds / self.mpi_seconds


def time_allreduce_function(
    function: Callable, processes: int | None = None, size_bytes: int = 8 * 1024**2,
    repeats: int = 5, timeout_s: float = DEFAULT_TIMEOUT_S,
) -> FunctionTiming:
    """Run ``function(comm, data) -> summed array`` in MPI ranks and time it beside MPI's own.

    The function's source is copied into a file that each rank runs; it may use ``np``,
    ``MPI`` and its arguments, nothing else from the notebook.
    """
    problem = mpi_problem()
    if problem:
        raise CommError(problem)
    if not callable(function) or function.__name__ == "<lambda>":
        raise ValueError("pass a function defined with def, e.g. time_allreduce_function("
                         "ring_allreduce)")
    processes = default_processes() if processes is None else check_count("processes",
                                                                          processes, 1)
    size_bytes = check_count("size_bytes", size_bytes, 8)
    repeats = check_count("repeats", repeats, 1)
    source = textwrap.dedent(inspect.getsource(function))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "allreduce_function.py"
        path.write_text(source, encoding="utf-8")
        arguments = ["function", "--source", str(path), "--name", function.__name__,
                     "--size", str(size_bytes), "--repeats", str(repeats), "--json"]
        result = run_mpi(_command(find_mpiexec(), processes, arguments, None), timeout_s)
    return FunctionTiming(processes=int(result["processes"]), size_bytes=size_bytes,
                          seconds=provenance.mark(float(result["seconds"])),
                          mpi_seconds=provenance.mark(float(result["mpi_seconds"])),
                          correct=bool(result["correct"]))


# ---------------------------------------------------------------- the program under mpiexec


def _slowest_best(world, mpi, run: Callable[[], object], repeats: int) -> float:
    """Best over ``repeats`` of the slowest rank's time of ``run()``, a barrier before each."""
    run()  # warm-up: buffers touched, connections made
    best = math.inf
    for _ in range(repeats):
        world.Barrier()
        start = time.perf_counter()
        run()
        elapsed = time.perf_counter() - start
        best = min(best, world.allreduce(elapsed, op=mpi.MAX))
    return best


def _allreduce_worker(world, mpi, sizes_bytes: list[int], repeats: int) -> dict:
    """Every size: MPI_Allreduce of float64 arrays (fewer repeats for the large ones)."""
    seconds = []
    for size in sizes_bytes:
        send = np.full(max(1, size // 8), world.Get_rank() + 1.0)
        receive = np.empty_like(send)
        size_repeats = min(repeats, max(3, 2**26 // size))
        seconds.append(_slowest_best(world, mpi, lambda s=send, r=receive: world.Allreduce(s, r),
                                     size_repeats))
    return {"sizes_bytes": [max(1, size // 8) * 8 for size in sizes_bytes], "seconds": seconds}


def _function_worker(world, mpi, source: str, name: str, size_bytes: int, repeats: int) -> dict:
    """A user's all-reduce from ``source``: checked against MPI_Allreduce, then both timed."""
    namespace = {"np": np, "MPI": mpi}
    exec(compile(source, "allreduce_function.py", "exec"), namespace)  # noqa: S102 - the user's
    function = namespace[name]
    rng = np.random.default_rng(world.Get_rank())
    data = rng.standard_normal(max(1, size_bytes // 8))
    expected = np.empty_like(data)
    world.Allreduce(data, expected)
    got = np.asarray(function(world, data.copy()))
    correct = got.shape == expected.shape and bool(np.allclose(got, expected))
    correct = bool(world.allreduce(correct, op=mpi.LAND))
    mine = _slowest_best(world, mpi, lambda: function(world, data), repeats)
    theirs = _slowest_best(world, mpi, lambda: world.Allreduce(data, expected), repeats)
    return {"seconds": mine, "mpi_seconds": theirs, "correct": correct}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m memwall_lab.comm",
        description="Run under mpiexec: time MPI collectives (lesson 09). Example: mpiexec -n 4 "
                    "python -m memwall_lab.comm allreduce --sizes 8,1024,1048576 --json")
    commands = parser.add_subparsers(dest="command", required=True)
    allreduce = commands.add_parser("allreduce", help="MPI_Allreduce over message sizes")
    allreduce.add_argument("--sizes", required=True, help="bytes, comma-separated")
    allreduce.add_argument("--repeats", type=int, default=20)
    allreduce.add_argument("--json", action="store_true", help="print one JSON line")
    function = commands.add_parser("function", help="a user's all-reduce beside MPI's")
    function.add_argument("--source", required=True)
    function.add_argument("--name", required=True)
    function.add_argument("--size", type=int, required=True)
    function.add_argument("--repeats", type=int, default=5)
    function.add_argument("--json", action="store_true")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m memwall_lab.comm`` (started by mpiexec); rank 0 reports."""
    options = _parser().parse_args(argv)
    from mpi4py import MPI  # only the ranks mpiexec starts need MPI

    world = MPI.COMM_WORLD
    try:
        if options.command == "allreduce":
            sizes = [int(size) for size in options.sizes.split(",")]
            result = _allreduce_worker(world, MPI, sizes, options.repeats)
        else:
            source = Path(options.source).read_text(encoding="utf-8")
            result = _function_worker(world, MPI, source, options.name, options.size,
                                      options.repeats)
    except Exception:  # one rank failing would leave the others waiting: stop them all
        import traceback

        traceback.print_exc()
        sys.stderr.flush()
        world.Abort(1)
        return 1
    hosts = sorted(set(world.gather(MPI.Get_processor_name(), root=0) or []))
    if world.Get_rank() == 0:
        result.update(collective=options.command, processes=world.Get_size(), hosts=hosts,
                      library=" ".join(MPI.Get_library_version().split("\n")[0].split()))
        if options.json:
            print(json.dumps(result), flush=True)
        else:
            for key, value in result.items():
                print(f"{key}: {value}")
    return 0


# ---------------------------------------------------------------- parallel steps of real models


@dataclass(frozen=True)
class ParallelStep:
    """A step split over ``devices`` by tensor parallelism: one device's share, plus the
    all-reduces that join the shares (two per layer), summed: the device waits for them."""

    share: StepTime  # one device's kernels on its roofline, and whether its share fits
    devices: int
    link: hardware.Link
    latency_s: float
    allreduce_bytes: int  # one all-reduce: the activations of every token, d_model wide
    allreduces: int  # per step: 2 per layer

    @property
    def seconds_communication(self) -> float:
        """All-reduces of the step in s: their number x one all-reduce's time."""
        return self.allreduces * allreduce_seconds(self.allreduce_bytes, self.devices,
                                                   self.latency_s,
                                                   self.link.bandwidth_bytes_per_s)

    @property
    def seconds_compute(self) -> float:
        """Time of the share's kernels that are compute-bound, in s."""
        share = self.share
        return ((share.seconds_weights if share.weights_bound == "compute" else 0.0)
                + (share.seconds_attention if share.attention_bound == "compute" else 0.0))

    @property
    def seconds_memory(self) -> float:
        """Time of the share's kernels that are bound by HBM bandwidth, in s."""
        return self.share.seconds - self.seconds_compute

    @property
    def seconds(self) -> float:
        """The step in s: the device's kernels + the all-reduces."""
        return self.share.seconds + self.seconds_communication

    @property
    def tokens_per_s(self) -> float:
        """Tokens of the whole step per second."""
        return self.share.cost.tokens / self.seconds

    @property
    def fits(self) -> bool | None:
        """True if each device holds its share: weights/n, its KV shard, activations."""
        return self.share.fits

    @property
    def bound(self) -> str:
        """'compute', 'memory' or 'communication': whichever takes most of the step."""
        times = {"compute": self.seconds_compute, "memory": self.seconds_memory,
                 "communication": self.seconds_communication}
        return max(times, key=times.get)


def kv_shards(model: models.Model, devices: int) -> int:
    """Devices the KV cache splits over: one KV head or more each (MLA's latent: not split)."""
    if model.attention_kind == "mla":
        return 1
    return min(check_count("devices", devices, 1), model.n_kv_heads)


def tensor_parallel_share(model: models.Model, cost: StepCost, devices: int, kv_held_bytes: int,
                          dtype: str = "fp16") -> StepCost:
    """One device's share of ``cost`` split ``devices`` ways (Megatron-style).

    Weights, their FLOPs and attention FLOPs split n ways; the KV cache over
    ``kv_shards``; activations are counted whole on each device (a small overcount).
    """
    devices = check_count("devices", devices, 1)
    shards = kv_shards(model, devices)
    weights_held = models.weight_bytes(model, dtype)
    activations = cost.held_bytes - weights_held - kv_held_bytes
    return StepCost(
        phase=cost.phase, batch=cost.batch, tokens=cost.tokens,
        weight_flops=-(-cost.weight_flops // devices),
        weight_bytes=-(-cost.weight_bytes // devices),
        attention_flops=-(-cost.attention_flops // devices),
        kv_read_bytes=-(-cost.kv_read_bytes // shards),
        kv_write_bytes=-(-cost.kv_write_bytes // shards),
        held_bytes=-(-weights_held // devices) + -(-kv_held_bytes // shards) + activations)


def activation_allreduce_bytes(model: models.Model, tokens: int, dtype: str = "fp16") -> int:
    """Bytes of one tensor-parallel all-reduce: tokens x d_model activations."""
    return models.bytes_for(check_count("tokens", tokens, 1) * model.d_model, dtype)


def tensor_parallel_step(
    model: models.Model | str, device, link: hardware.Link | str, devices: int,
    context_len: int, batch: int = 1, phase: str = "decode", dtype: str = "fp16",
    latency_s: float = GPU_ROUND_LATENCY_S,
) -> ParallelStep:
    """A decode step (or a prefill of ``context_len`` tokens) of ``model`` split ``devices``
    ways over ``link``: each device's share on its roofline + 2 all-reduces per layer."""
    model = models.as_model(model)
    link = hardware.link(link) if isinstance(link, str) else link
    check_choice("phase", phase, PHASES)
    if phase == "decode":
        cost = models.decode_step(model, context_len, batch, dtype)
        kv_held = models.kv_cache_bytes(model, context_len + 1, batch, dtype)
    else:
        cost = models.prefill(model, context_len, batch, dtype)
        kv_held = models.kv_cache_bytes(model, context_len, batch, dtype)
    share = tensor_parallel_share(model, cost, devices, kv_held, dtype)
    return ParallelStep(share=models.step_time(share, device, dtype), devices=devices, link=link,
                        latency_s=check_positive("latency_s", latency_s),
                        allreduce_bytes=activation_allreduce_bytes(model, cost.tokens, dtype),
                        allreduces=2 * model.n_layers)


def communication_bound_batches(
    model: models.Model | str, device, link: hardware.Link | str, devices: int,
    context_len: int, max_batch: int = 4096, **options,
) -> list[int]:
    """Decode batches (powers of 2 up to ``max_batch``) whose step waits longer on its
    all-reduces than on HBM: where communication, not memory, bounds the step."""
    batches = [2**k for k in range(check_count("max_batch", max_batch, 1).bit_length())]
    return [batch for batch in batches
            if (step := tensor_parallel_step(model, device, link, devices, context_len, batch,
                                             **options)).seconds_communication
            > step.seconds_memory]


def moe_dispatch_bytes(model: models.Model | str, tokens: int, dtype: str = "fp16") -> int:
    """Bytes one device's ``tokens`` send to their experts in one MoE layer: tokens x top-k x
    d_model (the combine sends as many back)."""
    model = models.as_model(model)
    if not model.is_moe:
        raise ValueError(f"{model.name} has no experts: expert parallelism needs an MoE model")
    return models.bytes_for(check_count("tokens", tokens, 1) * model.experts_per_token
                            * model.d_model, dtype)


def expert_parallel_seconds(model: models.Model | str, tokens_per_device: int, devices: int,
                            link: hardware.Link | str, dtype: str = "fp16",
                            latency_s: float = GPU_ROUND_LATENCY_S) -> float:
    """All-to-all time of one step in s: dispatch and combine in every MoE layer."""
    model = models.as_model(model)
    link = hardware.link(link) if isinstance(link, str) else link
    per_layer = alltoall_seconds(moe_dispatch_bytes(model, tokens_per_device, dtype), devices,
                                 latency_s, link.bandwidth_bytes_per_s)
    return 2 * model.moe_layers * per_layer


if __name__ == "__main__":
    sys.exit(main())
