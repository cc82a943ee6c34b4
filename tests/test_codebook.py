"""The codebook: generated from the schemas, never stale, and safe Markdown whatever the descriptions say."""

from __future__ import annotations

import re
from pathlib import Path

from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from opimpact.cli import cli
from opimpact.codebook import HEADER, FieldEntry, TableEntry, build_codebook, render_markdown
from opimpact.package import Package

from export_sample import resource_names, schema_of
from helpers import read_csv, write_csv

REPO = Path(__file__).resolve().parents[1]
COMMITTED = REPO / "docs" / "codebook.md"
UNESCAPED_PIPE = re.compile(r"(?<!\\)\|")


def test_committed_codebook_is_not_stale(tmp_path: Path) -> None:
    fresh = tmp_path / "codebook.md"
    result = CliRunner().invoke(cli, ["export", "codebook", str(REPO), "--out", str(fresh)])
    assert result.exit_code == 0, result.output
    assert COMMITTED.is_file(), "docs/codebook.md is missing: run `opimpact export codebook`"
    assert fresh.read_bytes() == COMMITTED.read_bytes(), (
        "docs/codebook.md is stale: the schemas or data changed. Run `opimpact export codebook` and commit it.")


def test_check_flag_reports_stale_and_fresh(sample_package: Path, tmp_path: Path) -> None:
    out = tmp_path / "codebook.md"
    runner = CliRunner()
    assert runner.invoke(cli, ["export", "codebook", str(sample_package), "--out", str(out), "--check"]).exit_code == 1
    assert not out.exists()
    assert runner.invoke(cli, ["export", "codebook", str(sample_package), "--out", str(out)]).exit_code == 0
    assert runner.invoke(cli, ["export", "codebook", str(sample_package), "--out", str(out), "--check"]).exit_code == 0
    schema_path = sample_package / "schemas" / "events.schema.json"
    schema_path.write_text(schema_path.read_text(encoding="utf-8").replace("Stable identifier", "Identifier"),
                           encoding="utf-8")
    stale = runner.invoke(cli, ["export", "codebook", str(sample_package), "--out", str(out), "--check"])
    assert stale.exit_code == 1 and "stale" in stale.output


def test_every_table_and_field_with_type_required_and_example(sample_package: Path) -> None:
    text = build_codebook(sample_package)
    for name in resource_names(sample_package):
        assert f"\n## {name}\n" in text
        section = text.split(f"\n## {name}\n", 1)[1].split("\n## ", 1)[0]
        header, rows = read_csv(sample_package / "data" / f"{name}.csv")
        for field in schema_of(sample_package, name)["fields"]:
            line = next(line for line in section.splitlines() if line.startswith(f"| `{field['name']}`"))
            cells = [c.strip() for c in UNESCAPED_PIPE.split(line)[1:-1]]
            assert cells[1] == field["type"]
            required = field.get("constraints", {}).get("required") or field["name"] in schema_of(
                sample_package, name).get("primaryKey", [])
            assert cells[2] == ("yes" if required else "no")
            assert cells[4].replace("\\|", "|") == field["description"]
            values = [row[header.index(field["name"])] for row in rows if row[header.index(field["name"])]]
            if values and len(values[0]) < 50 and "\n" not in values[0]:
                assert cells[5] == f"`{values[0]}`"
            elif not values:
                assert cells[5] == ""


def test_constraints_are_listed(sample_package: Path) -> None:
    text = build_codebook(sample_package)
    assert "primary key; pattern `^ev-[0-9]{4}$`" in text
    assert "references sources.source_id" in text
    assert "one of: occurred, ongoing, planned" in text
    assert "1 to 250 characters" in text and "at least 0" in text


def test_examples_follow_the_data(sample_package: Path) -> None:
    path = sample_package / "data" / "events.csv"
    header, rows = read_csv(path)
    rows[0][header.index("place")] = ""
    write_csv(path, header, rows)
    text = build_codebook(sample_package)
    place = next(line for line in text.splitlines() if line.startswith("| `place`"))
    assert place.rstrip().endswith("| `Mosul` |")  # the first non-empty value now


def test_unreadable_descriptor_exits_2(tmp_path: Path) -> None:
    (tmp_path / "datapackage.json").write_text("[]", encoding="utf-8")
    result = CliRunner().invoke(cli, ["export", "codebook", str(tmp_path), "--out", str(tmp_path / "c.md")])
    assert result.exit_code == 2 and not (tmp_path / "c.md").exists()


def test_missing_schema_exits_1(sample_package: Path, tmp_path: Path) -> None:
    (sample_package / "schemas" / "quotes.schema.json").unlink()
    result = CliRunner().invoke(cli, ["export", "codebook", str(sample_package), "--out", str(tmp_path / "c.md")])
    assert result.exit_code == 1 and "schema" in result.output
    assert not (tmp_path / "c.md").exists()


awkward = st.text(alphabet=st.sampled_from(list("ab |`\\\n\r*_<>")), max_size=40)


@given(description=awkward, example=awkward, title=awkward, pattern=awkward)
def test_any_text_keeps_the_table_intact(description: str, example: str, title: str, pattern: str) -> None:
    entry = FieldEntry("t", "f", title, "string", False, f"pattern {pattern}", f"pattern {pattern}", description,
                       example)
    table = TableEntry("t", title, description, "data/t.csv", ["f"], [], [entry])
    text = render_markdown(Package(root=Path("."), descriptor={"title": "x"}, label="x"), [table])
    rows = [line for line in text.split("\n") if line.startswith("| `f`")]
    assert len(rows) == 1, "a field's row must stay on one line"
    assert len(UNESCAPED_PIPE.findall(rows[0])) == len(HEADER) + 1
    assert "\r" not in text
