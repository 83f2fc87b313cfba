"""Every 835 of ../shared/x12-corpus that parses posts with a balanced ledger when its claims are
seeded from the file itself; files that do not balance, or repeat a payer and trace number, are
refused whole."""

from __future__ import annotations

import csv
from collections import Counter
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlmodel import Session, col

from rcm.errors import X12Error
from rcm.models import (
    Claim,
    ClaimStatus,
    Coverage,
    Encounter,
    LedgerEntry,
    LedgerKind,
    Patient,
    Practice,
    Remittance,
    Responsible,
    ServiceLine,
)
from rcm.posting import DuplicateRemittanceError, UnbalancedRemittanceError, post_835_file
from rcm.posting.matching import billed_procedure
from rcm.x12.x835 import balance_835, parse_835
from tests.rcm.posting.helpers import balance, count_rows, make_payer

D = Decimal


def _rows() -> list[dict[str, str]]:
    from tests.conftest import X12_CORPUS

    manifest = X12_CORPUS / "MANIFEST.tsv"
    if not manifest.is_file():
        return []
    with manifest.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    return [
        r
        for r in rows
        if r["transaction_set"] == "835" and not r["valid_or_invalid"].startswith("invalid")
    ]


ROWS = _rows()


def _id(row: dict[str, str]) -> str:
    return row["saved_path"].rsplit("/", 1)[-1][-45:]


def _seed(session: Session, data: bytes) -> list:
    remittances = parse_835(data, strict=False)
    payer = make_payer(session, "corpus")
    practices: dict[tuple[str, str], Practice] = {}
    seen: set[tuple[str, str]] = set()
    for n, rem in enumerate(remittances):
        key = (rem.payee.id_qualifier, rem.payee.id)
        if key not in practices:
            npi = rem.payee.id if key[0] == "XX" else f"{n:010d}"
            tin = rem.payee.id.replace("-", "")[:9] if key[0] == "FI" else f"{n:09d}"
            practice = Practice(
                slug=f"p{len(practices)}",
                name="corpus",
                billing_npi=npi,
                tin=tin,
                taxonomy_code="207Q00000X",
                address1="x",
                city="x",
                state="IL",
                zip="62701",
                clearinghouse="corpus",
                clearinghouse_account="x",
            )
            session.add(practice)
            session.flush()
            practices[key] = practice
        practice = practices[key]
        for clp in rem.claims:
            pcn = clp.patient_control_number
            if clp.status == "22" or len(pcn) > 20 or (str(practice.id), pcn) in seen:
                continue
            seen.add((str(practice.id), pcn))
            patient = Patient(
                practice_id=practice.id,
                account_number=f"A{len(seen)}",
                first_name="T",
                last_name="P",
                birth_date=date(1970, 1, 1),
            )
            session.add(patient)
            session.flush()
            coverage = Coverage(
                practice_id=practice.id, patient_id=patient.id, payer_id=payer.id, member_id="M"
            )
            session.add(coverage)
            session.flush()
            dates = [s.service_date for s in clp.services if s.service_date]
            first = min(dates) if dates else date(2020, 1, 1)
            encounter = Encounter(
                practice_id=practice.id,
                external_id=f"E{len(seen)}",
                patient_id=patient.id,
                coverage_id=coverage.id,
                payer_id=payer.id,
                service_date=first,
            )
            session.add(encounter)
            session.flush()
            services = clp.services or []
            for number, svc in enumerate(services, start=1):
                qualifier, code, modifiers = billed_procedure(svc)
                session.add(
                    ServiceLine(
                        practice_id=practice.id,
                        encounter_id=encounter.id,
                        line_number=number,
                        procedure_code="" if qualifier == "NU" else code[:5],
                        revenue_code=code[:4] if qualifier == "NU" else (svc.revenue_code or None),
                        modifiers=list(modifiers),
                        charge=svc.charge,
                        service_date=svc.service_date,
                    )
                )
            if not services:
                session.add(
                    ServiceLine(
                        practice_id=practice.id,
                        encounter_id=encounter.id,
                        line_number=1,
                        procedure_code="99499",
                        charge=clp.charge,
                    )
                )
            session.add(
                Claim(
                    practice_id=practice.id,
                    encounter_id=encounter.id,
                    patient_id=patient.id,
                    coverage_id=coverage.id,
                    payer_id=payer.id,
                    patient_control_number=pcn,
                    status=ClaimStatus.ACCEPTED,
                    total_charge=clp.charge,
                    service_date_from=first,
                    service_date_to=first,
                )
            )
            session.flush()
    return remittances


@pytest.mark.parametrize("row", ROWS, ids=_id)
def test_corpus_835_posts_balanced(session: Session, x12_corpus: Path, row: dict) -> None:
    path = x12_corpus / row["saved_path"]
    data = path.read_bytes()
    try:
        remittances = _seed(session, data)
    except X12Error:
        pytest.skip("the 835 parser refuses this file (tests/rcm/x12/test_corpus.py says why)")
    before = count_rows(session, LedgerEntry, Remittance, Claim)
    traces = Counter((r.trace.originator_id, r.trace.number) for r in remittances)
    if any(balance_835(r) for r in remittances):
        with pytest.raises(UnbalancedRemittanceError):
            post_835_file(session, data, clearinghouse="corpus", file_name=path.name)
        assert count_rows(session, LedgerEntry, Remittance, Claim) == before
        return
    if max(traces.values()) > 1:
        with pytest.raises(DuplicateRemittanceError), session.begin_nested():
            post_835_file(session, data, clearinghouse="corpus", file_name=path.name)
        assert count_rows(session, LedgerEntry, Remittance) == {
            "LedgerEntry": before["LedgerEntry"],
            "Remittance": before["Remittance"],
        }
        return
    result = post_835_file(session, data, clearinghouse="corpus", file_name=path.name)
    assert len(result.remittances) == len(remittances)
    pcn_counts = Counter(c.patient_control_number for r in remittances for c in r.claims)
    for rem, posted in zip(remittances, result.remittances, strict=True):
        entries = list(
            session.scalars(
                select(LedgerEntry).where(col(LedgerEntry.remittance_id) == posted.remittance_id)
            )
        )
        cash = sum(
            (
                e.amount
                for e in entries
                if e.kind in (LedgerKind.PAYER_PAYMENT, LedgerKind.PROVIDER_ADJUSTMENT)
            ),
            D(0),
        )
        if posted.unmatched:
            # PCNs longer than CLM01 allows (20) cannot be claims of ours: they wait in the
            # unmatched queue and only the PLB reached the ledger.
            assert posted.unmatched == sum(len(c.patient_control_number) > 20 for c in rem.claims)
        elif not any(c.status == "22" for c in rem.claims):
            assert cash == -rem.total_paid
        for clp in rem.claims:
            if (
                pcn_counts[clp.patient_control_number] != 1
                or clp.status not in ("1", "2", "3", "4", "19", "20", "21")
                or len(clp.patient_control_number) > 20
            ):
                continue
            claim = session.scalars(
                select(Claim).where(
                    col(Claim.practice_id) == posted.practice_id,
                    col(Claim.patient_control_number) == clp.patient_control_number,
                )
            ).one()
            patient_share = sum((a.amount for a in clp.adjustments if a.group == "PR"), D(0)) + sum(
                (a.amount for s in clp.services for a in s.adjustments if a.group == "PR"), D(0)
            )
            pid = posted.practice_id
            assert balance(session, pid, claim_id=claim.id, responsible=Responsible.PAYER) == 0
            assert (
                balance(session, pid, claim_id=claim.id, responsible=Responsible.PATIENT)
                == patient_share
            )
            assert claim.status in (ClaimStatus.PAID, ClaimStatus.PARTIAL, ClaimStatus.DENIED)
