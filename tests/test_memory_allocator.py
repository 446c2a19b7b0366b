"""glibc allocator tuning: freed per-edge-sized temporaries go back to the OS at once."""

from __future__ import annotations

import subprocess
import sys

import pytest

from corridors.routing.engine import _LIBC, ARENA_MAX

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


def _printed(script: str, mode: str) -> str:
    """What ``script`` prints, run in a fresh interpreter with argument ``mode``."""
    out = subprocess.run(
        [sys.executable, "-c", script, mode], check=True, capture_output=True, text=True
    )
    return out.stdout.strip()


def _released_mb(mode: str) -> float:
    return float(_printed(SCRIPT, mode))


@pytest.mark.skipif(_LIBC is None, reason="glibc only")
def test_tuned_allocator_returns_freed_blocks() -> None:
    assert _released_mb("tuned") > 150  # ~190 MB freed and returned
    assert _released_mb("default") < 50  # the holes stay in the heap


# Eight threads allocate small blocks at the same time, then the heaps are counted from
# malloc_info's XML.
ARENAS = """
import ctypes, sys, tempfile, threading
import numpy as np
from corridors.routing.engine import tune_allocator

if sys.argv[1] == "tuned":
    tune_allocator()
barrier = threading.Barrier(8)
held = []

def work():
    barrier.wait()
    held.append([np.ones(20_000) for _ in range(200)])
    barrier.wait()

threads = [threading.Thread(target=work) for _ in range(8)]
for t in threads:
    t.start()
for t in threads:
    t.join()
libc = ctypes.CDLL("libc.so.6")
libc.fopen.restype = ctypes.c_void_p
with tempfile.NamedTemporaryFile("r", suffix=".xml") as out:
    fp = libc.fopen(out.name.encode(), b"w")
    libc.malloc_info(0, ctypes.c_void_p(fp))
    libc.fclose(ctypes.c_void_p(fp))
    print(out.read().count("<heap nr="))
"""


def _heaps(mode: str) -> int:
    return int(_printed(ARENAS, mode))


@pytest.mark.skipif(_LIBC is None, reason="glibc only")
def test_tuned_allocator_keeps_few_heaps() -> None:
    assert _heaps("tuned") <= ARENA_MAX
    assert _heaps("default") > ARENA_MAX  # a heap per concurrently allocating thread
