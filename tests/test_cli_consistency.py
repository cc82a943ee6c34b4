"""One command line: every command that reads a package takes it the same way, every option and argument is
described, and `--format` offers text (the default) and json wherever a machine would read the output."""

from __future__ import annotations

import json
import os
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from opimpact.cli import cli

from release_helpers import make_release_fixture


def commands(group: click.Group = cli, prefix: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], click.Command]]:
    found = []
    for name, command in sorted(group.commands.items()):
        found.append(((*prefix, name), command))
        if isinstance(command, click.Group):
            found.extend(commands(command, (*prefix, name)))
    return found


LEAVES = [(path, command) for path, command in commands() if not isinstance(command, click.Group)]
IDS = [" ".join(path) for path, _ in LEAVES]
# Commands that read one package and take it as the optional PACKAGE argument (verify calls it TARGET: a
# package, a release folder, a zip or one artifact; diff reads two, OLD and NEW); rules reads none.
PACKAGE_COMMANDS = {"validate", "export xlsx", "export parquet", "export sqlite", "export codebook", "plot",
                    "release", "cite"}


def run(*args: str, cwd: Path | None = None):
    runner = CliRunner()
    if cwd is None:
        return runner.invoke(cli, list(args))
    here = Path.cwd()
    os.chdir(cwd)
    try:
        return runner.invoke(cli, list(args))
    finally:
        os.chdir(here)


@pytest.mark.parametrize(("path", "command"), LEAVES, ids=IDS)
def test_every_option_has_help_and_every_argument_is_described(path, command) -> None:
    """Click arguments take no help text: each is described, by its name in capitals, in the docstring."""
    for param in command.params:
        if isinstance(param, click.Option):
            assert param.help and len(param.help.strip()) > 10, f"opimpact {' '.join(path)} {param.opts[0]} has no help"
        else:
            name = param.human_readable_name
            assert name in (command.help or ""), f"opimpact {' '.join(path)}: the docstring never describes {name}"


def test_the_help_walk_sees_every_kind_of_parameter() -> None:
    """The walk above can fail: it reaches options, arguments and nested groups."""
    kinds = {type(p) for _, c in LEAVES for p in c.params}
    assert {click.Option, click.Argument} <= kinds
    assert any(len(path) == 2 for path, _ in LEAVES)


@pytest.mark.parametrize(("path", "command"), [(p, c) for p, c in LEAVES if " ".join(p) in PACKAGE_COMMANDS],
                         ids=sorted(PACKAGE_COMMANDS))
def test_package_is_an_optional_argument_defaulting_to_the_current_folder(path, command) -> None:
    package = [p for p in command.params if isinstance(p, click.Argument) and p.name == "package"]
    assert package, f"opimpact {' '.join(path)} does not take PACKAGE"
    assert not package[0].required and package[0].default == "."
    visible = [p for p in command.params if isinstance(p, click.Option) and "--package" in p.opts and not p.hidden]
    assert not visible, "--package is only a hidden, deprecated alias"


def test_verify_and_diff_default_to_the_current_folder() -> None:
    by_name = {" ".join(p): c for p, c in LEAVES}
    target = next(p for p in by_name["verify"].params if p.name == "target")
    new = next(p for p in by_name["diff"].params if p.name == "new")
    assert target.default == "." and new.default == "."


@pytest.mark.parametrize(("path", "command"), LEAVES, ids=IDS)
def test_format_offers_text_by_default_and_json(path, command) -> None:
    formats = [p for p in command.params if isinstance(p, click.Option) and "--format" in p.opts]
    assert formats, f"opimpact {' '.join(path)} has no --format"
    choices = list(formats[0].type.choices)
    assert choices[:2] == ["text", "json"], choices
    assert formats[0].default == "text"


def test_deprecated_package_option_still_works_and_says_so(tmp_path: Path) -> None:
    root = make_release_fixture(tmp_path / "pkg")
    old = run("cite", "--package", str(root))
    new = run("cite", str(root))
    assert old.exit_code == new.exit_code == 0, old.output
    assert old.stdout == new.stdout
    assert "--package is deprecated" in old.stderr and "--package" not in new.stderr
    both = run("cite", str(root), "--package", str(root))
    assert both.exit_code == 2 and "give the package once" in both.stderr
    dry = run("release", "1.0.0", "--package", str(root), "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "--package is deprecated" in dry.stderr


def test_exports_and_plot_report_what_they_wrote_in_json(sample_package: Path, tmp_path: Path) -> None:
    for argv, names in ((["export", "xlsx", "--out", "x.xlsx"], ["x.xlsx"]),
                        (["export", "sqlite", "--out", "x.sqlite"], ["x.sqlite", "x.metadata.json"]),
                        (["export", "codebook", "--out", "c.md"], ["c.md"]),
                        (["plot", "--out", "t.svg"], ["t.svg"])):
        result = run(*argv, "--format", "json", cwd=sample_package)
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout) == {"written": names}
    parquet = json.loads(run("export", "parquet", "--out", "pq", "--format", "json", cwd=sample_package).stdout)
    assert sorted(Path(p).name for p in parquet["written"]) == sorted(f"{n}.parquet" for n in
                                                                      ("events", "assets", "personnel_levels",
                                                                       "sources", "quotes"))
    check = run("export", "codebook", "--out", "c.md", "--check", "--format", "json", cwd=sample_package)
    assert check.exit_code == 0 and json.loads(check.stdout) == {"checked": "c.md", "current": True}
    (sample_package / "c.md").write_text("stale\n", encoding="utf-8")
    stale = run("export", "codebook", "--out", "c.md", "--check", "--format", "json", cwd=sample_package)
    assert stale.exit_code == 1 and json.loads(stale.stdout) == {"checked": "c.md", "current": False}


def test_json_failures_are_json_documents(tmp_path: Path) -> None:
    for argv in (["export", "xlsx", str(tmp_path / "nowhere"), "--out", str(tmp_path / "x.xlsx")],
                 ["diff", str(tmp_path / "nowhere"), str(tmp_path / "nowhere")]):
        result = run(*argv, "--format", "json")
        assert result.exit_code == 2, result.output
        document = json.loads(result.stdout)
        assert document["exit_code"] == 2 and "nowhere" in document["error"]


def test_diff_text_is_the_default_and_markdown_a_choice(sample_package: Path) -> None:
    text = run("diff", str(sample_package), str(sample_package))
    assert text.exit_code == 0 and "No changes." in text.stdout and not text.stdout.startswith("#")
    markdown = run("diff", str(sample_package), str(sample_package), "--format", "markdown")
    assert markdown.stdout.startswith("# Data changes")
