"""`rcm x12 validate` and `rcm x12 parse` through typer's CliRunner."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app

runner = CliRunner()
TEST_835 = "jdavisp3__TigerShark/tests__5010-835-example-1.txt"


def run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["x12", *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.output


def test_parse_json_shape_of_a_corpus_835(x12_corpus: Path) -> None:
    code, out = run("parse", str(x12_corpus / TEST_835), "--json")
    assert code == 0, out
    doc = json.loads(out)
    [tx] = doc["transactions"]
    assert tx["set"] == "835" and tx["version"] == "005010X221A1"
    for key in ("total_paid", "payment_method", "payment_date", "trace_number", "payer", "payee",
                "claims", "provider_adjustments"):  # fmt: skip
        assert key in tx
    assert isinstance(tx["total_paid"], str)
    claim = tx["claims"][0]
    for key in ("patient_control_number", "status", "charge", "paid", "patient_responsibility",
                "payer_claim_control_number", "adjustments", "services"):  # fmt: skip
        assert key in claim
    service = claim["services"][0]
    for key in ("procedure", "modifiers", "charge", "paid", "units", "service_date",
                "adjustments", "remarks"):  # fmt: skip
        assert key in service
    adjustments = [a for c in tx["claims"] for s in c["services"] for a in s["adjustments"]]
    assert adjustments and set(adjustments[0]) >= {"group", "reason", "amount", "quantity"}
    paid = sum(float(c["paid"]) for c in tx["claims"])
    assert abs(paid - float(tx["total_paid"])) < 0.005 or tx["provider_adjustments"]


def test_validate_exit_codes_and_ack(x12_corpus: Path, tmp_path: Path) -> None:
    ack = tmp_path / "out.999"
    code, out = run("validate", str(x12_corpus / TEST_835), "--ack", str(ack))
    assert code == 0, out
    assert ack.read_bytes().startswith(b"ISA")
    bad = x12_corpus / "CHS-CDS-AIML__edi-835-parser/tests__test_edi_835_files__test.835"
    code, out = run("validate", str(bad))
    assert code == 1
    assert "SE" in out and "Traceback" not in out


def test_validate_json(x12_corpus: Path) -> None:
    bad = x12_corpus / "CHS-CDS-AIML__edi-835-parser/tests__test_edi_835_files__test.835"
    code, out = run("validate", str(bad), "--json")
    assert code == 1
    doc = json.loads(out)
    assert doc["valid"] is False and doc["errors"][0]["segment_number"]


@pytest.mark.parametrize("command", ["parse", "validate"])
def test_broken_file_exits_1_with_position_and_no_traceback(tmp_path: Path, command: str) -> None:
    broken = tmp_path / "broken.835"
    broken.write_bytes(
        b"ISA*00*          *00*          *ZZ*A              *ZZ*B              *260101*1200*^*"
        b"00501*000000001*0*P*:~GS*HP*A*B*20260101*1200*1*X*005010X221A1~ST*835*0001~BPR*I*1"
    )
    result = runner.invoke(app, ["x12", command, str(broken)])
    assert result.exit_code == 1
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit)
    text = result.output + (result.stderr if result.stderr_bytes is not None else "")
    assert "Traceback" not in text
    if command == "parse":
        assert "broken.835" in text and "segment 4" in text and "offset" in text


def test_parse_837_uses_the_837_parser(x12_corpus: Path) -> None:
    code, out = run("parse", str(x12_corpus / "LinuxForHealth__x12/demo-file__demo.837"), "--json")
    assert code == 0, out
    [tx] = json.loads(out)["transactions"]
    assert tx["set"] == "837"
    claim = tx["claims"][0]
    for key in ("patient_control_number", "charge", "frequency", "diagnoses", "services"):
        assert key in claim
    assert set(claim["services"][0]) >= {"procedure", "modifiers", "charge", "units"}
