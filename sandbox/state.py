"""The sandbox clearinghouse's memory: files received, claims accepted and paid, what the next
cycle owes, control-number counters and the members' deductible accumulators.

One JSON file under the sandbox root (`.sandbox/state.json`), rewritten atomically (temp file,
fsync, rename) after every change, so the platform and the sandbox can both be restarted between
cycles and nothing is answered twice.
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from sandbox.payer_rules import Accumulator, ClaimDecision, ClaimIn

STATE_DIR = ".sandbox"
STATE_FILE = "state.json"
LOCK_FILE = "lock"
FORMAT_VERSION = 1

PENDING = "pending"  # accepted on the 277CA, waiting for the next cycle's 835
PAID = "paid"  # on an 835 (paid, partly paid or denied)
REVERSED = "reversed"  # reversed and re-paid on a later 835
REPLACED = "replaced"  # reversed because a replacement (7) or void (8) named it


def atomic_write(path: Path, data: bytes) -> None:
    """Write `data` to `path` so a reader sees the old file or the whole new one, never a part.
    The temporary name is hidden and ends in .tmp, which SFTP clients skip."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.tmp")
    with open(temp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temp, path)


_THREAD_LOCK = threading.RLock()


@contextmanager
def locked(root: Path | str) -> Iterator[None]:
    """Hold the sandbox root's lock: one answer or cycle at a time, across threads and across
    processes (`rcm sandbox start` answering uploads while another process runs a cycle)."""
    folder = Path(root) / STATE_DIR
    folder.mkdir(parents=True, exist_ok=True)
    with _THREAD_LOCK, open(folder / LOCK_FILE, "a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


@dataclass
class ClaimRecord:
    """One claim the payer accepted (277CA A1/A2) and what became of it."""

    key: str
    account: str
    claim: ClaimIn
    icn: str
    received: date
    source_sha256: str
    duplicate: bool = False
    status: str = PENDING
    decision: ClaimDecision | None = None
    paid_cycle: int | None = None
    reversal_checked: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "account": self.account,
            "claim": self.claim.to_json(),
            "icn": self.icn,
            "received": self.received.isoformat(),
            "source_sha256": self.source_sha256,
            "duplicate": self.duplicate,
            "status": self.status,
            "decision": self.decision.to_json() if self.decision else None,
            "paid_cycle": self.paid_cycle,
            "reversal_checked": self.reversal_checked,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ClaimRecord:
        return cls(
            key=data["key"],
            account=data["account"],
            claim=ClaimIn.from_json(data["claim"]),
            icn=data["icn"],
            received=date.fromisoformat(data["received"]),
            source_sha256=data["source_sha256"],
            duplicate=data["duplicate"],
            status=data["status"],
            decision=ClaimDecision.from_json(data["decision"]) if data["decision"] else None,
            paid_cycle=data["paid_cycle"],
            reversal_checked=data["reversal_checked"],
        )


@dataclass
class FileRecord:
    """One uploaded file, by sha256: which account sent it and what was answered."""

    account: str
    name: str
    kind: str
    outcome: str
    answers: list[str] = field(default_factory=list)


@dataclass
class SandboxState:
    """Everything the sandbox remembers. `save()` after each change; `load()` on start."""

    path: Path
    files: dict[str, FileRecord] = field(default_factory=dict)
    claims: dict[str, ClaimRecord] = field(default_factory=dict)
    fingerprints: dict[str, str] = field(default_factory=dict)
    accumulators: dict[str, Accumulator] = field(default_factory=dict)
    counters: dict[str, int] = field(default_factory=dict)
    # account -> (submitter qualifier, submitter ID, our qualifier, our ID) from its last upload
    submitters: dict[str, tuple[str, str, str, str]] = field(default_factory=dict)
    # account|payer|payee NPI -> what the provider owes from a negative 835 (PLB FB)
    balances: dict[str, Decimal] = field(default_factory=dict)
    cycles: int = 0
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False, compare=False)

    @classmethod
    def load(cls, root: Path | str) -> SandboxState:
        path = Path(root) / STATE_DIR / STATE_FILE
        with _MEMORY_LOCK:
            held = _IN_MEMORY.get(path.resolve())
        if held is not None:
            return held
        state = cls(path=path)
        if not path.is_file():
            return state
        raw = json.loads(path.read_text(encoding="utf-8"))
        if raw.get("version") != FORMAT_VERSION:
            raise ValueError(f"{path}: unsupported sandbox state version {raw.get('version')!r}")
        state.files = {k: FileRecord(**v) for k, v in raw["files"].items()}
        state.claims = {k: ClaimRecord.from_json(v) for k, v in raw["claims"].items()}
        state.fingerprints = dict(raw["fingerprints"])
        state.accumulators = {
            k: Accumulator(Decimal(v["deductible_used"]), Decimal(v["oop_used"]))
            for k, v in raw["accumulators"].items()
        }
        state.counters = {k: int(v) for k, v in raw["counters"].items()}
        state.submitters = {k: (v[0], v[1], v[2], v[3]) for k, v in raw["submitters"].items()}
        state.balances = {k: Decimal(v) for k, v in raw["balances"].items()}
        state.cycles = int(raw["cycles"])
        return state

    def save(self) -> None:
        """Write the state to its file, unless the sandbox keeps it in memory (`in_memory`):
        then `flush()` writes it."""
        with _MEMORY_LOCK:
            if _IN_MEMORY.get(self.path.resolve()) is self:
                return
        self.flush()

    def flush(self) -> None:
        with self.lock:
            raw = {
                "version": FORMAT_VERSION,
                "cycles": self.cycles,
                "counters": dict(sorted(self.counters.items())),
                "submitters": {k: list(v) for k, v in sorted(self.submitters.items())},
                "files": {
                    k: {
                        "account": v.account,
                        "name": v.name,
                        "kind": v.kind,
                        "outcome": v.outcome,
                        "answers": v.answers,
                    }
                    for k, v in sorted(self.files.items())
                },
                "claims": {k: v.to_json() for k, v in sorted(self.claims.items())},
                "fingerprints": dict(sorted(self.fingerprints.items())),
                "balances": {k: str(v) for k, v in sorted(self.balances.items())},
                "accumulators": {
                    k: {"deductible_used": str(v.deductible_used), "oop_used": str(v.oop_used)}
                    for k, v in sorted(self.accumulators.items())
                },
            }
            text = json.dumps(raw, indent=1, sort_keys=False)
            atomic_write(self.path, text.encode("utf-8"))

    def next_number(self, counter: str, *, start: int = 1, modulo: int = 999_999_999) -> int:
        """The next value of a named counter (ISA13 per account, 835 trace numbers...)."""
        with self.lock:
            value = self.counters.get(counter, start - 1) + 1
            if value > modulo:
                value = start
            self.counters[counter] = value
            return value

    def accumulator(self, member_id: str) -> Accumulator:
        key = member_id.upper()
        if key not in self.accumulators:
            self.accumulators[key] = Accumulator()
        return self.accumulators[key]

    def pending(self) -> Iterator[ClaimRecord]:
        """Claims waiting for an 835, in a fixed order (not arrival order)."""
        for key in sorted(self.claims):
            record = self.claims[key]
            if record.status == PENDING:
                yield record

    def paid_unchecked(self, before_cycle: int) -> Iterator[ClaimRecord]:
        """Paid claims, paid before `before_cycle`, not yet considered for a reversal."""
        for key in sorted(self.claims):
            record = self.claims[key]
            if (
                record.status == PAID
                and not record.reversal_checked
                and record.paid_cycle is not None
                and record.paid_cycle < before_cycle
            ):
                yield record


# Roots whose state lives in memory between flushes. Saving the whole state after every upload
# costs time in proportion to everything the sandbox remembers, which at a billing firm's
# scale (100,000 claims a day, a thousand files) is most of the run; a single process that
# owns the sandbox (the benchmarks) keeps it in memory and writes it once, on stop.
_IN_MEMORY: dict[Path, SandboxState] = {}
_MEMORY_LOCK = threading.Lock()


@contextmanager
def in_memory(root: Path | str) -> Iterator[SandboxState]:
    """Inside this block the state of `root` is loaded once, kept in memory and written when
    the block ends (also when it raises)."""
    path = (Path(root) / STATE_DIR / STATE_FILE).resolve()
    state = SandboxState.load(root)
    with _MEMORY_LOCK:
        _IN_MEMORY[path] = state
    try:
        yield state
    finally:
        with _MEMORY_LOCK:
            _IN_MEMORY.pop(path, None)
        state.flush()
