"""Export each table as a Parquet file, typed from its Table Schema, for R arrow, DuckDB, polars and pandas users.

Each file carries, in its key-value metadata, the table's Table Schema (with every field's description) under
`frictionless:schema`, and the package's name and version. Files are written in a fixed order with fixed
settings, each through a temporary file, so the same package gives the same bytes.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from .atomic import atomic_path
from .export_common import LoadedPackage, export_source
from .package import EXPECTED_RESOURCES, Package

__all__ = ["write_parquet_tables", "write_release_tables", "parquet_metadata"]

COMPRESSION = "zstd"
COMPRESSION_LEVEL = 9


def parquet_metadata(loaded: LoadedPackage, name: str) -> dict[str, str]:
    """The key-value metadata of one table's file: its Table Schema and where it comes from."""
    descriptor = loaded.descriptor
    entry = next((r for r in descriptor.get("resources", []) if isinstance(r, dict) and r.get("name") == name), {})
    return {
        "frictionless:schema": json.dumps(loaded.schema(name), ensure_ascii=False, sort_keys=True),
        "frictionless:resource": name,
        "description": str(entry.get("description", "")),
        "package": str(descriptor.get("name", "")),
        "version": str(descriptor.get("version", "")),
    }


def write_parquet_tables(source: Package | LoadedPackage | str | os.PathLike, out_dir: str | os.PathLike,
                         prefix: str = "", check: bool = True) -> list[Path]:
    """Write <out_dir>/<prefix><table>.parquet for every table of a package that validates; return the paths written.

    Raises InvalidPackage (exit 1) for a package that does not validate, UnreadableInput for one that cannot be
    read, and OutputAliasesInput when an output would replace one of the package's files (exit 2).
    """
    out = Path(out_dir)
    written = []
    with export_source(source, [out / f"{prefix}{name}.parquet" for name in EXPECTED_RESOURCES],
                       check=check) as loaded:
        for name, frame in loaded.tables.items():
            target = out / f"{prefix}{name}.parquet"
            with atomic_path(target) as tmp:
                frame.write_parquet(tmp, compression=COMPRESSION, compression_level=COMPRESSION_LEVEL,
                                    statistics=True, metadata=parquet_metadata(loaded, name))
            written.append(target)
    return written


def write_release_tables(source: Package | LoadedPackage | str | os.PathLike, out_path: str | os.PathLike,
                         check: bool = True) -> list[Path]:
    """A release's Parquet files beside out_path: for out_path NAME.parquet, one NAME.<table>.parquet per table
    (release artifacts are plain file names in one folder, as SHA256SUMS lists them)."""
    out = Path(out_path)
    return write_parquet_tables(source, out.parent, prefix=out.name.removesuffix(".parquet") + ".", check=check)
