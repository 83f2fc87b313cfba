"""Posting an 835 to the ledger.

`post_remittance` posts one 835 transaction, all of it or none of it:

1. balance: every service line and claim (charge - paid - adjustments = 0) and the transaction
   (BPR02 = sum of CLP04 - sum of PLB); an imbalance is refused before anything is written;
2. identify the practice from the payee (NPI or TIN) and refuse a payer and trace number
   (TRN02) posted before (the unique constraint on Remittance is the last guard, also between
   two processes posting the same file at once);
3. load the practice's claims named by CLP01, their service lines, ledger entries, earlier
   claim payments and other coverages as plain rows in a few queries (no query per claim),
   build every row in memory as a tuple, and write each table with one executemany (SQLite)
   or COPY (PostgreSQL) through rcm.bulk and rcm.ledger.LedgerRows; claim status changes go
   through the state graph in bulk (rcm.claims.states.move_claims). Keys are time-ordered
   UUIDs handled as hex strings, and claim payments are processed in claim-key order, so the
   indexes take the rows in order.

Ledger conventions (rcm.ledger): charges positive, payments and adjustments negative, so a
balance is a sum. Per service line: the charge (posted here when the claim has none yet),
`payer_payment` -paid, `adjustment` -amount per CAS (CO, OA, PI, CR; denials included, the
denial queue tracks them), and for PR a `patient_responsibility` pair moving the amount from
the payer (-amount) to the patient (+amount). When the patient has a next coverage (secondary
after primary), the PR amount goes to a new secondary claim instead of the patient: -amount on
this claim, a charge of +amount (OA-23, "after prior payer") on the secondary claim. When a
claim processed as secondary or tertiary lands on a claim that already carries the prior
payer's posting, its OA-23 adjustments (the prior payer's share, already on the ledger) are
recorded but not posted again, and a patient balance left by the prior payer goes back to the
payer first. PLB amounts post to the practice-level ledger (claim_id NULL, responsible
practice): for one remittance, payer payments plus provider adjustments sum to -BPR02.
"""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    String,
    cast,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from rcm.bulk import BulkWriter, WriteBehind, as_uuid, gc_paused, new_hex_id
from rcm.claims.create import NEW_CLAIM_COLUMNS
from rcm.claims.states import ClaimMove, can_transition, prepare_moves
from rcm.denials.carc import CarcTable, load_carc_table
from rcm.errors import PostingError
from rcm.ledger import LEDGER_COLUMNS, LedgerRows, PostedEntry
from rcm.logging import logger
from rcm.models import (
    Adjustment,
    Claim,
    ClaimPayment,
    ClaimStatus,
    ClaimType,
    Coverage,
    Denial,
    DenialStatus,
    FrequencyCode,
    LedgerEntry,
    LedgerKind,
    MatchStatus,
    Payer,
    PayerResponsibility,
    Practice,
    Provider,
    ProviderAdjustment,
    Remittance,
    RemittanceStatus,
    Responsible,
    ServiceLine,
    ServicePayment,
    WorkItem,
    to_money,
    utcnow,
)
from rcm.posting.errors import (
    DuplicateRemittanceError,
    NotUnmatchedError,
    UnbalancedRemittanceError,
    UnknownPayeeError,
)
from rcm.posting.matching import match_service_lines
from rcm.posting.plb import describe_plb
from rcm.rows import HEX_KEY, as_key, hex_key, one_of, prefetched, stored_text, unindexed
from rcm.x12 import x835

ZERO = Decimal("0.00")
CENTS = Decimal("0.01")
# Keys per query: one parameter holds them all (a JSON array on SQLite, an array on
# PostgreSQL), so the chunk only bounds the size of one statement's answer.
CHUNK = 50_000
# Claim payments per write batch: the rows of one batch are written (on a thread of their own:
# rcm.bulk.WriteBehind) while the next batch is built.
BATCH = 5_000

PROCESSED = frozenset({"1", "2", "3", "19", "20", "21"})
PROCESSED_AFTER_PRIOR_PAYER = frozenset({"2", "3", "20", "21"})
FORWARDED = frozenset({"19", "20", "21"})
DENIED = "4"
REVERSAL = "22"
NOT_OUR_CLAIM = "23"
PRIOR_PAYER_REASON = "23"

NEXT_RESPONSIBILITY = {
    PayerResponsibility.PRIMARY: (PayerResponsibility.SECONDARY, 2),
    PayerResponsibility.SECONDARY: (PayerResponsibility.TERTIARY, 3),
}
CLP_PROCESSED_AS = {"1": PayerResponsibility.PRIMARY, "2": PayerResponsibility.SECONDARY}

# Secondary claims no longer in play (a corrected or void claim replaced them).
_FINAL = frozenset({ClaimStatus.REPLACED.value, ClaimStatus.VOIDED.value})

# Claim states a reversal reopens (to ACCEPTED).
REOPENABLE = frozenset(
    {
        ClaimStatus.PAID,
        ClaimStatus.PARTIAL,
        ClaimStatus.DENIED,
        ClaimStatus.APPEALED,
        ClaimStatus.CLOSED,
    }
)


# Values as stored (enums are written as their values; psycopg would write an Enum's name).
K_CHARGE = LedgerKind.CHARGE.value
K_PAYMENT = LedgerKind.PAYER_PAYMENT.value
K_ADJUSTMENT = LedgerKind.ADJUSTMENT.value
K_PATIENT = LedgerKind.PATIENT_RESPONSIBILITY.value
K_REVERSAL = LedgerKind.REVERSAL.value
K_PLB = LedgerKind.PROVIDER_ADJUSTMENT.value
R_PAYER = Responsible.PAYER.value
R_PATIENT = Responsible.PATIENT.value
R_PRACTICE = Responsible.PRACTICE.value

_STATUS = {s.value: s for s in ClaimStatus}
_RESPONSIBILITY = {r.value: r for r in PayerResponsibility}

CP_COLUMNS = (
    "id",
    "practice_id",
    "remittance_id",
    "claim_id",
    "patient_control_number",
    "status_code",
    "total_charge",
    "paid",
    "patient_responsibility",
    "payer_claim_control_number",
    "match_status",
    "remarks",
)
SP_COLUMNS = (
    "id",
    "practice_id",
    "claim_payment_id",
    "service_line_id",
    "procedure_code",
    "modifiers",
    "original_procedure_code",
    "charge",
    "paid",
    "units",
    "service_date",
    "remarks",
)
ADJ_COLUMNS = (
    "id",
    "practice_id",
    "claim_payment_id",
    "service_payment_id",
    "group_code",
    "reason_code",
    "amount",
    "quantity",
)
DENIAL_COLUMNS = (
    "id",
    "practice_id",
    "claim_id",
    "service_line_id",
    "claim_payment_id",
    "carc",
    "rarcs",
    "group_code",
    "amount",
    "category",
    "recommended_action",
    "appeal_deadline",
    "status",
    "assignee",
    "resolution",
    "created_at",
    "updated_at",
)
DENIAL_OPEN = DenialStatus.OPEN.value
WORK_ITEM_COLUMNS = (
    "id",
    "practice_id",
    "kind",
    "appointment_id",
    "claim_id",
    "detail",
    "status",
    "created_at",
    "resolved_at",
)
PLB_COLUMNS = (
    "id",
    "practice_id",
    "remittance_id",
    "provider_identifier",
    "fiscal_period_date",
    "reason_code",
    "reference",
    "amount",
)


# Plain-row reading (rcm.rows) under the short names posting's queries use.
_key = as_key
_hex = hex_key
_text = stored_text
_unindexed = unindexed


def _in(column: Any, values: Sequence[Any], postgresql: bool, type_: Any = HEX_KEY) -> Any:
    """`column IN (values)` with one parameter however many values (rcm.rows.one_of); keys
    by default."""
    return one_of(column, values, postgresql, type_)


@dataclass(slots=True)
class _ClaimRow:
    """The columns of a Claim that posting reads and changes, loaded without the ORM. Keys are
    32-digit hex strings (rcm.bulk)."""

    id: str
    encounter_id: str
    patient_id: str
    payer_id: str
    patient_control_number: str
    claim_type: str
    payer_responsibility: PayerResponsibility
    status: ClaimStatus
    total_charge: Decimal
    service_date_from: date
    service_date_to: date
    payer_claim_control_number: str | None
    # The status as read: the move is written only if the row still holds it.
    read_status: ClaimStatus = ClaimStatus.DRAFT
    steps: list[tuple[ClaimStatus, str]] = field(default_factory=list)
    dirty: bool = False


_CLAIM_COLUMNS = [
    "id",
    "encounter_id",
    "patient_id",
    "payer_id",
    "patient_control_number",
    "claim_type",
    "payer_responsibility",
    "status",
    "total_charge",
    "service_date_from",
    "service_date_to",
    "payer_claim_control_number",
]


def _claim_row(values: Sequence[Any]) -> _ClaimRow:
    (cid, enc, pat, payer, pcn, ctype, resp, status, charge, dfrom, dto, pccn) = values
    status = _STATUS[status]
    return _ClaimRow(
        cid,
        enc,
        pat,
        payer,
        pcn,
        ctype,
        _RESPONSIBILITY[resp],
        status,
        charge,
        dfrom,
        dto,
        pccn,
        status,
    )


def _claim_select() -> Any:
    keys = {"id", "encounter_id", "patient_id", "payer_id"}
    texts = {"claim_type", "payer_responsibility", "status"}
    return select(
        *(
            _hex(getattr(Claim, name))
            if name in keys
            else _text(getattr(Claim, name))
            if name in texts
            else getattr(Claim, name)
            for name in _CLAIM_COLUMNS
        )
    )


def _orm_claim_row(claim: Claim) -> _ClaimRow:
    return _claim_row(
        [
            claim.id.hex,
            claim.encounter_id.hex,
            claim.patient_id.hex,
            claim.payer_id.hex,
            claim.patient_control_number,
            ClaimType(claim.claim_type).value,
            PayerResponsibility(claim.payer_responsibility).value,
            ClaimStatus(claim.status).value,
            claim.total_charge,
            claim.service_date_from,
            claim.service_date_to,
            claim.payer_claim_control_number,
        ]
    )


class _Decimals:
    """Money read without its column type (SQLite gives a float, PostgreSQL a Decimal, a sum
    may come as text), as Decimal cents; remembered per value, since amounts repeat."""

    def __init__(self) -> None:
        self.seen: dict[Any, Decimal] = {}

    def __call__(self, value: Any) -> Decimal:
        found = self.seen.get(value)
        if found is None:
            number = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
            found = self.seen[value] = number.quantize(CENTS)
        return found


class _Dates:
    """A date read without its column type (SQLite gives ISO text), remembered per value."""

    def __init__(self) -> None:
        self.seen: dict[Any, date | None] = {None: None}

    def __call__(self, value: Any) -> date | None:
        try:
            return self.seen[value]
        except KeyError:
            found = self.seen[value] = (
                value if isinstance(value, date) else date.fromisoformat(str(value)[:10])
            )
            return found


def _modifiers(value: Any) -> list[str]:
    """A JSON list as text (or as the driver decoded it); JSON null is no modifiers."""
    if value is None or value == "[]":
        return []
    decoded = json.loads(value) if isinstance(value, str) else value
    return list(decoded or ())


@dataclass(slots=True)
class _LineRow:
    id: str
    encounter_id: str
    line_number: int
    procedure_code: str
    modifiers: list[str]
    charge: Decimal
    service_date: date | None
    revenue_code: str | None


@dataclass(frozen=True, slots=True)
class PostingResult:
    """What one posting did. Counts only: no patient data."""

    remittance_id: uuid.UUID | None
    practice_id: uuid.UUID
    trace_number: str
    total_paid: Decimal
    claim_payments: int = 0
    matched: int = 0
    unmatched: int = 0
    reversals: int = 0
    denials: int = 0
    secondary_claims: int = 0
    ledger_entries: int = 0
    provider_adjustments: int = 0
    status_changes: int = 0
    skipped_transitions: int = 0
    unmatched_claim_payment_ids: tuple[uuid.UUID, ...] = ()
    secondary_claim_ids: tuple[uuid.UUID, ...] = ()


@dataclass
class _Counts:
    claim_payments: int = 0
    matched: int = 0
    unmatched: int = 0
    reversals: int = 0
    denials: int = 0
    secondary_claims: int = 0
    ledger_entries: int = 0
    provider_adjustments: int = 0
    status_changes: int = 0
    skipped_transitions: int = 0
    unmatched_ids: list[str] = field(default_factory=list)
    secondary_ids: list[str] = field(default_factory=list)


def _chunks(values: Sequence[Any], size: int = CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def payer_identifier(remittance: x835.Remittance835) -> str:
    """TRN03 (the payer's company ID), else the payer's REF*2U, else N1*PR's ID or name."""
    if remittance.trace.originator_id:
        return remittance.trace.originator_id[:80]
    for ref in remittance.payer.references:
        if ref.qualifier == "2U" and ref.value:
            return ref.value[:80]
    return (remittance.payer.id or remittance.payer.name or "unknown")[:80]


def _payee_ids(remittance: x835.Remittance835) -> tuple[set[str], set[str]]:
    npis: set[str] = set()
    tins: set[str] = set()
    payee = remittance.payee
    if payee.id_qualifier == "XX" and payee.id:
        npis.add(payee.id)
    elif payee.id_qualifier == "FI" and payee.id:
        tins.add(payee.id.replace("-", ""))
    for ref in payee.references:
        if ref.qualifier == "TJ" and ref.value:
            tins.add(ref.value.replace("-", ""))
        elif ref.qualifier == "HPI" and ref.value:
            npis.add(ref.value)
    return npis, tins


def _payee_practices(
    session: Session, remittance: x835.Remittance835
) -> tuple[dict[uuid.UUID, Practice], str]:
    """Practices the payee names (billing NPI, a provider NPI of it, or TIN), and the payee's
    identifiers in words."""
    npis, tins = _payee_ids(remittance)
    found: dict[uuid.UUID, Practice] = {}
    if npis:
        for practice in session.scalars(
            select(Practice).where(col(Practice.billing_npi).in_(npis))
        ):
            found[practice.id] = practice
        if not found:
            practice_ids = session.scalars(
                select(col(Provider.practice_id)).where(col(Provider.npi).in_(npis))
            ).all()
            for practice_id in set(practice_ids):
                by_provider = session.get(Practice, practice_id)
                if by_provider is not None:
                    found[by_provider.id] = by_provider
    if not found and tins:
        for practice in session.scalars(select(Practice).where(col(Practice.tin).in_(tins))):
            found[practice.id] = practice
    what = (
        ", ".join([f"NPI {n}" for n in sorted(npis)] + [f"TIN {t}" for t in sorted(tins)])
        or "no payee identifier"
    )
    return found, what


def identify_practice(session: Session, remittance: x835.Remittance835) -> Practice:
    """The practice paid by this remittance: its billing NPI, a provider NPI of it, or its TIN."""
    found, what = _payee_practices(session, remittance)
    if len(found) == 1:
        return next(iter(found.values()))
    if not found:
        raise UnknownPayeeError(f"remittance payee ({what}) matches no practice")
    raise UnknownPayeeError(f"remittance payee ({what}) matches {len(found)} practices")


def check_balanced(remittance: x835.Remittance835) -> None:
    """Raise UnbalancedRemittanceError naming every line, claim and transaction difference."""
    imbalances = x835.balance_835(remittance)
    if imbalances:
        raise UnbalancedRemittanceError(imbalances, trace_number=remittance.trace.number)


def _claim_date(era: x835.ClaimPayment) -> date | None:
    for wanted in ("232", "472", "150"):
        for d in era.dates:
            if d.qualifier == wanted:
                return d.date
    return None


def _claim_remarks(era: x835.ClaimPayment) -> list[str]:
    """The RARCs of MOA/MIA, stored as ClaimPayment.remarks."""
    codes: list[str] = []
    for info in (era.outpatient, era.inpatient):
        if info is not None:
            codes += info.remark_codes
    return list(dict.fromkeys(codes))


def _service_remarks(service: x835.ServicePayment) -> list[str]:
    """The RARCs of the SVC's LQ*HE segments, stored as ServicePayment.remarks."""
    return list(dict.fromkeys(r.code for r in service.remarks if r.qualifier == "HE"))


def _remarks(claim_remarks: Sequence[str], service: x835.ServicePayment | None) -> list[str]:
    codes = _service_remarks(service) if service is not None else []
    return list(dict.fromkeys([*codes, *claim_remarks]))


class _Modifiers:
    """ServiceLine.modifiers read as text, parsed once per distinct text: almost every line
    has none or a few, and the driver would decode the JSON of every row. The lists are shared
    between lines; nothing changes them."""

    def __init__(self) -> None:
        self.seen: dict[str | None, list[str]] = {}

    def __call__(self, value: str | None) -> list[str]:
        try:
            return self.seen[value]
        except KeyError:
            found = self.seen[value] = _modifiers(value)
            return found


class _Poster:
    """Builds the rows of claim payments of one practice (ledger entries, denials, status
    moves, secondary claims), then writes them in bulk. Claims are plain rows loaded in bulk;
    status changes follow the graph and are written by rcm.claims.states.move_claims."""

    def __init__(
        self,
        session: Session,
        *,
        practice_id: uuid.UUID,
        remittance_id: str,
        source: str,
        adjudication_date: date,
        carc: CarcTable,
    ) -> None:
        self.session = session
        self.practice_uuid = practice_id
        self.practice_id = practice_id.hex
        self.remittance_id = remittance_id
        self.source = source[:255]
        self.adjudication_date = adjudication_date
        self.carc = carc
        self.now = utcnow()
        self.writer = BulkWriter(session.connection(), binary=True)
        self.counts = _Counts()
        self.ledger = LedgerRows(self.writer, practice_id=self.practice_id, created_at=self.now)
        self.denials: list[tuple[Any, ...]] = []
        self.work_items: list[tuple[Any, ...]] = []
        self.new_claims: list[dict[str, Any]] = []
        self.lines: dict[str, list[_LineRow]] = {}
        self.charged: set[tuple[str, str | None]] = set()
        self.patient_balance: dict[tuple[str, str | None], Decimal] = defaultdict(lambda: ZERO)
        self.earlier: dict[str, list[tuple[str, str, str | None, datetime | None]]] = defaultdict(
            list
        )
        self.coverages: dict[tuple[str, int], tuple[str, str]] = {}
        self.appeal_windows: dict[str, int | None] = {}
        self.next_claims: dict[tuple[str, PayerResponsibility], str] = {}
        self.claims: dict[str, _ClaimRow] = {}
        self.dirty_claims: list[_ClaimRow] = []
        self.charged_after_prior: set[str] = set()
        # What the rows may name: claims, service lines and claim payments read under this
        # practice (or made by this posting). Checked before every write (`_check_references`):
        # the foreign keys on practice_id are gone (migration 0004), so nothing written can
        # name another practice's claim, line or claim payment.
        self.known_claims: set[str] = set()
        self.known_lines: set[str] = set()
        self.known_payments: set[str] = set()
        # The claim payment, service payment and adjustment rows (`_post_claims`; None when
        # the claim payment is on file already: match_claim_payment).
        self.rows: _Rows | None = None
        # Reversals: entries of earlier claim payments by claim payment, entries already
        # reversed, claim payments reversed here, claims whose postings a reversal later in
        # this remittance may negate.
        self.entries_by_payment: dict[str, list[PostedEntry]] = defaultdict(list)
        self.reversed_entries: set[str] = set()
        self.reversed_payments: set[str] = set()
        self.reversible_claims: set[str] = set()
        self.resolved_payments: set[str] = set()
        # Every other claim of an encounter (secondary, tertiary; any status).
        self.related: dict[str, list[str]] = defaultdict(list)
        table = LedgerEntry.__table__  # type: ignore[attr-defined]
        self.money = self.writer.converter(table, "amount")
        self._is_denial: dict[tuple[str, str], bool] = {}
        denial = Denial.__table__  # type: ignore[attr-defined]
        self._rarcs = self.writer.converter(denial, "rarcs")
        self._deadline = self.writer.converter(denial, "appeal_deadline")
        self._denial_stamp = self.writer.converter(denial, "created_at")(self.now)
        self.plb_rows: list[tuple[Any, ...]] = []
        plb_table = ProviderAdjustment.__table__  # type: ignore[attr-defined]
        self._plb_date = self.writer.converter(plb_table, "fiscal_period_date")

    # -- loading ------------------------------------------------------------------------------

    def load(self, claims: Sequence[_ClaimRow], reversing: Iterable[str] = ()) -> None:
        """Read what posting `claims` needs, a few queries per CHUNK claims, as plain rows
        (rcm.rows.prefetched: the server runs the next query while these rows are read).
        `reversing`: claims a CLP02=22 of this remittance names (their earlier entries are read
        too)."""
        pid = self.practice_uuid
        self.claims.update((c.id, c) for c in claims)
        self.known_claims.update(c.id for c in claims)
        pg = self.writer.postgresql
        money = _Decimals()
        dates = _Dates()
        modifiers_of = _Modifiers()
        claim_ids = list({c.id for c in claims})
        encounter_ids = list({c.encounter_id for c in claims})
        patient_ids = list({c.patient_id for c in claims})
        payer_ids = list({c.payer_id for c in claims})
        lines = self.lines
        known_lines = self.known_lines
        charged = self.charged

        def read_lines(rows: Sequence[Any]) -> None:
            for line_id, encounter_id, number, code, modifiers, charge, day, revenue in rows:
                known_lines.add(line_id)
                line = _LineRow(
                    line_id,
                    encounter_id,
                    number,
                    code,
                    modifiers_of(modifiers),
                    money(charge),
                    dates(day),
                    revenue,
                )
                found = lines.get(encounter_id)
                if found is None:
                    lines[encounter_id] = [line]
                else:
                    found.append(line)

        def read_related(rows: Sequence[Any]) -> None:
            for encounter_id, responsibility, other_id, status in rows:
                self.related[encounter_id].append(other_id)
                self.known_claims.add(other_id)
                if status not in _FINAL:
                    self.next_claims[(encounter_id, _RESPONSIBILITY[responsibility])] = other_id

        def read_entries(rows: Sequence[Any]) -> None:
            for claim_id, line_id, kind, responsible, reason, amount in rows:
                if kind == K_CHARGE:
                    charged.add((claim_id, line_id))
                    if reason == PRIOR_PAYER_REASON:
                        self.charged_after_prior.add(claim_id)
                if responsible == R_PATIENT:
                    self.patient_balance[(claim_id, line_id)] += money(amount)

        def read_payments(rows: Sequence[Any]) -> None:
            for cp_id, claim_id, status, pccn, posted_at in rows:
                self.known_payments.add(cp_id)
                self.earlier[claim_id].append((cp_id, status, pccn, posted_at))

        def read_coverages(rows: Sequence[Any]) -> None:
            for patient_id, priority, coverage_id, payer_id in rows:
                self.coverages.setdefault((patient_id, priority), (coverage_id, payer_id))

        def read_windows(rows: Sequence[Any]) -> None:
            for payer_id, window in rows:
                self.appeal_windows[payer_id] = window

        reads: list[tuple[Any, Callable[[Sequence[Any]], None]]] = []
        for chunk in _chunks(encounter_ids):
            lines_query = (
                select(
                    _hex(ServiceLine.id),
                    _hex(ServiceLine.encounter_id),
                    col(ServiceLine.line_number),
                    col(ServiceLine.procedure_code),
                    # Text, parsed once per distinct value (_Modifiers), not by the driver.
                    cast(col(ServiceLine.modifiers), String),
                    _text(ServiceLine.charge),
                    _text(ServiceLine.service_date),
                    col(ServiceLine.revenue_code),
                )
                .where(_unindexed(col(ServiceLine.practice_id)) == pid)
                .where(_in(_key(ServiceLine.encounter_id), chunk, pg))
                .order_by(col(ServiceLine.encounter_id), col(ServiceLine.line_number))
            )
            related_query = (
                select(
                    _hex(Claim.encounter_id),
                    _text(Claim.payer_responsibility),
                    _hex(Claim.id),
                    _text(Claim.status),
                )
                .where(_unindexed(col(Claim.practice_id)) == pid)
                .where(_in(_key(Claim.encounter_id), chunk, pg))
                .where(col(Claim.payer_responsibility) != PayerResponsibility.PRIMARY)
            )
            reads += [(lines_query, read_lines), (related_query, read_related)]
        for chunk in _chunks(claim_ids):
            # Every entry of the claims, not sums per group: most claims hold only their
            # charges here, and SQLite would sort every row to group them.
            entries_query = (
                select(
                    _hex(LedgerEntry.claim_id),
                    _hex(LedgerEntry.service_line_id),
                    _text(LedgerEntry.kind),
                    _text(LedgerEntry.responsible),
                    col(LedgerEntry.reason_code),
                    _text(LedgerEntry.amount),
                )
                .where(col(LedgerEntry.practice_id) == pid)
                .where(_in(_key(LedgerEntry.claim_id), chunk, pg))
            )
            payments_query = (
                select(
                    _hex(ClaimPayment.id),
                    _hex(ClaimPayment.claim_id),
                    col(ClaimPayment.status_code),
                    col(ClaimPayment.payer_claim_control_number),
                    col(Remittance.posted_at),
                )
                .join(Remittance, col(Remittance.id) == col(ClaimPayment.remittance_id))
                .where(_unindexed(col(ClaimPayment.practice_id)) == pid)
                .where(_in(_key(ClaimPayment.claim_id), chunk, pg))
            )
            reads += [(entries_query, read_entries), (payments_query, read_payments)]
        for chunk in _chunks(patient_ids):
            coverages_query = (
                select(
                    _hex(Coverage.patient_id),
                    col(Coverage.priority),
                    _hex(Coverage.id),
                    _hex(Coverage.payer_id),
                )
                .where(_unindexed(col(Coverage.practice_id)) == pid)
                .where(_in(_key(Coverage.patient_id), chunk, pg))
                .where(col(Coverage.priority).in_([2, 3]))
                .where(col(Coverage.active).is_(True))
                .order_by(col(Coverage.patient_id), col(Coverage.priority), col(Coverage.id))
            )
            reads.append((coverages_query, read_coverages))
        windows_query = select(_hex(Payer.id), col(Payer.appeal_window_days)).where(
            _in(_key(Payer.id), payer_ids, pg)
        )
        reads.append((windows_query, read_windows))
        with prefetched(self.session.connection(), [query for query, _ in reads]) as results:
            for (_, read), rows in zip(reads, results, strict=True):
                read(rows)
        self._load_reversible({c for c in reversing if c in self.claims})

    def _load_reversible(self, claim_ids: set[str]) -> None:
        """The ledger entries a reversal may negate: every entry of the claims a CLP02=22
        names and of the next payers' claims of their encounters (a transfer of the patient
        share to a secondary claim belongs to the primary's claim payment), by claim payment;
        and which of them are reversed already."""
        self.reversible_claims = set(claim_ids)
        if not claim_ids:
            return
        wanted = set(claim_ids)
        for claim_id in claim_ids:
            wanted.update(self.related.get(self.claims[claim_id].encounter_id, ()))
        pg = self.writer.postgresql
        queries = [
            select(
                _hex(LedgerEntry.id),
                _hex(LedgerEntry.claim_id),
                _hex(LedgerEntry.service_line_id),
                _text(LedgerEntry.kind),
                col(LedgerEntry.amount),
                _text(LedgerEntry.responsible),
                col(LedgerEntry.group_code),
                col(LedgerEntry.reason_code),
                _hex(LedgerEntry.remittance_id),
                _hex(LedgerEntry.claim_payment_id),
                _hex(LedgerEntry.reverses_entry_id),
            )
            .where(col(LedgerEntry.practice_id) == self.practice_uuid)
            .where(_in(_key(LedgerEntry.claim_id), chunk, pg))
            .order_by(col(LedgerEntry.created_at), col(LedgerEntry.id))
            for chunk in _chunks(sorted(wanted))
        ]
        with prefetched(self.session.connection(), queries) as results:
            for rows in results:
                for row in rows:
                    entry = PostedEntry(*row[:10])
                    # Read under this practice: a reversal may name them.
                    if entry.claim_id is not None:
                        self.known_claims.add(entry.claim_id)
                    if entry.service_line_id is not None:
                        self.known_lines.add(entry.service_line_id)
                    if entry.claim_payment_id is not None:
                        self.known_payments.add(entry.claim_payment_id)
                    if row[10] is not None:
                        self.reversed_entries.add(row[10])
                    if entry.claim_payment_id is not None:
                        self.entries_by_payment[entry.claim_payment_id].append(entry)

        # -- building -----------------------------------------------------------------------------

    def _entry(
        self,
        claim_id: str | None,
        line_id: str | None,
        kind: str,
        amount: Decimal,
        responsible: str,
        claim_payment_id: str | None,
        group: str | None = None,
        reason: str | None = None,
        memo: str | None = None,
    ) -> None:
        if not amount:
            return
        self.ledger.add(
            claim_id,
            line_id,
            kind,
            amount,
            responsible,
            self.remittance_id,
            claim_payment_id,
            group,
            reason,
            memo,
        )
        if responsible == R_PATIENT and claim_id is not None:
            self.patient_balance[(claim_id, line_id)] += amount

    def _ensure_charges(self, claim: _ClaimRow) -> None:
        if claim.id in self.charged_after_prior:
            # Its charges are the prior payer's patient share, line by line; a line the prior
            # payer settled owes this payer nothing.
            return
        lines = self.lines.get(claim.encounter_id)
        charged = self.charged
        if not lines:
            if (claim.id, None) not in charged:
                charged.add((claim.id, None))
                self._entry(claim.id, None, K_CHARGE, claim.total_charge, R_PAYER, None)
            return
        for line in lines:
            if (claim.id, line.id) not in charged:
                charged.add((claim.id, line.id))
                self._entry(claim.id, line.id, K_CHARGE, line.charge, R_PAYER, None)

    def move(self, claim: _ClaimRow, to_status: ClaimStatus, reason: str) -> None:
        """Move a claim along the state graph, through ACCEPTED when the 835 arrives before the
        277CA (SUBMITTED) or re-adjudicates a claim already decided. A move the graph cannot make
        is counted and skipped: the money is posted regardless. The steps are written with the
        others by `write` (rcm.claims.states.move_claims)."""
        current = claim.status
        if current is to_status:
            return
        if can_transition(current, to_status):
            claim.steps.append((to_status, reason))
            self.counts.status_changes += 1
        elif (
            to_status is not ClaimStatus.ACCEPTED
            and can_transition(current, ClaimStatus.ACCEPTED)
            and can_transition(ClaimStatus.ACCEPTED, to_status)
        ):
            claim.steps.append((ClaimStatus.ACCEPTED, "835 received: claim was accepted"))
            claim.steps.append((to_status, reason))
            self.counts.status_changes += 2
        else:
            self.counts.skipped_transitions += 1
            return
        claim.status = to_status
        self._touch(claim)

    def _touch(self, claim: _ClaimRow) -> None:
        if not claim.dirty:
            claim.dirty = True
            self.dirty_claims.append(claim)

    def _denial_of(self, group: str, reason: str) -> bool:
        key = (group, reason)
        found = self._is_denial.get(key)
        if found is None:
            found = self._is_denial[key] = self.carc.is_denial(group, reason)
        return found

    def post_claim(
        self,
        era: x835.ClaimPayment,
        claim: _ClaimRow,
        claim_payment_id: str,
        line_ids: Sequence[str | None],
        claim_remarks: Sequence[str] | None = None,
    ) -> None:
        """Post one matched CLP. `claim_remarks` are the claim-level RARCs when `era` was
        rebuilt from stored rows (they are not in its MOA/MIA then); else read from `era`."""
        status = era.status
        if status == REVERSAL:
            self._reverse(era, claim, claim_payment_id, line_ids)
            return
        if status not in PROCESSED and status != DENIED:
            if status == NOT_OUR_CLAIM:
                self._work_item(
                    claim,
                    "claim_not_ours",
                    "835 CLP02=23: payer says it is not their claim; bill the right payer",
                )
            return
        start = len(self.ledger.rows)
        self._ensure_charges(claim)
        if era.payer_claim_control_number:
            pccn = era.payer_claim_control_number[:50]
            if pccn != claim.payer_claim_control_number:
                claim.payer_claim_control_number = pccn
                self._touch(claim)
        after_prior = status in PROCESSED_AFTER_PRIOR_PAYER and self._has_prior_payer(claim)
        next_claim = self._next_claim_for(claim, status)
        patient_by_line: dict[str | None, Decimal] = {}
        denied = False
        cp = claim_payment_id
        claim_codes: Sequence[str] | None = claim_remarks
        entry = self._entry
        returned: set[str | None] = set()
        pieces: list[
            tuple[str | None, Sequence[x835.Adjustment], Decimal, x835.ServicePayment | None]
        ] = [
            (line_id, svc.adjustments, svc.paid, svc)
            for svc, line_id in zip(era.services, line_ids, strict=True)
        ]
        claim_paid = era.paid - sum([s.paid for s in era.services], ZERO)
        pieces.append((None, era.adjustments, claim_paid, None))
        claim_id = claim.id
        for line_id, adjustments, paid, svc in pieces:
            if after_prior and line_id not in returned:
                returned.add(line_id)
                owed = self.patient_balance.get((claim_id, line_id), ZERO)
                if owed > 0:
                    memo = "patient balance returned to the payer for its adjudication"
                    entry(claim_id, line_id, K_PATIENT, -owed, R_PATIENT, cp, memo=memo)
                    entry(claim_id, line_id, K_PATIENT, owed, R_PAYER, cp, memo=memo)
            if paid:
                entry(claim_id, line_id, K_PAYMENT, -paid, R_PAYER, cp)
            for adj in adjustments:
                group, reason, amount = adj.group, adj.reason, adj.amount
                if after_prior and group == "OA" and reason == PRIOR_PAYER_REASON:
                    continue
                if group == "PR":
                    patient_by_line[line_id] = patient_by_line.get(line_id, ZERO) + amount
                else:
                    entry(claim_id, line_id, K_ADJUSTMENT, -amount, R_PAYER, cp, group, reason)
                if amount > 0 and self._denial_of(group, reason):
                    denied = True
                    if claim_codes is None:
                        claim_codes = _claim_remarks(era)
                    self._denial(claim, line_id, cp, adj, _remarks(claim_codes, svc))
        self._patient_share(claim, cp, patient_by_line, next_claim)
        if status == DENIED or (era.paid == 0 and denied):
            target, why = ClaimStatus.DENIED, "835: claim denied"
        elif denied:
            target, why = ClaimStatus.PARTIAL, "835: paid in part, some lines denied"
        else:
            target, why = ClaimStatus.PAID, "835: paid (any balance is the patient's)"
        self.move(claim, target, f"{why} (CLP02={status})")
        if claim_id in self.reversible_claims:
            # A reversal later in this remittance may negate what was just posted.
            self.entries_by_payment[cp].extend(
                e for e in self.ledger.posted(start) if e.claim_payment_id == cp
            )

    def _has_prior_payer(self, claim: _ClaimRow) -> bool:
        """True when the prior payer's share of this claim is already on the ledger: a claim
        created from a primary posting (its charge is the primary's patient share), or a claim
        the primary payer processed itself before forwarding it (crossover)."""
        if claim.id in self.charged_after_prior:
            return True
        return any(status in ("1", "19") for _, status, _, _ in self.earlier.get(claim.id, []))

    def _next_claim_for(
        self, claim: _ClaimRow, status: str
    ) -> tuple[tuple[str, str], PayerResponsibility] | None:
        processed_as = CLP_PROCESSED_AS.get(status)
        if processed_as is None or processed_as is not claim.payer_responsibility:
            return None
        nxt = NEXT_RESPONSIBILITY.get(claim.payer_responsibility)
        if nxt is None:
            return None
        responsibility, priority = nxt
        coverage = self.coverages.get((claim.patient_id, priority))
        if coverage is None:
            return None
        return coverage, responsibility

    def _patient_share(
        self,
        claim: _ClaimRow,
        cp: str,
        by_line: dict[str | None, Decimal],
        next_claim: tuple[tuple[str, str], PayerResponsibility] | None,
    ) -> None:
        if not by_line:
            return
        entry = self._entry
        if next_claim is not None and sum(by_line.values(), ZERO) > 0:
            target_id = self._secondary_claim(claim, *next_claim)
            memo = "patient share transferred to the next payer's claim"
            for line_id, amount in by_line.items():
                entry(claim.id, line_id, K_PATIENT, -amount, R_PAYER, cp, "PR", None, memo)
                entry(
                    target_id,
                    line_id,
                    K_CHARGE,
                    amount,
                    R_PAYER,
                    cp,
                    "OA",
                    PRIOR_PAYER_REASON,
                    "balance after the prior payer",
                )
                self.charged.add((target_id, line_id))
            self.charged_after_prior.add(target_id)
            return
        for line_id, amount in by_line.items():
            entry(claim.id, line_id, K_PATIENT, -amount, R_PAYER, cp, "PR")
            entry(claim.id, line_id, K_PATIENT, amount, R_PATIENT, cp, "PR")

    def _secondary_claim(
        self, claim: _ClaimRow, coverage: tuple[str, str], responsibility: PayerResponsibility
    ) -> str:
        key = (claim.encounter_id, responsibility)
        existing = self.next_claims.get(key)
        if existing is not None:
            return existing
        claim_id = new_hex_id()
        # The patient control number is chosen when written (`_name_new_claims`).
        row: dict[str, Any] = {
            "id": claim_id,
            "practice_id": self.practice_id,
            "encounter_id": claim.encounter_id,
            "patient_id": claim.patient_id,
            "coverage_id": coverage[0],
            "payer_id": coverage[1],
            "patient_control_number": claim.patient_control_number,
            "claim_type": claim.claim_type,
            "frequency_code": FrequencyCode.ORIGINAL.value,
            "payer_responsibility": responsibility.value,
            "status": ClaimStatus.DRAFT.value,
            "total_charge": claim.total_charge,
            "service_date_from": claim.service_date_from,
            "service_date_to": claim.service_date_to,
            "created_at": self.now,
            "updated_at": self.now,
        }
        self.new_claims.append(row)
        self.known_claims.add(claim_id)
        self.next_claims[key] = claim_id
        self.counts.secondary_claims += 1
        self.counts.secondary_ids.append(claim_id)
        return claim_id

    def _denial(
        self,
        claim: _ClaimRow,
        line_id: str | None,
        cp: str,
        adj: x835.Adjustment,
        rarcs: list[str],
    ) -> None:
        category, action = self.carc.classify(adj.group, adj.reason)
        window = self.appeal_windows.get(claim.payer_id)
        deadline = self.adjudication_date + timedelta(days=window) if window else None
        self.denials.append(
            (
                new_hex_id(),
                self.practice_id,
                claim.id,
                line_id,
                cp,
                adj.reason[:5],
                self._rarcs(tuple(rarcs)),
                adj.group[:2],
                self.money(adj.amount),
                category.value,
                action.value,
                self._deadline(deadline),
                DENIAL_OPEN,
                None,
                None,
                self._denial_stamp,
                self._denial_stamp,
            )
        )
        self.counts.denials += 1

    def _work_item(self, claim: _ClaimRow, kind: str, detail: str) -> None:
        self.work_items.append(
            (
                new_hex_id(),
                self.practice_id,
                kind,
                None,
                claim.id,
                detail,
                "open",
                self.now,
                None,
            )
        )

    def _reverse(
        self,
        era: x835.ClaimPayment,
        claim: _ClaimRow,
        cp: str,
        line_ids: Sequence[str | None],
    ) -> None:
        """CLP02=22: negate the earlier posting of this claim (every ledger entry of the claim
        payment it reverses, including a transfer to a secondary claim) and reopen the claim.
        The corrected claim that usually follows posts as any other."""
        self.counts.reversals += 1
        candidates = [
            (cp_id, pccn, posted_at)
            for cp_id, status, pccn, posted_at in self.earlier.get(claim.id, [])
            if status != REVERSAL
            and cp_id not in self.reversed_payments
            and not self._reversed_before(cp_id)
        ]
        same = [
            c
            for c in candidates
            if era.payer_claim_control_number and c[1] == era.payer_claim_control_number
        ]
        pool = same or candidates
        pool.sort(key=lambda c: c[2] or datetime.min.replace(tzinfo=self.now.tzinfo))
        target = pool[-1][0] if pool else None
        entries: list[PostedEntry] = []
        if target is not None:
            entries = [
                e
                for e in self.entries_by_payment.get(target, [])
                if e.kind != K_REVERSAL and e.id not in self.reversed_entries
            ]
        if target is not None and entries:
            self.reversed_payments.add(target)
            self.ledger.reverse(
                entries,
                memo=f"payer reversal (CLP02=22) in remittance {as_uuid(self.remittance_id)}",
            )
            for e in entries:
                self.reversed_entries.add(e.id)
                if e.responsible == R_PATIENT and e.claim_id is not None:
                    self.patient_balance[(e.claim_id, e.service_line_id)] -= e.amount
            self.resolved_payments.add(target)
        else:
            # Nothing of the original is on this ledger (posted before this system): post the
            # payer's negative amounts as sent, so the cash still adds up to BPR02.
            memo = "payer reversal of a payment not on this ledger"
            for svc, line_id in zip(era.services, line_ids, strict=True):
                self._entry(claim.id, line_id, K_REVERSAL, -svc.paid, R_PAYER, cp, memo=memo)
                for adj in svc.adjustments:
                    self._entry(
                        claim.id,
                        line_id,
                        K_REVERSAL,
                        -adj.amount,
                        R_PAYER,
                        cp,
                        adj.group,
                        adj.reason,
                        memo,
                    )
            claim_paid = era.paid - sum((s.paid for s in era.services), ZERO)
            self._entry(claim.id, None, K_REVERSAL, -claim_paid, R_PAYER, cp, memo=memo)
            for adj in era.adjustments:
                self._entry(
                    claim.id,
                    None,
                    K_REVERSAL,
                    -adj.amount,
                    R_PAYER,
                    cp,
                    adj.group,
                    adj.reason,
                    memo,
                )
        if claim.status in REOPENABLE:
            self.move(claim, ClaimStatus.ACCEPTED, "835: payer reversed its payment (CLP02=22)")

    def plb(self, plb: x835.ProviderAdjustment) -> None:
        """A PLB adjustment: its row and a practice-level ledger entry."""
        self.plb_rows.append(
            (
                new_hex_id(),
                self.practice_id,
                self.remittance_id,
                plb.provider_id[:50],
                self._plb_date(plb.fiscal_period_end),
                plb.reason[:2],
                plb.reference[:50] or None,
                self.money(plb.amount),
            )
        )
        self.counts.provider_adjustments += 1
        self._entry(
            None,
            None,
            K_PLB,
            plb.amount,
            R_PRACTICE,
            None,
            None,
            plb.reason[:5],
            f"PLB {plb.reason}: {describe_plb(plb.reason)}",
        )

    def _reversed_before(self, payment: str) -> bool:
        """True when every ledger entry of `payment` is already reversed (by an earlier 835):
        a later reversal is not for it, whatever its payer claim control number says."""
        entries = [e for e in self.entries_by_payment.get(payment, []) if e.kind != K_REVERSAL]
        return bool(entries) and all(e.id in self.reversed_entries for e in entries)

    # -- writing ------------------------------------------------------------------------------

    def _name_new_claims(self, new_claims: list[dict[str, Any]]) -> None:
        """Patient control numbers of the new secondary claims: the primary's + S (or T), with
        a counter when that is taken (by a claim on file or another new one)."""
        if not new_claims:
            return
        bases = sorted({row["patient_control_number"][:19] for row in new_claims})
        candidates = sorted({b + suffix for b in bases for suffix in ("S", "T")})
        taken: set[str] = set()
        pg = self.writer.postgresql
        for chunk in _chunks(candidates):
            taken.update(
                self.session.scalars(
                    select(col(Claim.patient_control_number))
                    .where(col(Claim.practice_id) == self.practice_uuid)
                    .where(_in(col(Claim.patient_control_number), chunk, pg, String))
                )
            )
        for row in new_claims:
            primary = row["patient_control_number"]
            suffix = row["payer_responsibility"]
            pcn = primary[:19] + suffix
            n = 1
            while pcn in taken:
                n += 1
                pcn = f"{primary[: 20 - len(str(n)) - 1]}{suffix}{n}"
            taken.add(pcn)
            row["patient_control_number"] = pcn

    def take_batch(self) -> Callable[[], None]:
        """The rows built since the last batch, detached (building goes on into new lists),
        checked (`_check_references`), as a job that writes them: new claims, claim payments,
        service payments, adjustments, ledger entries, denials, PLB rows, work items, in that
        order (each table's keys before the rows naming them), then the claims' status moves.
        The job uses the session's connection and nothing else of the poster's state."""
        rows = self.rows
        payments, services, adjustments = rows.take() if rows is not None else ([], [], [])
        ledger = self.ledger
        entries = ledger.rows
        ledger.rows, ledger.amounts = [], []
        new_claims, self.new_claims = self.new_claims, []
        denials, self.denials = self.denials, []
        plbs, self.plb_rows = self.plb_rows, []
        work_items, self.work_items = self.work_items, []
        moves = []
        for c in self.dirty_claims:
            moves.append(
                ClaimMove(
                    c.id,
                    self.practice_id,
                    c.read_status,
                    tuple(c.steps),
                    (c.payer_claim_control_number,),
                )
            )
            c.read_status = c.status
            c.steps = []
            c.dirty = False
        self.dirty_claims = []
        self._check_references(payments, services, adjustments, entries, denials, work_items)
        self.counts.ledger_entries += len(entries)
        w = self.writer
        session = self.session
        work_table = WorkItem.__table__  # type: ignore[attr-defined]
        stamp = w.converter(work_table, "created_at")
        # Encoded here (BulkWriter.prepare), sent by the job: the builder's thread does the
        # Python half of the COPYs while the writer's waits for the server.
        inserts = [
            w.prepare(ClaimPayment.__table__, CP_COLUMNS, payments),  # type: ignore[attr-defined]
            w.prepare(ServicePayment.__table__, SP_COLUMNS, services),  # type: ignore[attr-defined]
            w.prepare(Adjustment.__table__, ADJ_COLUMNS, adjustments),  # type: ignore[attr-defined]
            w.prepare(LedgerEntry.__table__, LEDGER_COLUMNS, entries),  # type: ignore[attr-defined]
            w.prepare(Denial.__table__, DENIAL_COLUMNS, denials),  # type: ignore[attr-defined]
            w.prepare(ProviderAdjustment.__table__, PLB_COLUMNS, plbs),  # type: ignore[attr-defined]
            w.prepare(
                work_table, WORK_ITEM_COLUMNS, [(*r[:7], stamp(r[7]), None) for r in work_items]
            ),
        ]

        move = prepare_moves(
            session,
            moves,
            source=self.source,
            at=self.now,
            columns=("payer_claim_control_number",),
        )

        def write() -> None:
            self._write_new_claims(new_claims)
            for send in inserts:
                send()
            move()

        return write

    def _write_new_claims(self, new_claims: list[dict[str, Any]]) -> None:
        if not new_claims:
            return
        self._name_new_claims(new_claims)
        w = self.writer
        claim_table = Claim.__table__  # type: ignore[attr-defined]
        converters = [w.converter(claim_table, name) for name in NEW_CLAIM_COLUMNS]
        w.insert(
            claim_table,
            NEW_CLAIM_COLUMNS,
            [
                tuple(
                    convert(row[name])
                    for name, convert in zip(NEW_CLAIM_COLUMNS, converters, strict=True)
                )
                for row in new_claims
            ],
        )

    def _check_references(
        self,
        payments: Sequence[tuple[Any, ...]],
        services: Sequence[tuple[Any, ...]],
        adjustments: Sequence[tuple[Any, ...]],
        entries: Sequence[tuple[Any, ...]],
        denials: Sequence[tuple[Any, ...]],
        work_items: Sequence[tuple[Any, ...]],
    ) -> None:
        """Refuse rows naming a claim, service line or claim payment not read under this
        practice (or made by this posting), or another practice. The database checks that
        they exist (foreign keys to claim, service_line and claim_payment); this checks whose
        they are, which the dropped practice_id foreign keys never did either."""
        pid = self.practice_id
        claims = {r[3] for r in payments} | {r[2] for r in entries}
        claims |= {r[2] for r in denials} | {r[4] for r in work_items}
        claims.discard(None)
        lines = {r[3] for r in services} | {r[3] for r in entries} | {r[3] for r in denials}
        lines.discard(None)
        new_payments = {r[0] for r in payments}
        named_payments = {r[2] for r in services} | {r[2] for r in adjustments}
        named_payments |= {r[10] for r in entries} | {r[4] for r in denials}
        named_payments.discard(None)
        self.known_payments |= new_payments
        practices = {r[1] for r in payments} | {r[1] for r in services}
        practices |= {r[1] for r in adjustments} | {r[1] for r in entries}
        practices |= {r[1] for r in denials} | {r[1] for r in work_items}
        problems = []
        if practices - {pid}:
            problems.append("rows of another practice")
        if claims - self.known_claims:
            problems.append(f"{len(claims - self.known_claims)} claims not of this practice")
        if lines - self.known_lines:
            problems.append(f"{len(lines - self.known_lines)} service lines not of this practice")
        if named_payments - self.known_payments:
            missing = len(named_payments - self.known_payments)
            problems.append(f"{missing} claim payments not of this practice")
        if problems:
            raise PostingError(
                f"posting for practice {as_uuid(pid)} refused: it would write "
                + ", ".join(problems)
            )

    def write(self) -> None:
        """Write every row built so far, in this thread, then resolve the denials of the
        claim payments reversed here."""
        self.take_batch()()
        # After the insert: a payment reversed later in this remittance has its denials here.
        self._resolve_denials()

    def _resolve_denials(self) -> None:
        """Open denials of the claim payments reversed here are resolved."""
        if not self.resolved_payments:
            return
        claims_of = defaultdict(set)
        for payment in self.resolved_payments:
            for entry in self.entries_by_payment.get(payment, []):
                if entry.claim_id is not None:
                    claims_of[payment].add(entry.claim_id)
        claim_ids = sorted({c for cs in claims_of.values() for c in cs})
        payments = sorted(self.resolved_payments)
        table = Denial.__table__  # type: ignore[attr-defined]
        for chunk in _chunks(claim_ids):
            for payment_chunk in _chunks(payments):
                self.session.execute(
                    update(table)
                    .where(_unindexed(table.c.practice_id) == self.practice_uuid)
                    .where(_key(table.c.claim_id).in_(chunk))
                    .where(_key(table.c.claim_payment_id).in_(payment_chunk))
                    .where(table.c.status.in_([DenialStatus.OPEN, DenialStatus.ASSIGNED]))
                    .values(
                        status=DenialStatus.RESOLVED,
                        resolution="payment reversed by the payer",
                        updated_at=self.now,
                    )
                )
        self.resolved_payments = set()


def _new_poster(
    session: Session,
    *,
    practice_id: uuid.UUID,
    remittance_id: str,
    source: str,
    adjudication_date: date,
    carc: CarcTable | None,
) -> _Poster:
    return _Poster(
        session,
        practice_id=practice_id,
        remittance_id=remittance_id,
        source=source,
        adjudication_date=adjudication_date,
        carc=carc or load_carc_table(),
    )


def _load_claims(
    session: Session, practice_id: uuid.UUID, pcns: Iterable[str]
) -> dict[str, _ClaimRow]:
    wanted = sorted(set(pcns))
    out: dict[str, _ClaimRow] = {}
    query = _claim_select().where(col(Claim.practice_id) == practice_id)
    pg = session.get_bind().dialect.name == "postgresql"
    queries = [
        query.where(_in(col(Claim.patient_control_number), chunk, pg, String))
        for chunk in _chunks(wanted)
    ]
    with prefetched(session.connection(), queries) as results:
        for rows in results:
            for values in rows:
                row = _claim_row(values)
                out[row.patient_control_number] = row
    return out


class _Rows:
    """The claim payment, service payment and adjustment rows of one remittance."""

    def __init__(self, writer: BulkWriter, practice_id: str, remittance_id: str) -> None:
        self.writer = writer
        self.practice_id = practice_id
        self.remittance_id = remittance_id
        self.payments: list[tuple[Any, ...]] = []
        self.services: list[tuple[Any, ...]] = []
        self.adjustments: list[tuple[Any, ...]] = []
        cp = ClaimPayment.__table__  # type: ignore[attr-defined]
        sp = ServicePayment.__table__  # type: ignore[attr-defined]
        adj = Adjustment.__table__  # type: ignore[attr-defined]
        self.money = writer.converter(cp, "paid")
        self.json = writer.converter(cp, "remarks")
        self.units = writer.converter(sp, "units")
        self.date = writer.converter(sp, "service_date")
        self.group = writer.converter(adj, "group_code")
        self.quantity = writer.converter(adj, "quantity")
        self.matched = writer.converter(cp, "match_status")(MatchStatus.MATCHED)
        self.unmatched = writer.converter(cp, "match_status")(MatchStatus.UNMATCHED)

    def add(
        self, era: x835.ClaimPayment, cp_id: str, claim_id: str | None, line_ids: Sequence[Any]
    ) -> None:
        pid = self.practice_id
        money = self.money
        self.payments.append(
            (
                cp_id,
                pid,
                self.remittance_id,
                claim_id,
                era.patient_control_number[:38],
                era.status[:2],
                money(era.charge),
                money(era.paid),
                money(era.patient_responsibility),
                era.payer_claim_control_number[:50] or None,
                self.matched if claim_id is not None else self.unmatched,
                self.json(tuple(_claim_remarks(era))),
            )
        )
        self._adjustments(era.adjustments, cp_id, None)
        for svc, line_id in zip(era.services, line_ids, strict=True):
            sp_id = new_hex_id()
            original = svc.original_procedure
            self.services.append(
                (
                    sp_id,
                    pid,
                    cp_id,
                    line_id,
                    svc.procedure.code[:48],
                    self.json(tuple(svc.procedure.modifiers)),
                    original.code[:48] if original else None,
                    money(svc.charge),
                    money(svc.paid),
                    self.units(svc.units),
                    self.date(svc.service_date),
                    self.json(tuple(_service_remarks(svc))),
                )
            )
            if svc.adjustments:
                self._adjustments(svc.adjustments, cp_id, sp_id)

    def _adjustments(
        self, adjustments: Sequence[x835.Adjustment], cp_id: str, sp_id: str | None
    ) -> None:
        pid = self.practice_id
        for a in adjustments:
            self.adjustments.append(
                (
                    new_hex_id(),
                    pid,
                    cp_id,
                    sp_id,
                    self.group(a.group),
                    a.reason[:5],
                    self.money(a.amount),
                    self.quantity(a.quantity),
                )
            )

    def take(
        self,
    ) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], list[tuple[Any, ...]]]:
        """The rows added since the last call (claim payments, service payments, adjustments)."""
        out = (self.payments, self.services, self.adjustments)
        self.payments, self.services, self.adjustments = [], [], []
        return out


def post_remittance(
    session: Session,
    remittance: x835.Remittance835,
    *,
    interchange_id: uuid.UUID,
    practice_id: uuid.UUID | None = None,
    source: str | None = None,
    carc: CarcTable | None = None,
    today: date | None = None,
) -> PostingResult:
    """Post one 835 transaction (claims loaded: `parse_835`), all of it or none of it.

    `practice_id` pins the practice (else the payee NPI or TIN finds it; a pinned practice must
    match the payee when the payee names one). `source` goes on every ClaimEvent (default: the
    interchange ID). Raises UnbalancedRemittanceError, DuplicateRemittanceError or
    UnknownPayeeError (all PostingError) with nothing written. Flushes; the caller commits.
    """
    with gc_paused():
        return _post_remittance(
            session,
            remittance,
            interchange_id=interchange_id,
            practice_id=practice_id,
            source=source,
            carc=carc,
            today=today,
        )


def _post_remittance(
    session: Session,
    remittance: x835.Remittance835,
    *,
    interchange_id: uuid.UUID,
    practice_id: uuid.UUID | None,
    source: str | None,
    carc: CarcTable | None,
    today: date | None,
) -> PostingResult:
    check_balanced(remittance)
    if practice_id is None:
        practice_id = identify_practice(session, remittance).id
    elif any(_payee_ids(remittance)):
        payees, what = _payee_practices(session, remittance)
        if practice_id not in payees:
            raise UnknownPayeeError(
                f"remittance payee ({what}) is not the practice it was posted for "
                f"({practice_id}): an 835 is posted only to the practice it pays"
            )
    trace = remittance.trace.number
    if not trace:
        raise PostingError("remittance has no TRN02 trace number")
    payer_key = payer_identifier(remittance)
    duplicate = session.scalar(
        select(col(Remittance.id))
        .where(col(Remittance.practice_id) == practice_id)
        .where(col(Remittance.payer_identifier) == payer_key)
        .where(col(Remittance.trace_number) == trace[:80])
    )
    if duplicate is not None:
        raise DuplicateRemittanceError(
            f"remittance from payer {payer_key} with trace number {trace} was posted before"
        )
    adjudication_date = remittance.payment_date or today or utcnow().date()
    remittance_uuid = uuid.UUID(new_hex_id())
    now = utcnow()
    try:
        with session.begin_nested():
            try:
                with session.begin_nested():
                    session.execute(
                        insert(Remittance.__table__),  # type: ignore[attr-defined]
                        {
                            "id": remittance_uuid,
                            "practice_id": practice_id,
                            "interchange_id": interchange_id,
                            "payer_identifier": payer_key,
                            "payer_name": remittance.payer.name or None,
                            "payee_npi": (
                                remittance.payee.id
                                if remittance.payee.id_qualifier == "XX"
                                else None
                            ),
                            "payee_tin": (
                                remittance.payee.id.replace("-", "")[:9]
                                if remittance.payee.id_qualifier == "FI"
                                else None
                            ),
                            "trace_number": trace[:80],
                            "total_paid": to_money(remittance.total_paid),
                            "payment_method": remittance.payment_method[:3],
                            "payment_date": remittance.payment_date,
                            "status": RemittanceStatus.POSTED,
                            "posted_at": now,
                        },
                    )
            except IntegrityError as exc:
                raise DuplicateRemittanceError(
                    f"remittance from payer {payer_key} with trace number {trace} was posted before"
                ) from exc
            poster = _post_claims(
                session,
                remittance,
                practice_id=practice_id,
                remittance_id=remittance_uuid.hex,
                source=source or str(interchange_id),
                adjudication_date=adjudication_date,
                carc=carc,
                now=now,
            )
    except ValueError as exc:
        # An amount in fractions of a cent (the Money type refuses it).
        raise PostingError(f"remittance {trace} cannot be posted: {exc}") from exc
    counts = poster.counts
    logger.bind(remittance_id=str(remittance_uuid), practice_id=str(practice_id)).info(
        "posted remittance {}: {} claim payments ({} unmatched), {} ledger entries",
        remittance_uuid,
        counts.claim_payments,
        counts.unmatched,
        counts.ledger_entries,
    )
    return _result(poster, remittance_uuid, practice_id, trace, to_money(remittance.total_paid))


def _post_claims(
    session: Session,
    remittance: x835.Remittance835,
    *,
    practice_id: uuid.UUID,
    remittance_id: str,
    source: str,
    adjudication_date: date,
    carc: CarcTable | None,
    now: datetime,
) -> _Poster:
    poster = _new_poster(
        session,
        practice_id=practice_id,
        remittance_id=remittance_id,
        source=source,
        adjudication_date=adjudication_date,
        carc=carc,
    )
    claims = _load_claims(
        session, practice_id, (c.patient_control_number for c in remittance.claims)
    )
    reversing = {
        claims[era.patient_control_number].id
        for era in remittance.claims
        if era.status == REVERSAL and era.patient_control_number in claims
    }
    poster.load(list(claims.values()), reversing)
    rows = poster.rows = _Rows(poster.writer, poster.practice_id, remittance_id)
    counts = poster.counts
    lines = poster.lines
    earlier = poster.earlier
    no_lines: list[_LineRow] = []
    with WriteBehind(threaded=_threaded(session)) as jobs:
        for era in _in_claim_order(remittance.claims, claims):
            if len(rows.payments) >= BATCH:
                jobs.submit(poster.take_batch())
            cp_id = new_hex_id()
            claim = claims.get(era.patient_control_number)
            counts.claim_payments += 1
            if claim is None:
                rows.add(era, cp_id, None, [None] * len(era.services))
                counts.unmatched += 1
                counts.unmatched_ids.append(cp_id)
                continue
            line_ids = match_service_lines(
                era.services,
                lines.get(claim.encounter_id, no_lines),
                claim_date=_claim_date(era) or claim.service_date_from,
            )
            rows.add(era, cp_id, claim.id, line_ids)
            counts.matched += 1
            poster.post_claim(era, claim, cp_id, line_ids)
            earlier[claim.id].append(
                (cp_id, era.status, era.payer_claim_control_number or None, now)
            )
        for plb in remittance.provider_adjustments:
            poster.plb(plb)
        jobs.submit(poster.take_batch())
    # After every insert: a payment reversed later in this remittance has its denials here.
    poster._resolve_denials()
    return poster


def _threaded(session: Session) -> bool:
    """Write behind on a thread (rcm.bulk.WriteBehind) where rcm.bulk.write_behind_pays says
    so: a batch goes to the database in statements that run without Python's GIL while the
    next batch is built, PostgreSQL's COPYs and array UPDATEs (the server checks foreign keys
    and updates indexes) or SQLite's INSERTs and UPDATEs over json_each, one per 20,000 rows,
    run by SQLite's C code on a second CPU. Not where rows would go by executemany, which
    takes the GIL back for every row, so that a writer thread only contends with the builder
    (590,000 ledger rows: 4.4 s inline, 60 s beside it), nor on a connection sqlite3 keeps to
    the thread that opened it (check_same_thread=True)."""
    from rcm.bulk import write_behind_pays

    return write_behind_pays(session.connection())


def _in_claim_order(
    eras: Sequence[x835.ClaimPayment], claims: dict[str, _ClaimRow]
) -> list[x835.ClaimPayment]:
    """The CLPs ordered by the key of the claim they pay (unmatched ones last), CLPs of one
    claim in file order (a reversal before the corrected payment that follows it). The rows
    they make are then written in key order, so the database updates each index keyed by
    claim (and looks each claim up) page after page instead of at random pages."""
    last = "g"  # after every hex key

    def key(era: x835.ClaimPayment) -> str:
        claim = claims.get(era.patient_control_number)
        return claim.id if claim is not None else last

    return sorted(eras, key=key)


def _result(
    poster: _Poster,
    remittance_id: uuid.UUID | None,
    practice_id: uuid.UUID,
    trace: str,
    total_paid: Decimal,
) -> PostingResult:
    c = poster.counts
    return PostingResult(
        remittance_id=remittance_id,
        practice_id=practice_id,
        trace_number=trace,
        total_paid=total_paid,
        claim_payments=c.claim_payments,
        matched=c.matched,
        unmatched=c.unmatched,
        reversals=c.reversals,
        denials=c.denials,
        secondary_claims=c.secondary_claims,
        ledger_entries=c.ledger_entries,
        provider_adjustments=c.provider_adjustments,
        status_changes=c.status_changes,
        skipped_transitions=c.skipped_transitions,
        unmatched_claim_payment_ids=tuple(uuid.UUID(i) for i in c.unmatched_ids),
        secondary_claim_ids=tuple(uuid.UUID(i) for i in c.secondary_ids),
    )


# -- the unmatched queue ------------------------------------------------------------------------


def unmatched_claim_payments(
    session: Session, *, practice_id: uuid.UUID | None = None
) -> list[ClaimPayment]:
    """Claim payments no claim matched, oldest remittance first."""
    query = (
        select(ClaimPayment)
        .join(Remittance, col(Remittance.id) == col(ClaimPayment.remittance_id))
        .where(col(ClaimPayment.match_status) == MatchStatus.UNMATCHED)
        .order_by(col(Remittance.posted_at), col(ClaimPayment.patient_control_number))
    )
    if practice_id is not None:
        query = query.where(col(ClaimPayment.practice_id) == practice_id)
    return list(session.scalars(query))


def _era_from_rows(
    cp: ClaimPayment, services: Sequence[ServicePayment], adjustments: Sequence[Adjustment]
) -> x835.ClaimPayment:
    by_service: dict[uuid.UUID | None, list[x835.Adjustment]] = defaultdict(list)
    for a in adjustments:
        by_service[a.service_payment_id].append(
            x835.Adjustment(str(a.group_code), a.reason_code, a.amount, a.quantity)
        )
    era = x835.ClaimPayment(
        patient_control_number=cp.patient_control_number,
        status=cp.status_code,
        charge=cp.total_charge,
        paid=cp.paid,
        patient_responsibility=cp.patient_responsibility,
        payer_claim_control_number=cp.payer_claim_control_number or "",
        adjustments=by_service[None],
    )
    for sp in services:
        era.services.append(
            x835.ServicePayment(
                procedure=x835.Procedure("HC", sp.procedure_code, list(sp.modifiers or [])),
                charge=sp.charge,
                paid=sp.paid,
                units=sp.units,
                original_procedure=(
                    x835.Procedure("HC", sp.original_procedure_code)
                    if sp.original_procedure_code
                    else None
                ),
                dates=[x835.DateValue("472", sp.service_date)] if sp.service_date else [],
                adjustments=by_service[sp.id],
                remarks=[x835.Remark("HE", code) for code in sp.remarks or []],
            )
        )
    return era


def match_claim_payment(
    session: Session,
    claim_payment_id: uuid.UUID,
    claim_id: uuid.UUID,
    *,
    source: str = "manual match",
    carc: CarcTable | None = None,
) -> PostingResult:
    """Match an unmatched claim payment to a claim of the same practice and post it, as
    post_remittance would have. Flushes; the caller commits."""
    cp = session.get(ClaimPayment, claim_payment_id)
    if cp is None:
        raise NotUnmatchedError(f"claim payment {claim_payment_id} does not exist")
    if cp.match_status != MatchStatus.UNMATCHED or cp.claim_id is not None:
        raise NotUnmatchedError(f"claim payment {claim_payment_id} is already matched")
    claim = session.get(Claim, claim_id)
    if claim is None or claim.practice_id != cp.practice_id:
        raise NotUnmatchedError(f"claim {claim_id} is not a claim of this claim payment's practice")
    remittance = session.get(Remittance, cp.remittance_id)
    assert remittance is not None
    services = list(
        session.scalars(
            select(ServicePayment)
            .where(col(ServicePayment.claim_payment_id) == cp.id)
            .order_by(col(ServicePayment.id))
        )
    )
    adjustments = list(
        session.scalars(select(Adjustment).where(col(Adjustment.claim_payment_id) == cp.id))
    )
    era = _era_from_rows(cp, services, adjustments)
    with session.begin_nested():
        poster = _new_poster(
            session,
            practice_id=cp.practice_id,
            remittance_id=remittance.id.hex,
            source=source,
            adjudication_date=remittance.payment_date or utcnow().date(),
            carc=carc,
        )
        row = _orm_claim_row(claim)
        poster.load([row], [row.id] if era.status == REVERSAL else [])
        # Checked above: the claim payment and the claim are of the same practice.
        poster.known_payments.add(cp.id.hex)
        line_ids = match_service_lines(
            era.services,
            poster.lines.get(row.encounter_id, []),
            claim_date=claim.service_date_from,
        )
        for sp, line_id in zip(services, line_ids, strict=True):
            sp.service_line_id = as_uuid(line_id) if line_id is not None else None
            session.add(sp)
        cp.claim_id = claim.id
        cp.match_status = MatchStatus.MANUAL
        session.add(cp)
        session.flush()
        poster.counts.claim_payments = poster.counts.matched = 1
        poster.post_claim(era, row, cp.id.hex, line_ids, claim_remarks=cp.remarks or [])
        poster.write()
    return _result(
        poster, remittance.id, cp.practice_id, remittance.trace_number, remittance.total_paid
    )
