"""Every metric the execution and consensus processes update, defined once.

Imported by the two working processes (and tests), never by the supervisor: a metric defined in a
process creates that process's value file in multiprocess mode. Whether the values go to mmap
files (``--metrics-enabled``: the supervisor set ``PROMETHEUS_MULTIPROC_DIR`` before it started
the process) or stay in memory (metrics off, unit tests) is prometheus-client's choice at import.

The README's "Metrics" section lists every metric here; ``tests/unit/test_metrics.py`` keeps the two
equal. Gauges name how the supervisor merges per-process values (``multiprocess_mode``): each gauge
here is written by one process only, so ``max`` / ``livesum`` are that process's value.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence
from typing import Final

from prometheus_client import Counter, Gauge, Histogram

from jsc_node.metrics.names import UNKNOWN_METHOD

BLOCK_SECONDS_BUCKETS: Final = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
INCLUSION_SECONDS_BUCKETS: Final = (0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0)
TX_COUNT_BUCKETS: Final = (0, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000)
RPC_SECONDS_BUCKETS: Final = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0)

# --- chain and blocks (execution process) ---------------------------------------------------------

CHAIN_HEAD = Gauge("jsc_chain_head_block", "Number of the canonical head block", multiprocess_mode="max")
CHAIN_FINALIZED = Gauge(
    "jsc_chain_finalized_block",
    "Number of the latest final block (QBFT: every committed block is final, so the head)",
    multiprocess_mode="max",
)
BLOCK_BUILD = Histogram(
    "jsc_block_build_seconds", "Time to build a proposed block (execution)", buckets=BLOCK_SECONDS_BUCKETS
)
BLOCK_VALIDATE = Histogram(
    "jsc_block_validate_seconds",
    "Time to execute and check a proposed block of another validator",
    buckets=BLOCK_SECONDS_BUCKETS,
)
BLOCK_COMMIT = Histogram(
    "jsc_block_commit_seconds",
    "Time to commit a final block (execution and the LevelDB write)",
    buckets=BLOCK_SECONDS_BUCKETS,
)
BLOCK_TRANSACTIONS = Histogram(
    "jsc_block_transactions", "Transactions in each committed block", buckets=TX_COUNT_BUCKETS
)
TX_INCLUSION = Histogram(
    "jsc_tx_inclusion_seconds",
    "Time from a transaction's admission to this node's pool to the commit of the block holding it "
    "(QBFT: its finality)",
    buckets=INCLUSION_SECONDS_BUCKETS,
)
TXPOOL_PENDING = Gauge(
    "jsc_txpool_pending", "Executable transactions in the pool", multiprocess_mode="livesum"
)
TXPOOL_QUEUED = Gauge(
    "jsc_txpool_queued", "Transactions in the pool waiting for a nonce gap", multiprocess_mode="livesum"
)

# --- JSON-RPC (execution process) -----------------------------------------------------------------

RPC_REQUESTS = Counter(
    "jsc_rpc_requests", "JSON-RPC calls answered, per method (unknown ones as one label value)", ["method"]
)
RPC_ERRORS = Counter("jsc_rpc_errors", "JSON-RPC calls answered with an error, per method", ["method"])
RPC_DURATION = Histogram(
    "jsc_rpc_request_duration_seconds",
    "Time to answer one JSON-RPC call, per method",
    ["method"],
    buckets=RPC_SECONDS_BUCKETS,
)
WS_CONNECTIONS = Gauge(
    "jsc_rpc_ws_connections", "Open JSON-RPC WebSocket connections", multiprocess_mode="livesum"
)
WS_SUBSCRIPTIONS = Gauge(
    "jsc_rpc_ws_subscriptions", "Active eth_subscribe subscriptions", multiprocess_mode="livesum"
)

# --- QBFT (consensus process) ---------------------------------------------------------------------

QBFT_ROUND = Gauge(
    "jsc_qbft_round", "Round of the height being decided (0 when all goes well)", multiprocess_mode="max"
)
QBFT_ROUND_CHANGES = Counter(
    "jsc_qbft_round_changes", "Times this node moved to a higher round at the same height"
)
QBFT_TIMEOUTS = Counter("jsc_qbft_timeouts", "QBFT timers that expired, per timer kind", ["kind"])
QBFT_PROPOSALS = Counter(
    "jsc_qbft_proposals",
    "Committed blocks per proposer (the validator whose proposal became the block)",
    ["validator"],
)
QBFT_PROPOSALS_MISSED = Counter(
    "jsc_qbft_proposals_missed",
    "Rounds a validator was the proposer of and the height was decided in a later round",
    ["validator"],
)

# --- p2p and sync (consensus process) -------------------------------------------------------------

P2P_PEERS = Gauge("jsc_p2p_peers", "Connected peers", multiprocess_mode="max")
P2P_PEERS_REFUSED = Counter(
    "jsc_p2p_peers_refused", "Connections refused at the handshake (not a validator or allowlisted)"
)
GOSSIP_RECEIVED = Counter("jsc_gossip_messages_received", "Gossip messages received, per topic", ["topic"])
GOSSIP_FORWARDED = Counter(
    "jsc_gossip_messages_forwarded",
    "Gossip messages accepted and so forwarded by gossipsub, per topic",
    ["topic"],
)
GOSSIP_REJECTED = Counter(
    "jsc_gossip_messages_rejected", "Gossip messages refused by validation, per topic", ["topic"]
)
SYNC_CURRENT = Gauge(
    "jsc_sync_current_block", "Block sync: this node's head while catching up", multiprocess_mode="max"
)
SYNC_HIGHEST = Gauge(
    "jsc_sync_highest_block",
    "Block sync: the highest head peers announced (equal to the current block when not behind)",
    multiprocess_mode="max",
)


def gossip_counters(topic: str) -> tuple[Counter, Counter, Counter]:
    """Received, forwarded and rejected of one topic (``p2p/gossip.py`` takes them once per topic)."""
    return GOSSIP_RECEIVED.labels(topic), GOSSIP_FORWARDED.labels(topic), GOSSIP_REJECTED.labels(topic)


class RpcMeter:
    """Per-method JSON-RPC counts and durations, tallied in plain Python on the hot path and
    handed to the metrics by ``flush()`` (the execution process calls it every second, on the
    event loop that answers the calls, so no lock is needed).

    Why not ``inc()``/``observe()`` per call: in multiprocess mode each of those takes a lock,
    calls getpid() and writes an mmap page; three of them per call measured ~5.5 us in a tight
    loop and ~15 us per eth_blockNumber in a running node (~100 us a call); a tally is a dict
    lookup and a bisect (bench/metrics_overhead.py). The cost is up to a second's delay on the
    RPC metrics, well under any scrape interval.

    ``rpc_label`` decides which names get their own label value: any other name counts under
    ``unknown``, so that a client cannot create series."""

    def __init__(self) -> None:
        self.enabled = False
        """Set by the execution process with --metrics-enabled (metrics/execution.py)."""
        self._tally: dict[str, list[float]] = {}
        """method -> [calls, errors, seconds, then calls per bucket (the last one +Inf)]."""
        self._children: dict[str, tuple[Counter, Counter, Histogram]] = {}

    def observe(self, method: str, seconds: float, failed: bool) -> None:
        row = self._tally.get(method)
        if row is None:
            row = self._tally[method] = [0.0] * (3 + len(RPC_SECONDS_BUCKETS) + 1)
        row[0] += 1
        if failed:
            row[1] += 1
        row[2] += seconds
        # The first bucket whose bound is >= seconds, as Histogram.observe picks it.
        row[3 + bisect_left(RPC_SECONDS_BUCKETS, seconds)] += 1

    def flush(self) -> None:
        tally, self._tally = self._tally, {}
        for method, row in tally.items():
            children = self._children.get(method)
            if children is None:
                children = (
                    RPC_REQUESTS.labels(method),
                    RPC_ERRORS.labels(method),
                    RPC_DURATION.labels(method),
                )
                self._children[method] = children
            requests, errors, duration = children
            requests.inc(row[0])
            if row[1]:
                errors.inc(row[1])
            add_to_histogram(duration, row[2], row[3:])


def add_to_histogram(histogram: Histogram, total: float, counts: Sequence[float]) -> None:
    """What ``observe()`` of each tallied value would have added: ``total`` to the sum and each
    bucket's count (non-cumulative, the +Inf bucket last). prometheus-client has no bulk observe;
    this writes the child's ``_sum`` and ``_buckets`` as ``Histogram.observe`` does in the pinned
    0.26.0 (tests/unit/test_metrics.py compares the two expositions)."""
    buckets = histogram._buckets
    if len(counts) != len(buckets):
        raise ValueError(f"histogram has {len(buckets)} buckets, got {len(counts)} counts")
    histogram._sum.inc(total)
    for bucket, count in zip(buckets, counts, strict=True):
        if count:
            bucket.inc(count)


RPC_METER: Final = RpcMeter()


def rpc_label(method: str, known: bool) -> str:
    return method if known else UNKNOWN_METHOD
