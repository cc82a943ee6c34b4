"""Symbolic link loops are refused the same way on every supported Python.

Python 3.10 to 3.12 raise RuntimeError from Path.resolve() on a loop; 3.13 returns the path unresolved. Whatever
the version, a loop must give the same finding or error, never a traceback and never "file not found".
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from opimpact.cli import cli
from opimpact.package import LinkLoop, resolve_inside, resolve_path

from corruption_helpers import assert_calm, csv_path, expect, expect_unreadable, matching

LOOP_MESSAGE = "the path is a symbolic link loop"


def make_loops(folder: Path) -> dict[str, Path]:
    """A link to itself, two links to each other, and a loop reached through a link that leaves the folder."""
    outside = folder.parent / f"{folder.name}-outside"
    outside.mkdir()
    os.symlink("self", folder / "self")
    os.symlink("pong", folder / "ping")
    os.symlink("ping", folder / "pong")
    os.symlink("far", outside / "far")
    os.symlink(outside, folder / "out")
    return {"self": folder / "self", "pair": folder / "ping", "under a loop": folder / "ping" / "x.csv",
            "outside": folder / "out" / "far"}


@pytest.mark.parametrize("kind", ["self", "pair", "under a loop", "outside"])
def test_resolve_path_raises_link_loop(tmp_path, kind):
    root = tmp_path / "root"
    root.mkdir()
    with pytest.raises(LinkLoop):
        resolve_path(make_loops(root)[kind])


def test_resolve_path_resolves_links_and_missing_paths(tmp_path):
    (tmp_path / "real.csv").write_text("a\n")
    os.symlink("real.csv", tmp_path / "link.csv")
    os.symlink("nowhere.csv", tmp_path / "dangling.csv")
    assert resolve_path(tmp_path / "link.csv") == (tmp_path / "real.csv").resolve()
    assert resolve_path(tmp_path / "missing" / "x.csv") == tmp_path.resolve() / "missing" / "x.csv"
    assert resolve_path(tmp_path / "dangling.csv") == tmp_path.resolve() / "nowhere.csv"


@pytest.mark.parametrize("kind", ["self", "pair", "under a loop", "outside"])
def test_resolve_inside_names_the_loop(tmp_path, kind):
    """A loop outside the package is a loop first: the message must not depend on where the loop lies."""
    root = tmp_path / "root"
    root.mkdir()
    relative = make_loops(root)[kind].relative_to(root).as_posix()
    assert resolve_inside(root, relative) == (None, LOOP_MESSAGE)


def test_two_link_loop_as_data_file_is_refused(package_copy):
    path = csv_path(package_copy, "quotes")
    path.unlink()
    os.symlink("quotes-twin.csv", path)
    os.symlink(path.name, path.with_name("quotes-twin.csv"))
    report = expect(package_copy, "D03", "quotes", None, "path", file="datapackage.json")
    assert matching(report, "D03", "quotes")[0]["message"].endswith(LOOP_MESSAGE)


def test_looping_package_argument_is_unreadable(tmp_path):
    os.symlink("package", tmp_path / "package")
    expect_unreadable(tmp_path / "package", "D01", LOOP_MESSAGE)


@pytest.mark.parametrize("mode", ["--dry-run", "--reproduce"])
def test_release_of_a_looping_folder_is_a_usage_error(tmp_path, mode):
    os.symlink("package", tmp_path / "package")
    result = CliRunner().invoke(cli, ["release", "1.0.1", str(tmp_path / "package"), mode])
    assert_calm(result)
    assert result.exit_code == 2, result.output
    assert LOOP_MESSAGE in result.output, result.output
