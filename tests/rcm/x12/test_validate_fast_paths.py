"""pyx12 with rcm.x12.validate's fast paths gives exactly what stock pyx12 gives: the verdict,
the error tree, its own failures, the errors it logs and the 999 (but for its date and time),
over every X12 file of ../shared/x12-corpus and generated 837P files good and bad."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest
import pyx12.nodeCounter
import pyx12.segment
import pyx12.validation

from rcm.x12.validate import _decode, _run_pyx12, validate

# pyx12's 999 carries the time it was written and control numbers it picks: ISA09, ISA10,
# ISA13, GS04, GS05, GS06 and their echoes in GE02 and IEA02.
_VOLATILE = {"ISA": (9, 10, 13), "GS": (4, 5, 6), "GE": (2,), "IEA": (2,)}


def _masked(ack: str) -> str:
    out = []
    for segment in re.split(r"(~\s*)", ack):
        elements = segment.split("*")
        for position in _VOLATILE.get(elements[0], ()):
            if position < len(elements):
                elements[position] = "#"
        out.append("*".join(elements))
    return "".join(out)


def _both(text: str) -> None:
    stock = _run_pyx12(text, use_fast_paths=False)
    fast = _run_pyx12(text, use_fast_paths=True)
    assert fast[0] == stock[0]
    assert _masked(fast[1]) == _masked(stock[1])
    assert fast[2] == stock[2]
    assert fast[3] == stock[3]
    assert fast[4] == stock[4]


def _corpus_files(corpus: Path) -> list[Path]:
    with (corpus / "MANIFEST.tsv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    return [corpus / r["saved_path"] for r in rows if r["valid_or_invalid"] != "metadata"]


def test_the_corpus_both_ways(x12_corpus: Path) -> None:
    files = [p for p in _corpus_files(x12_corpus) if p.is_file()]
    assert files
    for path in files:
        _both(_decode(path.read_bytes()))


def _837(claims: int) -> bytes:
    from benchmarks.x12_bench import _837_bytes

    data = _837_bytes(claims)
    assert data is not None
    return data


@pytest.mark.parametrize(
    "damage",
    [
        None,
        (b"******CI~", b"******XX~"),  # bad code in every subscriber loop
        (b"~DMG*D8*19500101*M~", b"~DMG*D8*19500101\x07*M~"),  # a control character
        (b"~N3*1 ELM ST~", b"~N3*1 ELM ST\xc3\xa9~"),  # not printable ASCII, no control char
        (b"~LX*2~", b"~LX*2~LX*2~"),  # a repeated loop start: counters reset twice
        (b"~SV1*HC:36415*15*UN*1***1~", b"~SV1*HC:36415*15*UN*1*X**1~"),
    ],
)
def test_generated_837p_both_ways(damage: tuple[bytes, bytes] | None) -> None:
    data = _837(25)
    if damage is not None:
        assert damage[0] in data
        data = data.replace(damage[0], damage[1])
    _both(_decode(data))


def test_the_fast_paths_are_installed_only_during_a_run() -> None:
    stock = (
        pyx12.nodeCounter.NodeCounter.reset_to_node,
        pyx12.segment.Segment._parse_refdes,
        pyx12.validation.contains_control_character,
    )
    assert validate(_837(2)).valid
    assert (
        pyx12.nodeCounter.NodeCounter.reset_to_node,
        pyx12.segment.Segment._parse_refdes,
        pyx12.validation.contains_control_character,
    ) == stock
    assert stock[0].__module__ == "pyx12.nodeCounter"
