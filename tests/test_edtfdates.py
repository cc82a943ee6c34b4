"""The package's EDTF forms are read as the `edtf` package reads them (Hypothesis), and anything else is refused."""

from __future__ import annotations

import datetime as dt
import math
import time

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from opimpact.edtfdates import SINGLE, SPAN, Readings, edtf_of, read

edtf = pytest.importorskip("edtf")

DAYS = st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2100, 12, 31))
# Winter (24) is left out of the comparison: EDTF leaves the months of seasons 21-24 to the user, and the edtf
# package ends winter on 31 December where the package's convention runs it to the end of February.
PRECISIONS = st.sampled_from(["day", "month", "season", "year"])


def text_of(day: dt.date, precision: str) -> str:
    if precision == "day":
        return day.isoformat()
    if precision == "month":
        return f"{day.year:04d}-{day.month:02d}"
    if precision == "season":
        return f"{day.year:04d}-{21 + min(day.month - 1, 8) // 3}"  # spring to fall: 21, 22, 23
    return f"{day.year:04d}"


def as_date(bound) -> dt.date | None:
    if isinstance(bound, float) and math.isinf(bound):
        return None
    return dt.date(*time.struct_time(bound)[:3])


@given(DAYS, PRECISIONS)
def test_single_dates_read_as_edtf_reads_them(day, precision):
    text = text_of(day, precision)
    reading, parsed = read(text), edtf.parse_edtf(text)
    assert reading.problem is None and reading.shape == SINGLE and reading.precision == precision
    assert (reading.earliest, reading.latest) == (as_date(parsed.lower_strict()), as_date(parsed.upper_strict()))
    assert reading.start == reading.earliest and reading.end is None
    assert edtf_of(SINGLE, precision, reading.start, None) == text


@given(st.one_of(st.none(), DAYS), st.one_of(st.none(), DAYS))
def test_ranges_read_as_edtf_reads_them(low, high):
    if low is None and high is None or (low and high and high <= low):
        assert read(f"[{low or ''}..{high or ''}]").problem is not None
        return
    text = f"[{low.isoformat() if low else ''}..{high.isoformat() if high else ''}]"
    reading, parsed = read(text), edtf.parse_edtf(text)
    assert reading.problem is None and reading.shape == SINGLE and reading.precision == "range"
    assert (reading.earliest, reading.latest) == (as_date(parsed.lower_strict()), as_date(parsed.upper_strict()))
    assert (reading.start, reading.end) == (low, high)
    assert edtf_of(SINGLE, "range", low, high) == text


SIDES = st.one_of(st.just(""), st.just(".."), DAYS)


@given(SIDES, SIDES, PRECISIONS)
def test_spans_read_as_edtf_reads_them(low, high, precision):
    def side(value):
        return value if isinstance(value, str) else text_of(value, precision)

    text = f"{side(low)}/{side(high)}"
    reading = read(text)
    known = [read(side(v)).start for v in (low, high) if not isinstance(v, str)]
    if not known or (len(known) == 2 and known[1] < known[0]):
        assert reading.problem is not None, text
        return
    parsed = edtf.parse_edtf(text)
    assert reading.problem is None and reading.shape == SPAN and reading.precision == precision, text
    if not isinstance(low, str):
        assert reading.earliest == reading.start == as_date(parsed.lower.lower_strict())
    else:
        assert reading.earliest is None and reading.start is None
    if not isinstance(high, str):
        assert reading.latest == as_date(parsed.upper.upper_strict())
        assert reading.end == as_date(parsed.upper.lower_strict())
    else:
        assert reading.latest is None and reading.end is None
    assert edtf_of(SPAN, precision, reading.start, reading.end, low == "..", high == "..") == text


def test_winter_runs_to_the_end_of_february():
    reading = read("2016-24")
    assert (reading.precision, reading.start, reading.latest) == ("season", dt.date(2016, 12, 1), dt.date(2017, 2, 28))


@pytest.mark.parametrize("text", ["2017-02-30", "2017-13", "2017-00", "2017-25-01"])
def test_impossible_dates_are_refused_by_both(text):
    assert read(text).problem is not None
    with pytest.raises(edtf.EDTFParseException):
        edtf.parse_edtf(text)


@pytest.mark.parametrize("text,why", [
    ("2017?", "valid EDTF, but not a form"), ("2017-06~", "valid EDTF, but not a form"),
    ("{2016,2017}", "valid EDTF, but not a form"), ("201X", "valid EDTF, but not a form"),
    ("2016/2017-06", "one precision"), ("/", "at least one known end"), ("[..]", "at least one end"),
    ("June 2017", "not valid EDTF"), (" 2017", "spaces"), ("2017-06-31", "not a calendar date"),
    ("0000", "year 0000")])
def test_other_strings_are_refused_with_a_reason(text, why):
    reading = read(text)
    assert reading.problem is not None and why in reading.problem, reading.problem
    assert reading.start is None and reading.latest is None


def test_each_distinct_value_is_read_once():
    readings = Readings()
    first = pl.Series(["2017", None, "2017", "[2017-05-23..2017-06-30]"])
    positions = readings.positions(first)
    assert readings.table["__edtf"].to_list() == ["2017", "[2017-05-23..2017-06-30]"]
    assert positions.to_list() == [0, None, 0, 1]
    # a later batch adds only the strings not met before, and finds the others where they are
    positions = readings.positions(pl.Series(["June 2017", "[2017-05-23..2017-06-30]", "2017"]))
    assert readings.table["__edtf"].to_list() == ["2017", "[2017-05-23..2017-06-30]", "June 2017"]
    assert positions.to_list() == [2, 1, 0]
    assert readings.table.row(2, named=True)["problem"] == read("June 2017").problem
    assert readings.positions(pl.Series([], dtype=pl.String)).len() == 0


