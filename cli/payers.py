"""`rcm payers`: the payer list from config/payers.yaml and its copy in the database."""

from __future__ import annotations

from pathlib import Path

import typer

from cli.output import JSON_OPTION, console, fail, print_json, print_rows

app = typer.Typer(name="payers", help="List and sync payers.", no_args_is_help=True)

COLUMNS = [
    "key",
    "name",
    "payer_id",
    "claim_filing_indicator",
    "timely_filing_days",
    "appeal_window_days",
    "corrected_claim_days",
    "in_database",
]


@app.command("list")
def list_payers(as_json: bool = JSON_OPTION) -> None:
    """Payers in the database (and any in config not yet synced)."""
    from sqlmodel import select

    from connectors.db import session_scope
    from rcm.errors import ConfigError
    from rcm.models import Payer
    from rcm.payers import load_payers

    try:
        configured = {p.key: p for p in load_payers()}
    except ConfigError as exc:
        raise fail(str(exc)) from None
    with session_scope() as session:
        stored = {p.key: p for p in session.exec(select(Payer)).all()}
        rows = [
            {
                "key": p.key,
                "name": p.name,
                "payer_id": p.payer_id,
                "claim_filing_indicator": p.claim_filing_indicator,
                "timely_filing_days": p.timely_filing_days,
                "appeal_window_days": p.appeal_window_days,
                "corrected_claim_days": p.corrected_claim_days,
                "prior_auth_procedures": list(p.prior_auth_procedures),
                "in_database": True,
            }
            for p in stored.values()
        ]
    rows += [
        {
            "key": c.key,
            "name": c.name,
            "payer_id": c.payer_id,
            "claim_filing_indicator": c.claim_filing_indicator,
            "timely_filing_days": c.timely_filing_days,
            "appeal_window_days": c.appeal_window_days,
            "corrected_claim_days": c.corrected_claim_days,
            "prior_auth_procedures": list(c.prior_auth_procedures),
            "in_database": False,
        }
        for key, c in configured.items()
        if key not in stored
    ]
    rows.sort(key=lambda r: str(r["key"]))
    print_rows("Payers", COLUMNS, rows, as_json)


@app.command()
def sync(
    file: Path | None = typer.Option(
        None, "--file", help="Payer list (default config/payers.yaml)."
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Create or update payers from config; running it twice changes nothing."""
    from connectors.db import session_scope
    from rcm.errors import ConfigError
    from rcm.payers import load_payers, sync_payers

    try:
        configs = load_payers(file)
    except ConfigError as exc:
        raise fail(str(exc)) from None
    with session_scope() as session:
        result = sync_payers(session, configs)
    counts = {"created": result.created, "updated": result.updated, "unchanged": result.unchanged}
    if as_json:
        print_json(counts)
    else:
        console.print(
            f"payers: {result.created} created, {result.updated} updated, "
            f"{result.unchanged} unchanged"
        )
