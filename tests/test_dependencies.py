"""Declared dependencies are honest: the library imports every runtime dependency (others belong in an extra),
declares every third-party module it imports, and .ci/min_constraints.py pins every declared lower bound."""

from __future__ import annotations

import ast
import inspect
import subprocess
import sys
from importlib.metadata import distribution
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

REPO = Path(__file__).resolve().parent.parent
LIBRARY = REPO / "scripts" / "opimpact"
MIN_CONSTRAINTS = REPO / ".ci" / "min_constraints.py"
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
needs_tomllib = pytest.mark.skipif(sys.version_info < (3, 11), reason=".ci/min_constraints.py needs tomllib (3.11+)")


def requirements(extra: str | None = None) -> list[Requirement]:
    project = PYPROJECT["project"]
    texts = project["dependencies"] if extra is None else project["optional-dependencies"][extra]
    return [Requirement(text) for text in texts]


def imported_modules(folder: Path) -> set[str]:
    """Top-level names of the absolute imports in every module under folder, including imports inside functions."""
    names = set()
    for path in sorted(folder.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return names


def third_party(modules: set[str]) -> set[str]:
    return {m for m in modules if m not in sys.stdlib_module_names and m not in ("__future__", "opimpact")}


def provided_modules(requirement: Requirement) -> set[str]:
    """Top-level modules the installed distribution holds (pyyaml -> yaml), read from its file list.

    importlib.metadata.packages_distributions() would do on 3.11+, but on 3.10 it reads only top_level.txt,
    which the wheels of click, numpy and matplotlib do not have."""
    modules = set()
    for file in distribution(requirement.name).files or []:
        top = file.parts[0] if len(file.parts) > 1 else inspect.getmodulename(file.parts[0])
        if top and top != ".." and not top.endswith((".dist-info", ".egg-info", ".data")):
            modules.add(top)
    return modules


RUNTIME = [r for r in requirements() if r.marker is None or r.marker.evaluate()]
LIBRARY_IMPORTS = third_party(imported_modules(LIBRARY))


@pytest.mark.parametrize("requirement", RUNTIME, ids=str)
def test_the_library_imports_every_runtime_dependency(requirement):
    """A runtime dependency the library never imports belongs in an extra (`test`, `bench`) or nowhere."""
    provided = sorted(provided_modules(requirement))
    assert LIBRARY_IMPORTS & set(provided), (
        f"runtime dependency {requirement} is never imported under scripts/opimpact (it provides {provided[:5]})")


def test_every_module_the_library_imports_is_a_runtime_dependency():
    declared = set().union(*(provided_modules(r) for r in RUNTIME))
    assert not LIBRARY_IMPORTS - declared, (
        f"modules imported by scripts/opimpact but not declared as runtime dependencies: {LIBRARY_IMPORTS - declared}")


def test_import_scan_sees_imports_inside_functions(tmp_path):
    (tmp_path / "m.py").write_text("import os.path\nfrom . import sibling\ndef f():\n    from yaml import safe_load\n",
                                   encoding="utf-8")
    assert imported_modules(tmp_path) == {"os", "yaml"}
    assert third_party(imported_modules(tmp_path)) == {"yaml"}


def run_min_constraints(pyproject: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(MIN_CONSTRAINTS), str(pyproject)], capture_output=True, text=True,
                          check=False)


@needs_tomllib
def test_min_constraints_pins_every_lower_bound():
    """One `name==X` per `name>=X` among the runtime and test requirements, nothing else."""
    expected = set()
    for requirement in requirements() + requirements("test"):
        bounds = [spec.version for spec in requirement.specifier if spec.operator == ">="]
        expected.update(f"{canonicalize_name(requirement.name)}=={bound}" for bound in bounds)
    result = run_min_constraints(REPO / "pyproject.toml")
    assert result.returncode == 0, result.stderr
    assert sorted(result.stdout.split()) == sorted(expected)
    assert {"polars", "pandera", "click"} <= {line.split("==")[0] for line in result.stdout.split()}


@needs_tomllib
def test_min_constraints_reads_extras_markers_and_ranges(tmp_path):
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text("""
[project]
name = "x"
dependencies = ["pandera[polars] >= 0.25", "Py_YAML>=6.0.1,<7", "unbounded", "exact==1.0"]
[project.optional-dependencies]
test = ["tomli>=2.0; python_version < '3.11'", "pytest ~= 8.0"]
bench = ["pyarrow>=18"]
""", encoding="utf-8")
    result = run_min_constraints(pyproject)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["pandera==0.25", "py-yaml==6.0.1", "tomli==2.0"]


@needs_tomllib
def test_min_constraints_refuses_two_lower_bounds_for_one_package(tmp_path):
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text('[project]\nname = "x"\ndependencies = ["polars>=1.28"]\n'
                         '[project.optional-dependencies]\ntest = ["polars>=1.30"]\n', encoding="utf-8")
    result = run_min_constraints(pyproject)
    assert result.returncode == 2 and "polars" in result.stderr and not result.stdout
