"""The benchmark generator at 2,000 event rows: valid as written, and with seeded defects the report is exactly
the seeded findings (rule, resource, row, field), with and without the archive. No timing here."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from opimpact.cli import cli

REPO = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("bench_generate", REPO / "benchmarks" / "generate.py")
generate = sys.modules["bench_generate"] = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(generate)

EVENTS = 2_000


def validate(package: Path, *args: str) -> tuple[int, dict]:
    result = CliRunner().invoke(cli, ["validate", str(package), "--format", "json", "--max-errors", "100000", *args])
    return result.exit_code, json.loads(result.output)


@pytest.fixture(scope="module")
def seeded(tmp_path_factory) -> tuple[Path, dict]:
    dest = tmp_path_factory.mktemp("bench") / "seeded"
    return dest, generate.generate(dest, EVENTS, defects=True, bad_cells=150)


def test_generated_package_is_valid_with_its_archive(tmp_path):
    dest = tmp_path / "valid"
    manifest = generate.generate(dest, EVENTS)
    assert manifest["expected"] == []
    code, report = validate(dest, "--archive", str(dest / "archive"))
    assert code == 0, report["errors"][:5]
    assert report["rows"]["events"] == EVENTS and report["rows"]["quotes"] == EVENTS // 10


def test_frictionless_finds_the_generated_package_valid(tmp_path):
    """The comparison is fair only if frictionless validates the same package to the end and finds it valid."""
    from frictionless import validate as frictionless_validate

    dest = tmp_path / "valid"
    generate.generate(dest, EVENTS)
    report = frictionless_validate(str(dest / "datapackage.json"))
    assert report.valid, report.flatten(["rowNumber", "fieldName", "type", "note"])[:5]


@pytest.mark.parametrize("with_archive", [False, True])
def test_seeded_defects_are_reported_exactly(seeded, with_archive):
    dest, manifest = seeded
    args = ("--archive", str(dest / "archive")) if with_archive else ()
    code, report = validate(dest, *args)
    assert code == 1
    assert generate.check_report(report, manifest, archive=with_archive) == []
    rules = {e["rule"] for e in manifest["expected"] if with_archive or not e["archive_only"]}
    assert rules >= {"F01", "F02", "F03", "F04", "F05", "F06", "F07", "F08", "F09",
                     "X01", "X02", "X03", "X04", "X05", "X06", "X07", "X08", "X09", "X10", "X11"}
    if with_archive:
        assert rules >= {"P01", "P02", "P03", "P04", "P05"}


def test_check_report_notices_a_missing_or_extra_finding(seeded):
    dest, manifest = seeded
    _, report = validate(dest)
    fewer = {**manifest, "expected": manifest["expected"][1:]}
    assert generate.check_report(report, fewer, archive=False)
    report["errors"] = report["errors"][1:]
    assert generate.check_report(report, manifest, archive=False)


def test_generator_is_deterministic(tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    generate.generate(first, 500, defects=True)
    generate.generate(second, 500, defects=True)
    files = sorted(p.relative_to(first) for p in first.rglob("*") if p.is_file())
    assert files and all((first / f).read_bytes() == (second / f).read_bytes() for f in files)


def test_changed_copy_is_valid_and_diff_reports_exactly_its_changes(tmp_path):
    source, changed = tmp_path / "source", tmp_path / "changed"
    generate.generate(source, EVENTS)
    manifest = generate.generate_changed(source, changed)
    code, report = validate(changed)
    assert code == 0, report["errors"][:5]
    assert report["rows"]["events"] == manifest["rows"]["events"]
    result = CliRunner().invoke(cli, ["diff", str(source), str(changed), "--format", "json"])
    assert result.exit_code == 0, result.output
    tables = json.loads(result.output)["tables"]
    made = manifest["diff"]["events"]
    assert made == {"removed": 20, "added": 20, "rekeyed": 2, "changed": 20}
    assert {kind: len(tables["events"][f"rows_{kind}"]) for kind in made} == made
    assert all(not t[f"rows_{kind}"] for name, t in tables.items() if name != "events" for kind in made)
