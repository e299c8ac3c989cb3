"""Test-wide settings: quick measurements, a non-interactive plotting backend."""

import os

import matplotlib

os.environ.setdefault("MEMWALL_QUICK", "1")
matplotlib.use("Agg")
