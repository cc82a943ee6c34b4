"""Writes that either complete or leave the previous state: write beside the target, then os.replace.

A Transaction groups several files and new folders that must appear together (a database and its metadata,
a release's folder, records and rewritten files). Nothing is moved into place until every part is written;
moving them is renames only, so a full disk cannot stop it half-way; a failure or Ctrl-C while moving puts
back what was already moved. Folders created to hold the outputs are removed again when nothing is written.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import stat
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path


@dataclass
class _Move:
    temp: Path
    target: Path
    is_folder: bool
    mode: int
    backup: Path | None = None  # a second name for the replaced file, until the transaction is over
    moved: bool = False


class Transaction:
    """Files and new folders written to temporary places beside their targets, all moved in by commit()."""

    def __init__(self) -> None:
        self._moves: list[_Move] = []
        self._created: list[Path] = []  # folders made for the outputs, outermost first
        self._committed = False

    def file(self, target: str | os.PathLike, mode: int | None = None) -> Path:
        """A temporary path beside target; commit() moves it to target. The file gets the permissions of the file
        it replaces, else mode, else 0666 less the umask (never mkstemp's private 0600)."""
        target = Path(target)
        self._check_new(target)
        self._make_parents(target.parent)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        os.close(fd)
        self._moves.append(_Move(Path(tmp), target, False, _mode_for(target, mode)))
        return Path(tmp)

    def folder(self, target: str | os.PathLike) -> Path:
        """A temporary folder beside target, which must not exist yet; commit() renames it to target."""
        target = Path(target)
        self._check_new(target)
        self._make_parents(target.parent)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
        self._moves.append(_Move(tmp, target, True, _mode_for(target, None, folder=True)))
        return tmp

    def _check_new(self, target: Path) -> None:
        if any(os.path.abspath(m.target) == os.path.abspath(target) for m in self._moves):
            raise ValueError(f"{target} is written twice in one transaction")

    def _make_parents(self, folder: Path) -> None:
        missing = []
        while not folder.exists():
            missing.append(folder)
            if folder.parent == folder:
                break
            folder = folder.parent
        for path in reversed(missing):
            path.mkdir()
            self._created.append(path)

    def commit(self) -> None:
        """Flush every part, then move each into place. A failure while moving puts back what was moved; so does a
        Ctrl-C, which is held back until the moves are done or undone, so it always finds the previous state."""
        for move in self._moves:
            _settle(move.temp, move.mode, move.is_folder)
        with deferred_interrupts() as interrupted:
            try:
                for move in sorted(self._moves, key=lambda m: not m.is_folder):  # new folders replace nothing
                    if move.is_folder and move.target.exists():
                        raise FileExistsError(f"{move.target} already exists")
                    if not move.is_folder and move.target.exists():
                        move.backup = _keep_original(move.target)
                    move.moved = True
                    os.replace(move.temp, move.target)
                if interrupted:  # Ctrl-C while moving: go back to the previous state, then let it through
                    self._undo()
                else:
                    self._committed = True
            except BaseException:
                self._undo()
                raise
        for folder in {m.target.parent for m in self._moves}:
            _sync_directory(folder)
        self._drop_backups()

    def _undo(self) -> None:
        for move in reversed(self._moves):
            if move.moved and not os.path.lexists(move.temp):  # it was moved: put back what it replaced
                if move.backup is not None:
                    os.replace(move.backup, move.target)
                elif move.is_folder:
                    shutil.rmtree(move.target, ignore_errors=True)
                else:
                    move.target.unlink(missing_ok=True)
            move.moved = False

    def _drop_backups(self) -> None:
        with deferred_interrupts():
            for move in self._moves:
                if move.backup is not None:
                    shutil.rmtree(move.backup.parent, ignore_errors=True)
                    move.backup = None

    def discard(self) -> None:
        """After a failure: remove every temporary part and backup and, unless committed, the folders made for
        the outputs (the previous state is already back in place)."""
        with deferred_interrupts():
            if not self._committed:
                self._undo()
            for move in self._moves:
                if move.is_folder and not move.moved:
                    shutil.rmtree(move.temp, ignore_errors=True)
                elif not move.is_folder:
                    move.temp.unlink(missing_ok=True)
            self._drop_backups()
            if not self._committed:
                for folder in reversed(self._created):
                    with contextlib.suppress(OSError):  # not empty: something else was put there meanwhile
                        folder.rmdir()


@contextmanager
def transaction() -> Iterator[Transaction]:
    """A Transaction committed when the block succeeds and discarded when it fails (Ctrl-C included)."""
    tx = Transaction()
    try:
        yield tx
        tx.commit()
    except BaseException:
        tx.discard()
        raise


@contextmanager
def deferred_interrupts() -> Iterator[list[int]]:
    """Hold back Ctrl-C (SIGINT) for the block: it is recorded in the yielded list and delivered right after, so it
    cannot stop a series of renames or their undoing half-way.

    A Python-level handler is swapped in (masking the signal would not do: the kernel hands it to any thread that
    does not mask it, such as polars' workers). Only the main thread can do this; elsewhere nothing is deferred."""
    if threading.current_thread() is not threading.main_thread():
        yield []
        return
    caught: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: caught.append(signum))
    try:
        yield caught
    finally:
        signal.signal(signal.SIGINT, previous)
        if caught and callable(previous):
            previous(signal.SIGINT, None)  # the default handler raises KeyboardInterrupt
        elif caught and previous == signal.SIG_DFL:
            raise KeyboardInterrupt


def _keep_original(target: Path) -> Path:
    """A second name for target (a hard link in a private folder beside it), so it can be put back by a rename."""
    holder = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".orig", dir=target.parent))
    backup = holder / target.name
    try:
        try:
            os.link(target, backup)
        except OSError:  # no hard links on this file system: copy instead
            shutil.copy2(target, backup)
    except BaseException:
        shutil.rmtree(holder, ignore_errors=True)
        raise
    return backup


def _mode_for(target: Path, mode: int | None, folder: bool = False) -> int:
    """The permissions a written file gets: the replaced file's, else mode, else the default less the umask."""
    try:
        return stat.S_IMODE(target.stat().st_mode)
    except OSError:
        pass
    if mode is not None:
        return mode
    umask = os.umask(0)
    os.umask(umask)
    return (0o777 if folder else 0o666) & ~umask


def _settle(path: Path, mode: int, folder: bool) -> None:
    """Give the finished temporary file its permissions (mkstemp makes it private) and flush it to disk."""
    os.chmod(path, mode)
    if folder:
        _sync_directory(path)
        return
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


def _sync_directory(folder: Path) -> None:
    """Make a rename durable; some file systems cannot open a folder for this, which is harmless."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextmanager
def atomic_path(target: str | os.PathLike, mode: int | None = None) -> Iterator[Path]:
    """Yield a temporary path beside target; move it into place only if the block succeeds."""
    with transaction() as tx:
        yield tx.file(target, mode)


def write_bytes_atomic(target: str | os.PathLike, data: bytes) -> None:
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)


def write_text_atomic(target: str | os.PathLike, text: str) -> None:
    write_bytes_atomic(target, text.encode("utf-8"))
