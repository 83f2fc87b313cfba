"""Code-set loaders against small files in CMS's published layouts (tests/fixtures/cms)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from rcm.codesets import load_code_sets
from rcm.codesets._files import parse_cms_date
from rcm.codesets.config import (
    CODESETS_DIR_ENV,
    configured_files,
    discover,
    parse_codesets_yaml,
)
from rcm.codesets.hcpcs import load_hcpcs, parse_hcpcs
from rcm.codesets.icd10 import icd10cm, is_external_cause
from rcm.codesets.modifiers import is_evaluation_and_management, is_procedure_for_modifier_25
from rcm.codesets.mue import (
    MueAdjudication,
    MueFile,
    MueSetting,
    effective_date_from_name,
    load_mue,
    parse_mue,
)
from rcm.codesets.ncci import PtpSetting, load_ptp, parse_ptp
from rcm.codesets.place_of_service import place_of_service_valid_on
from rcm.errors import ConfigError

CMS = Path(__file__).resolve().parents[2] / "fixtures" / "cms"
REPO = Path(__file__).resolve().parents[3]


# ICD-10-CM ------------------------------------------------------------------------------------


def test_icd10_billable_headers_and_specificity() -> None:
    icd = icd10cm()
    assert icd is icd10cm()  # built once per process
    assert len(icd.billable) > 70_000
    assert icd.status("I10") == "billable"
    assert icd.status("E11") == "header" and icd.status("E119") == "billable"
    assert icd.status("S72001A") == "billable"
    assert icd.status("A00-A09") == "invalid" and icd.status("ZZZ9") == "invalid"
    assert icd.more_specific["J069"] == "J06"
    assert "I10" not in icd.more_specific
    assert is_external_cause("W010XXA") and not is_external_cause("S0990XA")
    assert icd.covers(date(2026, 6, 1)) and not icd.covers(date(2026, 10, 1))


# HCPCS ----------------------------------------------------------------------------------------


def test_hcpcs_fixed_width_file() -> None:
    hcpcs = load_hcpcs([CMS / "HCPC2026_JAN_ANWEB.txt"])
    j1100 = hcpcs.procedures["J1100"]
    assert j1100.short_description == "Dexamethasone sodium phos"
    assert j1100.add_date == date(1984, 1, 1) and j1100.termination_date is None
    assert j1100.coverage_code == "D" and j1100.action_code == "N"
    # Continuation records (4, 8) extend the long description.
    assert hcpcs.procedures["E0114"].long_description.endswith("tips and handgrips")
    assert hcpcs.modifiers["XE"].long_description.endswith("during a separate encounter")
    g0500 = hcpcs.procedures["G0500"]
    assert g0500.termination_date == date(2023, 12, 31) and g0500.action_code == "D"
    assert g0500.active_on(date(2023, 12, 31)) and not g0500.active_on(date(2024, 1, 1))
    assert not hcpcs.procedures["G0560"].active_on(date(2024, 12, 31))
    assert set(hcpcs.modifiers) >= {"GA", "GT", "KX", "LT", "RT", "XE", "XP", "XS", "XU"}


def test_hcpcs_later_release_wins(tmp_path: Path) -> None:
    text = (CMS / "HCPC2026_JAN_ANWEB.txt").read_text()
    april = tmp_path / "HCPC2026_APR_ANWEB.txt"
    line = next(ln for ln in text.splitlines() if ln.startswith("J1100"))
    april.write_text(line[:284] + "20260331" + line[292:] + "\n")
    merged = load_hcpcs([CMS / "HCPC2026_JAN_ANWEB.txt", april])
    assert merged.procedures["J1100"].termination_date == date(2026, 3, 31)
    assert "J7030" in merged.procedures


def test_hcpcs_bad_date_is_a_config_error() -> None:
    line = "J1100" + "00100" + "3" + " " * 257 + "2026XX01" + " " * 48
    with pytest.raises(ConfigError, match="line 1"):
        parse_hcpcs([line], source="bad.txt")


# NCCI PTP -------------------------------------------------------------------------------------


def test_ptp_txt_layout_skips_headers_and_reads_every_column() -> None:
    table = load_ptp([CMS / "ccipra-v320r0-f1.txt", CMS / "ccipra-v320r0-f2.txt"])
    assert len(table) == 7
    edit = table.edit_for("93000", "93005", date(2026, 1, 1))
    assert edit is not None and edit.prior_1996 and edit.modifier_indicator == "0"
    assert edit.deletion_date is None and edit.rationale.startswith("Misuse")
    assert table.edit_for("93005", "93000", date(2026, 1, 1)) is None  # ordered pair
    assert table.has_pair("93005", "93000")


def test_ptp_effective_and_deletion_dates() -> None:
    table = load_ptp([CMS / "ccipra-v320r0-f2.txt"])
    assert table.edit_for("11042", "97597", date(2012, 12, 31)) is None
    assert table.edit_for("11042", "97597", date(2013, 1, 1)) is not None
    assert table.edit_for("11042", "97597", date(2024, 12, 31)) is not None
    assert table.edit_for("11042", "97597", date(2025, 1, 1)) is None  # deleted that day
    assert table.edit_for("20552", "20553", date(2026, 3, 31)) is None
    assert table.edit_for("20552", "20553", date(2026, 4, 1)) is not None
    nine = table.edit_for("12001", "11900", date(2026, 1, 1))
    assert nine is not None and nine.modifier_indicator == "9"


def test_ptp_reads_csv_and_julian_dates_and_multiple_rows_per_pair() -> None:
    rows = [
        "Column 1,Column 2,*=in existence prior to 1996,Effective Date,Deletion Date,Modifier,R",
        "11111,22222,,2020001,2021001,0,old row",
        "11111,22222,,20210101,*,1,new row",
    ]
    table = parse_ptp(rows)
    assert table.edit_for("11111", "22222", date(2020, 6, 1)).modifier_indicator == "0"  # type: ignore[union-attr]
    assert table.edit_for("11111", "22222", date(2022, 6, 1)).modifier_indicator == "1"  # type: ignore[union-attr]


def test_ptp_bad_indicator_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="row 1"):
        parse_ptp(["11111\t22222\t\t20200101\t*\t5\tx"], source="bad.txt")


# MUE ------------------------------------------------------------------------------------------


def test_mue_csv_layout_and_adjudication_indicators() -> None:
    edits = parse_mue(
        (CMS / "MCR_MUE_PractitionerServices_Eff_01-01-2026.csv").read_text().splitlines()
    )
    assert set(edits) == {"20610", "97140", "J1100", "99213"}
    assert edits["J1100"].adjudication is MueAdjudication.LINE and edits["J1100"].value == 20
    assert edits["20610"].adjudication is MueAdjudication.DATE_OF_SERVICE_POLICY
    assert edits["97140"].adjudication is MueAdjudication.DATE_OF_SERVICE_CLINICAL
    assert edits["97140"].rationale == "Clinical: Data"


def test_mue_versions_by_effective_date() -> None:
    table = load_mue(
        [
            MueFile(CMS / "MCR_MUE_PractitionerServices_Eff_01-01-2026.csv"),
            MueFile(CMS / "MCR_MUE_PractitionerServices_Eff_10-01-2025.csv"),
        ]
    )
    assert table.effective_dates == [date(2025, 10, 1), date(2026, 1, 1)]
    assert table.edit_for("97140", date(2025, 9, 30)) is None
    assert table.edit_for("97140", date(2025, 12, 31)).value == 6  # type: ignore[union-attr]
    assert table.edit_for("97140", date(2026, 1, 1)).value == 4  # type: ignore[union-attr]
    assert table.edit_for("99213", date(2025, 12, 31)) is None


def test_mue_effective_date_from_name_or_config() -> None:
    assert effective_date_from_name("MCR_MUE_DMESupplierServices_Eff_07-01-2026.csv") == date(
        2026, 7, 1
    )
    assert effective_date_from_name("mue.csv") is None
    table = load_mue(
        [MueFile(CMS / "MCR_MUE_DMESupplierServices_Eff_01-01-2026.csv", date(2026, 2, 1))]
    )
    assert table.edit_for("E0114", date(2026, 1, 15)) is None


def test_mue_bad_indicator_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        parse_mue(["99213,1,7 Something,x"])


# Config ---------------------------------------------------------------------------------------


def test_discover_finds_files_by_cms_names() -> None:
    files = discover(CMS)
    assert [p.name for p in files.hcpcs] == ["HCPC2026_JAN_ANWEB.txt"]
    assert len(files.ptp[PtpSetting.PRACTITIONER]) == 2
    assert len(files.ptp[PtpSetting.HOSPITAL]) == 1
    assert len(files.mue[MueSetting.PRACTITIONER]) == 2
    assert len(files.mue[MueSetting.OUTPATIENT_HOSPITAL]) == 1
    assert len(files.mue[MueSetting.DME]) == 1


def test_shipped_codesets_yaml_is_empty() -> None:
    files = parse_codesets_yaml(
        (REPO / "config" / "codesets.yaml").read_text(), base=REPO / "config"
    )
    assert files.empty


def test_yaml_lists_relative_paths_and_effective_dates(tmp_path: Path) -> None:
    text = f"""
hcpcs: [{CMS / "HCPC2026_JAN_ANWEB.txt"}]
ptp:
  practitioner: [cms/ccipra-v320r0-f1.txt]
mue:
  practitioner:
    - file: cms/MCR_MUE_PractitionerServices_Eff_01-01-2026.csv
      effective: 2026-02-01
"""
    files = parse_codesets_yaml(text, base=CMS.parent)
    assert files.ptp[PtpSetting.PRACTITIONER] == (CMS / "ccipra-v320r0-f1.txt",)
    mue = files.mue[MueSetting.PRACTITIONER][0]
    assert mue.effective == date(2026, 2, 1)
    sets = load_code_sets(files)
    assert sets.hcpcs is not None and PtpSetting.HOSPITAL not in sets.ptp
    assert load_code_sets(files) is sets  # cached while the files are unchanged


def test_yaml_errors_are_config_errors() -> None:
    with pytest.raises(ConfigError):
        parse_codesets_yaml("hcpcs: [a\n", base=CMS)
    with pytest.raises(ConfigError, match="unknown"):
        parse_codesets_yaml("unknown: 1\n", base=CMS)


def test_env_folder_is_added(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CODESETS_DIR_ENV, str(CMS))
    files = configured_files(tmp_path)  # no codesets.yaml there
    assert len(files.hcpcs) == 1 and not files.empty
    monkeypatch.setenv(CODESETS_DIR_ENV, str(tmp_path / "missing"))
    with pytest.raises(ConfigError):
        configured_files(tmp_path)


def test_describe_has_counts_only() -> None:
    described = load_code_sets(discover(CMS)).describe()
    assert described["ptp_pairs"] == {"practitioner": 7, "hospital": 1}
    assert described["mue_codes"]["dme"] == 1


# Small tables ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("20260101", date(2026, 1, 1)),
        ("2026032", date(2026, 2, 1)),
        ("01/31/2026", date(2026, 1, 31)),
        ("2026-01-31", date(2026, 1, 31)),
        ("*", None),
        ("", None),
    ],
)
def test_cms_dates(value: str, expected: date | None) -> None:
    assert parse_cms_date(value) == expected


def test_modifier_and_pos_tables() -> None:
    assert is_evaluation_and_management("99213") and not is_evaluation_and_management("20610")
    assert is_procedure_for_modifier_25("20610") and not is_procedure_for_modifier_25("36415")
    assert is_procedure_for_modifier_25("96372") and not is_procedure_for_modifier_25("J1100")
    assert place_of_service_valid_on("11", date(2000, 1, 1))
    assert not place_of_service_valid_on("10", date(2021, 12, 31))
    assert place_of_service_valid_on("10", date(2022, 1, 1))
    assert not place_of_service_valid_on("30", date(2026, 1, 1))


# ICD-10-CM releases from CMS order files -------------------------------------------------------


def test_icd10_order_file_release() -> None:
    from rcm.codesets.icd10 import Icd10File, load_icd10cm_order, release_dates_from_name

    release = load_icd10cm_order(Icd10File(CMS / "icd10cm_order_2027.txt"))
    assert (release.version, release.effective_from) == ("2027", date(2026, 10, 1))
    assert release.status("R5087") == "billable" and release.status("R508") == "header"
    assert release.status("E119") == "invalid"
    assert dict(release.more_specific) == {"J069": "J06"}
    assert release_dates_from_name("icd10cm-order-April-2025.txt") == ("2025-04", date(2025, 4, 1))
    assert release_dates_from_name("codes.txt") is None
    with pytest.raises(ConfigError, match="effective date"):
        load_icd10cm_order(Icd10File(CMS / "README.md"))


def test_icd10_release_in_force_by_date_of_service() -> None:
    sets = load_code_sets(discover(CMS))
    assert [r.version for r in sets.icd10_releases.releases] == ["2026-04", "2027"]  # type: ignore[union-attr]
    assert sets.icd10_for(date(2026, 9, 30)).version == "2026-04"
    assert sets.icd10_for(date(2026, 10, 1)).version == "2027"
    assert sets.icd10_for(date(2020, 1, 1)).version == "2026-04"  # before any: the oldest
    assert sets.describe()["icd10cm_releases"] == ["2026-04", "2027"]
