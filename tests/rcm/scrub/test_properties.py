"""Whatever a claim holds, every rule finishes and no finding repeats the patient's data."""

from __future__ import annotations

import dataclasses
from datetime import date, timedelta
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rcm.scrub.model import ScrubBillingProvider, ScrubDiagnosis, ScrubPayer, Severity
from rcm.scrub.registry import RULE_FAILED, RuleSet, all_rules, scrub_claim
from tests.rcm.scrub.factory import clean_claim, context, line

CODES = st.sampled_from(
    ["99213", "20610", "29881", "29877", "97140", "97530", "J1100", "G0500", "E0114", "9921",
     "", "ABCDE", "0001U", "99499"]
)  # fmt: skip
MODIFIERS = st.lists(st.sampled_from(["25", "59", "XU", "LT", "RT", "50", "GT", "ZZ", "7", "76"]),
                     max_size=5)  # fmt: skip
DIAGNOSES = st.lists(
    st.sampled_from(["M1711", "I10", "E11", "J069", "W010XXA", "Q9999", "", "S72001A"]),
    max_size=14,
)
CTX = context(cms=True)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    lines=st.lists(
        st.tuples(
            CODES,
            MODIFIERS,
            st.decimals(min_value=-2, max_value=40, places=1, allow_nan=False),
            st.lists(st.integers(min_value=-1, max_value=15), max_size=6),
            st.integers(min_value=-400, max_value=30),
        ),
        min_size=0,
        max_size=8,
    ),
    diagnoses=DIAGNOSES,
    pos=st.sampled_from(["11", "10", "30", "", "99"]),
)
def test_rules_never_fail_and_never_leak(
    lines: list[tuple[str, list[str], Decimal, list[int], int]],
    diagnoses: list[str],
    pos: str,
) -> None:
    dos = date(2026, 3, 2)
    built = [
        line(i, code, modifiers=tuple(mods), units=str(units), pointers=tuple(pointers),
             service_date=dos + timedelta(days=offset))
        for i, (code, mods, units, pointers, offset) in enumerate(lines, start=1)
    ]  # fmt: skip
    claim = clean_claim(place_of_service=pos)
    claim.lines = built
    claim.diagnoses = [ScrubDiagnosis(i, c) for i, c in enumerate(diagnoses, start=1)]
    findings = scrub_claim(claim, CTX)
    assert not [f for f in findings if f.rule_id == RULE_FAILED]
    for finding in findings:
        assert finding.severity in (Severity.ERROR, Severity.WARNING)
        assert "Testpatient" not in finding.message and "1EG4TE5MK73" not in finding.message
        assert "1960-05-01" not in finding.message


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    claims=st.lists(
        st.tuples(
            st.sampled_from(["professional", "institutional"]),
            st.sampled_from(["", "1234567890", "1234567893", None]),  # billing NPI
            st.sampled_from(["12502", "", None]),  # the payer's electronic ID
            st.sampled_from([frozenset(), frozenset({"POS-VALID", "BILLING-NPI"})]),
            CODES,
            MODIFIERS,
            DIAGNOSES,
        ),
        min_size=1,
        max_size=12,
    ),
)
def test_a_rule_set_finds_what_every_rule_finds(
    claims: list[tuple[str, str | None, str | None, frozenset[str], str, list[str], list[str]]],
) -> None:
    """A batch's RuleSet (rules listed per claim type and payer, billing- and payer-only rules
    run once per object) finds exactly what running every rule on every claim finds, in the
    same order, whichever billing provider and payer objects the claims share."""
    billings: dict[str | None, ScrubBillingProvider] = {}
    payers: dict[tuple[str | None, frozenset[str]], ScrubPayer] = {}
    built = []
    for claim_type, npi, payer_id, disabled, code, mods, diagnoses in claims:
        claim = clean_claim(claim_type=claim_type, lines=[line(1, code, modifiers=tuple(mods))])
        billing = billings.get(npi)
        if billing is None:
            billing = billings[npi] = dataclasses.replace(claim.billing, npi=npi)
        payer = payers.get((payer_id, disabled))
        if payer is None:
            payer = payers[(payer_id, disabled)] = dataclasses.replace(
                claim.payer, payer_id=payer_id, disabled_rules=disabled
            )
        claim.billing, claim.payer = billing, payer
        claim.diagnoses = [ScrubDiagnosis(i, c) for i, c in enumerate(diagnoses, start=1)]
        built.append(claim)
    rules = all_rules()
    rule_set = RuleSet(rules)
    for claim in built:
        assert scrub_claim(claim, CTX, rule_set) == scrub_claim(claim, CTX, rules)
