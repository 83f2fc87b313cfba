"""`rcm run`: run one flow now, in this process, for one practice and day (what an operator
also does from the Prefect UI). Without PREFECT_API_URL Prefect starts a temporary local API."""

from __future__ import annotations

import dataclasses
from datetime import date
from typing import Any

import typer

from cli.output import console, fail, print_json

app = typer.Typer(name="run", help="Run a flow now for a practice and day.", no_args_is_help=True)

PRACTICE = typer.Option(..., "--practice", help="The practice's slug.")
DATE = typer.Option("", "--date", help="The business day, YYYY-MM-DD (default: today).")


@app.callback()
def _group() -> None:
    """Run a flow now for a practice and day."""


def _day(text: str) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise fail(f"--date {text!r} is not a date (YYYY-MM-DD)") from None


def _run(flow: Any, *args: Any, **kwargs: Any) -> None:
    state = flow(*args, return_state=True, **kwargs)
    if not state.is_completed():
        try:
            state.result(raise_on_failure=True)
        except Exception as exc:
            raise fail(f"{flow.name} failed: {exc}") from None
    result = state.result()
    if dataclasses.is_dataclass(result) and not isinstance(result, type):
        result = dataclasses.asdict(result)
    print_json(result)
    console.print(f"{flow.name}: {state.name}")


@app.command("daily-cycle")
def daily_cycle(practice: str = PRACTICE, run_date: str = DATE) -> None:
    """Every step of one practice's day."""
    from flows.daily import daily_cycle as flow

    _run(flow, practice, _day(run_date))


@app.command("daily-cycle-all")
def daily_cycle_all(run_date: str = DATE) -> None:
    """Every step of every active practice's day."""
    from flows.daily import daily_cycle_all as flow

    _run(flow, _day(run_date))


@app.command("check-eligibility")
def check_eligibility(practice: str = PRACTICE, run_date: str = DATE) -> None:
    """270s for the coming appointments, 271s applied."""
    from flows.eligibility import check_eligibility as flow

    _run(flow, practice, _day(run_date))


@app.command("submit-claims")
def submit_claims(
    practice: str = PRACTICE,
    run_date: str = DATE,
    interchange: str = typer.Option("", help="Only finish this outbound 837 (its UUID)."),
) -> None:
    """Claims created, scrubbed, batched, archived and uploaded."""
    import uuid

    from flows.submission import submit_claims as flow

    _run(flow, practice, _day(run_date), uuid.UUID(interchange) if interchange else None)


@app.command("collect-responses")
def collect_responses(
    practice: str = PRACTICE,
    run_date: str = DATE,
    file_name: str = typer.Option("", "--file", help="Only this clearinghouse file."),
) -> None:
    """999, 277CA, 835 and 271 files collected and processed."""
    from flows.responses import collect_responses as flow

    _run(flow, practice, _day(run_date), None, file_name or None)


@app.command("work-denials")
def work_denials(practice: str = PRACTICE, run_date: str = DATE) -> None:
    """Appeals and corrected claims by policy; deadlines escalated."""
    from flows.denials import work_denials as flow

    _run(flow, practice, _day(run_date))


@app.command("send-statements")
def send_statements(practice: str = PRACTICE, run_date: str = DATE) -> None:
    """Patient statements."""
    from flows.statements import send_statements as flow

    _run(flow, practice, _day(run_date))


@app.command("report-kpis")
def report_kpis(practice: str = PRACTICE, run_date: str = DATE) -> None:
    """KPI artifacts and the archived HTML report."""
    from flows.kpis import report_kpis as flow

    _run(flow, practice, _day(run_date))


@app.command("onboard-practice")
def onboard_practice(file: str = typer.Argument(..., help="The onboarding YAML file.")) -> None:
    """Onboard, check the clearinghouse, sandbox round trip, schedules."""
    from flows.onboarding import onboard_practice as flow

    _run(flow, file)
