"""The sandbox payers' rules: pure decisions over small input dataclasses, no X12, no I/O
beyond reading the config files.

Three questions are answered here:

- `front_end_check`: would the clearinghouse and payer front end accept the claim (the 277CA)?
- `adjudicate`: what does the payer pay, line by line, and why (the 835's CLP/SVC/CAS)? A
  claim billed to the payer as secondary or tertiary (SBR01 S/T) is adjudicated after the
  prior payers, from their adjudication carried in the 837's 2320/2430 loops (see
  `adjudicate_after_prior`: coordination of benefits).
- `eligibility`: what does the roster say about a member (the 271)?

Inputs are `ClaimIn`/`LineIn` (what an 837 says), `Member` (a roster row) and `PayerRules`
(config/sandbox/payer_rules.yaml merged over config/payers.yaml). Money is `Decimal`, rounded
half-up to cents once per computed amount, so a line always balances:
charge - paid - sum(adjustments) == 0.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from rcm.errors import ConfigError

CENT = Decimal("0.01")
ZERO = Decimal("0")
HUNDRED = Decimal("100")

RULES_FILE = "payer_rules.yaml"
FEE_SCHEDULE_FILE = "fee_schedule.csv"
ROSTER_NAMES = ("roster.yaml", "roster.yml", "roster.csv")


def money(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


# ---------------------------------------------------------------------------------------------
# Inputs
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Adjustment:
    """A CAS triplet: group (CO, PR, OA, PI, CR), CARC, amount, optional quantity."""

    group: str
    reason: str
    amount: Decimal
    quantity: Decimal | None = None


# SBR01 payer responsibility, in order: primary, secondary, tertiary, then payers 4 to 11.
RESPONSIBILITY_ORDER = "PSTABCDEFGH"


def responsibility_rank(code: str) -> int:
    """0 for the primary (P, and U unknown), 1 for the secondary (S), 2 for the tertiary..."""
    rank = RESPONSIBILITY_ORDER.find(code.strip().upper()[:1] or "P")
    return max(rank, 0)


@dataclass(frozen=True)
class PriorLine:
    """2430: how a prior payer adjudicated one service line (SVD01 payer, SVD02 paid, the
    line's CAS, DTP*573, AMT*EAF remaining patient liability)."""

    payer_id: str
    paid: Decimal
    adjustments: tuple[Adjustment, ...] = ()
    adjudication_date: date | None = None
    remaining_patient_liability: Decimal | None = None


@dataclass(frozen=True)
class PriorPayer:
    """2320/2330B: one payer before this one (SBR01 of the 2320, its payer ID, AMT*D paid,
    the claim-level CAS, AMT*EAF and DTP*573)."""

    responsibility: str
    payer_id: str
    paid: Decimal = ZERO
    adjustments: tuple[Adjustment, ...] = ()
    remaining_patient_liability: Decimal | None = None
    adjudication_date: date | None = None


@dataclass(frozen=True)
class LineIn:
    """One service line as the 837 bills it."""

    number: int
    procedure: str
    charge: Decimal
    units: Decimal = Decimal("1")
    modifiers: tuple[str, ...] = ()
    dx_pointers: tuple[int, ...] = (1,)
    service_date: date | None = None
    revenue_code: str | None = None
    qualifier: str = "HC"
    control_number: str | None = None
    prior: tuple[PriorLine, ...] = ()


@dataclass(frozen=True)
class ClaimIn:
    """One claim as the 837 bills it: just what the sandbox payers look at."""

    patient_control_number: str
    payer_id: str
    member_id: str
    subscriber_last: str
    subscriber_first: str
    service_date: date
    charge: Decimal
    lines: tuple[LineIn, ...]
    diagnoses: tuple[str, ...] = ()
    prior_auth: str | None = None
    frequency: str = "1"
    original_claim_number: str | None = None
    referring_npi: str | None = None
    patient_last: str | None = None
    patient_first: str | None = None
    billing_npi: str = ""
    billing_tin: str = ""
    billing_name: str = ""
    institutional: bool = False
    facility_code: str = "11"
    filing_indicator: str = "CI"
    payer_responsibility: str = "P"
    other_payers: tuple[PriorPayer, ...] = ()

    @property
    def after_prior_payer(self) -> bool:
        """Billed to this payer as secondary, tertiary or later (SBR01 S, T, A-H)."""
        return responsibility_rank(self.payer_responsibility) > 0

    def fingerprint(self) -> str:
        """What makes two submissions the same claim (for CO-18): who, when, what, how much."""
        parts = [
            self.payer_id,
            self.member_id,
            self.patient_control_number,
            self.service_date.isoformat(),
            str(money(self.charge)),
            self.frequency,
        ]
        parts += [
            f"{ln.procedure}:{','.join(ln.modifiers)}:{money(ln.charge)}" for ln in self.lines
        ]
        return "|".join(parts)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["service_date"] = self.service_date.isoformat()
        data["charge"] = str(self.charge)
        data["lines"] = [_line_json(ln) for ln in self.lines]
        data["diagnoses"] = list(self.diagnoses)
        data["other_payers"] = [
            {
                "responsibility": p.responsibility,
                "payer_id": p.payer_id,
                "paid": str(p.paid),
                "adjustments": _adjustments_json(p.adjustments),
                "remaining_patient_liability": _opt_str(p.remaining_patient_liability),
                "adjudication_date": _opt_iso(p.adjudication_date),
            }
            for p in self.other_payers
        ]
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ClaimIn:
        values = dict(data)
        values["service_date"] = date.fromisoformat(values["service_date"])
        values["charge"] = Decimal(values["charge"])
        values["diagnoses"] = tuple(values.get("diagnoses", ()))
        values["lines"] = tuple(
            LineIn(
                number=ln["number"],
                procedure=ln["procedure"],
                charge=Decimal(ln["charge"]),
                units=Decimal(ln["units"]),
                modifiers=tuple(ln["modifiers"]),
                dx_pointers=tuple(ln["dx_pointers"]),
                service_date=date.fromisoformat(ln["service_date"]) if ln["service_date"] else None,
                revenue_code=ln.get("revenue_code"),
                qualifier=ln.get("qualifier", "HC"),
                control_number=ln.get("control_number"),
                prior=tuple(
                    PriorLine(
                        payer_id=p["payer_id"],
                        paid=Decimal(p["paid"]),
                        adjustments=_adjustments_from_json(p["adjustments"]),
                        adjudication_date=_opt_date(p.get("adjudication_date")),
                        remaining_patient_liability=_amount(
                            p.get("remaining_patient_liability"), None
                        ),
                    )
                    for p in ln.get("prior", ())
                ),
            )
            for ln in values["lines"]
        )
        values["other_payers"] = tuple(
            PriorPayer(
                responsibility=p["responsibility"],
                payer_id=p["payer_id"],
                paid=Decimal(p["paid"]),
                adjustments=_adjustments_from_json(p["adjustments"]),
                remaining_patient_liability=_amount(p.get("remaining_patient_liability"), None),
                adjudication_date=_opt_date(p.get("adjudication_date")),
            )
            for p in values.get("other_payers", ())
        )
        return cls(**values)


def _line_json(line: LineIn) -> dict[str, Any]:
    return {
        "number": line.number,
        "procedure": line.procedure,
        "charge": str(line.charge),
        "units": str(line.units),
        "modifiers": list(line.modifiers),
        "dx_pointers": list(line.dx_pointers),
        "service_date": line.service_date.isoformat() if line.service_date else None,
        "revenue_code": line.revenue_code,
        "qualifier": line.qualifier,
        "control_number": line.control_number,
        "prior": [
            {
                "payer_id": p.payer_id,
                "paid": str(p.paid),
                "adjustments": _adjustments_json(p.adjustments),
                "adjudication_date": _opt_iso(p.adjudication_date),
                "remaining_patient_liability": _opt_str(p.remaining_patient_liability),
            }
            for p in line.prior
        ],
    }


def _opt_str(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _opt_iso(value: date | None) -> str | None:
    return None if value is None else value.isoformat()


def _adjustments_json(adjustments: Iterable[Adjustment]) -> list[list[str | None]]:
    return [[a.group, a.reason, str(a.amount), _opt_str(a.quantity)] for a in adjustments]


def _adjustments_from_json(rows: Iterable[list[Any]]) -> tuple[Adjustment, ...]:
    return tuple(
        Adjustment(g, r, Decimal(a), None if q is None else Decimal(q)) for g, r, a, q in rows
    )


@dataclass(frozen=True)
class Member:
    """One roster row: a member of one payer's plan, with that plan's cost sharing."""

    member_id: str
    payer_id: str
    last_name: str
    first_name: str
    birth_date: date | None = None
    plan: str = "PPO"
    group_number: str = ""
    copay: Decimal = ZERO
    coinsurance_percent: Decimal = ZERO
    deductible_remaining: Decimal = ZERO
    oop_remaining: Decimal | None = None
    active_from: date | None = None
    active_to: date | None = None
    secondary_payer_id: str | None = None
    secondary_payer_name: str | None = None
    gender: str = "U"

    def active_on(self, day: date) -> bool:
        if self.active_from and day < self.active_from:
            return False
        return not (self.active_to and day > self.active_to)


# ---------------------------------------------------------------------------------------------
# Config
# ---------------------------------------------------------------------------------------------


class BundleRule(BaseModel):
    """`secondary` billed on the same claim as `primary` is bundled into it (CO-97)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    primary: str
    secondary: str
    unless_modifiers: list[str] = Field(default_factory=lambda: ["59", "XE", "XS", "XP", "XU"])


class NecessityRule(BaseModel):
    """`procedure` is covered only for diagnoses starting with one of `dx_prefixes` (CO-50)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    procedure: str
    dx_prefixes: list[str]


class ModifierRule(BaseModel):
    """A line billing one of `procedures` must carry one of `any_of` (CO-4): e.g. a payer that
    follows CMS's "always therapy" policy wants GP, GO or GN on every therapy code."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    procedures: list[str]
    any_of: list[str] = Field(min_length=1)


class PayerRules(BaseModel):
    """One sandbox payer. Fields left out come from `defaults`, then config/payers.yaml."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    payer_id: str
    name: str = "SANDBOX PAYER"
    timely_filing_days: int = Field(default=365, gt=0)
    prior_auth_procedures: list[str] = Field(default_factory=list)
    requires_referring_for: list[str] = Field(default_factory=list)
    bundles: list[BundleRule] = Field(default_factory=list)
    medical_necessity: list[NecessityRule] = Field(default_factory=list)
    required_modifiers: list[ModifierRule] = Field(default_factory=list)
    default_allowed_percent: Decimal = Decimal("60")
    copay_procedure_prefixes: list[str] = Field(default_factory=lambda: ["992"])
    reversal_probability: float = Field(default=0.0, ge=0, le=1)
    corrected_allowed_percent: Decimal = Decimal("105")
    interest_probability: float = Field(default=0.0, ge=0, le=1)
    interest_percent: Decimal = Decimal("1.5")
    recoupment_probability: float = Field(default=0.0, ge=0, le=1)
    recoupment_amount: Decimal = Decimal("25.00")
    recoupment_reason: str = Field(default="WO", pattern="^(WO|72)$")
    # How the payer pays a claim billed to it after another payer (SBR01 S/T):
    # `standard` (traditional COB) pays the lesser of its normal benefit and the patient share
    # the prior payer left; `carve_out` (non-duplication) pays its normal benefit less what the
    # prior payers paid, never more than that share. See `adjudicate_after_prior`.
    cob_method: Literal["standard", "carve_out"] = "standard"
    payer_tin: str = "990000001"
    address1: str = "PO BOX 1000"
    city: str = "HARRISBURG"
    state: str = "PA"
    zip: str = "17105"
    rarc: dict[str, list[str]] = Field(default_factory=dict)


DEFAULT_RARCS: Mapping[str, tuple[str, ...]] = {
    "4": ("M78",),  # missing/incomplete/invalid HCPCS modifier
    "16": ("N286",),  # missing/invalid referring provider identifier
    "18": ("N522",),
    "22": ("MA04",),  # secondary payment cannot be considered without the primary's
    "26": ("N30",),
    "27": ("N30",),
    "29": (),
    "50": ("N115",),
    "97": ("N19",),
    "109": ("N418",),
    "197": ("M62",),
}


class _RulesFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    defaults: dict[str, Any] = Field(default_factory=dict)
    payers: dict[str, dict[str, Any]] = Field(default_factory=dict)


@dataclass(frozen=True)
class FeeSchedule:
    """Allowed amount per unit by (payer or '*', procedure, modifier or '')."""

    rows: Mapping[tuple[str, str, str], Decimal]

    def allowed_per_unit(
        self, payer_id: str, procedure: str, modifiers: Iterable[str]
    ) -> Decimal | None:
        first_modifier = next(iter(modifiers), "")
        for key in (
            (payer_id, procedure, first_modifier),
            (payer_id, procedure, ""),
            ("*", procedure, first_modifier),
            ("*", procedure, ""),
        ):
            if key in self.rows:
                return self.rows[key]
        return None


def parse_fee_schedule(text: str, *, source: str = FEE_SCHEDULE_FILE) -> FeeSchedule:
    rows: dict[tuple[str, str, str], Decimal] = {}
    problems: list[str] = []
    reader = csv.DictReader(io.StringIO(text))
    expected = {"payer", "procedure", "modifier", "allowed"}
    if not reader.fieldnames or set(reader.fieldnames) != expected:
        raise ConfigError(f"{source}: header must be payer,procedure,modifier,allowed")
    for number, row in enumerate(reader, start=2):
        try:
            allowed = Decimal(row["allowed"].strip())
        except ArithmeticError:
            problems.append(f"line {number}: allowed is not an amount")
            continue
        if allowed < 0:
            problems.append(f"line {number}: allowed is negative")
            continue
        key = (row["payer"].strip() or "*", row["procedure"].strip(), row["modifier"].strip())
        if key in rows:
            problems.append(f"line {number}: duplicate row for {key}")
        rows[key] = money(allowed)
    if problems:
        raise ConfigError(f"{source}: invalid fee schedule", problems)
    return FeeSchedule(rows)


@dataclass(frozen=True)
class SandboxConfig:
    """Everything the sandbox payers need from config: rules per payer ID and the fees."""

    payers: Mapping[str, PayerRules]
    fees: FeeSchedule

    def payer(self, payer_id: str) -> PayerRules | None:
        return self.payers.get(payer_id)


def _platform_payers(config_dir: Path) -> dict[str, dict[str, Any]]:
    """Facts config/payers.yaml already states, so the sandbox payers agree with the platform's
    scrubber about filing limits, prior authorization and referring-provider rules."""
    path = config_dir / "payers.yaml"
    if not path.is_file():
        return {}
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    found: dict[str, dict[str, Any]] = {}
    for entry in raw.get("payers", []) or []:
        if not isinstance(entry, dict) or "payer_id" not in entry:
            continue
        facts: dict[str, Any] = {"name": str(entry.get("name", "")).upper()[:60] or "PAYER"}
        if "timely_filing_days" in entry:
            facts["timely_filing_days"] = entry["timely_filing_days"]
        if entry.get("prior_auth_procedures"):
            facts["prior_auth_procedures"] = [str(p) for p in entry["prior_auth_procedures"]]
        referring = (entry.get("rules") or {}).get("requires_referring_for")
        if referring:
            facts["requires_referring_for"] = [str(p) for p in referring]
        address = entry.get("appeal_address") or {}
        for key in ("address1", "city", "state", "zip"):
            if key in address:
                facts[key] = str(address[key]).upper() if key != "zip" else str(address[key])
        found[str(entry["payer_id"])] = facts
    return found


def load_config(config_dir: Path | str) -> SandboxConfig:
    """Read <config_dir>/sandbox/payer_rules.yaml and fee_schedule.csv (and <config_dir>/payers.yaml
    for the payers' base facts). ConfigError names the file and every problem."""
    config_dir = Path(config_dir)
    folder = config_dir / "sandbox"
    rules_path = folder / RULES_FILE
    try:
        raw = yaml.safe_load(rules_path.read_text(encoding="utf-8")) or {}
        parsed = _RulesFile.model_validate(raw)
    except OSError as exc:
        raise ConfigError(f"{rules_path}: cannot be read ({exc.strerror})") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{rules_path}: not valid YAML", [str(exc)]) from exc
    except ValidationError as exc:
        raise ConfigError(f"{rules_path}: invalid", [str(e["msg"]) for e in exc.errors()]) from exc
    base = _platform_payers(config_dir)
    payers: dict[str, PayerRules] = {}
    problems: list[str] = []
    for payer_id in sorted(set(parsed.payers) | set(base)):
        values: dict[str, Any] = {**parsed.defaults, **base.get(payer_id, {})}
        values.update(parsed.payers.get(payer_id) or {})
        values["payer_id"] = payer_id
        try:
            payers[payer_id] = PayerRules.model_validate(values)
        except ValidationError as exc:
            problems += [
                f"payer {payer_id}: {'.'.join(map(str, e['loc']))}: {e['msg']}"
                for e in exc.errors()
            ]
    if problems:
        raise ConfigError(f"{rules_path}: invalid payer rules", problems)
    fee_path = folder / FEE_SCHEDULE_FILE
    try:
        fees = parse_fee_schedule(fee_path.read_text(encoding="utf-8"), source=str(fee_path))
    except OSError as exc:
        raise ConfigError(f"{fee_path}: cannot be read ({exc.strerror})") from exc
    return SandboxConfig(payers=payers, fees=fees)


# ---------------------------------------------------------------------------------------------
# Roster
# ---------------------------------------------------------------------------------------------

_ROSTER_FIELDS = (
    "member_id",
    "payer_id",
    "last_name",
    "first_name",
    "birth_date",
    "plan",
    "group_number",
    "copay",
    "coinsurance_percent",
    "deductible_remaining",
    "oop_remaining",
    "active_from",
    "active_to",
    "secondary_payer_id",
    "secondary_payer_name",
    "gender",
)


def _opt_date(value: Any) -> date | None:
    if value in (None, ""):
        return None
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value).strip())


def _amount(value: Any, default: Decimal | None = ZERO) -> Decimal | None:
    if value in (None, ""):
        return default
    return Decimal(str(value).strip())


def member_from_mapping(row: Mapping[str, Any]) -> Member:
    unknown = set(row) - set(_ROSTER_FIELDS)
    if unknown:
        raise ValueError(f"unknown columns {sorted(unknown)}")
    for required in ("member_id", "payer_id", "last_name", "first_name"):
        if not str(row.get(required) or "").strip():
            raise ValueError(f"{required} is required")

    def text(key: str, default: str = "") -> str:
        value = row.get(key)
        return default if value in (None, "") else str(value).strip()

    return Member(
        member_id=text("member_id"),
        payer_id=text("payer_id"),
        last_name=text("last_name").upper(),
        first_name=text("first_name").upper(),
        birth_date=_opt_date(row.get("birth_date")),
        plan=text("plan", "PPO"),
        group_number=text("group_number"),
        copay=_amount(row.get("copay")) or ZERO,
        coinsurance_percent=_amount(row.get("coinsurance_percent")) or ZERO,
        deductible_remaining=_amount(row.get("deductible_remaining")) or ZERO,
        oop_remaining=_amount(row.get("oop_remaining"), None),
        active_from=_opt_date(row.get("active_from")),
        active_to=_opt_date(row.get("active_to")),
        secondary_payer_id=text("secondary_payer_id") or None,
        secondary_payer_name=text("secondary_payer_name").upper() or None,
        gender=text("gender", "U").upper(),
    )


@dataclass(frozen=True)
class Roster:
    """Members by member ID. A member ID is unique across payers in the sandbox."""

    members: Mapping[str, Member]

    def get(self, member_id: str) -> Member | None:
        return self.members.get(member_id.strip().upper())


def parse_roster(text: str, *, yaml_format: bool, source: str = "roster") -> Roster:
    rows: list[Mapping[str, Any]]
    if yaml_format:
        raw = yaml.safe_load(text) or {}
        rows = raw.get("members", []) if isinstance(raw, dict) else raw
        if not isinstance(rows, list):
            raise ConfigError(f"{source}: expected a list of members (or a `members:` list)")
    else:
        rows = list(csv.DictReader(io.StringIO(text)))
    members: dict[str, Member] = {}
    problems: list[str] = []
    for number, row in enumerate(rows, start=1):
        try:
            member = member_from_mapping(row)
        except (ValueError, ArithmeticError, TypeError) as exc:
            problems.append(f"member {number}: {exc}")
            continue
        key = member.member_id.upper()
        if key in members:
            problems.append(f"member {number}: member ID appears twice")
        members[key] = member
    if problems:
        raise ConfigError(f"{source}: invalid roster", problems)
    return Roster(members)


def roster_version(root: Path | str) -> tuple[str, int, int] | None:
    """Which roster file is under `root`, with its modification time and size: what
    `load_roster` would read, so that a reader can tell when to read it again."""
    root = Path(root)
    for name in ROSTER_NAMES:
        try:
            stat = (root / name).stat()
        except OSError:
            continue
        return (name, stat.st_mtime_ns, stat.st_size)
    return None


def load_roster(root: Path | str) -> Roster:
    """The roster under the sandbox root (roster.yaml, roster.yml or roster.csv); empty if none."""
    root = Path(root)
    for name in ROSTER_NAMES:
        path = root / name
        if path.is_file():
            return parse_roster(
                path.read_text(encoding="utf-8"),
                yaml_format=not name.endswith(".csv"),
                source=str(path),
            )
    return Roster({})


def write_roster_csv(members: Iterable[Member]) -> str:
    """A roster as CSV text in the documented column order (what tests and the demo write)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(_ROSTER_FIELDS)
    for m in members:
        writer.writerow(
            [
                m.member_id,
                m.payer_id,
                m.last_name,
                m.first_name,
                m.birth_date.isoformat() if m.birth_date else "",
                m.plan,
                m.group_number,
                m.copay,
                m.coinsurance_percent,
                m.deductible_remaining,
                "" if m.oop_remaining is None else m.oop_remaining,
                m.active_from.isoformat() if m.active_from else "",
                m.active_to.isoformat() if m.active_to else "",
                m.secondary_payer_id or "",
                m.secondary_payer_name or "",
                m.gender,
            ]
        )
    return out.getvalue()


# ---------------------------------------------------------------------------------------------
# Front end (277CA)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StatusCode:
    """One STC01 composite: category (A1, A3, A7...), status code, optional entity."""

    category: str
    code: str
    entity: str | None = None


ACCEPTED = StatusCode("A1", "20")


@dataclass(frozen=True)
class FrontEndResult:
    accepted: bool
    statuses: tuple[StatusCode, ...]
    reason: str


def front_end_check(claim: ClaimIn, roster: Roster, config: SandboxConfig) -> FrontEndResult:
    """The clearinghouse's and payer's front-end edits, in the order a real one runs them."""
    if config.payer(claim.payer_id) is None:
        return FrontEndResult(False, (StatusCode("A3", "116", "PR"),), "unknown payer ID")
    if claim.frequency in ("7", "8") and not claim.original_claim_number:
        return FrontEndResult(
            False,
            (StatusCode("A3", "21"), StatusCode("A3", "464")),
            "replacement or void without the original claim number",
        )
    member = roster.get(claim.member_id)
    if member is None:
        return FrontEndResult(False, (StatusCode("A3", "33", "IL"),), "member ID not found")
    if (
        member.last_name != claim.subscriber_last.strip().upper()
        or member.first_name[:1] != claim.subscriber_first.strip().upper()[:1]
    ):
        return FrontEndResult(False, (StatusCode("A7", "125", "IL"),), "subscriber name mismatch")
    return FrontEndResult(True, (ACCEPTED,), "accepted")


# ---------------------------------------------------------------------------------------------
# Adjudication (835)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LineDecision:
    number: int
    procedure: str
    modifiers: tuple[str, ...]
    charge: Decimal
    units: Decimal
    allowed: Decimal
    paid: Decimal
    adjustments: tuple[Adjustment, ...]
    rarcs: tuple[str, ...] = ()
    service_date: date | None = None
    revenue_code: str | None = None
    qualifier: str = "HC"
    control_number: str | None = None

    @property
    def balanced(self) -> bool:
        return self.charge - self.paid - sum((a.amount for a in self.adjustments), ZERO) == 0


@dataclass(frozen=True)
class ClaimDecision:
    """What the payer decided about one claim: CLP02 status, the lines, and the totals."""

    patient_control_number: str
    status: str  # CLP02: 1 primary, 2 secondary, 4 denied, 19 primary forwarded, 22 reversal
    lines: tuple[LineDecision, ...]
    payer_claim_control_number: str = ""
    claim_rarcs: tuple[str, ...] = ()
    denial_reason: str | None = None
    forwarded_to: str | None = None
    forwarded_id: str | None = None

    @property
    def charge(self) -> Decimal:
        return sum((ln.charge for ln in self.lines), ZERO)

    @property
    def paid(self) -> Decimal:
        return sum((ln.paid for ln in self.lines), ZERO)

    @property
    def patient_responsibility(self) -> Decimal:
        return sum((a.amount for ln in self.lines for a in ln.adjustments if a.group == "PR"), ZERO)

    @property
    def balanced(self) -> bool:
        return all(ln.balanced for ln in self.lines)

    def reversed(self) -> ClaimDecision:
        """The CLP02=22 reversal of this decision: every amount negated."""
        return replace(
            self,
            status="22",
            lines=tuple(
                replace(
                    ln,
                    charge=-ln.charge,
                    allowed=-ln.allowed,
                    paid=-ln.paid,
                    adjustments=tuple(replace(a, amount=-a.amount) for a in ln.adjustments),
                    rarcs=(),
                )
                for ln in self.lines
            ),
            claim_rarcs=(),
            forwarded_to=None,
            forwarded_id=None,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "patient_control_number": self.patient_control_number,
            "status": self.status,
            "payer_claim_control_number": self.payer_claim_control_number,
            "claim_rarcs": list(self.claim_rarcs),
            "denial_reason": self.denial_reason,
            "forwarded_to": self.forwarded_to,
            "forwarded_id": self.forwarded_id,
            "lines": [
                {
                    "number": ln.number,
                    "procedure": ln.procedure,
                    "modifiers": list(ln.modifiers),
                    "charge": str(ln.charge),
                    "units": str(ln.units),
                    "allowed": str(ln.allowed),
                    "paid": str(ln.paid),
                    "adjustments": [
                        [
                            a.group,
                            a.reason,
                            str(a.amount),
                            None if a.quantity is None else str(a.quantity),
                        ]
                        for a in ln.adjustments
                    ],
                    "rarcs": list(ln.rarcs),
                    "service_date": ln.service_date.isoformat() if ln.service_date else None,
                    "revenue_code": ln.revenue_code,
                    "qualifier": ln.qualifier,
                    "control_number": ln.control_number,
                }
                for ln in self.lines
            ],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ClaimDecision:
        return cls(
            patient_control_number=data["patient_control_number"],
            status=data["status"],
            payer_claim_control_number=data["payer_claim_control_number"],
            claim_rarcs=tuple(data["claim_rarcs"]),
            denial_reason=data.get("denial_reason"),
            forwarded_to=data.get("forwarded_to"),
            forwarded_id=data.get("forwarded_id"),
            lines=tuple(
                LineDecision(
                    number=ln["number"],
                    procedure=ln["procedure"],
                    modifiers=tuple(ln["modifiers"]),
                    charge=Decimal(ln["charge"]),
                    units=Decimal(ln["units"]),
                    allowed=Decimal(ln["allowed"]),
                    paid=Decimal(ln["paid"]),
                    adjustments=tuple(
                        Adjustment(g, r, Decimal(a), None if q is None else Decimal(q))
                        for g, r, a, q in ln["adjustments"]
                    ),
                    rarcs=tuple(ln["rarcs"]),
                    service_date=date.fromisoformat(ln["service_date"])
                    if ln["service_date"]
                    else None,
                    revenue_code=ln.get("revenue_code"),
                    qualifier=ln.get("qualifier", "HC"),
                    control_number=ln.get("control_number"),
                )
                for ln in data["lines"]
            ),
        )


@dataclass
class Accumulator:
    """What a member has used of the roster's deductible and out-of-pocket since the sandbox
    started. Mutated by `adjudicate` so the next claim sees the rest."""

    deductible_used: Decimal = ZERO
    oop_used: Decimal = ZERO


@dataclass(frozen=True)
class AdjudicationContext:
    member: Member | None
    rules: PayerRules
    fees: FeeSchedule
    received: date
    duplicate: bool = False
    accumulator: Accumulator = field(default_factory=Accumulator)


def _rarcs(rules: PayerRules, reason: str) -> tuple[str, ...]:
    configured = rules.rarc.get(reason)
    return tuple(configured) if configured is not None else DEFAULT_RARCS.get(reason, ())


def _deny_line(line: LineIn, reason: str, rules: PayerRules) -> LineDecision:
    return _decided(
        line,
        charge=money(line.charge),
        allowed=ZERO,
        paid=ZERO,
        adjustments=(Adjustment("CO", reason, money(line.charge)),),
        rarcs=_rarcs(rules, reason),
    )


def _decided(
    line: LineIn,
    *,
    charge: Decimal,
    allowed: Decimal,
    paid: Decimal,
    adjustments: Iterable[Adjustment],
    rarcs: tuple[str, ...] = (),
) -> LineDecision:
    """The payer's decision on `line`, which it echoes (procedure, units, dates, control
    number) around the amounts it decided."""
    return LineDecision(
        number=line.number,
        procedure=line.procedure,
        modifiers=line.modifiers,
        charge=charge,
        units=line.units,
        allowed=allowed,
        paid=paid,
        adjustments=tuple(adjustments),
        rarcs=rarcs,
        service_date=line.service_date,
        revenue_code=line.revenue_code,
        qualifier=line.qualifier,
        control_number=line.control_number,
    )


def _claim_denial_reason(claim: ClaimIn, ctx: AdjudicationContext) -> str | None:
    """Reasons that deny every line, most decisive first."""
    if ctx.duplicate:
        return "18"
    member = ctx.member
    if member is not None and member.payer_id != claim.payer_id:
        return "109"
    if (ctx.received - claim.service_date) > timedelta(days=ctx.rules.timely_filing_days):
        return "29"
    if member is not None and not member.active_on(claim.service_date):
        if member.active_from and claim.service_date < member.active_from:
            return "26"
        return "27"
    return None


def _line_denial_reason(line: LineIn, claim: ClaimIn, rules: PayerRules) -> str | None:
    procedure = line.procedure
    if procedure in rules.prior_auth_procedures and not claim.prior_auth:
        return "197"
    if procedure in rules.requires_referring_for and not claim.referring_npi:
        return "16"
    for required in rules.required_modifiers:
        if procedure in required.procedures and not set(line.modifiers) & set(required.any_of):
            return "4"
    for rule in rules.medical_necessity:
        if rule.procedure != procedure:
            continue
        codes = [
            claim.diagnoses[p - 1] for p in line.dx_pointers if 0 < p <= len(claim.diagnoses)
        ] or list(claim.diagnoses[:1])
        if not any(code.startswith(tuple(rule.dx_prefixes)) for code in codes):
            return "50"
    billed = {ln.procedure for ln in claim.lines if ln is not line}
    for bundle in rules.bundles:
        if (
            bundle.secondary == procedure
            and bundle.primary in billed
            and not set(line.modifiers) & set(bundle.unless_modifiers)
        ):
            return "97"
    return None


class _CostShare:
    """Patient responsibility taken from one line's allowed amount, capped by what is left of
    the allowed amount and of the member's out-of-pocket maximum."""

    def __init__(self, allowed: Decimal, member: Member | None, acc: Accumulator) -> None:
        self.remaining = allowed
        self.acc = acc
        self.adjustments: list[Adjustment] = []
        self.oop_left: Decimal | None = None
        if member is not None and member.oop_remaining is not None:
            self.oop_left = max(member.oop_remaining - acc.oop_used, ZERO)

    def take(self, amount: Decimal, reason: str) -> None:
        amount = min(amount, self.remaining)
        if self.oop_left is not None:
            amount = min(amount, self.oop_left)
            self.oop_left -= amount
        if amount <= 0:
            return
        self.adjustments.append(Adjustment("PR", reason, amount))
        self.remaining -= amount
        self.acc.oop_used += amount
        if reason == "1":
            self.acc.deductible_used += amount


def _allowed(line: LineIn, payer_id: str, ctx: AdjudicationContext) -> Decimal:
    """The payer's allowed amount for a line: its fee schedule times the units (or
    `default_allowed_percent` of the charge), never more than the charge."""
    charge = money(line.charge)
    per_unit = ctx.fees.allowed_per_unit(payer_id, line.procedure, line.modifiers)
    if per_unit is None:
        allowed = money(charge * ctx.rules.default_allowed_percent / HUNDRED)
    else:
        allowed = money(per_unit * line.units)
    return min(allowed, charge)


def _cost_share(
    share: _CostShare,
    line: LineIn,
    member: Member | None,
    rules: PayerRules,
    acc: Accumulator,
    copay_taken: bool,
) -> bool:
    """Take the member's cost sharing for one line from `share`: the copay on the claim's first
    visit line, else the deductible left then coinsurance. Returns whether the copay is taken."""
    if member is None:
        return copay_taken
    if (
        member.copay > 0
        and not copay_taken
        and line.procedure.startswith(tuple(rules.copay_procedure_prefixes))
    ):
        share.take(member.copay, "3")
        return True
    share.take(max(member.deductible_remaining - acc.deductible_used, ZERO), "1")
    if member.coinsurance_percent > 0:
        share.take(money(share.remaining * member.coinsurance_percent / HUNDRED), "2")
    return copay_taken


def adjudicate(claim: ClaimIn, ctx: AdjudicationContext, *, icn: str = "") -> ClaimDecision:
    """The payer's decision on one accepted claim. Lines always balance; the member's
    accumulator is charged with the patient responsibility. A claim billed to this payer after
    another (SBR01 S/T) goes to `adjudicate_after_prior`."""
    rules = ctx.rules
    claim_reason = _claim_denial_reason(claim, ctx)
    if claim.after_prior_payer:
        return adjudicate_after_prior(claim, ctx, icn=icn, claim_reason=claim_reason)
    if claim_reason is not None:
        lines = tuple(_deny_line(ln, claim_reason, rules) for ln in claim.lines)
        return ClaimDecision(
            claim.patient_control_number, "4", lines, icn, denial_reason=claim_reason
        )
    member = ctx.member
    acc = ctx.accumulator
    decisions: list[LineDecision] = []
    copay_taken = False
    for line in claim.lines:
        reason = _line_denial_reason(line, claim, rules)
        if reason is not None:
            decisions.append(_deny_line(line, reason, rules))
            continue
        charge = money(line.charge)
        allowed = _allowed(line, claim.payer_id, ctx)
        adjustments: list[Adjustment] = []
        if charge > allowed:
            adjustments.append(Adjustment("CO", "45", charge - allowed))
        share = _CostShare(allowed, member, acc)
        copay_taken = _cost_share(share, line, member, rules, acc, copay_taken)
        adjustments += share.adjustments
        remaining = share.remaining
        decisions.append(
            _decided(
                line,
                charge=charge,
                allowed=allowed,
                paid=remaining,
                adjustments=adjustments,
            )
        )
    lines = tuple(decisions)
    all_denied = all(ln.allowed == 0 and ln.paid == 0 for ln in lines) and any(
        a.group == "CO" and a.reason != "45" for ln in lines for a in ln.adjustments
    )
    forwarded = None
    status = "4" if all_denied else "1"
    if status == "1" and member is not None and member.secondary_payer_id:
        status = "19"
        forwarded = member.secondary_payer_name or member.secondary_payer_id
    return ClaimDecision(
        claim.patient_control_number,
        status,
        lines,
        icn,
        claim_rarcs=("MA18",) if forwarded else (),
        forwarded_to=forwarded,
        forwarded_id=member.secondary_payer_id if forwarded and member else None,
    )


# ---------------------------------------------------------------------------------------------
# Coordination of benefits: a claim billed after another payer (SBR01 S/T)
# ---------------------------------------------------------------------------------------------

PRIOR_PAYER_REASON = "23"  # CARC 23: the impact of prior payer(s) adjudication


@dataclass(frozen=True)
class PriorShare:
    """One line as the prior payers left it: what the last of them left to the patient
    (`owed`, what this payer is asked to consider) and what all of them paid."""

    owed: Decimal
    prior_paid: Decimal


def _allocate(amount: Decimal, weights: list[Decimal], rooms: list[Decimal]) -> list[Decimal]:
    """`amount` spread over lines in proportion to `weights` (their charges), no line above
    its room, cents rounded half-up and the rest given in line order; what no room takes is
    dropped."""
    out = [ZERO] * len(weights)
    left = min(money(amount), sum(rooms, ZERO))
    if left <= 0:
        return out
    total = sum((w for w, r in zip(weights, rooms, strict=True) if r > 0), ZERO)
    start = left
    for i, (weight, room) in enumerate(zip(weights, rooms, strict=True)):
        if room <= 0 or total <= 0:
            continue
        share = min(money(start * weight / total), room, left)
        out[i] = share
        left -= share
    for i, room in enumerate(rooms):
        if left <= 0:
            break
        more = min(room - out[i], left)
        if more > 0:
            out[i] += more
            left -= more
    return out


def prior_shares(claim: ClaimIn) -> list[PriorShare]:
    """Per line, from the 837's 2320/2430 loops: what the last prior payer (the highest SBR01
    of the 2320s) left to the patient, and what all prior payers paid.

    A line's patient share is its 2430 AMT*EAF (remaining patient liability) when sent, else
    the PR adjustments of its 2430 from that payer; PR adjustments sent at claim level (2320
    CAS; or AMT*EAF when the payer sent no 2430 at all) are spread over the lines by charge.
    A payer's AMT*D not accounted for by its 2430s is spread the same way. 2430s name their
    payer (SVD01); with one prior payer every 2430 is its."""
    payers = sorted(claim.other_payers, key=lambda p: responsibility_rank(p.responsibility))
    charges = [money(ln.charge) for ln in claim.lines]
    if not payers:
        return [PriorShare(ZERO, ZERO) for _ in claim.lines]
    last = payers[-1]

    def of(payer: PriorPayer, line: LineIn) -> list[PriorLine]:
        return [a for a in line.prior if len(payers) == 1 or a.payer_id == payer.payer_id]

    paid = [ZERO] * len(charges)
    for payer in payers:
        by_line = [sum((a.paid for a in of(payer, ln)), ZERO) for ln in claim.lines]
        rest = payer.paid - sum(by_line, ZERO)
        spread = _allocate(rest, charges, [money(payer.paid)] * len(charges))
        paid = [p + a + b for p, a, b in zip(paid, by_line, spread, strict=True)]
    owed: list[Decimal] = []
    has_lines = False
    for line, charge in zip(claim.lines, charges, strict=True):
        mine = of(last, line)
        has_lines = has_lines or bool(mine)
        eaf = [a.remaining_patient_liability for a in mine]
        if mine and all(x is not None for x in eaf):
            amount = sum((x for x in eaf if x is not None), ZERO)
        else:
            amount = sum((x.amount for a in mine for x in a.adjustments if x.group == "PR"), ZERO)
        owed.append(min(max(money(amount), ZERO), charge))
    claim_level = sum((a.amount for a in last.adjustments if a.group == "PR"), ZERO)
    if not has_lines and last.remaining_patient_liability is not None:
        claim_level = last.remaining_patient_liability
    rooms = [c - o for c, o in zip(charges, owed, strict=True)]
    spread = _allocate(claim_level, charges, rooms)
    return [PriorShare(o + s, money(p)) for o, s, p in zip(owed, spread, paid, strict=True)]


def adjudicate_after_prior(
    claim: ClaimIn, ctx: AdjudicationContext, *, icn: str = "", claim_reason: str | None = None
) -> ClaimDecision:
    """Coordination of benefits: the decision of a payer billed after another (SBR01 S, T...).

    The payer reads what the prior payers did from the 837 (`prior_shares`: the 2320 AMT*D
    and CAS, the 2430 SVD, CAS and DTP*573) and answers, per line (CLP03/SVC02 are the charges
    the 837 billed, so every line and claim balances against them):

    - `OA-23` (impact of prior payer adjudication) = charge - the patient share the last prior
      payer left: the prior payments and the prior payers' own adjustments (their contractual
      write-offs, denials). This payer owes nothing on that part, and the platform's posting
      sets OA-23 aside on a claim processed after a prior payer (CLP02 2/3);
    - its own allowed amount (fee schedule, as for a primary) and the member's cost sharing
      under its plan (deductible, coinsurance, copay) give its normal benefit, what it would
      pay as primary. With `cob_method: standard` (traditional COB, the default) it pays the
      lesser of that benefit and the patient share left; with `carve_out` (non-duplication)
      the lesser of (benefit - what the prior payers paid for the line, at least 0) and that
      share;
    - what it does not pay stays the patient's (PR, with its own cost-sharing reasons) up to
      what the patient would owe under its plan (its own deductible, coinsurance and copay);
      the rest is written off as CO-45 (the provider takes the lower allowed amount: the
      patient never owes more than the secondary's own cost sharing);
    - line and claim denials apply as for a primary claim, to the patient share only (CO-n of
      that share, with the same RARCs), and nothing is paid. CLP02 stays 2 (3 for tertiary and
      later) even when every line is denied, so OA-23 is always on a claim the posting reads
      as processed after a prior payer;
    - an 837 billed as secondary without any 2320 loop cannot be coordinated: every line is
      denied CO-22 (this care may be covered by another payer) with MA04, CLP02=4.

    The member's accumulator is charged with the PR this payer reports, as for a primary."""
    rules = ctx.rules
    status = "2" if responsibility_rank(claim.payer_responsibility) == 1 else "3"
    if not claim.other_payers:
        lines = tuple(_deny_line(ln, "22", rules) for ln in claim.lines)
        return ClaimDecision(claim.patient_control_number, "4", lines, icn, denial_reason="22")
    member = ctx.member
    acc = ctx.accumulator
    copay_taken = False
    decisions: list[LineDecision] = []
    for line, prior in zip(claim.lines, prior_shares(claim), strict=True):
        charge = money(line.charge)
        owed = prior.owed
        adjustments: list[Adjustment] = []
        if charge > owed:
            adjustments.append(Adjustment("OA", PRIOR_PAYER_REASON, charge - owed))
        reason = claim_reason or _line_denial_reason(line, claim, rules)
        if reason is not None:
            if owed > 0:
                adjustments.append(Adjustment("CO", reason, owed))
            decisions.append(
                _decided(
                    line,
                    charge=charge,
                    allowed=ZERO,
                    paid=ZERO,
                    adjustments=adjustments,
                    rarcs=_rarcs(rules, reason) if owed > 0 else (),
                )
            )
            continue
        allowed = _allowed(line, claim.payer_id, ctx)
        # What the member would owe under this plan, on a copy of the accumulator: only the
        # PR reported below is charged to it.
        scratch = Accumulator(acc.deductible_used, acc.oop_used)
        share = _CostShare(allowed, member, scratch)
        copay_taken = _cost_share(share, line, member, rules, scratch, copay_taken)
        benefit = share.remaining
        if rules.cob_method == "carve_out":
            benefit = max(benefit - prior.prior_paid, ZERO)
        paid = min(benefit, owed)
        left = owed - paid
        for own in share.adjustments:
            amount = min(own.amount, left)
            if amount <= 0:
                break
            adjustments.append(Adjustment("PR", own.reason, amount))
            left -= amount
            acc.oop_used += amount
            if own.reason == "1":
                acc.deductible_used += amount
        if left > 0:
            adjustments.append(Adjustment("CO", "45", left))
        decisions.append(
            _decided(
                line,
                charge=charge,
                allowed=allowed,
                paid=paid,
                adjustments=adjustments,
            )
        )
    return ClaimDecision(
        claim.patient_control_number, status, tuple(decisions), icn, denial_reason=claim_reason
    )


def corrected(decision: ClaimDecision, rules: PayerRules) -> ClaimDecision:
    """The payment that follows a reversal: the payer re-priced the claim (a retroactive fee
    schedule change), so the allowed amount moves by `corrected_allowed_percent`, patient
    responsibility stays, and the difference lands on the payment."""
    if decision.status in ("2", "3"):
        # Paid after a prior payer: what it owes is bounded by the patient share the prior
        # payer left, which a re-pricing does not move; the corrected payment repeats it.
        return decision
    factor = rules.corrected_allowed_percent / HUNDRED
    lines: list[LineDecision] = []
    for ln in decision.lines:
        if ln.allowed <= 0:
            lines.append(ln)
            continue
        pr = [a for a in ln.adjustments if a.group == "PR"]
        pr_total = sum((a.amount for a in pr), ZERO)
        allowed = min(money(ln.allowed * factor), ln.charge)
        allowed = max(allowed, pr_total)
        adjustments = (
            [Adjustment("CO", "45", ln.charge - allowed)] if ln.charge > allowed else []
        ) + pr
        lines.append(
            replace(ln, allowed=allowed, paid=allowed - pr_total, adjustments=tuple(adjustments))
        )
    return replace(
        decision, status="1" if decision.status == "22" else decision.status, lines=tuple(lines)
    )


# ---------------------------------------------------------------------------------------------
# Eligibility (271)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EligibilityAnswer:
    """What the 271 says about one subscriber. `reject_reason` is AAA03 (72 invalid member ID,
    73 invalid name, 75 not found) when the payer cannot answer."""

    member: Member | None
    reject_reason: str | None
    active: bool = False
    deductible_remaining: Decimal = ZERO
    oop_remaining: Decimal | None = None


def eligibility(
    member_id: str,
    last_name: str,
    payer_id: str | None,
    on: date,
    roster: Roster,
    accumulator: Accumulator | None = None,
) -> EligibilityAnswer:
    member_id = member_id.strip()
    if not member_id or not member_id.isalnum() or len(member_id) < 2:
        return EligibilityAnswer(None, "72")
    member = roster.get(member_id)
    if member is None or (payer_id and member.payer_id != payer_id):
        return EligibilityAnswer(None, "75")
    if last_name and member.last_name != last_name.strip().upper():
        return EligibilityAnswer(None, "73")
    acc = accumulator or Accumulator()
    return EligibilityAnswer(
        member,
        None,
        active=member.active_on(on),
        deductible_remaining=max(member.deductible_remaining - acc.deductible_used, ZERO),
        oop_remaining=None
        if member.oop_remaining is None
        else max(member.oop_remaining - acc.oop_used, ZERO),
    )
