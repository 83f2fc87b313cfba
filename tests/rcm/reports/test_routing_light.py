"""Routing reads only the identifiers it needs (rcm.reports.routing): the same answers as the
full parsers, and the full parser's error for a file that names no practice of ours."""

from __future__ import annotations

import contextlib
import random
from datetime import UTC, date, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as hst
from sqlmodel import Session

from rcm.errors import X12Error
from rcm.models import EligibilityCheck
from rcm.reports import routing
from rcm.reports.routing import (
    practice_of_271,
    practice_of_277ca,
    practice_of_835,
    trace_numbers_of_271,
)
from rcm.x12 import x271
from rcm.x12.core import InterchangeEnvelope
from rcm.x12.x277ca import Ack277CA, build_277ca, parse_277ca
from rcm.x12.x835 import build_835
from tests.rcm.claims.test_create import Clinic
from tests.rcm.posting.helpers import clp, make_practice, remittance
from tests.rcm.reports.test_routing import OTHER_NPI, _277ca
from tests.rcm.x12 import strategies as s
from tests.rcm.x12.test_x270_271 import PAYER, PROVIDER, envelope
from tests.rcm.x12.test_x271_equivalence import mutate
from tests.rcm.x12.test_x277ca import acks

CHECKS = settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))


# --------------------------------------------------------------------------------------------
# 271: the echoed trace numbers
# --------------------------------------------------------------------------------------------


def _full_traces(data: bytes) -> set[str]:
    return {t for r in x271.parse_271(data, file_name="f", strict=False) for t in r.trace_numbers}


def _check_traces(data: bytes) -> None:
    try:
        expected = _full_traces(data)
    except X12Error:
        # The full parser refuses it; the light reading may or may not (routing then asks the
        # full parser whenever the light one names no practice).
        with contextlib.suppress(X12Error):
            trace_numbers_of_271(data, file_name="f")
        return
    assert trace_numbers_of_271(data, file_name="f") == expected


@CHECKS
@given(hst.lists(s.eligibility_271s(), min_size=1, max_size=2), hst.integers(0, 2**32))
def test_271_trace_numbers_match_the_full_parse(sets: list[x271.Eligibility271], seed: int) -> None:
    data = x271.build_271_interchange(envelope("HB"), sets)
    _check_traces(data)
    rng = random.Random(seed)
    for _ in range(8):
        _check_traces(mutate(data, rng))


def _answers(*traces: str, broken: bool = False) -> bytes:
    members = tuple(
        x271.EligibilityResponse(
            source=PAYER,
            receiver=PROVIDER,
            subscriber=x271.EligibilityMember(
                last_name="DOE",
                member_id=f"M{i}",
                traces=(x271.Trace(type_code="2", number=trace),),
                benefits=(x271.Benefit(information="1", service_types=("30",)),),
            ),
        )
        for i, trace in enumerate(traces)
    )
    response_set = x271.Eligibility271(
        reference_id="R", created=datetime(2026, 11, 20, 23, 0), responses=members
    )
    data = x271.build_271_interchange(envelope("HB"), [response_set])
    if broken:  # a bad date after the trace numbers: the full parser refuses the file
        data = data.replace(b"EB*1**30~", b"EB*1**30~DTP*348*D8*20261399~", 1)
    return data


def _check(session: Session, clinic: Clinic, trace: str) -> None:
    patient, coverage = clinic.patient()
    session.add(
        EligibilityCheck(
            practice_id=clinic.practice.id,
            patient_id=patient.id,
            coverage_id=coverage.id,
            trace_number=trace,
            service_date=date(2026, 11, 23),
        )
    )
    session.flush()


def test_271_goes_to_the_practice_of_its_trace_numbers(session: Session) -> None:
    north = Clinic(session, "northside")
    south = Clinic(session, "southside")
    _check(session, north, "N1")
    _check(session, north, "N2")
    _check(session, south, "S1")

    assert practice_of_271(session, _answers("N1", "N2")) == north.practice.id
    assert practice_of_271(session, _answers("S1")) == south.practice.id
    # Answers for two practices, or for nobody's inquiries: nobody's.
    assert practice_of_271(session, _answers("N1", "S1")) is None
    assert practice_of_271(session, _answers("NOPE")) is None
    # Named no practice and unreadable: the full parser's error, as before.
    with pytest.raises(X12Error, match="DTP03"):
        practice_of_271(session, _answers("NOPE", broken=True), file_name="bad.271")
    # Named one practice: routed to it; applying it refuses the file with that same error.
    assert practice_of_271(session, _answers("N1", broken=True)) == north.practice.id


def test_271_light_reading_does_not_parse_benefits(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    clinic = Clinic(session, "northside")
    _check(session, clinic, "N1")

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the full parser ran")

    monkeypatch.setattr(x271, "parse_271", refuse)
    assert practice_of_271(session, _answers("N1")) == clinic.practice.id


# --------------------------------------------------------------------------------------------
# 277CA: claim numbers under the billing provider's NPI
# --------------------------------------------------------------------------------------------


def _full_claims(data: bytes) -> tuple[dict[str, set[str]], set[str]]:
    by_npi: dict[str, set[str]] = {}
    anonymous: set[str] = set()
    for ack in parse_277ca(data, strict=False):
        for item in ack.claim_acknowledgments():
            pcn = item.claim.patient_control_number
            provider = item.provider
            if not pcn:
                continue
            if (
                provider is not None
                and provider.name is not None
                and provider.name.id_qualifier == "XX"
            ):
                by_npi.setdefault(provider.name.id, set()).add(pcn)
            else:
                anonymous.add(pcn)
    return by_npi, anonymous


def _envelope_277() -> InterchangeEnvelope:
    return InterchangeEnvelope(
        "ZZ", "CLEARINGHOUSE", "ZZ", "SUB", 7, 7, "HN", "005010X214",
        datetime(2026, 11, 3, 9, tzinfo=UTC),
    )  # fmt: skip


def _shuffle_277(data: bytes, rng: random.Random) -> bytes:
    """Move NM1s about, qualify some as XX, drop some: who is whose provider changes."""
    segs = data.split(b"~")[:-1]
    for _ in range(rng.randint(1, 3)):
        i = rng.randrange(3, max(4, len(segs) - 3))
        if segs[i].startswith(b"NM1*"):
            parts = segs[i].split(b"*")
            while len(parts) < 10:
                parts.append(b"")
            parts[8], parts[9] = rng.choice([(b"XX", b"1234567893"), (b"XX", b""), (b"", b"")])
            segs[i] = b"*".join(parts)
        elif rng.random() < 0.5:
            segs.insert(i, b"NM1*85*2*OTHER*****XX*1245319599")
    return b"~".join(segs) + b"~"


@CHECKS
@given(hst.lists(acks, min_size=1, max_size=2), hst.integers(0, 2**32))
def test_277ca_claims_match_the_full_parse(values: list[Ack277CA], seed: int) -> None:
    data = build_277ca(values, _envelope_277())
    assert routing._277ca_claims(data, None) == _full_claims(data)
    rng = random.Random(seed)
    for _ in range(4):
        mutated = _shuffle_277(data, rng)
        try:
            expected = _full_claims(mutated)
        except X12Error:
            continue
        assert routing._277ca_claims(mutated, None) == expected


def test_277ca_naming_nobody_and_unreadable_gives_the_parsers_error(session: Session) -> None:
    make_practice(session)
    bad = _277ca(OTHER_NPI, "NOPE-1").replace(b"STC*A1:20", b"STC*A1:20*2026013X", 1)
    assert bad != _277ca(OTHER_NPI, "NOPE-1")
    with pytest.raises(X12Error) as light:
        practice_of_277ca(session, bad)
    with pytest.raises(X12Error) as full:
        parse_277ca(bad, strict=False)
    assert str(light.value) == str(full.value)


# --------------------------------------------------------------------------------------------
# 835: the payee
# --------------------------------------------------------------------------------------------


def _835(npi: str, *, bad_claim: bool = False) -> bytes:
    envelope = InterchangeEnvelope(
        "ZZ", "PAYER", "ZZ", "SUB", 8, 8, "HP", "005010X221A1",
        datetime(2026, 11, 3, 9, tzinfo=UTC),
    )  # fmt: skip
    data = build_835([remittance([clp("PCN1", "1", "100", "80")], npi=npi)], envelope)
    if bad_claim:
        data = data.replace(b"CLP*PCN1*1*100*80", b"CLP*PCN1*1*1OO*80", 1)
    return data


def test_835_goes_to_the_payee_without_parsing_claims(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    north = make_practice(session)
    south = make_practice(session, "southside", npi=OTHER_NPI, tin="987654321")
    assert practice_of_835(session, _835(north.billing_npi)) == north.id
    assert practice_of_835(session, _835(OTHER_NPI)) == south.id
    assert practice_of_835(session, _835("1999999999")) is None
    with pytest.raises(X12Error, match="CLP03"):
        practice_of_835(session, _835("1999999999", bad_claim=True))
    # A known payee is routed on its header; posting refuses the broken claim later.
    assert practice_of_835(session, _835(OTHER_NPI, bad_claim=True)) == south.id

    from rcm.x12 import x835

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the full parser ran")

    monkeypatch.setattr(x835, "parse_835", refuse)
    assert practice_of_835(session, _835(OTHER_NPI)) == south.id
