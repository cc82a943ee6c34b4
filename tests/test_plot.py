"""The timeline picture: drawn, not blank, deterministic, with no dates or versions in its metadata."""

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
from opimpact.plot import DPI, SIZE_INCHES, plot_timeline

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
