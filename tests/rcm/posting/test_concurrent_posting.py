"""On PostgreSQL, two posters of the same ERA at once post it exactly once: the same file (the
Interchange (clearinghouse, sha256) constraint) or two files carrying the same payer and trace
number (the Remittance constraint)."""

from __future__ import annotations

import os
import threading
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, func, select
from sqlmodel import Session

from connectors.db import make_engine
from rcm.errors import PostingError
from rcm.models import LedgerEntry, Remittance
from rcm.posting import post_835_file
from rcm.x12.core import InterchangeEnvelope
from rcm.x12.x835 import build_835
from tests.rcm.posting.helpers import D, Seeded, clp, make_payer, make_practice, remittance, svc

pytestmark = pytest.mark.integration


def _file(control_number: int) -> bytes:
    rem = remittance(
        [clp("PCN1", "1", "100", "80", [svc("99213", "100", "80", ("CO", "45", "20"))])]
    )
    envelope = InterchangeEnvelope(
        "ZZ",
        "PAYER",
        "ZZ",
        "NORTHSIDE",
        control_number,
        control_number,
        "HP",
        "005010X221A1",
        datetime(2026, 11, 1, 8, tzinfo=UTC),
    )
    return build_835([rem], envelope)


def _race(url: str, files: list[bytes]) -> list[str]:
    barrier = threading.Barrier(len(files))
    outcomes: list[str] = []
    lock = threading.Lock()

    def worker(data: bytes) -> None:
        engine = make_engine(url)
        try:
            with Session(engine) as session:
                barrier.wait()
                try:
                    post_835_file(session, data, clearinghouse="sandbox", file_name="era.835")
                    session.commit()
                    outcome = "posted"
                except PostingError as exc:
                    session.rollback()
                    outcome = type(exc).__name__
        finally:
            engine.dispose()
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=worker, args=(data,)) for data in files]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return sorted(outcomes)


@pytest.fixture
def seeded(engine: Engine, database_url: str) -> str:
    if not os.environ.get("RCM_TEST_DATABASE_URL"):
        pytest.skip("needs PostgreSQL (RCM_TEST_DATABASE_URL)")
    with Session(engine) as session:
        practice = make_practice(session)
        Seeded(session, practice, make_payer(session), "PCN1", [("99213", [], D("100"))])
        session.commit()
    return database_url


def _counts(engine: Engine) -> tuple[int, int]:
    with Session(engine) as session:
        return (
            session.scalar(select(func.count()).select_from(Remittance)) or 0,
            session.scalar(select(func.count()).select_from(LedgerEntry)) or 0,
        )


def test_the_same_file_twice_at_once_posts_once(engine: Engine, seeded: str) -> None:
    outcomes = _race(seeded, [_file(1), _file(1)])
    assert outcomes == ["DuplicateFileError", "posted"]
    assert _counts(engine) == (1, 3)


def test_two_files_with_one_trace_number_post_once(engine: Engine, seeded: str) -> None:
    outcomes = _race(seeded, [_file(1), _file(2)])
    assert outcomes == ["DuplicateRemittanceError", "posted"]
    assert _counts(engine) == (1, 3)
