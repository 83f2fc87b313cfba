"""onboard_practice: a new client practice from its onboarding file, ready to run."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from prefect import flow

from flows._common import RunReport, bridge_logs_to_prefect, publish_table
from rcm.logging import logger
from tasks.clearinghouse import check_clearinghouse, on_account
from tasks.onboarding import sandbox_round_trip
from tasks.practices import apply_onboarding_file, load_practice


@dataclass
class OnboardingSummary:
    practice: str
    clearinghouse: str
    changes: dict[str, Any] = field(default_factory=dict)
    connection_ok: bool = False
    round_trip: str = "not run"
    schedules: list[str] = field(default_factory=list)


@flow(name="onboard-practice")
def onboard_practice(file: str, create_schedules: bool = True) -> OnboardingSummary:
    """Validate and apply a practice's onboarding file, check its clearinghouse connection,
    send a probe through the sandbox when the profile is one, and add the practice's schedules.

    Nothing is written unless the whole file is valid; onboarding the same file again changes
    nothing.

    Args:
        file: Path of the practice's onboarding YAML file.
        create_schedules: Add the practice's cron schedules to the registered deployments.
    """
    bridge_logs_to_prefect()
    outcome = apply_onboarding_file(file)
    summary = OnboardingSummary(
        practice=outcome.slug, clearinghouse=outcome.clearinghouse, changes=outcome.summary
    )
    report = RunReport(f"Onboarding {outcome.slug}", outcome.slug)
    steps = on_account(check_clearinghouse, outcome.clearinghouse)(outcome.clearinghouse)
    publish_table(
        f"{outcome.slug}-clearinghouse-check",
        [{"step": s.step, "ok": s.ok, "detail": s.detail} for s in steps],
        f"Connection to {outcome.clearinghouse}",
        ["step", "ok", "detail"],
    )
    summary.connection_ok = bool(steps) and all(s.ok for s in steps)
    if not summary.connection_ok:
        failed = next((s for s in steps if not s.ok), None)
        raise RuntimeError(
            f"practice {outcome.slug} is onboarded but its clearinghouse "
            f"{outcome.clearinghouse} cannot be reached: "
            + (f"{failed.step}: {failed.detail}" if failed else "no steps ran")
        )
    if outcome.is_sandbox:
        ref = load_practice(outcome.slug)
        trip = on_account(sandbox_round_trip, outcome.clearinghouse)(
            outcome.clearinghouse, outcome.slug, ref.name, ref.billing_npi
        )
        if trip.answer is None:
            raise RuntimeError(
                f"sandbox round trip for {outcome.slug}: no 271 came back for "
                f"{trip.uploaded} within {trip.seconds:.0f}s"
            )
        summary.round_trip = f"271 {trip.answer} in {trip.seconds:.1f}s"
    if create_schedules:
        from flows.serve import add_practice_schedules

        summary.schedules = add_practice_schedules(outcome.slug, outcome.timezone)
    report.counts.update(
        {
            **{f"rows {k}": v for k, v in outcome.summary.items() if isinstance(v, int)},
            "connection": "ok",
            "sandbox round trip": summary.round_trip,
        }
    )
    for line in summary.schedules:
        report.note(line)
    report.publish(f"{outcome.slug}-onboarding")
    logger.info("practice {} onboarded", outcome.slug)
    return summary


__all__ = ["OnboardingSummary", "onboard_practice"]
