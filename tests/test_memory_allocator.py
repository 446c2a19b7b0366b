"""glibc allocator tuning: freed per-edge-sized temporaries go back to the OS at once."""

from __future__ import annotations

import subprocess
import sys

import pytest

from corridors.routing.engine import _LIBC

# Frees a 28 MB block (glibc then raises its dynamic mmap threshold), then allocates
# 20 MB blocks interleaved with small long-lived ones and frees the large ones: untuned,
# they come from the heap and stay behind as holes between the small ones; tuned, each
# is its own mapping.
SCRIPT = """
import sys
import numpy as np
from corridors.routing.engine import tune_allocator

def rss_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 2**20

if sys.argv[1] == "tuned":
    assert tune_allocator() and tune_allocator()
big = np.ones(3_500_000)
del big
keep, blocks = [], []
for _ in range(10):
    blocks.append(np.ones(2_500_000))
    keep.append(np.ones(100_000))
before = rss_mb()
blocks.clear()
print(before - rss_mb())
"""


def _released_mb(mode: str) -> float:
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, mode], check=True, capture_output=True, text=True
    )
    return float(out.stdout.strip())


@pytest.mark.skipif(_LIBC is None, reason="glibc only")
def test_tuned_allocator_returns_freed_blocks() -> None:
    assert _released_mb("tuned") > 150  # ~190 MB freed and returned
    assert _released_mb("default") < 50  # the holes stay in the heap
