"""Run a QBFT simulation campaign: ``python -m tests.sim.run --seeds N [--seed S] [--validators 4,7]``.

Seeds S .. S+N-1 are spread over the validator counts in turn. The last line is
``sim: N schedules, S safety violations, L liveness failures``; the exit status is non-zero if
either count is; each failing schedule prints the command that replays it alone.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor

from tests.sim.harness import SimResult, run_seed


def schedules(first_seed: int, count: int, sizes: Sequence[int]) -> Iterator[tuple[int, int]]:
    for i in range(count):
        yield first_seed + i, sizes[i % len(sizes)]


def _run(job: tuple[int, int]) -> SimResult:
    return run_seed(*job)


def replay_command(seed: int, n: int) -> str:
    return f"python -m tests.sim.run --seeds 1 --seed {seed} --validators {n}"


def campaign(
    first_seed: int, count: int, sizes: Sequence[int], workers: int = 1, out: object = None
) -> tuple[int, int, int]:
    """Run the schedules; return (schedules, safety violations, liveness failures)."""
    jobs = list(schedules(first_seed, count, sizes))
    if workers > 1:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            results = list(pool.map(_run, jobs, chunksize=16))
    else:
        results = [_run(job) for job in jobs]
    safety = liveness = 0
    for result in results:
        if result.safety_violations:
            safety += 1
            for line in result.safety_violations[:5]:
                print(f"SAFETY seed={result.seed} n={result.n}: {line}", file=sys.stderr)
        if result.liveness_failure:
            liveness += 1
            print(f"LIVENESS seed={result.seed} n={result.n}: {result.liveness_failure}", file=sys.stderr)
        if not result.ok:
            print(f"  replay: {replay_command(result.seed, result.n)}", file=sys.stderr)
    return len(results), safety, liveness


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.sim.run", description=__doc__)
    parser.add_argument("--seeds", type=int, default=100, help="number of schedules")
    parser.add_argument("--seed", type=int, default=0, help="first seed")
    parser.add_argument("--validators", default="4,7", help="comma-separated validator counts")
    parser.add_argument(
        "--workers", type=int, default=os.cpu_count() or 1, help="processes (default: one per CPU)"
    )
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.validators.split(",") if s]
    started = time.monotonic()
    count, safety, liveness = campaign(args.seed, args.seeds, sizes, args.workers)
    print(f"took {time.monotonic() - started:.1f}s")
    print(f"sim: {count} schedules, {safety} safety violations, {liveness} liveness failures")
    return 1 if safety or liveness else 0


if __name__ == "__main__":
    sys.exit(main())
