"""A 270 gets a 999 and a 271 answered from the member roster."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from rcm.x12 import x271, x999
from rcm.x12.validate import validate
from sandbox.adjudicator import Adjudicator
from tests.sandbox.helpers import (
    ACCOUNT,
    LATER,
    NOW,
    ClaimSpec,
    build_270,
    build_837,
    make_config,
    write_roster,
)

ASKED = [
    ("W100000001", "DOE", "JANE"),  # active, copay plan
    ("W100000005", "WHITE", "SAM"),  # coverage ended 2026-01-31
    ("NOSUCH1", "X", "Y"),  # not in the roster
    ("AB-12", "X", "Y"),  # not an ID at all
    ("W100000002", "SMYTHE", "JOHN"),  # name does not match
    ("W100000003", "BROWN", "ALEX"),  # a UnitedHealthcare member asked of Aetna
]


def answers(tmp_path: Path, data: bytes, adjudicator: Adjudicator | None = None) -> list[Any]:
    if adjudicator is None:
        root = tmp_path / "root"
        write_roster(root)
        adjudicator = Adjudicator(root, make_config(tmp_path), 7, clock=lambda: NOW)
    outcome = adjudicator.process(ACCOUNT, "elig.x12", data)
    ack_path, path = outcome.files
    assert ack_path.parent.name == "999" and path.parent.name == "271"
    [ack] = x999.parse_999(ack_path.read_bytes())
    assert ack.status == "A" and ack.functional_id == "HS"
    report = validate(path.read_bytes())
    assert report.valid, [e.describe() for e in report.errors]
    return [r.coverage() for r in x271.parse_271(path.read_bytes())]


def test_270_gets_271s_from_the_roster(tmp_path: Path) -> None:
    doe, white, unknown, malformed, misnamed, other_payer = answers(tmp_path, build_270(ASKED))
    assert doe["status"] == "active" and doe["plan"] == "PPO"
    assert doe["dates"]["346"]["start"] == "2026-01-01"
    assert [c["amount"] for c in doe["copay"]] == ["25"]
    assert [c["percent"] for c in doe["coinsurance"]] == ["0.2"]
    assert [(d["amount"], d["remaining"]) for d in doe["deductible"]] == [("100", True)]
    assert [d["amount"] for d in doe["out_of_pocket"]] == ["1000"]
    assert white["status"] == "inactive" and white["dates"]["347"]["start"] == "2026-01-31"
    for answer, code in ((unknown, "75"), (malformed, "72"), (misnamed, "73"), (other_payer, "75")):
        assert answer["status"] == "rejected"
        assert [r["reason_code"] for r in answer["rejections"]] == [code]


def test_other_payer_and_remaining_after_a_paid_claim(tmp_path: Path) -> None:
    root = tmp_path / "root"
    write_roster(root)
    adjudicator = Adjudicator(root, make_config(tmp_path), 7, clock=lambda: NOW)
    [green] = answers(
        tmp_path, build_270([("1EG4TE5MK73", "GREEN", "PAT")], payer_id="12502"), adjudicator
    )
    assert green["status"] == "active"
    assert green["other_payers"] == [
        {"name": "PENNSYLVANIA MEDICAL ASSISTANCE", "payer_id": "PAMCD",
         "service_types": ["30"], "insurance_type": None},
    ]  # fmt: skip
    assert green["out_of_pocket"] == []  # no cap in the roster
    # SMITH pays deductible and coinsurance on a visit; the next 271 says what is left.
    claim = ClaimSpec("P1", "W100000002", "SMITH", "JOHN")
    adjudicator.process(ACCOUNT, "claims.x12", build_837([claim]))
    adjudicator.run_cycle(LATER)
    [smith] = answers(
        tmp_path,
        build_270([("W100000002", "SMITH", "JOHN")], control=21),
        Adjudicator(root, make_config(tmp_path), 7, clock=lambda: LATER + timedelta(hours=1)),
    )
    # 99213 at Aetna: 95 allowed, 50 deductible, 20 % of 45 = 9 coinsurance.
    assert [d["amount"] for d in smith["deductible"]] == ["0"]
    assert [d["amount"] for d in smith["out_of_pocket"]] == [str(Decimal("3000") - 59)]


def test_same_270_twice_is_answered_twice(tmp_path: Path) -> None:
    root = tmp_path / "root"
    write_roster(root)
    adjudicator = Adjudicator(root, make_config(tmp_path), 7, clock=lambda: NOW)
    data = build_270(ASKED[:1])
    first = answers(tmp_path, data, adjudicator)
    second = answers(tmp_path, data, adjudicator)
    assert first == second
