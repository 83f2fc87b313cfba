"""The fuzzing contract, the seeds and the targets.

Contract, for every input and every target: the target returns, or raises an `X12Error`
subclass. Any other exception (IndexError, ValueError, decimal.InvalidOperation, UnicodeError,
KeyError, RecursionError, MemoryError ...) is a *crash*; running past the per-input time limit is
a *hang*; an `X12SyntaxError` that does not name the file, the segment number and the offset is a
*contract* failure. `validate` must never raise at all (pyx12's own failures belong in
`report.validator_failure`, not in an exception and not in `report.errors`).

Seeds are the corpus files of the sets the platform reads (../shared/x12-corpus, read at run
time and skipped when absent) plus files written by the project's own builders.
"""

from __future__ import annotations

import contextlib
import csv
import json
import signal
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from types import TracebackType
from typing import Any

from rcm.errors import X12Error, X12SyntaxError

REPO_ROOT = Path(__file__).resolve().parents[2]
CORPUS = REPO_ROOT.parent / "shared" / "x12-corpus"
REGRESSIONS = Path(__file__).resolve().parent / "regressions"
FILE_NAME = "fuzz-input.x12"
# Corpus sets that are mutated, as MANIFEST.tsv names them.
CORPUS_SETS = frozenset({"835", "999", "277CA", "271", "277", "837P", "837I"})
MAX_SEED_BYTES = 64 * 1024  # bigger corpus files are parsed by the corpus tests, not mutated
PARSE_SECONDS = 10.0
VALIDATE_SECONDS = 60.0

OWNERS = {
    "rcm/x12/core.py": "X12-A",
    "rcm/x12/x835.py": "X12-A",
    "rcm/x12/x999.py": "X12-A",
    "rcm/x12/x277ca.py": "X12-A",
    "rcm/x12/validate.py": "X12-A",
    "rcm/x12/summary.py": "X12-A",
    "rcm/x12/x837.py": "X12-B",
    "rcm/x12/x270.py": "X12-B",
    "rcm/x12/x271.py": "X12-B",
    "rcm/x12/x276.py": "X12-B",
    "rcm/x12/x277.py": "X12-B",
    "rcm/x12/structural.py": "X12-B",
}


# --- seeds ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Seed:
    name: str
    set_id: str
    data: bytes


def corpus_seeds(root: Path = CORPUS, max_bytes: int = MAX_SEED_BYTES) -> list[Seed]:
    """Corpus files of the mutated sets, in manifest order; empty when the corpus is absent."""
    manifest = root / "MANIFEST.tsv"
    if not manifest.is_file():
        return []
    out = []
    with manifest.open(newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh, delimiter="\t"):
            set_id = (row.get("transaction_set") or "").strip()
            if set_id not in CORPUS_SETS:
                continue
            path = root / row["saved_path"]
            if not path.is_file() or path.stat().st_size > max_bytes:
                continue
            out.append(Seed(f"corpus:{row['saved_path']}", set_id, path.read_bytes()))
    return out


def _envelope(functional_id: str, version: str, control: int) -> Any:
    from rcm.x12.core import InterchangeEnvelope

    return InterchangeEnvelope(
        sender_qualifier="ZZ",
        sender_id="FUZZSENDER",
        receiver_qualifier="ZZ",
        receiver_id="FUZZRECEIVER",
        control_number=control,
        group_control_number=control,
        functional_id=functional_id,
        version=version,
        created=datetime(2026, 3, 4, 5, 6, tzinfo=UTC),
    )


def _835() -> bytes:
    from rcm.x12 import x835 as r

    d = Decimal
    line = r.ServicePayment(
        procedure=r.Procedure("HC", "99213", ["25"]),
        charge=d("150"),
        paid=d("80"),
        units=d(1),
        dates=[r.DateValue("472", date(2026, 2, 1))],
        adjustments=[r.Adjustment("CO", "45", d("50")), r.Adjustment("PR", "2", d("20"))],
        references=[r.Reference("6R", "LINE1")],
        amounts=[r.Amount("B6", d("100"))],
        remarks=[r.Remark("HE", "N130")],
    )
    line2 = r.ServicePayment(
        procedure=r.Procedure("HC", "87070"),
        charge=d("50"),
        paid=d("40"),
        original_procedure=r.Procedure("HC", "87071"),
        adjustments=[r.Adjustment("CO", "45", d("10"), d(1))],
    )
    paid = r.ClaimPayment(
        patient_control_number="FUZZ-PCN-1",
        status="1",
        charge=d("200"),
        paid=d("120"),
        patient_responsibility=d("20"),
        filing_indicator="12",
        payer_claim_control_number="ICN-1",
        facility_type="11",
        frequency="1",
        header_number="1",
        names=[r.Name("QC", "1", "SYNTHETIC", "PAT", id_qualifier="MI", id="M1")],
        outpatient=r.AdjudicationInfo("MOA", ["", "", "MA01"]),
        dates=[r.DateValue("232", date(2026, 2, 1))],
        services=[line, line2],
    )
    reversal = r.ClaimPayment(
        patient_control_number="FUZZ-PCN-0",
        status="22",
        charge=d("-100"),
        paid=d("-60"),
        payer_claim_control_number="ICN-0",
        header_number="1",
        adjustments=[r.Adjustment("CO", "45", d("-40"))],
    )
    rem = r.Remittance835(
        handling="I",
        total_paid=d("55"),
        credit_debit="C",
        payment_method="ACH",
        payment_format="CCP",
        bank_details=["01", "999999992", "DA", "123456", "1512345678"],
        payment_date=date(2026, 3, 4),
        trace=r.Trace("1", "FUZZ-EFT-1", "1512345678"),
        payer=r.Party("PR", "SYNTHETIC PAYER", "XV", "PAYER1", ["PO BOX 1"], "AUSTIN", "TX"),
        payee=r.Party("PE", "SYNTHETIC CLINIC", "XX", "1234567893"),
        dates=[r.DateValue("405", date(2026, 3, 3))],
        summaries=[r.ProviderSummary("1", ["1234567893", "11", "20261231", "2", "100"])],
        claims=[paid, reversal],
        provider_adjustments=[
            r.ProviderAdjustment("1234567893", date(2026, 12, 31), "WO", d("5"), "OVERPAY1")
        ],
    )
    return r.build_835([rem], _envelope("HP", "005010X221A1", 42))


def _999() -> bytes:
    from rcm.x12 import x999 as a

    ack = a.Ack999(
        functional_id="HC",
        group_control_number="17",
        status="P",
        version="005010X222A1",
        included=2,
        received=2,
        accepted_count=1,
        transactions=[
            a.TransactionAck("837", "0001", "A", "005010X222A1"),
            a.TransactionAck(
                "837",
                "0002",
                "R",
                "005010X222A1",
                ["5"],
                [
                    a.SegmentError(
                        "CLM",
                        22,
                        "8",
                        "2300",
                        [a.Context([("CLM01", "FUZZ-PCN-9")])],
                        [a.ElementError(2, "1", "782")],
                    ),
                    a.SegmentError(
                        "REF",
                        57,
                        "I9",
                        contexts=[
                            a.Context([("SITUATIONAL TRIGGER", "2")], "CLM", 43, "", ["5", "3"])
                        ],
                    ),
                ],
            ),
        ],
    )
    return a.build_999([ack], _envelope("FA", "005010X231A1", 5))


def _277ca() -> bytes:
    from rcm.x12 import x277ca as c
    from rcm.x12.x835 import Amount, Name, Procedure, Quantity, Reference

    def claim(pcn: str, category: str, status: str, amount: str) -> Any:
        return c.ClaimStatus(
            pcn,
            statuses=[
                c.Status([c.StatusCode(category, status)], date(2026, 3, 4), "WQ", Decimal(amount))
            ],
            references=[Reference("1K", f"ICN-{pcn}")],
            dates=[c.DatePeriod("472", date(2026, 2, 1), date(2026, 2, 3))],
        )

    rejected = claim("FUZZ-PCN-2", "A7", "562", "75.5")
    rejected.services.append(
        c.ServiceStatus(
            Procedure("HC", "99213", ["25"]),
            Decimal("75.5"),
            Decimal(0),
            statuses=[c.Status([c.StatusCode("A7", "454")])],
            dates=[c.DatePeriod("472", date(2026, 2, 1))],
        )
    )
    provider = c.Entity(
        "19",
        Name("85", "2", "SYNTHETIC CLINIC", id_qualifier="XX", id="1234567893"),
        trace_type="1",
        trace="PROV-TRACE",
        children=[
            c.Entity(
                "PT", Name("QC", "1", "SYNTH", "A"), claims=[claim("FUZZ-PCN-1", "A2", "20", "100")]
            ),
            c.Entity("PT", Name("QC", "1", "SYNTH", "B"), claims=[rejected]),
        ],
    )
    receiver = c.Entity(
        "21",
        Name("41", "2", "BILLING FIRM", id_qualifier="46", id="SUB1"),
        trace_type="2",
        trace="BATCH-1",
        statuses=[c.Status([c.StatusCode("A1", "19")], date(2026, 3, 4), "WQ", Decimal("175.5"))],
        quantities=[Quantity("90", Decimal(1))],
        amounts=[Amount("YU", Decimal(100))],
        children=[provider],
    )
    source = c.Entity(
        "20",
        Name("PR", "2", "SYNTHETIC PAYER", id_qualifier="PI", id="PAYER1"),
        trace_type="1",
        trace="SRC-1",
        dates=[c.DatePeriod("050", date(2026, 3, 4))],
        children=[receiver],
    )
    ack = c.Ack277CA([source], "08", "REF-1", date(2026, 3, 4), "1200", "TH", "0001")
    return c.build_277ca([ack], _envelope("HN", "005010X214", 11))


def _drawn(strategy: Any, count: int) -> list[Any]:
    """The first `count` values Hypothesis draws from `strategy`, derandomized (no shrinking,
    no database): the same values on every run."""
    from hypothesis import HealthCheck, Phase, given, settings

    out: list[Any] = []

    @settings(
        database=None,
        derandomize=True,
        max_examples=count,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
        deadline=None,
    )
    @given(strategy)
    def collect(value: Any) -> None:
        out.append(value)

    collect()
    return out[:count]


def _strategy_seeds() -> list[Seed]:
    """271, 277, 837P and 837I files built from the project's own test strategies."""
    from rcm.x12 import x271, x277
    from rcm.x12 import x837 as m
    from tests.rcm.x12 import strategies as s

    out = []
    for i, value in enumerate(_drawn(s.eligibility_271s(), 3)):
        data = x271.build_271_interchange(_envelope("HB", "005010X279A1", 7 + i), [value])
        out.append(Seed(f"builder:271-{i}", "271", data))
    for i, value in enumerate(_drawn(s.status_responses(), 3)):
        data = x277.build_277_interchange(_envelope("HN", "005010X212", 9 + i), [value])
        out.append(Seed(f"builder:277-{i}", "277", data))
    for kind in ("P", "I"):
        for i, sub in enumerate(_drawn(s.submissions(kind), 2)):
            env = _envelope("HC", m.IMPLEMENTATION[kind], 30 + i)
            data = m.build_837_interchange(env, sub.header, sub.claims)
            out.append(Seed(f"builder:837{kind}-{i}", f"837{kind}", data))
    return out


def builder_seeds() -> list[Seed]:
    return [
        Seed("builder:835", "835", _835()),
        Seed("builder:999", "999", _999()),
        Seed("builder:277CA", "277CA", _277ca()),
        *_strategy_seeds(),
    ]


def all_seeds() -> list[Seed]:
    return builder_seeds() + corpus_seeds()


# --- targets ----------------------------------------------------------------------------------


def _parse_835(data: bytes, strict: bool) -> Any:
    from rcm.x12.x835 import balance_835, parse_835

    remittances = parse_835(data, file_name=FILE_NAME, strict=strict)
    for remittance in remittances:
        balance_835(remittance)  # what posting does first with a parsed remittance
    return remittances


def _iter_835(data: bytes, strict: bool) -> Any:
    from rcm.x12.x835 import iter_remittances

    count = 0
    for stream in iter_remittances(data, file_name=FILE_NAME, strict=strict):
        for _ in stream.claims():
            count += 1
    return count


def _parse_999(data: bytes, strict: bool) -> Any:
    from rcm.x12.x999 import parse_999

    return parse_999(data, file_name=FILE_NAME, strict=strict)


def _parse_277ca(data: bytes, strict: bool) -> Any:
    from rcm.x12.x277ca import parse_277ca

    return parse_277ca(data, file_name=FILE_NAME, strict=strict)


def _parse_271(data: bytes, strict: bool) -> Any:
    from rcm.x12.x271 import parse_271

    return parse_271(data, file_name=FILE_NAME, strict=strict)


def _parse_277(data: bytes, strict: bool) -> Any:
    from rcm.x12.x277 import parse_277

    return parse_277(data, file_name=FILE_NAME, strict=strict)


def _parse_837(data: bytes, strict: bool) -> Any:
    from rcm.x12.x837 import parse_837

    return parse_837(data, file_name=FILE_NAME, strict=strict)


def _summary(data: bytes, strict: bool) -> Any:
    """What `rcm x12 parse --json` does with a file: summarize, then serialize."""
    from cli.output import to_jsonable
    from rcm.x12.summary import summarize

    result = summarize(data, file_name=FILE_NAME, strict=strict)
    return json.dumps(to_jsonable(result))


def _validate(data: bytes, strict: bool) -> Any:
    from rcm.x12.validate import ValidationReport, validate

    report = validate(data, file_name=FILE_NAME)
    if not isinstance(report, ValidationReport):
        raise ContractViolation(f"validate returned {type(report).__name__}")
    for issue in report.errors:
        if "pyx12 raised" in issue.message:
            raise ContractViolation("a pyx12 failure is reported as a file error")
        if issue.code == "syntax" and (issue.segment_number is None or issue.offset is None):
            raise ContractViolation(f"syntax error without a position: {issue.message[:120]}")
    return report


@dataclass(frozen=True)
class Target:
    name: str
    run: Callable[[bytes, bool], Any]
    seconds: float = PARSE_SECONDS


TARGETS: tuple[Target, ...] = (
    Target("parse_835", _parse_835),
    Target("iter_remittances", _iter_835),
    Target("parse_999", _parse_999),
    Target("parse_277ca", _parse_277ca),
    Target("parse_271", _parse_271),
    Target("parse_277", _parse_277),
    Target("parse_837", _parse_837),
    Target("summary", _summary),
    Target("validate", _validate, VALIDATE_SECONDS),
)
TARGETS_BY_NAME = {t.name: t for t in TARGETS}


# --- running one input ------------------------------------------------------------------------


class ContractViolation(Exception):
    """A target broke the contract without raising an exception of its own: `where` names the
    module responsible (the harness raises this, so the traceback cannot)."""

    def __init__(self, message: str, where: str = "rcm/x12/validate.py") -> None:
        super().__init__(message)
        self.where = where


class InputTimeout(BaseException):
    """The per-input time limit ran out. A BaseException, so `except Exception` in the code
    under test cannot swallow it."""


@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """SIGALRM-based limit (main thread only; elsewhere, no limit)."""
    try:
        previous = signal.signal(signal.SIGALRM, _on_alarm)
    except ValueError:  # not the main thread
        yield
        return
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _on_alarm(signum: int, frame: Any) -> None:
    raise InputTimeout("per-input time limit exceeded")


@dataclass
class Failure:
    target: str
    kind: str  # crash | hang | contract
    exc_type: str
    message: str
    last_frame: str
    project_frame: str
    owner: str
    traceback: str = field(repr=False, default="")

    @property
    def signature(self) -> tuple[str, str, str, str]:
        return (self.target, self.kind, self.exc_type, self.project_frame)

    def as_dict(self) -> dict[str, str]:
        return {
            "target": self.target,
            "kind": self.kind,
            "exc_type": self.exc_type,
            "message": self.message,
            "last_frame": self.last_frame,
            "project_frame": self.project_frame,
            "owner": self.owner,
        }


def _frames(tb: TracebackType | None) -> tuple[str, str, str]:
    entries = traceback.extract_tb(tb)
    if not entries:
        return "", "", "unknown"
    last = entries[-1]
    last_text = f"{_relative(last.filename)}:{last.lineno} in {last.name}"
    project = ""
    owner = "other"
    for entry in reversed(entries):
        rel = _relative(entry.filename)
        if rel.startswith(("rcm/", "cli/")):
            project = f"{rel}:{entry.lineno} in {entry.name}"
            owner = OWNERS.get(rel, "posting" if rel.startswith("rcm/posting/") else "other")
            break
    return last_text, project, owner


def _relative(filename: str) -> str:
    try:
        return Path(filename).resolve().relative_to(REPO_ROOT).as_posix()
    except ValueError:
        return filename


def _failure(target: str, kind: str, exc: BaseException) -> Failure:
    last, project, owner = _frames(exc.__traceback__)
    if isinstance(exc, ContractViolation):
        project, owner = exc.where, OWNERS.get(exc.where, "other")
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__, limit=-12))
    message = str(exc)
    return Failure(
        target,
        kind,
        type(exc).__name__,
        message[:300],
        last,
        project,
        owner,
        text[-6000:],
    )


@dataclass
class Outcome:
    parsed: int = 0  # targets that returned
    parsed_targets: list[str] = field(default_factory=list)
    x12_errors: int = 0  # targets that raised an X12Error as they should
    failures: list[Failure] = field(default_factory=list)


def check(
    data: bytes,
    *,
    strict: bool = True,
    targets: tuple[Target, ...] = TARGETS,
    scale: float = 1.0,
) -> Outcome:
    """Run every target over `data` and judge each against the contract."""
    outcome = Outcome()
    for target in targets:
        try:
            with time_limit(target.seconds * scale):
                target.run(data, strict)
        except InputTimeout as exc:
            outcome.failures.append(_failure(target.name, "hang", exc))
        except ContractViolation as exc:
            outcome.failures.append(_failure(target.name, "contract", exc))
        except X12SyntaxError as exc:
            outcome.x12_errors += 1
            if not exc.file or exc.segment_number is None or exc.offset is None:
                outcome.failures.append(_failure(target.name, "contract", exc))
        except X12Error:
            outcome.x12_errors += 1
        except (Exception, RecursionError, MemoryError) as exc:
            outcome.failures.append(_failure(target.name, "crash", exc))
        else:
            outcome.parsed += 1
            outcome.parsed_targets.append(target.name)
    return outcome
