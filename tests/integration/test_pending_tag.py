"""The ``pending`` tag over HTTP on a real dev node (web3.py): the next block, not the latest.

The dev node seals a transaction at once, so its pool is empty between blocks: the pending block
is the next, empty one. Blocks that hold pooled transactions are covered with a pool whose
sealing the test controls (tests/unit/test_pending_block.py).
"""

from __future__ import annotations

from typing import Any

from web3 import Web3

RECIPIENT = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"


def _rpc(w3: Web3, method: str, params: list[Any]) -> Any:
    response = w3.provider.make_request(method, params)  # type: ignore[arg-type]
    assert "error" not in response, response
    return response["result"]


def test_pending_is_the_next_block(w3: Web3) -> None:
    for _ in range(3):  # a block may land between the two reads; then ask again
        latest = _rpc(w3, "eth_getBlockByNumber", ["latest", False])
        pending = _rpc(w3, "eth_getBlockByNumber", ["pending", False])
        if pending["parentHash"] == latest["hash"]:
            break
    assert int(pending["number"], 16) == int(latest["number"], 16) + 1
    assert pending["parentHash"] == latest["hash"]
    # geth prints its pending block with hash, nonce and miner null.
    assert (pending["hash"], pending["nonce"], pending["miner"]) == (None, None, None)
    assert pending["transactions"] == []
    assert _rpc(w3, "eth_getBlockTransactionCountByNumber", ["pending"]) == "0x0"
    assert w3.eth.get_balance(RECIPIENT, "pending") == w3.eth.get_balance(RECIPIENT, "latest")
    assert w3.eth.call({"to": RECIPIENT}, "pending") == b""
