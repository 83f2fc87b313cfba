"""Revenue-cycle KPIs for one practice, computed from the ledger, the claim trail, remittances and
denials. Pure queries: a Session in, a KpiReport out; nothing is written.

The window is the `period_days` calendar days (UTC) ending on `as_of`, inclusive. Each figure
is stated with its numerator and denominator so a biller can check it, and beside the industry
benchmark it is judged against:

- days in A/R: open balance at the end of `as_of` ÷ average daily charges in the window (≤ 45);
- first-pass acceptance: claims first submitted in the window whose front-end answer (999 /
  277CA) is known, accepted without ever being rejected (≥ 90 %);
- clean-claim rate: claims first scrubbed in the window that were never held (≥ 95 %);
- denial rate, by count (claims denied ÷ claims adjudicated on ERAs posted in the window) and
  by dollars (denied amount ÷ billed amount adjudicated) (≤ 5 %);
- gross collection: payments ÷ charges; net collection: payments ÷ (charges − contractual
  adjustments) (≥ 95 %); payments and adjustments net of their reversals;
- aged A/R by payer (0–30, 31–60, 61–90, 91–120, 120+ days from the date of service), patient
  balances on their own row;
- days from service to first submission (≤ 14), and the share submitted within 14 days;
- days from denial to appeal; the top denial reasons (CARC) by count and amount.

Only IDs, codes, payer names, counts and amounts appear: a report is safe to publish.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.orm import aliased
from sqlmodel import Session, col

from rcm.errors import ConfigError
from rcm.models import (
    Appeal,
    Claim,
    ClaimEvent,
    ClaimPayment,
    ClaimStatus,
    Denial,
    LedgerEntry,
    LedgerKind,
    Payer,
    Practice,
    Remittance,
    Responsible,
)
from rcm.models.types import to_money

ZERO = Decimal("0.00")
HUNDRED = Decimal(100)
AGING_BUCKETS: tuple[tuple[str, int, int | None], ...] = (
    ("0-30", 0, 30),
    ("31-60", 31, 60),
    ("61-90", 61, 90),
    ("91-120", 91, 120),
    ("120+", 121, None),
)
PATIENT_ROW = "Patient responsibility"


@dataclass(frozen=True)
class Benchmark:
    """`value` compared with `target` by `direction` ('min': at least, 'max': at most)."""

    target: Decimal
    direction: str
    text: str

    def met(self, value: Decimal | None) -> bool | None:
        if value is None:
            return None
        return value >= self.target if self.direction == "min" else value <= self.target


BENCHMARKS: dict[str, Benchmark] = {
    "days_in_ar": Benchmark(Decimal(45), "max", "≤ 45 days"),
    "first_pass_acceptance_rate": Benchmark(Decimal(90), "min", "≥ 90%"),
    "clean_claim_rate": Benchmark(Decimal(95), "min", "≥ 95%"),
    "denial_rate_count": Benchmark(Decimal(5), "max", "≤ 5%"),
    "denial_rate_dollars": Benchmark(Decimal(5), "max", "≤ 5%"),
    "net_collection_rate": Benchmark(Decimal(95), "min", "≥ 95%"),
    "days_service_to_submission": Benchmark(Decimal(14), "max", "≤ 14 days"),
}


@dataclass(frozen=True)
class Kpi:
    key: str
    label: str
    value: Decimal | None
    unit: str  # "%", "days"
    numerator: Decimal | int | None = None
    denominator: Decimal | int | None = None
    benchmark: str | None = None
    meets_benchmark: bool | None = None

    @property
    def display(self) -> str:
        if self.value is None:
            return "n/a"
        return f"{self.value}%" if self.unit == "%" else f"{self.value} {self.unit}"


@dataclass(frozen=True)
class AgingRow:
    payer: str
    buckets: dict[str, Decimal]
    total: Decimal


@dataclass(frozen=True)
class DenialReason:
    carc: str
    category: str
    count: int
    amount: Decimal


@dataclass
class KpiReport:
    practice: str
    as_of: date
    period_days: int
    window_start: date
    kpis: list[Kpi] = field(default_factory=list)
    aging: list[AgingRow] = field(default_factory=list)
    denial_reasons: list[DenialReason] = field(default_factory=list)

    def kpi(self, key: str) -> Kpi:
        for item in self.kpis:
            if item.key == key:
                return item
        raise KeyError(key)

    def table_rows(self) -> list[dict[str, str]]:
        """One row per KPI: what a table artifact or the CLI shows."""
        return [
            {
                "kpi": k.label,
                "value": k.display,
                "benchmark": k.benchmark or "—",
                "status": {True: "meets", False: "below", None: "—"}[k.meets_benchmark],
                "detail": ""
                if k.numerator is None
                else f"{_plain(k.numerator)} / {_plain(k.denominator)}",
            }
            for k in self.kpis
        ]

    def aging_rows(self) -> list[dict[str, str]]:
        rows = []
        for row in self.aging:
            rows.append(
                {"payer": row.payer, **{k: str(v) for k, v in row.buckets.items()}}
                | {"total": str(row.total)}
            )
        return rows

    def to_dict(self) -> dict[str, Any]:
        return _jsonable(asdict(self))


def _plain(value: Decimal | int | None) -> str:
    return "" if value is None else str(value)


def _jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def _pct(numerator: Decimal | int, denominator: Decimal | int) -> Decimal | None:
    if not denominator:
        return None
    return (Decimal(numerator) * HUNDRED / Decimal(denominator)).quantize(
        Decimal("0.1"), rounding=ROUND_HALF_UP
    )


def _one_decimal(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def _money(value: Any) -> Decimal:
    if value is None:
        return ZERO
    if isinstance(value, float):
        value = Decimal(repr(value))
    return to_money(Decimal(value).quantize(Decimal("0.01")))


def _as_date(value: datetime) -> date:
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC).date()


def _kpi(
    key: str,
    label: str,
    value: Decimal | None,
    unit: str,
    numerator: Decimal | int | None = None,
    denominator: Decimal | int | None = None,
) -> Kpi:
    bench = BENCHMARKS.get(key)
    return Kpi(
        key=key,
        label=label,
        value=value,
        unit=unit,
        numerator=numerator,
        denominator=denominator,
        benchmark=bench.text if bench else None,
        meets_benchmark=bench.met(value) if bench else None,
    )


def compute_kpis(
    session: Session, *, practice_id: uuid.UUID, as_of: date, period_days: int = 90
) -> KpiReport:
    """Every KPI for one practice over the `period_days` days ending on `as_of`."""
    if period_days < 1:
        raise ConfigError(f"period_days must be at least 1, got {period_days}")
    practice = session.get(Practice, practice_id)
    if practice is None:
        raise ConfigError(f"no practice with id {practice_id}")
    start = as_of - timedelta(days=period_days - 1)
    lo = datetime.combine(start, time.min, tzinfo=UTC)
    hi = datetime.combine(as_of + timedelta(days=1), time.min, tzinfo=UTC)
    q = _Queries(session, practice_id, lo, hi)

    report = KpiReport(
        practice=practice.slug, as_of=as_of, period_days=period_days, window_start=start
    )

    charges = q.ledger_net({LedgerKind.CHARGE})
    payments = -q.ledger_net({LedgerKind.PAYER_PAYMENT, LedgerKind.PATIENT_PAYMENT})
    contractual = -q.ledger_net({LedgerKind.ADJUSTMENT}, group_code="CO")
    open_ar = q.open_balance()
    daily = charges / Decimal(period_days) if charges else ZERO
    days_in_ar = _one_decimal(open_ar / daily) if daily else None
    report.kpis.append(_kpi("days_in_ar", "Days in A/R", days_in_ar, "days", open_ar, charges))

    decided, first_pass = q.first_pass()
    report.kpis.append(
        _kpi(
            "first_pass_acceptance_rate",
            "First-pass acceptance rate",
            _pct(first_pass, decided),
            "%",
            first_pass,
            decided,
        )
    )
    scrubbed, clean = q.clean_claims()
    report.kpis.append(
        _kpi("clean_claim_rate", "Clean-claim rate", _pct(clean, scrubbed), "%", clean, scrubbed)
    )

    adjudicated, billed = q.adjudicated()
    denied_claims, denied_amount = q.denied()
    report.kpis.append(
        _kpi(
            "denial_rate_count",
            "Denial rate (count)",
            _pct(denied_claims, adjudicated),
            "%",
            denied_claims,
            adjudicated,
        )
    )
    report.kpis.append(
        _kpi(
            "denial_rate_dollars",
            "Denial rate (dollars)",
            _pct(denied_amount, billed),
            "%",
            denied_amount,
            billed,
        )
    )
    report.kpis.append(
        _kpi(
            "gross_collection_rate",
            "Gross collection rate",
            _pct(payments, charges),
            "%",
            payments,
            charges,
        )
    )
    net_base = charges - contractual
    report.kpis.append(
        _kpi(
            "net_collection_rate",
            "Net collection rate",
            _pct(payments, net_base),
            "%",
            payments,
            net_base,
        )
    )

    lags = q.submission_lags()
    avg_lag = _one_decimal(Decimal(sum(lags)) / len(lags)) if lags else None
    report.kpis.append(
        _kpi(
            "days_service_to_submission",
            "Days from service to submission (average)",
            avg_lag,
            "days",
            sum(lags),
            len(lags),
        )
    )
    within = sum(1 for lag in lags if lag <= 14)
    report.kpis.append(
        _kpi(
            "submitted_within_14_days",
            "Claims submitted within 14 days of service",
            _pct(within, len(lags)),
            "%",
            within,
            len(lags),
        )
    )
    appeal_lags = q.appeal_lags()
    report.kpis.append(
        _kpi(
            "days_denial_to_appeal",
            "Days from denial to appeal (average)",
            _one_decimal(Decimal(sum(appeal_lags)) / len(appeal_lags)) if appeal_lags else None,
            "days",
            sum(appeal_lags),
            len(appeal_lags),
        )
    )
    report.aging = q.aging(as_of)
    report.denial_reasons = q.denial_reasons()
    return report


class _Queries:
    def __init__(
        self, session: Session, practice_id: uuid.UUID, lo: datetime, hi: datetime
    ) -> None:
        self.session = session
        self.practice_id = practice_id
        self.lo = lo
        self.hi = hi

    def _in_window(self, column: Any) -> Any:
        return and_(column >= self.lo, column < self.hi)

    def ledger_net(self, kinds: set[LedgerKind], *, group_code: str | None = None) -> Decimal:
        """Entries of `kinds` created in the window, plus reversals (made in the window) of
        entries of those kinds."""
        entry = LedgerEntry
        original = aliased(LedgerEntry)
        where = [
            col(entry.practice_id) == self.practice_id,
            self._in_window(col(entry.created_at)),
        ]
        direct = select(func.sum(col(entry.amount))).where(
            *where,
            col(entry.kind).in_([k.value for k in kinds]),
            *([col(entry.group_code) == group_code] if group_code else []),
        )
        reversed_ = (
            select(func.sum(col(entry.amount)))
            .join(original, col(original.id) == col(entry.reverses_entry_id))
            .where(
                *where,
                col(entry.kind) == LedgerKind.REVERSAL.value,
                col(original.kind).in_([k.value for k in kinds]),
                *([col(original.group_code) == group_code] if group_code else []),
            )
        )
        return _money(self.session.execute(direct).scalar()) + _money(
            self.session.execute(reversed_).scalar()
        )

    def open_balance(self) -> Decimal:
        total = self.session.execute(
            select(func.sum(col(LedgerEntry.amount))).where(
                col(LedgerEntry.practice_id) == self.practice_id,
                col(LedgerEntry.claim_id).is_not(None),
                col(LedgerEntry.created_at) < self.hi,
            )
        ).scalar()
        return _money(total)

    def _first_event(self, to_statuses: list[ClaimStatus]) -> Any:
        return (
            select(
                col(ClaimEvent.claim_id).label("claim_id"),
                func.min(col(ClaimEvent.created_at)).label("first_at"),
            )
            .where(
                col(ClaimEvent.practice_id) == self.practice_id,
                col(ClaimEvent.to_status).in_([s.value for s in to_statuses]),
                col(ClaimEvent.created_at) < self.hi,
            )
            .group_by(col(ClaimEvent.claim_id))
            .subquery()
        )

    def _claims_with(self, status: ClaimStatus) -> set[uuid.UUID]:
        rows = self.session.execute(
            select(col(ClaimEvent.claim_id))
            .where(
                col(ClaimEvent.practice_id) == self.practice_id,
                col(ClaimEvent.to_status) == status.value,
                col(ClaimEvent.created_at) < self.hi,
            )
            .distinct()
        ).scalars()
        return set(rows)

    def first_pass(self) -> tuple[int, int]:
        first = self._first_event([ClaimStatus.SUBMITTED])
        submitted = set(
            self.session.execute(
                select(first.c.claim_id).where(
                    first.c.first_at >= self.lo, first.c.first_at < self.hi
                )
            ).scalars()
        )
        accepted = self._claims_with(ClaimStatus.ACCEPTED) & submitted
        rejected = self._claims_with(ClaimStatus.REJECTED) & submitted
        decided = accepted | rejected
        return len(decided), len(decided - rejected)

    def clean_claims(self) -> tuple[int, int]:
        first = self._first_event([ClaimStatus.READY, ClaimStatus.HELD])
        scrubbed = set(
            self.session.execute(
                select(first.c.claim_id).where(
                    first.c.first_at >= self.lo, first.c.first_at < self.hi
                )
            ).scalars()
        )
        held = self._claims_with(ClaimStatus.HELD) & scrubbed
        return len(scrubbed), len(scrubbed - held)

    def adjudicated(self) -> tuple[int, Decimal]:
        rows = self.session.execute(
            select(col(ClaimPayment.claim_id), col(ClaimPayment.total_charge))
            .join(Remittance, col(Remittance.id) == col(ClaimPayment.remittance_id))
            .where(
                col(ClaimPayment.practice_id) == self.practice_id,
                col(ClaimPayment.claim_id).is_not(None),
                self._in_window(col(Remittance.posted_at)),
            )
        ).all()
        claims = {claim_id for claim_id, _ in rows}
        billed = sum((_money(charge) for _, charge in rows), ZERO)
        return len(claims), billed

    def denied(self) -> tuple[int, Decimal]:
        count, amount = self.session.execute(
            select(
                func.count(func.distinct(col(Denial.claim_id))), func.sum(col(Denial.amount))
            ).where(
                col(Denial.practice_id) == self.practice_id,
                self._in_window(col(Denial.created_at)),
            )
        ).one()
        return int(count or 0), _money(amount)

    def denial_reasons(self, top: int = 10) -> list[DenialReason]:
        rows = self.session.execute(
            select(
                col(Denial.carc),
                func.min(col(Denial.category)),
                func.count(),
                func.sum(col(Denial.amount)),
            )
            .where(
                col(Denial.practice_id) == self.practice_id,
                self._in_window(col(Denial.created_at)),
            )
            .group_by(col(Denial.carc))
        ).all()
        reasons = [
            DenialReason(carc=carc, category=category, count=int(count), amount=_money(amount))
            for carc, category, count, amount in rows
        ]
        reasons.sort(key=lambda r: (-r.count, -r.amount, r.carc))
        return reasons[:top]

    def submission_lags(self) -> list[int]:
        first = self._first_event([ClaimStatus.SUBMITTED])
        rows = self.session.execute(
            select(col(Claim.service_date_from), first.c.first_at)
            .join(first, first.c.claim_id == col(Claim.id))
            .where(
                col(Claim.practice_id) == self.practice_id,
                first.c.first_at >= self.lo,
                first.c.first_at < self.hi,
            )
        ).all()
        return [max(0, (_as_date(_aware(at)) - served).days) for served, at in rows]

    def appeal_lags(self) -> list[int]:
        rows = self.session.execute(
            select(col(Denial.created_at), col(Appeal.created_at), col(Appeal.submitted_at))
            .join(Denial, col(Denial.id) == col(Appeal.denial_id))
            .where(
                col(Appeal.practice_id) == self.practice_id,
                self._in_window(col(Appeal.created_at)),
            )
        ).all()
        return [
            max(0, (_as_date(_aware(submitted or created)) - _as_date(_aware(denied))).days)
            for denied, created, submitted in rows
        ]

    def aging(self, as_of: date) -> list[AgingRow]:
        rows = self.session.execute(
            select(
                col(Claim.id),
                col(Payer.name),
                col(Claim.service_date_from),
                col(LedgerEntry.responsible),
                func.sum(col(LedgerEntry.amount)),
            )
            .join(Claim, col(Claim.id) == col(LedgerEntry.claim_id))
            .join(Payer, col(Payer.id) == col(Claim.payer_id))
            .where(
                col(LedgerEntry.practice_id) == self.practice_id,
                col(LedgerEntry.created_at) < self.hi,
            )
            .group_by(
                col(Claim.id),
                col(Payer.name),
                col(Claim.service_date_from),
                col(LedgerEntry.responsible),
            )
        ).all()
        table: dict[str, dict[str, Decimal]] = defaultdict(
            lambda: {label: ZERO for label, _, _ in AGING_BUCKETS}
        )
        for _claim_id, payer_name, served, responsible, amount in rows:
            balance = _money(amount)
            if balance == ZERO:
                continue
            who = PATIENT_ROW if str(responsible) == Responsible.PATIENT.value else payer_name
            table[who][_bucket((as_of - served).days)] += balance
        result = [
            AgingRow(payer=name, buckets=buckets, total=sum(buckets.values(), ZERO))
            for name, buckets in table.items()
        ]
        result.sort(key=lambda r: (r.payer == PATIENT_ROW, -r.total, r.payer))
        return result


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _bucket(age_days: int) -> str:
    for label, low, high in AGING_BUCKETS:
        if age_days >= low and (high is None or age_days <= high):
            return label
    return AGING_BUCKETS[0][0]


__all__ = [
    "AGING_BUCKETS",
    "BENCHMARKS",
    "PATIENT_ROW",
    "AgingRow",
    "Benchmark",
    "DenialReason",
    "Kpi",
    "KpiReport",
    "compute_kpis",
]
