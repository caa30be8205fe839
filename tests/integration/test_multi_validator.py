"""Four validators, real processes, libp2p on 127.0.0.1: finality, one crash, two crashes, and
restarted validators catching up by block sync. Validator 0 serves /metrics: the crash's round
changes, round timeouts and the crashed validator's missed proposals show there."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from eth_keys import keys as eth_keys
from prometheus_client.parser import text_string_to_metric_families

from jsc_node.devtools import write_devnet
from jsc_node.p2p.host import peer_id_of
from tests.integration.nodeproc import NodeProcess, free_port
from tests.integration.qbftnet import (
    FOLLOWER_KEY,
    assert_same_chain,
    restart,
    send_tx,
    wait_for_height,
    wait_for_peers,
    wait_mined_everywhere,
    wait_until,
)

pytestmark = pytest.mark.slow

VALIDATORS = 4
REQUEST_TIMEOUT_S = 2
METRICS_PORT_ARG = "--metrics-port"


def node_address(node: NodeProcess) -> str:
    key_file = Path(node.extra_args[node.extra_args.index("--node-private-key-file") + 1])
    key = eth_keys.PrivateKey(bytes.fromhex(key_file.read_text().strip().removeprefix("0x")))
    return "0x" + key.public_key.to_canonical_address().hex()


def qbft_metrics(node: NodeProcess) -> dict[tuple[str, str], float]:
    """``(name, validator or kind label)`` to value of the jsc_qbft_* samples of ``node``'s /metrics."""
    port = node.extra_args[node.extra_args.index(METRICS_PORT_ARG) + 1]
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    return {
        (sample.name, sample.labels.get("validator", sample.labels.get("kind", ""))): sample.value
        for family in text_string_to_metric_families(text)
        if family.name.startswith("jsc_qbft_")
        for sample in family.samples
    }


@pytest.fixture
def network(tmp_path: Path) -> Iterator[list[NodeProcess]]:
    keys = write_devnet(
        tmp_path / "net", VALIDATORS, chain_id=1337, block_period_s=1, timestamp=int(time.time())
    )
    # Short round timeouts (round r waits 2 * 2**r s) keep the crash scenarios quick.
    genesis_path = tmp_path / "net" / "genesis.json"
    genesis = json.loads(genesis_path.read_text())
    genesis["config"]["qbft"]["requesttimeoutseconds"] = REQUEST_TIMEOUT_S
    genesis_path.write_text(json.dumps(genesis))
    nodes = [NodeProcess(tmp_path / f"node-{k.index}") for k in keys]
    # A non-validator (RPC) node the validators admit: its peer ID in their nodes allowlist.
    (tmp_path / "follower.key").write_text(FOLLOWER_KEY.hex())
    (tmp_path / "permissions.toml").write_text(f'nodes-allowlist = ["{peer_id_of(FOLLOWER_KEY)}"]\n')
    # No peer discovery yet: every validator lists the others, so any two stay connected.
    boot = [
        f"/ip4/127.0.0.1/tcp/{n.p2p_port}/p2p/{peer_id_of(k.private_key)}"
        for n, k in zip(nodes, keys, strict=True)
    ]
    for node, key in zip(nodes, keys, strict=True):
        node.extra_args = [
            "--genesis-file",
            str(tmp_path / "net" / "genesis.json"),
            "--node-private-key-file",
            str(tmp_path / "net" / f"validator-{key.index}" / "key"),
            "--bootnodes",
            ",".join(b for b in boot if f"/tcp/{node.p2p_port}/" not in b),
            "--permissions-nodes-config-file",
            str(tmp_path / "permissions.toml"),
            *(["--metrics-enabled", METRICS_PORT_ARG, str(free_port())] if key.index == 0 else []),
        ]
        node.start(wait=False)
    for node in nodes:
        node.wait_ready()
    wait_for_peers(nodes, VALIDATORS - 1)
    yield nodes
    for node in nodes:
        if node.process is not None and node.process.poll() is None:
            node.stop()


def test_four_validators_finalize_and_survive_one_crash(network: list[NodeProcess]) -> None:
    # Transactions sent to any node are final on all, in the same block.
    for nonce, node in enumerate(network):
        wait_mined_everywhere(network, send_tx(node, nonce))
    assert_same_chain(network)
    for node in network:
        assert node.rpc("qbft_getValidatorsByBlockNumber", "latest") == network[0].rpc(
            "qbft_getValidatorsByBlockNumber", "latest"
        )
    # admin_* tell the truth about the libp2p view.
    ids = [node.rpc("admin_nodeInfo")["id"] for node in network]  # type: ignore[index]
    assert len(set(ids)) == VALIDATORS
    peers = network[0].rpc("admin_peers")
    assert isinstance(peers, list)
    assert sorted(p["id"] for p in peers) == sorted(ids[1:])

    # kill -9 one validator (f = 1): the other three keep finalizing.
    crashed = node_address(network[3])
    before = qbft_metrics(network[0])
    assert before[("jsc_qbft_proposals_total", crashed)] >= 1  # it proposed while alive
    network[3].kill9()
    alive = network[:3]
    # Blocks come with transactions only (a 60 s empty-block period): within four heights the
    # crashed validator's turn comes, round 0 times out and the next round's proposer decides.
    for nonce in range(VALIDATORS, 2 * VALIDATORS):
        wait_mined_everywhere(alive, send_tx(network[0], nonce), timeout_s=90)
    assert_same_chain(alive)
    wait_until(
        lambda: qbft_metrics(network[0])[("jsc_qbft_proposals_missed_total", crashed)] >= 1, timeout_s=10
    )
    after = qbft_metrics(network[0])
    assert after[("jsc_qbft_round_changes_total", "")] > before[("jsc_qbft_round_changes_total", "")]
    assert after[("jsc_qbft_timeouts_total", "round")] > before[("jsc_qbft_timeouts_total", "round")]
    assert after[("jsc_qbft_proposals_total", crashed)] == before[("jsc_qbft_proposals_total", crashed)]
    assert len([k for (name, k) in after if name == "jsc_qbft_proposals_total"]) == VALIDATORS

    # A second crash leaves 2 of 4 (below the quorum of 3): the chain halts and does not fork.
    network[2].kill9()
    survivors = network[:2]
    before = assert_same_chain(survivors)
    stalled = send_tx(network[0], 2 * VALIDATORS)
    time.sleep(8)
    assert network[0].rpc("eth_getTransactionReceipt", stalled) is None
    assert assert_same_chain(survivors) == before

    # validator-2 missed nothing: restarting it restores the quorum and the stalled tx is final.
    restarted = [restart(network[2])]
    try:
        quorum = [*survivors, *restarted]
        wait_mined_everywhere(quorum, stalled, timeout_s=120)
        assert_same_chain(quorum)
        # validator-3 missed every block since its crash: it catches up by sync, then votes again.
        behind = int(str(network[0].rpc("eth_blockNumber")), 16)
        restarted.append(restart(network[3]))
        wait_for_height(restarted[1], behind, timeout_s=60)
        wait_until(lambda: "sync: done at block" in restarted[1].logs(), timeout_s=20)
        everyone = [*survivors, *restarted]
        wait_mined_everywhere(everyone, send_tx(network[1], 2 * VALIDATORS + 1), timeout_s=60)
        assert_same_chain(everyone)
    finally:
        for node in restarted:
            node.stop()


def test_transactions_gossip_to_the_proposer(network: list[NodeProcess]) -> None:
    # Sent to one node only, each transaction must reach whichever validator proposes next.
    hashes = [send_tx(network[i % VALIDATORS], i) for i in range(8)]
    for tx_hash in hashes:
        wait_mined_everywhere(network, tx_hash)
    with httpx.Client() as client:
        for node in network:
            answer = client.post(
                node.url, json={"jsonrpc": "2.0", "id": 1, "method": "net_peerCount", "params": []}
            )
            assert int(answer.json()["result"], 16) == VALIDATORS - 1
    assert assert_same_chain(network) >= 1


def test_a_fresh_node_syncs_to_head_then_follows_live(network: list[NodeProcess], tmp_path: Path) -> None:
    hashes = []
    for nonce in range(6):  # one block each
        hashes.append(send_tx(network[nonce % VALIDATORS], nonce))
        wait_mined_everywhere(network, hashes[-1])
    head = assert_same_chain(network)
    assert head >= 6
    # A fifth node, empty data dir, not a validator: it syncs what it missed...
    follower = NodeProcess(
        tmp_path / "follower",
        extra_args=[
            *network[0].extra_args[:2],  # --genesis-file
            "--node-private-key-file",
            str(tmp_path / "follower.key"),
            "--bootnodes",
            ",".join(
                f"/ip4/127.0.0.1/tcp/{n.p2p_port}/p2p/{n.rpc('admin_nodeInfo')['id']}"  # type: ignore[index]
                for n in network
            ),
            "--permissions-nodes-config-file",
            str(tmp_path / "permissions.toml"),
        ],
    ).start()
    try:
        wait_for_height(follower, head, timeout_s=60)
        wait_until(lambda: follower.rpc("eth_syncing") is False, timeout_s=20)
        assert "sync: done at block" in follower.logs()
        assert follower.rpc("eth_getTransactionReceipt", hashes[0]) is not None
        # ...then follows live, and a transaction sent to it reaches the validators.
        live = send_tx(follower, len(hashes))
        wait_mined_everywhere([*network, follower], live, timeout_s=60)
        assert_same_chain([*network, follower])
        assert follower.rpc("qbft_getValidatorsByBlockNumber", "latest") == network[0].rpc(
            "qbft_getValidatorsByBlockNumber", "latest"
        )
    finally:
        follower.stop()
