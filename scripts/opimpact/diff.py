"""Compare two versions of the package: rows by primary key, schemas field by field, and the version bump
each change requires under semantic versioning for data.

Rows are matched by key with polars joins over the CSV reader validate uses (every cell as text, so a diff
reports text changes exactly). Only the rows a report lists become Python values. The old table is read whole;
the new one is compared with it batch by batch, keeping the cells of only the rows a report may list (changed
rows, and rows whose key is new): a diff of two large tables needs about the memory of reading one of them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import polars as pl

from .csvreader import ROW, NeedsExactRead, TableUnreadable, read_raw_table
from .gitutil import GitError, open_package_at, repo_root, resolve_commit
from .package import Package, Resource, UnreadableInput, open_package
from .readahead import ReadAhead
from .records import open_release, record_path
from .semver import Bump, Version

# What each kind of change requires, and why. The release command refuses a smaller bump.
POLICY: dict[str, tuple[Bump, str]] = {
    "resource-removed": (Bump.MAJOR, "a table was removed"),
    "resource-path": (Bump.MAJOR, "a table's file moved, which breaks scripts that read it"),
    "field-removed": (Bump.MAJOR, "a field was removed"),
    "field-renamed": (Bump.MAJOR, "a field was renamed"),
    "type-changed": (Bump.MAJOR, "a field's type changed"),
    "field-order": (Bump.MAJOR, "the column order changed, which breaks readers that expect the old header"),
    "primary-key": (Bump.MAJOR, "a table's primary key changed"),
    "rows-removed": (Bump.MAJOR, "rows were removed (their IDs no longer resolve)"),
    "rows-rekeyed": (Bump.MAJOR, "rows were re-keyed (same content under a new ID)"),
    "resource-added": (Bump.MINOR, "a table was added"),
    "field-added": (Bump.MINOR, "a field was added"),
    "rows-added": (Bump.MINOR, "rows were added"),
    "constraints": (Bump.MINOR, "a field's constraints changed"),
    "field-properties": (Bump.MINOR, "a field's format or parsing properties changed"),
    "foreign-keys": (Bump.MINOR, "a table's foreign keys changed"),
    "missing-values": (Bump.MINOR, "a table's missing-value markers changed"),
    "rows-changed": (Bump.PATCH, "values were corrected"),
    "field-documentation": (Bump.PATCH, "a field's title or description changed"),
    "resource-metadata": (Bump.PATCH, "a table's title, description or other metadata changed"),
    "package-metadata": (Bump.PATCH, "the package's metadata changed"),
    "file-bytes": (Bump.PATCH, "a data file's bytes changed without any change of value (formatting)"),
}
DOC_PROPERTIES = {"title", "description", "example", "rdfType"}
RELEASE_PROPERTIES = {"version", "created"}  # set by each release, never a change of data
FILE_PROPERTIES = {"bytes", "hash"}
LIST_LIMIT = 10  # rows named in the one-line message of a change
ROW_LIST_LIMIT = 1000  # rows listed per kind (added, removed, re-keyed, changed) and table; the counts stay exact
ROW_KINDS = ("added", "removed", "rekeyed", "changed")
BATCH_BYTES = 16 << 20  # CSV bytes of the new table compared at a time


class DiffError(Exception):
    """A table cannot be compared (its file or schema is unreadable): exit code 2."""


@dataclass
class Change:
    level: Bump
    kind: str
    table: str | None
    message: str


@dataclass
class PropertyChange:
    field: str
    key: str
    before: object
    after: object


@dataclass
class RowChange:
    key: str
    fields: list[tuple[str, str | None, str | None]]  # (field, before, after)


@dataclass
class TableDiff:
    name: str
    status: str  # "changed-or-same", "added" or "removed"
    rows_old: int = 0
    rows_new: int = 0
    fields_added: list[tuple[str, str]] = field(default_factory=list)  # (name, type)
    fields_removed: list[tuple[str, str]] = field(default_factory=list)
    fields_renamed: list[tuple[str, str]] = field(default_factory=list)  # (old name, new name)
    type_changes: list[tuple[str, str, str]] = field(default_factory=list)  # (field, old type, new type)
    constraint_changes: list[PropertyChange] = field(default_factory=list)
    property_changes: list[PropertyChange] = field(default_factory=list)
    order_changed: bool = False
    schema_changes: list[PropertyChange] = field(default_factory=list)  # primaryKey, foreignKeys, missingValues
    resource_changes: list[PropertyChange] = field(default_factory=list)  # path, title, description, ...
    rows_added: list[str] = field(default_factory=list)
    rows_removed: list[str] = field(default_factory=list)
    rows_rekeyed: list[tuple[str, str]] = field(default_factory=list)  # (old key, new key)
    rows_changed: list[RowChange] = field(default_factory=list)
    file_bytes_changed: bool = False
    # rows added, removed, rekeyed and changed, by kind: exact, while each list above stops at ROW_LIST_LIMIT
    row_counts: dict[str, int] = field(default_factory=dict)

    def count(self, kind: str) -> int:
        """How many rows were added, removed, rekeyed or changed (one of ROW_KINDS)."""
        return self.row_counts.get(kind, 0)

    def changes(self) -> list[Change]:
        """This table's changes, each with the bump it requires."""
        out: list[Change] = []

        def add(kind: str, message: str) -> None:
            out.append(Change(POLICY[kind][0], kind, self.name, f"{self.name}: {message}"))

        if self.status == "added":
            add("resource-added", f"table added ({self.rows_new} rows)")
            return out
        if self.status == "removed":
            add("resource-removed", f"table removed ({self.rows_old} rows)")
            return out
        for change in self.resource_changes:
            kind = "resource-path" if change.key == "path" else "resource-metadata"
            add(kind, f"resource property '{change.key}' changed from {_show(change.before)} to {_show(change.after)}")
        for old, new in self.fields_renamed:
            add("field-renamed", f"field `{old}` renamed to `{new}` (looks renamed: same type and values)")
        for name, kind in self.fields_removed:
            add("field-removed", f"field `{name}` ({kind}) removed")
        for name, kind in self.fields_added:
            add("field-added", f"field `{name}` ({kind}) added")
        for name, old, new in self.type_changes:
            add("type-changed", f"field `{name}` type changed from {old} to {new}")
        if self.order_changed:
            add("field-order", "column order changed")
        for change in self.schema_changes:
            kind = {"primaryKey": "primary-key", "foreignKeys": "foreign-keys"}.get(change.key, "missing-values")
            add(kind, f"schema '{change.key}' changed from {_show(change.before)} to {_show(change.after)}")
        for change in self.constraint_changes:
            add("constraints", f"field `{change.field}` constraint '{change.key}' changed from "
                f"{_show(change.before)} to {_show(change.after)}")
        for change in self.property_changes:
            kind = "field-documentation" if change.key in DOC_PROPERTIES else "field-properties"
            add(kind, f"field `{change.field}` property '{change.key}' changed")
        if self.rows_removed:
            total = self.count("removed")
            add("rows-removed", f"{_count(total, 'row')} removed ({_some(self.rows_removed, total)})")
        if self.rows_rekeyed:
            total = self.count("rekeyed")
            pairs = [f"{old} → {new}" for old, new in self.rows_rekeyed]
            add("rows-rekeyed", f"{_count(total, 'row')} re-keyed ({_some(pairs, total)})")
        if self.rows_added:
            total = self.count("added")
            add("rows-added", f"{_count(total, 'row')} added ({_some(self.rows_added, total)})")
        if self.rows_changed:
            total = self.count("changed")
            described = [f"{row.key}: {', '.join(name for name, _, _ in row.fields)}" for row in self.rows_changed]
            add("rows-changed", f"{_count(total, 'row')} changed ({_some(described, total, sep='; ')})")
        if self.file_bytes_changed and not out:
            add("file-bytes", "the data file's bytes changed but no value did (formatting)")
        return out


@dataclass
class PackageDiff:
    old: str
    new: str
    tables: list[TableDiff]
    metadata_changes: list[PropertyChange] = field(default_factory=list)

    def changes(self) -> list[Change]:
        out = [Change(POLICY["package-metadata"][0], "package-metadata", None,
                      f"package property '{c.key}' changed") for c in self.metadata_changes]
        for table in self.tables:
            out.extend(table.changes())
        return sorted(out, key=lambda c: -c.level)

    @property
    def required_bump(self) -> Bump:
        """The smallest version bump that covers every change (NONE when nothing changed)."""
        return max((c.level for c in self.changes()), default=Bump.NONE)

    def to_dict(self) -> dict:
        return {
            "diff_version": 1,
            "old": self.old,
            "new": self.new,
            "required_bump": self.required_bump.label,
            "changes": [{"level": c.level.label, "kind": c.kind, "table": c.table, "message": c.message}
                        for c in self.changes()],
            "package_metadata": [asdict(c) for c in self.metadata_changes],
            "tables": {t.name: _table_dict(t) for t in self.tables},
        }


def _table_dict(table: TableDiff) -> dict:
    data = asdict(table)
    data["rows_changed"] = [{"key": r.key, "fields": [{"field": f, "before": b, "after": a} for f, b, a in r.fields]}
                            for r in table.rows_changed]
    data["fields_added"] = [{"field": n, "type": t} for n, t in table.fields_added]
    data["fields_removed"] = [{"field": n, "type": t} for n, t in table.fields_removed]
    data["fields_renamed"] = [{"old": o, "new": n} for o, n in table.fields_renamed]
    data["type_changes"] = [{"field": f, "old": o, "new": n} for f, o, n in table.type_changes]
    data["rows_rekeyed"] = [{"old": o, "new": n} for o, n in table.rows_rekeyed]
    del data["row_counts"]
    if any(table.count(kind) > len(data[f"rows_{kind}"]) for kind in ROW_KINDS):
        data["row_counts"] = {kind: table.count(kind) for kind in ROW_KINDS}  # a list was cut: the exact numbers
    data["changes"] = [{"level": c.level.label, "kind": c.kind, "message": c.message} for c in table.changes()]
    return data


# ---------------------------------------------------------------- comparing

def diff_packages(old: Package, new: Package) -> PackageDiff:
    """Every difference between two packages, table by table, in the new package's table order."""
    names = list(new.resources) + [n for n in old.resources if n not in new.resources]
    tables = []
    for name in names:
        before, after = old.resources.get(name), new.resources.get(name)
        if before is None:
            tables.append(TableDiff(name, "added", rows_new=_read_rows(after).keys.len()))
        elif after is None:
            tables.append(TableDiff(name, "removed", rows_old=_read_rows(before).keys.len()))
        else:
            tables.append(diff_tables(before, after))
    return PackageDiff(old.label, new.label, tables, _property_changes("", old.descriptor, new.descriptor,
                                                                       ignore={"resources"} | RELEASE_PROPERTIES))


@dataclass
class _Rows:
    """A table's rows, the first of each key in file order: the keys, and the cells as text (None where empty).

    Columns are kept as separate series, gathered one at a time: a frame operation on a whole table would
    hold a copy of every column at once."""

    fields: list[str]
    keys: pl.Series  # distinct
    columns: dict[str, pl.Series]  # by field; row i holds the cells of keys[i] (of kept[i], with kept)
    path: Path
    kept: pl.Series | None = None  # the positions, ascending, of the only rows whose cells are held

    def positions(self, name: str) -> pl.DataFrame:
        """Columns key and name: each key and its row's position."""
        return self.keys.to_frame("key").with_row_index(name)

    def column(self, name: str, positions: pl.Series) -> pl.Series:
        """The cells of field name at positions (of held rows only, with kept)."""
        if self.kept is not None:
            positions = self.kept.search_sorted(positions.cast(self.kept.dtype))
        return self.columns[name].gather(positions)


def _read_rows(resource: Resource) -> _Rows:
    """A table's rows by key: its primary key's cells joined by '|' (a line number stands in for a key with
    an empty cell; every field together for a table without a primary key)."""
    _check_readable(resource)
    raw = read_raw_table(resource)
    if raw.frame is None:
        raise _unreadable(resource, raw.findings[0] if raw.findings else None)
    fields = resource.field_names
    frame, raw.frame = raw.frame, None
    keys = _keys(frame, _as_list(resource.schema.get("primaryKey")) or fields, fields).rechunk()  # faster joins
    first = keys.is_first_distinct()
    if not first.all():  # a repeated key: its first row stands for it
        keys, frame = keys.filter(first), frame.filter(first)
    columns = {}
    for name in fields:
        # The reader gives a chunk per batch; gathering from one chunk is several times faster. Each column is
        # made one chunk in turn and its chunks dropped, so only one column is ever held twice.
        columns[name] = frame.get_column(name).rechunk()
        frame = frame.drop(name)
    return _Rows(fields, keys, columns, resource.path)


def _check_readable(resource: Resource) -> None:
    if resource.schema is None or resource.path is None:
        raise DiffError(f"{resource.name}: its schema or data path could not be read")


def _unreadable(resource: Resource, problem) -> DiffError:
    where = f" (line {problem.row})" if problem and problem.row else ""
    return DiffError(f"{resource.rel_path}{where}: {problem.message if problem else 'unreadable'}")


def _compare_new(resource: Resource, before: _Rows, mapping: dict[str, str]) -> tuple[_Rows, pl.Series]:
    """The new table, read batch by batch and compared with the old one: its rows by key (as _read_rows),
    holding the cells of only the rows a report may list (rows whose values differ from the old row of
    their key, and rows whose key the old table lacks), and the positions of the rows that differ."""
    _check_readable(resource)
    raw = read_raw_table(resource, batch_bytes=BATCH_BYTES)
    if raw.batches is None and raw.frame is None:
        raise _unreadable(resource, raw.findings[0] if raw.findings else None)
    if raw.batches is not None:
        raw.batches = ReadAhead(raw.batches)  # the next batch is parsed while this one is compared
    try:
        return _compare_frames(resource, raw.batches if raw.batches is not None else [raw.frame], before, mapping)
    except NeedsExactRead:  # met part-way: start again with the exact reader, whose frame is one batch
        if raw.batches is not None:
            raw.batches.close()
        raw = read_raw_table(resource, fast=False)
        if raw.frame is None:
            raise _unreadable(resource, raw.findings[0] if raw.findings else None) from None
        return _compare_frames(resource, [raw.frame], before, mapping)
    except TableUnreadable as exc:
        raise _unreadable(resource, exc.finding) from None
    finally:
        if raw.batches is not None:
            raw.batches.close()


def _compare_frames(resource: Resource, frames, before: _Rows, mapping: dict[str, str]) -> tuple[_Rows, pl.Series]:
    fields = resource.field_names
    key_fields = _as_list(resource.schema.get("primaryKey")) or fields
    # The old keys sorted once, and each batch's keys found among them by binary search: a join per batch
    # would hash every old key again for each batch.
    order = before.keys.arg_sort()
    sorted_keys = before.keys.gather(order)
    keys, held, differing, start = [], [], [], 0
    for frame in frames:
        batch_keys = _keys(frame, key_fields, fields)
        rows = pl.DataFrame({"key": batch_keys, "row": pl.int_range(frame.height, dtype=pl.UInt32, eager=True)})
        if sorted_keys.len():
            at = sorted_keys.search_sorted(batch_keys).clip(upper_bound=sorted_keys.len() - 1)
            rows = rows.with_columns(old=order.gather(at), found=sorted_keys.gather(at) == batch_keys)
        else:
            rows = rows.with_columns(old=pl.lit(None, dtype=order.dtype), found=pl.lit(False))
        shared = rows.filter("found")  # the old keys are distinct: one match at most
        differs = pl.repeat(False, shared.height, dtype=pl.Boolean, eager=True)
        for old, new in mapping.items():
            differs = differs | before.column(old, shared["old"]).ne_missing(frame.get_column(new).gather(shared["row"]))
        changed = shared.filter(differs)["row"]
        unknown = rows.filter(~pl.col("found"))["row"]
        listed = pl.concat([changed, unknown]).sort()
        held.append(frame.select(pl.col(fields).gather(listed)).with_columns(__at=listed.cast(pl.Int64) + start))
        differing.append(changed.cast(pl.Int64) + start)
        keys.append(batch_keys)
        start += frame.height
    every_key = pl.concat(keys).rechunk() if len(keys) > 1 else keys[0].rechunk()
    first = every_key.is_first_distinct()  # a repeated key: its first row stands for it, as in _read_rows
    position = first.cast(pl.Int64).cum_sum() - 1  # each first row's position among the distinct keys
    cells = pl.concat(held) if len(held) > 1 else held[0]
    cells = cells.filter(first.gather(cells["__at"]))
    kept = position.gather(cells["__at"])
    changed_rows = pl.concat(differing)
    changed_rows = position.gather(changed_rows.filter(first.gather(changed_rows)))
    after = _Rows(fields, every_key.filter(first), {name: cells.get_column(name).rechunk() for name in fields},
                  resource.path, kept)
    return after, changed_rows


def _keys(frame: pl.DataFrame, key_fields: list[str], fields: list[str]) -> pl.Series:
    """Each row's key: its key cells joined by '|', or '(line N)' when one of them is empty (the reader gives
    None for an empty cell) or the key names a field the table lacks."""
    line = pl.format("(line {})", frame.get_column(ROW))
    if not key_fields or any(name not in fields for name in key_fields):
        return pl.select(line.alias("key")).to_series()
    parts = [frame.get_column(name) for name in key_fields]
    joined = pl.concat_str(parts, separator="|")
    if all(part.null_count() == 0 for part in parts):  # the usual case; one field: the column itself, not a copy
        return parts[0].alias("key") if len(parts) == 1 else pl.select(joined.alias("key")).to_series()
    present = pl.all_horizontal(part.is_not_null() for part in parts)
    return pl.select(pl.when(present).then(joined).otherwise(line).alias("key")).to_series()


def diff_tables(old: Resource, new: Resource) -> TableDiff:
    """Schema and row differences of one table present in both packages."""
    before = _read_rows(old)
    _check_readable(new)
    old_fields = {f["name"]: f for f in old.schema["fields"]}
    new_fields = {f["name"]: f for f in new.schema["fields"]}
    removed = [n for n in before.fields if n not in new_fields]
    added = [n for n in new.field_names if n not in old_fields]
    mapping = {n: n for n in before.fields if n in new_fields}  # old field name -> new field name
    changed_rows = None
    if removed and added:  # a field may have been renamed: compared by its values, so the new table is read whole
        after = _read_rows(new)
    else:  # no renamed field: the fields compared are known, so the new table is compared batch by batch
        after, changed_rows = _compare_new(new, before, mapping)
    result = TableDiff(old.name, "changed-or-same", before.keys.len(), after.keys.len())
    result.resource_changes = _property_changes("", old.descriptor, new.descriptor,
                                                ignore={"name", "schema"} | FILE_PROPERTIES)
    common = before.positions("old").join(after.positions("new"), on="key", how="inner")  # key, old, new
    for old_name, new_name in _renamed_fields(removed, added, old_fields, new_fields, before, after, common):
        result.fields_renamed.append((old_name, new_name))
        mapping[old_name] = new_name
        removed.remove(old_name)
        added.remove(new_name)
    result.fields_removed = [(n, _type(old_fields[n])) for n in removed]
    result.fields_added = [(n, _type(new_fields[n])) for n in added]
    for old_name, new_name in mapping.items():
        f_old, f_new = old_fields[old_name], new_fields[new_name]
        if _type(f_old) != _type(f_new):
            result.type_changes.append((new_name, _type(f_old), _type(f_new)))
        for change in _property_changes(new_name, f_old.get("constraints", {}), f_new.get("constraints", {})):
            result.constraint_changes.append(change)
        result.property_changes += _property_changes(new_name, f_old, f_new, ignore={"name", "type", "constraints"})
    result.order_changed = [mapping[n] for n in before.fields if n in mapping] != [n for n in after.fields
                                                                                  if n in mapping.values()]
    for key in ("primaryKey", "foreignKeys", "missingValues"):
        a, b = old.schema.get(key), new.schema.get(key)
        if key == "primaryKey":
            a, b = [mapping.get(n, n) for n in _as_list(a)], _as_list(b)
        if a != b:
            result.schema_changes.append(PropertyChange("", key, old.schema.get(key), new.schema.get(key)))
    _diff_rows(result, before, after, common, mapping, _as_list(new.schema.get("primaryKey")), changed_rows)
    result.file_bytes_changed = not _same_bytes(before.path, after.path)
    return result


def _diff_rows(result: TableDiff, before: _Rows, after: _Rows, common: pl.DataFrame, mapping: dict[str, str],
               key_fields: list[str], changed_rows: pl.Series | None = None) -> None:
    """Rows removed, added, re-keyed and changed: counted in full, listed up to ROW_LIST_LIMIT each, in file
    order (old file order for removed, re-keyed and changed rows; new file order for added rows).
    changed_rows, when the new table was compared batch by batch, are the new positions of the changed rows."""
    limit = ROW_LIST_LIMIT  # read at call time, so tests can lower it
    if changed_rows is not None:
        differs = common["new"].cast(pl.Int64).is_in(changed_rows.implode())
    else:
        differs = pl.repeat(False, common.height, dtype=pl.Boolean, eager=True)
        for old, new in mapping.items():  # one field at a time: two columns of the shared rows aligned at once
            differs = differs | before.column(old, common["old"]).ne_missing(after.column(new, common["new"]))
    changed = common.filter(differs).sort("old")
    result.row_counts["changed"] = changed.height
    listed = changed.head(limit)
    values = [(new, before.column(old, listed["old"]).to_list(), after.column(new, listed["new"]).to_list())
              for old, new in mapping.items()]
    for i, key in enumerate(listed["key"].to_list()):
        result.rows_changed.append(RowChange(key, [(name, b[i], a[i]) for name, b, a in values if b[i] != a[i]]))

    removed = before.positions("old").join(after.keys.to_frame("key"), on="key", how="anti").sort("old")
    added = after.positions("new").join(before.keys.to_frame("key"), on="key", how="anti").sort("new")
    # a removed row whose other values all reappear under a new key was re-keyed
    content = [(old, new) for old, new in mapping.items() if new not in key_fields]
    rekeyed = _rekeyed(before, after, removed, added, content)
    result.row_counts["rekeyed"] = rekeyed.height
    result.rows_rekeyed = list(zip(*(rekeyed.head(limit)[c].to_list() for c in ("key", "key_new")), strict=True))
    removed = removed.join(rekeyed.select("key"), on="key", how="anti").sort("old")
    added = added.join(rekeyed.select(pl.col("key_new").alias("key")), on="key", how="anti").sort("new")
    result.row_counts["removed"], result.rows_removed = removed.height, removed["key"].head(limit).to_list()
    result.row_counts["added"], result.rows_added = added.height, added["key"].head(limit).to_list()


def _rekeyed(before: _Rows, after: _Rows, removed: pl.DataFrame, added: pl.DataFrame,
             content: list[tuple[str, str]]) -> pl.DataFrame:
    """Pairs (key, key_new) of re-keyed rows, in old file order: the n-th removed row with some content is
    paired with the n-th added row of the same content (a row whose content is all empty is never paired)."""
    if not content or removed.is_empty() or added.is_empty():
        return pl.DataFrame(schema={"key": pl.String, "key_new": pl.String})
    old = _with_content(removed, before, [old for old, _ in content], "old")
    new = _with_content(added, after, [new for _, new in content], "new")
    joined = old.join(new, on=[c for c in old.columns if c not in ("key", "old")], how="inner", suffix="_new")
    return joined.sort("old").select("key", "key_new")


def _with_content(found: pl.DataFrame, rows: _Rows, names: list[str], position: str) -> pl.DataFrame:
    """The rows of found (key, position) with some content: each content cell as a join column (an empty cell
    as "", which no other cell holds: the reader gives None for it), and a rank: the row's number among the
    rows of the same content."""
    columns = {f"cell{i}": rows.column(name, found[position]) for i, name in enumerate(names)}
    frame = found.with_columns(**columns).filter(pl.any_horizontal(pl.col(c).is_not_null() for c in columns))
    return frame.with_columns(pl.col(c).fill_null("") for c in columns).with_columns(
        rank=pl.int_range(pl.len()).over([*columns]))


def _renamed_fields(removed: list[str], added: list[str], old_fields: dict, new_fields: dict,
                    before: _Rows, after: _Rows, common: pl.DataFrame) -> list[tuple[str, str]]:
    """Pairs (removed, added) that look like one renamed field: same type and, where rows are shared,
    the same values; with no shared rows, the same position."""
    pairs, taken = [], set()
    for old_name in removed:
        for new_name in added:
            if new_name in taken or _type(old_fields[old_name]) != _type(new_fields[new_name]):
                continue
            if common.height:
                same = before.column(old_name, common["old"]).eq_missing(after.column(new_name, common["new"])).all()
            else:
                same = before.fields.index(old_name) == after.fields.index(new_name)
            if same:
                pairs.append((old_name, new_name))
                taken.add(new_name)
                break
    return pairs


def _same_bytes(a: Path, b: Path) -> bool:
    """Whether two files hold the same bytes, read 1 MiB at a time."""
    if a.stat().st_size != b.stat().st_size:
        return False
    with open(a, "rb") as one, open(b, "rb") as other:
        while chunk := one.read(1 << 20):
            if chunk != other.read(1 << 20):
                return False
    return True


def _property_changes(field_name: str, old: dict, new: dict, ignore: set[str] = frozenset()) -> list[PropertyChange]:
    keys = [k for k in list(old) + [k for k in new if k not in old] if k not in ignore]
    return [PropertyChange(field_name, k, old.get(k), new.get(k)) for k in keys if old.get(k) != new.get(k)]


def _type(f: dict) -> str:
    return f.get("type", "string")


def _as_list(value: object) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def _show(value: object) -> str:
    return "(none)" if value is None else json.dumps(value, ensure_ascii=False)


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def _some(items: list[str], total: int, sep: str = ", ") -> str:
    """The first LIST_LIMIT items (items being the first of total), then how many more there are."""
    shown = sep.join(items[:LIST_LIMIT])
    more = total - min(len(items), LIST_LIMIT)
    return shown + (f" and {more} more" if more > 0 else "")


# ---------------------------------------------------------------- opening either side

@contextmanager
def open_side(spec: str, repo: Path | None = None) -> Iterator[Package]:
    """A package named by a path (folder, descriptor, zip), a recorded release version, or a git ref.

    Paths win over versions, versions over git refs. Raises UnreadableInput when spec names none of them.
    """
    path = Path(spec)
    if path.exists():
        with open_package(path) as package:
            yield package
        return
    root = repo or repo_root(Path.cwd())
    if root is None:
        raise UnreadableInput(f"{spec}: no such file or directory (and not inside a git repository, so not a git ref)")
    if _is_version(spec) and record_path(root, spec).is_file():
        with open_release(root, spec) as package:
            yield package
        return
    try:
        commit = resolve_commit(root, spec)
    except GitError as exc:
        raise UnreadableInput(f"{spec}: not a path, a recorded release or a git ref of {root} ({exc})") from None
    with open_package_at(root, commit, spec) as package:
        yield package


def _is_version(text: str) -> bool:
    try:
        Version.parse(text)
    except ValueError:
        return False
    return True


def diff_specs(old: str, new: str, repo: Path | None = None) -> PackageDiff:
    """Compare the packages that old and new name (see open_side)."""
    with open_side(old, repo) as before, open_side(new, repo) as after:
        return diff_packages(before, after)


# ---------------------------------------------------------------- rendering

def render_json(diff: PackageDiff) -> str:
    return json.dumps(diff.to_dict(), indent=2, ensure_ascii=False) + "\n"


def render_markdown(diff: PackageDiff) -> str:
    """A full report: the required bump, a summary table, then each table's schema and row changes."""
    lines = [f"# Data changes: {diff.old} → {diff.new}", ""]
    changes = diff.changes()
    if not changes:
        return "\n".join(lines + ["No changes.", ""])
    lines += [f"Required version bump: **{diff.required_bump.label}**", ""]
    lines += ["| table | rows before | rows after | added | removed | re-keyed | changed | schema changes |",
              "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for t in diff.tables:
        schema_count = sum(1 for c in t.changes() if not c.kind.startswith("rows-") and c.kind != "file-bytes")
        lines.append(f"| {t.name} | {t.rows_old} | {t.rows_new} | {t.count('added')} | {t.count('removed')} | "
                     f"{t.count('rekeyed')} | {t.count('changed')} | {schema_count} |")
    lines += ["", "## Changes and the bump each requires", ""]
    lines += [f"- **{c.level.label}**: {c.message}" for c in changes]
    for t in diff.tables:
        if t.changes():
            lines += ["", *_table_markdown(t)]
    return "\n".join(lines) + "\n"


def render_text(diff: PackageDiff) -> str:
    """The report for a terminal: the same content as the Markdown one, as aligned plain text."""
    lines = [f"Data changes: {diff.old} → {diff.new}"]
    changes = diff.changes()
    if not changes:
        return "\n".join(lines + ["No changes.", ""])
    lines += [f"Required version bump: {diff.required_bump.label}", ""]
    header = ["table", "rows before", "rows after", "added", "removed", "re-keyed", "changed", "schema changes"]
    rows = [[t.name, t.rows_old, t.rows_new, t.count("added"), t.count("removed"), t.count("rekeyed"),
             t.count("changed"), sum(1 for c in t.changes() if not c.kind.startswith("rows-") and c.kind != "file-bytes")]
            for t in diff.tables]
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        lines.append("  ".join(str(v).ljust(w) if i == 0 else str(v).rjust(w) for i, (v, w) in enumerate(zip(row, widths, strict=True))))
    lines += ["", "Changes and the bump each requires:"]
    lines += [f"  {c.level.label:<5}  {c.message}" for c in changes]
    for t in diff.tables:
        if t.changes():
            lines += ["", *_table_text(t)]
    return "\n".join(lines) + "\n"


def _table_text(t: TableDiff) -> list[str]:
    lines = [f"{t.name}:"]
    for kind, listed in (("added", t.rows_added), ("removed", t.rows_removed)):
        if listed:
            lines.append(f"  rows {kind} ({t.count(kind)}): " + ", ".join(listed) + _not_listed(t, kind))
    if t.rows_rekeyed:
        lines.append(f"  rows re-keyed ({t.count('rekeyed')}): "
                     + ", ".join(f"{o} → {n}" for o, n in t.rows_rekeyed) + _not_listed(t, "rekeyed"))
    if t.rows_changed:
        lines.append(f"  rows changed ({t.count('changed')}):")
        for row in t.rows_changed:
            lines += [f"    {row.key}  {name}: {_plain(before)} → {_plain(after)}" for name, before, after in row.fields]
        if t.count("changed") > len(t.rows_changed):
            lines.append(f"  only the first {len(t.rows_changed)} of {t.count('changed')} changed rows are listed")
    return lines


def _plain(value: str | None) -> str:
    """A cell on one line: (empty) for a missing value, line breaks shown as \\n."""
    if value is None:
        return "(empty)"
    return value.replace("\\", "\\\\").replace("\r", "\\r").replace("\n", "\\n")


def _table_markdown(t: TableDiff) -> list[str]:
    lines = [f"## {t.name}"]
    if t.rows_added:
        lines += ["", f"Rows added ({t.count('added')}): " + ", ".join(f"`{k}`" for k in t.rows_added)
                  + _not_listed(t, "added")]
    if t.rows_removed:
        lines += ["", f"Rows removed ({t.count('removed')}): " + ", ".join(f"`{k}`" for k in t.rows_removed)
                  + _not_listed(t, "removed")]
    if t.rows_rekeyed:
        lines += ["", f"Rows re-keyed ({t.count('rekeyed')}): "
                  + ", ".join(f"`{o}` → `{n}`" for o, n in t.rows_rekeyed) + _not_listed(t, "rekeyed")]
    if t.rows_changed:
        lines += ["", f"Rows changed ({t.count('changed')}):", "", "| key | field | before | after |",
                  "| --- | --- | --- | --- |"]
        for row in t.rows_changed:
            for name, before, after in row.fields:
                key = row.key.replace("|", "\\|")  # a composite key's '|' would end the table cell
                lines.append(f"| `{key}` | `{name}` | {_cell(before)} | {_cell(after)} |")
        if t.count("changed") > len(t.rows_changed):
            lines += ["", f"Only the first {len(t.rows_changed)} of {t.count('changed')} changed rows are listed."]
    return lines


def _not_listed(t: TableDiff, kind: str) -> str:
    more = t.count(kind) - len(getattr(t, f"rows_{kind}"))
    return f" and {more} more (not listed)" if more > 0 else ""


def _cell(value: str | None) -> str:
    if value is None:
        return "*(empty)*"
    return value.replace("\\", "\\\\").replace("|", "\\|").replace("\r", "").replace("\n", "<br>")


def changelog_entry(diff: PackageDiff, previous: str) -> str:
    """The body of a changelog's '### Data changes' subsection."""
    changes = diff.changes()
    if not changes:
        return f"No change of data or schema since {previous}."
    head = f"Compared with {previous} (these changes need at least a {diff.required_bump.label} release):"
    return "\n".join([head, ""] + [f"- {c.message}" for c in changes])


def first_release_entry(package: Package) -> str:
    """The '### Data changes' body of a first release: there is nothing to compare with."""
    counts = [(name, _read_rows(resource).keys.len()) for name, resource in package.resources.items()]
    total = sum(n for _, n in counts)
    listed = ", ".join(f"{name} {n}" for name, n in counts)
    return (f"First release: there is no earlier release to compare with. "
            f"It holds {total} rows in {len(counts)} tables ({listed}).")
