"""`rcm report kpis` on the hand-built ledger of tests/rcm/reports/test_kpis.py."""

from __future__ import annotations

import json
from pathlib import Path

from sqlmodel import Session
from typer.testing import CliRunner

from cli.main import app
from tests.rcm.reports.test_kpis import seed

ARGS = ["report", "kpis", "--practice", "kpi-test", "--as-of", "2026-03-31", "--period-days", "30"]


def test_kpis_as_json_and_html(session: Session, tmp_path: Path) -> None:
    seed(session)
    html = tmp_path / "kpis.html"
    result = CliRunner().invoke(app, [*ARGS, "--html", str(html), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    kpis = {k["key"]: k for k in data["kpis"]}
    assert data["practice"] == "kpi-test"
    assert kpis["days_in_ar"]["value"] == "26.8"
    assert kpis["net_collection_rate"]["value"] == "17.1"
    assert html.read_bytes().startswith(b"<!doctype html>")


def test_kpis_tables(session: Session) -> None:
    seed(session)
    result = CliRunner().invoke(app, ARGS)
    assert result.exit_code == 0, result.output
    assert "26.8 days" in result.output
    assert "Medicare Test" in result.output
    assert "Top denial reasons" in result.output


def test_unknown_practice_is_refused(session: Session) -> None:
    result = CliRunner().invoke(app, ["report", "kpis", "--practice", "nobody"])
    assert result.exit_code == 1
    assert "no practice" in result.output
