"""The sandbox payers' decisions, as pure logic: amounts computed by hand."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rcm.errors import ConfigError
from sandbox.payer_rules import (
    Accumulator,
    AdjudicationContext,
    ClaimDecision,
    ClaimIn,
    LineIn,
    Roster,
    adjudicate,
    corrected,
    eligibility,
    front_end_check,
    load_config,
    load_roster,
    parse_fee_schedule,
    parse_roster,
    write_roster_csv,
)
from tests.sandbox.helpers import MEMBERS, REPO, make_config, write_roster

D = Decimal
ZERO_D = Decimal(0)
DOS = date(2026, 11, 10)
RECEIVED = date(2026, 11, 22)


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    return load_config(make_config(tmp_path_factory.mktemp("cfg")))


@pytest.fixture(scope="module")
def roster() -> Roster:
    return Roster({m.member_id: m for m in MEMBERS})


def claim(
    *lines: LineIn, member: str = "W100000001", payer: str = "60054", **kw: object
) -> ClaimIn:
    values: dict[str, object] = {
        "patient_control_number": "PCN1",
        "payer_id": payer,
        "member_id": member,
        "subscriber_last": "DOE",
        "subscriber_first": "JANE",
        "service_date": DOS,
        "charge": sum((ln.charge for ln in lines), D(0)),
        "lines": lines,
        "diagnoses": ("J069",),
        "billing_npi": "1234567893",
    }
    values.update(kw)
    return ClaimIn(**values)  # type: ignore[arg-type]


def decide(c: ClaimIn, config, roster: Roster, acc: Accumulator | None = None, **kw):  # type: ignore[no-untyped-def]
    ctx = AdjudicationContext(
        member=roster.get(c.member_id),
        rules=config.payer(c.payer_id),
        fees=config.fees,
        received=RECEIVED,
        accumulator=acc or Accumulator(),
        **kw,
    )
    return adjudicate(c, ctx, icn="ICN1")


def adjustments(decision: ClaimDecision) -> list[list[tuple[str, str, Decimal]]]:
    return [[(a.group, a.reason, a.amount) for a in ln.adjustments] for ln in decision.lines]


def test_copay_visit_and_bundled_venipuncture(config, roster) -> None:  # type: ignore[no-untyped-def]
    # DOE: copay 25. 99213 at Aetna's 95.00: CO-45 55, PR-3 25, paid 70. 36415 with 99213: CO-97.
    d = decide(claim(LineIn(1, "99213", D("150")), LineIn(2, "36415", D("20"))), config, roster)
    assert d.status == "1"
    assert adjustments(d) == [
        [("CO", "45", D("55")), ("PR", "3", D("25"))],
        [("CO", "97", D("20"))],
    ]
    assert [ln.paid for ln in d.lines] == [D("70"), D("0")]
    assert d.lines[1].rarcs == ("N19",)
    assert d.paid == D("70") and d.patient_responsibility == D("25") and d.balanced


def test_deductible_then_coinsurance_and_accumulator(config, roster) -> None:  # type: ignore[no-untyped-def]
    # SMITH: no copay, deductible 50 left, 20 %. 99214 at 135: PR-1 50, PR-2 17, paid 68.
    acc = Accumulator()
    c = claim(LineIn(1, "99214", D("200")), member="W100000002", subscriber_last="SMITH")
    d = decide(c, config, roster, acc)
    assert adjustments(d) == [[("CO", "45", D("65")), ("PR", "1", D("50")), ("PR", "2", D("17"))]]
    assert d.paid == D("68")
    assert acc.deductible_used == D("50") and acc.oop_used == D("67")
    # The deductible is met: the next visit is coinsurance only (27.00 of 135).
    d2 = decide(c, config, roster, acc)
    assert adjustments(d2) == [[("CO", "45", D("65")), ("PR", "2", D("27"))]]
    assert d2.paid == D("108")


def test_out_of_pocket_cap(config, roster) -> None:  # type: ignore[no-untyped-def]
    acc = Accumulator(deductible_used=D("50"), oop_used=D("2990"))
    c = claim(LineIn(1, "99214", D("200")), member="W100000002", subscriber_last="SMITH")
    d = decide(c, config, roster, acc)
    assert adjustments(d) == [[("CO", "45", D("65")), ("PR", "2", D("10"))]]
    assert d.paid == D("125")


def test_medicare_rates_coinsurance_rounding_and_crossover(config, roster) -> None:  # type: ignore[no-untyped-def]
    # Medicare 99213 at 88.14; 20 % = 17.628 -> 17.63; paid 70.51; forwarded to Medicaid.
    c = claim(
        LineIn(1, "99213", D("120")),
        member="1EG4TE5MK73",
        payer="12502",
        subscriber_last="GREEN",
        subscriber_first="PAT",
    )
    d = decide(c, config, roster)
    assert adjustments(d) == [[("CO", "45", D("31.86")), ("PR", "2", D("17.63"))]]
    assert d.paid == D("70.51")
    assert d.status == "19" and d.claim_rarcs == ("MA18",)
    assert d.forwarded_to == "PENNSYLVANIA MEDICAL ASSISTANCE"


def test_units_multiply_and_unknown_procedure_uses_default_percent(config, roster) -> None:  # type: ignore[no-untyped-def]
    c = claim(
        LineIn(1, "97110", D("90"), units=D("2"), modifiers=("GP",)),
        LineIn(2, "99999", D("100")),
        member="W100000002",
        subscriber_last="SMITH",
        **{"referring_npi": "1987654328"},
    )
    d = decide(c, config, roster, Accumulator(deductible_used=D("50")))
    assert [ln.allowed for ln in d.lines] == [D("58.00"), D("60.00")]
    assert adjustments(d) == [
        [("CO", "45", D("32.00")), ("PR", "2", D("11.60"))],
        [("CO", "45", D("40.00")), ("PR", "2", D("12.00"))],
    ]


@pytest.mark.parametrize(
    ("reason", "kwargs", "line", "rarcs"),
    [
        ("197", {}, LineIn(1, "73721", D("900")), ("M62",)),
        ("50", {"diagnoses": ("J45909",)}, LineIn(1, "93000", D("60")), ("N115",)),
        ("29", {"service_date": date(2026, 6, 1)}, LineIn(1, "99213", D("150")), ()),
        ("109", {"member_id": "W100000003"}, LineIn(1, "99213", D("150")), ("N418",)),
        ("27", {"member_id": "W100000005"}, LineIn(1, "99213", D("150")), ("N30",)),
    ],
)
def test_denials(config, roster, reason, kwargs, line, rarcs) -> None:  # type: ignore[no-untyped-def]
    d = decide(claim(line, **kwargs), config, roster)
    assert d.status == "4"
    assert adjustments(d) == [[("CO", reason, line.charge)]]
    assert d.lines[0].rarcs == rarcs
    assert d.paid == 0 and d.balanced


def test_prior_auth_present_and_medical_necessity_met_pay(config, roster) -> None:  # type: ignore[no-untyped-def]
    d = decide(claim(LineIn(1, "73721", D("900")), prior_auth="PA12345"), config, roster)
    assert d.status == "1" and d.lines[0].allowed == D("230.00")
    d = decide(claim(LineIn(1, "93000", D("60")), diagnoses=("R079",)), config, roster)
    assert d.status == "1" and d.lines[0].allowed == D("16.50")


def test_referring_provider_required_by_medicare(config, roster) -> None:  # type: ignore[no-untyped-def]
    c = claim(
        LineIn(1, "97110", D("90"), units=D("2")),
        member="1EG4TE5MK73",
        payer="12502",
        subscriber_last="GREEN",
    )
    d = decide(c, config, roster)
    assert adjustments(d) == [[("CO", "16", D("90"))]]
    assert d.lines[0].rarcs == ("N264", "N286")  # Medicare's override in payer_rules.yaml


def test_bundle_escaped_with_modifier_59(config, roster) -> None:  # type: ignore[no-untyped-def]
    c = claim(LineIn(1, "99213", D("150")), LineIn(2, "36415", D("20"), modifiers=("59",)))
    d = decide(c, config, roster)
    assert d.lines[1].allowed == D("3.00")


def test_duplicate(config, roster) -> None:  # type: ignore[no-untyped-def]
    d = decide(claim(LineIn(1, "99213", D("150"))), config, roster, duplicate=True)
    assert adjustments(d) == [[("CO", "18", D("150"))]] and d.status == "4"


def test_reversal_and_correction_balance(config, roster) -> None:  # type: ignore[no-untyped-def]
    d = decide(claim(LineIn(1, "99213", D("150")), LineIn(2, "36415", D("20"))), config, roster)
    r = d.reversed()
    assert r.status == "22" and r.paid == -d.paid and r.charge == -d.charge and r.balanced
    fixed = corrected(d, config.payer("60054"))
    # 95 x 105 % = 99.75 allowed; copay unchanged; paid 74.75.
    assert fixed.lines[0].allowed == D("99.75") and fixed.lines[0].paid == D("74.75")
    assert fixed.balanced and fixed.status == "1"
    assert ClaimDecision.from_json(fixed.to_json()) == fixed


def test_front_end(config, roster) -> None:  # type: ignore[no-untyped-def]
    ok = front_end_check(claim(LineIn(1, "99213", D("1"))), roster, config)
    assert ok.accepted and ok.statuses[0].category == "A1" and ok.statuses[0].code == "20"
    cases = {
        ("A3", "116"): claim(LineIn(1, "99213", D("1")), payer="99999"),
        ("A3", "33"): claim(LineIn(1, "99213", D("1")), member="NOSUCH01"),
        ("A7", "125"): claim(LineIn(1, "99213", D("1")), subscriber_last="DOH"),
        ("A3", "21"): claim(LineIn(1, "99213", D("1")), frequency="7"),
    }
    for (category, code), c in cases.items():
        result = front_end_check(c, roster, config)
        assert not result.accepted
        assert (result.statuses[0].category, result.statuses[0].code) == (category, code)


def test_claim_json_round_trip() -> None:
    c = claim(LineIn(1, "99213", D("150"), modifiers=("25",), control_number="L1"), prior_auth="X")
    assert ClaimIn.from_json(c.to_json()) == c


def test_eligibility(roster) -> None:  # type: ignore[no-untyped-def]
    a = eligibility("W100000002", "SMITH", "60054", DOS, roster, Accumulator(D("20"), D("20")))
    assert a.active and a.deductible_remaining == D("30") and a.oop_remaining == D("2980")
    assert eligibility("W100000005", "WHITE", "60054", DOS, roster).active is False
    assert eligibility("", "X", None, DOS, roster).reject_reason == "72"
    assert eligibility("ZZ9999999", "X", None, DOS, roster).reject_reason == "75"
    assert eligibility("W100000002", "SMYTHE", None, DOS, roster).reject_reason == "73"


def test_roster_csv_and_yaml(tmp_path: Path) -> None:
    write_roster(tmp_path)
    loaded = load_roster(tmp_path)
    assert loaded.members["1EG4TE5MK73"] == MEMBERS[3]
    assert parse_roster(write_roster_csv(MEMBERS), yaml_format=False).members == loaded.members
    yaml_text = (
        "members:\n  - {member_id: Y1, payer_id: '60054', last_name: Doe, first_name: Jo,"
        " copay: 10, coinsurance_percent: 20, deductible_remaining: 0, active_from: 2026-01-01}\n"
    )
    member = parse_roster(yaml_text, yaml_format=True).members["Y1"]
    assert member.last_name == "DOE" and member.copay == D("10")
    with pytest.raises(ConfigError, match="unknown columns"):
        parse_roster("members:\n  - {member_id: Y1, payer_id: X, last_name: A, first_name: B,"
                     " ssn: '1'}\n", yaml_format=True)  # fmt: skip


def test_fee_schedule_lookup_and_errors() -> None:
    fees = parse_fee_schedule(
        "payer,procedure,modifier,allowed\n*,71046,,27\n*,71046,26,9.5\n60054,71046,,30\n"
    )
    assert fees.allowed_per_unit("60054", "71046", ["26"]) == D("30.00")
    assert fees.allowed_per_unit("87726", "71046", ["26"]) == D("9.50")
    assert fees.allowed_per_unit("87726", "71046", []) == D("27.00")
    assert fees.allowed_per_unit("87726", "99999", []) is None
    with pytest.raises(ConfigError):
        parse_fee_schedule("payer,procedure,modifier,allowed\n*,1,,abc\n")


def test_repo_config_loads() -> None:
    config = load_config(REPO / "config")
    assert {"60054", "12502", "87726"} <= set(config.payers)
    assert config.payer("60054").timely_filing_days == 90  # type: ignore[union-attr]
    assert "97110" in config.payer("12502").requires_referring_for  # type: ignore[union-attr]
    assert config.payer("60054").reversal_probability == 0.08  # type: ignore[union-attr]


PROCEDURES = ["99213", "99214", "36415", "93000", "73721", "97110", "99999", "70551"]


@settings(max_examples=150, deadline=None)
@given(
    lines=st.lists(
        st.tuples(
            st.sampled_from(PROCEDURES),
            st.decimals(min_value=D("0.01"), max_value=D("5000"), places=2),
            st.integers(min_value=1, max_value=4),
        ),
        min_size=1,
        max_size=6,
    ),
    member=st.sampled_from([m.member_id for m in MEMBERS]),
    used=st.decimals(min_value=D("0"), max_value=D("3000"), places=2),
    prior_auth=st.booleans(),
)
def test_every_decision_balances(config, roster, lines, member, used, prior_auth) -> None:  # type: ignore[no-untyped-def]
    c = claim(
        *[LineIn(n, p, charge, units=D(u)) for n, (p, charge, u) in enumerate(lines, start=1)],
        member=member,
        prior_auth="PA1" if prior_auth else None,
    )
    acc = Accumulator(deductible_used=used, oop_used=used)
    d = decide(c, config, roster, acc)
    assert d.balanced and d.reversed().balanced
    for ln in d.lines:
        assert ZERO_D <= ln.paid <= ln.allowed <= ln.charge
        assert all(a.amount > 0 for a in ln.adjustments)
    assert corrected(d, config.payer("60054")).balanced


def test_synthetic_world_roster_is_readable() -> None:
    """The roster sandbox/synthetic.py writes for the demo is in the format documented here."""
    synthetic = pytest.importorskip("sandbox.synthetic")
    from rcm.onboarding.schema import load_onboarding_file
    from rcm.payers import load_payers

    practices = sorted((REPO / "config" / "practices").glob("*.yaml"))
    if not practices:
        pytest.skip("no example practices")
    payers = {p.key: p for p in load_payers()}
    world = synthetic.generate_practice(
        load_onboarding_file(practices[0]), payers, seed=5, patients=20, today=RECEIVED
    )
    text = synthetic.roster_csv(world.roster_members()).decode()
    roster = parse_roster(text, yaml_format=False)
    assert roster.members and all(m.payer_id for m in roster.members.values())


def test_therapy_code_without_its_modifier_is_denied_co4(config, roster) -> None:  # type: ignore[no-untyped-def]
    # Aetna follows the "always therapy" policy: 97110 without GP/GO/GN is denied CO-4 (M78);
    # the same line with GP is priced as usual (29.00 x 2), the E/M beside it is paid either way.
    bare = claim(
        LineIn(1, "97110", D("90"), units=D("2")),
        LineIn(2, "99213", D("150")),
        member="W100000002",
        subscriber_last="SMITH",
    )
    d = decide(bare, config, roster, Accumulator(deductible_used=D("50")))
    assert d.status == "1"
    assert adjustments(d)[0] == [("CO", "4", D("90"))] and d.lines[0].rarcs == ("M78",)
    assert d.lines[1].paid > 0
    fixed = replace(bare, lines=(replace(bare.lines[0], modifiers=("GP",)), bare.lines[1]))
    d = decide(fixed, config, roster, Accumulator(deductible_used=D("50")))
    assert d.lines[0].allowed == D("58.00") and d.lines[0].rarcs == ()
    # Original Medicare has no such rule in the sandbox (it returns such claims instead).
    medicare = claim(
        LineIn(1, "97110", D("90"), units=D("2")),
        member="1EG4TE5MK73",
        payer="12502",
        subscriber_last="GREEN",
        subscriber_first="PAT",
        **{"referring_npi": "1987654328"},
    )
    assert all(a.reason != "4" for ln in decide(medicare, config, roster).lines
               for a in ln.adjustments)  # fmt: skip


def test_every_line_missing_its_modifier_denies_the_claim(config, roster) -> None:  # type: ignore[no-untyped-def]
    c = claim(LineIn(1, "97161", D("210"), revenue_code="0424"), payer="87726",
              member="W100000003", subscriber_last="BROWN", subscriber_first="ALEX")  # fmt: skip
    d = decide(c, config, roster)
    assert d.status == "4" and adjustments(d) == [[("CO", "4", D("210"))]]
    assert d.balanced


def test_required_modifiers_config_is_checked(tmp_path: Path) -> None:
    bad = make_config(tmp_path, required_modifiers=[{"procedures": ["97110"], "any_of": []}])
    with pytest.raises(ConfigError, match="invalid payer rules"):
        load_config(bad)
    rules = load_config(make_config(tmp_path / "ok")).payer("61101")
    assert rules is not None and rules.required_modifiers
    assert set(rules.required_modifiers[0].any_of) == {"GP", "GO", "GN"}
    assert "97110" in rules.required_modifiers[0].procedures
