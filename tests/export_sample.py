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

# Rows as {field: value}; fields left out are empty. Each date group is given by its EDTF and filled in by
# `dated` (start, end, precision, earliest, latest), so the sample keeps the package's date rules.
SOURCES = [
    {"source_id": "src-0001", "archive_file": "000_c4939ce113a6aef9.txt",
     "sha256": "46c7d98cca704da2adf4d19c9a381fd0c6ff1d7973f64dd7811a97c387c4fc2d", "published": "2018-01",
     "language": "en", "notes": "Publication month inferred from “last fall” and the new government."},
    {"source_id": "src-0002", "archive_file": "001_9b6fd5e0c168a157.txt",
     "sha256": "f6a5530575dfad27d321259913ac83fc48f1dfe8c905f7c93f7283e12ba0fec4",
     "title": "Canadian military teams aid overseas efforts to topple ISIS in Mosul", "published": "[2016-12-01..2017-01-01]",
     "language": "en"},
    {"source_id": "src-0003", "archive_file": "002_d764782efda2e5b7.txt",
     "sha256": "0d8de69b29775d43c7024d8b867cd819bae42fa530540f8ea58e1b4086908f1a",
     "title": "Canada to extend anti-ISIS operations beyond the liberation of Mosul", "publisher": "Grasswire",
     "published": "2017-22", "language": "en", "notes": "Publisher shown by the site icon line."},
]

EVENTS = [
    {"event_id": "ev-0001", "date": "2016-12-10", "date_kind": "single", "status": "occurred", "category": "context",
     "summary": "French artillery fired on Islamic State positions from Qayara — a coalition base.", "place": "Qayara",
     "place_precision": "city", "country": "IRQ", "actor": "French forces", "attribution": "reporter",
     "source_id": "src-0002", "evidence": "French soldiers shoot a canon toward Islamic State militant positions"},
    {"event_id": "ev-0002", "date": "2017", "date_kind": "single", "status": "occurred", "category": "training",
     "summary": "Canadian special forces trained Kurdish peshmerga for the battle of Mosul.", "place": "Mosul",
     "place_precision": "city", "country": "IRQ", "actor": "Canadian Armed Forces", "attribution": "reporter",
     "source_id": "src-0001", "evidence": "The roughly 200 Canadian special forces troops in Iraq",
     "notes": "Line one of a note.\nLine two: the year is implied."},
    {"event_id": "ev-0003", "date": "2017-23", "date_kind": "single", "status": "occurred", "category": "suspension",
     "summary": "Canada suspended training of Iraqi and Kurdish forces after the referendum.", "country": "IRQ",
     "place_precision": "country", "attribution": "reporter", "source_id": "src-0001",
     "evidence": "Canada suspended its training of both Iraqi and Kurdish forces", "notes": "NA"},
    {"event_id": "ev-0004", "date": "/2019", "date_kind": "span", "status": "planned", "category": "mandate",
     "summary": "The government committed troops until 2019.", "actor": "Government of Canada",
     "attribution": "reporter", "amount_cad": "371500000.5", "source_id": "src-0001",
     "evidence": "The Trudeau government has committed to keeping troops in the war-torn country until 2019"},
    {"event_id": "ev-0005", "date": "[2017-09-01..]", "date_kind": "as_of", "status": "ongoing",
     "category": "suspension", "summary": "Training stayed suspended.", "attribution": "commander",
     "same_as": "ev-0003", "source_id": "src-0001", "evidence": "training of the peshmerga has ceased entirely"},
]

ASSETS = [
    {"asset_id": "as-0001", "kind": "aircraft", "name": "Aurora", "contribution": "deployed", "role": "surveillance",
     "quantity": "2", "based_at": "Kuwait", "origin": "CFB Greenwood", "arrived": "2014-10",
     "arrived_status": "occurred", "departed": "[2017-12-01..2018-02-01]", "departed_status": "planned",
     "departure_event_id": "ev-0001", "source_id": "src-0002", "evidence": "two Aurora"},
    {"asset_id": "as-0002", "kind": "funding", "name": "Équipement fund", "contribution": "committed",
     "amount_cad": "9500000", "recipient": "Peshmerga", "arrived_status": "planned", "source_id": "src-0003",
     "evidence": "fund", "notes": "Figure “as reported”."},
    {"asset_id": "as-0003", "kind": "team", "name": "Role 2 combat hospital", "contribution": "deployed",
     "role": "medical care", "based_at": "Erbil", "arrived": "2016-06", "arrived_status": "occurred",
     "source_id": "src-0003", "evidence": "hospital"},
    {"asset_id": "as-0004", "kind": "team", "name": "Role 2 combat hospital", "contribution": "deployed",
     "same_as": "as-0003", "source_id": "src-0001", "evidence": "hospital"},
]

PERSONNEL = [
    {"personnel_id": "pl-0001", "date": "2016-02/2019-03", "date_kind": "span", "count": "830",
     "qualifier": "at_most", "measure": "authorized_ceiling", "special_forces": "included",
     "scope": "CAF members on Operation IMPACT", "location": "Iraq and Kuwait", "attribution": "official_statement",
     "source_id": "src-0002", "evidence": "up to 830"},
    {"personnel_id": "pl-0002", "date": "2017", "date_kind": "as_of", "count": "200", "qualifier": "approximately",
     "measure": "reported_estimate", "special_forces": "only", "scope": "Special forces in northern Iraq",
     "location": "Iraq", "attribution": "media_report", "event_id": "ev-0002", "source_id": "src-0001",
     "evidence": "roughly 200"},
    {"personnel_id": "pl-0003", "date": "[2017-06-01..2017-08-01]", "date_kind": "as_of", "count": "600",
     "qualifier": "exact", "measure": "deployed", "special_forces": "unstated", "scope": "CAF members deployed",
     "attribution": "department_spokesperson", "same_as": "pl-0002", "source_id": "src-0003",
     "evidence": "600", "notes": "0042"},
]

QUOTES = [
    {"quote_id": "qu-0001", "text": "We’re working now on the plans — to help", "kind": "statement",
     "speaker": "Jonathan Vance", "speaker_role": "Chief of the Defence Staff", "date": "2018-01",
     "event_id": "ev-0002", "source_id": "src-0001", "evidence": "We're working now"},
    {"quote_id": "qu-0002", "text": "a key focus", "kind": "fragment", "speaker_role": "British Defence Secretary",
     "personnel_id": "pl-0001", "source_id": "src-0002", "evidence": "a key focus",
     "notes": "Speaker named only by role; l’été, naïve café."},
]

ROWS = {"sources": SOURCES, "events": EVENTS, "assets": ASSETS, "personnel_levels": PERSONNEL, "quotes": QUOTES}
DATE_STEMS = ("date", "arrived", "departed", "published")


def dated(row: dict[str, str]) -> dict[str, str]:
    """The row with each date group given by its EDTF (under the group's stem) spelled out in full."""
    from opimpact.edtfdates import read

    out = dict(row)
    for stem in DATE_STEMS:
        edtf = out.pop(stem, None)
        if not edtf:
            continue
        reading = read(edtf)
        assert reading.problem is None, (edtf, reading.problem)
        for part in ("start", "end", "precision", "earliest", "latest"):
            value = getattr(reading, part)
            out[f"{stem}_{part}"] = "" if value is None else str(value)
        out[f"{stem}_edtf"] = edtf
    return out


def make_sample_package(dest: Path, rows: dict[str, list[dict[str, str]]] | None = None) -> Path:
    """Write the real descriptor and schemas plus sample CSVs into dest; return dest."""
    rows = ROWS if rows is None else rows
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "datapackage.json", dest / "datapackage.json")
    shutil.copytree(REPO / "schemas", dest / "schemas", dirs_exist_ok=True)
    (dest / "data").mkdir(exist_ok=True)
    for name, table in rows.items():
        header = [field["name"] for field in schema_of(dest, name)["fields"]]
        records = [dated(row) for row in table]
        for record in records:
            assert set(record) <= set(header), (name, set(record) - set(header))
        write_csv(dest / "data" / f"{name}.csv", header, [[r.get(f, "") for f in header] for r in records])
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
