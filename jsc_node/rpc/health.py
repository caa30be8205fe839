"""Besu's health endpoints on the JSON-RPC HTTP port, for load balancers and orchestrators:

- ``GET /liveness``: 200 ``{"status":"UP"}`` while the node answers (a node whose process dies is
  stopped whole by its supervisor, so an answer is the proof of life);
- ``GET /readiness``: 200 ``{"status":"UP"}`` when the node can serve current data, else 503
  ``{"status":"DOWN"}``. Query parameters as Besu's: ``minPeers`` (default 1) and
  ``maxBlocksBehind`` (default 2). Ready means: not catching up by more than ``maxBlocksBehind``
  blocks (eth_syncing's highest - current), and, on a networked node, at least ``minPeers`` peers.
  A node with no p2p listener, or the only validator of its chain with no bootnodes (``make run``),
  needs no peer: there is nobody to be connected to.

The body adds what was checked (``peers``, ``minPeers``, ``blocksBehind``, ``maxBlocksBehind``,
``networked``) after Besu's ``status``. Neither endpoint needs a JWT (as Besu's); the host
allowlist and the rate limit apply as to any request. A bad query parameter gets 400.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final, Protocol

import orjson
from starlette.requests import Request
from starlette.responses import Response

from jsc_node.rpc.ports import RpcBackend
from jsc_node.views import BlockId

DEFAULT_MIN_PEERS: Final = 1
DEFAULT_MAX_BLOCKS_BEHIND: Final = 2


class HealthSettings(Protocol):
    @property
    def bootnodes(self) -> Sequence[str]: ...


def _answer(body: Mapping[str, Any], status: int) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


def _non_negative(query: Mapping[str, str], name: str, default: int) -> int:
    raw = query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name}: not an integer: {raw!r}") from None
    if value < 0:
        raise ValueError(f"{name}: must not be negative")
    return value


async def liveness(request: Request) -> Response:
    return _answer({"status": "UP"}, 200)


async def readiness_of(
    backend: RpcBackend, bootnodes: Sequence[str], min_peers: int, max_blocks_behind: int
) -> tuple[bool, dict[str, Any]]:
    """Whether the node is ready, and the figures the answer shows."""
    peers = await backend.peer_count()
    validators = await backend.qbft_validators(BlockId.latest()) or ()
    networked = await backend.listening() and (bool(bootnodes) or len(validators) > 1)
    sync = await backend.syncing()
    behind = 0 if sync is None else max(0, sync.highest_block - sync.current_block)
    ready = behind <= max_blocks_behind and (not networked or peers >= min_peers)
    return ready, {
        "status": "UP" if ready else "DOWN",
        "peers": peers,
        "minPeers": min_peers,
        "networked": networked,
        "blocksBehind": behind,
        "maxBlocksBehind": max_blocks_behind,
    }


def readiness_endpoint(backend: RpcBackend, settings: HealthSettings) -> Any:
    async def readiness(request: Request) -> Response:
        try:
            min_peers = _non_negative(request.query_params, "minPeers", DEFAULT_MIN_PEERS)
            max_behind = _non_negative(request.query_params, "maxBlocksBehind", DEFAULT_MAX_BLOCKS_BEHIND)
        except ValueError as exc:
            return _answer({"status": "DOWN", "error": str(exc)}, 400)
        ready, body = await readiness_of(backend, settings.bootnodes, min_peers, max_behind)
        return _answer(body, 200 if ready else 503)

    return readiness


__all__ = ["DEFAULT_MAX_BLOCKS_BEHIND", "DEFAULT_MIN_PEERS", "liveness", "readiness_endpoint", "readiness_of"]
