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


@task(name="create-corrected-claim", cache_policy=NO_CACHE, **DATABASE_TASK_OPTIONS)
def correct_claim(claim_id: uuid.UUID, actor: str) -> uuid.UUID:
    """A frequency 7 replacement of a denied claim (rcm.appeals.create_corrected_claim); the
    next submission scrubs and sends it."""
    create = require("rcm.appeals", "create_corrected_claim")
    with transaction() as session:
        claim = create(
            session, claim_id, reason="corrected per the payer's denial (auto)", actor=actor
        )
        return claim.id


@task(name="escalate-denial", cache_policy=NO_CACHE, **DATABASE_TASK_OPTIONS)
def escalate(denial_id: uuid.UUID, actor: str) -> None:
    """Assign a denial near its deadline to the escalation queue (rcm.denials.assign_denial)."""
    assign = require("rcm.denials", "assign_denial")
    with transaction() as session:
        assign(session, denial_id, ESCALATION_ASSIGNEE, actor=actor)


__all__ = [
    "ESCALATION_ASSIGNEE",
    "DraftLetter",
    "appeal_letter",
    "correct_claim",
    "draft_appeal",
    "escalate",
    "select_escalations",
    "select_work",
    "submit_appeal",
]
