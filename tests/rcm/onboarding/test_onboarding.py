from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import func
from sqlmodel import Session, SQLModel, select

from rcm.errors import ConfigError
from rcm.onboarding import (
    OnboardingDocument,
    apply_onboarding,
    load_onboarding_file,
    parse_onboarding,
    validate_onboarding,
)
from rcm.payers import load_payers
from rcm.settings import PROJECT_ROOT

PRACTICES_DIR = PROJECT_ROOT / "config" / "practices"
EXAMPLES = sorted(PRACTICES_DIR.glob("*.yaml"))
PAYERS = load_payers(PROJECT_ROOT / "config" / "payers.yaml")
PAYER_KEYS = {p.key for p in PAYERS}
SOURCE = "acme.yaml"


def _resolves(ref: str) -> bool:
    return not ref.startswith("env:MISSING")


def _problems(doc: OnboardingDocument) -> list[str]:
    return [
        str(p)
        for p in validate_onboarding(
            doc,
            source_name=SOURCE,
            known_payers=PAYER_KEYS,
            known_clearinghouses={"sandbox"},
            secret_resolves=_resolves,
        )
    ]


@pytest.fixture
def raw() -> dict[str, Any]:
    """A valid onboarding document as YAML would give it (numbers already text)."""
    return {
        "practice": {
            "slug": "acme-family",
            "name": "Acme Family Practice",
            "billing_npi": "1260181593",
            "tin": "23-4567812",
            "taxonomy_code": "207Q00000X",
            "address": {
                "address1": "1 Main St",
                "city": "Philadelphia",
                "state": "PA",
                "zip": "19130",
            },
            "phone": "215-555-0100",
            "timezone": "America/New_York",
        },
        "clearinghouse": {"profile": "sandbox", "account": "ACME01", "secret_ref": "env:ACME"},
        "providers": [
            {
                "npi": "1830166132",
                "entity": "individual",
                "role": "rendering",
                "first_name": "Ada",
                "last_name": "Lovelace",
                "taxonomy_code": "207Q00000X",
            },
            {
                "npi": "1860913908",
                "entity": "individual",
                "role": "referring",
                "first_name": "Bo",
                "last_name": "Diddley",
            },
            {
                "npi": "2114710496",
                "entity": "organization",
                "role": "facility",
                "organization_name": "Acme Surgery Center",
                "taxonomy_code": "261QA1903X",
            },
        ],
        "enrollments": [
            {
                "payer": "aetna",
                "credentialing_status": "approved",
                "effective_date": "2024-01-01",
                "era_enrolled": True,
                "eft_enrolled": True,
            },
            {"payer": "medicare-b-jl", "provider_npi": "1830166132"},
        ],
        "policies": {"eligibility_days_ahead": "3", "statement_min_balance": "10.00"},
    }


def _doc(raw: dict[str, Any]) -> OnboardingDocument:
    return OnboardingDocument.model_validate(raw)


def _set(raw: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    data = copy.deepcopy(raw)
    node: Any = data
    parts = path.replace("]", "").replace("[", ".").split(".")
    for part in parts[:-1]:
        node = node[int(part)] if part.isdigit() else node[part]
    last = parts[-1]
    if last.isdigit():
        node[int(last)] = value
    else:
        node[last] = value
    return data


def _count_rows(session: Session) -> dict[str, int]:
    import rcm.models  # noqa: F401

    return {
        name: session.exec(select(func.count()).select_from(table)).one()
        for name, table in SQLModel.metadata.tables.items()
        if name in {"practice", "provider", "payer_enrollment", "payer", "audit_event"}
    }


# --- the example practices --------------------------------------------------------------------


def test_there_are_three_example_practices() -> None:
    assert len(EXAMPLES) == 3


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_example_practices_validate(path: Path) -> None:
    doc = load_onboarding_file(path)
    assert doc.practice.slug == path.stem
    assert _problems(doc) == []


def test_example_practices_validate_against_real_config() -> None:
    from connectors.clearinghouse import list_profiles
    from connectors.secrets import secret_resolves

    for path in EXAMPLES:
        problems = validate_onboarding(
            load_onboarding_file(path),
            source_name=path.name,
            known_payers=PAYER_KEYS,
            known_clearinghouses=set(list_profiles(PROJECT_ROOT / "config")),
            secret_resolves=secret_resolves,
        )
        assert problems == []


def test_example_practices_cover_three_claim_setups() -> None:
    docs = [load_onboarding_file(p) for p in EXAMPLES]
    assert {d.practice.default_claim_type for d in docs} == {"professional", "institutional"}
    assert len({d.practice.timezone for d in docs}) >= 2
    roles = {p.role for d in docs for p in d.providers}
    assert roles == {"rendering", "referring", "attending", "facility"}


def test_example_practices_apply(session: Session) -> None:
    from rcm.models import Payer, PayerEnrollment, Practice, Provider

    for path in EXAMPLES:
        result = apply_onboarding(
            session,
            load_onboarding_file(path),
            source_name=path.name,
            payers=PAYERS,
            known_clearinghouses={"sandbox"},
        )
        assert result.created > 0 and result.updated == 0
    session.commit()
    assert len(session.exec(select(Practice)).all()) == 3
    assert len(session.exec(select(Provider)).all()) == 14
    assert len(session.exec(select(PayerEnrollment)).all()) == 27
    used = {e.payer for p in EXAMPLES for e in load_onboarding_file(p).enrollments}
    assert {p.key for p in session.exec(select(Payer)).all()} == used


# --- validation -------------------------------------------------------------------------------


def test_valid_document_has_no_problems(raw: dict[str, Any]) -> None:
    assert _problems(_doc(raw)) == []


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("practice.billing_npi", "1260181594", "check digit invalid"),
        ("practice.billing_npi", "126018159", "must be 10 digits"),
        ("practice.tin", "12-34567", "must be 9 digits"),
        ("practice.tin", "07-1234567", "EIN prefix is not one the IRS assigns"),
        ("practice.tin", "000000000", "must not be all zeros"),
        ("practice.taxonomy_code", "207Q0000X", "not a provider"),
        ("practice.address.address1", "PO Box 12", "the billing address must be a street"),
        ("practice.address.state", "XX", "not a US state"),
        ("practice.address.zip", "1913", "must be 5 or 9 digits"),
        ("practice.timezone", "Mars/Olympus", "not an IANA time zone"),
        ("practice.timezone", "America", "not an IANA time zone"),
        ("practice.slug", "Acme Family", "a slug is"),
        ("practice.phone", "555-0100", "must be a 10-digit"),
        ("practice.default_claim_type", "dental", "must be"),
        ("providers[1].npi", "1860913907", "check digit invalid"),
        ("providers[2].npi", "2114710497", "check digit invalid"),
        ("providers[0].taxonomy_code", "xyz", "not a provider"),
        ("providers[1].role", "surgeon", "must be one of"),
        ("providers[0].entity", "robot", "must be one of"),
        ("clearinghouse.profile", "nope", "no clearinghouse profile 'nope'"),
        (
            "clearinghouse.secret_ref",
            "env:MISSING_PASSWORD",
            "secret reference 'env:MISSING_PASSWORD' does not resolve",
        ),
        ("clearinghouse.secret_ref", "hunter2", "must be a reference"),
        ("clearinghouse.account", "has spaces", "a submitter ID"),
        ("enrollments[0].payer", "acme-health", "no payer 'acme-health'"),
        ("enrollments[1].provider_npi", "1948219930", "not a provider in this file"),
        ("enrollments[0].credentialing_status", "maybe", "must be one of"),
        ("enrollments[0].effective_date", None, "required when credentialing is approved"),
        ("enrollments[0].era_enrolled", False, "EFT enrollment requires ERA"),
        ("policies.eligibility_days_ahead", "90", "must be between 0 and 30"),
        ("policies.statement_min_balance", "1.005", "a non-negative amount"),
    ],
)
def test_each_invalid_field_is_named(
    raw: dict[str, Any], path: str, value: Any, message: str
) -> None:
    problems = _problems(_doc(_set(raw, path, value)))
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"acme.yaml: {path}: {message}"), problems


def test_npi_type_follows_the_declared_entity(raw: dict[str, Any]) -> None:
    # A rendering clinician declared as an organization, a facility declared as an individual.
    doc = _doc(
        _set(_set(raw, "providers[0].entity", "organization"), "providers[2].entity", "individual")
    )
    problems = _problems(doc)
    assert (
        "acme.yaml: providers[0].entity: a rendering provider needs a type-1 NPI (individual)"
        in problems
    )
    assert (
        "acme.yaml: providers[2].entity: a facility provider needs a type-2 NPI (organization)"
        in problems
    )


def test_billing_npi_cannot_be_a_clinician(raw: dict[str, Any]) -> None:
    # A common mistake: the group's type-2 billing NPI entered as a physician's NPI.
    doc = _doc(_set(raw, "providers[0].npi", raw["practice"]["billing_npi"]))
    problems = _problems(doc)
    assert any(
        p.startswith("acme.yaml: providers[0].entity: this NPI is the practice's billing NPI")
        for p in problems
    ), problems


def test_sole_proprietor_bills_under_an_individual_npi(raw: dict[str, Any]) -> None:
    data = _set(raw, "practice.billing_npi", "1830166132")
    assert any("billing NPI (organization, type 2)" in p for p in _problems(_doc(data)))
    data = _set(_set(data, "practice.billing_entity", "individual"), "practice.tin_type", "ssn")
    data = _set(data, "practice.tin", "123-45-6789")
    assert _problems(_doc(data)) == []
    data = _set(data, "practice.billing_npi", raw["providers"][2]["npi"])  # the facility's NPI
    problems = _problems(_doc(data))
    assert any(
        "billing NPI (individual, type 1); it cannot be an organization" in p for p in problems
    )
    assert _problems(_doc(_set(raw, "practice.billing_entity", "robot"))) == [
        "acme.yaml: practice.billing_entity: must be one of individual, organization"
    ]


def test_duplicates_are_reported(raw: dict[str, Any]) -> None:
    data = copy.deepcopy(raw)
    data["providers"].append(copy.deepcopy(data["providers"][0]))
    data["enrollments"].append(copy.deepcopy(data["enrollments"][0]))
    problems = _problems(_doc(data))
    assert "acme.yaml: providers[3].npi: duplicate of providers[0]" in problems
    assert any(
        p.startswith("acme.yaml: enrollments[2]: duplicate of enrollments[0]") for p in problems
    )


def test_default_secret_only_for_the_sandbox(raw: dict[str, Any]) -> None:
    doc = _doc(_set(raw, "clearinghouse.secret_ref", "env:X:-default"))
    assert _problems(doc) == []
    real = _set(
        _set(raw, "clearinghouse.secret_ref", "env:X:-default"), "clearinghouse.profile", "waystar"
    )
    problems = validate_onboarding(
        _doc(real),
        source_name=SOURCE,
        known_payers=PAYER_KEYS,
        known_clearinghouses={"waystar"},
        secret_resolves=_resolves,
    )
    assert [p.field for p in problems] == ["clearinghouse.secret_ref"]


def test_every_problem_is_reported_at_once(raw: dict[str, Any]) -> None:
    bad = raw
    for path, value in [
        ("practice.billing_npi", "1260181594"),
        ("practice.tin", "12345"),
        ("practice.address.zip", "1"),
        ("providers[1].npi", "1860913907"),
        ("providers[2].taxonomy_code", "bad"),
        ("clearinghouse.profile", "nope"),
        ("enrollments[0].payer", "nope"),
    ]:
        bad = _set(bad, path, value)
    fields = [p.split(": ")[1] for p in _problems(_doc(bad))]
    assert fields == [
        "practice.billing_npi",
        "practice.tin",
        "practice.address.zip",
        "clearinghouse.profile",
        "providers[1].npi",
        "providers[2].taxonomy_code",
        "enrollments[0].payer",
    ]


def test_structure_problems_name_file_and_field(raw: dict[str, Any]) -> None:
    data = copy.deepcopy(raw)
    del data["practice"]["name"]
    data["providers"][1]["nickname"] = "Bo"
    data["enrollments"][0]["effective_date"] = "someday"
    with pytest.raises(ConfigError) as info:
        parse_onboarding(yaml.safe_dump(data), source_name=SOURCE)
    problems = info.value.problems
    assert "acme.yaml: practice.name: Field required" in problems
    assert any(p.startswith("acme.yaml: providers[1].nickname: Extra inputs") for p in problems)
    assert any(p.startswith("acme.yaml: enrollments[0].effective_date:") for p in problems)


def test_unquoted_digits_stay_text() -> None:
    text = """
practice: {slug: acme, name: Acme, billing_npi: 1260181593, tin: 234567812,
           taxonomy_code: 207Q00000X, timezone: America/New_York,
           address: {address1: 1 Main St, city: Boston, state: MA, zip: 02134}}
clearinghouse: {profile: sandbox, account: 0042}
policies: {statement_min_balance: 10.50}
"""
    doc = parse_onboarding(text, source_name=SOURCE)
    assert doc.practice.address.zip == "02134"  # YAML 1.1 would read the octal 1116
    assert doc.practice.billing_npi == "1260181593"
    assert doc.clearinghouse.account == "0042"
    assert str(doc.policies.statement_min_balance) == "10.50"


def test_not_yaml_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("practice: [unclosed\n")
    with pytest.raises(ConfigError) as info:
        load_onboarding_file(path)
    assert info.value.problems[0].startswith("broken.yaml: line")


# --- apply ------------------------------------------------------------------------------------


def _apply(session: Session, doc: OnboardingDocument) -> Any:
    return apply_onboarding(
        session,
        doc,
        source_name=SOURCE,
        payers=PAYERS,
        known_clearinghouses={"sandbox"},
        secret_resolves=_resolves,
    )


def test_invalid_file_writes_nothing(session: Session, raw: dict[str, Any]) -> None:
    _apply(session, _doc(raw))
    session.commit()
    before = _count_rows(session)
    changed = _set(_set(raw, "practice.name", "Renamed"), "providers[1].npi", "1860913907")
    changed["providers"].append(
        {
            "npi": "1948219930",
            "entity": "individual",
            "role": "rendering",
            "first_name": "N",
            "last_name": "P",
            "taxonomy_code": "363LF0000X",
        }
    )
    with pytest.raises(ConfigError) as info:
        _apply(session, _doc(changed))
    assert info.value.problems == ["acme.yaml: providers[1].npi: check digit invalid"]
    assert "nothing was written" in str(info.value)
    session.rollback()
    assert _count_rows(session) == before
    from rcm.models import Practice

    assert session.exec(select(Practice)).one().name == "Acme Family Practice"


def test_invalid_file_on_empty_database_writes_nothing(
    session: Session, raw: dict[str, Any]
) -> None:
    before = _count_rows(session)
    with pytest.raises(ConfigError):
        _apply(session, _doc(_set(raw, "enrollments[0].payer", "nope")))
    assert _count_rows(session) == before == {k: 0 for k in before}


def test_onboarding_twice_changes_nothing(session: Session, raw: dict[str, Any]) -> None:
    from rcm.models import Practice

    first = _apply(session, _doc(raw))
    session.commit()
    # 2 payers, the practice, 3 providers, 2 enrollments
    assert (first.created, first.updated, first.unchanged) == (8, 0, 0)
    stamp = session.exec(select(Practice)).one().updated_at
    second = _apply(session, _doc(raw))
    assert (second.created, second.updated, second.unchanged) == (0, 0, 8)
    assert not session.dirty and not session.new
    session.commit()
    session.expire_all()
    assert session.exec(select(Practice)).one().updated_at == stamp


def test_changed_file_updates_only_what_changed(session: Session, raw: dict[str, Any]) -> None:
    from rcm.models import CredentialingStatus, PayerEnrollment, Practice

    _apply(session, _doc(raw))
    session.commit()
    stamp = session.exec(select(Practice)).one().updated_at
    changed = _set(
        _set(raw, "practice.phone", "215-555-0199"), "enrollments[1].credentialing_status", "denied"
    )
    result = _apply(session, _doc(changed))
    session.commit()
    assert result.details["practice"] == {"created": 0, "updated": 1, "unchanged": 0}
    assert result.details["enrollments"] == {"created": 0, "updated": 1, "unchanged": 1}
    assert result.details["providers"]["updated"] == 0
    practice = session.exec(select(Practice)).one()
    assert practice.phone == "2155550199"
    assert practice.updated_at > stamp
    statuses = {e.credentialing_status for e in session.exec(select(PayerEnrollment)).all()}
    assert statuses == {CredentialingStatus.APPROVED, CredentialingStatus.DENIED}


def test_apply_stores_normalized_values(session: Session, raw: dict[str, Any]) -> None:
    from rcm.models import PayerEnrollment, Practice, Provider

    _apply(session, _doc(_set(raw, "practice.address.zip", "19130-1107")))
    practice = session.exec(select(Practice)).one()
    assert practice.tin == "234567812"
    assert practice.zip == "191301107"
    assert practice.policies["statement_min_balance"] == "10.00"
    assert practice.policies["clearinghouse_secret_ref"] == "env:ACME"
    facility = session.exec(select(Provider).where(Provider.npi == "2114710496")).one()
    assert facility.last_name == "Acme Surgery Center" and facility.first_name is None
    group = session.exec(
        select(PayerEnrollment).where(PayerEnrollment.provider_id == None)  # noqa: E711
    ).one()
    assert group.era_enrolled and group.eft_enrolled
