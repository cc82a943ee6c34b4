"""Seed one defect of each validation rule into a copy of the package; the report must name it exactly."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from opimpact.cli import cli
from opimpact.registry import get_rule, render_rules

from helpers import get_cell, read_csv, set_cell, set_date, write_csv


def run(package: Path, *args: str):
    return CliRunner().invoke(cli, ["validate", str(package), *args], catch_exceptions=False)


def expect(package: Path, rule: str, resource: str | None, row: int | None, field: str | None,
           *extra: str) -> None:
    """Both report formats must show the finding, and exit 1."""
    result = run(package, "--format", "json", *extra)
    assert result.exit_code == 1, result.output
    report = json.loads(result.output)
    assert report["valid"] is False
    matches = [e for e in report["errors"]
               if (e["rule"], e["resource"], e["row"], e["field"]) == (rule, resource, row, field)]
    assert matches, f"no {rule} at {resource} row {row} field {field}: {report['errors'][:5]}"
    assert report["counts_by_rule"][rule] >= 1

    text = run(package, *extra)
    assert text.exit_code == 1
    place = ", ".join(p for p in (f"row {row}" if row else "", f"field {field}" if field else "") if p)
    line = next((ln for ln in text.output.splitlines() if f"[{rule} {get_rule(rule).name}]" in ln and place in ln), None)
    assert line is not None, text.output
    assert resource is None or resource in text.output


def row_where(package: Path, resource: str, predicate: Callable[[dict], bool]) -> int:
    header, rows = read_csv(package / "data" / f"{resource}.csv")
    for index, row in enumerate(rows):
        if predicate(dict(zip(header, row, strict=True))):
            return index
    pytest.skip(f"the shipped {resource} table has no row this test can use")


def edit_descriptor(package: Path, change: Callable[[dict], None]) -> None:
    path = package / "datapackage.json"
    descriptor = json.loads(path.read_text())
    change(descriptor)
    path.write_text(json.dumps(descriptor))


def resource_entry(descriptor: dict, name: str) -> dict:
    return next(r for r in descriptor["resources"] if r["name"] == name)


# --- shipped package -------------------------------------------------------------------------

def test_shipped_package_is_valid():
    result = CliRunner().invoke(cli, ["validate", str(Path(__file__).parent.parent)])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("valid:")


def test_shipped_package_is_valid_against_archive(archive):
    result = CliRunner().invoke(cli, ["validate", str(Path(__file__).parent.parent), "--archive", str(archive)])
    assert result.exit_code == 0, result.output
    assert "archive checked" in result.output


# --- layer 1: descriptor ---------------------------------------------------------------------

def test_d01_invalid_json_is_unreadable(package_copy):
    (package_copy / "datapackage.json").write_text("{not json")
    result = CliRunner().invoke(cli, ["validate", str(package_copy)])
    assert result.exit_code == 2
    assert "datapackage.json" in result.output and "not valid JSON" in result.output
    assert "Traceback" not in result.output


def test_d02_missing_resource(package_copy):
    edit_descriptor(package_copy, lambda d: d["resources"].pop())
    expect(package_copy, "D02", "quotes", None, "resources")


@pytest.mark.parametrize("bad_path", ["/etc/passwd", "../outside.csv", "https://example.org/events.csv",
                                      "data/../../x.csv"])
def test_d03_unsafe_data_paths(package_copy, bad_path):
    edit_descriptor(package_copy, lambda d: resource_entry(d, "events").update(path=bad_path))
    expect(package_copy, "D03", "events", None, "path")


def test_d03_link_leaving_package(package_copy, tmp_path):
    outside = tmp_path / "outside.csv"
    outside.write_text((package_copy / "data" / "events.csv").read_text())
    (package_copy / "data" / "events.csv").unlink()
    os.symlink(outside, package_copy / "data" / "events.csv")
    expect(package_copy, "D03", "events", None, "path")


def test_d03_unsafe_schema_path(package_copy):
    edit_descriptor(package_copy, lambda d: resource_entry(d, "assets").update(schema="/etc/hosts"))
    expect(package_copy, "D03", "assets", None, "schema")


def test_d04_unreadable_schema(package_copy):
    (package_copy / "schemas" / "quotes.schema.json").write_text("[1, 2")
    expect(package_copy, "D04", "quotes", None, "schema")


def test_d05_oversized_cell(package_copy):
    row = set_cell(package_copy, "events", 0, "notes", "x" * 200_000)
    expect(package_copy, "D05", "events", row, "notes")


# --- layer 2: structure ----------------------------------------------------------------------

def test_s01_latin1_byte(package_copy):
    path = package_copy / "data" / "events.csv"
    lines = path.read_bytes().split(b"\n")
    lines[2] = lines[2].replace(b",", b",\xe9", 1)
    path.write_bytes(b"\n".join(lines))
    expect(package_copy, "S01", "events", 3, None)


def test_s02_reordered_header(package_copy):
    path = package_copy / "data" / "assets.csv"
    header, rows = read_csv(path)
    header[1], header[2] = header[2], header[1]
    write_csv(path, header, rows)
    expect(package_copy, "S02", "assets", 1, header[2])


def test_s03_ragged_row(package_copy):
    path = package_copy / "data" / "quotes.csv"
    header, rows = read_csv(path)
    rows[1] = rows[1][:-2]
    write_csv(path, header, rows)
    expect(package_copy, "S03", "quotes", 3, header[-2])


def test_s04_blank_row(package_copy):
    path = package_copy / "data" / "personnel_levels.csv"
    lines = path.read_text().split("\n")
    lines.insert(2, "")
    path.write_text("\n".join(lines))
    expect(package_copy, "S04", "personnel_levels", 3, None)


def test_s05_empty_file(package_copy):
    (package_copy / "data" / "sources.csv").write_bytes(b"")
    expect(package_copy, "S05", "sources", 1, None)


def test_s06_mixed_line_endings(package_copy):
    path = package_copy / "data" / "events.csv"
    lines = path.read_bytes().split(b"\n")
    lines[3] = lines[3] + b"\r"
    path.write_bytes(b"\n".join(lines))
    result = run(package_copy, "--format", "json")
    assert result.exit_code == 1
    assert any(e["rule"] == "S06" and e["resource"] == "events" and e["row"] for e in json.loads(result.output)["errors"])


# --- layer 3: field rules --------------------------------------------------------------------

def test_f01_impossible_date(package_copy):
    row = set_cell(package_copy, "events", 0, "date_start", "2017-02-30")
    expect(package_copy, "F01", "events", row, "date_start")


def test_f01_not_an_integer(package_copy):
    row = set_cell(package_copy, "personnel_levels", 0, "count", "about 600")
    expect(package_copy, "F01", "personnel_levels", row, "count")


def test_f02_required(package_copy):
    row = set_cell(package_copy, "events", 1, "summary", "")
    expect(package_copy, "F02", "events", row, "summary")


def test_f03_unique(package_copy):
    other = get_cell(package_copy, "sources", 0, "sha256")
    row = set_cell(package_copy, "sources", 1, "sha256", other)
    expect(package_copy, "F03", "sources", row, "sha256")


def test_f04_enum(package_copy):
    row = set_cell(package_copy, "events", 2, "category", "battle")
    expect(package_copy, "F04", "events", row, "category")


def test_f05_pattern(package_copy):
    row = set_cell(package_copy, "events", 0, "country", "Iraq")
    expect(package_copy, "F05", "events", row, "country")


def test_f06_minimum(package_copy):
    row = set_cell(package_copy, "personnel_levels", 0, "count", "-5")
    expect(package_copy, "F06", "personnel_levels", row, "count")


def test_f07_length(package_copy):
    row = set_cell(package_copy, "assets", 0, "evidence", "word " * 60)
    expect(package_copy, "F07", "assets", row, "evidence")


def test_f08_duplicate_primary_key(package_copy):
    first = get_cell(package_copy, "events", 0, "event_id")
    row = set_cell(package_copy, "events", 1, "event_id", first)
    expect(package_copy, "F08", "events", row, "event_id")


def test_f08_missing_primary_key(package_copy):
    row = set_cell(package_copy, "assets", 1, "asset_id", "")
    expect(package_copy, "F08", "assets", row, "asset_id")


@pytest.mark.parametrize("resource,field,value", [
    ("events", "source_id", "src-9999"), ("assets", "source_id", "src-9998"),
    ("personnel_levels", "source_id", "src-9997"), ("quotes", "source_id", "src-9996"),
    ("quotes", "event_id", "ev-9999")])
def test_f09_dangling_foreign_key(package_copy, resource, field, value):
    index = row_where(package_copy, resource, lambda r: bool(r[field]))
    row = set_cell(package_copy, resource, index, field, value)
    expect(package_copy, "F09", resource, row, field)


# --- layer 4: rules a Table Schema cannot say --------------------------------------------------

def test_x01_end_before_start(package_copy):
    index = row_where(package_copy, "events", lambda r: r["status"] != "planned")
    set_cell(package_copy, "events", index, "date_precision", "day")
    set_cell(package_copy, "events", index, "date_start", "2016-06-10")
    row = set_cell(package_copy, "events", index, "date_end", "2016-06-01")
    expect(package_copy, "X01", "events", row, "date_end")


def test_x02_date_not_on_precision(package_copy):
    index = row_where(package_copy, "events", lambda r: r["date_precision"] != "range")
    set_cell(package_copy, "events", index, "date_end", "")
    set_cell(package_copy, "events", index, "date_precision", "month")
    row = set_cell(package_copy, "events", index, "date_start", "2016-06-15")
    expect(package_copy, "X02", "events", row, "date_start")


def test_x02_precision_missing(package_copy):
    index = row_where(package_copy, "quotes", lambda r: bool(r["date_start"]))
    row = set_cell(package_copy, "quotes", index, "date_precision", "")
    expect(package_copy, "X02", "quotes", row, "date_precision")


def test_x03_count_above_ceiling(package_copy):
    header, rows = read_csv(package_copy / "data" / "personnel_levels.csv")
    records = [dict(zip(header, r, strict=True)) for r in rows]
    ceilings = [r for r in records if r["measure"] == "authorized_ceiling"]
    if not ceilings:
        pytest.skip("no authorized ceiling in the data")
    first = min(c["date_start"] for c in ceilings)
    index = next((i for i, r in enumerate(records)
                  if r["measure"] != "authorized_ceiling" and r["date_start"] >= first), None)
    if index is None:
        pytest.skip("no count dated under a ceiling")
    highest = max(int(c["count"]) for c in ceilings)
    row = set_cell(package_copy, "personnel_levels", index, "count", str(highest + 1))
    expect(package_copy, "X03", "personnel_levels", row, "count")


def test_x04_id_pattern(package_copy):
    index = row_where(package_copy, "quotes", lambda r: bool(r["event_id"]))
    row = set_cell(package_copy, "quotes", index, "event_id", "EV-1")
    expect(package_copy, "X04", "quotes", row, "event_id")


def test_x05_whitespace(package_copy):
    value = get_cell(package_copy, "assets", 0, "name")
    row = set_cell(package_copy, "assets", 0, "name", value + " ")
    expect(package_copy, "X05", "assets", row, "name")


@pytest.mark.parametrize("prefix", ["=", "+", "-", "@"])
def test_x06_formula_injection(package_copy, prefix):
    row = set_cell(package_copy, "events", 0, "summary", prefix + "HYPERLINK(\"http://x\")")
    expect(package_copy, "X06", "events", row, "summary")


def test_x07_quote_after_publication(package_copy):
    set_cell(package_copy, "quotes", 0, "date_precision", "day")
    set_cell(package_copy, "quotes", 0, "date_end", "")
    row = set_cell(package_copy, "quotes", 0, "date_start", "2031-01-01")
    expect(package_copy, "X07", "quotes", row, "date_start")


def test_x07_planned_events_may_be_later(package_copy):
    linked = identity_linked(package_copy, "events")
    index = row_where(package_copy, "events", lambda r: r["status"] != "planned" and r["event_id"] not in linked)
    row = set_date(package_copy, "events", index, "date", "2031-01-01")
    expect(package_copy, "X07", "events", row, "date_start")
    set_cell(package_copy, "events", index, "status", "planned")
    assert run(package_copy).exit_code == 0


def identity_linked(package: Path, resource: str) -> set[str]:
    """IDs of the rows of a table that take part in an identity link (naming a row, or named by one)."""
    header, rows = read_csv(package / "data" / f"{resource}.csv")
    link = header.index("same_as")
    return {r[0] for r in rows if r[link]} | {r[link] for r in rows if r[link]}


def test_x08_same_as_names_itself(package_copy):
    index = row_where(package_copy, "assets", lambda r: not r["same_as"])
    row = set_cell(package_copy, "assets", index, "same_as", get_cell(package_copy, "assets", index, "asset_id"))
    expect(package_copy, "X08", "assets", row, "same_as")


def test_x08_same_as_chain(package_copy):
    """A row naming a row that itself names another: the link must go to the canonical row."""
    index = row_where(package_copy, "events", lambda r: bool(r["same_as"]))
    twin = get_cell(package_copy, "events", index, "event_id")
    other = row_where(package_copy, "events", lambda r: not r["same_as"] and r["event_id"] not in
                      identity_linked(package_copy, "events"))
    row = set_cell(package_copy, "events", other, "same_as", twin)
    expect(package_copy, "X08", "events", row, "same_as")


def test_x08_same_as_dates_must_overlap(package_copy):
    index = row_where(package_copy, "personnel_levels", lambda r: bool(r["same_as"]))
    row = set_date(package_copy, "personnel_levels", index, "date", "2015")
    expect(package_copy, "X08", "personnel_levels", row, "same_as")


def test_x08_open_dates_overlap_everything(package_copy):
    index = row_where(package_copy, "events", lambda r: bool(r["same_as"]))
    set_date(package_copy, "events", index, "date", "[..2018-12-31]")
    result = run(package_copy, "--format", "json")
    assert "X08" not in json.loads(result.output)["counts_by_rule"], result.output


def test_f09_same_as_dangling(package_copy):
    index = row_where(package_copy, "assets", lambda r: not r["same_as"])
    row = set_cell(package_copy, "assets", index, "same_as", "as-9999")
    expect(package_copy, "F09", "assets", row, "same_as")


@pytest.mark.parametrize("edtf", ["2017-02-30", "not a date", "2017/2016", "[2017-06-01..2017-05-01]", "2017-13"])
def test_x09_unusable_edtf(package_copy, edtf):
    row = set_cell(package_copy, "events", 0, "date_edtf", edtf)
    expect(package_copy, "X09", "events", row, "date_edtf")


def test_x09_valid_edtf_in_a_form_not_used(package_copy):
    """'2017?' is EDTF (an uncertain year), but the package writes uncertainty as a range."""
    row = set_cell(package_copy, "quotes", row_where(package_copy, "quotes", lambda r: bool(r["date_edtf"])),
                   "date_edtf", "2017?")
    result = run(package_copy, "--format", "json")
    found = [e for e in json.loads(result.output)["errors"] if e["rule"] == "X09" and e["row"] == row]
    assert found and "valid EDTF, but not a form" in found[0]["message"], result.output


@pytest.mark.parametrize("field,value", [("date_latest", "2099-12-31"), ("date_earliest", ""),
                                          ("date_precision", "day"), ("date_end", "2099-01-01")])
def test_x09_column_disagrees_with_edtf(package_copy, field, value):
    index = row_where(package_copy, "personnel_levels", lambda r: r["date_precision"] not in ("day", ""))
    row = set_cell(package_copy, "personnel_levels", index, field, value)
    expect(package_copy, "X09", "personnel_levels", row, field)


def test_x09_kind_must_match_the_shape(package_copy):
    index = row_where(package_copy, "events", lambda r: r["date_kind"] == "span")
    row = set_cell(package_copy, "events", index, "date_kind", "single")
    expect(package_copy, "X09", "events", row, "date_kind")


def test_x09_no_interval_where_the_group_holds_single_dates(package_copy):
    index = row_where(package_copy, "quotes", lambda r: bool(r["date_edtf"]))
    row = set_date(package_copy, "quotes", index, "date", "2016/2017")
    expect(package_copy, "X09", "quotes", row, "date_edtf")


def test_x09_dates_without_edtf(package_copy):
    index = row_where(package_copy, "assets", lambda r: not r["departed_edtf"])
    row = set_cell(package_copy, "assets", index, "departed_latest", "2017-01-01")
    expect(package_copy, "X09", "assets", row, "departed_latest")


def test_x09_status_needed_with_a_date(package_copy):
    index = row_where(package_copy, "assets", lambda r: bool(r["arrived_edtf"]))
    row = set_cell(package_copy, "assets", index, "arrived_status", "")
    expect(package_copy, "X09", "assets", row, "arrived_status")


def test_x10_typed_link_to_another_source(package_copy):
    index = row_where(package_copy, "quotes", lambda r: bool(r["event_id"]))
    source = get_cell(package_copy, "quotes", index, "source_id")
    header, rows = read_csv(package_copy / "data" / "events.csv")
    other = next(r[0] for r in rows if r[header.index("source_id")] != source)
    row = set_cell(package_copy, "quotes", index, "event_id", other)
    expect(package_copy, "X10", "quotes", row, "event_id")


def test_f04_speaker_outside_the_vocabulary(package_copy):
    index = row_where(package_copy, "quotes", lambda r: r["speaker"] == "Daniel MacIsaac")
    row = set_cell(package_copy, "quotes", index, "speaker", "Dan MacIssac")
    expect(package_copy, "F04", "quotes", row, "speaker")


@pytest.mark.parametrize("note", ["From the public record: the strikes began in 2014.",
                                  "public record, not in the text: lower case is not the flag."])
def test_x11_public_record_without_the_flag(package_copy, note):
    row = set_cell(package_copy, "assets", 0, "notes", note)
    expect(package_copy, "X11", "assets", row, "notes")


# --- layer 5: provenance ---------------------------------------------------------------------

def copy_archive(archive: Path, dest: Path) -> Path:
    dest.mkdir()
    for item in archive.iterdir():
        (dest / item.name).write_bytes(item.read_bytes())
    return dest


def test_p01_archive_file_missing(package_copy, archive, tmp_path):
    mine = copy_archive(archive, tmp_path / "archive")
    name = get_cell(package_copy, "sources", 0, "archive_file")
    (mine / name).unlink()
    expect(package_copy, "P01", "sources", 2, "archive_file", "--archive", str(mine))


def test_p02_checksum_mismatch(package_copy, archive, tmp_path):
    mine = copy_archive(archive, tmp_path / "archive")
    name = get_cell(package_copy, "sources", 1, "archive_file")
    (mine / name).write_bytes((mine / name).read_bytes() + b" ")
    expect(package_copy, "P02", "sources", 3, "sha256", "--archive", str(mine))


def test_p03_quote_not_verbatim(package_copy, archive):
    text = get_cell(package_copy, "quotes", 0, "text")
    row = set_cell(package_copy, "quotes", 0, "text", text.replace(text.split()[0], "Reportedly", 1))
    expect(package_copy, "P03", "quotes", row, "text", "--archive", str(archive))


def test_p04_evidence_not_verbatim(package_copy, archive):
    row = set_cell(package_copy, "personnel_levels", 0, "evidence", "a sentence no article contains")
    expect(package_copy, "P04", "personnel_levels", row, "evidence", "--archive", str(archive))


COPIED = "Canada suspended its training of both Iraqi and Kurdish forces after fighting broke out"


@pytest.mark.parametrize("resource,field", [("events", "summary"), ("events", "notes"), ("assets", "role"),
                                            ("personnel_levels", "scope"), ("sources", "notes")])
def test_p05_copied_words(package_copy, archive, resource, field):
    index = row_where(package_copy, resource, lambda r: r["source_id"] == "src-0001")
    row = set_cell(package_copy, resource, index, field, "In short: " + COPIED.lower().replace("iraqi", "Iraqi,"))
    expect(package_copy, "P05", resource, row, field, "--archive", str(archive))


@pytest.mark.parametrize("quoted", [f"'{COPIED}'", f'"{COPIED}"', f"“{COPIED}”", f"the article's '{COPIED}'"])
def test_p05_quoted_words_are_allowed(package_copy, archive, quoted):
    index = row_where(package_copy, "events", lambda r: r["source_id"] == "src-0001")
    set_cell(package_copy, "events", index, "notes", f"The text says {quoted}.")
    result = run(package_copy, "--archive", str(archive))
    assert result.exit_code == 0, result.output


def test_p05_runs_do_not_cross_a_quotation(package_copy, archive):
    """Seven copied words, a quotation, then the next words of the article: no run of eight is copied."""
    words = COPIED.split()
    index = row_where(package_copy, "events", lambda r: r["source_id"] == "src-0001")
    set_cell(package_copy, "events", index, "notes", " ".join(words[:7]) + " 'x' " + " ".join(words[7:]))
    assert run(package_copy, "--archive", str(archive)).exit_code == 0


def test_p05_needs_the_archive(package_copy):
    index = row_where(package_copy, "events", lambda r: r["source_id"] == "src-0001")
    set_cell(package_copy, "events", index, "summary", COPIED)
    assert run(package_copy).exit_code == 0


def test_p04_line_breaks_and_spaces_are_folded(package_copy, archive):
    text = get_cell(package_copy, "events", 0, "evidence")
    set_cell(package_copy, "events", 0, "evidence", text.replace(" ", "\n", 1).replace(" ", "   ", 1))
    result = run(package_copy, "--archive", str(archive))
    assert result.exit_code == 0, result.output


# --- reports ---------------------------------------------------------------------------------

def test_all_errors_are_collected(package_copy):
    set_cell(package_copy, "events", 0, "category", "battle")
    set_cell(package_copy, "assets", 0, "kind", "ship")
    set_cell(package_copy, "quotes", 0, "kind", "rumour")
    report = json.loads(run(package_copy, "--format", "json").output)
    assert {e["resource"] for e in report["errors"] if e["rule"] == "F04"} == {"events", "assets", "quotes"}
    assert report["error_count"] == 3


def test_readme_rule_table_is_generated_from_the_registry():
    """The README's rule table is exactly `opimpact rules --format markdown` (regenerate it with that command)."""
    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    table = readme.split("<!-- rules:start -->\n", 1)[1].split("<!-- rules:end -->", 1)[0]
    assert table == render_rules("markdown"), "README rule table is stale: paste `opimpact rules --format markdown`"


@pytest.mark.parametrize(("damage", "line", "words"), [
    (lambda data: b"\xef\xbb\xbf" + data, 1, "byte-order mark"),
    (lambda data: data.replace(b"\n", b"\r\n"), 1, "carriage return"),
    (lambda data: data.rstrip(b"\n"), None, "does not end with a line break"),
])
def test_s07_house_format_with_the_archive_only(package_copy, archive, damage, line, words):
    path = package_copy / "data" / "quotes.csv"
    data = path.read_bytes()
    path.write_bytes(damage(data))
    assert run(package_copy).exit_code == 0  # validate alone accepts files as spreadsheets save them
    report = json.loads(run(package_copy, "--format", "json", "--archive", str(archive)).output)
    found = [e for e in report["errors"] if e["rule"] == "S07"]
    assert [e["resource"] for e in found] == ["quotes"] and words in found[0]["message"]
    assert found[0]["row"] == (line if line is not None else data.count(b"\n"))

