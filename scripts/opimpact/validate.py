"""Validate a package: descriptor → path-safe package → CSV reader → typed batches → rules → report.

Tables are read in batches (opimpact.csvreader), typed from their Table Schemas (opimpact.fieldtypes, F01),
given the context columns their rules read (whole-table facts such as referenced keys, repeated keys, ceilings
and publication dates), and checked by every rule of the registry (opimpact.checking).
"""

from __future__ import annotations

import contextlib
import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from . import checking
from .checking import BAD_ANY, ROW, bad_column
from .csvreader import NeedsExactRead, RawTable, TableUnreadable, house_format_findings, read_raw_table
from .dates import latest_possible
from .edtfdates import Readings, with_readings
from .fieldtypes import cast_columns, cast_frame, type_findings
from .links import SOURCE, identity_keys, link_keys, window, with_identity, with_link_sources
from .lookup import positions_in
from .ownwords import own_words_fields, with_own_words
from .package import DESCRIPTOR_NAME, Package, Resource, UnreadableInput, open_package
from .provenance import read_archive_texts, verbatim_fields, with_archive_sha, with_verbatim
from .readahead import ReadAhead
from .report import Finding, Report
from .standard import DESCRIPTOR, standard_problems
from .table_rules import CEILING, PUBLISHED_LATEST, TableInfo, as_list, duplicated_column, found_column

__all__ = ["validate_package", "validate_loaded", "load_typed_tables", "UnreadableInput"]

BATCH_BYTES = 64 << 20  # CSV bytes read and checked at a time: memory follows the batch, not the table
# The kept key columns grow with the package: past this much CSV, batches are half the size, so that what is in
# flight (each batched table reads ahead) shrinks as what is kept grows (10M rows: about 260 MB less at the
# peak, for ~4% more time).
LARGE_PACKAGE_BYTES = 1 << 30
# Checked in one piece: the other tables' context comes from sources, and X03 compares each personnel count
# with every ceiling of its table.
WHOLE_TABLES = ("sources", "personnel_levels")
SMALL_KEY_SET = 50_000  # up to this many referenced keys, a set lookup is quicker than a join
NAMED_SHARE = 4  # past SMALL_KEY_SET, a column naming at most 1/4 of the keys looks up only the keys it names


def validate_package(target: str | os.PathLike, archive: str | os.PathLike | None = None,
                     max_per_rule: int = 100, standard: bool = False) -> Report:
    """Validate the package at target (directory, descriptor or zip). Raises UnreadableInput for exit code 2."""
    with open_package(target) as package:
        return validate_loaded(package, archive=archive, max_per_rule=max_per_rule, standard=standard)


def validate_loaded(package: Package, archive: str | os.PathLike | None = None, max_per_rule: int = 100,
                    standard: bool = False) -> Report:
    """Check every table of an opened package, sources first and every table after the tables it references.

    With standard, the descriptor and Table Schemas are also checked against the standard's profiles (D06, by
    frictionless, whose import alone costs about half a second: `release` always asks for it). The report is the
    same as if every finding had been added in the order the checks run (FindingGroups), however the tables
    were batched.
    """
    report = Report(package=package.label, max_per_rule=max_per_rule,
                    archive=str(archive) if archive is not None else None, standard=standard)
    report.extend(package.findings)
    context = Context(archive=Path(archive) if archive is not None else None)
    runs = {}
    order = _check_order(package)
    with (ThreadPoolExecutor(max_workers=1, thread_name_prefix="opimpact-standard") as pool,
          ThreadPoolExecutor(max_workers=1, thread_name_prefix="opimpact-tables-ahead") as side):
        # frictionless is slow to import: it checks the metadata while the tables are read and checked
        profile_check = pool.submit(_standard_findings, package) if standard else None
        # batched tables start reading at once: their first batches are parsed while earlier tables are checked
        batched = [package.resources[name] for name in order if not _read_whole(package.resources[name])]
        batch_bytes = _batch_bytes(batched)
        prefetched = {resource.name: _start_reading(resource, batch_bytes) for resource in batched}
        # The batches of the tables after the one that follows sources need only sources' context: once it is
        # shared, a second thread checks them while the main thread checks the next table. sources' own
        # whole-table checks go first in that thread when they read no other table (pandera's import, at a first
        # failure, then no longer holds up everything).
        ahead: dict[str, Future[Batched | TableRun]] = {}
        finishing: tuple[str, Future[TableRun]] | None = None  # sources' whole-table checks, in that thread
        first = order.index("sources") if "sources" in order else 0

        def collect(name: str, run: TableRun) -> None:
            runs[name] = run
            _share(package, name, run, context)

        try:
            for position, name in enumerate(order):
                checked = (ahead.pop(name).result() if name in ahead
                           else _check_table(package, package.resources[name], context, max_per_rule,
                                             prefetched.get(name)))
                _share_batches(name, checked, context)
                if position == first:
                    alone = isinstance(checked, Batched) and not _reads_other_tables(checked.table.info)
                    finishing = (name, side.submit(_check_whole, checked, context)) if alone else None
                    ahead = {later: side.submit(_check_table, package, package.resources[later], context,
                                                max_per_rule, prefetched.get(later)) for later in order[first + 2:]}
                    if alone:
                        continue
                if finishing is not None:  # its keys before any later table's whole-table checks
                    collect(finishing[0], finishing[1].result())
                    finishing = None
                collect(name, checked if isinstance(checked, TableRun) else _check_whole(checked, context))
            if finishing is not None:  # no table followed it
                collect(finishing[0], finishing[1].result())
        finally:
            pending = [*ahead.values(), *([finishing[1]] if finishing is not None else [])]
            for future in pending:
                future.cancel()
            wait(pending)  # a table being checked ahead reads its batches to the end before they close
            for raw in prefetched.values():
                if raw.batches is not None:
                    raw.batches.close()
        if profile_check is not None:
            report.extend(profile_check.result())
    for name in package.resources:
        report.extend(runs[name].raw_findings)
        if archive is not None:  # the maintainers' check of the shipped files
            report.extend(house_format_findings(package.resources[name]))
        if runs[name].rows is not None:
            report.resources.append(name)
            report.rows[name] = runs[name].rows
        runs[name].groups.emit(report)
    return report


def _standard_findings(package: Package) -> list[Finding]:
    """D06: the descriptor and the usable Table Schemas against the standard's profiles."""
    schemas = {name: r.schema for name, r in package.resources.items() if r.schema is not None}
    findings = []
    for problem in standard_problems(package.descriptor, schemas):
        resource = None if problem.where == DESCRIPTOR else problem.where
        schema_ref = package.resources[resource].descriptor.get("schema") if resource in package.resources else None
        file = schema_ref if isinstance(schema_ref, str) else DESCRIPTOR_NAME
        findings.append(Finding("D06", problem.message, resource, file, None, problem.location, None))
    return findings


class FindingGroups:
    """One table's rule findings, grouped by where the checks report them: type errors field by field, then
    each field's checks in turn.

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
    texts: dict[str, str] = field(default_factory=dict)  # folded archived texts by source_id
    published: pl.DataFrame | None = None  # each source's latest possible publication date
    keys: dict[tuple[str, tuple[str, ...]], pl.DataFrame] = field(default_factory=dict)  # referenced key values
    owners: dict[tuple[str, str], pl.DataFrame] = field(default_factory=dict)  # (table, key) -> key, source_id
    readings: Readings = field(default_factory=Readings)  # EDTF strings read so far, shared by all tables
    shingles: dict[str, frozenset[str]] = field(default_factory=dict)  # own words: each source's 8-word runs
    # held while the shared caches above grow: tables are checked in two threads
    lock: threading.Lock = field(default_factory=threading.Lock)


@dataclass
class TableRun:
    """The outcome of checking one table."""

    raw_findings: list[Finding]
    groups: FindingGroups
    rows: int | None  # None when the table could not be read
    keys: pl.DataFrame | None = None  # the whole table's key columns (until passed on to the later tables)
    distinct: frozenset[tuple[str, ...]] = frozenset()  # the unique keys whose values never repeat


def _check_order(package: Package) -> list[str]:
    """sources first (the others' context comes from it), then each table after the tables it references."""
    names = list(package.resources)
    needs = {}
    for name in names:
        refs = {fk.get("reference", {}).get("resource") for fk in _foreign_keys(package.resources[name])}
        needs[name] = (refs | {"sources"}) & set(names) - {name}
    order: list[str] = []
    while len(order) < len(names):
        waiting = [n for n in names if n not in order]
        order.append(next((n for n in waiting if needs[n] <= set(order)), waiting[0]))
    return order


def _foreign_keys(resource: Resource) -> list[dict]:
    return [fk for fk in (resource.schema or {}).get("foreignKeys", []) if isinstance(fk, dict)]


def _read_whole(resource: Resource) -> bool:
    return resource.name in WHOLE_TABLES


def _batch_bytes(resources: list[Resource]) -> int:
    """The batch size for this package's batched tables (smaller for a large package)."""
    total = 0
    for resource in resources:
        with contextlib.suppress(OSError):  # read_raw_table says why
            total += resource.path.stat().st_size if resource.path is not None else 0
    return BATCH_BYTES // 2 if total > LARGE_PACKAGE_BYTES else BATCH_BYTES


def _start_reading(resource: Resource, batch_bytes: int) -> RawTable:
    """The table read in batches, one ahead, by a thread that starts now."""
    raw = read_raw_table(resource, batch_bytes=batch_bytes)
    if raw.batches is not None:
        raw.batches = ReadAhead(raw.batches)
    return raw


def _check_table(package: Package, resource: Resource, context: Context, max_per_rule: int,
                 raw: RawTable | None = None) -> Batched | TableRun:
    """Check one table's batches: raw, when given, is its batched read under way; otherwise it is read whole.
    Returns what the whole-table checks need, or the finished run of a table that could not be read."""
    raw = raw if raw is not None else read_raw_table(resource)
    try:
        return _check_batches(package, resource, raw, context, max_per_rule)
    except NeedsExactRead:  # met part-way through a batched read: start again with the exact reader
        return _check_batches(package, resource, read_raw_table(resource, fast=False), context, max_per_rule)
    except TableUnreadable as exc:  # found part-way through: what was checked before does not count
        return TableRun([exc.finding], FindingGroups(max_per_rule), None)


@dataclass
class TableCheck:
    """One table's checks and what they found so far."""

    resource: Resource
    info: TableInfo
    checks: list[checking.BoundCheck]
    typed_fields: frozenset[str]
    groups: FindingGroups
    positions: dict[str, int]
    pending: list[pl.DataFrame] = field(default_factory=list)  # the rows the screen found failing
    failing: dict[str, checking.BoundCheck] = field(default_factory=dict)

    def screen(self, frame: pl.DataFrame, checks: list[checking.BoundCheck], repeated: set[str] = frozenset()) -> None:
        screened = checking.screen(frame, checks, self.typed_fields, repeated)
        self.report_problems(screened.problems)
        if screened.rows is not None:
            self.pending.append(screened.rows)
            self.failing.update((c.label, c) for c in screened.failing)

    def confirm(self) -> None:
        """pandera's report of the rows the screen kept, in one call for the table."""
        if not self.pending:
            return
        frame = pl.concat(self.pending, how="diagonal_relaxed") if len(self.pending) > 1 else self.pending[0]
        checks = sorted(self.failing.values(), key=lambda c: c.order)
        self.pending, self.failing = [], {}
        failures, problems = checking.confirm(self.info.name, self.info.schema, frame, checks, self.groups.limit,
                                              self.typed_fields)
        for found in failures:
            self.groups.add((1, self.positions.get(found.check.field, 0), found.check.order),
                            checking.findings_of(found, self.info.name, self.resource.rel_path), found.count)
        self.report_problems(problems)

    def report_problems(self, problems: list[checking.Problem]) -> None:
        for problem in problems:
            field_name = problem.check.field if problem.check is not None else None
            order = problem.check.order if problem.check is not None else -1
            self.groups.add((2, self.positions.get(field_name, 0), order),
                            [checking.problem_finding(problem, self.info.name, self.resource.rel_path)], 1)


@dataclass
class Batched:
    """A table whose batches are checked: what its whole-table checks need."""

    table: TableCheck
    whole_checks: list[checking.BoundCheck]
    raw_findings: list[Finding]
    keys: pl.DataFrame  # the kept columns of every row
    rows: int
    whole: pl.DataFrame | None  # the typed table, when it was read in one piece


def _check_batches(package: Package, resource: Resource, raw: RawTable, context: Context,
                   max_per_rule: int) -> Batched | TableRun:
    """Type and check a table batch by batch, keeping the columns the whole-table checks read."""
    groups = FindingGroups(max_per_rule)
    if raw.frame is None and raw.batches is None:
        return TableRun(raw.findings, groups, None)
    name, schema, file = resource.name, resource.schema, resource.rel_path
    info = TableInfo(name, schema, _id_patterns(package, schema), archive=context.archive is not None,
                     texts=context.texts)
    bound, problems = checking.bind(info)
    typed_fields = frozenset(f["name"] for f in schema["fields"] if f.get("type", "string") not in ("string", "any"))
    table = TableCheck(resource, info, [c for c in bound if c.check.scope == "batch"], typed_fields, groups,
                       {f["name"]: i for i, f in enumerate(schema["fields"])})
    table.report_problems(problems)
    keep = _kept_fields(package, name, info)
    kept, rows, whole, repeated = [], 0, None, None
    for frame in raw.batches if raw.batches is not None else [raw.frame]:
        if repeated is None:
            repeated = checking.repeated_columns(frame, resource.field_names)  # judged on the first batch
        typed, bad = cast_columns(frame, schema, repeated)
        for field_name, found, count in type_findings(frame, bad, schema, name, file, max_per_rule):
            groups.add((0, table.positions[field_name], 0), found, count)
        typed = _with_bad_flags(typed, bad, typed_fields)
        table.screen(_with_context(info, typed, context), table.checks, repeated)
        kept.append(typed.select(*keep, ROW, *(bad_column(f) for f in keep if f in typed_fields), BAD_ANY)
                    if typed_fields else typed.select(*keep, ROW))
        rows += typed.height
        whole = typed if raw.batches is None else None
    frame = typed = bad = None  # the last batch is not held through the whole-table checks
    table.confirm()
    keys = pl.concat(kept) if len(kept) > 1 else kept[0]
    return Batched(table, [c for c in bound if c.check.scope == "table"], raw.findings, keys, rows, whole)


def _check_whole(batched: Batched, context: Context) -> TableRun:
    """The checks over the whole table's kept columns: unique keys, foreign keys and links."""
    table, info, keys = batched.table, batched.table.info, batched.keys
    flags, distinct = _duplicates(keys, info)
    whole_checks = batched.whole_checks
    if whole_checks:
        unique = tuple(info.primary_key) in distinct
        frame = _with_references(keys.with_columns(flags), info, context)
        table.screen(frame, [c for c in whole_checks if c.check.about is None])
        table.confirm()
        # a check about the rows where a column has a value (an identity link) runs on those rows only, with
        # context looked up for them only; confirmed apart, as a row may be in both screens
        for about in dict.fromkeys(c.check.about for c in whole_checks if c.check.about is not None):
            subset = frame.filter(pl.col(about).is_not_null()) if about in frame.columns else frame
            table.screen(with_identity(frame, info, unique, rows=subset),
                         [c for c in whole_checks if c.check.about == about])
            table.confirm()
    return TableRun(batched.raw_findings, table.groups, batched.rows, keys, distinct)


def _with_bad_flags(typed: pl.DataFrame, bad: pl.DataFrame, typed_fields: frozenset[str]) -> pl.DataFrame:
    """The F01 flags as columns the checks read: one per typed field, and one for the whole row."""
    if not typed_fields:
        return typed
    flags = [bad[name].alias(bad_column(name)) for name in bad.columns]
    return typed.with_columns(*flags, pl.any_horizontal(flags).alias(BAD_ANY))


def _kept_fields(package: Package, name: str, info: TableInfo) -> list[str]:
    """The fields checked over the whole table (unique keys, foreign keys, links), and those other tables'
    foreign keys reference."""
    keep = {f for key in info.unique_keys for f in key}
    for fk in info.foreign_keys:
        keep.update(fk.fields + (fk.reference_fields if fk.resource == name else []))
    if link_keys(info):
        keep.add(SOURCE)
    if identity_keys(info):
        keep.update(f for f in window(info) if f)
    for other in package.resources.values():
        for fk in _foreign_keys(other):
            if fk.get("reference", {}).get("resource") == name:
                keep.update(as_list(fk["reference"].get("fields")))
                if other.name != name and _owned(info):  # X10 compares the linked row's source
                    keep.add(SOURCE)
    return [f["name"] for f in info.fields if f["name"] in keep]


def _owned(info: TableInfo) -> bool:
    """Rows that rest on a source: the table has a source_id that is not its primary key."""
    return SOURCE in info.field_names() and info.primary_key != [SOURCE] and len(info.primary_key) == 1


def _duplicates(keys: pl.DataFrame, info: TableInfo) -> tuple[list[pl.Series], frozenset[tuple[str, ...]]]:
    """duplicated_column(n) for each unique key n, over the whole table (nulls count as a value, as repeats),
    and the keys whose values never repeat."""
    flags, distinct_keys = [], set()
    for number, key in enumerate(info.unique_keys):
        repeated = _repeated(keys, pl.col(key[0]) if len(key) == 1 else pl.struct(key))
        if not repeated.any():
            distinct_keys.add(tuple(key))
        flags.append(repeated.alias(duplicated_column(number)))
    return flags, frozenset(distinct_keys)


def _sharing_a_hash(frame: pl.DataFrame, values: pl.Expr) -> pl.Series:
    """True where the row's values hash like another row's: every repeated value does, and little else (equal
    hashes of different values are rare), so only these rows need their values compared."""
    return frame.select(values.hash().is_duplicated()).to_series()


def _repeated(frame: pl.DataFrame, values: pl.Expr) -> pl.Series:
    """True where the row's values occur in another row too (`is_duplicated`), comparing only the rows whose
    hashes repeat: grouping 64-bit hashes is much quicker than grouping a whole table's key strings."""
    shared = _sharing_a_hash(frame, values)
    repeated = pl.repeat(False, frame.height, dtype=pl.Boolean, eager=True)
    if not shared.any():
        return repeated
    rows = shared.arg_true()
    return repeated.scatter(rows.filter(frame[rows].select(values.is_duplicated()).to_series()), True)


def _first_of_each(frame: pl.DataFrame, key: str) -> pl.DataFrame:
    """frame's first row for each value of key (not in frame's order): only the rows whose key hashes like
    another row's are compared."""
    shared = _sharing_a_hash(frame, pl.col(key))
    if not shared.any():
        return frame
    return pl.concat([frame.filter(~shared), frame.filter(shared).unique(key, keep="first", maintain_order=True)])


def _with_references(keys: pl.DataFrame, info: TableInfo, context: Context) -> pl.DataFrame:
    """The context of a table's references, over its whole kept columns: whether each foreign key is found
    (F09) and the source of the row each typed link names (X10). What each identity link names (X08) is looked
    up apart (links.with_identity), for the rows that hold a link."""
    found = []
    for number, fk in enumerate(info.foreign_keys):
        if fk.resource == info.name:
            target = _present(keys.select(fk.reference_fields))
        else:
            target = context.keys.get((fk.resource, tuple(fk.reference_fields)))
        found.append(_found(keys, fk, target).alias(found_column(number)))
    return with_link_sources(keys.with_columns(found), info, context.owners)


def _share_keys(package: Package, name: str, frame: pl.DataFrame, context: Context) -> None:
    """The distinct values of the table's fields that foreign keys reference, for the tables checked after it."""
    for resource in package.resources.values():
        for fk in _foreign_keys(resource):
            if fk.get("reference", {}).get("resource") != name:
                continue
            fields = tuple(as_list(fk["reference"]["fields"]))
            if set(fields) <= set(frame.columns):
                context.keys[(name, fields)] = _present(frame.select(fields))


def _present(frame: pl.DataFrame, *names: str) -> pl.DataFrame:
    """frame without the rows where a column (of names, or any) is empty; frame itself, not a copy, when none
    is (a key column of a large table is shared, not copied)."""
    names = names or tuple(frame.columns)
    return frame.drop_nulls(names) if any(frame.get_column(n).has_nulls() for n in names) else frame


def _share(package: Package, name: str, run: TableRun, context: Context) -> None:
    """Pass on what later tables' whole-table checks need: referenced key values and each key's source."""
    if run.rows is None:
        return  # a table that could not be read is reported itself; references to it are not all called dangling
    _share_keys(package, name, run.keys, context)
    key = as_list(package.resources[name].schema.get("primaryKey"))
    if len(key) == 1 and SOURCE in run.keys.columns and key != [SOURCE] and key[0] in run.keys.columns:
        owners = _present(run.keys.select(key[0], SOURCE), key[0])
        # a key whose values never repeat is its own lookup: no copy of the table's keys
        context.owners[(name, key[0])] = owners if tuple(key) in run.distinct else _first_of_each(owners, key[0])
    run.keys = None  # the columns passed on stay shared; the others are freed before the next table


def _share_batches(name: str, checked: Batched | TableRun, context: Context) -> None:
    """Pass on what the later tables' batches need, once a table's batches are checked: sources' publication
    dates (its archived texts were read while its batch was checked: its own notes need them)."""
    if name == "sources" and isinstance(checked, Batched) and checked.whole is not None:
        context.published = _published_latest(checked.whole)


def _reads_other_tables(info: TableInfo) -> bool:
    """Whether the table's whole-table checks read other tables (foreign keys and links into them)."""
    return any(fk.resource != info.name for fk in info.foreign_keys)


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
    """Pattern of every key field: its own, or else that of the key field it references."""
    own = {f["name"]: f.get("constraints", {}).get("pattern") for f in schema["fields"]}
    patterns = {name: own[name] for name in as_list(schema.get("primaryKey")) if own.get(name)}
    for fk in schema.get("foreignKeys", []):
        target = package.resources.get(fk["reference"]["resource"])
        target_patterns = {f["name"]: f.get("constraints", {}).get("pattern")
                           for f in (target.schema or {}).get("fields", [])} if target else {}
        for name, target_field in zip(as_list(fk["fields"]), as_list(fk["reference"]["fields"]), strict=False):
            found = own.get(name) or target_patterns.get(target_field)
            if found and name not in patterns:
                patterns[name] = found
    return patterns


def _published_latest(sources: pl.DataFrame) -> pl.DataFrame | None:
    """Each source's latest possible publication date, from its date group and precision."""
    columns = ["source_id", "published_start", "published_end", "published_precision"]
    if not set(columns) <= set(sources.columns):
        return None
    dated = sources.select(columns).drop_nulls("source_id").unique("source_id", keep="first", maintain_order=True)
    latest = [latest_possible(start, end, precision) for _, start, end, precision in dated.iter_rows()]
    return dated.select("source_id").with_columns(pl.Series(PUBLISHED_LATEST, latest, dtype=pl.Date))


def _with_context(info: TableInfo, frame: pl.DataFrame, context: Context) -> pl.DataFrame:
    """Join in the columns that cross-table and provenance rules read."""
    names = set(frame.columns)
    if info.name in ("events", "quotes"):  # unknown (null) where sources could not be read
        if context.published is not None and "source_id" in names:
            sources = context.published  # compared as text, whatever types the two tables' schemas give
            rows = positions_in(frame.get_column("source_id").cast(pl.String), sources["source_id"].cast(pl.String))
            frame = frame.with_columns(sources[PUBLISHED_LATEST].gather(rows))
        else:
            frame = frame.with_columns(pl.lit(None, dtype=pl.Date).alias(PUBLISHED_LATEST))
    if info.name == "personnel_levels":
        frame = _with_ceiling(frame)
    with context.lock:
        frame = with_readings(frame, info, context.readings)
    if info.archive and info.name == "sources" and "archive_file" in names:
        frame = with_archive_sha(frame, context.archive)
    if info.archive:
        if info.name == "sources" and not context.texts:  # checked first: its own notes need the texts now
            context.texts = read_archive_texts(frame, context.archive)
        frame = with_verbatim(frame, verbatim_fields(info), context.texts)
        with context.lock:
            frame = with_own_words(frame, own_words_fields(info), context.texts, context.shingles)
    return frame


def _found(frame: pl.DataFrame, fk, keys: pl.DataFrame | None) -> pl.Series:
    """Per row: true where a foreign-key field is empty or the values exist in the referenced table. A
    referenced table that could not be read is reported itself, so its references are not called dangling."""
    if keys is None:
        return pl.repeat(True, frame.height, eager=True)
    empty = pl.any_horizontal(pl.col(f).is_null() for f in fk.fields)
    values = frame.select(fk.fields)
    target = keys.rename(dict(zip(fk.reference_fields, fk.fields, strict=True)))
    mismatched = [f for f in fk.fields if values.schema[f] != target.schema[f]]
    if mismatched:  # keys of different types are compared as text
        values = values.with_columns(pl.col(mismatched).cast(pl.String))
        target = target.with_columns(pl.col(mismatched).cast(pl.String))
    if len(fk.fields) == 1:
        column, key = values.to_series(), target.to_series()
        named = column.drop_nulls().unique() if key.len() > SMALL_KEY_SET else None
        if named is None or named.len() * NAMED_SHARE <= key.len():
            # against many keys, only those the column names: a set of them, not a hash table of every key
            key = key if named is None else key.filter(key.is_in(named.implode()))
            return column.is_in(key.implode()) | column.is_null()
    # a semi-join finds the rows whose values exist: one hash join
    hits = values.with_row_index("__position").join(target, on=fk.fields, how="semi")["__position"]
    found = pl.repeat(False, frame.height, dtype=pl.Boolean, eager=True).scatter(hits, True)
    return found | values.select(empty).to_series()


def _with_ceiling(frame: pl.DataFrame) -> pl.DataFrame:
    """The authorized ceiling in force at each row's date: the latest ceiling dated on or before it."""
    if not {"date_start", "count", "measure"} <= set(frame.columns):
        return frame.with_columns(pl.lit(None, dtype=pl.Int64).alias(CEILING))
    ceilings = (frame.filter((pl.col("measure") == "authorized_ceiling") & pl.col("date_start").is_not_null())
                .select(pl.col("date_start").alias("__since"), pl.col("count").alias(CEILING))
                .sort("__since"))
    dated = frame.filter(pl.col("date_start").is_not_null()).sort("date_start")
    joined = dated.join_asof(ceilings, left_on="date_start", right_on="__since", strategy="backward").drop("__since")
    joined = joined.with_columns(pl.when(pl.col("measure") == "authorized_ceiling").then(None)
                                 .otherwise(pl.col(CEILING)).alias(CEILING))
    undated = frame.filter(pl.col("date_start").is_null()).with_columns(pl.lit(None, dtype=pl.Int64).alias(CEILING))
    return pl.concat([joined, undated]).sort(ROW)
