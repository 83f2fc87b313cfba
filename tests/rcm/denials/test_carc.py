from __future__ import annotations

import pytest

from rcm.denials import DenialCategory, RecommendedAction, load_carc_table
from rcm.denials.carc import parse_carc_table
from rcm.errors import ConfigError

# The CARCs seen most on professional and institutional remittances.
MOST_FREQUENT = [
    "1",
    "2",
    "3",
    "4",
    "5",
    "6",
    "11",
    "16",
    "18",
    "22",
    "23",
    "24",
    "26",
    "27",
    "29",
    "31",
    "45",
    "49",
    "50",
    "55",
    "59",
    "96",
    "97",
    "109",
    "119",
    "125",
    "129",
    "131",
    "140",
    "146",
    "150",
    "151",
    "167",
    "170",
    "181",
    "182",
    "185",
    "189",
    "197",
    "198",
    "199",
    "204",
    "226",
    "227",
    "231",
    "234",
    "236",
    "237",
    "242",
    "252",
    "253",
    "256",
    "272",
    "273",
    "276",
    "284",
    "288",
    "B7",
    "B9",
    "B13",
    "B15",
    "B20",
    "A1",
    "16",
    "94",
    "42",
    "44",
    "144",
]


def test_table_covers_the_most_frequent_carcs() -> None:
    table = load_carc_table()
    assert len(set(MOST_FREQUENT)) >= 60
    missing = [c for c in MOST_FREQUENT if c not in table.carcs]
    assert missing == []
    assert len(table.carcs) >= 60
    assert {"N130", "M15", "MA130", "N115"} <= set(table.rarcs)


def test_every_denial_category_is_used() -> None:
    used = {info.category for info in load_carc_table().carcs.values()}
    assert used >= {
        DenialCategory.ELIGIBILITY,
        DenialCategory.AUTHORIZATION,
        DenialCategory.CODING,
        DenialCategory.MEDICAL_NECESSITY,
        DenialCategory.BUNDLING,
        DenialCategory.DUPLICATE,
        DenialCategory.TIMELY_FILING,
        DenialCategory.COORDINATION_OF_BENEFITS,
        DenialCategory.MISSING_INFORMATION,
        DenialCategory.NON_COVERED,
    }


@pytest.mark.parametrize(
    ("group", "reason", "denial"),
    [
        ("CO", "45", False),
        ("CO", "253", False),
        ("CO", "59", False),
        ("PR", "1", False),
        ("PR", "2", False),
        ("PR", "3", False),
        ("OA", "23", False),
        ("CO", "50", True),
        ("CO", "197", True),
        ("PR", "204", True),
        ("CO", "16", True),
        ("OA", "18", True),
        ("CO", "ZZ9", True),
    ],
)
def test_is_denial(group: str, reason: str, denial: bool) -> None:
    assert load_carc_table().is_denial(group, reason) is denial


def test_classify_puts_patient_group_on_the_patient() -> None:
    table = load_carc_table()
    assert table.classify("CO", "96") == (
        DenialCategory.NON_COVERED,
        RecommendedAction.BILL_PATIENT,
    )
    assert table.classify("CO", "16") == (
        DenialCategory.MISSING_INFORMATION,
        RecommendedAction.CORRECT_AND_RESUBMIT,
    )
    assert table.classify("PR", "50")[1] is RecommendedAction.BILL_PATIENT
    assert table.classify("CO", "ZZ9") == (DenialCategory.OTHER, RecommendedAction.APPEAL)


def test_bad_table_names_every_problem() -> None:
    with pytest.raises(ConfigError) as info:
        parse_carc_table('carcs:\n  "1": {category: nope, action: appeal}\n  "2": 5\n')
    assert len(info.value.problems) == 2


def test_a_missing_modifier_is_corrected_and_resubmitted() -> None:
    table = load_carc_table()
    assert table.classify("CO", "4") == (
        DenialCategory.CODING,
        RecommendedAction.CORRECT_AND_RESUBMIT,
    )
    assert table.get("4").description.endswith("or a required modifier is missing")
    assert table.describe_rarc("M78") == "Missing, incomplete or invalid HCPCS modifier."
    # The remark codes the sandbox payers send are described for billers.
    assert {"M62", "M78", "N19", "N30", "N115", "N286", "N418", "N522"} <= set(table.rarcs)


def test_an_unquoted_comma_in_a_description_is_refused() -> None:
    with pytest.raises(ConfigError) as info:
        parse_carc_table(
            'carcs:\n  "4": {description: Missing, or wrong, category: coding, '
            "action: correct_and_resubmit}\n"
        )
    assert "quote a description" in info.value.problems[0]
    parsed = parse_carc_table(
        'carcs:\n  "4": {description: "Missing, or wrong", category: coding, '
        "action: correct_and_resubmit}\n"
    )
    assert parsed.get("4").description == "Missing, or wrong"
