from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine, func, select
from sqlmodel import Session, col
from typer.testing import CliRunner

from cli.main import app
from rcm.models import ClaimStatus, Interchange, InterchangeStatus, LedgerEntry
from rcm.x12.core import InterchangeEnvelope
from rcm.x12.x835 import build_835
from tests.rcm.posting.helpers import D, Seeded, clp, make_payer, make_practice, remittance, svc

runner = CliRunner()


def _write(
    tmp_path: Path,
    name: str,
    claims: list,
    *,
    control: int = 1,
    total: str | None = None,
    trace: str = "TRACE1",
) -> Path:
    envelope = InterchangeEnvelope(
        "ZZ",
        "PAYER",
        "ZZ",
        "NORTHSIDE",
        control,
        control,
        "HP",
        "005010X221A1",
        datetime(2026, 11, 1, 8, tzinfo=UTC),
    )
    path = tmp_path / name
    path.write_bytes(build_835([remittance(claims, total=total, trace=trace)], envelope))
    return path


def _seed(engine: Engine) -> None:
    with Session(engine) as session:
        practice = make_practice(session)
        Seeded(session, practice, make_payer(session), "PCN1", [("99213", [], D("100"))])
        session.commit()


def test_post_then_duplicate(engine: Engine, tmp_path: Path) -> None:
    _seed(engine)
    path = _write(
        tmp_path,
        "era.835",
        [
            clp(
                "PCN1",
                "1",
                "100",
                "80",
                [svc("99213", "100", "80", ("CO", "45", "15"), ("PR", "3", "5"))],
            )
        ],
    )
    result = runner.invoke(app, ["era", "post", str(path), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    (rem,) = summary["remittances"]
    assert (rem["matched"], rem["unmatched"], rem["total_paid"]) == (1, 0, "80.00")
    again = runner.invoke(app, ["era", "post", str(path)])
    assert again.exit_code == 1 and "duplicate" in again.output
    with Session(engine) as session:
        row = session.scalars(select(Interchange)).one()
        assert row.status == InterchangeStatus.PROCESSED and row.archive_key
        assert session.scalar(select(func.count()).select_from(LedgerEntry)) == 5


def test_unbalanced_file_is_quarantined(engine: Engine, tmp_path: Path) -> None:
    _seed(engine)
    path = _write(
        tmp_path,
        "bad.835",
        [clp("PCN1", "1", "100", "80", [svc("99213", "100", "80", ("CO", "45", "20"))])],
        total="81.00",
    )
    result = runner.invoke(app, ["era", "post", str(path)])
    assert result.exit_code == 1
    output = " ".join(result.output.split())
    assert "does not balance" in output and "quarantined" in output and "= 1.00" in output
    with Session(engine) as session:
        row = session.scalars(select(Interchange)).one()
        assert row.status == InterchangeStatus.QUARANTINED and "1.00" in (row.error or "")
        assert (row.archive_key or "").startswith("quarantine/")
        assert session.scalar(select(func.count()).select_from(LedgerEntry)) == 0


def test_unmatched_then_match(engine: Engine, tmp_path: Path) -> None:
    _seed(engine)
    path = _write(
        tmp_path, "era.835", [clp("WHO", "1", "100", "100", [svc("99213", "100", "100")])]
    )
    assert runner.invoke(app, ["era", "post", str(path)]).exit_code == 0
    listed = runner.invoke(app, ["era", "unmatched", "--json"])
    assert listed.exit_code == 0, listed.output
    (row,) = json.loads(listed.stdout)
    assert row["patient_control_number"] == "WHO"
    table = runner.invoke(app, ["era", "unmatched"])
    assert "Unmatched claim payments" in table.output
    matched = runner.invoke(app, ["era", "match", row["claim_payment_id"], "PCN1", "--json"])
    assert matched.exit_code == 0, matched.output
    assert json.loads(runner.invoke(app, ["era", "unmatched", "--json"]).stdout) == []
    from rcm.models import Claim

    with Session(engine) as session:
        claim = session.scalars(
            select(Claim).where(col(Claim.patient_control_number) == "PCN1")
        ).one()
        assert claim.status == ClaimStatus.PAID
