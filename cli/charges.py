"""`rcm encounters bill`: turn a practice's encounters without a claim into DRAFT claims."""

from __future__ import annotations

from datetime import date

import typer

from cli.output import JSON_OPTION, console, fail, print_json

app = typer.Typer(name="encounters", help="Bill encounters as claims.", no_args_is_help=True)


@app.command()
def bill(
    practice: str = typer.Option(..., "--practice", "-p", help="Practice slug."),
    as_of: str | None = typer.Option(None, "--date", help="As of this date (default today)."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Create a DRAFT claim for every encounter without one (primary coverage on the date of
    service), with its charges on the ledger. Running it again creates nothing new."""
    from sqlmodel import select

    from connectors.db import session_scope
    from rcm.claims.create import create_claims
    from rcm.errors import RcmError
    from rcm.models import Practice

    try:
        today = date.fromisoformat(as_of) if as_of else date.today()
    except ValueError:
        raise fail(f"--date must be YYYY-MM-DD, not {as_of!r}") from None
    try:
        with session_scope() as session:
            row = session.exec(select(Practice).where(Practice.slug == practice)).first()
            if row is None:
                raise fail(f"no practice with slug {practice!r}")
            result = create_claims(
                session, practice_id=row.id, today=today, source=f"cli:encounters-bill:{practice}"
            )
    except RcmError as exc:
        raise fail(str(exc)) from exc
    summary = {"practice": practice, "date": today, **result.summary()}
    if as_json:
        print_json(summary)
        return
    console.print(
        f"{practice}: {summary['created']} claim(s) created (total {summary['total_charge']}), "
        f"{summary['skipped']} encounter(s) skipped"
    )
    for reason, count in summary["skipped_by_reason"].items():
        console.print(f"  {count} × {reason}")
