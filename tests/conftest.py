"""Shared fixtures: the repository's package, a disposable copy of it, and the sources archive."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from hypothesis import settings

REPO = Path(__file__).resolve().parent.parent
PACKAGE_PARTS = ("datapackage.json", "data", "schemas")

# CI runs the same examples every time, so a red build can be reproduced; local runs keep exploring.
settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
settings.register_profile("dev", deadline=None, print_blob=True)
settings.load_profile("ci" if os.environ.get("CI") else "dev")


def archive_dir() -> Path | None:
    """The sources archive named by OPIMPACT_ARCHIVE, or None when it is not available."""
    value = os.environ.get("OPIMPACT_ARCHIVE")
    if value and Path(value).is_dir():
        return Path(value)
    return None


@pytest.fixture
def archive() -> Path:
    path = archive_dir()
    if path is None:
        pytest.skip("the sources archive is not available: set OPIMPACT_ARCHIVE to shared/sources (CI always does)")
    return path


@pytest.fixture
def package_copy(tmp_path: Path) -> Path:
    """A copy of the shipped package that a test may damage."""
    dest = tmp_path / "package"
    dest.mkdir()
    for part in PACKAGE_PARTS:
        source = REPO / part
        if source.is_dir():
            shutil.copytree(source, dest / part)
        else:
            shutil.copy2(source, dest / part)
    return dest


@pytest.fixture
def sample_package(tmp_path: Path) -> Path:
    """A small valid package (real descriptor and schemas, sample rows with accents, line breaks, "NA")."""
    from export_sample import make_sample_package

    return make_sample_package(tmp_path / "sample")


@pytest.fixture(params=["sample", "shipped"])
def any_package(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """Each test runs twice: on the sample package, then on the shipped one (read-only)."""
    if request.param == "shipped":
        return REPO
    from export_sample import make_sample_package

    return make_sample_package(tmp_path / "sample")
