"""Helpers for tests: read, damage and snapshot a package copy. Import as `from helpers import ...`."""

from __future__ import annotations

import csv
import io
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

# Before Python 3.11 the csv module refuses NUL both ways ("line contains NUL", "need to escape"). Tests write and
# read NUL on purpose, so there it goes through a stand-in character that the data does not hold.
_NUL_NEEDS_STAND_IN = sys.version_info < (3, 11)


def _stand_in(text: str) -> str:
    if not _NUL_NEEDS_STAND_IN or "\x00" not in text:
        return "\x00"
    return next(c for c in map(chr, range(0xE000, 0xF900)) if c not in text)  # a private-use character


def csv_text(rows: Iterable[list], terminator: str = "\n") -> str:
    """rows as CSV text, as csv.writer writes them, NUL included on every Python version."""
    rows = list(rows)
    stand_in = _stand_in("".join(str(cell) for row in rows for cell in row))
    if stand_in != "\x00":
        rows = [[cell.replace("\x00", stand_in) if isinstance(cell, str) else cell for cell in row] for row in rows]
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator=terminator).writerows(rows)
    return buffer.getvalue().replace(stand_in, "\x00")


class CsvReader:
    """csv.reader over lines that may hold NUL, on every Python version; line_num as csv.reader counts it."""

    def __init__(self, lines: Iterable[str], **options: Any) -> None:
        text = "".join(lines)
        self._stand_in = _stand_in(text)
        self._reader = csv.reader(io.StringIO(text.replace("\x00", self._stand_in), newline=""), **options)

    @property
    def line_num(self) -> int:
        return self._reader.line_num

    def __iter__(self) -> Iterator[list[str]]:
        return self

    def __next__(self) -> list[str]:
        return [cell.replace(self._stand_in, "\x00") for cell in next(self._reader)]


def read_csv(path: Path) -> tuple[list[str], list[list[str]]]:
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(CsvReader(handle))
    return rows[0], rows[1:]


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> None:
    path.write_text(csv_text([header, *rows]), encoding="utf-8")


def set_cell(package: Path, resource: str, index: int, field: str, value: str) -> int:
    """Set one cell (data row index from 0) and return its CSV line number (header is line 1)."""
    path = package / "data" / f"{resource}.csv"
    header, rows = read_csv(path)
    rows[index][header.index(field)] = value
    write_csv(path, header, rows)
    return index + 2


def get_cell(package: Path, resource: str, index: int, field: str) -> str:
    header, rows = read_csv(package / "data" / f"{resource}.csv")
    return rows[index][header.index(field)]


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file's bytes under root, to prove a command wrote nothing."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def set_date(package: Path, resource: str, index: int, stem: str, edtf: str) -> int:
    """Set a whole date group from its EDTF (start, end, precision, earliest, latest and, where the table has
    one, a kind that fits), as the package's rules require; return the CSV line number."""
    from opimpact.edtfdates import SPAN, read

    reading = read(edtf)
    assert reading.problem is None, reading.problem
    header, _ = read_csv(package / "data" / f"{resource}.csv")
    values = {"edtf": edtf, "start": reading.start, "end": reading.end, "precision": reading.precision,
              "earliest": reading.earliest, "latest": reading.latest}
    if f"{stem}_kind" in header:
        kind = get_cell(package, resource, index, f"{stem}_kind")
        values["kind"] = SPAN if reading.shape == SPAN else (kind if kind != SPAN else "single")
        if resource == "personnel_levels" and values["kind"] == "single":
            values["kind"] = "as_of"
    for part, value in values.items():
        if f"{stem}_{part}" in header:
            set_cell(package, resource, index, f"{stem}_{part}", "" if value is None else str(value))
    return index + 2
