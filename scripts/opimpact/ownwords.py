"""Rule P05 (with `--archive DIR`): summaries, roles, scopes and notes are written in our own words.

A cell fails when it shares a run of RUN_WORDS words with its own source outside quotation marks. Words are
compared in lower case with punctuation ignored (curly apostrophes read as straight ones); a passage our text
puts in quotation marks ('...', "...", “...” or ‘...’) is a quotation, and no run is counted across it.

Each source's runs are collected once. Every distinct (source, cell) pair is then screened in one polars query
that looks for any source's run at all (Aho-Corasick, `str.contains_any`); only the few cells that hold one are
compared, in Python, with the runs of their own source, which names the copied words.
"""

from __future__ import annotations

from collections.abc import Iterator

import polars as pl

from .registry import RowCheck, table_rule
from .table_rules import TableInfo

RUN_WORDS = 8  # a run this long shared with the article means copied text
OWN_WORDS_FIELDS = ("summary", "role", "scope", "speaker_role", "notes")
SOURCE = "source_id"
BARRIER = " zzquotationzz "  # stands in for a quoted passage, so no run is counted across it
# Quoted passages: straight single quotes open after a non-word character and close before one (an apostrophe
# inside a word, as in "Canada's", does neither).
QUOTED = (r'"[^"]*"', r"“[^”]*”", r"‘[^’]*’", r"(?:^|\W)'.*?'(?:\W|$)")


def own_words_fields(table: TableInfo) -> list[str]:
    names = table.field_names("string")
    if not table.archive or SOURCE not in names:
        return []
    return [name for name in OWN_WORDS_FIELDS if name in names]


def copied_column(field: str) -> str:
    """Context column: the first run of `field` copied from its source outside quotation marks (null if none)."""
    return f"__{field}_copies"


def _words(text: pl.Expr) -> pl.Expr:
    """Lower-case words separated by single spaces, with a space at each end."""
    return (pl.lit(" ") + text.str.to_lowercase().str.replace_all(r"[’‘]", "'")
            .str.replace_all(r"[^\w']+", " ").str.strip_chars(" ") + pl.lit(" "))


def _unquoted(text: pl.Expr) -> pl.Expr:
    for pattern in QUOTED:
        text = text.str.replace_all(pattern, BARRIER)
    return text


def source_runs(text: str) -> frozenset[str]:
    """Every run of RUN_WORDS words of a source text, each as ' w1 w2 ... wN ' (as _words writes them)."""
    words = pl.select(_words(pl.lit(text))).item().split()
    return frozenset(" " + " ".join(words[i:i + RUN_WORDS]) + " " for i in range(len(words) - RUN_WORDS + 1))


def first_copied_run(normalised: str, runs: frozenset[str]) -> str | None:
    words = normalised.split()
    for i in range(len(words) - RUN_WORDS + 1):
        run = " " + " ".join(words[i:i + RUN_WORDS]) + " "
        if run in runs:
            return run.strip()
    return None


def with_own_words(frame: pl.DataFrame, fields: list[str], texts: dict[str, str],
                   runs: dict[str, frozenset[str]]) -> pl.DataFrame:
    """frame with copied_column(field) for each field (runs caches each source's runs between batches)."""
    for source_id, text in texts.items():
        if source_id not in runs:
            runs[source_id] = source_runs(text)
    every_run = sorted(set().union(*runs.values())) if runs else []
    for name in fields:
        pairs = frame.select(SOURCE, name).drop_nulls().unique()
        cells = pairs.with_columns(_words(_unquoted(pl.col(name))).alias("__words"))
        cells = cells.filter(pl.col("__words").str.contains_any(every_run)) if every_run else cells.clear()
        found = [(source_id, value, first_copied_run(words, runs.get(source_id, frozenset())))
                 for source_id, value, words in cells.iter_rows()]
        answers = pl.DataFrame(found, schema={SOURCE: pl.String, name: pl.String, copied_column(name): pl.String},
                               orient="row")
        frame = frame.join(answers, on=[SOURCE, name], how="left", maintain_order="left")
    return frame


@table_rule("P05", "own-words", "provenance",
            "Summaries, roles, scopes and notes are in our own words: none shares a run of 8 or more words with its "
            "source outside quotation marks (lower case, punctuation ignored).",
            "copies a run of 8 or more words from its source: rewrite it in our own words or quote it")
def own_words(table: TableInfo) -> Iterator[RowCheck]:
    for name in own_words_fields(table):
        yield RowCheck(name, pl.col(copied_column(name)).is_null(), detail=copied_column(name))
