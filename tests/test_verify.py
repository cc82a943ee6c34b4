"""`opimpact verify`: checksums, resource hashes, the release record, validation, and unsafe zips."""

from __future__ import annotations

import json
import shutil
import stat
import tempfile
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from opimpact.checksums import parse_sums, render_sums
from opimpact.cli import cli

from helpers import snapshot
from release_helpers import flip_byte, make_release_fixture, rewrite_zip

RESOURCES = ("events", "assets", "personnel_levels", "sources", "quotes")


def run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def verify_json(*args: str) -> tuple[int, dict]:
    result = run("verify", *args, "--format", "json")
    return result.exit_code, json.loads(result.stdout)


def failed(document: dict) -> set[str]:
    return {c["check"] for c in document["checks"] if c["status"] == "fail"}


@pytest.fixture(scope="module")
def released_once(tmp_path_factory) -> Path:
    root = make_release_fixture(tmp_path_factory.mktemp("released") / "pkg")
    assert run("release", "1.0.0", str(root)).exit_code == 0
    return root


@pytest.fixture
def released(released_once: Path, tmp_path: Path) -> Path:
    """A private copy of a released fixture that a test may damage."""
    copy = tmp_path / "pkg"
    shutil.copytree(released_once, copy)
    return copy


def dist(root: Path) -> Path:
    return root / "dist" / "1.0.0"


def test_a_release_folder_verifies(released: Path) -> None:
    code, document = verify_json(str(dist(released)))
    assert code == 0, document
    assert document["ok"] and document["version"] == "1.0.0"
    assert document["record"].endswith("releases/1.0.0.json")  # found above dist/1.0.0
    checks = {c["check"] for c in document["checks"] if c["status"] == "pass"}
    assert checks == {"sha256sums", "zip-safety", "resource", "validation", "bundled", "record"}
    assert not document["record_bundled"]
    assert document["verdict"] == "verified" and document["against_record"]
    text = run("verify", str(dist(released))).stdout
    assert text.rstrip().endswith("checks passed)") and "verified against the release record" in text


def test_the_zip_alone_and_the_repository_verify(released: Path, tmp_path: Path) -> None:
    alone = tmp_path / "download"
    alone.mkdir()
    shutil.copy(dist(released) / "op-impact-1.0.0.zip", alone)
    code, document = verify_json(str(alone / "op-impact-1.0.0.zip"))  # only the record inside the zip
    assert code == 0 and document["verdict"] == "verified" and document["record_bundled"], document
    assert document["record"].endswith("op-impact-1.0.0.zip/release.json")
    text = run("verify", str(alone / "op-impact-1.0.0.zip")).stdout
    assert "verified against the release record bundled in the download" in text
    assert "travels with the files" in text and "SHA256SUMS" in text  # says what it does not prove
    # without the bundled record: consistency only, not verified
    rewrite_zip(dist(released) / "op-impact-1.0.0.zip", alone / "bare.zip", lambda name, data: data,
                keep=lambda name: not name.endswith("/release.json"))
    code, document = verify_json(str(alone / "bare.zip"))
    assert code == 1 and {c["status"] for c in document["checks"] if c["check"] == "record"} == {"skip"}
    assert document["verdict"] == "consistent" and not document["against_record"] and not document["failed"]
    code, document = verify_json(str(alone / "bare.zip"), "--consistency-only")
    assert code == 0 and document["verdict"] == "consistent" and document["consistency_only"]
    code, document = verify_json(str(alone / "op-impact-1.0.0.zip"), "--record",
                                 str(released / "releases" / "1.0.0.json"))
    assert code == 0 and any(c["check"] == "record" and c["status"] == "pass" for c in document["checks"])
    code, document = verify_json(str(released))
    assert code == 0, document


@pytest.mark.parametrize("resource", RESOURCES)
@pytest.mark.parametrize("where", ["package", "zip"])
def test_a_flipped_byte_in_any_csv_is_caught(released: Path, resource: str, where: str) -> None:
    if where == "package":
        path = released / "data" / f"{resource}.csv"
        path.write_bytes(flip_byte(path.read_bytes(), 40))
        code, document = verify_json(str(released))
        assert code == 1
        assert "record" in failed(document)  # the working tree's descriptor has no hash: the record catches it
        assert any(f"data/{resource}.csv" in c["message"] for c in document["checks"] if c["status"] == "fail")
        return
    zip_path = dist(released) / "op-impact-1.0.0.zip"
    original = zip_path.with_suffix(".orig")
    zip_path.rename(original)
    target = f"op-impact-1.0.0/data/{resource}.csv"
    rewrite_zip(original, zip_path, lambda name, data: flip_byte(data, 40) if name == target else data)
    original.unlink()
    code, document = verify_json(str(dist(released)))
    assert code == 1
    assert {"sha256sums", "resource", "record"} <= failed(document)


def test_a_tampered_sha256sums_is_caught(released: Path) -> None:
    sums_path = dist(released) / "SHA256SUMS"
    sums = parse_sums(sums_path.read_text())
    sums["op-impact-1.0.0.zip"] = "f" * 64
    sums_path.write_text(render_sums(sums))
    code, document = verify_json(str(dist(released)))
    assert code == 1
    assert {"sha256sums", "record"} <= failed(document)


def test_a_file_missing_from_sha256sums_is_caught(released: Path) -> None:
    sums_path = dist(released) / "SHA256SUMS"
    sums = parse_sums(sums_path.read_text())
    del sums["op-impact-1.0.0.zip"]
    sums_path.write_text(render_sums(sums))
    code, document = verify_json(str(dist(released)))
    assert code == 1 and "not listed" in json.dumps(document)


def test_an_extra_file_in_the_release_folder_is_caught(released: Path) -> None:
    (dist(released) / "op-impact-1.0.0.csv").write_text("sneaky\n")
    code, document = verify_json(str(dist(released)))
    assert code == 1 and "sha256sums" in failed(document)


def test_a_record_of_another_release_is_caught(released: Path, tmp_path: Path) -> None:
    record = json.loads((released / "releases" / "1.0.0.json").read_text())
    record["artifacts"][-1]["sha256"] = "0" * 64
    forged = tmp_path / "forged.json"
    forged.write_text(json.dumps(record))
    code, document = verify_json(str(dist(released)), "--record", str(forged))
    assert code == 1 and failed(document) == {"record"}


def test_an_unreleased_package_does_not_verify(tmp_path: Path) -> None:
    root = make_release_fixture(tmp_path / "pkg")
    code, document = verify_json(str(root))
    assert code == 1 and "no hash" in json.dumps(document)


def test_a_missing_target_is_exit_2(tmp_path: Path) -> None:
    result = run("verify", str(tmp_path / "nowhere.zip"))
    assert result.exit_code == 2 and "nowhere.zip" in result.output


def _hostile_zip(path: Path, entry: zipfile.ZipInfo | str, data: bytes = b"pwned\n") -> None:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("op-impact/datapackage.json", b"{}")
        archive.writestr(entry, data)


def _symlink_entry() -> zipfile.ZipInfo:
    info = zipfile.ZipInfo("op-impact/data/events.csv")
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info


@pytest.mark.parametrize("entry", ["../evil.txt", "op-impact/../../evil.txt", "/tmp/evil.txt", "link"])
def test_an_unsafe_zip_is_refused_and_nothing_lands_outside(tmp_path: Path, monkeypatch, entry: str) -> None:
    work = tmp_path / "work"
    scratch = tmp_path / "scratch"
    work.mkdir()
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    bad = work / "op-impact-1.0.0.zip"
    _hostile_zip(bad, _symlink_entry() if entry == "link" else entry, b"/etc/passwd" if entry == "link" else b"x\n")
    before = snapshot(tmp_path)
    code, document = verify_json(str(bad))
    assert code == 1
    assert failed(document) == {"zip-safety"}
    assert "nothing extracted" in json.dumps(document)
    assert snapshot(tmp_path) == before  # nothing extracted anywhere, temporary folder included
    assert list(scratch.iterdir()) == []
    assert not Path("/tmp/evil.txt").exists()


@pytest.mark.parametrize(("limit", "value", "message"), [("MAX_ZIP_ENTRIES", 3, "entries, over the limit"),
                                                       ("MAX_ZIP_ENTRY_BYTES", 100, "over the limit")])
def test_a_zip_over_the_limits_is_refused(released: Path, monkeypatch, limit: str, value: int, message: str) -> None:
    from opimpact import limits

    monkeypatch.setattr(limits, limit, value)
    code, document = verify_json(str(dist(released) / "op-impact-1.0.0.zip"))
    assert code == 1 and failed(document) == {"zip-safety"}
    assert message in json.dumps(document)


def test_a_file_other_than_a_zip_is_checked_against_sums_and_record(released: Path) -> None:
    code, document = verify_json(str(dist(released) / "SHA256SUMS"))  # the folder it names
    assert code == 0
    xlsx = dist(released) / "op-impact-1.0.0.xlsx"
    if not xlsx.exists():
        pytest.skip("the workbook export is not present in this build")
    code, document = verify_json(str(xlsx))
    assert code == 0 and {c["check"] for c in document["checks"]} == {"sha256sums", "record"}
    xlsx.write_bytes(flip_byte(xlsx.read_bytes(), 100))
    code, document = verify_json(str(xlsx))
    assert code == 1 and failed(document) == {"sha256sums", "record"}


# ---------------------------------------------------------------- SHA256SUMS format (property-based)

names = st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=0x2FFF, exclude_characters="/\\"),
                min_size=1, max_size=30).filter(lambda n: n not in (".", "..") and n.isprintable())
digests = st.text(alphabet="0123456789abcdef", min_size=64, max_size=64)


@given(st.dictionaries(names, digests, max_size=8))
def test_sums_round_trip(sums: dict[str, str]) -> None:
    text = render_sums(sums)
    assert parse_sums(text) == sums
    assert text == render_sums(parse_sums(text))  # sorted and stable
    assert all(len(line.split("  ", 1)[0]) == 64 for line in text.splitlines())


@given(st.dictionaries(names, digests, min_size=1, max_size=5), st.sampled_from(["short", "slash", "dup", "space"]))
def test_sums_rejects_malformed_lines(sums: dict[str, str], damage: str) -> None:
    name, digest = next(iter(sums.items()))
    bad = {"short": f"{digest[:-1]}  {name}\n", "slash": f"{digest}  ../{name}\n",
           "dup": f"{digest}  {name}\n", "space": f"{digest}{name}\n"}[damage]
    with pytest.raises(ValueError, match="SHA256SUMS line"):
        parse_sums(render_sums(sums) + bad)


@given(names, st.sampled_from(["\n", "\r", "\x00", "\x85", "\u2028", "\t"]))
def test_sums_refuses_names_with_control_characters(name: str, control: str) -> None:
    with pytest.raises(ValueError, match="not a plain file name"):
        render_sums({name + control + name: "a" * 64})


def test_sums_accepts_binary_mode_and_crlf() -> None:
    digest = "a" * 64
    assert parse_sums(f"{digest} *file.zip\r\n\n") == {"file.zip": digest}
