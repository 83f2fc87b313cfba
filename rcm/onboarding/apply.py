"""Write a validated onboarding file: Practice, Providers, PayerEnrollments and the Payers they use.

Validation runs first and nothing is written when it finds a problem. Rows are matched on their
natural keys (practice slug; provider NPI; payer × provider) and only columns whose value
differs are set, so onboarding the same file twice changes nothing and `updated_at` stays put.
Providers and enrollments that are in the database but no longer in the file are left alone:
claims and remittances still point at them; terminate an enrollment by saying so in the file.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlmodel import Session, select

from rcm.errors import ConfigError
from rcm.identifiers import normalize_phone, normalize_tin, normalize_zip
from rcm.logging import logger
from rcm.onboarding.schema import OnboardingDocument
from rcm.onboarding.validate import ORGANIZATION, validate_onboarding
from rcm.payers import PayerConfig, load_payers, sync_payers

# Practice.policies also carries the practice's clearinghouse credential reference (the table has
# no column for it); it is a reference such as env:NAME, never the secret.
SECRET_REF_POLICY_KEY = "clearinghouse_secret_ref"


@dataclass(frozen=True)
class OnboardingResult:
    slug: str
    practice_id: uuid.UUID
    created: int
    updated: int
    unchanged: int
    # Per kind ("practice", "providers", "enrollments", "payers"): created/updated/unchanged.
    details: Mapping[str, Mapping[str, int]] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated)


class _Tally:
    def __init__(self) -> None:
        self.by_kind: dict[str, dict[str, int]] = {}

    def count(self, kind: str, outcome: str, n: int = 1) -> None:
        counts = self.by_kind.setdefault(kind, {"created": 0, "updated": 0, "unchanged": 0})
        counts[outcome] += n

    def total(self, outcome: str) -> int:
        return sum(counts[outcome] for counts in self.by_kind.values())


def clearinghouse_names_in_config(config_dir: Path | str | None = None) -> set[str]:
    """Profile names in <config_dir>/clearinghouses (file stems), without parsing the profiles.

    The domain may not import connectors; callers that can should pass
    `connectors.clearinghouse.list_profiles()` names instead, which also checks each profile.
    """
    if config_dir is None:
        from rcm.settings import get_settings

        config_dir = get_settings().config_dir
    folder = Path(config_dir) / "clearinghouses"
    if not folder.is_dir():
        return set()
    return {p.stem for p in folder.iterdir() if p.suffix in (".yaml", ".yml")}


def _set_changed(row: Any, values: Mapping[str, Any]) -> bool:
    changed = False
    for name, value in values.items():
        if getattr(row, name) != value:
            setattr(row, name, value)
            changed = True
    return changed


def practice_values(doc: OnboardingDocument) -> dict[str, Any]:
    """The Practice columns the document sets (normalized as stored)."""
    from rcm.models import ClaimType

    spec = doc.practice
    policies: dict[str, Any] = doc.policies.model_dump(mode="json")
    policies["statement_min_balance"] = str(doc.policies.statement_min_balance)
    if doc.clearinghouse.secret_ref is not None:
        policies[SECRET_REF_POLICY_KEY] = doc.clearinghouse.secret_ref
    pay_to = spec.pay_to_address
    return {
        "name": spec.name,
        "billing_npi": spec.billing_npi,
        "tin": normalize_tin(spec.tin),
        "taxonomy_code": spec.taxonomy_code,
        "address1": spec.address.address1,
        "address2": spec.address.address2,
        "city": spec.address.city,
        "state": spec.address.state,
        "zip": normalize_zip(spec.address.zip),
        "phone": normalize_phone(spec.phone) if spec.phone else None,
        "timezone": spec.timezone,
        "clearinghouse": doc.clearinghouse.profile,
        "clearinghouse_account": doc.clearinghouse.account,
        "default_claim_type": ClaimType(spec.default_claim_type),
        "pay_to_address1": pay_to.address1 if pay_to else None,
        "pay_to_city": pay_to.city if pay_to else None,
        "pay_to_state": pay_to.state if pay_to else None,
        "pay_to_zip": normalize_zip(pay_to.zip) if pay_to else None,
        "policies": policies,
        "active": True,
    }


def apply_onboarding(
    session: Session,
    doc: OnboardingDocument,
    *,
    source_name: str = "onboarding file",
    payers: Sequence[PayerConfig] | None = None,
    known_clearinghouses: Collection[str] | None = None,
    secret_resolves: Callable[[str], bool] | None = None,
) -> OnboardingResult:
    """Validate `doc`, then create or update its rows in `session`'s transaction.

    Raises ConfigError listing every problem (nothing written) when validation fails. `payers`
    defaults to config/payers.yaml; `known_clearinghouses` to the profile file names in
    config/clearinghouses; `secret_resolves` None skips the secret check (the CLI passes
    connectors.secrets.secret_resolves). The caller commits (connectors.db.session_scope does);
    rows are flushed so a failure inside rolls back with the caller's transaction.
    """
    from rcm.models import (
        CredentialingStatus,
        Payer,
        PayerEnrollment,
        Practice,
        Provider,
        ProviderRole,
    )
    from rcm.models.types import utcnow

    payer_configs = list(payers) if payers is not None else load_payers()
    clearinghouses = (
        set(known_clearinghouses)
        if known_clearinghouses is not None
        else clearinghouse_names_in_config()
    )
    problems = validate_onboarding(
        doc,
        source_name=source_name,
        known_payers={p.key for p in payer_configs},
        known_clearinghouses=clearinghouses,
        secret_resolves=secret_resolves,
    )
    if problems:
        raise ConfigError(
            f"{source_name}: onboarding rejected, {len(problems)} problem(s); nothing was written",
            [str(p) for p in problems],
        )

    tally = _Tally()
    used_payers = {e.payer for e in doc.enrollments}
    synced = sync_payers(session, payer_configs, keys=used_payers)
    tally.count("payers", "created", synced.created)
    tally.count("payers", "updated", synced.updated)
    tally.count("payers", "unchanged", synced.unchanged)

    slug = doc.practice.slug
    values = practice_values(doc)
    practice = session.exec(select(Practice).where(Practice.slug == slug)).first()
    if practice is None:
        practice = Practice(slug=slug, **values)
        session.add(practice)
        tally.count("practice", "created")
    elif _set_changed(practice, values):
        practice.updated_at = utcnow()
        session.add(practice)
        tally.count("practice", "updated")
    else:
        tally.count("practice", "unchanged")
    session.flush()

    existing_providers = {
        p.npi: p
        for p in session.exec(select(Provider).where(Provider.practice_id == practice.id)).all()
    }
    provider_ids: dict[str, uuid.UUID] = {}
    for spec in doc.providers:
        if spec.entity == ORGANIZATION:
            provider_values: dict[str, Any] = {
                "first_name": None,
                "last_name": spec.organization_name,
            }
        else:
            provider_values = {"first_name": spec.first_name, "last_name": spec.last_name}
        provider_values["taxonomy_code"] = spec.taxonomy_code
        provider_values["role"] = ProviderRole(spec.role)
        provider = existing_providers.get(spec.npi)
        if provider is None:
            provider = Provider(practice_id=practice.id, npi=spec.npi, **provider_values)
            session.add(provider)
            tally.count("providers", "created")
        elif _set_changed(provider, provider_values):
            session.add(provider)
            tally.count("providers", "updated")
        else:
            tally.count("providers", "unchanged")
        provider_ids[spec.npi] = provider.id
    session.flush()

    payer_ids = {
        p.key: p.id
        for p in session.exec(select(Payer).where(Payer.key.in_(used_payers))).all()  # type: ignore[attr-defined]
    }
    existing_enrollments = {
        (e.payer_id, e.provider_id): e
        for e in session.exec(
            select(PayerEnrollment).where(PayerEnrollment.practice_id == practice.id)
        ).all()
    }
    for spec_e in doc.enrollments:
        payer_id = payer_ids[spec_e.payer]
        npi = spec_e.provider_npi
        provider_id = None if npi in (None, doc.practice.billing_npi) else provider_ids[npi]
        enrollment_values: dict[str, Any] = {
            "credentialing_status": CredentialingStatus(spec_e.credentialing_status),
            "effective_date": spec_e.effective_date,
            "termination_date": spec_e.termination_date,
            "era_enrolled": spec_e.era_enrolled,
            "eft_enrolled": spec_e.eft_enrolled,
        }
        enrollment = existing_enrollments.get((payer_id, provider_id))
        if enrollment is None:
            session.add(
                PayerEnrollment(
                    practice_id=practice.id,
                    payer_id=payer_id,
                    provider_id=provider_id,
                    **enrollment_values,
                )
            )
            tally.count("enrollments", "created")
        elif _set_changed(enrollment, enrollment_values):
            session.add(enrollment)
            tally.count("enrollments", "updated")
        else:
            tally.count("enrollments", "unchanged")
    session.flush()

    logger.bind(practice=slug).info(
        "onboarded: {} created, {} updated, {} unchanged",
        tally.total("created"),
        tally.total("updated"),
        tally.total("unchanged"),
    )
    return OnboardingResult(
        slug=slug,
        practice_id=practice.id,
        created=tally.total("created"),
        updated=tally.total("updated"),
        unchanged=tally.total("unchanged"),
        details=tally.by_kind,
    )
