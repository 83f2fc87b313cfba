"""`rcm report`: revenue-cycle reports straight from the database (no Prefect needed)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import typer

from cli.output import JSON_OPTION, console, fail, print_json, print_table

app = typer.Typer(name="report", help="Revenue-cycle reports.", no_args_is_help=True)


@app.callback()
def _group() -> None:
    """Revenue-cycle reports."""


@app.command("kpis")
def kpis(
    practice: str = typer.Option(..., "--practice", help="The practice's slug."),
    as_of: str = typer.Option("", "--as-of", help="Last day of the period (YYYY-MM-DD; today)."),
    period_days: int = typer.Option(90, "--period-days", help="Days in the period."),
    html: Path | None = typer.Option(None, "--html", help="Also write the HTML report here."),
    as_json: bool = JSON_OPTION,
) -> None:
    """KPIs beside their benchmarks, aged A/R by payer and the top denial reasons."""
    from connectors.db import session_scope
    from rcm.errors import ConfigError
    from rcm.imports.common import get_practice
    from rcm.reports import compute_kpis, render_kpi_html
    from rcm.reports.kpis import AGING_BUCKETS

    try:
        end = date.fromisoformat(as_of) if as_of else date.today()
    except ValueError:
        raise fail(f"--as-of {as_of!r} is not a date (YYYY-MM-DD)") from None
    try:
        with session_scope() as session:
            row = get_practice(session, practice)
            report = compute_kpis(session, practice_id=row.id, as_of=end, period_days=period_days)
    except ConfigError as exc:
        raise fail(str(exc)) from None
    if html is not None:
        html.write_bytes(render_kpi_html(report))
    if as_json:
        print_json(report.to_dict())
        return
    print_table(
        f"KPIs {report.practice}: {report.window_start} to {report.as_of}",
        ["kpi", "value", "benchmark", "status", "detail"],
        (
            [r["kpi"], r["value"], r["benchmark"], r["status"], r["detail"]]
            for r in report.table_rows()
        ),
    )
    labels = [label for label, _, _ in AGING_BUCKETS]
    print_table(
        f"Aged A/R by payer on {report.as_of}",
        ["payer", *labels, "total"],
        ([a.payer, *[a.buckets[label] for label in labels], a.total] for a in report.aging),
    )
    print_table(
        "Top denial reasons",
        ["CARC", "category", "count", "amount"],
        ([d.carc, d.category, d.count, d.amount] for d in report.denial_reasons),
    )
    if html is not None:
        console.print(f"HTML report: {html}")
