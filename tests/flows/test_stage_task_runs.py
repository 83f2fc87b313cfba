"""daily_cycle_all's denial, statement and KPI stages start as many task runs for a firm of three
practices as for one (each step is one task for the whole group), and one practice failing in a
stage is reported for that practice while the others complete."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests._support.world import onboard_practice, start_sandbox, stop_sandbox

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from sandbox.clearinghouse import SandboxClearinghouse

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PRACTICE_FILES = (
    "riverside-family-medicine.yaml",
    "summit-orthopaedics.yaml",
    "conestoga-outpatient-rehab.yaml",
)
SEED = 4545


@dataclass
class Firm:
    engine: Engine
    slugs: list[str]
    today: date
    sandbox: SandboxClearinghouse

    def activate(self, slugs: list[str]) -> None:
        """Only `slugs` are active practices (daily_cycle_all runs the active ones)."""
        from sqlmodel import select

        from connectors.db import session_scope
        from rcm.models import Practice

        with session_scope(self.engine) as session:
            for practice in session.exec(select(Practice)).all():
                practice.active = practice.slug in slugs
                session.add(practice)


@pytest.fixture
def firm(engine: Engine, tmp_path: Path) -> Iterator[Firm]:
    """Three practices, each with a few patients and a day of charges, and the sandbox."""
    from connectors.db import session_scope
    from rcm.imports import import_charges

    today = date.today()
    worlds = [
        onboard_practice(engine, name, seed=SEED + n, patients=6, today=today)
        for n, name in enumerate(PRACTICE_FILES)
    ]
    for world in worlds:
        with session_scope(engine) as session:
            import_charges(
                session,
                world.slug,
                world.charges_csv(today - timedelta(days=1), 3),
                source_name="charges.csv",
            )
    clearinghouse = start_sandbox(tmp_path, worlds, SEED)
    try:
        yield Firm(engine, [w.slug for w in worlds], today, clearinghouse)
    finally:
        stop_sandbox(clearinghouse)


def _stage_task_names() -> set[str]:
    """The names of every task the denial, statement and KPI steps may start."""
    from prefect import Task

    from flows.denials import archive_letters
    from flows.kpis import archive_kpi_reports
    from flows.statements import archive_statements
    from tasks import denials, reports, statements
    from tasks.archive import archive_bytes
    from tasks.practices import load_practice

    names = {
        task.name
        for module in (denials, statements)
        for task in vars(module).values()
        if isinstance(task, Task)
    }
    names |= {
        task.name
        for task in (
            reports.denial_reports,
            reports.denials_opened,
            reports.denials_near_deadline,
            reports.compute_kpis,
            reports.compute_kpis_many,
            reports.render_kpi_html,
            reports.render_kpi_html_many,
            archive_letters,
            archive_statements,
            archive_kpi_reports,
            archive_bytes,
            load_practice,
        )
    }
    return names


def _task_runs(flow_run_id: uuid.UUID) -> Counter[str]:
    """How many task runs of each name the flow run started, as the Prefect API records them
    (task runs are recorded from the task engine's events, a moment after the flow ends)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
    from prefect.client.schemas.sorting import TaskRunSort

    from tests._support.prefect import flush_prefect_workers

    flush_prefect_workers()

    async def read() -> Counter[str]:
        names: Counter[str] = Counter()
        async with get_client() as client:
            offset = 0
            while True:
                page = await client.read_task_runs(
                    flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])),
                    sort=TaskRunSort.ID_DESC,
                    limit=200,
                    offset=offset,
                )
                names.update(run.name.rsplit("-", 1)[0] for run in page)
                offset += len(page)
                if len(page) < 200:
                    return names

    seen: Counter[str] = Counter()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        now = asyncio.run(read())
        if now and now == seen:
            return now
        seen = now
        time.sleep(1.0)
    return seen


def _stage_runs(state: Any) -> Counter[str]:
    names = _stage_task_names()
    counts = _task_runs(state.state_details.flow_run_id)
    return Counter({name: n for name, n in counts.items() if name in names})


def test_three_practices_start_as_many_stage_task_runs_as_one(firm: Firm) -> None:
    from flows.daily import daily_cycle_all
    from flows.responses import collect_responses_all

    first = firm.slugs[0]
    firm.activate([first])
    alone = daily_cycle_all(firm.today, return_state=True)
    assert alone.result() == {first: "Completed"}
    firm.activate(firm.slugs)
    together = daily_cycle_all(firm.today, return_state=True)
    assert together.result() == dict.fromkeys(sorted(firm.slugs), "Completed")

    one, three = _stage_runs(alone), _stage_runs(together)
    assert one, "no denial, statement or KPI task run was recorded"
    assert three == one
    assert "load-practice" not in three  # the practices are loaded once, for every stage
    assert all(n == 1 for n in three.values()), three

    # With work to do (the payers' answers posted: denials, patient balances), still one task
    # run per step for the whole firm.
    firm.sandbox.wait_for_uploads()
    firm.sandbox.run_cycle()
    collect_responses_all(firm.today)
    busy = daily_cycle_all(firm.today, return_state=True)
    assert busy.is_completed(), busy.message
    with_work = _stage_runs(busy)
    assert "archive-statements" in with_work, with_work  # the day's statements, all practices'
    assert all(n == 1 for n in with_work.values()), with_work


def test_a_retried_batch_does_not_redo_the_items_done_and_isolates_a_failing_practice() -> None:
    from prefect import flow, task
    from sqlalchemy.exc import OperationalError

    from tasks._runtime import retry_transient_database_errors
    from tasks.practices import for_each_item

    calls: Counter[str] = Counter()

    def work(item: str) -> str:
        calls[item] += 1
        if item == "b2" and calls[item] == 1:
            raise OperationalError("UPDATE", {}, Exception("database is locked"))
        if item == "c1":
            raise ValueError("not this one")
        return item.upper()

    @task(retries=2, retry_delay_seconds=0, retry_condition_fn=retry_transient_database_errors)
    def batch(items: dict[uuid.UUID, list[str]]) -> Any:
        return for_each_item(items, work)

    @flow
    def run_batch(items: dict[uuid.UUID, list[str]]) -> Any:
        return batch(items)

    a, b, c = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    outcome = run_batch({a: ["a1", "a2"], b: ["b1", "b2", "b3"], c: ["c1", "c2"]})
    assert outcome.done == {a: ["A1", "A2"], b: ["B1", "B2", "B3"], c: []}
    assert outcome.failed == {c: "ValueError: not this one"}
    # The retry after b2's dropped connection did a1, a2 and b1 no second time; c2 waits for
    # c1, which failed, like the rest of that practice's work.
    assert calls == {"a1": 1, "a2": 1, "b1": 1, "b2": 2, "b3": 1, "c1": 1}


def _latest_table(key: str) -> list[dict[str, Any]]:
    from prefect.client.orchestration import get_client

    async def read() -> Any:
        async with get_client() as client:
            response = await client._client.post(
                "/artifacts/latest/filter",
                json={"artifacts": {"key": {"any_": [key]}}, "limit": 1},
            )
        return response.json()

    [artifact] = asyncio.run(read())
    data = artifact["data"]
    return json.loads(data) if isinstance(data, str) else data


def test_a_practice_failing_in_a_stage_is_reported_and_the_others_complete(
    firm: Firm, monkeypatch: pytest.MonkeyPatch
) -> None:
    import rcm.reports
    from flows.daily import daily_cycle_all
    from tasks.practices import load_practices

    failing = firm.slugs[1]
    [broken] = [ref.id for ref in load_practices.fn([failing])]
    compute = rcm.reports.compute_kpis

    def compute_or_fail(session: Any, *, practice_id: uuid.UUID, **kwargs: Any) -> Any:
        if practice_id == broken:
            raise RuntimeError("the KPI queries broke")
        return compute(session, practice_id=practice_id, **kwargs)

    monkeypatch.setattr(rcm.reports, "compute_kpis", compute_or_fail)
    state = daily_cycle_all(firm.today, return_state=True)

    assert state.is_failed()
    message = str(state.message)
    assert "failed for 1 practice(s)" in message, message
    assert failing in message and "report_kpis failed" in message
    assert "the KPI queries broke" in message
    outcome = {row["practice"]: row["state"] for row in _latest_table("daily-cycle-all")}
    assert outcome[failing].startswith("Failed: report_kpis failed (computing KPIs: RuntimeError")
    assert {slug: outcome[slug] for slug in firm.slugs if slug != failing} == {
        slug: "Completed" for slug in firm.slugs if slug != failing
    }
    # The others' KPIs were published (one firm table, a row per KPI and practice).
    kpis = {row["practice"] for row in _latest_table("firm-kpis")}
    assert kpis == set(firm.slugs) - {failing}
