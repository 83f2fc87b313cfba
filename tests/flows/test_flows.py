"""The flows against the sandbox clearinghouse under a real (temporary) Prefect API.

Each test runs whole flows; reruns with the same parameters must change nothing (no new
interchanges, uploads, ledger rows, control numbers).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.flows.conftest import BillingWorld

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _uploaded(world: BillingWorld) -> list[str]:
    return world.remote_files("outbound")


def test_daily_cycle_then_rerunning_every_flow_does_nothing_new(
    billing_world: BillingWorld,
) -> None:
    from flows.daily import daily_cycle
    from flows.denials import work_denials
    from flows.eligibility import check_eligibility
    from flows.kpis import report_kpis
    from flows.responses import collect_responses
    from flows.statements import send_statements
    from flows.submission import submit_claims

    world = billing_world
    cycle = daily_cycle(world.slug, world.today)
    assert not cycle.errors
    world.sandbox.wait_for_uploads()
    world.sandbox.run_cycle()
    collected = collect_responses(world.slug, world.today)
    assert collected.processed >= 1, collected
    assert "835" in collected.interchanges
    work_denials(world.slug, world.today)
    statements = send_statements(world.slug, world.today)
    assert statements.statements == statements.new_statements
    # Posting the ERA and working denials create claims of their own (secondary claims for the
    # patient's second plan, corrected claims): the next submission sends those, once.
    follow_up = submit_claims(world.slug, world.today)
    assert follow_up.claims_created == 0  # no new encounters: only posting's and the desk's claims
    world.sandbox.wait_for_uploads()
    collect_responses(world.slug, world.today)  # their 999 and 277CA

    before = world.counts()
    uploads = _uploaded(world)
    assert any("_837P_" in name for name in uploads), uploads
    assert before["remittances"] >= 1 and before["ledger_entries"] > before["claims"]

    again = submit_claims(world.slug, world.today)
    assert (again.claims_created, again.files_uploaded) == (0, 0)
    assert collect_responses(world.slug, world.today).processed == 0
    assert work_denials(world.slug, world.today).appeals == 0
    assert send_statements(world.slug, world.today).new_statements == 0
    report = report_kpis(world.slug, world.today)
    assert report.kpi("first_pass_acceptance_rate").denominator is not None

    assert world.counts() == before
    assert _uploaded(world) == uploads

    assert check_eligibility(world.slug, world.today).files_uploaded == 0
    assert world.counts() == before


def test_dropped_connection_is_retried_and_the_file_sent_once(billing_world: BillingWorld) -> None:
    from flows.submission import submit_claims

    world = billing_world
    world.sandbox.server.faults.drop_after_bytes = 300
    summary = submit_claims(world.slug, world.today)
    assert world.sandbox.server.faults.drop_after_bytes is None, "the fault fired"
    assert summary.files_uploaded >= 1
    claim_files = [n for n in _uploaded(world) if "_837" in n]
    assert len(claim_files) == summary.files_uploaded


def test_wrong_host_key_fails_the_run_and_changes_nothing(billing_world: BillingWorld) -> None:
    import paramiko

    from connectors.sftp import public_key_line
    from flows.submission import submit_claims
    from tasks.clearinghouse import set_profile_overrides

    world = billing_world
    before = world.counts()
    wrong = public_key_line(paramiko.RSAKey.generate(1024))
    set_profile_overrides("sandbox", world.sandbox.profile_overrides | {"host_key": wrong})
    state = submit_claims(world.slug, world.today, return_state=True)
    assert state.is_failed()
    with pytest.raises(Exception, match=r"(?i)host key"):
        state.result()
    assert world.counts() == before
    assert _uploaded(world) == []


def test_unreadable_file_is_quarantined_once(billing_world: BillingWorld) -> None:
    from sqlmodel import Session, select

    from connectors.archive import open_archive
    from flows.responses import collect_responses
    from rcm.models import Interchange, InterchangeStatus

    world = billing_world
    folder = world.root / "sandbox" / "rcm-demo" / "inbound" / "835"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "835_broken_000000001.x12").write_bytes(b"ISA*this is not an 835~")
    first = collect_responses(world.slug, world.today, kinds=["835"])
    assert first.quarantined == 1
    second = collect_responses(world.slug, world.today, kinds=["835"])
    assert second.quarantined == 0 and second.downloaded == 0
    with Session(world.engine) as session:
        rows = session.exec(
            select(Interchange).where(Interchange.status == InterchangeStatus.QUARANTINED)
        ).all()
    assert len(rows) == 1 and rows[0].error
    assert rows[0].archive_key and rows[0].archive_key.startswith("quarantine/")
    assert open_archive().get(rows[0].archive_key).startswith(b"ISA*this")


def test_onboarding_checks_the_clearinghouse_and_round_trips_through_the_sandbox(
    billing_world: BillingWorld,
) -> None:
    from flows.onboarding import onboard_practice
    from rcm.settings import get_settings

    world = billing_world
    path = get_settings().config_dir / "practices" / "summit-orthopaedics.yaml"
    first = onboard_practice(str(path))
    assert first.connection_ok
    assert first.round_trip.startswith("271 "), first.round_trip
    assert all("not registered" in line for line in first.schedules)
    counts = world.counts()
    again = onboard_practice(str(path), create_schedules=False)
    assert again.changes.get("created") == 0 and again.changes.get("updated") == 0
    assert world.counts() == counts
    assert not world.remote_files("inbound/271"), "the probe's answer was taken back"


def _firm_artifact_keys() -> set[str]:
    import asyncio

    from prefect.client.orchestration import get_client

    async def read() -> set[str]:
        # Not client.read_artifacts: on Prefect 3.8 its empty flow-run and task-run filters
        # drop every artifact created by a flow rather than a task.
        async with get_client() as client:
            response = await client._client.post(
                "/artifacts/filter", json={"limit": 200, "sort": "ID_DESC"}
            )
        return {a["key"] for a in response.json() if a.get("key")}

    return asyncio.run(read())


def test_daily_cycle_all_in_stages_runs_the_day_once(billing_world: BillingWorld) -> None:
    from flows.daily import daily_cycle_all
    from flows.responses import collect_responses_all

    world = billing_world
    assert daily_cycle_all(world.today) == {world.slug: "Completed"}
    uploads = _uploaded(world)
    assert any("_837P_" in name for name in uploads), uploads
    world.sandbox.wait_for_uploads()
    world.sandbox.run_cycle()
    collected = collect_responses_all(world.today)[world.slug]
    assert collected.processed >= 1 and "835" in collected.interchanges, collected
    # The next day's run sends what posting created (secondary claims), and their answers come.
    assert daily_cycle_all(world.today) == {world.slug: "Completed"}
    world.sandbox.wait_for_uploads()
    collect_responses_all(world.today)

    before, uploads = world.counts(), _uploaded(world)
    assert before["remittances"] >= 1 and before["ledger_entries"] > before["claims"]
    assert daily_cycle_all(world.today) == {world.slug: "Completed"}
    assert collect_responses_all(world.today)[world.slug].processed == 0
    assert world.counts() == before
    assert _uploaded(world) == uploads
    # One artifact per kind for the whole firm, each row naming its practice.
    keys = _firm_artifact_keys()
    assert {"firm-claims-submitted", "firm-held-claims", "firm-kpis", "firm-submission"} <= keys
