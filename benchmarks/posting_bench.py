"""ERA posting throughput: claim payments per second through post_remittance.

`run()` prints one JSON line per figure ({"name", "value", "unit", "workload", "baseline"}):

- posting_sqlite: post_remittance of one 835 with RCM_BENCH_POSTING_CLAIMS (default 100,000)
  claim payments (two service lines each, contractual and patient-responsibility CAS, a denial
  in one claim of ten) against claims seeded in a fresh migrated SQLite file as claim creation
  leaves them (ACCEPTED, a charge entry per line), commit included. Baseline: the 5,000 claim
  payments/s design target.
- posting_reversals_sqlite: then a second 835 on the same database: 5 % of those claims
  reversed (CLP02=22) and paid again (the sandbox payers' rate), claim payments per second.
- posting_file_sqlite: as posting_sqlite through post_835_file from bytes (parse, balance,
  Interchange, post, commit).
- posting_postgresql, posting_reversals_postgresql: as the SQLite ones on PostgreSQL, when
  RCM_TEST_DATABASE_URL is set or `--pg` is given (a throwaway schema, dropped afterwards).

Each figure's workload also gives the CPU seconds spent: this process's, and on a local
PostgreSQL the server backend's (read from /proc), so figures taken on a loaded machine can be
compared by CPU time as well as by wall time.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, insert
from sqlmodel import Session

TARGET = 5_000
NPI = "1234567893"
DOS = date(2026, 10, 5)
D = Decimal


def emit(
    name: str, value: float, unit: str, workload: str, baseline: float | None
) -> dict[str, Any]:
    record = {
        "name": name,
        "value": value,
        "unit": unit,
        "workload": workload,
        "baseline": baseline,
    }
    print(json.dumps(record), flush=True)
    return record


def seed(engine: Engine, count: int) -> None:
    """A practice with `count` ACCEPTED claims of two lines, each line charged on the ledger
    (rcm.claims.create writes those charge entries when it creates a claim)."""
    from rcm.models import (
        Claim,
        ClaimStatus,
        Coverage,
        Direction,
        Encounter,
        Interchange,
        InterchangeKind,
        InterchangeStatus,
        LedgerEntry,
        Patient,
        Payer,
        Practice,
        ServiceLine,
    )

    now = datetime.now(UTC)
    practice_id, payer_id = uuid.uuid4(), uuid.uuid4()
    with Session(engine) as session:
        session.add(
            Practice(
                id=practice_id,
                slug="bench",
                name="bench",
                billing_npi=NPI,
                tin="123456789",
                taxonomy_code="207Q00000X",
                address1="1 Way",
                city="X",
                state="IL",
                zip="62701",
                clearinghouse="sandbox",
                clearinghouse_account="B",
            )
        )
        session.add(Payer(id=payer_id, key="bench", name="bench", payer_id="B1"))
        session.flush()
        session.add(
            Interchange(
                id=uuid.UUID(int=1),
                practice_id=practice_id,
                clearinghouse="sandbox",
                direction=Direction.INBOUND,
                kind=InterchangeKind.REMITTANCE_835,
                sha256="0" * 64,
                status=InterchangeStatus.RECEIVED,
            )
        )
        session.flush()
        patients, coverages, encounters, lines, claims, charges = [], [], [], [], [], []
        for n in range(count):
            pat, cov, enc = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
            patients.append(
                {
                    "id": pat,
                    "practice_id": practice_id,
                    "account_number": f"A{n}",
                    "first_name": "T",
                    "last_name": "P",
                    "birth_date": date(1980, 1, 1),
                    "sex": "U",
                    "created_at": now,
                    "updated_at": now,
                }
            )
            coverages.append(
                {
                    "id": cov,
                    "practice_id": practice_id,
                    "patient_id": pat,
                    "payer_id": payer_id,
                    "priority": 1,
                    "member_id": "M",
                    "relationship": "18",
                    "eligibility_status": "unknown",
                    "active": True,
                }
            )
            encounters.append(
                {
                    "id": enc,
                    "practice_id": practice_id,
                    "external_id": f"E{n}",
                    "patient_id": pat,
                    "coverage_id": cov,
                    "payer_id": payer_id,
                    "service_date": DOS,
                    "claim_type": "professional",
                    "created_at": now,
                }
            )
            claim_id = uuid.uuid4()
            for number, (code, charge) in enumerate((("99213", D("150")), ("36415", D("20"))), 1):
                line_id = uuid.uuid4()
                charges.append(
                    {
                        "id": uuid.uuid4(),
                        "practice_id": practice_id,
                        "claim_id": claim_id,
                        "service_line_id": line_id,
                        "kind": "charge",
                        "amount": charge,
                        "responsible": "payer",
                        "created_at": now,
                    }
                )
                lines.append(
                    {
                        "id": line_id,
                        "practice_id": practice_id,
                        "encounter_id": enc,
                        "line_number": number,
                        "procedure_code": code,
                        "modifiers": [],
                        "units": D("1"),
                        "charge": charge,
                        "diagnosis_pointers": [1],
                        "service_date": DOS,
                    }
                )
            claims.append(
                {
                    "id": claim_id,
                    "practice_id": practice_id,
                    "encounter_id": enc,
                    "patient_id": pat,
                    "coverage_id": cov,
                    "payer_id": payer_id,
                    "patient_control_number": f"PCN{n:08d}",
                    "claim_type": "professional",
                    "frequency_code": "1",
                    "payer_responsibility": "P",
                    "status": ClaimStatus.ACCEPTED,
                    "total_charge": D("170"),
                    "service_date_from": DOS,
                    "service_date_to": DOS,
                    "created_at": now,
                    "updated_at": now,
                }
            )
        for model, rows in (
            (Patient, patients),
            (Coverage, coverages),
            (Encounter, encounters),
            (ServiceLine, lines),
            (Claim, claims),
            (LedgerEntry, charges),
        ):
            for start in range(0, len(rows), 5000):
                session.execute(insert(model.__table__), rows[start : start + 5000])  # type: ignore[attr-defined]
        session.commit()


def claim_payment(n: int, status: str = "1", sign: int = 1, moved: Decimal = D(0)) -> Any:
    """The CLP for claim n: 99213 paid 80 (CO-45 40, PR-2 30); 36415 paid 12 (CO-45 8), or
    denied CO-97 on every tenth claim. `sign` -1 negates it (a reversal, CLP02=22); `moved`
    goes from CO-45 to paid on the first line (a corrected payment)."""
    from rcm.x12 import x835

    def adj(group: str, reason: str, amount: Decimal) -> Any:
        return x835.Adjustment(group, reason, sign * amount)

    def svc(code: str, charge: str, paid: Decimal, *adjustments: Any) -> Any:
        return x835.ServicePayment(
            x835.Procedure("HC", code),
            sign * D(charge),
            sign * paid,
            dates=[x835.DateValue("472", DOS)],
            adjustments=list(adjustments),
        )

    first = svc(
        "99213", "150", D("80") + moved, adj("CO", "45", D("40") - moved), adj("PR", "2", D("30"))
    )
    if n % 10 == 0:
        second = svc("36415", "20", D("0"), adj("CO", "97", D("20")))
    else:
        second = svc("36415", "20", D("12"), adj("CO", "45", D("8")))
    return x835.ClaimPayment(
        f"PCN{n:08d}",
        status,
        sign * D("170"),
        first.paid + second.paid,
        sign * D("30"),
        payer_claim_control_number=f"X{n}" if not moved else f"X{n}C",
        services=[first, second],
    )


def remittance(count: int, trace: str = "BENCH1", claims: list[Any] | None = None) -> Any:
    from rcm.x12 import x835

    if claims is None:
        claims = [claim_payment(n) for n in range(count)]
    return x835.Remittance835(
        handling="I",
        total_paid=sum((c.paid for c in claims), D(0)),
        credit_debit="C",
        payment_method="ACH",
        trace=x835.Trace("1", trace, "1999999999"),
        payer=x835.Party("PR", name="BENCH PAYER"),
        payee=x835.Party("PE", name="BENCH", id_qualifier="XX", id=NPI),
        payment_date=date(2026, 11, 1),
        claims=claims,
    )


def reversals(count: int) -> Any:
    """An 835 reversing one claim in twenty of the first posting and paying it again, 5 more
    on the first line: 2 claim payments per claim."""
    claims = []
    for n in range(5, count, 20):
        claims.append(claim_payment(n, "22", -1))
        claims.append(claim_payment(n, "1", 1, D("5")))
    return remittance(len(claims), "BENCH2", claims)


def _cpu_ticks(pid: int | None) -> float | None:
    """CPU seconds a local process used so far (the PostgreSQL backend), None if unreadable."""
    if pid is None:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Timed:
    """Wall and CPU time of one posting: this process's and the database server's."""

    def __init__(self, session: Session) -> None:
        self.backend: int | None = None
        if session.get_bind().dialect.name == "postgresql":
            from sqlalchemy import text

            self.backend = session.execute(text("SELECT pg_backend_pid()")).scalar()

    def __enter__(self) -> Timed:
        self.server0 = _cpu_ticks(self.backend)
        self.cpu0 = time.process_time()
        self.wall0 = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self.wall0
        self.cpu = time.process_time() - self.cpu0
        server = _cpu_ticks(self.backend)
        self.server = None if server is None or self.server0 is None else server - self.server0

    def describe(self, count: int) -> str:
        text = f"{self.wall:.1f} s wall, {self.cpu:.1f} s CPU"
        if self.server is not None:
            text += f" + {self.server:.1f} s server CPU"
            total = self.cpu + self.server
        else:
            total = self.cpu
        return f"{text} ({count / total:,.0f} claim payments per CPU second)"


def _post(engine: Engine, rem: Any) -> Timed:
    from rcm.posting import post_remittance

    with Session(engine, expire_on_commit=False) as session:
        timed = Timed(session)
        session.commit()
        with timed:
            post_remittance(session, rem, interchange_id=uuid.UUID(int=1))
            session.commit()
    return timed


def _bench(engine: Engine, count: int, database: str, what: str) -> list[dict[str, Any]]:
    seed(engine, count)
    first = _post(engine, remittance(count))
    second_rem = reversals(count)
    second = _post(engine, second_rem)
    n2 = len(second_rem.claims)
    return [
        emit(
            f"posting_{database}",
            round(count / first.wall, 1),
            "claim_payments/s",
            f"post_remittance of one 835 with {count} claim payments x 2 lines, {what}: "
            + first.describe(count),
            TARGET,
        ),
        emit(
            f"posting_reversals_{database}",
            round(n2 / second.wall, 1),
            "claim_payments/s",
            f"then an 835 of {n2 // 2} reversals (CLP02=22) and {n2 // 2} corrected payments "
            f"on the same {what}: " + second.describe(n2),
            TARGET,
        ),
    ]


def bench_sqlite(count: int) -> list[dict[str, Any]]:
    from connectors.db import make_engine, upgrade

    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        upgrade(url)
        engine = make_engine(url)
        try:
            return _bench(engine, count, "sqlite", "SQLite file")
        finally:
            engine.dispose()


def bench_file_sqlite(count: int) -> dict[str, Any]:
    from connectors.db import make_engine, upgrade
    from rcm.posting import post_835_file
    from rcm.x12.core import InterchangeEnvelope
    from rcm.x12.x835 import build_835

    envelope = InterchangeEnvelope(
        "ZZ",
        "PAYER",
        "ZZ",
        "SUBMITTER",
        1,
        1,
        "HP",
        "005010X221A1",
        datetime(2026, 11, 1, 12, tzinfo=UTC),
    )
    data = build_835([remittance(count, "BENCHFILE")], envelope)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        upgrade(url)
        engine = make_engine(url)
        seed(engine, count)
        with Session(engine, expire_on_commit=False) as session, Timed(session) as timed:
            post_835_file(session, data, clearinghouse="bench", file_name="bench.835")
            session.commit()
        engine.dispose()
    return emit(
        "posting_file_sqlite",
        round(count / timed.wall, 1),
        "claim_payments/s",
        f"post_835_file (parse, balance, post) of {len(data)} bytes, {count} claims: "
        + timed.describe(count),
        TARGET,
    )


def bench_postgresql(base_url: str, count: int) -> list[dict[str, Any]]:
    from sqlalchemy import create_engine, make_url, text

    from connectors.db import make_engine, upgrade

    schema = f"bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(base_url).update_query_dict({"options": f"-csearch_path={schema}"})
    engine = make_engine(url)
    try:
        upgrade(url)
        return _bench(engine, count, "postgresql", "PostgreSQL")
    finally:
        engine.dispose()
        with admin.connect() as connection:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


def run() -> list[dict[str, Any]]:
    count = int(os.environ.get("RCM_BENCH_POSTING_CLAIMS", "100000"))
    out = [*bench_sqlite(count), bench_file_sqlite(count)]
    pg = os.environ.get("RCM_TEST_DATABASE_URL")
    if "--pg" in sys.argv and not pg:
        pg = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
    if pg:
        out += bench_postgresql(pg, count)
    return out


if __name__ == "__main__":
    run()
