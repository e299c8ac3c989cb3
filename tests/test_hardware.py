"""hardware.py: lookups in SI units, ridge points, and growth fits against the paper."""

import datetime
import itertools

import numpy as np
import pytest

import memwall_lab.hardware as hardware

REQUIRED_ACCELERATORS = {
    "v100", "a100-40gb", "a100-80gb", "h100-sxm", "h200", "b200", "gb200", "mi250x", "mi300x",
    "mi325x", "tpu-v4", "tpu-v5e", "tpu-v5p", "tpu-v6e", "gaudi2", "gaudi3",
}


def test_h100_in_si_units():
    h100 = hardware.get("h100-sxm")
    assert h100.bandwidth_bytes_per_s == pytest.approx(3.35e12)
    assert h100.capacity_bytes == pytest.approx(80e9)
    assert h100.peak_flops_per_s["bf16"] == pytest.approx(989e12)
    assert h100.peak_flops_per_s["fp8"] == pytest.approx(1979e12)
    assert h100.year == 2022 and h100.source.startswith("http")
    assert h100.ridge_flops_per_byte("bf16") == pytest.approx(989e12 / 3.35e12)  # ~295
    assert h100.bytes_per_flop("bf16") == pytest.approx(3.35e12 / 989e12)


def test_ridge_points_of_the_facts_sheet():
    expected = {"a100-80gb": 153, "h200": 206, "b200": 281, "mi300x": 247, "tpu-v5e": 241}
    for name, ridge in expected.items():
        assert hardware.get(name).ridge_flops_per_byte("bf16") == pytest.approx(ridge, rel=0.01)


def test_get_is_case_insensitive_and_unknown_names_suggest():
    assert hardware.get("H100-SXM") is hardware.get("h100-sxm")
    assert hardware.get("m2_max").name == "m2-max"
    with pytest.raises(ValueError, match="h100-sxm"):
        hardware.get("h100")
    with pytest.raises(ValueError, match="hardware name must be a string, got None"):
        hardware.get(None)


def test_missing_dtype_raises():
    v100 = hardware.get("v100")
    assert "bf16" not in v100.peak_flops_per_s
    with pytest.raises(ValueError, match="fp16"):
        v100.peak("bf16")


def test_peak_dicts_use_course_dtypes_and_cannot_be_changed():
    for name in hardware.names():
        peaks = hardware.get(name).peak_flops_per_s
        assert peaks and set(peaks) <= set(hardware.DTYPES), name
    with pytest.raises(TypeError):
        hardware.get("h100-sxm").peak_flops_per_s["bf16"] = 1.0


def test_names_by_kind():
    assert set(hardware.names(kind="datacenter")) >= REQUIRED_ACCELERATORS
    laptops = set(hardware.names(kind="laptop"))
    assert {"m1", "m1-max", "m2", "m2-max", "m3", "m3-max", "m4", "m4-max"} <= laptops
    assert hardware.names("phone") and hardware.names("edge") and hardware.names("desktop")
    assert len(hardware.names()) == sum(len(hardware.names(k)) for k in hardware.KINDS)
    with pytest.raises(ValueError, match="laptop"):
        hardware.names(kind="laptops")


def test_memory_tech_pins_times_rate():
    hbm3 = hardware.memory_tech("hbm3")  # memory_tech.csv: 6.4 Gbit/s per pin, 1024 bits
    assert hbm3.per_pin_bits_per_s == pytest.approx(6.4e9)
    assert hbm3.interface_bits == 1024
    assert hbm3.pins_times_rate_bytes_per_s == pytest.approx(1024 * 6.4e9 / 8) == 819.2e9
    assert hbm3.bandwidth_bytes_per_s == pytest.approx(819.2e9)  # the table's 819.2 GB/s
    # a 64-bit DDR5-4800 channel: 64 x 4.8e9 / 8 = 38.4 GB/s; HBM4 2048 x 8e9 / 8 = 2048 GB/s
    assert hardware.memory_tech("ddr5-4800").pins_times_rate_bytes_per_s == pytest.approx(38.4e9)
    assert hardware.memory_tech("hbm4").pins_times_rate_bytes_per_s == pytest.approx(2048e9)
    hbm4 = hardware.memory_tech("HBM4")
    assert hbm4.interface_bits == 2048
    assert set(hardware.memory_tech_names("HBM")) == {"hbm", "hbm2", "hbm2e", "hbm3", "hbm3e",
                                                      "hbm4"}
    with pytest.raises(ValueError, match="hbm3"):
        hardware.memory_tech("hbm3x")


def test_links():
    pcie5 = hardware.link("pcie5-x16")
    assert pcie5.bandwidth_bytes_per_s == pytest.approx(16 * 32e9 * 128 / 130 / 8, rel=0.01)
    assert hardware.link("nvlink4").bidirectional_bytes_per_s == pytest.approx(900e9)
    assert {"nvme-gen4", "nvme-gen5", "infiniband-ndr", "cxl2-x16"} <= set(hardware.link_names())
    with pytest.raises(ValueError, match="pcie4-x16"):
        hardware.link("pcie4")


def test_history_years_are_decimal():
    point = hardware.history("peak_flops")[0]
    assert point.year == pytest.approx(2006 + (311 / 365), abs=1e-9)  # 8 Nov 2006
    with pytest.raises(ValueError, match="peak_flops"):
        hardware.history("peak_flop")


@pytest.mark.parametrize("series", ["peak_flops", "peak_flops_fp32", "dram_bandwidth",
                                    "interconnect_bandwidth", "model_params",
                                    "accelerator_memory"])
def test_fit_matches_numpy_polyfit(series):
    points = hardware.history(series)
    slope = np.polyfit([p.year for p in points], np.log([p.value for p in points]), 1)[0]
    assert hardware.growth_per_2_years(series) == pytest.approx(np.exp(2 * slope), rel=1e-9)


@pytest.mark.parametrize("name", hardware.memory_tech_names())
def test_every_memory_tech_row_is_pins_times_rate(name):
    # the tables print bandwidth rounded (e.g. DDR3-2133: 64 x 2.133 / 8 = 17.064, table 17.06)
    tech = hardware.memory_tech(name)
    assert tech.pins_times_rate_bytes_per_s == pytest.approx(tech.bandwidth_bytes_per_s,
                                                             rel=1e-3)


def test_growth_fit_per_year_and_the_paper_factor():
    fit = hardware.fit_growth("peak_flops")
    assert fit.series == "peak_flops" and fit.n_points == 10  # history.csv: 10 rows, 2006-2024
    assert fit.factor_per_year == pytest.approx(fit.factor_per_2_years ** 0.5, rel=1e-12)
    assert fit.factor_per_year**2 == pytest.approx(fit.factor_per_2_years, rel=1e-12)
    # "AI and Memory Wall" (Gholami et al., arXiv 2403.14123): peak FLOPS 3.0x per 2 years,
    # DRAM bandwidth 1.6x, interconnect 1.4x
    assert fit.paper_factor_per_2_years == 3.0
    assert hardware.fit_growth("dram_bandwidth").paper_factor_per_2_years == 1.6
    assert hardware.fit_growth("interconnect_bandwidth").paper_factor_per_2_years == 1.4
    # 8800 GTX (2006-11-08) to B200 (2024-03-18)
    assert fit.first_year == pytest.approx(2006 + 311 / 365)
    assert fit.last_year == pytest.approx(2024 + 77 / 366)


@pytest.mark.parametrize("series", ["peak_flops", "dram_bandwidth", "interconnect_bandwidth"])
def test_hardware_growth_reproduces_the_paper(series):
    paper = hardware.PAPER_GROWTH_PER_2_YEARS[series]
    in_paper_window = hardware.growth_per_2_years(series, *hardware.PAPER_WINDOWS[series])
    assert in_paper_window == pytest.approx(paper, rel=0.05)  # data up to 2022, as the paper
    assert hardware.growth_per_2_years(series) == pytest.approx(paper, rel=0.10)  # to 2024


def test_growth_where_our_data_differs_is_as_documented():
    # docs/growth_fits.md: model size over the paper's figure (2017-2021) is ~370x, the
    # paper 410x; accelerator memory is ~1.7x, not 2x. These keep the docs true to the data.
    model_size = hardware.growth_per_2_years("model_params",
                                             *hardware.PAPER_WINDOWS["model_params"])
    assert 370 <= model_size <= 410
    assert hardware.growth_per_2_years("model_params") < 20  # slows after the figure
    memory = hardware.growth_per_2_years("accelerator_memory")
    assert 1.6 <= memory <= 1.8
    assert 1.6 <= hardware.growth_per_2_years("accelerator_memory", end_year=2023) <= 1.8
    ours = dict((s, f) for s, f, _ in hardware.paper_comparison())
    assert ours["model_params"] == pytest.approx(model_size)


def decimal_year(iso_date):
    """2020-05-28 -> 2020 + 148/366, computed here independently of HistoryPoint.year."""
    date = datetime.date.fromisoformat(iso_date)
    new_year = datetime.date(date.year, 1, 1).toordinal()
    days = datetime.date(date.year + 1, 1, 1).toordinal() - new_year
    return date.year + (date.toordinal() - new_year) / days


# The ten models labelled in the paper's model-size figure, typed from their sources:
# the authors' README table (amirgholami/ai_and_memory_wall), arXiv 2101.03961 (Switch-C,
# Table 9) and the MT-NLG announcement; GLaM (arXiv 2112.06905) Table 1 for active counts.
PAPER_FIGURE = [("2017-12-06", 65e6), ("2018-06-11", 110e6), ("2018-10-11", 330e6),
                ("2019-02-14", 1.5e9), ("2019-08-17", 8.3e9), ("2020-02-13", 17e9),
                ("2020-05-28", 175e9), ("2020-06-30", 600e9), ("2021-01-11", 1571e9),
                ("2021-10-11", 530e9)]


def polyfit_per_2_years(points):
    slope = np.polyfit([decimal_year(d) for d, _ in points], np.log([v for _, v in points]), 1)[0]
    return float(np.exp(2 * slope))


def test_a_two_point_fit_is_the_ratio_to_the_power_two_over_the_years():
    gpt3, mt_nlg = (next(p for p in hardware.history("model_params") if p.name == name)
                    for name in ("GPT-3", "Megatron-Turing NLG"))
    # GPT-3 175B on 2020-05-28 (day 148 of 366), MT-NLG 530B on 2021-10-11 (day 283 of 365)
    by_hand = (530e9 / 175e9) ** (2 / ((2021 + 283 / 365) - (2020 + 148 / 366)))
    assert hardware.fit_points([gpt3, mt_nlg]).factor_per_2_years == pytest.approx(by_hand,
                                                                                rel=1e-12)
    assert hardware.fit_points([mt_nlg, gpt3]).factor_per_2_years == pytest.approx(by_hand)
    with pytest.raises(ValueError, match="need at least 2 points"):
        hardware.fit_points([gpt3])


def test_the_paper_figure_ten_models_reproduce_its_410x_within_10_percent():
    figure = hardware.paper_figure_points()
    assert [(str(p.date), p.value) for p in figure] == PAPER_FIGURE
    ten = hardware.fit_points(figure).factor_per_2_years
    assert ten == pytest.approx(polyfit_per_2_years(PAPER_FIGURE), rel=1e-9)
    assert 370 <= ten <= 410 and ten == pytest.approx(410, rel=0.10)
    # the paper's window holds exactly the figure's models
    window = [p for p in hardware.history("model_params")
              if p.year < hardware.PAPER_WINDOWS["model_params"][1]]
    assert window == figure
    # the seven dense models of the authors' table alone: ~550x
    assert 540 <= polyfit_per_2_years(PAPER_FIGURE[:7]) <= 560


def test_every_transformer_of_the_authors_table_gives_the_blog_versions_240x():
    # amirgholami/ai_and_memory_wall README, "NLP Models": every Transformer row (not Seq2Seq
    # or ELMo, which are LSTMs, nor the RecSys rows); the 2021 blog version says 240x
    table = [("2017-12-06", 65e6), ("2018-06-11", 110e6), ("2018-10-11", 330e6),
             ("2019-02-14", 1500e6), ("2019-07-26", 1500e6), ("2019-08-17", 8300e6),
             ("2019-09-26", 235e6), ("2020-02-13", 17000e6), ("2020-03-23", 330e6),
             ("2020-05-28", 175000e6), ("2020-06-30", 600000e6)]
    points = hardware.history("authors_table_params")
    assert [(str(p.date), p.value) for p in points] == table
    by_numpy = polyfit_per_2_years(table)
    assert hardware.fit_points(points).factor_per_2_years == pytest.approx(by_numpy, rel=1e-9)
    assert by_numpy == pytest.approx(hardware.BLOG_2021_MODEL_PARAMS_PER_2_YEARS, rel=0.02)


def test_counting_moe_models_by_active_parameters():
    active = PAPER_FIGURE[:7] + [("2020-06-30", 1.5e9), ("2021-01-11", 1.5e9), PAPER_FIGURE[9]]
    counted = hardware.counted_per_token(hardware.paper_figure_points())
    assert [p.value for p in counted] == [v for _, v in active]
    assert hardware.fit_points(counted).factor_per_2_years == pytest.approx(
        polyfit_per_2_years(active), rel=1e-9)
    assert 40 <= polyfit_per_2_years(active) <= 60


def test_which_rows_are_kept_moves_the_model_size_rate_tenfold():
    by_numpy = sorted(polyfit_per_2_years([PAPER_FIGURE[i] for i in kept])
                      for kept in itertools.combinations(range(10), 8))
    fits = hardware.selection_fits(hardware.paper_figure_points(), keep=8)
    assert len(fits) == 45  # 10 choose 8
    assert [rate for rate, _ in fits] == pytest.approx(by_numpy, rel=1e-9)
    (lowest, low_dropped), (highest, high_dropped) = fits[0], fits[-1]
    assert 180 <= lowest <= 200 and 1800 <= highest <= 2000
    assert [p.name for p in low_dropped] == ["GShard", "Switch Transformer"]
    assert [p.name for p in high_dropped] == ["Transformer (big)", "Megatron-Turing NLG"]
    with pytest.raises(ValueError, match="keep"):
        hardware.selection_fits(hardware.paper_figure_points(), keep=11)


def test_fp32_and_the_cpu_start_move_the_compute_rate():
    fp32 = [("2006-11-08", 345.6e9), ("2008-06-16", 622e9), ("2010-03-26", 1345e9),
            ("2012-11-12", 3.935e12), ("2014-11-17", 8.74e12), ("2016-04-05", 10.6e12),
            ("2017-05-10", 15.7e12), ("2020-05-14", 19.5e12), ("2022-03-22", 67e12)]
    assert 1.85 <= polyfit_per_2_years(fp32) <= 1.95  # vs 3.0x in the formats DL uses
    r10000 = ("1996-01-01", 195e6 * 2)  # 195 MHz, one add + one multiply per clock
    deep_learning = [(str(p.date), p.value) for p in hardware.history("peak_flops")
                     if p.year < 2023]
    rows = {row.choice: row for row in hardware.compute_sensitivity()}
    assert [row.factor_per_2_years for row in rows.values()][:4] == pytest.approx(
        [polyfit_per_2_years(deep_learning), polyfit_per_2_years(fp32),
         polyfit_per_2_years([r10000] + deep_learning), polyfit_per_2_years([r10000] + fp32)],
        rel=1e-9)


def test_every_sensitivity_row_says_its_choice_rate_and_effect():
    rows = hardware.sensitivity()
    assert {row.series for row in rows} == {"model_params", "peak_flops"}
    for row in rows:
        assert row.choice and row.effect and row.factor_per_2_years > 1
    model_rates = [row.factor_per_2_years for row in rows if row.series == "model_params"]
    assert max(model_rates) / min(model_rates) > 100  # 14x to 1,900x
    compute_rates = [row.factor_per_2_years for row in rows if row.series == "peak_flops"]
    assert min(compute_rates) < 2.0 < 3.0 < max(compute_rates)


def test_fit_needs_two_points():
    # history.csv has one peak_flops point from 2024 on (B200, 2024-03-18) and none after 2025
    with pytest.raises(ValueError,
                       match="need at least 2 points of 'peak_flops' in that window, got 1"):
        hardware.fit_growth("peak_flops", start_year=2024)
    with pytest.raises(ValueError, match="need at least 2 points .* got 0"):
        hardware.fit_growth("peak_flops", start_year=2025)


def test_memory_families_are_case_insensitive_like_other_lookups():
    hbm = {"hbm", "hbm2", "hbm2e", "hbm3", "hbm3e", "hbm4"}
    assert set(hardware.memory_tech_names("hbm")) == hbm
    assert set(hardware.memory_tech_names(" Hbm ")) == hbm
    with pytest.raises(ValueError, match=r"Closest: HBM\."):  # the hint keeps the table's case
        hardware.memory_tech_names("hbx")
    with pytest.raises(ValueError, match="Known: DDR, GDDR, HBM, LPDDR"):
        hardware.memory_tech_names(3)


def test_closest_names_match_whatever_the_case_of_the_known_names():
    error = hardware.closest_error("thing", "alpha", ["ALPHA", "Beta"])
    assert "Closest: ALPHA." in str(error)


@pytest.mark.parametrize("years", [{"start_year": "2010"}, {"end_year": "2023"},
                                   {"start_year": float("nan")}])
def test_fit_growth_years_must_be_numbers(years):
    with pytest.raises(ValueError, match="year must be a positive finite number"):
        hardware.fit_growth("peak_flops", **years)


def test_fit_growth_takes_numpy_years():
    numpy_year = hardware.fit_growth("peak_flops", end_year=np.float64(2023.0))
    assert numpy_year == hardware.fit_growth("peak_flops", end_year=2023.0)


def test_full_reads_per_s_is_bandwidth_over_capacity_by_hand():
    # H100 SXM: 3,350 GB/s over 80 GB = 41.875 reads of the whole memory per second
    assert hardware.full_reads_per_s("h100-sxm") == pytest.approx(3350 / 80)
    assert hardware.full_reads_per_s(hardware.get("v100")) == pytest.approx(900 / 32)
    assert hardware.full_reads_per_s("m1") == pytest.approx(68.25 / 16)
    # a memory technology per stack: HBM2 256 GB/s over 8 GB, the first HBM 128 GB/s over 1 GB
    assert hardware.full_reads_per_s("hbm2") == pytest.approx(32.0)
    assert hardware.full_reads_per_s(hardware.memory_tech("hbm")) == pytest.approx(128.0)
    with pytest.raises(ValueError, match="bandwidth_bytes_per_s and capacity_bytes"):
        hardware.full_reads_per_s(3.0)
    with pytest.raises(ValueError, match="h100-sxm"):
        hardware.full_reads_per_s("h100")


def test_energy_per_bit_is_in_joules_with_its_source():
    hbm2 = hardware.memory_tech("hbm2")
    assert hbm2.energy_joules_per_bit == pytest.approx(3.9e-12)
    assert hbm2.energy_year == 2017 and "micro2017" in hbm2.energy_source
    assert hardware.memory_tech("gddr5").energy_joules_per_bit == pytest.approx(14e-12)
    assert hardware.memory_tech("hbm3").energy_joules_per_bit is None  # no sourced figure


def test_packaging_figures():
    assert hardware.packaging("reticle-limit").value == 858
    assert hardware.packaging("h100-sxm-hbm-stacks").value == 5
    assert "b200-hbm-stacks" in hardware.packaging_names()
    with pytest.raises(ValueError, match="reticle-limit"):
        hardware.packaging("reticle")
