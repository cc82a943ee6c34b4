"""Texts of a release generated from its data at build time: the release README, the descriptor's description
and source title, and CITATION.cff's abstract. Counts are never hand-written: after a source or a row is added,
the next build says so everywhere.

The wording lives in templates/ (release-README.md, descriptions.json) with {{placeholders}}; an unknown
placeholder is refused, so a typo cannot ship as literal braces.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from .errors import OpimpactError
from .package import Package

TEMPLATES_DIR = "templates"
README_TEMPLATE = f"{TEMPLATES_DIR}/release-README.md"
DESCRIPTIONS_TEMPLATE = f"{TEMPLATES_DIR}/descriptions.json"
DESCRIPTION_KEYS = ("description", "sources_title", "abstract")
_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}")
_WORDS = ("no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve")


class TemplateError(OpimpactError):
    """A template is missing, malformed or names an unknown placeholder (exit code 1)."""


def in_words(number: int) -> str:
    """'four' for 4; numbers above twelve as digits."""
    return _WORDS[number] if 0 <= number < len(_WORDS) else str(number)


def data_values(package: Package, version: str, date: str) -> dict[str, str]:
    """Every placeholder's value, counted from the package's typed tables."""
    from .validate import load_typed_tables

    tables = load_typed_tables(package)
    values = {"version": version, "date": date, "name": str(package.descriptor.get("name", "")),
              "title": str(package.descriptor.get("title", "")),
              "tables": str(len(tables)), "tables_in_words": in_words(len(tables)),
              "rows": str(sum(frame.height for frame in tables.values()))}
    for name, frame in tables.items():
        values[f"rows_{name}"] = str(frame.height)
        if "same_as" in frame.columns:  # a row with same_as repeats the thing of its canonical row
            values[f"distinct_{name}"] = str(frame.height - frame["same_as"].is_not_null().sum())
    sources = tables.get("sources")
    count = sources.height if sources is not None else 0
    values["sources"] = str(count)
    values["sources_in_words"] = in_words(count)
    values["Sources_in_words"] = in_words(count).capitalize()
    values["years"] = _years(sources)
    values["table_list"] = _table_list(package, tables)
    return values


def _years(sources) -> str:
    """'2016-2018' (or '2017'): the years the sources were published in, from their earliest and latest dates."""
    if sources is None or sources.height == 0:
        return ""
    years = []
    for column in ("published_earliest", "published_latest"):
        if column in sources.columns:
            years += [d.year for d in sources[column].to_list() if d is not None and hasattr(d, "year")]
    if not years:
        return ""
    first, last = min(years), max(years)
    return str(first) if first == last else f"{first}-{last}"


def _table_list(package: Package, tables: dict) -> str:
    """A Markdown table: each table's file, rows and description."""
    lines = ["| table | file | rows | what it holds |", "| --- | --- | ---: | --- |"]
    for name, frame in tables.items():
        resource = package.resources[name]
        description = " ".join(str(resource.descriptor.get("description", "")).split()).replace("|", "\\|")
        lines.append(f"| {name} | `{resource.rel_path}` | {frame.height} | {description} |")
    return "\n".join(lines)


def render(template: str, values: dict[str, str], label: str) -> str:
    """template with every {{name}} replaced; TemplateError naming the first unknown placeholder."""
    unknown = sorted({m.group(1) for m in _PLACEHOLDER.finditer(template)} - set(values))
    if unknown:
        raise TemplateError(f"{label}: unknown placeholder {{{{{unknown[0]}}}}} (known: {', '.join(sorted(values))})")
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)], template)


def read_template(root: Path, rel: str) -> str:
    path = root / rel
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise TemplateError(f"{rel} is missing; a release renders it") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise TemplateError(f"{rel} cannot be read ({exc})") from None


def descriptions(root: Path, values: dict[str, str]) -> dict[str, str]:
    """The description, sources title and abstract rendered from templates/descriptions.json."""
    try:
        document = json.loads(read_template(root, DESCRIPTIONS_TEMPLATE))
    except ValueError as exc:
        raise TemplateError(f"{DESCRIPTIONS_TEMPLATE} is not JSON ({exc})") from None
    if not isinstance(document, dict) or any(not isinstance(document.get(k), str) for k in DESCRIPTION_KEYS):
        raise TemplateError(f"{DESCRIPTIONS_TEMPLATE} must hold the texts {', '.join(DESCRIPTION_KEYS)}")
    rendered: dict[str, str] = {}
    for key in DESCRIPTION_KEYS:
        rendered[key] = render(document[key], {**values, **rendered}, f"{DESCRIPTIONS_TEMPLATE} {key}")
    return rendered


def release_readme(root: Path, values: dict[str, str]) -> str:
    return render(read_template(root, README_TEMPLATE), values, README_TEMPLATE)
