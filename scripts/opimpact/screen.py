"""Prove in one polars query that a frame passes its pandera schema, so pandera runs only where it may fail.

pandera validates one check at a time, each a polars query of its own with its own set-up: about 1 ms a
check, 50-60 ms for an events batch whatever its size. The screen evaluates the same checks, through
pandera's own check backend, for all columns at once, and names the checks that fail; validate then hands
pandera those checks only, so the report is unchanged. A column whose values repeat (an enum, a country, a
source ID) has its value-wise checks evaluated once per distinct value.

Whatever the screen cannot evaluate (a check that raises, a column missing from the frame) counts as
failing: pandera then reports it as it always would.
"""

from __future__ import annotations

from collections.abc import Iterable

import polars as pl

from . import lean_pandera as pa

REPEATED_SHARE = 1 / 16  # a column with at most this share of distinct values is screened on its distinct values


def failing_checks(schema: pa.DataFrameSchema, frame: pl.DataFrame, value_wise: dict[str, list[bool]],
                   by_value: Iterable[str] = ()) -> dict[str, list[int] | None]:
    """The columns of schema where frame may fail, in schema order, each with the numbers of its checks that
    fail, or None where its dtype or required flag fails or a check cannot be evaluated (pandera then
    validates the whole column). Every other column and check passes for certain.

    value_wise tells, for each column's checks in order, whether the check's verdict on a cell depends on
    that cell's value alone. On the columns named in by_value, those checks run on the column's distinct
    values instead of every row (where at least two checks gain from it: computing the distinct values
    costs about as much as one check).
    """
    lazy = frame.lazy()
    distinct = _distinct_values(frame, [name for name in by_value
                                        if name in schema.columns and sum(value_wise.get(name, [])) >= 2])
    verdicts: list[pl.LazyFrame] = []
    whole: set[str] = set()  # columns pandera must validate whole
    for position, (name, column) in enumerate(schema.columns.items()):
        try:
            if (name not in frame.columns or not column.dtype.check(frame.schema[name], pa.PolarsData(lazy, name))
                    or (not column.nullable and _has_nulls(frame[name]))):
                whole.add(name)
                continue
            flags = value_wise.get(name, [])
            for number, check in enumerate(column.checks):
                target = distinct[name] if name in distinct and number < len(flags) and flags[number] else lazy
                verdicts.append(_passes(check, target, name, f"{position}:{number}"))
        except Exception:  # pandera reports whatever the check does; the screen only steps aside
            whole.add(name)
    names = list(schema.columns)
    failed: dict[str, list[int]] = {}
    if verdicts:
        try:
            passed = pl.concat(verdicts, how="horizontal").collect().row(0, named=True)
        except Exception:  # as above, for the query that evaluates them all
            return dict.fromkeys(names)
        for key, ok in passed.items():
            if not ok:
                position, number = map(int, key.split(":"))
                failed.setdefault(names[position], []).append(number)
    return {name: None if name in whole else failed[name] for name in names if name in whole or name in failed}


def repeated_columns(frame: pl.DataFrame) -> list[str]:
    """The columns whose values repeat enough to be screened on their distinct values (judged on frame)."""
    if frame.height == 0:
        return []
    counts = frame.select(pl.all().n_unique()).row(0, named=True)
    return [name for name, n in counts.items() if n <= frame.height * REPEATED_SHARE]


def _distinct_values(frame: pl.DataFrame, names: list[str]) -> dict[str, pl.LazyFrame]:
    if not names:
        return {}
    lists = frame.select(pl.col(name).unique().implode() for name in names).row(0)
    return {name: pl.LazyFrame({name: pl.Series(name, values, dtype=frame.schema[name])})
            for name, values in zip(names, lists, strict=True)}


def _has_nulls(column: pl.Series) -> bool:
    """As pandera's required check: a null, or NaN in a float column."""
    return column.null_count() > 0 or (column.dtype.is_float() and bool(column.is_nan().any()))


def failing_rows(schema: pa.DataFrameSchema, frame: pl.DataFrame, suspect: dict[str, list[int]]) -> pl.Series | None:
    """The positions of frame's rows where any of the named checks fails, or None when that cannot be told
    row by row. Only for checks whose verdict on a row depends on that row alone: validating those rows
    gives the same failures as validating the frame."""
    lazy = frame.lazy()
    try:
        verdicts = [_verdicts(schema.columns[name].checks[number], lazy, name, f"{name}:{number}")
                    for name, numbers in suspect.items() for number in numbers]
        if not verdicts or any(isinstance(v, bool) for v in verdicts):
            return None
        passed = pl.concat(verdicts, how="horizontal").select(pl.all_horizontal(pl.all()).alias("ok")).collect()
    except Exception:  # pandera then validates every row
        return None
    return passed["ok"].not_().arg_true()


def _verdicts(check: pa.Check, lazy: pl.LazyFrame, name: str, label: str) -> pl.LazyFrame | bool:
    """Whether each cell passes check, with pandera's handling of null outcomes; or the check's single
    answer for the whole frame, where it gives one."""
    output = pa.PolarsCheckBackend(check).apply(pa.PolarsData(lazy, name))
    if isinstance(output, bool):
        return output
    verdict = pl.col(pa.CHECK_OUTPUT_KEY)
    verdict = verdict | verdict.is_null() if check.ignore_na else verdict.fill_null(False)
    return output.select(verdict.alias(label))


def _passes(check: pa.Check, lazy: pl.LazyFrame, name: str, label: str) -> pl.LazyFrame:
    """One row, one boolean: whether every cell passes check."""
    verdicts = _verdicts(check, lazy, name, label)
    if isinstance(verdicts, bool):
        return pl.LazyFrame({label: [verdicts]})
    return verdicts.select(pl.col(label).all())
