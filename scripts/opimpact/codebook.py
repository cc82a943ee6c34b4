"""The codebook: every table and field of the package, generated from the Table Schemas plus an example value.

`codebook_tables` builds the content once; `render_markdown` writes docs/codebook.md and the Excel export
reuses the same rows for its codebook sheet.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from . import safeio
from .atomic import write_text_atomic
from .errors import OpimpactError, UsageError
from .outputs import check_outputs, package_files
from .package import Package, open_package

EXAMPLE_LIMIT = 60
HEADER = ["Field", "Type", "Required", "Constraints", "Description", "Example"]


@dataclass(frozen=True)
class FieldEntry:
    table: str
    name: str
    title: str
    type: str
    required: bool
    constraints: str  # plain text, see constraints_text
    markdown_constraints: str  # the same with patterns in code spans
    description: str
    example: str  # first non-empty value in the data, as written in the CSV; "" when the column is empty


@dataclass
class TableEntry:
    name: str
    title: str
    description: str
    path: str
    primary_key: list[str]
    foreign_keys: list[str]  # "field → table.field"
    fields: list[FieldEntry] = field(default_factory=list)


class CodebookError(OpimpactError):
    """The descriptor or a schema cannot be read, so there is nothing to document (exit code 1)."""


def _as_list(value: object) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def constraints_text(field_schema: dict, primary_key: list[str], references: dict[str, str],
                     code: Callable[[str], str] = str) -> str:
    """The field's constraints and key roles in a short human form, e.g. 'unique; pattern ^ev-[0-9]{4}$'.

    code formats a pattern (Markdown wants it in a code span).
    """
    name, c = field_schema["name"], field_schema.get("constraints", {})
    parts = []
    if name in primary_key:
        parts.append("primary key")
    elif c.get("unique"):
        parts.append("unique")
    if name in references:
        parts.append(f"references {references[name]}")
    if "enum" in c:
        parts.append("one of: " + ", ".join(str(v) for v in c["enum"]))
    if "pattern" in c:
        parts.append(f"pattern {code(c['pattern'])}")
    if "minimum" in c and "maximum" in c:
        parts.append(f"between {c['minimum']} and {c['maximum']}")
    elif "minimum" in c:
        parts.append(f"at least {c['minimum']}")
    elif "maximum" in c:
        parts.append(f"at most {c['maximum']}")
    if "minLength" in c or "maxLength" in c:
        low, high = c.get("minLength"), c.get("maxLength")
        if low is not None and high is not None:
            parts.append(f"{low} to {high} characters")
        elif low is not None:
            parts.append(f"at least {low} character{'s' if low != 1 else ''}")
        else:
            parts.append(f"at most {high} characters")
    if field_schema.get("type") == "date":
        parts.append("format YYYY-MM-DD")
    return "; ".join(parts)


def _example(values: list[str | None]) -> str:
    for value in values:
        if value is not None and value != "":
            return value
    return ""


def codebook_tables(package: Package) -> list[TableEntry]:
    """The codebook content of an opened package, in descriptor order. Raises CodebookError if a schema is missing."""
    from .csvreader import read_raw_table

    problems = [f for f in package.findings if f.rule in ("D01", "D02", "D03", "D04")]
    if problems:
        first = problems[0]
        raise CodebookError(f"{first.file or 'datapackage.json'}: {first.message}"
                            + (f" (resource {first.resource})" if first.resource else ""))
    tables = []
    for name, resource in package.resources.items():
        schema = resource.schema or {"fields": []}
        raw = read_raw_table(resource)
        primary = _as_list(schema.get("primaryKey"))
        references: dict[str, str] = {}
        for fk in schema.get("foreignKeys", []):
            target = fk["reference"]["resource"] or name
            for local, remote in zip(_as_list(fk["fields"]), _as_list(fk["reference"]["fields"]), strict=True):
                references[local] = f"{target}.{remote}"
        entry = TableEntry(
            name=name, title=str(resource.descriptor.get("title", name)),
            description=str(resource.descriptor.get("description", "")), path=resource.rel_path,
            primary_key=primary, foreign_keys=[f"{k} → {v}" for k, v in references.items()])
        for f in schema["fields"]:
            column = raw.frame[f["name"]].to_list() if raw.frame is not None and f["name"] in raw.frame.columns else []
            entry.fields.append(FieldEntry(
                table=name, name=f["name"], title=str(f.get("title", "")), type=f.get("type", "string"),
                required=bool(f.get("constraints", {}).get("required")) or f["name"] in primary,
                constraints=constraints_text(f, primary, references),
                markdown_constraints=constraints_text(f, primary, references, code=_code),
                description=str(f.get("description", "")), example=_example(column)))
        tables.append(entry)
    return tables


_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_BACKTICKS = re.compile(r"`+")


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell: one line, pipes escaped."""
    return _LINE_BREAK.sub(" ⏎ ", text).replace("|", "\\|")


def _line(text: str) -> str:
    """Text kept on one line of a Markdown paragraph."""
    return _LINE_BREAK.sub(" ", text)


def _code(text: str) -> str:
    """A code span holding text, fenced with more backticks than any run inside it."""
    if not text:
        return ""
    longest = max((len(run) for run in _BACKTICKS.findall(text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if longest else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _shorten(text: str, limit: int = EXAMPLE_LIMIT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def render_markdown(package: Package, tables: list[TableEntry]) -> str:
    """The codebook as Markdown, byte-identical for the same schemas and data."""
    d = package.descriptor
    lines = [
        f"# Codebook: {d.get('title', d.get('name', 'data package'))}",
        "",
        "Generated from the Table Schemas in `schemas/` and the data in `data/` by "
        "`opimpact export codebook`; do not edit by hand. Dates are `YYYY-MM-DD`; an empty cell means "
        "the value is missing. The example is the first non-empty value in the data.",
        "",
        "| Table | File | Description |",
        "| --- | --- | --- |",
    ]
    lines += [f"| [{_cell(t.name)}](#{t.name}) | `{_cell(t.path)}` | {_cell(t.description)} |"
              for t in tables]
    for t in tables:
        lines += ["", f"## {t.name}", "", f"**{_line(t.title)}.** {_line(t.description)}".rstrip(), "",
                  f"- File: `{t.path}`"]
        if t.primary_key:
            lines.append(f"- Primary key: {', '.join(f'`{k}`' for k in t.primary_key)}")
        for fk in t.foreign_keys:
            lines.append(f"- Foreign key: `{fk.split(' → ')[0]}` → `{fk.split(' → ')[1]}`")
        lines += ["", "| " + " | ".join(HEADER) + " |", "|" + " --- |" * len(HEADER)]
        for f in t.fields:
            name = f"`{f.name}`" + (f"<br>{_cell(f.title)}" if f.title else "")
            lines.append("| " + " | ".join([
                name, f.type, "yes" if f.required else "no", _cell(f.markdown_constraints),
                _cell(f.description), _cell(_code(_shorten(f.example))),
            ]) + " |")
    return "\n".join(lines) + "\n"


def build_codebook(target: str | os.PathLike) -> str:
    """The Markdown codebook of the package at target. Raises UnreadableInput or CodebookError."""
    with open_package(target) as package:
        return render_markdown(package, codebook_tables(package))


def write_codebook(target: str | os.PathLike, out: str | os.PathLike) -> None:
    """Write the codebook of the package at target to out, atomically. Raises OutputAliasesInput (before writing
    anything) when out is a file of the package, UnreadableInput or CodebookError."""
    with open_package(target) as package:
        check_outputs([out], package_files(package, target))
        text = render_markdown(package, codebook_tables(package))
    write_text_atomic(out, text)


class CodebookOutUnreadable(UsageError):
    """The codebook to compare with is not a regular file (exit 2)."""


def codebook_is_current(target: str | os.PathLike, out: str | os.PathLike) -> bool:
    """True when out holds exactly the codebook of the package at target (nothing is written)."""
    expected = build_codebook(target).encode("utf-8")
    try:
        current = safeio.read_regular(out, len(expected), str(out))
    except FileNotFoundError:
        return False
    except safeio.NotRegularFile as exc:
        raise CodebookOutUnreadable(str(exc)) from None
    except ValueError:  # longer than the codebook: not current
        return False
    return current == expected
