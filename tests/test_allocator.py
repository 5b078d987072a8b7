"""retain_freed_memory keeps a freed large block in the heap, where the next step's tensors reuse it."""
import ctypes
import ctypes.util
import subprocess
import sys

import pytest

from snnbench.allocator import _glibc

BLOCK = 200 * 2**20  # larger than any mmap threshold glibc adapts to on its own (32 MiB)

# Allocates and frees one block and prints how many free bytes the heap then holds (mallinfo2.fordblks).
PROBE = f"""
import ctypes, ctypes.util, sys
libc = ctypes.CDLL(ctypes.util.find_library("c"))
if sys.argv[1] == "retain":
    from snnbench.allocator import retain_freed_memory
    assert retain_freed_memory()
class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks",
                 "keepcost")]
libc.mallinfo2.restype = MallInfo2
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
block = libc.malloc({BLOCK})
ctypes.memset(block, 1, {BLOCK})
libc.free(block)
print(libc.mallinfo2().fordblks)
"""

pytestmark = pytest.mark.skipif(_glibc() is None or not hasattr(ctypes.CDLL(ctypes.util.find_library("c") or ""),
                                                                 "mallinfo2"),
                                reason="the allocator setting applies to glibc (2.33+ for mallinfo2) only")


def _free_heap_bytes_after_a_freed_block(mode: str) -> int:
    run = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    return int(run.stdout.split()[-1])


def test_a_freed_large_block_is_returned_to_the_system_by_default():
    # The control: without the setting the block is unmapped, so the heap holds almost nothing free.
    assert _free_heap_bytes_after_a_freed_block("default") < BLOCK // 2


def test_with_retained_memory_the_freed_block_stays_in_the_heap():
    assert _free_heap_bytes_after_a_freed_block("retain") >= BLOCK


def test_retain_freed_memory_is_idempotent():
    from snnbench.allocator import retain_freed_memory

    assert retain_freed_memory() is True
    assert retain_freed_memory() is True
