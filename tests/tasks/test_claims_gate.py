"""tasks.claims.build_and_gate_many: many interchanges (several practices) built and gated in
one transaction, validated on the process pool or in-process, with the same outcomes as the
per-interchange task."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, select
from sqlmodel import Session, col

from rcm.models import Claim, ClaimEdit, ClaimStatus, ClaimType, EditSeverity, Interchange, Payer
from tasks._validation_pool import shutdown_validation_pool
from tasks.claims import BuiltFile, build_and_gate, build_and_gate_many
from tests.rcm.claims.test_create import Clinic
from tests.rcm.test_batching import assert_clean, assign, make_ready


def _world(engine: Engine, prefix: str = "") -> list[uuid.UUID]:
    """Two practices: northside with two good professional files and an institutional one,
    southside with one file pyx12 refuses (SBR09 "XX")."""
    with Session(engine) as session:
        north = Clinic(session, slug=f"{prefix}northside")
        for _ in range(3):
            patient, coverage = north.patient()
            north.encounter(patient, coverage)
        patient, coverage = north.patient()
        north.encounter(
            patient, coverage, claim_type=ClaimType.INSTITUTIONAL, lines=(("97110", "300.00", ()),)
        )
        south = Clinic(session, slug=f"{prefix}southside")
        bad_payer = session.execute(
            select(Payer).where(col(Payer.key) == "bad-plan")
        ).scalar_one_or_none() or Payer(
            key="bad-plan", name="BAD PLAN", payer_id="33333", claim_filing_indicator="XX"
        )
        session.add(bad_payer)
        session.flush()
        good_patient, good_coverage = south.patient()
        south.encounter(good_patient, good_coverage, external_id="GOOD")
        bad_patient, bad_coverage = south.patient()
        bad_coverage.payer_id = bad_payer.id
        session.add(bad_coverage)
        south.encounter(bad_patient, bad_coverage, external_id="BAD")
        make_ready(session, north)
        make_ready(session, south)
        ids = [i.id for i in assign(session, north, max_claims_per_file=2)]
        ids += [i.id for i in assign(session, south)]
        session.commit()
    return ids


def _summary(engine: Engine, built: list[BuiltFile]) -> list[tuple[object, ...]]:
    with Session(engine) as session:
        out = []
        for file in built:
            row = session.get(Interchange, file.interchange_id)
            assert row is not None and row.status.value == file.status
            edits = sorted(
                (e.rule_id, e.severity.value, e.field or "")
                for e in session.execute(select(ClaimEdit)).scalars()
                if e.claim_id in set(file.held_claim_ids)
            )
            out.append((file.kind, file.status, file.claim_count, len(file.held_claim_ids), edits))
        return out


@pytest.fixture(params=["0", "2"], ids=["in-process", "pool"])
def workers(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("RCM_VALIDATION_WORKERS", request.param)
    monkeypatch.setenv("RCM_VALIDATION_INLINE_BYTES", "0")  # ship even small files
    shutdown_validation_pool()
    yield request.param
    shutdown_validation_pool()


def test_many_interchanges_gated_in_one_task(engine: Engine, workers: str) -> None:
    ids = _world(engine)
    built = build_and_gate_many.fn(ids, "test-run")
    assert [b.interchange_id for b in built] == ids
    assert [(b.kind, b.status, b.claim_count) for b in built] == [
        ("837P", "built", 2),
        ("837P", "built", 1),
        ("837I", "built", 1),
        ("837P", "rejected", 2),
    ]
    for file in built[:3]:
        assert file.passed and file.data is not None and file.sha256 and file.file_name
        assert_clean(file.data)
    rejected = built[3]
    assert not rejected.passed and rejected.data is None and rejected.errors >= 1
    assert len(rejected.held_claim_ids) == 2
    with Session(engine) as session:
        edits = session.execute(select(ClaimEdit)).scalars().all()
        assert {e.claim_id for e in edits} == set(rejected.held_claim_ids)
        assert any(e.severity is EditSeverity.ERROR and e.field == "SBR09" for e in edits)
        statuses = {c.id: c.status for c in session.execute(select(Claim)).scalars()}
    assert {statuses[i] for i in rejected.held_claim_ids} == {ClaimStatus.HELD}
    assert sum(s is ClaimStatus.BATCHED for s in statuses.values()) == 4


def test_same_outcomes_as_the_per_interchange_task(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = _world(engine)
    one_by_one = [build_and_gate.fn(i, "test-run") for i in ids]
    # The same world again (other practices), through the pool.
    monkeypatch.setenv("RCM_VALIDATION_WORKERS", "2")
    monkeypatch.setenv("RCM_VALIDATION_INLINE_BYTES", "0")
    shutdown_validation_pool()
    try:
        many = build_and_gate_many.fn(_world(engine, "again-"), "test-run")
    finally:
        shutdown_validation_pool()
    expected = _summary(engine, one_by_one)
    assert expected[3][1] == "rejected"
    assert _summary(engine, many) == expected


def test_nothing_to_gate(engine: Engine) -> None:
    assert build_and_gate_many.fn([], "test-run") == []


def test_same_retry_options_as_the_single_task() -> None:
    for option in ("retries", "retry_condition_fn", "retry_jitter_factor", "cache_policy"):
        assert getattr(build_and_gate_many, option) == getattr(build_and_gate, option)
    assert build_and_gate_many.name == "build-and-gate-837-many"
