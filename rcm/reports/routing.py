"""Whose is this inbound file? Several practices may share one clearinghouse login (the sandbox
does), so a collector reads each answer's identifiers and looks up the practice it belongs to.
Pure reads: the file's bytes and a Session in, a practice ID (or None) out.

- 999: the functional group it acknowledges (AK102) from the sender it is addressed to
  (ISA08) → our outbound Interchange (sender_id, gs_control_number);
- 277CA: the claims' patient control numbers (CLM01, unique per practice) under the billing
  provider's NPI;
- 835: the payee (rcm.posting.identify_practice: billing NPI, provider NPI or TIN);
- 271: the echoed 270 trace numbers (EligibilityCheck.trace_number).

X12 that cannot be read raises X12Error: the caller quarantines it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from sqlalchemy import select
from sqlmodel import Session, col

from rcm.errors import PostingError
from rcm.models import Claim, Direction, EligibilityCheck, Interchange, Practice


def _one(practice_ids: Iterable[uuid.UUID]) -> uuid.UUID | None:
    found = set(practice_ids)
    return next(iter(found)) if len(found) == 1 else None


def practice_of_999(
    session: Session, data: bytes, *, file_name: str | None = None
) -> uuid.UUID | None:
    from rcm.x12.core import read_transactions
    from rcm.x12.x999 import parse_999

    receiver = ""
    for tx in read_transactions(data, file_name=file_name, strict=False):
        receiver = tx.isa[8].strip()
        break
    groups = []
    for ack in parse_999(data, file_name=file_name, strict=False):
        try:
            groups.append(int(ack.group_control_number))
        except ValueError:
            continue
    if not groups:
        return None
    query = select(col(Interchange.practice_id)).where(
        col(Interchange.direction) == Direction.OUTBOUND.value,
        col(Interchange.gs_control_number).in_(groups),
    )
    if receiver:
        query = query.where(col(Interchange.sender_id) == receiver)
    return _one(session.scalars(query))


def practice_of_277ca(
    session: Session, data: bytes, *, file_name: str | None = None
) -> uuid.UUID | None:
    from rcm.x12.x277ca import parse_277ca

    # CLM01 is unique within a practice only: two practices may both have sent a claim
    # "RIV-1001". The billing provider (2000C NM1*85, NPI) the claim was filed under tells them
    # apart, as rcm.acknowledgments does when it applies the file.
    by_npi: dict[str, set[str]] = {}
    anonymous: set[str] = set()
    for ack in parse_277ca(data, file_name=file_name, strict=False):
        for item in ack.claim_acknowledgments():
            pcn = item.claim.patient_control_number
            if not pcn:
                continue
            provider = item.provider
            if (
                provider is not None
                and provider.name is not None
                and provider.name.id_qualifier == "XX"
            ):
                by_npi.setdefault(provider.name.id, set()).add(pcn)
            else:
                anonymous.add(pcn)
    if not by_npi and not anonymous:
        return None
    found: list[uuid.UUID] = []
    for npi, pcns in by_npi.items():
        found += session.scalars(
            select(col(Claim.practice_id))
            .join(Practice, col(Practice.id) == col(Claim.practice_id))
            .where(col(Practice.billing_npi) == npi, col(Claim.patient_control_number).in_(pcns))
        )
    if anonymous:
        found += session.scalars(
            select(col(Claim.practice_id)).where(col(Claim.patient_control_number).in_(anonymous))
        )
    return _one(found)


def practice_of_835(
    session: Session, data: bytes, *, file_name: str | None = None
) -> uuid.UUID | None:
    from rcm.posting import identify_practice
    from rcm.x12.x835 import parse_835

    found = []
    for remittance in parse_835(data, file_name=file_name, strict=False):
        try:
            found.append(identify_practice(session, remittance).id)
        except PostingError:
            return None
    return _one(found)


def practice_of_271(
    session: Session, data: bytes, *, file_name: str | None = None
) -> uuid.UUID | None:
    from rcm.x12.x271 import parse_271

    traces = {
        trace
        for response in parse_271(data, file_name=file_name, strict=False)
        for trace in response.trace_numbers
    }
    if not traces:
        return None
    return _one(
        session.scalars(
            select(col(EligibilityCheck.practice_id)).where(
                col(EligibilityCheck.trace_number).in_(traces)
            )
        )
    )


FINDERS = {
    "999": practice_of_999,
    "277CA": practice_of_277ca,
    "835": practice_of_835,
    "271": practice_of_271,
}


def practice_of_inbound(
    session: Session, kind: str, data: bytes, *, file_name: str | None = None
) -> uuid.UUID | None:
    """The practice an inbound file of `kind` belongs to; None when it names none or several."""
    finder = FINDERS.get(kind)
    return None if finder is None else finder(session, data, file_name=file_name)


__all__ = [
    "FINDERS",
    "practice_of_271",
    "practice_of_277ca",
    "practice_of_835",
    "practice_of_999",
    "practice_of_inbound",
]
