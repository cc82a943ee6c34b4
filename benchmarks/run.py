"""Time `opimpact validate` against `frictionless validate` and a bare CSV parse, side by side, in one run.

    python benchmarks/run.py                      # the full run behind RESULTS.md (about 20 minutes)
    python benchmarks/run.py --sizes 10k,100k     # a quick look; writes the same report for those sizes

For each size the generator (benchmarks/generate.py) writes a synthetic package into benchmarks/out/ (kept
between runs while its parameters are unchanged). Every command runs in a fresh process; the tools are run in
turn within each repetition, so a busy moment hits all of them. Wall time is measured around the process,
peak memory with /usr/bin/time -v (or, where that is missing, getrusage(RUSAGE_CHILDREN) in a wrapper).

Also measured in the same run: the shipped package and `opimpact --help`; a 1M-row package with 100,000 bad
cells and every rule's seeded defect (time, and the report compared with the seeded findings); `opimpact diff`
of the 1M-row package against a changed copy (rows removed, added, re-keyed and changed; time and memory beside
validate, the reported counts against the changes made, and the diff as it was before the polars rewrite); the engine as
it was at each commit of BASELINES, the current engine with single optimisations
switched off.
Writes benchmarks/RESULTS.md and benchmarks/RESULTS.json. Not a test: it never runs under pytest.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
OUT = HERE / "out"
sys.path.insert(0, str(HERE))
import generate  # noqa: E402  (benchmarks/ is not a package)

SIZES = {"10k": 10_000, "100k": 100_000, "1m": 1_000_000, "10m": 10_000_000}
# Earlier engines, run on the same packages: what the redesign cost or bought
BASELINES = {"e4669c0": "as released in 1.0.0", "2d9c515": "before the engine redesign (pandera internals)"}
FRICTIONLESS_UP_TO = 1_000_000  # frictionless at 10M rows would take ~5 minutes a run: skipped
BAD_CELLS = 100_000
DIFF_BASELINE = ("2d9c515", "before the polars row diff")  # Python dicts of whole tables: ~30 s, ~3.8 GB at 1M
TIME_BIN = "/usr/bin/time"

# Runs the CLI with the per-file safety limit raised, for files over it (the 10M-row events file is 2.7 GB).
RAISED_LIMIT = ("import sys; from opimpact import limits; limits.MAX_FILE_BYTES = 64 * 1024**3; "
                "from opimpact.cli import cli; sys.argv[0] = 'opimpact'; cli()")
# Runs the CLI with one optimisation switched off (the patch is prepended).
PATCHED = "import sys\n{patch}\nfrom opimpact.cli import cli\nsys.argv[0] = 'opimpact'\ncli()"
# Reading in the consumer's thread: the same iteration, without the thread.
IN_LINE = ("import opimpact.validate as v, opimpact.csvreader as c\n"
           "class InLine:\n"
           "    def __init__(self, items, name=None): self.items = items\n"
           "    def __iter__(self): return iter(self.items)\n"
           "    def close(self): getattr(self.items, 'close', lambda: None)()\n"
           "v.ReadAhead = c.ReadAhead = InLine")
ABLATIONS = {
    "all optimisations (as shipped)": "",
    "without the read-ahead threads": IN_LINE,
    "without checking later tables ahead (every table in turn, in the main thread)": (
        "import concurrent.futures as f, opimpact.validate as v\n"
        "class InTurn(f.Executor):\n"
        "    def __init__(self, *args, **kwargs): super().__init__()\n"
        "    def submit(self, fn, /, *args, **kwargs):\n"
        "        future = f.Future()\n"
        "        future.set_result(fn(*args, **kwargs))\n"
        "        return future\n"
        "v.ThreadPoolExecutor = InTurn"),
    "without the screen (pandera validates every check on every row)": (
        "import opimpact.checking as c\n"
        "def everything(frame, checks, typed_fields, repeated=frozenset()):\n"
        "    return c.Screened(failing=list(checks), rows=frame if checks else None)\n"
        "c.screen = everything"),
    "without distinct-value checks": "import opimpact.checking as c; c.repeated_columns = lambda frame, names: set()",
    "batches of 32 MiB (not 64)": "import opimpact.validate as v; v.BATCH_BYTES = 32 << 20",
    "batches of 128 MiB (not 64)": "import opimpact.validate as v; v.BATCH_BYTES = 128 << 20",
    "one batch per table (no batching)": "import opimpact.validate as v; v.BATCH_BYTES = 1 << 40",
}


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --- running and measuring ----------------------------------------------------------------------------------

@dataclass
class Runs:
    """Wall times (s) and peak memory (MB) of one command's repetitions."""

    label: str
    walls: list[float] = field(default_factory=list)
    peaks: list[float] = field(default_factory=list)
    codes: list[int] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.walls)

    @property
    def peak(self) -> float:
        return max(self.peaks) if self.peaks else float("nan")

    def cell(self) -> str:
        if not self.walls:
            return "—"
        if len(self.walls) == 1:
            return f"{self.walls[0]:.2f}"
        return f"{self.median:.2f} ({min(self.walls):.2f}–{max(self.walls):.2f})"

    def to_dict(self) -> dict:
        return {"label": self.label, "walls": self.walls, "peaks_mb": self.peaks, "exit_codes": self.codes}


def measure(command: list[str], runs: Runs, env: dict | None = None, cwd: Path | None = None,
            stdout: Path | None = None) -> None:
    """Run command once in a fresh process; add its wall time and peak memory to runs."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as timing:
        if Path(TIME_BIN).exists():
            wrapped = [TIME_BIN, "-v", "-o", timing.name, *command]
        else:
            wrapped = [sys.executable, "-c", _RUSAGE_WRAPPER, timing.name, *command]
        with open(stdout, "wb") if stdout else contextlib.nullcontext(subprocess.DEVNULL) as out:
            start = time.perf_counter()
            done = subprocess.run(wrapped, stdout=out, stderr=subprocess.DEVNULL, env=env or clean_env(), cwd=cwd)
            runs.walls.append(time.perf_counter() - start)
        runs.codes.append(done.returncode)
        runs.peaks.append(_peak_mb(Path(timing.name).read_text()))


_RUSAGE_WRAPPER = """import resource, subprocess, sys
code = subprocess.run(sys.argv[2:]).returncode
open(sys.argv[1], "w").write("Maximum resident set size (kbytes): %d\\n" % resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
sys.exit(code)"""


def _peak_mb(report: str) -> float:
    for line in report.splitlines():
        if "Maximum resident set size" in line:
            return int(line.rsplit(":", 1)[1]) / 1024
    return float("nan")


def clean_env() -> dict[str, str]:
    """The environment, less PYTHONDONTWRITEBYTECODE: every tool runs from compiled bytecode, as on a usual
    machine, not compiling its modules anew in each process."""
    return {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def interleaved(commands: dict[str, dict], reps: int) -> dict[str, Runs]:
    """Run each command reps times, one of each per repetition, so load changes hit all alike. With several
    repetitions, each command runs once untimed first (bytecode and page caches warm, as hyperfine's
    --warmup). A command whose spec has "reps" runs at most that many times."""
    results = {key: Runs(key) for key in commands}
    for key, spec in commands.items() if reps > 1 else ():
        measure(spec["cmd"], Runs(key), env=spec.get("env"), cwd=spec.get("cwd"))
    for rep in range(reps):
        for key, spec in commands.items():
            if rep < spec.get("reps", reps):  # a slow command may run fewer times
                measure(spec["cmd"], results[key], env=spec.get("env"), cwd=spec.get("cwd"))
    return results


def opimpact_cmd(package: Path, *args: str) -> list[str]:
    """The CLI as users run it, or with the per-file limit raised when a file of the package is over it."""
    from opimpact import limits

    biggest = max((p.stat().st_size for p in (package / "data").glob("*.csv")), default=0)
    if biggest > limits.MAX_FILE_BYTES:
        return [sys.executable, "-c", RAISED_LIMIT, "validate", str(package), *args]
    return [shutil.which("opimpact") or "opimpact", "validate", str(package), *args]


def diff_cmd(old: Path, new: Path, *args: str) -> list[str]:
    return [shutil.which("opimpact") or "opimpact", "diff", str(old), str(new), *args]


def floor_cmds(package: Path) -> dict[str, dict]:
    files = sorted(str(p) for p in (package / "data").glob("*.csv"))
    polars = f"import polars as pl\nfor f in {files!r}: pl.read_csv(f, infer_schema=False)"
    arrow = ("import pyarrow as pa, pyarrow.csv as c\n"
             f"for f in {files!r}: c.read_csv(f, parse_options=c.ParseOptions(newlines_in_values=True), "
             "convert_options=c.ConvertOptions(column_types={n: pa.string() for n in "
             "open(f, encoding='utf-8').readline().strip().split(',')}))")
    return {"floor: polars read_csv": {"cmd": [sys.executable, "-c", polars]},
            "floor: pyarrow read_csv": {"cmd": [sys.executable, "-c", arrow]}}


# --- packages ---------------------------------------------------------------------------------------------

def package(name: str, events: int, **options) -> tuple[Path, dict]:
    """The generated package out/<name>, rebuilt only when the generator or its options changed."""
    dest = OUT / name
    manifest_path = dest / "manifest.json"
    if manifest_path.is_file():
        manifest = json.loads(manifest_path.read_text())
        same = (manifest.get("generator_version") == generate.GENERATOR_VERSION and manifest.get("events") == events
                and manifest.get("defects") == options.get("defects", False)
                and manifest.get("bad_cells") == options.get("bad_cells", 0))
        if same and (dest / "schemas").is_dir() and _schemas_current(dest, manifest):
            return dest, manifest
    log(f"generating {name} ({events:,} events)")
    start = time.perf_counter()
    manifest = generate.generate(dest, events, **options)
    log(f"  generated in {time.perf_counter() - start:.1f} s")
    return dest, manifest


def changed_package(name: str, source: Path, source_manifest: dict) -> tuple[Path, dict]:
    """out/<name>: a changed copy of the generated package at source, rebuilt only when the source or the
    changes made to it changed."""
    dest = OUT / name
    manifest_path = dest / "manifest.json"
    if manifest_path.is_file():
        manifest = json.loads(manifest_path.read_text())
        if (manifest.get("generator_version") == generate.GENERATOR_VERSION and manifest.get("source") == source_manifest
                and manifest.get("shares") == generate.CHANGE_SHARES and manifest.get("changed_from") == str(source)):
            return dest, manifest
    log(f"generating {name} (a changed copy of {source.name})")
    return dest, generate.generate_changed(source, dest)


def _schemas_current(dest: Path, manifest: dict) -> bool:
    """The copied schemas still follow the repository's (apart from the widened ID patterns)."""
    plan = generate.Plan.for_events(manifest["events"])
    for table in generate.TABLE_ORDER:
        repo_schema = json.loads((REPO / "schemas" / f"{table}.schema.json").read_text(encoding="utf-8"))
        if generate._widened_schema(table, repo_schema, plan) != json.loads(
                (dest / "schemas" / f"{table}.schema.json").read_text(encoding="utf-8")):
            return False
    return generate.synthetic_descriptor() == json.loads((dest / "datapackage.json").read_text(encoding="utf-8"))


def csv_megabytes(package_dir: Path) -> float:
    return sum(p.stat().st_size for p in (package_dir / "data").glob("*.csv")) / 1e6


def baseline_engine(commit: str) -> Path | None:
    """The opimpact package at commit, unpacked under out/ (None without git)."""
    dest = OUT / f"baseline-{commit}"
    if (dest / "opimpact" / "validate.py").is_file():
        return dest
    try:
        archive = subprocess.run(["git", "-C", str(REPO), "archive", commit, "scripts/opimpact"],
                                 check=True, capture_output=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    dest.mkdir(parents=True, exist_ok=True)
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    (dest / "scripts" / "opimpact").rename(dest / "opimpact")
    return dest


# --- the run ----------------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default=",".join(SIZES), help="comma-separated: " + ", ".join(SIZES))
    parser.add_argument("--reps", type=int, default=5,
                        help="repetitions up to 1M rows (frictionless: 3 at 1M; everything once at 10M)")
    parser.add_argument("--skip", default="",
                        help="comma-separated parts to skip: baseline,ablation,errors,diff")
    parser.add_argument("--output", type=Path, default=HERE / "RESULTS.md")
    args = parser.parse_args(argv)
    sizes = [s.strip() for s in args.sizes.split(",") if s.strip()]
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    if not Path(TIME_BIN).exists():
        log(f"{TIME_BIN} is missing (apt-get install -y time): peak memory comes from getrusage(RUSAGE_CHILDREN)")
    started = time.perf_counter()
    results: dict = {"machine": machine(), "command": " ".join(["python", "benchmarks/run.py", *(argv or sys.argv[1:])]),
                     "sizes": {}, "load_before": os.getloadavg()}
    OUT.mkdir(exist_ok=True)

    log("shipped package and --help")
    results["shipped"] = {k: v.to_dict() for k, v in interleaved({
        "opimpact validate": {"cmd": [shutil.which("opimpact") or "opimpact", "validate", "."], "cwd": REPO},
        "frictionless validate": {"cmd": ["frictionless", "validate", "datapackage.json"], "cwd": REPO},
        "opimpact --help": {"cmd": [shutil.which("opimpact") or "opimpact", "--help"]},
        "opimpact validate, full pandera import": {
            "cmd": [sys.executable, "-c", PATCHED.format(patch="import pandera.polars"), "validate", "."], "cwd": REPO},
    }, max(args.reps, 7)).items()}

    for size in sizes:
        events = SIZES[size]
        pkg, _ = package(size, events)
        reps = args.reps if events <= 1_000_000 else 1
        commands = {"opimpact validate": {"cmd": opimpact_cmd(pkg)},
                    "opimpact validate --archive": {"cmd": opimpact_cmd(pkg, "--archive", str(pkg / "archive"))},
                    **floor_cmds(pkg)}
        if events <= FRICTIONLESS_UP_TO:
            commands["frictionless validate"] = {"cmd": ["frictionless", "validate", str(pkg / "datapackage.json")],
                                                 "reps": 3 if events > 100_000 else reps}  # ~50 s a run at 1M
        log(f"{size}: {reps} repetitions of {', '.join(commands)}")
        runs = interleaved(commands, reps)
        results["sizes"][size] = {"events": events, "rows": sum(generate.Plan.for_events(events).rows.values()),
                                  "csv_mb": csv_megabytes(pkg), "raised_limit": "-c" in commands["opimpact validate"]["cmd"],
                                  "runs": {k: v.to_dict() for k, v in runs.items()}}

    if "errors" not in skip:
        results["errors"] = errors_run()
    if "diff" not in skip:
        results["diff"] = diff_run(with_baseline="baseline" not in skip)
    if "baseline" not in skip or "ablation" not in skip:
        results["changes"] = changes_run(skip)
    results["load_after"] = os.getloadavg()
    results["duration_s"] = time.perf_counter() - started
    (args.output.with_suffix(".json")).write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    args.output.write_text(render(results), encoding="utf-8")
    log(f"wrote {args.output} in {results['duration_s'] / 60:.1f} minutes")
    return 0


def errors_run() -> dict:
    """1M events with 100,000 bad cells and every rule's seeded defect: time, memory, and exactness."""
    pkg, manifest = package("1m-bad", 1_000_000, defects=True, bad_cells=BAD_CELLS)
    valid, _ = package("1m", 1_000_000)
    log("errors: 1M rows with 100,000 bad cells")
    runs = interleaved({
        "opimpact validate (valid 1M)": {"cmd": opimpact_cmd(valid)},
        "opimpact validate (100,000 bad cells)": {"cmd": opimpact_cmd(pkg)},
        "opimpact validate --format json (100,000 bad cells)": {"cmd": opimpact_cmd(pkg, "--format", "json")},
    }, 3)
    out = {"runs": {k: v.to_dict() for k, v in runs.items()}, "expected": len(manifest["expected"])}
    with tempfile.TemporaryDirectory() as tmp:
        for label, extra, archive in [("capped (default --max-errors 100)", (), False),
                                      ("every finding listed, with --archive", ("--max-errors", "1000000"), True)]:
            report_path = Path(tmp) / "report.json"
            args = ("--format", "json", *extra) + (("--archive", str(pkg / "archive")) if archive else ())
            timing = Runs(label)
            measure(opimpact_cmd(pkg, *args), timing, stdout=report_path)
            report = json.loads(report_path.read_text())
            per_key = {}
            for e in report["errors"]:
                per_key[(e["resource"], e["rule"])] = per_key.get((e["resource"], e["rule"]), 0) + 1
            out[label] = {"wall": timing.walls[0], "peak_mb": timing.peaks[0], "error_count": report["error_count"],
                          "listed": report["listed_count"], "max_listed_per_rule": max(per_key.values(), default=0),
                          "problems": generate.check_report(report, manifest, archive=archive)}
    return out


def diff_run(with_baseline: bool) -> dict:
    """`opimpact diff` of the 1M-row package against a changed copy, beside `opimpact validate` of the package:
    time and memory, and the counts the JSON report gives against the changes made."""
    old, source_manifest = package("1m", 1_000_000)
    new, manifest = changed_package("1m-changed", old, source_manifest)
    log("diff: 1M rows against a changed copy")
    runs = interleaved({
        "opimpact validate (1M)": {"cmd": opimpact_cmd(old)},
        "opimpact diff (1M against a changed copy)": {"cmd": diff_cmd(old, new)},
    }, 3)
    out: dict = {"runs": {k: v.to_dict() for k, v in runs.items()}, "changes_made": manifest["diff"]}
    with tempfile.TemporaryDirectory() as tmp:
        report_path = Path(tmp) / "diff.json"
        timing = Runs("--format json")
        measure(diff_cmd(old, new, "--format", "json"), timing, stdout=report_path)
        report = json.loads(report_path.read_text())
        counts = {name: table.get("row_counts") or {k: len(table[f"rows_{k}"]) for k in ("added", "removed",
                                                                                         "rekeyed", "changed")}
                  for name, table in report["tables"].items()}
        problems = [f"{name}: reported {got}, made {manifest['diff'].get(name)}" for name, got in counts.items()
                    if got != manifest["diff"].get(name, dict.fromkeys(got, 0))]
        out["json"] = {"wall": timing.walls[0], "peak_mb": timing.peaks[0], "exit_code": timing.codes[0],
                       "counts": counts, "problems": problems}
    engine = baseline_engine(DIFF_BASELINE[0]) if with_baseline else None
    if engine is not None:  # one run: it takes about ten times as long
        code = "import sys; from opimpact.cli import cli; sys.argv[0] = 'opimpact'; cli()"
        before = Runs(f"opimpact diff {DIFF_BASELINE[1]} ({DIFF_BASELINE[0]})")
        measure([sys.executable, "-c", code, "diff", str(old), str(new)], before,
                env={**clean_env(), "PYTHONPATH": str(engine)})
        out["baseline"] = before.to_dict()
    return out


def changes_run(skip: set[str]) -> dict:
    """What the work bought: the engine before it, and the current engine with single optimisations off."""
    out: dict = {}
    pkg, _ = package("1m", 1_000_000)
    commands = {}
    if "baseline" not in skip:
        small, _ = package("100k", 100_000)
        code = "import sys; from opimpact.cli import cli; sys.argv[0] = 'opimpact'; cli()"
        for commit, label in BASELINES.items():
            engine = baseline_engine(commit)
            if engine is None:
                continue
            env = {**clean_env(), "PYTHONPATH": str(engine)}
            commands[f"engine {label} ({commit}), 1M"] = {
                "cmd": [sys.executable, "-c", code, "validate", str(pkg)], "env": env}
            commands[f"engine {label} ({commit}), shipped package"] = {
                "cmd": [sys.executable, "-c", code, "validate", "."], "env": env, "cwd": REPO}
            commands[f"engine {label} ({commit}), 100k"] = {
                "cmd": [sys.executable, "-c", code, "validate", str(small)], "env": env}
        commands["current engine, 100k"] = {"cmd": opimpact_cmd(small)}
    if "ablation" not in skip:
        for label, patch in ABLATIONS.items():
            commands[f"1M, {label}"] = {"cmd": [sys.executable, "-c", PATCHED.format(patch=patch), "validate", str(pkg)]}
    log(f"changes: {len(commands)} variants, 3 repetitions")
    out["runs"] = {k: v.to_dict() for k, v in interleaved(commands, 3).items()}
    return out


def machine() -> dict:
    def versions() -> dict:
        from importlib.metadata import PackageNotFoundError, version

        found = {}
        # pandas is not a dependency (the test extra brings it): where it is installed, pandera imports it
        for name in ("op-impact", "polars", "pandera", "frictionless", "pyarrow", "click", "pandas"):
            try:
                found[name] = version(name)
            except PackageNotFoundError:
                found[name] = "not installed"
        return found

    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() else ""
    mem = next((int(line.split()[1]) // 1024 for line in Path("/proc/meminfo").read_text().splitlines()
                if line.startswith("MemTotal")), 0) if Path("/proc/meminfo").exists() else 0
    commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    dirty = bool(subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no", "--",
                                 "scripts", "benchmarks/*.py", "pyproject.toml"],
                                capture_output=True, text=True).stdout.strip())
    return {"date": time.strftime("%Y-%m-%d %H:%M %Z"), "cpu": cpu, "cores": os.cpu_count(), "memory_mb": mem,
            "os": f"{platform.system()} {platform.release()}", "python": platform.python_version(),
            "versions": versions(), "commit": commit + (" (with uncommitted changes)" if dirty else ""),
            "peak_memory_by": "/usr/bin/time -v" if Path(TIME_BIN).exists() else "getrusage(RUSAGE_CHILDREN)"}


# --- the report -------------------------------------------------------------------------------------------

def _runs(data: dict) -> Runs:
    return Runs(data["label"], data["walls"], data["peaks_mb"], data["exit_codes"])


def render(results: dict) -> str:
    from render import render_results

    return render_results(results, _runs)


if __name__ == "__main__":
    sys.exit(main())
