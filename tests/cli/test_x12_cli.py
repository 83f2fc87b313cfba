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
    for key in (
        "total_paid",
        "payment_method",
        "payment_date",
        "trace_number",
        "payer",
        "payee",
        "claims",
        "provider_adjustments",
    ):
        assert key in tx
    assert isinstance(tx["total_paid"], str)
    claim = tx["claims"][0]
    for key in (
        "patient_control_number",
        "status",
        "charge",
        "paid",
        "patient_responsibility",
        "payer_claim_control_number",
        "adjustments",
        "services",
    ):
        assert key in claim
    service = claim["services"][0]
    for key in (
        "procedure",
        "modifiers",
        "charge",
        "paid",
        "units",
        "service_date",
        "adjustments",
        "remarks",
    ):
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


def test_parse_json_of_built_999_and_277ca(tmp_path: Path) -> None:
    from rcm.x12.x277ca import build_277ca
    from rcm.x12.x999 import build_999
    from tests.rcm.x12.test_x277ca import ENVELOPE as ENV_277
    from tests.rcm.x12.test_x277ca import sample
    from tests.rcm.x12.test_x999 import ENVELOPE as ENV_999
    from tests.rcm.x12.test_x999 import rejected_ack

    ack = tmp_path / "ack.999"
    ack.write_bytes(build_999([rejected_ack()], ENV_999))
    code, out = run("parse", str(ack), "--json")
    assert code == 0, out
    [tx] = json.loads(out)["transactions"]
    assert tx["set"] == "999" and tx["status"] == "P"
    assert tx["transactions"][1]["segment_errors"][0]["segment_id"] == "CLM"

    status = tmp_path / "status.277"
    status.write_bytes(build_277ca([sample()], ENV_277))
    code, out = run("parse", str(status), "--json")
    assert code == 0, out
    [tx] = json.loads(out)["transactions"]
    assert tx["set"] == "277" and tx["version"] == "005010X214"
    verdicts = {c["patient_control_number"]: c["accepted"] for c in tx["claims"]}
    assert verdicts == {"PCN-1": True, "PCN-2": False}
    assert tx["claims"][0]["billed_amount"] == "100"


def test_validate_a_built_835_without_the_corpus(tmp_path: Path) -> None:
    from tests.rcm.x12.test_validate import valid_835

    good = tmp_path / "good.835"
    good.write_bytes(valid_835())
    code, out = run("validate", str(good), "--ack", str(tmp_path / "good.999"))
    assert code == 0, out
    assert (tmp_path / "good.999").read_bytes().startswith(b"ISA")
    bad = tmp_path / "bad.835"
    bad.write_bytes(valid_835(filing_indicator="", last_name="ZYXWVUT"))
    code, out = run("validate", str(bad))
    assert code == 1 and "CLP06" in out and "ZYXWVUT" not in out


@pytest.mark.parametrize(
    ("path", "set_id"),
    [
        ("LinuxForHealth__x12/demo-file__demo.271", "271"),
        ("LinuxForHealth__x12/demo-file__demo.277", "277"),
        ("LinuxForHealth__x12/demo-file__demo.270", "270"),
    ],
)
def test_parse_json_of_eligibility_and_status_sets(
    x12_corpus: Path, path: str, set_id: str
) -> None:
    code, out = run("parse", str(x12_corpus / path), "--json")
    assert code == 0, out
    entries = json.loads(out)["transactions"]
    assert entries and all(e["set"] == set_id and e["version"] for e in entries)
