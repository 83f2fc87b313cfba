"""`rcm statements run --practice SLUG`: patient statements (PDF each, one vendor CSV)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import typer

from cli.output import JSON_OPTION, fail, print_rows

app = typer.Typer(name="statements", help="Patient statements.", no_args_is_help=True)


@app.command("run")
def run(
    practice: str = typer.Option(..., "--practice", "-p", help="The practice's slug."),
    statement_date: str | None = typer.Option(None, "--date", help="YYYY-MM-DD (default today)."),
    out: Path | None = typer.Option(None, "--out", help="Also write the files to this folder."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Build the statements (idempotent per patient and date), archive their PDFs and the
    print-and-mail CSV, and list them."""
    from sqlalchemy import select
    from sqlmodel import col

    from connectors.archive import archive_key, open_archive, sha256_hex
    from connectors.db import session_scope
    from rcm.models import Practice, utcnow
    from rcm.statements import build_statements, statements_csv

    try:
        when = date.fromisoformat(statement_date) if statement_date else utcnow().date()
    except ValueError:
        raise fail(f"--date {statement_date!r} is not YYYY-MM-DD") from None
    rows = []
    with session_scope() as session:
        target = session.scalar(select(Practice).where(col(Practice.slug) == practice))
        if target is None:
            raise fail(f"no practice {practice!r}")
        outputs = build_statements(session, practice_id=target.id, statement_date=when)
        archive = open_archive()
        now = utcnow()
        vendor = statements_csv(outputs) if outputs else b""
        vendor_key = None
        if outputs:
            vendor_name = f"statements-{when.isoformat()}.csv"
            vendor_key = archive_key(
                target.slug, "outbound", "statements", now, sha256_hex(vendor), vendor_name
            )
            archive.put(vendor_key, vendor)
        for output in outputs:
            statement = output.statement
            name = f"statement-{when.isoformat()}-{statement.id}.pdf"
            if statement.pdf_key is None:
                statement.pdf_key = archive_key(
                    target.slug, "outbound", "statements", now, sha256_hex(output.pdf), name
                )
                archive.put(statement.pdf_key, output.pdf)
                statement.csv_key = vendor_key
                session.add(statement)
            if out is not None:
                out.mkdir(parents=True, exist_ok=True)
                (out / name).write_bytes(output.pdf)
            rows.append(
                {
                    "statement_id": statement.id,
                    "balance": statement.balance,
                    "lines": len(statement.lines),
                    "new": output.created,
                    "pdf_key": statement.pdf_key,
                }
            )
        if out is not None and outputs:
            (out / f"statements-{when.isoformat()}.csv").write_bytes(vendor)
    print_rows(
        f"Statements {when.isoformat()}", ["statement_id", "balance", "lines", "new"], rows, as_json
    )
