import ctypes
import json
import os
import struct
import subprocess
import sys
import types
from pathlib import Path

import pytest

from memwall_lab import machine


def test_describe_never_raises_and_is_json_ready():
    info = machine.describe()
    json.dumps(info.as_dict())
    assert info.logical_cores == os.cpu_count()
    assert set(info.cache_bytes) == set(machine.CACHE_LEVELS)
    for name, value in info.as_dict().items():
        if value is None and name != "cpu_limit":  # cpu_limit None: nothing limits the CPUs
            assert name in info.missing, f"{name} is unknown without a reason"
    assert 1 <= info.usable_cpus <= info.logical_cores
    assert (info.cpu_limit is None) == (info.usable_cpus == info.logical_cores) or (
        "quota" in info.cpu_limit)  # a quota of 1.5 CPUs on 2 is a limit, 2 usable


def test_sizes_are_sane_where_known():
    info = machine.describe()
    if info.ram_total_bytes is not None:
        assert 256 * 1024**2 <= info.ram_total_bytes <= 64 * 1024**4
    if info.ram_available_bytes is not None and info.ram_total_bytes is not None:
        assert 0 < info.ram_available_bytes <= info.ram_total_bytes
    known = [info.cache_bytes[level] for level in machine.CACHE_LEVELS
             if info.cache_bytes[level]]
    assert known == sorted(known), "cache levels should grow from L1 to L3"
    if info.physical_cores and info.logical_cores:
        assert info.physical_cores <= info.logical_cores


@pytest.mark.parametrize(
    "text, expected",
    [("48K", 48 * 1024), ("32768K", 32 * 1024**2), ("2M", 2 * 1024**2), ("1048576", 1048576),
     ("64KB", 64 * 1024)],
)
def test_parse_size(text, expected):
    assert machine.parse_size(text) == expected


def test_unknown_values_get_reasons(monkeypatch):
    monkeypatch.setattr(machine, "_cpu_and_caches",
                        lambda: (None, None, dict.fromkeys(machine.CACHE_LEVELS)))
    monkeypatch.setattr(machine, "_memory", lambda: (None, None))
    info = machine.describe()
    assert info.last_level_cache_bytes is None
    for key in ("cpu_model", "physical_cores", "ram_total_bytes", "cache_bytes.l3"):
        assert key in info.missing


def test_os_errors_become_reasons(monkeypatch):
    def broken():
        raise OSError("permission denied")

    monkeypatch.setattr(machine, "_cpu_and_caches", broken)
    info = machine.describe()
    assert info.cpu_model is None
    assert "permission denied" in info.missing["cpu_model"]


# SYSTEM_LOGICAL_PROCESSOR_INFORMATION as 64-bit Windows lays it out (winnt.h), 32 bytes:
# ULONG_PTR ProcessorMask (8), DWORD Relationship (4), 4 bytes of padding, then a 16-byte
# union: ProcessorCore {BYTE Flags}, or CACHE_DESCRIPTOR {BYTE Level, BYTE Associativity,
# WORD LineSize, DWORD Size, PROCESSOR_CACHE_TYPE Type} and 4 bytes of padding.
def _core(mask):
    return struct.pack("<QI4xB15x", mask, 0, 1)


def _cache(mask, level, size_bytes, kind):
    return struct.pack("<QI4xBBHII4x", mask, 2, level, 8, 64, size_bytes, kind)


def _other(mask, relationship):  # a NUMA node (1) or a package (3)
    return struct.pack("<QI4x16x", mask, relationship)


UNIFIED, INSTRUCTION, DATA = 0, 1, 2


def _hybrid_laptop_buffer():
    """2 P-cores with SMT (processors 0-3) and 2 E-cores (4, 5) sharing a bigger L2."""
    return b"".join([
        _core(0b000011), _core(0b001100), _core(0b010000), _core(0b100000),
        _cache(0b000011, 1, 48 * 1024, DATA), _cache(0b000011, 1, 32 * 1024, INSTRUCTION),
        _cache(0b001100, 1, 48 * 1024, DATA), _cache(0b010000, 1, 32 * 1024, DATA),
        _cache(0b001100, 2, 1280 * 1024, UNIFIED), _cache(0b000011, 2, 1280 * 1024, UNIFIED),
        _cache(0b110000, 2, 2 * 1024**2, UNIFIED),
        _cache(0b111111, 3, 12 * 1024**2, UNIFIED),
        _other(0b111111, 1), _other(0b111111, 3),
    ])


@pytest.mark.skipif(ctypes.sizeof(ctypes.c_void_p) != 8, reason="the 64-bit layout")
def test_windows_processor_information_layout_is_32_bytes():
    assert ctypes.sizeof(machine._LogicalProcessorInformation) == 32
    assert len(_core(1)) == len(_cache(1, 1, 1, DATA)) == 32


@pytest.mark.skipif(ctypes.sizeof(ctypes.c_void_p) != 8, reason="the 64-bit layout")
def test_windows_processor_information_gives_cores_and_the_caches_of_processor_0():
    cores, caches = machine.parse_logical_processor_information(_hybrid_laptop_buffer())
    assert cores == 4  # 4 RelationProcessorCore entries, whatever their SMT threads
    # L1 data (not the 32 KiB instruction cache), processor 0's 1.25 MiB L2 (not the
    # E-cores' larger 2 MiB), the shared 12 MiB L3.
    assert caches == {"l1d": 48 * 1024, "l2": 1280 * 1024, "l3": 12 * 1024**2}


@pytest.mark.skipif(ctypes.sizeof(ctypes.c_void_p) != 8, reason="the 64-bit layout")
def test_windows_processor_information_without_l3_or_cores():
    assert machine.parse_logical_processor_information(b"") == (
        None, {"l1d": None, "l2": None, "l3": None})
    cores, caches = machine.parse_logical_processor_information(
        _core(1) + _cache(1, 2, 512 * 1024, UNIFIED))
    assert (cores, caches) == (1, {"l1d": None, "l2": 512 * 1024, "l3": None})
    with pytest.raises(ValueError, match="whole 32-byte entries"):
        machine.parse_logical_processor_information(_core(1)[:20])


def _as_windows(monkeypatch, processor_information):
    monkeypatch.setattr(machine, "sys", types.SimpleNamespace(platform="win32"))
    monkeypatch.setattr(machine, "_windows_processor_information", processor_information)
    monkeypatch.setattr(machine, "_memory", lambda: (None, None))


@pytest.mark.skipif(ctypes.sizeof(ctypes.c_void_p) != 8, reason="the 64-bit layout")
def test_describe_on_windows_reads_cores_and_caches(monkeypatch):
    _as_windows(monkeypatch, _hybrid_laptop_buffer)
    info = machine.describe()
    assert info.physical_cores == 4
    assert info.cache_bytes == {"l1d": 48 * 1024, "l2": 1280 * 1024, "l3": 12 * 1024**2}
    assert not any(key.startswith("cache_bytes") for key in info.missing)


@pytest.mark.parametrize("error", [AttributeError("windll"), OSError("[WinError 5] denied"),
                                   lambda: b"\x00" * 7])
def test_a_failing_windows_call_is_a_reason_not_a_crash(monkeypatch, error):
    def broken():
        if callable(error):
            return error()
        raise error

    _as_windows(monkeypatch, broken)
    info = machine.describe()
    assert info.physical_cores is None and info.cache_bytes["l3"] is None
    assert "GetLogicalProcessorInformation failed" in info.missing["cache_bytes.l3"]


def test_linux_memory_reads_meminfo_in_kib(monkeypatch):
    read = []

    def meminfo(path):
        read.append(str(path))
        return ("MemTotal:       16318480 kB\nMemFree:         1234567 kB\n"
                "MemAvailable:    8000000 kB")  # MemAvailable, not MemFree, is what is free

    monkeypatch.setattr(machine, "_read", meminfo)
    # 16318480 x 1024 = 16_710_123_520 bytes; 8000000 x 1024 = 8_192_000_000 bytes.
    assert machine._linux_memory() == (16_710_123_520, 8_192_000_000)
    assert read == ["/proc/meminfo", "/proc/self/cgroup"]  # then a cgroup limit, if any


def test_linux_memory_falls_back_to_memfree_and_to_none(monkeypatch):
    # Kernels before 3.14 have no MemAvailable: MemFree stands in (1234567 x 1024 bytes).
    monkeypatch.setattr(machine, "_read", lambda path: "MemTotal: 16318480 kB\nMemFree: 1234567 kB")
    assert machine._linux_memory() == (16_710_123_520, 1_264_196_608)
    monkeypatch.setattr(machine, "_read", lambda path: None)  # /proc/meminfo unreadable
    assert machine._linux_memory() == (None, None)


GIB = 1024**3


def fake_linux(monkeypatch, tmp_path, cgroup_lines, files):
    """A /proc and a cgroup file system under tmp_path: 64 GiB of host RAM, 60 GiB free."""
    for relative, text in files.items():
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_text(text)
    meminfo = f"MemTotal: {64 * GIB // 1024} kB\nMemAvailable: {60 * GIB // 1024} kB\n"
    fixed = {"/proc/self/cgroup": cgroup_lines, "/proc/meminfo": meminfo}

    def read(path):
        if str(path) in fixed:
            return fixed[str(path)]
        return Path(path).read_text().strip() if Path(path).is_file() else None

    monkeypatch.setattr(machine, "_read", read)
    monkeypatch.setattr(machine, "CGROUP_ROOT", tmp_path)


def test_a_container_sees_its_cgroup_v2_limit_not_the_hosts_ram(monkeypatch, tmp_path):
    # a JupyterHub pod: 2 GiB limit, 1.5 GiB used of which 1 GiB is reclaimable page cache
    fake_linux(monkeypatch, tmp_path, "0::/\n", {
        "memory.max": str(2 * GIB), "memory.current": str(3 * GIB // 2),
        "memory.stat": f"anon 1\ninactive_file {GIB}\nactive_file 5\n"})
    # room = 2 GiB - (1.5 GiB - 1 GiB) = 1.5 GiB
    assert machine.cgroup_memory_room() == (2 * GIB, 3 * GIB // 2)
    assert machine._linux_memory() == (2 * GIB, 3 * GIB // 2)


def test_no_cgroup_limit_leaves_meminfo_as_it_is(monkeypatch, tmp_path):
    fake_linux(monkeypatch, tmp_path, "0::/user.slice\n", {
        "user.slice/memory.max": "max", "user.slice/memory.current": str(GIB)})
    assert machine.cgroup_memory_room() == (None, None)
    assert machine._linux_memory() == (64 * GIB, 60 * GIB)


def test_the_tightest_cgroup_v1_ancestor_wins(monkeypatch, tmp_path):
    # v1 writes "unlimited" as 2**63 rounded down to a page; the parent pod limits to 4 GiB
    unlimited = str(9223372036854771712)
    fake_linux(monkeypatch, tmp_path, "5:cpu:/\n4:memory:/kubepods/pod1\n0::/\n", {
        "memory/kubepods/pod1/memory.limit_in_bytes": unlimited,
        "memory/kubepods/pod1/memory.usage_in_bytes": str(GIB),
        "memory/kubepods/memory.limit_in_bytes": str(4 * GIB),
        "memory/kubepods/memory.usage_in_bytes": str(GIB),
        "memory/kubepods/memory.stat": "total_inactive_file 0\n"})
    assert machine.cgroup_memory_room() == (4 * GIB, 3 * GIB)  # 4 GiB - 1 GiB used
    assert machine._linux_memory() == (4 * GIB, 3 * GIB)


def test_unreadable_cgroup_files_give_no_limit(monkeypatch, tmp_path):
    fake_linux(monkeypatch, tmp_path, "garbage\n0::/missing\n", {"memory.max": "lots"})
    assert machine.cgroup_memory_room() == (None, None)


def fake_sysctl(monkeypatch, values):
    monkeypatch.setattr(machine, "_sysctl", lambda name: values.get(name))


def test_apple_silicon_caches_come_from_the_performance_cores(monkeypatch):
    # An M1: performance cores have 128 KiB L1d and a 12 MiB shared L2; there is no hw.l3cachesize.
    fake_sysctl(monkeypatch, {"hw.perflevel0.l1dcachesize": "131072",
                              "hw.perflevel0.l2cachesize": "12582912",
                              "hw.l1dcachesize": "65536", "hw.l2cachesize": "4194304"})
    assert machine._macos_caches() == {"l1d": 131_072, "l2": 12_582_912, "l3": None}


def test_intel_mac_caches_use_the_plain_names(monkeypatch):
    fake_sysctl(monkeypatch, {"hw.l1dcachesize": "32768", "hw.l2cachesize": "262144",
                              "hw.l3cachesize": "12582912", "hw.perflevel0.l2cachesize": "0"})
    assert machine._macos_caches() == {"l1d": 32_768, "l2": 262_144, "l3": 12_582_912}


VM_STAT = """Mach Virtual Memory Statistics: (page size of 16384 bytes)
Pages free:                               12345.
Pages active:                            400000.
Pages inactive:                          300000.
Pages speculative:                         5000.
Pages wired down:                         90000.
"""


def test_macos_available_memory_counts_free_inactive_and_speculative_pages(monkeypatch):
    result = types.SimpleNamespace(stdout=VM_STAT)
    monkeypatch.setattr(machine.subprocess, "run", lambda *args, **kwargs: result)
    # (12345 + 300000 + 5000) pages x 16384 bytes (Apple silicon's page size)
    assert machine._macos_available_bytes() == 317_345 * 16_384 == 5_199_380_480


def test_describe_on_a_mac(monkeypatch):
    fake_sysctl(monkeypatch, {"hw.memsize": "17179869184", "hw.physicalcpu": "8",
                              "machdep.cpu.brand_string": "Apple M1",
                              "hw.perflevel0.l1dcachesize": "131072",
                              "hw.perflevel0.l2cachesize": "12582912"})
    monkeypatch.setattr(machine, "_macos_available_bytes", lambda: 5_199_380_480)
    monkeypatch.setattr(machine.sys, "platform", "darwin")
    info = machine.describe()
    assert (info.cpu_model, info.physical_cores) == ("Apple M1", 8)
    assert (info.ram_total_bytes, info.ram_available_bytes) == (16 * 1024**3, 5_199_380_480)
    assert info.cache_bytes == {"l1d": 131_072, "l2": 12_582_912, "l3": None}
    assert info.last_level_cache_bytes == 12_582_912
    assert "cache_bytes.l3" in info.missing  # no L3 reported: a reason, not a crash


def test_the_lowest_limit_and_the_least_room_come_from_different_cgroups(monkeypatch, tmp_path):
    # inner scope: 2 GiB limit, almost empty; outer slice: 8 GiB limit, 7.9 GiB used
    fake_linux(monkeypatch, tmp_path, "0::/user.slice/jupyter.scope\n", {
        "user.slice/jupyter.scope/memory.max": str(2 * GIB),
        "user.slice/jupyter.scope/memory.current": str(GIB // 10),
        "user.slice/memory.max": str(8 * GIB),
        "user.slice/memory.current": str(8 * GIB - GIB // 10)})
    # total = min(2, 8) GiB; room = min(2 - 0.1, 8 - 7.9) GiB = 0.1 GiB
    assert machine.cgroup_memory_room() == (2 * GIB, GIB // 10)


def test_a_windows_failure_keeps_the_cpu_name(monkeypatch):
    def broken():
        raise OSError("[WinError 5] denied")

    _as_windows(monkeypatch, broken)
    monkeypatch.setattr(machine.platform, "processor", lambda: "Intel64 Family 6 Model 154")
    info = machine.describe()
    assert info.cpu_model == "Intel64 Family 6 Model 154" and "cpu_model" not in info.missing
    assert "GetLogicalProcessorInformation failed" in info.missing["physical_cores"]


def fake_cpus(monkeypatch, tmp_path, cgroup_lines, files, logical=64, affinity=None):
    """fake_linux's cgroup files, on a machine of `logical` CPUs this process may use
    `affinity` of (all where None)."""
    fake_linux(monkeypatch, tmp_path, cgroup_lines, files)
    monkeypatch.setattr(machine.os, "cpu_count", lambda: logical)
    monkeypatch.setattr(machine, "_affinity_count", lambda: affinity or logical)


def test_a_hub_pods_cgroup_v2_cpu_quota_sets_the_usable_cpus(monkeypatch, tmp_path):
    # 150 ms of CPU time per 100 ms period: 1.5 CPUs of a 64-CPU node, rounded up to 2.
    fake_cpus(monkeypatch, tmp_path, "0::/kubepods/pod1\n", {
        "kubepods/pod1/cpu.max": "150000 100000", "kubepods/cpu.max": "max 100000"})
    assert machine.cgroup_cpu_quota() == (1.5, "cgroup cpu.max")
    assert machine.usable_cpus() == 2
    assert machine.cpu_limit() == "a CPU quota of 1.5 CPUs (cgroup cpu.max)"


def test_the_tightest_cpu_quota_of_the_ancestors_wins(monkeypatch, tmp_path):
    fake_cpus(monkeypatch, tmp_path, "0::/user.slice/jupyter.scope\n", {
        "user.slice/jupyter.scope/cpu.max": "400000 100000",  # 4 CPUs
        "user.slice/cpu.max": "50000 100000"})  # half a CPU: at least 1 usable
    assert machine.usable_cpus() == 1
    assert machine.cpu_limit() == "a CPU quota of 0.5 CPUs (cgroup cpu.max)"


def test_a_cgroup_v1_cfs_quota_counts_and_minus_one_is_no_quota(monkeypatch, tmp_path):
    fake_cpus(monkeypatch, tmp_path, "4:memory:/docker/abc\n3:cpu,cpuacct:/docker/abc\n", {
        "cpu/docker/abc/cpu.cfs_quota_us": "100000", "cpu/docker/abc/cpu.cfs_period_us": "100000",
        "cpu/docker/cpu.cfs_quota_us": "-1", "cpu/docker/cpu.cfs_period_us": "100000"})
    assert machine.cgroup_cpu_quota() == (1.0, "cgroup cpu.cfs_quota_us")
    assert machine.usable_cpus() == 1
    assert machine.cpu_limit() == "a CPU quota of 1 CPU (cgroup cpu.cfs_quota_us)"


def test_a_cgroup_v1_mounted_as_cpu_comma_cpuacct_is_found(monkeypatch, tmp_path):
    fake_cpus(monkeypatch, tmp_path, "3:cpu,cpuacct:/\n", {
        "cpu,cpuacct/cpu.cfs_quota_us": "200000", "cpu,cpuacct/cpu.cfs_period_us": "100000"})
    assert machine.usable_cpus() == 2


def test_cpu_affinity_limits_the_usable_cpus(monkeypatch, tmp_path):
    fake_cpus(monkeypatch, tmp_path, "0::/\n", {"cpu.max": "max 100000"}, affinity=2)
    assert machine.cgroup_cpu_quota() is None
    assert machine.usable_cpus() == 2
    assert machine.cpu_limit() == "CPU affinity allows 2 of 64 logical CPUs"


def test_affinity_and_quota_both_named_and_the_least_wins(monkeypatch, tmp_path):
    fake_cpus(monkeypatch, tmp_path, "0::/\n", {"cpu.max": "100000 100000"}, affinity=4)
    assert machine.usable_cpus() == 1
    assert machine.cpu_limit() == ("CPU affinity allows 4 of 64 logical CPUs and "
                                   "a CPU quota of 1 CPU (cgroup cpu.max)")


@pytest.mark.parametrize("files", [{}, {"cpu.max": "max 100000"}, {"cpu.max": "garbage"},
                                   {"cpu.max": "0 100000"}, {"cpu.max": "100000 0"},
                                   {"cpu.max": "800000 100000"}])  # 8 CPUs of 64: a limit
def test_no_or_unreadable_quota_leaves_every_cpu(monkeypatch, tmp_path, files):
    fake_cpus(monkeypatch, tmp_path, "0::/\n", files)
    expected = 8 if files.get("cpu.max", "").startswith("8") else 64
    assert machine.usable_cpus() == expected
    assert (machine.cpu_limit() is None) == (expected == 64)


def test_describe_records_the_usable_share(monkeypatch, tmp_path):
    fake_cpus(monkeypatch, tmp_path, "0::/\n", {"cpu.max": "100000 100000"})
    info = machine.describe()
    assert (info.usable_cpus, info.cpu_limit) == (1, "a CPU quota of 1 CPU (cgroup cpu.max)")
    assert info.as_dict()["usable_cpus"] == 1 and "cpu_limit" in info.as_dict()


def test_the_real_affinity_mask_is_read():
    if not hasattr(os, "sched_setaffinity"):
        pytest.skip("no CPU affinity on this OS")
    code = ("import os; os.sched_setaffinity(0, {min(os.sched_getaffinity(0))}); "
            "from memwall_lab import machine; print(machine.usable_cpus()); "
            "print(machine.cpu_limit())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60).stdout.splitlines()
    assert out[0] == "1"
    if (os.cpu_count() or 1) > 1:
        assert out[1] == f"CPU affinity allows 1 of {os.cpu_count()} logical CPUs"
