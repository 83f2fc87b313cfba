"""send_statements: patient statements for balances insurance has finished with, archived (PDF
per patient, one CSV for the print-and-mail vendor)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal

from prefect import flow

from connectors.archive import archive_key, sha256_hex
from flows._common import RunReport, bridge_logs_to_prefect
from flows._context import practice_today
from rcm.logging import logger
from tasks import statements as statement_tasks
from tasks._runtime import domain_function
from tasks.archive import archive_bytes
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
    total = Decimal("0.00")
    for item in run.statements:
        total += item.balance
        if item.pdf_key and item.csv_key:
            continue
        pdf_key = archive_bytes(
            archive_key(
                ref.slug,
                "outbound",
                "statement",
                when,
                sha256_hex(item.pdf),
                f"statement-{item.statement_id}.pdf",
            ),
            item.pdf,
            {"kind": "statement-pdf"},
        )
        csv_key = archive_bytes(
            archive_key(
                ref.slug,
                "outbound",
                "statement",
                when,
                sha256_hex(item.csv),
                f"statement-{item.statement_id}.csv",
            ),
            item.csv,
            {"kind": "statement-csv"},
        )
        statement_tasks.record_archived(item.statement_id, pdf_key, csv_key)
        summary.new_statements += 1
    if run.vendor_csv:
        summary.vendor_file = archive_bytes(
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
