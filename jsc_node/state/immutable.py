"""``copy.deepcopy`` of an RLP ``Serializable`` returns the object itself.

pyrlp's Serializables (py-evm's headers, transactions, receipts, blocks) are immutable: their
fields are read-only properties holding bytes, ints and tuples, and nothing in py-evm sets them
outside a Changeset, which builds a new object. pyrlp still deep-copies them field by field
whenever one is copied, and ``block.copy(header=...)`` (block building, ``mine_block``, commit)
deep-copies every transaction of the block: ~8,000 transaction copies per 2,000-transaction
block, with their cached hashes and senders thrown away. A copy of an immutable value is the
value. py-evm's typed transactions (EIP-2718) wrap a Serializable without being one, and are as
immutable: the same holds for them. ``bench/bare.py`` runs without jsc_node, so the bare py-evm
baseline keeps pyrlp's copy.
"""

from __future__ import annotations

from typing import Any

from eth.vm.forks.berlin.transactions import TypedTransaction
from rlp.sedes.serializable import Serializable


def _same_object(self: Any, memo: Any = None) -> Any:
    return self


def install() -> None:
    Serializable.__deepcopy__ = _same_object
    TypedTransaction.__deepcopy__ = _same_object


install()
