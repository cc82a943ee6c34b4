"""Validate a package layer by layer: descriptor, structure, field rules, extra rules, provenance."""

from __future__ import annotations

import hashlib
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from . import checks as rules
from .dates import latest_possible
from .fieldtypes import cast_columns, cast_frame, type_findings
from .package import Package, Resource, UnreadableInput, open_package, resolve_inside
from .readahead import ReadAhead
from .report import Finding, Report, shorten
from .screen import failing_checks, failing_rows, repeated_columns
from .tables import ROW, NeedsExactRead, RawTable, TableUnreadable, read_raw_table

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


BATCH_BYTES = 64 << 20  # CSV bytes read and checked at a time: memory follows the batch, not the table
# Checked in one piece: the other tables' context comes from sources, and X03 compares each personnel count
# with every ceiling of its table.
WHOLE_TABLES = ("sources", "personnel_levels")


def validate_loaded(package: Package, archive: str | os.PathLike | None = None, max_per_rule: int = 100) -> Report:
    """Check every table of an opened package.

    Tables are read and checked in batches of about BATCH_BYTES of CSV, sources first and every table after
    the tables it references. Uniqueness is checked over each whole table at the end. The report is the same
    as if every finding had been added in the order the checks run: see FindingGroups.
    """
    report = Report(package=package.label, max_per_rule=max_per_rule,
                    archive=str(archive) if archive is not None else None)
    report.extend(package.findings)
    context = Context(archive=Path(archive) if archive is not None else None,
                      texts={} if archive is not None else None)
    runs = {}
    order = _check_order(package)
    # batched tables start reading at once: their first batches are parsed while earlier tables are checked
    prefetched = {name: _start_reading(package.resources[name]) for name in order
                  if not _read_whole(package.resources[name])}
    try:
        with pl.Config(engine_affinity="in-memory"):  # many small queries: the in-memory engine starts quicker
            for name in order:
                runs[name] = _check_table(package, package.resources[name], context, max_per_rule,
                                          prefetched.get(name))
                _share(package, name, runs[name], context)
    finally:
        for raw in prefetched.values():
            if raw.batches is not None:
                raw.batches.close()
    for name in package.resources:
        report.extend(runs[name].raw_findings)
        if runs[name].rows is not None:
            report.resources.append(name)
            report.rows[name] = runs[name].rows
        runs[name].groups.emit(report)
    return report


class FindingGroups:
    """One table's rule findings, grouped by where the checks report them: type errors field by field, then
    pandera's checks column by column (required, unique, then each check in turn).

    A group keeps its first `limit` findings and an exact count. Emitted in order, they list and count exactly
    what adding every finding one by one would, however many rows fail and however the table was batched.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._groups: dict[tuple, tuple[list[Finding], list[int]]] = {}

    def add(self, key: tuple, findings: list[Finding], count: int) -> None:
        listed, total = self._groups.setdefault(key, ([], [0]))
        listed.extend(findings[: max(0, self.limit - len(listed))])
        total[0] += count

    def emit(self, report: Report) -> None:
        for key in sorted(self._groups):
            listed, total = self._groups[key]
            report.add_counted(listed, total[0])


@dataclass
class Context:
    """What a table's checks need from the tables checked before it."""

    archive: Path | None
    texts: dict[str, str] | None  # folded archived texts by source_id; None without --archive
    published: pl.DataFrame | None = None  # each source's latest possible publication date
    keys: dict[tuple[str, str], pl.Series] = field(default_factory=dict)  # (table, field) -> values


@dataclass
class TableRun:
    """The outcome of checking one table."""

    raw_findings: list[Finding]
    groups: FindingGroups
    rows: int | None  # None when the table could not be read
    typed: pl.DataFrame | None = None  # the whole typed table, when it was read in one piece
    keys: pl.DataFrame | None = None  # the whole table's unique and referenced columns


def _check_order(package: Package) -> list[str]:
    """sources first (the others' context comes from it), then each table after the tables it references."""
    names = list(package.resources)
    needs = {}
    for name in names:
        refs = {fk.get("reference", {}).get("resource") for fk in (package.resources[name].schema or {}).get("foreignKeys", [])
                if isinstance(fk, dict)}
        needs[name] = (refs | {"sources"}) & set(names) - {name}
    order: list[str] = []
    while len(order) < len(names):
        waiting = [n for n in names if n not in order]
        order.append(next((n for n in waiting if needs[n] <= set(order)), waiting[0]))
    return order


def _read_whole(resource: Resource) -> bool:
    return resource.name in WHOLE_TABLES or _references_itself(resource)


def _start_reading(resource: Resource) -> RawTable:
    """The table read in batches, one ahead, by a thread that starts now."""
    raw = read_raw_table(resource, batch_bytes=BATCH_BYTES)
    if raw.batches is not None:
        raw.batches = ReadAhead(raw.batches)
    return raw


def _check_table(package: Package, resource: Resource, context: Context, max_per_rule: int,
                 raw: RawTable | None = None) -> TableRun:
    """Check one table: raw, when given, is its batched read under way; otherwise it is read whole."""
    raw = raw if raw is not None else read_raw_table(resource)
    try:
        return _check_frames(package, resource, raw, context, max_per_rule)
    except NeedsExactRead:  # met part-way through a batched read: start again with the exact reader
        return _check_frames(package, resource, read_raw_table(resource, fast=False), context, max_per_rule)
    except TableUnreadable as exc:  # found part-way through: what was checked before does not count
        return TableRun([exc.finding], FindingGroups(max_per_rule), None)


def _check_frames(package: Package, resource: Resource, raw: RawTable, context: Context,
                  max_per_rule: int) -> TableRun:
    """Cast and check a table batch by batch, keeping its key columns; then check uniqueness on them."""
    groups = FindingGroups(max_per_rule)
    if raw.frame is None and raw.batches is None:
        return TableRun(raw.findings, groups, None)
    name, schema, file = resource.name, resource.schema, resource.rel_path
    positions = {f["name"]: i for i, f in enumerate(schema["fields"])}
    keep = _kept_fields(package, name, schema)
    kept, rows, whole, checks, batch_schema, repeated = [], 0, None, [], None, []
    pending = PendingRows()
    for frame in raw.batches if raw.batches is not None else [raw.frame]:
        typed, bad = cast_columns(frame, schema)
        if batch_schema is None:
            if _references_itself(resource):  # read in one piece: its own keys are known now
                _share_keys(package, name, typed, context)
            checks = (rules.field_checks(schema, _id_patterns(package, schema))
                      + rules.foreign_key_checks(schema, context.keys)
                      + rules.date_checks(schema) + rules.text_checks(schema)
                      + rules.ceiling_checks(name) + rules.publication_checks(name, schema)
                      + rules.provenance_checks(name, context.texts))
            batch_schema = rules.build_schema(name, schema, checks, unique=False)
            repeated = repeated_columns(typed.select(resource.field_names))  # judged on the first batch
        for field_name, found, count in type_findings(frame, bad, schema, name, file, max_per_rule):
            groups.add((0, positions[field_name], 0, 0), found, count)
        frame_in_context = _with_context(name, typed, context.published, context.texts, context.archive)
        _add_pandera_failures(groups, batch_schema, frame_in_context, checks, schema, name, file, bad, positions,
                              repeated, pending)
        kept.append(typed.select(*keep, ROW).with_columns(
            bad[f].alias(f"__bad:{f}") for f in keep if f in bad.columns))
        rows += typed.height
        whole = typed if raw.batches is None else None
    if batch_schema is not None:
        flush_pending(groups, pending, batch_schema, checks, schema, name, file, positions)
    keys = pl.concat(kept) if len(kept) > 1 else kept[0]
    unique = rules.uniqueness_schema(name, schema)
    if unique is not None:
        flags = keys.select(pl.col(c).alias(c.removeprefix("__bad:")) for c in keys.columns if c.startswith("__bad:"))
        _add_pandera_failures(groups, unique, keys, [], schema, name, file, flags, positions)
    return TableRun(raw.findings, groups, rows, whole, keys)


def _kept_fields(package: Package, name: str, schema: dict) -> list[str]:
    """The fields checked over the whole table: unique ones, and those other tables' foreign keys reference."""
    keep = set(rules.unique_fields(schema))
    for other in package.resources.values():
        for fk in (other.schema or {}).get("foreignKeys", []):
            if isinstance(fk, dict) and fk.get("reference", {}).get("resource") == name:
                keep.update(rules._as_list(fk["reference"].get("fields")))
    return [f["name"] for f in schema["fields"] if f["name"] in keep]


def _references_itself(resource: Resource) -> bool:
    return any(isinstance(fk, dict) and fk.get("reference", {}).get("resource") == resource.name
               for fk in (resource.schema or {}).get("foreignKeys", []))


def _share_keys(package: Package, name: str, frame: pl.DataFrame, context: Context) -> None:
    """The values of the table's fields that foreign keys reference, for the tables checked after it."""
    for resource in package.resources.values():
        for fk in (resource.schema or {}).get("foreignKeys", []):
            if not isinstance(fk, dict) or fk.get("reference", {}).get("resource") != name:
                continue
            (target_field,) = rules._as_list(fk["reference"]["fields"])
            if target_field in frame.columns:
                context.keys[(name, target_field)] = frame[target_field].drop_nulls()


def _share(package: Package, name: str, run: TableRun, context: Context) -> None:
    """Pass on what later tables need: referenced key values, publication dates and archived texts."""
    if run.rows is None:
        return  # a table that could not be read is reported itself; references to it are not all called dangling
    _share_keys(package, name, run.keys, context)
    if name == "sources" and run.typed is not None:
        sources = TypedTable(name, package.resources[name].rel_path, run.typed)
        context.published = _published_latest(sources)
        if context.archive is not None:
            context.texts = read_archive_texts(package, {name: sources}, context.archive)


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


def _published_latest(sources: TypedTable | None) -> pl.DataFrame | None:
    """Each source's latest possible publication date, from its date group and precision."""
    columns = ["source_id", "published_start", "published_end", "published_precision"]
    if sources is None or not set(columns) <= set(sources.frame.columns):
        return None
    dated = sources.frame.select(columns).drop_nulls("source_id").unique("source_id", keep="first", maintain_order=True)
    latest = [latest_possible(start, end, precision) for _, start, end, precision in dated.iter_rows()]
    return dated.select("source_id").with_columns(pl.Series(rules.PUBLISHED_LATEST, latest, dtype=pl.Date))


def _with_context(name: str, frame: pl.DataFrame, published: pl.DataFrame | None,
                  texts: dict[str, str] | None, archive) -> pl.DataFrame:
    """Join in the columns that cross-table and provenance rules read."""
    if name in ("events", "quotes") and published is not None and "source_id" in frame.columns:
        latest = frame.select("source_id").join(published, on="source_id", how="left", maintain_order="left")
        frame = frame.with_columns(latest[rules.PUBLISHED_LATEST])  # one column joined: the others stay shared
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


@dataclass
class PendingRows:
    """The failing rows of a table's batches so far, kept for one pandera call: pandera's cost is mostly
    fixed (about 30 ms a call, building its error report), so one call per table, not per batch."""

    frames: list[pl.DataFrame] = field(default_factory=list)
    bads: list[pl.DataFrame] = field(default_factory=list)
    checks: dict[str, set[int]] = field(default_factory=dict)


def _add_pandera_failures(groups: FindingGroups, pandera_schema, frame: pl.DataFrame, checks: list[rules.RuleCheck],
                          schema: dict, resource: str, file: str, bad: pl.DataFrame, positions: dict[str, int],
                          repeated: list[str] = (), pending: PendingRows | None = None) -> None:
    """Validate frame with a pandera schema; add each check's failures to groups, counted in polars.

    The screen first finds the checks that may fail (checking the repeated columns once per distinct
    value); pandera validates those only, and where every such check answers row by row, only on the rows
    that fail. With pending, those rows wait there for one call per table (flush_pending); a batch that
    needs pandera on every row first flushes them, so findings keep their order. Only the first findings
    of each check become Finding objects. A failure in a cell that failed its type (bad), or an X rule
    failing in a row with a type error, follows from that type error and is left out.
    """
    by_field = _checks_by_field(checks)
    value_wise = {name: [check.value_wise for check in found] for name, found in by_field.items()}
    suspect = failing_checks(pandera_schema, frame, value_wise, repeated)
    if not suspect:
        return
    rows = None  # every rule's check answers row by row: pandera need only see the rows that fail
    if all(found is not None and all(n < len(by_field.get(name, [])) for n in found) for name, found in suspect.items()):
        rows = failing_rows(pandera_schema, frame, suspect)
    if rows is not None and pending is not None:
        pending.frames.append(frame[rows])
        pending.bads.append(bad[rows] if bad.width else bad)
        for name, found in suspect.items():
            pending.checks.setdefault(name, set()).update(found)
        return
    if pending is not None:
        flush_pending(groups, pending, pandera_schema, checks, schema, resource, file, positions)
    _report(groups, pandera_schema, suspect, frame if rows is None else frame[rows],
            bad if rows is None or not bad.width else bad[rows], by_field, schema, resource, file, positions)


def flush_pending(groups: FindingGroups, pending: PendingRows, pandera_schema, checks: list[rules.RuleCheck],
                  schema: dict, resource: str, file: str, positions: dict[str, int]) -> None:
    """Validate the rows waiting in pending, in one pandera call, and empty it. A check that failed in one
    batch passes in the others' rows (the screen evaluated it there), so their union can be validated."""
    if not pending.frames:
        return
    frame = pl.concat(pending.frames)
    bad = pl.concat(pending.bads) if pending.bads and pending.bads[0].width else pending.bads[0]
    suspect = {name: sorted(found) for name, found in pending.checks.items()}
    pending.frames, pending.bads, pending.checks = [], [], {}
    _report(groups, pandera_schema, suspect, frame, bad, _checks_by_field(checks), schema, resource, file, positions)


def _checks_by_field(checks: list[rules.RuleCheck]) -> dict[str, list[rules.RuleCheck]]:
    by_field: dict[str, list[rules.RuleCheck]] = {}
    for check in checks:  # in the order build_schema gives each column its checks
        by_field.setdefault(check.field, []).append(check)
    return by_field


def _report(groups: FindingGroups, pandera_schema, suspect: dict[str, list[int] | None], frame: pl.DataFrame,
            bad: pl.DataFrame, by_field: dict[str, list[rules.RuleCheck]], schema: dict, resource: str, file: str,
            positions: dict[str, int]) -> None:
    """pandera's failures of the suspect checks on frame, added to groups."""
    narrowed, numbers = _narrowed(pandera_schema, suspect)
    failures = _pandera_failure_cases(narrowed, frame)
    if failures is None:
        return
    failures = failures.filter((pl.col("schema_context") == "Column") & pl.col("index").is_not_null())
    primary = set(rules._as_list(schema.get("primaryKey")))
    row_has_bad = bad.select(pl.any_horizontal(pl.all())).to_series() if bad.width else None
    for (column, check, number), part in failures.group_by(["column", "check", "check_number"], maintain_order=True):
        if number is not None and column in numbers:  # the check's number in the full schema
            number = numbers[column][number]
        rule_check = _rule_check_of(check, number, column, by_field)
        rule, message = _rule_of(check, rule_check, column, primary)
        index = part["index"]
        skip = bad[column].gather(index) if column in bad.columns else None
        if rule.startswith("X") and row_has_bad is not None:
            skip = row_has_bad.gather(index) if skip is None else skip | row_has_bad.gather(index)
        if skip is not None:
            part = part.filter(~skip)
        if part.height == 0:
            continue
        head = part.head(groups.limit)
        index = head["index"]
        rows = frame[ROW].gather(index).to_list()
        details = (frame[rule_check.detail].gather(index).to_list()
                   if rule_check is not None and rule_check.detail else None)
        label = rule_check.detail.strip("_").replace("_", " ") if details is not None else ""
        findings = [Finding(rule, message + (f" ({label}: {details[i]})" if details is not None else ""),
                            resource, file, row, column, shorten(value))
                    for i, (row, value) in enumerate(zip(rows, head["failure_case"].to_list(), strict=True))]
        groups.add((1, positions.get(column, len(positions)), _stage(check), number or 0), findings, part.height)


PARALLEL_ROWS = 50_000  # from this many rows, a schema's columns are validated in two threads


def _narrowed(pandera_schema, suspect: dict[str, list[int] | None]) -> tuple:
    """The schema cut down to the suspect columns, and on each to its failing checks where the screen named
    them (a column validates on its own, a check within it too); with, for those columns, the full-schema
    number of each check kept."""
    if pandera_schema.unique:  # a multi-column rule: keep the schema whole
        return pandera_schema, {}
    columns, numbers = {}, {}
    for name, column in pandera_schema.columns.items():
        if name not in suspect:
            continue
        kept = suspect[name]
        if kept is None or len(kept) == len(column.checks):
            columns[name] = column
        else:
            columns[name] = column.update_checks([column.checks[i] for i in kept])
            numbers[name] = kept
    return rules.pa.DataFrameSchema(columns, strict=False, name=pandera_schema.name), numbers


def _pandera_failure_cases(pandera_schema, frame: pl.DataFrame) -> pl.DataFrame | None:
    """pandera's failure cases of frame (None when it passes), validating halves of the columns in two threads
    on a large frame: pandera runs one check at a time, and polars releases the GIL while it computes."""
    columns = list(pandera_schema.columns.items())
    if frame.height < PARALLEL_ROWS or len(columns) < 2:
        parts = [pandera_schema]
    else:
        halves: tuple[dict, dict] = ({}, {})
        load = [0, 0]
        for name, column in sorted(columns, key=lambda item: -len(item[1].checks)):
            lighter = load.index(min(load))
            halves[lighter][name] = column
            load[lighter] += len(column.checks) + 1
        parts = [rules.pa.DataFrameSchema(dict(sorted(half.items(), key=lambda item: [c for c, _ in columns].index(item[0]))),
                                          strict=False, name=pandera_schema.name) for half in halves if half]

    def failure_cases(part) -> pl.DataFrame | None:
        try:
            part.validate(frame, lazy=True)
            return None
        except rules.pa.errors.SchemaErrors as errors:
            return errors.failure_cases

    if len(parts) == 1:
        found = [failure_cases(parts[0])]
    else:
        with ThreadPoolExecutor(max_workers=len(parts)) as pool:
            found = list(pool.map(failure_cases, parts))
    found = [f for f in found if f is not None]
    return pl.concat(found, how="vertical_relaxed") if found else None


def _stage(check: str) -> int:
    """The order in which pandera runs a column's checks: required, unique, type, then the checks list."""
    if check == "not_nullable":
        return 0
    if check == "field_uniqueness":
        return 1
    return 2 if check.startswith("dtype") else 3


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
