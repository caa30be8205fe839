"""The p2p side of one node in one object: host + gossip + allowlist, kept in step with the
validator set. What ``consensus_process.py`` builds from its config and the chain head.

Who is admitted: the current validators (by address, read from their peer IDs), the
configured extra peers (peer IDs, e.g. RPC nodes or validators-to-be; p2p/permissions.py reads
them from the nodes allowlist file) and the chain's node list (node-key addresses, the
NodeAllowlist contract at the head, pushed by the execution process). Whose consensus messages and
block seals are accepted: the current validators. ``set_validators``, ``set_extra_peers`` and
``set_chain_nodes`` change them and disconnect peers no longer admitted.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import trio

from jsc_node.p2p.gossip import Gossip, GossipSettings
from jsc_node.p2p.host import (
    DEFAULT_LISTEN_HOST,
    DEFAULT_LISTEN_PORT,
    P2PHost,
    PeerAllowlist,
    parse_peer_id,
)


@dataclass(frozen=True)
class P2PConfig:
    secret: bytes
    """The node key (32 bytes): peer ID and validator address both derive from it."""
    chain_id: int
    listen_host: str = DEFAULT_LISTEN_HOST
    listen_port: int = DEFAULT_LISTEN_PORT
    bootnodes: Sequence[str] = ()
    """Full multiaddrs ``/ip4/<ip>/tcp/<port>/p2p/<peer id>``; redialled with backoff."""
    extra_peers: Sequence[str] = ()
    """Peer IDs admitted besides the validators."""
    gossip: GossipSettings = field(default_factory=GossipSettings)


class P2PNetwork:
    """Start with ``await nursery.start(network.run)``; then ``network.gossip`` is the
    ``GossipPort`` of ``ConsensusService``."""

    def __init__(self, config: P2PConfig, validators: Iterable[bytes]) -> None:
        self.config = config
        self._validators = frozenset(validators)
        self.allowlist = PeerAllowlist(self._validators, [parse_peer_id(p) for p in config.extra_peers])
        self.host = P2PHost(
            config.secret,
            self.allowlist,
            listen_host=config.listen_host,
            listen_port=config.listen_port,
            bootnodes=config.bootnodes,
        )
        self.gossip = Gossip(self.host, config.chain_id, self.is_validator, config.gossip)

    def is_validator(self, address: bytes) -> bool:
        return address in self._validators

    async def set_validators(self, addresses: Iterable[bytes]) -> None:
        """The validator set changed (a new head): admit and accept the new set only."""
        validators = frozenset(addresses)
        if validators == self._validators:
            return
        self._validators = validators
        self.allowlist.set_validators(validators)
        await self.host.enforce_allowlist()

    async def set_extra_peers(self, peer_ids: Iterable[str]) -> None:
        """The peers admitted besides the validators changed (a reloaded nodes allowlist): admit
        these only, and disconnect those no longer admitted."""
        extra = frozenset(parse_peer_id(p) for p in peer_ids)
        if extra == self.allowlist.extra_peers:
            return
        self.allowlist.set_extra_peers(extra)
        await self.host.enforce_allowlist()

    async def set_chain_nodes(self, addresses: Iterable[bytes]) -> None:
        """The chain's node allowlist at the head changed (pushed by the execution process): admit
        these node-key addresses besides the validators and the file, disconnect peers no longer
        admitted by any of them."""
        nodes = frozenset(addresses)
        if nodes == self.allowlist.chain_nodes:
            return
        self.allowlist.set_chain_nodes(nodes)
        await self.host.enforce_allowlist()

    async def run(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(self.host.run)
            await nursery.start(self.gossip.run)
            task_status.started()
