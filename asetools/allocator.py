"""Tuning of the C memory allocator for repeated model evaluations on CPU.

An MD step allocates and frees the same few dozen activation tensors again and again.
With glibc's defaults, a freed block larger than the current ``mmap`` threshold is
returned to the kernel, and free memory at the top of the heap beyond the trim
threshold is released as well; the next step then takes a page fault for every
4 KiB page it touches again. On the Allegro benchmark that costs 10-30% of a step
(more for systems evaluated in one piece). PyTorch's CPU tuning guide suggests
preloading jemalloc or tcmalloc for the same reason; :func:`tune_allocator` gets most
of the benefit without a preload, by raising both thresholds with ``mallopt``.

The settings are process-wide and only change when memory goes back to the kernel:
freed memory stays in the process for reuse (its resident size stays at its peak,
which blocked evaluation bounds). Nothing happens on other C libraries.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import platform

__all__ = ["tune_allocator"]

logger = logging.getLogger(__name__)

#: glibc's ``mallopt`` parameter numbers (malloc.h).
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3

#: Blocks up to this size come from the heap and are reused (glibc's largest allowed value).
MMAP_THRESHOLD_BYTES = 32 * 1024 * 1024
#: Free memory at the top of the heap is kept up to this size.
TRIM_THRESHOLD_BYTES = 1024 * 1024 * 1024

_tuned = False


def tune_allocator() -> bool:
    """Keep freed memory in the process for reuse (glibc only); returns whether it applies.

    Calling it again does nothing. :class:`asetools.calculators.PotentialCalc` calls it
    for CPU evaluation unless built with ``tune_allocator=False``.
    """
    global _tuned
    if _tuned:
        return True
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        applied = libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES) == 1
        applied = libc.mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES) == 1 and applied
    except (OSError, AttributeError) as error:
        logger.debug("allocator not tuned: %s", error)
        return False
    _tuned = applied
    logger.debug("glibc malloc tuned: mmap threshold %d B, trim threshold %d B", MMAP_THRESHOLD_BYTES, TRIM_THRESHOLD_BYTES)
    return applied
