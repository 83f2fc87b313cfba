"""The synthetic world: the practice's exports import cleanly and the payer roster agrees."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlmodel import Session, func, select

from rcm.imports import import_appointments, import_charges, import_patients
from rcm.models import Coverage, Encounter, Patient, ServiceLine
from rcm.onboarding.apply import apply_onboarding
from rcm.onboarding.schema import load_onboarding_file
from rcm.payers import load_payers
from rcm.settings import PROJECT_ROOT
from sandbox.synthetic import generate_practice, roster_csv

PRACTICES = sorted((PROJECT_ROOT / "config" / "practices").glob("*.yaml"))
TODAY = date(2026, 11, 22)


def _rows(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode())))


@pytest.fixture(scope="module")
def payers() -> dict:
    return {p.key: p for p in load_payers()}


@pytest.mark.parametrize("practice_file", PRACTICES, ids=lambda p: p.stem)
def test_same_seed_gives_the_same_world(practice_file: Path, payers: dict) -> None:
    doc = load_onboarding_file(practice_file)
    first = generate_practice(doc, payers, seed=11, patients=30, today=TODAY)
    again = generate_practice(doc, payers, seed=11, patients=30, today=TODAY)
    other = generate_practice(doc, payers, seed=12, patients=30, today=TODAY)
    assert first.patients_csv() == again.patients_csv()
    assert first.charges_csv(TODAY, 20) == again.charges_csv(TODAY, 20)
    assert roster_csv(first.roster_members()) == roster_csv(again.roster_members())
    assert first.patients_csv() != other.patients_csv()


@pytest.mark.parametrize("practice_file", PRACTICES, ids=lambda p: p.stem)
def test_exports_import_cleanly(practice_file: Path, payers: dict, session: Session) -> None:
    doc = load_onboarding_file(practice_file)
    apply_onboarding(session, doc, source_name=practice_file.name)
    world = generate_practice(doc, payers, seed=3, patients=40, today=TODAY)
    slug = doc.practice.slug

    import_patients(session, slug, world.patients_csv())
    import_appointments(session, slug, world.appointments_csv(TODAY + timedelta(days=1), 2, 5))
    charges = world.charges_csv(TODAY - timedelta(days=1), 25)
    result = import_charges(session, slug, charges)

    assert session.exec(select(func.count()).select_from(Patient)).one() == 40
    assert session.exec(select(func.count()).select_from(Encounter)).one() == 25
    lines = _rows(charges)
    assert result.created == len(lines)
    total = session.exec(select(func.sum(ServiceLine.charge))).one()
    assert total == sum(__import__("decimal").Decimal(r["charge"]) for r in lines)
    # Re-importing the same day changes nothing.
    again = import_charges(session, slug, charges)
    assert again.created == 0


def test_roster_reflects_the_payer_side_of_each_card(payers: dict) -> None:
    doc = load_onboarding_file(PRACTICES[0])
    world = generate_practice(doc, payers, seed=5, patients=200, today=TODAY)
    roster = {m.member_id: m for m in world.roster_members()}
    primaries = [p.primary for p in world.patients]
    off_roster = [c for c in primaries if not c.on_roster]
    inactive = [c for c in primaries if c.active_to is not None]
    assert off_roster, "some members the payer does not know, for 277CA/271 rejections"
    assert inactive, "some coverage that has ended, for eligibility work items"
    for card in primaries:
        assert (card.member_id in roster) == card.on_roster
    for card in inactive:
        assert roster[card.member_id].active_to < TODAY
    unknown_secondaries = [
        p.secondary for p in world.patients if p.secondary and not p.secondary.known_to_practice
    ]
    exported = {r["secondary_member_id"] for r in _rows(world.patients_csv())}
    for card in unknown_secondaries:
        assert card.member_id not in exported
        assert card.member_id in roster


def test_coverage_rows_match_the_patients_file(payers: dict, session: Session) -> None:
    doc = load_onboarding_file(PRACTICES[-1])
    apply_onboarding(session, doc, source_name="x.yaml")
    world = generate_practice(doc, payers, seed=9, patients=15, today=TODAY)
    import_patients(session, doc.practice.slug, world.patients_csv())
    members = set(session.exec(select(Coverage.member_id)).all())
    assert {p.primary.member_id for p in world.patients} <= members
