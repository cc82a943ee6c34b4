"""The catalogue of validation rules. Every finding a check reports carries one of these IDs."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Rule:
    id: str
    name: str
    layer: str
    description: str


_RULES = [
    # 1. descriptor
    Rule("D01", "descriptor-readable", "descriptor", "datapackage.json exists and is a JSON object."),
    Rule("D02", "descriptor-resources", "descriptor", "The package lists exactly the expected resources, each with name, path, schema and the tabular-data-resource profile."),
    Rule("D03", "safe-path", "descriptor", "Resource and schema paths are relative paths inside the package, written with forward slashes: no absolute paths, no '..', no URLs, no links leaving the package or looping. Such paths are refused, never fetched."),
    Rule("D04", "schema-readable", "descriptor", "Each Table Schema is a readable JSON object with a list of named, typed fields, and uses only what the validator supports: known types, well-formed constraints, single-field keys that name existing resources and fields."),
    Rule("D05", "file-limit", "descriptor", "A file, cell, row count or zip entry stays within the stated safety limits."),
    # 2. table structure
    Rule("S01", "encoding", "structure", "The CSV file is UTF-8 text (a UTF-8 byte-order mark is tolerated; UTF-16, UTF-32 and NUL bytes are refused)."),
    Rule("S02", "header", "structure", "The header row equals the schema's field names, in the schema's order."),
    Rule("S03", "ragged-row", "structure", "Every row has as many cells as the header."),
    Rule("S04", "blank-row", "structure", "No row is entirely empty."),
    Rule("S05", "file-readable", "structure", "The data file exists, can be read, and has a header and at least one data row."),
    Rule("S06", "line-endings", "structure", "All records end the same way: all LF or all CRLF."),
    # 3. field rules from the Table Schemas
    Rule("F01", "type", "field", "Each cell parses as its field's type (integer, number, date, boolean, ...)."),
    Rule("F02", "required", "field", "A required field has a value in every row."),
    Rule("F03", "unique", "field", "A unique field has no repeated value."),
    Rule("F04", "enum", "field", "The value is one of the field's allowed values."),
    Rule("F05", "pattern", "field", "The value matches the field's pattern."),
    Rule("F06", "range", "field", "The value is within the field's minimum and maximum."),
    Rule("F07", "length", "field", "The value's length is within the field's minLength and maxLength."),
    Rule("F08", "primary-key", "field", "Primary-key values are present and unique."),
    Rule("F09", "foreign-key", "field", "A foreign-key value exists in the referenced table."),
    # 4. rules a Table Schema cannot say (Pandera checks)
    Rule("X01", "date-order", "cross-field", "An end date is not before its start date."),
    Rule("X02", "date-precision", "cross-field", "A date agrees with its precision: month/year/season dates fall on the first day of the period, 'range' has an end date after its start, and a precision is given exactly when a date is."),
    Rule("X03", "personnel-ceiling", "cross-table", "A personnel count is not above the authorized ceiling in force at its date."),
    Rule("X04", "id-pattern", "cross-field", "Every ID (primary or foreign key) follows the ID pattern of the table it identifies."),
    Rule("X05", "whitespace", "cross-field", "No text cell has leading or trailing whitespace."),
    Rule("X06", "formula-injection", "cross-field", "No text cell starts with '=', '+', '-' or '@', which spreadsheets would run as a formula."),
    Rule("X07", "after-publication", "cross-table", "A quote or event is not dated after its source's latest possible publication date, unless the event is marked planned."),
    # 5. provenance (with --archive)
    Rule("P01", "archive-file", "provenance", "Each source's archived text is present in the archive directory."),
    Rule("P02", "checksum", "provenance", "Each source's SHA-256 matches its archived text."),
    Rule("P03", "quote-verbatim", "provenance", "Each quote occurs verbatim in its source (after folding line breaks and runs of spaces)."),
    Rule("P04", "evidence-verbatim", "provenance", "Each evidence excerpt occurs verbatim in its source (after folding line breaks and runs of spaces)."),
]

RULES: dict[str, Rule] = {rule.id: rule for rule in _RULES}
