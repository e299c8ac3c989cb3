import json

import pytest

from memwall_lab import cli, measure, report


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


def _fixed_measurements(monkeypatch, cores=4):
    """Make report.collect measure nothing: fixed rates, `cores` logical CPUs, no GPU."""
    def bandwidth(kernel, *, threads, quick):
        # triad: 10 GB/s on 1 thread, 20 GB/s on all; copy is faster (30 GB/s), not triad.
        rate = {"triad": 10e9 if threads == 1 else 20e9}.get(kernel, 30e9)
        return measure.Measurement("bandwidth", kernel, "B/s", (rate,), 2**25, threads)

    def latency_curve(*, quick, progress):
        return [measure.Measurement("latency", "pointer chase", "s", (1e-9,), 4096, 1)]

    def peak_flops(dtype, *, quick):
        rate = {"fp64": 100e9, "fp32": 200e9}[dtype]
        return measure.Measurement("flops", f"matmul {dtype}", "FLOP/s", (rate,), 0, 1,
                                   details={"n": 1536})

    monkeypatch.setattr(report.os, "cpu_count", lambda: cores)
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
    assert result["peak_flops"]["fp64"] == {"n": 1536, "best_flops_per_s": 100e9,
                                            "median_flops_per_s": 100e9}
    assert result["gpu"] is None


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
