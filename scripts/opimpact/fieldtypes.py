"""Turn a frame of CSV strings into typed columns as the Table Schema says (rule F01)."""

from __future__ import annotations

from collections.abc import Collection

import polars as pl

from .csvreader import ROW
from .lookup import positions_in
from .registry import Rule
from .report import Finding, shorten

Rule("F01", "type", "field", "Each cell parses as its field's type (integer, number, date, boolean, ...).",
     "the value does not have the field's type")

DEFAULT_TRUE = ["true", "True", "TRUE", "1"]
DEFAULT_FALSE = ["false", "False", "FALSE", "0"]
_ISO_DATE = r"^(?:[1-9][0-9]{3}|0[1-9][0-9]{2}|00[1-9][0-9]|000[1-9])-[0-9]{2}-[0-9]{2}$"  # no year 0000
_NUMBER = r"^(?:[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|NaN|INF|-INF)$"

DATETIME_FORMATS = ("%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S")  # the Table Schema default (UTC), and without its Z

POLARS_TYPES: dict[str, pl.DataType] = {
    "string": pl.String(),
    "any": pl.String(),
    "integer": pl.Int64(),
    "year": pl.Int64(),
    "number": pl.Float64(),
    "boolean": pl.Boolean(),
    "date": pl.Date(),
    "datetime": pl.Datetime("us"),
}

TYPE_HINTS = {
    "integer": "a whole number such as 42",
    "year": "a four-digit year such as 2017",
    "number": "a number such as 3.5",
    "boolean": "true or false",
    "date": "a date as YYYY-MM-DD that exists in the calendar",
    "datetime": "a date and time as YYYY-MM-DDThh:mm:ss",
}


def parsed(field: dict) -> pl.Expr:
    """The expression that parses one column from text to its schema type (null where it cannot)."""
    name, kind = field["name"], field.get("type", "string")
    col = pl.col(name)
    if kind == "integer":
        return col.cast(pl.Int64, strict=False)
    if kind == "year":
        return pl.when(col.str.contains(r"^[0-9]{4}$")).then(col.cast(pl.Int64, strict=False))
    if kind == "number":  # the Table Schema lexical forms only: polars alone would also take "inf" and "nan"
        value = col.cast(pl.Float64, strict=False)
        # a finite literal too large for a double (1e400) would become infinity: it fails its type instead
        spelled_out = col.is_in(["NaN", "INF", "-INF"])
        return pl.when(col.str.contains(_NUMBER) & (value.is_finite() | spelled_out)).then(value)
    if kind == "boolean":
        mapping = {v: True for v in field.get("trueValues", DEFAULT_TRUE)}
        mapping.update({v: False for v in field.get("falseValues", DEFAULT_FALSE)})
        return col.replace_strict(mapping, default=None, return_dtype=pl.Boolean)
    if kind == "date":
        return pl.when(col.str.contains(_ISO_DATE)).then(col.str.to_date("%Y-%m-%d", strict=False))
    if kind == "datetime":  # explicit formats: polars before 2.0 raises where it cannot guess one from the values
        return pl.coalesce(col.str.to_datetime(form, strict=False, time_unit="us") for form in DATETIME_FORMATS)
    return col


def cast_columns(frame: pl.DataFrame, schema: dict, repeated: Collection[str] = ()) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Parse every column to its type (once), and flag the cells that fail it. The repeated columns (whose
    values repeat) are parsed once per distinct value, gathered back to the rows: a third of the time for dates.

    Returns the typed frame (unparseable cells null) and one boolean column per typed field, true where a
    non-empty cell did not parse (the F01 cells); both in the rows' order.
    """
    typed_fields = [f for f in schema["fields"] if f.get("type", "string") not in ("string", "any")]
    if not typed_fields:
        return frame, pl.DataFrame()
    typed = frame.with_columns(*(parsed(f).alias(f["name"]) for f in typed_fields if f["name"] not in repeated),
                               *(_by_value(frame.get_column(f["name"]), f) for f in typed_fields
                                 if f["name"] in repeated))
    bad = pl.DataFrame([(frame[f["name"]].is_not_null() & typed[f["name"]].is_null()).alias(f["name"])
                        for f in typed_fields])
    return typed, bad


def _by_value(column: pl.Series, field: dict) -> pl.Series:
    """The column parsed as parsed(field) does, once per distinct value."""
    distinct = column.drop_nulls().unique()
    values = distinct.to_frame().select(parsed(field)).to_series()
    return values.gather(positions_in(column, distinct)).alias(column.name)


def type_findings(frame: pl.DataFrame, bad: pl.DataFrame, schema: dict, resource: str, file: str,
                  limit: int | None = None) -> list[tuple[str, list[Finding], int]]:
    """F01 per failing field, in schema order: (field, its first `limit` findings, how many there are)."""
    hints = {f["name"]: TYPE_HINTS.get(f.get("type"), f.get("type")) for f in schema["fields"]}
    failing = [(name, n) for name, n in zip(bad.columns, bad.sum().row(0), strict=True) if n] if bad.width else []
    out = []
    for name, count in failing:
        rows = frame.filter(bad[name]).select(ROW, name)
        if limit is not None:
            rows = rows.head(limit)
        out.append((name, [Finding("F01", f"expected {hints[name]}", resource, file, row, name, shorten(value))
                           for row, value in rows.iter_rows()], int(count)))
    return out


def cast_frame(frame: pl.DataFrame, schema: dict, resource: str, file: str) -> tuple[pl.DataFrame, list[Finding]]:
    """Parse every column to its type; cells that do not parse become null and are reported as F01."""
    typed, bad = cast_columns(frame, schema)
    return typed, [f for _, found, _ in type_findings(frame, bad, schema, resource, file) for f in found]
