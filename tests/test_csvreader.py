"""The one CSV reader: its fast path (polars, in batches) must read exactly what its exact path (the csv module)
reads, or step aside for it; every structure rule applies on both.

Property: for any bytes after a valid header, read_raw_table's fast path (in batches as small as a few bytes)
gives the same frame, row numbers and findings (S01-S06, D05) as the exact path, and where the fast path vouches
for a file, both fill the same totals.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from opimpact import csvreader
from opimpact.csvreader import (
    NUL_MESSAGE,
    ROW,
    NeedsExactRead,
    StreamTotals,
    TableUnreadable,
    exact_table,
    read_raw_table,
    stream_table,
)
from opimpact.package import Resource

from corruption_helpers import csv_path, expect, expect_text, matching

FIELDS = ["id", "text", "note"]
CELL = st.lists(st.sampled_from([*'ab é,"\n\r ', "\u00a0", "\ufeff", "\r\n"]), max_size=6).map("".join)
TERMINATORS = st.sampled_from(["\n", "\r\n", "\r"])


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
    """Mostly well-formed CSV (quoted cells with line breaks; sometimes ragged or blank rows; LF, CRLF, lone CR
    and now and then a row ending differently), sometimes with raw junk spliced in."""
    terminator = draw(TERMINATORS)
    rows = draw(st.lists(st.lists(CELL, min_size=0, max_size=4), max_size=6))
    body = b"".join(written([row], draw(TERMINATORS) if draw(st.integers(0, 9)) == 0 else terminator)
                    for row in rows)
    if draw(st.booleans()):
        junk = draw(st.binary(max_size=6)) if draw(st.booleans()) else draw(CELL).encode()
        at = draw(st.integers(0, len(body)))
        body = body[:at] + junk + body[at:]
    return b"id,text,note" + terminator.encode() + body


def outcome(raw) -> tuple:
    frame = raw.frame
    findings = sorted((f.rule, f.row or 0, f.field or "", f.message) for f in raw.findings)
    return (None if frame is None else frame.to_dicts()), findings


def totals_of(read, path: Path, *args) -> StreamTotals | str:
    """What a path filled in, or why it stopped."""
    totals = StreamTotals()
    try:
        result = read(path, FIELDS, "t", "t.csv", totals, *args)
        if not isinstance(result, pl.DataFrame):
            list(result)
    except NeedsExactRead:
        return "exact read needed"
    except TableUnreadable as exc:
        return exc.finding.message
    return totals


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=csv_files(), batch=st.sampled_from([1, 5, 17, 1 << 20]))
@example(data=b'id,text,note\n1,"a\nb",c\n2,,\n', batch=1)
@example(data=b'id,text,note\n1,"x"y,c\n', batch=1 << 20)
@example(data=b'id,text,note\n1,b\n2,c,d\n', batch=1 << 20)
@example(data=b'id,text,note\n1,,\n\n2,,\n', batch=3)
@example(data=b'id,text,note\n,,\n1,"a,b",\n', batch=2)
@example(data=b'id,text,note\n1,2,3\n4,\x00,6\n', batch=1)
@example(data=b'id,text,note\r\n1,"a\nb",\r\n2,"c\r\nd",\n3,,\n', batch=1 << 20)
@example(data=b'id,text,note\r1,"a\rb",\r2,,\r\n', batch=5)
@example(data=b'id,text,note\n1,\xff,\n2,\x00,\n', batch=1 << 20)
@example(data=b'id,text,note\n1,"",""\n"",x,\n', batch=1 << 20)  # quoted empty cells are empty too
def test_fast_path_reads_what_the_csv_module_reads(tmp_path, data, batch):
    resource = resource_for(tmp_path, data)
    exact = read_raw_table(resource, fast=False)
    assert outcome(read_raw_table(resource)) == outcome(exact)

    batched = read_raw_table(resource, batch_bytes=batch)
    if batched.batches is not None:
        try:
            batched.frame = pl.concat(list(batched.batches))
        except NeedsExactRead:
            batched = exact  # the caller falls back to read_raw_table(fast=False)
        except TableUnreadable as exc:  # the caller reports only this
            batched.frame, batched.findings = None, [exc.finding]
    assert outcome(batched) == outcome(exact)

    fast_totals = totals_of(stream_table, resource.path, batch)
    if fast_totals != "exact read needed" and exact.frame is not None:
        assert fast_totals == totals_of(exact_table, resource.path)


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
    assert read_raw_table(resource, fast=False).frame[ROW].to_list() == expected


def test_mixed_line_endings_are_reported_once_across_batches(tmp_path):
    body = b"1,a,\n2,b,\r\n3,c,\n"
    resource = resource_for(tmp_path, b"id,text,note\n" + body)
    raw = read_raw_table(resource, batch_bytes=4)
    list(raw.batches)
    assert [(f.rule, f.row) for f in raw.findings] == [("S06", 3)]
    assert "1 with CRLF" in raw.findings[0].message


@pytest.mark.parametrize("fast", [True, False])
def test_mixed_line_endings_skip_line_breaks_inside_cells(tmp_path, fast):
    # CRLF records; an LF inside a cell (line 3) is text, the LF ending line 6 is the first odd record end
    data = b'id,text,note\r\n1,a,\r\n2,"x\ny",\r\n3,b,\r\n4,c,\n5,d,\r\n'
    raw = read_raw_table(resource_for(tmp_path, data), fast=fast)
    assert [(f.rule, f.row) for f in raw.findings] == [("S06", 6)]
    assert raw.frame[ROW].to_list() == [2, 3, 5, 6, 7]


def test_mixed_line_endings_are_found_by_the_exact_path_too(tmp_path):
    # a ragged row sends the file to the exact reader, which reports it and the mixed line endings
    data = b"id,text,note\n1,a,b\n2,c\r\n3,d,e\r\n4,f,g\n"
    resource = resource_for(tmp_path, data)
    for raw in (read_raw_table(resource), read_raw_table(resource, fast=False)):
        assert sorted((f.rule, f.row) for f in raw.findings) == [("S03", 3), ("S06", 3)]
        assert raw.frame[ROW].to_list() == [2, 4, 5]
    with pytest.raises(NeedsExactRead):
        list(read_raw_table(resource, batch_bytes=1 << 20).batches)


@pytest.mark.parametrize("batch", [None, 3, 1 << 20])
def test_old_mac_line_endings_are_s06_not_a_crash(tmp_path, batch):
    data = b'id,text,note\r1,a,\r2,"two\rlines",x\r3,c,'
    resource = resource_for(tmp_path, data)
    raw = read_raw_table(resource, batch_bytes=batch)
    if raw.batches is not None:
        with pytest.raises(NeedsExactRead):  # validate then reads with fast=False, as below
            list(raw.batches)
        raw = read_raw_table(resource, fast=False)
    assert [(f.rule, f.row) for f in raw.findings] == [("S06", 1)]
    assert "lone CR" in raw.findings[0].message
    assert raw.frame.to_dicts() == [
        {"id": "1", "text": "a", "note": None, ROW: 2},
        {"id": "2", "text": "two\rlines", "note": "x", ROW: 3},
        {"id": "3", "text": "c", "note": None, ROW: 5}]


def test_a_lone_cr_among_lf_endings_is_reported_at_its_line(tmp_path):
    raw = read_raw_table(resource_for(tmp_path, b"id,text,note\n1,a,\n2,b,\r3,c,\n"))
    assert [(f.rule, f.row) for f in raw.findings] == [("S06", 3)]
    assert raw.frame[ROW].to_list() == [2, 3, 4]


@pytest.mark.parametrize("fast", [True, False])
@pytest.mark.parametrize("data", [b"id,te\x00xt,note\n1,a,b\n", b"\x00id,text,note\r\n1,a,b\r\n",
                                  b"id,text,note\x00"])
def test_a_nul_byte_in_the_header_is_s01_on_every_python(tmp_path, data, fast):
    raw = read_raw_table(resource_for(tmp_path, data), fast=fast)
    assert [(f.rule, f.row, f.message) for f in raw.findings] == [("S01", 1, NUL_MESSAGE)]
    assert raw.frame is None


@pytest.mark.parametrize("fast", [True, False])
def test_a_nul_byte_counts_lone_cr_lines(tmp_path, fast):
    raw = read_raw_table(resource_for(tmp_path, b"id,text,note\r1,a,\r2,\x00,\r"), fast=fast)
    assert [(f.rule, f.row) for f in raw.findings] == [("S01", 3)]


def test_a_nul_byte_after_a_bad_byte_is_what_is_reported(tmp_path):
    # the fast path checks NULs before parsing; the exact path, stopped by the bad byte, looks for one
    # (past the first 64 KiB, which the header check reads)
    filler = b"".join(b"%d,b,\n" % i for i in range(10_000))
    resource = resource_for(tmp_path, b"id,text,note\n1,\xff,\n" + filler + b"3,\x00,\n")
    for raw in (read_raw_table(resource), read_raw_table(resource, fast=False)):
        assert [(f.rule, f.row, f.message) for f in raw.findings] == [("S01", 10_003, NUL_MESSAGE)]


def test_a_short_row_sends_the_file_to_the_exact_reader(tmp_path):
    resource = resource_for(tmp_path, b"id,text,note\n1,a,b\n2,c\n")
    raw = read_raw_table(resource)
    assert [(f.rule, f.row, f.field) for f in raw.findings] == [("S03", 3, "note")]
    assert raw.frame[ROW].to_list() == [2]


@pytest.mark.parametrize("fast", [True, False])
def test_limits_apply_on_both_paths(tmp_path, monkeypatch, fast):
    monkeypatch.setattr(csvreader.limits, "MAX_CELL_CHARS", 3)
    resource = resource_for(tmp_path, b"id,text,note\n1,abcd,\n2,\xc3\xa9\xc3\xa9\xc3\xa9,\n")
    raw = read_raw_table(resource, fast=fast)
    assert [(f.rule, f.row, f.field) for f in raw.findings] == [("D05", 2, "text")]
    monkeypatch.setattr(csvreader.limits, "MAX_ROWS", 1)
    raw = read_raw_table(resource, fast=fast)
    assert [(f.rule, f.row) for f in raw.findings] == [("D05", None)] and raw.frame is None
    assert "more than 1 rows" in raw.findings[0].message


@settings(max_examples=200)
@given(data=st.binary(max_size=300), chunk=st.sampled_from([1, 7, 64, 1 << 22]), numpy=st.booleans())
def test_count_bytes_counts_as_bytes_count(data, chunk, numpy):
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(csvreader, "_NUMPY_FROM", 0 if numpy else 1 << 20)
        patch.setattr(csvreader, "_COUNT_CHUNK", chunk)
        assert csvreader.count_bytes(data, b'"\n') == (data.count(b'"'), data.count(b"\n"))


# --- through the command line -----------------------------------------------------------------------------------

def test_validate_reports_old_mac_line_endings(package_copy):
    path = csv_path(package_copy, "sources")
    path.write_bytes(path.read_bytes().replace(b"\n", b"\r"))
    report = expect(package_copy, "S06", "sources", 1, None)
    assert "lone CR" in matching(report, "S06", "sources")[0]["message"]
    assert [e["rule"] for e in report["errors"] if e["resource"] == "sources"] == ["S06"]


def test_validate_reports_a_nul_byte_in_the_header(package_copy):
    path = csv_path(package_copy, "assets")
    path.write_bytes(b"\x00" + path.read_bytes())
    expect_text(package_copy, "S01", "assets", "data/assets.csv", 1, None)
