"""Synthetic 837s, rosters and config for the sandbox tests. Every name and number is made up."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

from rcm.identifiers import make_npi
from rcm.x12 import x837
from rcm.x12.core import InterchangeEnvelope
from sandbox.payer_rules import Member, write_roster_csv

REPO = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 11, 22, 14, 30, tzinfo=UTC)
LATER = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)
DOS = date(2026, 11, 10)
BILLING_NPI = make_npi("123456789")
REFERRING_NPI = make_npi("198765432")
ACCOUNT = "rcm-demo"


def make_config(tmp: Path, **defaults: Any) -> Path:
    """A config dir: the repo's payers.yaml and fee schedule, the repo's payer rules with
    `defaults` overriding (probabilities 0 unless a test says otherwise)."""
    config = tmp / "config"
    (config / "sandbox").mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "config" / "payers.yaml", config / "payers.yaml")
    shutil.copy(
        REPO / "config" / "sandbox" / "fee_schedule.csv", config / "sandbox" / "fee_schedule.csv"
    )
    rules = yaml.safe_load((REPO / "config" / "sandbox" / "payer_rules.yaml").read_text())
    base = {
        "reversal_probability": 0.0,
        "interest_probability": 0.0,
        "recoupment_probability": 0.0,
    }
    rules["defaults"].update(base)
    rules["defaults"].update(defaults)
    for payer in rules["payers"].values():
        for key in base:
            payer.pop(key, None)
    (config / "sandbox" / "payer_rules.yaml").write_text(yaml.safe_dump(rules))
    return config


MEMBERS = [
    Member("W100000001", "60054", "DOE", "JANE", date(1980, 1, 2), "PPO", "G1",
           Decimal("25"), Decimal("20"), Decimal("100"), Decimal("1000"), date(2026, 1, 1)),
    Member("W100000002", "60054", "SMITH", "JOHN", date(1975, 3, 4), "PPO", "G1",
           Decimal("0"), Decimal("20"), Decimal("50"), Decimal("3000"), date(2026, 1, 1)),
    Member("W100000003", "87726", "BROWN", "ALEX", date(1990, 5, 6), "HMO", "G2",
           Decimal("30"), Decimal("0"), Decimal("0"), Decimal("2000"), date(2026, 1, 1)),
    Member("1EG4TE5MK73", "12502", "GREEN", "PAT", date(1950, 7, 8), "MEDICARE B", "",
           Decimal("0"), Decimal("20"), Decimal("0"), None, date(2015, 7, 1),
           secondary_payer_id="PAMCD",
           secondary_payer_name="PENNSYLVANIA MEDICAL ASSISTANCE"),
    Member("W100000005", "60054", "WHITE", "SAM", date(1985, 9, 10), "PPO", "G1",
           Decimal("20"), Decimal("20"), Decimal("500"), Decimal("2500"), date(2025, 1, 1),
           date(2026, 1, 31)),
]  # fmt: skip


def write_roster(root: Path, members: Sequence[Member] = MEMBERS) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    path = root / "roster.csv"
    path.write_text(write_roster_csv(members))
    return path


@dataclass
class Line:
    procedure: str
    charge: str
    units: str = "1"
    modifiers: tuple[str, ...] = ()
    pointers: tuple[int, ...] = (1,)
    control: str | None = None


@dataclass
class ClaimSpec:
    pcn: str
    member_id: str
    last: str
    first: str
    payer_id: str = "60054"
    lines: list[Line] = field(default_factory=lambda: [Line("99213", "150")])
    diagnoses: tuple[str, ...] = ("J069",)
    dos: date = DOS
    prior_auth: str | None = None
    referring: bool = False
    frequency: str = "1"
    original: str | None = None


PAYER_NAMES = {"60054": "AETNA", "87726": "UNITEDHEALTHCARE", "12502": "NOVITAS", "99999": "NOBODY"}


def claim837(spec: ClaimSpec) -> x837.Claim837:
    address = x837.Address(
        line1="100 MAIN ST", city="HARRISBURG", state="PA", postal_code="171010000"
    )
    billing = x837.BillingProvider(
        npi=BILLING_NPI, tax_id="231234567", name="SANDBOX FAMILY PRACTICE", address=address
    )
    subscriber = x837.Subscriber(
        member_id=spec.member_id,
        last_name=spec.last,
        first_name=spec.first,
        payer=x837.Payer(name=PAYER_NAMES.get(spec.payer_id, "PAYER"), payer_id=spec.payer_id),
        birth_date=date(1980, 1, 2),
        sex="F",
        address=address,
        claim_filing_indicator="CI",
    )
    lines = tuple(
        x837.ServiceLine(
            charge=Decimal(ln.charge),
            units=Decimal(ln.units),
            procedure_code=ln.procedure,
            modifiers=ln.modifiers,
            diagnosis_pointers=ln.pointers,
            service_date=spec.dos,
            line_item_control_number=ln.control,
        )
        for ln in spec.lines
    )
    return x837.Claim837(
        kind="P",
        billing_provider=billing,
        subscriber=subscriber,
        patient_control_number=spec.pcn,
        charge=sum((Decimal(ln.charge) for ln in spec.lines), Decimal(0)),
        facility_code="11",
        lines=lines,
        diagnoses=spec.diagnoses,
        frequency=spec.frequency,
        original_claim_number=spec.original,
        prior_authorization=spec.prior_auth,
        patient_signature_source="P",
        referring_provider=x837.Provider(
            role="DN", name="REFER", first_name="RITA", npi=REFERRING_NPI
        )
        if spec.referring
        else None,
    )


def build_837(specs: Sequence[ClaimSpec], *, control: int = 1, created: datetime = NOW) -> bytes:
    header = x837.Header837(
        submitter=x837.Submitter(
            name="SANDBOX FAMILY PRACTICE",
            identifier="SUBMIT01",
            contact=x837.Contact(name="BILLING OFFICE", phone="7175550100"),
        ),
        receiver=x837.Receiver(name="RCM SANDBOX CLEARINGHOUSE", identifier="RCMSANDBOX"),
        reference_id=f"B{control:08d}",
        created=created,
    )
    envelope = InterchangeEnvelope(
        sender_qualifier="ZZ",
        sender_id="SUBMIT01",
        receiver_qualifier="ZZ",
        receiver_id="RCMSANDBOX",
        control_number=control,
        group_control_number=control,
        functional_id="HC",
        version=x837.IMPLEMENTATION["P"],
        created=created,
        usage="T",
    )
    return x837.build_837_interchange(envelope, header, [claim837(s) for s in specs])


SPECS_E2E = [
    ClaimSpec("E2E01", "W100000001", "DOE", "JANE"),
    ClaimSpec("E2E02", "W999999999", "NOBODY", "NO"),
]


def build_837i(pcn: str = "INST01", *, control: int = 9) -> bytes:
    """One outpatient institutional claim (TOB 131): an ER visit and a lab revenue line."""
    from dataclasses import replace

    base = claim837(ClaimSpec(pcn, "W100000001", "DOE", "JANE"))
    claim = replace(
        base,
        kind="I",
        facility_code="13",
        statement_from=DOS,
        statement_through=DOS,
        admission_type="3",
        admission_source="1",
        patient_status="01",
        provider_signature=None,
        patient_signature_source=None,
        attending_provider=x837.Provider(
            role="71", name="ATTEND", first_name="ANN", npi=REFERRING_NPI
        ),
        lines=(
            x837.ServiceLine(
                charge=Decimal("300"),
                units=Decimal("1"),
                revenue_code="0450",
                procedure_code="99283",
                service_date=DOS,
            ),
            x837.ServiceLine(
                charge=Decimal("80"), units=Decimal("1"), revenue_code="0300", service_date=DOS
            ),
        ),
        charge=Decimal("380"),
    )
    header = x837.Header837(
        submitter=x837.Submitter(
            name="SANDBOX HOSPITAL", identifier="SUBMIT01",
            contact=x837.Contact(name="BILLING", phone="7175550100"),
        ),
        receiver=x837.Receiver(name="RCM SANDBOX CLEARINGHOUSE", identifier="RCMSANDBOX"),
        reference_id=f"I{control:08d}",
        created=NOW,
    )  # fmt: skip
    envelope = InterchangeEnvelope(
        "ZZ", "SUBMIT01", "ZZ", "RCMSANDBOX", control, control, "HC",
        x837.IMPLEMENTATION["I"], NOW, usage="T",
    )  # fmt: skip
    return x837.build_837_interchange(envelope, header, [claim])


def build_270(
    members: Sequence[tuple[str, str, str]], *, payer_id: str = "60054", control: int = 20
) -> bytes:
    """A 270 asking about (member ID, last name, first name) for health benefit plan coverage."""
    from rcm.x12 import x270

    request = x270.EligibilityRequest(
        source=x270.Party(entity_id="PR", name=PAYER_NAMES.get(payer_id, "PAYER"),
                          identifier=payer_id, id_qualifier="PI"),
        receiver=x270.Party(entity_id="1P", name="SANDBOX FAMILY PRACTICE",
                            identifier=BILLING_NPI, id_qualifier="XX"),
        inquiries=tuple(
            x270.EligibilityInquiry(
                trace_number=f"T{n:05d}", trace_originator="9231234567",
                subscriber=x270.Member(last_name=last, first_name=first, member_id=member_id),
                service_types=("30",), service_date=DOS,
            )
            for n, (member_id, last, first) in enumerate(members, start=1)
        ),
        reference_id=f"E{control:08d}",
        created=NOW,
    )  # fmt: skip
    envelope = InterchangeEnvelope(
        "ZZ", "SUBMIT01", "ZZ", "RCMSANDBOX", control, control, "HS", x270.IMPLEMENTATION, NOW,
        usage="T",
    )  # fmt: skip
    return x270.build_270_interchange(envelope, [request])
