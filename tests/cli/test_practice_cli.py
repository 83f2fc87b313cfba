from __future__ import annotations

import json
from pathlib import Path

import yaml
from sqlalchemy import Engine, func
from sqlmodel import Session, select
from typer.testing import CliRunner

from cli.main import app
from rcm.settings import PROJECT_ROOT

runner = CliRunner()
PRACTICES = PROJECT_ROOT / "config" / "practices"
RIVERSIDE = PRACTICES / "riverside-family-medicine.yaml"


def _rows(engine: Engine) -> dict[str, int]:
    from rcm.models import PayerEnrollment, Practice, Provider

    with Session(engine) as session:
        return {
            m.__name__: session.exec(select(func.count()).select_from(m)).one()
            for m in (Practice, Provider, PayerEnrollment)
        }


def test_onboard_list_show(engine: Engine) -> None:
    for path in sorted(PRACTICES.glob("*.yaml")):
        result = runner.invoke(app, ["practice", "onboard", str(path)])
        assert result.exit_code == 0, result.output
    assert _rows(engine)["Practice"] == 3

    again = runner.invoke(app, ["practice", "onboard", str(RIVERSIDE), "--json"])
    assert again.exit_code == 0, again.output
    summary = json.loads(again.stdout)
    assert (summary["created"], summary["updated"]) == (0, 0)
    assert summary["slug"] == "riverside-family-medicine"

    listed = runner.invoke(app, ["practice", "list", "--json"])
    assert listed.exit_code == 0, listed.output
    rows = json.loads(listed.stdout)
    assert [r["slug"] for r in rows] == [
        "conestoga-outpatient-rehab", "riverside-family-medicine", "summit-orthopaedics"
    ]  # fmt: skip
    assert {r["default_claim_type"] for r in rows} == {"professional", "institutional"}
    assert rows[1]["providers"] == 4

    table = runner.invoke(app, ["practice", "list"])
    assert table.exit_code == 0 and "Practices" in table.output

    shown = runner.invoke(app, ["practice", "show", "summit-orthopaedics", "--json"])
    assert shown.exit_code == 0, shown.output
    detail = json.loads(shown.stdout)
    assert detail["practice"]["billing_npi"] == "2030824629"
    assert detail["practice"]["timezone"] == "America/Chicago"
    assert {p["role"] for p in detail["providers"]} == {"rendering", "referring", "facility"}
    group = [e for e in detail["enrollments"] if e["provider_npi"] is None]
    assert {e["payer"] for e in group} >= {"aetna", "cigna", "keystone-wc"}

    human = runner.invoke(app, ["practice", "show", "summit-orthopaedics"])
    assert human.exit_code == 0 and "Payer enrollments" in human.output

    missing = runner.invoke(app, ["practice", "show", "nope"])
    assert missing.exit_code == 1


def test_onboard_with_problems_writes_nothing(engine: Engine, tmp_path: Path) -> None:
    data = yaml.safe_load(RIVERSIDE.read_text())
    data["practice"]["billing_npi"] = "1260181594"
    data["providers"][1]["taxonomy_code"] = "nope"
    data["enrollments"][0]["payer"] = "acme-health"
    data["clearinghouse"]["profile"] = "no-such-clearinghouse"
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(data))
    before = _rows(engine)

    result = runner.invoke(app, ["practice", "onboard", str(bad), "--json"])
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert [(p["file"], p["field"]) for p in report["problems"]] == [
        ("bad.yaml", "practice.billing_npi"),
        ("bad.yaml", "clearinghouse.profile"),
        # the sandbox's env:NAME:-default reference is refused for a real clearinghouse
        ("bad.yaml", "clearinghouse.secret_ref"),
        ("bad.yaml", "providers[1].taxonomy_code"),
        ("bad.yaml", "enrollments[0].payer"),
    ]
    human = runner.invoke(app, ["practice", "onboard", str(bad)])
    assert human.exit_code == 1
    assert "problem" in human.output and "billing_npi" in human.output
    assert _rows(engine) == before == {"Practice": 0, "Provider": 0, "PayerEnrollment": 0}


def test_onboard_unreadable_or_malformed(engine: Engine, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("practice: {slug: x}\n")
    result = runner.invoke(app, ["practice", "onboard", str(bad)])
    assert result.exit_code == 1
    assert "clearinghouse" in result.output
    result = runner.invoke(app, ["practice", "onboard", str(tmp_path / "absent.yaml")])
    assert result.exit_code == 1


def test_onboard_unresolved_secret(engine: Engine, tmp_path: Path) -> None:
    data = yaml.safe_load(RIVERSIDE.read_text())
    data["clearinghouse"]["secret_ref"] = "env:RCM_TEST_SECRET_THAT_IS_NOT_SET"
    bad = tmp_path / "secret.yaml"
    bad.write_text(yaml.safe_dump(data))
    result = runner.invoke(app, ["practice", "onboard", str(bad), "--json"])
    assert result.exit_code == 1
    fields = [p["field"] for p in json.loads(result.stdout)["problems"]]
    assert fields == ["clearinghouse.secret_ref"]


def test_dry_run_writes_nothing(engine: Engine) -> None:
    result = runner.invoke(app, ["practice", "onboard", str(RIVERSIDE), "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "valid" in result.output
    assert _rows(engine)["Practice"] == 0


def test_payers_list_and_sync(engine: Engine) -> None:
    listed = json.loads(runner.invoke(app, ["payers", "list", "--json"]).stdout)
    assert listed and not any(p["in_database"] for p in listed)
    synced = runner.invoke(app, ["payers", "sync", "--json"])
    assert synced.exit_code == 0, synced.output
    assert json.loads(synced.stdout)["created"] == len(listed)
    again = json.loads(runner.invoke(app, ["payers", "sync", "--json"]).stdout)
    assert again == {"created": 0, "updated": 0, "unchanged": len(listed)}
    listed = json.loads(runner.invoke(app, ["payers", "list", "--json"]).stdout)
    assert all(p["in_database"] for p in listed)
    assert runner.invoke(app, ["payers", "list"]).exit_code == 0
