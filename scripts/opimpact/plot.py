"""The timeline picture: personnel figures, the periods assets were present, events, and the key events labelled.

What is drawn follows the package's own conventions:

- Every dated mark shows how precise its date is: the marker shape names the precision and a pale bar spans the
  whole period the date may fall in, from the group's earliest to its latest possible day. A span of activity
  (kind `span`) is a solid bar ending with a tick where its end is known; a side that is unknown or open (an
  empty earliest or latest day) fades out over a short stretch instead of running to the edge of the picture.
- Each distinct thing is drawn once: rows with `same_as` are left to their canonical row.
- Each personnel figure is labelled with who it counts (its `scope`, and whether special forces are counted).
  Figures are joined by a line only within one series (the same measure and the same scope), never across.
- Only assets deployed and arrived are drawn as presence (a bar up to the departure, or fading out where no
  departure is given). Assets provided or committed to partners, and arrivals that are only planned, are marks.
- The key events are labelled with the first words of their summary: canonical events of kind `single` in the
  categories of KEY_CATEGORIES (decisions on the mission, deployments, withdrawals, suspensions).

Output is deterministic: Agg backend, matplotlib's default style, fixed size and DPI, and no dates or software
versions in the file's metadata. The file carries a fingerprint of what it shows (the plotted fields of the
package and PLOT_STYLE) in its metadata, so `opimpact plot --check` can tell whether it is current without
comparing pixels, which differ between matplotlib and FreeType versions. Text from the package is drawn as it
is written: never read as mathtext ('$'), with invisible and control characters shown as escapes. Any date from
0001-01-01 to 9999-12-31 can be drawn.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import struct
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from . import safeio
from .atomic import atomic_path
from .dates import latest_possible
from .errors import UsageError
from .export_common import LoadedPackage, export_source
from .package import Package
from .report import printable

__all__ = ["plot_timeline", "check_timeline", "timeline_fingerprint", "TimelineCheck", "FORMATS", "PLOT_STYLE",
           "KEY_CATEGORIES"]

# Bump whenever a change to this module changes what the picture shows: a committed picture drawn with another
# style is then reported stale by `plot --check`.
PLOT_STYLE = "3"
FINGERPRINT_KEY = "op-impact fingerprint"  # the PNG text chunk (and SVG description) holding the fingerprint
FORMATS = (".png", ".svg")
MAX_PICTURE_BYTES = 512 * 1024**2  # a picture to check; the committed one is a few hundred kB
SIZE_INCHES = (12.0, 12.0)
DPI = 150
PRECISION_MARKERS = {"day": "o", "month": "s", "season": "D", "year": "^", "range": "X"}
MEASURE_STYLE = {  # label, colour
    "authorized_ceiling": ("authorized ceiling", "#b2182b"),
    "deployed": ("deployed (official)", "#2166ac"),
    "reported_estimate": ("reported estimate", "#e08214"),
}
PRESENCE_COLOUR = "#4d9221"
DELIVERY_COLOUR = "#8073ac"
STATUS_FILL = {"occurred": True, "ongoing": True, "planned": False}
QUALIFIER_SIGN = {"exact": "", "approximately": "~", "at_most": "≤", "at_least": "≥"}
SPECIAL_FORCES_NOTE = {"excluded": "excl. special forces", "included": "incl. special forces",
                       "only": "special forces only", "unstated": ""}
KEY_CATEGORIES = ("mandate", "deployment", "withdrawal", "suspension")
SCOPE_CHARS = 80  # a longer scope is cut at a word and ends with '…'
LABEL_LINE_CHARS = 56  # a personnel label longer than this takes two lines of about equal length
SUMMARY_CHARS = 80
UNCERTAIN_ALPHA = 0.3
FADE_SHARE = 0.05  # an open or unknown side fades out over this share of the time axis
LEGEND_ABOVE_RIGHT = {"loc": "lower right", "bbox_to_anchor": (1.0, 1.0), "fontsize": 8, "frameon": False,
                      "ncols": 4, "borderaxespad": 0.2}

# The fields the picture is drawn from, and so the ones its fingerprint covers.
DATE_FIELDS = ("start", "end", "precision", "kind", "earliest", "latest", "status")
PLOTTED_FIELDS = {
    "personnel_levels": ("personnel_id", *(f"date_{f}" for f in DATE_FIELDS), "count", "qualifier", "measure",
                         "special_forces", "scope", "same_as"),
    "assets": ("asset_id", "name", "quantity", "contribution", "recipient", *(f"arrived_{f}" for f in DATE_FIELDS),
               *(f"departed_{f}" for f in DATE_FIELDS), "same_as"),
    "events": ("event_id", *(f"date_{f}" for f in DATE_FIELDS), "status", "category", "summary", "same_as"),
}


@dataclass(frozen=True)
class Dated:
    """One date group: its earliest and latest possible day (None where unknown or open), its precision, and
    whether it is a span of activity rather than one date."""

    earliest: dt.date | None
    latest_day: dt.date | None
    precision: str
    span: bool = False

    @property
    def start(self) -> dt.date:
        """Where the mark goes: the first possible day, or the last where the start is unknown or open."""
        return self.earliest or self.latest_day

    @property
    def latest(self) -> dt.date:
        return self.latest_day or self.start

    @classmethod
    def of(cls, row: dict, stem: str) -> Dated | None:
        precision = row.get(f"{stem}_precision") or "day"
        span = row.get(f"{stem}_kind") == "span"
        if f"{stem}_earliest" in row and f"{stem}_latest" in row:  # the columns a validated package carries
            earliest, latest = row.get(f"{stem}_earliest"), row.get(f"{stem}_latest")
            if earliest is None and latest is None:
                return None
            return cls(earliest, latest, precision, span)
        start = row.get(f"{stem}_start")
        if start is None:
            return None
        return cls(start, latest_possible(start, row.get(f"{stem}_end"), precision), precision, span)


@dataclass(frozen=True)
class TimeAxis:
    """The time axis: its left and right edges, and how far a side that is unknown or open fades out."""

    left: dt.date
    right: dt.date
    fade: dt.timedelta


class PictureFormatError(UsageError, ValueError):
    """The picture's name does not end in .png or .svg (exit 2)."""


class PictureUnreadable(UsageError):
    """The picture to check is not a regular file, or too large to be one of ours (exit 2)."""


@dataclass(frozen=True)
class TimelineCheck:
    """Whether a picture shows the package as it is: the fingerprint it should carry and the one it carries
    (None when the file is missing or carries none)."""

    path: Path
    expected: str
    found: str | None
    exists: bool

    @property
    def current(self) -> bool:
        return self.found == self.expected

    @property
    def status(self) -> str:
        if self.current:
            return "current"
        if not self.exists:
            return "missing"
        return "stale" if self.found else "unmarked"


def plot_timeline(package: Package | LoadedPackage | str | os.PathLike, out_path: str | os.PathLike,
                  check: bool = True) -> str:
    """Draw the timeline of the package into out_path (.png or .svg), atomically and deterministically, and
    return the fingerprint embedded in it.

    With check=True a package that does not validate raises InvalidPackage; unreadable input raises
    UnreadableInput; an out_path that is a file of the package raises OutputAliasesInput; an unsupported suffix
    raises PictureFormatError.
    """
    out_path = Path(out_path)
    suffix = _suffix(out_path)
    with export_source(package, [out_path], check=check) as loaded, _style():
        plotted = plotted_rows(loaded)
        fingerprint = _fingerprint(loaded, plotted)
        figure = build_figure(loaded, plotted)
        with atomic_path(out_path) as tmp:
            _save(figure, tmp, suffix, fingerprint)
    return fingerprint


def timeline_fingerprint(package: Package | LoadedPackage | str | os.PathLike, check: bool = True) -> str:
    """The fingerprint a current picture of the package carries: SHA-256 of PLOT_STYLE, the package's title and
    the plotted fields of its rows. Raises as plot_timeline does."""
    with export_source(package, [], check=check) as loaded:
        return _fingerprint(loaded, plotted_rows(loaded))


def check_timeline(package: Package | LoadedPackage | str | os.PathLike, out_path: str | os.PathLike) -> TimelineCheck:
    """Compare the fingerprint in out_path with the package's, writing nothing. A missing file, or one with no
    fingerprint, is not current; a folder or other non-regular file raises PictureUnreadable."""
    out_path = Path(out_path)
    suffix = _suffix(out_path)
    expected = timeline_fingerprint(package)
    try:
        raw = safeio.read_regular(out_path, MAX_PICTURE_BYTES, str(out_path))
    except FileNotFoundError:
        return TimelineCheck(out_path, expected, None, exists=False)
    except ValueError as exc:  # not a regular file, or larger than any picture this module draws
        raise PictureUnreadable(str(exc)) from None
    return TimelineCheck(out_path, expected, read_fingerprint(raw, suffix), exists=True)


def read_fingerprint(raw: bytes, suffix: str) -> str | None:
    """The fingerprint embedded in a picture's bytes, or None when there is none (or the file is not a picture)."""
    if suffix == ".svg":
        text = raw.decode("utf-8", errors="replace")
        match = re.search(rf"<dc:description>{re.escape(FINGERPRINT_KEY)}: ([0-9a-f]{{64}})</dc:description>", text)
        return match.group(1) if match else None
    signature = b"\x89PNG\r\n\x1a\n"
    if not raw.startswith(signature):
        return None
    offset = len(signature)
    while offset + 8 <= len(raw):
        (length,) = struct.unpack(">I", raw[offset:offset + 4])
        kind, body = raw[offset + 4:offset + 8], raw[offset + 8:offset + 8 + length]
        if kind == b"tEXt":
            keyword, _, value = body.partition(b"\0")
            if keyword == FINGERPRINT_KEY.encode("latin-1") and re.fullmatch(rb"[0-9a-f]{64}", value):
                return value.decode("ascii")
        if kind == b"IEND":
            break
        offset += 12 + length
    return None


def _suffix(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise PictureFormatError(f"{path}: the picture must end in {' or '.join(FORMATS)}")
    return suffix


def plotted_rows(loaded: LoadedPackage) -> dict[str, list[dict]]:
    """The rows of each plotted table, with only the fields the picture is drawn from, in file order."""
    plotted = {}
    for name, fields in PLOTTED_FIELDS.items():
        frame = loaded.tables.get(name)
        rows = frame.to_dicts() if isinstance(frame, pl.DataFrame) else []
        plotted[name] = [{f: row[f] for f in fields if f in row} for row in rows]
    return plotted


def _fingerprint(loaded: LoadedPackage, plotted: dict[str, list[dict]]) -> str:
    document = {"style": PLOT_STYLE, "title": loaded.descriptor.get("title"), "tables": plotted}
    text = json.dumps(document, sort_keys=True, ensure_ascii=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode("ascii")).hexdigest()


@contextmanager
def _style() -> Iterator[None]:
    """matplotlib's default style, whatever the user's matplotlibrc says, with a fixed SVG hash salt; text is
    never parsed as mathtext, so a '$' in a title is drawn as a dollar sign."""
    import matplotlib

    with matplotlib.rc_context(rc=dict(matplotlib.rcParamsDefault)):
        matplotlib.rcParams.update({"svg.hashsalt": "op-impact", "font.size": 10, "axes.titlesize": 11,
                                    "axes.titleweight": "bold", "axes.titlelocation": "left",
                                    "text.parse_math": False, "text.usetex": False})
        yield


def _label(value: object) -> str:
    """Text from the package as drawn: control and invisible characters shown as escapes."""
    return printable(str(value))


def _shorten(text: str, limit: int) -> str:
    """text cut at the last word that fits in limit characters, with '…' where it was cut."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[:limit - 1].rsplit(" ", 1)[0] if " " in text[:limit - 1] else text[:limit - 1]
    return cut.rstrip(",;:") + "…"


def _canonical(rows: list[dict]) -> list[dict]:
    """The rows that stand for a distinct thing: those with no same_as."""
    return [r for r in rows if not r.get("same_as")]


def build_figure(loaded: LoadedPackage, plotted: dict[str, list[dict]] | None = None):
    """The matplotlib Figure (not attached to pyplot) for a loaded package."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    plotted = plotted if plotted is not None else plotted_rows(loaded)
    with _style():
        figure = Figure(figsize=SIZE_INCHES, dpi=DPI, layout="constrained")
        FigureCanvasAgg(figure)
        title = _label(loaded.descriptor.get("title", "op-impact"))
        figure.suptitle(f"{title}: timeline", fontsize=13, fontweight="bold")
        personnel = _canonical(plotted["personnel_levels"])
        assets = _canonical(plotted["assets"])
        events = _canonical(plotted["events"])
        key = key_events(events)
        axes = figure.subplots(4, 1, sharex=True, height_ratios=[1.5, 0.9, 1.2, 0.9])
        spans = _all_spans(personnel, assets, events)
        low = min((s.start for s in spans), default=dt.date(2000, 1, 1))
        high = max((s.latest for s in spans), default=low)
        margin = max(dt.timedelta(days=60), (high - low) * 0.04)
        left, right = _shifted(low, -margin), _shifted(high, margin)
        fade = max(dt.timedelta(days=20), (right - left) * FADE_SHARE)
        edges = TimeAxis(left, right, fade)
        _personnel_panel(axes[0], personnel, edges)
        _assets_panel(axes[1], assets, len(plotted["assets"]), edges)
        _events_panel(axes[2], events, edges)
        _key_events_panel(axes[3], key, edges)
        if spans:
            axes[-1].set_xlim(left, right)
            _date_axis(axes[-1])
        else:
            for ax in axes:
                ax.text(0.5, 0.5, "no dated rows in this package yet", transform=ax.transAxes, ha="center",
                        va="center", color="0.4")
        _precision_legend(figure)
    return figure


def key_events(events: list[dict]) -> list[dict]:
    """The events labelled in the picture: canonical, dated, of kind `single`, in KEY_CATEGORIES; by date."""
    chosen = [e for e in _canonical(events) if e.get("category") in KEY_CATEGORIES
              and e.get("date_kind", "single") == "single" and Dated.of(e, "date")]
    return sorted(chosen, key=lambda e: (Dated.of(e, "date").start, e.get("event_id") or ""))


def _shifted(day: dt.date, by: dt.timedelta) -> dt.date:
    """day moved by `by`, stopping at the ends of the calendar (0001-01-01, 9999-12-31)."""
    try:
        return day + by
    except OverflowError:
        return dt.date.min if by < dt.timedelta(0) else dt.date.max


def _all_spans(personnel: list[dict], assets: list[dict], events: list[dict]) -> list[Dated]:
    """Every date group drawn, to fix the time axis before drawing."""
    groups = [(personnel, "date"), (events, "date"), (assets, "arrived"), (assets, "departed")]
    spans = [Dated.of(row, stem) for rows, stem in groups for row in rows]
    return [s for s in spans if s is not None]


def _date_axis(ax) -> None:
    from matplotlib import dates as mdates

    locator = mdates.AutoDateLocator(minticks=5, maxticks=12)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    for a in ax.figure.axes:
        a.grid(axis="x", color="0.88", linewidth=0.8)
        a.set_axisbelow(True)


def _fade(ax, y: float, at: dt.date, towards: int, colour: str, edges: TimeAxis, linewidth: float) -> None:
    """A side the text leaves unknown or open: a line fading out from `at`, to the right (towards=1) or the left
    (towards=-1), over a short stretch, never to the edge of the picture."""
    steps = 6
    step = edges.fade / steps
    for i in range(steps):
        a, b = _shifted(at, step * i * towards), _shifted(at, step * (i + 1) * towards)
        ax.hlines(y, min(a, b), max(a, b), colors=colour, linewidth=linewidth, alpha=0.7 * (1 - i / steps))


def _span(ax, y: float, dated: Dated, colour: str, edges: TimeAxis, filled: bool = True, size: float = 7,
          linewidth: float = 4):
    """A mark at the first possible day with a bar over the whole period the date may fall in (solid for a span
    of activity, with a tick at its known end), and a fading line from a side that is unknown or open."""
    alpha = 0.85 if dated.span else UNCERTAIN_ALPHA
    if dated.latest > dated.start:
        ax.hlines(y, dated.start, dated.latest, colors=colour, linewidth=linewidth, alpha=alpha)
    if dated.span and dated.latest_day is not None:
        ax.plot([dated.latest], [y], linestyle="none", marker="|", markersize=size + 5, markeredgewidth=2,
                color=colour)
    if dated.earliest is None:
        _fade(ax, y, dated.start, -1, colour, edges, max(1.5, linewidth / 2))
    if dated.latest_day is None:
        _fade(ax, y, dated.latest, 1, colour, edges, max(1.5, linewidth / 2))
    ax.plot([dated.start], [y], linestyle="none", marker=PRECISION_MARKERS.get(dated.precision, "o"),
            markersize=size, color=colour, markerfacecolor=colour if filled else "white", markeredgewidth=1.4)


# Label positions tried in turn: points from the mark across, the level above (+) or below (-) the mark, and
# the horizontal alignment. Level 1 just clears the mark; each further level is one line higher.
LABEL_CANDIDATES = [(-8, 0, "right"), (8, 0, "left"), (-4, 1, "right"), (-4, -1, "right"), (4, 1, "left"),
                    (4, -1, "left"), (-4, 2, "right"), (-4, -2, "right"), (4, 2, "left"), (4, -2, "left")]
LINE_POINTS = 10.0
AXES_POINTS = (670.0, 250.0)  # rough size of the personnel panel in points, to estimate label boxes
MARK_POINTS = 8.0
CHAR_POINTS = 4.2  # rough width of a character at the label size


def _overlaps(box: tuple[float, float, float, float], others: list[tuple[float, float, float, float]]) -> bool:
    return any(box[0] < b[2] and b[0] < box[2] and box[1] < b[3] and b[1] < box[3] for b in others)


def _label_offsets(notes: list[tuple[Dated, int, str, str]], xlim: tuple[dt.date, dt.date],
                   top: float) -> list[tuple[tuple[float, float], str]]:
    """Greedy placement: each label takes the first candidate position inside the panel and clear of marks,
    bars and labels already placed (or, failing that, the first position inside the panel).

    notes are (date group, count, text, colour).
    """
    days = max((xlim[1] - xlim[0]).days, 1)
    width_pt, height_pt = AXES_POINTS

    def at(day: dt.date, count: float) -> tuple[float, float]:
        return (day - xlim[0]).days / days * width_pt, count / top * height_pt

    half = MARK_POINTS / 2
    points = [at(d.start, y) for d, y, _, _ in notes]
    taken = [(px - half, py - half, px + half, py + half) for px, py in points]
    for d, y, _, _ in notes:
        (x0, y0), (x1, _) = at(d.start, y), at(d.latest, y)
        taken.append((x0, y0 - 2.5, x1, y0 + 2.5))
    chosen = []
    for (px, py), (_, _, note, _) in zip(points, notes, strict=True):
        lines = note.split("\n")
        w, h = max(len(line) for line in lines) * CHAR_POINTS + 4, LINE_POINTS * len(lines) + 1
        boxes = []
        for dx, level, align in LABEL_CANDIDATES:
            dy = 0 if level == 0 else (1 if level > 0 else -1) * (h / 2 + 5 + LINE_POINTS * (abs(level) - 1))
            left = px + dx if align == "left" else px + dx - w
            boxes.append((((dx, dy), align), (left, py + dy - h / 2, left + w, py + dy + h / 2)))
        inside = [item for item in boxes if item[1][0] >= 0 and item[1][2] <= width_pt and item[1][1] >= 0
                  and item[1][3] <= height_pt] or boxes
        choice, box = next((item for item in inside if not _overlaps(item[1], taken)), inside[0])
        taken.append(box)
        chosen.append(choice)
    return chosen


def figure_label(row: dict) -> str:
    """What a personnel figure says: its count with its qualifier, then who is counted (its scope, shortened at a
    word where long, and whether special forces are counted unless the scope says so)."""
    note = QUALIFIER_SIGN.get(row.get("qualifier"), "") + f"{row['count']:,}"
    scope = _shorten(_label(row.get("scope") or "scope not stated"), SCOPE_CHARS)
    forces = SPECIAL_FORCES_NOTE.get(row.get("special_forces"), "")
    if forces and not (row.get("special_forces") == "only" and "special forces" in scope.lower()):
        scope += f" ({forces})"
    text = f"{note} {scope}"
    if len(text) <= LABEL_LINE_CHARS:
        return text
    width = len(text) // 2 + 6  # two lines of about the same length
    return "\n".join(textwrap.wrap(text, width, max_lines=2, placeholder="…", break_on_hyphens=False))


def personnel_series(rows: list[dict]) -> dict[tuple[str, str], list[dict]]:
    """The personnel figures grouped into series: one per measure and scope, each in date order. Only figures
    of one series may be joined by a line."""
    series: dict[tuple[str, str], list[dict]] = {}
    for row in sorted(rows, key=lambda r: (Dated.of(r, "date").start, r.get("personnel_id") or "")):
        series.setdefault((row.get("measure") or "", row.get("scope") or ""), []).append(row)
    return series


def _personnel_panel(ax, rows: list[dict], edges: TimeAxis) -> None:
    ax.set_title("Personnel figures, each with who it counts")
    ax.set_ylabel("personnel")
    figures = [r for r in rows if Dated.of(r, "date") and r.get("count") is not None]
    notes: list[tuple[Dated, int, str, str]] = []
    seen: list[str] = []
    for (measure, _), series in personnel_series(figures).items():
        colour = MEASURE_STYLE.get(measure, (measure, "0.3"))[1]
        if len(series) > 1:  # one series observed more than once: join its marks
            ax.plot([Dated.of(r, "date").start for r in series], [r["count"] for r in series], color=colour,
                    linewidth=1, alpha=0.6)
        for row in series:
            dated = Dated.of(row, "date")
            _span(ax, row["count"], dated, colour, edges)
            notes.append((dated, row["count"], figure_label(row), colour))
        if measure not in seen:
            seen.append(measure)
    for measure, (label, colour) in MEASURE_STYLE.items():
        if measure in seen:
            ax.plot([], [], linewidth=5, color=colour, label=label)
    if notes:
        ax.legend(**LEGEND_ABOVE_RIGHT)
        top = max(count for _, count, _, _ in notes) * 1.2 + 1
        ax.set_ylim(0, top)
        notes.sort(key=lambda n: (-n[1], n[0].start))  # the highest first: they take the free places
        offsets = _label_offsets(notes, (edges.left, edges.right), top)
        for (dated, y, note, colour), (offset, align) in zip(notes, offsets, strict=True):
            leader = {"arrowstyle": "-", "color": colour, "linewidth": 0.6, "shrinkA": 0, "shrinkB": 3}
            ax.annotate(note, (dated.start, y), xytext=offset, textcoords="offset points", fontsize=7.5,
                        color=colour, ha=align, va="center", arrowprops=leader if offset[1] else None)
    ax.spines[["top", "right"]].set_visible(False)


def is_presence(row: dict) -> bool:
    """Whether an asset is drawn as present over time: deployed, with an arrival that occurred. Assets provided
    or committed to partners, and arrivals only planned, are marks at their date instead."""
    return row.get("contribution") == "deployed" and row.get("arrived_status") != "planned"


def _assets_panel(ax, rows: list[dict], row_count: int, edges: TimeAxis) -> None:
    dated_rows = [r for r in rows if Dated.of(r, "arrived") or Dated.of(r, "departed")]
    dated_rows.sort(key=lambda r: ((Dated.of(r, "arrived") or Dated.of(r, "departed")).start, r.get("asset_id") or ""))
    labels = []
    for y, row in enumerate(dated_rows):
        arrived, departed = Dated.of(row, "arrived"), Dated.of(row, "departed")
        if is_presence(row):
            _presence(ax, y, arrived, departed, row, edges)
        else:  # a delivery or a commitment: where and when, never a bar of presence
            for dated, status in ((arrived, row.get("arrived_status")), (departed, row.get("departed_status"))):
                if dated is not None:
                    _span(ax, y, dated, DELIVERY_COLOUR, edges, filled=status != "planned"
                          and row.get("contribution") != "committed", linewidth=4, size=8)
        quantity = f" ×{row['quantity']}" if row.get("quantity") else ""
        recipient = f" to {row['recipient']}" if row.get("recipient") and not is_presence(row) else ""
        name = _shorten(f"{row.get('name', '')}{quantity}{recipient}", 48)
        labels.append(_label(f"{name} ({row.get('asset_id', '')})"))
    ax.set_yticks(range(len(labels)), labels, fontsize=8)
    ax.set_ylim(len(labels) - 0.5 if labels else 0.5, -0.5)
    ax.set_title(f"Assets ({len(dated_rows)} of {row_count} rows dated)")
    ax.plot([], [], linewidth=6, color=PRESENCE_COLOUR, label="deployed: present")
    ax.plot([], [], linewidth=3, color=PRESENCE_COLOUR, alpha=0.35, label="fading: no departure in the text")
    ax.plot([], [], linestyle="none", marker="o", color=DELIVERY_COLOUR, label="provided to a partner (a delivery)")
    ax.plot([], [], linestyle="none", marker="o", markerfacecolor="white", color=DELIVERY_COLOUR,
            label="committed or planned (not delivered)")
    ax.plot([], [], linestyle="none", marker="o", markerfacecolor="white", color=PRESENCE_COLOUR,
            label="planned departure")
    ax.legend(**{**LEGEND_ABOVE_RIGHT, "ncols": 3, "fontsize": 7.5})
    ax.spines[["top", "right"]].set_visible(False)


def _presence(ax, y: int, arrived: Dated | None, departed: Dated | None, row: dict, edges: TimeAxis) -> None:
    """An asset present from its arrival to its departure: solid where it was certainly there, pale over the
    windows its arrival and departure may fall in, fading out where the text gives no departure."""
    if arrived is not None:
        _span(ax, y, arrived, PRESENCE_COLOUR, edges, linewidth=9)
    if departed is None:
        _fade(ax, y, arrived.latest, 1, PRESENCE_COLOUR, edges, 9)
        return
    if arrived is not None and departed.start > arrived.latest:
        ax.hlines(y, arrived.latest, departed.start, colors=PRESENCE_COLOUR, linewidth=9)
    _span(ax, y, departed, PRESENCE_COLOUR, edges, filled=row.get("departed_status") != "planned", linewidth=9)


def _events_panel(ax, rows: list[dict], edges: TimeAxis) -> None:
    ax.set_title("Events by category (hollow marks: planned)")
    categories = sorted({str(row.get("category")) for row in rows})
    for row in sorted(rows, key=lambda r: (r.get("date_start") or dt.date.min, r.get("event_id") or "")):
        dated = Dated.of(row, "date")
        if dated is None:
            continue
        _span(ax, categories.index(str(row.get("category"))), dated, "#333333", edges,
              filled=STATUS_FILL.get(row.get("status"), True), size=6)
    ax.set_yticks(range(len(categories)), [_label(c).replace("_", " ") for c in categories], fontsize=8)
    ax.set_ylim(len(categories) - 0.5 if categories else 0.5, -0.5)
    ax.spines[["top", "right"]].set_visible(False)


def _key_events_panel(ax, rows: list[dict], edges: TimeAxis) -> None:
    ax.set_title(f"Key events ({', '.join(c.replace('_', ' ') for c in KEY_CATEGORIES)}: the start of each summary)")
    middle = edges.left + (edges.right - edges.left) / 2
    for y, row in enumerate(rows):
        dated = Dated.of(row, "date")
        _span(ax, y, dated, "#333333", edges, filled=STATUS_FILL.get(row.get("status"), True), size=6)
        text = _label(f"{_shorten(row.get('summary') or '', SUMMARY_CHARS)} ({row.get('event_id', '')})")
        if dated.start > middle:  # the label goes where there is room, beyond any fading side
            at = _shifted(dated.start, -edges.fade) if dated.earliest is None else dated.start
            ax.annotate(text, (at, y), xytext=(-8, 0), textcoords="offset points", fontsize=7.5, ha="right",
                        va="center")
        else:
            at = _shifted(dated.latest, edges.fade) if dated.latest_day is None else dated.latest
            ax.annotate(text, (at, y), xytext=(8, 0), textcoords="offset points", fontsize=7.5, ha="left",
                        va="center")
    ax.set_yticks([])
    ax.set_ylim(len(rows) - 0.5 if rows else 0.5, -0.5)
    ax.spines[["top", "right", "left"]].set_visible(False)


def _precision_legend(figure) -> None:
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], linestyle="none", marker=m, color="0.2", markersize=7, label=p)
               for p, m in PRECISION_MARKERS.items()]
    handles.append(Line2D([], [], color="0.2", linewidth=4, alpha=UNCERTAIN_ALPHA, label="period the date may fall in"))
    handles.append(Line2D([], [], color="0.2", linewidth=4, alpha=0.85, marker="|", markersize=12,
                          markeredgewidth=2, markevery=[1], label="span of activity, to its end"))
    handles.append(Line2D([], [], color="0.2", linewidth=2, alpha=0.35, label="fading: unknown or open side"))
    figure.legend(handles=handles, loc="outside lower center", ncols=len(handles), frameon=False, fontsize=9,
                  title="date precision (marker at the first possible day, or the last where the start is unknown); "
                        "each distinct thing drawn once (rows with same_as are left to their canonical row)",
                  title_fontsize=9)


def _save(figure, path: Path, suffix: str, fingerprint: str) -> None:
    if suffix == ".svg":
        figure.savefig(path, format="svg", metadata={"Date": None, "Creator": None,
                                                     "Description": f"{FINGERPRINT_KEY}: {fingerprint}"})
    else:
        figure.savefig(path, format="png", dpi=DPI, metadata={"Software": None, FINGERPRINT_KEY: fingerprint})
