"""ERA posting throughput: claim payments per second through post_remittance.

`run()` prints one JSON line per figure ({"name", "value", "unit", "workload", "baseline"}):

- posting_sqlite: post_remittance of one 835 with RCM_BENCH_POSTING_CLAIMS claim payments (two
  service lines each, contractual and patient-responsibility CAS, a denial in one claim of ten)
  against claims seeded in a fresh migrated SQLite file, commit included. Baseline: the 5,000
  claim payments/s design target.
- posting_file_sqlite: the same through post_835_file from bytes (parse, balance, Interchange,
  post, commit).
- posting_postgresql: as posting_sqlite on PostgreSQL, when RCM_TEST_DATABASE_URL is set or
  `--pg` is given (a throwaway schema is created and dropped).
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
    from rcm.models import (
        Claim,
        ClaimStatus,
        Coverage,
        Direction,
        Encounter,
        Interchange,
        InterchangeKind,
        InterchangeStatus,
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
        patients, coverages, encounters, lines, claims = [], [], [], [], []
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
            for number, (code, charge) in enumerate((("99213", D("150")), ("36415", D("20"))), 1):
                lines.append(
                    {
                        "id": uuid.uuid4(),
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
                    "id": uuid.uuid4(),
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
        ):
            for start in range(0, len(rows), 5000):
                session.execute(insert(model.__table__), rows[start : start + 5000])  # type: ignore[attr-defined]
        session.commit()


def remittance(count: int, trace: str = "BENCH1") -> Any:
    from rcm.x12 import x835

    claims = []
    for n in range(count):
        denied = n % 10 == 0
        second = (
            x835.ServicePayment(
                x835.Procedure("HC", "36415"),
                D("20"),
                D("0"),
                dates=[x835.DateValue("472", DOS)],
                adjustments=[x835.Adjustment("CO", "97", D("20"))],
            )
            if denied
            else x835.ServicePayment(
                x835.Procedure("HC", "36415"),
                D("20"),
                D("12"),
                dates=[x835.DateValue("472", DOS)],
                adjustments=[x835.Adjustment("CO", "45", D("8"))],
            )
        )
        first = x835.ServicePayment(
            x835.Procedure("HC", "99213"),
            D("150"),
            D("80"),
            dates=[x835.DateValue("472", DOS)],
            adjustments=[x835.Adjustment("CO", "45", D("40")), x835.Adjustment("PR", "2", D("30"))],
        )
        paid = first.paid + second.paid
        claims.append(
            x835.ClaimPayment(
                f"PCN{n:08d}",
                "1",
                D("170"),
                paid,
                D("30"),
                payer_claim_control_number=f"X{n}",
                services=[first, second],
            )
        )
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


def _time_post(engine: Engine, count: int) -> float:
    from rcm.posting import post_remittance

    rem = remittance(count)
    with Session(engine, expire_on_commit=False) as session:
        start = time.perf_counter()
        post_remittance(session, rem, interchange_id=uuid.UUID(int=1))
        session.commit()
        return time.perf_counter() - start


def bench_sqlite(count: int) -> dict[str, Any]:
    from connectors.db import make_engine, upgrade

    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        upgrade(url)
        engine = make_engine(url)
        seed(engine, count)
        elapsed = _time_post(engine, count)
        engine.dispose()
    return emit(
        "posting_sqlite",
        round(count / elapsed, 1),
        "claim_payments/s",
        f"post_remittance of one 835 with {count} claim payments x 2 lines, SQLite file",
        TARGET,
    )


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
        with Session(engine, expire_on_commit=False) as session:
            start = time.perf_counter()
            post_835_file(session, data, clearinghouse="bench", file_name="bench.835")
            session.commit()
            elapsed = time.perf_counter() - start
        engine.dispose()
    return emit(
        "posting_file_sqlite",
        round(count / elapsed, 1),
        "claim_payments/s",
        f"post_835_file (parse, balance, post) of {len(data)} bytes, {count} claims",
        TARGET,
    )


def bench_postgresql(base_url: str, count: int) -> dict[str, Any]:
    from sqlalchemy import create_engine, make_url, text
    from sqlmodel import SQLModel

    import rcm.models  # noqa: F401
    from connectors.db import make_engine

    schema = f"bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(base_url).update_query_dict({"options": f"-csearch_path={schema}"})
    engine = make_engine(url)
    try:
        SQLModel.metadata.create_all(engine)
        seed(engine, count)
        elapsed = _time_post(engine, count)
    finally:
        engine.dispose()
        with admin.connect() as connection:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()
    return emit(
        "posting_postgresql",
        round(count / elapsed, 1),
        "claim_payments/s",
        f"post_remittance of one 835 with {count} claim payments x 2 lines, PostgreSQL",
        TARGET,
    )


def run() -> list[dict[str, Any]]:
    count = int(os.environ.get("RCM_BENCH_POSTING_CLAIMS", "10000"))
    out = [bench_sqlite(count), bench_file_sqlite(count)]
    pg = os.environ.get("RCM_TEST_DATABASE_URL")
    if "--pg" in sys.argv and not pg:
        pg = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
    if pg:
        out.append(bench_postgresql(pg, count))
    return out


if __name__ == "__main__":
    run()
