"""Look values up in a small table of distinct keys by position: each value's row, to gather what the table holds."""

from __future__ import annotations

import polars as pl


def positions_in(values: pl.Series, keys: pl.Series) -> pl.Series:
    """Each value's position in keys (distinct, non-null strings), null where it is not there.

    Casting to an `Enum` of the keys (documented `cast(strict=False)`: an unknown value becomes null) finds the
    positions; `Series.gather` by them is about twice as quick as a join or `replace_strict`.
    """
    return values.cast(pl.Enum(keys), strict=False).to_physical().cast(pl.UInt32)
