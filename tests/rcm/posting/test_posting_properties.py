"""Property: for random balanced claim payments, the ledger after posting sums to the expected
balances to the cent (payer 0 on every line, patient = its PR amounts, the remittance's cash =
-BPR02)."""

from __future__ import annotations

import itertools
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import Session

from rcm.models import Responsible
from rcm.posting import post_remittance
from tests.rcm.posting.helpers import (
    Seeded,
    balance,
    clp,
    make_interchange,
    make_payer,
    make_practice,
    remittance,
    svc,
)

CENT = Decimal("0.01")
_counter = itertools.count()


@st.composite
def line(draw: st.DrawFn) -> tuple[int, int, int, int, int, str]:
    """(charge, paid, contractual, patient, denied, PR reason) in cents, summing to charge."""
    charge = draw(st.integers(1, 500_000))
    parts = sorted(draw(st.lists(st.integers(0, charge), min_size=3, max_size=3)))
    paid, contractual, patient = parts[0], parts[1] - parts[0], parts[2] - parts[1]
    denied = charge - parts[2]
    return charge, paid, contractual, patient, denied, draw(st.sampled_from(["1", "2", "3"]))


claims_strategy = st.lists(st.lists(line(), min_size=1, max_size=3), min_size=1, max_size=4)


def _money(cents: int) -> str:
    return str((Decimal(cents) * CENT).quantize(CENT))


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(claims=claims_strategy, plb=st.integers(-10_000, 10_000))
def test_ledger_sums_to_expected_balances(session: Session, claims: list, plb: int) -> None:
    n = next(_counter)
    practice = make_practice(session, slug=f"prop{n}", npi=f"{n:010d}", tin=f"{n:09d}")
    payer = make_payer(session, f"prop-payer-{n}")
    interchange = make_interchange(session, practice)
    era_claims = []
    seeded = []
    for index, lines in enumerate(claims):
        pcn = f"P{n}C{index}"
        seeded.append(
            Seeded(
                session,
                practice,
                payer,
                pcn,
                [(f"9921{k}", [], Decimal(_money(c[0]))) for k, c in enumerate(lines)],
            )
        )
        services = []
        for k, (charge, paid, contractual, patient, denied, reason) in enumerate(lines):
            cas = [
                (g, r, _money(a))
                for g, r, a in (
                    ("CO", "45", contractual),
                    ("PR", reason, patient),
                    ("CO", "50", denied),
                )
                if a
            ]
            services.append(svc(f"9921{k}", _money(charge), _money(paid), *cas))
        total = sum(c[0] for c in lines)
        era_claims.append(clp(pcn, "1", _money(total), _money(sum(c[1] for c in lines)), services))
    rem = remittance(
        era_claims,
        trace=f"T{n}",
        plb=[("L6", _money(plb))] if plb else [],
        npi=practice.billing_npi,
    )
    result = post_remittance(session, rem, interchange_id=interchange.id, practice_id=practice.id)
    assert result.matched == len(claims)
    for s, lines in zip(seeded, claims, strict=True):
        for db_line, (_, _, _, patient, _, _) in zip(s.lines, lines, strict=True):
            assert (
                balance(session, practice.id, line_id=db_line.id, responsible=Responsible.PAYER)
                == 0
            )
            assert balance(
                session, practice.id, line_id=db_line.id, responsible=Responsible.PATIENT
            ) == Decimal(_money(patient))
    expected_patient = sum(c[3] for lines in claims for c in lines)
    plb_amount = Decimal(_money(plb)) if plb else Decimal(0)
    assert balance(session, practice.id) == Decimal(_money(expected_patient)) + plb_amount
