"""pandera's polars API, imported without what a polars-only run never uses.

`import pandera.polars` costs about 0.3 s on a warm cache (0.8 s cold). Part of that is pandera's own
__init__, which first tries `import numpy, pandas` for its pandas API and quietly falls back to the
polars-only set-up when pandas is missing; numpy alone takes ~0.1 s and pandas, where installed, much more.
Another part is the model, decorator and schema-inference modules that `pandera.polars` re-exports, and, at
the first validation, pandera's data-synthesis strategies, which import hypothesis (~0.1 s) where installed.

This module imports only the pieces validation uses (Check, Column, DataFrameSchema, errors, the built-in
polars checks, and the check backend that `opimpact.screen` evaluates checks through), while numpy, pandas
and hypothesis are reported missing to pandera (to its __init__, its strategies module, and the probe for
its pandas API that it would otherwise make at the first validation, whose answer it caches). The block
holds for the importing thread only and is lifted right after; polars is imported first so it still sees
numpy, and a module already imported is used as is. If anything goes wrong, it falls back to the plain
`import pandera.polars`.

The import happens at the first use of one of these names, not when this module is imported: validate
starts reading the tables first, so the files are parsed while pandera loads.
"""

from __future__ import annotations

import importlib.abc
import sys
import threading

import polars  # noqa: F401  (imported before the block below, so polars' optional-dependency probes see numpy)

_HIDDEN = ("numpy", "pandas", "hypothesis")


class _HideFromPandera(importlib.abc.MetaPathFinder):
    def __init__(self) -> None:
        self.thread = threading.get_ident()  # other threads (a reader counting bytes with numpy) see everything

    def find_spec(self, name, path=None, target=None):
        if name in _HIDDEN and threading.get_ident() == self.thread:
            raise ModuleNotFoundError(f"No module named '{name}'", name=name)
        return None


def _import_lean():
    blocker = _HideFromPandera() if "pandera" not in sys.modules else None
    if blocker is not None:
        sys.meta_path.insert(0, blocker)
    try:
        # pandera imports its polars checks (and, through them, its hypothesis strategies) at the first
        # validation; imported here, they see no hypothesis: data synthesis is not used, checking is unchanged
        import pandera.backends.polars.builtin_checks  # noqa: F401
        from pandera import errors
        from pandera.api.checks import Check
        from pandera.api.polars.components import Column
        from pandera.api.polars.container import DataFrameSchema
        from pandera.api.polars.types import PolarsData
        from pandera.backends.polars.checks import PolarsCheckBackend
        from pandera.constants import CHECK_OUTPUT_KEY

        try:  # pandera probes for its pandas API again at the first validation; answer it now, once
            from pandera.backends.register_checks import _load_get_backend_types_from_mro

            _load_get_backend_types_from_mro()
        except ImportError:
            pass
    finally:
        if blocker is not None:
            sys.meta_path.remove(blocker)
    return Check, Column, DataFrameSchema, errors, PolarsData, PolarsCheckBackend, CHECK_OUTPUT_KEY


def _import_plain():
    """The documented entry point, for a pandera whose layout differs."""
    for name in [m for m in sys.modules if m == "pandera" or m.startswith("pandera.")]:
        del sys.modules[name]
    import pandera.polars as pa
    from pandera.api.polars.types import PolarsData
    from pandera.backends.polars.checks import PolarsCheckBackend
    from pandera.constants import CHECK_OUTPUT_KEY

    return pa.Check, pa.Column, pa.DataFrameSchema, pa.errors, PolarsData, PolarsCheckBackend, CHECK_OUTPUT_KEY


# in the order _import_lean and _import_plain return them
_NAMES = ["Check", "Column", "DataFrameSchema", "errors", "PolarsData", "PolarsCheckBackend", "CHECK_OUTPUT_KEY"]


def __getattr__(name: str):
    """Import pandera at the first use of one of its names (PEP 562)."""
    if name not in _NAMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    try:
        found = _import_lean()
    except ImportError:
        found = _import_plain()
    globals().update(zip(_NAMES, found, strict=True))
    return globals()[name]
