"""Every 835, 999 and 277CA of ../shared/x12-corpus, judged against what its source says.

Policy (docs/x12.md): the reader is strict by default, so a file whose envelope counts do not
add up is refused; read leniently it parses and the mismatch is recorded as an envelope issue.
Files the source calls invalid must be refused by the strict reader. Files the source calls
valid must parse leniently, with envelope issues exactly where the manifest's automatic
envelope check found them, except the few listed in PARSE_DISAGREEMENTS with the reason.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from rcm.errors import X12Error
from rcm.x12.core import EnvelopeIssue, iter_segments
from rcm.x12.validate import validate
from rcm.x12.x277ca import parse_277ca
from rcm.x12.x835 import balance_835, parse_835
from rcm.x12.x999 import parse_999

PARSERS: dict[str, Callable[..., list[Any]]] = {
    "835": parse_835,
    "999": parse_999,
    "277CA": parse_277ca,
}

# Valid per their source, refused by us, and why.
PARSE_DISAGREEMENTS = {
    "src__tests__resources__835_005010X221A1__cob-contractural-adjustment.835": (
        "ISA16 declares ':' but SVC01 composites use '>'"
    ),
    "src__tests__resources__835_005010X221A1__secondary-payment.835": (
        "ISA16 declares ':' but SVC01 composites use '>'"
    ),
    "src__tests__resources__835_005010X221A1__tertiary-payment.835": (
        "ISA16 declares ':' but SVC01 composites use '>'"
    ),
    "src__tests__resources__835_005010X221A1__managed-care.835": "BPR16 payment date is month 23",
    "tests__test_edi_835_files__blue_cross_nc_sample.txt": "no ISA/GS envelope (starts at ST)",
    "tests__835-example.txt": "4010 file whose segments are prefixed with '~' on each line",
    "tests__835-example-2.txt": "4010 file whose segments are prefixed with '~' on each line",
}

# Valid per their source, rejected by pyx12 (or not checkable by it), and why.
PYX12_DISAGREEMENTS = {
    "tests__test_edi_835_files__test.835": (
        "SE01 off by one; no LX; payer N3/N4/PER missing; BPR10/11 too short"
    ),
    "demo-file__demo.835": "payer PER*BL missing; TS309/TS311 not used",
    "src__tests__resources__835_005010X221A1__medicare-part-a.835": (
        "payer PER*BL missing; TS309/TS311 not used"
    ),
    "tests__test_edi_835_files__nevada_medicaid.txt": (
        "IEA02 differs from ISA13; ISA not fixed width (pyx12 cannot read it)"
    ),
    "src__test__resources__277_5010__x12_277CA_accepted.txt": "2200C STC missing; DTP03 year 1001",
    "src__test__resources__277_5010__x12_277CA_rejected.txt": "2200C STC missing",
    "src__test__resources__837_5010__x12_999_accepted.txt": "IEA02 differs from ISA13",
    "tests__test_edi_835_files__united_healthcare_legacy_sample.txt": "N402 is not a US state code",
    "test__test-files__835__profee-multiple.edi": "156 interchanges reuse one ISA13",
    "src__test__resources__x12__simple999.edi": (
        "CTX after IK3 with situational trigger not in pyx12's 999 map"
    ),
    **PARSE_DISAGREEMENTS,
}

ENVELOPE_MARKS = ("SE01=", "SE02!=", "GE01=", "GE02!=", "IEA01=", "IEA02!=")


def manifest_rows() -> list[dict[str, str]]:
    from tests.conftest import X12_CORPUS

    manifest = X12_CORPUS / "MANIFEST.tsv"
    if not manifest.is_file():
        return []
    with manifest.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    return [r for r in rows if r["transaction_set"] in PARSERS]


ROWS = manifest_rows()
SOURCE_VALID = [r for r in ROWS if not r["valid_or_invalid"].startswith("invalid")]
SOURCE_INVALID = [r for r in ROWS if r["valid_or_invalid"].startswith("invalid")]


def _name(row: dict[str, str]) -> str:
    return row["saved_path"].split("/", 1)[-1]


def _id(row: dict[str, str]) -> str:
    return row["saved_path"].rsplit("/", 1)[-1][-50:]


@pytest.mark.parametrize("row", SOURCE_INVALID, ids=_id)
def test_files_the_source_calls_invalid_are_refused(x12_corpus: Path, row: dict[str, str]) -> None:
    parse = PARSERS[row["transaction_set"]]
    with pytest.raises(X12Error):
        parse(x12_corpus / row["saved_path"])


@pytest.mark.parametrize("row", SOURCE_VALID, ids=_id)
def test_files_the_source_calls_valid_parse(x12_corpus: Path, row: dict[str, str]) -> None:
    path = x12_corpus / row["saved_path"]
    parse = PARSERS[row["transaction_set"]]
    if _name(row) in PARSE_DISAGREEMENTS:
        with pytest.raises(X12Error):
            parse(path, strict=False)
        return
    issues: list[EnvelopeIssue] = []
    parsed = parse(path, strict=False, issues=issues)
    assert parsed
    expects_issue = any(mark in row["notes"] for mark in ENVELOPE_MARKS)
    assert bool(issues) == expects_issue, [str(i) for i in issues]
    if not expects_issue:
        assert parse(path) == parsed
    else:
        with pytest.raises(X12Error):
            parse(path)


def _raw_835_sums(path: Path) -> list[tuple[Decimal, Decimal, Decimal, list[Decimal]]]:
    """Per transaction from the raw segments: BPR02, sum of CLP04, sum of PLB amounts, and
    per claim charge - paid - every CAS amount under it."""
    out: list[tuple[Decimal, Decimal, Decimal, list[Decimal]]] = []
    bpr = clp = plb = Decimal(0)
    claims: list[Decimal] = []
    for seg in iter_segments(path):
        if seg.id == "BPR":
            bpr, clp, plb, claims = Decimal(seg[2]), Decimal(0), Decimal(0), []
        elif seg.id == "CLP":
            clp += Decimal(seg[4])
            claims.append(Decimal(seg[3]) - Decimal(seg[4]))
        elif seg.id == "CAS" and claims:
            for base in range(3, 19, 3):
                if seg[base]:
                    claims[-1] -= Decimal(seg[base])
        elif seg.id == "PLB":
            for base in range(4, 15, 2):
                if seg[base]:
                    plb += Decimal(seg[base])
        elif seg.id == "SE":
            out.append((bpr, clp, plb, claims))
    return out


PARSED_835 = [
    r for r in SOURCE_VALID if r["transaction_set"] == "835" and _name(r) not in PARSE_DISAGREEMENTS
]


@pytest.mark.parametrize("row", PARSED_835, ids=_id)
def test_835_money_and_balancing_match_the_raw_segments(
    x12_corpus: Path, row: dict[str, str]
) -> None:
    path = x12_corpus / row["saved_path"]
    remittances = parse_835(path, strict=False)
    raw = _raw_835_sums(path)
    assert len(raw) == len(remittances)
    for rem, (bpr, clp_sum, plb_sum, claim_diffs) in zip(remittances, raw, strict=True):
        assert sum((c.paid for c in rem.claims), Decimal(0)) == clp_sum
        assert rem.total_paid == bpr
        flags = balance_835(rem)
        assert any(i.level == "transaction" for i in flags) == (bpr != clp_sum - plb_sum)
        flagged_claims = {i.patient_control_number for i in flags if i.level == "claim"}
        expected = {
            c.patient_control_number for c, d in zip(rem.claims, claim_diffs, strict=True) if d
        }
        assert flagged_claims == expected


PYX12_ROWS = [r for r in SOURCE_VALID if r["version"].startswith("005010") or not r["version"]]


@pytest.mark.parametrize("row", PYX12_ROWS, ids=_id)
def test_files_valid_per_source_pass_the_gate(x12_corpus: Path, row: dict[str, str]) -> None:
    report = validate((x12_corpus / row["saved_path"]).read_bytes(), file_name=row["saved_path"])
    if _name(row) in PYX12_DISAGREEMENTS:
        assert not report.valid
    else:
        assert report.valid, [e.describe() for e in report.errors]
        assert report.validator == "pyx12"
        if row["transaction_set"] == "999":
            assert report.ack_999 is None  # acknowledgments are not acknowledged
            return
        assert report.ack_999 is not None
        acks = parse_999(report.ack_999)
        assert acks and all(a.status == "A" for a in acks)
