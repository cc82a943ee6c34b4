"""Export the package as one SQLite database, plus a Datasette metadata.json describing it.

One table per resource with typed columns, NOT NULL for required fields, primary and foreign keys, CHECKs for
enums and dates, and an index on every foreign key. The database is built in a temporary file, filled in a
fixed order, checked (foreign_key_check, integrity_check) and VACUUMed, so the same package gives the same bytes.
Values are stored exactly: a NaN, which SQLite would turn into NULL, is stored as the text 'NaN'.
The table package_metadata (key, value) says which package and version the file holds:
`SELECT value FROM package_metadata WHERE key = 'version'` (also name, title, created, licence, citation).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import sqlite3
from pathlib import Path

import polars as pl

from .atomic import atomic_path, transaction
from .export_common import (
    ExportError,
    LoadedPackage,
    as_text,
    citation_text,
    dependency_order,
    export_source,
    licence_text,
    loaded_package,
    objects,
)
from .package import Package

__all__ = ["export", "write_database", "write_datasette_metadata", "datasette_metadata", "create_statements",
           "METADATA_TABLE"]

SQL_TYPES = {"string": "TEXT", "any": "TEXT", "date": "TEXT", "datetime": "TEXT", "integer": "INTEGER",
             "year": "INTEGER", "number": "REAL", "boolean": "INTEGER"}
PAGE_SIZE = 4096
METADATA_TABLE = "package_metadata"
METADATA_SUFFIX = ".metadata.json"


def quote(name: str) -> str:
    """An SQL identifier in double quotes."""
    return '"' + name.replace('"', '""') + '"'


def _literal(value: object) -> str:
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return repr(value)


def _as_list(value: object) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def create_statements(name: str, schema: dict) -> list[str]:
    """CREATE TABLE and CREATE INDEX statements for one resource's Table Schema."""
    primary = _as_list(schema.get("primaryKey"))
    lines = []
    for field in schema["fields"]:
        column, kind = field["name"], field.get("type", "string")
        constraints = field.get("constraints", {})
        line = f"  {quote(column)} {SQL_TYPES.get(kind, 'TEXT')}"
        if constraints.get("required") or column in primary:
            line += " NOT NULL"
        if constraints.get("unique") and primary != [column]:
            line += " UNIQUE"
        checks = []
        if "enum" in constraints:
            checks.append(f"{quote(column)} IN ({', '.join(_literal(v) for v in constraints['enum'])})")
        if kind == "date":
            checks.append(f"{quote(column)} = date({quote(column)}, '+0 days')")  # real calendar days only
        if kind == "boolean":
            checks.append(f"{quote(column)} IN (0, 1)")
        if checks:
            line += f" CHECK ({quote(column)} IS NULL OR ({' AND '.join(checks)}))"
        lines.append(line)
    if primary:
        lines.append(f"  PRIMARY KEY ({', '.join(quote(k) for k in primary)})")
    indexes = []
    for fk in schema.get("foreignKeys", []):
        local = _as_list(fk["fields"])
        target = fk["reference"]["resource"] or name
        remote = _as_list(fk["reference"]["fields"])
        lines.append(f"  FOREIGN KEY ({', '.join(map(quote, local))}) "
                     f"REFERENCES {quote(target)} ({', '.join(map(quote, remote))})")
        index = f"idx_{name}_{'_'.join(local)}"
        indexes.append(f"CREATE INDEX {quote(index)} ON {quote(name)} ({', '.join(map(quote, local))})")
    return [f"CREATE TABLE {quote(name)} (\n" + ",\n".join(lines) + "\n)", *indexes]


def _sql_value(value: object) -> object:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, float) and math.isnan(value):
        return "NaN"  # sqlite3 would store NULL
    return value


def write_database(package: Package | LoadedPackage | str | os.PathLike, out_path: str | os.PathLike,
                   check: bool = True) -> None:
    """Write the package's SQLite database to out_path atomically; same package, same bytes.

    With check=True a package that does not validate raises InvalidPackage. Raises UnreadableInput for
    unreadable input and ExportError if the finished database fails its foreign-key or integrity check.
    """
    with export_source(package, [out_path], check=check) as loaded, atomic_path(Path(out_path)) as tmp:
        _build_file(loaded, tmp)


def export(package: Package | LoadedPackage | str | os.PathLike, out_path: str | os.PathLike,
           metadata_path: str | os.PathLike | None) -> None:
    """Write the database and, unless metadata_path is None, its Datasette metadata: both or neither.

    Raises OutputAliasesInput (exit 2) before writing anything when an output is a file of the package or both
    outputs are one file; InvalidPackage, UnreadableInput and ExportError as write_database does."""
    outputs = [out_path] + ([metadata_path] if metadata_path is not None else [])
    with export_source(package, outputs) as loaded, transaction() as tx:
        _build_file(loaded, tx.file(out_path))
        if metadata_path is not None:
            meta = datasette_metadata(loaded, database=Path(out_path).stem)
            tx.file(metadata_path).write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _build_file(loaded: LoadedPackage, tmp: Path) -> None:
    tmp.unlink()  # sqlite creates the file itself
    try:
        _build(loaded, tmp)
    finally:
        Path(f"{tmp}-journal").unlink(missing_ok=True)


def _build(loaded: LoadedPackage, path: Path) -> None:
    con = sqlite3.connect(path, isolation_level=None)
    try:
        con.execute(f"PRAGMA page_size = {PAGE_SIZE}")
        con.execute("PRAGMA journal_mode = DELETE")
        con.execute("PRAGMA foreign_keys = ON")
        con.execute("BEGIN")
        con.execute("PRAGMA defer_foreign_keys = ON")  # identity links (same_as) may name a later row of the table
        for name in dependency_order(loaded):
            for statement in create_statements(name, loaded.schema(name)):
                con.execute(statement)
            _insert(con, name, loaded.tables[name])
        _insert_metadata(con, loaded)
        con.execute("COMMIT")
        _check(con)
        con.execute("VACUUM")
    except sqlite3.Error as exc:
        if _is_io_error(exc):  # a full disk or an unwritable folder is not a problem of the data
            raise OSError(f"SQLite cannot write the database ({exc})") from None
        raise ExportError(f"SQLite refused the data: {exc}") from None
    finally:
        con.close()


def _is_io_error(exc: sqlite3.Error) -> bool:
    name = getattr(exc, "sqlite_errorname", "")  # Python 3.11+
    if name:
        return name.startswith(("SQLITE_FULL", "SQLITE_IOERR", "SQLITE_CANTOPEN", "SQLITE_READONLY"))
    return any(text in str(exc) for text in ("disk is full", "disk I/O error", "unable to open", "readonly"))


def _insert(con: sqlite3.Connection, name: str, frame: pl.DataFrame) -> None:
    if frame.height == 0:
        return
    columns = ", ".join(map(quote, frame.columns))
    marks = ", ".join("?" for _ in frame.columns)
    sql = f"INSERT INTO {quote(name)} ({columns}) VALUES ({marks})"
    con.executemany(sql, ([_sql_value(v) for v in row] for row in frame.iter_rows()))


def package_facts(loaded: LoadedPackage) -> list[tuple[str, str]]:
    """(key, value) rows of the metadata table: which package, which version, under which licence, how to cite."""
    d = loaded.descriptor
    version = as_text(d.get("version"))
    return [("name", as_text(d.get("name"))), ("title", as_text(d.get("title"))), ("version", version),
            ("created", as_text(d.get("created"))), ("licence", licence_text(d)),
            ("citation", citation_text(loaded.package, version or None))]


def _insert_metadata(con: sqlite3.Connection, loaded: LoadedPackage) -> None:
    if METADATA_TABLE in loaded.tables:  # a package table of that name wins; its data are not overwritten
        return
    con.execute(f"CREATE TABLE {quote(METADATA_TABLE)} (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL)")
    con.executemany(f"INSERT INTO {quote(METADATA_TABLE)} (key, value) VALUES (?, ?)", package_facts(loaded))


def _check(con: sqlite3.Connection) -> None:
    broken = con.execute("PRAGMA foreign_key_check").fetchall()
    if broken:
        table, rowid, parent, _ = broken[0]
        raise ExportError(f"foreign_key_check failed: {len(broken)} rows, first {table} rowid {rowid} -> {parent}")
    integrity = con.execute("PRAGMA integrity_check").fetchall()
    if integrity != [("ok",)]:
        raise ExportError(f"integrity_check failed: {integrity[0][0]}")


def write_datasette_metadata(package: Package | LoadedPackage | str | os.PathLike, out_path: str | os.PathLike,
                             check: bool = True) -> None:
    """Write the Datasette metadata of the database beside it, atomically: for OUT named NAME.metadata.json the
    database is NAME (the file NAME.sqlite), as `datasette NAME.sqlite --metadata NAME.metadata.json` serves it."""
    name = Path(out_path).name
    database = name[:-len(METADATA_SUFFIX)] if name.endswith(METADATA_SUFFIX) else Path(out_path).stem
    with export_source(package, [out_path], check=check) as loaded, atomic_path(Path(out_path)) as tmp:
        meta = datasette_metadata(loaded, database=database)
        tmp.write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def datasette_metadata(package: Package | LoadedPackage | str | os.PathLike, database: str,
                       check: bool = True) -> dict:
    """Datasette metadata for the database named database (the db file's stem): titles, descriptions, licence."""
    with loaded_package(package, check=check) as loaded:
        d = loaded.descriptor
        licences = objects(d, "licenses")
        meta: dict = {"title": d.get("title", d.get("name", "")), "description": d.get("description", "")}
        if licences:
            meta["license"] = licences[0].get("name") or licences[0].get("title", "")
            if licences[0].get("path"):
                meta["license_url"] = licences[0]["path"]
            if len(licences) > 1:
                meta["license"] = licence_text(d)
        sources = [as_text(s["title"]) for s in objects(d, "sources") if s.get("title")]
        if sources:
            meta["source"] = "; ".join(sources)
        if d.get("homepage"):
            meta["source_url"] = meta["about_url"] = d["homepage"]
        tables = {}
        for name in loaded.tables:
            resource = loaded.package.resources[name]
            schema = loaded.schema(name)
            entry = {
                "title": resource.descriptor.get("title", name),
                "description": resource.descriptor.get("description", ""),
                "columns": {f["name"]: f.get("description", f.get("title", "")) for f in schema["fields"]},
            }
            primary = _as_list(schema.get("primaryKey"))
            if len(primary) == 1:
                entry["sort"] = primary[0]
            facets = [f["name"] for f in schema["fields"] if "enum" in f.get("constraints", {})]
            if facets:
                entry["facets"] = facets
            tables[name] = entry
        if METADATA_TABLE not in tables:
            tables[METADATA_TABLE] = {
                "title": "Package metadata",
                "description": "Which package and version this database holds: name, title, version, created, "
                               "licence and citation, one row each.",
                "columns": {"key": "What the row says", "value": "Its value"}}
        meta["databases"] = {database: {"title": meta["title"], "tables": tables}}
        return meta
