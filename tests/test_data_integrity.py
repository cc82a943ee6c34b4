"""The shipped data keeps the rules of evidence: clean bytes, gapless IDs, own words, canonical names, proof."""

from __future__ import annotations

import csv
import hashlib
import json
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from opimpact.provenance import fold_text

REPO = Path(__file__).resolve().parent.parent
DESCRIPTOR = json.loads((REPO / "datapackage.json").read_text(encoding="utf-8"))
RESOURCES = [r["name"] for r in DESCRIPTOR["resources"]]
OWN_WORDS = {"events": ["summary"], "assets": ["role"], "personnel_levels": ["scope"]}
CANONICAL_SPEAKERS = {"Jonathan Vance", "Harjit Sajjan", "Michael Fallon", "Daniel MacIsaac"}
LONGEST_SHARED_RUN = 8  # words; a longer run shared with the article means copied text


def rows(name: str) -> list[dict[str, str]]:
    with open(REPO / "data" / f"{name}.csv", newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def source_texts(archive: Path) -> dict[str, str]:
    return {s["source_id"]: (archive / s["archive_file"]).read_text(encoding="utf-8") for s in rows("sources")}


def shared_run(a: str, b: str, length: int) -> str | None:
    """The first run of `length` words of a that also occurs in b (case and punctuation ignored)."""
    words = re.findall(r"[\w']+", a.lower())
    haystack = " " + " ".join(re.findall(r"[\w']+", b.lower())) + " "
    for i in range(len(words) - length + 1):
        run = " ".join(words[i:i + length])
        if f" {run} " in haystack:
            return run
    return None


@pytest.mark.parametrize("name", RESOURCES)
def test_csv_bytes_are_clean(name):
    data = (REPO / "data" / f"{name}.csv").read_bytes()
    assert not data.startswith(b"\xef\xbb\xbf"), "no byte-order mark"
    assert b"\r" not in data, "LF line endings only"
    assert data.endswith(b"\n")
    data.decode("utf-8")


@pytest.mark.parametrize("name", RESOURCES)
def test_header_is_schema_field_order(name):
    schema = json.loads((REPO / "schemas" / f"{name}.schema.json").read_text())
    with open(REPO / "data" / f"{name}.csv", newline="", encoding="utf-8") as handle:
        header = next(csv.reader(handle))
    assert header == [f["name"] for f in schema["fields"]]


@pytest.mark.parametrize("name", RESOURCES)
def test_ids_run_without_gaps(name):
    schema = json.loads((REPO / "schemas" / f"{name}.schema.json").read_text())
    (key,) = schema["primaryKey"]
    numbers = [int(r[key].split("-")[1]) for r in rows(name)]
    assert numbers == list(range(1, len(numbers) + 1))


def test_speakers_are_canonical():
    speakers = {q["speaker"] for q in rows("quotes") if q["speaker"]}
    assert speakers <= CANONICAL_SPEAKERS, speakers - CANONICAL_SPEAKERS


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


def test_public_record_facts_are_flagged():
    """Any date before the sources' own references must be explained in notes."""
    for name in ("events", "assets"):
        for row in rows(name):
            if "public record" in row["notes"].lower():
                assert "not in the text" in row["notes"].lower()


def test_checksums_match_archive(archive):
    for source in rows("sources"):
        digest = hashlib.sha256((archive / source["archive_file"]).read_bytes()).hexdigest()
        assert digest == source["sha256"], source["archive_file"]


def test_quotes_and_evidence_are_verbatim(archive):
    texts = {k: fold_text(v) for k, v in source_texts(archive).items()}
    for name in ("events", "assets", "personnel_levels", "quotes"):
        for row in rows(name):
            assert fold_text(row["evidence"]) in texts[row["source_id"]], (name, row["evidence"])
    for quote in rows("quotes"):
        assert fold_text(quote["text"]) in texts[quote["source_id"]], quote["quote_id"]


def test_summaries_are_own_words(archive):
    texts = source_texts(archive)
    for name, fields in OWN_WORDS.items():
        for row in rows(name):
            for field in fields:
                copied = shared_run(row[field], texts[row["source_id"]], LONGEST_SHARED_RUN)
                assert copied is None, f"{name} {field} copies the article: {copied!r}"


@given(st.lists(st.sampled_from(["alpha", "beta", "gamma", "delta"]), min_size=0, max_size=30),
       st.integers(min_value=1, max_value=6))
def test_shared_run_finds_exactly_the_runs_present(words, length):
    text = " ".join(words)
    assert (shared_run(text, text, length) is not None) == (len(words) >= length)
    assert shared_run(text, "omega " * 10, length) is None
