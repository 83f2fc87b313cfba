"""Sending built outbound files (837s, 270s): archive them, record the keys, upload them, record
the uploads, in batches: one archive task for all the files, one SFTP session per clearinghouse
account, one database transaction per record step.

Every step is idempotent, so a rerun resumes where the last run stopped: the archive returns
the existing object for the same bytes, the upload is a no-op when the clearinghouse already
holds those bytes under that name, and the record steps change nothing the second time.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from prefect.utilities.annotations import quote

from connectors.archive import archive_key
from rcm.logging import logger
from rcm.models.types import utcnow
from tasks.archive import archive_many, read_archived
from tasks.clearinghouse import on_account, upload_files
from tasks.outbound import (
    ArchivedFile,
    UploadedFile,
    record_files_archived,
    record_files_uploaded,
)


@dataclass(frozen=True)
class OutboundFile:
    """A built file waiting to be sent (data None when only the archive holds its bytes)."""

    practice: str
    clearinghouse: str
    interchange_id: uuid.UUID
    kind: str
    file_name: str
    sha256: str
    created_at: datetime
    data: bytes | None
    archive_key: str | None


@dataclass(frozen=True)
class SentFile:
    practice: str
    interchange_id: uuid.UUID
    kind: str
    file_name: str
    archive_key: str
    claims: int


@dataclass
class SendResult:
    sent: list[SentFile] = field(default_factory=list)
    # practice slug -> what could not be sent, one message per file
    failures: dict[str, list[str]] = field(default_factory=dict)


def send_files(files: list[OutboundFile], *, source: str) -> SendResult:
    """Archive (unless archived before) and upload `files`; one upload batch per clearinghouse
    account. A failed account's files stay archived and unsent, reported per practice, for the
    next run to finish; the other accounts' files are sent."""
    result = SendResult()
    if not files:
        return result
    data: dict[uuid.UUID, bytes] = {}
    keys: dict[uuid.UUID, str] = {}
    to_archive: list[OutboundFile] = []
    for item in files:
        if item.archive_key:
            keys[item.interchange_id] = item.archive_key
            data[item.interchange_id] = (
                item.data if item.data is not None else read_archived(item.archive_key)
            )
        elif item.data is None:
            raise RuntimeError(f"interchange {item.interchange_id}: no bytes to archive")
        else:
            to_archive.append(item)
            data[item.interchange_id] = item.data
    if to_archive:
        stored = archive_many(
            quote(
                [
                    (
                        archive_key(
                            f.practice, "outbound", f.kind, f.created_at, f.sha256, f.file_name
                        ),
                        data[f.interchange_id],
                        {"interchange-id": str(f.interchange_id), "kind": f.kind},
                    )
                    for f in to_archive
                ]
            )
        )
        record_files_archived(
            quote(
                [
                    ArchivedFile(f.kind, f.interchange_id, key)
                    for f, key in zip(to_archive, stored, strict=True)
                ]
            )
        )
        keys.update({f.interchange_id: key for f, key in zip(to_archive, stored, strict=True)})

    by_account: dict[str, list[OutboundFile]] = defaultdict(list)
    for item in files:
        by_account[item.clearinghouse].append(item)
    for clearinghouse, batch in by_account.items():
        try:
            on_account(upload_files, clearinghouse)(
                clearinghouse, quote([(f.file_name, data[f.interchange_id]) for f in batch])
            )
            at = utcnow()
            counts = record_files_uploaded(
                quote([UploadedFile(f.kind, f.interchange_id, f.file_name, at) for f in batch]),
                source,
            )
        except Exception as exc:
            logger.error("sending {} file(s) to {} failed: {}", len(batch), clearinghouse, exc)
            for f in batch:
                result.failures.setdefault(f.practice, []).append(
                    f"{f.kind} interchange {f.interchange_id}: {exc}"
                )
            continue
        result.sent += [
            SentFile(
                f.practice,
                f.interchange_id,
                f.kind,
                f.file_name,
                keys[f.interchange_id],
                counts.get(f.interchange_id, 0),
            )
            for f in batch
        ]
    return result


__all__ = ["OutboundFile", "SendResult", "SentFile", "send_files"]
