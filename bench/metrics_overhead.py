"""What --metrics-enabled costs the JSON-RPC hot path (README.md, Metrics).

1. In process: one ``RPC_METER.observe`` (the per-call tally; ``flush`` runs once a second) with
   prometheus-client's multiprocess values (mmap files, as a node with --metrics-enabled writes
   them) and with its in-memory values.
2. Two dev nodes in the same run, one with --metrics-enabled: eth_blockNumber over one keep-alive
   connection and over 8, in alternating rounds (median of ROUNDS), so both see the same machine
   load: req/s, and the execution process's CPU time per request (from /proc; on a machine shared
   with other work the CPU per request is the steadier figure).

Run: .venv/bin/python -m bench.metrics_overhead (~2 min); METRICS_AA=1 runs both nodes without
metrics (how far apart two equal nodes measure here).
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from bench.node import cpu_seconds
from bench.rpc import rate, request
from tests.integration.nodeproc import NodeProcess, free_port

ROUNDS = 5
ROUND_S = 4.0
CALLS = 200_000

MICRO = textwrap.dedent(
    f"""
    import time
    from jsc_node.metrics.registry import RPC_METER
    RPC_METER.enabled = True
    for _ in range(1000):
        RPC_METER.observe("eth_blockNumber", 0.0001, False)
    started = time.process_time()  # CPU time: what the call costs, not how busy the machine is
    for _ in range({CALLS}):
        RPC_METER.observe("eth_blockNumber", 0.0001, False)
    print((time.process_time() - started) / {CALLS} * 1e6)
    """
)


def micro(multiproc_dir: str | None) -> float:
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    if multiproc_dir is not None:
        env["PROMETHEUS_MULTIPROC_DIR"] = multiproc_dir
    out = subprocess.run([sys.executable, "-c", MICRO], env=env, capture_output=True, text=True, check=True)
    return float(out.stdout)


def execution_pid(node: NodeProcess) -> int:
    """The node's child that holds LevelDB open."""
    assert node.process is not None
    pid = node.process.pid
    for kid in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
        for fd in Path(f"/proc/{kid}/fd").iterdir():
            try:
                if "chaindata" in os.readlink(fd):
                    return int(kid)
            except OSError:
                continue
    raise RuntimeError("no execution process")


def node_rates(tmp: Path) -> dict[tuple[bool, int], list[tuple[float, float]]]:
    off = NodeProcess(tmp / "off", http_api=None, ws_api=None)
    port = free_port()
    flags = [] if os.environ.get("METRICS_AA") else ["--metrics-enabled", "--metrics-port", str(port)]
    on = NodeProcess(tmp / "on", http_api=None, ws_api=None, extra_args=flags)
    for node in (off, on):
        node.start(wait=False)
    results: dict[tuple[bool, int], list[tuple[float, float]]] = {}
    try:
        off.wait_ready()
        on.wait_ready()
        pids = {False: execution_pid(off), True: execution_pid(on)}
        body = request("eth_blockNumber")
        for _ in range(ROUNDS):
            for enabled, node in ((False, off), (True, on)):
                for clients in (1, 8):
                    cpu = cpu_seconds(pids[enabled])
                    rps, done, errors = asyncio.run(
                        rate(node.http_port, clients, lambda _n: body, ROUND_S, 10**9)
                    )
                    cpu_us = (cpu_seconds(pids[enabled]) - cpu) / done * 1e6
                    assert errors == 0
                    results.setdefault((enabled, clients), []).append((rps, cpu_us))
    finally:
        off.stop()
        on.stop()
    return results


def main() -> None:
    with tempfile.TemporaryDirectory() as mp:
        on_mmap = micro(mp)
    in_memory = micro(None)
    print(f"RPC_METER.observe: {on_mmap:.2f} us (multiprocess mmap values), {in_memory:.2f} us (in memory)")
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        results = node_rates(Path(tmp))
    for clients in (1, 8):
        for what, index, unit in (("req/s", 0, ""), ("execution CPU per request", 1, " us")):
            off = statistics.median(r[index] for r in results[(False, clients)])
            on = statistics.median(r[index] for r in results[(True, clients)])
            print(
                f"eth_blockNumber, {clients} client(s), {what}: {off:,.1f}{unit} metrics off, "
                f"{on:,.1f}{unit} on ({(on - off) / off * 100:+.1f}%; rounds off "
                f"{[round(r[index]) for r in results[(False, clients)]]}, on "
                f"{[round(r[index]) for r in results[(True, clients)]]})"
            )
    print(f"({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
