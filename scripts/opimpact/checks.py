"""Pandera schemas derived from the Table Schemas, plus the rules a Table Schema cannot say.

The Table Schemas are the one source of truth for types, required, unique, enum, pattern, ranges and keys:
`field_checks` translates them. `extra_checks` adds cross-field, cross-table and provenance rules (X.., P..),
each reading context columns (named with a leading "__") that `validate` joins in from other tables.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import polars as pl

from . import lean_pandera as pa  # pandera's polars API (Check, Column, DataFrameSchema, errors), imported lean
from .fieldtypes import POLARS_TYPES

# Context columns joined in before validation.
PUBLISHED_LATEST = "__published_latest"
CEILING = "__ceiling"
ARCHIVE_SHA = "__archive_sha256"
FORMULA_START = r"^[=+\-@]"
SEASON_MONTHS = [3, 6, 9, 12]


@dataclass(frozen=True)
class RuleCheck:
    """One pandera check on one field, tied to the rule ID and the message a report shows."""

    rule: str
    field: str
    message: str
    check: pa.Check
    detail: str | None = None  # a context column whose value completes the message, e.g. the ceiling
    value_wise: bool = True  # its verdict on a cell depends on that cell's value alone (see opimpact.screen)


def _column_check(rule: str, field: str, message: str, ok: Callable[[], pl.Expr], detail: str | None = None) -> RuleCheck:
    """A check whose expression may read any column of the frame (cross-field rules)."""
    return RuleCheck(rule, field, message, pa.Check(lambda data: data.lazyframe.select(ok()), name=f"{rule}:{field}"),
                     detail, value_wise=False)


def anchored(pattern: str) -> str:
    """Table Schema patterns match the whole value."""
    return f"^(?:{pattern})$"


def key_fields(schema: dict) -> set[str]:
    keys = set(_as_list(schema.get("primaryKey")))
    for fk in schema.get("foreignKeys", []):
        keys.update(_as_list(fk.get("fields")))
    return keys


def _as_list(value) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def field_checks(schema: dict, id_patterns: dict[str, str]) -> list[RuleCheck]:
    """Checks for the value constraints of each field. Required and unique are column flags, not checks.

    id_patterns maps key fields to the pattern of the ID they hold (their own, or the referenced key's).
    """
    checks: list[RuleCheck] = []
    for field in schema["fields"]:
        name, constraints = field["name"], field.get("constraints", {})
        if "enum" in constraints:
            allowed = constraints["enum"]
            checks.append(RuleCheck("F04", name, "expected one of: " + ", ".join(map(str, allowed)),
                                    pa.Check.isin(allowed)))
        pattern = id_patterns.get(name) or constraints.get("pattern")
        if pattern:
            rule = "X04" if name in id_patterns else "F05"
            checks.append(RuleCheck(rule, name, f"expected to match the pattern {pattern}",
                                    pa.Check.str_matches(anchored(pattern))))
        if "minimum" in constraints:
            checks.append(RuleCheck("F06", name, f"expected at least {constraints['minimum']}",
                                    _bound_check("ge", constraints["minimum"], field)))
        if "maximum" in constraints:
            checks.append(RuleCheck("F06", name, f"expected at most {constraints['maximum']}",
                                    _bound_check("le", constraints["maximum"], field)))
        if "minLength" in constraints or "maxLength" in constraints:
            low, high = constraints.get("minLength"), constraints.get("maxLength")
            checks.append(RuleCheck("F07", name, f"expected a length between {low or 0} and {high or 'any'} characters",
                                    pa.Check.str_length(low, high)))
    return checks


def _bound_check(op: str, bound: float, field: dict) -> pa.Check:
    """pandera's ge/le; on number fields NaN fails as well (polars would order NaN above every number)."""
    if field.get("type") != "number":
        return getattr(pa.Check, op)(bound)
    return pa.Check(lambda d: d.lazyframe.select(getattr(pl.col(d.key), op)(bound) & pl.col(d.key).is_not_nan()),
                    name=f"{op}:{bound}")


def foreign_key_checks(schema: dict, referenced: dict[tuple[str, str], pl.Series]) -> list[RuleCheck]:
    """F09: each single-field foreign key's values exist in the referenced table's key column."""
    checks = []
    for fk in schema.get("foreignKeys", []):
        (name,) = _as_list(fk["fields"])
        target = fk["reference"]["resource"]
        (target_field,) = _as_list(fk["reference"]["fields"])
        values = referenced.get((target, target_field))
        if values is None:
            continue
        message = f"no {target} row has this {target_field}"
        checks.append(RuleCheck("F09", name, message, pa.Check(_exists_in(name, values), name=f"F09:{name}")))
    return checks


SMALL_KEY_SET = 50_000  # up to this many keys, is_in is quicker than a join


def _exists_in(name: str, values: pl.Series) -> Callable:
    """A check function: true where the cell is empty or its value is among values.

    A semi-join finds the rows whose value exists, so a large key set costs a hash join rather than a set
    built for every call (100,000 quotes against 1,000,000 event IDs: 0.05 s instead of 0.6 s).
    """
    keys = values.drop_nulls().to_frame("__key")

    def check(data) -> pl.LazyFrame:
        column = data.lazyframe.select(pl.col(name)).collect().to_series()
        if column.dtype != keys.schema["__key"] or keys.height <= SMALL_KEY_SET:
            return pl.LazyFrame({name: column.is_null() | column.is_in(values.implode())})
        found = (column.to_frame().with_row_index("__i")
                 .join(keys, left_on=name, right_on="__key", how="semi")["__i"])
        exists = pl.repeat(False, len(column), dtype=pl.Boolean, eager=True).scatter(found, True)
        return pl.LazyFrame({name: exists | column.is_null()})

    return check


def unique_fields(schema: dict) -> list[str]:
    """Fields whose values must not repeat: those marked unique, and a single-field primary key."""
    primary = set(_as_list(schema.get("primaryKey")))
    return [f["name"] for f in schema["fields"] if f.get("constraints", {}).get("unique") or primary == {f["name"]}]


def _no_repeats(data) -> pl.LazyFrame:
    """pandera's unique=True (where nulls count as a value), hashing first: equal hashes are rare, and only
    then are the values themselves compared (1,000,000 IDs: 0.03 s instead of 0.3 s)."""
    column = pl.col(data.key)
    distinct, rows = data.lazyframe.select(column.hash().n_unique(), pl.len()).collect().row(0)
    if distinct == rows:
        return data.lazyframe.select(pl.repeat(True, pl.len()).alias(data.key))
    return data.lazyframe.select(~column.is_duplicated())


def uniqueness_schema(resource: str, schema: dict) -> pa.DataFrameSchema | None:
    """The pandera schema of the single-field uniqueness rules, run on the whole table's key columns at once
    (a table read in batches is checked batch by batch with build_schema(unique=False))."""
    types = {f["name"]: POLARS_TYPES[f.get("type", "string")] for f in schema["fields"]}
    columns = {name: pa.Column(types[name], nullable=True, checks=[pa.Check(_no_repeats, name="field_uniqueness")])
               for name in unique_fields(schema)}
    return pa.DataFrameSchema(columns, strict=False, name=resource) if columns else None


def date_groups(schema: dict) -> list[str]:
    """Stems of date groups: <stem>_start, optional <stem>_end, and <stem>_precision."""
    names = {f["name"] for f in schema["fields"]}
    return [n.removesuffix("_precision") for n in sorted(names)
            if n.endswith("_precision") and n.removesuffix("_precision") + "_start" in names]


def _aligned(date: pl.Expr, precision: pl.Expr) -> pl.Expr:
    """True where the date is the first day of its precision's period (always true for day and range)."""
    first = date.dt.day() == 1
    return (pl.when(precision == "month").then(first)
            .when(precision == "year").then(first & (date.dt.month() == 1))
            .when(precision == "season").then(first & date.dt.month().is_in(SEASON_MONTHS))
            .otherwise(True))


def date_checks(schema: dict) -> list[RuleCheck]:
    """X01 and X02 for every date group of the table."""
    names = {f["name"] for f in schema["fields"]}
    checks = []
    for stem in date_groups(schema):
        start, prec = f"{stem}_start", f"{stem}_precision"
        end = f"{stem}_end" if f"{stem}_end" in names else None
        s, p = pl.col(start), pl.col(prec)
        checks += [
            _column_check("X02", prec, f"a precision is needed exactly when {start} is given",
                          lambda s=s, p=p: s.is_null() == p.is_null()),
            _column_check("X02", start, f"at {prec} month, season or year, the date must be the first day of the "
                          "period (season: 03-01, 06-01, 09-01 or 12-01)",
                          lambda s=s, p=p: s.is_null() | p.is_null() | _aligned(s, p)),
        ]
        if end is None:
            continue
        e = pl.col(end)
        checks += [
            _column_check("X01", end, f"{end} is before {start}",
                          lambda s=s, e=e: s.is_null() | e.is_null() | (e >= s)),
            _column_check("X02", end, f"{end} must fall on the first day of its period at this precision",
                          lambda e=e, p=p: e.is_null() | p.is_null() | _aligned(e, p)),
            _column_check("X02", end, f"precision 'range' needs {end} after {start}",
                          lambda s=s, e=e, p=p: (p != "range").fill_null(True) | (e.is_not_null() & (e > s))),
            _column_check("X02", start, f"{end} is given without {start}",
                          lambda s=s, e=e: e.is_null() | s.is_not_null()),
        ]
    return checks


def _unpadded(text: pl.Expr) -> pl.Expr:
    """True where stripping whitespace changes nothing (comparing lengths: a quarter quicker than the strings)."""
    return text.str.strip_chars().str.len_bytes() == text.str.len_bytes()


def text_checks(schema: dict) -> list[RuleCheck]:
    """X05 and X06 on every text field."""
    checks = []
    for field in schema["fields"]:
        if field.get("type", "string") != "string":
            continue
        name = field["name"]
        checks += [
            RuleCheck("X05", name, "remove leading or trailing whitespace",
                      pa.Check(lambda d: d.lazyframe.select(_unpadded(pl.col(d.key))), name="X05")),
            RuleCheck("X06", name, "text must not start with =, +, - or @ (a spreadsheet would run it as a formula)",
                      pa.Check(lambda d: d.lazyframe.select(~pl.col(d.key).str.contains(FORMULA_START)), name="X06")),
        ]
    return checks


def ceiling_checks(resource: str) -> list[RuleCheck]:
    """X03: personnel counts stay within the authorized ceiling in force at their date."""
    if resource != "personnel_levels":
        return []
    return [_column_check("X03", "count", "count is above the authorized ceiling in force at this date",
                          lambda: pl.col(CEILING).is_null() | (pl.col("count") <= pl.col(CEILING)), detail=CEILING)]


def publication_checks(resource: str, schema: dict) -> list[RuleCheck]:
    """X07: quotes and (unplanned) events are not dated after their source's latest publication date."""
    if resource not in ("events", "quotes"):
        return []
    names = {f["name"] for f in schema["fields"]}

    def ok() -> pl.Expr:
        fine = pl.col(PUBLISHED_LATEST).is_null() | pl.col("date_start").is_null()
        fine = fine | (pl.col("date_start") <= pl.col(PUBLISHED_LATEST))
        if "status" in names:
            fine = fine | (pl.col("status") == "planned")
        return fine

    return [_column_check("X07", "date_start", "dated after its source's latest possible publication date "
                          "(mark the event planned if it lay in the future)", ok, detail=PUBLISHED_LATEST)]


def folded(expr: pl.Expr) -> pl.Expr:
    """Fold line breaks and runs of spaces, the only differences the verbatim rules forgive (as fold_text).

    Every run of spaces and line breaks becomes one space; matching only the runs that change (two or more
    characters, or a lone line break) leaves single spaces alone, which is five times quicker.
    """
    return expr.str.replace_all(r"[ \r\n]{2,}|[\r\n]", " ").str.strip_chars(" ")


def fold_text(text: str) -> str:
    import re

    return re.sub(r"[ \r\n]+", " ", text).strip(" ")


def provenance_checks(resource: str, texts: dict[str, str] | None) -> list[RuleCheck]:
    """P01-P04 against the archive: files present, checksums equal, quotes and evidence verbatim."""
    if texts is None:
        return []
    if resource == "sources":
        return [
            _column_check("P01", "archive_file", "the archived text is not in the archive directory",
                          lambda: pl.col(ARCHIVE_SHA).is_not_null()),
            _column_check("P02", "sha256", "does not match the SHA-256 of the archived text",
                          lambda: pl.col(ARCHIVE_SHA).is_null() | (pl.col("sha256") == pl.col(ARCHIVE_SHA))),
        ]
    checks = [_verbatim_check("P04", "evidence", "not found verbatim in the source's archived text (copy it exactly: the archive may use non-breaking spaces and curly quotes)", texts)]
    if resource == "quotes":
        checks.append(_verbatim_check("P03", "text", "quote not found verbatim in the source's archived text", texts))
    return checks


def _verbatim_check(rule: str, field: str, message: str, texts: dict[str, str]) -> RuleCheck:
    """Rows grouped by source: each excerpt must occur in its own source's folded text.

    Each distinct (source, excerpt) pair is searched once and the answer joined back to the rows: rows
    quoting the same excerpt of the same source cost one search.
    """

    archived = pl.DataFrame({"source_id": list(texts), "__text": list(texts.values())},
                            schema={"source_id": pl.String, "__text": pl.String})

    def check(data) -> pl.LazyFrame:
        frame = data.lazyframe.select("source_id", field).collect()
        pairs = frame.unique().join(archived, on="source_id", how="left")  # each text shared, not copied
        excerpt = folded(pl.col(field))
        answers = pairs.select("source_id", field, (
            pl.col("__text").is_null() | pl.col(field).is_null()
            | pl.col("__text").str.contains(excerpt, literal=True)).alias("ok"))
        return frame.join(answers, on=["source_id", field], how="left", nulls_equal=True,
                          maintain_order="left").select("ok").lazy()

    return RuleCheck(rule, field, message, pa.Check(check, name=f"{rule}:{field}"), value_wise=False)


def build_schema(resource: str, schema: dict, checks: list[RuleCheck], unique: bool = True) -> pa.DataFrameSchema:
    """The pandera schema for one resource: dtypes, required and unique flags, and the given checks.

    unique=False leaves out the uniqueness flags, for a batch of rows (see uniqueness_schema).
    """
    primary = set(_as_list(schema.get("primaryKey")))
    columns = {}
    for field in schema["fields"]:
        name, constraints = field["name"], field.get("constraints", {})
        columns[name] = pa.Column(
            POLARS_TYPES[field.get("type", "string")],
            nullable=not (constraints.get("required") or name in primary),
            unique=unique and (bool(constraints.get("unique")) or (primary == {name})),
            checks=[c.check for c in checks if c.field == name],
        )
    composite = sorted(primary) if len(primary) > 1 and unique else None
    return pa.DataFrameSchema(columns, unique=composite, strict=False, name=resource)
