"""Claims as the 837 engine types them: database rows → `rcm.x12.x837.Claim837`.

`load_claims_837` reads a whole batch with a fixed number of queries (claims, encounters,
patients, coverages, payers, providers, lines, diagnoses), whatever its size, as plain rows of
the columns the 837 needs (no ORM instances: building them cost more than the file). Secondary and
tertiary claims get their 2320/2330/2430 loops from the prior payers' posted 835 rows
(`rcm.posting.secondary.prior_adjudications`), one lookup per such claim: they are few.

Nothing here decides whether a claim is billable: the scrubber did that. Missing data that the
guides require becomes an X12Error at build time, naming the segment, never the value.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, select
from sqlmodel import Session, col

from rcm.errors import RcmError
from rcm.models import (
    Claim,
    ClaimType,
    Coverage,
    Diagnosis,
    Encounter,
    Patient,
    Payer,
    PayerResponsibility,
    Practice,
    Provider,
    ServiceLine,
)
from rcm.x12 import x837 as m

SELF = "18"
# 2000C PAT01 and 2320 SBR02 take these individual relationship codes; anything else the
# practice recorded is reported as "other" (G8) rather than refused at build time.
PATIENT_RELATIONSHIPS = frozenset({"01", "19", "20", "21", "39", "40", "53", "G8"})
OTHER_SUBSCRIBER_RELATIONSHIPS = PATIENT_RELATIONSHIPS | {SELF}


@dataclass(frozen=True, slots=True, kw_only=True)
class SubmitterInfo:
    """Who sends the file (1000A) and to whom (1000B). The submitter ID is the practice's
    account at the clearinghouse unless the profile says otherwise."""

    receiver_name: str
    receiver_id: str
    submitter_name: str | None = None
    submitter_id: str | None = None
    contact_name: str = "BILLING OFFICE"
    contact_phone: str | None = None


def header_837(
    practice: Practice, info: SubmitterInfo, *, reference_id: str, created: datetime
) -> m.Header837:
    phone = info.contact_phone or practice.phone or "0000000000"
    return m.Header837(
        submitter=m.Submitter(
            name=(info.submitter_name or practice.name)[:60],
            identifier=info.submitter_id or practice.clearinghouse_account,
            contact=m.Contact(name=info.contact_name, phone=_digits(phone)),
        ),
        receiver=m.Receiver(name=info.receiver_name[:60], identifier=info.receiver_id),
        reference_id=reference_id,
        created=created,
    )


def _digits(text: str) -> str:
    return "".join(ch for ch in text if ch.isdigit())


def _address(
    line1: str | None, line2: str | None, city: str | None, state: str | None, zip_: str | None
) -> m.Address | None:
    if not line1 or not city:
        return None
    return m.Address(line1=line1, line2=line2 or None, city=city, state=state, postal_code=zip_)


def billing_provider(practice: Practice) -> m.BillingProvider:
    address = _address(
        practice.address1, practice.address2, practice.city, practice.state, practice.zip
    )
    if address is None:
        raise RcmError(f"practice {practice.slug} has no billing address")
    pay_to = _address(
        practice.pay_to_address1,
        None,
        practice.pay_to_city,
        practice.pay_to_state,
        practice.pay_to_zip,
    )
    return m.BillingProvider(
        npi=practice.billing_npi,
        tax_id=practice.tin,
        name=practice.name[:60],
        address=address,
        taxonomy=practice.taxonomy_code or None,
        pay_to_address=pay_to,
    )


def payer_identifier(payer: Payer, clearinghouse: str | None) -> str:
    """The payer ID this clearinghouse knows the payer by (NM109 of 2010BB)."""
    if clearinghouse and payer.clearinghouse_payer_ids.get(clearinghouse):
        return str(payer.clearinghouse_payer_ids[clearinghouse])
    return payer.payer_id


def _provider(row: Provider | None, role: str) -> m.Provider | None:
    if row is None:
        return None
    organization = not row.first_name
    return m.Provider(
        role=role,
        name=row.last_name[:60],
        first_name=None if organization else row.first_name,
        entity_type="2" if organization else "1",
        npi=row.npi,
        taxonomy=row.taxonomy_code,
    )


def _sex(value: Any) -> str | None:
    text = getattr(value, "value", value)
    return str(text) if text in ("M", "F", "U") else None


def _subscriber(
    coverage: Coverage,
    patient: Patient,
    payer: Payer,
    responsibility: str,
    clearinghouse: str | None,
) -> m.Subscriber:
    first: str | None
    last: str
    middle: str | None
    birth: date | None
    is_patient = coverage.relationship == SELF
    if is_patient:
        first, last, middle = patient.first_name, patient.last_name, patient.middle_name
        birth, sex = patient.birth_date, _sex(patient.sex)
        address = _address(
            patient.address1, patient.address2, patient.city, patient.state, patient.zip
        )
    else:
        first = coverage.subscriber_first_name
        last = coverage.subscriber_last_name or patient.last_name
        middle = None
        birth, sex = coverage.subscriber_birth_date, _sex(coverage.subscriber_sex)
        address = _address(
            coverage.subscriber_address1,
            None,
            coverage.subscriber_city,
            coverage.subscriber_state,
            coverage.subscriber_zip,
        )
    if birth is not None and sex is None:
        sex = "U"  # DMG03 is mandatory once DMG is sent
    return m.Subscriber(
        member_id=coverage.member_id,
        last_name=last,
        first_name=first,
        middle_name=middle,
        birth_date=birth,
        sex=sex,
        address=address,
        payer=m.Payer(name=payer.name[:60], payer_id=payer_identifier(payer, clearinghouse)),
        payer_responsibility=responsibility,
        group_number=coverage.group_number,
        claim_filing_indicator=payer.claim_filing_indicator,
    )


def _patient(coverage: Coverage, patient: Patient) -> m.Patient | None:
    if coverage.relationship == SELF:
        return None
    relationship = coverage.relationship if coverage.relationship in PATIENT_RELATIONSHIPS else "G8"
    return m.Patient(
        relationship=relationship,
        last_name=patient.last_name,
        first_name=patient.first_name,
        middle_name=patient.middle_name,
        birth_date=patient.birth_date,
        sex=_sex(patient.sex) or "U",
        address=_address(
            patient.address1, patient.address2, patient.city, patient.state, patient.zip
        ),
    )


def _split_procedure(code: str) -> tuple[str, str]:
    """(qualifier, code) from an 835 SVC01 kept as 'HC:99213' or just '99213'."""
    if ":" in code:
        qualifier, _, rest = code.partition(":")
        return qualifier or "HC", rest.split(":", 1)[0]
    return "HC", code


def _cas(adjustments: Iterable[Any]) -> Iterable[m.Adjustment]:
    for a in adjustments:
        yield m.Adjustment(
            group_code=a.group, reason_code=a.reason, amount=a.amount, quantity=a.quantity
        )


def _merged(adjustments: Sequence[Any]) -> list[m.Adjustment]:
    """Adjustments summed by (group, reason), first-seen order: line-level CAS reported at
    claim level."""
    totals: dict[tuple[str, str], Decimal] = {}
    for a in adjustments:
        key = (a.group, a.reason)
        totals[key] = totals.get(key, Decimal("0")) + a.amount
    return [
        m.Adjustment(group_code=group, reason_code=reason, amount=amount)
        for (group, reason), amount in totals.items()
        if amount
    ]


def _other_payers(
    session: Session,
    claim: Claim,
    clearinghouse: str | None,
    lines_by_id: dict[uuid.UUID, ServiceLine],
) -> tuple[tuple[m.OtherPayer, ...], dict[uuid.UUID, list[m.LineAdjudication]]]:
    from rcm.posting.secondary import prior_adjudications

    priors = prior_adjudications(session, claim.id)
    others: list[m.OtherPayer] = []
    by_line: dict[uuid.UUID, list[m.LineAdjudication]] = defaultdict(list)
    for prior in priors:
        prior_claim = session.get(Claim, prior.claim_id)
        payer = session.get(Payer, prior.payer_id)
        if prior_claim is None or payer is None:
            continue
        coverage = session.get(Coverage, prior_claim.coverage_id)
        patient = session.get(Patient, prior_claim.patient_id)
        if coverage is None or patient is None:
            continue
        subscriber = _subscriber(
            coverage, patient, payer, str(prior.payer_responsibility), clearinghouse
        )
        payer_id = subscriber.payer.payer_id
        relationship = coverage.relationship
        if relationship not in OTHER_SUBSCRIBER_RELATIONSHIPS:
            relationship = "G8"
        mine: dict[uuid.UUID, m.LineAdjudication] = {}
        line_level = bool(prior.lines)
        for line in prior.lines:
            if line.service_line_id is None or line.service_line_id not in lines_by_id:
                continue
            own = lines_by_id[line.service_line_id]
            qualifier, code = _split_procedure(line.procedure_code)
            when = prior.adjudication_date or line.service_date
            if not code or when is None:
                # 2430 SVD03 needs a procedure code (pyx12's X223 map allows no revenue-code
                # qualifier), so a revenue-code-only line sends the whole payer at claim level.
                line_level = False
                break
            mine[line.service_line_id] = m.LineAdjudication(
                payer_id=payer_id,
                paid_amount=line.paid,
                procedure_qualifier=qualifier,
                procedure_code=code,
                modifiers=tuple(line.modifiers),
                units=line.units if line.units is not None else own.units,
                adjudication_date=when,
                adjustments=tuple(_cas(line.adjustments)),
            )
        line_level = line_level and bool(mine)
        if line_level:
            for line_id, adjudication in mine.items():
                by_line[line_id].append(adjudication)
            claim_adjustments = list(_cas(prior.claim_adjustments))
        else:
            claim_adjustments = _merged(
                [*prior.claim_adjustments, *(a for x in prior.lines for a in x.adjustments)]
            )
        others.append(
            m.OtherPayer(
                payer_responsibility=str(prior.payer_responsibility.value),
                relationship=relationship,
                claim_filing_indicator=payer.claim_filing_indicator,
                subscriber_last_name=subscriber.last_name,
                subscriber_first_name=subscriber.first_name,
                subscriber_member_id=coverage.member_id,
                payer_name=subscriber.payer.name,
                payer_id=payer_id,
                group_number=coverage.group_number,
                adjustments=tuple(claim_adjustments),
                paid_amount=prior.paid,
                # With line adjudications (2430) the remittance date goes there, not in 2330B.
                adjudication_date=None if line_level else prior.adjudication_date,
            )
        )
    return tuple(others), by_line


def _facility_code(claim: Claim, encounter: Encounter) -> str:
    if claim.claim_type == ClaimType.INSTITUTIONAL:
        bill = (encounter.type_of_bill or "").lstrip("0")
        return bill[:2] if len(bill) >= 2 else "13"
    return encounter.place_of_service or "11"


def _line(
    row: ServiceLine,
    encounter: Encounter,
    institutional: bool,
    adjudications: Sequence[m.LineAdjudication],
) -> m.ServiceLine:
    drug = None
    if row.ndc:
        drug = m.Drug(
            ndc=row.ndc, quantity=row.ndc_quantity or Decimal("1"), unit=row.ndc_unit or "UN"
        )
    return m.ServiceLine(
        charge=row.charge,
        units=row.units,
        procedure_code=row.procedure_code or None,
        modifiers=tuple(row.modifiers or ()),
        diagnosis_pointers=() if institutional else tuple(row.diagnosis_pointers or ()),
        revenue_code=row.revenue_code if institutional else None,
        service_date=row.service_date or encounter.service_date,
        line_item_control_number=row.id.hex,
        drug=drug,
        adjudications=tuple(adjudications),
    )


def claim_837(
    session: Session,
    claim: Claim,
    *,
    practice: Practice,
    encounter: Encounter,
    patient: Patient,
    coverage: Coverage,
    payer: Payer,
    lines: Sequence[ServiceLine],
    diagnoses: Sequence[str],
    providers: dict[uuid.UUID, Provider],
    clearinghouse: str | None,
    billing: m.BillingProvider | None = None,
) -> m.Claim837:
    """One claim as the 837 engine types it."""
    institutional = claim.claim_type == ClaimType.INSTITUTIONAL
    responsibility = str(PayerResponsibility(claim.payer_responsibility).value)
    others: tuple[m.OtherPayer, ...] = ()
    by_line: dict[uuid.UUID, list[m.LineAdjudication]] = {}
    if responsibility != PayerResponsibility.PRIMARY.value:
        others, by_line = _other_payers(session, claim, clearinghouse, {x.id: x for x in lines})
    rendering = (
        providers.get(encounter.rendering_provider_id) if encounter.rendering_provider_id else None
    )
    referring = (
        providers.get(encounter.referring_provider_id) if encounter.referring_provider_id else None
    )
    common: dict[str, Any] = {
        "kind": m.INSTITUTIONAL if institutional else m.PROFESSIONAL,
        "billing_provider": billing or billing_provider(practice),
        "subscriber": _subscriber(coverage, patient, payer, responsibility, clearinghouse),
        "patient": _patient(coverage, patient),
        "patient_control_number": claim.patient_control_number,
        "charge": claim.total_charge,
        "facility_code": _facility_code(claim, encounter),
        "frequency": str(
            claim.frequency_code.value
            if hasattr(claim.frequency_code, "value")
            else claim.frequency_code
        ),
        "lines": tuple(_line(x, encounter, institutional, by_line.get(x.id, ())) for x in lines),
        "diagnoses": tuple(diagnoses),
        "prior_authorization": encounter.prior_authorization,
        "original_claim_number": claim.original_payer_claim_number,
        "referring_provider": _provider(referring, "DN"),
        "other_payers": others,
    }
    if institutional:
        admission = (
            datetime.combine(encounter.admission_date, time(0, 0))
            if encounter.admission_date
            else None
        )
        return m.Claim837(
            **common,
            provider_signature=None,
            statement_from=claim.service_date_from,
            statement_through=claim.service_date_to,
            admission=admission,
            admission_type=encounter.admission_type or ("1" if admission else None),
            admission_source=encounter.admission_source,
            patient_status=encounter.patient_status or "01",
            attending_provider=_provider(rendering, "71"),
        )
    return m.Claim837(**common, rendering_provider=_provider(rendering, "82"))


_LINE_COLUMNS = (
    "id", "encounter_id", "line_number", "procedure_code", "modifiers", "units", "charge",
    "diagnosis_pointers", "service_date", "revenue_code", "ndc", "ndc_quantity", "ndc_unit",
)  # fmt: skip
# The columns `claim_837` and the helpers it calls read, per table: plain rows of these (they
# answer attribute access as the entities do) instead of ORM instances, which cost more to
# build than the 837 itself.
_CLAIM_COLUMNS = (
    "id", "encounter_id", "patient_id", "coverage_id", "payer_id", "patient_control_number",
    "claim_type", "payer_responsibility", "frequency_code", "original_payer_claim_number",
    "total_charge", "service_date_from", "service_date_to",
)  # fmt: skip
_ENCOUNTER_COLUMNS = (
    "id", "service_date", "place_of_service", "type_of_bill", "prior_authorization",
    "rendering_provider_id", "referring_provider_id", "admission_date", "admission_type",
    "admission_source", "patient_status",
)  # fmt: skip
_PATIENT_COLUMNS = (
    "id", "first_name", "last_name", "middle_name", "birth_date", "sex", "address1", "address2",
    "city", "state", "zip",
)  # fmt: skip
_COVERAGE_COLUMNS = (
    "id", "relationship", "member_id", "group_number", "subscriber_first_name",
    "subscriber_last_name", "subscriber_birth_date", "subscriber_sex", "subscriber_address1",
    "subscriber_city", "subscriber_state", "subscriber_zip",
)  # fmt: skip
_PAYER_COLUMNS = ("id", "name", "payer_id", "claim_filing_indicator", "clearinghouse_payer_ids")
_PROVIDER_COLUMNS = ("id", "first_name", "last_name", "npi", "taxonomy_code")


def _columns(model: Any, names: Sequence[str]) -> list[Any]:
    return [col(getattr(model, name)) for name in names]


def load_claims_837(
    session: Session,
    *,
    practice_id: uuid.UUID,
    claim_ids: Iterable[uuid.UUID] | None = None,
    interchange_id: uuid.UUID | None = None,
    clearinghouse: str | None = None,
) -> list[m.Claim837]:
    """Claims (by ID, or every claim assigned to an interchange) as typed 837 claims, ordered
    by patient control number so the same rows always give the same file.

    Every table is read as plain rows of the columns the 837 needs (a fixed number of queries,
    no ORM instances); `claim_837` reads them by attribute as it would the entities."""
    if (claim_ids is None) == (interchange_id is None):
        raise ValueError("pass claim_ids or interchange_id")
    where: list[ColumnElement[bool]] = [col(Claim.practice_id) == practice_id]
    if interchange_id is not None:
        where.append(col(Claim.interchange_id) == interchange_id)
    else:
        where.append(col(Claim.id).in_(list(claim_ids or ())))
    practice = session.get(Practice, practice_id)
    if practice is None:
        raise RcmError(f"no practice {practice_id}")
    claims: Sequence[Any] = session.execute(
        select(*_columns(Claim, _CLAIM_COLUMNS))
        .where(*where)
        .order_by(col(Claim.patient_control_number))
    ).all()
    if not claims:
        return []

    def of_claims(column: Any) -> Any:
        return select(column).where(*where)

    def by_id(model: Any, names: Sequence[str], *where_: Any) -> dict[uuid.UUID, Any]:
        statement = select(*_columns(model, names)).where(*where_)
        return {row.id: row for row in session.execute(statement)}

    selected = of_claims(col(Claim.encounter_id))
    encounters = by_id(Encounter, _ENCOUNTER_COLUMNS, col(Encounter.id).in_(selected))
    lines: dict[uuid.UUID, list[Any]] = defaultdict(list)
    for line in session.execute(
        select(*_columns(ServiceLine, _LINE_COLUMNS))
        .where(col(ServiceLine.encounter_id).in_(selected))
        .order_by(col(ServiceLine.encounter_id), col(ServiceLine.line_number))
    ):
        lines[line.encounter_id].append(line)
    diagnoses: dict[uuid.UUID, list[str]] = defaultdict(list)
    for encounter_id, code in session.execute(
        select(col(Diagnosis.encounter_id), col(Diagnosis.code))
        .where(col(Diagnosis.encounter_id).in_(selected))
        .order_by(col(Diagnosis.encounter_id), col(Diagnosis.sequence))
    ):
        diagnoses[encounter_id].append(code)
    patients = by_id(
        Patient, _PATIENT_COLUMNS, col(Patient.id).in_(of_claims(col(Claim.patient_id)))
    )
    coverages = by_id(
        Coverage, _COVERAGE_COLUMNS, col(Coverage.id).in_(of_claims(col(Claim.coverage_id)))
    )
    payers = by_id(Payer, _PAYER_COLUMNS, col(Payer.id).in_(of_claims(col(Claim.payer_id))))
    providers = by_id(Provider, _PROVIDER_COLUMNS, col(Provider.practice_id) == practice_id)
    billing = billing_provider(practice)
    out = []
    for claim in claims:
        out.append(
            claim_837(
                session,
                claim,
                practice=practice,
                encounter=encounters[claim.encounter_id],
                patient=patients[claim.patient_id],
                coverage=coverages[claim.coverage_id],
                payer=payers[claim.payer_id],
                lines=lines[claim.encounter_id],
                diagnoses=diagnoses[claim.encounter_id],
                providers=providers,
                clearinghouse=clearinghouse,
                billing=billing,
            )
        )
    return out


__all__ = [
    "SubmitterInfo",
    "billing_provider",
    "claim_837",
    "header_837",
    "load_claims_837",
    "payer_identifier",
]
