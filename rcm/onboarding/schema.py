"""The onboarding file (config/practices/<slug>.yaml), as pydantic models.

The models check structure only: which sections and fields exist and that dates, booleans and
numbers parse. Identifier shapes, check digits, cross-references to config and secrets are
checked by `validate_onboarding`, which reports every problem at once. Fields whose values are
checked there are plain strings here so one bad value does not hide the others.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from rcm.errors import ConfigError
from rcm.payers import format_pydantic_errors, load_yaml_text, yaml_error_location


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class AddressSpec(_Spec):
    address1: str
    address2: str | None = None
    city: str
    state: str
    zip: str


class PracticeSpec(_Spec):
    slug: str
    name: str
    billing_npi: str
    # A group bills as an organization (type-2 NPI); a sole proprietor may bill under the
    # clinician's own type-1 NPI and declares "individual".
    billing_entity: str = "organization"
    tin: str
    tin_type: str = "ein"  # "ssn" for a solo practitioner billing under a social security number
    taxonomy_code: str
    address: AddressSpec
    pay_to_address: AddressSpec | None = None
    phone: str | None = None
    timezone: str
    default_claim_type: str = "professional"


class ClearinghouseSpec(_Spec):
    profile: str
    account: str
    # The practice's own credential at the clearinghouse, when it has one; otherwise the
    # profile's shared account credential is used.
    secret_ref: str | None = None


class ProviderSpec(_Spec):
    npi: str
    entity: str  # individual (NPI type 1) | organization (NPI type 2)
    role: str  # rendering | referring | attending | facility
    first_name: str | None = None
    last_name: str | None = None
    organization_name: str | None = None
    taxonomy_code: str | None = None


class EnrollmentSpec(_Spec):
    payer: str
    provider_npi: str | None = None  # None: the group (billing NPI) enrollment
    credentialing_status: str = "pending"
    effective_date: date | None = None
    termination_date: date | None = None
    era_enrolled: bool = False
    eft_enrolled: bool = False


class PoliciesSpec(_Spec):
    auto_appeal_categories: list[str] = Field(default_factory=list)
    auto_correct: bool = False
    eligibility_days_ahead: int = 2
    statement_min_balance: Decimal = Decimal("5.00")


class OnboardingDocument(_Spec):
    """One practice's onboarding file."""

    practice: PracticeSpec
    clearinghouse: ClearinghouseSpec
    providers: list[ProviderSpec] = Field(default_factory=list)
    enrollments: list[EnrollmentSpec] = Field(default_factory=list)
    policies: PoliciesSpec = Field(default_factory=PoliciesSpec)


def parse_onboarding(text: str, *, source_name: str) -> OnboardingDocument:
    """Parse onboarding YAML. ConfigError lists every structural problem with its field path."""
    try:
        raw = load_yaml_text(text)
    except yaml.YAMLError as exc:
        where = yaml_error_location(exc)
        raise ConfigError(
            f"{source_name}: not valid YAML", [f"{source_name}: {where}: not valid YAML"]
        ) from None
    if not isinstance(raw, dict):
        raise ConfigError(
            f"{source_name}: not an onboarding file",
            [f"{source_name}: (document): expected a mapping with practice, clearinghouse, ..."],
        )
    try:
        return OnboardingDocument.model_validate(raw)
    except ValidationError as exc:
        problems = format_pydantic_errors(source_name, exc)
        raise ConfigError(
            f"{source_name}: onboarding file has {len(problems)} problem(s)", problems
        ) from None


def load_onboarding_file(path: Path | str) -> OnboardingDocument:
    """Read and parse an onboarding file. ConfigError names the file and every bad field."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{file.name}: cannot be read ({exc.strerror})") from None
    return parse_onboarding(text, source_name=file.name)
