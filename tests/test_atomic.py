"""opimpact.atomic: a write either completes or leaves the previous state, whatever interrupts it."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import textwrap
from contextlib import contextmanager
from pathlib import Path

import pytest
from click.testing import CliRunner

from opimpact.atomic import atomic_path, transaction, write_bytes_atomic, write_text_atomic
from opimpact.cli import cli
from opimpact.release import release

from release_helpers import make_release_fixture


@contextmanager
def atomic_directory(target: Path):
    """A new folder that appears whole or not at all: a transaction of one folder."""
    with transaction() as tx:
        yield tx.folder(target)


def listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


class Boom(Exception):
    pass


def test_write_creates_the_file_and_nothing_else(tmp_path):
    target = tmp_path / "out" / "table.csv"
    write_text_atomic(target, "a,b\n1,é\n")
    assert target.read_bytes() == "a,b\n1,é\n".encode()
    assert listing(target.parent) == ["table.csv"]
    write_bytes_atomic(target, b"replaced")
    assert target.read_bytes() == b"replaced"
    assert listing(target.parent) == ["table.csv"]


@pytest.mark.parametrize("interruption", [Boom, KeyboardInterrupt, SystemExit])
@pytest.mark.parametrize("existing", [True, False])
def test_interrupted_write_leaves_the_previous_state(tmp_path, interruption, existing):
    target = tmp_path / "release.zip"
    if existing:
        target.write_bytes(b"the old release")
    with pytest.raises(interruption), atomic_path(target) as tmp, open(tmp, "wb") as handle:
        handle.write(b"half of the new ")
        handle.flush()
        assert tmp.read_bytes() == b"half of the new "  # the partial file exists while writing
        raise interruption()
    assert listing(tmp_path) == (["release.zip"] if existing else [])
    if existing:
        assert target.read_bytes() == b"the old release"


def test_temporary_file_sits_beside_the_target_and_is_hidden(tmp_path):
    target = tmp_path / "data.sqlite"
    with atomic_path(target) as tmp:
        assert tmp.parent == tmp_path and tmp.name.startswith(".data.sqlite.")
        assert not target.exists()
        tmp.write_bytes(b"x")
    assert listing(tmp_path) == ["data.sqlite"]


def test_written_file_gets_normal_permissions(tmp_path):
    umask = os.umask(0o022)
    try:
        write_bytes_atomic(tmp_path / "new.csv", b"x")
        assert stat.S_IMODE((tmp_path / "new.csv").stat().st_mode) == 0o644  # not mkstemp's private 0600
        existing = tmp_path / "kept.csv"
        existing.write_bytes(b"old")
        existing.chmod(0o640)
        write_bytes_atomic(existing, b"new")
        assert stat.S_IMODE(existing.stat().st_mode) == 0o640
        with atomic_directory(tmp_path / "dist") as folder:
            (folder / "a.txt").write_text("a")
        assert stat.S_IMODE((tmp_path / "dist").stat().st_mode) == 0o755
    finally:
        os.umask(umask)


def test_failed_replace_leaves_no_temporary_file(tmp_path):
    target = tmp_path / "taken"
    target.mkdir()  # a folder where the file should go: the final rename fails
    (target / "inside").write_text("x")
    with pytest.raises(OSError), atomic_path(target) as tmp:
        tmp.write_bytes(b"data")
    assert listing(tmp_path) == ["taken"]
    assert listing(target) == ["inside"]


def test_atomic_directory_appears_whole_or_not_at_all(tmp_path):
    target = tmp_path / "dist" / "1.0.0"
    with atomic_directory(target) as folder:
        (folder / "a.csv").write_text("a")
        assert not target.exists()
    assert listing(target) == ["a.csv"]
    assert listing(target.parent) == ["1.0.0"]

    other = tmp_path / "dist" / "1.1.0"
    with pytest.raises(KeyboardInterrupt), atomic_directory(other) as folder:
        (folder / "a.csv").write_text("a")
        raise KeyboardInterrupt
    assert listing(target.parent) == ["1.0.0"]


def test_atomic_directory_never_replaces_an_existing_one(tmp_path):
    target = tmp_path / "1.0.0"
    target.mkdir()
    (target / "released.zip").write_bytes(b"old")
    with pytest.raises(FileExistsError), atomic_directory(target) as folder:
        (folder / "released.zip").write_bytes(b"new")
    assert listing(tmp_path) == ["1.0.0"]
    assert (target / "released.zip").read_bytes() == b"old"


@pytest.mark.parametrize("fail_at", [1, 2, 3])
def test_a_transaction_of_several_files_is_all_or_nothing(tmp_path, monkeypatch, fail_at):
    """A failure while moving the parts into place puts back what was already moved; the folders made for new
    outputs are removed."""
    old = tmp_path / "old.sqlite"
    old.write_bytes(b"previous database")
    new = tmp_path / "new" / "deeper" / "old.metadata.json"
    real, calls = os.replace, []

    def failing(*args, **kwargs):
        calls.append(args)
        if len(calls) == fail_at:
            raise OSError(28, "No space left on device")
        return real(*args, **kwargs)

    monkeypatch.setattr(os, "replace", failing)
    with pytest.raises(OSError), transaction() as tx:
        tx.file(old).write_bytes(b"new database")
        tx.file(new).write_bytes(b"{}")
        tx.folder(tmp_path / "dist").joinpath("a.zip").write_bytes(b"zip")
    monkeypatch.setattr(os, "replace", real)
    assert listing(tmp_path) == ["old.sqlite"]
    assert old.read_bytes() == b"previous database"


CHILD = textwrap.dedent("""
    import signal, sys
    signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a terminal, even when launched in the background
    from opimpact.atomic import atomic_path, transaction

    target, kind = sys.argv[1], sys.argv[2]
    if kind == "file":
        with atomic_path(target) as tmp, open(tmp, "wb") as handle:
            handle.write(b"half written")
            handle.flush()
            print("writing", flush=True)
            sys.stdin.read()  # wait, mid-write, for the signal
    else:
        with transaction() as tx:
            (tx.folder(target) / "part.csv").write_bytes(b"half")
            print("writing", flush=True)
            sys.stdin.read()
""")


@pytest.mark.parametrize("kind", ["file", "directory"])
def test_ctrl_c_in_another_process_leaves_nothing(tmp_path, kind):
    """A real SIGINT, as Ctrl-C sends, arriving part-way through a write."""
    target = tmp_path / ("out.zip" if kind == "file" else "dist")
    if kind == "file":
        target.write_bytes(b"previous")
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(target), kind], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert child.stdout.readline() == b"writing\n"
        assert len(listing(tmp_path)) == (2 if kind == "file" else 1)  # the temporary file or folder exists
        child.send_signal(signal.SIGINT)
        _, err = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode != 0 and b"KeyboardInterrupt" in err
    if kind == "file":
        assert listing(tmp_path) == ["out.zip"]
        assert target.read_bytes() == b"previous"
    else:
        assert listing(tmp_path) == []


# --- the commands that write: Ctrl-C part-way leaves the previous state ---------------------------


def folder_state(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("fmt,module,function", [("xlsx", "opimpact.export_xlsx", "_write"),
                                                 ("sqlite", "opimpact.export_sqlite", "_build")])
def test_ctrl_c_during_an_export_keeps_the_previous_file(package_copy, tmp_path, monkeypatch, fmt, module, function):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    out = out_dir / f"op-impact.{fmt}"
    out.write_bytes(b"previous export")

    def interrupted(_loaded, path, *args):
        Path(path).write_bytes(b"the first half of a new export")
        raise KeyboardInterrupt

    monkeypatch.setattr(f"{module}.{function}", interrupted)
    before = folder_state(package_copy)
    result = CliRunner().invoke(cli, ["export", fmt, str(package_copy), "--out", str(out), "--no-metadata"]
                                if fmt == "sqlite" else ["export", fmt, str(package_copy), "--out", str(out)])
    assert result.exit_code == 1 and "Aborted" in result.output, result.output
    assert listing(out_dir) == [out.name]
    assert out.read_bytes() == b"previous export"
    assert folder_state(package_copy) == before


@pytest.fixture
def release_fixture(tmp_path: Path) -> Path:
    return make_release_fixture(tmp_path / "pkg")


def _count_replaces(tmp_path: Path, monkeypatch) -> int:
    """How many files a successful release renames into place (on a separate fixture)."""
    calls = []
    real = os.replace
    package = make_release_fixture(tmp_path / "count")  # the fixture's own writes are not the release's
    monkeypatch.setattr(os, "replace", lambda *a, **k: (calls.append(a), real(*a, **k))[1])
    assert release(package, "1.0.0").version == "1.0.0"
    monkeypatch.setattr(os, "replace", real)
    return len(calls)


def test_ctrl_c_at_any_point_of_a_release_leaves_the_folder_as_it_was(release_fixture, tmp_path, monkeypatch):
    total = _count_replaces(tmp_path, monkeypatch)
    assert total >= 3
    real = os.replace
    before = folder_state(release_fixture)
    for stop_at in sorted({1, total // 2, total}):
        calls = []

        def interrupting(*args, stop_at=stop_at, calls=calls, **kwargs):
            calls.append(args)
            if len(calls) == stop_at:
                raise KeyboardInterrupt
            return real(*args, **kwargs)

        monkeypatch.setattr(os, "replace", interrupting)
        with pytest.raises(KeyboardInterrupt):
            release(release_fixture, "1.0.0")
        monkeypatch.setattr(os, "replace", real)
        assert folder_state(release_fixture) == before, f"interrupted at rename {stop_at} of {total}"
        assert sorted(p.name for p in release_fixture.iterdir()) == sorted(before_names(before))
    assert release(release_fixture, "1.0.0").version == "1.0.0"  # and nothing was left to block a release


def before_names(state: dict[str, bytes]) -> set[str]:
    return {Path(name).parts[0] for name in state}


LOCK_HOLDER = textwrap.dedent("""
    import sys
    from pathlib import Path
    from opimpact.release import release_lock

    with release_lock(Path(sys.argv[1]).resolve()):
        print("locked", flush=True)
        sys.stdin.read()
""")


def test_a_second_release_is_refused_while_another_process_releases(release_fixture):
    holder = subprocess.Popen([sys.executable, "-c", LOCK_HOLDER, str(release_fixture)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert holder.stdout.readline() == b"locked\n"
        before = folder_state(release_fixture)
        result = CliRunner().invoke(cli, ["release", "1.0.0", str(release_fixture)])
        assert result.exit_code == 1, result.output
        assert "another release is running" in result.output
        assert folder_state(release_fixture) == before
    finally:
        holder.communicate(timeout=60)
    result = CliRunner().invoke(cli, ["release", "1.0.0", str(release_fixture)])
    assert result.exit_code == 0, result.output


# --- a real Ctrl-C, and a full disk, part-way through each command that writes ----------------------------
#
# The command runs in a child process. PAUSER wraps one of opimpact's own functions so that its n-th call
# stops and waits: the parent then sends SIGINT, as Ctrl-C does. A full disk is a file-size limit
# (RLIMIT_FSIZE, SIGXFSZ ignored): writes past it fail with an OSError, as on a full disk. Either way the
# package and the previous outputs must be left byte for byte, with no temporary file anywhere.

PAUSER = textwrap.dedent("""
    import importlib, signal, sys
    signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a terminal, even when launched in the background

    module, name, nth = sys.argv[1], sys.argv[2], int(sys.argv[3])
    target = importlib.import_module(module)
    original, calls = getattr(target, name), []

    def pausing(*args, **kwargs):
        calls.append(1)
        if len(calls) == nth:
            print("paused", flush=True)
            sys.stdin.read()  # Ctrl-C arrives here
        return original(*args, **kwargs)

    setattr(target, name, pausing)
    from opimpact.cli import cli
    cli(sys.argv[4:], prog_name="opimpact")
""")

EXPORTS = {
    "xlsx": (["export", "xlsx", ".", "--out", "out/x.xlsx"], ["out/x.xlsx"]),
    "sqlite": (["export", "sqlite", ".", "--out", "out/x.sqlite"], ["out/x.sqlite", "out/x.metadata.json"]),
    "codebook": (["export", "codebook", ".", "--out", "out/codebook.md"], ["out/codebook.md"]),
    "plot": (["plot", ".", "--out", "out/timeline.png"], ["out/timeline.png"]),
}


def tree(root: Path) -> dict[str, bytes | None]:
    return {str(p.relative_to(root)): (p.read_bytes() if p.is_file() else None) for p in sorted(root.rglob("*"))}


def _child_env(scratch: Path) -> dict[str, str]:
    return {**os.environ, "TMPDIR": str(scratch), "PYTHONDONTWRITEBYTECODE": "1"}


def interrupt(root: Path, scratch: Path, pause: tuple[str, str, int], argv: list[str]) -> tuple[int, str]:
    """Run `opimpact argv` in root, send SIGINT when the pause point is reached; (exit code, stderr)."""
    child = subprocess.Popen([sys.executable, "-c", PAUSER, *map(str, pause), *argv], cwd=root, env=_child_env(scratch),
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        line = child.stdout.readline()
        if line != b"paused\n":
            _, err = child.communicate(timeout=120)
            raise AssertionError(f"never reached {pause}: {line!r} {err.decode(errors='replace')}")
        child.send_signal(signal.SIGINT)
        _, err = child.communicate(timeout=120)
    finally:
        if child.poll() is None:
            child.kill()
    return child.returncode, err.decode("utf-8", "replace")


def full_disk(root: Path, scratch: Path, argv: list[str], limit: int) -> tuple[int, str]:
    import resource

    def small_disk() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    done = subprocess.run([sys.executable, "-c", "import sys; from opimpact.cli import cli; cli(sys.argv[1:])", *argv],
                          cwd=root, env=_child_env(scratch), capture_output=True, timeout=300, preexec_fn=small_disk)
    return done.returncode, done.stderr.decode("utf-8", "replace")


@pytest.fixture
def workspace(tmp_path: Path) -> tuple[Path, Path]:
    root = make_release_fixture(tmp_path / "pkg")
    (root / "out").mkdir()
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    return root, scratch


def _previous_outputs(root: Path, outputs: list[str]) -> None:
    for name in outputs:
        (root / name).write_bytes(b"the previous " + name.encode())


EXPORT_PAUSES = [
    ("xlsx", ("opimpact.export_xlsx", "_table_sheet", 2)),  # writing the workbook
    ("xlsx", ("opimpact.atomic", "_settle", 1)),  # written, not yet moved into place
    ("sqlite", ("opimpact.export_sqlite", "_insert", 3)),  # filling the database
    ("sqlite", ("opimpact.atomic", "_settle", 2)),  # database written, metadata not yet settled
    ("sqlite", ("opimpact.atomic", "_keep_original", 2)),  # moving the two files into place (Ctrl-C deferred, undone)
    ("codebook", ("opimpact.atomic", "_settle", 1)),
    ("plot", ("opimpact.plot", "_save", 1)),  # drawing into the temporary file
    ("plot", ("opimpact.atomic", "_settle", 1)),
]


EXPORT_TRIALS = [(command, pause, previous) for command, pause in EXPORT_PAUSES for previous in (True, False)
                 if previous or pause[1] != "_keep_original"]  # only a replaced file is kept aside while moving


@pytest.mark.parametrize("command,pause,previous", EXPORT_TRIALS,
                         ids=[f"{c}-{p[1]}-{p[2]}-{'replacing' if r else 'new'}" for c, p, r in EXPORT_TRIALS])
def test_ctrl_c_part_way_through_an_export(workspace, command: str, pause, previous: bool) -> None:
    root, scratch = workspace
    argv, outputs = EXPORTS[command]
    if previous:
        _previous_outputs(root, outputs)
    before = tree(root)
    code, err = interrupt(root, scratch, pause, argv)
    assert code == 1 and "Aborted" in err and "Traceback" not in err, err
    assert tree(root) == before
    assert list(scratch.iterdir()) == []


@pytest.mark.parametrize("command", EXPORTS)
def test_full_disk_part_way_through_an_export(workspace, command: str) -> None:
    root, scratch = workspace
    argv, outputs = EXPORTS[command]
    _previous_outputs(root, outputs)
    before = tree(root)
    code, err = full_disk(root, scratch, argv, limit=4096)
    assert code == 2 and "nothing was written" in err and "Traceback" not in err, err
    assert tree(root) == before
    assert list(scratch.iterdir()) == []


RELEASE_PAUSES = [
    ("opimpact.release", "write_release_zip", 1),  # building dist/1.0.0 in its temporary folder
    ("opimpact.release", "build_artifacts", 2),  # the reproducibility rebuild
    ("opimpact.atomic", "_settle", 6),  # everything written; the first parts settled, nothing moved yet
    ("opimpact.atomic", "_keep_original", 3),  # moving the rewritten files into place (Ctrl-C deferred, undone)
]


@pytest.mark.parametrize("pause", RELEASE_PAUSES, ids=[f"{p[1]}-{p[2]}" for p in RELEASE_PAUSES])
def test_ctrl_c_part_way_through_a_release(workspace, pause) -> None:
    root, scratch = workspace
    before = tree(root)
    code, err = interrupt(root, scratch, pause, ["release", "1.0.0"])
    assert code == 1 and "Aborted" in err and "Traceback" not in err, err
    assert tree(root) == before
    assert list(scratch.iterdir()) == []


def test_full_disk_part_way_through_a_release(workspace) -> None:
    root, scratch = workspace
    before = tree(root)
    code, err = full_disk(root, scratch, ["release", "1.0.0"], limit=8192)
    assert code == 2 and "nothing was changed" in err and "Traceback" not in err, err
    assert tree(root) == before
    assert list(scratch.iterdir()) == []
