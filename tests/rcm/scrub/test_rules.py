"""Each scrub rule: a claim that trips it and a near miss that does not."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

import pytest

from rcm.scrub.context import EnrollmentIndex, EnrollmentSpan
from rcm.scrub.model import (
    Finding,
    ScrubAddress,
    ScrubClaim,
    ScrubCoverage,
    ScrubDiagnosis,
    ScrubProvider,
    Severity,
)
from rcm.scrub.registry import RULE_FAILED, all_rules, scrub_claim
from tests.rcm.scrub.factory import (
    DOS,
    PAYER_ID,
    PRACTICE_ID,
    REFERRING_NPI,
    RENDERING_ID,
    TODAY,
    clean_claim,
    context,
    line,
)

E, W = Severity.ERROR, Severity.WARNING
Build = Callable[[], ScrubClaim]


@dataclass(frozen=True)
class Case:
    rule_id: str
    trip: Build
    passes: Build
    severity: Severity
    loop: str
    field: str
    cms: bool = False

    def __str__(self) -> str:
        return self.rule_id


def changed(build: Callable[[ScrubClaim], None]) -> Build:
    def make() -> ScrubClaim:
        claim = clean_claim()
        build(claim)
        return claim

    return make


def billing(**kw: object) -> Build:
    def apply(c: ScrubClaim) -> None:
        for k, v in kw.items():
            setattr(c.billing, k, v)

    return changed(apply)


def billing_address(**kw: object) -> Build:
    def apply(c: ScrubClaim) -> None:
        for k, v in kw.items():
            setattr(c.billing.address, k, v)

    return changed(apply)


def coverage(**kw: object) -> Build:
    def apply(c: ScrubClaim) -> None:
        assert c.coverage is not None
        for k, v in kw.items():
            setattr(c.coverage, k, v)

    return changed(apply)


def lines(*ls: object, **claim_kw: object) -> Build:
    return lambda: clean_claim(lines=list(ls), **claim_kw)


def diagnoses(*codes: str) -> Build:
    return lambda: clean_claim(diagnoses=[ScrubDiagnosis(i, c) for i, c in enumerate(codes, 1)])


CLEAN: Build = clean_claim
BAD_NPI = REFERRING_NPI[:9] + str((int(REFERRING_NPI[9]) + 1) % 10)

CASES = [
    # required data, identifiers, addresses
    Case("SUBMITTER-ID", billing(submitter_id=""), CLEAN, E, "1000A", "NM109"),
    Case("BILLING-NAME", billing(name=" "), CLEAN, E, "2010AA", "NM103"),
    Case("BILLING-NPI", billing(npi="1234567890"), CLEAN, E, "2010AA", "NM109"),
    Case("BILLING-TIN", billing(tin="071234567"), billing(tin="12-3456789"), E, "2010AA", "REF02"),
    Case("BILLING-TAXONOMY", billing(taxonomy_code="207Q0000"), CLEAN, E, "2000A", "PRV03"),
    Case("BILLING-ADDRESS", billing_address(city=""), CLEAN, E, "2010AA", "N401"),
    Case(
        "BILLING-PO-BOX",
        billing_address(address1="P.O. Box 3097"),
        billing_address(address1="300 Boxwood Ln"),
        E, "2010AA", "N301",
    ),
    Case("BILLING-ZIP9", billing_address(zip="17101"), CLEAN, E, "2010AA", "N403"),
    Case(
        "PAY-TO-ADDRESS",
        billing(pay_to=ScrubAddress("PO Box 7", None, "PA", "17101")),
        billing(pay_to=ScrubAddress("PO Box 7", "Harrisburg", "PA", "17101")),
        E, "2010AB", "N401",
    ),
    Case("PAYER-ID", changed(lambda c: setattr(c.payer, "payer_id", "")), CLEAN, E, "2010BB",
         "NM109"),
    Case("CLAIM-FILING-INDICATOR", changed(lambda c: setattr(c.payer, "claim_filing_indicator",
         "XX")), CLEAN, E, "2000B", "SBR09"),
    Case("COVERAGE-MISSING", lambda: clean_claim(coverage=None), CLEAN, E, "2000B", "SBR"),
    Case("SUBSCRIBER-ID", coverage(member_id=""), CLEAN, E, "2010BA", "NM109"),
    Case(
        "SUBSCRIBER-DATA",
        coverage(relationship="19", subscriber_first_name="Pat"),
        coverage(
            relationship="19", subscriber_last_name="Parent", subscriber_first_name="Pat",
            subscriber_birth_date=date(1980, 1, 1), subscriber_sex="M",
        ),
        E, "2010BA", "NM103",
    ),
    Case(
        "PATIENT-DEMOGRAPHICS",
        changed(lambda c: setattr(c.patient, "birth_date", None)),
        CLEAN, E, "2010BA", "DMG02",
    ),
    Case(
        "PATIENT-ADDRESS",
        changed(lambda c: setattr(c.patient.address, "state", "ZZ")),
        CLEAN, E, "2010BA", "N402",
    ),
    Case("CLAIM-PCN", lambda: clean_claim(patient_control_number="X" * 21), CLEAN, E, "2300",
         "CLM01"),
    Case("CLAIM-TOTAL", lambda: clean_claim(total_charge=Decimal("99.99")), CLEAN, E, "2300",
         "CLM02"),
    Case("CLAIM-LINES", lambda: clean_claim(lines=[line(i) for i in range(1, 52)]),
         lambda: clean_claim(lines=[line(i) for i in range(1, 51)]), E, "2400", "LX"),
    Case("CLAIM-FREQUENCY", lambda: clean_claim(frequency_code="7"),
         lambda: clean_claim(frequency_code="7", original_payer_claim_number="2226001234"),
         E, "2300", "REF02"),
    Case("RENDERING-NPI", changed(lambda c: setattr(c.rendering, "npi", "1999999999")), CLEAN,
         E, "2310B", "NM109"),
    Case("REFERRING-NPI",
         lambda: clean_claim(referring=ScrubProvider(None, BAD_NPI, "referring")),
         lambda: clean_claim(referring=ScrubProvider(None, REFERRING_NPI, "referring")),
         E, "2310A", "NM109"),
    Case("REFERRING-REQUIRED",
         changed(lambda c: setattr(c.payer, "requires_referring_for", frozenset({"99213"}))),
         lambda: clean_claim(referring=ScrubProvider(None, REFERRING_NPI, "referring")),
         E, "2310A", "NM1"),
    Case("FACILITY-DATA",
         lambda: clean_claim(facility=ScrubProvider(None, None, "facility", "ASC",
                                                    address=ScrubAddress("1 A St", "York", "PA"))),
         lambda: clean_claim(facility=ScrubProvider(None, None, "facility", "ASC",
                             address=ScrubAddress("1 A St", "York", "PA", "17401"))),
         E, "2310C", "N403"),
    Case("ATTENDING-PROVIDER",
         lambda: clean_claim(claim_type="institutional", type_of_bill="131", patient_status="01"),
         CLEAN, E, "2310A", "NM109"),
    Case("INSTITUTIONAL-DATA",
         lambda: clean_claim(claim_type="institutional", type_of_bill="111", patient_status="01",
                             attending=ScrubProvider(None, REFERRING_NPI, "attending")),
         CLEAN, E, "2300", "DTP03"),
    # diagnosis
    Case("DX-MISSING", diagnoses(), CLEAN, E, "2300", "HI01"),
    Case("DX-CODE-SET-DATE",
         lambda: clean_claim(service_date_from=date(2015, 9, 30), service_date_to=date(2015, 9, 30),
                             lines=[line(service_date=date(2015, 9, 30))]),
         CLEAN, E, "2300", "HI01-2"),
    Case("DX-INVALID", diagnoses("M1711", "Q9999"), CLEAN, E, "2300", "HI01-2"),
    Case("DX-NOT-BILLABLE", diagnoses("E11"), diagnoses("E119"), E, "2300", "HI01-2"),
    Case("DX-UNSPECIFIED", diagnoses("J069"), diagnoses("J060"), W, "2300", "HI01-2"),
    Case("DX-EXTERNAL-CAUSE-PRIMARY", diagnoses("W010XXA", "S0990XA"),
         diagnoses("S0990XA", "W010XXA"), E, "2300", "HI01-2"),
    Case("DX-DUPLICATE", diagnoses("M1711", "M1711"), CLEAN, W, "2300", "HI"),
    Case("DX-POINTER", lines(line(pointers=(1, 3))), lines(line(pointers=(2, 1))), E, "2400",
         "SV107"),
    # procedure codes and modifiers
    Case("PROC-CODE", lines(line(code="9921")), CLEAN, E, "2400", "SV101-2"),
    Case("PROC-HCPCS", lines(line(code="G0500", charge="50.00")),
         lines(line(code="J1100", charge="5.00")), E, "2400", "SV101-2", cms=True),
    Case("MOD-FORMAT", lines(line(modifiers=("2",))), CLEAN, E, "2400", "SV101-3"),
    Case("MOD-UNKNOWN", lines(line(modifiers=("GT",))), lines(line(modifiers=("GA",))), E,
         "2400", "SV101-3", cms=True),
    Case("MOD-25", lines(line(1, "99213"), line(2, "20610")),
         lines(line(1, "99213", modifiers=("25",)), line(2, "20610")), E, "2400", "SV101-3"),
    Case("MOD-59", lines(line(1, "99213"), line(2, "J1100", modifiers=("59",))),
         lines(line(1, "97140", modifiers=("59",)), line(2, "97530")), W, "2400", "SV101-3",
         cms=True),
    Case("MOD-LATERALITY", lines(line(1, "20610", modifiers=("LT", "RT"))),
         lines(line(1, "20610", modifiers=("LT",)), line(2, "20610", modifiers=("RT",))),
         E, "2400", "SV101-3"),
    # NCCI
    Case("NCCI-PTP-BUNDLED", lines(line(1, "29881"), line(2, "29877")),
         lines(line(1, "29881"), line(2, "29877", service_date=DOS - timedelta(days=1)),
               service_date_from=DOS - timedelta(days=1)),
         E, "2400", "SV101-2", cms=True),
    Case("NCCI-PTP-MODIFIER", lines(line(1, "97140"), line(2, "97530")),
         lines(line(1, "97140"), line(2, "97530", modifiers=("XU",))),
         E, "2400", "SV101-3", cms=True),
    Case("MUE-LINE", lines(line(1, "J1100", units="21")), lines(line(1, "J1100", units="20")),
         E, "2400", "SV104", cms=True),
    Case("MUE-DATE-OF-SERVICE",
         lines(line(1, "97140", units="3"), line(2, "97140", units="2", modifiers=("59",))),
         lines(line(1, "97140", units="3"), line(2, "97140", units="1", modifiers=("59",))),
         E, "2400", "SV104", cms=True),
    # service
    Case("POS-VALID", lambda: clean_claim(place_of_service="30"), CLEAN, E, "2300", "CLM05-1"),
    Case("LINE-UNITS", lines(line(units="0")), CLEAN, E, "2400", "SV104"),
    Case("LINE-CHARGE", lines(line(charge="0.00")), CLEAN, E, "2400", "SV102"),
    Case("DOS-FUTURE",
         lines(line(service_date=TODAY + timedelta(days=1)), service_date_to=TODAY + timedelta(1)),
         lines(line(service_date=TODAY), service_date_to=TODAY), E, "2300", "DTP03"),
    Case("DOS-BEFORE-BIRTH",
         changed(lambda c: setattr(c.patient, "birth_date", DOS + timedelta(1))),
         changed(lambda c: setattr(c.patient, "birth_date", DOS)), E, "2400", "DTP03"),
    Case("DOS-RANGE", lines(line(service_date=DOS - timedelta(days=3))), CLEAN, E, "2400",
         "DTP03"),
    # payer
    Case("TIMELY-FILING",
         lines(line(service_date=TODAY - timedelta(366)), service_date_from=TODAY - timedelta(366)),
         lines(line(service_date=TODAY - timedelta(200)), service_date_from=TODAY - timedelta(200)),
         E, "2300", "DTP03"),
    Case("PROVIDER-ENROLLMENT",
         changed(lambda c: setattr(c.rendering, "id", uuid.uuid4())), CLEAN, E, "2310B", "NM109"),
    Case("ELIGIBILITY", coverage(eligibility_status="inactive"), CLEAN, E, "2000B", "SBR"),
    Case("PRIOR-AUTH",
         changed(lambda c: setattr(c.payer, "prior_auth_procedures", frozenset({"99213"}))),
         lambda: clean_claim(prior_authorization="AUTH123"), E, "2300", "REF*G1"),
    Case("SECONDARY-ORDER",
         lambda: clean_claim(payer_responsibility="S", prior_payer_claim_statuses=("SUBMITTED",),
                             prior_payer_coverage=ScrubCoverage(None, 1, "X1", "18")),
         lambda: clean_claim(payer_responsibility="S", prior_payer_claim_statuses=("PAID",),
                             prior_payer_coverage=ScrubCoverage(None, 1, "X1", "18")),
         E, "2320", "SBR01"),
]  # fmt: skip

PHI = re.compile(r"Testpatient|Alex|1EG4TE5MK73|1960-05-01|Parent|Pat\b")


def _scrub(claim: ScrubClaim, cms: bool) -> list[Finding]:
    return scrub_claim(claim, context(cms=cms))


def test_every_rule_has_a_case() -> None:
    # DUPLICATE-CLAIM needs other claims in the context: its own test is below.
    assert {r.id for r in all_rules()} - {"DUPLICATE-CLAIM"} == {c.rule_id for c in CASES}


@pytest.mark.parametrize("case", CASES, ids=str)
def test_rule_trips(case: Case) -> None:
    findings = _scrub(case.trip(), case.cms)
    assert not [f for f in findings if f.rule_id == RULE_FAILED]
    hits = [f for f in findings if f.rule_id == case.rule_id]
    assert hits, f"{case.rule_id} did not trip; got {[f.rule_id for f in findings]}"
    first = hits[0]
    assert (first.severity, first.loop, first.field) == (case.severity, case.loop, case.field)
    for f in hits:
        assert 15 < len(f.message) < 400
        assert f.message[0].isupper() and f.message.endswith(".")
        assert not PHI.search(f.message), f.message


@pytest.mark.parametrize("case", CASES, ids=str)
def test_rule_passes(case: Case) -> None:
    findings = _scrub(case.passes(), case.cms)
    assert [f for f in findings if f.rule_id == case.rule_id] == []
    assert not [f for f in findings if f.rule_id == RULE_FAILED]


def test_clean_claim_is_clean_with_and_without_cms_files() -> None:
    assert _scrub(clean_claim(), cms=False) == []
    assert _scrub(clean_claim(), cms=True) == []


# Severity variants and finer points ----------------------------------------------------------


def _ids(findings: list[Finding]) -> list[tuple[str, Severity]]:
    return [(f.rule_id, f.severity) for f in findings]


def test_timely_filing_warns_at_eighty_percent() -> None:
    age = 300  # 82% of 365
    claim = clean_claim(
        lines=[line(service_date=TODAY - timedelta(age))], service_date_from=TODAY - timedelta(age)
    )
    findings = [f for f in _scrub(claim, False) if f.rule_id == "TIMELY-FILING"]
    assert _ids(findings) == [("TIMELY-FILING", W)]
    assert "65 days" in findings[0].message


def test_eligibility_never_checked_is_a_warning() -> None:
    findings = _scrub(coverage(eligibility_status="unknown")(), False)
    assert _ids(findings) == [("ELIGIBILITY", W)]


def test_coverage_terminated_before_service_is_an_error() -> None:
    findings = _scrub(coverage(termination_date=DOS - timedelta(days=1))(), False)
    assert _ids(findings) == [("ELIGIBILITY", E)]


def test_missing_taxonomy_is_a_warning() -> None:
    assert _ids(_scrub(billing(taxonomy_code=None)(), False)) == [("BILLING-TAXONOMY", W)]


def test_unneeded_modifier_25_is_a_warning_and_25_on_a_procedure_an_error() -> None:
    findings = _scrub(lines(line(1, "99213", modifiers=("25",)))(), False)
    assert _ids(findings) == [("MOD-25", W)]
    findings = _scrub(lines(line(1, "20610", modifiers=("25",)))(), False)
    assert _ids(findings) == [("MOD-25", E)]


def test_modifier_25_not_needed_with_venipuncture() -> None:
    assert _scrub(lines(line(1, "99213"), line(2, "36415", charge="10.00"))(), False) == []


def test_59_with_an_x_modifier_is_an_error() -> None:
    claim = lines(line(1, "97140"), line(2, "97530", modifiers=("59", "XU")))()
    assert ("MOD-59", E) in _ids(_scrub(claim, True))


def test_bilateral_with_units_and_repeated_side_are_warnings() -> None:
    claim = lines(line(1, "20610", modifiers=("50",), units="2"))()
    assert _ids(_scrub(claim, False)) == [("MOD-LATERALITY", W)]
    claim = lines(line(1, "20610", modifiers=("LT",)), line(2, "20610", modifiers=("LT",)))()
    assert ("MOD-LATERALITY", W) in _ids(_scrub(claim, False))


def test_modifier_checks_without_hcpcs_file_accept_level_two_modifiers() -> None:
    assert _scrub(lines(line(modifiers=("GT",)))(), False) == []
    assert ("MOD-UNKNOWN", E) in _ids(_scrub(lines(line(modifiers=("98",)))(), False))


def test_enrollment_pending_terminated_and_group() -> None:
    ctx = context()
    ctx.enrollments = EnrollmentIndex()
    ctx.enrollments.add(PRACTICE_ID, PAYER_ID, RENDERING_ID, EnrollmentSpan("pending", None, None))
    findings = scrub_claim(clean_claim(), ctx)
    assert _ids(findings) == [("PROVIDER-ENROLLMENT", E)] and "pending" in findings[0].message

    ctx.enrollments = EnrollmentIndex()
    ctx.enrollments.add(
        PRACTICE_ID,
        PAYER_ID,
        RENDERING_ID,
        EnrollmentSpan("approved", date(2020, 1, 1), DOS - timedelta(days=1)),
    )
    findings = scrub_claim(clean_claim(), ctx)
    assert _ids(findings) == [("PROVIDER-ENROLLMENT", E)]
    assert "does not include the date of service" in findings[0].message

    ctx.enrollments = EnrollmentIndex()
    ctx.enrollments.add(PRACTICE_ID, PAYER_ID, None, EnrollmentSpan("approved", None, None))
    assert scrub_claim(clean_claim(), ctx) == []


def test_duplicate_claim_found_in_index_but_not_for_itself_or_its_original() -> None:
    ctx = context()
    first = clean_claim()
    ctx.duplicates.add_claim(first)
    assert scrub_claim(first, ctx) == []
    second = clean_claim(patient=first.patient)
    findings = scrub_claim(second, ctx)
    assert _ids(findings) == [("DUPLICATE-CLAIM", E)]
    # Added to the batch after the first: still the duplicate; the first stays clean.
    ctx.duplicates.add_claim(second)
    assert scrub_claim(first, ctx) == []
    findings = scrub_claim(second, ctx)
    assert _ids(findings) == [("DUPLICATE-CLAIM", E)]
    assert str(first.id) in findings[0].message and findings[0].line_number == 1
    other_patient = clean_claim()
    assert scrub_claim(other_patient, ctx) == []
    replacement = clean_claim(
        patient=first.patient,
        frequency_code="7",
        original_claim_id=first.id,
        original_payer_claim_number="P1",
    )
    assert scrub_claim(replacement, ctx) == []


def test_invalid_relationship_code() -> None:
    claim = coverage(
        relationship="99",
        subscriber_last_name="P",
        subscriber_first_name="Q",
        subscriber_birth_date=date(1980, 1, 1),
        subscriber_sex="M",
    )()
    assert [(f.rule_id, f.loop, f.field) for f in _scrub(claim, False)] == [
        ("SUBSCRIBER-DATA", "2000C", "PAT01")
    ]


def test_secondary_without_prior_coverage() -> None:
    claim = clean_claim(payer_responsibility="S", prior_payer_claim_statuses=("PAID",))
    findings = _scrub(claim, False)
    assert [(f.rule_id, f.loop) for f in findings] == [("SECONDARY-ORDER", "2330B")]


def test_payer_can_disable_a_rule() -> None:
    claim = diagnoses("J069")()
    claim.payer.disabled_rules = frozenset({"DX-UNSPECIFIED"})
    assert _scrub(claim, False) == []


def test_a_failing_rule_becomes_an_error_finding() -> None:
    claim = clean_claim()
    claim.lines[0].units = None  # type: ignore[assignment]
    findings = _scrub(claim, False)
    assert any(f.rule_id == RULE_FAILED and f.severity is E for f in findings)


def test_institutional_claim_uses_hospital_tables() -> None:
    attending = ScrubProvider(None, REFERRING_NPI, "attending")
    ls = [line(1, "29881"), line(2, "29877")]
    for ln in ls:
        ln.revenue_code = "0360"
    claim = clean_claim(
        claim_type="institutional",
        type_of_bill="131",
        patient_status="01",
        attending=attending,
        lines=ls,
        place_of_service=None,
    )
    ids = [f.rule_id for f in _scrub(claim, True)]
    # Hospital table has this pair with indicator 1 (modifier may bypass), not 0.
    assert "NCCI-PTP-MODIFIER" in ids and "NCCI-PTP-BUNDLED" not in ids


def test_mue_uses_version_in_force_on_date_of_service() -> None:
    # 5 units of 97140: over the 2026 MUE (4), within the October 2025 one (6).
    dos = date(2025, 12, 1)
    old = clean_claim(
        lines=[line(1, "97140", units="5", service_date=dos)],
        service_date_from=dos,
        service_date_to=dos,
    )
    assert [f for f in _scrub(old, True) if f.rule_id.startswith("MUE")] == []
    new = clean_claim(lines=[line(1, "97140", units="5")])
    hits = [f for f in _scrub(new, True) if f.rule_id == "MUE-DATE-OF-SERVICE"]
    assert hits and "MAI 3" in hits[0].message


def test_mue_policy_indicator_message_and_dme_table() -> None:
    claim = clean_claim(lines=[line(1, "20610", units="3")])
    hits = [f for f in _scrub(claim, True) if f.rule_id == "MUE-DATE-OF-SERVICE"]
    assert hits and "MAI 2" in hits[0].message and "policy" in hits[0].message
    dme = clean_claim(lines=[line(1, "E0114", units="2", charge="80.00")])
    assert not [f for f in _scrub(dme, True) if f.rule_id == "MUE-LINE"]
    dme.billing_dme_supplier = True
    assert [f.rule_id for f in _scrub(dme, True) if f.rule_id == "MUE-LINE"] == ["MUE-LINE"]


def test_ptp_effective_and_deletion_dates() -> None:
    # 11042/97597 was deleted 2025-01-01: applies in 2024, not in 2026.
    d2024 = date(2024, 6, 3)
    old = clean_claim(
        lines=[line(1, "11042", service_date=d2024), line(2, "97597", service_date=d2024)],
        service_date_from=d2024,
        service_date_to=d2024,
    )
    ctx = context(cms=True, today=date(2024, 7, 1))
    assert "NCCI-PTP-MODIFIER" in [f.rule_id for f in scrub_claim(old, ctx)]
    now = clean_claim(lines=[line(1, "11042"), line(2, "97597")])
    assert "NCCI-PTP-MODIFIER" not in [f.rule_id for f in _scrub(now, True)]
    # 20552/20553 takes effect 2026-04-01; indicator 9 pairs never apply.
    assert not [
        f
        for f in _scrub(lines(line(1, "20552"), line(2, "20553"))(), True)
        if f.rule_id.startswith("NCCI")
    ]
    assert not [
        f
        for f in _scrub(lines(line(1, "12001"), line(2, "11900"))(), True)
        if f.rule_id.startswith("NCCI")
    ]


def test_ptp_modifier_25_on_em_bypasses_indicator_1() -> None:
    claim = lines(line(1, "20610"), line(2, "99213", modifiers=("25",)))()
    assert _scrub(claim, True) == []


def test_ptp_same_side_anatomic_modifiers_do_not_bypass() -> None:
    same = lines(line(1, "97140", modifiers=("LT",)), line(2, "97530", modifiers=("LT",)))()
    assert "NCCI-PTP-MODIFIER" in [f.rule_id for f in _scrub(same, True)]
    other = lines(line(1, "97140", modifiers=("LT",)), line(2, "97530", modifiers=("RT",)))()
    assert "NCCI-PTP-MODIFIER" not in [f.rule_id for f in _scrub(other, True)]


def test_hcpcs_code_not_yet_effective_and_unknown() -> None:
    early = _scrub(lines(line(code="G0560", charge="50.00"))(), True)
    assert not [f for f in early if f.rule_id == "PROC-HCPCS"]
    d2024 = date(2024, 6, 3)
    claim = clean_claim(
        lines=[line(code="G0560", charge="50.00", service_date=d2024)],
        service_date_from=d2024,
        service_date_to=d2024,
    )
    hits = [
        f
        for f in scrub_claim(claim, context(cms=True, today=date(2024, 7, 1)))
        if f.rule_id == "PROC-HCPCS"
    ]
    assert hits and "takes effect on 2025-01-01" in hits[0].message
    unknown = [f for f in _scrub(lines(line(code="A9999"))(), True) if f.rule_id == "PROC-HCPCS"]
    assert unknown and "not in the CMS HCPCS" in unknown[0].message


def test_diagnosis_checked_against_release_in_force() -> None:
    dos = date(2026, 10, 5)
    ctx_today = date(2026, 10, 20)

    def claim(code: str) -> ScrubClaim:
        return clean_claim(lines=[line(service_date=dos)], service_date_from=dos,
                           service_date_to=dos, diagnoses=[ScrubDiagnosis(1, code)])  # fmt: skip

    with_2027 = context(cms=True, today=ctx_today)
    bundled_only = context(cms=False, today=ctx_today)
    assert scrub_claim(claim("R5087"), with_2027) == []
    assert [f.rule_id for f in scrub_claim(claim("R5087"), bundled_only)] == ["DX-INVALID"]
    [finding] = scrub_claim(claim("E119"), with_2027)
    assert finding.rule_id == "DX-INVALID" and "release 2027" in finding.message
    # The same code on a date of service in the April 2026 release is fine.
    assert scrub_claim(clean_claim(diagnoses=[ScrubDiagnosis(1, "E119")]), with_2027) == []


def test_place_of_service_not_yet_in_effect() -> None:
    d2021 = date(2021, 6, 1)
    claim = clean_claim(
        place_of_service="10",
        lines=[line(service_date=d2021)],
        service_date_from=d2021,
        service_date_to=d2021,
    )
    findings = scrub_claim(claim, context(today=date(2021, 7, 1)))
    assert ("POS-VALID", E) in _ids(findings)
