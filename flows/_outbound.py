"""Sending one built outbound file: archive it, record the key, upload it, record the upload.

Every step is idempotent, so a rerun resumes where the last run stopped: the archive returns
the existing object for the same bytes, the upload is a no-op when the clearinghouse already
holds those bytes under that name, and the record steps change nothing the second time.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from connectors.archive import archive_key
from rcm.models.types import utcnow
from tasks.archive import archive_bytes, read_archived
from tasks.clearinghouse import on_account, upload_file


@dataclass(frozen=True)
class SentFile:
    interchange_id: uuid.UUID
    kind: str
    file_name: str
    archive_key: str
    claims: int


def send_built_file(
    *,
    practice: str,
    clearinghouse: str,
    interchange_id: uuid.UUID,
    kind: str,
    file_name: str,
    sha256: str,
    created_at: datetime,
    data: bytes | None,
    existing_archive_key: str | None,
    record_archived: Any,
    record_uploaded: Any,
    source: str,
) -> SentFile:
    """Archive (unless archived before), then upload, recording each step on the interchange.
    `record_archived(interchange_id, key)` and `record_uploaded(interchange_id, name, at,
    source)` are the domain's record tasks for this kind of file."""
    if existing_archive_key:
        key = existing_archive_key
        if data is None:
            data = read_archived(key)
    else:
        if data is None:
            raise RuntimeError(f"interchange {interchange_id}: no bytes to archive")
        key = archive_bytes(
            archive_key(practice, "outbound", kind, created_at, sha256, file_name),
            data,
            {"interchange-id": str(interchange_id), "kind": kind},
        )
        record_archived(interchange_id, key)
    on_account(upload_file, clearinghouse)(clearinghouse, file_name, data)
    claims = record_uploaded(interchange_id, file_name, utcnow(), source)
    return SentFile(interchange_id, kind, file_name, key, int(claims or 0))


Recorder = Callable[..., Any]

__all__ = ["SentFile", "send_built_file"]
