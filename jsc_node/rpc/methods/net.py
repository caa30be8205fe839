"""``net_*`` methods."""

from __future__ import annotations

from typing import Any

from jsc_node.rpc.encoding import check_arity, quantity
from jsc_node.rpc.ports import RpcBackend


async def version(backend: RpcBackend, params: list[Any]) -> str:
    """The network id as a decimal string; a jsc-node network id is its chain id."""
    check_arity(params, 0)
    return str(await backend.chain_id())


async def listening(backend: RpcBackend, params: list[Any]) -> bool:
    check_arity(params, 0)
    return await backend.listening()


async def peer_count(backend: RpcBackend, params: list[Any]) -> str:
    check_arity(params, 0)
    return quantity(await backend.peer_count())
