"""`rcm clearinghouse list|check` and `rcm sandbox start`, through typer's CliRunner."""

from __future__ import annotations

import json
import shutil
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from cli.clearinghouse import app as clearinghouse_app
from cli.sandbox import app as sandbox_app
from rcm.settings import reset_settings_cache
from sandbox.sftp_server import SandboxSftpServer
from tests.connectors.helpers import REPO_CONFIG, free_port

runner = CliRunner()


@pytest.fixture
def config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of config/ the test may edit, named by RCM_CONFIG_DIR."""
    target = tmp_path / "config"
    shutil.copytree(REPO_CONFIG / "clearinghouses", target / "clearinghouses")
    monkeypatch.setenv("RCM_CONFIG_DIR", str(target))
    monkeypatch.setenv("COLUMNS", "200")
    reset_settings_cache()
    return target


def _point_sandbox_at(config_dir: Path, port: int) -> None:
    path = config_dir / "clearinghouses" / "sandbox.yaml"
    raw = yaml.safe_load(path.read_text())
    raw["port"] = port
    raw["connect_timeout"] = 3
    path.write_text(yaml.safe_dump(raw))


def test_list_json(config_dir: Path) -> None:
    result = runner.invoke(clearinghouse_app, ["list", "--json"])
    assert result.exit_code == 0, result.output
    rows = {row["name"]: row for row in json.loads(result.output)}
    assert {"sandbox", "availity", "office-ally"} <= set(rows)
    assert rows["sandbox"]["secret_set"] is True  # the sandbox's documented default
    assert rows["availity"]["needs_confirmation"] is True
    assert rows["availity"]["host_key_pinned"] is False


def test_list_table(config_dir: Path) -> None:
    result = runner.invoke(clearinghouse_app, ["list"])
    assert result.exit_code == 0, result.output
    assert "sandbox" in result.output and "sftp.waystar.com:22" in result.output


def test_check_against_a_running_sandbox(
    config_dir: Path, sandbox_server: SandboxSftpServer
) -> None:
    _point_sandbox_at(config_dir, sandbox_server.port)
    result = runner.invoke(clearinghouse_app, ["check", "sandbox"])
    assert result.exit_code == 0, result.output
    assert "host key matches" in result.output
    assert "list inbound/835" in result.output
    assert "FAILED" not in result.output

    as_json = runner.invoke(clearinghouse_app, ["check", "sandbox", "--json"])
    report = json.loads(as_json.output)
    assert report["ok"] is True and report["found_via"] == "profile"
    assert sandbox_server.host_key_fingerprint in {s["detail"] for s in report["steps"]}


def test_check_fails_with_the_reason(config_dir: Path, sandbox_server: SandboxSftpServer) -> None:
    _point_sandbox_at(config_dir, sandbox_server.port)
    sandbox_server.faults.refuse_auth = True
    result = runner.invoke(clearinghouse_app, ["check", "sandbox"])
    assert result.exit_code == 1
    assert "authenticate failed" in result.output

    _point_sandbox_at(config_dir, free_port())
    result = runner.invoke(clearinghouse_app, ["check", "sandbox"])
    assert result.exit_code == 1
    assert "connect failed" in result.output


def test_check_unknown_host_key_of_a_template(config_dir: Path) -> None:
    result = runner.invoke(clearinghouse_app, ["check", "availity"])
    assert result.exit_code == 1
    assert "no host key pinned" in result.output


def test_check_unknown_name(config_dir: Path) -> None:
    result = runner.invoke(clearinghouse_app, ["check", "no-such-clearinghouse"])
    assert result.exit_code == 1
    assert "no clearinghouse profile" in result.output


def test_sandbox_start_serves_until_stopped(config_dir: Path, tmp_path: Path) -> None:
    """`rcm sandbox start` in a thread; the sandbox profile then connects to it."""
    from cli.sandbox import request_stop
    from connectors.clearinghouse import load_profile
    from connectors.sftp import check_connection

    port = free_port()
    _point_sandbox_at(config_dir, port)
    output: dict[str, str] = {}

    def serve() -> None:
        result = runner.invoke(
            sandbox_app, ["start", "--root", str(tmp_path / "sftp"), "--no-adjudicate"]
        )
        output["text"] = result.output
        output["code"] = str(result.exit_code)

    thread = threading.Thread(target=serve)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        steps = check_connection(load_profile("sandbox"))
        while not all(step.ok for step in steps) and time.monotonic() < deadline:
            time.sleep(0.1)
            steps = check_connection(load_profile("sandbox"))
        assert all(step.ok for step in steps), steps
    finally:
        request_stop()
        thread.join(10)
    assert output["code"] == "0", output["text"]
    assert f"127.0.0.1:{port}" in output["text"]
    assert "SHA256:" in output["text"] and "rcm-demo" in output["text"]
    assert (tmp_path / "sftp" / "rcm-demo" / "inbound" / "835").is_dir()


def test_a_practice_slug_resolves_to_its_clearinghouse(
    config_dir: Path, session: Any, sandbox_server: SandboxSftpServer
) -> None:
    from cli.clearinghouse import resolve_profile
    from rcm.models import Practice

    session.add(
        Practice(
            slug="acme-clinic",
            name="Acme Clinic",
            billing_npi="1234567893",
            tin="123456789",
            taxonomy_code="207Q00000X",
            address1="1 Main St",
            city="Springfield",
            state="NY",
            zip="10001",
            clearinghouse="sandbox",
            clearinghouse_account="acme",
        )
    )
    session.commit()
    profile, via = resolve_profile("acme-clinic")
    assert (profile.name, via) == ("sandbox", "practice acme-clinic")
    assert resolve_profile("availity")[1] == "profile"

    _point_sandbox_at(config_dir, sandbox_server.port)
    result = runner.invoke(clearinghouse_app, ["check", "acme-clinic", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["found_via"] == "practice acme-clinic"
