"""The rule registry: every finding carries the ID of a rule declared once, next to its implementation.

A rule is declared with `Rule(...)` (descriptor and structure rules, whose checks are steps of loading the
package or reading a CSV file) or with `@table_rule(...)` on the function that builds its row checks (field,
cross-field and provenance rules). Either way the declaration sits in the module that implements the rule,
so `grep -rn '"X05"' scripts/` finds it. `all_rules()` imports those modules and returns the whole catalogue,
from which the README's rule table is generated (`opimpact rules --format markdown`).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import polars as pl

LAYERS = ("descriptor", "structure", "field", "cross-field", "cross-table", "provenance")
# Every module that declares rules, in the order its rules run.
RULE_MODULES = ("package", "limits", "standard", "csvreader", "fieldtypes", "table_rules", "edtfdates", "links",
                "provenance", "ownwords")

_REGISTRY: dict[str, Rule] = {}


@dataclass(frozen=True)
class RowCheck:
    """One verdict per row: `ok` is true where the row passes (null counts as failing).

    `field` is where a failure is reported. `value_wise` says the verdict depends on that field's value
    alone, so a column whose values repeat can be checked once per distinct value. `explain`, given a failing
    row (its cells and context columns by name), says what completes the message: the ceiling in force, the
    nearest passage of the source. `scope` "table" marks checks that
    read whole-table context (uniqueness), run once on the table's key columns rather than on each batch.
    `about`, a column name, says the check concerns only the rows where that column has a value (every other
    row passes it): a table-scope check is then run on those rows alone, with context computed for them only.
    """

    field: str
    ok: pl.Expr
    message: str | None = None
    value_wise: bool = False
    explain: Callable[[dict], str | None] | None = None
    scope: str = "batch"
    about: str | None = None


def shown(column: str) -> Callable[[dict], str]:
    """An explain function that shows a context column's value, labelled by its name ("__ceiling" -> "ceiling")."""
    label = column.strip("_").replace("_", " ")
    return lambda row: f"{label}: {row[column]}"


@dataclass(frozen=True)
class Rule:
    """A named rule: what it requires (description) and what a finding of it says by default (message)."""

    id: str
    name: str
    layer: str
    description: str
    message: str
    build: Callable[..., Iterator[RowCheck]] | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.layer not in LAYERS:
            raise ValueError(f"rule {self.id}: unknown layer {self.layer!r}")
        known = _REGISTRY.get(self.id)
        if known is None:
            _REGISTRY[self.id] = self
        elif known != self:  # equal declarations (a copy with another build, as tests make) keep the first
            raise ValueError(f"rule {self.id} is declared twice ({known.name}, {self.name})")


def table_rule(rule_id: str, name: str, layer: str, description: str, message: str
               ) -> Callable[[Callable[..., Iterator[RowCheck]]], Rule]:
    """Declare a rule whose implementation is the decorated function: it yields the rule's row checks for a
    table (see opimpact.table_rules.TableInfo)."""

    def declare(build: Callable[..., Iterator[RowCheck]]) -> Rule:
        return Rule(rule_id, name, layer, description, message, build)

    return declare


def all_rules() -> list[Rule]:
    """Every rule, by ID (descriptor, structure, field, cross-field, provenance)."""
    for module in RULE_MODULES:
        importlib.import_module(f"opimpact.{module}")
    order = {layer[0].upper(): i for i, layer in enumerate(("descriptor", "structure", "field", "x", "provenance"))}
    return sorted(_REGISTRY.values(), key=lambda r: (order.get(r.id[0], 9), r.id))


def get_rule(rule_id: str) -> Rule:
    """The rule with this ID; KeyError for an ID no module declares."""
    if rule_id not in _REGISTRY:
        all_rules()
    return _REGISTRY[rule_id]


def table_rules() -> list[Rule]:
    """The rules that build row checks, in the order their checks run."""
    return [rule for rule in all_rules() if rule.build is not None]


def render_rules(output_format: str = "text") -> str:
    """The catalogue as text (one rule a line), JSON, or the README's Markdown table."""
    rules = all_rules()
    if output_format == "json":
        import json

        return json.dumps([{"id": r.id, "name": r.name, "layer": r.layer, "description": r.description,
                            "message": r.message} for r in rules], indent=2, ensure_ascii=False) + "\n"
    if output_format == "markdown":
        lines = ["| Rule | Name | Layer | What it requires |", "| --- | --- | --- | --- |"]
        lines += [f"| `{r.id}` | {r.name} | {r.layer} | {r.description} |" for r in rules]
        return "\n".join(lines) + "\n"
    return "".join(f"{r.id}  {r.name:<22} {r.layer:<12} {r.description}\n" for r in rules)
