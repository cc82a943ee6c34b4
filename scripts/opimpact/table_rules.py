"""The field and cross-field rules (F02-F09, X01-X07), each declared once with the function that builds it.

A rule's function yields `RowCheck`s: polars expressions, true where a row passes. The Table Schemas are the
one source of truth: required, unique, enum, pattern, ranges, lengths and keys (F rules) are read from them
here; the X rules are what a Table Schema cannot say. `opimpact.checking` screens every check of a batch in
one polars query and hands those that fail to pandera as custom checks, so pandera reports exactly these
expressions.

Rules that need other rows (uniqueness, foreign keys, ceilings, publication dates) read context columns,
named with a leading "__", that `opimpact.validate` computes over whole tables and joins in.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass

import polars as pl

from .registry import RowCheck, table_rule

PUBLISHED_LATEST = "__published_latest"
CEILING = "__ceiling"
FORMULA_START = r"^[=+\-@]"
SEASON_MONTHS = [3, 6, 9, 12]


def duplicated_column(number: int) -> str:
    """Context column: true where the row's values of unique key number `number` repeat in the table."""
    return f"__duplicated:{number}"


def found_column(number: int) -> str:
    """Context column: true where foreign key number `number` is empty or found in the referenced table."""
    return f"__found:{number}"


def as_list(value: object) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


@dataclass(frozen=True)
class ForeignKey:
    fields: list[str]
    resource: str
    reference_fields: list[str]


@dataclass(frozen=True)
class TableInfo:
    """What a rule needs to know of a table to build its checks."""

    name: str
    schema: dict
    id_patterns: dict[str, str]  # key field -> the pattern of the ID it holds (its own, or the referenced key's)
    archive: bool = False  # checked against the archived texts (the provenance rules apply)
    texts: dict[str, str] = dataclasses.field(default_factory=dict)  # folded archived texts by source_id

    @property
    def fields(self) -> list[dict]:
        return self.schema["fields"]

    @property
    def primary_key(self) -> list[str]:
        return as_list(self.schema.get("primaryKey"))

    @property
    def unique_keys(self) -> list[list[str]]:
        """Every set of fields whose values must not repeat together: the primary key, each uniqueKeys entry,
        and each field marked unique (numbered as duplicated_column numbers them)."""
        keys = [self.primary_key] if self.primary_key else []
        keys += [as_list(k) for k in self.schema.get("uniqueKeys", [])]
        keys += [[f["name"]] for f in self.fields if f.get("constraints", {}).get("unique")]
        distinct: list[list[str]] = []
        for key in keys:
            if key not in distinct:
                distinct.append(key)
        return distinct

    @property
    def foreign_keys(self) -> list[ForeignKey]:
        return [ForeignKey(as_list(fk["fields"]), fk["reference"]["resource"], as_list(fk["reference"]["fields"]))
                for fk in self.schema.get("foreignKeys", [])]

    def field_names(self, *types: str) -> list[str]:
        return [f["name"] for f in self.fields if not types or f.get("type", "string") in types]


def key_text(fields: list[str]) -> str:
    return fields[0] if len(fields) == 1 else "(" + ", ".join(fields) + ")"


@table_rule("F02", "required", "field", "A required field has a value in every row.", "a value is required")
def required(table: TableInfo) -> Iterator[RowCheck]:
    primary = set(table.primary_key)
    for field in table.fields:
        if field.get("constraints", {}).get("required") and field["name"] not in primary:
            yield RowCheck(field["name"], pl.col(field["name"]).is_not_null(), value_wise=True)


@table_rule("F03", "unique", "field", "A unique field (or a set of fields in uniqueKeys) has no repeated value.",
            "value must be unique in this column")
def unique(table: TableInfo) -> Iterator[RowCheck]:
    for number, key in enumerate(table.unique_keys):
        if key == table.primary_key:
            continue
        message = None if len(key) == 1 else f"the values of {key_text(key)} must be unique together"
        yield RowCheck(key[0], ~pl.col(duplicated_column(number)), message, scope="table")


@table_rule("F04", "enum", "field", "The value is one of the field's allowed values.", "expected one of the allowed values")
def enum(table: TableInfo) -> Iterator[RowCheck]:
    for field in table.fields:
        allowed = field.get("constraints", {}).get("enum")
        if allowed is not None:
            column = pl.col(field["name"])
            yield RowCheck(field["name"], column.is_null() | column.is_in(allowed),
                           "expected one of: " + ", ".join(map(str, allowed)), value_wise=True)


def anchored(pattern: str) -> str:
    """Table Schema patterns match the whole value."""
    return f"^(?:{pattern})$"


def _matches(name: str, pattern: str, message: str) -> RowCheck:
    column = pl.col(name)
    return RowCheck(name, column.is_null() | column.str.contains(anchored(pattern)), message, value_wise=True)


@table_rule("F05", "pattern", "field", "The value matches the field's pattern.", "expected to match the field's pattern")
def pattern(table: TableInfo) -> Iterator[RowCheck]:
    for field in table.fields:
        own = field.get("constraints", {}).get("pattern")
        if own and field["name"] not in table.id_patterns:
            yield _matches(field["name"], own, f"expected to match the pattern {own}")


@table_rule("F06", "range", "field", "The value is within the field's minimum and maximum.", "out of range")
def value_range(table: TableInfo) -> Iterator[RowCheck]:
    for field in table.fields:
        constraints, column = field.get("constraints", {}), pl.col(field["name"])
        for bound, word in (("minimum", "at least"), ("maximum", "at most")):
            if bound not in constraints:
                continue
            limit = constraints[bound]
            within = column >= limit if bound == "minimum" else column <= limit
            if field.get("type") == "number":  # polars orders NaN above every number
                within = within & column.is_not_nan()
            yield RowCheck(field["name"], column.is_null() | within, f"expected {word} {limit}", value_wise=True)


@table_rule("F07", "length", "field", "The value's length is within the field's minLength and maxLength.",
            "length out of range")
def length(table: TableInfo) -> Iterator[RowCheck]:
    for field in table.fields:
        constraints = field.get("constraints", {})
        if "minLength" not in constraints and "maxLength" not in constraints:
            continue
        low, high = constraints.get("minLength"), constraints.get("maxLength")
        column = pl.col(field["name"])
        size = column.str.len_chars()
        within = (size >= (low or 0)) & (size <= high) if high is not None else size >= (low or 0)
        yield RowCheck(field["name"], column.is_null() | within,
                       f"expected a length between {low or 0} and {high if high is not None else 'any'} characters",
                       value_wise=True)


@table_rule("F08", "primary-key", "field", "Primary-key values are present and unique (together, for a composite key).",
            "primary-key value is duplicated")
def primary_key(table: TableInfo) -> Iterator[RowCheck]:
    key = table.primary_key
    for name in key:
        yield RowCheck(name, pl.col(name).is_not_null(), "primary-key value is missing", value_wise=True)
    if key:
        number = table.unique_keys.index(key)
        message = None if len(key) == 1 else f"primary key {key_text(key)} is duplicated"
        yield RowCheck(key[0], ~pl.col(duplicated_column(number)), message, scope="table")


@table_rule("F09", "foreign-key", "field", "A foreign-key value (or set of values) exists in the referenced table.",
            "no referenced row has this value")
def foreign_key(table: TableInfo) -> Iterator[RowCheck]:
    for number, fk in enumerate(table.foreign_keys):
        what = "this " + fk.reference_fields[0] if len(fk.fields) == 1 else "these " + key_text(fk.reference_fields)
        # checked once over the whole table, after its batches: one lookup in the referenced keys per table, not
        # one per batch (a lookup costs the size of the referenced table, which grows with the package)
        yield RowCheck(fk.fields[0], pl.col(found_column(number)), f"no {fk.resource} row has {what}", scope="table")


def date_groups(schema: dict) -> list[str]:
    """Stems of date groups, in schema order: <stem>_start, optional <stem>_end, and <stem>_precision (with,
    in this package, <stem>_edtf, _earliest and _latest, and optionally _kind and _status)."""
    names = [f["name"] for f in schema["fields"]]
    return [n.removesuffix("_precision") for n in names
            if n.endswith("_precision") and n.removesuffix("_precision") + "_start" in names]


def _has_end(table: TableInfo, stem: str) -> bool:
    return f"{stem}_end" in table.field_names()


def _aligned(date: pl.Expr, precision: pl.Expr) -> pl.Expr:
    """True where the date is the first day of its precision's period (always true for day and range)."""
    first = date.dt.day() == 1
    return (pl.when(precision == "month").then(first)
            .when(precision == "year").then(first & (date.dt.month() == 1))
            .when(precision == "season").then(first & date.dt.month().is_in(SEASON_MONTHS))
            .otherwise(True))


@table_rule("X01", "date-order", "cross-field", "An end date is not before its start date.", "the end is before the start")
def date_order(table: TableInfo) -> Iterator[RowCheck]:
    for stem in date_groups(table.schema):
        if _has_end(table, stem):
            start, end = pl.col(f"{stem}_start"), pl.col(f"{stem}_end")
            yield RowCheck(f"{stem}_end", start.is_null() | end.is_null() | (end >= start),
                           f"{stem}_end is before {stem}_start")


@table_rule("X02", "date-precision", "cross-field",
            "A date agrees with its precision: month/year/season dates fall on the first day of the period, "
            "'range' has an end date after its start (or only one of them, for on or after / on or before), and a "
            "precision is given exactly when a date is.",
            "the date does not agree with its precision")
def date_precision(table: TableInfo) -> Iterator[RowCheck]:
    for stem in date_groups(table.schema):
        start, prec = f"{stem}_start", f"{stem}_precision"
        s, p = pl.col(start), pl.col(prec)
        dated = s.is_not_null() | pl.col(f"{stem}_end").is_not_null() if _has_end(table, stem) else s.is_not_null()
        yield RowCheck(prec, dated == p.is_not_null(), f"a precision is needed exactly when {stem} has a date")
        yield RowCheck(start, s.is_null() | p.is_null() | _aligned(s, p),
                       f"at {prec} month, season or year, the date must be the first day of the period "
                       "(season: 03-01, 06-01, 09-01 or 12-01)")
        if not _has_end(table, stem):
            continue
        end = f"{stem}_end"
        e = pl.col(end)
        yield RowCheck(end, e.is_null() | p.is_null() | _aligned(e, p),
                       f"{end} must fall on the first day of its period at this precision")
        yield RowCheck(end, (p != "range").fill_null(True) | s.is_null() | e.is_null() | (e > s).fill_null(False),
                       f"precision 'range' needs {end} after {start}")


@table_rule("X03", "personnel-ceiling", "cross-table",
            "A personnel count is not above the authorized ceiling in force at its date.",
            "count is above the authorized ceiling in force at this date")
def personnel_ceiling(table: TableInfo) -> Iterator[RowCheck]:
    if table.name == "personnel_levels":
        yield RowCheck("count", pl.col(CEILING).is_null() | (pl.col("count") <= pl.col(CEILING)).fill_null(True),
                       explain=lambda row: f"ceiling: {row[CEILING]}")


@table_rule("X04", "id-pattern", "cross-field",
            "Every ID (primary or foreign key) follows the ID pattern of the table it identifies.",
            "expected the ID pattern of its table")
def id_pattern(table: TableInfo) -> Iterator[RowCheck]:
    for field in table.fields:
        found = table.id_patterns.get(field["name"])
        if found:
            yield _matches(field["name"], found, f"expected to match the pattern {found}")


def _unpadded(text: pl.Expr) -> pl.Expr:
    """True where stripping whitespace changes nothing (comparing lengths: a quarter quicker than the strings)."""
    return text.str.strip_chars().str.len_bytes() == text.str.len_bytes()


@table_rule("X05", "whitespace", "cross-field", "No text cell has leading or trailing whitespace.",
            "remove leading or trailing whitespace")
def whitespace(table: TableInfo) -> Iterator[RowCheck]:
    for name in table.field_names("string"):
        column = pl.col(name)
        yield RowCheck(name, column.is_null() | _unpadded(column), value_wise=True)


@table_rule("X06", "formula-injection", "cross-field",
            "No text cell starts with '=', '+', '-' or '@', which spreadsheets would run as a formula.",
            "text must not start with =, +, - or @ (a spreadsheet would run it as a formula)")
def formula_injection(table: TableInfo) -> Iterator[RowCheck]:
    for name in table.field_names("string"):
        column = pl.col(name)
        yield RowCheck(name, column.is_null() | ~column.str.contains(FORMULA_START), value_wise=True)


@table_rule("X07", "after-publication", "cross-table",
            "A quote or event is not dated after its source's latest possible publication date, unless the event "
            "is marked planned.",
            "dated after its source's latest possible publication date (mark the event planned if it lay in the future)")
def after_publication(table: TableInfo) -> Iterator[RowCheck]:
    if table.name not in ("events", "quotes"):
        return
    start, latest = pl.col("date_start"), pl.col(PUBLISHED_LATEST)
    fine = latest.is_null() | start.is_null() | (start <= latest)
    if "status" in table.field_names():
        fine = fine | (pl.col("status") == "planned").fill_null(False)
    yield RowCheck("date_start", fine, explain=lambda row: f"published latest: {row[PUBLISHED_LATEST]}")


PUBLIC_RECORD = "Public record, not in the text"


@table_rule("X11", "public-record-flag", "cross-field",
            f"A note that draws on the public record (outside knowledge) flags it with the exact words "
            f"'{PUBLIC_RECORD}'.",
            f"mentions the public record without the flag '{PUBLIC_RECORD}'")
def public_record_flag(table: TableInfo) -> Iterator[RowCheck]:
    if "notes" in table.field_names("string"):
        notes = pl.col("notes")
        yield RowCheck("notes", notes.is_null() | ~notes.str.contains("(?i)public record")
                       | notes.str.contains(PUBLIC_RECORD, literal=True), value_wise=True)
