"""What the shipped data must be that no validation rule says: misspellings kept inside
verbatim text, enough rows, no invented URLs, and every outside fact listed in the README.

The rules of evidence themselves are validation rules now, each tested on a seeded defect in
tests/test_validate_rules.py: canonical speakers, actors and places (F04, the schemas' enums), verbatim quotes
and evidence (P03, P04), checksums (P02), own words (P05), the header order (S02), identity and typed links (X08,
X10), EDTF dates (X09), the public-record flag (X11) and byte-clean files (S07, with --archive: `opimpact
validate` alone accepts a file as Excel saves it).
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DESCRIPTOR = json.loads((REPO / "datapackage.json").read_text(encoding="utf-8"))
RESOURCES = [r["name"] for r in DESCRIPTOR["resources"]]
PUBLIC_RECORD = "Public record, not in the text"


def rows(name: str) -> list[dict[str, str]]:
    with open(REPO / "data" / f"{name}.csv", newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_misspellings_stay_inside_verbatim_text():
    verbatim = {"text", "evidence"}
    for name in RESOURCES:
        for row in rows(name):
            for field, value in row.items():
                if field not in verbatim and field != "notes":
                    assert "MacIssac" not in value, f"{name} {field}: {value}"


def test_dataset_is_complete_enough():
    """The four articles hold well over fifty facts and more than fifteen quotations."""
    facts = sum(len(rows(n)) for n in ("events", "assets", "personnel_levels"))
    assert facts > 50
    assert len(rows("quotes")) > 15
    assert all(any(r["source_id"] == s["source_id"] for r in rows("quotes")) for s in rows("sources"))


def test_no_invented_urls():
    assert all(not s["url"] for s in rows("sources")), "the archived texts state no URL"


def public_record_rows() -> set[str]:
    found = set()
    for name in RESOURCES:
        for row in rows(name):
            if PUBLIC_RECORD in row.get("notes", ""):
                found.add(next(iter(row.values())))
    return found


def test_every_public_record_fill_is_listed_in_the_readme():
    """The README's list of outside facts names exactly the rows whose notes carry the flag."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("<!-- public-record:start -->", 1)[1].split("<!-- public-record:end -->", 1)[0]
    listed = set(re.findall(r"`((?:ev|as|pl|qu|src)-[0-9]{4})`", section))
    assert listed == public_record_rows()
