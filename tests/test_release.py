"""`opimpact release`: the refusals, the bump policy, reproducible builds, --dry-run, --reproduce, the lock,
and an interrupted build that leaves everything as it was."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import stat
import subprocess
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from opimpact import release as releasing
from opimpact.checksums import parse_sums, sha256_bytes
from opimpact.cli import cli

from helpers import set_cell, snapshot
from release_helpers import (
    REPO,
    add_field,
    add_row,
    commit_all,
    drop_field,
    git,
    init_repo,
    make_release_fixture,
    remove_row,
    rename_field,
    set_field_type,
    write_changelog,
)

needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def release_cli(root: Path, version: str, *extra: str):
    return run("release", version, str(root), *extra)


@pytest.fixture
def fixture(tmp_path: Path) -> Path:
    return make_release_fixture(tmp_path / "pkg")


@pytest.fixture
def released(fixture: Path) -> Path:
    """The fixture after release 1.0.0, with a CHANGELOG ready for later releases."""
    assert release_cli(fixture, "1.0.0").exit_code == 0
    write_changelog(fixture, ("2.0.0", "2026-12-03"), ("1.1.0", "2026-12-02"), ("1.0.1", "2026-12-01"),
                    ("1.0.0", "2026-11-20"))
    return fixture


# ---------------------------------------------------------------- a first release

def test_first_release_writes_artifacts_record_and_metadata(fixture: Path) -> None:
    result = release_cli(fixture, "1.0.0")
    assert result.exit_code == 0, result.output
    out = fixture / "dist" / "1.0.0"
    names = sorted(p.name for p in out.iterdir())
    assert "op-impact-1.0.0.zip" in names and "SHA256SUMS" in names
    sums = parse_sums((out / "SHA256SUMS").read_text())
    assert sorted(sums) == sorted(n for n in names if n != "SHA256SUMS")
    for name, digest in sums.items():
        assert sha256_bytes((out / name).read_bytes()) == digest

    record = json.loads((fixture / "releases" / "1.0.0.json").read_text())
    assert record["version"] == "1.0.0" and record["date"] == "2026-11-20"
    assert {a["name"]: (a["bytes"], a["sha256"]) for a in record["artifacts"]} == {
        p.name: (p.stat().st_size, sha256_bytes(p.read_bytes())) for p in out.iterdir()}

    descriptor = json.loads((fixture / "datapackage.json").read_text())
    assert descriptor["version"] == "1.0.0"
    assert descriptor["created"] == "2026-11-20T00:00:00Z"
    for resource in descriptor["resources"]:  # the working tree never carries bytes or hash; the record does
        assert "bytes" not in resource and "hash" not in resource
    for entry in record["resources"]:
        data = (fixture / entry["path"]).read_bytes()
        assert entry["bytes"] == len(data)
        assert entry["hash"] == "sha256:" + sha256_bytes(data)

    citation = (fixture / "CITATION.cff").read_text()
    assert 'version: "1.0.0"' in citation and 'date-released: "2026-11-20"' in citation
    zenodo = json.loads((fixture / ".zenodo.json").read_text())
    assert (zenodo["version"], zenodo["publication_date"]) == ("1.0.0", "2026-11-20")
    changelog = (fixture / "CHANGELOG.md").read_text()
    assert "### Data changes" in changelog and "First release" in changelog


def test_release_zip_holds_the_package_and_docs(fixture: Path) -> None:
    assert release_cli(fixture, "1.0.0").exit_code == 0
    with zipfile.ZipFile(fixture / "dist" / "1.0.0" / "op-impact-1.0.0.zip") as archive:
        infos = archive.infolist()
        names = [i.filename for i in infos]
        released_descriptor = archive.read("op-impact-1.0.0/datapackage.json")
    expected = {"datapackage.json", "README.md", "CHANGELOG.md", "CITATION.cff", "LICENSE", "release.json",
                "docs/codebook.md", "docs/timeline.png", "scripts/load_op_impact.R"}
    expected |= {f"data/{n}.csv" for n in ("events", "assets", "personnel_levels", "sources", "quotes")}
    expected |= {f"schemas/{n}.schema.json" for n in ("events", "assets", "personnel_levels", "sources", "quotes")}
    assert set(names) == {f"op-impact-1.0.0/{n}" for n in expected}
    assert names == sorted(names)
    for info in infos:
        assert info.date_time == (2026, 11, 20, 0, 0, 0)
        assert stat.S_IMODE(info.external_attr >> 16) == 0o644
        assert info.compress_type == zipfile.ZIP_DEFLATED
    # the released descriptor is the working tree's plus each resource's bytes and hash
    released = json.loads(released_descriptor)
    working = json.loads((fixture / "datapackage.json").read_text())
    for resource in released["resources"]:
        data = (fixture / resource.pop("path")).read_bytes()
        assert (resource.pop("bytes"), resource.pop("hash")) == (len(data), "sha256:" + sha256_bytes(data))
    assert released["resources"] == [{k: v for k, v in r.items() if k != "path"} for r in working["resources"]]


def test_released_descriptor_passes_frictionless_and_its_hash_is_checked(fixture: Path, tmp_path: Path) -> None:
    from frictionless import validate

    assert release_cli(fixture, "1.0.0").exit_code == 0
    unzipped = tmp_path / "unzipped"
    with zipfile.ZipFile(fixture / "dist" / "1.0.0" / "op-impact-1.0.0.zip") as archive:
        archive.extractall(unzipped)
    descriptor = unzipped / "op-impact-1.0.0" / "datapackage.json"
    assert validate(str(descriptor)).valid
    set_cell(descriptor.parent, "events", 0, "summary", "French artillery fired from Qayara.")  # valid, not released
    report = validate(str(descriptor))
    assert not report.valid
    assert "hash-count" in {e.type for task in report.tasks for e in task.errors}
    # the working tree carries no hash, so the same valid edit leaves it valid for both validators
    set_cell(fixture, "events", 0, "summary", "French artillery fired from Qayara.")
    assert validate(str(fixture / "datapackage.json")).valid
    assert run("validate", str(fixture)).exit_code == 0


# ---------------------------------------------------------------- refusals: exit 1, nothing changed

def _refused(root: Path, version: str, *extra: str) -> str:
    before = snapshot(root)
    result = release_cli(root, version, *extra)
    assert result.exit_code == 1, result.output
    assert snapshot(root) == before
    return result.output


def test_refuses_when_validation_fails(fixture: Path) -> None:
    set_cell(fixture, "events", 1, "date_precision", "fortnight")
    output = _refused(fixture, "1.0.0")
    assert "does not validate" in output and "date_precision" in output and "fortnight" in output
    assert not (fixture / "dist").exists()


def test_refuses_a_version_not_greater_than_the_last(released: Path) -> None:
    add_row(released, "events", 0, "ev-0099")
    write_changelog(released, ("1.1.0", "2026-12-02"), ("0.9.0", "2026-12-01"), ("1.0.0", "2026-11-20"))
    assert "not greater than the last release 1.0.0" in _refused(released, "0.9.0")


def test_release_checks_provenance_with_the_archive(fixture: Path, archive: Path) -> None:
    # the sample rows carry evidence that is not verbatim in the archived articles
    output = _refused(fixture, "1.0.0", "--archive", str(archive))
    assert "P04" in output and "evidence" in output


def test_refuses_an_existing_release(released: Path) -> None:
    assert "already exists" in _refused(released, "1.0.0")


def test_refuses_a_leftover_dist_folder(released: Path) -> None:
    (released / "dist" / "1.1.0").mkdir()
    add_row(released, "events", 0, "ev-0099")
    assert "dist/1.1.0 already exists" in _refused(released, "1.1.0")


@pytest.mark.parametrize("heading", ["", "## [1.0.0]\n", "## [1.0.0] - 2026-02-30\n", "## [1.0.0] - 20 Nov 2026\n",
                                     "## 1.0.0 - 2026-11-20\n"])
def test_refuses_without_a_dated_changelog_section(fixture: Path, heading: str) -> None:
    (fixture / "CHANGELOG.md").write_text(f"# Changelog\n\n{heading}\n- notes\n", encoding="utf-8")
    assert "CHANGELOG.md" in _refused(fixture, "1.0.0")


def test_refuses_a_broken_zenodo_file(fixture: Path) -> None:
    (fixture / ".zenodo.json").write_text('{"version": ', encoding="utf-8")
    assert ".zenodo.json is not valid JSON" in _refused(fixture, "1.0.0")


def test_refuses_without_license(fixture: Path) -> None:
    (fixture / "LICENSE").unlink()
    assert "LICENSE" in _refused(fixture, "1.0.0")


@pytest.mark.parametrize("name", ["docs/codebook.md", "docs/timeline.png", "scripts/load_op_impact.R",
                                  "templates/release-README.md", "templates/descriptions.json"])
def test_refuses_without_a_file_the_zip_ships_or_renders(fixture: Path, name: str) -> None:
    (fixture / name).unlink()
    assert name in _refused(fixture, "1.0.0")


def test_refuses_a_template_with_an_unknown_placeholder(fixture: Path) -> None:
    template = fixture / "templates" / "release-README.md"
    template.write_text(template.read_text(encoding="utf-8") + "\n{{sourcez}}\n", encoding="utf-8")
    output = _refused(fixture, "1.0.0")
    assert "unknown placeholder {{sourcez}}" in output and "release-README.md" in output


def test_refuses_while_another_release_holds_the_lock(fixture: Path) -> None:
    with releasing.release_lock(fixture.resolve()):
        assert "another release is running" in _refused(fixture, "1.0.0")
    assert release_cli(fixture, "1.0.0").exit_code == 0  # the lock is gone with its holder


@pytest.mark.parametrize("version", ["1.0", "v1.0.0", "01.0.0", "1.0.0-", "latest"])
def test_a_malformed_version_is_a_usage_error(fixture: Path, version: str) -> None:
    before = snapshot(fixture)
    result = release_cli(fixture, version)
    assert result.exit_code == 2
    assert "not a semantic version" in result.output
    assert snapshot(fixture) == before


def test_refusal_as_json(fixture: Path) -> None:
    set_cell(fixture, "events", 1, "date_precision", "fortnight")
    result = release_cli(fixture, "1.0.0", "--format", "json")
    assert result.exit_code == 1
    document = json.loads(result.stdout)
    assert document["released"] is False and document["validation"]["error_count"] >= 1


# ---------------------------------------------------------------- the bump policy

@pytest.mark.parametrize(("change", "too_small", "enough", "needed"), [
    (lambda r: add_row(r, "events", 0, "ev-0099"), "1.0.1", "1.1.0", "minor"),
    (lambda r: remove_row(r, "quotes", 1), "1.1.0", "2.0.0", "major"),
    (lambda r: add_field(r, "sources", {"name": "paywall", "type": "string"}), "1.0.1", "1.1.0", "minor"),
    (lambda r: drop_field(r, "events", "place"), "1.1.0", "2.0.0", "major"),
    (lambda r: rename_field(r, "events", "place", "location"), "1.1.0", "2.0.0", "major"),
    (lambda r: set_field_type(r, "assets", "quantity", "number"), "1.1.0", "2.0.0", "major"),
])
def test_bump_policy_refuses_a_too_small_bump(released: Path, change, too_small: str, enough: str,
                                             needed: str) -> None:
    removed = change(released)
    if isinstance(removed, str):  # a released ID disappears: the changelog must say so
        _list_removed(released, enough, removed)
    output = _refused(released, too_small)
    assert f"need a {needed} release" in output
    result = release_cli(released, enough)
    assert result.exit_code == 0, result.output
    assert f"the changes need at least {needed}" in result.output


def test_a_corrected_value_needs_a_patch_and_is_logged(released: Path) -> None:
    set_cell(released, "events", 0, "place", "Mosul")
    before = (released / "CHANGELOG.md").read_text()
    result = release_cli(released, "1.0.1")
    assert result.exit_code == 0, result.output
    changelog = (released / "CHANGELOG.md").read_text()
    section = changelog.split("## [1.0.1]")[1].split("## [1.0.0]")[0]
    assert "### Data changes" in section and "ev-0001: place" in section
    assert changelog.count("### Data changes") == 1
    # the other sections are left byte for byte
    assert changelog.split("## [1.0.1]")[0] == before.split("## [1.0.1]")[0]
    assert changelog.split("## [1.0.0]")[1] == before.split("## [1.0.0]")[1]


def test_a_handwritten_data_changes_section_is_kept(released: Path) -> None:
    set_cell(released, "events", 0, "place", "Mosul")
    text = (released / "CHANGELOG.md").read_text().replace(
        "- Release 1.0.1.\n", "- Release 1.0.1.\n\n### Data changes\n\nWritten by hand.\n")
    (released / "CHANGELOG.md").write_text(text)
    assert release_cli(released, "1.0.1").exit_code == 0
    assert (released / "CHANGELOG.md").read_text() == text


def test_the_previous_release_comes_from_git_when_dist_is_gone(released: Path) -> None:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    init_repo(released)  # the commit holds the record of 1.0.0 and its released files
    shutil.rmtree(released / "dist")
    add_row(released, "events", 0, "ev-0099")
    assert "need a minor release" in _refused(released, "1.0.1")


# ---------------------------------------------------------------- reproducible builds

def test_two_builds_of_the_same_release_are_byte_identical(tmp_path: Path) -> None:
    first = make_release_fixture(tmp_path / "one")
    second = make_release_fixture(tmp_path / "two")
    for path in second.rglob("*"):  # different file times must not leak into the artifacts
        os.utime(path, (1_000_000_000, 1_000_000_000))
    assert release_cli(first, "1.0.0").exit_code == 0
    assert release_cli(second, "1.0.0").exit_code == 0
    assert snapshot(first / "dist") == snapshot(second / "dist")
    assert len(snapshot(first / "dist")) >= 2


def test_preparing_release_files_is_idempotent(fixture: Path) -> None:
    assert release_cli(fixture, "1.0.0").exit_code == 0
    date = dt.date(2026, 11, 20)
    again = releasing.release_files(fixture, "1.0.0", date, "First release: anything")
    for rel, data in again.items():
        assert (fixture / rel).read_bytes() == data, rel


def test_a_non_reproducible_export_is_refused(fixture: Path, monkeypatch) -> None:
    def noisy(package, out, **_):
        Path(out).write_bytes(os.urandom(16))

    monkeypatch.setattr(releasing, "available_exporters", lambda: [("noisy", noisy, "bin")])
    output = _refused(fixture, "1.0.0")
    assert "not reproducible" in output and "op-impact-1.0.0.bin" in output


def test_dry_run_writes_nothing_and_predicts_the_artifacts(fixture: Path) -> None:
    before = snapshot(fixture)
    result = release_cli(fixture, "1.0.0", "--dry-run", "--format", "json")
    assert result.exit_code == 0, result.output
    assert snapshot(fixture) == before
    plan = json.loads(result.stdout)
    assert plan["dry_run"] is True and plan["released"] is False
    assert set(plan["files"]) >= {"datapackage.json", "CITATION.cff", "CHANGELOG.md"}
    assert release_cli(fixture, "1.0.0").exit_code == 0
    record = json.loads((fixture / "releases" / "1.0.0.json").read_text())
    assert plan["artifacts"] == record["artifacts"]


# ---------------------------------------------------------------- --reproduce

def _recorded_repo(root: Path) -> Path:
    init_repo(root)
    assert release_cli(root, "1.0.0").exit_code == 0
    commit_all(root, "Release 1.0.0")
    return root


@needs_git
def test_reproduce_rebuilds_a_recorded_release_identically(fixture: Path) -> None:
    _recorded_repo(fixture)
    shutil.rmtree(fixture / "dist")  # the rebuild must not need the local artifacts
    status = git(fixture, "status", "--porcelain")
    result = release_cli(fixture, "1.0.0", "--reproduce")
    assert result.exit_code == 0, result.output
    assert "byte-identical" in result.output
    assert git(fixture, "status", "--porcelain") == status
    assert len(git(fixture, "worktree", "list").splitlines()) == 1


def _released_with_a_wrong_record(fixture: Path, built_with: dict[str, str] | None = None,
                                  as_before_1_2: bool = False) -> dict:
    """Release 1.0.0, then commit a record whose last artifact's SHA-256 is wrong (and built_with changed, or
    dropped as in records before 1.2.0)."""
    init_repo(fixture)
    assert release_cli(fixture, "1.0.0").exit_code == 0
    record_file = fixture / "releases" / "1.0.0.json"
    record = json.loads(record_file.read_text())
    assert record["built_with"] == releasing.build_environment()
    record["built_with"].update(built_with or {})
    if as_before_1_2:
        del record["built_with"]
    record["artifacts"][-1]["sha256"] = "0" * 64
    record_file.write_text(json.dumps(record))
    commit_all(fixture, "Release 1.0.0 with a wrong record")
    return record


@needs_git
def test_reproduce_fails_when_the_record_disagrees(fixture: Path) -> None:
    record = _released_with_a_wrong_record(fixture)
    result = release_cli(fixture, "1.0.0", "--reproduce", "--format", "json")
    assert result.exit_code == 1
    document = json.loads(result.stdout)
    assert document["identical"] is False
    assert [a["name"] for a in document["artifacts"] if a["actual"] != a["expected"]] == [record["artifacts"][-1]["name"]]


@needs_git
def test_reproduce_uses_the_release_commits_own_code(fixture: Path) -> None:
    code = fixture / "scripts" / "opimpact"
    shutil.copytree(REPO / "scripts" / "opimpact", code, ignore=shutil.ignore_patterns("__pycache__"))
    _recorded_repo(fixture)
    assert release_cli(fixture, "1.0.0", "--reproduce").exit_code == 0
    # a later commit changes the code; the old release still rebuilds with its own code
    release_py = code / "release.py"
    release_py.write_text(release_py.read_text().replace("compresslevel=9", "compresslevel=1"))
    commit_all(fixture, "change the zip compression")
    assert release_cli(fixture, "1.0.0", "--reproduce").exit_code == 0


@needs_git
def test_reproduce_detects_that_the_commits_code_was_changed_before_recording(fixture: Path) -> None:
    code = fixture / "scripts" / "opimpact"
    shutil.copytree(REPO / "scripts" / "opimpact", code, ignore=shutil.ignore_patterns("__pycache__"))
    release_py = code / "release.py"
    release_py.write_text(release_py.read_text().replace("compresslevel=9", "compresslevel=1"))
    _recorded_repo(fixture)  # built with this process's code (level 9), recorded with level-1 code
    result = release_cli(fixture, "1.0.0", "--reproduce")
    assert result.exit_code == 1
    assert "DIFFERS  op-impact-1.0.0.zip" in result.output


@needs_git
def test_reproduce_out_keeps_the_identical_files(fixture: Path, tmp_path: Path) -> None:
    _recorded_repo(fixture)
    record = json.loads((fixture / "releases" / "1.0.0.json").read_text())
    shutil.rmtree(fixture / "dist")
    status = git(fixture, "status", "--porcelain")
    for keep in (tmp_path / "new" / "1.0.0", tmp_path / "empty"):
        (tmp_path / "empty").mkdir(exist_ok=True)
        result = release_cli(fixture, "1.0.0", "--reproduce", "--out", str(keep))
        assert result.exit_code == 0, result.output
        assert f"kept the rebuilt files in {keep}" in result.output
        assert {p.name: (p.stat().st_size, sha256_bytes(p.read_bytes())) for p in keep.iterdir()} == {
            a["name"]: (a["bytes"], a["sha256"]) for a in record["artifacts"]}
    assert git(fixture, "status", "--porcelain") == status


@needs_git
@pytest.mark.parametrize("where", ["not empty", "a file", "data", "schemas", "releases", "the package"])
def test_reproduce_out_refuses_a_folder_that_is_not_new_or_near_package_files(fixture: Path, tmp_path: Path,
                                                                             where: str) -> None:
    _recorded_repo(fixture)
    keep = {"not empty": tmp_path / "full", "a file": tmp_path / "file", "data": fixture / "data" / "rebuilt",
            "schemas": fixture / "schemas", "releases": fixture / "releases" / "x", "the package": fixture}[where]
    if where == "not empty":
        keep.mkdir()
        (keep / "mine.txt").write_text("keep me\n")
    if where == "a file":
        keep.write_text("keep me\n")
    before, outside = snapshot(fixture), snapshot(tmp_path)
    result = release_cli(fixture, "1.0.0", "--reproduce", "--out", str(keep))
    assert result.exit_code == 2, result.output
    assert "--out" in result.output and "Traceback" not in result.output
    assert snapshot(fixture) == before and snapshot(tmp_path) == outside


@needs_git
def test_reproduce_out_writes_nothing_when_not_identical(fixture: Path, tmp_path: Path) -> None:
    init_repo(fixture)
    assert release_cli(fixture, "1.0.0").exit_code == 0
    record_file = fixture / "releases" / "1.0.0.json"
    record = json.loads(record_file.read_text())
    record["artifacts"][0]["sha256"] = "0" * 64
    record_file.write_text(json.dumps(record))
    commit_all(fixture, "Release 1.0.0 with a wrong record")
    keep = tmp_path / "keep"
    result = release_cli(fixture, "1.0.0", "--reproduce", "--out", str(keep), "--format", "json")
    assert result.exit_code == 1
    assert json.loads(result.stdout)["out"] is None and not keep.exists()


def test_out_without_reproduce_is_a_usage_error(fixture: Path, tmp_path: Path) -> None:
    result = release_cli(fixture, "1.0.0", "--out", str(tmp_path / "keep"))
    assert result.exit_code == 2 and not (tmp_path / "keep").exists()


def _recorded_in_this_repository(version: str) -> bool:
    done = subprocess.run(["git", "-C", str(REPO), "log", "--format=%H", "--", f"releases/{version}.json"],
                          capture_output=True, text=True, check=False)
    return done.returncode == 0 and bool(done.stdout.strip())


PUBLISHED = sorted(p.stem for p in (REPO / "releases").glob("*.json"))


@needs_git
@pytest.mark.parametrize("version", PUBLISHED)
def test_the_published_releases_reproduce_into_a_folder(version: str, tmp_path: Path) -> None:
    """Every published release rebuilds byte for byte, or (only where this environment's tools differ from the
    record's built_with) says which versions differ; it never passes or fails silently."""
    if not _recorded_in_this_repository(version):
        pytest.skip(f"this clone's history does not hold the commit that recorded {version}")
    keep = tmp_path / version
    result = release_cli(REPO, version, "--reproduce", "--out", str(keep), "--format", "json")
    record = json.loads((REPO / "releases" / f"{version}.json").read_text())
    document = json.loads(result.stdout)
    if result.exit_code == 0:
        assert document["identical"] is True
        assert {p.name: sha256_bytes(p.read_bytes()) for p in keep.iterdir()} == {
            a["name"]: a["sha256"] for a in record["artifacts"]}
        return
    assert result.exit_code == 1 and not keep.exists()
    if "built_with" not in record:  # records before 1.2.0: only the exports may depend on unrecorded versions
        assert document["environment_recorded"] is False
        differing = {a["name"] for a in document["artifacts"] if a["actual"] != a["expected"]}
        exports = {a["name"] for a in record["artifacts"] if a["name"].endswith((".xlsx", ".sqlite", ".parquet"))}
        assert differing <= exports | {"SHA256SUMS"}, f"{version}: {sorted(differing)} differ: {result.output}"
        return
    differing = releasing.environment_differences(record["built_with"])
    assert differing, f"{version} does not rebuild identically with the tools it was built with: {result.output}"
    assert document["environment_differs"] == differing


@needs_git
def test_reproduce_says_when_a_record_names_no_tool_versions(fixture: Path) -> None:
    _released_with_a_wrong_record(fixture, as_before_1_2=True)
    result = release_cli(fixture, "1.0.0", "--reproduce")
    assert result.exit_code == 1
    assert "note: the record of 1.0.0 does not say which tool versions built it" in result.output


@needs_git
def test_reproduce_names_the_tools_whose_version_differs(fixture: Path) -> None:
    _released_with_a_wrong_record(fixture, {"polars": "0.0.1"})
    result = release_cli(fixture, "1.0.0", "--reproduce")
    assert result.exit_code == 1
    assert "note: 1.0.0 was built with polars 0.0.1 (here " in result.output


@needs_git
def test_reproduce_refuses_an_unrecorded_release(fixture: Path) -> None:
    init_repo(fixture)
    result = release_cli(fixture, "1.0.0", "--reproduce")
    assert result.exit_code == 1 and "not recorded" in result.output


def test_reproduce_outside_git_is_a_usage_error(fixture: Path, monkeypatch) -> None:
    monkeypatch.setattr(releasing, "repo_root", lambda path: None)
    result = release_cli(fixture, "1.0.0", "--reproduce")
    assert result.exit_code == 2 and "not inside a git repository" in result.output


# ---------------------------------------------------------------- an interrupted release changes nothing

class Boom(RuntimeError):
    pass


def _fail_on_call(monkeypatch, name: str, call: int) -> None:
    original = getattr(releasing, name)
    calls = {"n": 0}

    def failing(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == call:
            raise Boom(f"simulated failure in {name}")
        return original(*args, **kwargs)

    monkeypatch.setattr(releasing, name, failing)


@pytest.mark.parametrize(("name", "call"), [
    ("write_release_zip", 1),  # building the artifacts
    ("render_sums", 2),  # the reproducibility rebuild
    ("_resource_entries", 1),  # after the rewritten files were written, before the record
    ("render_record", 1),  # writing the record, the last step before the files move into place
])
def test_an_interrupted_release_leaves_everything_as_it_was(fixture: Path, monkeypatch, name: str, call: int) -> None:
    before = snapshot(fixture)
    _fail_on_call(monkeypatch, name, call)
    with pytest.raises(Boom):
        releasing.release(fixture, "1.0.0")
    assert snapshot(fixture) == before
    assert not (fixture / "dist").exists() and not (fixture / "releases").exists()


def test_an_interrupted_second_release_keeps_the_first(released: Path, monkeypatch) -> None:
    add_row(released, "events", 0, "ev-0099")
    before = snapshot(released)
    _fail_on_call(monkeypatch, "render_record", 1)
    with pytest.raises(Boom):
        releasing.release(released, "1.1.0")
    assert snapshot(released) == before
    assert sorted(p.name for p in (released / "dist").iterdir()) == ["1.0.0"]


def _list_removed(root: Path, version: str, *ids: str) -> None:
    path = root / "CHANGELOG.md"
    text = path.read_text(encoding="utf-8")
    heading = f"## [{version}]"
    start = text.index(heading)
    end = text.find("\n## [", start + 1)
    entry = "### Removed\n\n" + "".join(f"- `{key}`\n" for key in ids) + "\n"
    path.write_text(text[:end + 1] + entry + text[end + 1:] if end >= 0 else text + entry, encoding="utf-8")


def test_a_released_id_never_disappears_without_a_removed_entry(released: Path) -> None:
    gone = remove_row(released, "quotes", 1)
    output = _refused(released, "2.0.0")
    assert "without a '### Removed' entry under [2.0.0]" in output and f"quotes {gone}" in output
    _list_removed(released, "1.1.0", gone)  # listed under another release: still refused
    assert f"quotes {gone}" in _refused(released, "2.0.0")
    _list_removed(released, "2.0.0", gone)
    result = release_cli(released, "2.0.0")
    assert result.exit_code == 0, result.output



# ---------------------------------------------------------------- dating the [Unreleased] section

UNRELEASED_LOG = "# Changelog\n\n## [Unreleased]\n\n### Added\n\n- Everything.\n"


def _zip_changelog(root: Path, version: str) -> str:
    with zipfile.ZipFile(root / "dist" / version / f"op-impact-{version}.zip") as archive:
        return archive.read(f"op-impact-{version}/CHANGELOG.md").decode("utf-8")


def test_a_release_dates_the_unreleased_section(fixture: Path) -> None:
    (fixture / "CHANGELOG.md").write_text(UNRELEASED_LOG, encoding="utf-8")
    result = release_cli(fixture, "1.0.0", "--date", "2026-12-02")
    assert result.exit_code == 0, result.output
    assert "released 1.0.0 dated 2026-12-02" in result.output
    changelog = (fixture / "CHANGELOG.md").read_text(encoding="utf-8")
    assert changelog.startswith("# Changelog\n\n## [Unreleased]\n\n## [1.0.0] - 2026-12-02\n\n### Added\n\n"
                                "- Everything.\n\n### Data changes\n\nFirst release")
    assert _zip_changelog(fixture, "1.0.0") == changelog
    assert json.loads((fixture / "releases" / "1.0.0.json").read_text())["date"] == "2026-12-02"
    assert 'date-released: "2026-12-02"' in (fixture / "CITATION.cff").read_text()


def test_the_unreleased_section_is_dated_today_utc_by_default(fixture: Path) -> None:
    (fixture / "CHANGELOG.md").write_text(UNRELEASED_LOG, encoding="utf-8")
    days = {dt.datetime.now(dt.timezone.utc).date()}
    result = release_cli(fixture, "1.0.0", "--format", "json")
    days.add(dt.datetime.now(dt.timezone.utc).date())  # the run may straddle midnight
    assert result.exit_code == 0, result.output
    date = json.loads(result.stdout)["date"]
    assert dt.date.fromisoformat(date) in days
    assert f"## [Unreleased]\n\n## [1.0.0] - {date}\n" in (fixture / "CHANGELOG.md").read_text()


def test_a_dry_run_leaves_the_unreleased_section_alone(fixture: Path) -> None:
    (fixture / "CHANGELOG.md").write_text(UNRELEASED_LOG, encoding="utf-8")
    before = snapshot(fixture)
    result = release_cli(fixture, "1.0.0", "--date", "2026-12-02", "--dry-run", "--format", "json")
    assert result.exit_code == 0, result.output
    plan = json.loads(result.stdout)
    assert plan["date"] == "2026-12-02" and "CHANGELOG.md" in plan["files"]
    assert snapshot(fixture) == before


def test_a_date_that_contradicts_the_heading_is_refused(fixture: Path) -> None:
    output = _refused(fixture, "1.0.0", "--date", "2026-12-02")
    assert "dates 1.0.0 2026-11-20, not 2026-12-02" in output
    assert release_cli(fixture, "1.0.0", "--date", "2026-11-20").exit_code == 0


@pytest.mark.parametrize("extra", [("--date", "2 Dec 2026"), ("--date", "2026-12-02", "--reproduce")])
def test_a_bad_date_option_is_a_usage_error(fixture: Path, extra: tuple[str, ...]) -> None:
    before = snapshot(fixture)
    result = release_cli(fixture, "1.0.0", *extra)
    assert result.exit_code == 2, result.output
    assert snapshot(fixture) == before


def test_an_interrupted_release_keeps_the_unreleased_section(fixture: Path, monkeypatch) -> None:
    (fixture / "CHANGELOG.md").write_text(UNRELEASED_LOG, encoding="utf-8")
    before = snapshot(fixture)
    _fail_on_call(monkeypatch, "render_record", 1)
    with pytest.raises(Boom):
        releasing.release(fixture, "1.0.0", date=dt.date(2026, 12, 2))
    assert snapshot(fixture) == before


@needs_git
def test_a_release_dated_from_unreleased_reproduces_identically(fixture: Path) -> None:
    (fixture / "CHANGELOG.md").write_text(UNRELEASED_LOG, encoding="utf-8")
    init_repo(fixture)
    assert release_cli(fixture, "1.0.0", "--date", "2026-12-02").exit_code == 0
    commit_all(fixture, "Release 1.0.0")
    shutil.rmtree(fixture / "dist")
    result = release_cli(fixture, "1.0.0", "--reproduce")
    assert result.exit_code == 0, result.output
    assert "1.0.0: byte-identical to the record" in result.output
