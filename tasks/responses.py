"""Inbound clearinghouse files: whose they are, processing one file of one kind (one domain call,
one transaction), and quarantining what cannot be processed.

Bad data is an outcome, not an exception: a file the domain refuses (X12 it cannot read, an
ERA that does not balance, an answer to nothing we sent) comes back as ``refused`` with the
domain's message, so it is quarantined once and never retried. A file recorded before comes
back as ``duplicate``. Only infrastructure faults raise (and database ones are retried).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from rcm.errors import RcmError
from tasks._runtime import DATABASE_TASK_OPTIONS, domain_function, require, transaction

# Where each kind is processed: (module, function). Each records the inbound Interchange keyed
# by (clearinghouse, sha256) in the same transaction as its effects.
HANDLERS: dict[str, tuple[str, str]] = {
    "835": ("rcm.posting", "post_835_file"),
    "999": ("rcm.acknowledgments", "apply_acknowledgment_file"),
    "277CA": ("rcm.acknowledgments", "apply_acknowledgment_file"),
    "271": ("rcm.eligibility", "apply_271"),
}


def handler_available(kind: str | None) -> bool:
    spec = HANDLERS.get(kind or "")
    return spec is not None and domain_function(*spec) is not None


@task(name="identify-files-practices", cache_policy=NO_CACHE, **DATABASE_TASK_OPTIONS)
def identify_practices(files: list[tuple[str, bytes, str]]) -> list[uuid.UUID | str | None]:
    """`identify_practice` for a batch of (kind, data, file name)."""
    from rcm.reports.routing import practice_of_inbound

    out: list[uuid.UUID | str | None] = []
    with transaction() as session:
        for kind, data, file_name in files:
            try:
                out.append(practice_of_inbound(session, kind, data, file_name=file_name))
            except RcmError as exc:
                out.append(f"{type(exc).__name__}: {exc}")
    return out


@task(name="inbound-files-seen-before", cache_policy=NO_CACHE, **DATABASE_TASK_OPTIONS)
def seen_before(clearinghouse: str, sha256s: list[str]) -> set[str]:
    """Which of these digests the clearinghouse sent us before (any status, any practice)."""
    from rcm.reports.worklists import inbound_by_sha256

    with transaction() as session:
        return {
            sha
            for sha in set(sha256s)
            if inbound_by_sha256(session, clearinghouse=clearinghouse, sha256=sha) is not None
        }


@dataclass(frozen=True)
class InboundOutcome:
    kind: str
    file_name: str
    status: str  # processed | duplicate | refused
    interchange_id: uuid.UUID | None = None
    error: str | None = None
    counts: dict[str, int] = field(default_factory=dict)


def _remember_archive_key(session: Any, interchange_id: uuid.UUID | None, key: str) -> None:
    """Where the file's bytes are kept, on its Interchange row (for handlers that do not take
    the key themselves)."""
    from rcm.models import Interchange

    row = session.get(Interchange, interchange_id) if interchange_id else None
    if row is not None and not row.archive_key:
        row.archive_key = key
        session.add(row)
        session.flush()


def _apply(
    kind: str,
    session: Any,
    data: bytes,
    *,
    clearinghouse: str,
    file_name: str,
    practice_id: uuid.UUID,
    archive_key: str,
    today: date,
) -> tuple[uuid.UUID | None, dict[str, int]] | None:
    """Run the kind's domain function; None when the file was recorded before."""
    function = domain_function(*HANDLERS[kind])
    if function is None:
        raise RuntimeError(f"no handler for {kind} files in this build")
    if kind == "835":
        posted = function(
            session,
            data,
            clearinghouse=clearinghouse,
            file_name=file_name,
            practice_id=practice_id,
            archive_key=archive_key,
            today=today,
        )
        counts = {"remittances": len(posted.remittances)}
        for name in ("claim_payments", "denials", "reversals", "secondary_claims", "unmatched"):
            counts[name] = sum(int(getattr(r, name, 0) or 0) for r in posted.remittances)
        return posted.interchange_id, counts
    if kind in ("999", "277CA"):
        acked = function(session, data, clearinghouse=clearinghouse, file_name=file_name)
        _remember_archive_key(session, acked.interchange_id, archive_key)
        return acked.interchange_id, {
            "groups_acknowledged": len(acked.results_999),
            "claims_rejected": sum(len(r.rejected_claim_ids) for r in acked.results_999)
            + sum(len(r.rejected_claim_ids) for r in acked.results_277ca),
            "claims_accepted": sum(len(r.accepted_claim_ids) for r in acked.results_277ca),
        }
    record_inbound = require("rcm.eligibility", "record_inbound")
    row, new = record_inbound(
        session,
        practice_id=practice_id,
        clearinghouse=clearinghouse,
        data=data,
        file_name=file_name,
    )
    if not new:
        return None
    _remember_archive_key(session, row.id, archive_key)
    applied = function(session, practice_id=practice_id, data=data, interchange_id=row.id)
    return row.id, {"answers_matched": applied.matched, "answers_unmatched": applied.unmatched}


@task(name="process-inbound-file", cache_policy=NO_CACHE, **DATABASE_TASK_OPTIONS)
def process_file(
    kind: str,
    data: bytes,
    *,
    clearinghouse: str,
    file_name: str,
    practice_id: uuid.UUID,
    archive_key: str,
    today: date,
) -> InboundOutcome:
    """Process one 999, 277CA, 835 or 271 with its domain function, all or nothing."""
    try:
        with transaction() as session:
            applied = _apply(
                kind,
                session,
                data,
                clearinghouse=clearinghouse,
                file_name=file_name,
                practice_id=practice_id,
                archive_key=archive_key,
                today=today,
            )
    except RcmError as exc:
        if type(exc).__name__.startswith("Duplicate"):
            return InboundOutcome(kind, file_name, "duplicate", error=str(exc))
        return InboundOutcome(kind, file_name, "refused", error=f"{type(exc).__name__}: {exc}")
    if applied is None:
        return InboundOutcome(kind, file_name, "duplicate")
    interchange_id, counts = applied
    return InboundOutcome(kind, file_name, "processed", interchange_id, counts=counts)


@dataclass(frozen=True)
class InboundJob:
    kind: str
    file_name: str
    data: bytes
    archive_key: str


@dataclass(frozen=True)
class PracticeFiles:
    """One practice's files of a collection, in the order they are processed."""

    practice_id: uuid.UUID
    jobs: list[InboundJob]


@task(name="process-inbound-files", cache_policy=NO_CACHE, **DATABASE_TASK_OPTIONS)
def process_files(
    batches: list[PracticeFiles], *, clearinghouse: str, today: date
) -> list[list[InboundOutcome]]:
    """`process_file` for every practice's files of one clearinghouse account, in order, each
    file in its own transaction; one task run for the account, not one per practice. A retried
    batch finds the files it processed before recorded, and skips them."""
    return [
        [
            process_file.fn(
                job.kind,
                job.data,
                clearinghouse=clearinghouse,
                file_name=job.file_name,
                practice_id=batch.practice_id,
                archive_key=job.archive_key,
                today=today,
            )
            for job in batch.jobs
        ]
        for batch in batches
    ]


@task(name="quarantine-inbound-file", cache_policy=NO_CACHE, **DATABASE_TASK_OPTIONS)
def quarantine_file(
    data: bytes,
    *,
    clearinghouse: str,
    practice_id: uuid.UUID,
    kind: str,
    error: str,
    file_name: str,
    archive_key: str,
) -> uuid.UUID:
    """Record the file as quarantined (with the reason) so it is never processed again."""
    from rcm.models import InterchangeKind
    from rcm.posting.files import quarantine_inbound_file

    with transaction() as session:
        row = quarantine_inbound_file(
            session,
            data,
            clearinghouse=clearinghouse,
            practice_id=practice_id,
            kind=InterchangeKind(kind),
            error=error[:4000],
            file_name=file_name,
            archive_key=archive_key,
        )
        return row.id


__all__ = [
    "HANDLERS",
    "InboundJob",
    "InboundOutcome",
    "PracticeFiles",
    "handler_available",
    "identify_practices",
    "process_file",
    "process_files",
    "quarantine_file",
    "seen_before",
]
