"""837P (005010X222A1) and 837I (005010X223A2): typed claims, build and parse.

One `Claim837` type serves both guides; `kind` says which, and fields that only one guide uses
say so. The builder groups claims into the HL tree the guides require: one 2000A per billing
provider, one 2000B per subscriber (and payer), one 2000C per dependent patient, claims under
the patient they are for.

Building renders each segment straight to text (the writer's generic path costs several
microseconds a segment, too slow for the 20,000 claims/s a batch of a big practice needs) and
hands the rendered segments to `core.write_interchange`, which adds the envelope and counts.
Delimiters inside data are still refused, naming the segment and, where it can, the element,
as core does.

Errors never quote values: a claim's fields are PHI. They name the segment and element.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from rcm.errors import X12Error, X12SyntaxError
from rcm.x12.core import (
    DEFAULT_DELIMITERS,
    Delimiters,
    InterchangeEnvelope,
    Segment,
    Source,
    Transaction,
    TransactionBody,
    X12Writer,
    format_decimal,
    read_transactions,
    write_interchange,
)

ClaimKind = Literal["P", "I"]
PROFESSIONAL: ClaimKind = "P"
INSTITUTIONAL: ClaimKind = "I"

IMPLEMENTATION = {"P": "005010X222A1", "I": "005010X223A2"}
MAX_CLAIMS_PER_TRANSACTION = 5000

# --------------------------------------------------------------------------------------------
# The typed model
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Address:
    line1: str
    line2: str | None = None
    city: str
    state: str | None = None
    postal_code: str | None = None
    country: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Contact:
    name: str
    phone: str | None = None
    email: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Submitter:
    """1000A. `identifier` is the ETIN the clearinghouse assigned (NM109, qualifier 46)."""

    name: str
    identifier: str
    contact: Contact
    first_name: str | None = None
    entity_type: str = "2"


@dataclass(frozen=True, slots=True, kw_only=True)
class Receiver:
    """1000B."""

    name: str
    identifier: str


@dataclass(frozen=True, slots=True, kw_only=True)
class BillingProvider:
    """2000A/2010AA, with 2010AB when payments go to another address."""

    npi: str
    tax_id: str
    name: str
    address: Address
    first_name: str | None = None
    entity_type: str = "2"
    tax_id_qualifier: str = "EI"
    taxonomy: str | None = None
    contact: Contact | None = None
    pay_to_address: Address | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Payer:
    """2010BB (and the payer named in 2330B)."""

    name: str
    payer_id: str
    id_qualifier: str = "PI"
    address: Address | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Subscriber:
    """2000B/2010BA plus the payer of 2010BB. SBR01 `payer_responsibility`: P, S, T..."""

    member_id: str
    last_name: str
    payer: Payer
    first_name: str | None = None
    middle_name: str | None = None
    suffix: str | None = None
    entity_type: str = "1"
    birth_date: date | None = None
    sex: str | None = None
    address: Address | None = None
    payer_responsibility: str = "P"
    group_number: str | None = None
    group_name: str | None = None
    insurance_type: str | None = None
    claim_filing_indicator: str = "CI"


@dataclass(frozen=True, slots=True, kw_only=True)
class Patient:
    """2000C/2010CA: a patient who is not the subscriber. `relationship` is PAT01 (01 spouse,
    19 child, 20 employee, 21 unknown, 39 organ donor, 40 cadaver donor, 53 life partner,
    G8 other)."""

    relationship: str
    last_name: str
    first_name: str | None = None
    middle_name: str | None = None
    suffix: str | None = None
    birth_date: date | None = None
    sex: str | None = None
    address: Address | None = None


ProviderRole = Literal["DN", "82", "71", "72", "77", "DQ", "ZZ"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Provider:
    """A 2310 provider: DN referring, 82 rendering, 71 attending (837I), 72 operating (837I),
    77 service facility, DQ supervising (837P). `name` is the last or organization name."""

    role: str
    name: str
    npi: str | None = None
    first_name: str | None = None
    middle_name: str | None = None
    entity_type: str = "1"
    taxonomy: str | None = None
    address: Address | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Adjustment:
    """A CAS triplet: group (CO, PR, OA, PI, CR), CARC reason, amount, optional quantity."""

    group_code: str
    reason_code: str
    amount: Decimal
    quantity: Decimal | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class OtherPayer:
    """2320 other subscriber information with 2330A (the other subscriber) and 2330B (the other
    payer): what an earlier payer did with this claim, for secondary and tertiary claims."""

    payer_responsibility: str
    relationship: str
    claim_filing_indicator: str
    subscriber_last_name: str
    subscriber_member_id: str
    payer_name: str
    payer_id: str
    subscriber_first_name: str | None = None
    subscriber_entity_type: str = "1"
    group_number: str | None = None
    group_name: str | None = None
    insurance_type: str | None = None
    adjustments: tuple[Adjustment, ...] = ()
    paid_amount: Decimal | None = None
    remaining_patient_liability: Decimal | None = None
    benefits_assignment: str = "Y"
    patient_signature_source: str | None = None
    release_of_information: str = "Y"
    adjudication_date: date | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class LineAdjudication:
    """2430: how another payer paid one service line (SVD, CAS, DTP*573). `revenue_code` is
    SVD04, which 837I requires: when it is None the line's own revenue code is written."""

    payer_id: str
    paid_amount: Decimal
    procedure_code: str
    units: Decimal
    adjudication_date: date
    procedure_qualifier: str = "HC"
    modifiers: tuple[str, ...] = ()
    revenue_code: str | None = None
    adjustments: tuple[Adjustment, ...] = ()
    remaining_patient_liability: Decimal | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Drug:
    """2410: the NDC of a drug given (LIN*N4), its quantity and unit (CTP04/CTP05: UN, ML, GR,
    F2, ME), and the prescription number (REF*XZ)."""

    ndc: str
    quantity: Decimal
    unit: str = "UN"
    prescription_number: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ServiceLine:
    """2400. 837P: SV1 with place of service and diagnosis pointers; 837I: SV2 with the revenue
    code (procedure optional). `service_date_end` makes DTP*472 a range."""

    charge: Decimal
    units: Decimal
    procedure_code: str | None = None
    procedure_qualifier: str = "HC"
    modifiers: tuple[str, ...] = ()
    unit_of_measure: str = "UN"
    place_of_service: str | None = None
    diagnosis_pointers: tuple[int, ...] = ()
    revenue_code: str | None = None
    service_date: date | None = None
    service_date_end: date | None = None
    line_item_control_number: str | None = None
    drug: Drug | None = None
    adjudications: tuple[LineAdjudication, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Note:
    """NTE: 837P uses ADD, CER, DCP, DGN, TPO; 837I uses ALG, DCP, DGN, DME, MED, NTR, ODT, RHB,
    RLH, RNH, SET, SFM, SPT, UPI."""

    code: str
    text: str


@dataclass(frozen=True, slots=True, kw_only=True)
class OccurrenceCode:
    code: str
    date: date


@dataclass(frozen=True, slots=True, kw_only=True)
class ValueCode:
    code: str
    amount: Decimal


@dataclass(frozen=True, slots=True, kw_only=True)
class Claim837:
    """One claim (2300) with where it sits in the HL tree.

    `facility_code` is CLM05-1: the place of service for 837P, the first two digits of the type
    of bill (facility type) for 837I; `frequency` is CLM05-3 (1 original, 7 replacement,
    8 void, which need `original_claim_number`, REF*F8). `diagnoses` are ICD-10-CM codes without
    the point, principal first. `patient` is None when the patient is the subscriber."""

    kind: ClaimKind
    billing_provider: BillingProvider
    subscriber: Subscriber
    patient_control_number: str
    charge: Decimal
    facility_code: str
    lines: tuple[ServiceLine, ...]
    diagnoses: tuple[str, ...]
    patient: Patient | None = None
    frequency: str = "1"
    provider_signature: str | None = "Y"
    assignment: str = "A"
    benefits_assignment: str = "Y"
    release_of_information: str = "Y"
    patient_signature_source: str | None = None
    delay_reason: str | None = None
    prior_authorization: str | None = None
    original_claim_number: str | None = None
    medical_record_number: str | None = None
    notes: tuple[Note, ...] = ()
    onset_date: date | None = None
    statement_from: date | None = None
    statement_through: date | None = None
    admission: datetime | None = None
    admission_type: str | None = None
    admission_source: str | None = None
    patient_status: str | None = None
    admitting_diagnosis: str | None = None
    occurrence_codes: tuple[OccurrenceCode, ...] = ()
    value_codes: tuple[ValueCode, ...] = ()
    condition_codes: tuple[str, ...] = ()
    referring_provider: Provider | None = None
    rendering_provider: Provider | None = None
    attending_provider: Provider | None = None
    operating_provider: Provider | None = None
    supervising_provider: Provider | None = None
    service_facility: Provider | None = None
    other_payers: tuple[OtherPayer, ...] = ()

    @property
    def type_of_bill(self) -> str | None:
        """837I type of bill without the leading zero (facility type + frequency)."""
        return self.facility_code + self.frequency if self.kind == INSTITUTIONAL else None

    def summary(self) -> dict[str, Any]:
        """The JSON-ready summary the CLI prints: no names, no member IDs."""
        return {
            "kind": self.kind,
            "patient_control_number": self.patient_control_number,
            "charge": format_decimal(self.charge),
            "frequency": self.frequency,
            "facility_code": self.facility_code,
            "diagnoses": list(self.diagnoses),
            "services": [
                {
                    "procedure": line.procedure_code,
                    "revenue_code": line.revenue_code,
                    "modifiers": list(line.modifiers),
                    "charge": format_decimal(line.charge),
                    "units": format_decimal(line.units),
                }
                for line in self.lines
            ],
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class Header837:
    """BHT and the 1000A/1000B loops. `purpose`: 00 original, 18 reissue; `claim_or_encounter`:
    CH chargeable, RP reporting (encounters), 31 subrogation demand."""

    submitter: Submitter
    receiver: Receiver
    reference_id: str
    created: datetime
    purpose: str = "00"
    claim_or_encounter: str = "CH"


@dataclass(frozen=True, slots=True, kw_only=True)
class Submission837:
    """One ST..SE: a header and its claims, all of one kind."""

    header: Header837
    claims: tuple[Claim837, ...]
    control_number: str | None = None

    @property
    def kind(self) -> ClaimKind:
        return self.claims[0].kind if self.claims else PROFESSIONAL


# --------------------------------------------------------------------------------------------
# Building
# --------------------------------------------------------------------------------------------

_Seg = tuple[Any, ...]


def _d8(value: date) -> str:
    if value.__class__ is datetime:
        value = value.date()  # type: ignore[attr-defined]
    return value.isoformat().replace("-", "")


def _amount(value: Decimal) -> str:
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    if text in ("-0", ""):
        return "0"
    return text


class _Renderer:
    """Renders structured segments (tuples of str and tuples of str) into text, refusing data
    that holds a delimiter."""

    __slots__ = ("comp", "el", "out", "rep", "term")

    def __init__(self, delimiters: Delimiters) -> None:
        self.el = delimiters.element
        self.comp = delimiters.component
        self.rep = delimiters.repetition
        self.term = delimiters.segment
        self.out: list[str] = []

    def add(self, seg: _Seg) -> None:
        """A segment without composites."""
        el = self.el
        parts = [v or "" for v in seg]
        while not parts[-1]:
            parts.pop()
        text = el.join(parts)
        if self.comp in text or text.count(el) != len(parts) - 1:
            self._raise_precise(seg)
        self.out.append(text)

    def addj(self, seg: _Seg, components: int) -> None:
        """A segment whose composites the caller joined with `comp` already: `components` is
        how many component separators they hold, so data holding one is still caught."""
        el = self.el
        parts = [v or "" for v in seg]
        while not parts[-1]:
            parts.pop()
        text = el.join(parts)
        if text.count(el) != len(parts) - 1 or text.count(self.comp) != components:
            for position, value in enumerate(parts[1:], start=1):
                if el in value or self.term in value or self.rep in value:
                    raise X12Error(f"{seg[0]}{position:02d} contains a delimiter")
            raise X12Error(f"a component of {seg[0]} contains the component delimiter")
        self.out.append(text)

    def addc(self, seg: _Seg) -> None:
        """A segment with composites (tuples)."""
        el = self.el
        comp = self.comp
        parts: list[str] = []
        components = 0
        for value in seg:
            if value.__class__ is tuple:
                n = len(value)
                while n and not value[n - 1]:
                    n -= 1
                components += n - 1 if n else 0
                parts.append(comp.join(value[:n]))
            else:
                parts.append(value or "")
        while parts and not parts[-1]:
            parts.pop()
        text = el.join(parts)
        if text.count(el) != len(parts) - 1 or text.count(comp) != components:
            self._raise_precise(seg)
        self.out.append(text)

    def _raise_precise(self, seg: _Seg) -> None:
        writer = X12Writer(Delimiters(self.el, self.comp, self.rep, self.term))
        writer.segment(seg[0], *[v if v is not None else "" for v in seg[1:]])
        raise X12Error(f"{seg[0]} contains a delimiter")  # pragma: no cover - writer raised

    def check_tail(self, start: int) -> None:
        """Segment terminator and repetition separator: neither may appear in rendered data."""
        if start >= len(self.out):
            return
        joined = "\x00".join(self.out[start:])
        if self.term in joined or self.rep in joined:
            for text in self.out[start:]:
                if self.term in text or self.rep in text:
                    seg_id = text.split(self.el, 1)[0]
                    char = self.term if self.term in text else self.rep
                    raise X12Error(f"{seg_id} contains the delimiter {char!r}")


def _address(r: _Renderer, address: Address | None) -> None:
    if address is None:
        return
    r.add(("N3", address.line1, address.line2))
    r.add(("N4", address.city, address.state, address.postal_code, address.country))


def _contact(r: _Renderer, contact: Contact | None) -> None:
    if contact is None:
        return
    seg: list[str | None] = ["PER", "IC", contact.name]
    if contact.phone:
        seg += ["TE", contact.phone]
    if contact.email:
        seg += ["EM", contact.email]
    r.add(tuple(seg))


def _person_nm1(
    entity_id: str,
    entity_type: str,
    last: str,
    first: str | None,
    middle: str | None,
    suffix: str | None,
    qualifier: str | None,
    identifier: str | None,
) -> _Seg:
    if entity_type == "2":
        first = middle = suffix = None
    return (
        "NM1",
        entity_id,
        entity_type,
        last,
        first,
        middle,
        None,
        suffix,
        qualifier if identifier else None,
        identifier,
    )


def _adjustments(r: _Renderer, adjustments: Sequence[Adjustment]) -> None:
    """One CAS per group code, up to six reason triplets each, in first-seen order."""
    groups: dict[str, list[Adjustment]] = {}
    for adj in adjustments:
        groups.setdefault(adj.group_code, []).append(adj)
    for group, items in groups.items():
        for start in range(0, len(items), 6):
            seg: list[str | None] = ["CAS", group]
            for adj in items[start : start + 6]:
                seg += [
                    adj.reason_code,
                    _amount(adj.amount),
                    _amount(adj.quantity) if adj.quantity is not None else None,
                ]
            r.add(tuple(seg))


def _dmg(r: _Renderer, birth_date: date | None, sex: str | None) -> None:
    if birth_date is not None or sex:
        r.add(("DMG", "D8" if birth_date else None, _d8(birth_date) if birth_date else None, sex))


def _provider(r: _Renderer, p: Provider | None, prv_code: str | None) -> None:
    if p is None:
        return
    r.add(
        _person_nm1(p.role, p.entity_type, p.name, p.first_name, p.middle_name, None, "XX", p.npi)
    )
    if prv_code and p.taxonomy:
        r.add(("PRV", prv_code, "PXC", p.taxonomy))
    if p.role == "77":
        _address(r, p.address)


def _hi(r: _Renderer, items: Sequence[tuple[str, ...]], per_segment: int = 12) -> None:
    for start in range(0, len(items), per_segment):
        r.addc(("HI", *items[start : start + per_segment]))


def _check_kind(claim: Claim837, kind: ClaimKind) -> None:
    if claim.kind != kind:
        raise X12Error(f"an 837{claim.kind} claim cannot go into an 837{kind} transaction")


def _claim_segments(r: _Renderer, c: Claim837) -> None:
    institutional = c.kind == INSTITUTIONAL
    if not c.lines:
        raise X12Error("a claim needs at least one service line (2400)")
    if not c.diagnoses:
        raise X12Error("a claim needs a principal diagnosis (HI)")
    if c.frequency in ("7", "8") and not c.original_claim_number:
        raise X12Error(f"frequency {c.frequency} needs the payer claim number (REF*F8)")
    comp = r.comp
    clm: _Seg = (
        "CLM",
        c.patient_control_number,
        _amount(c.charge),
        None,
        None,
        f"{c.facility_code}{comp}{'A' if institutional else 'B'}{comp}{c.frequency}",
        None if institutional else c.provider_signature,
        c.assignment,
        c.benefits_assignment,
        c.release_of_information,
        None if institutional else c.patient_signature_source,
    )
    if c.delay_reason:
        clm += (None,) * 9 + (c.delay_reason,)
    r.addj(clm, 2)
    if institutional:
        if c.statement_from is None or c.statement_through is None:
            raise X12Error("837I needs statement dates (DTP*434)")
        r.add(("DTP", "434", "RD8", f"{_d8(c.statement_from)}-{_d8(c.statement_through)}"))
        if c.admission is not None:
            r.add(("DTP", "435", "DT", c.admission.strftime("%Y%m%d%H%M")))
        r.add(("CL1", c.admission_type, c.admission_source, c.patient_status))
    elif c.onset_date is not None:
        r.add(("DTP", "431", "D8", _d8(c.onset_date)))
    if c.prior_authorization:
        r.add(("REF", "G1", c.prior_authorization))
    if c.original_claim_number:
        r.add(("REF", "F8", c.original_claim_number))
    if c.medical_record_number:
        r.add(("REF", "EA", c.medical_record_number))
    for note in c.notes:
        r.add(("NTE", note.code, note.text))
    if institutional:
        r.addc(("HI", ("ABK", c.diagnoses[0])))
        if c.admitting_diagnosis:
            r.addc(("HI", ("ABJ", c.admitting_diagnosis)))
        _hi(r, [("ABF", code) for code in c.diagnoses[1:]])
        _hi(r, [("BH", o.code, "D8", _d8(o.date)) for o in c.occurrence_codes])
        _hi(r, [("BE", v.code, "", "", _amount(v.amount)) for v in c.value_codes])
        _hi(r, [("BG", code) for code in c.condition_codes])
        _provider(r, c.attending_provider, "AT")
        _provider(r, c.operating_provider, None)
        _provider(r, c.rendering_provider, None)
        _provider(r, c.service_facility, None)
        _provider(r, c.referring_provider, None)
    else:
        _hi(
            r,
            [("ABK", c.diagnoses[0]), *[("ABF", code) for code in c.diagnoses[1:12]]],
        )
        if len(c.diagnoses) > 12:
            raise X12Error("837P carries at most 12 diagnosis codes")
        _provider(r, c.referring_provider, None)
        _provider(r, c.rendering_provider, "PE")
        _provider(r, c.service_facility, None)
        _provider(r, c.supervising_provider, None)
    for other in c.other_payers:
        r.add(
            (
                "SBR",
                other.payer_responsibility,
                other.relationship,
                other.group_number,
                other.group_name,
                other.insurance_type,
                None,
                None,
                None,
                other.claim_filing_indicator,
            )
        )
        _adjustments(r, other.adjustments)
        if other.paid_amount is not None:
            r.add(("AMT", "D", _amount(other.paid_amount)))
        if other.remaining_patient_liability is not None:
            r.add(("AMT", "EAF", _amount(other.remaining_patient_liability)))
        r.add(
            (
                "OI",
                None,
                None,
                other.benefits_assignment,
                None if institutional else other.patient_signature_source,
                None,
                other.release_of_information,
            )
        )
        r.add(
            _person_nm1(
                "IL",
                other.subscriber_entity_type,
                other.subscriber_last_name,
                other.subscriber_first_name,
                None,
                None,
                "MI",
                other.subscriber_member_id,
            )
        )
        r.add(("NM1", "PR", "2", other.payer_name, None, None, None, None, "PI", other.payer_id))
        if other.adjudication_date is not None:
            r.add(("DTP", "573", "D8", _d8(other.adjudication_date)))
    for number, line in enumerate(c.lines, start=1):
        _line_segments(r, line, number, institutional)


def _line_segments(r: _Renderer, line: ServiceLine, number: int, institutional: bool) -> None:
    r.add(("LX", str(number)))
    comp = r.comp
    if line.procedure_code:
        procedure = comp.join((line.procedure_qualifier, line.procedure_code, *line.modifiers))
        procedure_components = 1 + len(line.modifiers)
    else:
        procedure = ""
        procedure_components = 0
    if len(line.modifiers) > 4:
        raise X12Error(f"service line {number} has more than 4 modifiers")
    if institutional:
        if not line.revenue_code:
            raise X12Error(f"837I service line {number} needs a revenue code (SV201)")
        r.addj(
            (
                "SV2",
                line.revenue_code,
                procedure,
                _amount(line.charge),
                line.unit_of_measure,
                _amount(line.units),
            ),
            procedure_components,
        )
    else:
        if not line.procedure_code:
            raise X12Error(f"837P service line {number} needs a procedure code (SV101)")
        if not line.diagnosis_pointers or len(line.diagnosis_pointers) > 4:
            raise X12Error(f"837P service line {number} needs 1 to 4 diagnosis pointers")
        pointers = line.diagnosis_pointers
        r.addj(
            (
                "SV1",
                procedure,
                _amount(line.charge),
                line.unit_of_measure,
                _amount(line.units),
                line.place_of_service,
                None,
                comp.join(map(str, pointers)),
            ),
            procedure_components + len(pointers) - 1,
        )
    if line.service_date is not None:
        if line.service_date_end is not None:
            r.add(
                (
                    "DTP",
                    "472",
                    "RD8",
                    f"{_d8(line.service_date)}-{_d8(line.service_date_end)}",
                )
            )
        else:
            r.add(("DTP", "472", "D8", _d8(line.service_date)))
    elif not institutional:
        raise X12Error(f"837P service line {number} needs a service date (DTP*472)")
    if line.line_item_control_number:
        r.add(("REF", "6R", line.line_item_control_number))
    drug = line.drug
    if drug is not None:
        r.add(("LIN", None, "N4", drug.ndc))
        r.addc(("CTP", None, None, None, _amount(drug.quantity), (drug.unit,)))
        if drug.prescription_number:
            r.add(("REF", "XZ", drug.prescription_number))
    for adj in line.adjudications:
        adj_procedure = (adj.procedure_qualifier, adj.procedure_code, *adj.modifiers)
        r.addc(
            (
                "SVD",
                adj.payer_id,
                _amount(adj.paid_amount),
                adj_procedure,
                (adj.revenue_code or line.revenue_code) if institutional else None,
                _amount(adj.units),
            )
        )
        _adjustments(r, adj.adjustments)
        r.add(("DTP", "573", "D8", _d8(adj.adjudication_date)))
        if adj.remaining_patient_liability is not None:
            r.add(("AMT", "EAF", _amount(adj.remaining_patient_liability)))


def build_837_segments(
    submission: Submission837, *, delimiters: Delimiters = DEFAULT_DELIMITERS
) -> list[str]:
    """The body of one 837 (BHT through the last service line) as rendered segment texts,
    without terminators."""
    kind = submission.kind
    header = submission.header
    r = _Renderer(delimiters)
    created = header.created
    r.add(
        (
            "BHT",
            "0019",
            header.purpose,
            header.reference_id,
            _d8(created),
            created.strftime("%H%M"),
            header.claim_or_encounter,
        )
    )
    sub = header.submitter
    r.add(
        _person_nm1(
            "41", sub.entity_type, sub.name, sub.first_name, None, None, "46", sub.identifier
        )
    )
    _contact(r, sub.contact)
    r.add(
        (
            "NM1",
            "40",
            "2",
            header.receiver.name,
            None,
            None,
            None,
            None,
            "46",
            header.receiver.identifier,
        )
    )
    r.check_tail(0)

    # billing provider -> (subscriber, patient is subscriber) -> patient -> claims
    tree: dict[
        BillingProvider, dict[tuple[Subscriber, bool], dict[Patient | None, list[Claim837]]]
    ] = {}
    # A batch usually reuses one BillingProvider object for all its claims; hashing a nested
    # frozen dataclass is not cheap, so the same object skips the lookup.
    last_provider: BillingProvider | None = None
    by_subscriber: dict[tuple[Subscriber, bool], dict[Patient | None, list[Claim837]]] = {}
    for claim in submission.claims:
        if claim.kind != kind:
            _check_kind(claim, kind)
        provider_of_claim = claim.billing_provider
        if provider_of_claim is not last_provider:
            found = tree.get(provider_of_claim)
            if found is None:
                found = tree[provider_of_claim] = {}
            by_subscriber = found
            last_provider = provider_of_claim
        key = (claim.subscriber, claim.patient is None)
        by_patient = by_subscriber.get(key)
        if by_patient is None:
            by_patient = by_subscriber[key] = {}
        claims = by_patient.get(claim.patient)
        if claims is None:
            by_patient[claim.patient] = [claim]
        else:
            claims.append(claim)

    hl = 0
    for provider, by_subscriber in tree.items():
        hl += 1
        provider_hl = str(hl)
        start = len(r.out)
        r.add(("HL", provider_hl, None, "20", "1"))
        if provider.taxonomy:
            r.add(("PRV", "BI", "PXC", provider.taxonomy))
        r.add(
            _person_nm1(
                "85",
                provider.entity_type,
                provider.name,
                provider.first_name,
                None,
                None,
                "XX",
                provider.npi,
            )
        )
        _address(r, provider.address)
        r.add(("REF", provider.tax_id_qualifier, provider.tax_id))
        _contact(r, provider.contact)
        if provider.pay_to_address is not None:
            r.add(("NM1", "87", "2"))
            _address(r, provider.pay_to_address)
        r.check_tail(start)
        for (subscriber, is_patient), by_patient in by_subscriber.items():
            hl += 1
            subscriber_hl = str(hl)
            start = len(r.out)
            r.add(("HL", subscriber_hl, provider_hl, "22", "0" if is_patient else "1"))
            r.add(
                (
                    "SBR",
                    subscriber.payer_responsibility,
                    "18" if is_patient else None,
                    subscriber.group_number,
                    subscriber.group_name,
                    subscriber.insurance_type,
                    None,
                    None,
                    None,
                    subscriber.claim_filing_indicator,
                )
            )
            r.add(
                _person_nm1(
                    "IL",
                    subscriber.entity_type,
                    subscriber.last_name,
                    subscriber.first_name,
                    subscriber.middle_name,
                    subscriber.suffix,
                    "MI",
                    subscriber.member_id,
                )
            )
            _address(r, subscriber.address)
            _dmg(r, subscriber.birth_date, subscriber.sex)
            payer = subscriber.payer
            r.add(
                (
                    "NM1",
                    "PR",
                    "2",
                    payer.name,
                    None,
                    None,
                    None,
                    None,
                    payer.id_qualifier,
                    payer.payer_id,
                )
            )
            _address(r, payer.address)
            for patient, claims in by_patient.items():
                if patient is not None:
                    hl += 1
                    r.add(("HL", str(hl), subscriber_hl, "23", "0"))
                    r.add(("PAT", patient.relationship))
                    r.add(
                        _person_nm1(
                            "QC",
                            "1",
                            patient.last_name,
                            patient.first_name,
                            patient.middle_name,
                            patient.suffix,
                            None,
                            None,
                        )
                    )
                    _address(r, patient.address)
                    _dmg(r, patient.birth_date, patient.sex)
                for claim in claims:
                    _claim_segments(r, claim)
            r.check_tail(start)
    return r.out


def build_837(
    submission: Submission837,
    *,
    control_number: str | None = None,
    delimiters: Delimiters = DEFAULT_DELIMITERS,
) -> TransactionBody:
    """One 837 transaction set (837P or 837I by the claims' kind), ready for
    `core.write_interchange` with the same delimiters. Each segment is already rendered, so the
    body's segments are one-item tuples holding the text."""
    number = control_number or submission.control_number or "0001"
    rendered = build_837_segments(submission, delimiters=delimiters)
    return TransactionBody(
        set_id="837",
        control_number=number,
        segments=[(text,) for text in rendered],
        implementation=IMPLEMENTATION[submission.kind],
    )


def build_837p(
    submission: Submission837,
    *,
    control_number: str | None = None,
    delimiters: Delimiters = DEFAULT_DELIMITERS,
) -> TransactionBody:
    if submission.kind != PROFESSIONAL:
        raise X12Error("build_837p takes professional claims")
    return build_837(submission, control_number=control_number, delimiters=delimiters)


def build_837i(
    submission: Submission837,
    *,
    control_number: str | None = None,
    delimiters: Delimiters = DEFAULT_DELIMITERS,
) -> TransactionBody:
    if submission.kind != INSTITUTIONAL:
        raise X12Error("build_837i takes institutional claims")
    return build_837(submission, control_number=control_number, delimiters=delimiters)


def build_837_interchange(
    envelope: InterchangeEnvelope,
    header: Header837,
    claims: Iterable[Claim837],
    *,
    claims_per_transaction: int = MAX_CLAIMS_PER_TRANSACTION,
    line_break: bool = False,
) -> bytes:
    """A whole 837 file: claims split into transaction sets of at most
    `claims_per_transaction` (the guides recommend 5000), control numbers 0001, 0002, ...
    The envelope's GS08 must be the guide of the claims' kind."""
    claim_list = list(claims)
    if not claim_list:
        raise X12Error("an 837 interchange needs at least one claim")
    kind = claim_list[0].kind
    if envelope.version != IMPLEMENTATION[kind]:
        raise X12Error(
            f"envelope version {envelope.version} does not match 837{kind} ({IMPLEMENTATION[kind]})"
        )
    if envelope.functional_id != "HC":
        raise X12Error("an 837 goes in a functional group HC")
    bodies = []
    for index, start in enumerate(range(0, len(claim_list), claims_per_transaction), start=1):
        chunk = tuple(claim_list[start : start + claims_per_transaction])
        bodies.append(
            build_837(
                Submission837(header=header, claims=chunk),
                control_number=f"{index:04d}",
                delimiters=envelope.delimiters,
            )
        )
    return write_interchange(envelope, bodies, line_break=line_break)


# --------------------------------------------------------------------------------------------
# Parsing
# --------------------------------------------------------------------------------------------


def _error(message: str, seg: Segment, file_name: str | None) -> X12SyntaxError:
    return X12SyntaxError(
        message, file=file_name, segment_number=seg.number, offset=seg.offset, segment_id=seg.id
    )


class _Values:
    """Typed element access that reports the position, never the value."""

    __slots__ = ("file_name",)

    def __init__(self, file_name: str | None) -> None:
        self.file_name = file_name

    def d8(self, seg: Segment, index: int) -> date | None:
        value = seg[index]
        if not value:
            return None
        try:
            if len(value) != 8:
                raise ValueError
            return date(int(value[:4]), int(value[4:6]), int(value[6:8]))
        except ValueError:
            raise _error(
                f"{seg.id}{index:02d} is not a CCYYMMDD date", seg, self.file_name
            ) from None

    def period(self, seg: Segment) -> tuple[date | None, date | None]:
        """DTP03 as D8 or RD8 (DTP02 says which)."""
        value = seg[3]
        if seg[2] == "RD8":
            first, _, last = value.partition("-")
            try:
                return (
                    date(int(first[:4]), int(first[4:6]), int(first[6:8])),
                    date(int(last[:4]), int(last[4:6]), int(last[6:8])),
                )
            except ValueError:
                raise _error(
                    "DTP03 is not a CCYYMMDD-CCYYMMDD range", seg, self.file_name
                ) from None
        return self.d8(seg, 3), None

    def decimal(self, seg: Segment, index: int) -> Decimal | None:
        value = seg[index]
        if not value:
            return None
        try:
            result = Decimal(value)
        except InvalidOperation:
            raise _error(f"{seg.id}{index:02d} is not a number", seg, self.file_name) from None
        if not result.is_finite():
            raise _error(f"{seg.id}{index:02d} is not a number", seg, self.file_name)
        return result

    def required_decimal(self, seg: Segment, index: int) -> Decimal:
        value = self.decimal(seg, index)
        if value is None:
            raise _error(f"{seg.id}{index:02d} is required", seg, self.file_name)
        return value


def _opt(value: str) -> str | None:
    return value or None


def _address_from(n3: Segment | None, n4: Segment | None) -> Address | None:
    if n3 is None and n4 is None:
        return None
    return Address(
        line1=n3[1] if n3 is not None else "",
        line2=_opt(n3[2]) if n3 is not None else None,
        city=n4[1] if n4 is not None else "",
        state=_opt(n4[2]) if n4 is not None else None,
        postal_code=_opt(n4[3]) if n4 is not None else None,
        country=_opt(n4[4]) if n4 is not None else None,
    )


def _contact_from(seg: Segment) -> Contact:
    phone = email = None
    for i in (3, 5, 7):
        qualifier = seg[i]
        if qualifier == "TE" and phone is None:
            phone = seg[i + 1]
        elif qualifier == "EM" and email is None:
            email = seg[i + 1]
    return Contact(name=seg[2], phone=phone, email=email)


class _Entity:
    """A loop being read: its leading segment plus what follows, until it is closed."""

    __slots__ = ("n3", "n4", "nm1", "others")

    def __init__(self, nm1: Segment | None) -> None:
        self.nm1 = nm1
        self.n3: Segment | None = None
        self.n4: Segment | None = None
        self.others: list[Segment] = []

    def address(self) -> Address | None:
        return _address_from(self.n3, self.n4)


def _procedure(parts: list[str]) -> tuple[str, str, tuple[str, ...]]:
    qualifier = parts[0] if parts else ""
    code = parts[1] if len(parts) > 1 else ""
    modifiers = tuple(m for m in parts[2:6] if m)
    return qualifier, code, modifiers


_DIAGNOSIS_PRINCIPAL = {"ABK", "BK"}
_DIAGNOSIS_OTHER = {"ABF", "BF"}
_DIAGNOSIS_ADMITTING = {"ABJ", "BJ"}


class _ClaimBuilder:
    """Collects one 2300 loop while it is read."""

    def __init__(self, clm: Segment, values: _Values, kind: ClaimKind) -> None:
        self.clm = clm
        self.values = values
        self.kind = kind
        self.fields: dict[str, Any] = {}
        self.diagnoses: list[str] = []
        self.principal: str | None = None
        self.occurrences: list[OccurrenceCode] = []
        self.value_codes: list[ValueCode] = []
        self.conditions: list[str] = []
        self.notes: list[Note] = []
        self.providers: dict[str, Provider] = {}
        self.other_payers: list[dict[str, Any]] = []
        self.lines: list[dict[str, Any]] = []


def _provider_from(entity: _Entity) -> Provider:
    nm1 = entity.nm1
    assert nm1 is not None
    taxonomy = None
    for seg in entity.others:
        if seg.id == "PRV":
            taxonomy = _opt(seg[3])
    return Provider(
        role=nm1[1],
        name=nm1[3],
        npi=_opt(nm1[9]) if nm1[8] == "XX" else None,
        first_name=_opt(nm1[4]),
        middle_name=_opt(nm1[5]),
        entity_type=nm1[2] or "1",
        taxonomy=taxonomy,
        address=entity.address() if nm1[1] == "77" else None,
    )


_CLAIM_PROVIDER_FIELDS = {
    "DN": "referring_provider",
    "82": "rendering_provider",
    "71": "attending_provider",
    "72": "operating_provider",
    "DQ": "supervising_provider",
    "77": "service_facility",
}


_MAX_POINTER = 12  # a pointer names one of the 12 diagnoses an HI segment can carry


class _Parser837:
    def __init__(self, tx: Transaction, kind: ClaimKind) -> None:
        self.tx = tx
        self.kind = kind
        self.file_name = tx.file_name
        self.v = _Values(tx.file_name)
        self.claims: list[Claim837] = []
        self.header_segments: dict[str, Segment] = {}
        self.submitter_contact: Segment | None = None

    def error(self, message: str, seg: Segment) -> X12SyntaxError:
        return _error(message, seg, self.file_name)

    def parse(self) -> Submission837:
        v = self.v
        provider: BillingProvider | None = None
        subscriber: Subscriber | None = None
        patient: Patient | None = None
        # What the loop currently being read is.
        loop = "header"
        entity: _Entity | None = None
        hl_levels: dict[str, str] = {}
        provider_parts: dict[str, Any] = {}
        subscriber_parts: dict[str, Any] = {}
        patient_parts: dict[str, Any] = {}
        claim: _ClaimBuilder | None = None
        other: dict[str, Any] | None = None
        line: dict[str, Any] | None = None
        adjudication: dict[str, Any] | None = None
        submitter: Segment | None = None
        receiver: Segment | None = None
        bht: Segment | None = None

        def close_entity() -> None:
            nonlocal entity
            if entity is None or entity.nm1 is None:
                entity = None
                return
            role = entity.nm1[1]
            if loop == "2000A":
                if role == "85":
                    provider_parts["entity"] = entity
                elif role == "87":
                    provider_parts["pay_to"] = entity.address()
            elif loop == "2000B":
                if role == "IL":
                    subscriber_parts["entity"] = entity
                elif role == "PR":
                    subscriber_parts["payer"] = entity
            elif loop == "2000C":
                if role == "QC":
                    patient_parts["entity"] = entity
            elif loop == "2300" and claim is not None:
                field = _CLAIM_PROVIDER_FIELDS.get(role)
                if field and field not in claim.fields:
                    claim.fields[field] = _provider_from(entity)
            entity = None

        def finish_provider() -> None:
            nonlocal provider
            ent: _Entity | None = provider_parts.get("entity")
            if ent is None or ent.nm1 is None:
                raise self.error("2000A has no billing provider (NM1*85)", hl_seg)
            nm1 = ent.nm1
            tax_id = tax_qualifier = None
            contact = None
            for seg in ent.others:
                if seg.id == "REF" and seg[1] in ("EI", "SY") and tax_id is None:
                    tax_qualifier, tax_id = seg[1], seg[2]
                elif seg.id == "PER" and contact is None:
                    contact = _contact_from(seg)
            provider = BillingProvider(
                npi=nm1[9],
                tax_id=tax_id or "",
                tax_id_qualifier=tax_qualifier or "EI",
                name=nm1[3],
                first_name=_opt(nm1[4]),
                entity_type=nm1[2] or "2",
                address=ent.address() or Address(line1="", city=""),
                taxonomy=provider_parts.get("taxonomy"),
                contact=contact,
                pay_to_address=provider_parts.get("pay_to"),
            )

        def finish_subscriber() -> None:
            nonlocal subscriber
            ent: _Entity | None = subscriber_parts.get("entity")
            payer_ent: _Entity | None = subscriber_parts.get("payer")
            sbr: Segment | None = subscriber_parts.get("sbr")
            if ent is None or ent.nm1 is None or sbr is None:
                raise self.error("2000B lacks SBR or the subscriber (NM1*IL)", hl_seg)
            if payer_ent is None or payer_ent.nm1 is None:
                raise self.error("2000B lacks the payer (NM1*PR)", hl_seg)
            nm1 = ent.nm1
            dmg = next((s for s in ent.others if s.id == "DMG"), None)
            pnm1 = payer_ent.nm1
            subscriber = Subscriber(
                member_id=nm1[9],
                last_name=nm1[3],
                first_name=_opt(nm1[4]),
                middle_name=_opt(nm1[5]),
                suffix=_opt(nm1[7]),
                entity_type=nm1[2] or "1",
                birth_date=v.d8(dmg, 2) if dmg is not None else None,
                sex=_opt(dmg[3]) if dmg is not None else None,
                address=ent.address(),
                payer_responsibility=sbr[1],
                group_number=_opt(sbr[3]),
                group_name=_opt(sbr[4]),
                insurance_type=_opt(sbr[5]),
                claim_filing_indicator=sbr[9],
                payer=Payer(
                    name=pnm1[3],
                    payer_id=pnm1[9],
                    id_qualifier=pnm1[8] or "PI",
                    address=payer_ent.address(),
                ),
            )

        def finish_patient() -> None:
            nonlocal patient
            ent: _Entity | None = patient_parts.get("entity")
            pat: Segment | None = patient_parts.get("pat")
            if ent is None or ent.nm1 is None:
                raise self.error("2000C lacks the patient (NM1*QC)", hl_seg)
            nm1 = ent.nm1
            dmg = next((s for s in ent.others if s.id == "DMG"), None)
            patient = Patient(
                relationship=pat[1] if pat is not None else "",
                last_name=nm1[3],
                first_name=_opt(nm1[4]),
                middle_name=_opt(nm1[5]),
                suffix=_opt(nm1[7]),
                birth_date=v.d8(dmg, 2) if dmg is not None else None,
                sex=_opt(dmg[3]) if dmg is not None else None,
                address=ent.address(),
            )

        def finish_claim() -> None:
            nonlocal claim, other, line, adjudication
            close_entity()
            finish_adjudication()
            finish_line()
            finish_other()
            if claim is None:
                return
            if provider is None or subscriber is None:
                raise self.error("claim outside a billing provider and subscriber", claim.clm)
            self.claims.append(self._claim(claim, provider, subscriber, patient))
            claim = None

        def finish_other() -> None:
            nonlocal other
            if other is not None and claim is not None:
                claim.other_payers.append(other)
            other = None

        def finish_line() -> None:
            nonlocal line
            if line is not None and claim is not None:
                claim.lines.append(line)
            line = None

        def finish_adjudication() -> None:
            nonlocal adjudication
            if adjudication is not None and line is not None:
                line.setdefault("adjudications", []).append(adjudication)
            adjudication = None

        hl_seg: Segment = self.tx.st
        sub_loop = ""
        for seg in self.tx.body:
            sid = seg.id
            if sid == "HL":
                finish_claim()
                close_entity()
                if loop == "2000A" and provider_parts:
                    finish_provider()
                    provider_parts = {}
                elif loop == "2000B" and subscriber_parts:
                    finish_subscriber()
                    subscriber_parts = {}
                elif loop == "2000C" and patient_parts:
                    finish_patient()
                    patient_parts = {}
                hl_seg = seg
                level = seg[3]
                hl_levels[seg[1]] = level
                if level == "20":
                    loop = "2000A"
                    provider = subscriber = patient = None
                elif level == "22":
                    loop = "2000B"
                    subscriber = patient = None
                elif level == "23":
                    loop = "2000C"
                    patient = None
                else:
                    raise self.error("HL03 must be 20, 22 or 23 in an 837", seg)
                continue
            if sid == "CLM":
                finish_claim()
                close_entity()
                if loop == "2000A":
                    raise self.error("CLM directly under a billing provider", seg)
                if loop == "2000B" and subscriber_parts:
                    finish_subscriber()
                    subscriber_parts = {}
                elif loop == "2000C" and patient_parts:
                    finish_patient()
                    patient_parts = {}
                if loop == "2000B":
                    patient = None
                loop = "2300"
                sub_loop = "2300"
                claim = _ClaimBuilder(seg, v, self.kind)
                continue
            if loop == "header":
                if sid == "BHT":
                    bht = seg
                elif sid == "NM1" and seg[1] == "41":
                    submitter = seg
                elif sid == "NM1" and seg[1] == "40":
                    receiver = seg
                elif sid == "PER" and self.submitter_contact is None:
                    self.submitter_contact = seg
                continue
            if loop in ("2000A", "2000B", "2000C"):
                parts = (
                    provider_parts
                    if loop == "2000A"
                    else subscriber_parts
                    if loop == "2000B"
                    else patient_parts
                )
                if sid == "NM1":
                    close_entity()
                    entity = _Entity(seg)
                elif sid == "N3" and entity is not None:
                    entity.n3 = seg
                elif sid == "N4" and entity is not None:
                    entity.n4 = seg
                elif entity is not None:
                    entity.others.append(seg)
                elif sid == "PRV" and loop == "2000A":
                    parts["taxonomy"] = _opt(seg[3])
                elif sid == "SBR" and loop == "2000B":
                    parts["sbr"] = seg
                elif sid == "PAT" and loop == "2000C":
                    parts["pat"] = seg
                continue
            # 2300 and below
            assert claim is not None
            if sid == "LX":
                close_entity()
                finish_adjudication()
                finish_line()
                finish_other()
                sub_loop = "2400"
                line = {"lx": seg}
                continue
            if sub_loop == "2300":
                self._claim_segment(claim, seg)
                if sid == "NM1":
                    close_entity()
                    entity = _Entity(seg)
                elif sid == "SBR":
                    close_entity()
                    sub_loop = "2320"
                    other = {"sbr": seg, "adjustments": []}
                elif entity is not None and sid in ("N3", "N4", "PRV", "REF"):
                    if sid == "N3":
                        entity.n3 = seg
                    elif sid == "N4":
                        entity.n4 = seg
                    else:
                        entity.others.append(seg)
                continue
            if sub_loop == "2320":
                assert other is not None
                if sid == "SBR":
                    finish_other()
                    other = {"sbr": seg, "adjustments": []}
                elif sid == "CAS" and "nm1_il" not in other:
                    other["adjustments"].extend(self._cas(seg))
                elif sid == "AMT" and seg[1] == "D":
                    other["paid"] = v.decimal(seg, 2)
                elif sid == "AMT" and seg[1] == "EAF":
                    other["eaf"] = v.decimal(seg, 2)
                elif sid == "OI":
                    other["oi"] = seg
                elif sid == "NM1" and seg[1] == "IL" and "nm1_il" not in other:
                    other["nm1_il"] = seg
                    other["in"] = "IL"
                elif sid == "NM1" and seg[1] == "PR" and "nm1_pr" not in other:
                    other["nm1_pr"] = seg
                    other["in"] = "PR"
                elif sid == "NM1":
                    other["in"] = "other"
                elif sid == "DTP" and seg[1] == "573" and other.get("in") == "PR":
                    other["adjudication_date"] = v.d8(seg, 3)
                continue
            # 2400
            assert line is not None
            if sid == "SV1" or sid == "SV2":
                line["sv"] = seg
                line["in"] = "2400"
            elif sid == "LIN":
                line["lin"] = seg
                line["in"] = "2410"
            elif sid == "CTP" and line.get("in") == "2410":
                line["ctp"] = seg
            elif sid == "REF" and line.get("in") == "2410" and seg[1] == "XZ":
                line["rx"] = seg[2]
            elif sid == "NM1":
                finish_adjudication()
                line["in"] = "2420"
            elif sid == "SVD":
                finish_adjudication()
                adjudication = {"svd": seg, "adjustments": []}
                line["in"] = "2430"
            elif sid == "LQ":
                finish_adjudication()
                line["in"] = "2440"
            elif line.get("in") == "2430" and adjudication is not None:
                if sid == "CAS":
                    adjudication["adjustments"].extend(self._cas(seg))
                elif sid == "DTP" and seg[1] == "573":
                    adjudication["date"] = v.d8(seg, 3)
                elif sid == "AMT" and seg[1] == "EAF":
                    adjudication["eaf"] = v.decimal(seg, 2)
            elif line.get("in") == "2400":
                if sid == "DTP" and seg[1] == "472" and "dates" not in line:
                    line["dates"] = v.period(seg)
                elif sid == "REF" and seg[1] == "6R":
                    line["control"] = seg[2]
        finish_claim()
        if bht is None or submitter is None or receiver is None:
            raise X12SyntaxError(
                "837 lacks BHT, submitter (NM1*41) or receiver (NM1*40)",
                file=self.file_name,
                segment_number=self.tx.st.number,
                offset=self.tx.st.offset,
                segment_id="ST",
            )
        header = self._header(bht, submitter, receiver)
        return Submission837(
            header=header, claims=tuple(self.claims), control_number=self.tx.control_number
        )

    def _header(self, bht: Segment, submitter: Segment, receiver: Segment) -> Header837:
        created_date = self.v.d8(bht, 4)
        time_text = bht[5]
        try:
            hour = int(time_text[:2]) if len(time_text) >= 4 else 0
            minute = int(time_text[2:4]) if len(time_text) >= 4 else 0
            created = datetime(
                created_date.year if created_date else 1900,
                created_date.month if created_date else 1,
                created_date.day if created_date else 1,
                hour,
                minute,
            )
        except ValueError:
            raise self.error("BHT05 is not an HHMM time", bht) from None
        contact = (
            _contact_from(self.submitter_contact)
            if self.submitter_contact is not None
            else Contact(name="")
        )
        return Header837(
            submitter=Submitter(
                name=submitter[3],
                identifier=submitter[9],
                contact=contact,
                first_name=_opt(submitter[4]),
                entity_type=submitter[2] or "2",
            ),
            receiver=Receiver(name=receiver[3], identifier=receiver[9]),
            reference_id=bht[3],
            created=created,
            purpose=bht[2],
            claim_or_encounter=bht[6],
        )

    def _cas(self, seg: Segment) -> list[Adjustment]:
        out = []
        for i in range(2, 20, 3):
            reason = seg[i]
            if not reason:
                continue
            out.append(
                Adjustment(
                    group_code=seg[1],
                    reason_code=reason,
                    amount=self.v.required_decimal(seg, i + 1),
                    quantity=self.v.decimal(seg, i + 2),
                )
            )
        return out

    def _claim_segment(self, claim: _ClaimBuilder, seg: Segment) -> None:
        """2300-level segments before the first 2310 NM1 or 2320 SBR; those loops' own DTP, REF
        and PRV segments are kept out by the caller."""
        sid = seg.id
        v = self.v
        f = claim.fields
        if sid == "DTP":
            qualifier = seg[1]
            if qualifier == "431" and "onset_date" not in f:
                f["onset_date"] = v.d8(seg, 3)
            elif qualifier == "434":
                start, end = v.period(seg)
                f["statement_from"] = start
                f["statement_through"] = end if end is not None else start
            elif qualifier == "435" and seg[2] == "DT":
                text = seg[3]
                try:
                    f["admission"] = datetime(
                        int(text[:4]),
                        int(text[4:6]),
                        int(text[6:8]),
                        int(text[8:10] or 0),
                        int(text[10:12] or 0),
                    )
                except ValueError:
                    raise self.error("DTP03 is not a CCYYMMDDHHMM time", seg) from None
        elif sid == "CL1":
            f["admission_type"] = _opt(seg[1])
            f["admission_source"] = _opt(seg[2])
            f["patient_status"] = _opt(seg[3])
        elif sid == "REF" and "in_provider" not in f:
            qualifier = seg[1]
            if qualifier == "G1":
                f.setdefault("prior_authorization", seg[2])
            elif qualifier == "F8":
                f.setdefault("original_claim_number", seg[2])
            elif qualifier == "EA":
                f.setdefault("medical_record_number", seg[2])
        elif sid == "NTE":
            claim.notes.append(Note(code=seg[1], text=seg[2]))
        elif sid == "HI":
            for i in range(1, 13):
                parts = seg.composite(i)
                if len(parts) < 2:
                    continue
                qualifier, code = parts[0], parts[1]
                if qualifier in _DIAGNOSIS_PRINCIPAL:
                    claim.principal = code
                elif qualifier in _DIAGNOSIS_OTHER:
                    claim.diagnoses.append(code)
                elif qualifier in _DIAGNOSIS_ADMITTING:
                    f["admitting_diagnosis"] = code
                elif qualifier == "BH":
                    when = parts[3] if len(parts) > 3 else ""
                    if len(when) == 8 and when.isdigit():
                        try:
                            claim.occurrences.append(
                                OccurrenceCode(
                                    code=code,
                                    date=date(int(when[:4]), int(when[4:6]), int(when[6:8])),
                                )
                            )
                        except ValueError:
                            raise self.error(f"HI{i:02d}-4 is not a CCYYMMDD date", seg) from None
                elif qualifier == "BE":
                    raw = parts[4] if len(parts) > 4 else ""
                    try:
                        amount = Decimal(raw) if raw else Decimal(0)
                    except InvalidOperation:
                        raise self.error(f"HI{i:02d}-5 is not a number", seg) from None
                    claim.value_codes.append(ValueCode(code=code, amount=amount))
                elif qualifier == "BG":
                    claim.conditions.append(code)
        elif sid == "NM1":
            f["in_provider"] = True

    def _claim(
        self,
        c: _ClaimBuilder,
        provider: BillingProvider,
        subscriber: Subscriber,
        patient: Patient | None,
    ) -> Claim837:
        v = self.v
        clm = c.clm
        f = c.fields
        f.pop("in_provider", None)
        location = clm.composite(5)
        facility = location[0] if location else ""
        frequency = location[2] if len(location) > 2 else ""
        institutional = self.kind == INSTITUTIONAL
        diagnoses = ([c.principal] if c.principal else []) + c.diagnoses
        return Claim837(
            kind=self.kind,
            billing_provider=provider,
            subscriber=subscriber,
            patient=patient,
            patient_control_number=clm[1],
            charge=v.required_decimal(clm, 2),
            facility_code=facility,
            frequency=frequency,
            provider_signature=None if institutional else _opt(clm[6]),
            assignment=clm[7],
            benefits_assignment=clm[8],
            release_of_information=clm[9],
            patient_signature_source=None if institutional else _opt(clm[10]),
            delay_reason=_opt(clm[20]),
            diagnoses=tuple(diagnoses),
            notes=tuple(c.notes),
            occurrence_codes=tuple(c.occurrences),
            value_codes=tuple(c.value_codes),
            condition_codes=tuple(c.conditions),
            other_payers=tuple(self._other_payer(o) for o in c.other_payers),
            lines=tuple(self._line(line) for line in c.lines),
            **f,
        )

    def _pointer(self, sv: Segment, text: str) -> int:
        # Some senders write pointers as "1.00"; an integral value is still a pointer.
        try:
            value = Decimal(text)
        except InvalidOperation:
            raise self.error("SV107 diagnosis pointers must be numbers", sv) from None
        if not value.is_finite() or value != value.to_integral_value() or value < 1:
            raise self.error("SV107 diagnosis pointers must be whole numbers", sv)
        if value > _MAX_POINTER:
            # Checked before int(): int(Decimal("1E999999")) takes minutes.
            raise self.error(f"SV107 diagnosis pointers point at HI01-HI{_MAX_POINTER}", sv)
        return int(value)

    def _other_payer(self, o: dict[str, Any]) -> OtherPayer:
        sbr: Segment = o["sbr"]
        il: Segment | None = o.get("nm1_il")
        pr: Segment | None = o.get("nm1_pr")
        oi: Segment | None = o.get("oi")
        return OtherPayer(
            payer_responsibility=sbr[1],
            relationship=sbr[2],
            group_number=_opt(sbr[3]),
            group_name=_opt(sbr[4]),
            insurance_type=_opt(sbr[5]),
            claim_filing_indicator=sbr[9],
            adjustments=tuple(o["adjustments"]),
            paid_amount=o.get("paid"),
            remaining_patient_liability=o.get("eaf"),
            benefits_assignment=oi[3] if oi is not None else "",
            patient_signature_source=(
                _opt(oi[4]) if oi is not None and self.kind == PROFESSIONAL else None
            ),
            release_of_information=oi[6] if oi is not None else "",
            subscriber_last_name=il[3] if il is not None else "",
            subscriber_first_name=_opt(il[4]) if il is not None else None,
            subscriber_entity_type=(il[2] or "1") if il is not None else "1",
            subscriber_member_id=il[9] if il is not None else "",
            payer_name=pr[3] if pr is not None else "",
            payer_id=pr[9] if pr is not None else "",
            adjudication_date=o.get("adjudication_date"),
        )

    def _line(self, line: dict[str, Any]) -> ServiceLine:
        v = self.v
        sv: Segment | None = line.get("sv")
        lx: Segment = line["lx"]
        if sv is None:
            raise self.error("service line without SV1/SV2", lx)
        institutional = sv.id == "SV2"
        if institutional:
            qualifier, code, modifiers = _procedure(sv.composite(2))
            charge = v.required_decimal(sv, 3)
            unit = sv[4]
            units = v.decimal(sv, 5)
            revenue = _opt(sv[1])
            pos = None
            pointers: tuple[int, ...] = ()
        else:
            qualifier, code, modifiers = _procedure(sv.composite(1))
            if not code:
                raise self.error("SV101-2 (procedure code) is missing", sv)
            charge = v.required_decimal(sv, 2)
            unit = sv[3]
            units = v.decimal(sv, 4)
            revenue = None
            pos = _opt(sv[5])
            pointers = tuple(self._pointer(sv, p) for p in sv.composite(7) if p)
        start, end = line.get("dates", (None, None))
        drug = None
        lin: Segment | None = line.get("lin")
        if lin is not None:
            ctp: Segment | None = line.get("ctp")
            drug = Drug(
                ndc=lin[3],
                quantity=(v.decimal(ctp, 4) or Decimal(0)) if ctp is not None else Decimal(0),
                unit=(ctp.composite(5) or [""])[0] if ctp is not None else "",
                prescription_number=line.get("rx"),
            )
        adjudications = []
        for a in line.get("adjudications", []):
            svd: Segment = a["svd"]
            a_qualifier, a_code, a_modifiers = _procedure(svd.composite(3))
            when = a.get("date")
            if when is None:
                raise self.error("2430 line adjudication lacks DTP*573", svd)
            adjudications.append(
                LineAdjudication(
                    payer_id=svd[1],
                    paid_amount=v.required_decimal(svd, 2),
                    procedure_qualifier=a_qualifier,
                    procedure_code=a_code,
                    modifiers=a_modifiers,
                    revenue_code=_opt(svd[4]),
                    units=v.decimal(svd, 5) or Decimal(0),
                    adjustments=tuple(a["adjustments"]),
                    adjudication_date=when,
                    remaining_patient_liability=a.get("eaf"),
                )
            )
        return ServiceLine(
            charge=charge,
            units=units if units is not None else Decimal(0),
            procedure_code=code or None,
            procedure_qualifier=qualifier or "HC",
            modifiers=modifiers,
            unit_of_measure=unit,
            place_of_service=pos,
            diagnosis_pointers=pointers,
            revenue_code=revenue,
            service_date=start,
            service_date_end=end,
            line_item_control_number=line.get("control"),
            drug=drug,
            adjudications=tuple(adjudications),
        )


def _kind_of(tx: Transaction) -> ClaimKind:
    version = tx.version
    if tx.set_id != "837":
        raise X12Error(
            f"transaction set {tx.set_id} (control number {tx.control_number}) is not an 837"
        )
    if version.startswith("005010X222"):
        return PROFESSIONAL
    if version.startswith("005010X223"):
        return INSTITUTIONAL
    raise X12Error(
        f"837 version {version or '(none)'} is not supported: only 005010X222A1 (837P) and "
        f"005010X223A2 (837I) are" + (f" [file {tx.file_name}]" if tx.file_name else "")
    )


def parse_837_submissions(
    source: Source, *, file_name: str | None = None, strict: bool = True
) -> list[Submission837]:
    """Every 837 transaction set in a file, typed. Envelope counts and control numbers are
    checked unless `strict` is False (for files other tools wrote with wrong SE counts)."""
    out = []
    for tx in read_transactions(source, file_name=file_name, strict=strict):
        kind = _kind_of(tx)
        out.append(_Parser837(tx, kind).parse())
    return out


def parse_837(
    source: Source, *, file_name: str | None = None, strict: bool = True
) -> list[Claim837]:
    """Every claim in an 837P or 837I file, in file order."""
    return [
        claim
        for submission in parse_837_submissions(source, file_name=file_name, strict=strict)
        for claim in submission.claims
    ]
