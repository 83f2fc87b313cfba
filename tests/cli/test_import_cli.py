from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import Engine, func
from sqlmodel import Session, select
from typer.testing import CliRunner

from cli.main import app
from rcm.settings import PROJECT_ROOT

runner = CliRunner()
EXAMPLES = PROJECT_ROOT / "config" / "examples"
SLUG = "riverside-family-medicine"


def _onboard() -> None:
    path = PROJECT_ROOT / "config" / "practices" / f"{SLUG}.yaml"
    result = runner.invoke(app, ["practice", "onboard", str(path)])
    assert result.exit_code == 0, result.output


def _count(engine: Engine, model: type) -> int:
    with Session(engine) as session:
        return session.exec(select(func.count()).select_from(model)).one()


def test_import_all_three_files_twice(engine: Engine) -> None:
    from rcm.models import Appointment, Encounter, Patient, ServiceLine

    _onboard()
    for kind in ("patients", "appointments", "charges"):
        path = EXAMPLES / f"riverside-{kind}.csv"
        first = runner.invoke(app, ["import", kind, str(path), "--practice", SLUG, "--json"])
        assert first.exit_code == 0, first.output
        summary = json.loads(first.stdout)
        assert summary["created"] == summary["rows"] > 0
        assert len(summary["sha256"]) == 64
        second = runner.invoke(app, ["import", kind, str(path), "-p", SLUG])
        assert second.exit_code == 0, second.output
        assert "Nothing changed" in second.output
    assert _count(engine, Patient) == 6
    assert _count(engine, Appointment) == 5
    assert _count(engine, Encounter) == 6
    assert _count(engine, ServiceLine) == 12


def test_rejected_file(engine: Engine, tmp_path: Path) -> None:
    from rcm.models import Encounter

    _onboard()
    runner.invoke(app, ["import", "patients", str(EXAMPLES / "riverside-patients.csv"), "-p", SLUG])
    lines = (EXAMPLES / "riverside-charges.csv").read_text().splitlines()
    lines[2] = lines[2].replace(",15.00,", ",0,")  # line 3
    lines[4] = lines[4].replace("RFM-10002", "RFM-77777")  # line 5
    bad = tmp_path / "charges.csv"
    bad.write_text("\n".join(lines) + "\n")

    result = runner.invoke(app, ["import", "charges", str(bad), "-p", SLUG, "--json"])
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["rejected"] is True
    assert report["bad_lines"] == [3, 5]
    assert [(p["line"], p["column"]) for p in report["problems"]] == [
        (3, "charge"),
        (5, "patient_account"),
    ]
    assert "RFM-77777" not in result.output

    human = runner.invoke(app, ["import", "charges", str(bad), "-p", SLUG])
    assert human.exit_code == 1
    assert "rejected" in human.output
    assert _count(engine, Encounter) == 0


def test_unknown_practice_and_missing_file(engine: Engine, tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["import", "patients", str(EXAMPLES / "riverside-patients.csv"), "-p", "nope"]
    )
    assert result.exit_code == 1
    assert "no practice" in result.output
    result = runner.invoke(app, ["import", "patients", str(tmp_path / "absent.csv"), "-p", SLUG])
    assert result.exit_code == 1
