"""Deployments: every flow, each practice's schedules in its own timezone."""

from __future__ import annotations

from flows.serve import (
    SCHEDULED_FLOWS,
    UNSCHEDULED_FLOWS,
    PracticeSchedule,
    build_deployments,
)

PRACTICES = [
    PracticeSchedule("riverside-family-medicine", "America/New_York"),
    PracticeSchedule("summit-orthopaedics", "America/Denver"),
]


def test_every_flow_is_deployed_with_one_schedule_per_practice() -> None:
    deployments = {d.name: d for d in build_deployments(PRACTICES)}
    assert set(deployments) == {f.deployment for f in (*SCHEDULED_FLOWS, *UNSCHEDULED_FLOWS)}
    crons = {f.deployment: f.cron for f in SCHEDULED_FLOWS}
    assert crons["check-eligibility"].startswith("30 5 ")
    assert crons["submit-claims"].startswith("0 19 ")
    assert crons["collect-responses"] == "0 8-18/2 * * 1-5"
    for item in SCHEDULED_FLOWS:
        schedules = deployments[item.deployment].schedules
        assert len(schedules) == len(PRACTICES)
        by_practice = {s.parameters["practice"]: s for s in schedules}
        assert by_practice["summit-orthopaedics"].schedule.timezone == "America/Denver"
        assert by_practice["riverside-family-medicine"].schedule.cron == item.cron
    assert not deployments["daily-cycle"].schedules


def test_flow_parameters_are_described_for_the_ui() -> None:
    from flows.submission import submit_claims

    schema = submit_claims.parameters.model_dump()["properties"]
    assert set(schema) == {"practice", "run_date", "interchange_id"}
    assert all(schema[name].get("description") for name in schema)


def test_infra_prefect_yaml_defines_the_same_deployments_as_serve() -> None:
    from pathlib import Path

    import yaml

    doc = yaml.safe_load((Path(__file__).parents[2] / "infra" / "prefect.yaml").read_text())
    entries = {d["name"]: d for d in doc["deployments"]}
    served = {f.deployment: f for f in (*SCHEDULED_FLOWS, *UNSCHEDULED_FLOWS)}
    assert set(entries) == set(served)
    for name, item in served.items():
        module, function = entries[name]["entrypoint"].split(":")
        assert module == item.flow.fn.__module__.replace(".", "/") + ".py", name
        assert function == item.flow.fn.__name__, name
