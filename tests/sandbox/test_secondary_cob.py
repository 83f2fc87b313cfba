"""Coordination of benefits in the sandbox payers: a claim billed as secondary (SBR01 S) or
tertiary is adjudicated after the prior payers whose adjudication its 2320/2430 loops carry
(CLP02 2/3, the prior payers' share as OA-23), and posting the primary's and the secondary's
835s with the platform's own posting leaves every claim at the balance a COB calculation by hand
gives, never below zero. Amounts below are computed by hand in the comments."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import yaml
from sqlmodel import Session, col, select

from rcm.x12 import x835, x837
from rcm.x12.core import InterchangeEnvelope
from sandbox.adjudicator import Adjudicator, claim_in
from sandbox.payer_rules import (
    Accumulator,
    AdjudicationContext,
    Adjustment,
    ClaimIn,
    LineIn,
    Member,
    PriorLine,
    PriorPayer,
    adjudicate,
    corrected,
    load_config,
    prior_shares,
    write_roster_csv,
)
from tests.sandbox.helpers import (
    ACCOUNT,
    LATER,
    NOW,
    ClaimSpec,
    Line,
    build_837,
    claim837,
    make_config,
    write_roster,
)
from tests.sandbox.test_adjudicator import assert_valid

D = Decimal
DOS = date(2026, 11, 10)


# -- the rules ----------------------------------------------------------------------------------


def member(member_id: str, payer_id: str, **fields: object) -> Member:
    values: dict[str, object] = {
        "copay": D(0),
        "coinsurance_percent": D(0),
        "deductible_remaining": D(0),
        "active_from": date(2026, 1, 1),
    }
    values.update(fields)
    return Member(member_id, payer_id, "GREEN", "PAT", **values)  # type: ignore[arg-type]


def secondary_claim(
    lines: tuple[LineIn, ...],
    other_payers: tuple[PriorPayer, ...],
    *,
    payer_id: str = "87726",
    responsibility: str = "S",
) -> ClaimIn:
    return ClaimIn(
        patient_control_number="COB01S",
        payer_id=payer_id,
        member_id="SEC1",
        subscriber_last="GREEN",
        subscriber_first="PAT",
        service_date=DOS,
        charge=sum((ln.charge for ln in lines), D(0)),
        lines=lines,
        diagnoses=("I10",),
        payer_responsibility=responsibility,
        other_payers=other_payers,
    )


def ctx(config_dir: Path, payer_id: str, who: Member, **rules: object) -> AdjudicationContext:
    config = load_config(config_dir)
    payer = config.payer(payer_id)
    assert payer is not None
    return AdjudicationContext(
        member=who,
        rules=payer.model_copy(update=rules),
        fees=config.fees,
        received=date(2026, 11, 20),
        accumulator=Accumulator(),
    )


def cas(line: object) -> list[tuple[str, str, Decimal]]:
    return [(a.group, a.reason, a.amount) for a in line.adjustments]  # type: ignore[attr-defined]


# Medicare (12502) paid 99213 billed 120.00 as primary: allowed 88.14, CO-45 31.86, PR-2 17.63
# (20 %), paid 70.51.
MEDICARE_LINE = PriorLine(
    "12502",
    D("70.51"),
    (Adjustment("CO", "45", D("31.86")), Adjustment("PR", "2", D("17.63"))),
    DOS,
)
MEDICARE = PriorPayer("P", "12502", D("70.51"), (), None, DOS)


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    return make_config(tmp_path)


def test_standard_cob_pays_the_patient_share_the_primary_left(config_dir: Path) -> None:
    claim = secondary_claim((LineIn(1, "99213", D("120"), prior=(MEDICARE_LINE,)),), (MEDICARE,))
    # 87726 allows 98.00 for 99213; the member's plan: coinsurance 10 %, no deductible, so its
    # normal benefit is 88.20, more than the 17.63 left: it pays all of it.
    who = member("SEC1", "87726", coinsurance_percent=D(10))
    decision = adjudicate(claim, ctx(config_dir, "87726", who), icn="ICN2")
    assert decision.status == "2" and decision.balanced
    (line,) = decision.lines
    # OA-23 = 120.00 - 17.63 = 102.37 = Medicare's payment 70.51 + its CO-45 31.86.
    assert cas(line) == [("OA", "23", D("102.37"))]
    assert line.paid == D("17.63") and decision.patient_responsibility == 0


def test_carve_out_pays_its_benefit_less_the_prior_payment(config_dir: Path) -> None:
    claim = secondary_claim((LineIn(1, "99213", D("120"), prior=(MEDICARE_LINE,)),), (MEDICARE,))
    # Benefit: allowed 98.00 - coinsurance 9.80 = 88.20; less Medicare's 70.51 = 17.69, more
    # than the 17.63 left: pays 17.63.
    who = member("SEC1", "87726", coinsurance_percent=D(10))
    decision = adjudicate(claim, ctx(config_dir, "87726", who, cob_method="carve_out"))
    assert decision.lines[0].paid == D("17.63")
    # With a 40 deductible: own share 40 + 5.80 = 45.80, benefit 52.20 - 70.51 < 0: nothing
    # paid; the patient keeps what the plan would have charged them, up to the 17.63 left.
    who = member("SEC1", "87726", coinsurance_percent=D(10), deductible_remaining=D(40))
    c = ctx(config_dir, "87726", who, cob_method="carve_out")
    decision = adjudicate(claim, c)
    (line,) = decision.lines
    assert line.paid == 0 and decision.status == "2" and decision.balanced
    assert cas(line) == [("OA", "23", D("102.37")), ("PR", "1", D("17.63"))]
    # The member's accumulator is charged with the PR reported, not the whole plan deductible.
    assert c.accumulator.deductible_used == D("17.63") == c.accumulator.oop_used


def test_what_neither_payer_nor_patient_owes_is_written_off_co45(config_dir: Path) -> None:
    # A plan allowing less than Medicare paid: 99291 has no fee row, so 60 % of 120.00 = 72.00;
    # its member pays a 5.00 copay on visits (992..) and nothing else: benefit 67.00. Carved
    # out: 67.00 - 70.51 < 0, nothing paid; PR-3 5.00 (the patient owes no more than the
    # plan's copay) and the other 12.63 of the 17.63 Medicare left is written off.
    line = LineIn(1, "99291", D("120"), prior=(MEDICARE_LINE,))
    who = member("SEC1", "87726", copay=D(5))
    decision = adjudicate(
        secondary_claim((line,), (MEDICARE,)),
        ctx(config_dir, "87726", who, cob_method="carve_out"),
    )
    (out,) = decision.lines
    assert out.paid == 0 and decision.balanced
    assert cas(out) == [("OA", "23", D("102.37")), ("PR", "3", D("5.00")), ("CO", "45", D("12.63"))]
    assert decision.patient_responsibility == D("5.00")
    # Standard COB pays the 17.63 (less than its 67.00 benefit).
    decision = adjudicate(secondary_claim((line,), (MEDICARE,)), ctx(config_dir, "87726", who))
    assert decision.paid == D("17.63") and decision.patient_responsibility == 0


def test_claim_level_prior_is_spread_over_the_lines_by_charge(config_dir: Path) -> None:
    # No 2430 (the platform sends a revenue-code-only institutional claim this way): the prior
    # payer's claim-level PR 30.00 is spread 100:50 over the lines, its payment 90.00 too.
    prior = PriorPayer(
        "P", "60054", D("90"), (Adjustment("CO", "45", D("30")), Adjustment("PR", "1", D("30")))
    )
    lines = (LineIn(1, "99213", D("100")), LineIn(2, "93000", D("50")))
    claim = secondary_claim(lines, (prior,))
    assert [(s.owed, s.prior_paid) for s in prior_shares(claim)] == [
        (D("20.00"), D("60.00")),
        (D("10.00"), D("30.00")),
    ]
    decision = adjudicate(claim, ctx(config_dir, "87726", member("SEC1", "87726")))
    assert decision.balanced and decision.paid == D("30.00")
    assert [cas(ln) for ln in decision.lines] == [
        [("OA", "23", D("80.00"))],
        [("OA", "23", D("40.00"))],
    ]


def test_tertiary_takes_what_the_secondary_left(config_dir: Path) -> None:
    secondary_line = PriorLine(
        "60054", D("10.00"), (Adjustment("CO", "45", D("2.63")), Adjustment("PR", "2", D("5"))), DOS
    )
    claim = secondary_claim(
        (LineIn(1, "99213", D("120"), prior=(MEDICARE_LINE, secondary_line)),),
        (PriorPayer("S", "60054", D("10"), (), None, DOS), MEDICARE),
        responsibility="T",
    )
    decision = adjudicate(claim, ctx(config_dir, "87726", member("SEC1", "87726")))
    assert decision.status == "3"
    assert cas(decision.lines[0]) == [("OA", "23", D("115.00"))]
    assert decision.paid == D("5.00")


def test_denials_apply_to_the_patient_share_only(config_dir: Path) -> None:
    # 87726 wants GP on 97110: the 12.00 the primary left is denied CO-4 (M78); CLP02 stays 2.
    prior = PriorLine(
        "60054", D("17.00"), (Adjustment("CO", "45", D("31")), Adjustment("PR", "2", D("12"))), DOS
    )
    claim = secondary_claim(
        (LineIn(1, "97110", D("60"), prior=(prior,)),), (PriorPayer("P", "60054", D("17")),)
    )
    decision = adjudicate(claim, ctx(config_dir, "87726", member("SEC1", "87726")))
    (line,) = decision.lines
    assert decision.status == "2" and decision.balanced and decision.paid == 0
    assert cas(line) == [("OA", "23", D("48.00")), ("CO", "4", D("12.00"))]
    assert line.rarcs == ("M78",)


def test_secondary_without_2320_is_denied_co22(config_dir: Path) -> None:
    claim = secondary_claim((LineIn(1, "99213", D("120")),), ())
    decision = adjudicate(claim, ctx(config_dir, "87726", member("SEC1", "87726")))
    assert decision.status == "4" and decision.denial_reason == "22"
    assert cas(decision.lines[0]) == [("CO", "22", D("120.00"))]
    assert decision.lines[0].rarcs == ("MA04",)


def test_secondary_reversal_repays_the_same_and_state_round_trips(config_dir: Path) -> None:
    claim = secondary_claim((LineIn(1, "99213", D("120"), prior=(MEDICARE_LINE,)),), (MEDICARE,))
    assert ClaimIn.from_json(claim.to_json()) == claim
    c = ctx(config_dir, "87726", member("SEC1", "87726"))
    decision = adjudicate(claim, c)
    assert corrected(decision, c.rules) == decision
    assert decision.reversed().balanced


# -- an 837 built with the platform's 837 engine --------------------------------------------------

# BROWN ALEX, a 87726 HMO member (tests/sandbox/helpers.py: copay 30.00, no coinsurance), billed
# as secondary after Aetna (60054) paid:
#   99213 95.00: Aetna allowed 95.00 (no write-off), PR-2 19.00, paid 76.00;
#   97110 60.00 (no GP): Aetna allowed 29.00, CO-45 31.00, PR-2 5.80, paid 23.20.
AETNA = "60054"


def aetna_837() -> bytes:
    base = claim837(
        ClaimSpec(
            "COB02S",
            "W100000003",
            "BROWN",
            "ALEX",
            payer_id="87726",
            lines=[Line("99213", "95"), Line("97110", "60")],
        )
    )
    adjudicated = [
        (D("76.00"), (("PR", "2", D("19.00")),)),
        (D("23.20"), (("CO", "45", D("31.00")), ("PR", "2", D("5.80")))),
    ]
    lines = tuple(
        replace(
            line,
            adjudications=(
                x837.LineAdjudication(
                    payer_id=AETNA,
                    paid_amount=paid,
                    procedure_code=line.procedure_code or "",
                    units=line.units,
                    adjudication_date=date(2026, 11, 18),
                    adjustments=tuple(
                        x837.Adjustment(group_code=g, reason_code=r, amount=a) for g, r, a in adj
                    ),
                ),
            ),
        )
        for line, (paid, adj) in zip(base.lines, adjudicated, strict=True)
    )
    other = x837.OtherPayer(
        payer_responsibility="P",
        relationship="18",
        claim_filing_indicator="CI",
        subscriber_last_name="BROWN",
        subscriber_first_name="ALEX",
        subscriber_member_id="W100000009",
        payer_name="AETNA",
        payer_id=AETNA,
        paid_amount=D("99.20"),
    )
    claim = replace(
        base,
        subscriber=replace(base.subscriber, payer_responsibility="S"),
        lines=lines,
        other_payers=(other,),
    )
    return build_837_of([claim], control=31)


def build_837_of(claims: list[x837.Claim837], *, control: int) -> bytes:
    header = x837.Header837(
        submitter=x837.Submitter(
            name="SANDBOX FAMILY PRACTICE",
            identifier="SUBMIT01",
            contact=x837.Contact(name="BILLING OFFICE", phone="7175550100"),
        ),
        receiver=x837.Receiver(name="RCM SANDBOX CLEARINGHOUSE", identifier="RCMSANDBOX"),
        reference_id=f"B{control:08d}",
        created=NOW,
    )
    envelope = InterchangeEnvelope(
        "ZZ", "SUBMIT01", "ZZ", "RCMSANDBOX", control, control, "HC",
        x837.IMPLEMENTATION["P"], NOW, usage="T",
    )  # fmt: skip
    return x837.build_837_interchange(envelope, header, claims)


def test_secondary_837_gets_clp02_2_with_oa23_and_balances(tmp_path: Path) -> None:
    root = tmp_path / "root"
    write_roster(root)
    adjudicator = Adjudicator(root, make_config(tmp_path), 7, clock=lambda: NOW)
    data = aetna_837()
    [parsed] = x837.parse_837(data)
    assert claim_in(parsed).after_prior_payer
    outcome = adjudicator.process(ACCOUNT, "secondary.x12", data)
    assert [(pcn, r.accepted) for pcn, r in outcome.claims] == [("COB02S", True)]
    [path] = adjudicator.run_cycle(LATER)
    assert_valid(path)
    [remittance] = x835.parse_835(path.read_bytes())
    assert x835.balance_835(remittance) == []
    [clp] = remittance.claims
    assert (clp.status, clp.charge, clp.paid, clp.patient_responsibility) == (
        "2",
        D("155.00"),
        D("19.00"),
        D("0.00"),
    )
    # 99213: OA-23 76.00 (Aetna's payment: it wrote nothing off), and 87726 pays the 19.00
    # left (its benefit: allowed 95.00 - copay 30.00 = 65.00). 97110: OA-23 54.20 (Aetna's
    # 23.20 paid + 31.00 written off); 87726 denies the 5.80 left CO-4 (no GP modifier).
    assert [[(a.group, a.reason, a.amount) for a in s.adjustments] for s in clp.services] == [
        [("OA", "23", D("76.00"))],
        [("OA", "23", D("54.20")), ("CO", "4", D("5.80"))],
    ]
    assert [s.paid for s in clp.services] == [D("19.00"), D("0.00")]
    assert remittance.total_paid == D("19.00")


def test_primary_claims_are_answered_as_before(tmp_path: Path) -> None:
    """The same claim billed as primary still gets CLP02 1 and no OA-23."""
    root = tmp_path / "root"
    write_roster(root)
    adjudicator = Adjudicator(root, make_config(tmp_path), 7, clock=lambda: NOW)
    spec = ClaimSpec("COB03", "W100000003", "BROWN", "ALEX", payer_id="87726")
    adjudicator.process(ACCOUNT, "primary.x12", build_837([spec], control=32))
    [path] = adjudicator.run_cycle(LATER)
    [clp] = x835.parse_835(path.read_bytes())[0].claims
    assert clp.status == "1"
    assert all(a.group != "OA" for s in clp.services for a in s.adjustments)


# -- through the platform: 837s from the database, posting of both 835s ----------------------------

CREATED = datetime(2026, 11, 21, 9, 30, tzinfo=UTC)


def platform_837(session: Session, clinic: object, claims: list[object], control: int) -> bytes:
    from rcm.claims.submission import SubmitterInfo, header_837, load_claims_837

    practice = clinic.practice  # type: ignore[attr-defined]
    typed = load_claims_837(
        session,
        practice_id=practice.id,
        claim_ids=[c.id for c in claims],  # type: ignore[attr-defined]
        clearinghouse="sandbox",
    )
    header = header_837(
        practice,
        SubmitterInfo(receiver_name="RCM SANDBOX", receiver_id="RCMSANDBOX"),
        reference_id=str(control),
        created=CREATED,
    )
    envelope = InterchangeEnvelope(
        "ZZ", "RCMSUBMITTER", "ZZ", "RCMSANDBOX", control, control, "HC",
        x837.IMPLEMENTATION["P"], CREATED, usage="T",
    )  # fmt: skip
    return x837.build_837_interchange(envelope, header, typed)


@pytest.mark.parametrize(
    ("method", "fee", "paid", "patient", "write_off"),
    [
        # Secondary 22222: deductible 5.00 left, coinsurance 10 %. On 99213 it allows 91.00
        # (the * row): own share 5.00 + 8.60 = 13.60, benefit 77.40.
        # standard: pays min(77.40, 42.20) = 42.20; the patient owes nothing.
        ("standard", None, "42.20", "0.00", "0.00"),
        # carve-out: 77.40 - 48.80 = 28.60 paid; the 13.60 left is the plan's own deductible
        # and coinsurance: PR-1 5.00, PR-2 8.60.
        ("carve_out", None, "28.60", "13.60", "0.00"),
        # carve-out, a plan allowing 50.00: own share 5.00 + 4.50, benefit 40.50 < 48.80 paid
        # by the primary: nothing paid, the patient owes the plan's 9.50, 32.70 written off.
        ("carve_out", "50.00", "0.00", "9.50", "32.70"),
    ],
)
def test_primary_then_secondary_posted_end_at_the_cob_amounts(
    session: Session,
    tmp_path: Path,
    method: str,
    fee: str | None,
    paid: str,
    patient: str,
    write_off: str,
) -> None:
    from rcm.claims.create import create_claims
    from rcm.ledger import claim_balance
    from rcm.models import (
        Claim,
        ClaimStatus,
        LedgerEntry,
        PayerResponsibility,
        Responsible,
    )
    from rcm.posting import post_835_file
    from tests.rcm.claims.test_create import TODAY, Clinic

    clinic = Clinic(session)
    person, coverage = clinic.patient(secondary=True)
    # 99213 125.00 and 36415 15.00 on 2026-11-02 (tests/rcm/claims/test_create.py).
    clinic.encounter(person, coverage, external_id="VCOB")
    create_claims(session, practice_id=clinic.practice.id, today=TODAY)
    [primary] = clinic.claims()
    primary.status = ClaimStatus.SUBMITTED
    session.add(primary)
    session.flush()

    # The sandbox knows both plans: 11111 primary (deductible 30.00, coinsurance 20 %) and
    # 22222 secondary (deductible 5.00, coinsurance 10 %).
    config = make_config(tmp_path)
    rules_path = config / "sandbox" / "payer_rules.yaml"
    rules = yaml.safe_load(rules_path.read_text())
    rules["payers"]["11111"] = {"name": "PLAN ONE"}
    rules["payers"]["22222"] = {"name": "PLAN TWO", "cob_method": method}
    rules_path.write_text(yaml.safe_dump(rules))
    if fee is not None:
        with open(config / "sandbox" / "fee_schedule.csv", "a", encoding="utf-8") as fees:
            fees.write(f"22222,99213,,{fee}\n")
    root = tmp_path / "sandbox"
    root.mkdir()
    name = person.last_name
    (root / "roster.csv").write_text(
        write_roster_csv(
            [
                Member(
                    "MEM000001",
                    "11111",
                    name,
                    "TESTY",
                    coinsurance_percent=D(20),
                    deductible_remaining=D(30),
                    active_from=date(2026, 1, 1),
                ),
                Member(
                    "SEC000001",
                    "22222",
                    name,
                    "TESTY",
                    coinsurance_percent=D(10),
                    deductible_remaining=D(5),
                    active_from=date(2026, 1, 1),
                ),
            ]
        )
    )
    adjudicator = Adjudicator(root, config, 11, clock=lambda: NOW)

    def answer(data: bytes, name: str, when: datetime) -> list[x835.ClaimPayment]:
        outcome = adjudicator.process(ACCOUNT, name, data)
        assert all(r.accepted for _, r in outcome.claims), outcome.claims
        [path] = adjudicator.run_cycle(when)
        assert_valid(path)
        post_835_file(session, path.read_bytes(), clearinghouse="sandbox", file_name=path.name)
        session.flush()
        return [c for r in x835.parse_835(path.read_bytes()) for c in r.claims]

    # Primary, 11111: 99213 allowed 91.00, CO-45 34.00, PR-1 30.00, PR-2 12.20, paid 48.80;
    # 36415 bundled into the visit, CO-97 15.00. Patient share 42.20, moved to a new
    # secondary claim by posting.
    [first] = answer(platform_837(session, clinic, [primary], 41), "primary.x12", LATER)
    assert (first.status, first.paid, first.patient_responsibility) == (
        "1",
        D("48.80"),
        D("42.20"),
    )
    [secondary] = [
        c for c in clinic.claims() if c.payer_responsibility == PayerResponsibility.SECONDARY
    ]
    secondary.status = ClaimStatus.SUBMITTED
    session.add(secondary)
    session.flush()

    # The secondary 837 bills the encounter's charges (CLM02 140.00) with the primary's
    # adjudication in 2320/2430.
    data = platform_837(session, clinic, [secondary], 42)
    assert b"*140***11:B:1*" in data and b"SBR*S*" in data and b"AMT*D*48.8~" in data
    [second] = answer(data, "secondary.x12", LATER + timedelta(days=1))
    # CLP02 2; OA-23 = 125.00 - 42.20 = 82.80 (48.80 paid + 34.00 written off by the primary)
    # and 15.00 on the bundled line the primary settled.
    assert second.status == "2"
    oa23 = [a.amount for s in second.services for a in s.adjustments if a.group == "OA"]
    assert oa23 == [D("82.80"), D("15.00")]
    assert second.paid == D(paid)
    co45 = sum(
        (
            a.amount
            for s in second.services
            for a in s.adjustments
            if (a.group, a.reason) == ("CO", "45")
        ),
        D(0),
    )
    assert co45 == D(write_off)

    pid = clinic.practice.id
    assert claim_balance(session, practice_id=pid, claim_id=primary.id) == 0
    assert claim_balance(session, practice_id=pid, claim_id=secondary.id) == D(patient)
    assert claim_balance(
        session, practice_id=pid, claim_id=secondary.id, responsible=Responsible.PATIENT
    ) == D(patient)
    # No claim anywhere ends below zero (the credit balances a CLP02 1 answer left).
    balances: dict[object, Decimal] = {}
    for entry in session.exec(select(LedgerEntry).where(col(LedgerEntry.practice_id) == pid)):
        balances[entry.claim_id] = balances.get(entry.claim_id, D(0)) + entry.amount
    assert all(v >= 0 for v in balances.values()), balances
    refreshed = session.get(Claim, secondary.id)
    assert refreshed is not None and refreshed.status == ClaimStatus.PAID
