"""X12 engine benchmarks: 835 parse throughput and memory, pyx12 validation throughput.

Figures (one JSON line each, see benchmarks/run.py):

- x12.835_parse: segments/s through `iter_remittances` to typed claim payments, one core.
  Baselines: `bytes.split` on terminator then element separator over the same bytes
  (x12.835_split_bytes) and the same with `str.split` after decoding (x12.835_split_str): the
  practical limit for pure Python.
- x12.835_parse_peak_rss: peak resident memory (VmHWM) of a fresh subprocess that streams a
  generated 835 of RCM_BENCH_BIG_MB megabytes (default 200) from a temporary file, against the
  same subprocess streaming a file a tenth of that size (flat memory: the two are about equal).
- x12.pyx12_validate: claims/s through `rcm.x12.validate.validate` (pyx12, 835 map) in one
  process, and x12.pyx12_validate_pool across all cores with a ProcessPoolExecutor;
  x12.pyx12_validate_837p(_pool): the same for an 837P batch built by `rcm.x12.x837` (the
  outbound gate), when that module is present.
- x12.gate_837p_single / x12.gate_837p_pool: the outbound gate on RCM_BENCH_GATE_FILES
  (default 8) 837P files of RCM_BENCH_GATE_CLAIMS (default 1000) claims, one process against
  the gate's own pool (tasks._validation_pool), with the load average in the workload (the
  figures swing with other work on the machine); x12.gate_837p_pool_cold_start: starting that
  pool and validating a first file per worker.

- x12.271_parse: eligibility answers/s through `parse_271` to typed `EligibilityResponse`s,
  one core, on a generated 271 of RCM_BENCH_271_ANSWERS (default 10,000) answers shaped like the
  sandbox's (five or six EBs each, one in ten for a dependent); baseline: reading the same
  file's segments (`iter_segments`). x12.271_route_scan: the same file through
  `rcm.reports.routing.trace_numbers_of_271`, what routing reads instead of the full parse.

Sizes: RCM_BENCH_835_MB (default 20) for throughput, RCM_BENCH_BIG_MB (default 200) for memory,
RCM_BENCH_VALIDATE_CLAIMS (default 2000) per validated file, RCM_BENCH_271_ANSWERS (default
10000) per 271.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

TARGET_SEGMENTS_PER_SECOND = 300_000

HEADER = (
    "ISA*00*          *00*          *ZZ*PAYERSENDER    *ZZ*PRACTICE       *260304*0506*^*00501*"
    "000000042*0*P*:~GS*HP*PAYERSENDER*PRACTICE*20260304*0506*42*X*005010X221A1~"
)
TX_HEAD = (
    "ST*835*{control}~BPR*I*{total}*C*CHK************20260304~TRN*1*CHECK{control}*1512345678~"
    "N1*PR*ACME HEALTH~N3*PO BOX 1~N4*AUSTIN*TX*78701~PER*BL*EDI*TE*8005550000~"
    "N1*PE*GOOD CLINIC*XX*1234567893~LX*1~"
)
CLAIM = (
    "CLP*PCN{n}*1*150*100*0*12*CCN{n}*11*1~NM1*QC*1*DOE*JANE****MI*M{n}~DTM*050*20260203~"
    "SVC*HC:99213*100*70**1~DTM*472*20260201~CAS*CO*45*30~"
    "SVC*HC:87070:25*50*30**1~DTM*472*20260201~CAS*CO*45*15*1*PR*2*5~LQ*HE*N130~"
)
CLAIM_SEGMENTS = CLAIM.count("~")
TX_HEAD_SEGMENTS = TX_HEAD.count("~")


def _figure(
    name: str,
    value: float,
    unit: str,
    workload: str,
    baseline: tuple[str, float, str] | None,
) -> dict[str, Any]:
    record = {
        "name": name,
        "value": value,
        "unit": unit,
        "workload": workload,
        "baseline": {"name": baseline[0], "value": baseline[1], "unit": baseline[2]}
        if baseline
        else None,
    }
    print(json.dumps(record), flush=True)
    return record


def transaction_text(control: int, claims: int, first: int = 0) -> str:
    body = [TX_HEAD.format(control=f"{control:04d}", total=100 * claims)]
    body += [CLAIM.format(n=first + i) for i in range(claims)]
    count = TX_HEAD_SEGMENTS + CLAIM_SEGMENTS * claims + 1
    body.append(f"SE*{count}*{control:04d}~")
    return "".join(body)


def generate_835(target_bytes: int, claims_per_tx: int = 2000) -> Iterator[str]:
    """Chunks of one interchange of 835s totalling about `target_bytes`."""
    yield HEADER
    per_tx = len(transaction_text(1, claims_per_tx))
    transactions = max(1, target_bytes // per_tx)
    for control in range(1, transactions + 1):
        yield transaction_text(control, claims_per_tx, control * claims_per_tx)
    yield f"GE*{transactions}*42~IEA*1*000000042~"


def _best(fn: Any, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.process_time()
        fn()
        best = min(best, time.process_time() - started)
    return best


def bench_parse(megabytes: int) -> list[dict[str, Any]]:
    from rcm.x12.core import iter_segments
    from rcm.x12.x835 import iter_remittances

    data = "".join(generate_835(megabytes << 20)).encode()
    segments = sum(1 for _ in iter_segments(data))
    claims = 0

    def parse() -> None:
        nonlocal claims
        claims = 0
        for stream in iter_remittances(data):
            for _ in stream.claims():
                claims += 1

    def split_bytes() -> None:
        for raw in data.split(b"~"):
            raw.split(b"*")

    def split_str() -> None:
        for raw in data.decode().split("~"):
            raw.split("*")

    workload = f"generated 835, {len(data) >> 20} MB, {segments} segments, one core, best of 3"
    parse_rate = segments / _best(parse, 3)
    bytes_rate = segments / _best(split_bytes, 3)
    str_rate = segments / _best(split_str, 3)
    target = ("target", TARGET_SEGMENTS_PER_SECOND, "segments/s")
    return [
        _figure(
            "x12.835_parse",
            round(parse_rate),
            "segments/s",
            workload + f", {claims} claims",
            ("x12.835_split_bytes", round(bytes_rate), "segments/s"),
        ),
        _figure("x12.835_parse_vs_target", round(parse_rate), "segments/s", workload, target),
        _figure("x12.835_split_bytes", round(bytes_rate), "segments/s", workload, None),
        _figure("x12.835_split_str", round(str_rate), "segments/s", workload, None),
    ]


_CHILD = """
import resource, sys, time
from rcm.x12.x835 import iter_remittances
started = time.perf_counter()
claims = 0
for stream in iter_remittances(sys.argv[1]):
    for _ in stream.claims():
        claims += 1
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    # VmHWM is this process image's own high-water mark; ru_maxrss survives exec and would
    # report the parent benchmark's size instead.
    with open("/proc/self/status") as status:
        peak = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
except (OSError, StopIteration):
    pass
print(peak, claims, time.perf_counter() - started)
"""


def _peak_rss(path: Path) -> tuple[int, int, float]:
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, str(path)],
        check=True,
        capture_output=True,
        text=True,
        timeout=900,
    ).stdout.split()
    return int(out[0]), int(out[1]), float(out[2])


def bench_memory(megabytes: int) -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory() as tmp:
        figures = []
        results = {}
        for size in (max(1, megabytes // 10), megabytes):
            path = Path(tmp) / f"era_{size}.835"
            with path.open("w", encoding="ascii") as fh:
                for chunk in generate_835(size << 20):
                    fh.write(chunk)
            actual = path.stat().st_size
            rss_kb, claims, seconds = _peak_rss(path)
            results[size] = (actual, rss_kb, claims, seconds)
            path.unlink()
        small, big = results[max(1, megabytes // 10)], results[megabytes]
        figures.append(
            _figure(
                "x12.835_parse_peak_rss",
                round(big[1] / 1024, 1),
                "MB",
                f"iter_remittances over a {big[0] >> 20} MB generated 835 file ({big[2]} claims, "
                f"{big[3]:.1f} s wall) in a subprocess, peak RSS (VmHWM)",
                (
                    f"x12.835_parse_peak_rss_{small[0] >> 20}MB_file",
                    round(small[1] / 1024, 1),
                    "MB",
                ),
            )
        )
        return figures


def _validate_bytes(data: bytes) -> int:
    from rcm.x12.validate import validate

    report = validate(data)
    if report.errors:
        raise RuntimeError(f"generated 835 is not valid: {report.errors[0].describe()}")
    return data.count(b"~CLP*")


def bench_validate(claims: int) -> list[dict[str, Any]]:
    text = HEADER + transaction_text(1, claims) + "GE*1*42~IEA*1*000000042~"
    data = text.encode()
    _validate_bytes(data)  # warm: maps parsed once per process
    started = time.perf_counter()
    done = _validate_bytes(data)
    single = done / (time.perf_counter() - started)
    workers = os.cpu_count() or 1
    files = [data] * (workers * 2)
    with ProcessPoolExecutor(max_workers=workers) as pool:
        list(pool.map(_validate_bytes, files[:workers]))  # warm every worker
        started = time.perf_counter()
        total = sum(pool.map(_validate_bytes, files))
        pooled = total / (time.perf_counter() - started)
    workload = f"835 with {claims} claims (2 service lines each), pyx12 835 map"
    return [
        _figure("x12.pyx12_validate", round(single), "claims/s", workload + ", one process", None),
        _figure(
            "x12.pyx12_validate_pool",
            round(pooled),
            "claims/s",
            workload + f", {len(files)} files over {workers} worker processes",
            ("x12.pyx12_validate", round(single), "claims/s"),
        ),
    ]


def _837_bytes(claims: int) -> bytes | None:
    """An 837P batch from the 837 builder's own benchmark data, when that module is present."""
    try:
        from datetime import UTC, datetime

        from benchmarks.x837_bench import make_claims
        from rcm.x12.core import InterchangeEnvelope
        from rcm.x12.x837 import Contact, Header837, Receiver, Submitter, build_837_interchange
    except ImportError:
        return None
    header = Header837(
        submitter=Submitter(
            name="SYNTHETIC BILLING",
            identifier="SUBMIT01",
            contact=Contact(name="OPS", phone="5555550100"),
        ),
        receiver=Receiver(name="SANDBOX CLEARINGHOUSE", identifier="SANDBOX"),
        reference_id="BATCH0001",
        created=datetime(2026, 1, 31, 12, 0),
    )
    envelope = InterchangeEnvelope(
        sender_qualifier="ZZ",
        sender_id="SUBMIT01",
        receiver_qualifier="ZZ",
        receiver_id="SANDBOX",
        control_number=1,
        group_control_number=1,
        functional_id="HC",
        version="005010X222A1",
        created=datetime(2026, 1, 31, 12, 0, tzinfo=UTC),
    )
    return bytes(build_837_interchange(envelope, header, make_claims(claims)))


def _validate_837(data: bytes) -> int:
    from rcm.x12.validate import validate

    report = validate(data)
    if report.errors:
        raise RuntimeError(f"generated 837P is not valid: {report.errors[0].describe()}")
    return data.count(b"~CLM*")


def bench_validate_837(claims: int) -> list[dict[str, Any]]:
    data = _837_bytes(claims)
    if data is None:
        return []
    _validate_837(data)
    started = time.perf_counter()
    single = _validate_837(data) / (time.perf_counter() - started)
    workers = os.cpu_count() or 1
    files = [data] * (workers * 2)
    with ProcessPoolExecutor(max_workers=workers) as pool:
        list(pool.map(_validate_837, files[:workers]))
        started = time.perf_counter()
        pooled = sum(pool.map(_validate_837, files)) / (time.perf_counter() - started)
    workload = f"837P batch of {claims} claims (benchmarks.x837_bench data), pyx12 X222A1 map"
    return [
        _figure(
            "x12.pyx12_validate_837p", round(single), "claims/s", workload + ", one process", None
        ),
        _figure(
            "x12.pyx12_validate_837p_pool",
            round(pooled),
            "claims/s",
            workload + f", {len(files)} files over {workers} worker processes",
            ("x12.pyx12_validate_837p", round(single), "claims/s"),
        ),
    ]


def _load() -> str:
    try:
        return "load average " + "/".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        return "load average unknown"


def _validate_timed(data: bytes) -> tuple[float, int]:
    """`validate` in a pool worker: the CPU seconds it took and the errors it found."""
    from rcm.x12.validate import validate

    cpu = time.process_time()
    report = validate(data)
    return time.process_time() - cpu, len(report.errors)


def bench_gate(files: int, claims: int) -> list[dict[str, Any]]:
    """The 837P gate as batching runs it: `files` batches of `claims` claims validated one
    after the other in this process, then on the gate's own pool (tasks._validation_pool,
    RCM_VALIDATION_WORKERS or every core), timed warm and, separately, from a cold start."""
    one = _837_bytes(claims)
    if one is None:
        return []
    from rcm.x12.validate import validate
    from tasks._validation_pool import ValidationPool, validation_workers, warm_pyx12

    # Distinct files (the ISA13 differs) so nothing could be cached between them.
    batch = [
        one.replace(b"*000000001*0*P*", f"*{n + 1:09d}*0*P*".encode(), 1).replace(
            b"~IEA*1*000000001~", f"~IEA*1*{n + 1:09d}~".encode()
        )
        for n in range(files)
    ]
    total = files * claims
    workers = validation_workers() or (os.cpu_count() or 1)
    load_before = _load()

    warm_pyx12()  # maps loaded, as the pool's workers have them
    started, cpu = time.perf_counter(), time.process_time()
    for data in batch:
        report = validate(data)
        if report.errors:
            raise RuntimeError(f"generated 837P is not valid: {report.errors[0].describe()}")
    single_wall = time.perf_counter() - started
    single_cpu = time.process_time() - cpu

    cold_started = time.perf_counter()
    pool = ValidationPool(workers)
    try:
        first = [pool.submit(validate, data) for data in batch[:workers]]
        for future in first:
            future.result()
        cold_first = time.perf_counter() - cold_started
        started = time.perf_counter()
        futures = [pool.submit(_validate_timed, data) for data in batch]
        timed = [future.result() for future in futures]
        pooled_wall = time.perf_counter() - started
    finally:
        pool.shutdown()
    if any(errors for _, errors in timed):
        raise RuntimeError("a pooled 837P report differs from in-process")
    pooled_cpu = sum(cpu for cpu, _ in timed)
    load_after = _load()
    workload = (
        f"{files} files x {claims} 837P claims (benchmarks.x837_bench data), X222A1 map; "
        f"{load_before} before, {load_after} after, {os.cpu_count()} cores"
    )
    single = total / single_wall
    return [
        _figure(
            "x12.gate_837p_single",
            round(single),
            "claims/s",
            workload + f", one process, wall (CPU: {round(total / single_cpu)} claims/s)",
            None,
        ),
        _figure(
            "x12.gate_837p_pool",
            round(total / pooled_wall),
            "claims/s",
            workload
            + f", tasks._validation_pool with {workers} warm workers, wall (CPU in the workers:"
            + f" {round(total / pooled_cpu)} claims/s; {pooled_cpu / pooled_wall:.2f} cores"
            + " busy on average)",
            ("x12.gate_837p_single", round(single), "claims/s"),
        ),
        _figure(
            "x12.gate_837p_pool_cold_start",
            round(cold_first, 2),
            "s",
            f"pool start (forkserver, warm-up) plus the first {workers} file(s) of {claims}",
            ("x12.gate_837p_single_file", round(claims / single, 2), "s"),
        ),
    ]


def generate_271(answers: int) -> bytes:
    """One 271 of `answers` eligibility answers, shaped like the sandbox's: coverage, copay,
    coinsurance, deductible and out-of-pocket remaining (amounts varying by member), an other
    payer for one in seven, a dependent for one in ten."""
    from datetime import UTC, date, datetime
    from decimal import Decimal

    from rcm.x12 import x270, x271
    from rcm.x12.core import InterchangeEnvelope

    source = x270.Party(entity_id="PR", name="ACME HEALTH", identifier="ACME1", id_qualifier="PI")
    receiver = x270.Party(
        entity_id="1P", name="GOOD CLINIC", identifier="1234567893", id_qualifier="XX"
    )
    other = x270.Party(entity_id="SEP", name="OTHER PAYER", identifier="OP1", id_qualifier="PI")
    responses = []
    for i in range(answers):
        traces = (
            x271.Trace(type_code="2", number=f"T{i:08d}", originator="1123456789"),
            x271.Trace(type_code="1", number=f"SB{i:06d}", originator="9999999999"),
        )
        benefits = (
            x271.Benefit(information="1", coverage_level="IND", service_types=("30",),
                         insurance_type="PR", plan_description=f"ACME PPO {i % 4}"),
            x271.Benefit(information="B", coverage_level="IND", service_types=("98",),
                         time_period="27", amount=Decimal(25 + 5 * (i % 3)), in_network="Y"),
            x271.Benefit(information="A", coverage_level="IND", service_types=("30",),
                         percent=Decimal("0.2"), in_network="Y"),
            x271.Benefit(information="C", coverage_level="IND", service_types=("30",),
                         time_period="29", amount=Decimal(i % 1500) / 4, in_network="Y"),
            x271.Benefit(information="G", coverage_level="IND", service_types=("30",),
                         time_period="29", amount=Decimal(i % 6000) / 2, in_network="Y"),
        )  # fmt: skip
        if i % 7 == 0:
            benefits += (
                x271.Benefit(
                    information="R",
                    service_types=("30",),
                    entities=(x271.RelatedEntity(party=other),),
                ),
            )
        dependent = i % 10 == 0
        subscriber = x271.EligibilityMember(
            last_name="DOE", first_name="JANE", member_id=f"M{i:09d}",
            birth_date=date(1950 + i % 50, 1 + i % 12, 1 + i % 28), sex="F",
            traces=() if dependent else traces,
            references=(x271.Reference(qualifier="6P", value=f"GRP{i % 20}"),),
            dates=(x271.DateRange(qualifier="346", start=date(2026, 1, 1)),),
            benefits=() if dependent else benefits,
        )  # fmt: skip
        kid = x271.EligibilityMember(
            last_name="DOE", first_name="KID", birth_date=date(2015, 1, 2), traces=traces,
            benefits=benefits,
        )  # fmt: skip
        responses.append(
            x271.EligibilityResponse(
                source=source,
                receiver=receiver,
                subscriber=subscriber,
                dependent=kid if dependent else None,
            )
        )
    envelope = InterchangeEnvelope(
        sender_qualifier="ZZ", sender_id="CLEARINGHOUSE", receiver_qualifier="ZZ",
        receiver_id="PRACTICE", control_number=7, group_control_number=7, functional_id="HB",
        version=x271.IMPLEMENTATION, created=datetime(2026, 3, 4, 5, 6, tzinfo=UTC),
    )  # fmt: skip
    response_set = x271.Eligibility271(
        reference_id="BENCH", created=datetime(2026, 3, 4, 5, 6), responses=tuple(responses)
    )
    return x271.build_271_interchange(envelope, [response_set])


def bench_271(answers: int) -> list[dict[str, Any]]:
    from rcm.reports.routing import trace_numbers_of_271
    from rcm.x12.core import iter_segments
    from rcm.x12.x271 import parse_271

    data = generate_271(answers)
    segments = sum(1 for _ in iter_segments(data))
    parsed = len(parse_271(data))
    parse = _best(lambda: parse_271(data), 3)
    scan = _best(lambda: trace_numbers_of_271(data), 3)
    read = _best(lambda: sum(1 for _ in iter_segments(data)), 3)
    workload = (
        f"generated 271, {len(data) >> 10} KB, {segments:,} segments, {parsed:,} answers "
        f"(sandbox-shaped: 5-6 EBs each, 1 in 10 a dependent), one core, CPU time, best of 3; "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    return [
        _figure(
            "x12.271_parse",
            round(parsed / parse),
            "answers/s",
            workload + f"; {parse:.3f} s",
            ("x12.271_read_segments", round(parsed / read), "answers/s"),
        ),
        _figure(
            "x12.271_route_scan",
            round(parsed / scan),
            "answers/s",
            workload + f"; {scan:.3f} s (trace numbers only, as routing reads them)",
            ("x12.271_parse", round(parsed / parse), "answers/s"),
        ),
    ]


def run() -> list[dict[str, Any]]:
    figures = bench_271(int(os.environ.get("RCM_BENCH_271_ANSWERS", "10000")))
    figures += bench_parse(int(os.environ.get("RCM_BENCH_835_MB", "20")))
    figures += bench_validate(int(os.environ.get("RCM_BENCH_VALIDATE_CLAIMS", "2000")))
    figures += bench_validate_837(int(os.environ.get("RCM_BENCH_VALIDATE_CLAIMS", "2000")))
    figures += bench_gate(
        int(os.environ.get("RCM_BENCH_GATE_FILES", "8")),
        int(os.environ.get("RCM_BENCH_GATE_CLAIMS", "1000")),
    )
    figures += bench_memory(int(os.environ.get("RCM_BENCH_BIG_MB", "200")))
    return figures


if __name__ == "__main__":
    run()
