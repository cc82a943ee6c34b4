"""`opimpact cite`, CITATION.cff (checked against the CFF 1.2.0 schema), .zenodo.json and LICENSE."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from opimpact.cite import parse_citation, render_bibtex, render_csl_json, with_abstract, with_release
from opimpact.cli import cli

from release_helpers import REPO, make_release_fixture, write_changelog

# The published CFF 1.2.0 JSON schema (https://citation-file-format.github.io/1.2.0/schema.json), vendored
# unchanged from the cffconvert 2.0.0 wheel; CC BY-SA 4.0, see fixtures/cff-1.2.0.schema.NOTICE.
CFF_SCHEMA = Path(__file__).parent / "fixtures" / "cff-1.2.0.schema.json"


def run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def cff_problems(text: str) -> list[str]:
    """Every way text breaks the CFF 1.2.0 schema (dates as strings, as the CFF tools load them)."""
    import jsonschema

    data = yaml.safe_load(text)
    data = json.loads(json.dumps(data, default=lambda v: v.isoformat() if isinstance(v, dt.date) else str(v)))
    schema = json.loads(CFF_SCHEMA.read_text(encoding="utf-8"))
    validator = jsonschema.Draft7Validator(schema, format_checker=jsonschema.FormatChecker())
    return [f"{'/'.join(map(str, e.path))}: {e.message}" for e in validator.iter_errors(data)]


def test_repository_citation_is_valid_cff() -> None:
    text = (REPO / "CITATION.cff").read_text(encoding="utf-8")
    assert cff_problems(text) == []
    cff = yaml.safe_load(text)
    assert cff["cff-version"] == "1.2.0" and cff["type"] == "dataset" and cff["license"] == "CC-BY-4.0"
    assert cff["authors"] == [{"name": "op-impact contributors"}]
    assert {"title", "abstract", "keywords", "version", "date-released"} <= set(cff)
    assert "doi" not in cff and "url" not in cff  # nothing invented


def test_the_schema_check_can_fail() -> None:
    text = (REPO / "CITATION.cff").read_text(encoding="utf-8")
    assert cff_problems(text.replace("type: dataset", "type: spreadsheet"))
    assert cff_problems(text.replace('date-released: "', 'date-released: "released ').replace("cff-version", "cff_version"))


def test_citation_stays_valid_after_a_release(tmp_path: Path) -> None:
    root = make_release_fixture(tmp_path / "pkg")
    assert run("release", "1.0.0", str(root)).exit_code == 0
    text = (root / "CITATION.cff").read_text(encoding="utf-8")
    assert cff_problems(text) == []
    assert yaml.safe_load(text)["version"] == "1.0.0"


def test_zenodo_metadata() -> None:
    zenodo = json.loads((REPO / ".zenodo.json").read_text(encoding="utf-8"))
    assert zenodo["upload_type"] == "dataset" and zenodo["license"] == "cc-by-4.0"
    assert zenodo["creators"] == [{"name": "op-impact contributors"}]
    assert {"title", "description", "keywords", "version"} <= set(zenodo)
    cff = yaml.safe_load((REPO / "CITATION.cff").read_text(encoding="utf-8"))
    assert zenodo["title"] == cff["title"] and zenodo["keywords"] == cff["keywords"]


def test_license_names_both_licences() -> None:
    text = (REPO / "LICENSE").read_text(encoding="utf-8")
    assert "CC-BY-4.0" in text and "https://creativecommons.org/licenses/by/4.0/legalcode" in text
    assert "MIT License" in text and 'THE SOFTWARE IS PROVIDED "AS IS"' in text


@pytest.fixture
def released(tmp_path: Path) -> Path:
    root = make_release_fixture(tmp_path / "pkg")
    assert run("release", "1.0.0", str(root)).exit_code == 0
    write_changelog(root, ("1.0.1", "2027-02-03"), ("1.0.0", "2026-11-20"))
    (root / "data" / "events.csv").write_bytes((root / "data" / "events.csv").read_bytes().replace(b"Qayara", b"Qayyarah", 1))
    assert run("release", "1.0.1", str(root)).exit_code == 0
    return root


def cite(root: Path, *args: str):
    return run("cite", str(root), *args)


def test_text_citation(released: Path) -> None:
    result = cite(released)
    assert result.exit_code == 0
    assert result.stdout == ("op-impact contributors (2027). Operation IMPACT: Canada's military contribution to the "
                             "coalition against ISIS (Version 1.0.1) [Data set].\n")


def test_an_earlier_version_is_cited_with_its_own_date(released: Path) -> None:
    result = cite(released, "--version", "1.0.0")
    assert result.exit_code == 0
    assert "(2026)" in result.stdout and "(Version 1.0.0)" in result.stdout
    cff = yaml.safe_load(cite(released, "--version", "1.0.0", "--format", "cff").stdout)
    assert (cff["version"], cff["date-released"]) == ("1.0.0", "2026-11-20")


def test_an_unreleased_version_is_refused(released: Path) -> None:
    result = cite(released, "--version", "9.9.9")
    assert result.exit_code == 1
    assert "9.9.9 was never released" in result.output and "1.0.0, 1.0.1" in result.output


def test_bibtex(released: Path) -> None:
    text = cite(released, "--format", "bibtex").stdout
    assert text.startswith("@misc{op-impact-1.0.1,\n") and text.endswith("}\n")
    assert "  author = {{op-impact contributors}}," in text  # an entity, not "contributors, op-impact"
    assert "  year = {2027}," in text and "  month = feb," in text and "  version = {1.0.1}," in text
    assert text.count("{") == text.count("}")


def test_ris(released: Path) -> None:
    lines = cite(released, "--format", "ris").stdout.splitlines()
    assert lines[0] == "TY  - DATA" and lines[-1] == "ER  - "
    assert "AU  - op-impact contributors" in lines and "ET  - 1.0.1" in lines and "DA  - 2027/02/03" in lines
    assert all(re.match(r"^[A-Z][A-Z0-9]  - ", line) for line in lines)


def test_csl_json(released: Path) -> None:
    [item] = json.loads(cite(released, "--format", "json").stdout)
    assert (item["id"], item["type"], item["version"]) == ("op-impact-1.0.1", "dataset", "1.0.1")
    assert item["author"] == [{"literal": "op-impact contributors"}]  # an entity, not a family name
    assert item["issued"] == {"date-parts": [[2027, 2, 3]]}
    assert item["title"].startswith("Operation IMPACT")
    cff = {"title": "T", "authors": [{"family-names": "Doe", "given-names": "Jo", "name-particle": "de"}]}
    assert json.loads(render_csl_json(cff)) == [{"id": "op-impact", "type": "dataset", "title": "T",
                                                  "author": [{"family": "de Doe", "given": "Jo"}]}]


def test_cff_format_is_the_file(released: Path) -> None:
    assert cite(released, "--format", "cff").stdout == (released / "CITATION.cff").read_text(encoding="utf-8")


def test_an_unreleased_version_is_cited_with_a_note(tmp_path: Path, released: Path) -> None:
    unreleased = make_release_fixture(tmp_path / "fresh")
    version = yaml.safe_load((unreleased / "CITATION.cff").read_text(encoding="utf-8"))["version"]
    result = cite(unreleased)
    assert result.exit_code == 0 and f"(Version {version})" in result.stdout
    assert "has no release record" in result.stderr
    assert "has no release record" not in cite(released).stderr


def test_missing_or_broken_citation_is_exit_1(tmp_path: Path) -> None:
    assert cite(tmp_path).exit_code == 1
    (tmp_path / "CITATION.cff").write_text("title: [unclosed\n", encoding="utf-8")
    result = cite(tmp_path)
    assert result.exit_code == 1 and "not valid YAML" in result.output


# ---------------------------------------------------------------- properties

versions = st.builds(lambda a, b, c: f"{a}.{b}.{c}", *(st.integers(0, 999),) * 3)
dates = st.dates(min_value=dt.date(1980, 1, 1), max_value=dt.date(2999, 12, 31))


@given(versions, dates)
def test_with_release_is_idempotent_and_keeps_the_rest(version: str, date: dt.date) -> None:
    original = (REPO / "CITATION.cff").read_text(encoding="utf-8")
    once = with_release(original, version, date)
    assert with_release(once, version, date) == once
    cff = parse_citation(once)
    assert (str(cff["version"]), str(cff["date-released"])) == (version, date.isoformat())
    keep = [line for line in original.splitlines() if not line.startswith(("version:", "date-released:"))]
    assert [line for line in once.splitlines() if not line.startswith(("version:", "date-released:"))] == keep


@given(st.text(min_size=1, max_size=60))
def test_bibtex_escapes_every_special_character(title: str) -> None:
    entry = render_bibtex({"title": title, "authors": [{"name": "A & B"}], "version": "1.0.0",
                           "date-released": "2026-11-20"})
    lines = entry.splitlines()
    assert lines[0] == "@misc{op-impact-1.0.0," and lines[-1] == "}"
    title_line = next(line for line in lines if line.startswith("  title = {{"))
    inner = title_line[len("  title = {{"):-len("}},")]
    assert not re.search(r"(?<!\\)[&%$#_]", inner)  # every special character is escaped
    unescaped = re.sub(r"\\[{}&%$#_]|\\text[a-z]+\{\}", "", inner)
    assert "{" not in unescaped and "}" not in unescaped and "\\" not in unescaped
    assert "{A \\& B}" in entry


@given(st.text(alphabet=st.characters(categories=["L", "N", "P", "S", "Zs"], exclude_characters="\ufeff"),
               min_size=1, max_size=400).filter(lambda t: t.split()),
       st.sampled_from(["\n", "\r\n"]))
def test_with_abstract_writes_any_text_back_exactly(abstract: str, ending: str) -> None:
    text = (REPO / "CITATION.cff").read_text(encoding="utf-8").replace("\n", ending)
    written = with_abstract(text, abstract)
    cff = parse_citation(written)
    assert cff["abstract"] == " ".join(abstract.split())
    assert {k: v for k, v in cff.items() if k != "abstract"} == {
        k: v for k, v in parse_citation(text).items() if k != "abstract"}
    assert with_abstract(written, abstract) == written
    assert ending == "\n" or "\n" not in written.replace("\r\n", "")
