"""Helpers for tests that run several `jsc-node run` processes as one QBFT network on 127.0.0.1:
send a dev-account transfer, wait for it on every node, compare chains, restart a node."""

from __future__ import annotations

import time
from collections.abc import Callable

from eth_account import Account
from eth_hash.auto import keccak

from tests.integration.conftest import DEV_KEY
from tests.integration.nodeproc import NodeProcess

RECIPIENT = "0x23618e81E3f5cdF7f54C3d65f7FBc0aBf5B21E8f"
FOLLOWER_KEY = keccak(b"jsc-node test follower")
"""A non-validator node's key; tests admit its peer ID with a nodes allowlist file."""
STEP_TIMEOUT_S = 60.0


def wait_until(
    condition: Callable[[], bool], timeout_s: float, what: Callable[[], str] | None = None
) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise TimeoutError(f"{what() if what else 'condition'}: not in {timeout_s} s")


def heads(nodes: list[NodeProcess]) -> list[int]:
    return [int(str(n.rpc("eth_blockNumber")), 16) for n in nodes]


def wait_for_peers(nodes: list[NodeProcess], want: int, timeout_s: float = 30.0) -> None:
    wait_until(
        lambda: all(int(str(n.rpc("net_peerCount")), 16) >= want for n in nodes),
        timeout_s,
        lambda: f"{want} peers each (now {[n.rpc('net_peerCount') for n in nodes]})",
    )


def wait_for_height(node: NodeProcess, height: int, timeout_s: float) -> None:
    wait_until(
        lambda: heads([node])[0] >= height,
        timeout_s,
        lambda: f"height {height} (node at {heads([node])[0]})",
    )


def send_tx(node: NodeProcess, nonce: int) -> str:
    """A 1-wei transfer from the dev account, sent to ``node``; its hash."""
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


def wait_mined_everywhere(nodes: list[NodeProcess], tx_hash: str, timeout_s: float = STEP_TIMEOUT_S) -> int:
    """Until ``tx_hash`` has a receipt on every node; the (single) block number it is in."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        receipts = [n.rpc("eth_getTransactionReceipt", tx_hash) for n in nodes]
        if all(isinstance(r, dict) for r in receipts):
            numbers = {int(r["blockNumber"], 16) for r in receipts if isinstance(r, dict)}
            assert len(numbers) == 1, f"mined at different heights: {numbers}"
            return numbers.pop()
        time.sleep(0.2)
    raise TimeoutError(f"{tx_hash} not mined on every node in {timeout_s} s: {heads(nodes)}")


def assert_same_chain(nodes: list[NodeProcess]) -> int:
    """Every node has the same block hash at every height up to the lowest head; that head."""
    top = min(heads(nodes))
    for number in range(top + 1):
        hashes = {str(n.rpc("eth_getBlockByNumber", hex(number), False)["hash"]) for n in nodes}  # type: ignore[index]
        assert len(hashes) == 1, f"fork at height {number}: {hashes}"
    return top


def restart(node: NodeProcess) -> NodeProcess:
    """The same node (data dir, flags, ports) started again."""
    return NodeProcess(
        node.data_path,
        extra_args=node.extra_args,
        http_port=node.http_port,
        ws_port=node.ws_port,
        p2p_port=node.p2p_port,
    ).start()
