"""`rcm appeal create DENIAL`: draft an appeal letter (PDF) for a denial."""

from __future__ import annotations

import uuid
from pathlib import Path

import typer

from cli.output import JSON_OPTION, console, fail, print_json

app = typer.Typer(name="appeal", help="Appeal denials.", no_args_is_help=True)


@app.command("create")
def create(
    denial: str = typer.Argument(..., help="The denial's ID."),
    out: Path | None = typer.Option(None, "--out", help="Also write the letter to this file."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Draft the appeal and its letter; the letter is archived and its key recorded."""
    from connectors.archive import archive_key, open_archive, sha256_hex
    from connectors.db import session_scope
    from rcm.appeals import AppealError, create_appeal
    from rcm.models import Practice, utcnow

    try:
        denial_id = uuid.UUID(denial)
    except ValueError:
        raise fail(f"{denial!r} is not a denial ID") from None
    try:
        with session_scope() as session:
            draft = create_appeal(session, denial_id, today=utcnow().date())
            practice = session.get(Practice, draft.appeal.practice_id)
            assert practice is not None
            name = f"appeal-{draft.appeal.id}.pdf"
            key = archive_key(
                practice.slug, "outbound", "appeals", utcnow(), sha256_hex(draft.letter_pdf), name
            )
            open_archive().put(key, draft.letter_pdf)
            draft.appeal.letter_archive_key = key
            session.add(draft.appeal)
            result = {
                "appeal_id": draft.appeal.id,
                "denial_id": denial_id,
                "status": draft.appeal.status,
                "letter_archive_key": key,
            }
    except AppealError as exc:
        raise fail(str(exc)) from None
    if out is not None:
        out.write_bytes(draft.letter_pdf)
    if as_json:
        print_json(result)
    else:
        console.print(f"appeal {result['appeal_id']} drafted; letter archived as {key}")
