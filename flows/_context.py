"""Per-run values every flow derives the same way."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from prefect.runtime import flow_run


def run_source() -> str:
    """What ClaimEvents and audit rows name as their source: this flow run."""
    run_id = flow_run.id
    return f"flow-run:{run_id}" if run_id else "flow-run:local"


def practice_today(timezone: str, run_date: date | None) -> date:
    """`run_date`, or today in the practice's timezone."""
    if run_date is not None:
        return run_date
    return datetime.now(ZoneInfo(timezone)).date()


__all__ = ["practice_today", "run_source"]
