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
    with pytest.raises(ValueError):
        roofline.attainable_flops_per_s(0.0, 100.0, 10.0)
    with pytest.raises(ValueError):
        roofline.ridge_point(0.0, 10.0)


def test_roof_from_hardware():
    roof = roofline.Roof.from_hardware(hardware.get("h100-sxm"), dtype="bf16")
    assert roof.peak_flops_per_s == pytest.approx(989e12)
    assert roof.ridge_flops_per_byte == pytest.approx(989e12 / 3.35e12)
    assert roof.attainable(roof.ridge_flops_per_byte) == pytest.approx(989e12)
    assert roof.attainable(1.0) == pytest.approx(3.35e12)
    by_name = roofline.Roof.from_hardware("tpu-v5e", dtype="int8")
    assert by_name.peak_flops_per_s == pytest.approx(393e12)
    with pytest.raises(ValueError):
        roofline.Roof.from_hardware("v100", dtype="bf16")


def test_roof_rejects_bad_numbers():
    with pytest.raises(ValueError):
        roofline.Roof("bad", -1.0, 1e9)
    with pytest.raises(ValueError):
        roofline.Roof("bad", 1e12, float("inf"))


def test_kernel_on_roof():
    roof = roofline.Roof("toy", 100.0, 10.0)
    assert roofline.kernel_on_roof("gemv", 0.5, roof).flops_per_s == 5.0


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
    with pytest.raises(ValueError):
        roofline.plot([])
