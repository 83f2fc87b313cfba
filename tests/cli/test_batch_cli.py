"""`rcm batch build` and `rcm encounters bill` through typer's CliRunner on SQLite."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import Engine, select
from sqlmodel import Session
from typer.testing import CliRunner

from cli.main import app
from rcm.claims.states import transition
from rcm.models import Claim, ClaimStatus, ClaimType, Interchange, InterchangeStatus
from rcm.x12.validate import validate
from tests.rcm.claims.test_create import Clinic

runner = CliRunner()


def _setup(engine: Engine) -> None:
    with Session(engine) as session:
        clinic = Clinic(session)
        for _ in range(2):
            patient, coverage = clinic.patient()
            clinic.encounter(patient, coverage)
            clinic.encounter(
                patient,
                coverage,
                claim_type=ClaimType.INSTITUTIONAL,
                lines=(("97110", "300.00", ()),),
            )
        session.commit()


def _ready(engine: Engine) -> None:
    with Session(engine) as session:
        for claim in session.execute(select(Claim)).scalars():
            transition(session, claim, ClaimStatus.READY, reason="scrubbed", source="test")
        session.commit()


def test_bill_then_batch_build(engine: Engine, tmp_path: Path) -> None:
    _setup(engine)
    billed = runner.invoke(app, ["encounters", "bill", "--practice", "northside", "--json"])
    assert billed.exit_code == 0, billed.output
    assert json.loads(billed.stdout)["created"] == 4
    again = runner.invoke(app, ["encounters", "bill", "--practice", "northside", "--json"])
    assert json.loads(again.stdout)["created"] == 0
    _ready(engine)

    out = tmp_path / "out"
    result = runner.invoke(
        app,
        [
            "batch",
            "build",
            "--practice",
            "northside",
            "--out",
            str(out),
            "--json",
            "--workers",
            "2",
        ],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert (summary["built"], summary["rejected"], summary["claims"]) == (2, 0, 4)
    files = sorted(out.iterdir())
    assert [f.name.split("_")[1] for f in files] == ["837I", "837P"]
    for path in files:
        report = validate(path.read_bytes())
        assert report.error_count == 0
        assert b"*RCMSUBMITTER   *ZZ*RCMSANDBOX     *" in path.read_bytes()
        assert b"*T*:~" in path.read_bytes()[:120]
    contents = {f.name: f.read_bytes() for f in files}

    # A rerun writes the same files again and assigns nothing new.
    rerun = runner.invoke(
        app,
        ["batch", "build", "--practice", "northside", "--out", str(tmp_path / "again"), "--json"],
    )
    assert rerun.exit_code == 0, rerun.output
    assert json.loads(rerun.stdout)["assigned_interchanges"] == 0
    assert {f.name: f.read_bytes() for f in (tmp_path / "again").iterdir()} == contents
    with Session(engine) as session:
        statuses = {i.status for i in session.execute(select(Interchange)).scalars()}
        assert statuses == {InterchangeStatus.BUILT}


def test_unknown_practice_fails(engine: Engine) -> None:
    result = runner.invoke(app, ["batch", "build", "--practice", "nobody"])
    assert result.exit_code == 1
