"""Four validators, real processes, libp2p on 127.0.0.1: finality, one crash, two crashes, and
restarted validators catching up by block sync."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from eth_account import Account
from eth_hash.auto import keccak

from jsc_node.devtools import write_devnet
from jsc_node.p2p.host import peer_id_of
from tests.integration.conftest import DEV_KEY
from tests.integration.nodeproc import NodeProcess

pytestmark = pytest.mark.slow

VALIDATORS = 4
REQUEST_TIMEOUT_S = 2
RECIPIENT = "0x23618e81E3f5cdF7f54C3d65f7FBc0aBf5B21E8f"
FOLLOWER_KEY = keccak(b"jsc-node test follower")


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
        ]
        node.start(wait=False)
    for node in nodes:
        node.wait_ready()
    _wait_for_peers(nodes, VALIDATORS - 1)
    yield nodes
    for node in nodes:
        if node.process is not None and node.process.poll() is None:
            node.stop()


def _wait_for_peers(nodes: list[NodeProcess], want: int, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if all(int(str(n.rpc("net_peerCount")), 16) >= want for n in nodes):
            return
        time.sleep(0.2)
    raise TimeoutError(f"peers not connected: {[n.rpc('net_peerCount') for n in nodes]}")


def _send(node: NodeProcess, nonce: int) -> str:
    raw = Account.sign_transaction(
        {
            "chainId": 1337,
            "nonce": nonce,
            "to": RECIPIENT,
            "value": 1,
            "gas": 21_000,
            "maxFeePerGas": 20 * 10**9,
            "maxPriorityFeePerGas": 10**9,
            "type": 2,
        },
        DEV_KEY,
    ).raw_transaction
    return str(node.rpc("eth_sendRawTransaction", "0x" + raw.hex().removeprefix("0x")))


def _wait_mined_everywhere(nodes: list[NodeProcess], tx_hash: str, timeout_s: float = 60.0) -> int:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        receipts = [n.rpc("eth_getTransactionReceipt", tx_hash) for n in nodes]
        if all(isinstance(r, dict) for r in receipts):
            numbers = {int(r["blockNumber"], 16) for r in receipts if isinstance(r, dict)}
            assert len(numbers) == 1, f"mined at different heights: {numbers}"
            return numbers.pop()
        time.sleep(0.2)
    raise TimeoutError(f"{tx_hash} not mined on every node in {timeout_s} s")


def _assert_same_chain(nodes: list[NodeProcess]) -> int:
    heights = [int(str(n.rpc("eth_blockNumber")), 16) for n in nodes]
    top = min(heights)
    for number in range(top + 1):
        hashes = {str(n.rpc("eth_getBlockByNumber", hex(number), False)["hash"]) for n in nodes}  # type: ignore[index]
        assert len(hashes) == 1, f"fork at height {number}: {hashes}"
    return top


def test_four_validators_finalize_and_survive_one_crash(network: list[NodeProcess]) -> None:
    # Transactions sent to any node are final on all, in the same block.
    for nonce, node in enumerate(network):
        _wait_mined_everywhere(network, _send(node, nonce))
    _assert_same_chain(network)
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
    network[3].kill9()
    alive = network[:3]
    _wait_mined_everywhere(alive, _send(network[0], VALIDATORS), timeout_s=90)
    _assert_same_chain(alive)

    # A second crash leaves 2 of 4 (below the quorum of 3): the chain halts and does not fork.
    network[2].kill9()
    survivors = network[:2]
    before = _assert_same_chain(survivors)
    stalled = _send(network[0], VALIDATORS + 1)
    time.sleep(8)
    assert network[0].rpc("eth_getTransactionReceipt", stalled) is None
    assert _assert_same_chain(survivors) == before

    # validator-2 missed nothing: restarting it restores the quorum and the stalled tx is final.
    restarted = [_restart(network[2])]
    try:
        quorum = [*survivors, *restarted]
        _wait_mined_everywhere(quorum, stalled, timeout_s=120)
        _assert_same_chain(quorum)
        # validator-3 missed every block since its crash: it catches up by sync, then votes again.
        behind = int(str(network[0].rpc("eth_blockNumber")), 16)
        restarted.append(_restart(network[3]))
        _wait_for_height(restarted[1], behind, timeout_s=60)
        _wait_until(lambda: "sync: done at block" in restarted[1].logs(), timeout_s=20)
        everyone = [*survivors, *restarted]
        _wait_mined_everywhere(everyone, _send(network[1], VALIDATORS + 2), timeout_s=60)
        _assert_same_chain(everyone)
    finally:
        for node in restarted:
            node.stop()


def _restart(node: NodeProcess) -> NodeProcess:
    return NodeProcess(
        node.data_path,
        extra_args=node.extra_args,
        http_port=node.http_port,
        ws_port=node.ws_port,
        p2p_port=node.p2p_port,
    ).start()


def _wait_until(condition: Callable[[], bool], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise TimeoutError(f"condition not met in {timeout_s} s")


def _wait_for_height(node: NodeProcess, height: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if int(str(node.rpc("eth_blockNumber")), 16) >= height:
            return
        time.sleep(0.2)
    raise TimeoutError(f"node at {node.rpc('eth_blockNumber')} did not reach {height} in {timeout_s} s")


def test_transactions_gossip_to_the_proposer(network: list[NodeProcess]) -> None:
    # Sent to one node only, each transaction must reach whichever validator proposes next.
    hashes = [_send(network[i % VALIDATORS], i) for i in range(8)]
    for tx_hash in hashes:
        _wait_mined_everywhere(network, tx_hash)
    with httpx.Client() as client:
        for node in network:
            answer = client.post(
                node.url, json={"jsonrpc": "2.0", "id": 1, "method": "net_peerCount", "params": []}
            )
            assert int(answer.json()["result"], 16) == VALIDATORS - 1
    assert _assert_same_chain(network) >= 1


def test_a_fresh_node_syncs_to_head_then_follows_live(network: list[NodeProcess], tmp_path: Path) -> None:
    hashes = []
    for nonce in range(6):  # one block each
        hashes.append(_send(network[nonce % VALIDATORS], nonce))
        _wait_mined_everywhere(network, hashes[-1])
    head = _assert_same_chain(network)
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
        _wait_for_height(follower, head, timeout_s=60)
        _wait_until(lambda: follower.rpc("eth_syncing") is False, timeout_s=20)
        assert "sync: done at block" in follower.logs()
        assert follower.rpc("eth_getTransactionReceipt", hashes[0]) is not None
        # ...then follows live, and a transaction sent to it reaches the validators.
        live = _send(follower, len(hashes))
        _wait_mined_everywhere([*network, follower], live, timeout_s=60)
        _assert_same_chain([*network, follower])
        assert follower.rpc("qbft_getValidatorsByBlockNumber", "latest") == network[0].rpc(
            "qbft_getValidatorsByBlockNumber", "latest"
        )
    finally:
        follower.stop()
