"""Transaction pool rules: admission (geth's refusal words), pending/queued, replacement,
limits and eviction, block ordering, head updates, events, one sender recovery per tx."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
import rlp
from eth_account import Account
from eth_keys import keys
from eth_utils import keccak

from jsc_node.errors import InvalidTransaction
from jsc_node.state.evm.patches import senders as senders_module
from jsc_node.state.pool import journal as journal_module
from jsc_node.state.pool import pool as txpool_module
from jsc_node.state.pool import rules as pool_rules
from jsc_node.state.pool.pool import TxPool
from jsc_node.state.pool.rules import PooledTx, PoolLimits

CHAIN_ID = 1337
GWEI = 10**9
ETHER = 10**18
BLOCK_GAS_LIMIT = 30_000_000
DEV_KEY = bytes.fromhex("ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80")
TO = b"\x11" * 20
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


def key(i: int) -> bytes:
    """Deterministic test keys; key(0) is the standard dev key."""
    return DEV_KEY if i == 0 else keccak(b"jsc-txpool-test" + i.to_bytes(4, "big"))


def address(k: bytes) -> bytes:
    return keys.PrivateKey(k).public_key.to_canonical_address()


def sign_typed(k: bytes, tx_type: int, fields: list[Any]) -> bytes:
    """Sign an EIP-2718 envelope from its unsigned field list (any values, even invalid)."""
    digest = keccak(bytes([tx_type]) + rlp.encode(fields))
    v, r, s = keys.PrivateKey(k).sign_msg_hash(digest).vrs
    return bytes([tx_type]) + rlp.encode([*fields, v, r, s])


def tx1559(
    k: bytes = DEV_KEY,
    nonce: int = 0,
    tip: int = 1 * GWEI,
    fee_cap: int = 2 * GWEI,
    gas: int = 21_000,
    to: bytes = TO,
    value: int = 1,
    data: bytes = b"",
    chain_id: int = CHAIN_ID,
) -> bytes:
    return sign_typed(k, 2, [chain_id, nonce, tip, fee_cap, gas, to, value, data, []])


def tx_legacy(
    k: bytes = DEV_KEY,
    nonce: int = 0,
    gas_price: int = 2 * GWEI,
    gas: int = 21_000,
    to: bytes = TO,
    value: int = 1,
    data: bytes = b"",
    chain_id: int | None = CHAIN_ID,
) -> bytes:
    tx: dict[str, Any] = {"nonce": nonce, "gasPrice": gas_price, "gas": gas, "to": to, "value": value}
    tx["data"] = data
    if chain_id is not None:
        tx["chainId"] = chain_id
    return bytes(Account.sign_transaction(tx, k).raw_transaction)


def resign_fields(raw: bytes, **changes: int) -> bytes:
    """Re-encode a typed tx with y_parity/r/s (indexes -3..-1) replaced, unsigned."""
    items = rlp.decode(raw[1:])
    for name, value in changes.items():
        items[{"y_parity": -3, "r": -2, "s": -1}[name]] = value
    return raw[:1] + rlp.encode(items)


@dataclass
class FakeReader:
    """AccountReader over dicts; every unknown account is funded."""

    nonces: dict[bytes, int] = field(default_factory=dict)
    balances: dict[bytes, int] = field(default_factory=dict)
    default_balance: int = 1000 * ETHER

    def nonce(self, address: bytes) -> int:
        return self.nonces.get(address, 0)

    def balance(self, address: bytes) -> int:
        return self.balances.get(address, self.default_balance)


def make_pool(
    reader: FakeReader | None = None,
    journal: Path | None = None,
    base_fee: int | None = 1 * GWEI,
    **limits: Any,
) -> TxPool:
    pool = TxPool(CHAIN_ID, reader or FakeReader(), PoolLimits(**limits), journal)
    pool.set_head(BLOCK_GAS_LIMIT, base_fee)
    return pool


def snapshot(pool: TxPool, journal: Path | None = None) -> tuple[Any, ...]:
    content = pool.content()
    flat = {
        kind: {s: {n: p.hash for n, p in txs.items()} for s, txs in by_sender.items()}
        for kind, by_sender in content.items()
    }
    size = journal.stat().st_size if journal is not None and journal.exists() else None
    return len(pool), pool.status(), pool.pending_count(), flat, size


# --- admission refusals: geth's words, pool unchanged -------------------------------------

A = DEV_KEY
B = key(1)


@dataclass
class Refusal:
    name: str
    raw: Callable[[], bytes]
    message: str
    exact: bool = False
    setup: Callable[[TxPool, FakeReader], None] = lambda pool, reader: None
    limits: dict[str, Any] = field(default_factory=dict)


def _seed_sender_a(pool: TxPool, reader: FakeReader) -> None:
    pool.add(tx1559(A, nonce=0))


def _low_balance(pool: TxPool, reader: FakeReader) -> None:
    reader.balances[address(A)] = 21_000 * 2 * GWEI  # exactly one transfer's gas, no value


def _two_tx_balance(pool: TxPool, reader: FakeReader) -> None:
    reader.balances[address(A)] = 21_000 * 2 * GWEI + 1  # one tx (cost = gas*cap + 1) only
    pool.add(tx1559(A, nonce=0))


def _nonce_five(pool: TxPool, reader: FakeReader) -> None:
    reader.nonces[address(A)] = 5


REFUSALS = [
    Refusal("empty", lambda: b"", "typed transaction too short", exact=True),
    Refusal("type byte only", lambda: b"\x02", "typed transaction too short", exact=True),
    Refusal(
        "truncated rlp", lambda: tx1559()[:-1], "rlp: value size exceeds available input length", exact=True
    ),
    Refusal("legacy garbage", lambda: b"\xf8", "rlp: "),
    Refusal("typed wrong field count", lambda: b"\x02\xc0", "rlp: "),
    Refusal(
        "trailing bytes", lambda: tx_legacy() + b"\x00", "rlp: input contains more than one value", exact=True
    ),
    # A type-3 envelope around a 1559 body: blob txs are pooled, but this one does not decode.
    Refusal("blob tx", lambda: b"\x03" + tx1559()[1:], "rlp: "),
    Refusal("unknown type", lambda: b"\x05" + tx1559()[1:], "transaction type not supported", exact=True),
    Refusal("type 0 envelope", lambda: b"\x00" + tx_legacy(), "transaction type not supported", exact=True),
    Refusal(
        "oversized",
        lambda: tx1559(data=b"\x01" * (128 * 1024), gas=5_000_000),
        "oversized data: transaction size ",
    ),
    Refusal(
        "unprotected legacy",
        lambda: tx_legacy(chain_id=None),
        "only replay-protected (EIP-155) transactions allowed over RPC",
        exact=True,
    ),
    Refusal(
        "wrong chain id typed",
        lambda: tx1559(chain_id=1),
        "invalid sender: invalid chain id for signer: have 1 want 1337",
        exact=True,
    ),
    Refusal(
        "wrong chain id legacy",
        lambda: tx_legacy(chain_id=5),
        "invalid sender: invalid chain id for signer: have 5 want 1337",
        exact=True,
    ),
    Refusal(
        "high s",
        lambda: resign_fields(tx1559(), s=SECP256K1_N - int.from_bytes(rlp.decode(tx1559()[1:])[-1], "big")),
        "invalid sender: invalid transaction v, r, s values",
        exact=True,
    ),
    Refusal(
        "zero r",
        lambda: resign_fields(tx1559(), r=0),
        "invalid sender: invalid transaction v, r, s values",
        exact=True,
    ),
    Refusal(
        "bad y parity",
        lambda: resign_fields(tx1559(), y_parity=2),
        "invalid sender: invalid transaction v, r, s values",
        exact=True,
    ),
    Refusal(
        "intrinsic gas",
        lambda: tx1559(gas=20_999),
        "intrinsic gas too low: gas 20999, minimum needed 21000",
        exact=True,
    ),
    Refusal(
        "create intrinsic gas (EIP-3860 words)",
        lambda: tx1559(to=b"", data=b"\x01" * 33, gas=53_000 + 33 * 16 + 3),
        "intrinsic gas too low: gas 53531, minimum needed 53532",
        exact=True,
    ),
    Refusal(
        "calldata floor (EIP-7623)",
        lambda: tx1559(data=b"\x01" * 100, gas=21_000 + 100 * 16),
        "insufficient gas for floor data gas cost: gas 22600, minimum needed 25000",
        exact=True,
    ),
    Refusal(
        "initcode size",
        lambda: tx1559(to=b"", data=b"\x00" * 49_153, gas=10_000_000),
        "max initcode size exceeded: code size 49153, limit 49152",
        exact=True,
    ),
    Refusal(
        "block gas limit", lambda: tx1559(gas=BLOCK_GAS_LIMIT + 1), "exceeds block gas limit", exact=True
    ),
    Refusal(
        "tip above fee cap",
        lambda: tx1559(tip=3 * GWEI, fee_cap=2 * GWEI),
        "max priority fee per gas higher than max fee per gas",
        exact=True,
    ),
    Refusal(
        "fee cap over 2^256-1",
        lambda: tx1559(fee_cap=2**256, tip=1),
        "max fee per gas higher than 2^256-1",
        exact=True,
    ),
    Refusal("nonce max", lambda: tx1559(nonce=2**64 - 1), "nonce has max value", exact=True),
    Refusal(
        "below base fee",
        lambda: tx1559(tip=GWEI // 2, fee_cap=GWEI // 2),
        "max fee per gas less than block base fee: address 0x" + address(A).hex(),
    ),
    Refusal(
        "under min gas price",
        lambda: tx1559(tip=1 * GWEI, fee_cap=5 * GWEI),
        "transaction underpriced: gas tip cap 1000000000, minimum needed 2000000000",
        exact=True,
        limits={"min_gas_price": 2 * GWEI},
    ),
    Refusal(
        "nonce too low",
        lambda: tx1559(nonce=3),
        "nonce too low: next nonce 5, tx nonce 3",
        exact=True,
        setup=_nonce_five,
    ),
    Refusal(
        "nonce too high", lambda: tx1559(nonce=64), "nonce too high: tx nonce 64, gapped nonce 64", exact=True
    ),
    Refusal(
        "insufficient funds",
        lambda: tx1559(value=1),
        "insufficient funds for gas * price + value: balance 42000000000000, tx cost 42000000000001, overshot 1",
        exact=True,
        setup=_low_balance,
    ),
    Refusal(
        "insufficient funds with pending",
        lambda: tx1559(nonce=1),
        "insufficient funds for gas * price + value: balance 42000000000001, queued cost 42000000000001",
        setup=_two_tx_balance,
    ),
    Refusal("already known", lambda: tx1559(nonce=0), "already known", exact=True, setup=_seed_sender_a),
    Refusal(
        "replacement +9%",
        lambda: tx1559(nonce=0, tip=1_090_000_000, fee_cap=2_180_000_000),
        "replacement transaction underpriced",
        exact=True,
        setup=_seed_sender_a,
    ),
    Refusal(
        "replacement fee cap only",
        lambda: tx1559(nonce=0, tip=1 * GWEI, fee_cap=3 * GWEI),
        "replacement transaction underpriced",
        exact=True,
        setup=_seed_sender_a,
    ),
    Refusal(
        "set-code without authorizations",
        lambda: sign_typed(A, 4, [CHAIN_ID, 0, GWEI, 2 * GWEI, 100_000, TO, 0, b"", [], []]),
        "set code tx must have at least one authorization tuple",
        exact=True,
    ),
]


@pytest.mark.parametrize("case", REFUSALS, ids=[c.name for c in REFUSALS])
def test_refusal_uses_geths_words_and_leaves_pool_unchanged(case: Refusal, tmp_path: Path) -> None:
    reader = FakeReader()
    journal = tmp_path / "txs.journal"
    pool = make_pool(reader, journal, **case.limits)
    case.setup(pool, reader)
    events: list[Sequence[PooledTx]] = []
    pool.subscribe(events.append)
    raw = case.raw()
    before = snapshot(pool, journal)

    with pytest.raises(InvalidTransaction) as excinfo:
        pool.add(raw)

    message = str(excinfo.value)
    if case.exact:
        assert message == case.message
    else:
        assert message.startswith(case.message), message
    assert snapshot(pool, journal) == before
    assert events == []


def test_add_batch_reports_each_refusal_and_keeps_the_good_ones(tmp_path: Path) -> None:
    pool = make_pool(journal=tmp_path / "j")
    good = [tx1559(nonce=0), tx1559(nonce=1)]
    results = pool.add_batch([good[0], b"\xf8", good[1], good[0]])
    assert results[0] == keccak(good[0])
    assert isinstance(results[1], InvalidTransaction)
    assert results[2] == keccak(good[1])
    assert isinstance(results[3], InvalidTransaction)
    assert str(results[3]) == "already known"
    assert pool.status() == (2, 0)


def test_add_batch_fsyncs_once(tmp_path: Path) -> None:
    pool = make_pool(journal=tmp_path / "j")
    with mock.patch.object(journal_module.os, "fsync", wraps=journal_module.os.fsync) as fsync:
        pool.add_batch([tx1559(nonce=n) for n in range(5)])
    assert fsync.call_count == 1


# --- accepted types ---------------------------------------------------------------


def test_accepts_every_supported_type_with_hash_and_sender() -> None:
    pool = make_pool()
    auth = Account.sign_authorization({"chainId": CHAIN_ID, "address": "0x" + "44" * 20, "nonce": 5}, B)
    eth_account_raws = [
        tx_legacy(nonce=0),
        bytes(
            Account.sign_transaction(
                {
                    "type": 1,
                    "chainId": CHAIN_ID,
                    "nonce": 1,
                    "gasPrice": 2 * GWEI,
                    "gas": 30_000,
                    "to": TO,
                    "value": 0,
                    "accessList": [{"address": "0x" + "33" * 20, "storageKeys": ["0x" + "00" * 32]}],
                },
                A,
            ).raw_transaction
        ),
        bytes(
            Account.sign_transaction(
                {
                    "type": 2,
                    "chainId": CHAIN_ID,
                    "nonce": 2,
                    "maxFeePerGas": 2 * GWEI,
                    "maxPriorityFeePerGas": GWEI,
                    "gas": 21_000,
                    "to": TO,
                    "value": 5,
                },
                A,
            ).raw_transaction
        ),
        bytes(
            Account.sign_transaction(
                {
                    "type": 4,
                    "chainId": CHAIN_ID,
                    "nonce": 3,
                    "maxFeePerGas": 2 * GWEI,
                    "maxPriorityFeePerGas": GWEI,
                    "gas": 100_000,
                    "to": TO,
                    "value": 0,
                    "data": b"",
                    "accessList": [],
                    "authorizationList": [auth],
                },
                A,
            ).raw_transaction
        ),
    ]
    for expected_type, raw in zip([0, 1, 2, 4], eth_account_raws, strict=True):
        tx_hash = pool.add(raw)
        ptx = pool.get(tx_hash)
        assert ptx is not None
        assert tx_hash == keccak(raw) == bytes(ptx.tx.hash)
        assert ptx.sender == address(A)
        assert ptx.type_id == expected_type
        assert ptx.raw == raw
    assert pool.status() == (4, 0)


def test_legacy_tx_prices() -> None:
    pool = make_pool(base_fee=GWEI)
    ptx = pool.get(pool.add(tx_legacy(gas_price=3 * GWEI, value=7)))
    assert ptx is not None
    assert (ptx.fee_cap, ptx.tip_cap, ptx.cost) == (3 * GWEI, 3 * GWEI, 21_000 * 3 * GWEI + 7)
    assert ptx.effective_tip(GWEI) == 2 * GWEI
    assert ptx.effective_tip(None) == 3 * GWEI


def test_below_base_fee_is_kept_when_configured_like_geth() -> None:
    pool = make_pool(base_fee=10 * GWEI, reject_below_base_fee=False)
    pool.add(tx1559(tip=GWEI, fee_cap=2 * GWEI))
    assert pool.status() == (1, 0)
    assert list(pool.pending_for_block(10 * GWEI)) == []
    assert len(list(pool.pending_for_block(GWEI))) == 1


# --- pending, queued, promotion -----------------------------------------------------


def test_gap_goes_to_queue_and_is_promoted_when_filled() -> None:
    pool = make_pool()
    events: list[list[int]] = []
    pool.subscribe(lambda txs: events.append([p.nonce for p in txs]))

    pool.add(tx1559(nonce=0))
    pool.add(tx1559(nonce=2))
    pool.add(tx1559(nonce=3))
    assert pool.status() == (1, 2)
    assert pool.nonce_after_pending(address(A)) == 1
    content = pool.content()
    assert list(content["pending"][address(A)]) == [0]
    assert list(content["queued"][address(A)]) == [2, 3]

    pool.add(tx1559(nonce=1))
    assert pool.status() == (4, 0)
    assert pool.nonce_after_pending(address(A)) == 4
    assert events == [[0], [1, 2, 3]]  # queued txs are announced when they become pending
    assert list(pool.content_from(address(A))["pending"]) == [0, 1, 2, 3]
    assert pool.content_from(address(A))["queued"] == {}
    assert pool.content_from(address(B)) == {"pending": {}, "queued": {}}


def test_nonce_after_pending_for_unknown_sender_reads_the_account() -> None:
    reader = FakeReader(nonces={address(B): 7})
    pool = make_pool(reader)
    assert pool.nonce_after_pending(address(B)) == 7
    pool.add(tx1559(B, nonce=7))
    assert pool.nonce_after_pending(address(B)) == 8


def test_new_head_drops_mined_and_promotes_queued() -> None:
    reader = FakeReader()
    pool = make_pool(reader)
    h0 = pool.add(tx1559(nonce=0))
    h1 = pool.add(tx1559(nonce=1))
    h3 = pool.add(tx1559(nonce=3))
    events: list[list[int]] = []
    pool.subscribe(lambda txs: events.append([p.nonce for p in txs]))

    reader.nonces[address(A)] = 3  # block mined 0, 1 and a nonce-2 tx sent elsewhere
    pool.on_new_head(BLOCK_GAS_LIMIT, GWEI, [h0, h1])

    assert h0 not in pool
    assert h1 not in pool
    assert pool.status() == (1, 0)
    assert events == [[3]]
    assert pool.get(h3) is not None
    assert pool.nonce_after_pending(address(A)) == 4


def test_new_head_with_foreign_tx_drops_same_nonce_via_senders() -> None:
    reader = FakeReader()
    pool = make_pool(reader)
    h0 = pool.add(tx1559(nonce=0))
    reader.nonces[address(A)] = 1  # another node's nonce-0 tx from A was mined
    pool.on_new_head(BLOCK_GAS_LIMIT, GWEI, [keccak(b"other")], senders=[address(A)])
    assert h0 not in pool
    assert len(pool) == 0


def test_new_head_balance_drop_removes_unaffordable_and_demotes_later() -> None:
    reader = FakeReader()
    pool = make_pool(reader)
    pool.add(tx1559(nonce=0, value=1))
    h1 = pool.add(tx1559(nonce=1, value=10 * ETHER))
    pool.add(tx1559(nonce=2, value=1))
    assert pool.status() == (3, 0)
    reader.balances[address(A)] = 1 * ETHER
    pool.on_new_head(BLOCK_GAS_LIMIT, GWEI, [], senders=[address(A)])
    assert h1 not in pool
    assert pool.status() == (1, 1)  # nonce 2 now waits behind a gap


def test_balance_drop_without_named_sender_is_caught_by_the_periodic_full_recheck() -> None:
    reader = FakeReader()
    pool = make_pool(reader)
    h0 = pool.add(tx1559(nonce=0, value=ETHER))
    reader.balances[address(A)] = ETHER // 2  # e.g. a delegated EOA drained by a call
    for _ in range(txpool_module.FULL_RECHECK_INTERVAL_BLOCKS - 1):
        pool.on_new_head(BLOCK_GAS_LIMIT, GWEI, [])
    assert h0 in pool  # lazily kept: the builder would skip it
    pool.on_new_head(BLOCK_GAS_LIMIT, GWEI, [])
    assert h0 not in pool


def test_eviction_follows_the_base_fee() -> None:
    pool = make_pool(max_size=2, base_fee=GWEI)
    x = pool.add(tx1559(A, tip=5 * GWEI, fee_cap=6 * GWEI))  # effective 5 now, 1 at base fee 5
    y = pool.add(tx1559(B, tip=2 * GWEI, fee_cap=10 * GWEI))  # effective 2 at both
    pool.on_new_head(BLOCK_GAS_LIMIT, 5 * GWEI, [])
    z = pool.add(tx1559(key(2), tip=3 * GWEI, fee_cap=10 * GWEI))
    assert x not in pool
    assert y in pool
    assert z in pool


def test_new_head_lower_gas_limit_drops_big_txs() -> None:
    pool = make_pool()
    big = pool.add(tx1559(B, gas=1_000_000))
    small = pool.add(tx1559(A))
    pool.on_new_head(500_000, GWEI, [])
    assert big not in pool
    assert small in pool


def test_add_notices_account_moved_without_head_update() -> None:
    reader = FakeReader()
    pool = make_pool(reader)
    h0 = pool.add(tx1559(nonce=0))
    pool.add(tx1559(nonce=2))
    reader.nonces[address(A)] = 2
    pool.add(tx1559(nonce=3))
    assert h0 not in pool
    assert pool.status() == (2, 0)


# --- replacement --------------------------------------------------------------------


def test_replacement_needs_ten_percent_on_fee_cap_and_tip() -> None:
    pool = make_pool()
    old = pool.add(tx1559(nonce=0, tip=1 * GWEI, fee_cap=2 * GWEI))
    pool.add(tx1559(nonce=1))
    events: list[list[bytes]] = []
    pool.subscribe(lambda txs: events.append([p.hash for p in txs]))

    with pytest.raises(InvalidTransaction, match=r"^replacement transaction underpriced$"):
        pool.add(tx1559(nonce=0, tip=1_090_000_000, fee_cap=2_180_000_000))  # +9%
    new = pool.add(tx1559(nonce=0, tip=1_100_000_000, fee_cap=2_200_000_000))  # +10%

    assert old not in pool
    assert pool.get(new) is not None
    assert pool.status() == (2, 0)
    assert events == [[new]]


def test_replacing_a_queued_tx() -> None:
    pool = make_pool()
    old = pool.add(tx1559(nonce=5))
    new = pool.add(tx1559(nonce=5, tip=2 * GWEI, fee_cap=4 * GWEI))
    assert old not in pool
    assert pool.status() == (0, 1)
    assert new in pool


def test_replacement_counts_the_bump_against_balance() -> None:
    reader = FakeReader(balances={address(A): 21_000 * 2 * GWEI + 21_000 * 3 * GWEI})
    pool = make_pool(reader)
    pool.add(tx1559(nonce=0, value=0))
    pool.add(tx1559(nonce=1, value=0, fee_cap=3 * GWEI))
    with pytest.raises(
        InvalidTransaction, match=r"^insufficient funds for gas \* price \+ value: .*tx bumped"
    ):
        pool.add(tx1559(nonce=0, value=0, tip=2 * GWEI, fee_cap=4 * GWEI))


# --- limits and eviction ----------------------------------------------------------


def test_full_pool_evicts_the_cheapest_for_a_better_tx() -> None:
    pool = make_pool(max_size=3)
    hashes = [pool.add(tx1559(key(i + 1), tip=(i + 1) * GWEI, fee_cap=10 * GWEI)) for i in range(3)]

    with pytest.raises(InvalidTransaction, match=r"^transaction underpriced$"):
        pool.add(tx1559(key(9), tip=1 * GWEI, fee_cap=10 * GWEI))  # as cheap as the cheapest
    better = pool.add(tx1559(key(9), tip=5 * GWEI, fee_cap=10 * GWEI))

    assert len(pool) == 3
    assert hashes[0] not in pool
    assert better in pool
    assert hashes[1] in pool
    assert hashes[2] in pool


def test_full_pool_evicts_a_senders_highest_nonce_not_its_first() -> None:
    pool = make_pool(max_size=3)
    a0 = pool.add(tx1559(A, nonce=0, tip=1 * GWEI, fee_cap=10 * GWEI))
    a1 = pool.add(tx1559(A, nonce=1, tip=1 * GWEI, fee_cap=10 * GWEI))
    b0 = pool.add(tx1559(B, nonce=0, tip=3 * GWEI, fee_cap=10 * GWEI))
    pool.add(tx1559(key(2), tip=2 * GWEI, fee_cap=10 * GWEI))
    assert a1 not in pool
    assert a0 in pool
    assert b0 in pool


def test_queued_tx_never_evicts_pending() -> None:
    pool = make_pool(max_size=2)
    pool.add(tx1559(A, nonce=0, tip=1 * GWEI, fee_cap=10 * GWEI))
    pool.add(tx1559(B, nonce=0, tip=1 * GWEI, fee_cap=10 * GWEI))
    before = snapshot(pool)
    with pytest.raises(InvalidTransaction, match=r"^future transaction tries to replace pending$"):
        pool.add(tx1559(key(2), nonce=3, tip=9 * GWEI, fee_cap=10 * GWEI))
    assert snapshot(pool) == before


def test_queued_tx_may_evict_cheaper_queued() -> None:
    pool = make_pool(max_size=2)
    pool.add(tx1559(A, nonce=0, tip=1 * GWEI, fee_cap=10 * GWEI))
    queued = pool.add(tx1559(B, nonce=4, tip=1 * GWEI, fee_cap=10 * GWEI))
    pool.add(tx1559(key(2), nonce=3, tip=2 * GWEI, fee_cap=10 * GWEI))
    assert queued not in pool
    assert pool.status() == (1, 1)


def test_full_pool_of_own_txs_is_full() -> None:
    pool = make_pool(max_size=2)
    pool.add(tx1559(A, nonce=0))
    pool.add(tx1559(A, nonce=1))
    with pytest.raises(InvalidTransaction, match=r"^txpool is full$"):
        pool.add(tx1559(A, nonce=2, tip=5 * GWEI, fee_cap=10 * GWEI))


def test_per_sender_cap_bounds_the_gap_past_the_executable_run() -> None:
    pool = make_pool(max_per_sender=4)
    for n in (0, 1, 3):
        pool.add(tx1559(nonce=n))
    # The executable run is [0, 2); a gapped nonce may lie at most 4 past it.
    with pytest.raises(InvalidTransaction, match=r"^nonce too high: tx nonce 6, gapped nonce 6$"):
        pool.add(tx1559(nonce=6))
    assert pool.status() == (2, 1)
    pool.add(tx1559(nonce=5))
    pool.add(tx1559(nonce=2))  # fills the gap: 0..3 executable, 5 still queued
    assert pool.status() == (4, 1)


def test_executable_run_is_not_capped_per_sender() -> None:
    # geth lets a sender exceed its account slots while the pool has room: a deploy script
    # streaming many nonces must not be refused.
    pool = make_pool(max_per_sender=4)
    for n in range(12):
        pool.add(tx1559(nonce=n))
    assert pool.status() == (12, 0)


# --- block ordering ---------------------------------------------------------------


def test_block_order_by_effective_tip_keeps_nonce_order() -> None:
    pool = make_pool(base_fee=GWEI, reject_below_base_fee=False)
    a0 = pool.add(tx1559(A, nonce=0, tip=3 * GWEI, fee_cap=10 * GWEI))
    a1 = pool.add(tx1559(A, nonce=1, tip=1 * GWEI, fee_cap=10 * GWEI))
    a2 = pool.add(tx1559(A, nonce=2, tip=9 * GWEI, fee_cap=10 * GWEI))  # behind a cheap one
    b0 = pool.add(tx1559(B, nonce=0, tip=2 * GWEI, fee_cap=10 * GWEI))
    c0 = pool.add(tx1559(key(2), nonce=0, tip=5 * GWEI, fee_cap=5 * GWEI))
    pool.add(tx1559(key(3), nonce=1, tip=50 * GWEI, fee_cap=50 * GWEI))  # queued: never offered

    # base fee 1 gwei: c0 gets min(5, 5-1) = 4; A's nonces stay in order whatever their tips.
    assert [p.hash for p in pool.pending_for_block(GWEI)] == [c0, a0, b0, a1, a2]
    # base fee 4 gwei: c0 gets 1, tying a1, which arrived first; a2 gets min(9, 6) = 6.
    assert [p.hash for p in pool.pending_for_block(4 * GWEI)] == [a0, b0, a1, a2, c0]

    assert [p.hash for p in pool.pending_for_block(6 * GWEI)] == [a0, b0, a1, a2]  # c0 below base fee


def test_equal_tips_keep_arrival_order() -> None:
    pool = make_pool()
    hashes = [pool.add(tx1559(key(i + 1))) for i in range(5)]
    assert [p.hash for p in pool.pending_for_block(GWEI)] == hashes


def test_skip_sender_drops_its_later_nonces() -> None:
    pool = make_pool()
    a0 = pool.add(tx1559(A, nonce=0, tip=3 * GWEI, fee_cap=10 * GWEI))
    pool.add(tx1559(A, nonce=1, tip=3 * GWEI, fee_cap=10 * GWEI))
    b0 = pool.add(tx1559(B, nonce=0, tip=2 * GWEI, fee_cap=10 * GWEI))
    it = pool.pending_for_block(GWEI)
    first = next(it)
    assert first.hash == a0
    it.skip_sender(first.sender)  # e.g. it failed to execute
    assert [p.hash for p in it] == [b0]


def test_block_iterator_is_a_snapshot() -> None:
    pool = make_pool()
    a0 = pool.add(tx1559(A, nonce=0))
    it = pool.pending_for_block(GWEI)
    pool.add(tx1559(B, nonce=0, tip=5 * GWEI, fee_cap=10 * GWEI))
    assert [p.hash for p in it] == [a0]


def test_block_builder_gets_py_evm_txs_with_sender() -> None:
    pool = make_pool()
    pool.add(tx1559(A))
    pool.add(tx_legacy(B))
    txs = [p.tx for p in pool.pending_for_block(GWEI)]
    assert {bytes(tx.sender) for tx in txs} == {address(A), address(B)}


# --- one recovery per tx ----------------------------------------------------------


def test_sender_is_recovered_once_per_tx() -> None:
    reader = FakeReader()
    pool = make_pool(reader)
    raws = [tx1559(key(i), nonce=0) for i in range(4)] + [tx_legacy(key(9), nonce=0)]
    with mock.patch.object(pool_rules, "recover_sender", wraps=pool_rules.recover_sender) as rec:
        for raw in raws:
            pool.add(raw)
        with pytest.raises(InvalidTransaction):
            pool.add(raws[0])  # already known: no recovery either
        pooled = list(pool.pending_for_block(GWEI))
        reader.nonces[address(key(0))] = 1
        pool.on_new_head(BLOCK_GAS_LIMIT, GWEI, [pooled[0].hash])
        assert rec.call_count == len(raws)
    # py-evm's own `.sender` is primed: asking it recovers nothing.
    with mock.patch.object(senders_module, "recover_sender", side_effect=AssertionError("recovered")):
        for ptx in pooled:
            assert bytes(ptx.tx.sender) == ptx.sender


# --- events ---------------------------------------------------------------------


def test_listener_errors_do_not_break_add_and_unsubscribe_works() -> None:
    pool = make_pool()
    seen: list[bytes] = []

    def broken(txs: Sequence[PooledTx]) -> None:
        raise RuntimeError("listener bug")

    pool.subscribe(broken)
    unsubscribe = pool.subscribe(lambda txs: seen.extend(p.raw for p in txs))
    raw = tx1559()
    pool.add(raw)
    unsubscribe()
    pool.add(tx1559(nonce=1))
    assert seen == [raw]


# --- consistency under random operations --------------------------------------------


def check_invariants(pool: TxPool) -> None:
    by_hash = pool._by_hash
    seen = 0
    pending = 0
    for sender, acct in pool._senders.items():
        assert acct.txs, "empty sender kept"
        assert min(acct.txs) >= acct.nonce
        end = acct.nonce
        while end in acct.txs:
            end += 1
        assert acct.pending_end == end
        pending += end - acct.nonce
        for nonce, ptx in acct.txs.items():
            assert ptx.sender == sender
            assert ptx.nonce == nonce
            assert by_hash[ptx.hash] is ptx
            seen += 1
    assert seen == len(by_hash) == len(pool)
    assert pool.pending_count() == pending
    assert len(pool) <= pool.limits.max_size


def test_random_operations_keep_the_pool_consistent() -> None:
    import random

    rng = random.Random(1337)
    reader = FakeReader(default_balance=10 * ETHER)
    pool = make_pool(reader, max_size=12, max_per_sender=6)
    keys_ = [key(i) for i in range(5)]
    events: list[PooledTx] = []
    pool.subscribe(events.extend)
    for _ in range(400):
        op = rng.random()
        k = rng.choice(keys_)
        if op < 0.75:
            nonce = reader.nonces.get(address(k), 0) + rng.randrange(-1, 7)
            tip = rng.randrange(1, 6) * GWEI
            with contextlib.suppress(InvalidTransaction):
                pool.add(
                    tx1559(k, nonce=max(nonce, 0), tip=tip, fee_cap=tip + GWEI, value=rng.randrange(ETHER))
                )
        elif op < 0.9:
            reader.nonces[address(k)] = reader.nonces.get(address(k), 0) + rng.randrange(0, 3)
            pool.on_new_head(BLOCK_GAS_LIMIT, GWEI, [], senders=[address(k)])
        else:
            reader.balances[address(k)] = rng.randrange(ETHER // 1000, 5 * ETHER)
            pool.on_new_head(BLOCK_GAS_LIMIT, rng.choice([GWEI, GWEI // 2]), [], senders=[address(k)])
        check_invariants(pool)
        block = list(pool.pending_for_block(GWEI // 2))
        assert len(block) == pool.pending_count()
    assert events  # something became pending along the way
