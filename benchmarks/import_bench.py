"""The day's CSV imports on their own: appointments and charges, claims per CPU-second.

No Prefect: `import_appointments` and `import_charges` are called the way the import-inbox task
calls them (one transaction per file, committed), on the day of `benchmarks/workload.py`
(N practices sharing M claims; an appointment per claim for the next business day, a charges
file of one encounter per claim). Onboarding and the patients file are setup, not timed.

Each round imports every practice's files into the same database; between rounds the rows the
imports wrote (appointments, encounters, service lines, diagnoses, their audit events) are
deleted, untimed, so every round does the same work. The best round counts. After the last
round the same files are imported again, which must change nothing (`reimport`).

Figures are `imports.<database>.<step>` in claims per CPU-second of this process (SQLite runs
in it; on PostgreSQL the server's time is not counted, the wall time is in the workload text),
against a 3,333/s baseline (0.3 ms a claim for both files). The heap left by setup is frozen
(`gc.freeze()`), as in domain_bench.

    python -m benchmarks.import_bench [--practices 10] [--claims 10000] [--database postgres]
        [--rounds 2] [--no-freeze]

`run()` (make bench) uses RCM_BENCH_IMPORT_PRACTICES (10) and RCM_BENCH_IMPORT_CLAIMS (2,000),
SQLite only.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

BASELINE_PER_SECOND = 3333
STEPS = ("appointments", "charges")


def measure(
    practices: int,
    claims: int,
    database: str = "sqlite",
    *,
    rounds: int = 2,
    freeze: bool = True,
) -> list[dict[str, Any]]:
    from benchmarks.domain_bench import _database

    folder = Path(tempfile.mkdtemp(prefix="rcm-imports-"))
    try:
        url, drop = _database(database, folder)
        try:
            return _measure(practices, claims, url, folder, rounds, freeze)
        finally:
            from connectors.db import dispose_engines

            dispose_engines()
            drop()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _measure(
    practices: int, claims: int, url: str, folder: Path, rounds: int, freeze: bool
) -> list[dict[str, Any]]:
    from benchmarks.workload import build_workload, onboard_workload, write_workload

    workload = build_workload(practices, claims, seed=1)
    paths = write_workload(workload, folder)
    os.environ["RCM_DATABASE_URL"] = url
    os.environ["RCM_ARCHIVE_URL"] = f"file://{folder / 'archive'}"
    os.environ["RCM_VAR_DIR"] = str(folder)
    os.environ["RCM_CONFIG_DIR"] = str(paths.config_dir)

    from sqlalchemy import delete
    from sqlmodel import col

    from connectors.db import session_scope
    from rcm.imports import import_appointments, import_charges, import_patients
    from rcm.models import Appointment, AuditEvent, Diagnosis, Encounter, ServiceLine

    engine = onboard_workload(workload, paths, url)
    files: list[tuple[str, str, str, bytes]] = []
    for world in workload.practices:
        source = paths.inbox / world.slug / "patients" / "patients.csv"
        with session_scope(engine) as session:
            import_patients(session, world.slug, source.read_bytes(), source_name=source.name)
        for step in STEPS:
            for path in sorted((paths.inbox / world.slug / step).glob("*.csv")):
                files.append((step, world.slug, path.name, path.read_bytes()))
    importers = {"appointments": import_appointments, "charges": import_charges}

    def import_all() -> dict[str, tuple[float, float, int]]:
        timings: dict[str, tuple[float, float, int]] = {}
        for step, slug, name, data in files:
            cpu, wall = time.process_time(), time.perf_counter()
            with session_scope(engine) as session:
                result = importers[step](session, slug, data, source_name=name)
            spent_cpu, spent_wall, count = timings.get(step, (0.0, 0.0, 0))
            timings[step] = (
                spent_cpu + time.process_time() - cpu,
                spent_wall + time.perf_counter() - wall,
                count + (result.details["encounters"]["created"] if step == "charges" else 0),
            )
        return timings

    def forget_imports() -> None:
        with session_scope(engine) as session:
            for model in (Diagnosis, ServiceLine, Encounter, Appointment):
                session.execute(delete(model))
            session.execute(
                delete(AuditEvent).where(
                    col(AuditEvent.action).in_([f"import_{step}" for step in STEPS])
                )
            )

    runs: list[dict[str, tuple[float, float, int]]] = []
    gc.collect()
    if freeze:
        gc.freeze()
    try:
        for number in range(rounds):
            if number:
                forget_imports()
            runs.append(import_all())
        reimport = import_all()
    finally:
        gc.unfreeze()
    engine.dispose()

    backend = "sqlite" if url.startswith("sqlite") else "postgresql"
    encounters = runs[0]["charges"][2]

    def figure(name: str, cpu: list[float], wall: list[float]) -> dict[str, Any]:
        best = min(range(len(cpu)), key=cpu.__getitem__)
        return {
            "name": f"imports.{backend}.{name}",
            "value": round(encounters / cpu[best]) if cpu[best] else 0,
            "unit": "claims/cpu-s",
            "workload": json.dumps(
                {
                    "practices": practices,
                    "claims": encounters,
                    "cpu_s": [round(c, 3) for c in cpu],
                    "wall_s": [round(w, 3) for w in wall],
                    "ms_per_claim_cpu": round(1000 * cpu[best] / encounters, 4),
                    "database": backend,
                    "heap_frozen": freeze,
                    "load_average": [round(x, 2) for x in os.getloadavg()],
                },
                sort_keys=True,
            ),
            "baseline": BASELINE_PER_SECOND,
        }

    figures = [
        figure(step, [r[step][0] for r in runs], [r[step][1] for r in runs]) for step in STEPS
    ]
    figures.append(
        figure(
            "total",
            [sum(r[s][0] for s in STEPS) for r in runs],
            [sum(r[s][1] for s in STEPS) for r in runs],
        )
    )
    figures.append(
        figure(
            "reimport",
            [sum(reimport[s][0] for s in STEPS)],
            [sum(reimport[s][1] for s in STEPS)],
        )
    )
    return figures


def run() -> list[dict[str, Any]]:
    practices = int(os.environ.get("RCM_BENCH_IMPORT_PRACTICES", "10"))
    claims = int(os.environ.get("RCM_BENCH_IMPORT_CLAIMS", "2000"))
    figures = measure(practices, claims)
    for figure in figures:
        print(json.dumps(figure), flush=True)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--practices", type=int, default=10)
    parser.add_argument("--claims", type=int, default=10_000)
    parser.add_argument("--database", default="sqlite", help="sqlite, postgres or a URL")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument(
        "--no-freeze", action="store_true", help="leave the setup's heap to the collector"
    )
    args = parser.parse_args()
    for figure in measure(
        args.practices, args.claims, args.database, rounds=args.rounds, freeze=not args.no_freeze
    ):
        print(json.dumps(figure), flush=True)


if __name__ == "__main__":
    main()
