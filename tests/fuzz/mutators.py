"""Mutations that matter for X12, as pure functions of (bytes, random.Random).

Every mutator takes the input bytes and a `random.Random` and returns new bytes; the same input
and the same generator state give the same output, so a failure is reproduced from the seed
alone. Segment-aware mutators find the delimiters the way a reader does (from the ISA) and fall
back to ``*`` and ``~``, so they keep working on inputs an earlier mutation already broke.

The catalogue (`MUTATORS`) is what the in-suite Hypothesis test and the `make fuzz` runner draw
from: byte flips, deleting / duplicating / swapping / moving segments, truncation anywhere
(inside the ISA too), changed delimiters and ISA16, delimiters inside elements, garbage and
invalid UTF-8, huge and odd numbers, empty elements, wrong SE01/GE01/IEA01 counts, mismatched
control numbers, lower-case IDs, BOM and CR/LF noise, loops out of order (CLP before BPR, SVC
before CLP, PLB in the middle), deep HL chains and long runs of one segment.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

Mutator = Callable[[bytes, random.Random], bytes]

BOM = b"\xef\xbb\xbf"
# Bytes that are not valid UTF-8 on their own, truncated sequences, overlongs and surrogates.
INVALID_UTF8 = (
    b"\xff",
    b"\xfe",
    b"\xc3",
    b"\xe2\x82",
    b"\xed\xa0\x80",
    b"\xc0\xaf",
    b"\xf4\x90\x80\x80",
    b"\x80",
)
NON_ASCII = ("é", "ü", "\u00a0", "\u2028", "١٢", "１２", "\u0130", "ß", "\U0001f4b8", "\x00")
ODD_NUMBERS = (
    "9" * 40,
    "9" * 4400,
    "-" + "9" * 30,
    "1E999999",
    "1E-999999",
    "9E999999",
    "-9E999999",
    "9.99E+999999",
    "1e5",
    "-0",
    "+5",
    ".",
    "-",
    "1.2.3",
    "NaN",
    "sNaN",
    "Infinity",
    "-Inf",
    " 12 ",
    "1_000",
    "١٢",
    "１２",
    "0x1F",
    "12-",
    "99999999999999999999.999999999999",
    "0.0000000000000000000000001",
)
ODD_DATES = ("20261301", "20260230", "00000000", "2026010", "202601011", "ABCDEFGH", "99991231")
# "١" and "１" are digits int() reads; "²" and "1³" are str.isdigit() but not int()-able.
ODD_COUNTS = (
    "0", "-1", "", "A", "999999999999999999999", " 1", "1 ", "01", "+2", "1.0", "١", "１",
    "²", "1³", "1" + "0" * 4400,
)  # fmt: skip
DELIMITER_CHOICES = "*|^:~!\\>+,{}\n\r\t ?&%#@A1\x1c\x1d\x1e\x1f"
NOISE = (b"\r", b"\n", b"\r\n", b"\n\n", b" ", b"\t", b"\x00", b"\x1a")


@dataclass(frozen=True)
class Layout:
    """Delimiters as a reader would find them, with the bytes split into segments."""

    element: bytes
    component: bytes
    terminator: bytes
    segments: list[bytes]


def find_layout(data: bytes) -> Layout:
    text = data.lstrip(BOM).lstrip()
    element, component, terminator = b"*", b":", b"~"
    if text.startswith(b"ISA") and len(text) > 4:
        element = text[3:4]
        position = 3
        for _ in range(15):
            position = text.find(element, position + 1)
            if position < 0:
                break
        if position >= 0 and len(text) > position + 2:
            component = text[position + 1 : position + 2]
            terminator = text[position + 2 : position + 3]
    if terminator in (b"", b" ") or terminator.isalnum() or terminator == element:
        terminator = b"~"
    segments = data.split(terminator)
    return Layout(element, component, terminator, segments)


def _join(layout: Layout, segments: list[bytes]) -> bytes:
    return layout.terminator.join(segments)


def _body_indexes(segments: list[bytes]) -> list[int]:
    """Indexes of real segments (not the empty tail after the last terminator)."""
    return [i for i, s in enumerate(segments) if s.strip()]


def _seg_id(seg: bytes, element: bytes) -> bytes:
    return seg.strip().split(element, 1)[0].upper()


def _indexes_of(layout: Layout, *ids: bytes) -> list[int]:
    return [i for i, s in enumerate(layout.segments) if _seg_id(s, layout.element) in ids]


def _replace_element(
    data: bytes, rng: random.Random, value: Callable[[bytes, random.Random], bytes]
) -> bytes:
    layout = find_layout(data)
    body = _body_indexes(layout.segments)
    if not body:
        return data
    i = rng.choice(body)
    parts = layout.segments[i].split(layout.element)
    if len(parts) < 2:
        parts.append(b"")
    j = rng.randrange(1, len(parts))
    parts[j] = value(parts[j], rng)
    segments = list(layout.segments)
    segments[i] = layout.element.join(parts)
    return _join(layout, segments)


def _set_element(data: bytes, ids: tuple[bytes, ...], index: int, value: bytes) -> bytes:
    """Element `index` of every segment with one of `ids` set to `value` (padded as needed)."""
    layout = find_layout(data)
    segments = list(layout.segments)
    for i in _indexes_of(layout, *ids):
        parts = segments[i].split(layout.element)
        while len(parts) <= index:
            parts.append(b"")
        parts[index] = value
        segments[i] = layout.element.join(parts)
    return _join(layout, segments)


# --- byte level -------------------------------------------------------------------------------


def flip_byte(data: bytes, rng: random.Random) -> bytes:
    if not data:
        return bytes([rng.randrange(256)])
    out = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        i = rng.randrange(len(out))
        out[i] = out[i] ^ (1 << rng.randrange(8)) if rng.random() < 0.7 else rng.randrange(256)
    return bytes(out)


def truncate(data: bytes, rng: random.Random) -> bytes:
    return data[: rng.randint(0, len(data))] if data else data


def truncate_in_isa(data: bytes, rng: random.Random) -> bytes:
    return data[: rng.randint(0, min(len(data), 110))]


def insert_garbage(data: bytes, rng: random.Random) -> bytes:
    i = rng.randint(0, len(data))
    kind = rng.randrange(4)
    if kind == 0:
        junk = bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
    elif kind == 1:
        junk = rng.choice(INVALID_UTF8)
    elif kind == 2:
        junk = rng.choice(NON_ASCII).encode("utf-8")
    else:
        junk = rng.choice(NON_ASCII).encode("latin-1", errors="replace")
    return data[:i] + junk + data[i:]


def delete_bytes(data: bytes, rng: random.Random) -> bytes:
    if not data:
        return data
    i = rng.randrange(len(data))
    return data[:i] + data[i + rng.randint(1, 32) :]


def add_bom(data: bytes, rng: random.Random) -> bytes:
    return BOM + data if rng.random() < 0.8 else BOM + BOM + data


def crlf_noise(data: bytes, rng: random.Random) -> bytes:
    layout = find_layout(data)
    if rng.random() < 0.5:
        # After every terminator (a common "pretty" layout), maybe mixed.
        noise = rng.choice(NOISE[:4])
        return (layout.terminator + noise).join(layout.segments)
    out = data
    for _ in range(rng.randint(1, 5)):
        i = rng.randint(0, len(out))
        out = out[:i] + rng.choice(NOISE) + out[i:]
    return out


def leading_noise(data: bytes, rng: random.Random) -> bytes:
    return rng.choice((b"\r\n", b"   ", b"\n\n\t", b"\x00", b"GARBAGE", BOM + b"\r\n")) + data


# --- segments ---------------------------------------------------------------------------------


def delete_segment(data: bytes, rng: random.Random) -> bytes:
    layout = find_layout(data)
    body = _body_indexes(layout.segments)
    if not body:
        return data
    segments = list(layout.segments)
    del segments[rng.choice(body)]
    return _join(layout, segments)


def duplicate_segment(data: bytes, rng: random.Random) -> bytes:
    layout = find_layout(data)
    body = _body_indexes(layout.segments)
    if not body:
        return data
    segments = list(layout.segments)
    i = rng.choice(body)
    for _ in range(rng.choice((1, 1, 2, 5))):
        segments.insert(i, segments[i])
    return _join(layout, segments)


def swap_segments(data: bytes, rng: random.Random) -> bytes:
    layout = find_layout(data)
    body = _body_indexes(layout.segments)
    if len(body) < 2:
        return data
    a, b = rng.sample(body, 2)
    segments = list(layout.segments)
    segments[a], segments[b] = segments[b], segments[a]
    return _join(layout, segments)


def move_segment(data: bytes, rng: random.Random) -> bytes:
    layout = find_layout(data)
    body = _body_indexes(layout.segments)
    if len(body) < 2:
        return data
    segments = list(layout.segments)
    seg = segments.pop(rng.choice(body))
    segments.insert(rng.choice(_body_indexes(segments) or [0]), seg)
    return _join(layout, segments)


def _move_before(data: bytes, rng: random.Random, moved: bytes, anchor: tuple[bytes, ...]) -> bytes:
    layout = find_layout(data)
    sources = _indexes_of(layout, moved)
    if not sources:
        return data
    segments = list(layout.segments)
    seg = segments.pop(rng.choice(sources))
    targets = [
        i for i, s in enumerate(segments) if _seg_id(s, layout.element) in anchor
    ] or _body_indexes(segments)
    segments.insert(rng.choice(targets) if targets else 0, seg)
    return _join(layout, segments)


def loops_out_of_order(data: bytes, rng: random.Random) -> bytes:
    """CLP before BPR, SVC before CLP, PLB in the middle, HL/NM1/STC/IK3/AK2 moved ahead."""
    choice = rng.randrange(8)
    if choice == 0:
        return _move_before(data, rng, b"CLP", (b"BPR", b"TRN", b"N1"))
    if choice == 1:
        return _move_before(data, rng, b"SVC", (b"CLP",))
    if choice == 2:
        return _move_before(data, rng, b"PLB", (b"CLP", b"SVC", b"CAS", b"LX"))
    if choice == 3:
        return _move_before(data, rng, b"LX", (b"BPR", b"TRN", b"CLP"))
    if choice == 4:
        return _move_before(data, rng, b"HL", (b"ST", b"BHT", b"HL"))
    if choice == 5:
        return _move_before(data, rng, b"IK4", (b"IK3", b"AK2", b"AK1"))
    if choice == 6:
        return _move_before(data, rng, b"STC", (b"HL", b"TRN", b"BHT"))
    return _move_before(data, rng, b"SE", (b"ST", b"BPR", b"CLP", b"HL"))


def repeat_segment(data: bytes, rng: random.Random) -> bytes:
    """A long run of one segment (hundreds to a few thousand copies)."""
    layout = find_layout(data)
    body = _body_indexes(layout.segments)
    if not body:
        return data
    segments = list(layout.segments)
    i = rng.choice(body)
    segments[i:i] = [segments[i]] * rng.choice((200, 1000, 3000))
    return _join(layout, segments)


def deep_hl_chain(data: bytes, rng: random.Random) -> bytes:
    """Thousands of HL segments, each the child of the one before, just before the first SE."""
    layout = find_layout(data)
    ses = _indexes_of(layout, b"SE")
    segments = list(layout.segments)
    at = ses[0] if ses else len(_body_indexes(segments))
    depth = rng.choice((50, 1500, 5000))
    e = layout.element
    start = rng.randint(1, 9)
    level = rng.choice((b"20", b"21", b"22", b"23", b"19", b"PT"))
    chain = [
        e.join((b"HL", str(start + k).encode(), str(start + k - 1).encode() if k else b"", level))
        for k in range(depth)
    ]
    segments[at:at] = chain
    return _join(layout, segments)


def lowercase_ids(data: bytes, rng: random.Random) -> bytes:
    layout = find_layout(data)
    segments = list(layout.segments)
    body = _body_indexes(segments)
    if not body:
        return data
    picks = body if rng.random() < 0.3 else rng.sample(body, min(len(body), rng.randint(1, 3)))
    for i in picks:
        seg = segments[i]
        head, sep, rest = seg.partition(layout.element)
        segments[i] = head.lower() + sep + (rest.lower() if rng.random() < 0.3 else rest)
    return _join(layout, segments)


# --- elements ---------------------------------------------------------------------------------


def empty_element(data: bytes, rng: random.Random) -> bytes:
    return _replace_element(data, rng, lambda _old, _r: b"")


def huge_number(data: bytes, rng: random.Random) -> bytes:
    """A numeric element replaced by a huge, tiny or malformed number; sometimes several
    elements get the same value (two huge amounts overflow a sum)."""
    layout = find_layout(data)

    def numeric(p: bytes) -> bool:
        return p.replace(b".", b"").lstrip(b"-").isdigit()

    spots = [
        (i, j)
        for i, s in enumerate(layout.segments)
        for j, p in enumerate(s.split(layout.element))
        if j and numeric(p)
    ]
    if not spots:
        return _replace_element(data, rng, lambda _o, r: r.choice(ODD_NUMBERS).encode())
    value = rng.choice(ODD_NUMBERS).encode("utf-8")
    chosen = rng.sample(spots, min(len(spots), rng.choice((1, 1, 1, 2, 3, 6))))
    segments = list(layout.segments)
    for i, j in chosen:
        parts = segments[i].split(layout.element)
        parts[j] = value
        segments[i] = layout.element.join(parts)
    return _join(layout, segments)


def odd_date(data: bytes, rng: random.Random) -> bytes:
    layout = find_layout(data)
    dated = [
        (i, j)
        for i, s in enumerate(layout.segments)
        for j, p in enumerate(s.split(layout.element))
        if j and len(p) == 8 and p.isdigit() and p[:2] in (b"19", b"20")
    ]
    if not dated:
        return data
    i, j = rng.choice(dated)
    parts = layout.segments[i].split(layout.element)
    parts[j] = rng.choice(ODD_DATES).encode()
    segments = list(layout.segments)
    segments[i] = layout.element.join(parts)
    return _join(layout, segments)


ODD_PERIODS = (
    "20260101-",
    "-20260101",
    "20261301-20260101",
    "20260102-20260101",
    "2026010120260101",
    "20260101-20260101-20260101",
    "-",
    "20260101--20260102",
)


def odd_period(data: bytes, rng: random.Random) -> bytes:
    """A CCYYMMDD-CCYYMMDD range (RD8) or a date qualifier replaced by something odd."""
    layout = find_layout(data)
    spots = [
        (i, j)
        for i, s in enumerate(layout.segments)
        for j, p in enumerate(s.split(layout.element))
        if j and ((p[:1].isdigit() and b"-" in p) or p in (b"D8", b"RD8", b"DT"))
    ]
    if not spots:
        return odd_date(data, rng)
    i, j = rng.choice(spots)
    parts = layout.segments[i].split(layout.element)
    if parts[j] in (b"D8", b"RD8", b"DT"):
        parts[j] = rng.choice((b"RD8", b"D8", b"DT", b"TM", b"", b"XX"))
    else:
        parts[j] = rng.choice(ODD_PERIODS).encode()
    segments = list(layout.segments)
    segments[i] = layout.element.join(parts)
    return _join(layout, segments)


def hl_tangle(data: bytes, rng: random.Random) -> bytes:
    """HL IDs and parents made inconsistent: a parent that does not exist or comes later, a
    segment its own parent, duplicated IDs, odd level codes or child flags."""
    layout = find_layout(data)
    hls = _indexes_of(layout, b"HL")
    if not hls:
        return data
    segments = list(layout.segments)
    i = rng.choice(hls)
    parts = segments[i].split(layout.element)
    while len(parts) < 5:
        parts.append(b"")
    choice = rng.randrange(6)
    if choice == 0:
        parts[2] = b"999"
    elif choice == 1:
        parts[2] = parts[1]
    elif choice == 2:
        other = segments[rng.choice(hls)].split(layout.element)
        parts[1] = other[1] if len(other) > 1 else b"1"
    elif choice == 3:
        parts[3] = rng.choice((b"", b"99", b"pt", b"20", b"22", b"23", b"PT", b"19"))
    elif choice == 4:
        parts[4] = rng.choice((b"", b"2", b"X", b"1", b"0"))
    else:
        parts[2] = b"" if parts[2] else b"1"
    segments[i] = layout.element.join(parts)
    return _join(layout, segments)


def delimiter_in_element(data: bytes, rng: random.Random) -> bytes:
    layout = find_layout(data)
    chars = (layout.element, layout.component, layout.terminator, b"^", b"\n", b"*", b":", b"~")

    def inject(old: bytes, r: random.Random) -> bytes:
        k = r.randint(0, len(old))
        return old[:k] + r.choice(chars) + old[k:]

    return _replace_element(data, rng, inject)


def garbage_element(data: bytes, rng: random.Random) -> bytes:
    def junk(_old: bytes, r: random.Random) -> bytes:
        kind = r.randrange(3)
        if kind == 0:
            return r.choice(INVALID_UTF8) * r.randint(1, 3)
        if kind == 1:
            return r.choice(NON_ASCII).encode("utf-8")
        return b"X" * r.choice((1, 80, 5000))

    return _replace_element(data, rng, junk)


def extra_elements(data: bytes, rng: random.Random) -> bytes:
    return _replace_element(
        data, rng, lambda old, r: old + r.choice((b"*", b"**", b"*X" * 30, b"::", b"^^"))
    )


def composite_noise(data: bytes, rng: random.Random) -> bytes:
    layout = find_layout(data)
    c = layout.component
    return _replace_element(
        data,
        rng,
        lambda old, r: r.choice((c, c * 8, old + c, c + old, b"HC" + c, old.replace(c, b""))),
    )


# --- envelope ---------------------------------------------------------------------------------


def wrong_count(data: bytes, rng: random.Random) -> bytes:
    target = rng.choice(((b"SE",), (b"GE",), (b"IEA",)))
    return _set_element(data, target, 1, rng.choice(ODD_COUNTS).encode("utf-8"))


def mismatched_control(data: bytes, rng: random.Random) -> bytes:
    target = rng.choice(((b"SE",), (b"GE",), (b"IEA",), (b"ST",), (b"GS",)))
    index = 6 if target == (b"GS",) else 2
    value = rng.choice((b"0", b"999999999", b"", b"ABC", b"00000000000000000001", b" 1"))
    return _set_element(data, target, index, value)


def isa_field(data: bytes, rng: random.Random) -> bytes:
    """One ISA element changed: padding lost, wrong width, odd ISA11/ISA12/ISA13/ISA16."""
    layout = find_layout(data)
    segments = list(layout.segments)
    isa = _indexes_of(layout, b"ISA")
    if not isa:
        return data
    i = isa[0]
    parts = segments[i].split(layout.element)
    if len(parts) < 17:
        return data
    j = rng.randrange(1, 17)
    choice = rng.randrange(4)
    if choice == 0:
        parts[j] = parts[j].strip()
    elif choice == 1:
        parts[j] = parts[j] + b"  "
    elif choice == 2:
        parts[j] = b""
    else:
        parts[j] = rng.choice(DELIMITER_CHOICES).encode("latin-1")
    segments[i] = layout.element.join(parts)
    return _join(layout, segments)


def change_isa16(data: bytes, rng: random.Random) -> bytes:
    """ISA16 (the component separator) replaced, without changing the composites that use it."""
    layout = find_layout(data)
    isa = _indexes_of(layout, b"ISA")
    if not isa:
        return data
    segments = list(layout.segments)
    parts = segments[isa[0]].split(layout.element)
    if len(parts) < 17:
        return data
    parts[16] = rng.choice(DELIMITER_CHOICES + "U").encode("latin-1")
    if rng.random() < 0.2:
        parts[16] = b""
    segments[isa[0]] = layout.element.join(parts)
    return _join(layout, segments)


def change_delimiters(data: bytes, rng: random.Random) -> bytes:
    """The whole file rewritten with another element separator, terminator or component
    separator (sometimes one that occurs in the data, or equals another delimiter)."""
    layout = find_layout(data)
    which = rng.randrange(3)
    new = rng.choice(DELIMITER_CHOICES).encode("latin-1")
    old = (layout.element, layout.terminator, layout.component)[which]
    if not old:
        return data
    return data.replace(old, new)


def split_isa_lines(data: bytes, rng: random.Random) -> bytes:
    """A line break or space inside the fixed-width ISA."""
    i = rng.randint(4, min(len(data), 106)) if len(data) > 4 else 0
    return data[:i] + rng.choice((b"\n", b"\r\n", b" ")) + data[i:]


def second_interchange(data: bytes, rng: random.Random) -> bytes:
    """The file twice (several ISAs), or a nested ISA/GS before the previous IEA/GE."""
    if rng.random() < 0.5:
        return data + data
    half = len(data) // 2
    return data[:half] + data + data[half:]


def cross_splice(data: bytes, rng: random.Random) -> bytes:
    """A run of this file's segments pasted somewhere else in it."""
    layout = find_layout(data)
    body = _body_indexes(layout.segments)
    if len(body) < 3:
        return data
    a = rng.choice(body)
    b = min(len(layout.segments), a + rng.randint(1, 12))
    run = layout.segments[a:b]
    segments = list(layout.segments)
    at = rng.choice(body)
    segments[at:at] = run
    return _join(layout, segments)


MUTATORS: dict[str, Mutator] = {
    "flip_byte": flip_byte,
    "truncate": truncate,
    "truncate_in_isa": truncate_in_isa,
    "insert_garbage": insert_garbage,
    "delete_bytes": delete_bytes,
    "add_bom": add_bom,
    "crlf_noise": crlf_noise,
    "leading_noise": leading_noise,
    "delete_segment": delete_segment,
    "duplicate_segment": duplicate_segment,
    "swap_segments": swap_segments,
    "move_segment": move_segment,
    "loops_out_of_order": loops_out_of_order,
    "repeat_segment": repeat_segment,
    "deep_hl_chain": deep_hl_chain,
    "lowercase_ids": lowercase_ids,
    "empty_element": empty_element,
    "huge_number": huge_number,
    "odd_date": odd_date,
    "odd_period": odd_period,
    "hl_tangle": hl_tangle,
    "delimiter_in_element": delimiter_in_element,
    "garbage_element": garbage_element,
    "extra_elements": extra_elements,
    "composite_noise": composite_noise,
    "wrong_count": wrong_count,
    "mismatched_control": mismatched_control,
    "isa_field": isa_field,
    "change_isa16": change_isa16,
    "change_delimiters": change_delimiters,
    "split_isa_lines": split_isa_lines,
    "second_interchange": second_interchange,
    "cross_splice": cross_splice,
}
MUTATOR_NAMES: tuple[str, ...] = tuple(MUTATORS)
# Mutators that make inputs large: drawn less often so throughput stays high.
HEAVY = frozenset({"repeat_segment", "deep_hl_chain", "second_interchange"})


def apply(data: bytes, steps: list[tuple[str, int]]) -> bytes:
    """`steps` is a list of (mutator name, seed); each mutator gets its own seeded generator."""
    for name, seed in steps:
        data = MUTATORS[name](data, random.Random(seed))
    return data


def random_steps(rng: random.Random, *, max_steps: int = 4) -> list[tuple[str, int]]:
    steps = []
    for _ in range(rng.choice((1, 1, 1, 2, 2, 3, max_steps))):
        name = rng.choice(MUTATOR_NAMES)
        if name in HEAVY and rng.random() < 0.7:
            name = rng.choice(MUTATOR_NAMES)
        steps.append((name, rng.randrange(1 << 32)))
    return steps
