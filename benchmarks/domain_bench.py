"""The daily cycle's domain bulk paths, each timed on its own: claims (or inquiries) per second.

No Prefect: the domain functions are called the way the tasks call them, one transaction per
practice (per file for the answers), on the workload of `benchmarks/workload.py` (N practices,
M claims shared between them, their patients and appointments imported; not timed):

    build_270 (plan the checks, insert them, build the file), build_270_bytes (the rebuild the
    flow sends), apply_271 (the sandbox's answers), create_claims, scrub_claims,
    assign_batches, record_uploaded (BATCHED -> SUBMITTED; the pyx12 gate is skipped: every
    file is recorded valid), apply_acknowledgment_file for the sandbox's 999s and 277CAs.

Figures are `domain.<database>.<function>` in items per CPU-second of this process (SQLite runs
in it; on PostgreSQL the server's time is not counted, the wall time is in the workload text),
with a 2,000/s baseline: at 100,000 claims a day each step then costs at most 50 s of one core.
The heap left by setup is frozen (`gc.freeze()`) before the clock starts, as a worker that
froze it after start-up would run, so the figures measure the functions and not the
collector walking the setup's objects (`--no-freeze` leaves them to it).

    python -m benchmarks.domain_bench [--practices 10] [--claims 10000] [--database postgres]

`run()` (make bench) uses RCM_BENCH_DOMAIN_PRACTICES (10) and RCM_BENCH_DOMAIN_CLAIMS (2,000),
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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

BASELINE_PER_SECOND = 2000


class _Phase:
    def __init__(self) -> None:
        self.cpu = 0.0
        self.wall = 0.0
        self.items = 0

    @contextmanager
    def timed(self) -> Iterator[None]:
        cpu, wall = time.process_time(), time.perf_counter()
        try:
            yield
        finally:
            self.cpu += time.process_time() - cpu
            self.wall += time.perf_counter() - wall


def _database(kind: str, folder: Path) -> tuple[str, Callable[[], None]]:
    """A fresh database for one run: a SQLite file in `folder`, or a PostgreSQL schema of its
    own, dropped afterwards (the cycle bench's)."""
    from benchmarks.cycle_bench import _database_url

    return _database_url(kind, folder)


def measure(
    practices: int, claims: int, database: str = "sqlite", *, freeze: bool = True
) -> list[dict[str, Any]]:
    folder = Path(tempfile.mkdtemp(prefix="rcm-domain-"))
    try:
        url, drop = _database(database, folder)
        try:
            return _measure(practices, claims, url, folder, freeze)
        finally:
            from connectors.db import dispose_engines

            dispose_engines()
            drop()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _measure(
    practices: int, claims: int, url: str, folder: Path, freeze: bool
) -> list[dict[str, Any]]:
    from benchmarks.workload import build_workload, onboard_workload, write_workload

    workload = build_workload(practices, claims, seed=1)
    paths = write_workload(workload, folder)
    os.environ["RCM_DATABASE_URL"] = url
    os.environ["RCM_ARCHIVE_URL"] = f"file://{folder / 'archive'}"
    os.environ["RCM_VAR_DIR"] = str(folder)
    os.environ["RCM_CONFIG_DIR"] = str(paths.config_dir)

    from sqlmodel import func, select

    from connectors.db import session_scope
    from rcm.acknowledgments import apply_acknowledgment_file
    from rcm.batching import (
        assign_batches,
        build_interchange_bytes,
        gate_interchange,
        record_archived,
        record_uploaded,
    )
    from rcm.claims.create import create_claims
    from rcm.codesets import load_code_sets
    from rcm.eligibility import apply_271, build_270, build_270_bytes, record_inbound
    from rcm.eligibility import record_archived as record_270_archived
    from rcm.eligibility import record_uploaded as record_270_uploaded
    from rcm.imports import import_patients
    from rcm.imports.appointments import import_appointments
    from rcm.imports.charges import import_charges
    from rcm.models import Claim, EligibilityCheck, Practice
    from rcm.scrub import scrub_claims
    from rcm.x12.validate import ValidationReport
    from rcm.x12.x271 import parse_271
    from sandbox.adjudicator import Adjudicator
    from tasks.claims import envelope_settings

    engine = onboard_workload(workload, paths, url)
    for world in workload.practices:
        for kind, load in (
            ("patients", import_patients),
            ("appointments", import_appointments),
            ("charges", import_charges),
        ):
            for source in sorted((paths.inbox / world.slug / kind).glob("*.csv")):
                with session_scope(engine) as session:
                    load(session, world.slug, source.read_bytes(), source_name=source.name)
    with session_scope(engine) as session:
        rows = session.exec(select(Practice).order_by(Practice.slug)).all()
        tenants = [(p.id, p.clearinghouse, p.clearinghouse_account) for p in rows]
    envelopes = {(c, a): envelope_settings(c, a) for _, c, a in tenants}
    code_sets = load_code_sets()
    sandbox = Adjudicator(paths.sandbox_root, paths.config_dir, 1)
    account = "rcm-demo"
    day = workload.service_date
    now = datetime.combine(day, datetime.min.time(), tzinfo=UTC) + timedelta(hours=20)
    phases: dict[str, _Phase] = {}

    def phase(name: str) -> _Phase:
        return phases.setdefault(name, _Phase())

    gc.collect()
    if freeze:
        gc.freeze()
    try:
        # Eligibility: 270 per practice, rebuilt as the flow sends it, answered by the sandbox.
        for practice_id, clearinghouse, submitter in tenants:
            with phase("build_270").timed(), session_scope(engine) as session:
                batch = build_270(
                    session,
                    practice_id=practice_id,
                    date_from=day + timedelta(days=1),
                    date_to=day + timedelta(days=3),
                    profile_name=clearinghouse,
                    envelope=envelopes[(clearinghouse, submitter)],
                    now=now,
                )
                phase("build_270").items += len(batch.created)
                interchange = batch.interchange
                ids = (interchange.id, interchange.file_name) if interchange else None
            if ids is None:
                continue
            with phase("build_270_bytes").timed(), session_scope(engine) as session:
                data = build_270_bytes(session, ids[0])
                phase("build_270_bytes").items += len(batch.created)
            with session_scope(engine) as session:
                record_270_archived(session, ids[0], f"outbound/{ids[0]}")
                record_270_uploaded(session, ids[0], ids[1] or "270.x12", now)
            sandbox.process(account, ids[1] or "270.x12", data, now)
        answered = set(_answers(paths.sandbox_root / account))
        for path in sorted(answered):
            data = path.read_bytes()
            if b"ST*271*" not in data:
                continue
            traces = [t for r in parse_271(data, strict=False) for t in r.trace_numbers][:50]
            with session_scope(engine) as session:
                owner = session.exec(
                    select(EligibilityCheck.practice_id).where(
                        EligibilityCheck.trace_number.in_(traces)  # type: ignore[attr-defined]
                    )
                ).first()
            if owner is None:
                continue
            clearinghouse = next(c for p, c, _ in tenants if p == owner)
            with phase("apply_271").timed(), session_scope(engine) as session:
                row, _ = record_inbound(
                    session,
                    practice_id=owner,
                    clearinghouse=clearinghouse,
                    data=data,
                    file_name=path.name,
                )
                applied = apply_271(session, practice_id=owner, data=data, interchange_id=row.id)
                phase("apply_271").items += applied.matched

        # Claims: create, scrub, batch; the gate records every file valid; upload recorded.
        files: list[tuple[Any, str, bytes, int]] = []
        for practice_id, clearinghouse, submitter in tenants:
            with phase("create_claims").timed(), session_scope(engine) as session:
                created = create_claims(session, practice_id=practice_id, today=day)
                phase("create_claims").items += len(created.created)
            with phase("scrub_claims").timed(), session_scope(engine) as session:
                outcome = scrub_claims(
                    session, practice_id=practice_id, today=day, code_sets=code_sets
                )
                phase("scrub_claims").items += outcome.scrubbed
            with phase("assign_batches").timed(), session_scope(engine) as session:
                made = assign_batches(
                    session,
                    practice_id=practice_id,
                    profile_name=clearinghouse,
                    envelope=envelopes[(clearinghouse, submitter)],
                    now=now,
                )
                phase("assign_batches").items += sum(i.claim_count for i in made)
                assigned = [i.id for i in made]
            for interchange_id in assigned:
                with session_scope(engine) as session:
                    data = build_interchange_bytes(session, interchange_id)
                    gated = gate_interchange(
                        session, interchange_id, data, ValidationReport(file_name=None, valid=True)
                    )
                    record_archived(session, interchange_id, f"outbound/{interchange_id}")
                    name = gated.file_name or f"{interchange_id}.x12"
                    files.append((interchange_id, name, data, gated.claim_count))
        with phase("record_uploaded").timed(), session_scope(engine) as session:
            for interchange_id, name, _, count in files:
                record_uploaded(session, interchange_id, name, now, source="upload")
                phase("record_uploaded").items += count

        # The sandbox's 999s and 277CAs for the 837s.
        counts = {interchange_id: count for interchange_id, _, _, count in files}
        for _, name, data, _ in files:
            sandbox.process(account, name, data, now)
        for path in sorted(set(_answers(paths.sandbox_root / account)) - answered):
            data = path.read_bytes()
            if b"ST*999*" in data:
                name = "apply_999"
            elif b"ST*277*" in data:
                name = "apply_277ca"
            else:
                continue
            with phase(name).timed(), session_scope(engine) as session:
                result = apply_acknowledgment_file(
                    session, data, clearinghouse="sandbox", file_name=path.name
                )
            phase(name).items += sum(counts.get(r.interchange_id, 0) for r in result.results_999)
            phase(name).items += sum(
                len(r.accepted_claim_ids) + len(r.rejected_claim_ids) for r in result.results_277ca
            )
    finally:
        gc.unfreeze()
    with session_scope(engine) as session:
        statuses = {
            str(getattr(s, "value", s)): n
            for s, n in session.exec(select(Claim.status, func.count()).group_by(Claim.status))
        }
    engine.dispose()
    backend = "sqlite" if url.startswith("sqlite") else "postgresql"
    figures = []
    for name, timing in phases.items():
        figures.append(
            {
                "name": f"domain.{backend}.{name}",
                "value": round(timing.items / timing.cpu) if timing.cpu else 0,
                "unit": "items/cpu-s",
                "workload": json.dumps(
                    {
                        "practices": practices,
                        "claims": claims,
                        "items": timing.items,
                        "cpu_s": round(timing.cpu, 3),
                        "wall_s": round(timing.wall, 3),
                        "database": backend,
                        "claim_statuses": statuses,
                        "heap_frozen": freeze,
                    },
                    sort_keys=True,
                ),
                "baseline": BASELINE_PER_SECOND,
            }
        )
    return figures


def _answers(account_root: Path) -> list[Path]:
    return [p for p in account_root.rglob("*.x12") if p.is_file()]


def run() -> list[dict[str, Any]]:
    practices = int(os.environ.get("RCM_BENCH_DOMAIN_PRACTICES", "10"))
    claims = int(os.environ.get("RCM_BENCH_DOMAIN_CLAIMS", "2000"))
    figures = measure(practices, claims)
    for figure in figures:
        print(json.dumps(figure), flush=True)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--practices", type=int, default=10)
    parser.add_argument("--claims", type=int, default=10_000)
    parser.add_argument("--database", default="sqlite", help="sqlite, postgres or a URL")
    parser.add_argument(
        "--no-freeze", action="store_true", help="leave the setup's heap to the collector"
    )
    args = parser.parse_args()
    for figure in measure(args.practices, args.claims, args.database, freeze=not args.no_freeze):
        print(json.dumps(figure), flush=True)


if __name__ == "__main__":
    main()
