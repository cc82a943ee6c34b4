"""The opimpact command line: parse options, call the library, format the result. No logic lives here.

Every library error is an OpimpactError carrying its exit code; `reported` turns it into a Failure (a
ClickException) once, for every command. Everything printed, on stdout and stderr, in text, Markdown and JSON,
passes through terminal_safe or json_safe, so text from an input never drives the terminal.
"""

from __future__ import annotations

import errno
import io
import json
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import click

from . import __version__

INTERNAL_ERROR = "internal error"  # the words a failure that is a bug of opimpact starts with; tests look for them


# ---------------------------------------------------------------- printing and failing

def _safe(text: str) -> str:
    from .report import terminal_safe

    return terminal_safe(text)


def echo(text: str, err: bool = False, nl: bool = True) -> None:
    """Print text (Markdown included) with every control or invisible character from the input made visible."""
    click.echo(_safe(text), err=err, nl=nl)


def echo_json(document: object) -> None:
    """Print a JSON document; characters that could drive a terminal are written as \\u escapes (same JSON value)."""
    from .report import json_safe

    click.echo(json_safe(json.dumps(document, indent=2, ensure_ascii=False)))


def echo_rendered(text: str, output_format: str) -> None:
    """Print a report the library rendered (text, Markdown or JSON)."""
    if output_format == "json":
        from .report import json_safe

        click.echo(json_safe(text), nl=False)
    else:
        echo(text, nl=False)


class Failure(click.ClickException):
    """A command's failure as printed: lines on stderr (or a JSON document on stdout) and an exit code."""

    def __init__(self, message: str, exit_code: int, details: Sequence[str] = (), document: dict | None = None,
                 prefix: str | None = "error") -> None:
        super().__init__(message)
        self.exit_code = exit_code
        self.details, self.document, self.prefix = list(details), document, prefix

    def show(self, file=None) -> None:
        if self.document is not None:
            echo_json(self.document)
            return
        for line in self.details:
            echo(line, err=True)
        echo(f"{self.prefix}: {self.message}" if self.prefix else self.message, err=True)


def _failure(exc: BaseException, output_format: str = "text", note: str = "") -> Failure:
    """The Failure for a library error: its message (with the rule, when it has one) and exit code."""
    from .errors import OpimpactError
    from .registry import get_rule

    if isinstance(exc, OpimpactError):
        message, code = str(exc), exc.exit_code
    elif isinstance(exc, OSError):  # the disk is full, a folder cannot be written or a file read
        where = f" {exc.filename}" if exc.filename else ""
        message, code = f"cannot write or read{where}: {exc.strerror or exc}", 2
    else:
        message, code = str(exc), 2
    rule = getattr(exc, "rule", None)
    if note and "nothing was" not in message:
        message = f"{message}; {note}"
    if output_format == "json":
        return Failure(message, code, document={"valid": False, "rule": rule, "error": message, "exit_code": code})
    tag = f" [{rule} {get_rule(rule).name}]" if rule else ""
    return Failure(message, code, prefix=f"error{tag}")


@contextmanager
def reported(output_format: str = "text", note: str = "") -> Iterator[None]:
    """Turn a library error (or an OSError reading or writing a file) into a Failure with its exit code."""
    from .errors import OpimpactError

    try:
        yield
    except (OpimpactError, OSError) as exc:
        raise _failure(exc, output_format, note) from None


class Cli(click.Group):
    """The command group, with one exit path for every error click itself reports (made terminal-safe: they echo
    the arguments given), for a closed output pipe, and for a bug (a message, never a traceback)."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            result = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.exceptions.Abort:
            click.echo("Aborted!", err=True)
            sys.exit(1)
        except click.ClickException as exc:
            if isinstance(exc, Failure):
                exc.show()
            else:
                buffer = io.StringIO()
                exc.show(file=buffer)
                echo(buffer.getvalue(), err=True, nl=False)
            sys.exit(exc.exit_code)
        except OSError as exc:
            if exc.errno != errno.EPIPE:
                raise
            _silence_stdout()  # `opimpact diff a b | head`: the reader left; say nothing more
            sys.exit(1)
        except Exception as exc:  # a bug: say so plainly instead of a traceback
            echo(f"{INTERNAL_ERROR}: {type(exc).__name__}: {exc}. This is a bug in opimpact {__version__}; "
                 "please report it with the command you ran.", err=True)
            sys.exit(2)
        sys.exit(result if isinstance(result, int) else 0)


def _silence_stdout() -> None:
    """Point stdout at /dev/null so that flushing it at exit cannot fail again (the signal module's advice)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


# ---------------------------------------------------------------- shared options

def package_argument(func: Callable) -> Callable:
    """The optional PACKAGE argument every command that reads one package takes (described in each docstring)."""
    return click.argument("package", default=".", type=click.Path(dir_okay=True, file_okay=True))(func)


def _warn_deprecated_package(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    # Click's own `deprecated=` names the option by its Python name (package_option), not as typed: say it here.
    if value is not None:
        echo(f"warning: --package is deprecated; give the package as the argument: opimpact {ctx.info_name} ... "
             "DIRECTORY", err=True)
    return value


def deprecated_package_option(func: Callable) -> Callable:
    """--package DIRECTORY, the old spelling of the PACKAGE argument on release and cite: hidden, still accepted."""
    return click.option("--package", "package_option", default=None, hidden=True, expose_value=True,
                        type=click.Path(file_okay=False, dir_okay=True), callback=_warn_deprecated_package,
                        help="Deprecated: give the package folder as the PACKAGE argument instead.")(func)


def one_package(package: str, package_option: str | None) -> str:
    """The package folder given either as PACKAGE or with the deprecated --package (not both)."""
    if package_option is None:
        return package
    if package != ".":
        raise click.UsageError("give the package once: as the PACKAGE argument (--package is deprecated)")
    return package_option


FORMAT_HELP = "Output format: text for people, json for machines."


def format_option(choices: Sequence[str] = ("text", "json"), help_text: str = FORMAT_HELP) -> Callable:
    return click.option("--format", "output_format", type=click.Choice(list(choices)), default=choices[0],
                        show_default=True, help=help_text)


def echo_written(paths: Sequence[object], output_format: str) -> None:
    """Say what a command wrote: 'wrote a, b' for people, {"written": [...]} for machines."""
    if output_format == "json":
        echo_json({"written": [str(path) for path in paths]})
    else:
        names = [str(path) for path in paths]
        echo("wrote " + (" and ".join(names) if len(names) <= 2 else ", ".join(names)))


def out_option(default: str, help_text: str, callback: Callable | None = None) -> Callable:
    return click.option("--out", type=click.Path(dir_okay=False), default=default, show_default=True,
                        callback=callback, help=help_text)


def archive_option(help_text: str) -> Callable:
    return click.option("--archive", type=click.Path(exists=True, file_okay=False, dir_okay=True), default=None,
                        help=help_text)


_ARCHIVE_HELP = "Directory of archived source texts: also check that quotes and evidence are verbatim."
_WRITES_NOTHING = "nothing was written"


def _progress() -> Callable[[str], None]:
    """A progress callback that writes to stderr, only when stderr is a terminal."""
    if sys.stderr.isatty():
        return lambda message: echo(f"… {message}", err=True)
    return lambda message: None


# ---------------------------------------------------------------- commands

@click.group(cls=Cli, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="opimpact")
def cli() -> None:
    """Validate, export, release and cite the op-impact data package.

    Exit codes: 0 ok, 1 invalid data or a failed check, 2 usage error or unreadable input.
    """


@cli.command()
@package_argument
@archive_option("Directory of archived source texts: also check checksums and that quotes and evidence are verbatim.")
@format_option()
@click.option("--standard", is_flag=True,
              help="Also check the descriptor and Table Schemas against the Data Package standard's profiles "
                   "(rule D06, by frictionless; adds about half a second).")
@click.option("--max-errors", type=click.IntRange(min=1), default=100, show_default=True,
              help="List at most this many errors per rule and resource (counts stay exact).")
def validate(package: str, archive: str | None, standard: bool, output_format: str, max_errors: int) -> None:
    """Check a package: descriptor, table structure, Table Schema rules, extra rules and provenance.

    PACKAGE is a directory holding datapackage.json, the descriptor itself, or a release zip
    (default: the current directory).
    """
    from .report import render_json, render_text
    from .validate import validate_package

    with reported(output_format):
        report = validate_package(package, archive=archive, max_per_rule=max_errors, standard=standard)
    echo_rendered(render_json(report) if output_format == "json" else render_text(report), output_format)
    sys.exit(0 if report.valid else 1)


@cli.command()
@format_option(choices=("text", "json", "markdown"),
               help_text="text for people, json for machines, markdown for the README's rule table.")
def rules(output_format: str) -> None:
    """List every rule validate checks: its ID, name, layer and what it requires."""
    from .registry import render_rules

    echo_rendered(render_rules(output_format), output_format)


@cli.group()
def export() -> None:
    """Export the package for Excel, SQLite/Datasette, Parquet, or as a Markdown codebook.

    Exports refuse a package that does not validate (exit 1), unreadable input (exit 2), and an output path
    that is one of the package's own files or another output (exit 2); nothing is written then.
    """


@export.command("xlsx")
@package_argument
@out_option("op-impact.xlsx", "Workbook to write.")
@click.option("--version", "version", default=None, help="Version shown in the README sheet (default: the descriptor's).")
@format_option()
def export_xlsx(package: str, out: str, version: str | None, output_format: str) -> None:
    """Write one Excel workbook: README sheet, one sheet per table, codebook sheet.

    PACKAGE is a directory holding datapackage.json, the descriptor itself, or a release zip (default: the
    current directory).
    """
    from .export_xlsx import write_workbook

    with reported(output_format, note=_WRITES_NOTHING):
        write_workbook(package, out, version=version)
    echo_written([out], output_format)


@export.command("parquet")
@package_argument
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default="op-impact-parquet", show_default=True,
              help="Folder to write one <table>.parquet file per table into.")
@format_option()
def export_parquet(package: str, out_dir: str, output_format: str) -> None:
    """Write one Parquet file per table, typed from the Table Schemas, with each schema in the file's metadata.

    PACKAGE is a directory holding datapackage.json, the descriptor itself, or a release zip (default: the
    current directory).
    """
    from .export_parquet import write_parquet_tables

    with reported(output_format, note=_WRITES_NOTHING):
        written = write_parquet_tables(package, out_dir)
    echo_written(written, output_format)


@export.command("sqlite")
@package_argument
@out_option("op-impact.sqlite", "SQLite database to write.")
@click.option("--metadata", type=click.Path(dir_okay=False), default=None,
              help="Datasette metadata.json to write [default: OUT with suffix .metadata.json].")
@click.option("--no-metadata", is_flag=True, help="Do not write the Datasette metadata file.")
@format_option()
def export_sqlite(package: str, out: str, metadata: str | None, no_metadata: bool, output_format: str) -> None:
    """Write a SQLite database (typed columns, keys, indexes) and its Datasette metadata.json.

    PACKAGE is a directory holding datapackage.json, the descriptor itself, or a release zip (default: the
    current directory).
    """
    from pathlib import Path

    from .export_sqlite import export as export_database

    metadata_file = None if no_metadata else Path(metadata or Path(out).with_suffix(".metadata.json"))
    with reported(output_format, note=_WRITES_NOTHING):
        export_database(package, out, metadata_file)
    echo_written([out, metadata_file] if metadata_file else [out], output_format)


@export.command("codebook")
@package_argument
@out_option("docs/codebook.md", "Markdown file to write (or compare with --check).")
@click.option("--check", is_flag=True, help="Write nothing; exit 1 if OUT differs from a fresh codebook.")
@format_option()
def export_codebook(package: str, out: str, check: bool, output_format: str) -> None:
    """Write the codebook (every table and field, from the Table Schemas) as Markdown.

    PACKAGE is a directory holding datapackage.json, the descriptor itself, or a release zip (default: the
    current directory). The codebook documents the schemas, so it is written even while the data do not
    validate yet.
    """
    from .codebook import codebook_is_current, write_codebook

    if check:
        with reported(output_format):
            current = codebook_is_current(package, out)
        if output_format == "json":
            echo_json({"checked": out, "current": current})
            sys.exit(0 if current else 1)
        if not current:
            raise Failure(f"{out} is stale: run `opimpact export codebook {package} --out {out}`", 1, prefix=None)
        echo(f"{out} is up to date")
        return
    with reported(output_format, note=_WRITES_NOTHING):
        write_codebook(package, out)
    echo_written([out], output_format)


def _picture_suffix(ctx: click.Context, param: click.Parameter, value: str) -> str:
    from .plot import FORMATS as PICTURES

    if not value.lower().endswith(PICTURES):
        raise click.BadParameter("the picture must end in .png or .svg", ctx=ctx, param=param)
    return value


@cli.command()
@package_argument
@out_option("docs/timeline.png", "Picture to write (.png or .svg), or to compare with --check.",
            callback=_picture_suffix)
@click.option("--check", is_flag=True,
              help="Write nothing; exit 1 if OUT was not drawn from the package as it is now (compares the "
                   "fingerprint of the plotted data that every picture carries, not pixels).")
@format_option()
def plot(package: str, out: str, check: bool, output_format: str) -> None:
    """Draw the timeline: personnel figures labelled with who they count, asset presence and deliveries, events,
    and the key events labelled, each marked by date precision.

    PACKAGE is a directory holding datapackage.json, the descriptor itself, or a release zip (default: the
    current directory).

    Exit codes: 0 written (or, with --check, current), 1 invalid data (or, with --check, stale or missing),
    2 usage error or unreadable input.
    """
    from .plot import check_timeline, plot_timeline

    if check:
        with reported(output_format):
            result = check_timeline(package, out)
        fix = f"opimpact plot {package} --out {out}"
        if output_format == "json":
            echo_json({"file": out, "status": result.status, "current": result.current,
                       "fingerprint": result.found, "expected_fingerprint": result.expected,
                       "fix": None if result.current else fix, "exit_code": 0 if result.current else 1})
        elif result.current:
            echo(f"{out} is up to date")
        else:
            reason = {"missing": "is missing",
                      "unmarked": "carries no op-impact fingerprint (drawn by another program or an older opimpact)",
                      "stale": "is stale: it was drawn from other data or an older plot style"}[result.status]
            echo(f"{out} {reason}; run `{fix}`", err=True)
        sys.exit(0 if result.current else 1)
    with reported(output_format, note=_WRITES_NOTHING):
        plot_timeline(package, out)
    echo_written([out], output_format)


# ---------------------------------------------------------------- contributing

@cli.command("add-source")
@click.argument("article", type=click.Path(dir_okay=False))
@package_argument
@click.option("--archive", required=True, type=click.Path(exists=True, file_okay=False, dir_okay=True),
              help="The sources archive folder to copy the article into.")
@click.option("--published", required=True, metavar="EDTF",
              help="Publication date as EDTF, only as precise as the text supports: 2017, 2017-06, 2017-22 "
                   "(summer), 2017-06-05, or a range [2017-05-23..2017-06-30] or [2017-10-06..] "
                   "(see Dates in the README).")
@click.option("--title", default="", help="The headline exactly as printed; omit if the text has none.")
@click.option("--publisher", default="", help="The publisher, only if the text itself names it.")
@click.option("--url", default="", help="The article's address, only if the text states it.")
@click.option("--language", default="en", show_default=True, help="ISO 639-1 code of the text (the schema's list).")
@click.option("--notes", default="", help="How the publication date was inferred, and any caveat (your own words).")
@click.option("--dry-run", is_flag=True, help="Show what would be added; write nothing.")
@format_option(help_text="Report format: text for people, json for machines.")
def add_source(article: str, package: str, archive: str, published: str, title: str, publisher: str, url: str,
               language: str, notes: str, dry_run: bool, output_format: str) -> None:
    """Add ARTICLE (a UTF-8 text file) to the archive and a row for it to PACKAGE's sources table.

    The article is copied as NNN_<first 16 hex digits of its SHA-256>.txt (NNN the next free number) and gets
    the next free source ID; the output lists what to fill in by hand next. Both files are written together
    or not at all. Exit 1 when the article is already archived or the name is taken, 2 when it is not UTF-8
    text or an option is invalid; nothing is written then.
    """
    from . import addsource

    with reported(output_format, note=_WRITES_NOTHING):
        added = addsource.add_source(article, package, archive, published, title=title, publisher=publisher,
                                     url=url, language=language, notes=notes, dry_run=dry_run)
    if output_format == "json":
        echo_json({"added": not dry_run, **added.to_dict()})
    else:
        echo(addsource.render_text(added), nl=False)


# ---------------------------------------------------------------- releases: release, verify, cite, diff

@cli.command()
@click.argument("version")
@package_argument
@deprecated_package_option
@archive_option(_ARCHIVE_HELP)
@click.option("--dry-run", is_flag=True, help="Check and build in a temporary folder; show what would happen; write nothing.")
@click.option("--reproduce", is_flag=True,
              help="Rebuild the recorded release VERSION from the commit that added releases/VERSION.json; "
                   "exit 0 only if every artifact is byte-identical to the record.")
@click.option("--date", "release_on", type=click.DateTime(formats=["%Y-%m-%d"]), default=None, metavar="YYYY-MM-DD",
              help="Date the '## [Unreleased]' section of CHANGELOG.md with this day (YYYY-MM-DD) "
                   "[default: today, UTC].")
@click.option("--out", "keep", type=click.Path(), default=None, metavar="DIR",
              help="With --reproduce: keep the rebuilt files in this new or empty folder, written only when every "
                   "file is byte-identical to the record.")
@format_option()
def release(version: str, package: str, package_option: str | None, archive: str | None, dry_run: bool,
            reproduce: bool, release_on, keep: str | None, output_format: str) -> None:
    """Publish release VERSION (a semantic version such as 1.0.0) under dist/VERSION and record it in releases/.

    PACKAGE is the package folder, the repository (default: the current directory).

    The release is described by CHANGELOG.md's '## [VERSION] - YYYY-MM-DD' section or, failing that, by its
    '## [Unreleased]' section, which the release renames '## [VERSION] - DATE' (today, or --date) under a new,
    empty '## [Unreleased]' heading.

    Refuses (exit 1, nothing changed) when the package does not validate, VERSION is not above the last
    release or already exists, CHANGELOG.md has neither section, or the version bump
    is smaller than the data changes since the last release need (removed/renamed fields, type changes,
    removed or re-keyed rows: major; added rows or fields: minor; corrected values: patch).
    """
    from . import release as releasing

    package = one_package(package, package_option)
    if dry_run and reproduce:
        raise click.UsageError("--dry-run and --reproduce cannot be combined")
    if release_on is not None and reproduce:
        raise click.UsageError("--date and --reproduce cannot be combined: a recorded release keeps its date")
    if keep is not None and not reproduce:
        raise click.UsageError("--out keeps the files of --reproduce; a release builds into dist/VERSION")
    with reported(output_format, note="nothing was changed"):
        try:
            if reproduce:
                result = releasing.reproduce(package, version, progress=_progress(), out=keep)
            else:
                plan = releasing.release(package, version, archive=archive, dry_run=dry_run, progress=_progress(),
                                         date=release_on.date() if release_on else None)
        except releasing.ReleaseRefused as refused:
            raise _refusal(refused, output_format) from None
    if reproduce:
        echo_rendered(releasing.render_reproduce_text(result) if output_format == "text"
                      else json.dumps(result.to_dict(), indent=2, ensure_ascii=False) + "\n", output_format)
        sys.exit(0 if result.identical else 1)
    if output_format == "json":
        echo_json({"released": not dry_run, **plan.to_dict()})
    else:
        echo(releasing.render_plan_text(plan), nl=False)


def _refusal(refused, output_format: str) -> Failure:
    """A refused release: the validation report and the changes that need a bigger bump, then the reason."""
    from .report import render_text

    if output_format == "json":
        return Failure(str(refused), 1, document={
            "released": False, "refused": str(refused), "changes": refused.changes,
            "validation": refused.report.to_dict() if refused.report is not None else None})
    details = [render_text(refused.report).rstrip("\n")] if refused.report is not None else []
    return Failure(f"{refused}\n" + "".join(f"  {line}\n" for line in refused.changes) + "nothing was changed.",
                   1, details=details, prefix="release refused")


@cli.command()
@click.argument("target", default=".", type=click.Path())
@click.option("--record", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Release record (releases/VERSION.json) to check against.")
@click.option("--repo", type=click.Path(exists=True, file_okay=False), default=None,
              help="Repository whose releases/ holds the record [default: found above TARGET].")
@archive_option(_ARCHIVE_HELP)
@click.option("--consistency-only", is_flag=True,
              help="Accept a check of internal consistency (checksums, hashes, validation) when no release record "
                   "is found: exit 0 then, and the verdict says that no record was checked.")
@format_option()
def verify(target: str, record: str | None, repo: str | None, archive: str | None, consistency_only: bool,
           output_format: str) -> None:
    """Check a downloaded release: TARGET is its folder (with SHA256SUMS), its zip, another artifact, or a package
    (default: the current directory).

    Checks SHA256SUMS, each resource's bytes and hash, the release record and validation. A zip with unsafe
    entries is refused before anything is extracted. Exit 0 verified against the release record (or, with
    --consistency-only, consistent), 1 a check failed or no record was found, 2 unreadable input.
    """
    from . import verify as verifying

    with reported(output_format):
        report = verifying.verify(target, record=record, repo=repo, archive=archive, consistency_only=consistency_only)
    echo_rendered(verifying.render_json(report) if output_format == "json" else verifying.render_text(report),
                  output_format)
    sys.exit(0 if report.ok else 1)


@cli.command()
@package_argument
@deprecated_package_option
@click.option("--version", "version", default=None, help="Cite this released version [default: CITATION.cff's].")
@format_option(("text", "json", "bibtex", "ris", "cff"),
               help_text="text: a reference to paste; json (CSL-JSON), bibtex, ris or cff: for reference managers.")
def cite(package: str, package_option: str | None, version: str | None, output_format: str) -> None:
    """Print how to cite the data: plain text, CSL-JSON, BibTeX, RIS, or the CITATION.cff itself.

    PACKAGE is the folder holding CITATION.cff, and releases/ for earlier versions (default: the current
    directory).
    """
    from pathlib import Path

    from .cite import citation, unreleased_note
    from .records import known_release_dates

    package = one_package(package, package_option)
    with reported(output_format):
        released = known_release_dates(Path(package))
        text = citation(Path(package), output_format, version, released)
        note = unreleased_note(Path(package), released, version)
    echo_rendered(text, "json" if output_format == "json" else "text")
    if note:
        echo(note, err=True)


@cli.command()
@click.argument("old")
@click.argument("new", default=".")
@click.option("--repo", type=click.Path(exists=True, file_okay=False), default=None,
              help="Git repository for git refs and release versions [default: the one holding the current folder].")
@format_option(("text", "json", "markdown"),
               help_text="text for people, json for machines, markdown for a changelog or a pull request.")
@click.option("--exit-code", is_flag=True, help="Exit 1 when there are changes (like git diff --exit-code).")
def diff(old: str, new: str, repo: str | None, output_format: str, exit_code: bool) -> None:
    """Compare two versions of the package: rows added, removed, re-keyed and changed (by primary key, field by
    field) and schema changes, with the version bump they need.

    OLD and NEW are package folders, descriptors, release zips, recorded release versions (e.g. 1.0.0) or git refs
    (NEW defaults to the current directory).
    """
    from pathlib import Path

    from .diff import DiffError, diff_specs, render_json, render_markdown, render_text

    with reported(output_format):
        try:
            result = diff_specs(old, new, Path(repo) if repo else None)
        except DiffError as exc:  # diff's own error type (not yet an OpimpactError): unreadable input, exit 2
            raise _failure(exc, output_format) from None
    render = {"text": render_text, "json": render_json, "markdown": render_markdown}[output_format]
    echo_rendered(render(result), "json" if output_format == "json" else "text")
    sys.exit(1 if exit_code and result.changes() else 0)
