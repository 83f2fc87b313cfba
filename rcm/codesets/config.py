"""Where the user's CMS files are: config/codesets.yaml, or a folder named by RCM_CODESETS_DIR.

Both are optional. Files listed in the YAML are taken as given (paths relative to the YAML's
folder); files in the folder (`directory:` in the YAML, or RCM_CODESETS_DIR, which wins) are
found by the names CMS publishes them under:

- HCPCS Level II: HCPC<YYYY>_<MON>_ANWEB*.txt (the fixed-width "contractor" file)
- NCCI PTP: ccipra-*.txt (practitioner), ccioph-*.txt (hospital)
- MUE: *MUE*Practitioner*.csv, *MUE*Outpatient*.csv, *MUE*DME*.csv
- ICD-10-CM releases beyond the bundled one: icd10cm_order_<YYYY>.txt (fiscal year YYYY,
  from October 1 of YYYY-1), icd10cm-order-April-<YYYY>.txt (April update)
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from rcm.codesets.icd10 import Icd10File
from rcm.codesets.mue import MueFile, MueSetting
from rcm.codesets.ncci import PtpSetting
from rcm.errors import ConfigError

CODESETS_FILE_NAME = "codesets.yaml"
CODESETS_DIR_ENV = "RCM_CODESETS_DIR"

_MONTHS = {m: i for i, m in enumerate(
    ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"], start=1
)}  # fmt: skip
_HCPCS_NAME = re.compile(r"(?i)^HCPC(\d{4})_?([A-Z]{3})?.*ANWEB.*\.txt$")
_PTP_NAMES = {
    PtpSetting.PRACTITIONER: re.compile(r"(?i)^ccipra.*\.(txt|csv)$"),
    PtpSetting.HOSPITAL: re.compile(r"(?i)^ccioph.*\.(txt|csv)$"),
}
_ICD10_NAME = re.compile(r"(?i)^icd10cm[_-]order[_-].*\.txt$")
_MUE_NAMES = {
    MueSetting.PRACTITIONER: re.compile(r"(?i)mue.*practitioner.*\.(csv|txt)$"),
    MueSetting.OUTPATIENT_HOSPITAL: re.compile(r"(?i)mue.*outpatient.*\.(csv|txt)$"),
    MueSetting.DME: re.compile(r"(?i)mue.*dme.*\.(csv|txt)$"),
}


class _MueEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    file: str
    effective: date | None = None


class _PtpFiles(BaseModel):
    model_config = ConfigDict(extra="forbid")
    practitioner: list[str] = Field(default_factory=list)
    hospital: list[str] = Field(default_factory=list)


class _MueFiles(BaseModel):
    model_config = ConfigDict(extra="forbid")
    practitioner: list[_MueEntry | str] = Field(default_factory=list)
    outpatient_hospital: list[_MueEntry | str] = Field(default_factory=list)
    dme: list[_MueEntry | str] = Field(default_factory=list)


class _CodesetsFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    directory: str | None = None
    icd10cm: list[_MueEntry | str] = Field(default_factory=list)
    hcpcs: list[str] = Field(default_factory=list)
    ptp: _PtpFiles = Field(default_factory=_PtpFiles)
    mue: _MueFiles = Field(default_factory=_MueFiles)


@dataclass(frozen=True)
class CodeSetFiles:
    """The CMS files to load, per kind and setting, in release order."""

    hcpcs: tuple[Path, ...] = ()
    ptp: dict[PtpSetting, tuple[Path, ...]] = field(default_factory=dict)
    mue: dict[MueSetting, tuple[MueFile, ...]] = field(default_factory=dict)
    icd10cm: tuple[Icd10File, ...] = ()

    def signature(self) -> tuple[Any, ...]:
        def stamp(path: Path) -> tuple[str, int]:
            return (str(path), path.stat().st_mtime_ns if path.exists() else 0)

        return (
            tuple(stamp(p) for p in self.hcpcs),
            tuple((s.value, tuple(stamp(p) for p in ps)) for s, ps in sorted(self.ptp.items())),
            tuple(
                (s.value, tuple((*stamp(f.path), f.effective) for f in fs))
                for s, fs in sorted(self.mue.items())
            ),
            tuple((*stamp(f.path), f.effective) for f in self.icd10cm),
        )

    @property
    def empty(self) -> bool:
        return not (self.hcpcs or self.icd10cm or any(self.ptp.values()) or any(self.mue.values()))


def _hcpcs_order(path: Path) -> tuple[int, int, str]:
    match = _HCPCS_NAME.match(path.name)
    if not match:
        return (0, 0, path.name)
    return (int(match.group(1)), _MONTHS.get((match.group(2) or "").upper(), 0), path.name)


def discover(directory: Path) -> CodeSetFiles:
    """The CMS files in a folder (and its subfolders), recognised by their CMS names."""
    if not directory.is_dir():
        raise ConfigError(f"code set folder {directory} does not exist")
    files = sorted(p for p in directory.rglob("*") if p.is_file())
    hcpcs = sorted((p for p in files if _HCPCS_NAME.match(p.name)), key=_hcpcs_order)
    ptp = {s: tuple(p for p in files if rx.search(p.name)) for s, rx in _PTP_NAMES.items()}
    mue = {s: tuple(MueFile(p) for p in files if rx.search(p.name)) for s, rx in _MUE_NAMES.items()}
    icd10 = tuple(Icd10File(p) for p in files if _ICD10_NAME.match(p.name))
    return CodeSetFiles(hcpcs=tuple(hcpcs), ptp=ptp, mue=mue, icd10cm=icd10)


def parse_codesets_yaml(text: str, *, base: Path, source: str = CODESETS_FILE_NAME) -> CodeSetFiles:
    try:
        raw = yaml.safe_load(text) or {}
    except yaml.YAMLError:
        raise ConfigError(f"{source}: not valid YAML") from None
    try:
        parsed = _CodesetsFile.model_validate(raw)
    except ValidationError as exc:
        problems = [
            f"{source}: {'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
            for e in exc.errors(include_input=False, include_url=False)
        ]
        raise ConfigError(f"{source}: invalid", problems) from None

    def resolve(name: str) -> Path:
        path = Path(name).expanduser()
        return path if path.is_absolute() else base / path

    def mue_files(entries: list[_MueEntry | str]) -> tuple[MueFile, ...]:
        out = []
        for entry in entries:
            if isinstance(entry, str):
                out.append(MueFile(resolve(entry)))
            else:
                out.append(MueFile(resolve(entry.file), entry.effective))
        return tuple(out)

    icd10 = tuple(
        Icd10File(resolve(e)) if isinstance(e, str) else Icd10File(resolve(e.file), e.effective)
        for e in parsed.icd10cm
    )
    listed = CodeSetFiles(
        icd10cm=icd10,
        hcpcs=tuple(resolve(p) for p in parsed.hcpcs),
        ptp={
            PtpSetting.PRACTITIONER: tuple(resolve(p) for p in parsed.ptp.practitioner),
            PtpSetting.HOSPITAL: tuple(resolve(p) for p in parsed.ptp.hospital),
        },
        mue={
            MueSetting.PRACTITIONER: mue_files(parsed.mue.practitioner),
            MueSetting.OUTPATIENT_HOSPITAL: mue_files(parsed.mue.outpatient_hospital),
            MueSetting.DME: mue_files(parsed.mue.dme),
        },
    )
    if parsed.directory:
        return merge(discover(resolve(parsed.directory)), listed)
    return listed


def merge(first: CodeSetFiles, second: CodeSetFiles) -> CodeSetFiles:
    return CodeSetFiles(
        hcpcs=first.hcpcs + second.hcpcs,
        ptp={s: first.ptp.get(s, ()) + second.ptp.get(s, ()) for s in PtpSetting},
        mue={s: first.mue.get(s, ()) + second.mue.get(s, ()) for s in MueSetting},
        icd10cm=first.icd10cm + second.icd10cm,
    )


def configured_files(config_dir: Path | None = None) -> CodeSetFiles:
    """The files named by config/codesets.yaml plus those found in RCM_CODESETS_DIR."""
    if config_dir is None:
        from rcm.settings import get_settings

        config_dir = Path(get_settings().config_dir)
    files = CodeSetFiles()
    yaml_path = config_dir / CODESETS_FILE_NAME
    if yaml_path.is_file():
        files = parse_codesets_yaml(
            yaml_path.read_text(encoding="utf-8"), base=config_dir, source=yaml_path.name
        )
    env_dir = os.environ.get(CODESETS_DIR_ENV)
    if env_dir:
        files = merge(files, discover(Path(env_dir).expanduser()))
    return files


__all__ = [
    "CODESETS_DIR_ENV",
    "CODESETS_FILE_NAME",
    "CodeSetFiles",
    "configured_files",
    "discover",
    "merge",
    "parse_codesets_yaml",
]
