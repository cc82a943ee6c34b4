"""Versioned, reproducible, checksummed releases: check, classify the bump, build under dist/VERSION, record.

A release is built from a staged copy of the package whose datapackage.json, CITATION.cff, CHANGELOG.md and
.zenodo.json carry the release's version and date. Preparing those files is idempotent, so the commit that holds
the release record (and thus the already prepared files) rebuilds byte-identical artifacts (`--reproduce`).
The staged copy alone gets each resource's `bytes` and `hash`, the README rendered for the download
(templates/release-README.md) and the bundled record release.json; the working tree's descriptor never holds
`bytes` or `hash`, so any valid edit keeps it valid for frictionless too. Descriptions and counts come from
the data (release_text).
Edited files keep their line endings (LF, CRLF or CR) and byte-order mark. Everything a release writes (the
dist/VERSION folder, the rewritten files, the record) is one transaction: all of it appears, or none of it.
"""

from __future__ import annotations

import datetime as dt
import importlib
import importlib.util
import inspect
import json
import os
import platform
import stat
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

from . import limits, safeio
from .atomic import transaction
from .changelog import CHANGELOG_NAME, ChangelogError, dated_release, release_date, unlisted_removals, with_subsection
from .checksums import SUMS_NAME, render_sums, resource_hash, sha256_bytes
from .cite import CITATION_NAME, with_abstract, with_release
from .diff import changelog_entry, diff_packages, first_release_entry
from .errors import OpimpactError
from .gitutil import GitError, GitMissing, commit_adding, repo_prefix, repo_root, show_file, worktree
from .newlines import line_ending, with_line_ending
from .package import (
    DESCRIPTOR_NAME,
    LinkLoop,
    UnreadableInput,
    open_package,
    read_json_file,
    resolve_inside,
    resolve_path,
)
from .records import (
    BUNDLED_RECORD,
    DIST_DIR,
    RECORD_VERSION,
    RECORDS_DIR,
    open_release,
    record_path,
    record_problem,
    recorded_versions,
    render_record,
    zip_name,
)
from .release_text import DESCRIPTIONS_TEMPLATE, README_TEMPLATE, data_values, descriptions, release_readme
from .semver import Version, announced_bump

README_NAME = "README.md"
LICENSE_NAME = "LICENSE"
ZENODO_NAME = ".zenodo.json"
ZIP_EXTRAS = (README_NAME, CHANGELOG_NAME, CITATION_NAME, LICENSE_NAME)
# Documents the release README names, shipped in the zip at the same paths.
CODEBOOK_PATH = "docs/codebook.md"
TIMELINE_PATH = "docs/timeline.png"
RELEASE_DOCS = (CODEBOOK_PATH, TIMELINE_PATH, "scripts/load_op_impact.R")
REQUIRED_FILES = (*ZIP_EXTRAS, *RELEASE_DOCS, README_TEMPLATE, DESCRIPTIONS_TEMPLATE)
FILE_PROPERTIES = ("bytes", "hash")  # only in the release's staged descriptor and the records
DATA_CHANGES = "Data changes"
FILE_MODE = 0o644
DIR_MODE = 0o755
# Exports built into a release when their module is present: (module, function, file extension).
# Each is called as function(staged_package_folder, out_path[, check=False]) with out_path
# op-impact-VERSION.EXTENSION (the Parquet exporter writes op-impact-VERSION.<table>.parquet beside it); the
# staged datapackage.json carries the release's version and created time. It must write the same bytes for
# the same package: a release refuses an export whose two builds differ.
EXPORTERS: tuple[tuple[str, str, str], ...] = (
    ("opimpact.export_xlsx", "write_workbook", "xlsx"),
    ("opimpact.export_sqlite", "write_database", "sqlite"),
    ("opimpact.export_sqlite", "write_datasette_metadata", "metadata.json"),
    ("opimpact.export_parquet", "write_release_tables", "parquet"),
)

# Libraries whose version can change an artifact's bytes (recorded as built_with; a rebuild names any that differ).
BYTE_DECIDING_LIBRARIES = ("polars", "xlsxwriter", "matplotlib")

Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    return None


class ReleaseRefused(OpimpactError):
    """The release cannot go ahead (exit code 1); nothing was changed."""

    def __init__(self, message: str, report=None, changes=None) -> None:
        super().__init__(message)
        self.report = report
        self.changes = changes or []


class ReleaseUsageError(OpimpactError):
    """The command was used wrongly: a malformed version, no package, no git repository (exit code 2)."""

    exit_code = 2


@dataclass
class Artifact:
    name: str
    bytes: int
    sha256: str


@dataclass
class ReleasePlan:
    """What a release does (or, with --dry-run, would do)."""

    version: str
    date: str
    previous: str | None
    required_bump: str | None
    announced_bump: str | None
    changes: list[dict] = field(default_factory=list)
    data_changes: str = ""
    files: list[str] = field(default_factory=list)  # repo files the release rewrites
    artifacts: list[Artifact] = field(default_factory=list)
    exports_skipped: list[str] = field(default_factory=list)
    docs_regenerated: list[str] = field(default_factory=list)  # stale in the working tree; fresh in the release
    archive_checked: bool = False
    dry_run: bool = False

    def to_dict(self) -> dict:
        return asdict(self)


# ---------------------------------------------------------------- preparing the released files

def generated_values(root: Path, version: str, date: dt.date) -> dict[str, str]:
    """The placeholders of the templates, counted from the data at root, and the descriptions rendered from them."""
    try:
        with open_package(root) as package:
            values = data_values(package, version, date.isoformat())
    except UnreadableInput as exc:
        raise ReleaseRefused(f"the data cannot be counted: {exc}") from None
    return {**values, **descriptions(root, values)}


def release_files(root: Path, version: str, date: dt.date, data_changes: str | None,
                  values: dict[str, str] | None = None) -> dict[str, bytes]:
    """The new bytes of every repo file a release rewrites. Applying it to its own output changes nothing."""
    values = values or generated_values(root, version, date)
    files = {DESCRIPTOR_NAME: _descriptor_bytes(root, version, date, values)}
    citation = with_release(_read_text(root / CITATION_NAME), version, date)
    files[CITATION_NAME] = with_abstract(citation, values["abstract"]).encode("utf-8")
    _, changelog = dated_release(_read_text(root / CHANGELOG_NAME), version, date)  # '[Unreleased]' gets dated
    if data_changes:
        changelog = with_subsection(changelog, version, DATA_CHANGES, data_changes)
    files[CHANGELOG_NAME] = changelog.encode("utf-8")
    if os.path.lexists(root / ZENODO_NAME):
        zenodo = _read_json(root / ZENODO_NAME)
        zenodo["version"] = version
        zenodo["publication_date"] = date.isoformat()
        files[ZENODO_NAME] = _json_bytes(zenodo, _read_text(root / ZENODO_NAME))
    return files


def _descriptor_bytes(root: Path, version: str, date: dt.date, values: dict[str, str]) -> bytes:
    """The working tree's datapackage.json: version, created, the generated description and source title, and no
    bytes or hash (a data edit would make them wrong, and frictionless would then refuse the package)."""
    descriptor = _read_json(root / DESCRIPTOR_NAME)
    descriptor["version"] = version
    descriptor["created"] = f"{date.isoformat()}T00:00:00Z"
    descriptor["description"] = values["description"]
    sources = descriptor.get("sources")
    if isinstance(sources, list) and sources and isinstance(sources[0], dict):
        sources[0]["title"] = values["sources_title"]
    for resource in descriptor.get("resources", []):
        if isinstance(resource, dict):
            for key in FILE_PROPERTIES:
                resource.pop(key, None)
    return _json_bytes(descriptor, _read_text(root / DESCRIPTOR_NAME))


def staged_files(root: Path, files: dict[str, bytes], values: dict[str, str]) -> dict[str, bytes]:
    """The files of the release's staged copy: the rewritten files, the descriptor with each resource's bytes and
    sha256 hash, and the README rendered for the download (naming only files the zip holds)."""
    descriptor = json.loads(files[DESCRIPTOR_NAME].decode("utf-8-sig"))
    for resource in descriptor.get("resources", []):
        path, reason = resolve_inside(root, resource.get("path"))
        if reason or path is None or not path.is_file():
            raise ReleaseRefused(f"{DESCRIPTOR_NAME}: resource {resource.get('name')!r}: "
                                 f"{reason or 'data file not found'}")
        data = path.read_bytes()
        resource["bytes"] = len(data)
        resource["hash"] = resource_hash(data)
    staged = dict(files)
    staged[DESCRIPTOR_NAME] = _json_bytes(descriptor, files[DESCRIPTOR_NAME].decode("utf-8"))
    staged[README_NAME] = release_readme(root, values).encode("utf-8")
    return staged


def current_docs(root: Path, staged: dict[str, bytes]) -> dict[str, bytes]:
    """The codebook and timeline the release must ship in place of stale ones: each is regenerated from the
    staged package when the committed file does not describe the data (text for the codebook, the plotted-data
    fingerprint for the timeline); a current committed file is shipped as it is, so its bytes do not depend on
    the installed matplotlib."""
    from .codebook import build_codebook
    from .plot import check_timeline, plot_timeline

    fresh = {}
    with tempfile.TemporaryDirectory(prefix="opimpact-docs-") as tmp:
        stage = stage_package(root, staged, Path(tmp))
        codebook = build_codebook(stage).encode("utf-8")
        if (stage / CODEBOOK_PATH).read_bytes() != codebook:
            fresh[CODEBOOK_PATH] = codebook
        if not check_timeline(stage, stage / TIMELINE_PATH).current:
            plot_timeline(stage, stage / TIMELINE_PATH, check=False)
            fresh[TIMELINE_PATH] = (stage / TIMELINE_PATH).read_bytes()
    return fresh


def _json_bytes(document: object, original: str = "") -> bytes:
    """The document as JSON text, with the line endings and byte-order mark of the file it replaces."""
    text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    bom = "\ufeff" if original.startswith("\ufeff") else ""
    return (bom + with_line_ending(text, line_ending(original))).encode("utf-8")


def _read_json(path: Path) -> dict:
    try:
        document = read_json_file(path, path.name)
    except FileNotFoundError:
        raise ReleaseRefused(f"{path.name} is missing; a release needs it") from None
    except safeio.NotRegularFile as exc:
        raise UnreadableInput(str(exc), rule=None) from None
    except (OSError, ValueError) as exc:
        raise ReleaseRefused(f"{path.name}: {getattr(exc, 'strerror', None) or exc}") from None
    if not isinstance(document, dict):
        raise ReleaseRefused(f"{path.name} must hold a JSON object")
    return document


def _read_text(path: Path) -> str:
    """A text file the release edits: a regular UTF-8 file within limits.MAX_TEXT_BYTES (exit 2 otherwise)."""
    try:
        return safeio.read_text(path, str(path), max(limits.MAX_TEXT_BYTES, limits.MAX_DESCRIPTOR_BYTES))
    except FileNotFoundError:
        raise ReleaseRefused(f"{path.name} is missing; a release needs it") from None
    except ValueError as exc:  # not a regular file, too large, not UTF-8
        raise UnreadableInput(str(exc), rule=None) from None
    except OSError as exc:
        raise UnreadableInput(f"{path}: cannot be read ({exc.strerror or exc})", rule=None) from None


def zip_members(root: Path) -> list[str]:
    """The files a release zip holds: the descriptor, every data file and schema it names, and the docs."""
    with open_package(root) as package:
        members = {DESCRIPTOR_NAME, *ZIP_EXTRAS, *RELEASE_DOCS}
        for resource in package.resources.values():
            members.add(resource.rel_path)
            if isinstance(resource.descriptor.get("schema"), str):
                members.add(resource.descriptor["schema"])
    for rel in members:
        path, reason = resolve_inside(root, rel)
        if reason is None and path is not None and os.path.lexists(path) and not safeio.is_regular(path):
            raise UnreadableInput(f"{rel}: not a regular file (a FIFO, device or folder); refused", rule=None)
        if reason or path is None or not path.is_file():
            raise ReleaseRefused(f"{rel}: {reason or 'missing'}; a release needs it")
    return sorted(members)


def stage_package(root: Path, files: dict[str, bytes], stage: Path) -> Path:
    """Copy the released files of root into stage, with the prepared files in place of the originals."""
    for rel in zip_members(root):
        target = stage / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(files[rel] if rel in files else (root / rel).read_bytes())
    return stage


# ---------------------------------------------------------------- building

def write_release_zip(stage: Path, version: str, date: dt.date, out: Path) -> None:
    """A reproducible zip: sorted entries under one folder, the release date as every timestamp,
    deflate level 9, mode 0644, Unix attributes, no directory entries and no comment."""
    prefix = f"op-impact-{version}"
    stamp = (date.year, date.month, date.day, 0, 0, 0)
    members = zip_members(stage) + ([BUNDLED_RECORD] if (stage / BUNDLED_RECORD).is_file() else [])
    with zipfile.ZipFile(out, "w") as archive:
        for rel in sorted(members):
            info = zipfile.ZipInfo(f"{prefix}/{rel}", date_time=stamp)
            info.create_system = 3
            info.external_attr = (stat.S_IFREG | FILE_MODE) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, (stage / rel).read_bytes(), compress_type=zipfile.ZIP_DEFLATED, compresslevel=9)


def available_exporters() -> list[tuple[str, Callable, str]]:
    """The exporters whose modules are present: (module, function, extension)."""
    found = []
    for module_name, function_name, extension in EXPORTERS:
        if importlib.util.find_spec(module_name) is None:
            continue
        function = getattr(importlib.import_module(module_name), function_name, None)
        if callable(function):
            found.append((module_name, function, extension))
    return found


def build_artifacts(stage: Path, version: str, date: dt.date, out: Path, progress: Progress = _quiet) -> list[Artifact]:
    """Write the exports, then the zip (with the bundled record naming them), then SHA256SUMS into out; return
    every artifact, sorted by name."""
    for module_name, function, extension in available_exporters():
        target = out / f"op-impact-{version}.{extension}"
        progress(f"building {target.name}")
        # the release has validated the package already; the staged descriptor carries version and created
        kwargs = {"check": False} if "check" in inspect.signature(function).parameters else {}
        try:
            function(stage, target, **kwargs)
        except Exception as exc:  # an exporter's own failure must not leave a half release
            raise ReleaseRefused(f"{module_name} failed to write {target.name}: {exc}") from exc
    side = sorted(p for p in out.iterdir() if p.is_file())
    (stage / BUNDLED_RECORD).write_text(render_record(bundled_record(stage, version, date, side)), encoding="utf-8")
    progress(f"building {zip_name(version)}")
    write_release_zip(stage, version, date, out / zip_name(version))
    artifacts = [_artifact(path) for path in out.iterdir() if path.is_file()]
    (out / SUMS_NAME).write_text(render_sums({a.name: a.sha256 for a in artifacts}), encoding="utf-8")
    artifacts.append(_artifact(out / SUMS_NAME))
    for path in out.iterdir():
        os.chmod(path, FILE_MODE)
    return sorted(artifacts, key=lambda artifact: artifact.name)


def bundled_record(stage: Path, version: str, date: dt.date, side: list[Path]) -> dict:
    """The record the zip carries (release.json): version, date, each resource's bytes and hash, the SHA-256 of
    every other member of the zip, and the names of the artifacts published beside it. Their SHA-256 stay out:
    Parquet files name the polars that wrote them, and the zip must not depend on that (SHA256SUMS and the
    repository's record hold them)."""
    members = zip_members(stage)
    return {"record_version": RECORD_VERSION, "bundled": True, "version": version, "date": date.isoformat(),
            "created": f"{date.isoformat()}T00:00:00Z",
            "note": "This record travels with the files: it shows they are complete and unchanged since the build. "
                    "The record in the op-impact repository (releases/VERSION.json) and SHA256SUMS published with "
                    "the release show that they are the release, and hold the SHA-256 of the files published "
                    "beside the zip.",
            "artifacts": [],
            "published_with": [path.name for path in side],
            "members": [{"path": rel, **_size_and_sha(stage / rel)} for rel in members],
            "resources": _resource_entries((stage / DESCRIPTOR_NAME).read_bytes())}


def _artifact(path: Path) -> Artifact:
    data = path.read_bytes()
    return Artifact(path.name, len(data), sha256_bytes(data))


def _size_and_sha(path: Path) -> dict:
    artifact = _artifact(path)
    return {"bytes": artifact.bytes, "sha256": artifact.sha256}


def build_release(root: Path, version: str, out: Path, data_changes: str | None = None,
                  progress: Progress = _quiet) -> list[Artifact]:
    """Build the artifacts of version from the package at root into out (no checks, no writes to root)."""
    date = release_date(_read_text(root / CHANGELOG_NAME), version)
    values = generated_values(root, version, date)
    files = staged_files(root, release_files(root, version, date, data_changes, values), values)
    files.update(current_docs(root, files))
    with tempfile.TemporaryDirectory(prefix="opimpact-stage-") as tmp:
        stage = stage_package(root, files, Path(tmp))
        return build_artifacts(stage, version, date, out, progress)


# ---------------------------------------------------------------- checks

def _parse_version(version: str) -> Version:
    try:
        return Version.parse(version)
    except ValueError as exc:
        raise ReleaseUsageError(str(exc)) from None


def _refuse_taken(root: Path, version: Version, records: dict[Version, Path]) -> None:
    if version in records:
        raise ReleaseRefused(f"release {version} already exists ({records[version].relative_to(root)}); "
                             "releases are immutable: choose a new version")
    if (root / DIST_DIR / str(version)).exists():
        raise ReleaseRefused(f"{DIST_DIR}/{version} already exists; releases are immutable: choose a new version "
                             "(or remove that folder if it is a leftover you do not need)")
    if records and version <= max(records):
        raise ReleaseRefused(f"{version} is not greater than the last release {max(records)}")


def _compare_with_previous(root: Path, version: Version, records: dict[Version, Path], plan: ReleasePlan,
                           progress: Progress) -> None:
    """Fill the plan's changes and data-changes text; refuse a bump smaller than the changes need."""
    with open_package(root) as current:
        if not records:
            plan.data_changes = first_release_entry(current)
            return
        previous = max(records)
        plan.previous = str(previous)
        progress(f"comparing with release {previous}")
        with open_release(root, str(previous)) as before:
            diff = diff_packages(before, current)
    changes = diff.changes()
    plan.changes = [{"level": c.level.label, "kind": c.kind, "message": c.message} for c in changes]
    plan.required_bump = diff.required_bump.label
    plan.data_changes = changelog_entry(diff, str(previous))
    announced = announced_bump(list(records), version)
    plan.announced_bump = announced.label if announced is not None else None
    if announced is not None and announced < diff.required_bump:
        needing = [c for c in changes if c.level > announced]
        raise ReleaseRefused(
            f"{version} is a {announced.label} release after {max(v for v in records if not v.is_prerelease)}, "
            f"but the changes since {previous} need a {diff.required_bump.label} release "
            f"({len(needing)} {'change needs' if len(needing) == 1 else 'changes need'} more than {announced.label})",
            changes=[f"{c.level.label}: {c.message}" for c in needing])
    _refuse_unlisted_removals(root, version, diff)


def _refuse_unlisted_removals(root: Path, version: object, diff) -> None:
    """A released ID never disappears (removed, or re-keyed to another ID) without a '### Removed' entry in the
    release's changelog section naming it."""
    gone, uncounted = [], 0
    for table in diff.tables:
        gone += [f"{table.name} {key}" for key in table.rows_removed]
        gone += [f"{table.name} {old}" for old, _ in table.rows_rekeyed]
        uncounted += max(0, table.count("removed") - len(table.rows_removed)) + max(0, table.count("rekeyed") - len(table.rows_rekeyed))
    if not gone and not uncounted:
        return
    unlisted = unlisted_removals(_read_text(root / CHANGELOG_NAME), str(version), [g.split(" ", 1)[1] for g in gone])
    if unlisted or uncounted:
        named = [g for g in gone if g.split(" ", 1)[1] in unlisted]
        raise ReleaseRefused(
            f"released IDs would disappear without a '### Removed' entry under [{version}] in {CHANGELOG_NAME}: "
            + ", ".join(named[:20]) + (f" and {len(named) - 20} more" if len(named) > 20 else "")
            + (f" (and {uncounted} not listed by the comparison)" if uncounted else ""))


def _validate(root: Path, archive: Path | None, progress: Progress) -> None:
    from .validate import validate_package

    progress("validating")
    report = validate_package(root, archive=archive, standard=True)
    if not report.valid:
        raise ReleaseRefused(f"the package does not validate ({report.error_count} errors); fix them first",
                             report=report)


# ---------------------------------------------------------------- the release

@contextmanager
def release_lock(root: Path) -> Iterator[None]:
    """An exclusive lock on the package folder itself (flock), so no two releases run at once. No file is created."""
    import fcntl

    handle = os.open(root, os.O_RDONLY)
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ReleaseRefused(f"another release is running in {root}; try again when it has finished") from None
        yield
    finally:
        os.close(handle)


def _package_root(root: str | os.PathLike) -> Path:
    try:
        return resolve_path(Path(root))
    except LinkLoop:
        raise ReleaseUsageError(f"{root}: the path is a symbolic link loop") from None


def release(root: str | os.PathLike, version: str, archive: str | os.PathLike | None = None, dry_run: bool = False,
            progress: Progress = _quiet, date: dt.date | None = None) -> ReleasePlan:
    """Check, build and record release version of the package at root; with dry_run, change nothing.

    The release is dated by its '## [version] - YYYY-MM-DD' section in CHANGELOG.md, else its '## [Unreleased]'
    section is dated `date` (default: today, UTC) and shipped as version's section.

    Raises ReleaseRefused (exit 1) or ReleaseUsageError / UnreadableInput (exit 2); on any failure the repo
    (dist/, datapackage.json, CITATION.cff, CHANGELOG.md, .zenodo.json, releases/) is left as it was.
    """
    root = _package_root(root)
    parsed = _parse_version(version)
    version = str(parsed)
    if not (root / DESCRIPTOR_NAME).is_file():
        raise ReleaseUsageError(f"{root}: no {DESCRIPTOR_NAME} here; run the release from the package folder")
    with release_lock(root):
        records = recorded_versions(root)
        _refuse_taken(root, parsed, records)
        asked = date
        try:
            date, _ = dated_release(_read_text(root / CHANGELOG_NAME), version,
                                    asked or dt.datetime.now(dt.timezone.utc).date())
        except ChangelogError as exc:
            raise ReleaseRefused(str(exc)) from None
        if asked is not None and asked != date:
            raise ReleaseRefused(f"{CHANGELOG_NAME} dates {version} {date.isoformat()}, not {asked.isoformat()}: "
                                 "drop --date, or change the heading")
        odd = [name for name in REQUIRED_FILES if os.path.lexists(root / name) and not safeio.is_regular(root / name)]
        if odd:
            raise UnreadableInput(f"{', '.join(odd)}: not a regular file (a FIFO, device or folder); refused", rule=None)
        missing = [name for name in REQUIRED_FILES if not (root / name).is_file()]
        if missing:
            raise ReleaseRefused(f"missing {', '.join(missing)}; every release ships them")
        _validate(root, Path(archive) if archive else None, progress)
        plan = ReleasePlan(version=version, date=date.isoformat(), previous=None, required_bump=None,
                           announced_bump=None, archive_checked=archive is not None, dry_run=dry_run)
        _compare_with_previous(root, parsed, records, plan, progress)
        values = generated_values(root, version, date)
        files = release_files(root, version, date, plan.data_changes, values)
        plan.files = [rel for rel, data in files.items() if _current_bytes(root / rel) != data]
        staged = staged_files(root, files, values)
        fresh = current_docs(root, staged)
        plan.docs_regenerated = sorted(fresh)
        staged.update(fresh)
        exported = {ext for _, _, ext in available_exporters()}
        plan.exports_skipped = [f"{module} ({ext})" for module, _, ext in EXPORTERS if ext not in exported]
        if dry_run:
            with tempfile.TemporaryDirectory(prefix="opimpact-dry-run-") as tmp:
                plan.artifacts = _build_twice(root, staged, version, date, Path(tmp), progress)
            return plan
        plan.artifacts = _publish(root, version, date, files, staged, plan, progress)
        return plan


def _current_bytes(path: Path) -> bytes | None:
    return path.read_bytes() if path.is_file() else None


def _build_twice(root: Path, staged: dict[str, bytes], version: str, date: dt.date, out: Path,
                 progress: Progress) -> list[Artifact]:
    """Build into out, then again from a second staged copy, and refuse unless both builds are byte-identical."""
    with tempfile.TemporaryDirectory(prefix="opimpact-stage-") as tmp:
        stage = stage_package(root, staged, Path(tmp) / "stage")
        artifacts = build_artifacts(stage, version, date, out, progress)
        again = Path(tmp) / "again"
        again.mkdir()
        progress("rebuilding to check that the build is reproducible")
        second = build_artifacts(stage_package(root, staged, Path(tmp) / "stage-again"), version, date, again)
    differing = sorted({a.name for a in artifacts} ^ {a.name for a in second}
                       | {a.name for a, b in zip(artifacts, second, strict=False) if a != b})
    if differing:
        raise ReleaseRefused(f"the build is not reproducible: two builds of {', '.join(differing)} differ "
                             "(an exporter writes a timestamp or an unordered structure?)")
    return artifacts


def _publish(root: Path, version: str, date: dt.date, files: dict[str, bytes], staged: dict[str, bytes],
             plan: ReleasePlan, progress: Progress) -> list[Artifact]:
    """Build dist/VERSION, then rewrite the release files and write the record, all in one transaction: a failure,
    a full disk or Ctrl-C at any point leaves dist/, releases/ and every file as they were."""
    with transaction() as tx:
        out = tx.folder(root / DIST_DIR / version)
        os.chmod(out, DIR_MODE)
        artifacts = _build_twice(root, staged, version, date, out, progress)
        progress("writing " + ", ".join(files) + f" and {RECORDS_DIR}/{version}.json")
        for rel, data in files.items():
            tx.file(root / rel, mode=FILE_MODE).write_bytes(data)
        record = {"record_version": RECORD_VERSION, "version": version, "date": date.isoformat(),
                  "created": f"{date.isoformat()}T00:00:00Z", "previous": plan.previous,
                  "required_bump": plan.required_bump,
                  "artifacts": [asdict(a) for a in artifacts],
                  "resources": _resource_entries(staged[DESCRIPTOR_NAME]),
                  "built_with": build_environment()}
        tx.file(record_path(root, version), mode=FILE_MODE).write_bytes(render_record(record).encode("utf-8"))
    return artifacts


def _resource_entries(descriptor_bytes: bytes) -> list[dict]:
    descriptor = json.loads(descriptor_bytes.decode("utf-8-sig"))
    return [{k: r.get(k) for k in ("name", "path", "bytes", "hash")} for r in descriptor.get("resources", [])]


# ---------------------------------------------------------------- reproducing

def build_environment() -> dict[str, str]:
    """The versions that decide an artifact's bytes besides the data and this code: Python, SQLite, zlib (the zip's
    deflate) and the exporters' libraries (Parquet files name the polars that wrote them)."""
    import sqlite3
    import zlib
    from importlib.metadata import PackageNotFoundError, version

    found = {"python": platform.python_version(), "sqlite": sqlite3.sqlite_version, "zlib": zlib.ZLIB_RUNTIME_VERSION}
    for name in BYTE_DECIDING_LIBRARIES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "absent"
    return found


def environment_differences(recorded: dict) -> dict[str, dict[str, str]]:
    """The tools whose version here differs from a record's built_with (records before 1.2.0 have none)."""
    here = build_environment()
    return {tool: {"recorded": str(was), "here": here.get(tool, "unknown")}
            for tool, was in sorted(recorded.items()) if isinstance(tool, str) and here.get(tool) != was}


@dataclass
class ReproduceResult:
    version: str
    commit: str
    artifacts: list[dict] = field(default_factory=list)  # name, expected sha256, actual sha256 (None if absent)
    unexpected: list[str] = field(default_factory=list)  # built but not in the record
    out: str | None = None  # where the rebuilt files were kept (--out), when they were identical
    # the tools whose version here differs from the record's built_with: {tool: {"recorded": ..., "here": ...}}
    environment_differs: dict[str, dict[str, str]] = field(default_factory=dict)
    environment_recorded: bool = True  # False for records before 1.2.0, which do not say what built them

    @property
    def identical(self) -> bool:
        return not self.unexpected and all(a["expected"] == a["actual"] for a in self.artifacts)

    def to_dict(self) -> dict:
        return {**asdict(self), "identical": self.identical}


def reproduce(root: str | os.PathLike, version: str, progress: Progress = _quiet,
              out: str | os.PathLike | None = None) -> ReproduceResult:
    """Rebuild a recorded release from the commit that added its record; compare with the record.

    The build runs in a temporary git worktree of that commit, with that commit's own opimpact code when the
    commit holds it (scripts/opimpact), so later code changes cannot break old releases. The checkout is untouched.
    With out, the rebuilt files are kept there when every one is identical to the record (all of them appear at
    once), and nothing is written otherwise; out must be new or an empty folder, away from the package's files.
    """
    root = _package_root(root)
    version = str(_parse_version(version))
    keep = _check_keep_folder(root, Path(out)) if out is not None else None
    try:
        top = repo_root(root)
    except GitMissing as exc:
        raise ReleaseUsageError(f"{exc}; --reproduce rebuilds from git history and needs git") from None
    if top is None:
        raise ReleaseUsageError(f"{root} is not inside a git repository; --reproduce rebuilds from git history")
    rel = f"{RECORDS_DIR}/{version}.json"
    try:
        commit = commit_adding(root, rel)
        if commit is None:
            raise ReleaseRefused(f"no commit adds {rel}: release {version} is not recorded in git history")
        raw = show_file(root, commit, rel)
    except GitError as exc:
        raise ReleaseUsageError(str(exc)) from None
    try:
        if len(raw) > limits.MAX_DESCRIPTOR_BYTES:
            raise limits.LimitExceeded(f"larger than the limit of {limits.MAX_DESCRIPTOR_BYTES} bytes")
        record = safeio.load_json(raw, rel)
    except ValueError as exc:
        raise ReleaseRefused(f"{rel} at commit {commit[:12]} cannot be read ({exc})") from None
    problem = record_problem(record)
    if problem:
        raise ReleaseRefused(f"{rel} at commit {commit[:12]} is not a usable release record: {problem}")
    result = ReproduceResult(version, commit)
    progress(f"checking out {commit[:12]} in a temporary worktree")
    try:
        with worktree(root, commit) as tree, tempfile.TemporaryDirectory(prefix="opimpact-rebuild-") as tmp:
            rebuilt = Path(tmp)
            build_in_tree(tree, tree / repo_prefix(root), version, rebuilt, progress)
            built = {p.name: sha256_bytes(p.read_bytes()) for p in rebuilt.iterdir() if p.is_file()}
            for item in record.get("artifacts", []):
                result.artifacts.append({"name": item["name"], "expected": item["sha256"],
                                         "actual": built.get(item["name"])})
            recorded = {item["name"] for item in record.get("artifacts", [])}
            result.unexpected = sorted(set(built) - recorded)
            result.environment_differs = environment_differences(record.get("built_with") or {})
            result.environment_recorded = "built_with" in record
            if keep is not None and result.identical:
                progress(f"keeping the rebuilt files in {keep}")
                _keep_rebuilt(rebuilt, sorted(built), keep)
                result.out = str(keep)
    except GitError as exc:
        raise ReleaseUsageError(str(exc)) from None
    return result


def _check_keep_folder(root: Path, out: Path) -> Path:
    """The folder --out names, refused (exit 2) unless new or empty and outside every folder holding package files
    (data/, schemas/, releases/ ...) and not over one: the rebuilt files must never mix with the package's own."""
    from .outputs import package_files

    if os.path.lexists(out) and (not out.is_dir() or out.is_symlink()):
        raise ReleaseUsageError(f"--out {out}: exists and is not a folder; --out needs a new or empty folder")
    if out.is_dir() and any(out.iterdir()):
        raise ReleaseUsageError(f"--out {out}: exists and is not empty; --out needs a new or empty folder")
    target = Path(os.path.realpath(out))
    with open_package(root) as package:
        files = package_files(package)
    folders = {Path(os.path.realpath(path)).parent for path, _ in files} - {Path(os.path.realpath(root))}
    folders.add(Path(os.path.realpath(root / RECORDS_DIR)))
    for path, what in files:
        real = Path(os.path.realpath(path))
        if real.is_relative_to(target):
            raise ReleaseUsageError(f"--out {out} holds the {what} {path}; --out needs a folder away from the package")
    for folder in sorted(folders):
        if target.is_relative_to(folder):
            raise ReleaseUsageError(f"--out {out} is inside {folder}, which holds package files; choose a folder "
                                    f"away from them (for example {DIST_DIR}/VERSION or one outside the repository)")
    return out


def _keep_rebuilt(rebuilt: Path, names: list[str], out: Path) -> None:
    """Copy the rebuilt files into out in one transaction: all of them appear, or none."""
    with transaction() as tx:
        if out.is_dir():  # an empty folder: each file is moved in; a new folder: moved in whole
            for name in names:
                tx.file(out / name, mode=FILE_MODE).write_bytes((rebuilt / name).read_bytes())
        else:
            folder = tx.folder(out)
            os.chmod(folder, DIR_MODE)
            for name in names:
                (folder / name).write_bytes((rebuilt / name).read_bytes())
                os.chmod(folder / name, FILE_MODE)


def build_in_tree(top: Path, package_root: Path, version: str, out: Path, progress: Progress = _quiet) -> None:
    """Build version from a checkout of the commit that recorded it (top, the package at package_root) into out,
    with that tree's own code when it has it, else with this code. ReleaseRefused when the build fails."""
    code = top / "scripts"
    if not (code / "opimpact" / "release.py").is_file():
        build_release(package_root, version, out, progress=progress)
        return
    progress("building with the release commit's own opimpact code")
    boot = ("import sys; sys.path.insert(0, sys.argv[1]); from opimpact.release import build_main; "
            "sys.exit(build_main(sys.argv[2:]))")
    done = subprocess.run([sys.executable, "-c", boot, str(code), str(package_root), version, str(out)],
                          cwd=out, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise ReleaseRefused(f"rebuilding {version} failed: {done.stderr.strip()[-2000:]}")


def build_main(argv: list[str]) -> int:
    """Entry point for --reproduce: build_main([package_root, version, out_dir]). Keep this contract stable."""
    root, version, out = argv
    try:
        build_release(Path(root), version, Path(out))
    except OpimpactError as exc:  # a refusal, a changelog without the date, unreadable input, a broken template
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


# ---------------------------------------------------------------- rendering

def render_plan_text(plan: ReleasePlan) -> str:
    """What the release did, or would do with --dry-run, for people."""
    head = f"{'would release' if plan.dry_run else 'released'} {plan.version} dated {plan.date}"
    lines = [head + (" (dry run: nothing was written)" if plan.dry_run else "")]
    if plan.previous:
        lines.append(f"previous release {plan.previous}; the changes need at least {plan.required_bump}; "
                     f"{plan.version} is a {plan.announced_bump or 'pre-release'} bump")
        lines += [f"  {c['level']}: {c['message']}" for c in plan.changes] or ["  no change of data or schema"]
    else:
        lines.append("first release: nothing to compare with")
    lines.append(f"{'would rewrite' if plan.dry_run else 'rewrote'}: {', '.join(plan.files) or 'nothing'}")
    lines.append(f"artifacts in {DIST_DIR}/{plan.version}/:")
    width = max((len(a.name) for a in plan.artifacts), default=0)
    lines += [f"  {a.name:<{width}}  {a.bytes:>10} bytes  sha256 {a.sha256}" for a in plan.artifacts]
    if plan.docs_regenerated:
        lines.append(f"note: {' and '.join(plan.docs_regenerated)} in the working tree "
                     f"{'is' if len(plan.docs_regenerated) == 1 else 'are'} stale; the release ships "
                     "regenerated copies (run `opimpact export codebook` and `opimpact plot`, then commit them)")
    if plan.exports_skipped:
        lines.append(f"exports not built (module missing): {', '.join(plan.exports_skipped)}")
    if not plan.archive_checked:
        lines.append("note: quotes and evidence were not checked against the sources archive (give --archive DIR)")
    if not plan.dry_run:
        lines.append(f"record: {RECORDS_DIR}/{plan.version}.json. Commit everything now, record included, so that "
                     f"`opimpact release {plan.version} --reproduce` can rebuild it.")
    return "\n".join(lines) + "\n"


def render_reproduce_text(result: ReproduceResult) -> str:
    lines = [f"rebuilt {result.version} from commit {result.commit[:12]}"]
    for item in result.artifacts:
        if item["actual"] is None:
            lines.append(f"  MISSING  {item['name']}: recorded but not rebuilt")
        elif item["actual"] == item["expected"]:
            lines.append(f"  SAME     {item['name']}  sha256 {item['actual']}")
        else:
            lines.append(f"  DIFFERS  {item['name']}: rebuilt {item['actual']}, recorded {item['expected']}")
    lines += [f"  EXTRA    {name}: rebuilt but not in the record" for name in result.unexpected]
    verdict = "byte-identical to the record" if result.identical else "NOT identical to the record"
    lines.append(f"{result.version}: {verdict}")
    if not result.environment_recorded and not result.identical:
        lines.append(f"note: the record of {result.version} does not say which tool versions built it (records "
                     "before 1.2.0); the bytes of the workbook, database and Parquet files depend on them")
    if result.environment_differs and not result.identical:
        tools = ", ".join(f"{tool} {v['recorded']} (here {v['here']})" for tool, v in result.environment_differs.items())
        lines.append(f"note: {result.version} was built with {tools}; byte-identity needs the versions the record "
                     "names (built_with)")
    if result.out is not None:
        lines.append(f"kept the rebuilt files in {result.out}")
    return "\n".join(lines) + "\n"
