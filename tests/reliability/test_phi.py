"""PHI never leaves the places that hold it by necessity.

Scanned for every synthetic patient's name, birth date (every format), member ID, street address
and diagnosis code (tests/reliability/phi.py): every loguru record at every level (a sink added
through rcm.logging.add_sink, so what any sink would receive), Python log records, CLI output,
the Prefect API's logs, flow and task run state messages and artifacts, exception messages of
the domain's parsers and validator fed PHI-bearing broken files, and every file written under the
demo's var folder except the database and the X12 files the archive and the sandbox exchange.
The repository's config/, docs/ and infra/ are scanned for secrets.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.reliability.phi import PhiScanner, secret_findings

if TYPE_CHECKING:
    from tests.reliability.conftest import Firm

REPO = Path(__file__).resolve().parents[2]
FIGURES: dict[str, int] = {}


class LogCapture:
    """Every loguru record at every level, as the sinks receive it (after redaction)."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def __call__(self, message: Any) -> None:
        self.lines.append(str(message))

    @property
    def text(self) -> str:
        return "".join(self.lines)


@pytest.fixture
def all_logs(monkeypatch: pytest.MonkeyPatch) -> Iterator[LogCapture]:
    """A TRACE-level sink that survives configure_logging(force=True) (which the demo calls)."""
    import rcm.logging as rcm_logging

    capture = LogCapture()
    state = {"id": rcm_logging.add_sink(capture, level="TRACE", format="{message} | {extra}\n")}
    original = rcm_logging.configure_logging

    def configure_logging(**kwargs: Any) -> None:
        original(**kwargs)
        if kwargs.get("force"):
            state["id"] = rcm_logging.add_sink(
                capture, level="TRACE", format="{message} | {extra}\n"
            )

    monkeypatch.setattr(rcm_logging, "configure_logging", configure_logging)
    try:
        yield capture
    finally:
        import sys
        from contextlib import suppress

        with suppress(ValueError):
            rcm_logging.logger.remove(state["id"])
        # The demo re-installs the stderr sink on the stream pytest captured for this test, which
        # pytest closes; put it back on the real stderr so later tests can log.
        saved, sys.stderr = sys.stderr, sys.__stderr__
        try:
            original(force=True)
        finally:
            sys.stderr = saved


class PrefectRecords:
    """Every log line, flow/task run state message and artifact the Prefect API holds, and how
    many of each it held (so that a scan of them is never a scan of nothing)."""

    def __init__(self, text: str, counts: dict[str, int]) -> None:
        self.text = text
        self.counts = counts

    def assert_complete(self) -> None:
        for kind in ("logs", "flow runs", "task runs", "artifacts"):
            assert self.counts[kind] > 0, f"the Prefect API holds no {kind}: {self.counts}"


def prefect_everything() -> PrefectRecords:
    """Every log line, flow/task run state message and artifact the Prefect API holds."""
    from prefect.client.orchestration import get_client

    from tests._support.prefect import flush_prefect_workers

    flush_prefect_workers()  # what this process still had queued reaches the API first

    counts = {"logs": 0, "flow runs": 0, "task runs": 0, "artifacts": 0}
    page = 200

    async def read() -> str:
        from prefect.client.schemas.objects import Artifact
        from prefect.client.schemas.sorting import FlowRunSort, LogSort, TaskRunSort

        parts: list[str] = []

        async def every(kind: str, read_page: Any) -> list[Any]:
            found: list[Any] = []
            while True:
                batch = await read_page(len(found))
                found += batch
                if len(batch) < page:
                    break
            counts[kind] = len(found)
            return found

        async with get_client() as client:
            for log in await every(
                "logs",
                lambda at: client.read_logs(limit=page, offset=at, sort=LogSort.TIMESTAMP_ASC),
            ):
                parts.append(log.message)
            for run in await every(
                "flow runs",
                lambda at: client.read_flow_runs(limit=page, offset=at, sort=FlowRunSort.ID_DESC),
            ):
                parts.append(f"{run.name} {run.parameters} {run.state and run.state.message}")
            for task_run in await every(
                "task runs",
                lambda at: client.read_task_runs(limit=page, offset=at, sort=TaskRunSort.ID_DESC),
            ):
                parts.append(f"{task_run.name} {task_run.state and task_run.state.message}")

            # Every artifact, flow-level ones included: `read_artifacts` always sends flow-run
            # and task-run filters, and with them the server returns task-level artifacts only.
            async def artifacts(at: int) -> list[Artifact]:
                response = await client.request(
                    "POST",
                    "/artifacts/filter",
                    json={"sort": "ID_DESC", "limit": page, "offset": at},
                )
                return Artifact.model_validate_list(response.json())

            for artifact in await every("artifacts", artifacts):
                parts.append(f"{artifact.key} {artifact.description} {artifact.data}")
        return "\n".join(str(p) for p in parts)

    text = asyncio.run(read())
    for kind, count in counts.items():
        key = f"Prefect {kind} scanned"
        FIGURES[key] = FIGURES.get(key, 0) + count
    return PrefectRecords(text, counts)


def _assert_clean(leaks: list[Any], what: str) -> None:
    FIGURES["leaks found"] = FIGURES.get("leaks found", 0) + len(leaks)
    FIGURES["sources checked"] = FIGURES.get("sources checked", 0) + 1
    assert not leaks, f"PHI in {what}:\n" + "\n".join(str(x) for x in leaks[:15])


@pytest.mark.slow
@pytest.mark.usefixtures("prefect_api_runs")
def test_the_demo_writes_no_phi_to_logs_artifacts_output_or_files(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    all_logs: LogCapture,
) -> None:
    from typer.testing import CliRunner

    from cli.demo import DEMO_SEED
    from cli.main import app
    from rcm.onboarding.schema import load_onboarding_file
    from rcm.payers import load_payers
    from rcm.settings import get_settings
    from sandbox.synthetic import generate_practice

    patients, days = 4, 1
    # A real secret for this run (server and client read the same variable): it must never be
    # logged, printed or published.
    password = f"pw-{uuid.uuid4().hex}"
    monkeypatch.setenv("RCM_SANDBOX_SFTP_PASSWORD", password)
    caplog.set_level(logging.DEBUG)
    workdir = tmp_path / "demo"
    result = CliRunner().invoke(
        app,
        [
            "demo",
            "--workdir",
            str(workdir),
            "--patients",
            str(patients),
            "--days",
            str(days),
            "--encounters-per-day",
            "2",
        ],
    )
    assert result.exit_code in (0, 1), result.output
    assert "Claims:" in result.output

    payers = {p.key: p for p in load_payers()}
    first_day = date.today() - timedelta(days=days)
    worlds = [
        generate_practice(
            load_onboarding_file(path), payers, seed=DEMO_SEED, patients=patients, today=first_day
        )
        for path in sorted((get_settings().config_dir / "practices").glob("*.yaml"))
    ]
    scanner = PhiScanner.from_worlds(worlds)
    assert scanner.count > 50

    # The scanner finds what it looks for: the demo's own X12 carries the PHI.
    sent = [p for p in (workdir / "sandbox").rglob("*_837*") if p.is_file()]
    assert sent and any(scanner.scan_file(p) for p in sent), "the scanner sees PHI in an 837"

    prefect = prefect_everything()
    prefect.assert_complete()
    prefect_text = prefect.text
    _assert_clean(scanner.scan_text(all_logs.text, "loguru (all levels)"), "loguru records")
    assert "submission done" in all_logs.text, "the capture saw the flows' records"
    _assert_clean(scanner.scan_text(caplog.text, "python logging"), "Python log records")
    _assert_clean(scanner.scan_text(result.output, "CLI output"), "the demo's output")
    _assert_clean(scanner.scan_text(prefect_text, "Prefect API"), "Prefect logs/artifacts")
    everything = "\n".join([all_logs.text, caplog.text, result.output, prefect_text])
    assert "authenticate" in result.output, "the demo logged in with the secret"
    assert password not in everything, "the SFTP password was logged, printed or published"
    files = [p for p in workdir.rglob("*") if p.is_file() and not p.name.endswith(".db")]
    assert not [p for p in files if password.encode() in p.read_bytes()], "password in a file"
    # PHI by necessity: the inbox holds the EHR's own exports (input, like the database); the
    # archive and the sandbox hold the X12 exchanged; the sandbox's payers keep their member
    # roster and adjudication state (the other party's records, not the platform's). Everything
    # else (logs, archive sidecars, reports, statements' metadata, Prefect's files) is scanned.
    sandbox = workdir / "sandbox"
    leaks = scanner.scan_tree(
        workdir,
        skip=[workdir / "inbox", sandbox / "roster.csv", sandbox / ".sandbox" / "state.json"],
        x12_dirs=[workdir / "archive", sandbox],
    )
    _assert_clean(leaks, "files under the demo's var folder")
    FIGURES["demo files scanned"] = scanner.scanned_files
    FIGURES["demo bytes scanned"] = scanner.scanned_bytes
    FIGURES["needles"] = scanner.count


@pytest.mark.usefixtures("prefect_api_runs")
def test_flow_logs_errors_and_quarantine_reasons_carry_no_phi(
    firm: Firm, all_logs: LogCapture, caplog: pytest.LogCaptureFixture
) -> None:
    """A submission and a collection with a broken, PHI-bearing 835 and a PHI-bearing 837
    fed to the parsers and the pyx12 gate: logs, the quarantine reason and every exception
    message stay free of patient data."""
    from sqlmodel import Session, select

    from flows.responses import collect_responses
    from flows.submission import submit_claims
    from rcm.models import Interchange
    from rcm.x12.validate import validate

    caplog.set_level(logging.DEBUG)
    scanner = PhiScanner.from_worlds(firm.worlds.values())
    slug = firm.slugs[0]
    submit_claims(slug, firm.today)
    firm.sandbox.wait_for_uploads()
    paid = firm.sandbox.run_cycle()
    assert paid, "the sandbox wrote 835s"

    # An 835 whose amounts no longer balance, still full of the patients' data.
    good = paid[0].read_bytes()
    broken = good.replace(b"BPR*I*", b"BPR*I*9", 1).replace(b"BPR*H*", b"BPR*H*9", 1)
    assert broken != good
    folder = firm.account_dir / "inbound" / "835"
    (folder / "835_broken_000000099.x12").write_bytes(broken)
    # And one cut in the middle of a patient's name.
    nm1 = good.find(b"NM1*QC*")
    (folder / "835_cut_000000098.x12").write_bytes(good[: nm1 + 12])
    summary = collect_responses(slug, firm.today)
    assert summary.quarantined >= 2, summary

    messages: list[str] = []
    with Session(firm.engine) as session:
        messages += [i.error or "" for i in session.exec(select(Interchange)).all()]
    sent = firm.outbound_837s()[0].read_bytes()
    assert scanner.scan_text(sent.decode("latin-1"), "837"), "the 837 carries PHI"
    for name, data in [
        ("837 cut", sent[: len(sent) // 2]),
        ("837 bad", sent.replace(b"*D8*", b"*D8*1", 3)),
        ("835 bad", broken),
        ("835 cut", good[: nm1 + 12]),
    ]:
        messages += _exception_messages(name, data)
        report = validate(data, file_name=name)
        messages += [issue.describe() for issue in report.errors]
        messages += [repr(issue) for issue in report.errors]
        messages += [report.validator_failure or "", *report.notes]
        if report.errors:
            try:
                report.raise_for_errors()
            except Exception as exc:
                messages.append(str(exc))

    FIGURES["exception messages scanned"] = FIGURES.get("exception messages scanned", 0) + len(
        messages
    )
    _assert_clean(scanner.scan_text("\n".join(messages), "exceptions"), "exception messages")
    _assert_clean(scanner.scan_text(all_logs.text, "loguru"), "loguru records")
    _assert_clean(scanner.scan_text(caplog.text, "python logging"), "Python log records")
    prefect = prefect_everything()
    prefect.assert_complete()
    _assert_clean(scanner.scan_text(prefect.text, "Prefect API"), "Prefect logs/artifacts")


def _exception_messages(name: str, data: bytes) -> list[str]:
    from rcm.x12.x835 import parse_835
    from rcm.x12.x837 import parse_837

    out = []
    for parse in (parse_835, parse_837):
        try:
            parse(data, file_name=name)
        except Exception as exc:
            out.append(f"{type(exc).__name__}: {exc}")
    return out


SECRET_SCAN_ROOTS = ("config", "docs", "infra", "README.md", "Makefile", ".ci", "benchmarks")


def test_config_docs_and_infra_hold_no_secrets() -> None:
    findings: list[str] = []
    files = 0
    for root in SECRET_SCAN_ROOTS:
        base = REPO / root
        paths = [base] if base.is_file() else sorted(p for p in base.rglob("*") if p.is_file())
        for path in paths:
            if path.suffix in {".csv", ".pyc"} or "__pycache__" in path.parts:
                continue
            files += 1
            text = path.read_text(encoding="utf-8", errors="replace")
            findings += secret_findings(text, str(path.relative_to(REPO)))
    assert files > 10
    FIGURES["config/doc files scanned for secrets"] = files
    assert not findings, "secrets in the repository:\n" + "\n".join(findings)


def test_the_secret_scanner_finds_what_it_should() -> None:
    assert secret_findings("password: hunter2", "x")
    assert secret_findings("-----BEGIN OPENSSH PRIVATE KEY-----", "x")
    assert not secret_findings('secret_ref: "env:RCM_SFTP_KEY_ACME"', "x")
    assert not secret_findings("password: sandbox-demo", "x")


def test_logged_secrets_and_phi_fields_are_masked(all_logs: LogCapture) -> None:
    """The redaction filter is the safety net: PHI-named extras, birth dates and member IDs in
    a message, and secret-named extras never reach a sink."""
    from rcm.logging import logger

    logger.bind(
        password="hunter2-secret", member_id="W123456789", patient_name="Ada Lovelace"
    ).info("checked 1EG4TE5MK73 born 1961-07-14 (DMG*D8*19610714)")
    text = all_logs.text
    for value in ("hunter2-secret", "W123456789", "Ada Lovelace", "1EG4TE5MK73", "1961-07-14"):
        assert value not in text, value
