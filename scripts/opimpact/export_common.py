"""What every export shares: open a package, refuse it unless it validates, and read its typed tables."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone

import polars as pl

from .errors import OpimpactError
from .outputs import check_outputs, package_files
from .package import Package, UnreadableInput, open_package

__all__ = ["ExportError", "InvalidPackage", "LoadedPackage", "loaded_package", "export_source", "package_created",
           "citation_text", "UnreadableInput"]

FALLBACK_CREATED = datetime(2000, 1, 1, tzinfo=timezone.utc)


class InvalidPackage(OpimpactError):
    """The package does not validate, so it is not exported (exit code 1)."""

    def __init__(self, label: str, error_count: int):
        self.label = label
        self.error_count = error_count
        super().__init__(f"{label} does not validate ({error_count} errors); nothing was written. "
                         f"Run `opimpact validate {label}` to see what to fix.")


class ExportError(OpimpactError):
    """Valid data that the target format cannot hold (for example a cell too long for Excel); exit code 1."""


@dataclass
class LoadedPackage:
    """A package that validated, with its typed tables in descriptor order."""

    package: Package
    tables: dict[str, pl.DataFrame]

    @property
    def descriptor(self) -> dict:
        return self.package.descriptor

    def schema(self, name: str) -> dict:
        return self.package.resources[name].schema or {"fields": []}


@contextmanager
def loaded_package(source: Package | LoadedPackage | str | os.PathLike, check: bool = True) -> Iterator[LoadedPackage]:
    """Yield the package at source (path or already opened) with its typed tables.

    With check=True the package is validated first and InvalidPackage is raised when it has any error.
    Raises UnreadableInput when the input cannot be read at all.
    """
    if isinstance(source, LoadedPackage):
        yield source
        return
    if isinstance(source, Package):
        yield _load(source, check)
        return
    with open_package(source) as package:
        yield _load(package, check)


@contextmanager
def export_source(source: Package | LoadedPackage | str | os.PathLike, outputs: list[str | os.PathLike],
                  check: bool = True) -> Iterator[LoadedPackage]:
    """Open source, refuse outputs that would write over one of its files (exit 2, before anything is validated
    or written), then yield it loaded (validated first when check is true; see loaded_package)."""
    if isinstance(source, LoadedPackage):
        check_outputs(outputs, package_files(source.package))
        yield source
        return
    if isinstance(source, Package):
        check_outputs(outputs, package_files(source))
        yield _load(source, check)
        return
    with open_package(source) as package:
        check_outputs(outputs, package_files(package, source))
        yield _load(package, check)


def _load(package: Package, check: bool) -> LoadedPackage:
    from .validate import load_typed_tables, validate_loaded

    if check:
        report = validate_loaded(package)
        if not report.valid:
            raise InvalidPackage(package.label, report.error_count)
    return LoadedPackage(package, load_typed_tables(package))


def listed(descriptor: dict, key: str) -> list:
    """The items of a list property of the descriptor (contributors, licenses, sources, keywords); a property of
    another kind gives none. The validator does not check these, so an export must not assume them."""
    value = descriptor.get(key)
    return value if isinstance(value, list) else []


def objects(descriptor: dict, key: str) -> list[dict]:
    """The objects among listed(descriptor, key)."""
    return [item for item in listed(descriptor, key) if isinstance(item, dict)]


def as_text(value: object) -> str:
    """A descriptor value as text ('' for a missing one)."""
    return "" if value is None else str(value)


def package_created(descriptor: dict) -> datetime:
    """The package's `created` timestamp (UTC), used wherever a format wants a date, so output is reproducible."""
    value = descriptor.get("created")
    if isinstance(value, str) and value:
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return FALLBACK_CREATED
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)
    return FALLBACK_CREATED


def citation_text(package: Package, version: str | None = None) -> str:
    """How to cite the package: from its CITATION.cff when it has one, else from the descriptor."""
    from .cite import CitationError, load_citation_text, parse_citation, render_text, with_release

    descriptor = package.descriptor
    version = version or str(descriptor.get("version") or "")
    try:
        cff = load_citation_text(package.root)
        if version and str(parse_citation(cff).get("version")) != version:
            cff = with_release(cff, version, package_created(descriptor).date())
        return render_text(parse_citation(cff)).strip()
    except CitationError:
        pass
    authors = "; ".join(as_text(c["title"]) for c in objects(descriptor, "contributors")
                        if c.get("role", "author") == "author" and c.get("title"))
    title = descriptor.get("title", descriptor.get("name", "op-impact"))
    edition = f" (Version {version})" if version else ""
    link = f" {descriptor['homepage']}" if descriptor.get("homepage") else ""
    return f"{authors or 'op-impact contributors'} ({package_created(descriptor).year}). {title}{edition} [Data set].{link}"


def licence_text(descriptor: dict) -> str:
    """The licences as 'Title (name), path', one after another."""
    out = []
    for lic in objects(descriptor, "licenses"):
        label = as_text(lic.get("title") or lic.get("name") or "")
        if lic.get("name") and lic.get("title"):
            label = f"{lic['title']} ({lic['name']})"
        out.append(f"{label}, {lic['path']}" if lic.get("path") else label)
    return "; ".join(out)


def dependency_order(loaded: LoadedPackage) -> list[str]:
    """Table names with every referenced table before the tables that reference it; ties in descriptor order."""
    names = list(loaded.tables)
    needs = {name: {fk["reference"]["resource"] for fk in loaded.schema(name).get("foreignKeys", [])
                    if fk.get("reference", {}).get("resource") in names and fk["reference"]["resource"] != name}
             for name in names}
    ordered: list[str] = []
    while len(ordered) < len(names):
        ready = [n for n in names if n not in ordered and needs[n] <= set(ordered)]
        if not ready:  # a cycle: keep descriptor order for the rest
            ready = [n for n in names if n not in ordered]
        ordered.append(ready[0])
    return ordered
