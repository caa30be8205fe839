"""Issue 13's on-chain node allowlist on real nodes (libp2p on 127.0.0.1, web3.py over HTTP): one
validator and one follower on a genesis whose NodeAllowlist lists the follower (the validator is
its admin). Neither node has a nodes file, so the follower is admitted by the chain's list alone.
The admin's removeNodes transaction disconnects it, without a restart, and its redials are refused
at the handshake; the admin's addNodes admits it again."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from eth_account import Account
from web3 import Web3

from jsc_node.consensus.block import address_of, private_key
from jsc_node.devtools import make_genesis
from jsc_node.genesis import DEV_VALIDATOR_KEY
from jsc_node.governance.nodes import NODES_ALLOWLIST_ADDRESS
from jsc_node.p2p.host import peer_id_of
from tests.integration.conftest import web3_for
from tests.integration.nodeproc import NodeProcess
from tests.integration.qbftnet import FOLLOWER_KEY, wait_until
from tests.unit.registry_harness import calldata

VALIDATOR = Account.from_key(DEV_VALIDATOR_KEY).address
FOLLOWER = address_of(private_key(FOLLOWER_KEY))
FOLLOWER_PEER = str(peer_id_of(FOLLOWER_KEY))
WAIT_S = 20


@pytest.fixture(scope="module")
def nodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[NodeProcess, NodeProcess]]:
    root = tmp_path_factory.mktemp("nodes")
    doc = make_genesis(
        [VALIDATOR],
        block_period_s=1,
        empty_block_period_s=1,
        nodes_allowlist=True,
        allowlist_nodes=["0x" + FOLLOWER.hex()],
    )
    (root / "genesis.json").write_text(json.dumps(doc))
    (root / "validator.key").write_text(DEV_VALIDATOR_KEY.hex())
    (root / "follower.key").write_text(FOLLOWER_KEY.hex())
    validator = NodeProcess(root / "validator")
    validator.extra_args = [
        "--genesis-file", str(root / "genesis.json"),
        "--node-private-key-file", str(root / "validator.key"),
    ]  # fmt: skip
    follower = NodeProcess(root / "follower")
    follower.extra_args = [
        "--genesis-file", str(root / "genesis.json"),
        "--node-private-key-file", str(root / "follower.key"),
        "--bootnodes", f"/ip4/127.0.0.1/tcp/{validator.p2p_port}/p2p/{peer_id_of(DEV_VALIDATOR_KEY)}",
    ]  # fmt: skip
    validator.start(wait=False)
    follower.start(wait=False)
    try:
        validator.wait_ready()
        follower.wait_ready()
        yield validator, follower
    finally:
        for node in (follower, validator):
            if node.process is not None:
                node.stop()


def _peers(node: NodeProcess) -> int:
    return int(str(node.rpc("net_peerCount")), 16)


def _admin_tx(w3: Web3, signature: str, *args: Any) -> None:
    account = Account.from_key(DEV_VALIDATOR_KEY)
    tx = {
        "chainId": w3.eth.chain_id,
        "nonce": w3.eth.get_transaction_count(account.address, "pending"),
        "to": Web3.to_checksum_address(NODES_ALLOWLIST_ADDRESS),
        "value": 0,
        "gas": 300_000,
        "maxFeePerGas": 10 * 10**9,
        "maxPriorityFeePerGas": 1,
        "data": "0x" + calldata(signature, *args).hex(),
    }
    tx_hash = w3.eth.send_raw_transaction(account.sign_transaction(tx).raw_transaction)
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=WAIT_S, poll_latency=0.05)
    assert receipt["status"] == 1


def test_a_node_removed_from_the_chains_list_is_disconnected_and_stays_out(
    nodes: tuple[NodeProcess, NodeProcess],
) -> None:
    validator, follower = nodes
    w3 = web3_for(validator.url)
    # Admitted by the contract alone (no nodes file, not a validator): it connects and follows.
    wait_until(lambda: _peers(validator) == 1 and _peers(follower) == 1, WAIT_S, lambda: "follower connected")
    height = w3.eth.block_number
    follower.wait_for_block(height + 1, timeout_s=WAIT_S)

    _admin_tx(w3, "removeNodes(address[])", [FOLLOWER])
    wait_until(lambda: _peers(validator) == 0, WAIT_S, lambda: "validator drops the follower")
    assert f"disconnecting peer {FOLLOWER_PEER}: no longer admitted" in validator.logs()
    # The follower keeps redialling its bootnode; each attempt is refused at the handshake.
    refused = f"refused inbound peer {FOLLOWER_PEER} (not on the allowlist)"
    wait_until(lambda: refused in validator.logs(), WAIT_S, lambda: "a redial refused")
    end = time.monotonic() + 3
    while time.monotonic() < end:
        assert _peers(validator) == 0
        assert _peers(follower) == 0
        time.sleep(0.3)
    stuck = int(str(follower.rpc("eth_blockNumber")), 16)
    validator.wait_for_block(stuck + 2, timeout_s=WAIT_S)  # the chain goes on without it
    assert int(str(follower.rpc("eth_blockNumber")), 16) <= stuck + 1

    # Listed again by the admin: admitted at its next redial (its backoff is capped at 30 s), no restart.
    _admin_tx(w3, "addNodes(address[])", [FOLLOWER])
    wait_until(lambda: _peers(validator) == 1, 40, lambda: "follower admitted again")
    follower.wait_for_block(w3.eth.block_number, timeout_s=WAIT_S)
