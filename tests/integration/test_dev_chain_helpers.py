"""The dev chain as wallets and deploy tools expect it (issue 11): the CREATE2 deployer and Multicall3
at their canonical addresses, Prague's EIP-2935 block-hash history, blocks on an idle chain, the
presigned pre-EIP-155 deployments with --rpc-allow-unprotected-txs, a start-up warning for a node
that can never see a block, and JSON-RPC ids echoed exactly as sent (HTTP and WebSocket)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import rlp
import websockets
from eth_account import Account
from eth_utils import keccak
from web3 import Web3

from jsc_node.devtools import make_genesis
from jsc_node.genesis import (
    BEACON_ROOTS_ADDRESS,
    CREATE2_DEPLOYER_ADDRESS,
    DEV_VALIDATOR_KEY,
    HISTORY_STORAGE_ADDRESS,
    MULTICALL3_ADDRESS,
    predeploys,
)
from tests.integration.conftest import DEV_KEY, web3_for
from tests.integration.nodeproc import NodeProcess, free_port
from tests.unit.test_unprotected_txs import PROXY_DEPLOYMENT_TX, PROXY_SIGNER

WAIT_S = 30.0
GWEI = 10**9
DEPLOYER = Web3.to_checksum_address(CREATE2_DEPLOYER_ADDRESS)
MULTICALL3 = Web3.to_checksum_address(MULTICALL3_ADDRESS)
# Runtime: return the 32-byte word 42. Init code: copy those 10 bytes out and return them.
ANSWER_RUNTIME = bytes.fromhex("602a60005260206000f3")
ANSWER_INIT = bytes.fromhex("69" + ANSWER_RUNTIME.hex() + "600052600a6016f3")
MULTICALL3_ABI: list[dict[str, Any]] = [
    {
        "name": "aggregate3",
        "type": "function",
        "stateMutability": "payable",
        "inputs": [
            {
                "name": "calls",
                "type": "tuple[]",
                "components": [
                    {"name": "target", "type": "address"},
                    {"name": "allowFailure", "type": "bool"},
                    {"name": "callData", "type": "bytes"},
                ],
            }
        ],
        "outputs": [
            {
                "name": "returnData",
                "type": "tuple[]",
                "components": [
                    {"name": "success", "type": "bool"},
                    {"name": "returnData", "type": "bytes"},
                ],
            }
        ],
    },
    {
        "name": "getEthBalance",
        "type": "function",
        "stateMutability": "view",
        "inputs": [{"name": "addr", "type": "address"}],
        "outputs": [{"name": "balance", "type": "uint256"}],
    },
    {
        "name": "getBlockNumber",
        "type": "function",
        "stateMutability": "view",
        "inputs": [],
        "outputs": [{"name": "blockNumber", "type": "uint256"}],
    },
]
REFUSAL = "only replay-protected (EIP-155) transactions allowed over RPC"


def send(w3: Web3, to: str | None, data: bytes, gas: int = 300_000, value: int = 0) -> Any:
    account = Account.from_key(DEV_KEY)
    tx: dict[str, Any] = {
        "chainId": w3.eth.chain_id,
        "nonce": w3.eth.get_transaction_count(account.address, "pending"),
        "gas": gas,
        "maxFeePerGas": 20 * GWEI,
        "maxPriorityFeePerGas": GWEI,
        "value": value,
        "data": data,
        "type": 2,
    }
    if to is not None:
        tx["to"] = to
    tx_hash = w3.eth.send_raw_transaction(account.sign_transaction(tx).raw_transaction)
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=WAIT_S, poll_latency=0.1)
    assert receipt.status == 1
    return receipt


def word(value: int) -> bytes:
    return value.to_bytes(32, "big")


# --- canonical contracts on the embedded dev chain ------------------------------------------------


def test_helper_contracts_are_predeployed(w3: Web3) -> None:
    for contract in predeploys()["contracts"]:
        address = Web3.to_checksum_address(contract["address"])
        assert "0x" + bytes(w3.eth.get_code(address)).hex() == contract["code"], contract["name"]
        assert w3.eth.get_transaction_count(address) == 1


def test_create2_deployer_deploys_at_the_predicted_address(w3: Web3) -> None:
    salt = keccak(b"jsc-node issue 11")
    data = salt + ANSWER_INIT
    # CREATE2 (EIP-1014): keccak(0xff ++ deployer ++ salt ++ keccak(init code))[12:]
    predicted = keccak(b"\xff" + CREATE2_DEPLOYER_ADDRESS + salt + keccak(ANSWER_INIT))[12:]
    # The proxy returns the new address (20 bytes): ask first, as Foundry scripts do.
    assert bytes(w3.eth.call({"to": DEPLOYER, "data": data})) == predicted
    send(w3, DEPLOYER, data)
    target = Web3.to_checksum_address(predicted)
    assert bytes(w3.eth.get_code(target)) == ANSWER_RUNTIME
    assert int.from_bytes(w3.eth.call({"to": target}), "big") == 42


def test_multicall3_aggregate3_over_eth_call(w3: Web3) -> None:
    multicall = w3.eth.contract(address=MULTICALL3, abi=MULTICALL3_ABI)
    holder = Account.from_key(DEV_KEY).address
    number = w3.eth.block_number
    calls = [
        (MULTICALL3, False, multicall.encode_abi("getEthBalance", [holder])),
        (MULTICALL3, False, multicall.encode_abi("getBlockNumber", [])),
        # a call that reverts (EIP-2935's get with no argument), allowed to fail
        (Web3.to_checksum_address(HISTORY_STORAGE_ADDRESS), True, b""),
    ]
    results = multicall.functions.aggregate3(calls).call(block_identifier=number)
    assert results[0] == (True, word(w3.eth.get_balance(holder, number)))
    assert results[1] == (True, word(number))
    assert results[2] == (False, b"")


def test_block_hash_history_contract_serves_recent_hashes(node: NodeProcess, w3: Web3) -> None:
    # EIP-2935: py-evm's Prague writes each parent hash into the contract before the block's
    # transactions, so a call at block N answers the hash of N-1 back to N-8191; younger or
    # older numbers revert.
    node.wait_for_block(6)
    head = w3.eth.block_number
    history = Web3.to_checksum_address(HISTORY_STORAGE_ADDRESS)
    for back in (1, 2, 5, head):
        n = head - back
        got = bytes(w3.eth.call({"to": history, "data": word(n)}, head))
        assert got == bytes(w3.eth.get_block(n)["hash"]), n
    answer = httpx.post(
        node.url,
        json={
            "jsonrpc": "2.0",
            "id": 1,
            "method": "eth_call",
            "params": [{"to": history, "data": "0x" + word(head).hex()}, hex(head)],
        },
    ).json()
    assert answer["error"]["code"] == 3  # execution reverted, as geth
    # EIP-4788: the block's timestamp maps to its parent beacon root (zero on this chain).
    block = w3.eth.get_block(head)
    assert bytes(block["parentBeaconBlockRoot"]) == bytes(32)
    roots = Web3.to_checksum_address(BEACON_ROOTS_ADDRESS)
    assert bytes(w3.eth.call({"to": roots, "data": word(block["timestamp"])}, head)) == bytes(32)


def test_idle_dev_chain_confirms_within_seconds(w3: Web3) -> None:
    # viem's waitForTransactionReceipt({confirmations: 3}) on an idle chain: anvil took 3 s.
    receipt = send(w3, Account.from_key(DEV_KEY).address, b"", gas=21_000)
    started = time.monotonic()
    while w3.eth.block_number < receipt.blockNumber + 3 and time.monotonic() - started < 5.0:
        time.sleep(0.1)
    assert w3.eth.block_number >= receipt.blockNumber + 3, "3 confirmations took over 5 s"
    blocks = [w3.eth.get_block(receipt.blockNumber + i) for i in (1, 2, 3)]
    assert all(len(b["transactions"]) == 0 for b in blocks)


def test_unprotected_tx_refused_without_the_flag(node: NodeProcess) -> None:
    answer = httpx.post(
        node.url,
        json={
            "jsonrpc": "2.0",
            "id": 7,
            "method": "eth_sendRawTransaction",
            "params": ["0x" + PROXY_DEPLOYMENT_TX.hex()],
        },
    ).json()
    assert answer == {"jsonrpc": "2.0", "id": 7, "error": {"code": -32000, "message": REFUSAL}}


# --- JSON-RPC ids ---------------------------------------------------------------------------------

BIG_ID = "18446744073709551617"  # 2**64 + 1: beyond what orjson reads as an integer


def test_large_integer_ids_are_echoed_exactly_over_http(node: NodeProcess) -> None:
    single = f'{{"jsonrpc":"2.0","id":{BIG_ID},"method":"eth_chainId","params":[]}}'
    text = httpx.post(node.url, content=single, headers={"content-type": "application/json"}).text
    assert f'"id":{BIG_ID},' in text
    assert json.loads(text)["result"] == "0x539"
    batch = (
        f'[{{"jsonrpc":"2.0","id":{BIG_ID},"method":"eth_chainId"}},'
        f'{{"jsonrpc":"2.0","id":-{BIG_ID},"method":"no_such_method"}},'
        '{"jsonrpc":"2.0","id":7,"method":"eth_chainId"}]'
    )
    text = httpx.post(node.url, content=batch, headers={"content-type": "application/json"}).text
    answers = json.loads(text)  # the standard library keeps big integers exact
    assert [a["id"] for a in answers] == [int(BIG_ID), -int(BIG_ID), 7]
    assert answers[1]["error"]["code"] == -32601
    assert f'"id":-{BIG_ID},"error"' in text


def test_large_integer_ids_are_echoed_exactly_over_websocket(node: NodeProcess) -> None:
    async def go() -> list[str]:
        async with websockets.connect(f"ws://127.0.0.1:{node.ws_port}") as ws:
            await ws.send(f'{{"jsonrpc":"2.0","id":{BIG_ID},"method":"eth_blockNumber"}}')
            first = str(await ws.recv())
            await ws.send(f'[{{"jsonrpc":"2.0","id":{BIG_ID}0,"method":"eth_nope"}}]')
            second = str(await ws.recv())
            return [first, second]

    first, second = asyncio.run(asyncio.wait_for(go(), WAIT_S))
    assert json.loads(first)["id"] == int(BIG_ID)
    assert f'"id":{BIG_ID},' in first
    assert json.loads(second)[0]["id"] == int(BIG_ID + "0")
    assert json.loads(second)[0]["error"]["code"] == -32601


# --- a fresh chain without the helpers: the presigned deployments ---------------------------------

# mds1/multicall3 README: the presigned Multicall3 deployment, its signer, and the gas it uses on
# any chain metered like the EVM ("EVM chains should require exactly 872,776 gas"), written before
# Shanghai; EIP-3860 adds 2 gas per 32-byte word of init code (3,840 bytes: 120 words).
MULTICALL3_SIGNER = "0x05f32b3cc3888453ff71b01135b34ff8e41263f2"
MULTICALL3_DEPLOY_GAS = 872_776 + 2 * (3_840 // 32)


# Its hash, as on every chain (no chain id in the signature): Base's deployment the README links.
MULTICALL3_DEPLOY_TX_HASH = "07471adfe8f4ec553c1199f495be97fc8be8e0626ae307281c22534460184ed1"


def multicall3_presigned_tx() -> bytes:
    """The README's transaction, rebuilt from the init code (a 32-byte constructor that returns
    the 3,808-byte runtime this node predeploys) and the published signature; its hash proves it."""
    runtime = bytes.fromhex(
        next(c for c in predeploys()["contracts"] if c["name"] == "Multicall3")["code"][2:]
    )
    init = bytes.fromhex("608060405234801561001057600080fd5b50610ee0806100206000396000f3fe") + runtime
    r = int("edce47092c0f398cebf3ffc267f05c8e7076e3b89445e0fe50f6332273d4569b", 16)
    s = int("1b0b9d000e19b24c5869b0fc3b22b0d6fa47cd63316875cbbd577d76e6fde086", 16)
    raw = rlp.encode([0, 100 * GWEI, 1_000_000, b"", 0, init, 28, r, s])
    assert keccak(raw).hex() == MULTICALL3_DEPLOY_TX_HASH
    return raw


@pytest.fixture(scope="module")
def fresh_node(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A dev-like chain whose genesis has no predeploys, run with --rpc-allow-unprotected-txs."""
    root = tmp_path_factory.mktemp("fresh")
    validator = Account.from_key(DEV_VALIDATOR_KEY).address
    doc = make_genesis([validator], block_period_s=1, empty_block_period_s=1, predeploys=False)
    (root / "genesis.json").write_text(json.dumps(doc))
    (root / "key").write_text(DEV_VALIDATOR_KEY.hex())
    proc = NodeProcess(
        root / "data",
        extra_args=[
            "--genesis-file",
            str(root / "genesis.json"),
            "--node-private-key-file",
            str(root / "key"),
            "--rpc-allow-unprotected-txs",
        ],
    ).start()
    yield proc
    proc.stop()


def test_presigned_create2_deployer_deployment_with_the_flag(fresh_node: NodeProcess) -> None:
    w3 = web3_for(fresh_node.url)
    assert w3.eth.get_code(DEPLOYER) == b""
    # The published transaction needs exactly gas * price = 100,000 * 100 gwei in its signer.
    send(w3, Web3.to_checksum_address(PROXY_SIGNER), b"", gas=21_000, value=100_000 * 100 * GWEI)
    tx_hash = w3.eth.send_raw_transaction(PROXY_DEPLOYMENT_TX)
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=WAIT_S, poll_latency=0.1)
    assert receipt.status == 1
    assert receipt.contractAddress == DEPLOYER
    tx = w3.eth.get_transaction(tx_hash)
    assert tx["v"] == 27
    assert "chainId" not in tx or tx["chainId"] is None
    expected = next(c["code"] for c in predeploys()["contracts"] if c["address"] == DEPLOYER.lower())
    assert "0x" + bytes(w3.eth.get_code(DEPLOYER)).hex() == expected


def test_presigned_multicall3_deployment_with_the_flag(fresh_node: NodeProcess) -> None:
    w3 = web3_for(fresh_node.url)
    assert w3.eth.get_code(MULTICALL3) == b""
    send(w3, Web3.to_checksum_address(MULTICALL3_SIGNER), b"", gas=21_000, value=1_000_000 * 100 * GWEI)
    tx_hash = w3.eth.send_raw_transaction(multicall3_presigned_tx())
    assert bytes(tx_hash).hex() == MULTICALL3_DEPLOY_TX_HASH
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=WAIT_S, poll_latency=0.1)
    assert receipt.status == 1
    assert receipt.contractAddress == MULTICALL3
    assert receipt.gasUsed == MULTICALL3_DEPLOY_GAS
    assert keccak(bytes(w3.eth.get_code(MULTICALL3))).hex() == predeploys()["contracts"][-1]["codeHash"][2:]


def test_isolated_non_validator_warns_once_at_start(tmp_path: Path) -> None:
    # issue 11: a copy of genesis/dev.json with a bigger gas limit, started with no key and no
    # bootnodes, made itself a new key and waited in silence.
    doc = json.loads((Path(__file__).parents[2] / "genesis" / "dev.json").read_text())
    doc["gasLimit"] = hex(60_000_000)
    (tmp_path / "genesis.json").write_text(json.dumps(doc))
    stderr_path = tmp_path / "stderr.log"
    args = [
        sys.executable,
        "-m",
        "jsc_node.cli",
        "run",
        "--genesis-file",
        str(tmp_path / "genesis.json"),
        "--data-path",
        str(tmp_path / "data"),
        "--rpc-http-port",
        str(free_port()),
        "--rpc-ws-port",
        str(free_port()),
        "--p2p-port",
        str(free_port()),
    ]
    with open(stderr_path, "wb") as stderr:
        proc = subprocess.Popen(
            args, stdout=subprocess.DEVNULL, stderr=stderr, env={**os.environ, "PYTHONUNBUFFERED": "1"}
        )
    try:
        # The supervisor checks before it starts the two processes: no need to wait for them.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            if "not a validator" in stderr_path.read_text(errors="replace"):
                break
            time.sleep(0.1)
        assert proc.poll() is None, stderr_path.read_text()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    lines = [line for line in stderr_path.read_text().splitlines() if "WARNING" in line]
    warnings = [line for line in lines if "not a validator" in line]
    assert len(warnings) == 1, lines
    assert "--node-private-key-file" in warnings[0]
    assert "--bootnodes" in warnings[0]


def test_dev_validator_does_not_warn(node: NodeProcess) -> None:
    assert "not a validator" not in node.logs()
