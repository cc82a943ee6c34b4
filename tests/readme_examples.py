"""Run the README's examples and compare their output with what the README shows, or rewrite it (--update).

An example is a fenced block with a marker on the line before its opening fence:

    <!-- example: package -->           a console block: `$ command` lines, each followed by its output, run one
    <!-- example: seeded-mistakes -->   after another with bash in a fresh copy of the package (with five seeded
    <!-- example: download -->          mistakes, for the second; for the third, a folder with that copy as
                                        op-impact/ and the latest release's files built into download/);
                                        `opimpact` is this checkout's code
    <!-- example: r -->                 R code: run by Rscript in a copy of the package; the lines starting `#>`
    <!-- example: python -->            (R) or `#>` (Python) are its output, compared with what it prints
    <!-- example: r needs=frictionless -->   the same, skipped where the R package is not installed
    <!-- not run: REASON -->            shown only, with the reason it cannot run here (a server, a desktop app)

Only paths are normalised: the temporary folder an example runs in is written as `.`. Refresh every output after
a change of the code or the data (the lead does this after merging):

    PYTHONPATH=scripts python tests/readme_examples.py --update     # rewrites README.md in place
    PYTHONPATH=scripts python tests/readme_examples.py              # lists the examples that are stale; exit 1
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from opimpact.release import build_in_tree
from opimpact.semver import Version

from helpers import set_cell

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
FENCE = re.compile(r"^(?P<indent> *)```(?P<lang>[\w-]*)\s*$")
MARKER = re.compile(r"^\s*<!-- (?P<kind>example|not run): ?(?P<value>.*?) -->\s*$")
SETUPS = ("package", "seeded-mistakes", "download")
# What a copy of the package holds: the files a reader of the README has (the repository, or an unzipped release).
PACKAGE_PARTS = ("datapackage.json", "data", "schemas", "CITATION.cff", "CHANGELOG.md", "LICENSE", "README.md",
                 ".zenodo.json", "releases", "docs", "scripts/load_op_impact.R", "templates")
OUTPUT_PREFIX = "#>"


@dataclass
class Block:
    """One fenced block of the README: lines[open + 1:close] is its body, marker the comment above it."""

    open: int
    close: int
    indent: str
    lang: str
    body: list[str]
    marker: tuple[str, str] | None = None
    options: dict[str, str] = field(default_factory=dict)

    @property
    def kind(self) -> str | None:
        """package / seeded-mistakes (console), r, python, 'not run', or None (an unmarked block)."""
        if self.marker is None:
            return None
        kind, value = self.marker
        return "not run" if kind == "not run" else value.split()[0] if value else ""

    @property
    def name(self) -> str:
        first = next((line for line in self.body if line.strip()), "")
        return f"line {self.open + 1}: {first.strip()[:60]}"


def parse_blocks(text: str) -> list[Block]:
    lines = text.split("\n")
    blocks, i = [], 0
    while i < len(lines):
        match = FENCE.match(lines[i])
        if not match:
            i += 1
            continue
        indent, lang = match["indent"], match["lang"]
        close = next((j for j in range(i + 1, len(lines)) if lines[j].strip() == "```"), None)
        if close is None:
            raise ValueError(f"README.md line {i + 1}: a code block is never closed")
        body = [line[len(indent):] if line.startswith(indent) else line for line in lines[i + 1:close]]
        block = Block(i, close, indent, lang, body)
        above = lines[i - 1] if i > 0 else ""
        marked = MARKER.match(above)
        if marked:
            block.marker = (marked["kind"], marked["value"])
            if marked["kind"] == "example":
                block.options = dict(word.split("=", 1) for word in marked["value"].split()[1:] if "=" in word)
        blocks.append(block)
        i = close + 1
    return blocks


# ---------------------------------------------------------------- a copy of the package to run in

def copy_package(dest: Path) -> Path:
    dest.mkdir(parents=True)
    for part in PACKAGE_PARTS:
        source = REPO / part
        if source.is_dir():
            shutil.copytree(source, dest / part)
        elif source.is_file():
            (dest / part).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / part)
    return dest


def seed_mistakes(package: Path) -> None:
    """The five mistakes of the README's validate example, each of a different rule."""
    set_cell(package, "assets", 2, "quantity", "two")  # F01: not an integer
    set_cell(package, "assets", 3, "contribution", "donated")  # F04: not an allowed value
    set_cell(package, "events", 1, "event_id", "ev-0001")  # F08: a duplicated primary key
    set_cell(package, "quotes", 4, "event_id", "ev-0999")  # F09: no such event
    set_cell(package, "sources", 2, "publisher", '=HYPERLINK("http://example.com")')  # X06: a spreadsheet formula


def latest_release() -> str:
    return str(max(Version.parse(p.stem) for p in (REPO / "releases").glob("*.json")))


def build_download(out: Path) -> None:
    """The latest release's files as a user downloads them: built from the commit that recorded the release, with
    that commit's own code (the build_main contract of `release --reproduce`), whatever has changed since. The
    files are not compared with the record here; the examples' verify runs do that."""
    version = latest_release()
    commit = recording_commit(version)
    if commit is None:
        raise SetupUnavailable(f"this clone's git history does not hold the commit that recorded {version}")
    tree = out.parent / "release-tree"
    tree.mkdir()
    archive = subprocess.run(["git", "-C", str(REPO), "archive", "--format=tar", commit], capture_output=True,
                             check=True)
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive.stdout, check=True)
    out.mkdir()
    build_in_tree(tree, tree, version, out)
    shutil.rmtree(tree)


def recording_commit(version: str) -> str | None:
    """The commit that added releases/VERSION.json, or None (no git, or a shallow clone without it)."""
    if shutil.which("git") is None:
        return None
    found = subprocess.run(["git", "-C", str(REPO), "log", "--diff-filter=A", "--format=%H", "--",
                            f"releases/{version}.json"], capture_output=True, text=True, check=False)
    return found.stdout.split()[-1] if found.returncode == 0 and found.stdout.split() else None


class SetupUnavailable(Exception):
    """An example's setup cannot be made on this machine (the reason is the message)."""


def make_setup(name: str, where: Path) -> Path:
    """The folder the example runs in: a copy of the package; for `download`, a folder holding that copy as
    `op-impact/` (a clone) and the latest release's files in `download/`."""
    package = copy_package(where / "op-impact")
    if name == "seeded-mistakes":
        seed_mistakes(package)
    elif name == "download":
        build_download(where / "download")
        return where
    elif name != "package":
        raise ValueError(f"unknown example setup {name!r}; use one of {', '.join(SETUPS)}")
    return package


def environment(bin_dir: Path) -> dict[str, str]:
    """PATH with an `opimpact` that runs this checkout's code, whatever is installed."""
    bin_dir.mkdir(exist_ok=True)
    shim = bin_dir / "opimpact"
    shim.write_text(f"#!/bin/sh\nexec {shlex.quote(sys.executable)} -c "
                    "'import sys; from opimpact.cli import cli; sys.argv[0] = \"opimpact\"; cli()' \"$@\"\n",
                    encoding="utf-8")
    shim.chmod(0o755)
    env = dict(os.environ)
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    paths = [str(REPO / "scripts"), *(p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p)]
    env["PYTHONPATH"] = os.pathsep.join(paths)
    env["COLUMNS"] = "120"
    env.pop("CI", None)  # the examples show what a user sees
    return env


def normalise(text: str, workdir: Path) -> list[str]:
    for path in (str(workdir.resolve()), str(workdir)):
        text = text.replace(path + "/", "").replace(path, ".")
    return [line.rstrip() for line in text.rstrip("\n").split("\n")] if text.strip() else []


# ---------------------------------------------------------------- console blocks

def console_steps(body: list[str]) -> list[tuple[str, list[str]]]:
    """[(command, expected output lines)] of a console block; a command continues over a trailing backslash or
    an open quote."""
    steps: list[tuple[str, list[str]]] = []
    i = 0
    while i < len(body):
        line = body[i]
        if not line.startswith("$ "):
            if not steps:
                raise ValueError(f"console block: output before the first `$ ` command: {line!r}")
            steps[-1][1].append(line)
            i += 1
            continue
        command = line[2:]
        while _continues(command) and i + 1 < len(body):
            i += 1
            command += "\n" + body[i]
        steps.append((command, []))
        i += 1
    return [(command, _trim(output)) for command, output in steps]


def _continues(command: str) -> bool:
    if command.endswith("\\"):
        return True
    try:
        shlex.split(command)
    except ValueError:  # an open quote
        return True
    return False


def _trim(lines: list[str]) -> list[str]:
    while lines and not lines[-1].strip():
        lines = lines[:-1]
    return [line.rstrip() for line in lines]


def run_console(block: Block, workdir: Path, env: dict[str, str]) -> list[tuple[str, list[str]]]:
    """Each command of the block with the output it gives now (stdout and stderr, as a terminal shows them)."""
    results = []
    for command, _ in console_steps(block.body):
        done = subprocess.run(["bash", "-c", command], cwd=workdir, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, timeout=600, check=False)
        results.append((command, normalise(done.stdout, workdir)))
    return results


# ---------------------------------------------------------------- R and Python blocks

def code_and_output(block: Block) -> tuple[str, list[str]]:
    code = [line for line in block.body if not line.startswith(OUTPUT_PREFIX)]
    output = [line[len(OUTPUT_PREFIX) + 1:] if line.startswith(OUTPUT_PREFIX + " ") else ""
              for line in block.body if line.startswith(OUTPUT_PREFIX)]
    return "\n".join(code) + "\n", _trim(output)


def run_code(block: Block, workdir: Path, env: dict[str, str]) -> list[str]:
    code, _ = code_and_output(block)
    if block.kind == "r":
        script, command = workdir / "example.R", [shutil.which("Rscript") or "Rscript"]
    else:
        script, command = workdir / "example.py", [sys.executable]
    script.write_text(code, encoding="utf-8")
    done = subprocess.run([*command, script.name], cwd=workdir, env=env, capture_output=True, text=True,
                          timeout=600, check=False)
    script.unlink()
    if done.returncode != 0:
        raise RuntimeError(f"the example at {block.name} failed (exit {done.returncode}):\n{done.stderr}")
    return normalise(done.stdout, workdir)


def missing_tool(block: Block) -> str | None:
    """Why the block cannot run on this machine, or None."""
    if block.kind == "r" or (block.kind in SETUPS and any("Rscript" in c for c, _ in console_steps(block.body))):
        if shutil.which("Rscript") is None:
            return "Rscript is not installed (apt-get install r-base-core r-cran-readr r-cran-jsonlite)"
        needs = block.options.get("needs")
        if needs:
            check = subprocess.run(["Rscript", "-e", f'quit(status = !requireNamespace("{needs}", quietly = TRUE))'],
                                   capture_output=True, check=False, timeout=120)
            if check.returncode != 0:
                return f'the R package {needs} is not installed (install.packages("{needs}"))'
    if block.kind == "download" and recording_commit(latest_release()) is None:
        return f"this clone's git history does not hold the commit that recorded {latest_release()} (git fetch --unshallow)"
    if block.kind in SETUPS:
        for command, _ in console_steps(block.body):
            program = shlex.split(command.replace("\\\n", " "))[0]
            if program not in ("opimpact", "cd") and shutil.which(program) is None:  # cd: a shell builtin
                return f"{program} is not installed"
    if block.kind == "python":
        code, _ = code_and_output(block)
        for module in re.findall(r"^import (\w+)", code, flags=re.MULTILINE):
            try:
                __import__(module)
            except ImportError:
                return f"the Python module {module} is not installed (pip install -e '.[test]')"
    return None


def examples(text: str) -> list[Block]:
    return [b for b in parse_blocks(text) if b.marker and b.marker[0] == "example"]


def expected(block: Block) -> list[tuple[str, list[str]]] | list[str]:
    return console_steps(block.body) if block.kind in SETUPS else code_and_output(block)[1]


def actual(block: Block, where: Path) -> list[tuple[str, list[str]]] | list[str]:
    """Run one example in a fresh copy of the package under where."""
    setup = block.kind if block.kind in SETUPS else "package"
    workdir = make_setup(setup, where)
    env = environment(where / "bin")
    return run_console(block, workdir, env) if block.kind in SETUPS else run_code(block, workdir, env)


def rendered(block: Block, result: list[tuple[str, list[str]]] | list[str]) -> list[str]:
    """The block's new body, holding result as its output."""
    if block.kind in SETUPS:
        body = []
        for command, output in result:
            body += [*f"$ {command}".split("\n"), *output]
        return body
    code = [line for line in block.body if not line.startswith(OUTPUT_PREFIX)]
    while code and not code[-1].strip():
        code.pop()
    return code + [f"{OUTPUT_PREFIX} {line}".rstrip() for line in result]


def update(text: str, where: Path) -> tuple[str, list[str]]:
    """text with every example's output refreshed; the names of those skipped, with the reason."""
    lines = text.split("\n")
    skipped = []
    for block in reversed(examples(text)):  # from the end, so earlier line numbers stay valid
        reason = missing_tool(block)
        if reason:
            skipped.append(f"{block.name}: {reason}")
            continue
        with tempfile.TemporaryDirectory(dir=where) as tmp:
            body = rendered(block, actual(block, Path(tmp)))
        lines[block.open + 1:block.close] = [block.indent + line if line else line for line in body]
    return "\n".join(lines), skipped


def main(argv: list[str]) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        text = README.read_text(encoding="utf-8")
        if "--update" in argv:
            new, skipped = update(text, Path(tmp))
            if new != text:
                temporary = README.with_name(README.name + ".tmp")
                temporary.write_text(new, encoding="utf-8")
                os.replace(temporary, README)
            print(f"README.md: {'updated' if new != text else 'already current'}")
            for line in skipped:
                print(f"  not run: {line}")
            return 0
        stale = []
        for block in examples(text):
            reason = missing_tool(block)
            if reason:
                print(f"not run: {block.name}: {reason}")
                continue
            with tempfile.TemporaryDirectory(dir=tmp) as where:
                if actual(block, Path(where)) != expected(block):
                    stale.append(block.name)
        for name in stale:
            print(f"stale: {name}")
        return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
