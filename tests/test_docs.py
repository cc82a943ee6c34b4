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


def setup_commands() -> list[str]:
    setup = README.split("## Set up", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^python3 -m venv .*$", setup, flags=re.MULTILINE)


def test_readme_test_command_is_what_ci_runs():
    ci_line = next(line for line in (REPO / ".ci" / "run").read_text().splitlines()
                   if line.startswith("python3 -m venv"))
    assert ci_line in setup_commands()


def test_readme_names_two_setup_commands_each_in_its_own_virtual_environment():
    commands = setup_commands()
    assert len(commands) == 2
    assert [("opimpact validate" in c, "pytest" in c) for c in commands] == [(True, False), (False, True)]
    assert all(c.startswith("python3 -m venv .venv && . .venv/bin/activate && pip install") for c in commands)
    assert "--archive" not in commands[0], "the main command must work without the (unpublished) archive"


def test_ci_runs_the_readme_main_command_without_the_archive():
    ci = (REPO / ".ci" / "run").read_text()
    assert 'bash -c "$main_command"' in ci and "without the sources archive" in ci


def test_unknown_command_is_a_usage_error():
    result = CliRunner().invoke(cli, ["no-such-command"])
    assert result.exit_code == 2


def signature(command: tuple[str, ...]) -> str:
    """`opimpact export xlsx [PACKAGE]`: the command with its arguments, optional ones in brackets."""
    import click

    leaf = cli
    for name in command:
        leaf = leaf.commands[name]
    arguments = [p.human_readable_name if p.required else f"[{p.human_readable_name}]"
                 for p in leaf.params if isinstance(p, click.Argument)]
    return " ".join(["opimpact", *command, *arguments])


@pytest.mark.parametrize("command", [c for c in all_commands() if c != ("export",)], ids=" ".join)
def test_commands_table_shows_each_command_with_its_arguments(command):
    table = README.split("## Commands", 1)[1].split("\n## ", 1)[0]
    assert f"| `{signature(command)}` |" in table, f"the README's Commands table lacks `{signature(command)}`"
