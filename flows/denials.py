"""work_denials: appeals and corrected claims where the practice's policy says to act without a
biller (auto_appeal_categories, auto_correct); denials near their appeal deadline escalated.

With auto_correct, a denied claim is corrected only with the fix its denials make clear (the
therapy modifier a CO-4 asks for, say: rcm.denials.fixes); a denial whose fix cannot be inferred
goes to the billers' corrections queue instead of a corrected claim identical to the denied one.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time

from prefect import flow
from prefect.utilities.annotations import quote

from connectors.archive import archive_key, sha256_hex
from flows._common import RunReport, bridge_logs_to_prefect, publish_table
from flows._context import practice_today, run_source
from rcm.logging import logger
from tasks import denials as denial_tasks
from tasks import reports as report_tasks
from tasks._runtime import domain_function
from tasks.archive import archive_many
from tasks.practices import load_practice

ESCALATE_WITHIN_DAYS = 14


@dataclass
class DenialWorkSummary:
    practice: str
    run_date: date
    available: bool = True
    appeals: int = 0
    corrected_claims: int = 0
    queued_for_correction: int = 0
    escalated: int = 0
    appeal_ids: list[uuid.UUID] = field(default_factory=list)
    corrected_claim_ids: list[uuid.UUID] = field(default_factory=list)


@flow(name="work-denials")
def work_denials(practice: str, run_date: date | None = None) -> DenialWorkSummary:
    """Work the practice's open denials.

    Appeals are drafted, their letters archived, and submitted for denials whose category the
    practice appeals automatically; corrected (frequency 7) claims are created when the
    practice corrects automatically; unassigned denials within 14 days of their appeal
    deadline go to the escalation queue. A denial worked once is not worked again.

    Args:
        practice: The practice's slug.
        run_date: The business day letters are dated and deadlines measured from (default:
            today in the practice's timezone).
    """
    bridge_logs_to_prefect()
    ref = load_practice(practice)
    today = practice_today(ref.timezone, run_date)
    source = run_source()
    summary = DenialWorkSummary(practice=ref.slug, run_date=today)
    report = RunReport(f"Denial work {today}", ref.slug)
    when = datetime.combine(today, time.min, tzinfo=UTC)
    if domain_function("rcm.appeals", "create_appeal") is None:
        summary.available = False
        report.skip("appeals and corrected claims", "rcm.appeals is not available")
    else:
        work = denial_tasks.select_work(ref.id, ref.policies)
        letters = (
            denial_tasks.appeal_letters(quote(work["resume"]), today) if work["resume"] else []
        )
        letters += (
            denial_tasks.draft_appeals(quote(work["appeal"]), today) if work["appeal"] else []
        )
        if letters:
            keys = archive_many(
                quote(
                    [
                        (
                            archive_key(
                                ref.slug,
                                "outbound",
                                "appeal",
                                when,
                                sha256_hex(letter.letter_pdf),
                                f"appeal-{letter.appeal_id}.pdf",
                            ),
                            letter.letter_pdf,
                            {"kind": "appeal-letter", "appeal-id": str(letter.appeal_id)},
                        )
                        for letter in letters
                    ]
                )
            )
            denial_tasks.submit_appeals(
                quote([(letter.appeal_id, key) for letter, key in zip(letters, keys, strict=True)]),
                source,
            )
            summary.appeals += len(letters)
            summary.appeal_ids += [letter.appeal_id for letter in letters]
        corrections: list[dict[str, object]] = []
        outcomes = (
            denial_tasks.correct_claims(quote(work["correct"]), source) if work["correct"] else []
        )
        for outcome in outcomes:
            summary.queued_for_correction += outcome.queued
            if outcome.corrected_claim_id is None:
                continue
            summary.corrected_claims += 1
            summary.corrected_claim_ids.append(outcome.corrected_claim_id)
            corrections.append(
                {
                    "denied_claim_id": outcome.claim_id,
                    "corrected_claim_id": outcome.corrected_claim_id,
                    "fixes": "; ".join(outcome.fixes),
                }
            )
        publish_table(
            f"{ref.slug}-corrected-claims",
            corrections,
            f"Corrected (frequency 7) claims created on {today}, with the fixes applied",
            ["denied_claim_id", "corrected_claim_id", "fixes"],
        )
    if domain_function("rcm.denials", "assign_denial") is not None:
        due = denial_tasks.select_escalations(ref.id, today, ESCALATE_WITHIN_DAYS)
        summary.escalated += denial_tasks.escalate_many(quote(due), source) if due else 0
    near = report_tasks.denials_near_deadline(ref.id, today, ESCALATE_WITHIN_DAYS)
    opened = report_tasks.denials_opened(ref.id, datetime.combine(today, time.min, tzinfo=UTC))
    publish_table(
        f"{ref.slug}-denials-opened",
        opened,
        f"Denials opened on {today}, by reason",
        ["carc", "category", "action", "count", "amount", "earliest_deadline"],
    )
    publish_table(
        f"{ref.slug}-denials-near-deadline",
        near,
        f"Open denials with an appeal deadline within {ESCALATE_WITHIN_DAYS} days of {today}",
        ["denial_id", "claim_id", "carc", "amount", "deadline", "days_left", "status"],
    )
    report.counts.update(
        {
            "appeals submitted": summary.appeals,
            "corrected claims created": summary.corrected_claims,
            "denials queued for a biller's correction": summary.queued_for_correction,
            "denials escalated": summary.escalated,
            "denials near their deadline": len(near),
        }
    )
    report.publish(f"{ref.slug}-denials")
    logger.info(
        "denial work done: {} appeal(s), {} corrected claim(s), {} queued for correction, "
        "{} escalated",
        summary.appeals,
        summary.corrected_claims,
        summary.queued_for_correction,
        summary.escalated,
        practice=ref.slug,
    )
    return summary


__all__ = ["DenialWorkSummary", "work_denials"]
