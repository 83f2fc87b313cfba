"""Recording what happened to outbound files (837s and 270s) in batches: archived, uploaded.

Each task is one database transaction around the kind's own domain call
(`rcm.batching.record_archived`/`record_uploaded` for 837s, `rcm.eligibility`'s for 270s),
repeated for every file of the batch. The domain calls are idempotent, so a retried or rerun
batch changes nothing for files it recorded before.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from prefect import task
from prefect.cache_policies import NO_CACHE

from tasks._runtime import DATABASE_TASK_OPTIONS, require, transaction

# Which domain module records each kind of outbound file.
RECORDING_MODULES = {"837P": "rcm.batching", "837I": "rcm.batching", "270": "rcm.eligibility"}


def _module(kind: str) -> str:
    try:
        return RECORDING_MODULES[kind]
    except KeyError:
        raise ValueError(f"no recording step for outbound {kind} files") from None


@dataclass(frozen=True)
class ArchivedFile:
    kind: str
    interchange_id: uuid.UUID
    archive_key: str


@dataclass(frozen=True)
class UploadedFile:
    kind: str
    interchange_id: uuid.UUID
    remote_name: str
    at: datetime


@task(name="record-files-archived", cache_policy=NO_CACHE, **DATABASE_TASK_OPTIONS)
def record_files_archived(files: list[ArchivedFile]) -> int:
    """Each interchange's archive key (built → archived)."""
    with transaction() as session:
        for item in files:
            require(_module(item.kind), "record_archived")(
                session, item.interchange_id, item.archive_key
            )
    return len(files)


@task(name="record-files-uploaded", cache_policy=NO_CACHE, **DATABASE_TASK_OPTIONS)
def record_files_uploaded(files: list[UploadedFile], source: str) -> dict[uuid.UUID, int]:
    """Each interchange uploaded (its 837 claims BATCHED → SUBMITTED). Returns the claims (or
    inquiries) in each file."""
    counts: dict[uuid.UUID, int] = {}
    with transaction() as session:
        for item in files:
            row = require(_module(item.kind), "record_uploaded")(
                session, item.interchange_id, item.remote_name, item.at, source=source
            )
            counts[item.interchange_id] = int(row.claim_count)
    return counts


__all__ = [
    "RECORDING_MODULES",
    "ArchivedFile",
    "UploadedFile",
    "record_files_archived",
    "record_files_uploaded",
]
