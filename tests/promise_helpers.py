"""Run any opimpact command on a hostile input and check the promises every command makes (README, "Limits and
safety"): a documented exit code, no traceback, the file (row, field) named, inputs byte-identical, no partial,
stray or temporary output, terminal-safe text, no network. Shared by test_promises.py and test_promises_fuzz.py.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import stat
import subprocess
import tempfile
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from click.testing import CliRunner, Result

from opimpact.cli import INTERNAL_ERROR, cli

from release_helpers import GIT_ENV, commit_all, init_repo, make_release_fixture

# Characters that must never reach the terminal raw: controls (but the line feed), format characters (bidi
# overrides, zero-width, BOM), surrogates, private-use and unassigned code points, line/paragraph separators, and
# spaces other than U+0020. Defined here from Unicode categories, independently of opimpact.report.
_UNSAFE_CATEGORIES = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp", "Zs"}


def reports_a_bug(output: str) -> bool:
    """Whether the output holds the CLI's message for a bug: a line of its own that starts with the words
    (an input's text, a file name say, reaches the output escaped and inside a message, never as such a line)."""
    return any(line.startswith(f"{INTERNAL_ERROR}: ") for line in output.splitlines())


def unsafe_characters(text: str) -> list[str]:
    return sorted({c for c in text if c not in "\n " and unicodedata.category(c) in _UNSAFE_CATEGORIES})


def tree_state(root: Path) -> dict[str, object]:
    """Every entry under root (outside .git): file bytes, link targets, folders and FIFOs; nothing is opened that
    could block."""
    state: dict[str, object] = {}
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d != ".git"]
        for name in dirs + files:
            path = Path(folder) / name
            rel = str(path.relative_to(root))
            mode = os.lstat(path).st_mode
            if stat.S_ISLNK(mode):
                state[rel] = ("link", os.readlink(path))
            elif stat.S_ISDIR(mode):
                state[rel] = "folder"
            elif stat.S_ISREG(mode):
                state[rel] = path.read_bytes()
            else:
                state[rel] = "special"
    return state


@contextlib.contextmanager
def no_network() -> Iterator[list]:
    """Any attempt to resolve a name, connect or send is recorded and fails.

    Making a socket is allowed: urllib3 (imported with frictionless) binds one to ::1 to learn whether IPv6
    works, which sends nothing.
    """
    attempts: list = []
    names = ("socket", "create_connection", "getaddrinfo", "gethostbyname", "gethostbyname_ex", "socketpair")
    saved = {name: getattr(socket, name) for name in names}

    def refuse(*args, **kwargs):
        attempts.append(args[1:] if args and isinstance(args[0], socket.socket) else args)
        raise OSError("the network is off in this test")

    class NoTraffic(socket.socket):
        connect = connect_ex = sendto = sendmsg = refuse

    socket.socket = NoTraffic
    for name in names[1:]:
        setattr(socket, name, refuse)
    try:
        yield attempts
    finally:
        for name, value in saved.items():
            setattr(socket, name, value)


@dataclass
class Outcome:
    result: Result
    before: dict[str, object]
    after: dict[str, object]

    @property
    def output(self) -> str:
        return self.result.output


def attempt(root: Path, argv: Sequence[str], code: int | Sequence[int], *fragments: str,
            outputs: Sequence[str] = (), cwd: Path | None = None, env: dict[str, str] | None = None) -> Outcome:
    """Run `opimpact argv` with everything under root as its inputs and check every promise.

    outputs are the paths (relative to root) the command may create or replace when it succeeds; with any other
    exit code, nothing at all may change. Temporary files must all be gone afterwards."""
    codes = {code} if isinstance(code, int) else set(code)
    before = tree_state(root)
    scratch = Path(tempfile.mkdtemp(prefix="promise-tmp-"))
    saved_tempdir, tempfile.tempdir = tempfile.tempdir, str(scratch)
    old_cwd = os.getcwd()
    try:
        os.chdir(cwd or root)
        with no_network() as network:
            result = CliRunner().invoke(cli, list(argv), env=env)
    finally:
        os.chdir(old_cwd)
        tempfile.tempdir = saved_tempdir
    leftovers = os.listdir(scratch)
    shutil.rmtree(scratch, ignore_errors=True)
    after = tree_state(root)
    shown = f"opimpact {' '.join(argv)}\n--- exit {result.exit_code}\n{result.output}"
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"crashed: {result.exception!r}\n{shown}") from result.exception
    assert "Traceback" not in result.output and not reports_a_bug(result.output), shown
    assert result.exit_code in codes, shown
    for fragment in fragments:
        assert fragment in result.output, f"{fragment!r} not in the output\n{shown}"
    assert not unsafe_characters(result.output), f"raw {unsafe_characters(result.output)} printed\n{shown}"
    assert network == [], f"the network was used: {network}"
    assert leftovers == [], f"temporary files left behind: {leftovers}"
    allowed = set(outputs) if result.exit_code == 0 else set()
    allowed |= {str(Path(o).parent) for o in allowed}  # the folders that hold them
    changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k) and k not in allowed
                     and not any(k.startswith(f"{o}/") for o in allowed))
    assert not changed, f"changed, created or removed: {changed}\n{shown}"
    return Outcome(result, before, after)


# ---------------------------------------------------------------- workspaces

def make_workspace(dest: Path) -> Path:
    """A valid, unreleased package with everything a release needs (README, LICENSE, CITATION.cff, CHANGELOG)."""
    return make_release_fixture(dest)


def make_released_repo(dest: Path) -> Path:
    """A git repository whose package was released as 1.0.0 and committed, with dist/ ignored, then changed and
    given a 1.1.0 changelog section (ready for `release 1.1.0`)."""
    from helpers import set_cell

    root = make_release_fixture(dest, sections=(("1.1.0", "2026-12-01"), ("1.0.0", "2026-11-20")))
    (root / ".gitignore").write_text("dist/\n", encoding="utf-8")
    init_repo(root)
    result = CliRunner().invoke(cli, ["release", "1.0.0", str(root)])
    assert result.exit_code == 0, result.output
    commit_all(root, "Release 1.0.0")
    set_cell(root, "quotes", 1, "notes", "A corrected note.")
    commit_all(root, "Correct a note")
    return root


def shallow_clone(repo: Path, dest: Path) -> Path:
    subprocess.run(["git", "clone", "-q", "--depth", "1", f"file://{repo}", str(dest)], check=True,
                   capture_output=True, env={**os.environ, **GIT_ENV})
    return dest


def copy_tree(source: Path, dest: Path) -> Path:
    shutil.copytree(source, dest, symlinks=True)
    return dest
