"""Fixture packages and git repositories for the release, verify, cite and diff tests.

A fixture is the shared sample package (tests/export_sample.py) with the files a release ships (README.md,
LICENSE, CITATION.cff, .zenodo.json from the repository) and a CHANGELOG.md written by the test. Its descriptor
is reset to an unreleased state so the tests never depend on the repository's own release history.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import zipfile
from pathlib import Path

from opimpact.codebook import write_codebook
from opimpact.plot import plot_timeline, timeline_fingerprint

from export_sample import REPO, make_sample_package
from helpers import read_csv, write_csv

RELEASE_FILES = ("LICENSE", "CITATION.cff", ".zenodo.json", "docs/codebook.md", "docs/timeline.png",
                 "scripts/load_op_impact.R", "templates/release-README.md", "templates/descriptions.json")
GIT_ENV = {
    "GIT_AUTHOR_NAME": "Test", "GIT_AUTHOR_EMAIL": "test@example.invalid",
    "GIT_COMMITTER_NAME": "Test", "GIT_COMMITTER_EMAIL": "test@example.invalid",
    "GIT_AUTHOR_DATE": "2026-01-01T00:00:00Z", "GIT_COMMITTER_DATE": "2026-01-01T00:00:00Z",
    "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1",
}


def changelog(*sections: tuple[str, str]) -> str:
    """CHANGELOG.md text with one '## [version] - date' section per (version, date), newest first."""
    body = "".join(f"## [{v}] - {d}\n\n- Release {v}.\n\n" for v, d in sections)
    return f"# Changelog\n\n## [Unreleased]\n\n{body}"


def make_release_fixture(dest: Path, sections: tuple[tuple[str, str], ...] = (("1.0.0", "2026-11-20"),)) -> Path:
    """A complete, valid, unreleased package folder at dest, ready for `opimpact release`."""
    make_sample_package(dest)
    descriptor = json.loads((dest / "datapackage.json").read_text(encoding="utf-8"))
    descriptor["version"] = "0.0.0"
    for resource in descriptor["resources"]:
        resource.pop("bytes", None)
        resource.pop("hash", None)
    (dest / "datapackage.json").write_text(json.dumps(descriptor, indent=2, ensure_ascii=False) + "\n",
                                           encoding="utf-8")
    for name in RELEASE_FILES:
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / name, dest / name)
    (dest / "README.md").write_text("# op-impact (test fixture)\n", encoding="utf-8")
    write_changelog(dest, *sections)
    current_docs(dest)
    return dest


_PICTURES: dict[str, bytes] = {}  # timeline by fingerprint: the sample data draw the same picture in every test


def current_docs(root: Path) -> None:
    """Make docs/codebook.md and docs/timeline.png describe root's data, as a maintainer does before a release."""
    write_codebook(root, root / "docs" / "codebook.md")
    fingerprint = timeline_fingerprint(root)
    if fingerprint not in _PICTURES:
        plot_timeline(root, root / "docs" / "timeline.png")
        _PICTURES[fingerprint] = (root / "docs" / "timeline.png").read_bytes()
    (root / "docs" / "timeline.png").write_bytes(_PICTURES[fingerprint])


def write_changelog(root: Path, *sections: tuple[str, str]) -> None:
    (root / "CHANGELOG.md").write_text(changelog(*sections), encoding="utf-8")


def git(root: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True,
                          env={**os.environ, **GIT_ENV}, check=True)
    return done.stdout


def init_repo(root: Path) -> None:
    git(root, "init", "-q", "-b", "main")
    commit_all(root, "fixture")


def commit_all(root: Path, message: str) -> None:
    git(root, "add", "-A")
    git(root, "commit", "-q", "--allow-empty", "-m", message)


def add_row(root: Path, resource: str, copy_index: int, new_key: str) -> None:
    """Append a copy of an existing row under a new primary key."""
    header, rows = read_csv(root / "data" / f"{resource}.csv")
    row = list(rows[copy_index])
    row[0] = new_key
    write_csv(root / "data" / f"{resource}.csv", header, rows + [row])


def remove_row(root: Path, resource: str, index: int) -> str:
    header, rows = read_csv(root / "data" / f"{resource}.csv")
    removed = rows.pop(index)
    write_csv(root / "data" / f"{resource}.csv", header, rows)
    return removed[0]


def _schema_path(root: Path, resource: str) -> Path:
    return root / "schemas" / f"{resource}.schema.json"


def edit_schema(root: Path, resource: str, edit) -> None:
    """Apply edit(schema_dict) to a resource's Table Schema file."""
    path = _schema_path(root, resource)
    schema = json.loads(path.read_text(encoding="utf-8"))
    edit(schema)
    path.write_text(json.dumps(schema, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def add_field(root: Path, resource: str, field: dict, value: str = "") -> None:
    """Add a field at the end of a table: schema and one value per CSV row."""
    edit_schema(root, resource, lambda s: s["fields"].append(field))
    header, rows = read_csv(root / "data" / f"{resource}.csv")
    write_csv(root / "data" / f"{resource}.csv", header + [field["name"]], [r + [value] for r in rows])


def drop_field(root: Path, resource: str, name: str) -> None:
    edit_schema(root, resource, lambda s: s.update(fields=[f for f in s["fields"] if f["name"] != name]))
    header, rows = read_csv(root / "data" / f"{resource}.csv")
    index = header.index(name)
    write_csv(root / "data" / f"{resource}.csv", header[:index] + header[index + 1:],
              [r[:index] + r[index + 1:] for r in rows])


def set_field_property(root: Path, resource: str, name: str, key: str, value: object) -> None:
    """Set one property of one field in a resource's Table Schema."""
    def edit(schema: dict) -> None:
        for f in schema["fields"]:
            if f["name"] == name:
                f[key] = value

    edit_schema(root, resource, edit)


def rename_field(root: Path, resource: str, old: str, new: str) -> None:
    set_field_property(root, resource, old, "name", new)
    header, rows = read_csv(root / "data" / f"{resource}.csv")
    write_csv(root / "data" / f"{resource}.csv", [new if h == old else h for h in header], rows)


def set_field_type(root: Path, resource: str, name: str, kind: str) -> None:
    set_field_property(root, resource, name, "type", kind)


def rewrite_zip(source: Path, dest: Path, change, keep=lambda name: True) -> None:
    """Copy a zip entry by entry, passing each (name, bytes) through change(name, data) -> bytes; entries whose
    name keep(name) refuses are left out."""
    with zipfile.ZipFile(source) as zin, zipfile.ZipFile(dest, "w") as zout:
        for info in zin.infolist():
            if keep(info.filename):
                zout.writestr(info, change(info.filename, zin.read(info)))


def flip_byte(data: bytes, index: int) -> bytes:
    """data with one byte changed to a different printable byte (so the CSV stays UTF-8)."""
    index %= len(data)
    replacement = b"X" if data[index:index + 1] != b"X" else b"Y"
    return data[:index] + replacement + data[index + 1:]
