"""scrub_claims on SQLite: claims go HELD (with ClaimEdit rows) or READY, each with a ClaimEvent."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import event
from sqlmodel import Session, select

from rcm.claims.states import transition
from rcm.models import (
    Claim,
    ClaimEdit,
    ClaimEvent,
    ClaimStatus,
    Coverage,
    EditSeverity,
    EligibilityStatus,
)
from rcm.scrub.adapter import scrub_claims
from tests.rcm.scrub.db_builders import TODAY, ScrubWorld
from tests.rcm.scrub.factory import cms_code_sets


def _edits(session: Session, claim: Claim, *, open_only: bool = True) -> list[ClaimEdit]:
    query = select(ClaimEdit).where(ClaimEdit.claim_id == claim.id)
    rows = session.exec(query).all()
    return [r for r in rows if r.resolved_at is None or not open_only]


def _events(session: Session, claim: Claim) -> list[ClaimEvent]:
    return list(session.exec(select(ClaimEvent).where(ClaimEvent.claim_id == claim.id)).all())


@pytest.fixture
def world(session: Session) -> ScrubWorld:
    return ScrubWorld(session)


def test_clean_claim_goes_ready_with_an_event(session: Session, world: ScrubWorld) -> None:
    claim = world.claim("PCN1")
    outcome = scrub_claims(session, practice_id=world.practice.id, today=TODAY, source="run-1")
    assert outcome.ready == [claim.id] and outcome.held == []
    session.refresh(claim)
    assert claim.status is ClaimStatus.READY
    assert _edits(session, claim) == []
    [ev] = _events(session, claim)
    assert (ev.from_status, ev.to_status, ev.source) == (
        ClaimStatus.DRAFT,
        ClaimStatus.READY,
        "run-1",
    )
    assert ev.reason == "scrub: clean"


def test_error_claim_is_held_with_edits(session: Session, world: ScrubWorld) -> None:
    claim = world.claim("PCN1", diagnoses=("E11",))
    outcome = scrub_claims(session, practice_id=world.practice.id, today=TODAY)
    assert outcome.held == [claim.id] and outcome.errors == 1
    session.refresh(claim)
    assert claim.status is ClaimStatus.HELD
    [edit] = _edits(session, claim)
    assert (edit.rule_id, edit.severity, edit.loop, edit.field) == (
        "DX-NOT-BILLABLE",
        EditSeverity.ERROR,
        "2300",
        "HI01-2",
    )
    assert edit.practice_id == world.practice.id
    [ev] = _events(session, claim)
    assert ev.to_status is ClaimStatus.HELD and "DX-NOT-BILLABLE" in ev.reason


def test_warnings_only_pass_with_a_note(session: Session, world: ScrubWorld) -> None:
    claim = world.claim("PCN1", diagnoses=("J06.9",))
    outcome = scrub_claims(session, practice_id=world.practice.id, today=TODAY)
    assert outcome.ready == [claim.id] and outcome.warnings == 1
    [edit] = _edits(session, claim)
    assert edit.rule_id == "DX-UNSPECIFIED" and edit.severity is EditSeverity.WARNING
    assert "warnings" in _events(session, claim)[0].reason


def test_rescrub_resolves_old_findings(session: Session, world: ScrubWorld) -> None:
    patient, coverage = world.patient()
    coverage.eligibility_status = EligibilityStatus.INACTIVE
    claim = world.claim("PCN1", patient=(patient, coverage))
    scrub_claims(session, practice_id=world.practice.id, today=TODAY)
    assert [e.rule_id for e in _edits(session, claim)] == ["ELIGIBILITY"]
    coverage.eligibility_status = EligibilityStatus.ACTIVE
    session.add(coverage)
    transition(session, claim, ClaimStatus.DRAFT, reason="eligibility re-verified", source="t")
    outcome = scrub_claims(session, practice_id=world.practice.id, today=TODAY)
    assert outcome.ready == [claim.id]
    assert _edits(session, claim) == []
    assert len(_edits(session, claim, open_only=False)) == 1
    assert [e.to_status for e in _events(session, claim)].count(ClaimStatus.READY) == 1


def test_only_draft_claims_of_the_practice_and_ids(session: Session, world: ScrubWorld) -> None:
    a = world.claim("PCN1")
    b = world.claim("PCN2")
    submitted = world.claim("PCN3", status=ClaimStatus.SUBMITTED)
    other_world = ScrubWorld(session, slug="other")
    other = other_world.claim("PCN1")
    outcome = scrub_claims(
        session, practice_id=world.practice.id, claim_ids=[a.id, submitted.id], today=TODAY
    )
    assert outcome.scrubbed == 1 and outcome.ready == [a.id]
    for row, status in (
        (b, ClaimStatus.DRAFT),
        (submitted, ClaimStatus.SUBMITTED),
        (other, ClaimStatus.DRAFT),
    ):
        session.refresh(row)
        assert row.status is status


def test_duplicates_against_billed_claims_and_within_the_batch(
    session: Session, world: ScrubWorld
) -> None:
    patient = world.patient()
    billed = world.claim("PCN1", patient=patient, status=ClaimStatus.SUBMITTED)
    again = world.claim("PCN2", patient=patient)
    voided_patient = world.patient()
    world.claim("PCN3", patient=voided_patient, status=ClaimStatus.VOIDED)
    rebill = world.claim("PCN4", patient=voided_patient)
    outcome = scrub_claims(session, practice_id=world.practice.id, today=TODAY)
    assert outcome.held == [again.id] and outcome.ready == [rebill.id]
    [edit] = _edits(session, again)
    assert edit.rule_id == "DUPLICATE-CLAIM" and str(billed.id) in edit.message


def test_of_two_new_duplicates_the_first_goes_out(session: Session, world: ScrubWorld) -> None:
    patient = world.patient()
    first = world.claim("PCN1", patient=patient)
    second = world.claim("PCN2", patient=patient)
    outcome = scrub_claims(session, practice_id=world.practice.id, today=TODAY)
    assert outcome.ready == [first.id] and outcome.held == [second.id]
    [edit] = _edits(session, second)
    assert edit.rule_id == "DUPLICATE-CLAIM" and str(first.id) in edit.message


def test_secondary_waits_for_primary_adjudication(session: Session, world: ScrubWorld) -> None:
    patient, primary_coverage = world.patient()
    secondary_coverage = Coverage(
        practice_id=world.practice.id,
        patient_id=patient.id,
        payer_id=world.secondary_payer.id,
        priority=2,
        member_id="MG123456",
        relationship="18",
        eligibility_status=EligibilityStatus.ACTIVE,
    )
    session.add(secondary_coverage)
    session.flush()
    primary = world.claim("PCN1", patient=(patient, primary_coverage), status=ClaimStatus.SUBMITTED)
    encounter_kwargs: dict[str, Any] = {
        "patient": (patient, secondary_coverage),
        "responsibility": "S",
        "payer": world.secondary_payer,
        "coverage": secondary_coverage,
    }
    from rcm.models import Encounter

    encounter = session.get(Encounter, primary.encounter_id)
    secondary = world.claim("PCN2", encounter=encounter, **encounter_kwargs)
    scrub_claims(session, practice_id=world.practice.id, today=TODAY)
    session.refresh(secondary)
    assert secondary.status is ClaimStatus.HELD
    assert [e.rule_id for e in _edits(session, secondary)] == ["SECONDARY-ORDER"]

    # The primary pays; the corrected secondary goes out.
    for status in (ClaimStatus.ACCEPTED, ClaimStatus.PAID):
        transition(session, primary, status, reason="835", source="t")
    transition(session, secondary, ClaimStatus.DRAFT, reason="primary paid", source="t")
    outcome = scrub_claims(session, practice_id=world.practice.id, today=TODAY)
    assert outcome.ready == [secondary.id]


def test_cms_code_sets_are_used(session: Session, world: ScrubWorld) -> None:
    claim = world.claim("PCN1", codes=("29881", "29877"))
    scrub_claims(session, practice_id=world.practice.id, today=TODAY, code_sets=cms_code_sets())
    assert "NCCI-PTP-BUNDLED" in [e.rule_id for e in _edits(session, claim)]


def test_queries_do_not_grow_with_claims(session: Session, world: ScrubWorld) -> None:
    def selects(n: int, prefix: str) -> int:
        for i in range(n):
            world.claim(f"{prefix}{i}")
        count = 0

        def on_execute(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
            nonlocal count
            count += statement.lstrip().upper().startswith("SELECT")

        bind = session.get_bind()
        event.listen(bind, "before_cursor_execute", on_execute)
        try:
            outcome = scrub_claims(session, practice_id=world.practice.id, today=TODAY)
        finally:
            event.remove(bind, "before_cursor_execute", on_execute)
        assert outcome.scrubbed == n
        return count

    assert selects(2, "A") == selects(25, "B")


def test_unknown_practice_raises(session: Session) -> None:
    import uuid

    with pytest.raises(ValueError):
        scrub_claims(session, practice_id=uuid.uuid4(), today=TODAY)
