"""Data every loop of the 837 needs, identifiers (NPI check digits, TIN) and addresses."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

from rcm.identifiers import revenue_code_problem, type_of_bill_problem
from rcm.payers import CLAIM_FILING_INDICATORS
from rcm.scrub.context import ScrubContext
from rcm.scrub.model import Finding, ScrubAddress, ScrubClaim, ScrubProvider, Severity
from rcm.scrub.registry import Rule, rule
from rcm.scrub.rules._util import (
    blank,
    is_po_box,
    is_professional,
    npi_problem,
    patient_loop,
    state_problem,
    taxonomy_problem,
    tin_problem,
    zip_problem,
)

E = Severity.ERROR
W = Severity.WARNING
TOPIC = "required data"
MAX_LINES_PROFESSIONAL = 50
MAX_LINES_INSTITUTIONAL = 999
_INPATIENT_BILL_TYPES = ("11", "18", "21", "41")


def _address_findings(
    r: Rule, address: ScrubAddress | None, loop: str, what: str, *, zip9: bool = False
) -> Iterator[Finding]:
    if address is None or blank(address.address1):
        yield r.finding(f"{what} street address is missing.", loop=loop, field="N301")
    if address is None or blank(address.city):
        yield r.finding(f"{what} city is missing.", loop=loop, field="N401")
    state = address.state if address else None
    problem = state_problem(state)
    if problem == "required":
        yield r.finding(f"{what} state is missing.", loop=loop, field="N402")
    elif problem:
        yield r.finding(f"{what} state: {problem}.", loop=loop, field="N402")
    zip_code = address.zip if address else None
    problem = zip_problem(zip_code)
    if problem == "required":
        yield r.finding(f"{what} ZIP code is missing.", loop=loop, field="N403")
    elif problem:
        yield r.finding(f"{what} ZIP code: {problem}.", loop=loop, field="N403")


# X12 5010 individual relationship codes: SBR02 (18 self) and PAT01 for a patient who is not
# the subscriber.
RELATIONSHIP_CODES = frozenset({"18", "01", "19", "20", "21", "39", "40", "53", "G8"})


@rule(
    "SUBMITTER-ID",
    severity=E,
    loop="1000A",
    field="NM109",
    topic=TOPIC,
    summary="The practice's submitter ID at the clearinghouse present",
    reads="billing",
)
def submitter_id(r: Rule, claim: ScrubClaim, ctx: ScrubContext) -> Iterator[Finding]:
    if blank(claim.billing.submitter_id):
        yield r.finding("The practice has no submitter ID (clearinghouse account) for 1000A.")


# Billing provider (2010AA) -------------------------------------------------------------------


@rule(
    "BILLING-NAME",
    severity=E,
    loop="2010AA",
    field="NM103",
    topic=TOPIC,
    summary="Billing provider organization name present",
    reads="billing",
)
def billing_name(r: Rule, claim: ScrubClaim, ctx: ScrubContext) -> Iterator[Finding]:
    if blank(claim.billing.name):
        yield r.finding("Billing provider name is missing.")


@rule(
    "BILLING-NPI",
    severity=E,
    loop="2010AA",
    field="NM109",
    topic=TOPIC,
    summary="Billing provider NPI present, 10 digits, valid check digit",
    reads="billing",
)
def billing_npi(r: Rule, claim: ScrubClaim, ctx: ScrubContext) -> Iterator[Finding]:
    problem = npi_problem(claim.billing.npi)
    if problem:
        yield r.finding(f"Billing provider NPI: {problem}.")


@rule(
    "BILLING-TIN",
    severity=E,
    loop="2010AA",
    field="REF02",
    topic=TOPIC,
    summary="Billing provider tax ID (EIN, REF*EI) valid",
    reads="billing",
)
def billing_tin(r: Rule, claim: ScrubClaim, ctx: ScrubContext) -> Iterator[Finding]:
    problem = tin_problem(claim.billing.tin)
    if problem:
        yield r.finding(f"Billing provider tax ID (EIN): {problem}.")


@rule(
    "BILLING-TAXONOMY",
    severity=E,
    loop="2000A",
    field="PRV03",
    topic=TOPIC,
    summary="Billing provider taxonomy code well formed (missing: warning)",
    reads="billing",
)
def billing_taxonomy(r: Rule, claim: ScrubClaim, ctx: ScrubContext) -> Iterator[Finding]:
    code = claim.billing.taxonomy_code
    if blank(code):
        yield r.finding(
            "Billing provider taxonomy code is missing; many payers require PRV in 2000A.",
            severity=W,
        )
        return
    problem = taxonomy_problem(code)
    if problem:
        yield r.finding(f"Billing provider taxonomy code: {problem}.")


@rule(
    "BILLING-ADDRESS",
    severity=E,
    loop="2010AA",
    field="N3/N4",
    topic=TOPIC,
    summary="Billing provider street, city, state and ZIP present and valid",
    reads="billing",
)
def billing_address(r: Rule, claim: ScrubClaim, ctx: ScrubContext) -> Iterator[Finding]:
    yield from _address_findings(r, claim.billing.address, "2010AA", "Billing provider")


@rule(
    "BILLING-PO-BOX",
    severity=E,
    loop="2010AA",
    field="N301",
    topic=TOPIC,
    summary="Billing provider address is a street address, not a PO box",
    reads="billing",
)
def billing_po_box(r: Rule, claim: ScrubClaim, ctx: ScrubContext) -> Iterator[Finding]:
    street = claim.billing.address.address1
    if street and is_po_box(street):
        yield r.finding(
            "Billing provider address must be a street address, not a PO box; "
            "put the PO box in the pay-to address (2010AB)."
        )


@rule(
    "BILLING-ZIP9",
    severity=E,
    loop="2010AA",
    field="N403",
    topic=TOPIC,
    summary="Billing provider ZIP is ZIP+4 (9 digits)",
    reads="billing",
)
def billing_zip9(r: Rule, claim: ScrubClaim, ctx: ScrubContext) -> Iterator[Finding]:
    zip_code = claim.billing.address.zip
    if zip_code and zip_problem(zip_code) is None and len(zip_code.replace("-", "")) != 9:
        yield r.finding("Billing provider ZIP code must be the full ZIP+4 (9 digits).")


@rule(
    "PAY-TO-ADDRESS",
    severity=E,
    loop="2010AB",
    field="N3/N4",
    topic=TOPIC,
    summary="Pay-to address, when given, complete",
    reads="billing",
)
def pay_to_address(r: Rule, claim: ScrubClaim, ctx: ScrubContext) -> Iterator[Finding]:
    pay_to = claim.billing.pay_to
    if pay_to is None or all(
        blank(v) for v in (pay_to.address1, pay_to.city, pay_to.state, pay_to.zip)
    ):
        return
    yield from _address_findings(r, pay_to, "2010AB", "Pay-to")


# Payer and subscriber (2000B, 2010BA, 2010BB) -------------------------------------------------


@rule(
    "PAYER-ID",
    severity=E,
    loop="2010BB",
    field="NM109",
    topic=TOPIC,
    summary="Payer name and electronic payer ID present",
    reads="payer",
)
def payer_id(r: Rule, claim: ScrubClaim, ctx: ScrubContext) -> Iterator[Finding]:
    if blank(claim.payer.payer_id):
        yield r.finding(f"Payer {claim.payer.key} has no electronic payer ID.")
    if blank(claim.payer.name):
        yield r.finding(f"Payer {claim.payer.key} has no name.", field="NM103")


@rule(
    "CLAIM-FILING-INDICATOR",
    severity=E,
    loop="2000B",
    field="SBR09",
    topic=TOPIC,
    summary="Claim filing indicator is an X12 SBR09 code",
    reads="payer",
)
def claim_filing_indicator(r: Rule, claim: ScrubClaim, ctx: ScrubContext) -> Iterator[Finding]:
    code = claim.payer.claim_filing_indicator
    if blank(code) or code not in CLAIM_FILING_INDICATORS:
        yield r.finding(f"Payer {claim.payer.key} has no valid claim filing indicator (SBR09).")


@rule(
    "COVERAGE-MISSING",
    severity=E,
    loop="2000B",
    field="SBR",
    topic=TOPIC,
    summary="The claim is linked to a coverage",
)
def coverage_missing(r: Rule, claim: ScrubClaim, ctx: ScrubContext) -> Iterator[Finding]:
    if claim.coverage is None:
        yield r.finding("The claim has no insurance coverage; link the patient's coverage.")


@rule(
    "SUBSCRIBER-ID",
    severity=E,
    loop="2010BA",
    field="NM109",
    topic=TOPIC,
    summary="Subscriber member ID present",
)
def subscriber_id(r: Rule, claim: ScrubClaim, ctx: ScrubContext) -> Iterator[Finding]:
    if claim.coverage is not None and blank(claim.coverage.member_id):
        yield r.finding("Subscriber member ID is missing.")


@rule(
    "SUBSCRIBER-DATA",
    severity=E,
    loop="2010BA",
    field="NM103",
    topic=TOPIC,
    summary="Relationship code valid; subscriber name (birth date, sex: warning) when the "
    "patient is not the subscriber",
)
def subscriber_data(r: Rule, claim: ScrubClaim, ctx: ScrubContext) -> Iterator[Finding]:
    coverage = claim.coverage
    if coverage is None or coverage.relationship == "18":
        return
    if coverage.relationship not in RELATIONSHIP_CODES:
        yield r.finding(
            f"Patient relationship to the subscriber {coverage.relationship!r} is not an X12 "
            "individual relationship code (01, 19, 20, 21, 39, 40, 53, G8).",
            loop="2000C",
            field="PAT01",
        )
    if blank(coverage.subscriber_last_name):
        yield r.finding(
            f"The patient is not the subscriber (relationship {coverage.relationship}); "
            "the subscriber's last name is missing."
        )
    if blank(coverage.subscriber_first_name):
        yield r.finding(
            f"The patient is not the subscriber (relationship {coverage.relationship}); "
            "the subscriber's first name is missing.",
            field="NM104",
        )
    if coverage.subscriber_birth_date is None:
        yield r.finding(
            "The subscriber's birth date is missing; most payers match the subscriber on it.",
            field="DMG02",
            severity=W,
        )
    if blank(coverage.subscriber_sex):
        yield r.finding("The subscriber's sex is missing.", field="DMG03", severity=W)


# Patient (2010BA when self, else 2010CA) ------------------------------------------------------


@rule(
    "PATIENT-DEMOGRAPHICS",
    severity=E,
    loop="2010CA",
    field="NM1/DMG",
    topic=TOPIC,
    summary="Patient name, birth date and sex present",
)
def patient_demographics(r: Rule, claim: ScrubClaim, ctx: ScrubContext) -> Iterator[Finding]:
    loop = patient_loop(claim)
    patient = claim.patient
    if blank(patient.last_name):
        yield r.finding("Patient last name is missing.", loop=loop, field="NM103")
    if blank(patient.first_name):
        yield r.finding("Patient first name is missing.", loop=loop, field="NM104")
    if patient.birth_date is None:
        yield r.finding("Patient birth date is missing.", loop=loop, field="DMG02")
    if patient.sex not in ("M", "F", "U"):
        yield r.finding("Patient sex must be M, F or U.", loop=loop, field="DMG03")


@rule(
    "PATIENT-ADDRESS",
    severity=E,
    loop="2010CA",
    field="N3/N4",
    topic=TOPIC,
    summary="Patient street, city, state and ZIP present and valid",
)
def patient_address(r: Rule, claim: ScrubClaim, ctx: ScrubContext) -> Iterator[Finding]:
    yield from _address_findings(r, claim.patient.address, patient_loop(claim), "Patient")


# Claim (2300) and lines (2400) ----------------------------------------------------------------


@rule(
    "CLAIM-PCN",
    severity=E,
    loop="2300",
    field="CLM01",
    topic=TOPIC,
    summary="Patient control number present, at most 20 characters",
)
def claim_pcn(r: Rule, claim: ScrubClaim, ctx: ScrubContext) -> Iterator[Finding]:
    pcn = claim.patient_control_number
    if blank(pcn):
        yield r.finding("Patient control number (CLM01) is missing.")
    elif len(pcn) > 20:
        yield r.finding("Patient control number (CLM01) is longer than 20 characters.")


@rule(
    "CLAIM-TOTAL",
    severity=E,
    loop="2300",
    field="CLM02",
    topic=TOPIC,
    summary="Claim total charge equals the sum of the line charges",
)
def claim_total(r: Rule, claim: ScrubClaim, ctx: ScrubContext) -> Iterator[Finding]:
    lines_total = Decimal(0)
    for line in claim.lines:
        lines_total += line.charge
    if lines_total != claim.total_charge:
        yield r.finding(
            f"Claim total charge {claim.total_charge} does not equal the sum of the line "
            f"charges {lines_total}."
        )


@rule(
    "CLAIM-LINES",
    severity=E,
    loop="2400",
    field="LX",
    topic=TOPIC,
    summary="At least one service line, at most 50 (837P) or 999 (837I)",
)
def claim_lines(r: Rule, claim: ScrubClaim, ctx: ScrubContext) -> Iterator[Finding]:
    if not claim.lines:
        yield r.finding("The claim has no service lines.")
        return
    limit = MAX_LINES_PROFESSIONAL if is_professional(claim) else MAX_LINES_INSTITUTIONAL
    if len(claim.lines) > limit:
        yield r.finding(
            f"The claim has {len(claim.lines)} service lines; an 837 claim carries at most "
            f"{limit}. Split it."
        )


@rule(
    "CLAIM-FREQUENCY",
    severity=E,
    loop="2300",
    field="CLM05-3",
    topic=TOPIC,
    summary="Frequency 1, 7 or 8; replacement and void carry the payer's claim number",
)
def claim_frequency(r: Rule, claim: ScrubClaim, ctx: ScrubContext) -> Iterator[Finding]:
    code = claim.frequency_code
    if code not in ("1", "7", "8"):
        yield r.finding(f"Claim frequency code {code} is not 1, 7 or 8.")
    elif code != "1" and blank(claim.original_payer_claim_number):
        kind = "replacement" if code == "7" else "void"
        yield r.finding(
            f"A {kind} claim (frequency {code}) needs the payer's claim number of the original "
            "claim (REF*F8).",
            field="REF02",
        )


def _provider_npi(
    r: Rule, provider: ScrubProvider | None, loop: str, what: str
) -> Iterator[Finding]:
    if provider is None:
        return
    problem = npi_problem(provider.npi)
    if problem:
        yield r.finding(f"{what} NPI: {problem}.", loop=loop, field="NM109")


@rule(
    "RENDERING-NPI",
    severity=E,
    loop="2310B",
    field="NM109",
    topic=TOPIC,
    summary="Rendering provider NPI valid check digit",
)
def rendering_npi(r: Rule, claim: ScrubClaim, ctx: ScrubContext) -> Iterator[Finding]:
    if is_professional(claim):
        yield from _provider_npi(r, claim.rendering, "2310B", "Rendering provider")
    else:
        yield from _provider_npi(r, claim.rendering, "2310C", "Operating/rendering provider")


@rule(
    "REFERRING-NPI",
    severity=E,
    loop="2310A",
    field="NM109",
    topic=TOPIC,
    summary="Referring provider NPI valid check digit",
)
def referring_npi(r: Rule, claim: ScrubClaim, ctx: ScrubContext) -> Iterator[Finding]:
    loop = "2310A" if is_professional(claim) else "2310F"
    yield from _provider_npi(r, claim.referring, loop, "Referring provider")


@rule(
    "REFERRING-REQUIRED",
    severity=E,
    loop="2310A",
    field="NM1",
    topic=TOPIC,
    summary="Referring provider present when the payer requires one for a billed code",
)
def referring_required(r: Rule, claim: ScrubClaim, ctx: ScrubContext) -> Iterator[Finding]:
    needed = claim.payer.requires_referring_for
    if not needed or claim.referring is not None:
        return
    codes = sorted({line.procedure_code for line in claim.lines if line.procedure_code in needed})
    if codes:
        yield r.finding(
            f"Payer {claim.payer.key} requires a referring provider for {', '.join(codes)}."
        )


@rule(
    "FACILITY-DATA",
    severity=E,
    loop="2310C",
    field="NM109",
    topic=TOPIC,
    summary="Service facility NPI valid check digit and address complete",
)
def facility_data(r: Rule, claim: ScrubClaim, ctx: ScrubContext) -> Iterator[Finding]:
    facility = claim.facility
    if facility is None:
        return
    loop = "2310C" if is_professional(claim) else "2310E"
    if not blank(facility.npi):
        yield from _provider_npi(r, facility, loop, "Service facility")
    if blank(facility.last_name):
        yield r.finding("Service facility name is missing.", loop=loop, field="NM103")
    if facility.address is not None:
        yield from _address_findings(r, facility.address, loop, "Service facility")


@rule(
    "ATTENDING-PROVIDER",
    severity=E,
    loop="2310A",
    field="NM109",
    topic=TOPIC,
    summary="Institutional claims: attending provider present with a valid NPI",
    only="institutional",
)
def attending_provider(r: Rule, claim: ScrubClaim, ctx: ScrubContext) -> Iterator[Finding]:
    if is_professional(claim):
        return
    if claim.attending is None:
        yield r.finding("An institutional claim needs an attending provider (2310A).")
        return
    yield from _provider_npi(r, claim.attending, "2310A", "Attending provider")


@rule(
    "INSTITUTIONAL-DATA",
    severity=E,
    loop="2300",
    field="CLM05-1",
    topic=TOPIC,
    summary="Institutional claims: type of bill, revenue codes, admission date, patient status",
    only="institutional",
)
def institutional_data(r: Rule, claim: ScrubClaim, ctx: ScrubContext) -> Iterator[Finding]:
    if is_professional(claim):
        return
    problem = type_of_bill_problem(claim.type_of_bill)
    if problem:
        yield r.finding(f"Type of bill: {problem}.")
    elif claim.type_of_bill and claim.admission_date is None:
        tob = claim.type_of_bill[-3:]
        if tob[:2] in _INPATIENT_BILL_TYPES:
            yield r.finding(
                f"Inpatient type of bill {tob} needs the admission date (DTP*435).",
                field="DTP03",
            )
    if blank(claim.patient_status):
        yield r.finding("Patient discharge status (CL103) is missing.", field="CL103")
    for line in claim.lines:
        problem = revenue_code_problem(line.revenue_code)
        if problem:
            yield r.finding(
                f"Line {line.line_number}: revenue code {problem}.",
                loop="2400",
                field="SV201",
                line=line.line_number,
            )
