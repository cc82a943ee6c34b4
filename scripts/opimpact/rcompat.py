"""What R's `frictionless` package (read_package, read_resource) needs from a descriptor to read it right.

frictionless-r reads each CSV with readr, taking column names and types from the Table Schema, not from the
header, so the header must list the schema's fields in order. It refuses resources without the
tabular-data-resource profile and unsafe paths; it passes the schema-level missingValues to readr as `na`;
it maps date fields through their `format` ("default" means %Y-%m-%d) and ignores field-level
missingValues, custom trueValues/falseValues and per-field decimal or group characters. The R package cannot
be installed here, so these invariants are checked instead (see R/read_resource.R and R/check_schema.R in
frictionlessdata/frictionless-r).
"""

from __future__ import annotations

import re

from .csvreader import read_file_header
from .package import Package, read_json_file, resolve_inside

R_TYPES = {"string", "number", "integer", "boolean", "object", "array", "date", "time", "datetime", "year",
           "yearmonth", "duration", "geopoint", "geojson", "any"}
UNSUPPORTED_DIRECTIVES = re.compile(r"%[jUwW]")  # strptime directives readr cannot parse
DEFAULT_DIALECT = {"delimiter": ",", "quoteChar": '"', "doubleQuote": True, "header": True}
PACKAGE_MISSING_VALUES = [""]


def frictionless_r_problems(package: Package) -> list[str]:
    """Every way the package would load wrongly or not at all in frictionless-r; empty when it loads right."""
    problems: list[str] = []
    if not isinstance(package.descriptor.get("resources"), list) or not package.descriptor["resources"]:
        return ["the descriptor needs a non-empty 'resources' list"]
    for entry in package.descriptor["resources"]:
        name = entry.get("name") if isinstance(entry, dict) else None
        if not isinstance(name, str):
            problems.append("every resource needs a 'name'")
            continue
        problems += [f"{name}: {p}" for p in _resource_problems(package, entry)]
    return problems


def _resource_problems(package: Package, entry: dict) -> list[str]:
    problems = []
    if entry.get("profile") != "tabular-data-resource":
        problems.append(f"profile is {entry.get('profile')!r}; read_resource needs 'tabular-data-resource'")
    encoding = str(entry.get("encoding", "utf-8")).lower()
    if encoding not in ("utf-8", "utf8"):
        problems.append(f"encoding {encoding!r}: the CSVs must be UTF-8")
    dialect = entry.get("dialect", {})
    if not isinstance(dialect, dict):
        problems.append("dialect must be inline (or absent) and default")
    else:
        problems += [f"dialect {k}={v!r} differs from the CSV default" for k, v in sorted(dialect.items())
                     if k in DEFAULT_DIALECT and v != DEFAULT_DIALECT[k]]
    path = entry.get("path")
    if not isinstance(path, str):
        return [*problems, "path must be a single relative path"]
    data_path, reason = resolve_inside(package.root, path)
    if reason or data_path is None:
        return [*problems, f"path {path!r}: {reason}"]
    schema = _schema(package, entry, problems)
    if schema is None:
        return problems
    problems += schema_problems(schema)
    if not data_path.is_file():
        return [*problems, f"{path} not found"]
    try:
        header, unreadable = read_file_header(data_path)
    except OSError as exc:
        return [*problems, f"{path}: cannot be read ({exc.strerror or exc})"]
    if unreadable:
        return [*problems, f"{path}: {unreadable}"]
    names = [f.get("name") for f in schema.get("fields", []) if isinstance(f, dict)]
    if header != names:
        problems.append(f"{path}: header {header} differs from the schema's field order {names} "
                        "(frictionless-r names columns from the schema, not the header)")
    return problems


def _schema(package: Package, entry: dict, problems: list[str]) -> dict | None:
    """The schema as frictionless-r reads it: inline, or the JSON file at a safe relative path."""
    schema = entry.get("schema")
    if isinstance(schema, str):
        schema_path, reason = resolve_inside(package.root, schema)
        if reason or schema_path is None or not schema_path.is_file():
            problems.append(f"schema {schema!r} cannot be read: {reason or 'not found'}")
            return None
        try:
            schema = read_json_file(schema_path, schema)
        except (OSError, ValueError) as exc:
            problems.append(f"schema {schema!r} cannot be read: {exc}")
            return None
    if not isinstance(schema, dict) or not isinstance(schema.get("fields"), list):
        problems.append("schema must be an object with a 'fields' list")
        return None
    return schema


def schema_problems(schema: dict) -> list[str]:
    """Field-level invariants: names, types, date formats, missing values, number and boolean options."""
    problems = []
    if schema.get("missingValues") != PACKAGE_MISSING_VALUES:
        problems.append(f"schema-level missingValues is {schema.get('missingValues')!r}; expected "
                        f"{PACKAGE_MISSING_VALUES!r} so that read_resource passes na = \"\" to readr")
    for index, field in enumerate(schema["fields"]):
        if not isinstance(field, dict) or not isinstance(field.get("name"), str):
            problems.append(f"field #{index + 1} needs a string name")
            continue
        name, kind = field["name"], field.get("type", "string")
        if kind not in R_TYPES:
            problems.append(f"field {name}: type {kind!r} is not one frictionless-r knows")
        if "missingValues" in field:
            problems.append(f"field {name}: field-level missingValues are ignored by frictionless-r")
        fmt = field.get("format", "default")
        if kind in ("date", "time", "datetime") and fmt not in ("default", "any"):
            if kind == "date" and fmt != "%Y-%m-%d":
                problems.append(f"field {name}: date format {fmt!r}; keep the default ISO format (YYYY-MM-DD)")
            elif UNSUPPORTED_DIRECTIVES.search(str(fmt)):
                problems.append(f"field {name}: format {fmt!r} uses a directive readr cannot parse")
        if kind in ("number", "integer"):
            if field.get("decimalChar", ".") != ".":
                problems.append(f"field {name}: decimalChar {field['decimalChar']!r} is applied to every field")
            if field.get("groupChar", "") != "":
                problems.append(f"field {name}: groupChar {field['groupChar']!r} is applied to every field")
            if field.get("bareNumber", True) is not True:
                problems.append(f"field {name}: bareNumber false makes readr strip characters")
        if kind == "boolean" and ("trueValues" in field or "falseValues" in field):
            problems.append(f"field {name}: custom trueValues/falseValues are not supported by frictionless-r")
    return problems
