"""Hypothesis fuzzing of every command's inputs: descriptor, Table Schemas, CSV bytes, CITATION.cff, CHANGELOG.md,
release records and zips. Each example runs the commands that read that input and checks the same promises as
test_promises.py (promise_helpers.attempt): a documented exit code, no traceback, inputs byte-identical, no
partial, stray or temporary output, terminal-safe text, no network.

Example counts are fixed here (settings per test) and stated in the README; under the CI profile (tests/conftest.py)
the examples are derandomized, so CI runs the same examples every time.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
import tempfile
import warnings
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from promise_helpers import attempt, copy_tree, make_workspace

from opimpact.changelog import ChangelogError, dated_release, parse_changelog, release_date, with_subsection
from opimpact.cli import cli
from opimpact.dates import latest_possible

from helpers import read_csv, write_csv


def fuzz(examples: int) -> settings:
    return settings(max_examples=examples, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.filter_too_much])


# Example counts, stated in the README ("Limits and safety"): keep the two in step.
EXAMPLES = {"descriptor": 30, "schema": 30, "csv": 30, "citation": 200, "changelog-cli": 25, "changelog": 300,
            "record": 40, "zip": 100, "plot": 10, "dates": 500}
CODES = (0, 1, 2)


@pytest.fixture(scope="module")
def bases(tmp_path_factory) -> dict[str, Path]:
    """A valid package ready for a release, and a copy of it released as 1.0.0 (dist/1.0.0 and its record)."""
    root = tmp_path_factory.mktemp("fuzz")
    plain = make_workspace(root / "plain")
    released = copy_tree(plain, root / "released")
    assert CliRunner().invoke(cli, ["release", "1.0.0", str(released)]).exit_code == 0
    return {"plain": plain, "released": released}


@contextmanager
def workspace(base: Path) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="fuzz-") as tmp:
        yield copy_tree(base, Path(tmp) / "pkg")


# ---------------------------------------------------------------- hostile values

HOSTILE_TEXT = ["", " ", "\x1b[2J\x1b[31mred", "\u202eevil", "a\u200bb", "\ufeffbom", "a\x00b", "line\nbreak",
                "cr\ronly", "$x^$", "$\\frac{", "../../etc/passwd", "/etc/passwd", "C:\\x", "https://example.org/x",
                "NaN", "Infinity", "-INF", "0001-01-01", "9999-12-31", "0000-00-00", "x" * 3000, "é"]
HOSTILE_NUMBERS = [0, -1, 2**31, 2**53 + 1, 2**63 - 1, 2**63, 2**64 + 1, 10**30, -(2**63) - 1, 1.5e308, -0.0, 1e-320]
hostile_scalar = st.one_of(st.sampled_from(HOSTILE_TEXT), st.sampled_from(HOSTILE_NUMBERS), st.booleans(), st.none(),
                           st.text(max_size=20), st.integers(), st.floats(allow_nan=False, allow_infinity=False))
hostile_json = st.recursive(hostile_scalar, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(["name", "path", "type", "x", ""]), inner, max_size=3)),
    max_leaves=6)


def mutate_json(data: st.DataObject, document: object) -> object:
    """document with one node replaced by a hostile value, deleted, or left alone, at a path drawn step by step."""
    if not isinstance(document, (dict, list)) or not document or data.draw(st.integers(0, 3)) == 0:
        return data.draw(hostile_json)
    keys = list(document) if isinstance(document, dict) else list(range(len(document)))
    key = data.draw(st.sampled_from(keys))
    if data.draw(st.integers(0, 5)) == 0:
        copy = dict(document) if isinstance(document, dict) else list(document)
        del copy[key]
        return copy
    copy = dict(document) if isinstance(document, dict) else list(document)
    copy[key] = mutate_json(data, document[key])
    return copy


TEXT_TWEAKS = {
    "none": lambda text: text,
    "nan": lambda text: re.sub(r"(?<=: )\d+", "NaN", text, count=1),
    "infinity": lambda text: re.sub(r"(?<=: )\d+", "-Infinity", text, count=1),
    "overflow": lambda text: re.sub(r"(?<=: )\d+", "1e999", text, count=1),
    "truncated": lambda text: text[: len(text) // 2],
    "bom": lambda text: "\ufeff" + text,
    "crlf": lambda text: text.replace("\n", "\r\n"),
    "cr": lambda text: text.replace("\n", "\r"),
    "deep": lambda text: "[" * 200 + text + "]" * 200,
    "lone-surrogate": lambda text: text.replace('"', '"\\udc80', 1),
}


def json_file_text(data: st.DataObject, path: Path) -> str:
    document = mutate_json(data, json.loads(path.read_text(encoding="utf-8")))
    text = json.dumps(document, indent=data.draw(st.sampled_from([None, 2])), ensure_ascii=data.draw(st.booleans()))
    return TEXT_TWEAKS[data.draw(st.sampled_from(sorted(TEXT_TWEAKS)))](text)


def write_text(path: Path, text: str) -> None:
    path.write_bytes(text.encode("utf-8", "surrogatepass"))


def reading_commands(base: Path) -> list[tuple[list[str], list[str]]]:
    """Every command that reads a package, with the outputs it may write: (argv, outputs)."""
    return [
        (["validate", "."], []),
        (["validate", ".", "--format", "json"], []),
        (["export", "codebook", ".", "--out", "out/codebook.md"], ["out/codebook.md"]),
        (["export", "xlsx", ".", "--out", "out/x.xlsx"], ["out/x.xlsx"]),
        (["export", "sqlite", ".", "--out", "out/x.sqlite"], ["out/x.sqlite", "out/x.metadata.json"]),
        (["diff", str(base), "."], []),
        (["verify", ".", "--consistency-only"], []),
    ]


def run_all(root: Path, commands: list[tuple[list[str], list[str]]]) -> None:
    for argv, outputs in commands:
        attempt(root, argv, CODES, outputs=outputs)
        shutil.rmtree(root / "out", ignore_errors=True)


# ---------------------------------------------------------------- descriptor and schemas

@fuzz(EXAMPLES["descriptor"])
@given(data=st.data())
def test_fuzz_descriptor(bases, data) -> None:
    with workspace(bases["plain"]) as root:
        write_text(root / "datapackage.json", json_file_text(data, root / "datapackage.json"))
        run_all(root, reading_commands(bases["plain"]))


@fuzz(EXAMPLES["schema"])
@given(data=st.data(), resource=st.sampled_from(["events", "assets", "personnel_levels", "sources", "quotes"]))
def test_fuzz_schema(bases, data, resource: str) -> None:
    with workspace(bases["plain"]) as root:
        path = root / "schemas" / f"{resource}.schema.json"
        write_text(path, json_file_text(data, path))
        run_all(root, reading_commands(bases["plain"]))


# ---------------------------------------------------------------- CSV bytes

CSV_PIECES = [b"\r", b"\r\n", b"\n", b"\x00", b'"', b",", b'""', b"\xef\xbb\xbf", b"\xff\xfe", b"\xff", b"\x1b[2J",
              "\u202e".encode(), "\u200b".encode(), b"NaN", b"INF", b"-0", b"9999-12-31", b"0001-01-01",
              b"0000-01-01", b"99999999999999999999", b"9007199254740993", b"1e400", b"$x^$", b" ", b"\t"]


@fuzz(EXAMPLES["csv"])
@given(data=st.data(), resource=st.sampled_from(["events", "assets", "personnel_levels", "sources", "quotes"]))
def test_fuzz_csv_bytes(bases, data, resource: str) -> None:
    with workspace(bases["plain"]) as root:
        path = root / "data" / f"{resource}.csv"
        raw = path.read_bytes()
        for _ in range(data.draw(st.integers(1, 4))):
            at = data.draw(st.integers(0, len(raw)))
            kind = data.draw(st.sampled_from(["insert", "replace", "delete", "endings"]))
            if kind == "endings":
                raw = raw.replace(b"\n", data.draw(st.sampled_from([b"\r\n", b"\r\r\n", b"\n\n"])))
                continue
            piece = data.draw(st.one_of(st.sampled_from(CSV_PIECES), st.binary(max_size=6)))
            end = at + (data.draw(st.integers(0, 8)) if kind != "insert" else 0)
            raw = raw[:at] + (b"" if kind == "delete" else piece) + raw[end:]
        header = raw.split(b"\n", 1)[0]
        # Known reader failure, an xfail in test_promises.py: a bare CR in the header row crashes the CSV reader.
        assume(b"\r" not in header.replace(b"\r\n", b"").rstrip(b"\r"))
        path.write_bytes(raw)
        run_all(root, [c for c in reading_commands(bases["plain"]) if c[0][0] != "verify"])


# ---------------------------------------------------------------- CITATION.cff

cff_scalar = st.one_of(st.sampled_from(HOSTILE_TEXT[:-1]), st.text(max_size=30), st.integers(), st.dates(),
                       st.floats(), st.none(), st.booleans())
cff_value = st.recursive(cff_scalar, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                             st.dictionaries(st.sampled_from(["name", "given-names",
                                                                                              "family-names"]),
                                                                             inner, max_size=3)), max_leaves=5)
CFF_KEYS = ["title", "authors", "version", "date-released", "keywords", "doi", "url", "abstract", "repository-code"]


def laughs(width: int, depth: int) -> str:
    text = f"a0: &a0 [{', '.join(['lol'] * width)}]\n"
    for level in range(1, depth):
        text += f"a{level}: &a{level} [{', '.join([f'*a{level - 1}'] * width)}]\n"
    return text + f"title: *a{depth - 1}\nauthors:\n  - name: x\n"


@fuzz(EXAMPLES["citation"])
@given(data=st.data())
def test_fuzz_citation(bases, data) -> None:
    import yaml

    with workspace(bases["plain"]) as root:
        path = root / "CITATION.cff"
        kind = data.draw(st.sampled_from(["values", "laughs", "text", "tweak"]))
        if kind == "values":
            cff = yaml.safe_load(path.read_text(encoding="utf-8"))
            for key in data.draw(st.lists(st.sampled_from(CFF_KEYS), max_size=3)):
                cff[key] = data.draw(cff_value)
            text = yaml.safe_dump(cff, allow_unicode=data.draw(st.booleans()))
        elif kind == "laughs":
            text = laughs(data.draw(st.integers(1, 12)), data.draw(st.integers(1, 12)))
        elif kind == "text":
            text = data.draw(st.text(max_size=200))
        else:
            text = TEXT_TWEAKS[data.draw(st.sampled_from(sorted(TEXT_TWEAKS)))](path.read_text(encoding="utf-8"))
        write_text(path, text)
        for fmt in ("text", "json", "bibtex", "ris", "cff"):
            attempt(root, ["cite", ".", "--format", fmt], (0, 1, 2))


# ---------------------------------------------------------------- CHANGELOG.md

ENDINGS = ["\n", "\r\n", "\r"]
labels = st.sampled_from(["Unreleased", "1.0.0", "1.0.1", "2.0.0-rc.1", "x", "1.0.0]"])
heading_dates = st.one_of(st.dates(min_value=dt.date(1, 1, 1), max_value=dt.date(9999, 12, 31)).map(dt.date.isoformat),
                          st.sampled_from(["", "2026-02-30", "26-11-20", "0000-01-01", "9999-99-99", "\x1b[2J"]))
body_lines = st.lists(st.one_of(st.sampled_from(["- change", "### Added", "### Data changes", "[1.0.0]: https://x",
                                                 "", "  ", "\t- x", "## [", "\u202e"]), st.text(max_size=15)),
                      max_size=4)


@st.composite
def changelogs(draw) -> tuple[str, str]:
    """(changelog text, its line ending): sections with any label, date and body, and maybe link definitions."""
    ending = draw(st.sampled_from(ENDINGS))
    lines = ["# Changelog", ""]
    sections = draw(st.lists(st.tuples(labels, heading_dates, body_lines), max_size=5))
    if draw(st.booleans()):  # a section a release can use, somewhere among the others
        sections.insert(draw(st.integers(0, len(sections))), ("1.0.0", "2026-11-20", draw(body_lines)))
    for label, date, body in sections:
        lines += [f"## [{label}]" + (f" - {date}" if date else ""), "", *body, ""]
    lines += draw(st.lists(st.sampled_from(["[1.0.0]: https://example.invalid", "", "not a link"]), max_size=4))
    text = ending.join(line.replace("\n", " ").replace("\r", " ") for line in lines) + ending
    return text, ending


@fuzz(EXAMPLES["changelog"])
@given(changelogs(), st.text(alphabet="abc -\n", min_size=1, max_size=40))
def test_fuzz_changelog_parsing_and_editing(changelog, body: str) -> None:
    text, ending = changelog
    assume(body.strip())
    sections = parse_changelog(text)
    for section in sections:
        with suppress(ChangelogError):
            release_date(text, section.version)
        try:
            new = with_subsection(text, section.version, "Data changes", body)
        except ChangelogError:
            continue
        assert with_subsection(new, section.version, "Data changes", "other") == new  # idempotent
        assert new.startswith(text[:section.body_start]) and new.endswith(text[section.end:])
        stripped = new.replace(ending, "")
        assert "\r" not in stripped and "\n" not in stripped, "a line ending other than the file's own was added"


@fuzz(EXAMPLES["changelog-cli"])
@given(changelogs())
def test_fuzz_changelog_in_a_release(bases, changelog) -> None:
    text, _ = changelog
    with workspace(bases["plain"]) as root:
        write_text(root / "CHANGELOG.md", text)
        outcome = attempt(root, ["release", "1.0.0", "--dry-run"], CODES)
        if outcome.result.exit_code == 0:  # a dated '## [1.0.0]' section, or '## [Unreleased]' dated today
            date, _ = dated_release(text, "1.0.0", dt.datetime.now(dt.timezone.utc).date())
            assert date.year in range(1980, 2108)


# ---------------------------------------------------------------- release records

@fuzz(EXAMPLES["record"])
@given(data=st.data())
def test_fuzz_release_record(bases, data) -> None:
    with workspace(bases["released"]) as root:
        path = root / "releases" / "1.0.0.json"
        write_text(path, json_file_text(data, path))
        for argv in (["cite", "."], ["cite", ".", "--version", "1.0.0"],
                     ["verify", "dist/1.0.0"], ["verify", "."], ["verify", ".", "--record", "releases/1.0.0.json"],
                     ["diff", "1.0.0", ".", "--repo", "."]):
            attempt(root, argv, CODES)


# ---------------------------------------------------------------- release zips

HOSTILE_NAMES = ["../evil.csv", "/abs.csv", "op-impact-1.0.0/\x1b[2Jevil.csv", "op-impact-1.0.0/\u202eevil.csv",
                 "op-impact-1.0.0/data/events.csv", "C:\\evil.csv", "op-impact-1.0.0/a\\b.csv", "op-impact-1.0.0/"]


@fuzz(EXAMPLES["zip"])
@given(data=st.data())
def test_fuzz_zip(bases, data) -> None:
    source = bases["released"] / "dist" / "1.0.0" / "op-impact-1.0.0.zip"
    with workspace(bases["plain"]) as root:
        target = root / "download" / "op-impact-1.0.0.zip"
        target.parent.mkdir()
        if data.draw(st.booleans()):  # damage the bytes
            raw = bytearray(source.read_bytes())
            for _ in range(data.draw(st.integers(1, 6))):
                at = data.draw(st.integers(0, len(raw) - 1))
                raw[at] = data.draw(st.integers(0, 255))
            cut = data.draw(st.sampled_from([len(raw), len(raw) - 22, len(raw) // 2]))
            target.write_bytes(bytes(raw[:cut]))
        else:  # rebuild it with hostile entries (the same name twice too), times, modes and methods
            with warnings.catch_warnings(), zipfile.ZipFile(source) as zin, zipfile.ZipFile(target, "w") as zout:
                warnings.simplefilter("ignore", UserWarning)  # zipfile warns about a duplicate name
                for info in zin.infolist():
                    payload = zin.read(info)
                    name = info.filename
                    if data.draw(st.integers(0, 5)) == 0:
                        name = data.draw(st.sampled_from(HOSTILE_NAMES))
                    stamp = data.draw(st.tuples(st.integers(1980, 2107), st.integers(1, 12), st.integers(1, 28),
                                                st.integers(0, 23), st.integers(0, 59), st.integers(0, 58)))
                    new = zipfile.ZipInfo(name, date_time=stamp)
                    new.external_attr = data.draw(st.sampled_from([info.external_attr, 0o120777 << 16, 0]))
                    new.compress_type = data.draw(st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED]))
                    zout.writestr(new, payload)
        for argv, outputs in ((["verify", "download/op-impact-1.0.0.zip", "--consistency-only"], []),
                              (["validate", "download/op-impact-1.0.0.zip"], []),
                              (["diff", "download/op-impact-1.0.0.zip", "."], []),
                              (["export", "codebook", "download/op-impact-1.0.0.zip", "--out", "out/cb.md"],
                               ["out/cb.md"])):
            attempt(root, argv, CODES, outputs=outputs)


# ---------------------------------------------------------------- dates across the calendar

any_day = st.dates(min_value=dt.date(1, 1, 1), max_value=dt.date(9999, 12, 31))


@fuzz(EXAMPLES["dates"])
@given(any_day, st.one_of(st.none(), any_day), st.sampled_from(["day", "month", "season", "year", "range", None]))
def test_fuzz_latest_possible_covers_the_calendar(start: dt.date, end: dt.date | None, precision: str | None) -> None:
    base = end or start
    latest = latest_possible(start, end, precision)
    assert base <= latest and (latest - base).days <= 366
    if precision in (None, "day", "range"):
        assert latest == base


@fuzz(EXAMPLES["plot"])
@given(data=st.data())
def test_fuzz_plot_dates_and_text(bases, data) -> None:
    with workspace(bases["plain"]) as root:
        for resource, stem in (("personnel_levels", "date"), ("events", "date"), ("assets", "arrived")):
            path = root / "data" / f"{resource}.csv"
            header, rows = read_csv(path)
            row = rows[data.draw(st.integers(0, len(rows) - 1))]
            day = data.draw(any_day)
            row[header.index(f"{stem}_start")] = day.isoformat()
            row[header.index(f"{stem}_end")] = ""
            row[header.index(f"{stem}_precision")] = data.draw(st.sampled_from(["day", "month", "year"]))
            if data.draw(st.booleans()):
                row[header.index(f"{stem}_start")] = day.replace(day=1).isoformat()
            write_csv(path, header, rows)
        set_title = json.loads((root / "datapackage.json").read_text(encoding="utf-8"))
        set_title["title"] = data.draw(st.sampled_from(HOSTILE_TEXT[:14]))
        (root / "datapackage.json").write_text(json.dumps(set_title), encoding="utf-8")
        attempt(root, ["plot", ".", "--out", "out/t.png"], CODES, outputs=["out/t.png"])


README_PHRASES = {"descriptor": "the descriptor {n} examples", "schema": "Table Schema {n}", "csv": "CSV bytes {n}",
                  "citation": "`CITATION.cff` {n}", "changelog": "`CHANGELOG.md` {n}", "changelog-cli": "plus {n} through",
                  "record": "release records {n}", "zip": "zips {n}", "plot": "`plot` {n}",
                  "dates": "whole calendar {n}"}


def test_readme_states_the_example_counts() -> None:
    readme = " ".join((Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8").split())
    assert set(README_PHRASES) == set(EXAMPLES)
    missing = [key for key, phrase in README_PHRASES.items() if phrase.format(n=EXAMPLES[key]) not in readme]
    assert not missing, f"the README does not state these example counts: {missing}"
