import json

import pytest

from memwall_lab import cli, report


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


def test_ridge_is_peak_over_triad_bandwidth(quick_report):
    triad = max(e["best_bytes_per_s"] for e in quick_report["bandwidth"]
                if e["kernel"] == "triad")
    peak = quick_report["peak_flops"]["fp64"]["best_flops_per_s"]
    assert quick_report["ridge_flops_per_byte"]["fp64"] == pytest.approx(peak / triad)


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


def test_cli_report_writes_json_and_png(tmp_path, capsys):
    json_path, png_path = tmp_path / "me.json", tmp_path / "me.png"
    status = cli.main(["report", "--quick", "--json", str(json_path), "--plot", str(png_path)])
    assert status == 0
    assert "peak FLOP/s" in capsys.readouterr().out
    assert report.load(json_path)["quick"] is True
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
