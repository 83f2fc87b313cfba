"""`rcm claims`: scrub a practice's DRAFT claims, list claims by status, show one claim with its
edits, events and ledger lines. Output names claims by ID and patient control number, never by
patient."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal
from typing import Any

import typer
from rich.table import Table

from cli.output import JSON_OPTION, console, fail, print_json, print_rows

app = typer.Typer(name="claims", help="Scrub, list and inspect claims.", no_args_is_help=True)

PRACTICE_OPTION = typer.Option(None, "--practice", "-p", help="Practice slug.")


def _practice(session: Any, slug: str) -> Any:
    from sqlmodel import select

    from rcm.models import Practice

    practice = session.exec(select(Practice).where(Practice.slug == slug)).first()
    if practice is None:
        raise fail(f"no practice with slug {slug!r}")
    return practice


def _parse_date(value: str | None) -> date:
    if value is None:
        return date.today()
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise fail(f"--date must be YYYY-MM-DD, not {value!r}") from None


@app.command()
def scrub(
    practice: str = typer.Option(..., "--practice", "-p", help="Practice slug."),
    as_of: str | None = typer.Option(
        None, "--date", help="Scrub as of this date (YYYY-MM-DD); default today."
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Scrub the practice's DRAFT claims: errors hold a claim (HELD), the rest go READY."""
    from connectors.db import session_scope
    from rcm.errors import ConfigError
    from rcm.scrub.adapter import scrub_claims

    today = _parse_date(as_of)
    try:
        with session_scope() as session:
            row = _practice(session, practice)
            outcome = scrub_claims(
                session, practice_id=row.id, today=today, source=f"cli:claims-scrub:{practice}"
            )
    except ConfigError as exc:
        raise fail(str(exc)) from exc
    summary = {"practice": practice, "date": today, **outcome.summary()}
    if as_json:
        print_json(summary)
        return
    console.print(
        f"{practice}: scrubbed {outcome.scrubbed} claim(s): {len(outcome.held)} held, "
        f"{len(outcome.ready)} ready ({outcome.errors} errors, {outcome.warnings} warnings)"
    )
    if outcome.by_rule:
        table = Table(title="Findings by rule")
        table.add_column("Rule")
        table.add_column("Count", justify="right")
        for rule_id, count in outcome.by_rule.most_common():
            table.add_row(rule_id, str(count))
        console.print(table)


LIST_COLUMNS = [
    "id",
    "practice",
    "pcn",
    "status",
    "payer",
    "service_date",
    "total_charge",
    "open_edits",
]


@app.command("list")
def list_claims(
    status: str | None = typer.Option(None, "--status", "-s", help="e.g. HELD, READY, DENIED."),
    practice: str | None = PRACTICE_OPTION,
    limit: int = typer.Option(200, "--limit", help="At most this many claims."),
    as_json: bool = JSON_OPTION,
) -> None:
    """List claims, newest service date first."""
    from sqlalchemy import func
    from sqlmodel import col, select

    from connectors.db import session_scope
    from rcm.models import Claim, ClaimEdit, ClaimStatus, Payer, Practice

    if status is not None:
        try:
            wanted = ClaimStatus(status.upper())
        except ValueError:
            choices = ", ".join(s.value for s in ClaimStatus)
            raise fail(f"unknown status {status!r}; one of {choices}") from None
    with session_scope() as session:
        query = (
            select(Claim, Practice.slug, Payer.key)
            .join(Practice, col(Practice.id) == col(Claim.practice_id))
            .join(Payer, col(Payer.id) == col(Claim.payer_id))
        )
        if practice is not None:
            query = query.where(Claim.practice_id == _practice(session, practice).id)
        if status is not None:
            query = query.where(Claim.status == wanted)
        query = query.order_by(
            col(Claim.service_date_from).desc(), col(Claim.patient_control_number)
        ).limit(limit)
        found = session.exec(query).all()
        ids = [claim.id for claim, _, _ in found]
        open_edits: dict[uuid.UUID, int] = {}
        if ids:
            counts = session.exec(
                select(ClaimEdit.claim_id, func.count())
                .where(col(ClaimEdit.claim_id).in_(ids), col(ClaimEdit.resolved_at).is_(None))
                .group_by(col(ClaimEdit.claim_id))
            ).all()
            open_edits = {claim_id: count for claim_id, count in counts}
        rows = [
            {
                "id": claim.id,
                "practice": slug,
                "pcn": claim.patient_control_number,
                "status": claim.status,
                "payer": payer_key,
                "service_date": claim.service_date_from,
                "total_charge": claim.total_charge,
                "open_edits": open_edits.get(claim.id, 0),
            }
            for claim, slug, payer_key in found
        ]
    title = f"Claims{f' ({wanted.value})' if status else ''}"
    print_rows(title, LIST_COLUMNS, rows, as_json)


def _find_claim(session: Any, ref: str, practice: str | None) -> Any:
    from sqlmodel import select

    from rcm.models import Claim

    try:
        claim = session.get(Claim, uuid.UUID(ref))
    except ValueError:
        if practice is None:
            raise fail("give a claim UUID, or a patient control number with --practice") from None
        practice_id = _practice(session, practice).id
        claim = session.exec(
            select(Claim).where(
                Claim.practice_id == practice_id, Claim.patient_control_number == ref
            )
        ).first()
    if claim is None:
        raise fail(f"no claim {ref}")
    return claim


@app.command()
def show(
    claim_ref: str = typer.Argument(..., metavar="ID", help="Claim UUID (or PCN with --practice)."),
    practice: str | None = PRACTICE_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """One claim with its scrub edits, status events and ledger lines."""
    from sqlmodel import col, select

    from connectors.db import session_scope
    from rcm.models import ClaimEdit, ClaimEvent, LedgerEntry, Payer, Practice

    with session_scope() as session:
        claim = _find_claim(session, claim_ref, practice)
        practice_row = session.get(Practice, claim.practice_id)
        slug = practice_row.slug if practice_row else None
        payer = session.get(Payer, claim.payer_id)
        edits = session.exec(
            select(ClaimEdit)
            .where(ClaimEdit.claim_id == claim.id)
            .order_by(col(ClaimEdit.created_at), col(ClaimEdit.rule_id))
        ).all()
        events = session.exec(
            select(ClaimEvent)
            .where(ClaimEvent.claim_id == claim.id)
            .order_by(col(ClaimEvent.created_at))
        ).all()
        ledger = session.exec(
            select(LedgerEntry)
            .where(LedgerEntry.practice_id == claim.practice_id, LedgerEntry.claim_id == claim.id)
            .order_by(col(LedgerEntry.created_at))
        ).all()
        detail: dict[str, Any] = {
            "claim": {
                "id": claim.id,
                "practice": slug,
                "pcn": claim.patient_control_number,
                "status": claim.status,
                "claim_type": claim.claim_type,
                "frequency_code": claim.frequency_code,
                "payer_responsibility": claim.payer_responsibility,
                "payer": payer.key if payer else None,
                "service_date_from": claim.service_date_from,
                "service_date_to": claim.service_date_to,
                "total_charge": claim.total_charge,
                "payer_claim_control_number": claim.payer_claim_control_number,
            },
            "edits": [
                {
                    "rule_id": e.rule_id,
                    "severity": e.severity,
                    "loop": e.loop,
                    "field": e.field,
                    "message": e.message,
                    "source": e.source,
                    "created_at": e.created_at,
                    "resolved_at": e.resolved_at,
                }
                for e in edits
            ],
            "events": [
                {
                    "from": ev.from_status,
                    "to": ev.to_status,
                    "reason": ev.reason,
                    "source": ev.source,
                    "at": ev.created_at,
                }
                for ev in events
            ],
            "ledger": [
                {
                    "kind": entry.kind,
                    "amount": entry.amount,
                    "responsible": entry.responsible,
                    "group_code": entry.group_code,
                    "reason_code": entry.reason_code,
                    "service_line_id": entry.service_line_id,
                    "at": entry.created_at,
                }
                for entry in ledger
            ],
            "balance": sum((entry.amount for entry in ledger), Decimal("0.00")),
        }
    if as_json:
        print_json(detail)
        return
    head = detail["claim"]
    console.print(
        f"[bold]Claim {head['id']}[/bold]  {head['practice']}  PCN {head['pcn']}  "
        f"{head['status']}  payer {head['payer']}  total {head['total_charge']}  "
        f"balance {detail['balance']}",
        highlight=False,
    )
    print_rows(
        "Edits",
        ["rule_id", "severity", "loop", "field", "message", "resolved_at"],
        detail["edits"],
        False,
    )
    print_rows("Events", ["at", "from", "to", "reason", "source"], detail["events"], False)
    print_rows(
        "Ledger",
        ["at", "kind", "amount", "responsible", "group_code", "reason_code"],
        detail["ledger"],
        False,
    )
