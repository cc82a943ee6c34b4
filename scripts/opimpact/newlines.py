"""Line endings of text files a command edits: LF, CRLF or CR alone (old Mac), kept as the file has them."""

from __future__ import annotations

import re

# The start of a line, whichever line ending precedes it (Python's ^ with re.MULTILINE knows only \n).
LINE_START = r"(?:\A|(?<=\n)|(?<=\r)(?!\n))"
LINE_BREAK = re.compile(r"\r\n|\r|\n")


def line_ending(text: str) -> str:
    """The line ending text uses most ("\\n" when it has none), so that added lines match the rest."""
    counts = {"\r\n": text.count("\r\n")}
    counts["\r"] = text.count("\r") - counts["\r\n"]
    counts["\n"] = text.count("\n") - counts["\r\n"]
    best = max(counts, key=lambda ending: (counts[ending], ending == "\n"))
    return best if counts[best] else "\n"


def with_line_ending(text: str, ending: str) -> str:
    """Text written with "\\n" line breaks, converted to ending."""
    return text if ending == "\n" else text.replace("\n", ending)
