"""Denial tasks: pick the work the practice's policy automates, draft and submit appeals,
create corrected claims, escalate denials near their deadline. One domain call each."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE
from sqlmodel import col, select

from tasks._runtime import DATABASE_TASK_OPTIONS, require, transaction
from tasks.practices import PerPractice, for_each_item, for_each_practice

ESCALATION_ASSIGNEE = "escalation"


@task(name="select-denial-work", cache_policy=NO_CACHE, **DATABASE_TASK_OPTIONS)
def select_work(practice_id: uuid.UUID, policies: dict[str, Any]) -> dict[str, list[uuid.UUID]]:
    from rcm.reports.worklists import denial_work

    with transaction() as session:
        return denial_work(session, practice_id=practice_id, policies=policies)


@task(name="select-denial-work-many", cache_policy=NO_CACHE, **DATABASE_TASK_OPTIONS)
def select_work_many(
    policies: dict[uuid.UUID, dict[str, Any]],
) -> PerPractice[dict[str, list[uuid.UUID]]]:
    """`select_work` for each practice (its ID → its policies), each read its own transaction."""
    return for_each_practice(
        policies, lambda practice_id: select_work.fn(practice_id, policies[practice_id])
    )


@task(name="select-denials-to-escalate", cache_policy=NO_CACHE, **DATABASE_TASK_OPTIONS)
def select_escalations(practice_id: uuid.UUID, today: date, within_days: int) -> list[uuid.UUID]:
    from rcm.reports.worklists import denials_to_escalate

    with transaction() as session:
        return denials_to_escalate(
            session,
            practice_id=practice_id,
            today=today,
            within_days=within_days,
            assignee=ESCALATION_ASSIGNEE,
        )


@task(name="select-denials-to-escalate-many", cache_policy=NO_CACHE, **DATABASE_TASK_OPTIONS)
def select_escalations_many(
    practice_ids: list[uuid.UUID], today: date, within_days: int
) -> PerPractice[list[uuid.UUID]]:
    """`select_escalations` for each practice, each read its own transaction."""
    return for_each_practice(
        practice_ids, lambda practice_id: select_escalations.fn(practice_id, today, within_days)
    )


@dataclass(frozen=True)
class DraftLetter:
    appeal_id: uuid.UUID
    denial_id: uuid.UUID
    letter_pdf: bytes


@task(name="draft-appeal", cache_policy=NO_CACHE, **DATABASE_TASK_OPTIONS)
def draft_appeal(denial_id: uuid.UUID, today: date) -> DraftLetter:
    """An Appeal row (draft) and its letter (rcm.appeals.create_appeal). A denial with a draft
    already (an earlier attempt whose commit went through, though its answer was lost) gets
    that draft's letter, not a second appeal."""
    from rcm.models import Appeal, AppealStatus, Denial

    create = require("rcm.appeals", "create_appeal")
    render = require("rcm.appeals", "render_letter")
    with transaction() as session:
        drafted = session.exec(
            select(Appeal).where(
                col(Appeal.denial_id) == denial_id, col(Appeal.status) == AppealStatus.DRAFT.value
            )
        ).first()
        denial = session.get(Denial, denial_id)
        if drafted is not None and denial is not None:
            return DraftLetter(drafted.id, denial_id, render(session, denial, today=today))
        draft = create(session, denial_id, today=today)
        return DraftLetter(draft.appeal.id, denial_id, draft.letter_pdf)


@task(name="render-appeal-letter", cache_policy=NO_CACHE, **DATABASE_TASK_OPTIONS)
def appeal_letter(appeal_id: uuid.UUID, today: date) -> DraftLetter:
    """The letter of an appeal drafted by an earlier run (rcm.appeals.render_letter)."""
    from rcm.models import Appeal, Denial

    render = require("rcm.appeals", "render_letter")
    with transaction() as session:
        appeal = session.get(Appeal, appeal_id)
        denial = session.get(Denial, appeal.denial_id) if appeal else None
        if appeal is None or denial is None:
            raise LookupError(f"no appeal {appeal_id} with its denial")
        return DraftLetter(appeal.id, denial.id, render(session, denial, today=today))


@task(name="submit-appeal", cache_policy=NO_CACHE, **DATABASE_TASK_OPTIONS)
def submit_appeal(appeal_id: uuid.UUID, letter_archive_key: str, actor: str) -> None:
    """The appeal went out: claim APPEALED, denial appealed (rcm.appeals.submit_appeal). An
    appeal submitted already (an earlier attempt) is left as it is."""
    from rcm.models import Appeal, AppealStatus

    submit = require("rcm.appeals", "submit_appeal")
    with transaction() as session:
        appeal = session.get(Appeal, appeal_id)
        if appeal is not None and appeal.status is not AppealStatus.DRAFT:
            return
        submit(session, appeal_id, letter_archive_key=letter_archive_key, actor=actor)


@dataclass(frozen=True)
class CorrectionOutcome:
    """A denied claim worked by `correct_claim`: corrected (the new claim and what was fixed),
    queued for a biller (how many denials went to the corrections queue now), or left alone."""

    claim_id: uuid.UUID
    corrected_claim_id: uuid.UUID | None
    queued: int
    fixes: tuple[str, ...]
    note: str


@task(name="create-corrected-claim", cache_policy=NO_CACHE, **DATABASE_TASK_OPTIONS)
def correct_claim(claim_id: uuid.UUID, actor: str) -> CorrectionOutcome:
    """A frequency 7 replacement of a denied claim with the fixes its denials make clear
    (rcm.appeals.auto_correct_claim), or its denials in the billers' corrections queue when no
    fix can be inferred; the next submission scrubs and sends a corrected claim."""
    correct = require("rcm.appeals", "auto_correct_claim")
    with transaction() as session:
        done = correct(session, claim_id, actor=actor)
        return CorrectionOutcome(
            claim_id=done.claim_id,
            corrected_claim_id=done.corrected_claim_id,
            queued=len(done.queued_denial_ids),
            fixes=tuple(fix.describe() for fix in done.fixes),
            note=done.note,
        )


# Batches: the daily run works every denial of every practice in a few task runs, keyed by
# practice, each item still in its own transaction (one failure stops that practice's items and
# the other practices go on; a retry skips the items done, and every domain call below is
# idempotent or picks up where it stopped: see tasks.practices.for_each_item).


@task(name="draft-appeals", cache_policy=NO_CACHE, **DATABASE_TASK_OPTIONS)
def draft_appeals(
    denial_ids: dict[uuid.UUID, list[uuid.UUID]], today: date
) -> PerPractice[list[DraftLetter]]:
    """`draft_appeal` for each practice's denials."""
    return for_each_item(denial_ids, lambda denial_id: draft_appeal.fn(denial_id, today))


@task(name="render-appeal-letters", cache_policy=NO_CACHE, **DATABASE_TASK_OPTIONS)
def appeal_letters(
    appeal_ids: dict[uuid.UUID, list[uuid.UUID]], today: date
) -> PerPractice[list[DraftLetter]]:
    """`appeal_letter` for each practice's appeals drafted by an earlier run."""
    return for_each_item(appeal_ids, lambda appeal_id: appeal_letter.fn(appeal_id, today))


@task(name="submit-appeals", cache_policy=NO_CACHE, **DATABASE_TASK_OPTIONS)
def submit_appeals(
    letters: dict[uuid.UUID, list[tuple[uuid.UUID, str]]], actor: str
) -> PerPractice[list[uuid.UUID]]:
    """`submit_appeal` for each practice's (appeal, letter's archive key); the appeals sent."""

    def submit(letter: tuple[uuid.UUID, str]) -> uuid.UUID:
        submit_appeal.fn(letter[0], letter[1], actor)
        return letter[0]

    return for_each_item(letters, submit)


@task(name="create-corrected-claims", cache_policy=NO_CACHE, **DATABASE_TASK_OPTIONS)
def correct_claims(
    claim_ids: dict[uuid.UUID, list[uuid.UUID]], actor: str
) -> PerPractice[list[CorrectionOutcome]]:
    """`correct_claim` for each practice's denied claims."""
    return for_each_item(claim_ids, lambda claim_id: correct_claim.fn(claim_id, actor))


@task(name="escalate-denials", cache_policy=NO_CACHE, **DATABASE_TASK_OPTIONS)
def escalate_many(
    denial_ids: dict[uuid.UUID, list[uuid.UUID]], actor: str
) -> PerPractice[list[uuid.UUID]]:
    """`escalate` for each practice's denials; the denials escalated."""

    def assign(denial_id: uuid.UUID) -> uuid.UUID:
        escalate.fn(denial_id, actor)
        return denial_id

    return for_each_item(denial_ids, assign)


@task(name="escalate-denial", cache_policy=NO_CACHE, **DATABASE_TASK_OPTIONS)
def escalate(denial_id: uuid.UUID, actor: str) -> None:
    """Assign a denial near its deadline to the escalation queue (rcm.denials.assign_denial).
    A denial escalated already (an earlier attempt) is left as it is."""
    from rcm.models import Denial

    assign = require("rcm.denials", "assign_denial")
    with transaction() as session:
        denial = session.get(Denial, denial_id)
        if denial is not None and denial.assignee == ESCALATION_ASSIGNEE:
            return
        assign(session, denial_id, ESCALATION_ASSIGNEE, actor=actor)


__all__ = [
    "ESCALATION_ASSIGNEE",
    "CorrectionOutcome",
    "DraftLetter",
    "appeal_letter",
    "appeal_letters",
    "correct_claim",
    "correct_claims",
    "draft_appeal",
    "draft_appeals",
    "escalate",
    "escalate_many",
    "select_escalations",
    "select_escalations_many",
    "select_work",
    "select_work_many",
    "submit_appeal",
    "submit_appeals",
]
