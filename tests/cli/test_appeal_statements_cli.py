from __future__ import annotations

import json
from datetime import date
from pathlib import Path

from sqlalchemy import Engine, select
from sqlmodel import Session
from typer.testing import CliRunner

from cli.main import app
from rcm.models import Denial
from rcm.posting import post_remittance
from tests.rcm.posting.helpers import (
    D,
    Seeded,
    clp,
    make_interchange,
    make_payer,
    make_practice,
    remittance,
    svc,
)

runner = CliRunner()


def test_appeal_create_and_statements_run(engine: Engine, tmp_path: Path) -> None:
    with Session(engine) as session:
        practice = make_practice(session)
        payer = make_payer(session)
        Seeded(session, practice, payer, "PCN1", [("99214", [], D("150"))])
        Seeded(session, practice, payer, "PCN2", [("99213", [], D("100"))])
        post_remittance(
            session,
            remittance(
                [
                    clp("PCN1", "4", "150", "0", [svc("99214", "150", "0", ("CO", "50", "150"))]),
                    clp(
                        "PCN2",
                        "1",
                        "100",
                        "60",
                        [svc("99213", "100", "60", ("CO", "45", "20"), ("PR", "2", "20"))],
                    ),
                ],
                payment_date=date.today(),
            ),
            interchange_id=make_interchange(session, practice).id,
        )
        denial_id = str(session.scalars(select(Denial.id)).one())
        session.commit()
    letter = tmp_path / "letter.pdf"
    made = runner.invoke(app, ["appeal", "create", denial_id, "--out", str(letter), "--json"])
    assert made.exit_code == 0, made.output
    assert json.loads(made.stdout)["status"] == "draft"
    assert letter.read_bytes().startswith(b"%PDF")

    out = tmp_path / "statements"
    run = runner.invoke(
        app,
        [
            "statements",
            "run",
            "--practice",
            "northside",
            "--date",
            "2026-12-01",
            "--out",
            str(out),
            "--json",
        ],
    )
    assert run.exit_code == 0, run.output
    (row,) = json.loads(run.stdout)
    assert row["balance"] == "20.00" and row["new"] is True and row["pdf_key"]
    assert (out / "statements-2026-12-01.csv").read_text().count("\n") == 2
    again = runner.invoke(
        app, ["statements", "run", "--practice", "northside", "--date", "2026-12-01", "--json"]
    )
    assert json.loads(again.stdout)[0]["new"] is False
