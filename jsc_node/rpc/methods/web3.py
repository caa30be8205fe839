"""``web3_*`` methods."""

from __future__ import annotations

from typing import Any

from eth_hash.auto import keccak

from jsc_node.rpc.encoding import check_arity, decode_data, required
from jsc_node.views import RpcBackend


async def client_version(backend: RpcBackend, params: list[Any]) -> str:
    check_arity(params, 0)
    return await backend.client_version()


async def sha3(backend: RpcBackend, params: list[Any]) -> str:
    """Keccak-256 of the given DATA (not SHA3-256)."""
    check_arity(params, 1)
    return "0x" + keccak(required(params, 0, decode_data)).hex()


# geth's rpc_modules answer: every namespace this server serves, at version 1.0.
MODULES = {name: "1.0" for name in ("admin", "debug", "eth", "net", "qbft", "testing", "txpool", "web3")}


async def rpc_modules(backend: RpcBackend, params: list[Any]) -> dict[str, str]:
    check_arity(params, 0)
    return dict(MODULES)
