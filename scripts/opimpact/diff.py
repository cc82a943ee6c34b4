"""Compare two versions of the package: rows by primary key, schemas field by field, and the version bump
each change requires under semantic versioning for data."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .csvreader import ROW, read_raw_table
from .gitutil import GitError, open_package_at, repo_root, resolve_commit
from .package import Package, Resource, UnreadableInput, open_package
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
LIST_LIMIT = 10


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
            add("rows-removed", f"{_count(self.rows_removed, 'row')} removed ({_some(self.rows_removed)})")
        if self.rows_rekeyed:
            pairs = [f"{old} → {new}" for old, new in self.rows_rekeyed]
            add("rows-rekeyed", f"{_count(pairs, 'row')} re-keyed ({_some(pairs)})")
        if self.rows_added:
            add("rows-added", f"{_count(self.rows_added, 'row')} added ({_some(self.rows_added)})")
        if self.rows_changed:
            described = [f"{row.key}: {', '.join(name for name, _, _ in row.fields)}" for row in self.rows_changed]
            add("rows-changed", f"{_count(described, 'row')} changed ({_some(described, sep='; ')})")
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
            tables.append(TableDiff(name, "added", rows_new=len(_read_rows(after).rows)))
        elif after is None:
            tables.append(TableDiff(name, "removed", rows_old=len(_read_rows(before).rows)))
        else:
            tables.append(diff_tables(before, after))
    return PackageDiff(old.label, new.label, tables, _property_changes("", old.descriptor, new.descriptor,
                                                                       ignore={"resources"} | RELEASE_PROPERTIES))


@dataclass
class _Rows:
    fields: list[str]
    rows: dict[str, dict[str, str | None]]
    digest: str


def _read_rows(resource: Resource) -> _Rows:
    """A table's cells as text keyed by primary key (a line number stands in for a missing key)."""
    if resource.schema is None or resource.path is None:
        raise DiffError(f"{resource.name}: its schema or data path could not be read")
    raw = read_raw_table(resource)
    if raw.frame is None:
        problem = raw.findings[0] if raw.findings else None
        where = f" (line {problem.row})" if problem and problem.row else ""
        raise DiffError(f"{resource.rel_path}{where}: {problem.message if problem else 'unreadable'}")
    fields = resource.field_names
    key_fields = _as_list(resource.schema.get("primaryKey")) or fields
    rows: dict[str, dict[str, str | None]] = {}
    for record in raw.frame.iter_rows(named=True):
        parts = [record.get(k) for k in key_fields]
        key = "|".join(p or "" for p in parts) if all(parts) else f"(line {record[ROW]})"
        rows.setdefault(key, {f: record[f] for f in fields})
    return _Rows(fields, rows, hashlib.sha256(resource.path.read_bytes()).hexdigest())


def diff_tables(old: Resource, new: Resource) -> TableDiff:
    """Schema and row differences of one table present in both packages."""
    before, after = _read_rows(old), _read_rows(new)
    result = TableDiff(old.name, "changed-or-same", len(before.rows), len(after.rows))
    result.resource_changes = _property_changes("", old.descriptor, new.descriptor,
                                                ignore={"name", "schema"} | FILE_PROPERTIES)
    old_fields = {f["name"]: f for f in old.schema["fields"]}
    new_fields = {f["name"]: f for f in new.schema["fields"]}
    removed = [n for n in before.fields if n not in new_fields]
    added = [n for n in after.fields if n not in old_fields]
    mapping = {n: n for n in before.fields if n in new_fields}  # old field name -> new field name
    for old_name, new_name in _renamed_fields(removed, added, old_fields, new_fields, before, after):
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
    _diff_rows(result, before, after, mapping, _as_list(new.schema.get("primaryKey")))
    result.file_bytes_changed = before.digest != after.digest
    return result


def _diff_rows(result: TableDiff, before: _Rows, after: _Rows, mapping: dict[str, str], key_fields: list[str]) -> None:
    removed = [k for k in before.rows if k not in after.rows]
    added = [k for k in after.rows if k not in before.rows]
    for key in before.rows:
        if key in after.rows:
            old_row, new_row = before.rows[key], after.rows[key]
            fields = [(new, old_row[old], new_row[new]) for old, new in mapping.items() if old_row[old] != new_row[new]]
            if fields:
                result.rows_changed.append(RowChange(key, fields))
    # a removed row whose other values all reappear under a new key was re-keyed
    content = [(old, new) for old, new in mapping.items() if new not in key_fields]
    by_content: dict[tuple, list[str]] = {}
    for key in added:
        signature = tuple(after.rows[key][new] for _, new in content)
        by_content.setdefault(signature, []).append(key)
    for key in removed:
        signature = tuple(before.rows[key][old] for old, _ in content)
        if any(signature) and by_content.get(signature):
            result.rows_rekeyed.append((key, by_content[signature].pop(0)))
    rekeyed_old = {old for old, _ in result.rows_rekeyed}
    rekeyed_new = {new for _, new in result.rows_rekeyed}
    result.rows_removed = [k for k in removed if k not in rekeyed_old]
    result.rows_added = [k for k in added if k not in rekeyed_new]


def _renamed_fields(removed: list[str], added: list[str], old_fields: dict, new_fields: dict,
                    before: _Rows, after: _Rows) -> list[tuple[str, str]]:
    """Pairs (removed, added) that look like one renamed field: same type and, where rows are shared,
    the same values; with no shared rows, the same position."""
    common = [k for k in before.rows if k in after.rows]
    pairs, taken = [], set()
    for old_name in removed:
        for new_name in added:
            if new_name in taken or _type(old_fields[old_name]) != _type(new_fields[new_name]):
                continue
            if common:
                same = all(before.rows[k][old_name] == after.rows[k][new_name] for k in common)
            else:
                same = before.fields.index(old_name) == after.fields.index(new_name)
            if same:
                pairs.append((old_name, new_name))
                taken.add(new_name)
                break
    return pairs


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


def _count(items: list, noun: str) -> str:
    return f"{len(items)} {noun}{'' if len(items) == 1 else 's'}"


def _some(items: list[str], limit: int = LIST_LIMIT, sep: str = ", ") -> str:
    shown = sep.join(items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


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
        lines.append(f"| {t.name} | {t.rows_old} | {t.rows_new} | {len(t.rows_added)} | {len(t.rows_removed)} | "
                     f"{len(t.rows_rekeyed)} | {len(t.rows_changed)} | {schema_count} |")
    lines += ["", "## Changes and the bump each requires", ""]
    lines += [f"- **{c.level.label}**: {c.message}" for c in changes]
    for t in diff.tables:
        if t.changes():
            lines += ["", *_table_markdown(t)]
    return "\n".join(lines) + "\n"


def _table_markdown(t: TableDiff) -> list[str]:
    lines = [f"## {t.name}"]
    if t.rows_added:
        lines += ["", f"Rows added ({len(t.rows_added)}): " + ", ".join(f"`{k}`" for k in t.rows_added)]
    if t.rows_removed:
        lines += ["", f"Rows removed ({len(t.rows_removed)}): " + ", ".join(f"`{k}`" for k in t.rows_removed)]
    if t.rows_rekeyed:
        lines += ["", f"Rows re-keyed ({len(t.rows_rekeyed)}): "
                  + ", ".join(f"`{o}` → `{n}`" for o, n in t.rows_rekeyed)]
    if t.rows_changed:
        lines += ["", f"Rows changed ({len(t.rows_changed)}):", "", "| key | field | before | after |",
                  "| --- | --- | --- | --- |"]
        for row in t.rows_changed:
            for name, before, after in row.fields:
                lines.append(f"| `{row.key}` | `{name}` | {_cell(before)} | {_cell(after)} |")
    return lines


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
    counts = [(name, len(_read_rows(resource).rows)) for name, resource in package.resources.items()]
    total = sum(n for _, n in counts)
    listed = ", ".join(f"{name} {n}" for name, n in counts)
    return (f"First release: there is no earlier release to compare with. "
            f"It holds {total} rows in {len(counts)} tables ({listed}).")
