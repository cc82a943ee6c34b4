"""Every README example runs and shows its real output; no code block is empty; the pandas recipe reads the types
right. Refresh the outputs with `PYTHONPATH=scripts python tests/readme_examples.py --update` (see that file)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

import readme_examples as ex
from helpers import read_csv, write_csv

TEXT = ex.README.read_text(encoding="utf-8")
BLOCKS = ex.parse_blocks(TEXT)
EXAMPLES = ex.examples(TEXT)
REFRESH = "run `PYTHONPATH=scripts python tests/readme_examples.py --update` and review the change"


def test_no_code_block_is_empty() -> None:
    empty = [b.name for b in BLOCKS if not any(line.strip() for line in b.body)]
    assert not empty, f"empty code blocks in README.md: {empty}"


def test_every_block_that_shows_a_command_and_its_output_is_run_or_says_why_not() -> None:
    """A `$ command` block, or code with `#>` output, is an example (run by this file) or says why it cannot run."""
    unmarked = [b.name for b in BLOCKS if b.marker is None
                and any(line.startswith(("$ ", ex.OUTPUT_PREFIX)) for line in b.body)]
    assert not unmarked, f"blocks showing output without an example marker: {unmarked}"


def test_every_marker_is_known_and_not_run_says_why() -> None:
    for block in BLOCKS:
        if block.marker is None:
            continue
        if block.kind == "not run":
            assert len(block.marker[1]) > 20, f"{block.name}: say why it is not run"
        else:
            assert block.kind in (*ex.SETUPS, "r", "python"), f"{block.name}: unknown example kind {block.kind!r}"


def test_the_examples_cover_each_kind() -> None:
    """So that the tests below can fail: the README has console, seeded, R and Python examples."""
    assert {b.kind for b in EXAMPLES} >= {"package", "seeded-mistakes", "r", "python"}
    assert any("import pandas" in "\n".join(b.body) for b in EXAMPLES)


@pytest.mark.parametrize("block", EXAMPLES, ids=[b.name for b in EXAMPLES])
def test_example_output_is_current(block: ex.Block, tmp_path: Path) -> None:
    reason = ex.missing_tool(block)
    if reason:
        if os.environ.get("CI") == "true" and "frictionless" not in reason:
            pytest.fail(f"{block.name}: {reason} (CI installs everything the examples need)")
        pytest.skip(reason)
    assert ex.actual(block, tmp_path) == ex.expected(block), f"README example at {block.name} is stale: {REFRESH}"


def test_a_stale_output_is_caught(tmp_path: Path) -> None:
    block = ex.parse_blocks("<!-- example: package -->\n```\n$ opimpact rules --format json | head -c 1\n]\n```\n")[0]
    assert ex.expected(block) == [("opimpact rules --format json | head -c 1", ["]"])]
    assert ex.actual(block, tmp_path) == [("opimpact rules --format json | head -c 1", ["["])]


def test_update_rewrites_only_outputs(tmp_path: Path) -> None:
    text = ("intro\n<!-- example: package -->\n```\n$ opimpact rules --format json | head -c 1\nstale\n```\n"
            "<!-- example: python -->\n```python\nprint('a')\nprint()\nprint('b')\n#> old\n```\n```\n$ shown only\n```\n")
    new, skipped = ex.update(text, tmp_path)
    assert not skipped
    assert new == ("intro\n<!-- example: package -->\n```\n$ opimpact rules --format json | head -c 1\n[\n```\n"
                   "<!-- example: python -->\n```python\nprint('a')\nprint()\nprint('b')\n#> a\n#>\n#> b\n```\n"
                   "```\n$ shown only\n```\n")
    assert ex.update(new, tmp_path)[0] == new


def test_a_command_continues_over_an_open_quote() -> None:
    steps = ex.console_steps(['$ sqlite3 db "SELECT 1', '  FROM t;"', "1", "$ echo \\", "  x", "x"])
    assert steps == [('sqlite3 db "SELECT 1\n  FROM t;"', ["1"]), ("echo \\\n  x", ["x"])]


# ---------------------------------------------------------------- the pandas recipe

def pandas_recipe() -> str:
    block = next(b for b in EXAMPLES if b.kind == "python" and "import pandas" in "\n".join(b.body))
    code, _ = ex.code_and_output(block)
    return code.split("\npersonnel = read_table(")[0]  # the definitions, without the printed example


def test_pandas_recipe_reads_the_types_right(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pd = pytest.importorskip("pandas", reason="pandas is in the test extra: pip install -e '.[test]'")
    package = ex.copy_package(tmp_path / "op-impact")
    # a boolean field and a text "NA", which the shipped tables do not have, to see both read right
    schema_path = package / "schemas" / "sources.schema.json"
    schema = json.loads(schema_path.read_text(encoding="utf-8"))
    schema["fields"].append({"name": "paywall", "type": "boolean"})
    schema_path.write_text(json.dumps(schema, indent=2), encoding="utf-8")
    header, rows = read_csv(package / "data" / "sources.csv")
    rows = [[*row, value] for row, value in zip(rows, ["true", "false", "", "true"], strict=False)]
    rows[0][header.index("notes")] = "NA"
    write_csv(package / "data" / "sources.csv", [*header, "paywall"], rows)

    monkeypatch.chdir(package)
    namespace: dict = {}
    exec(compile(pandas_recipe(), "README.md (pandas recipe)", "exec"), namespace)
    descriptor = json.loads((package / "datapackage.json").read_text(encoding="utf-8"))
    for resource in descriptor["resources"]:
        frame = namespace["read_table"](resource["name"])
        fields = json.loads((package / resource["schema"]).read_text(encoding="utf-8"))["fields"]
        _, cells = read_csv(package / resource["path"])
        assert list(frame.columns) == [f["name"] for f in fields]
        for index, field in enumerate(fields):
            column, name = frame[field["name"]], f"{resource['name']}.{field['name']}"
            enum = field.get("constraints", {}).get("enum")
            if field["type"] == "date":
                assert pd.api.types.is_datetime64_any_dtype(column), name
            elif enum:
                assert isinstance(column.dtype, pd.CategoricalDtype), name
                assert list(column.cat.categories) == enum, name
            else:
                expected = {"integer": "Int64", "number": "Float64", "boolean": "boolean"}.get(field["type"], "string")
                assert str(column.dtype) == expected, f"{name}: {column.dtype}"
            # missing exactly where the cell is empty (the schema's missingValues), nowhere else
            assert column.isna().tolist() == [row[index] == "" for row in cells], name
    sources = namespace["read_table"]("sources")
    assert sources["notes"][0] == "NA"
    assert sources["paywall"].tolist()[:2] == [True, False] and sources["paywall"].isna().tolist()[2]
