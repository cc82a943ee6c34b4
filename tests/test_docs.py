"""The documentation matches the code: every command is documented, and the README's commands are the real ones."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from opimpact.cli import cli

REPO = Path(__file__).resolve().parent.parent
README = (REPO / "README.md").read_text(encoding="utf-8")


def all_commands(group=cli, prefix=()) -> list[tuple[str, ...]]:
    found = []
    for name, command in sorted(group.commands.items()):
        path = (*prefix, name)
        found.append(path)
        if hasattr(command, "commands"):
            found.extend(all_commands(command, path))
    return found


@pytest.mark.parametrize("command", all_commands(), ids=" ".join)
def test_every_command_is_documented_in_readme(command):
    assert f"opimpact {' '.join(command)}" in README, f"README never shows `opimpact {' '.join(command)}`"


@pytest.mark.parametrize("command", all_commands(), ids=" ".join)
def test_every_command_has_help(command):
    result = CliRunner().invoke(cli, [*command, "--help"])
    assert result.exit_code == 0
    assert "Usage:" in result.output
    leaf = cli
    for name in command:
        leaf = leaf.commands[name]
    assert leaf.help and len(leaf.help.strip()) > 20, "commands need a real description"


def test_readme_test_command_is_what_ci_runs():
    ci_line = next(line for line in (REPO / ".ci" / "run").read_text().splitlines()
                   if line.startswith("pip install"))
    assert ci_line in README


def test_readme_names_two_setup_commands():
    setup = README.split("## Set up", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"^pip install .*$", setup, flags=re.MULTILINE)
    assert len(commands) == 2
    assert any("opimpact validate" in c for c in commands)
    assert any("pytest" in c for c in commands)


def test_unknown_command_is_a_usage_error():
    result = CliRunner().invoke(cli, ["no-such-command"])
    assert result.exit_code == 2
