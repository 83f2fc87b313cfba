from __future__ import annotations

import csv
import io
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlmodel import Session

from rcm.imports import import_patients
from rcm.onboarding import apply_onboarding, load_onboarding_file
from rcm.payers import load_payers
from rcm.settings import PROJECT_ROOT

CONFIG = PROJECT_ROOT / "config"
EXAMPLES = CONFIG / "examples"
RIVERSIDE = "riverside-family-medicine"
SUMMIT = "summit-orthopaedics"
CONESTOGA = "conestoga-outpatient-rehab"
FILE_PREFIX = {RIVERSIDE: "riverside", SUMMIT: "summit", CONESTOGA: "conestoga"}


def example(practice: str, kind: str) -> Path:
    return EXAMPLES / f"{FILE_PREFIX[practice]}-{kind}.csv"


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def to_csv(rows: list[dict[str, str]]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


@pytest.fixture
def onboard(session: Session) -> Callable[[str], None]:
    """Onboard an example practice and import its example patients."""
    payers = load_payers(CONFIG / "payers.yaml")

    def _onboard(slug: str) -> None:
        doc = load_onboarding_file(CONFIG / "practices" / f"{slug}.yaml")
        apply_onboarding(session, doc, payers=payers, known_clearinghouses={"sandbox"})
        patients = example(slug, "patients")
        import_patients(session, slug, patients.read_bytes(), source_name=patients.name)
        session.commit()

    return _onboard
