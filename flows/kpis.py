"""report_kpis: the practice's revenue-cycle KPIs beside their benchmarks, as table artifacts and
an HTML report (inline SVG charts) kept in the archive."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time

from prefect import flow
from prefect.utilities.annotations import quote

from connectors.archive import archive_key, sha256_hex
from flows._common import bridge_logs_to_prefect, publish_markdown, publish_table
from flows._context import practice_today
from rcm.logging import logger
from rcm.reports.kpis import AGING_BUCKETS, KpiReport
from tasks import reports as report_tasks
from tasks.archive import archive_many
from tasks.practices import PerPractice, PracticeRef, PracticeSteps, load_practice

archive_kpi_reports = archive_many.with_options(name="archive-kpi-reports")


@dataclass
class KpiSummary:
    """One practice's KPI run: its report and where the HTML report is archived (None when a
    step failed: see errors)."""

    practice: str
    as_of: date
    report: KpiReport | None = None
    archive_key: str | None = None
    errors: list[str] = field(default_factory=list)


@flow(name="report-kpis")
def report_kpis(practice: str, as_of: date | None = None, period_days: int = 90) -> KpiReport:
    """Compute and publish the practice's KPIs.

    Days in A/R, first-pass acceptance, clean-claim rate, denial rate (count and dollars),
    gross and net collection, aged A/R by payer, days from service to submission and from
    denial to appeal, and the top denial reasons, each beside its benchmark. The HTML report
    is archived under {practice}/reports/kpis/….

    Args:
        practice: The practice's slug.
        as_of: The last day of the period (default: today in the practice's timezone).
        period_days: How many days the period covers, ending on as_of.
    """
    bridge_logs_to_prefect()
    ref = load_practice(practice)
    end = practice_today(ref.timezone, as_of)
    summary = report_kpis_for([ref], end, period_days)[ref.slug]
    if summary.errors or summary.report is None:
        raise RuntimeError(f"KPIs for {ref.slug}: " + "; ".join(summary.errors))
    return summary.report


def report_kpis_for(
    refs: list[PracticeRef], as_of: date, period_days: int = 90
) -> dict[str, KpiSummary]:
    """report_kpis for several practices at once: the KPIs computed in one task (each
    practice's its own transaction), the HTML reports rendered in one and archived in one,
    the tables published per practice. A practice whose step fails is reported in its
    summary's errors and the others go on."""
    summaries = {ref.slug: KpiSummary(practice=ref.slug, as_of=as_of) for ref in refs}
    steps = PracticeSteps({ref.id: summaries[ref.slug].errors for ref in refs})
    ids = [ref.id for ref in refs]
    computed = steps.run(
        "computing KPIs",
        ids,
        lambda: report_tasks.compute_kpis_many(quote(ids), as_of, period_days),
    )
    rendered: PerPractice[bytes] = PerPractice()
    if computed.done:
        rendered = steps.run(
            "rendering the HTML report",
            list(computed.done),
            lambda: report_tasks.render_kpi_html_many(quote(computed.done)),
        )
    when = datetime.combine(as_of, time.min, tzinfo=UTC)
    slugs = {ref.id: ref.slug for ref in refs}
    owners = list(rendered.done)
    documents = [
        (
            archive_key(
                slugs[pid],
                "reports",
                "kpis",
                when,
                sha256_hex(html),
                f"kpis-{as_of.isoformat()}.html",
            ),
            html,
            {"kind": "kpi-report"},
        )
        for pid, html in rendered.done.items()
    ]
    stored: PerPractice[list[str]] = PerPractice()
    if documents:
        stored = steps.run(
            "archiving the HTML report",
            owners,
            lambda: PerPractice.grouped(owners, archive_kpi_reports(quote(documents))),
        )
    for ref in refs:
        summary = summaries[ref.slug]
        summary.report = computed.done.get(ref.id)
        keys = stored.done.get(ref.id)
        summary.archive_key = keys[0] if keys else None
        if summary.report is not None and summary.archive_key is not None:
            _publish(ref, summary.report, summary.archive_key)
    return summaries


def _publish(ref: PracticeRef, report: KpiReport, key: str) -> None:
    publish_table(
        f"{ref.slug}-kpis",
        report.table_rows(),
        f"KPIs {report.window_start} to {report.as_of}",
        ["kpi", "value", "benchmark", "status", "detail"],
    )
    publish_table(
        f"{ref.slug}-aged-ar",
        report.aging_rows(),
        f"Aged A/R by payer on {report.as_of}",
        ["payer", *[label for label, _, _ in AGING_BUCKETS], "total"],
    )
    publish_table(
        f"{ref.slug}-top-denial-reasons",
        [
            {"carc": r.carc, "category": r.category, "count": r.count, "amount": r.amount}
            for r in report.denial_reasons
        ],
        f"Top denial reasons {report.window_start} to {report.as_of}",
        ["carc", "category", "count", "amount"],
    )
    publish_markdown(
        f"{ref.slug}-kpi-report",
        f"# KPI report {ref.slug}\n\nHTML report with charts archived as `{key}`.",
        "Where the HTML KPI report is",
    )
    logger.info("kpis published for {} as of {}", ref.slug, report.as_of, archive_key=key)


__all__ = ["KpiSummary", "report_kpis", "report_kpis_for"]
