"""The validation engine: every key is checked, no finding is ever lost, and pandera reports what the screen finds."""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from concurrent.futures import Executor, Future
from pathlib import Path

import polars as pl
from click.testing import CliRunner
from hypothesis import example, given, settings
from hypothesis import strategies as st

from opimpact import checking
from opimpact.cli import cli
from opimpact.fieldtypes import cast_columns, cast_frame, type_findings
from opimpact.provenance import fold_text, folded
from opimpact.registry import RowCheck, all_rules, get_rule, table_rules
from opimpact.report import Finding, Report
from opimpact.table_rules import TableInfo
from opimpact.validate import FindingGroups

from helpers import get_cell, read_csv, set_cell, write_csv

ROW = checking.ROW


def report_of(package: Path, *args: str) -> tuple[int, dict]:
    result = CliRunner().invoke(cli, ["validate", str(package), "--format", "json", *args])
    assert "Traceback" not in result.output
    return result.exit_code, json.loads(result.output)


def places(report: dict, rule: str) -> list[tuple]:
    return [(e["resource"], e["row"], e["field"]) for e in report["errors"] if e["rule"] == rule]


def edit_schema(package: Path, name: str, change) -> None:
    path = package / "schemas" / f"{name}.schema.json"
    schema = json.loads(path.read_text(encoding="utf-8"))
    change(schema)
    path.write_text(json.dumps(schema), encoding="utf-8")


def append_copy_of_row(package: Path, resource: str, index: int, **changes: str) -> int:
    """Append a copy of a data row with some cells changed; return its CSV line number."""
    path = package / "data" / f"{resource}.csv"
    header, rows = read_csv(path)
    row = list(rows[index])
    for name, value in changes.items():
        row[header.index(name)] = value
    write_csv(path, header, [*rows, row])
    return len(rows) + 2


# --- every key is checked ---------------------------------------------------------------------

def test_a_dangling_foreign_key_is_never_valid(package_copy):
    line = set_cell(package_copy, "events", 3, "source_id", "src-0999")
    code, report = report_of(package_copy)
    assert code == 1 and report["valid"] is False
    assert ("events", line, "source_id") in places(report, "F09")


def test_a_duplicated_composite_primary_key_is_reported_at_each_row(package_copy):
    edit_schema(package_copy, "personnel_levels", lambda s: s.update(primaryKey=["source_id", "personnel_id"]))
    assert report_of(package_copy)[0] == 0  # the pair is unique in the shipped data
    line = append_copy_of_row(package_copy, "personnel_levels", 0)
    code, report = report_of(package_copy)
    assert code == 1
    assert places(report, "F08") == [("personnel_levels", 2, "source_id"), ("personnel_levels", line, "source_id")]
    assert all(e["message"] == "primary key (source_id, personnel_id) is duplicated"
               for e in report["errors"] if e["rule"] == "F08")


def test_a_composite_primary_key_may_repeat_one_of_its_fields(package_copy):
    edit_schema(package_copy, "personnel_levels", lambda s: s.update(primaryKey=["source_id", "personnel_id"]))
    fields = read_csv(package_copy / "data" / "personnel_levels.csv")[0]
    assert "personnel_id" in fields
    append_copy_of_row(package_copy, "personnel_levels", 0, personnel_id="pl-0999")
    assert report_of(package_copy)[0] == 0


def test_a_duplicated_composite_unique_key_is_reported(package_copy):
    edit_schema(package_copy, "events", lambda s: s.update(uniqueKeys=[["source_id", "summary"]]))
    assert report_of(package_copy)[0] == 0
    summary = get_cell(package_copy, "events", 0, "summary")
    line = set_cell(package_copy, "events", 1, "summary", summary)
    same_source = get_cell(package_copy, "events", 0, "source_id") == get_cell(package_copy, "events", 1, "source_id")
    code, report = report_of(package_copy)
    if same_source:
        assert code == 1 and ("events", line, "source_id") in places(report, "F03")
    else:
        assert code == 0


def test_a_dangling_composite_foreign_key_is_reported(package_copy):
    fk = {"fields": ["event_id", "source_id"], "reference": {"resource": "events", "fields": ["event_id", "source_id"]}}
    edit_schema(package_copy, "quotes", lambda s: s["foreignKeys"].append(fk))
    assert report_of(package_copy)[0] == 0  # every quote's event comes from the quote's own source
    header, rows = read_csv(package_copy / "data" / "quotes.csv")
    index = next(i for i, row in enumerate(rows) if row[header.index("event_id")])
    other = next(s for s in ("src-0001", "src-0002", "src-0003", "src-0004") if s != rows[index][header.index("source_id")])
    line = set_cell(package_copy, "quotes", index, "source_id", other)  # both values exist, the pair does not
    code, report = report_of(package_copy)
    assert code == 1
    assert ("quotes", line, "event_id") in places(report, "F09")
    assert any("no events row has these (event_id, source_id)" in e["message"] for e in report["errors"])


# --- nothing is ever lost ----------------------------------------------------------------------

def with_build(monkeypatch, rule_id: str, build) -> None:
    """Run the checks with one rule's implementation replaced (the registry itself is left as it is)."""
    rules = [dataclasses.replace(r, build=build) if r.id == rule_id else r for r in table_rules()]
    monkeypatch.setattr(checking, "table_rules", lambda: rules)


def test_a_check_that_raises_is_reported_not_dropped(package_copy, monkeypatch):
    def boom(series: pl.Series) -> pl.Series:
        raise ZeroDivisionError("injected")

    with_build(monkeypatch, "X05", lambda table: iter(
        [RowCheck("summary", pl.col("summary").map_batches(boom, return_dtype=pl.Boolean))]
        if table.name == "events" else []))
    code, report = report_of(package_copy)
    assert code == 1 and report["valid"] is False
    found = [e for e in report["errors"] if e["rule"] == "X05"]
    assert found and found[0]["resource"] == "events" and found[0]["field"] == "summary"
    assert "could not be evaluated" in found[0]["message"] and "injected" in found[0]["message"]


def test_a_rule_that_cannot_build_its_checks_is_reported(package_copy, monkeypatch):
    def broken(table: TableInfo):
        raise KeyError("no such field")

    with_build(monkeypatch, "X01", broken)
    code, report = report_of(package_copy)
    assert code == 1
    assert {e["resource"] for e in report["errors"] if e["rule"] == "X01"} == {
        "events", "assets", "personnel_levels", "sources", "quotes"}


def test_a_check_without_a_true_false_verdict_is_reported(package_copy, monkeypatch):
    with_build(monkeypatch, "X06", lambda table: iter(
        [RowCheck("summary", pl.col("summary").str.len_chars())] if table.name == "events" else []))
    code, report = report_of(package_copy)
    assert code == 1
    assert [(e["resource"], e["field"]) for e in report["errors"] if e["rule"] == "X06"] == [("events", "summary")]


def test_pandera_disagreeing_with_the_screen_is_reported_with_every_row(package_copy, monkeypatch):
    line = set_cell(package_copy, "events", 0, "category", "battle")
    monkeypatch.setattr(checking, "_custom_check", lambda expr: lambda data: data.lazyframe.select(
        pl.lit(True).alias(data.key)))  # a pandera that finds nothing
    code, report = report_of(package_copy)
    assert code == 1
    assert ("events", line, "category") in places(report, "F04")
    assert any("disagree" in e["message"] for e in report["errors"] if e["rule"] == "F04")


def test_a_failure_pandera_reports_without_a_row_is_reported(package_copy, monkeypatch):
    set_cell(package_copy, "events", 0, "category", "battle")

    def raising(expr):
        def check(data):
            raise RuntimeError("inside pandera")
        return check

    monkeypatch.setattr(checking, "_custom_check", raising)
    code, report = report_of(package_copy)
    assert code == 1
    assert any("inside pandera" in e["message"] for e in report["errors"] if e["rule"] == "F04")


SEEDED = [("events", 0, "category", "battle"), ("events", 1, "date_start", "2016-02-30"),
          ("assets", 2, "kind", " ship"), ("quotes", 0, "event_id", "ev-0999"), ("events", 4, "summary", "=SUM(A1)"),
          ("personnel_levels", 0, "count", "-5"), ("events", 2, "event_id", "ev-0001")]


def test_pandera_on_every_row_reports_what_the_screened_run_reports(package_copy, monkeypatch):
    for resource, index, field, value in SEEDED:
        set_cell(package_copy, resource, index, field, value)
    screened = report_of(package_copy)
    real_screen = checking.screen

    def everything_suspect(frame, checks, typed_fields, repeated=frozenset()):
        found = real_screen(frame, checks, typed_fields)
        return checking.Screened(failing=list(checks), problems=found.problems, rows=frame if checks else None)

    monkeypatch.setattr(checking, "screen", everything_suspect)
    unscreened = report_of(package_copy)
    assert screened == unscreened
    assert screened[1]["error_count"] >= len(SEEDED)


def test_identity_links_are_checked_over_the_whole_table_when_it_is_read_in_batches(package_copy, monkeypatch):
    """A table that names its own rows (same_as) is read in batches like any other; its self-references are
    checked once over the whole table's kept columns, so a link to a row of another batch is judged right."""
    from opimpact import validate

    header, rows = read_csv(package_copy / "data" / "events.csv")
    chain = next(i for i, r in enumerate(rows) if r[header.index("same_as")])  # names a canonical row
    set_cell(package_copy, "events", len(rows) - 1, "same_as", rows[chain][0])  # the last names a twin: X08
    set_cell(package_copy, "events", 0, "same_as", "ev-0999")  # dangling: F09
    whole = report_of(package_copy)
    monkeypatch.setattr(validate, "BATCH_BYTES", 4096)
    batched = report_of(package_copy)
    assert batched == whole
    assert ("events", len(rows) + 1, "same_as") in places(whole[1], "X08")
    assert ("events", 2, "same_as") in places(whole[1], "F09")


class InTurn(Executor):
    """An executor that runs each task at once, in the caller's thread."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__()

    def submit(self, fn, /, *args, **kwargs) -> Future:
        future: Future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:
            future.set_exception(exc)
        return future


def test_tables_checked_ahead_report_what_tables_checked_in_turn_report(package_copy, monkeypatch, archive):
    """The tables after events have their batches checked in a second thread while events is checked, after
    sources' whole-table checks; the report, archive rules included, is the one checking every table in turn
    gives."""
    from opimpact import validate

    for resource, index, field, value in SEEDED:
        set_cell(package_copy, resource, index, field, value)
    set_cell(package_copy, "quotes", 1, "text", "Words the article never printed.")  # P03: needs the texts
    set_cell(package_copy, "quotes", 2, "date_start", "2030-01-01")  # X07: needs the publication dates
    set_cell(package_copy, "sources", 1, "sha256", get_cell(package_copy, "sources", 0, "sha256"))  # F03 in sources
    set_cell(package_copy, "events", 3, "source_id", "src-0999")  # F09: needs sources' keys
    ahead = report_of(package_copy, "--archive", str(archive))
    monkeypatch.setattr(validate, "ThreadPoolExecutor", InTurn)
    in_turn = report_of(package_copy, "--archive", str(archive))
    assert ahead == in_turn
    assert {e["resource"] for e in ahead[1]["errors"]} >= {"events", "assets", "quotes", "personnel_levels"}
    assert {"P03", "X07"} <= {e["rule"] for e in ahead[1]["errors"] if e["resource"] == "quotes"}
    assert "F03" in {e["rule"] for e in ahead[1]["errors"] if e["resource"] == "sources"}
    assert ("events", 5, "source_id") in places(ahead[1], "F09")


def test_a_failure_while_tables_are_checked_ahead_ends_the_run_and_its_readers(package_copy, monkeypatch):
    """An exception in the main thread while a later table is being checked ahead neither hangs the run (the
    table ahead reads on to its end before the readers close) nor leaves a reading thread behind."""
    from opimpact import validate

    failed = threading.Event()
    check_batches, check_whole = validate._check_batches, validate._check_whole

    checked_ahead: list[int] = []

    def late(package, resource, *args):
        if resource.name != "assets":
            return check_batches(package, resource, *args)
        failed.wait(10)  # starts reading only once the main thread has failed
        time.sleep(0.5)
        batched = check_batches(package, resource, *args)
        checked_ahead.append(batched.rows)
        return batched

    def broken(batched, context):
        if batched.table.info.name == "events":
            failed.set()
            raise RuntimeError("injected")
        return check_whole(batched, context)

    monkeypatch.setattr(validate, "_check_batches", late)
    monkeypatch.setattr(validate, "_check_whole", broken)
    outcome: list[BaseException] = []

    def run() -> None:
        try:
            validate.validate_package(package_copy)
        except RuntimeError as exc:
            outcome.append(exc)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(timeout=60)
    assert not worker.is_alive(), "validate hung"
    assert [str(e) for e in outcome] == ["injected"]
    assert checked_ahead == [len(read_csv(package_copy / "data" / "assets.csv")[1])]
    assert not [t.name for t in threading.enumerate() if t.name.startswith("opimpact-")]


# --- the screen and pandera agree on generated frames -------------------------------------------

SCHEMA = {"fields": [{"name": "k", "type": "string", "constraints": {"enum": ["a", "b"]}},
                     {"name": "n", "type": "integer", "constraints": {"minimum": 0, "maximum": 5}},
                     {"name": "t", "type": "string", "constraints": {"maxLength": 3}}]}
FRAMES = st.lists(st.tuples(st.none() | st.sampled_from(["a", "b", "c", " a"]), st.none() | st.integers(-2, 7),
                            st.none() | st.text(alphabet="xy =", max_size=5)), max_size=25)


@settings(max_examples=60)
@given(FRAMES, st.booleans())
def test_screen_and_pandera_report_exactly_the_failing_rows(rows, by_value):
    frame = pl.DataFrame(rows, schema={"k": pl.String, "n": pl.Int64, "t": pl.String}, orient="row").with_columns(
        pl.int_range(2, pl.len() + 2, dtype=pl.Int64).alias(ROW))
    checks, problems = checking.bind(TableInfo("t", SCHEMA, {}))
    assert not problems
    typed = frozenset({"n"})
    frame = frame.with_columns(pl.lit(False).alias(checking.bad_column("n")), pl.lit(False).alias(checking.BAD_ANY))
    screened = checking.screen(frame, checks, typed, {"k", "t"} if by_value else set())
    assert not screened.problems
    expected = {c.label: [r for r, ok in zip(frame[ROW], frame.select(c.expr(typed)).to_series(), strict=True)
                          if not ok] for c in checks}
    assert {c.label for c in screened.failing} == {label for label, rows in expected.items() if rows}
    if not screened.failing:
        return
    failures, problems = checking.confirm("t", SCHEMA, screened.rows, screened.failing, 1000, typed)
    assert not problems
    assert {f.check.label: f.rows for f in failures} == {label: rows for label, rows in expected.items() if rows}


# --- the registry ------------------------------------------------------------------------------

def test_every_rule_is_declared_once_with_all_its_parts():
    rules = all_rules()
    assert len({r.id for r in rules}) == len(rules)
    for rule in rules:
        assert rule.name and rule.description and rule.message, rule.id
    assert {r.id[0] for r in rules} == {"D", "S", "F", "X", "P"}
    assert all(r.build is not None for r in rules if r.id[0] in "XP" or r.id in ("F02", "F03", "F08", "F09"))


def test_every_rule_id_in_the_code_is_declared():
    """A finding can only carry a declared rule (get_rule raises for any other)."""
    import re

    code = "\n".join(p.read_text(encoding="utf-8") for p in (Path(__file__).parent.parent / "scripts" /
                                                            "opimpact").glob("*.py"))
    used = set(re.findall(r'"([DSFXP]\d\d)"', code))
    declared = {r.id for r in all_rules()}
    assert used <= declared, used - declared
    assert get_rule("X05").name == "whitespace"


def test_rules_command_lists_the_registry():
    result = CliRunner().invoke(cli, ["rules", "--format", "json"])
    assert result.exit_code == 0
    assert [r["id"] for r in json.loads(result.output)] == [r.id for r in all_rules()]
    text = CliRunner().invoke(cli, ["rules"]).output
    assert all(r.id in text for r in all_rules())


# --- small parts --------------------------------------------------------------------------------

@given(st.text(alphabet=st.sampled_from(list("ab \r\n\t\u00a0é")), max_size=12))
def test_folded_expression_matches_fold_text(text):
    assert pl.select(folded(pl.lit(text, dtype=pl.String))).item() == fold_text(text)


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
        for key in sorted({(f.resource, f.rule) for f in part}):
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


def test_a_valid_package_never_imports_pandera(tmp_path):
    """The screen proves a valid package valid; pandera is imported only to report failures."""
    import subprocess
    import sys

    repo = Path(__file__).resolve().parent.parent
    code = ("import sys; from opimpact.validate import validate_package; "
            f"r = validate_package({str(repo)!r}); print(r.valid, 'pandera' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["True", "False"]


# --- provenance hints for contributors --------------------------------------------------------------

def test_a_non_verbatim_excerpt_names_the_first_differing_characters(package_copy, archive):
    header, rows = read_csv(package_copy / "data" / "events.csv")
    index = next(i for i, row in enumerate(rows) if "\u2019" in row[header.index("evidence")])
    evidence = rows[index][header.index("evidence")]
    line = set_cell(package_copy, "events", index, "evidence", evidence.replace("\u2019", "'", 1))
    code, report = report_of(package_copy, "--archive", str(archive))
    assert code == 1
    found = next(e for e in report["errors"] if e["rule"] == "P04" and e["row"] == line)
    assert "U+0027 APOSTROPHE" in found["message"] and "U+2019 RIGHT SINGLE QUOTATION MARK" in found["message"]
    assert f"the first {evidence.index(chr(0x2019))} characters match" in found["message"]


def test_a_checksum_mismatch_shows_the_actual_checksum(package_copy, archive):
    import hashlib

    line = set_cell(package_copy, "sources", 0, "sha256", "0" * 64)
    file = get_cell(package_copy, "sources", 0, "archive_file")
    actual = hashlib.sha256((archive / file).read_bytes()).hexdigest()
    code, report = report_of(package_copy, "--archive", str(archive))
    assert code == 1
    found = next(e for e in report["errors"] if e["rule"] == "P02")
    assert found["row"] == line and actual in found["message"]


# --- D06: the standard's profiles, by frictionless ------------------------------------------------------

def test_standard_profiles_are_checked_when_asked(package_copy):
    path = package_copy / "datapackage.json"
    descriptor = json.loads(path.read_text(encoding="utf-8"))
    code, report = report_of(package_copy, "--standard")
    assert code == 0 and report["standard_checked"] is True
    descriptor["name"] = "Not A Valid Name!"  # the profile's name pattern; op-impact's own rules do not look
    path.write_text(json.dumps(descriptor), encoding="utf-8")
    code, report = report_of(package_copy)
    assert code == 0 and report["standard_checked"] is False
    text = CliRunner().invoke(cli, ["validate", str(package_copy)]).output
    assert "not checked: archive (--archive), standard (--standard)" in text
    code, report = report_of(package_copy, "--standard")
    assert code == 1
    assert [(e["rule"], e["resource"], e["file"]) for e in report["errors"]] == [("D06", None, "datapackage.json")]
    assert "name" in report["errors"][0]["message"]


TYPED_SCHEMA = {"fields": [{"name": kind, "type": kind} for kind in
                           ("integer", "year", "number", "boolean", "date", "datetime")]}
CELLS = st.none() | st.sampled_from(["", "1", "0", "2017", "2017-06-30", "2017-02-30", "0000-01-01", "1e400", "NaN",
                                     "true", "TRUE", "x", "2017-06-30T10:00:00", " 3", "-2", "3.5"]) | st.text(max_size=6)


@settings(max_examples=80)
@given(st.lists(st.tuples(*[CELLS] * 6), max_size=30))
@example([(None, None, None, None, None, "")])  # polars 1.30 could not guess a datetime format from "" and raised
def test_columns_parsed_by_distinct_value_equal_columns_parsed_cell_by_cell(rows):
    names = [f["name"] for f in TYPED_SCHEMA["fields"]]
    frame = pl.DataFrame(rows, schema=dict.fromkeys(names, pl.String), orient="row")
    typed, bad = cast_columns(frame, TYPED_SCHEMA)
    by_value, bad_by_value = cast_columns(frame, TYPED_SCHEMA, repeated=names)
    assert by_value.equals(typed) and bad_by_value.equals(bad)
    assert by_value.schema == typed.schema


def test_a_number_too_large_for_a_double_fails_its_type():
    schema = {"fields": [{"name": "x", "type": "number"}]}
    frame = pl.DataFrame({"x": ["1e400", "-1e400", "INF", "NaN", "3.5"], ROW: [2, 3, 4, 5, 6]})
    typed, findings = cast_frame(frame, schema, "t", "t.csv")
    assert [(f.rule, f.row, f.value) for f in findings] == [("F01", 2, "1e400"), ("F01", 3, "-1e400")]
    values = typed["x"].to_list()
    assert values[:2] == [None, None] and values[2] == float("inf") and values[3] != values[3] and values[4] == 3.5


KEYS = st.lists(st.tuples(st.none() | st.sampled_from(["a", "b", "ab", ""]), st.none() | st.integers(0, 2)), max_size=30)


@given(KEYS)
@example([("a", 1), ("a", 1), (None, None), (None, None), ("b", 0)])
def test_repeated_keys_are_found_from_their_hashes_as_is_duplicated_finds_them(rows):
    from opimpact.validate import _first_of_each, _repeated

    frame = pl.DataFrame(rows, schema={"k": pl.String, "n": pl.Int64}, orient="row")
    for values in (pl.col("k"), pl.struct("k", "n")):
        assert _repeated(frame, values).to_list() == frame.select(values.is_duplicated()).to_series().to_list()
    firsts = _first_of_each(frame.with_row_index("i"), "k")
    assert sorted(firsts["i"].to_list()) == frame.with_row_index("i").unique("k", keep="first")["i"].sort().to_list()
