"""The row diff (polars joins over the CSV reader) agrees with a plain reference diff on Python dicts, on small
generated tables: single, composite and missing primary keys, empty cells, keys that come and go, re-keyed rows,
and listings cut short while the counts stay exact."""

from __future__ import annotations

import csv
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from opimpact import diff
from opimpact.diff import diff_tables
from opimpact.package import Resource

FIELDS = ["k1", "k2", "v1", "v2"]
PRIMARY_KEYS = {"one field": ["k1"], "two fields": ["k1", "k2"], "none": []}
# few values, so keys and contents repeat; with '|' inside cells, two composite keys can join to the same text
KEY_CELLS = st.sampled_from([None, "a", "b", "a|b", "b|a", "é, \"q\""])
VALUE_CELLS = st.sampled_from([None, "x", "y", " z"])
ROWS = st.tuples(KEY_CELLS, KEY_CELLS, VALUE_CELLS, VALUE_CELLS).filter(any)  # the reader drops a blank row


def distinct(rows: list[tuple], primary_key: list[str]) -> list[tuple]:
    """The first row of each primary key (of each whole row when there is none): duplicate-free keys."""
    index = [FIELDS.index(name) for name in primary_key] or range(len(FIELDS))
    seen, out = set(), []
    for row in rows:
        if (key := tuple(row[i] for i in index)) not in seen:
            seen.add(key)
            out.append(row)
    return out


@st.composite
def table_pairs(draw, primary_key: list[str]) -> tuple[list[tuple], list[tuple]]:
    """An old table and a new one made from it: rows kept, changed, re-keyed or dropped, rows added, the
    order shuffled."""
    old = distinct(draw(st.lists(ROWS, max_size=8)), primary_key)
    new = []
    for row in old:
        action = draw(st.sampled_from(["keep", "change", "rekey", "drop"]))
        if action == "change":
            row = (*row[:2], draw(VALUE_CELLS), row[3])
        elif action == "rekey":
            row = (draw(KEY_CELLS), draw(KEY_CELLS), *row[2:])
        if action != "drop" and any(row):
            new.append(row)
    new = draw(st.permutations(new + draw(st.lists(ROWS, max_size=4))))
    return old, distinct(new, primary_key)


def write_resource(folder: Path, name: str, rows: list[tuple], primary_key: list[str]) -> Resource:
    path = folder / f"{name}.csv"
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(FIELDS)
        writer.writerows([["" if cell is None else cell for cell in row] for row in rows])
    schema: dict = {"fields": [{"name": f, "type": "string"} for f in FIELDS]}
    if primary_key:
        schema["primaryKey"] = primary_key
    return Resource("table", {"name": "table", "path": f"{name}.csv"}, path, schema)


def reference(old: list[tuple], new: list[tuple], primary_key: list[str], limit: int) -> dict:
    """The diff as the first implementation computed it, with Python dicts of whole tables."""
    def keyed(rows: list[tuple]) -> dict[str, dict]:
        out: dict[str, dict] = {}
        for line, row in enumerate(rows, start=2):  # no cell holds a line break: one CSV line per row
            record = dict(zip(FIELDS, row, strict=True))
            parts = [record[name] for name in primary_key or FIELDS]
            out.setdefault("|".join(parts) if all(parts) else f"(line {line})", record)
        return out

    before, after = keyed(old), keyed(new)
    removed = [k for k in before if k not in after]
    added = [k for k in after if k not in before]
    changed = [(k, [(f, before[k][f], after[k][f]) for f in FIELDS if before[k][f] != after[k][f]])
               for k in before if k in after]
    changed = [(k, fields) for k, fields in changed if fields]
    content = [f for f in FIELDS if f not in primary_key]
    waiting: dict[tuple, list[str]] = {}
    for key in added:
        waiting.setdefault(tuple(after[key][f] for f in content), []).append(key)
    rekeyed = []
    for key in removed:
        signature = tuple(before[key][f] for f in content)
        if any(signature) and waiting.get(signature):
            rekeyed.append((key, waiting[signature].pop(0)))
    removed = [k for k in removed if k not in {old for old, _ in rekeyed}]
    added = [k for k in added if k not in {new for _, new in rekeyed}]
    return {"rows": (len(before), len(after)),
            "counts": {"added": len(added), "removed": len(removed), "rekeyed": len(rekeyed), "changed": len(changed)},
            "added": added[:limit], "removed": removed[:limit], "rekeyed": rekeyed[:limit], "changed": changed[:limit]}


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), kind=st.sampled_from(sorted(PRIMARY_KEYS)), limit=st.sampled_from([1, 2, 1000]),
       batch=st.sampled_from([1, 7, 16 << 20]))
def test_row_diff_agrees_with_a_dict_reference(monkeypatch, data, kind, limit, batch) -> None:
    """Whatever the batches the new table is compared in (1 byte: a record a batch)."""
    primary_key = PRIMARY_KEYS[kind]
    old, new = data.draw(table_pairs(primary_key), label="old and new rows")
    monkeypatch.setattr(diff, "ROW_LIST_LIMIT", limit)
    monkeypatch.setattr(diff, "BATCH_BYTES", batch)
    with tempfile.TemporaryDirectory() as tmp:
        result = diff_tables(write_resource(Path(tmp), "old", old, primary_key),
                             write_resource(Path(tmp), "new", new, primary_key))
    got = {"rows": (result.rows_old, result.rows_new), "counts": result.row_counts,
           "added": result.rows_added, "removed": result.rows_removed, "rekeyed": result.rows_rekeyed,
           "changed": [(row.key, row.fields) for row in result.rows_changed]}
    assert got == reference(old, new, primary_key, limit)
