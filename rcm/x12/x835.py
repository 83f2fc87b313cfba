"""835 Health Care Claim Payment/Advice, 005010X221A1: typed model, streaming parser, builder
and the balancing check.

The model follows the guide's loops: a `Remittance835` (header: BPR, TRN, CUR, REF, DTM, the
payer 1000A and payee 1000B loops, the 2000 LX/TS3/TS2 summaries, PLB) holds `ClaimPayment`s
(2100: CLP and what follows it), which hold `ServicePayment`s (2110: SVC and what follows it).
CAS triplets and PLB adjustment pairs are flattened into one list each; the builder packs them
back six to a segment, so parse(build(x)) == x.

`iter_remittances` reads one claim at a time, so a 1 GB ERA is posted in the memory of one
claim; `parse_835` is the convenient list form for files that fit in memory.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Literal

from rcm.errors import X12SyntaxError
from rcm.x12.core import (
    Element,
    EnvelopeIssue,
    InterchangeEnvelope,
    Segment,
    Source,
    Transaction,
    TransactionBody,
    read_transactions,
    write_interchange,
    x12_number,
)

IMPLEMENTATION = "005010X221A1"
FUNCTIONAL_ID = "HP"
ZERO = Decimal(0)

# CLP02 claim status codes (005010X221A1).
CLAIM_STATUSES = {
    "1": "processed as primary",
    "2": "processed as secondary",
    "3": "processed as tertiary",
    "4": "denied",
    "19": "processed as primary, forwarded to additional payer(s)",
    "20": "processed as secondary, forwarded to additional payer(s)",
    "21": "processed as tertiary, forwarded to additional payer(s)",
    "22": "reversal of previous payment",
    "23": "not our claim, forwarded to additional payer(s)",
    "25": "predetermination pricing only, no payment",
}


# ---------------------------------------------------------------------------------------------
# Model
# ---------------------------------------------------------------------------------------------


@dataclass(slots=True)
class Reference:
    """REF: qualifier (REF01) and identifier (REF02)."""

    qualifier: str
    value: str


@dataclass(slots=True)
class DateValue:
    """DTM: qualifier (232 statement from, 233 to, 050 received, 150/151 service period,
    472 service date, 405 production date, 036 coverage expiration, 573 claim paid...)."""

    qualifier: str
    date: date


@dataclass(slots=True)
class Amount:
    """AMT: qualifier (AU coverage, B6 allowed, I interest, KH late filing reduction ...)."""

    qualifier: str
    amount: Decimal


@dataclass(slots=True)
class Quantity:
    """QTY: qualifier (CA covered, ZK federal Medicare visits ...)."""

    qualifier: str
    quantity: Decimal


@dataclass(slots=True)
class Adjustment:
    """One CAS triplet: group (CO, PR, OA, PI, CR), CARC reason, amount, optional quantity."""

    group: str
    reason: str
    amount: Decimal
    quantity: Decimal | None = None


@dataclass(slots=True)
class Remark:
    """LQ: HE (RARC) or RX (NCPDP reject reason) and the code."""

    qualifier: str
    code: str


@dataclass(slots=True)
class Contact:
    """PER: contact function (CX claims, BL technical, IC website), name, and up to three
    (qualifier, number) pairs."""

    function: str
    name: str = ""
    communications: list[tuple[str, str]] = field(default_factory=list)


@dataclass(slots=True)
class Name:
    """NM1 in the claim loop: QC patient, IL insured, 74 corrected patient/insured, 82 rendering
    provider, TT crossover carrier, PR corrected priority payer, GB other subscriber."""

    entity: str
    entity_type: str
    last_or_organization: str = ""
    first: str = ""
    middle: str = ""
    suffix: str = ""
    id_qualifier: str = ""
    id: str = ""


@dataclass(slots=True)
class Party:
    """1000A payer (N1*PR) or 1000B payee (N1*PE) with address, references and contacts.
    A payee's `id_qualifier` is XX (NPI) or FI (TIN)."""

    entity: str
    name: str = ""
    id_qualifier: str = ""
    id: str = ""
    address: list[str] = field(default_factory=list)
    city: str = ""
    state: str = ""
    postal_code: str = ""
    country: str = ""
    references: list[Reference] = field(default_factory=list)
    contacts: list[Contact] = field(default_factory=list)
    delivery: list[str] = field(default_factory=list)  # RDM01..RDM03 (payee only)


@dataclass(slots=True)
class Procedure:
    """SVC01 / SVC06 composite: qualifier (HC, AD, ER, IV, N4, NU, WK ...), code, up to four
    modifiers, description."""

    qualifier: str
    code: str
    modifiers: list[str] = field(default_factory=list)
    description: str = ""


@dataclass(slots=True)
class AdjudicationInfo:
    """MIA (inpatient) or MOA (outpatient) adjudication information, element by element as
    sent (MIA has 24 elements, mostly amounts and RARCs)."""

    kind: Literal["MIA", "MOA"]
    values: list[str] = field(default_factory=list)

    @property
    def remark_codes(self) -> list[str]:
        """RARCs carried here: MIA05, MIA20-23; MOA03-07."""
        picks = (5, 20, 21, 22, 23) if self.kind == "MIA" else (3, 4, 5, 6, 7)
        return [self.values[i - 1] for i in picks if i <= len(self.values) and self.values[i - 1]]


@dataclass(slots=True)
class ServicePayment:
    """2110: one adjudicated service line."""

    procedure: Procedure
    charge: Decimal
    paid: Decimal
    revenue_code: str = ""
    units: Decimal | None = None
    original_procedure: Procedure | None = None
    original_units: Decimal | None = None
    dates: list[DateValue] = field(default_factory=list)
    adjustments: list[Adjustment] = field(default_factory=list)
    references: list[Reference] = field(default_factory=list)
    amounts: list[Amount] = field(default_factory=list)
    quantities: list[Quantity] = field(default_factory=list)
    remarks: list[Remark] = field(default_factory=list)

    @property
    def service_date(self) -> date | None:
        """DTM*472, else the start of the DTM*150 period."""
        for wanted in ("472", "150"):
            for d in self.dates:
                if d.qualifier == wanted:
                    return d.date
        return None

    @property
    def adjustment_total(self) -> Decimal:
        return sum((a.amount for a in self.adjustments), ZERO)


@dataclass(slots=True)
class ClaimPayment:
    """2100: one adjudicated claim (CLP)."""

    patient_control_number: str
    status: str
    charge: Decimal
    paid: Decimal
    patient_responsibility: Decimal | None = None
    filing_indicator: str = ""
    payer_claim_control_number: str = ""
    facility_type: str = ""
    frequency: str = ""
    drg_code: str = ""
    drg_weight: Decimal | None = None
    discharge_fraction: Decimal | None = None
    # LX01 of the 2000 loop that holds this claim; None for files that have no LX (the guide
    # requires one, so built claims default to header number 1).
    header_number: str | None = "1"
    adjustments: list[Adjustment] = field(default_factory=list)
    names: list[Name] = field(default_factory=list)
    inpatient: AdjudicationInfo | None = None
    outpatient: AdjudicationInfo | None = None
    references: list[Reference] = field(default_factory=list)
    dates: list[DateValue] = field(default_factory=list)
    contacts: list[Contact] = field(default_factory=list)
    amounts: list[Amount] = field(default_factory=list)
    quantities: list[Quantity] = field(default_factory=list)
    services: list[ServicePayment] = field(default_factory=list)

    @property
    def is_reversal(self) -> bool:
        return self.status == "22"

    @property
    def is_denied(self) -> bool:
        return self.status == "4"

    def name(self, entity: str) -> Name | None:
        for n in self.names:
            if n.entity == entity:
                return n
        return None

    @property
    def adjustment_total(self) -> Decimal:
        """Claim-level and line-level CAS amounts together."""
        total = sum((a.amount for a in self.adjustments), ZERO)
        for s in self.services:
            total += s.adjustment_total
        return total


@dataclass(slots=True)
class ProviderSummary:
    """2000 header number loop: LX and its optional TS3 (provider summary) and TS2
    (supplemental summary), element by element after the LX."""

    number: str
    ts3: list[str] | None = None
    ts2: list[str] | None = None


@dataclass(slots=True)
class ProviderAdjustment:
    """One PLB adjustment: provider, fiscal period end, reason (PLB03-1: WO, L6, FB, 72, CS,
    J1 ...), reference (PLB03-2) and amount. A positive amount reduces the payment."""

    provider_id: str
    fiscal_period_end: date
    reason: str
    amount: Decimal
    reference: str = ""


@dataclass(slots=True)
class Trace:
    """TRN: reassociation trace. `number` (TRN02) is the check or EFT trace number."""

    trace_type: str
    number: str
    originator_id: str = ""
    originator_supplemental: str = ""


@dataclass(slots=True)
class Remittance835:
    """One 835 transaction set: one payment (or non-payment) from one payer to one payee."""

    handling: str
    total_paid: Decimal
    credit_debit: str
    payment_method: str
    trace: Trace
    payer: Party
    payee: Party
    payment_date: date | None = None
    payment_format: str = ""
    bank_details: list[str] = field(default_factory=list)  # BPR06..BPR15 as sent
    control_number: str = "0001"
    implementation: str = IMPLEMENTATION
    currency: str = ""
    references: list[Reference] = field(default_factory=list)
    dates: list[DateValue] = field(default_factory=list)
    summaries: list[ProviderSummary] = field(default_factory=list)
    claims: list[ClaimPayment] = field(default_factory=list)
    provider_adjustments: list[ProviderAdjustment] = field(default_factory=list)
    issues: list[EnvelopeIssue] = field(default_factory=list)

    @property
    def provider_adjustment_total(self) -> Decimal:
        return sum((p.amount for p in self.provider_adjustments), ZERO)


# ---------------------------------------------------------------------------------------------
# Parsing
# ---------------------------------------------------------------------------------------------


def _fail(seg: Segment, message: str, file_name: str | None) -> X12SyntaxError:
    return X12SyntaxError(
        message, file=file_name, segment_number=seg.number, offset=seg.offset, segment_id=seg.id
    )


def _dec(seg: Segment, index: int, file_name: str | None) -> Decimal:
    return _num(seg[index], seg, index, file_name)


def _opt_dec(seg: Segment, index: int, file_name: str | None) -> Decimal | None:
    return _opt_num(seg[index], seg, index, file_name)


def _date(seg: Segment, index: int, file_name: str | None) -> date:
    value = seg[index]
    if len(value) != 8 or not value.isdigit():
        raise _fail(seg, f"{seg.id}{index:02d} is not a CCYYMMDD date", file_name)
    try:
        return date(int(value[:4]), int(value[4:6]), int(value[6:8]))
    except ValueError:
        raise _fail(seg, f"{seg.id}{index:02d} is not a calendar date", file_name) from None


def _opt_date(seg: Segment, index: int, file_name: str | None) -> date | None:
    return _date(seg, index, file_name) if seg[index] else None


_PAD = [""] * 20


_num = x12_number


def _opt_num(value: str, seg: Segment, index: int, file_name: str | None) -> Decimal | None:
    return _num(value, seg, index, file_name) if value else None


def _ymd(value: str, seg: Segment, index: int, file_name: str | None) -> date:
    if len(value) != 8 or not value.isdigit():
        raise _fail(seg, f"{seg.id}{index:02d} is not a CCYYMMDD date", file_name)
    try:
        return date(int(value[:4]), int(value[4:6]), int(value[6:8]))
    except ValueError:
        raise _fail(seg, f"{seg.id}{index:02d} is not a calendar date", file_name) from None


def _adjustments(seg: Segment, file_name: str | None) -> list[Adjustment]:
    e = seg.elements + _PAD
    group = e[0]
    if not group:
        raise _fail(seg, "CAS01 claim adjustment group is required", file_name)
    if not e[1]:
        raise _fail(seg, "CAS02 adjustment reason is required", file_name)
    out = []
    for base in (1, 4, 7, 10, 13, 16):
        reason = e[base]
        if reason:
            out.append(
                Adjustment(
                    group,
                    reason,
                    _num(e[base + 1], seg, base + 2, file_name),
                    _opt_num(e[base + 2], seg, base + 3, file_name) if e[base + 2] else None,
                )
            )
    return out


def _procedure(seg: Segment, index: int, file_name: str | None) -> Procedure:
    parts = seg.composite(index)
    if len(parts) < 2 or not parts[1]:
        raise _fail(seg, f"{seg.id}{index:02d} needs a qualifier and a code", file_name)
    return Procedure(
        parts[0], parts[1], [m for m in parts[2:6] if m], parts[6] if len(parts) > 6 else ""
    )


def _name(seg: Segment) -> Name:
    return Name(seg[1], seg[2], seg[3], seg[4], seg[5], seg[7], seg[8], seg[9])


def _contact(seg: Segment) -> Contact:
    comms = [(seg[i], seg[i + 1]) for i in (3, 5, 7) if seg[i] or seg[i + 1]]
    return Contact(seg[1], seg[2], comms)


class _Peek:
    """The transaction body with one segment of look-ahead."""

    __slots__ = ("_it", "head")

    def __init__(self, it: Iterator[Segment]) -> None:
        self._it = it
        self.head: Segment | None = next(it, None)

    def take(self) -> Segment:
        seg = self.head
        assert seg is not None
        self.head = next(self._it, None)
        return seg


_CLAIM_END = frozenset({"CLP", "LX", "TS3", "TS2", "PLB"})


class RemittanceStream:
    """One 835 transaction being read. `remittance` has the header (BPR through the payee loop)
    as soon as the stream is handed out; `claims()` yields claim payments one at a time and,
    once exhausted, has filled in `remittance.summaries` and `remittance.provider_adjustments`.
    The claims are not kept on `remittance.claims` (that is what keeps memory flat)."""

    def __init__(self, tx: Transaction, file_name: str | None) -> None:
        if tx.set_id != "835":
            raise _fail(tx.st, f"transaction set {tx.set_id!r} is not an 835", file_name)
        self.transaction = tx
        self.file_name = file_name
        self._body = _Peek(tx.body)
        self._consumed = False
        self._passed = False
        self.paid_total = ZERO
        self.claim_count = 0
        self.remittance = self._header()

    def _header(self) -> Remittance835:
        fn = self.file_name
        body = self._body
        seg = body.head
        if seg is None or seg.id != "BPR":
            where = seg if seg is not None else self.transaction.st
            raise _fail(where, "835 must begin with BPR", fn)
        body.take()
        bank = [seg[i] for i in range(6, 16)]
        while bank and not bank[-1]:
            bank.pop()
        rem = Remittance835(
            handling=seg[1],
            total_paid=_dec(seg, 2, fn),
            credit_debit=seg[3],
            payment_method=seg[4],
            payment_format=seg[5],
            bank_details=bank,
            payment_date=_opt_date(seg, 16, fn),
            trace=Trace("", ""),
            payer=Party("PR"),
            payee=Party("PE"),
            control_number=self.transaction.control_number,
            implementation=self.transaction.st[3] or self.transaction.gs[8],
            issues=self.transaction.issues,
        )
        party: Party | None = None
        seen_trn = False
        while body.head is not None and body.head.id not in _CLAIM_END:
            seg = body.take()
            sid = seg.id
            if sid == "TRN":
                rem.trace = Trace(seg[1], seg[2], seg[3], seg[4])
                seen_trn = True
            elif sid == "CUR":
                rem.currency = seg[2]
            elif sid == "REF":
                target = party.references if party is not None else rem.references
                target.append(Reference(seg[1], seg[2]))
            elif sid == "DTM":
                rem.dates.append(DateValue(seg[1], _date(seg, 2, fn)))
            elif sid == "N1":
                entity = seg[1]
                if entity == "PR":
                    party = rem.payer
                elif entity == "PE":
                    party = rem.payee
                else:
                    party = Party(entity)  # other parties are read and not kept
                party.name = seg[2]
                party.id_qualifier = seg[3]
                party.id = seg[4]
            elif sid == "N3" and party is not None:
                party.address.extend(v for v in (seg[1], seg[2]) if v)
            elif sid == "N4" and party is not None:
                party.city, party.state, party.postal_code, party.country = (
                    seg[1],
                    seg[2],
                    seg[3],
                    seg[4],
                )
            elif sid == "PER" and party is not None:
                party.contacts.append(_contact(seg))
            elif sid == "RDM" and party is not None:
                party.delivery = [v for v in (seg[1], seg[2], seg[3])]
                while party.delivery and not party.delivery[-1]:
                    party.delivery.pop()
            # Anything else in the header (a stray segment) is tolerated and skipped: pyx12 is
            # the gate for guide conformance, this parser is for the money.
        if not seen_trn:
            raise _fail(seg, "835 has no TRN reassociation trace", fn)
        return rem

    def claims(self) -> Iterator[ClaimPayment]:
        if self._consumed:
            raise RuntimeError("claims() of a remittance stream can be read once")
        if self._passed:
            raise RuntimeError("claims() must be read before the next remittance is asked for")
        self._consumed = True
        fn = self.file_name
        body = self._body
        rem = self.remittance
        header_number: str | None = None
        summary: ProviderSummary | None = None
        while body.head is not None:
            sid = body.head.id
            if sid == "CLP":
                claim = self._claim(header_number)
                self.paid_total += claim.paid
                self.claim_count += 1
                yield claim
            elif sid == "LX":
                seg = body.take()
                header_number = seg[1]
                summary = ProviderSummary(header_number)
                rem.summaries.append(summary)
            elif sid == "TS3" or sid == "TS2":
                seg = body.take()
                if summary is None:
                    raise _fail(seg, f"{sid} outside an LX header number loop", fn)
                values = list(seg.elements)
                while values and not values[-1]:
                    values.pop()
                if sid == "TS3":
                    summary.ts3 = values
                else:
                    summary.ts2 = values
            elif sid == "PLB":
                seg = body.take()
                provider = seg[1]
                period = _date(seg, 2, fn)
                for base in (3, 5, 7, 9, 11, 13):
                    parts = seg.composite(base)
                    if not parts:
                        if base == 3:
                            raise _fail(seg, "PLB03 adjustment reason is required", fn)
                        continue
                    rem.provider_adjustments.append(
                        ProviderAdjustment(
                            provider,
                            period,
                            parts[0],
                            _dec(seg, base + 1, fn),
                            parts[1] if len(parts) > 1 else "",
                        )
                    )
            else:
                seg = body.take()
                raise _fail(seg, f"unexpected {sid} in the 835 detail", fn)

    def transaction_imbalance(self) -> Imbalance | None:
        """After `claims()` is exhausted: BPR02 against the sum of CLP04 less the PLB amounts
        (per-claim checks are `claim_imbalances(claim)` as each claim is read)."""
        if not self._consumed:
            raise RuntimeError("read claims() before balancing the transaction")
        rem = self.remittance
        diff = rem.total_paid - (self.paid_total - rem.provider_adjustment_total)
        return Imbalance("transaction", diff) if diff else None

    def _claim(self, header_number: str | None) -> ClaimPayment:
        # The hot loop of a big ERA: elements are read from a padded list rather than through
        # Segment.__getitem__, and the look-ahead is kept in a local.
        fn = self.file_name
        body = self._body
        it = body._it
        seg = body.take()
        e = seg.elements + _PAD
        claim = ClaimPayment(
            patient_control_number=e[0],
            status=e[1],
            charge=_num(e[2], seg, 3, fn),
            paid=_num(e[3], seg, 4, fn),
            patient_responsibility=_opt_num(e[4], seg, 5, fn),
            filing_indicator=e[5],
            payer_claim_control_number=e[6],
            facility_type=e[7],
            frequency=e[8],
            drg_code=e[10],
            drg_weight=_opt_num(e[11], seg, 12, fn),
            discharge_fraction=_opt_num(e[12], seg, 13, fn),
            header_number=header_number,
        )
        if not claim.patient_control_number:
            raise _fail(seg, "CLP01 patient control number is required", fn)
        service: ServicePayment | None = None
        head = body.head
        while head is not None and head.id not in _CLAIM_END:
            seg = head
            head = next(it, None)
            sid = seg.id
            e = seg.elements + _PAD
            if sid == "CAS":
                (service.adjustments if service else claim.adjustments).extend(
                    _adjustments(seg, fn)
                )
            elif sid == "DTM":
                d = DateValue(e[0], _ymd(e[1], seg, 2, fn))
                (service.dates if service else claim.dates).append(d)
            elif sid == "SVC":
                service = ServicePayment(
                    procedure=_procedure(seg, 1, fn),
                    charge=_num(e[1], seg, 2, fn),
                    paid=_num(e[2], seg, 3, fn),
                    revenue_code=e[3],
                    units=_opt_num(e[4], seg, 5, fn),
                    original_procedure=_procedure(seg, 6, fn) if e[5] else None,
                    original_units=_opt_num(e[6], seg, 7, fn),
                )
                claim.services.append(service)
            elif sid == "REF":
                (service.references if service else claim.references).append(Reference(e[0], e[1]))
            elif sid == "AMT":
                (service.amounts if service else claim.amounts).append(
                    Amount(e[0], _num(e[1], seg, 2, fn))
                )
            elif sid == "QTY":
                (service.quantities if service else claim.quantities).append(
                    Quantity(e[0], _num(e[1], seg, 2, fn))
                )
            elif sid == "LQ":
                if service is None:
                    raise _fail(seg, "LQ outside a service line", fn)
                service.remarks.append(Remark(e[0], e[1]))
            elif sid == "NM1":
                claim.names.append(Name(e[0], e[1], e[2], e[3], e[4], e[6], e[7], e[8]))
            elif sid == "MIA" or sid == "MOA":
                info = AdjudicationInfo("MIA" if sid == "MIA" else "MOA", list(seg.elements))
                while info.values and not info.values[-1]:
                    info.values.pop()
                if sid == "MIA":
                    claim.inpatient = info
                else:
                    claim.outpatient = info
            elif sid == "PER":
                claim.contacts.append(_contact(seg))
            else:
                body.head = head
                raise _fail(seg, f"unexpected {sid} in claim payment loop 2100", fn)
        body.head = head
        return claim


def iter_remittances(
    source: Source,
    *,
    file_name: str | None = None,
    strict: bool = True,
    issues: list[EnvelopeIssue] | None = None,
) -> Iterator[RemittanceStream]:
    """Every 835 transaction of a file as a `RemittanceStream`, reading lazily.

    A stream's claims must be read before the next stream is asked for (the file is read once,
    front to back). Non-835 transactions raise `X12SyntaxError`."""
    for tx in read_transactions(source, file_name=file_name, strict=strict, issues=issues):
        stream = RemittanceStream(tx, file_name or tx.file_name)
        yield stream
        # The envelope reader now skips what is left of this transaction.
        stream._passed = True


def parse_835(
    data: Source,
    *,
    file_name: str | None = None,
    strict: bool = True,
    issues: list[EnvelopeIssue] | None = None,
) -> list[Remittance835]:
    """Every 835 transaction of a file, claims included."""
    out = []
    for stream in iter_remittances(data, file_name=file_name, strict=strict, issues=issues):
        claims = list(stream.claims())
        stream.remittance.claims = claims
        out.append(stream.remittance)
    return out


# ---------------------------------------------------------------------------------------------
# Building
# ---------------------------------------------------------------------------------------------


def _cas_segments(adjustments: Sequence[Adjustment]) -> Iterator[tuple[Element, ...]]:
    """Consecutive adjustments of one group go into one CAS, at most six per segment."""
    i = 0
    while i < len(adjustments):
        group = adjustments[i].group
        elements: list[Element] = ["CAS", group]
        n = 0
        while i < len(adjustments) and adjustments[i].group == group and n < 6:
            a = adjustments[i]
            elements += [a.reason, a.amount, a.quantity]
            i += 1
            n += 1
        yield tuple(elements)


def _procedure_composite(p: Procedure) -> tuple[str, ...]:
    mods = list(p.modifiers[:4])
    if p.description:
        mods += [""] * (4 - len(mods)) + [p.description]
    return (p.qualifier, p.code, *mods)


def _party_segments(p: Party) -> list[tuple[Element, ...]]:
    out: list[tuple[Element, ...]] = [("N1", p.entity, p.name, p.id_qualifier, p.id)]
    if p.address:
        out.append(("N3", *p.address[:2]))
    if p.city or p.state or p.postal_code or p.country:
        out.append(("N4", p.city, p.state, p.postal_code, p.country))
    out += [("REF", r.qualifier, r.value) for r in p.references]
    if p.delivery:
        out.append(("RDM", *p.delivery))
    for c in p.contacts:
        comm: list[Element] = []
        for q, v in c.communications:
            comm += [q, v]
        out.append(("PER", c.function, c.name, *comm))
    return out


def _transaction_segments(rem: Remittance835) -> list[tuple[Element, ...]]:
    out: list[tuple[Element, ...]] = []
    add = out.append
    bank: list[Element] = [*rem.bank_details, *[""] * (10 - len(rem.bank_details))]
    add(
        (
            "BPR",
            rem.handling,
            rem.total_paid,
            rem.credit_debit,
            rem.payment_method,
            rem.payment_format,
            *bank,
            rem.payment_date,
        )
    )
    t = rem.trace
    add(("TRN", t.trace_type, t.number, t.originator_id, t.originator_supplemental))
    if rem.currency:
        add(("CUR", "PR", rem.currency))
    out += [("REF", r.qualifier, r.value) for r in rem.references]
    out += [("DTM", d.qualifier, d.date) for d in rem.dates]
    out += _party_segments(rem.payer)
    out += _party_segments(rem.payee)
    summaries = {s.number: s for s in rem.summaries}
    current: str | None = None
    for claim in rem.claims:
        if claim.header_number is not None and claim.header_number != current:
            current = claim.header_number
            add(("LX", current))
            s = summaries.get(current)
            if s is not None and s.ts3 is not None:
                add(("TS3", *s.ts3))
            if s is not None and s.ts2 is not None:
                add(("TS2", *s.ts2))
        out += _claim_segments(claim)
    plb = rem.provider_adjustments
    i = 0
    while i < len(plb):
        first = plb[i]
        elements: list[Element] = ["PLB", first.provider_id, first.fiscal_period_end]
        n = 0
        while (
            i < len(plb)
            and n < 6
            and plb[i].provider_id == first.provider_id
            and plb[i].fiscal_period_end == first.fiscal_period_end
        ):
            p = plb[i]
            elements += [(p.reason, p.reference), p.amount]
            i += 1
            n += 1
        add(tuple(elements))
    return out


def _claim_segments(c: ClaimPayment) -> list[tuple[Element, ...]]:
    out: list[tuple[Element, ...]] = [
        (
            "CLP",
            c.patient_control_number,
            c.status,
            c.charge,
            c.paid,
            c.patient_responsibility,
            c.filing_indicator,
            c.payer_claim_control_number,
            c.facility_type,
            c.frequency,
            None,
            c.drg_code,
            c.drg_weight,
            c.discharge_fraction,
        )
    ]
    out += _cas_segments(c.adjustments)
    out += [
        (
            "NM1",
            n.entity,
            n.entity_type,
            n.last_or_organization,
            n.first,
            n.middle,
            None,
            n.suffix,
            n.id_qualifier,
            n.id,
        )
        for n in c.names
    ]
    if c.inpatient is not None:
        out.append(("MIA", *c.inpatient.values))
    if c.outpatient is not None:
        out.append(("MOA", *c.outpatient.values))
    out += [("REF", r.qualifier, r.value) for r in c.references]
    out += [("DTM", d.qualifier, d.date) for d in c.dates]
    for ct in c.contacts:
        comm: list[Element] = []
        for q, v in ct.communications:
            comm += [q, v]
        out.append(("PER", ct.function, ct.name, *comm))
    out += [("AMT", a.qualifier, a.amount) for a in c.amounts]
    out += [("QTY", q.qualifier, q.quantity) for q in c.quantities]
    for s in c.services:
        out.append(
            (
                "SVC",
                _procedure_composite(s.procedure),
                s.charge,
                s.paid,
                s.revenue_code,
                s.units,
                _procedure_composite(s.original_procedure) if s.original_procedure else None,
                s.original_units,
            )
        )
        out += [("DTM", d.qualifier, d.date) for d in s.dates]
        out += _cas_segments(s.adjustments)
        out += [("REF", r.qualifier, r.value) for r in s.references]
        out += [("AMT", a.qualifier, a.amount) for a in s.amounts]
        out += [("QTY", q.qualifier, q.quantity) for q in s.quantities]
        out += [("LQ", r.qualifier, r.code) for r in s.remarks]
    return out


def build_835(
    remittances: Iterable[Remittance835],
    envelope: InterchangeEnvelope,
    *,
    line_break: bool = False,
) -> bytes:
    """One interchange, one HP functional group, one 835 per remittance. The envelope's
    `functional_id` should be HP and its `version` 005010X221A1."""
    # ST03 is "not used" in 005010X221A1 (pyx12 flags it), so it is written only for another
    # implementation; the guide is named by GS08.
    bodies = [
        TransactionBody(
            "835",
            rem.control_number,
            _transaction_segments(rem),
            None if rem.implementation in ("", IMPLEMENTATION) else rem.implementation,
        )
        for rem in remittances
    ]
    return write_interchange(envelope, bodies, line_break=line_break)


# ---------------------------------------------------------------------------------------------
# Balancing
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Imbalance:
    """Where an 835 does not add up. `difference` is what is left over:
    service: charge - paid - adjustments; claim: charge - paid - claim and line adjustments;
    transaction: BPR02 - (sum of CLP04 - sum of PLB)."""

    level: Literal["service", "claim", "transaction"]
    difference: Decimal
    patient_control_number: str | None = None
    service_line: int | None = None  # 1-based position of the SVC in its claim


def claim_imbalances(claim: ClaimPayment) -> list[Imbalance]:
    """Service-line and claim balancing (TR3 1.10.2.1) for one claim payment."""
    out = []
    for n, s in enumerate(claim.services, start=1):
        diff = s.charge - s.paid - s.adjustment_total
        if diff:
            out.append(Imbalance("service", diff, claim.patient_control_number, n))
    diff = claim.charge - claim.paid - claim.adjustment_total
    if diff:
        out.append(Imbalance("claim", diff, claim.patient_control_number))
    return out


def balance_835(remittance: Remittance835) -> list[Imbalance]:
    """Every imbalance of one remittance: per service line, per claim, and the transaction
    (BPR02 = sum of CLP04 - sum of PLB amounts). An empty list means it balances."""
    out: list[Imbalance] = []
    paid = ZERO
    for claim in remittance.claims:
        out += claim_imbalances(claim)
        paid += claim.paid
    diff = remittance.total_paid - (paid - remittance.provider_adjustment_total)
    if diff:
        out.append(Imbalance("transaction", diff))
    return out
