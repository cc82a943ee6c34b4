"""ReadAhead hands over every item in order, raises the producer's error where it happened, and stops its
thread at once when closed, whatever the producer was doing."""

from __future__ import annotations

import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st

from opimpact.readahead import ReadAhead


@given(st.lists(st.integers(), max_size=50))
def test_every_item_arrives_in_order(items):
    ahead = ReadAhead(iter(items))
    assert list(ahead) == items
    ahead.close()


def test_the_producers_error_is_raised_at_its_item():
    def produce():
        yield 1
        yield 2
        raise OSError("disk gone")

    ahead = ReadAhead(produce())
    got = []
    with pytest.raises(OSError, match="disk gone"):
        for item in ahead:
            got.append(item)
    assert got == [1, 2]
    ahead.close()


def test_close_stops_a_producer_that_is_ahead_and_closes_its_source():
    produced, closed = [], threading.Event()

    def produce():
        try:
            for i in range(1_000_000):
                produced.append(i)
                yield i
        finally:
            closed.set()

    ahead = ReadAhead(produce())
    first = next(iter(ahead))
    ahead.close()
    assert first == 0
    assert not ahead._thread.is_alive()
    assert closed.is_set()
    assert len(produced) <= 3  # the item taken, one queued, one waiting to be handed over


def test_close_before_any_item_is_taken_ends_the_thread():
    ahead = ReadAhead(iter(range(10)))
    ahead.close()
    assert not ahead._thread.is_alive()
