"""The glibc allocator tuning: freed blocks up to 32 MiB are kept in the heap for reuse."""

import ctypes
import platform

import pytest

from asetools import allocator

glibc = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"


class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost"
    )]


@pytest.mark.skipif(not glibc, reason="the tuning applies to glibc only")
def test_blocks_below_the_threshold_come_from_the_heap():
    assert allocator.tune_allocator()
    assert allocator.tune_allocator()  # a second call is harmless
    libc = ctypes.CDLL("libc.so.6")
    if not hasattr(libc, "mallinfo2"):
        pytest.skip("glibc older than 2.33 has no mallinfo2")
    libc.mallinfo2.restype = MallInfo2
    libc.malloc.restype = ctypes.c_void_p
    libc.free.argtypes = [ctypes.c_void_p]

    def mmapped_bytes_while_holding(size):
        before = libc.mallinfo2().hblkhd
        block = libc.malloc(size)
        during = libc.mallinfo2().hblkhd
        libc.free(block)
        return during - before

    assert mmapped_bytes_while_holding(24 * 1024 * 1024) == 0
    # Larger than all free heap memory, so that no free chunk earlier tests left behind can serve
    # it (freed neighbours coalesce into chunks above the threshold): it must come from mmap.
    free_in_heap = libc.mallinfo2().fordblks
    assert mmapped_bytes_while_holding(max(allocator.MMAP_THRESHOLD_BYTES, free_in_heap) + 1024 * 1024) > 0


@pytest.mark.skipif(glibc, reason="checks the fallback on other C libraries")
def test_other_c_libraries_are_left_alone():
    assert allocator.tune_allocator() is False
