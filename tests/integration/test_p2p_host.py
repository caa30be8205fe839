"""The libp2p host on 127.0.0.1: permissioned peering (refused after the handshake, both
directions; dropped when the allowlist shrinks), Noise only, bootnode redial."""

from __future__ import annotations

import multiaddr
import pytest
import trio
from libp2p import new_host
from libp2p.crypto.secp256k1 import create_new_key_pair
from libp2p.custom_types import TProtocol
from libp2p.peer.peerinfo import info_from_p2p_addr
from libp2p.security.insecure.transport import PLAINTEXT_PROTOCOL_ID, InsecureTransport
from libp2p.stream_muxer.yamux.yamux import PROTOCOL_ID as YAMUX_PROTOCOL_ID
from libp2p.stream_muxer.yamux.yamux import Yamux

from jsc_node.consensus.block import address_of
from jsc_node.errors import P2PError
from jsc_node.p2p.host import P2PHost, PeerAllowlist
from tests.integration.test_p2p_gossip import (
    KEYS,
    STEP_TIMEOUT_S,
    VALIDATORS,
    link,
    nodes,
    nothing_arrives,
    prepare,
    run,
)

pytestmark = pytest.mark.timeout(120)
OUTSIDER = KEYS[5]  # a valid key, not a validator, on nobody's allowlist


def test_a_peer_not_on_the_allowlist_is_refused_both_ways_and_receives_nothing() -> None:
    async def main() -> None:
        async with nodes([KEYS[0], KEYS[1]]) as (a, b), nodes([OUTSIDER], PeerAllowlist(VALIDATORS)) as (c,):
            await link(a, b)
            # c's own allowlist admits a; a's does not admit c.
            with trio.fail_after(STEP_TIMEOUT_S), pytest.raises(P2PError):
                await c.host.connect(a.host.listen_addrs()[0])
            with trio.fail_after(STEP_TIMEOUT_S), pytest.raises(P2PError, match="not admitted"):
                await a.host.connect(c.host.listen_addrs()[0])
            await trio.sleep(0.2)
            assert a.host.refused >= 1  # py-libp2p's dialer retries a failed dial
            assert a.host.connected_peers() == [b.host.peer_id]
            assert c.host.peer_count() == 0
            await a.gossip.broadcast(prepare(a.key, 1))
            assert await b.gossip.receive() == prepare(a.key, 1)
            assert await nothing_arrives(c.gossip.receive, 0.5)

    run(main)


def test_extra_peers_are_admitted_and_a_peer_dropped_from_the_list_is_disconnected() -> None:
    async def main() -> None:
        allowlist = PeerAllowlist(VALIDATORS)
        async with nodes([KEYS[0]], allowlist) as (a,), nodes([OUTSIDER]) as (rpc_node,):
            allowlist.set_extra_peers([rpc_node.host.peer_id])  # e.g. an RPC node, not a validator
            await link(rpc_node, a)
            assert a.host.peers()[0].address == address_of(OUTSIDER)
            relayed = prepare(KEYS[3], 1)  # a validator's message, relayed by the RPC node
            await rpc_node.gossip.broadcast(relayed)
            with trio.fail_after(STEP_TIMEOUT_S):
                assert await a.gossip.receive() == relayed
            allowlist.set_extra_peers([])
            # Off the list: nothing it sends is processed, even before it is disconnected.
            await rpc_node.gossip.broadcast(prepare(KEYS[3], 2))
            assert await nothing_arrives(a.gossip.receive, 0.5)
            assert await a.host.enforce_allowlist() == [rpc_node.host.peer_id]
            with trio.fail_after(STEP_TIMEOUT_S):
                while a.host.peer_count() or rpc_node.host.peer_count():
                    await trio.sleep(0.05)

    run(main)


def test_plaintext_only_client_cannot_connect(caplog: pytest.LogCaptureFixture) -> None:
    """Our hosts offer Noise alone: a client offering only /plaintext/2.0.0 fails to negotiate."""

    async def main() -> None:
        async with nodes([KEYS[0]]) as (a,):
            key_pair = create_new_key_pair(KEYS[1].to_bytes())  # a validator's key: only the protocol differs
            client = new_host(
                key_pair=key_pair,
                sec_opt={TProtocol(PLAINTEXT_PROTOCOL_ID): InsecureTransport(key_pair)},
                muxer_opt={TProtocol(YAMUX_PROTOCOL_ID): Yamux},
            )
            listen = multiaddr.Multiaddr("/ip4/127.0.0.1/tcp/0")
            async with client.run([listen]):
                target = info_from_p2p_addr(multiaddr.Multiaddr(a.host.listen_addrs()[0]))
                with (
                    trio.fail_after(STEP_TIMEOUT_S),
                    pytest.raises(Exception, match="unable to connect"),
                ):
                    await client.connect(target)
                assert a.host.peer_count() == 0
                assert client.get_connected_peers() == []
                assert "failed to negotiate the secure protocol" in caplog.text

    run(main)


def test_bootnode_is_redialled_after_a_disconnect() -> None:
    async def main() -> None:
        async with nodes([KEYS[0]]) as (a,), trio.open_nursery() as nursery:
            b = P2PHost(
                KEYS[1].to_bytes(), PeerAllowlist(VALIDATORS), listen_port=0, bootnodes=a.host.listen_addrs()
            )
            # A shared bootnode list names the node itself too: that entry is skipped.
            assert (
                P2PHost(KEYS[0].to_bytes(), PeerAllowlist(), bootnodes=a.host.listen_addrs()).bootnodes == []
            )
            await nursery.start(b.run)
            with trio.fail_after(STEP_TIMEOUT_S):
                while not b.is_connected(a.host.peer_id):
                    await trio.sleep(0.05)
            await a.host.disconnect(b.peer_id)
            with trio.fail_after(STEP_TIMEOUT_S):
                while b.is_connected(a.host.peer_id):
                    await trio.sleep(0.05)
                while not b.is_connected(a.host.peer_id):
                    await trio.sleep(0.05)
            assert b.node_info().listen_addrs[0].endswith(f"/p2p/{b.peer_id}")
            nursery.cancel_scope.cancel()

    run(main)


def test_bad_bootnode_and_listen_addresses_raise_p2p_errors() -> None:
    with pytest.raises(P2PError, match="/p2p/"):
        P2PHost(KEYS[0].to_bytes(), PeerAllowlist(), bootnodes=["/ip4/127.0.0.1/tcp/1"])
    with pytest.raises(P2PError, match="listen address"):
        P2PHost(KEYS[0].to_bytes(), PeerAllowlist(), listen_host="not-an-ip")


def test_a_second_host_on_a_taken_port_fails_instead_of_sharing_it() -> None:
    """py-libp2p binds with SO_REUSEPORT: without our check both hosts would listen."""

    async def main() -> None:
        async with nodes([KEYS[0]]) as (a,):
            port = int(a.host.listen_addrs()[0].split("/tcp/")[1].split("/")[0])
            b = P2PHost(KEYS[1].to_bytes(), PeerAllowlist(VALIDATORS), listen_port=port)
            with pytest.raises(P2PError, match=f"cannot listen on 127.0.0.1:{port}"):
                await b.run()

    run(main)
