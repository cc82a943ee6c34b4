"""Provenance rules (P01-P04, with `--archive DIR`): the archived texts are present, their checksums match, and
every quote and evidence excerpt occurs verbatim in its own source.

The rules read context columns computed here: the SHA-256 of each source's archived file, and whether each
row's excerpt occurs in its source's folded text.
"""

from __future__ import annotations

import difflib
import hashlib
import re
import unicodedata
from collections.abc import Iterator
from pathlib import Path

import polars as pl

from .package import resolve_inside
from .registry import RowCheck, table_rule
from .table_rules import TableInfo

ARCHIVE_SHA = "__archive_sha256"
_FOLD = re.compile(r"[ \r\n]+")


def verbatim_column(field: str) -> str:
    """Context column: true where the row's `field` is empty or occurs in its source's archived text."""
    return f"__verbatim:{field}"


def fold_text(text: str) -> str:
    """Fold line breaks and runs of spaces, the only differences the verbatim rules forgive."""
    return _FOLD.sub(" ", text).strip(" ")


def folded(expr: pl.Expr) -> pl.Expr:
    """fold_text as a polars expression. Matching only the runs that change (two or more characters, or a
    lone line break) leaves single spaces alone, which is five times quicker."""
    return expr.str.replace_all(r"[ \r\n]{2,}|[\r\n]", " ").str.strip_chars(" ")


@table_rule("P01", "archive-file", "provenance", "Each source's archived text is present in the archive directory.",
            "the archived text is not in the archive directory")
def archive_file(table: TableInfo) -> Iterator[RowCheck]:
    if table.archive and table.name == "sources":
        yield RowCheck("archive_file", pl.col(ARCHIVE_SHA).is_not_null())


@table_rule("P02", "checksum", "provenance", "Each source's SHA-256 matches its archived text.",
            "does not match the SHA-256 of the archived text")
def checksum(table: TableInfo) -> Iterator[RowCheck]:
    if table.archive and table.name == "sources":
        sha = pl.col(ARCHIVE_SHA)
        yield RowCheck("sha256", sha.is_null() | (pl.col("sha256") == sha).fill_null(False),
                       explain=lambda row: f"the archived file's SHA-256 is {row[ARCHIVE_SHA]}")


@table_rule("P03", "quote-verbatim", "provenance",
            "Each quote occurs verbatim in its source (after folding line breaks and runs of spaces).",
            "quote not found verbatim in the source's archived text")
def quote_verbatim(table: TableInfo) -> Iterator[RowCheck]:
    if table.archive and table.name == "quotes":
        yield RowCheck("text", pl.col(verbatim_column("text")), explain=_nearest_in(table.texts, "text"))


@table_rule("P04", "evidence-verbatim", "provenance",
            "Each evidence excerpt occurs verbatim in its source (after folding line breaks and runs of spaces).",
            "not found verbatim in the source's archived text (copy it exactly: the archive may use non-breaking "
            "spaces and curly quotes)")
def evidence_verbatim(table: TableInfo) -> Iterator[RowCheck]:
    if table.archive and "evidence" in table.field_names() and "source_id" in table.field_names():
        yield RowCheck("evidence", pl.col(verbatim_column("evidence")), explain=_nearest_in(table.texts, "evidence"))


def _nearest_in(texts: dict[str, str], field: str):
    def explain(row: dict) -> str | None:
        text = texts.get(row.get("source_id"))
        return nearest_passage(text, row[field]) if text and row.get(field) else None

    return explain


def nearest_passage(text: str, excerpt: str) -> str:
    """Where the excerpt parts from the (folded) source text: the longest start of it found there, the first
    character that differs on each side, named, and the passage around it, so a straight ' against a curly
    one or a missing comma shows at once."""
    excerpt = fold_text(excerpt)
    low, high = 0, len(excerpt)  # the longest prefix found: found(k) holds for every k up to it
    while low < high:
        middle = (low + high + 1) // 2
        if excerpt[:middle] in text:
            low = middle
        else:
            high = middle - 1
    if low < min(10, len(excerpt)):
        match = difflib.SequenceMatcher(None, text, excerpt, autojunk=False).find_longest_match(
            0, len(text), 0, len(excerpt))
        if match.size == 0:
            return "no passage of the source shares its words"
        start = max(0, match.a - match.b)
        return f"the nearest passage of the source reads: «{_passage(text, start, len(excerpt))}»"
    start = text.index(excerpt[:low])
    theirs = text[start + low] if start + low < len(text) else None
    return (f"the first {low} characters match the source; then the excerpt has {_named(excerpt[low])} where the "
            f"source has {_named(theirs)}: «{_passage(text, start, low + 40)}»")


def _passage(text: str, start: int, length: int) -> str:
    piece = text[start:start + min(length, 160)]
    return piece + ("…" if start + len(piece) < len(text) else "")


def _named(char: str | None) -> str:
    if char is None:
        return "the end of the text"
    return f"U+{ord(char):04X} {unicodedata.name(char, 'unnamed character')} ({char!r})"


def verbatim_fields(table: TableInfo) -> list[str]:
    names = table.field_names()
    if "source_id" not in names:
        return []
    return [name for name in ("evidence", "text") if name in names and (name != "text" or table.name == "quotes")]


def with_verbatim(frame: pl.DataFrame, fields: list[str], texts: dict[str, str]) -> pl.DataFrame:
    """frame with verbatim_column(field) for each field. Each distinct (source, excerpt) pair is searched once
    and the answer joined back: rows quoting the same excerpt of the same source cost one search."""
    archived = pl.DataFrame({"source_id": list(texts), "__text": list(texts.values())},
                            schema={"source_id": pl.String, "__text": pl.String})
    for name in fields:
        pairs = frame.select("source_id", name).unique().join(archived, on="source_id", how="left")
        answers = pairs.select("source_id", name, (
            pl.col("__text").is_null() | pl.col(name).is_null()
            | pl.col("__text").str.contains(folded(pl.col(name)), literal=True)).fill_null(False)
            .alias(verbatim_column(name)))
        frame = frame.join(answers, on=["source_id", name], how="left", nulls_equal=True, maintain_order="left")
    return frame


def archive_sha(archive: Path, file: str | None) -> str | None:
    """SHA-256 of an archived file, or None where it is absent or its name is unsafe."""
    if not file:
        return None
    path, reason = resolve_inside(archive, file)
    if reason or path is None or not path.is_file():
        return None
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def with_archive_sha(frame: pl.DataFrame, archive: Path) -> pl.DataFrame:
    return frame.with_columns(pl.Series(ARCHIVE_SHA, [archive_sha(archive, file) for file in frame["archive_file"]],
                                        dtype=pl.String))


def read_archive_texts(sources: pl.DataFrame, archive: Path) -> dict[str, str]:
    """Folded archived text of every source whose file is present and readable, keyed by source_id."""
    texts: dict[str, str] = {}
    if not {"source_id", "archive_file"} <= set(sources.columns):
        return texts
    for source_id, file in sources.select("source_id", "archive_file").iter_rows():
        if not source_id or not file:
            continue
        path, reason = resolve_inside(archive, file)
        if reason or path is None or not path.is_file():
            continue
        try:
            texts[source_id] = fold_text(path.read_bytes().decode("utf-8-sig"))
        except UnicodeDecodeError:
            continue
    return texts
