import json
import os

import pytest

from memwall_lab import machine


def test_describe_never_raises_and_is_json_ready():
    info = machine.describe()
    json.dumps(info.as_dict())
    assert info.logical_cores == os.cpu_count()
    assert set(info.cache_bytes) == set(machine.CACHE_LEVELS)
    for name, value in info.as_dict().items():
        if value is None:
            assert name in info.missing, f"{name} is unknown without a reason"


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
