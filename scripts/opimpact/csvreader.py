"""Read a resource's CSV file into polars frames of strings, checking its structure (rules S01-S06, D05 limits).

Every command reads CSV through `read_raw_table`. It has two paths, which fill the same `StreamTotals` and
report through the same functions, so each structure rule is implemented once:

- the fast path (`stream_table`) reads the file once, a batch of about `batch_bytes` at a time, cut at a line
  break outside quotes, and parses each batch with polars' CSV reader (every column as text). polars refuses
  bad bytes, bad quoting and rows with too many cells, but fills a row with too few cells with nulls, so each
  batch is also checked by counting separators, which must be (fields - 1) per record: they are the bytes left
  when the cells' text, the quotes that quoting adds and the line endings are taken away (see parse_batch).
  Anything the fast path cannot vouch for raises `NeedsExactRead`;
- the exact path (`exact_table`) then reads the file record by record with Python's csv module, which is
  slower but names the exact line of every structural problem.

Both paths check NUL bytes with `nul_line`, the row limit with `_count_rows`, blank rows and cell sizes with
`check_frame`, and turn their totals into the whole-file findings with `file_findings`.
Every frame carries ROW: the CSV line number where the record starts (the header is line 1). A line ends at
LF, CRLF or a lone CR, as the csv module counts lines, and line breaks inside cells count.
"""

from __future__ import annotations

import codecs
import csv
import io
import os
import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import BinaryIO, NamedTuple

import polars as pl

from . import limits
from .package import Resource
from .readahead import ReadAhead
from .registry import Rule
from .report import Finding, shorten

Rule("S01", "encoding", "structure",
     "The CSV file is UTF-8 text (a UTF-8 byte-order mark is tolerated; UTF-16, UTF-32 and NUL bytes are refused).",
     "the file is not UTF-8 text")
Rule("S02", "header", "structure", "The header row equals the schema's field names, in the schema's order.",
     "the header does not match the schema")
Rule("S03", "ragged-row", "structure", "Every row has as many cells as the header.",
     "the row does not have as many cells as the header")
Rule("S04", "blank-row", "structure", "No row is entirely empty.", "row is blank; delete it")
Rule("S05", "file-readable", "structure",
     "The data file exists, can be read, and has a header and at least one data row.",
     "the data file cannot be read or has no data rows")
Rule("S06", "line-endings", "structure",
     "All records end the same way: all LF or all CRLF (a lone CR, as old Mac files end lines, is refused).",
     "records do not all end with LF, or all with CRLF")
Rule("S07", "house-format", "structure",
     "With --archive (the maintainers' check of the files the repository ships): every CSV file is UTF-8 without "
     "a byte-order mark, with LF line endings, and ends with a line break. Without it, files as spreadsheets save "
     "them (a byte-order mark, CRLF) are accepted.",
     "the file is not in the house format (UTF-8 without a byte-order mark, LF line endings, a final line break)")

__all__ = ["DEFAULT_BATCH_BYTES", "NUL_MESSAGE", "ROW", "NeedsExactRead", "RawTable", "StreamTotals",
           "TableUnreadable", "check_frame", "count_bytes", "count_line_ends", "exact_table", "file_findings", "nul_line",
           "parse_batch", "read_raw_table", "record_batches", "stream_table"]

ROW = "__row"
DEFAULT_BATCH_BYTES = 64 << 20  # 64 MiB of CSV per batch: ~250,000 rows of the events table
FIRST_BATCH_DIVISOR = 8
NUL_MESSAGE = "file holds a NUL byte, so it is binary or UTF-16 rather than UTF-8 text; save it as UTF-8"
_BOMS = {codecs.BOM_UTF32_LE: "UTF-32", codecs.BOM_UTF32_BE: "UTF-32",  # UTF-32 first: its LE BOM starts like UTF-16's
         codecs.BOM_UTF16_LE: "UTF-16", codecs.BOM_UTF16_BE: "UTF-16"}
_HEAD_BYTES = 1 << 16  # read for the header check
_CHUNK = 1 << 20  # what the exact path and the NUL scan read at a time
_PEEK_BYTES = 1 << 16
_NUMPY_FROM = 16 << 20  # from this many bytes, count_bytes uses numpy (importing it costs ~50 ms)
_COUNT_CHUNK = 1 << 22
_LINE_ENDS = (b"\n", b"\r")
# Record ends the fast path can meet (a lone CR sends a file to the exact path), found by a regular expression.
_ENDING_PATTERNS = {"LF": re.compile(rb"(?<!\r)\n"), "CRLF": re.compile(rb"\r\n")}


class NeedsExactRead(Exception):
    """The fast parse cannot vouch for the file's structure; read it with the exact (csv module) reader."""


class TableUnreadable(Exception):
    """The table cannot be loaded at all (a NUL byte, a byte that is not UTF-8, too many rows); `finding` says
    why."""

    def __init__(self, finding: Finding) -> None:
        super().__init__(finding.message)
        self.finding = finding


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


@dataclass
class StreamTotals:
    """What a read found in the whole file, filled record by record (exact path) or batch by batch (fast path);
    file_findings turns it into findings."""

    lines: int = 0  # line breaks read so far (LF, CRLF or a lone CR), inside cells or not, the header's included
    ends: dict[str, int] = field(default_factory=dict)  # records, the header included, ending in LF, CRLF or CR
    first_end: dict[str, int] = field(default_factory=dict)  # the line where a record first ends that way
    rows: int = 0  # records after the header, blank and ragged ones included
    data_rows: int = 0  # records kept in the frames: neither blank nor ragged
    blank_rows: list[int] = field(default_factory=list)
    long_cells: dict[str, list[Finding]] = field(default_factory=dict)  # D05 findings by field
    problems: list[Finding] = field(default_factory=list)  # S03 at single records (only the exact path meets them)

    def ended(self, kind: str | None, count: int, first_line: Callable[[], int]) -> None:
        """count records ended in this way (None: at the end of the file, without a line break); first_line
        finds the line of the first of them, asked only when no record has ended this way before."""
        if kind is None or count <= 0:
            return
        self.ends[kind] = self.ends.get(kind, 0) + count
        if kind not in self.first_end:
            self.first_end[kind] = first_line()


# --- reading a table: the checks before parsing, then one of the two paths ------------------------------------

def house_format_findings(resource: Resource) -> list[Finding]:
    """S07: a byte-order mark, the first carriage return, and a missing final line break, each at its line.
    A file that cannot be read is left to read_raw_table, which reports why."""
    path = resource.path
    if path is None or not path.is_file():
        return []
    found: list[Finding] = []

    def add(message: str, line: int) -> None:
        found.append(Finding("S07", message, resource.name, resource.rel_path, line))

    lines, last, first = 1, b"", True
    try:
        with open(path, "rb") as handle:
            while chunk := handle.read(_CHUNK):
                if first and chunk.startswith(codecs.BOM_UTF8):
                    add("the file starts with a byte-order mark; save it as UTF-8 without one", 1)
                first = False
                carriage = chunk.find(b"\r")
                if carriage >= 0 and not any(f.message.startswith("a carriage return") for f in found):
                    add("a carriage return ends a line (CRLF or CR); save the file with LF line endings",
                        lines + chunk.count(b"\n", 0, carriage))
                lines += chunk.count(b"\n")
                last = chunk[-1:]
    except OSError:
        return []
    if last and last != b"\n":
        add("the file does not end with a line break", lines)
    return found


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
        head = handle.read(_HEAD_BYTES)
    for bom, encoding in _BOMS.items():
        if head.startswith(bom):
            return fail("S01", f"file is {encoding}; save it as UTF-8", row=1)
    fields = resource.field_names
    header, header_problem = _read_header(head)
    if header_problem or header != fields:
        nul = _find_nul(path)
        if nul is not None:  # a NUL byte is reported first: the header is not the real problem
            return fail("S01", NUL_MESSAGE, row=nul)
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
    totals = StreamTotals()
    try:
        raw.frame = exact_table(path, fields, raw.resource, raw.file, totals)
    except TableUnreadable as exc:
        raw.findings.append(exc.finding)
        return raw
    raw.findings += file_findings(totals, fields, raw.resource, raw.file)
    return raw


def read_file_header(path: Path) -> tuple[list[str], str | None]:
    """The header record of a CSV file (from its first 64 KiB), or why it cannot be read."""
    with open(path, "rb") as handle:
        return _read_header(handle.read(_HEAD_BYTES))


def _read_header(head: bytes) -> tuple[list[str], str | None]:
    """The header record from the file's first bytes, or why it cannot be read."""
    text = head.decode("utf-8", errors="replace").removeprefix("\ufeff")
    if "\x00" in text:  # before the csv module, which refuses NUL bytes with an error of its own before Python 3.11
        return [], NUL_MESSAGE
    header = next(csv.reader(io.StringIO(text, newline="")), [])  # newline="": lines end as in the exact path
    if "\ufffd" in "".join(header):
        return [], "header row is not valid UTF-8; save the file as UTF-8"
    return header, None


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
    """The fast path: polars batches (at least one frame), then the whole-file findings."""
    totals = StreamTotals()
    batches = 0
    for frame in stream_table(path, fields, raw.resource, raw.file, totals, batch_bytes):
        batches += 1
        yield frame
    if batches == 0:
        yield pl.DataFrame(schema={**dict.fromkeys(fields, pl.String), ROW: pl.Int64})
    raw.findings += file_findings(totals, fields, raw.resource, raw.file)


# --- the structure rules, shared by both paths ----------------------------------------------------------------

def count_line_ends(data: bytes) -> int:
    """Line breaks in data: LF, CRLF (one break) and lone CR."""
    return data.count(b"\n") + data.count(b"\r") - data.count(b"\r\n")


def nul_line(data: bytes, first_line: int) -> int | None:
    """The line of data's first NUL byte (S01), data starting on first_line; None when it holds none."""
    at = data.find(b"\x00")
    return None if at < 0 else first_line + count_line_ends(data[:at])


def _count_rows(totals: StreamTotals, count: int, resource: str, file: str) -> None:
    """Add count records; past limits.MAX_ROWS the table is not loaded (D05)."""
    totals.rows += count
    if totals.rows > limits.MAX_ROWS:
        raise TableUnreadable(Finding(
            "D05", f"table has more than {limits.MAX_ROWS} rows, over the limit; it was not loaded", resource, file))


def check_frame(frame: pl.DataFrame, fields: list[str], resource: str, file: str,
                totals: StreamTotals, longest: tuple[int | None, ...] | None = None) -> pl.DataFrame:
    """Note blank rows (S04) and cells over limits.MAX_CELL_CHARS (D05) in totals; the frame without its
    blank rows. Bytes bound characters, so most frames need no counting of characters. longest, when the
    caller measured them, are each field's longest cell in bytes (a blank row changes none of them)."""
    if frame.height:
        is_blank = pl.all_horizontal(pl.col(name).is_null() for name in fields)
        if frame.select(is_blank.any()).item():
            totals.blank_rows += frame.filter(is_blank)[ROW].to_list()
            frame = frame.filter(~is_blank)
    if frame.height:
        if longest is None:
            longest = frame.select(pl.col(name).str.len_bytes().max() for name in fields).row(0)
        for name, length in zip(fields, longest, strict=True):
            if length is None or length <= limits.MAX_CELL_CHARS:
                continue
            too_long = frame.filter(pl.col(name).str.len_chars() > limits.MAX_CELL_CHARS)
            for row, cell in too_long.select(ROW, name).iter_rows():
                totals.long_cells.setdefault(name, []).append(Finding(
                    "D05", f"cell has {len(cell)} characters, over the limit of {limits.MAX_CELL_CHARS}",
                    resource, file, row, name, shorten(cell)))
    totals.data_rows += frame.height
    return frame


def file_findings(totals: StreamTotals, fields: list[str], resource: str, file: str) -> list[Finding]:
    """What a whole read adds up to: S03 at ragged records, S06 for line endings, S04 for blank rows, D05 for
    long cells (in field order), and S05 when the table has no data row and nothing else is wrong."""
    found = list(totals.problems)
    if "CR" in totals.first_end:
        found.append(Finding("S06", "records end with a lone CR (old Mac line endings); save the file with LF "
                                    "or CRLF line endings", resource, file, totals.first_end["CR"]))
    elif len(totals.first_end) > 1:  # LF and CRLF: reported where the file first ends a record the other way
        (first, _), (other, line) = sorted(totals.first_end.items(), key=lambda item: item[1])
        found.append(Finding("S06", f"line endings are mixed ({totals.ends[first]} records end with {first}, "
                                    f"{totals.ends[other]} with {other}); save the file with one kind",
                             resource, file, line))
    found += [Finding("S04", "row is blank; delete it", resource, file, row) for row in totals.blank_rows]
    for name in fields:
        found += totals.long_cells.get(name, [])
    if totals.data_rows == 0 and not found:
        found.append(Finding("S05", "table has a header but no data rows", resource, file, 1))
    return found


def _ending(line: bytes) -> str | None:
    """How a line ends: "CRLF", "LF", "CR", or None at the end of a file without a final line break."""
    if line.endswith(b"\n"):
        return "CRLF" if line.endswith(b"\r\n") else "LF"
    return "CR" if line.endswith(b"\r") else None


def _chunks(handle: BinaryIO) -> Iterator[bytes]:
    """The file in pieces of about 1 MiB, none ending between the CR and the LF of a CRLF."""
    while chunk := handle.read(_CHUNK):
        while chunk.endswith(b"\r") and (more := handle.read(1)):
            chunk += more
        yield chunk


def _find_nul(path: Path) -> int | None:
    """The line of the file's first NUL byte, or None."""
    lines = 0
    with open(path, "rb") as handle:
        for chunk in _chunks(handle):
            line = nul_line(chunk, lines + 1)
            if line is not None:
                return line
            lines += count_line_ends(chunk)
    return None


# --- the fast path: polars, in batches of bytes -----------------------------------------------------------------

class RawBatch(NamedTuple):
    """Bytes of whole records, with their counts of double quotes and line breaks."""

    data: bytes
    quotes: int
    newlines: int


def count_bytes(data: bytes, values: bytes) -> tuple[int, ...]:
    """How often each byte of values occurs in data. On large data numpy counts them together in 4 MiB
    pieces: four times quicker than bytes.count, one pass for all, and other threads run meanwhile
    (bytes.count holds the GIL throughout)."""
    if len(data) < _NUMPY_FROM:
        return tuple(data.count(bytes([value])) for value in values)
    import numpy as np  # imported only for large files: the shipped package never needs it

    view, counts = np.frombuffer(data, np.uint8), [0] * len(values)
    for start in range(0, len(view), _COUNT_CHUNK):
        piece = view[start:start + _COUNT_CHUNK]
        for i, value in enumerate(values):
            counts[i] += int(np.count_nonzero(piece == value))
    return tuple(counts)


def record_batches(path: Path, batch_bytes: int = DEFAULT_BATCH_BYTES) -> Iterator[RawBatch]:
    """The header line, then batches of whole records of up to about batch_bytes each (the first ones
    smaller).

    A batch ends at a line break with an even number of double quotes before it, so no quoted cell is cut.
    The last batch may lack a final line break; a file whose quotes never close ends in NeedsExactRead.
    """
    with open(path, "rb") as handle:
        header = handle.readline(_HEAD_BYTES)  # a longer header fails the header check
        yield RawBatch(header, header.count(b'"'), header.count(b"\n"))
        offset = len(header)
        size = os.fstat(handle.fileno()).st_size
        # a large file starts with small batches, doubling, so that checking starts sooner
        want = batch_bytes if size - offset <= batch_bytes else max(1, batch_bytes // FIRST_BATCH_DIVISOR)
        while offset < size:
            data, quotes, newlines = _read_batch(handle, offset, want, size)
            if not data:
                return
            yield RawBatch(data, quotes, newlines)
            offset += len(data)
            want = min(batch_bytes, want * 2)


def _read_batch(handle: BinaryIO, offset: int, batch_bytes: int, size: int) -> tuple[bytes, int, int]:
    """Read from offset to the last line break before offset + batch_bytes (or to the end of the file), found
    by peeking at the batch's last bytes, so the batch is read once and never copied; when that line break
    lies inside a quoted cell (an odd number of quotes before it), look for one outside quotes instead.
    Returns the batch and its numbers of double quotes and line breaks."""
    end = offset + batch_bytes
    if end < size:
        start = max(offset, end - _PEEK_BYTES)
        handle.seek(start)
        tail = handle.read(end - start).rfind(b"\n")
        end = start + tail + 1 if tail >= 0 else None
    if end is not None:
        handle.seek(offset)
        data = handle.read(min(end, size) - offset)
        quotes, newlines = count_bytes(data, b'"\n')
        if quotes % 2 == 0:
            return data, quotes, newlines
    handle.seek(offset)  # the slow way: read on until a line break outside quotes
    buffer = handle.read(batch_bytes)
    while True:
        cut = _record_end(buffer) if len(buffer) >= batch_bytes else None
        if cut is not None:
            handle.seek(offset + cut)
            return buffer[:cut], *count_bytes(buffer[:cut], b'"\n')
        more = handle.read(batch_bytes)
        if not more:
            quotes, newlines = count_bytes(buffer, b'"\n')
            if quotes % 2:
                raise NeedsExactRead("a quoted cell never closes")
            return buffer, quotes, newlines
        buffer += more


def _record_end(buffer: bytes) -> int | None:
    """Offset just past the last line break of buffer that lies outside quotes, or None."""
    quotes = buffer.count(b'"')
    pos = buffer.rfind(b"\n")
    while pos >= 0:
        after = buffer.count(b'"', pos)
        if (quotes - after) % 2 == 0:
            return pos + 1
        pos = buffer.rfind(b"\n", 0, pos)
    return None


@dataclass(frozen=True)
class ParsedBatch:
    """One batch's cells as text plus ROW, and how its lines end."""

    frame: pl.DataFrame
    breaks: int  # line breaks inside cells
    record_ends: int  # line breaks ending records (the last record may end the file without one)
    crlf_ends: int  # of which CRLF
    holding: tuple[str, ...]  # the columns found holding quotes or line breaks: the next batch counts them first
    longest: tuple[int | None, ...]  # each field's longest cell, in bytes (None for a column of empty cells)


def parse_batch(data: bytes, fields: list[str], first_line: int = 2, quotes: int | None = None,
                newlines: int | None = None, likely: tuple[str, ...] = ()) -> ParsedBatch:
    """The batch's cells as text (None where empty) plus ROW (its first record at first_line).

    Raises NeedsExactRead unless every record has exactly len(fields) cells. polars refuses a record with
    too many cells but fills a short one with nulls, so the separators are counted, from lengths: every
    byte of the batch is a cell's text, a quote that quoting adds (the batch's quotes less those left
    inside cells), a separator or a record's line ending. Separators can only fall short of (fields - 1)
    per record, and each column's quotes only add to them, so the cells are counted column by column
    (likely ones first) until the separators add up, and the rest is never scanned; line breaks inside
    cells likewise, until all that are not records' ends are found. quotes and newlines are the batch's
    counts of double quotes and line breaks, where the caller counted them.
    """
    if data.startswith(b"\xef\xbb\xbf"):
        raise NeedsExactRead("a record starts with a byte-order mark")  # polars would drop it
    crlf = 0
    if b"\r" in data:
        crlf = data.count(b"\r\n")
        if data.count(b"\r") != crlf:  # the csv module ends a line at a lone CR; polars would not
            raise NeedsExactRead("a carriage return that is not part of a CRLF")
    try:
        # an empty cell is read as null by default; a quoted empty one ("") as "", made null below (where the
        # lengths show one): quicker than null_values=[""], which compares every cell
        frame = pl.read_csv(data, has_header=False, schema=dict.fromkeys(fields, pl.String), raise_if_empty=False,
                            truncate_ragged_lines=False)
    except (pl.exceptions.PolarsError, UnicodeError, OSError) as exc:
        raise NeedsExactRead(str(exc).split("\n", 1)[0]) from None
    if quotes is None or newlines is None:
        quotes, newlines = count_bytes(data, b'"\n')
    # each column's longest and shortest cell and the bytes of all cells, in one pass over the lengths
    sizes = frame.select(*(pl.col(name).str.len_bytes().max().alias(f"max:{name}") for name in fields),
                         *(pl.col(name).str.len_bytes().min().alias(f"min:{name}") for name in fields),
                         pl.sum_horizontal(_total(pl.col(name).str.len_bytes()) for name in fields).alias("sum"))
    *lengths, cell_bytes = sizes.row(0)
    longest, shortest = lengths[:len(fields)], lengths[len(fields):]
    cell_bytes = cell_bytes or 0
    quoted_empty = [name for name, size in zip(fields, shortest, strict=True) if size == 0]
    if quoted_empty:
        frame = frame.with_columns(pl.when(pl.col(name) != "").then(pl.col(name)).alias(name) for name in quoted_empty)
    order = _counting_order(fields, longest, likely)
    record_ends = frame.height - (0 if data.endswith(b"\n") else 1)
    breaks = newlines - record_ends
    broken = _columns_with(frame, order, "\n", breaks, "line breaks")
    crlf_ends = crlf - (_sum(frame, list(broken), "\r\n") if crlf else 0)
    unquoted_separators = len(data) - cell_bytes - quotes - record_ends - crlf_ends
    # the quotes left inside cells that would make the separators (fields - 1) per record
    inner_quotes = frame.height * (len(fields) - 1) - unquoted_separators
    quoted = _columns_with(frame, order, '"', inner_quotes, "quotes for the cells' separators")
    index = pl.int_range(first_line, first_line + pl.len(), dtype=pl.Int64)
    if broken:  # each record starts that many lines further down (the counts found above, per cell)
        per_row = pl.sum_horizontal(pl.lit(counts).fill_null(0) for counts in broken.values())
        index = index + per_row.cum_sum().shift(1, fill_value=0)
    holding = tuple(dict.fromkeys([*broken, *quoted]))
    # one chunk per column: polars parses in pieces, and every later operation on columns of differing pieces
    # would join them again (about 6 ms a batch of events, each time)
    frame = frame.with_columns(index.alias(ROW)).rechunk()
    return ParsedBatch(frame, breaks, record_ends, crlf_ends, holding, tuple(longest))


def _counting_order(fields: list[str], sizes: list[int | None], likely: tuple[str, ...]) -> list[str]:
    """The columns that hold any text, likely ones first, then the longest first (quotes and line breaks
    sit in a few long text columns)."""
    longest = dict(zip(fields, sizes, strict=True))
    rest = sorted((name for name in fields if longest.get(name) and name not in likely), key=lambda n: -longest[n])
    return [name for name in likely if longest.get(name)] + rest


def _columns_with(frame: pl.DataFrame, order: list[str], text: str, total: int, what: str) -> dict[str, pl.Series]:
    """The columns whose cells hold `total` occurrences of text between them, counted in order and no
    further than needed, each with its count per cell; NeedsExactRead when the cells hold a different number."""
    found, columns = 0, {}
    for name in order:
        if found >= total:
            break
        counts = frame[name].str.count_matches(text, literal=True)
        n = int(counts.sum() or 0)
        if n:
            found += n
            columns[name] = counts
    if found != total:
        raise NeedsExactRead(f"{what}: {total} expected in the batch's cells, {found} found")
    return columns


def _total(counts: pl.Expr) -> pl.Expr:
    """The sum of a column of per-cell counts, in 64 bits (polars would sum 32-bit counts in 32 bits)."""
    return counts.cast(pl.Int64).sum()


def _sum(frame: pl.DataFrame, fields: list[str], text: str) -> int:
    """How often text occurs in the given columns' cells."""
    if frame.height == 0 or not fields:
        return 0
    return int(frame.select(pl.sum_horizontal(
        _total(pl.col(name).str.count_matches(text, literal=True)) for name in fields)).item() or 0)


def _first_record_end(data: bytes, kind: str, parsed: ParsedBatch, first_line: int) -> int:
    """The line where a record of the batch first ends in this way ("LF" or "CRLF"). A line break inside a
    cell ends no record: a record's end is followed by the next record's start, or by the batch's end."""
    starts = set(parsed.frame[ROW].to_list()) if parsed.breaks else None
    line, pos = first_line, 0
    for match in _ENDING_PATTERNS[kind].finditer(data):
        line += data.count(b"\n", pos, match.start())
        pos = match.start()
        if starts is None or line + 1 in starts or match.end() == len(data):
            return line
    raise NeedsExactRead(f"no record ends with {kind}")  # the batch's counts said one does


def stream_table(path: Path, fields: list[str], resource: str, file: str, totals: StreamTotals,
                 batch_bytes: int = DEFAULT_BATCH_BYTES) -> Iterator[pl.DataFrame]:
    """Frames of strings plus ROW, blank rows dropped, batch by batch; totals fill in as batches pass.

    Raises NeedsExactRead (possibly after some batches) when the exact reader must take over, and
    TableUnreadable at a NUL byte or past limits.MAX_ROWS rows.
    """
    batches = record_batches(path, batch_bytes)
    header = next(batches).data
    if header.count(b'"') % 2 or header.count(b"\r") != header.count(b"\r\n"):
        raise NeedsExactRead("the header's line holds a lone CR or an open quote")
    totals.lines = header.count(b"\n")
    totals.ended(_ending(header), 1, lambda: 1)
    raw_batches = ReadAhead(batches, name="opimpact-read-bytes")  # the next bytes are read while a batch parses
    try:
        yield from _parse_batches(raw_batches, fields, resource, file, totals)
    finally:
        raw_batches.close()


def _parse_batches(batches: ReadAhead, fields: list[str], resource: str, file: str,
                   totals: StreamTotals) -> Iterator[pl.DataFrame]:
    """stream_table's work on each batch of bytes: check NULs, parse, count lines and record ends, and check
    the row limit, blank rows and cell sizes."""
    likely: tuple[str, ...] = ()
    for data, quotes, newlines in batches:
        # every batch but the last ends with a line break, so the next record starts on the next line
        first_line = totals.lines + 1
        nul = nul_line(data, first_line)
        if nul is not None:
            raise TableUnreadable(Finding("S01", NUL_MESSAGE, resource, file, nul))
        parsed = parse_batch(data, fields, first_line=first_line, quotes=quotes, newlines=newlines, likely=likely)
        likely = parsed.holding
        totals.lines += parsed.record_ends + parsed.breaks
        for kind, count in (("LF", parsed.record_ends - parsed.crlf_ends), ("CRLF", parsed.crlf_ends)):
            totals.ended(kind, count, partial(_first_record_end, data, kind, parsed, first_line))
        _count_rows(totals, parsed.frame.height, resource, file)
        yield check_frame(parsed.frame, fields, resource, file, totals, parsed.longest)


# --- the exact path: the csv module, record by record ------------------------------------------------------------

def exact_table(path: Path, fields: list[str], resource: str, file: str, totals: StreamTotals) -> pl.DataFrame:
    """The table read record by record with the csv module: cells as text plus ROW, blank and ragged rows
    left out (noted in totals); totals fill in as records pass.

    Raises TableUnreadable at a NUL byte or a byte that is not UTF-8, or past limits.MAX_ROWS rows. The file
    is streamed rather than read whole, so memory stays near the size of the table itself.
    """
    columns: dict[str, list[str | None]] = {name: [] for name in fields}
    rows: list[int] = []
    csv.field_size_limit(sys.maxsize)
    start_line = 1
    with open(path, "rb") as handle:
        lines = _TextLines(path, handle, resource, file, totals)
        reader = csv.reader(lines, strict=True)
        try:
            if next(reader, None) is not None:  # the header, checked before
                totals.ended(_ending(lines.last), 1, lambda: totals.lines)
            start_line = totals.lines + 1
            for record in reader:
                _count_rows(totals, 1, resource, file)
                if record and len(record) != len(fields):
                    shortfall = len(record) < len(fields)
                    totals.problems.append(Finding(
                        "S03", f"row has {len(record)} cells; the header has {len(fields)}", resource, file,
                        start_line, fields[len(record)] if shortfall else None, shorten(",".join(record))))
                else:
                    for name, cell in zip(fields, record or [""] * len(fields), strict=True):
                        columns[name].append(cell or None)
                    rows.append(start_line)
                totals.ended(_ending(lines.last), 1, lambda: totals.lines)
                start_line = totals.lines + 1
        except csv.Error as exc:
            totals.problems.append(Finding(
                "S03", f"the CSV cannot be parsed here: {exc} (an unclosed quote or a truncated file?)",
                resource, file, start_line))
    frame = pl.DataFrame(columns, schema=dict.fromkeys(fields, pl.String))
    return check_frame(frame.with_columns(pl.Series(ROW, rows, dtype=pl.Int64)), fields, resource, file, totals)


class _TextLines:
    """The file's lines as text for the csv module, each with its ending, counted into totals.lines; `last` is
    the last one's bytes. A NUL byte or a byte that is not UTF-8 raises TableUnreadable at its line, before the
    csv module sees it (before Python 3.11 it refuses a NUL with an error of its own)."""

    def __init__(self, path: Path, handle: BinaryIO, resource: str, file: str, totals: StreamTotals) -> None:
        self.path, self.handle, self.resource, self.file, self.totals = path, handle, resource, file, totals
        self.last = b""

    def __iter__(self) -> Iterator[str]:
        encoding = "utf-8-sig"  # a byte-order mark is tolerated at the start of the file
        for line in _byte_lines(self.handle):
            self.last = line
            nul = nul_line(line, self.totals.lines + 1)
            if nul is not None:
                raise TableUnreadable(Finding("S01", NUL_MESSAGE, self.resource, self.file, nul))
            try:
                text = line.decode(encoding)
            except UnicodeDecodeError as exc:
                raise TableUnreadable(self._encoding_finding(exc)) from None
            encoding = "utf-8"
            if line.endswith(_LINE_ENDS):
                self.totals.lines += 1
            yield text

    def _encoding_finding(self, exc: UnicodeDecodeError) -> Finding:
        """S01 at the line of the first byte that is not UTF-8, unless a NUL byte later in the file says more."""
        nul = _find_nul(self.path)
        if nul is not None:  # as on the fast path, which checks NULs before parsing
            return Finding("S01", NUL_MESSAGE, self.resource, self.file, nul)
        return Finding("S01", f"invalid UTF-8 byte 0x{exc.object[exc.start]:02x}; save the file as UTF-8",
                       self.resource, self.file, self.totals.lines + 1)


def _byte_lines(handle: BinaryIO) -> Iterator[bytes]:
    """The file's lines, each with its ending: LF, CRLF or a lone CR, where the csv module ends lines too."""
    pieces: list[bytes] = []  # a line begun in earlier chunks
    for chunk in _chunks(handle):
        lines = chunk.splitlines(keepends=True)  # bytes break at LF, CRLF and CR only
        if pieces:
            pieces.append(lines[0])
            if not lines[0].endswith(_LINE_ENDS):  # the chunk holds no line break
                continue
            lines[0] = b"".join(pieces)
            pieces = []
        if not lines[-1].endswith(_LINE_ENDS):
            pieces.append(lines.pop())
        yield from lines
    if pieces:
        yield b"".join(pieces)
