"""`rcm claims scrub | list | show` through typer's CliRunner on SQLite."""

from __future__ import annotations

import json
from decimal import Decimal

from sqlalchemy import Engine
from sqlmodel import Session
from typer.testing import CliRunner

from cli.main import app
from rcm.models import LedgerEntry, LedgerKind, Responsible
from tests.rcm.scrub.db_builders import ScrubWorld

runner = CliRunner()


def _setup(engine: Engine) -> dict[str, str]:
    with Session(engine) as session:
        world = ScrubWorld(session)
        clean = world.claim("PCN1")
        held = world.claim("PCN2", diagnoses=("E11",))
        session.add(
            LedgerEntry(
                practice_id=world.practice.id,
                claim_id=held.id,
                kind=LedgerKind.CHARGE,
                amount=Decimal("120.00"),
                responsible=Responsible.PAYER,
            )
        )
        session.commit()
        return {"clean": str(clean.id), "held": str(held.id)}


def test_scrub_list_show(engine: Engine) -> None:
    ids = _setup(engine)
    result = runner.invoke(
        app, ["claims", "scrub", "--practice", "keystone", "--date", "2026-03-15", "--json"]
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert (summary["scrubbed"], summary["held"], summary["ready"]) == (2, 1, 1)
    assert summary["by_rule"] == {"DX-NOT-BILLABLE": 1}

    listed = runner.invoke(app, ["claims", "list", "--status", "HELD", "--json"])
    assert listed.exit_code == 0, listed.output
    rows = json.loads(listed.stdout)
    assert [(r["id"], r["pcn"], r["status"], r["open_edits"]) for r in rows] == [
        (ids["held"], "PCN2", "HELD", 1)
    ]
    table = runner.invoke(app, ["claims", "list", "--status", "ready", "-p", "keystone"])
    assert table.exit_code == 0 and "PCN1" in table.output and "PCN2" not in table.output

    shown = runner.invoke(app, ["claims", "show", ids["held"], "--json"])
    assert shown.exit_code == 0, shown.output
    detail = json.loads(shown.stdout)
    assert detail["claim"]["status"] == "HELD"
    assert [e["rule_id"] for e in detail["edits"]] == ["DX-NOT-BILLABLE"]
    assert [(e["from"], e["to"]) for e in detail["events"]] == [("DRAFT", "HELD")]
    assert detail["ledger"][0]["amount"] == "120.00" and detail["balance"] == "120.00"
    assert "Testpatient" not in shown.stdout and "Alex" not in shown.stdout

    by_pcn = runner.invoke(app, ["claims", "show", "PCN2", "--practice", "keystone"])
    assert by_pcn.exit_code == 0, by_pcn.output
    assert "DX-NOT-BILLABLE" in by_pcn.output and "Ledger" in by_pcn.output

    again = runner.invoke(app, ["claims", "scrub", "-p", "keystone"])
    assert again.exit_code == 0 and "scrubbed 0 claim(s)" in again.output


def test_errors(engine: Engine) -> None:
    _setup(engine)
    assert runner.invoke(app, ["claims", "scrub", "-p", "nope"]).exit_code == 1
    assert runner.invoke(app, ["claims", "scrub", "-p", "keystone", "--date", "x"]).exit_code == 1
    assert runner.invoke(app, ["claims", "list", "--status", "LOST"]).exit_code == 1
    assert runner.invoke(app, ["claims", "show", "PCN1"]).exit_code == 1
    missing = runner.invoke(app, ["claims", "show", "00000000-0000-0000-0000-000000000000"])
    assert missing.exit_code == 1
