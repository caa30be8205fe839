"""``admin_nodeInfo`` and ``admin_peers``: this node's libp2p identity and its peers;
``admin_changeLogLevel`` (Besu's): log levels of both processes, without a restart.

The shapes follow geth/Besu where a field has a libp2p meaning (``id`` is the peer ID, addresses
are multiaddrs); there is no enode: jsc-node peers over libp2p, not devp2p.
"""

from __future__ import annotations

from typing import Any

from jsc_node.errors import InvalidParams
from jsc_node.logs import BESU_LEVELS
from jsc_node.rpc.encoding import check_arity
from jsc_node.rpc.ports import RpcBackend


async def node_info(backend: RpcBackend, params: list[Any]) -> dict[str, Any]:
    check_arity(params, 0)
    return await backend.admin_node_info()


async def peers(backend: RpcBackend, params: list[Any]) -> list[dict[str, Any]]:
    check_arity(params, 0)
    return await backend.admin_peers()


async def change_log_level(backend: RpcBackend, params: list[Any]) -> None:
    """``[level, [logger, ...]?]``; Besu's level words (OFF ERROR WARN INFO DEBUG TRACE ALL) and
    its answer (null). Logger names are Python's dotted names (``jsc_node.p2p``, ``libp2p``);
    without them the root and every ``jsc_node`` logger change, and the chatty libraries keep
    their WARNING floor (name them to open them)."""
    check_arity(params, 2)
    if not params or params[0] is None:
        raise InvalidParams("missing value for required argument 0")
    level = params[0]
    if not isinstance(level, str) or level not in BESU_LEVELS:
        # Besu: RpcErrorType.INVALID_LOG_LEVEL_PARAMS
        raise InvalidParams(f"Invalid log level params: expected one of {', '.join(BESU_LEVELS)}")
    loggers = params[1] if len(params) > 1 and params[1] is not None else []
    if not isinstance(loggers, list) or not all(isinstance(n, str) and n.strip() for n in loggers):
        raise InvalidParams("Invalid log filter params: expected an array of logger names")
    await backend.admin_change_log_level(BESU_LEVELS[level], tuple(n.strip() for n in loggers))
    return None
