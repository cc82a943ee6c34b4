"""Rule P05 (with `--archive DIR`): summaries, roles, scopes and notes are written in our own words.

A cell fails when it shares a run of RUN_WORDS words with its own source outside quotation marks. Words are
compared in lower case with punctuation ignored (curly apostrophes read as straight ones); a passage our text
puts in quotation marks ('...', "...", “...” or ‘...’) is a quotation, and no run is counted across it.

Each source's runs are collected once. Every cell is then screened in one polars query: first for the longest
word of any run, as plain text, then (only the cells that have one) split into words and searched for any
source's run (Aho-Corasick, `str.contains_any`, both); only the few cells that hold one are compared, in
Python, with the runs of their own source, which names the copied words.
"""

from __future__ import annotations

from collections.abc import Iterator

import polars as pl

from .registry import RowCheck, shown, table_rule
from .table_rules import TableInfo

RUN_WORDS = 8  # a run this long shared with the article means copied text
OWN_WORDS_FIELDS = ("summary", "role", "scope", "speaker_role", "notes")
SOURCE = "source_id"
BARRIER = " zzquotationzz "  # stands in for a quoted passage, so no run is counted across it
# Quoted passages: straight single quotes open after a non-word character and close before one (an apostrophe
# inside a word, as in "Canada's", does neither).
QUOTED = r'"[^"]*"|“[^”]*”|‘[^’]*’|(?:^|\W)' + r"'.*?'(?:\W|$)"


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
    return (pl.lit(" ") + text.str.to_lowercase().str.replace_many(["’", "‘"], ["'", "'"])
            .str.replace_all(r"[^\w']+", " ").str.strip_chars(" ") + pl.lit(" "))


def _unquoted(text: pl.Expr) -> pl.Expr:
    return text.str.replace_all(QUOTED, BARRIER)


def _runs(words: str, shared: dict[str, str] | None = None) -> frozenset[str]:
    """The runs of words; with shared, a run met before in another text is that text's very string (sources
    that quote the same passages hold one copy of each run, not one per source)."""
    words_list = words.split()
    runs = (" " + " ".join(words_list[i:i + RUN_WORDS]) + " " for i in range(len(words_list) - RUN_WORDS + 1))
    return frozenset(runs if shared is None else (shared.setdefault(run, run) for run in runs))


def source_runs(text: str) -> frozenset[str]:
    """Every run of RUN_WORDS words of a source text, each as ' w1 w2 ... wN ' (as _words writes them)."""
    return _runs(pl.select(_words(pl.lit(text))).item())


def all_source_runs(texts: dict[str, str]) -> dict[str, frozenset[str]]:
    """source_runs of many texts, their words found in one polars query."""
    frame = pl.DataFrame({"id": list(texts), "text": list(texts.values())}, schema={"id": pl.String, "text": pl.String})
    shared: dict[str, str] = {}
    return {source_id: _runs(words, shared)
            for source_id, words in frame.select("id", _words(pl.col("text"))).iter_rows()}


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
    missing = {source_id: text for source_id, text in texts.items() if source_id not in runs}
    if missing:
        runs.update(all_source_runs(missing))
    every_run = sorted(set().union(*runs.values())) if runs else []
    # A cell holding a run holds, as plain text, that run's longest word: a cheap first filter, so that only
    # the cells that pass are split into words and searched for whole runs
    anchors = sorted({max(run.split(), key=len) for run in every_run})
    for name in fields:
        copied = pl.repeat(None, frame.height, dtype=pl.String, eager=True).alias(copied_column(name))
        if every_run:
            cells = pl.col(name)
            plain = cells.str.to_lowercase().str.replace_many(["’", "‘"], ["'", "'"])
            candidates = (frame.select(pl.int_range(pl.len(), dtype=pl.UInt32).alias("__i"), SOURCE, cells)
                          .filter(plain.str.contains_any(anchors))
                          .select("__i", SOURCE, _words(_unquoted(cells)).alias("__words"))
                          .filter(pl.col("__words").str.contains_any(every_run)))
            found = [(i, first_copied_run(words, runs.get(source_id, frozenset())))
                     for i, source_id, words in candidates.iter_rows()]
            if found:
                copied = copied.scatter([i for i, _ in found], pl.Series([run for _, run in found], dtype=pl.String))
        frame = frame.with_columns(copied)
    return frame


@table_rule("P05", "own-words", "provenance",
            "Summaries, roles, scopes and notes are in our own words: none shares a run of 8 or more words with its "
            "source outside quotation marks (lower case, punctuation ignored).",
            "copies a run of 8 or more words from its source: rewrite it in our own words or quote it")
def own_words(table: TableInfo) -> Iterator[RowCheck]:
    for name in own_words_fields(table):
        yield RowCheck(name, pl.col(copied_column(name)).is_null(), explain=shown(copied_column(name)))
