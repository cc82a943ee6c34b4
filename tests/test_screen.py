"""The screen must name exactly the checks where pandera finds a failure, so that validating only those
gives the report that validating every column and check would."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from opimpact import checks, screen, validate
from opimpact.cli import cli
from opimpact.fieldtypes import cast_columns
from opimpact.tables import ROW

REPO = Path(__file__).resolve().parent.parent
EVENTS = json.loads((REPO / "schemas" / "events.schema.json").read_text(encoding="utf-8"))
# Per field: values that pass, values that fail one rule or another, and empty cells.
CELLS = {
    "event_id": ["ev-0001", "ev-0002", "EV-1", " ev-0003", None],
    "date_start": ["2016-06-01", "2016-06-10", "2016-13-01", "2031-01-01", None],
    "date_end": ["2016-06-20", "2016-05-01", "2016-12-01", "June", None],
    "date_precision": ["day", "month", "season", "year", "range", "battle", None],
    "status": ["occurred", "planned", "Occurred", None],
    "category": ["combat", "training", "battle", None],
    "summary": ["Canada acted.", "=SUM(1)", " padded", "x" * 301, None],
    "place": ["Mosul", "Mosul ", "-x", None],
    "country": ["IRQ", "Iraq", None],
    "actor": ["RCAF", "@canada", None],
    "amount_cad": ["12", "-5", "NaN", "1e3", "12 million", None],
    "source_id": ["src-0001", "src-0002", "src-9999", "SRC", None],
    "evidence": ["as reported", " as reported", None],
    "notes": ["note", "note\n", None],
}
PUBLISHED = pl.DataFrame({"source_id": ["src-0001", "src-0002"], checks.PUBLISHED_LATEST: [date(2017, 1, 1), None]},
                         schema={"source_id": pl.String, checks.PUBLISHED_LATEST: pl.Date})


def events_schema() -> tuple:
    """The events table's pandera schema and rule checks, with source IDs to reference and publication dates."""
    patterns = {"event_id": "^ev-[0-9]{4}$", "source_id": "^src-[0-9]{4}$"}
    rule_checks = (checks.field_checks(EVENTS, patterns)
                   + checks.foreign_key_checks(EVENTS, {("sources", "source_id"): pl.Series(["src-0001", "src-0002"])})
                   + checks.date_checks(EVENTS) + checks.text_checks(EVENTS)
                   + checks.publication_checks("events", EVENTS))
    return checks.build_schema("events", EVENTS, rule_checks, unique=False), rule_checks


SCHEMA, RULE_CHECKS = events_schema()
VALUE_WISE: dict[str, list[bool]] = {}
for _check in RULE_CHECKS:
    VALUE_WISE.setdefault(_check.field, []).append(_check.value_wise)


@st.composite
def event_frames(draw) -> pl.DataFrame:
    rows = draw(st.integers(1, 12))
    cells = {name: [draw(st.sampled_from(values)) for _ in range(rows)] for name, values in CELLS.items()}
    frame = pl.DataFrame(cells, schema=dict.fromkeys(CELLS, pl.String)).with_row_index(ROW, offset=2)
    typed, _ = cast_columns(frame.with_columns(pl.col(ROW).cast(pl.Int64)), EVENTS)
    latest = typed.select("source_id").join(PUBLISHED, on="source_id", how="left", maintain_order="left")
    return typed.with_columns(latest[checks.PUBLISHED_LATEST])


def pandera_failing(frame: pl.DataFrame) -> dict[str, set]:
    """Each column pandera fails, with the numbers of its failing checks (None for required or dtype)."""
    failures = validate._pandera_failure_cases(SCHEMA, frame)
    found: dict[str, set] = {}
    for column, number in ([] if failures is None else failures.select("column", "check_number").iter_rows()):
        if column is not None:
            found.setdefault(column, set()).add(number)
    return found


@settings(max_examples=200, deadline=None)
@given(frame=event_frames(), by_value=st.sets(st.sampled_from(list(CELLS))))
def test_screen_names_exactly_the_checks_pandera_fails(frame, by_value):
    screened = screen.failing_checks(SCHEMA, frame, VALUE_WISE, by_value)
    expected = pandera_failing(frame)
    assert set(screened) == set(expected)
    for column, numbers in screened.items():
        if numbers is not None:  # a column failing only checks: exactly those, and no required or dtype failure
            assert set(numbers) == expected[column]


def test_a_clean_frame_passes_and_one_bad_cell_names_its_column():
    clean = pl.DataFrame({name: [values[0]] * 3 for name, values in CELLS.items()}).with_row_index(ROW, offset=2)
    typed, _ = cast_columns(clean.with_columns(pl.col(ROW).cast(pl.Int64)), EVENTS)
    typed = typed.with_columns(pl.lit(None, dtype=pl.Date).alias(checks.PUBLISHED_LATEST))
    assert screen.failing_checks(SCHEMA, typed, VALUE_WISE, list(CELLS)) == {}
    bad = typed.with_columns(pl.Series("country", ["IRQ", "Iraq", "IRQ"]))
    pattern = next(i for i, check in enumerate(SCHEMA.columns["country"].checks) if check.name == "str_matches")
    assert screen.failing_checks(SCHEMA, bad, VALUE_WISE, ["country"]) == {"country": [pattern]}
    missing = typed.with_columns(pl.lit(None, dtype=pl.String).alias("summary"))  # required: the whole column
    assert screen.failing_checks(SCHEMA, missing, VALUE_WISE) == {"summary": None}


def test_a_check_that_raises_counts_as_failing():
    broken = checks.pa.Check(lambda data: 1 / 0, name="broken")
    schema = checks.pa.DataFrameSchema({"a": checks.pa.Column(pl.String, checks=[broken])})
    assert screen.failing_checks(schema, pl.DataFrame({"a": ["x"]}), {}) == {"a": None}


def test_a_column_missing_from_the_frame_or_of_another_type_counts_as_failing():
    schema = checks.pa.DataFrameSchema({"a": checks.pa.Column(pl.Int64), "b": checks.pa.Column(pl.String)})
    assert screen.failing_checks(schema, pl.DataFrame({"a": ["1"]}), {}) == {"a": None, "b": None}


def test_repeated_columns_are_those_with_few_distinct_values():
    frame = pl.DataFrame({"kind": ["a", "b"] * 50, "id": [str(i) for i in range(100)]})
    assert screen.repeated_columns(frame) == ["kind"]
    assert screen.repeated_columns(frame.head(0)) == []


@pytest.fixture(scope="module")
def seeded_package(tmp_path_factory) -> Path:
    import test_benchmark_generator as bench

    dest = tmp_path_factory.mktemp("screen") / "seeded"
    bench.generate.generate(dest, 3_000, defects=True, bad_cells=300)
    return dest


def test_the_report_is_the_same_without_the_screen(seeded_package, monkeypatch):
    def report() -> str:
        result = CliRunner().invoke(cli, ["validate", str(seeded_package), "--format", "json", "--max-errors", "7"])
        assert result.exit_code == 1
        return result.output

    screened = report()
    monkeypatch.setattr(validate, "failing_checks", lambda schema, *args: dict.fromkeys(schema.columns))
    assert report() == screened


def test_value_wise_checks_on_a_repeated_column_see_its_distinct_values_only():
    seen: list[int] = []

    def short(data):
        seen.append(data.lazyframe.collect().height)
        return data.lazyframe.select(pl.col(data.key).str.len_chars() < 3)

    schema = checks.pa.DataFrameSchema({"kind": checks.pa.Column(pl.String, checks=[
        checks.pa.Check(short), checks.pa.Check(short), checks.pa.Check(short)])})
    frame = pl.DataFrame({"kind": ["a", "b", "abc"] * 20})
    assert screen.failing_checks(schema, frame, {"kind": [True, True, False]}, ["kind"]) == {"kind": [0, 1, 2]}
    assert seen == [3, 3, 60]  # the value-wise two on 3 distinct values; the third on every row
    seen.clear()
    assert screen.failing_checks(schema, frame.head(2), {"kind": [True, True, False]}) == {}
    assert seen == [2, 2, 2]


@settings(max_examples=100, deadline=None)
@given(frame=event_frames())
def test_failing_rows_are_the_rows_pandera_reports(frame):
    suspect = {name: numbers for name, numbers in screen.failing_checks(SCHEMA, frame, VALUE_WISE).items()
               if numbers is not None}
    rows = screen.failing_rows(SCHEMA, frame, suspect)
    if not suspect:
        assert rows is None
        return
    failures = validate._pandera_failure_cases(SCHEMA, frame)
    reported = set(failures.filter(pl.col("column").is_in(list(suspect)) & pl.col("check_number").is_not_null())
                   ["index"].to_list())
    assert set(rows.to_list()) == reported
