"""roofline.py: the bound, the ridge point, hardware roofs and the one plot."""

import matplotlib.pyplot as plt  # conftest.py selects the non-interactive Agg backend
import numpy as np
import pytest

from memwall_lab import hardware, roofline


def test_ridge_and_attainable():
    assert roofline.ridge_point(100.0, 10.0) == 10.0
    assert roofline.attainable_flops_per_s(1.0, 100.0, 10.0) == 10.0
    assert roofline.attainable_flops_per_s(50.0, 100.0, 10.0) == 100.0
    bound = roofline.attainable_flops_per_s(np.array([1.0, 10.0, 100.0]), 100.0, 10.0)
    assert list(bound) == [10.0, 100.0, 100.0]
    with pytest.raises(ValueError, match="intensity must be positive finite numbers"):
        roofline.attainable_flops_per_s(0.0, 100.0, 10.0)
    with pytest.raises(ValueError, match="peak_flops_per_s must be a positive finite number"):
        roofline.ridge_point(0.0, 10.0)


def test_roof_from_hardware():
    roof = roofline.Roof.from_hardware(hardware.get("h100-sxm"), dtype="bf16")
    assert roof.peak_flops_per_s == pytest.approx(989e12)
    assert roof.ridge_flops_per_byte == pytest.approx(989e12 / 3.35e12)
    assert roof.attainable(roof.ridge_flops_per_byte) == pytest.approx(989e12)
    assert roof.attainable(1.0) == pytest.approx(3.35e12)
    by_name = roofline.Roof.from_hardware("tpu-v5e", dtype="int8")
    assert by_name.peak_flops_per_s == pytest.approx(393e12)
    with pytest.raises(ValueError, match=r"v100 has no 'bf16' peak in the table \(has: fp32, "
                                         r"fp16\)"):
        roofline.Roof.from_hardware("v100", dtype="bf16")


def test_roof_rejects_bad_numbers():
    with pytest.raises(ValueError, match="peak_flops_per_s must be a positive finite number"):
        roofline.Roof("bad", -1.0, 1e9)
    with pytest.raises(ValueError,
                       match="bandwidth_bytes_per_s must be a positive finite number, got inf"):
        roofline.Roof("bad", 1e12, float("inf"))
    with pytest.raises(ValueError, match="Roof name must be a string"):
        roofline.Roof(None, 1e12, 1e9)


def test_kernel_on_roof():
    roof = roofline.Roof("toy", 100.0, 10.0)  # ridge at 100 / 10 = 10 FLOP/byte
    assert roofline.kernel_on_roof("gemv", 0.5, roof).flops_per_s == 5.0  # 0.5 x 10 B/s
    assert roofline.kernel_on_roof("gemm", 50.0, roof).flops_per_s == 100.0  # at the roof
    with pytest.raises(ValueError, match="intensity must be positive finite numbers"):
        roofline.kernel_on_roof("bad", -1.0, roof)


def test_plot_several_devices_with_kernels():
    roofs = [roofline.Roof.from_hardware(name) for name in ("h100-sxm", "a100-80gb", "mi300x")]
    kernels = [roofline.KernelPoint("decode GEMV", 1.0, 1e12),
               roofline.kernel_on_roof("prefill GEMM", 2000.0, roofs[0])]
    fig = roofline.plot(roofs, kernels, title="Three accelerators")
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    texts = [t.get_text() for t in ax.texts]
    assert "decode GEMV" in texts and "prefill GEMM" in texts
    assert sum(text.startswith("ridge") for text in texts) == 3
    assert len(ax.get_legend().get_texts()) == 3
    plt.close(fig)
    with pytest.raises(ValueError, match="plot needs a non-empty list of Roof"):
        roofline.plot([])


@pytest.mark.parametrize("call", [
    lambda: roofline.attainable_flops_per_s(1.0, -5.0, 1.0),  # was -5.0
    lambda: roofline.attainable_flops_per_s(1.0, 100.0, float("nan")),
    lambda: roofline.attainable_flops_per_s(1.0, "100", 10.0),  # was a numpy TypeError
    lambda: roofline.attainable_flops_per_s(None, 100.0, 10.0),  # was nan
    lambda: roofline.attainable_flops_per_s("2", 100.0, 10.0),
    lambda: roofline.attainable_flops_per_s(np.array([1.0, np.nan]), 100.0, 10.0),
    lambda: roofline.attainable_flops_per_s(np.array([1.0, np.inf]), 100.0, 10.0),
    lambda: roofline.ridge_point(float("nan"), 1.0),  # was nan
    lambda: roofline.ridge_point(100.0, None),
])
def test_bad_roofline_numbers_raise_value_error(call):
    with pytest.raises(ValueError, match="positive finite"):
        call()


def test_numpy_numbers_work_and_are_stored_as_floats():
    roof = roofline.Roof("me", np.float32(1e11), 2e10)
    assert type(roof.peak_flops_per_s) is float
    assert roof.ridge_flops_per_byte == pytest.approx(5.0, rel=1e-6)  # 1e11 / 2e10
    assert roofline.attainable_flops_per_s(np.float32(2.0), np.int64(100), 10.0) == 20.0
    assert roofline.attainable_flops_per_s(np.array([1, 20]), 100.0, 10.0).tolist() == [10.0,
                                                                                         100.0]


INTENSITY = "intensity_flops_per_byte must be a positive finite number, got "


@pytest.mark.parametrize("fields, message", [
    (("k", 0.0, 1e9), INTENSITY + "0.0"),
    (("k", -1.0, 1e9), INTENSITY + "-1.0"),
    (("k", float("nan"), 1e9), INTENSITY + "nan"),
    (("k", 1.0, 0.0), "flops_per_s must be a positive finite number, got 0.0"),
    (("k", None, 1e9), INTENSITY + "None"),
    ((None, 1.0, 1e9), r"KernelPoint name must be a string \(the plot label\), got None"),
])
def test_kernel_points_need_a_name_and_positive_finite_numbers(fields, message):
    with pytest.raises(ValueError, match=message):
        roofline.KernelPoint(*fields)


@pytest.mark.parametrize("intensity_range", [(0.0, 10.0), (10.0, 1.0), (1.0, float("inf")),
                                             (1.0,), 5.0])
def test_plot_rejects_a_bad_intensity_range(intensity_range):
    roof = roofline.Roof("toy", 100.0, 10.0)
    open_figures = len(plt.get_fignums())
    with pytest.raises(ValueError, match="intensity_range"):
        roofline.plot([roof], intensity_range=intensity_range)
    assert len(plt.get_fignums()) == open_figures, "no figure is opened for bad input"


def test_plot_rejects_what_is_not_a_roof_or_a_kernel():
    roof = roofline.Roof("toy", 100.0, 10.0)
    with pytest.raises(ValueError, match="Roof"):
        roofline.plot([roof, "h100-sxm"])
    with pytest.raises(ValueError, match="KernelPoint"):
        roofline.plot([roof], [("gemv", 0.0, 1.0)])
