"""NCCI procedure-to-procedure edits (unbundling) and medically unlikely edits (units).

Both run only when the user has configured the CMS files; professional claims use the
practitioner tables, institutional claims the hospital (outpatient) tables, DME suppliers the DME
MUE table. Edits are taken as in force on each line's date of service.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from datetime import date
from decimal import Decimal

from rcm.codesets.modifiers import LATERALITY, NCCI_ASSOCIATED
from rcm.codesets.mue import MueAdjudication
from rcm.scrub.context import ScrubContext
from rcm.scrub.model import Finding, ScrubClaim, ScrubLine, Severity
from rcm.scrub.registry import Rule, rule

E = Severity.ERROR
TOPIC = "NCCI"
_ANATOMIC = frozenset(
    {
        "E1",
        "E2",
        "E3",
        "E4",
        "FA",
        "F1",
        "F2",
        "F3",
        "F4",
        "F5",
        "F6",
        "F7",
        "F8",
        "F9",
        "LC",
        "LD",
        "LM",
        "LT",
        "RC",
        "RI",
        "RT",
        "TA",
        "T1",
        "T2",
        "T3",
        "T4",
        "T5",
        "T6",
        "T7",
        "T8",
        "T9",
    }
)
_BYPASS_ON_EITHER = NCCI_ASSOCIATED - _ANATOMIC - LATERALITY


def _modifier_bypasses(first: ScrubLine, second: ScrubLine) -> bool:
    """An NCCI-associated modifier on either line; anatomic modifiers count only when they
    name different sites (LT on one line, RT on the other)."""
    mods_a, mods_b = set(first.modifiers), set(second.modifiers)
    if (mods_a | mods_b) & _BYPASS_ON_EITHER:
        return True
    sites_a, sites_b = mods_a & _ANATOMIC, mods_b & _ANATOMIC
    return bool(sites_a and sites_b and sites_a != sites_b)


def _ptp_hits(claim: ScrubClaim, ctx: ScrubContext) -> list[tuple[ScrubLine, ScrubLine, str]]:
    """(column 1 line, column 2 line, modifier indicator) for each edit in force."""
    hits: list[tuple[ScrubLine, ScrubLine, str]] | None = ctx.scratch.get("ptp")
    if hits is not None:
        return hits
    hits = []
    ptp = ctx.ptp_for(claim)
    if ptp is not None and len(claim.lines) > 1:
        edits = ptp.edits
        for service_date, lines in ctx.lines_by_date(claim).items():
            if len(lines) < 2:
                continue
            for first in lines:
                for second in lines:
                    a, b = first.procedure_code, second.procedure_code
                    if a == b or (a, b) not in edits:
                        continue
                    edit = ptp.edit_for(a, b, service_date)
                    if edit is not None and edit.modifier_indicator != "9":
                        hits.append((first, second, edit.modifier_indicator))
    ctx.scratch["ptp"] = hits
    return hits


@rule(
    "NCCI-PTP-BUNDLED",
    severity=E,
    loop="2400",
    field="SV101-2",
    topic=TOPIC,
    summary="NCCI PTP pair with modifier indicator 0: the column 2 code is never paid with "
    "the column 1 code the same day",
)
def ncci_ptp_bundled(r: Rule, claim: ScrubClaim, ctx: ScrubContext) -> Iterator[Finding]:
    for col1, col2, indicator in _ptp_hits(claim, ctx):
        if indicator == "0":
            yield r.finding(
                f"Line {col2.line_number}: {col2.procedure_code} is bundled into "
                f"{col1.procedure_code} (line {col1.line_number}) by an NCCI edit that no "
                f"modifier bypasses; remove {col2.procedure_code}.",
                line=col2.line_number,
            )


@rule(
    "NCCI-PTP-MODIFIER",
    severity=E,
    loop="2400",
    field="SV101-3",
    topic=TOPIC,
    summary="NCCI PTP pair with modifier indicator 1 billed without an NCCI-associated modifier",
)
def ncci_ptp_modifier(r: Rule, claim: ScrubClaim, ctx: ScrubContext) -> Iterator[Finding]:
    for col1, col2, indicator in _ptp_hits(claim, ctx):
        if indicator == "1" and not _modifier_bypasses(col1, col2):
            yield r.finding(
                f"Line {col2.line_number}: {col2.procedure_code} is bundled into "
                f"{col1.procedure_code} (line {col1.line_number}) by an NCCI edit; if the "
                "services were distinct, add an NCCI-associated modifier (59/XE/XP/XS/XU, or "
                f"an anatomic modifier) to {col2.procedure_code}, otherwise remove it.",
                line=col2.line_number,
            )


def _units(value: Decimal) -> str:
    return f"{value.normalize():f}"


@rule(
    "MUE-LINE",
    severity=E,
    loop="2400",
    field="SV104",
    topic=TOPIC,
    summary="Units on a line above the MUE for codes with adjudication indicator 1",
)
def mue_line(r: Rule, claim: ScrubClaim, ctx: ScrubContext) -> Iterator[Finding]:
    table = ctx.mue_for(claim)
    if table is None:
        return
    for line in claim.lines:
        edit = table.edit_for(line.procedure_code, line.service_date)
        if edit is None or edit.adjudication is not MueAdjudication.LINE:
            continue
        if line.units > edit.value:
            yield r.finding(
                f"Line {line.line_number}: {_units(line.units)} units of "
                f"{line.procedure_code} exceed its MUE of {edit.value} per line (MAI 1); "
                "bill the extra units on another line with the modifier that explains them "
                "(76, 77, 91, 59/X), or correct the units.",
                line=line.line_number,
            )


@rule(
    "MUE-DATE-OF-SERVICE",
    severity=E,
    loop="2400",
    field="SV104",
    topic=TOPIC,
    summary="Units of a code on one date of service above the MUE for adjudication "
    "indicators 2 (policy) and 3 (clinical)",
)
def mue_date_of_service(r: Rule, claim: ScrubClaim, ctx: ScrubContext) -> Iterator[Finding]:
    table = ctx.mue_for(claim)
    if table is None:
        return
    totals: dict[tuple[date, str], list[ScrubLine]] = defaultdict(list)
    for line in claim.lines:
        totals[(line.service_date, line.procedure_code)].append(line)
    for (service_date, code), lines in totals.items():
        edit = table.edit_for(code, service_date)
        if edit is None or edit.adjudication is MueAdjudication.LINE:
            continue
        units = sum((line.units for line in lines), Decimal(0))
        if units <= edit.value:
            continue
        if edit.adjudication is MueAdjudication.DATE_OF_SERVICE_POLICY:
            advice = "The limit is set by policy and is not raised on appeal"
        else:
            advice = "Units above it are denied; an appeal needs the medical record"
        yield r.finding(
            f"Line {lines[-1].line_number}: {code} is billed {_units(units)} units on one date "
            f"of service, above its MUE of {edit.value} per day (MAI {int(edit.adjudication)}, "
            f"{edit.adjudication.label}). {advice}.",
            line=lines[-1].line_number,
        )
