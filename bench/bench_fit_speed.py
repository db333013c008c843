"""Benchmark: is the fit estimate fast enough for a context slider?

Run: ``.venv/bin/python bench/bench_fit_speed.py [--repeats 20]``.

For each saved hardware profile in ``tests/fixtures/profiles``, times :func:`estimate_fit` (which
includes the largest-context search for full GPU, partial offload, CPU only and MoE experts on
CPU) for all catalog variants at one context, as a slider move would, for both engines. The goal
is all variants of the catalog for one machine in under 50 ms.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from qwen_desktop.core.catalog import load_catalog  # noqa: E402
from qwen_desktop.core.fit import estimate_fit  # noqa: E402
from qwen_desktop.core.machine import MachineReport  # noqa: E402

GOAL_SECONDS = 0.050


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--context", type=int, default=16_384)
    args = parser.parse_args()
    catalog = load_catalog()
    profiles = sorted((ROOT / "tests" / "fixtures" / "profiles").glob("*.json"))
    print(f"{len(catalog)} variants, context {args.context}, best of {args.repeats} runs")
    worst = 0.0
    for path in profiles:
        machine = MachineReport.from_file(path)
        for engine in ("ollama", "transformers"):
            best = float("inf")
            for _ in range(args.repeats):
                started = time.perf_counter()
                for variant in catalog:
                    estimate_fit(
                        variant,
                        machine,
                        engine=engine,
                        context_tokens=min(args.context, variant.context_tokens),
                    )
                best = min(best, time.perf_counter() - started)
            worst = max(worst, best)
            print(f"{path.stem:24} {engine:12} {best * 1000:6.1f} ms")
    verdict = "within" if worst < GOAL_SECONDS else "OVER"
    print(
        f"slowest machine: {worst * 1000:.1f} ms ({verdict} the {GOAL_SECONDS * 1000:.0f} ms goal)"
    )
    return 0 if worst < GOAL_SECONDS else 1


if __name__ == "__main__":
    raise SystemExit(main())
