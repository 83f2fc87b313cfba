"""The benchmark workload generator: deterministic, valid, and shaped like the examples."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from benchmarks.workload import build_workload, split, template_documents, write_workload
from rcm.identifiers import npi_problem
from rcm.onboarding.schema import load_onboarding_file
from rcm.onboarding.validate import validate_onboarding
from rcm.payers import load_payers


def _tree(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and "config" not in p.relative_to(root).parts[:1]
    }


def test_same_seed_same_files(tmp_path: Path) -> None:
    first = write_workload(build_workload(4, 30, seed=5), tmp_path / "a")
    second = write_workload(build_workload(4, 30, seed=5), tmp_path / "b")
    other = write_workload(build_workload(4, 30, seed=6), tmp_path / "c")

    assert _tree(first.root) == _tree(second.root)
    assert [p.read_bytes() for p in first.practice_files] == [
        p.read_bytes() for p in second.practice_files
    ]
    assert _tree(first.root) != _tree(other.root)


def test_practices_are_valid_new_copies_of_the_templates(tmp_path: Path) -> None:
    workload = build_workload(4, 30, seed=5)
    paths = write_workload(workload, tmp_path)
    templates = template_documents()
    payer_keys = {p.key for p in load_payers()}
    template_npis = {t.practice.billing_npi for t in templates}

    docs = [load_onboarding_file(p) for p in paths.practice_files]
    assert len({d.practice.slug for d in docs}) == 4
    assert len({d.practice.billing_npi for d in docs} | template_npis) == 4 + len(templates)
    for n, doc in enumerate(docs):
        template = templates[n % len(templates)]
        assert doc.practice.taxonomy_code == template.practice.taxonomy_code
        assert doc.practice.default_claim_type == template.practice.default_claim_type
        assert all(npi_problem(p.npi) is None for p in doc.providers)
        problems = validate_onboarding(
            doc,
            source_name=doc.practice.slug,
            known_payers=payer_keys,
            known_clearinghouses={"sandbox"},
            secret_resolves=None,
        )
        assert problems == []


def test_claims_are_shared_out_and_written_as_inbox_csvs(tmp_path: Path) -> None:
    assert split(10, 3) == [4, 3, 3]
    workload = build_workload(3, 31, seed=2)
    paths = write_workload(workload, tmp_path)

    encounters = 0
    claim_types = set()
    for world in workload.practices:
        charges = next((paths.inbox / world.slug / "charges").glob("*.csv"))
        rows = list(csv.DictReader(io.StringIO(charges.read_text())))
        encounters += len({r["encounter_id"] for r in rows})
        claim_types |= {r["claim_type"] for r in rows}
        assert (paths.inbox / world.slug / "patients" / "patients.csv").is_file()
        assert any((paths.inbox / world.slug / "appointments").glob("*.csv"))
    assert encounters == 31
    assert claim_types == {"professional", "institutional"}
    roster = paths.roster.read_text().splitlines()
    assert roster[0].startswith("member_id,payer_id")
    assert len(roster) > 1
    assert (paths.config_dir / "sandbox" / "payer_rules.yaml").is_file()
