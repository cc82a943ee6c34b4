"""Write synthetic op-impact packages for benchmarks: the project's own descriptor and schemas, realistic values.

    python benchmarks/generate.py OUT_DIR --events 1000000 [--defects] [--bad-cells 100000]
    python benchmarks/generate.py OUT_DIR --changed-from SOURCE_DIR

Every table is valid by construction: foreign keys point at existing rows, dates agree with their precision
(X02) and their EDTF (X09), end dates follow start dates (X01), events and quotes are dated before their source's
publication (X07), personnel counts stay under the ceilings (X03), every 50th row of events, assets and personnel
levels names the row before it as canonical with the same dates (X08), typed links join rows of one source (X10),
controlled vocabularies (speakers, actors, places) take their values from the schemas, text has no stray
whitespace or formula prefixes, and every evidence excerpt and quote occurs in the synthetic archive of source
texts written next to the package (OUT_DIR/archive, checksums in sources.csv), while summaries and notes share
no run of eight words with it (P05). Cells carry accents, curly quotes, em dashes, non-breaking
spaces, Arabic script, commas, doubled quotes and (rarely) line breaks, and optional cells are often empty.

Sizes: quotes are 1/10 of events, assets and personnel levels 1/100 (at least 20), sources 1/1000 (4 to 2000).
The real ID patterns allow four digits ('ev-0001'); tables with more rows get the same pattern with the
digit count widened (e.g. ^ev-[0-9]{7}$), which is the only change made to the copied schemas.

--changed-from SOURCE writes, instead, a copy of the package at SOURCE whose events differ (rows removed, added,
re-keyed and changed), for timing `opimpact diff`; its manifest.json holds the counts the diff must report.

--defects seeds one known defect per rule (and the archive defects P01-P04); --bad-cells N spreads N bad
cells over the events table. Either way OUT_DIR/manifest.json lists every expected finding as (rule,
resource, CSV line, field), computed while writing (line breaks inside cells included), so a validator's
report can be compared with it exactly (see `check_report`).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np
import polars as pl

REPO = Path(__file__).resolve().parents[1]
GENERATOR_VERSION = 7  # bump when the output changes, so cached packages are rebuilt
CHUNK_ROWS = 500_000
ID_PREFIXES = {"events": "ev", "quotes": "qu", "assets": "as", "personnel_levels": "pl", "sources": "src"}
ID_FIELDS = {"events": "event_id", "quotes": "quote_id", "assets": "asset_id", "personnel_levels": "personnel_id",
             "sources": "source_id"}
TABLE_ORDER = ("sources", "events", "assets", "personnel_levels", "quotes")

# --- value pools -------------------------------------------------------------------------------------------
NBSP = "\u00a0"
EVIDENCE = [
    "Canada will triple the number of special forces troops training Kurdish fighters in northern Iraq",
    "the Royal Canadian Air Force’s CF-18 fighter jets were withdrawn from the bombing campaign in February",
    "a CC-150 Polaris tanker and two CP-140 Aurora surveillance aircraft remain in the region",
    "La mission canadienne en Irak a été prolongée jusqu’au 31 mars 2019, a annoncé le ministre",
    "les militaires canadiens offrent de la formation aux forces de sécurité irakiennes",
    f"about 830{NBSP}Canadian Armed Forces members are deployed in Iraq and Kuwait",
    "the Role 2 medical facility near Erbil — staffed by about 60 Canadians — treated coalition soldiers",
    "“We are there to advise and assist,” the defence minister said on Tuesday",
    "Canadian troops exchanged fire with ISIS militants near the front line, the military confirmed",
    "training of Kurdish peshmerga was suspended after the referendum on independence",
    "Ottawa set aside $9.5 million for equipment for the peshmerga, including helmets and night-vision goggles",
    "the special forces were moved closer to the front lines around Mosul, officials said",
    "Canada’s contribution includes a team that helps identify the location of improvised explosive devices",
    "Les CF-18 ont effectué 1 378 sorties depuis le début de la mission, selon l’état-major",
    "an all-source intelligence centre was set up in Baghdad, Defence Minister Harjit Sajjan said",
    "the Griffon helicopters will fly troops and supplies in northern Iraq",
    f"at least 200{NBSP}special operations forces are in the country, up from 69 before the change",
    "the government committed to keeping troops in the war-torn country until 2019",
    "a Canadian sniper made a kill shot from 3,540 metres, the longest confirmed in history",
    "Canadian trainers are now working with Iraqi security forces in Baghdad and Erbil",
    "the coalition airstrikes near Qayyarah – south of Mosul – continued through the night",
    "مدينة الموصل was retaken by Iraqi forces after nine months of fighting, the coalition said",
    "the mission’s total cost is estimated at $371.5 million over two years",
    "Jordan and Lebanon will receive help to secure their borders, the prime minister said",
]
QUOTES = [
    "We are there to advise and assist",
    "Canada is a steadfast partner in the coalition",
    "Nos militaires font un travail exceptionnel dans des conditions difficiles",
    "This is not a combat mission, but our troops have the right to defend themselves",
    "The threat posed by Daesh — to Iraq, the region and the world — remains real",
    "We will continue to support our partners in Iraq",
    "Le Canada demeure déterminé à vaincre Daech",
    "Our special forces are doing exactly what they were asked to do",
    "It’s a significant contribution, and it’s the right one",
    "The peshmerga have made considerable gains, with our help",
]


def _schema_enum(table: str, field: str) -> list[str]:
    """A controlled vocabulary, as the project's schema declares it."""
    schema = json.loads((REPO / "schemas" / f"{table}.schema.json").read_text(encoding="utf-8"))
    return next(f for f in schema["fields"] if f["name"] == field)["constraints"]["enum"]


SPEAKERS = [*_schema_enum("quotes", "speaker"), None, None]
ROLES = ["Minister of National Defence", "Prime Minister", "Minister of Foreign Affairs", "Chief of the Defence Staff",
         "Commander, Canadian Special Operations Forces Command", "a military spokesperson", "ministre des Affaires étrangères"]
SUMMARIES = [
    "Canada extended its mission in Iraq, with a new focus on training and advising.",
    "The CF-18 fighter jets ended their bombing missions over Iraq and Syria.",
    "Canadian special forces moved closer to the front lines near Mosul.",
    "Le gouvernement a prolongé la mission de formation jusqu’en 2019.",
    "Canada deployed a Role 2 medical facility near Erbil — its first field hospital of the mission.",
    "Training of Kurdish forces was suspended after the independence referendum.",
    "Canada gave helmets, \"night-vision\" goggles and radios to the peshmerga.",
    "Coalition forces retook Mosul after nine months of fighting.",
    "The defence minister visited Canadian troops in Erbil, Iraq.",
    "Canada opened an intelligence centre in Baghdad.",
    "Griffon helicopters arrived in northern Iraq to move troops and supplies.",
    "Canadian troops exchanged fire with ISIS fighters, the military said.",
    "La ministre a annoncé une aide de 9,5 millions de dollars aux forces partenaires.",
    "Canada sent trainers to help secure Jordan’s and Lebanon’s borders.",
    "A Canadian sniper set a record for the longest confirmed kill shot.",
]
PLACES = [*_schema_enum("events", "place"), None, None]
COUNTRIES = ["IRQ", "IRQ", "IRQ", "KWT", "JOR", "LBN", "CAN", "SYR", None]
ACTORS = [*_schema_enum("events", "actor"), None]
ATTRIBUTIONS = _schema_enum("events", "attribution")
NOTES = [None] * 12 + [
    "Year inferred from “last fall” and the new government.",
    "Date given as \"late 2016\"; stored at season precision.",
    "Figure as reported, rounded.",
    "Le lieu exact n’est pas précisé.",
    "Line one of a note.\nLine two: the year is implied.",
    "Amount, in Canadian dollars, as stated; not verified.",
]
NOTE_WITH_BREAK = 16  # index in NOTES of the note with a line break; used rarely (see _notes)
ASSET_NAMES = ["Aurora", "Polaris", "Griffon", "Hercules", "CF-18 Hornet", "Role 2 combat hospital", "LAV 6",
               "Équipement de protection", "Night-vision goggles", "Intelligence team", "Funding for border security"]
KINDS = ["aircraft", "helicopter", "medical_facility", "vehicle", "equipment", "funding", "team"]
ASSET_ROLES = ["air-to-air refuelling of coalition aircraft", "surveillance and reconnaissance",
               "transport of troops and supplies", "medical care for coalition troops", "soins médicaux", None]
RECIPIENTS = ["Kurdish peshmerga", "Iraqi security forces", "Jordanian Armed Forces", None, None]
BASES = ["Kuwait", "Erbil", "Camp Canada, Kuwait", "Baghdad", None]
ORIGINS = ["CFB Greenwood", "CFB Trenton", "CFB Valcartier", "BFC Bagotville", None]
SCOPES = ["CAF members in Iraq and Kuwait", "special operations forces in northern Iraq", "trainers in Baghdad",
          "l’ensemble de la mission", "air task force in Kuwait"]
LOCATIONS = ["Iraq", "Iraq and Kuwait", "northern Iraq", "Kuwait", "Irak et Koweït", None]
TITLES = ["Canada to extend anti-ISIS operations beyond the liberation of Mosul",
          "Canadian military teams aid overseas efforts to topple ISIS in Mosul",
          "Le Canada prolonge sa mission en Irak", "Trudeau’s ISIS mission: what we know", None]
PUBLISHERS = ["Grasswire", "CBC News", "Radio-Canada", None, None]
CATEGORIES = ["mandate", "deployment", "withdrawal", "training", "advise_assist", "combat", "suspension",
              "medical_support", "partner_support", "statement", "meeting", "context"]
PRECISIONS = ["day", "month", "season", "year", "range"]
WINDOW_DAYS = [6, 13, 29]  # lengths of ranges and day spans: a few, as real date windows repeat
LINK_EVERY = 10  # typed links name the events whose index ends in LINK_LAST (never a seeded or bad-cell row)
LINK_LAST = 9
IDENTITY_EVERY = 50  # row i names row i-1 as its canonical twin where i % IDENTITY_EVERY == 1


# --- plan ------------------------------------------------------------------------------------------------------

@dataclass
class Plan:
    """Row counts and ID widths of one synthetic package."""

    events: int
    rows: dict[str, int] = field(default_factory=dict)
    width: dict[str, int] = field(default_factory=dict)

    @classmethod
    def for_events(cls, events: int) -> Plan:
        rows = {"events": events, "quotes": max(20, events // 10), "assets": max(20, events // 100),
                "personnel_levels": max(20, events // 100), "sources": min(2000, max(4, events // 1000))}
        # room for one unused ID above the largest, so a dangling foreign key still matches the pattern
        width = {name: max(4, len(str(n + 10))) for name, n in rows.items()}
        width["sources"] = 4
        return cls(events, rows, width)

    def ident(self, table: str, index: int) -> str:
        return f"{ID_PREFIXES[table]}-{index:0{self.width[table]}d}"


# --- archive ---------------------------------------------------------------------------------------------------

def archive_text(k: int) -> str:
    """The synthetic article of source k: every evidence excerpt and quote, wrapped at varying places."""
    rng = np.random.default_rng(10_000 + k)
    parts = [f"Article {k}: {TITLES[k % 4]}", ""]
    for index in rng.permutation(len(EVIDENCE)):
        parts.append(EVIDENCE[index] + ".")
        if index < len(QUOTES):
            parts.append(f"{SPEAKERS[index % 5]} said: “{QUOTES[index]}.”")
    words = " ".join(parts).split(" ")
    lines, line = [], []
    for word in words:  # wrap at ~70 characters: the validator folds the line breaks back into spaces
        line.append(word)
        if sum(len(w) + 1 for w in line) > 60 + (k % 20):
            lines.append(" ".join(line))
            line = []
    lines.append(" ".join(line))
    return "\n".join(lines) + "\n"


def archive_name(k: int) -> str:
    return f"{k % 1000:03d}_{hashlib.sha256(f'source {k}'.encode()).hexdigest()[:16]}.txt"


# --- column helpers -------------------------------------------------------------------------------------------

def _pick(rng: np.random.Generator, pool: list, n: int) -> pl.Series:
    return pl.Series(pool, dtype=pl.String).gather(rng.integers(0, len(pool), n))


def _ids(plan: Plan, table: str, start: int, n: int) -> pl.Series:
    return _refs(plan, table, np.arange(start, start + n))


def _refs(plan: Plan, table: str, indices: np.ndarray) -> pl.Series:
    width = plan.width[table]
    return pl.select((pl.lit(f"{ID_PREFIXES[table]}-") + pl.Series(indices).cast(pl.String).str.zfill(width))
                     .alias("ref")).to_series()


def _date_group(rng: np.random.Generator, n: int, low: date, days: int, probs: list[float],
                span_share: float = 0.05, present: np.ndarray | None = None) -> pl.DataFrame:
    """A date group's columns (start, end, precision, edtf, earliest, latest, and `span` for the kind) that
    satisfy X01, X02 and X09 (null where `present` is False)."""
    frame = pl.DataFrame({
        "off": rng.integers(0, days, n), "p": rng.choice(5, n, p=probs),
        "k": np.array(WINDOW_DAYS)[rng.integers(0, len(WINDOW_DAYS), n)],
        "span": rng.random(n) < span_share, "on": np.ones(n, bool) if present is None else present,
    }).with_columns(d=pl.lit(low) + pl.duration(days=pl.col("off")))
    d, p = pl.col("d"), pl.col("p")
    y, m = d.dt.year(), d.dt.month()
    season_year = pl.when(m < 3).then(y - 1).otherwise(y)
    season_month = pl.when(m < 3).then(12).otherwise((m // 3) * 3)
    start = (pl.when(p == 1).then(pl.date(y, m, 1)).when(p == 2).then(pl.date(season_year, season_month, 1))
             .when(p == 3).then(pl.date(y, 1, 1)).otherwise(d))
    span = pl.col("span") & p.is_in([0, 1])
    end = (pl.when(p == 4).then(d + pl.duration(days=pl.col("k")))
           .when((p == 0) & span).then(d + pl.duration(days=pl.col("k")))
           .when((p == 1) & span).then(pl.date(y, m, 1).dt.offset_by("2mo")))

    def point(day: pl.Expr) -> pl.Expr:  # the EDTF of one date at the row's precision
        season = day.dt.year().cast(pl.String) + "-" + (21 + (day.dt.month() - 3) // 3).cast(pl.String)
        return (pl.when(p == 1).then(day.dt.to_string("%Y-%m")).when(p == 2).then(season)
                .when(p == 3).then(day.dt.to_string("%Y")).otherwise(day.dt.to_string("%Y-%m-%d")))

    def last_day(day: pl.Expr) -> pl.Expr:  # the last day of the period a date stands for
        return (pl.when(p == 1).then(day.dt.month_end()).when(p == 2).then(day.dt.offset_by("3mo").dt.offset_by("-1d"))
                .when(p == 3).then(pl.date(day.dt.year(), 12, 31)).otherwise(day))

    edtf = (pl.when(p == 4).then("[" + start.dt.to_string("%Y-%m-%d") + ".." + end.dt.to_string("%Y-%m-%d") + "]")
            .when(span).then(point(start) + "/" + point(end)).otherwise(point(start)))
    latest = pl.when(p == 4).then(end).when(span).then(last_day(end)).otherwise(last_day(start))
    on = pl.col("on")
    return frame.select(
        pl.when(on).then(start.dt.to_string("%Y-%m-%d")).alias("start"),
        pl.when(on).then(end.dt.to_string("%Y-%m-%d")).alias("end"),
        pl.when(on).then(p.replace_strict(dict(enumerate(PRECISIONS)), return_dtype=pl.String)).alias("precision"),
        pl.when(on).then(edtf).alias("edtf"),
        pl.when(on).then(start.dt.to_string("%Y-%m-%d")).alias("earliest"),
        pl.when(on).then(latest.dt.to_string("%Y-%m-%d")).alias("latest"),
        (on & span).alias("span"),
    )


def _group_columns(stem: str, group: pl.DataFrame, single: str | None = None) -> dict[str, pl.Series]:
    """The date group as named columns; with `single`, a kind column too (span, or `single` for the rest)."""
    columns = {f"{stem}_{part}": group[part] for part in ("start", "end", "precision")}
    if single is not None:
        columns[f"{stem}_kind"] = pl.select(pl.when(group["span"]).then(pl.lit("span")).otherwise(pl.lit(single))
                                            .alias("kind")).to_series()
    columns.update({f"{stem}_{part}": group[part] for part in ("edtf", "earliest", "latest")})
    return columns


def _with_identity(frame: pl.DataFrame, key: str, start: int, stems: tuple[str, ...]) -> pl.DataFrame:
    """Every IDENTITY_EVERY-th row names the row before it as its canonical twin, with the same dates (X08)."""
    index = pl.int_range(start, start + frame.height)
    twin = (index % IDENTITY_EVERY == 1) & (index > start)
    dated = [c for c in frame.columns if any(c.startswith(f"{stem}_") for stem in stems)]
    return frame.with_columns(pl.when(twin).then(pl.col(key).shift(1)).otherwise(None).alias("same_as"),
                              *(pl.when(twin).then(pl.col(c).shift(1)).otherwise(pl.col(c)).alias(c) for c in dated))


def _own_sources(plan: Plan, start: int, n: int) -> pl.Series:
    """Events rest on source (index mod the number of sources), so a typed link can find one of its source."""
    return _refs(plan, "sources", np.arange(start, start + n) % plan.rows["sources"])


def _linked_events(plan: Plan, rng: np.random.Generator, n: int) -> tuple[np.ndarray, pl.Series]:
    """Event indices for typed links (indices ending in LINK_LAST, clear of seeded and bad-cell rows) and the
    source each rests on."""
    events = plan.rows["events"]
    slots = max(1, (events - 100) // LINK_EVERY)
    index = 100 + rng.integers(0, slots, n) * LINK_EVERY + LINK_LAST
    index = np.where(index < events, index, LINK_LAST)
    return index, _refs(plan, "sources", index % plan.rows["sources"])


def _notes(rng: np.random.Generator, n: int) -> pl.Series:
    """Mostly empty notes; about 1 in 2,000 holds a line break (a quoted, multi-line cell)."""
    index = rng.integers(0, len(NOTES) - 1, n)
    index = np.where(index >= NOTE_WITH_BREAK, index + 1, index)
    index = np.where(rng.random(n) < 0.0005, NOTE_WITH_BREAK, index)
    return pl.Series(NOTES, dtype=pl.String).gather(index)


def _sometimes(values: pl.Series, keep: np.ndarray) -> pl.Series:
    """values where keep is True, null elsewhere."""
    return pl.select(pl.when(pl.Series(keep)).then(values.cast(pl.String)).alias(values.name)).to_series()


def _amounts(rng: np.random.Generator, n: int, share: float) -> pl.Series:
    return _sometimes(pl.Series(rng.integers(1, 400_000_000, n)), rng.random(n) < share)


# --- tables ---------------------------------------------------------------------------------------------------

def sources_frame(plan: Plan, rng: np.random.Generator, start: int, n: int, shas: list[str]) -> pl.DataFrame:
    idx = np.arange(start, start + n)
    published = _date_group(rng, n, date(2018, 1, 1), 300, [0.4, 0.3, 0.1, 0.1, 0.1], span_share=0)
    return pl.DataFrame({
        "source_id": _ids(plan, "sources", start, n),
        "archive_file": [archive_name(k) for k in idx], "sha256": [shas[k] for k in idx],
        "title": _pick(rng, TITLES, n), "publisher": _pick(rng, PUBLISHERS, n),
        **_group_columns("published", published),
        "url": _sometimes(pl.Series([f"https://news.example/article/{k}" for k in idx]), idx % 3 == 0), "language": _pick(rng, ["en", "en", "fr"], n), "notes": _notes(rng, n),
    })


def events_frame(plan: Plan, rng: np.random.Generator, start: int, n: int) -> pl.DataFrame:
    group = _date_group(rng, n, date(2014, 10, 1), 1188, [0.5, 0.25, 0.08, 0.07, 0.1])
    frame = pl.DataFrame({
        "event_id": _ids(plan, "events", start, n), **_group_columns("date", group, single="single"),
        "status": pl.Series(["occurred", "ongoing", "planned"]).gather(rng.choice(3, n, p=[0.8, 0.15, 0.05])),
        "category": _pick(rng, CATEGORIES, n), "summary": _numbered(_pick(rng, SUMMARIES, n), start),
        "place": _pick(rng, PLACES, n), "country": _pick(rng, COUNTRIES, n),
        "actor": _pick(rng, ACTORS, n), "attribution": _pick(rng, ATTRIBUTIONS, n), "amount_cad": _amounts(rng, n, 0.05),
        "source_id": _own_sources(plan, start, n),
        "evidence": _pick(rng, EVIDENCE, n), "notes": _numbered(_notes(rng, n), start),
    })
    frame = frame.with_columns(pl.when(pl.col("place").is_not_null()).then(pl.lit("city"))
                               .when(pl.col("country").is_not_null()).then(pl.lit("country")).alias("place_precision"))
    return _with_identity(frame, "event_id", start, ("date",))


def _numbered(texts: pl.Series, start: int) -> pl.Series:
    """Each text made unique by its entry number, as real summaries and notes are: a check must not gain
    from repeated text that real data would not repeat (empty cells stay empty)."""
    return texts + pl.Series([f" (entry {i})" for i in range(start, start + len(texts))], dtype=pl.String)


def assets_frame(plan: Plan, rng: np.random.Generator, start: int, n: int) -> pl.DataFrame:
    # arrivals end by 2015-12-31 and departures start in 2016, so the identity windows of twins always overlap
    arrived = _date_group(rng, n, date(2014, 10, 1), 400, [0.4, 0.3, 0.1, 0.1, 0.1], span_share=0,
                          present=rng.random(n) < 0.8)
    departed = _date_group(rng, n, date(2016, 1, 1), 700, [0.4, 0.3, 0.1, 0.1, 0.1], span_share=0,
                           present=rng.random(n) < 0.5)
    linked, sources = _linked_events(plan, rng, n)
    frame = pl.DataFrame({
        "asset_id": _ids(plan, "assets", start, n), "kind": _pick(rng, KINDS, n), "name": _pick(rng, ASSET_NAMES, n),
        "contribution": _pick(rng, ["deployed", "provided", "committed"], n), "role": _pick(rng, ASSET_ROLES, n),
        "quantity": _sometimes(pl.Series(rng.integers(1, 12, n)), rng.random(n) >= 0.4), "amount_cad": _amounts(rng, n, 0.1),
        "recipient": _pick(rng, RECIPIENTS, n), "based_at": _pick(rng, BASES, n), "origin": _pick(rng, ORIGINS, n),
        **_group_columns("arrived", arrived),
        "arrived_status": pl.select(pl.when(arrived["edtf"].is_not_null()).then(pl.lit("occurred"))).to_series(),
        **_group_columns("departed", departed),
        "departed_status": pl.select(pl.when(departed["edtf"].is_not_null()).then(pl.lit("occurred"))).to_series(),
        "arrival_event_id": _sometimes(_refs(plan, "events", linked), rng.random(n) < 0.3),
        "source_id": sources, "evidence": _pick(rng, EVIDENCE, n), "notes": _notes(rng, n),
    })
    return _with_identity(frame, "asset_id", start, ("arrived", "departed"))


def personnel_frame(plan: Plan, rng: np.random.Generator, start: int, n: int) -> pl.DataFrame:
    """Every 20th row is an authorized ceiling of 830 or more; other counts stay at most 800 (X03 holds)."""
    group = _date_group(rng, n, date(2014, 10, 2), 1188, [0.5, 0.3, 0.1, 0.05, 0.05])
    linked, sources = _linked_events(plan, rng, n)
    index = np.arange(start, start + n)
    ceiling = index % 20 == 0
    counts = pl.Series(np.where(ceiling, rng.integers(830, 1001, n), rng.integers(0, 801, n))).cast(pl.String)
    frame = pl.DataFrame({
        "personnel_id": _ids(plan, "personnel_levels", start, n), **_group_columns("date", group, single="as_of"),
        "count": counts,
        "qualifier": _pick(rng, ["exact", "approximately", "at_most", "at_least"], n),
        "measure": pl.Series(np.where(ceiling, "authorized_ceiling",
                                      np.where(rng.random(n) < 0.7, "deployed", "reported_estimate"))),
        "special_forces": _pick(rng, ["included", "excluded", "only", "unstated"], n),
        "scope": _pick(rng, SCOPES, n), "location": _pick(rng, LOCATIONS, n),
        "attribution": _pick(rng, ATTRIBUTIONS, n),
        "event_id": _sometimes(_refs(plan, "events", linked), rng.random(n) < 0.5),
        "source_id": sources, "evidence": _pick(rng, EVIDENCE, n), "notes": _notes(rng, n),
    })
    if start == 0:  # the earliest row is a ceiling, so every later count has one in force
        frame = _set(frame, {0: {"date_start": "2014-10-01", "date_end": None, "date_precision": "day",
                                 "date_kind": "as_of", "date_edtf": "2014-10-01", "date_earliest": "2014-10-01",
                                 "date_latest": "2014-10-01"}})
    return _with_identity(frame, "personnel_id", start, ("date",))


def quotes_frame(plan: Plan, rng: np.random.Generator, start: int, n: int) -> pl.DataFrame:
    group = _date_group(rng, n, date(2014, 10, 1), 1188, [0.6, 0.2, 0.05, 0.05, 0.1], span_share=0,
                        present=rng.random(n) < 0.8)
    # quotes cite events clear of the seeded and bad-cell rows (so no defect breaks a reference), and rest on the
    # source of the event they cite (X10)
    linked, sources = _linked_events(plan, rng, n)
    return pl.DataFrame({
        "quote_id": _ids(plan, "quotes", start, n), "text": _pick(rng, QUOTES, n),
        "kind": _pick(rng, ["statement", "fragment"], n), "speaker": _pick(rng, SPEAKERS, n),
        "speaker_role": _pick(rng, ROLES, n), **_group_columns("date", group),
        "event_id": _sometimes(_refs(plan, "events", linked), rng.random(n) < 0.8), "source_id": sources,
        "evidence": _pick(rng, EVIDENCE, n), "notes": _notes(rng, n),
    })


BUILDERS = {"events": events_frame, "assets": assets_frame, "personnel_levels": personnel_frame,
            "quotes": quotes_frame}


def _set(frame: pl.DataFrame, cells: dict[int, dict[str, str | None]]) -> pl.DataFrame:
    """Overwrite cells: {row index in frame: {column: value}}."""
    by_column: dict[str, tuple[list[int], list[str | None]]] = {}
    for index, values in sorted(cells.items()):
        for column, value in values.items():
            rows, vals = by_column.setdefault(column, ([], []))
            rows.append(index)
            vals.append(value)
    return frame.with_columns(
        frame[column].scatter(rows, pl.Series(vals, dtype=pl.String)) for column, (rows, vals) in by_column.items())


# --- defects ---------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Defect:
    """Cells to overwrite in one row, and the findings they must produce there."""

    table: str
    index: int  # data row, from 0
    cells: dict
    expect: tuple  # ((rule, field), ...); provenance rules (P..) are expected only with --archive


DAY = {"date_start": "2016-06-10", "date_end": None, "date_precision": "day", "date_edtf": "2016-06-10",
       "date_earliest": "2016-06-10", "date_latest": "2016-06-10"}
BASELINE = {**DAY, "date_kind": "single", "status": "occurred", "source_id": "src-0000", "same_as": None}
LATE = {"date_start": "2031-01-01", "date_edtf": "2031-01-01", "date_earliest": "2031-01-01", "date_latest": "2031-01-01"}


def seeded_defects(plan: Plan) -> list[Defect]:
    """One defect per rule, on rows whose other cells are set to a known-good baseline."""
    missing_event = plan.ident("events", plan.rows["events"] + 5)
    ev = [
        ({"amount_cad": "12 million"}, (("F01", "amount_cad"),)),
        ({"date_end": "2016-13-01"}, (("F01", "date_end"),)),
        ({"summary": None}, (("F02", "summary"),)),
        ({"category": "battle"}, (("F04", "category"),)),
        ({"country": "Iraq"}, (("F05", "country"),)),
        ({"amount_cad": "-5"}, (("F06", "amount_cad"),)),
        ({"summary": "Canada " + "x" * 300}, (("F07", "summary"),)),
        ({"event_id": None}, (("F08", "event_id"),)),
        ({"source_id": "src-9999"}, (("F09", "source_id"),)),
        ({"date_end": "2016-06-09"}, (("X01", "date_end"), ("X09", "date_end"))),
        ({"date_precision": "month"}, (("X02", "date_start"), ("X09", "date_precision"))),
        ({"date_precision": "range", "date_end": "2016-06-10"},
         (("X02", "date_end"), ("X09", "date_precision"), ("X09", "date_end"))),
        ({"place": "Mosul "}, (("X05", "place"), ("F04", "place"))),
        ({"summary": "=HYPERLINK(\"http://x\")"}, (("X06", "summary"),)),
        ({"notes": "@canada"}, (("X06", "notes"),)),
        (LATE, (("X07", "date_start"),)),
        ({"same_as": "<its own ID>"}, (("X08", "same_as"),)),
        ({"date_edtf": "2016-06-31"}, (("X09", "date_edtf"),)),
        ({"notes": "From the public record."}, (("X11", "notes"),)),
        ({"summary": EVIDENCE[9]}, (("P05", "summary"),)),
    ]
    defects = [Defect("events", 3 + 4 * i, {**BASELINE, "evidence": EVIDENCE[0], **cells}, expect)
               for i, (cells, expect) in enumerate(ev)]
    for d in defects:
        if d.cells.get("same_as") == "<its own ID>":
            d.cells["same_as"] = plan.ident("events", d.index)
    # a duplicated primary key is reported on both rows that hold it
    dup_index = 3 + 4 * len(ev)
    defects.append(Defect("events", dup_index, {"event_id": plan.ident("events", dup_index - 1)},
                          (("F08", "event_id"),)))
    defects.append(Defect("events", dup_index - 1, {}, (("F08", "event_id"),)))
    defects.append(Defect("events", dup_index + 4, {**BASELINE, "evidence": "a sentence no article contains"},
                          (("P04", "evidence"),)))
    qbase = {**DAY, "source_id": "src-0000", "event_id": None}
    defects += [
        Defect("quotes", 2, {**qbase, "date_precision": None}, (("X02", "date_precision"), ("X09", "date_precision"))),
        Defect("quotes", 5, {**qbase, "event_id": missing_event}, (("F09", "event_id"),)),
        Defect("quotes", 7, {**qbase, "event_id": "EV-1"}, (("X04", "event_id"), ("F09", "event_id"))),
        Defect("quotes", 9, {**qbase, **LATE}, (("X07", "date_start"),)),
        Defect("quotes", 11, {**qbase, "text": "Reportedly, " + QUOTES[0]}, (("P03", "text"),)),
        Defect("quotes", 13, {**qbase, "speaker": "Dan MacIssac"}, (("F04", "speaker"),)),
        Defect("quotes", 15, {**qbase, "event_id": plan.ident("events", 100 + LINK_LAST)},
               (("X10", "event_id"),)),
        Defect("assets", 1, {"asset_id": "AS-1"}, (("X04", "asset_id"),)),
        Defect("assets", 4, {"quantity": "two"}, (("F01", "quantity"),)),
        Defect("personnel_levels", 3, {"count": "5000"}, (("X03", "count"),)),
        Defect("personnel_levels", 5, {"count": "-5"}, (("F06", "count"),)),
        Defect("sources", 1, {}, (("F03", "sha256"),)),
        Defect("sources", 2, {"sha256": "<sha256 of source 1>"}, (("F03", "sha256"), ("P02", "sha256"))),
        Defect("sources", 3, {}, (("P01", "archive_file"),)),  # its archive file is not written
    ]
    return defects


def bad_cell_defects(plan: Plan, count: int, seed: int) -> list[Defect]:
    """`count` bad cells on distinct events rows: 40% F04, 30% X05, 20% F01, 10% F09."""
    n = plan.rows["events"]
    if count > n:
        raise ValueError(f"{count} bad cells do not fit in {n} events rows")
    first = 200 if n > 200 + count else 0  # clear of the rows seeded_defects uses
    candidates = np.arange(first, n)
    candidates = candidates[candidates % LINK_EVERY != LINK_LAST]  # typed links name those rows: keep them intact
    if count > len(candidates):
        raise ValueError(f"{count} bad cells do not fit in {n} events rows")
    rows = np.sort(np.random.default_rng(seed + 7).choice(candidates, count, replace=False))
    kinds = np.random.default_rng(seed + 8).choice(4, count, p=[0.4, 0.3, 0.2, 0.1])
    spec = [({"category": "battle"}, (("F04", "category"),)), ({"place": "Mosul "}, (("X05", "place"), ("F04", "place"))),
            ({"amount_cad": "n/a"}, (("F01", "amount_cad"),)), ({"source_id": "src-9999"}, (("F09", "source_id"),))]
    return [Defect("events", int(r), spec[k][0], spec[k][1]) for r, k in zip(rows.tolist(), kinds.tolist(), strict=True)]


# --- writing -------------------------------------------------------------------------------------------------

def _widened_schema(table: str, schema: dict, plan: Plan) -> dict:
    """The real schema with its ID patterns widened to the digits this package needs."""
    for f in schema["fields"]:
        pattern = f.get("constraints", {}).get("pattern")
        for other, prefix in ID_PREFIXES.items():
            if pattern == f"^{prefix}-[0-9]{{4}}$":
                f["constraints"]["pattern"] = f"^{prefix}-[0-9]{{{plan.width[other]}}}$"
    return schema


def _write_table(path: Path, table: str, plan: Plan, seed: int, defects: list[Defect],
                 shas: list[str]) -> dict[int, int]:
    """Write one CSV in chunks; return the CSV line of every defect row."""
    n = plan.rows[table]
    by_index = {}
    for d in defects:
        if d.table == table:
            by_index.setdefault(d.index, {}).update(d.cells)
    lines: dict[int, int] = {}
    extra_breaks = 0
    schema = json.loads((REPO / "schemas" / f"{table}.schema.json").read_text(encoding="utf-8"))
    header = [f["name"] for f in schema["fields"]]
    with open(path, "wb") as handle:
        for chunk, start in enumerate(range(0, n, CHUNK_ROWS)):
            size = min(CHUNK_ROWS, n - start)
            rng = np.random.default_rng([seed, TABLE_ORDER.index(table), chunk])
            frame = (sources_frame(plan, rng, start, size, shas) if table == "sources"
                     else BUILDERS[table](plan, rng, start, size))
            frame = frame.select(pl.col(name) if name in frame.columns else pl.lit(None, dtype=pl.String).alias(name)
                                 for name in header)  # the schema's order; fields not generated stay empty
            local = {i - start: cells for i, cells in by_index.items() if start <= i < start + size}
            if table == "sources":
                for cells in local.values():
                    if cells.get("sha256") == "<sha256 of source 1>":
                        cells["sha256"] = shas[1]
            if local:
                frame = _set(frame, local)
            breaks = frame.select(pl.sum_horizontal(
                pl.col(c).str.count_matches("\n", literal=True).fill_null(0) for c in frame.columns)).to_series()
            before = breaks.cum_sum() - breaks
            for i in local:
                lines[start + i] = 2 + start + i + extra_breaks + int(before[i])
            extra_breaks += int(breaks.sum())
            frame.write_csv(handle, include_header=chunk == 0)
    return lines


def synthetic_descriptor() -> dict:
    """The repository's descriptor without each resource's `bytes` and `hash`: those describe the shipped
    files, and a tool that checks them (frictionless does) would report every synthetic file as corrupt."""
    descriptor = json.loads((REPO / "datapackage.json").read_text(encoding="utf-8"))
    for resource in descriptor.get("resources", []):
        resource.pop("bytes", None)
        resource.pop("hash", None)
    return descriptor


def generate(dest: Path, events: int, *, seed: int = 2024, defects: bool = False, bad_cells: int = 0) -> dict:
    """Write the package, its archive and manifest.json to dest (replacing it); return the manifest."""
    plan = Plan.for_events(events)
    if dest.exists():
        shutil.rmtree(dest)
    (dest / "data").mkdir(parents=True)
    (dest / "schemas").mkdir()
    (dest / "archive").mkdir()
    (dest / "datapackage.json").write_text(json.dumps(synthetic_descriptor(), indent=2, ensure_ascii=False) + "\n",
                                           encoding="utf-8")
    for table in TABLE_ORDER:
        schema = json.loads((REPO / "schemas" / f"{table}.schema.json").read_text(encoding="utf-8"))
        (dest / "schemas" / f"{table}.schema.json").write_text(
            json.dumps(_widened_schema(table, schema, plan), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    chosen = (seeded_defects(plan) if defects else []) + (bad_cell_defects(plan, bad_cells, seed) if bad_cells else [])
    shas = []
    for k in range(plan.rows["sources"]):
        body = archive_text(k).encode("utf-8")
        shas.append(hashlib.sha256(body).hexdigest())
        if not (defects and k == 3):  # P01: the archive lacks this source's file
            (dest / "archive" / archive_name(k)).write_bytes(body)
    expected = []
    for table in TABLE_ORDER:
        lines = _write_table(dest / "data" / f"{table}.csv", table, plan, seed, chosen, shas)
        for d in chosen:
            if d.table == table:
                expected += [{"rule": rule, "resource": table, "row": lines[d.index], "field": f,
                              "archive_only": rule.startswith("P")} for rule, f in d.expect]
    expected.sort(key=lambda e: (e["resource"], e["row"], e["field"], e["rule"]))
    manifest = {"generator_version": GENERATOR_VERSION, "events": events, "seed": seed, "defects": defects,
                "bad_cells": bad_cells, "rows": plan.rows, "id_digits": plan.width, "expected": expected}
    (dest / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    return manifest


# --- a changed copy, for diff ---------------------------------------------------------------------------------

# Share of the events rows removed, added, re-keyed (same content under a new ID) and changed (one cell each)
CHANGE_SHARES = {"removed": 0.01, "added": 0.01, "rekeyed": 0.001, "changed": 0.01}


def generate_changed(source: Path, dest: Path, *, seed: int = 2024) -> dict:
    """Copy the valid package at source to dest (replacing it) with its events changed; return the manifest.

    Rows are removed and re-keyed only in the first half of the events, which no quote cites, so the copy stays
    valid; added rows are new events appended at the end; a changed row's summary gets " (corrected)". The
    manifest's "diff" holds the row counts `opimpact diff source dest` must report for events."""
    base = json.loads((source / "manifest.json").read_text(encoding="utf-8"))
    plan = Plan.for_events(base["events"])
    n = plan.rows["events"]
    counts = {kind: max(1, round(n * share)) for kind, share in CHANGE_SHARES.items()}
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(source, dest, ignore=shutil.ignore_patterns("manifest.json", "events.csv"))
    rng = np.random.default_rng([seed, 99])
    events = pl.read_csv(source / "data" / "events.csv", infer_schema=False)
    # only rows nothing names (by same_as or a typed link) may go or take a new ID, so the copy stays valid
    named = set(events["same_as"].drop_nulls()) if "same_as" in events.columns else set()
    for table, column in (("quotes", "event_id"), ("personnel_levels", "event_id"), ("assets", "arrival_event_id"),
                          ("assets", "departure_event_id")):
        other = pl.read_csv(source / "data" / f"{table}.csv", infer_schema=False)
        if column in other.columns:
            named |= set(other[column].drop_nulls())
    free = np.flatnonzero(~events["event_id"].is_in(list(named)).to_numpy())
    first_half = rng.permutation(free[free < n // 2])
    removed = np.sort(first_half[:counts["removed"]])
    rekeyed = np.sort(first_half[counts["removed"]:counts["removed"] + counts["rekeyed"]])
    rest = np.setdiff1d(np.arange(n), np.concatenate([removed, rekeyed]))
    changed = np.sort(rng.choice(rest, counts["changed"], replace=False))
    new_ids = _ids(plan, "events", n, counts["rekeyed"])
    events = events.with_columns(
        events["event_id"].scatter(rekeyed, new_ids),
        events["summary"].scatter(changed, events["summary"].gather(changed) + " (corrected)"))
    keep = np.ones(n, bool)
    keep[removed] = False
    added = events_frame(plan, np.random.default_rng([seed, 100]), n + counts["rekeyed"], counts["added"])
    added = added.select(pl.col(name).cast(pl.String) for name in events.columns)
    with open(dest / "data" / "events.csv", "wb") as handle:
        pl.concat([events.filter(pl.Series(keep)), added]).write_csv(handle)
    manifest = {"generator_version": GENERATOR_VERSION, "changed_from": str(source), "source": base,
                "shares": CHANGE_SHARES, "rows": {**base["rows"], "events": n - counts["removed"] + counts["added"]},
                "diff": {"events": counts}}
    (dest / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    return manifest


# --- checking a report against the manifest ------------------------------------------------------------------

def expected_findings(manifest: dict, archive: bool) -> Counter:
    """The (rule, resource, row, field) findings a validator must report, as a multiset."""
    return Counter((e["rule"], e["resource"], e["row"], e["field"]) for e in manifest["expected"]
                   if archive or not e["archive_only"])


def check_report(report: dict, manifest: dict, archive: bool) -> list[str]:
    """Differences between an `opimpact validate --format json` report and the manifest (empty when exact).

    Counts must match per rule and resource; every listed finding must be expected, and when nothing was
    capped the listed findings must be exactly the expected ones.
    """
    want = expected_findings(manifest, archive)
    got = Counter((e["rule"], e["resource"], e["row"], e["field"]) for e in report["errors"])
    problems = []
    want_by_rule = Counter()
    for (rule, _, _, _), n in want.items():
        want_by_rule[rule] += n
    if dict(want_by_rule) != report["counts_by_rule"]:
        problems.append(f"counts by rule: expected {dict(sorted(want_by_rule.items()))}, got {report['counts_by_rule']}")
    unexpected = got - want
    if unexpected:
        problems.append(f"{sum(unexpected.values())} unexpected findings, e.g. {sorted(unexpected)[:5]}")
    if report["listed_count"] == report["error_count"]:
        missing = want - got
        if missing:
            problems.append(f"{sum(missing.values())} expected findings missing, e.g. {sorted(missing)[:5]}")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dest", type=Path)
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--defects", action="store_true", help="seed one known defect per rule")
    parser.add_argument("--bad-cells", type=int, default=0, help="spread this many bad cells over events")
    parser.add_argument("--changed-from", type=Path, help="write a changed copy of this generated package instead")
    args = parser.parse_args(argv)
    if args.changed_from:
        manifest = generate_changed(args.changed_from, args.dest, seed=args.seed)
        print(f"wrote {args.dest}: events changed by {manifest['diff']['events']}", file=sys.stderr)
        return 0
    manifest = generate(args.dest, args.events, seed=args.seed, defects=args.defects, bad_cells=args.bad_cells)
    print(f"wrote {args.dest}: {manifest['rows']}, {len(manifest['expected'])} expected findings", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
