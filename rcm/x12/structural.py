"""Structural checks for transaction sets pyx12 has no 5010 map for (270, 271, 276, and the
HL skeleton of any set).

pyx12 4.0 ships 5010 maps for 837P/837I, 835, 834, 277 (X212, X214) and 999, but its 270/271
and 276 maps are 4010 only. `check_structure` covers what a clearinghouse front end rejects
first for those sets: the header segments, the HL tree (numbering, parents, levels, child
codes), the segments each level requires, and the SE count. `validate` calls it for sets it
cannot hand to pyx12.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from rcm.x12.core import Segment, Transaction, is_count


@dataclass(frozen=True, slots=True)
class StructuralIssue:
    """One problem. `code` is stable for tests and reports; `message` names positions, never
    values."""

    code: str
    message: str
    segment_number: int | None = None
    segment_id: str | None = None
    severity: str = "error"


# --------------------------------------------------------------------------------------------
# Rules per transaction set
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _LevelRule:
    """What an HL level needs: its parent level (None for the top), the NM1 entity codes one of
    which must appear, and other segment IDs that must appear."""

    parent: str | None
    nm1_entities: tuple[str, ...] = ()
    required: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class _SetRule:
    header: tuple[str, ...]
    levels: dict[str, _LevelRule]


_RULES: dict[str, _SetRule] = {
    "270": _SetRule(
        header=("BHT",),
        levels={
            "20": _LevelRule(None, ("PR", "2B", "36", "GP", "P5")),
            "21": _LevelRule("20", ("1P", "2B", "36", "80", "FA", "GP", "P5", "PR")),
            "22": _LevelRule("21", ("IL",)),
            "23": _LevelRule("22", ("03",)),
        },
    ),
    "271": _SetRule(
        header=("BHT",),
        levels={
            "20": _LevelRule(None, ("PR", "2B", "36", "GP", "P5")),
            "21": _LevelRule("20", ("1P", "2B", "36", "80", "FA", "GP", "P5", "PR")),
            "22": _LevelRule("21", ("IL",)),
            "23": _LevelRule("22", ("03",)),
        },
    ),
    "276": _SetRule(
        header=("BHT",),
        levels={
            "20": _LevelRule(None, ("PR",)),
            "21": _LevelRule("20", ("41",)),
            "19": _LevelRule("21", ("1P",)),
            "22": _LevelRule("19", ("IL",)),
            "23": _LevelRule("22", ("QC",)),
        },
    ),
    "277": _SetRule(
        header=("BHT",),
        levels={
            "20": _LevelRule(None, ("PR", "AY")),
            "21": _LevelRule("20", ("41",)),
            "19": _LevelRule("21", ("1P", "85")),
            "PT": _LevelRule("19", ("QC", "IL")),
            "22": _LevelRule("19", ("IL",)),
            "23": _LevelRule("22", ("QC",)),
        },
    ),
    "837": _SetRule(
        header=("BHT",),
        levels={
            "20": _LevelRule(None, ("85",)),
            "22": _LevelRule("20", ("IL", "PR"), ("SBR",)),
            "23": _LevelRule("22", ("QC",), ("PAT",)),
        },
    ),
}

# Header segments each set needs before the first HL, beyond BHT.
_HEADER_NM1: dict[str, tuple[str, ...]] = {"837": ("41", "40")}


def _whole(text: str) -> int | None:
    """A count or HL number as an int; None when it is not one."""
    return int(text) if is_count(text, max_digits=18) else None


def _issue(code: str, message: str, seg: Segment | None) -> StructuralIssue:
    return StructuralIssue(
        code,
        message,
        seg.number if seg is not None else None,
        seg.id if seg is not None else None,
    )


def check_segments(
    set_id: str,
    segments: Sequence[Segment],
    *,
    st: Segment | None = None,
    se: Segment | None = None,
) -> list[StructuralIssue]:
    """Structural issues of one transaction body (the segments between ST and SE)."""
    issues: list[StructuralIssue] = []
    rule = _RULES.get(set_id)
    if se is not None and st is not None:
        if se[2] != st[2]:
            issues.append(_issue("se-control", "SE02 does not match ST02", se))
        if _whole(se[1]) != len(segments) + 2:
            issues.append(
                _issue(
                    "se-count",
                    f"SE01 says {se[1]!r} segments, the transaction set has {len(segments) + 2}",
                    se,
                )
            )
    if rule is None:
        issues.append(
            StructuralIssue("unknown-set", f"no structural rules for transaction set {set_id}")
        )
        return issues
    if not segments or segments[0].id != "BHT":
        issues.append(
            _issue(
                "header", "the transaction set must start with BHT", segments[0] if segments else st
            )
        )

    for seg in segments:
        if seg.id == "NM1" and seg[2] not in ("1", "2"):
            issues.append(_issue("element", "NM102 must be 1 (person) or 2 (non-person)", seg))

    first_hl = next((i for i, s in enumerate(segments) if s.id == "HL"), None)
    header = segments[: first_hl if first_hl is not None else len(segments)]
    for entity in _HEADER_NM1.get(set_id, ()):
        if not any(s.id == "NM1" and s[1] == entity for s in header):
            issues.append(_issue("header", f"header lacks NM1*{entity}", st))
    if first_hl is None:
        issues.append(_issue("no-hl", "the transaction set has no HL loops", st))
        return issues

    # Split into HL blocks.
    blocks: list[tuple[Segment, list[Segment]]] = []
    for seg in segments[first_hl:]:
        if seg.id == "HL":
            blocks.append((seg, []))
        else:
            blocks[-1][1].append(seg)

    levels: dict[str, str] = {}
    children: dict[str, int] = {}
    expected = 1
    for hl, body in blocks:
        hl_id, parent, level, child_code = hl[1], hl[2], hl[3], hl[4]
        if hl_id != str(expected):
            issues.append(_issue("hl-number", f"HL01 is {hl_id!r}, expected {expected}", hl))
        number = _whole(hl_id)
        expected = (number if number is not None else expected) + 1
        if hl_id in levels:
            issues.append(_issue("hl-duplicate", f"HL01 {hl_id!r} is used twice", hl))
        level_rule = rule.levels.get(level)
        if level_rule is None:
            issues.append(_issue("hl-level", f"HL03 level {level!r} is not used in a {set_id}", hl))
        else:
            if level_rule.parent is None:
                if parent:
                    issues.append(
                        _issue("hl-parent", f"HL level {level} must not have a parent", hl)
                    )
            elif not parent:
                issues.append(_issue("hl-parent", f"HL level {level} needs a parent (HL02)", hl))
            elif parent not in levels:
                issues.append(_issue("hl-parent", f"HL02 {parent!r} is not an earlier HL", hl))
            elif levels[parent] != level_rule.parent and not (
                # 277 patients sit under the provider (19) directly or under a subscriber (22).
                set_id == "277" and level == "PT" and levels[parent] in ("19", "22")
            ):
                issues.append(
                    _issue(
                        "hl-parent",
                        f"HL level {level} must sit under level {level_rule.parent}, "
                        f"not {levels[parent]}",
                        hl,
                    )
                )
            if level_rule.nm1_entities and not any(
                s.id == "NM1" and s[1] in level_rule.nm1_entities for s in body
            ):
                issues.append(
                    _issue(
                        "missing-segment",
                        f"HL level {level} lacks NM1 ({'/'.join(level_rule.nm1_entities)})",
                        hl,
                    )
                )
            present = {s.id for s in body}
            for required in level_rule.required:
                if required not in present:
                    issues.append(
                        _issue("missing-segment", f"HL level {level} lacks {required}", hl)
                    )
        if parent:
            children[parent] = children.get(parent, 0) + 1
        levels[hl_id] = level
        if child_code not in ("", "0", "1"):
            issues.append(_issue("hl-child-code", "HL04 must be 0 or 1", hl))

    for hl, _body in blocks:
        hl_id, child_code = hl[1], hl[4]
        has_children = children.get(hl_id, 0) > 0
        if child_code == "1" and not has_children:
            issues.append(_issue("hl-child-code", "HL04 says 1 but no HL names it parent", hl))
        elif child_code == "0" and has_children:
            issues.append(_issue("hl-child-code", "HL04 says 0 but it has child HLs", hl))

    issues.extend(_order_checks(set_id, blocks))
    return issues


def _order_checks(
    set_id: str, blocks: Iterable[tuple[Segment, list[Segment]]]
) -> list[StructuralIssue]:
    """Loop order inside each HL level: the entity name (NM1) opens the level's detail, so
    request/response detail (TRN, EQ, EB, DMG, AAA after NM1; STC after TRN) may not precede
    it."""
    issues: list[StructuralIssue] = []
    for hl, body in blocks:
        seen_nm1 = False
        seen_trn = False
        for seg in body:
            sid = seg.id
            if sid == "NM1":
                seen_nm1 = True
            elif sid == "TRN":
                seen_trn = True
            elif sid in ("EQ", "EB", "INS") and not seen_nm1:
                issues.append(_issue("order", f"{sid} before the level's NM1 (HL {hl[1]})", seg))
            elif sid == "STC" and set_id in ("276", "277") and not seen_trn and not seen_nm1:
                issues.append(_issue("order", f"STC before NM1/TRN (HL {hl[1]})", seg))
        if set_id == "270" and hl[3] in ("22", "23"):
            eq = [s for s in body if s.id == "EQ"]
            nm1 = [s for s in body if s.id == "NM1"]
            if nm1 and eq and eq[0].number < nm1[0].number:
                issues.append(_issue("order", "EQ before NM1", eq[0]))
    return issues


def check_structure(transaction: Transaction) -> list[StructuralIssue]:
    """Structural issues of one transaction set. Consumes the transaction's body."""
    segments = list(transaction.body)
    return check_segments(transaction.set_id, segments, st=transaction.st, se=transaction.se)
