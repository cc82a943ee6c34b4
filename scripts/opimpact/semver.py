"""Semantic versions (https://semver.org 2.0.0): parse, order, and name the bump between two releases."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import IntEnum

_NUMBER = r"0|[1-9][0-9]*"
_IDENT = r"[0-9A-Za-z-]+"
_VERSION = re.compile(
    rf"^(?P<major>{_NUMBER})\.(?P<minor>{_NUMBER})\.(?P<patch>{_NUMBER})"
    rf"(?:-(?P<pre>{_IDENT}(?:\.{_IDENT})*))?"
    rf"(?:\+(?P<build>{_IDENT}(?:\.{_IDENT})*))?"
)
_NUMERIC = re.compile(r"^[0-9]+$")


class Bump(IntEnum):
    """How much a release changes: what a data change requires, or what a new version number announces."""

    NONE = 0
    PATCH = 1
    MINOR = 2
    MAJOR = 3

    @property
    def label(self) -> str:
        return self.name.lower()


@dataclass(frozen=True)
class Version:
    """A semantic version. Equality and order follow SemVer precedence (build metadata is ignored)."""

    major: int
    minor: int
    patch: int
    prerelease: tuple[str, ...] = ()
    build: tuple[str, ...] = ()

    @classmethod
    def parse(cls, text: str) -> Version:
        """Parse 'MAJOR.MINOR.PATCH[-pre][+build]'; raise ValueError naming what is wrong."""
        match = _VERSION.fullmatch(text) if isinstance(text, str) else None
        if not match:
            raise ValueError(f"{text!r} is not a semantic version: expected MAJOR.MINOR.PATCH such as 1.0.0 "
                             "(numbers without leading zeros, optional -prerelease and +build parts)")
        pre = tuple(match["pre"].split(".")) if match["pre"] else ()
        for ident in pre:
            if _NUMERIC.match(ident) and len(ident) > 1 and ident.startswith("0"):
                raise ValueError(f"{text!r} is not a semantic version: numeric pre-release part {ident!r} has a leading zero")
        build = tuple(match["build"].split(".")) if match["build"] else ()
        return cls(int(match["major"]), int(match["minor"]), int(match["patch"]), pre, build)

    @property
    def core(self) -> tuple[int, int, int]:
        return (self.major, self.minor, self.patch)

    @property
    def is_prerelease(self) -> bool:
        return bool(self.prerelease)

    def precedence(self) -> tuple:
        """A key whose natural order is SemVer precedence."""
        if not self.prerelease:
            return (*self.core, (1,))
        idents = tuple((0, int(p), "") if _NUMERIC.match(p) else (1, 0, p) for p in self.prerelease)
        return (*self.core, (0, idents))

    def __str__(self) -> str:
        text = ".".join(str(n) for n in self.core)
        if self.prerelease:
            text += "-" + ".".join(self.prerelease)
        if self.build:
            text += "+" + ".".join(self.build)
        return text

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Version) and self.precedence() == other.precedence()

    def __hash__(self) -> int:
        return hash(self.precedence())

    def __lt__(self, other: Version) -> bool:
        return self.precedence() < other.precedence()

    def __le__(self, other: Version) -> bool:
        return self.precedence() <= other.precedence()

    def __gt__(self, other: Version) -> bool:
        return self.precedence() > other.precedence()

    def __ge__(self, other: Version) -> bool:
        return self.precedence() >= other.precedence()


def bump_between(old: Version, new: Version) -> Bump:
    """The largest core part that grows from old to new (NONE when only pre-release or build parts differ)."""
    if new.major != old.major:
        return Bump.MAJOR if new.major > old.major else Bump.NONE
    if new.minor != old.minor:
        return Bump.MINOR if new.minor > old.minor else Bump.NONE
    if new.patch != old.patch:
        return Bump.PATCH if new.patch > old.patch else Bump.NONE
    return Bump.NONE


def announced_bump(released: list[Version], new: Version) -> Bump | None:
    """What new announces relative to the latest final (non-pre-release) release; None for a first release.

    A pre-release such as 2.0.0-rc.1 announces the bump of its core (2.0.0) over the last final release,
    so 2.0.0-rc.2 and 2.0.0 after it announce the same MAJOR bump.
    """
    finals = [v for v in released if not v.is_prerelease and v < new]
    if not finals:
        return None
    return bump_between(max(finals), new)
