"""``web3_*`` methods."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from eth_hash.auto import keccak

from jsc_node.config import RPC_APIS
from jsc_node.rpc.encoding import check_arity, decode_data, required
from jsc_node.rpc.ports import RpcBackend


async def client_version(backend: RpcBackend, params: list[Any]) -> str:
    check_arity(params, 0)
    return await backend.client_version()


async def sha3(backend: RpcBackend, params: list[Any]) -> str:
    """Keccak-256 of the given DATA (not SHA3-256)."""
    check_arity(params, 1)
    return "0x" + keccak(required(params, 0, decode_data)).hex()


def rpc_modules_of(apis: Iterable[str]) -> Callable[[RpcBackend, list[Any]], Awaitable[dict[str, str]]]:
    """geth's ``rpc_modules`` answer for a transport serving ``apis``: each namespace at version 1.0."""
    modules = {name.lower(): "1.0" for name in sorted(apis, key=str.lower)}

    async def rpc_modules(backend: RpcBackend, params: list[Any]) -> dict[str, str]:
        check_arity(params, 0)
        return dict(modules)

    return rpc_modules


rpc_modules = rpc_modules_of(RPC_APIS)
"""Every namespace jsc-node has (a dispatcher given an ``apis`` list binds its own)."""
