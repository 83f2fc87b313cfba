"""daily_cycle: one practice's day, every step in order; daily_cycle_all: every active practice.

In daily_cycle the steps are subflows, so each appears (and can be rerun on its own) in the
Prefect UI. daily_cycle_all runs the same steps for every practice together (fan_out="stages"):
one flow run whose tasks work on a practice's batch (imports, claims, scrub, batches, the 270
and the 837 gate), on a clearinghouse account's files (SFTP, inbound processing), or on every
practice of the run at once (reports, denial work, statements, KPIs; each practice its own
transaction), because every task run costs Prefect API and server work whatever it does:
about ten per practice a day is what a firm's 100 practices leave room for. A step that
fails does not stop the independent steps after it (answers are still collected when
submission failed), but the run then fails naming every failed step and practice, so its
state is honest.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from prefect import flow
from prefect.states import State

from flows._common import RunReport, bridge_logs_to_prefect, gather_artifacts, publish_table
from flows._context import practice_today, run_source
from flows.denials import work_denials, work_denials_for
from flows.eligibility import check_eligibility, check_eligibility_for
from flows.kpis import report_kpis, report_kpis_for
from flows.responses import collect_for, collect_responses
from flows.statements import send_statements, send_statements_for
from flows.submission import submit_claims, submit_for
from rcm.logging import logger
from tasks.practices import PracticeRef, list_active_practices, load_practice, load_practices

DAILY_STEPS: tuple[tuple[str, Callable[..., Any]], ...] = (
    ("check_eligibility", check_eligibility),
    ("submit_claims", submit_claims),
    ("collect_responses", collect_responses),
    ("work_denials", work_denials),
    ("send_statements", send_statements),
)


@dataclass
class CycleResult:
    practice: str
    run_date: date
    steps: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


def _message(state: State[Any]) -> str:
    try:
        state.result(raise_on_failure=True)
    except BaseException as exc:
        return f"{type(exc).__name__}: {exc}"
    return state.message or state.name or "failed"


@flow(name="daily-cycle")
def daily_cycle(practice: str, run_date: date | None = None) -> CycleResult:
    """One practice's daily revenue cycle: eligibility, claim submission, clearinghouse
    responses (999, 277CA, 835, 271), denial work, patient statements, KPIs.

    Args:
        practice: The practice's slug.
        run_date: The business day (default: today in the practice's timezone).
    """
    bridge_logs_to_prefect()
    ref = load_practice(practice)
    day = practice_today(ref.timezone, run_date)
    result = CycleResult(practice=ref.slug, run_date=day)
    for name, step in DAILY_STEPS:
        state = step(ref.slug, day, return_state=True)
        result.steps[name] = state.name or str(state.type)
        if not state.is_completed():
            result.errors[name] = _message(state)
            logger.error("{} failed for {}: {}", name, ref.slug, result.errors[name])
    state = report_kpis(ref.slug, day, return_state=True)
    result.steps["report_kpis"] = state.name or str(state.type)
    if not state.is_completed():
        result.errors["report_kpis"] = _message(state)

    report = RunReport(f"Daily cycle {day}", ref.slug)
    report.counts.update(result.steps)
    for name, error in result.errors.items():
        report.note(f"{name} failed: {error}")
    report.publish(f"{ref.slug}-daily-cycle")
    if result.errors:
        raise RuntimeError(
            f"daily cycle for {ref.slug} on {day}: "
            + "; ".join(f"{name} failed ({error})" for name, error in result.errors.items())
        )
    return result


@flow(name="daily-cycle-all")
def daily_cycle_all(run_date: date | None = None, fan_out: str = "stages") -> dict[str, str]:
    """The daily cycle for every active practice.

    Args:
        run_date: The business day (default: each practice's today).
        fan_out: "stages" (the default) runs each step for all practices together in this
            run: one upload and one download session per clearinghouse account, the pyx12
            gate over every practice's files, one artifact per kind with a practice column;
            "inline" runs each practice's daily-cycle as a subflow, one after another;
            "deployments" starts the daily-cycle deployment once per practice so workers on
            other machines run them in parallel.
    """
    bridge_logs_to_prefect()
    practices = list_active_practices()
    outcome: dict[str, str] = {}
    if fan_out == "stages":
        outcome = run_stages(practices, run_date)
    elif fan_out == "deployments":
        from prefect.deployments import run_deployment

        for slug in practices:
            run = run_deployment(
                "daily-cycle/daily-cycle",
                parameters={"practice": slug, "run_date": run_date},
                timeout=0,
                as_subflow=True,
            )
            outcome[slug] = f"started {getattr(run, 'id', run)}"
    elif fan_out == "inline":
        for slug in practices:
            state = daily_cycle(slug, run_date, return_state=True)
            outcome[slug] = state.name or str(state.type)
    else:
        raise ValueError(f"fan_out must be 'stages', 'inline' or 'deployments', not {fan_out!r}")
    publish_table(
        "daily-cycle-all",
        [{"practice": k, "state": v} for k, v in outcome.items()],
        f"Daily cycle per practice, {run_date or 'today'}",
        ["practice", "state"],
    )
    failed = [
        slug
        for slug, state in outcome.items()
        if state not in ("Completed",) and not state.startswith("started")
    ]
    if failed:
        raise RuntimeError(
            f"daily cycle failed for {len(failed)} practice(s): "
            + "; ".join(f"{slug} ({outcome[slug]})" for slug in failed)
        )
    return outcome


def run_stages(slugs: list[str], run_date: date | None) -> dict[str, str]:
    """Every step of the day for all `slugs`, step by step. Returns each practice's outcome:
    "Completed", or the steps that failed and why."""
    refs = load_practices(slugs)
    source = run_source()
    errors: dict[str, list[str]] = {ref.slug: [] for ref in refs}
    by_day: dict[date, list[PracticeRef]] = {}
    for ref in refs:
        by_day.setdefault(practice_today(ref.timezone, run_date), []).append(ref)
    with gather_artifacts(slugs, "Daily cycle"):
        for day, group in sorted(by_day.items()):
            _stage(
                "check_eligibility",
                group,
                errors,
                lambda g=group, d=day: check_eligibility_for(g, d, source),
            )
            _stage("submit_claims", group, errors, lambda g=group, d=day: submit_for(g, d, source))
            _stage("collect_responses", group, errors, lambda g=group, d=day: collect_for(g, d))
            _stage(
                "work_denials",
                group,
                errors,
                lambda g=group, d=day: work_denials_for(g, d, source),
            )
            _stage(
                "send_statements", group, errors, lambda g=group, d=day: send_statements_for(g, d)
            )
            _stage("report_kpis", group, errors, lambda g=group, d=day: report_kpis_for(g, d))
    return {
        slug: "Completed" if not problems else "Failed: " + "; ".join(problems)
        for slug, problems in errors.items()
    }


def _stage(
    name: str,
    group: list[PracticeRef],
    errors: dict[str, list[str]],
    run: Callable[[], dict[str, Any]],
) -> None:
    """One cross-practice step: a practice's own failures come back in its summary's errors;
    a failure of the whole step is every practice's."""
    try:
        summaries = run()
    except Exception as exc:
        logger.error("{} failed: {}", name, exc)
        for ref in group:
            errors[ref.slug].append(f"{name} failed ({type(exc).__name__}: {exc})")
        return
    for slug, summary in summaries.items():
        for problem in getattr(summary, "errors", []) or []:
            errors[slug].append(f"{name} failed ({problem})")


__all__ = ["DAILY_STEPS", "CycleResult", "daily_cycle", "daily_cycle_all", "run_stages"]
