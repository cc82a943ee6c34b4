"""Old and new form of each step the performance work replaced, timed side by side on the same data.

    python benchmarks/micro.py benchmarks/out/1m      # prints JSON; run.py calls it

"old" is the code as it was before the work (copied here in its essentials), "new" calls the engine as it is.
Each is timed as the best of three, in this one process, on the 1M-row synthetic package.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import polars as pl

from opimpact import checks, validate
from opimpact.csvreader import ROW, StreamTotals, stream_table
from opimpact.fieldtypes import TYPE_HINTS, cast_columns, parsed
from opimpact.package import open_package
from opimpact.report import Finding, Report, shorten
from opimpact.screen import failing_checks, repeated_columns
from opimpact.validate import FindingGroups, TypedTable, read_archive_texts


def best(function, repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


# --- old forms (before the work) ----------------------------------------------------------------------------

def old_read(path: Path, fields: list[str]) -> pl.DataFrame:
    """pyarrow parse, polars conversion, line numbers, a second read for line endings, blank rows and sizes."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    table = pacsv.read_csv(
        path, read_options=pacsv.ReadOptions(column_names=fields, skip_rows=1, block_size=1 << 24),
        parse_options=pacsv.ParseOptions(newlines_in_values=True, ignore_empty_lines=False),
        convert_options=pacsv.ConvertOptions(column_types={n: pa.large_string() for n in fields}, null_values=[""],
                                             strings_can_be_null=True, quoted_strings_can_be_null=True))
    frame = pl.from_arrow(table)
    index = pl.int_range(2, pl.len() + 2, dtype=pl.Int64)
    if any(frame[n].str.contains("\n", literal=True).any() for n in fields):
        breaks = pl.sum_horizontal(pl.col(n).str.count_matches("\n", literal=True).fill_null(0) for n in fields)
        index = index + breaks.cum_sum().shift(1, fill_value=0)
    frame = frame.with_columns(index.alias(ROW))
    data = path.read_bytes()
    if data.count(b"\r\n"):
        frame.select(pl.sum_horizontal(pl.col(n).str.count_matches("\n", literal=True).fill_null(0) for n in fields).sum())
    is_blank = pl.all_horizontal(pl.col(n).is_null() for n in fields)
    frame.filter(is_blank)
    frame = frame.filter(~is_blank)
    frame.select(pl.col(n).str.len_chars().max() for n in fields)
    return frame


def new_read(path: Path, fields: list[str]) -> pl.DataFrame:
    return pl.concat(list(stream_table(path, fields, "events", "data/events.csv", StreamTotals(), validate.BATCH_BYTES)))


def old_cast(frame: pl.DataFrame, schema: dict) -> tuple[pl.DataFrame, list]:
    """Flags computed with one parse, the typed frame with another; every failing cell a Finding."""
    typed_fields = [f for f in schema["fields"] if f.get("type", "string") not in ("string", "any")]
    flags = [(pl.col(f["name"]).is_not_null() & parsed(f).is_null()).alias(f["name"]) for f in typed_fields]
    bad = frame.select(ROW, *flags)
    findings = []
    for f in [f for f in typed_fields if bad[f["name"]].any()]:
        for row, value in frame.filter(bad[f["name"]]).select(ROW, f["name"]).iter_rows():
            findings.append(Finding("F01", TYPE_HINTS[f["type"]], "events", "x", row, f["name"], shorten(value)))
    return frame.with_columns(parsed(f).alias(f["name"]) for f in typed_fields), findings


def old_fold(expr: pl.Expr) -> pl.Expr:
    return expr.str.replace_all(r"[ \r\n]+", " ").str.strip_chars(" ")


def old_verbatim(frame: pl.DataFrame, field: str, texts: dict[str, str]) -> pl.DataFrame:
    frame = frame.select("source_id", field).with_row_index("__i")
    parts = []
    for (source_id,), part in frame.partition_by("source_id", as_dict=True).items():
        text = texts.get(source_id)
        found = (pl.lit(True) if text is None
                 else pl.col(field).is_null() | pl.lit(text).str.contains(old_fold(pl.col(field)), literal=True))
        parts.append(part.select("__i", found.alias("ok")))
    return pl.concat(parts).sort("__i").select("ok")


def old_report(failures: pl.DataFrame, rows: pl.Series, limit: int) -> Report:
    report = Report(package="p", max_per_rule=limit)
    for value, column, index in failures.iter_rows():
        report.add(Finding("F04", "expected one of", "events", "x", int(rows[index]), column, shorten(value)))
    return report


def new_report(failures: pl.DataFrame, rows: pl.Series, limit: int) -> Report:
    report = Report(package="p", max_per_rule=limit)
    groups = FindingGroups(limit)
    head = failures.head(limit)
    found = [Finding("F04", "expected one of", "events", "x", row, column, shorten(value))
             for (value, column, _), row in zip(head.iter_rows(), rows.gather(head["index"]).to_list(), strict=True)]
    groups.add((1, 0, 3, 0), found, failures.height)
    groups.emit(report)
    return report


# --- the comparison ---------------------------------------------------------------------------------------

def import_time(statement: str, repeat: int = 7) -> float:
    """Median wall time of a fresh interpreter running statement."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", statement], check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(package_dir: str) -> list[dict]:
    rows = []

    def compare(step: str, old: str, new: str, old_fn, new_fn, check=None) -> None:
        if check is not None:
            assert check(old_fn(), new_fn()), f"{step}: old and new disagree"
        rows.append({"step": step, "old": old, "new": new, "old_s": best(old_fn), "new_s": best(new_fn)})

    with open_package(package_dir) as package:
        events = package.resources["events"]
        fields = events.field_names
        compare("read events.csv (1M rows, 253 MB) into text columns with row numbers",
                "pyarrow parse + from_arrow, line breaks counted per column, file read again for line endings",
                f"polars parse in {validate.BATCH_BYTES >> 20} MiB batches, records checked from lengths and byte counts",
                lambda: old_read(events.path, fields), lambda: new_read(events.path, fields),
                lambda a, b: a.equals(b))
        raw = new_read(events.path, fields)
        compare("cast events to schema types", "parse for the F01 flags, parse again for the typed frame",
                "parse once, flags from the parsed columns' nulls",
                lambda: old_cast(raw, events.schema)[0], lambda: cast_columns(raw, events.schema)[0],
                lambda a, b: a.equals(b))
        typed = cast_columns(raw, events.schema)[0]
        batch_schema, value_wise, repeated = _events_schema(package, typed)
        compare("check the 1M events rows against their 39 checks (all pass)",
                "pandera validates every column, check by check (two threads)",
                "one polars query for all checks, repeated columns on their distinct values; pandera not called",
                lambda: validate._pandera_failure_cases(batch_schema, typed),
                lambda: failing_checks(batch_schema, typed, value_wise, repeated),
                lambda a, b: a is None and b == {})
        quotes = pl.read_csv(package.resources["quotes"].path, infer_schema=False, columns=["event_id"])
        ids = typed["event_id"]
        compare("F09: 100k quotes.event_id against 1M event IDs", "unique() of the IDs, then is_in(implode())",
                "semi-join on the IDs as they are",
                lambda: quotes.select(pl.col("event_id").is_null() | pl.col("event_id").is_in(ids.drop_nulls().unique().implode())).to_series(),
                lambda: checks._exists_in("event_id", ids.drop_nulls())(_data(quotes, "event_id")).collect().to_series(),
                lambda a, b: a.to_list() == b.to_list())
        compare("F08: event_id unique over 1M rows", "is_duplicated() (pandera's unique=True)",
                "distinct hashes first; values compared only on a collision",
                lambda: typed.select(~pl.col("event_id").is_duplicated()).to_series(),
                lambda: checks._no_repeats(_data(typed, "event_id")).collect().to_series(),
                lambda a, b: a.to_list() == b.to_list())
        compare("X05 on evidence (1M cells)", "strip_chars() == value", "length of strip_chars() == length",
                lambda: typed.select(pl.col("evidence").str.strip_chars() == pl.col("evidence")).to_series(),
                lambda: typed.select(checks._unpadded(pl.col("evidence"))).to_series(),
                lambda a, b: a.to_list() == b.to_list())
        compare("fold evidence for P04 (1M cells)", "replace every run of [ \\r\\n] (single spaces too)",
                "replace only runs that change", lambda: typed.select(old_fold(pl.col("evidence"))).to_series(),
                lambda: typed.select(checks.folded(pl.col("evidence"))).to_series(), lambda a, b: a.equals(b))
        sources = pl.read_csv(package.resources["sources"].path, infer_schema=False)
        texts = read_archive_texts(package, {"sources": TypedTable("sources", "x", sources)},
                                   Path(package_dir) / "archive")
        verbatim = checks._verbatim_check("P04", "evidence", "m", texts).check._check_fn
        compare("P04: 1M evidence excerpts in 1,000 archived texts", "per source, every row folded and searched",
                "each distinct (source, excerpt) folded and searched once, joined back",
                lambda: old_verbatim(typed, "evidence", texts).to_series(),
                lambda: verbatim(_data(typed, "evidence")).collect().to_series(),
                lambda a, b: a.to_list() == b.to_list())
        failures = pl.DataFrame({"failure_case": ["battle"] * 100_000, "column": ["category"] * 100_000,
                                 "index": pl.int_range(0, 100_000, step=1, eager=True).cast(pl.Int32)})
        rows_col = typed[ROW]
        compare("report 100,000 failures of one check (100 listed)", "a Finding and report.add per failing cell",
                "count in polars, Findings for the first 100 only",
                lambda: old_report(failures, rows_col, 100), lambda: new_report(failures, rows_col, 100),
                lambda a, b: a.counts == b.counts and a.findings == b.findings)
    rows.append({"step": "import pandera for polars (fresh interpreter, median of 7)", "old": "import pandera.polars",
                 "new": "opimpact.lean_pandera", "old_s": import_time("import polars, pandera.polars"),
                 "new_s": import_time("from opimpact import lean_pandera; lean_pandera.Check")})
    return rows


def _events_schema(package, typed: pl.DataFrame) -> tuple:
    """The events batch schema as validate builds it (no publication dates: X07 passes), with the screen's
    value-wise flags and the repeated columns of the first 60,000 rows."""
    events = package.resources["events"]
    ids = pl.read_csv(package.resources["sources"].path, infer_schema=False, columns=["source_id"])["source_id"]
    rule_checks = (checks.field_checks(events.schema, validate._id_patterns(package, events.schema))
                   + checks.foreign_key_checks(events.schema, {("sources", "source_id"): ids})
                   + checks.date_checks(events.schema) + checks.text_checks(events.schema))
    value_wise: dict[str, list[bool]] = {}
    for check in rule_checks:
        value_wise.setdefault(check.field, []).append(check.value_wise)
    schema = checks.build_schema("events", events.schema, rule_checks, unique=False)
    return schema, value_wise, repeated_columns(typed.head(60_000).select(events.field_names))


def _data(frame: pl.DataFrame, key: str):
    from pandera.api.polars.types import PolarsData

    return PolarsData(frame.lazy(), key)


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1]), indent=1))
