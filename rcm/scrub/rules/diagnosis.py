"""ICD-10-CM: valid, billable for the date of service, specific, sequenced, pointed to."""

from __future__ import annotations

from collections.abc import Iterator

from rcm.codesets.icd10 import ICD10CM_START, is_external_cause
from rcm.scrub.context import ScrubContext
from rcm.scrub.model import Finding, ScrubClaim, ScrubDiagnosis, Severity
from rcm.scrub.registry import Rule, rule
from rcm.scrub.rules._util import is_professional

E = Severity.ERROR
W = Severity.WARNING
TOPIC = "diagnosis"
MAX_DIAGNOSES_PROFESSIONAL = 12
MAX_POINTERS = 4


def _sequence(dx: ScrubDiagnosis) -> int:
    return dx.sequence


@rule(
    "DX-MISSING",
    severity=E,
    loop="2300",
    field="HI01",
    topic=TOPIC,
    summary="At least one diagnosis; at most 12 on a professional claim",
)
def dx_missing(r: Rule, claim: ScrubClaim, ctx: ScrubContext) -> Iterator[Finding]:
    if not claim.diagnoses:
        yield r.finding("The claim has no diagnosis code.")
    elif is_professional(claim) and len(claim.diagnoses) > MAX_DIAGNOSES_PROFESSIONAL:
        yield r.finding(
            f"The claim has {len(claim.diagnoses)} diagnosis codes; a professional claim "
            f"carries at most {MAX_DIAGNOSES_PROFESSIONAL}."
        )


@rule(
    "DX-CODE-SET-DATE",
    severity=E,
    loop="2300",
    field="HI01-2",
    topic=TOPIC,
    summary="Date of service on or after 2015-10-01 (ICD-10-CM)",
)
def dx_code_set_date(r: Rule, claim: ScrubClaim, ctx: ScrubContext) -> Iterator[Finding]:
    if claim.diagnoses and claim.service_date_from < ICD10CM_START:
        yield r.finding(
            "Dates of service before 2015-10-01 are coded in ICD-9-CM, which this platform "
            "does not bill."
        )


@rule(
    "DX-INVALID",
    severity=E,
    loop="2300",
    field="HI01-2",
    topic=TOPIC,
    summary="Each diagnosis is an ICD-10-CM code",
)
def dx_invalid(r: Rule, claim: ScrubClaim, ctx: ScrubContext) -> Iterator[Finding]:
    icd = ctx.icd10_for(claim)
    billable, headers = icd.billable, icd.headers
    for dx in claim.diagnoses:
        if dx.code not in billable and dx.code not in headers:  # icd.status() == "invalid"
            yield r.finding(
                f"Diagnosis {dx.sequence} ({dx.code}) is not an ICD-10-CM code "
                f"(release {icd.version})."
            )


@rule(
    "DX-NOT-BILLABLE",
    severity=E,
    loop="2300",
    field="HI01-2",
    topic=TOPIC,
    summary="Each diagnosis is billable (a leaf, not a category with subcodes)",
)
def dx_not_billable(r: Rule, claim: ScrubClaim, ctx: ScrubContext) -> Iterator[Finding]:
    icd = ctx.icd10_for(claim)
    for dx in claim.diagnoses:
        if dx.code in icd.headers:
            yield r.finding(
                f"Diagnosis {dx.sequence} ({dx.code}) is a category, not a billable code; "
                "code it to the highest specificity (more characters)."
            )


@rule(
    "DX-UNSPECIFIED",
    severity=W,
    loop="2300",
    field="HI01-2",
    topic=TOPIC,
    summary="An unspecified diagnosis where more specific codes exist",
)
def dx_unspecified(r: Rule, claim: ScrubClaim, ctx: ScrubContext) -> Iterator[Finding]:
    more_specific = ctx.icd10_for(claim).more_specific
    for dx in claim.diagnoses:
        parent = more_specific.get(dx.code)
        if parent is not None:
            yield r.finding(
                f"Diagnosis {dx.sequence} ({dx.code}) is unspecified; more specific codes exist "
                f"under {parent}. Use one if the documentation supports it."
            )


@rule(
    "DX-EXTERNAL-CAUSE-PRIMARY",
    severity=E,
    loop="2300",
    field="HI01-2",
    topic=TOPIC,
    summary="An external-cause code (V00-Y99) is never the first diagnosis",
)
def dx_external_cause_primary(r: Rule, claim: ScrubClaim, ctx: ScrubContext) -> Iterator[Finding]:
    diagnoses = claim.diagnoses
    if not diagnoses:
        return
    first = diagnoses[0] if len(diagnoses) == 1 else min(diagnoses, key=_sequence)
    if is_external_cause(first.code):
        yield r.finding(
            f"External-cause code {first.code} cannot be the first-listed diagnosis; list the "
            "injury or condition first."
        )


@rule(
    "DX-DUPLICATE",
    severity=W,
    loop="2300",
    field="HI",
    topic=TOPIC,
    summary="The same diagnosis listed twice",
)
def dx_duplicate(r: Rule, claim: ScrubClaim, ctx: ScrubContext) -> Iterator[Finding]:
    if len(claim.diagnoses) < 2:
        return
    seen: set[str] = set()
    for dx in claim.diagnoses:
        if dx.code in seen:
            yield r.finding(f"Diagnosis {dx.code} is listed more than once.")
        seen.add(dx.code)


@rule(
    "DX-POINTER",
    severity=E,
    loop="2400",
    field="SV107",
    topic=TOPIC,
    summary="Every line points to 1-4 existing, distinct diagnoses",
    only="professional",
)
def dx_pointer(r: Rule, claim: ScrubClaim, ctx: ScrubContext) -> Iterator[Finding]:
    if not is_professional(claim):
        return
    count = len(claim.diagnoses)
    for line in claim.lines:
        pointers = line.diagnosis_pointers
        n = line.line_number
        if not pointers:
            yield r.finding(f"Line {n} points to no diagnosis.", line=n)
        elif len(pointers) > MAX_POINTERS:
            yield r.finding(
                f"Line {n} points to {len(pointers)} diagnoses; at most {MAX_POINTERS}.", line=n
            )
        bad = (
            [p for p in pointers if p < 1 or p > count]
            if pointers and (min(pointers) < 1 or max(pointers) > count)
            else None
        )
        if bad:
            yield r.finding(
                f"Line {n} points to diagnosis {', '.join(map(str, bad))}, but the claim has "
                f"{count}.",
                line=n,
            )
        if len(pointers) > 1 and len(set(pointers)) != len(pointers):
            yield r.finding(f"Line {n} points to the same diagnosis twice.", line=n)
