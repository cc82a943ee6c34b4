"""Citations of a release from CITATION.cff: plain text, BibTeX, RIS, CSL-JSON, or the CFF itself.

CITATION.cff is read as a bounded, regular file and parsed with YAML's safe loader under a budget of values
and nesting (see safeio.load_yaml), so a few hundred bytes of nested aliases cannot exhaust memory.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import textwrap
from pathlib import Path

from . import safeio
from .errors import OpimpactError
from .newlines import LINE_BREAK, LINE_START, line_ending
from .package import UnreadableInput

CITATION_NAME = "CITATION.cff"
FORMATS = ("text", "json", "bibtex", "ris", "cff")
_BIBTEX_SPECIAL = {"\\": r"\textbackslash{}", "{": r"\{", "}": r"\}", "&": r"\&", "%": r"\%", "$": r"\$",
                   "#": r"\#", "_": r"\_", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}


class CitationError(OpimpactError):
    """CITATION.cff is missing or unusable, or the requested version was never released (exit code 1)."""


def load_citation_text(root: Path) -> str:
    path = root / CITATION_NAME
    try:
        return safeio.read_text(path, str(path))
    except FileNotFoundError:
        raise CitationError(f"{path}: no {CITATION_NAME} here") from None
    except ValueError as exc:  # not a regular file, too large, not UTF-8
        raise UnreadableInput(str(exc), rule=None) from None
    except OSError as exc:
        raise UnreadableInput(f"{path}: cannot be read ({exc.strerror or exc})", rule=None) from None


def parse_citation(text: str, label: str = CITATION_NAME) -> dict:
    """The CFF document as a dict; CitationError when it is not YAML, lacks title and authors, or a value the
    citation uses has the wrong kind (a list where text belongs, a keyword list that is not a list)."""
    try:
        data = safeio.load_yaml(text.removeprefix("\ufeff"), label)
    except ValueError as exc:
        raise CitationError(str(exc)) from None
    if not isinstance(data, dict):
        raise CitationError(f"{label} must be a YAML mapping")
    for key in ("title", "authors"):
        if not data.get(key):
            raise CitationError(f"{label} has no '{key}'")
    if not isinstance(data["authors"], list):
        raise CitationError(f"{label}: 'authors' must be a list")
    for key in ("title", "version", "doi", "url", "repository-artifact", "repository-code", "abstract"):
        if isinstance(data.get(key), (dict, list, set)):
            raise CitationError(f"{label}: '{key}' must be text, not a {type(data[key]).__name__}")
    keywords = data.get("keywords")
    if keywords is not None and (not isinstance(keywords, list)
                                 or any(isinstance(k, (dict, list, set)) for k in keywords)):
        raise CitationError(f"{label}: 'keywords' must be a list of words")
    for author in data["authors"]:
        if isinstance(author, dict) and any(isinstance(author.get(k), (dict, list, set)) for k in _NAME_PARTS):
            raise CitationError(f"{label}: an author's name parts must be text")
    return data


_NAME_PARTS = ("name", "name-particle", "family-names", "given-names")


def with_release(text: str, version: str, date: dt.date) -> str:
    """CITATION.cff text with top-level version and date-released set, the rest kept byte for byte (line endings
    and a byte-order mark included). Idempotent."""
    bom = "\ufeff" if text.startswith("\ufeff") else ""
    body, ending = text.removeprefix(bom), line_ending(text)
    body = _set_top_level(body, "version", f'"{version}"', ending)
    return bom + _set_top_level(body, "date-released", f'"{date.isoformat()}"', ending)


def with_abstract(text: str, abstract: str) -> str:
    """CITATION.cff text with its top-level abstract (and any continuation lines) replaced by abstract, written as a
    folded block; the rest kept byte for byte. Idempotent. Used by a release to write the generated abstract."""
    bom = "\ufeff" if text.startswith("\ufeff") else ""
    body, ending = text.removeprefix(bom), line_ending(text)
    lines = textwrap.wrap(" ".join(abstract.split()), width=78, break_long_words=False, break_on_hyphens=False)
    block = ending.join(["abstract: >-", *(f"  {line}" for line in lines)])
    entry = re.compile(rf"{LINE_START}abstract:[^\r\n]*(?:(?:\r\n|\r|\n)(?:[ \t]+[^\r\n]*|(?=\r\n|\r|\n)))*")
    match = entry.search(body)
    if match is None:
        return bom + body + ("" if body.endswith(("\n", "\r")) or not body else ending) + block + ending
    kept = match.group(0)
    trailing = kept[len(kept.rstrip("\r\n \t")):]  # blank lines swallowed at the end of the entry stay
    return bom + body[:match.start()] + block + trailing + body[match.end():]


def _set_top_level(text: str, key: str, value: str, ending: str) -> str:
    pattern = re.compile(rf"{LINE_START}{re.escape(key)}:[^\r\n]*")
    line = f"{key}: {value}"
    if pattern.search(text):
        return pattern.sub(lambda _: line, text, count=1)
    return text + ("" if text.endswith(("\n", "\r")) or not text else ending) + line + ending


def _authors(cff: dict) -> list[str]:
    """Author names: an entity's 'name', or a person's 'family-names, given-names'."""
    names = []
    for author in cff["authors"]:
        if not isinstance(author, dict):
            continue
        if author.get("name"):
            names.append(str(author["name"]))
        else:
            family = " ".join(str(author.get(k, "")) for k in ("name-particle", "family-names") if author.get(k))
            given = str(author.get("given-names", ""))
            names.append(", ".join(p for p in (family, given) if p))
    if not names:
        raise CitationError(f"{CITATION_NAME}: no author has a name")
    return names


def _is_entity(author: object) -> bool:
    return isinstance(author, dict) and bool(author.get("name"))


def _date(cff: dict) -> dt.date | None:
    value = cff.get("date-released")
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value)) if value else None
    except ValueError:
        raise CitationError(f"{CITATION_NAME}: date-released {value!r} is not YYYY-MM-DD") from None


def _link(cff: dict) -> str | None:
    if cff.get("doi"):
        return _one_line(f"https://doi.org/{cff['doi']}")
    link = cff.get("url") or cff.get("repository-artifact") or cff.get("repository-code")
    return _one_line(link) if link else None


def render_text(cff: dict) -> str:
    """An APA-style reference: Authors (year). Title (Version v) [Data set]. Link."""
    date = _date(cff)
    year = date.year if date else "n.d."
    authors = _authors(cff)
    who = authors[0] if len(authors) == 1 else ", ".join(authors[:-1]) + ", & " + authors[-1]
    version = f" (Version {_one_line(cff['version'])})" if cff.get("version") else ""
    link = _link(cff)
    return f"{_one_line(who)} ({year}). {_one_line(cff['title'])}{version} [Data set].{' ' + link if link else ''}\n"


def _one_line(value: object) -> str:
    """Text with every run of whitespace, line breaks included, folded to one space."""
    return " ".join(str(value).split())


def _bibtex_escape(text: object) -> str:
    return "".join(_BIBTEX_SPECIAL.get(c, c) for c in _one_line(text))


def render_bibtex(cff: dict) -> str:
    """A BibTeX @misc entry (classic BibTeX has no data set type); entity authors are braced whole."""
    date = _date(cff)
    names = []
    for author, name in zip([a for a in cff["authors"] if isinstance(a, dict)], _authors(cff), strict=True):
        names.append("{" + _bibtex_escape(name) + "}" if _is_entity(author) else _bibtex_escape(name))
    version = str(cff.get("version", ""))
    key = re.sub(r"[^A-Za-z0-9_.:-]+", "-", f"op-impact-{version}" if version else "op-impact")
    fields = [("author", " and ".join(names)), ("title", "{" + _bibtex_escape(cff["title"]) + "}")]
    if date:
        fields += [("year", str(date.year)), ("month", date.strftime("%b").lower())]
    if version:
        fields.append(("version", _bibtex_escape(version)))
    fields.append(("howpublished", "Data set"))
    if cff.get("doi"):
        fields.append(("doi", _bibtex_escape(cff["doi"])))
    link = _link(cff)
    if link:
        fields.append(("url", link.replace("{", "%7B").replace("}", "%7D")))
    if date:
        fields.append(("note", f"Version {_bibtex_escape(version)}, released {date.isoformat()}" if version
                       else f"Released {date.isoformat()}"))
    body = ",\n".join(f"  {name} = {value}" if name == "month" else f"  {name} = {{{value}}}" for name, value in fields)
    return f"@misc{{{key},\n{body}\n}}\n"


def render_ris(cff: dict) -> str:
    """An RIS record of type DATA."""
    date = _date(cff)
    lines = ["TY  - DATA"] + [f"AU  - {_one_line(name)}" for name in _authors(cff)] + [f"TI  - {_one_line(cff['title'])}"]
    if date:
        lines += [f"PY  - {date.year}", f"DA  - {date:%Y/%m/%d}"]
    if cff.get("version"):
        lines.append(f"ET  - {_one_line(cff['version'])}")
    if cff.get("abstract"):
        lines.append("AB  - " + _one_line(cff["abstract"]))
    lines += [f"KW  - {_one_line(k)}" for k in cff.get("keywords") or []]
    if cff.get("doi"):
        lines.append(f"DO  - {_one_line(cff['doi'])}")
    link = _link(cff)
    if link:
        lines.append(f"UR  - {link}")
    lines.append("ER  - ")
    return "\n".join(lines) + "\n"


def render_csl_json(cff: dict) -> str:
    """A CSL-JSON list of one item of type dataset, as Zotero, pandoc and other citeproc tools read it."""
    date = _date(cff)
    authors = []
    for author, name in zip([a for a in cff["authors"] if isinstance(a, dict)], _authors(cff), strict=True):
        if _is_entity(author):
            authors.append({"literal": _one_line(name)})
        else:
            family = " ".join(str(author[k]) for k in ("name-particle", "family-names") if author.get(k))
            person = {"family": _one_line(family), "given": _one_line(author.get("given-names", ""))}
            authors.append({k: v for k, v in person.items() if v})
    version = _one_line(cff["version"]) if cff.get("version") else ""
    item: dict[str, object] = {"id": f"op-impact-{version}" if version else "op-impact", "type": "dataset",
                               "title": _one_line(cff["title"]), "author": authors}
    if version:
        item["version"] = version
    if date:
        item["issued"] = {"date-parts": [[date.year, date.month, date.day]]}
    if cff.get("abstract"):
        item["abstract"] = _one_line(cff["abstract"])
    if cff.get("keywords"):
        item["keyword"] = ", ".join(_one_line(k) for k in cff["keywords"])
    if cff.get("doi"):
        item["DOI"] = _one_line(cff["doi"])
    link = _link(cff)
    if link:
        item["URL"] = link
    return json.dumps([item], indent=2, ensure_ascii=False) + "\n"


def citation(root: Path, fmt: str = "text", version: str | None = None,
             released: dict[str, dt.date] | None = None) -> str:
    """The citation of the package at root, optionally of an earlier released version.

    released maps each recorded release version to its date; a version other than the CFF's own must be in it.
    """
    if fmt not in FORMATS:
        raise CitationError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    text = load_citation_text(root)
    cff = parse_citation(text)
    if version is not None and str(cff.get("version")) != version:
        if not released or version not in released:
            known = ", ".join(sorted(released or {})) or "none"
            raise CitationError(f"version {version} was never released (recorded releases: {known})")
        text = with_release(text, version, released[version])
        cff = parse_citation(text)
    if fmt == "cff":
        return LINE_BREAK.sub("\n", text.removeprefix("\ufeff"))
    return {"text": render_text, "json": render_csl_json, "bibtex": render_bibtex, "ris": render_ris}[fmt](cff)


def unreleased_note(root: Path, released: dict[str, dt.date], version: str | None = None) -> str | None:
    """A warning when the cited version has no release record (e.g. the CFF of an unreleased working tree)."""
    cited = version or str(parse_citation(load_citation_text(root)).get("version", ""))
    if cited in released:
        return None
    return (f"note: version {cited or '(none)'} has no release record in releases/; "
            "cite a released version (see `opimpact cite --version`)")
