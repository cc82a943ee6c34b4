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
