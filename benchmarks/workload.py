"""A billing firm's day at any size: N practices, M claims, deterministic by seed.

Built on sandbox/synthetic.py. The three example onboarding files (config/practices) are the
templates: practice i is a copy of template i % 3 with a new slug, billing NPI, TIN, submitter
account and provider NPIs (valid check digits, rcm.identifiers.make_npi), and the same specialty,
so the mix is what those practices bill every day: family-medicine E/M visits with labs,
injections and ECGs (1 to 3 lines), orthopaedic visits with X-rays, injections and surgery
(modifiers 25/RT/LT), and outpatient-rehab institutional claims (837I, revenue codes, units).
Denials (5-15 %), reversals (CLP02=22) and PLB adjustments come from the sandbox payer rules the
workload writes next to the roster, as a user running the sandbox would.

`write_workload` lays the files out as a deployment sees them:

    <root>/config/            a copy of config/ whose practices/ holds the N onboarding files
    <root>/sandbox/roster.csv the payers' member roster
    <root>/inbox/<slug>/{patients,appointments,charges}/*.csv   the EHR exports

so RCM_CONFIG_DIR=<root>/config and RCM_VAR_DIR=<root> point the platform at it.
"""

from __future__ import annotations

import random
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import yaml

from rcm.identifiers import make_npi
from rcm.onboarding.schema import AddressSpec, OnboardingDocument, load_onboarding_file
from rcm.payers import PayerConfig, load_payers
from sandbox.synthetic import SyntheticPractice, generate_practice, roster_csv

REPO_CONFIG = Path(__file__).resolve().parent.parent / "config"
# Patients per daily encounter: a panel from which each day's visitors are drawn (no one twice
# a day, so the duplicate-claim edit does not hold a large share of the claims).
PATIENTS_PER_ENCOUNTER = 2
MIN_PATIENTS = 40


@dataclass(frozen=True)
class WorkloadPaths:
    root: Path
    config_dir: Path
    sandbox_root: Path
    roster: Path
    practice_files: list[Path]
    inbox: Path


@dataclass
class Workload:
    seed: int
    service_date: date
    claims: int
    practices: list[SyntheticPractice]
    payers: Mapping[str, PayerConfig]
    encounters: dict[str, int] = field(default_factory=dict)

    def describe(self) -> dict[str, object]:
        kinds: dict[str, int] = {}
        for world in self.practices:
            kinds[world.specialty.name] = kinds.get(world.specialty.name, 0) + 1
        return {
            "practices": len(self.practices),
            "claims": self.claims,
            "patients": sum(len(w.patients) for w in self.practices),
            "specialties": kinds,
            "service_date": self.service_date.isoformat(),
            "seed": self.seed,
        }


def template_documents(config_dir: Path = REPO_CONFIG) -> list[OnboardingDocument]:
    """The example practices, in file-name order."""
    return [load_onboarding_file(p) for p in sorted((config_dir / "practices").glob("*.yaml"))]


def _npi(rng: random.Random, used: set[str], first: str) -> str:
    while True:
        npi = make_npi(first + f"{rng.randrange(10**8):08d}")
        if npi not in used:
            used.add(npi)
            return npi


def clone_document(
    template: OnboardingDocument, index: int, rng: random.Random, used_npis: set[str]
) -> OnboardingDocument:
    """Practice `index` shaped like `template`: same specialty, providers and enrollments, new
    identity (slug, NPIs, TIN, submitter account)."""
    billing = template.practice.billing_npi
    npis = {billing: _npi(rng, used_npis, billing[0])}
    for provider in template.providers:
        npis.setdefault(provider.npi, _npi(rng, used_npis, provider.npi[0]))
    slug = f"{template.practice.slug[:50]}-{index:03d}"
    practice = template.practice.model_copy(
        update={
            "slug": slug,
            "name": f"{template.practice.name} {index:03d}",
            "billing_npi": npis[billing],
            # Keep the template's EIN prefix: validation knows which ones the IRS assigns.
            "tin": f"{template.practice.tin[:2]}-{rng.randrange(10**7):07d}",
            "address": _zip_plus_four(template.practice.address, rng),
        }
    )
    account = "".join(part[0] for part in template.practice.slug.split("-")).upper()
    return template.model_copy(
        update={
            "practice": practice,
            "clearinghouse": template.clearinghouse.model_copy(
                update={"account": f"{account}{index:05d}"}
            ),
            "providers": [p.model_copy(update={"npi": npis[p.npi]}) for p in template.providers],
            "enrollments": [
                e.model_copy(
                    update={"provider_npi": npis[e.provider_npi] if e.provider_npi else None}
                )
                for e in template.enrollments
            ],
        }
    )


def _zip_plus_four(address: AddressSpec, rng: random.Random) -> AddressSpec:
    """The billing address with a ZIP+4: 837 loop 2010AA needs all nine digits, and a practice
    onboarded with five has every claim held by the scrubber (BILLING-ZIP9)."""
    digits = "".join(ch for ch in address.zip if ch.isdigit())
    if len(digits) == 9:
        return address
    return address.model_copy(update={"zip": f"{digits[:5]}-{rng.randrange(1, 10**4):04d}"})


def split(total: int, parts: int) -> list[int]:
    """`total` in `parts` near-equal whole shares, the larger ones first."""
    base, extra = divmod(total, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


def build_workload(
    practices: int,
    claims: int,
    *,
    seed: int = 20261122,
    service_date: date | None = None,
    config_dir: Path = REPO_CONFIG,
) -> Workload:
    """`practices` practices sharing `claims` claims (one encounter, one primary claim each)
    for one service date, everything decided by `seed`."""
    if practices < 1 or claims < practices:
        raise ValueError("need at least one practice and one claim per practice")
    day = service_date or date(2026, 11, 20)
    templates = template_documents(config_dir)
    payers = {p.key: p for p in load_payers(config_dir / "payers.yaml")}
    rng = random.Random(f"workload:{seed}")
    used: set[str] = {t.practice.billing_npi for t in templates} | {
        p.npi for t in templates for p in t.providers
    }
    worlds: list[SyntheticPractice] = []
    encounters: dict[str, int] = {}
    member_ids: set[str] = set()
    for index, count in enumerate(split(claims, practices)):
        doc = clone_document(templates[index % len(templates)], index + 1, rng, used)
        world = generate_practice(
            doc,
            payers,
            seed=seed,
            patients=max(MIN_PATIENTS, count * PATIENTS_PER_ENCOUNTER),
            today=day,
            member_ids=member_ids,
        )
        worlds.append(world)
        encounters[world.slug] = count
    return Workload(seed, day, claims, worlds, payers, encounters)


def _document_yaml(doc: OnboardingDocument) -> str:
    data = doc.model_dump(mode="json", exclude_none=True)
    return yaml.safe_dump(data, sort_keys=False)


def onboard_workload(workload: Workload, paths: WorkloadPaths, url: str) -> Any:
    """What a firm does before its first day: the database at `url` migrated, the payers
    loaded and every practice of `workload` onboarded. Returns the engine. Call it once the
    RCM_* settings point at `paths` (the domain reads them when first imported)."""
    from connectors.clearinghouse import list_profiles
    from connectors.db import make_engine, session_scope, upgrade
    from rcm.logging import configure_logging
    from rcm.onboarding.apply import apply_onboarding
    from rcm.payers import load_payers, sync_payers
    from rcm.settings import reset_settings_cache

    reset_settings_cache()
    configure_logging(level="WARNING", force=True)
    upgrade(url)
    engine = make_engine(url)
    payer_list = load_payers(paths.config_dir / "payers.yaml")
    with session_scope(engine) as session:
        sync_payers(session, payer_list)
    known = set(list_profiles())
    for world in workload.practices:
        with session_scope(engine) as session:
            apply_onboarding(
                session,
                world.doc,
                source_name=f"{world.slug}.yaml",
                payers=payer_list,
                known_clearinghouses=known,
            )
    return engine


def write_workload(
    workload: Workload, root: Path, *, appointments_per_day: int = 0
) -> WorkloadPaths:
    """Write the onboarding files, config, roster and the day's inbox CSVs under `root`.

    Appointments (for eligibility) cover the next business day: `appointments_per_day` per
    practice, or as many as the practice's daily claims when 0.
    """
    root.mkdir(parents=True, exist_ok=True)
    config_dir = root / "config"
    if config_dir.exists():
        shutil.rmtree(config_dir)
    shutil.copytree(REPO_CONFIG, config_dir, ignore=shutil.ignore_patterns("practices"))
    (config_dir / "practices").mkdir()
    files = []
    for world in workload.practices:
        path = config_dir / "practices" / f"{world.slug}.yaml"
        path.write_text(_document_yaml(world.doc), encoding="utf-8")
        files.append(path)
    sandbox_root = root / "sandbox"
    sandbox_root.mkdir(parents=True, exist_ok=True)
    roster = sandbox_root / "roster.csv"
    roster.write_bytes(roster_csv(m for w in workload.practices for m in w.roster_members()))
    inbox = root / "inbox"
    day = workload.service_date
    next_day = day + timedelta(days=1)
    while next_day.weekday() >= 5:
        next_day += timedelta(days=1)
    for world in workload.practices:
        encounters = workload.encounters[world.slug]
        folder = inbox / world.slug
        for kind in ("patients", "appointments", "charges"):
            (folder / kind).mkdir(parents=True, exist_ok=True)
        (folder / "patients" / "patients.csv").write_bytes(world.patients_csv())
        (folder / "appointments" / f"appointments-{next_day}.csv").write_bytes(
            world.appointments_csv(next_day, 1, appointments_per_day or encounters)
        )
        (folder / "charges" / f"charges-{day}.csv").write_bytes(
            world.charges_csv(day, encounters, distinct_patients=True)
        )
    return WorkloadPaths(root, config_dir, sandbox_root, roster, files, inbox)


__all__ = [
    "Workload",
    "WorkloadPaths",
    "build_workload",
    "clone_document",
    "split",
    "template_documents",
    "write_workload",
]
