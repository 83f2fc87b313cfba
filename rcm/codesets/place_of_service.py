"""The CMS place of service code set (837P CLM05-1, SV105).

Codes introduced recently carry the date of service they took effect; the others predate HIPAA
5010 claims. Codes not listed (30, 35-40, 43-48, 59, 63, 64, 67-70, 73-80, 82-98) are unassigned.
"""

from __future__ import annotations

from datetime import date
from types import MappingProxyType

PLACES_OF_SERVICE: MappingProxyType[str, str] = MappingProxyType(
    {
        "01": "Pharmacy",
        "02": "Telehealth provided other than in patient's home",
        "03": "School",
        "04": "Homeless shelter",
        "05": "Indian Health Service free-standing facility",
        "06": "Indian Health Service provider-based facility",
        "07": "Tribal 638 free-standing facility",
        "08": "Tribal 638 provider-based facility",
        "09": "Prison/correctional facility",
        "10": "Telehealth provided in patient's home",
        "11": "Office",
        "12": "Home",
        "13": "Assisted living facility",
        "14": "Group home",
        "15": "Mobile unit",
        "16": "Temporary lodging",
        "17": "Walk-in retail health clinic",
        "18": "Place of employment/worksite",
        "19": "Off campus-outpatient hospital",
        "20": "Urgent care facility",
        "21": "Inpatient hospital",
        "22": "On campus-outpatient hospital",
        "23": "Emergency room-hospital",
        "24": "Ambulatory surgical center",
        "25": "Birthing center",
        "26": "Military treatment facility",
        "27": "Outreach site/street",
        "31": "Skilled nursing facility",
        "32": "Nursing facility",
        "33": "Custodial care facility",
        "34": "Hospice",
        "41": "Ambulance - land",
        "42": "Ambulance - air or water",
        "49": "Independent clinic",
        "50": "Federally qualified health center",
        "51": "Inpatient psychiatric facility",
        "52": "Psychiatric facility-partial hospitalization",
        "53": "Community mental health center",
        "54": "Intermediate care facility/individuals with intellectual disabilities",
        "55": "Residential substance abuse treatment facility",
        "56": "Psychiatric residential treatment center",
        "57": "Non-residential substance abuse treatment facility",
        "58": "Non-residential opioid treatment facility",
        "60": "Mass immunization center",
        "61": "Comprehensive inpatient rehabilitation facility",
        "62": "Comprehensive outpatient rehabilitation facility",
        "65": "End-stage renal disease treatment facility",
        "66": "Programs of All-Inclusive Care for the Elderly (PACE) center",
        "71": "Public health clinic",
        "72": "Rural health clinic",
        "81": "Independent laboratory",
        "99": "Other place of service",
    }
)

EFFECTIVE_FROM: MappingProxyType[str, date] = MappingProxyType(
    {
        "02": date(2017, 1, 1),
        "10": date(2022, 1, 1),
        "19": date(2016, 1, 1),
        "27": date(2023, 10, 1),
        "58": date(2020, 1, 1),
        "66": date(2024, 8, 1),
    }
)


def place_of_service_valid_on(code: str, service_date: date) -> bool:
    if code not in PLACES_OF_SERVICE:
        return False
    start = EFFECTIVE_FROM.get(code)
    return start is None or service_date >= start


__all__ = ["EFFECTIVE_FROM", "PLACES_OF_SERVICE", "place_of_service_valid_on"]
