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


def test_member_ids_given_out_to_other_practices_are_not_given_again(payers: dict) -> None:
    """One roster serves a firm's practices: a member ID another practice's patient holds
    (here, all of the first world's, which the same seed would otherwise repeat) is never
    handed to a second person."""
    doc = load_onboarding_file(PRACTICES[0])
    taken: set[str] = set()
    first = generate_practice(doc, payers, seed=5, patients=60, today=TODAY, member_ids=taken)
    first_ids = {m.member_id for m in first.roster_members()}
    assert first_ids and first_ids <= taken
    second = generate_practice(doc, payers, seed=5, patients=60, today=TODAY, member_ids=taken)
    assert not first_ids & {m.member_id for m in second.roster_members()}
    alone = generate_practice(doc, payers, seed=5, patients=60, today=TODAY)
    assert {m.member_id for m in alone.roster_members()} == first_ids


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


def _encounters(data: bytes) -> dict[str, list[dict[str, str]]]:
    out: dict[str, list[dict[str, str]]] = {}
    for row in _rows(data):
        out.setdefault(row["encounter_id"], []).append(row)
    return out


def _without(data: bytes, column: str) -> list[dict[str, str]]:
    return [{k: v for k, v in row.items() if k != column} for row in _rows(data)]


def test_a_few_therapy_visits_arrive_without_their_modifier(payers: dict) -> None:
    """One rehab visit in ten is keyed without GP (the payers with the "always therapy" rule
    deny it CO-4): exactly that share every day, each line of the visit, nothing else changed."""
    [rehab] = [p for p in PRACTICES if "rehab" in p.stem]
    world = generate_practice(
        load_onboarding_file(rehab), payers, seed=20261122, patients=80, today=TODAY
    )
    for back in range(1, 8):
        day = TODAY - timedelta(days=back)
        charges = world.charges_csv(day, 60)
        visits = _encounters(charges)
        bare = [e for e, lines in visits.items() if not any(r["modifiers"] for r in lines)]
        assert len(bare) == 6, day
        for e, lines in visits.items():
            assert all(r["modifiers"] == ("" if e in bare else "GP") for r in lines)
        # The share is drawn apart from the rest of the day: without it, the same visits.
        every_gp = world.charges_csv(day, 60, dropped_modifier_rate=0.0)
        assert all(r["modifiers"] == "GP" for r in _rows(every_gp))
        assert _without(charges, "modifiers") == _without(every_gp, "modifiers")
    # 10 % of 15 visits is 1.5: one or two, by the day's own draw, the same every time.
    small = [r for r in _rows(world.charges_csv(TODAY, 15)) if not r["modifiers"]]
    assert len({r["encounter_id"] for r in small}) in (1, 2)
    assert small == [r for r in _rows(world.charges_csv(TODAY, 15)) if not r["modifiers"]]


def test_only_the_rehab_practice_drops_modifiers(payers: dict) -> None:
    """A demo-sized world (3 practices, 3 days, 60 visits a day): the visits keyed without
    their modifier are a few percent of all claims, all of them the rehab practice's."""
    total = bare = 0
    for path in PRACTICES:
        world = generate_practice(
            load_onboarding_file(path), payers, seed=20261122, patients=80, today=TODAY
        )
        for back in range(1, 4):
            day = TODAY - timedelta(days=back)
            charges = world.charges_csv(day, 60)
            if world.specialty.dropped_modifiers:
                visits = _encounters(charges)
                bare += sum(1 for ls in visits.values() if not any(r["modifiers"] for r in ls))
            else:
                assert charges == world.charges_csv(day, 60, dropped_modifier_rate=0.5)
            total += len(_encounters(charges))
    assert total == 540
    assert 0.02 <= bare / total <= 0.05, (bare, total)
