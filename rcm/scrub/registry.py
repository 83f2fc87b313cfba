"""The rule registry: each rule is a small function from a claim and its context to findings.

A rule module declares its rules with `@rule(...)`; importing `rcm.scrub.rules` registers them
all. `scrub_claim` runs every rule (except those a payer turns off in its `rules.scrub_disabled`)
and never lets one broken rule stop a batch: the failure becomes an error finding on the claim.

A batch runs its rules through one `RuleSet`: the rules that can apply to a claim are listed
once per claim type and payer (`only`: a rule for professional or institutional claims is not
run on the other kind), and a rule that reads only the billing provider or only the payer
(`reads`) runs once per billing provider or payer object of the batch, its findings reused for
every claim that shares it. Both leave the findings, and their order, as running every rule on
every claim would.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Literal

from rcm.logging import logger
from rcm.scrub.context import ScrubContext
from rcm.scrub.model import Finding, ScrubClaim, Severity

RuleFunction = Callable[["Rule", ScrubClaim, ScrubContext], Iterable[Finding]]
# `only`: the claims a rule can find anything on ("professional": any claim not institutional).
ClaimKind = Literal["professional", "institutional"]
# `reads`: the one part of the claim a rule reads (nothing else of it, nor the context).
Subject = Literal["billing", "payer"]


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    severity: Severity
    loop: str
    field: str
    topic: str
    summary: str
    check: RuleFunction
    only: ClaimKind | None = None
    reads: Subject | None = None

    def applies_to(self, claim_type: str) -> bool:
        if self.only is None:
            return True
        return (self.only == "institutional") == (claim_type == "institutional")

    def finding(
        self,
        message: str,
        *,
        loop: str | None = None,
        field: str | None = None,
        line: int | None = None,
        severity: Severity | None = None,
    ) -> Finding:
        return Finding(
            rule_id=self.id,
            severity=severity or self.severity,
            loop=loop or self.loop,
            field=field or self.field,
            message=message,
            line_number=line,
        )


RULES: dict[str, Rule] = {}


def rule(
    rule_id: str,
    *,
    severity: Severity,
    loop: str,
    field: str,
    topic: str,
    summary: str,
    only: ClaimKind | None = None,
    reads: Subject | None = None,
) -> Callable[[RuleFunction], RuleFunction]:
    """Register a rule. `only` names the kind of claim it can find anything on (the check still
    returns nothing on the other kind, when called directly); `reads` declares that it reads
    nothing but `claim.billing` or `claim.payer`, so a RuleSet runs it once per such object."""

    def register(check: RuleFunction) -> RuleFunction:
        if rule_id in RULES:
            raise ValueError(f"scrub rule {rule_id} is registered twice")
        RULES[rule_id] = Rule(
            rule_id, severity, loop, field, topic, summary, check, only=only, reads=reads
        )
        return check

    return register


RULE_FAILED = "SCRUB-RULE-FAILED"


def all_rules() -> list[Rule]:
    import rcm.scrub.rules  # noqa: F401  (registers every rule)

    return list(RULES.values())


def _failed(r: Rule, claim: ScrubClaim) -> Finding:
    logger.bind(claim_id=str(claim.id), rule_id=r.id).exception("scrub rule failed")
    return Finding(
        rule_id=RULE_FAILED,
        severity=Severity.ERROR,
        loop="2300",
        field="CLM",
        message=f"Scrub rule {r.id} could not check this claim; report it to support.",
    )


class RuleSet:
    """Rules run over many claims: the rules for each (claim type, payer's disabled rules)
    listed once, and the findings of `reads` rules kept per billing provider or payer object
    (by identity, the object held so its id is not reused). The claims' billing and payer
    objects must not change while the set is in use; the adapter builds one per batch."""

    __slots__ = ("_plans", "_reused", "rules")

    def __init__(self, rules: Iterable[Rule]) -> None:
        self.rules = tuple(rules)
        self._plans: dict[tuple[str, frozenset[str]], tuple[Rule, ...]] = {}
        self._reused: dict[tuple[str, int], tuple[object, tuple[Finding, ...]]] = {}

    def plan(self, claim_type: str, disabled: frozenset[str]) -> tuple[Rule, ...]:
        key = (claim_type, disabled)
        found = self._plans.get(key)
        if found is None:
            found = self._plans[key] = tuple(
                r for r in self.rules if r.id not in disabled and r.applies_to(claim_type)
            )
        return found

    def scrub(self, claim: ScrubClaim, ctx: ScrubContext) -> list[Finding]:
        findings: list[Finding] = []
        ctx.scratch.clear()
        disabled = claim.payer.disabled_rules
        if disabled.__class__ is not frozenset:
            disabled = frozenset(disabled)
        reused = self._reused
        for r in self.plan(claim.claim_type, disabled):
            if r.reads is None:
                try:
                    findings.extend(r.check(r, claim, ctx))
                except Exception:
                    findings.append(_failed(r, claim))
                continue
            subject: object = claim.billing if r.reads == "billing" else claim.payer
            entry = reused.get((r.id, id(subject)))
            if entry is None or entry[0] is not subject:
                found: list[Finding] = []
                try:
                    found.extend(r.check(r, claim, ctx))
                except Exception:
                    # Not kept: every claim that shares the subject reports its own failure.
                    findings.extend(found)
                    findings.append(_failed(r, claim))
                    continue
                entry = reused[(r.id, id(subject))] = (subject, tuple(found))
            findings.extend(entry[1])
        return findings


def scrub_claim(
    claim: ScrubClaim, ctx: ScrubContext, rules: Iterable[Rule] | RuleSet | None = None
) -> list[Finding]:
    """The claim's findings from `rules` (default: every registered rule), in rule order. Many
    claims: pass one `RuleSet` for all of them."""
    if isinstance(rules, RuleSet):
        return rules.scrub(claim, ctx)
    findings: list[Finding] = []
    ctx.scratch.clear()
    disabled = claim.payer.disabled_rules
    for r in rules if rules is not None else all_rules():
        if disabled and r.id in disabled:
            continue
        try:
            findings.extend(r.check(r, claim, ctx))
        except Exception:
            findings.append(_failed(r, claim))
    return findings


def scrub_many(
    claims: Iterable[ScrubClaim], ctx: ScrubContext
) -> Iterator[tuple[ScrubClaim, list[Finding]]]:
    rules = RuleSet(all_rules())
    for claim in claims:
        yield claim, rules.scrub(claim, ctx)


def has_errors(findings: Iterable[Finding]) -> bool:
    return any(f.severity is Severity.ERROR for f in findings)


__all__ = [
    "RULES",
    "RULE_FAILED",
    "Rule",
    "RuleSet",
    "all_rules",
    "has_errors",
    "rule",
    "scrub_claim",
    "scrub_many",
]
