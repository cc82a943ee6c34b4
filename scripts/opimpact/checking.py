"""Run a table's row checks: screen them all in one polars query, then have pandera report those that fail.

pandera validates one check at a time, each a query with its own set-up (about 1 ms a check, some 60 ms for a
batch of events whatever its size), and importing it takes most of a second. So every batch is first screened:
each check's own expression (the one handed to pandera as a custom check) is evaluated for all checks at once,
value-wise checks on a column whose values repeat once per distinct value. Only the rows where some check fails
are kept, and pandera validates them, once per table, with exactly those checks (pandera.polars:
DataFrameSchema, Column, Check, validate(lazy=True), SchemaErrors.failure_cases). A valid table never imports
pandera.

Nothing is lost on the way: a check that raises, or gives something other than a true/false verdict per row,
becomes a finding of its rule naming the table and field; so does any disagreement between the screen and
pandera, and any failure pandera reports without a row.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import polars as pl

from .fieldtypes import POLARS_TYPES
from .registry import RowCheck, Rule, table_rules
from .report import Finding, shorten
from .table_rules import TableInfo

ROW = "__row"
BAD_ANY = "__bad"
REPEATED_SHARE = 1 / 16  # a column with at most this share of distinct values is screened on its distinct values


def bad_column(name: str) -> str:
    """Column flagging the cells of `name` that failed their type (F01): other rules skip them."""
    return f"__bad:{name}"


@dataclass(frozen=True)
class BoundCheck:
    """A rule's row check as run on one table, under a label unique in the table (the name pandera reports)."""

    rule: Rule
    check: RowCheck
    label: str
    order: int

    @property
    def field(self) -> str:
        return self.check.field

    @property
    def message(self) -> str:
        return self.check.message or self.rule.message

    def expr(self, typed_fields: frozenset[str]) -> pl.Expr:
        """The verdict, true where the row passes. A cell that failed its type was reported as F01, so the
        field rules skip it, and the cross-field rules skip its row."""
        ok = self.check.ok.fill_null(False)
        if self.rule.layer == "field" and self.field in typed_fields:
            return ok | pl.col(bad_column(self.field))
        if self.rule.layer in ("cross-field", "cross-table") and typed_fields:
            return ok | pl.col(BAD_ANY)
        return ok


@dataclass
class Problem:
    """A check that could not be run as written: reported as a finding of its rule."""

    check: BoundCheck | None
    rule: Rule
    message: str


def bind(table: TableInfo) -> tuple[list[BoundCheck], list[Problem]]:
    """Every rule's checks for the table, and the rules whose checks could not be built."""
    bound, problems = [], []
    for rule in table_rules():
        try:
            checks = list(rule.build(table))
        except Exception as exc:  # a rule that cannot build its checks is reported, never skipped
            problems.append(Problem(None, rule, f"the rule could not be applied to this table: {_describe(exc)}"))
            continue
        for check in checks:
            bound.append(BoundCheck(rule, check, f"{rule.id}:{check.field}:{len(bound)}", len(bound)))
    return bound, problems


def repeated_columns(frame: pl.DataFrame, names: Iterable[str]) -> set[str]:
    """The columns whose values repeat enough to be screened on their distinct values (judged on frame)."""
    names = [n for n in names if n in frame.columns]
    if frame.height == 0 or not names:
        return set()
    counts = frame.select(pl.col(n).n_unique() for n in names).row(0, named=True)
    return {name for name, n in counts.items() if n <= frame.height * REPEATED_SHARE}


@dataclass
class Screened:
    failing: list[BoundCheck] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    rows: pl.DataFrame | None = None  # the rows where a failing check fails


def screen(frame: pl.DataFrame, checks: list[BoundCheck], typed_fields: frozenset[str],
           repeated: set[str] = frozenset()) -> Screened:
    """Which checks fail somewhere in frame, and the rows where they do."""
    out = Screened()
    if not checks or frame.height == 0:
        return out
    has_bad = bool(typed_fields) and bool(frame[BAD_ANY].any())
    exprs = {c.label: c.expr(typed_fields) if has_bad else c.check.ok.fill_null(False) for c in checks}
    by_value = {c.label: c.field for c in checks if c.check.value_wise and c.field in repeated}
    # Value-wise checks run on distinct values, without the type-error flags: skipping a cell can only make a
    # check pass, so one that passes there passes; one that fails is run again with the flags, on every row.
    plain = {label: c.check.ok.fill_null(False) for c in checks if (label := c.label) in by_value}
    verdicts = _verdicts(frame, checks, exprs | plain, by_value)
    if has_bad:
        again = [c for c in checks if c.label in by_value and verdicts[c.label] is False]
        verdicts |= _verdicts(frame, again, exprs, {}) if again else {}
    for check in checks:
        verdict = verdicts[check.label]
        if isinstance(verdict, str):
            out.problems.append(Problem(check, check.rule, verdict))
        elif not verdict:
            out.failing.append(check)
    if out.failing:
        fails = ~pl.all_horizontal(exprs[c.label] for c in out.failing)
        out.rows = frame.filter(fails)
    return out


def _verdicts(frame: pl.DataFrame, checks: list[BoundCheck], exprs: dict[str, pl.Expr],
              by_value: dict[str, str]) -> dict[str, bool | str]:
    """Each check's verdict on the whole frame (True: every row passes), or why it could not be evaluated.
    All checks run in one query; if that fails, each runs alone to find the ones that cannot."""
    lazy = frame.lazy()
    try:
        kinds = lazy.select(exprs[c.label].alias(c.label) for c in checks).collect_schema()
    except Exception:  # a check that names a missing column, say: found below, when each runs alone
        kinds = {}
    verdicts: dict[str, bool | str] = {label: f"the check gives {kind}, not a true/false verdict for each row"
                                       for label, kind in kinds.items() if kind != pl.Boolean}
    checks = [c for c in checks if c.label not in verdicts]
    by_value = {label: name for label, name in by_value.items() if label not in verdicts}
    queries = [lazy.select(exprs[c.label].all().alias(c.label) for c in checks if c.label not in by_value)]
    for name in sorted(set(by_value.values())):
        distinct = lazy.select(pl.col(name).unique())
        queries.append(distinct.select(exprs[label].all().alias(label) for label, f in by_value.items() if f == name))
    try:
        answers: dict[str, object] = {}
        for result in pl.collect_all([q for q in queries if q.collect_schema()]):
            answers.update(result.row(0, named=True) if result.height else {})
    except Exception:  # one check broke the query: find it, and run the others alone
        answers = {c.label: _alone(lazy, exprs[c.label]) for c in checks}
    return verdicts | {c.label: _verdict(answers.get(c.label, "the check gave no verdict")) for c in checks}


def _alone(lazy: pl.LazyFrame, expr: pl.Expr) -> object:
    try:
        return lazy.select(expr.all()).collect().item()
    except Exception as exc:
        return f"the check could not be evaluated: {_describe(exc)}"


def _verdict(answer: object) -> bool | str:
    if isinstance(answer, bool):
        return answer
    if isinstance(answer, str):
        return answer
    return f"the check gave {shorten(repr(answer))} instead of a true/false verdict for each row"


def _describe(exc: BaseException) -> str:
    first = str(exc).strip().splitlines()
    return shorten(f"{type(exc).__name__}: {first[0] if first else ''}".strip().rstrip(":"), 200)


@dataclass
class Failures:
    """One check's failing rows in a frame, as pandera reports them."""

    check: BoundCheck
    rows: list[int]  # CSV line numbers of the first failures
    values: list[str | None]
    explanations: list[str | None]
    count: int


def confirm(resource: str, schema: dict, frame: pl.DataFrame, checks: list[BoundCheck], limit: int,
            typed_fields: frozenset[str]) -> tuple[list[Failures], list[Problem]]:
    """pandera's report of the checks on frame (the rows the screen kept), check by check.

    The findings are pandera's. Where pandera and the screen disagree on a check's rows, every row either
    found is reported and the disagreement is a problem of the check's rule; a failure pandera reports
    without a row (a check that raised inside pandera) is a problem too.
    """
    import pandera.polars as pa  # imported only when something fails: a valid package never pays for it

    exprs = {c.label: c.expr(typed_fields) for c in checks}
    types = {f["name"]: POLARS_TYPES[f.get("type", "string")] for f in schema["fields"]}
    by_field: dict[str, list] = {}
    for check in checks:
        by_field.setdefault(check.field, []).append(
            pa.Check(_custom_check(exprs[check.label]), name=check.label, ignore_na=False))
    pandera_schema = pa.DataFrameSchema(
        {name: pa.Column(types.get(name), checks=found, nullable=True) for name, found in by_field.items()},
        strict=False, name=resource)
    problems: list[Problem] = []
    cases = pl.DataFrame(schema={"check": pl.String, "index": pl.Int64, "failure_case": pl.String})  # none found
    try:
        pandera_schema.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as errors:
        cases = errors.failure_cases
    except Exception as exc:  # pandera could not run: the screen's rows stand, and the failure is reported
        cases = None
        problems += [Problem(c, c.rule, f"pandera could not validate this check: {_describe(exc)}") for c in checks]
    positions = frame.with_row_index("__position")
    out = []
    for check in checks:
        try:
            ours = positions.filter(~exprs[check.label])["__position"].to_list()
        except Exception as exc:  # as in the screen: reported, never dropped
            problems.append(Problem(check, check.rule, f"the check could not be evaluated: {_describe(exc)}"))
            ours = []
        theirs: list[int] = []
        if cases is not None:
            mine = cases.filter(pl.col("check") == check.label)
            for text in mine.filter(pl.col("index").is_null())["failure_case"].to_list():
                problems.append(Problem(check, check.rule, f"pandera could not evaluate this check: {shorten(text)}"))
            theirs = sorted(mine.filter(pl.col("index").is_not_null())["index"].cast(pl.Int64).to_list())
        if cases is not None and theirs != ours:
            problems.append(Problem(check, check.rule, f"pandera and the screen disagree on this check "
                                    f"({len(theirs)} and {len(ours)} failing rows); every row either found is listed"))
        found = sorted(set(theirs) | set(ours)) if cases is not None else ours
        if not found:
            continue
        head = pl.Series(found[:limit], dtype=pl.Int64)
        rows = frame[ROW].gather(head).to_list()
        values = frame[check.field].cast(pl.String).gather(head).to_list()
        out.append(Failures(check, rows, values, _explanations(check, frame[head]), len(found)))
    return out, problems


def _explanations(check: BoundCheck, rows: pl.DataFrame) -> list[str | None]:
    """What completes the message for each listed failing row (only those: it may be slow)."""
    if check.check.explain is None:
        return [None] * rows.height
    out = []
    for row in rows.iter_rows(named=True):
        try:
            out.append(check.check.explain(row))
        except Exception as exc:  # a hint that fails leaves the finding itself standing
            out.append(f"no further detail: {_describe(exc)}")
    return out


def _custom_check(expr: pl.Expr):
    """A pandera custom check (documented form: PolarsData in, a LazyFrame of one boolean column out)."""

    def check(data) -> pl.LazyFrame:
        return data.lazyframe.select(expr.alias(data.key))

    return check


def findings_of(failures: Failures, resource: str, file: str) -> list[Finding]:
    check = failures.check
    return [Finding(check.rule.id, check.message + (f" ({extra})" if extra else ""), resource, file, row,
                    check.field, shorten(value))
            for row, value, extra in zip(failures.rows, failures.values, failures.explanations, strict=True)]


def problem_finding(problem: Problem, resource: str, file: str) -> Finding:
    field_name = problem.check.field if problem.check is not None else None
    return Finding(problem.rule.id, problem.message, resource, file, None, field_name)
