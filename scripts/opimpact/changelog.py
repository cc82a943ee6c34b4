"""Read and amend a Keep-a-Changelog CHANGELOG.md: '## [VERSION] - YYYY-MM-DD' sections and their subsections,
and the '## [Unreleased]' section a release turns into its own dated section.

Lines may end in LF, CRLF or CR alone; an amended changelog keeps the line endings it has. Parsing is linear in
the size of the text.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from .errors import OpimpactError
from .newlines import LINE_BREAK, LINE_START, line_ending, with_line_ending

CHANGELOG_NAME = "CHANGELOG.md"
_HEADING = re.compile(rf"{LINE_START}## +\[(?P<version>[^\]\r\n]+)\](?P<rest>[^\r\n]*)")
_DATED = re.compile(r"[ \t]+-[ \t]+(?P<date>[^\s]+)[ \t]*")
_LINK_DEFINITION = re.compile(r"\[[^\]\r\n]+\]:\s")
LAST_ZIP_YEAR = 2107  # zip timestamps run from 1980 to 2107
UNRELEASED = "Unreleased"


class ChangelogError(OpimpactError):
    """The changelog lacks what a release needs (exit code 1)."""


@dataclass(frozen=True)
class Section:
    """One '## [...]' section: its version label, date text (None when absent) and character offsets."""

    version: str
    date: str | None
    start: int  # offset of the heading line
    body_start: int  # offset just after the heading line
    end: int  # offset where the next section (or the closing link definitions) begins


def parse_changelog(text: str) -> list[Section]:
    """Every '## [label]' section in order of appearance."""
    headings = list(_HEADING.finditer(text))
    sections = []
    for index, match in enumerate(headings):
        end = headings[index + 1].start() if index + 1 < len(headings) else _tail_end(text, match.end())
        dated = _DATED.fullmatch(match["rest"])
        date = dated["date"] if dated else None
        line_break = LINE_BREAK.match(text, match.end())
        body_start = line_break.end() if line_break else len(text)
        sections.append(Section(match["version"].strip(), date, match.start(), body_start, max(end, body_start)))
    return sections


def _tail_end(text: str, after: int) -> int:
    """The last section ends where the trailing block of link reference definitions starts, if any: walk the
    lines back from the end while they are definitions or blank (one pass, not one scan per definition)."""
    lines = [(m.start(), m.group()) for m in re.finditer(r"[^\r\n]*(?:\r\n|\r|\n|\Z)", text[after:])]
    end = len(text)
    for start, line in reversed(lines):
        if not line.strip():
            continue
        if not _LINK_DEFINITION.match(line):
            break
        end = after + start
    return end


def find_section(text: str, version: str) -> Section:
    """The section of version; ChangelogError when it is missing or listed twice."""
    matches = [s for s in parse_changelog(text) if s.version == version]
    if not matches:
        raise ChangelogError(f"{CHANGELOG_NAME} has no section for {version}: add a heading "
                             f"'## [{version}] - YYYY-MM-DD' that describes the release")
    if len(matches) > 1:
        raise ChangelogError(f"{CHANGELOG_NAME} has {len(matches)} sections for {version}; keep one")
    return matches[0]


def release_date(text: str, version: str) -> dt.date:
    """The date in the heading '## [version] - YYYY-MM-DD'; ChangelogError when missing or not a real date."""
    section = find_section(text, version)
    if section.date is None:
        raise ChangelogError(f"{CHANGELOG_NAME}: the section '## [{version}]' has no date; write it as "
                             f"'## [{version}] - YYYY-MM-DD'")
    if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", section.date):
        raise ChangelogError(f"{CHANGELOG_NAME}: the date {section.date!r} of '## [{version}]' is not YYYY-MM-DD")
    try:
        date = dt.date.fromisoformat(section.date)
    except ValueError:
        raise ChangelogError(f"{CHANGELOG_NAME}: the date {section.date!r} of '## [{version}]' does not exist") from None
    check_release_date(date, f"the date {section.date!r} of '## [{version}]'")
    return date


def check_release_date(date: dt.date, what: str) -> None:
    """ChangelogError unless a zip timestamp can hold date."""
    if not 1980 <= date.year <= LAST_ZIP_YEAR:
        raise ChangelogError(f"{CHANGELOG_NAME}: {what} is outside 1980 to {LAST_ZIP_YEAR}, the years zip "
                             "timestamps can hold")


def _unreleased(text: str) -> Section | None:
    """The '## [Unreleased]' section (the label in any case), None when there is none; ChangelogError if repeated."""
    found = [s for s in parse_changelog(text) if s.version.casefold() == UNRELEASED.casefold()]
    if len(found) > 1:
        raise ChangelogError(f"{CHANGELOG_NAME} has {len(found)} '## [{UNRELEASED}]' sections; keep one")
    return found[0] if found else None


def release_section(text: str, version: str) -> Section:
    """The section that describes release version: its own, else (before the release dates it) '## [Unreleased]'."""
    if any(s.version == version for s in parse_changelog(text)):
        return find_section(text, version)
    return _unreleased(text) or find_section(text, version)


def dated_release(text: str, version: str, on: dt.date) -> tuple[dt.date, str]:
    """The date of release version and the changelog it ships with.

    With a '## [version] - YYYY-MM-DD' section: that date, and the text unchanged. Otherwise the '## [Unreleased]'
    section becomes '## [version] - on' under a new, empty '## [Unreleased]' heading (Keep a Changelog), and the
    rest of the text is left byte for byte. Applying it to its own result changes nothing, so a release's
    prepared files stay the same when prepared again. ChangelogError when there is neither section.
    """
    if any(s.version == version for s in parse_changelog(text)):
        return release_date(text, version), text
    section = _unreleased(text)
    if section is None:
        raise ChangelogError(f"{CHANGELOG_NAME} has no section for {version}: describe the release under "
                             f"'## [{UNRELEASED}]' (the release dates it) or under '## [{version}] - YYYY-MM-DD'")
    check_release_date(on, f"the release date {on.isoformat()}")
    heading = _HEADING.match(text, section.start)  # the heading line, without its line break
    dated = with_line_ending(f"## [{UNRELEASED}]\n\n## [{version}] - {on.isoformat()}", line_ending(text))
    return on, text[:section.start] + dated + text[heading.end():]


def has_subsection(text: str, version: str, title: str) -> bool:
    section = find_section(text, version)
    pattern = re.compile(rf"{LINE_START}### +{re.escape(title)}[ \t]*(?:\r\n|\r|\n|\Z)")
    return bool(pattern.search(text[:section.end], section.body_start))


def with_subsection(text: str, version: str, title: str, body: str) -> str:
    """Text with '### title' and body appended to version's section, unless that subsection is already there.

    Idempotent: applying it to its own result changes nothing. Other sections are left byte for byte, and the
    added lines end as the changelog's lines do.
    """
    if has_subsection(text, version, title):
        return text
    section = find_section(text, version)
    ending = line_ending(text)
    content = text[section.body_start:section.end].rstrip()
    tail = text[section.end:]
    head_break = "" if text[:section.body_start].endswith(("\n", "\r")) else "\n"
    block = f"### {title}\n\n{body.strip()}\n"
    addition = (f"\n\n{block}" if content else f"\n{block}") + ("\n" if tail else "")
    return (text[:section.body_start] + with_line_ending(head_break, ending) + content
            + with_line_ending(addition, ending) + tail)


def unlisted_removals(text: str, version: str, ids: list[str]) -> list[str]:
    """The IDs that the '### Removed' subsection of version's section (or, before the release dates it, of
    '## [Unreleased]') does not name (all of them when it has none): a released ID never disappears without
    being listed there."""
    section = release_section(text, version)
    body = text[section.body_start:section.end]
    match = re.search(rf"{LINE_START}### +Removed[ \t]*(?:\r\n|\r|\n|\Z)", body)
    if match is None:
        return list(ids)
    rest = body[match.end():]
    following = re.search(rf"{LINE_START}### ", rest)
    removed = rest[:following.start()] if following else rest
    return [key for key in ids if not re.search(rf"(?<![\w-]){re.escape(key)}(?![\w-])", removed)]

