"""Check a downloaded release (folder, zip or single artifact) or a package folder against its checksums,
its descriptor's hash and bytes, the release record, and validation. Zips are checked before anything is
extracted, and only ever into a temporary folder."""

from __future__ import annotations

import json
import os
import re
import tempfile
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .checksums import SUMS_NAME, parse_sums, resource_hash, sha256_file
from .package import DESCRIPTOR_NAME, UnreadableInput, check_zip_entries, extract_zip_safely, open_package
from .records import RECORDS_DIR, load_record

PASS, FAIL, SKIP = "pass", "fail", "skip"
_ARTIFACT_NAME = re.compile(r"^op-impact-(?P<version>[0-9][^/]*?)\.(?:zip|xlsx|sqlite)$")
MAX_LISTED_FINDINGS = 5


@dataclass
class Check:
    check: str
    status: str
    message: str
    file: str | None = None


@dataclass
class VerifyReport:
    target: str
    version: str | None = None
    record: str | None = None
    checks: list[Check] = field(default_factory=list)

    def add(self, check: str, status: str, message: str, file: str | None = None) -> None:
        self.checks.append(Check(check, status, message, file))

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if c.status == FAIL]

    @property
    def ok(self) -> bool:
        """True when nothing failed and at least one check passed."""
        return not self.failures and any(c.status == PASS for c in self.checks)

    def to_dict(self) -> dict:
        return {"verify_version": 1, "target": self.target, "version": self.version, "record": self.record,
                "ok": self.ok, "failed": len(self.failures), "checks": [asdict(c) for c in self.checks]}


def render_json(report: VerifyReport) -> str:
    return json.dumps(report.to_dict(), indent=2, ensure_ascii=False) + "\n"


def render_text(report: VerifyReport) -> str:
    version = f" (release {report.version})" if report.version else ""
    lines = [f"verify {report.target}{version}"]
    width = max((len(c.check) for c in report.checks), default=0)
    for c in report.checks:
        lines.append(f"  {c.status.upper():4} {c.check:<{width}}  {c.message}")
    if report.ok:
        lines.append(f"verified: {report.target} ({sum(c.status == PASS for c in report.checks)} checks passed)")
    elif not report.failures:
        lines.append(f"not verified: {report.target}: nothing could be checked")
    else:
        lines.append(f"NOT verified: {report.target}: {len(report.failures)} of {len(report.checks)} checks failed")
    return "\n".join(lines) + "\n"


def verify(target: str | os.PathLike, record: str | os.PathLike | None = None, repo: str | os.PathLike | None = None,
           archive: str | os.PathLike | None = None) -> VerifyReport:
    """Verify target: a release folder (with SHA256SUMS), a release zip, another artifact, or a package folder.

    The record is --record when given, else releases/VERSION.json under repo, else one found in a folder above
    target (dist/VERSION sits two levels below the repository). Raises UnreadableInput when target is missing.
    """
    target = Path(target)
    if not target.exists():
        raise UnreadableInput(f"{target}: no such file or directory")
    if target.is_file() and target.name == SUMS_NAME:
        target = target.parent
    report = VerifyReport(str(target))
    local: dict[str, Path] = {}  # artifacts present here, by name
    resources: dict[str, dict] = {}  # resource name -> {"bytes", "hash"} as found in the package
    if target.is_dir() and (target / SUMS_NAME).is_file():
        local = {p.name: p for p in sorted(target.iterdir()) if p.is_file() and p.name != SUMS_NAME}
        local[SUMS_NAME] = target / SUMS_NAME
        _check_sums(report, target, [n for n in local if n != SUMS_NAME])
        for path in sorted(target.glob("op-impact-*.zip")):
            resources = _check_zip(report, path, archive)
    elif target.is_dir():
        if not (target / DESCRIPTOR_NAME).is_file():
            raise UnreadableInput(f"{target}: neither a release folder (no {SUMS_NAME}) nor a package "
                                  f"(no {DESCRIPTOR_NAME})")
        resources = _check_package(report, target, str(target), archive)
        if repo is None and record is None and (target / RECORDS_DIR).is_dir():
            repo = target
    else:
        local = {target.name: target}
        if (target.parent / SUMS_NAME).is_file():
            _check_sums(report, target.parent, [target.name])
        if target.suffix.lower() == ".zip":  # a workbook is a zip too, but not a package
            resources = _check_zip(report, target, archive)
        elif report.version is None and (match := _ARTIFACT_NAME.match(target.name)):
            report.version = match["version"]
    _check_against_record(report, target, local, resources, record, repo)
    return report


def _check_sums(report: VerifyReport, folder: Path, names: list[str]) -> None:
    """Each named file against SHA256SUMS in folder; a file the sums do not list fails, an absent one is skipped."""
    try:
        sums = parse_sums((folder / SUMS_NAME).read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        report.add("sha256sums", FAIL, f"{SUMS_NAME} cannot be read: {exc}", SUMS_NAME)
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


def _check_zip(report: VerifyReport, path: Path, archive) -> dict[str, dict]:
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
        return _check_package(report, root, path.name, archive)


def _check_package(report: VerifyReport, root: Path, label: str, archive) -> dict[str, dict]:
    """Each resource's bytes and hash against its file, then full validation."""
    from .validate import validate_loaded

    found: dict[str, dict] = {}
    try:
        with open_package(root) as package:
            version = package.descriptor.get("version")
            if isinstance(version, str) and report.version is None:
                report.version = version
            for name, resource in package.resources.items():
                found[name] = _check_resource(report, label, resource)
            validation = validate_loaded(package, archive=archive)
    except UnreadableInput as exc:
        report.add("package", FAIL, str(exc), label)
        return found
    if validation.valid:
        checked = ", archive checked" if archive else ""
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


def _check_resource(report: VerifyReport, label: str, resource) -> dict:
    where = f"{label}: {resource.rel_path}"
    expected_hash, expected_bytes = resource.descriptor.get("hash"), resource.descriptor.get("bytes")
    if resource.path is None or not resource.path.is_file():
        report.add("resource", FAIL, f"{where}: data file missing", resource.rel_path)
        return {}
    data = resource.path.read_bytes()
    actual = {"bytes": len(data), "hash": resource_hash(data)}
    if expected_hash is None or expected_bytes is None:
        report.add("resource", FAIL, f"{where}: the descriptor records no hash/bytes (not a released package)",
                   resource.rel_path)
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


def _check_against_record(report: VerifyReport, target: Path, local: dict[str, Path], resources: dict[str, dict],
                          record: str | os.PathLike | None, repo: str | os.PathLike | None) -> None:
    if record is not None:
        path: Path | None = Path(record)
    elif report.version is None:
        path = None
    elif repo is not None:
        path = Path(repo) / RECORDS_DIR / f"{report.version}.json"
    else:
        path = _find_record(target, report.version)
    if path is None:
        report.add("record", SKIP, "no release record found: give --record FILE or --repo DIR to check against one")
        return
    try:
        data = load_record(path)
    except UnreadableInput as exc:
        report.add("record", FAIL, str(exc), str(path))
        return
    report.record = str(path)
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
    for name in sorted(set(local) - {item["name"] for item in data["artifacts"]}):
        report.add("record", FAIL, f"{name} is not an artifact of release {data['version']} (not in the record)", name)
    for entry in data.get("resources") or []:
        actual = resources.get(entry.get("name"))
        if not actual:
            continue
        if actual == {"bytes": entry.get("bytes"), "hash": entry.get("hash")}:
            report.add("record", PASS, f"{entry.get('path')} matches the record", entry.get("path"))
        else:
            report.add("record", FAIL, f"{entry.get('path')}: {actual['bytes']} bytes, {actual['hash']}; the record "
                       f"says {entry.get('bytes')} bytes, {entry.get('hash')}", entry.get("path"))
