"""Check that a Table Schema uses only what the validator supports, so a hand-written schema fails clearly (D04).

Anything the engine would misread (a constraint of the wrong kind, a regex the engine cannot run, a key that
names no field) is refused with a message naming the field and the property, instead of crashing or being ignored.
"""

from __future__ import annotations

SUPPORTED_TYPES = ("string", "integer", "number", "boolean", "date", "year", "datetime", "any")
NUMERIC_TYPES = ("integer", "number", "year")
RESERVED_PREFIX = "__"  # columns the validator adds (row numbers, joined context)
_FIELD_KEYS_WITH_DEFAULTS = {"format": "default", "bareNumber": True, "decimalChar": ".", "groupChar": None}


def schema_problem(schema: object) -> str | None:
    """Why the validator cannot use this Table Schema, or None when it can."""
    if not isinstance(schema, dict) or not isinstance(schema.get("fields"), list) or not schema["fields"]:
        return "a Table Schema must be an object with a non-empty 'fields' list"
    names: list[str] = []
    for index, field in enumerate(schema["fields"]):
        problem = field_problem(field, index)
        if problem:
            return problem
        if field["name"] in names:
            return f"field {field['name']!r} is listed twice"
        names.append(field["name"])
    missing = schema.get("missingValues", [""])
    if missing != [""]:
        return f"missingValues {missing!r} is not supported: only empty cells are missing values ([\"\"])"
    return _keys_problem(schema, names)


def field_problem(field: object, index: int) -> str | None:
    """Why one field descriptor cannot be used, or None."""
    if not isinstance(field, dict) or not isinstance(field.get("name"), str) or not field["name"]:
        return f"field #{index + 1} needs a non-empty string 'name'"
    name, kind = field["name"], field.get("type", "string")
    where = f"field {name!r}"
    if name.startswith(RESERVED_PREFIX):
        return f"{where}: names starting with {RESERVED_PREFIX!r} are reserved for the validator"
    if not isinstance(kind, str) or kind not in SUPPORTED_TYPES:
        return f"{where} has unsupported type {kind!r}; supported: {', '.join(SUPPORTED_TYPES)}"
    for key, default in _FIELD_KEYS_WITH_DEFAULTS.items():
        if key in field and field[key] != default:
            return f"{where}: {key} {field[key]!r} is not supported (only the default, {default!r})"
    for key in ("trueValues", "falseValues"):
        if key in field and not _is_list_of(field[key], str):
            return f"{where}: {key} must be a list of strings"
    constraints = field.get("constraints", {})
    if not isinstance(constraints, dict):
        return f"{where} has 'constraints' that are not an object"
    return _constraints_problem(where, kind, constraints)


def _constraints_problem(where: str, kind: str, constraints: dict) -> str | None:
    for flag in ("required", "unique"):
        if flag in constraints and not isinstance(constraints[flag], bool):
            return f"{where}: constraint {flag} must be true or false, not {constraints[flag]!r}"
    if "enum" in constraints:
        enum = constraints["enum"]
        item_type = (int,) if kind in ("integer", "year") else (int, float) if kind == "number" else (str,)
        if kind not in ("string", "any", *NUMERIC_TYPES):
            return f"{where}: enum is supported only on string and numeric fields, not {kind}"
        if not isinstance(enum, list) or not enum or not all(
                isinstance(v, item_type) and not isinstance(v, bool) for v in enum):
            what = "numbers" if kind in NUMERIC_TYPES else "strings"
            return f"{where}: constraint enum must be a non-empty list of {what}"
    if "pattern" in constraints:
        problem = regex_problem(constraints["pattern"])
        if problem:
            return f"{where}: pattern {constraints['pattern']!r} {problem}"
        if kind not in ("string", "any"):
            return f"{where}: pattern is supported only on string fields, not {kind}"
    for bound in ("minimum", "maximum"):
        if bound in constraints:
            value = constraints[bound]
            if kind not in NUMERIC_TYPES:
                return f"{where}: {bound} is supported only on integer, number and year fields, not {kind}"
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                return f"{where}: constraint {bound} must be a number, not {value!r}"
    for length in ("minLength", "maxLength"):
        if length in constraints:
            value = constraints[length]
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                return f"{where}: constraint {length} must be a whole number of at least 0, not {value!r}"
            if kind not in ("string", "any"):
                return f"{where}: {length} is supported only on string fields, not {kind}"
    return None


def regex_problem(pattern: object) -> str | None:
    """Why the engine (Rust regex, anchored) cannot run this pattern, or None."""
    if not isinstance(pattern, str) or not pattern:
        return "must be a non-empty string"
    import polars as pl

    try:
        pl.Series([""], dtype=pl.String).str.contains(f"^(?:{pattern})$")
    except Exception as exc:  # polars raises its own ComputeError family for a bad regex
        first = str(exc).strip().splitlines()
        detail = next((line.strip() for line in first if line.strip().startswith("error:")), first[-1] if first else "")
        return f"is not a regular expression the validator can run ({detail or type(exc).__name__})"
    return None


def _keys_problem(schema: dict, names: list[str]) -> str | None:
    primary = schema.get("primaryKey")
    if primary is not None:
        problem = _field_list_problem(primary, names)
        if problem:
            return f"primaryKey {problem}"
    for prop, label, check in (("uniqueKeys", "unique key", _field_list_problem),
                               ("foreignKeys", "foreign key", _foreign_key_problem)):
        keys = schema.get(prop, [])
        if not isinstance(keys, list):
            return f"{prop} must be a list"
        problem = next(((number, found) for number, key in enumerate(keys, start=1)
                        if (found := check(key, names))), None)
        if problem:
            return f"{label} #{problem[0]}: {problem[1]}"
    return None


def field_list(value: object) -> list[str] | None:
    """The field names in "name" or ["name", ...], else None."""
    if isinstance(value, str) and value:
        return [value]
    if isinstance(value, list) and value and all(isinstance(v, str) and v for v in value):
        return list(value)
    return None


def _field_list_problem(value: object, names: list[str]) -> str | None:
    keys = field_list(value)
    if keys is None:
        return "must be a field name or a non-empty list of field names"
    unknown = [k for k in keys if k not in names]
    if unknown:
        return f"names fields that do not exist: {', '.join(map(repr, unknown))}"
    if len(set(keys)) != len(keys):
        return "lists a field twice"
    return None


def _foreign_key_problem(fk: object, names: list[str]) -> str | None:
    if not isinstance(fk, dict) or not isinstance(fk.get("reference"), dict):
        return "needs 'fields' and a 'reference' object"
    problem = _field_list_problem(fk.get("fields"), names)
    if problem:
        return f"'fields' {problem}"
    source, target = field_list(fk.get("fields")), field_list(fk["reference"].get("fields"))
    if target is None or len(set(target)) != len(target):
        return "'reference.fields' must be a field name or a list of distinct field names"
    if len(source) != len(target):
        return f"'fields' names {len(source)} fields but 'reference.fields' names {len(target)}"
    if not isinstance(fk["reference"].get("resource", ""), str):
        return "reference.resource must be a resource name"
    return None


def normalised(schema: dict, own_name: str) -> dict:
    """The schema with self-references (reference.resource "" or missing) naming its own resource."""
    foreign = schema.get("foreignKeys")
    if not foreign:
        return schema
    fixed = []
    for fk in foreign:
        reference = fk["reference"]
        if not reference.get("resource"):
            fk = {**fk, "reference": {**reference, "resource": own_name}}
        fixed.append(fk)
    return {**schema, "foreignKeys": fixed}


def reference_problem(fk: dict, schemas: dict[str, dict | None], known: tuple[str, ...]) -> str | None:
    """Why a (checked) foreign key points nowhere: an unknown resource or a field its schema lacks."""
    target = fk["reference"]["resource"]
    if target not in known:
        return f"reference.resource {target!r} is not a resource of this package ({', '.join(known)})"
    schema = schemas.get(target)
    names = [f["name"] for f in schema["fields"]] if schema is not None else None
    for field in field_list(fk["reference"]["fields"]) or []:
        if names is not None and field not in names:
            return f"reference field {field!r} does not exist in {target}'s schema"
    return None


def _is_list_of(value: object, kind: type) -> bool:
    return isinstance(value, list) and all(isinstance(v, kind) for v in value)
