"""jsc_node/state/pool/rules.py on its own: the checks against the account and the pool, the
price bump of a replacement, the size limit and decoding, each with geth's pool words (the
stateless checks run through the pool in tests/unit/test_txpool.py's refusal table)."""

from __future__ import annotations

import pytest

from jsc_node.errors import InvalidTransaction
from jsc_node.state.pool.rules import (
    PooledTx,
    decode_transaction,
    validate_replacement,
    validate_size,
    validate_with_state,
)


def _ptx(nonce: int = 5, cost: int = 100, fee_cap: int = 100, tip_cap: int = 10) -> PooledTx:
    return PooledTx(
        raw=b"",
        tx=None,
        sender=b"\x01" * 20,
        hash=bytes([nonce]) * 32,
        nonce=nonce,
        type_id=2,
        gas=21_000,
        fee_cap=fee_cap,
        tip_cap=tip_cap,
        cost=cost,
        seq=0,
    )


@pytest.mark.parametrize(
    ("ptx", "replaced", "balance", "pending_cost", "message"),
    [
        (_ptx(nonce=5), None, 1_000, 0, None),
        (_ptx(nonce=4), None, 1_000, 0, "nonce too low: next nonce 5, tx nonce 4"),
        # account nonce 5, executable run [5, 7): a gap may reach 7 + 3 (max_per_sender) - 1
        (_ptx(nonce=9), None, 1_000, 0, None),
        (_ptx(nonce=10), None, 1_000, 0, "nonce too high: tx nonce 10, gapped nonce 10"),
        (
            _ptx(cost=101),
            None,
            100,
            0,
            "insufficient funds for gas * price + value: balance 100, tx cost 101, overshot 1",
        ),
        (
            _ptx(nonce=7, cost=60),
            None,
            100,
            50,
            "insufficient funds for gas * price + value: balance 100, queued cost 50, tx cost 60, overshot 10",
        ),
        # replacing pending nonce 6 (cost 30) with one costing 40: the run costs 50 - 30 + 40
        (_ptx(nonce=6, cost=40), _ptx(nonce=6, cost=30), 60, 50, None),
        (
            _ptx(nonce=6, cost=45),
            _ptx(nonce=6, cost=30),
            60,
            50,
            "insufficient funds for gas * price + value: balance 60, queued cost 50, tx bumped 15, overshot 5",
        ),
    ],
)
def test_validate_with_state(
    ptx: PooledTx, replaced: PooledTx | None, balance: int, pending_cost: int, message: str | None
) -> None:
    def check() -> None:
        validate_with_state(
            ptx,
            account_nonce=5,
            pending_end=7,
            balance=balance,
            pending_cost=pending_cost,
            replaced=replaced,
            max_per_sender=3,
        )

    if message is None:
        check()
        return
    with pytest.raises(InvalidTransaction) as raised:
        check()
    assert str(raised.value) == message


@pytest.mark.parametrize(
    ("fee_cap", "tip_cap", "accepted"),
    [
        (110, 11, True),  # both exactly 10% up
        (109, 11, False),
        (110, 10, False),  # the tip must rise too
        (200, 10, False),
        (1_000, 1_000, True),
    ],
)
def test_validate_replacement_needs_both_caps_bumped(fee_cap: int, tip_cap: int, accepted: bool) -> None:
    old = _ptx(fee_cap=100, tip_cap=10)
    new = _ptx(fee_cap=fee_cap, tip_cap=tip_cap)
    if accepted:
        validate_replacement(old, new, price_bump_percent=10)
        return
    with pytest.raises(InvalidTransaction, match=r"^replacement transaction underpriced$"):
        validate_replacement(old, new, price_bump_percent=10)


def test_validate_size() -> None:
    validate_size(b"\x00" * 10, 10)
    with pytest.raises(InvalidTransaction, match=r"^oversized data: transaction size 11, limit 10$"):
        validate_size(b"\x00" * 11, 10)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"", "typed transaction too short"),
        (b"\x02", "typed transaction too short"),
        (b"\x05\xc0", "transaction type not supported"),
        (b"\x02\xc0", "rlp: "),
    ],
)
def test_decode_transaction_refusals(raw: bytes, message: str) -> None:
    with pytest.raises(InvalidTransaction) as raised:
        decode_transaction(raw)
    assert str(raised.value).startswith(message)
