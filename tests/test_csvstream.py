"""The fast, batched CSV path must read exactly what the csv module reads, or step aside for it.

Property: for any bytes after a valid header, read_raw_table's fast path (polars, in batches as small as a few
bytes) gives the same frame, row numbers and structural findings as the exact path (csv module) — except S06,
which only the fast path checks.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from opimpact import csvstream
from opimpact.csvstream import NeedsExactRead, TableUnreadable
from opimpact.package import Resource
from opimpact.tables import ROW, read_raw_table

FIELDS = ["id", "text", "note"]
CELL = st.text(alphabet=st.sampled_from(list('ab é,"\n\r ') + ["\u00a0", "\ufeff"]), max_size=6)


def resource_for(tmp_path: Path, data: bytes) -> Resource:
    path = tmp_path / "t.csv"
    path.write_bytes(data)
    schema = {"fields": [{"name": n, "type": "string"} for n in FIELDS]}
    return Resource(name="t", descriptor={"path": "t.csv"}, path=path, schema=schema)


def written(rows: list[list[str]], terminator: str) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator=terminator).writerows(rows)
    return buffer.getvalue().encode("utf-8")


@st.composite
def csv_files(draw) -> bytes:
    """Mostly well-formed CSV (sometimes ragged, blank or CRLF rows), sometimes with raw junk spliced in."""
    terminator = draw(st.sampled_from(["\n", "\r\n"]))
    rows = draw(st.lists(st.lists(CELL, min_size=0, max_size=4), max_size=6))
    body = written(rows, terminator)
    if draw(st.booleans()):
        junk = draw(st.binary(max_size=6)) if draw(st.booleans()) else draw(CELL).encode()
        at = draw(st.integers(0, len(body)))
        body = body[:at] + junk + body[at:]
    return b"id,text,note" + terminator.encode() + body


def outcome(raw) -> tuple:
    frame = raw.frame
    findings = sorted((f.rule, f.row, f.field, f.message) for f in raw.findings if f.rule != "S06")
    return (None if frame is None else frame.to_dicts()), findings


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=csv_files(), batch=st.sampled_from([1, 5, 17, 1 << 20]))
@example(data=b'id,text,note\n1,"a\nb",c\n2,,\n', batch=1)
@example(data=b'id,text,note\n1,"x"y,c\n', batch=1 << 20)
@example(data=b'id,text,note\n1,b\n2,c,d\n', batch=1 << 20)
@example(data=b'id,text,note\n1,,\n\n2,,\n', batch=3)
@example(data=b'id,text,note\n,,\n1,"a,b",\n', batch=2)
@example(data=b'id,text,note\n1,2,3\n4,\x00,6\n', batch=1)
def test_fast_path_reads_what_the_csv_module_reads(tmp_path, data, batch):
    resource = resource_for(tmp_path, data)
    exact = read_raw_table(resource, fast=False)
    assert outcome(read_raw_table(resource)) == outcome(exact)

    batched = read_raw_table(resource, batch_bytes=batch)
    if batched.batches is None:
        assert outcome(batched) == outcome(exact)
        return
    try:
        frames = list(batched.batches)
    except NeedsExactRead:
        return  # the caller falls back to read_raw_table(fast=False), compared above
    except TableUnreadable as exc:  # the caller reports only this
        batched.frame, batched.findings = None, [exc.finding]
    else:
        batched.frame = pl.concat(frames)
    assert outcome(batched) == outcome(exact)


def test_row_numbers_count_line_breaks_inside_cells_across_batches(tmp_path):
    rows = [[str(i), "two\nlines" if i % 3 == 0 else "one", ""] for i in range(50)]
    resource = resource_for(tmp_path, b"id,text,note\n" + written(rows, "\n"))
    raw = read_raw_table(resource, batch_bytes=40)
    frames = list(raw.batches)
    assert len(frames) > 5
    expected, line = [], 2
    for row in rows:
        expected.append(line)
        line += 1 + row[1].count("\n")
    assert pl.concat(frames)[ROW].to_list() == expected


def test_mixed_line_endings_are_reported_once_across_batches(tmp_path):
    body = b"1,a,\n2,b,\r\n3,c,\n"
    resource = resource_for(tmp_path, b"id,text,note\n" + body)
    raw = read_raw_table(resource, batch_bytes=4)
    list(raw.batches)
    assert [(f.rule, f.row) for f in raw.findings] == [("S06", 3)]


def test_a_short_row_sends_the_file_to_the_exact_reader(tmp_path):
    resource = resource_for(tmp_path, b"id,text,note\n1,a,b\n2,c\n")
    raw = read_raw_table(resource)
    assert [(f.rule, f.row, f.field) for f in raw.findings] == [("S03", 3, "note")]
    assert raw.frame[ROW].to_list() == [2]


@settings(max_examples=200)
@given(data=st.binary(max_size=300), chunk=st.sampled_from([1, 7, 64, 1 << 22]), numpy=st.booleans())
def test_count_bytes_counts_as_bytes_count(data, chunk, numpy):
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(csvstream, "_NUMPY_FROM", 0 if numpy else 1 << 20)
        patch.setattr(csvstream, "_COUNT_CHUNK", chunk)
        assert csvstream.count_bytes(data, b'"\n') == (data.count(b'"'), data.count(b"\n"))
