"""Whose is an inbound file, when practices share one clearinghouse login."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlmodel import Session

from rcm.models import ClaimStatus
from rcm.reports.routing import practice_of_277ca
from rcm.x12.core import InterchangeEnvelope
from rcm.x12.x277ca import Ack277CA, Entity, Status, StatusCode, build_277ca
from rcm.x12.x277ca import ClaimStatus as Ack277ClaimStatus
from rcm.x12.x835 import Name
from tests.rcm.posting.helpers import D, Seeded, make_payer, make_practice

OTHER_NPI = "1245319599"


def _277ca(npi: str | None, *pcns: str) -> bytes:
    claims = [
        Ack277ClaimStatus(
            pcn,
            statuses=[Status([StatusCode("A1", "20", "")], date(2026, 11, 3), "WQ", D("100"))],
        )
        for pcn in pcns
    ]
    patient = Entity("PT", claims=claims)
    name = Name("85", "2", "CLINIC", id_qualifier="XX", id=npi) if npi else None
    provider = Entity("19", name=name, children=[patient])
    ack = Ack277CA(
        [Entity("20", children=[Entity("21", children=[provider])])],
        reference="R1",
        created=date(2026, 11, 3),
    )
    envelope = InterchangeEnvelope(
        "ZZ", "CLEARINGHOUSE", "ZZ", "SUB", 7, 7, "HN", "005010X214",
        datetime(2026, 11, 3, 9, tzinfo=UTC),
    )  # fmt: skip
    return build_277ca([ack], envelope)


def test_277ca_goes_to_the_practice_whose_billing_npi_filed_the_claim(session: Session) -> None:
    north = make_practice(session, "northside")
    south = make_practice(session, "southside", npi=OTHER_NPI, tin="987654321")
    payer = make_payer(session)
    # Both practices' EHRs numbered the visit 1001: the same CLM01 under two billing NPIs.
    for practice in (north, south):
        Seeded(session, practice, payer, "RIV-1001", [("99213", [], D("100"))],
               status=ClaimStatus.SUBMITTED)  # fmt: skip
    session.flush()

    assert practice_of_277ca(session, _277ca(OTHER_NPI, "RIV-1001")) == south.id
    assert practice_of_277ca(session, _277ca(north.billing_npi, "RIV-1001")) == north.id
    # Without the billing provider's NPI the claim number alone is ambiguous: nobody's.
    assert practice_of_277ca(session, _277ca(None, "RIV-1001")) is None


def test_277ca_naming_claims_of_no_practice_is_nobodys(session: Session) -> None:
    make_practice(session)
    assert practice_of_277ca(session, _277ca(OTHER_NPI, "NOPE-1")) is None
