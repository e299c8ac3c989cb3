"""Benchmark: does memwall_lab.gpu measure a GPU close to its spec sheet?

Where PyTorch (CUDA/ROCm) or CuPy reaches a GPU, this script measures, in one
run of a minute or two:

- the device and the dataset part it matches (`gpu.match_hardware`);
- device copy bandwidth, counting bytes read + written, / the spec bandwidth;
- matmul FLOP/s for fp32 / bf16 / fp16 at n = 4096, 8192, 16384 (the best one,
  on the plateau) / the dense spec peak;
- host -> device and device -> host bandwidth, pinned and pageable, / the host link;
- a decode-like GEMV at batch 1..256: the batch where it turns compute-bound,
  next to the ridge point the dataset predicts (for 2-byte weights the GEMV's
  intensity in FLOP/byte is about its batch, so it should turn near batch = ridge).

Targets on an H100 SXM: copy >= 0.85 x 3.35 TB/s, bf16 matmul >= 0.7 x 989 TFLOP/s.
Without a GPU it prints 'no GPU backend found' and exits 0. A report, not a test:
exit status 0 when the report was printed (targets met or not), 1 if a measurement failed.
Run from the repository root: `python benchmarks/gpu_check.py [--quick]`.
"""

from __future__ import annotations

import argparse
import sys

from memwall_lab import gpu, hardware
from memwall_lab.units import format_bytes, format_rate, format_seconds

COPY_TARGET = 0.85
MATMUL_TARGET = 0.7
MATMUL_SIZES = (4096, 8192, 16384)


def _ratio(measured: float, spec: float | None, target: float | None = None) -> str:
    """'0.91 x spec' (with the target's verdict), or '' without a spec figure."""
    if not spec:
        return ""
    text = f"{measured / spec:5.2f} x spec"
    if target is not None:
        text += f"  (target >= {target}: {'met' if measured / spec >= target else 'MISSED'})"
    return text


def check_memory(backend, spec, quick: bool) -> float:
    """Print copy and triad bandwidth; return the copy bandwidth in bytes/s."""
    copy = gpu.copy_bandwidth(backend, quick=quick)
    triad = gpu.triad_bandwidth(backend, quick=quick)
    spec_bandwidth = spec.bandwidth_bytes_per_s if spec else None
    print(f"\ndevice memory ({format_bytes(copy.size_bytes)} per array; spec "
          f"{format_rate(spec_bandwidth, 'B/s') if spec else 'unknown'})")
    print(f"  copy  (read + written) {format_rate(copy.best, 'B/s'):>12}  "
          f"{_ratio(copy.best, spec_bandwidth, COPY_TARGET)}")
    print(f"  triad (2 read + 1 written) {format_rate(triad.best, 'B/s'):>8}  "
          f"{_ratio(triad.best, spec_bandwidth)}")
    return copy.best


def check_matmul(backend, spec, quick: bool) -> dict[str, float]:
    """Print the best matmul FLOP/s of each dtype over the sizes; return them."""
    sizes = MATMUL_SIZES[:2] if quick else MATMUL_SIZES
    best = {}
    print("\nmatmul (2 n^3 FLOPs), best over n = " + ", ".join(map(str, sizes)))
    for dtype in gpu.MATMUL_DTYPES:
        if dtype not in backend.dtypes:
            print(f"  {dtype:<5} not offered by the {backend.name} backend")
            continue
        runs = [gpu.matmul_flops(dtype, n=n, backend=backend, quick=quick) for n in sizes]
        top = max(runs, key=lambda r: r.best)
        best[dtype] = top.best
        spec_peak = spec.peak_flops_per_s.get(dtype) if spec else None
        target = MATMUL_TARGET if dtype == "bf16" else None
        per_size = ", ".join(f"{r.details['n']}: {r.best / 1e12:.0f}" for r in runs)
        print(f"  {dtype:<5} {format_rate(top.best, 'FLOP/s'):>14}  "
              f"{_ratio(top.best, spec_peak, target)}   (TFLOP/s by n: {per_size})")
    return best


def check_link(backend, spec, quick: bool) -> None:
    """Print host <-> device bandwidth, pinned and pageable, beside the host link's spec."""
    link_name = gpu.host_link_name(spec.name if spec else None)
    link = hardware.link(link_name) if link_name else None
    spec_text = link_name or "unknown"
    if link:
        spec_text += f", {format_rate(link.bandwidth_bytes_per_s, 'B/s')} per direction"
    print(f"\nhost link (spec: {spec_text})")
    for direction in ("to_device", "to_host"):
        for pinned in (True, False):
            result = gpu.host_device_bandwidth(direction, pinned=pinned, backend=backend,
                                               quick=quick)
            label = f"{direction.replace('_', ' ')}, {'pinned' if pinned else 'pageable'}"
            print(f"  {label:<22} {format_rate(result.best, 'B/s'):>12}  "
                  f"{_ratio(result.best, link.bandwidth_bytes_per_s if link else None)}")


def check_gemv(backend, spec, copy_bytes_per_s: float, peak: dict[str, float],
               quick: bool) -> None:
    """Print the GEMV sweep and where it turns compute-bound, beside the predicted ridge."""
    dtype = "bf16" if "bf16" in backend.dtypes else "fp16"
    points = gpu.gemv_sweep(dtype=dtype, backend=backend, quick=quick)
    d = points[0].details["d"]
    print(f"\ndecode-like GEMV: {d} x {d} {dtype} weights times a batch of vectors")
    print("  batch   step time    bytes moved/s    FLOP/s   intensity (FLOP/byte)")
    for point in points:
        seconds = min(point.details["seconds"])
        print(f"  {point.details['batch']:>5}  {format_seconds(seconds):>10}  "
              f"{format_rate(point.details['bytes_moved'] / seconds, 'B/s'):>14}  "
              f"{format_rate(point.best, 'FLOP/s'):>10}  "
              f"{point.details['intensity_flops_per_byte']:>10.1f}")
    turn = gpu.turning_batch(points)
    print(f"  turns compute-bound (step >= {gpu.TURNING_SLOWDOWN} x batch 1) at batch: "
          f"{turn if turn else 'not by ' + str(points[-1].details['batch'])}")
    if dtype in peak:
        print(f"  measured ridge: {peak[dtype]:.3g} / {copy_bytes_per_s:.3g} = "
              f"{peak[dtype] / copy_bytes_per_s:.1f} FLOP/byte")
    if spec and dtype in spec.peak_flops_per_s:
        print(f"  dataset ridge of {spec.name}: {spec.ridge_flops_per_byte(dtype):.0f} "
              "FLOP/byte, i.e. about that batch for 2-byte weights")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, fewer repeats")
    args = parser.parse_args(argv)
    backend = gpu.find_backend()
    if backend is None:
        print(f"no GPU backend found ({gpu.no_gpu_reason().split(': ', 1)[-1]})")
        return 0
    device = backend.device
    match = gpu.match_hardware(device.name)
    spec = hardware.get(match) if match else None
    print(f"device: {device.name}, {format_bytes(device.memory_bytes)}, {device.driver} "
          f"({backend.name})")
    print(f"dataset part: {spec.display_name + ' (' + match + ')' if spec else 'no match'}")
    try:
        copy_bytes_per_s = check_memory(backend, spec, args.quick)
        peak = check_matmul(backend, spec, args.quick)
        check_link(backend, spec, args.quick)
        check_gemv(backend, spec, copy_bytes_per_s, peak, args.quick)
    except Exception as error:  # report any GPU failure in one line
        print(f"\nmeasurement failed: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
