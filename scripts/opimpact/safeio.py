"""Bounded reading of the small files a command is handed: regular files only, size-limited, and parsers
(JSON, YAML) that refuse what would exhaust the machine or silently change a value.

Errors are ValueError (limits.LimitExceeded when a limit is crossed) naming the file; a missing file raises
FileNotFoundError as usual, so callers can word that case themselves.
"""

from __future__ import annotations

import json
import math
import os
import stat
from pathlib import Path

from . import limits


class NotRegularFile(ValueError):
    """A FIFO, device, socket or folder where a file was expected: reading it could block or never end."""


def read_regular(path: str | os.PathLike, limit: int, what: str) -> bytes:
    """The bytes of a regular file of at most limit bytes.

    The file is opened without blocking and checked on the open descriptor, so a FIFO put in its place is
    refused, never waited on."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    with open(fd, "rb", closefd=True) as handle:
        mode = os.fstat(handle.fileno()).st_mode
        if not stat.S_ISREG(mode):
            kind = "a folder" if stat.S_ISDIR(mode) else "a FIFO" if stat.S_ISFIFO(mode) else "not a regular file"
            raise NotRegularFile(f"{what} is {kind}, not a regular file; refused")
        raw = handle.read(limit + 1)
    if len(raw) > limit:
        raise limits.LimitExceeded(f"{what} is larger than the limit of {limit} bytes")
    return raw


def is_regular(path: Path) -> bool:
    """True when path is a regular file (following links); False for FIFOs, folders, and what does not exist."""
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except (OSError, ValueError):
        return False


def decode_utf8(raw: bytes, what: str) -> str:
    """UTF-8 text (a byte-order mark is kept as U+FEFF, so writing the text back keeps it)."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{what} is not UTF-8 (byte {exc.start})") from None


def read_text(path: str | os.PathLike, what: str, limit: int | None = None) -> str:
    """A small UTF-8 text file (CITATION.cff, CHANGELOG.md, SHA256SUMS), bounded by limits.MAX_TEXT_BYTES."""
    return decode_utf8(read_regular(path, limits.MAX_TEXT_BYTES if limit is None else limit, what), what)


# ---------------------------------------------------------------- JSON

def _refuse_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON (JSON has no NaN or Infinity)")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the number {text[:40]} is out of range (it would become infinity)")
    return value


def load_json(raw: bytes, what: str) -> object:
    """Parse JSON bytes (UTF-8, a BOM allowed): no NaN or Infinity, no number that overflows to infinity, no
    lone surrogate, nested at most limits.MAX_JSON_DEPTH deep. Raises ValueError or limits.LimitExceeded."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{what} is not UTF-8 (byte {exc.start})") from None
    try:
        value = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{what} is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}") from None
    except RecursionError:
        raise limits.LimitExceeded(f"{what} nests deeper than the limit of {limits.MAX_JSON_DEPTH} levels") from None
    except ValueError as exc:  # NaN or Infinity, a float out of range, an integer of thousands of digits
        raise ValueError(f"{what} is not usable JSON: {str(exc).split(';')[0]}") from None
    _check_json_value(value, what)
    return value


def _check_json_value(value: object, what: str) -> None:
    """Refuse JSON nested beyond the limit or holding a lone surrogate (an escape that is not Unicode text)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limits.MAX_JSON_DEPTH:
            raise limits.LimitExceeded(f"{what} nests deeper than the limit of {limits.MAX_JSON_DEPTH} levels")
        if isinstance(item, dict):
            stack.extend((part, depth + 1) for pair in item.items() for part in pair)
        elif isinstance(item, list):
            stack.extend((part, depth + 1) for part in item)
        elif isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                raise ValueError(f"{what} holds a \\u escape that is not Unicode text (a lone surrogate)") from None


# ---------------------------------------------------------------- YAML

def load_yaml(text: str, what: str) -> object:
    """Parse YAML with the safe loader (plain data only), after checking on the parsed node graph that it
    expands to at most limits.MAX_YAML_NODES values (aliases counted each time they are used) nested at most
    limits.MAX_YAML_DEPTH deep. Raises ValueError naming the problem."""
    import yaml

    if len(text.encode("utf-8", "surrogatepass")) > limits.MAX_TEXT_BYTES:
        raise limits.LimitExceeded(f"{what} is larger than the limit of {limits.MAX_TEXT_BYTES} bytes")
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        _check_yaml_node(node, what)
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ValueError(f"{what} is not valid YAML: {exc}") from None
    except RecursionError:
        raise limits.LimitExceeded(f"{what} nests deeper than the limit of {limits.MAX_YAML_DEPTH} levels") from None
    except (ValueError, TypeError, OverflowError) as exc:  # a value the loader cannot build, e.g. date 0000-01-01
        if isinstance(exc, limits.LimitExceeded):
            raise
        raise ValueError(f"{what} holds a value that cannot be read: {exc}") from None


def _check_yaml_node(node, what: str) -> None:
    import yaml

    if node is None:
        return
    budget = limits.MAX_YAML_NODES
    stack = [(node, 1)]
    while stack:
        item, depth = stack.pop()
        budget -= 1
        if budget < 0:
            raise limits.LimitExceeded(f"{what} expands to more than {limits.MAX_YAML_NODES} values (aliases "
                                       "counted each time they are used); refused as a possible 'billion laughs'")
        if depth > limits.MAX_YAML_DEPTH:
            raise limits.LimitExceeded(f"{what} nests deeper than the limit of {limits.MAX_YAML_DEPTH} levels")
        if isinstance(item, yaml.SequenceNode):
            stack.extend((child, depth + 1) for child in item.value)
        elif isinstance(item, yaml.MappingNode):
            stack.extend((part, depth + 1) for pair in item.value for part in pair)
