import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from memwall_lab import cli, machine_state, measure, report
from memwall_lab.timing import Samples


@pytest.fixture(scope="module")
def quick_report():
    return report.collect(quick=True, progress=False)


def test_report_has_the_documented_schema(quick_report):
    assert quick_report["schema"] == report.SCHEMA
    assert quick_report["version"] == report.SCHEMA_VERSION
    for key in report.REQUIRED_KEYS:
        assert key in quick_report
    kernels = {entry["kernel"] for entry in quick_report["bandwidth"]}
    assert kernels == {"copy", "scale", "add", "triad"}
    json.dumps(quick_report)


QUIET = machine_state.MachineState("quiet", 4, 0.1, 0.2, 0.0, 0.02,
                                   ("other programs use 0.1 of 4 CPUs",))


def _fixed_measurements(monkeypatch, cores=4, usable=None, limit=None, bandwidth_details=None,
                        peak_details=None):
    """Make report.collect measure nothing: fixed rates, `cores` logical CPUs of which
    `usable` may be used (all where None) because of `limit`, a quiet machine, no GPU."""
    def bandwidth(kernel, *, threads, quick):
        # triad: 10 GB/s on 1 thread, 20 GB/s on all; copy is faster (30 GB/s), not triad.
        rate = {"triad": 10e9 if threads == 1 else 20e9}.get(kernel, 30e9)
        details = {"arrays": measure.STREAM_ARRAYS[kernel], **(bandwidth_details or {})}
        return measure.Measurement("bandwidth", kernel, "B/s", (rate,), 2**25, threads,
                                   details=details)

    def latency_curve(*, quick, progress):
        return [measure.Measurement("latency", "pointer chase", "s", (1e-9,), 4096, 1)]

    def peak_flops(dtype, *, quick):
        rate = {"fp64": 100e9, "fp32": 200e9}[dtype]
        return measure.Measurement("flops", f"matmul {dtype}", "FLOP/s", (rate,), 0, 1,
                                   details={"n": 1536, **(peak_details or {})})

    monkeypatch.setattr(report.machine.os, "cpu_count", lambda: cores)
    monkeypatch.setattr(report.machine, "_cpu_share", lambda: (usable or cores, limit))
    monkeypatch.setattr(report.machine_state, "assess", lambda: QUIET)
    monkeypatch.setattr(report.measure, "bandwidth", bandwidth)
    monkeypatch.setattr(report.measure, "latency_curve", latency_curve)
    monkeypatch.setattr(report.measure, "peak_flops", peak_flops)
    monkeypatch.setattr(report.gpu, "report_part", lambda quick, progress: None)


def test_ridge_is_peak_over_the_best_triad_bandwidth(monkeypatch):
    _fixed_measurements(monkeypatch)
    result = report.collect(quick=True, progress=False)
    assert [(e["kernel"], e["threads"]) for e in result["bandwidth"]] == [
        (kernel, threads) for kernel in ("copy", "scale", "add", "triad") for threads in (1, 4)]
    # Best triad (4 threads) 20e9 B/s: fp64 100e9 / 20e9 = 5.0, fp32 200e9 / 20e9 = 10.0 FLOP/B.
    assert result["ridge_flops_per_byte"] == {"fp64": 5.0, "fp32": 10.0}
    assert result["peak_flops"]["fp64"] == {"n": 1536, "threads": 1, "best_flops_per_s": 100e9,
                                            "median_flops_per_s": 100e9,
                                            "n_reduced_for_memory": False}
    assert result["gpu"] is None
    assert result["threads"] == 4 and result["notes"] == {}
    assert result["machine_state"] == QUIET.as_dict()


def test_one_core_measures_one_thread_count(monkeypatch):
    _fixed_measurements(monkeypatch, cores=1)
    result = report.collect(quick=True, progress=False)
    assert [e["threads"] for e in result["bandwidth"]] == [1, 1, 1, 1]
    assert result["ridge_flops_per_byte"]["fp64"] == 10.0  # 100e9 / the 1-thread 10e9 B/s


def test_round_trip_and_render(quick_report, tmp_path):
    path = report.save(quick_report, tmp_path / "r.json")
    assert report.load(path) == quick_report
    text = report.render(quick_report)
    assert "bandwidth" in text and "ridge point" in text


def test_render_shows_latencies_under_a_nanosecond_as_hidden(quick_report):
    levels = {"l1d": {"size_bytes": 16 * 1024, "best_s": 5.4e-11},
              "dram": {"size_bytes": 2**28, "best_s": 1.42e-7}}
    lines = report.render({**quick_report, "latency_by_level": levels}).splitlines()
    assert "    L1D   at    16 KiB       < 1 ns" in lines
    assert "    DRAM  at   256 MiB       142 ns" in lines


def test_latency_by_level_picks_sets_inside_each_cache():
    curve = [{"size_bytes": 2**k, "best_s": k * 1e-9} for k in range(12, 29)]
    levels = report.latency_by_level(curve, {"l1d": 48 * 1024, "l2": 2**20, "l3": 2**25})
    assert levels["l1d"]["size_bytes"] == 16 * 1024  # largest power of 2 <= 24 KiB
    assert levels["l2"]["size_bytes"] == 2**18  # nearest to sqrt(48 KiB x 1 MiB) = 222 KiB
    assert levels["l3"]["size_bytes"] == 2**22  # nearest to sqrt(1 MiB x 32 MiB) = 5.7 MiB
    assert levels["dram"]["size_bytes"] == 2**28


@pytest.mark.parametrize(
    "content, message",
    [
        ("{not json", "not valid JSON"),
        ('{"schema": "other"}', "not a memwall-lab report"),
        ('{"schema": "memwall-lab-report", "version": 99}', "version 99"),
        ('{"schema": "memwall-lab-report", "version": 1}', "missing machine"),
        ("[1, 2]", "not a memwall-lab report"),
    ],
)
def test_load_rejects_bad_files(tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(ValueError, match=message):
        report.load(path)


def test_load_rejects_huge_files(tmp_path):
    path = tmp_path / "huge.json"
    path.write_text(" " * (report.MAX_REPORT_BYTES + 1))
    with pytest.raises(ValueError, match="larger than"):
        report.load(path)


def test_cli_report_writes_json_and_png(quick_report, monkeypatch, tmp_path, capsys):
    asked = []
    # The module's one real measurement stands in: the CLI is tested, not measured again.
    monkeypatch.setattr(report, "collect", lambda **options: asked.append(options) or quick_report)
    json_path, png_path = tmp_path / "me.json", tmp_path / "me.png"
    status = cli.main(["report", "--quick", "--json", str(json_path), "--plot", str(png_path)])
    assert status == 0
    assert asked == [{"quick": True, "progress": True}]
    assert "peak FLOP/s" in capsys.readouterr().out
    assert report.load(json_path) == quick_report and quick_report["quick"] is True
    assert png_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_load_rejects_deeply_nested_json(tmp_path):
    path = tmp_path / "deep.json"
    path.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(ValueError, match="nested too deeply|not valid JSON"):
        report.load(path)


def test_latency_by_level_of_an_empty_curve_is_empty():
    assert report.latency_by_level([], {"l1d": 48 * 1024, "l2": 2**20}) == {}


def test_ridge_is_labelled_as_the_best_triad_it_uses():
    from test_compare import make_report

    text = report.render(make_report())
    assert "peak FLOP/s / best triad bandwidth, any thread count" in text
    assert "all-core" not in text and "all-core" not in report.__doc__


def _no_measuring(monkeypatch):
    def measure_nothing(**kwargs):
        raise AssertionError("measured before checking where the files go")

    monkeypatch.setattr(report, "collect", measure_nothing)


@pytest.mark.parametrize("options, message", [
    (["--json", "{missing}/me.json"], "does not exist"),
    (["--plot", "{missing}/me.png"], "does not exist"),
    (["--plot", "{tmp}/me.svg"], "ending in .png"),
    (["--json", "{tmp}"], "is a folder"),
])
def test_cli_report_checks_its_output_paths_before_measuring(
        monkeypatch, capsys, tmp_path, options, message):
    _no_measuring(monkeypatch)
    paths = {"missing": tmp_path / "missing", "tmp": tmp_path}
    argv = ["report", "--quick", *(option.format(**paths) for option in options)]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_cli_missing_notebook_is_one_line_not_a_traceback(tmp_path, capsys):
    missing = tmp_path / "missing.ipynb"
    assert cli.main(["refresh-outputs", "--no-execute", str(missing)]) == 2
    assert cli.main(["refresh-outputs", str(missing)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err == [f"memwall-lab: {missing}: No such file or directory"] * 2


def test_a_cpu_quota_sets_the_threads_and_the_report_says_why(monkeypatch):
    limit = "a CPU quota of 1 CPU (cgroup cpu.max)"
    _fixed_measurements(monkeypatch, cores=64, usable=1, limit=limit)
    result = report.collect(quick=True, progress=False)
    assert [e["threads"] for e in result["bandwidth"]] == [1, 1, 1, 1]  # not 64
    assert result["threads"] == 1
    assert (result["machine"]["usable_cpus"], result["machine"]["cpu_limit"]) == (1, limit)
    assert result["notes"]["threads"] == f"1 of 64 logical CPUs used: {limit}"
    lines = report.render(result).splitlines()
    assert f"  threads    1 of 64 logical CPUs used: {limit}" in lines


def test_render_opens_with_the_machine_state_line(monkeypatch):
    _fixed_measurements(monkeypatch)
    result = report.collect(quick=True, progress=False)
    lines = report.render(result).splitlines()
    assert lines[0] == QUIET.line() and lines[0].startswith("machine state: quiet - ")
    assert "  threads    4, one per logical CPU" in lines


def test_reports_written_before_the_machine_state_still_render_and_compare():
    from test_compare import make_report

    old = make_report()
    assert "machine_state" not in old and "notes" not in old
    text = report.render(old)
    assert not text.startswith("machine state") and "threads" not in text.split("caches")[0]
    broken = {**old, "machine_state": {"verdict": 3}, "notes": "garbage"}
    assert report.render(broken).splitlines()[0].startswith("memwall-lab report")


def test_arrays_in_cache_are_not_called_dram(monkeypatch):
    _fixed_measurements(monkeypatch, bandwidth_details={
        "below_4x_last_cache": True, "last_level_cache_bytes": 2**27})  # 32 MiB in 128 MiB
    result = report.collect(quick=True, progress=False)
    assert all(entry["below_4x_last_cache"] for entry in result["bandwidth"])
    expected = ("bandwidth arrays fit in cache (3 x 32 MiB <= 128 MiB last-level cache): "
                "these rates read cache, not DRAM")
    assert result["notes"]["bandwidth"] == expected
    assert f"    note: {expected}" in report.render(result).splitlines()
    _fixed_measurements(monkeypatch, bandwidth_details={
        "below_4x_last_cache": True, "last_level_cache_bytes": 2**24})  # 32 MiB < 4 x 16 MiB
    note = report.collect(quick=True, progress=False)["notes"]["bandwidth"]
    assert note == ("bandwidth arrays are under 4x the last-level cache (32 MiB < 4 x 16 MiB): "
                    "these rates read partly cache, not DRAM alone")


def test_a_shrunk_matmul_is_named(monkeypatch):
    _fixed_measurements(monkeypatch, peak_details={"n_reduced_for_memory": True})
    result = report.collect(quick=True, progress=False)
    assert result["peak_flops"]["fp32"]["n_reduced_for_memory"] is True
    assert result["notes"]["peak_flops"] == (
        "matmul shrunk to fit the memory budget (fp64 n=1536, fp32 n=1536): peak FLOP/s may "
        "read below the BLAS plateau")


MIB = 1024**2


@pytest.mark.parametrize("quick", [True, False])
def test_a_100_mib_pod_gets_a_report_that_fits(monkeypatch, quick):
    # 100 MiB available: a 25 MiB budget. Every allocation is checked against it; sizes are
    # real, timings are not (the fake timer runs each kernel once).
    monkeypatch.setattr(measure.machine, "ram_available_bytes", lambda: 100 * MIB)
    monkeypatch.setattr(measure, "_last_level_cache_bytes", lambda: 32 * MIB)
    def run_once(function, **options):
        function()
        return Samples((1e-3,))

    monkeypatch.setattr(measure, "time_call", run_once)
    monkeypatch.setattr(report.measure, "latency_curve", lambda *, quick, progress: [
        measure.Measurement("latency", "pointer chase", "s", (1e-9,), 4096, 1)])
    monkeypatch.setattr(report.machine_state, "assess", lambda: QUIET)
    monkeypatch.setattr(report.gpu, "report_part", lambda quick, progress: None)
    checked, check_fits = [], measure.check_fits
    monkeypatch.setattr(measure, "check_fits",
                        lambda size, what: checked.append(size) or check_fits(size, what))
    result = report.collect(quick=quick, progress=False)
    assert checked and max(checked) <= 25 * MIB
    # fp64: sqrt(25 MiB / 24 bytes) = 1045, down to a multiple of 64
    assert result["peak_flops"]["fp64"]["n"] == 1024
    assert "matmul shrunk to fit the memory budget" in result["notes"]["peak_flops"]
    # 25 MiB / 3 arrays = 8 MiB each (whole 1 MiB blocks): 24 MiB sit in a 32 MiB cache.
    assert {entry["array_bytes"] for entry in result["bandwidth"]} == {8 * MIB}
    assert result["notes"]["bandwidth"].startswith("bandwidth arrays fit in cache (3 x 8 MiB")


# The real report, in a process whose CPUs are limited: its sizes are kept small (8 MiB
# arrays, two latency sizes, no GPU) so it takes seconds; threads and messages are real.
LIMITED_REPORT = """
import os, sys
import numpy  # the BLAS starts with every CPU, before the limit
from memwall_lab import cli, gpu, measure
if sys.argv[2] == "affinity":
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
measure.fitted_array_bytes = lambda arrays=3, quick=None: 8 * 1024**2
measure.default_latency_sizes = lambda quick=None: [4096, 1024**2]
gpu.report_part = lambda quick, progress: None
sys.exit(cli.main(["report", "--quick", "--json", sys.argv[1]]))
"""


def _run_limited_report(tmp_path, how, preexec_fn=None):
    path = tmp_path / "limited.json"
    done = subprocess.run([sys.executable, "-c", LIMITED_REPORT, str(path), how],
                          capture_output=True, text=True, timeout=300, preexec_fn=preexec_fn,
                          cwd=Path(__file__).parent.parent)
    assert done.returncode == 0, done.stderr
    return report.load(path), done.stdout


def _check_one_thread(result, text, limit):
    assert result["threads"] == 1 and result["machine"]["usable_cpus"] == 1
    assert [entry["threads"] for entry in result["bandwidth"]] == [1, 1, 1, 1]
    assert result["machine"]["cpu_limit"] == limit
    assert result["machine_state"]["usable_cpus"] == 1
    if result["peak_flops"]["fp64"]["threads"] is not None:  # a BLAS threadpoolctl sees
        assert result["peak_flops"]["fp64"]["threads"] == 1
    assert f"  threads    1 of {os.cpu_count()} logical CPUs used: {limit}" in text.splitlines()
    assert text.startswith("machine state: ")


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity") or (os.cpu_count() or 1) < 2,
                    reason="needs CPU affinity and 2 CPUs")
def test_the_real_report_under_a_one_cpu_affinity(tmp_path):
    result, text = _run_limited_report(tmp_path, "affinity")
    _check_one_thread(result, text, f"CPU affinity allows 1 of {os.cpu_count()} logical CPUs")


def _one_cpu_cgroup(tmp_path):
    """A real cgroup with a quota of 1 CPU (v2 cpu.max, else v1 cpu.cfs_quota_us), the file
    its limit is named by, or a skip where this machine will not make one."""
    root = Path("/sys/fs/cgroup")
    name = f"memwall_lab_test_{os.getpid()}"
    v2 = (root / "cgroup.subtree_control").is_file() and "cpu" in (
        root / "cgroup.subtree_control").read_text().split()
    folder = root / name if v2 else root / "cpu" / name
    try:
        folder.mkdir()
    except OSError as error:
        pytest.skip(f"cannot create a cgroup here ({error})")
    try:
        if v2:
            (folder / "cpu.max").write_text("100000 100000")
        else:
            (folder / "cpu.cfs_period_us").write_text("100000")
            (folder / "cpu.cfs_quota_us").write_text("100000")
    except OSError as error:
        folder.rmdir()
        pytest.skip(f"cannot set a CPU quota here ({error})")
    return folder, "cgroup cpu.max" if v2 else "cgroup cpu.cfs_quota_us"


@pytest.mark.skipif(not sys.platform.startswith("linux") or (os.cpu_count() or 1) < 2,
                    reason="needs Linux cgroups and 2 CPUs")
def test_the_real_report_under_a_one_cpu_cgroup_quota(tmp_path):
    folder, source = _one_cpu_cgroup(tmp_path)

    def join_the_cgroup():
        (folder / "cgroup.procs").write_text(str(os.getpid()))

    try:
        result, text = _run_limited_report(tmp_path, "quota", preexec_fn=join_the_cgroup)
    finally:
        folder.rmdir()  # empty again: the report's process has exited
    _check_one_thread(result, text, f"a CPU quota of 1 CPU ({source})")


def test_compare_reads_new_and_old_reports_side_by_side(monkeypatch, tmp_path):
    from test_compare import make_report

    from memwall_lab import compare

    _fixed_measurements(monkeypatch, cores=64, usable=2, limit="a CPU quota of 2 CPUs (x)")
    report.save(report.collect(quick=True, progress=False), tmp_path / "pod.json")
    report.save(make_report(), tmp_path / "laptop.json")
    reports, problems = compare.collect_reports([tmp_path])
    assert problems == [] and len(reports) == 2
    table = compare.table(reports)
    assert "pod" in table and "laptop" in table
