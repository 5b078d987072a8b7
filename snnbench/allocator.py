"""Keep freed memory inside the process instead of handing it back to the operating system.

Why: a spiking layer's activations are ``[T·B, C, H, W]`` — 100 MB for 250 MNIST images at T = 4 — and
glibc serves any block above its mmap threshold (at most 32 MiB after its own adaptation) from a fresh
mapping that it unmaps again on ``free``. Every attack or training step then pays a page fault and a
kernel zero-fill for each page of each large tensor, the same pages, every time. With the thresholds raised,
the heap keeps those blocks and the next step reuses them: ``benchmarks/allocator.py`` measures the gain
per gradient step in the same run.

The cost is that a process keeps its peak heap until it exits, which is what a long evaluation or training
run wants anyway. Being process-wide, it is the entry points' choice: ``snnbench evaluate`` (on a CPU device;
a GPU's memory has its own allocator) and ``snnbench train`` call :func:`retain_freed_memory`, library
functions never do; call it yourself before running attacks or training in your own loop. Elsewhere than
glibc (macOS, musl) it does nothing.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import functools
from typing import Optional

# From glibc's <malloc.h>.
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
# mallopt takes an int; 2 GiB − 1 keeps every block smaller than that in the heap.
RETAIN_UP_TO = 2**31 - 1


def retain_freed_memory() -> bool:
    """Raise glibc's mmap and trim thresholds so that freed blocks stay in the heap for reuse.

    Process-wide and idempotent. Returns True when the C library accepted both settings, False where it is
    not glibc.
    """
    return _apply_once()


@functools.cache
def _apply_once() -> bool:
    libc = _glibc()
    if libc is None:
        return False
    return bool(libc.mallopt(M_MMAP_THRESHOLD, RETAIN_UP_TO)) and bool(libc.mallopt(M_TRIM_THRESHOLD, RETAIN_UP_TO))


def _glibc() -> Optional[ctypes.CDLL]:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name)
    except OSError:
        return None
    # gnu_get_libc_version exists only in glibc; musl and macOS have a different mallopt or none.
    if not hasattr(libc, "gnu_get_libc_version") or not hasattr(libc, "mallopt"):
        return None
    libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    libc.mallopt.restype = ctypes.c_int
    return libc
