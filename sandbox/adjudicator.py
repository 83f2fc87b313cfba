"""The sandbox clearinghouse and its payers: every uploaded file gets answered the way a real
clearinghouse answers it.

- An 837 gets a 999 (transaction sets that fail the pyx12 gate are rejected with IK3/IK4 from
  the validator's report), then, if anything was accepted, a 277CA with a status per claim.
  Accepted claims wait for the next `run_cycle`.
- `run_cycle(now)` adjudicates what is waiting (sandbox/payer_rules.py) and writes one 835 per
  account, payer and payee, with replacements and voids reversing what they replace, the
  occasional reversal and corrected payment, prompt-pay interest and recoupment, all chosen by
  `random.Random` seeded from the sandbox seed and the claim or remittance it concerns, so
  answers do not depend on the order files arrived in. A claim billed as secondary or tertiary
  (SBR01 S/T) is coordinated with the prior payers' adjudication its 2320/2430 loops carry
  (CLP02 2/3, the prior payers' share as OA-23; `payer_rules.adjudicate_after_prior`).
- A 270 gets a 999 and a 271 from the member roster.

An identical file uploaded again is recognised by its sha256: no second 999 or 277CA, and its
claims come back on the next 835 denied as duplicates (CO-18).

Answers are written into the account's inbound folders under a hidden temporary name and
renamed when complete. Logs carry account, file names and counts, never claim contents.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

from rcm.errors import X12Error
from rcm.logging import logger
from rcm.x12 import x270, x271, x277ca, x835, x837, x999
from rcm.x12.core import Delimiters, InterchangeEnvelope, read_transactions
from rcm.x12.validate import ValidationIssue, ValidationReport, validate
from sandbox.payer_rules import (
    HUNDRED,
    ZERO,
    Accumulator,
    AdjudicationContext,
    Adjustment,
    ClaimDecision,
    ClaimIn,
    EligibilityAnswer,
    FrontEndResult,
    LineDecision,
    LineIn,
    PayerRules,
    PriorLine,
    PriorPayer,
    Roster,
    SandboxConfig,
    adjudicate,
    corrected,
    eligibility,
    front_end_check,
    load_config,
    load_roster,
    money,
    roster_version,
)
from sandbox.state import (
    PAID,
    REPLACED,
    REVERSED,
    ClaimRecord,
    FileRecord,
    SandboxState,
    atomic_write,
    locked,
)

# Answers are sent from whatever ID the upload was addressed to (ISA08); this when unknown.
CLEARINGHOUSE_ID = "RCMSANDBOX"
CLEARINGHOUSE_NAME = "RCM SANDBOX CLEARINGHOUSE"
CLEARINGHOUSE_TIN = "990000000"

# Folders inside an account, as sandbox/sftp_server.py creates them and
# config/clearinghouses/sandbox.yaml reads them.
INBOUND_999 = "inbound/999"
INBOUND_277 = "inbound/277"
INBOUND_835 = "inbound/835"
INBOUND_271 = "inbound/271"

Clock = Callable[[], datetime]


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _digest(*parts: object) -> int:
    text = "|".join(str(p) for p in parts)
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big")


@dataclass
class Outcome:
    """What one upload produced: the answer files and, for 837s, the per-claim verdicts."""

    kind: str
    files: list[Path] = field(default_factory=list)
    duplicate_file: bool = False
    claims: list[tuple[str, FrontEndResult]] = field(default_factory=list)


class Adjudicator:
    """Answers uploads and runs payment cycles for every account under `root`."""

    def __init__(
        self,
        root: Path | str,
        config_dir: Path | str,
        seed: int = 0,
        *,
        clock: Clock | None = None,
        config: SandboxConfig | None = None,
        usage: str = "T",
    ) -> None:
        self.root = Path(root)
        self.config_dir = Path(config_dir)
        self.seed = seed
        self.clock = clock or _utcnow
        self.config = config or load_config(self.config_dir)
        self.usage = usage
        self.state = SandboxState.load(self.root)
        self._roster: tuple[object, Roster] | None = None

    # -- randomness ---------------------------------------------------------------------------

    def rng(self, *key: object) -> random.Random:
        """A generator for one decision, keyed by what it is about (never by arrival order)."""
        return random.Random(_digest(self.seed, *key))

    def roster(self) -> Roster:
        """The payers' member roster, read again only when its file changes: a firm's roster
        holds hundreds of thousands of members, and parsing it for every upload kept a core
        busy (and, in-process, the platform waiting for the GIL)."""
        version = roster_version(self.root)
        if self._roster is None or self._roster[0] != version:
            self._roster = (version, load_roster(self.root))
        return self._roster[1]

    # -- uploads ------------------------------------------------------------------------------

    def handle_upload(self, account: str, path: Path) -> Outcome:
        """The SFTP server's on_upload hook: answer one file that arrived in `account`'s
        outbound folder."""
        return self.process(account, path.name, Path(path).read_bytes())

    def process(self, account: str, name: str, data: bytes, now: datetime | None = None) -> Outcome:
        now = now or self.clock()
        with locked(self.root):
            self.state = SandboxState.load(self.root)
            sha = hashlib.sha256(data).hexdigest()
            try:
                kind = _set_id(data)
            except X12Error as exc:
                logger.warning(
                    "sandbox cannot read upload", account=account, file=name, error=str(exc)
                )
                kind = "unreadable"
            seen = self.state.files.get(sha)
            try:
                if seen is not None and seen.account == account and kind == "837":
                    outcome = self._duplicate_file(account, sha, seen, now)
                elif kind == "837":
                    outcome = self._answer_837(account, name, data, sha, now)
                elif kind == "270":
                    outcome = self._answer_270(account, name, data, sha, now)
                else:
                    outcome = self._answer_unknown(account, name, data, sha, now, kind)
            except X12Error as exc:
                # The envelope breaks further in (a transaction set without SE, say): nothing
                # can be acknowledged set by set, so nothing is answered, as a real one would.
                logger.warning(
                    "sandbox cannot frame upload", account=account, file=name, error=str(exc)
                )
                self.state = SandboxState.load(self.root)
                self.state.files[sha] = FileRecord(account, name, kind, "unreadable")
                outcome = Outcome("unreadable")
            self.state.save()
        logger.info(
            "sandbox answered upload",
            account=account,
            file=name,
            kind=outcome.kind,
            answers=[p.name for p in outcome.files],
            duplicate_file=outcome.duplicate_file,
        )
        return outcome

    def _duplicate_file(self, account: str, sha: str, seen: FileRecord, now: datetime) -> Outcome:
        """The same bytes again: re-queue every claim the first copy had accepted, marked as
        duplicates, for CO-18 on the next 835."""
        outcome = Outcome("837", duplicate_file=True)
        originals = [
            r for r in self.state.claims.values() if r.source_sha256 == sha and not r.duplicate
        ]
        for original in sorted(originals, key=lambda r: r.key):
            record = self._new_record(account, original.claim, now.date(), sha, duplicate=True)
            outcome.claims.append(
                (record.claim.patient_control_number, FrontEndResult(True, (), "duplicate"))
            )
        seen.answers.append(f"duplicate upload #{len(seen.answers)}")
        return outcome

    def _new_record(
        self, account: str, claim: ClaimIn, received: date, sha: str, *, duplicate: bool
    ) -> ClaimRecord:
        prefix = f"{account}/{claim.payer_id}/{claim.patient_control_number}/"
        occurrence = self.state.counters.get(f"claims:{prefix}", 0)
        self.state.counters[f"claims:{prefix}"] = occurrence + 1
        key = f"{prefix}{occurrence:03d}"
        fingerprint = f"{account}|{claim.fingerprint()}"
        if not duplicate and claim.frequency == "1" and fingerprint in self.state.fingerprints:
            duplicate = True
        self.state.fingerprints.setdefault(fingerprint, key)
        record = ClaimRecord(
            key=key,
            account=account,
            claim=claim,
            icn=self._icn(account, claim, occurrence, received),
            received=received,
            source_sha256=sha,
            duplicate=duplicate,
        )
        self.state.claims[key] = record
        return record

    def _icn(self, account: str, claim: ClaimIn, occurrence: int | str, received: date) -> str:
        number = _digest(
            self.seed, account, claim.payer_id, claim.patient_control_number, occurrence
        )
        return f"{received:%y%j}{number % 10**11:011d}"

    def _envelope(
        self,
        account: str,
        functional_id: str,
        version: str,
        now: datetime,
        *,
        application_sender: str | None = None,
    ) -> InterchangeEnvelope:
        qualifier, receiver, our_qualifier, our_id = self.state.submitters.get(
            account, ("ZZ", account.upper()[:15], "ZZ", CLEARINGHOUSE_ID)
        )
        number = self.state.next_number(f"isa:{account}")
        return InterchangeEnvelope(
            sender_qualifier=our_qualifier,
            sender_id=our_id,
            receiver_qualifier=qualifier,
            receiver_id=receiver,
            control_number=number,
            group_control_number=number,
            functional_id=functional_id,
            version=version,
            created=now,
            application_sender=application_sender,
            usage=self.usage,
        )

    def _write(self, account: str, folder: str, name: str, data: bytes) -> Path:
        path = self.root / account / folder / name
        atomic_write(path, data)
        return path

    def _remember_submitter(self, account: str, data: bytes) -> None:
        for tx in read_transactions(data, strict=False):
            self.state.submitters[account] = (
                tx.isa[5].strip() or "ZZ",
                tx.isa[6].strip(),
                tx.isa[7].strip() or "ZZ",
                tx.isa[8].strip() or CLEARINGHOUSE_ID,
            )
            for _ in tx.body:
                pass
            return

    # -- 837 ----------------------------------------------------------------------------------

    def _answer_837(self, account: str, name: str, data: bytes, sha: str, now: datetime) -> Outcome:
        outcome = Outcome("837")
        self._remember_submitter(account, data)
        stamp = now.strftime("%Y%m%d%H%M%S")
        parts = split_transactions(data, name)
        rejections = validation_rejections(data, name)
        parsed: list[ParsedClaim] = []
        for part in parts:
            if part.key in rejections:
                continue
            try:
                parsed += claims_from_837(part)
            except X12Error:
                rejections[part.key] = [
                    x999.SegmentError(part.first_segment, 1, IK3_DATA_ELEMENT_ERRORS, "")
                ]
                logger.warning("sandbox cannot parse 837 set", account=account, file=name)
        envelope = self._envelope(account, "FA", x999.IMPLEMENTATION, now)
        acks = x999.acknowledgement_for(data, file_name=name, rejections=rejections)
        self._write_answer(
            outcome, account, INBOUND_999, "999", stamp, x999.build_999(acks, envelope)
        )
        accepted_keys = {p.key for p in parts if p.key not in rejections}
        record = FileRecord(account, name, "837", "accepted" if accepted_keys else "rejected")
        record.answers.append(outcome.files[-1].name)
        self.state.files[sha] = record
        if not accepted_keys:
            return outcome
        roster = self.roster()
        received = now.date()
        verdicts: list[ClaimVerdict] = []
        for item in parsed:
            result = front_end_check(item.claim, roster, self.config)
            icn = ""
            if result.accepted:
                icn = self._new_record(account, item.claim, received, sha, duplicate=False).icn
            verdicts.append(ClaimVerdict(item, result, icn))
            outcome.claims.append((item.claim.patient_control_number, result))
        envelope = self._envelope(account, "HN", x277ca.IMPLEMENTATION, now)
        ack277 = build_277ca_model(
            verdicts, now, reference=f"{self.state.counters[f'isa:{account}']:09d}"
        )
        self._write_answer(
            outcome, account, INBOUND_277, "277CA", stamp, x277ca.build_277ca([ack277], envelope)
        )
        record.answers.append(outcome.files[-1].name)
        return outcome

    def _write_answer(
        self,
        outcome: Outcome,
        account: str,
        folder: str,
        kind: str,
        stamp: str,
        data: bytes,
        payer_id: str | None = None,
    ) -> None:
        isa = self.state.counters[f"isa:{account}"]
        middle = f"{payer_id}_" if payer_id else ""
        outcome.files.append(
            self._write(account, folder, f"{kind}_{middle}{isa:09d}_{stamp}.x12", data)
        )

    # -- 270 ----------------------------------------------------------------------------------

    def _answer_270(self, account: str, name: str, data: bytes, sha: str, now: datetime) -> Outcome:
        """A 999 for the file (as batch clearinghouses send) and a 271 for what it asks."""
        self._remember_submitter(account, data)
        outcome = Outcome("270")
        stamp = now.strftime("%Y%m%d%H%M%S")
        record = self.state.files.setdefault(sha, FileRecord(account, name, "270", "answered"))
        rejections: dict[tuple[str, str], list[x999.SegmentError]] = {}
        requests: list[x270.EligibilityRequest] = []
        for part in split_transactions(data, name):
            try:
                requests += x270.parse_270(part.data)
            except X12Error:
                rejections[part.key] = [x999.SegmentError("ST", 1, IK3_DATA_ELEMENT_ERRORS)]
        envelope = self._envelope(account, "FA", x999.IMPLEMENTATION, now)
        acks = x999.acknowledgement_for(data, file_name=name, rejections=rejections)
        self._write_answer(
            outcome, account, INBOUND_999, "999", stamp, x999.build_999(acks, envelope)
        )
        record.answers.append(outcome.files[-1].name)
        if not requests:
            return outcome
        answers = answer_270(
            requests, self.roster(), self.state.accumulators, self.config, now,
            trace_prefix=f"{self.state.counters[f'isa:{account}'] + 1:09d}",
        )  # fmt: skip
        envelope = self._envelope(account, "HB", x271.IMPLEMENTATION, now)
        self._write_answer(
            outcome,
            account,
            INBOUND_271,
            "271",
            stamp,
            x271.build_271_interchange(envelope, answers),
        )
        record.answers.append(outcome.files[-1].name)
        return outcome

    def _answer_unknown(
        self, account: str, name: str, data: bytes, sha: str, now: datetime, kind: str
    ) -> Outcome:
        """Anything that is not an 837 or a 270: a rejecting 999 when the envelope can be read,
        otherwise nothing (a real clearinghouse drops what it cannot even frame)."""
        outcome = Outcome(kind)
        self.state.files[sha] = FileRecord(account, name, kind, "rejected")
        if kind == "unreadable":
            return outcome
        self._remember_submitter(account, data)
        ack = reject_all(data, name, self._envelope(account, "FA", "005010X231A1", now))
        if ack is None:
            return outcome
        isa = self.state.counters[f"isa:{account}"]
        stamp = now.strftime("%Y%m%d%H%M%S")
        outcome.files.append(self._write(account, INBOUND_999, f"999_{isa:09d}_{stamp}.x12", ack))
        self.state.files[sha].answers.append(outcome.files[-1].name)
        return outcome

    # -- payment cycle ------------------------------------------------------------------------

    def run_cycle(self, now: datetime | None = None) -> list[Path]:
        """Adjudicate every claim accepted since the last cycle, reverse and re-pay some claims
        paid before it, and write the 835s. Returns the files written."""
        now = now or self.clock()
        with locked(self.root):
            self.state = SandboxState.load(self.root)
            cycle = self.state.cycles + 1
            roster = self.roster()
            entries: dict[tuple[str, str, str], list[_Entry]] = {}
            for record in list(self.state.pending()):
                rules = self.config.payer(record.claim.payer_id)
                if rules is None:  # payer removed from config since the 277CA
                    continue
                record.status = PAID
                record.paid_cycle = cycle
                if record.claim.frequency in ("7", "8"):
                    original = self._original_of(record)
                    if original is not None and original.decision is not None:
                        # A replacement or void takes back what the original was paid first.
                        original.status = REPLACED
                        self._give_back(original.claim.member_id, original.decision)
                        _group(entries, original).append(
                            _Entry(original, original.decision.reversed())
                        )
                        if record.claim.frequency == "8":
                            record.decision = original.decision.reversed()
                            record.reversal_checked = True
                            continue
                    elif original is None:
                        record.decision = unknown_original(record.claim, record.icn)
                        record.reversal_checked = True
                        _group(entries, record).append(_Entry(record, record.decision))
                        continue
                member = roster.get(record.claim.member_id)
                ctx = AdjudicationContext(
                    member=member,
                    rules=rules,
                    fees=self.config.fees,
                    received=record.received,
                    duplicate=record.duplicate,
                    accumulator=self.state.accumulator(record.claim.member_id),
                )
                decision = adjudicate(record.claim, ctx, icn=record.icn)
                record.decision = decision
                _group(entries, record).append(_Entry(record, decision))
            for record in list(self.state.paid_unchecked(cycle)):
                record.reversal_checked = True
                rules = self.config.payer(record.claim.payer_id)
                if rules is None or record.decision is None or record.decision.status == "4":
                    continue
                if self.rng("reversal", record.key).random() >= rules.reversal_probability:
                    continue
                paid_before = record.decision
                fixed = corrected(paid_before, rules)
                fixed = replace(
                    fixed,
                    payer_claim_control_number=self._icn(
                        record.account, record.claim, "corrected", record.received
                    ),
                )
                record.status = REVERSED
                record.decision = fixed
                same_835 = _group(entries, record)
                same_835.append(_Entry(record, paid_before.reversed()))
                same_835.append(_Entry(record, fixed))
            written: list[Path] = []
            for (account, payer_id, _payee), group in sorted(entries.items()):
                written.append(self._write_835(account, payer_id, group, cycle, now))
            self.state.cycles = cycle
            self.state.save()
        logger.info("sandbox payment cycle", cycle=cycle, files=[p.name for p in written])
        return written

    def _write_835(
        self, account: str, payer_id: str, entries: list[_Entry], cycle: int, now: datetime
    ) -> Path:
        rules = self.config.payer(payer_id)
        assert rules is not None
        first = entries[0].record.claim
        rng = self.rng("plb", account, payer_id, first.billing_npi, cycle)
        trace = _digest(self.seed, "trace", account, payer_id, first.billing_npi, cycle)
        balance_key = f"{account}|{payer_id}|{first.billing_npi}"
        remittance, owed = build_remittance(
            entries=[(e.record.claim, e.decision, e.record.received) for e in entries],
            rules=rules,
            trace_number=f"{trace % 10**10:010d}",
            payment_date=now.date(),
            rng=rng,
            recoup_reference=self._recoup_reference(account, payer_id, cycle),
            carried=self.state.balances.get(balance_key, ZERO),
        )
        if owed:
            self.state.balances[balance_key] = owed
        else:
            self.state.balances.pop(balance_key, None)
        envelope = self._envelope(
            account, "HP", x835.IMPLEMENTATION, now, application_sender=payer_id
        )
        data = x835.build_835([remittance], envelope)
        isa = self.state.counters[f"isa:{account}"]
        stamp = now.strftime("%Y%m%d%H%M%S")
        return self._write(account, INBOUND_835, f"835_{payer_id}_{isa:09d}_{stamp}.x12", data)

    def _give_back(self, member_id: str, decision: ClaimDecision) -> None:
        """A reversed claim's deductible and out-of-pocket go back to the member."""
        acc = self.state.accumulator(member_id)
        for line in decision.lines:
            for a in line.adjustments:
                if a.group == "PR":
                    acc.oop_used -= a.amount
                    if a.reason == "1":
                        acc.deductible_used -= a.amount

    def _original_of(self, record: ClaimRecord) -> ClaimRecord | None:
        """The claim a replacement (7) or void (8) names by its payer claim number: one the
        payer adjudicated (paid or denied) and no replacement or void has taken back yet."""
        wanted = record.claim.original_claim_number
        for key in sorted(self.state.claims):
            other = self.state.claims[key]
            if (
                other.account == record.account
                and other.claim.payer_id == record.claim.payer_id
                and other.status in (PAID, REVERSED)
                and other.decision is not None
                and other.decision.status != "22"
                and other.decision.payer_claim_control_number == wanted
            ):
                return other
        return None

    def _recoup_reference(self, account: str, payer_id: str, cycle: int) -> str | None:
        """The payer claim number of an earlier paid claim an overpayment recovery points at."""
        earlier = [
            r.icn
            for r in self.state.claims.values()
            if r.account == account
            and r.claim.payer_id == payer_id
            and r.paid_cycle is not None
            and r.paid_cycle < cycle
            and r.decision is not None
            and r.decision.paid > 0
        ]
        return sorted(earlier)[0] if earlier else None


@dataclass
class _Entry:
    record: ClaimRecord
    decision: ClaimDecision


def _group(entries: dict[tuple[str, str, str], list[_Entry]], record: ClaimRecord) -> list[_Entry]:
    return entries.setdefault((record.account, record.claim.payer_id, record.claim.billing_npi), [])


def _set_id(data: bytes) -> str:
    """ST01 of the first transaction set ('837', '270' ...)."""
    for tx in read_transactions(data, strict=False):
        return tx.set_id
    return "unreadable"


# ---------------------------------------------------------------------------------------------
# 837 in, 999 and 277CA out
# ---------------------------------------------------------------------------------------------

IK3_DATA_ELEMENT_ERRORS = "8"


@dataclass(frozen=True)
class TransactionPart:
    """One ST..SE of an uploaded file, re-wrapped alone in its ISA/GS so it can be parsed (and
    rejected) on its own."""

    group_control_number: str
    control_number: str
    set_id: str
    version: str
    data: bytes
    first_segment: str = "ST"
    submitter: tuple[str, str] = ("ZZ", "")
    reference: str = ""

    @property
    def key(self) -> tuple[str, str]:
        return (self.group_control_number, self.control_number)


def split_transactions(data: bytes, name: str | None = None) -> list[TransactionPart]:
    parts: list[TransactionPart] = []
    for tx in read_transactions(data, file_name=name, strict=False):
        d = tx.delimiters
        body = list(tx.body)

        def text(seg_id: str, elements: Sequence[str], d: Delimiters = d) -> str:
            return d.element.join([seg_id, *elements]) + d.segment

        out = [text("ISA", tx.isa.elements), text("GS", tx.gs.elements), text("ST", tx.st.elements)]
        out += [text(seg.id, seg.elements) for seg in body]
        out.append(text("SE", [str(len(body) + 2), tx.st[2]]))
        out.append(text("GE", ["1", tx.gs[6]]))
        out.append(text("IEA", ["1", tx.isa[13]]))
        bht = next((seg for seg in body if seg.id == "BHT"), None)
        parts.append(
            TransactionPart(
                tx.group_control_number,
                tx.control_number,
                tx.set_id,
                tx.version,
                "".join(out).encode("utf-8"),
                body[0].id if body else "ST",
                (tx.isa[5].strip(), tx.isa[6].strip()),
                bht[3] if bht is not None else "",
            )
        )
    return parts


def validation_rejections(
    data: bytes, name: str | None = None
) -> dict[tuple[str, str], list[x999.SegmentError]]:
    """(GS06, ST02) of every transaction set the pyx12 gate fails, with its IK3/IK4 errors."""
    report = validate(data, file_name=name)
    return rejections_from_report(report, data)


def rejections_from_report(
    report: ValidationReport, data: bytes
) -> dict[tuple[str, str], list[x999.SegmentError]]:
    """The validator's errors as 999 IK3/IK4 per transaction set. An error no transaction set
    contains (interchange, group, unreadable file) rejects every set."""
    spans: list[tuple[int, int, tuple[str, str]]] = []
    try:
        for tx in read_transactions(data, strict=False):
            for _ in tx.body:
                pass
            end = tx.se.number if tx.se is not None else tx.st.number
            spans.append((tx.st.number, end, (tx.group_control_number, tx.control_number)))
    except X12Error:
        return {}
    out: dict[tuple[str, str], list[x999.SegmentError]] = {}
    by_segment: dict[tuple[tuple[str, str], int], x999.SegmentError] = {}

    def locate(issue: ValidationIssue) -> tuple[tuple[str, str], int] | None:
        if issue.segment_number is not None:
            for start, end, key in spans:
                if start <= issue.segment_number <= end:
                    return key, issue.segment_number - start + 1
        if issue.transaction_control_number:
            for start, end, key in spans:
                if key[1] == issue.transaction_control_number:
                    return key, end - start + 1
        return None

    for issue in report.errors:
        if issue.source == "rcm" and issue.code == "envelope":
            continue  # acknowledgement_for reports envelope counts with its own codes
        where = locate(issue)
        if where is None:
            for _, _, key in spans:
                out.setdefault(key, []).append(x999.SegmentError("ST", 1, IK3_DATA_ELEMENT_ERRORS))
            continue
        key, position = where
        errors = out.setdefault(key, [])
        seg_error = by_segment.get((key, position))
        if seg_error is None:
            code = issue.code if issue.level == "segment" and issue.code.isalnum() else "8"
            seg_error = x999.SegmentError(issue.segment_id or "SE", position, code[:3])
            by_segment[(key, position)] = seg_error
            errors.append(seg_error)
        if issue.level == "element" and issue.element:
            name = issue.element[len(issue.segment_id or "") :]
            number, _, component = name.partition("-")
            if number.isdigit():
                seg_error.element_errors.append(
                    x999.ElementError(
                        int(number),
                        issue.code[:3] if issue.code.isalnum() else "7",
                        component_position=int(component) if component.isdigit() else None,
                    )
                )
    return out


@dataclass(frozen=True)
class ParsedClaim:
    claim: ClaimIn
    source: x837.Claim837
    reference: str


@dataclass(frozen=True)
class ClaimVerdict:
    parsed: ParsedClaim
    result: FrontEndResult
    icn: str


def claim_in(c: x837.Claim837) -> ClaimIn:
    """What the sandbox payers look at, from X12-B's typed 837 claim: with SBR01 (payer
    responsibility) and, for a secondary or tertiary claim, the prior payers' adjudication from
    the 2320/2330B loops (AMT*D, claim CAS, AMT*EAF, DTP*573) and each line's 2430s (SVD, CAS,
    DTP*573, AMT*EAF)."""
    lines = []
    dates: list[date] = []
    for number, line in enumerate(c.lines, start=1):
        if line.service_date:
            dates.append(line.service_date)
        if line.procedure_code:
            qualifier, procedure = line.procedure_qualifier or "HC", line.procedure_code
        else:
            qualifier, procedure = "NU", line.revenue_code or ""
        lines.append(
            LineIn(
                number=number,
                procedure=procedure,
                charge=line.charge,
                units=line.units,
                modifiers=tuple(line.modifiers),
                dx_pointers=tuple(line.diagnosis_pointers) or (1,),
                service_date=line.service_date,
                revenue_code=line.revenue_code,
                qualifier=qualifier,
                control_number=line.line_item_control_number,
                prior=tuple(
                    PriorLine(
                        payer_id=a.payer_id,
                        paid=a.paid_amount,
                        adjustments=_adjustments(a.adjustments),
                        adjudication_date=a.adjudication_date,
                        remaining_patient_liability=a.remaining_patient_liability,
                    )
                    for a in line.adjudications
                ),
            )
        )
    service_date = min(dates) if dates else (c.statement_from or date.min)
    sub = c.subscriber
    bp = c.billing_provider
    return ClaimIn(
        patient_control_number=c.patient_control_number,
        payer_id=sub.payer.payer_id,
        member_id=sub.member_id,
        subscriber_last=sub.last_name,
        subscriber_first=sub.first_name or "",
        service_date=service_date,
        charge=c.charge,
        lines=tuple(lines),
        diagnoses=tuple(c.diagnoses),
        prior_auth=c.prior_authorization,
        frequency=c.frequency,
        original_claim_number=c.original_claim_number,
        referring_npi=c.referring_provider.npi if c.referring_provider else None,
        patient_last=c.patient.last_name if c.patient else None,
        patient_first=c.patient.first_name if c.patient else None,
        billing_npi=bp.npi,
        billing_tin=bp.tax_id,
        billing_name=bp.name,
        institutional=c.kind == x837.INSTITUTIONAL,
        facility_code=c.facility_code,
        filing_indicator=sub.claim_filing_indicator,
        payer_responsibility=sub.payer_responsibility,
        other_payers=tuple(
            PriorPayer(
                responsibility=o.payer_responsibility,
                payer_id=o.payer_id,
                paid=o.paid_amount if o.paid_amount is not None else ZERO,
                adjustments=_adjustments(o.adjustments),
                remaining_patient_liability=o.remaining_patient_liability,
                adjudication_date=o.adjudication_date,
            )
            for o in c.other_payers
        ),
    )


def _adjustments(cas: Sequence[x837.Adjustment]) -> tuple[Adjustment, ...]:
    return tuple(Adjustment(a.group_code, a.reason_code, a.amount, a.quantity) for a in cas)


def claims_from_837(part: TransactionPart) -> list[ParsedClaim]:
    return [ParsedClaim(claim_in(c), c, part.reference) for c in x837.parse_837(part.data)]


def build_277ca_model(
    verdicts: Sequence[ClaimVerdict], now: datetime, *, reference: str
) -> x277ca.Ack277CA:
    """The 277CA for one accepted file: clearinghouse > submitter > billing provider > one
    patient level per claim, with counts and amounts per level as X214 asks."""
    today = now.date()

    def totals(
        items: Sequence[ClaimVerdict], accepted_code: str = "90", rejected_code: str = "AA"
    ) -> tuple[list[x835.Quantity], list[x835.Amount]]:
        accepted = [v for v in items if v.result.accepted]
        rejected = [v for v in items if not v.result.accepted]
        quantities, amounts = [], []
        if accepted:
            quantities.append(x835.Quantity(accepted_code, Decimal(len(accepted))))
            amounts.append(x835.Amount("YU", sum((v.parsed.claim.charge for v in accepted), ZERO)))
        if rejected:
            quantities.append(x835.Quantity(rejected_code, Decimal(len(rejected))))
            amounts.append(x835.Amount("YY", sum((v.parsed.claim.charge for v in rejected), ZERO)))
        return quantities, amounts

    providers: dict[str, list[ClaimVerdict]] = {}
    for v in verdicts:
        providers.setdefault(v.parsed.claim.billing_npi, []).append(v)
    provider_entities = []
    for npi, items in providers.items():
        first = items[0].parsed
        bp = first.source.billing_provider
        quantities, amounts = totals(items, "QA", "QC")
        patients = []
        for v in items:
            claim = v.parsed.claim
            codes = [
                x277ca.StatusCode(code.category, code.code, code.entity or "")
                for code in v.result.statuses
            ]
            status = x277ca.Status(
                codes,
                today,
                "WQ" if v.result.accepted else "U",
                claim.charge,
            )
            dates = [d for ln in claim.lines if ln.service_date for d in [ln.service_date]]
            start, end = (
                (min(dates), max(dates)) if dates else (claim.service_date, claim.service_date)
            )
            claim_status = x277ca.ClaimStatus(
                claim.patient_control_number,
                statuses=[status],
                references=[x835.Reference("1K", v.icn)] if v.icn else [],
                dates=[x277ca.DatePeriod("472", start, end if end != start else None)],
            )
            patients.append(
                x277ca.Entity(
                    x277ca.LEVEL_PATIENT,
                    name=x835.Name(
                        "QC",
                        "1",
                        (claim.patient_last or claim.subscriber_last).upper(),
                        (claim.patient_first or claim.subscriber_first).upper(),
                        id_qualifier="MI",
                        id=claim.member_id,
                    ),
                    claims=[claim_status],
                )
            )
        provider_total = sum((v.parsed.claim.charge for v in items), ZERO)
        provider_status = x277ca.Status(
            [x277ca.StatusCode("A1", "19", "85")], None, "WQ", provider_total
        )
        provider_entities.append(
            x277ca.Entity(
                x277ca.LEVEL_PROVIDER,
                statuses=[provider_status],
                name=x835.Name(
                    "85", bp.entity_type, bp.name, bp.first_name or "", id_qualifier="XX", id=npi
                ),
                trace_type="1",
                trace=reference,
                references=[x835.Reference("TJ", bp.tax_id)] if bp.tax_id else [],
                quantities=quantities,
                amounts=amounts,
                children=patients,
            )
        )
    quantities, amounts = totals(verdicts)
    submitter_ref = verdicts[0].parsed.reference if verdicts else reference
    header = verdicts[0].parsed.source if verdicts else None
    receiver = x277ca.Entity(
        x277ca.LEVEL_RECEIVER,
        name=x835.Name("41", "2", "SUBMITTER", id_qualifier="46", id="SUBMITTER"),
        trace_type="2",
        trace=submitter_ref or reference,
        statuses=[
            x277ca.Status(
                [x277ca.StatusCode("A1", "19", "PR")],
                today,
                "WQ",
                sum((v.parsed.claim.charge for v in verdicts), ZERO),
            )
        ],
        quantities=quantities,
        amounts=amounts,
        children=provider_entities,
    )
    del header
    source = x277ca.Entity(
        x277ca.LEVEL_SOURCE,
        name=x835.Name("PR", "2", CLEARINGHOUSE_NAME, id_qualifier="46", id=CLEARINGHOUSE_ID),
        trace_type="1",
        trace=reference,
        dates=[x277ca.DatePeriod("050", today), x277ca.DatePeriod("009", today)],
        children=[receiver],
    )
    return x277ca.Ack277CA(
        [source],
        purpose="08",
        reference=reference,
        created=today,
        created_time=now.strftime("%H%M%S"),
        transaction_type="TH",
    )


def reject_all(data: bytes, name: str, envelope: InterchangeEnvelope) -> bytes | None:
    """A 999 rejecting every transaction set of a file the sandbox does not take (not an 837
    or a 270)."""
    try:
        parts = split_transactions(data, name)
    except X12Error:
        return None
    rejections = {
        p.key: [
            x999.SegmentError(
                "ST",
                1,
                IK3_DATA_ELEMENT_ERRORS,
                "",
                element_errors=[x999.ElementError(1, "7", "143")],
            )
        ]
        for p in parts
    }
    acks = x999.acknowledgement_for(data, file_name=name, rejections=rejections)
    return x999.build_999(acks, envelope)


# ---------------------------------------------------------------------------------------------
# 270 in, 271 out
# ---------------------------------------------------------------------------------------------

_INSURANCE_TYPES = (
    ("MEDICARE B", "MB"), ("MEDICARE A", "MA"), ("MEDICARE", "MB"), ("MEDICAID", "MC"),
    ("HMO", "HM"), ("PPO", "PR"), ("EPO", "EP"), ("POS", "PS"), ("INDEMNITY", "C1"),
)  # fmt: skip


def insurance_type(plan: str) -> str:
    """EB04 for a roster plan name."""
    upper = plan.upper()
    return next((code for words, code in _INSURANCE_TYPES if words in upper), "C1")


def member_benefits(answer: EligibilityAnswer) -> tuple[x271.Benefit, ...]:
    """The EB loops for one member: coverage, copay, coinsurance, deductible and out-of-pocket
    remaining, and the other payer."""
    member = answer.member
    assert member is not None
    plan = member.plan[:50]
    kind = insurance_type(member.plan)
    if not answer.active:
        return (
            x271.Benefit(
                information="6", coverage_level="IND", service_types=("30",),
                insurance_type=kind, plan_description=plan,
            ),
        )  # fmt: skip
    out = [
        x271.Benefit(
            information="1", coverage_level="IND", service_types=("30",), insurance_type=kind,
            plan_description=plan,
        )
    ]  # fmt: skip
    if member.copay > 0:
        out.append(
            x271.Benefit(
                information="B", coverage_level="IND", service_types=("98",),
                time_period="27", amount=money(member.copay), in_network="Y",
            )
        )  # fmt: skip
    out.append(
        x271.Benefit(
            information="A", coverage_level="IND", service_types=("30",),
            percent=(member.coinsurance_percent / HUNDRED).normalize(), in_network="Y",
        )
    )  # fmt: skip
    out.append(
        x271.Benefit(
            information="C", coverage_level="IND", service_types=("30",), time_period="29",
            amount=money(answer.deductible_remaining), in_network="Y",
        )
    )  # fmt: skip
    if answer.oop_remaining is not None:
        out.append(
            x271.Benefit(
                information="G", coverage_level="IND", service_types=("30",), time_period="29",
                amount=money(answer.oop_remaining), in_network="Y",
            )
        )  # fmt: skip
    if member.secondary_payer_id:
        other = x270.Party(
            entity_id="SEP", name=(member.secondary_payer_name or "OTHER PAYER")[:60],
            identifier=member.secondary_payer_id, id_qualifier="PI",
        )  # fmt: skip
        out.append(
            x271.Benefit(
                information="R", service_types=("30",),
                entities=(x271.RelatedEntity(party=other),),
            )
        )  # fmt: skip
    return tuple(out)


def answer_270(
    requests: Sequence[x270.EligibilityRequest],
    roster: Roster,
    accumulators: Mapping[str, Accumulator],
    config: SandboxConfig,
    now: datetime,
    *,
    trace_prefix: str,
) -> list[x271.Eligibility271]:
    """One 271 transaction per 270 request, one response per inquiry, from the roster."""
    out = []
    for request in requests:
        payer_id = request.source.identifier or ""
        rules = config.payer(payer_id)
        source = x270.Party(
            entity_id="PR", name=(rules.name if rules else request.source.name or "PAYER")[:60],
            identifier=payer_id or None, id_qualifier="PI" if payer_id else None,
        )  # fmt: skip
        responses = []
        for number, inquiry in enumerate(request.inquiries, start=1):
            on = inquiry.service_date or now.date()
            sent = inquiry.subscriber
            member_id = sent.member_id or ""
            answer = eligibility(
                member_id, sent.last_name or "", payer_id or None, on, roster,
                accumulators.get(member_id.strip().upper()),
            )  # fmt: skip
            traces = (
                x271.Trace(type_code="2", number=inquiry.trace_number,
                           originator=inquiry.trace_originator or None),
                x271.Trace(type_code="1", number=f"{trace_prefix}{number:04d}",
                           originator=f"9{CLEARINGHOUSE_TIN}"),
            )  # fmt: skip
            member = answer.member
            if member is None:
                subscriber = x271.EligibilityMember(
                    last_name=sent.last_name, first_name=sent.first_name,
                    member_id=sent.member_id, traces=traces,
                    rejections=(x271.Rejection(reason_code=answer.reject_reason or "75",
                                               follow_up="C"),),
                )  # fmt: skip
                responses.append(
                    x271.EligibilityResponse(
                        source=source, receiver=request.receiver, subscriber=subscriber
                    )
                )
                continue
            benefits = member_benefits(answer)
            references = (
                (x271.Reference(qualifier="6P", value=member.group_number),)
                if member.group_number
                else ()
            )
            plan_dates = [
                x271.DateRange(qualifier=qualifier, start=day)
                for qualifier, day in (("346", member.active_from), ("347", member.active_to))
                if day is not None
            ]
            subscriber = x271.EligibilityMember(
                last_name=member.last_name, first_name=member.first_name,
                member_id=member.member_id, birth_date=member.birth_date,
                sex=member.gender if member.gender in ("M", "F") else None,
                traces=traces if inquiry.dependent is None else (),
                references=references,
                dates=tuple(plan_dates),
                benefits=benefits if inquiry.dependent is None else (),
            )  # fmt: skip
            dependent = None
            if inquiry.dependent is not None:
                dependent = x271.EligibilityMember(
                    last_name=inquiry.dependent.last_name,
                    first_name=inquiry.dependent.first_name,
                    birth_date=inquiry.dependent.birth_date,
                    traces=traces,
                    benefits=benefits,
                )
            responses.append(
                x271.EligibilityResponse(
                    source=source, receiver=request.receiver, subscriber=subscriber,
                    dependent=dependent,
                )
            )  # fmt: skip
        out.append(
            x271.Eligibility271(
                reference_id=request.reference_id[:50] or trace_prefix,
                created=now,
                responses=tuple(responses),
            )
        )
    return out


# ---------------------------------------------------------------------------------------------
# Decisions to the typed 835
# ---------------------------------------------------------------------------------------------


def unknown_original(claim: ClaimIn, icn: str) -> ClaimDecision:
    """A replacement or void naming a payer claim number the payer never paid: unprocessable."""
    lines = tuple(
        LineDecision(
            number=ln.number,
            procedure=ln.procedure,
            modifiers=ln.modifiers,
            charge=money(ln.charge),
            units=ln.units,
            allowed=ZERO,
            paid=ZERO,
            adjustments=(Adjustment("CO", "16", money(ln.charge)),),
            rarcs=("MA130",),
            service_date=ln.service_date,
            revenue_code=ln.revenue_code,
            qualifier=ln.qualifier,
            control_number=ln.control_number,
        )
        for ln in claim.lines
    )
    return ClaimDecision(claim.patient_control_number, "4", lines, icn, denial_reason="16")


def claim_payment(claim: ClaimIn, decision: ClaimDecision, received: date) -> x835.ClaimPayment:
    """One CLP loop from a decision. Amounts are the decision's (negated for a reversal)."""
    services = []
    for line in decision.lines:
        service = x835.ServicePayment(
            procedure=x835.Procedure(line.qualifier, line.procedure, list(line.modifiers)),
            charge=line.charge,
            paid=line.paid,
            revenue_code=(line.revenue_code or "") if line.qualifier == "HC" else "",
            units=line.units if line.units != 1 else None,
            dates=[x835.DateValue("472", line.service_date or claim.service_date)],
            adjustments=[
                x835.Adjustment(a.group, a.reason, a.amount, a.quantity) for a in line.adjustments
            ],
            references=[x835.Reference("6R", line.control_number)] if line.control_number else [],
            amounts=[x835.Amount("B6", line.allowed)] if line.allowed else [],
            remarks=[x835.Remark("HE", code) for code in line.rarcs],
        )
        services.append(service)
    subscriber = x835.Name(
        "QC",
        "1",
        claim.subscriber_last.upper(),
        claim.subscriber_first.upper(),
        id_qualifier="MI",
        id=claim.member_id,
    )
    if claim.patient_last:
        # A dependent: the patient by name, the member ID on the insured.
        names = [
            x835.Name("QC", "1", claim.patient_last.upper(), (claim.patient_first or "").upper()),
            replace(subscriber, entity="IL"),
        ]
    else:
        names = [subscriber]
    if decision.forwarded_to:
        names.append(
            x835.Name(
                "TT",
                "2",
                decision.forwarded_to[:60],
                id_qualifier="PI",
                id=decision.forwarded_id or "UNKNOWN",
            )
        )
    pr = decision.patient_responsibility
    return x835.ClaimPayment(
        patient_control_number=claim.patient_control_number,
        status=decision.status,
        charge=decision.charge,
        paid=decision.paid,
        patient_responsibility=pr,
        filing_indicator=remit_filing_indicator(claim.filing_indicator),
        payer_claim_control_number=decision.payer_claim_control_number,
        facility_type=claim.facility_code,
        frequency=claim.frequency,
        names=names,
        outpatient=x835.AdjudicationInfo("MOA", ["", "", *decision.claim_rarcs])
        if decision.claim_rarcs
        else None,
        dates=[x835.DateValue("050", received)],
        services=services,
    )


# CLP06 takes fewer codes than the 837's SBR09: commercial (CI) and Blue Cross (BL) plans are
# reported by plan type; the sandbox's are PPOs.
_CLP06_CODES = frozenset(
    {"12", "13", "14", "15", "16", "17", "AM", "CH", "DS", "HM", "LM", "MA", "MB", "MC", "OF",
     "TV", "VA", "WC", "ZZ"}
)  # fmt: skip


def remit_filing_indicator(sbr09: str) -> str:
    return sbr09 if sbr09 in _CLP06_CODES else "12"


def build_remittance(
    *,
    entries: Sequence[tuple[ClaimIn, ClaimDecision, date]],
    rules: PayerRules,
    trace_number: str,
    payment_date: date,
    rng: random.Random,
    recoup_reference: str | None = None,
    carried: Decimal = ZERO,
) -> tuple[x835.Remittance835, Decimal]:
    """One balanced 835 transaction for one payer and payee, and what the provider still owes
    the payer afterwards. A negative net (reversals larger than payments) is not paid out: it is
    carried forward (PLB FB, negative) and taken back from a later payment (PLB FB, positive)."""
    first = entries[0][0]
    claims = [claim_payment(c, d, r) for c, d, r in entries]
    for claim in claims:
        claim.header_number = "1"
    paid = sum((c.paid for c in claims), ZERO)
    plb: list[x835.ProviderAdjustment] = []
    period_end = date(payment_date.year, 12, 31)
    provider = first.billing_npi
    interest_draw = rng.random()
    recoup_draw = rng.random()
    if paid > 0 and interest_draw < rules.interest_probability:
        interest = money(paid * rules.interest_percent / HUNDRED)
        if interest > 0:
            reference = next((c.payer_claim_control_number for c in claims if c.paid > 0), "")
            plb.append(x835.ProviderAdjustment(provider, period_end, "L6", -interest, reference))
    if (
        recoup_reference
        and recoup_draw < rules.recoupment_probability
        and paid - sum((p.amount for p in plb), ZERO) > rules.recoupment_amount
    ):
        plb.append(
            x835.ProviderAdjustment(
                provider,
                period_end,
                rules.recoupment_reason,
                rules.recoupment_amount,
                recoup_reference,
            )
        )
    total = paid - sum((p.amount for p in plb), ZERO)
    if carried > 0 and total > 0:
        recovered = min(carried, total)
        plb.append(x835.ProviderAdjustment(provider, period_end, "FB", recovered, trace_number))
        carried -= recovered
        total -= recovered
    if total < 0:
        plb.append(x835.ProviderAdjustment(provider, period_end, "FB", total, trace_number))
        carried -= total
        total = ZERO
    handling, method = ("I", "CHK") if total > 0 else ("H", "NON")
    payer = x835.Party(
        "PR",
        rules.name[:60],
        address=[rules.address1[:55]],
        city=rules.city,
        state=rules.state,
        postal_code=rules.zip,
        references=[x835.Reference("2U", rules.payer_id)],
        contacts=[x835.Contact("BL", "EDI SUPPORT", [("TE", "8005550100")])],
    )
    payee = x835.Party(
        "PE",
        (first.billing_name or "PROVIDER")[:60],
        "XX",
        first.billing_npi,
        references=[x835.Reference("TJ", first.billing_tin)] if first.billing_tin else [],
    )
    remittance = x835.Remittance835(
        handling=handling,
        total_paid=money(total),
        credit_debit="C",
        payment_method=method,
        payment_date=payment_date,
        trace=x835.Trace("1", trace_number, f"1{rules.payer_tin}"),
        payer=payer,
        payee=payee,
        dates=[x835.DateValue("405", payment_date)],
        summaries=[x835.ProviderSummary("1")],
        claims=claims,
        provider_adjustments=plb,
    )
    return remittance, carried


def answers_in(root: Path | str, account: str) -> dict[str, list[Path]]:
    """The answer files waiting in an account's inbound folders, by folder (for tests)."""
    base = Path(root) / account
    out: dict[str, list[Path]] = {}
    for folder in (INBOUND_999, INBOUND_277, INBOUND_835, INBOUND_271):
        out[folder] = sorted(p for p in (base / folder).glob("*") if not p.name.startswith("."))
    return out


__all__ = [
    "INBOUND_271",
    "INBOUND_277",
    "INBOUND_835",
    "INBOUND_999",
    "Adjudicator",
    "Outcome",
    "answer_270",
    "answers_in",
    "build_277ca_model",
    "build_remittance",
    "claim_in",
    "claim_payment",
    "rejections_from_report",
    "split_transactions",
]
