"""Which service line an SVC loop pays.

A payer answers each billed line with an SVC, but not always one for one: it may pay a different
procedure than billed (SVC01 is what was paid, SVC06 what was billed), split one billed line into
several SVCs (each naming the billed code in SVC06), or bundle lines (one SVC for the bundle, the
bundled lines answered with zero paid or not at all). Matching therefore compares the billed
code (SVC06 when present, else SVC01), then modifiers, date and charge, prefers lines no other
SVC took yet, and lets a split reuse a line when no unused line fits.
"""

from __future__ import annotations

import uuid
from collections.abc import Hashable, Sequence
from datetime import date
from decimal import Decimal
from typing import Protocol, TypeVar

from rcm.x12.x835 import ServicePayment

K = TypeVar("K", bound=Hashable)
K_co = TypeVar("K_co", bound=Hashable, covariant=True)


class ServiceLine(Protocol[K_co]):
    """What matching reads of a billed line (a rcm.models.ServiceLine or a lighter row). Its
    key is a UUID, or the UUID's 32 hex digits (rows read in bulk, rcm.bulk)."""

    @property
    def id(self) -> K_co: ...
    @property
    def line_number(self) -> int: ...
    @property
    def procedure_code(self) -> str: ...
    @property
    def modifiers(self) -> list[str]: ...
    @property
    def charge(self) -> Decimal: ...
    @property
    def service_date(self) -> date | None: ...
    @property
    def revenue_code(self) -> str | None: ...


# Revenue-code qualifier of SVC01/SVC06 (institutional claims).
REVENUE_QUALIFIER = "NU"


def _line_keys(line: ServiceLine[K]) -> tuple[str, ...]:
    """What a REF*6R may name a line by: its UUID (with or without hyphens) or its number."""
    key = line.id
    value = key if isinstance(key, uuid.UUID) else uuid.UUID(str(key))
    return tuple(k for k in (str(value), value.hex, str(line.line_number)) if k)


def billed_procedure(service: ServicePayment) -> tuple[str, str, tuple[str, ...]]:
    """(qualifier, code, modifiers) as billed: SVC06 when the payer changed the code."""
    p = service.original_procedure or service.procedure
    return p.qualifier, p.code, tuple(p.modifiers)


def _code_matches(service: ServicePayment, line: ServiceLine[K]) -> bool:
    qualifier, code, _ = billed_procedure(service)
    if qualifier == REVENUE_QUALIFIER:
        return line.revenue_code == code
    if line.procedure_code == code:
        return True
    # An institutional SVC may carry the HCPCS in SVC01 and the revenue code in SVC04.
    return (
        bool(service.revenue_code)
        and line.revenue_code == service.revenue_code
        and (not line.procedure_code or line.procedure_code == service.procedure.code)
    )


def match_service_lines(
    services: Sequence[ServicePayment],
    lines: Sequence[ServiceLine[K]],
    *,
    claim_date: date | None = None,
) -> list[K | None]:
    """The key of the service line each SVC pays (None: no line fits; it posts at claim
    level)."""
    used: set[K] = set()
    out: list[K | None] = []
    by_key: dict[str, ServiceLine[K]] | None = None
    for service in services:
        chosen: ServiceLine[K] | None = None
        for ref in service.references:
            if ref.qualifier != "6R":
                continue
            if by_key is None:
                by_key = {}
                for line in lines:
                    for key in _line_keys(line):
                        by_key.setdefault(key, line)
            if ref.value in by_key:
                chosen = by_key[ref.value]
                break
        if chosen is None:
            chosen = _best(service, lines, used, claim_date)
        if chosen is not None:
            used.add(chosen.id)
        out.append(chosen.id if chosen is not None else None)
    return out


def _best(
    service: ServicePayment,
    lines: Sequence[ServiceLine[K]],
    used: set[K],
    claim_date: date | None,
) -> ServiceLine[K] | None:
    _, _, modifiers = billed_procedure(service)
    served = service.service_date or claim_date
    best: ServiceLine[K] | None = None
    best_score = -1
    for line in lines:
        line_date = line.service_date or claim_date
        date_ok = served is None or line_date is None or served == line_date
        if _code_matches(service, line):
            score = 100
        elif line.id not in used and date_ok and line.charge == service.charge:
            score = 10  # the payer recoded the line without saying so in SVC06
        else:
            continue
        if line.id not in used:
            score += 40
        if tuple(line.modifiers or ()) == modifiers:
            score += 8
        if date_ok:
            score += 4
        if line.charge == service.charge:
            score += 2
        if score > best_score:
            best, best_score = line, score
    return best
