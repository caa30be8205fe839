"""The nodes allowlist file on real libp2p hosts (127.0.0.1): a validator refuses an RPC node
until the file lists it, admits it after a reload, and drops it when it is taken out again."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import trio

from jsc_node.consensus.block import address_of
from jsc_node.p2p.network import P2PConfig, P2PNetwork
from jsc_node.p2p.permissions import watch_allowlist
from tests.integration.test_p2p_gossip import KEYS, STEP_TIMEOUT_S, run

pytestmark = pytest.mark.timeout(60)
CHAIN_ID = 78
WATCH_INTERVAL_S = 0.05


async def until(predicate: Callable[[], bool]) -> None:
    with trio.fail_after(STEP_TIMEOUT_S):
        while not predicate():
            await trio.sleep(0.02)


def test_rpc_node_admitted_and_dropped_as_the_file_changes(tmp_path: Path) -> None:
    validator_key, rpc_key = KEYS[0], KEYS[5]
    validators = [address_of(validator_key)]
    allowlist = tmp_path / "permissions_config.toml"
    allowlist.write_text("nodes-allowlist = []\n")

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            a = P2PNetwork(P2PConfig(validator_key.to_bytes(), CHAIN_ID, listen_port=0), validators)
            await nursery.start(a.run)
            nursery.start_soon(watch_allowlist, allowlist, a, WATCH_INTERVAL_S)
            # The RPC node dials the validator (its bootnode) and keeps redialling.
            b = P2PNetwork(
                P2PConfig(rpc_key.to_bytes(), CHAIN_ID, listen_port=0, bootnodes=a.host.listen_addrs()),
                validators,
            )
            await nursery.start(b.run)
            b_id = b.host.peer_id

            await until(lambda: a.host.refused >= 1)
            assert not a.host.is_connected(b_id)

            allowlist.write_text(f'nodes-allowlist = ["{b_id}"]\n')
            await until(lambda: a.host.is_connected(b_id) and b.host.is_connected(a.host.peer_id))
            await a.gossip.wait_for_mesh(b_id, STEP_TIMEOUT_S)

            refused = a.host.refused
            allowlist.write_text("nodes-allowlist = []\n")
            await until(lambda: not a.host.is_connected(b_id))
            # B keeps redialling its bootnode and is refused at the handshake again.
            await until(lambda: a.host.refused > refused)
            assert not a.host.is_connected(b_id)
            nursery.cancel_scope.cancel()

    run(main)
