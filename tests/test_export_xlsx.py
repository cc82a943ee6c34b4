"""The Excel workbook: read back with openpyxl, it equals the CSVs cell for cell, types included."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner

from opimpact.cli import cli
from opimpact.export_common import ExportError, InvalidPackage
from opimpact.export_xlsx import EXCEL_MAX_CELL_CHARS, MAX_WIDTH, MIN_WIDTH, write_workbook

from export_sample import expected_table, resource_names, schema_of
from helpers import read_csv, set_cell, snapshot


def cell_value(cell) -> object:
    """An openpyxl cell as the typed value it stands for (dates come back as midnight datetimes)."""
    value = cell.value
    if isinstance(value, dt.datetime):
        assert cell.is_date and value.time() == dt.time(0), f"{cell.coordinate}: a date cell must be a plain date"
        return value.date()
    return value


def assert_sheet_equals_csv(book, package: Path, name: str) -> None:
    header, kinds, rows = expected_table(package, name)
    sheet = book[name]
    got = list(sheet.iter_rows())
    assert [c.value for c in got[0]] == header
    assert len(got) - 1 == len(rows), f"{name}: {len(got) - 1} data rows in the sheet, {len(rows)} in the CSV"
    for index, (cells, expected) in enumerate(zip(got[1:], rows, strict=True), start=2):
        for cell, want, kind in zip(cells, expected, kinds, strict=True):
            have = cell_value(cell)
            where = f"{name}!{cell.coordinate} (CSV line {index})"
            assert have == want, f"{where}: {have!r} != {want!r}"
            if want is None:
                continue
            if kind == "integer":
                assert type(have) is int, f"{where}: integer read back as {type(have).__name__}"
            elif kind == "number":
                assert isinstance(have, (int, float)) and cell.data_type == "n", where
            elif kind == "date":
                assert cell.data_type == "d", where
            else:
                assert type(have) is str and cell.data_type == "s", f"{where}: text stored as {cell.data_type}"


def test_workbook_equals_csvs_cell_for_cell(any_package: Path, tmp_path: Path) -> None:
    package = any_package
    out = tmp_path / "op.xlsx"
    write_workbook(package, out)
    book = openpyxl.load_workbook(out)
    names = resource_names(package)
    assert book.sheetnames == ["README", *names, "codebook"]
    for name in names:
        assert_sheet_equals_csv(book, package, name)


def test_no_formula_cells_even_for_formula_like_text(sample_package: Path, tmp_path: Path) -> None:
    # validation forbids such text (X06); bypass it to prove the writer never makes formulas anyway
    set_cell(sample_package, "events", 0, "notes", "=HYPERLINK(\"http://x\")")
    set_cell(sample_package, "events", 1, "notes", "+1")
    out = tmp_path / "op.xlsx"
    write_workbook(sample_package, out, check=False)
    book = openpyxl.load_workbook(out)
    formulas = [f"{s.title}!{c.coordinate}" for s in book for row in s.iter_rows() for c in row if c.data_type == "f"]
    assert formulas == []
    notes = column_of(sample_package, "events", "notes")
    assert book["events"][f"{notes}2"].value == "=HYPERLINK(\"http://x\")"
    assert book["events"][f"{notes}3"].value == "+1"


def test_text_that_looks_like_a_number_stays_text(sample_package: Path, tmp_path: Path) -> None:
    out = tmp_path / "op.xlsx"
    write_workbook(sample_package, out)
    sheet = openpyxl.load_workbook(out)["personnel_levels"]
    notes = [c.value for c in sheet[column_of(sample_package, "personnel_levels", "notes")]]
    assert "0042" in notes
    events_notes = column_of(sample_package, "events", "notes")
    assert "NA" in [c.value for c in openpyxl.load_workbook(out)["events"][events_notes]]


def column_of(package: Path, name: str, field: str) -> str:
    """The spreadsheet column letter of a field (the sheet's columns follow the schema)."""
    from openpyxl.utils import get_column_letter

    names = [f["name"] for f in schema_of(package, name)["fields"]]
    return get_column_letter(names.index(field) + 1)


def test_accents_dashes_and_curly_quotes_survive(sample_package: Path, tmp_path: Path) -> None:
    out = tmp_path / "op.xlsx"
    write_workbook(sample_package, out)
    book = openpyxl.load_workbook(out)
    texts = {c.value for s in book for row in s.iter_rows() for c in row if isinstance(c.value, str)}
    for expected in ("We’re working now on the plans — to help", "Équipement fund", "Figure “as reported”."):
        assert expected in texts


def test_layout_header_bold_frozen_widths(sample_package: Path, tmp_path: Path) -> None:
    out = tmp_path / "op.xlsx"
    write_workbook(sample_package, out)
    book = openpyxl.load_workbook(out)
    for name in resource_names(sample_package):
        sheet = book[name]
        assert sheet.freeze_panes == "A2", name
        assert all(c.font.b for c in sheet[1]), f"{name}: header not bold"
        widths = {letter: dim.width for letter, dim in sheet.column_dimensions.items()}
        assert widths and all(MIN_WIDTH <= w <= MAX_WIDTH + 1 for w in widths.values()), widths
    events = book["events"]
    assert events.column_dimensions["G"].width > events.column_dimensions["A"].width  # summary wider than id


def test_readme_and_codebook_sheets(sample_package: Path, tmp_path: Path) -> None:
    out = tmp_path / "op.xlsx"
    write_workbook(sample_package, out, version="9.8.7")
    book = openpyxl.load_workbook(out)
    readme = {row[0]: row[1] for row in book["README"].iter_rows(values_only=True) if row[0]}
    assert readme["Version"] == "9.8.7"
    assert "CC-BY-4.0" in readme["Licence"]
    assert "9.8.7" in readme["How to cite"] and "Operation IMPACT" in readme["How to cite"]
    codebook = list(book["codebook"].iter_rows(values_only=True))
    assert codebook[0][:4] == ("table", "field", "title", "type")
    listed = {(row[0], row[1]) for row in codebook[1:]}
    for name in resource_names(sample_package):
        for field in schema_of(sample_package, name)["fields"]:
            assert (name, field["name"]) in listed


def test_two_exports_are_byte_identical(sample_package: Path, tmp_path: Path) -> None:
    write_workbook(sample_package, tmp_path / "a.xlsx")
    write_workbook(sample_package, tmp_path / "b.xlsx")
    assert (tmp_path / "a.xlsx").read_bytes() == (tmp_path / "b.xlsx").read_bytes()


def test_created_property_comes_from_the_descriptor(sample_package: Path, tmp_path: Path) -> None:
    write_workbook(sample_package, tmp_path / "a.xlsx")
    created = json.loads((sample_package / "datapackage.json").read_text(encoding="utf-8"))["created"]
    expected = dt.datetime.fromisoformat(created.replace("Z", "+00:00")).replace(tzinfo=None)
    assert openpyxl.load_workbook(tmp_path / "a.xlsx").properties.created == expected


def test_cell_too_long_for_excel_is_refused_and_nothing_written(sample_package: Path, tmp_path: Path) -> None:
    set_cell(sample_package, "events", 0, "notes", "x" * (EXCEL_MAX_CELL_CHARS + 1))
    out = tmp_path / "op.xlsx"
    with pytest.raises(ExportError, match="do not fit in an Excel cell"):
        write_workbook(sample_package, out)
    assert list(tmp_path.glob("*.xlsx")) == [] and list(tmp_path.glob(".op.xlsx*")) == []


def test_invalid_package_is_refused(sample_package: Path, tmp_path: Path) -> None:
    set_cell(sample_package, "assets", 0, "quantity", "two")
    with pytest.raises(InvalidPackage):
        write_workbook(sample_package, tmp_path / "op.xlsx")
    assert not (tmp_path / "op.xlsx").exists()


def test_cli_exit_codes(sample_package: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "out" / "op.xlsx"
    ok = runner.invoke(cli, ["export", "xlsx", str(sample_package), "--out", str(out)])
    assert ok.exit_code == 0, ok.output
    assert out.is_file()

    set_cell(sample_package, "events", 0, "date_start", "2016-02-30")
    before = snapshot(tmp_path)
    bad = runner.invoke(cli, ["export", "xlsx", str(sample_package), "--out", str(tmp_path / "bad.xlsx")])
    assert bad.exit_code == 1
    assert "opimpact validate" in bad.output and "Traceback" not in bad.output
    assert snapshot(tmp_path) == before

    missing = runner.invoke(cli, ["export", "xlsx", str(tmp_path / "nowhere"), "--out", str(tmp_path / "x.xlsx")])
    assert missing.exit_code == 2
    assert "nowhere" in missing.output and not (tmp_path / "x.xlsx").exists()


@pytest.mark.skipif(shutil.which("soffice") is None, reason="LibreOffice is not installed (apt-get install "
                    "libreoffice-calc-nogui); openpyxl tests above still cover the workbook")
def test_libreoffice_reads_the_same_cells(sample_package: Path, tmp_path: Path) -> None:
    """A real spreadsheet program opens the workbook and saves every table sheet back as the original CSV."""
    book = tmp_path / "op.xlsx"
    write_workbook(sample_package, book)
    # CSV filter options: comma, double quote, UTF-8, from line 1, ..., every sheet to its own file
    options = "csv:Text - txt - csv (StarCalc):44,34,76,1,,0,false,true,true,false,false,-1"
    profile = (tmp_path / "lo-profile").as_uri()
    done = subprocess.run(["soffice", f"-env:UserInstallation={profile}", "--headless", "--convert-to", options,
                           str(book), "--outdir", str(tmp_path / "lo")], capture_output=True, text=True,
                          check=False, timeout=240, env={**os.environ, "HOME": str(tmp_path)})
    assert done.returncode == 0, done.stderr
    for name in resource_names(sample_package):
        got = read_csv(tmp_path / "lo" / f"op-{name}.csv")
        assert got == read_csv(sample_package / "data" / f"{name}.csv"), name
