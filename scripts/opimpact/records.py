"""Release records: releases/VERSION.json in the repository, the record bundled in a release zip (release.json),
and opening the package of a recorded release.

A recorded release is opened from its zip in dist/ when that matches the record, else from the git commit that
added the record; either way its data files must match the hashes the record holds, so a shallow clone (whose
history stops before that commit) or a rewritten history can never stand in for the release.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .checksums import resource_hash_file, sha256_file
from .gitutil import GitError, GitMissing, commit_adding, is_shallow, open_package_at, parents
from .package import Package, UnreadableInput, open_package, read_json_file
from .semver import Version

RECORDS_DIR = "releases"
DIST_DIR = "dist"
RECORD_VERSION = 1
BUNDLED_RECORD = "release.json"  # the record a release zip carries beside its datapackage.json


def record_path(root: Path, version: str) -> Path:
    return root / RECORDS_DIR / f"{version}.json"


def zip_name(version: str) -> str:
    return f"op-impact-{version}.zip"


def load_record(path: Path) -> dict:
    """Read one record, raising UnreadableInput when it is not a record."""
    return _load(path, record_problem)


def _load(path: Path, problem_of) -> dict:
    """The record at path, checked by problem_of; UnreadableInput when it is missing, unreadable or not a record."""
    try:
        record = read_json_file(path, str(path))
    except FileNotFoundError:
        raise UnreadableInput(f"{path}: no such release record", rule=None) from None
    except (OSError, ValueError) as exc:
        raise UnreadableInput(f"{path}: {exc}", rule=None) from None
    problem = problem_of(record)
    if problem:
        raise UnreadableInput(f"{path}: not a usable release record: {problem}", rule=None)
    return record


_SHA256 = re.compile(r"[0-9a-f]{64}")
_HASH = re.compile(r"sha256:[0-9a-f]{64}")


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def record_problem(record: object) -> str | None:
    """What makes a parsed record unusable, or None: a 'version' text, an 'artifacts' list of {name, bytes,
    sha256}, and optionally a 'date', a 'resources' list of {name, path, bytes, hash} and 'built_with' {tool: version}."""
    if not isinstance(record, dict) or not isinstance(record.get("artifacts"), list):
        return "needs 'version' and an 'artifacts' list"
    if not isinstance(record.get("version"), str) or not record["version"]:
        return "'version' must be text"
    if "date" in record and not isinstance(record["date"], str):
        return "'date' must be text (YYYY-MM-DD)"
    for item in record["artifacts"]:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str) or not _is_count(item.get("bytes")) \
                or not isinstance(item.get("sha256"), str) or not _SHA256.fullmatch(item["sha256"]):
            return "every artifact needs a name, a size in bytes and a SHA-256 of 64 lowercase hex digits"
    built_with = record.get("built_with", {})
    if not isinstance(built_with, dict) or not all(isinstance(v, str) for v in built_with.values()):
        return "'built_with' must map each tool to its version (text)"
    resources = record.get("resources", [])
    if not isinstance(resources, list):
        return "'resources' must be a list"
    for entry in resources:
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str) \
                or not isinstance(entry.get("path"), str) or not _is_count(entry.get("bytes")) \
                or not isinstance(entry.get("hash"), str) or not _HASH.fullmatch(entry["hash"]):
            return "every resource needs a name, a path, a size in bytes and a hash 'sha256:' + 64 hex digits"
    return None


def bundled_problem(record: object) -> str | None:
    """What makes a parsed bundled record (release.json) unusable, or None: a record whose 'members' list
    {path, bytes, sha256} for every other file of the zip."""
    problem = record_problem(record)
    if problem:
        return problem
    members = record.get("members")  # type: ignore[union-attr]
    if not isinstance(members, list):
        return "needs a 'members' list"
    beside = record.get("published_with", [])  # type: ignore[union-attr]
    if not isinstance(beside, list) or not all(isinstance(name, str) for name in beside):
        return "'published_with' must list file names"
    for item in members:
        if not isinstance(item, dict) or not isinstance(item.get("path"), str) or not _is_count(item.get("bytes")) \
                or not isinstance(item.get("sha256"), str) or not _SHA256.fullmatch(item["sha256"]):
            return "every member needs a path, a size in bytes and a SHA-256 of 64 lowercase hex digits"
    return None


def load_bundled_record(root: Path) -> dict | None:
    """The bundled record root/release.json, or None when there is none; UnreadableInput when it is not one."""
    path = root / BUNDLED_RECORD
    if not path.exists():
        return None
    return _load(path, bundled_problem)


def recorded_versions(root: Path) -> dict[Version, Path]:
    """Every recorded release under root/releases, by version; UnreadableInput for a badly named record."""
    folder = root / RECORDS_DIR
    found: dict[Version, Path] = {}
    if not folder.is_dir():
        return found
    for path in sorted(folder.glob("*.json")):
        try:
            version = Version.parse(path.stem)
        except ValueError:
            raise UnreadableInput(f"{path}: a release record must be named VERSION.json with a semantic version", rule=None) from None
        found[version] = path
    return found


def recorded_dates(root: Path) -> dict[str, dt.date]:
    """The release date of every recorded release, by version text."""
    return {str(version): _record_date(load_record(path), path) for version, path in recorded_versions(root).items()}


def known_release_dates(root: Path) -> dict[str, dt.date]:
    """recorded_dates, plus the release of the bundled record when root is an unzipped release (no releases/)."""
    dates = recorded_dates(root)
    bundled = load_bundled_record(root)
    if bundled is not None and bundled["version"] not in dates:
        dates[bundled["version"]] = _record_date(bundled, root / BUNDLED_RECORD)
    return dates


def _record_date(record: dict, path: Path) -> dt.date:
    try:
        return dt.date.fromisoformat(record.get("date", ""))
    except ValueError:
        raise UnreadableInput(f"{path}: 'date' {record.get('date')!r} is not YYYY-MM-DD", rule=None) from None


def render_record(record: dict) -> str:
    return json.dumps(record, indent=2, ensure_ascii=False) + "\n"


@contextmanager
def open_release(root: Path, version: str) -> Iterator[Package]:
    """The package of a recorded release: its zip in dist/ when it matches the record, else the git commit
    that added the record (that commit holds the released files). UnreadableInput when neither is available."""
    record = load_record(record_path(root, version))
    expected = {a["name"]: a["sha256"] for a in record["artifacts"]}
    local_zip = root / DIST_DIR / version / zip_name(version)
    if local_zip.is_file() and expected.get(local_zip.name) == sha256_file(local_zip):
        with open_package(local_zip) as package:
            package.label = f"release {version}"
            _check_released_data(package, record, version, f"{local_zip}")
            yield package
        return
    rel = f"{RECORDS_DIR}/{version}.json"
    missing = f"release {version}: {local_zip} is missing or differs from the record, and"
    try:
        commit = commit_adding(root, rel)
        boundary = commit is not None and is_shallow(root) and not parents(root, commit)
    except GitMissing as exc:
        raise UnreadableInput(f"{missing} {exc}, so the commit that added {rel} cannot be looked up", rule=None) from None
    except GitError as exc:
        raise UnreadableInput(f"{missing} git cannot find the commit that added {rel} ({exc})", rule=None) from None
    if commit is None:
        raise UnreadableInput(f"{missing} no commit adds {rel} (commit the record after releasing)", rule=None)
    if boundary:
        raise UnreadableInput(f"{missing} this is a shallow clone (git clone --depth): its history stops before the "
                              f"commit that added {rel}, so release {version} cannot be compared with. Run "
                              f"`git fetch --unshallow`, or put {DIST_DIR}/{version}/{zip_name(version)} in place", rule=None)
    with open_package_at(root, commit, f"release {version}") as package:
        _check_released_data(package, record, version, f"commit {commit[:12]}")
        yield package


def _check_released_data(package: Package, record: dict, version: str, source: str) -> None:
    """Refuse a source of a release whose data files are not the ones the record lists."""
    for entry in record.get("resources") or []:
        resource = package.resources.get(entry["name"])
        path = resource.path if resource is not None else None
        actual = resource_hash_file(path) if path is not None and path.is_file() else None
        if actual != (entry["bytes"], entry["hash"]):
            raise UnreadableInput(f"release {version}: {entry['path']} in {source} is not the file the record "
                                  f"{RECORDS_DIR}/{version}.json lists, so it is not release {version}", rule=None)
