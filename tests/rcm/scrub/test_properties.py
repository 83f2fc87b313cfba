"""Whatever a claim holds, every rule finishes and no finding repeats the patient's data."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rcm.scrub.model import ScrubDiagnosis, Severity
from rcm.scrub.registry import RULE_FAILED, scrub_claim
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
