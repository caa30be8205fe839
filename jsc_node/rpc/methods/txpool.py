"""``txpool_*`` methods (geth's ``TxPoolAPI``): pool content by sender, then by nonce."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jsc_node.rpc.encoding import check_arity, checksum_address, decode_address, format_tx, quantity, required
from jsc_node.rpc.ports import RpcBackend
from jsc_node.views import TxView

Params = list[Any]


def _by_nonce(txs: Mapping[int, TxView]) -> dict[str, dict[str, Any]]:
    # geth keys nonces as decimal strings.
    return {str(nonce): format_tx(tx) for nonce, tx in sorted(txs.items())}


async def content(backend: RpcBackend, params: Params) -> dict[str, Any]:
    check_arity(params, 0)
    pool = await backend.txpool_content()
    # geth keys senders by their EIP-55 checksummed form here (common.Address.Hex()).
    return {
        "pending": {checksum_address(a): _by_nonce(txs) for a, txs in pool.pending.items()},
        "queued": {checksum_address(a): _by_nonce(txs) for a, txs in pool.queued.items()},
    }


async def content_from(backend: RpcBackend, params: Params) -> dict[str, Any]:
    check_arity(params, 1)
    address = required(params, 0, decode_address)
    pool = await backend.txpool_content()
    return {
        "pending": _by_nonce(pool.pending.get(address, {})),
        "queued": _by_nonce(pool.queued.get(address, {})),
    }


def _summary(tx: TxView) -> str:
    # geth's txpool_inspect line.
    if tx.to is None:
        return f"contract creation: {tx.value} wei + {tx.gas} gas × {tx.gas_price} wei"
    return f"{checksum_address(tx.to)}: {tx.value} wei + {tx.gas} gas × {tx.gas_price} wei"


async def inspect(backend: RpcBackend, params: Params) -> dict[str, Any]:
    check_arity(params, 0)
    pool = await backend.txpool_content()
    return {
        "pending": {
            checksum_address(a): {str(n): _summary(tx) for n, tx in sorted(txs.items())}
            for a, txs in pool.pending.items()
        },
        "queued": {
            checksum_address(a): {str(n): _summary(tx) for n, tx in sorted(txs.items())}
            for a, txs in pool.queued.items()
        },
    }


async def status(backend: RpcBackend, params: Params) -> dict[str, str]:
    check_arity(params, 0)
    pending, queued = await backend.txpool_status()
    return {"pending": quantity(pending), "queued": quantity(queued)}
