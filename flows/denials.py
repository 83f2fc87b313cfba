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
from typing import Any

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
from tasks.practices import PerPractice, PracticeRef, PracticeSteps, load_practice

ESCALATE_WITHIN_DAYS = 14


archive_letters = archive_many.with_options(name="archive-appeal-letters")


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
    errors: list[str] = field(default_factory=list)


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
    summary = work_denials_for([ref], today, run_source())[ref.slug]
    if summary.errors:
        raise RuntimeError(f"denial work for {ref.slug}: " + "; ".join(summary.errors))
    return summary


def work_denials_for(
    refs: list[PracticeRef], today: date, source: str
) -> dict[str, DenialWorkSummary]:
    """work_denials for several practices at once: each step is one task for all of them
    (each practice's reads and each denial's work still its own transaction), the letters of
    every practice archived together, one summary artifact per practice. A practice whose step
    fails is reported in its summary's errors and the others go on."""
    summaries = {ref.slug: DenialWorkSummary(practice=ref.slug, run_date=today) for ref in refs}
    reports = {ref.slug: RunReport(f"Denial work {today}", ref.slug) for ref in refs}
    slugs = {ref.id: ref.slug for ref in refs}
    ids = [ref.id for ref in refs]
    steps = PracticeSteps({ref.id: summaries[ref.slug].errors for ref in refs})

    corrections: dict[uuid.UUID, list[dict[str, object]]] = {ref.id: [] for ref in refs}
    appeals_available = domain_function("rcm.appeals", "create_appeal") is not None
    if not appeals_available:
        for ref in refs:
            summaries[ref.slug].available = False
            reports[ref.slug].skip("appeals and corrected claims", "rcm.appeals is not available")
    else:
        work = steps.run(
            "selecting denial work",
            ids,
            lambda: denial_tasks.select_work_many(quote({ref.id: ref.policies for ref in refs})),
        )
        letters = _letters(steps, work, today)
        _submit_appeals(steps, refs, letters, today, source, summaries)
        correct = {pid: found["correct"] for pid, found in work.done.items() if found["correct"]}
        if correct:
            outcomes = steps.run(
                "creating corrected claims",
                list(correct),
                lambda: denial_tasks.correct_claims(quote(correct), source),
            )
            for practice_id, done in outcomes.done.items():
                summary = summaries[slugs[practice_id]]
                for outcome in done:
                    summary.queued_for_correction += outcome.queued
                    if outcome.corrected_claim_id is None:
                        continue
                    summary.corrected_claims += 1
                    summary.corrected_claim_ids.append(outcome.corrected_claim_id)
                    corrections[practice_id].append(
                        {
                            "denied_claim_id": outcome.claim_id,
                            "corrected_claim_id": outcome.corrected_claim_id,
                            "fixes": "; ".join(outcome.fixes),
                        }
                    )
    if domain_function("rcm.denials", "assign_denial") is not None:
        due = steps.run(
            "selecting denials to escalate",
            ids,
            lambda: denial_tasks.select_escalations_many(quote(ids), today, ESCALATE_WITHIN_DAYS),
        )
        waiting = {pid: found for pid, found in due.done.items() if found}
        if waiting:
            escalated = steps.run(
                "escalating denials",
                list(waiting),
                lambda: denial_tasks.escalate_many(quote(waiting), source),
            )
            for practice_id, done in escalated.done.items():
                summaries[slugs[practice_id]].escalated += len(done)
    tables = steps.run(
        "reading the denial reports",
        ids,
        lambda: report_tasks.denial_reports(
            quote(ids), datetime.combine(today, time.min, tzinfo=UTC), today, ESCALATE_WITHIN_DAYS
        ),
    )
    for ref in refs:
        found = tables.done.get(ref.id)
        _publish(
            ref,
            today,
            summaries[ref.slug],
            reports[ref.slug],
            corrections[ref.id] if appeals_available else None,
            found.opened if found else [],
            found.near_deadline if found else [],
        )
    return summaries


def _letters(
    steps: PracticeSteps, work: PerPractice[dict[str, list[uuid.UUID]]], today: date
) -> dict[uuid.UUID, list[denial_tasks.DraftLetter]]:
    """The letters of the appeals drafted by an earlier run and not submitted, then of the
    appeals drafted now, per practice."""
    letters: dict[uuid.UUID, list[denial_tasks.DraftLetter]] = {}
    resume = {pid: found["resume"] for pid, found in work.done.items() if found["resume"]}
    if resume:
        rendered = steps.run(
            "rendering appeal letters",
            list(resume),
            lambda: denial_tasks.appeal_letters(quote(resume), today),
        )
        for practice_id, done in rendered.done.items():
            letters.setdefault(practice_id, []).extend(done)
    appeal = {pid: found["appeal"] for pid, found in work.done.items() if found["appeal"]}
    if appeal:
        drafted = steps.run(
            "drafting appeals",
            list(appeal),
            lambda: denial_tasks.draft_appeals(quote(appeal), today),
        )
        for practice_id, done in drafted.done.items():
            letters.setdefault(practice_id, []).extend(done)
    return {pid: found for pid, found in letters.items() if found}


def _submit_appeals(
    steps: PracticeSteps,
    refs: list[PracticeRef],
    letters: dict[uuid.UUID, list[denial_tasks.DraftLetter]],
    today: date,
    source: str,
    summaries: dict[str, DenialWorkSummary],
) -> None:
    """Every practice's letters archived in one task, then the appeals submitted in one."""
    if not letters:
        return
    slugs = {ref.id: ref.slug for ref in refs}
    when = datetime.combine(today, time.min, tzinfo=UTC)
    owners = [pid for pid, found in letters.items() for _ in found]
    documents = [
        (
            archive_key(
                slugs[pid],
                "outbound",
                "appeal",
                when,
                sha256_hex(letter.letter_pdf),
                f"appeal-{letter.appeal_id}.pdf",
            ),
            letter.letter_pdf,
            {"kind": "appeal-letter", "appeal-id": str(letter.appeal_id)},
        )
        for pid, found in letters.items()
        for letter in found
    ]
    stored = steps.run(
        "archiving appeal letters",
        list(letters),
        lambda: PerPractice.grouped(owners, archive_letters(quote(documents))),
    )
    archived = {
        pid: [(letter.appeal_id, key) for letter, key in zip(letters[pid], keys, strict=True)]
        for pid, keys in stored.done.items()
    }
    if not archived:
        return
    submitted = steps.run(
        "submitting appeals",
        list(archived),
        lambda: denial_tasks.submit_appeals(quote(archived), source),
    )
    for practice_id, done in submitted.done.items():
        summary = summaries[slugs[practice_id]]
        summary.appeals += len(done)
        summary.appeal_ids += done


def _publish(
    ref: PracticeRef,
    today: date,
    summary: DenialWorkSummary,
    report: RunReport,
    corrections: list[dict[str, object]] | None,
    opened: list[dict[str, Any]],
    near: list[dict[str, Any]],
) -> None:
    if corrections is not None:
        publish_table(
            f"{ref.slug}-corrected-claims",
            corrections,
            f"Corrected (frequency 7) claims created on {today}, with the fixes applied",
            ["denied_claim_id", "corrected_claim_id", "fixes"],
        )
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
    for error in summary.errors:
        report.note(f"failed: {error}")
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


__all__ = ["DenialWorkSummary", "work_denials", "work_denials_for"]
