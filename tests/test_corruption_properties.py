"""Hypothesis: random corruptions of the real package's cells and rows.

Whatever the corruption, `opimpact validate` exits 0 or 1 without a traceback and leaves its input unchanged.
It says "valid" only when an independent oracle agrees, and where the oracle can decide, it says "invalid"
exactly when the oracle does. The oracle is:
- frictionless, which validates the same package (types, constraints, keys, structure);
- direct checks, written here from the Table Schema and README rules, of what frictionless does not check or
  checks too loosely: lexical forms of integers, numbers and dates, NaN against a bound, whitespace at the
  ends of text (X05), formula-looking text (X06), NUL bytes, unclosed quotes, UTF-8, and an empty table.
Cross-row rules (date precision and order, EDTF agreement, personnel ceilings, dates after publication, identity
and typed links) are not re-implemented.
Where a corruption could touch them, the oracle cannot decide "valid"; an invalid cell on its own is still
decided.
"""

from __future__ import annotations

import csv
import datetime
import io
import json
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from corruption_helpers import RESOURCES, csv_path, schema_of, validate_json
from helpers import csv_text, read_csv, snapshot

frictionless = pytest.importorskip("frictionless")

REPO = Path(__file__).resolve().parent.parent
SETTINGS = settings(max_examples=40, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# The Unicode White_Space property (what X05 means by whitespace).
WHITE_SPACE = frozenset("\t\n\x0b\x0c\r \x85\xa0\u1680\u2028\u2029\u202f\u205f\u3000"
                        + "".join(map(chr, range(0x2000, 0x200B))))
FORMULA_START = ("=", "+", "-", "@")
INTEGER = re.compile(r"[+-]?[0-9]+", re.ASCII)
NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?", re.ASCII)
DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", re.ASCII)


# --- the pristine package, read once ----------------------------------------------------------------


@dataclass
class Pristine:
    root: Path
    schemas: dict[str, dict]
    tables: dict[str, tuple[list[str], list[list[str]]]]
    cross: set[tuple[str, str]] = field(default_factory=set)  # fields that cross-row rules read


def cross_fields(schemas: dict[str, dict]) -> set[tuple[str, str]]:
    """Fields read by rules that span rows or fields, which this oracle does not re-implement."""
    cross = {("personnel_levels", "count"), ("personnel_levels", "measure"), ("events", "status")}
    for resource, schema in schemas.items():
        names = {f["name"] for f in schema["fields"]}
        for name in names:
            stem = name.removesuffix("_precision")
            if name.endswith("_precision") and f"{stem}_start" in names:  # X01-X03, X07-X09: the whole group
                cross |= {(resource, n) for n in names if n.startswith(f"{stem}_")}
        # X08 and X10: identity and typed links, the keys they name and the sources they compare
        for fk in schema.get("foreignKeys", []):
            cross |= {(resource, f) for f in ([fk["fields"]] if isinstance(fk["fields"], str) else fk["fields"])}
        cross |= {(resource, n) for n in names if n == "source_id"}
        cross |= {(resource, n) for n in (schema.get("primaryKey") or [])}
    return cross


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> Pristine:
    root = tmp_path_factory.mktemp("pristine") / "package"
    root.mkdir()
    shutil.copy(REPO / "datapackage.json", root)
    shutil.copytree(REPO / "schemas", root / "schemas")
    shutil.copytree(REPO / "data", root / "data")
    schemas = {r: schema_of(root, r) for r in RESOURCES}
    tables = {r: read_csv(csv_path(root, r)) for r in RESOURCES}
    for resource, (header, rows) in tables.items():  # the canonical form every mutation starts from
        csv_path(root, resource).write_text(csv_text([header, *rows]), encoding="utf-8")
    assert validate_json(root)[0] == 0, "the shipped package must be valid for these tests to mean anything"
    assert oracle_report(root).valid
    return Pristine(root, schemas, tables, cross_fields(schemas))


def working_copy(pristine: Pristine) -> Path:
    folder = Path(tempfile.mkdtemp(prefix="opimpact-prop-"))
    shutil.copytree(pristine.root, folder / "package")
    return folder / "package"


# --- the oracle ---------------------------------------------------------------------------------------


def oracle_report(root: Path):
    """frictionless on the same package, told the CSV dialect so it never guesses it from damaged text."""
    descriptor = json.loads((root / "datapackage.json").read_text(encoding="utf-8"))
    for resource in descriptor["resources"]:
        resource["dialect"] = {"delimiter": ",", "quoteChar": '"', "header": True}
        resource.pop("hash", None)  # a damaged copy no longer has the released bytes
        resource.pop("bytes", None)
    return frictionless.Package(descriptor, basepath=str(root)).validate()


def cell_problem(value: str, spec: dict) -> str | None:
    """Why one cell breaks a rule that frictionless does not check (or checks too loosely), else None."""
    if "\x00" in value:
        return "NUL byte"
    if value == "":
        return None  # missing: required is frictionless's to judge
    kind, bounds = spec.get("type", "string"), spec.get("constraints", {})
    if kind == "string":
        if value[0] in WHITE_SPACE or value[-1] in WHITE_SPACE:
            return "X05 whitespace"
        if value.startswith(FORMULA_START):
            return "X06 formula"
        return None
    if kind == "integer":
        if not INTEGER.fullmatch(value):
            return "not an integer"
        number = int(value)
    elif kind == "number":
        if not (NUMBER.fullmatch(value) or value in ("NaN", "INF", "-INF")):
            return "not a number"
        number = float(value)
    elif kind == "date":
        if not DATE.fullmatch(value):
            return "not YYYY-MM-DD"
        try:
            datetime.date.fromisoformat(value)
        except ValueError:
            return "not a calendar date"
        return None
    else:
        return None
    if "minimum" in bounds and not number >= bounds["minimum"]:  # NaN fails every bound
        return "below minimum"
    if "maximum" in bounds and not number <= bounds["maximum"]:
        return "above maximum"
    return None


def undecidable_value(value: str, spec: dict) -> bool:
    """Integers beyond 64 bits: the engine cannot hold them, the Table Schema does not bound them."""
    return spec.get("type") == "integer" and bool(INTEGER.fullmatch(value)) and abs(int(value)) >= 2**63


@dataclass
class Verdict:
    problems: list[str]  # reasons the direct checks found
    can_be_valid: bool  # False when a cross-row rule could still fail (so "valid" cannot be decided)


def check_engine(root: Path, verdict: Verdict, what: str) -> None:
    before = snapshot(root)
    code, report = validate_json(root)
    assert snapshot(root) == before, f"{what}: validate changed its input"
    assert code in (0, 1), f"{what}: exit {code}: {report}"
    if verdict.problems:
        assert code == 1, f"{what}: validate said valid, but {verdict.problems}"
        return
    if code == 1 and not verdict.can_be_valid:
        return  # a cross-row rule may have failed: nothing the oracle can confirm or refute
    oracle = oracle_report(root)  # frictionless only where its answer is needed: it takes a while
    found = oracle.flatten(["type", "note"])[:4]
    if code == 0:
        assert oracle.valid, f"{what}: validate said valid, but frictionless found {found}"
    elif oracle.valid:
        shown = [(e["rule"], e["resource"], e["row"], e["field"], e["message"]) for e in report["errors"][:6]]
        assert not verdict.can_be_valid, f"{what}: valid by the oracle, but validate found {shown}"


# --- cell corruptions -----------------------------------------------------------------------------------


def known_values(pristine: Pristine) -> list[str]:
    """Values that mean something somewhere: IDs, enum members, real cells, edge cases of each type."""
    values = {"", " ", "NA", "null", "0", "-0", "+1", "3.5", "1e3", "1,000", ".5", "5.", "NaN", "INF", "-INF",
              "inf", "nan", "2017-02-30", "2017-02-28", "0000-01-01", "0999-12-31", "2017-1-5", "2016-02-29",
              "=1+1", "@SUM(A1)", "-x", "a\nb", "a\r\nb", 'say "hi"', "x" * 300, "é", "\x00", "ev-9999",
              "src-9999", "10000000000000000000"}
    for resource, (_, rows) in pristine.tables.items():
        for f in pristine.schemas[resource]["fields"]:
            values.update(str(v) for v in f.get("constraints", {}).get("enum", []))
        values.update(rows[0])
    return sorted(values)


# Python's regex counts \x1c-\x1f as whitespace (for \S in a pattern), Unicode and the validator do not:
# frictionless would be a wrong oracle for them, so the random text leaves them out.
TEXT = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x1c\x1d\x1e\x1f"), max_size=30)
NUMBER_SPELLINGS = ["inf", "nan", "NaN", "INF", "-INF", "+INF", "Infinity", "1e3", "1E+3", "1e", ".5", "5.", "+.5",
                    "0x1F", "1_0", "١٢", "１２", "12 ", "\t12", "1.5e-3", "--1", "+-1", "1/2"]


def field_kind(spec: dict) -> str:
    kind, constraints = spec.get("type", "string"), spec.get("constraints", {})
    if kind != "string":
        return kind
    return "enum" if "enum" in constraints else "pattern" if "pattern" in constraints else "text"


def fields_by_kind(pristine: Pristine) -> dict[str, list[tuple[str, str]]]:
    """(resource, field) pairs grouped by kind, so that rare kinds (number: two fields) are drawn as often."""
    groups: dict[str, list[tuple[str, str]]] = {}
    for resource in RESOURCES:
        for spec in pristine.schemas[resource]["fields"]:
            groups.setdefault(field_kind(spec), []).append((resource, spec["name"]))
    return groups


@st.composite
def cell_corruptions(draw, pristine: Pristine):
    groups = fields_by_kind(pristine)
    resource, name = draw(st.sampled_from(groups[draw(st.sampled_from(sorted(groups)))]))
    header, rows = pristine.tables[resource]
    index = draw(st.integers(0, len(rows) - 1))
    column = header.index(name)
    value = draw(st.one_of(
        TEXT,
        st.sampled_from(["\x00", "a\x00b"]),
        st.sampled_from(known_values(pristine)),
        st.sampled_from(sorted({row[column] for row in rows})),
        st.integers(-(10**12), 10**12).map(str),
        st.floats(allow_infinity=False).map(repr),
        st.tuples(st.integers(0, 2999), st.integers(0, 19), st.integers(0, 39)).map(
            lambda t: f"{t[0]:04d}-{t[1]:02d}-{t[2]:02d}"),
        st.tuples(st.sampled_from(["", " ", "=", "\u00a0", "\t"]), TEXT, st.sampled_from(["", " ", "\n"])).map(
            "".join),
        st.sampled_from(NUMBER_SPELLINGS),
        st.tuples(st.sampled_from(["", "", " ", "=", "+", "-", "@", "\t", "\u00a0", "'", "0"]),
                  st.sampled_from(sorted({row[column] for row in rows})),
                  st.sampled_from(["", "", " ", "\n", "0", "\u3000", "x"])).map("".join),
    ))
    return resource, index, name, value


@SETTINGS
@given(data=st.data())
def test_random_cell_corruption(pristine, data):
    resource, index, name, value = data.draw(cell_corruptions(pristine))
    spec = next(f for f in pristine.schemas[resource]["fields"] if f["name"] == name)
    if undecidable_value(value, spec):
        return
    root = working_copy(pristine)
    try:
        header, rows = pristine.tables[resource]
        rows = [list(row) for row in rows]
        rows[index][header.index(name)] = value
        csv_path(root, resource).write_text(csv_text([header, *rows]), encoding="utf-8")
        problem = cell_problem(value, spec)
        verdict = Verdict([problem] if problem else [], can_be_valid=(resource, name) not in pristine.cross)
        check_engine(root, verdict, f"{resource} row {index} {name}={value!r}")
    finally:
        shutil.rmtree(root.parent, ignore_errors=True)


# --- row corruptions -----------------------------------------------------------------------------------

ROW_CORRUPTIONS = ("drop_cell", "add_cell", "blank_line", "duplicate_row", "delete_row", "swap_rows", "truncate")


def is_ceiling(pristine: Pristine, resource: str, row: list[str]) -> bool:
    header = pristine.tables[resource][0]
    return resource == "personnel_levels" and row[header.index("measure")] == "authorized_ceiling"


def truncation_verdict(pristine: Pristine, resource: str, data: bytes, full_rows: list[list[str]]) -> Verdict:
    """Judge a file cut short: the direct checks decide everything but dropped personnel ceilings."""
    header = pristine.tables[resource][0]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return Verdict(["cut inside a character"], True)
    try:
        records = list(csv.reader(io.StringIO(text, newline=""), strict=True))
    except csv.Error:
        return Verdict(["cut inside a quoted cell"], True)
    if not records or records[0] != header:
        return Verdict(["cut inside the header"], True)
    body = records[1:]
    if not body:
        return Verdict(["no data rows left"], True)
    last = body[-1]
    if len(last) != len(header):
        return Verdict(["last row cut short"], True)
    problems = []
    if last != full_rows[len(body) - 1]:  # the last cell was cut: it is free text (checked below)
        spec = pristine.schemas[resource]["fields"][-1]
        if spec.get("type", "string") != "string" or spec.get("constraints"):
            return Verdict([], False)
        problems = [p for p in [cell_problem(last[-1], spec)] if p]
    dropped = full_rows[len(body):]
    return Verdict(problems, can_be_valid=not any(is_ceiling(pristine, resource, r) for r in dropped))


@st.composite
def row_corruptions(draw, pristine: Pristine):
    resource = draw(st.sampled_from(RESOURCES))
    kind = draw(st.sampled_from(ROW_CORRUPTIONS))
    header, rows = pristine.tables[resource]
    rows = [list(row) for row in rows]
    i = draw(st.integers(0, len(rows) - 1))
    j = draw(st.integers(0, len(rows) - 1))
    if kind == "drop_cell":
        del rows[i][draw(st.integers(0, len(header) - 1))]
        return resource, kind, csv_text([header, *rows]).encode(), Verdict(["ragged"], True)
    if kind == "add_cell":
        rows[i].insert(draw(st.integers(0, len(header))), draw(TEXT))
        return resource, kind, csv_text([header, *rows]).encode(), Verdict(["ragged"], True)
    if kind == "blank_line":
        text = csv_text([header, *rows[:i]]) + "\n" + csv_text(rows[i:])
        return resource, kind, text.encode(), Verdict(["blank row"], True)
    if kind == "duplicate_row":
        rows.insert(i, list(rows[i]))
        return resource, kind, csv_text([header, *rows]).encode(), Verdict(["duplicate primary key"], True)
    if kind == "delete_row":
        gone = rows.pop(i)
        return resource, kind, csv_text([header, *rows]).encode(), Verdict([], not is_ceiling(pristine, resource, gone))
    if kind == "swap_rows":
        rows[i], rows[j] = rows[j], rows[i]
        return resource, kind, csv_text([header, *rows]).encode(), Verdict([], True)
    full = csv_text([header, *rows]).encode()
    tricky = [i + 1 for i, byte in enumerate(full) if byte == ord('"') or byte >= 0xC0]  # in quotes, characters
    cut = draw(st.one_of(st.integers(0, len(full)), st.sampled_from(tricky or [len(full)])))
    return resource, f"truncate at {cut}/{len(full)}", full[:cut], truncation_verdict(pristine, resource, full[:cut], rows)


@SETTINGS
@given(data=st.data())
def test_random_row_corruption(pristine, data):
    resource, what, content, verdict = data.draw(row_corruptions(pristine))
    root = working_copy(pristine)
    try:
        csv_path(root, resource).write_bytes(content)
        check_engine(root, verdict, f"{resource}: {what}")
    finally:
        shutil.rmtree(root.parent, ignore_errors=True)


# --- the oracle itself must be able to say no -----------------------------------------------------------


@pytest.mark.parametrize("value,spec,expected", [
    ("12", {"type": "integer"}, None), ("1_000", {"type": "integer"}, "not an integer"),
    (" 7", {"type": "integer"}, "not an integer"), ("-1", {"type": "integer", "constraints": {"minimum": 0}},
                                                     "below minimum"),
    ("NaN", {"type": "number", "constraints": {"minimum": 0}}, "below minimum"), ("INF", {"type": "number"}, None),
    ("inf", {"type": "number"}, "not a number"), ("2016-02-29", {"type": "date"}, None),
    ("2017-02-29", {"type": "date"}, "not a calendar date"), ("0000-01-01", {"type": "date"}, "not a calendar date"),
    ("x\u3000", {"type": "string"}, "X05 whitespace"), ("@x", {"type": "string"}, "X06 formula"),
    ("a\x1cb", {"type": "string"}, None), ("a\x00", {"type": "string"}, "NUL byte"),
])
def test_oracle_cell_checks(value, spec, expected):
    assert cell_problem(value, spec) == expected
