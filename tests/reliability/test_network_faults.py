"""Network faults during whole flow runs (tests/connectors covers each fault against one
SftpSession; tests/flows covers a dropped upload and a wrong pinned key before the run starts).

Here the fault strikes in the middle of a run, after the run connected successfully: a stall past
the read timeout, a full disk, credentials that expire, a host key that changes, a connection
dropped during a download. Each gives the documented behaviour (docs/connectors.md): transient
faults are retried and land once; permanent ones stop the run at once with a message naming the
cause, and nothing partial is ever left under a name the clearinghouse picks up. A rerun after
the fault clears sends each file once.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

import pytest

from tests.reliability.faults import INJECTED
from tests.reliability.invariants import check_invariants

if TYPE_CHECKING:
    from tests.reliability.conftest import Firm

pytestmark = [pytest.mark.usefixtures("prefect_api_lean")]


def _after_build(monkeypatch: pytest.MonkeyPatch, fault: Any) -> None:
    """Turn `fault` on once the run has connected, batched and built its file."""
    import tasks.claims

    original = tasks.claims.build_and_gate_many

    def build_and_gate_many(*args: Any, **kwargs: Any) -> Any:
        result = original(*args, **kwargs)
        INJECTED["network faults"] += 1
        fault()
        return result

    monkeypatch.setattr(tasks.claims, "build_and_gate_many", build_and_gate_many)


def _sessions(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every SFTP login attempt (to count retries)."""
    from connectors.sftp import SftpSession

    attempts: list[str] = []
    original = SftpSession.connect

    def connect(self: SftpSession) -> None:
        attempts.append("connect")
        original(self)

    monkeypatch.setattr(SftpSession, "connect", connect)
    return attempts


def _claims_by_status(firm: Firm) -> dict[str, int]:
    from collections import Counter

    from sqlmodel import Session, select

    from rcm.models import Claim

    with Session(firm.engine) as session:
        return dict(Counter(str(c.status) for c in session.exec(select(Claim))))


def _rerun_sends_once(firm: Firm) -> None:
    from flows.submission import submit_claims

    firm.sandbox.server.faults.clear()
    summary = submit_claims(firm.slugs[0], firm.today)
    assert summary.files_uploaded == 1, summary
    assert submit_claims(firm.slugs[0], firm.today).files_uploaded == 0
    figures = check_invariants(firm, expect_all_submitted=True)
    assert figures.files == 1 and len(firm.arrivals) == 1


def test_stall_past_the_read_timeout_mid_upload_is_retried_and_lands_once(
    firm: Firm, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flows.submission import submit_claims
    from tasks.clearinghouse import set_profile_overrides

    set_profile_overrides("sandbox", firm.sandbox.profile_overrides | {"read_timeout": 0.5})
    attempts = _sessions(monkeypatch)
    server = firm.sandbox.server

    def stall() -> None:
        server.faults.stall_seconds = 5
        threading.Timer(1.2, lambda: setattr(server.faults, "stall_seconds", 0.0)).start()

    _after_build(monkeypatch, stall)
    summary = submit_claims(firm.slugs[0], firm.today)
    assert summary.files_uploaded == 1
    assert len(attempts) >= 3, "connect, a timed-out upload, a retried upload"
    figures = check_invariants(firm, expect_all_submitted=True)
    assert figures.files == 1 and len(firm.arrivals) == 1


def test_full_disk_stops_the_run_clearly_and_leaves_no_file(
    firm: Firm, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flows.submission import submit_claims

    _after_build(monkeypatch, lambda: setattr(firm.sandbox.server.faults, "disk_full", True))
    state = submit_claims(firm.slugs[0], firm.today, return_state=True)
    assert state.is_failed()
    with pytest.raises(Exception, match=r"could not be sent.*(holds 0 of|[Ff]ailure)"):
        state.result()
    assert firm.outbound_837s() == [] and firm.arrivals == []
    check_invariants(firm, after_crash=True)
    assert "SUBMITTED" not in _claims_by_status(firm)
    _rerun_sends_once(firm)


def test_credentials_expiring_mid_run_stop_it_at_once_without_retries(
    firm: Firm, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flows.submission import submit_claims

    attempts = _sessions(monkeypatch)
    _after_build(monkeypatch, lambda: setattr(firm.sandbox.server.faults, "refuse_auth", True))
    state = submit_claims(firm.slugs[0], firm.today, return_state=True)
    assert state.is_failed()
    with pytest.raises(Exception, match=r"(?i)auth|credential|refused"):
        state.result()
    assert len(attempts) == 2, "connect, then one refused login: permanent faults are not retried"
    assert firm.outbound_837s() == [] and firm.arrivals == []
    assert "SUBMITTED" not in _claims_by_status(firm)
    check_invariants(firm)
    _rerun_sends_once(firm)


def test_host_key_changing_mid_run_stops_it_before_any_byte_is_sent(
    firm: Firm, monkeypatch: pytest.MonkeyPatch
) -> None:
    import paramiko

    from flows.submission import submit_claims

    server = firm.sandbox.server
    genuine = server.host_key
    attempts = _sessions(monkeypatch)
    original_hook = server.on_upload
    _after_build(monkeypatch, lambda: setattr(server, "_host_key", paramiko.RSAKey.generate(1024)))
    state = submit_claims(firm.slugs[0], firm.today, return_state=True)
    assert state.is_failed()
    with pytest.raises(Exception, match=r"(?i)host key"):
        state.result()
    assert len(attempts) == 2, "a changed host key is permanent: not retried"
    assert server.on_upload is original_hook and firm.arrivals == []
    assert firm.remote_files("outbound") == [], "not even a temporary file"
    assert "SUBMITTED" not in _claims_by_status(firm)
    server._host_key = genuine
    _rerun_sends_once(firm)


def test_connection_dropped_during_download_is_retried_and_posted_once(
    firm: Firm, monkeypatch: pytest.MonkeyPatch
) -> None:
    from connectors.errors import TransientConnectorError
    from connectors.sftp import SftpSession
    from flows.responses import collect_responses
    from flows.submission import submit_claims

    submit_claims(firm.slugs[0], firm.today)
    firm.sandbox.wait_for_uploads()
    assert firm.sandbox.run_cycle()
    original = SftpSession.download
    dropped: list[str] = []

    def download(self: SftpSession, path: str, size: int | None = None) -> bytes:
        if "835" in path and not dropped:
            dropped.append(path)
            INJECTED["network faults"] += 1
            self.close()  # the connection is gone mid-transfer
            raise TransientConnectorError(f"{self.where}: download {path}: connection lost")
        return original(self, path, size)

    monkeypatch.setattr(SftpSession, "download", download)
    first = collect_responses(firm.slugs[0], firm.today)
    assert dropped and first.processed >= 3 and first.quarantined == 0
    second = collect_responses(firm.slugs[0], firm.today)
    assert second.processed == 0 and second.downloaded == 0
    figures = check_invariants(firm, expect_all_submitted=True)
    assert figures.remittances >= 1
