"""Benchmark: does the tiny transformer run at this machine's roofline?

Lesson 03 teaches that a decode step is paced by bandwidth and a prefill by
FLOP/s. That lesson is only true on this machine if the course's own decoder
gets close to both limits, so this script measures, in one run:

- this machine's copy bandwidth (every usable CPU) and fp32 matmul peak (memwall_lab.measure);
- a decode step of a model whose weights are >= 4x the last-level cache,
  reported as bytes moved per second (weights + KV cache read and written);
- a prefill of the same model, reported as FLOP/s;

and prints the ratios against the targets: decode >= 0.7x copy bandwidth,
prefill >= 0.5x matmul peak. A report, not a test: it always exits 0.
Run from the repository root: `python benchmarks/decode_roofline.py [--quick]`.
"""

from __future__ import annotations

import argparse

from memwall_lab import inference, machine, machine_state, measure
from memwall_lab.units import format_bytes, format_rate, format_seconds

DECODE_TARGET = 0.7
PREFILL_TARGET = 0.5


def model_for_this_machine(quick: bool) -> inference.TransformerConfig:
    """A config with weights >= 4x the last-level cache, within the memory budget."""
    last_level = machine.describe().last_level_cache_bytes or 8 * 1024**2
    weight_bytes = max(4 * last_level, 64 * 1024**2)
    if not quick:
        weight_bytes *= 2
    weight_bytes = min(weight_bytes, measure.memory_budget_bytes() // 2)
    return inference.TransformerConfig.sized_for(weight_bytes, max_context=2048)


def row(name: str, measured: float, reference: float, unit: str, target: float) -> str:
    """One table line: measured, reference, ratio and whether the target is met."""
    ratio = measured / reference
    verdict = "PASS" if ratio >= target else "MISS"
    return (f"{name:<34} {format_rate(measured, unit):>14} {format_rate(reference, unit):>14}"
            f" {ratio:7.2f}   >= {target:<4} {verdict}")


def main(argv: list[str] | None = None) -> int:
    """Measure the references and the decoder, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats, a smaller model")
    args = parser.parse_args(argv)
    config = model_for_this_machine(args.quick)
    info = machine.describe()
    limit = f" ({info.cpu_limit})" if info.cpu_limit else ""
    print(f"machine: {info.cpu_model}, {info.logical_cores} logical cores, "
          f"{info.usable_cpus} usable{limit}, "
          f"LLC {format_bytes(info.last_level_cache_bytes or 0)}, BLAS {info.blas}")
    print(machine_state.assess().line())
    print(f"model:   {config.layers} layers, d_model {config.d_model}, ffn {config.ffn}, "
          f"weights {format_bytes(config.weight_bytes)} ({config.dtype})\n")

    repeats = 3 if args.quick else 10
    copy = measure.bandwidth("copy", quick=args.quick)
    peak = measure.peak_flops("fp32", quick=args.quick)
    model = inference.TinyTransformer(config)
    # No more BLAS threads than usable CPUs: importing measure held the BLAS to that already.
    decode = inference.benchmark_decode(model, batch=1, context_len=256, repeats=4 * repeats)
    prefill = inference.benchmark_prefill(model, batch=1, prompt_len=512, repeats=repeats)

    print(f"decode step:  {format_seconds(decode.seconds_per_step)}, "
          f"{format_bytes(decode.cost.bytes_moved)} moved, "
          f"{decode.cost.intensity_flops_per_byte:.2f} FLOP/byte")
    print(f"prefill (512 tokens): {format_seconds(prefill.seconds_per_step)}, "
          f"{prefill.cost.intensity_flops_per_byte:.0f} FLOP/byte\n")
    print(f"{'quantity':<34} {'memwall_lab':>14} {'reference':>14} {'ratio':>7}   target")
    print(row("decode bytes/s vs copy bandwidth", decode.bytes_per_s, copy.best, "B/s",
              DECODE_TARGET))
    print(row("prefill FLOP/s vs fp32 matmul peak", prefill.flops_per_s, peak.best, "FLOP/s",
              PREFILL_TARGET))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
