"""The opimpact command line: parse options, call the library, format the result. No logic lives here."""

from __future__ import annotations

import sys
from contextlib import contextmanager

import click

from . import __version__

FORMATS = click.Choice(["text", "json"])


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="opimpact")
def cli() -> None:
    """Validate, export, release and cite the op-impact data package.

    Exit codes: 0 ok, 1 invalid data or a failed check, 2 usage error or unreadable input.
    """


@cli.command()
@click.argument("package", default=".", type=click.Path(dir_okay=True, file_okay=True))
@click.option("--archive", type=click.Path(exists=True, file_okay=False, dir_okay=True),
              help="Directory of archived source texts: also check checksums and that quotes and evidence are verbatim.")
@click.option("--format", "output_format", type=FORMATS, default="text", show_default=True,
              help="Report format: text for people, json for machines.")
@click.option("--max-errors", type=click.IntRange(min=1), default=100, show_default=True,
              help="List at most this many errors per rule and resource (counts stay exact).")
def validate(package: str, archive: str | None, output_format: str, max_errors: int) -> None:
    """Check a package: descriptor, table structure, Table Schema rules, extra rules and provenance.

    PACKAGE is a directory holding datapackage.json, the descriptor itself, or a release zip
    (default: the current directory).
    """
    from .report import render_json, render_text
    from .validate import UnreadableInput, validate_package

    try:
        report = validate_package(package, archive=archive, max_per_rule=max_errors)
    except UnreadableInput as exc:
        fail_unreadable(str(exc), output_format, exc.rule)
    click.echo(render_json(report) if output_format == "json" else render_text(report), nl=False)
    sys.exit(0 if report.valid else 1)


@cli.command()
@click.option("--format", "output_format", type=click.Choice(["text", "json", "markdown"]), default="text",
              show_default=True, help="text for people, json for machines, markdown for the README's rule table.")
def rules(output_format: str) -> None:
    """List every rule validate checks: its ID, name, layer and what it requires."""
    from .registry import render_rules

    click.echo(render_rules(output_format), nl=False)


def fail_unreadable(message: str, output_format: str = "text", rule: str | None = None) -> None:
    """Report input that cannot be read at all, and exit 2."""
    if output_format == "json":
        import json

        click.echo(json.dumps({"valid": False, "rule": rule, "error": message}, ensure_ascii=False))
    else:
        from .registry import get_rule

        tag = f" [{rule} {get_rule(rule).name}]" if rule else ""
        click.echo(f"error{tag}: {message}", err=True)
    sys.exit(2)


@contextmanager
def _export_errors(package: str):
    """Map the errors an export can meet to a clear message and exit code: 1 invalid data, 2 unreadable/unwritable."""
    from .codebook import CodebookError
    from .export_common import ExportError, InvalidPackage, UnreadableInput

    try:
        yield
    except UnreadableInput as exc:
        fail_unreadable(str(exc), "text", exc.rule)
    except InvalidPackage as exc:
        click.echo(f"error: {package} does not validate ({exc.error_count} errors); nothing was written.\n"
                   f"Run `opimpact validate {package}` to see what to fix.", err=True)
        sys.exit(1)
    except (ExportError, CodebookError) as exc:
        click.echo(f"error: {exc}; nothing was written.", err=True)
        sys.exit(1)
    except OSError as exc:
        click.echo(f"error: cannot write {exc.filename or 'the output'}: {exc.strerror or exc}", err=True)
        sys.exit(2)


_PACKAGE_ARG = click.argument("package", default=".", type=click.Path(dir_okay=True, file_okay=True))


@cli.group()
def export() -> None:
    """Export the package for Excel, SQLite/Datasette, Parquet, or as a Markdown codebook.

    Exports refuse a package that does not validate (exit 1) and unreadable input (exit 2).
    """


@export.command("xlsx")
@_PACKAGE_ARG
@click.option("--out", type=click.Path(dir_okay=False), default="op-impact.xlsx", show_default=True,
              help="Workbook to write.")
@click.option("--version", "version", default=None, help="Version shown in the README sheet (default: the descriptor's).")
def export_xlsx(package: str, out: str, version: str | None) -> None:
    """Write one Excel workbook: README sheet, one sheet per table, codebook sheet."""
    from .export_xlsx import write_workbook

    with _export_errors(package):
        write_workbook(package, out, version=version)
    click.echo(f"wrote {out}")


@export.command("parquet")
@_PACKAGE_ARG
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default="op-impact-parquet", show_default=True,
              help="Folder to write one <table>.parquet file per table into.")
def export_parquet(package: str, out_dir: str) -> None:
    """Write one Parquet file per table, typed from the Table Schemas, with each schema in the file's metadata."""
    from .export_parquet import write_parquet_tables

    with _export_errors(package):
        written = write_parquet_tables(package, out_dir)
    click.echo("wrote " + ", ".join(str(p) for p in written))


@export.command("sqlite")
@_PACKAGE_ARG
@click.option("--out", type=click.Path(dir_okay=False), default="op-impact.sqlite", show_default=True,
              help="SQLite database to write.")
@click.option("--metadata", type=click.Path(dir_okay=False), default=None,
              help="Datasette metadata.json to write [default: OUT with suffix .metadata.json].")
@click.option("--no-metadata", is_flag=True, help="Do not write the Datasette metadata file.")
def export_sqlite(package: str, out: str, metadata: str | None, no_metadata: bool) -> None:
    """Write a SQLite database (typed columns, keys, indexes) and its Datasette metadata.json."""
    from pathlib import Path

    from .export_common import loaded_package
    from .export_sqlite import write_database, write_datasette_metadata

    metadata_file = None if no_metadata else Path(metadata or Path(out).with_suffix(".metadata.json"))
    with _export_errors(package), loaded_package(package) as loaded:
        write_database(loaded, out)
        if metadata_file is not None:
            write_datasette_metadata(loaded, metadata_file, database=Path(out).stem)
    click.echo(f"wrote {out}" + (f" and {metadata_file}" if metadata_file else ""))


@export.command("codebook")
@_PACKAGE_ARG
@click.option("--out", type=click.Path(dir_okay=False), default="docs/codebook.md", show_default=True,
              help="Markdown file to write (or compare with --check).")
@click.option("--check", is_flag=True, help="Write nothing; exit 1 if OUT differs from a fresh codebook.")
def export_codebook(package: str, out: str, check: bool) -> None:
    """Write the codebook (every table and field, from the Table Schemas) as Markdown.

    The codebook documents the schemas, so it is written even while the data do not validate yet.
    """
    from pathlib import Path

    from .atomic import write_text_atomic
    from .codebook import build_codebook

    with _export_errors(package):
        text = build_codebook(package)
        if check:
            current = Path(out).read_bytes() if Path(out).is_file() else None
            if current != text.encode("utf-8"):
                click.echo(f"{out} is stale: run `opimpact export codebook {package} --out {out}`", err=True)
                sys.exit(1)
            click.echo(f"{out} is up to date")
            return
        write_text_atomic(out, text)
    click.echo(f"wrote {out}")


def _picture_suffix(ctx: click.Context, param: click.Parameter, value: str) -> str:
    if not value.lower().endswith((".png", ".svg")):
        raise click.BadParameter("the picture must end in .png or .svg", ctx=ctx, param=param)
    return value


@cli.command()
@_PACKAGE_ARG
@click.option("--out", type=click.Path(dir_okay=False), default="docs/timeline.png", show_default=True,
              callback=_picture_suffix, help="Picture to write (.png or .svg).")
def plot(package: str, out: str) -> None:
    """Draw the timeline: personnel figures, asset presence and events, each marked by date precision."""
    from .plot import plot_timeline

    with _export_errors(package):
        plot_timeline(package, out)
    click.echo(f"wrote {out}")


# ---------------------------------------------------------------- releases: release, verify, cite, diff

def _progress():
    """A progress callback that writes to stderr, only when stderr is a terminal."""
    if sys.stderr.isatty():
        return lambda message: click.echo(f"… {message}", err=True)
    return lambda message: None


def _echo_json(document: dict) -> None:
    import json

    click.echo(json.dumps(document, indent=2, ensure_ascii=False))


_ARCHIVE_OPTION = click.option(
    "--archive", type=click.Path(exists=True, file_okay=False, dir_okay=True), default=None,
    help="Directory of archived source texts: also check that quotes and evidence are verbatim.")


@cli.command()
@click.argument("version")
@click.option("--package", default=".", show_default=True, type=click.Path(file_okay=False, dir_okay=True),
              help="The package folder (the repository).")
@_ARCHIVE_OPTION
@click.option("--dry-run", is_flag=True, help="Check and build in a temporary folder; show what would happen; write nothing.")
@click.option("--reproduce", is_flag=True,
              help="Rebuild the recorded release VERSION from the commit that added releases/VERSION.json; "
                   "exit 0 only if every artifact is byte-identical to the record.")
@click.option("--format", "output_format", type=FORMATS, default="text", show_default=True)
def release(version: str, package: str, archive: str | None, dry_run: bool, reproduce: bool, output_format: str) -> None:
    """Publish release VERSION (a semantic version such as 1.0.0) under dist/VERSION and record it in releases/.

    Refuses (exit 1, nothing changed) when the package does not validate, VERSION is not above the last
    release or already exists, CHANGELOG.md has no '## [VERSION] - YYYY-MM-DD' section, or the version bump
    is smaller than the data changes since the last release need (removed/renamed fields, type changes,
    removed or re-keyed rows: major; added rows or fields: minor; corrected values: patch).
    """
    from . import release as releasing
    from .package import UnreadableInput
    from .report import render_text

    if dry_run and reproduce:
        raise click.UsageError("--dry-run and --reproduce cannot be combined")
    try:
        if reproduce:
            result = releasing.reproduce(package, version, progress=_progress())
        else:
            plan = releasing.release(package, version, archive=archive, dry_run=dry_run, progress=_progress())
    except releasing.ReleaseUsageError as exc:
        fail_unreadable(str(exc), output_format)
    except UnreadableInput as exc:
        fail_unreadable(str(exc), output_format, exc.rule)
    except releasing.ReleaseRefused as exc:
        if output_format == "json":
            _echo_json({"released": False, "refused": str(exc), "changes": exc.changes,
                        "validation": exc.report.to_dict() if exc.report is not None else None})
        else:
            if exc.report is not None:
                click.echo(render_text(exc.report), err=True, nl=False)
            click.echo(f"release refused: {exc}", err=True)
            for line in exc.changes:
                click.echo(f"  {line}", err=True)
            click.echo("nothing was changed.", err=True)
        sys.exit(1)
    except OSError as exc:
        click.echo(f"error: cannot write {exc.filename or 'the release'}: {exc.strerror or exc}; nothing was changed.",
                   err=True)
        sys.exit(2)
    if reproduce:
        if output_format == "json":
            _echo_json(result.to_dict())
        else:
            click.echo(releasing.render_reproduce_text(result), nl=False)
        sys.exit(0 if result.identical else 1)
    if output_format == "json":
        _echo_json({"released": not dry_run, **plan.to_dict()})
    else:
        click.echo(releasing.render_plan_text(plan), nl=False)


@cli.command()
@click.argument("target", type=click.Path())
@click.option("--record", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Release record (releases/VERSION.json) to check against.")
@click.option("--repo", type=click.Path(exists=True, file_okay=False), default=None,
              help="Repository whose releases/ holds the record [default: found above TARGET].")
@_ARCHIVE_OPTION
@click.option("--format", "output_format", type=FORMATS, default="text", show_default=True)
def verify(target: str, record: str | None, repo: str | None, archive: str | None, output_format: str) -> None:
    """Check a downloaded release: TARGET is its folder (with SHA256SUMS), its zip, another artifact, or a package.

    Checks SHA256SUMS, each resource's bytes and hash, the release record and validation. A zip with unsafe
    entries is refused before anything is extracted. Exit 0 verified, 1 a check failed, 2 unreadable input.
    """
    from . import verify as verifying
    from .package import UnreadableInput

    try:
        report = verifying.verify(target, record=record, repo=repo, archive=archive)
    except UnreadableInput as exc:
        fail_unreadable(str(exc), output_format, exc.rule)
    rendered = verifying.render_json(report) if output_format == "json" else verifying.render_text(report)
    click.echo(rendered, nl=False)
    sys.exit(0 if report.ok else 1)


@cli.command()
@click.option("--package", default=".", show_default=True, type=click.Path(file_okay=False, dir_okay=True),
              help="The package folder holding CITATION.cff (and releases/ for earlier versions).")
@click.option("--version", "version", default=None, help="Cite this released version [default: CITATION.cff's].")
@click.option("--format", "output_format", type=click.Choice(["text", "bibtex", "ris", "cff"]), default="text",
              show_default=True)
def cite(package: str, version: str | None, output_format: str) -> None:
    """Print how to cite the data: plain text, BibTeX, RIS, or the CITATION.cff itself."""
    from pathlib import Path

    from .cite import CitationError, citation, unreleased_note
    from .package import UnreadableInput
    from .records import recorded_dates

    try:
        released = recorded_dates(Path(package))
        text = citation(Path(package), output_format, version, released)
        note = unreleased_note(Path(package), released, version)
    except UnreadableInput as exc:
        fail_unreadable(str(exc), "text", exc.rule)
    except CitationError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    click.echo(text, nl=False)
    if note:
        click.echo(note, err=True)


@cli.command()
@click.argument("old")
@click.argument("new")
@click.option("--repo", type=click.Path(exists=True, file_okay=False), default=None,
              help="Git repository for git refs and release versions [default: the one holding the current folder].")
@click.option("--format", "output_format", type=click.Choice(["markdown", "json"]), default="markdown",
              show_default=True)
@click.option("--exit-code", is_flag=True, help="Exit 1 when there are changes (like git diff --exit-code).")
def diff(old: str, new: str, repo: str | None, output_format: str, exit_code: bool) -> None:
    """Compare two versions of the package: rows added, removed, re-keyed and changed (by primary key, field by
    field) and schema changes, with the version bump they need.

    OLD and NEW are package folders, descriptors, release zips, recorded release versions (e.g. 1.0.0) or git refs.
    """
    from pathlib import Path

    from .diff import DiffError, diff_specs, render_json, render_markdown
    from .package import UnreadableInput

    try:
        result = diff_specs(old, new, Path(repo) if repo else None)
    except UnreadableInput as exc:
        fail_unreadable(str(exc), "text", exc.rule)
    except DiffError as exc:
        fail_unreadable(str(exc), "text")
    click.echo(render_json(result) if output_format == "json" else render_markdown(result), nl=False)
    sys.exit(1 if exit_code and result.changes() else 0)
