"""Limits that keep a hostile or broken input from exhausting the machine. Stated in the README."""

MAX_DESCRIPTOR_BYTES = 1 * 1024 * 1024  # datapackage.json and each Table Schema
MAX_FILE_BYTES = 8 * 1024**3  # one CSV file
MAX_CELL_CHARS = 100_000  # one cell; the longest real cell is a few hundred characters
MAX_ROWS = 50_000_000  # rows in one table
MAX_ZIP_ENTRIES = 1_000
MAX_ZIP_ENTRY_BYTES = 8 * 1024**3
MAX_ZIP_TOTAL_BYTES = 16 * 1024**3
MAX_ZIP_RATIO = 200  # uncompressed/compressed size of one entry; larger looks like a zip bomb
