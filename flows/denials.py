"""work_denials: appeals and corrected claims where the practice's policy says to act
automatically; denials near their appeal deadline escalated."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from prefect import flow, tags

from flows._common import RunReport, bridge_logs_to_prefect, publish_table
from flows._context import practice_today
from tasks import reports as report_tasks
from tasks._runtime import domain_function
from tasks.practices import load_practice

ESCALATE_WITHIN_DAYS = 14


@dataclass
class DenialWorkSummary:
    practice: str
    run_date: date
    available: bool = True
    appeals: int = 0
    corrected_claims: int = 0
    escalated: int = 0


@flow(name="work-denials")
def work_denials(practice: str, run_date: date | None = None) -> DenialWorkSummary:
    """Work the practice's open denials.

    Args:
        practice: The practice's slug.
        run_date: The business day deadlines are measured from (default: today in the
            practice's timezone).
    """
    bridge_logs_to_prefect()
    ref = load_practice(practice)
    today = practice_today(ref.timezone, run_date)
    summary = DenialWorkSummary(practice=ref.slug, run_date=today)
    report = RunReport(f"Denial work {today}", ref.slug)
    with tags(f"practice:{ref.slug}"):
        if domain_function("rcm.appeals", "create_appeals") is None:
            summary.available = False
            report.skip("appeals and corrected claims", "rcm.appeals is not available yet")
        near = report_tasks.denials_near_deadline(ref.id, today, ESCALATE_WITHIN_DAYS)
    summary.escalated = len(near)
    publish_table(
        f"{ref.slug}-denials-near-deadline",
        near,
        f"Open denials with an appeal deadline within {ESCALATE_WITHIN_DAYS} days of {today}",
        ["denial_id", "claim_id", "carc", "amount", "deadline", "days_left", "status"],
    )
    report.counts["denials near their deadline"] = summary.escalated
    report.publish(f"{ref.slug}-denials")
    return summary


__all__ = ["DenialWorkSummary", "work_denials"]
