"""Posting an 835 file as received: one inbound Interchange per (clearinghouse, sha256), every
transaction balanced before any is posted, each transaction posted by post_remittance."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from rcm.denials.carc import CarcTable, load_carc_table
from rcm.errors import PostingError
from rcm.models import Direction, Interchange, InterchangeKind, InterchangeStatus, utcnow
from rcm.posting.errors import DuplicateFileError
from rcm.posting.post import PostingResult, check_balanced, identify_practice, post_remittance
from rcm.x12.x835 import Remittance835, parse_835


@dataclass(frozen=True, slots=True)
class FilePostingResult:
    interchange_id: uuid.UUID
    sha256: str
    remittances: tuple[PostingResult, ...]


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def find_inbound_file(session: Session, *, clearinghouse: str, sha256: str) -> Interchange | None:
    return session.scalar(
        select(Interchange)
        .where(col(Interchange.clearinghouse) == clearinghouse)
        .where(col(Interchange.sha256) == sha256)
    )


def post_835_file(
    session: Session,
    data: bytes,
    *,
    clearinghouse: str,
    file_name: str | None = None,
    practice_id: uuid.UUID | None = None,
    archive_key: str | None = None,
    carc: CarcTable | None = None,
    today: date | None = None,
) -> FilePostingResult:
    """Record the file as an inbound 835 Interchange and post every transaction in it.

    A file seen before (same clearinghouse and sha256) raises DuplicateFileError; a file that
    cannot be read raises X12Error; a transaction that does not balance raises
    UnbalancedRemittanceError before anything is posted. Everything happens in the caller's
    transaction (flushed, not committed): on an error the caller rolls back and quarantines."""
    digest = sha256_hex(data)
    if find_inbound_file(session, clearinghouse=clearinghouse, sha256=digest) is not None:
        raise DuplicateFileError(f"file {file_name or digest[:12]} was received before")
    remittances = parse_835(data, file_name=file_name, strict=False)
    if not remittances:
        raise PostingError(f"file {file_name or digest[:12]} holds no 835 transaction")
    for remittance in remittances:
        check_balanced(remittance)
    practices = [
        practice_id if practice_id is not None else identify_practice(session, r).id
        for r in remittances
    ]
    with session.begin_nested():
        return _record_and_post(
            session,
            data,
            digest,
            remittances,
            practices,
            clearinghouse=clearinghouse,
            file_name=file_name,
            archive_key=archive_key,
            carc=carc,
            today=today,
        )


def _record_and_post(
    session: Session,
    data: bytes,
    digest: str,
    remittances: list[Remittance835],
    practices: list[uuid.UUID],
    *,
    clearinghouse: str,
    file_name: str | None,
    archive_key: str | None,
    carc: CarcTable | None,
    today: date | None,
) -> FilePostingResult:
    interchange = Interchange(
        practice_id=practices[0],
        clearinghouse=clearinghouse,
        direction=Direction.INBOUND,
        kind=InterchangeKind.REMITTANCE_835,
        file_name=(file_name or "")[:255] or None,
        sha256=digest,
        archive_key=archive_key,
        status=InterchangeStatus.RECEIVED,
        claim_count=sum(len(r.claims) for r in remittances),
    )
    try:
        with session.begin_nested():
            session.add(interchange)
            session.flush()
    except IntegrityError as exc:
        raise DuplicateFileError(f"file {file_name or digest[:12]} was received before") from exc
    table = carc or load_carc_table()
    results = tuple(
        post_remittance(
            session,
            remittance,
            interchange_id=interchange.id,
            practice_id=pid,
            source=str(interchange.id),
            carc=table,
            today=today,
        )
        for remittance, pid in zip(remittances, practices, strict=True)
    )
    interchange.status = InterchangeStatus.PROCESSED
    interchange.processed_at = utcnow()
    session.add(interchange)
    session.flush()
    return FilePostingResult(interchange.id, digest, results)


def quarantine_inbound_file(
    session: Session,
    data: bytes,
    *,
    clearinghouse: str,
    practice_id: uuid.UUID,
    kind: InterchangeKind,
    error: str,
    file_name: str | None = None,
    archive_key: str | None = None,
) -> Interchange:
    """Record a refused inbound file (status quarantined, with the reason), so it is not
    processed again; an already recorded file is returned as it is."""
    digest = sha256_hex(data)
    existing = find_inbound_file(session, clearinghouse=clearinghouse, sha256=digest)
    if existing is not None:
        return existing
    interchange = Interchange(
        practice_id=practice_id,
        clearinghouse=clearinghouse,
        direction=Direction.INBOUND,
        kind=kind,
        file_name=(file_name or "")[:255] or None,
        sha256=digest,
        archive_key=archive_key,
        status=InterchangeStatus.QUARANTINED,
        error=error,
        processed_at=utcnow(),
    )
    session.add(interchange)
    session.flush()
    return interchange
