"""The SQLite export: every table round-trips, keys and indexes exist, and the checks pass."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from opimpact.cli import cli
from opimpact.export_common import InvalidPackage
from opimpact.export_sqlite import SQL_TYPES, datasette_metadata, write_database

from export_sample import expected_table, resource_names, schema_of
from helpers import set_cell, snapshot


def as_sql(value: object) -> object:
    return value.isoformat() if isinstance(value, dt.date) else value


def test_every_table_round_trips(any_package: Path, tmp_path: Path) -> None:
    package = any_package
    db = tmp_path / "op.sqlite"
    write_database(package, db)
    con = sqlite3.connect(db)
    tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
    assert tables == sorted([*resource_names(package), "package_metadata"])
    for name in resource_names(package):
        header, kinds, rows = expected_table(package, name)
        cursor = con.execute(f'SELECT * FROM "{name}" ORDER BY rowid')
        assert [d[0] for d in cursor.description] == header
        got = cursor.fetchall()
        assert [list(r) for r in got] == [[as_sql(v) for v in row] for row in rows], name
        for row in got:
            for value, kind in zip(row, kinds, strict=True):
                if value is not None and kind == "integer":
                    assert type(value) is int
                if value is not None and kind == "number":
                    assert type(value) is float
    con.close()


def test_checks_pass_and_keys_are_declared(sample_package: Path, tmp_path: Path) -> None:
    db = tmp_path / "op.sqlite"
    write_database(sample_package, db)
    con = sqlite3.connect(db)
    assert con.execute("PRAGMA foreign_key_check").fetchall() == []
    assert con.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    for name in resource_names(sample_package):
        schema = schema_of(sample_package, name)
        info = con.execute(f'PRAGMA table_info("{name}")').fetchall()
        declared = {row[1]: row[2] for row in info}
        assert declared == {f["name"]: SQL_TYPES[f["type"]] for f in schema["fields"]}
        assert [row[1] for row in info if row[5]] == schema["primaryKey"]
        required = {f["name"] for f in schema["fields"] if f.get("constraints", {}).get("required")}
        assert {row[1] for row in info if row[3]} == required | set(schema["primaryKey"])
        fks = {(row[3], row[2], row[4]) for row in con.execute(f'PRAGMA foreign_key_list("{name}")')}
        assert fks == {(fk["fields"], fk["reference"]["resource"], fk["reference"]["fields"])
                       for fk in schema.get("foreignKeys", [])}
        indexed = {con.execute(f'PRAGMA index_info("{idx[1]}")').fetchone()[2]
                   for idx in con.execute(f'PRAGMA index_list("{name}")')}
        assert {fk["fields"] for fk in schema.get("foreignKeys", [])} | set(schema["primaryKey"]) <= indexed
    con.close()


def test_constraints_reject_bad_rows(sample_package: Path, tmp_path: Path) -> None:
    db = tmp_path / "op.sqlite"
    write_database(sample_package, db)
    con = sqlite3.connect(db)
    con.execute("PRAGMA foreign_keys = ON")
    bad_rows = [
        "INSERT INTO quotes (quote_id, text, kind, speaker_role, source_id, evidence) "
        "VALUES ('qu-0099', 't', 'statement', 'r', 'src-9999', 'e')",  # unknown source
        "INSERT INTO events (event_id, date_start, date_precision, status, category, summary, source_id, evidence) "
        "VALUES ('ev-0099', '2017-02-30', 'day', 'occurred', 'combat', 's', 'src-0001', 'e')",  # no such date
        "INSERT INTO events (event_id, date_start, date_precision, status, category, summary, source_id, evidence) "
        "VALUES ('ev-0098', '2017-02-03', 'day', 'occurred', 'picnic', 's', 'src-0001', 'e')",  # not in the enum
        "INSERT INTO sources (source_id) VALUES ('src-0001')",  # duplicate key, missing required
    ]
    for sql in bad_rows:
        with pytest.raises(sqlite3.IntegrityError):
            con.execute(sql)
    con.close()


def test_two_exports_are_byte_identical(sample_package: Path, tmp_path: Path) -> None:
    write_database(sample_package, tmp_path / "a.sqlite")
    write_database(sample_package, tmp_path / "b.sqlite")
    assert (tmp_path / "a.sqlite").read_bytes() == (tmp_path / "b.sqlite").read_bytes()


def test_invalid_package_is_refused_and_nothing_written(sample_package: Path, tmp_path: Path) -> None:
    set_cell(sample_package, "quotes", 0, "source_id", "src-0404")
    with pytest.raises(InvalidPackage):
        write_database(sample_package, tmp_path / "op.sqlite")
    assert list(tmp_path.iterdir()) == [sample_package]


@pytest.mark.skipif(shutil.which("sqlite3") is None, reason="the sqlite3 shell is not installed")
def test_sqlite3_shell_reads_it(sample_package: Path, tmp_path: Path) -> None:
    db = tmp_path / "op.sqlite"
    write_database(sample_package, db)
    query = ("SELECT q.quote_id, s.title FROM quotes q JOIN sources s USING (source_id) "
             "WHERE q.speaker = 'Jonathan Vance';")
    done = subprocess.run(["sqlite3", "-bail", "-csv", str(db), "PRAGMA foreign_key_check;", query],
                          capture_output=True, text=True, check=False, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "qu-0001,"


def test_datasette_metadata_describes_every_table(sample_package: Path) -> None:
    meta = datasette_metadata(sample_package, "op-impact")
    assert meta["license"] == "CC-BY-4.0" and meta["license_url"].startswith("https://creativecommons.org/")
    assert meta["source"]
    tables = meta["databases"]["op-impact"]["tables"]
    assert list(tables) == [*resource_names(sample_package), "package_metadata"]
    for name in resource_names(sample_package):
        entry = tables[name]
        assert entry["title"] and entry["description"]
        assert list(entry["columns"]) == [f["name"] for f in schema_of(sample_package, name)["fields"]]
        assert all(entry["columns"].values())
    assert list(tables["package_metadata"]["columns"]) == ["key", "value"]


def test_the_database_says_which_version_it_holds(sample_package: Path, tmp_path: Path) -> None:
    descriptor = json.loads((sample_package / "datapackage.json").read_text(encoding="utf-8"))
    descriptor.update(version="3.1.4", created="2026-05-06T00:00:00Z")
    (sample_package / "datapackage.json").write_text(json.dumps(descriptor), encoding="utf-8")
    write_database(sample_package, tmp_path / "op.sqlite")
    con = sqlite3.connect(tmp_path / "op.sqlite")
    facts = dict(con.execute("SELECT key, value FROM package_metadata"))
    con.close()
    assert facts["version"] == "3.1.4" and facts["created"] == "2026-05-06T00:00:00Z"
    assert facts["name"] == descriptor["name"] and "CC-BY-4.0" in facts["licence"]
    assert "(Version 3.1.4)" in facts["citation"]


def test_cli_writes_db_and_metadata(sample_package: Path, tmp_path: Path) -> None:
    out = tmp_path / "op-impact.sqlite"
    result = CliRunner().invoke(cli, ["export", "sqlite", str(sample_package), "--out", str(out)])
    assert result.exit_code == 0, result.output
    meta = json.loads((tmp_path / "op-impact.metadata.json").read_text(encoding="utf-8"))
    assert list(meta["databases"]) == ["op-impact"]
    custom = tmp_path / "m.json"
    result = CliRunner().invoke(cli, ["export", "sqlite", str(sample_package), "--out", str(tmp_path / "b.db"),
                                      "--metadata", str(custom)])
    assert result.exit_code == 0 and list(json.loads(custom.read_text())["databases"]) == ["b"]
    assert not (tmp_path / "b.metadata.json").exists()


def test_cli_refuses_invalid_and_unreadable(sample_package: Path, tmp_path: Path) -> None:
    set_cell(sample_package, "sources", 0, "language", "xx")
    before = snapshot(tmp_path)
    runner = CliRunner()
    bad = runner.invoke(cli, ["export", "sqlite", str(sample_package), "--out", str(tmp_path / "o.sqlite")])
    assert bad.exit_code == 1 and "opimpact validate" in bad.output
    assert snapshot(tmp_path) == before
    (sample_package / "datapackage.json").write_text("{not json", encoding="utf-8")
    broken = runner.invoke(cli, ["export", "sqlite", str(sample_package), "--out", str(tmp_path / "o.sqlite")])
    assert broken.exit_code == 2 and "not valid JSON" in broken.output
    assert not (tmp_path / "o.sqlite").exists()


@pytest.mark.skipif(shutil.which("datasette") is None, reason="datasette is not installed (pip install -e '.[test]')")
def test_datasette_serves_it_with_the_metadata(sample_package: Path, tmp_path: Path) -> None:
    out = tmp_path / "op-impact.sqlite"
    result = CliRunner().invoke(cli, ["export", "sqlite", str(sample_package), "--out", str(out)])
    assert result.exit_code == 0, result.output

    def get(path: str) -> str:
        done = subprocess.run(["datasette", str(out), "--metadata", str(tmp_path / "op-impact.metadata.json"),
                               "--get", path], capture_output=True, text=True, check=False, timeout=120)
        assert done.returncode == 0, done.stderr
        return done.stdout

    rows = json.loads(get("/op-impact/quotes.json?_shape=array"))
    assert [r["quote_id"] for r in rows] == ["qu-0001", "qu-0002"]
    assert rows[0]["text"] == "We’re working now on the plans — to help"
    page = get("/op-impact/events")
    assert "<h1>Events</h1>" in page and "CC-BY-4.0" in page
