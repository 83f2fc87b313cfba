"""The streaming 271 parser against the parser it replaced (kept here as the reference): the
same responses, or the same error, for generated 271s, for mutations of them that break the HL
tree, the dates and the numbers, and for every 271 of the shared corpus."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as hst

from rcm.x12 import x271
from rcm.x12.core import Segment, Source, Transaction, format_decimal, read_transactions
from rcm.x12.x270 import (
    HLBlock,
    Party,
    address_from,
    bht_created,
    check_version,
    hl_blocks,
    missing_header,
    opt,
    party_from,
    position_error,
    read_d8,
    read_period,
)
from rcm.x12.x271 import (
    ACTIVE_CODES,
    COINSURANCE,
    COPAY,
    DEDUCTIBLE,
    INACTIVE_CODES,
    OTHER_PAYER,
    OUT_OF_POCKET,
    REMAINING_PERIODS,
    Benefit,
    DateRange,
    Eligibility271,
    EligibilityMember,
    EligibilityResponse,
    Reference,
    Rejection,
    RelatedEntity,
    Trace,
)
from tests.rcm.x12 import strategies as s
from tests.rcm.x12.test_x270_271 import PAYER, PROVIDER, envelope
from tests.rcm.x12.test_x837 import _corpus_rows

# --------------------------------------------------------------------------------------------
# The reference: the 271 parser as it was before the streaming reader (HL blocks held whole).
# --------------------------------------------------------------------------------------------


def _decimal(seg: Segment, index: int, file_name: str | None) -> Decimal | None:
    value = seg[index]
    if not value:
        return None
    try:
        result = Decimal(value)
    except InvalidOperation:
        raise position_error(f"{seg.id}{index:02d} is not a number", seg, file_name) from None
    if not result.is_finite():
        raise position_error(f"{seg.id}{index:02d} is not a number", seg, file_name)
    return result


def _rejection(seg: Segment) -> Rejection:
    return Rejection(valid=seg[1] or "N", reason_code=seg[3], follow_up=opt(seg[4]))


def _reference(seg: Segment) -> Reference:
    return Reference(qualifier=seg[1], value=seg[2], description=opt(seg[3]))


def _date_range(seg: Segment, file_name: str | None) -> DateRange | None:
    start, end = read_period(seg, file_name)
    if start is None:
        return None
    return DateRange(qualifier=seg[1], start=start, end=end)


class _BenefitReader:
    def __init__(self, eb: Segment, file_name: str | None) -> None:
        self.eb = eb
        self.file_name = file_name
        self.references: list[Reference] = []
        self.dates: list[DateRange] = []
        self.rejections: list[Rejection] = []
        self.messages: list[str] = []
        self.entities: list[RelatedEntity] = []
        self.entity_nm1: Segment | None = None
        self.n3: Segment | None = None
        self.n4: Segment | None = None
        self.in_loop = False

    def close_entity(self) -> None:
        if self.entity_nm1 is not None:
            self.entities.append(
                RelatedEntity(party=party_from(self.entity_nm1),
                              address=address_from(self.n3, self.n4))
            )  # fmt: skip
        self.entity_nm1 = self.n3 = self.n4 = None

    def add(self, seg: Segment) -> None:
        sid = seg.id
        if sid == "LS":
            self.in_loop = True
        elif sid == "LE":
            self.close_entity()
            self.in_loop = False
        elif self.in_loop:
            if sid == "NM1":
                self.close_entity()
                self.entity_nm1 = seg
            elif sid == "N3":
                self.n3 = seg
            elif sid == "N4":
                self.n4 = seg
        elif sid == "REF":
            self.references.append(_reference(seg))
        elif sid == "DTP":
            found = _date_range(seg, self.file_name)
            if found is not None:
                self.dates.append(found)
        elif sid == "AAA":
            self.rejections.append(_rejection(seg))
        elif sid == "MSG":
            self.messages.append(seg[1])

    def benefit(self) -> Benefit:
        self.close_entity()
        eb = self.eb
        f = self.file_name
        return Benefit(
            information=eb[1],
            coverage_level=opt(eb[2]),
            service_types=tuple(code for code in eb.repeats(3) if code),
            insurance_type=opt(eb[4]),
            plan_description=opt(eb[5]),
            time_period=opt(eb[6]),
            amount=_decimal(eb, 7, f),
            percent=_decimal(eb, 8, f),
            quantity_qualifier=opt(eb[9]),
            quantity=_decimal(eb, 10, f),
            authorization_required=opt(eb[11]),
            in_network=opt(eb[12]),
            references=tuple(self.references),
            dates=tuple(self.dates),
            rejections=tuple(self.rejections),
            messages=tuple(self.messages),
            entities=tuple(self.entities),
        )


def _member(block: HLBlock, file_name: str | None) -> EligibilityMember:
    nm1: Segment | None = None
    n3 = n4 = dmg = ins = None
    traces: list[Trace] = []
    references: list[Reference] = []
    dates: list[DateRange] = []
    rejections: list[Rejection] = []
    benefits: list[Benefit] = []
    current: _BenefitReader | None = None
    for seg in block.segments:
        sid = seg.id
        if sid == "EB":
            if current is not None:
                benefits.append(current.benefit())
            current = _BenefitReader(seg, file_name)
        elif current is not None:
            current.add(seg)
        elif sid == "TRN":
            traces.append(
                Trace(type_code=seg[1], number=seg[2], originator=opt(seg[3]),
                      supplemental=opt(seg[4]))
            )  # fmt: skip
        elif sid == "NM1" and nm1 is None:
            nm1 = seg
        elif sid == "N3":
            n3 = seg
        elif sid == "N4":
            n4 = seg
        elif sid == "DMG":
            dmg = seg
        elif sid == "INS":
            ins = seg
        elif sid == "REF":
            references.append(_reference(seg))
        elif sid == "DTP":
            found = _date_range(seg, file_name)
            if found is not None:
                dates.append(found)
        elif sid == "AAA":
            rejections.append(_rejection(seg))
    if current is not None:
        benefits.append(current.benefit())
    if nm1 is None:
        raise position_error("member level lacks NM1", block.hl, file_name)
    return EligibilityMember(
        last_name=opt(nm1[3]),
        first_name=opt(nm1[4]),
        middle_name=opt(nm1[5]),
        suffix=opt(nm1[7]),
        member_id=opt(nm1[9]),
        entity_type=nm1[2] or "1",
        address=address_from(n3, n4),
        birth_date=read_d8(dmg, 2, file_name) if dmg is not None else None,
        sex=opt(dmg[3]) if dmg is not None else None,
        insured=opt(ins[1]) if ins is not None else None,
        relationship=opt(ins[2]) if ins is not None else None,
        maintenance_type=opt(ins[3]) if ins is not None else None,
        maintenance_reason=opt(ins[4]) if ins is not None else None,
        traces=tuple(traces),
        references=tuple(references),
        dates=tuple(dates),
        rejections=tuple(rejections),
        benefits=tuple(benefits),
    )


def _party_block(block: HLBlock, file_name: str | None) -> tuple[Party, tuple[Rejection, ...]]:
    nm1 = next((s for s in block.segments if s.id == "NM1"), None)
    if nm1 is None:
        raise position_error(f"HL level {block.level} lacks NM1", block.hl, file_name)
    rejections = tuple(_rejection(s) for s in block.segments if s.id == "AAA")
    return party_from(nm1), rejections


def _parse_271_tx(tx: Transaction) -> Eligibility271:
    file_name = tx.file_name
    header, blocks = hl_blocks(tx)
    bht = header.get("BHT")
    if bht is None:
        raise missing_header(tx, "BHT")
    children: dict[str, list[HLBlock]] = {}
    for block in blocks:
        children.setdefault(block.parent, []).append(block)
    responses: list[EligibilityResponse] = []
    for source_block in (b for b in blocks if b.level == "20"):
        source, source_rejections = _party_block(source_block, file_name)
        receivers = children.get(source_block.id, [])
        if not receivers:
            responses.append(
                EligibilityResponse(source=source, source_rejections=source_rejections)
            )
        for receiver_block in receivers:
            receiver, receiver_rejections = _party_block(receiver_block, file_name)
            subscribers = children.get(receiver_block.id, [])
            if not subscribers:
                responses.append(
                    EligibilityResponse(
                        source=source,
                        source_rejections=source_rejections,
                        receiver=receiver,
                        receiver_rejections=receiver_rejections,
                    )
                )
            for sub_block in subscribers:
                subscriber = _member(sub_block, file_name)
                dep_blocks: list[HLBlock | None] = [*children.get(sub_block.id, [])] or [None]
                for dep_block in dep_blocks:
                    responses.append(
                        EligibilityResponse(
                            source=source,
                            source_rejections=source_rejections,
                            receiver=receiver,
                            receiver_rejections=receiver_rejections,
                            subscriber=subscriber,
                            dependent=(
                                _member(dep_block, file_name) if dep_block is not None else None
                            ),
                        )
                    )
    return Eligibility271(
        reference_id=bht[3],
        created=bht_created(bht, file_name),
        responses=tuple(responses),
        control_number=tx.control_number,
    )


def reference_parse_271_transactions(
    source: Source, *, file_name: str | None = None, strict: bool = True
) -> list[Eligibility271]:
    out = []
    for tx in read_transactions(source, file_name=file_name, strict=strict):
        check_version(tx, "271", "005010X279", x271.IMPLEMENTATION)
        out.append(_parse_271_tx(tx))
    return out


def reference_coverage(self: EligibilityResponse) -> dict[str, Any]:
    """What the eligibility flow records. No names, IDs or birth dates: only codes, dates
    of coverage and amounts."""
    members = [m for m in (self.subscriber, self.dependent) if m is not None]
    benefits = [b for m in members for b in m.benefits]
    rejections = self.all_rejections()
    codes = {b.information for b in benefits}
    if rejections and not codes & ACTIVE_CODES:
        status = "rejected"
    elif codes & ACTIVE_CODES:
        status = "active"
    elif codes & INACTIVE_CODES:
        status = "inactive"
    else:
        status = "unknown"
    plan = next(
        (b.plan_description for b in benefits
         if b.information in ACTIVE_CODES and b.plan_description),
        None,
    )  # fmt: skip
    plan_number = next(
        (r.value for m in members for r in m.references if r.qualifier == "18"), None
    ) or next((r.value for b in benefits for r in b.references if r.qualifier == "18"), None)
    dates: dict[str, dict[str, str | None]] = {}
    for d in [d for m in members for d in m.dates] + [
        d for b in benefits if b.information in ACTIVE_CODES | INACTIVE_CODES
        for d in b.dates
    ]:  # fmt: skip
        dates.setdefault(
            d.qualifier,
            {"start": d.start.isoformat(), "end": d.end.isoformat() if d.end else None},
        )

    def money(b: Benefit) -> dict[str, Any]:
        return {
            "service_types": list(b.service_types),
            "coverage_level": b.coverage_level,
            "in_network": b.in_network,
            "time_period": b.time_period,
            "remaining": b.time_period in REMAINING_PERIODS,
            "amount": format_decimal(b.amount) if b.amount is not None else None,
            "percent": format_decimal(b.percent) if b.percent is not None else None,
        }

    return {
        "status": status,
        "plan": plan,
        "plan_number": plan_number,
        "dates": dates,
        "copay": [money(b) for b in benefits if b.information == COPAY],
        "coinsurance": [money(b) for b in benefits if b.information == COINSURANCE],
        "deductible": [money(b) for b in benefits if b.information == DEDUCTIBLE],
        "out_of_pocket": [money(b) for b in benefits if b.information == OUT_OF_POCKET],
        "rejections": [
            {
                "level": level,
                "reason_code": r.reason_code,
                "reason": r.reason,
                "follow_up": r.follow_up,
            }
            for level, r in rejections
        ],
        "other_payers": [
            {
                "name": e.party.name,
                "payer_id": e.party.identifier,
                "service_types": list(b.service_types),
                "insurance_type": b.insurance_type,
            }
            for b in benefits
            if b.information == OTHER_PAYER
            for e in b.entities
        ]
        + [
            {
                "name": None,
                "payer_id": None,
                "service_types": list(b.service_types),
                "insurance_type": b.insurance_type,
            }
            for b in benefits
            if b.information == OTHER_PAYER and not b.entities
        ],
        "payer_corrected": any(m.payer_corrected for m in members),
    }


# --------------------------------------------------------------------------------------------
# Comparison
# --------------------------------------------------------------------------------------------


def _outcome(parse: Callable[..., Any], data: bytes, strict: bool) -> tuple[str, Any]:
    try:
        return "ok", parse(data, file_name="f.x12", strict=strict)
    except Exception as exc:  # the same error, type and words, is what is compared
        return type(exc).__name__, str(exc)


def assert_same(data: bytes) -> None:
    for strict in (True, False):
        expected = _outcome(reference_parse_271_transactions, data, strict)
        got = _outcome(x271.parse_271_transactions, data, strict)
        assert got == expected
        if got[0] == "ok":
            for tx in got[1]:
                for response in tx.responses:
                    assert response.coverage() == reference_coverage(response)


def _segments(data: bytes) -> list[bytes]:
    return data.split(b"~")[:-1]


def _join(segments: list[bytes]) -> bytes:
    return b"~".join(segments) + b"~"


def mutate(data: bytes, rng: random.Random) -> bytes:
    """Break the body of a 271: drop, duplicate or move segments, rewire HL parents and levels,
    spoil dates and numbers, add detail segments to benefits. Envelope counts are left as they
    fall (lenient reading goes on past them)."""
    segs = _segments(data)
    body = list(range(3, len(segs) - 3))  # between ST and SE
    if not body:
        return data
    for _ in range(rng.randint(1, 4)):
        i = rng.choice(body)
        parts = segs[i].split(b"*")
        kind = rng.randrange(9)
        if kind == 0 and len(body) > 1:
            segs[i] = b"REF*XX*Z"
        elif kind == 1:
            segs.insert(i, segs[i])
        elif kind == 2 and parts[0] == b"HL" and len(parts) > 3:
            parts[2] = rng.choice([b"", b"1", b"2", b"3", b"99", parts[1]])
            segs[i] = b"*".join(parts)
        elif kind == 3 and parts[0] == b"HL" and len(parts) > 3:
            parts[3] = rng.choice([b"20", b"21", b"22", b"23", b"19"])
            segs[i] = b"*".join(parts)
        elif kind == 4:
            segs.insert(i, rng.choice([b"DTP*291*D8*2026133", b"DTP*346*RD8*20260101-2026",
                                       b"DTP*356*D8*20260301", b"DMG*D8*19990231*F"]))  # fmt: skip
        elif kind == 5:
            segs.insert(i, rng.choice([b"EB*C*IND*30***29*NaN", b"EB*B**98***27*1E3",
                                       b"EB*1*IND*30^1^*HM", b"EB*A*IND*30*****x"]))  # fmt: skip
        elif kind == 6:
            segs.insert(i, rng.choice([b"LS*2120", b"LE*2120", b"NM1*P3*1*DOC",
                                       b"N3*1 MAIN", b"N4*AUSTIN*TX", b"MSG*HELLO",
                                       b"AAA*N**75*C", b"TRN*2*ZZ9"]))  # fmt: skip
        elif kind == 7 and parts[0] in (b"NM1", b"HL", b"TRN", b"EB"):
            del segs[i]
        else:
            j = rng.choice(body)
            segs[i], segs[j] = segs[j], segs[i]
        body = list(range(3, len(segs) - 3))
    return _join(segs)


CHECKS = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))


@CHECKS
@given(s.eligibility_271s(), hst.integers(0, 2**32))
def test_streaming_parse_matches_reference(response_set: x271.Eligibility271, seed: int) -> None:
    data = x271.build_271_interchange(envelope("HB"), [response_set])
    assert_same(data)
    rng = random.Random(seed)
    for _ in range(8):
        assert_same(mutate(data, rng))


@CHECKS
@given(hst.lists(s.eligibility_271s(), min_size=2, max_size=3), hst.integers(0, 2**32))
def test_several_transaction_sets(sets: list[x271.Eligibility271], seed: int) -> None:
    """Values shared within one transaction set stay within it."""
    data = x271.build_271_interchange(envelope("HB"), sets)
    assert_same(data)
    assert_same(mutate(data, random.Random(seed)))


def test_repeated_benefits_parse_equal_to_what_was_built() -> None:
    copay = x271.Benefit(information="B", service_types=("98",), amount=Decimal("25.00"))
    deductible = x271.Benefit(information="C", service_types=("30",), amount=Decimal("100"))
    with_detail = x271.Benefit(
        information="R",
        service_types=("30",),
        messages=("CALL",),
        entities=(x271.RelatedEntity(party=PAYER),),
    )
    responses = tuple(
        x271.EligibilityResponse(
            source=PAYER,
            receiver=PROVIDER,
            subscriber=x271.EligibilityMember(
                last_name=f"M{i}", benefits=(copay, deductible, with_detail, copay)
            ),
        )
        for i in range(4)
    )
    response_set = x271.Eligibility271(
        reference_id="R", created=datetime(2026, 3, 1, 8, 0), responses=responses
    )
    data = x271.build_271_interchange(envelope("HB"), [response_set])
    [parsed] = x271.parse_271_transactions(data)
    assert parsed.responses == responses
    assert_same(data)


ROWS = [r for r in _corpus_rows(("271",))]


@pytest.mark.parametrize("row", ROWS, ids=[r["saved_path"][-60:] for r in ROWS])
def test_corpus_matches_reference(row: dict[str, str], x12_corpus: Path) -> None:
    data = (x12_corpus / row["saved_path"]).read_bytes()
    assert_same(data)
