"""A synthetic world for a practice: its EHR exports and its patients' payers' member roster.

One seed gives both sides of the clearinghouse the same patients: the practice's patients,
appointments and charges CSVs (docs/import-formats.md) and the sandbox payer's roster
(docs/sandbox.md). The demo, onboarding dry-runs and benchmarks use it. Everything is made up:
names come from short lists, member IDs are random, and the code mixes follow each specialty's
everyday billing so scrubbing and adjudication have realistic work to do, including the cases a
billing firm sees every day (inactive coverage, a member ID the payer does not know, a secondary
payer nobody told the practice about, a procedure billed without its prior authorization, a
therapy visit keyed without its therapy modifier).
"""

from __future__ import annotations

import csv
import io
import random
import string
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from rcm.onboarding.schema import OnboardingDocument
from rcm.payers import PayerConfig
from sandbox.payer_rules import Member, write_roster_csv

FIRST_NAMES = [
    "Avery",
    "Blake",
    "Casey",
    "Dana",
    "Emerson",
    "Finley",
    "Harper",
    "Jordan",
    "Kendall",
    "Logan",
    "Morgan",
    "Parker",
    "Quinn",
    "Reese",
    "Rowan",
    "Sawyer",
    "Skyler",
    "Taylor",
    "Marlow",
    "Ellis",
    "Sage",
    "Arden",
    "Linden",
    "Corin",
    "Tamsin",
    "Oriel",
]
LAST_NAMES = [
    "Ashdown",
    "Brightwater",
    "Calloway",
    "Dunmore",
    "Everhart",
    "Fairbrook",
    "Glenwood",
    "Hollister",
    "Ingleby",
    "Jessup",
    "Kettering",
    "Larkspur",
    "Merriweather",
    "Northcott",
    "Oakhurst",
    "Pennington",
    "Quarry",
    "Redfern",
    "Stonebridge",
    "Thistlewood",
    "Underhill",
    "Vantreese",
    "Whitcombe",
    "Yarborough",
    "Zellweger",
    "Ambrose",
]
STREETS = [
    "Maple Ave",
    "Cedar St",
    "Orchard Ln",
    "Hillcrest Rd",
    "Willow Way",
    "Lakeview Dr",
    "Chestnut St",
    "Harbor Rd",
    "Meadow Ct",
    "Juniper Pl",
]

MBI_LETTERS = "ACDEFGHJKMNPQRTUVWXY"


@dataclass(frozen=True)
class Visit:
    """One line of a specialty's everyday work: procedure, modifiers, charge, diagnoses."""

    procedure: str
    charge: Decimal
    diagnoses: tuple[str, ...]
    modifiers: tuple[str, ...] = ()
    units: int = 1
    revenue_code: str = ""
    place_of_service: str = "11"


@dataclass(frozen=True)
class Specialty:
    name: str
    claim_type: str
    # Each pattern is one encounter: its lines.
    patterns: tuple[tuple[Visit, ...], ...]
    type_of_bill: str = ""
    # The share of encounters whose charges arrive without these modifiers (a charge keyed from
    # an EHR template that lacks them). The scrubber cannot know they are missing; the payers
    # whose rules require them deny the lines (CO-4, config/sandbox/payer_rules.yaml).
    dropped_modifiers: tuple[str, ...] = ()
    dropped_modifier_rate: float = 0.0


_D = Decimal
FAMILY_MEDICINE = Specialty(
    "family medicine",
    "professional",
    (
        (Visit("99213", _D("135.00"), ("J06.9",)),),
        (Visit("99214", _D("185.00"), ("E11.9", "I10")), Visit("83036", _D("38.00"), ("E11.9",))),
        (Visit("99214", _D("185.00"), ("I10", "E78.5")), Visit("36415", _D("15.00"), ("E78.5",))),
        (Visit("99212", _D("95.00"), ("J02.9",)), Visit("87880", _D("32.00"), ("J02.9",))),
        (
            Visit("99396", _D("260.00"), ("Z00.00",)),
            Visit("90471", _D("30.00"), ("Z23",)),
            Visit("90686", _D("42.00"), ("Z23",)),
        ),
        (Visit("99213", _D("135.00"), ("M54.50",)),),
        (Visit("99214", _D("185.00"), ("K21.9", "F41.1")),),
        (Visit("99213", _D("135.00"), ("N39.0",)), Visit("81002", _D("12.00"), ("N39.0",))),
        (
            Visit("99215", _D("250.00"), ("E11.65", "I10", "E78.5")),
            Visit("93000", _D("60.00"), ("I10",)),
        ),
    ),
)
ORTHOPAEDICS = Specialty(
    "orthopaedics",
    "professional",
    (
        (
            Visit("99203", _D("210.00"), ("M17.11",)),
            Visit("73562", _D("95.00"), ("M17.11",), ("RT",)),
        ),
        (
            Visit("99214", _D("190.00"), ("M17.12",), ("25",)),
            Visit("20610", _D("180.00"), ("M17.12",), ("LT",)),
            Visit("J1030", _D("24.00"), ("M17.12",)),
        ),
        (
            Visit("99213", _D("140.00"), ("M75.101",)),
            Visit("73030", _D("85.00"), ("M75.101",), ("RT",)),
        ),
        (Visit("29881", _D("2850.00"), ("S83.511A", "W10.8XXA"), ("RT",), place_of_service="22"),),
        (Visit("99213", _D("140.00"), ("M54.16",)),),
        (Visit("20550", _D("150.00"), ("M72.2",), ("LT",)),),
        (Visit("99214", _D("190.00"), ("M19.011",)),),
    ),
)
OUTPATIENT_REHAB = Specialty(
    "outpatient rehabilitation",
    "institutional",
    (
        (Visit("97161", _D("210.00"), ("M17.11", "M25.561"), ("GP",), revenue_code="0424"),),
        (
            Visit("97110", _D("80.00"), ("M17.11",), ("GP",), units=2, revenue_code="0420"),
            Visit("97140", _D("85.00"), ("M17.11",), ("GP",), revenue_code="0420"),
        ),
        (Visit("97530", _D("95.00"), ("M62.81",), ("GP",), units=2, revenue_code="0420"),),
        (
            Visit("97112", _D("90.00"), ("Z96.651", "M25.561"), ("GP",), revenue_code="0420"),
            Visit("97110", _D("80.00"), ("Z96.651",), ("GP",), revenue_code="0420"),
        ),
    ),
    type_of_bill="0131",
    dropped_modifiers=("GP", "GO", "GN"),
    dropped_modifier_rate=0.10,
)


def specialty_for(doc: OnboardingDocument) -> Specialty:
    if doc.practice.default_claim_type == "institutional":
        return OUTPATIENT_REHAB
    if doc.practice.taxonomy_code.startswith("207X"):
        return ORTHOPAEDICS
    return FAMILY_MEDICINE


@dataclass
class CoverageCard:
    payer_key: str
    payer_id: str
    member_id: str
    relationship: str
    subscriber_first: str
    subscriber_last: str
    subscriber_birth: date
    subscriber_sex: str
    group_number: str
    plan_name: str
    copay: Decimal
    coinsurance_percent: int
    deductible_remaining: Decimal
    active_to: date | None = None
    on_roster: bool = True
    known_to_practice: bool = True
    # The primary payer forwards the claim to this plan itself (Medicare crossover), so the
    # practice does not bill it a secondary claim.
    crossover: bool = False


@dataclass
class SyntheticPatient:
    account_number: str
    first_name: str
    last_name: str
    birth_date: date
    sex: str
    address1: str
    city: str
    state: str
    zip: str
    phone: str
    primary: CoverageCard
    secondary: CoverageCard | None = None


@dataclass
class SyntheticPractice:
    """Patients of one practice and everything generated from them."""

    doc: OnboardingDocument
    payers: Mapping[str, PayerConfig]
    specialty: Specialty
    patients: list[SyntheticPatient]
    seed: int
    rendering_npis: list[str] = field(default_factory=list)
    referring_npis: list[str] = field(default_factory=list)
    facility_npis: list[str] = field(default_factory=list)

    @property
    def slug(self) -> str:
        return self.doc.practice.slug

    def patients_csv(self) -> bytes:
        columns = [
            "account_number",
            "last_name",
            "first_name",
            "middle_name",
            "birth_date",
            "sex",
            "address1",
            "address2",
            "city",
            "state",
            "zip",
            "phone",
        ]
        for prefix in ("primary", "secondary"):
            columns += [
                f"{prefix}_payer",
                f"{prefix}_member_id",
                f"{prefix}_group_number",
                f"{prefix}_plan_name",
                f"{prefix}_relationship",
                f"{prefix}_subscriber_last_name",
                f"{prefix}_subscriber_first_name",
                f"{prefix}_subscriber_birth_date",
                f"{prefix}_subscriber_sex",
            ]
        rows = []
        for p in self.patients:
            row = {
                "account_number": p.account_number,
                "last_name": p.last_name,
                "first_name": p.first_name,
                "middle_name": "",
                "birth_date": p.birth_date.isoformat(),
                "sex": p.sex,
                "address1": p.address1,
                "address2": "",
                "city": p.city,
                "state": p.state,
                "zip": p.zip,
                "phone": p.phone,
            }
            cards = [("primary", p.primary)]
            if p.secondary is not None and p.secondary.known_to_practice:
                cards.append(("secondary", p.secondary))
            for prefix, card in cards:
                row.update(_coverage_columns(prefix, card))
            rows.append(row)
        return _csv(columns, rows)

    def appointments_csv(self, start: date, days: int, per_day: int) -> bytes:
        rng = random.Random(f"{self.seed}:{self.slug}:appointments:{start}")
        columns = [
            "appointment_id",
            "patient_account",
            "scheduled_at",
            "rendering_npi",
            "visit_type",
            "status",
        ]
        rows = []
        for offset in range(days):
            day = start + timedelta(days=offset)
            if day.weekday() >= 5:
                continue
            for n in range(per_day):
                patient = rng.choice(self.patients)
                hour, minute = 8 + (n * 20) // 60 % 9, (n * 20) % 60
                rows.append(
                    {
                        "appointment_id": f"APT-{day:%Y%m%d}-{n + 1:04d}",
                        "patient_account": patient.account_number,
                        "scheduled_at": f"{day.isoformat()} {hour:02d}:{minute:02d}",
                        "rendering_npi": rng.choice(self.rendering_npis),
                        "visit_type": rng.choice(["follow_up", "new_patient", "sick_visit"]),
                        "status": "scheduled",
                    }
                )
        return _csv(columns, rows)

    def charges_csv(
        self,
        service_date: date,
        encounters: int,
        *,
        distinct_patients: bool = False,
        dropped_modifier_rate: float | None = None,
    ) -> bytes:
        """One day of charges: `encounters` visits, one row per service line.

        With `distinct_patients` no patient has two visits that day (while there are enough
        patients): the duplicate-claim edit then only fires on what the payers' rules plant.
        `dropped_modifier_rate` overrides the specialty's share of visits keyed without its
        `dropped_modifiers` (the rehab practice's therapy modifier). That share of the day's
        visits (rounded at random) is picked by a generator of its own, so changing it changes
        nothing else about the day.
        """
        rng = random.Random(f"{self.seed}:{self.slug}:charges:{service_date}")
        visitors: list[SyntheticPatient] = []
        if distinct_patients:
            visitors = rng.sample(self.patients, min(encounters, len(self.patients)))
        columns = [
            "encounter_id",
            "line_number",
            "patient_account",
            "service_date",
            "rendering_npi",
            "referring_npi",
            "facility_npi",
            "place_of_service",
            "claim_type",
            "procedure_code",
            "modifiers",
            "units",
            "charge",
            "diagnosis_codes",
            "diagnosis_pointers",
            "prior_authorization",
            "payer",
            "member_id",
            "revenue_code",
            "type_of_bill",
        ]
        rows = []
        spec = self.specialty
        keyed_without = self._visits_missing_modifiers(
            service_date,
            encounters,
            spec.dropped_modifier_rate if dropped_modifier_rate is None else dropped_modifier_rate,
        )
        for n in range(encounters):
            patient = visitors[n] if n < len(visitors) else rng.choice(self.patients)
            card = patient.primary
            payer = self.payers[card.payer_key]
            lines = rng.choice(spec.patterns)
            diagnoses: list[str] = []
            for visit in lines:
                for code in visit.diagnoses:
                    if code not in diagnoses:
                        diagnoses.append(code)
            needs_auth = any(v.procedure in payer.prior_auth_procedures for v in lines)
            # One in ten procedures needing authorization arrives without it: the scrubber or
            # the payer has to catch that.
            authorization = (
                f"PA{rng.randrange(10**7):07d}" if needs_auth and rng.random() > 0.1 else ""
            )
            referring = ""
            if self.referring_npis and (spec.claim_type == "institutional" or rng.random() < 0.15):
                referring = rng.choice(self.referring_npis)
            rendering = rng.choice(self.rendering_npis)
            encounter_id = f"E{service_date:%Y%m%d}{n + 1:05d}"
            dropped = set(spec.dropped_modifiers) if n in keyed_without else set()
            for line_number, visit in enumerate(lines, start=1):
                pointers = [str(diagnoses.index(code) + 1) for code in visit.diagnoses][:4]
                modifiers = [m for m in visit.modifiers if m not in dropped]
                rows.append(
                    {
                        "encounter_id": encounter_id,
                        "line_number": str(line_number),
                        "patient_account": patient.account_number,
                        "service_date": service_date.isoformat(),
                        "rendering_npi": rendering,
                        "referring_npi": referring,
                        "facility_npi": self.facility_npis[0]
                        if spec.claim_type == "institutional" and self.facility_npis
                        else "",
                        "place_of_service": ""
                        if spec.claim_type == "institutional"
                        else visit.place_of_service,
                        "claim_type": spec.claim_type,
                        "procedure_code": visit.procedure,
                        "modifiers": "|".join(modifiers),
                        "units": str(visit.units),
                        "charge": str(visit.charge * visit.units),
                        "diagnosis_codes": "|".join(diagnoses),
                        "diagnosis_pointers": "|".join(pointers),
                        "prior_authorization": authorization,
                        "payer": card.payer_key,
                        "member_id": card.member_id,
                        "revenue_code": visit.revenue_code,
                        "type_of_bill": spec.type_of_bill,
                    }
                )
        return _csv(columns, rows)

    def _visits_missing_modifiers(
        self, service_date: date, encounters: int, rate: float
    ) -> set[int]:
        """Which of the day's visits (by index) arrive without the specialty's dropped
        modifiers: `rate` of them, so every day of a demo has its few."""
        if not self.specialty.dropped_modifiers or rate <= 0 or encounters <= 0:
            return set()
        draw = random.Random(f"{self.seed}:{self.slug}:dropped-modifiers:{service_date}")
        count = min(encounters, int(rate * encounters + draw.random()))
        return set(draw.sample(range(encounters), count))

    def roster_members(self) -> list[Member]:
        """The payers' side: one roster member per card the payer knows (docs/sandbox.md)."""
        members: list[Member] = []
        for p in self.patients:
            for card, other in ((p.primary, p.secondary), (p.secondary, None)):
                if card is None or not card.on_roster:
                    continue
                other_payer = (
                    self.payers[other.payer_key] if other is not None and other.crossover else None
                )
                members.append(
                    Member(
                        member_id=card.member_id,
                        payer_id=card.payer_id,
                        last_name=card.subscriber_last.upper(),
                        first_name=card.subscriber_first.upper(),
                        birth_date=card.subscriber_birth,
                        plan=card.plan_name,
                        group_number=card.group_number,
                        copay=card.copay,
                        coinsurance_percent=Decimal(card.coinsurance_percent),
                        deductible_remaining=card.deductible_remaining,
                        oop_remaining=Decimal("6000"),
                        active_from=date(2024, 1, 1),
                        active_to=card.active_to,
                        secondary_payer_id=other_payer.payer_id if other_payer else None,
                        secondary_payer_name=other_payer.name.upper() if other_payer else None,
                        gender=card.subscriber_sex,
                    )
                )
        return members


def roster_csv(members: Iterable[Member]) -> bytes:
    """The roster file the sandbox reads (sandbox.payer_rules' format)."""
    return write_roster_csv(members).encode("utf-8")


def generate_practice(
    doc: OnboardingDocument,
    payers: Mapping[str, PayerConfig],
    *,
    seed: int,
    patients: int,
    today: date,
    member_ids: set[str] | None = None,
) -> SyntheticPractice:
    """`patients` synthetic patients for an onboarded practice, covered by the payers it is
    enrolled with. `member_ids` are the IDs other practices' patients already hold (one
    roster serves a whole firm, and a payer's member ID names one person); the new ones are
    added to it."""
    rng = random.Random(f"{seed}:{doc.practice.slug}")
    enrolled = sorted(
        {
            e.payer
            for e in doc.enrollments
            if e.provider_npi is None and e.credentialing_status == "approved" and e.payer in payers
        }
    )
    if not enrolled:
        raise ValueError(f"practice {doc.practice.slug} has no approved group enrollment")
    prefix = "".join(part[0] for part in doc.practice.slug.split("-")[:3]).upper()
    address = doc.practice.address
    area_code = "".join(ch for ch in (doc.practice.phone or "") if ch.isdigit())[:3] or "555"
    people: list[SyntheticPatient] = []
    used_ids: set[str] = member_ids if member_ids is not None else set()
    for n in range(patients):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        sex = rng.choice("FM")
        payer_key = _pick_payer(rng, enrolled, payers)
        age = rng.randint(66, 90) if _is_medicare(payers[payer_key]) else rng.randint(1, 64)
        birth = today - timedelta(days=age * 365 + rng.randrange(365))
        relationship = "self"
        sub_first, sub_last, sub_birth, sub_sex = first, last, birth, sex
        if age < 18:
            relationship = "child"
            sub_first, sub_sex = rng.choice(FIRST_NAMES), rng.choice("FM")
            sub_birth = birth - timedelta(days=rng.randint(22, 40) * 365)
        primary = _card(
            rng, payers[payer_key], used_ids, relationship, sub_first, sub_last, sub_birth, sub_sex
        )
        roll = rng.random()
        if roll < 0.03:
            primary.on_roster = False  # the payer has never heard of this member ID
        elif roll < 0.07:
            primary.active_to = today - timedelta(days=rng.randint(5, 60))  # coverage ended
        secondary = None
        if _is_medicare(payers[payer_key]) and rng.random() < 0.35:
            secondary_key = next(
                (k for k in enrolled if not _is_medicare(payers[k]) and k != payer_key), None
            )
            if secondary_key is not None:
                secondary = _card(
                    rng, payers[secondary_key], used_ids, "self", first, last, birth, sex
                )
                secondary.copay = Decimal("0")
                # Some secondary coverage only the payer knows about (the 271 reveals it); of the
                # rest, about half is crossed over by the primary payer and half billed by the
                # practice as a secondary claim.
                secondary.known_to_practice = rng.random() > 0.3
                secondary.crossover = not secondary.known_to_practice or rng.random() < 0.5
        people.append(
            SyntheticPatient(
                account_number=f"{prefix}-{n + 10001}",
                first_name=first,
                last_name=last,
                birth_date=birth,
                sex=sex,
                address1=f"{rng.randint(10, 9999)} {rng.choice(STREETS)}",
                city=address.city,
                state=address.state,
                zip=address.zip[:5],
                phone=f"{area_code}-555-01{rng.randint(0, 99):02d}",
                primary=primary,
                secondary=secondary,
            )
        )
    rendering = [p.npi for p in doc.providers if p.role == "rendering"]
    if not rendering:
        raise ValueError(f"practice {doc.practice.slug} has no rendering provider")
    return SyntheticPractice(
        doc=doc,
        payers=payers,
        specialty=specialty_for(doc),
        patients=people,
        seed=seed,
        rendering_npis=rendering,
        referring_npis=[p.npi for p in doc.providers if p.role == "referring"],
        facility_npis=[p.npi for p in doc.providers if p.role == "facility"],
    )


def _is_medicare(payer: PayerConfig) -> bool:
    return payer.claim_filing_indicator in ("MA", "MB")


def _pick_payer(
    rng: random.Random, enrolled: Sequence[str], payers: Mapping[str, PayerConfig]
) -> str:
    # Medicare and commercial plans carry most visits; workers' comp is rare.
    weights = [0.3 if payers[k].claim_filing_indicator == "WC" else 1.0 for k in enrolled]
    return rng.choices(list(enrolled), weights=weights)[0]


def _member_id(rng: random.Random, payer: PayerConfig, used: set[str]) -> str:
    while True:
        if _is_medicare(payer):
            # Medicare Beneficiary Identifier shape: C A AN N A AN N A A N N.
            pick = rng.choice
            alnum = MBI_LETTERS + string.digits
            member = (
                str(rng.randint(1, 9))
                + pick(MBI_LETTERS)
                + pick(alnum)
                + pick(string.digits)
                + pick(MBI_LETTERS)
                + pick(alnum)
                + pick(string.digits)
                + pick(MBI_LETTERS)
                + pick(MBI_LETTERS)
                + pick(string.digits)
                + pick(string.digits)
            )
        elif payer.claim_filing_indicator == "MC":
            member = f"{rng.randrange(10**9, 10**10)}"
        elif payer.claim_filing_indicator == "WC":
            member = f"WC{rng.randrange(10**7):07d}"
        else:
            member = rng.choice("WXYZ") + f"{rng.randrange(10**9):09d}"
        if member not in used:
            used.add(member)
            return member


def _card(
    rng: random.Random,
    payer: PayerConfig,
    used: set[str],
    relationship: str,
    first: str,
    last: str,
    birth: date,
    sex: str,
) -> CoverageCard:
    medicare = _is_medicare(payer)
    return CoverageCard(
        payer_key=payer.key,
        payer_id=payer.payer_id,
        member_id=_member_id(rng, payer, used),
        relationship=relationship,
        subscriber_first=first,
        subscriber_last=last,
        subscriber_birth=birth,
        subscriber_sex=sex,
        group_number="" if medicare else f"G{rng.randrange(10**5):05d}",
        plan_name="MEDICARE PART B" if medicare else rng.choice(["PPO", "HMO", "EPO"]),
        copay=Decimal("0") if medicare else Decimal(rng.choice([15, 20, 25, 30, 40])),
        coinsurance_percent=20 if medicare else rng.choice([0, 10, 20]),
        deductible_remaining=Decimal(rng.choice([0, 0, 50, 150, 400])),
    )


def _coverage_columns(prefix: str, card: CoverageCard) -> dict[str, str]:
    self_insured = card.relationship == "self"
    return {
        f"{prefix}_payer": card.payer_key,
        f"{prefix}_member_id": card.member_id,
        f"{prefix}_group_number": card.group_number,
        f"{prefix}_plan_name": card.plan_name,
        f"{prefix}_relationship": card.relationship,
        f"{prefix}_subscriber_last_name": "" if self_insured else card.subscriber_last,
        f"{prefix}_subscriber_first_name": "" if self_insured else card.subscriber_first,
        f"{prefix}_subscriber_birth_date": ""
        if self_insured
        else card.subscriber_birth.isoformat(),
        f"{prefix}_subscriber_sex": "" if self_insured else card.subscriber_sex,
    }


def _csv(columns: Sequence[str], rows: Iterable[Mapping[str, str]]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(
        out, fieldnames=list(columns), extrasaction="ignore", lineterminator="\n"
    )
    writer.writeheader()
    for row in rows:
        writer.writerow({c: row.get(c, "") for c in columns})
    return out.getvalue().encode("utf-8")
