"""What this machine is: CPU, cores, caches, RAM, OS and BLAS (introduced in lesson 00).

Linux reads `/proc` and `/sys` (memory capped by the cgroup limit of a container
or JupyterHub pod, which /proc/meminfo does not show; CPUs limited by the pod's
CPU quota and this process's CPU affinity, which `os.cpu_count()` does not show:
`usable_cpus`, `cpu_limit`), macOS asks `sysctl`, Windows asks the kernel
through ctypes (GlobalMemoryStatusEx for memory, GetLogicalProcessorInformation
for cores and caches). A value that cannot be found is `None`, and `missing` says
why: the course never crashes because a laptop hides its cache sizes.
"""

from __future__ import annotations

import ctypes
import math
import os
import platform
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

CACHE_LEVELS = ("l1d", "l2", "l3")


@dataclass(frozen=True)
class MachineInfo:
    """A snapshot of this machine; sizes in bytes, `None` where unknown (see `missing`)."""

    cpu_model: str | None
    physical_cores: int | None
    logical_cores: int | None
    cache_bytes: dict[str, int | None]
    ram_total_bytes: int | None
    ram_available_bytes: int | None
    os: str
    python: str
    numpy: str
    blas: str | None
    missing: dict[str, str] = field(default_factory=dict)
    usable_cpus: int | None = None  # CPUs this process may keep busy: see `usable_cpus()`
    cpu_limit: str | None = None  # why that is fewer than logical_cores; None: no limit

    @property
    def last_level_cache_bytes(self) -> int | None:
        """Size in bytes of the largest cache level found, or None."""
        found = [size for size in self.cache_bytes.values() if size]
        return max(found) if found else None

    def as_dict(self) -> dict:
        """Plain JSON-ready dict of every field."""
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


def _read(path: str | Path) -> str | None:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return None


def _sysctl(name: str) -> str | None:
    try:
        result = subprocess.run(
            ["sysctl", "-n", name], capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() or None if result.returncode == 0 else None


def parse_size(text: str) -> int:
    """Parse a cache size like '48K', '32768K', '2M' or '1048576' into bytes."""
    text = text.strip().upper().removesuffix("B")
    multiplier = {"K": 1024, "M": 1024**2, "G": 1024**3}.get(text[-1:], 1)
    number = text[:-1] if text[-1:] in "KMG" else text
    return int(number) * multiplier


def _linux_cpu_model() -> str | None:
    text = _read("/proc/cpuinfo") or ""
    for line in text.splitlines():
        if line.lower().startswith(("model name", "hardware", "cpu model")):
            return line.split(":", 1)[1].strip()
    return None


def _linux_physical_cores() -> int | None:
    cores = set()
    for topology in Path("/sys/devices/system/cpu").glob("cpu[0-9]*/topology"):
        package = _read(topology / "physical_package_id")
        core = _read(topology / "core_id")
        if core is not None:
            cores.add((package, core))
    return len(cores) or None


def _linux_caches() -> dict[str, int | None]:
    caches: dict[str, int | None] = dict.fromkeys(CACHE_LEVELS)
    for index in sorted(Path("/sys/devices/system/cpu/cpu0/cache").glob("index*")):
        level, kind, size = (_read(index / name) for name in ("level", "type", "size"))
        if not (level and kind and size) or kind == "Instruction":
            continue
        key = "l1d" if level == "1" else f"l{level}"
        if key in caches:
            caches[key] = parse_size(size)
    return caches


def _linux_memory() -> tuple[int | None, int | None]:
    """(total, available) bytes: /proc/meminfo, capped by this process's cgroup limit."""
    values = {}
    for line in (_read("/proc/meminfo") or "").splitlines():
        name, _, rest = line.partition(":")
        parts = rest.split()
        if parts and parts[0].isdigit():
            values[name] = int(parts[0]) * 1024
    total, available = values.get("MemTotal"), values.get("MemAvailable", values.get("MemFree"))
    limit, room = cgroup_memory_room()
    if limit is not None:
        total = limit if total is None else min(total, limit)
        available = room if available is None else min(available, room)
    return total, available


# Containers (Docker, a JupyterHub pod) see the host's RAM in /proc/meminfo; their real
# limit is the cgroup's. cgroup v1 writes "no limit" as a number near 2**63.
CGROUP_ROOT = Path("/sys/fs/cgroup")
CGROUP_NO_LIMIT_BYTES = 2**60
# (limit file, usage file, reclaimable page-cache key in memory.stat) for cgroup v2 and v1
_CGROUP_FILES = {2: ("memory.max", "memory.current", "inactive_file"),
                 1: ("memory.limit_in_bytes", "memory.usage_in_bytes", "total_inactive_file")}


def _cgroup_dirs(controller: str = "memory") -> list[tuple[int, Path]]:
    """(cgroup version, folder) of this process's `controller` cgroups and their ancestors,
    innermost first, from /proc/self/cgroup ('0::/path' for v2, 'N:memory:/path' or
    'N:cpu,cpuacct:/path' for v1; both on a hybrid system)."""
    dirs: list[tuple[int, Path]] = []
    for line in (_read("/proc/self/cgroup") or "").splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, path = parts
        if controllers == "" and parts[0] == "0":
            version, mount = 2, CGROUP_ROOT
        elif controller in controllers.split(","):
            version, mount = 1, CGROUP_ROOT / controller
            if not mount.is_dir():  # mounted as 'cpu,cpuacct' without the 'cpu' link
                mount = CGROUP_ROOT / controllers
        else:
            continue
        folder = mount / path.strip().lstrip("/")
        if not folder.is_dir():  # a cgroup namespace: the container's own cgroup is the mount
            folder = mount
        chain = [folder, *(parent for parent in folder.parents if mount in parent.parents)]
        dirs += [(version, directory) for directory in chain]
    return dirs


def _cgroup_number(text: str | None) -> int | None:
    """A cgroup file's byte count; None for 'max', no limit or an unreadable file."""
    text = (text or "").strip()
    if not text.isdigit():
        return None
    number = int(text)
    return number if number < CGROUP_NO_LIMIT_BYTES else None


def cgroup_memory_room() -> tuple[int | None, int | None]:
    """(limit, room) in bytes: the lowest memory limit of the cgroups holding this process and
    the least room left in any, or (None, None) where none limits it. A cgroup's room is
    limit - (usage - reclaimable page cache)."""
    limits, rooms = [], []
    for version, folder in _cgroup_dirs():
        limit_file, usage_file, cache_key = _CGROUP_FILES[version]
        limit = _cgroup_number(_read(folder / limit_file))
        usage = _cgroup_number(_read(folder / usage_file))
        if limit is None or usage is None:
            continue
        cache = 0
        for line in (_read(folder / "memory.stat") or "").splitlines():
            key, _, value = line.partition(" ")
            if key == cache_key and value.strip().isdigit():
                cache = int(value)
        limits.append(limit)
        rooms.append(max(limit - max(usage - cache, 0), 0))
    return (min(limits), min(rooms)) if limits else (None, None)


def cgroup_cpu_quota() -> tuple[float, str] | None:
    """(CPUs, file) of the tightest CPU quota of the cgroups holding this process, or None.

    A quota is CPU time per period: cgroup v2 writes "150000 100000" in cpu.max (1.5
    CPUs; "max 100000" is no quota), v1 writes cpu.cfs_quota_us and cpu.cfs_period_us
    (quota -1 is no quota).
    """
    quotas = []
    for version, folder in _cgroup_dirs("cpu"):
        if version == 2:
            quota, _, period = (_read(folder / "cpu.max") or "").partition(" ")
            source = "cgroup cpu.max"
        else:
            quota = _read(folder / "cpu.cfs_quota_us") or ""
            period = _read(folder / "cpu.cfs_period_us") or ""
            source = "cgroup cpu.cfs_quota_us"
        quota, period = quota.strip(), period.strip()
        if quota.isdigit() and period.isdigit() and int(quota) > 0 and int(period) > 0:
            quotas.append((int(quota) / int(period), source))
    return min(quotas) if quotas else None


def _affinity_count() -> int | None:
    """CPUs this process may be scheduled on (its affinity mask), or None where unknown."""
    if hasattr(os, "sched_getaffinity"):  # Linux
        try:
            return len(os.sched_getaffinity(0)) or None
        except OSError:
            return None
    process_cpu_count = getattr(os, "process_cpu_count", None)  # Python 3.13+, Windows too
    return process_cpu_count() if process_cpu_count else None


def _cpu_share() -> tuple[int, str | None]:
    """(usable CPUs, why fewer than the logical CPUs or None): see `usable_cpus`."""
    logical = os.cpu_count() or 1
    usable, limits = logical, []
    affinity = _affinity_count()
    if affinity and affinity < logical:
        usable = affinity
        limits.append(f"CPU affinity allows {affinity} of {logical} logical CPUs")
    quota = cgroup_cpu_quota()
    if quota and quota[0] < min(logical, usable):
        cpus, source = quota
        usable = min(usable, max(1, math.ceil(cpus)))
        shown = f"{round(cpus, 2):g}"
        limits.append(f"a CPU quota of {shown} CPU{'' if shown == '1' else 's'} ({source})")
    return max(1, usable), " and ".join(limits) or None


def usable_cpus() -> int:
    """CPUs this process may keep busy: the least of the logical CPUs, its CPU affinity
    and its cgroup CPU quota rounded up; at least 1. The default thread count of every
    measurement: more threads than this only queue for the same CPUs and get throttled."""
    return _cpu_share()[0]


def cpu_limit() -> str | None:
    """Why this process may use fewer CPUs than the machine's logical CPUs, e.g. 'a CPU
    quota of 1.5 CPUs (cgroup cpu.max)' or 'CPU affinity allows 2 of 64 logical CPUs';
    None where nothing limits it."""
    return _cpu_share()[1]


def _macos_caches() -> dict[str, int | None]:
    # Apple silicon reports per-cluster sizes under hw.perflevel0 (performance cores).
    caches: dict[str, int | None] = dict.fromkeys(CACHE_LEVELS)
    for key, names in {
        "l1d": ("hw.perflevel0.l1dcachesize", "hw.l1dcachesize"),
        "l2": ("hw.perflevel0.l2cachesize", "hw.l2cachesize"),
        "l3": ("hw.l3cachesize",),
    }.items():
        for name in names:
            value = _sysctl(name)
            if value and value.isdigit() and int(value) > 0:
                caches[key] = int(value)
                break
    return caches


def _macos_available_bytes() -> int | None:
    try:
        text = subprocess.run(
            ["vm_stat"], capture_output=True, text=True, timeout=5, check=False
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    page_bytes, pages = 4096, 0
    for line in text.splitlines():
        if "page size of" in line:
            page_bytes = int(line.split("page size of")[1].split()[0])
        elif line.startswith(("Pages free", "Pages inactive", "Pages speculative")):
            pages += int(line.split(":")[1].strip().rstrip("."))
    return pages * page_bytes or None


class _MemoryStatusEx(ctypes.Structure):
    _fields_ = [
        ("dwLength", ctypes.c_ulong),
        ("dwMemoryLoad", ctypes.c_ulong),
        ("ullTotalPhys", ctypes.c_ulonglong),
        ("ullAvailPhys", ctypes.c_ulonglong),
        ("ullTotalPageFile", ctypes.c_ulonglong),
        ("ullAvailPageFile", ctypes.c_ulonglong),
        ("ullTotalVirtual", ctypes.c_ulonglong),
        ("ullAvailVirtual", ctypes.c_ulonglong),
        ("ullAvailExtendedVirtual", ctypes.c_ulonglong),
    ]


def _windows_memory() -> tuple[int | None, int | None]:
    status = _MemoryStatusEx()
    status.dwLength = ctypes.sizeof(_MemoryStatusEx)
    if not ctypes.windll.kernel32.GlobalMemoryStatusEx(ctypes.byref(status)):  # type: ignore[attr-defined]
        return None, None
    return int(status.ullTotalPhys), int(status.ullAvailPhys)


# GetLogicalProcessorInformation: one fixed-size SYSTEM_LOGICAL_PROCESSOR_INFORMATION per
# core, cache, NUMA node or package (winnt.h), 32 bytes on 64-bit Windows.
RELATION_PROCESSOR_CORE, RELATION_CACHE = 0, 2
CACHE_UNIFIED, CACHE_DATA = 0, 2  # PROCESSOR_CACHE_TYPE; 1 is instruction, 3 trace
WINDOWS_CACHE_KEYS = {1: "l1d", 2: "l2", 3: "l3"}


class _CacheDescriptor(ctypes.Structure):
    _fields_ = [
        ("Level", ctypes.c_uint8),
        ("Associativity", ctypes.c_uint8),
        ("LineSize", ctypes.c_uint16),
        ("Size", ctypes.c_uint32),
        ("Type", ctypes.c_uint32),
    ]


class _ProcessorInformationUnion(ctypes.Union):
    _fields_ = [
        ("Flags", ctypes.c_uint8),  # ProcessorCore
        ("NodeNumber", ctypes.c_uint32),  # NumaNode
        ("Cache", _CacheDescriptor),
        ("Reserved", ctypes.c_uint64 * 2),  # sets the union's size (16) and alignment (8)
    ]


class _LogicalProcessorInformation(ctypes.Structure):
    # Fixed-width types, not ctypes.wintypes: DWORD must stay 4 bytes when tested on Linux.
    _fields_ = [
        ("ProcessorMask", ctypes.c_size_t),  # ULONG_PTR
        ("Relationship", ctypes.c_uint32),
        ("Union", _ProcessorInformationUnion),
    ]


def parse_logical_processor_information(raw: bytes) -> tuple[int | None, dict[str, int | None]]:
    """(physical cores, cache sizes in bytes) from GetLogicalProcessorInformation's buffer.

    A core is one RelationProcessorCore entry; each cache level is the data or
    unified cache of logical processor 0 (as Linux reads cpu0), else the largest.
    """
    size = ctypes.sizeof(_LogicalProcessorInformation)
    if len(raw) % size:
        raise ValueError(f"processor information of {len(raw)} bytes is not whole "
                         f"{size}-byte entries")
    entries = (_LogicalProcessorInformation * (len(raw) // size)).from_buffer_copy(raw)
    cores = sum(entry.Relationship == RELATION_PROCESSOR_CORE for entry in entries)
    found: dict[str, list[tuple[bool, int]]] = {level: [] for level in CACHE_LEVELS}
    for entry in entries:
        cache = entry.Union.Cache
        key = WINDOWS_CACHE_KEYS.get(cache.Level)
        if (entry.Relationship == RELATION_CACHE and key and cache.Size
                and cache.Type in (CACHE_UNIFIED, CACHE_DATA)):
            found[key].append((bool(entry.ProcessorMask & 1), cache.Size))
    caches = {level: max(sizes)[1] if sizes else None for level, sizes in found.items()}
    return cores or None, caches


def _windows_processor_information() -> bytes:
    """The raw SYSTEM_LOGICAL_PROCESSOR_INFORMATION array from the kernel (Windows only)."""
    kernel32 = ctypes.windll.kernel32  # type: ignore[attr-defined]
    length = ctypes.c_uint32(0)
    kernel32.GetLogicalProcessorInformation(None, ctypes.byref(length))  # asks for the size
    buffer = ctypes.create_string_buffer(length.value)
    if not length.value or not kernel32.GetLogicalProcessorInformation(
            buffer, ctypes.byref(length)):
        raise ctypes.WinError()  # type: ignore[attr-defined]
    return buffer.raw[:length.value]


def _windows_cores_and_caches() -> tuple[int | None, dict[str, int | None]]:
    """Physical cores and cache sizes from the kernel; OSError naming the failure, never a crash."""
    try:
        return parse_logical_processor_information(_windows_processor_information())
    except Exception as error:  # noqa: BLE001 - any ctypes failure becomes a reason
        raise OSError(f"GetLogicalProcessorInformation failed ({error})") from None


def blas_name() -> str | None:
    """Name and version of the BLAS numpy uses, e.g. 'openblas 0.3.27 (Haswell)'."""
    try:
        import numpy  # noqa: F401  (loads the BLAS so threadpoolctl can see it)
        from threadpoolctl import threadpool_info
    except ImportError:
        return None
    for pool in threadpool_info():
        if pool.get("user_api") == "blas":
            arch = f" ({pool['architecture']})" if pool.get("architecture") else ""
            return f"{pool.get('internal_api')} {pool.get('version')}{arch}"
    return None


def ram_available_bytes() -> int | None:
    """Memory in bytes the OS says can be allocated now without swapping, or None."""
    return _memory()[1]


def _memory() -> tuple[int | None, int | None]:
    if sys.platform.startswith("linux"):
        return _linux_memory()
    if sys.platform == "darwin":
        total = _sysctl("hw.memsize")
        return (int(total) if total else None), _macos_available_bytes()
    if sys.platform == "win32":
        return _windows_memory()
    return None, None


class _PartialCpuDetails(OSError):
    """The CPU's name was found, its cores and caches were not (the reason is the message)."""

    def __init__(self, cpu_model: str | None, reason: str):
        super().__init__(reason)
        self.cpu_model = cpu_model


def _cpu_and_caches() -> tuple[str | None, int | None, dict[str, int | None]]:
    if sys.platform.startswith("linux"):
        return _linux_cpu_model(), _linux_physical_cores(), _linux_caches()
    if sys.platform == "darwin":
        cores = _sysctl("hw.physicalcpu")
        return (
            _sysctl("machdep.cpu.brand_string"),
            int(cores) if cores and cores.isdigit() else None,
            _macos_caches(),
        )
    if sys.platform == "win32":
        try:
            return (platform.processor() or None, *_windows_cores_and_caches())
        except OSError as error:  # the model name still stands; cores and caches get the reason
            raise _PartialCpuDetails(platform.processor() or None, str(error)) from None
    # Others: the model name is all the standard library offers.
    return platform.processor() or None, None, dict.fromkeys(CACHE_LEVELS)


def describe() -> MachineInfo:
    """Inspect this machine; never raises, records the reason for every unknown."""
    import numpy

    cpu_reason = model_reason = f"not reported by the OS ({platform.system()})"
    try:
        cpu_model, physical_cores, caches = _cpu_and_caches()
    except (OSError, ValueError) as error:
        cpu_model, physical_cores, caches = None, None, dict.fromkeys(CACHE_LEVELS)
        cpu_reason = f"could not read CPU details: {error}"
        if isinstance(error, _PartialCpuDetails):  # Windows: the name came, the rest did not
            cpu_model = error.cpu_model
        else:
            model_reason = cpu_reason
    memory_reason = f"not reported by the OS ({platform.system()})"
    try:
        ram_total, ram_available = _memory()
    except (OSError, ValueError, AttributeError) as error:
        ram_total, ram_available = None, None
        memory_reason = f"could not read memory details: {error}"
    share_reason = None
    try:
        share, limit = _cpu_share()
    except (OSError, ValueError) as error:
        share, limit = None, None
        share_reason = f"could not read the CPU quota or affinity: {error}"
    info = MachineInfo(
        cpu_model=cpu_model,
        physical_cores=physical_cores,
        logical_cores=os.cpu_count(),
        cache_bytes=caches,
        ram_total_bytes=ram_total,
        ram_available_bytes=ram_available,
        os=f"{platform.system()} {platform.release()} ({platform.machine()})",
        python=platform.python_version(),
        numpy=numpy.__version__,
        blas=blas_name(),
        usable_cpus=share,
        cpu_limit=limit,
    )
    reasons = {
        "cpu_model": model_reason,
        "physical_cores": cpu_reason,
        "logical_cores": "os.cpu_count() returned None",
        "ram_total_bytes": memory_reason,
        "ram_available_bytes": memory_reason,
        "blas": "threadpoolctl found no BLAS library loaded by numpy",
        "usable_cpus": share_reason,
    }
    for name, reason in reasons.items():
        if getattr(info, name) is None:
            info.missing[name] = reason
    for level, size in caches.items():
        if size is None:
            info.missing[f"cache_bytes.{level}"] = cpu_reason
    return info
