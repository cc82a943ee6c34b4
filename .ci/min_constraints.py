#!/usr/bin/env python3
"""Print pip constraints that pin every declared lower bound: `name==X` for each `name>=X` in pyproject.toml.

Covers the runtime dependencies and the `test` extra, so that `pip install -c FILE -e ".[test]"` installs the
oldest versions the package claims to support. Generated from pyproject.toml each time, so the two cannot drift.
Standard library only (tomllib: Python 3.11+).

    python .ci/min_constraints.py [pyproject.toml] > min-constraints.txt
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import tomllib

EXTRAS = ("test",)
# name, optional [extras], specifiers, optional ; marker (PEP 508 without URLs, which pyproject.toml does not use)
REQUIREMENT = re.compile(r"^\s*(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?\s*(?P<specs>[^;]*?)\s*(;.*)?$")


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def lower_bound(requirement: str) -> tuple[str, str | None]:
    """(canonical name, the version after `>=` or None) of one requirement string."""
    match = REQUIREMENT.match(requirement)
    if match is None:
        raise ValueError(f"cannot read the requirement {requirement!r}")
    bounds = [spec.strip()[2:].strip() for spec in match["specs"].split(",") if spec.strip().startswith(">=")]
    if len(bounds) > 1:
        raise ValueError(f"{requirement!r} has more than one '>=' bound")
    return canonical(match["name"]), bounds[0] if bounds else None


def min_constraints(pyproject: dict) -> list[str]:
    project = pyproject.get("project")
    if not isinstance(project, dict):
        raise ValueError("no [project] table")
    requirements = list(project.get("dependencies", []))
    for extra in EXTRAS:
        requirements += project.get("optional-dependencies", {}).get(extra, [])
    pins: dict[str, str] = {}
    for requirement in requirements:
        name, bound = lower_bound(requirement)
        if bound is None:
            continue
        if pins.get(name, bound) != bound:
            raise ValueError(f"{name} is declared with two lower bounds ({pins[name]} and {bound}); keep one")
        pins[name] = bound
    return [f"{name}=={bound}" for name, bound in pins.items()]


def main(argv: list[str]) -> int:
    path = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parent.parent / "pyproject.toml"
    try:
        lines = min_constraints(tomllib.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError) as exc:  # tomllib.TOMLDecodeError is a ValueError
        print(f"min_constraints: {path}: {exc}", file=sys.stderr)
        return 2
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
