"""Every check an onboarding file must pass before anything is written.

`validate_onboarding` never stops at the first problem: an implementation analyst fixes a file in
one pass. Each problem names the file and the field path (`acme.yaml: providers[2].npi: check
digit invalid`); onboarding files hold no PHI, so payer keys and profile names may be quoted.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection
from dataclasses import dataclass
from decimal import Decimal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from rcm.identifiers import (
    npi_problem,
    phone_problem,
    state_problem,
    taxonomy_problem,
    tin_problem,
    zip_problem,
)
from rcm.onboarding.schema import AddressSpec, OnboardingDocument

INDIVIDUAL = "individual"
ORGANIZATION = "organization"
ENTITIES = (INDIVIDUAL, ORGANIZATION)

# Which NPI type each role requires: clinicians are individuals (type 1), a facility is an
# organization (type 2). The billing provider on a group's claims is the organization.
ROLE_ENTITY = {
    "rendering": INDIVIDUAL,
    "referring": INDIVIDUAL,
    "attending": INDIVIDUAL,
    "facility": ORGANIZATION,
}
CREDENTIALING_STATUSES = ("pending", "approved", "denied", "terminated")
CLAIM_TYPES = ("professional", "institutional")
TIN_TYPES = ("ein", "ssn")

_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")
_CATEGORY = re.compile(r"^[a-z][a-z0-9_]*$")
_PO_BOX = re.compile(r"\b(P\.?\s*O\.?\s*Box|Post\s+Office\s+Box|Lock\s*box)\b", re.IGNORECASE)
_ACCOUNT = re.compile(r"^[A-Za-z0-9._-]{1,80}$")


@dataclass(frozen=True)
class OnboardingProblem:
    source_name: str
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.source_name}: {self.field}: {self.message}"


class _Problems:
    def __init__(self, source_name: str) -> None:
        self.source_name = source_name
        self.items: list[OnboardingProblem] = []

    def add(self, field: str, message: str | None) -> None:
        if message:
            self.items.append(OnboardingProblem(self.source_name, field, message))


def _check_address(problems: _Problems, path: str, address: AddressSpec) -> None:
    for name in ("address1", "city"):
        if not getattr(address, name):
            problems.add(f"{path}.{name}", "required")
    problems.add(f"{path}.state", state_problem(address.state))
    problems.add(f"{path}.zip", zip_problem(address.zip))


def validate_onboarding(
    doc: OnboardingDocument,
    *,
    source_name: str,
    known_payers: Collection[str],
    known_clearinghouses: Collection[str],
    secret_resolves: Callable[[str], bool] | None,
) -> list[OnboardingProblem]:
    """Every problem in `doc`, in file order; an empty list means it can be applied.

    `known_payers` are payer keys from config/payers.yaml, `known_clearinghouses` the profile
    names in config/clearinghouses, `secret_resolves` tells whether a secret reference resolves
    (connectors.secrets.secret_resolves); None skips the secret check (a caller without access to
    secrets, e.g. a pure dry run).
    """
    problems = _Problems(source_name)
    practice = doc.practice

    # practice ---------------------------------------------------------------------------
    if not _SLUG.match(practice.slug):
        problems.add("practice.slug", "a slug is 2-63 lower-case letters, digits and hyphens")
    if not practice.name:
        problems.add("practice.name", "required")
    problems.add("practice.billing_npi", npi_problem(practice.billing_npi))
    if practice.tin_type not in TIN_TYPES:
        problems.add("practice.tin_type", f"must be one of {', '.join(TIN_TYPES)}")
        problems.add("practice.tin", tin_problem(practice.tin))
    else:
        problems.add("practice.tin", tin_problem(practice.tin, kind=practice.tin_type))
    problems.add("practice.taxonomy_code", taxonomy_problem(practice.taxonomy_code))
    _check_address(problems, "practice.address", practice.address)
    if _PO_BOX.search(practice.address.address1):
        # 837 loop 2010AA must be a street address; a lockbox goes in the pay-to loop.
        problems.add(
            "practice.address.address1",
            "the billing address must be a street address (put a PO box in pay_to_address)",
        )
    if practice.pay_to_address is not None:
        _check_address(problems, "practice.pay_to_address", practice.pay_to_address)
    if practice.phone is not None:
        problems.add("practice.phone", phone_problem(practice.phone))
    try:
        ZoneInfo(practice.timezone)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        problems.add("practice.timezone", "not an IANA time zone name (e.g. America/Chicago)")
    if practice.default_claim_type not in CLAIM_TYPES:
        problems.add("practice.default_claim_type", f"must be one of {', '.join(CLAIM_TYPES)}")

    # clearinghouse -----------------------------------------------------------------------
    clearinghouse = doc.clearinghouse
    if clearinghouse.profile not in known_clearinghouses:
        known = ", ".join(sorted(known_clearinghouses)) or "none"
        problems.add(
            "clearinghouse.profile",
            f"no clearinghouse profile {clearinghouse.profile!r} in config/clearinghouses "
            f"(known: {known})",
        )
    if not _ACCOUNT.match(clearinghouse.account):
        problems.add("clearinghouse.account", "a submitter ID is 1-80 letters, digits, . _ -")
    if clearinghouse.secret_ref is not None:
        _check_secret_ref(
            problems,
            "clearinghouse.secret_ref",
            clearinghouse.secret_ref,
            clearinghouse.profile,
            secret_resolves,
        )

    # providers -----------------------------------------------------------------------------
    if practice.billing_entity not in ENTITIES:
        problems.add("practice.billing_entity", f"must be one of {', '.join(ENTITIES)}")
    # The billing NPI has the declared entity; the same number cannot also be the other kind.
    billing_entity = practice.billing_entity if practice.billing_entity in ENTITIES else None
    entity_by_npi: dict[str, str] = {practice.billing_npi: billing_entity} if billing_entity else {}
    first_index: dict[str, int] = {}
    has_clinician = False
    for index, provider in enumerate(doc.providers):
        path = f"providers[{index}]"
        npi_bad = npi_problem(provider.npi)
        problems.add(f"{path}.npi", npi_bad)
        if provider.entity not in ENTITIES:
            problems.add(f"{path}.entity", f"must be one of {', '.join(ENTITIES)}")
        required_entity = ROLE_ENTITY.get(provider.role)
        if required_entity is None:
            problems.add(f"{path}.role", f"must be one of {', '.join(ROLE_ENTITY)}")
        elif provider.entity in ENTITIES and provider.entity != required_entity:
            npi_type = 1 if required_entity == INDIVIDUAL else 2
            problems.add(
                f"{path}.entity",
                f"a {provider.role} provider needs a type-{npi_type} NPI ({required_entity})",
            )
        if provider.role in ("rendering", "attending"):
            has_clinician = True
        if provider.entity == INDIVIDUAL:
            if not provider.first_name:
                problems.add(f"{path}.first_name", "required for an individual")
            if not provider.last_name:
                problems.add(f"{path}.last_name", "required for an individual")
            if provider.organization_name:
                problems.add(f"{path}.organization_name", "only for an organization")
        elif provider.entity == ORGANIZATION:
            if not provider.organization_name:
                problems.add(f"{path}.organization_name", "required for an organization")
            if provider.first_name or provider.last_name:
                problems.add(f"{path}", "an organization has organization_name, not names")
        if provider.taxonomy_code is not None:
            problems.add(f"{path}.taxonomy_code", taxonomy_problem(provider.taxonomy_code))
        elif provider.role in ("rendering", "attending", "facility"):
            problems.add(f"{path}.taxonomy_code", f"required for a {provider.role} provider")
        if npi_bad:
            continue
        if provider.npi in first_index:
            problems.add(f"{path}.npi", f"duplicate of providers[{first_index[provider.npi]}]")
            continue
        first_index[provider.npi] = index
        declared = entity_by_npi.get(provider.npi)
        if declared and provider.entity in ENTITIES and declared != provider.entity:
            npi_type = 2 if declared == ORGANIZATION else 1
            problems.add(
                f"{path}.entity",
                f"this NPI is the practice's billing NPI ({declared}, type {npi_type}); "
                f"it cannot be a{'n' if provider.entity[0] in 'aeiou' else ''} {provider.entity}",
            )
    if not has_clinician:
        problems.add("providers", "at least one rendering or attending provider is required")

    # enrollments -------------------------------------------------------------------------
    seen: dict[tuple[str, str | None], int] = {}
    for index, enrollment in enumerate(doc.enrollments):
        path = f"enrollments[{index}]"
        if enrollment.payer not in known_payers:
            problems.add(f"{path}.payer", f"no payer {enrollment.payer!r} in config/payers.yaml")
        npi = enrollment.provider_npi
        if npi is not None and npi != practice.billing_npi and npi not in first_index:
            problems.add(
                f"{path}.provider_npi",
                "not a provider in this file (omit it for the group enrollment)",
            )
        group_npi = None if npi in (None, practice.billing_npi) else npi
        key = (enrollment.payer, group_npi)
        if key in seen:
            problems.add(
                f"{path}", f"duplicate of enrollments[{seen[key]}] (same payer and provider)"
            )
        seen.setdefault(key, index)
        status = enrollment.credentialing_status
        if status not in CREDENTIALING_STATUSES:
            problems.add(
                f"{path}.credentialing_status",
                f"must be one of {', '.join(CREDENTIALING_STATUSES)}",
            )
        if status == "approved" and enrollment.effective_date is None:
            problems.add(f"{path}.effective_date", "required when credentialing is approved")
        if status == "terminated" and enrollment.termination_date is None:
            problems.add(f"{path}.termination_date", "required when credentialing is terminated")
        if (
            enrollment.effective_date is not None
            and enrollment.termination_date is not None
            and enrollment.termination_date < enrollment.effective_date
        ):
            problems.add(f"{path}.termination_date", "before the effective date")
        if enrollment.eft_enrolled and not enrollment.era_enrolled:
            # Payers match EFT deposits to 835s through the ERA enrollment (CAQH EFT/ERA rule).
            problems.add(f"{path}.era_enrolled", "EFT enrollment requires ERA enrollment")

    # policies ----------------------------------------------------------------------------
    policies = doc.policies
    for index, category in enumerate(policies.auto_appeal_categories):
        if not _CATEGORY.match(category):
            problems.add(
                f"policies.auto_appeal_categories[{index}]",
                "a denial category is lower_snake_case",
            )
    if not 0 <= policies.eligibility_days_ahead <= 30:
        problems.add("policies.eligibility_days_ahead", "must be between 0 and 30")
    balance = policies.statement_min_balance
    if balance < 0 or balance != balance.quantize(Decimal("0.01")):
        problems.add("policies.statement_min_balance", "a non-negative amount in whole cents")

    return problems.items


def _check_secret_ref(
    problems: _Problems,
    path: str,
    ref: str,
    profile: str,
    secret_resolves: Callable[[str], bool] | None,
) -> None:
    if ":" not in ref:
        problems.add(
            path,
            "must be a reference (env:NAME, prefect-secret:BLOCK, file:PATH), "
            "never the secret itself",
        )
        return
    if ref.startswith("env:") and ":-" in ref and not profile.startswith("sandbox"):
        problems.add(path, "a default value (env:NAME:-default) is allowed only for the sandbox")
        return
    if secret_resolves is not None and not secret_resolves(ref):
        problems.add(path, f"secret reference {ref.split(':-')[0]!r} does not resolve")
