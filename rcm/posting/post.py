"""Posting an 835 to the ledger.

`post_remittance` posts one 835 transaction, all of it or none of it:

1. balance: every service line and claim (charge - paid - adjustments = 0) and the transaction
   (BPR02 = sum of CLP04 - sum of PLB); an imbalance is refused before anything is written;
2. identify the practice from the payee (NPI or TIN) and refuse a payer and trace number
   (TRN02) posted before (the unique constraint on Remittance is the last guard, also between
   two processes posting the same file at once);
3. load the practice's claims named by CLP01, their service lines, ledger sums, earlier claim
   payments and other coverages in a few queries, build every row in memory and insert them in
   bulk (no query per claim).

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

import os
import uuid
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, SQLModel, col

from rcm.claims.states import can_transition
from rcm.denials.carc import CarcTable, load_carc_table
from rcm.errors import PostingError
from rcm.ledger import reverse_entries
from rcm.logging import logger
from rcm.models import (
    Adjustment,
    Claim,
    ClaimEvent,
    ClaimPayment,
    ClaimStatus,
    Coverage,
    Denial,
    DenialStatus,
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
from rcm.x12 import x835

ZERO = Decimal("0.00")
CHUNK = 2000

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


@dataclass(slots=True)
class _ClaimRow:
    """The columns of a Claim that posting reads and changes, loaded without the ORM."""

    id: uuid.UUID
    practice_id: uuid.UUID
    encounter_id: uuid.UUID
    patient_id: uuid.UUID
    payer_id: uuid.UUID
    patient_control_number: str
    claim_type: Any
    payer_responsibility: PayerResponsibility
    status: ClaimStatus
    total_charge: Decimal
    service_date_from: date
    service_date_to: date
    payer_claim_control_number: str | None
    dirty: bool = False


_CLAIM_COLUMNS = [name for name in _ClaimRow.__dataclass_fields__ if name != "dirty"]


def _claim_row(claim: Claim) -> _ClaimRow:
    return _ClaimRow(*(getattr(claim, name) for name in _CLAIM_COLUMNS))


@dataclass(slots=True)
class _LineRow:
    id: uuid.UUID
    encounter_id: uuid.UUID
    line_number: int
    procedure_code: str
    modifiers: list[str]
    charge: Decimal
    service_date: date | None
    revenue_code: str | None


_LINE_COLUMNS = list(_LineRow.__dataclass_fields__)


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
    unmatched_ids: list[uuid.UUID] = field(default_factory=list)
    secondary_ids: list[uuid.UUID] = field(default_factory=list)


_new_uuid = object.__new__
_set_slot = object.__setattr__


def _new_ids(count: int) -> Iterator[uuid.UUID]:
    """Random (version 4) UUIDs from one read of the OS random source; uuid.uuid4() reads it
    once per ID, which dominates building the rows of a large ERA."""
    data = os.urandom(16 * count)
    for start in range(0, 16 * count, 16):
        value = int.from_bytes(data[start : start + 16], "big")
        value = (value & ~(0xC000 << 48) | (0x8000 << 48)) & ~(0xF000 << 64) | (4 << 76)
        # UUID.__init__ re-validates what was just built here; setting its two slots directly
        # makes the same immutable object at a fraction of the cost.
        made = _new_uuid(uuid.UUID)
        _set_slot(made, "int", value)
        _set_slot(made, "is_safe", uuid.SafeUUID.unknown)
        yield made


class _IdPool:
    def __init__(self) -> None:
        self._ids: Iterator[uuid.UUID] = iter(())

    def __call__(self) -> uuid.UUID:
        for value in self._ids:
            return value
        self._ids = _new_ids(4096)
        return next(self._ids)


new_row_id = _IdPool()


def _chunks(values: Sequence[Any], size: int = CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


_INSERTS: dict[tuple[str, str], tuple[str, list[str], list[Any]]] = {}
_UNSET = object()


def _bulk_insert(session: Session, model: type[SQLModel], rows: list[dict[str, Any]]) -> None:
    """Insert rows (dicts holding every column) with one executemany per chunk. Values go
    through each column type's own bind processor, so they are stored exactly as an ORM insert
    would store them; skipping SQLAlchemy's per-row statement machinery is what makes posting
    a large ERA fast."""
    if not rows:
        return
    table = model.__table__  # type: ignore[attr-defined]
    connection = session.connection()
    dialect = connection.dialect
    key = (table.name, dialect.name)
    cached = _INSERTS.get(key)
    if cached is None:
        names = list(table.c.keys())
        processors = [table.c[n].type.dialect_impl(dialect).bind_processor(dialect) for n in names]
        cached = _INSERTS[key] = (str(insert(table).compile(dialect=dialect)), names, processors)
    sql, names, processors = cached
    columns: list[list[Any]] = []
    for name, process in zip(names, processors, strict=True):
        values = [row.get(name) for row in rows]
        if process is not None:
            # Rows of one ERA repeat the same objects (practice, remittance, timestamp, enum
            # members, a claim's ID on each of its entries): convert each distinct one once.
            last_in: Any = _UNSET
            last_out: Any = None
            for i, value in enumerate(values):
                if value is None:
                    continue
                if value is not last_in:
                    last_in, last_out = value, process(value)
                values[i] = last_out
        columns.append(values)
    if dialect.name == "postgresql":
        _copy_rows(connection, table, names, columns)
        return
    params: list[Any]
    if dialect.paramstyle == "qmark":
        params = list(zip(*columns, strict=True))
    else:
        params = [dict(zip(names, values, strict=True)) for values in zip(*columns, strict=True)]
    for start in range(0, len(params), 5000):
        connection.exec_driver_sql(sql, params[start : start + 5000])


def _copy_rows(connection: Any, table: Any, names: list[str], columns: list[list[Any]]) -> None:
    """PostgreSQL: COPY is an order of magnitude faster than row-by-row INSERTs."""
    driver = connection.connection.dbapi_connection
    quoted = ", ".join(f'"{name}"' for name in names)
    with (
        driver.cursor() as cursor,
        cursor.copy(f'COPY "{table.name}" ({quoted}) FROM STDIN') as copy,
    ):
        for row in zip(*columns, strict=True):
            copy.write_row(row)


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


class _Poster:
    """Builds the ledger entries, denials, claim events and secondary claims for claim payments
    of one practice, then writes them in bulk. Claims are ORM objects loaded by the caller;
    their status changes go through the state graph (can_transition) and write ClaimEvents."""

    def __init__(
        self,
        session: Session,
        *,
        practice_id: uuid.UUID,
        remittance_id: uuid.UUID,
        source: str,
        adjudication_date: date,
        carc: CarcTable,
    ) -> None:
        self.session = session
        self.practice_id = practice_id
        self.remittance_id = remittance_id
        self.source = source[:255]
        self.adjudication_date = adjudication_date
        self.carc = carc
        self.now = utcnow()
        self.counts = _Counts()
        self.ledger: list[dict[str, Any]] = []
        self.denials: list[dict[str, Any]] = []
        self.events: list[dict[str, Any]] = []
        self.work_items: list[dict[str, Any]] = []
        self.new_claims: list[dict[str, Any]] = []
        self.lines: dict[uuid.UUID, list[_LineRow]] = {}
        self.charged: set[tuple[uuid.UUID, uuid.UUID | None]] = set()
        self.patient_balance: dict[tuple[uuid.UUID, uuid.UUID | None], Decimal] = defaultdict(
            lambda: ZERO
        )
        self.earlier: dict[uuid.UUID, list[tuple[uuid.UUID, str, str | None, datetime | None]]] = (
            defaultdict(list)
        )
        self.coverages: dict[tuple[uuid.UUID, int], Coverage] = {}
        self.appeal_windows: dict[uuid.UUID, int] = {}
        self.next_claims: dict[tuple[uuid.UUID, PayerResponsibility], uuid.UUID] = {}
        self.claims: dict[uuid.UUID, _ClaimRow] = {}
        self.taken_pcns: set[str] = set()
        self.charged_after_prior: set[uuid.UUID] = set()
        self.reversed_payments: set[uuid.UUID] = set()

    # -- loading ------------------------------------------------------------------------------

    def load(self, claims: Sequence[_ClaimRow]) -> None:
        pid = self.practice_id
        self.claims.update((c.id, c) for c in claims)
        s = self.session
        claim_ids = list({c.id for c in claims})
        encounter_ids = list({c.encounter_id for c in claims})
        patient_ids = list({c.patient_id for c in claims})
        payer_ids = list({c.payer_id for c in claims})
        for chunk in _chunks(encounter_ids):
            for values in s.execute(
                select(*(getattr(ServiceLine, name) for name in _LINE_COLUMNS))
                .where(col(ServiceLine.practice_id) == pid)
                .where(col(ServiceLine.encounter_id).in_(chunk))
                .order_by(col(ServiceLine.encounter_id), col(ServiceLine.line_number))
            ):
                line = _LineRow(*values)
                self.lines.setdefault(line.encounter_id, []).append(line)
            for other in s.execute(
                select(col(Claim.encounter_id), col(Claim.payer_responsibility), col(Claim.id))
                .where(col(Claim.practice_id) == pid)
                .where(col(Claim.encounter_id).in_(chunk))
                .where(col(Claim.payer_responsibility) != PayerResponsibility.PRIMARY)
                .where(col(Claim.status).not_in([ClaimStatus.REPLACED, ClaimStatus.VOIDED]))
            ):
                self.next_claims[(other[0], other[1])] = other[2]
        for chunk in _chunks(claim_ids):
            rows = s.execute(
                select(
                    col(LedgerEntry.claim_id),
                    col(LedgerEntry.service_line_id),
                    col(LedgerEntry.kind),
                    col(LedgerEntry.responsible),
                    col(LedgerEntry.reason_code),
                    func.sum(col(LedgerEntry.amount)),
                )
                .where(col(LedgerEntry.practice_id) == pid)
                .where(col(LedgerEntry.claim_id).in_(chunk))
                .group_by(
                    col(LedgerEntry.claim_id),
                    col(LedgerEntry.service_line_id),
                    col(LedgerEntry.kind),
                    col(LedgerEntry.responsible),
                    col(LedgerEntry.reason_code),
                )
            ).all()
            for claim_id, line_id, kind, responsible, reason, total in rows:
                if kind == LedgerKind.CHARGE:
                    self.charged.add((claim_id, line_id))
                    if reason == PRIOR_PAYER_REASON:
                        self.charged_after_prior.add(claim_id)
                if responsible == Responsible.PATIENT and total:
                    self.patient_balance[(claim_id, line_id)] += to_money(total)
            for cp_id, claim_id, status, pccn, posted_at in s.execute(
                select(
                    col(ClaimPayment.id),
                    col(ClaimPayment.claim_id),
                    col(ClaimPayment.status_code),
                    col(ClaimPayment.payer_claim_control_number),
                    col(Remittance.posted_at),
                )
                .join(Remittance, col(Remittance.id) == col(ClaimPayment.remittance_id))
                .where(col(ClaimPayment.practice_id) == pid)
                .where(col(ClaimPayment.claim_id).in_(chunk))
            ):
                self.earlier[claim_id].append((cp_id, status, pccn, posted_at))
        for chunk in _chunks(patient_ids):
            for coverage in s.scalars(
                select(Coverage)
                .where(col(Coverage.practice_id) == pid)
                .where(col(Coverage.patient_id).in_(chunk))
                .where(col(Coverage.priority).in_([2, 3]))
                .where(col(Coverage.active).is_(True))
            ):
                self.coverages.setdefault((coverage.patient_id, coverage.priority), coverage)
        for payer_id, window in s.execute(
            select(col(Payer.id), col(Payer.appeal_window_days)).where(col(Payer.id).in_(payer_ids))
        ):
            self.appeal_windows[payer_id] = window

    # -- building -----------------------------------------------------------------------------

    def _entry(
        self,
        claim_id: uuid.UUID | None,
        line_id: uuid.UUID | None,
        kind: LedgerKind,
        amount: Decimal,
        responsible: Responsible,
        claim_payment_id: uuid.UUID | None,
        group: str | None = None,
        reason: str | None = None,
        memo: str | None = None,
    ) -> None:
        if not amount:
            return
        self.ledger.append(
            {
                "id": new_row_id(),
                "practice_id": self.practice_id,
                "claim_id": claim_id,
                "service_line_id": line_id,
                "kind": kind,
                "amount": amount,
                "responsible": responsible,
                "group_code": group,
                "reason_code": reason,
                "remittance_id": self.remittance_id,
                "claim_payment_id": claim_payment_id,
                "reverses_entry_id": None,
                "memo": memo,
                "created_at": self.now,
            }
        )
        if responsible is Responsible.PATIENT and claim_id is not None:
            self.patient_balance[(claim_id, line_id)] += amount

    def _ensure_charges(self, claim: _ClaimRow) -> None:
        if claim.id in self.charged_after_prior:
            # Its charges are the prior payer's patient share, line by line; a line the prior
            # payer settled owes this payer nothing.
            return
        lines = self.lines.get(claim.encounter_id, [])
        if not lines:
            if (claim.id, None) not in self.charged:
                self.charged.add((claim.id, None))
                self._entry(
                    claim.id, None, LedgerKind.CHARGE, claim.total_charge, Responsible.PAYER, None
                )
            return
        for line in lines:
            if (claim.id, line.id) not in self.charged:
                self.charged.add((claim.id, line.id))
                self._entry(
                    claim.id, line.id, LedgerKind.CHARGE, line.charge, Responsible.PAYER, None
                )

    def move(self, claim: _ClaimRow, to_status: ClaimStatus, reason: str) -> None:
        """Move a claim along the state graph, through ACCEPTED when the 835 arrives before the
        277CA (SUBMITTED) or re-adjudicates a claim already decided. A move the graph cannot make
        is counted and skipped: the money is posted regardless."""
        current = ClaimStatus(claim.status)
        if current is to_status:
            return
        if can_transition(current, to_status):
            path = [to_status]
        elif (
            to_status is not ClaimStatus.ACCEPTED
            and can_transition(current, ClaimStatus.ACCEPTED)
            and can_transition(ClaimStatus.ACCEPTED, to_status)
        ):
            path = [ClaimStatus.ACCEPTED, to_status]
        else:
            self.counts.skipped_transitions += 1
            return
        for step in path:
            self.events.append(
                {
                    "id": new_row_id(),
                    "practice_id": self.practice_id,
                    "claim_id": claim.id,
                    "from_status": current,
                    "to_status": step,
                    "reason": reason if step is to_status else "835 received: claim was accepted",
                    "source": self.source,
                    "created_at": self.now,
                }
            )
            current = step
            self.counts.status_changes += 1
        claim.status = to_status
        claim.dirty = True

    def post_claim(
        self,
        era: x835.ClaimPayment,
        claim: _ClaimRow,
        claim_payment_id: uuid.UUID,
        line_ids: Sequence[uuid.UUID | None],
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
        self._ensure_charges(claim)
        if era.payer_claim_control_number:
            claim.payer_claim_control_number = era.payer_claim_control_number[:50]
            claim.dirty = True
        after_prior = status in PROCESSED_AFTER_PRIOR_PAYER and self._has_prior_payer(claim)
        next_claim = self._next_claim_for(claim, status)
        patient_by_line: dict[uuid.UUID | None, Decimal] = defaultdict(lambda: ZERO)
        denied = False
        cp = claim_payment_id
        claim_codes = _claim_remarks(era) if claim_remarks is None else list(claim_remarks)
        returned: set[uuid.UUID | None] = set()
        pieces: list[
            tuple[uuid.UUID | None, Sequence[x835.Adjustment], Decimal, x835.ServicePayment | None]
        ] = [
            (line_id, svc.adjustments, svc.paid, svc)
            for svc, line_id in zip(era.services, line_ids, strict=True)
        ]
        claim_paid = era.paid - sum((s.paid for s in era.services), ZERO)
        pieces.append((None, era.adjustments, claim_paid, None))
        for line_id, adjustments, paid, svc in pieces:
            if after_prior and line_id not in returned:
                returned.add(line_id)
                owed = self.patient_balance.get((claim.id, line_id), ZERO)
                if owed > 0:
                    memo = "patient balance returned to the payer for its adjudication"
                    self._entry(
                        claim.id,
                        line_id,
                        LedgerKind.PATIENT_RESPONSIBILITY,
                        -owed,
                        Responsible.PATIENT,
                        cp,
                        memo=memo,
                    )
                    self._entry(
                        claim.id,
                        line_id,
                        LedgerKind.PATIENT_RESPONSIBILITY,
                        owed,
                        Responsible.PAYER,
                        cp,
                        memo=memo,
                    )
            self._entry(claim.id, line_id, LedgerKind.PAYER_PAYMENT, -paid, Responsible.PAYER, cp)
            for adj in adjustments:
                group, reason, amount = adj.group, adj.reason, adj.amount
                if after_prior and group == "OA" and reason == PRIOR_PAYER_REASON:
                    continue
                if group == "PR":
                    patient_by_line[line_id] += amount
                else:
                    self._entry(
                        claim.id,
                        line_id,
                        LedgerKind.ADJUSTMENT,
                        -amount,
                        Responsible.PAYER,
                        cp,
                        group,
                        reason,
                    )
                if amount > 0 and self.carc.is_denial(group, reason):
                    denied = True
                    self._denial(claim, line_id, cp, adj, _remarks(claim_codes, svc))
        self._patient_share(claim, cp, patient_by_line, next_claim)
        if status == DENIED or (era.paid == 0 and denied):
            target, why = ClaimStatus.DENIED, "835: claim denied"
        elif denied:
            target, why = ClaimStatus.PARTIAL, "835: paid in part, some lines denied"
        else:
            target, why = ClaimStatus.PAID, "835: paid (any balance is the patient's)"
        self.move(claim, target, f"{why} (CLP02={status})")

    def _has_prior_payer(self, claim: _ClaimRow) -> bool:
        """True when the prior payer's share of this claim is already on the ledger: a claim
        created from a primary posting (its charge is the primary's patient share), or a claim
        the primary payer processed itself before forwarding it (crossover)."""
        if claim.id in self.charged_after_prior:
            return True
        return any(status in ("1", "19") for _, status, _, _ in self.earlier.get(claim.id, []))

    def _next_claim_for(
        self, claim: _ClaimRow, status: str
    ) -> tuple[Coverage, PayerResponsibility] | None:
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
        cp: uuid.UUID,
        by_line: dict[uuid.UUID | None, Decimal],
        next_claim: tuple[Coverage, PayerResponsibility] | None,
    ) -> None:
        total = sum(by_line.values(), ZERO)
        if next_claim is not None and total > 0:
            target_id = self._secondary_claim(claim, *next_claim)
            memo = "patient share transferred to the next payer's claim"
            for line_id, amount in by_line.items():
                self._entry(
                    claim.id,
                    line_id,
                    LedgerKind.PATIENT_RESPONSIBILITY,
                    -amount,
                    Responsible.PAYER,
                    cp,
                    "PR",
                    None,
                    memo,
                )
                self._entry(
                    target_id,
                    line_id,
                    LedgerKind.CHARGE,
                    amount,
                    Responsible.PAYER,
                    cp,
                    "OA",
                    PRIOR_PAYER_REASON,
                    "balance after the prior payer",
                )
                self.charged.add((target_id, line_id))
            self.charged_after_prior.add(target_id)
            return
        for line_id, amount in by_line.items():
            self._entry(
                claim.id,
                line_id,
                LedgerKind.PATIENT_RESPONSIBILITY,
                -amount,
                Responsible.PAYER,
                cp,
                "PR",
            )
            self._entry(
                claim.id,
                line_id,
                LedgerKind.PATIENT_RESPONSIBILITY,
                amount,
                Responsible.PATIENT,
                cp,
                "PR",
            )

    def _secondary_claim(
        self, claim: _ClaimRow, coverage: Coverage, responsibility: PayerResponsibility
    ) -> uuid.UUID:
        key = (claim.encounter_id, responsibility)
        existing = self.next_claims.get(key)
        if existing is not None:
            return existing
        suffix = responsibility.value
        base = claim.patient_control_number[:19]
        pcn = base + suffix
        n = 1
        while pcn in self.taken_pcns:
            n += 1
            pcn = f"{claim.patient_control_number[: 20 - len(str(n)) - 1]}{suffix}{n}"
        self.taken_pcns.add(pcn)
        claim_id = new_row_id()
        row: dict[str, Any] = {
            "id": claim_id,
            "practice_id": self.practice_id,
            "encounter_id": claim.encounter_id,
            "patient_id": claim.patient_id,
            "coverage_id": coverage.id,
            "payer_id": coverage.payer_id,
            "patient_control_number": pcn,
            "claim_type": claim.claim_type,
            "frequency_code": "1",
            "original_claim_id": None,
            "original_payer_claim_number": None,
            "payer_claim_control_number": None,
            "payer_responsibility": responsibility,
            "status": ClaimStatus.DRAFT,
            "total_charge": claim.total_charge,
            "interchange_id": None,
            "service_date_from": claim.service_date_from,
            "service_date_to": claim.service_date_to,
            "submitted_at": None,
            "created_at": self.now,
            "updated_at": self.now,
        }
        self.new_claims.append(row)
        self.next_claims[key] = claim_id
        self.counts.secondary_claims += 1
        self.counts.secondary_ids.append(claim_id)
        return claim_id

    def _denial(
        self,
        claim: _ClaimRow,
        line_id: uuid.UUID | None,
        cp: uuid.UUID,
        adj: x835.Adjustment,
        rarcs: list[str],
    ) -> None:
        category, action = self.carc.classify(adj.group, adj.reason)
        window = self.appeal_windows.get(claim.payer_id)
        deadline = self.adjudication_date + timedelta(days=window) if window else None
        self.denials.append(
            {
                "id": new_row_id(),
                "practice_id": self.practice_id,
                "claim_id": claim.id,
                "service_line_id": line_id,
                "claim_payment_id": cp,
                "carc": adj.reason[:5],
                "rarcs": rarcs,
                "group_code": adj.group[:2],
                "amount": adj.amount,
                "category": category.value,
                "recommended_action": action.value,
                "appeal_deadline": deadline,
                "status": DenialStatus.OPEN,
                "assignee": None,
                "resolution": None,
                "created_at": self.now,
                "updated_at": self.now,
            }
        )
        self.counts.denials += 1

    def _work_item(self, claim: _ClaimRow, kind: str, detail: str) -> None:
        self.work_items.append(
            {
                "id": new_row_id(),
                "practice_id": self.practice_id,
                "kind": kind,
                "appointment_id": None,
                "claim_id": claim.id,
                "detail": detail,
                "status": "open",
                "created_at": self.now,
                "resolved_at": None,
            }
        )

    def _reverse(
        self,
        era: x835.ClaimPayment,
        claim: _ClaimRow,
        cp: uuid.UUID,
        line_ids: Sequence[uuid.UUID | None],
    ) -> None:
        """CLP02=22: negate the earlier posting of this claim (every ledger entry of the claim
        payment it reverses, including a transfer to a secondary claim) and reopen the claim.
        The corrected claim that usually follows posts as any other."""
        self.counts.reversals += 1
        candidates = [
            (cp_id, pccn, posted_at)
            for cp_id, status, pccn, posted_at in self.earlier.get(claim.id, [])
            if status != REVERSAL and cp_id not in self.reversed_payments
        ]
        same = [
            c
            for c in candidates
            if era.payer_claim_control_number and c[1] == era.payer_claim_control_number
        ]
        pool = same or candidates
        pool.sort(key=lambda c: c[2] or datetime.min.replace(tzinfo=self.now.tzinfo))
        target = pool[-1][0] if pool else None
        entries: list[LedgerEntry] = []
        if target is not None:
            already = select(col(LedgerEntry.reverses_entry_id)).where(
                col(LedgerEntry.practice_id) == self.practice_id,
                col(LedgerEntry.reverses_entry_id).is_not(None),
            )
            entries = list(
                self.session.scalars(
                    select(LedgerEntry)
                    .where(col(LedgerEntry.practice_id) == self.practice_id)
                    .where(col(LedgerEntry.claim_payment_id) == target)
                    .where(col(LedgerEntry.kind) != LedgerKind.REVERSAL)
                    .where(col(LedgerEntry.id).not_in(already))
                )
            )
        if entries:
            self.reversed_payments.add(target)  # type: ignore[arg-type]
            reverse_entries(
                self.session,
                practice_id=self.practice_id,
                entries=entries,
                reason=f"payer reversal (CLP02=22) in remittance {self.remittance_id}",
            )
            self.counts.ledger_entries += len(entries)
            for entry in entries:
                if entry.responsible is Responsible.PATIENT and entry.claim_id is not None:
                    self.patient_balance[(entry.claim_id, entry.service_line_id)] -= entry.amount
            self.session.execute(
                update(Denial)
                .where(col(Denial.practice_id) == self.practice_id)
                .where(col(Denial.claim_payment_id) == target)
                .where(col(Denial.status).in_([DenialStatus.OPEN, DenialStatus.ASSIGNED]))
                .values(
                    status=DenialStatus.RESOLVED,
                    resolution="payment reversed by the payer",
                    updated_at=self.now,
                )
            )
        else:
            # Nothing of the original is on this ledger (posted before this system): post the
            # payer's negative amounts as sent, so the cash still adds up to BPR02.
            for svc, line_id in zip(era.services, line_ids, strict=True):
                self._entry(
                    claim.id,
                    line_id,
                    LedgerKind.REVERSAL,
                    -svc.paid,
                    Responsible.PAYER,
                    cp,
                    memo="payer reversal of a payment not on this ledger",
                )
                for adj in svc.adjustments:
                    self._entry(
                        claim.id,
                        line_id,
                        LedgerKind.REVERSAL,
                        -adj.amount,
                        Responsible.PAYER,
                        cp,
                        adj.group,
                        adj.reason,
                        "payer reversal of a payment not on this ledger",
                    )
            claim_paid = era.paid - sum((s.paid for s in era.services), ZERO)
            self._entry(
                claim.id,
                None,
                LedgerKind.REVERSAL,
                -claim_paid,
                Responsible.PAYER,
                cp,
                memo="payer reversal of a payment not on this ledger",
            )
            for adj in era.adjustments:
                self._entry(
                    claim.id,
                    None,
                    LedgerKind.REVERSAL,
                    -adj.amount,
                    Responsible.PAYER,
                    cp,
                    adj.group,
                    adj.reason,
                    "payer reversal of a payment not on this ledger",
                )
        if ClaimStatus(claim.status) in REOPENABLE:
            self.move(claim, ClaimStatus.ACCEPTED, "835: payer reversed its payment (CLP02=22)")

    # -- writing ------------------------------------------------------------------------------

    def write(self) -> None:
        s = self.session
        _bulk_insert(s, Claim, self.new_claims)
        _bulk_insert(s, LedgerEntry, self.ledger)
        _bulk_insert(s, Denial, self.denials)
        _bulk_insert(s, ClaimEvent, self.events)
        _bulk_insert(s, WorkItem, self.work_items)
        self.counts.ledger_entries += len(self.ledger)
        changed = [c for c in self.claims.values() if c.dirty]
        if changed:
            table = Claim.__table__  # type: ignore[attr-defined]
            s.execute(
                update(table)
                .where(table.c.id == bindparam("b_id"))
                .values(
                    status=bindparam("b_status"),
                    updated_at=bindparam("b_updated_at"),
                    payer_claim_control_number=bindparam("b_pccn"),
                ),
                [
                    {
                        "b_id": c.id,
                        "b_status": c.status,
                        "b_updated_at": self.now,
                        "b_pccn": c.payer_claim_control_number,
                    }
                    for c in changed
                ],
            )
            ids = {c.id for c in changed}
            for obj in list(s.identity_map.values()):
                if isinstance(obj, Claim) and obj.id in ids:
                    s.expire(obj)
        s.flush()


def _new_poster(
    session: Session,
    *,
    practice_id: uuid.UUID,
    remittance_id: uuid.UUID,
    source: str,
    adjudication_date: date,
    carc: CarcTable | None,
) -> _Poster:
    poster = _Poster(
        session,
        practice_id=practice_id,
        remittance_id=remittance_id,
        source=source,
        adjudication_date=adjudication_date,
        carc=carc or load_carc_table(),
    )
    return poster


def _load_claims(
    session: Session, practice_id: uuid.UUID, pcns: Iterable[str]
) -> dict[str, _ClaimRow]:
    wanted = sorted(set(pcns))
    out: dict[str, _ClaimRow] = {}
    for chunk in _chunks(wanted):
        for values in session.execute(
            select(*(getattr(Claim, name) for name in _CLAIM_COLUMNS))
            .where(col(Claim.practice_id) == practice_id)
            .where(col(Claim.patient_control_number).in_(chunk))
        ):
            row = _ClaimRow(*values)
            out[row.patient_control_number] = row
    return out


def _claim_payment_row(
    era: x835.ClaimPayment,
    *,
    cp_id: uuid.UUID,
    practice_id: uuid.UUID,
    remittance_id: uuid.UUID,
    claim: _ClaimRow | None,
) -> dict[str, Any]:
    return {
        "id": cp_id,
        "practice_id": practice_id,
        "remittance_id": remittance_id,
        "claim_id": claim.id if claim is not None else None,
        "patient_control_number": era.patient_control_number[:38],
        "status_code": era.status[:2],
        "total_charge": era.charge,
        "paid": era.paid,
        "patient_responsibility": era.patient_responsibility,
        "payer_claim_control_number": era.payer_claim_control_number[:50] or None,
        "match_status": MatchStatus.MATCHED if claim is not None else MatchStatus.UNMATCHED,
        "remarks": _claim_remarks(era),
    }


def _adjustment_rows(
    adjustments: Sequence[x835.Adjustment],
    *,
    practice_id: uuid.UUID,
    cp_id: uuid.UUID,
    sp_id: uuid.UUID | None,
) -> list[dict[str, Any]]:
    return [
        {
            "id": new_row_id(),
            "practice_id": practice_id,
            "claim_payment_id": cp_id,
            "service_payment_id": sp_id,
            "group_code": a.group,
            "reason_code": a.reason[:5],
            "amount": a.amount,
            "quantity": a.quantity,
        }
        for a in adjustments
    ]


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
    remittance_id = new_row_id()
    now = utcnow()
    try:
        with session.begin_nested():
            try:
                with session.begin_nested():
                    session.execute(
                        insert(Remittance.__table__),  # type: ignore[attr-defined]
                        {
                            "id": remittance_id,
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
            poster = _new_poster(
                session,
                practice_id=practice_id,
                remittance_id=remittance_id,
                source=source or str(interchange_id),
                adjudication_date=adjudication_date,
                carc=carc,
            )
            claims = _load_claims(
                session, practice_id, (c.patient_control_number for c in remittance.claims)
            )
            poster.load(list(claims.values()))
            poster.taken_pcns = _taken_secondary_pcns(session, practice_id, claims.values())
            cp_rows: list[dict[str, Any]] = []
            sp_rows: list[dict[str, Any]] = []
            adj_rows: list[dict[str, Any]] = []
            counts = poster.counts
            for era in remittance.claims:
                cp_id = new_row_id()
                claim = claims.get(era.patient_control_number)
                cp_rows.append(
                    _claim_payment_row(
                        era,
                        cp_id=cp_id,
                        practice_id=practice_id,
                        remittance_id=remittance_id,
                        claim=claim,
                    )
                )
                counts.claim_payments += 1
                adj_rows += _adjustment_rows(
                    era.adjustments, practice_id=practice_id, cp_id=cp_id, sp_id=None
                )
                if claim is not None:
                    line_ids = match_service_lines(
                        era.services,
                        poster.lines.get(claim.encounter_id, []),
                        claim_date=_claim_date(era) or claim.service_date_from,
                    )
                else:
                    line_ids = [None] * len(era.services)
                for svc, line_id in zip(era.services, line_ids, strict=True):
                    sp_id = new_row_id()
                    sp_rows.append(_service_payment_row(svc, sp_id, cp_id, practice_id, line_id))
                    adj_rows += _adjustment_rows(
                        svc.adjustments, practice_id=practice_id, cp_id=cp_id, sp_id=sp_id
                    )
                if claim is None:
                    counts.unmatched += 1
                    counts.unmatched_ids.append(cp_id)
                    continue
                counts.matched += 1
                poster.post_claim(era, claim, cp_id, line_ids)
                poster.earlier[claim.id].append(
                    (cp_id, era.status, era.payer_claim_control_number or None, now)
                )
            _bulk_insert(session, ClaimPayment, cp_rows)
            _bulk_insert(session, ServicePayment, sp_rows)
            _bulk_insert(session, Adjustment, adj_rows)
            plb_rows = []
            for plb in remittance.provider_adjustments:
                plb_rows.append(
                    {
                        "id": new_row_id(),
                        "practice_id": practice_id,
                        "remittance_id": remittance_id,
                        "provider_identifier": plb.provider_id[:50],
                        "fiscal_period_date": plb.fiscal_period_end,
                        "reason_code": plb.reason[:2],
                        "reference": plb.reference[:50] or None,
                        "amount": plb.amount,
                    }
                )
                poster._entry(
                    None,
                    None,
                    LedgerKind.PROVIDER_ADJUSTMENT,
                    plb.amount,
                    Responsible.PRACTICE,
                    None,
                    None,
                    plb.reason[:5],
                    f"PLB {plb.reason}: {describe_plb(plb.reason)}",
                )
            _bulk_insert(session, ProviderAdjustment, plb_rows)
            counts.provider_adjustments = len(plb_rows)
            poster.write()
    except ValueError as exc:
        # An amount in fractions of a cent (the Money type refuses it at insert).
        raise PostingError(f"remittance {trace} cannot be posted: {exc}") from exc
    logger.bind(remittance_id=str(remittance_id), practice_id=str(practice_id)).info(
        "posted remittance {}: {} claim payments ({} unmatched), {} ledger entries",
        remittance_id,
        counts.claim_payments,
        counts.unmatched,
        counts.ledger_entries,
    )
    return _result(poster, remittance_id, practice_id, trace, to_money(remittance.total_paid))


def _service_payment_row(
    svc: x835.ServicePayment,
    sp_id: uuid.UUID,
    cp_id: uuid.UUID,
    practice_id: uuid.UUID,
    line_id: uuid.UUID | None,
) -> dict[str, Any]:
    return {
        "id": sp_id,
        "practice_id": practice_id,
        "claim_payment_id": cp_id,
        "service_line_id": line_id,
        "procedure_code": svc.procedure.code[:48],
        "modifiers": list(svc.procedure.modifiers),
        "original_procedure_code": (
            svc.original_procedure.code[:48] if svc.original_procedure else None
        ),
        "charge": svc.charge,
        "paid": svc.paid,
        "units": svc.units,
        "service_date": svc.service_date,
        "remarks": _service_remarks(svc),
    }


def _taken_secondary_pcns(
    session: Session, practice_id: uuid.UUID, claims: Iterable[_ClaimRow]
) -> set[str]:
    candidates = set()
    for claim in claims:
        base = claim.patient_control_number[:19]
        candidates.update({base + "S", base + "T"})
    taken: set[str] = set()
    for chunk in _chunks(sorted(candidates)):
        taken.update(
            session.scalars(
                select(col(Claim.patient_control_number))
                .where(col(Claim.practice_id) == practice_id)
                .where(col(Claim.patient_control_number).in_(chunk))
            )
        )
    return taken


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
        unmatched_claim_payment_ids=tuple(c.unmatched_ids),
        secondary_claim_ids=tuple(c.secondary_ids),
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
            remittance_id=remittance.id,
            source=source,
            adjudication_date=remittance.payment_date or utcnow().date(),
            carc=carc,
        )
        row = _claim_row(claim)
        poster.load([row])
        poster.taken_pcns = _taken_secondary_pcns(session, cp.practice_id, [row])
        line_ids = match_service_lines(
            era.services,
            poster.lines.get(claim.encounter_id, []),
            claim_date=claim.service_date_from,
        )
        for sp, line_id in zip(services, line_ids, strict=True):
            sp.service_line_id = line_id
            session.add(sp)
        cp.claim_id = claim.id
        cp.match_status = MatchStatus.MANUAL
        session.add(cp)
        session.flush()
        poster.counts.claim_payments = poster.counts.matched = 1
        poster.post_claim(era, row, cp.id, line_ids, claim_remarks=cp.remarks or [])
        poster.write()
    return _result(
        poster, remittance.id, cp.practice_id, remittance.trace_number, remittance.total_paid
    )
