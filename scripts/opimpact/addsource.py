"""Add an article to the sources archive and a row for it to the sources table, in one transaction.

The article is copied byte for byte under a name a contributor can compute: `NNN_` (the next free number) and
the first 16 hex digits of the file's own SHA-256, then `.txt`. The names of the 1.0 files (000-003) are
opaque identifiers and stay as released. The new row takes the next free source ID, which is above every ID
in the table and every one CHANGELOG.md names (a withdrawn released ID is listed there under "Removed"), so a
released ID is never reused. It carries what the command knows (file, checksum) or is told (publication date
as EDTF, title, publisher, URL, language, notes); what only a reader of the article can supply is listed in
`AddedSource.to_fill`.
"""

from __future__ import annotations

import csv
import io
import os
import re
import unicodedata
from dataclasses import asdict, dataclass, field
from pathlib import Path

import polars as pl

from . import checking, limits, safeio
from .atomic import transaction
from .changelog import CHANGELOG_NAME
from .checksums import sha256_bytes, sha256_file
from .csvreader import read_raw_table
from .edtfdates import SINGLE, read
from .errors import OpimpactError, UsageError
from .newlines import line_ending
from .package import UnreadableInput, open_package
from .table_rules import TableInfo

SOURCES = "sources"
_NUMBERED = re.compile(r"(?P<number>[0-9]{3})_")
_SOURCE_ID = re.compile(r"(?<![\w-])src-(?P<number>[0-9]{4})(?![\w-])")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # text may hold tabs and line breaks, nothing else below 0x20
MAX_NUMBER, MAX_ID = 999, 9999


class AddSourceRefused(OpimpactError):
    """The source cannot be added as asked (exit code 1); nothing was written. rule: the rule a broken sources
    table breaks, if that is why."""

    def __init__(self, message: str, rule: str | None = None) -> None:
        super().__init__(message)
        self.rule = rule


class OptionRefused(UsageError):
    """An option value a validation rule refuses (exit code 2); rule is the rule's ID."""

    def __init__(self, message: str, rule: str) -> None:
        super().__init__(message)
        self.rule = rule


UNREADABLE_RULES = ("S01", "S05", "D05")  # a sources table broken this way cannot be read at all (exit 2)


@dataclass
class AddedSource:
    """What add_source did (or, with dry_run, would do)."""

    source_id: str
    archive_file: str
    sha256: str
    archive: str  # the archive folder
    sources_file: str  # the sources table it appended to
    row: dict[str, str]
    to_fill: list[dict[str, str]] = field(default_factory=list)  # {field, what}: left for the contributor
    dry_run: bool = False

    def to_dict(self) -> dict:
        return asdict(self)


def archive_name(number: int, data: bytes) -> str:
    """The archive name of a new file: 'NNN_' + the first 16 hex digits of its SHA-256 + '.txt'."""
    return f"{number:03d}_{sha256_bytes(data)[:16]}.txt"


def add_source(article: str | os.PathLike, package: str | os.PathLike, archive: str | os.PathLike, published: str,
               title: str = "", publisher: str = "", url: str = "", language: str = "en", notes: str = "",
               dry_run: bool = False) -> AddedSource:
    """Copy article into archive and append its row to the package's sources table; with dry_run, write nothing.

    Raises AddSourceRefused (exit 1) for content already archived, a name already taken or no number left, and
    UnreadableInput or UsageError (exit 2) for an article that is not UTF-8 text, an unusable package or
    archive, or an option value the schema refuses.
    """
    data = _article_bytes(Path(article))
    archive = Path(archive)
    if not archive.is_dir():
        raise UsageError(f"{archive}: the archive must be an existing folder")
    path, shown, schema, column = _sources_table(Path(package))
    raw = _table_bytes(path)
    text = raw.decode("utf-8")  # the reader found it UTF-8
    fields = [f["name"] for f in schema.get("fields", [])]
    given = {"title": title, "publisher": publisher, "url": url, "language": language, "notes": notes}
    _check_given(given, schema)
    dates = _published(published)
    sha = sha256_bytes(data)
    _refuse_archived(sha, column, archive, shown)
    name = archive_name(_next_number(archive, column.get("archive_file", [])), data)
    if os.path.lexists(archive / name):
        raise AddSourceRefused(f"{archive / name} already exists")
    row = {name_: "" for name_ in fields}
    row.update(given)
    row.update(source_id=_next_id(column.get("source_id", []), Path(package)), archive_file=name, sha256=sha)
    row.update(dates)
    added = AddedSource(row["source_id"], name, sha, str(archive), shown, row, _to_fill(row), dry_run)
    if dry_run:
        return added
    with transaction() as tx:
        tx.file(archive / name).write_bytes(data)
        tx.file(path).write_bytes(raw + _row_bytes([row[f] for f in fields], text))
    return added


# ---------------------------------------------------------------- inputs

def _article_bytes(article: Path) -> bytes:
    """The article: a regular file of UTF-8 text (a byte-order mark allowed), not empty, without control characters
    other than tabs and line breaks."""
    try:
        data = safeio.read_regular(article, limits.MAX_TEXT_BYTES, str(article))
    except FileNotFoundError:
        raise UnreadableInput(f"{article}: no such file", rule=None) from None
    except ValueError as exc:  # a folder, a FIFO, over the size limit
        raise UnreadableInput(str(exc), rule=None) from None
    except OSError as exc:
        raise UnreadableInput(f"{article}: cannot be read ({exc.strerror or exc})", rule=None) from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UnreadableInput(f"{article} is not UTF-8 text (byte {exc.start} cannot be decoded); save the article "
                              "as UTF-8 plain text", rule=None) from None
    bad = _CONTROL.search(text)
    if bad:
        raise UnreadableInput(f"{article} is not plain text: it holds the control character U+{ord(bad.group()):04X} "
                              f"(character {bad.start()})", rule=None)
    if not text.strip():
        raise UnreadableInput(f"{article} is empty: there is nothing to quote from", rule=None)
    return data


def _sources_table(package: Path) -> tuple[Path, str, dict, dict[str, list[str]]]:
    """The sources table's file, its name as shown (under the package path given), its schema and its columns
    (empty cells as ""), in a package folder (never a zip: it is written to). The table is read by the reader
    every command uses; one it finds broken is refused, with what it found."""
    if not package.is_dir():
        raise UsageError(f"{package}: give the package folder (the one holding datapackage.json)")
    with open_package(package) as opened:
        resource = opened.resources.get(SOURCES)
        if resource is None or resource.path is None or resource.schema is None:
            raise UnreadableInput(f"{package}: the package has no usable '{SOURCES}' resource with a schema", rule=None)
        raw = read_raw_table(resource)
        empty = raw.frame is not None and raw.frame.height == 0  # a header alone: the table to fill (S05 to validate)
        broken = [f for f in raw.findings if not (empty and f.rule == "S05")]
        if broken or raw.frame is None:
            first = broken[0]
            where = f"{package / first.file}" + (f", line {first.row}" if first.row else "")
            refused = UnreadableInput if first.rule in UNREADABLE_RULES else AddSourceRefused
            raise refused(f"{where}: {first.message}; fix it first (opimpact validate says where)", first.rule)
        columns = {name: [cell or "" for cell in raw.frame.get_column(name).to_list()]
                   for name in resource.field_names}
        return resource.path, str(package / resource.rel_path), resource.schema, columns


def _table_bytes(path: Path) -> bytes:
    """The table's bytes, to append to (the house format has no byte-order mark)."""
    try:
        raw = safeio.read_regular(path, limits.MAX_FILE_BYTES, str(path))
    except (OSError, ValueError) as exc:
        raise UnreadableInput(f"{path}: {getattr(exc, 'strerror', None) or exc}", rule=None) from None
    if raw.startswith(b"\xef\xbb\xbf"):
        raise AddSourceRefused(f"{path} starts with a byte-order mark; the house format has none: remove it first")
    return raw


def _check_given(given: dict[str, str], schema: dict) -> None:
    """Refuse a value with a control character or line break, or one the validation rules would refuse: each
    given value is checked by every rule of the registry that reads only given fields (F02 required, F04 enum,
    F05 pattern, F07 length, X05 whitespace, X06 formula...), as validate would check it."""
    for name, value in given.items():
        if any(unicodedata.category(c) in ("Cc", "Zl", "Zp") for c in value):
            raise UsageError(f"--{name}: a control character or line break is not allowed in {value!r}")
    row = pl.DataFrame({name: [value or None] for name, value in given.items()}, schema=dict.fromkeys(given, pl.String))
    fields = [f for f in schema.get("fields", []) if f.get("name") in given]
    checks, _ = checking.bind(TableInfo(SOURCES, {**schema, "fields": fields}, {}))
    for check in checks:  # a rule that cannot be built for this one row is validate's to report
        reads_given = check.field in given and set(check.check.ok.meta.root_names()) <= set(given)
        if reads_given and not row.select(check.check.ok.fill_null(False)).item():
            shown = f" {given[check.field]!r}" if given[check.field] else ""
            raise OptionRefused(f"--{check.field}{shown}: {check.message}", check.rule.id)


def _published(edtf: str) -> dict[str, str]:
    """The publication date group from its EDTF: one day, possibly known only to a precision or a range."""
    reading = read(edtf)
    if reading.problem:
        raise UsageError(f"--published {edtf!r}: {reading.problem}")
    if reading.shape != SINGLE:
        raise UsageError(f"--published {edtf!r} is a span; a publication date is one day, perhaps known only to "
                         "its year, month or season (2017, 2017-06, 2017-22) or to lie in a range [2017-05-23..2017-06-30]")
    if reading.start is None:
        raise UsageError(f"--published {edtf!r}: give the earliest day it can be ([A..B] or [A..]); the sources "
                         "table requires a start")
    values = {"edtf": edtf, "start": reading.start, "end": reading.end, "precision": reading.precision,
              "earliest": reading.earliest, "latest": reading.latest}
    return {f"published_{part}": "" if value is None else str(value) for part, value in values.items()}


# ---------------------------------------------------------------- numbers

def _refuse_archived(sha: str, column: dict[str, list[str]], archive: Path, shown: str) -> None:
    for source_id, known in zip(column.get("source_id", []), column.get("sha256", []), strict=False):
        if known == sha:
            raise AddSourceRefused(f"this article is already source {source_id} in {shown} (same SHA-256 {sha})")
    for entry in sorted(archive.iterdir()):
        if safeio.is_regular(entry) and sha256_file(entry) == sha:
            raise AddSourceRefused(f"this article is already archived as {entry.name} (same SHA-256 {sha}); "
                                   "give it a row by hand if it has none")


def _next_number(archive: Path, archived: list[str]) -> int:
    """One more than the highest NNN_ prefix in the archive folder and in the table's archive_file column."""
    names = [entry.name for entry in archive.iterdir()] + archived
    numbers = [int(m["number"]) for m in map(_NUMBERED.match, names) if m]
    number = max(numbers, default=-1) + 1
    if number > MAX_NUMBER:
        raise AddSourceRefused(f"no archive number is left: {archive} already reaches {MAX_NUMBER:03d}")
    return number


def _next_id(ids: list[str], package: Path) -> str:
    """One more than every source ID in the table and in CHANGELOG.md (removed released IDs are listed there)."""
    seen = [int(m["number"]) for m in map(_SOURCE_ID.fullmatch, ids) if m]
    changelog = package / CHANGELOG_NAME
    if changelog.is_file():
        try:
            seen += [int(m["number"]) for m in _SOURCE_ID.finditer(safeio.read_text(changelog, str(changelog)))]
        except ValueError as exc:
            raise UnreadableInput(str(exc), rule=None) from None
    number = max(seen, default=0) + 1
    if number > MAX_ID:
        raise AddSourceRefused(f"no source ID is left after src-{MAX_ID}")
    return f"src-{number:04d}"


# ---------------------------------------------------------------- writing and what is left

def _row_bytes(values: list[str], text: str) -> bytes:
    """One CSV record quoted as the house format quotes (only where needed), after a line break if the file
    lacks its final one, in the file's line ending."""
    ending = line_ending(text)
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator=ending).writerow(values)
    lead = "" if not text or text.endswith(("\n", "\r")) else ending
    return (lead + buffer.getvalue()).encode("utf-8")


def _to_fill(row: dict[str, str]) -> list[dict[str, str]]:
    """What the contributor must still write into the row, with the conventions that govern it."""
    window = row["published_edtf"]
    wanted = {
        "notes": f"how the publication date {window} was inferred from the text (the clues and the conventions "
                 "under Dates in the README), and any caveat; in your own words, article wording in quotation marks",
        "title": "the headline exactly as printed in the text; leave empty only if the text has none (say so in notes)",
        "publisher": "only if the text itself names the publisher (a site icon, 'told Grasswire', 'With files "
                     "from CTV News'); otherwise leave empty and say why in notes",
        "url": "only if the text states the article's address; otherwise leave empty",
    }
    return [{"field": name, "what": what} for name, what in wanted.items() if not row.get(name)]


def render_text(added: AddedSource) -> str:
    """The command's report for people: what was (or would be) written, and exactly what to do next."""
    verb = "would add" if added.dry_run else "added"
    lines = [f"{verb} {added.source_id}: {Path(added.archive) / added.archive_file} (sha256 {added.sha256})"
             + (" (dry run: nothing was written)" if added.dry_run else ""),
             f"{'would append' if added.dry_run else 'appended'} its row to {added.sources_file}: published "
             f"{added.row['published_edtf']} ({added.row['published_precision']}, {added.row['published_earliest']} "
             f"to {added.row['published_latest'] or 'open'}), language {added.row['language']}"]
    if added.to_fill:
        lines.append(f"fill in by hand, in row {added.source_id} of {added.sources_file}:")
        lines += [f"  {item['field']}: {item['what']}" for item in added.to_fill]
    lines += ["then:",
              f"  1. add rows to events, assets, personnel_levels and quotes with source_id {added.source_id}, each "
              f"with an evidence excerpt copied character for character from {added.archive_file}",
              f"  2. opimpact validate --archive {added.archive}   (until it says valid)",
              "  3. describe the change under '## [Unreleased]' in CHANGELOG.md (see CONTRIBUTING.md)"]
    return "\n".join(lines) + "\n"
