"""Tasks about the client practice itself: look it up, list the active ones, onboard one."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE
from sqlmodel import col, select

from tasks._runtime import DATABASE_TASK_OPTIONS, transaction


@dataclass(frozen=True)
class PracticeRef:
    """What a flow needs to know about a practice: IDs, routing and policy, no PHI."""

    id: uuid.UUID
    slug: str
    clearinghouse: str
    clearinghouse_account: str
    timezone: str
    name: str = ""
    billing_npi: str = ""
    policies: dict[str, Any] = field(default_factory=dict)

    @property
    def eligibility_days_ahead(self) -> int:
        return int(self.policies.get("eligibility_days_ahead", 2))


@task(name="load-practice", cache_policy=NO_CACHE, **DATABASE_TASK_OPTIONS)
def load_practice(slug: str) -> PracticeRef:
    """The onboarded practice `slug` (ConfigError when it is unknown)."""
    from rcm.imports.common import get_practice

    with transaction() as session:
        practice = get_practice(session, slug)
        return PracticeRef(
            id=practice.id,
            slug=practice.slug,
            clearinghouse=practice.clearinghouse,
            clearinghouse_account=practice.clearinghouse_account,
            timezone=practice.timezone,
            name=practice.name,
            billing_npi=practice.billing_npi,
            policies=dict(practice.policies or {}),
        )


@task(name="load-practices", cache_policy=NO_CACHE, **DATABASE_TASK_OPTIONS)
def load_practices(slugs: list[str]) -> list[PracticeRef]:
    """`load_practice` for several practices, in the order given."""
    return [load_practice.fn(slug) for slug in slugs]


@task(name="list-active-practices", cache_policy=NO_CACHE, **DATABASE_TASK_OPTIONS)
def list_active_practices() -> list[str]:
    """Slugs of every active practice, in order."""
    from rcm.models import Practice

    with transaction() as session:
        return list(
            session.exec(
                select(Practice.slug).where(col(Practice.active)).order_by(Practice.slug)
            ).all()
        )


@dataclass(frozen=True)
class OnboardingOutcome:
    slug: str
    clearinghouse: str
    is_sandbox: bool
    timezone: str
    summary: dict[str, Any]


@task(name="onboard-practice-file", cache_policy=NO_CACHE, **DATABASE_TASK_OPTIONS)
def apply_onboarding_file(path: str) -> OnboardingOutcome:
    """Validate the onboarding file and create or update the practice, all or nothing."""
    from connectors.clearinghouse import list_profiles
    from connectors.secrets import secret_resolves
    from rcm.onboarding.apply import apply_onboarding
    from rcm.onboarding.schema import load_onboarding_file

    doc = load_onboarding_file(Path(path))
    profiles = list_profiles()
    with transaction() as session:
        result = apply_onboarding(
            session,
            doc,
            source_name=Path(path).name,
            known_clearinghouses=set(profiles),
            secret_resolves=secret_resolves,
        )
    profile = profiles.get(doc.clearinghouse.profile)
    summary = _summary(result)
    return OnboardingOutcome(
        slug=doc.practice.slug,
        clearinghouse=doc.clearinghouse.profile,
        is_sandbox=bool(profile and profile.is_sandbox),
        timezone=doc.practice.timezone,
        summary=summary,
    )


def _summary(result: Any) -> dict[str, Any]:
    for name in ("summary", "to_dict"):
        method = getattr(result, name, None)
        if callable(method):
            value = method()
            if isinstance(value, dict):
                return value
    if hasattr(result, "__dataclass_fields__"):
        return {
            k: v
            for k, v in vars(result).items()
            if isinstance(v, (int, str, bool)) and not k.startswith("_")
        }
    return {}


__all__ = [
    "OnboardingOutcome",
    "PracticeRef",
    "apply_onboarding_file",
    "list_active_practices",
    "load_practice",
    "load_practices",
]
