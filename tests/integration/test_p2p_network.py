"""P2PNetwork, as consensus_process.py uses it: three validators meet through one bootnode,
gossip QBFT messages, and a validator voted out is disconnected and no longer heard."""

from __future__ import annotations

import pytest
import trio

from jsc_node.consensus.block import address_of
from jsc_node.p2p.network import P2PConfig, P2PNetwork
from tests.integration.test_p2p_gossip import KEYS, STEP_TIMEOUT_S, nothing_arrives, prepare, run

pytestmark = pytest.mark.timeout(120)
CHAIN_ID = 77


def test_validators_meet_through_a_bootnode_and_a_removed_one_is_dropped() -> None:
    keys = KEYS[:3]
    validators = [address_of(k) for k in keys]

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            boot = P2PNetwork(P2PConfig(keys[0].to_bytes(), CHAIN_ID, listen_port=0), validators)
            await nursery.start(boot.run)
            others = []
            for key in keys[1:]:
                # Every node gets the same bootnode list, the bootnode itself included.
                config = P2PConfig(
                    key.to_bytes(), CHAIN_ID, listen_port=0, bootnodes=boot.host.listen_addrs()
                )
                network = P2PNetwork(config, validators)
                await nursery.start(network.run)
                others.append(network)
            a, b = others
            with trio.fail_after(STEP_TIMEOUT_S):
                for network in others:
                    await boot.gossip.wait_for_mesh(network.host.peer_id, STEP_TIMEOUT_S)
                message = prepare(keys[1], 1)
                await a.gossip.broadcast(message)
                assert await boot.gossip.receive() == message
                assert await b.gossip.receive() == message  # b only knows the bootnode: relayed

            # keys[2] (b) is voted out: the others stop admitting it and stop accepting its messages.
            for network in (boot, a):
                await network.set_validators(validators[:2])
            with trio.fail_after(STEP_TIMEOUT_S):
                while boot.host.is_connected(b.host.peer_id) or a.host.is_connected(b.host.peer_id):
                    await trio.sleep(0.05)
            await b.gossip.broadcast(prepare(keys[2], 2))
            assert await nothing_arrives(boot.gossip.receive, 0.5)
            assert boot.host.peer_count() == 1
            nursery.cancel_scope.cancel()

    run(main)
