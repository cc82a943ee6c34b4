"""`opimpact diff`: each kind of change between two package versions, and the bump it requires."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from opimpact import diff
from opimpact.cli import cli
from opimpact.diff import diff_specs
from opimpact.semver import Bump

from helpers import read_csv, set_cell, write_csv
from release_helpers import (
    add_field,
    add_row,
    commit_all,
    drop_field,
    edit_schema,
    init_repo,
    make_release_fixture,
    remove_row,
    rename_field,
    set_field_type,
)


def run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


@pytest.fixture
def pair(tmp_path: Path) -> tuple[Path, Path]:
    old = make_release_fixture(tmp_path / "old")
    new = tmp_path / "new"
    shutil.copytree(old, new)
    return old, new


def diff_json(old: Path, new: Path) -> dict:
    result = run("diff", str(old), str(new), "--format", "json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_identical_packages_have_no_changes(pair) -> None:
    old, new = pair
    document = diff_json(old, new)
    assert document["changes"] == [] and document["required_bump"] == "none"
    assert "No changes." in run("diff", str(old), str(new), "--format", "markdown").stdout
    assert run("diff", str(old), str(new), "--exit-code").exit_code == 0


def test_row_added(pair) -> None:
    old, new = pair
    add_row(new, "events", 1, "ev-0042")
    document = diff_json(old, new)
    assert document["tables"]["events"]["rows_added"] == ["ev-0042"]
    assert document["required_bump"] == "minor"
    assert run("diff", str(old), str(new), "--exit-code").exit_code == 1


def test_row_removed(pair) -> None:
    old, new = pair
    key = remove_row(new, "assets", 1)
    document = diff_json(old, new)
    assert document["tables"]["assets"]["rows_removed"] == [key]
    assert document["required_bump"] == "major"


def test_field_changed_shows_before_and_after(pair) -> None:
    old, new = pair
    header, rows = read_csv(old / "data" / "personnel_levels.csv")
    before = rows[2][header.index("count")]
    set_cell(new, "personnel_levels", 2, "count", "650")
    document = diff_json(old, new)
    changed = document["tables"]["personnel_levels"]["rows_changed"]
    assert changed == [{"key": "pl-0003", "fields": [{"field": "count", "before": before, "after": "650"}]}]
    assert document["required_bump"] == "patch"


def test_field_added(pair) -> None:
    old, new = pair
    add_field(new, "sources", {"name": "paywall", "type": "boolean"}, "false")
    table = diff_json(old, new)["tables"]["sources"]
    assert table["fields_added"] == [{"field": "paywall", "type": "boolean"}]
    assert table["rows_changed"] == []  # a new column is not a change of every row


def test_field_removed(pair) -> None:
    old, new = pair
    drop_field(new, "events", "actor")
    document = diff_json(old, new)
    assert document["tables"]["events"]["fields_removed"] == [{"field": "actor", "type": "string"}]
    assert document["required_bump"] == "major"


def test_type_changed(pair) -> None:
    old, new = pair
    set_field_type(new, "assets", "quantity", "number")
    document = diff_json(old, new)
    assert document["tables"]["assets"]["type_changes"] == [{"field": "quantity", "old": "integer", "new": "number"}]
    assert document["required_bump"] == "major"


def test_renamed_looking_field_is_paired_not_listed_twice(pair) -> None:
    old, new = pair
    rename_field(new, "events", "place", "location")
    table = diff_json(old, new)["tables"]["events"]
    assert table["fields_renamed"] == [{"old": "place", "new": "location"}]
    assert table["fields_added"] == [] and table["fields_removed"] == [] and table["rows_changed"] == []


def test_rekeyed_row(pair) -> None:
    old, new = pair
    header, rows = read_csv(new / "data" / "quotes.csv")
    rows[1][0] = "qu-0077"
    write_csv(new / "data" / "quotes.csv", header, rows)
    document = diff_json(old, new)
    table = document["tables"]["quotes"]
    assert table["rows_rekeyed"] == [{"old": "qu-0002", "new": "qu-0077"}]
    assert table["rows_added"] == [] and table["rows_removed"] == []
    assert document["required_bump"] == "major"


def test_constraint_and_documentation_changes(pair) -> None:
    old, new = pair

    def edit(schema: dict) -> None:
        for f in schema["fields"]:
            if f["name"] == "kind":
                f["constraints"]["enum"].append("ship")
            if f["name"] == "role":
                f["description"] = "What it is for."

    edit_schema(new, "assets", edit)
    document = diff_json(old, new)
    table = document["tables"]["assets"]
    assert [(c["field"], c["key"]) for c in table["constraint_changes"]] == [("kind", "enum")]
    assert [(c["field"], c["key"]) for c in table["property_changes"]] == [("role", "description")]
    levels = {c["kind"]: c["level"] for c in document["changes"]}
    assert levels == {"constraints": "minor", "field-documentation": "patch"}


def test_column_order_change_is_major(pair) -> None:
    old, new = pair
    edit_schema(new, "events", lambda s: s["fields"].insert(1, s["fields"].pop()))  # notes becomes second
    header, rows = read_csv(new / "data" / "events.csv")
    write_csv(new / "data" / "events.csv", [header[0], header[-1], *header[1:-1]],
              [[r[0], r[-1], *r[1:-1]] for r in rows])
    document = diff_json(old, new)
    assert {c["kind"] for c in document["changes"]} == {"field-order"}
    assert document["required_bump"] == "major"


def test_each_change_kind_in_one_markdown_report(pair) -> None:
    old, new = pair
    add_row(new, "events", 1, "ev-0042")
    remove_row(new, "assets", 1)
    set_cell(new, "personnel_levels", 2, "count", "650")
    add_field(new, "sources", {"name": "paywall", "type": "boolean"}, "false")
    drop_field(new, "events", "actor")
    set_field_type(new, "assets", "quantity", "number")
    report = run("diff", str(old), str(new), "--format", "markdown").stdout
    assert "Required version bump: **major**" in report
    for expected in ("events: 1 row added (ev-0042)", "assets: 1 row removed (as-0002)",
                     "personnel_levels: 1 row changed (pl-0003: count)", "sources: field `paywall` (boolean) added",
                     "events: field `actor` (string) removed", "assets: field `quantity` type changed from integer to number",
                     "| `pl-0003` | `count` | 600 | 650 |"):
        assert expected in report, expected


def test_markdown_escapes_pipes_and_line_breaks(pair) -> None:
    old, new = pair
    set_cell(new, "events", 0, "notes", "a | b\nc")
    report = run("diff", str(old), str(new), "--format", "markdown").stdout
    assert "a \\| b<br>c" in report


def test_required_bump_is_the_largest(pair) -> None:
    old, new = pair
    set_cell(new, "events", 0, "place", "Qayyarah")
    assert diff_specs(str(old), str(new)).required_bump == Bump.PATCH
    add_row(new, "events", 1, "ev-0042")
    assert diff_specs(str(old), str(new)).required_bump == Bump.MINOR
    remove_row(new, "quotes", 0)
    assert diff_specs(str(old), str(new)).required_bump == Bump.MAJOR


def test_release_zip_against_folder(pair) -> None:
    old, new = pair
    assert run("release", "1.0.0", str(old)).exit_code == 0
    shutil.copy(old / "datapackage.json", new / "datapackage.json")  # with the description the release generated
    add_row(new, "events", 1, "ev-0042")
    document = diff_json(old / "dist" / "1.0.0" / "op-impact-1.0.0.zip", new)
    assert document["tables"]["events"]["rows_added"] == ["ev-0042"]
    assert [c["kind"] for c in document["changes"]] == ["rows-added"]  # version, created and hashes are not changes


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_git_refs_and_release_versions(pair) -> None:
    old, _ = pair
    init_repo(old)
    assert run("release", "1.0.0", str(old)).exit_code == 0
    commit_all(old, "Release 1.0.0")
    set_cell(old, "events", 0, "place", "Qayyarah")
    commit_all(old, "correct a place")
    by_ref = run("diff", "HEAD~1", "HEAD", "--repo", str(old), "--format", "json")
    assert by_ref.exit_code == 0, by_ref.output
    document = json.loads(by_ref.stdout)
    assert document["tables"]["events"]["rows_changed"][0]["key"] == "ev-0001"
    assert "commit" in document["old"]
    by_version = json.loads(run("diff", "1.0.0", str(old), "--repo", str(old), "--format", "json").stdout)
    assert by_version["required_bump"] == "patch"


def test_unreadable_side_is_exit_2(pair, tmp_path: Path) -> None:
    old, _ = pair
    result = run("diff", str(old), str(tmp_path / "nowhere"), "--repo", str(old))
    assert result.exit_code == 2
    assert "nowhere" in result.output


def test_a_table_that_cannot_be_read_is_exit_2(pair) -> None:
    old, new = pair
    (new / "data" / "events.csv").write_text("wrong,header\n1,2\n", encoding="utf-8")
    result = run("diff", str(old), str(new))
    assert result.exit_code == 2 and "data/events.csv" in result.output


def test_new_table_compared_in_batches_restarts_with_the_exact_reader(pair, monkeypatch) -> None:
    """A file the fast reader gives up on part-way (a lone CR in a late record) is compared again from the
    start with the exact reader: the same report as a diff in one batch."""
    old, new = pair
    path = new / "data" / "events.csv"
    header, rows = read_csv(path)
    summary = header.index("summary")
    rows[1][summary] += " (corrected)"
    rows[-1][summary] = "Line one\rline two."  # a lone CR inside a quoted cell: the exact reader's case
    with open(path, "w", encoding="utf-8", newline="") as handle:
        csv.writer(handle, lineterminator="\n", quoting=csv.QUOTE_ALL).writerows([header, *rows])
    whole = diff_json(old, new)
    monkeypatch.setattr(diff, "BATCH_BYTES", 64)
    assert diff_json(old, new) == whole
    assert [row["key"] for row in whole["tables"]["events"]["rows_changed"]] == [rows[1][0], rows[-1][0]]


def test_a_nul_byte_part_way_through_the_new_table_is_exit_2(pair, monkeypatch) -> None:
    old, new = pair
    path = new / "data" / "events.csv"
    path.write_bytes(path.read_bytes().rstrip(b"\n") + b"\x00\n")
    monkeypatch.setattr(diff, "BATCH_BYTES", 64)
    result = run("diff", str(old), str(new))
    assert result.exit_code == 2 and "data/events.csv (line" in result.output and "NUL" in result.output


def test_composite_primary_key(pair) -> None:
    """Rows are matched on every field of a composite key; the key shows its cells joined by '|'."""
    old, new = pair
    for side in (old, new):
        edit_schema(side, "personnel_levels", lambda s: s.update(primaryKey=["source_id", "measure"]))
    path = new / "data" / "personnel_levels.csv"
    header, rows = read_csv(path)
    source, measure, count = (header.index(name) for name in ("source_id", "measure", "count"))
    removed = rows.pop(0)  # src-0002|authorized_ceiling
    rows[0][measure] = "deployed"  # src-0001|reported_estimate re-keyed: the same content under a new key
    rows[1][count] = "650"  # src-0003|deployed changed
    added = list(removed)
    added[source], added[count] = "src-0001", "500"  # src-0001|authorized_ceiling: a key not seen before
    write_csv(path, header, rows + [added])
    document = diff_json(old, new)
    table = document["tables"]["personnel_levels"]
    assert table["rows_removed"] == ["src-0002|authorized_ceiling"]
    assert table["rows_added"] == ["src-0001|authorized_ceiling"]
    assert table["rows_rekeyed"] == [{"old": "src-0001|reported_estimate", "new": "src-0001|deployed"}]
    assert table["rows_changed"] == [{"key": "src-0003|deployed",
                                      "fields": [{"field": "count", "before": "600", "after": "650"}]}]
    assert document["required_bump"] == "major"
    report = run("diff", str(old), str(new), "--format", "markdown").stdout
    assert "| `src-0003\\|deployed` | `count` | 600 | 650 |" in report  # the key's '|' does not split the cell


def test_listings_are_capped_and_counts_exact(pair, monkeypatch) -> None:
    old, new = pair
    monkeypatch.setattr(diff, "ROW_LIST_LIMIT", 3)
    path = new / "data" / "events.csv"
    header, rows = read_csv(path)
    summary = header.index("summary")
    for row in rows:
        row[summary] += " (corrected)"
    extra = [[f"ev-01{i:02d}", *rows[0][1:summary], f"Event {i}.", *rows[0][summary + 1:]] for i in range(5)]
    write_csv(path, header, rows + extra)
    document = diff_json(old, new)
    table = document["tables"]["events"]
    assert table["rows_added"] == ["ev-0100", "ev-0101", "ev-0102"]
    assert [row["key"] for row in table["rows_changed"]] == ["ev-0001", "ev-0002", "ev-0003"]
    assert table["row_counts"] == {"added": 5, "removed": 0, "rekeyed": 0, "changed": len(rows)}
    assert "row_counts" not in document["tables"]["assets"]  # nothing was cut there
    messages = [c["message"] for c in document["changes"]]
    assert "events: 5 rows added (ev-0100, ev-0101, ev-0102 and 2 more)" in messages
    report = run("diff", str(old), str(new), "--format", "markdown").stdout
    assert f"| events | {len(rows)} | {len(rows) + 5} | 5 | 0 | 0 | {len(rows)} | 0 |" in report
    assert "Rows added (5): `ev-0100`, `ev-0101`, `ev-0102` and 2 more (not listed)" in report
    assert f"Only the first 3 of {len(rows)} changed rows are listed." in report
