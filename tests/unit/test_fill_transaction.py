"""eth_fillTransaction's handler on a real NodeBackend over LevelDB (the dev chain: Prague, chain id
1337), against geth's ``FillTransaction`` (internal/ethapi/api.go) and ``setDefaults``
(transaction_args.go): what it fills, the transaction types it makes and the JSON it answers
(core/types/transaction_marshalling.go), which viem's prepareTransactionRequest reads."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import rlp
from eth_hash.auto import keccak

from jsc_node.config import NodeConfig
from jsc_node.devtools import dev_accounts
from jsc_node.errors import InvalidParams, InvalidTransaction
from jsc_node.execution_process import open_node_state
from jsc_node.genesis import load_genesis
from jsc_node.rpc.methods import eth

DEV0 = dev_accounts()[0].address.lower()
TO = "0x" + "42" * 20
BLOB_HASH = "0x01" + "11" * 31


@pytest.fixture
def node(tmp_path: Path) -> Iterator[Any]:
    (tmp_path / "data").mkdir()
    db, _executor, pool, backend = open_node_state(
        NodeConfig(data_path=tmp_path / "data"), load_genesis(None)
    )
    yield backend
    pool.close()
    db.close()


def _fill(node: Any, request: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = asyncio.run(eth.fill_transaction(node, [request]))
    return result


def test_a_transfer_is_filled_as_geth_fills_it(node: Any) -> None:
    result = _fill(node, {"from": DEV0, "to": TO})
    tip = asyncio.run(node.max_priority_fee())
    base_fee = int(node.head.base_fee_per_gas)
    # geth's txJSON field order; fee fields the type lacks are null; no from or block fields.
    assert list(result["tx"]) == [
        "type",
        "chainId",
        "nonce",
        "to",
        "gas",
        "gasPrice",
        "maxPriorityFeePerGas",
        "maxFeePerGas",
        "value",
        "input",
        "accessList",
        "v",
        "r",
        "s",
        "yParity",
        "hash",
    ]
    assert result["tx"] | {"hash": None} == {
        "type": "0x2",
        "chainId": "0x539",
        "nonce": "0x0",
        "to": TO,
        "gas": hex(21_000),
        "gasPrice": None,
        "maxPriorityFeePerGas": hex(tip),
        "maxFeePerGas": hex(tip + 2 * base_fee),
        "value": "0x0",
        "input": "0x",
        "accessList": [],
        "v": "0x0",
        "r": "0x0",
        "s": "0x0",
        "yParity": "0x0",
        "hash": None,
    }
    raw = bytes.fromhex(result["raw"][2:])
    assert raw[0] == 2
    # chainId, nonce, tip, fee cap, gas, to, value, data, accessList, then v = r = s = 0.
    fields = rlp.decode(raw[1:])
    assert [int.from_bytes(f, "big") for f in fields[:5]] == [1337, 0, tip, tip + 2 * base_fee, 21_000]
    assert fields[5:] == [bytes.fromhex(TO[2:]), b"", b"", [], b"", b"", b""]
    assert result["tx"]["hash"] == "0x" + keccak(raw).hex()


def test_given_fields_are_kept(node: Any) -> None:
    request = {
        "from": DEV0,
        "to": TO,
        "nonce": "0x7",
        "gas": "0x9c40",
        "maxFeePerGas": "0x3b9aca00",
        "maxPriorityFeePerGas": "0x1",
        "value": "0x5",
        "input": "0x1234",
        "chainId": "0x539",
    }
    tx = _fill(node, request)["tx"]
    assert (tx["nonce"], tx["gas"], tx["maxFeePerGas"], tx["maxPriorityFeePerGas"]) == (
        "0x7",
        "0x9c40",
        "0x3b9aca00",
        "0x1",
    )
    assert (tx["value"], tx["input"]) == ("0x5", "0x1234")


def test_a_creation_is_filled_with_its_init_code_words_in_the_gas(node: Any) -> None:
    tx = _fill(node, {"from": DEV0, "input": "0x" + "00" * 1_000})["tx"]
    assert tx["to"] is None
    assert int(tx["gas"], 16) == 53_000 + 4 * 1_000 + 2 * 32


def test_an_access_list_request_keeps_its_list(node: Any) -> None:
    access_list = [{"address": TO, "storageKeys": ["0x" + "00" * 31 + "01"]}]
    tx = _fill(node, {"from": DEV0, "to": TO, "accessList": access_list})["tx"]
    assert tx["type"] == "0x2"
    assert tx["accessList"] == access_list
    assert int(tx["gas"], 16) == 21_000 + 2_400 + 1_900  # EIP-2930: an address, a slot


def test_a_blob_request_is_type_3_with_twice_the_blob_base_fee(node: Any) -> None:
    tx = _fill(node, {"from": DEV0, "to": TO, "blobVersionedHashes": [BLOB_HASH]})["tx"]
    assert tx["type"] == "0x3"
    assert tx["blobVersionedHashes"] == [BLOB_HASH]
    assert tx["maxFeePerBlobGas"] == hex(2 * 1)  # the dev chain's blob base fee is the minimum


def test_a_legacy_request_is_filled_unprotected(node: Any) -> None:
    result = _fill(node, {"from": DEV0, "to": TO, "gasPrice": "0x3b9aca00"})
    tx = result["tx"]
    assert tx["type"] == "0x0"
    assert "chainId" not in tx
    assert "yParity" not in tx
    assert (tx["gasPrice"], tx["maxFeePerGas"], tx["maxPriorityFeePerGas"]) == ("0x3b9aca00", None, None)
    assert len(rlp.decode(bytes.fromhex(result["raw"][2:]))) == 9


@pytest.mark.parametrize(
    ("request_", "words"),
    [
        (
            {"to": TO, "gasPrice": "0x1", "authorizationList": []},
            "^both gasPrice and authorizationList specified$",
        ),
        ({"to": TO, "gasPrice": "0x0"}, "^gasPrice must be non-zero after london fork$"),
        ({"to": TO, "maxFeePerGas": "0x0", "maxPriorityFeePerGas": "0x0"}, "^maxFeePerGas must be non-zero$"),
        (
            {"to": TO, "maxFeePerGas": "0x1", "maxPriorityFeePerGas": "0x2"},
            r"^maxFeePerGas \(0x1\) < maxPriorityFeePerGas \(0x2\)$",
        ),
        ({"to": TO, "maxFeePerBlobGas": "0x0"}, "^maxFeePerBlobGas, if specified, must be non-zero$"),
        ({"to": TO, "blobVersionedHashes": []}, "^need at least 1 blob for a blob transaction$"),
        (
            {"to": TO, "blobVersionedHashes": [BLOB_HASH] * 7},
            r"^too many blobs in transaction \(have=7, max=6\)$",
        ),
        ({"blobVersionedHashes": [BLOB_HASH]}, '^missing "to" in blob transaction$'),
        ({}, "^contract creation without any data provided$"),
        (
            {
                "input": "0x00",
                "authorizationList": [
                    {
                        "chainId": "0x1",
                        "address": TO,
                        "nonce": "0x0",
                        "yParity": "0x0",
                        "r": "0x1",
                        "s": "0x1",
                    }
                ],
            },
            '^authorizationList provided for contract creation, but "to" field is missing$',
        ),
        ({"to": TO, "chainId": "0x1"}, r"^chainId does not match node's \(have=1, want=1337\)$"),
    ],
)
def test_geths_refusals(node: Any, request_: dict[str, Any], words: str) -> None:
    with pytest.raises(InvalidTransaction, match=words):
        _fill(node, {"from": DEV0, **request_})


def test_blobs_are_refused_as_params(node: Any) -> None:
    with pytest.raises(InvalidParams, match=r'^"blobs" is not supported for this RPC method$'):
        _fill(node, {"from": DEV0, "to": TO, "blobs": ["0x00"]})
