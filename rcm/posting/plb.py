"""PLB provider-level adjustment reasons (PLB03-1, 005010X221A1). A positive amount reduces the
payment (the payer keeps money), a negative one adds to it (interest, for instance)."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

PLB_REASONS: Mapping[str, str] = MappingProxyType(
    {
        "50": "late charge",
        "51": "interest penalty charge",
        "72": "authorized return",
        "90": "early payment allowance",
        "AH": "origination fee",
        "AM": "applied to borrower's account",
        "AP": "acceleration of benefits",
        "B2": "rebate",
        "B3": "recovery allowance",
        "BD": "bad debt adjustment",
        "BN": "bonus",
        "C5": "temporary allowance",
        "CR": "capitation interest",
        "CS": "adjustment",
        "CT": "capitation payment",
        "CV": "capital passthru",
        "CW": "certified registered nurse anesthetist passthru",
        "DM": "direct medical education passthru",
        "E3": "withholding",
        "FB": "forwarding balance",
        "FC": "fund allocation",
        "GO": "graduate medical education passthru",
        "HM": "hemophilia clotting factor supplement",
        "IP": "incentive premium payment",
        "IR": "internal revenue service withholding",
        "IS": "interim settlement",
        "J1": "nonreimbursable",
        "L3": "penalty",
        "L6": "interest owed",
        "LE": "levy",
        "LS": "lump sum",
        "OA": "organ acquisition passthru",
        "OB": "offset for affiliated providers",
        "PI": "periodic interim payment",
        "PL": "payment final",
        "RA": "retro-activity adjustment",
        "RE": "return on equity",
        "SL": "student loan repayment",
        "TL": "third party liability",
        "WO": "overpayment recovery",
        "WU": "unspecified recovery",
    }
)


def describe_plb(reason: str) -> str:
    return PLB_REASONS.get(reason, "provider adjustment")
