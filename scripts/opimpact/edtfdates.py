"""EDTF (Extended Date/Time Format, ISO 8601-2) forms of the date groups, and what each says in the package's
own date columns: start, end, precision, earliest and latest possible day.

The package writes a small set of EDTF forms (see FORMS). Those are read here with regular expressions and the
calendar, a few microseconds each; any other string is handed to the `edtf` package, which says whether it is
EDTF at all (it takes milliseconds a string, so it is imported and run only for such strings). Either way each
distinct string is read once (`read_all`). tests/test_edtfdates.py proves, with Hypothesis, that the readings of
the package's forms agree with the `edtf` package's own parse and bounds.

Seasons follow the package's convention (spring March-May, summer June-August, fall September-November, winter
December-February, counted in the year it begins), as EDTF leaves the months of the Level 1 seasons 21-24 to
the user; the `edtf` package ends winter on 31 December.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass

import polars as pl

from .dates import period_end
from .lookup import positions_in
from .registry import RowCheck, shown, table_rule
from .table_rules import TableInfo, date_groups

FORMS = ("YYYY", "YYYY-MM", "YYYY-MM-DD", "YYYY-SS (season 21-24)", "[A..B]", "[A..]", "[..B]", "A/B", "/B", "A/",
         "../B", "A/..")
_POINT = r"(?:[0-9]{4}(?:-[0-9]{2}(?:-[0-9]{2})?)?)"
_POINT_RE = re.compile(r"(?P<year>[0-9]{4})(?:-(?P<month>[0-9]{2})(?:-(?P<day>[0-9]{2}))?)?")
_SET_RE = re.compile(rf"\[(?P<low>{_POINT})?\.\.(?P<high>{_POINT})?\]")
_INTERVAL_RE = re.compile(rf"(?P<low>{_POINT}|\.\.)?/(?P<high>{_POINT}|\.\.)?")
SEASON_START = {21: 3, 22: 6, 23: 9, 24: 12}
PERIOD_MONTHS = {"month": 1, "season": 3, "year": 12}

SINGLE, SPAN = "single", "span"  # the two shapes: one date (or one day in a range), or an interval
AGREEING = ("precision", "start", "end", "earliest", "latest")  # the columns a reading fills, in report order
PART_TYPES = {"problem": pl.String, "shape": pl.String, "precision": pl.String, "start": pl.Date, "end": pl.Date,
              "earliest": pl.Date, "latest": pl.Date}


@dataclass(frozen=True)
class Reading:
    """What an EDTF string says. `shape` is single (a date or a one-of-a-set range) or span (an interval);
    start, end and precision are the package's columns for it; earliest and latest the possible days (None
    where unknown or open). `problem` says why the string cannot be read, and then the rest is None."""

    shape: str | None = None
    precision: str | None = None
    start: dt.date | None = None
    end: dt.date | None = None
    earliest: dt.date | None = None
    latest: dt.date | None = None
    problem: str | None = None


@dataclass(frozen=True)
class _Point:
    precision: str
    first: dt.date  # the first day of the period
    last: dt.date  # the last day of the period


@functools.lru_cache(maxsize=1 << 16)  # ranges and spans share their ends: each is worked out once
def _point(text: str) -> _Point | str:
    """A year, month, day or season; or why it is not one."""
    match = _POINT_RE.fullmatch(text)
    if not match:
        return f"{text!r} is not a date"
    year = int(match["year"])
    if year == 0:
        return "the year 0000 is not used"
    if match["day"] is not None:
        try:
            day = dt.date(year, int(match["month"]), int(match["day"]))
        except ValueError:
            return f"{text} is not a calendar date"
        return _Point("day", day, day)
    if match["month"] is not None:
        month = int(match["month"])
        if month in SEASON_START:
            first = dt.date(year, SEASON_START[month], 1)
            return _Point("season", first, period_end(first, 3))
        if not 1 <= month <= 12:
            return f"{text}: {month:02d} is neither a month (01-12) nor a season (21-24)"
        first = dt.date(year, month, 1)
        return _Point("month", first, period_end(first, 1))
    first = dt.date(year, 1, 1)
    return _Point("year", first, dt.date(year, 12, 31))


def read(text: str) -> Reading:
    """Read one EDTF string in the package's forms; anything else is reported (see `_other`)."""
    if text != text.strip():
        return Reading(problem="remove the spaces around the EDTF")
    if _POINT_RE.fullmatch(text):
        point = _point(text)
        if isinstance(point, str):
            return Reading(problem=point)
        return Reading(SINGLE, point.precision, point.first, None, point.first, point.last)
    match = _SET_RE.fullmatch(text)
    if match:
        return _one_of(match["low"], match["high"])
    match = _INTERVAL_RE.fullmatch(text)
    if match:
        return _interval(match["low"] or "", match["high"] or "")
    return _other(text)


def _one_of(low_text: str | None, high_text: str | None) -> Reading:
    """[A..B]: one day known only to lie between A and B (either side may be open)."""
    if low_text is None and high_text is None:
        return Reading(problem="a range needs at least one end: [A..B], [A..] or [..B]")
    low = _point(low_text) if low_text else None
    high = _point(high_text) if high_text else None
    for side in (low, high):
        if isinstance(side, str):
            return Reading(problem=side)
    earliest = low.first if low else None
    latest = high.last if high else None
    if earliest and latest and latest <= earliest:
        return Reading(problem="the range must end after it starts")
    return Reading(SINGLE, "range", earliest, latest, earliest, latest)


def _interval(low_text: str, high_text: str) -> Reading:
    """A/B: a span. An empty side is unknown, '..' is open; known sides share one precision."""
    sides = []
    for text in (low_text, high_text):
        side = _point(text) if text not in ("", "..") else None
        if isinstance(side, str):
            return Reading(problem=side)
        sides.append(side)
    low, high = sides
    if low is None and high is None:
        return Reading(problem="a span needs at least one known end")
    if low and high:
        if low.precision != high.precision:
            return Reading(problem=f"both ends of a span are given at one precision ({low.precision} and "
                                   f"{high.precision} here): give both at the coarser one")
        if high.first < low.first:
            return Reading(problem="the span ends before it starts")
    precision = (low or high).precision
    return Reading(SPAN, precision, low.first if low else None, high.first if high else None,
                   low.first if low else None, high.last if high else None)


def _other(text: str) -> Reading:
    """Not one of the package's forms: the `edtf` package says whether it is EDTF at all."""
    from edtf import EDTFParseException, parse_edtf  # slow to import and to run: only for such strings

    try:
        parse_edtf(text)
    except EDTFParseException:
        return Reading(problem="not valid EDTF")
    except Exception as exc:  # the parser's own failure on odd input: still not a date the package can use
        return Reading(problem=f"not valid EDTF ({type(exc).__name__})")
    return Reading(problem="valid EDTF, but not a form this package uses (" + ", ".join(FORMS)
                   + "): uncertainty is written as a range, not with ?, ~, % or X")


def read_all(values: list[str]) -> dict[str, Reading]:
    """Each distinct value's reading."""
    return {value: read(value) for value in dict.fromkeys(values)}


class Readings:
    """The readings of every EDTF string met so far, as a table: each string is read once, however many batches
    and tables hold it."""

    def __init__(self) -> None:
        self.table = pl.DataFrame(schema={"__edtf": pl.String, **PART_TYPES})

    def positions(self, values: pl.Series) -> pl.Series:
        """Each value's row in the readings table (null for a null value), after reading the values not met
        before."""
        positions = positions_in(values, self.table["__edtf"])
        unread = positions.is_null() & values.is_not_null()
        if unread.any():
            new = values.filter(unread).unique().sort().to_list()
            found = read_all(new)
            rows = {"__edtf": new, **{part: [getattr(found[v], part) for v in new] for part in PART_TYPES}}
            self.table = pl.concat([self.table, pl.DataFrame(rows, schema=self.table.schema)]).rechunk()
            positions = positions.scatter(unread.arg_true(), positions_in(values.filter(unread), self.table["__edtf"]))
        return positions


def edtf_of(shape: str, precision: str, start: dt.date | None, end: dt.date | None,
            open_start: bool = False, open_end: bool = False) -> str:
    """The EDTF string of a date group (the inverse of `read`), for tools that write the package."""

    def point(day: dt.date) -> str:
        if precision == "year":
            return f"{day.year:04d}"
        if precision == "month":
            return f"{day.year:04d}-{day.month:02d}"
        if precision == "season":
            return f"{day.year:04d}-{next(k for k, m in SEASON_START.items() if m == day.month)}"
        return day.isoformat()

    if shape == SPAN:
        low = point(start) if start else (".." if open_start else "")
        high = point(end) if end else (".." if open_end else "")
        return f"{low}/{high}"
    if precision == "range":
        return f"[{start.isoformat() if start else ''}..{end.isoformat() if end else ''}]"
    return point(start)


# --- rule X09: every date group's EDTF is readable and agrees with its other columns ---------------------------



def says_column(stem: str, part: str) -> str:
    """Context column: what the row's <stem>_edtf says its <part> is (or, for part 'problem', why it cannot)."""
    return f"__{stem}_edtf_problem" if part == "problem" else f"__{stem}_edtf_says_{part}"


def edtf_groups(table: TableInfo) -> list[str]:
    """The date groups that carry an EDTF column."""
    names = set(table.field_names())
    return [stem for stem in date_groups(table.schema) if f"{stem}_edtf" in names]


def with_readings(frame: pl.DataFrame, table: TableInfo, readings: Readings) -> pl.DataFrame:
    """frame with says_column(stem, part) for every EDTF date group: each distinct string is read once and the
    reading gathered back to its rows (null where the EDTF cell is empty)."""
    for stem in edtf_groups(table):
        column = f"{stem}_edtf"
        if column not in frame.columns or frame.schema[column] != pl.String:
            continue
        positions = readings.positions(frame.get_column(column))
        frame = frame.with_columns(readings.table.select(pl.col(part).gather(positions).alias(says_column(stem, part))
                                                         for part in PART_TYPES))
    return frame


@table_rule("X09", "edtf", "cross-field",
            "Each date group's EDTF (ISO 8601-2) is a form the package uses and agrees with its other columns: "
            "start, end, precision, earliest and latest possible day, and kind (an interval is a span, a date or a "
            "range is single or as_of); the group is empty exactly when its EDTF is, and a status is given with a "
            "date.",
            "does not agree with the EDTF of its date group")
def edtf_agreement(table: TableInfo) -> Iterator[RowCheck]:
    names = set(table.field_names())
    for stem in edtf_groups(table):
        edtf = pl.col(f"{stem}_edtf")
        problem = pl.col(says_column(stem, "problem"))
        readable = edtf.is_not_null() & problem.is_null()
        yield RowCheck(f"{stem}_edtf", edtf.is_null() | problem.is_null(), "not a usable EDTF date",
                       explain=shown(says_column(stem, "problem")))
        if f"{stem}_kind" in names:
            kind, shape = pl.col(f"{stem}_kind"), pl.col(says_column(stem, "shape"))
            yield RowCheck(f"{stem}_kind", ~readable | kind.is_null() | ((kind == SPAN) == (shape == SPAN)),
                           f"{stem}_kind must be span exactly when {stem}_edtf is an interval (A/B)")
        else:
            yield RowCheck(f"{stem}_edtf", ~readable | (pl.col(says_column(stem, "shape")) != SPAN),
                           f"{stem} holds single dates: write a date or a range [A..B], not an interval A/B")
        for part in AGREEING:
            name = f"{stem}_{part}"
            if name not in names:
                continue
            column = pl.col(name)
            yield RowCheck(name, ~readable | column.eq_missing(pl.col(says_column(stem, part))),
                           f"{name} does not agree with {stem}_edtf", explain=shown(says_column(stem, part)))
            yield RowCheck(name, edtf.is_not_null() | column.is_null(), f"{name} is given without {stem}_edtf")
        if f"{stem}_status" in names:
            yield RowCheck(f"{stem}_status", edtf.is_null() | pl.col(f"{stem}_status").is_not_null(),
                           f"{stem}_status is needed when {stem} has a date")
