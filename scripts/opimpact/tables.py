"""Read a resource's CSV into a polars frame of strings, checking its structure (rules S01-S06).

The fast path (csvstream) parses with polars, in batches. When it meets a ragged row, a bad byte or bad
quoting, the file is read again with Python's csv module, which is slower but tells the exact row of every
structural problem.
Every frame carries ROW: the CSV line number where the record starts (the header is line 1).
"""

from __future__ import annotations

import codecs
import csv
import io
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from . import limits
from .csvstream import (
    DEFAULT_BATCH_BYTES,
    NUL_MESSAGE,
    ROW,
    NeedsExactRead,
    StreamTotals,
    TableUnreadable,
    stream_table,
)
from .package import Resource
from .report import Finding, shorten

__all__ = ["ROW", "NeedsExactRead", "RawTable", "TableUnreadable", "read_raw_table"]
_BOMS = {codecs.BOM_UTF32_LE: "UTF-32", codecs.BOM_UTF32_BE: "UTF-32",  # UTF-32 first: its LE BOM starts like UTF-16's
         codecs.BOM_UTF16_LE: "UTF-16", codecs.BOM_UTF16_BE: "UTF-16"}
_CHUNK = 1 << 20


@dataclass(frozen=True)
class ByteScan:
    """What one streaming pass over the raw bytes tells before parsing: line breaks, quotes, the first NUL."""

    newlines: int
    quotes: int
    nul_line: int | None  # physical line of the first NUL byte, None when there is none


def scan_bytes(path: Path) -> ByteScan:
    """Count line breaks and double quotes and find the first NUL byte, reading 1 MiB at a time."""
    newlines = quotes = 0
    nul_line = None
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            if nul_line is None and b"\x00" in chunk:
                nul_line = newlines + chunk.count(b"\n", 0, chunk.index(b"\x00")) + 1
            newlines += chunk.count(b"\n")
            quotes += chunk.count(b'"')
    return ByteScan(newlines, quotes, nul_line)


def count_records(path: Path, stop_after: int) -> int:
    """CSV records in the file (header included), counting no further than stop_after."""
    csv.field_size_limit(sys.maxsize)
    count = 0
    with open(path, encoding="utf-8", errors="replace", newline="") as handle:
        for _ in csv.reader(handle):
            count += 1
            if count > stop_after:
                break
    return count


@dataclass
class RawTable:
    """A table's cells as strings (None where empty), or None when its structure could not be read."""

    resource: str
    file: str
    frame: pl.DataFrame | None
    findings: list[Finding] = field(default_factory=list)
    # Set instead of frame when read in batches: frames in file order; findings are complete once it is
    # exhausted. It raises NeedsExactRead when the file needs the exact reader (read_raw_table(fast=False)),
    # and TableUnreadable when the table cannot be loaded at all (its finding replaces everything else).
    batches: Iterator[pl.DataFrame] | None = None


def read_raw_table(resource: Resource, batch_bytes: int | None = None, *, fast: bool = True) -> RawTable:
    """Read a resource's CSV file with every column as text, reporting structural problems.

    With batch_bytes, a file the fast path can read comes back as RawTable.batches of about that many bytes
    of CSV each, so a large table need not fit in memory at once. fast=False reads with the csv module only.
    """
    raw = RawTable(resource=resource.name, file=resource.rel_path, frame=None)

    def fail(rule: str, message: str, row: int | None = None, field_name: str | None = None,
             value: object = None) -> RawTable:
        raw.findings.append(Finding(rule, message, resource.name, resource.rel_path, row, field_name, shorten(value)))
        return raw

    path = resource.path
    if path is None or resource.schema is None:
        return raw  # the descriptor layer already reported why
    try:
        if not path.is_file():
            return fail("S05", "data file not found" if not path.exists() else "the path is not a regular file")
        return _read_checked(resource, path, raw, fail, batch_bytes, fast)
    except OSError as exc:  # unreadable (permissions, a name too long, I/O error, file removed while reading)
        return fail("S05", f"the file cannot be read: {exc.strerror or exc}")


def _read_checked(resource: Resource, path: Path, raw: RawTable, fail: Callable[..., RawTable],
                  batch_bytes: int | None = None, fast: bool = True) -> RawTable:
    """The checks and reading of read_raw_table once the file is known to exist."""
    size = path.stat().st_size
    if size > limits.MAX_FILE_BYTES:
        return fail("D05", f"file is {size} bytes, over the limit of {limits.MAX_FILE_BYTES}")
    if size == 0:
        return fail("S05", "file is empty; expected a header row and data rows", row=1)
    with open(path, "rb") as handle:
        head = handle.read(1 << 16)
    for bom, encoding in _BOMS.items():
        if head.startswith(bom):
            return fail("S01", f"file is {encoding}; save it as UTF-8", row=1)
    fields = resource.field_names
    header, header_problem = _read_header(head)
    if header_problem or header != fields:
        scan = scan_bytes(path)
        if scan.nul_line is not None:  # a NUL byte is reported first: the header is not the real problem
            return fail("S01", NUL_MESSAGE, row=scan.nul_line)
        if header_problem:
            return fail("S01", header_problem, row=1)
        return fail("S02", _describe_header_mismatch(header, fields), row=1, field_name=_first_header_diff(header, fields),
                    value=",".join(header))

    if fast:  # one pass: the fast path itself stops at a NUL byte, past the row limit, or at an unclosed quote
        known = len(raw.findings)
        raw.batches = _fast_batches(path, fields, raw, batch_bytes or DEFAULT_BATCH_BYTES)
        if batch_bytes is not None:
            return raw
        try:
            frames = list(raw.batches)
        except NeedsExactRead:
            del raw.findings[known:]
        except TableUnreadable as exc:
            raw.batches = None
            del raw.findings[known:]
            raw.findings.append(exc.finding)
            return raw
        else:
            raw.batches = None
            raw.frame = pl.concat(frames) if len(frames) != 1 else frames[0]
            return raw
        raw.batches = None
    scan = scan_bytes(path)
    if scan.nul_line is not None:
        return fail("S01", NUL_MESSAGE, row=scan.nul_line)
    if scan.newlines > limits.MAX_ROWS and count_records(path, limits.MAX_ROWS + 1) > limits.MAX_ROWS + 1:
        return fail("D05", f"table has more than {limits.MAX_ROWS} rows, over the limit; it was not loaded")
    frame = _read_exact(path, fields, raw)
    if frame is None:
        return raw
    frame = _drop_blank_rows_and_check_size(frame, fields, raw)
    if frame.height == 0 and not raw.findings:
        fail("S05", "table has a header but no data rows", row=1)
    raw.frame = frame
    return raw


def _read_header(head: bytes) -> tuple[list[str], str | None]:
    text = head.decode("utf-8", errors="replace").removeprefix("\ufeff")
    if "\ufffd" in text.split("\n", 1)[0]:
        return [], "header row is not valid UTF-8; save the file as UTF-8"
    return next(csv.reader(io.StringIO(text)), []), None


def _first_header_diff(header: list[str], fields: list[str]) -> str | None:
    for index, name in enumerate(fields):
        if index >= len(header) or header[index] != name:
            return name
    return header[len(fields)] if len(header) > len(fields) else None


def _describe_header_mismatch(header: list[str], fields: list[str]) -> str:
    missing = [f for f in fields if f not in header]
    extra = [h for h in header if h not in fields]
    duplicated = sorted({h for h in header if header.count(h) > 1})
    parts = []
    if missing:
        parts.append("missing " + ", ".join(missing))
    if extra:
        parts.append("unexpected " + ", ".join(extra))
    if duplicated:
        parts.append("duplicated " + ", ".join(duplicated))
    if not parts:
        parts.append("columns are in the wrong order")
    return f"header does not match the schema ({'; '.join(parts)}); expected: {','.join(fields)}"


def _fast_batches(path: Path, fields: list[str], raw: RawTable, batch_bytes: int) -> Iterator[pl.DataFrame]:
    """The fast path: polars batches (at least one frame), then the whole-file findings S06, S04, D05, S05."""
    totals = StreamTotals()
    rows = batches = 0
    for frame in stream_table(path, fields, raw.resource, raw.file, totals, batch_bytes):
        rows += frame.height
        batches += 1
        yield frame
    if batches == 0:
        yield pl.DataFrame(schema={**dict.fromkeys(fields, pl.String), ROW: pl.Int64})
    crlf_ends = totals.crlf - totals.crlf_in_cells  # a line break inside a cell is text, not a record's end
    bare_lf_ends = totals.newlines - totals.crlf - (totals.newlines_in_cells - totals.crlf_in_cells)
    if crlf_ends > 0 and bare_lf_ends > 0:
        raw.findings.append(Finding("S06", "line endings are mixed (some LF, some CRLF); save the file with one kind",
                                    raw.resource, raw.file, _mixed_endings_line(path)))
    for row in totals.blank_rows:
        raw.findings.append(Finding("S04", "row is blank; delete it", raw.resource, raw.file, row))
    for name in fields:
        raw.findings += totals.long_cells.get(name, [])
    if rows > limits.MAX_ROWS:
        raw.findings.append(Finding("D05", f"table has {rows} rows, over the limit of {limits.MAX_ROWS}",
                                    raw.resource, raw.file))
    if rows == 0 and not raw.findings:
        raw.findings.append(Finding("S05", "table has a header but no data rows", raw.resource, raw.file, 1))


def _read_exact(path: Path, fields: list[str], raw: RawTable) -> pl.DataFrame | None:
    """Read record by record with the csv module, reporting each structural problem at its line.

    The file is streamed rather than read whole, so memory stays near the size of the table itself."""
    columns: dict[str, list[str | None]] = {name: [] for name in fields}
    rows: list[int] = []
    csv.field_size_limit(sys.maxsize)
    known = len(raw.findings)
    start_line = 1
    try:
        with open(path, encoding="utf-8-sig", newline="") as handle:
            reader = csv.reader(handle, strict=True)
            next(reader, None)
            start_line = reader.line_num + 1
            for record in reader:
                if record and len(record) != len(fields):
                    shortfall = len(record) < len(fields)
                    raw.findings.append(Finding(
                        "S03", f"row has {len(record)} cells; the header has {len(fields)}", raw.resource, raw.file,
                        start_line, fields[len(record)] if shortfall else None, shorten(",".join(record))))
                else:
                    for name, cell in zip(fields, record or [""] * len(fields), strict=True):
                        columns[name].append(cell or None)
                    rows.append(start_line)
                start_line = reader.line_num + 1
    except UnicodeDecodeError:
        del raw.findings[known:]  # as when the file was decoded first: the encoding is the problem reported
        raw.findings.append(_encoding_finding(path, raw))
        return None
    except csv.Error as exc:
        raw.findings.append(Finding("S03", f"the CSV cannot be parsed here: {exc} (an unclosed quote or a truncated file?)",
                                    raw.resource, raw.file, start_line))
    schema = {name: pl.String for name in fields}
    return pl.DataFrame(columns, schema=schema).with_columns(pl.Series(ROW, rows, dtype=pl.Int64))


def _encoding_finding(path: Path, raw: RawTable) -> Finding:
    """S01 at the line of the first byte that is not UTF-8."""
    data = path.read_bytes()
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        return Finding("S01", f"invalid UTF-8 byte 0x{data[exc.start]:02x}; save the file as UTF-8",
                       raw.resource, raw.file, line)
    return Finding("S01", "the file is not valid UTF-8; save it as UTF-8", raw.resource, raw.file)


def _mixed_endings_line(path: Path) -> int:
    """The first line that ends differently from the first one (LF versus CRLF)."""
    with open(path, "rb") as handle:
        data = handle.read()
    first_ending = data[: data.index(b"\n") + 1].endswith(b"\r\n")
    line_no = 1
    for line in data.splitlines(keepends=True):
        if line.endswith(b"\n") and line.endswith(b"\r\n") != first_ending:
            break
        line_no += 1
    return line_no


def _drop_blank_rows_and_check_size(frame: pl.DataFrame, fields: list[str], raw: RawTable) -> pl.DataFrame:
    """Report blank rows and oversized cells; return the frame without its blank rows."""
    is_blank = pl.all_horizontal(pl.col(name).is_null() for name in fields)
    for row in frame.filter(is_blank)[ROW].to_list():
        raw.findings.append(Finding("S04", "row is blank; delete it", raw.resource, raw.file, row))
    frame = frame.filter(~is_blank)
    longest = frame.select(pl.col(name).str.len_chars().max() for name in fields).row(0) if frame.height else ()
    for name, length in zip(fields, longest, strict=False):
        if length is not None and length > limits.MAX_CELL_CHARS:
            too_long = frame.filter(pl.col(name).str.len_chars() > limits.MAX_CELL_CHARS)
            for row, cell in too_long.select(ROW, name).iter_rows():
                raw.findings.append(Finding("D05", f"cell has {len(cell)} characters, over the limit of "
                                            f"{limits.MAX_CELL_CHARS}", raw.resource, raw.file, row, name,
                                            shorten(cell)))
    if frame.height > limits.MAX_ROWS:
        raw.findings.append(Finding("D05", f"table has {frame.height} rows, over the limit of {limits.MAX_ROWS}",
                                    raw.resource, raw.file))
    return frame
