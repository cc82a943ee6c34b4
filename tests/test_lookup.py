"""Lookups by position (opimpact.lookup): each value's row among distinct keys, as a dict would find it."""

from __future__ import annotations

import polars as pl
from hypothesis import example, given
from hypothesis import strategies as st

from opimpact.lookup import positions_in

TEXT = st.text(alphabet="ab é\u00a0\u200b", max_size=3)


@given(keys=st.lists(TEXT, unique=True), values=st.lists(st.none() | TEXT, max_size=30))
@example(keys=[], values=["a", None])
@example(keys=["a", "a "], values=["a ", "a", " a"])
def test_positions_are_each_values_row_among_the_keys(keys, values):
    row = {key: i for i, key in enumerate(keys)}
    found = positions_in(pl.Series(values, dtype=pl.String), pl.Series(keys, dtype=pl.String))
    assert found.dtype == pl.UInt32
    assert found.to_list() == [row.get(value) if value is not None else None for value in values]
