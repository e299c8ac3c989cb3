"""hardware.py: lookups in SI units, ridge points, and growth fits against the paper."""

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


@pytest.mark.parametrize("series", ["peak_flops", "dram_bandwidth", "interconnect_bandwidth",
                                    "model_params", "accelerator_memory"])
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
    # docs/growth_fits.md: model size over the paper's own table (2017-2020) is ~550x, not
    # 410x; accelerator memory is ~1.7x, not 2x. These keep the docs true to the data.
    model_size = hardware.growth_per_2_years("model_params", end_year=2021)
    assert 410 <= model_size <= 700
    assert hardware.growth_per_2_years("model_params") < 20  # slows after GPT-3
    memory = hardware.growth_per_2_years("accelerator_memory")
    assert 1.6 <= memory <= 1.8
    assert 1.6 <= hardware.growth_per_2_years("accelerator_memory", end_year=2023) <= 1.8
    ours = dict((s, f) for s, f, _ in hardware.paper_comparison())
    assert ours["model_params"] == pytest.approx(model_size)


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
