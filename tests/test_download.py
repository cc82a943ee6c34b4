"""A downloaded release on its own: unzipped into an empty folder outside any repository, it verifies against the
record it carries, cites itself, passes frictionless, loads in R, and names only files it holds. Its side
artifacts are all checksummed and recorded, and every count or description in it is generated from the data."""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
import subprocess
import zipfile
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner
from test_r_loader import rscript

from opimpact import release as releasing
from opimpact.checksums import parse_sums, sha256_bytes
from opimpact.cli import cli

from helpers import read_csv, write_csv
from release_helpers import RELEASE_FILES, REPO, make_release_fixture, write_changelog

PACKAGE_PARTS = ("datapackage.json", "data", "schemas")
VERSION = "1.0.0"
ZIP = f"op-impact-{VERSION}.zip"


def run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    """A released fixture package; its artifacts are in dist/1.0.0."""
    root = make_release_fixture(tmp_path_factory.mktemp("repo") / "pkg")
    assert run("release", VERSION, str(root)).exit_code == 0
    return root


@pytest.fixture
def download(built: Path, tmp_path: Path, monkeypatch) -> Path:
    """The release zip unzipped into an empty folder outside any repository; the current folder is that folder."""
    empty = tmp_path / "downloads"
    empty.mkdir()
    with zipfile.ZipFile(built / "dist" / VERSION / ZIP) as archive:
        archive.extractall(empty)
    folder = empty / f"op-impact-{VERSION}"
    monkeypatch.chdir(folder)
    return folder


def test_every_file_the_readme_names_is_in_the_zip(built: Path) -> None:
    with zipfile.ZipFile(built / "dist" / VERSION / ZIP) as archive:
        names = {n.removeprefix(f"op-impact-{VERSION}/") for n in archive.namelist()}
        readme = archive.read(f"op-impact-{VERSION}/README.md").decode("utf-8")
    named = set(re.findall(r"[\w.-]+(?:/[\w.-]+)*\.(?:csv|json|md|R|png|cff|sqlite|xlsx|parquet|zip|txt)\b", readme))
    named |= {word for word in ("LICENSE", "SHA256SUMS") if word in readme}
    folders = set(re.findall(r"`([\w-]+)/`", readme))
    assert {"datapackage.json", "release.json", "docs/codebook.md", "scripts/load_op_impact.R"} <= named
    assert named - {"SHA256SUMS"} <= names, sorted(named - names)
    assert all(any(n.startswith(f"{f}/") for n in names) for f in folders)
    assert "{{" not in readme and "benchmarks" not in readme and "tests/" not in readme


def test_verify_in_the_unzipped_folder_uses_the_bundled_record(download: Path) -> None:
    result = run("verify", ".", "--format", "json")
    document = json.loads(result.stdout)
    assert result.exit_code == 0, document
    assert document["verdict"] == "verified" and document["record_bundled"] and document["version"] == VERSION
    assert {c["check"] for c in document["checks"] if c["status"] == "pass"} >= {"resource", "validation",
                                                                                  "bundled", "record"}
    text = run("verify", ".").stdout
    assert "verified against the release record bundled in the download" in text
    assert "not that they are the published release" in text and "--repo" in text


@pytest.mark.parametrize("damage", ["docs/codebook.md", "data/events.csv", "scripts/load_op_impact.R"])
def test_verify_in_the_unzipped_folder_catches_a_changed_file(download: Path, damage: str) -> None:
    path = download / damage
    path.write_bytes(path.read_bytes().replace(b"e", b"E", 1))
    result = run("verify", ".", "--format", "json")
    document = json.loads(result.stdout)
    assert result.exit_code == 1 and document["verdict"] == "not verified"
    assert any(damage in c["message"] for c in document["checks"] if c["status"] == "fail")


def test_verify_without_the_bundled_record_is_not_verified(download: Path) -> None:
    (download / "release.json").unlink()
    result = run("verify", ".")
    assert result.exit_code == 1 and "NOT verified" in result.stdout


def test_cite_in_the_unzipped_folder(download: Path) -> None:
    for args in (["cite"], ["cite", "--version", VERSION], ["cite", "--format", "bibtex"]):
        result = run(*args)
        assert result.exit_code == 0, result.output
        assert f"Version {VERSION}" in result.stdout or f"version = {{{VERSION}}}" in result.stdout
        assert result.stderr == ""  # no "has no release record" note: the bundled record says it was released
    result = run("cite", "--version", "0.9.0")
    assert result.exit_code == 1 and "never released" in result.stderr


def test_frictionless_validates_the_unzipped_folder(download: Path) -> None:
    from frictionless import validate

    report = validate("datapackage.json")
    assert report.valid, report.flatten(["type", "message"])


def test_the_r_loader_runs_in_the_unzipped_folder(download: Path) -> None:
    done = subprocess.run([rscript(), "scripts/load_op_impact.R", "."], capture_output=True, text=True,
                          check=False, timeout=300, cwd=download)
    assert done.returncode == 0, done.stderr
    descriptor = json.loads((download / "datapackage.json").read_text(encoding="utf-8"))
    assert list(json.loads(done.stdout)) == [r["name"] for r in descriptor["resources"]]


# ---------------------------------------------------------------- side artifacts

def test_every_artifact_is_in_sha256sums_the_record_and_the_bundled_record(built: Path) -> None:
    out = built / "dist" / VERSION
    names = sorted(p.name for p in out.iterdir())
    tables = ("events", "assets", "personnel_levels", "sources", "quotes")
    side = {f"op-impact-{VERSION}.{e}" for e in ("xlsx", "sqlite", "metadata.json")}
    side |= {f"op-impact-{VERSION}.{t}.parquet" for t in tables}
    assert set(names) == side | {ZIP, "SHA256SUMS"}
    sums = parse_sums((out / "SHA256SUMS").read_text())
    assert set(sums) == set(names) - {"SHA256SUMS"}
    record = json.loads((built / "releases" / f"{VERSION}.json").read_text())
    assert {a["name"] for a in record["artifacts"]} == set(names)
    with zipfile.ZipFile(out / ZIP) as archive:
        bundled = json.loads(archive.read(f"op-impact-{VERSION}/release.json"))
        members = {n.removeprefix(f"op-impact-{VERSION}/"): archive.read(n) for n in archive.namelist()}
    assert bundled["version"] == VERSION and bundled["date"] == record["date"]
    # the files beside the zip are named, without SHA-256: the zip must not depend on the polars that wrote Parquet
    assert bundled["artifacts"] == [] and bundled["published_with"] == sorted(side)
    assert {m["path"]: m["sha256"] for m in bundled["members"]} == {
        path: sha256_bytes(data) for path, data in members.items() if path != "release.json"}
    assert bundled["resources"] == record["resources"]


def test_the_sqlite_artifact_knows_its_version_and_ships_its_datasette_metadata(built: Path) -> None:
    out = built / "dist" / VERSION
    con = sqlite3.connect(out / f"op-impact-{VERSION}.sqlite")
    facts = dict(con.execute("SELECT key, value FROM package_metadata"))
    con.close()
    assert facts["version"] == VERSION and facts["created"].startswith("2026-11-20")
    assert f"(Version {VERSION})" in facts["citation"] and facts["licence"]
    meta = json.loads((out / f"op-impact-{VERSION}.metadata.json").read_text(encoding="utf-8"))
    assert list(meta["databases"]) == [f"op-impact-{VERSION}"]  # the database's file stem, as Datasette names it


def test_the_parquet_artifacts_carry_the_version(built: Path) -> None:
    for path in sorted((built / "dist" / VERSION).glob("*.parquet")):
        assert pl.read_parquet_metadata(path)["version"] == VERSION
        assert pl.read_parquet(path).height >= 1


# ---------------------------------------------------------------- generated counts and descriptions

def _shipped_copy(dest: Path) -> Path:
    """The shipped package with the files a release needs, outside the repository."""
    for part in (*PACKAGE_PARTS, "README.md", "CHANGELOG.md", *RELEASE_FILES):
        source, target = REPO / part, dest / part
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target)
        else:
            shutil.copy(source, target)
    write_changelog(dest, ("9.0.0", "2027-01-02"))
    return dest


def _append_copy(root: Path, table: str, key: str, changes: dict[str, str]) -> int:
    header, rows = read_csv(root / "data" / f"{table}.csv")
    row = list(rows[0])
    row[0] = key
    for name, value in changes.items():
        row[header.index(name)] = value
    write_csv(root / "data" / f"{table}.csv", header, rows + [row])
    return len(rows) + 1


def test_counts_and_descriptions_follow_the_data(tmp_path: Path) -> None:
    root = _shipped_copy(tmp_path / "pkg")
    _, sources = read_csv(root / "data" / "sources.csv")
    assert len(sources) == 4  # the shipped data: the texts below must go from four to five
    _append_copy(root, "sources", "src-0005", {"archive_file": "004_0000000000000000.txt", "sha256": "0" * 64})
    events = _append_copy(root, "events", "ev-9999", {"source_id": "src-0005"})
    out = tmp_path / "out"
    out.mkdir()
    releasing.build_release(root, "9.0.0", out)
    with zipfile.ZipFile(out / "op-impact-9.0.0.zip") as archive:
        texts = {n: archive.read(n).decode("utf-8") for n in archive.namelist()
                 if n.endswith((".md", ".json", ".cff"))}
    readme = texts["op-impact-9.0.0/README.md"]
    assert f"| events | `data/events.csv` | {events} |" in readme and "five archived news articles" in readme
    descriptor = json.loads(texts["op-impact-9.0.0/datapackage.json"])
    assert "five archived news articles" in descriptor["description"]
    assert descriptor["sources"][0]["title"].startswith("Five archived news articles")
    assert "five archived news articles" in " ".join(texts["op-impact-9.0.0/CITATION.cff"].split())
    with zipfile.ZipFile(out / "op-impact-9.0.0.xlsx") as workbook:
        strings = workbook.read("xl/sharedStrings.xml").decode("utf-8")
    metadata = (out / "op-impact-9.0.0.metadata.json").read_text(encoding="utf-8")
    for where, text in [("workbook", strings), ("datasette", metadata), *texts.items()]:
        assert not re.search(r"\bfour archived\b", text, re.IGNORECASE), where
    assert "five archived news articles" in strings and "five archived news articles" in metadata
    assert f"{events} rows" in strings


def test_the_release_ships_a_current_codebook_and_timeline(tmp_path: Path, monkeypatch) -> None:
    """Docs that describe other data (the repository's) are regenerated for the release, and the release says so."""
    from opimpact.codebook import codebook_is_current
    from opimpact.plot import check_timeline

    root = make_release_fixture(tmp_path / "package")
    for rel in ("docs/codebook.md", "docs/timeline.png"):
        shutil.copy(REPO / rel, root / rel)
    stale = {rel: (root / rel).read_bytes() for rel in ("docs/codebook.md", "docs/timeline.png")}
    result = run("release", VERSION, str(root))
    assert result.exit_code == 0, result.output
    assert "docs/codebook.md and docs/timeline.png in the working tree are stale" in result.output
    assert {rel: (root / rel).read_bytes() for rel in stale} == stale  # the working tree is not touched
    with zipfile.ZipFile(root / "dist" / VERSION / ZIP) as archive:
        archive.extractall(tmp_path / "download")
    folder = tmp_path / "download" / f"op-impact-{VERSION}"
    assert codebook_is_current(folder, folder / "docs" / "codebook.md")
    assert check_timeline(folder, folder / "docs" / "timeline.png").current


def test_current_docs_are_shipped_as_committed(tmp_path: Path) -> None:
    root = make_release_fixture(tmp_path / "package")  # with a current codebook and timeline
    committed = {rel: (root / rel).read_bytes() for rel in ("docs/codebook.md", "docs/timeline.png")}
    dry = run("release", VERSION, str(root), "--dry-run", "--format", "json")
    assert dry.exit_code == 0, dry.output
    assert json.loads(dry.stdout)["docs_regenerated"] == []
    assert run("release", VERSION, str(root)).exit_code == 0
    with zipfile.ZipFile(root / "dist" / VERSION / f"op-impact-{VERSION}.zip") as archive:
        shipped = {rel: archive.read(f"op-impact-{VERSION}/{rel}") for rel in committed}
    assert shipped == committed
