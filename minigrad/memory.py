"""A process-wide memory setting for training scripts: ``keep_freed_memory``.

A training step allocates and frees the same large arrays every time. glibc's malloc (Linux)
serves large blocks with fresh ``mmap`` calls and gives the top of its heap back to the system
once enough of it is free, so a step can touch freshly mapped memory again and again: each
page a minor page fault, a kernel entry and a page of zeros. Whether that happens depends on
thresholds glibc adapts to the largest block freed so far. Measured here: a GRU layer step
(L=50, N=32, H=128) took 1,200 page faults and 6.9 ms, and 0 faults and 4.9 ms with freed
memory kept; the LSTM of the same size took none either way.
"""

from __future__ import annotations

import ctypes
import ctypes.util

__all__ = ["keep_freed_memory"]

# mallopt parameters from glibc's malloc.h.
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_HEAP_UP_TO = 1 << 30  # blocks below 1 GiB come from the heap, not from fresh mmaps
_NEVER_TRIM = -1


def keep_freed_memory() -> bool:
    """Tells glibc's malloc to keep freed memory for reuse instead of returning it.

    Process-wide and irreversible: the process's resident memory stays at its high-water mark.
    Call it once at the start of a training script (the examples do); it applies to the
    allocations made afterwards. Equivalent to starting Python with
    ``MALLOC_MMAP_THRESHOLD_=1073741824 MALLOC_TRIM_THRESHOLD_=-1``.

    Returns:
        True if glibc accepted the setting; False where there is no glibc (macOS, Windows,
        musl), which changes nothing.
    """
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError, TypeError):
        return False
    from_heap = mallopt(_M_MMAP_THRESHOLD, _HEAP_UP_TO) == 1
    never_trim = mallopt(_M_TRIM_THRESHOLD, _NEVER_TRIM) == 1  # made even if the first failed
    return from_heap and never_trim
