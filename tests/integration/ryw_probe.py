"""A read-your-writes probe against a running node, as a fast-polling wallet would see it.

For each of ``count`` transactions it sends the transaction, then polls back to back, as one
JSON-RPC batch: the receipt, ``eth_blockNumber``, the sender's nonce (``latest`` and ``pending``)
and balance, an ``eth_call`` that returns NUMBER, and ``eth_getBlockByNumber("latest")``; and, after
each batch, one single request of ``eth_blockNumber``. It counts stale answers against geth's
invariant: once any answer has shown block B, every later ``latest`` read is at height >= B, and the
sender's ``pending`` nonce is at least its nonce after B; the members of one batch agree on one head.

Run against a node by hand: ``python -m tests.integration.ryw_probe http://127.0.0.1:8545 500``.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
from eth_account import Account

# NUMBER PUSH0 MSTORE PUSH1 32 PUSH0 RETURN: a create-call whose init code returns the block number
# of the context it runs in (no contract to deploy).
NUMBER_INITCODE = "0x435f5260205ff3"
DEV_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
MAX_POLLS_PER_TX = 5_000
MAX_SECONDS_PER_TX = 20.0


@dataclass
class ProbeResult:
    transactions: int = 0
    batches: int = 0
    stale: list[str] = field(default_factory=list)
    """One line per stale answer: what was read, what it should have been at least."""


def _q(value: str) -> int:
    return int(value, 16)


def _rpc(client: httpx.Client, url: str, payload: Any) -> Any:
    response = client.post(url, json=payload)
    response.raise_for_status()
    return response.json()


def run_probe(url: str, count: int, key: str = DEV_KEY, recipient: str | None = None) -> ProbeResult:
    """Send ``count`` value transfers from ``key`` and poll each as described above."""
    account = Account.from_key(key)
    sender = account.address
    to = recipient or "0x" + "11" * 20
    result = ProbeResult()
    with httpx.Client(timeout=10.0) as client:
        chain_id = _q(_rpc(client, url, {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId"})["result"])
        nonce = _q(
            _rpc(
                client,
                url,
                {
                    "jsonrpc": "2.0",
                    "id": 1,
                    "method": "eth_getTransactionCount",
                    "params": [sender, "pending"],
                },
            )["result"]
        )
        gas_price = _q(_rpc(client, url, {"jsonrpc": "2.0", "id": 1, "method": "eth_gasPrice"})["result"])
        shown = 0  # the highest block number any answer has shown so far
        for _ in range(count):
            tx = {
                "chainId": chain_id,
                "nonce": nonce,
                "to": to,
                "value": 1,
                "gas": 21_000,
                "maxFeePerGas": gas_price * 2 + 1,
                "maxPriorityFeePerGas": 1,
            }
            raw = account.sign_transaction(tx).raw_transaction
            sent = _rpc(
                client,
                url,
                {"jsonrpc": "2.0", "id": 1, "method": "eth_sendRawTransaction", "params": ["0x" + raw.hex()]},
            )
            if "error" in sent:
                raise RuntimeError(f"eth_sendRawTransaction: {sent['error']}")
            tx_hash = sent["result"]
            nonce += 1
            result.transactions += 1
            deadline = time.monotonic() + MAX_SECONDS_PER_TX
            for _poll in range(MAX_POLLS_PER_TX):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"no receipt for {tx_hash} within {MAX_SECONDS_PER_TX} s")
                answers = _rpc(client, url, _batch(tx_hash, sender))
                result.batches += 1
                by_id = {a["id"]: a for a in answers}
                errors = [a for a in answers if "error" in a]
                if errors:
                    raise RuntimeError(f"batch errors: {errors}")
                receipt = by_id[1]["result"]
                heads = {
                    "eth_blockNumber": _q(by_id[2]["result"]),
                    "eth_call NUMBER": _q(by_id[5]["result"]),
                    "eth_getBlockByNumber(latest)": _q(by_id[6]["result"]["number"]),
                }
                floor = shown
                if receipt is not None:
                    floor = max(floor, _q(receipt["blockNumber"]))
                for what, number in heads.items():
                    if number < floor:
                        result.stale.append(f"{tx_hash}: {what} {number} < {floor} already shown")
                if len(set(heads.values())) != 1:
                    result.stale.append(f"{tx_hash}: one batch, several heads {heads}")
                shown = max(floor, *heads.values())
                mined = receipt is not None
                # The sender's nonce after its own mined transaction; its balance falls with it.
                want_latest = nonce if mined else nonce - 1
                if _q(by_id[3]["result"]) < want_latest:
                    result.stale.append(
                        f"{tx_hash}: nonce(latest) {_q(by_id[3]['result'])} < {want_latest} with block {shown}"
                    )
                if _q(by_id[7]["result"]) < nonce:
                    result.stale.append(f"{tx_hash}: nonce(pending) {_q(by_id[7]['result'])} < {nonce}")
                single = _rpc(client, url, {"jsonrpc": "2.0", "id": 9, "method": "eth_blockNumber"})
                if _q(single["result"]) < shown:
                    result.stale.append(f"{tx_hash}: eth_blockNumber {_q(single['result'])} < {shown} shown")
                if mined:
                    break
            else:
                raise RuntimeError(f"no receipt for {tx_hash} after {MAX_POLLS_PER_TX} polls")
    return result


def _batch(tx_hash: str, sender: str) -> list[dict[str, Any]]:
    def call(id_: int, method: str, params: list[Any]) -> dict[str, Any]:
        return {"jsonrpc": "2.0", "id": id_, "method": method, "params": params}

    return [
        call(1, "eth_getTransactionReceipt", [tx_hash]),
        call(2, "eth_blockNumber", []),
        call(3, "eth_getTransactionCount", [sender, "latest"]),
        call(4, "eth_getBalance", [sender, "latest"]),
        call(5, "eth_call", [{"data": NUMBER_INITCODE}, "latest"]),
        call(6, "eth_getBlockByNumber", ["latest", False]),
        call(7, "eth_getTransactionCount", [sender, "pending"]),
    ]


def main(argv: list[str]) -> int:
    url = argv[1] if len(argv) > 1 else "http://127.0.0.1:8545"
    count = int(argv[2]) if len(argv) > 2 else 200
    started = time.monotonic()
    result = run_probe(url, count)
    elapsed = time.monotonic() - started
    print(
        f"{result.transactions} transactions, {result.batches} batches, "
        f"{len(result.stale)} stale answers, {elapsed:.1f} s"
    )
    for line in result.stale[:20]:
        print("  " + line)
    return 1 if result.stale else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
