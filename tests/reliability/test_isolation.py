"""Tenant isolation: a flow run for one practice reads and writes only that practice's rows,
files and archive keys. Two practices share one database, one archive and one sandbox SFTP
login; each step runs for one of them and the other's rows, files and keys are diffed.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from tests.reliability.conftest import Firm

Snapshot = dict[str, dict[Any, str]]


def rows_by_practice(firm: Firm) -> dict[Any, Snapshot]:
    """practice_id -> table -> primary key -> digest of the row, for every table that carries
    practice_id."""
    from sqlalchemy import select
    from sqlmodel import SQLModel

    import rcm.models  # noqa: F401

    out: dict[Any, Snapshot] = {}
    with firm.engine.connect() as connection:
        for table in SQLModel.metadata.sorted_tables:
            if "practice_id" not in table.c:
                continue
            key = [c.name for c in table.primary_key.columns]
            for row in connection.execute(select(table)).mappings():
                digest = hashlib.sha256(repr(sorted(row.items())).encode()).hexdigest()
                pk = tuple(row[k] for k in key)
                out.setdefault(row["practice_id"], {}).setdefault(table.name, {})[pk] = digest
    return out


def archive_keys(root: Path) -> set[str]:
    base = root / "archive"
    return (
        {str(p.relative_to(base)) for p in base.rglob("*") if p.is_file()}
        if base.is_dir()
        else set()
    )


def diff(before: Snapshot, after: Snapshot) -> list[str]:
    changes = []
    for table in set(before) | set(after):
        old, new = before.get(table, {}), after.get(table, {})
        for pk in set(old) | set(new):
            if old.get(pk) != new.get(pk):
                what = "added" if pk not in old else "removed" if pk not in new else "changed"
                changes.append(f"{table} {pk} {what}")
    return changes


def _step(firm: Firm, run: Any, slug: str, tmp_path: Path) -> dict[str, Any]:
    """Run one step for `slug`; return what it touched of every practice."""
    other_ids = {firm.practice_id(s) for s in firm.slugs if s != slug}
    mine = firm.practice_id(slug)
    rows_before = rows_by_practice(firm)
    keys_before = archive_keys(tmp_path)
    run()
    rows_after = rows_by_practice(firm)
    new_keys = archive_keys(tmp_path) - keys_before
    foreign = {
        pid: diff(rows_before.get(pid, {}), rows_after.get(pid, {}))
        for pid in other_ids | (set(rows_after) - {mine})
    }
    return {
        "mine": diff(rows_before.get(mine, {}), rows_after.get(mine, {})),
        "foreign": {pid: changes for pid, changes in foreign.items() if changes},
        "foreign_keys": sorted(k for k in new_keys if not k.startswith(f"{slug}/")),
        "keys": new_keys,
    }


@pytest.mark.usefixtures("prefect_api_lean")
def test_each_practices_runs_touch_only_its_rows_files_and_archive_keys(
    two_practices: Firm, tmp_path: Path
) -> None:
    from flows.responses import collect_responses
    from flows.submission import submit_claims

    firm = two_practices
    a, b = firm.slugs
    touched = {}
    for slug in (a, b):
        step = _step(firm, lambda s=slug: submit_claims(s, firm.today), slug, tmp_path)
        assert step["mine"], f"submit_claims({slug}) did something"
        assert not step["foreign"], f"submit_claims({slug}) touched another practice: {step}"
        assert not step["foreign_keys"], step["foreign_keys"]
        touched[("submit", slug)] = len(step["mine"])
    # Each practice's 837s carry only its claims, under its own name.
    from sqlmodel import Session, select

    from rcm.models import Claim
    from tests.reliability.invariants import claims_and_controls

    with Session(firm.engine) as session:
        owner = {c.patient_control_number: c.practice_id for c in session.exec(select(Claim))}
    for path in firm.outbound_837s():
        slug = next(s for s in firm.slugs if path.name.startswith(s))
        pcns, _, _ = claims_and_controls(path)
        assert {owner[p] for p in pcns} == {firm.practice_id(slug)}, path.name

    firm.sandbox.wait_for_uploads()
    firm.sandbox.run_cycle()
    summaries: list[Any] = []
    for slug in (a, b):
        step = _step(
            firm,
            lambda s=slug: summaries.append(collect_responses(s, firm.today)),
            slug,
            tmp_path,
        )
        summary = summaries[-1]
        assert summary.processed >= 1, [s.files for s in summaries]
        assert not step["foreign"], f"collect_responses({slug}) touched another practice: {step}"
        assert not step["foreign_keys"], step["foreign_keys"]
        touched[("collect", slug)] = len(step["mine"])
    # B's answers were left for B's run by A's run (B processed its own), and every inbound
    # file row belongs to the practice whose claims it answers.
    from rcm.models import Direction, Interchange

    with Session(firm.engine) as session:
        inbound = session.exec(
            select(Interchange).where(Interchange.direction == Direction.INBOUND)
        ).all()
    assert {row.practice_id for row in inbound} == {firm.practice_id(s) for s in firm.slugs}


@pytest.mark.usefixtures("prefect_api_lean")
def test_a_run_for_b_leaves_an_835_paying_a_alone(two_practices: Firm) -> None:
    """collect_responses for practice B never posts or moves A's 835s."""
    from flows.responses import collect_responses
    from flows.submission import submit_claims
    from rcm.models import Remittance

    firm = two_practices
    a, b = firm.slugs
    submit_claims(a, firm.today)
    firm.sandbox.wait_for_uploads()
    assert firm.sandbox.run_cycle()
    before = rows_by_practice(firm)
    waiting = sorted(p.name for p in firm.remote_files("inbound"))
    summary = collect_responses(b, firm.today)
    assert summary.processed == 0 and summary.other_practices >= 1, summary
    assert rows_by_practice(firm) == before
    assert sorted(p.name for p in firm.remote_files("inbound")) == waiting
    collect_responses(a, firm.today)
    from sqlmodel import Session, select

    with Session(firm.engine) as session:
        owners = {r.practice_id for r in session.exec(select(Remittance))}
    assert owners == {firm.practice_id(a)}


@pytest.mark.usefixtures("prefect_api_lean")
def test_an_835_whose_payee_is_another_practice_is_refused(two_practices: Firm) -> None:
    """An 835 paying practice A, handed to a run (or a posting call) for practice B, is refused
    and writes nothing."""
    from flows.submission import submit_claims
    from rcm.errors import RcmError

    firm = two_practices
    a, b = firm.slugs
    submit_claims(a, firm.today)
    firm.sandbox.wait_for_uploads()
    paid = firm.sandbox.run_cycle()
    assert paid
    data = paid[0].read_bytes()

    from connectors.db import session_scope
    from rcm.posting import post_835_file

    before = rows_by_practice(firm)
    with (
        pytest.raises(RcmError, match=r"(?i)payee|practice"),
        session_scope(firm.engine) as session,
    ):
        post_835_file(
            session,
            data,
            clearinghouse="sandbox",
            file_name=paid[0].name,
            practice_id=firm.practice_id(b),
            today=firm.today,
        )
    assert rows_by_practice(firm) == before
