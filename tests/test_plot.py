"""The timeline picture: drawn, not blank, deterministic, with no dates or versions in its metadata; faithful to
the data's conventions (scopes, ceilings' ends, presence against deliveries, key events); and checkable for
staleness through the fingerprint it carries."""

from __future__ import annotations

import datetime as dt
import struct
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from opimpact.cli import cli
from opimpact.dates import latest_possible
from opimpact.export_common import loaded_package
from opimpact.plot import (
    DELIVERY_COLOUR,
    DPI,
    FINGERPRINT_KEY,
    KEY_CATEGORIES,
    SIZE_INCHES,
    build_figure,
    check_timeline,
    figure_label,
    is_presence,
    key_events,
    plot_timeline,
    timeline_fingerprint,
)

from export_sample import ROWS, make_sample_package
from helpers import read_csv, set_cell, snapshot, write_csv

REPO = Path(__file__).resolve().parents[1]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    assert data.startswith(PNG_SIGNATURE), "not a PNG file"
    chunks, offset = [], len(PNG_SIGNATURE)
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset:offset + 4])
        kind = data[offset + 4:offset + 8]
        chunks.append((kind, data[offset + 8:offset + 8 + length]))
        offset += 12 + length
    return chunks


def distinct_colours(path: Path) -> int:
    from matplotlib import image

    pixels = image.imread(path)
    return len({tuple(p) for p in pixels.reshape(-1, pixels.shape[-1])[::7]})


def test_plot_of_the_shipped_data_is_drawn(tmp_path: Path) -> None:
    out = tmp_path / "timeline.png"
    plot_timeline(REPO, out)
    data = out.read_bytes()
    chunks = png_chunks(data)
    width, height = struct.unpack(">II", chunks[0][1][:8])
    assert (width, height) == (int(SIZE_INCHES[0] * DPI), int(SIZE_INCHES[1] * DPI))
    assert distinct_colours(out) > 20, "the picture looks blank"


def test_png_metadata_has_no_software_or_dates(sample_package: Path, tmp_path: Path) -> None:
    out = tmp_path / "t.png"
    plot_timeline(sample_package, out)
    texts = [body for kind, body in png_chunks(out.read_bytes()) if kind in (b"tEXt", b"iTXt", b"zTXt")]
    kinds = {kind for kind, _ in png_chunks(out.read_bytes())}
    assert b"tIME" not in kinds
    assert not any(b"Software" in t or b"matplotlib" in t.lower() or b"Date" in t for t in texts), texts


@pytest.mark.parametrize("suffix", [".png", ".svg"])
def test_two_plots_are_byte_identical(sample_package: Path, tmp_path: Path, suffix: str) -> None:
    plot_timeline(sample_package, tmp_path / f"a{suffix}")
    plot_timeline(sample_package, tmp_path / f"b{suffix}")
    assert (tmp_path / f"a{suffix}").read_bytes() == (tmp_path / f"b{suffix}").read_bytes()


def test_svg_has_no_date(sample_package: Path, tmp_path: Path) -> None:
    plot_timeline(sample_package, tmp_path / "t.svg")
    text = (tmp_path / "t.svg").read_text(encoding="utf-8")
    assert "<dc:date>" not in text and "Matplotlib v" not in text


def test_plot_follows_the_data(sample_package: Path, tmp_path: Path) -> None:
    plot_timeline(sample_package, tmp_path / "a.png")
    set_cell(sample_package, "personnel_levels", 2, "count", "700")
    plot_timeline(sample_package, tmp_path / "b.png")
    assert (tmp_path / "a.png").read_bytes() != (tmp_path / "b.png").read_bytes()


def test_a_package_without_dated_rows_still_draws(sample_package: Path, tmp_path: Path) -> None:
    for name in ("personnel_levels", "events", "assets", "quotes"):
        path = sample_package / "data" / f"{name}.csv"
        header, _ = read_csv(path)
        write_csv(path, header, [])
    out = tmp_path / "empty.png"
    plot_timeline(sample_package, out, check=False)  # header-only tables do not validate
    assert png_chunks(out.read_bytes())[0][0] == b"IHDR"


def test_cli_plot_and_refusals(sample_package: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "docs" / "timeline.png"
    ok = runner.invoke(cli, ["plot", str(sample_package), "--out", str(out)])
    assert ok.exit_code == 0, ok.output
    assert out.stat().st_size > 10_000
    wrong_suffix = runner.invoke(cli, ["plot", str(sample_package), "--out", str(tmp_path / "t.pdf")])
    assert wrong_suffix.exit_code == 2 and not (tmp_path / "t.pdf").exists()
    set_cell(sample_package, "personnel_levels", 0, "count", "-5")
    before = snapshot(tmp_path)
    invalid = runner.invoke(cli, ["plot", str(sample_package), "--out", str(tmp_path / "x.png")])
    assert invalid.exit_code == 1 and "opimpact validate" in invalid.output
    assert snapshot(tmp_path) == before


def test_committed_timeline_is_a_png_of_the_right_size() -> None:
    path = REPO / "docs" / "timeline.png"
    assert path.is_file(), "docs/timeline.png is missing: run `opimpact plot`"
    width, height = struct.unpack(">II", png_chunks(path.read_bytes())[0][1][:8])
    assert (width, height) == (int(SIZE_INCHES[0] * DPI), int(SIZE_INCHES[1] * DPI))
    assert distinct_colours(path) > 20, "docs/timeline.png looks blank"


def test_committed_timeline_is_current() -> None:
    result = check_timeline(REPO, REPO / "docs" / "timeline.png")
    assert result.current, (f"docs/timeline.png is {result.status}: the plotted data or the plot style changed. "
                            "Run `opimpact plot` and commit docs/timeline.png.")


@pytest.mark.parametrize(("start", "end", "precision", "latest"), [
    ("2017-06-01", None, "month", "2017-06-30"),
    ("2016-02-01", None, "month", "2016-02-29"),
    ("2017-12-01", None, "season", "2018-02-28"),
    ("2017-01-01", None, "year", "2017-12-31"),
    ("2017-01-01", "2018-01-01", "year", "2018-12-31"),
    ("2017-05-23", "2017-06-30", "range", "2017-06-30"),
    ("2017-05-23", None, "day", "2017-05-23"),
    ("2017-05-23", "2017-05-25", "day", "2017-05-25"),
])
def test_latest_possible_date(start: str, end: str | None, precision: str, latest: str) -> None:
    parse = dt.date.fromisoformat
    assert latest_possible(parse(start), parse(end) if end else None, precision) == parse(latest)


PERIOD_MONTHS = {"month": 1, "season": 3, "year": 12}


@given(year=st.integers(1900, 2100), month=st.integers(1, 12), precision=st.sampled_from(list(PERIOD_MONTHS)))
def test_latest_possible_ends_the_period(year: int, month: int, precision: str) -> None:
    # stored dates at month, season or year precision are the first day of their period (rule X02)
    if precision == "year":
        month = 1
    elif precision == "season":
        month = [3, 3, 3, 3, 3, 6, 6, 6, 9, 9, 9, 12][month - 1]
    start = dt.date(year, month, 1)
    following = latest_possible(start, None, precision) + dt.timedelta(days=1)
    assert following.day == 1
    assert (following.year * 12 + following.month) - (year * 12 + month) == PERIOD_MONTHS[precision]


# ---------------------------------------------------------------- --check: fingerprints, not pixels

def run_plot(*args: str):
    return CliRunner().invoke(cli, ["plot", *args])


def test_check_on_missing_current_stale_and_unmarked_pictures(sample_package: Path, tmp_path: Path) -> None:
    out = tmp_path / "docs" / "timeline.png"
    missing = run_plot(str(sample_package), "--out", str(out), "--check")
    assert missing.exit_code == 1 and "is missing" in missing.output and "opimpact plot" in missing.output
    assert not out.exists()
    assert run_plot(str(sample_package), "--out", str(out)).exit_code == 0
    before = snapshot(out.parent)
    current = run_plot(str(sample_package), "--out", str(out), "--check")
    assert current.exit_code == 0 and "up to date" in current.output, current.output
    set_cell(sample_package, "personnel_levels", 1, "scope", "Special forces in Iraq")
    stale = run_plot(str(sample_package), "--out", str(out), "--check")
    assert stale.exit_code == 1 and "stale" in stale.output and str(out) in stale.output
    assert snapshot(out.parent) == before, "--check wrote something"
    out.write_bytes(PNG_SIGNATURE + b"not really a picture")
    unmarked = run_plot(str(sample_package), "--out", str(out), "--check")
    assert unmarked.exit_code == 1 and "no op-impact fingerprint" in unmarked.output


def test_check_compares_fingerprints_not_pixels(sample_package: Path, tmp_path: Path) -> None:
    # another matplotlib or FreeType draws other pixels from the same data: still current
    from matplotlib.figure import Figure

    other = tmp_path / "other.png"
    Figure(figsize=(2, 2)).savefig(other, metadata={FINGERPRINT_KEY: timeline_fingerprint(sample_package)})
    assert check_timeline(sample_package, other).current
    assert run_plot(str(sample_package), "--out", str(other), "--check").exit_code == 0


@pytest.mark.parametrize("suffix", [".png", ".svg"])
def test_picture_carries_the_fingerprint_of_its_data(sample_package: Path, tmp_path: Path, suffix: str) -> None:
    out = tmp_path / f"t{suffix}"
    fingerprint = plot_timeline(sample_package, out)
    assert fingerprint == timeline_fingerprint(sample_package) and len(fingerprint) == 64
    assert check_timeline(sample_package, out).found == fingerprint
    set_cell(sample_package, "personnel_levels", 0, "notes", "A note the picture does not show.")
    assert timeline_fingerprint(sample_package) == fingerprint, "a field that is not drawn made the picture stale"
    set_cell(sample_package, "personnel_levels", 0, "count", "831")
    assert not check_timeline(sample_package, out).current


def test_check_json_and_refusals(sample_package: Path, tmp_path: Path) -> None:
    import json

    out = tmp_path / "t.png"
    missing = run_plot(str(sample_package), "--out", str(out), "--check", "--format", "json")
    document = json.loads(missing.output)
    assert missing.exit_code == 1 and document["status"] == "missing" and document["current"] is False
    assert document["exit_code"] == 1 and document["fix"].startswith("opimpact plot")
    written = json.loads(run_plot(str(sample_package), "--out", str(out), "--format", "json").output)
    current = run_plot(str(sample_package), "--out", str(out), "--check", "--format", "json")
    assert current.exit_code == 0
    checked = json.loads(current.output)
    assert written == {"written": [str(out)]}
    assert checked["fingerprint"] == checked["expected_fingerprint"] == document["expected_fingerprint"]
    folder = tmp_path / "folder.png"
    folder.mkdir()
    refused = run_plot(str(sample_package), "--out", str(folder), "--check")
    assert refused.exit_code == 2 and "Traceback" not in refused.output
    unreadable = run_plot(str(tmp_path / "nowhere"), "--out", str(out), "--check")
    assert unreadable.exit_code == 2 and "Traceback" not in unreadable.output
    set_cell(sample_package, "personnel_levels", 0, "count", "-5")
    invalid = run_plot(str(sample_package), "--out", str(out), "--check", "--format", "json")
    assert invalid.exit_code == 1 and json.loads(invalid.output)["exit_code"] == 1


# ---------------------------------------------------------------- what the picture says

@pytest.fixture(scope="module")
def shipped() -> tuple:
    """The figure of the shipped package and its typed rows, drawn once for the tests that only look at it."""
    with loaded_package(REPO) as loaded:
        return build_figure(loaded), {name: frame.to_dicts() for name, frame in loaded.tables.items()}


def x_extent(ax) -> tuple[float, float]:
    """The leftmost and rightmost x (matplotlib date numbers) of every line and bar drawn in ax."""
    xs = [x for line in ax.get_lines() for x, _ in line.get_xydata()]
    xs += [x for collection in ax.collections for segment in collection.get_segments() for x, _ in segment]
    return min(xs), max(xs)


def test_every_personnel_figure_says_who_it_counts(shipped: tuple) -> None:
    figure, tables = shipped
    texts = [t.get_text().replace("\n", " ") for t in figure.axes[0].texts]
    canonical = [r for r in tables["personnel_levels"] if not r["same_as"]]
    assert len(texts) == len(canonical)
    for row in canonical:
        assert any(t.startswith(figure_label(row).replace("\n", " ")) for t in texts)
        assert row["scope"].split()[0] in figure_label(row)
    engineers = next(r for r in canonical if r["count"] == 20)
    assert "engineers" in figure_label(engineers) and "excl. special forces" in figure_label(engineers)


def test_no_line_joins_figures_of_different_scopes(tmp_path: Path) -> None:
    base = {"date_kind": "as_of", "qualifier": "approximately", "measure": "deployed", "special_forces": "excluded",
            "attribution": "reporter", "source_id": "src-0001", "evidence": "x"}
    personnel = [
        {**base, "personnel_id": "pl-0001", "date": "2017-03", "count": "600", "scope": "CAF personnel deployed"},
        {**base, "personnel_id": "pl-0002", "date": "2017-10", "count": "20", "scope": "Army engineers"},
        {**base, "personnel_id": "pl-0003", "date": "2017-12", "count": "25", "scope": "Army engineers"},
    ]
    package = make_sample_package(tmp_path / "p", {**ROWS, "personnel_levels": personnel, "quotes": []})
    with loaded_package(package, check=False) as loaded:
        figure = build_figure(loaded)
    joined = [line for line in figure.axes[0].get_lines() if len(line.get_xydata()) > 1]
    assert len(joined) == 1, "figures of different scopes are joined, or one series is not"
    assert sorted(y for _, y in joined[0].get_xydata()) == [20, 25]


def test_ceilings_end_where_the_text_says(shipped: tuple) -> None:
    from matplotlib.dates import date2num

    figure, tables = shipped
    ax = figure.axes[0]
    ceiling = next(r for r in tables["personnel_levels"] if r["count"] == 850)
    assert ceiling["date_latest"] == dt.date(2019, 3, 31)  # "until March 2019"
    latest_figure = max(r["date_latest"] for r in tables["personnel_levels"] if r["date_latest"])
    assert x_extent(ax)[1] == date2num(latest_figure) == date2num(ceiling["date_latest"])
    assert x_extent(ax)[1] < ax.get_xlim()[1], "a personnel figure runs to the edge of the picture"


def test_nothing_runs_to_the_edge(shipped: tuple) -> None:
    figure, _ = shipped
    for ax in figure.axes:
        low, high = x_extent(ax)
        assert ax.get_xlim()[0] < low and high < ax.get_xlim()[1], ax.get_title()


def test_deliveries_and_commitments_are_not_presence(shipped: tuple) -> None:
    from matplotlib.colors import to_rgba
    from matplotlib.dates import date2num

    figure, tables = shipped
    ax = figure.axes[1]
    trucks = next(r for r in tables["assets"] if r["contribution"] == "provided" and r["arrived_start"])
    assert not is_presence(trucks) and not is_presence({"contribution": "committed", "arrived_status": "planned"})
    assert not is_presence({"contribution": "deployed", "arrived_status": "planned"})
    row = [t.get_text() for t in ax.get_yticklabels()].index(next(t.get_text() for t in ax.get_yticklabels()
                                                                   if trucks["asset_id"] in t.get_text()))
    xs = [x for line in ax.get_lines() for x, y in line.get_xydata() if y == row]
    xs += [x for c in ax.collections for s in c.get_segments() for x, y in s if y == row]
    assert xs and max(xs) <= date2num(trucks["arrived_latest"]), "a delivery is drawn as lasting presence"
    delivery = [c for c in ax.collections if tuple(c.get_colors()[0][:3]) == to_rgba(DELIVERY_COLOUR)[:3]]
    assert delivery and all(s[:, 1].min() == row for c in delivery for s in c.get_segments())
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any("provided" in t for t in legend) and any("committed" in t for t in legend)
    assert any("no departure" in t for t in legend)


def test_key_events_are_labelled(shipped: tuple) -> None:
    figure, tables = shipped
    key = key_events(tables["events"])
    assert len(key) >= 5
    assert all(e["category"] in KEY_CATEGORIES and e["date_kind"] == "single" and not e["same_as"] for e in key)
    texts = [t.get_text() for t in figure.axes[3].texts]
    for event in key:
        assert any(f"({event['event_id']})" in t and t.startswith(event["summary"][:20]) for t in texts)
    renewal = next(t for t in texts if "850" in t)
    assert renewal.startswith("The government renewed the mission through March 2019")


def test_labels_from_the_data_are_drawn_safely(sample_package: Path) -> None:
    set_cell(sample_package, "events", 3, "category", "withdrawal")
    set_cell(sample_package, "events", 3, "date_kind", "single")
    set_cell(sample_package, "events", 3, "summary", "Troops \x1b[31mleft: $5 \u202eever")
    set_cell(sample_package, "personnel_levels", 0, "scope", "Members \u200bof $x$ the\nmission")
    with loaded_package(sample_package, check=False) as loaded:
        figure = build_figure(loaded)
    texts = [t.get_text() for ax in figure.axes for t in ax.texts]
    assert any("Troops \\x1b[31mleft: $5 \\u202eever" in t for t in texts), texts
    scope = next(t.replace("\n", " ") for t in texts if t.startswith("≤830"))
    assert "Members \\u200bof $x$" in scope and "\\x0amission" in scope, scope
