"""Reports over the ledger and the claim trail: pure queries, no Prefect, no I/O."""

from rcm.reports.html import render_kpi_html
from rcm.reports.kpis import (
    BENCHMARKS,
    AgingRow,
    DenialReason,
    Kpi,
    KpiReport,
    compute_kpis,
)

__all__ = [
    "BENCHMARKS",
    "AgingRow",
    "DenialReason",
    "Kpi",
    "KpiReport",
    "compute_kpis",
    "render_kpi_html",
]
