"""The conformance gate: the only module that imports pyx12.

`validate(data)` always runs our own structural checks (envelope counts and control numbers,
delimiters, the typed parser of each transaction set we support). When pyx12 has a map for every
functional group of the file it then runs pyx12 against the implementation guide and returns its
errors and the 999 it wrote; otherwise the report says which structural checks ran instead.

pyx12 sometimes fails inside its own code on a file that is fine (its 999 writer raises when ST03
is absent, for example). Such a failure is reported as `validator_failure`, never counted as an
error of the file, and the 999 is then built by `rcm.x12.x999` from pyx12's error tree.

Messages name positions, element references and codes. pyx12 puts the offending value in many of
its messages; those values are cut out here, and pyx12's own logger is kept out of ours, because
the values are patient data.

The module keeps no state between calls except parsed pyx12 maps, so it is safe to call from a
process pool; each worker loads a map once.
"""

from __future__ import annotations

import functools
import inspect
import io
import json
import logging
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import pyx12.errors
import pyx12.map_if
import pyx12.map_index
import pyx12.nodeCounter
import pyx12.params
import pyx12.path
import pyx12.segment
import pyx12.validation
import pyx12.x12n_document

from rcm.errors import X12Error, X12SyntaxError, X12ValidationError
from rcm.x12.core import (
    EnvelopeIssue,
    InterchangeEnvelope,
    Source,
    decode_x12,
    iter_segments,
    read_transactions,
)

# pyx12 keeps module state (the map loader patched below, its loggers): one run at a time per
# process. Batching gets parallelism from a process pool instead.
_PYX12_LOCK = threading.Lock()
# pyx12 logs the values it finds wrong (patient data); its records never reach our handlers.
_log_guard = logging.getLogger("pyx12")
_log_guard.propagate = False
_log_guard.addHandler(logging.NullHandler())

Level = Literal["interchange", "group", "transaction", "segment", "element", "file"]


@dataclass(frozen=True, slots=True)
class ValidationIssue:
    """One problem with the file. `segment_number` counts segments from the ISA (1); `offset`
    is the character offset of that segment; `element` is like ``BPR10`` or ``SVC01-2``."""

    level: Level
    code: str
    message: str
    segment_number: int | None = None
    offset: int | None = None
    segment_id: str | None = None
    element: str | None = None
    transaction_control_number: str | None = None
    source: Literal["pyx12", "rcm"] = "pyx12"

    def describe(self) -> str:
        where = []
        if self.segment_number is not None:
            seg = f"segment {self.segment_number}"
            if self.segment_id:
                seg += f" ({self.segment_id})"
            where.append(seg)
        if self.offset is not None:
            where.append(f"offset {self.offset}")
        if self.element:
            where.append(f"element {self.element}")
        loc = f"[{', '.join(where)}] " if where else ""
        return f"{loc}{self.level} error {self.code}: {self.message}"


@dataclass(frozen=True, slots=True)
class GroupInfo:
    functional_id: str
    version: str
    transaction_sets: tuple[str, ...]
    pyx12_map: str | None


@dataclass(slots=True)
class ValidationReport:
    file_name: str | None
    valid: bool
    errors: list[ValidationIssue] = field(default_factory=list)
    ack_999: bytes | None = None
    ack_source: Literal["pyx12", "rcm"] | None = None
    validator: Literal["pyx12", "structural"] = "structural"
    checks: list[str] = field(default_factory=list)
    groups: list[GroupInfo] = field(default_factory=list)
    validator_failure: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def error_count(self) -> int:
        return len(self.errors)

    def raise_for_errors(self) -> None:
        if self.errors:
            raise X12ValidationFailed(self)


class X12ValidationFailed(X12ValidationError):
    """Raised by `ValidationReport.raise_for_errors`; carries the report."""

    def __init__(self, report: ValidationReport) -> None:
        self.report = report
        first = report.errors[0].describe() if report.errors else ""
        name = report.file_name or "file"
        super().__init__(f"{name} has {report.error_count} X12 error(s); first: {first}")


# ---------------------------------------------------------------------------------------------
# pyx12 plumbing
# ---------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def _params() -> pyx12.params.ParamsBase:
    return pyx12.params.params()


@functools.lru_cache(maxsize=1)
def _map_index() -> Any:
    return pyx12.map_index.map_index()


_original_load_map_file = pyx12.map_if.load_map_file


@functools.lru_cache(maxsize=32)
def _cached_map(map_file: str, map_path: str | None) -> Any:
    return _original_load_map_file(map_file, _params(), map_path)


def _load_map_file(map_file: str, param: Any, map_path: str | None = None) -> Any:
    # Parsing a guide's XML map costs more than validating a typical batch; pyx12 keeps its walk
    # state in the walker and error handler, not in the map, so one parsed map per process is
    # reused (the test suite checks cached and fresh maps give the same errors on the corpus).
    return _cached_map(map_file, map_path)


def map_for(icvn: str, version: str, functional_id: str) -> str | None:
    """pyx12's map file for a functional group, or None when pyx12 cannot check it (837P
    005010X222A2, 837I 005010X223A3, 270/271 X279A1 and 276/277 X212 are not in its index)."""
    name = _map_index().get_filename(icvn, version, functional_id)
    if name is None or name.startswith("x12.control"):
        return None
    return str(name)


def _pyx12_loggers() -> list[logging.Logger]:
    """pyx12's loggers, each kept from propagating to ours (their messages carry patient
    values); some test and logging setups re-parent child loggers, so each is set, not only
    the "pyx12" parent."""
    names = [n for n in logging.root.manager.loggerDict if n == "pyx12" or n.startswith("pyx12.")]
    loggers = [logging.getLogger(n) for n in names]
    for logger in loggers:
        logger.propagate = False
    return loggers


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.failures: list[str] = []
        self.file_errors: list[tuple[int, str, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.name == "pyx12.error_handler":
            # Errors pyx12 finds but keeps out of its error tree (ST/SE element errors).
            found = _HANDLER_LINE.match(record.getMessage())
            if found:
                self.file_errors.append((int(found[1]), found[2], found[3]))
            return
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            self.failures.append(
                _redact(f"{record.getMessage()}: {type(exc).__name__}: {exc}", None)
            )
        elif record.name == "pyx12" and "callback" not in record.getMessage():
            self.failures.append(_redact(record.getMessage(), None))


_HANDLER_LINE = re.compile(r"Line:(\d+) (SEG|ELE|ST|GS|ISA):\S* - (.*)", re.DOTALL)
_ELEMENT_REF = re.compile(r"\(([A-Z][A-Z0-9]{1,2}\d{2})\)")
_QUOTED = re.compile(r'len\("[^"]*"\)')
_SEG_DATA = re.compile(r"Segment (\w{2,3})[^\w\s].*?( not found\.| found but)")
_STREAM_REPR = re.compile(r'"?<_io\.\w+ object at 0x[0-9a-f]+>"?')


def _redact(message: str, value: Any) -> str:
    """pyx12's message without the received value (patient data)."""
    text = _STREAM_REPR.sub("the file", message)
    text = _QUOTED.sub('len("...")', text)
    text = _SEG_DATA.sub(r"Segment \1\2", text)
    if isinstance(value, str) and value:
        for wrapped in (f'"{value}"', f"({value})", f"'{value}'"):
            text = text.replace(wrapped, wrapped[0] + "..." + wrapped[-1])
        if len(value) >= 4:
            text = text.replace(value, "...")
    return text


# pyx12 fast paths. Three of pyx12's hot spots redo the same work on every call; profiling
# `validate()` on a 1,000-claim 837P put them at about a quarter of pyx12's time:
# NodeCounter.reset_to_node re-formats and re-splits its own path once per counter key,
# Segment._parse_refdes parses the same reference designators ("CLM01", "SV101-2") with a regex
# for every element read, and validation.contains_control_character builds two dictionaries
# with 23 chr() calls for every element value. The replacements return exactly what the
# originals return (a path is a child exactly when its text starts with the parent's text and a
# "/"; a value with no non-printable character has no control character); the test suite runs
# the X12 corpus both ways. Like the map cache they are installed only while our own run holds
# _PYX12_LOCK.

_original_reset_to_node = pyx12.nodeCounter.NodeCounter.reset_to_node
_original_parse_refdes = pyx12.segment.Segment._parse_refdes
_original_contains_control_character = pyx12.validation.contains_control_character


def _reset_to_node(self: Any, xpath: Any) -> None:
    prefix = pyx12.nodeCounter.NodeCounter.makeX12Path(xpath).format() + "/"
    for key in [k for k in self._dict if k.format().startswith(prefix)]:
        del self._dict[key]


_REFDES: dict[str, tuple[str | None, int | None, int | None]] = {}


def _parse_refdes(self: Any, ref_des: str) -> tuple[int | None, int | None]:
    parsed = _REFDES.get(ref_des)
    if parsed is None:
        path = pyx12.path.X12Path(ref_des)
        parsed = (
            path.seg_id,
            path.ele_idx - 1 if path.ele_idx is not None else None,
            path.subele_idx - 1 if path.subele_idx is not None else None,
        )
        if len(_REFDES) < 4096:
            _REFDES[ref_des] = parsed
    seg_id, ele_idx, comp_idx = parsed
    if seg_id is not None and seg_id != self.seg_id:
        raise pyx12.errors.EngineError(
            "Invalid Reference Designator: %s, seg_id: %s" % (ref_des, self.seg_id)  # noqa: UP031
        )
    return (ele_idx, comp_idx)


def _contains_control_character(
    str_val: str, charset: str = "B", icvn: str = "00401"
) -> tuple[bool, str | None]:
    if isinstance(str_val, str) and str_val.isprintable():
        return (False, None)
    return _original_contains_control_character(str_val, charset, icvn)  # type: ignore[no-any-return]


def _install_fast_paths() -> None:
    pyx12.nodeCounter.NodeCounter.reset_to_node = _reset_to_node  # type: ignore[method-assign]
    pyx12.segment.Segment._parse_refdes = _parse_refdes  # type: ignore[method-assign]
    pyx12.validation.contains_control_character = _contains_control_character


def _remove_fast_paths() -> None:
    pyx12.nodeCounter.NodeCounter.reset_to_node = _original_reset_to_node  # type: ignore[method-assign]
    pyx12.segment.Segment._parse_refdes = _original_parse_refdes  # type: ignore[method-assign]
    pyx12.validation.contains_control_character = _original_contains_control_character


def _run_pyx12(
    text: str, *, use_cached_maps: bool = True, use_fast_paths: bool = True
) -> tuple[bool, str, dict[str, Any], list[str], list[tuple[int, str, str]]]:
    """pyx12 over `text`: its verdict, its 999 text, its error tree, its own failures, and the
    errors it logged (segment number, kind, message)."""
    capture = _Capture()
    ack = io.StringIO()
    tree = io.StringIO()
    with _PYX12_LOCK:
        loggers = _pyx12_loggers()
        for logger in loggers:
            logger.addHandler(capture)
        if use_cached_maps:
            pyx12.map_if.load_map_file = _load_map_file  # type: ignore[assignment]
        if use_fast_paths:
            _install_fast_paths()
        try:
            ok = pyx12.x12n_document.x12n_document(
                _params(), io.StringIO(text), ack, None, None, tree
            )
        except Exception as exc:
            capture.failures.append(f"pyx12 raised {type(exc).__name__}: {exc}")
            ok = False
        finally:
            pyx12.map_if.load_map_file = _original_load_map_file
            _remove_fast_paths()
            for logger in loggers:
                logger.removeHandler(capture)
    try:
        doc = json.loads(tree.getvalue()) if tree.getvalue() else {}
    except ValueError:
        doc = {}
        capture.failures.append("pyx12 wrote an unreadable error tree")
    return bool(ok), ack.getvalue(), doc, capture.failures, capture.file_errors


def _element_name(seg_id: str, ele: dict[str, Any]) -> str:
    name = f"{seg_id}{int(ele['ele_pos']):02d}" if ele.get("ele_pos") else seg_id
    if ele.get("subele_pos"):
        name += f"-{ele['subele_pos']}"
    return name


def _tree_errors(doc: dict[str, Any]) -> Iterator[ValidationIssue]:
    for isa in doc.get("interchanges", []):
        for e in isa.get("errors", []):
            yield ValidationIssue(
                "interchange",
                str(e["err_cde"]),
                _redact(e["err_str"], None),
                segment_id="ISA",
            )
        for gs in isa.get("groups", []):
            for e in gs.get("errors", []):
                yield ValidationIssue(
                    "group",
                    str(e["err_cde"]),
                    _redact(e["err_str"], None),
                    segment_number=gs.get("cur_line"),
                    segment_id="GE",
                )
            for st in gs.get("transactions", []):
                control = st.get("trn_set_control_num")
                for e in st.get("errors", []):
                    yield ValidationIssue(
                        "transaction",
                        str(e["err_cde"]),
                        _redact(e["err_str"], None),
                        segment_number=st.get("cur_line"),
                        segment_id="SE",
                        transaction_control_number=control,
                    )
                for seg in st.get("segments", []):
                    seg_id = seg.get("seg_id")
                    line = seg.get("cur_line")
                    for e in seg.get("errors", []):
                        yield ValidationIssue(
                            "segment",
                            str(e["err_cde"]),
                            _redact(e["err_str"], e.get("err_val")),
                            segment_number=line,
                            segment_id=seg_id,
                            transaction_control_number=control,
                        )
                    for ele in seg.get("elements", []):
                        for e in ele.get("errors", []):
                            yield ValidationIssue(
                                "element",
                                str(e["err_cde"]),
                                _redact(e["err_str"], e.get("err_val")),
                                segment_number=line,
                                segment_id=seg_id,
                                element=_element_name(seg_id or "", ele),
                                transaction_control_number=control,
                            )


# IK304 and IK403 codes pyx12's own 999 writer passes through; its internal codes (SEG1,
# HL1, ...) are not 999 codes.
_IK3_CODES = frozenset({"1", "2", "3", "4", "5", "6", "7", "8", "I4", "I6", "I7", "I8", "I9"})
_IK4_CODES = frozenset(
    {
        "1",
        "2",
        "3",
        "4",
        "5",
        "6",
        "7",
        "8",
        "9",
        "10",
        "12",
        "13",
        "I10",
        "I11",
        "I12",
        "I13",
        "I6",
        "I9",
    }
)


def _segment_acks(seg: dict[str, Any], segment_error: Any, element_error: Any) -> list[Any]:
    """IK3/IK4 for one segment of pyx12's error tree, as pyx12's 999 writer would write them:
    one IK3 per distinct valid code (SEG1 counts as 8), an 8 when only elements are in error,
    and the IK4s after the last IK3."""
    codes = [str(e["err_cde"]) for e in seg.get("errors", [])]
    if "SEG1" in codes:
        codes = [c for c in codes if c != "SEG1"] + ["8"]
    elements = [
        element_error(
            int(ele.get("ele_pos") or 0),
            str(e["err_cde"]),
            str(ele.get("ele_ref_num") or ""),
            ele.get("subele_pos") or None,
            ele.get("repeat_pos") or None,
        )
        for ele in seg.get("elements", [])
        for e in ele.get("errors", [])
        if str(e["err_cde"]) in _IK4_CODES
    ]
    unique = [c for c in dict.fromkeys(codes) if c in _IK3_CODES]
    if seg.get("elements") and "8" not in unique:
        unique.append("8")
    out = [
        segment_error(
            str(seg.get("seg_id") or ""),
            int(seg.get("seg_count") or 0),
            code,
            str(seg.get("ls_id") or ""),
        )
        for code in unique
    ]
    if out:
        out[-1].element_errors = elements
    return out


def _ack_from_tree(doc: dict[str, Any], parties: tuple[str, str, str, str]) -> bytes:
    """A 999 built from pyx12's error tree, for when pyx12's own 999 writer fails."""
    from rcm.x12.x999 import Ack999, ElementError, SegmentError, TransactionAck, build_999

    acks: list[Ack999] = []
    for isa in doc.get("interchanges", []):
        for gs in isa.get("groups", []):
            if gs.get("fic") == "FA":
                continue
            ack = Ack999(
                str(gs.get("fic") or ""),
                str(gs.get("gs_control_num") or ""),
                "A",
                str(gs.get("vriic") or ""),
                control_number=f"{len(acks) + 1:04d}",
            )
            for st in gs.get("transactions", []):
                errs = []
                for seg in st.get("segments", []):
                    errs += _segment_acks(seg, SegmentError, ElementError)
                codes = [str(e["err_cde"]) for e in st.get("errors", [])]
                if errs and "5" not in codes:
                    codes.append("5")
                status = "R" if codes or st.get("ack_code") == "R" else "A"
                ack.transactions.append(
                    TransactionAck(
                        str(st.get("trn_set_id") or ""),
                        str(st.get("trn_set_control_num") or ""),
                        status,
                        str(st.get("vriic") or ""),
                        codes[:5],
                        errs,
                    )
                )
            ack.included = ack.received = len(ack.transactions)
            ack.accepted_count = sum(1 for t in ack.transactions if t.accepted)
            ack.error_codes = [str(e["err_cde"]) for e in gs.get("errors", [])][:5]
            if ack.accepted_count == ack.received and not ack.error_codes:
                ack.status = "A"
            elif ack.accepted_count == 0:
                ack.status = "R"
            else:
                ack.status = "P"
            acks.append(ack)
    if not acks:
        return b""
    our_q, our_id, their_q, their_id = parties
    envelope = InterchangeEnvelope(
        sender_qualifier=our_q or "ZZ",
        sender_id=our_id or "RECEIVER",
        receiver_qualifier=their_q or "ZZ",
        receiver_id=their_id or "SENDER",
        control_number=1,
        group_control_number=1,
        functional_id="FA",
        version="005010X231A1",
        created=datetime.now(UTC),
    )
    return build_999(acks, envelope)


# ---------------------------------------------------------------------------------------------
# Structural checks (our own parser)
# ---------------------------------------------------------------------------------------------


def _parser_for(set_id: str, version: str) -> tuple[str, Callable[..., Any]] | None:
    """Our typed parser for a transaction set, imported lazily (837/270/271/276/277 are built
    by another module and may be absent)."""
    import importlib

    def find(module: str, *names: str) -> Callable[..., Any] | None:
        try:
            mod = importlib.import_module(module)
        except ImportError:
            return None
        for name in names:
            fn = getattr(mod, name, None)
            if callable(fn):
                return fn  # type: ignore[no-any-return]
        return None

    candidates: dict[str, list[tuple[str, tuple[str, ...]]]] = {
        "835": [("rcm.x12.x835", ("parse_835",))],
        "999": [("rcm.x12.x999", ("parse_999",))],
        "837": [("rcm.x12.x837", ("parse_837",))],
        "270": [("rcm.x12.x270", ("parse_270",)), ("rcm.x12.eligibility", ("parse_270",))],
        "271": [("rcm.x12.x271", ("parse_271",)), ("rcm.x12.eligibility", ("parse_271",))],
        "276": [("rcm.x12.x276", ("parse_276",))],
        "277": [("rcm.x12.x277", ("parse_277",))],
    }
    if set_id == "277" and version.startswith("005010X214"):
        return ("rcm.x12.x277ca.parse_277ca", find("rcm.x12.x277ca", "parse_277ca"))  # type: ignore[return-value]
    for module, names in candidates.get(set_id, []):
        fn = find(module, *names)
        if fn is not None:
            return (f"{module}.{fn.__name__}", fn)
    return None


def _structure_checker() -> Callable[[Any], list[Any]] | None:
    """The HL-tree checker of `rcm.x12.structural` (written alongside the 837/270/276 parsers),
    when present."""
    try:
        from rcm.x12.structural import check_structure
    except ImportError:
        return None
    return check_structure  # type: ignore[no-any-return]


def _syntax_error(exc: X12SyntaxError) -> ValidationIssue:
    return ValidationIssue(
        "file",
        "syntax",
        exc.reason,
        exc.segment_number,
        exc.offset,
        exc.segment_id,
        source="rcm",
    )


def _issue_error(issue: EnvelopeIssue) -> ValidationIssue:
    level: Level = {"SE": "transaction", "GE": "group", "IEA": "interchange"}.get(
        issue.segment_id or "", "file"
    )  # type: ignore[assignment]
    return ValidationIssue(
        level,
        "envelope",
        issue.message,
        issue.segment_number,
        issue.offset,
        issue.segment_id,
        source="rcm",
    )


def _decode(data: bytes) -> str:
    return decode_x12(data)


# ---------------------------------------------------------------------------------------------
# The gate
# ---------------------------------------------------------------------------------------------


def validate(data: bytes | Source, *, file_name: str | None = None) -> ValidationReport:
    """Check one X12 file against its implementation guides. Never raises for a bad file:
    every problem is in the report (`valid`, `errors`, `ack_999`)."""
    if not isinstance(data, bytes | bytearray):
        if isinstance(data, memoryview):
            data = bytes(data)
        elif hasattr(data, "read"):
            data = data.read()  # type: ignore[union-attr]
        else:
            from pathlib import Path

            path = Path(data)  # type: ignore[arg-type]
            file_name = file_name or str(path)
            data = path.read_bytes()
    raw = bytes(data)  # type: ignore[arg-type]
    report = ValidationReport(file_name=file_name, valid=False)
    report.checks.append("envelope: ISA/IEA, GS/GE, ST/SE counts and control numbers")

    issues: list[EnvelopeIssue] = []
    groups: list[tuple[str, str, str, list[str]]] = []  # (icvn, fic, version, sets)
    sets: list[tuple[str, str]] = []
    isa_parties = ("", "", "", "")
    structure = _structure_checker()
    structural: list[tuple[str, Any]] = []
    try:
        last_gs = -1
        for tx in read_transactions(raw, file_name=file_name, strict=False, issues=issues):
            if tx.gs.number != last_gs:
                last_gs = tx.gs.number
                groups.append((tx.isa[12], tx.functional_id, tx.gs[8], []))
                # The 999 goes back from the file's receiver to its sender.
                isa_parties = (tx.isa[7], tx.isa[8].strip(), tx.isa[5], tx.isa[6].strip())
            groups[-1][3].append(tx.set_id)
            sets.append((tx.set_id, tx.st[3] or tx.gs[8]))
            if structure is not None and map_for(tx.isa[12], tx.gs[8], tx.functional_id) is None:
                structural += [(tx.control_number, i) for i in structure(tx)]
            for _ in tx.body:
                pass
    except X12SyntaxError as exc:
        report.errors.append(_syntax_error(exc))
        report.notes.append("pyx12 not run: the file's envelope cannot be read")
        return report
    report.errors += [_issue_error(i) for i in issues]
    report.groups = [
        GroupInfo(fic, version, tuple(s), map_for(icvn, version, fic))
        for icvn, fic, version, s in groups
    ]

    if report.groups and all(g.pyx12_map for g in report.groups):
        _pyx12_checks(report, raw, isa_parties)
    else:
        missing = sorted(
            {f"{g.functional_id} {g.version}" for g in report.groups if not g.pyx12_map}
        )
        report.notes.append(f"pyx12 has no map for {', '.join(missing)}; structural checks only")

    if report.validator == "structural":
        if structure is not None:
            report.checks.append("HL tree, header and required segments per rcm.x12.structural")
            for control, issue in structural:
                if getattr(issue, "severity", "error") != "error":
                    report.notes.append(f"ST {control}: {issue.message}")
                    continue
                report.errors.append(
                    ValidationIssue(
                        "segment" if issue.segment_id else "transaction",
                        str(issue.code),
                        str(issue.message),
                        issue.segment_number,
                        None,
                        issue.segment_id,
                        transaction_control_number=control,
                        source="rcm",
                    )
                )
        _structural_checks(report, raw, sets, file_name)
    # pyx12 already reports SE/GE/IEA count errors; keep ours only when pyx12 did not run.
    if report.validator == "pyx12":
        report.errors = [e for e in report.errors if e.source == "pyx12"] + [
            e for e in report.errors if e.source == "rcm" and e.code == "syntax"
        ]
    _locate(report, raw)
    report.valid = not report.errors
    return report


def _pyx12_checks(report: ValidationReport, raw: bytes, parties: tuple[str, str, str, str]) -> None:
    ok, ack_text, doc, failures, logged = _run_pyx12(_decode(raw))
    report.checks.append(
        "pyx12 implementation guide: "
        + ", ".join(sorted({str(g.pyx12_map) for g in report.groups}))
    )
    errors = list(_tree_errors(doc))
    if failures and not doc:
        # pyx12 could not judge the file at all: fall back to our own checks.
        report.validator_failure = "; ".join(failures)
        return
    report.validator = "pyx12"
    report.errors += errors
    if failures:
        report.validator_failure = "; ".join(failures)
    if ack_text and not failures:
        report.ack_999 = ack_text.encode("utf-8", errors="surrogateescape")
        report.ack_source = "pyx12"
    elif doc:
        try:
            report.ack_999 = _ack_from_tree(doc, parties) or None
            report.ack_source = "rcm" if report.ack_999 else None
        except X12Error as exc:
            report.notes.append(f"no 999: {exc}")
    if not ok and not errors:
        # pyx12 judged the file invalid for errors it logs but leaves out of its error tree.
        for line, kind, message in logged:
            ref = _ELEMENT_REF.search(message)
            report.errors.append(
                ValidationIssue(
                    "element" if kind == "ELE" else "segment",
                    "pyx12",
                    _redact(message, None),
                    segment_number=line,
                    element=ref[1] if ref and kind == "ELE" else None,
                )
            )
        if not logged:
            report.notes.append("pyx12 said invalid without naming an error")


def _structural_checks(
    report: ValidationReport, raw: bytes, sets: list[tuple[str, str]], file_name: str | None
) -> None:
    done: set[str] = set()
    for set_id, version in sets:
        found = _parser_for(set_id, version)
        if found is None:
            report.notes.append(f"no parser for transaction set {set_id} {version}")
            continue
        name, parse = found
        if name in done:
            continue
        done.add(name)
        report.checks.append(f"required segments and values per {name}")
        kwargs: dict[str, Any] = {"file_name": file_name}
        parameters = inspect.signature(parse).parameters
        if "strict" in parameters:
            kwargs["strict"] = False
        elif "strict_envelope" in parameters:
            kwargs["strict_envelope"] = False
        try:
            parse(raw, **kwargs)
        except X12SyntaxError as exc:
            report.errors.append(_syntax_error(exc))
        except X12Error as exc:
            report.errors.append(ValidationIssue("file", "parse", str(exc), source="rcm"))


def _locate(report: ValidationReport, raw: bytes) -> None:
    """Fill in offsets and segment IDs for pyx12's errors (it knows only segment numbers)."""
    wanted = {e.segment_number for e in report.errors if e.offset is None and e.segment_number}
    if not wanted:
        return
    found: dict[int, tuple[int, str]] = {}
    try:
        last = max(wanted)
        for seg in iter_segments(raw):
            if seg.number in wanted:
                found[seg.number] = (seg.offset, seg.id)
            if seg.number >= last:
                break
    except X12SyntaxError:
        pass
    out = []
    for e in report.errors:
        if e.offset is None and e.segment_number in found:
            offset, seg_id = found[e.segment_number]
            e = ValidationIssue(
                e.level,
                e.code,
                e.message,
                e.segment_number,
                offset,
                e.segment_id or seg_id,
                e.element,
                e.transaction_control_number,
                e.source,
            )
        out.append(e)
    report.errors = out


def validate_file(path: str, *, file_name: str | None = None) -> ValidationReport:
    """`validate` for a path; picklable entry point for a process pool."""
    with open(path, "rb") as fh:
        return validate(fh.read(), file_name=file_name or path)
