"""Export the package as one Excel workbook: a README sheet, one sheet per table, and a codebook sheet.

Cells carry their schema type: text is always written as text (never read as a number, formula or link),
dates as real spreadsheet dates, integers and numbers as numbers. A value Excel cannot hold exactly is written
as text instead, so it is never changed: an integer of 16 digits or more (Excel keeps 15), a number that needs
more than 15 significant digits, NaN and infinities, and a date before 1900 (Excel's first day). Text longer
than an Excel cell holds is refused. The output is byte-identical for the same package: document properties
come from the descriptor, and xlsxwriter stamps every zip entry 1980-01-01.
"""

from __future__ import annotations

import datetime as dt
import io
import math
import os
from pathlib import Path

import polars as pl

from .atomic import atomic_path
from .codebook import codebook_tables
from .export_common import (
    ExportError,
    LoadedPackage,
    as_text,
    citation_text,
    export_source,
    licence_text,
    listed,
    objects,
    package_created,
)
from .package import Package

__all__ = ["write_workbook"]

EXCEL_MAX_ROWS = 1_048_576
EXCEL_MAX_CELL_CHARS = 32_767
EXCEL_DIGITS = 15  # Excel keeps 15 significant digits of a number
EXCEL_FIRST_DAY = dt.date(1900, 1, 1)
MIN_WIDTH, MAX_WIDTH = 8, 60
DATE_FORMAT = "yyyy-mm-dd"
README_SHEET, CODEBOOK_SHEET = "README", "codebook"
CODEBOOK_HEADER = ["table", "field", "title", "type", "required", "constraints", "description", "example"]


def write_workbook(package: Package | LoadedPackage | str | os.PathLike, out_path: str | os.PathLike,
                   version: str | None = None, check: bool = True) -> None:
    """Write the package's workbook to out_path atomically.

    package is a path (directory, descriptor or zip) or an opened package; version defaults to the
    descriptor's. With check=True a package that does not validate raises InvalidPackage.
    Raises UnreadableInput for unreadable input, OutputAliasesInput when out_path is a file of the package, and
    ExportError when a text is too long for an Excel cell.
    """
    with export_source(package, [out_path], check=check) as loaded, atomic_path(Path(out_path)) as tmp:
        _write(loaded, tmp, version or str(loaded.descriptor.get("version") or ""))


def _write(loaded: LoadedPackage, path: Path, version: str) -> None:
    """Build the workbook in memory, then write its bytes: a disk error is then a plain OSError on our own write,
    not an exception inside xlsxwriter's half-written zip."""
    import xlsxwriter

    options = {"strings_to_numbers": False, "strings_to_formulas": False, "strings_to_urls": False,
               "in_memory": True, "default_date_format": DATE_FORMAT}
    buffer = io.BytesIO()
    workbook = xlsxwriter.Workbook(buffer, options)
    try:
        fmt = _Formats(workbook)
        _set_properties(workbook, loaded, version)
        _readme_sheet(workbook, fmt, loaded, version)
        for name, frame in loaded.tables.items():
            _table_sheet(workbook, fmt, name, frame, loaded.schema(name))
        _codebook_sheet(workbook, fmt, loaded)
    finally:
        workbook.close()
    path.write_bytes(buffer.getvalue())


class _Formats:
    def __init__(self, workbook) -> None:
        self.header = workbook.add_format({"bold": True, "bottom": 1})
        self.date = workbook.add_format({"num_format": DATE_FORMAT})
        self.text = workbook.add_format({"num_format": "@"})  # Excel keeps typed-in values as text too
        self.wrap = workbook.add_format({"text_wrap": True, "valign": "top"})
        self.title = workbook.add_format({"bold": True, "font_size": 14})


def _set_properties(workbook, loaded: LoadedPackage, version: str) -> None:
    d = loaded.descriptor
    created = package_created(d).astimezone(dt.timezone.utc).replace(tzinfo=None)
    workbook.set_properties({
        "title": str(d.get("title", "")),
        "subject": str(d.get("description", ""))[:255],
        "author": "; ".join(as_text(c.get("title")) for c in objects(d, "contributors")),
        "keywords": ", ".join(as_text(k) for k in listed(d, "keywords")),
        "comments": f"{d.get('name', '')} version {version}".strip(),
        "created": created,
    })


def _readme_sheet(workbook, fmt: _Formats, loaded: LoadedPackage, version: str) -> None:
    d = loaded.descriptor
    sheet = workbook.add_worksheet(README_SHEET)
    sheet.set_column(0, 0, 18, fmt.header)
    sheet.set_column(1, 1, 100, fmt.wrap)
    _write_text(sheet, 0, 0, str(d.get("title", d.get("name", ""))), fmt.title, "README sheet: title")
    rows = [
        ("Version", version),
        ("Created", package_created(d).date().isoformat()),
        ("Licence", licence_text(d)),
        ("How to cite", citation_text(loaded.package, version)),
        ("Description", str(d.get("description", ""))),
        ("Sources", "; ".join(as_text(s.get("title")) for s in objects(d, "sources"))),
        ("Sheets", "One sheet per table, in this order: " + ", ".join(loaded.tables)
         + ". The codebook sheet describes every field. Empty cells are missing values."),
    ]
    for name, frame in loaded.tables.items():
        title = loaded.package.resources[name].descriptor.get("title", name)
        rows.append((f"{name}", f"{title}: {frame.height} rows. "
                     + str(loaded.package.resources[name].descriptor.get("description", ""))))
    for index, (label, value) in enumerate(rows, start=2):
        sheet.write_string(index, 0, label, fmt.header)
        _write_text(sheet, index, 1, value, fmt.wrap, f"README sheet: {label}")


def _table_sheet(workbook, fmt: _Formats, name: str, frame: pl.DataFrame, schema: dict) -> None:
    if frame.height + 1 > EXCEL_MAX_ROWS:
        raise ExportError(f"{name}: {frame.height} rows do not fit in an Excel sheet ({EXCEL_MAX_ROWS - 1} at most)")
    sheet = workbook.add_worksheet(name)
    types = {f["name"]: f.get("type", "string") for f in schema["fields"]}
    for col, column in enumerate(frame.columns):
        _write_text(sheet, 0, col, column, fmt.header, f"{name}: a field name")
        kind = types.get(column, "string")
        values = frame[column].to_list()
        write = _writer(sheet, fmt, kind, name, column)
        for row, value in enumerate(values, start=1):
            if value is not None:
                write(row, col, value)
        sheet.set_column(col, col, _width(column, values, kind), fmt.text if kind in ("string", "any") else None)
    sheet.freeze_panes(1, 0)
    sheet.autofilter(0, 0, max(frame.height, 1), len(frame.columns) - 1)


def _writer(sheet, fmt: _Formats, kind: str, table: str, column: str):
    """The function that writes one non-empty value of this type, as text when Excel would change it."""
    def as_text(r: int, c: int, v: object) -> None:
        sheet.write_string(r, c, v if isinstance(v, str) else _exact_text(v), fmt.text)

    if kind in ("date", "datetime"):
        def write_date(r: int, c: int, v: dt.date) -> None:
            day = v.date() if isinstance(v, dt.datetime) else v
            if day < EXCEL_FIRST_DAY or (isinstance(v, dt.datetime) and v.tzinfo is not None):
                as_text(r, c, v)
            else:
                sheet.write_datetime(r, c, v, fmt.date if kind == "date" else None)
        return write_date
    if kind in ("integer", "number", "year"):
        def write_number(r: int, c: int, v: float) -> None:
            if _excel_keeps(v):
                sheet.write_number(r, c, v)
            else:
                as_text(r, c, v)
        return write_number
    if kind == "boolean":
        return lambda r, c, v: sheet.write_boolean(r, c, v)

    def write_text(r: int, c: int, v: object) -> None:
        _write_text(sheet, r, c, str(v), fmt.text, f"{table} row {r + 1}, field {column}")

    return write_text


def _excel_keeps(value: float) -> bool:
    """True when Excel holds the number exactly: finite and written in at most 15 significant digits."""
    if isinstance(value, int):
        return abs(value) < 10**EXCEL_DIGITS
    return math.isfinite(value) and float(f"{value:.{EXCEL_DIGITS}g}") == value


def _exact_text(value: object) -> str:
    """A value as text that keeps it exactly: Table Schema's NaN/INF/-INF, a float's shortest exact digits, ISO dates."""
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "INF" if value > 0 else "-INF"
        return repr(value)
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return str(value)


def _write_text(sheet, row: int, col: int, text: str, cell_format, where: str) -> None:
    """Write text, refusing (not truncating, as xlsxwriter would) text longer than an Excel cell holds."""
    if len(text) > EXCEL_MAX_CELL_CHARS:
        raise ExportError(f"{where}: {len(text)} characters do not fit in an Excel cell ({EXCEL_MAX_CELL_CHARS} at most)")
    sheet.write_string(row, col, text, cell_format)


def _width(header: str, values: list, kind: str) -> float:
    """A readable column width: the longest line of the header or values, within bounds."""
    if kind == "date":
        longest = 10
    else:
        longest = max((len(line) for v in values if v is not None for line in str(v).splitlines() or [""]),
                      default=0)
    return float(min(MAX_WIDTH, max(MIN_WIDTH, len(header) + 2, longest + 2)))


def _codebook_sheet(workbook, fmt: _Formats, loaded: LoadedPackage) -> None:
    sheet = workbook.add_worksheet(CODEBOOK_SHEET)
    rows = [[f.table, f.name, f.title, f.type, "yes" if f.required else "no", f.constraints, f.description,
             f.example] for t in codebook_tables(loaded.package) for f in t.fields]
    widths = [16, 22, 28, 9, 9, 40, 80, 30]
    for col, (header, width) in enumerate(zip(CODEBOOK_HEADER, widths, strict=True)):
        sheet.write_string(0, col, header, fmt.header)
        sheet.set_column(col, col, width, fmt.wrap if header == "description" else None)
    for r, row in enumerate(rows, start=1):
        for c, value in enumerate(row):
            if value:
                _write_text(sheet, r, c, value, fmt.wrap if CODEBOOK_HEADER[c] == "description" else fmt.text,
                            f"codebook sheet row {r + 1}, {CODEBOOK_HEADER[c]}")
    sheet.freeze_panes(1, 0)
    sheet.autofilter(0, 0, len(rows), len(CODEBOOK_HEADER) - 1)
