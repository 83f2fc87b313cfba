"""Posting names only its own practice's claims, lines and claim payments.

Migration 0004 dropped the foreign keys from the posting tables' practice_id (and
ledger_entry.remittance_id): another key of each row pins the same parent. What the database no
longer checks, posting does: every claim, service line and claim payment a row names was read
under the practice it posts for (or made by this posting), and the database still refuses a
claim, line or claim payment that does not exist. These tests post two practices with the same
patient control numbers and check every posting row's references, and make posting try to
write another practice's or a missing claim.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import Engine, func, inspect, select, text
from sqlmodel import Session, col

import rcm.posting.post as post_module
from rcm.claims.states import prepare_moves
from rcm.errors import PostingError, StateError
from rcm.models import (
    STATEMENT_CHECKED,
    Adjustment,
    Claim,
    ClaimEvent,
    ClaimPayment,
    ClaimStatus,
    Denial,
    LedgerEntry,
    PayerResponsibility,
    ProviderAdjustment,
    Remittance,
    ServicePayment,
    WorkItem,
)
from rcm.posting import post_remittance
from tests.rcm.posting.helpers import (
    TIN,
    D,
    Seeded,
    balance,
    clp,
    count_rows,
    make_interchange,
    make_payer,
    make_practice,
    remittance,
    svc,
)

OTHER_NPI = "1245319599"
POSTING_TABLES = (
    Remittance,
    ClaimPayment,
    ServicePayment,
    Adjustment,
    ProviderAdjustment,
    LedgerEntry,
    Denial,
    ClaimEvent,
    WorkItem,
    Claim,
)

# Every reference a posting row makes, as (table, column, referenced table): the referenced
# row must exist and be of the row's practice.
REFERENCES = (
    ("claim_payment", "claim_id", "claim"),
    ("claim_payment", "remittance_id", "remittance"),
    ("service_payment", "claim_payment_id", "claim_payment"),
    ("service_payment", "service_line_id", "service_line"),
    ("adjustment", "claim_payment_id", "claim_payment"),
    ("adjustment", "service_payment_id", "service_payment"),
    ("ledger_entry", "claim_id", "claim"),
    ("ledger_entry", "service_line_id", "service_line"),
    ("ledger_entry", "claim_payment_id", "claim_payment"),
    ("ledger_entry", "remittance_id", "remittance"),
    ("ledger_entry", "reverses_entry_id", "ledger_entry"),
    ("denial", "claim_id", "claim"),
    ("denial", "service_line_id", "service_line"),
    ("denial", "claim_payment_id", "claim_payment"),
    ("claim_event", "claim_id", "claim"),
    ("work_item", "claim_id", "claim"),
    ("provider_adjustment", "remittance_id", "remittance"),
)


def _foreign_references(session: Session) -> dict[str, int]:
    """Per reference: rows naming a row that is missing or of another practice."""
    out = {}
    for table, column, target in REFERENCES:
        found = session.execute(
            text(
                f"SELECT count(*) FROM {table} r LEFT JOIN {target} t ON t.id = r.{column} "
                f"WHERE r.{column} IS NOT NULL "
                "AND (t.id IS NULL OR t.practice_id <> r.practice_id)"
            )
        ).scalar_one()
        if found:
            out[f"{table}.{column}"] = found
    return out


def _seed_practice(session: Session, npi: str, slug: str) -> dict[str, Any]:
    practice = make_practice(session, slug, npi=npi, tin="987654321" if npi == OTHER_NPI else TIN)
    payer = make_payer(session, f"acme{slug[:3]}")
    medigap = make_payer(session, f"gap{slug[:3]}")
    lines = [("99213", [], D("100")), ("36415", [], D("20"))]
    claims = {
        pcn: Seeded(
            session,
            practice,
            payer,
            pcn,
            lines,
            secondary_payer=medigap if pcn == "PCN1" else None,
        )
        for pcn in ("PCN1", "PCN2", "PCN3")
    }
    return {
        "practice": practice,
        "claims": claims,
        "interchange": make_interchange(session, practice),
    }


def _first_835(npi: str) -> Any:
    return remittance(
        [
            # Paid, patient share to the secondary claim.
            clp(
                "PCN1",
                "1",
                "120",
                "92",
                [
                    svc("99213", "100", "80", ("CO", "45", "10"), ("PR", "2", "10")),
                    svc("36415", "20", "12", ("CO", "45", "8")),
                ],
            ),
            # A denied line.
            clp(
                "PCN2",
                "1",
                "120",
                "80",
                [
                    svc("99213", "100", "80", ("CO", "45", "20")),
                    svc("36415", "20", "0", ("CO", "97", "20")),
                ],
            ),
            clp(
                "PCN3",
                "1",
                "120",
                "100",
                [svc("99213", "100", "80", ("CO", "45", "20")), svc("36415", "20", "20")],
            ),
            # Matches no claim of the practice.
            clp("NOPE", "1", "50", "50", [svc("99213", "50", "50")]),
        ],
        trace="T1",
        plb=[("WO", "5")],
        npi=npi,
    )


def _second_835(npi: str) -> Any:
    return remittance(
        [
            # Reversed and paid again.
            clp(
                "PCN3",
                "22",
                "-120",
                "-100",
                [svc("99213", "-100", "-80", ("CO", "45", "-20")), svc("36415", "-20", "-20")],
            ),
            clp(
                "PCN3",
                "1",
                "120",
                "90",
                [svc("99213", "100", "70", ("CO", "45", "30")), svc("36415", "20", "20")],
            ),
            # Not ours: a work item.
            clp("PCN2", "23", "100", "0", [svc("99213", "100", "0", ("CO", "45", "100"))]),
        ],
        trace="T2",
        npi=npi,
    )


@pytest.mark.parametrize("batch", [post_module.BATCH, 1])
def test_posting_writes_only_references_to_its_own_practice(
    session: Session, monkeypatch: pytest.MonkeyPatch, batch: int
) -> None:
    """Two practices with the same patient control numbers: each practice's postings name
    only its claims, lines, claim payments and remittances (in one write batch, and in a
    batch per claim payment)."""
    monkeypatch.setattr(post_module, "BATCH", batch)
    a = _seed_practice(session, "1234567893", "north")
    b = _seed_practice(session, OTHER_NPI, "south")
    session.commit()

    for world, npi in ((a, "1234567893"), (b, OTHER_NPI)):
        for rem in (_first_835(npi), _second_835(npi)):
            result = post_remittance(session, rem, interchange_id=world["interchange"].id)
            assert result.practice_id == world["practice"].id
        session.commit()

    assert _foreign_references(session) == {}
    ledgers = []
    for world in (a, b):
        pid = world["practice"].id
        claims = world["claims"]
        statuses = {
            pcn: session.get(Claim, seeded.claim.id).status  # type: ignore[union-attr]
            for pcn, seeded in claims.items()
        }
        assert statuses == {
            "PCN1": ClaimStatus.PAID,
            "PCN2": ClaimStatus.PARTIAL,
            "PCN3": ClaimStatus.PAID,
        }
        assert balance(session, pid, claim_id=claims["PCN3"].claim.id) == D("0.00")
        ledgers.append(
            session.execute(
                select(func.count(), func.sum(col(LedgerEntry.amount))).where(
                    col(LedgerEntry.practice_id) == pid
                )
            ).one()
        )
    # Both practices' ledgers are alike: nothing of one landed on the other.
    assert ledgers[0] == ledgers[1]


def _two_practices(session: Session) -> tuple[dict[str, Any], dict[str, Any]]:
    a = _seed_practice(session, "1234567893", "north")
    b = _seed_practice(session, OTHER_NPI, "south")
    session.commit()
    return a, b


@pytest.mark.parametrize("target", ["another practice's claim", "a missing claim"])
def test_posting_refuses_to_write_a_claim_it_did_not_read_under_its_practice(
    session: Session, monkeypatch: pytest.MonkeyPatch, target: str
) -> None:
    """Were a bug to send the patient share to a claim posting did not read under its
    practice (another practice's, or one that does not exist), nothing would be written: no
    foreign key on practice_id stops the first any more; posting's own check stops both,
    before the database sees a row."""
    a, b = _two_practices(session)
    wrong = b["claims"]["PCN1"].claim.id.hex if target.startswith("another") else uuid.uuid4().hex
    real_load = post_module._Poster.load

    def load(self: Any, claims: Any, reversing: Any = ()) -> None:
        real_load(self, claims, reversing)
        for claim in claims:
            self.next_claims[(claim.encounter_id, PayerResponsibility.SECONDARY)] = wrong

    monkeypatch.setattr(post_module._Poster, "load", load)
    before = count_rows(session, *POSTING_TABLES)
    with pytest.raises(PostingError, match="1 claims not of this practice"):
        post_remittance(session, _first_835("1234567893"), interchange_id=a["interchange"].id)
    session.rollback()
    assert count_rows(session, *POSTING_TABLES) == before


def test_a_missing_claim_is_refused_by_the_database(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The foreign keys to claim stay: a claim row that does not exist (here, loaded claims
    given made-up keys) is refused by the database, and nothing is written."""
    a, _ = _two_practices(session)
    real = post_module._load_claims

    def missing(session: Session, practice_id: uuid.UUID, pcns: Any) -> Any:
        rows = real(session, practice_id, pcns)
        for row in rows.values():
            row.id = uuid.uuid4().hex
        return rows

    monkeypatch.setattr(post_module, "_load_claims", missing)
    before = count_rows(session, *POSTING_TABLES)
    with pytest.raises(Exception, match=r"(?i)foreign key"):
        post_remittance(session, _first_835("1234567893"), interchange_id=a["interchange"].id)
    session.rollback()
    assert count_rows(session, *POSTING_TABLES) == before


def test_an_error_while_writing_behind_leaves_nothing(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows are written batch by batch (on PostgreSQL on a thread, while the next batch is
    built): an error in one (here the claims' status moves of the second batch) fails the
    posting in the caller, no later batch is written, and the rollback leaves nothing."""
    a, _ = _two_practices(session)
    monkeypatch.setattr(post_module, "BATCH", 1)
    calls = []

    def failing(*args: Any, **kwargs: Any) -> Callable[[], int]:
        write = prepare_moves(*args, **kwargs)

        def move() -> int:
            calls.append(1)
            if len(calls) == 2:
                raise StateError("another run moved them first")
            return write()

        return move

    monkeypatch.setattr(post_module, "prepare_moves", failing)
    before = count_rows(session, *POSTING_TABLES)
    with pytest.raises(StateError, match="another run"):
        post_remittance(session, _first_835("1234567893"), interchange_id=a["interchange"].id)
    session.rollback()
    assert count_rows(session, *POSTING_TABLES) == before
    assert len(calls) == 2  # the batches after the failed one were not written


def test_posting_tables_keep_the_foreign_keys_that_pin_their_parents(engine: Engine) -> None:
    """Migration 0004 (and the models): the practice_id foreign keys of the posting tables and
    ledger_entry.remittance_id are gone; the keys to claims, lines, claim payments and
    remittances stay (on PostgreSQL as statement-level checks: rcm.models.references)."""
    inspector = inspect(engine)
    keys = {
        table: {tuple(fk["constrained_columns"]) for fk in inspector.get_foreign_keys(table)}
        for table in ("claim_payment", "service_payment", "adjustment", "denial", "ledger_entry")
    }
    if engine.dialect.name == "postgresql":
        for reference in STATEMENT_CHECKED:
            if reference.table in keys:
                assert (reference.column,) not in keys[reference.table]
                keys[reference.table].add((reference.column,))
    assert keys == {
        "claim_payment": {("remittance_id",), ("claim_id",)},
        "service_payment": {("claim_payment_id",), ("service_line_id",)},
        "adjustment": {("claim_payment_id",), ("service_payment_id",)},
        "denial": {("claim_id",), ("service_line_id",), ("claim_payment_id",)},
        "ledger_entry": {
            ("claim_id",),
            ("service_line_id",),
            ("claim_payment_id",),
            ("reverses_entry_id",),
        },
    }
