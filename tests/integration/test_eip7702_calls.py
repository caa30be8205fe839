"""EIP-7702 in the read-side methods and eth_fillTransaction, with web3.py against a real
`jsc-node run` over HTTP: what a wallet does before a type-4 send with no hand-set gas.

geth's behaviour compared with: eth_estimateGas counts 25,000 an authorization (core.IntrinsicGas),
so its answer is a gas limit the pool accepts; eth_call applies the request's authorizations
before it runs (internal/ethapi ``ToMessage``), and a call to a delegated EOA runs the delegate's
code; eth_createAccessList lists what that code touches; eth_fillTransaction answers
``{"raw", "tx"}`` (internal/ethapi ``FillTransaction``), which a wallet signs and sends.
"""

from __future__ import annotations

from typing import Any

import pytest
import rlp
from eth_account import Account
from eth_hash.auto import keccak
from web3 import Web3

from tests.integration.conftest import DEV_KEY, DEV_KEY_2

CHAIN_ID = 1337
PROBED = "0x" + "be" * 20
SLOT = 7
# The delegate's runtime: SSTORE(7, 42); BALANCE(PROBED); return ADDRESS (the EOA when delegated).
RUNTIME = (
    bytes.fromhex("602a600755")
    + b"\x73"
    + bytes.fromhex(PROBED[2:])
    + bytes.fromhex("31503060005260206000f3")
)
# Init code: CODECOPY the runtime that follows these 11 bytes and RETURN it.
INIT = bytes.fromhex(f"60{len(RUNTIME):02x}80600b6000396000f3") + RUNTIME
DELEGATION_PREFIX = bytes.fromhex("ef0100")


def _rpc(w3: Web3, method: str, params: list[Any]) -> Any:
    response = w3.provider.make_request(method, params)  # type: ignore[arg-type]
    if "error" in response:
        raise RuntimeError(response["error"]["message"])
    return response["result"]


def _send(w3: Web3, key: str, tx: dict[str, Any]) -> Any:
    account = Account.from_key(key)
    tx.setdefault("nonce", w3.eth.get_transaction_count(account.address, "pending"))
    tx.setdefault("chainId", CHAIN_ID)
    signed = account.sign_transaction(tx)
    tx_hash = w3.eth.send_raw_transaction(signed.raw_transaction)
    return w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30, poll_latency=0.1)


def _fees(w3: Web3) -> dict[str, int]:
    tip = w3.eth.max_priority_fee
    return {
        "maxPriorityFeePerGas": tip,
        "maxFeePerGas": tip + 2 * w3.eth.get_block("latest")["baseFeePerGas"],
    }


def _auth_json(signed: Any) -> dict[str, str]:
    return {
        "chainId": hex(signed.chain_id),
        "address": "0x" + bytes(signed.address).hex(),
        "nonce": hex(signed.nonce),
        "yParity": hex(signed.y_parity),
        "r": hex(signed.r),
        "s": hex(signed.s),
    }


@pytest.fixture(scope="module")
def delegate(w3: Web3) -> str:
    receipt = _send(w3, DEV_KEY, {"data": INIT, "gas": 200_000, **_fees(w3)})
    assert receipt.status == 1
    assert bytes(w3.eth.get_code(receipt.contractAddress)) == RUNTIME
    return str(receipt.contractAddress)


def _authorize(delegate: str) -> tuple[Any, Any]:
    """A fresh EOA and its signed authorization to ``delegate`` (nonce 0, this chain)."""
    eoa = Account.create()
    signed = Account.sign_authorization({"chainId": CHAIN_ID, "address": delegate, "nonce": 0}, eoa.key)
    return eoa, signed


def test_the_issue_repro_estimates_at_least_46000(w3: Web3, delegate: str) -> None:
    dev0 = Account.from_key(DEV_KEY).address
    dev1 = Account.from_key(DEV_KEY_2).address
    auth = {"chainId": "0x539", "address": delegate, "nonce": "0x0", "yParity": "0x0", "r": "0x1", "s": "0x1"}
    for count in (1, 2):
        request = {"from": dev0, "to": dev1, "authorizationList": [auth] * count}
        # geth's intrinsic gas: 21,000 + 25,000 an authorization (anvil: 46,001 for one).
        assert int(_rpc(w3, "eth_estimateGas", [request]), 16) >= 21_000 + 25_000 * count


@pytest.mark.parametrize("count", [1, 2])
def test_a_type4_send_with_the_estimated_gas_is_mined_and_delegates(
    w3: Web3, delegate: str, count: int
) -> None:
    sender = Account.from_key(DEV_KEY).address
    pairs = [_authorize(delegate) for _ in range(count)]
    target = pairs[0][0].address
    request = {"from": sender, "to": target, "authorizationList": [_auth_json(s) for _, s in pairs]}
    estimate = int(_rpc(w3, "eth_estimateGas", [request]), 16)
    assert estimate >= 21_000 + 25_000 * count
    tx = {"to": target, "gas": estimate, "authorizationList": [s for _, s in pairs], **_fees(w3)}
    receipt = _send(w3, DEV_KEY, tx)
    assert receipt.status == 1
    assert receipt.type == 4
    assert receipt.gasUsed <= estimate
    for eoa, _ in pairs:
        assert bytes(w3.eth.get_code(eoa.address)) == DELEGATION_PREFIX + bytes.fromhex(delegate[2:])
    # The delegate ran in the EOA's account during the send: SSTORE(7, 42) landed there.
    assert int.from_bytes(w3.eth.get_storage_at(target, SLOT), "big") == 42
    # Later calls to the EOA run the delegate's code.
    assert bytes(w3.eth.call({"to": target})) == bytes.fromhex(target[2:]).rjust(32, b"\x00")


def test_eth_call_applies_the_requests_authorizations(w3: Web3, delegate: str) -> None:
    eoa, signed = _authorize(delegate)
    plain = {"to": eoa.address}
    assert _rpc(w3, "eth_call", [plain, "latest"]) == "0x"
    with_auth = {"to": eoa.address, "authorizationList": [_auth_json(signed)]}
    assert _rpc(w3, "eth_call", [with_auth, "latest"]) == "0x" + eoa.address[2:].lower().rjust(64, "0")
    # Nothing was sent: the EOA still has no code.
    assert bytes(w3.eth.get_code(eoa.address)) == b""


def test_create_access_list_lists_what_the_delegate_touches(w3: Web3, delegate: str) -> None:
    eoa, signed = _authorize(delegate)
    request = {
        "from": Account.from_key(DEV_KEY).address,
        "to": eoa.address,
        "authorizationList": [_auth_json(signed)],
    }
    result = _rpc(w3, "eth_createAccessList", [request, "latest"])
    expected = [
        {"address": eoa.address.lower(), "storageKeys": ["0x" + SLOT.to_bytes(32, "big").hex()]},
        {"address": PROBED, "storageKeys": []},
    ]
    assert result["accessList"] == sorted(expected, key=lambda entry: str(entry["address"]))
    assert int(result["gasUsed"], 16) > 46_000


def test_a_creations_init_code_words_are_intrinsic_gas(w3: Web3) -> None:
    init = "0x" + "00" * 1_000
    intrinsic = 53_000 + 4 * 1_000 + 2 * 32  # EIP-3860: 2 gas a 32-byte word of init code
    assert int(_rpc(w3, "eth_estimateGas", [{"data": init}]), 16) == intrinsic
    with pytest.raises(RuntimeError, match=f"intrinsic gas too low: have {intrinsic - 1}, want {intrinsic}"):
        _rpc(w3, "eth_call", [{"data": init, "gas": hex(intrinsic - 1)}, "latest"])


# --- eth_fillTransaction ---------------------------------------------------------------------


def _signable(tx: dict[str, Any]) -> dict[str, Any]:
    """eth_fillTransaction's ``tx`` as eth_account signs it."""
    out: dict[str, Any] = {
        "nonce": int(tx["nonce"], 16),
        "gas": int(tx["gas"], 16),
        "value": int(tx["value"], 16),
        "data": tx["input"],
        "to": Web3.to_checksum_address(tx["to"]),
        "chainId": CHAIN_ID,
    }
    if tx["type"] == "0x0":
        out["gasPrice"] = int(tx["gasPrice"], 16)
        return out
    out["type"] = int(tx["type"], 16)
    out["maxFeePerGas"] = int(tx["maxFeePerGas"], 16)
    out["maxPriorityFeePerGas"] = int(tx["maxPriorityFeePerGas"], 16)
    out["accessList"] = tx["accessList"]
    if "authorizationList" in tx:
        out["authorizationList"] = [
            {k: int(v, 16) if k != "address" else Web3.to_checksum_address(v) for k, v in a.items()}
            for a in tx["authorizationList"]
        ]
    return out


def test_fill_transaction_fills_a_transfer_that_signs_and_mines(w3: Web3) -> None:
    account = Account.from_key(DEV_KEY_2)
    to = Account.create().address
    filled = _rpc(w3, "eth_fillTransaction", [{"from": account.address, "to": to, "value": "0x1"}])
    tx = filled["tx"]
    raw = bytes.fromhex(filled["raw"][2:])
    # geth's types.Transaction JSON of an unsigned dynamic-fee transaction.
    assert tx["type"] == "0x2"
    assert tx["chainId"] == hex(CHAIN_ID)
    assert tx["gasPrice"] is None
    assert (tx["v"], tx["r"], tx["s"], tx["yParity"]) == ("0x0", "0x0", "0x0", "0x0")
    assert int(tx["nonce"], 16) == w3.eth.get_transaction_count(account.address, "pending")
    assert int(tx["gas"], 16) == 21_000
    tip = w3.eth.max_priority_fee
    assert int(tx["maxPriorityFeePerGas"], 16) == tip
    assert int(tx["maxFeePerGas"], 16) == tip + 2 * w3.eth.get_block("latest")["baseFeePerGas"]
    # raw is the type byte and the RLP of the fields with v = r = s = 0; its hash is tx's hash.
    assert raw[0] == 2
    fields = rlp.decode(raw[1:])
    assert [int.from_bytes(f, "big") for f in fields[:5]] == [
        CHAIN_ID,
        int(tx["nonce"], 16),
        int(tx["maxPriorityFeePerGas"], 16),
        int(tx["maxFeePerGas"], 16),
        21_000,
    ]
    assert fields[5] == bytes.fromhex(to[2:])
    assert fields[-3:] == [b"", b"", b""]
    assert "0x" + keccak(raw).hex() == tx["hash"]
    signed = account.sign_transaction(_signable(tx))
    receipt = w3.eth.wait_for_transaction_receipt(
        w3.eth.send_raw_transaction(signed.raw_transaction), timeout=30, poll_latency=0.1
    )
    assert receipt.status == 1
    assert w3.eth.get_balance(to) == 1


def test_fill_transaction_of_a_set_code_request_signs_and_delegates(w3: Web3, delegate: str) -> None:
    account = Account.from_key(DEV_KEY_2)
    eoa, signed_auth = _authorize(delegate)
    request = {"from": account.address, "to": eoa.address, "authorizationList": [_auth_json(signed_auth)]}
    tx = _rpc(w3, "eth_fillTransaction", [request])["tx"]
    assert tx["type"] == "0x4"
    assert tx["authorizationList"] == [_auth_json(signed_auth)]
    assert int(tx["gas"], 16) >= 46_000
    signed = account.sign_transaction(_signable(tx))
    receipt = w3.eth.wait_for_transaction_receipt(
        w3.eth.send_raw_transaction(signed.raw_transaction), timeout=30, poll_latency=0.1
    )
    assert receipt.status == 1
    assert bytes(w3.eth.get_code(eoa.address)) == DELEGATION_PREFIX + bytes.fromhex(delegate[2:])


def test_fill_transaction_with_a_gas_price_is_legacy(w3: Web3) -> None:
    account = Account.from_key(DEV_KEY_2)
    price = w3.eth.gas_price
    request = {"from": account.address, "to": Account.create().address, "gasPrice": hex(price)}
    filled = _rpc(w3, "eth_fillTransaction", [request])
    tx = filled["tx"]
    assert tx["type"] == "0x0"
    assert "chainId" not in tx  # v = 0: not EIP-155 protected, as geth shows it
    assert int(tx["gasPrice"], 16) == price
    assert (tx["maxFeePerGas"], tx["maxPriorityFeePerGas"]) == (None, None)
    assert rlp.decode(bytes.fromhex(filled["raw"][2:]))[-3:] == [b"", b"", b""]
    signed = account.sign_transaction(_signable(tx))
    receipt = w3.eth.wait_for_transaction_receipt(
        w3.eth.send_raw_transaction(signed.raw_transaction), timeout=30, poll_latency=0.1
    )
    assert receipt.status == 1


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        ({"gasPrice": "0x1", "authorizationList": []}, "both gasPrice and authorizationList specified"),
        (
            {"maxFeePerGas": "0x1", "maxPriorityFeePerGas": "0x2"},
            r"maxFeePerGas \(0x1\) < maxPriorityFeePerGas \(0x2\)",
        ),
        ({"to": None, "data": "0x"}, "contract creation without any data provided"),
        ({"chainId": "0x1"}, r"chainId does not match node's \(have=1, want=1337\)"),
        ({"blobs": ["0x00"]}, '"blobs" is not supported for this RPC method'),
    ],
)
def test_fill_transaction_refuses_with_geths_words(w3: Web3, extra: dict[str, Any], words: str) -> None:
    request = {"from": Account.from_key(DEV_KEY_2).address, "to": Account.create().address, **extra}
    request = {k: v for k, v in request.items() if v is not None}
    with pytest.raises(RuntimeError, match=words):
        _rpc(w3, "eth_fillTransaction", [request])
