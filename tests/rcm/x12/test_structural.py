"""Structural checks for sets pyx12 cannot check (270/271/276, and the HL skeleton of any)."""

from __future__ import annotations

import pytest

from rcm.x12.core import read_transactions
from rcm.x12.structural import StructuralIssue, check_segments, check_structure

GOOD_270_BODY = [
    "BHT*0022*13*R1*20260301*0800",
    "HL*1**20*1",
    "NM1*PR*2*PLAN*****PI*99999",
    "HL*2*1*21*1",
    "NM1*1P*2*CLINIC*****XX*1234567893",
    "HL*3*2*22*0",
    "TRN*1*T1*1123456789",
    "NM1*IL*1*TESTER*PAT****MI*M1",
    "DMG*D8*19700101*F",
    "EQ*30",
]


def wrap(body: list[str], set_id: str = "270", version: str = "005010X279A1",
         se_count: int | None = None) -> bytes:  # fmt: skip
    functional = {"270": "HS", "271": "HB", "276": "HR", "277": "HN", "837": "HC"}[set_id]
    count = se_count if se_count is not None else len(body) + 2
    text = (
        "ISA*00*          *00*          *ZZ*PRACTICE       *ZZ*PAYER          *260301*0800*^*"
        f"00501*000000001*0*P*:~GS*{functional}*PRACTICE*PAYER*20260301*0800*1*X*{version}~"
        f"ST*{set_id}*0001*{version}~" + "~".join(body) + f"~SE*{count}*0001~GE*1*1~"
        "IEA*1*000000001~"
    )
    return text.encode()


def issues(body: list[str], set_id: str = "270", **kw: object) -> list[StructuralIssue]:
    data = wrap(body, set_id, **kw)  # type: ignore[arg-type]
    return [i for tx in read_transactions(data, strict=False) for i in check_structure(tx)]


def codes(found: list[StructuralIssue]) -> list[str]:
    return [i.code for i in found]


def test_a_good_270_has_no_issues() -> None:
    assert issues(GOOD_270_BODY) == []


def test_se_count_is_checked() -> None:
    found = issues(GOOD_270_BODY, se_count=99)
    assert codes(found) == ["se-count"]
    assert found[0].segment_id == "SE"


def test_hl_numbering_and_duplicates() -> None:
    body = [s.replace("HL*3*2*22*0", "HL*5*2*22*0") for s in GOOD_270_BODY]
    assert codes(issues(body)) == ["hl-number"]
    body = [s.replace("HL*3*2*22*0", "HL*2*2*22*0") for s in GOOD_270_BODY]
    assert "hl-duplicate" in codes(issues(body))


def test_hl_parent_must_exist_and_be_the_right_level() -> None:
    body = [s.replace("HL*3*2*22*0", "HL*3*9*22*0") for s in GOOD_270_BODY]
    assert "hl-parent" in codes(issues(body))
    body = [s.replace("HL*3*2*22*0", "HL*3*1*22*0") for s in GOOD_270_BODY]
    found = issues(body)
    assert "hl-parent" in codes(found)
    assert any("must sit under level 21" in i.message for i in found)
    body = [s.replace("HL*1**20*1", "HL*1*1*20*1") for s in GOOD_270_BODY]
    assert "hl-parent" in codes(issues(body))


def test_hl_child_codes_match_the_tree() -> None:
    body = [s.replace("HL*3*2*22*0", "HL*3*2*22*1") for s in GOOD_270_BODY]
    assert codes(issues(body)) == ["hl-child-code"]
    body = [s.replace("HL*2*1*21*1", "HL*2*1*21*0") for s in GOOD_270_BODY]
    assert codes(issues(body)) == ["hl-child-code"]
    body = [s.replace("HL*3*2*22*0", "HL*3*2*22*X") for s in GOOD_270_BODY]
    assert "hl-child-code" in codes(issues(body))


def test_unknown_level_and_missing_entity() -> None:
    body = [s.replace("HL*3*2*22*0", "HL*3*2*99*0") for s in GOOD_270_BODY]
    assert "hl-level" in codes(issues(body))
    body = [s for s in GOOD_270_BODY if not s.startswith("NM1*IL")]
    assert "missing-segment" in codes(issues(body))


def test_header_and_order() -> None:
    assert "header" in codes(issues(GOOD_270_BODY[1:]))
    body = [*GOOD_270_BODY[:6], "EQ*30", "TRN*1*T1*1123456789", "NM1*IL*1*TESTER*PAT****MI*M1"]
    assert "order" in codes(issues(body))


def test_nm102_code() -> None:
    body = [s.replace("NM1*IL*1*", "NM1*IL*9*") for s in GOOD_270_BODY]
    found = issues(body)
    assert codes(found) == ["element"]
    assert "TESTER" not in found[0].message


def test_837_header_needs_submitter_and_receiver() -> None:
    body = [
        "BHT*0019*00*B1*20260301*0800*CH",
        "NM1*41*2*BILLING*****46*SUB1",
        "HL*1**20*1",
        "NM1*85*2*CLINIC*****XX*1234567893",
        "HL*2*1*22*0",
        "SBR*P*18*******CI",
        "NM1*IL*1*TESTER*PAT****MI*M1",
    ]
    found = issues(body, "837", version="005010X222A1")
    assert [(i.code, i.message) for i in found] == [("header", "header lacks NM1*40")]


def test_276_levels() -> None:
    body = [
        "BHT*0010*13*R1*20260301*0800",
        "HL*1**20*1",
        "NM1*PR*2*PLAN*****PI*99999",
        "HL*2*1*21*1",
        "NM1*41*2*BILLING*****46*SUB1",
        "HL*3*2*19*1",
        "NM1*1P*2*CLINIC*****XX*1234567893",
        "HL*4*3*22*0",
        "DMG*D8*19700101*F",
        "NM1*IL*1*TESTER*PAT****MI*M1",
        "TRN*1*T1",
    ]
    assert issues(body, "276", version="005010X212") == []
    skipped = [s.replace("HL*4*3*22*0", "HL*4*2*22*0") for s in body]
    assert "hl-parent" in codes(issues(skipped, "276", version="005010X212"))


def test_unknown_set_is_reported_not_raised() -> None:
    found = check_segments("999", [])
    assert codes(found) == ["unknown-set"]


@pytest.mark.parametrize("set_id", ["270", "271", "276", "277", "837"])
def test_no_hl_at_all(set_id: str) -> None:
    assert "no-hl" in codes(check_segments(set_id, []))
