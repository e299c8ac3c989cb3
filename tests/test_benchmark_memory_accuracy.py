"""Tests of benchmarks/memory_accuracy.py's parsing and ratios (no C compiler needed)."""

import importlib.util
import os
import stat
import sys
from pathlib import Path

import pytest

from memwall_lab import measure

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "memory_accuracy.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("memory_accuracy", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    yield module
    del sys.modules[spec.name]


def fake_stream_ref(tmp_path: Path, lines: list[str]) -> Path:
    """An executable that records its arguments and prints `lines` as stream_ref would."""
    path = tmp_path / "stream_ref"
    args_file = tmp_path / "args"
    body = "\n".join(f"echo '{line}'" for line in lines)
    path.write_text(f'#!/bin/sh\necho "$@" > "{args_file}"\n{body}\n')
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


@pytest.mark.skipif(os.name == "nt", reason="the fake reference is a POSIX shell script")
def test_c_stream_reads_all_three_kernels_and_passes_the_triad_block(bench, tmp_path):
    binary = fake_stream_ref(tmp_path, ["threads 2", "elements 1000", "copy 4.0e+10",
                                        "triad 5.0e+10", "triad_2pass 4.0e+10",
                                        "checksum 1.0"])
    rates = bench.c_stream(binary, 1000, 2, 4)
    assert rates == {"copy": 4.0e10, "triad": 5.0e10, "triad_2pass": 4.0e10}
    # the C two-pass triad uses memwall_lab's own block size
    assert (tmp_path / "args").read_text().split() == [
        "1000", "4", str(measure.TRIAD_BLOCK_ELEMENTS)]


@pytest.mark.skipif(os.name == "nt", reason="the fake reference is a POSIX shell script")
def test_c_stream_refuses_output_without_the_two_pass_triad(bench, tmp_path):
    binary = fake_stream_ref(tmp_path, ["threads 2", "copy 4.0e+10", "triad 5.0e+10"])
    with pytest.raises(bench.BenchmarkError, match="no triad_2pass line"):
        bench.c_stream(binary, 1000, 2, 4)


@pytest.mark.skipif(os.name == "nt", reason="the fake reference is a POSIX shell script")
def test_c_stream_refuses_a_wrong_thread_count(bench, tmp_path):
    binary = fake_stream_ref(tmp_path, ["threads 1", "copy 1", "triad 1", "triad_2pass 1"])
    with pytest.raises(bench.BenchmarkError, match="ran 1 threads, not 2"):
        bench.c_stream(binary, 1000, 2, 4)


def test_bandwidth_rows_hold_the_triad_to_c_in_two_passes_and_show_the_fused_ratio(bench):
    ours = {"copy": 48e9, "triad": 45e9}
    ref = {"copy": 50e9, "triad": 50e9, "triad_2pass": 46e9}
    rows = {row.quantity: row for row in bench.bandwidth_rows(ours, ref, 2)}
    assert list(rows) == ["copy, 2 threads", "triad vs C in two passes, 2 threads",
                          "triad vs C's fused loop, 2 threads"]
    # 48/50 = 0.96 (target), 45/46 = 0.978 (target), 45/50 = 0.90 (information only)
    assert [(row.ratio, row.target, row.result) for row in rows.values()] == [
        ("0.96", ">= 0.95", "PASS"), ("0.98", ">= 0.95", "PASS"), ("0.90", "-", "info")]
    slow = bench.bandwidth_rows({"copy": 40e9, "triad": 40e9}, ref, 2)
    assert [row.result for row in slow] == ["MISS", "MISS", "info"]


def test_bandwidth_comparison_alternates_which_side_goes_first(bench, monkeypatch):
    order = []
    monkeypatch.setattr(bench, "c_stream", lambda *a: order.append("C") or {
        "copy": 1.0, "triad": 1.0, "triad_2pass": 1.0})
    monkeypatch.setattr(bench, "ours_stream", lambda *a: order.append("ours") or {
        "copy": 1.0, "triad": 1.0})
    monkeypatch.setattr(bench.measure, "fitted_array_bytes", lambda quick: 8 * 1024 * 1024)
    settings = bench.Settings(bandwidth_rounds=3, stream_ntimes=2, chase_loads=1,
                              chase_repeats=1, ladder_factor=4)
    bench.compare_bandwidth(Path("unused"), 1, settings, quick=True)
    assert order == ["C", "ours", "ours", "C", "C", "ours"]


def test_fusion_line_gives_the_two_pass_share_of_the_fused_rate(bench, capsys):
    bench.print_fusion({"copy": 1.0, "triad": 50e9, "triad_2pass": 40e9})
    assert "runs at 0.80x its fused loop" in capsys.readouterr().out
