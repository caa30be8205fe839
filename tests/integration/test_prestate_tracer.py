"""geth's prestateTracer over a real dev node: a contract creation, a storage write and a value
transfer, traced in both modes, checked against geth's rules (eth/tracers/native/prestate.go):

- without ``diffMode``: every account the transaction touched, as it was before it (balance
  always, nonce when not 0, code and code hash when there is code, the storage slots read or
  written with their old values); accounts empty before the transaction are left out;
- with ``diffMode``: ``post`` holds only what changed, ``pre`` only the accounts that changed, as
  they were; a created account is absent from ``pre``; unchanged storage slots are left out;
- the fee receiver (the block's coinbase) is among them, credited with the priority fee.

The ``pre`` values are checked against the node's own state one block earlier (each transaction is
alone in its block on the dev chain), ``post`` values against the state at the block.
"""

from __future__ import annotations

from typing import Any

import pytest
from eth_hash.auto import keccak
from web3 import Web3

from tests.contracts import STORAGE_RUNTIME, storage_contract_init, storage_set_data
from tests.integration.conftest import DEV_KEY

PRESTATE = "prestateTracer"
SLOT0 = "0x" + "00" * 32
FRESH = "0x00000000000000000000000000000000000f4e51"
GAS_PRICE = 3 * 10**9


def _word(value: int) -> str:
    return "0x" + value.to_bytes(32, "big").hex()


def _rpc(w3: Web3, method: str, params: list[Any]) -> Any:
    response = w3.provider.make_request(method, params)  # type: ignore[arg-type]
    assert "error" not in response, response
    return response["result"]


def _error(w3: Web3, method: str, params: list[Any]) -> dict[str, Any]:
    response = w3.provider.make_request(method, params)  # type: ignore[arg-type]
    assert "error" in response, response
    error: dict[str, Any] = response["error"]
    return error


def _send(w3: Web3, tx: dict[str, Any]) -> Any:
    account = w3.eth.account.from_key(DEV_KEY)
    tx = {
        "from": account.address,
        "nonce": w3.eth.get_transaction_count(account.address, "pending"),
        "chainId": w3.eth.chain_id,
        "gasPrice": GAS_PRICE,
        "gas": 200_000,
        **tx,
    }
    signed = account.sign_transaction(tx)
    receipt = w3.eth.wait_for_transaction_receipt(
        w3.eth.send_raw_transaction(signed.raw_transaction), timeout=30, poll_latency=0.1
    )
    assert receipt.status == 1
    assert receipt.transactionIndex == 0
    return receipt


def _trace(w3: Web3, receipt: Any, **config: bool) -> dict[str, Any]:
    options: dict[str, Any] = {"tracer": PRESTATE}
    if config:
        options["tracerConfig"] = config
    result: dict[str, Any] = _rpc(
        w3, "debug_traceTransaction", ["0x" + receipt.transactionHash.hex(), options]
    )
    return result


def _key(address: str) -> str:
    return address.lower()


@pytest.fixture(scope="module")
def sender(w3: Web3) -> str:
    return _key(w3.eth.account.from_key(DEV_KEY).address)


@pytest.fixture(scope="module")
def created(w3: Web3) -> Any:
    return _send(w3, {"data": storage_contract_init(42)})


@pytest.fixture(scope="module")
def written(w3: Web3, created: Any) -> Any:
    return _send(w3, {"to": created.contractAddress, "data": storage_set_data(7)})


@pytest.fixture(scope="module")
def transfer(w3: Web3, written: Any) -> Any:
    return _send(w3, {"to": Web3.to_checksum_address(FRESH), "value": 12345, "gas": 21_000})


def _check_account_before(w3: Web3, address: str, shown: dict[str, Any], block: int) -> None:
    """A ``pre`` entry is the account as it was at the end of ``block`` (geth's field rules)."""
    checksum = Web3.to_checksum_address(address)
    assert shown["balance"] == hex(w3.eth.get_balance(checksum, block))
    nonce = w3.eth.get_transaction_count(checksum, block)
    assert shown.get("nonce") == (nonce or None)  # a JSON number, left out when 0
    code = bytes(w3.eth.get_code(checksum, block))
    if code:
        assert shown["code"] == "0x" + code.hex()
        assert shown["codeHash"] == "0x" + keccak(code).hex()
    else:
        assert "code" not in shown
        assert "codeHash" not in shown


def _coinbase_fee(w3: Web3, receipt: Any) -> tuple[str, int]:
    block = w3.eth.get_block(receipt.blockNumber)
    tip = receipt.effectiveGasPrice - block.get("baseFeePerGas", 0)
    return _key(block.miner), receipt.gasUsed * tip


def test_creation_without_diff_mode(w3: Web3, sender: str, created: Any) -> None:
    pre = _trace(w3, created)
    before = created.blockNumber - 1
    assert sender in pre
    _check_account_before(w3, sender, pre[sender], before)
    # The new contract was empty before: geth leaves it out.
    assert _key(created.contractAddress) not in pre
    coinbase, _fee = _coinbase_fee(w3, created)
    if w3.eth.get_balance(Web3.to_checksum_address(coinbase), before) or w3.eth.get_transaction_count(
        Web3.to_checksum_address(coinbase), before
    ):
        _check_account_before(w3, coinbase, pre[coinbase], before)
    else:
        assert coinbase not in pre
    assert list(pre) == sorted(pre)  # Go marshals a map with its keys sorted


def test_creation_in_diff_mode(w3: Web3, sender: str, created: Any) -> None:
    diff = _trace(w3, created, diffMode=True)
    assert list(diff) == ["post", "pre"]
    pre, post = diff["pre"], diff["post"]
    contract = _key(created.contractAddress)
    assert contract not in pre
    assert post[contract] == {
        "code": "0x" + STORAGE_RUNTIME.hex(),
        "codeHash": "0x" + keccak(STORAGE_RUNTIME).hex(),
        "nonce": 1,  # EIP-161: a contract starts at nonce 1
        "storage": {SLOT0: _word(42)},
    }
    before, after = created.blockNumber - 1, created.blockNumber
    me = Web3.to_checksum_address(sender)
    _check_account_before(w3, sender, pre[sender], before)
    assert post[sender] == {
        "balance": hex(w3.eth.get_balance(me, after)),
        "nonce": w3.eth.get_transaction_count(me, after),
    }
    assert int(pre[sender]["balance"], 16) - int(post[sender]["balance"], 16) == (
        created.gasUsed * created.effectiveGasPrice
    )
    coinbase, fee = _coinbase_fee(w3, created)
    assert fee > 0
    was = int(pre.get(coinbase, {}).get("balance", "0x0"), 16)
    assert int(post[coinbase]["balance"], 16) - was == fee
    assert set(post[coinbase]) == {"balance"}


def test_storage_write_in_both_modes(w3: Web3, sender: str, written: Any) -> None:
    contract = _key(written.to)
    before = written.blockNumber - 1
    pre = _trace(w3, written)
    _check_account_before(w3, contract, pre[contract], before)
    assert pre[contract]["storage"] == {SLOT0: _word(42)}  # the slot written, its old value
    assert pre[contract]["nonce"] == 1
    assert pre[contract]["balance"] == "0x0"  # geth always shows the balance

    diff = _trace(w3, written, diffMode=True)
    assert diff["pre"][contract] == pre[contract]
    # post: only the slot that changed; code, nonce and balance did not.
    assert diff["post"][contract] == {"storage": {SLOT0: _word(7)}}
    assert diff["post"][sender]["nonce"] == pre[sender]["nonce"] + 1

    quiet = _trace(w3, written, disableCode=True, disableStorage=True)
    assert "code" not in quiet[contract]
    assert "storage" not in quiet[contract]
    assert quiet[contract]["codeHash"] == "0x" + keccak(STORAGE_RUNTIME).hex()  # stays without code


def test_value_transfer_in_diff_mode(w3: Web3, sender: str, transfer: Any) -> None:
    diff = _trace(w3, transfer, diffMode=True)
    pre, post = diff["pre"], diff["post"]
    assert FRESH not in pre  # did not exist before
    assert post[FRESH] == {"balance": hex(12345)}
    assert int(pre[sender]["balance"], 16) - int(post[sender]["balance"], 16) == (
        12345 + transfer.gasUsed * transfer.effectiveGasPrice
    )
    assert post[sender]["nonce"] == pre[sender]["nonce"] + 1
    assert set(pre) <= set(post)  # pre lists only accounts that changed
    plain = _trace(w3, transfer)
    assert FRESH not in plain


def test_block_trace_and_trace_call(w3: Web3, sender: str, written: Any) -> None:
    config = {"tracer": PRESTATE, "tracerConfig": {"diffMode": True}}
    block = _rpc(w3, "debug_traceBlockByNumber", [hex(written.blockNumber), config])
    assert block == [
        {"txHash": "0x" + written.transactionHash.hex(), "result": _trace(w3, written, diffMode=True)}
    ]
    by_hash = _rpc(w3, "debug_traceBlockByHash", ["0x" + written.blockHash.hex(), config])
    assert by_hash == block

    contract = _key(written.to)
    latest = w3.eth.get_storage_at(written.to, 0)
    call = {"from": sender, "to": contract, "input": "0x" + storage_set_data(99).hex(), "gas": hex(100_000)}
    traced = _rpc(w3, "debug_traceCall", [call, "latest", config])
    assert traced["pre"][contract]["storage"] == {SLOT0: "0x" + bytes(latest).hex()}
    assert traced["post"][contract] == {"storage": {SLOT0: _word(99)}}
    # A free call (no gas price) pays nothing: the sender changes by its nonce only.
    assert traced["post"][sender] == {
        "nonce": w3.eth.get_transaction_count(Web3.to_checksum_address(sender)) + 1
    }
    assert w3.eth.get_storage_at(written.to, 0) == latest  # nothing was written


@pytest.mark.parametrize(
    ("tracer_config", "message"),
    [
        (
            {"diffMode": "yes"},
            "json: cannot unmarshal string into Go struct field PrestateTracerConfig.diffMode of type bool",
        ),
        (
            {"disableCode": 1},
            "json: cannot unmarshal number into Go struct field PrestateTracerConfig.disableCode of type bool",
        ),
        ({"diffMode": True, "includeEmpty": True}, "cannot use diffMode with includeEmpty"),
        ("diff", "json: cannot unmarshal string into Go value of type native.PrestateTracerConfig"),
    ],
)
def test_bad_tracer_config_gets_geths_error(w3: Web3, written: Any, tracer_config: Any, message: str) -> None:
    error = _error(
        w3,
        "debug_traceTransaction",
        ["0x" + written.transactionHash.hex(), {"tracer": PRESTATE, "tracerConfig": tracer_config}],
    )
    assert error == {"code": -32000, "message": message}


def test_go_json_rules_for_the_config(w3: Web3, written: Any) -> None:
    """Go's encoding/json: keys match case-insensitively, unknown keys and nulls are ignored."""
    folded = _trace(w3, written, DiffMode=True)
    assert set(folded) == {"post", "pre"}
    options = {"tracer": PRESTATE, "tracerConfig": {"diffMode": None, "unknown": 5}}
    plain = _rpc(w3, "debug_traceTransaction", ["0x" + written.transactionHash.hex(), options])
    assert plain == _trace(w3, written)
