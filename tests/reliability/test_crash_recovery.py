"""Crash at every step boundary of submit_claims and collect_responses, then rerun.

After the crash and after the rerun: every claim is in exactly one uploaded interchange or none,
no file was uploaded twice, no control number reused, no payment posted twice, the ledger
balances, and nothing partial lies where the clearinghouse picks files up
(tests/reliability/invariants.py). After the rerun every claim that was READY is submitted and
every 835 the sandbox wrote is posted once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests.reliability.faults import CRASH_POINTS, Crash, CrashPoint
from tests.reliability.invariants import check_invariants, x12_segments

if TYPE_CHECKING:
    from tests.reliability.conftest import Firm

pytestmark = [pytest.mark.usefixtures("prefect_api_lean")]


def _traces_on_server(firm: Firm) -> set[tuple[str, str]]:
    traces = set()
    for path in firm.remote_files("inbound/835") + firm.remote_files("processed"):
        if not path.read_bytes().startswith(b"ISA"):
            continue
        for segment in x12_segments(path.read_bytes()):
            if segment[0] == "TRN":
                traces.add((segment[3] if len(segment) > 3 else "", segment[2]))
    return traces


def _run_submit(firm: Firm) -> None:
    from flows.submission import submit_claims

    submit_claims(firm.slugs[0], firm.today)


def _run_collect(firm: Firm) -> None:
    from flows.responses import collect_responses

    collect_responses(firm.slugs[0], firm.today)


@pytest.mark.parametrize("point", CRASH_POINTS, ids=lambda p: p.name)
def test_crash_then_rerun_loses_nothing_and_duplicates_nothing(
    firm: Firm, point: CrashPoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlmodel import Session, select

    from rcm.models import Claim, ClaimStatus, Remittance

    if point.flow == "collect":
        _run_submit(firm)
        firm.sandbox.wait_for_uploads()
        firm.sandbox.run_cycle()

    with monkeypatch.context() as patch:
        point.install(patch)
        with pytest.raises(Crash):
            (_run_submit if point.flow == "submit" else _run_collect)(firm)
    check_invariants(firm, after_crash=True)

    # The rerun (an operator's, or the next schedule's) resumes.
    if point.flow == "submit":
        _run_submit(firm)
        check_invariants(firm, expect_all_submitted=True)
        firm.sandbox.wait_for_uploads()
        firm.sandbox.run_cycle()
        _run_collect(firm)
    else:
        _run_collect(firm)
        check_invariants(firm, expect_all_submitted=True)
        _run_collect(firm)
    figures = check_invariants(firm, expect_all_submitted=True)

    with Session(firm.engine) as session:
        claims = session.exec(select(Claim)).all()
        remittances = session.exec(select(Remittance)).all()
    submitted = [c for c in claims if c.status not in (ClaimStatus.HELD, ClaimStatus.DRAFT)]
    assert submitted, "the world produced claims to submit"
    assert figures.claims_in_files == len(submitted), "every READY claim went out exactly once"
    assert len(firm.arrivals) == len(set(firm.arrivals)), "no file arrived twice"
    posted = {r.trace_number for r in remittances}
    on_server = {trace for _, trace in _traces_on_server(firm)}
    assert on_server, "the sandbox paid something"
    assert posted == on_server, "every 835 posted once, none lost"
