"""The working tree's descriptor carries no `bytes` or `hash` (only a release's staged copy and the records do), so
after any valid edit `opimpact validate` and `frictionless validate datapackage.json` agree that it is valid."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from opimpact.cli import cli

from helpers import get_cell, set_cell

REPO = Path(__file__).resolve().parents[1]


def test_the_shipped_descriptor_has_no_bytes_or_hash() -> None:
    descriptor = json.loads((REPO / "datapackage.json").read_text(encoding="utf-8"))
    assert all("bytes" not in r and "hash" not in r for r in descriptor["resources"])


def test_a_one_value_edit_keeps_both_validators_happy(package_copy: Path) -> None:
    from frictionless import validate

    before = get_cell(package_copy, "personnel_levels", 0, "notes")
    set_cell(package_copy, "personnel_levels", 0, "notes", (before + " Corrected.").strip())
    result = CliRunner().invoke(cli, ["validate", str(package_copy)])
    assert result.exit_code == 0, result.output
    report = validate(str(package_copy / "datapackage.json"))
    assert report.valid, report.flatten(["type", "message"])
