"""Property-based tests of what releases parse: semantic versions, their order and bumps, and CHANGELOG.md."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st

from opimpact.changelog import (
    ChangelogError,
    dated_release,
    find_section,
    parse_changelog,
    release_date,
    unlisted_removals,
    with_subsection,
)
from opimpact.semver import Bump, Version, announced_bump, bump_between

# The regular expression published at semver.org, used as an independent oracle.
SEMVER_ORG = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$", re.ASCII)

numbers = st.integers(min_value=0, max_value=10**6)
alnum_ids = st.from_regex(r"[0-9]*[A-Za-z-][0-9A-Za-z-]*", fullmatch=True).filter(lambda s: len(s) <= 12)
numeric_ids = numbers.map(str)
pre_ids = st.lists(st.one_of(alnum_ids, numeric_ids), max_size=4)
build_ids = st.lists(st.from_regex(r"[0-9A-Za-z-]{1,8}", fullmatch=True), max_size=3)
versions = st.builds(lambda a, b, c, p, m: Version(a, b, c, tuple(p), tuple(m)), numbers, numbers, numbers,
                     pre_ids, build_ids)


@given(versions)
def test_version_text_round_trips(version: Version) -> None:
    parsed = Version.parse(str(version))
    assert (parsed.core, parsed.prerelease, parsed.build) == (version.core, version.prerelease, version.build)
    assert SEMVER_ORG.match(str(version))


@given(st.text(alphabet="0123456789.-+aZ\n", max_size=16))
@example("1.0.0\n")
@example("01.0.0")
@example("1.0.0-01")
@example("1.0.0-0a")
@example("1.0.0+01")
@example("1.0.0-")
@example("1.0.0-a..b")
def test_parse_accepts_exactly_what_semver_org_accepts(text: str) -> None:
    official = SEMVER_ORG.fullmatch(text) is not None
    try:
        Version.parse(text)
        ours = True
    except ValueError:
        ours = False
    assert ours == official, text


@given(versions, versions, versions)
def test_precedence_is_a_total_order(a: Version, b: Version, c: Version) -> None:
    assert (a < b) + (a == b) + (a > b) == 1
    assert (a <= b) == (not a > b)
    if a <= b and b <= c:
        assert a <= c


@given(versions, build_ids)
def test_build_metadata_is_ignored(version: Version, build: list[str]) -> None:
    other = Version(*version.core, version.prerelease, tuple(build))
    assert other == version and hash(other) == hash(version)


@given(versions, st.sampled_from([0, 1, 2]))
def test_raising_a_core_part_raises_the_version_and_names_the_bump(version: Version, part: int) -> None:
    core = list(version.core)
    core[part] += 1
    for lower in range(part + 1, 3):
        core[lower] = 0
    bigger = Version(*core)
    assert bigger > version
    assert bump_between(version, bigger) == [Bump.MAJOR, Bump.MINOR, Bump.PATCH][part]
    assert bump_between(bigger, version) == Bump.NONE


@given(versions.filter(lambda v: v.prerelease))
def test_a_prerelease_comes_before_its_release(version: Version) -> None:
    assert version < Version(*version.core)


def test_the_precedence_example_of_the_specification() -> None:
    chain = ["1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2", "1.0.0-beta.11",
             "1.0.0-rc.1", "1.0.0", "1.0.1", "1.1.0", "2.0.0"]
    parsed = [Version.parse(v) for v in chain]
    assert sorted(reversed(parsed)) == parsed


def test_announced_bump_counts_from_the_last_final_release() -> None:
    released = [Version.parse(v) for v in ("1.0.0", "1.1.0", "2.0.0-rc.1")]
    assert announced_bump([], Version.parse("1.0.0")) is None
    assert announced_bump(released, Version.parse("2.0.0-rc.2")) == Bump.MAJOR
    assert announced_bump(released, Version.parse("2.0.0")) == Bump.MAJOR
    assert announced_bump(released[:2], Version.parse("1.1.1")) == Bump.PATCH


# ---------------------------------------------------------------- CHANGELOG.md

labels = st.builds(lambda a, b, c: f"{a}.{b}.{c}", *(st.integers(0, 30),) * 3)
dates = st.dates(min_value=dt.date(1980, 1, 1), max_value=dt.date(2107, 12, 31))
body_lines = st.lists(st.text(alphabet="abc -*#`[]:\t", max_size=20).filter(lambda line: not line.startswith("#")),
                      max_size=4)
sections = st.lists(st.tuples(labels, dates, body_lines), max_size=5, unique_by=lambda s: s[0])
link_block = st.sampled_from(["", "\n[1.0.0]: https://example.invalid/1.0.0\n"])


def render(items, links: str = "") -> str:
    text = "# Changelog\n\n## [Unreleased]\n\n"
    for label, date, lines in items:
        text += f"## [{label}] - {date.isoformat()}\n\n" + "".join(line + "\n" for line in lines) + "\n"
    return text + links


@given(sections, link_block)
def test_parse_finds_every_section_and_its_date(items, links: str) -> None:
    text = render(items, links)
    parsed = parse_changelog(text)
    assert [(s.version, s.date) for s in parsed] == [("Unreleased", None)] + [
        (label, date.isoformat()) for label, date, _ in items]
    for label, date, _ in items:
        assert release_date(text, label) == date


@given(sections.filter(bool), st.data(), link_block, st.text(alphabet="abc -\n", min_size=1, max_size=40))
def test_with_subsection_touches_only_its_section_and_is_idempotent(items, data, links: str, body: str) -> None:
    assume(body.strip())
    text = render(items, links)
    label = data.draw(st.sampled_from([label for label, _, _ in items]))
    section = find_section(text, label)
    new = with_subsection(text, label, "Data changes", body)
    assert with_subsection(new, label, "Data changes", "other text") == new
    assert new.startswith(text[:section.body_start])
    assert new.endswith(text[section.end:])
    new_section = find_section(new, label)
    assert f"### Data changes\n\n{body.strip()}\n" in new[new_section.body_start:new_section.end]
    assert [s.version for s in parse_changelog(new)] == [s.version for s in parse_changelog(text)]


@pytest.mark.parametrize("heading", ["## [1.0.0]", "## [1.0.0] - 2026-13-01", "## [1.0.0] - 26-11-20",
                                     "## [1.0.0] - 1979-12-31", "## [1.0.0] - 2108-01-01", "## [1.0.0] - 9999-12-31"])
def test_release_date_refuses_missing_or_impossible_dates(heading: str) -> None:
    with pytest.raises(ChangelogError):
        release_date(f"# Changelog\n\n{heading}\n\n- x\n", "1.0.0")


def test_a_missing_or_repeated_section_is_refused() -> None:
    with pytest.raises(ChangelogError, match="no section for 2.0.0"):
        find_section(render([("1.0.0", dt.date(2026, 1, 1), [])]), "2.0.0")
    twice = render([("1.0.0", dt.date(2026, 1, 1), []), ("1.0.0", dt.date(2026, 1, 2), [])])
    with pytest.raises(ChangelogError, match="2 sections"):
        find_section(twice, "1.0.0")


# ---------------------------------------------------------------- dating [Unreleased]

@given(sections, body_lines, link_block, dates, st.sampled_from(["\n", "\r\n"]))
def test_a_release_dates_the_unreleased_section_and_keeps_an_empty_one(items, unreleased, links: str,
                                                                       on: dt.date, ending: str) -> None:
    version = "99.0.0"  # above every label drawn
    text = render(items, links).replace("## [Unreleased]\n\n", "## [Unreleased]\n\n" + "".join(
        line + "\n" for line in unreleased) + "\n").replace("\n", ending)
    date, new = dated_release(text, version, on)
    assert date == on
    head = text.index("## [Unreleased]")
    assert new[:head] == text[:head]
    assert new[head:].startswith(f"## [Unreleased]{ending}{ending}## [{version}] - {on.isoformat()}{ending}")
    assert [(s.version, s.date) for s in parse_changelog(new)] == [("Unreleased", None), (version, on.isoformat())] + [
        (label, d.isoformat()) for label, d, _ in items]
    released = find_section(new, version)
    old = find_section(text, "Unreleased")
    assert new[released.body_start:released.end] == text[old.body_start:old.end]  # the notes move, unchanged
    assert new[released.end:] == text[old.end:]
    assert release_date(new, version) == on
    assert dated_release(new, version, dt.date(2000, 1, 1)) == (on, new)  # idempotent, whatever day it runs


@given(sections.filter(bool), dates, st.data())
def test_a_dated_section_wins_over_unreleased(items, on: dt.date, data) -> None:
    text = render(items)
    label, date, _ = data.draw(st.sampled_from(items))
    assert dated_release(text, label, on) == (date, text)


def test_without_either_section_the_release_is_refused() -> None:
    with pytest.raises(ChangelogError, match=r"no section for 2\.0\.0.*\[Unreleased\]"):
        dated_release("# Changelog\n\n## [1.0.0] - 2026-01-01\n", "2.0.0", dt.date(2026, 2, 1))
    with pytest.raises(ChangelogError, match="2 '## \\[Unreleased\\]' sections"):
        dated_release("## [Unreleased]\n\n## [Unreleased]\n", "2.0.0", dt.date(2026, 2, 1))
    with pytest.raises(ChangelogError, match="outside 1980"):
        dated_release("## [Unreleased]\n", "2.0.0", dt.date(1979, 12, 31))


def test_removals_listed_under_unreleased_count_before_the_release_dates_them() -> None:
    text = "# Changelog\n\n## [Unreleased]\n\n### Removed\n\n- `ev-0007`\n\n## [1.0.0] - 2026-01-01\n\n- `ev-0008`\n"
    assert unlisted_removals(text, "2.0.0", ["ev-0007", "ev-0008"]) == ["ev-0008"]
    _, dated = dated_release(text, "2.0.0", dt.date(2026, 2, 1))
    assert unlisted_removals(dated, "2.0.0", ["ev-0007", "ev-0008"]) == ["ev-0008"]
