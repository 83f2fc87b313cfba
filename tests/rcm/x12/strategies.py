"""Hypothesis strategies for synthetic X12 values: 837P/837I claims, 270/271, 276/277.

Every value is synthetic and shaped to pass the implementation guides' element rules (lengths,
code lists pyx12 checks), so a builder bug shows up as a pyx12 error, not as noise from the
data. Text is upper-case letters, digits and inner spaces: no delimiter can appear.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from hypothesis import strategies as st

from rcm.identifiers import make_npi
from rcm.x12 import x270, x271, x276, x277
from rcm.x12 import x837 as m

UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
DIGITS = "0123456789"


def text(min_size: int = 1, max_size: int = 20, alphabet: str = UPPER) -> st.SearchStrategy[str]:
    return st.text(alphabet=alphabet, min_size=min_size, max_size=max_size)


def words(max_words: int = 3, max_size: int = 10) -> st.SearchStrategy[str]:
    return st.lists(text(1, max_size), min_size=1, max_size=max_words).map(" ".join)


def digits(size: int) -> st.SearchStrategy[str]:
    return text(size, size, DIGITS)


def identifier(min_size: int = 2, max_size: int = 15) -> st.SearchStrategy[str]:
    return text(min_size, max_size, UPPER + DIGITS)


npis = st.sampled_from("12").flatmap(lambda first: digits(8).map(lambda d: make_npi(first + d)))
tins = digits(9).filter(lambda t: not t.startswith("00"))
money = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("99999.99"), places=2)
small_money = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("999.99"), places=2)
units = st.sampled_from([Decimal("1"), Decimal("2"), Decimal("3"), Decimal("1.5"), Decimal("10")])
dates = st.dates(min_value=date(2020, 1, 1), max_value=date(2026, 12, 31))
birth_dates = st.dates(min_value=date(1925, 1, 1), max_value=date(2024, 12, 31))
sexes = st.sampled_from(["F", "M", "U"])
states = st.sampled_from(["CA", "NY", "TX", "FL", "IL", "WA", "MA", "OH"])
zips = st.one_of(digits(5), digits(9))
icd10 = st.builds(
    lambda letter, d, rest: letter + d + rest,
    st.sampled_from("ABCDEFGIJKLMNORSTZ"),
    digits(2),
    text(0, 4, DIGITS + "X"),
)
cpt = digits(5)
modifiers = st.lists(
    st.sampled_from(["25", "59", "LT", "RT", "GT", "95", "76", "XS"]), max_size=4, unique=True
).map(tuple)
pos_codes = st.sampled_from(["11", "02", "10", "19", "21", "22", "23", "31", "81"])
revenue_codes = st.sampled_from(["0250", "0300", "0301", "0450", "0636", "0730", "0981"])
taxonomies = st.sampled_from(["207Q00000X", "208D00000X", "282N00000X", "261QP2300X"])
filing = st.sampled_from(["CI", "BL", "MB", "MC", "HM", "12", "16"])
frequency_and_original = st.one_of(
    st.just(("1", None)),
    st.tuples(st.sampled_from(["7", "8"]), identifier(5, 20)),
)
created = st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2026, 12, 31)).map(
    lambda d: d.replace(second=0, microsecond=0)
)

addresses = st.builds(
    m.Address,
    line1=words(3),
    line2=st.none() | words(2),
    city=text(2, 20),
    state=states,
    postal_code=zips,
)
contacts = st.builds(m.Contact, name=words(2), phone=digits(10), email=st.none())
payers = st.builds(
    m.Payer, name=words(3), payer_id=identifier(5, 10), address=st.none() | addresses
)


def subscribers(self_pay: bool = True) -> st.SearchStrategy[m.Subscriber]:
    return st.builds(
        m.Subscriber,
        member_id=identifier(6, 15),
        last_name=words(2),
        first_name=st.none() | text(1, 15),
        middle_name=st.none() | text(1, 1),
        suffix=st.none() | st.sampled_from(["JR", "SR", "III"]),
        birth_date=birth_dates,
        sex=sexes,
        address=addresses,
        payer=payers,
        payer_responsibility=st.sampled_from(["P", "S", "T"]),
        group_number=st.none() | identifier(3, 12),
        group_name=st.none(),
        claim_filing_indicator=filing,
    )


patients = st.builds(
    m.Patient,
    relationship=st.sampled_from(["01", "19", "20", "21", "39", "40", "53", "G8"]),
    last_name=words(2),
    first_name=st.none() | text(1, 15),
    middle_name=st.none(),
    suffix=st.none(),
    birth_date=birth_dates,
    sex=sexes,
    address=addresses,
)

billing_providers = st.builds(
    m.BillingProvider,
    npi=npis,
    tax_id=tins,
    name=words(3),
    address=st.builds(
        m.Address, line1=words(3), city=text(2, 20), state=states, postal_code=digits(9)
    ),
    taxonomy=st.none() | taxonomies,
    contact=st.none() | contacts,
    pay_to_address=st.none() | addresses,
)


def persons(role: str, taxonomy: bool = False) -> st.SearchStrategy[m.Provider]:
    return st.builds(
        m.Provider,
        role=st.just(role),
        name=words(2),
        first_name=text(1, 15),
        npi=npis,
        taxonomy=taxonomies if taxonomy else st.none(),
    )


facilities = st.builds(
    m.Provider,
    role=st.just("77"),
    name=words(3),
    entity_type=st.just("2"),
    npi=npis,
    address=st.builds(
        m.Address, line1=words(3), city=text(2, 20), state=states, postal_code=digits(9)
    ),
)

adjustment = st.builds(
    m.Adjustment,
    group_code=st.sampled_from(["CO", "PR", "OA", "PI"]),
    reason_code=st.sampled_from(["1", "2", "3", "45", "96", "97", "253"]),
    amount=small_money,
    quantity=st.none(),
)


def _grouped(items: list[m.Adjustment]) -> tuple[m.Adjustment, ...]:
    """CAS carries one group code per segment, so the builder writes adjustments grouped by
    group code in first-seen order; generate them that way so round trips compare equal."""
    order: dict[str, int] = {}
    for adj in items:
        order.setdefault(adj.group_code, len(order))
    return tuple(sorted(items, key=lambda a: order[a.group_code]))


def adjustments(max_size: int = 3) -> st.SearchStrategy[tuple[m.Adjustment, ...]]:
    return st.lists(adjustment, max_size=max_size).map(_grouped)


@st.composite
def other_payers(draw: st.DrawFn, kind: m.ClaimKind) -> m.OtherPayer:
    return m.OtherPayer(
        payer_responsibility=draw(st.sampled_from(["P", "T"])),
        relationship=draw(st.sampled_from(["18", "01", "19", "20", "G8"])),
        group_number=draw(st.none() | identifier(3, 12)),
        claim_filing_indicator=draw(filing),
        adjustments=draw(adjustments(3)),
        paid_amount=draw(st.none() | small_money),
        remaining_patient_liability=draw(st.none() | small_money),
        patient_signature_source="P" if kind == "P" and draw(st.booleans()) else None,
        subscriber_last_name=draw(words(2)),
        subscriber_first_name=draw(st.none() | text(1, 15)),
        subscriber_member_id=draw(identifier(6, 15)),
        payer_name=draw(words(3)),
        payer_id=draw(identifier(5, 10)),
        adjudication_date=draw(st.none() | dates),
    )


@st.composite
def service_lines(
    draw: st.DrawFn, kind: m.ClaimKind, diagnosis_count: int, other_payer_ids: tuple[str, ...]
) -> m.ServiceLine:
    institutional = kind == "I"
    procedure = draw(cpt) if not institutional else draw(st.none() | cpt)
    start = draw(dates)
    end = draw(
        st.none() | st.integers(1, 10).map(lambda n: date.fromordinal(start.toordinal() + n))
    )
    pointers: tuple[int, ...] = ()
    if not institutional:
        pointers = tuple(
            draw(
                st.lists(
                    st.integers(1, min(diagnosis_count, 12)),
                    min_size=1,
                    max_size=min(4, diagnosis_count),
                    unique=True,
                )
            )
        )
    revenue = draw(revenue_codes) if institutional else None
    adjudications = tuple(
        m.LineAdjudication(
            revenue_code=revenue,
            payer_id=payer_id,
            paid_amount=draw(small_money),
            procedure_code=procedure or draw(cpt),
            modifiers=draw(modifiers),
            units=draw(units),
            adjustments=draw(adjustments(2)),
            adjudication_date=draw(dates),
        )
        for payer_id in other_payer_ids
        if draw(st.booleans())
    )
    return m.ServiceLine(
        charge=draw(money),
        units=draw(units),
        procedure_code=procedure,
        modifiers=draw(modifiers) if procedure else (),
        place_of_service=draw(st.none() | pos_codes) if not institutional else None,
        diagnosis_pointers=pointers,
        revenue_code=revenue,
        service_date=start if not institutional else draw(st.none() | st.just(start)),
        service_date_end=end if (not institutional or draw(st.booleans())) else None,
        line_item_control_number=draw(st.none() | identifier(4, 20)),
        drug=draw(
            st.none()
            | st.builds(
                m.Drug,
                ndc=digits(11),
                quantity=units,
                unit=st.sampled_from(["UN", "ML", "GR", "F2", "ME"]),
                prescription_number=st.none() | identifier(4, 12),
            )
        ),
        adjudications=adjudications,
    )


def _fix_line(line: m.ServiceLine) -> m.ServiceLine:
    if line.service_date is None and line.service_date_end is not None:
        return m.ServiceLine(**{**_fields(line), "service_date_end": None})
    return line


def _fields(obj: object) -> dict[str, object]:
    return {name: getattr(obj, name) for name in obj.__dataclass_fields__}  # type: ignore[attr-defined]


@st.composite
def claims(
    draw: st.DrawFn,
    kind: m.ClaimKind = "P",
    billing_provider: st.SearchStrategy[m.BillingProvider] | None = None,
    subscriber: st.SearchStrategy[m.Subscriber] | None = None,
) -> m.Claim837:
    institutional = kind == "I"
    diagnoses = tuple(
        draw(st.lists(icd10, min_size=1, max_size=12 if not institutional else 15, unique=True))
    )
    frequency, original = draw(frequency_and_original)
    others = tuple(draw(st.lists(other_payers(kind), max_size=2)))
    other_ids = tuple(o.payer_id for o in others)
    lines = tuple(
        _fix_line(line)
        for line in draw(
            st.lists(service_lines(kind, len(diagnoses), other_ids), min_size=1, max_size=4)
        )
    )
    statement_from = draw(dates) if institutional else None
    return m.Claim837(
        kind=kind,
        billing_provider=draw(billing_providers if billing_provider is None else billing_provider),
        subscriber=draw(subscribers() if subscriber is None else subscriber),
        patient=draw(st.none() | patients),
        patient_control_number=draw(identifier(1, 38)),
        charge=sum((line.charge for line in lines), Decimal(0)),
        facility_code=draw(
            pos_codes
            if not institutional
            else st.sampled_from(["11", "13", "14", "21", "71", "83"])
        ),
        frequency=frequency,
        original_claim_number=original,
        provider_signature=None if institutional else "Y",
        assignment=draw(st.sampled_from(["A", "B", "C"])),
        benefits_assignment=draw(st.sampled_from(["Y", "N", "W"])),
        release_of_information=draw(st.sampled_from(["I", "Y"])),
        patient_signature_source=None if institutional else draw(st.none() | st.just("P")),
        prior_authorization=draw(st.none() | identifier(4, 20)),
        medical_record_number=draw(st.none() | identifier(4, 20)),
        notes=tuple(
            draw(
                st.lists(
                    st.builds(
                        m.Note,
                        code=st.just("ADD")
                        if not institutional
                        else st.sampled_from(["ALG", "DCP", "MED", "UPI"]),
                        text=words(5),
                    ),
                    max_size=1 if not institutional else 3,
                )
            )
        ),
        onset_date=None if institutional else draw(st.none() | dates),
        statement_from=statement_from,
        statement_through=(
            date.fromordinal(statement_from.toordinal() + draw(st.integers(0, 20)))
            if statement_from
            else None
        ),
        admission=draw(st.none() | created) if institutional else None,
        admission_type=draw(st.sampled_from(["1", "2", "3", "9"])) if institutional else None,
        admission_source=draw(st.sampled_from(["1", "2", "4", "9"])) if institutional else None,
        patient_status=draw(st.sampled_from(["01", "02", "20", "30"])) if institutional else None,
        diagnoses=diagnoses,
        admitting_diagnosis=draw(st.none() | icd10) if institutional else None,
        occurrence_codes=tuple(
            draw(
                st.lists(
                    st.builds(
                        m.OccurrenceCode, code=st.sampled_from(["01", "11", "24", "A1"]), date=dates
                    ),
                    max_size=3,
                )
            )
        )
        if institutional
        else (),
        value_codes=tuple(
            draw(
                st.lists(
                    st.builds(
                        m.ValueCode, code=st.sampled_from(["01", "80", "A1"]), amount=small_money
                    ),
                    max_size=3,
                )
            )
        )
        if institutional
        else (),
        condition_codes=tuple(
            draw(st.lists(st.sampled_from(["01", "07", "39", "A1"]), max_size=2, unique=True))
        )
        if institutional
        else (),
        referring_provider=draw(st.none() | persons("DN")),
        rendering_provider=draw(st.none() | persons("82", taxonomy=not institutional)),
        attending_provider=draw(st.none() | persons("71", taxonomy=True))
        if institutional
        else None,
        service_facility=draw(st.none() | facilities),
        other_payers=others,
        lines=lines,
    )


headers = st.builds(
    m.Header837,
    submitter=st.builds(m.Submitter, name=words(3), identifier=identifier(2, 15), contact=contacts),
    receiver=st.builds(m.Receiver, name=words(3), identifier=identifier(2, 15)),
    reference_id=identifier(1, 30),
    created=created,
)


@st.composite
def submissions(draw: st.DrawFn, kind: m.ClaimKind = "P", max_claims: int = 4) -> m.Submission837:
    """Several claims that share billing providers and subscribers, so the HL grouping is
    exercised."""
    providers = draw(st.lists(billing_providers, min_size=1, max_size=2))
    subs = draw(st.lists(subscribers(), min_size=1, max_size=2))
    claim_list = draw(
        st.lists(
            claims(kind, st.sampled_from(providers), st.sampled_from(subs)),
            min_size=1,
            max_size=max_claims,
        )
    )
    return m.Submission837(header=draw(headers), claims=tuple(claim_list))


def in_file_order(claims: tuple[m.Claim837, ...]) -> list[m.Claim837]:
    """The order the builder writes claims in: grouped by billing provider, then subscriber
    (self-pay apart from dependents), then patient, each group where it first appears."""
    first: dict[object, int] = {}

    def rank(key: object) -> int:
        return first.setdefault(key, len(first))

    keyed = [
        (
            rank(("bp", c.billing_provider)),
            rank(("sub", c.billing_provider, c.subscriber, c.patient is None)),
            rank(("pat", c.billing_provider, c.subscriber, c.patient is None, c.patient)),
            index,
            c,
        )
        for index, c in enumerate(claims)
    ]
    return [item[-1] for item in sorted(keyed, key=lambda k: k[:4])]


# --------------------------------------------------------------------------------------------
# 270 / 271
# --------------------------------------------------------------------------------------------

eligibility_sources = st.builds(
    x270.Party, entity_id=st.just("PR"), name=words(3), id_qualifier=st.just("PI"),
    identifier=identifier(5, 10),
)  # fmt: skip
eligibility_receivers = st.builds(
    x270.Party, entity_id=st.just("1P"), name=words(3), id_qualifier=st.just("XX"),
    identifier=npis,
)  # fmt: skip
trace_numbers = identifier(4, 30)
originators = digits(9).map(lambda d: "1" + d)


def members_270(with_id: bool) -> st.SearchStrategy[x270.Member]:
    return st.builds(
        x270.Member,
        last_name=words(2),
        first_name=st.none() | text(1, 15),
        middle_name=st.none() | text(1, 1),
        suffix=st.none(),
        member_id=identifier(6, 15) if with_id else st.none(),
        birth_date=st.none() | birth_dates,
        sex=st.none() | sexes,
        address=st.none() | addresses,
    )


@st.composite
def inquiries(draw: st.DrawFn) -> x270.EligibilityInquiry:
    start = draw(st.none() | dates)
    end = draw(st.none() | st.integers(1, 30)) if start else None
    return x270.EligibilityInquiry(
        trace_number=draw(trace_numbers),
        trace_originator=draw(originators),
        subscriber=draw(members_270(True)),
        dependent=draw(st.none() | members_270(False)),
        service_types=tuple(
            draw(st.lists(st.sampled_from(["30", "1", "33", "35", "47", "48", "86", "88", "98",
                                           "AL", "MH", "UC"]), min_size=1, max_size=3,
                          unique=True))
        ),
        service_date=start,
        service_date_end=date.fromordinal(start.toordinal() + end) if start and end else None,
    )  # fmt: skip


eligibility_requests = st.builds(
    x270.EligibilityRequest,
    source=eligibility_sources,
    receiver=eligibility_receivers,
    inquiries=st.lists(inquiries(), min_size=1, max_size=3).map(tuple),
    reference_id=identifier(1, 30),
    created=created,
)

rejections = st.builds(
    x271.Rejection,
    reason_code=st.sampled_from(["42", "43", "58", "72", "73", "75", "15", "57"]),
    follow_up=st.sampled_from(["C", "N", "R", "W", "X", "Y"]),
    valid=st.sampled_from(["N", "Y"]),
)
date_ranges = st.builds(
    x271.DateRange,
    qualifier=st.sampled_from(["346", "347", "291", "307", "356", "357"]),
    start=dates,
    end=st.none(),
) | dates.map(lambda d: x271.DateRange(qualifier="291", start=d,
                                         end=date.fromordinal(d.toordinal() + 364)))  # fmt: skip
references_271 = st.builds(
    x271.Reference,
    qualifier=st.sampled_from(["18", "1L", "6P", "IG"]),
    value=identifier(2, 20),
    description=st.none() | words(2),
)
related_entities = st.builds(
    x271.RelatedEntity,
    party=st.builds(x270.Party, entity_id=st.sampled_from(["PR", "P3", "1P"]), name=words(3),
                    id_qualifier=st.just("PI"), identifier=identifier(3, 10)),
    address=st.none() | addresses,
)  # fmt: skip
amounts = st.decimals(min_value=Decimal("0"), max_value=Decimal("20000"), places=2)


@st.composite
def benefits(draw: st.DrawFn) -> x271.Benefit:
    info = draw(st.sampled_from(["1", "6", "A", "B", "C", "G", "R", "L", "F"]))
    return x271.Benefit(
        information=info,
        coverage_level=draw(st.none() | st.sampled_from(["IND", "FAM", "EMP", "ESP"])),
        service_types=tuple(draw(st.lists(st.sampled_from(["30", "1", "33", "98", "AL", "MH"]),
                                          max_size=3, unique=True))),
        insurance_type=draw(st.none() | st.sampled_from(["HM", "PR", "MB", "C1"])),
        plan_description=draw(st.none() | words(3)),
        time_period=draw(st.none() | st.sampled_from(["23", "29", "22", "27"])),
        amount=draw(amounts) if info in "BCG" else None,
        percent=draw(st.sampled_from([Decimal("0.1"), Decimal("0.2"), Decimal("0.5")]))
        if info == "A" else None,
        quantity_qualifier=None,
        quantity=None,
        authorization_required=draw(st.none() | st.sampled_from(["Y", "N", "U"])),
        in_network=draw(st.none() | st.sampled_from(["Y", "N", "W"])),
        references=tuple(draw(st.lists(references_271, max_size=1))),
        dates=tuple(draw(st.lists(date_ranges, max_size=2))),
        rejections=tuple(draw(st.lists(rejections, max_size=1))),
        messages=tuple(draw(st.lists(words(4), max_size=1))),
        entities=tuple(draw(st.lists(related_entities, max_size=2))),
    )  # fmt: skip


@st.composite
def eligibility_members(draw: st.DrawFn, entity: str) -> x271.EligibilityMember:
    corrected = draw(st.booleans())
    return x271.EligibilityMember(
        last_name=draw(words(2)),
        first_name=draw(st.none() | text(1, 15)),
        member_id=draw(identifier(6, 15)) if entity == "IL" else None,
        address=draw(st.none() | addresses),
        birth_date=draw(st.none() | birth_dates),
        sex=draw(st.none() | sexes),
        insured=("Y" if entity == "IL" else "N") if corrected else None,
        relationship=("18" if entity == "IL" else "19") if corrected else None,
        maintenance_type="001" if corrected else None,
        maintenance_reason="25" if corrected else None,
        traces=tuple(
            draw(st.lists(st.builds(x271.Trace, type_code=st.sampled_from(["1", "2"]),
                                    number=trace_numbers, originator=originators),
                          max_size=2))
        ),
        references=tuple(draw(st.lists(references_271, max_size=2))),
        dates=tuple(draw(st.lists(date_ranges, max_size=2))),
        rejections=tuple(draw(st.lists(rejections, max_size=1))),
        benefits=tuple(draw(st.lists(benefits(), max_size=4))),
    )  # fmt: skip


@st.composite
def eligibility_271s(draw: st.DrawFn) -> x271.Eligibility271:
    source = draw(eligibility_sources)
    receiver = draw(eligibility_receivers)
    count = draw(st.integers(1, 3))
    responses = []
    used: set[str | None] = set()
    for _ in range(count):
        subscriber = draw(eligibility_members("IL"))
        if subscriber.member_id in used:
            continue
        used.add(subscriber.member_id)
        responses.append(
            x271.EligibilityResponse(
                source=source,
                receiver=receiver,
                subscriber=subscriber,
                dependent=draw(st.none() | eligibility_members("03")),
            )
        )
    if draw(st.booleans()):
        # A payer that cannot answer for this provider at all: AAA at 2100B, no subscriber.
        responses.append(
            x271.EligibilityResponse(
                source=source,
                receiver=draw(eligibility_receivers),
                receiver_rejections=(x271.Rejection(reason_code="43", follow_up="N"),),
            )
        )
    return x271.Eligibility271(
        reference_id=draw(identifier(1, 30)), created=draw(created), responses=tuple(responses)
    )


# --------------------------------------------------------------------------------------------
# 276 / 277
# --------------------------------------------------------------------------------------------

status_providers = st.builds(
    x270.Party, entity_id=st.just("1P"), name=words(3), id_qualifier=st.just("XX"),
    identifier=npis,
)  # fmt: skip
status_receivers = st.builds(
    x270.Party, entity_id=st.just("41"), name=words(3), id_qualifier=st.just("46"),
    identifier=identifier(2, 15),
)  # fmt: skip


def status_members(entity: str, demographics: bool) -> st.SearchStrategy[x270.Member]:
    return st.builds(
        x270.Member,
        last_name=words(2),
        first_name=st.none() | text(1, 15),
        member_id=identifier(6, 15) if entity == "IL" else st.none(),
        birth_date=(st.none() | birth_dates) if demographics else st.none(),
        sex=(st.none() | sexes) if demographics else st.none(),
    )


@st.composite
def _period(draw: st.DrawFn) -> tuple[date | None, date | None]:
    start = draw(st.none() | dates)
    if start is None:
        return None, None
    extra = draw(st.none() | st.integers(1, 30))
    return start, date.fromordinal(start.toordinal() + extra) if extra else None


@st.composite
def status_inquiries(
    draw: st.DrawFn,
    providers: st.SearchStrategy[x270.Party],
    subscribers: st.SearchStrategy[x270.Member],
) -> x276.ClaimStatusInquiry:
    start, end = draw(_period())
    lines = []
    for _ in range(draw(st.integers(0, 2))):
        line_start, line_end = draw(_period())
        lines.append(
            x276.ServiceLineInquiry(
                procedure_code=draw(cpt), modifiers=draw(modifiers), charge=draw(money),
                units=draw(st.none() | units),
                line_item_control_number=draw(st.none() | identifier(2, 20)),
                service_date=line_start, service_date_end=line_end,
            )
        )  # fmt: skip
    return x276.ClaimStatusInquiry(
        provider=draw(providers),
        subscriber=draw(subscribers),
        patient=draw(st.none() | status_members("QC", True)),
        trace_number=draw(trace_numbers),
        payer_claim_number=draw(st.none() | identifier(5, 20)),
        patient_control_number=draw(st.none() | identifier(1, 38)),
        bill_type=draw(st.none() | st.sampled_from(["111", "131", "851"])),
        charge=draw(st.none() | money),
        service_date=start,
        service_date_end=end,
        lines=tuple(lines),
    )


@st.composite
def status_requests(draw: st.DrawFn) -> x276.ClaimStatusRequest:
    providers = draw(st.lists(status_providers, min_size=1, max_size=2, unique=True))
    subscribers = draw(st.lists(status_members("IL", True), min_size=1, max_size=2))
    return x276.ClaimStatusRequest(
        source=draw(eligibility_sources),
        receiver=draw(status_receivers),
        inquiries=tuple(draw(st.lists(
            status_inquiries(st.sampled_from(providers), st.sampled_from(subscribers)),
            min_size=1, max_size=4,
        ))),
        reference_id=draw(identifier(1, 30)),
        created=draw(created),
    )  # fmt: skip


status_codes = st.builds(
    x277.StatusCode,
    category=st.sampled_from(["A1", "A2", "A3", "F0", "F1", "F2", "P1", "P3", "E0"]),
    code=st.sampled_from(["0", "3", "20", "65", "88", "317", "562"]),
    entity=st.none() | st.sampled_from(["QC", "IL", "PR", "41"]),
)


@st.composite
def status_infos(draw: st.DrawFn) -> x277.StatusInfo:
    paid = draw(st.booleans())
    return x277.StatusInfo(
        status=draw(status_codes),
        effective_date=draw(dates),
        action_code=draw(st.none() | st.sampled_from(["WQ", "U", "15"])),
        charge=draw(st.none() | money),
        paid_amount=draw(small_money) if paid else None,
        adjudication_date=draw(dates) if paid else None,
        payment_method=draw(st.sampled_from(["ACH", "CHK"])) if paid else None,
        payment_date=draw(dates) if paid else None,
        check_number=draw(identifier(4, 16)) if paid else None,
        additional=tuple(draw(st.lists(status_codes, max_size=2))),
        message=draw(st.none() | words(4)),
    )


@st.composite
def claim_statuses(
    draw: st.DrawFn,
    providers: st.SearchStrategy[x270.Party],
    subscribers: st.SearchStrategy[x270.Member],
) -> x277.ClaimStatus:
    start, end = draw(_period())
    lines = []
    for _ in range(draw(st.integers(0, 2))):
        line_start, line_end = draw(_period())
        lines.append(
            x277.ServiceLineStatus(
                procedure_code=draw(cpt), modifiers=draw(modifiers), charge=draw(money),
                paid_amount=draw(st.none() | small_money), units=draw(st.none() | units),
                statuses=tuple(draw(st.lists(status_infos(), min_size=1, max_size=2))),
                line_item_control_number=draw(st.none() | identifier(2, 20)),
                service_date=line_start, service_date_end=line_end,
            )
        )  # fmt: skip
    return x277.ClaimStatus(
        provider=draw(providers),
        subscriber=draw(subscribers),
        patient=draw(st.none() | status_members("QC", False)),
        trace_number=draw(trace_numbers),
        statuses=tuple(draw(st.lists(status_infos(), min_size=1, max_size=2))),
        payer_claim_number=draw(st.none() | identifier(5, 20)),
        patient_control_number=draw(st.none() | identifier(1, 38)),
        bill_type=draw(st.none() | st.sampled_from(["111", "131"])),
        service_date=start,
        service_date_end=end,
        lines=tuple(lines),
    )


@st.composite
def status_responses(draw: st.DrawFn) -> x277.ClaimStatusResponse:
    providers = draw(st.lists(status_providers, min_size=1, max_size=2, unique=True))
    subscribers = draw(st.lists(status_members("IL", False), min_size=1, max_size=2))
    receiver = draw(status_receivers)
    levels = []
    if draw(st.booleans()):
        levels.append(
            x277.LevelStatus(level="receiver", party=receiver, trace_number=draw(trace_numbers),
                             statuses=tuple(draw(st.lists(status_infos(), min_size=1,
                                                          max_size=2))))
        )  # fmt: skip
    if draw(st.booleans()):
        levels.append(
            x277.LevelStatus(level="provider", party=providers[0],
                             trace_number=draw(trace_numbers),
                             statuses=(draw(status_infos()),))
        )  # fmt: skip
    return x277.ClaimStatusResponse(
        source=draw(eligibility_sources),
        receiver=receiver,
        claims=tuple(draw(st.lists(
            claim_statuses(st.sampled_from(providers), st.sampled_from(subscribers)),
            max_size=4,
        ))),
        level_statuses=tuple(levels),
        reference_id=draw(identifier(1, 30)),
        created=draw(created),
    )  # fmt: skip


def status_file_order(items: tuple, first_providers: tuple = ()) -> list:  # type: ignore[type-arg]
    """Claims (276 inquiries, 277 statuses) in the order the builders write them: grouped by
    provider (those in `first_providers` first), subscriber, then patient."""
    first: dict[object, int] = {}

    def rank(key: object) -> int:
        return first.setdefault(key, len(first))

    for provider in first_providers:
        rank(("p", provider))
    keyed = [
        (
            rank(("p", c.provider)),
            rank(("s", c.provider, c.subscriber, c.patient is None)),
            rank(("t", c.provider, c.subscriber, c.patient is None, c.patient)),
            index,
            c,
        )
        for index, c in enumerate(items)
    ]
    return [item[-1] for item in sorted(keyed, key=lambda k: k[:4])]
