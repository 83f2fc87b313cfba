"""Scrub throughput: claims per second through every rule.

`run()` prints one JSON line per figure ({"name", "value", "unit", "workload", "baseline"}):

- scrub_rules: the pure path (ScrubClaim dataclasses, all rules, ICD-10-CM plus generated NCCI
  PTP and MUE tables, a duplicate index over the whole batch) for 100,000 generated claims
  across 100 practices. Baseline: the 10,000 claims/s design target, one core.
- scrub_adapter: scrub_claims on SQLite (bulk load, rules, ClaimEdit rows, transitions and
  ClaimEvents, commit) for a smaller batch.
- codesets_load: building the ICD-10-CM lookup sets once per process.

Sizes can be changed with RCM_BENCH_SCRUB_CLAIMS and RCM_BENCH_SCRUB_DB_CLAIMS.
"""

from __future__ import annotations

import json
import os
import random
import tempfile
import time
import uuid
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from rcm.codesets import CodeSets, icd10cm
from rcm.codesets.mue import MueAdjudication, MueEdit, MueSetting, MueTable
from rcm.codesets.ncci import PtpEdit, PtpSetting, PtpTable
from rcm.identifiers import make_npi
from rcm.scrub.context import DuplicateIndex, EnrollmentIndex, EnrollmentSpan, make_context
from rcm.scrub.model import (
    ScrubAddress,
    ScrubBillingProvider,
    ScrubClaim,
    ScrubCoverage,
    ScrubDiagnosis,
    ScrubLine,
    ScrubPatient,
    ScrubPayer,
    ScrubProvider,
)
from rcm.scrub.registry import RuleSet, all_rules, scrub_claim

TARGET_CLAIMS_PER_SECOND = 10_000
TODAY = date(2026, 3, 15)
PROCEDURES = [
    "99213", "99214", "99203", "20610", "97110", "97140", "97530", "36415", "J1100",
    "93000", "93005", "11042", "97597", "29881", "29877", "G0439", "96372", "81002",
]  # fmt: skip


def _emit(
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


def code_sets() -> CodeSets:
    rng = random.Random(7)
    edits: dict[tuple[str, str], tuple[PtpEdit, ...]] = {}
    # A realistic number of pairs so lookups hit a table of production size.
    pool = [f"{n:05d}" for n in range(10000, 99999, 7)]
    for _ in range(300_000):
        a, b = rng.sample(pool, 2)
        edits[(a, b)] = (PtpEdit(a, b, False, date(2015, 1, 1), None, rng.choice("019"), ""),)
    for a, b, ind in (
        ("20610", "99213", "1"),
        ("93000", "93005", "0"),
        ("97140", "97530", "1"),
        ("29881", "29877", "0"),
        ("11042", "97597", "1"),
    ):
        edits[(a, b)] = (PtpEdit(a, b, False, date(2015, 1, 1), None, ind, ""),)
    mue = MueTable()
    mue.add_version(
        date(2025, 1, 1),
        {
            code: MueEdit(code, 4, MueAdjudication(1 + i % 3), "")
            for i, code in enumerate(PROCEDURES)
        },
    )
    return CodeSets(
        icd10=icd10cm(),
        ptp={PtpSetting.PRACTITIONER: PtpTable(edits)},
        mue={MueSetting.PRACTITIONER: mue},
    )


def make_claims(
    count: int, practices: int = 100, seed: int = 1
) -> tuple[list[ScrubClaim], EnrollmentIndex]:
    rng = random.Random(seed)
    icd = icd10cm()
    billable = sorted(icd.billable)[::50]
    diagnosis_pool = [*billable, "J069", "E11", "Q9999", "W010XXA"]  # some unspecified and bad
    enrollments = EnrollmentIndex()
    payers = [
        ScrubPayer(
            id=uuid.uuid4(),
            key=f"payer-{i}",
            name=f"Payer {i}",
            payer_id=f"P{i:04d}",
            claim_filing_indicator="CI",
            timely_filing_days=365 if i % 3 else 90,
            prior_auth_procedures=frozenset({"29881"}) if i == 0 else frozenset(),
        )
        for i in range(10)
    ]
    sites = []
    for p in range(practices):
        practice_id = uuid.uuid4()
        billing = ScrubBillingProvider(
            npi=make_npi(f"1{p:08d}"),
            tin=f"{10 + p % 80:02d}3456789",
            taxonomy_code="207Q00000X",
            name=f"Practice {p}",
            address=ScrubAddress(f"{p} Main St", "Springfield", "IL", "627010001"),
            submitter_id=f"SUB{p:04d}",
        )
        providers = [
            ScrubProvider(uuid.uuid4(), make_npi(f"2{p:04d}{i:04d}"), "rendering") for i in range(5)
        ]
        for provider in providers:
            for payer in payers:
                enrollments.add(
                    practice_id,
                    payer.id,
                    provider.id,
                    EnrollmentSpan("approved", date(2020, 1, 1), None),
                )
        patients = [
            ScrubPatient(
                uuid.uuid4(),
                "Synthetic",
                f"P{i}",
                date(1950 + i % 60, 1 + i % 12, 1),
                "F" if i % 2 else "M",
                ScrubAddress("1 Elm St", "Springfield", "IL", "62701"),
            )
            for i in range(200)
        ]
        sites.append((practice_id, billing, providers, patients))
    claims = []
    for n in range(count):
        practice_id, billing, providers, patients = sites[n % practices]
        patient = rng.choice(patients)
        dos = TODAY - timedelta(days=rng.randint(1, 330))
        lines = []
        for number in range(1, rng.randint(1, 4) + 1):
            lines.append(
                ScrubLine(
                    number,
                    rng.choice(PROCEDURES),
                    tuple(rng.sample(["25", "59", "LT", "RT", "XU"], rng.randint(0, 1))),
                    Decimal(rng.choice(["1", "1", "1", "2", "5"])),
                    Decimal("125.00"),
                    (1, 2) if number % 2 else (1,),
                    dos,
                )
            )
        diagnoses = [ScrubDiagnosis(i, rng.choice(diagnosis_pool)) for i in range(1, 4)]
        claims.append(
            ScrubClaim(
                id=uuid.uuid4(),
                practice_id=practice_id,
                encounter_id=uuid.uuid4(),
                patient_control_number=f"PCN{n:09d}",
                claim_type="professional",
                frequency_code="1",
                payer_responsibility="P",
                total_charge=Decimal("125.00") * len(lines),
                service_date_from=dos,
                service_date_to=dos,
                billing=billing,
                patient=patient,
                coverage=ScrubCoverage(
                    uuid.uuid4(),
                    1,
                    f"M{n:010d}",
                    "18",
                    eligibility_status=rng.choice(["active"] * 8 + ["unknown", "inactive"]),
                ),
                payer=rng.choice(payers),
                lines=lines,
                diagnoses=diagnoses,
                place_of_service=rng.choice(["11"] * 9 + ["22"]),
                rendering=rng.choice(providers),
            )
        )
    return claims, enrollments


def bench_rules(count: int, repeat: int = 3) -> dict[str, Any]:
    claims, enrollments = make_claims(count)
    sets = code_sets()
    rules = all_rules()
    best = float("inf")
    findings = 0
    for _ in range(repeat):
        started = time.process_time()
        duplicates = DuplicateIndex()
        duplicates.add_claims(claims)
        ctx = make_context(TODAY, code_sets=sets, enrollments=enrollments, duplicates=duplicates)
        findings = 0
        # One RuleSet per batch, as scrub_claims runs them (rules listed once per claim type
        # and payer; billing- and payer-only rules once per billing provider and payer).
        rule_set = RuleSet(rules)
        for claim in claims:
            findings += len(scrub_claim(claim, ctx, rule_set))
        best = min(best, time.process_time() - started)
    return _emit(
        "scrub_rules_claims_per_second",
        round(count / best),
        "claims/s",
        f"{count} generated professional claims (1-4 lines, 3 diagnoses) across 100 practices, "
        f"{len(rules)} rules, 300k-pair PTP table, duplicate index; best CPU time of {repeat}; "
        f"{findings} findings",
        TARGET_CLAIMS_PER_SECOND,
    )


def bench_adapter(count: int) -> dict[str, Any]:
    from connectors.db import make_engine, upgrade
    from rcm.scrub.adapter import scrub_claims

    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        upgrade(url)
        engine = make_engine(url)
        from sqlmodel import Session

        from tests.rcm.scrub.db_builders import ScrubWorld

        with Session(engine) as session:
            world = ScrubWorld(session, slug="bench")
            rng = random.Random(3)
            for n in range(count):
                world.claim(
                    f"B{n:07d}",
                    codes=tuple(rng.sample(PROCEDURES[:8], 2)),
                    diagnoses=(rng.choice(["M17.11", "I10", "E11.9", "J06.9", "E11"]),),
                )
            session.commit()
            practice_id = world.practice.id
        sets = code_sets()
        with Session(engine) as session:
            started = time.perf_counter()
            outcome = scrub_claims(session, practice_id=practice_id, today=TODAY, code_sets=sets)
            session.commit()
            seconds = time.perf_counter() - started
        engine.dispose()
    return _emit(
        "scrub_adapter_claims_per_second",
        round(count / seconds),
        "claims/s",
        f"scrub_claims on SQLite: {count} DRAFT claims (2 lines each) of one practice, bulk load, "
        f"rules, {outcome.errors + outcome.warnings} ClaimEdit rows, {count} transitions with "
        "ClaimEvents, commit; wall time",
        None,
    )


def bench_codesets_load() -> dict[str, Any]:
    icd10cm.cache_clear()
    started = time.perf_counter()
    icd10cm()
    seconds = time.perf_counter() - started
    return _emit(
        "codesets_icd10cm_build_seconds",
        round(seconds, 3),
        "s",
        "ICD-10-CM April 2026 from simple-icd-10-cm into frozensets (billable, headers, "
        "unspecified-with-specific map), once per process",
        None,
    )


def run() -> list[dict[str, Any]]:
    claims = int(os.environ.get("RCM_BENCH_SCRUB_CLAIMS", "100000"))
    db_claims = int(os.environ.get("RCM_BENCH_SCRUB_DB_CLAIMS", "2000"))
    return [bench_codesets_load(), bench_rules(claims), bench_adapter(db_claims)]


if __name__ == "__main__":
    run()
