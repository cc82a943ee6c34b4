"""Hostile and merely unusual inputs for every command: each trial checks the promises of the README's "Limits
and safety" table through promise_helpers.attempt (exit code, no traceback, file/row/field named, inputs
byte-identical, no partial, stray or temporary output, terminal-safe text, no network), plus what the trial is
about. Trials are named command-promise-case, so `pytest -k xlsx` or `-k alias` selects them.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import sqlite3
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner
from promise_helpers import attempt, copy_tree, make_released_repo, make_workspace, shallow_clone

from opimpact import limits
from opimpact.cli import cli

from helpers import read_csv, set_cell, write_csv

ESC = "\x1b[2J\x1b[31m"  # clear the screen, then red
BIDI = "\u202e"  # right-to-left override
ZWSP = "\u200b"  # zero-width space
BOM = "\ufeff"


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    return make_workspace(tmp_path_factory.mktemp("base") / "pkg")


@pytest.fixture(scope="module")
def released_base(tmp_path_factory) -> Path:
    return make_released_repo(tmp_path_factory.mktemp("released") / "repo")


@pytest.fixture
def pkg(base: Path, tmp_path: Path) -> Path:
    return copy_tree(base, tmp_path / "pkg")


@pytest.fixture
def repo(released_base: Path, tmp_path: Path) -> Path:
    return copy_tree(released_base, tmp_path / "repo")


def edit_json(path: Path, change) -> None:
    document = json.loads(path.read_text(encoding="utf-8"))
    change(document)
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def edit_field(root: Path, resource: str, field: str, change) -> None:
    def edit(schema: dict) -> None:
        change(next(f for f in schema["fields"] if f["name"] == field))
    edit_json(root / "schemas" / f"{resource}.schema.json", edit)


def drop_limits(root: Path, resource: str, field: str) -> None:
    edit_field(root, resource, field, lambda f: f.get("constraints", {}).pop("minimum", None))


def replace_in(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new), encoding="utf-8")


def fifo(path: Path) -> Path:
    if os.path.lexists(path):
        path.unlink()
    os.mkfifo(path)
    return path


def billion_laughs(levels: int = 9) -> str:
    text = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    previous = "a"
    for name in "bcdefghijklm"[:levels - 1]:
        text += f"{name}: &{name} [" + ",".join([f"*{previous}"] * 9) + "]\n"
        previous = name
    return text + f"title: *{previous}\nauthors:\n  - name: x\n"


def line_endings(data: bytes) -> set[bytes]:
    """The kinds of line ending in data."""
    crlf = data.count(b"\r\n")
    found = set()
    if crlf:
        found.add(b"\r\n")
    if data.count(b"\r") > crlf:
        found.add(b"\r")
    if data.count(b"\n") > crlf:
        found.add(b"\n")
    return found


# ================================================================ output never aliases an input (exit 2)

ALIASES = {
    "data-file": "data/events.csv",
    "schema": "schemas/assets.schema.json",
    "descriptor": "datapackage.json",
    "citation": "CITATION.cff",
    "changelog": "CHANGELOG.md",
}


@pytest.mark.parametrize("what", ALIASES)
@pytest.mark.parametrize("command", ["xlsx", "sqlite", "codebook"])
def test_export_alias_input_refused(pkg: Path, command: str, what: str) -> None:
    target = ALIASES[what]
    attempt(pkg, ["export", command, ".", "--out", target], 2, target, "an input of this command", "nothing was written")


@pytest.mark.parametrize("what", ["data-file", "schema", "descriptor"])
def test_plot_alias_input_refused(pkg: Path, what: str) -> None:
    """A picture must end in .png or .svg, so the package's files are given such names here."""
    def renamed(d: dict) -> None:
        for r in d["resources"]:
            if r["path"] == "data/events.csv":
                r["path"] += ".png"
            if r["schema"] == "schemas/assets.schema.json":
                r["schema"] += ".png"
    edit_json(pkg / "datapackage.json", renamed)
    os.rename(pkg / "data" / "events.csv", pkg / "data" / "events.csv.png")
    os.rename(pkg / "schemas" / "assets.schema.json", pkg / "schemas" / "assets.schema.json.png")
    os.rename(pkg / "datapackage.json", pkg / "datapackage.json.png")
    out = {"data-file": "data/events.csv.png", "schema": "schemas/assets.schema.json.png",
           "descriptor": "datapackage.json.png"}[what]
    attempt(pkg, ["plot", "datapackage.json.png", "--out", out], 2, out, "an input of this command")


@pytest.mark.parametrize("command", ["xlsx", "sqlite", "codebook", "plot"])
def test_export_alias_through_a_link_or_a_second_name_refused(pkg: Path, command: str) -> None:
    suffix = {"xlsx": ".xlsx", "sqlite": ".sqlite", "codebook": ".md", "plot": ".png"}[command]
    (pkg / "links").mkdir()
    os.symlink(pkg / "data" / "events.csv", pkg / "links" / f"symbolic{suffix}")
    os.link(pkg / "data" / "assets.csv", pkg / "links" / f"hard{suffix}")
    for name in (f"links/symbolic{suffix}", f"links/hard{suffix}"):
        argv = ["plot", ".", "--out", name] if command == "plot" else ["export", command, ".", "--out", name]
        attempt(pkg, argv, 2, "an input of this command")


@pytest.mark.parametrize("command", ["xlsx", "sqlite", "codebook", "plot"])
def test_export_refusals_create_no_folders(pkg: Path, command: str) -> None:
    name = {"xlsx": "x.xlsx", "sqlite": "x.sqlite", "codebook": "x.md", "plot": "x.png"}[command]

    def argv(package: str, out: str) -> list[str]:
        return ["plot", package, "--out", out] if command == "plot" else ["export", command, package, "--out", out]

    attempt(pkg, argv("missing-folder", f"new/deeper/{name}"), 2, "missing-folder")
    if command != "plot":
        attempt(pkg, argv(".", "new/../data/events.csv"), 2, "an input of this command")
    if command != "codebook":  # the codebook is written even for data that do not validate
        set_cell(pkg, "events", 0, "event_id", "broken")
        attempt(pkg, argv(".", f"new/deeper/{name}"), 1, "does not validate", "nothing was written")
    assert not (pkg / "new").exists()


def test_export_zip_input_is_not_overwritten(pkg: Path, tmp_path: Path) -> None:
    from corruption_helpers import zip_package

    zip_package(pkg, pkg / "release.zip")
    attempt(pkg, ["export", "xlsx", "release.zip", "--out", "release.zip"], 2, "package given to the command")


def test_sqlite_two_outputs_one_file_refused(pkg: Path) -> None:
    attempt(pkg, ["export", "sqlite", ".", "--out", "x.sqlite", "--metadata", "x.sqlite"], 2, "two outputs")
    attempt(pkg, ["export", "sqlite", ".", "--out", "x.sqlite", "--metadata", "data/quotes.csv"], 2,
            "data file of resource quotes")


def test_release_records_and_artifacts_are_inputs_of_exports(repo: Path) -> None:
    attempt(repo, ["export", "codebook", ".", "--out", "releases/1.0.0.json"], 2, "release record")
    attempt(repo, ["export", "xlsx", ".", "--out", "dist/1.0.0/op-impact-1.0.0.xlsx"], 2, "release artifact")


@pytest.mark.parametrize("command", ["xlsx", "sqlite", "codebook", "plot"])
def test_export_out_fifo_refused(pkg: Path, command: str) -> None:
    name = {"xlsx": "x.xlsx", "sqlite": "x.sqlite", "codebook": "x.md", "plot": "x.png"}[command]
    fifo(pkg / name)
    argv = ["plot", ".", "--out", name] if command == "plot" else ["export", command, ".", "--out", name]
    attempt(pkg, argv, 2, "not a regular file")


def test_codebook_check_out_fifo_refused(pkg: Path) -> None:
    fifo(pkg / "codebook.md")
    attempt(pkg, ["export", "codebook", ".", "--out", "codebook.md", "--check"], 2, "FIFO")


# ================================================================ values a format cannot hold: exact or refused

def set_day(pkg: Path, index: int, day: str) -> None:
    """Date a personnel figure to one day, every column of its date group agreeing (X09)."""
    for field, value in (("date_start", day), ("date_end", ""), ("date_precision", "day"), ("date_kind", "as_of"),
                         ("date_edtf", day), ("date_earliest", day), ("date_latest", day)):
        set_cell(pkg, "personnel_levels", index, field, value)


def test_xlsx_values_excel_would_change_are_written_as_text(pkg: Path) -> None:
    drop_limits(pkg, "events", "amount_cad")
    header, rows = read_csv(pkg / "data" / "events.csv")
    column = header.index("amount_cad")
    amounts = ["NaN", "INF", "0.30000000000000004", "371500000.5"]
    for row, value in zip(rows[:len(amounts)], amounts, strict=True):
        row[column] = value
    write_csv(pkg / "data" / "events.csv", header, rows)
    set_cell(pkg, "personnel_levels", 0, "count", "9007199254740993")  # 2^53 + 1
    set_day(pkg, 0, "0001-01-01")
    attempt(pkg, ["export", "xlsx", ".", "--out", "x.xlsx"], 0, outputs=["x.xlsx"])
    book = openpyxl.load_workbook(pkg / "x.xlsx")
    written = [r[column] for r in book["events"].iter_rows(min_row=2, values_only=True)]
    assert written[:4] == ["NaN", "INF", "0.30000000000000004", 371500000.5]
    fields = read_csv(pkg / "data" / "personnel_levels.csv")[0]
    count, start = fields.index("count"), fields.index("date_start")
    people = list(book["personnel_levels"].iter_rows(min_row=2, values_only=True))
    assert people[0][count] == "9007199254740993" and people[0][start] == "0001-01-01"
    assert people[2][count] == 600 and isinstance(people[2][start], dt.datetime)  # ordinary values stay typed


def test_sqlite_values_are_stored_exactly(pkg: Path) -> None:
    drop_limits(pkg, "events", "amount_cad")
    set_cell(pkg, "events", 0, "amount_cad", "NaN")
    set_cell(pkg, "events", 1, "amount_cad", "-INF")
    set_cell(pkg, "personnel_levels", 0, "count", str(2**63 - 1))
    set_day(pkg, 0, "0001-01-01")
    attempt(pkg, ["export", "sqlite", ".", "--out", "x.sqlite"], 0, outputs=["x.sqlite", "x.metadata.json"])
    con = sqlite3.connect(pkg / "x.sqlite")
    try:
        amounts = [r[0] for r in con.execute('SELECT amount_cad FROM events ORDER BY event_id')]
        counts = dict(con.execute("SELECT personnel_id, count FROM personnel_levels"))
        day = con.execute("SELECT date_start FROM personnel_levels WHERE personnel_id = 'pl-0001'").fetchone()[0]
    finally:
        con.close()
    assert amounts[0] == "NaN" and amounts[1] == float("-inf")  # SQLite would have stored NaN as NULL
    assert counts["pl-0001"] == 2**63 - 1 and day == "0001-01-01"


def test_xlsx_text_longer_than_a_cell_refused_not_truncated(pkg: Path) -> None:
    edit_json(pkg / "datapackage.json", lambda d: d.update(description="x" * 40_000))
    attempt(pkg, ["export", "xlsx", ".", "--out", "new/x.xlsx"], 1, "README sheet", "Excel cell", "nothing was written")
    assert not (pkg / "new").exists()


def test_integer_beyond_int64_is_refused_by_validation(pkg: Path) -> None:
    set_cell(pkg, "personnel_levels", 0, "count", str(2**64 + 1))
    attempt(pkg, ["validate", "."], 1, "data/personnel_levels.csv", "row 2", "field count")
    attempt(pkg, ["export", "sqlite", ".", "--out", "x.sqlite"], 1, "does not validate")


# ================================================================ dates at the edges of the calendar

# day, precision, EDTF, latest possible day (a winter of 9999 would end in the year 10000: no date can say so)
CALENDAR_EDGES = [("0001-01-01", "day", "0001-01-01", "0001-01-01"), ("9999-12-31", "day", "9999-12-31", "9999-12-31"),
                  ("9999-12-01", "month", "9999-12", "9999-12-31"), ("9999-01-01", "year", "9999", "9999-12-31"),
                  ("9999-09-01", "season", "9999-23", "9999-11-30")]


@pytest.mark.parametrize("day,precision,edtf,latest", CALENDAR_EDGES)
def test_plot_and_validate_draw_any_date_a_schema_allows(pkg: Path, day: str, precision: str, edtf: str,
                                                          latest: str) -> None:
    for field, value in (("date_start", day), ("date_end", ""), ("date_precision", precision), ("date_kind", "as_of"),
                         ("date_edtf", edtf), ("date_earliest", day), ("date_latest", latest)):
        set_cell(pkg, "personnel_levels", 0, field, value)
    attempt(pkg, ["validate", "."], 0, "valid")
    attempt(pkg, ["plot", ".", "--out", "t.svg"], 0, outputs=["t.svg"])


def test_plot_draws_text_as_written(pkg: Path) -> None:
    edit_json(pkg / "datapackage.json", lambda d: d.update(title=f"Cost $x^$ {ESC}{BIDI}"))
    set_cell(pkg, "assets", 0, "name", "A $\\frac{ name\a")
    attempt(pkg, ["plot", ".", "--out", "t.svg"], 0, outputs=["t.svg"])
    svg = (pkg / "t.svg").read_text(encoding="utf-8")
    assert "\x1b" not in svg and "\a" not in svg


# ================================================================ terminal-safe text, every command

def test_validate_shows_invisible_characters(pkg: Path) -> None:
    set_cell(pkg, "quotes", 0, "event_id", ZWSP + "ev-0002")  # a foreign key that looks right
    set_cell(pkg, "events", 0, "event_id", f"ev-0001{ESC}")
    edit_field(pkg, "events", "notes", lambda f: f.update(title=f"Notes{BIDI}"))
    attempt(pkg, ["validate", "."], 1, "data/quotes.csv", "field event_id", "\\u200bev-0002",
            'value "ev-0001\\u001b[2J')
    document = json.loads(attempt(pkg, ["validate", ".", "--format", "json"], 1).output)
    assert any(e["value"] == ZWSP + "ev-0002" for e in document["errors"])  # exact in JSON, escaped as \u200b


def test_cite_shows_escapes_from_citation_cff(pkg: Path) -> None:
    replace_in(pkg / "CITATION.cff", 'title: "Operation', 'title: "\\e[2J\\e[31m\\u202e\\u200b Operation')
    for fmt in ("text", "bibtex", "ris"):
        attempt(pkg, ["cite", ".", "--format", fmt], 0, "\\x1b[2J", "\\u202e", "\\u200b")
    attempt(pkg, ["cite", ".", "--format", "json"], 0, "\\u001b[2J", "\\u202e", "\\u200b")  # JSON's own escapes
    replace_in(pkg / "CITATION.cff", 'title: "', f'title: "{BIDI}{ZWSP}{BOM}\u2060')  # allowed raw in YAML
    for fmt in ("text", "json", "bibtex", "ris", "cff"):
        attempt(pkg, ["cite", ".", "--format", fmt], 0, "\\u202e\\u200b\\ufeff\\u2060")


def test_verify_shows_hostile_names(pkg: Path) -> None:
    download = pkg / "download"
    download.mkdir()
    (download / "SHA256SUMS").write_text("", encoding="utf-8")
    (download / f"evil{ESC}{BIDI}.zip").write_bytes(b"PK")
    out = attempt(pkg, ["verify", "download"], 1, "evil\\x1b[2J\\x1b[31m\\u202e.zip is not listed").output
    assert "NOT verified" in out
    document = json.loads(attempt(pkg, ["verify", "download", "--format", "json"], 1).output)
    assert any(c["file"] == f"evil{ESC}{BIDI}.zip" for c in document["checks"])


def test_diff_markdown_shows_escapes(repo: Path) -> None:
    set_cell(repo, "quotes", 0, "notes", f"{ESC}{BIDI}note{ZWSP}")
    attempt(repo, ["diff", "HEAD", "."], 0, "\\x1b[2J", "\\u202e", "\\u200b")
    document = json.loads(attempt(repo, ["diff", "HEAD", ".", "--format", "json"], 0).output)
    assert json.dumps(f"{ESC}{BIDI}note{ZWSP}")[1:-1] in json.dumps(document)  # exact in JSON


def test_release_shows_escapes_in_changes(repo: Path) -> None:
    set_cell(repo, "quotes", 0, "quote_id", f"qu-0009{ESC}")
    attempt(repo, ["release", "1.1.0", "--dry-run"], 1, "qu-0009\\u001b[2J", "release refused", "nothing was changed")


def test_click_usage_errors_are_terminal_safe(pkg: Path) -> None:
    """click's own messages echo the arguments; click strips escape sequences only when not on a terminal."""
    attempt(pkg, ["verify", f"missing{ESC}", "--record", f"r{ESC}{BIDI}.json"], 2, "\\u202e.json")
    attempt(pkg, ["plot", ".", "--out", f"x{ESC}.gif"], 2, "must end in .png or .svg")
    attempt(pkg, ["diff", f"a{BIDI}", "."], 2, "a\\u202e")


# ================================================================ bounded parsers

def test_cite_billion_laughs_refused(pkg: Path) -> None:
    (pkg / "CITATION.cff").write_text(billion_laughs(), encoding="utf-8")
    attempt(pkg, ["cite", "."], 1, "CITATION.cff", "billion laughs")


@pytest.mark.parametrize("text,fragment", [
    ("title: " + "[" * 3000 + "]" * 3000 + "\nauthors: [{name: x}]\n", "nests deeper"),
    ("title: x\nauthors: [{name: x}]\ndate-released: 0000-01-01\n", "cannot be read"),
    ("title: x\nauthors: [{name: x}]\nkeywords: 5\n", "keywords"),
    ("title: [a, b]\nauthors: [{name: x}]\n", "'title' must be text"),
    ("title: x\nauthors: [{name: [x]}]\n", "name parts"),
    ("title: x\nauthors: [{name: x}]\nversion: !!python/object:os.system x\n", "not valid YAML"),
    ("title: x\nauthors: [{name: x}]\ndate-released: 2020-02-30\n", "cannot be read"),
    ("- just a list\n", "mapping"),
])
def test_cite_unusable_citation_refused(pkg: Path, text: str, fragment: str) -> None:
    (pkg / "CITATION.cff").write_text(text, encoding="utf-8")
    attempt(pkg, ["cite", ".", "--format", "ris"], 1, "CITATION.cff", fragment)


def test_cite_oversized_and_non_regular_citation_refused(pkg: Path, monkeypatch) -> None:
    monkeypatch.setattr(limits, "MAX_TEXT_BYTES", 500)
    attempt(pkg, ["cite", "."], 2, "CITATION.cff", "larger than the limit of 500 bytes")
    fifo(pkg / "CITATION.cff")
    attempt(pkg, ["cite", "."], 2, "CITATION.cff", "FIFO")


@pytest.mark.parametrize("date", ["0001-01-01", "9999-12-31"])
def test_cite_dates_at_the_edges_of_the_calendar(pkg: Path, date: str) -> None:
    path = pkg / "CITATION.cff"
    path.write_text(re.sub(r'(?m)^date-released: .*$', f"date-released: {date}", path.read_text(encoding="utf-8")),
                    encoding="utf-8")
    for fmt in ("text", "json", "bibtex", "ris"):
        attempt(pkg, ["cite", ".", "--format", fmt], 0, str(int(date[:4])))


@pytest.mark.parametrize("document,fragment", [
    ('{"name": "op-impact", "x": NaN}', "NaN is not JSON"),
    ('{"name": "op-impact", "x": -Infinity}', "JSON has no NaN or Infinity"),
    ('{"name": "op-impact", "x": 1e400}', "out of range"),
    ("[" * 100 + "]" * 100, "nests deeper"),
])
def test_validate_descriptor_json_bounded(pkg: Path, document: str, fragment: str) -> None:
    (pkg / "datapackage.json").write_text(document, encoding="utf-8")
    attempt(pkg, ["validate", "."], 2, "datapackage.json", fragment)
    for argv in (["export", "xlsx", ".", "--out", "x.xlsx"], ["plot", ".", "--out", "x.png"], ["diff", ".", "."]):
        attempt(pkg, argv, 2, "datapackage.json", fragment)
    attempt(pkg, ["verify", "."], 1, "FAIL package", "datapackage.json", fragment)  # verify reports it as a check


def test_schema_nan_refused_and_named(pkg: Path) -> None:
    replace_in(pkg / "schemas" / "events.schema.json", '"minimum": 0', '"minimum": NaN')
    attempt(pkg, ["validate", "."], 1, "schemas/events.schema.json", "NaN is not JSON")


def test_release_record_unusable_values_refused(pkg: Path) -> None:
    (pkg / "releases").mkdir()
    (pkg / "releases" / "1.0.0.json").write_text('{"version": "1.0.0", "date": "2026-01-01", "artifacts": [], '
                                                 '"resources": [5]}', encoding="utf-8")
    attempt(pkg, ["cite", "."], 2, "releases/1.0.0.json", "every resource needs")
    (pkg / "releases" / "1.0.0.json").write_text('{"version": "1.0.0", "date": NaN, "artifacts": []}',
                                                 encoding="utf-8")
    attempt(pkg, ["cite", "."], 2, "releases/1.0.0.json", "NaN")
    attempt(pkg, ["verify", ".", "--record", "releases/1.0.0.json"], 1, "releases/1.0.0.json", "NaN")
    fifo(pkg / "releases" / "1.0.0.json")
    attempt(pkg, ["cite", "."], 2, "1.0.0.json", "FIFO")


@pytest.mark.parametrize("heading,fragment", [
    ("## [1.1.0] - 2108-01-01", "outside 1980 to 2107"),
    ("## [1.1.0] - 0001-01-01", "outside 1980 to 2107"),
    ("## [1.1.0] - 9999-12-31", "outside 1980 to 2107"),
    ("## [1.1.0] - 2026-02-30", "does not exist"),
    ("## [1.1.0]", "has no date"),
])
def test_release_changelog_dates_bounded(repo: Path, heading: str, fragment: str) -> None:
    replace_in(repo / "CHANGELOG.md", "## [1.1.0] - 2026-12-01", heading)
    attempt(repo, ["release", "1.1.0"], 1, "CHANGELOG.md", fragment, "nothing was changed")


def test_release_non_regular_and_oversized_files_refused(repo: Path, monkeypatch) -> None:
    for name in ("CHANGELOG.md", "README.md", "CITATION.cff"):
        saved = (repo / name).read_bytes()
        fifo(repo / name)
        attempt(repo, ["release", "1.1.0"], 2, name, "not a regular file")
        (repo / name).unlink()
        (repo / name).write_bytes(saved)
    monkeypatch.setattr(limits, "MAX_TEXT_BYTES", 100)
    monkeypatch.setattr(limits, "MAX_DESCRIPTOR_BYTES", 100)
    attempt(repo, ["release", "1.1.0"], 2, "larger than the limit")


def test_release_zenodo_json_nan_refused(repo: Path) -> None:
    replace_in(repo / ".zenodo.json", '"upload_type"', '"x": NaN, "upload_type"')
    attempt(repo, ["release", "1.1.0"], 1, ".zenodo.json", "NaN", "nothing was changed")


def test_verify_non_regular_inputs_refused(repo: Path) -> None:
    fifo(repo / "op-impact-1.0.0.zip")
    attempt(repo, ["verify", "op-impact-1.0.0.zip"], 2, "op-impact-1.0.0.zip", "neither a folder nor a regular file")
    (repo / "download").mkdir()
    fifo(repo / "download" / "SHA256SUMS")
    (repo / "download" / "op-impact-1.0.0.xlsx").write_bytes(b"x")
    attempt(repo, ["verify", "download"], 1, "SHA256SUMS cannot be read", "FIFO")


def test_validate_and_diff_refuse_fifos(pkg: Path) -> None:
    fifo(pkg / "other.json")
    attempt(pkg, ["validate", "other.json"], 2, "other.json", "not a regular file")
    attempt(pkg, ["diff", "other.json", "."], 2, "other.json", "not a regular file")


# ================================================================ verify says what it proved

def test_verify_without_record_is_not_verified(pkg: Path, tmp_path: Path) -> None:
    """A release folder whose data, descriptor hashes and SHA256SUMS were rewritten consistently passes every
    internal check; without its record, verify must not say "verified"."""
    from opimpact.checksums import render_sums, resource_hash, sha256_file

    from release_helpers import rewrite_zip

    assert CliRunner().invoke(cli, ["release", "1.0.0", str(pkg)]).exit_code == 0
    elsewhere = tmp_path / "elsewhere"
    download = elsewhere / "download"
    download.mkdir(parents=True)
    new_quotes = b""

    def forge(name: str, data: bytes) -> bytes:
        nonlocal new_quotes
        if name.endswith("data/quotes.csv"):
            new_quotes = data.replace(b"a key focus,", b"a key focus (forged),", 1)
            return new_quotes
        if name.endswith("datapackage.json"):
            descriptor = json.loads(data)
            quotes = next(r for r in descriptor["resources"] if r["name"] == "quotes")
            quotes.update(bytes=len(new_quotes), hash=resource_hash(new_quotes))
            return json.dumps(descriptor, indent=2).encode()
        return data

    zip_name = "op-impact-1.0.0.zip"
    rewrite_zip(pkg / "dist" / "1.0.0" / zip_name, download / zip_name, forge)
    (download / "SHA256SUMS").write_text(render_sums({zip_name: sha256_file(download / zip_name)}), encoding="utf-8")
    # the record inside the zip (release.json) catches the rewrite, unless it is rewritten or dropped too
    attempt(elsewhere, ["verify", "download"], 1, "release.json says", "NOT verified")
    rewrite_zip(pkg / "dist" / "1.0.0" / zip_name, download / zip_name, forge,
                keep=lambda name: not name.endswith("/release.json"))
    (download / "SHA256SUMS").write_text(render_sums({zip_name: sha256_file(download / zip_name)}), encoding="utf-8")
    out = attempt(elsewhere, ["verify", "download"], 1, "only internal consistency was checked",
                  "--consistency-only").output
    assert "verified against" not in out and "FAIL" not in out  # every internal check passes
    out = attempt(elsewhere, ["verify", "download", "--consistency-only"], 0, "consistent",
                  "internal consistency only").output
    assert "verified against" not in out
    document = json.loads(attempt(elsewhere, ["verify", "download", "--format", "json"], 1).output)
    assert document["verdict"] == "consistent" and document["against_record"] is False and document["ok"] is False
    record = str(pkg / "releases" / "1.0.0.json")
    attempt(elsewhere, ["verify", "download", "--record", record], 1, "the record says", "NOT verified")


def test_verify_with_the_record_catches_a_consistent_rewrite(repo: Path) -> None:
    from opimpact.checksums import resource_hash

    set_cell(repo, "quotes", 0, "notes", "rewritten")
    data = (repo / "data" / "quotes.csv").read_bytes()

    def rehash(d: dict) -> None:
        for r in d["resources"]:
            if r["name"] == "quotes":
                r.update(bytes=len(data), hash=resource_hash(data))
    edit_json(repo / "datapackage.json", rehash)
    out = attempt(repo, ["verify", "."], 1, "data/quotes.csv", "the record says").output
    assert "verified against" not in out
    attempt(repo, ["verify", ".", "--consistency-only"], 1, "NOT verified")


def test_verify_against_the_record_says_so(repo: Path) -> None:
    out = attempt(repo, ["verify", "dist/1.0.0"], 0, "verified against the release record").output
    assert "releases/1.0.0.json" in out


@pytest.mark.parametrize("ending", [b"\r\n", b"\r"], ids=["crlf", "cr"])
def test_verify_reads_sha256sums_with_any_line_ending(tmp_path: Path, repo: Path, ending: bytes) -> None:
    download = shutil.copytree(repo / "dist" / "1.0.0", tmp_path / "download")
    sums = download / "SHA256SUMS"
    sums.write_bytes(sums.read_bytes().replace(b"\n", ending))
    out = attempt(tmp_path, ["verify", "download", "--consistency-only"], 0, "matches SHA256SUMS").output
    listed = (download / "SHA256SUMS").read_bytes().count(ending)
    assert out.count("matches SHA256SUMS") == listed >= 3  # every artifact the sums list, read despite the endings


# ================================================================ release: the previous release, git, line endings

def test_release_refuses_a_shallow_clone(released_base: Path, tmp_path: Path) -> None:
    clone = shallow_clone(released_base, tmp_path / "clone")
    attempt(clone, ["release", "1.1.0", "--dry-run"], 2, "shallow clone", "git fetch --unshallow")
    attempt(clone, ["release", "1.1.0"], 2, "shallow clone", "nothing was changed")
    attempt(clone, ["diff", "1.0.0", "."], 2, "shallow clone")


def test_release_in_a_full_clone_compares_with_the_release(repo: Path) -> None:
    shutil.rmtree(repo / "dist")  # no zip to open: the release is taken from the commit that added its record
    out = attempt(repo, ["release", "1.1.0", "--dry-run"], 0, "previous release 1.0.0").output
    assert "quotes: 1 row changed" in out  # not "no change": the release, not HEAD, is compared


def test_release_says_when_git_is_missing(repo: Path, tmp_path: Path) -> None:
    shutil.rmtree(repo / "dist")  # no zip to open: git is needed to find the release
    empty = tmp_path / "no-git"
    empty.mkdir()
    env = {"PATH": str(empty)}
    attempt(repo, ["release", "1.1.0"], 2, "git is not installed", "nothing was changed", env=env)
    out = attempt(repo, ["release", "1.0.0", "--reproduce"], 2, "git is not installed", env=env).output
    assert "not inside a git repository" not in out
    attempt(repo, ["diff", "HEAD", "."], 2, "git is not installed", env=env)


@pytest.mark.parametrize("ending", [b"\r\n", b"\r"], ids=["crlf", "cr"])
def test_release_keeps_line_endings(repo: Path, ending: bytes) -> None:
    edited = ["CHANGELOG.md", "CITATION.cff", "datapackage.json", ".zenodo.json"]
    for name in edited:
        path = repo / name
        path.write_bytes(path.read_bytes().replace(b"\n", ending))
    (repo / "datapackage.json").write_bytes(BOM.encode() + (repo / "datapackage.json").read_bytes())
    outcome = attempt(repo, ["release", "1.1.0"], 0, "released 1.1.0",
                      outputs=[*edited, "releases/1.1.0.json", "dist/1.1.0"])
    for name in edited:
        data = (repo / name).read_bytes()
        assert data != outcome.before[name], name
        assert line_endings(data) == {ending}, name
    assert (repo / "datapackage.json").read_bytes().startswith(BOM.encode())
    assert b"### Data changes" in (repo / "CHANGELOG.md").read_bytes()


# ================================================================ known failures inside the engine


def test_validate_reads_cr_only_line_endings(pkg: Path) -> None:
    path = pkg / "data" / "events.csv"
    path.write_bytes(path.read_bytes().replace(b"\n", b"\r"))
    attempt(pkg, ["validate", "."], 1, "data/events.csv", "S06", "lone CR")
