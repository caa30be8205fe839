"""rpc/health.py: Besu's GET /liveness and /readiness (minPeers, maxBlocksBehind) on the app."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from jsc_node.rpc.app import create_app
from jsc_node.views import BlockId, SyncStatus
from tests.unit.test_rpc_app import Settings
from tests.unit.test_rpc_fake import FakeBackend, make_block, request


@dataclass
class NetBackend(FakeBackend):
    peers: int = 0
    validators: int = 4
    p2p: bool = True

    async def peer_count(self) -> int:
        return self.peers

    async def listening(self) -> bool:
        return self.p2p

    async def qbft_validators(self, block: BlockId) -> tuple[bytes, ...] | None:
        return tuple(bytes([i + 1]) * 20 for i in range(self.validators))


def _get(backend: FakeBackend, path: str, bootnodes: tuple[str, ...] = ()) -> Any:
    backend.add_block(make_block(0))
    settings = Settings()
    settings.bootnodes = bootnodes
    return request(create_app(backend, settings), "GET", path)


def test_liveness_is_up() -> None:
    response = _get(NetBackend(), "/liveness")
    assert response.status_code == 200
    assert response.json() == {"status": "UP"}


def test_a_networked_node_without_peers_is_not_ready() -> None:
    response = _get(NetBackend(peers=0), "/readiness")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "DOWN"
    assert (body["peers"], body["minPeers"], body["networked"]) == (0, 1, True)
    # Besu's query parameter lowers the bar.
    assert _get(NetBackend(peers=0), "/readiness?minPeers=0").status_code == 200
    assert _get(NetBackend(peers=2), "/readiness").json()["status"] == "UP"
    assert _get(NetBackend(peers=2), "/readiness?minPeers=3").status_code == 503


def test_a_lone_validator_or_a_node_without_p2p_needs_no_peer() -> None:
    # make run: the only validator of its chain, no bootnodes: nobody to be connected to.
    alone = _get(NetBackend(peers=0, validators=1), "/readiness")
    assert alone.status_code == 200
    assert alone.json()["networked"] is False
    # ... but with bootnodes it is meant to have peers.
    assert _get(NetBackend(peers=0, validators=1), "/readiness", bootnodes=("/ip4/x",)).status_code == 503
    assert _get(NetBackend(peers=0, p2p=False), "/readiness").status_code == 200


def test_a_node_catching_up_is_not_ready_beyond_max_blocks_behind() -> None:
    backend = NetBackend(peers=3)
    backend.sync = SyncStatus(starting_block=0, current_block=10, highest_block=15)
    response = _get(backend, "/readiness")
    assert response.status_code == 503
    assert (response.json()["blocksBehind"], response.json()["maxBlocksBehind"]) == (5, 2)
    assert _get(backend, "/readiness?maxBlocksBehind=5").status_code == 200
    backend.sync = SyncStatus(starting_block=0, current_block=14, highest_block=15)
    assert _get(backend, "/readiness").status_code == 200  # within Besu's default 2


@pytest.mark.parametrize("query", ["minPeers=x", "minPeers=-1", "maxBlocksBehind=1.5"])
def test_bad_query_parameters_get_400(query: str) -> None:
    response = _get(NetBackend(peers=3), f"/readiness?{query}")
    assert response.status_code == 400
    assert response.json()["status"] == "DOWN"
    assert query.split("=")[0] in response.json()["error"]
