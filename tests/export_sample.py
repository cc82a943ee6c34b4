"""A small valid package for the export tests: the real descriptor and schemas with a few rows of sample data.

The rows exercise what exports get wrong: accents, em dashes and curly quotes, a cell holding a line break,
text that looks like a number or says "NA", empty optional cells, dates at every precision, a large sum.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

from helpers import read_csv, write_csv

REPO = Path(__file__).resolve().parents[1]

SOURCES = [
    ["src-0001", "000_c4939ce113a6aef9.txt", "46c7d98cca704da2adf4d19c9a381fd0c6ff1d7973f64dd7811a97c387c4fc2d",
     "", "", "2018-01-01", "", "month", "", "en", "Publication month inferred from “last fall” and the new government."],
    ["src-0002", "001_9b6fd5e0c168a157.txt", "f6a5530575dfad27d321259913ac83fc48f1dfe8c905f7c93f7283e12ba0fec4",
     "Canadian military teams aid overseas efforts to topple ISIS in Mosul", "", "2016-12-01", "2017-01-01",
     "range", "", "en", ""],
    ["src-0003", "002_d764782efda2e5b7.txt", "0d8de69b29775d43c7024d8b867cd819bae42fa530540f8ea58e1b4086908f1a",
     "Canada to extend anti-ISIS operations beyond the liberation of Mosul", "Grasswire", "2017-06-01", "",
     "season", "", "en", "Publisher shown by the site icon line."],
]

EVENTS = [
    ["ev-0001", "2016-12-10", "", "day", "occurred", "context",
     "French artillery fired on Islamic State positions from Qayara — a coalition base.", "Qayara", "IRQ",
     "Armée de terre", "", "src-0002", "French soldiers shoot a canon toward Islamic State militant positions", ""],
    ["ev-0002", "2017-01-01", "", "year", "occurred", "training",
     "Canadian special forces trained Kurdish peshmerga for the battle of Mosul.", "Mosul", "IRQ",
     "Canadian Armed Forces", "", "src-0001", "The roughly 200 Canadian special forces troops in Iraq",
     "Line one of a note.\nLine two: the year is implied."],
    ["ev-0003", "2017-09-01", "", "season", "occurred", "suspension",
     "Canada suspended training of Iraqi and Kurdish forces after the referendum.", "", "IRQ", "", "",
     "src-0001", "Canada suspended its training of both Iraqi and Kurdish forces", "NA"],
    ["ev-0004", "2019-01-01", "", "year", "planned", "mandate", "The government committed troops until 2019.", "",
     "", "Government of Canada", "371500000.5", "src-0001",
     "The Trudeau government has committed to keeping troops in the war-torn country until 2019", ""],
]

ASSETS = [
    ["as-0001", "aircraft", "Aurora", "deployed", "surveillance", "2", "", "", "Kuwait", "CFB Greenwood",
     "2014-10-01", "", "month", "2017-12-01", "2018-02-01", "range", "src-0002", "two Aurora", ""],
    ["as-0002", "funding", "Équipement fund", "provided", "", "", "9500000", "Peshmerga", "", "", "", "", "", "",
     "", "", "src-0003", "fund", "Figure “as reported”."],
    ["as-0003", "team", "Role 2 combat hospital", "deployed", "medical care", "", "", "", "Erbil", "",
     "2016-06-01", "", "month", "", "", "", "src-0003", "hospital", ""],
]

PERSONNEL = [
    ["pl-0001", "2016-02-01", "", "month", "830", "at_most", "authorized_ceiling", "included",
     "CAF members on Operation IMPACT", "Iraq and Kuwait", "src-0002", "up to 830", ""],
    ["pl-0002", "2017-01-01", "", "year", "200", "approximately", "reported_estimate", "only",
     "Special forces in northern Iraq", "Iraq", "src-0001", "roughly 200", ""],
    ["pl-0003", "2017-06-01", "2017-08-01", "month", "600", "exact", "deployed", "unstated",
     "CAF members deployed", "", "src-0003", "600", "0042"],
]

QUOTES = [
    ["qu-0001", "We’re working now on the plans — to help", "statement", "Jonathan Vance",
     "Chief of the Defence Staff", "2018-01-01", "", "month", "ev-0002", "src-0001", "We're working now", ""],
    ["qu-0002", "a key focus", "fragment", "", "British Defence Secretary", "", "", "", "", "src-0002",
     "a key focus", "Speaker named only by role; l’été, naïve café."],
]

ROWS = {"sources": SOURCES, "events": EVENTS, "assets": ASSETS, "personnel_levels": PERSONNEL, "quotes": QUOTES}


def make_sample_package(dest: Path, rows: dict[str, list[list[str]]] | None = None) -> Path:
    """Write the real descriptor and schemas plus sample CSVs into dest; return dest."""
    rows = ROWS if rows is None else rows
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "datapackage.json", dest / "datapackage.json")
    shutil.copytree(REPO / "schemas", dest / "schemas", dirs_exist_ok=True)
    (dest / "data").mkdir(exist_ok=True)
    for name, table in rows.items():
        header = [field["name"] for field in schema_of(dest, name)["fields"]]
        write_csv(dest / "data" / f"{name}.csv", header, table)
    return dest


def schema_of(package: Path, name: str) -> dict:
    return json.loads((package / "schemas" / f"{name}.schema.json").read_text(encoding="utf-8"))


def typed_value(raw: str, kind: str) -> object:
    """A CSV cell as the Table Schema types it, independently of the code under test."""
    if raw == "":
        return None
    if kind == "integer":
        return int(raw)
    if kind == "number":
        return float(raw)
    if kind == "date":
        return dt.date.fromisoformat(raw)
    if kind == "boolean":
        return raw in ("true", "True", "TRUE", "1")
    return raw


def expected_table(package: Path, name: str) -> tuple[list[str], list[str], list[list[object]]]:
    """(field names, field types, typed rows) read straight from the CSV with the csv module."""
    fields = schema_of(package, name)["fields"]
    header, rows = read_csv(package / "data" / f"{name}.csv")
    kinds = [f.get("type", "string") for f in fields]
    return header, kinds, [[typed_value(cell, kind) for cell, kind in zip(row, kinds, strict=True)] for row in rows]


def resource_names(package: Path) -> list[str]:
    descriptor = json.loads((package / "datapackage.json").read_text(encoding="utf-8"))
    return [r["name"] for r in descriptor["resources"]]
