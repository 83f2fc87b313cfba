"""The payer list (config/payers.yaml) and its idempotent sync into `Payer` rows.

The file is data: each payer's electronic payer ID, the claim filing indicator that goes in SBR09,
its filing and appeal windows, the procedures it wants prior authorization for, and where appeals
are mailed. `sync_payers` creates missing payers and updates changed ones; running it again with
the same file changes nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlmodel import Session, select

from rcm.errors import ConfigError
from rcm.identifiers import procedure_code_problem, state_problem, zip_problem

PAYERS_FILE_NAME = "payers.yaml"

_NUMBER_TAGS = {"tag:yaml.org,2002:int", "tag:yaml.org,2002:float"}


class TextScalarLoader(yaml.SafeLoader):
    """YAML 1.1 turns unquoted digits into numbers: ZIP 02134 becomes the octal 1116, an NPI an
    int, 10.50 a float. Config files are full of identifiers and money, so this loader resolves
    neither ints nor floats; pydantic converts the fields that really are numbers."""


TextScalarLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag not in _NUMBER_TAGS]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def load_yaml_text(text: str) -> Any:
    """Parse config YAML keeping numbers as strings. Raises yaml.YAMLError."""
    return yaml.load(text, Loader=TextScalarLoader)


def yaml_error_location(error: yaml.YAMLError) -> str:
    mark = getattr(error, "problem_mark", None)
    return f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else "document"


# X12 5010 SBR09 claim filing indicator codes.
CLAIM_FILING_INDICATORS: Mapping[str, str] = {
    "11": "Other non-federal programs",
    "12": "Preferred provider organization (PPO)",
    "13": "Point of service (POS)",
    "14": "Exclusive provider organization (EPO)",
    "15": "Indemnity insurance",
    "16": "Health maintenance organization (HMO) Medicare risk",
    "17": "Dental maintenance organization",
    "AM": "Automobile medical",
    "BL": "Blue Cross/Blue Shield",
    "CH": "CHAMPUS (TRICARE)",
    "CI": "Commercial insurance",
    "DS": "Disability",
    "FI": "Federal employees program",
    "HM": "Health maintenance organization",
    "LM": "Liability medical",
    "MA": "Medicare Part A",
    "MB": "Medicare Part B",
    "MC": "Medicaid",
    "OF": "Other federal program",
    "TV": "Title V",
    "VA": "Veterans Affairs plan",
    "WC": "Workers' compensation health claim",
    "ZZ": "Mutually defined",
}

_KEY = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")
_PAYER_ID = re.compile(r"^[0-9A-Z]{2,80}$")


class AppealAddress(BaseModel):
    model_config = ConfigDict(extra="forbid")

    address1: str
    city: str
    state: str
    zip: str

    @field_validator("state")
    @classmethod
    def _state(cls, value: str) -> str:
        problem = state_problem(value)
        if problem:
            raise ValueError(problem)
        return value

    @field_validator("zip", mode="before")
    @classmethod
    def _zip(cls, value: Any) -> Any:
        if not isinstance(value, str):
            raise ValueError("write the ZIP as a quoted string")
        problem = zip_problem(value)
        if problem:
            raise ValueError(problem)
        return value.replace("-", "")


class PayerConfig(BaseModel):
    """One payer as config/payers.yaml declares it."""

    model_config = ConfigDict(extra="forbid")

    key: str
    name: str
    payer_id: str
    clearinghouse_payer_ids: dict[str, str] = Field(default_factory=dict)
    claim_filing_indicator: str
    timely_filing_days: int = Field(gt=0)
    appeal_window_days: int = Field(gt=0)
    corrected_claim_days: int = Field(gt=0)
    prior_auth_procedures: list[str] = Field(default_factory=list)
    appeal_address: AppealAddress
    rules: dict[str, Any] = Field(default_factory=dict)

    @field_validator("key")
    @classmethod
    def _key(cls, value: str) -> str:
        if not _KEY.match(value):
            raise ValueError("a payer key is lower-case letters, digits and hyphens")
        return value

    @field_validator("payer_id", mode="before")
    @classmethod
    def _payer_id(cls, value: Any) -> Any:
        if not isinstance(value, str):
            raise ValueError("write the payer ID as a quoted string")
        if not _PAYER_ID.match(value):
            raise ValueError("a payer ID is upper-case letters and digits")
        return value

    @field_validator("claim_filing_indicator", mode="before")
    @classmethod
    def _cfi(cls, value: Any) -> Any:
        value = str(value)
        if value not in CLAIM_FILING_INDICATORS:
            raise ValueError("not an X12 SBR09 claim filing indicator code")
        return value

    @field_validator("prior_auth_procedures")
    @classmethod
    def _procedures(cls, value: list[str]) -> list[str]:
        for index, code in enumerate(value):
            problem = procedure_code_problem(str(code))
            if problem:
                raise ValueError(f"item {index}: {problem}")
        return [str(code) for code in value]

    def row_values(self) -> dict[str, Any]:
        """The `Payer` column values this config sets."""
        return {
            "key": self.key,
            "name": self.name,
            "payer_id": self.payer_id,
            "clearinghouse_payer_ids": dict(self.clearinghouse_payer_ids),
            "claim_filing_indicator": self.claim_filing_indicator,
            "timely_filing_days": self.timely_filing_days,
            "appeal_window_days": self.appeal_window_days,
            "corrected_claim_days": self.corrected_claim_days,
            "prior_auth_procedures": list(self.prior_auth_procedures),
            "address1": self.appeal_address.address1,
            "city": self.appeal_address.city,
            "state": self.appeal_address.state,
            "zip": self.appeal_address.zip,
            "rules": dict(self.rules),
        }


class _PayersFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    payers: list[PayerConfig]


@dataclass(frozen=True)
class SyncResult:
    created: int
    updated: int
    unchanged: int


def default_payers_path() -> Path:
    from rcm.settings import get_settings

    return Path(get_settings().config_dir) / PAYERS_FILE_NAME


def format_pydantic_errors(source_name: str, error: ValidationError) -> list[str]:
    """'file: field.path[2].sub: reason' for each error pydantic found, input values omitted."""
    problems = []
    for item in error.errors(include_input=False, include_url=False):
        path = ""
        for part in item["loc"]:
            path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
        message = item["msg"].removeprefix("Value error, ")
        problems.append(f"{source_name}: {path or '(document)'}: {message}")
    return problems


def parse_payers(text: str, *, source_name: str = PAYERS_FILE_NAME) -> list[PayerConfig]:
    """Parse and check payers.yaml text; every problem is reported in one ConfigError."""
    try:
        raw = load_yaml_text(text)
    except yaml.YAMLError as exc:
        where = yaml_error_location(exc)
        raise ConfigError(f"{source_name}: not valid YAML", [f"{source_name}: {where}"]) from None
    try:
        parsed = _PayersFile.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(
            f"{source_name}: payer list is invalid", format_pydantic_errors(source_name, exc)
        ) from None
    seen: dict[str, int] = {}
    problems = []
    for index, payer in enumerate(parsed.payers):
        if payer.key in seen:
            problems.append(
                f"{source_name}: payers[{index}].key: duplicate of payers[{seen[payer.key]}]"
            )
        seen.setdefault(payer.key, index)
    if problems:
        raise ConfigError(f"{source_name}: payer list is invalid", problems)
    return parsed.payers


def load_payers(path: Path | str | None = None) -> list[PayerConfig]:
    """Read config/payers.yaml (or the given file)."""
    file = Path(path) if path is not None else default_payers_path()
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{file.name}: cannot be read ({exc.strerror})") from None
    return parse_payers(text, source_name=file.name)


def payer_keys(payers: Iterable[PayerConfig]) -> set[str]:
    return {payer.key for payer in payers}


def _apply_values(row: Any, values: Mapping[str, Any]) -> bool:
    """Set only the columns whose value differs; True when anything changed."""
    changed = False
    for name, value in values.items():
        if getattr(row, name) != value:
            setattr(row, name, value)
            changed = True
    return changed


def sync_payers(
    session: Session,
    payers: Sequence[PayerConfig] | None = None,
    *,
    keys: Iterable[str] | None = None,
) -> SyncResult:
    """Create or update `Payer` rows from config; unchanged payers are not touched.

    `keys` limits the sync to those payers (onboarding ensures only the payers a practice uses).
    Payers in the database but not in config are left alone: claims may still point at them.
    The caller owns the transaction.
    """
    from rcm.models import Payer

    configs = list(payers) if payers is not None else load_payers()
    if keys is not None:
        wanted = set(keys)
        configs = [c for c in configs if c.key in wanted]
    existing = {
        p.key: p
        for p in session.exec(select(Payer).where(Payer.key.in_([c.key for c in configs]))).all()  # type: ignore[attr-defined]
    }
    created = updated = unchanged = 0
    for config in configs:
        row = existing.get(config.key)
        if row is None:
            session.add(Payer(**config.row_values()))
            created += 1
        elif _apply_values(row, config.row_values()):
            session.add(row)
            updated += 1
        else:
            unchanged += 1
    session.flush()
    return SyncResult(created=created, updated=updated, unchanged=unchanged)


__all__ = [
    "CLAIM_FILING_INDICATORS",
    "AppealAddress",
    "PayerConfig",
    "SyncResult",
    "default_payers_path",
    "format_pydantic_errors",
    "load_payers",
    "load_yaml_text",
    "parse_payers",
    "payer_keys",
    "sync_payers",
]
