"""Denial tasks: pick the work the practice's policy automates, draft and submit appeals,
create corrected claims, escalate denials near their deadline. One domain call each."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from tasks._runtime import DATABASE_TASK_OPTIONS, require, transaction

ESCALATION_ASSIGNEE = "escalation"


@task(name="select-denial-work", cache_policy=NO_CACHE, **DATABASE_TASK_OPTIONS)
def select_work(practice_id: uuid.UUID, policies: dict[str, Any]) -> dict[str, list[uuid.UUID]]:
    from rcm.reports.worklists import denial_work

    with transaction() as session:
        return denial_work(session, practice_id=practice_id, policies=policies)


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


@dataclass(frozen=True)
class DraftLetter:
    appeal_id: uuid.UUID
    denial_id: uuid.UUID
    letter_pdf: bytes


@task(name="draft-appeal", cache_policy=NO_CACHE, **DATABASE_TASK_OPTIONS)
def draft_appeal(denial_id: uuid.UUID, today: date) -> DraftLetter:
    """An Appeal row (draft) and its letter (rcm.appeals.create_appeal)."""
    create = require("rcm.appeals", "create_appeal")
    with transaction() as session:
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
    """The appeal went out: claim APPEALED, denial appealed (rcm.appeals.submit_appeal)."""
    submit = require("rcm.appeals", "submit_appeal")
    with transaction() as session:
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


# Batches: the daily run works every denial of a practice in a few task runs, each item still
# in its own transaction (one failure leaves the items before it done; a retry skips them,
# because every domain call below is idempotent or picks up where it stopped).


@task(name="draft-appeals", cache_policy=NO_CACHE, **DATABASE_TASK_OPTIONS)
def draft_appeals(denial_ids: list[uuid.UUID], today: date) -> list[DraftLetter]:
    """`draft_appeal` for each denial."""
    return [draft_appeal.fn(denial_id, today) for denial_id in denial_ids]


@task(name="render-appeal-letters", cache_policy=NO_CACHE, **DATABASE_TASK_OPTIONS)
def appeal_letters(appeal_ids: list[uuid.UUID], today: date) -> list[DraftLetter]:
    """`appeal_letter` for each appeal drafted by an earlier run."""
    return [appeal_letter.fn(appeal_id, today) for appeal_id in appeal_ids]


@task(name="submit-appeals", cache_policy=NO_CACHE, **DATABASE_TASK_OPTIONS)
def submit_appeals(letters: list[tuple[uuid.UUID, str]], actor: str) -> int:
    """`submit_appeal` for each (appeal, letter's archive key)."""
    for appeal_id, key in letters:
        submit_appeal.fn(appeal_id, key, actor)
    return len(letters)


@task(name="create-corrected-claims", cache_policy=NO_CACHE, **DATABASE_TASK_OPTIONS)
def correct_claims(claim_ids: list[uuid.UUID], actor: str) -> list[CorrectionOutcome]:
    """`correct_claim` for each denied claim."""
    return [correct_claim.fn(claim_id, actor) for claim_id in claim_ids]


@task(name="escalate-denials", cache_policy=NO_CACHE, **DATABASE_TASK_OPTIONS)
def escalate_many(denial_ids: list[uuid.UUID], actor: str) -> int:
    """`escalate` for each denial."""
    for denial_id in denial_ids:
        escalate.fn(denial_id, actor)
    return len(denial_ids)


@task(name="escalate-denial", cache_policy=NO_CACHE, **DATABASE_TASK_OPTIONS)
def escalate(denial_id: uuid.UUID, actor: str) -> None:
    """Assign a denial near its deadline to the escalation queue (rcm.denials.assign_denial)."""
    assign = require("rcm.denials", "assign_denial")
    with transaction() as session:
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
    "select_work",
    "submit_appeal",
    "submit_appeals",
]
