"""The one exception type every command's library code raises for a problem it reports to the user.

The CLI turns an OpimpactError into its message and exit code: 1 for invalid data or a failed check,
2 for a usage error or input that cannot be read. Subclasses live next to the code that raises them.
"""

from __future__ import annotations


class OpimpactError(Exception):
    """A problem to report to the user; exit_code is what the command exits with."""

    exit_code = 1


class UsageError(OpimpactError):
    """The command was asked for something it must not do, such as writing over one of its inputs (exit 2)."""

    exit_code = 2
