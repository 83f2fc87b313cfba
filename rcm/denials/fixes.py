"""Fixes a corrected claim can make on its own: what a denial's reason and remark codes say is
wrong with a claim, and whether the claim's own data says how to put it right.

`plan_correction(session, claim_id)` reads a denied claim's open denials that recommend a
corrected claim and, for each, asks the fixer registered for its CARC. A fixer returns the line
changes that answer the denial, or the reason no change can be inferred. The plan is automatic
only when every such denial has a fix; otherwise a biller corrects the claim (rcm.appeals routes
it to the corrections queue). `apply_plan` writes the changes to the encounter's service lines,
which the frequency 7 claim (rcm.claims.corrections) then bills.

Fixers:

- CARC 4 (a required modifier is missing or inconsistent) on an outpatient therapy code: the
  therapy discipline's modifier (GP physical therapy, GO occupational therapy, GN speech-language
  pathology), which CMS and the plans following it require on every "always therapy" code. The
  discipline comes from the line's revenue code (042x/043x/044x, institutional claims), else the
  rendering provider's taxonomy, else the therapy modifier the encounter's other lines carry.

Nothing here reads or writes patient data; the plan names lines, codes and modifiers only.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from sqlalchemy import select
from sqlmodel import Session, col

from rcm.denials.carc import RecommendedAction
from rcm.errors import RcmError
from rcm.models import Claim, Denial, DenialStatus, Encounter, Provider, ServiceLine

OPEN = (DenialStatus.OPEN, DenialStatus.ASSIGNED)
MAX_MODIFIERS = 4

THERAPY_MODIFIERS = ("GP", "GO", "GN")
THERAPY_DISCIPLINES: Mapping[str, str] = MappingProxyType(
    {"GP": "physical therapy", "GO": "occupational therapy", "GN": "speech-language pathology"}
)
# CMS "always therapy" codes (a subset of the Applicable Outpatient Rehabilitation HCPCS list):
# always billed under a therapy plan of care, so always with GP, GO or GN.
ALWAYS_THERAPY = frozenset(
    {
        "92507", "92508", "92521", "92522", "92523", "92524", "92526",
        "97110", "97112", "97113", "97116", "97140", "97150",
        "97161", "97162", "97163", "97164", "97165", "97166", "97167", "97168",
        "97530", "97535", "97542", "97750", "97760", "97761", "97763",
    }
)  # fmt: skip
# UB-04 revenue codes by discipline: 042x physical, 043x occupational, 044x speech therapy.
REVENUE_CODE_MODIFIER: Mapping[str, str] = MappingProxyType({"042": "GP", "043": "GO", "044": "GN"})
# NUCC taxonomy prefixes of therapists and their assistants.
TAXONOMY_MODIFIER: tuple[tuple[str, str], ...] = (
    ("2251", "GP"),  # physical therapist
    ("2252", "GP"),  # physical therapy assistant
    ("225X", "GO"),  # occupational therapist
    ("224Z", "GO"),  # occupational therapy assistant
    ("235Z", "GN"),  # speech-language pathologist
)


class CorrectionError(RcmError):
    """A correction plan that cannot be made (no such claim)."""


@dataclass(frozen=True, slots=True)
class LineFix:
    """One service line's change: its modifiers before and after, and why (for billers)."""

    service_line_id: uuid.UUID
    line_number: int
    procedure_code: str
    modifiers_before: tuple[str, ...]
    modifiers_after: tuple[str, ...]
    why: str

    def describe(self) -> str:
        before = "-".join(self.modifiers_before) or "no modifier"
        after = "-".join(self.modifiers_after) or "no modifier"
        return f"line {self.line_number} {self.procedure_code}: {before} -> {after} ({self.why})"

    def as_dict(self) -> dict[str, object]:
        return {
            "service_line_id": str(self.service_line_id),
            "line_number": self.line_number,
            "procedure_code": self.procedure_code,
            "modifiers_before": list(self.modifiers_before),
            "modifiers_after": list(self.modifiers_after),
            "why": self.why,
        }


@dataclass(frozen=True, slots=True)
class Unresolved:
    """A denial no fixer could answer: a biller must correct the claim."""

    denial_id: uuid.UUID
    reason: str


@dataclass(frozen=True)
class CorrectionPlan:
    claim_id: uuid.UUID
    denial_ids: tuple[uuid.UUID, ...]
    fixes: tuple[LineFix, ...] = ()
    unresolved: tuple[Unresolved, ...] = ()

    @property
    def automatic(self) -> bool:
        """True when the fixes answer every denial that asks for a corrected claim."""
        return bool(self.fixes) and not self.unresolved

    def describe(self) -> str:
        if self.automatic:
            return "; ".join(fix.describe() for fix in self.fixes)
        return "; ".join(u.reason for u in self.unresolved) or "no denial asks for a correction"


@dataclass
class _Context:
    """What fixers read about one claim: its lines (as they would be billed after earlier
    fixes), the rendering provider's taxonomy and the denial in hand."""

    claim: Claim
    lines: list[ServiceLine]
    modifiers: dict[uuid.UUID, tuple[str, ...]] = field(default_factory=dict)
    rendering_taxonomy: str | None = None

    def current(self, line: ServiceLine) -> tuple[str, ...]:
        return self.modifiers.get(line.id, tuple(line.modifiers or ()))


Fixer = Callable[[Denial, _Context], "list[LineFix] | str"]


def _denial_label(denial: Denial) -> str:
    """CO-4/M78: the group, reason and remark codes as a biller reads them."""
    return "/".join([f"{denial.group_code}-{denial.carc}", *(denial.rarcs or [])])


def _therapy_modifier(line: ServiceLine, ctx: _Context) -> tuple[str, str] | None:
    """The discipline modifier for a therapy line and where it was read from."""
    revenue = (line.revenue_code or "").strip()
    found = REVENUE_CODE_MODIFIER.get(revenue.zfill(4)[:3]) if revenue else None
    if found:
        return found, f"revenue code {revenue}"
    taxonomy = (ctx.rendering_taxonomy or "").upper()
    for prefix, modifier in TAXONOMY_MODIFIER:
        if taxonomy.startswith(prefix):
            return modifier, f"rendering provider taxonomy {taxonomy}"
    others = {m for other in ctx.lines if other.id != line.id for m in ctx.current(other)} & set(
        THERAPY_MODIFIERS
    )
    if len(others) == 1:
        (modifier,) = others
        return modifier, "the encounter's other therapy lines"
    return None


def _fix_missing_modifier(denial: Denial, ctx: _Context) -> list[LineFix] | str:
    """CARC 4 on therapy codes: add (or correct) the therapy discipline modifier."""
    label = _denial_label(denial)
    if denial.service_line_id is not None:
        lines = [ln for ln in ctx.lines if ln.id == denial.service_line_id]
    else:
        lines = [ln for ln in ctx.lines if ln.procedure_code in ALWAYS_THERAPY]
    therapy = [ln for ln in lines if ln.procedure_code in ALWAYS_THERAPY]
    if not therapy:
        codes = ", ".join(sorted({ln.procedure_code for ln in lines})) or "the claim"
        return f"{label} on {codes}: which modifier the payer wants cannot be inferred"
    fixes: list[LineFix] = []
    for line in therapy:
        before = ctx.current(line)
        found = _therapy_modifier(line, ctx)
        if found is None:
            return (
                f"{label} on line {line.line_number} {line.procedure_code}: the therapy "
                "discipline (GP/GO/GN) cannot be inferred from the revenue code, the rendering "
                "provider or the other lines"
            )
        modifier, source = found
        present = [m for m in before if m in THERAPY_MODIFIERS]
        if present == [modifier]:
            if denial.service_line_id is None:
                continue  # a claim-level denial: this line is right already
            return (
                f"{label} on line {line.line_number} {line.procedure_code}: it already carries "
                f"{modifier}; the payer's modifier edit needs a biller"
            )
        if present:  # the wrong discipline: put the right one in its place
            after = tuple(modifier if m in THERAPY_MODIFIERS else m for m in before)
            after = tuple(dict.fromkeys(after))
        elif len(before) >= MAX_MODIFIERS:
            return (
                f"{label} on line {line.line_number} {line.procedure_code}: no room for a fifth "
                "modifier"
            )
        else:  # after any pricing modifier already billed
            after = (*before, modifier)
        ctx.modifiers[line.id] = after
        fixes.append(
            LineFix(
                service_line_id=line.id,
                line_number=line.line_number,
                procedure_code=line.procedure_code,
                modifiers_before=before,
                modifiers_after=after,
                why=f"{label}: {THERAPY_DISCIPLINES[modifier]} modifier {modifier} from {source}",
            )
        )
    if not fixes:
        return (
            f"{label}: every therapy line already carries its modifier; the payer's modifier "
            "edit needs a biller"
        )
    return fixes


FIXERS: Mapping[str, Fixer] = MappingProxyType({"4": _fix_missing_modifier})


def correction_denials(session: Session, claim_id: uuid.UUID) -> list[Denial]:
    """The claim's open denials whose recommended action is a corrected claim."""
    return list(
        session.scalars(
            select(Denial)
            .where(
                col(Denial.claim_id) == claim_id,
                col(Denial.status).in_(list(OPEN)),
                col(Denial.recommended_action) == RecommendedAction.CORRECT_AND_RESUBMIT.value,
            )
            .order_by(col(Denial.created_at), col(Denial.id))
        )
    )


def plan_correction(
    session: Session, claim_id: uuid.UUID, *, fixers: Mapping[str, Fixer] = FIXERS
) -> CorrectionPlan:
    """What a corrected claim for `claim_id` must change, from its open denials that ask for a
    corrected claim. Reads only; `apply_plan` writes."""
    claim = session.get(Claim, claim_id)
    if claim is None:
        raise CorrectionError(f"no claim {claim_id}")
    denials = correction_denials(session, claim_id)
    lines = list(
        session.scalars(
            select(ServiceLine)
            .where(
                col(ServiceLine.practice_id) == claim.practice_id,
                col(ServiceLine.encounter_id) == claim.encounter_id,
            )
            .order_by(col(ServiceLine.line_number))
        )
    )
    ctx = _Context(claim, lines)
    encounter = session.get(Encounter, claim.encounter_id)
    if encounter is not None and encounter.rendering_provider_id is not None:
        provider = session.get(Provider, encounter.rendering_provider_id)
        ctx.rendering_taxonomy = provider.taxonomy_code if provider is not None else None
    fixes: dict[uuid.UUID, LineFix] = {}
    unresolved: list[Unresolved] = []
    for denial in denials:
        fixer = fixers.get(denial.carc)
        if fixer is None:
            unresolved.append(
                Unresolved(denial.id, f"{_denial_label(denial)}: no automatic fix for this reason")
            )
            continue
        outcome = fixer(denial, ctx)
        if isinstance(outcome, str):
            unresolved.append(Unresolved(denial.id, outcome))
            continue
        for fix in outcome:
            earlier = fixes.get(fix.service_line_id)
            if earlier is not None:  # two denials on one line: keep the first before-state
                fix = LineFix(
                    fix.service_line_id,
                    fix.line_number,
                    fix.procedure_code,
                    earlier.modifiers_before,
                    fix.modifiers_after,
                    earlier.why if earlier.why == fix.why else f"{earlier.why}; {fix.why}",
                )
            fixes[fix.service_line_id] = fix
    return CorrectionPlan(
        claim_id=claim.id,
        denial_ids=tuple(d.id for d in denials),
        fixes=tuple(sorted(fixes.values(), key=lambda f: f.line_number)),
        unresolved=tuple(unresolved),
    )


def apply_plan(session: Session, plan: CorrectionPlan) -> list[ServiceLine]:
    """Write an automatic plan's changes to the service lines. Flushes; the caller commits."""
    if not plan.automatic:
        raise CorrectionError(f"claim {plan.claim_id}: the correction needs a biller")
    changed: list[ServiceLine] = []
    for fix in plan.fixes:
        line = session.get(ServiceLine, fix.service_line_id)
        if line is None:
            raise CorrectionError(f"no service line {fix.service_line_id}")
        line.modifiers = list(fix.modifiers_after)  # a new list: JSON columns track assignment
        session.add(line)
        changed.append(line)
    session.flush()
    return changed


__all__ = [
    "ALWAYS_THERAPY",
    "FIXERS",
    "THERAPY_MODIFIERS",
    "CorrectionError",
    "CorrectionPlan",
    "LineFix",
    "Unresolved",
    "apply_plan",
    "correction_denials",
    "plan_correction",
]
