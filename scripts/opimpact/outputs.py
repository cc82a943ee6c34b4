"""An output never aliases an input: a command refuses, before writing anything, to write over a file of the
package it reads, to write two outputs to one file, or to write where a FIFO, device or folder stands."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from .errors import UsageError
from .package import DESCRIPTOR_NAME, Package, resolve_inside

# Files beside the descriptor that commands read or that a release owns.
PACKAGE_FILES = {"CITATION.cff": "citation file", "CHANGELOG.md": "changelog", "README.md": "README",
                 "LICENSE": "licence", ".zenodo.json": "Zenodo metadata"}
RECORDS_DIR, DIST_DIR = "releases", "dist"


class OutputAliasesInput(UsageError):
    """An output path names an input, another output, or something that is not a regular file (exit 2)."""


def package_files(package: Package, source: str | os.PathLike | None = None) -> list[tuple[Path, str]]:
    """Every file of the package a command reads or must not replace, each with what it is: the source itself (a
    descriptor or zip), the descriptor, data files, Table Schemas, CITATION.cff and the other top-level files,
    release records and release artifacts."""
    found: list[tuple[Path, str]] = []
    if source is not None:
        found.append((Path(source), "package given to the command"))
    root = package.root
    found.append((root / DESCRIPTOR_NAME, "descriptor"))
    for name, resource in package.resources.items():
        if resource.path is not None:
            found.append((resource.path, f"data file of resource {name}"))
        schema = resource.descriptor.get("schema")
        if isinstance(schema, str):
            path, reason = resolve_inside(root, schema)
            if path is not None and reason is None:
                found.append((path, f"Table Schema of resource {name}"))
    found += [(root / name, what) for name, what in PACKAGE_FILES.items()]
    if (root / RECORDS_DIR).is_dir():
        found += [(path, "release record") for path in (root / RECORDS_DIR).glob("*.json")]
    if (root / DIST_DIR).is_dir():
        found += [(path, "release artifact") for path in (root / DIST_DIR).rglob("*") if not path.is_dir()]
    return found


def _same_file(a: Path, b: Path) -> bool:
    """True when a and b are one file: the same path once links are resolved, or one file under two names."""
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist
        return False


def check_outputs(outputs: Sequence[str | os.PathLike], inputs: Iterable[tuple[Path, str]]) -> None:
    """Refuse (OutputAliasesInput, exit 2) unless every output is a new or regular file distinct from every input
    and from the other outputs. Call it before anything is written, folders included."""
    inputs = list(inputs)
    checked: list[Path] = []
    for output in map(Path, outputs):
        if os.path.lexists(output) and not output.is_file():
            raise OutputAliasesInput(f"{output}: exists and is not a regular file (a folder, FIFO or device); "
                                     "refused, nothing was written")
        for earlier in checked:
            if _same_file(output, earlier):
                raise OutputAliasesInput(f"{output} is given for two outputs; each output needs its own file; "
                                         "nothing was written")
        for path, what in inputs:
            if _same_file(output, path):
                same = "" if os.path.abspath(output) == os.path.abspath(path) else f" {path}"
                raise OutputAliasesInput(f"{output} is the {what}{same}, an input of this command; writing it "
                                         "would destroy it. Choose another output path; nothing was written")
        checked.append(output)
