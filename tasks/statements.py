"""Statement tasks: build the day's patient statements, and record where they were archived."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from prefect import task
from prefect.cache_policies import NO_CACHE

from tasks._runtime import DATABASE_TASK_OPTIONS, require, transaction
from tasks.practices import PerPractice, for_each_practice


@dataclass(frozen=True)
class StatementFiles:
    """One statement's documents. The PDF and CSV hold the patient's name and address: they go
    to the archive and the mail vendor, never to logs or artifacts."""

    statement_id: uuid.UUID
    balance: Decimal
    created: bool
    pdf: bytes
    csv: bytes
    pdf_key: str | None
    csv_key: str | None


@dataclass(frozen=True)
class StatementRun:
    statements: list[StatementFiles]
    vendor_csv: bytes


@task(name="build-statements", cache_policy=NO_CACHE, **DATABASE_TASK_OPTIONS)
def build_statements(practice_id: uuid.UUID, statement_date: date) -> StatementRun:
    """A statement for every patient owing at least the practice's minimum on claims insurance
    has finished with; one per patient per date (rcm.statements.build_statements)."""
    build = require("rcm.statements", "build_statements")
    vendor = require("rcm.statements", "statements_csv")
    with transaction() as session:
        outputs = build(session, practice_id=practice_id, statement_date=statement_date)
        return StatementRun(
            statements=[
                StatementFiles(
                    statement_id=o.statement.id,
                    balance=o.statement.balance,
                    created=o.created,
                    pdf=o.pdf,
                    csv=o.csv,
                    pdf_key=o.statement.pdf_key,
                    csv_key=o.statement.csv_key,
                )
                for o in outputs
            ],
            vendor_csv=vendor(outputs) if outputs else b"",
        )


@task(name="build-statements-many", cache_policy=NO_CACHE, **DATABASE_TASK_OPTIONS)
def build_statements_many(
    practice_ids: list[uuid.UUID], statement_date: date
) -> PerPractice[StatementRun]:
    """`build_statements` for each practice, each its own transaction (idempotent per patient
    and date, so a retry gets back what an earlier attempt built)."""
    return for_each_practice(
        practice_ids, lambda practice_id: build_statements.fn(practice_id, statement_date)
    )


@task(name="record-statement-archived", cache_policy=NO_CACHE, **DATABASE_TASK_OPTIONS)
def record_archived(statement_id: uuid.UUID, pdf_key: str, csv_key: str) -> None:
    """Where the statement's PDF and CSV are kept (the statements module leaves this to its
    caller). Keys already recorded are kept."""
    record_many_archived.fn([(statement_id, pdf_key, csv_key)])


@task(name="record-statements-archived", cache_policy=NO_CACHE, **DATABASE_TASK_OPTIONS)
def record_many_archived(items: list[tuple[uuid.UUID, str, str]]) -> int:
    """`record_archived` for a batch of (statement, PDF key, CSV key), in one transaction."""
    from rcm.models import PatientStatement

    with transaction() as session:
        for statement_id, pdf_key, csv_key in items:
            row = session.get(PatientStatement, statement_id)
            if row is None:
                raise LookupError(f"no statement {statement_id}")
            if row.pdf_key is None or row.csv_key is None:
                row.pdf_key = row.pdf_key or pdf_key
                row.csv_key = row.csv_key or csv_key
                session.add(row)
    return len(items)


@task(name="record-statements-archived-many", cache_policy=NO_CACHE, **DATABASE_TASK_OPTIONS)
def record_many_archived_for(
    items: dict[uuid.UUID, list[tuple[uuid.UUID, str, str]]],
) -> PerPractice[int]:
    """`record_many_archived` for each practice's statements, one transaction per practice."""
    return for_each_practice(items, lambda practice_id: record_many_archived.fn(items[practice_id]))


__all__ = [
    "StatementFiles",
    "StatementRun",
    "build_statements",
    "build_statements_many",
    "record_archived",
    "record_many_archived",
    "record_many_archived_for",
]
