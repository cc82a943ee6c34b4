"""The engine's quicker forms of checks must answer exactly as the plain forms they replace.

Each property compares a fast path with the straightforward expression (or loop) it stands for.
"""

from __future__ import annotations

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pandera.api.polars.types import PolarsData

from opimpact import checks
from opimpact.fieldtypes import cast_columns, cast_frame, type_findings
from opimpact.report import Finding, Report
from opimpact.tables import ROW
from opimpact.validate import FindingGroups

TEXT = st.text(alphabet=st.sampled_from(list("ab \r\n\t\u00a0é")), max_size=12)
VALUES = st.lists(st.none() | st.sampled_from(["ev-1", "ev-2", "ev-3", "x", ""]), max_size=30)


@given(TEXT)
def test_folded_expression_matches_fold_text(text):
    got = pl.select(checks.folded(pl.lit(text, dtype=pl.String))).item()
    assert got == checks.fold_text(text)


@given(VALUES)
def test_no_repeats_matches_is_duplicated(values):
    frame = pl.DataFrame({"k": values}, schema={"k": pl.String})
    got = checks._no_repeats(PolarsData(frame.lazy(), "k")).collect().to_series()
    assert got.to_list() == (~frame["k"].is_duplicated()).to_list()


@pytest.mark.parametrize("small_key_set", [0, 10**9])
@settings(max_examples=60)
@given(values=VALUES, keys=st.lists(st.sampled_from(["ev-1", "ev-2", "x", ""]), max_size=5))
def test_exists_in_matches_is_in(small_key_set, values, keys):
    previous, checks.SMALL_KEY_SET = checks.SMALL_KEY_SET, small_key_set  # 0: always the join
    try:
        frame = pl.DataFrame({"k": values}, schema={"k": pl.String})
        key_series = pl.Series("key", keys, dtype=pl.String)
        got = checks._exists_in("k", key_series)(PolarsData(frame.lazy(), "k")).collect().to_series()
        expected = frame["k"].is_null() | frame["k"].is_in(key_series.implode())
        assert got.to_list() == expected.to_list()
    finally:
        checks.SMALL_KEY_SET = previous


@st.composite
def runs(draw):
    """Findings of a few rules in the order checks produce them, cut into groups and batches."""
    findings = [Finding(draw(st.sampled_from(["F01", "F04", "X05"])), "m", draw(st.sampled_from(["a", "b"])),
                        "f.csv", row, "c") for row in range(draw(st.integers(0, 40)))]
    cuts = sorted(draw(st.lists(st.integers(0, len(findings)), max_size=6)))
    return findings, cuts, draw(st.integers(1, 5))


@given(runs())
def test_finding_groups_list_and_count_as_adding_one_by_one(case):
    findings, cuts, limit = case
    one_by_one = Report(package="p", max_per_rule=limit)
    one_by_one.extend(findings)

    grouped = Report(package="p", max_per_rule=limit)
    groups = FindingGroups(limit)
    bounds = [0, *cuts, len(findings)]
    for start, end in zip(bounds, bounds[1:], strict=False):  # one batch after another
        part = findings[start:end]
        for key in sorted({(f.resource, f.rule) for f in part}):  # here a group is one rule of one resource
            same = [f for f in part if (f.resource, f.rule) == key]
            groups.add(key, same[:limit], len(same))
    groups.emit(grouped)
    assert grouped.counts == one_by_one.counts
    assert sorted(grouped.findings, key=Finding.sort_key) == sorted(one_by_one.findings, key=Finding.sort_key)


def test_type_findings_list_the_first_and_count_all():
    schema = {"fields": [{"name": "n", "type": "integer"}, {"name": "d", "type": "date"}]}
    frame = pl.DataFrame({"n": ["1", "x", "y", None, "z"], "d": ["2017-01-01", "2017-02-30", None, "no", "0000-01-01"],
                          ROW: [2, 3, 4, 5, 6]})
    typed, bad = cast_columns(frame, schema)
    listed = type_findings(frame, bad, schema, "t", "t.csv", limit=2)
    assert [(name, [f.row for f in found], count) for name, found, count in listed] == [
        ("n", [3, 4], 3), ("d", [3, 5], 3)]
    _, everything = cast_frame(frame, schema, "t", "t.csv")
    assert [(f.field, f.row) for f in everything] == [("n", 3), ("n", 4), ("n", 6), ("d", 3), ("d", 5), ("d", 6)]
    assert typed["n"].to_list() == [1, None, None, None, None]
