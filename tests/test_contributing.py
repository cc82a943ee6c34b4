"""The contributor's path of CONTRIBUTING.md, walked end to end on a fake article in a temporary copy: add the
article, fill in its source row, add an event and a quote with verbatim evidence, validate against the archive,
see the hint a one-character slip gets, describe the change under [Unreleased] and release.

It runs on the package's own descriptor and schemas with empty tables and an archive holding only the fake
article (no archive needed), and on a copy of the shipped package and archive when OPIMPACT_ARCHIVE is set.
The commands are CONTRIBUTING.md's own, run through CliRunner from the package folder with the archive at
../shared/sources and the article at ../bakery.txt, as there; on the shipped copy the output add-source prints
must be the one CONTRIBUTING.md shows.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import re
import shlex
import shutil
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from opimpact.cli import cli
from opimpact.edtfdates import read
from opimpact.release import RELEASE_DOCS
from opimpact.release_text import DESCRIPTIONS_TEMPLATE, README_TEMPLATE

from export_sample import REPO, make_sample_package

CONTRIBUTING = REPO / "CONTRIBUTING.md"
PACKAGE_PARTS = ("datapackage.json", "data", "schemas")
RELEASE_FILES = ("README.md", "LICENSE", "CITATION.cff", ".zenodo.json", *RELEASE_DOCS, README_TEMPLATE,
                 DESCRIPTIONS_TEMPLATE)
TABLES = ("sources", "events", "assets", "personnel_levels", "quotes")
ARTICLE = """Fakeville Gazette

Canada sends a field bakery to Testland

TESTVILLE, March 5, 2018 — Canada will send a field bakery to Testland next month, the defence minister said on Monday.

“The bakers will be there by spring,” Harjit Sajjan told reporters. About 40 bakers will deploy with two
mobile ovens, he added.
"""
NEXT = "1.3.0"  # the version CONTRIBUTING.md's release step names: the one after the latest release
QUOTE_EVIDENCE = "“The bakers will be there by spring,” Harjit Sajjan told reporters."


def run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def documented(start: str, dry_run: bool = False) -> list[str]:
    """The arguments of the one command in CONTRIBUTING.md's sh blocks that starts with `start` (and has
    --dry-run, or not)."""
    found = [c for c in _commands(CONTRIBUTING.read_text(encoding="utf-8"))
             if c.startswith(start) and ("--dry-run" in shlex.split(c)) == dry_run]
    assert len(found) == 1, (start, found)
    return shlex.split(found[0])[1:]


def documented_output(after: str) -> str:
    """The text block that follows the first line containing `after` in CONTRIBUTING.md."""
    text = CONTRIBUTING.read_text(encoding="utf-8")
    return re.search(r"```text\n(.*?)```", text[text.index(after):], flags=re.S).group(1)


def _same_but_numbers(text: str) -> str:
    """Output with the source ID and the archive number made generic (they depend on the base package)."""
    return re.sub(r"\b[0-9]{3}_(?=[0-9a-f]{16})", "NNN_", re.sub(r"src-[0-9]{4}", "src-NNNN", text))


def empty_package(root: Path) -> Path:
    """The package's descriptor and schemas with no rows, and an empty archive."""
    make_sample_package(root / "op-impact", rows={name: [] for name in TABLES})
    (root / "shared" / "sources").mkdir(parents=True)
    return root / "op-impact"


def shipped_package(root: Path) -> Path:
    """A copy of the shipped package (without its release history) and of the archive."""
    archive = Path(os.environ.get("OPIMPACT_ARCHIVE", "") or "/nonexistent")
    if not archive.is_dir():
        pytest.skip("the sources archive is not available: set OPIMPACT_ARCHIVE to shared/sources (CI always does)")
    (root / "op-impact").mkdir()
    for part in PACKAGE_PARTS:
        (shutil.copytree if (REPO / part).is_dir() else shutil.copy)(REPO / part, root / "op-impact" / part)
    shutil.copytree(archive, root / "shared" / "sources")
    for path in (root / "shared" / "sources").iterdir():
        path.chmod(0o644)
    return root / "op-impact"


def read_table(package: Path, name: str) -> tuple[list[str], list[dict[str, str]]]:
    with open(package / "data" / f"{name}.csv", encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        return list(reader.fieldnames or []), list(reader)


def write_table(package: Path, name: str, header: list[str], rows: list[dict[str, str]]) -> None:
    """Write a table in the house format (UTF-8, LF, quoted only where needed), as a careful editor would."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, header, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    (package / "data" / f"{name}.csv").write_bytes(buffer.getvalue().encode("utf-8"))


def next_id(rows: list[dict[str, str]], key: str, prefix: str) -> str:
    return f"{prefix}-{max((int(r[key].split('-')[1]) for r in rows), default=0) + 1:04d}"


def date_group(stem: str, edtf: str) -> dict[str, str]:
    reading = read(edtf)
    values = {"edtf": edtf, "start": reading.start, "end": reading.end, "precision": reading.precision,
              "earliest": reading.earliest, "latest": reading.latest}
    return {f"{stem}_{part}": "" if value is None else str(value) for part, value in values.items()}


@pytest.mark.parametrize("base", [empty_package, shipped_package], ids=["empty", "shipped"])
def test_the_contributors_path_end_to_end(tmp_path: Path, monkeypatch, base) -> None:
    package = base(tmp_path)
    for name in RELEASE_FILES:
        (package / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / name, package / name)
    (package / "CHANGELOG.md").write_text("# Changelog\n\n## [Unreleased]\n\n", encoding="utf-8")
    (tmp_path / "bakery.txt").write_text(ARTICLE, encoding="utf-8")
    monkeypatch.chdir(package)
    archive = tmp_path / "shared" / "sources"

    # 2. add the article: it is archived under its computed name and gets a source row
    before = {p.name: p.read_bytes() for p in [*archive.iterdir(), *(package / "data").iterdir()]}
    result = run(*documented("opimpact add-source", dry_run=True))
    assert result.exit_code == 0, result.output
    assert {p.name: p.read_bytes() for p in [*archive.iterdir(), *(package / "data").iterdir()]} == before
    dry = result.output
    result = run(*documented("opimpact add-source"))
    assert result.exit_code == 0, result.output
    assert result.output.replace("added", "would add", 1).replace("appended", "would append", 1) == dry.replace(
        " (dry run: nothing was written)", "")
    header, sources = read_table(package, "sources")
    source = sources[-1]
    assert (archive / source["archive_file"]).read_text(encoding="utf-8") == ARTICLE
    assert f"fill in by hand, in row {source['source_id']}" in result.output and "  notes:" in result.output
    if base is shipped_package:  # CONTRIBUTING.md shows this run
        assert _same_but_numbers(result.output) == _same_but_numbers(documented_output("The second command copies"))

    # 3. fill in what only a reader can: how the date was worked out
    source["notes"] = "Publication day from the dateline."
    write_table(package, "sources", header, sources)

    # 4. rows in the other tables, each with evidence copied character for character (a line break in the
    # article is one space in the excerpt)
    header, events = read_table(package, "events")
    event_id = next_id(events, "event_id", "ev")
    events.append({**dict.fromkeys(header, ""), "event_id": event_id, **date_group("date", "2018-03-05"),
                   "date_kind": "single", "status": "occurred", "category": "statement",
                   "summary": "The defence minister announced that a bakery unit would deploy to Testland.",
                   "actor": "Harjit Sajjan", "attribution": "minister", "source_id": source["source_id"],
                   "evidence": "Canada will send a field bakery to Testland next month, the defence minister said "
                               "on Monday."})
    write_table(package, "events", header, events)
    header, assets = read_table(package, "assets")
    assets.append({**dict.fromkeys(header, ""), "asset_id": next_id(assets, "asset_id", "as"), "kind": "equipment",
                   "name": "Mobile oven", "contribution": "committed", "role": "baking bread for the deployed bakers",
                   "quantity": "2", "source_id": source["source_id"],
                   "evidence": "About 40 bakers will deploy with two mobile ovens"})
    write_table(package, "assets", header, assets)
    header, levels = read_table(package, "personnel_levels")
    levels.append({**dict.fromkeys(header, ""), "personnel_id": next_id(levels, "personnel_id", "pl"),
                   **date_group("date", "2018-03-05"), "date_kind": "as_of", "count": "40",
                   "qualifier": "approximately", "measure": "reported_estimate", "special_forces": "unstated",
                   "scope": "Canadian bakers due to go to Testland", "attribution": "minister",
                   "source_id": source["source_id"],
                   "evidence": "About 40 bakers will deploy with two mobile ovens, he added."})
    write_table(package, "personnel_levels", header, levels)
    header, quotes = read_table(package, "quotes")
    quotes.append({**dict.fromkeys(header, ""), "quote_id": next_id(quotes, "quote_id", "qu"),
                   "text": "The bakers will be there by spring", "kind": "statement", "speaker": "Harjit Sajjan",
                   "speaker_role": "Minister of National Defence", **date_group("date", "2018-03-05"),
                   "event_id": event_id, "source_id": source["source_id"], "evidence": QUOTE_EVIDENCE,
                   "notes": "Trailing comma before the attribution dropped."})
    write_table(package, "quotes", header, quotes)

    # 5. validate against the archive
    result = run(*documented("opimpact validate"))
    assert result.exit_code == 0, result.output
    assert result.output.startswith("valid:")

    # a straight quotation mark for a curly one: exit 1, and the hint names both characters
    quotes[-1]["evidence"] = QUOTE_EVIDENCE.replace("”", '"')
    write_table(package, "quotes", header, quotes)
    result = run(*documented("opimpact validate"))
    assert result.exit_code == 1
    assert "P04" in result.output
    assert ("the excerpt has U+0022 QUOTATION MARK ('\"') where the source has U+201D RIGHT DOUBLE QUOTATION MARK "
            "('”')") in result.output
    quotes[-1]["evidence"] = QUOTE_EVIDENCE
    write_table(package, "quotes", header, quotes)

    # 7. describe the change under [Unreleased]; 8. release (the maintainers' step), which dates it
    entry = documented_output("Add a line to `CHANGELOG.md`").replace("src-0005", source["source_id"]).replace(
        "ev-0062", event_id)
    (package / "CHANGELOG.md").write_text(f"# Changelog\n\n{entry}", encoding="utf-8")
    snapshot = {p: p.read_bytes() for p in package.rglob("*") if p.is_file()}
    result = run(*documented(f"opimpact release {NEXT}", dry_run=True))
    assert result.exit_code == 0, result.output
    assert {p: p.read_bytes() for p in package.rglob("*") if p.is_file()} == snapshot
    days = {dt.datetime.now(dt.timezone.utc).date()}
    result = run(*documented(f"opimpact release {NEXT} --archive"))
    days.add(dt.datetime.now(dt.timezone.utc).date())
    assert result.exit_code == 0, result.output
    record = json.loads((package / "releases" / f"{NEXT}.json").read_text(encoding="utf-8"))
    assert dt.date.fromisoformat(record["date"]) in days
    changelog = (package / "CHANGELOG.md").read_text(encoding="utf-8")
    assert changelog.startswith(f"# Changelog\n\n## [Unreleased]\n\n## [{NEXT}] - {record['date']}\n\n"
                                f"### Added\n\n- {source['source_id']}, the Fakeville Gazette article")
    assert {a["name"] for a in record["artifacts"]} >= {f"op-impact-{NEXT}.zip", "SHA256SUMS"}


# ---------------------------------------------------------------- the document itself

def _commands(text: str) -> list[str]:
    """Every `opimpact ...` command line in the fenced sh blocks of a Markdown text."""
    blocks = re.findall(r"^```sh\n(.*?)^```", text, flags=re.M | re.S)
    return [line.strip() for block in blocks for line in block.splitlines() if line.strip().startswith("opimpact ")]


def test_every_command_in_contributing_is_real() -> None:
    commands = _commands(CONTRIBUTING.read_text(encoding="utf-8"))
    assert {shlex.split(c)[1] for c in commands} >= {"add-source", "validate", "release"}
    for command in commands:
        words = shlex.split(command.split(" #")[0])[1:]
        group, name = cli, words.pop(0)
        found = group.get_command(click.Context(group), name)
        if isinstance(found, click.Group):
            found = found.get_command(click.Context(found), words.pop(0))
        assert found is not None, command
        options = {opt for param in found.params for opt in getattr(param, "opts", [])}
        used = {word.split("=")[0] for word in words if word.startswith("--")}
        assert used <= options | {"--help"}, (command, used - options)


def test_the_release_step_names_the_version_after_the_latest_release() -> None:
    """CONTRIBUTING.md's release step goes stale with every release: this says when."""
    latest = max(tuple(int(part) for part in p.stem.split(".")) for p in (REPO / "releases").glob("*.json")
                  if re.fullmatch(r"[0-9]+\.[0-9]+\.[0-9]+", p.stem))
    assert f"{latest[0]}.{latest[1] + 1}.0" == NEXT, f"CONTRIBUTING.md should release {latest[0]}.{latest[1] + 1}.0"
    assert f"after {'.'.join(map(str, latest))} it is {NEXT}" in CONTRIBUTING.read_text(encoding="utf-8")
