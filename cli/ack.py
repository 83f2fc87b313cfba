"""`rcm ack apply FILE`: apply a 999 or 277CA to the claims it acknowledges."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from cli.output import JSON_OPTION, console, fail, print_json

app = typer.Typer(name="ack", help="Apply 999 and 277CA acknowledgments.", no_args_is_help=True)


@app.command("apply")
def apply(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="A 999 or 277CA file."),
    clearinghouse: str = typer.Option(
        "sandbox", "--clearinghouse", help="Clearinghouse the file came from."
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Accepted claims move on; rejected ones go back to HELD with the errors as edits."""
    from connectors.db import session_scope
    from rcm.acknowledgments import apply_acknowledgment_file
    from rcm.errors import RcmError

    try:
        data = file.read_bytes()
    except OSError as exc:
        raise fail(f"{file.name}: cannot be read ({exc.strerror})") from None
    try:
        with session_scope() as session:
            result = apply_acknowledgment_file(
                session, data, clearinghouse=clearinghouse, file_name=file.name
            )
    except RcmError as exc:
        raise fail(f"{file.name}: not applied: {exc}") from None
    summary: dict[str, Any] = {
        "kind": result.kind.value,
        "interchange_id": result.interchange_id,
        "groups": [
            {
                "interchange_id": r.interchange_id,
                "status": r.group_status,
                "accepted_transactions": list(r.accepted_transactions),
                "rejected_transactions": list(r.rejected_transactions),
                "claims_held": len(r.rejected_claim_ids),
                "edits": r.edits,
            }
            for r in result.results_999
        ],
        "claims": [
            {
                "accepted": len(r.accepted_claim_ids),
                "rejected": len(r.rejected_claim_ids),
                "no_response": len(r.no_response_claim_ids),
                "unknown": r.unknown_claims,
                "edits": r.edits,
            }
            for r in result.results_277ca
        ],
    }
    if as_json:
        print_json(summary)
        return
    for group in summary["groups"]:
        console.print(
            f"999 for interchange {group['interchange_id']}: AK9 {group['status']}, "
            f"{len(group['accepted_transactions'])} transaction set(s) accepted, "
            f"{len(group['rejected_transactions'])} rejected, {group['claims_held']} claim(s) held"
        )
    for claims in summary["claims"]:
        console.print(
            f"277CA: {claims['accepted']} accepted, {claims['rejected']} rejected (held), "
            f"{claims['no_response']} without a decision, {claims['unknown']} unknown claim(s)"
        )
