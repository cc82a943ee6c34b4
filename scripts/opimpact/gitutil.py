"""The few git operations releases need: find a repo, find the commit that added a file, export a tree."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from . import limits
from .errors import OpimpactError
from .report import printable


class GitError(OpimpactError):
    """git is missing, the folder is no repository, or a ref does not exist (exit code 2 when it reaches the user)."""

    exit_code = 2

    def __str__(self) -> str:
        return printable(super().__str__())  # git echoes refs and paths it was given


class GitMissing(GitError):
    """The git program cannot be run: not installed, or not on PATH."""


def _git(repo: Path, *args: str, binary: bool = False) -> bytes | str:
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_PAGER": "cat", "LC_ALL": "C"}
    try:
        done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, env=env, check=False)
    except FileNotFoundError:
        raise GitMissing("git is not installed (no 'git' program on PATH)") from None
    except OSError as exc:  # git exists but cannot be run
        raise GitMissing(f"git cannot be run ({exc.strerror or exc})") from None
    if done.returncode != 0:
        message = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise GitError(f"git {' '.join(args[:2])}: {message[-1] if message else 'failed'}")
    return done.stdout if binary else done.stdout.decode("utf-8", "replace")


def repo_root(path: Path) -> Path | None:
    """The top folder of the git work tree holding path, or None when path is in no repository.

    Raises GitMissing when git itself cannot be run, so that is never reported as "not a repository"."""
    try:
        return Path(_git(path, "rev-parse", "--show-toplevel").strip())
    except GitMissing:
        raise
    except GitError:
        return None


def is_shallow(repo: Path) -> bool:
    """True in a shallow clone (git clone --depth), whose history stops before the first commit."""
    return _git(repo, "rev-parse", "--is-shallow-repository").strip() == "true"


def parents(repo: Path, commit: str) -> list[str]:
    """The parent commits of commit as this clone knows them (none at a shallow clone's boundary)."""
    return _git(repo, "rev-list", "--parents", "-n", "1", commit).split()[1:]


def repo_prefix(path: Path) -> str:
    """Path of the folder path inside its repository ('' at the top, else 'sub/dir/')."""
    return _git(path, "rev-parse", "--show-prefix").strip()


def resolve_commit(repo: Path, ref: str) -> str:
    """The full commit ID that ref names; GitError when it names none."""
    if ref.startswith("-"):
        raise GitError(f"{ref!r} is not a git ref")
    return _git(repo, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}").strip()


def commit_adding(repo: Path, rel_path: str) -> str | None:
    """The latest commit that added rel_path (git log --diff-filter=A), or None when none did."""
    out = _git(repo, "log", "--diff-filter=A", "--format=%H", "--", rel_path).split()
    return out[0] if out else None


def show_file(repo: Path, commit: str, rel_path: str) -> bytes:
    """The bytes of rel_path (relative to the folder repo) at commit."""
    return _git(repo, "show", f"{commit}:./{rel_path}", binary=True)


def export_tree(repo: Path, ref: str, dest: Path) -> Path:
    """Write the tree of ref into dest (git archive, unpacked with the tar 'data' filter).

    Return the folder in dest that corresponds to the folder repo (which may sit below the repository's top)."""
    commit = resolve_commit(repo, ref)
    data = _git(repo, "archive", "--format=tar", commit, binary=True)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        _check_tar(tar.getmembers(), f"{ref} ({commit[:12]})")
        tar.extractall(dest, filter="data")
    return dest / repo_prefix(repo)


def _check_tar(members: list[tarfile.TarInfo], label: str) -> None:
    """Refuse an archive with too many or too large entries (the 'data' filter refuses unsafe paths and links)."""
    if len(members) > limits.MAX_ZIP_ENTRIES * 10:
        raise GitError(f"{label}: {len(members)} files, too many to unpack")
    if sum(m.size for m in members) > limits.MAX_ZIP_TOTAL_BYTES:
        raise GitError(f"{label}: the tree is larger than {limits.MAX_ZIP_TOTAL_BYTES} bytes")


@contextmanager
def worktree(repo: Path, commit: str) -> Iterator[Path]:
    """A detached git worktree of commit in a temporary folder, removed afterwards; the checkout is untouched."""
    parent = Path(tempfile.mkdtemp(prefix="opimpact-worktree-"))
    path = parent / "tree"
    try:
        _git(repo, "worktree", "add", "--detach", "--quiet", str(path), commit)
        try:
            yield path
        finally:
            try:
                _git(repo, "worktree", "remove", "--force", str(path))
            except GitError:
                shutil.rmtree(path, ignore_errors=True)
                _git(repo, "worktree", "prune")
    finally:
        shutil.rmtree(parent, ignore_errors=True)


@contextmanager
def open_package_at(repo: Path, commit: str, label: str) -> Iterator:
    """The package as committed at `commit`, exported to a temporary folder; UnreadableInput if git cannot."""
    from .package import UnreadableInput, open_package

    with tempfile.TemporaryDirectory(prefix="opimpact-git-") as tmp:
        try:
            tree = export_tree(repo, commit, Path(tmp))
        except GitError as exc:
            raise UnreadableInput(f"{label}: {exc}") from None
        with open_package(tree) as package:
            package.label = f"{label} (commit {commit[:12]})"
            yield package
