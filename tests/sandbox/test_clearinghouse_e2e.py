"""End to end over real SFTP: a paramiko client uploads an 837 the way the platform does (temporary
name, then rename), the sandbox answers in the inbound folders, a cycle brings the 835."""

from __future__ import annotations

import base64
import io
from datetime import timedelta
from pathlib import Path

import paramiko
import pytest

from connectors.clearinghouse import load_profile
from rcm.x12 import x271, x835, x999
from rcm.x12.x277ca import parse_277ca
from sandbox.accounts import SandboxAccount
from sandbox.clearinghouse import SandboxClearinghouse
from tests.sandbox.helpers import (
    LATER,
    NOW,
    REPO,
    SPECS_E2E,
    build_270,
    build_837,
    make_config,
    write_roster,
)

PASSWORD = "e2e-secret"


def connect(ch: SandboxClearinghouse) -> tuple[paramiko.SSHClient, paramiko.SFTPClient]:
    client = paramiko.SSHClient()
    host_key = ch.profile_overrides["host_key"]
    kind, blob = host_key.split()[:2]
    key = paramiko.PKey.from_type_string(kind, base64.b64decode(blob))
    client.get_host_keys().add(f"[{ch.host}]:{ch.port}", kind, key)
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    client.connect(
        ch.host, ch.port, username="rcm-demo", password=PASSWORD,
        allow_agent=False, look_for_keys=False, timeout=10,
    )  # fmt: skip
    return client, client.open_sftp()


def read(sftp: paramiko.SFTPClient, folder: str) -> dict[str, bytes]:
    out = {}
    for name in sorted(sftp.listdir(folder)):
        buffer = io.BytesIO()
        sftp.getfo(f"{folder}/{name}", buffer)
        out[name] = buffer.getvalue()
    return out


@pytest.mark.timeout(60)
def test_upload_over_sftp_gets_answers_in_inbound_folders(tmp_path: Path) -> None:
    root = tmp_path / "sandbox"
    write_roster(root)
    config = make_config(tmp_path)
    account = SandboxAccount("rcm-demo", password=PASSWORD)
    with SandboxClearinghouse(root, config, seed=3, accounts=[account], clock=lambda: NOW) as ch:
        profile = load_profile("sandbox", REPO / "config")
        overridden = profile.model_copy(update=ch.profile_overrides)
        assert overridden.port == ch.port and overridden.host_key_pins
        client, sftp = connect(ch)
        try:
            data = build_837(SPECS_E2E)
            with sftp.open(f"{profile.upload_folder}/.batch1.x12.part", "wb") as handle:
                handle.write(data)
            sftp.posix_rename(
                f"{profile.upload_folder}/.batch1.x12.part", f"{profile.upload_folder}/batch1.x12"
            )
            assert ch.wait_for_uploads(30)
            acks = read(sftp, "inbound/999")
            cas = read(sftp, "inbound/277")
            assert len(acks) == 1 and len(cas) == 1
            assert all(not name.startswith(".") for name in [*acks, *cas])
            [ack] = x999.parse_999(next(iter(acks.values())))
            assert ack.status == "A"
            [ca] = parse_277ca(next(iter(cas.values())))
            assert {c.patient_control_number: c.accepted for c in ca.claims} == {
                "E2E01": True,
                "E2E02": False,
            }
            written = ch.run_cycle(LATER + timedelta(hours=1))
            assert len(written) == 1
            eras = read(sftp, "inbound/835")
            [rem] = x835.parse_835(next(iter(eras.values())))
            assert [c.patient_control_number for c in rem.claims] == ["E2E01"]
            assert rem.total_paid == 70

            with sftp.open(f"{profile.upload_folder}/.elig.x12.part", "wb") as handle:
                handle.write(build_270([("W100000001", "DOE", "JANE")]))
            sftp.posix_rename(
                f"{profile.upload_folder}/.elig.x12.part", f"{profile.upload_folder}/elig.x12"
            )
            assert ch.wait_for_uploads(30)
            [eligibility] = read(sftp, "inbound/271").values()
            [response] = x271.parse_271(eligibility)
            assert response.coverage()["status"] == "active"
        finally:
            sftp.close()
            client.close()
    # The state is on disk: a new instance over the same root has nothing pending.
    again = SandboxClearinghouse(root, config, seed=3, accounts=[account])
    assert list(again.adjudicator.state.pending()) == []
