"""Limits that keep a hostile or broken input from exhausting the machine. Stated in the README ("Limits and safety").

Every limit is read at call time (`limits.MAX_ROWS`, not `from .limits import MAX_ROWS`), so tests can lower it.
Going over one is reported as rule D05 (file-limit); for the descriptor or a zip, which must be read before
anything else, it is an unreadable input (exit code 2).
"""

from .registry import Rule

Rule("D05", "file-limit", "descriptor", "A file, cell, row count or zip entry stays within the stated safety limits.",
     "over a safety limit")

MAX_DESCRIPTOR_BYTES = 1 * 1024**2  # datapackage.json and each Table Schema; the real ones are a few kB
MAX_JSON_DEPTH = 64  # nesting of a descriptor or schema; a real one nests 5 deep
MAX_FILE_BYTES = 4 * 1024**3  # one CSV file; room for 10M event rows (2.7 GB). A valid file is read in batches; a damaged one takes about 4-6x its size
MAX_CELL_CHARS = 100_000  # one cell; the longest real cell is a few hundred characters
MAX_ROWS = 20_000_000  # records in one table, counted before the table is loaded
MAX_ZIP_ENTRIES = 1_000  # files in a release zip
MAX_ZIP_ENTRY_BYTES = MAX_FILE_BYTES  # one file unpacked from a zip
MAX_ZIP_TOTAL_BYTES = 8 * 1024**3  # everything unpacked from one zip
MAX_ZIP_RATIO = 200  # uncompressed/compressed size of one entry over 1 MiB; larger looks like a zip bomb


class LimitExceeded(ValueError):
    """An input goes over one of these limits (rule D05)."""

    rule = "D05"

MAX_TEXT_BYTES = 4 * 1024**2  # CITATION.cff, CHANGELOG.md, SHA256SUMS; the real ones are a few kB
MAX_YAML_NODES = 100_000  # values in CITATION.cff, aliases counted each time they are used (stops "billion laughs")
MAX_YAML_DEPTH = 64  # nesting of CITATION.cff
