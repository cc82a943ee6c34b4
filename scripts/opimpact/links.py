"""Links between rows: identity (X08) and typed links between tables (X10).

Identity is a foreign key into the row's own table (events.same_as, say): it names the canonical row that
records the same real-world thing from another source. Typed links are foreign keys into another table whose
rows rest on the articles (a personnel figure's event, an asset's arrival event, a quote's figure): they join
rows of one source. Whether the target exists is F09's to say; these rules read context columns computed here
over whole tables: both are checked once a table's batches are done, over its kept key columns.
"""

from __future__ import annotations

from collections.abc import Iterator

import polars as pl

from .registry import RowCheck, shown, table_rule
from .table_rules import ForeignKey, TableInfo, date_groups

SOURCE = "source_id"


def identity_keys(table: TableInfo) -> list[ForeignKey]:
    """Single-field foreign keys into the table itself, other than its primary key."""
    return [fk for fk in table.foreign_keys if fk.resource == table.name and len(fk.fields) == 1
            and len(table.primary_key) == 1 and fk.fields != table.primary_key]


def link_keys(table: TableInfo) -> list[ForeignKey]:
    """The single-field foreign keys into other tables whose rows rest on a source (they have a source_id that is
    not their primary key), from a table that has a source_id itself."""
    if SOURCE not in table.field_names():
        return []
    return [fk for fk in table.foreign_keys
            if fk.resource != table.name and fk.reference_fields != [SOURCE] and len(fk.fields) == 1]


def window(table: TableInfo) -> tuple[str | None, str | None]:
    """The columns bounding a row's possible dates: the earliest day of its first date group and the latest day of
    its last (None when the table has no such columns)."""
    names = set(table.field_names())
    stems = [s for s in date_groups(table.schema) if f"{s}_earliest" in names and f"{s}_latest" in names]
    if not stems:
        return None, None
    return f"{stems[0]}_earliest", f"{stems[-1]}_latest"


def target_column(field: str, part: str) -> str:
    """Context column: a property of the row an identity link names."""
    return f"__{field}_target_{part}"


def link_source_column(field: str) -> str:
    """Context column: the source of the row that the typed link in `field` names."""
    return f"__{field}_source"


def with_identity(frame: pl.DataFrame, table: TableInfo, unique: bool = False,
                  rows: pl.DataFrame | None = None) -> pl.DataFrame:
    """For each identity link: whether the target exists, the target's own link, and its window; for the rows
    of frame, or, given rows (some of frame's rows), for those (the targets are still looked up in frame).
    unique says the primary key's values never repeat (else the first row of a key is its target)."""
    earliest, latest = window(table)
    key = table.primary_key[0] if table.primary_key else None
    rows = frame if rows is None else rows
    for fk in identity_keys(table):
        field = fk.fields[0]
        if key is None or not {key, field} <= set(frame.columns):
            continue
        parts = {key: pl.col(key), target_column(field, "found"): pl.lit(True),
                 target_column(field, "link"): pl.col(field)}
        if earliest and latest and {earliest, latest} <= set(frame.columns):
            parts[target_column(field, "earliest")] = pl.col(earliest)
            parts[target_column(field, "latest")] = pl.col(latest)
        named = rows.get_column(field).drop_nulls().unique()  # only the rows some link names are looked up
        targets = frame.filter(pl.col(key).is_in(named.implode())).select(**parts)
        if not unique:
            targets = targets.unique(key, keep="first", maintain_order=True)
        targets = targets.rename({key: field})
        rows = rows.with_columns(_looked_up(rows, field, targets))
    return rows


def _looked_up(frame: pl.DataFrame, field: str, lookup: pl.DataFrame) -> list[pl.Series]:
    """lookup's other columns for each row of frame, by field (lookup's values of field are unique). Only the
    one column is joined: a join of the whole frame would copy every column of it."""
    joined = frame.select(field).join(lookup, on=field, how="left", maintain_order="left")
    return [joined.get_column(name) for name in lookup.columns if name != field]


def with_link_sources(frame: pl.DataFrame, table: TableInfo, owners: dict[tuple[str, str], pl.DataFrame]
                      ) -> pl.DataFrame:
    """For each typed link: the source_id of the row it names (null where unknown)."""
    for fk in link_keys(table):
        field = fk.fields[0]
        found = owners.get((fk.resource, fk.reference_fields[0]))
        if found is None or field not in frame.columns:
            frame = frame.with_columns(pl.lit(None, dtype=pl.String).alias(link_source_column(field)))
            continue
        lookup = found.rename({fk.reference_fields[0]: field, SOURCE: link_source_column(field)})  # unique keys
        if lookup.schema[field] != frame.schema[field]:
            lookup = lookup.with_columns(pl.col(field).cast(frame.schema[field], strict=False))
        named = frame.get_column(field).drop_nulls().unique()  # only the rows this batch names are looked up
        lookup = lookup.filter(pl.col(field).is_in(named.implode()))
        frame = frame.with_columns(_looked_up(frame, field, lookup))
    return frame


@table_rule("X08", "same-as", "cross-table",
            "An identity link (a foreign key into the row's own table, such as same_as) names another row that is "
            "canonical (names no row itself) and whose possible dates overlap this row's (from the earliest day of "
            "the first date group to the latest day of the last; an empty day is open).",
            "the identity link does not name a canonical row of overlapping date")
def same_as(table: TableInfo) -> Iterator[RowCheck]:
    earliest, latest = window(table)
    for fk in identity_keys(table):
        field = fk.fields[0]
        link, key = pl.col(field), pl.col(table.primary_key[0])
        found = pl.col(target_column(field, "found")).fill_null(False)
        yield RowCheck(field, link.is_null() | (link != key), f"{field} names the row itself: leave it empty on "
                       "the canonical row", scope="table", about=field)
        yield RowCheck(field, link.is_null() | (link == key) | ~found | pl.col(target_column(field, "link")).is_null(),
                       f"{field} names a row that is not canonical (it names another row itself): name that "
                       "row's canonical row instead", explain=shown(target_column(field, "link")), scope="table", about=field)
        if earliest is None:
            continue
        mine_from, mine_to = pl.col(earliest), pl.col(latest)
        its_from, its_to = pl.col(target_column(field, "earliest")), pl.col(target_column(field, "latest"))
        overlap = ((mine_from.is_null() | its_to.is_null() | (mine_from <= its_to))
                   & (its_from.is_null() | mine_to.is_null() | (its_from <= mine_to)))
        yield RowCheck(field, link.is_null() | ~found | overlap.fill_null(True),
                       f"the possible dates of this row and of the row {field} names do not overlap",
                       explain=shown(target_column(field, "latest")), scope="table", about=field)


@table_rule("X10", "link-source", "cross-table",
            "A typed link to a row of another table that rests on the articles (an event, a quote, a personnel "
            "figure) names a row of the same source; identity links cross sources, typed links do not.",
            "names a row of another source")
def link_source(table: TableInfo) -> Iterator[RowCheck]:
    for fk in link_keys(table):
        field = fk.fields[0]
        other = pl.col(link_source_column(field))
        yield RowCheck(field, pl.col(field).is_null() | other.is_null() | (other == pl.col(SOURCE)).fill_null(True),
                       f"{field} names a row of another source (link rows of one source; link sources through "
                       "same_as)", explain=shown(link_source_column(field)), scope="table")
