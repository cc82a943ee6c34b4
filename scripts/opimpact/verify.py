"""Check a downloaded release (folder, zip or single artifact) or a package folder against its checksums,
its descriptor's hash and bytes, the release record, and validation. Zips are checked before anything is
extracted, and only ever into a temporary folder.

Only a release record proves a download is the release: SHA256SUMS and the descriptor's hashes travel with the
files and can be rewritten with them. So the verdict says which it was: "verified against the release record"
when every artifact or data file was compared with a record, else a check of internal consistency only, which
counts as success only when the caller asks for exactly that (consistency_only).

A release zip carries its own record (release.json: every member's and side artifact's SHA-256, every resource's
bytes and hash). An unzipped release outside any repository is verified against it, and the verdict says so:
that record travels with the files, so it proves them complete and unchanged since the build, while only the
repository's record (or SHA256SUMS checked against it) proves them to be the published release.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

from . import safeio
from .checksums import SUMS_NAME, parse_sums, resource_hash_file, sha256_file
from .package import (
    DESCRIPTOR_NAME,
    UnreadableInput,
    check_zip_entries,
    extract_zip_safely,
    open_package,
    resolve_inside,
)
from .records import BUNDLED_RECORD, RECORDS_DIR, load_bundled_record, load_record
from .report import json_safe, printable

PASS, FAIL, SKIP = "pass", "fail", "skip"
_ARTIFACT_NAME = re.compile(r"^op-impact-(?P<version>[0-9][^/]*?)\.(?:zip|xlsx|sqlite|metadata\.json|[a-z_]+\.parquet)$")
MAX_LISTED_FINDINGS = 5


@dataclass
class Check:
    check: str
    status: str
    message: str
    file: str | None = None


VERIFIED, CONSISTENT, NOT_VERIFIED = "verified", "consistent", "not verified"


@dataclass
class Bundled:
    """The record a release zip carries, with what was found for each member it lists (None: missing)."""

    record: dict
    label: str
    members: dict[str, tuple[int, str] | None]


@dataclass
class VerifyReport:
    target: str
    version: str | None = None
    record: str | None = None
    checks: list[Check] = field(default_factory=list)
    consistency_only: bool = False  # the caller accepts a check of internal consistency without a record
    record_bundled: bool = False  # the record compared with is the one inside the download (release.json)

    def add(self, check: str, status: str, message: str, file: str | None = None) -> None:
        self.checks.append(Check(check, status, message, file))

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if c.status == FAIL]

    @property
    def passed(self) -> int:
        return sum(c.status == PASS for c in self.checks)

    @property
    def against_record(self) -> bool:
        """True when a release record was read and the target was compared with it."""
        return self.record is not None and any(c.check == "record" and c.status == PASS for c in self.checks)

    @property
    def verdict(self) -> str:
        """'verified' (against a release record), 'consistent' (internal consistency only) or 'not verified'."""
        if self.failures or not self.passed:
            return NOT_VERIFIED
        return VERIFIED if self.against_record else CONSISTENT

    @property
    def ok(self) -> bool:
        """True when the command succeeds: verified against the record, or consistent when that was all asked."""
        return self.verdict == VERIFIED or (self.verdict == CONSISTENT and self.consistency_only)

    def to_dict(self) -> dict:
        return {"verify_version": 2, "target": self.target, "version": self.version, "record": self.record,
                "verdict": self.verdict, "against_record": self.against_record,
                "consistency_only": self.consistency_only, "record_bundled": self.record_bundled, "ok": self.ok, "failed": len(self.failures),
                "checks": [asdict(c) for c in self.checks]}


def render_json(report: VerifyReport) -> str:
    return json_safe(json.dumps(report.to_dict(), indent=2, ensure_ascii=False) + "\n")


def render_text(report: VerifyReport) -> str:
    """The checks and the verdict, one line each; text from the input is shown with invisible characters escaped."""
    target = printable(report.target)
    version = f" (release {printable(report.version)})" if report.version else ""
    lines = [f"verify {target}{version}"]
    width = max((len(c.check) for c in report.checks), default=0)
    for c in report.checks:
        lines.append(f"  {c.status.upper():4} {c.check:<{width}}  {printable(c.message)}")
    passed = f"{report.passed} checks passed"
    if report.verdict == VERIFIED and report.record_bundled:
        lines.append(f"verified against the release record bundled in the download ({printable(report.record or '')}):"
                     f" {target} ({passed}). That record travels with the files: it shows they are complete and "
                     "unchanged since the release was built, not that they are the published release. For that, "
                     "check the zip against the published SHA256SUMS, or give --repo DIR (a clone of the repository) "
                     "or --record FILE to compare with the repository's record")
    elif report.verdict == VERIFIED:
        lines.append(f"verified against the release record {printable(report.record or '')}: {target} ({passed})")
    elif report.verdict == CONSISTENT:
        caveat = ("no release record was checked, so files rewritten together with their checksums and hashes "
                  "would pass too")
        if report.consistency_only:
            lines.append(f"consistent: {target}: internal consistency only, as asked by --consistency-only "
                         f"({passed}); {caveat}")
        else:
            lines.append(f"NOT verified: {target}: only internal consistency was checked ({passed}); {caveat}. "
                         "Give --record FILE or --repo DIR to verify against the release record, or "
                         "--consistency-only to accept a consistency check")
    elif not report.failures:
        lines.append(f"not verified: {target}: nothing could be checked")
    else:
        lines.append(f"NOT verified: {target}: {len(report.failures)} of {len(report.checks)} checks failed")
    return "\n".join(lines) + "\n"


def verify(target: str | os.PathLike, record: str | os.PathLike | None = None, repo: str | os.PathLike | None = None,
           archive: str | os.PathLike | None = None, consistency_only: bool = False) -> VerifyReport:
    """Verify target: a release folder (with SHA256SUMS), a release zip, another artifact, or a package folder.

    The record is --record when given, else releases/VERSION.json under repo, else one found in a folder above
    target (dist/VERSION sits two levels below the repository). Raises UnreadableInput when target is missing
    or is neither a folder nor a regular file (a FIFO would block).
    """
    target = Path(target)
    if not target.exists():
        raise UnreadableInput(f"{target}: no such file or directory")
    if not target.is_dir() and not safeio.is_regular(target):
        raise UnreadableInput(f"{target}: neither a folder nor a regular file (a FIFO or a device); refused", rule=None)
    if target.is_file() and target.name == SUMS_NAME:
        target = target.parent
    report = VerifyReport(str(target), consistency_only=consistency_only)
    local: dict[str, Path] = {}  # artifacts present here, by name
    resources: dict[str, dict] = {}  # resource name -> {"bytes", "hash"} as found in the package
    bundled: list[Bundled] = []  # the record inside the release, when there is one
    if target.is_dir() and os.path.lexists(target / SUMS_NAME):
        for path in sorted(target.iterdir()):
            if not path.is_dir() and not safeio.is_regular(path):
                report.add("sha256sums", FAIL, f"{path.name} is not a regular file (a FIFO, device or broken "
                           "link); a release folder holds only files", path.name)
        local = {p.name: p for p in sorted(target.iterdir()) if safeio.is_regular(p) and p.name != SUMS_NAME}
        local[SUMS_NAME] = target / SUMS_NAME
        _check_sums(report, target, [n for n in local if n != SUMS_NAME])
        for path in sorted(target.glob("op-impact-*.zip")):
            resources = _check_zip(report, path, archive, bundled)
    elif target.is_dir():
        if not (target / DESCRIPTOR_NAME).is_file():
            raise UnreadableInput(f"{target}: neither a release folder (no {SUMS_NAME}) nor a package "
                                  f"(no {DESCRIPTOR_NAME})")
        resources = _check_package(report, target, str(target), archive, bundled,
                                   released=os.path.lexists(target / BUNDLED_RECORD))
        if repo is None and record is None and (target / RECORDS_DIR).is_dir():
            repo = target
    else:
        local = {target.name: target}
        if os.path.lexists(target.parent / SUMS_NAME):
            _check_sums(report, target.parent, [target.name])
        if target.suffix.lower() == ".zip":  # a workbook is a zip too, but not a package
            resources = _check_zip(report, target, archive, bundled)
        elif report.version is None and (match := _ARTIFACT_NAME.match(target.name)):
            report.version = match["version"]
    _check_against_record(report, target, local, resources, record, repo, bundled[0] if bundled else None)
    return report


def _check_sums(report: VerifyReport, folder: Path, names: list[str]) -> None:
    """Each named file against SHA256SUMS in folder; a file the sums do not list fails, an absent one is skipped."""
    try:
        sums = parse_sums(safeio.read_text(folder / SUMS_NAME, SUMS_NAME))
    except (OSError, ValueError) as exc:  # not a regular file, too large, not UTF-8, a malformed line
        report.add("sha256sums", FAIL, f"{SUMS_NAME} cannot be read: {getattr(exc, 'strerror', None) or exc}",
                   SUMS_NAME)
        return
    for name in names:
        if name not in sums:
            report.add("sha256sums", FAIL, f"{name} is not listed in {SUMS_NAME}: not part of this release", name)
            continue
        actual = sha256_file(folder / name)
        if actual == sums[name]:
            report.add("sha256sums", PASS, f"{name} matches {SUMS_NAME}", name)
        else:
            report.add("sha256sums", FAIL, f"{name} has SHA-256 {actual}, but {SUMS_NAME} says {sums[name]}", name)
    if len(names) > 1:
        for name in sorted(set(sums) - set(names)):
            report.add("sha256sums", SKIP, f"{name} is listed in {SUMS_NAME} but not present here", name)


def _check_zip(report: VerifyReport, path: Path, archive, bundled: list[Bundled]) -> dict[str, dict]:
    """Refuse an unsafe zip before extracting; else unpack into a temporary folder and check the package."""
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
            check_zip_entries(infos, path.name)
    except (UnreadableInput, zipfile.BadZipFile, OSError) as exc:
        report.add("zip-safety", FAIL, f"refused, nothing extracted: {exc}", path.name)
        return {}
    report.add("zip-safety", PASS, f"{path.name}: {len(infos)} entries, no absolute paths, '..', links or "
               "oversized entries", path.name)
    with tempfile.TemporaryDirectory(prefix="opimpact-verify-") as tmp:
        try:
            root = extract_zip_safely(path, Path(tmp))
        except UnreadableInput as exc:
            report.add("zip-safety", FAIL, str(exc), path.name)
            return {}
        return _check_package(report, root, path.name, archive, bundled, released=True)


def _read_bundled(report: VerifyReport, root: Path, label: str, bundled: list[Bundled]) -> None:
    """Read root/release.json and measure every member it lists, while root still exists (a zip's temporary
    folder is deleted once checked)."""
    try:
        record = load_bundled_record(root)
    except UnreadableInput as exc:
        report.add("bundled", FAIL, str(exc), BUNDLED_RECORD)
        return
    if record is None:
        return
    members: dict[str, tuple[int, str] | None] = {}
    for item in record["members"]:
        path, reason = resolve_inside(root, item["path"])
        members[item["path"]] = (path.stat().st_size, sha256_file(path)) \
            if reason is None and path is not None and safeio.is_regular(path) else None
    bundled.append(Bundled(record, f"{label}/{BUNDLED_RECORD}" if label.endswith(".zip") else
                           str(Path(label) / BUNDLED_RECORD), members))


def _check_package(report: VerifyReport, root: Path, label: str, archive, bundled: list[Bundled] | None = None,
                   released: bool = False) -> dict[str, dict]:
    """Each resource's bytes and hash against its file, then full validation. released: the descriptor must carry
    bytes and hash (a release's does; a working tree's never does)."""
    from .validate import validate_loaded

    if bundled is not None:
        _read_bundled(report, root, label, bundled)
    found: dict[str, dict] = {}
    try:
        with open_package(root) as package:
            version = package.descriptor.get("version")
            if isinstance(version, str) and report.version is None:
                report.version = version
            for name, resource in package.resources.items():
                found[name] = _check_resource(report, label, resource, released)
            validation = validate_loaded(package, archive=archive, standard=True)
    except UnreadableInput as exc:
        report.add("package", FAIL, str(exc), label)
        return found
    if validation.valid:
        checked = ", Data Package standard checked" + (", archive checked" if archive else "")
        report.add("validation", PASS, f"{label}: valid ({sum(validation.rows.values())} rows{checked})", label)
    else:
        listed = "; ".join(_describe(f) for f in validation.sorted_findings()[:MAX_LISTED_FINDINGS])
        report.add("validation", FAIL, f"{label}: {validation.error_count} validation errors: {listed}", label)
    return found


def _describe(finding) -> str:
    """'file row N field F: message' for one validation finding."""
    place = [finding.file or finding.resource or "package"]
    if finding.row is not None:
        place.append(f"row {finding.row}")
    if finding.field:
        place.append(f"field {finding.field}")
    return f"{' '.join(place)}: {finding.message}"


def _check_resource(report: VerifyReport, label: str, resource, released: bool) -> dict:
    where = f"{label}: {resource.rel_path}"
    expected_hash, expected_bytes = resource.descriptor.get("hash"), resource.descriptor.get("bytes")
    if resource.path is None or not safeio.is_regular(resource.path):
        report.add("resource", FAIL, f"{where}: data file missing or not a regular file", resource.rel_path)
        return {}
    size, digest = resource_hash_file(resource.path)
    actual = {"bytes": size, "hash": digest}
    if expected_hash is None or expected_bytes is None:
        if released:
            report.add("resource", FAIL, f"{where}: the descriptor records no hash/bytes, as a release's does",
                       resource.rel_path)
        else:
            report.add("resource", SKIP, f"{where}: the descriptor records no hash/bytes (a working tree's never "
                       "does); the file is compared with the release record instead", resource.rel_path)
        return actual
    problems = []
    if expected_bytes != actual["bytes"]:
        problems.append(f"{actual['bytes']} bytes, descriptor says {expected_bytes}")
    if str(expected_hash).lower() != actual["hash"]:
        problems.append(f"hash {actual['hash']}, descriptor says {expected_hash}")
    if problems:
        report.add("resource", FAIL, f"{where}: " + "; ".join(problems), resource.rel_path)
    else:
        report.add("resource", PASS, f"{where}: bytes and sha256 match the descriptor", resource.rel_path)
    return actual


def _find_record(target: Path, version: str) -> Path | None:
    """releases/VERSION.json in a folder above target (at most four levels up)."""
    folder = target.resolve() if target.is_dir() else target.resolve().parent
    for candidate in [folder, *folder.parents][:5]:
        path = candidate / RECORDS_DIR / f"{version}.json"
        if path.is_file():
            return path
    return None


def _check_bundled_members(report: VerifyReport, bundled: Bundled) -> None:
    """Every file the bundled record lists is present and unchanged."""
    for item in bundled.record["members"]:
        actual = bundled.members.get(item["path"])
        if actual is None:
            report.add("bundled", FAIL, f"{item['path']} is listed in {BUNDLED_RECORD} but missing", item["path"])
        elif actual != (item["bytes"], item["sha256"]):
            report.add("bundled", FAIL, f"{item['path']}: {actual[0]} bytes, SHA-256 {actual[1]}; {BUNDLED_RECORD} "
                       f"says {item['bytes']} bytes, {item['sha256']}", item["path"])
    listed = len(bundled.record["members"])
    if not any(c.check == "bundled" and c.status == FAIL for c in report.checks):
        report.add("bundled", PASS, f"all {listed} files listed in {BUNDLED_RECORD} are present and match it",
                   BUNDLED_RECORD)


def _check_against_record(report: VerifyReport, target: Path, local: dict[str, Path], resources: dict[str, dict],
                          record: str | os.PathLike | None, repo: str | os.PathLike | None,
                          bundled: Bundled | None = None) -> None:
    if bundled is not None:
        _check_bundled_members(report, bundled)
    if record is not None:
        path: Path | None = Path(record)
    elif report.version is None:
        path = None
    elif repo is not None:
        path = Path(repo) / RECORDS_DIR / f"{report.version}.json"
    else:
        path = _find_record(target, report.version)
    if path is None and bundled is not None:
        data, shown = bundled.record, bundled.label
        report.record_bundled = True
    elif path is None:
        report.add("record", SKIP, "no release record found: give --record FILE or --repo DIR to check against one")
        return
    else:
        try:
            data = load_record(path)
        except UnreadableInput as exc:
            report.add("record", FAIL, str(exc), str(path))
            return
        shown = str(path)
    _compare_with_record(report, data, shown, local, resources)


def _compare_with_record(report: VerifyReport, data: dict, shown: str, local: dict[str, Path],
                         resources: dict[str, dict]) -> None:
    path = Path(shown)
    report.record = shown
    if report.version is not None and str(data["version"]) != report.version:
        report.add("record", FAIL, f"the record {path.name} is for {data['version']}, the artifact is {report.version}")
        return
    report.version = report.version or str(data["version"])
    for item in data["artifacts"]:
        name = item["name"]
        if name not in local:
            continue
        actual_bytes, actual_sha = local[name].stat().st_size, sha256_file(local[name])
        if (actual_bytes, actual_sha) == (item["bytes"], item["sha256"]):
            report.add("record", PASS, f"{name} matches the record {path.name}", name)
        else:
            report.add("record", FAIL, f"{name}: {actual_bytes} bytes, SHA-256 {actual_sha}; the record says "
                       f"{item['bytes']} bytes, {item['sha256']}", name)
    # the bundled record cannot list the zip that holds it, nor SHA256SUMS, which lists that zip; it names the
    # files published beside the zip without their SHA-256 (SHA256SUMS and the repository's record hold them)
    unlistable = set()
    if report.record_bundled:
        beside = {n for n in data.get("published_with", []) if isinstance(n, str)}
        unlistable = {n for n in local if n == SUMS_NAME or n.endswith(".zip") or n in beside}
        for name in sorted(set(local) & beside):
            report.add("record", SKIP, f"{name}: the bundled record names it without a SHA-256; only SHA256SUMS "
                       "checked it (the repository's record holds its SHA-256: give --repo or --record)", name)
    for name in sorted(set(local) - {item["name"] for item in data["artifacts"]} - unlistable):
        report.add("record", FAIL, f"{name} is not an artifact of release {data['version']} (not in the record)", name)
    entries = {entry["name"]: entry for entry in data.get("resources") or []}
    for name, actual in resources.items():
        entry = entries.get(name)
        if not actual:
            continue
        if entry is None:
            if entries:
                report.add("record", FAIL, f"resource {name} is not in the record of release {data['version']}")
            continue
        if actual == {"bytes": entry["bytes"], "hash": entry["hash"]}:
            report.add("record", PASS, f"{entry['path']} matches the record", entry["path"])
        else:
            report.add("record", FAIL, f"{entry['path']}: {actual['bytes']} bytes, {actual['hash']}; the record "
                       f"says {entry['bytes']} bytes, {entry['hash']}", entry["path"])
