"""Whose is this inbound file? Several practices may share one clearinghouse login (the sandbox
does), so a collector reads each answer's identifiers and looks up the practice it belongs to.
Pure reads: the file's bytes and a Session in, a practice ID (or None) out.

- 999: the functional group it acknowledges (AK102) from the sender it is addressed to
  (ISA08) → our outbound Interchange (sender_id, gs_control_number);
- 277CA: the claims' patient control numbers (CLM01, unique per practice) under the billing
  provider's NPI;
- 835: the payee (rcm.posting.identify_practice: billing NPI, provider NPI or TIN);
- 271: the echoed 270 trace numbers (EligibilityCheck.trace_number).

Routing reads only what it needs: the 835's payee header, the 277CA's HL tree with its billing
provider NM1s and claim TRNs, the 271's HL tree with its members' TRNs. The segments are
still tokenized (the envelope is checked as the full parsers check it), but claims, benefits,
dates and amounts are not built. Whenever that light reading finds no single practice, or
fails, the full parser reads the file too, so a file that names no practice of ours gets the
same answer, or the same X12Error, as before. A file that does name one practice is routed to
it even if its body is broken further down: that practice's processing step parses it fully
and refuses it with the parser's error.

X12 that cannot be read raises X12Error: the caller quarantines it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable

from sqlalchemy import select
from sqlmodel import Session, col

from rcm.errors import PostingError, X12Error
from rcm.models import Claim, Direction, EligibilityCheck, Interchange, Practice


def _one(practice_ids: Iterable[uuid.UUID]) -> uuid.UUID | None:
    found = set(practice_ids)
    return next(iter(found)) if len(found) == 1 else None


def _routed(
    light: Callable[[], uuid.UUID | None], full: Callable[[], uuid.UUID | None]
) -> uuid.UUID | None:
    """The light reading's practice. When it finds none, or fails, the answer is the full
    reading's: the same None, or the same error for the caller to quarantine the file with."""
    try:
        found = light()
    except X12Error:
        found = None
    return found if found is not None else full()


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


def _277ca_claims(data: bytes, file_name: str | None) -> tuple[dict[str, set[str]], set[str]]:
    """The patient control numbers (TRN02 of each patient level) of a 277CA, by the NPI of the
    billing provider level above them (its last NM1, when qualified XX), or without one: the
    HL tree `parse_277ca` builds, keeping only levels, names and claim numbers."""
    from rcm.x12.core import read_transactions
    from rcm.x12.x277ca import LEVEL_PATIENT, LEVEL_PROVIDER

    by_npi: dict[str, set[str]] = {}
    anonymous: set[str] = set()
    for tx in read_transactions(data, file_name=file_name, strict=False):
        if tx.set_id != "277":
            raise X12Error(f"transaction set {tx.set_id!r} is not a 277")
        levels: list[_Level] = []
        by_id: dict[str, _Level] = {}
        level: _Level | None = None
        for seg in tx.body:
            sid = seg.id
            if sid == "HL":
                parent_id = seg[2]
                parent = by_id.get(parent_id) if parent_id else None
                if parent_id and parent is None:
                    raise X12Error("HL02 names a parent that is not in the file")
                level = _Level(seg[3], parent.provider if parent is not None else None)
                if level.code == LEVEL_PROVIDER:
                    level.provider = level
                levels.append(level)
                by_id[seg[1]] = level
            elif level is None:
                continue
            elif sid == "NM1":
                level.npi = seg[9] if seg[8] == "XX" else None
            elif sid == "TRN" and level.code == LEVEL_PATIENT and seg[2]:
                level.claims.append(seg[2])
        for level in levels:
            if not level.claims:
                continue
            provider = level.provider
            if provider is not None and provider.npi is not None:
                by_npi.setdefault(provider.npi, set()).update(level.claims)
            else:
                anonymous.update(level.claims)
    return by_npi, anonymous


class _Level:
    """One HL of a 277CA as routing reads it."""

    __slots__ = ("claims", "code", "npi", "provider")

    def __init__(self, code: str, provider: _Level | None) -> None:
        self.code = code
        self.provider = provider
        self.npi: str | None = None
        self.claims: list[str] = []


def _claim_practices_277ca(
    session: Session, by_npi: dict[str, set[str]], anonymous: set[str]
) -> uuid.UUID | None:
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


def _full_practice_of_277ca(
    session: Session, data: bytes, *, file_name: str | None = None
) -> uuid.UUID | None:
    """The answer from the whole parsed file (`parse_277ca`)."""
    from rcm.x12.x277ca import parse_277ca

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
    return _claim_practices_277ca(session, by_npi, anonymous)


def practice_of_277ca(
    session: Session, data: bytes, *, file_name: str | None = None
) -> uuid.UUID | None:
    # CLM01 is unique within a practice only: two practices may both have sent a claim
    # "RIV-1001". The billing provider (2000C NM1*85, NPI) the claim was filed under tells them
    # apart, as rcm.acknowledgments does when it applies the file.
    return _routed(
        lambda: _claim_practices_277ca(session, *_277ca_claims(data, file_name)),
        lambda: _full_practice_of_277ca(session, data, file_name=file_name),
    )


def _full_practice_of_835(
    session: Session, data: bytes, *, file_name: str | None = None
) -> uuid.UUID | None:
    """The answer from the whole parsed file (`parse_835`)."""
    from rcm.posting import identify_practice
    from rcm.x12.x835 import parse_835

    found = []
    for remittance in parse_835(data, file_name=file_name, strict=False):
        try:
            found.append(identify_practice(session, remittance).id)
        except PostingError:
            return None
    return _one(found)


def practice_of_835(
    session: Session, data: bytes, *, file_name: str | None = None
) -> uuid.UUID | None:
    from rcm.posting import identify_practice
    from rcm.x12.x835 import iter_remittances

    def light() -> uuid.UUID | None:
        # The header of each transaction (BPR through the payee loop) names the payee; the
        # claims are tokenized by the envelope reader and skipped, not parsed.
        found = []
        for stream in iter_remittances(data, file_name=file_name, strict=False):
            try:
                found.append(identify_practice(session, stream.remittance).id)
            except PostingError:
                return None
        return _one(found)

    return _routed(light, lambda: _full_practice_of_835(session, data, file_name=file_name))


def trace_numbers_of_271(data: bytes, *, file_name: str | None = None) -> set[str]:
    """The 270 trace numbers (TRN*2) a 271 echoes: those of the subscriber and dependent
    levels the HL tree hangs under a receiver of a source, read before their first EB, as
    `parse_271` reads them into `EligibilityResponse.trace_numbers`. Nothing else is built."""
    from rcm.x12.core import read_transactions
    from rcm.x12.x270 import check_version
    from rcm.x12.x271 import IMPLEMENTATION

    traces: set[str] = set()
    for tx in read_transactions(data, file_name=file_name, strict=False):
        check_version(tx, "271", "005010X279", IMPLEMENTATION)
        # (HL01, HL03, TRN*2 numbers) per HL, and the HLs under each parent ID.
        blocks: list[tuple[str, str, list[str]]] = []
        children: dict[str, list[tuple[str, str, list[str]]]] = {}
        numbers: list[str] | None = None
        for seg in tx.body:
            sid = seg.id
            if sid == "HL":
                numbers = []
                block = (seg[1], seg[3], numbers)
                blocks.append(block)
                children.setdefault(seg[2], []).append(block)
            elif numbers is None:
                continue
            elif sid == "EB":
                numbers = None  # a TRN inside a benefit is not the member's
            elif sid == "TRN" and seg[1] == "2":
                numbers.append(seg[2])
        for source_id, level, _ in blocks:
            if level != "20":
                continue
            for receiver_id, _, _ in children.get(source_id, []):
                for subscriber_id, _, found in children.get(receiver_id, []):
                    traces.update(found)
                    for _, _, dependent in children.get(subscriber_id, []):
                        traces.update(dependent)
    return traces


def _practice_of_traces(session: Session, traces: set[str]) -> uuid.UUID | None:
    if not traces:
        return None
    return _one(
        session.scalars(
            select(col(EligibilityCheck.practice_id)).where(
                col(EligibilityCheck.trace_number).in_(traces)
            )
        )
    )


def _full_practice_of_271(
    session: Session, data: bytes, *, file_name: str | None = None
) -> uuid.UUID | None:
    """The answer from the whole parsed file (`parse_271`)."""
    from rcm.x12.x271 import parse_271

    traces = {
        trace
        for response in parse_271(data, file_name=file_name, strict=False)
        for trace in response.trace_numbers
    }
    return _practice_of_traces(session, traces)


def practice_of_271(
    session: Session, data: bytes, *, file_name: str | None = None
) -> uuid.UUID | None:
    return _routed(
        lambda: _practice_of_traces(session, trace_numbers_of_271(data, file_name=file_name)),
        lambda: _full_practice_of_271(session, data, file_name=file_name),
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
    "trace_numbers_of_271",
]
