"""Tasks about the client practice itself: look it up, list the active ones, onboard one."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.context import TaskRunContext
from sqlmodel import col, select

from rcm.logging import logger
from tasks._runtime import DATABASE_TASK_OPTIONS, is_transient_database_error, transaction

T = TypeVar("T")
I = TypeVar("I")  # noqa: E741


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


# Work for several practices in one task run: each practice's work is still its own transaction
# (or one per item), one practice's failure is recorded for it and the others go on.


@dataclass
class PerPractice(Generic[T]):
    """What a step did for each of several practices: its result, or why it failed (a practice
    whose work stopped part way has both: what was done before the failure, and the failure)."""

    done: dict[uuid.UUID, T] = field(default_factory=dict)
    failed: dict[uuid.UUID, str] = field(default_factory=dict)

    @classmethod
    def grouped(cls, owners: Sequence[uuid.UUID], values: Sequence[Any]) -> PerPractice[list[Any]]:
        """`values` (one per entry of `owners`, in order) as each owner's list."""
        out: PerPractice[list[Any]] = PerPractice()
        for owner, value in zip(owners, values, strict=True):
            out.done.setdefault(owner, []).append(value)
        return out


# Results of the attempts of a task run that are to be retried: a retry does not redo them.
_attempts: dict[uuid.UUID, dict[Any, Any]] = {}
_attempts_lock = threading.Lock()


def _earlier_attempts() -> tuple[uuid.UUID | None, dict[Any, Any]]:
    context = TaskRunContext.get()
    if context is None:
        return None, {}
    with _attempts_lock:
        return context.task_run.id, _attempts.setdefault(context.task_run.id, {})


def _attempt_over(run_id: uuid.UUID | None, retried: bool) -> None:
    """Forget the task run's results unless it is about to be retried."""
    context = TaskRunContext.get()
    if run_id is None or context is None:
        return
    if retried and context.task_run.run_count <= context.task.retries:
        return
    with _attempts_lock:
        _attempts.pop(run_id, None)


def for_each_item(
    items: Mapping[uuid.UUID, Sequence[I]], work: Callable[[I], T]
) -> PerPractice[list[T]]:
    """`work` for each practice's items, each item its own transaction (`work` opens it).

    A practice whose item raises stops at that item and is recorded as failed (with the items
    done before it), and the other practices go on. A transient error (a dropped connection, a
    lock timeout) is raised, so that the task is retried; the retry skips the items this task
    run did already (and the domain calls are idempotent: an item whose commit was lost is
    found done). With one practice every error is raised: its run fails with the step's own
    error. Called once per task run (its results are remembered by practice and position)."""
    outcome: PerPractice[list[T]] = PerPractice()
    run_id, earlier = _earlier_attempts()
    alone = len(items) == 1
    try:
        for practice_id, practice_items in items.items():
            results = outcome.done.setdefault(practice_id, [])
            for index, item in enumerate(practice_items):
                key = (practice_id, index)
                if key not in earlier:
                    try:
                        earlier[key] = work(item)
                    except Exception as exc:
                        if alone or is_transient_database_error(exc):
                            raise
                        outcome.failed[practice_id] = f"{type(exc).__name__}: {exc}"
                        logger.error("failed for practice {}: {}", practice_id, exc)
                        break
                results.append(earlier[key])
    except BaseException as exc:
        _attempt_over(
            run_id, retried=isinstance(exc, Exception) and is_transient_database_error(exc)
        )
        raise
    _attempt_over(run_id, retried=False)
    return outcome


def for_each_practice(
    practice_ids: Iterable[uuid.UUID], work: Callable[[uuid.UUID], T]
) -> PerPractice[T]:
    """`work(practice_id)` for each practice, as `for_each_item` with one item each."""
    each = for_each_item({practice_id: [practice_id] for practice_id in practice_ids}, work)
    return PerPractice(
        done={practice_id: results[0] for practice_id, results in each.done.items() if results},
        failed=each.failed,
    )


class PracticeSteps:
    """The steps of a run for several practices, each a task working for all of them: what a
    step could not do for a practice goes into that practice's `errors` (its summary's list),
    and when a whole task fails, its failure is every one of those practices'. A run for one
    practice alone raises instead, so that it fails with the step's own error."""

    def __init__(self, errors: Mapping[uuid.UUID, list[str]]) -> None:
        self.errors = errors
        self.alone = len(errors) == 1

    def run(
        self, step: str, practice_ids: Collection[uuid.UUID], call: Callable[[], PerPractice[T]]
    ) -> PerPractice[T]:
        try:
            outcome = call()
        except Exception as exc:
            if self.alone:
                raise
            why = f"{type(exc).__name__}: {exc}"
            logger.error("{} failed for {} practice(s): {}", step, len(practice_ids), why)
            outcome = PerPractice(failed=dict.fromkeys(practice_ids, why))
        for practice_id, why in outcome.failed.items():
            self.errors[practice_id].append(f"{step}: {why}")
        return outcome


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
    "PerPractice",
    "PracticeRef",
    "PracticeSteps",
    "apply_onboarding_file",
    "for_each_item",
    "for_each_practice",
    "list_active_practices",
    "load_practice",
    "load_practices",
]
