"""SHA-256 of files and bytes, and the SHA256SUMS file format that `sha256sum -c` reads."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

SUMS_NAME = "SHA256SUMS"
_LINE = re.compile(r"^(?P<hex>[0-9a-fA-F]{64}) (?P<mode>[ *])(?P<name>.+)$")


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    """Lowercase hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def resource_hash(data: bytes) -> str:
    """The Frictionless `hash` value of a data file: 'sha256:' and the lowercase hex digest."""
    return "sha256:" + sha256_bytes(data)


def resource_hash_file(path: Path) -> tuple[int, str]:
    """The size and Frictionless `hash` of a data file, read in chunks."""
    return path.stat().st_size, "sha256:" + sha256_file(path)


def render_sums(sums: dict[str, str]) -> str:
    """SHA256SUMS text: one '<hex>  <name>' line per file, sorted by name (GNU coreutils text mode)."""
    for name in sums:
        _check_name(name)
    return "".join(f"{sums[name].lower()}  {name}\n" for name in sorted(sums))


def parse_sums(text: str) -> dict[str, str]:
    """Parse SHA256SUMS text (lines ending in LF, CRLF or CR) into {name: lowercase hex}; raise ValueError naming
    the bad line."""
    sums: dict[str, str] = {}
    for number, line in enumerate(re.split(r"\r\n|\r|\n", text), start=1):
        if not line.strip():
            continue
        match = _LINE.match(line)
        if not match:
            raise ValueError(f"{SUMS_NAME} line {number} is not '<64 hex digits>  <file name>': {line[:80]!r}")
        name = match["name"]
        try:
            _check_name(name)
        except ValueError as exc:
            raise ValueError(f"{SUMS_NAME} line {number}: {exc}") from None
        if name in sums:
            raise ValueError(f"{SUMS_NAME} line {number}: {name!r} is listed twice")
        sums[name] = match["hex"].lower()
    return sums


def _check_name(name: str) -> None:
    """A listed name is a plain file name: no folders, no '..', no control or line-separator characters."""
    if not name or name in (".", "..") or "/" in name or "\\" in name or not name.isprintable():
        raise ValueError(f"{name!r} is not a plain file name")
