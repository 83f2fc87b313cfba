"""The CARC table (config/carc.yaml): what each claim adjustment reason code means for the
denial queue (category and recommended action) and the descriptions of common RARCs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType

import yaml

from rcm.errors import ConfigError

CARC_FILE_NAME = "carc.yaml"
ENTRY_KEYS = frozenset({"description", "category", "action"})
PROJECT_CONFIG = Path(__file__).resolve().parent.parent.parent / "config"


class DenialCategory(StrEnum):
    ELIGIBILITY = "eligibility"
    AUTHORIZATION = "authorization"
    CODING = "coding"
    MEDICAL_NECESSITY = "medical_necessity"
    BUNDLING = "bundling"
    DUPLICATE = "duplicate"
    TIMELY_FILING = "timely_filing"
    COORDINATION_OF_BENEFITS = "coordination_of_benefits"
    MISSING_INFORMATION = "missing_information"
    NON_COVERED = "non_covered"
    CONTRACTUAL = "contractual"
    PATIENT_RESPONSIBILITY = "patient_responsibility"
    OTHER = "other"


class RecommendedAction(StrEnum):
    CORRECT_AND_RESUBMIT = "correct_and_resubmit"
    APPEAL = "appeal"
    BILL_PATIENT = "bill_patient"
    WRITE_OFF = "write_off"
    NONE = "none"


# Patient-responsibility reasons that are cost sharing, not a denial of the service.
COST_SHARING = frozenset({"1", "2", "3"})


@dataclass(frozen=True, slots=True)
class CarcInfo:
    code: str
    description: str
    category: DenialCategory
    action: RecommendedAction


UNKNOWN_CARC = CarcInfo(
    "", "Adjustment reason not in the CARC table", DenialCategory.OTHER, RecommendedAction.APPEAL
)


@dataclass(frozen=True)
class CarcTable:
    carcs: Mapping[str, CarcInfo]
    rarcs: Mapping[str, str]

    def get(self, code: str) -> CarcInfo:
        info = self.carcs.get(code)
        if info is None:
            return CarcInfo(
                code, UNKNOWN_CARC.description, UNKNOWN_CARC.category, UNKNOWN_CARC.action
            )
        return info

    def is_denial(self, group: str, reason: str) -> bool:
        """True when a CAS adjustment takes money the practice may still be owed: neither a
        contractual write-down (CO-45, CO-253, CO-59 ...), nor the patient's cost sharing
        (PR-1/2/3), nor the impact of a prior payer (OA-23)."""
        if group == "PR" and reason in COST_SHARING:
            return False
        info = self.carcs.get(reason)
        if info is None:
            return True
        return info.category not in (
            DenialCategory.CONTRACTUAL,
            DenialCategory.PATIENT_RESPONSIBILITY,
        )

    def classify(self, group: str, reason: str) -> tuple[DenialCategory, RecommendedAction]:
        """Category and action of a denial. A non-covered service the payer puts on the patient
        (group PR) is billed to the patient; anything else follows the table."""
        info = self.get(reason)
        action = info.action
        if group == "PR" and action is not RecommendedAction.NONE:
            action = RecommendedAction.BILL_PATIENT
        return info.category, action

    def describe_rarc(self, code: str) -> str:
        return self.rarcs.get(code, "")


def _config_path() -> Path:
    from rcm.settings import get_settings

    configured = get_settings().config_dir / CARC_FILE_NAME
    return configured if configured.is_file() else PROJECT_CONFIG / CARC_FILE_NAME


def parse_carc_table(text: str, *, source: str = CARC_FILE_NAME) -> CarcTable:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source} is not valid YAML") from exc
    if not isinstance(data, dict) or not isinstance(data.get("carcs"), dict):
        raise ConfigError(f"{source} needs a 'carcs' mapping")
    problems: list[str] = []
    carcs: dict[str, CarcInfo] = {}
    for code, entry in data["carcs"].items():
        code = str(code)
        if not isinstance(entry, dict):
            problems.append(f"carcs.{code}: expected a mapping")
            continue
        unknown = sorted(str(key) for key in set(entry) - ENTRY_KEYS)
        if unknown:
            # In a flow mapping an unquoted comma ends the description: the rest becomes keys.
            problems.append(
                f"carcs.{code}: unknown keys {unknown} (quote a description that has a comma)"
            )
            continue
        try:
            carcs[code] = CarcInfo(
                code,
                str(entry.get("description", "")),
                DenialCategory(str(entry.get("category"))),
                RecommendedAction(str(entry.get("action"))),
            )
        except ValueError as exc:
            problems.append(f"carcs.{code}: {exc}")
    rarcs = {str(k): str(v) for k, v in (data.get("rarcs") or {}).items()}
    if problems:
        raise ConfigError(f"{source} has errors", problems)
    return CarcTable(MappingProxyType(carcs), MappingProxyType(rarcs))


@lru_cache(maxsize=4)
def _load(path: Path) -> CarcTable:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path.name} cannot be read ({exc.strerror})") from exc
    return parse_carc_table(text, source=path.name)


def load_carc_table(path: Path | None = None) -> CarcTable:
    """The CARC table from `path`, else RCM_CONFIG_DIR/carc.yaml, else the project's copy."""
    return _load(path or _config_path())
