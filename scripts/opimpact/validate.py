"""Validate a package layer by layer: descriptor, structure, field rules, extra rules, provenance."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from . import checks as rules
from .fieldtypes import cast_frame
from .package import Package, UnreadableInput, open_package, resolve_inside
from .report import Finding, Report, shorten
from .tables import ROW, read_raw_table

__all__ = ["validate_package", "validate_loaded", "load_typed_tables", "UnreadableInput"]


@dataclass
class TypedTable:
    resource: str
    file: str
    frame: pl.DataFrame  # typed columns plus ROW


def validate_package(target: str | os.PathLike, archive: str | os.PathLike | None = None,
                     max_per_rule: int = 100) -> Report:
    """Validate the package at target (directory, descriptor or zip). Raises UnreadableInput for exit code 2."""
    with open_package(target) as package:
        return validate_loaded(package, archive=archive, max_per_rule=max_per_rule)


def validate_loaded(package: Package, archive: str | os.PathLike | None = None, max_per_rule: int = 100) -> Report:
    report = Report(package=package.label, max_per_rule=max_per_rule,
                    archive=str(archive) if archive is not None else None)
    report.extend(package.findings)
    tables = _read_tables(package, report)
    texts = read_archive_texts(package, tables, Path(archive)) if archive is not None else None
    referenced = _referenced_keys(package, tables)
    published = _published_latest(tables.get("sources"))
    for name, table in tables.items():
        schema = package.resources[name].schema
        frame = _with_context(name, table.frame, published, texts, archive)
        checks = (rules.field_checks(schema, _id_patterns(package, schema))
                  + rules.foreign_key_checks(schema, referenced)
                  + rules.date_checks(schema) + rules.text_checks(schema)
                  + rules.ceiling_checks(name) + rules.publication_checks(name, schema)
                  + rules.provenance_checks(name, texts))
        _run_pandera(report, table, schema, checks, frame)
    return report


def _read_tables(package: Package, report: Report) -> dict[str, TypedTable]:
    tables = {}
    for name, resource in package.resources.items():
        raw = read_raw_table(resource)
        report.extend(raw.findings)
        if raw.frame is None:
            continue
        report.resources.append(name)
        report.rows[name] = raw.frame.height
        typed, type_findings = cast_frame(raw.frame, resource.schema, name, resource.rel_path)
        report.extend(type_findings)
        tables[name] = TypedTable(name, resource.rel_path, typed)
    return tables


def load_typed_tables(package: Package) -> dict[str, pl.DataFrame]:
    """The package's tables with schema types, in descriptor order, without the row-number column.

    Call it on a package that validates; cells that fail their type come back null.
    """
    tables = {}
    for name, resource in package.resources.items():
        raw = read_raw_table(resource)
        if raw.frame is None:
            raise UnreadableInput(f"{resource.rel_path}: {raw.findings[0].message if raw.findings else 'unreadable'}")
        typed, _ = cast_frame(raw.frame, resource.schema, name, resource.rel_path)
        tables[name] = typed.drop(ROW)
    return tables


def _id_patterns(package: Package, schema: dict) -> dict[str, str]:
    """Pattern of every key field: its own, or else that of the key it references."""
    patterns = {}
    by_name = {f["name"]: f for f in schema["fields"]}
    for name in rules.key_fields(schema):
        own = by_name.get(name, {}).get("constraints", {}).get("pattern")
        if own:
            patterns[name] = own
    for fk in schema.get("foreignKeys", []):
        (name,) = rules._as_list(fk["fields"])
        if name in patterns:
            continue
        target = package.resources.get(fk["reference"]["resource"])
        (target_field,) = rules._as_list(fk["reference"]["fields"])
        for f in (target.schema or {}).get("fields", []) if target else []:
            if f["name"] == target_field and f.get("constraints", {}).get("pattern"):
                patterns[name] = f["constraints"]["pattern"]
    return patterns


def _referenced_keys(package: Package, tables: dict[str, TypedTable]) -> dict[tuple[str, str], pl.Series]:
    keys = {}
    for resource in package.resources.values():
        for fk in (resource.schema or {}).get("foreignKeys", []):
            target = fk["reference"]["resource"]
            (field,) = rules._as_list(fk["reference"]["fields"])
            if target in tables and field in tables[target].frame.columns:
                keys[(target, field)] = tables[target].frame[field].drop_nulls().unique()
            # a table that could not be read is reported itself; its references are not all called dangling
    return keys


def _published_latest(sources: TypedTable | None) -> pl.DataFrame | None:
    """Each source's latest possible publication date, from its date group and precision."""
    if sources is None or "published_start" not in sources.frame.columns:
        return None
    start, end, prec = pl.col("published_start"), pl.col("published_end"), pl.col("published_precision")
    latest = (pl.when(prec == "range").then(end)
              .when(prec == "month").then(start.dt.offset_by("1mo").dt.offset_by("-1d"))
              .when(prec == "season").then(start.dt.offset_by("3mo").dt.offset_by("-1d"))
              .when(prec == "year").then(start.dt.offset_by("1y").dt.offset_by("-1d"))
              .otherwise(start))
    return (sources.frame.select("source_id", latest.alias(rules.PUBLISHED_LATEST))
            .drop_nulls("source_id").unique("source_id", keep="first"))


def _with_context(name: str, frame: pl.DataFrame, published: pl.DataFrame | None,
                  texts: dict[str, str] | None, archive) -> pl.DataFrame:
    """Join in the columns that cross-table and provenance rules read."""
    if name in ("events", "quotes") and published is not None and "source_id" in frame.columns:
        frame = frame.join(published, on="source_id", how="left", maintain_order="left")
    if name == "personnel_levels":
        frame = _with_ceiling(frame)
    if name == "sources" and texts is not None:
        frame = frame.with_columns(pl.Series(rules.ARCHIVE_SHA, [
            _archive_sha(Path(archive), file) for file in frame["archive_file"].to_list()], dtype=pl.String))
    return frame


def _with_ceiling(frame: pl.DataFrame) -> pl.DataFrame:
    """The authorized ceiling in force at each row's date: the latest ceiling dated on or before it."""
    needed = {"date_start", "count", "measure"}
    if not needed <= set(frame.columns):
        return frame.with_columns(pl.lit(None, dtype=pl.Int64).alias(rules.CEILING))
    ceilings = (frame.filter((pl.col("measure") == "authorized_ceiling") & pl.col("date_start").is_not_null())
                .select(pl.col("date_start").alias("__since"), pl.col("count").alias(rules.CEILING))
                .sort("__since"))
    dated = frame.filter(pl.col("date_start").is_not_null()).sort("date_start")
    joined = dated.join_asof(ceilings, left_on="date_start", right_on="__since", strategy="backward").drop("__since")
    joined = joined.with_columns(pl.when(pl.col("measure") == "authorized_ceiling").then(None)
                                 .otherwise(pl.col(rules.CEILING)).alias(rules.CEILING))
    undated = frame.filter(pl.col("date_start").is_null()).with_columns(pl.lit(None, dtype=pl.Int64).alias(rules.CEILING))
    return pl.concat([joined, undated]).sort(ROW)


def _archive_sha(archive: Path, file: str | None) -> str | None:
    if not file:
        return None
    path, reason = resolve_inside(archive, file)
    if reason or path is None or not path.is_file():
        return None
    return hashlib.sha256(path.read_bytes()).hexdigest()


def read_archive_texts(package: Package, tables: dict[str, TypedTable], archive: Path) -> dict[str, str]:
    """Folded archived text of every source whose file is present and readable, keyed by source_id."""
    texts: dict[str, str] = {}
    sources = tables.get("sources")
    if sources is None or not {"source_id", "archive_file"} <= set(sources.frame.columns):
        return texts
    for source_id, file in sources.frame.select("source_id", "archive_file").iter_rows():
        if not source_id or not file:
            continue
        path, reason = resolve_inside(archive, file)
        if reason or path is None or not path.is_file():
            continue
        try:
            texts[source_id] = rules.fold_text(path.read_bytes().decode("utf-8-sig"))
        except UnicodeDecodeError:
            continue
    return texts


def _run_pandera(report: Report, table: TypedTable, schema: dict, checks: list[rules.RuleCheck],
                 frame: pl.DataFrame) -> None:
    import pandera.polars as pa

    pandera_schema = rules.build_schema(table.resource, schema, checks)
    try:
        pandera_schema.validate(frame, lazy=True)
        return
    except pa.errors.SchemaErrors as errors:
        failures = errors.failure_cases
    primary = set(rules._as_list(schema.get("primaryKey")))
    by_field: dict[str, list[rules.RuleCheck]] = {}
    for check in checks:
        by_field.setdefault(check.field, []).append(check)
    type_errors = {(f.row, f.field) for f in report.findings if f.resource == table.resource and f.rule == "F01"}
    rows_with_type_errors = {row for row, _ in type_errors}
    rows = frame[ROW]
    for value, context, column, check, number, index in failures.iter_rows():
        if context != "Column" or index is None:
            continue
        rule_check = _rule_check_of(check, number, column, by_field)
        rule, message = _rule_of(check, rule_check, column, primary)
        row = int(rows[index])
        if (row, column) in type_errors or (rule.startswith("X") and row in rows_with_type_errors):
            continue  # follows from a cell that failed its type, which is already reported
        if rule_check is not None and rule_check.detail:
            message += f" ({rule_check.detail.strip('_').replace('_', ' ')}: {frame[rule_check.detail][index]})"
        report.add(Finding(rule, message, table.resource, table.file, row, column, shorten(value)))


def _rule_check_of(check: str, number: int | None, column: str, by_field: dict) -> rules.RuleCheck | None:
    candidates = by_field.get(column, [])
    if check in ("not_nullable", "field_uniqueness") or number is None or number >= len(candidates):
        return None
    return candidates[number]


def _rule_of(check: str, rule_check: rules.RuleCheck | None, column: str, primary: set[str]) -> tuple[str, str]:
    if check == "not_nullable":
        if column in primary:
            return "F08", "primary-key value is missing"
        return "F02", "a value is required"
    if check == "field_uniqueness" or check.startswith("multiple_fields_uniqueness"):
        if column in primary:
            return "F08", "primary-key value is duplicated"
        return "F03", "value must be unique in this column"
    if rule_check is not None:
        return rule_check.rule, rule_check.message
    return "F01", f"column does not have its schema type ({check})"
