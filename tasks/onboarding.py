"""The sandbox round trip of onboarding: a probe 270 goes up, the sandbox's 271 comes back.

It proves what a connection check cannot: the account can write to its upload folder, the
clearinghouse picks the file up, answers, and we can read the answer. The probe asks about a
member no payer knows, records nothing in the database, and removes its answer from the
sandbox so that no collector ever sees it. Only for sandbox profiles.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass

from prefect import task
from prefect.cache_policies import NO_CACHE

from connectors.sftp import SftpSession
from rcm.models.types import utcnow
from tasks._runtime import CONNECTOR_TASK_OPTIONS
from tasks.clearinghouse import clearinghouse_profile

PROBE_MEMBER_ID = "RCMPROBE000001"


@dataclass(frozen=True)
class RoundTrip:
    uploaded: str
    answer: str | None
    seconds: float


def _probe_270(practice_name: str, npi: str, trace: str, profile_name: str) -> bytes:
    from rcm.x12.core import InterchangeEnvelope
    from rcm.x12.x270 import (
        IMPLEMENTATION,
        EligibilityInquiry,
        EligibilityRequest,
        Member,
        Party,
        build_270_interchange,
    )

    profile = clearinghouse_profile(profile_name)
    now = utcnow()
    number = int(trace[-9:], 16) % 999_999_999 + 1
    envelope = InterchangeEnvelope(
        sender_qualifier=profile.envelope.sender_qualifier,
        sender_id=profile.envelope.sender_id,
        receiver_qualifier=profile.envelope.receiver_qualifier,
        receiver_id=profile.envelope.receiver_id,
        control_number=number,
        group_control_number=number,
        functional_id="HS",
        version=IMPLEMENTATION,
        created=now,
        usage="T",
    )
    request = EligibilityRequest(
        source=Party(entity_id="PR", name="SANDBOX PAYER", identifier="00000", id_qualifier="PI"),
        receiver=Party(entity_id="1P", name=practice_name[:60], identifier=npi, id_qualifier="XX"),
        inquiries=(
            EligibilityInquiry(
                trace_number=trace,
                trace_originator="9RCMPROBE",
                subscriber=Member(member_id=PROBE_MEMBER_ID, last_name="PROBE"),
            ),
        ),
        reference_id=trace[:30],
        created=now,
    )
    return build_270_interchange(envelope, [request])


@task(name="sandbox-round-trip", cache_policy=NO_CACHE, **CONNECTOR_TASK_OPTIONS)
def sandbox_round_trip(
    clearinghouse: str, practice: str, practice_name: str, npi: str, wait_seconds: float = 30
) -> RoundTrip:
    """Upload a probe 270 and wait for the 271 that echoes its trace number."""
    from rcm.x12.x271 import parse_271

    profile = clearinghouse_profile(clearinghouse)
    if not profile.is_sandbox:
        raise ValueError(f"{clearinghouse} is not a sandbox profile: no probe files to it")
    trace = "RT" + secrets.token_hex(8).upper()
    data = _probe_270(practice_name, npi, trace, clearinghouse)
    name = f"{practice}_270_probe_{trace}.x12"
    started = time.monotonic()
    answer_folders = [r.folder for r in profile.inbound if r.kind == "271"]
    with SftpSession(profile) as sftp:
        before = {f.path for folder in answer_folders for f in sftp.list_files(folder)}
        sftp.upload(None, name, data)
        while time.monotonic() - started < wait_seconds:
            for folder in answer_folders:
                for remote in sftp.list_files(folder):
                    if remote.path in before:
                        continue
                    before.add(remote.path)
                    body = sftp.download(remote.path)
                    traces = {t for r in parse_271(body, strict=False) for t in r.trace_numbers}
                    if trace in traces:
                        sftp.remove(remote.path)
                        return RoundTrip(name, remote.name, time.monotonic() - started)
            time.sleep(0.5)
    return RoundTrip(name, None, time.monotonic() - started)


__all__ = ["RoundTrip", "sandbox_round_trip"]
