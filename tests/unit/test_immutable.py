"""jsc_node/state/evm/patches/immutable.py: a deep copy of py-evm's immutable RLP objects is the object, and
a copy with one field changed still gets a new object with the other fields shared."""

from __future__ import annotations

import copy

import pytest
from eth.vm.forks.prague.blocks import PragueBlockHeader
from eth.vm.forks.prague.transactions import PragueTransactionBuilder
from eth_keys import keys

KEY = keys.PrivateKey(b"\x01" * 32)


def _header() -> PragueBlockHeader:
    return PragueBlockHeader(difficulty=1, block_number=5, gas_limit=30_000_000, timestamp=7)


def test_deepcopy_of_headers_and_transactions_is_the_same_object() -> None:
    header = _header()
    assert copy.deepcopy(header) is header
    legacy = PragueTransactionBuilder.create_unsigned_transaction(
        nonce=0, gas_price=1, gas=21_000, to=b"\x02" * 20, value=1, data=b""
    ).as_signed_transaction(KEY, chain_id=1337)
    typed = PragueTransactionBuilder.new_unsigned_dynamic_fee_transaction(
        chain_id=1337,
        nonce=0,
        max_priority_fee_per_gas=1,
        max_fee_per_gas=2,
        gas=21_000,
        to=b"\x02" * 20,
        value=1,
        data=b"",
        access_list=(),
    ).as_signed_transaction(KEY)
    for tx in (legacy, typed):
        assert copy.deepcopy(tx) is tx
        assert copy.deepcopy((tx, tx))[0] is tx


def test_copy_with_changes_builds_a_new_header_and_leaves_the_old_one() -> None:
    header = _header()
    changed = header.copy(gas_used=21_000)
    assert changed is not header
    assert (changed.gas_used, header.gas_used) == (21_000, 0)
    assert changed.block_number == header.block_number
    with pytest.raises(AttributeError):
        header.gas_used = 1  # type: ignore[misc]


def test_copy_keeps_unchanged_fields_and_refuses_unknown_ones() -> None:
    header = _header().copy(extra_data=b"\x01" * 40, gas_used=5)
    changed = header.copy(gas_used=21_000, bloom=7)
    for name in header._meta.field_names:
        if name not in ("gas_used", "bloom"):
            assert getattr(changed, name) == getattr(header, name), name
    assert (changed.gas_used, changed.bloom) == (21_000, 7)
    assert changed.hash != header.hash
    assert header.copy() == header
    with pytest.raises(TypeError):
        header.copy(no_such_field=1)
