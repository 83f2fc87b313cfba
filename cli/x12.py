"""`rcm x12`: validate and parse X12 files from the command line."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape

from cli.output import console, fail, print_json, print_table
from rcm.errors import X12Error

app = typer.Typer(name="x12", help="Validate and read X12 5010 files.", no_args_is_help=True)

FILE_ARGUMENT = typer.Argument(..., exists=False, dir_okay=False, help="The X12 file.")


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise fail(escape(f"cannot read {path}: {exc.strerror or exc}")) from None


@app.command()
def validate(
    file: Path = FILE_ARGUMENT,
    ack: Path | None = typer.Option(None, "--ack", help="Write the 999 acknowledgment here."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Check FILE against its implementation guide (pyx12 where it has a map). Exit 0 when
    valid, 1 when not."""
    from rcm.x12.validate import validate as run_validate

    report = run_validate(_read(file), file_name=str(file))
    if ack is not None:
        if report.ack_999:
            ack.write_bytes(report.ack_999)
        else:
            console.print(f"no 999 written: {'; '.join(report.notes) or 'no acknowledgment'}")
    if as_json:
        print_json(
            {
                "file": report.file_name,
                "valid": report.valid,
                "validator": report.validator,
                "checks": report.checks,
                "validator_failure": report.validator_failure,
                "notes": report.notes,
                "ack_source": report.ack_source,
                "errors": [
                    {
                        "level": e.level,
                        "code": e.code,
                        "message": e.message,
                        "segment_number": e.segment_number,
                        "offset": e.offset,
                        "segment_id": e.segment_id,
                        "element": e.element,
                        "transaction_control_number": e.transaction_control_number,
                    }
                    for e in report.errors
                ],
            }
        )
    else:
        verdict = "[green]valid[/green]" if report.valid else "[red]invalid[/red]"
        console.print(f"{file}: {verdict} ({report.validator}: {'; '.join(report.checks)})")
        if report.validator_failure:
            console.print(
                f"validator failure (not counted as a file error): {report.validator_failure}",
                highlight=False,
            )
        for note in report.notes:
            console.print(f"note: {note}", highlight=False)
        if report.errors:
            print_table(
                f"{report.error_count} error(s)",
                ["segment", "offset", "id", "element", "level", "code", "message"],
                (
                    [
                        e.segment_number,
                        e.offset,
                        e.segment_id,
                        e.element,
                        e.level,
                        e.code,
                        e.message,
                    ]
                    for e in report.errors
                ),
            )
    if not report.valid:
        raise typer.Exit(1)


@app.command()
def parse(
    file: Path = FILE_ARGUMENT,
    as_json: bool = typer.Option(False, "--json", help="Print JSON (the default output)."),
    lenient: bool = typer.Option(
        False, "--lenient", help="Record envelope count mismatches instead of failing."
    ),
) -> None:
    """Read FILE into typed transactions and print them as one JSON object."""
    from rcm.x12.summary import summarize

    data = _read(file)
    try:
        result = summarize(data, file_name=str(file), strict=not lenient)
    except X12Error as exc:
        raise fail(escape(str(exc))) from None
    print_json(result)
