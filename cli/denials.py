"""`rcm denials`: the denial queue (list with filters, show, assign, resolve)."""

from __future__ import annotations

import uuid
from decimal import Decimal, InvalidOperation

import typer

from cli.output import JSON_OPTION, console, fail, print_json, print_rows

app = typer.Typer(name="denials", help="Work the denial queue.", no_args_is_help=True)

COLUMNS = [
    "id",
    "practice",
    "patient_control_number",
    "payer",
    "carc",
    "group_code",
    "amount",
    "category",
    "recommended_action",
    "appeal_deadline",
    "status",
    "assignee",
    "age_days",
]


def _uuid(value: str, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise fail(f"{value!r} is not a {what} ID") from None


def _money(value: str | None, what: str) -> Decimal | None:
    if value is None:
        return None
    try:
        return Decimal(value)
    except InvalidOperation:
        raise fail(f"{what} {value!r} is not an amount") from None


@app.command("list")
def list_(
    practice: str | None = typer.Option(None, "--practice", "-p", help="Practice slug."),
    payer: str | None = typer.Option(None, "--payer", help="Payer key."),
    category: str | None = typer.Option(None, "--category", help="e.g. coding, eligibility."),
    min_age: int | None = typer.Option(None, "--min-age", help="At least this many days old."),
    max_age: int | None = typer.Option(None, "--max-age", help="At most this many days old."),
    min_amount: str | None = typer.Option(None, "--min-amount", help="Amount at least."),
    max_amount: str | None = typer.Option(None, "--max-amount", help="Amount at most."),
    status: list[str] = typer.Option(["open", "assigned"], "--status", help="Repeatable."),
    assignee: str | None = typer.Option(None, "--assignee"),
    as_json: bool = JSON_OPTION,
) -> None:
    """Denials matching every filter, oldest first."""
    from sqlalchemy import select
    from sqlmodel import col

    from connectors.db import session_scope
    from rcm.denials import list_denials
    from rcm.models import DenialStatus, Payer, Practice

    try:
        statuses = [DenialStatus(s) for s in status]
    except ValueError as exc:
        raise fail(str(exc)) from None
    with session_scope() as session:
        practice_id = payer_id = None
        if practice:
            practice_id = session.scalar(
                select(col(Practice.id)).where(col(Practice.slug) == practice)
            )
            if practice_id is None:
                raise fail(f"no practice {practice!r}")
        if payer:
            payer_id = session.scalar(select(col(Payer.id)).where(col(Payer.key) == payer))
            if payer_id is None:
                raise fail(f"no payer {payer!r}")
        rows = list_denials(
            session,
            practice_id=practice_id,
            payer_id=payer_id,
            category=category,
            statuses=statuses,
            assignee=assignee,
            min_age_days=min_age,
            max_age_days=max_age,
            min_amount=_money(min_amount, "--min-amount"),
            max_amount=_money(max_amount, "--max-amount"),
        )
    print_rows("Denials", COLUMNS, [r.as_dict() for r in rows], as_json)


@app.command("show")
def show(denial: str = typer.Argument(..., help="Denial ID."), as_json: bool = JSON_OPTION) -> None:
    """One denial with its CARC and RARCs in words."""
    from connectors.db import session_scope
    from rcm.denials import DenialQueueError, show_denial

    try:
        with session_scope() as session:
            view = show_denial(session, _uuid(denial, "denial"))
    except DenialQueueError as exc:
        raise fail(str(exc)) from None
    data = view.as_dict()
    if as_json:
        print_json(data)
        return
    for key, value in data.items():
        if key == "rarcs":
            value = "; ".join(f"{r['code']}: {r['description']}" for r in value) or "-"
        console.print(f"[bold]{key}[/bold]: {'' if value is None else value}", highlight=False)


@app.command("assign")
def assign(
    denial: str = typer.Argument(..., help="Denial ID."),
    assignee: str = typer.Argument(..., help="Who works it."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Assign a denial to a biller."""
    from connectors.db import session_scope
    from rcm.denials import DenialQueueError, assign_denial

    try:
        with session_scope() as session:
            row = assign_denial(session, _uuid(denial, "denial"), assignee, actor="cli")
            out = {"id": row.id, "status": row.status, "assignee": row.assignee}
    except DenialQueueError as exc:
        raise fail(str(exc)) from None
    if as_json:
        print_json(out)
    else:
        console.print(f"denial {out['id']} assigned to {assignee}")


@app.command("resolve")
def resolve(
    denial: str = typer.Argument(..., help="Denial ID."),
    resolution: str = typer.Option(..., "--resolution", "-r", help="What was done (no PHI)."),
    write_off: bool = typer.Option(False, "--write-off", help="Write the amount off."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Close a denial (resolved, or written off)."""
    from connectors.db import session_scope
    from rcm.denials import DenialQueueError, resolve_denial
    from rcm.errors import StateError
    from rcm.models import DenialStatus

    status = DenialStatus.WRITTEN_OFF if write_off else DenialStatus.RESOLVED
    try:
        with session_scope() as session:
            row = resolve_denial(
                session, _uuid(denial, "denial"), resolution=resolution, actor="cli", status=status
            )
            out = {"id": row.id, "status": row.status}
    except (DenialQueueError, StateError) as exc:
        raise fail(str(exc)) from None
    if as_json:
        print_json(out)
    else:
        console.print(f"denial {out['id']} {status.value}")
