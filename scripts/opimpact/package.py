"""Open a data package (directory, descriptor or release zip) path-safely and load its descriptor and schemas."""

from __future__ import annotations

import errno
import os
import re
import stat
import tempfile
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from . import limits, safeio, tableschema
from .errors import OpimpactError
from .registry import Rule
from .report import Finding, printable, shorten

Rule("D01", "descriptor-readable", "descriptor", "datapackage.json exists and is a JSON object.",
     "the descriptor cannot be read")
Rule("D02", "descriptor-resources", "descriptor",
     "The package lists exactly the expected resources, each with name, path, schema and the "
     "tabular-data-resource profile.", "the descriptor does not list the expected resources")
Rule("D03", "safe-path", "descriptor",
     "Resource and schema paths are relative paths inside the package, written with forward slashes: no absolute "
     "paths, no '..', no URLs, no links leaving the package or looping. Such paths are refused, never fetched.",
     "unsafe path refused")
Rule("D04", "schema-readable", "descriptor",
     "Each Table Schema is a readable JSON object with a list of named, typed fields, and uses only what the "
     "validator supports: known types, well-formed constraints, keys (single or composite) that name existing "
     "resources and fields.", "the Table Schema cannot be used")

DESCRIPTOR_NAME = "datapackage.json"
EXPECTED_RESOURCES = ("events", "assets", "personnel_levels", "sources", "quotes")
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_WINDOWS_DRIVE = re.compile(r"^[A-Za-z]:")


class UnreadableInput(OpimpactError):
    """The input cannot be read at all (exit code 2): missing path, invalid JSON, a broken or unsafe zip."""

    exit_code = 2

    def __init__(self, message: str, rule: str = "D01") -> None:
        super().__init__(message)
        self.rule = rule

    def __str__(self) -> str:
        return printable(super().__str__())  # names from a hostile zip or path must not drive the terminal


@dataclass
class Resource:
    name: str
    descriptor: dict
    path: Path | None = None  # resolved data file, None when the path was refused
    schema: dict | None = None

    @property
    def rel_path(self) -> str:
        return str(self.descriptor.get("path", ""))

    @property
    def field_names(self) -> list[str]:
        return [f["name"] for f in (self.schema or {}).get("fields", [])]


@dataclass
class Package:
    root: Path
    descriptor: dict
    label: str
    resources: dict[str, Resource] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)


def unsafe_path_reason(path: object) -> str | None:
    """Why a descriptor path may not be opened, or None when it is a plain relative path."""
    if not isinstance(path, str) or not path:
        return "a path must be a non-empty string"
    if _URL.match(path) or path.startswith("//"):
        return "remote paths (URLs) are refused; op-impact never uses the network"
    if path.startswith(("/", "\\")) or _WINDOWS_DRIVE.match(path):
        return "absolute paths are refused; paths must be relative to the package"
    if ".." in PurePosixPath(path.replace("\\", "/")).parts:
        return "paths containing '..' are refused; they could leave the package"
    if "\x00" in path:
        return "a path must not contain a NUL character"
    if "\\" in path:
        return "backslashes are refused; write paths with forward slashes (/), as the Data Package standard requires"
    return None


def resolve_inside(root: Path, rel: str) -> tuple[Path | None, str | None]:
    """Resolve a descriptor path under root, refusing anything that leaves it (including via links)."""
    reason = unsafe_path_reason(rel)
    if reason:
        return None, reason
    try:
        resolved = resolve_path(root / rel)
    except LinkLoop:
        return None, "the path is a symbolic link loop"
    except OSError as exc:
        return None, f"the path cannot be resolved: {exc.strerror or exc}"
    if not resolved.is_relative_to(root.resolve()):
        return None, "the path is a link that leaves the package; refused"
    return resolved, None


class LinkLoop(OSError):
    """A path runs into a loop of symbolic links."""


def resolve_path(path: Path) -> Path:
    """path.resolve(), raising LinkLoop for a symbolic link loop on every Python version.

    Python 3.10 to 3.12 raise RuntimeError for a loop; 3.13 returns the path with the loop left unresolved,
    so a loop is also recognised by stat() failing with ELOOP (as 3.12's resolve() itself did).
    """
    try:
        resolved = path.resolve()
    except RuntimeError:
        raise LinkLoop(errno.ELOOP, "a symbolic link loop", os.fspath(path)) from None
    try:
        resolved.stat()
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise LinkLoop(errno.ELOOP, "a symbolic link loop", os.fspath(path)) from None
    return resolved


def _is_link_loop(path: Path) -> bool:
    try:
        resolve_path(path)
    except LinkLoop:
        return True
    except OSError:  # some other reason the path leads nowhere
        pass
    return False


def read_json_file(path: Path, what: str) -> object:
    """Read a small JSON file, raising ValueError (limits.LimitExceeded for rule D05) that names the problem.

    A FIFO or a device is refused without blocking; NaN and Infinity (not JSON) are refused."""
    raw = safeio.read_regular(path, limits.MAX_DESCRIPTOR_BYTES, what)
    return safeio.load_json(raw, what)


def _locate_descriptor(target: Path) -> Path:
    if target.is_dir():
        return target / DESCRIPTOR_NAME
    return target


@contextmanager
def open_package(target: str | os.PathLike) -> Iterator[Package]:
    """Yield the package at target: a directory, its datapackage.json, or a release zip (unpacked safely)."""
    if _URL.match(os.fspath(target)):
        raise UnreadableInput(f"{os.fspath(target)}: URLs are refused; op-impact never uses the network. "
                              "Download the package and give the path of the local copy.", "D03")
    target = Path(target)
    try:
        found, is_file = target.exists(), target.is_file()
    except (OSError, ValueError) as exc:  # a name too long, a NUL character
        raise UnreadableInput(f"{shorten(os.fspath(target), 200)}: cannot be opened "
                              f"({getattr(exc, 'strerror', None) or exc})") from None
    if not found:
        if _is_link_loop(target):
            raise UnreadableInput(f"{target}: the path is a symbolic link loop")
        raise UnreadableInput(f"{target}: no such file or directory")
    if is_file and _looks_like_zip(target):
        with tempfile.TemporaryDirectory(prefix="opimpact-") as tmp:
            root = extract_zip_safely(target, Path(tmp))
            yield load_package(_locate_descriptor(root), label=str(target))
        return
    yield load_package(_locate_descriptor(target), label=str(target))


def _looks_like_zip(path: Path) -> bool:
    """True for a zip, and for a damaged one (zip magic or .zip name) so that it is reported as a broken zip."""
    try:
        if zipfile.is_zipfile(path):
            return True
        with open(path, "rb") as handle:
            head = handle.read(4)
    except OSError:
        return False
    return head.startswith(b"PK") or path.suffix.lower() == ".zip"


def load_package(descriptor_path: Path, label: str) -> Package:
    if not descriptor_path.is_file():
        if os.path.lexists(descriptor_path):  # a folder, a FIFO, a device or a dangling or looping link
            raise UnreadableInput(f"{descriptor_path}: not a regular file that can be read")
        raise UnreadableInput(f"{descriptor_path}: no {DESCRIPTOR_NAME} found")
    try:
        descriptor = read_json_file(descriptor_path, descriptor_path.name)
    except (OSError, ValueError) as exc:
        hint = "" if descriptor_path.suffix.lower() == ".json" else (
            "; PACKAGE must be a folder holding datapackage.json, the descriptor itself, or a release zip")
        raise UnreadableInput(f"{descriptor_path}: {exc}{hint}", getattr(exc, "rule", "D01")) from None
    if not isinstance(descriptor, dict):
        raise UnreadableInput(f"{descriptor_path}: the descriptor must be a JSON object, not {type(descriptor).__name__}")
    package = Package(root=descriptor_path.parent.resolve(), descriptor=descriptor, label=label)
    _load_resources(package)
    return package


def _descriptor_finding(message: str, resource: str | None = None, field: str | None = None,
                        value: object = None, rule: str = "D02") -> Finding:
    return Finding(rule=rule, message=message, resource=resource, file=DESCRIPTOR_NAME,
                   field=field, value=shorten(value))


def _load_resources(package: Package) -> None:
    entries = package.descriptor.get("resources")
    if not isinstance(entries, list):
        package.findings.append(_descriptor_finding("the descriptor needs a 'resources' list", field="resources"))
        return
    seen: set[str] = set()
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            package.findings.append(_descriptor_finding(
                f"resource #{index + 1} needs an object with a string 'name'", field="resources", value=entry))
            continue
        name = entry["name"]
        if name not in EXPECTED_RESOURCES:
            package.findings.append(_descriptor_finding(
                f"unexpected resource; expected only {', '.join(EXPECTED_RESOURCES)}", resource=name, field="name", value=name))
            continue
        if name in seen:
            package.findings.append(_descriptor_finding("resource listed twice", resource=name, field="name", value=name))
            continue
        seen.add(name)
        package.resources[name] = _load_resource(package, name, entry)
    for name in EXPECTED_RESOURCES:
        if name not in seen:
            package.findings.append(_descriptor_finding("required resource is missing from the descriptor", resource=name, field="resources"))
    _check_references(package)


def _check_references(package: Package) -> None:
    """D04 for a foreign key to an unknown resource or field; the table is then not checked against a wrong key."""
    schemas = {name: resource.schema for name, resource in package.resources.items()}
    for name, resource in package.resources.items():
        for fk in (resource.schema or {}).get("foreignKeys", []):
            problem = tableschema.reference_problem(fk, schemas, EXPECTED_RESOURCES)
            if problem:
                package.findings.append(Finding(rule="D04", message=f"foreign key on {fk['fields']!r}: {problem}",
                                                resource=name, file=_schema_file(resource), field="schema"))
                resource.schema = None
                break


def _schema_file(resource: Resource) -> str:
    ref = resource.descriptor.get("schema")
    return ref if isinstance(ref, str) else DESCRIPTOR_NAME


def _format_problems(entry: dict) -> list[tuple[str, str]]:
    """(property, problem) for declared formats the validator does not read: it reads plain UTF-8 CSV only."""
    problems = []
    encoding = entry.get("encoding")
    if encoding is not None and (not isinstance(encoding, str) or encoding.lower().replace("_", "-") not in _UTF8):
        problems.append(("encoding", f"encoding {encoding!r} is not supported; the CSV files must be UTF-8"))
    if entry.get("format") not in (None, "csv"):
        problems.append(("format", f"format {entry.get('format')!r} is not supported; the data files must be CSV"))
    dialect = entry.get("dialect")
    if dialect is not None:
        if not isinstance(dialect, dict):
            problems.append(("dialect", "dialect must be an object"))
        else:
            for key, value in dialect.items():
                if key in _DIALECT_DEFAULTS and value not in _DIALECT_DEFAULTS[key]:
                    problems.append(("dialect", f"dialect {key} {value!r} is not supported; the CSV files must be "
                                                "comma-separated with double quotes and a header row"))
    return problems


_UTF8 = ("utf-8", "utf8", "utf-8-sig")
_DIALECT_DEFAULTS = {"delimiter": (",",), "quoteChar": ('"',), "doubleQuote": (True,), "header": (True,),
                     "headerRows": ([1],), "skipInitialSpace": (False,), "escapeChar": (None,),
                     "commentChar": (None,), "commentRows": ([],), "nullSequence": (None, "")}


def _load_resource(package: Package, name: str, entry: dict) -> Resource:
    resource = Resource(name=name, descriptor=entry)
    if entry.get("profile") != "tabular-data-resource":
        package.findings.append(_descriptor_finding(
            "each resource must declare profile 'tabular-data-resource' (needed by R's frictionless)",
            resource=name, field="profile", value=entry.get("profile")))
    for prop, problem in _format_problems(entry):
        package.findings.append(_descriptor_finding(problem, resource=name, field=prop, value=entry.get(prop)))
    if isinstance(entry.get("path"), list):
        package.findings.append(_descriptor_finding(
            "a path must be one file; multipart resources (a list of paths) are not supported",
            resource=name, field="path", value=entry.get("path")))
        data_path, reason = None, None
    else:
        data_path, reason = resolve_inside(package.root, entry.get("path"))
    if reason:
        package.findings.append(_descriptor_finding(reason, resource=name, field="path", value=entry.get("path"), rule="D03"))
    else:
        resource.path = data_path
    schema_ref = entry.get("schema")
    if isinstance(schema_ref, dict):
        resource.schema = _checked_schema(package, name, schema_ref)
        return resource
    schema_path, reason = resolve_inside(package.root, schema_ref)
    if reason:
        package.findings.append(_descriptor_finding(reason, resource=name, field="schema", value=schema_ref, rule="D03"))
        return resource
    try:
        schema = read_json_file(schema_path, str(schema_ref))
    except FileNotFoundError:
        package.findings.append(_descriptor_finding("schema file not found", resource=name, field="schema", value=schema_ref, rule="D04"))
        return resource
    except (OSError, ValueError) as exc:
        message = f"{schema_ref}: {exc.strerror}" if isinstance(exc, OSError) and exc.strerror else str(exc)
        package.findings.append(Finding(rule=getattr(exc, "rule", "D04"), message=message, resource=name,
                                        file=str(schema_ref), field="schema"))
        return resource
    resource.schema = _checked_schema(package, name, schema, str(schema_ref))
    return resource


def _checked_schema(package: Package, name: str, schema: object, file: str | None = None) -> dict | None:
    """The schema when the validator can use it (self-references resolved), else None and a D04 finding."""
    problem = tableschema.schema_problem(schema)
    if problem:
        package.findings.append(Finding(rule="D04", message=problem, resource=name, file=file or DESCRIPTOR_NAME, field="schema"))
        return None
    return tableschema.normalised(schema, name)


SUPPORTED_TYPES = set(tableschema.SUPPORTED_TYPES)


def extract_zip_safely(archive: Path, dest: Path) -> Path:
    """Unpack a zip into dest after refusing unsafe entries; return the folder holding datapackage.json."""
    try:
        with zipfile.ZipFile(archive) as zf:
            infos = zf.infolist()
            check_zip_entries(infos, str(archive))
            for info in infos:
                if info.is_dir():
                    continue
                out = dest / info.filename
                out.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as src, open(out, "wb") as dst:
                    _copy_limited(src, dst, info, str(archive))
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
        raise UnreadableInput(f"{archive}: not a readable zip file, damaged or truncated ({exc})") from None
    except NotImplementedError as exc:  # an unsupported compression method
        raise UnreadableInput(f"{archive}: the zip uses a feature that cannot be read ({exc})") from None
    except RuntimeError as exc:  # an encrypted entry
        raise UnreadableInput(f"{archive}: the zip cannot be read ({exc}); encrypted zips are not supported") from None
    except OSError as exc:  # for example an entry that is both a file and a folder
        raise UnreadableInput(f"{archive}: the zip cannot be unpacked ({exc.strerror or exc})") from None
    if (dest / DESCRIPTOR_NAME).is_file():
        return dest
    tops = [p for p in dest.iterdir() if p.is_dir()]
    if len(tops) == 1 and (tops[0] / DESCRIPTOR_NAME).is_file():
        return tops[0]
    raise UnreadableInput(f"{archive}: the zip holds no {DESCRIPTOR_NAME} at its top level")


def check_zip_entries(infos: list[zipfile.ZipInfo], label: str) -> None:
    """Refuse a zip with unsafe entries before anything is extracted."""
    if len(infos) > limits.MAX_ZIP_ENTRIES:
        raise UnreadableInput(f"{label}: {len(infos)} entries, over the limit of {limits.MAX_ZIP_ENTRIES}", "D05")
    total = 0
    seen: set[PurePosixPath] = set()
    for info in infos:
        name = info.filename
        reason = unsafe_path_reason(name)
        if reason:
            raise UnreadableInput(f"{label}: unsafe entry {name!r}: {reason}", "D03")
        if PurePosixPath(name) in seen:
            raise UnreadableInput(f"{label}: entry {name!r} is in the zip twice; refused as ambiguous", "D03")
        seen.add(PurePosixPath(name))
        if stat.S_ISLNK(info.external_attr >> 16):
            raise UnreadableInput(f"{label}: entry {name!r} is a symbolic link; links are refused", "D03")
        if info.file_size > limits.MAX_ZIP_ENTRY_BYTES:
            raise UnreadableInput(f"{label}: entry {name!r} expands to {info.file_size} bytes, over the limit", "D05")
        if info.compress_size and info.file_size / info.compress_size > limits.MAX_ZIP_RATIO and info.file_size > 1024**2:
            raise UnreadableInput(f"{label}: entry {name!r} has a compression ratio over {limits.MAX_ZIP_RATIO}: refused as a possible zip bomb", "D05")
        total += info.file_size
    if total > limits.MAX_ZIP_TOTAL_BYTES:
        raise UnreadableInput(f"{label}: expands to {total} bytes, over the limit of {limits.MAX_ZIP_TOTAL_BYTES}", "D05")


def _copy_limited(src, dst, info: zipfile.ZipInfo, label: str) -> None:
    """Copy one entry, stopping if it expands past what its header declared."""
    written = 0
    while chunk := src.read(1 << 20):
        written += len(chunk)
        if written > info.file_size:
            raise UnreadableInput(f"{label}: entry {info.filename!r} expands past its declared size", "D05")
        dst.write(chunk)

