"""The C heap under a process that builds and swaps big arrays: what glibc keeps and gives back.

numpy takes every array from malloc. glibc serves blocks above a threshold with their own
mapping (returned to the OS when freed) and smaller ones from its heap (kept for reuse), and by
default it raises that threshold, up to 32 MiB, each time a mapped block is freed. A build of
millions of events frees many such blocks (sort keys, masks, matrix temporaries), so the later
ones of tens of MiB all came from the heap: RSS climbed with every step and stayed up, and the
build's peak was the sum of what it held and every step's leftovers. Not glibc (musl, macOS):
both calls do nothing."""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
from typing import Any

# Blocks from this size on get their own mapping (fixed: glibc stops adjusting it). Requests
# allocate far less than this (score arrays of 100,000 items are 0.8 MiB), so they keep
# reusing heap memory; builds and refreshes hand their big temporaries back when done.
LARGE_BLOCK_BYTES = 4 << 20
_M_MMAP_THRESHOLD = -3  # glibc's malloc.h


@functools.cache
def _libc() -> Any | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name)
        libc.malloc_trim, libc.mallopt  # noqa: B018 - glibc only
    except (OSError, AttributeError):
        return None
    return libc


def map_large_blocks() -> None:
    """Serve blocks of LARGE_BLOCK_BYTES or more from their own mappings from now on, so that
    freeing one gives it back to the OS at once (process-wide; called again, it does nothing
    new)."""
    libc = _libc()
    if libc is not None:
        libc.mallopt(_M_MMAP_THRESHOLD, LARGE_BLOCK_BYTES)


def release_free_memory() -> None:
    """Hand freed heap pages back to the OS. A heavy rebuild allocates hundreds of MiB of
    temporaries (matrix products, the item-model inverse); glibc keeps such pages in its arenas,
    so without this a worker's RSS ratchets up by a step at some rebuilds although nothing is
    retained (measured with bench/soak.py)."""
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)


__all__ = ["LARGE_BLOCK_BYTES", "map_large_blocks", "release_free_memory"]
