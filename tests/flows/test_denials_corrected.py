"""A denial the scrubber cannot see coming becomes a corrected claim, end to end.

An outpatient rehab practice's therapy visits are keyed without their GP modifier; the sandbox
payers that follow CMS's "always therapy" policy deny them CO-4 (M78). `work_denials` (auto
correct) adds GP from the revenue code and creates frequency 7 claims; the next submission
sends them with CLM05-3 = 7 and REF*F8 naming the denied claim; the sandbox reverses the denial,
pays the replacement, and posting marks it PAID.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from sandbox.clearinghouse import SandboxClearinghouse

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PRACTICE_FILE = "conestoga-outpatient-rehab.yaml"
SEED = 4343
THERAPY_PAYERS = {"aetna", "ibx", "humana-ma", "pa-medicaid"}  # the practice's, with the rule


@dataclass
class RehabWorld:
    engine: Engine
    slug: str
    today: date
    sandbox: SandboxClearinghouse
    root: Path

    def outbound(self) -> list[Path]:
        base = self.root / "sandbox" / "rcm-demo" / "outbound"
        return sorted(p for p in base.iterdir() if p.is_file()) if base.is_dir() else []


@pytest.fixture
def rehab_world(engine: Engine, tmp_path: Path) -> Iterator[RehabWorld]:
    """The rehab practice, correcting automatically, with one day of charges in which every
    visit was keyed without its therapy modifier."""
    from connectors.clearinghouse import list_profiles
    from connectors.db import session_scope
    from connectors.secrets import secret_resolves
    from rcm.imports import import_charges, import_patients
    from rcm.onboarding.apply import apply_onboarding
    from rcm.onboarding.schema import load_onboarding_file
    from rcm.payers import load_payers, sync_payers
    from rcm.settings import get_settings
    from sandbox.clearinghouse import SandboxClearinghouse
    from sandbox.synthetic import generate_practice, roster_csv
    from tasks.clearinghouse import set_profile_overrides

    today = date.today()
    payers = {p.key: p for p in load_payers()}
    path = get_settings().config_dir / "practices" / PRACTICE_FILE
    doc = load_onboarding_file(path)
    doc = doc.model_copy(
        update={"policies": doc.policies.model_copy(update={"auto_correct": True})}
    )
    with session_scope(engine) as session:
        sync_payers(session, list(payers.values()))
    with session_scope(engine) as session:
        apply_onboarding(
            session,
            doc,
            source_name=path.name,
            known_clearinghouses=set(list_profiles()),
            secret_resolves=secret_resolves,
        )
    world = generate_practice(doc, payers, seed=SEED, patients=40, today=today)
    # Patients of the payers with the therapy modifier rule, all active, no second plan: every
    # visit that goes out is denied.
    for patient in world.patients:
        if patient.primary.payer_key not in THERAPY_PAYERS:
            patient.primary.payer_key = "aetna"
            patient.primary.payer_id = payers["aetna"].payer_id
        patient.primary.on_roster, patient.primary.active_to = True, None
        patient.secondary = None
    with session_scope(engine) as session:
        import_patients(session, world.slug, world.patients_csv())
    charges = world.charges_csv(
        today - timedelta(days=2), 6, distinct_patients=True, dropped_modifier_rate=1.0
    )
    with session_scope(engine) as session:
        import_charges(session, world.slug, charges, source_name="charges.csv")
    sandbox_root = tmp_path / "sandbox"
    sandbox_root.mkdir(parents=True, exist_ok=True)
    (sandbox_root / "roster.csv").write_bytes(roster_csv(world.roster_members()))
    clearinghouse = SandboxClearinghouse(sandbox_root, get_settings().config_dir, SEED)
    clearinghouse.start()
    set_profile_overrides("sandbox", clearinghouse.profile_overrides)
    try:
        yield RehabWorld(engine, world.slug, today, clearinghouse, tmp_path)
    finally:
        set_profile_overrides("sandbox", None)
        clearinghouse.stop()


def _claims(engine: Engine) -> list[Any]:
    from sqlmodel import Session, select

    from rcm.models import Claim

    with Session(engine) as session:
        rows = session.exec(select(Claim).order_by(Claim.patient_control_number)).all()
        for row in rows:
            session.expunge(row)
        return list(rows)


def test_co4_denial_becomes_a_paid_corrected_claim_with_the_modifier(
    rehab_world: RehabWorld,
) -> None:
    from sqlmodel import Session, col, select

    from flows.denials import work_denials
    from flows.responses import collect_responses
    from flows.submission import submit_claims
    from rcm.ledger import claim_balance
    from rcm.models import (
        AuditEvent,
        ClaimStatus,
        Denial,
        DenialStatus,
        FrequencyCode,
        ServiceLine,
    )
    from rcm.x12 import x835, x837

    world = rehab_world
    first = submit_claims(world.slug, world.today)
    assert first.files_uploaded == 1
    world.sandbox.wait_for_uploads()
    world.sandbox.run_cycle()
    collect_responses(world.slug, world.today)

    with Session(world.engine) as session:
        denials = session.exec(select(Denial)).all()
        co4 = [d for d in denials if (d.group_code, d.carc) == ("CO", "4")]
        assert co4 and all(d.rarcs == ["M78"] for d in co4), [(d.carc, d.rarcs) for d in denials]
        assert {d.recommended_action for d in co4} == {"correct_and_resubmit"}
    denied = {c.id: c for c in _claims(world.engine) if c.status is ClaimStatus.DENIED}
    assert denied

    work = work_denials(world.slug, world.today)
    assert work.corrected_claims == len(denied)
    assert work.queued_for_correction == 0
    claims = _claims(world.engine)
    corrected = [c for c in claims if c.frequency_code is FrequencyCode.REPLACEMENT]
    assert len(corrected) == len(denied)
    with Session(world.engine) as session:
        for claim in corrected:
            original = denied[claim.original_claim_id]
            assert claim.original_payer_claim_number == original.payer_claim_control_number
            assert claim.patient_control_number == original.patient_control_number + "R1"
            lines = session.exec(
                select(ServiceLine).where(ServiceLine.encounter_id == claim.encounter_id)
            ).all()
            # The fix the payer's CO-4 asked for: GP from the PT revenue code (042x).
            assert all(line.modifiers == ["GP"] for line in lines), [ln.modifiers for ln in lines]
            assert all((line.revenue_code or "").startswith("042") for line in lines)
        statuses = {
            d.status for d in session.exec(select(Denial).where(col(Denial.carc) == "4")).all()
        }
        assert statuses == {DenialStatus.CORRECTED}
        audit = session.exec(select(AuditEvent).where(AuditEvent.action == "claim.corrected")).all()
        assert len(audit) == len(corrected)
        assert all(a.detail["fixes"][0]["modifiers_after"] == ["GP"] for a in audit)
    assert {c.status for c in claims if c.id in denied} == {ClaimStatus.REPLACED}

    # Asking again changes nothing: the originals are REPLACED, the corrections wait to go out.
    assert work_denials(world.slug, world.today).corrected_claims == 0

    before = {p.name for p in world.outbound()}
    second = submit_claims(world.slug, world.today)
    assert second.files_uploaded == 1
    [sent] = [p for p in world.outbound() if p.name not in before]
    parsed = {c.patient_control_number: c for c in x837.parse_837(sent.read_bytes())}
    assert set(parsed) == {c.patient_control_number for c in corrected}
    for claim in corrected:
        out = parsed[claim.patient_control_number]
        assert out.frequency == "7"  # CLM05-3 (type of bill 137)
        assert out.facility_code == "13"
        assert out.original_claim_number == claim.original_payer_claim_number  # REF*F8
        assert all("GP" in line.modifiers for line in out.lines)
    assert b"REF*F8*" in sent.read_bytes()

    world.sandbox.wait_for_uploads()
    eras = world.sandbox.run_cycle()
    collect_responses(world.slug, world.today)
    era = [c for path in eras for rem in x835.parse_835(path.read_bytes()) for c in rem.claims]
    by_pcn = {c.patient_control_number: c for c in era}
    for claim in corrected:
        assert by_pcn[claim.patient_control_number].status in ("1", "19")
    # The payer reverses each denied original (CLP02 22) when the replacement arrives.
    reversed_pcns = {c.patient_control_number for c in era if c.status == "22"}
    assert reversed_pcns == {denied[c.original_claim_id].patient_control_number for c in corrected}

    with Session(world.engine) as session:
        for claim in _claims(world.engine):
            if claim.frequency_code is FrequencyCode.REPLACEMENT:
                assert claim.status is ClaimStatus.PAID, claim.patient_control_number
            if claim.id in denied:
                assert claim.status is ClaimStatus.REPLACED
                # Charges moved to the replacement, the denial reversed: nothing left here.
                balance = claim_balance(session, practice_id=claim.practice_id, claim_id=claim.id)
                assert balance == Decimal("0")
