"""`rcm import`: load patients, appointments and charges CSVs for a practice.

A file with any bad row is rejected whole: every bad row is listed by line number and column
(never its values) and nothing is written. Importing the same file again changes nothing.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from cli.output import JSON_OPTION, console, err_console, fail, print_json, print_rows

app = typer.Typer(
    name="import", help="Import patients, appointments and charges (CSV).", no_args_is_help=True
)

PRACTICE_OPTION = typer.Option(..., "--practice", "-p", help="The practice's slug.")


def _run(kind: str, file: Path, practice: str, as_json: bool) -> None:
    from connectors.db import session_scope
    from rcm.errors import ConfigError
    from rcm.imports import IMPORTERS, ImportRejectedError

    try:
        data = file.read_bytes()
    except OSError as exc:
        raise fail(f"{file.name}: cannot be read ({exc.strerror})") from None
    try:
        with session_scope() as session:
            result = IMPORTERS[kind](session, practice, data, source_name=file.name, actor="cli")
    except ImportRejectedError as exc:
        if as_json:
            print_json(
                {
                    "rejected": True,
                    "file": file.name,
                    "bad_lines": exc.bad_lines,
                    "problems": [
                        {"line": p.line, "column": p.column, "message": p.message}
                        for p in exc.problems
                    ],
                }
            )
        else:
            table = Table(
                title=f"{file.name}: rejected, {len(exc.bad_lines)} bad row(s); nothing imported",
                title_style="bold red",
            )
            for column in ("Line", "Column", "Problem"):
                table.add_column(column)
            for problem in exc.problems:
                table.add_row(str(problem.line), problem.column or "", problem.message)
            err_console.print(table)
        raise typer.Exit(1) from None
    except ConfigError as exc:
        raise fail(str(exc)) from None

    summary = {
        "kind": result.kind,
        "practice": result.practice,
        "file": result.source_name,
        "sha256": result.sha256,
        "rows": result.rows,
        "created": result.created,
        "updated": result.updated,
        "unchanged": result.unchanged,
        "details": result.details,
    }
    if as_json:
        print_json(summary)
        return
    rows = [{"table": name, **counts} for name, counts in result.details.items()]
    columns = ["table", *sorted({c for counts in result.details.values() for c in counts})]
    print_rows(f"{file.name} → {practice} ({result.rows} rows)", columns, rows, False)
    console.print(f"sha256 {result.sha256}", highlight=False)
    if not result.changed:
        console.print("Nothing changed: every row was imported before.")


@app.command()
def patients(
    file: Path = typer.Argument(..., help="Patients CSV (docs/import-formats.md)."),
    practice: str = PRACTICE_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Create or update patients and their coverages."""
    _run("patients", file, practice, as_json)


@app.command()
def appointments(
    file: Path = typer.Argument(..., help="Appointments CSV (docs/import-formats.md)."),
    practice: str = PRACTICE_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Create or update appointments (times in the practice's time zone)."""
    _run("appointments", file, practice, as_json)


@app.command()
def charges(
    file: Path = typer.Argument(..., help="Charges CSV, one row per service line."),
    practice: str = PRACTICE_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Create encounters, service lines and diagnoses."""
    _run("charges", file, practice, as_json)
