"""`rcm era`: post 835 remittances, work the unmatched queue.

`rcm era post FILE` records the file as an inbound Interchange keyed by (clearinghouse, sha256)
(a file seen before is refused as a duplicate), archives it, and posts every transaction in it
in one database transaction. A file that cannot be read or does not balance changes nothing:
it is archived under quarantine/ and recorded as quarantined.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import typer

from cli.output import JSON_OPTION, console, fail, print_json, print_rows

app = typer.Typer(
    name="era", help="Post 835 ERAs and match unmatched claim payments.", no_args_is_help=True
)

PRACTICE_OPTION = typer.Option(None, "--practice", "-p", help="The practice's slug.")
CLEARINGHOUSE_OPTION = typer.Option(
    None, "--clearinghouse", help="Clearinghouse the file came from (default: the practice's)."
)


def _summary(result: Any) -> dict[str, Any]:
    return {
        "interchange_id": result.interchange_id,
        "sha256": result.sha256,
        "remittances": [
            {
                "remittance_id": r.remittance_id,
                "trace_number": r.trace_number,
                "total_paid": r.total_paid,
                "claim_payments": r.claim_payments,
                "matched": r.matched,
                "unmatched": r.unmatched,
                "reversals": r.reversals,
                "denials": r.denials,
                "secondary_claims": r.secondary_claims,
                "provider_adjustments": r.provider_adjustments,
                "ledger_entries": r.ledger_entries,
            }
            for r in result.remittances
        ],
    }


def _archive(slug: str, data: bytes, name: str, *, quarantine: bool) -> str | None:
    """Archive the file when an archive is configured; None when it cannot be reached (the
    posting does not depend on it; flows archive with retries)."""
    try:
        from connectors.archive import archive_key, open_archive, quarantine_key, sha256_hex
        from rcm.models import utcnow

        make_key = quarantine_key if quarantine else archive_key
        key = make_key(slug, "inbound", "835", utcnow(), sha256_hex(data), name)
        open_archive().put(key, data)
        return key
    except Exception:  # archiving is best effort from the CLI
        return None


@app.command("post")
def post(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="An 835 file."),
    practice: str | None = PRACTICE_OPTION,
    clearinghouse: str | None = CLEARINGHOUSE_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Post every remittance in an 835 file."""
    from sqlalchemy import select
    from sqlmodel import col

    from connectors.db import session_scope
    from rcm.errors import PostingError, X12Error
    from rcm.models import InterchangeKind, Practice
    from rcm.posting import (
        DuplicateFileError,
        DuplicateRemittanceError,
        check_balanced,
        identify_practice,
        post_835_file,
    )
    from rcm.posting.files import quarantine_inbound_file
    from rcm.x12.x835 import parse_835

    try:
        data = file.read_bytes()
    except OSError as exc:
        raise fail(f"{file.name}: cannot be read ({exc.strerror})") from None
    with session_scope() as session:
        target: Practice | None = None
        if practice:
            target = session.scalar(select(Practice).where(col(Practice.slug) == practice))
            if target is None:
                raise fail(f"no practice {practice!r}")
        refusal: Exception | None = None
        try:
            parsed = parse_835(data, file_name=file.name, strict=False)
            if target is None and parsed:
                target = identify_practice(session, parsed[0])
            for rem in parsed:
                check_balanced(rem)
        except (X12Error, PostingError) as exc:
            refusal = exc
        slug = target.slug if target is not None else None
        practice_id = target.id if target is not None else None
        house = clearinghouse or (target.clearinghouse if target is not None else "unknown")
    try:
        if refusal is not None:
            raise refusal
        key = _archive(slug, data, file.name, quarantine=False) if slug else None
        with session_scope() as session:
            result = post_835_file(
                session,
                data,
                clearinghouse=house,
                file_name=file.name,
                practice_id=practice_id if practice else None,
                archive_key=key,
            )
    except (DuplicateFileError, DuplicateRemittanceError) as exc:
        raise fail(f"{file.name}: duplicate, not posted: {exc}") from None
    except (PostingError, X12Error) as exc:
        where = "not recorded (no practice identified)"
        if practice_id is not None and slug is not None:
            qkey = _archive(slug, data, file.name, quarantine=True)
            with session_scope() as session:
                quarantine_inbound_file(
                    session,
                    data,
                    clearinghouse=house,
                    practice_id=practice_id,
                    kind=InterchangeKind.REMITTANCE_835,
                    error=str(exc),
                    file_name=file.name,
                    archive_key=qkey,
                )
            where = "quarantined"
        raise fail(f"{file.name}: refused, nothing posted ({where}): {exc}") from None
    summary = _summary(result)
    if as_json:
        print_json(summary)
        return
    print_rows(
        f"{file.name}: posted",
        [
            "trace_number",
            "total_paid",
            "claim_payments",
            "matched",
            "unmatched",
            "reversals",
            "denials",
            "secondary_claims",
            "provider_adjustments",
        ],
        summary["remittances"],
        False,
    )


@app.command("unmatched")
def unmatched(practice: str | None = PRACTICE_OPTION, as_json: bool = JSON_OPTION) -> None:
    """Claim payments no claim matched (CLP01 unknown), oldest first."""
    from sqlalchemy import select
    from sqlmodel import col

    from connectors.db import session_scope
    from rcm.models import Practice, Remittance
    from rcm.posting import unmatched_claim_payments

    with session_scope() as session:
        practice_id = None
        if practice:
            practice_id = session.scalar(
                select(col(Practice.id)).where(col(Practice.slug) == practice)
            )
            if practice_id is None:
                raise fail(f"no practice {practice!r}")
        rows = []
        for cp in unmatched_claim_payments(session, practice_id=practice_id):
            rem = session.get(Remittance, cp.remittance_id)
            rows.append(
                {
                    "claim_payment_id": cp.id,
                    "patient_control_number": cp.patient_control_number,
                    "status_code": cp.status_code,
                    "charge": cp.total_charge,
                    "paid": cp.paid,
                    "payer": rem.payer_name if rem else None,
                    "trace_number": rem.trace_number if rem else None,
                    "payment_date": rem.payment_date if rem else None,
                }
            )
    print_rows(
        "Unmatched claim payments",
        [
            "claim_payment_id",
            "patient_control_number",
            "status_code",
            "charge",
            "paid",
            "payer",
            "trace_number",
            "payment_date",
        ],
        rows,
        as_json,
    )


@app.command("match")
def match(
    claim_payment: str = typer.Argument(..., help="The unmatched claim payment's ID."),
    claim: str = typer.Argument(..., help="The claim: its ID or patient control number."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Match an unmatched claim payment to a claim and post it."""
    from sqlalchemy import select
    from sqlmodel import col

    from connectors.db import session_scope
    from rcm.errors import PostingError, StateError
    from rcm.models import Claim, ClaimPayment
    from rcm.posting import match_claim_payment

    try:
        cp_id = uuid.UUID(claim_payment)
    except ValueError:
        raise fail(f"{claim_payment!r} is not a claim payment ID") from None
    try:
        with session_scope() as session:
            cp = session.get(ClaimPayment, cp_id)
            if cp is None:
                raise fail(f"no claim payment {claim_payment}")
            try:
                claim_id = uuid.UUID(claim)
            except ValueError:
                found = session.scalar(
                    select(col(Claim.id)).where(
                        col(Claim.practice_id) == cp.practice_id,
                        col(Claim.patient_control_number) == claim,
                    )
                )
                if found is None:
                    raise fail(f"no claim {claim!r} in this claim payment's practice") from None
                claim_id = found
            result = match_claim_payment(session, cp_id, claim_id, source="cli: rcm era match")
    except (PostingError, StateError) as exc:
        raise fail(str(exc)) from None
    row = {
        "claim_payment_id": cp_id,
        "claim_id": claim_id,
        "denials": result.denials,
        "secondary_claims": result.secondary_claims,
        "ledger_entries": result.ledger_entries,
    }
    if as_json:
        print_json(row)
    else:
        console.print(f"matched and posted claim payment {cp_id} to claim {claim_id}")
