"""send_statements: patient statements for balances insurance has finished with, archived (PDF
per patient, one CSV for the print-and-mail vendor)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from decimal import Decimal

from prefect import flow
from prefect.utilities.annotations import quote

from connectors.archive import archive_key, sha256_hex
from flows._common import RunReport, bridge_logs_to_prefect
from flows._context import practice_today
from rcm.logging import logger
from tasks import statements as statement_tasks
from tasks._runtime import domain_function
from tasks.archive import archive_many
from tasks.practices import PerPractice, PracticeRef, PracticeSteps, load_practice

archive_statements = archive_many.with_options(name="archive-statements")


@dataclass
class StatementSummary:
    practice: str
    run_date: date
    available: bool = True
    statements: int = 0
    new_statements: int = 0
    total_balance: str = "0.00"
    vendor_file: str | None = None
    errors: list[str] = field(default_factory=list)


@flow(name="send-statements")
def send_statements(practice: str, run_date: date | None = None) -> StatementSummary:
    """Produce the practice's patient statements for the day and archive them.

    One statement per patient per date: a rerun for the same date returns the statements
    already built and archives nothing new.

    Args:
        practice: The practice's slug.
        run_date: The statement date (default: today in the practice's timezone).
    """
    bridge_logs_to_prefect()
    ref = load_practice(practice)
    today = practice_today(ref.timezone, run_date)
    summary = send_statements_for([ref], today)[ref.slug]
    if summary.errors:
        raise RuntimeError(f"statements for {ref.slug}: " + "; ".join(summary.errors))
    return summary


def send_statements_for(refs: list[PracticeRef], today: date) -> dict[str, StatementSummary]:
    """send_statements for several practices at once: the statements built in one task (each
    practice's its own transaction), every practice's documents archived in one, their keys
    recorded in one, one summary artifact per practice. A practice whose step fails is
    reported in its summary's errors and the others go on."""
    summaries = {ref.slug: StatementSummary(practice=ref.slug, run_date=today) for ref in refs}
    reports = {ref.slug: RunReport(f"Patient statements {today}", ref.slug) for ref in refs}
    if domain_function("rcm.statements", "build_statements") is None:
        for ref in refs:
            summaries[ref.slug].available = False
            reports[ref.slug].skip(
                "patient statements", "rcm.statements is not available in this build"
            )
            reports[ref.slug].publish(f"{ref.slug}-statements")
        return summaries
    steps = PracticeSteps({ref.id: summaries[ref.slug].errors for ref in refs})
    ids = [ref.id for ref in refs]
    built = steps.run(
        "building statements",
        ids,
        lambda: statement_tasks.build_statements_many(quote(ids), today),
    )
    unarchived: dict[uuid.UUID, list[statement_tasks.StatementFiles]] = {}
    owners: list[uuid.UUID] = []
    documents: list[tuple[str, bytes, dict[str, str]]] = []
    for ref in refs:
        run = built.done.get(ref.id)
        if run is None:
            continue
        waiting = [item for item in run.statements if not (item.pdf_key and item.csv_key)]
        unarchived[ref.id] = waiting
        mine = _documents(ref, today, waiting, run.vendor_csv)
        owners += [ref.id] * len(mine)
        documents += mine
    stored: PerPractice[list[str]] = PerPractice()
    if documents:
        stored = steps.run(
            "archiving statements",
            list(dict.fromkeys(owners)),
            lambda: PerPractice.grouped(owners, archive_statements(quote(documents))),
        )
    keys = {
        pid: [
            (item.statement_id, found[2 * n], found[2 * n + 1])
            for n, item in enumerate(unarchived[pid])
        ]
        for pid, found in stored.done.items()
        if unarchived[pid]
    }
    recorded: PerPractice[int] = PerPractice()
    if keys:
        recorded = steps.run(
            "recording where statements are archived",
            list(keys),
            lambda: statement_tasks.record_many_archived_for(quote(keys)),
        )
    for ref in refs:
        summary = summaries[ref.slug]
        run = built.done.get(ref.id)
        if run is not None:
            found = stored.done.get(ref.id)
            if found is not None and (ref.id in recorded.done or not unarchived[ref.id]):
                summary.new_statements = len(unarchived[ref.id])
                if run.vendor_csv:
                    summary.vendor_file = found[-1]
            summary.statements = len(run.statements)
            total = sum((item.balance for item in run.statements), Decimal("0.00"))
            summary.total_balance = str(total)
        _publish(ref, summary, reports[ref.slug])
    return summaries


def _documents(
    ref: PracticeRef,
    today: date,
    statements: list[statement_tasks.StatementFiles],
    vendor_csv: bytes,
) -> list[tuple[str, bytes, dict[str, str]]]:
    """(archive key, bytes, metadata) of each statement's PDF and CSV, in that order, then of
    the print-and-mail vendor file."""
    when = datetime.combine(today, time.min, tzinfo=UTC)
    documents: list[tuple[str, bytes, dict[str, str]]] = []
    for item in statements:
        for suffix, data, kind in (
            ("pdf", item.pdf, "statement-pdf"),
            ("csv", item.csv, "statement-csv"),
        ):
            documents.append(
                (
                    archive_key(
                        ref.slug,
                        "outbound",
                        "statement",
                        when,
                        sha256_hex(data),
                        f"statement-{item.statement_id}.{suffix}",
                    ),
                    data,
                    {"kind": kind},
                )
            )
    if vendor_csv:
        documents.append(
            (
                archive_key(
                    ref.slug,
                    "outbound",
                    "statement",
                    when,
                    sha256_hex(vendor_csv),
                    f"statements-{today.isoformat()}.csv",
                ),
                vendor_csv,
                {"kind": "statement-vendor-file"},
            )
        )
    return documents


def _publish(ref: PracticeRef, summary: StatementSummary, report: RunReport) -> None:
    report.counts.update(
        {
            "statements": summary.statements,
            "new statements archived": summary.new_statements,
            "patient balance billed": summary.total_balance,
        }
    )
    if summary.vendor_file:
        report.note(f"print-and-mail vendor file archived as `{summary.vendor_file}`")
    for error in summary.errors:
        report.note(f"failed: {error}")
    report.publish(f"{ref.slug}-statements")
    logger.info(
        "statements done: {} ({} new)",
        summary.statements,
        summary.new_statements,
        practice=ref.slug,
    )


__all__ = ["StatementSummary", "send_statements", "send_statements_for"]
