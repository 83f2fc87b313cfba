"""Place of service, units, charges and dates of service."""

from __future__ import annotations

from collections.abc import Iterator

from rcm.codesets.place_of_service import PLACES_OF_SERVICE, place_of_service_valid_on
from rcm.scrub.context import ScrubContext
from rcm.scrub.model import Finding, ScrubClaim, Severity
from rcm.scrub.registry import Rule, rule
from rcm.scrub.rules._util import is_professional

E = Severity.ERROR
TOPIC = "service"


@rule(
    "POS-VALID",
    severity=E,
    loop="2300",
    field="CLM05-1",
    topic=TOPIC,
    summary="Professional claims: place of service present and in the CMS code set on the "
    "date of service",
    only="professional",
)
def pos_valid(r: Rule, claim: ScrubClaim, ctx: ScrubContext) -> Iterator[Finding]:
    if not is_professional(claim):
        return
    pos = claim.place_of_service
    if not pos:
        yield r.finding("Place of service is missing.")
    elif pos not in PLACES_OF_SERVICE:
        yield r.finding(f"Place of service {pos} is not in the CMS place of service code set.")
    elif not place_of_service_valid_on(pos, claim.service_date_from):
        yield r.finding(
            f"Place of service {pos} ({PLACES_OF_SERVICE[pos]}) was not yet in effect on the "
            "date of service."
        )


@rule(
    "LINE-UNITS",
    severity=E,
    loop="2400",
    field="SV104",
    topic=TOPIC,
    summary="Units greater than zero",
)
def line_units(r: Rule, claim: ScrubClaim, ctx: ScrubContext) -> Iterator[Finding]:
    field = "SV104" if is_professional(claim) else "SV205"
    for line in claim.lines:
        if line.units <= 0:
            yield r.finding(
                f"Line {line.line_number}: units must be greater than zero.",
                field=field,
                line=line.line_number,
            )


@rule(
    "LINE-CHARGE",
    severity=E,
    loop="2400",
    field="SV102",
    topic=TOPIC,
    summary="Line charge greater than zero",
)
def line_charge(r: Rule, claim: ScrubClaim, ctx: ScrubContext) -> Iterator[Finding]:
    field = "SV102" if is_professional(claim) else "SV203"
    for line in claim.lines:
        if line.charge <= 0:
            yield r.finding(
                f"Line {line.line_number}: charge must be greater than zero.",
                field=field,
                line=line.line_number,
            )


@rule(
    "DOS-FUTURE",
    severity=E,
    loop="2400",
    field="DTP03",
    topic=TOPIC,
    summary="No date of service in the future",
)
def dos_future(r: Rule, claim: ScrubClaim, ctx: ScrubContext) -> Iterator[Finding]:
    if claim.service_date_to > ctx.today:
        yield r.finding(
            "The claim's dates of service run past today; bill services once they are rendered.",
            loop="2300",
            field="DTP03",
        )
    for line in claim.lines:
        if line.service_date > ctx.today:
            yield r.finding(
                f"Line {line.line_number}: date of service is in the future.",
                line=line.line_number,
            )


@rule(
    "DOS-BEFORE-BIRTH",
    severity=E,
    loop="2400",
    field="DTP03",
    topic=TOPIC,
    summary="No date of service before the patient's birth",
)
def dos_before_birth(r: Rule, claim: ScrubClaim, ctx: ScrubContext) -> Iterator[Finding]:
    birth = claim.patient.birth_date
    if birth is None:
        return
    for line in claim.lines:
        if line.service_date < birth:
            yield r.finding(
                f"Line {line.line_number}: date of service is before the patient's birth date.",
                line=line.line_number,
            )


@rule(
    "DOS-RANGE",
    severity=E,
    loop="2400",
    field="DTP03",
    topic=TOPIC,
    summary="Claim from-date not after to-date; every line inside the claim's dates",
)
def dos_range(r: Rule, claim: ScrubClaim, ctx: ScrubContext) -> Iterator[Finding]:
    start, end = claim.service_date_from, claim.service_date_to
    if start > end:
        yield r.finding(
            "The claim's first date of service is after its last.", loop="2300", field="DTP03"
        )
        return
    for line in claim.lines:
        if not start <= line.service_date <= end:
            yield r.finding(
                f"Line {line.line_number}: date of service is outside the claim's from and to "
                "dates.",
                line=line.line_number,
            )
