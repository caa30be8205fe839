"""Public-RPC limits against a real node: one client floods heavy ``eth_call``s and huge batches
while another, from another address, polls ``eth_blockNumber``; the well-behaved client's p99 stays
under P99_BOUND_S and the dev chain keeps making a block a second.

The two clients come from two loopback addresses (127.0.0.1 and 127.0.0.2: the whole 127/8 is
the loopback on Linux), so the per-address rate limit (``--rpc-rate-limit``) tells them apart.
The flood is bounded in time (FLOOD_S) and in threads. The node also runs with
``--host-allowlist=*`` (any Host served)."""

from __future__ import annotations

import statistics
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from tests.integration.nodeproc import NodeProcess

P99_BOUND_S = 1.0
"""The documented bound for the well-behaved client's p99 under the flood (a loaded 2-core CI
machine; measured here: README, Security)."""
FLOOD_S = 6.0
POLL_INTERVAL_S = 0.1
RATE = 20
BURST = 20
LOOPER = "0x00000000000000000000000000000000000000aa"
LOOP_CODE = "0x5b600056"  # JUMPDEST PUSH1 0 JUMP: runs until its gas is gone (~20 ms at 50k gas)


def heavy_call(request_id: int) -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "id": request_id,
        "method": "eth_call",
        "params": [{"to": LOOPER, "gas": hex(50_000)}, "latest", {LOOPER: {"code": LOOP_CODE}}],
    }


@dataclass
class FloodReport:
    latencies_s: list[float]
    first_block: int
    last_block: int
    flood_statuses: Counter[int] = field(default_factory=Counter)

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies_s)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    @property
    def p50(self) -> float:
        return statistics.median(self.latencies_s)

    @property
    def p99(self) -> float:
        return self.percentile(0.99)


def flood(node: NodeProcess, seconds: float = FLOOD_S) -> FloodReport:
    """Flood ``node`` from 127.0.0.1 (two threads of single heavy calls, two of batches of 1024 and
    of BURST heavy calls) while polling eth_blockNumber from 127.0.0.2; bounded by ``seconds``."""
    stop = threading.Event()
    statuses: Counter[int] = Counter()
    lock = threading.Lock()

    def flooder(batch_sizes: tuple[int, ...]) -> None:
        with httpx.Client(timeout=httpx.Timeout(30, connect=5)) as client:
            n = 0
            while not stop.is_set():
                size = batch_sizes[n % len(batch_sizes)]
                n += 1
                body: Any = heavy_call(n) if size == 1 else [heavy_call(i) for i in range(size)]
                try:
                    status = client.post(node.url, json=body).status_code
                except httpx.HTTPError:
                    status = 0
                with lock:
                    statuses[status] += 1

    threads = [threading.Thread(target=flooder, args=((1,),)) for _ in range(2)]
    threads += [threading.Thread(target=flooder, args=((1024, BURST),)) for _ in range(2)]
    transport = httpx.HTTPTransport(local_address="127.0.0.2")
    latencies: list[float] = []
    with httpx.Client(transport=transport, timeout=10) as polite:

        def block_number() -> int:
            started = time.perf_counter()
            answer = polite.post(node.url, json={"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber"})
            latencies.append(time.perf_counter() - started)
            assert answer.status_code == 200, answer.text
            return int(answer.json()["result"], 16)

        first = block_number()
        latencies.clear()
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + seconds
        last = first
        try:
            while time.monotonic() < deadline:
                last = block_number()
                time.sleep(POLL_INTERVAL_S)
        finally:
            stop.set()
            for thread in threads:
                thread.join(60)
    return FloodReport(latencies, first, last, statuses)


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Any:
    args = ["--rpc-rate-limit", str(RATE), "--rpc-rate-limit-burst", str(BURST), "--host-allowlist", "*"]
    proc = NodeProcess(tmp_path_factory.mktemp("flood") / "data", extra_args=args).start()
    yield proc
    proc.stop()


def test_host_allowlist_star_serves_any_host(node: NodeProcess) -> None:
    answer = httpx.post(
        node.url,
        content=b'{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]}',
        headers={"Host": "evil.example", "Content-Type": "application/json"},
        timeout=10,
    )
    assert answer.status_code == 200
    assert answer.json()["result"] == "0x539"


def test_flood_is_limited_and_the_polite_client_keeps_its_latency(node: NodeProcess) -> None:
    report = flood(node)
    print(
        f"polite eth_blockNumber under flood: p50 {report.p50 * 1000:.1f} ms, p99 {report.p99 * 1000:.1f} ms"
    )
    print(f"flood answers by status: {dict(report.flood_statuses)}")
    assert len(report.latencies_s) >= 20
    assert report.p99 < P99_BOUND_S
    # The flood met the limit (429) and was still served within it (200).
    assert report.flood_statuses[429] > 0
    assert report.flood_statuses[200] > 0
    assert report.flood_statuses[0] == 0
    # Block production did not stall: ~1 block a second on the dev chain.
    assert report.last_block >= report.first_block + int(FLOOD_S) // 2
    # And the node is still fine for the flooder once it slows down.
    time.sleep(BURST / RATE)
    answer = httpx.post(node.url, json=heavy_call(1), timeout=10).json()
    assert answer["error"]["message"] == "out of gas"
