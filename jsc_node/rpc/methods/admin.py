"""``admin_nodeInfo`` and ``admin_peers``: this node's libp2p identity and its peers.

The shapes follow geth/Besu where a field has a libp2p meaning (``id`` is the peer ID, addresses
are multiaddrs); there is no enode: jsc-node peers over libp2p, not devp2p.
"""

from __future__ import annotations

from typing import Any

from jsc_node.rpc.encoding import check_arity
from jsc_node.rpc.ports import RpcBackend


async def node_info(backend: RpcBackend, params: list[Any]) -> dict[str, Any]:
    check_arity(params, 0)
    return await backend.admin_node_info()


async def peers(backend: RpcBackend, params: list[Any]) -> list[dict[str, Any]]:
    check_arity(params, 0)
    return await backend.admin_peers()
