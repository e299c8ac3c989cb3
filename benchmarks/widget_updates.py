"""Benchmark: how long one dashboard update's computation takes (target: at most 50 ms).

Every dashboard is a pure function of its controls' values; this times each one
over its slider positions with `memwall_lab.timing.time_call` and prints, per
dashboard, the slowest median per update. Drawing the figure and the browser are
not included: `dashboard_latency.py` times what the student waits for in
JupyterLab, with this figure beside it. Run: `python benchmarks/widget_updates.py`.
"""

from __future__ import annotations

from memwall_lab import comm_widgets, moe, widgets
from memwall_lab.roofline import Roof
from memwall_lab.timing import time_call

TARGET_SECONDS = 0.050


def decode_update_cases():
    """(name, function) for every model x batch position of the lesson 03 dashboard."""
    roofs = [Roof("laptop", 2e11, 5e10), Roof.from_hardware("h100-sxm")]
    for model_name in widgets.DECODE_MODELS:
        for batch in widgets.BATCH_CHOICES:
            def update(model_name=model_name, batch=batch):
                readings = widgets.decode_readings(model_name, batch, 4096, roofs)
                return widgets.describe_decode(model_name, batch, 4096, readings)
            yield f"decode {model_name} batch {batch}", update


def kv_update_cases():
    """(name, function) for lesson 04's dashboard over every context position, two extremes."""
    for context_len in widgets.KV_CONTEXT_CHOICES:
        yield f"kv llama-3-70b context {context_len}", lambda c=context_len: widgets.describe_kv(
            widgets.kv_readings("llama-3-70b", c, 8, "fp16", "published"))
    yield "kv deepseek-v3 1M context, batch 1024, as MHA", lambda: widgets.describe_kv(
        widgets.kv_readings("deepseek-v3", 2**20, 1024, "int4", "mha"))


def moe_update_cases():
    """(name, function) for lesson 04's MoE dashboard over its batch positions."""
    for model_name in moe.MOE_MODELS:
        for batch in moe.BATCH_CHOICES:
            yield f"moe {model_name} batch {batch}", lambda m=model_name, b=batch: (
                moe.describe_moe(moe.moe_reading(m, b)))


def training_update_cases():
    """(name, function) for lesson 05's dashboard: a dataset model and a bare 1T count."""
    yield "training deepseek-v3", lambda: widgets.describe_training(
        widgets.training_readings("deepseek-v3", "adam", "mixed", 1, 2048))
    yield "training 1e12 parameters", lambda: widgets.describe_training(
        widgets.training_readings(1e12, "adam", "mixed"))


def disaggregation_update_cases():
    """(name, function) for lesson 06's dashboard: a typical and an extreme setting."""
    for prompt, output, link in ((8192, 256, "infiniband-ndr"), (32768, 1024, "pcie4-x16")):
        yield (f"disaggregation prompt {prompt}, output {output}, {link}",
               lambda p=prompt, o=output, k=link: widgets.describe_disaggregation(
                   widgets.disaggregation_reading(p, o, k)))


def parallel_update_cases():
    """(name, function) for lesson 09's dashboard: decode and prefill at two splits."""
    for phase in ("decode", "prefill"):
        for devices in (8, 64):
            yield f"parallel llama-3-70b {phase} on {devices}", lambda p=phase, d=devices: (
                comm_widgets.describe_parallel(comm_widgets.parallel_step(
                    "llama-3-70b", "h100-sxm", "nvlink4", d, 16, 4096, p),
                    "llama-3-70b", "h100-sxm"))


CASES = {"decode": decode_update_cases, "kv": kv_update_cases, "moe": moe_update_cases,
         "training": training_update_cases, "disaggregation": disaggregation_update_cases,
         "parallel": parallel_update_cases}


def slowest_by_dashboard() -> dict[str, float]:
    """Dashboard name -> the slowest case's median seconds per update."""
    return {name: max(time_call(update, repeats=5, warmup=1, warn=False).median
                      for _, update in cases())
            for name, cases in CASES.items()}


def main() -> int:
    """Time every case and print each dashboard's slowest against the target."""
    slowest = slowest_by_dashboard()
    for name, seconds in slowest.items():
        verdict = "PASS" if seconds <= TARGET_SECONDS else "MISS"
        print(f"{name:<16} slowest update {seconds * 1e3:7.2f} ms "
              f"(target <= {TARGET_SECONDS * 1e3:.0f} ms) {verdict}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
