"""`rcm eligibility build | apply`: 270 inquiries for a practice's appointments, and the 271
answers applied to coverages. Output names checks and appointments by ID, never patients."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import typer

from cli.output import JSON_OPTION, console, fail, print_json

app = typer.Typer(
    name="eligibility", help="Eligibility inquiries (270) and answers (271).", no_args_is_help=True
)


def _date(value: str, option: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise fail(f"{option} must be YYYY-MM-DD, not {value!r}") from None


@app.command()
def build(
    practice: str = typer.Option(..., "--practice", "-p", help="Practice slug."),
    date_from: str = typer.Option(..., "--from", help="First appointment day (YYYY-MM-DD)."),
    date_to: str = typer.Option(..., "--to", help="Last appointment day (YYYY-MM-DD)."),
    out: Path | None = typer.Option(None, "--out", help="Write the 270 to this file."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Check eligibility for the appointments from --from to --to: one 270 for every check not
    asked yet. Checks already pending are reused, so running it again sends nothing twice."""
    from cli.batch import envelope_settings, practice_and_profile
    from connectors.db import session_scope
    from rcm.eligibility import build_270, build_270_bytes
    from rcm.errors import RcmError
    from rcm.models import utcnow

    first, last = _date(date_from, "--from"), _date(date_to, "--to")
    data: bytes | None = None
    try:
        with session_scope() as session:
            row, profile = practice_and_profile(session, practice)
            batch = build_270(
                session,
                practice_id=row.id,
                date_from=first,
                date_to=last,
                profile_name=profile.name,
                envelope=envelope_settings(profile, row),
                now=utcnow(),
                source=f"cli:eligibility-build:{practice}",
            )
            data = batch.data
            if data is None and len(batch.existing_interchanges) == 1:
                data = build_270_bytes(session, batch.existing_interchanges[0])
            summary = {"practice": practice, "from": first, "to": last, **batch.summary()}
    except RcmError as exc:
        raise fail(str(exc)) from exc
    if out is not None and data is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(data)
        summary["written"] = str(out)
    if as_json:
        print_json(summary)
        return
    console.print(
        f"{practice}: {summary['checks_created']} new check(s), {summary['checks_reused']} "
        f"reused, {summary['appointments_skipped']} appointment(s) without coverage"
        + (f"; 270 written to {out}" if summary.get("written") else "")
    )


@app.command()
def apply(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="A 271 file."),
    practice: str = typer.Option(..., "--practice", "-p", help="Practice slug."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Apply a 271 to the practice's pending eligibility checks and coverages. A file applied
    before is skipped."""
    from cli.batch import practice_and_profile
    from connectors.db import session_scope
    from rcm.eligibility import apply_271, record_inbound
    from rcm.errors import RcmError

    data = file.read_bytes()
    try:
        with session_scope() as session:
            row, profile = practice_and_profile(session, practice)
            interchange, new = record_inbound(
                session,
                practice_id=row.id,
                clearinghouse=profile.name,
                data=data,
                file_name=file.name,
            )
            if not new:
                summary = {
                    "practice": practice,
                    "file": file.name,
                    "duplicate": True,
                    "interchange_id": interchange.id,
                }
            else:
                result = apply_271(
                    session, practice_id=row.id, data=data, interchange_id=interchange.id
                )
                summary = {
                    "practice": practice,
                    "file": file.name,
                    "duplicate": False,
                    "interchange_id": interchange.id,
                    **result.summary(),
                }
    except RcmError as exc:
        raise fail(str(exc)) from exc
    if as_json:
        print_json(summary)
        return
    if summary["duplicate"]:
        console.print(f"{file.name} was applied before; nothing changed")
        return
    console.print(
        f"{file.name}: {summary['matched']} answer(s) applied, {summary['unmatched']} unmatched; "
        f"statuses {summary['by_status']}; work items {summary['work_items']}"
    )
