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
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

BASELINE_CLAIMS_PER_SECOND = 1000


def _setup(session: Any, claims: int, *, slug: str = "bench") -> Any:
    from sqlalchemy import insert, select

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
        slug=slug,
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
    payer = session.execute(
        select(Payer).where(Payer.key == "bench-payer")  # type: ignore[arg-type]
    ).scalar_one_or_none() or Payer(key="bench-payer", name="BENCH PLAN", payer_id="99999")
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


# --------------------------------------------------------------------------------------------
# Build and gate, practice by practice or overlapped (`run_gate`)
# --------------------------------------------------------------------------------------------

GATE_MODES = ("sequential", "overlapped")


def _gate_sequential(engine: Any, practices: list[list[Any]], pool: Any) -> list[Any]:
    """What the submission stage did per practice: build its files, wait for the pool's
    verdicts, record them (tasks.claims.build_and_gate_many per practice)."""
    from sqlmodel import Session

    from rcm.batching import build_and_gate_all

    outcomes: list[Any] = []
    for ids in practices:
        with Session(engine) as session:
            outcomes += build_and_gate_all(session, ids, executor=pool)
            session.commit()
    return outcomes


def _gate_overlapped(engine: Any, practices: list[list[Any]], pool: Any) -> list[Any]:
    """Every practice's files built and handed to the pool first (start_gate, a session each,
    nothing written), then the verdicts recorded practice by practice (finish_gate)."""
    from sqlmodel import Session

    from rcm.batching import finish_gate, start_gate

    started = []
    for ids in practices:
        with Session(engine) as session:
            started.append(start_gate(session, ids, executor=pool))
            session.commit()
    outcomes: list[Any] = []
    for tickets in started:
        with Session(engine) as session:
            outcomes += finish_gate(session, tickets)
            session.commit()
    return outcomes


def _cpu_of(pids: list[int]) -> float | None:
    """User + system CPU seconds of these processes so far (Linux /proc), or None."""
    total = 0.0
    try:
        for pid in pids:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None
    return total


def run_gate(
    practices: int = 10,
    claims: int = 1000,
    workers: int = 2,
    modes: tuple[str, ...] = GATE_MODES,
    rounds: int = 1,
) -> list[dict[str, Any]]:
    """Build and gate `practices` × `claims` READY 837P claims (one file per practice) on the
    real validation pool (tasks._validation_pool.ValidationPool, forkserver, `workers`
    processes, warmed before timing), each mode on its own copy of the practices, the modes
    alternated over `rounds`. Figures per mode: claims/s over the wall (median of the rounds)
    and the main process's CPU seconds (building and recording; pyx12 runs in the workers).
    The two modes do the same work; what separates their walls is how long the main thread
    sits waiting for verdicts while it could be building."""
    from sqlmodel import Session

    from connectors.db import make_engine, upgrade
    from rcm.batching import EnvelopeSettings, assign_batches
    from tasks._validation_pool import ValidationPool

    workload = (
        f"{practices} practices x {claims} READY 837P claims (2 lines each, one file per "
        f"practice), pyx12 on the validation pool ({workers} workers), SQLite"
    )
    runners = {"sequential": _gate_sequential, "overlapped": _gate_overlapped}
    order = [m for r in range(rounds) for m in (modes if r % 2 == 0 else modes[::-1])]
    times: dict[str, list[tuple[float, float, float]]] = {m: [] for m in modes}
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'gate.db'}"
        upgrade(url)
        engine = make_engine(url)
        envelope = EnvelopeSettings(sender_id="RCMSUBMITTER", receiver_id="RCMSANDBOX")
        batches: list[list[list[Any]]] = []
        with Session(engine) as session:
            for run_number in range(len(order)):
                ids = []
                for p in range(practices):
                    practice_id = _setup(session, claims, slug=f"gate-{run_number}-{p}")
                    assigned = assign_batches(
                        session,
                        practice_id=practice_id,
                        profile_name="sandbox",
                        envelope=envelope,
                        now=datetime(2026, 11, 21, 14, 30, tzinfo=UTC),
                    )
                    session.commit()
                    ids.append([i.id for i in assigned])
                batches.append(ids)
        pool = ValidationPool(workers)
        try:
            # Start and warm every worker (maps loaded) before timing.
            warm = [pool.submit(time.sleep, 0.5) for _ in range(workers)]
            for future in warm:
                future.result()
            for mode, ids in zip(order, batches, strict=True):
                pids = pool.worker_pids()
                before = _cpu_of(pids)
                started, cpu = time.perf_counter(), time.process_time()
                outcomes = runners[mode](engine, ids, pool)
                wall, cpu = time.perf_counter() - started, time.process_time() - cpu
                after = _cpu_of(pids)
                if before is None or after is None or pool.worker_pids() != pids:
                    workers_cpu = float("nan")  # no /proc, or a worker was replaced
                else:
                    workers_cpu = after - before
                times[mode].append((wall, cpu, workers_cpu))
                if any(not o.passed for o in outcomes):
                    raise RuntimeError(f"{mode}: a benchmark file failed the gate")
        finally:
            pool.shutdown()
            engine.dispose()

    total = practices * claims
    records = []
    for mode in modes:
        wall = statistics.median(t[0] for t in times[mode])
        cpu = statistics.median(t[1] for t in times[mode])
        workers_cpu = statistics.median(t[2] for t in times[mode])
        for name, value, unit in (
            (f"batch_gate_{mode}_wall", total / wall, "claims/s"),
            (f"batch_gate_{mode}_main_cpu", cpu, "s"),
            (f"batch_gate_{mode}_workers_cpu", workers_cpu, "s"),
            # Cores our processes kept busy: on free cores sequential stays near 1 (the main
            # thread and the pool take turns), overlapped approaches 1 + the workers.
            (f"batch_gate_{mode}_cores_busy", (cpu + workers_cpu) / wall, "cores"),
        ):
            records.append(
                {
                    "name": name,
                    "value": round(value, 1 if unit == "claims/s" else 2),
                    "load": round(os.getloadavg()[0], 1),
                    "unit": unit,
                    "workload": workload,
                    "baseline": None,
                    "runs": [round(t[0], 2) for t in times[mode]],
                }
            )
    for line in records:
        print(json.dumps(line), flush=True)
    return records


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "gate":
        # python -m benchmarks.batch_bench gate [PRACTICES] [CLAIMS] [ROUNDS] [MODE,...]
        args = sys.argv[2:]
        run_gate(
            practices=int(args[0]) if args else 10,
            claims=int(args[1]) if len(args) > 1 else 1000,
            rounds=int(args[2]) if len(args) > 2 else 1,
            modes=tuple(args[3].split(",")) if len(args) > 3 else GATE_MODES,
        )
    else:
        run(int(sys.argv[1]) if len(sys.argv) > 1 else 20_000)
