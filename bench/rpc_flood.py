"""The polite client's eth_blockNumber latency under the flood of tests/integration/test_rpc_flood.py,
with and without --rpc-rate-limit, and how long a third client's eth_call waits once the flood
stops (the figures of README.md, Security). Run: .venv/bin/python -m bench.rpc_flood (~3 min)."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import httpx

from tests.integration.nodeproc import NodeProcess
from tests.integration.test_rpc_flood import BURST, RATE, flood

BLOCK_NUMBER = {"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber"}
LIGHT_CALL = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "eth_call",
    "params": [{"to": "0x00000000000000000000000000000000000000bb"}, "latest"],
}


def idle(node: NodeProcess) -> tuple[float, float]:
    latencies = []
    with httpx.Client(transport=httpx.HTTPTransport(local_address="127.0.0.2"), timeout=10) as client:
        for _ in range(120):
            started = time.perf_counter()
            client.post(node.url, json=BLOCK_NUMBER)
            latencies.append(time.perf_counter() - started)
            time.sleep(0.05)
    latencies.sort()
    return latencies[len(latencies) // 2], latencies[int(0.99 * len(latencies))]


def main() -> None:
    limited = ["--rpc-rate-limit", str(RATE), "--rpc-rate-limit-burst", str(BURST)]
    for label, args in (("no rate limit", []), (f"--rpc-rate-limit {RATE} burst {BURST}", limited)):
        node = NodeProcess(Path(tempfile.mkdtemp()) / "data", extra_args=args).start()
        try:
            p50, p99 = idle(node)
            report = flood(node)
            with httpx.Client(transport=httpx.HTTPTransport(local_address="127.0.0.3"), timeout=300) as third:
                started = time.perf_counter()
                third.post(node.url, json=LIGHT_CALL)
                after = time.perf_counter() - started
            print(
                f"{label}: idle p50 {p50 * 1000:.1f} ms p99 {p99 * 1000:.1f} ms; under the flood "
                f"p50 {report.p50 * 1000:.1f} ms p99 {report.p99 * 1000:.1f} ms "
                f"({len(report.latencies_s)} polls); blocks {report.first_block}->{report.last_block}; "
                f"flood answers {dict(report.flood_statuses)}; a third client's eth_call after it {after:.2f} s",
                flush=True,
            )
        finally:
            node.stop()


if __name__ == "__main__":
    main()
