"""`make bench`: run every `benchmarks/*_bench.py` module's `run()` and print one JSON line per
figure: {"name", "value", "unit", "workload", "baseline": {"name", "value", "unit"}}.

Modules may return a figure, a list of figures, or print their own JSON lines (or both); the
runner collects all of them, normalises the baseline and prints each figure once. One module
failing is reported as a figure named `<module>.error` and does not stop the others.

`python -m benchmarks.run x12 posting` runs only the modules whose name contains a word given.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import pkgutil
import sys
import traceback
from collections.abc import Iterator
from typing import Any

import benchmarks


def _figures(value: Any) -> Iterator[dict[str, Any]]:
    if isinstance(value, dict):
        if "name" in value and "value" in value:
            yield value
        elif "benchmark" in value:
            # A summary dict rather than figures: every `*_per_second` entry becomes a figure.
            context = {k: v for k, v in value.items() if not k.endswith("_per_second")}
            target = next((v for k, v in value.items() if k.startswith("target_")), None)
            for key, number in value.items():
                if key.endswith("_per_second") and not key.startswith("target_"):
                    yield {
                        "name": f"{value['benchmark']}.{key.removesuffix('_per_second')}",
                        "value": number,
                        "unit": key.replace("_per_", "/").replace("second", "s"),
                        "workload": json.dumps(context, default=str),
                        "baseline": target,
                    }
        else:
            for item in value.values():
                yield from _figures(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _figures(item)


def _normalise(figure: dict[str, Any]) -> dict[str, Any]:
    baseline = figure.get("baseline")
    if isinstance(baseline, int | float):
        baseline = {"name": "target", "value": baseline, "unit": figure.get("unit")}
    return {
        "name": figure["name"],
        "value": figure["value"],
        "unit": figure.get("unit"),
        "workload": figure.get("workload"),
        "baseline": baseline,
    }


def run_module(name: str) -> list[dict[str, Any]]:
    captured = io.StringIO()
    returned: Any = None
    try:
        module = importlib.import_module(f"benchmarks.{name}")
        with contextlib.redirect_stdout(captured):
            returned = module.run()
    except Exception as exc:
        traceback.print_exc(file=sys.stderr)
        return [
            {
                "name": f"{name}.error",
                "value": None,
                "unit": None,
                "workload": f"{type(exc).__name__}: {exc}",
                "baseline": None,
            }
        ]
    figures: list[dict[str, Any]] = []
    for line in captured.getvalue().splitlines():
        line = line.strip()
        if not line.startswith("{"):
            if line:
                print(line, file=sys.stderr)
            continue
        try:
            figures.extend(_figures(json.loads(line)))
        except ValueError:
            print(line, file=sys.stderr)
    figures.extend(_figures(returned))
    seen: set[str] = set()
    out = []
    for figure in figures:
        key = json.dumps([figure.get("name"), figure.get("value")], default=str)
        if key in seen:
            continue
        seen.add(key)
        out.append(_normalise(figure))
    return out


def main(argv: list[str]) -> int:
    names = sorted(
        m.name for m in pkgutil.iter_modules(benchmarks.__path__) if m.name.endswith("_bench")
    )
    if argv:
        names = [n for n in names if any(word in n for word in argv)]
    failed = False
    for name in names:
        for figure in run_module(name):
            failed |= figure["name"].endswith(".error")
            print(json.dumps(figure, default=str), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
