"""Code sets the scrubber checks claims against, each built once per process.

ICD-10-CM comes with simple-icd-10-cm. HCPCS Level II, NCCI PTP and MUE tables come from the
quarterly CMS files the user points to (config/codesets.yaml or RCM_CODESETS_DIR); when none are
configured, the rules that need them do not run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from rcm.codesets.config import CodeSetFiles, configured_files
from rcm.codesets.hcpcs import HcpcsCodeSet, load_hcpcs
from rcm.codesets.icd10 import Icd10CodeSet, Icd10Releases, icd10cm, load_icd10cm_order
from rcm.codesets.mue import MueSetting, MueTable, load_mue
from rcm.codesets.ncci import PtpSetting, PtpTable, load_ptp


@dataclass(slots=True)
class CodeSets:
    icd10: Icd10CodeSet
    hcpcs: HcpcsCodeSet | None = None
    ptp: dict[PtpSetting, PtpTable] = field(default_factory=dict)
    mue: dict[MueSetting, MueTable] = field(default_factory=dict)
    # Further ICD-10-CM releases from CMS order files; `icd10` (bundled) is one of them.
    icd10_releases: Icd10Releases | None = None

    def __post_init__(self) -> None:
        if self.icd10_releases is None:
            self.icd10_releases = Icd10Releases.of([self.icd10])

    def icd10_for(self, service_date: date) -> Icd10CodeSet:
        assert self.icd10_releases is not None
        return self.icd10_releases.for_date(service_date)

    def describe(self) -> dict[str, Any]:
        """Counts for logs and `rcm claims scrub` output (no codes, no PHI)."""
        return {
            "icd10cm": self.icd10.version,
            "icd10cm_releases": [r.version for r in self.icd10_releases.releases]
            if self.icd10_releases
            else [],
            "icd10cm_billable": len(self.icd10.billable),
            "hcpcs_codes": len(self.hcpcs.procedures) if self.hcpcs else 0,
            "ptp_pairs": {s.value: len(t) for s, t in self.ptp.items()},
            "mue_codes": {s.value: len(t) for s, t in self.mue.items()},
        }


def build_code_sets(files: CodeSetFiles) -> CodeSets:
    bundled = icd10cm()
    extra = [load_icd10cm_order(item) for item in files.icd10cm]
    return CodeSets(
        icd10=bundled,
        icd10_releases=Icd10Releases.of([bundled, *extra]),
        hcpcs=load_hcpcs(files.hcpcs) if files.hcpcs else None,
        ptp={s: load_ptp(paths) for s, paths in files.ptp.items() if paths},
        mue={s: load_mue(items) for s, items in files.mue.items() if items},
    )


_CACHE: dict[tuple[Any, ...], CodeSets] = {}


def load_code_sets(files: CodeSetFiles | None = None) -> CodeSets:
    """The configured code sets; rebuilt only when the list of files or a file changes."""
    files = files if files is not None else configured_files()
    signature = files.signature()
    cached = _CACHE.get(signature)
    if cached is None:
        if len(_CACHE) >= 4:
            _CACHE.clear()
        cached = _CACHE[signature] = build_code_sets(files)
    return cached


__all__ = [
    "CodeSetFiles",
    "CodeSets",
    "HcpcsCodeSet",
    "Icd10CodeSet",
    "MueSetting",
    "MueTable",
    "PtpSetting",
    "PtpTable",
    "build_code_sets",
    "configured_files",
    "icd10cm",
    "load_code_sets",
]
