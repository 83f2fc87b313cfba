"""ISA13, GS06 and ST02 control numbers, allocated per sender ID inside the caller's transaction.

A control number is allocated in the same transaction that assigns claims to an interchange,
so a rolled-back batch gives its numbers back and a committed one owns them for good.

Concurrency: the next value is read as MAX(serial) + 1 and inserted inside a SAVEPOINT; the
unique constraints on (sender_id, kind, serial) and (sender_id, kind, value) are the guard. We
chose this over SELECT ... FOR UPDATE on a counter row because it needs no extra table, works
the same on SQLite (where writers are serialized anyway) and PostgreSQL, and the rows it writes
are the audit trail of which interchange used which number. On PostgreSQL, a second transaction
inserting the same number waits for the first to commit, gets a unique violation, rolls back
to its savepoint and re-reads the maximum, which under READ COMMITTED now includes the
committed number. The retry is bounded; a caller that keeps losing gets an RcmError.
"""

from __future__ import annotations

import uuid

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from rcm.errors import RcmError
from rcm.logging import logger
from rcm.models.interchange import ControlNumber, ControlNumberKind

MAX_CONTROL_NUMBER = 999_999_999
MAX_ATTEMPTS = 50


class ControlNumberError(RcmError):
    """No control number could be allocated."""


def _is_unique_violation(exc: IntegrityError) -> bool:
    sqlstate = getattr(exc.orig, "sqlstate", None)
    if sqlstate is not None:
        return bool(sqlstate == "23505")
    return "UNIQUE constraint failed" in str(exc.orig)


def value_for_serial(serial: int) -> int:
    """The control number for the `serial`-th allocation: 1 … 999,999,999, then 1 again."""
    return (serial - 1) % MAX_CONTROL_NUMBER + 1


def allocate(
    session: Session,
    *,
    sender_id: str,
    kind: ControlNumberKind | str,
    interchange_id: uuid.UUID,
) -> int:
    """The next control number of `kind` (ISA, GS or ST) for `sender_id`, recorded against
    `interchange_id`. Runs inside the caller's transaction; commit it to keep the number."""
    kind = ControlNumberKind(kind)
    for attempt in range(1, MAX_ATTEMPTS + 1):
        savepoint = session.begin_nested()
        try:
            last = session.execute(
                select(func.max(col(ControlNumber.serial))).where(
                    col(ControlNumber.sender_id) == sender_id,
                    col(ControlNumber.kind) == kind,
                )
            ).scalar()
            serial = (last or 0) + 1
            value = value_for_serial(serial)
            if serial > MAX_CONTROL_NUMBER:
                # The counter wrapped: release the number's previous holder, a billion
                # interchanges old, so the value can be reused.
                session.execute(
                    delete(ControlNumber).where(
                        col(ControlNumber.sender_id) == sender_id,
                        col(ControlNumber.kind) == kind,
                        col(ControlNumber.value) == value,
                    )
                )
            session.add(
                ControlNumber(
                    sender_id=sender_id,
                    kind=kind,
                    value=value,
                    serial=serial,
                    interchange_id=interchange_id,
                )
            )
            session.flush()
        except IntegrityError as exc:
            savepoint.rollback()
            if not _is_unique_violation(exc):
                raise
            logger.bind(kind=kind.value, attempt=attempt).debug(
                "control number taken by a concurrent allocation; retrying"
            )
            continue
        savepoint.commit()
        return value
    raise ControlNumberError(
        f"could not allocate a {kind.value} control number for sender {sender_id} "
        f"after {MAX_ATTEMPTS} attempts"
    )
