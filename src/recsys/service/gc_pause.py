"""Pausing Python's cyclic garbage collector while a namespace is read from the store.

Reading millions of events makes millions of short-lived row tuples. Each one counts towards
the collector's thresholds, so the collector runs thousands of times during a read, and its
full passes walk every object the process holds (the users' traits, the catalogue): on 4M events
those passes cost about a third of the build. None of the rows is part of a reference cycle
(they are freed by reference counting the moment their chunk is converted to arrays), so the
pause frees nothing later that it would have freed sooner.

The collector is process-wide and reads run in several threads (one per namespace being
loaded): it stays paused while any read is in progress and is switched back on by the last
one, and only if it was on when the first began."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_readers = 0
_was_enabled = False


@contextmanager
def collection_paused() -> Iterator[None]:
    """The cyclic collector off for the duration (reentrant and thread-safe)."""
    global _readers, _was_enabled
    with _lock:
        if _readers == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _readers += 1
    try:
        yield
    finally:
        with _lock:
            _readers -= 1
            if _readers == 0 and _was_enabled:
                gc.enable()


__all__ = ["collection_paused"]
