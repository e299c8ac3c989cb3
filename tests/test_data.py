"""Every row of every data table: a source, sane units, no duplicates."""

import datetime
import re

import pytest

from memwall_lab import edge, models
from memwall_lab.hardware import read_table

TABLES = ["accelerators.csv", "devices.csv", "memory_tech.csv", "links.csv", "history.csv",
          "models.csv", "packaging.csv", "onchip.csv", "edge_facts.csv", "number_formats.csv",
          "serving_results.csv"]
SOURCE = re.compile(r"^(https?://\S+|[\w.-]+/[\w.-]+ \S+)$")  # URL, or owner/repo path


def number(text):
    """A cell as float, or None when empty."""
    return float(text) if text.strip() else None


@pytest.mark.parametrize("table", TABLES)
def test_every_row_has_a_source_and_a_note(table):
    rows = read_table(table)
    assert rows, table
    for row in rows:
        assert SOURCE.match(row["source"].strip()), (table, row)
        assert row["note"].strip(), (table, row.get("name"))


@pytest.mark.parametrize("table", [t for t in TABLES if t != "history.csv"])
def test_names_are_unique_lowercase_and_hyphenated(table):
    names = [row["name"] for row in read_table(table)]
    assert len(names) == len(set(names)), table
    for name in names:
        assert re.fullmatch(r"[a-z0-9][a-z0-9.\-]*", name), name


def test_history_names_unique_within_series():
    rows = read_table("history.csv")
    keys = [(row["series"], row["name"]) for row in rows]
    assert len(keys) == len(set(keys))


@pytest.mark.parametrize("table", ["accelerators.csv", "devices.csv"])
def test_hardware_units_are_sane(table):
    datacenter = table == "accelerators.csv"
    for row in read_table(table):
        assert 2000 <= int(row["year"]) <= 2026
        capacity, bandwidth = float(row["capacity_gb"]), float(row["bandwidth_gb_per_s"])
        assert (10 <= capacity <= 400) if datacenter else (4 <= capacity <= 256), row["name"]
        assert (500 <= bandwidth <= 10_000) if datacenter else (10 <= bandwidth <= 1000)
        peaks = [number(row[c]) for c in ("fp32_tflops", "bf16_tflops", "fp16_tflops",
                                          "fp8_tflops", "int8_tops")]
        assert any(peaks), row["name"]
        assert all(p is None or 0.05 <= p <= 10_000 for p in peaks), row["name"]
        fp32, bf16, fp16, fp8 = peaks[:4]
        for low, high in ((fp32, bf16), (fp32, fp16), (bf16, fp8)):
            assert low is None or high is None or low <= high, row["name"]
        tdp = number(row["tdp_w"])
        assert tdp is None or 5 <= tdp <= 1500
        link = number(row["interconnect_gb_per_s"])
        assert link is None or 10 <= link <= 2000


def test_required_devices_present():
    names = {row["name"] for row in read_table("devices.csv")}
    assert {"m1", "m1-max", "m2", "m2-max", "m3", "m3-max", "m4", "m4-max",
            "jetson-agx-orin-64gb", "raspberry-pi-5", "desktop-ddr4", "desktop-ddr5",
            "laptop-ddr4", "laptop-ddr5"} <= names
    assert any(row["kind"] == "phone" for row in read_table("devices.csv"))


def test_memory_tech_bandwidth_is_pins_times_rate():
    rows = read_table("memory_tech.csv")
    for row in rows:
        computed = float(row["per_pin_gbit_per_s"]) * int(row["interface_bits"]) / 8
        assert float(row["bandwidth_gb_per_s"]) == pytest.approx(computed, rel=0.01), row["name"]
        assert 1995 <= int(row["year"]) <= 2026 and float(row["capacity_gb"]) > 0
    families = {row["name"].split("-")[0] for row in rows}
    assert {"ddr3", "ddr4", "ddr5", "lpddr4x", "lpddr5", "lpddr5x", "gddr6", "gddr7", "hbm",
            "hbm2", "hbm2e", "hbm3", "hbm3e", "hbm4"} <= families


def test_every_energy_per_bit_has_its_own_source_and_year():
    rows = [row for row in read_table("memory_tech.csv") if row["energy_pj_per_bit"].strip()]
    assert {row["name"] for row in rows} >= {"hbm2", "gddr5"}
    for row in read_table("memory_tech.csv"):
        given = [row[column].strip() != "" for column in
                 ("energy_pj_per_bit", "energy_year", "energy_source")]
        assert all(given) or not any(given), row["name"]
        if all(given):
            assert SOURCE.match(row["energy_source"].strip()), row["name"]
            assert 0.1 <= float(row["energy_pj_per_bit"]) <= 100, row["name"]
            assert int(row["year"]) <= int(row["energy_year"]) <= 2026, row["name"]


def test_packaging_figures_are_positive_and_dated():
    for row in read_table("packaging.csv"):
        assert float(row["value"]) > 0 and 2010 <= int(row["year"]) <= 2026, row["name"]


def test_links_do_not_exceed_their_lanes():
    for row in read_table("links.csv"):
        raw_gb_per_s = int(row["lanes"]) * float(row["lane_rate_gbit_per_s"]) / 8
        per_direction = float(row["bandwidth_gb_per_s"])
        assert 0.5 * raw_gb_per_s <= per_direction <= raw_gb_per_s * 1.001, row["name"]
        both = number(row["bidirectional_gb_per_s"])
        assert both is None or both == pytest.approx(2 * per_direction), row["name"]


def test_the_paper_figure_models_are_marked_and_moe_rows_give_active_parameters():
    # Gholami et al. (arXiv 2403.14123), model-size figure: ten labelled Transformers
    rows = [row for row in read_table("history.csv") if row["series"] == "model_params"]
    figure = [row["name"] for row in rows if row["paper_figure"] == "yes"]
    assert figure == ["Transformer (big)", "GPT-1", "BERT Large", "GPT-2", "Megatron-LM",
                      "Microsoft T-NLG", "GPT-3", "GShard", "Switch Transformer",
                      "Megatron-Turing NLG"]
    assert {row["paper_figure"] for row in read_table("history.csv")} <= {"yes", ""}
    active = {row["name"]: (float(row["value"]), float(row["active_value"]))
              for row in read_table("history.csv") if row["active_value"].strip()}
    assert set(active) == {"GShard", "Switch Transformer", "DeepSeek-V3"}  # the MoE models
    table = [row for row in read_table("history.csv") if row["series"] == "authors_table_params"]
    assert {row["source"] for row in table} == {
        "https://github.com/amirgholami/ai_and_memory_wall/blob/main/README.md"}
    assert len(table) == 11  # the README's NLP rows less Seq2Seq, ELMo (LSTMs) and RecSys
    for name, (total, used_per_token) in active.items():
        assert used_per_token < total / 10, name
        assert "MoE" in next(row["note"] for row in rows if row["name"] == name)


def test_fp32_peaks_never_exceed_the_same_gpu_in_its_deep_learning_format():
    rows = read_table("history.csv")
    best = {row["name"]: float(row["value"]) for row in rows if row["series"] == "peak_flops"}
    for row in rows:
        if row["series"] == "peak_flops_fp32" and row["name"] in best:
            assert float(row["value"]) <= best[row["name"]], row["name"]


def test_history_series_have_enough_dated_points():
    rows = read_table("history.csv")
    by_series = {}
    for row in rows:
        date = datetime.date.fromisoformat(row["date"])
        assert 1995 <= date.year <= 2026
        assert float(row["value"]) > 0
        by_series.setdefault(row["series"], []).append(date.year)
    assert set(by_series) == {"peak_flops", "peak_flops_fp32", "dram_bandwidth",
                              "interconnect_bandwidth", "model_params", "authors_table_params",
                              "accelerator_memory"}
    for series, years in by_series.items():
        # authors_table_params is one table of 2017-2020 models, not a long history
        span = 2 if series == "authors_table_params" else 7
        assert len(years) >= 7 and max(years) - min(years) >= span, series
    units = {row["series"]: row["unit"] for row in rows}
    assert units["peak_flops"] == "FLOP/s" and units["dram_bandwidth"] == "B/s"


def test_model_rows_are_consistent():
    for row in read_table("models.csv"):
        model = models.get(row["name"])  # the Model constructor validates every field
        assert 2017 <= model.year <= 2026
        assert model.max_context >= 1024
        assert model.d_model == int(row["d_model"])
        assert int(row["published_params"]) > 1e8


def test_edge_facts_have_known_units_and_years():
    for row in read_table("edge_facts.csv"):
        assert row["unit"] in edge.FACT_UNITS, row["name"]
        assert float(row["value"]) > 0 and 2010 <= int(row["year"]) <= 2026, row["name"]
