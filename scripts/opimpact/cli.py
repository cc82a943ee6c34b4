"""The opimpact command line: parse options, call the library, format the result. No logic lives here."""

from __future__ import annotations

import sys

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
        fail_unreadable(str(exc), output_format)
    click.echo(render_json(report) if output_format == "json" else render_text(report), nl=False)
    sys.exit(0 if report.valid else 1)


def fail_unreadable(message: str, output_format: str) -> None:
    """Report input that cannot be read at all, and exit 2."""
    if output_format == "json":
        import json

        click.echo(json.dumps({"valid": False, "error": message}, ensure_ascii=False))
    else:
        click.echo(f"error: {message}", err=True)
    sys.exit(2)
