"""Date groups with a precision: the whole period a stored date stands for."""

from __future__ import annotations

import calendar
import datetime as dt

PERIOD_MONTHS = {"month": 1, "season": 3, "year": 12}


def add_months(day: dt.date, months: int) -> dt.date:
    """The same day-of-month `months` later (days are clamped to the month's end).

    Raises OverflowError past the calendar (year 9999), as date arithmetic does."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    if not dt.MINYEAR <= year <= dt.MAXYEAR:
        raise OverflowError("date value out of range")
    last_day = calendar.monthrange(year, month)[1]
    return dt.date(year, month, min(day.day, last_day))


def period_end(first: dt.date, months: int) -> dt.date:
    """The last day of the period of `months` months that begins on `first`; a period that would run past
    9999-12-31 ends with the calendar."""
    try:
        return add_months(first, months) - dt.timedelta(days=1)
    except OverflowError:
        return dt.date.max


def latest_possible(start: dt.date | None, end: dt.date | None, precision: str | None) -> dt.date | None:
    """The last day a date group can mean: its end (or start) extended to the end of its precision's period.

    'range' ends on its end date; 'day' on its end or start; month, season and year on the last day of the
    period that begins at the end (or start) date. None when there is no start.
    """
    if start is None:
        return None
    base = end or start
    months = PERIOD_MONTHS.get(precision or "day")
    if precision == "range" or months is None:
        return base
    return period_end(base, months)
