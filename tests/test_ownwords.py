"""Own words (P05): runs of eight words shared with the source are found exactly, quotations excepted."""

from __future__ import annotations

import polars as pl
from hypothesis import given
from hypothesis import strategies as st

from opimpact.ownwords import RUN_WORDS, copied_column, source_runs, with_own_words

WORDS = st.lists(st.sampled_from(["alpha", "beta", "gamma", "delta", "Alpha,", "beta."]), min_size=0, max_size=30)


def copied(cell: str, source: str) -> str | None:
    frame = pl.DataFrame({"source_id": ["s"], "summary": [cell]})
    return with_own_words(frame, ["summary"], {"s": source}, {})[copied_column("summary")][0]


def runs_of(words: list[str]) -> set[tuple[str, ...]]:
    plain = [w.strip(",.").lower() for w in words]
    return {tuple(plain[i:i + RUN_WORDS]) for i in range(len(plain) - RUN_WORDS + 1)}


@given(WORDS, WORDS)
def test_a_run_is_found_exactly_when_the_source_has_it(cell, source):
    found = copied(" ".join(cell), " ".join(source))
    shared = runs_of(cell) & runs_of(source)
    assert (found is not None) == bool(shared)
    if found is not None:
        assert tuple(found.split()) in shared


@given(WORDS)
def test_a_text_copies_itself_exactly_when_it_is_long_enough(words):
    text = " ".join(words)
    assert (copied(text, text) is not None) == (len(words) >= RUN_WORDS)
    assert copied(text, "omega " * 10) is None


SOURCE = "Canada’s mission in Iraq has gone through several iterations since the Conservatives were in power."


def test_case_punctuation_and_curly_apostrophes_are_ignored():
    assert copied("CANADA'S mission, in Iraq; has gone through several iterations.", SOURCE) is not None


def test_quoted_passages_are_allowed_and_not_bridged():
    for quoted in ("'Canada's mission in Iraq has gone through several iterations'",
                   '"Canada’s mission in Iraq has gone through several iterations"',
                   "“Canada’s mission in Iraq has gone through several iterations”"):
        assert copied(f"The text says {quoted}.", SOURCE) is None, quoted
    assert copied("Canada's mission in Iraq has gone 'x' through several iterations", SOURCE) is None


def test_a_shorter_run_is_allowed():
    assert copied("Canada's mission in Iraq has gone through changes.", SOURCE) is None
    assert len(source_runs(SOURCE)) == len(SOURCE.split()) - RUN_WORDS + 1
