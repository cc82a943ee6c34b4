"""The descriptor and Table Schemas checked against the Data Package standard's own profiles, by frictionless.

frictionless is the reference implementation of the standard, so its messages are the standard's own words.
It is imported inside `standard_problems` only: the import takes about a quarter of a second.
Only its documented API is used: `Package.validate_descriptor` and `Schema.validate_descriptor` (metadata only:
no data file is opened), the report's `errors` with their `type`, `note` and `message`, and
`system.use_context(trusted=..., http_session=...)`.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

from .registry import Rule

Rule("D06", "standard", "descriptor",
     "The descriptor and each Table Schema are valid against the Data Package and Table Schema profiles "
     "(checked by frictionless, in the standard's own words; remote profiles are never fetched).",
     "not valid against the Data Package standard")

DESCRIPTOR = "descriptor"  # StandardProblem.where for datapackage.json itself
NOT_CHECKED = "not-checked"  # StandardProblem.kind when a part could not be checked against the standard

MAX_MESSAGE_CHARS = 500  # frictionless echoes input (field lists, values) in its messages
MAX_LOCATION_CHARS = 200
MAX_PROBLEMS = 100  # per document; the rest are counted in one closing problem
MAX_JSON_VALUES = 20_000  # per document; frictionless checks about 5,000 a second (the real ones hold a few hundred)
MAX_JSON_VALUES_TO_LOCATE = 2 * MAX_JSON_VALUES  # all the extra checks made to find the items at fault

_STANDARD_PROFILES = {"package": ("data-package", "tabular-data-package"),
                      "resource": ("data-resource", "tabular-data-resource")}
# Stands in for an inline Table Schema that is checked on its own, so that its problems name its resource.
_SCHEMA_CHECKED_APART = "schema.json"


@dataclass(frozen=True)
class StandardProblem:
    """One way the descriptor or a Table Schema departs from the standard (or could not be checked against it).

    where: DESCRIPTOR, or the name of the resource whose Table Schema this is (the keys of `schemas`).
    location: a JSON pointer inside that document ("/resources/1/profile", "/fields/2"), or None when
        frictionless names no place (the problem is then about the document as a whole).
    message: frictionless's message, raw (it may echo input: make it terminal-safe before printing),
        at most MAX_MESSAGE_CHARS long.
    kind: frictionless's error type ("package-error", "resource-error", "schema-error", "field-error", ...),
        or NOT_CHECKED when the standard check could not run on this part.
    """

    where: str
    location: str | None
    message: str
    kind: str


def standard_problems(descriptor: dict, schemas: dict[str, dict]) -> list[StandardProblem]:
    """Check the descriptor against the Data Package profile and each Table Schema against the Table Schema profile.

    `schemas` maps a resource name to its Table Schema (read from its file or inline). Nothing is read from disk
    or the network: an inline schema in the descriptor is checked once, through `schemas` when it is there.
    Never raises: a check that fails becomes a NOT_CHECKED problem.
    """
    try:
        import frictionless  # slow; only this check needs it
    except Exception as exc:  # not installed, or broken
        return [_not_checked(DESCRIPTOR, "frictionless cannot be imported", exc)]
    try:
        schema_names = set(schemas) if isinstance(schemas, dict) else set()
        problems: list[StandardProblem] = []
        with warnings.catch_warnings(), frictionless.system.use_context(trusted=False, http_session=_no_network()):
            warnings.simplefilter("ignore")  # deprecation notes on framework-only properties, not the standard
            prepared, skipped = _prepared_descriptor(descriptor, schema_names)
            problems += _bounded(DESCRIPTOR, skipped + _check(frictionless.Package, DESCRIPTOR, prepared, ("resources",)))
            for name, schema in (schemas.items() if isinstance(schemas, dict) else ()):
                problems += _bounded(str(name), _check(frictionless.Schema, str(name), schema, ("fields", "foreignKeys")))
        return problems
    except Exception as exc:  # the context manager itself, or a bug here: still never lost
        return [_not_checked(DESCRIPTOR, "the check could not run", exc)]


def _no_network():
    """A requests session that refuses every request: frictionless fetches remote profiles through it."""
    import requests  # frictionless's own HTTP client, documented as the type of `http_session`
    from requests.adapters import BaseAdapter

    class Refuse(BaseAdapter):
        def send(self, request, **kwargs):
            raise requests.ConnectionError("op-impact never uses the network")

        def close(self) -> None:
            pass

    session = requests.Session()
    for prefix in ("http://", "https://"):
        session.mount(prefix, Refuse())
    return session


def _prepared_descriptor(descriptor: object, schema_names: set) -> tuple[object, list[StandardProblem]]:
    """The descriptor as frictionless may see it, and a NOT_CHECKED problem for each custom profile taken out.

    A custom profile is a URL or a local path that frictionless would fetch or read: neither is allowed here.
    """
    if not isinstance(descriptor, dict):
        return descriptor, []
    skipped: list[StandardProblem] = []
    prepared = _without_custom_profiles(descriptor, "package", "", skipped)
    resources = prepared.get("resources")
    if isinstance(resources, list):
        prepared["resources"] = [
            _without_custom_profiles(_schema_apart(entry, schema_names), "resource", f"/resources/{index}", skipped)
            if isinstance(entry, dict) else entry
            for index, entry in enumerate(resources)]
    return prepared, skipped


def _without_custom_profiles(entry: dict, level: str, pointer: str, skipped: list[StandardProblem]) -> dict:
    entry = dict(entry)
    for key in ("profile", "profiles"):  # frictionless reads "profiles"[0] as "profile"
        value = entry.get(key)
        custom = [item for item in (value if isinstance(value, list) else [value])
                  if isinstance(item, str) and item not in _STANDARD_PROFILES[level]]
        if custom:
            del entry[key]
            skipped.append(StandardProblem(
                DESCRIPTOR, _capped(f"{pointer}/{key}", MAX_LOCATION_CHARS),
                _capped(f'custom profile "{custom[0]}" not checked: op-impact never fetches or reads a profile; '
                        f'the standard profiles are {" and ".join(_STANDARD_PROFILES[level])}', MAX_MESSAGE_CHARS),
                NOT_CHECKED))
    return entry


def _schema_apart(entry: dict, schema_names: set) -> dict:
    name = entry.get("name")
    if isinstance(entry.get("schema"), dict) and isinstance(name, str) and name in schema_names:
        return {**entry, "schema": _SCHEMA_CHECKED_APART}
    return entry


# The error type of a document's own problems, whose place frictionless gives from the document's root,
# and of an item's own problems, whose place it gives from the item's root.
_OWN_ERROR = {"Package": "package-error", "Schema": "schema-error"}
_ITEM_ERROR = {"resources": "resource-error", "fields": "field-error"}


def _check(cls, where: str, descriptor: object, list_keys: tuple[str, ...]) -> list[StandardProblem]:
    """The problems frictionless finds in one document, each placed as precisely as frictionless allows."""
    if not isinstance(descriptor, dict):  # frictionless would read a string as the path of a file to open
        return [StandardProblem(where, None, f"not checked against the standard: a {cls.__name__} descriptor must "
                                             f"be a JSON object, not {type(descriptor).__name__}", NOT_CHECKED)]
    if _json_values(descriptor, MAX_JSON_VALUES) > MAX_JSON_VALUES:
        return [StandardProblem(where, None, f"not checked against the standard: it holds more than "
                                             f"{MAX_JSON_VALUES} JSON values", NOT_CHECKED)]
    own = _OWN_ERROR[cls.__name__]
    try:
        found = _errors(cls, descriptor)
        unplaced = {message for kind, message, path in found if kind != own or path is None}
        places: dict[str, tuple[str, list[int]]] = {}
        for key in list_keys:
            for message, indexes in _items_to_blame(cls, descriptor, key, unplaced, found).items():
                places.setdefault(message, (key, indexes))
    except Exception as exc:  # RecursionError on deep nesting, MemoryError, a frictionless bug
        return [_not_checked(where, "the check could not run", exc)]
    problems, placed = [], set()
    for kind, message, path in found:
        if kind == own and path is not None:
            problems.append(StandardProblem(where, _capped(f"/{path}", MAX_LOCATION_CHARS), message, kind))
        elif message in places:
            if message not in placed:  # frictionless may repeat it once per item at fault
                placed.add(message)
                key, indexes = places[message]
                problems += [StandardProblem(where, _capped(_inside(key, index, kind, path), MAX_LOCATION_CHARS),
                                             message, kind) for index in indexes]
        else:
            problems.append(StandardProblem(where, None, message, kind))
    return problems


def _bounded(where: str, problems: list[StandardProblem]) -> list[StandardProblem]:
    if len(problems) <= MAX_PROBLEMS:
        return problems
    more = len(problems) - MAX_PROBLEMS
    return problems[:MAX_PROBLEMS] + [StandardProblem(where, None, f"and {more} more problems", NOT_CHECKED)]


def _json_values(value: object, limit: int) -> int:
    """How many values a parsed JSON value holds, counted up to limit + 1 (without recursion: it may nest deep)."""
    stack, count = [value], 0
    while stack and count <= limit:
        count += 1
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return count


def _inside(key: str, index: int, kind: str, path: str | None) -> str:
    """The place of an item's problem: the item, and the path frictionless gives when it is the item's own error."""
    item = f"/{key}/{index}"
    return f"{item}/{path}" if path is not None and _ITEM_ERROR.get(key) == kind else item


def _errors(cls, descriptor: dict) -> list[tuple[str, str, str | None]]:
    """(type, message, path or None) of each error frictionless reports for this descriptor."""
    report = cls.validate_descriptor(descriptor)
    return [(str(error.type), _capped(str(error.message), MAX_MESSAGE_CHARS), _path(str(error.note)))
            for error in report.errors]


def _path(note: str) -> str | None:
    """frictionless ends a profile error's note with " at property 'resources/0/name'", from the root of the
    object it checked (the document, or a resource or field inside it); without this suffix it names no place."""
    _, marker, path = note.rpartition(" at property '")
    return path[:-1] if marker and path.endswith("'") else None


def _items_to_blame(cls, descriptor: dict, key: str, unplaced: set[str],
                    found: list[tuple[str, str, str | None]]) -> dict[str, list[int]]:
    """For each message frictionless gives without a place in the document, the items of `descriptor[key]` at fault.

    frictionless names no resource or field in the checks it makes in code (a resource without the tabular
    profile in a tabular package) nor in those of an item (a resource's name, a field's type). An item is blamed
    when the document holding that item alone repeats the message while the document with some other item (or,
    for a single item, with none) does not.
    """
    items = descriptor.get(key)
    if not unplaced or not isinstance(items, list) or not items:
        return {}
    rest = _json_values({**descriptor, key: []}, MAX_JSON_VALUES_TO_LOCATE)
    if (len(items) + 1) * rest + _json_values(items, MAX_JSON_VALUES_TO_LOCATE) > MAX_JSON_VALUES_TO_LOCATE:
        return {}  # each extra check holds the rest of the document: too slow; the problems stay unplaced
    alone = [{message for _, message, _ in _errors(cls, {**descriptor, key: [item]})} for item in items]
    if len(items) == 1:
        without = {message for _, message, _ in _errors(cls, {**descriptor, key: []})}
        if not without <= {message for _, message, _ in found}:
            return {}  # removing the item broke something else: its absence proves nothing
        alone.append(without)
    blamed = {}
    for message in unplaced:
        indexes = [index for index, messages in enumerate(alone[:len(items)]) if message in messages]
        if indexes and any(message not in messages for messages in alone):
            blamed[message] = indexes
    return blamed


def _not_checked(where: str, what: str, exc: BaseException) -> StandardProblem:
    try:
        detail = f"{type(exc).__name__}: {exc}"
    except Exception:  # an exception whose text cannot be rendered
        detail = type(exc).__name__
    return StandardProblem(where, None, _capped(f"not checked against the standard: {what} ({detail})",
                                                MAX_MESSAGE_CHARS), NOT_CHECKED)


def _capped(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
