"""`make fuzz`: many mutated X12 inputs through every parser, checked against the contract.

    python -m tests.fuzz --inputs 100000 --seed 0          # the full run
    python -m tests.fuzz --seed 0 --only 4711 --out x.x12   # rebuild input 4711 and re-check it
    python -m tests.fuzz --file tests/fuzz/regressions/foo.x12  # check one file, show tracebacks

Input `i` of seed `S` is a pure function of (S, i, the seed files): a generator seeded with
"S:i" picks a seed file, one to four mutations (each with its own seed) and strict or lenient
envelope checks. Progress goes to stderr; the last line on stdout is a JSON summary. Each new
failure (target, kind, exception, project frame) is written once to the failures folder with its
input and a reproduction command. Exit status 1 when anything failed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from tests.fuzz import harness, mutators

DEFAULT_FAILURES = harness.REPO_ROOT / "var" / "fuzz" / "failures"


def build_input(
    seeds: list[harness.Seed], seed: int, index: int
) -> tuple[harness.Seed, list[tuple[str, int]], bool, bytes]:
    rng = random.Random(f"{seed}:{index}")
    # A set first, then a file of it: every set gets the same share, whatever the corpus holds.
    sets = sorted({s.set_id for s in seeds})
    set_id = sets[rng.randrange(len(sets))]
    pool = [s for s in seeds if s.set_id == set_id]
    built = [s for s in pool if s.name.startswith("builder:")]
    if built and rng.random() < 0.4:  # well-formed 5010 files reach the parsers' deep paths
        pool = built
    base = pool[rng.randrange(len(pool))]
    steps = mutators.random_steps(rng)
    strict = rng.random() < 0.5
    return base, steps, strict, mutators.apply(base.data, steps)


def _limit_memory(gigabytes: float) -> None:
    try:
        import resource

        limit = int(gigabytes * (1 << 30))
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    except (ImportError, ValueError, OSError):
        pass


def _record(
    folder: Path,
    failure: harness.Failure,
    data: bytes,
    repro: str,
    extra: dict[str, Any],
) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256(data).hexdigest()[:12]
    stem = f"{failure.target}-{failure.kind}-{failure.exc_type}-{digest}"
    (folder / f"{stem}.x12").write_bytes(data)
    info = {**failure.as_dict(), **extra, "repro": repro, "traceback": failure.traceback}
    (folder / f"{stem}.json").write_text(json.dumps(info, indent=2), encoding="utf-8")
    return folder / f"{stem}.x12"


def check_file(path: Path, strict: bool) -> int:
    data = path.read_bytes()
    outcome = harness.check(data, strict=strict)
    for failure in outcome.failures:
        print(json.dumps(failure.as_dict()), file=sys.stderr)
        print(failure.traceback, file=sys.stderr)
    print(
        json.dumps(
            {
                "file": str(path),
                "parsed": outcome.parsed,
                "x12_errors": outcome.x12_errors,
                "failures": len(outcome.failures),
            }
        )
    )
    return 1 if outcome.failures else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.fuzz", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--inputs", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--validate-every",
        type=int,
        default=10,
        help="run validate (pyx12, slow) on every Nth input; the parsers see every input",
    )
    parser.add_argument(
        "--sets", help="comma-separated seed sets to mutate (835,999,277CA,271,277,837P,837I)"
    )
    parser.add_argument("--only", type=int, help="rebuild and check input number ONLY")
    parser.add_argument("--out", type=Path, help="with --only: write the input here")
    parser.add_argument("--file", type=Path, help="check one file (every target) and exit")
    parser.add_argument("--lenient", action="store_true", help="with --file: strict=False")
    parser.add_argument("--failures", type=Path, default=DEFAULT_FAILURES)
    parser.add_argument("--progress", type=int, default=5000, help="progress line every N")
    parser.add_argument("--memory-gb", type=float, default=4.0)
    args = parser.parse_args(argv)
    _limit_memory(args.memory_gb)
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 1000))

    if args.file is not None:
        return check_file(args.file, not args.lenient)

    seeds = harness.all_seeds()
    if args.sets:
        wanted = {name.strip() for name in args.sets.split(",")}
        seeds = [s for s in seeds if s.set_id in wanted]
    if not seeds:
        print("no seeds", file=sys.stderr)
        return 2
    corpus = sum(1 for s in seeds if s.name.startswith("corpus:"))

    if args.only is not None:
        base, steps, strict, data = build_input(seeds, args.seed, args.only)
        if args.out is not None:
            args.out.write_bytes(data)
        print(json.dumps({"seed_file": base.name, "steps": steps, "strict": strict}))
        outcome = harness.check(data, strict=strict)
        for failure in outcome.failures:
            print(json.dumps(failure.as_dict()))
            print(failure.traceback, file=sys.stderr)
        return 1 if outcome.failures else 0

    print(
        f"fuzzing {args.inputs} inputs, seed {args.seed}, {len(seeds)} seed files "
        f"({corpus} from the corpus), validate every {args.validate_every}",
        file=sys.stderr,
    )
    without_validate = tuple(t for t in harness.TARGETS if t.name != "validate")
    totals: Counter[str] = Counter()
    kinds: Counter[str] = Counter()
    owners: Counter[str] = Counter()
    by_target: Counter[str] = Counter()
    parsed_by: Counter[str] = Counter()
    unique: dict[tuple[str, str, str, str], dict[str, Any]] = {}
    start = time.monotonic()
    for index in range(args.inputs):
        base, steps, strict, data = build_input(seeds, args.seed, index)
        every = args.validate_every
        targets = harness.TARGETS if every > 0 and index % every == 0 else without_validate
        outcome = harness.check(data, strict=strict, targets=targets)
        totals["runs"] += len(targets)
        totals["parsed"] += outcome.parsed
        parsed_by.update(outcome.parsed_targets)
        totals["x12_errors"] += outcome.x12_errors
        for failure in outcome.failures:
            kinds[failure.kind] += 1
            owners[failure.owner] += 1
            by_target[failure.target] += 1
            if failure.signature not in unique:
                repro = f"python -m tests.fuzz --seed {args.seed} --only {index} --out repro.x12"
                path = _record(
                    args.failures,
                    failure,
                    data,
                    repro,
                    {"seed_file": base.name, "steps": steps, "strict": strict, "index": index},
                )
                unique[failure.signature] = {**failure.as_dict(), "index": index, "file": str(path)}
                print(
                    f"NEW {failure.kind} in {failure.target}: {failure.exc_type} at "
                    f"{failure.project_frame or failure.last_frame} ({failure.owner}) -> {path}",
                    file=sys.stderr,
                )
        done = index + 1
        if args.progress and done % args.progress == 0:
            elapsed = time.monotonic() - start
            print(
                f"{done} inputs, {done / elapsed:.0f} inputs/s, "
                f"{sum(kinds.values())} failures ({len(unique)} distinct)",
                file=sys.stderr,
            )
    seconds = time.monotonic() - start
    summary = {
        "inputs": args.inputs,
        "seed": args.seed,
        "seed_files": len(seeds),
        "corpus_seed_files": corpus,
        "target_runs": totals["runs"],
        "parsed": totals["parsed"],
        "x12_errors": totals["x12_errors"],
        "crashes": kinds["crash"],
        "hangs": kinds["hang"],
        "contract_failures": kinds["contract"],
        "distinct_failures": len(unique),
        "failures_by_owner": dict(owners),
        "failures_by_target": dict(by_target),
        "parsed_by_target": dict(parsed_by),
        "seconds": round(seconds, 1),
        "inputs_per_second": round(args.inputs / seconds, 1) if seconds else None,
    }
    for signature in unique.values():
        print(json.dumps(signature), file=sys.stderr)
    print(json.dumps(summary))
    return 1 if unique else 0


if __name__ == "__main__":
    sys.exit(main())
