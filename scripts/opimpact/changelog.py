"""Read and amend a Keep-a-Changelog CHANGELOG.md: '## [VERSION] - YYYY-MM-DD' sections and their subsections."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

CHANGELOG_NAME = "CHANGELOG.md"
_HEADING = re.compile(r"^## +\[(?P<version>[^\]\n]+)\](?P<rest>[^\n]*)$", re.MULTILINE)
_DATED = re.compile(r"^\s+-\s+(?P<date>\S+)\s*$")
_LINK_DEFINITION = re.compile(r"^\[[^\]\n]+\]:\s", re.MULTILINE)


class ChangelogError(Exception):
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
        dated = _DATED.match(match["rest"])
        date = dated["date"] if dated else None
        body_start = min(match.end() + 1, len(text))
        sections.append(Section(match["version"].strip(), date, match.start(), body_start, max(end, body_start)))
    return sections


def _tail_end(text: str, after: int) -> int:
    """The last section ends where the trailing block of link reference definitions starts, if any."""
    links = [m.start() for m in _LINK_DEFINITION.finditer(text, after)]
    for start in links:
        if all(_LINK_DEFINITION.match(line) or not line.strip() for line in text[start:].split("\n")):
            return start
    return len(text)


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
    if date.year < 1980:
        raise ChangelogError(f"{CHANGELOG_NAME}: the date {section.date!r} of '## [{version}]' is before 1980, "
                             "which zip timestamps cannot hold")
    return date


def has_subsection(text: str, version: str, title: str) -> bool:
    section = find_section(text, version)
    pattern = re.compile(rf"^### +{re.escape(title)}\s*$", re.MULTILINE)
    return bool(pattern.search(text, section.body_start, section.end))


def with_subsection(text: str, version: str, title: str, body: str) -> str:
    """Text with '### title' and body appended to version's section, unless that subsection is already there.

    Idempotent: applying it to its own result changes nothing. Other sections are left byte for byte.
    """
    if has_subsection(text, version, title):
        return text
    section = find_section(text, version)
    content = text[section.body_start:section.end].rstrip()
    block = f"### {title}\n\n{body.strip()}\n"
    new_body = f"{content}\n\n{block}" if content else f"\n{block}"
    head = text[:section.body_start]
    if not head.endswith("\n"):
        head += "\n"
    tail = text[section.end:]
    return head + new_body + ("\n" + tail if tail else "")
