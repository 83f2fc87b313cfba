"""837P build throughput: claims per second for a generated batch.

`run()` builds one interchange of `claims` synthetic professional claims (many subscribers
under a few billing providers, two service lines each, the shape of a day's batch for a big
practice) and returns the figures `benchmarks.run` prints: build claims/s by CPU and by wall
time, and parse claims/s. `python -m benchmarks.x837_bench` prints them as JSON lines.
Target: at least 20,000 claims/s.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from rcm.identifiers import make_npi
from rcm.x12.core import InterchangeEnvelope
from rcm.x12.x837 import (
    Address,
    BillingProvider,
    Claim837,
    Contact,
    Header837,
    Payer,
    Provider,
    Receiver,
    ServiceLine,
    Submitter,
    Subscriber,
    build_837_interchange,
    parse_837,
)

TARGET_CLAIMS_PER_SECOND = 20_000


def make_claims(count: int) -> list[Claim837]:
    providers = [
        BillingProvider(
            npi=make_npi(f"1{i:08d}"),
            tax_id=f"{10 + i:02d}3456789",
            name=f"SYNTHETIC CLINIC {i}",
            taxonomy="207Q00000X",
            address=Address(
                line1=f"{100 + i} MAIN ST", city="SPRINGFIELD", state="IL", postal_code="627010001"
            ),
        )
        for i in range(5)
    ]
    payer = Payer(name="SYNTHETIC HEALTH PLAN", payer_id="99999")
    rendering = Provider(
        role="82", name="DOE", first_name="JANE", npi=make_npi("123456789"), taxonomy="207Q00000X"
    )
    out = []
    for i in range(count):
        subscriber = Subscriber(
            member_id=f"M{i:010d}",
            last_name=f"PATIENT{i % 997}",
            first_name="TEST",
            birth_date=date(1950 + i % 60, 1 + i % 12, 1 + i % 28),
            sex="F" if i % 2 else "M",
            address=Address(line1="1 ELM ST", city="SPRINGFIELD", state="IL", postal_code="62701"),
            payer=payer,
            group_number="GRP001",
        )
        lines = (
            ServiceLine(
                procedure_code="99213",
                modifiers=("25",),
                charge=Decimal("125.00"),
                units=Decimal("1"),
                diagnosis_pointers=(1, 2),
                service_date=date(2026, 1, 1 + i % 28),
                line_item_control_number=f"L{i}A",
            ),
            ServiceLine(
                procedure_code="36415",
                charge=Decimal("15.00"),
                units=Decimal("1"),
                diagnosis_pointers=(1,),
                service_date=date(2026, 1, 1 + i % 28),
                line_item_control_number=f"L{i}B",
            ),
        )
        out.append(
            Claim837(
                kind="P",
                billing_provider=providers[i % len(providers)],
                subscriber=subscriber,
                patient_control_number=f"PCN{i:08d}",
                charge=Decimal("140.00"),
                facility_code="11",
                diagnoses=("E119", "I10"),
                rendering_provider=rendering,
                prior_authorization=f"AUTH{i}" if i % 10 == 0 else None,
                lines=lines,
            )
        )
    return out


def run(claims: int = 20_000, repeat: int = 3) -> list[dict[str, Any]]:
    batch = make_claims(claims)
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
    walls: list[float] = []
    cpus: list[float] = []
    data = b""
    for _ in range(repeat):
        wall = time.perf_counter()
        cpu = time.process_time()
        data = build_837_interchange(envelope, header, batch)
        cpus.append(time.process_time() - cpu)
        walls.append(time.perf_counter() - wall)
    started = time.perf_counter()
    parsed = len(parse_837(data))
    parse_seconds = time.perf_counter() - started
    # Best of `repeat`, by CPU time: the benchmark shares its machine with other work, and CPU
    # time is what a Prefect worker pays for. Wall time is reported beside it.
    rate = claims / min(cpus)
    workload = json.dumps(
        {"claims": claims, "lines_per_claim": 2, "bytes": len(data), "repeat": repeat,
         "best_cpu_seconds": round(min(cpus), 4), "best_wall_seconds": round(min(walls), 4)}
    )  # fmt: skip
    target = {"name": "target", "value": TARGET_CLAIMS_PER_SECOND, "unit": "claims/s"}
    return [
        {"name": "x837p_build.claims_per_second", "value": round(rate), "unit": "claims/s",
         "workload": workload, "baseline": target,
         "meets_target": rate >= TARGET_CLAIMS_PER_SECOND},
        {"name": "x837p_build.wall_claims_per_second", "value": round(claims / min(walls)),
         "unit": "claims/s", "workload": workload, "baseline": target},
        {"name": "x837p_parse.claims_per_second", "value": round(parsed / parse_seconds),
         "unit": "claims/s", "workload": workload, "baseline": None},
    ]  # fmt: skip


if __name__ == "__main__":
    for figure in run():
        print(json.dumps(figure))
