"""`opimpact add-source`: the archive name a contributor can compute, the row it appends, what it refuses, and
that both files are written together or not at all."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import tempfile
import unicodedata
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from promise_helpers import reports_a_bug

from opimpact import addsource
from opimpact.cli import cli

from export_sample import make_sample_package
from helpers import snapshot

ARTICLE = "OTTAWA — Canada’s defence minister said on Tuesday that “the mission goes on.”\n".encode()


def run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def add(package: Path, archive: Path, article: Path, *extra: str):
    return run("add-source", str(article), str(package), "--archive", str(archive), *extra)


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A sample package (sources src-0001 to src-0003, files 000_ to 002_), an empty archive, and an article."""
    package = make_sample_package(tmp_path / "package")
    archive = tmp_path / "archive"
    archive.mkdir()
    article = tmp_path / "article.txt"
    article.write_bytes(ARTICLE)
    return package, archive, article


def rows(package: Path) -> list[dict[str, str]]:
    with open(package / "data" / "sources.csv", encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def test_adds_the_file_under_its_computed_name_and_appends_its_row(setup) -> None:
    package, archive, article = setup
    before = (package / "data" / "sources.csv").read_bytes()
    result = add(package, archive, article, "--published", "[2017-05-23..2017-06-30]", "--title", 'A "quoted", title')
    assert result.exit_code == 0, result.output
    sha = hashlib.sha256(ARTICLE).hexdigest()
    name = f"003_{sha[:16]}.txt"
    assert [p.name for p in archive.iterdir()] == [name]
    assert (archive / name).read_bytes() == ARTICLE
    after = (package / "data" / "sources.csv").read_bytes()
    assert after.startswith(before) and after.endswith(b"\n") and b"\r" not in after[len(before):]
    assert after[len(before):].decode().startswith(f'src-0004,{name},{sha},"A ""quoted"", title",,2017-05-23,')
    row = rows(package)[-1]
    assert row == {**{key: "" for key in row}, "source_id": "src-0004", "archive_file": name, "sha256": sha,
                   "title": 'A "quoted", title', "published_start": "2017-05-23", "published_end": "2017-06-30",
                   "published_precision": "range", "published_edtf": "[2017-05-23..2017-06-30]",
                   "published_earliest": "2017-05-23", "published_latest": "2017-06-30", "language": "en"}
    assert "fill in by hand, in row src-0004" in result.output
    for field in ("notes:", "publisher:", "url:"):
        assert f"  {field}" in result.output
    assert "  title:" not in result.output  # given
    assert f"opimpact validate --archive {archive}" in result.output
    assert run("validate", str(package)).exit_code == 0


def test_dry_run_writes_nothing_and_says_what_it_would_add(setup) -> None:
    package, archive, article = setup
    before = snapshot(package.parent)
    result = add(package, archive, article, "--published", "2017", "--dry-run", "--format", "json")
    assert result.exit_code == 0, result.output
    assert snapshot(package.parent) == before
    report = json.loads(result.stdout)
    assert report["added"] is False and report["dry_run"] is True and report["source_id"] == "src-0004"
    assert report["row"]["published_latest"] == "2017-12-31"
    assert {item["field"] for item in report["to_fill"]} == {"notes", "title", "publisher", "url"}


def test_numbers_come_after_the_archive_the_table_and_the_changelog(setup) -> None:
    package, archive, article = setup
    (archive / "007_0000000000000000.txt").write_text("another article\n", encoding="utf-8")
    (package / "CHANGELOG.md").write_text("# Changelog\n\n## [1.0.0] - 2026-01-01\n\n### Removed\n\n- src-0009\n",
                                          encoding="utf-8")
    result = add(package, archive, article, "--published", "2017", "--format", "json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["source_id"] == "src-0010"  # src-0009 was released and withdrawn: never reused
    assert report["archive_file"].startswith("008_")


def test_a_table_without_its_final_line_break_gets_one(setup) -> None:
    package, archive, article = setup
    path = package / "data" / "sources.csv"
    before = path.read_bytes().rstrip(b"\n")
    path.write_bytes(before)
    assert add(package, archive, article, "--published", "2017").exit_code == 0
    assert path.read_bytes().startswith(before + b"\nsrc-0004,")
    assert len(rows(package)) == 4


def test_content_already_archived_is_refused(setup) -> None:
    package, archive, article = setup
    assert add(package, archive, article, "--published", "2017").exit_code == 0
    before = snapshot(package.parent)
    result = add(package, archive, article, "--published", "2017")
    assert result.exit_code == 1 and "already source src-0004" in result.output
    copy = archive.parent / "copy.txt"
    copy.write_bytes((archive / next(archive.iterdir()).name).read_bytes())
    (package / "data" / "sources.csv").write_bytes(b"".join(
        line for line in (package / "data" / "sources.csv").read_bytes().splitlines(keepends=True)
        if not line.startswith(b"src-0004")))
    result = add(package, archive, copy, "--published", "2017")
    assert result.exit_code == 1 and "already archived as 003_" in result.output
    assert snapshot(archive) == {k[len("archive/"):]: v for k, v in before.items() if k.startswith("archive/")}


@pytest.mark.parametrize(("content", "words"), [
    (b"caf\xe9\n", "not UTF-8 text (byte 3"),
    (b"text with a \x00 NUL\n", "control character U+0000"),
    (b" \n\t\n", "is empty"),
    (None, "no such file"),
])
def test_what_is_not_text_is_refused(setup, content: bytes | None, words: str) -> None:
    package, archive, article = setup
    if content is None:
        article.unlink()
    else:
        article.write_bytes(content)
    before = snapshot(package.parent)
    result = add(package, archive, article, "--published", "2017")
    assert result.exit_code == 2 and words in result.output and "nothing was written" in result.output
    assert snapshot(package.parent) == before


@pytest.mark.parametrize(("damage", "code", "words"), [
    (lambda text: text + "src-0099,too,few\n", 1, "[S03 "),
    (lambda text: text.replace("src-0002", "src-\x000002"), 2, "[S01 "),
    (lambda text: text.replace("\n", "\r\n", 1), 1, "[S06 "),
    (lambda text: text.split("\n", 1)[1], 1, "[S02 "),
])
def test_a_sources_table_the_reader_finds_broken_is_refused_with_its_rule(setup, damage, code: int, words: str) -> None:
    """The table is read by the reader every command uses: its structure rules decide, with their IDs."""
    package, archive, article = setup
    table = package / "data" / "sources.csv"
    table.write_bytes(damage(table.read_text(encoding="utf-8")).encode("utf-8"))
    before = snapshot(package.parent)
    result = add(package, archive, article, "--published", "2017")
    assert result.exit_code == code and words in result.output and "data/sources.csv" in result.output, result.output
    assert "nothing was written" in result.output and snapshot(package.parent) == before


@pytest.mark.parametrize(("options", "words"), [
    (("--published", "2017/2018"), "is a span"),
    (("--published", "[..2017-06-30]"), "requires a start"),
    (("--published", "June 2017"), "--published 'June 2017'"),
    (("--published", "2017", "--language", "de"), "[F04 enum]: --language 'de': expected one of: en, fr"),
    (("--published", "2017", "--language", ""), "[F02 required]: --language: a value is required"),
    (("--published", "2017", "--url", "www.example.org"), "[F05 pattern]: --url 'www.example.org': expected to match the pattern ^https?://\\S+$"),
    (("--published", "2017", "--title", "two\nlines"), "line break"),
    (("--published", "2017", "--notes", " padded"), "[X05 whitespace]: --notes ' padded': remove leading or trailing whitespace"),
    (("--published", "2017", "--publisher", "=HYPERLINK()"), "[X06 formula-injection]: --publisher"),
    ((), "Missing option '--published'"),
])
def test_invalid_options_are_usage_errors(setup, options: tuple[str, ...], words: str) -> None:
    package, archive, article = setup
    before = snapshot(package.parent)
    result = add(package, archive, article, *options)
    assert result.exit_code == 2 and words in result.output, result.output
    assert snapshot(package.parent) == before


def test_a_failure_while_writing_leaves_both_files_as_they_were(setup, monkeypatch) -> None:
    package, archive, article = setup
    before = snapshot(package.parent)

    def failing(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(addsource, "_row_bytes", failing)  # after the archive file is staged, before the table
    result = add(package, archive, article, "--published", "2017")
    assert result.exit_code == 2 and "No space left on device" in result.output
    assert snapshot(package.parent) == before
    assert not list(archive.iterdir()) and not [p for p in (package / "data").iterdir() if p.name.startswith(".")]


# ---------------------------------------------------------------- any file name, any bytes, any title

def _is_text(data: bytes) -> bool:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return False
    return bool(text.strip()) and not any(ord(c) < 32 and c not in "\t\n\r" or c == "\x7f" for c in text)


names = st.text(st.characters(blacklist_characters="/\x00", blacklist_categories=("Cs",)), min_size=1, max_size=40) \
    .filter(lambda n: n not in (".", "..") and len(n.encode()) < 200)
contents = st.one_of(st.binary(max_size=300), st.text(max_size=200).map(lambda t: t.encode("utf-8")),
                     st.text(max_size=100).map(lambda t: ("\ufeff" + t).encode("utf-8")))


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(names, contents, st.text(max_size=30))
@example("-dash.txt", "Ünïcödé “quotes”, commas\r\nand CRLF\n".encode(), 'He said, "no"')
@example("0", b"!", "=")
@example("internal error", b"", "")  # a file named like the CLI's message for a bug is not one
def test_any_file_name_bytes_and_title(name: str, data: bytes, title: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        package = make_sample_package(Path(tmp) / "package")
        archive = Path(tmp) / "archive"
        archive.mkdir()
        (Path(tmp) / "in").mkdir()
        article = Path(tmp) / "in" / name
        article.write_bytes(data)
        table = package / "data" / "sources.csv"
        before = table.read_bytes()
        result = add(package, archive, article, "--published", "2016-12", "--title", title, "--format", "json")
        assert not reports_a_bug(result.output) and "Traceback" not in result.output
        clean = (title == title.strip() and not any(unicodedata.category(c) in ("Cc", "Zl", "Zp") for c in title)
                 and not title.startswith(("=", "+", "-", "@")))  # X05, X06: validate would refuse the row
        if not _is_text(data) or not clean:
            assert result.exit_code == 2, result.output
            assert table.read_bytes() == before and not list(archive.iterdir())
            return
        assert result.exit_code == 0, result.output
        report = json.loads(result.stdout)
        sha = hashlib.sha256(data).hexdigest()
        assert report["archive_file"] == f"003_{sha[:16]}.txt" and report["sha256"] == sha
        assert (archive / report["archive_file"]).read_bytes() == data
        after = table.read_bytes()
        assert after.startswith(before) and after.endswith(b"\n") and after.count(b"\r") == before.count(b"\r")
        last = list(csv.DictReader(io.StringIO(after.decode("utf-8"), newline="")))[-1]
        assert (last["source_id"], last["sha256"], last["title"]) == ("src-0004", sha, title)
