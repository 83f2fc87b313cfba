"""The deployments: one per flow, each with one cron schedule per practice, in the practice's
timezone, carrying the practice as its parameter.

    check-eligibility   05:30 every day          (before the first appointments)
    collect-responses   08:00-18:00 every 2 h, Mon-Fri
    work-denials        18:00 Mon-Fri
    submit-claims       19:00 Mon-Fri            (after the day's charges are in)
    send-statements     07:00 Mondays
    report-kpis         06:00 every day
    daily-cycle-all     unscheduled: run it by hand, or instead of the per-step schedules

`rcm serve` serves them from this process (`prefect.serve`); infra/prefect.yaml defines the
same deployments for a work pool. A practice onboarded while the server runs gets its
schedules added to the deployments by the onboarding flow (`add_practice_schedules`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from prefect.schedules import Cron, Schedule

from flows.daily import daily_cycle, daily_cycle_all
from flows.denials import work_denials
from flows.eligibility import check_eligibility
from flows.kpis import report_kpis
from flows.onboarding import onboard_practice
from flows.responses import collect_responses, collect_responses_all
from flows.statements import send_statements
from flows.submission import submit_claims


@dataclass(frozen=True)
class ScheduledFlow:
    deployment: str
    flow: Any
    cron: str | None
    description: str


SCHEDULED_FLOWS: tuple[ScheduledFlow, ...] = (
    ScheduledFlow("check-eligibility", check_eligibility, "30 5 * * *", "270/271 before visits"),
    ScheduledFlow(
        "collect-responses", collect_responses, "0 8-18/2 * * 1-5", "999, 277CA, 835, 271"
    ),
    ScheduledFlow("work-denials", work_denials, "0 18 * * 1-5", "appeals, corrections"),
    ScheduledFlow("submit-claims", submit_claims, "0 19 * * 1-5", "claims out"),
    ScheduledFlow("send-statements", send_statements, "0 7 * * 1", "patient statements"),
    ScheduledFlow("report-kpis", report_kpis, "0 6 * * *", "KPIs and aging"),
)
UNSCHEDULED_FLOWS: tuple[ScheduledFlow, ...] = (
    ScheduledFlow("daily-cycle", daily_cycle, None, "one practice, every step, by hand"),
    ScheduledFlow("daily-cycle-all", daily_cycle_all, None, "every practice, by hand"),
    ScheduledFlow(
        "collect-responses-all", collect_responses_all, None, "every practice's answers, by hand"
    ),
    ScheduledFlow("onboard-practice", onboard_practice, None, "a new practice from its file"),
)


@dataclass(frozen=True)
class PracticeSchedule:
    slug: str
    timezone: str


def schedule_slug(practice: str, deployment: str) -> str:
    return f"{practice}-{deployment}"


def practice_schedules(
    item: ScheduledFlow, practices: Sequence[PracticeSchedule]
) -> list[Schedule]:
    """One cron per practice for `item`, in the practice's timezone."""
    if item.cron is None:
        return []
    return [
        Cron(
            item.cron,
            timezone=p.timezone,
            parameters={"practice": p.slug},
            slug=schedule_slug(p.slug, item.deployment),
        )
        for p in practices
    ]


def active_practices() -> list[PracticeSchedule]:
    from sqlmodel import col, select

    from connectors.db import session_scope
    from rcm.models import Practice

    with session_scope() as session:
        rows = session.exec(
            select(Practice.slug, Practice.timezone)
            .where(col(Practice.active))
            .order_by(Practice.slug)
        ).all()
    return [PracticeSchedule(slug, timezone) for slug, timezone in rows]


def build_deployments(practices: Sequence[PracticeSchedule]) -> list[Any]:
    """Every deployment, with each practice's schedules."""
    deployments = []
    for item in (*SCHEDULED_FLOWS, *UNSCHEDULED_FLOWS):
        deployments.append(
            item.flow.to_deployment(
                name=item.deployment,
                schedules=practice_schedules(item, practices) or None,
                description=item.description,
                tags=["rcm"],
            )
        )
    return deployments


def serve_all(limit: int | None = None) -> None:
    """Serve every deployment from this process until interrupted."""
    from prefect import serve

    serve(*build_deployments(active_practices()), limit=limit)


def add_practice_schedules(slug: str, timezone: str) -> list[str]:
    """Add (or replace) the practice's schedules on the deployments registered with the
    Prefect API. Returns what was done per deployment; deployments not registered yet are
    reported and get the schedules when `rcm serve` next starts."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import DeploymentScheduleCreate
    from prefect.exceptions import ObjectNotFound

    done: list[str] = []
    practice = [PracticeSchedule(slug, timezone)]
    with get_client(sync_client=True) as client:
        for item in SCHEDULED_FLOWS:
            name = f"{item.flow.name}/{item.deployment}"
            try:
                deployment = client.read_deployment_by_name(name)
            except ObjectNotFound:
                done.append(f"{name}: not registered (rcm serve adds it at start)")
                continue
            wanted = practice_schedules(item, practice)[0]
            existing = {s.slug: s for s in client.read_deployment_schedules(deployment.id)}
            if wanted.slug in existing:
                done.append(f"{name}: schedule already there")
                continue
            client.create_deployment_schedules(
                deployment.id,
                [
                    DeploymentScheduleCreate(
                        schedule=_schedule_type(wanted),
                        active=True,
                        parameters=dict(wanted.parameters),
                        slug=wanted.slug,
                    )
                ],
            )
            done.append(f"{name}: schedule added")
    return done


def _schedule_type(cron: Schedule) -> Any:
    from prefect.client.schemas.schedules import CronSchedule

    return CronSchedule(cron=cron.cron, timezone=cron.timezone, day_or=cron.day_or)


__all__ = [
    "SCHEDULED_FLOWS",
    "UNSCHEDULED_FLOWS",
    "PracticeSchedule",
    "ScheduledFlow",
    "active_practices",
    "add_practice_schedules",
    "build_deployments",
    "practice_schedules",
    "serve_all",
]
