"""Payer-facing checks: timely filing, duplicates, enrollment, eligibility, prior
authorization, and the order of payers."""

from __future__ import annotations

from collections.abc import Iterator

from rcm.bulk import as_uuid
from rcm.scrub.context import ScrubContext, service_keys
from rcm.scrub.model import Finding, ScrubClaim, Severity
from rcm.scrub.registry import Rule, rule
from rcm.scrub.rules._util import blank, is_professional

E = Severity.ERROR
W = Severity.WARNING
TOPIC = "payer"
TIMELY_FILING_WARNING_SHARE = 0.8
# A primary payer has adjudicated once it paid or denied; the secondary needs its 835.
ADJUDICATED_STATUSES = frozenset({"PAID", "PARTIAL", "DENIED", "APPEALED", "WRITTEN_OFF", "CLOSED"})


@rule(
    "TIMELY-FILING",
    severity=E,
    loop="2300",
    field="DTP03",
    topic=TOPIC,
    summary="Within the payer's timely filing limit (error past it, warning at 80%)",
)
def timely_filing(r: Rule, claim: ScrubClaim, ctx: ScrubContext) -> Iterator[Finding]:
    if claim.frequency_code != "1":
        return  # replacements and voids run on the payer's corrected-claim window
    limit = claim.payer.timely_filing_days
    if limit <= 0:
        return
    start = claim.service_date_from if is_professional(claim) else claim.service_date_to
    age = (ctx.today - start).days
    if age > limit:
        yield r.finding(
            f"The date of service is {age} days ago; payer {claim.payer.key} accepts claims "
            f"for {limit} days. File with proof of timely filing or write it off."
        )
    elif age >= limit * TIMELY_FILING_WARNING_SHARE:
        yield r.finding(
            f"The date of service is {age} days ago; payer {claim.payer.key}'s {limit}-day "
            f"filing limit ends in {limit - age} days. Submit now.",
            severity=W,
        )


@rule(
    "DUPLICATE-CLAIM",
    severity=E,
    loop="2400",
    field="SV101-2",
    topic=TOPIC,
    summary="The same patient, date of service, procedure and provider already on another claim",
)
def duplicate_claim(r: Rule, claim: ScrubClaim, ctx: ScrubContext) -> Iterator[Finding]:
    duplicates = ctx.duplicates
    services = duplicates.services
    if claim.frequency_code != "1" or not services:
        return
    claim_id = claim.id
    for line, key in zip(claim.lines, service_keys(claim), strict=True):
        holders = services.get(key)
        if not holders or (len(holders) == 1 and claim_id in holders):
            continue  # what duplicated_by finds at once: nobody else carries the service
        others = [
            o for o in ctx.duplicates.duplicated_by(key, claim.id) if o != claim.original_claim_id
        ]
        if others:
            ids = ", ".join(sorted(str(as_uuid(o)) for o in others))
            yield r.finding(
                f"Line {line.line_number}: {line.procedure_code} for this patient, date of "
                f"service and provider is already on claim {ids}. Void one, or mark a repeat "
                "service with modifier 76/77.",
                line=line.line_number,
            )


@rule(
    "PROVIDER-ENROLLMENT",
    severity=E,
    loop="2310B",
    field="NM109",
    topic=TOPIC,
    summary="Rendering provider (or the group) enrolled and credentialed with the payer on "
    "the date of service",
)
def provider_enrollment(r: Rule, claim: ScrubClaim, ctx: ScrubContext) -> Iterator[Finding]:
    payer = claim.payer.key
    provider_id = claim.rendering.id if claim.rendering else None
    spans = ctx.enrollments.lookup(claim.practice_id, claim.payer.id, provider_id)
    subject, loop = (
        ("The rendering provider", "2310B") if provider_id else ("The practice", "2010AA")
    )
    if not spans and provider_id is not None:
        # A group enrollment covers providers the payer does not credential one by one.
        spans = ctx.enrollments.lookup(claim.practice_id, claim.payer.id, None)
        subject = "The practice (group enrollment)"
        if not spans:
            yield r.finding(
                f"Neither the rendering provider nor the practice is enrolled with payer {payer}.",
                loop=loop,
            )
            return
    if not spans:
        yield r.finding(f"{subject} is not enrolled with payer {payer}.", loop=loop)
        return
    service_date = claim.service_date_from
    if any(s.status == "approved" and s.covers(service_date) for s in spans):
        return
    approved = [s for s in spans if s.status == "approved"]
    if approved:
        span = approved[0]
        start = span.effective_date.isoformat() if span.effective_date else "the start"
        end = span.termination_date.isoformat() if span.termination_date else "now"
        yield r.finding(
            f"{subject} is credentialed with payer {payer} from {start} to {end}, which does "
            "not include the date of service.",
            loop=loop,
        )
    else:
        yield r.finding(
            f"{subject}'s credentialing with payer {payer} is {spans[0].status}; the payer "
            "denies claims until it is approved.",
            loop=loop,
        )


@rule(
    "ELIGIBILITY",
    severity=E,
    loop="2000B",
    field="SBR",
    topic=TOPIC,
    summary="Coverage active per the latest 271 (inactive/not found: error; never checked "
    "or check failed: warning) and in force on the date of service",
)
def eligibility(r: Rule, claim: ScrubClaim, ctx: ScrubContext) -> Iterator[Finding]:
    coverage = claim.coverage
    if coverage is None:
        return
    status = coverage.eligibility_status
    if status == "inactive":
        yield r.finding(
            "The latest eligibility response (271) says this coverage is inactive; verify "
            "the patient's insurance."
        )
    elif status == "not_found":
        yield r.finding(
            "The payer did not find the member in the latest eligibility response (271); "
            "check the member ID and subscriber details."
        )
    elif status in ("unknown", "error"):
        yield r.finding(
            "Eligibility has not been verified for this coverage; run an eligibility check.",
            severity=W,
        )
    service_date = claim.service_date_from
    if coverage.effective_date is not None and service_date < coverage.effective_date:
        yield r.finding("The date of service is before the coverage's effective date.")
    if coverage.termination_date is not None and service_date > coverage.termination_date:
        yield r.finding("The date of service is after the coverage's termination date.")


@rule(
    "PRIOR-AUTH",
    severity=E,
    loop="2300",
    field="REF*G1",
    topic=TOPIC,
    summary="Prior authorization number present when the payer requires one for a billed code",
)
def prior_auth(r: Rule, claim: ScrubClaim, ctx: ScrubContext) -> Iterator[Finding]:
    required = claim.payer.prior_auth_procedures
    if not required or not blank(claim.prior_authorization):
        return
    codes = sorted({ln.procedure_code for ln in claim.lines if ln.procedure_code in required})
    if codes:
        yield r.finding(
            f"Payer {claim.payer.key} requires prior authorization for {', '.join(codes)}; "
            "enter the authorization number."
        )


@rule(
    "SECONDARY-ORDER",
    severity=E,
    loop="2320",
    field="SBR01",
    topic=TOPIC,
    summary="A secondary or tertiary claim only after the prior payer adjudicated, with the "
    "prior payer's coverage",
)
def secondary_order(r: Rule, claim: ScrubClaim, ctx: ScrubContext) -> Iterator[Finding]:
    if claim.payer_responsibility not in ("S", "T"):
        return
    which = "secondary" if claim.payer_responsibility == "S" else "tertiary"
    if not ADJUDICATED_STATUSES.intersection(claim.prior_payer_claim_statuses):
        state = (
            ", ".join(sorted(set(claim.prior_payer_claim_statuses)))
            if claim.prior_payer_claim_statuses
            else "not billed"
        )
        yield r.finding(
            f"This {which} claim can go out only after the prior payer has adjudicated the "
            f"encounter (prior payer's claim: {state}); post its remittance first."
        )
    if claim.prior_payer_coverage is None:
        yield r.finding(
            f"This {which} claim needs the prior payer's coverage for the other-subscriber "
            "loops (2320/2330).",
            loop="2330B",
            field="NM109",
        )
