"""Damage a copy of the real package in every way people do; `opimpact validate` must stay calm and exact.

Every test runs the CLI (CliRunner) and checks: the documented exit code, no traceback, the resource and file
named, the row and field named where there is one, and the input bytes unchanged. Positions and values are
derived from the shipped data and schemas, so the tests follow the data as it grows.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import io
import json
import os
import random
import re
import shutil
import socket
import stat
import struct
import tempfile
import threading
import zipfile
from pathlib import Path

import pytest

from opimpact import limits

from corruption_helpers import (
    RESOURCES,
    assert_calm,
    csv_path,
    expect,
    expect_text,
    expect_unreadable,
    invoke,
    matching,
    record_lines,
    schema_of,
    validate_json,
    zip_package,
)
from helpers import read_csv, snapshot, write_csv

# --- helpers ------------------------------------------------------------------------------------


def rel(resource: str) -> str:
    return f"data/{resource}.csv"


def csv_text(rows: list[list[str]], terminator: str = "\n") -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator=terminator).writerows(rows)
    return buffer.getvalue()


def set_cells(package: Path, resource: str, changes: dict[tuple[int, str], str]) -> dict[tuple[int, str], int]:
    """Set several cells (data row index, field) of one table; return the CSV line of each changed record."""
    path = csv_path(package, resource)
    header, rows = read_csv(path)
    for (index, field), value in changes.items():
        rows[index][header.index(field)] = value
    write_csv(path, header, rows)
    lines = record_lines(path)
    return {key: lines[key[0]] for key in changes}


def expect_each(package: Path, wanted: list[tuple[str, str, int | None, str | None]]) -> dict:
    """One validation run must report every (rule, resource, row, field); the input stays unchanged.

    Findings about a table's contents must name its data file, as the descriptor gives it."""
    assert wanted, "nothing to look for"
    report = expect(package, *wanted[0])
    missing = [w for w in wanted if not matching(report, *w)]
    assert not missing, f"not reported: {missing}"
    declared = {r["name"]: r.get("path") for r in json.loads((package / "datapackage.json").read_text())["resources"]}
    for rule, resource, row, field in wanted:
        if rule[0] in "SFX":
            assert matching(report, rule, resource, row, field)[0]["file"] == declared[resource]
    return report


def fields_of(package: Path, resource: str, kind: str | None = None, constraint: str | None = None) -> list[dict]:
    return [f for f in schema_of(package, resource)["fields"]
            if (kind is None or f.get("type", "string") == kind)
            and (constraint is None or constraint in f.get("constraints", {}))]


def free_text_field(package: Path, resource: str) -> str:
    """A string field with no constraints at all (notes, in every table)."""
    return next(f["name"] for f in fields_of(package, resource, "string") if not f.get("constraints"))


def row_count(package: Path, resource: str) -> int:
    return len(read_csv(csv_path(package, resource))[1])


def edit_descriptor(package: Path, change) -> None:
    path = package / "datapackage.json"
    descriptor = json.loads(path.read_text(encoding="utf-8"))
    change(descriptor)
    path.write_text(json.dumps(descriptor), encoding="utf-8")


def entry(descriptor: dict, name: str) -> dict:
    return next(r for r in descriptor["resources"] if r["name"] == name)


def edit_schema(package: Path, resource: str, change) -> None:
    path = package / "schemas" / f"{resource}.schema.json"
    schema = json.loads(path.read_text(encoding="utf-8"))
    change(schema)
    path.write_text(json.dumps(schema), encoding="utf-8")


def field_entry(schema: dict, name: str) -> dict:
    return next(f for f in schema["fields"] if f["name"] == name)


# --- structure ------------------------------------------------------------------------------------


def test_shipped_package_is_valid_and_untouched(package_copy):
    before = snapshot(package_copy)
    code, report = validate_json(package_copy)
    assert code == 0, report["errors"][:5]
    assert report["rows"] == {r: row_count(package_copy, r) for r in RESOURCES}
    assert snapshot(package_copy) == before


def test_empty_file(package_copy):
    csv_path(package_copy, "sources").write_bytes(b"")
    expect(package_copy, "S05", "sources", 1, None, file=rel("sources"))
    expect_text(package_copy, "S05", "sources", rel("sources"), 1, None)


def test_header_only_in_every_table(package_copy):
    for resource in RESOURCES:
        path = csv_path(package_copy, resource)
        path.write_bytes(path.read_bytes().split(b"\n")[0] + b"\n")
    expect_each(package_copy, [("S05", r, 1, None) for r in RESOURCES])


def test_renamed_column(package_copy):
    path = csv_path(package_copy, "assets")
    header, rows = read_csv(path)
    old = header[2]
    header[2] = old + "_renamed"
    write_csv(path, header, rows)
    report = expect(package_copy, "S02", "assets", 1, old, file=rel("assets"))
    message = matching(report, "S02", "assets")[0]["message"]
    assert f"missing {old}" in message and f"{old}_renamed" in message
    expect_text(package_copy, "S02", "assets", rel("assets"), 1, old)


def test_missing_column(package_copy):
    path = csv_path(package_copy, "personnel_levels")
    header, rows = read_csv(path)
    gone = header.pop(4)
    write_csv(path, header, [row[:4] + row[5:] for row in rows])
    report = expect(package_copy, "S02", "personnel_levels", 1, gone)
    assert f"missing {gone}" in matching(report, "S02", "personnel_levels")[0]["message"]


def test_extra_column(package_copy):
    path = csv_path(package_copy, "quotes")
    header, rows = read_csv(path)
    write_csv(path, header + ["extra"], [row + [""] for row in rows])
    report = expect(package_copy, "S02", "quotes", 1, "extra")
    assert "unexpected extra" in matching(report, "S02", "quotes")[0]["message"]


def test_duplicated_column(package_copy):
    path = csv_path(package_copy, "events")
    header, rows = read_csv(path)
    replaced, header[3] = header[3], header[2]
    write_csv(path, header, rows)
    report = expect(package_copy, "S02", "events", 1, replaced)
    assert f"duplicated {header[2]}" in matching(report, "S02", "events")[0]["message"]


def test_columns_reordered(package_copy):
    path = csv_path(package_copy, "sources")
    header, rows = read_csv(path)
    expected_first = header[1]
    swap = [0, 2, 1, *range(3, len(header))]
    write_csv(path, [header[i] for i in swap], [[row[i] for i in swap] for row in rows])
    report = expect(package_copy, "S02", "sources", 1, expected_first)
    assert "wrong order" in matching(report, "S02", "sources")[0]["message"]


def test_ragged_rows(package_copy):
    short, long_ = csv_path(package_copy, "events"), csv_path(package_copy, "assets")
    header, rows = read_csv(short)
    rows[1] = rows[1][:-1]
    write_csv(short, header, rows)
    long_header, long_rows = read_csv(long_)
    long_rows[2] = long_rows[2] + ["one too many"]
    write_csv(long_, long_header, long_rows)
    expect_each(package_copy, [("S03", "events", record_lines(short)[1], header[-1]),
                               ("S03", "assets", record_lines(long_)[2], None)])
    expect_text(package_copy, "S03", "events", rel("events"), record_lines(short)[1], header[-1])


def test_blank_rows(package_copy):
    path = csv_path(package_copy, "personnel_levels")
    lines = path.read_text(encoding="utf-8").split("\n")
    lines.insert(2, "")
    path.write_text("\n".join(lines), encoding="utf-8")
    commas = csv_path(package_copy, "quotes")
    header, rows = read_csv(commas)
    rows.insert(1, [""] * len(header))  # a row of empty cells: ",,,,"
    write_csv(commas, header, rows)
    assert ",,,," in commas.read_text(encoding="utf-8")
    expect_each(package_copy, [("S04", "personnel_levels", 3, None), ("S04", "quotes", 3, None)])


def test_binary_garbage(package_copy):
    csv_path(package_copy, "sources").write_bytes(bytes(range(256)) * 16)
    tail = csv_path(package_copy, "events")
    data = tail.read_bytes()
    tail.write_bytes(data + bytes(range(128, 256)) * 4)  # garbage without NUL or line breaks after the last row
    expect_each(package_copy, [("S01", "sources", 1, None), ("S01", "events", data.count(b"\n") + 1, None)])


def test_truncated_mid_row(package_copy):
    path = csv_path(package_copy, "assets")
    header, rows = read_csv(path)
    k = len(rows) // 2
    full = csv_text([header, *rows])
    cut = csv_text([header, *rows[:k]]) + csv_text([rows[k][:3]]).rstrip("\n")
    assert full.startswith(cut)
    path.write_text(cut, encoding="utf-8")
    expect(package_copy, "S03", "assets", k + 2, header[3])


def test_truncated_inside_a_quoted_cell(package_copy):
    field = free_text_field(package_copy, "quotes")
    k = row_count(package_copy, "quotes") - 2
    line = set_cells(package_copy, "quotes", {(k, field): 'He said "stop", then left, twice'})[(k, field)]
    path = csv_path(package_copy, "quotes")
    data = path.read_bytes()
    path.write_bytes(data[: data.index(b'He said ""stop""') + 10])
    report = expect(package_copy, "S03", "quotes", line, None)
    assert "unclosed quote" in matching(report, "S03", "quotes", line)[0]["message"]


def test_truncated_inside_a_character(package_copy):
    field = free_text_field(package_copy, "events")
    line = set_cells(package_copy, "events", {(3, field): "Talks in Montréal"})[(3, field)]
    path = csv_path(package_copy, "events")
    data = path.read_bytes()
    path.write_bytes(data[: data.index("é".encode()) + 1])
    expect(package_copy, "S01", "events", line, None)


def test_latin1(package_copy):
    field = free_text_field(package_copy, "personnel_levels")
    set_cells(package_copy, "personnel_levels", {(1, field): "Montréal"})
    path = csv_path(package_copy, "personnel_levels")
    data = path.read_text(encoding="utf-8").encode("latin-1", errors="replace")
    first = next(i for i, line in enumerate(data.split(b"\n"), start=1) if any(b >= 0x80 for b in line))
    path.write_bytes(data)
    expect(package_copy, "S01", "personnel_levels", first, None)
    output = expect_text(package_copy, "S01", "personnel_levels", rel("personnel_levels"), first, None)
    assert "UTF-8" in output


def test_utf16(package_copy):
    for resource, encoding in (("sources", "utf-16"), ("quotes", "utf-16-le"), ("assets", "utf-32")):
        path = csv_path(package_copy, resource)
        path.write_bytes(path.read_text(encoding="utf-8").encode(encoding))
    report = expect_each(package_copy, [("S01", "sources", 1, None), ("S01", "quotes", 1, None),
                                        ("S01", "assets", 1, None)])
    assert "UTF-16" in matching(report, "S01", "sources")[0]["message"]
    assert "UTF-32" in matching(report, "S01", "assets")[0]["message"]


def test_mixed_line_endings(package_copy):
    path = csv_path(package_copy, "events")
    lines = path.read_bytes().split(b"\n")
    path.write_bytes(b"\r\n".join(lines[:4]) + b"\n" + b"\n".join(lines[4:]))
    expect(package_copy, "S06", "events", 4, None)


# --- benign variants: as Excel and editors write them ---------------------------------------------


def test_excel_bom_and_crlf_are_valid(package_copy):
    for resource in RESOURCES:
        path = csv_path(package_copy, resource)
        path.write_bytes(codecs.BOM_UTF8 + path.read_bytes().replace(b"\n", b"\r\n"))
    code, report = validate_json(package_copy)
    assert code == 0, report["errors"][:5]
    assert report["rows"] == {r: row_count(package_copy, r) for r in RESOURCES}


def test_excel_line_break_inside_a_cell_is_valid(package_copy):
    field = free_text_field(package_copy, "events")
    set_cells(package_copy, "events", {(2, field): "line one\nline two", (4, field): "windows one\r\nwindows two"})
    path = csv_path(package_copy, "assets")
    header, rows = read_csv(path)
    rows[1][header.index(free_text_field(package_copy, "assets"))] = "line one\nline two"
    path.write_text(csv_text([header, *rows], terminator="\r\n"), encoding="utf-8", newline="")
    code, report = validate_json(package_copy)
    assert code == 0, report["errors"][:5]


def test_missing_final_newline_is_valid(package_copy):
    for resource in RESOURCES:
        path = csv_path(package_copy, resource)
        path.write_bytes(path.read_bytes().rstrip(b"\r\n"))
    code, report = validate_json(package_copy)
    assert code == 0, report["errors"][:5]
    assert report["rows"] == {r: row_count(package_copy, r) for r in RESOURCES}


# --- values ---------------------------------------------------------------------------------------

BAD_VALUES = {
    "integer": ["12.5", "twelve", "1e3", " 7", "99999999999999999999", "1,000", "٣"],
    "number": ["12,5", "abc", "1.2.3", "- 4", "1 000", "0x10", "$5", "inf", "nan", "+INF", "Infinity", "1_000"],
    "date": ["2017-02-29", "2017-13-01", "2017-1-5", "17-01-05", "2017/01/05", "0000-01-01", "2017-00-10",
             "2017-01-32", "2016-02-30", "2017-04-31", "2017-01-05T00:00", " 2017-01-05"],
}


@pytest.mark.parametrize("variant", range(max(map(len, BAD_VALUES.values()))))
def test_every_typed_field_broken(package_copy, variant):
    wanted = []
    for resource in RESOURCES:
        typed = [f["name"] for f in schema_of(package_copy, resource)["fields"] if f.get("type") in BAD_VALUES]
        kinds = {f["name"]: f["type"] for f in schema_of(package_copy, resource)["fields"]}
        n = row_count(package_copy, resource)
        changes = {(j % n, name): BAD_VALUES[kinds[name]][variant % len(BAD_VALUES[kinds[name]])]
                   for j, name in enumerate(typed)}
        lines = set_cells(package_copy, resource, changes)
        wanted += [("F01", resource, lines[key], key[1]) for key in changes]
    expect_each(package_copy, wanted)


def test_number_spellings_of_the_table_schema_are_valid(package_copy):
    numbers = [(r, f["name"]) for r in RESOURCES for f in fields_of(package_copy, r, "number")]
    if not numbers:
        pytest.skip("no number field")
    for spelling in ("1e3", ".5", "5.", "+7", "INF", "0012.50"):
        for resource, field in numbers:
            set_cells(package_copy, resource, {(0, field): spelling})
        code, report = validate_json(package_copy)
        assert code == 0, (spelling, report["errors"][:3])


def test_nul_byte_in_a_cell(package_copy):
    field = free_text_field(package_copy, "assets")
    line = set_cells(package_copy, "assets", {(2, field): "a\x00b"})[(2, field)]
    report = expect(package_copy, "S01", "assets", line, None)
    assert "NUL" in matching(report, "S01", "assets")[0]["message"]


def test_out_of_range(package_copy):
    wanted = []
    for resource in RESOURCES:
        changes = {}
        for j, f in enumerate(fields_of(package_copy, resource)):
            bounds = f.get("constraints", {})
            if "minimum" in bounds:
                step = 1 if f["type"] == "integer" else 0.5
                changes[(j % row_count(package_copy, resource), f["name"])] = str(bounds["minimum"] - step)
            if "maximum" in bounds:
                step = 1 if f["type"] == "integer" else 0.5
                changes[((j + 1) % row_count(package_copy, resource), f["name"])] = str(bounds["maximum"] + step)
        if changes:
            lines = set_cells(package_copy, resource, changes)
            wanted += [("F06", resource, lines[key], key[1]) for key in changes]
    if not wanted:
        pytest.skip("no field has a minimum or maximum")
    expect_each(package_copy, wanted)


def test_not_a_number_is_out_of_range(package_copy):
    wanted = []
    for resource in RESOURCES:
        bounded = [f["name"] for f in fields_of(package_copy, resource, "number", "minimum")]
        if bounded:
            lines = set_cells(package_copy, resource, {(0, bounded[0]): "NaN"})
            wanted.append(("F06", resource, lines[(0, bounded[0])], bounded[0]))
    if not wanted:
        pytest.skip("no number field has a minimum")
    expect_each(package_copy, wanted)


def primary_key(package: Path, resource: str) -> str:
    key = schema_of(package, resource)["primaryKey"]
    return key if isinstance(key, str) else key[0]


def test_duplicate_primary_key_in_every_table(package_copy):
    wanted = []
    for resource in RESOURCES:
        key = primary_key(package_copy, resource)
        header, rows = read_csv(csv_path(package_copy, resource))
        lines = set_cells(package_copy, resource, {(1, key): rows[0][header.index(key)]})
        wanted.append(("F08", resource, lines[(1, key)], key))
    expect_each(package_copy, wanted)


def test_missing_primary_key_in_every_table(package_copy):
    wanted = []
    for resource in RESOURCES:
        key = primary_key(package_copy, resource)
        lines = set_cells(package_copy, resource, {(0, key): ""})
        wanted.append(("F08", resource, lines[(0, key)], key))
    expect_each(package_copy, wanted)


def unused_id(existing: set[str]) -> str:
    """An ID shaped like the existing ones (same prefix and digit count) that none of them has."""
    sample = sorted(existing)[0]
    digits = re.search(r"[0-9]+$", sample).group()
    for number in range(10 ** len(digits) - 1, 0, -1):
        candidate = sample[: -len(digits)] + str(number).zfill(len(digits))
        if candidate not in existing:
            return candidate
    raise AssertionError("no free ID")


def test_dangling_foreign_key_in_every_foreign_key(package_copy):
    wanted = []
    for resource in RESOURCES:
        header, rows = read_csv(csv_path(package_copy, resource))
        changes = {}
        for fk in schema_of(package_copy, resource).get("foreignKeys", []):
            field = fk["fields"] if isinstance(fk["fields"], str) else fk["fields"][0]
            target = fk["reference"]["resource"] or resource
            target_field = fk["reference"]["fields"]
            target_field = target_field if isinstance(target_field, str) else target_field[0]
            t_header, t_rows = read_csv(csv_path(package_copy, target))
            existing = {r[t_header.index(target_field)] for r in t_rows}
            used = {index for index, _ in changes}
            filled = [i for i, r in enumerate(rows) if r[header.index(field)]]
            index = next((i for i in filled if i not in used), filled[0])  # a row of its own where there is one
            changes[(index, field)] = unused_id(existing)
        if changes:
            lines = set_cells(package_copy, resource, changes)
            wanted += [("F09", resource, lines[key], key[1]) for key in changes]
    assert len(wanted) == sum(len(schema_of(package_copy, r).get("foreignKeys", [])) for r in RESOURCES)
    expect_each(package_copy, wanted)


def test_enum_violation_in_every_enum_field(package_copy):
    wanted = []
    for resource in RESOURCES:
        enums = [f["name"] for f in fields_of(package_copy, resource, "string", "enum")]
        n = row_count(package_copy, resource)
        changes = {(j % n, name): "not_a_listed_value" for j, name in enumerate(enums)}
        if changes:
            lines = set_cells(package_copy, resource, changes)
            wanted += [("F04", resource, lines[key], key[1]) for key in changes]
    expect_each(package_copy, wanted)


def test_megabyte_cells(package_copy):
    wanted = []
    for resource in RESOURCES:
        field = free_text_field(package_copy, resource)
        lines = set_cells(package_copy, resource, {(0, field): "Lorem ipsum " * 200_000})
        wanted.append(("D05", resource, lines[(0, field)], field))
    report = expect_each(package_copy, wanted)
    assert all(len(e["value"] or "") <= 80 for e in report["errors"]), "values in a report must stay short"


@pytest.mark.parametrize("prefix", ["=", "+", "-", "@"])
def test_formula_looking_text(package_copy, prefix):
    wanted = []
    for resource in RESOURCES:
        field = free_text_field(package_copy, resource)
        lines = set_cells(package_copy, resource, {(0, field): prefix + 'HYPERLINK("http://x","click")'})
        wanted.append(("X06", resource, lines[(0, field)], field))
    expect_each(package_copy, wanted)


# --- descriptor -----------------------------------------------------------------------------------


@pytest.mark.parametrize("content", [b"{not json", b"", b"[1, 2]", b"null", b'{"resources": [', b"\xff\xfe{}",
                                     '{"name": "x"}'.encode("utf-16"), b'{"a": ' + b"1" * 5000 + b"}"],
                         ids=["not-json", "empty", "array", "null", "truncated", "not-utf8", "utf16", "huge-number"])
def test_unreadable_descriptor(package_copy, content):
    (package_copy / "datapackage.json").write_bytes(content)
    expect_unreadable(package_copy, "D01", "datapackage.json")


def test_descriptor_as_argument_and_missing(package_copy, tmp_path):
    code, _ = validate_json(package_copy / "datapackage.json")
    assert code == 0
    expect_unreadable(tmp_path / "nowhere", "D01", "no such file")
    (tmp_path / "empty").mkdir()
    expect_unreadable(tmp_path / "empty", "D01", "no datapackage.json")


def test_deeply_nested_descriptor(package_copy):
    (package_copy / "datapackage.json").write_text("[" * 100_000 + "]" * 100_000)
    expect_unreadable(package_copy, "D05", "nests deeper")


def test_descriptor_with_lone_surrogate(package_copy):
    edit_descriptor(package_copy, lambda d: d.update(title="\ud800"))
    assert "\\ud800" in (package_copy / "datapackage.json").read_text()
    expect_unreadable(package_copy, "D01", "not Unicode")


def test_terminal_escapes_in_names_are_not_printed(package_copy):
    edit_descriptor(package_copy, lambda d: entry(d, "events").update(name="\x1b[2J\x1b]0;pwned\x07events"))
    path = csv_path(package_copy, "quotes")
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace(text.split(",")[0], "quote_id\x1b[31m", 1), encoding="utf-8")
    result = invoke(package_copy)
    assert_calm(result)
    assert result.exit_code == 1
    assert "\x1b" not in result.output and "\x07" not in result.output
    assert "\\x1b[2J" in result.output


def test_missing_resources(package_copy):
    edit_descriptor(package_copy, lambda d: d.pop("resources"))
    expect(package_copy, "D02", None, None, "resources", file="datapackage.json")
    edit_descriptor(package_copy, lambda d: d.update(resources=[]))
    report = expect(package_copy, "D02", "events", None, "resources")
    assert {e["resource"] for e in report["errors"] if e["rule"] == "D02"} == set(RESOURCES)
    edit_descriptor(package_copy, lambda d: d.update(resources=["events", 5, None]))
    expect(package_copy, "D02", None, None, "resources")


def outside_file(package: Path, relative: str) -> Path:
    """A copy of a package file placed just outside the package."""
    outside = package.parent / ("outside-" + Path(relative).name)
    shutil.copy(package / relative, outside)
    return outside


UNSAFE = {
    "absolute": lambda package, relative: str(outside_file(package, relative)),
    "dotdot": lambda package, relative: "../" + outside_file(package, relative).name,
    "dotdot-inside": lambda package, relative: "data/../../" + outside_file(package, relative).name,
    "url": lambda package, relative: "https://example.org/" + relative,
    "protocol-relative": lambda package, relative: "//example.org/" + relative,
    "file-url": lambda package, relative: "file://" + str(package / relative),
    "windows-drive": lambda package, relative: "C:\\data\\events.csv",
    "backslash-dotdot": lambda package, relative: "..\\" + outside_file(package, relative).name,
    "backslash": lambda package, relative: relative.replace("/", "\\"),
    "nul": lambda package, relative: relative + "\x00.txt",
}


@pytest.mark.parametrize("prop", ["path", "schema"])
@pytest.mark.parametrize("kind", sorted(UNSAFE))
def test_unsafe_paths_are_refused(package_copy, kind, prop):
    resource = RESOURCES[sorted(UNSAFE).index(kind) % len(RESOURCES)]
    relative = rel(resource) if prop == "path" else f"schemas/{resource}.schema.json"
    value = UNSAFE[kind](package_copy, relative)
    edit_descriptor(package_copy, lambda d: entry(d, resource).update({prop: value}))
    report = expect(package_copy, "D03", resource, None, prop, file="datapackage.json")
    assert report["rows"].get(resource) is None, "a refused resource must not be read"


@pytest.mark.parametrize("prop", ["path", "schema"])
def test_links_leaving_the_package_are_refused(package_copy, prop):
    relative = rel("events") if prop == "path" else "schemas/events.schema.json"
    outside = outside_file(package_copy, relative)
    (package_copy / relative).unlink()
    os.symlink(outside, package_copy / relative)
    report = expect(package_copy, "D03", "events", None, prop)
    assert "link" in matching(report, "D03", "events")[0]["message"]


@pytest.mark.parametrize("prop", ["path", "schema"])
def test_link_loops_are_refused(package_copy, prop):
    relative = rel("quotes") if prop == "path" else "schemas/quotes.schema.json"
    (package_copy / relative).unlink()
    os.symlink(Path(relative).name, package_copy / relative)
    report = expect(package_copy, "D03", "quotes", None, prop)
    assert "loop" in matching(report, "D03", "quotes")[0]["message"]


def test_fifos_are_never_opened(package_copy):
    """Reading a FIFO would block for ever: a data file, a schema or a descriptor that is one is refused."""
    fifos = [csv_path(package_copy, "events"), package_copy / "schemas" / "assets.schema.json"]
    for fifo in fifos:
        fifo.unlink()
        os.mkfifo(fifo)
    writers = [threading.Thread(target=_feed_fifo, args=(fifo,), daemon=True) for fifo in fifos]
    for writer in writers:
        writer.start()  # if validate opened a FIFO it would read "{}" rather than hang, and the test would fail
    try:
        report = expect_each(package_copy, [("S05", "events", None, None), ("D04", "assets", None, "schema")])
        assert "not a regular file" in matching(report, "S05", "events")[0]["message"]
        assert "not a regular file" in matching(report, "D04", "assets")[0]["message"]
        descriptor = package_copy / "datapackage.json"
        descriptor.unlink()
        os.mkfifo(descriptor)
        expect_unreadable(descriptor, "D01", "not a regular file")
    finally:
        for fifo in fifos:
            os.close(os.open(fifo, os.O_RDONLY | os.O_NONBLOCK))  # release a writer still waiting


def _feed_fifo(fifo: Path) -> None:
    with contextlib.suppress(OSError), open(fifo, "w") as handle:
        handle.write("{}")


def test_overlong_path(package_copy):
    edit_descriptor(package_copy, lambda d: entry(d, "sources").update(path="x" * 300 + ".csv"))
    report = expect(package_copy, "S05", "sources", None, None)
    assert "too long" in matching(report, "S05", "sources")[0]["message"]
    result = invoke(package_copy)
    assert max(len(line) for line in result.output.splitlines()) < 400, "a file name is shortened in the report"


def test_linked_data_folder_leaving_the_package_is_refused(package_copy):
    outside = package_copy.parent / "outside-data"
    shutil.move(package_copy / "data", outside)
    os.symlink(outside, package_copy / "data")
    expect_each(package_copy, [("D03", r, None, "path") for r in RESOURCES])


def test_link_staying_inside_the_package_is_allowed(package_copy):
    (package_copy / "data" / "real").mkdir()
    shutil.move(csv_path(package_copy, "events"), package_copy / "data" / "real" / "events.csv")
    os.symlink("real/events.csv", csv_path(package_copy, "events"))
    code, report = validate_json(package_copy)
    assert code == 0, report["errors"][:5]


def test_data_path_is_a_folder_or_missing(package_copy):
    edit_descriptor(package_copy, lambda d: (entry(d, "events").update(path="data"),
                                             entry(d, "assets").update(path="data/nothing.csv"),
                                             entry(d, "quotes").update(path=["data/quotes.csv"])))
    report = expect_each(package_copy, [("S05", "events", None, None), ("S05", "assets", None, None),
                                        ("D02", "quotes", None, "path")])
    assert "not a regular file" in matching(report, "S05", "events")[0]["message"]
    assert "not found" in matching(report, "S05", "assets")[0]["message"]


def test_unsupported_csv_formats_are_named(package_copy):
    edit_descriptor(package_copy, lambda d: (entry(d, "events").update(encoding="latin-1"),
                                             entry(d, "assets").update(dialect={"delimiter": ";"}),
                                             entry(d, "quotes").update(format="xlsx")))
    expect_each(package_copy, [("D02", "events", None, "encoding"), ("D02", "assets", None, "dialect"),
                               ("D02", "quotes", None, "format")])


SCHEMA_DAMAGE = {
    "not-an-object": (lambda s: s.clear() or s.update(fields="id"), "non-empty 'fields' list"),
    "field-without-name": (lambda s: s["fields"][0].pop("name"), "non-empty string 'name'"),
    "field-twice": (lambda s: s["fields"].append(dict(s["fields"][0])), "listed twice"),
    "reserved-name": (lambda s: s["fields"][-1].update(name="__row"), "reserved"),
    "unknown-type": (lambda s: s["fields"][-1].update(type="geopoint"), "unsupported type"),
    "type-not-string": (lambda s: s["fields"][-1].update(type=["string"]), "unsupported type"),
    "date-format": (lambda s: next(f for f in s["fields"] if f.get("type") == "date").update(format="%d/%m/%Y"),
                    "format"),
    "constraints-not-object": (lambda s: s["fields"][-1].update(constraints=[1]), "not an object"),
    "required-not-boolean": (lambda s: s["fields"][-1].update(constraints={"required": "yes"}), "true or false"),
    "enum-not-list": (lambda s: s["fields"][-1].update(constraints={"enum": "abc"}), "enum"),
    "bad-regex": (lambda s: s["fields"][-1].update(constraints={"pattern": "(["}), "regular expression"),
    "look-ahead-regex": (lambda s: s["fields"][-1].update(constraints={"pattern": "(?=a)a"}), "regular expression"),
    "pattern-not-string": (lambda s: s["fields"][-1].update(constraints={"pattern": 5}), "pattern"),
    "minimum-not-number": (lambda s: s["fields"][-1].update(type="integer", constraints={"minimum": "0"}), "minimum"),
    "minimum-on-date": (lambda s: next(f for f in s["fields"] if f.get("type") == "date").update(
        constraints={"minimum": "2014-01-01"}), "minimum"),
    "length-not-integer": (lambda s: s["fields"][-1].update(constraints={"maxLength": "9"}), "maxLength"),
    "missing-values": (lambda s: s.update(missingValues=["", "NA"]), "missingValues"),
    "primary-key-unknown": (lambda s: s.update(primaryKey="nope"), "primaryKey"),
    "primary-key-number": (lambda s: s.update(primaryKey=5), "primaryKey"),
    "foreign-keys-not-list": (lambda s: s.update(foreignKeys={"fields": "source_id"}), "foreignKeys"),
    "foreign-key-unknown-fields": (lambda s: s.update(foreignKeys=[{"fields": ["a", "b"],
                                                                     "reference": {"resource": "sources",
                                                                                   "fields": ["x", "y"]}}]),
                                   "do not exist"),
    "foreign-key-uneven": (lambda s: s.update(foreignKeys=[{"fields": ["event_id", "source_id"],
                                                            "reference": {"resource": "sources",
                                                                          "fields": ["source_id"]}}]),
                           "names 2 fields but 'reference.fields' names 1"),
    "foreign-key-no-reference": (lambda s: s.update(foreignKeys=[{"fields": "source_id"}]), "reference"),
    "foreign-key-unknown-resource": (lambda s: s["foreignKeys"][0]["reference"].update(resource="nope"),
                                     "not a resource"),
    "foreign-key-unknown-field": (lambda s: s["foreignKeys"][0]["reference"].update(fields="nope"),
                                  "does not exist"),
}


@pytest.mark.parametrize("damage", sorted(SCHEMA_DAMAGE))
def test_unusable_schema_is_named(package_copy, damage):
    change, fragment = SCHEMA_DAMAGE[damage]
    edit_schema(package_copy, "events", change)
    report = expect(package_copy, "D04", "events", None, "schema", file="schemas/events.schema.json")
    assert fragment in matching(report, "D04", "events")[0]["message"]
    assert report["rows"].get("events") is None, "a table with an unusable schema must not be checked against it"


@pytest.mark.parametrize("content", [b"{not json", b"[" * 10_000, b"", b'"fields"'], ids=["json", "deep", "empty", "string"])
def test_unreadable_schema_file(package_copy, content):
    (package_copy / "schemas" / "assets.schema.json").write_bytes(content)
    rule = "D05" if content.startswith(b"[[") else "D04"
    expect(package_copy, rule, "assets", None, "schema", file="schemas/assets.schema.json")


def test_schema_path_is_a_folder_or_missing(package_copy):
    edit_descriptor(package_copy, lambda d: (entry(d, "events").update(schema="schemas"),
                                             entry(d, "assets").update(schema="schemas/nothing.json")))
    expect_each(package_copy, [("D04", "events", None, "schema"), ("D04", "assets", None, "schema")])


def test_self_reference_names_its_own_table(package_copy):
    """A foreign key with reference.resource "" points at its own table (Table Schema), checked as such."""
    def self_reference(schema: dict) -> None:
        schema.setdefault("foreignKeys", []).append(
            {"fields": "source_id", "reference": {"resource": "", "fields": "source_id"}})
    edit_schema(package_copy, "sources", self_reference)
    code, report = validate_json(package_copy)
    assert code == 0, report["errors"][:5]
    edit_schema(package_copy, "events", lambda s: s["foreignKeys"].append(
        {"fields": "source_id", "reference": {"resource": "", "fields": "event_id"}}))
    report = expect(package_copy, "F09", "events", record_lines(csv_path(package_copy, "events"))[0], "source_id")
    assert "no events row" in matching(report, "F09", "events")[0]["message"]


# --- remote input and the network -------------------------------------------------------------------


@pytest.mark.parametrize("url", ["https://example.org/op-impact.zip", "http://example.org/datapackage.json",
                                 "ftp://example.org/pkg", "file:///etc"])
def test_url_argument_is_refused(url):
    message = expect_unreadable(url, "D03", "URLs are refused", "never uses the network")
    assert message.startswith(url)


@pytest.mark.parametrize("name", ["x" * 5000, "x/" * 3000], ids=["long-name", "deep-path"])
def test_overlong_package_argument(tmp_path, name):
    message = expect_unreadable(tmp_path / name, "D01", "cannot be opened")
    assert len(message) < 400


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to open a socket or resolve a name fails the test loudly."""
    attempts = []

    def refuse(*args, **kwargs):
        attempts.append(args)
        raise AssertionError("validate tried to use the network")

    class NoSocket(socket.socket):
        def __init__(self, *args, **kwargs):
            refuse(*args)

    monkeypatch.setattr(socket, "socket", NoSocket)
    for name in ("create_connection", "getaddrinfo", "gethostbyname", "socketpair"):
        monkeypatch.setattr(socket, name, refuse)
    return attempts


def test_validate_never_uses_the_network(package_copy, tmp_path, no_network):
    with pytest.raises(AssertionError):
        socket.create_connection(("example.org", 80))  # the guard itself works
    no_network.clear()
    assert validate_json(package_copy)[0] == 0
    assert validate_json(zip_package(package_copy, tmp_path / "release.zip"))[0] == 0
    assert validate_json("https://example.org/op-impact.zip")[0] == 2
    edit_descriptor(package_copy, lambda d: (entry(d, "events").update(path="https://example.org/events.csv"),
                                             entry(d, "assets").update(schema="https://example.org/a.json")))
    expect_each(package_copy, [("D03", "events", None, "path"), ("D03", "assets", None, "schema")])
    assert no_network == []


# --- release zips ---------------------------------------------------------------------------------


@pytest.fixture
def private_tmp(tmp_path, monkeypatch) -> Path:
    """Send temporary folders to a folder of the test's own, to prove validate removes what it unpacks."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


@pytest.mark.parametrize("prefix", ["", "op-impact-1.0.0/"])
def test_release_zip_is_validated_and_cleaned_up(package_copy, tmp_path, private_tmp, prefix):
    archive = zip_package(package_copy, tmp_path / "release.zip", prefix)
    before = archive.read_bytes()
    code, report = validate_json(archive)
    assert code == 0, report["errors"][:5]
    assert archive.read_bytes() == before
    assert list(private_tmp.iterdir()) == []


def _patched_zip(source: Path, dest: Path, change) -> Path:
    data = bytearray(source.read_bytes())
    change(data)
    dest.write_bytes(bytes(data))
    return dest


def _set_method(data: bytearray, method: int) -> None:
    data[8:10] = struct.pack("<H", method)  # first local header
    central = data.index(b"PK\x01\x02")
    data[central + 10:central + 12] = struct.pack("<H", method)


def _set_encrypted(data: bytearray) -> None:
    data[6] |= 1
    data[data.index(b"PK\x01\x02") + 8] |= 1


def _broken_zips(package: Path, folder: Path) -> dict[str, tuple[Path, str, str]]:
    """name -> (zip, rule, message fragment)."""
    good = zip_package(package, folder / "good.zip")
    stored = folder / "stored.zip"
    with zipfile.ZipFile(stored, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("datapackage.json", (package / "datapackage.json").read_bytes())
    cases = {}
    data = good.read_bytes()
    (folder / "truncated.zip").write_bytes(data[: len(data) // 2])
    cases["truncated"] = (folder / "truncated.zip", "D01", "damaged or truncated")
    (folder / "garbage.zip").write_bytes(b"PK\x03\x04" + bytes(range(256)))
    cases["garbage"] = (folder / "garbage.zip", "D01", "not a readable zip")
    damaged = bytearray(data)
    damaged[60:90] = b"\xff" * 30  # inside the first entry's compressed data
    (folder / "damaged.zip").write_bytes(bytes(damaged))
    cases["damaged-data"] = (folder / "damaged.zip", "D01", "zip")
    cases["method"] = (_patched_zip(stored, folder / "method.zip", lambda d: _set_method(d, 97)), "D01", "cannot be read")
    cases["encrypted"] = (_patched_zip(stored, folder / "encrypted.zip", _set_encrypted), "D01", "encrypted")
    cases["dotdot"] = (zip_package(package, folder / "dotdot.zip", extra={"../evil.txt": b"x"}), "D03", "'..'")
    cases["absolute"] = (zip_package(package, folder / "absolute.zip", extra={"/tmp/evil.txt": b"x"}), "D03",
                         "absolute")
    link = zip_package(package, folder / "link.zip")
    with zipfile.ZipFile(link, "a") as archive:
        info = zipfile.ZipInfo("data/link.csv")
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(info, "/etc/passwd")
    cases["symlink"] = (link, "D03", "symbolic link")
    duplicate = zip_package(package, folder / "duplicate.zip")
    with pytest.warns(UserWarning), zipfile.ZipFile(duplicate, "a") as archive:
        archive.writestr("data/events.csv", b"event_id\n")
    cases["duplicate"] = (duplicate, "D03", "twice")
    cases["file-and-folder"] = (zip_package(package, folder / "clash.zip", extra={"data/events.csv/x": b"x"}),
                                "D01", "cannot be unpacked")
    cases["bomb"] = (zip_package(package, folder / "bomb.zip", extra={"data/zeros.bin": bytes(4 * 1024**2)}),
                     "D05", "zip bomb")
    nothing = folder / "nothing.zip"
    with zipfile.ZipFile(nothing, "w") as archive:
        archive.writestr("README.txt", b"hello")
    cases["no-descriptor"] = (nothing, "D01", "no datapackage.json")
    (folder / "text.zip").write_text("just text")
    cases["not-a-zip"] = (folder / "text.zip", "D01", "not a readable zip")
    return cases


def test_broken_and_hostile_zips(package_copy, tmp_path, private_tmp):
    folder = tmp_path / "zips"
    folder.mkdir()
    cases = _broken_zips(package_copy, folder)
    outside = tmp_path / "evil.txt"
    for name, (archive, rule, fragment) in cases.items():
        before = archive.read_bytes()
        message = expect_unreadable(archive, rule, fragment)
        assert str(archive) in message, (name, message)
        assert archive.read_bytes() == before, name
        assert list(private_tmp.iterdir()) == [], f"{name}: unpacked files were left behind"
        assert not outside.exists() and not Path("/tmp/evil.txt").exists(), name


# --- limits (rule D05), each lowered so the real package goes over it ------------------------------


def test_limit_cell_size(package_copy, monkeypatch):
    header, rows = read_csv(csv_path(package_copy, "quotes"))
    longest = max(len(cell) for row in rows for cell in row)
    index, column = next((i, j) for i, row in enumerate(rows) for j, cell in enumerate(row) if len(cell) == longest)
    monkeypatch.setattr(limits, "MAX_CELL_CHARS", longest - 1)
    report = expect(package_copy, "D05", "quotes", record_lines(csv_path(package_copy, "quotes"))[index],
                    header[column])
    assert f"over the limit of {longest - 1}" in matching(report, "D05", "quotes")[0]["message"]
    monkeypatch.setattr(limits, "MAX_CELL_CHARS", longest)
    assert not matching(validate_json(package_copy)[1], "D05", "quotes")


def test_limit_rows(package_copy, monkeypatch):
    counts = {r: row_count(package_copy, r) for r in RESOURCES}
    limit = sorted(counts.values())[len(counts) // 2]
    monkeypatch.setattr(limits, "MAX_ROWS", limit)
    over = [r for r, n in counts.items() if n > limit]
    report = expect_each(package_copy, [("D05", r, None, None) for r in over])
    assert {e["resource"] for e in report["errors"] if e["rule"] == "D05"} == set(over)
    assert all(f"more than {limit} rows" in e["message"] for e in report["errors"] if e["rule"] == "D05")
    assert not set(over) & set(report["rows"]), "a table over the row limit must not be loaded"


def test_limit_file_size(package_copy, monkeypatch):
    sizes = {r: csv_path(package_copy, r).stat().st_size for r in RESOURCES}
    limit = sorted(sizes.values())[2]
    monkeypatch.setattr(limits, "MAX_FILE_BYTES", limit)
    over = [r for r, n in sizes.items() if n > limit]
    report = expect_each(package_copy, [("D05", r, None, None) for r in over])
    assert {e["resource"] for e in report["errors"] if e["rule"] == "D05"} == set(over)


def test_limit_descriptor_size(package_copy, monkeypatch):
    size = (package_copy / "datapackage.json").stat().st_size
    monkeypatch.setattr(limits, "MAX_DESCRIPTOR_BYTES", size - 1)
    expect_unreadable(package_copy, "D05", "datapackage.json", f"limit of {size - 1} bytes")


def test_limit_schema_size(package_copy, monkeypatch):
    sizes = {r: (package_copy / "schemas" / f"{r}.schema.json").stat().st_size for r in RESOURCES}
    limit = max((package_copy / "datapackage.json").stat().st_size, min(sizes.values()))
    monkeypatch.setattr(limits, "MAX_DESCRIPTOR_BYTES", limit)
    over = [r for r, n in sizes.items() if n > limit]
    expect_each(package_copy, [("D05", r, None, "schema") for r in over])


def test_limit_json_depth(package_copy, monkeypatch):
    monkeypatch.setattr(limits, "MAX_JSON_DEPTH", 2)
    expect_unreadable(package_copy, "D05", "nests deeper than the limit of 2")


@pytest.mark.parametrize("name,value,fragment", [
    ("MAX_ZIP_ENTRIES", 3, "entries, over the limit of 3"),
    ("MAX_ZIP_ENTRY_BYTES", 100, "over the limit"),
    ("MAX_ZIP_TOTAL_BYTES", 1000, "over the limit of 1000"),
])
def test_limit_zip(package_copy, tmp_path, private_tmp, monkeypatch, name, value, fragment):
    archive = zip_package(package_copy, tmp_path / "release.zip")
    assert validate_json(archive)[0] == 0
    monkeypatch.setattr(limits, name, value)
    expect_unreadable(archive, "D05", fragment)
    assert list(private_tmp.iterdir()) == []


def test_limit_zip_ratio(package_copy, tmp_path, private_tmp, monkeypatch):
    words = csv_path(package_copy, "events").read_text(encoding="utf-8").split()
    rng = random.Random(7)
    text = " ".join(rng.choice(words) for _ in range(400_000)).encode()  # over 1 MiB, compressing like real text
    assert len(text) > 1024**2
    archive = zip_package(package_copy, tmp_path / "release.zip", extra={"data/notes.txt": text})
    assert validate_json(archive)[0] == 0, "a real CSV compresses far less than the limit"
    monkeypatch.setattr(limits, "MAX_ZIP_RATIO", 1)
    expect_unreadable(archive, "D05", "compression ratio over 1")


def limits_section() -> str:
    """The README's "Limits and safety" section, or the draft the lead merges into it."""
    root = Path(__file__).resolve().parent.parent
    lines = (root / "README.md").read_text(encoding="utf-8").splitlines()
    start = next((i for i, line in enumerate(lines) if re.fullmatch(r"#+ Limits and safety", line)), None)
    if start is None:
        draft = root / "docs" / "_draft_limits.md"
        assert draft.is_file(), "README.md has no 'Limits and safety' section"
        return draft.read_text(encoding="utf-8")
    level = lines[start].index(" ")
    end = next((i for i in range(start + 1, len(lines)) if re.match(rf"#{{1,{level}}} ", lines[i])), len(lines))
    return "\n".join(lines[start:end])


def test_every_limit_is_stated_in_the_readme():
    section = limits_section()
    values = {name: value for name, value in vars(limits).items() if name.startswith("MAX_")}
    assert len(values) >= 9
    missing = [name for name, value in values.items() if f"{value:,}" not in section]
    assert not missing, f"limits whose value the README does not state: {missing}"
