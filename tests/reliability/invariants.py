"""The invariants every fault, crash and race must leave intact, checked against the database and
the clearinghouse's own folders (what it could have picked up), not against what the flows say.

- every claim is in exactly one uploaded interchange, or in none;
- no file was uploaded twice (the server's rename-arrival hook counts every upload);
- no ISA13 / GS06 control number was used for two interchanges, in the files or the database;
- no payment was posted twice: one Remittance per (payer, trace), one ClaimPayment per
  (remittance, claim), one charge entry per service line;
- the ledger balances: per claim, payer payments in the ledger equal the ClaimPayment rows, and
  no claim owes less than nothing;
- no partial or temporary file is left where the clearinghouse picks files up.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

# Totals over the session, reported by conftest.py at the end of the run.
TOTALS: dict[str, int] = {"invariant checks": 0, "duplicates found": 0}


@dataclass
class Figures:
    files: int = 0
    claims_in_files: int = 0
    remittances: int = 0
    claim_payments: int = 0
    ledger_entries: int = 0
    duplicates: int = 0


def x12_segments(data: bytes) -> list[list[str]]:
    text = data.decode("latin-1")
    element = text[3]
    terminator = text[105]
    return [s.strip().split(element) for s in text.split(terminator) if s.strip()]


def claims_and_controls(path: Path) -> tuple[list[str], str, str]:
    """(CLM01s, ISA13, GS06) of an 837 file."""
    segments = x12_segments(path.read_bytes())
    clm = [s[1] for s in segments if s[0] == "CLM"]
    isa13 = next(s[13] for s in segments if s[0] == "ISA")
    gs06 = next(s[6] for s in segments if s[0] == "GS")
    return clm, isa13, gs06


TEMP_NAME = re.compile(r"(\.tmp|\.part|\.partial|^\.|~$)")


def check_invariants(
    firm: Any, *, expect_all_submitted: bool = False, after_crash: bool = False
) -> Figures:
    """Assert every invariant; `after_crash` tolerates the temporary upload name (a dot file
    the clearinghouse never picks up, replaced by the next upload) that a killed upload leaves."""
    from rcm.models import (
        Claim,
        ClaimPayment,
        ClaimStatus,
        ControlNumber,
        ControlNumberKind,
        Direction,
        Interchange,
        InterchangeKind,
        InterchangeStatus,
        LedgerEntry,
        LedgerKind,
        Remittance,
    )

    figures = Figures()
    problems: list[str] = []

    # Files the clearinghouse holds (and so could pick up).
    files = firm.outbound_837s()
    figures.files = len(files)
    partial = [p.name for p in firm.remote_files("outbound") if TEMP_NAME.search(p.name)]
    if after_crash:
        partial = [n for n in partial if not (n.startswith(".") and n.endswith(".part"))]
    if partial:
        problems.append(f"temporary or partial files left for pickup: {partial}")
    pcn_count: Counter[str] = Counter()
    isa_count: Counter[str] = Counter()
    for path in files:
        segments = x12_segments(path.read_bytes())
        if not segments or segments[-1][0] != "IEA":
            problems.append(f"{path.name} is not a whole interchange (partial upload)")
            continue
        pcns, isa13, _gs06 = claims_and_controls(path)
        pcn_count.update(pcns)
        isa_count[isa13] += 1
    figures.claims_in_files = sum(pcn_count.values())
    twice = sorted(p for p, n in pcn_count.items() if n > 1)
    if twice:
        problems.append(f"claims in more than one uploaded file: {twice}")
    reused = sorted(i for i, n in isa_count.items() if n > 1)
    if reused:
        problems.append(f"ISA13 used by more than one uploaded file: {reused}")
    arrivals = Counter(name for name in firm.arrivals if "_837" in name)
    uploaded_twice = sorted(n for n, c in arrivals.items() if c > 1)
    if uploaded_twice:
        problems.append(f"files uploaded twice: {uploaded_twice}")

    with Session(firm.engine) as session:
        # Control numbers, in the database.
        control_dupes = session.exec(
            select(ControlNumber.sender_id, ControlNumber.kind, ControlNumber.value)
            .where(col(ControlNumber.kind).in_([ControlNumberKind.ISA, ControlNumberKind.GS]))
            .group_by(ControlNumber.sender_id, ControlNumber.kind, ControlNumber.value)
            .having(func.count() > 1)
        ).all()
        if control_dupes:
            problems.append(f"control numbers allocated twice: {control_dupes}")
        outbound = session.exec(
            select(Interchange).where(
                Interchange.direction == Direction.OUTBOUND,
                col(Interchange.kind).in_([InterchangeKind.CLAIM_837P, InterchangeKind.CLAIM_837I]),
            )
        ).all()
        isa_db = Counter((i.sender_id, i.isa_control_number) for i in outbound)
        if any(n > 1 for n in isa_db.values()):
            problems.append("two interchange rows share an ISA13")
        uploaded_rows = [
            i for i in outbound if i.status != InterchangeStatus.ASSIGNED and i.uploaded_at
        ]
        remote_names = {p.name for p in files}
        for row in uploaded_rows:
            if row.file_name and row.file_name not in remote_names:
                problems.append(f"interchange {row.id} recorded uploaded but not on the server")

        # Claims: every submitted-or-later claim is in exactly one file; no claim in a file is
        # still READY/BATCHED-with-no-upload forever (a rerun finishes it).
        claims = session.exec(select(Claim)).all()
        in_flight = {
            ClaimStatus.SUBMITTED,
            ClaimStatus.ACCEPTED,
            ClaimStatus.REJECTED,
            ClaimStatus.PAID,
            ClaimStatus.PARTIAL,
            ClaimStatus.DENIED,
        }
        for claim in claims:
            n = pcn_count.get(claim.patient_control_number, 0)
            if claim.status in in_flight and n != 1:
                problems.append(f"claim {claim.id} is {claim.status} but in {n} uploaded file(s)")
            if expect_all_submitted and claim.status in {ClaimStatus.READY, ClaimStatus.BATCHED}:
                problems.append(f"claim {claim.id} left {claim.status} after the rerun")
        known = {c.patient_control_number for c in claims}
        strays = sorted(set(pcn_count) - known)
        if strays:
            problems.append(f"uploaded claims the database does not know: {strays}")

        # Payments.
        remittances = session.exec(select(Remittance)).all()
        figures.remittances = len(remittances)
        traces = Counter((r.payer_identifier, r.trace_number) for r in remittances)
        if any(n > 1 for n in traces.values()):
            problems.append(f"an 835 posted twice: {[t for t, n in traces.items() if n > 1]}")
        payments = session.exec(select(ClaimPayment)).all()
        figures.claim_payments = len(payments)
        # A remittance may both reverse (CLP02 22) and re-adjudicate one claim; the same CLP
        # (claim, status) twice in one remittance is a double post.
        per_claim = Counter(
            (p.remittance_id, p.patient_control_number, p.status_code, p.paid) for p in payments
        )
        if any(n > 1 for n in per_claim.values()):
            problems.append("a claim payment posted twice within one remittance")
        entries = session.exec(select(LedgerEntry)).all()
        figures.ledger_entries = len(entries)
        charges = Counter(
            e.service_line_id
            for e in entries
            if e.kind == LedgerKind.CHARGE and e.amount > 0 and e.reverses_entry_id is None
        )
        if any(n > 1 for n in charges.values()):
            problems.append("a service line charged twice in the ledger")
        paid_by_claim: dict[Any, Decimal] = {}
        for p in payments:
            if p.claim_id is not None:
                paid_by_claim[p.claim_id] = paid_by_claim.get(p.claim_id, Decimal(0)) + p.paid
        ledger_paid: dict[Any, Decimal] = {}
        balance: dict[Any, Decimal] = {}
        by_id = {e.id: e for e in entries}
        for e in entries:
            if e.claim_id is None:
                continue
            balance[e.claim_id] = balance.get(e.claim_id, Decimal(0)) + e.amount
            reversed_entry = by_id.get(e.reverses_entry_id) if e.reverses_entry_id else None
            if e.kind == LedgerKind.PAYER_PAYMENT or (
                reversed_entry is not None and reversed_entry.kind == LedgerKind.PAYER_PAYMENT
            ):
                ledger_paid[e.claim_id] = ledger_paid.get(e.claim_id, Decimal(0)) - e.amount
        for claim_id, paid in paid_by_claim.items():
            if ledger_paid.get(claim_id, Decimal(0)) != paid:
                problems.append(
                    f"claim {claim_id}: ledger payer payments {ledger_paid.get(claim_id)} "
                    f"!= remittance payments {paid}"
                )
        negative = [c for c, b in balance.items() if b < 0]
        if negative:
            problems.append(f"claims with a negative balance (overposted): {negative}")

    figures.duplicates = len(twice) + len(reused) + len(uploaded_twice) + len(control_dupes)
    TOTALS["invariant checks"] += 1
    TOTALS["duplicates found"] += figures.duplicates + sum(
        1 for p in problems if "twice" in p or "more than one" in p
    )
    assert not problems, "\n".join(problems)
    return figures
