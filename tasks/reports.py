"""Read-only tasks: the report queries behind each run's artifacts, and the KPI report."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from rcm.reports import worklists
from rcm.reports.kpis import KpiReport
from tasks._runtime import DATABASE_TASK_OPTIONS, transaction
from tasks.practices import PerPractice, for_each_practice


@task(name="held-claims", cache_policy=NO_CACHE, **DATABASE_TASK_OPTIONS)
def held_claims(
    requests: list[tuple[uuid.UUID, list[uuid.UUID] | None]],
) -> dict[uuid.UUID, list[dict[str, Any]]]:
    """Each practice's held claims (of `claim_ids`, or all of them when None), with their open
    findings: one task run for a run's practices."""
    with transaction() as session:
        return {
            practice_id: worklists.held_claims(
                session, practice_id=practice_id, claim_ids=claim_ids
            )
            for practice_id, claim_ids in requests
        }


@task(name="submitted-by-payer", cache_policy=NO_CACHE, **DATABASE_TASK_OPTIONS)
def submitted_by_payer(
    requests: list[tuple[uuid.UUID, list[uuid.UUID]]],
) -> dict[uuid.UUID, list[dict[str, Any]]]:
    """Each practice's claims and billed amount per payer in the interchanges it sent."""
    with transaction() as session:
        return {
            practice_id: worklists.submitted_by_payer(
                session, practice_id=practice_id, interchange_ids=interchange_ids
            )
            for practice_id, interchange_ids in requests
        }


@task(name="front-end-rejections", cache_policy=NO_CACHE, **DATABASE_TASK_OPTIONS)
def front_end_rejections(
    practice_ids: list[uuid.UUID], since: datetime
) -> dict[uuid.UUID, list[dict[str, Any]]]:
    """Each practice's 999/277CA rejections since `since`: one task run for a run's practices."""
    with transaction() as session:
        return {
            practice_id: worklists.front_end_rejections(
                session, practice_id=practice_id, since=since
            )
            for practice_id in practice_ids
        }


@task(name="era-totals", cache_policy=NO_CACHE, **DATABASE_TASK_OPTIONS)
def era_totals(
    requests: list[tuple[uuid.UUID, list[uuid.UUID]]],
) -> dict[uuid.UUID, list[dict[str, Any]]]:
    """Each practice's totals of the ERAs (835 interchanges) it posted in the run."""
    with transaction() as session:
        totals: dict[uuid.UUID, list[dict[str, Any]]] = {}
        for practice_id, interchange_ids in requests:
            remittances = worklists.remittances_of(session, interchange_ids)
            totals[practice_id] = worklists.era_totals(
                session, practice_id=practice_id, remittance_ids=remittances
            )
        return totals


@task(name="denials-opened", cache_policy=NO_CACHE, **DATABASE_TASK_OPTIONS)
def denials_opened(practice_id: uuid.UUID, since: datetime) -> list[dict[str, Any]]:
    with transaction() as session:
        return worklists.denials_opened(session, practice_id=practice_id, since=since)


@task(name="denials-near-deadline", cache_policy=NO_CACHE, **DATABASE_TASK_OPTIONS)
def denials_near_deadline(
    practice_id: uuid.UUID, today: date, within_days: int
) -> list[dict[str, Any]]:
    with transaction() as session:
        return worklists.denials_near_deadline(
            session, practice_id=practice_id, today=today, within_days=within_days
        )


@dataclass(frozen=True)
class DenialReports:
    """A practice's denial tables: opened since a time, by reason; near their deadline."""

    opened: list[dict[str, Any]]
    near_deadline: list[dict[str, Any]]


@task(name="denial-reports", cache_policy=NO_CACHE, **DATABASE_TASK_OPTIONS)
def denial_reports(
    practice_ids: list[uuid.UUID], since: datetime, today: date, within_days: int
) -> PerPractice[DenialReports]:
    """`denials_opened` and `denials_near_deadline` for each practice, each practice's reads in
    one transaction."""

    def read(practice_id: uuid.UUID) -> DenialReports:
        with transaction() as session:
            return DenialReports(
                opened=worklists.denials_opened(session, practice_id=practice_id, since=since),
                near_deadline=worklists.denials_near_deadline(
                    session, practice_id=practice_id, today=today, within_days=within_days
                ),
            )

    return for_each_practice(practice_ids, read)


@task(name="known-inbound-files", cache_policy=NO_CACHE, **DATABASE_TASK_OPTIONS)
def known_inbound_names(clearinghouse: str) -> set[str]:
    with transaction() as session:
        return worklists.known_inbound_names(session, clearinghouse=clearinghouse)


@task(name="compute-kpis", cache_policy=NO_CACHE, **DATABASE_TASK_OPTIONS)
def compute_kpis(practice_id: uuid.UUID, as_of: date, period_days: int) -> KpiReport:
    """Every KPI for the practice over the period ending on `as_of` (rcm.reports.kpis)."""
    from rcm.reports import compute_kpis as compute

    with transaction() as session:
        return compute(session, practice_id=practice_id, as_of=as_of, period_days=period_days)


@task(name="render-kpi-html", cache_policy=NO_CACHE)
def render_kpi_html(report: KpiReport) -> bytes:
    from rcm.reports import render_kpi_html as render

    return render(report)


@task(name="compute-kpis-many", cache_policy=NO_CACHE, **DATABASE_TASK_OPTIONS)
def compute_kpis_many(
    practice_ids: list[uuid.UUID], as_of: date, period_days: int
) -> PerPractice[KpiReport]:
    """`compute_kpis` for each practice, each its own transaction."""
    return for_each_practice(
        practice_ids, lambda practice_id: compute_kpis.fn(practice_id, as_of, period_days)
    )


@task(name="render-kpi-html-many", cache_policy=NO_CACHE)
def render_kpi_html_many(reports: dict[uuid.UUID, KpiReport]) -> PerPractice[bytes]:
    """`render_kpi_html` for each practice's report."""
    return for_each_practice(reports, lambda practice_id: render_kpi_html.fn(reports[practice_id]))


__all__ = [
    "DenialReports",
    "compute_kpis",
    "compute_kpis_many",
    "denial_reports",
    "denials_near_deadline",
    "denials_opened",
    "era_totals",
    "front_end_rejections",
    "held_claims",
    "known_inbound_names",
    "render_kpi_html",
    "render_kpi_html_many",
    "submitted_by_payer",
]
