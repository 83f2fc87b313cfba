"""Procedure codes and modifiers: shape, HCPCS Level II file, and modifier rules."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from datetime import date

from rcm.codesets.modifiers import (
    CPT_MODIFIERS,
    DISTINCT_SERVICE,
    X_MODIFIERS,
    is_evaluation_and_management,
    is_procedure_for_modifier_25,
)
from rcm.codesets.ncci import PtpTable
from rcm.scrub.context import ScrubContext
from rcm.scrub.model import Finding, ScrubClaim, Severity
from rcm.scrub.registry import Rule, rule
from rcm.scrub.rules._util import modifier_problem, procedure_code_problem

E = Severity.ERROR
W = Severity.WARNING
TOPIC = "procedure and modifiers"
MAX_MODIFIERS = 4


def _is_level_two(code: str) -> bool:
    return len(code) == 5 and code[0].isalpha()


@rule(
    "PROC-CODE",
    severity=E,
    loop="2400",
    field="SV101-2",
    topic=TOPIC,
    summary="Procedure code shaped like CPT (5 digits, or 4 digits + F/T/U) or HCPCS Level II "
    "(letter + 4 digits)",
)
def proc_code(r: Rule, claim: ScrubClaim, ctx: ScrubContext) -> Iterator[Finding]:
    for line in claim.lines:
        problem = procedure_code_problem(line.procedure_code)
        if problem:
            yield r.finding(
                f"Line {line.line_number}: procedure code {line.procedure_code or '(blank)'} "
                f"is {problem}.",
                line=line.line_number,
            )


@rule(
    "PROC-HCPCS",
    severity=E,
    loop="2400",
    field="SV101-2",
    topic=TOPIC,
    summary="HCPCS Level II code exists in the CMS HCPCS file and is active on the date of "
    "service (when the file is configured)",
)
def proc_hcpcs(r: Rule, claim: ScrubClaim, ctx: ScrubContext) -> Iterator[Finding]:
    hcpcs = ctx.hcpcs
    if hcpcs is None:
        return
    for line in claim.lines:
        code = line.procedure_code
        if not _is_level_two(code) or procedure_code_problem(code):
            continue
        entry = hcpcs.procedures.get(code)
        n = line.line_number
        if entry is None:
            yield r.finding(f"Line {n}: {code} is not in the CMS HCPCS Level II file.", line=n)
        elif not entry.active_on(line.service_date):
            if entry.termination_date is not None and line.service_date > entry.termination_date:
                why = f"was discontinued after {entry.termination_date.isoformat()}"
            else:
                added = entry.add_date.isoformat() if entry.add_date else "later"
                why = f"takes effect on {added}"
            yield r.finding(
                f"Line {n}: HCPCS {code} {why}; it is not valid on the date of service.",
                line=n,
            )


@rule(
    "MOD-FORMAT",
    severity=E,
    loop="2400",
    field="SV101-3",
    topic=TOPIC,
    summary="At most 4 modifiers, each 2 letters or digits, none repeated",
)
def mod_format(r: Rule, claim: ScrubClaim, ctx: ScrubContext) -> Iterator[Finding]:
    for line in claim.lines:
        if not line.modifiers:
            continue
        n = line.line_number
        if len(line.modifiers) > MAX_MODIFIERS:
            yield r.finding(f"Line {n} has {len(line.modifiers)} modifiers; at most 4.", line=n)
        for modifier in line.modifiers:
            problem = modifier_problem(modifier)
            if problem:
                yield r.finding(f"Line {n}: modifier {modifier!r}: {problem}.", line=n)
        if len(set(line.modifiers)) != len(line.modifiers):
            yield r.finding(f"Line {n} repeats a modifier.", line=n)


def _modifier_valid(modifier: str, service_date: date, ctx: ScrubContext) -> str | None:
    if modifier.isdigit() or modifier in CPT_MODIFIERS:
        return None if modifier in CPT_MODIFIERS else "is not a CPT modifier"
    hcpcs = ctx.hcpcs
    if hcpcs is None:
        return None
    entry = hcpcs.modifiers.get(modifier)
    if entry is None:
        return "is not in the CMS HCPCS modifier list"
    if not entry.active_on(service_date):
        return "is not valid on the date of service"
    return None


@rule(
    "MOD-UNKNOWN",
    severity=E,
    loop="2400",
    field="SV101-3",
    topic=TOPIC,
    summary="Modifier is a CPT modifier or, when the HCPCS file is configured, a Level II "
    "modifier active on the date of service",
)
def mod_unknown(r: Rule, claim: ScrubClaim, ctx: ScrubContext) -> Iterator[Finding]:
    for line in claim.lines:
        for modifier in line.modifiers:
            if modifier_problem(modifier):
                continue
            problem = _modifier_valid(modifier, line.service_date, ctx)
            if problem:
                yield r.finding(
                    f"Line {line.line_number}: modifier {modifier} {problem}.",
                    line=line.line_number,
                )


@rule(
    "MOD-25",
    severity=E,
    loop="2400",
    field="SV101-3",
    topic=TOPIC,
    summary="Modifier 25 on an E/M billed with a procedure the same day; only on E/M codes "
    "(unneeded 25: warning)",
)
def mod_25(r: Rule, claim: ScrubClaim, ctx: ScrubContext) -> Iterator[Finding]:
    for lines in ctx.lines_by_date(claim).values():
        procedures: list[str] | None = None
        for line in lines:
            n = line.line_number
            has_25 = "25" in line.modifiers
            if not is_evaluation_and_management(line.procedure_code):
                if has_25:
                    yield r.finding(
                        f"Line {n}: modifier 25 applies only to E/M codes, not "
                        f"{line.procedure_code}.",
                        line=n,
                    )
                continue
            if procedures is None:
                procedures = sorted(
                    {
                        ln.procedure_code
                        for ln in lines
                        if is_procedure_for_modifier_25(ln.procedure_code)
                    }
                )
            if procedures and not has_25:
                yield r.finding(
                    f"Line {n}: E/M {line.procedure_code} is billed with {', '.join(procedures)} "
                    "on the same day; add modifier 25 if the visit was significant and "
                    "separately identifiable, otherwise remove the E/M line.",
                    line=n,
                )
            elif has_25 and not procedures:
                yield r.finding(
                    f"Line {n}: modifier 25 on E/M {line.procedure_code} with no procedure the "
                    "same day; remove it.",
                    line=n,
                    severity=W,
                )


def _in_bypassable_pair(ptp: PtpTable, code: str, others: list[str], service_date: date) -> bool:
    """True when `code` and another code that day form an NCCI pair a modifier may bypass."""
    for other in others:
        edit = ptp.edit_for(other, code, service_date) or ptp.edit_for(code, other, service_date)
        if edit is not None and edit.modifier_indicator == "1":
            return True
    return False


@rule(
    "MOD-59",
    severity=W,
    loop="2400",
    field="SV101-3",
    topic=TOPIC,
    summary="59/XE/XP/XS/XU only to break an NCCI pair (when PTP files are configured); "
    "never 59 with an X modifier (error)",
)
def mod_59(r: Rule, claim: ScrubClaim, ctx: ScrubContext) -> Iterator[Finding]:
    ptp = ctx.ptp_for(claim)
    days = None
    for line in claim.lines:
        distinct = DISTINCT_SERVICE.intersection(line.modifiers)
        if not distinct:
            continue
        n = line.line_number
        if "59" in distinct and distinct & X_MODIFIERS:
            yield r.finding(
                f"Line {n}: use either 59 or an X modifier (XE/XP/XS/XU), not both.",
                line=n,
                severity=E,
            )
        if ptp is None:
            continue
        if days is None:
            days = ctx.lines_by_date(claim)
        others = [o.procedure_code for o in days[line.service_date] if o is not line]
        breaks = _in_bypassable_pair(ptp, line.procedure_code, others, line.service_date)
        if not breaks:
            mods = "/".join(sorted(distinct))
            yield r.finding(
                f"Line {n}: modifier {mods} on {line.procedure_code}, but no NCCI edit that a "
                "modifier may bypass pairs it with another code billed that day; remove it.",
                line=n,
            )


@rule(
    "MOD-LATERALITY",
    severity=E,
    loop="2400",
    field="SV101-3",
    topic=TOPIC,
    summary="LT/RT/50 consistent: not LT with RT, not 50 with LT or RT, 50 billed as one "
    "unit, no repeated side without a repeat modifier",
)
def mod_laterality(r: Rule, claim: ScrubClaim, ctx: ScrubContext) -> Iterator[Finding]:
    sides: dict[tuple[date, str, str], list[int]] = defaultdict(list)
    for line in claim.lines:
        mods = line.modifiers
        if not mods:
            continue  # nothing to check, no side to count
        n = line.line_number
        has_lt, has_rt, has_50 = "LT" in mods, "RT" in mods, "50" in mods
        if has_lt and has_rt:
            yield r.finding(
                f"Line {n}: LT and RT on one line; bill modifier 50 (bilateral) or one line "
                "per side.",
                line=n,
            )
        if has_50 and (has_lt or has_rt):
            yield r.finding(
                f"Line {n}: modifier 50 already means both sides; remove LT/RT.", line=n
            )
        if has_50 and line.units > 1:
            yield r.finding(
                f"Line {n}: a bilateral (50) procedure is billed as 1 unit, not {line.units}.",
                line=n,
                severity=W,
            )
        if not ({"76", "77", "59", "XS"} & set(mods)):
            for side in ("LT", "RT", "50"):
                if side in mods:
                    sides[(line.service_date, line.procedure_code, side)].append(n)
    for (_, code, side), numbers in sides.items():
        if len(numbers) > 1:
            yield r.finding(
                f"Lines {', '.join(map(str, numbers))} bill {code}-{side} more than once on the "
                "same day; combine the units or add a repeat modifier (76/77).",
                line=numbers[-1],
                severity=W,
            )
