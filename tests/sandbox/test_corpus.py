"""Real-world 837s and 270s from ../shared/x12-corpus: the sandbox answers every file it can
frame with a 999 (most published examples break some 5010 rule) and never crashes."""

from __future__ import annotations

import csv
from pathlib import Path

from sandbox.adjudicator import Adjudicator
from tests.sandbox.helpers import ACCOUNT, LATER, NOW, make_config, write_roster

SETS = {"837P", "837I", "270"}


def test_corpus_files_are_answered(x12_corpus: Path, tmp_path: Path) -> None:
    with open(x12_corpus / "MANIFEST.tsv", encoding="utf-8") as handle:
        rows = [
            r for r in csv.DictReader(handle, delimiter="\t")
            if r["transaction_set"] in SETS and r["version"].startswith("00501")
        ]  # fmt: skip
    assert rows
    root = tmp_path / "root"
    write_roster(root)
    adjudicator = Adjudicator(root, make_config(tmp_path), 1, clock=lambda: NOW)
    answered = 0
    for row in rows[:40]:
        data = (x12_corpus / row["saved_path"]).read_bytes()
        outcome = adjudicator.process(ACCOUNT, Path(row["saved_path"]).name, data)
        if outcome.kind != "unreadable" and not outcome.duplicate_file:
            assert outcome.files and outcome.files[0].parent.name == "999"
            answered += 1
    assert answered >= len(rows[:40]) // 2
    for path in adjudicator.run_cycle(LATER):
        assert path.parent.name == "835"
