"""Release records: releases/VERSION.json in the repository, and opening the package of a recorded release."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .checksums import sha256_file
from .gitutil import GitError, commit_adding, open_package_at
from .package import Package, UnreadableInput, open_package, read_json_file
from .semver import Version

RECORDS_DIR = "releases"
DIST_DIR = "dist"
RECORD_VERSION = 1


def record_path(root: Path, version: str) -> Path:
    return root / RECORDS_DIR / f"{version}.json"


def zip_name(version: str) -> str:
    return f"op-impact-{version}.zip"


def load_record(path: Path) -> dict:
    """Read one record, raising UnreadableInput when it is not a record."""
    try:
        record = read_json_file(path, str(path))
    except FileNotFoundError:
        raise UnreadableInput(f"{path}: no such release record") from None
    except (OSError, ValueError) as exc:
        raise UnreadableInput(f"{path}: {exc}") from None
    if not isinstance(record, dict) or not isinstance(record.get("artifacts"), list) or "version" not in record:
        raise UnreadableInput(f"{path}: not a release record (needs 'version' and an 'artifacts' list)")
    for item in record["artifacts"]:
        if not isinstance(item, dict) or not {"name", "bytes", "sha256"} <= set(item):
            raise UnreadableInput(f"{path}: every artifact needs name, bytes and sha256; found {item!r}")
    return record


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
            raise UnreadableInput(f"{path}: a release record must be named VERSION.json with a semantic version") from None
        found[version] = path
    return found


def recorded_dates(root: Path) -> dict[str, dt.date]:
    """The release date of every recorded release, by version text."""
    dates = {}
    for version, path in recorded_versions(root).items():
        record = load_record(path)
        try:
            dates[str(version)] = dt.date.fromisoformat(str(record.get("date")))
        except ValueError:
            raise UnreadableInput(f"{path}: 'date' {record.get('date')!r} is not YYYY-MM-DD") from None
    return dates


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
            yield package
        return
    rel = f"{RECORDS_DIR}/{version}.json"
    try:
        commit = commit_adding(root, rel)
    except GitError as exc:
        raise UnreadableInput(f"release {version}: {local_zip} is missing or differs from the record, and git "
                              f"cannot find the commit that added {rel} ({exc})") from None
    if commit is None:
        raise UnreadableInput(f"release {version}: {local_zip} is missing or differs from the record, and no "
                              f"commit adds {rel} (commit the record after releasing)")
    with open_package_at(root, commit, f"release {version}") as package:
        yield package
