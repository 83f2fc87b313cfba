"""`rcm serve`: serve every deployment on its schedules from this process."""

from __future__ import annotations

import typer


def command(
    limit: int = typer.Option(0, help="Most flow runs at once (0: no limit)."),
    show: bool = typer.Option(False, "--show", help="List the deployments and schedules; exit."),
) -> None:
    """Serve every flow as a deployment, each practice on its own cron schedules in its own
    timezone (eligibility 05:30, responses every 2 h in business hours, submission 19:00)."""
    from cli.output import console, print_table
    from flows.serve import SCHEDULED_FLOWS, UNSCHEDULED_FLOWS, active_practices, serve_all

    practices = active_practices()
    rows = []
    for item in (*SCHEDULED_FLOWS, *UNSCHEDULED_FLOWS):
        rows.append(
            (
                f"{item.flow.name}/{item.deployment}",
                item.cron or "(by hand)",
                ", ".join(f"{p.slug} ({p.timezone})" for p in practices) if item.cron else "",
            )
        )
    print_table("Deployments", ["deployment", "cron", "practices"], rows)
    if show:
        return
    console.print("Serving; stop with Ctrl-C.")
    serve_all(limit=limit or None)
