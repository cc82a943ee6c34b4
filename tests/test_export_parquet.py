"""The Parquet export: one typed file per table that round-trips, carries its Table Schema, and is reproducible."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
from click.testing import CliRunner

from opimpact.cli import cli
from opimpact.export_parquet import write_parquet_tables
from opimpact.fieldtypes import POLARS_TYPES

from export_sample import expected_table, resource_names, schema_of
from helpers import set_cell, snapshot


def test_every_table_round_trips_with_its_schema_types(any_package: Path, tmp_path: Path) -> None:
    written = write_parquet_tables(any_package, tmp_path / "out")
    assert [p.name for p in written] == [f"{name}.parquet" for name in resource_names(any_package)]
    for name in resource_names(any_package):
        frame = pl.read_parquet(tmp_path / "out" / f"{name}.parquet")
        header, _, rows = expected_table(any_package, name)
        assert frame.columns == header
        schema = schema_of(any_package, name)
        assert dict(frame.schema) == {f["name"]: POLARS_TYPES[f.get("type", "string")] for f in schema["fields"]}
        assert [list(r) for r in frame.iter_rows()] == [list(r) for r in rows], name


def test_each_file_carries_its_table_schema_and_version(sample_package: Path, tmp_path: Path) -> None:
    write_parquet_tables(sample_package, tmp_path)
    descriptor = json.loads((sample_package / "datapackage.json").read_text(encoding="utf-8"))
    for name in resource_names(sample_package):
        meta = pl.read_parquet_metadata(tmp_path / f"{name}.parquet")
        assert json.loads(meta["frictionless:schema"]) == schema_of(sample_package, name)
        assert meta["frictionless:resource"] == name
        assert meta["version"] == str(descriptor.get("version", ""))


def test_the_same_package_gives_the_same_bytes(sample_package: Path, tmp_path: Path) -> None:
    write_parquet_tables(sample_package, tmp_path / "a")
    write_parquet_tables(sample_package, tmp_path / "b")
    assert snapshot(tmp_path / "a") == snapshot(tmp_path / "b")


def test_cli_writes_the_folder_and_refuses_invalid_data(sample_package: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["export", "parquet", str(sample_package), "--out", str(tmp_path / "pq")])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "pq").iterdir()) == sorted(
        f"{n}.parquet" for n in resource_names(sample_package))
    set_cell(sample_package, "events", 0, "category", "battle")
    before = snapshot(sample_package)
    result = CliRunner().invoke(cli, ["export", "parquet", str(sample_package), "--out", str(tmp_path / "bad")])
    assert result.exit_code == 1
    assert "does not validate" in result.output
    assert not (tmp_path / "bad").exists()
    assert snapshot(sample_package) == before


def test_cli_unreadable_package_is_exit_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["export", "parquet", str(tmp_path / "missing"), "--out", str(tmp_path / "pq")])
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert not (tmp_path / "pq").exists()
