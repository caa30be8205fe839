"""Issue 13's account allowlist on a live network: four validators (real `jsc-node run` processes,
LevelDB, libp2p on 127.0.0.1, 1 s blocks) on a genesis with the AccountAllowlist switched on
(`write_devnet(accounts_allowlist=True)`: the validators are its admins, nobody else is listed).
Validator 3 is rogue: a `sitecustomize.py` on its PYTHONPATH (no test hook in the product) switches
off its pool check and the allowlist rule in its executor, so it pools a transaction from a sender
the chain does not allow, gossips it, and proposes blocks holding it.

- the honest nodes refuse that sender at eth_sendRawTransaction (-32007) and at gossip intake;
- every honest validator refuses the rogue's proposals (its consensus log says why) and the chain
  keeps finalizing without the transaction;
- once an admin adds the sender (addAccounts), its transaction is final on every node; once the
  admin removes it, its next one is refused again.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
from eth_abi import encode
from eth_account import Account
from eth_hash.auto import keccak

from jsc_node.devtools import write_devnet
from jsc_node.governance.accounts import ALLOWLIST_ADDRESS
from jsc_node.p2p.host import peer_id_of
from tests.integration.conftest import DEV_KEY
from tests.integration.nodeproc import NodeProcess
from tests.integration.qbftnet import (
    RECIPIENT,
    STEP_TIMEOUT_S,
    heads,
    rogue_sitecustomize,
    wait_for_peers,
    wait_mined_everywhere,
    wait_until,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

VALIDATORS = 4
ROGUE = 3
OUTSIDER = Account.from_key(DEV_KEY).address
REFUSED = {"code": -32007, "message": "Sender account not authorized to send transactions"}

ROGUE_SITECUSTOMIZE = '''
"""Test-only: this node admits and proposes transactions from senders the chain's account
allowlist refuses (state/permissions.py's AccountPermissions.check and the executor's
validate_senders and _permitted_transactions do nothing). Both of the node's processes import this
at start (spawned children inherit PYTHONPATH)."""


def patch_permissions(module):
    module.AccountPermissions.check = lambda self, sender, *, creates: None


def patch_executor(module):
    module.Executor.validate_senders = lambda self, block, parent: None
    module.Executor._permitted_transactions = lambda self, txs, parent, refused: iter(txs)


PATCHES = {"jsc_node.state.permissions": patch_permissions, "jsc_node.state.evm.executor": patch_executor}
'''


def _raw(nonce: int) -> str:
    signed = Account.sign_transaction(
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
    )
    return "0x" + bytes(signed.raw_transaction).hex()


def _admin_tx(key: bytes, nonce: int, signature: str, accounts: list[str]) -> str:
    data = keccak(signature.encode())[:4] + encode(["address[]"], [accounts])
    signed = Account.sign_transaction(
        {
            "chainId": 1337,
            "nonce": nonce,
            "to": "0x" + ALLOWLIST_ADDRESS.hex(),
            "value": 0,
            "gas": 200_000,
            "maxFeePerGas": 20 * 10**9,
            "maxPriorityFeePerGas": 10**9,
            "type": 2,
            "data": data,
        },
        key,
    )
    return "0x" + bytes(signed.raw_transaction).hex()


def _send(node: NodeProcess, raw: str) -> dict[str, Any]:
    import httpx

    body: dict[str, Any] = httpx.post(
        node.url,
        json={"jsonrpc": "2.0", "id": 1, "method": "eth_sendRawTransaction", "params": [raw]},
        timeout=30,
    ).json()
    return body


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[list[NodeProcess], list[bytes]]]:
    tmp = tmp_path_factory.mktemp("permnet")
    keys = write_devnet(
        tmp / "net",
        VALIDATORS,
        chain_id=1337,
        block_period_s=1,
        timestamp=int(time.time()),
        accounts_allowlist=True,
    )
    genesis_path = tmp / "net" / "genesis.json"
    genesis = json.loads(genesis_path.read_text())
    # Round r waits 2 * 2**r s; an idle chain makes a block every second, so heights keep rising.
    genesis["config"]["qbft"].update(requesttimeoutseconds=2, emptyblockperiodseconds=1)
    genesis_path.write_text(json.dumps(genesis))
    rogue_dir = tmp / "rogue-site"
    rogue_dir.mkdir()
    (rogue_dir / "sitecustomize.py").write_text(rogue_sitecustomize(ROGUE_SITECUSTOMIZE))
    nodes = [NodeProcess(tmp / f"node-{k.index}") for k in keys]
    boot = [
        f"/ip4/127.0.0.1/tcp/{n.p2p_port}/p2p/{peer_id_of(k.private_key)}"
        for n, k in zip(nodes, keys, strict=True)
    ]
    for node, key in zip(nodes, keys, strict=True):
        node.extra_args = [
            "--genesis-file",
            str(genesis_path),
            "--node-private-key-file",
            str(tmp / "net" / f"validator-{key.index}" / "key"),
            "--bootnodes",
            ",".join(b for b in boot if f"/tcp/{node.p2p_port}/" not in b),
        ]
        saved = os.environ.get("PYTHONPATH")
        if key.index == ROGUE:
            # The child copies this process's environment at start (nodeproc.NodeProcess.start).
            os.environ["PYTHONPATH"] = os.pathsep.join(p for p in [str(rogue_dir), saved] if p)
        try:
            node.start(wait=False)
        finally:
            if saved is None:
                os.environ.pop("PYTHONPATH", None)
            else:
                os.environ["PYTHONPATH"] = saved
    try:
        for node in nodes:
            node.wait_ready()
        wait_for_peers(nodes, VALIDATORS - 1)
        yield nodes, [k.private_key for k in keys]
    finally:
        for node in nodes:
            if node.process is not None and node.process.poll() is None:
                node.stop()


def test_a_rogue_proposal_with_a_refused_sender_is_rejected_and_the_chain_goes_on(
    network: tuple[list[NodeProcess], list[bytes]],
) -> None:
    nodes, keys = network
    rogue, honest = nodes[ROGUE], [n for i, n in enumerate(nodes) if i != ROGUE]
    for node in honest:
        assert node.rpc("admin_changeLogLevel", "DEBUG", ["jsc_node.consensus"]) is None
    raw = _raw(0)
    assert _send(honest[0], raw).get("error") == REFUSED
    tx_hash = _send(rogue, raw)["result"]  # the rogue pools it and gossips it
    refusal = re.compile(
        r"execution refused the block: block (\d+): transaction \d+ "
        + re.escape(f"{tx_hash}: sender {OUTSIDER.lower()} is not on the chain's account allowlist")
    )
    try:
        wait_until(
            lambda: all(refusal.search(n.logs()) for n in honest),
            STEP_TIMEOUT_S * 2,
            lambda: "every honest validator refusing the rogue's proposal",
        )
        refused_at = max(int(m.group(1)) for n in honest for m in refusal.finditer(n.logs()))
        wait_until(
            lambda: min(heads(honest)) >= refused_at + 2,
            STEP_TIMEOUT_S,
            lambda: f"honest nodes past block {refused_at + 2} (at {heads(honest)})",
        )
    finally:
        for node in honest:
            node.rpc("admin_changeLogLevel", "INFO", ["jsc_node.consensus"])
    # Never final anywhere, and never pooled by an honest node (so they did not pass it on).
    for node in nodes:
        assert node.rpc("eth_getTransactionReceipt", tx_hash) is None
    for node in honest:
        pending = node.rpc("txpool_content")["pending"]  # type: ignore[index]
        assert not any(sender.lower() == OUTSIDER.lower() for sender in pending)

    # An admin (validator 0) adds the sender: its transaction is final on every node.
    add = _admin_tx(keys[0], 0, "addAccounts(address[])", [OUTSIDER])
    wait_mined_everywhere(nodes, _send(honest[1], add)["result"])
    answer = _send(honest[1], raw)
    # Accepted, unless the rogue, still holding it, already had it mined (the nonce moved on).
    assert "result" in answer or "nonce too low" in str(answer), answer
    wait_mined_everywhere(nodes, tx_hash)
    # ... and removes it: its next transaction is refused again.
    remove = _admin_tx(keys[0], 1, "removeAccounts(address[])", [OUTSIDER])
    wait_mined_everywhere(nodes, _send(honest[2], remove)["result"])
    assert _send(honest[2], _raw(1)).get("error") == REFUSED
