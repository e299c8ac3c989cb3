"""Benchmark: how long one dashboard update's computation takes (target: at most 50 ms).

Every dashboard is a pure function of its slider values; this times each one
over every slider position with `memwall_lab.timing.time_call` and prints the
worst median per update. Drawing the figure is not included (matplotlib's
rendering depends on the front end). Run: `python benchmarks/widget_updates.py`.
"""

from __future__ import annotations

from memwall_lab import widgets
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


def main() -> int:
    """Time every case and print the slowest against the target."""
    worst_name, worst_s = "", 0.0
    cases = [*decode_update_cases(), *kv_update_cases(), *training_update_cases(),
             *disaggregation_update_cases()]
    for name, update in cases:
        seconds = time_call(update, repeats=5, warmup=1, warn=False).median
        if seconds > worst_s:
            worst_name, worst_s = name, seconds
    verdict = "PASS" if worst_s <= TARGET_SECONDS else "MISS"
    print(f"slowest dashboard update: {worst_name}: {worst_s * 1e3:.2f} ms "
          f"(target <= {TARGET_SECONDS * 1e3:.0f} ms) {verdict}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
