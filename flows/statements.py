"""send_statements: patient statements for balances insurance has finished with, archived (PDF
per patient, one CSV for the print-and-mail vendor)."""

from __future__ import annotations

from dataclasses import dataclass
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
from tasks.practices import load_practice


@dataclass
class StatementSummary:
    practice: str
    run_date: date
    available: bool = True
    statements: int = 0
    new_statements: int = 0
    total_balance: str = "0.00"
    vendor_file: str | None = None


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
    summary = StatementSummary(practice=ref.slug, run_date=today)
    report = RunReport(f"Patient statements {today}", ref.slug)
    if domain_function("rcm.statements", "build_statements") is None:
        summary.available = False
        report.skip("patient statements", "rcm.statements is not available in this build")
        report.publish(f"{ref.slug}-statements")
        return summary
    when = datetime.combine(today, time.min, tzinfo=UTC)
    run = statement_tasks.build_statements(ref.id, today)
    total = sum((item.balance for item in run.statements), Decimal("0.00"))
    unarchived = [item for item in run.statements if not (item.pdf_key and item.csv_key)]
    documents: list[tuple[str, bytes, dict[str, str]]] = []
    for item in unarchived:
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
    if run.vendor_csv:
        documents.append(
            (
                archive_key(
                    ref.slug,
                    "outbound",
                    "statement",
                    when,
                    sha256_hex(run.vendor_csv),
                    f"statements-{today.isoformat()}.csv",
                ),
                run.vendor_csv,
                {"kind": "statement-vendor-file"},
            )
        )
    if documents:
        keys = archive_many(quote(documents))
        statement_tasks.record_many_archived(
            quote(
                [
                    (item.statement_id, keys[2 * n], keys[2 * n + 1])
                    for n, item in enumerate(unarchived)
                ]
            )
        )
        summary.new_statements = len(unarchived)
        if run.vendor_csv:
            summary.vendor_file = keys[-1]
    summary.statements = len(run.statements)
    summary.total_balance = str(total)
    report.counts.update(
        {
            "statements": summary.statements,
            "new statements archived": summary.new_statements,
            "patient balance billed": summary.total_balance,
        }
    )
    if summary.vendor_file:
        report.note(f"print-and-mail vendor file archived as `{summary.vendor_file}`")
    report.publish(f"{ref.slug}-statements")
    logger.info(
        "statements done: {} ({} new)",
        summary.statements,
        summary.new_statements,
        practice=ref.slug,
    )
    return summary


__all__ = ["StatementSummary", "send_statements"]
