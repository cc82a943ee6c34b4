"""The timeline picture: personnel figures, the periods assets were present, and events, over one time axis.

Every dated mark shows how precise its date is: the marker shape names the precision and a pale bar spans
the whole period the date may fall in (a month, a season, a year, or a range), from the group's earliest to
its latest possible day. A span of activity (kind `span`) is a solid bar instead; a side that is unknown or
open (an empty earliest or latest day) runs dotted to the edge of the picture. Output is deterministic: Agg
backend, matplotlib's default style, fixed size and DPI, and no dates or software versions in the file's
metadata. Text from the package is drawn as it is written: never read as mathtext ('$'), with invisible and
control characters shown as escapes. Any date from 0001-01-01 to 9999-12-31 can be drawn.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from .atomic import atomic_path
from .dates import latest_possible
from .errors import UsageError
from .export_common import LoadedPackage, export_source
from .package import Package
from .report import printable

__all__ = ["plot_timeline", "FORMATS"]

FORMATS = (".png", ".svg")
SIZE_INCHES = (12.0, 9.0)
DPI = 150
PRECISION_MARKERS = {"day": "o", "month": "s", "season": "D", "year": "^", "range": "X"}
MEASURE_STYLE = {  # label, colour
    "authorized_ceiling": ("authorized ceiling", "#b2182b"),
    "deployed": ("deployed (official)", "#2166ac"),
    "reported_estimate": ("reported estimate", "#e08214"),
}
CONTRIBUTION_COLOUR = {"deployed": "#4d9221", "provided": "#8073ac"}
STATUS_FILL = {"occurred": True, "ongoing": True, "planned": False}
QUALIFIER_SIGN = {"exact": "", "approximately": "~", "at_most": "≤", "at_least": "≥"}
UNCERTAIN_ALPHA = 0.3
LEGEND_ABOVE_RIGHT = {"loc": "lower right", "bbox_to_anchor": (1.0, 1.0), "fontsize": 8, "frameon": False,
                      "ncols": 4, "borderaxespad": 0.2}


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


def plot_timeline(package: Package | LoadedPackage | str | os.PathLike, out_path: str | os.PathLike,
                  check: bool = True) -> None:
    """Draw the timeline of the package into out_path (.png or .svg), atomically and deterministically.

    With check=True a package that does not validate raises InvalidPackage; unreadable input raises
    UnreadableInput; an out_path that is a file of the package raises OutputAliasesInput; an unsupported suffix
    raises PictureFormatError.
    """
    out_path = Path(out_path)
    if out_path.suffix.lower() not in FORMATS:
        raise PictureFormatError(f"{out_path}: the picture must end in {' or '.join(FORMATS)}")
    with export_source(package, [out_path], check=check) as loaded, _style():
        figure = build_figure(loaded)
        with atomic_path(out_path) as tmp:
            _save(figure, tmp, out_path.suffix.lower())


class PictureFormatError(UsageError, ValueError):
    """The picture's name does not end in .png or .svg (exit 2)."""


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


def _rows(loaded: LoadedPackage, name: str) -> list[dict]:
    frame = loaded.tables.get(name)
    return frame.to_dicts() if isinstance(frame, pl.DataFrame) else []


def build_figure(loaded: LoadedPackage):
    """The matplotlib Figure (not attached to pyplot) for a loaded package."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    with _style():
        figure = Figure(figsize=SIZE_INCHES, dpi=DPI, layout="constrained")
        FigureCanvasAgg(figure)
        title = _label(loaded.descriptor.get("title", "op-impact"))
        figure.suptitle(f"{title}: timeline", fontsize=13, fontweight="bold")
        personnel, assets, events = _rows(loaded, "personnel_levels"), _rows(loaded, "assets"), _rows(loaded, "events")
        axes = figure.subplots(3, 1, sharex=True, height_ratios=[1.2, 1.0, 1.1])
        spans = _all_spans(personnel, assets, events)
        low = min((s.start for s in spans), default=dt.date(2000, 1, 1))
        high = max((s.latest for s in spans), default=low)
        margin = max(dt.timedelta(days=30), (high - low) * 0.03)
        left, right = _shifted(low, -margin), _shifted(high, margin)
        edges = (left, right)
        _personnel_panel(axes[0], personnel, edges)
        _assets_panel(axes[1], assets, edges)
        _events_panel(axes[2], events, edges)
        if spans:
            axes[2].set_xlim(left, right)
            _date_axis(axes[2])
        else:
            for ax in axes:
                ax.text(0.5, 0.5, "no dated rows in this package yet", transform=ax.transAxes, ha="center",
                        va="center", color="0.4")
        _precision_legend(figure)
    return figure


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


def _span(ax, y: float, dated: Dated, colour: str, edges: tuple[dt.date, dt.date], filled: bool = True,
          size: float = 7, linewidth: float = 4):
    """A mark at the first possible day with a bar over the whole period the date may fall in (solid for a span
    of activity), and a dotted line to the edge of the picture from a side that is unknown or open."""
    alpha = 0.8 if dated.span else UNCERTAIN_ALPHA
    if dated.latest > dated.start:
        ax.hlines(y, dated.start, dated.latest, colors=colour, linewidth=linewidth, alpha=alpha)
    if dated.earliest is None:
        ax.hlines(y, edges[0], dated.start, colors=colour, linewidth=1.5, linestyles=":", alpha=0.8)
    if dated.latest_day is None:
        ax.hlines(y, dated.latest, edges[1], colors=colour, linewidth=1.5, linestyles=":", alpha=0.8)
    ax.plot([dated.start], [y], linestyle="none", marker=PRECISION_MARKERS.get(dated.precision, "o"),
            markersize=size, color=colour, markerfacecolor=colour if filled else "white", markeredgewidth=1.4)


# Label positions tried in turn, in points from the mark, with their horizontal alignment.
LABEL_CANDIDATES = [((7, 0), "left"), ((-7, 0), "right"), ((6, 9), "left"), ((6, -9), "left"),
                    ((-6, 9), "right"), ((-6, -9), "right"), ((6, 20), "left"), ((6, -20), "left")]
AXES_POINTS = (780.0, 190.0)  # rough size of the personnel panel in points, to estimate label boxes
MARK_POINTS = 8.0


def _overlaps(box: tuple[float, float, float, float], others: list[tuple[float, float, float, float]]) -> bool:
    return any(box[0] < b[2] and b[0] < box[2] and box[1] < b[3] and b[1] < box[3] for b in others)


def _label_offsets(notes: list[tuple[Dated, int, str, str]], lines: list[tuple[dt.date, dt.date, int]],
                   xlim: tuple[dt.date, dt.date], top: float) -> list[tuple[tuple[int, int], str]]:
    """Greedy placement: each label takes the first candidate position clear of marks, bars, lines and labels.

    notes are (date group, count, text, colour); lines are horizontal segments (from, to, count) to keep clear.
    """
    days = max((xlim[1] - xlim[0]).days, 1)
    width_pt, height_pt = AXES_POINTS

    def at(day: dt.date, count: float) -> tuple[float, float]:
        return (day - xlim[0]).days / days * width_pt, count / top * height_pt

    half = MARK_POINTS / 2
    points = [at(d.start, y) for d, y, _, _ in notes]
    taken = [(px - half, py - half, px + half, py + half) for px, py in points]
    segments = [(d.start, d.latest, y) for d, y, _, _ in notes] + lines
    for start, end, count in segments:
        (x0, y0), (x1, _) = at(start, count), at(end, count)
        taken.append((x0, y0 - 2.5, x1, y0 + 2.5))
    chosen = []
    for (px, py), (_, _, note, _) in zip(points, notes, strict=True):
        w, h = len(note) * 6.0 + 4, 11.0
        boxes = []
        for (dx, dy), align in LABEL_CANDIDATES:
            left = px + dx if align == "left" else px + dx - w
            boxes.append((((dx, dy), align), (left, py + dy - h / 2, left + w, py + dy + h / 2)))
        choice, box = next((item for item in boxes if not _overlaps(item[1], taken)), boxes[0])
        taken.append(box)
        chosen.append(choice)
    return chosen


def _personnel_panel(ax, rows: list[dict], xlim: tuple[dt.date, dt.date]) -> None:
    ax.set_title("Personnel figures")
    ax.set_ylabel("personnel")
    lines: list[tuple[dt.date, dt.date, int]] = []  # the ceiling's dashed line, kept clear of labels
    edge = xlim[1]
    ceilings = sorted(((Dated.of(r, "date"), r) for r in rows if r.get("measure") == "authorized_ceiling"
                       and Dated.of(r, "date")), key=lambda item: (item[0].start, item[1]["personnel_id"]))
    if ceilings:
        xs = [d.start for d, _ in ceilings]
        ys = [r["count"] for _, r in ceilings]
        colour = MEASURE_STYLE["authorized_ceiling"][1]
        ax.step(xs, ys, where="post", color=colour, linewidth=1.2, linestyle="--", alpha=0.8)
        ax.hlines(ys[-1], xs[-1], edge, colors=colour, linewidth=1.2, linestyles="--", alpha=0.8)
        lines += [(x, nxt, y) for x, nxt, y in zip(xs, [*xs[1:], edge], ys, strict=True)]
    seen_labels: set[str | None] = set()
    notes: list[tuple[Dated, int, str, str]] = []
    for row in sorted(rows, key=lambda r: (r.get("date_start") or dt.date.min, r.get("personnel_id") or "")):
        dated = Dated.of(row, "date")
        if dated is None or row.get("count") is None:
            continue
        label, colour = MEASURE_STYLE.get(row.get("measure"), (row.get("measure"), "0.3"))
        _span(ax, row["count"], dated, colour, xlim)
        seen_labels.add(row.get("measure"))
        note = QUALIFIER_SIGN.get(row.get("qualifier"), "") + f"{row['count']:,}"
        if row.get("special_forces") == "only":
            note += " SOF"
        notes.append((dated, row["count"], note, colour))
    for measure, (label, colour) in MEASURE_STYLE.items():
        if measure in seen_labels:
            ax.plot([], [], linewidth=5, color=colour, label=label)
    if seen_labels:
        ax.legend(**LEGEND_ABOVE_RIGHT)
        top = max(r["count"] for r in rows if r.get("count") is not None) * 1.25 + 1
        ax.set_ylim(0, top)
        for (dated, y, note, colour), (offset, align) in zip(notes, _label_offsets(notes, lines, xlim, top),
                                                             strict=True):
            ax.annotate(note, (dated.start, y), xytext=offset, textcoords="offset points", fontsize=8, color=colour,
                        ha=align, va="center")
    ax.spines[["top", "right"]].set_visible(False)


def _assets_panel(ax, rows: list[dict], edges: tuple[dt.date, dt.date]) -> None:
    edge = edges[1]
    dated_rows = [r for r in rows if Dated.of(r, "arrived")]
    dated_rows.sort(key=lambda r: (Dated.of(r, "arrived").start, r.get("asset_id") or ""))
    labels = []
    for y, row in enumerate(dated_rows):
        arrived = Dated.of(row, "arrived")
        departed = Dated.of(row, "departed")
        colour = CONTRIBUTION_COLOUR.get(row.get("contribution"), "0.4")
        _span(ax, y, arrived, colour, edges, linewidth=9)
        if departed is not None:
            if departed.start > arrived.latest:
                ax.hlines(y, arrived.latest, departed.start, colors=colour, linewidth=9)
            _span(ax, y, departed, colour, edges, filled=row.get("departed_status") != "planned", linewidth=9)
        else:
            ax.hlines(y, arrived.latest, edge, colors=colour, linewidth=2, linestyles=":")
        quantity = f" ×{row['quantity']}" if row.get("quantity") else ""
        labels.append(_label(f"{row.get('name', '')}{quantity} ({row.get('asset_id', '')})"))
    ax.set_yticks(range(len(labels)), labels, fontsize=8)
    ax.set_ylim(len(labels) - 0.5 if labels else 0.5, -0.5)
    undated = len(rows) - len(dated_rows)
    ax.set_title(f"Assets present ({len(dated_rows)} of {len(rows)} dated)" if undated else "Assets present")
    for contribution, colour in CONTRIBUTION_COLOUR.items():
        ax.plot([], [], linewidth=6, color=colour, label=contribution)
    ax.plot([], [], linewidth=2, linestyle=":", color="0.3", label="no end date in the text")
    ax.plot([], [], linestyle="none", marker="o", markerfacecolor="white", color="0.3", label="planned departure")
    ax.legend(**LEGEND_ABOVE_RIGHT)
    ax.spines[["top", "right"]].set_visible(False)


def _events_panel(ax, rows: list[dict], edges: tuple[dt.date, dt.date]) -> None:
    ax.set_title("Events by category (hollow marks: planned; solid bars: spans of activity)")
    categories = []
    for row in rows:
        if row.get("category") not in categories:
            categories.append(row.get("category"))
    categories.sort(key=str)
    for row in sorted(rows, key=lambda r: (r.get("date_start") or dt.date.min, r.get("event_id") or "")):
        dated = Dated.of(row, "date")
        if dated is None:
            continue
        _span(ax, categories.index(row.get("category")), dated, "#333333", edges,
              filled=STATUS_FILL.get(row.get("status"), True), size=6)
    ax.set_yticks(range(len(categories)), [_label(c).replace("_", " ") for c in categories], fontsize=8)
    ax.set_ylim(len(categories) - 0.5 if categories else 0.5, -0.5)
    ax.spines[["top", "right"]].set_visible(False)


def _precision_legend(figure) -> None:
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], linestyle="none", marker=m, color="0.2", markersize=7, label=p)
               for p, m in PRECISION_MARKERS.items()]
    handles.append(Line2D([], [], color="0.2", linewidth=4, alpha=UNCERTAIN_ALPHA, label="period the date may fall in"))
    handles.append(Line2D([], [], color="0.2", linewidth=4, alpha=0.8, label="span of activity"))
    handles.append(Line2D([], [], color="0.2", linewidth=1.5, linestyle=":", label="unknown or open side"))
    figure.legend(handles=handles, loc="outside lower center", ncols=len(handles), frameon=False, fontsize=9,
                  title="date precision (marker at the first possible day, or the last where the start is unknown)",
                  title_fontsize=9)


def _save(figure, path: Path, suffix: str) -> None:
    if suffix == ".svg":
        figure.savefig(path, format="svg", metadata={"Date": None, "Creator": None})
    else:
        figure.savefig(path, format="png", dpi=DPI, metadata={"Software": None})
