from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

from sqlalchemy import Engine, select
from sqlmodel import Session
from typer.testing import CliRunner

from cli.main import app
from rcm.models import Claim, ClaimStatus
from rcm.x12.core import InterchangeEnvelope
from rcm.x12.x277ca import (
    Ack277CA,
    Entity,
    Status,
    StatusCode,
    build_277ca,
)
from rcm.x12.x277ca import (
    ClaimStatus as AckClaim,
)
from rcm.x12.x835 import Name
from tests.rcm.posting.helpers import NPI, D, Seeded, make_payer, make_practice

runner = CliRunner()


def test_ack_apply_277ca(engine: Engine, tmp_path: Path) -> None:
    with Session(engine) as session:
        practice = make_practice(session)
        Seeded(
            session,
            practice,
            make_payer(session),
            "PCN1",
            [("99213", [], D("100"))],
            status=ClaimStatus.SUBMITTED,
        )
        session.commit()
    claim = AckClaim("PCN1", statuses=[Status([StatusCode("A6", "21", "85")], date(2026, 11, 3))])
    provider = Entity(
        "19",
        name=Name("85", "2", "X", id_qualifier="XX", id=NPI),
        children=[Entity("PT", claims=[claim])],
    )
    ack = Ack277CA(
        [Entity("20", children=[Entity("21", children=[provider])])],
        reference="R",
        created=date(2026, 11, 3),
    )
    envelope = InterchangeEnvelope(
        "ZZ", "CH", "ZZ", "SUB", 9, 9, "HN", "005010X214", datetime(2026, 11, 3, tzinfo=UTC)
    )
    path = tmp_path / "c.277"
    path.write_bytes(build_277ca([ack], envelope))
    result = runner.invoke(app, ["ack", "apply", str(path), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["claims"][0]["rejected"] == 1
    with Session(engine) as session:
        assert session.scalars(select(Claim)).one().status == ClaimStatus.HELD
    again = runner.invoke(app, ["ack", "apply", str(path)])
    assert again.exit_code == 1 and "applied before" in again.output
