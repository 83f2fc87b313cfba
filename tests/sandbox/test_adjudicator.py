"""An 837 in, a 999, a 277CA and (next cycle) 835s out: the answers a real clearinghouse gives,
checked against amounts computed by hand and against pyx12."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from rcm.x12 import x835, x999
from rcm.x12.validate import validate
from rcm.x12.x277ca import parse_277ca
from sandbox.adjudicator import Adjudicator, answers_in
from sandbox.state import SandboxState
from tests.sandbox.helpers import (
    ACCOUNT,
    LATER,
    MEMBERS,
    NOW,
    ClaimSpec,
    Line,
    build_270,
    build_837,
    make_config,
    write_roster,
)

D = Decimal

SPECS = [
    ClaimSpec("PCN01", "W100000001", "DOE", "JANE",
              lines=[Line("99213", "150"), Line("36415", "20")]),
    ClaimSpec("PCN02", "W100000002", "SMITH", "JOHN", lines=[Line("99214", "200", control="L021")]),
    ClaimSpec("PCN03", "W100000002", "SMITH", "JOHN", lines=[Line("73721", "900")]),
    ClaimSpec("PCN04", "W100000001", "DOE", "JANE", lines=[Line("93000", "60")],
              diagnoses=("J45909",)),
    ClaimSpec("PCN05", "W100000001", "DOE", "JANE", dos=date(2026, 6, 1)),
    ClaimSpec("PCN06", "W100000003", "BROWN", "ALEX"),
    ClaimSpec("PCN07", "1EG4TE5MK73", "GREEN", "PAT", payer_id="12502",
              lines=[Line("97110", "90", units="2")]),
    ClaimSpec("PCN08", "1EG4TE5MK73", "GREEN", "PAT", payer_id="12502",
              lines=[Line("99213", "120")], referring=True),
    ClaimSpec("PCN09", "W999999999", "NOBODY", "NO"),
    ClaimSpec("PCN10", "W100000001", "DOE", "JANE", payer_id="99999"),
    ClaimSpec("PCN11", "W100000001", "DOH", "JANE"),
    ClaimSpec("PCN12", "W100000005", "WHITE", "SAM"),
]  # fmt: skip

REJECTED = {"PCN09": ("A3", "33"), "PCN10": ("A3", "116"), "PCN11": ("A7", "125")}


@dataclass
class Run:
    root: Path
    config: Path
    adjudicator: Adjudicator


def new_run(tmp: Path, seed: int = 7, **rules: object) -> Run:
    root = tmp / "root"
    config = make_config(tmp, **rules)
    write_roster(root)
    return Run(root, config, Adjudicator(root, config, seed, clock=lambda: NOW))


@pytest.fixture
def run(tmp_path: Path) -> Run:
    return new_run(tmp_path)


def assert_valid(path: Path) -> None:
    report = validate(path.read_bytes(), file_name=path.name)
    assert report.validator == "pyx12", report.notes
    assert report.valid, [e.describe() for e in report.errors]


def claims_by_pcn(path: Path) -> dict[str, list[x835.ClaimPayment]]:
    out: dict[str, list[x835.ClaimPayment]] = {}
    for rem in x835.parse_835(path.read_bytes()):
        for c in rem.claims:
            out.setdefault(c.patient_control_number, []).append(c)
    return out


def cas(c: x835.ClaimPayment) -> list[list[tuple[str, str, Decimal]]]:
    return [[(a.group, a.reason, a.amount) for a in s.adjustments] for s in c.services]


def test_837_gets_999_277ca_then_835s(run: Run) -> None:
    outcome = run.adjudicator.process(ACCOUNT, "batch1.x12", build_837(SPECS))
    files = answers_in(run.root, ACCOUNT)
    [ack_path] = files["inbound/999"]
    [ca_path] = files["inbound/277"]
    assert "277CA" in ca_path.name and files["inbound/835"] == []
    assert outcome.files == [ack_path, ca_path]

    [ack] = x999.parse_999(ack_path.read_bytes())
    assert ack.status == "A" and [t.status for t in ack.transactions] == ["A"]
    assert ack.group_control_number == "1"

    [ca] = parse_277ca(ca_path.read_bytes())
    statuses = {c.patient_control_number: c for c in ca.claims}
    assert set(statuses) == {s.pcn for s in SPECS}
    for pcn, status in statuses.items():
        codes = status.statuses[0].codes[0]
        if pcn in REJECTED:
            assert not status.accepted and (codes.category, codes.status) == REJECTED[pcn]
            assert status.payer_claim_control_number == ""
        else:
            assert status.accepted and (codes.category, codes.status) == ("A1", "20")
            assert len(status.payer_claim_control_number) == 16
    for path in (ack_path, ca_path):
        assert_valid(path)

    written = run.adjudicator.run_cycle(LATER)
    by_payer = {p.name.split("_")[1]: p for p in written}
    assert set(by_payer) == {"60054", "12502"}
    for path in written:
        assert path.parent.name == "835" and not path.name.startswith(".")
        assert_valid(path)
        for rem in x835.parse_835(path.read_bytes()):
            assert x835.balance_835(rem) == []

    aetna = claims_by_pcn(by_payer["60054"])
    assert set(aetna) == {"PCN01", "PCN02", "PCN03", "PCN04", "PCN05", "PCN06", "PCN12"}
    [[rem]] = [x835.parse_835(by_payer["60054"].read_bytes())]
    assert rem.total_paid == D("138") and rem.handling == "I"
    assert rem.payee.id == "1234567893"

    pcn01 = aetna["PCN01"][0]
    assert (pcn01.status, pcn01.charge, pcn01.paid, pcn01.patient_responsibility) == (
        "1", D("170"), D("70"), D("25"))  # fmt: skip
    assert cas(pcn01) == [[("CO", "45", D("55")), ("PR", "3", D("25"))], [("CO", "97", D("20"))]]
    assert [r.code for r in pcn01.services[1].remarks] == ["N19"]
    assert pcn01.payer_claim_control_number == statuses["PCN01"].payer_claim_control_number

    pcn02 = aetna["PCN02"][0]
    assert (pcn02.paid, pcn02.patient_responsibility) == (D("68"), D("67"))
    assert cas(pcn02) == [[("CO", "45", D("65")), ("PR", "1", D("50")), ("PR", "2", D("17"))]]
    assert pcn02.services[0].references[0].value == "L021"  # REF*6R echoed

    denials = {"PCN03": ("197", "M62"), "PCN04": ("50", "N115"), "PCN05": ("29", None),
               "PCN06": ("109", "N418"), "PCN12": ("27", "N30")}  # fmt: skip
    for pcn, (reason, rarc) in denials.items():
        claim = aetna[pcn][0]
        assert claim.status == "4" and claim.paid == 0
        assert cas(claim) == [[("CO", reason, claim.charge)]]
        assert [r.code for r in claim.services[0].remarks] == ([rarc] if rarc else [])

    medicare = claims_by_pcn(by_payer["12502"])
    pcn07, pcn08 = medicare["PCN07"][0], medicare["PCN08"][0]
    assert pcn07.status == "4" and cas(pcn07) == [[("CO", "16", D("90"))]]
    assert [r.code for r in pcn07.services[0].remarks] == ["N264", "N286"]
    assert (pcn08.status, pcn08.paid, pcn08.patient_responsibility) == (
        "19",
        D("70.51"),
        D("17.63"),
    )
    assert cas(pcn08) == [[("CO", "45", D("31.86")), ("PR", "2", D("17.63"))]]
    crossover = pcn08.name("TT")
    assert crossover is not None and crossover.last_or_organization.startswith("PENNSYLVANIA")
    assert pcn08.outpatient is not None and pcn08.outpatient.remark_codes == ["MA18"]

    # Nothing is left for the next cycle.
    assert run.adjudicator.run_cycle(LATER + timedelta(days=1)) == []


def test_file_failing_pyx12_is_rejected_with_ik3_ik4(run: Run) -> None:
    good = build_837(SPECS[:2]).decode()
    bad = good.replace("DMG*D8*19800102*F", "DMG*D8*19800102*Q", 1).encode()
    outcome = run.adjudicator.process(ACCOUNT, "bad.x12", bad)
    assert [p.parent.name for p in outcome.files] == ["999"]
    [ack] = x999.parse_999(outcome.files[0].read_bytes())
    assert ack.status == "R" and ack.accepted_count == 0
    [tx] = ack.transactions
    assert tx.status == "R" and "5" in tx.error_codes
    [seg] = tx.segment_errors
    assert seg.segment_id == "DMG" and seg.code == "8" and seg.element_errors[0].position == 3
    assert seg.element_errors[0].code == "7"
    assert_valid(outcome.files[0])
    assert run.adjudicator.run_cycle(LATER) == []


def test_one_bad_transaction_set_partially_accepts(run: Run, tmp_path: Path) -> None:
    from rcm.x12 import x837
    from rcm.x12.core import InterchangeEnvelope
    from tests.sandbox.helpers import claim837

    header = x837.Header837(
        submitter=x837.Submitter(
            name="SANDBOX FAMILY PRACTICE", identifier="SUBMIT01",
            contact=x837.Contact(name="BILLING", phone="7175550100"),
        ),
        receiver=x837.Receiver(name="RCM SANDBOX", identifier="RCMSANDBOX"),
        reference_id="B1",
        created=NOW,
    )  # fmt: skip
    envelope = InterchangeEnvelope(
        "ZZ", "SUBMIT01", "ZZ", "RCMSANDBOX", 5, 5, "HC", "005010X222A1", NOW, usage="T"
    )
    data = x837.build_837_interchange(
        envelope, header, [claim837(SPECS[0]), claim837(SPECS[1])], claims_per_transaction=1
    ).decode()
    head, _, tail = data.partition("ST*837*0002")
    data = head + "ST*837*0002" + tail.replace("SBR*P*18", "SBR*Q*18", 1)
    outcome = run.adjudicator.process(ACCOUNT, "mixed.x12", data.encode())
    [ack] = x999.parse_999(outcome.files[0].read_bytes())
    assert ack.status == "P" and [t.status for t in ack.transactions] == ["A", "R"]
    [ca] = parse_277ca(outcome.files[1].read_bytes())
    assert [c.patient_control_number for c in ca.claims] == ["PCN01"]


def test_same_seed_gives_byte_identical_answers(tmp_path: Path) -> None:
    def answers(folder: Path, seed: int) -> dict[str, bytes]:
        r = new_run(folder, seed, reversal_probability=0.5, interest_probability=0.5,
                    recoupment_probability=0.5)  # fmt: skip
        r.adjudicator.process(ACCOUNT, "batch1.x12", build_837(SPECS))
        r.adjudicator.run_cycle(LATER)
        r.adjudicator.process(ACCOUNT, "batch2.x12", build_837(SPECS[:3], control=2))
        r.adjudicator.process(ACCOUNT, "elig.x12", build_270([("W100000002", "SMITH", "JOHN")]))
        r.adjudicator.run_cycle(LATER + timedelta(days=1))
        r.adjudicator.run_cycle(LATER + timedelta(days=2))
        base = r.root / ACCOUNT
        return {str(p.relative_to(base)): p.read_bytes() for p in sorted(base.rglob("*.x12"))}

    first, second = answers(tmp_path / "a", 7), answers(tmp_path / "b", 7)
    assert first == second and len(first) >= 9
    other = answers(tmp_path / "c", 8)
    assert other.keys() == first.keys() and other != first


def test_identical_reupload_is_recognised_and_denied_co18(run: Run) -> None:
    data = build_837(SPECS[:2])
    run.adjudicator.process(ACCOUNT, "batch1.x12", data)
    run.adjudicator.run_cycle(LATER)
    again = run.adjudicator.process(ACCOUNT, "batch1-again.x12", data)
    assert again.duplicate_file and again.files == []
    assert len(answers_in(run.root, ACCOUNT)["inbound/999"]) == 1
    [path] = run.adjudicator.run_cycle(LATER + timedelta(days=1))
    claims = claims_by_pcn(path)
    assert set(claims) == {"PCN01", "PCN02"}
    for [claim] in claims.values():
        assert claim.status == "4" and cas(claim)[0] == [("CO", "18", claim.services[0].charge)]
        assert [r.code for r in claim.services[0].remarks] == ["N522"]
    [rem] = x835.parse_835(path.read_bytes())
    assert rem.total_paid == 0 and rem.handling == "H" and rem.payment_method == "NON"
    assert_valid(path)


def test_same_claim_in_a_new_file_is_accepted_then_co18(run: Run) -> None:
    run.adjudicator.process(ACCOUNT, "batch1.x12", build_837(SPECS[1:2]))
    outcome = run.adjudicator.process(ACCOUNT, "batch2.x12", build_837(SPECS[1:2], control=2))
    assert [p.parent.name for p in outcome.files] == ["999", "277"]
    [path] = run.adjudicator.run_cycle(LATER)
    [first, second] = claims_by_pcn(path)["PCN02"]
    assert first.status == "1" and second.status == "4"
    assert first.payer_claim_control_number != second.payer_claim_control_number
    assert cas(second) == [[("CO", "18", D("200"))]]


def test_state_survives_restart(run: Run) -> None:
    run.adjudicator.process(ACCOUNT, "batch1.x12", build_837(SPECS[:2]))
    restarted = Adjudicator(run.root, run.config, 7, clock=lambda: NOW)
    assert len(list(restarted.state.pending())) == 2
    [path] = restarted.run_cycle(LATER)
    assert set(claims_by_pcn(path)) == {"PCN01", "PCN02"}
    state = SandboxState.load(run.root)
    assert state.cycles == 1 and not list(state.pending())
    assert state.accumulators["W100000002"].deductible_used == D("50")
    # Same file after the restart: recognised, no second 999.
    again = Adjudicator(run.root, run.config, 7, clock=lambda: NOW)
    assert again.process(ACCOUNT, "x.x12", build_837(SPECS[:2])).duplicate_file


def test_reversal_correction_interest_and_recoupment_balance(tmp_path: Path) -> None:
    r = new_run(tmp_path, reversal_probability=1.0, interest_probability=1.0,
                recoupment_probability=1.0, recoupment_amount="10.00")  # fmt: skip
    r.adjudicator.process(ACCOUNT, "batch1.x12", build_837(SPECS[:2]))
    [first] = r.adjudicator.run_cycle(LATER)
    [rem1] = x835.parse_835(first.read_bytes())
    [interest] = rem1.provider_adjustments
    # 1.5 % of 138.00 = 2.07 interest, paid on top: BPR02 = 140.07.
    assert (interest.reason, interest.amount) == ("L6", D("-2.07"))
    assert rem1.total_paid == D("140.07")

    extra = ClaimSpec("PCN20", "W100000002", "SMITH", "JOHN", lines=[Line("99214", "200")])
    r.adjudicator.process(ACCOUNT, "batch2.x12", build_837([SPECS[2], extra], control=2))
    [second] = r.adjudicator.run_cycle(LATER + timedelta(days=1))
    claims = claims_by_pcn(second)
    reversal, fixed = claims["PCN01"]
    original = claims_by_pcn(first)["PCN01"][0]
    assert reversal.status == "22" and reversal.paid == -original.paid
    assert reversal.charge == -original.charge
    assert reversal.payer_claim_control_number == original.payer_claim_control_number
    assert fixed.status == "1" and fixed.paid == D("74.75")
    assert fixed.payer_claim_control_number != original.payer_claim_control_number
    [rem2] = x835.parse_835(second.read_bytes())
    reasons = {p.reason: p for p in rem2.provider_adjustments}
    assert reasons["WO"].amount == D("10.00") and reasons["WO"].reference
    assert x835.balance_835(rem2) == []
    paid = sum((c.paid for c in rem2.claims), D(0))
    assert rem2.total_paid == paid - rem2.provider_adjustment_total
    for path in (first, second):
        assert_valid(path)
    # A claim is reversed once, not every cycle.
    r.adjudicator.process(ACCOUNT, "batch3.x12", build_837(SPECS[3:4], control=3))
    [third] = r.adjudicator.run_cycle(LATER + timedelta(days=2))
    assert "PCN01" not in claims_by_pcn(third)


def test_unknown_transaction_set_is_rejected(run: Run) -> None:
    from rcm.x12.core import InterchangeEnvelope, TransactionBody, write_interchange

    data = write_interchange(
        InterchangeEnvelope("ZZ", "SUBMIT01", "ZZ", "RCMSANDBOX", 9, 9, "HP", "005010X221A1", NOW),
        [TransactionBody("835", "0001", [("BPR", "H", "0", "C", "NON")], "005010X221A1")],
    )
    outcome = run.adjudicator.process(ACCOUNT, "odd.x12", data)
    [ack] = x999.parse_999(outcome.files[0].read_bytes())
    assert ack.status == "R"
    assert run.adjudicator.process(ACCOUNT, "junk.txt", b"hello").files == []


def test_replacement_and_void_reverse_the_original(run: Run) -> None:
    run.adjudicator.process(ACCOUNT, "batch1.x12", build_837(SPECS[:2]))
    [first] = run.adjudicator.run_cycle(LATER)
    paid = claims_by_pcn(first)
    icn01 = paid["PCN01"][0].payer_claim_control_number
    icn02 = paid["PCN02"][0].payer_claim_control_number
    replacement = ClaimSpec(
        "PCN01", "W100000001", "DOE", "JANE", lines=[Line("99214", "210")],
        frequency="7", original=icn01,
    )  # fmt: skip
    void = ClaimSpec(
        "PCN02", "W100000002", "SMITH", "JOHN", lines=[Line("99214", "200")],
        frequency="8", original=icn02,
    )  # fmt: skip
    stray = ClaimSpec("PCN30", "W100000001", "DOE", "JANE", frequency="7", original="NOSUCHICN")
    outcome = run.adjudicator.process(
        ACCOUNT, "batch2.x12", build_837([replacement, void, stray], control=2)
    )
    assert all(result.accepted for _, result in outcome.claims)
    [second] = run.adjudicator.run_cycle(LATER + timedelta(days=1))
    claims = claims_by_pcn(second)
    reversal01, new01 = claims["PCN01"]
    assert reversal01.status == "22" and reversal01.payer_claim_control_number == icn01
    assert reversal01.paid == D("-70")
    # 99214 at 135, copay 25: paid 110.
    assert new01.status == "1" and new01.frequency == "7" and new01.paid == D("110")
    [reversal02] = claims["PCN02"]
    assert reversal02.status == "22" and reversal02.paid == D("-68")
    [stray_claim] = claims["PCN30"]
    assert stray_claim.status == "4" and cas(stray_claim) == [[("CO", "16", D("150"))]]
    # -70 + 110 - 68 = -28: nothing paid, 28 carried forward (PLB FB) ...
    [rem] = x835.parse_835(second.read_bytes())
    assert rem.total_paid == 0 and rem.handling == "H"
    [fb] = rem.provider_adjustments
    assert (fb.reason, fb.amount) == ("FB", D("-28"))
    assert x835.balance_835(rem) == []
    assert_valid(second)
    # ... and taken back from the next payment: 95 - 25 copay = 70 paid, 28 withheld.
    fresh = ClaimSpec("PCN40", "W100000001", "DOE", "JANE")
    run.adjudicator.process(ACCOUNT, "batch3.x12", build_837([fresh], control=3))
    [third] = run.adjudicator.run_cycle(LATER + timedelta(days=2))
    [rem3] = x835.parse_835(third.read_bytes())
    assert [(p.reason, p.amount) for p in rem3.provider_adjustments] == [("FB", D("28"))]
    assert rem3.total_paid == D("42") and x835.balance_835(rem3) == []
    assert_valid(third)
    # SMITH's void gave back the 50 of deductible and 67 of out-of-pocket.
    acc = SandboxState.load(run.root).accumulators["W100000002"]
    assert acc.deductible_used == 0 and acc.oop_used == 0


def test_file_cut_off_mid_transaction_gets_no_answer(run: Run) -> None:
    data = build_837(SPECS[:2])
    cut = data[: data.index(b"SE*")]
    outcome = run.adjudicator.process(ACCOUNT, "cut.x12", cut)
    assert outcome.files == [] and outcome.kind == "unreadable"
    assert run.adjudicator.run_cycle(LATER) == []


def test_institutional_claim(run: Run) -> None:
    from tests.sandbox.helpers import build_837i

    outcome = run.adjudicator.process(ACCOUNT, "inst.x12", build_837i())
    assert [result.accepted for _, result in outcome.claims] == [True]
    [path] = run.adjudicator.run_cycle(LATER)
    [claim] = claims_by_pcn(path)["INST01"]
    assert (claim.facility_type, claim.frequency) == ("13", "1")
    er, lab = claim.services
    # ER visit: no fee row for 99283 -> 60 % of 300 = 180, copay 25. Lab revenue line 0300:
    # 60 % of 80 = 48, all to the deductible.
    assert (er.procedure.code, er.revenue_code, er.paid) == ("99283", "0450", D("155"))
    assert (lab.procedure.qualifier, lab.procedure.code, lab.paid) == ("NU", "0300", D("0"))
    assert cas(claim) == [[("CO", "45", D("120")), ("PR", "3", D("25"))],
                          [("CO", "45", D("32")), ("PR", "1", D("48"))]]  # fmt: skip
    assert_valid(path)


def test_dependent_patient_named_apart_from_the_insured(run: Run) -> None:
    from dataclasses import replace as dc_replace

    from rcm.x12 import x837
    from rcm.x12.core import InterchangeEnvelope
    from tests.sandbox.helpers import claim837

    claim = dc_replace(
        claim837(ClaimSpec("DEP01", "W100000002", "SMITH", "JOHN")),
        patient=x837.Patient(
            relationship="19", last_name="SMITH", first_name="KID", birth_date=date(2015, 1, 1),
            sex="M", address=x837.Address(line1="1 A ST", city="YORK", state="PA",
                                          postal_code="17401"),
        ),
    )  # fmt: skip
    header = x837.Header837(
        submitter=x837.Submitter(
            name="P", identifier="SUBMIT01", contact=x837.Contact(name="B", phone="7175550100")
        ),
        receiver=x837.Receiver(name="R", identifier="RCMSANDBOX"),
        reference_id="D1",
        created=NOW,
    )
    envelope = InterchangeEnvelope(
        "ZZ", "SUBMIT01", "ZZ", "RCMSANDBOX", 11, 11, "HC", "005010X222A1", NOW, usage="T"
    )
    data = x837.build_837_interchange(envelope, header, [claim])
    assert run.adjudicator.process(ACCOUNT, "dep.x12", data).claims[0][1].accepted
    [path] = run.adjudicator.run_cycle(LATER)
    [paid] = claims_by_pcn(path)["DEP01"]
    patient, insured = paid.name("QC"), paid.name("IL")
    assert patient is not None and patient.first == "KID" and patient.id == ""
    assert insured is not None and insured.id == "W100000002"
    assert_valid(path)


def test_replacement_of_a_denied_claim_with_the_fix_is_paid(run: Run) -> None:
    """CO-4 (M78) for a therapy code without GP; the frequency 7 claim adding GP, naming the
    denied claim's number in REF*F8, is accepted, the denial reversed and the claim paid."""
    bare = ClaimSpec("PCN50", "W100000001", "DOE", "JANE", lines=[Line("97110", "160", "2")],
                     referring=True)  # fmt: skip
    run.adjudicator.process(ACCOUNT, "therapy.x12", build_837([bare], control=5))
    [first] = run.adjudicator.run_cycle(LATER)
    [denied] = claims_by_pcn(first)["PCN50"]
    assert denied.status == "4" and cas(denied) == [[("CO", "4", D("160"))]]
    assert [r.code for r in denied.services[0].remarks] == ["M78"]
    assert_valid(first)

    fixed = ClaimSpec(
        "PCN50R1", "W100000001", "DOE", "JANE", lines=[Line("97110", "160", "2", ("GP",))],
        referring=True, frequency="7", original=denied.payer_claim_control_number,
    )  # fmt: skip
    outcome = run.adjudicator.process(ACCOUNT, "corrected.x12", build_837([fixed], control=6))
    assert [(pcn, r.accepted) for pcn, r in outcome.claims] == [("PCN50R1", True)]
    [second] = run.adjudicator.run_cycle(LATER + timedelta(days=1))
    claims = claims_by_pcn(second)
    [reversal] = claims["PCN50"]
    assert reversal.status == "22" and reversal.paid == 0 and reversal.charge == D("-160")
    assert reversal.payer_claim_control_number == denied.payer_claim_control_number
    assert cas(reversal) == [[("CO", "4", D("-160"))]]
    [paid] = claims["PCN50R1"]
    # 97110 at 29.00 x 2 = 58 allowed; DOE's deductible (100) takes it all.
    assert (paid.status, paid.frequency) == ("1", "7")
    assert cas(paid) == [[("CO", "45", D("102")), ("PR", "1", D("58"))]]
    assert paid.services[0].procedure.modifiers == ["GP"]
    [rem] = x835.parse_835(second.read_bytes())
    assert x835.balance_835(rem) == []
    assert_valid(second)
    # A second replacement naming the same (now replaced) claim is unprocessable.
    again = replace(fixed, pcn="PCN50R2")
    run.adjudicator.process(ACCOUNT, "again.x12", build_837([again], control=7))
    [third] = run.adjudicator.run_cycle(LATER + timedelta(days=2))
    [stray] = claims_by_pcn(third)["PCN50R2"]
    assert stray.status == "4" and cas(stray) == [[("CO", "16", D("160"))]]


def test_the_roster_is_read_again_only_when_its_file_changes(run: Run) -> None:
    first = run.adjudicator.roster()
    assert run.adjudicator.roster() is first
    assert first.get("W100000001") is not None
    remaining = [m for m in MEMBERS if m.member_id != "W100000001"]
    path = write_roster(run.root, remaining)
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 1_000_000))
    again = run.adjudicator.roster()
    assert again is not first
    assert again.get("W100000001") is None
    assert again.get("W100000002") is not None
