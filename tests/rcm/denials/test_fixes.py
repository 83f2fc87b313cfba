"""Fixes a corrected claim infers from its denials (rcm.denials.fixes), and the automatic
corrected-claim path built on them (rcm.appeals.auto_correct_claim)."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlmodel import Session, col

from rcm.appeals import CORRECTIONS_QUEUE, auto_correct_claim
from rcm.denials.fixes import CorrectionError, apply_plan, plan_correction
from rcm.models import (
    AuditEvent,
    Claim,
    ClaimStatus,
    Denial,
    DenialStatus,
    FrequencyCode,
    Provider,
    ServiceLine,
)
from rcm.posting import post_remittance
from tests.rcm.posting.helpers import (
    D,
    Seeded,
    clp,
    make_interchange,
    make_payer,
    make_practice,
    remittance,
    svc,
)

Line = tuple[str, Sequence[str], Decimal, str | None]  # code, modifiers, charge, revenue code


def deny(
    session: Session,
    lines: Sequence[Line],
    denied: Sequence[tuple[str, str, Sequence[str]]],
    *,
    taxonomy: str | None = None,
) -> Seeded:
    """A claim whose every line the payer denied: `denied` is (group, CARC, RARCs) per line."""
    practice = make_practice(session)
    payer = make_payer(session)
    seeded = Seeded(session, practice, payer, "PCN1", [(c, m, ch) for c, m, ch, _ in lines])
    for line, (_, _, _, revenue) in zip(seeded.lines, lines, strict=True):
        line.revenue_code = revenue
        session.add(line)
    if taxonomy is not None:
        provider = Provider(
            practice_id=practice.id, npi="1234567893", last_name="Therapist", taxonomy_code=taxonomy
        )
        session.add(provider)
        session.flush()
        seeded.encounter.rendering_provider_id = provider.id
        session.add(seeded.encounter)
    session.flush()
    services = [
        svc(code, str(charge), "0", (group, carc, str(charge)), modifiers=mods, remarks=rarcs)
        for (code, mods, charge, _), (group, carc, rarcs) in zip(lines, denied, strict=True)
    ]
    total = str(sum((ch for _, _, ch, _ in lines), D("0")))
    post_remittance(
        session,
        remittance([clp("PCN1", "4", total, "0", services)]),
        interchange_id=make_interchange(session, practice).id,
    )
    session.refresh(seeded.claim)
    assert seeded.claim.status is ClaimStatus.DENIED
    return seeded


CO4 = ("CO", "4", ["M78"])


def test_therapy_modifier_from_the_revenue_code(session: Session) -> None:
    seeded = deny(
        session,
        [("97110", [], D("160"), "0420"), ("97530", ["59"], D("95"), "0430")],
        [CO4, CO4],
    )
    plan = plan_correction(session, seeded.claim.id)
    assert plan.automatic and len(plan.denial_ids) == 2
    assert [(f.line_number, f.modifiers_before, f.modifiers_after) for f in plan.fixes] == [
        (1, (), ("GP",)),
        (2, ("59",), ("59", "GO")),
    ]
    assert "revenue code 0420" in plan.fixes[0].why and "CO-4/M78" in plan.fixes[0].why
    apply_plan(session, plan)
    session.refresh(seeded.lines[0])
    assert seeded.lines[0].modifiers == ["GP"]


def test_therapy_modifier_from_the_rendering_taxonomy_or_the_other_lines(
    session: Session,
) -> None:
    seeded = deny(
        session,
        [("97140", [], D("85"), None), ("97112", [], D("90"), None)],
        [CO4, CO4],
        taxonomy="225X00000X",  # occupational therapist
    )
    plan = plan_correction(session, seeded.claim.id)
    assert [f.modifiers_after for f in plan.fixes] == [("GO",), ("GO",)]
    assert "taxonomy 225X00000X" in plan.fixes[0].why


def test_the_other_lines_tell_the_discipline(session: Session) -> None:
    seeded = deny(
        session,
        [("97110", ["GP"], D("80"), None), ("97140", [], D("85"), None)],
        [("CO", "45", []), CO4],
    )
    plan = plan_correction(session, seeded.claim.id)
    assert plan.automatic
    [fix] = plan.fixes
    assert (fix.line_number, fix.modifiers_after) == (2, ("GP",))
    assert "other therapy lines" in fix.why


def test_a_claim_level_denial_fixes_the_therapy_lines_that_need_it(session: Session) -> None:
    practice = make_practice(session)
    seeded = Seeded(
        session,
        practice,
        make_payer(session),
        "PCN1",
        [("97110", ["GP"], D("80")), ("97140", [], D("85"))],
    )
    for line in seeded.lines:
        line.revenue_code = "0420"
        session.add(line)
    post_remittance(
        session,
        remittance([clp("PCN1", "4", "165", "0", [], ("CO", "4", "165"))]),
        interchange_id=make_interchange(session, practice).id,
    )
    [denial] = session.scalars(select(Denial)).all()
    assert denial.service_line_id is None
    plan = plan_correction(session, seeded.claim.id)
    assert plan.automatic
    assert [(f.line_number, f.modifiers_after) for f in plan.fixes] == [(2, ("GP",))]


def test_a_wrong_discipline_is_replaced_in_place(session: Session) -> None:
    seeded = deny(session, [("97110", ["GO", "KX"], D("80"), "0420")], [CO4])
    [fix] = plan_correction(session, seeded.claim.id).fixes
    assert fix.modifiers_after == ("GP", "KX")


@pytest.mark.parametrize(
    ("lines", "denied", "reason"),
    [
        # Which modifier an E/M wants the payer does not say.
        ([("99213", [], D("120"), None)], [CO4], "cannot be inferred"),
        # The therapy modifier is there already: the edit is something else.
        ([("97110", ["GP"], D("80"), "0420")], [CO4], "already carries GP"),
        # No revenue code, no therapist, no other line: no discipline.
        ([("97110", [], D("80"), None)], [CO4], "discipline"),
        # A missing referring provider cannot be made up.
        ([("97110", ["GP"], D("80"), "0420")], [("CO", "16", ["N286"])], "no automatic fix"),
    ],
)
def test_no_fix_when_the_claim_does_not_say_what_to_change(
    session: Session,
    lines: list[Line],
    denied: list[tuple[str, str, list[str]]],
    reason: str,
) -> None:
    seeded = deny(session, lines, denied)
    plan = plan_correction(session, seeded.claim.id)
    assert not plan.automatic and not plan.fixes
    assert reason in plan.describe()
    with pytest.raises(CorrectionError, match="biller"):
        apply_plan(session, plan)


def test_one_unfixable_denial_holds_the_whole_claim(session: Session) -> None:
    seeded = deny(
        session,
        [("97110", [], D("80"), "0420"), ("97140", ["GP"], D("85"), "0420")],
        [CO4, ("CO", "16", ["N286"])],
    )
    plan = plan_correction(session, seeded.claim.id)
    assert not plan.automatic and len(plan.fixes) == 1 and len(plan.unresolved) == 1


def test_auto_correct_applies_the_fix_and_replaces_the_claim(session: Session) -> None:
    seeded = deny(session, [("97110", [], D("160"), "0420")], [CO4])
    done = auto_correct_claim(session, seeded.claim.id, actor="flow-run-1")
    assert done.corrected and [f.modifiers_after for f in done.fixes] == [("GP",)]
    corrected = session.get(Claim, done.corrected_claim_id)
    assert corrected is not None
    assert corrected.frequency_code is FrequencyCode.REPLACEMENT
    assert corrected.original_payer_claim_number == "PCCN1"
    assert corrected.total_charge == D("160")
    [line] = session.scalars(
        select(ServiceLine).where(col(ServiceLine.encounter_id) == corrected.encounter_id)
    ).all()
    assert line.modifiers == ["GP"]
    session.refresh(seeded.claim)
    assert seeded.claim.status is ClaimStatus.REPLACED
    [denial] = session.scalars(select(Denial)).all()
    assert denial.status is DenialStatus.CORRECTED
    audit = session.scalars(
        select(AuditEvent).where(col(AuditEvent.action) == "claim.corrected")
    ).one()
    assert audit.detail["fixes"][0]["modifiers_after"] == ["GP"]
    # Asking again: the claim is REPLACED now, nothing more happens.
    again = auto_correct_claim(session, seeded.claim.id)
    assert not again.corrected and "replaced" in again.note.lower()


def test_auto_correct_queues_what_it_cannot_fix_for_a_biller(session: Session) -> None:
    seeded = deny(session, [("97110", ["GP"], D("80"), "0420")], [("CO", "16", ["N286"])])
    done = auto_correct_claim(session, seeded.claim.id, actor="flow-run-1")
    assert not done.corrected and len(done.queued_denial_ids) == 1
    assert "no automatic fix" in done.note
    [denial] = session.scalars(select(Denial)).all()
    assert (denial.status, denial.assignee) == (DenialStatus.ASSIGNED, CORRECTIONS_QUEUE)
    session.refresh(seeded.claim)
    assert seeded.claim.status is ClaimStatus.DENIED
    claims = session.scalars(select(Claim)).all()
    assert len(claims) == 1  # no corrected claim identical to the denied one
    reason = session.scalars(
        select(AuditEvent).where(col(AuditEvent.action) == "denial.correction_needed")
    ).one()
    assert "N286" in reason.detail["reason"]
    # Asking again changes nothing: the denial is with the billers already.
    again = auto_correct_claim(session, seeded.claim.id)
    assert again.queued_denial_ids == () and not again.corrected


def test_without_a_payer_claim_number_the_fix_waits_for_a_biller(session: Session) -> None:
    seeded = deny(session, [("97110", [], D("160"), "0420")], [CO4])
    seeded.claim.payer_claim_control_number = None
    session.add(seeded.claim)
    session.flush()
    done = auto_correct_claim(session, seeded.claim.id)
    assert not done.corrected and len(done.queued_denial_ids) == 1
    assert "REF*F8" in done.note
    session.refresh(seeded.lines[0])
    assert seeded.lines[0].modifiers == []  # nothing changed on the lines
