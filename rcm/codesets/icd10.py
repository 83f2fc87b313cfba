"""ICD-10-CM, flattened once per process from simple-icd-10-cm into frozensets.

simple-icd-10-cm parses the CMS tabular XML on import (about 1.5 s); everything the scrubber asks
afterwards is a set or dict lookup on dotless upper-case codes, as claims store them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from types import MappingProxyType
from typing import Literal

# The US switched from ICD-9-CM on this date of service.
ICD10CM_START = date(2015, 10, 1)

Icd10Status = Literal["billable", "header", "invalid"]


@dataclass(frozen=True, slots=True)
class Icd10CodeSet:
    """One release of ICD-10-CM.

    `billable` are the leaves (codes a claim may carry); `headers` are categories and
    subcategories that have children. `more_specific` maps an unspecified billable code to the
    category or subcategory under which more specific codes exist.
    """

    version: str
    effective_from: date
    effective_to: date
    billable: frozenset[str]
    headers: frozenset[str]
    more_specific: MappingProxyType[str, str] = field(default_factory=lambda: MappingProxyType({}))

    def status(self, code: str) -> Icd10Status:
        if code in self.billable:
            return "billable"
        if code in self.headers:
            return "header"
        return "invalid"

    def is_billable(self, code: str) -> bool:
        return code in self.billable

    def covers(self, service_date: date) -> bool:
        return self.effective_from <= service_date <= self.effective_to


def is_external_cause(code: str) -> bool:
    """Chapter 20 (V00-Y99): how an injury happened, never the first-listed diagnosis."""
    return bool(code) and code[0] in "VWXY"


def _dotless(code: str) -> str:
    return code.replace(".", "")


def _build_from_simple_icd_10_cm() -> Icd10CodeSet:
    import simple_icd_10_cm as icd

    billable: set[str] = set()
    headers: set[str] = set()
    more_specific: dict[str, str] = {}
    for code in icd.get_all_codes(with_dots=True):
        # Chapters ("1".."22") and blocks ("A00-A09") are navigation, not codes.
        if "-" in code or code.isdigit() or not icd.is_category_or_subcategory(code):
            continue
        dotless = _dotless(code)
        if icd.is_leaf(code):
            billable.add(dotless)
        else:
            headers.add(dotless)
            continue
        # A seventh-character code (S72.001A) is as specific as its parent (S72.001); look
        # for specificity one level up from the code that carries the description.
        node = icd.get_parent(code) if icd.is_extended_subcategory(code) else code
        if "unspecified" not in icd.get_description(node).lower():
            continue
        parent = icd.get_parent(node)
        if not parent or not icd.is_category_or_subcategory(parent):
            continue
        for sibling in icd.get_children(parent):
            if sibling != node and "unspecified" not in icd.get_description(sibling).lower():
                more_specific[dotless] = _dotless(parent)
                break
    return Icd10CodeSet(
        version="2026-04",
        effective_from=date(2026, 4, 1),
        effective_to=date(2026, 9, 30),
        billable=frozenset(billable),
        headers=frozenset(headers),
        more_specific=MappingProxyType(more_specific),
    )


@lru_cache(maxsize=1)
def icd10cm() -> Icd10CodeSet:
    """The ICD-10-CM release bundled with simple-icd-10-cm, built once per process."""
    return _build_from_simple_icd_10_cm()


def describe(code: str) -> str | None:
    """The tabular description of a code (dotless or dotted), or None when it does not exist."""
    import simple_icd_10_cm as icd

    if not icd.is_valid_item(code):
        return None
    return str(icd.get_description(code))


__all__ = [
    "ICD10CM_START",
    "Icd10CodeSet",
    "Icd10Status",
    "describe",
    "icd10cm",
    "is_external_cause",
]
