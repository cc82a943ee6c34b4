"""Helpers for tests: read, damage and snapshot a package copy. Import as `from helpers import ...`."""

from __future__ import annotations

import csv
import io
from pathlib import Path


def read_csv(path: Path) -> tuple[list[str], list[list[str]]]:
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    return rows[0], rows[1:]


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    path.write_text(buffer.getvalue(), encoding="utf-8")


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
