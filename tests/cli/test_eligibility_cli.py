"""`rcm eligibility build | apply` through typer's CliRunner on SQLite."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import Engine, select
from sqlmodel import Session
from typer.testing import CliRunner

from cli.main import app
from rcm.models import Coverage, EligibilityCheck, EligibilityStatus
from tests.rcm.claims.test_create import Clinic
from tests.rcm.test_eligibility import ACTIVE, answer, appointment, file_271

runner = CliRunner()


def test_build_then_apply(engine: Engine, tmp_path: Path) -> None:
    with Session(engine) as session:
        clinic = Clinic(session)
        patient, _ = clinic.patient()
        appointment(session, clinic, patient)
        session.commit()

    out = tmp_path / "inquiry.270"
    built = runner.invoke(
        app,
        [
            "eligibility",
            "build",
            "--practice",
            "northside",
            "--from",
            "2026-11-23",
            "--to",
            "2026-11-23",
            "--out",
            str(out),
            "--json",
        ],
    )
    assert built.exit_code == 0, built.output
    assert json.loads(built.stdout)["checks_created"] == 1
    assert out.read_bytes().startswith(b"ISA*")
    first = out.read_bytes()
    again = runner.invoke(
        app,
        [
            "eligibility",
            "build",
            "--practice",
            "northside",
            "--from",
            "2026-11-23",
            "--to",
            "2026-11-23",
            "--out",
            str(out),
            "--json",
        ],
    )
    summary = json.loads(again.stdout)
    assert (summary["checks_created"], summary["checks_reused"]) == (0, 1)
    assert out.read_bytes() == first

    with Session(engine) as session:
        (check,) = session.execute(select(EligibilityCheck)).scalars().all()
        trace = check.trace_number
    reply = tmp_path / "answer.271"
    reply.write_bytes(file_271(answer(trace, *ACTIVE)))
    applied = runner.invoke(
        app, ["eligibility", "apply", str(reply), "--practice", "northside", "--json"]
    )
    assert applied.exit_code == 0, applied.output
    result = json.loads(applied.stdout)
    assert (result["matched"], result["by_status"]) == (1, {"active": 1})
    duplicate = runner.invoke(
        app, ["eligibility", "apply", str(reply), "-p", "northside", "--json"]
    )
    assert json.loads(duplicate.stdout)["duplicate"] is True
    with Session(engine) as session:
        coverage = session.execute(select(Coverage)).scalars().one()
        assert coverage.eligibility_status is EligibilityStatus.ACTIVE


def test_bad_dates_fail(engine: Engine) -> None:
    result = runner.invoke(
        app, ["eligibility", "build", "-p", "northside", "--from", "11/23", "--to", "2026-11-23"]
    )
    assert result.exit_code == 1
