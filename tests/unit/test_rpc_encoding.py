"""execution-apis hex rules, both ways, and geth's field sets per transaction type."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jsc_node.errors import InvalidParams
from jsc_node.rpc import encoding as enc
from jsc_node.views import AccessListEntry, AuthorizationView, BlockId, ReceiptView
from tests.unit.test_rpc_fake import make_block, make_tx

# --- QUANTITY ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("wire", "value"),
    [("0x0", 0), ("0x1", 1), ("0x400", 1024), ("0xff", 255), ("0xFF", 255), ("0Xa", 10)],
)
def test_quantity_accepts(wire: str, value: int) -> None:
    assert enc.decode_quantity(wire) == value


@pytest.mark.parametrize(
    ("wire", "problem"),
    [
        ("0x", 'hex string "0x"'),
        ("0x00", "leading zero"),
        ("0x0400", "leading zero"),
        ("ff", "without 0x prefix"),
        ("", "without 0x prefix"),
        ("0xg1", "invalid hex"),
        ("0x 1", "invalid hex"),
        ("0x1_0", "invalid hex"),
        ("0x-1", "invalid hex"),
        (1, "cannot unmarshal number"),
        (None, "cannot unmarshal null"),
        (True, "cannot unmarshal bool"),
        ("0x1" + "0" * 64, "> 256 bits"),
    ],
)
def test_quantity_rejects(wire: Any, problem: str) -> None:
    with pytest.raises(InvalidParams, match=problem):
        enc.decode_quantity(wire)


def test_uint64_bound() -> None:
    assert enc.decode_uint64("0xffffffffffffffff") == 2**64 - 1
    with pytest.raises(InvalidParams, match="> 64 bits"):
        enc.decode_uint64("0x10000000000000000")


@pytest.mark.parametrize(
    ("value", "wire"), [(0, "0x0"), (1, "0x1"), (255, "0xff"), (2**256 - 1, "0x" + "f" * 64)]
)
def test_quantity_encodes_without_leading_zeros(value: int, wire: str) -> None:
    assert enc.quantity(value) == wire


def test_negative_quantity_is_a_bug() -> None:
    with pytest.raises(ValueError, match="negative"):
        enc.quantity(-1)


@given(st.integers(min_value=0, max_value=2**256 - 1))
def test_quantity_round_trips(value: int) -> None:
    assert enc.decode_quantity(enc.quantity(value)) == value


@pytest.mark.parametrize(("wire", "value"), [(5, 5), ("5", 5), ("0x5", 5), ("0x05", 5), ("1024", 1024)])
def test_hex_or_decimal(wire: Any, value: int) -> None:
    assert enc.decode_hex_or_decimal64(wire) == value


@pytest.mark.parametrize("wire", ["x5", "-1", "0x", 1.5, True, None, 2**64])
def test_hex_or_decimal_rejects(wire: Any) -> None:
    with pytest.raises(InvalidParams):
        enc.decode_hex_or_decimal64(wire)


# --- DATA, addresses, hashes ---------------------------------------------------------


@pytest.mark.parametrize(
    ("wire", "value"), [("0x", b""), ("0x00", b"\x00"), ("0xDEadBEef", b"\xde\xad\xbe\xef")]
)
def test_data_accepts(wire: str, value: bytes) -> None:
    assert enc.decode_data(wire) == value


@pytest.mark.parametrize(
    ("wire", "problem"),
    [
        ("0x0", "odd length"),
        ("00", "without 0x prefix"),
        ("0xzz", "invalid hex"),
        ("0x 0", "invalid hex"),
        (7, "number"),
    ],
)
def test_data_rejects(wire: Any, problem: str) -> None:
    with pytest.raises(InvalidParams, match=problem):
        enc.decode_data(wire)


@given(st.binary(max_size=100))
def test_data_round_trips(raw: bytes) -> None:
    assert enc.decode_data(enc.data(raw)) == raw


def test_address_length_and_case() -> None:
    assert enc.decode_address("0x" + "Ab" * 20) == b"\xab" * 20
    with pytest.raises(InvalidParams, match=r"length 38, want 40 for common\.Address"):
        enc.decode_address("0x" + "ab" * 19)
    with pytest.raises(InvalidParams, match="without 0x prefix"):
        enc.decode_address("ab" * 20)


def test_hash_length() -> None:
    assert enc.decode_hash("0x" + "00" * 32) == b"\x00" * 32
    with pytest.raises(InvalidParams, match=r"want 64 for common\.Hash"):
        enc.decode_hash("0x" + "00" * 31)


@pytest.mark.parametrize(
    ("wire", "slot"),
    [
        ("0x0", b"\x00" * 32),
        ("0x1", b"\x00" * 31 + b"\x01"),
        ("0x100", b"\x00" * 30 + b"\x01\x00"),
        ("0x" + "00" * 31 + "2a", b"\x00" * 31 + b"\x2a"),
        ("2a", b"\x00" * 31 + b"\x2a"),
    ],
)
def test_storage_key_is_lenient_like_geth(wire: str, slot: bytes) -> None:
    assert enc.decode_storage_key(wire) == slot


def test_storage_key_errors_match_geth() -> None:
    with pytest.raises(InvalidParams, match=r'storage key too long \(want at most 32 bytes\): "0x0{65}"'):
        enc.decode_storage_key("0x" + "0" * 65)
    with pytest.raises(InvalidParams, match='invalid hex in storage key: "0xasdf"'):
        enc.decode_storage_key("0xasdf")


def test_checksum_address_eip55() -> None:
    # EIP-55 test vector, and the txpool_content fixture's key.
    raw = bytes.fromhex("5aaeb6053f3e94c9b9a09f33669435e7ef1beaed")
    assert enc.checksum_address(raw) == "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
    raw = bytes.fromhex("0c2c51a0990aee1d73c1228de158688341557508")
    assert enc.checksum_address(raw) == "0x0c2c51a0990AeE1d73C1228de158688341557508"


# --- block ids -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("wire", "expected"),
    [
        ("latest", BlockId(tag="latest")),
        ("earliest", BlockId(tag="earliest")),
        ("pending", BlockId(tag="pending")),
        ("safe", BlockId(tag="safe")),
        ("finalized", BlockId(tag="finalized")),
        ("0x0", BlockId(number=0)),
        ("0x2d", BlockId(number=45)),
        ("0x" + "ab" * 32, BlockId(hash=b"\xab" * 32)),
        ({"blockNumber": "0x5"}, BlockId(number=5)),
        ({"blockNumber": "latest"}, BlockId(tag="latest")),
        ({"blockHash": "0x" + "cd" * 32}, BlockId(hash=b"\xcd" * 32)),
        (
            {"blockHash": "0x" + "cd" * 32, "requireCanonical": True},
            BlockId(hash=b"\xcd" * 32, require_canonical=True),
        ),
    ],
)
def test_block_id_decodes(wire: Any, expected: BlockId) -> None:
    assert enc.decode_block_id(wire) == expected


@pytest.mark.parametrize(
    ("wire", "problem"),
    [
        ("0x01", "leading zero"),
        ("1", "without 0x prefix"),
        ("Latest", "without 0x prefix"),
        (5, "cannot unmarshal number"),
        ("0x8000000000000000", "larger than int64"),
        ({"blockHash": "0x" + "cd" * 32, "blockNumber": "0x1"}, "cannot specify both"),
        ({}, "at least one"),
        ({"blockHash": "0x" + "cd" * 32, "requireCanonical": "yes"}, "bool"),
    ],
)
def test_block_id_rejects(wire: Any, problem: str) -> None:
    with pytest.raises(InvalidParams, match=problem):
        enc.decode_block_id(wire)


def test_block_number_refuses_hashes() -> None:
    with pytest.raises(InvalidParams):
        enc.decode_block_number("0x" + "ab" * 32)


def test_block_id_needs_exactly_one() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        BlockId()
    with pytest.raises(ValueError, match="exactly one"):
        BlockId(number=1, tag="latest")


# --- call objects and overrides ----------------------------------------------------------


def test_call_request_fields() -> None:
    request = enc.decode_call_request(
        {
            "from": "0x" + "11" * 20,
            "to": "0x" + "22" * 20,
            "gas": "0x5208",
            "maxFeePerGas": "0x10",
            "maxPriorityFeePerGas": "0x1",
            "value": "0x17",
            "data": "0x3334",
            "nonce": "0x2",
            "accessList": [{"address": "0x" + "22" * 20, "storageKeys": ["0x" + "00" * 32]}],
            "authorizationList": [
                {
                    "chainId": "0x1",
                    "address": "0x" + "aa" * 20,
                    "nonce": "0x0",
                    "yParity": "0x0",
                    "r": "0x" + "11" * 32,
                    "s": "0x0022",
                }
            ],
            "blobVersionedHashes": ["0x01" + "00" * 31],
            "type": "0x4",
            "someFutureField": 1,
        }
    )
    assert request.sender == b"\x11" * 20
    assert request.to == b"\x22" * 20
    assert request.gas == 21000
    assert request.input == b"\x33\x34"
    assert request.access_list == (AccessListEntry(b"\x22" * 20, (b"\x00" * 32,)),)
    assert request.authorization_list == (AuthorizationView(1, b"\xaa" * 20, 0, 0, int("11" * 32, 16), 0x22),)
    assert request.type == 4
    assert request.gas_price is None


def test_call_request_data_and_input() -> None:
    assert enc.decode_call_request({"input": "0x01", "data": "0x01"}).input == b"\x01"
    assert enc.decode_call_request({"input": "0x01"}).input == b"\x01"
    assert enc.decode_call_request({}).input is None
    with pytest.raises(InvalidParams, match='both "data" and "input"'):
        enc.decode_call_request({"input": "0x01", "data": "0x02"})


def test_call_request_fee_conflict() -> None:
    with pytest.raises(InvalidParams, match="both gasPrice and"):
        enc.decode_call_request({"gasPrice": "0x1", "maxFeePerGas": "0x1"})


def test_call_request_to_null_is_creation() -> None:
    assert enc.decode_call_request({"to": None, "data": "0x00"}).to is None


def test_state_override() -> None:
    address = "0x" + "aa" * 20
    overrides = enc.decode_state_override(
        {
            address: {
                "balance": "0x1",
                "nonce": "0x2",
                "code": "0x60",
                "stateDiff": {"0x" + "00" * 32: "0x" + "01" * 32},
            }
        }
    )
    account = overrides[b"\xaa" * 20]
    assert (account.balance, account.nonce, account.code) == (1, 2, b"\x60")
    assert account.state is None
    assert account.state_diff == {b"\x00" * 32: b"\x01" * 32}
    with pytest.raises(InvalidParams, match="both 'state' and 'stateDiff'"):
        enc.decode_state_override({address: {"state": {}, "stateDiff": {}}})


def test_topics() -> None:
    t = "0x" + "ab" * 32
    assert enc.decode_topics([]) == ()
    assert enc.decode_topics([None, t, [t], []]) == (None, (b"\xab" * 32,), (b"\xab" * 32,), None)
    assert enc.decode_topics([[t, None]]) == (None,)
    with pytest.raises(InvalidParams, match="exceed max topics"):
        enc.decode_topics([None] * 5)


# --- parameter positions (geth's "invalid argument N") -------------------------------------


def test_argument_errors_name_the_position() -> None:
    with pytest.raises(InvalidParams, match=r"^invalid argument 1: hex string without 0x prefix$"):
        enc.required(["0x1", "12"], 1, enc.decode_quantity)
    with pytest.raises(InvalidParams, match=r"^missing value for required argument 0$"):
        enc.required([], 0, enc.decode_quantity)
    with pytest.raises(InvalidParams, match=r"^missing value for required argument 0$"):
        enc.required([None], 0, enc.decode_quantity)
    assert enc.optional([None], 0, enc.decode_quantity, 7) == 7
    with pytest.raises(InvalidParams, match="too many arguments, want at most 1"):
        enc.check_arity([1, 2], 1)


# --- output field sets per transaction type (geth RPCTransaction) ---------------------------

COMMON = [
    "blockHash",
    "blockNumber",
    "blockTimestamp",
    "from",
    "gas",
    "gasPrice",
    "hash",
    "input",
    "nonce",
    "to",
    "transactionIndex",
    "value",
    "type",
]


@pytest.mark.parametrize(
    ("kind", "extra"),
    [
        (0, ["chainId", "v", "r", "s"]),
        (1, ["accessList", "chainId", "v", "r", "s", "yParity"]),
        (2, ["maxFeePerGas", "maxPriorityFeePerGas", "accessList", "chainId", "v", "r", "s", "yParity"]),
        (
            3,
            [
                "maxFeePerGas",
                "maxPriorityFeePerGas",
                "maxFeePerBlobGas",
                "accessList",
                "chainId",
                "blobVersionedHashes",
                "v",
                "r",
                "s",
                "yParity",
            ],
        ),
        (
            4,
            [
                "maxFeePerGas",
                "maxPriorityFeePerGas",
                "accessList",
                "chainId",
                "authorizationList",
                "v",
                "r",
                "s",
                "yParity",
            ],
        ),
    ],
)
def test_tx_field_set_per_type(kind: int, extra: list[str]) -> None:
    fields: dict[str, Any] = {}
    if kind == 0:
        fields["chain_id"] = 1337
    if kind == 3:
        fields.update(max_fee_per_blob_gas=3, blob_versioned_hashes=(b"\x01" * 32,))
    if kind == 4:
        fields["authorization_list"] = (AuthorizationView(1, b"\xaa" * 20, 0, 1, 2, 3),)
    out = enc.format_tx(make_tx(block=3, kind=kind, **fields))
    assert set(out) == set(COMMON) | set(extra)
    assert out["type"] == hex(kind)


def test_pre_eip155_legacy_has_no_chain_id() -> None:
    out = enc.format_tx(make_tx(kind=0, v=28))
    assert "chainId" not in out
    assert "yParity" not in out
    assert out["v"] == "0x1c"


def test_pending_tx_has_null_block_fields() -> None:
    out = enc.format_tx(make_tx())
    for key in ("blockHash", "blockNumber", "blockTimestamp", "transactionIndex"):
        assert key in out
        assert out[key] is None


def test_creation_has_null_to() -> None:
    assert enc.format_tx(make_tx(to=None))["to"] is None


def test_block_fork_fields_only_when_set() -> None:
    pre_london = enc.format_block(make_block(1, base_fee_per_gas=None))
    assert "baseFeePerGas" not in pre_london
    assert "withdrawals" not in pre_london
    assert "totalDifficulty" not in pre_london
    prague = enc.format_block(
        make_block(
            2,
            withdrawals=(),
            withdrawals_root=b"\x01" * 32,
            blob_gas_used=0,
            excess_blob_gas=0,
            parent_beacon_block_root=b"\x02" * 32,
            requests_hash=b"\x03" * 32,
        )
    )
    for key in (
        "withdrawals",
        "withdrawalsRoot",
        "blobGasUsed",
        "excessBlobGas",
        "parentBeaconBlockRoot",
        "requestsHash",
    ):
        assert key in prague
    assert prague["withdrawals"] == []
    assert list(prague) == sorted(prague)


def test_block_full_and_hash_transactions() -> None:
    tx = make_tx(block=5)
    assert enc.format_block(make_block(5, [tx]))["transactions"][0]["hash"] == "0x" + tx.hash.hex()
    assert enc.format_block(make_block(5, transactions=(tx.hash,)))["transactions"] == ["0x" + tx.hash.hex()]


def _receipt(**fields: Any) -> ReceiptView:
    values: dict[str, Any] = {
        "type": 2,
        "transaction_hash": b"\x01" * 32,
        "transaction_index": 0,
        "block_hash": b"\x02" * 32,
        "block_number": 1,
        "sender": b"\x03" * 20,
        "to": None,
        "cumulative_gas_used": 50_000,
        "gas_used": 50_000,
        "effective_gas_price": 7,
        "contract_address": b"\x04" * 20,
        "logs": (),
        "logs_bloom": b"\x00" * 256,
        "status": 1,
    }
    values.update(fields)
    return ReceiptView(**values)


def test_receipt_status_or_root() -> None:
    post = enc.format_receipt(_receipt())
    assert post["status"] == "0x1"
    assert "root" not in post
    assert "blobGasUsed" not in post
    pre = enc.format_receipt(_receipt(type=0, status=None, root=b"\x05" * 32))
    assert "status" not in pre
    assert pre["root"] == "0x" + "05" * 32
    blob = enc.format_receipt(_receipt(type=3, blob_gas_used=131072, blob_gas_price=1))
    assert (blob["blobGasUsed"], blob["blobGasPrice"]) == ("0x20000", "0x1")
    assert list(post) == sorted(post)


def test_fee_history_formatting() -> None:
    from jsc_node.views import FeeHistoryView

    out = enc.format_fee_history(FeeHistoryView(5, (7, 8), (0.0,), None, (1, 1), (0.0,)))
    assert out == {
        "oldestBlock": "0x5",
        "baseFeePerGas": ["0x7", "0x8"],
        "gasUsedRatio": [0],
        "baseFeePerBlobGas": ["0x1", "0x1"],
        "blobGasUsedRatio": [0],
    }
    with_reward = enc.format_fee_history(FeeHistoryView(5, (7, 8), (0.25,), ((1, 2),)))
    assert with_reward["reward"] == [["0x1", "0x2"]]
    assert with_reward["gasUsedRatio"] == [0.25]
    assert "baseFeePerBlobGas" not in with_reward
