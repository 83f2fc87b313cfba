"""Claim tasks: create, scrub, batch, build, and record what happened to an interchange. Each
is one domain call in one database transaction."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from tasks._runtime import DATABASE_TASK_OPTIONS, require, transaction


@dataclass(frozen=True)
class CreatedClaims:
    created: int
    skipped: int
    total_charge: str
    work_items: int


@task(name="create-claims", cache_policy=NO_CACHE, **DATABASE_TASK_OPTIONS)
def create_claims(practice_id: uuid.UUID, today: date, source: str) -> CreatedClaims:
    """Every encounter without a claim becomes a DRAFT claim (rcm.claims.create)."""
    create = require("rcm.claims.create", "create_claims")
    with transaction() as session:
        result = create(session, practice_id=practice_id, today=today, source=source)
    return CreatedClaims(
        created=len(result.created),
        skipped=len(result.skipped),
        total_charge=str(result.total_charge),
        work_items=int(result.work_items),
    )


@dataclass(frozen=True)
class ScrubSummary:
    scrubbed: int
    ready: int
    held: list[uuid.UUID] = field(default_factory=list)
    by_rule: dict[str, int] = field(default_factory=dict)


@task(name="scrub-claims", cache_policy=NO_CACHE, **DATABASE_TASK_OPTIONS)
def scrub_claims(practice_id: uuid.UUID, today: date, source: str) -> ScrubSummary:
    """Scrub every DRAFT claim: HELD with findings, or READY (rcm.scrub)."""
    scrub = require("rcm.scrub", "scrub_claims")
    with transaction() as session:
        outcome = scrub(session, practice_id=practice_id, today=today, source=source)
    return ScrubSummary(
        scrubbed=outcome.scrubbed,
        ready=len(outcome.ready),
        held=list(outcome.held),
        by_rule=dict(outcome.by_rule),
    )


def envelope_settings(clearinghouse: str, submitter_id: str) -> Any:
    """The batching envelope settings from the clearinghouse profile (plain values, because
    the domain never reads profiles)."""
    from rcm.batching import EnvelopeSettings
    from tasks.clearinghouse import clearinghouse_profile

    profile = clearinghouse_profile(clearinghouse)
    env = profile.envelope
    return EnvelopeSettings(
        sender_id=env.sender_id,
        receiver_id=env.receiver_id,
        sender_qualifier=env.sender_qualifier,
        receiver_qualifier=env.receiver_qualifier,
        application_sender=env.gs_sender_id,
        application_receiver=env.gs_receiver_id,
        usage=env.usage_indicator,
        submitter_id=submitter_id or None,
        file_name_template=profile.outbound_name_template,
    )


@task(name="assign-batches", cache_policy=NO_CACHE, **DATABASE_TASK_OPTIONS)
def assign_batches(
    practice_id: uuid.UUID,
    clearinghouse: str,
    submitter_id: str,
    now: datetime,
    source: str,
    claim_ids: list[uuid.UUID] | None = None,
) -> list[uuid.UUID]:
    """Put READY claims into new 837 interchanges and allocate their control numbers, in one
    transaction (rcm.batching.assign_batches)."""
    from tasks.clearinghouse import clearinghouse_profile

    assign = require("rcm.batching", "assign_batches")
    profile = clearinghouse_profile(clearinghouse)
    with transaction() as session:
        created = assign(
            session,
            practice_id=practice_id,
            profile_name=clearinghouse,
            envelope=envelope_settings(clearinghouse, submitter_id),
            max_claims_per_file=profile.max_claims_per_file,
            now=now,
            source=source,
            claim_ids=claim_ids,
        )
        return [interchange.id for interchange in created]


@dataclass(frozen=True)
class BuiltFile:
    """An outbound file ready to archive and upload (or a file the pyx12 gate refused)."""

    interchange_id: uuid.UUID
    kind: str
    status: str
    file_name: str | None
    sha256: str | None
    archive_key: str | None
    created_at: datetime
    claim_count: int
    data: bytes | None
    held_claim_ids: list[uuid.UUID] = field(default_factory=list)
    errors: int = 0

    @property
    def passed(self) -> bool:
        return self.status != "rejected"


@task(name="pending-claim-interchanges", cache_policy=NO_CACHE, **DATABASE_TASK_OPTIONS)
def pending_interchanges(practice_id: uuid.UUID) -> list[BuiltFile]:
    """837 interchanges assigned, built or archived but not uploaded: what a rerun resumes
    (without their bytes)."""
    pending = require("rcm.batching", "pending_interchanges")
    with transaction() as session:
        return [
            _built(session, i.id, None, [], 0) for i in pending(session, practice_id=practice_id)
        ]


@task(name="build-and-gate-837", cache_policy=NO_CACHE, **DATABASE_TASK_OPTIONS)
def build_and_gate(interchange_id: uuid.UUID, source: str) -> BuiltFile:
    """Build the 837 of an assigned interchange and put it through the pyx12 gate: built
    (sha256 and file name recorded) or rejected (its claims held with the errors)."""
    build = require("rcm.batching", "build_and_gate")
    with transaction() as session:
        outcome = build(session, interchange_id, source=source)
        return _built(session, interchange_id, outcome.data, outcome.held_claim_ids, outcome.errors)


@task(name="build-and-gate-837-many", cache_policy=NO_CACHE, **DATABASE_TASK_OPTIONS)
def build_and_gate_many(
    interchange_ids: list[uuid.UUID], source: str, record: bool = True
) -> list[BuiltFile]:
    """`build_and_gate` for many assigned interchanges (any practices) in one transaction: the
    files are built here and validated on the process pool (tasks._validation_pool, every
    core; in this process when RCM_VALIDATION_WORKERS=0), then each is recorded built or
    rejected. Results in the order of `interchange_ids`.

    `record=False` only starts the gate: the files are built (nothing is written) and handed
    to the pool, and the call returns [] without waiting, so the caller's next steps (the
    next practice's claims and files) run while the pool validates. The recording call for
    the same interchanges, in this process, then waits only for what the pool has not
    finished; an interchange whose gate was not started here is built and validated by it."""
    from tasks._validation_pool import started_gates, validation_executor

    if not interchange_ids:
        return []
    executor = validation_executor()
    if executor is None:  # validated in this process: nothing to overlap
        if not record:
            return []
        build_all = require("rcm.batching", "build_and_gate_all")
        with transaction() as session:
            outcomes = build_all(session, list(interchange_ids), source=source)
            return [
                _built(session, o.interchange_id, o.data, o.held_claim_ids, o.errors)
                for o in outcomes
            ]
    start = require("rcm.batching", "start_gate")
    started = started_gates()
    if not record:
        with transaction() as session:
            started.put(start(session, list(interchange_ids), executor=executor))
        return []
    finish = require("rcm.batching", "finish_gate")
    tickets = {i: t for i in interchange_ids if (t := started.take(i)) is not None}
    with transaction() as session:
        missing = [i for i in interchange_ids if i not in tickets]
        if missing:
            tickets.update(zip(missing, start(session, missing, executor=executor), strict=True))
        outcomes = finish(session, [tickets[i] for i in interchange_ids], source=source)
        return [
            _built(session, o.interchange_id, o.data, o.held_claim_ids, o.errors) for o in outcomes
        ]


@task(name="rebuild-837", cache_policy=NO_CACHE, **DATABASE_TASK_OPTIONS)
def rebuild(interchange_id: uuid.UUID) -> BuiltFile:
    """An interchange built by an earlier run: its bytes again, byte for byte (the same
    control numbers; the domain refuses if the rows changed since)."""
    build_bytes = require("rcm.batching", "build_interchange_bytes")
    with transaction() as session:
        data = build_bytes(session, interchange_id)
        return _built(session, interchange_id, data, [], 0)


def _built(
    session: Any,
    interchange_id: uuid.UUID,
    data: bytes | None,
    held: list[uuid.UUID],
    errors: int,
) -> BuiltFile:
    from rcm.models import Interchange

    row = session.get(Interchange, interchange_id)
    return BuiltFile(
        interchange_id=row.id,
        kind=str(getattr(row.kind, "value", row.kind)),
        status=str(getattr(row.status, "value", row.status)),
        file_name=row.file_name,
        sha256=row.sha256,
        archive_key=row.archive_key,
        created_at=row.created_at,
        claim_count=row.claim_count,
        data=data,
        held_claim_ids=list(held),
        errors=errors,
    )


@task(name="record-interchange-archived", cache_policy=NO_CACHE, **DATABASE_TASK_OPTIONS)
def record_archived(interchange_id: uuid.UUID, archive_key: str) -> None:
    record = require("rcm.batching", "record_archived")
    with transaction() as session:
        record(session, interchange_id, archive_key)


@task(name="record-interchange-uploaded", cache_policy=NO_CACHE, **DATABASE_TASK_OPTIONS)
def record_uploaded(interchange_id: uuid.UUID, remote_name: str, at: datetime, source: str) -> int:
    """Claims BATCHED → SUBMITTED; idempotent. Returns the claims in the file."""
    record = require("rcm.batching", "record_uploaded")
    with transaction() as session:
        row = record(session, interchange_id, remote_name, at, source=source)
        return int(row.claim_count)


__all__ = [
    "BuiltFile",
    "CreatedClaims",
    "ScrubSummary",
    "assign_batches",
    "build_and_gate",
    "build_and_gate_many",
    "create_claims",
    "envelope_settings",
    "pending_interchanges",
    "rebuild",
    "record_archived",
    "record_uploaded",
    "scrub_claims",
]
