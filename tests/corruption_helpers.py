"""Run `opimpact validate` on damaged packages and check that it stays calm and exact.

Shared by test_corruption.py and test_corruption_properties.py. Import as `from corruption_helpers import ...`.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

from click.testing import CliRunner, Result

from opimpact.cli import cli

from helpers import CsvReader, snapshot

RESOURCES = ("events", "assets", "personnel_levels", "sources", "quotes")
ANY = object()  # matches any row or field


def csv_path(package: Path, resource: str) -> Path:
    return package / "data" / f"{resource}.csv"


def schema_of(package: Path, resource: str) -> dict:
    return json.loads((package / "schemas" / f"{resource}.schema.json").read_text(encoding="utf-8"))


def record_lines(path: Path) -> list[int]:
    """The CSV line on which each data record starts (the header is line 1), read with the csv module."""
    with open(path, newline="", encoding="utf-8-sig") as handle:
        reader = CsvReader(handle)
        next(reader)
        starts, start = [], reader.line_num + 1
        for _ in reader:
            starts.append(start)
            start = reader.line_num + 1
    return starts


def invoke(target: Path | str, *args: str) -> Result:
    """Run `opimpact validate` in-process; whatever escapes is kept on the result, not raised."""
    return CliRunner().invoke(cli, ["validate", str(target), *args])


def assert_calm(result: Result) -> None:
    """No exception escaped, no traceback was printed, and the exit code is one of the documented ones."""
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"validate crashed: {result.exception!r}\n{result.output}") from result.exception
    assert "Traceback" not in result.output, result.output
    assert "Exception ignored" not in result.output, result.output
    assert result.exit_code in (0, 1, 2), result.output


def validate_json(target: Path | str, *args: str) -> tuple[int, dict]:
    """Exit code and JSON report (for exit code 2: the {"valid", "rule", "error"} object)."""
    result = invoke(target, "--format", "json", *args)
    assert_calm(result)
    return result.exit_code, json.loads(result.stdout)


def matching(report: dict, rule: str, resource: str | None, row=ANY, field=ANY) -> list[dict]:
    return [e for e in report["errors"] if e["rule"] == rule and e["resource"] == resource
            and (row is ANY or e["row"] == row) and (field is ANY or e["field"] == field)]


def expect(package: Path, rule: str, resource: str | None, row=ANY, field=ANY, file: str | None = None) -> dict:
    """Validate the damaged package: exit 1, a finding of rule at resource/row/field naming the file, input untouched.

    Returns the JSON report so a test can look for more findings."""
    before = snapshot(package)
    code, report = validate_json(package)
    assert snapshot(package) == before, "validate changed its input"
    assert code == 1, report
    hits = matching(report, rule, resource, row, field)
    shown = [(e["rule"], e["resource"], e["row"], e["field"], e["message"]) for e in report["errors"][:8]]
    assert hits, f"no {rule} for {resource} at row {row}, field {field}; found {shown}"
    if file is not None:
        assert hits[0]["file"] == file, hits[0]
    return report


def expect_text(package: Path, rule: str, resource: str, file: str, row: int | None, field: str | None) -> str:
    """The text report names the resource and its file, and the rule at the row and field."""
    result = invoke(package)
    assert_calm(result)
    assert result.exit_code == 1, result.output
    assert f"{resource} ({file})" in result.output, result.output
    wanted = [f"[{rule} "] + ([f"row {row}"] if row else []) + ([f"field {field}"] if field else [])
    assert any(all(w in line for w in wanted) for line in result.output.splitlines()), result.output
    return result.output


def expect_unreadable(target: Path | str, rule: str, *fragments: str) -> str:
    """Exit 2 with one clear error of rule, mentioning every fragment; the input is untouched."""
    try:
        folder = Path(target).parent if Path(target).is_file() else Path(target)
        before = snapshot(folder) if folder.exists() else None
    except OSError:  # a path too long to look at
        folder, before = Path(target), None
    code, answer = validate_json(target)
    assert code == 2, answer
    assert answer["valid"] is False and answer["rule"] == rule, answer
    for fragment in fragments:
        assert fragment in answer["error"], answer
    text = invoke(target)
    assert_calm(text)
    assert text.exit_code == 2 and text.output.startswith("error"), text.output
    if before is not None:
        assert snapshot(folder) == before, "validate changed its input"
    return answer["error"]


def zip_package(package: Path, dest: Path, prefix: str = "", extra: dict[str, bytes] | None = None) -> Path:
    """Zip the package's files (as a release would), optionally under a folder prefix and with extra entries."""
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(p for p in package.rglob("*") if p.is_file()):
            archive.writestr(prefix + path.relative_to(package).as_posix(), path.read_bytes())
        for name, data in (extra or {}).items():
            archive.writestr(name, data)
    return dest
