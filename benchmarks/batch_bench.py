"""Batch throughput: READY claims → assigned interchanges → 837 bytes → pyx12 gate.

`run()` fills a fresh SQLite database (under a temporary folder) with `claims` READY
professional claims of one practice (two service lines, two diagnoses each), then times
`assign_batches` (control numbers, READY → BATCHED, in one transaction), `build_interchange_bytes`
for every file, and the pyx12 gate over the files separately (the gate is the slow part; flows run
it in a process pool). Prints one JSON line per figure:
{"name", "value", "unit", "workload", "baseline"}, and returns them.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

BASELINE_CLAIMS_PER_SECOND = 1000


def _setup(session: Any, claims: int) -> Any:
    from sqlalchemy import insert

    from rcm.identifiers import make_npi
    from rcm.models import (
        Claim,
        ClaimStatus,
        ClaimType,
        Coverage,
        Diagnosis,
        Encounter,
        Patient,
        Payer,
        Practice,
        Provider,
        ServiceLine,
        new_id,
        utcnow,
    )

    practice = Practice(
        slug="bench",
        name="BENCH CLINIC",
        billing_npi=make_npi("123456789"),
        tin="123456789",
        taxonomy_code="207Q00000X",
        address1="1 MAIN ST",
        city="SPRINGFIELD",
        state="IL",
        zip="627010001",
        phone="5555550100",
        clearinghouse="sandbox",
        clearinghouse_account="SUBMIT01",
    )
    payer = Payer(key="bench-payer", name="BENCH PLAN", payer_id="99999")
    session.add_all([practice, payer])
    session.flush()
    provider = Provider(
        practice_id=practice.id,
        npi=make_npi("111111111"),
        first_name="ANN",
        last_name="DOCTOR",
        taxonomy_code="207Q00000X",
    )
    session.add(provider)
    session.flush()
    rows: dict[Any, list[dict[str, Any]]] = {
        Patient: [],
        Coverage: [],
        Encounter: [],
        ServiceLine: [],
        Diagnosis: [],
        Claim: [],
    }
    now = utcnow()
    dos = date(2026, 11, 2)
    for i in range(claims):
        patient_id, coverage_id, encounter_id = new_id(), new_id(), new_id()
        rows[Patient].append(
            dict(
                id=patient_id,
                practice_id=practice.id,
                account_number=f"A{i}",
                first_name="TEST",
                last_name=f"PATIENT{i % 997}",
                birth_date=date(1950 + i % 50, 1 + i % 12, 1),
                sex="F",
                address1="1 ELM ST",
                city="SPRINGFIELD",
                state="IL",
                zip="62701",
                created_at=now,
                updated_at=now,
            )
        )
        rows[Coverage].append(
            dict(
                id=coverage_id,
                practice_id=practice.id,
                patient_id=patient_id,
                payer_id=payer.id,
                priority=1,
                member_id=f"M{i:09d}",
                relationship="18",
                eligibility_status="unknown",
                active=True,
            )
        )
        rows[Encounter].append(
            dict(
                id=encounter_id,
                practice_id=practice.id,
                external_id=f"E{i}",
                patient_id=patient_id,
                coverage_id=coverage_id,
                payer_id=payer.id,
                rendering_provider_id=provider.id,
                service_date=dos,
                place_of_service="11",
                claim_type=ClaimType.PROFESSIONAL,
                created_at=now,
            )
        )
        for number, (code, charge, pointers) in enumerate(
            (("99213", "125.00", [1, 2]), ("36415", "15.00", [1])), start=1
        ):
            rows[ServiceLine].append(
                dict(
                    id=new_id(),
                    practice_id=practice.id,
                    encounter_id=encounter_id,
                    line_number=number,
                    procedure_code=code,
                    modifiers=[],
                    units=Decimal(1),
                    charge=Decimal(charge),
                    diagnosis_pointers=pointers,
                    service_date=dos,
                )
            )
        for sequence, code in enumerate(("E119", "I10"), start=1):
            rows[Diagnosis].append(
                dict(
                    id=new_id(),
                    practice_id=practice.id,
                    encounter_id=encounter_id,
                    sequence=sequence,
                    code=code,
                    kind="other",
                )
            )
        rows[Claim].append(
            dict(
                id=new_id(),
                practice_id=practice.id,
                encounter_id=encounter_id,
                patient_id=patient_id,
                coverage_id=coverage_id,
                payer_id=payer.id,
                patient_control_number=f"BEN-E{i}",
                claim_type=ClaimType.PROFESSIONAL,
                frequency_code="1",
                payer_responsibility="P",
                status=ClaimStatus.READY,
                total_charge=Decimal("140.00"),
                service_date_from=dos,
                service_date_to=dos,
                created_at=now,
                updated_at=now,
            )
        )
    for model, values in rows.items():
        session.execute(insert(model), values)
    session.commit()
    return practice.id


def _validate_one(data: bytes) -> int:
    from rcm.x12.validate import validate

    return validate(data).error_count


def run(claims: int = 20_000, per_file: int = 5000, workers: int = 2) -> list[dict[str, Any]]:
    from concurrent.futures import ProcessPoolExecutor

    from sqlmodel import Session

    from connectors.db import make_engine, upgrade
    from rcm.batching import EnvelopeSettings, assign_batches, build_interchange_bytes

    workload = f"{claims} READY 837P claims, 2 lines each, {per_file} per file, SQLite"
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'bench.db'}"
        upgrade(url)
        engine = make_engine(url)
        with Session(engine) as session:
            practice_id = _setup(session, claims)
            envelope = EnvelopeSettings(sender_id="RCMSUBMITTER", receiver_id="RCMSANDBOX")
            started, cpu = time.perf_counter(), time.process_time()
            interchanges = assign_batches(
                session,
                practice_id=practice_id,
                profile_name="sandbox",
                envelope=envelope,
                max_claims_per_file=per_file,
                now=datetime(2026, 11, 21, 14, 30, tzinfo=UTC),
            )
            session.commit()
            assign_seconds = time.perf_counter() - started
            assign_cpu = time.process_time() - cpu
            started, cpu = time.perf_counter(), time.process_time()
            files = [build_interchange_bytes(session, ic.id) for ic in interchanges]
            build_seconds = time.perf_counter() - started
            build_cpu = time.process_time() - cpu
        engine.dispose()
    started = time.perf_counter()
    with ProcessPoolExecutor(max_workers=workers) as pool:
        errors = sum(pool.map(_validate_one, files))
    validate_seconds = time.perf_counter() - started
    total = assign_seconds + build_seconds

    def record(name: str, value: float, unit: str) -> dict[str, Any]:
        return {
            "name": name,
            "value": round(value, 1),
            "unit": unit,
            "workload": workload,
            "baseline": BASELINE_CLAIMS_PER_SECOND if unit == "claims/s" else None,
        }

    # CPU-time rates are the steadier figure on a shared machine (SQLite runs in-process, so
    # its work is counted); wall-clock rates are what an operator waits for.
    records = [
        record("batch_assign_cpu", claims / assign_cpu, "claims/s"),
        record("batch_build_cpu", claims / build_cpu, "claims/s"),
        record("batch_assign_and_build_cpu", claims / (assign_cpu + build_cpu), "claims/s"),
        record("batch_assign_and_build_wall", claims / total, "claims/s"),
        record(f"batch_pyx12_gate_{workers}_workers", claims / validate_seconds, "claims/s"),
        record("batch_pyx12_errors", errors, "errors"),
    ]
    for line in records:
        print(json.dumps(line), flush=True)
    return records


if __name__ == "__main__":
    run(int(sys.argv[1]) if len(sys.argv) > 1 else 20_000)
