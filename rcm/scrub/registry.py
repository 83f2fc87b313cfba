"""The rule registry: each rule is a small function from a claim and its context to findings.

A rule module declares its rules with `@rule(...)`; importing `rcm.scrub.rules` registers them
all. `scrub_claim` runs every rule (except those a payer turns off in its `rules.scrub_disabled`)
and never lets one broken rule stop a batch: the failure becomes an error finding on the claim.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from rcm.logging import logger
from rcm.scrub.context import ScrubContext
from rcm.scrub.model import Finding, ScrubClaim, Severity

RuleFunction = Callable[["Rule", ScrubClaim, ScrubContext], Iterable[Finding]]


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    severity: Severity
    loop: str
    field: str
    topic: str
    summary: str
    check: RuleFunction

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
    rule_id: str, *, severity: Severity, loop: str, field: str, topic: str, summary: str
) -> Callable[[RuleFunction], RuleFunction]:
    def register(check: RuleFunction) -> RuleFunction:
        if rule_id in RULES:
            raise ValueError(f"scrub rule {rule_id} is registered twice")
        RULES[rule_id] = Rule(rule_id, severity, loop, field, topic, summary, check)
        return check

    return register


RULE_FAILED = "SCRUB-RULE-FAILED"


def all_rules() -> list[Rule]:
    import rcm.scrub.rules  # noqa: F401  (registers every rule)

    return list(RULES.values())


def scrub_claim(
    claim: ScrubClaim, ctx: ScrubContext, rules: Iterable[Rule] | None = None
) -> list[Finding]:
    findings: list[Finding] = []
    ctx.scratch.clear()
    disabled = claim.payer.disabled_rules
    for r in rules if rules is not None else all_rules():
        if disabled and r.id in disabled:
            continue
        try:
            findings.extend(r.check(r, claim, ctx))
        except Exception:
            logger.bind(claim_id=str(claim.id), rule_id=r.id).exception("scrub rule failed")
            findings.append(
                Finding(
                    rule_id=RULE_FAILED,
                    severity=Severity.ERROR,
                    loop="2300",
                    field="CLM",
                    message=f"Scrub rule {r.id} could not check this claim; report it to support.",
                )
            )
    return findings


def scrub_many(
    claims: Iterable[ScrubClaim], ctx: ScrubContext
) -> Iterator[tuple[ScrubClaim, list[Finding]]]:
    rules = all_rules()
    for claim in claims:
        yield claim, scrub_claim(claim, ctx, rules)


def has_errors(findings: Iterable[Finding]) -> bool:
    return any(f.severity is Severity.ERROR for f in findings)


__all__ = [
    "RULES",
    "RULE_FAILED",
    "Rule",
    "all_rules",
    "has_errors",
    "rule",
    "scrub_claim",
    "scrub_many",
]
