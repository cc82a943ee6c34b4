"""Read ahead: an iterator's next item is produced in a thread while the current one is used."""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


class ReadAhead(Generic[T]):
    """The items of an iterator, produced one ahead by a thread that starts at once.

    File reads and polars release the GIL, so on two cores the next batch is read or parsed while this one
    is used. An exception in the producer (NeedsExactRead, OSError) is raised by the iteration, at the item
    where it happened.
    """

    _DONE = object()

    def __init__(self, batches: Iterator[T], name: str = "opimpact-read-ahead") -> None:
        self._ready: queue.Queue = queue.Queue(maxsize=1)
        self._stop = threading.Event()
        self._source = batches
        self._thread = threading.Thread(target=self._read, name=name, daemon=True)
        self._thread.start()

    def _hand_over(self, item: tuple) -> bool:
        """Queue item for the consumer; False once close() was called."""
        if self._stop.is_set():
            return False
        self._ready.put(item)  # close() takes an item out, so a put waiting here always ends
        return not self._stop.is_set()

    def _read(self) -> None:
        try:
            for batch in self._source:
                if not self._hand_over((batch, None)):
                    return
            self._hand_over((self._DONE, None))
        except BaseException as exc:  # handed to the consumer, which raises it
            self._hand_over((self._DONE, exc))

    def __iter__(self) -> Iterator[T]:
        while True:
            batch, error = self._ready.get()
            if error is not None:
                raise error
            if batch is self._DONE:
                return
            yield batch

    def close(self) -> None:
        """Stop the producer (at its next item), wait for it, and close the source (a generator's files)."""
        self._stop.set()
        with contextlib.suppress(queue.Empty):
            while True:
                self._ready.get_nowait()  # wakes a producer waiting to hand over an item
        self._thread.join()
        close = getattr(self._source, "close", None)
        if close is not None:
            close()
