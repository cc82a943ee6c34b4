"""Findings and the report that collects them, rendered as text or as a stable JSON document."""

from __future__ import annotations

import json
import re
import unicodedata
from collections import Counter
from dataclasses import asdict, dataclass, field

from .registry import get_rule

VALUE_DISPLAY_LIMIT = 80
REPORT_SCHEMA_VERSION = 1


def shorten(value: object, limit: int = VALUE_DISPLAY_LIMIT) -> str | None:
    """A printable, bounded rendering of an offending value."""
    if value is None:
        return None
    text = str(value)
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return text


# Characters that act on a terminal or that cannot be seen: C0/C1 controls, lone surrogates, format characters
# (bidi overrides and isolates, zero-width space and joiners, the BOM, soft hyphen, tag characters), line and
# paragraph separators, spaces other than U+0020, and the other default-ignorable code points (variation
# selectors, Hangul fillers). Anything outside printable ASCII is looked at; only these are escaped.
_SUSPECT = re.compile(r"[^\x20-\x7e]")
_SUSPECT_IN_JSON = re.compile(r"[^\x20-\x7e\n]")  # json.dumps escapes line breaks inside strings; the rest is layout
_IGNORABLE = frozenset([0x034F, 0x115F, 0x1160, 0x17B4, 0x17B5, 0x3164, 0xFFA0, *range(0x180B, 0x1810),
                        *range(0xFE00, 0xFE10)])


def _hidden(char: str) -> bool:
    code = ord(char)
    if code < 0x20 or 0x7F <= code <= 0x9F:
        return True
    category = unicodedata.category(char)
    return (category in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp", "Zs") or code in _IGNORABLE
            or 0xE0100 <= code <= 0xE01EF)


def _escape(char: str) -> str:
    code = ord(char)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def _visible(match: re.Match) -> str:
    char = match.group()
    return _escape(char) if _hidden(char) else char


def printable(text: str) -> str:
    """Text safe to print on one line: control characters (escape sequences, line breaks), bidi overrides,
    zero-width characters, BOMs, unusual spaces and lone surrogates shown as visible escapes (\\x1b, \\u202e)."""
    return _SUSPECT.sub(_visible, text)


def terminal_safe(text: str) -> str:
    """Text safe to print as it is, several lines long: printable() on each line, line breaks (LF or CRLF) kept
    as LF. A carriage return on its own is escaped: it would let later text overwrite what the line showed."""
    return "\n".join(printable(line) for line in re.split(r"\r?\n", text))


def _json_escape(match: re.Match) -> str:
    char = match.group()
    if not _hidden(char):
        return char
    code = ord(char)
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    high, low = divmod(code - 0x10000, 0x400)
    return f"\\u{0xD800 + high:04x}\\u{0xDC00 + low:04x}"


def json_safe(document: str) -> str:
    """JSON text with every invisible or terminal-driving character written as its \\u escape: the same JSON
    value, safe to print. (json.dumps already escapes the C0 controls; with ensure_ascii=False it leaves the
    rest, such as bidi overrides, raw.)"""
    return _SUSPECT_IN_JSON.sub(_json_escape, document)


@dataclass(frozen=True)
class Finding:
    """One broken rule at one place: resource, row (CSV line number) and field where they apply."""

    rule: str
    message: str
    resource: str | None = None
    file: str | None = None
    row: int | None = None
    field: str | None = None
    value: str | None = None

    @property
    def name(self) -> str:
        return get_rule(self.rule).name

    def sort_key(self) -> tuple:
        return (self.resource or "", self.row or 0, self.field or "", self.rule, self.value or "")


@dataclass
class Report:
    """All findings of a validation run. `counts` are exact even when the listed findings are capped."""

    package: str
    resources: list[str] = field(default_factory=list)
    rows: dict[str, int] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    counts: Counter = field(default_factory=Counter)
    archive: str | None = None
    max_per_rule: int = 100
    standard: bool = False  # whether D06 ran: the descriptor and schemas checked against the standard's profiles

    def add(self, finding: Finding) -> None:
        key = (finding.resource or "", finding.rule)
        self.counts[key] += 1
        if self.counts[key] <= self.max_per_rule:
            self.findings.append(finding)

    def extend(self, findings) -> None:
        for finding in findings:
            self.add(finding)

    def add_counted(self, findings: list[Finding], total: int) -> None:
        """Add a run of `total` findings of one rule and resource, of which `findings` are the first (at least
        max_per_rule of them, or all): the report lists and counts exactly as if all had been added in turn."""
        for finding in findings:
            self.add(finding)
        if findings and total > len(findings):
            self.counts[(findings[0].resource or "", findings[0].rule)] += total - len(findings)

    @property
    def error_count(self) -> int:
        return sum(self.counts.values())

    @property
    def valid(self) -> bool:
        return self.error_count == 0

    def sorted_findings(self) -> list[Finding]:
        return sorted(self.findings, key=Finding.sort_key)

    def to_dict(self) -> dict:
        by_rule = Counter()
        for (_, rule), n in self.counts.items():
            by_rule[rule] += n
        return {
            "report_version": REPORT_SCHEMA_VERSION,
            "package": self.package,
            "archive": self.archive,
            "standard_checked": self.standard,
            "valid": self.valid,
            "error_count": self.error_count,
            "listed_count": len(self.findings),
            "rows": dict(sorted(self.rows.items())),
            "counts_by_rule": dict(sorted(by_rule.items())),
            "counts_by_resource": {
                res: sum(n for (r, _), n in self.counts.items() if r == res)
                for res in sorted({r for r, _ in self.counts})
            },
            "errors": [
                {"rule_name": f.name, **asdict(f)} for f in self.sorted_findings()
            ],
        }


def render_json(report: Report) -> str:
    return json_safe(json.dumps(report.to_dict(), indent=2, ensure_ascii=False) + "\n")


def render_text(report: Report) -> str:
    lines: list[str] = []
    current = object()
    for f in report.sorted_findings():
        if f.resource != current:
            current = f.resource
            label = f.resource or "package"
            where = f" ({shorten(f.file, 200)})" if f.file else ""
            lines.append(f"{label}{where}")
        place = [part for part in (
            f"row {f.row}" if f.row is not None else "",
            f"field {f.field}" if f.field else "",
            f"value {json.dumps(f.value, ensure_ascii=False)}" if f.value is not None else "",
        ) if part]
        lines.append(f"  [{f.rule} {f.name}] " + (", ".join(place) + ": " if place else "") + f.message)
    hidden = report.error_count - len(report.findings)
    if hidden:
        lines.append(f"({hidden} more errors not listed: at most {report.max_per_rule} are listed per rule and resource)")
    total_rows = sum(report.rows.values())
    checked = f"{len(report.resources)} resources, {total_rows} rows"
    if report.archive:
        checked += ", archive checked"
    if report.standard:
        checked += ", Data Package standard checked"
    unchecked = [what for what, done in (("archive (--archive)", report.archive), ("standard (--standard)",
                                                                                    report.standard)) if not done]
    if unchecked:
        checked += "; not checked: " + ", ".join(unchecked)
    if report.valid:
        lines.append(f"valid: {report.package} ({checked})")
    else:
        per_rule = Counter()
        for (_, rule), n in report.counts.items():
            per_rule[rule] += n
        detail = ", ".join(f"{rule} {get_rule(rule).name}: {n}" for rule, n in sorted(per_rule.items()))
        lines.append(f"invalid: {report.error_count} errors in {report.package} ({checked}) — {detail}")
    return "\n".join(printable(line) for line in lines) + "\n"
