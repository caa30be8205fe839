"""`jsc-node verify --rpc-url` against one real dev node serving DEBUG: it passes on the node's chain
(an ERC-20 deploy and transfers), and it names the block and the check when a small HTTP proxy
between them alters the served block: one header field, one transaction, its commit seal dropped.
A node that does not serve debug_getRawBlock gets the flag that fixes it."""

from __future__ import annotations

import json
import threading
import urllib.request
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import rlp
from typer.testing import CliRunner
from web3 import Web3

from jsc_node.cli import app
from jsc_node.consensus.block import decode_block
from tests.contracts import load_erc20
from tests.integration.conftest import DEV_KEY
from tests.integration.nodeproc import NodeProcess

RECIPIENT = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
Alter = Callable[[dict[str, Any]], dict[str, Any]]


def _send_all(w3: Web3, txs: list[dict[str, Any]]) -> list[Any]:
    account = w3.eth.account.from_key(DEV_KEY)
    nonce = w3.eth.get_transaction_count(account.address, "pending")
    hashes = []
    for i, tx in enumerate(txs):
        tx = {"from": account.address, "nonce": nonce + i, "chainId": w3.eth.chain_id, **tx}
        tx.setdefault("gas", 21_000)
        tx.setdefault("maxFeePerGas", 10 * 10**9)
        tx.setdefault("maxPriorityFeePerGas", 1)
        hashes.append(w3.eth.send_raw_transaction(account.sign_transaction(tx).raw_transaction))
    return [w3.eth.wait_for_transaction_receipt(h, timeout=30, poll_latency=0.1) for h in hashes]


@pytest.fixture(scope="module")
def chain(w3: Web3) -> dict[str, int]:
    """A deploy, then two transfers in one block; returns their block numbers and the head."""
    artifact = load_erc20()
    deployer = w3.eth.account.from_key(DEV_KEY).address
    factory = w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
    deploy = factory.constructor(10**24).build_transaction({"from": deployer, "gas": 2_000_000})
    (deployed,) = _send_all(w3, [{"data": deploy["data"], "gas": 2_000_000}])
    token = w3.eth.contract(address=deployed.contractAddress, abi=artifact["abi"])
    call = token.functions.transfer(RECIPIENT, 5).build_transaction({"from": deployer, "gas": 100_000})
    receipts = _send_all(
        w3, [{"to": RECIPIENT, "value": 7}, {"to": token.address, "data": call["data"], "gas": 100_000}]
    )
    assert all(r.status == 1 for r in (deployed, *receipts))
    return {
        "deploy": deployed.blockNumber,
        "transfers": receipts[-1].blockNumber,
        "head": w3.eth.block_number,
    }


@pytest.fixture(scope="module")
def genesis_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The node runs the embedded dev genesis: the auditor's copy of it."""
    path = tmp_path_factory.mktemp("genesis") / "genesis.json"
    path.write_text(resources.files("jsc_node").joinpath("data/dev.json").read_text())
    return path


class _Proxy:
    """Forwards JSON-RPC POSTs to the node; ``alter`` may rewrite each answer (or request)."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.alter_answer: Callable[[dict[str, Any], dict[str, Any]], None] = lambda _req, _ans: None
        self.alter_request: Callable[[dict[str, Any]], None] = lambda _req: None
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                requests = body if isinstance(body, list) else [body]
                for request in requests:
                    proxy.alter_request(request)
                forwarded = urllib.request.Request(
                    proxy.target, json.dumps(body).encode(), {"Content-Type": "application/json"}
                )
                with urllib.request.urlopen(forwarded, timeout=30) as response:
                    answer = json.loads(response.read())
                answers = answer if isinstance(answer, list) else [answer]
                by_id = {r.get("id"): r for r in requests}
                for item in answers:
                    proxy.alter_answer(by_id.get(item.get("id"), {}), item)
                data = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def proxy(node: NodeProcess) -> Iterator[_Proxy]:
    p = _Proxy(node.url)
    yield p
    p.close()


def _verify(url: str, genesis_file: Path, head: int, *extra: str) -> Any:
    args = ["verify", "--rpc-url", url, "--genesis-file", str(genesis_file), "--to", str(head), *extra]
    return CliRunner().invoke(app, args)


def _last_line(output: str) -> str:
    return output.rstrip("\n").splitlines()[-1]


def _first_violation(output: str) -> dict[str, Any]:
    report = json.loads(output.rstrip("\n").rsplit("\n", 1)[0])
    first: dict[str, Any] = report["firstViolation"]
    return first


def _rewrite_block(
    number: int, change: Callable[[list[Any]], None]
) -> Callable[[dict[str, Any], dict[str, Any]], None]:
    def alter(request: dict[str, Any], answer: dict[str, Any]) -> None:
        if request.get("method") == "debug_getRawBlock" and request.get("params") == [hex(number)]:
            items = rlp.decode(bytes.fromhex(answer["result"][2:]))
            change(items)
            answer["result"] = "0x" + rlp.encode(items).hex()

    return alter


def test_verify_passes_on_the_nodes_chain(
    node: NodeProcess, chain: dict[str, int], genesis_file: Path
) -> None:
    result = _verify(node.url, genesis_file, chain["head"], "--json")
    assert result.exit_code == 0, result.output
    assert _last_line(result.output) == f"verify: {chain['head']} blocks verified, 0 violations"
    report = json.loads(result.output.rstrip("\n").rsplit("\n", 1)[0])
    assert report["transactions"] == 3
    assert report["head"]["number"] == chain["head"]
    served_head = node.rpc("eth_getBlockByNumber", hex(chain["head"]), False)
    assert isinstance(served_head, dict)
    assert report["head"]["stateRoot"] == served_head["stateRoot"]


def test_an_altered_header_field_is_found_at_its_block(
    proxy: _Proxy, chain: dict[str, int], genesis_file: Path
) -> None:
    target = chain["transfers"]

    def bump_gas_limit(items: list[Any]) -> None:
        items[0][9] = (int.from_bytes(items[0][9], "big") + 1).to_bytes(len(items[0][9]), "big")

    proxy.alter_answer = _rewrite_block(target, bump_gas_limit)
    result = _verify(proxy.url, genesis_file, chain["head"], "--json")
    assert result.exit_code == 1
    assert _last_line(result.output) == f"verify: {target - 1} blocks verified, 1 violations"
    first = _first_violation(result.output)
    assert first["block"] == target
    assert first["check"] == "block"
    # The seals cover every header field: the changed header is sealed by no validator.
    assert first["reason"].startswith("commit seal by a non-validator: got 0x")
    assert first["expected"] == "a validator"


def test_an_altered_transaction_is_found_at_its_block(
    proxy: _Proxy, chain: dict[str, int], genesis_file: Path
) -> None:
    target = chain["transfers"]

    def more_value(items: list[Any]) -> None:
        typed = items[1][0]  # an EIP-1559 transaction: 0x02 || RLP
        fields = rlp.decode(typed[1:])
        fields[6] = (int.from_bytes(fields[6], "big") + 1).to_bytes(1, "big")  # value 7 -> 8
        items[1][0] = typed[:1] + rlp.encode(fields)

    proxy.alter_answer = _rewrite_block(target, more_value)
    result = _verify(proxy.url, genesis_file, chain["head"])
    assert result.exit_code == 1, result.output
    assert _last_line(result.output) == f"verify: {target - 1} blocks verified, 1 violations"
    assert f"first violation block {target} 0x" in result.output
    assert "transaction root hash mismatch" in result.output


def test_a_dropped_seal_is_found_at_its_block(
    proxy: _Proxy, chain: dict[str, int], genesis_file: Path
) -> None:
    target = chain["deploy"]

    def drop_seal(items: list[Any]) -> None:
        block = decode_block(rlp.encode(items))
        items[0] = list(block.with_seals([]).header)

    proxy.alter_answer = _rewrite_block(target, drop_seal)
    result = _verify(proxy.url, genesis_file, chain["head"])
    assert result.exit_code == 1, result.output
    assert _last_line(result.output) == f"verify: {target - 1} blocks verified, 1 violations"
    assert f"first violation block {target} 0x" in result.output
    assert "commit seal count: got 0, expected 1" in result.output


def test_a_node_without_debug_gets_the_flag_that_fixes_it(
    proxy: _Proxy, chain: dict[str, int], genesis_file: Path
) -> None:
    def unserved(request: dict[str, Any]) -> None:
        if request.get("method") == "debug_getRawBlock":
            request["method"] = "debug_getRawBlockUnserved"  # answered as a namespace not served: -32601

    proxy.alter_request = unserved
    result = _verify(proxy.url, genesis_file, chain["head"])
    assert result.exit_code == 1
    assert result.output.startswith(f"error: {proxy.url} does not serve debug_getRawBlock (")
    assert "--rpc-http-api ETH,NET,WEB3,DEBUG" in result.output
    assert "verify:" not in result.output
