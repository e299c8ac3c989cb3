import json

import pytest
from matplotlib.figure import Figure

from memwall_lab import compare, report

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def make_report(bandwidth_gb_s=20.0, one_thread_fraction=0.6, dram_latency_ns=90.0,
                fp64_gflops=100.0, cores=(4, 8),
                cpu="Intel(R) Core(TM) i5-8250U CPU @ 1.60GHz", quick=False):
    """A schema-valid report with made-up but plausible numbers (nothing is measured)."""
    all_threads = cores[1]
    bandwidth = []
    for kernel, factor in (("copy", 1.0), ("scale", 0.98), ("add", 1.05), ("triad", 1.04)):
        for threads, fraction in ((1, one_thread_fraction), (all_threads, 1.0)):
            best = bandwidth_gb_s * 1e9 * fraction * factor / 1.04  # triad = bandwidth_gb_s
            bandwidth.append({"kernel": kernel, "threads": threads, "array_bytes": 2**27,
                              "best_bytes_per_s": best, "median_bytes_per_s": 0.9 * best})
    curve = [{"size_bytes": 2**k, "best_s": 1e-9 * k, "median_s": 1.1e-9 * k}
             for k in range(12, 29, 2)]
    curve[-1]["best_s"] = dram_latency_ns * 1e-9
    triad_all = bandwidth_gb_s * 1e9
    peak = {"fp64": {"n": 2048, "best_flops_per_s": fp64_gflops * 1e9,
                     "median_flops_per_s": 0.9 * fp64_gflops * 1e9},
            "fp32": {"n": 2048, "best_flops_per_s": 2 * fp64_gflops * 1e9,
                     "median_flops_per_s": 1.8 * fp64_gflops * 1e9}}
    return {
        "schema": report.SCHEMA, "version": report.SCHEMA_VERSION,
        "created": "2025-01-01T00:00:00+00:00", "quick": quick,
        "machine": {"cpu_model": cpu, "physical_cores": cores[0], "logical_cores": cores[1],
                    "cache_bytes": {"l1d": 48 * 1024, "l2": 2**20, "l3": 2**24},
                    "ram_total_bytes": 16 * 2**30, "ram_available_bytes": 8 * 2**30,
                    "os": "Linux", "python": "3.11", "numpy": "2.0", "blas": "openblas",
                    "missing": {}},
        "bandwidth": bandwidth,
        "latency": curve,
        "latency_by_level": {"l2": {"size_bytes": 2**18, "best_s": 4e-9},
                             "dram": {"size_bytes": 2**28, "best_s": dram_latency_ns * 1e-9}},
        "peak_flops": peak,
        "ridge_flops_per_byte": {d: p["best_flops_per_s"] / triad_all for d, p in peak.items()},
    }


def write(folder, name, content):
    path = folder / name
    if isinstance(content, dict):
        report.save(content, path)
    elif isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    return path


def data_rows(text):
    """The machine rows of a table: the lines between the dashed rule and the blank line."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("---")) + 1
    return lines[start:lines.index("", start)]


@pytest.fixture
def class_folder(tmp_path):
    folder = tmp_path / "reports"
    folder.mkdir()
    write(folder, "slow.json", make_report(bandwidth_gb_s=10.0, fp64_gflops=50.0))
    write(folder, "fast.json", make_report(bandwidth_gb_s=40.0, fp64_gflops=200.0))
    write(folder, "middle.json", make_report(bandwidth_gb_s=25.0, dram_latency_ns=120.0))
    return folder


def test_table_is_sorted_by_all_core_triad_bandwidth(class_folder):
    reports, problems = compare.collect_reports([class_folder])
    assert problems == []
    rows = data_rows(compare.table(reports))
    assert [row.split()[0] for row in rows] == ["fast", "middle", "slow"]


def test_table_shows_each_number_in_its_unit(class_folder):
    reports, _ = compare.collect_reports([class_folder / "fast.json"])
    (row,) = data_rows(compare.table(reports))
    # triad 40 GB/s all cores, 0.6 x 40 = 24 GB/s one thread, 90 ns, 200 GFLOP/s, 200/40 = 5
    assert row.split()[-6:] == ["4/8", "40.0", "24.0", "90", "200.0", "5.00"]
    assert "Intel Core i5-8250U  " in row  # trademarks and clock dropped to fit the table


def test_unknown_fields_show_a_question_mark(tmp_path):
    incomplete = make_report(cpu=None)
    incomplete["machine"]["physical_cores"] = None
    incomplete["latency_by_level"] = {}
    incomplete["bandwidth"] = [e for e in incomplete["bandwidth"] if e["threads"] != 1]
    del incomplete["peak_flops"]["fp64"]
    del incomplete["ridge_flops_per_byte"]["fp64"]
    reports, problems = compare.collect_reports([write(tmp_path, "partial.json", incomplete)])
    assert problems == []
    text = compare.table(reports)
    (row,) = data_rows(text)
    assert row.split() == ["partial", "?", "?/8", "20.0", "?", "?", "?", "?"]
    assert "? not in that report" in text
    figure = compare.figure(reports)  # no fp64 roof, no latency: still draws, says so
    assert "no report has" in " ".join(t.get_text() for ax in figure.axes for t in ax.texts)


def test_nonsense_values_inside_a_valid_report_show_a_question_mark(tmp_path):
    odd = make_report()
    odd["bandwidth"] = "fast"
    odd["peak_flops"] = {"fp64": {"best_flops_per_s": float("nan")}}
    odd["latency_by_level"] = {"dram": {"best_s": -1}}
    odd["machine"] = ["not", "a", "dict"]
    odd["ridge_flops_per_byte"] = {"fp64": "steep"}
    reports, _ = compare.collect_reports([write(tmp_path, "odd.json", odd)])
    (row,) = data_rows(compare.table(reports))
    assert row.split()[1:] == ["?"] * 7
    assert isinstance(compare.figure(reports), Figure)


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("broken.json", "{not json", "not valid JSON"),
        ("truncated.json", json.dumps(make_report())[:500], "not valid JSON"),
        ("foreign.json", '{"name": "my-app", "dependencies": {}}', "not a memwall-lab report"),
        ("list.json", "[1, 2, 3]", "not a memwall-lab report"),
        ("future.json", json.dumps({**make_report(), "version": 2}), "version 2"),
        ("binary.json", b"\xff\xfe\x00garbage", "not valid JSON"),
        ("deep.json", "[" * 200_000 + "]" * 200_000, "nested too deeply"),
        ("huge.json", " " * (report.MAX_REPORT_BYTES + 1), "larger than"),
    ],
)
def test_a_bad_file_costs_one_line_and_the_rest_are_compared(
        class_folder, name, content, message):
    bad = write(class_folder, name, content)
    reports, problems = compare.collect_reports([class_folder])
    assert len(problems) == 1
    assert str(bad) in problems[0] and message in problems[0]
    assert "\n" not in problems[0]
    assert sorted(path.name for path, _ in reports) == ["fast.json", "middle.json", "slow.json"]


def test_directory_mix_and_duplicates_are_read_once(class_folder, tmp_path):
    write(class_folder, "broken.json", "{")
    write(class_folder, "foreign.json", '{"a": 1}')
    write(class_folder, "notes.txt", "not a report, not a .json: ignored")
    (class_folder / "subfolder").mkdir()
    extra = write(tmp_path, "extra.json", make_report(bandwidth_gb_s=30.0))
    empty = tmp_path / "empty"
    empty.mkdir()
    paths = [class_folder, class_folder / "fast.json", str(class_folder), extra, extra,
             empty, tmp_path / "missing.json"]
    reports, problems = compare.collect_reports(paths)
    assert sorted(p.name for p, _ in reports) == [
        "extra.json", "fast.json", "middle.json", "slow.json"]
    assert len(problems) == 4
    for expected in ("broken.json", "foreign.json", f"{empty}: directory has no *.json",
                     "missing.json: no such file"):
        assert sum(expected in problem for problem in problems) == 1


def test_same_stem_in_two_folders_gets_two_labels(tmp_path):
    for folder in ("lab1", "lab2"):
        (tmp_path / folder).mkdir()
        write(tmp_path / folder, "alice.json", make_report())
    reports, _ = compare.collect_reports([tmp_path / "lab1", tmp_path / "lab2"])
    labels = [row.split()[0] for row in data_rows(compare.table(reports))]
    assert sorted(labels) == ["lab1/alice", "lab2/alice"]


def test_control_characters_cannot_break_the_table(tmp_path):
    reports, _ = compare.collect_reports(
        [write(tmp_path, "x.json", make_report(cpu="Evil\nChip\x1b[31m"))])
    (row,) = data_rows(compare.table(reports))
    assert "Evil Chip" in row and "\x1b" not in row


def test_quick_reports_are_marked(tmp_path):
    reports, _ = compare.collect_reports([write(tmp_path, "q.json", make_report(quick=True))])
    text = compare.table(reports)
    assert data_rows(text)[0].startswith("q*")
    assert "quick run" in text


def test_run_prints_problems_and_table_and_writes_a_png(class_folder, tmp_path):
    write(class_folder, "broken.json", "{")
    lines, png = [], tmp_path / "class.png"
    status = compare.run([class_folder], plot_path=png, out=lines.append)
    assert status == 0
    assert lines[0].startswith("skipped") and "broken.json" in lines[0]
    text = "\n".join(lines)
    assert "fast" in text and "GB/s" in text and f"wrote {png}" in text
    assert png.read_bytes()[:8] == PNG_MAGIC


def test_figure_has_two_labelled_log_panels_and_stays_readable_for_a_big_class(tmp_path):
    for i in range(20):
        write(tmp_path, f"student{i:02d}.json",
              make_report(bandwidth_gb_s=5.0 + 3 * i, dram_latency_ns=70.0 + 5 * i,
                          fp64_gflops=40.0 + 10 * i))
    reports, _ = compare.collect_reports([tmp_path])
    figure = compare.figure(reports)
    roofline_ax, scatter_ax = figure.axes
    for ax in (roofline_ax, scatter_ax):
        assert ax.get_xscale() == ax.get_yscale() == "log"
        assert ax.get_title()
        assert "(" in ax.get_xlabel() and "(" in ax.get_ylabel()  # units
    legend = [t.get_text() for t in roofline_ax.get_legend().get_texts()]
    assert len(legend) == compare.MAX_LABELLED_MACHINES + 1
    assert legend[0] == f"{20 - compare.MAX_LABELLED_MACHINES} other machines"
    assert any(label.startswith("student19") for label in legend)  # fastest
    assert any(label.startswith("student00") for label in legend)  # slowest
    assert figure.texts  # the caption


def test_no_reports_at_all_exits_1_with_a_message(tmp_path):
    lines = []
    assert compare.run([tmp_path], out=lines.append) == 1
    assert "no *.json" in lines[0]
    assert "no memwall-lab reports to compare" in lines[-1]
    write(tmp_path, "bad.json", "{")
    lines.clear()
    assert compare.run([tmp_path], out=lines.append) == 1
    assert len(lines) == 2 and "bad.json" in lines[0]


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: compare.collect_reports("reports/"), "not a single str"),
        (lambda: compare.collect_reports([]), "at least one"),
        (lambda: compare.collect_reports(None), "list of files"),
        (lambda: compare.collect_reports([42]), "non-empty str or Path"),
        (lambda: compare.collect_reports([""]), "non-empty str or Path"),
        (lambda: compare.table([]), "no reports"),
        (lambda: compare.table({"schema": report.SCHEMA}), "list of"),
        (lambda: compare.table([make_report()]), "pair"),
        (lambda: compare.table([("a.json", {"schema": "other"})]), "not a memwall-lab report"),
        (lambda: compare.figure([]), "no reports"),
        (lambda: compare.run(["x"], out=None), "out must be"),
        (lambda: compare.run(["x"], plot_path="class.svg"), "ending in .png"),
        (lambda: compare.run(["x"], plot_path="no/such/folder/class.png"), "does not exist"),
    ],
)
def test_bad_input_raises_value_error(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_binder_environment_matches_the_package_dependencies():
    """binder/ (for classes on a Binder-style service) must not drift from pyproject.toml."""
    from pathlib import Path

    tomllib = pytest.importorskip("tomllib")
    root = Path(__file__).resolve().parent.parent
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    lines = (root / "binder" / "requirements.txt").read_text().splitlines()
    binder = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    assert sorted(binder) == sorted(project["dependencies"])
    assert "pip install" in (root / "binder" / "postBuild").read_text()


def test_cli_compare_reports_bad_files_and_compares_the_rest(tmp_path, capsys):
    from memwall_lab import cli

    good = tmp_path / "ada.json"
    good.write_text(json.dumps(make_report()))
    (tmp_path / "broken.json").write_text("{")
    png = tmp_path / "class.png"
    assert cli.main(["compare", str(tmp_path), "--plot", str(png)]) == 0
    out = capsys.readouterr().out
    assert "broken.json: not valid JSON" in out and "ada" in out
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_integers_too_big_for_a_float_show_a_question_mark(class_folder):
    huge = make_report()
    for entry in huge["bandwidth"]:
        entry["best_bytes_per_s"] = 10**400  # valid JSON; float(10**400) overflows
    huge["peak_flops"]["fp64"]["best_flops_per_s"] = 10**400
    huge["ridge_flops_per_byte"]["fp64"] = 10**400
    huge["latency_by_level"]["dram"]["best_s"] = 10**400
    huge["machine"]["physical_cores"] = 10**400
    huge["gpu"] = {"gpu_schema_version": 1, "copy": {"best_bytes_per_s": 10**400},
                   "matmul": {"bf16": {"best_flops_per_s": 10**400}},
                   "gemv_turning_batch": 10**400}
    write(class_folder, "huge.json", huge)
    lines = []
    assert compare.run([class_folder], out=lines.append) == 0
    rows = data_rows("\n".join(lines))
    (row,) = [row.split() for row in rows if row.startswith("huge")]
    assert row[-6:] == ["?/8", "?", "?", "?", "?", "?"]
    assert [r.split()[0] for r in rows] == ["fast", "middle", "slow", "huge"]  # unknown last
    assert "GPUs" not in "\n".join(lines)


def test_a_report_saved_with_a_byte_order_mark_is_compared(tmp_path):
    path = write(tmp_path, "notepad.json", make_report())
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())  # as Windows Notepad saves it
    reports, problems = compare.collect_reports([path])
    assert problems == [] and [p for p, _ in reports] == [path]
    broken = write(tmp_path, "broken.json", b"\xef\xbb\xbf{not json")
    _, problems = compare.collect_reports([broken])
    assert len(problems) == 1 and problems[0].startswith(f"{broken}: not valid JSON")
    assert "memwall-compare-" not in problems[0], "the message names the student's file"


def test_a_symlink_loop_in_a_folder_costs_one_line(tmp_path):
    write(tmp_path, "good.json", make_report())
    (tmp_path / "a.json").symlink_to(tmp_path / "b.json")
    (tmp_path / "b.json").symlink_to(tmp_path / "a.json")
    reports, problems = compare.collect_reports([tmp_path])
    assert [p.name for p, _ in reports] == ["good.json"]
    assert problems == [f"{tmp_path / name}: a symlink loop, not a report file"
                        for name in ("a.json", "b.json")]
