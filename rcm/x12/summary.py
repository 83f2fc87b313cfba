"""JSON shapes of parsed X12 files for the CLI (`rcm x12 parse --json`) and flow artifacts.

One entry per ST with `set` and `version`; amounts are decimal strings, dates ISO. Entries name
claims by patient control number and codes; names, member IDs and addresses are left out.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from rcm.x12.core import Source, format_decimal, read_transactions
from rcm.x12.x277ca import Ack277CA, parse_277ca
from rcm.x12.x835 import Adjustment, ClaimPayment, Remittance835, ServicePayment, parse_835
from rcm.x12.x999 import Ack999, parse_999


def _money(value: Decimal | None) -> str | None:
    return None if value is None else format_decimal(value)


def _adjustment(a: Adjustment) -> dict[str, Any]:
    return {
        "group": a.group,
        "reason": a.reason,
        "amount": _money(a.amount),
        "quantity": _money(a.quantity),
    }


def _service(s: ServicePayment) -> dict[str, Any]:
    service_date = s.service_date
    return {
        "procedure": s.procedure.code,
        "procedure_qualifier": s.procedure.qualifier,
        "modifiers": list(s.procedure.modifiers),
        "revenue_code": s.revenue_code or None,
        "charge": _money(s.charge),
        "paid": _money(s.paid),
        "units": _money(s.units),
        "service_date": service_date.isoformat() if service_date else None,
        "adjustments": [_adjustment(a) for a in s.adjustments],
        "remarks": [r.code for r in s.remarks],
    }


def claim_payment_summary(c: ClaimPayment) -> dict[str, Any]:
    return {
        "patient_control_number": c.patient_control_number,
        "status": c.status,
        "charge": _money(c.charge),
        "paid": _money(c.paid),
        "patient_responsibility": _money(c.patient_responsibility),
        "payer_claim_control_number": c.payer_claim_control_number or None,
        "frequency": c.frequency or None,
        "adjustments": [_adjustment(a) for a in c.adjustments],
        "services": [_service(s) for s in c.services],
    }


def remittance_summary(r: Remittance835) -> dict[str, Any]:
    return {
        "set": "835",
        "version": r.implementation,
        "control_number": r.control_number,
        "total_paid": _money(r.total_paid),
        "credit_debit": r.credit_debit,
        "payment_method": r.payment_method,
        "payment_date": r.payment_date.isoformat() if r.payment_date else None,
        "trace_number": r.trace.number,
        "payer": {
            "name": r.payer.name,
            "id_qualifier": r.payer.id_qualifier or None,
            "id": r.payer.id or None,
        },
        "payee": {
            "name": r.payee.name,
            "id_qualifier": r.payee.id_qualifier or None,
            "id": r.payee.id or None,
        },
        "claims": [claim_payment_summary(c) for c in r.claims],
        "provider_adjustments": [
            {
                "provider_id": p.provider_id,
                "reason": p.reason,
                "reference": p.reference or None,
                "amount": _money(p.amount),
            }
            for p in r.provider_adjustments
        ],
        "envelope_warnings": [str(i.message) for i in r.issues],
    }


def ack999_summary(a: Ack999) -> dict[str, Any]:
    return {
        "set": "999",
        "version": a.implementation,
        "control_number": a.control_number,
        "functional_id": a.functional_id,
        "group_control_number": a.group_control_number,
        "status": a.status,
        "received": a.received,
        "accepted": a.accepted_count,
        "transactions": [
            {
                "set": t.set_id,
                "control_number": t.control_number,
                "status": t.status,
                "error_codes": t.error_codes,
                "segment_errors": [
                    {
                        "segment_id": s.segment_id,
                        "position": s.position,
                        "loop_id": s.loop_id or None,
                        "code": s.code,
                        "elements": [
                            {
                                "position": e.position,
                                "reference": e.reference_number or None,
                                "code": e.code,
                            }
                            for e in s.element_errors
                        ],
                    }
                    for s in t.segment_errors
                ],
            }
            for t in a.transactions
        ],
    }


def ack277ca_summary(a: Ack277CA) -> dict[str, Any]:
    claims = []
    for ack in a.claim_acknowledgments():
        c = ack.claim
        period = c.service_period
        claims.append(
            {
                "patient_control_number": c.patient_control_number,
                "accepted": c.accepted,
                "statuses": [
                    {
                        "category": s.category,
                        "codes": [f"{x.category}:{x.status}" for x in s.codes],
                        "amount": _money(s.amount),
                    }
                    for s in c.statuses
                ],
                "payer_claim_control_number": c.payer_claim_control_number or None,
                "billed_amount": _money(c.billed_amount),
                "service_date_from": period[0].isoformat() if period else None,
                "service_date_to": period[1].isoformat() if period else None,
                "billing_provider_id": ack.provider.name.id
                if ack.provider is not None and ack.provider.name is not None
                else None,
            }
        )
    return {
        "set": "277",
        "version": a.implementation,
        "control_number": a.control_number,
        "claims": claims,
    }


def _claim837_summary(claim: Any) -> dict[str, Any]:
    summary = getattr(claim, "summary", None)
    if callable(summary):
        data = dict(summary())
    else:
        data = {
            "patient_control_number": claim.patient_control_number,
            "charge": _money(claim.charge),
            "frequency": claim.frequency,
            "diagnoses": list(claim.diagnoses),
            "services": [
                {
                    "procedure": ln.procedure_code,
                    "modifiers": list(ln.modifiers),
                    "charge": _money(ln.charge),
                    "units": _money(ln.units),
                }
                for ln in claim.lines
            ],
        }
    return data


def _summaries_837(data: Source, file_name: str | None, strict: bool) -> list[dict[str, Any]]:
    x837 = importlib.import_module("rcm.x12.x837")
    submissions = _call(x837.parse_837_submissions, data, file_name, strict)
    out = []
    for sub in submissions:
        out.append(
            {
                "set": "837",
                "version": None,
                "control_number": sub.control_number,
                "kind": str(sub.kind),
                "claims": [_claim837_summary(c) for c in sub.claims],
            }
        )
    return out


def _call(fn: Callable[..., Any], data: Source, file_name: str | None, strict: bool) -> Any:
    """Call another module's parser with whichever of our keyword arguments it takes."""
    parameters = inspect.signature(fn).parameters
    kwargs: dict[str, Any] = {}
    if "file_name" in parameters:
        kwargs["file_name"] = file_name
    if "strict" in parameters:
        kwargs["strict"] = strict
    elif "strict_envelope" in parameters:
        kwargs["strict_envelope"] = strict
    return fn(data, **kwargs)


def _entry_271(tx: Any) -> dict[str, Any]:
    return {"responses": [r.coverage() for r in tx.responses]}


def _entry_277(items: list[Any]) -> dict[str, Any]:
    return {"claims": [c.summary() for r in items for c in r.claims]}


def _entry_count(name: str) -> Callable[[list[Any]], dict[str, Any]]:
    return lambda items: {name: len(items)}


# set -> (module, parser giving items that carry `control_number`, entry from the ST's items)
_OTHER_SETS: dict[str, tuple[str, str, Callable[[list[Any]], dict[str, Any]]]] = {
    "271": ("rcm.x12.x271", "parse_271_transactions", lambda items: _entry_271(items[0])),
    "277": ("rcm.x12.x277", "parse_277_responses", _entry_277),
    "270": ("rcm.x12.x270", "parse_270", _entry_count("requests")),
    "276": ("rcm.x12.x276", "parse_276", _entry_count("requests")),
}


def _other_set_entries(
    set_id: str,
    data: Source,
    file_name: str | None,
    strict: bool,
    heads: list[tuple[str, str, str]],
) -> list[dict[str, Any]]:
    """Entries for the sets other modules parse (270/271/276/277 X212), grouped per ST by the
    items' control numbers. Only their PHI-free summaries are used."""
    module_name, function, shape = _OTHER_SETS[set_id]
    try:
        parse = getattr(importlib.import_module(module_name), function)
    except (ImportError, AttributeError):
        return []
    items = list(_call(parse, data, file_name, strict))
    by_control: dict[str | None, list[Any]] = {}
    for item in items:
        by_control.setdefault(getattr(item, "control_number", None), []).append(item)
    entries = []
    for _, _, control in heads:
        mine = by_control.get(control) or (items if len(heads) == 1 else [])
        entries.append({"control_number": control, **(shape(mine) if mine else {})})
    return entries


def summarize(data: bytes, *, file_name: str | None = None, strict: bool = True) -> dict[str, Any]:
    """`{"transactions": [...]}`: one entry per ST. Raises `X12SyntaxError` for a broken file."""
    heads: list[tuple[str, str, str]] = []
    for tx in read_transactions(data, file_name=file_name, strict=strict):
        heads.append((tx.set_id, tx.st[3] or tx.gs[8], tx.control_number))
        for _ in tx.body:
            pass
    kinds = {(s, v.startswith("005010X214")) for s, v, _ in heads}
    entries: list[dict[str, Any]] = []
    if len(kinds) == 1:
        set_id, is_277ca = next(iter(kinds))
        if set_id == "835":
            entries = [
                remittance_summary(r) for r in parse_835(data, file_name=file_name, strict=strict)
            ]
        elif set_id == "999":
            entries = [
                ack999_summary(a) for a in parse_999(data, file_name=file_name, strict=strict)
            ]
        elif set_id == "277" and is_277ca:
            entries = [
                ack277ca_summary(a) for a in parse_277ca(data, file_name=file_name, strict=strict)
            ]
        elif set_id == "837":
            entries = _summaries_837(data, file_name, strict)
        elif set_id in _OTHER_SETS:
            entries = _other_set_entries(set_id, data, file_name, strict, heads)
    if len(entries) != len(heads):
        entries = [{"set": s, "control_number": c} for s, _, c in heads]
    shaped = []
    for entry, (set_id, version, control) in zip(entries, heads, strict=True):
        rest = {k: v for k, v in entry.items() if k not in ("set", "version", "control_number")}
        shaped.append({"set": set_id, "version": version, "control_number": control, **rest})
    return {"transactions": shaped}
