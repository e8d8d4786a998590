"""The collector pause around store reads: nested and concurrent reads, and the setting the
process had before."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator

import pytest

from recsys.service.gc_pause import collection_paused


@pytest.fixture
def collector_on() -> Iterator[None]:
    was = gc.isenabled()
    gc.enable()
    yield
    if not was:
        gc.disable()


def test_paused_during_and_back_on_after(collector_on: None) -> None:
    with collection_paused():
        assert not gc.isenabled()
        with collection_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the outer read is still going
    assert gc.isenabled()


def test_stays_paused_until_the_last_concurrent_read_ends(collector_on: None) -> None:
    inside, release = threading.Event(), threading.Event()

    def other_read() -> None:
        with collection_paused():
            inside.set()
            release.wait()

    thread = threading.Thread(target=other_read)
    thread.start()
    inside.wait()
    with collection_paused():
        pass
    assert not gc.isenabled()  # the other thread's read has not finished
    release.set()
    thread.join()
    assert gc.isenabled()


def test_a_process_that_turned_the_collector_off_keeps_it_off() -> None:
    was = gc.isenabled()
    gc.disable()
    try:
        with collection_paused():
            pass
        assert not gc.isenabled()
    finally:
        if was:
            gc.enable()


def test_an_error_inside_still_switches_it_back(collector_on: None) -> None:
    with pytest.raises(RuntimeError), collection_paused():
        raise RuntimeError("read failed")
    assert gc.isenabled()
