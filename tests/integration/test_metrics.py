"""A real node with ``--metrics-enabled``: ``GET /metrics`` under a small load (a few transfers,
RPC calls, a WebSocket subscription) shows every metric the README lists, with sane values: the
head equals eth_blockNumber, counters increase between two scrapes, histograms have counts, both
working processes report (their values merged by the supervisor), and unknown JSON-RPC methods
fold into one label value."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import httpx
import pytest
from eth_account import Account
from eth_keys import keys
from prometheus_client.parser import text_string_to_metric_families
from websockets.sync.client import connect

from jsc_node.genesis import DEV_VALIDATOR_KEY
from jsc_node.p2p.host import peer_id_of
from tests.integration.conftest import DEV_KEY
from tests.integration.nodeproc import NodeProcess, free_port
from tests.unit.test_metrics import readme_metrics

RECIPIENT = "0x000000000000000000000000000000000000bEEF"

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@dataclass
class MetricsNode(NodeProcess):
    metrics_port: int = field(default_factory=free_port)
    first_readiness: tuple[int, dict[str, object]] | None = None
    """The follower's GET /readiness answer before any peer would have it."""

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port}/metrics"


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MetricsNode]:
    """The dev chain's validator; its nodes allowlist (empty: it admits no follower yet) is
    ``allowlist.toml`` next to its data dir."""
    proc = MetricsNode(tmp_path_factory.mktemp("metrics") / "data")
    allowlist = proc.data_path.parent / "allowlist.toml"
    allowlist.write_text("nodes-allowlist = []\n")
    proc.extra_args = [
        "--metrics-enabled",
        "--metrics-port",
        str(proc.metrics_port),
        "--permissions-nodes-config-file",
        str(allowlist),
    ]
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()


def scrape(node: MetricsNode) -> Samples:
    response = httpx.get(node.metrics_url, timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def exported(node: MetricsNode) -> set[str]:
    """Metric names as the README writes them (a counter with its ``_total``)."""
    text = httpx.get(node.metrics_url, timeout=10).text
    return {
        family.name + ("_total" if family.type == "counter" else "")
        for family in text_string_to_metric_families(text)
        if family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


def counted(samples: Samples, name: str, **labels: str) -> float:
    """A counter's value, 0 before its series exists (a method not called yet)."""
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def names(samples: Samples) -> set[str]:
    return {name for name, _labels in samples}


def _transfer(node: MetricsNode, nonce: int) -> str:
    tx = {
        "chainId": 1337,
        "nonce": nonce,
        "to": RECIPIENT,
        "value": 1,
        "gas": 21_000,
        "maxFeePerGas": 20 * 10**9,
        "maxPriorityFeePerGas": 10**9,
        "type": 2,
    }
    raw = "0x" + Account.sign_transaction(tx, DEV_KEY).raw_transaction.hex().removeprefix("0x")
    return str(node.rpc("eth_sendRawTransaction", raw))


def _wait_receipt(node: MetricsNode, tx_hash: str, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if node.rpc("eth_getTransactionReceipt", tx_hash) is not None:
            return
        time.sleep(0.1)
    raise TimeoutError(f"no receipt for {tx_hash}")


@pytest.fixture(scope="module")
def loaded(node: MetricsNode) -> Samples:
    """Three transfers final, then a scrape."""
    nonce = int(str(node.rpc("eth_getTransactionCount", Account.from_key(DEV_KEY).address, "pending")), 16)
    hashes = [_transfer(node, nonce + i) for i in range(3)]
    for tx_hash in hashes:
        _wait_receipt(node, tx_hash)
    return scrape(node)


def test_head_and_finalized_equal_eth_block_number(node: MetricsNode, loaded: Samples) -> None:
    node.wait_for_block(2)
    before = int(str(node.rpc("eth_blockNumber")), 16)
    samples = scrape(node)
    after = int(str(node.rpc("eth_blockNumber")), 16)
    head = value(samples, "jsc_chain_head_block")
    assert before <= head <= after
    assert value(samples, "jsc_chain_finalized_block") == head  # QBFT: final at commit


def test_block_histograms_have_counts(node: MetricsNode, loaded: Samples) -> None:
    head = value(loaded, "jsc_chain_head_block")
    # A lone validator builds every block and commits it; it validates none of its own.
    assert value(loaded, "jsc_block_build_seconds_count") >= 1
    assert value(loaded, "jsc_block_commit_seconds_count") >= 1
    assert value(loaded, "jsc_block_commit_seconds_count") <= head
    assert value(loaded, "jsc_block_commit_seconds_sum") > 0
    assert value(loaded, "jsc_block_validate_seconds_count") == 0
    assert value(loaded, "jsc_block_transactions_count") == value(loaded, "jsc_block_commit_seconds_count")
    assert value(loaded, "jsc_block_transactions_sum") >= 3
    # Each transfer's wait from pool admission to its block's commit: positive, under a minute.
    count = value(loaded, "jsc_tx_inclusion_seconds_count")
    assert count >= 3
    assert 0 < value(loaded, "jsc_tx_inclusion_seconds_sum") < 60 * count
    assert value(loaded, "jsc_tx_inclusion_seconds_bucket", le="+Inf") == count


def test_pool_counts(loaded: Samples) -> None:
    # Every transfer is final: nothing waits (the gauges follow each commit).
    assert value(loaded, "jsc_txpool_pending") == 0
    assert value(loaded, "jsc_txpool_queued") == 0


def test_rpc_counters_increase_and_unknown_methods_fold(node: MetricsNode, loaded: Samples) -> None:
    first = scrape(node)
    for _ in range(3):
        node.rpc("eth_blockNumber")
    for name in ("nope_one", "nope_two", "eth_noSuchMethod"):
        with pytest.raises(RuntimeError, match="does not exist"):
            node.rpc(name)
    # The execution process passes its RPC tallies on every second.
    wait_for(
        "the calls counted",
        lambda: (
            counted(scrape(node), "jsc_rpc_errors_total", method="unknown")
            >= counted(first, "jsc_rpc_errors_total", method="unknown") + 3
        ),
    )
    second = scrape(node)
    grew = value(second, "jsc_rpc_requests_total", method="eth_blockNumber") - counted(
        first, "jsc_rpc_requests_total", method="eth_blockNumber"
    )
    assert grew >= 3
    assert value(second, "jsc_rpc_request_duration_seconds_count", method="eth_blockNumber") >= grew
    assert value(second, "jsc_rpc_errors_total", method="eth_blockNumber") == 0
    unknown = value(second, "jsc_rpc_errors_total", method="unknown") - counted(
        first, "jsc_rpc_errors_total", method="unknown"
    )
    assert unknown == 3
    labels = {dict(lb).get("method") for name, lb in second if name == "jsc_rpc_requests_total"}
    assert not labels & {"nope_one", "nope_two", "eth_noSuchMethod"}
    assert value(second, "jsc_rpc_requests_total", method="eth_sendRawTransaction") >= 3


def test_websocket_connections_and_subscriptions(node: MetricsNode, loaded: Samples) -> None:
    base = scrape(node)
    with connect(f"ws://127.0.0.1:{node.ws_port}") as ws:
        ws.send('{"jsonrpc":"2.0","id":1,"method":"eth_subscribe","params":["newHeads"]}')
        assert '"result"' in str(ws.recv(timeout=10))
        wait_for(
            "eth_subscribe counted",
            lambda: ("jsc_rpc_requests_total", (("method", "eth_subscribe"),)) in scrape(node),
        )
        during = scrape(node)
        assert value(during, "jsc_rpc_ws_connections") == value(base, "jsc_rpc_ws_connections") + 1
        assert value(during, "jsc_rpc_ws_subscriptions") == value(base, "jsc_rpc_ws_subscriptions") + 1
        assert value(during, "jsc_rpc_requests_total", method="eth_subscribe") >= 1
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        after = scrape(node)
        if value(after, "jsc_rpc_ws_connections") == value(base, "jsc_rpc_ws_connections"):
            break
        time.sleep(0.1)
    assert value(after, "jsc_rpc_ws_connections") == value(base, "jsc_rpc_ws_connections")
    assert value(after, "jsc_rpc_ws_subscriptions") == value(base, "jsc_rpc_ws_subscriptions")


def test_process_metrics_for_each_process(node: MetricsNode, loaded: Samples) -> None:
    first = scrape(node)
    for process in ("main", "execution", "consensus"):
        assert value(first, "process_cpu_seconds_total", process=process) > 0
        assert value(first, "process_resident_memory_bytes", process=process) > 10 * 2**20
        assert value(first, "process_open_fds", process=process) >= 3
    node.rpc("eth_getBlockByNumber", "latest", True)
    second = scrape(node)
    assert value(second, "process_cpu_seconds_total", process="execution") >= value(
        first, "process_cpu_seconds_total", process="execution"
    )


def test_leveldb_size_on_disk(node: MetricsNode, loaded: Samples) -> None:
    chaindata = node.data_path / "chaindata"
    on_disk = sum(p.stat().st_size for p in chaindata.rglob("*") if p.is_file())
    size = value(loaded, "jsc_leveldb_size_bytes")
    assert size > 0
    assert size == pytest.approx(on_disk, rel=0.5)


def test_every_metric_the_readme_lists_is_exported(node: MetricsNode, loaded: Samples) -> None:
    listed = readme_metrics()
    assert len(listed) >= 30
    assert listed <= exported(node)


def test_dashboard_and_alert_queries_name_exported_metrics(node: MetricsNode, loaded: Samples) -> None:
    """Every metric the Grafana dashboard (docker/grafana/dashboards/jsc-node.json) and the alert
    rules (docker/prometheus/alerts.yml) select is a series this running node serves, as scraped
    (a histogram's _bucket/_sum/_count, a counter's _total); only Prometheus' own `up` is not."""
    from tests.unit.test_deploy_recipes import (
        PROMETHEUS_SYNTHETIC,
        alert_expressions,
        dashboard_expressions,
        promql_metric_names,
    )

    served = names(scrape(node))
    for expr in dashboard_expressions() + alert_expressions():
        missing = promql_metric_names(expr) - served - PROMETHEUS_SYNTHETIC
        assert not missing, f"{expr!r} selects {sorted(missing)}, which the node does not serve"


def test_consensus_process_metrics_reach_the_scrape(node: MetricsNode, loaded: Samples) -> None:
    # The lone dev validator proposes every block, in round 0, and has no peer.
    from eth_keys import keys

    from jsc_node.genesis import DEV_VALIDATOR_KEY

    validator = "0x" + keys.PrivateKey(DEV_VALIDATOR_KEY).public_key.to_canonical_address().hex()
    first = scrape(node)
    made = value(first, "jsc_qbft_proposals_total", validator=validator)
    assert made >= value(first, "jsc_block_commit_seconds_count") - 1 > 0
    assert value(first, "jsc_qbft_proposals_missed_total", validator=validator) == 0
    assert value(first, "jsc_qbft_round") == 0
    assert value(first, "jsc_qbft_round_changes_total") == 0
    assert value(first, "jsc_qbft_timeouts_total", kind="round") == 0
    assert value(first, "jsc_p2p_peers") == 0
    head = value(first, "jsc_chain_head_block")
    assert (
        head - 2 <= value(first, "jsc_sync_current_block") == value(first, "jsc_sync_highest_block") <= head
    )
    for topic in ("qbft", "blocks", "txs"):
        assert value(first, "jsc_gossip_messages_received_total", topic=topic) == 0
    node.wait_for_block(int(head) + 1)
    second = scrape(node)
    assert value(second, "jsc_qbft_proposals_total", validator=validator) > made


# --- a follower: peers, refusals, gossip, sync ------------------------------------------------------

FOLLOWER_SECRET = bytes.fromhex("11" * 32)


def wait_for(what: str, condition: Callable[[], bool], timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise TimeoutError(f"{what}: not in {timeout_s} s")


@pytest.fixture(scope="module")
def follower(node: MetricsNode, loaded: Samples) -> Iterator[MetricsNode]:
    """A non-validator node of the dev chain that the validator's nodes allowlist admits: it
    catches up by block sync and follows by gossip."""
    node.wait_for_block(int(value(loaded, "jsc_chain_head_block")) + 3)  # something to sync
    proc = MetricsNode(node.data_path.parent / "follower")
    key_file = node.data_path.parent / "follower.key"
    key_file.write_text(FOLLOWER_SECRET.hex())
    proc.extra_args = [
        "--metrics-enabled",
        "--metrics-port",
        str(proc.metrics_port),
        "--node-private-key-file",
        str(key_file),
        "--bootnodes",
        f"/ip4/127.0.0.1/tcp/{node.p2p_port}/p2p/{peer_id_of(DEV_VALIDATOR_KEY)}",
    ]
    # Started while the validator's allowlist refuses it: a fresh node with no peer is not ready.
    proc.start()
    try:
        answer = httpx.get(f"{proc.url}/readiness", timeout=10)
        proc.first_readiness = (answer.status_code, answer.json())
        allowlist = node.data_path.parent / "allowlist.toml"
        allowlist.write_text(f'nodes-allowlist = ["{peer_id_of(FOLLOWER_SECRET)}"]\n')
        wait_for("the allowlist reloaded", lambda: "nodes allowlist reloaded" in node.logs())
        wait_for(
            "peered",
            lambda: value(scrape(node), "jsc_p2p_peers") == value(scrape(proc), "jsc_p2p_peers") == 1,
        )
        yield proc
    finally:
        proc.stop()


def test_follower_peers_syncs_and_follows_gossip(node: MetricsNode, follower: MetricsNode) -> None:
    assert value(scrape(node), "jsc_p2p_peers") == 1

    def caught_up() -> bool:
        got = scrape(follower)
        head = value(got, "jsc_chain_head_block")
        return (
            head >= value(scrape(node), "jsc_chain_head_block") - 1
            and value(got, "jsc_gossip_messages_forwarded_total", topic="blocks") >= 1
        )

    wait_for("follower caught up and following", caught_up)
    # Besu's /readiness: DOWN with no peer (a networked node), UP once peered and caught up.
    assert follower.first_readiness is not None
    status, body = follower.first_readiness
    assert (status, body["status"], body["peers"], body["networked"]) == (503, "DOWN", 0, True)
    answer = httpx.get(f"{follower.url}/readiness", timeout=10)
    assert (answer.status_code, answer.json()["status"], answer.json()["peers"]) == (200, "UP", 1)
    assert answer.json()["blocksBehind"] <= 2
    assert httpx.get(f"{follower.url}/liveness", timeout=10).json() == {"status": "UP"}
    # A transfer sent to the follower: gossiped to the validator (txs topic), final on both.
    nonce = int(
        str(follower.rpc("eth_getTransactionCount", Account.from_key(DEV_KEY).address, "pending")), 16
    )
    tx_hash = _transfer(follower, nonce)
    _wait_receipt(follower, tx_hash)
    _wait_receipt(node, tx_hash)
    ours, theirs = scrape(follower), scrape(node)
    assert value(theirs, "jsc_gossip_messages_received_total", topic="txs") >= 1
    assert value(theirs, "jsc_gossip_messages_forwarded_total", topic="txs") >= 1
    for samples in (ours, theirs):
        assert value(samples, "jsc_gossip_messages_rejected_total", topic="txs") == 0
        assert value(samples, "jsc_gossip_messages_rejected_total", topic="blocks") == 0
        assert value(samples, "jsc_tx_inclusion_seconds_count") >= 1
    blocks = value(ours, "jsc_gossip_messages_received_total", topic="blocks")
    assert blocks >= value(ours, "jsc_gossip_messages_forwarded_total", topic="blocks") >= 1
    # The follower executes no proposal and builds none: it commits the sealed blocks.
    assert value(ours, "jsc_block_build_seconds_count") == 0
    assert value(ours, "jsc_block_commit_seconds_count") >= value(ours, "jsc_chain_head_block") - 1
    head = value(ours, "jsc_chain_head_block")
    assert (
        head - 2 <= value(ours, "jsc_sync_current_block") <= value(ours, "jsc_sync_highest_block") <= head + 2
    )
    # Its proposals counter names the validator that proposed the blocks it committed.
    validator_address = "0x" + keys.PrivateKey(DEV_VALIDATOR_KEY).public_key.to_canonical_address().hex()
    assert value(ours, "jsc_qbft_proposals_total", validator=validator_address) >= 1

    # Off the allowlist: the validator drops the follower and refuses its next dial.
    refused = value(scrape(node), "jsc_p2p_peers_refused_total")
    (node.data_path.parent / "allowlist.toml").write_text("nodes-allowlist = []\n")
    wait_for(
        "the follower refused",
        lambda: (
            value(now := scrape(node), "jsc_p2p_peers_refused_total") > refused
            and value(now, "jsc_p2p_peers") == 0
        ),
    )
