"""Giving memory back to the system after a generation.

A generation allocates a few hundred MB of frames and layers from several threads and frees them when it ends; the
C allocator (glibc) keeps what was freed in per-thread arenas, so without help the app stays at its peak after a
burst of users. Fewer arenas and a trim after each generation return it. Elsewhere (macOS, musl) both do nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools

ARENAS = 2  # arenas the allocator may use: the app's threads mostly wait, and each arena holds freed memory
_M_ARENA_MAX = -8  # mallopt's parameter number (malloc.h)


@functools.cache
def _glibc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    return libc if libc is not None and hasattr(libc, "malloc_trim") and hasattr(libc, "mallopt") else None


def limit_arenas(arenas: int = ARENAS) -> bool:
    """Cap the allocator's arenas for threads started from now on (as ``MALLOC_ARENA_MAX`` would); whether it
    could. Call at start, before the server's threads run."""
    libc = _glibc()
    return libc is not None and bool(libc.mallopt(_M_ARENA_MAX, arenas))


def release_free_memory() -> bool:
    """Return the allocator's free pages to the system (``malloc_trim``); whether any were returned."""
    libc = _glibc()
    return libc is not None and bool(libc.malloc_trim(0))
