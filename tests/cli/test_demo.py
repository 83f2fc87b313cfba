"""`rcm demo` on an empty folder: migrates, onboards, imports, reaches the sandbox and runs the
daily cycle for three days, long enough for a denial to come back as a paid corrected claim."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app


@pytest.mark.slow
def test_demo_runs_from_an_empty_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sandbox.synthetic as synthetic

    # Half the rehab visits keyed without GP (the demo's share is 10 %), so a small demo has
    # CO-4 denials on its first day whatever the date.
    monkeypatch.setattr(
        synthetic,
        "OUTPATIENT_REHAB",
        replace(synthetic.OUTPATIENT_REHAB, dropped_modifier_rate=0.5),
    )
    workdir = tmp_path / "demo"
    result = CliRunner().invoke(
        app,
        [
            "demo",
            "--workdir",
            str(workdir),
            "--patients",
            "20",
            "--days",
            "3",
            "--encounters-per-day",
            "10",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "riverside-family-medicine" in result.output
    assert "authenticate" in result.output
    assert (workdir / "rcm.db").exists()
    assert (workdir / "sandbox" / "roster.csv").exists()

    # Denied on day 1 (CO-4), corrected on day 2 with GP, sent on day 3, paid at the end.
    found = re.search(
        r"Corrected claims \(frequency 7, REF\*F8\):\s+(\d+) created,\s+(\d+) sent,\s+(\d+) paid",
        result.output,
    )
    assert found, result.output
    created, sent, paid = map(int, found.groups())
    assert created >= sent >= paid >= 1, found.group(0)
    assert "corrected claims (frequency 7)" in result.output

    from sqlalchemy import create_engine
    from sqlmodel import Session, select

    from rcm.models import Claim, ClaimStatus, FrequencyCode, ServiceLine

    engine = create_engine(f"sqlite:///{workdir / 'rcm.db'}")
    try:
        with Session(engine) as session:
            corrected = session.exec(
                select(Claim).where(
                    Claim.frequency_code == FrequencyCode.REPLACEMENT,
                    Claim.status == ClaimStatus.PAID,
                )
            ).all()
            assert len(corrected) == paid
            for claim in corrected:
                original = session.get(Claim, claim.original_claim_id)
                assert original is not None and original.status == ClaimStatus.REPLACED
                assert claim.original_payer_claim_number == original.payer_claim_control_number
                lines = session.exec(
                    select(ServiceLine).where(ServiceLine.encounter_id == claim.encounter_id)
                ).all()
                assert all("GP" in line.modifiers for line in lines)
    finally:
        engine.dispose()
    sent_files = b"".join(
        p.read_bytes() for p in (workdir / "archive").rglob("*_837I_*") if p.is_file()
    )
    assert b":A:7*" in sent_files and b"REF*F8*" in sent_files
