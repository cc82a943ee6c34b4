"""R users: scripts/load_op_impact.R run by the real Rscript, and the invariants R's frictionless package needs.

The `frictionless` R package (1.2.1 reads all five tables without a warning) is not in Debian; where it is
installed, the README's example runs it (tests/test_readme_examples.py), and test_frictionless_r_* check what
read_package/read_resource rely on everywhere.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import polars as pl
import pytest

from opimpact.package import open_package
from opimpact.rcompat import frictionless_r_problems
from opimpact.validate import load_typed_tables

from export_sample import resource_names
from helpers import read_csv, set_cell, write_csv

REPO = Path(__file__).resolve().parents[1]
LOADER = REPO / "scripts" / "load_op_impact.R"
R_CLASSES = {pl.String: "character", pl.Int64: "integer", pl.Float64: "numeric", pl.Date: "Date",
             pl.Boolean: "logical"}


def rscript() -> str:
    """The Rscript executable; skip without it, except on CI where R is installed and the test must run."""
    found = shutil.which("Rscript")
    if found:
        return found
    if os.environ.get("CI") == "true":
        pytest.fail("Rscript is missing on CI: .ci/run must install r-base-core r-cran-readr r-cran-jsonlite")
    pytest.skip("Rscript is not installed (apt-get install r-base-core r-cran-readr r-cran-jsonlite)")


def run_loader(package: Path) -> subprocess.CompletedProcess:
    return subprocess.run([rscript(), str(LOADER), str(package)], capture_output=True, text=True, check=False,
                          timeout=300)


def test_r_loader_agrees_with_python(any_package: Path) -> None:
    package = any_package
    done = run_loader(package)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    with open_package(package) as opened:
        tables = load_typed_tables(opened)
    assert list(summary) == list(tables) == resource_names(package)
    for name, frame in tables.items():
        got = summary[name]
        assert got["rows"] == frame.height, name
        assert got["columns"] == frame.columns, name
        assert got["classes"] == [R_CLASSES[type(dtype)] for dtype in frame.dtypes], name
        assert got["missing"] == {c: frame[c].null_count() for c in frame.columns}, name


def test_r_loader_reads_na_as_text(sample_package: Path) -> None:
    done = run_loader(sample_package)
    assert done.returncode == 0, done.stderr
    # events.notes: the empty cells are missing; "NA" is text (readr's default na would make it one more)
    header, rows = read_csv(sample_package / "data" / "events.csv")
    notes = [row[header.index("notes")] for row in rows]
    assert "NA" in notes and notes.count("") >= 2
    assert json.loads(done.stdout)["events"]["missing"]["notes"] == notes.count("")


@pytest.mark.parametrize(("table", "field", "value", "message"), [
    ("assets", "quantity", "two", "field quantity: expected an integer"),
    ("events", "date_start", "2016-13-10", "field date_start: expected date"),
    ("events", "amount_cad", "lots", "field amount_cad: expected a double"),
])
def test_r_loader_fails_on_parsing_problems(sample_package: Path, table: str, field: str, value: str,
                                            message: str) -> None:
    set_cell(sample_package, table, 0, field, value)
    done = run_loader(sample_package)
    assert done.returncode != 0
    assert message in done.stderr and table in done.stderr


def test_r_loader_fails_on_header_out_of_schema_order(sample_package: Path) -> None:
    path = sample_package / "data" / "sources.csv"
    header, rows = read_csv(path)
    header[1], header[2] = header[2], header[1]
    write_csv(path, header, [[r[0], r[2], r[1], *r[3:]] for r in rows])
    done = run_loader(sample_package)
    assert done.returncode != 0 and "differs from the schema" in done.stderr


def test_r_loader_refuses_unsafe_paths(sample_package: Path) -> None:
    descriptor_path = sample_package / "datapackage.json"
    descriptor = json.loads(descriptor_path.read_text(encoding="utf-8"))
    descriptor["resources"][0]["path"] = "../outside.csv"
    descriptor_path.write_text(json.dumps(descriptor), encoding="utf-8")
    done = run_loader(sample_package)
    assert done.returncode != 0 and "unsafe path" in done.stderr


def test_frictionless_r_invariants_hold_for_the_shipped_package() -> None:
    with open_package(REPO) as package:
        assert frictionless_r_problems(package) == []


def _mutate_descriptor(package: Path, change) -> None:
    path = package / "datapackage.json"
    descriptor = json.loads(path.read_text(encoding="utf-8"))
    change(descriptor)
    path.write_text(json.dumps(descriptor), encoding="utf-8")


def _mutate_schema(package: Path, name: str, change) -> None:
    path = package / "schemas" / f"{name}.schema.json"
    schema = json.loads(path.read_text(encoding="utf-8"))
    change(schema)
    path.write_text(json.dumps(schema), encoding="utf-8")


def _prepend(path: Path, data: bytes) -> None:
    path.write_bytes(data + path.read_bytes())


def _date_field(schema: dict) -> dict:
    return next(f for f in schema["fields"] if f["type"] == "date")


@pytest.mark.parametrize(("mutate", "expected"), [
    (lambda p: _mutate_descriptor(p, lambda d: d["resources"][0].pop("profile")), "tabular-data-resource"),
    (lambda p: _mutate_descriptor(p, lambda d: d["resources"][1].update(encoding="latin-1")), "UTF-8"),
    (lambda p: _mutate_descriptor(p, lambda d: d["resources"][1].update(dialect={"delimiter": ";"})), "dialect"),
    (lambda p: _mutate_schema(p, "events", lambda s: s.pop("missingValues")), "missingValues"),
    (lambda p: _mutate_schema(p, "events", lambda s: s.update(missingValues=["", "NA"])), "missingValues"),
    (lambda p: _mutate_schema(p, "events", lambda s: _date_field(s).update(format="%d/%m/%Y")), "date format"),
    (lambda p: _mutate_schema(p, "quotes", lambda s: s["fields"][0].update(missingValues=["-"])), "field-level"),
    (lambda p: _mutate_schema(p, "assets", lambda s: s["fields"][5].update(groupChar=",")), "groupChar"),
    (lambda p: _mutate_schema(p, "assets", lambda s: s["fields"][0].update(type="uuid")), "type 'uuid'"),
    (lambda p: _mutate_schema(p, "events", lambda s: s["fields"].append(
        {"name": "flag", "type": "boolean", "trueValues": ["yes"]})), "trueValues"),
    (lambda p: _mutate_schema(p, "sources", lambda s: s["fields"].reverse()), "field order"),
    (lambda p: _prepend(p / "data" / "events.csv", b"\x00"), "NUL byte"),  # read by csvreader: no crash on 3.10 either
])
def test_frictionless_r_problems_are_caught(sample_package: Path, mutate, expected: str) -> None:
    mutate(sample_package)
    with open_package(sample_package) as package:
        problems = frictionless_r_problems(package)
    assert any(expected in p for p in problems), problems


def test_frictionless_r_sample_is_clean(sample_package: Path) -> None:
    with open_package(sample_package) as package:
        assert frictionless_r_problems(package) == []
