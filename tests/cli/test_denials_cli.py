from __future__ import annotations

import json

from sqlalchemy import Engine
from sqlmodel import Session
from typer.testing import CliRunner

from cli.main import app
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


def test_denials_list_show_assign_resolve(engine: Engine) -> None:
    with Session(engine) as session:
        practice = make_practice(session)
        Seeded(session, practice, make_payer(session), "PCN1", [("99214", [], D("150"))])
        post_remittance(
            session,
            remittance(
                [
                    clp(
                        "PCN1",
                        "4",
                        "150",
                        "0",
                        [svc("99214", "150", "0", ("CO", "197", "150"), remarks=["N807"])],
                    )
                ]
            ),
            interchange_id=make_interchange(session, practice).id,
        )
        session.commit()
    listed = runner.invoke(
        app,
        [
            "denials",
            "list",
            "--payer",
            "acme",
            "--category",
            "authorization",
            "--min-amount",
            "100",
            "--json",
        ],
    )
    assert listed.exit_code == 0, listed.output
    (row,) = json.loads(listed.stdout)
    assert (row["carc"], row["recommended_action"], row["amount"]) == ("197", "appeal", "150.00")
    assert (
        json.loads(runner.invoke(app, ["denials", "list", "--max-amount", "10", "--json"]).stdout)
        == []
    )
    table = runner.invoke(app, ["denials", "list"])
    assert table.exit_code == 0 and "Denials" in table.output
    shown = runner.invoke(app, ["denials", "show", row["id"]])
    assert shown.exit_code == 0 and "N807" in shown.output
    assert runner.invoke(app, ["denials", "assign", row["id"], "jo"]).exit_code == 0
    done = runner.invoke(app, ["denials", "resolve", row["id"], "-r", "appeal won", "--json"])
    assert done.exit_code == 0 and json.loads(done.stdout)["status"] == "resolved"
    again = runner.invoke(app, ["denials", "resolve", row["id"], "-r", "x"])
    assert again.exit_code == 1
