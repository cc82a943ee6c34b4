"""Writes that either complete or leave nothing: write beside the target, then os.replace."""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_path(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside target; move it into place only if the block succeeds."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        _settle(tmp_path, _mode_for(target, 0o666))
        os.replace(tmp_path, target)
        _sync_directory(target.parent)
    except BaseException:  # including KeyboardInterrupt: never leave a partial file
        tmp_path.unlink(missing_ok=True)
        raise


def _mode_for(target: Path, default: int) -> int:
    """The permissions the written file gets: the replaced file's, else the default less the umask."""
    try:
        return stat.S_IMODE(target.stat().st_mode)
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return default & ~umask


def _settle(path: Path, mode: int) -> None:
    """Give the finished temporary file its permissions (mkstemp makes it private) and flush it to disk."""
    os.chmod(path, mode)
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


def write_bytes_atomic(target: str | os.PathLike, data: bytes) -> None:
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)


def write_text_atomic(target: str | os.PathLike, text: str) -> None:
    write_bytes_atomic(target, text.encode("utf-8"))


@contextmanager
def atomic_directory(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary directory beside target; rename it to target only if the block succeeds."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        yield tmp
        if target.exists():
            raise FileExistsError(f"{target} already exists")
        os.chmod(tmp, _mode_for(target, 0o777))  # mkdtemp makes it private
        os.replace(tmp, target)
        _sync_directory(target.parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
