"""Eligibility tasks: build the 270 for the coming appointments, rebuild an unsent one, and
record its archive and upload. Each is one database transaction."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from tasks._runtime import DATABASE_TASK_OPTIONS, domain_function, require, transaction


@dataclass(frozen=True)
class Unsent270:
    interchange_id: uuid.UUID
    status: str
    file_name: str
    sha256: str | None
    archive_key: str | None
    created_at: datetime
    inquiries: int
    data: bytes | None


@dataclass(frozen=True)
class InquirySummary:
    interchange_id: uuid.UUID | None
    checks_created: int
    checks_reused: int
    appointments_skipped: int
    # Every 270 of the practice waiting to be sent, this one included.
    unsent: list[Unsent270] = field(default_factory=list)


@task(name="build-270", cache_policy=NO_CACHE, **DATABASE_TASK_OPTIONS)
def build_270(
    practice_id: uuid.UUID,
    practice: str,
    clearinghouse: str,
    submitter_id: str,
    date_from: date,
    date_to: date,
    now: datetime,
    source: str,
) -> InquirySummary:
    """Eligibility checks for the appointments in [date_from, date_to] and one 270 holding
    those not asked before (rcm.eligibility.build_270), with every 270 of the practice still
    waiting to be sent (an earlier run's too)."""
    from tasks.claims import envelope_settings

    build = require("rcm.eligibility", "build_270")
    with transaction() as session:
        batch = build(
            session,
            practice_id=practice_id,
            date_from=date_from,
            date_to=date_to,
            profile_name=clearinghouse,
            envelope=envelope_settings(clearinghouse, submitter_id),
            now=now,
            source=source,
        )
        built = {batch.interchange.id: batch.data} if batch.interchange and batch.data else {}
        return InquirySummary(
            interchange_id=batch.interchange.id if batch.interchange else None,
            checks_created=len(batch.created),
            checks_reused=len(batch.reused),
            appointments_skipped=len(batch.skipped),
            unsent=_unsent(session, practice_id, practice, built),
        )


@task(name="unsent-270s", cache_policy=NO_CACHE, **DATABASE_TASK_OPTIONS)
def unsent_270s(practice_id: uuid.UUID, practice: str) -> list[Unsent270]:
    """270 interchanges built but not uploaded, with their bytes rebuilt (byte for byte) when
    they were not archived yet."""
    with transaction() as session:
        return _unsent(session, practice_id, practice, {})


def _unsent(
    session: Any, practice_id: uuid.UUID, practice: str, built: dict[uuid.UUID, bytes]
) -> list[Unsent270]:
    """The practice's unsent 270s; `built` holds bytes just built, which are not built again."""
    from rcm.batching import envelope_of, file_name_for
    from rcm.models import Interchange, InterchangeKind
    from rcm.reports.worklists import unsent_interchanges

    build_bytes = require("rcm.eligibility", "build_270_bytes")
    out: list[Unsent270] = []
    for interchange_id in unsent_interchanges(
        session, practice_id=practice_id, kinds=[InterchangeKind.ELIGIBILITY_270]
    ):
        row = session.get(Interchange, interchange_id)
        assert row is not None
        status = str(getattr(row.status, "value", row.status))
        name = row.file_name or file_name_for(row, envelope_of(session, row), practice)
        data = None
        if not row.archive_key:
            data = built.get(row.id) or build_bytes(session, row.id)
        out.append(
            Unsent270(
                interchange_id=row.id,
                status=status,
                file_name=name,
                sha256=row.sha256,
                archive_key=row.archive_key,
                created_at=row.created_at,
                inquiries=row.claim_count,
                data=data,
            )
        )
    return out


# The eligibility module does not record the archive and the upload of a 270 (rcm.batching's
# record_* take 837s only). Until it does, these two tasks set the interchange's archive key,
# file name and status themselves: without that, every run would send the same 270 again.


@task(name="record-270-archived", cache_policy=NO_CACHE, **DATABASE_TASK_OPTIONS)
def record_archived(interchange_id: uuid.UUID, archive_key: str) -> None:
    domain = domain_function("rcm.eligibility", "record_archived")
    with transaction() as session:
        if domain is not None:
            domain(session, interchange_id, archive_key)
            return
        row = _outbound_270(session, interchange_id)
        if row.archive_key and row.archive_key != archive_key:
            raise RuntimeError(f"interchange {interchange_id} is archived under another key")
        row.archive_key = archive_key
        if str(getattr(row.status, "value", row.status)) == "built":
            row.status = "archived"
        session.add(row)


@task(name="record-270-uploaded", cache_policy=NO_CACHE, **DATABASE_TASK_OPTIONS)
def record_uploaded(interchange_id: uuid.UUID, remote_name: str, at: datetime, source: str) -> int:
    domain = domain_function("rcm.eligibility", "record_uploaded")
    with transaction() as session:
        if domain is not None:
            row = domain(session, interchange_id, remote_name, at, source=source)
            return int(row.claim_count)
        row = _outbound_270(session, interchange_id)
        if str(getattr(row.status, "value", row.status)) != "uploaded":
            row.status = "uploaded"
            row.uploaded_at = at
            row.file_name = remote_name
            session.add(row)
        return int(row.claim_count)


def _outbound_270(session: Any, interchange_id: uuid.UUID) -> Any:
    from rcm.models import Direction, Interchange, InterchangeKind

    row = session.get(Interchange, interchange_id)
    if (
        row is None
        or row.direction != Direction.OUTBOUND
        or row.kind != InterchangeKind.ELIGIBILITY_270
    ):
        raise RuntimeError(f"no outbound 270 interchange {interchange_id}")
    return row


__all__ = [
    "InquirySummary",
    "Unsent270",
    "build_270",
    "record_archived",
    "record_uploaded",
    "unsent_270s",
]
