"""A small demo run through the flows: its logs hold none of the synthetic patients' names,
birth dates, member IDs or addresses."""

from __future__ import annotations

import logging
from datetime import date, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PATIENTS = 8
DAYS = 1


def _patients_of_the_demo() -> list[object]:
    from cli.demo import DEMO_SEED
    from rcm.onboarding.schema import load_onboarding_file
    from rcm.payers import load_payers
    from rcm.settings import get_settings
    from sandbox.synthetic import generate_practice

    payers = {p.key: p for p in load_payers()}
    first_day = date.today() - timedelta(days=DAYS)
    people: list[object] = []
    for path in sorted((get_settings().config_dir / "practices").glob("*.yaml")):
        doc = load_onboarding_file(path)
        world = generate_practice(doc, payers, seed=DEMO_SEED, patients=PATIENTS, today=first_day)
        people += world.patients
    return people


def test_demo_logs_carry_no_patient_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from cli.main import app

    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "prefect-home"))
    monkeypatch.setenv("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    caplog.set_level(logging.DEBUG)
    workdir = tmp_path / "demo"
    result = CliRunner().invoke(
        app,
        [
            "demo",
            "--workdir",
            str(workdir),
            "--patients",
            str(PATIENTS),
            "--days",
            str(DAYS),
            "--encounters-per-day",
            "6",
        ],
    )
    assert result.exit_code in (0, 1), result.output
    assert "Claims:" in result.output
    # Every loguru record (demo.log, INFO and up: what the flows forward into their Prefect run
    # logs), the Python log records captured, and what the command printed.
    demo_log = (workdir / "demo.log").read_text(encoding="utf-8")
    logs = "\n".join([demo_log, caplog.text, result.output])
    assert "submission done" in demo_log and "responses done" in demo_log, "the flows logged"

    leaks = []
    for person in _patients_of_the_demo():
        values = {
            f"{person.first_name} {person.last_name}",  # type: ignore[attr-defined]
            person.last_name,  # type: ignore[attr-defined]
            person.birth_date.isoformat(),  # type: ignore[attr-defined]
            person.birth_date.strftime("%Y%m%d"),  # type: ignore[attr-defined]
            person.birth_date.strftime("%m/%d/%Y"),  # type: ignore[attr-defined]
            person.primary.member_id,  # type: ignore[attr-defined]
            person.address1,  # type: ignore[attr-defined]
        }
        if person.secondary is not None:  # type: ignore[attr-defined]
            values.add(person.secondary.member_id)  # type: ignore[attr-defined]
        leaks += [value for value in values if value and value in logs]
    assert not leaks, f"patient data in the demo's logs: {sorted(set(leaks))[:10]}"
