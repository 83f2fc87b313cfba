from __future__ import annotations

import pytest
from sqlmodel import Session, select

from rcm.errors import ConfigError
from rcm.payers import load_payers, parse_payers, sync_payers
from rcm.settings import PROJECT_ROOT

PAYERS_FILE = PROJECT_ROOT / "config" / "payers.yaml"


def test_payer_list_has_the_required_kinds() -> None:
    payers = {p.key: p for p in load_payers(PAYERS_FILE)}
    assert len(payers) >= 8
    indicators = {p.claim_filing_indicator for p in payers.values()}
    assert {"MB", "MC", "CI", "BL", "16", "WC"} <= indicators
    assert payers["medicare-b-jl"].payer_id == "12502"
    assert {payers[k].payer_id for k in ("aetna", "uhc", "cigna")} == {"60054", "87726", "62308"}
    for payer in payers.values():
        assert payer.timely_filing_days > 0 and payer.appeal_window_days > 0
        assert payer.appeal_address.zip.isdigit()


def test_sync_is_idempotent(session: Session) -> None:
    from rcm.models import Payer

    payers = load_payers(PAYERS_FILE)
    first = sync_payers(session, payers)
    session.commit()
    assert (first.created, first.updated, first.unchanged) == (len(payers), 0, 0)
    second = sync_payers(session, payers)
    assert (second.created, second.updated, second.unchanged) == (0, 0, len(payers))
    assert not session.dirty
    changed = [
        p.model_copy(update={"timely_filing_days": 120}) if p.key == "aetna" else p for p in payers
    ]
    third = sync_payers(session, changed)
    assert (third.created, third.updated) == (0, 1)
    session.commit()
    aetna = session.exec(select(Payer).where(Payer.key == "aetna")).one()
    assert aetna.timely_filing_days == 120
    assert aetna.prior_auth_procedures and aetna.city == "Lexington"


def test_sync_only_some_keys(session: Session) -> None:
    result = sync_payers(session, load_payers(PAYERS_FILE), keys={"aetna", "uhc"})
    assert result.created == 2


def test_bad_payer_file_lists_every_problem() -> None:
    text = """
payers:
  - key: Bad Key
    name: X
    payer_id: "12345"
    claim_filing_indicator: QQ
    timely_filing_days: 90
    appeal_window_days: 90
    corrected_claim_days: 90
    prior_auth_procedures: ["9999"]
    appeal_address: {address1: 1 Main, city: X, state: XX, zip: "1234"}
  - key: aetna
    name: Aetna
    payer_id: "60054"
    claim_filing_indicator: CI
    timely_filing_days: 0
    appeal_window_days: 90
    corrected_claim_days: 90
    appeal_address: {address1: 1 Main, city: X, state: KY, zip: "40512"}
"""
    with pytest.raises(ConfigError) as info:
        parse_payers(text, source_name="payers.yaml")
    fields = sorted(p.split(": ")[1] for p in info.value.problems)
    assert fields == [
        "payers[0].appeal_address.state",
        "payers[0].appeal_address.zip",
        "payers[0].claim_filing_indicator",
        "payers[0].key",
        "payers[0].prior_auth_procedures",
        "payers[1].timely_filing_days",
    ]


def test_duplicate_payer_keys() -> None:
    entry = """
  - key: aetna
    name: Aetna
    payer_id: "60054"
    claim_filing_indicator: CI
    timely_filing_days: 90
    appeal_window_days: 90
    corrected_claim_days: 90
    appeal_address: {address1: 1 Main, city: X, state: KY, zip: "40512"}
"""
    with pytest.raises(ConfigError) as info:
        parse_payers("payers:" + entry + entry, source_name="payers.yaml")
    assert info.value.problems == ["payers.yaml: payers[1].key: duplicate of payers[0]"]
