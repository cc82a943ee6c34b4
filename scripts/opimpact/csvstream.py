"""Parse a CSV file with polars in record-aligned batches of bytes, checking that every record is whole.

This is the fast path of `tables.read_raw_table`. It reads the file once, a batch of about `batch_bytes` at
a time, cut at a line break outside quotes, and parses each batch with polars' CSV reader (every column as
text). polars refuses bad bytes, bad quoting and rows with too many cells, but fills a row with too few cells
with nulls, so each batch is also checked by counting separators, which must be (fields - 1) per record:
they are the bytes left when the cells' text, the quotes that quoting adds and the line endings are taken
away (see parse_batch). Anything the fast path cannot vouch for raises `NeedsExactRead`, and
the caller reads the file with the csv module instead, which names the exact line of every problem.

Row numbers (ROW) are CSV line numbers, header = line 1, counting line breaks inside earlier cells.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import polars as pl

from . import limits
from .readahead import ReadAhead
from .report import Finding, shorten

ROW = "__row"
DEFAULT_BATCH_BYTES = 64 << 20  # 64 MiB of CSV per batch: ~250,000 rows of the events table
_PEEK_BYTES = 1 << 16
_NUMPY_FROM = 1 << 20  # from this many bytes, count_bytes uses numpy
_COUNT_CHUNK = 1 << 22
FIRST_BATCH_DIVISOR = 8


NUL_MESSAGE = "file holds a NUL byte, so it is binary or UTF-16 rather than UTF-8 text; save it as UTF-8"


class NeedsExactRead(Exception):
    """The fast parse cannot vouch for the file's structure; read it with the exact (csv module) reader."""


class TableUnreadable(Exception):
    """The table cannot be loaded at all (a NUL byte, too many rows); `finding` says why."""

    def __init__(self, finding: Finding) -> None:
        super().__init__(finding.message)
        self.finding = finding


@dataclass
class StreamTotals:
    """What the whole file said, accumulated batch by batch (for S04, S06 and D05 after the last batch)."""

    newlines: int = 0  # b"\n" in the file, header included
    crlf: int = 0  # b"\r\n" in the file, header included
    newlines_in_cells: int = 0
    crlf_in_cells: int = 0
    rows: int = 0  # records after the header, blank ones included
    blank_rows: list[int] = field(default_factory=list)
    long_cells: dict[str, list[Finding]] = field(default_factory=dict)


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
        header = handle.readline()
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


def _read_batch(handle, offset: int, batch_bytes: int, size: int) -> tuple[bytes, int, int]:
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
    """One batch's cells as text plus ROW, and the line breaks the cells hold."""

    frame: pl.DataFrame
    breaks: int  # line breaks inside cells
    crlf: int  # CRLF pairs in the batch, inside cells or ending records
    crlf_in_cells: int
    holding: tuple[str, ...]  # the columns found holding quotes or line breaks: the next batch counts them first


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
    try:
        frame = pl.read_csv(data, has_header=False, schema=dict.fromkeys(fields, pl.String), null_values=[""],
                            raise_if_empty=False, truncate_ragged_lines=False)
    except (pl.exceptions.PolarsError, UnicodeError, OSError) as exc:
        raise NeedsExactRead(str(exc).split("\n", 1)[0]) from None
    if quotes is None or newlines is None:
        quotes, newlines = count_bytes(data, b'"\n')
    order = _counting_order(frame, fields, likely)
    record_ends = frame.height - (0 if data.endswith(b"\n") else 1)
    breaks = newlines - record_ends
    broken = _columns_with(frame, order, "\n", breaks, "line breaks")
    crlf = crlf_in_cells = 0
    if b"\r" in data:
        crlf = data.count(b"\r\n")
        if data.count(b"\r") != crlf:  # the csv module ends a record at a lone CR; polars would not
            raise NeedsExactRead("a carriage return that is not part of a CRLF")
        crlf_in_cells = _sum(frame, broken, "\r\n")
    cell_bytes = frame.select(pl.sum_horizontal(_total(pl.col(name).str.len_bytes()) for name in fields)).item() or 0
    unquoted_separators = len(data) - cell_bytes - quotes - record_ends - (crlf - crlf_in_cells)
    # the quotes left inside cells that would make the separators (fields - 1) per record
    inner_quotes = frame.height * (len(fields) - 1) - unquoted_separators
    quoted = _columns_with(frame, order, '"', inner_quotes, "quotes for the cells' separators")
    index = pl.int_range(first_line, first_line + pl.len(), dtype=pl.Int64)
    if broken:  # each record starts that many lines further down
        per_row = pl.sum_horizontal(pl.col(name).str.count_matches("\n", literal=True).fill_null(0) for name in broken)
        index = index + per_row.cum_sum().shift(1, fill_value=0)
    holding = tuple(dict.fromkeys([*broken, *quoted]))
    return ParsedBatch(frame.with_columns(index.alias(ROW)), breaks, crlf, crlf_in_cells, holding)


def _counting_order(frame: pl.DataFrame, fields: list[str], likely: tuple[str, ...]) -> list[str]:
    """The columns that hold any text, likely ones first, then the longest first (quotes and line breaks
    sit in a few long text columns)."""
    longest = dict(zip(fields, frame.select(pl.col(name).str.len_bytes().max() for name in fields).row(0),
                       strict=True)) if frame.height else {}
    rest = sorted((name for name in fields if longest.get(name) and name not in likely), key=lambda n: -longest[n])
    return [name for name in likely if longest.get(name)] + rest


def _columns_with(frame: pl.DataFrame, order: list[str], text: str, total: int, what: str) -> list[str]:
    """The columns whose cells hold `total` occurrences of text between them, counted in order and no
    further than needed; NeedsExactRead when the cells hold a different number."""
    found, columns = 0, []
    for name in order:
        if found >= total:
            break
        n = int(frame[name].str.count_matches(text, literal=True).sum() or 0)
        if n:
            found += n
            columns.append(name)
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


def stream_table(path: Path, fields: list[str], resource: str, file: str, totals: StreamTotals,
                 batch_bytes: int = DEFAULT_BATCH_BYTES) -> Iterator[pl.DataFrame]:
    """Frames of strings plus ROW, blank rows dropped, batch by batch; totals fill in as batches pass.

    Raises NeedsExactRead (possibly after some batches) when the exact reader must take over, and
    TableUnreadable at a NUL byte or past limits.MAX_ROWS rows.
    """
    batches = record_batches(path, batch_bytes)
    header = next(batches).data
    totals.newlines = header.count(b"\n")
    totals.crlf = header.count(b"\r\n")
    raw_batches = ReadAhead(batches, name="opimpact-read-bytes")  # the next bytes are read while a batch parses
    try:
        yield from _parse_batches(raw_batches, fields, resource, file, totals)
    finally:
        raw_batches.close()


def _parse_batches(batches: ReadAhead, fields: list[str], resource: str, file: str,
                   totals: StreamTotals) -> Iterator[pl.DataFrame]:
    """stream_table's work on each batch of bytes: parse, count lines, and check NULs, the row limit,
    blank rows and cell sizes."""
    likely: tuple[str, ...] = ()
    for data, quotes, newlines in batches:
        if b"\x00" in data:
            line = totals.newlines + data.count(b"\n", 0, data.index(b"\x00")) + 1
            raise TableUnreadable(Finding("S01", NUL_MESSAGE, resource, file, line))
        # every batch but the last ends with a line break, so the next record starts on the next line
        parsed = parse_batch(data, fields, first_line=totals.newlines + 1, quotes=quotes, newlines=newlines,
                             likely=likely)
        frame, likely = parsed.frame, parsed.holding
        totals.newlines += frame.height - (0 if data.endswith(b"\n") else 1) + parsed.breaks
        totals.newlines_in_cells += parsed.breaks
        totals.crlf += parsed.crlf
        totals.crlf_in_cells += parsed.crlf_in_cells
        totals.rows += frame.height
        if totals.rows > limits.MAX_ROWS:
            raise TableUnreadable(Finding(
                "D05", f"table has more than {limits.MAX_ROWS} rows, over the limit; it was not loaded", resource, file))
        frame = _drop_blank_rows(frame, fields, totals)
        _check_cell_sizes(frame, fields, resource, file, totals)
        yield frame


def _drop_blank_rows(frame: pl.DataFrame, fields: list[str], totals: StreamTotals) -> pl.DataFrame:
    is_blank = pl.all_horizontal(pl.col(name).is_null() for name in fields)
    if frame.height == 0 or not frame.select(is_blank.any()).item():
        return frame
    totals.blank_rows += frame.filter(is_blank)[ROW].to_list()
    return frame.filter(~is_blank)


def _check_cell_sizes(frame: pl.DataFrame, fields: list[str], resource: str, file: str, totals: StreamTotals) -> None:
    """D05 for cells over the character limit; bytes bound characters, so most batches need no counting."""
    if frame.height == 0:
        return
    longest = frame.select(pl.col(name).str.len_bytes().max() for name in fields).row(0)
    for name, length in zip(fields, longest, strict=True):
        if length is None or length <= limits.MAX_CELL_CHARS:
            continue
        too_long = frame.filter(pl.col(name).str.len_chars() > limits.MAX_CELL_CHARS)
        for row, cell in too_long.select(ROW, name).iter_rows():
            totals.long_cells.setdefault(name, []).append(Finding(
                "D05", f"cell has {len(cell)} characters, over the limit of {limits.MAX_CELL_CHARS}",
                resource, file, row, name, shorten(cell)))
