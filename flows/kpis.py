"""report_kpis: the practice's revenue-cycle KPIs beside their benchmarks, as table artifacts and
an HTML report (inline SVG charts) kept in the archive."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

from prefect import flow

from connectors.archive import archive_key, sha256_hex
from flows._common import bridge_logs_to_prefect, publish_markdown, publish_table
from flows._context import practice_today
from rcm.logging import logger
from rcm.reports.kpis import AGING_BUCKETS, KpiReport
from tasks import reports as report_tasks
from tasks.archive import archive_bytes
from tasks.practices import load_practice


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
    report = report_tasks.compute_kpis(ref.id, end, period_days)
    html = report_tasks.render_kpi_html(report)
    key = archive_bytes(
        archive_key(
            ref.slug,
            "reports",
            "kpis",
            datetime.combine(end, time.min, tzinfo=UTC),
            sha256_hex(html),
            f"kpis-{end.isoformat()}.html",
        ),
        html,
        {"kind": "kpi-report"},
    )
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
    logger.info("kpis published for {} as of {}", ref.slug, end, archive_key=key)
    return report


__all__ = ["report_kpis"]
