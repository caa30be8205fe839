"""The libp2p host of the consensus process: TCP, Noise only, yamux, permissioned peering.

Identity: the node's secp256k1 key (the same 32 bytes as its validator key). A secp256k1
public key is small enough to be inlined in the peer ID (identity multihash), so a peer ID
alone gives the peer's Ethereum address (``address_of_peer``): the allowlist can name
validators by address.

Permissioned peering: every connection, inbound or outbound, is checked right after the Noise
handshake authenticates the remote peer ID and before a muxer is negotiated. A peer that is not
on the allowlist (or is banned for misbehaving) is disconnected there and logged: it never gets
a stream, so nothing it sends is processed. ``enforce_allowlist`` drops connected peers that
left the list (a validator voted out).

py-libp2p's defaults offer plaintext, secio and TLS next to Noise, and mplex next to yamux
(FIELD-NOTES): we pass ``sec_opt`` and ``muxer_opt`` with exactly one entry each.
"""

from __future__ import annotations

import functools
import logging
import socket
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import coincurve
import multiaddr
import trio
from eth_hash.auto import keccak
from libp2p import new_host
from libp2p.crypto.keys import KeyPair, KeyType
from libp2p.crypto.secp256k1 import create_new_key_pair
from libp2p.crypto.x25519 import create_new_key_pair as create_x25519_key_pair
from libp2p.custom_types import TProtocol
from libp2p.network.config import ConnectionConfig
from libp2p.peer.id import ID
from libp2p.peer.peerinfo import info_from_p2p_addr
from libp2p.rcmgr import Direction
from libp2p.security.noise.transport import PROTOCOL_ID as NOISE_PROTOCOL_ID
from libp2p.security.noise.transport import Transport as NoiseTransport
from libp2p.stream_muxer.yamux.yamux import PROTOCOL_ID as YAMUX_PROTOCOL_ID
from libp2p.stream_muxer.yamux.yamux import Yamux
from libp2p.transport.exceptions import SecurityUpgradeFailure

from jsc_node.errors import P2PError, PeerIdentityError

log = logging.getLogger("jsc_node.p2p")

DEFAULT_LISTEN_HOST = "127.0.0.1"
DEFAULT_LISTEN_PORT = 30303
SECRET_BYTES = 32
ADDRESS_BYTES = 20

# Bootnode redial: a validator must find its peers again after any outage, so retries never
# stop; the wait between attempts doubles from the initial delay and is capped.
BOOTNODE_BACKOFF_INITIAL_S = 0.5
BOOTNODE_BACKOFF_MAX_S = 30.0
BOOTNODE_CHECK_INTERVAL_S = 2.0
CONNECT_TIMEOUT_S = 10.0
# py-libp2p's connection manager aims for 50-300 connections: below 50 its auto-connector redials
# every peer in the peerstore every 10 s. A permissioned network is a few validators and RPC
# nodes: no floor (no auto-dial storm; bootnodes are redialled by us), pruning above MAX_PEERS.
MAX_PEERS = 100
# How long a peer dropped for misbehaving (gossip.py's invalid-message limit) stays refused.
DEFAULT_BAN_S = 600.0


# --- identity ---------------------------------------------------------------------------------


def key_pair_of(secret: bytes) -> KeyPair:
    """The libp2p secp256k1 key pair of a node key (32 raw bytes)."""
    if len(secret) != SECRET_BYTES:
        raise P2PError(f"node key must be {SECRET_BYTES} bytes, got {len(secret)}")
    try:
        return create_new_key_pair(secret)
    except ValueError as exc:  # coincurve: zero or >= the group order
        raise P2PError(f"node key is not a valid secp256k1 secret: {exc}") from exc


def peer_id_of(secret: bytes) -> ID:
    """The peer ID of a node key (base58 ``16Uiu2…``, the key inlined)."""
    return ID.from_pubkey(key_pair_of(secret).public_key)


def parse_peer_id(text: str) -> ID:
    try:
        return ID.from_base58(text)
    except Exception as exc:  # base58 raises ValueError; multihash its own errors
        raise PeerIdentityError(f"not a peer ID: {text!r}") from exc


def address_of_peer(peer_id: ID) -> bytes:
    """The Ethereum address of the key inlined in a peer ID; raises PeerIdentityError if the ID
    hashes its key (RSA) or the key is not secp256k1."""
    public_key = peer_id.extract_public_key()
    if public_key is None:
        raise PeerIdentityError(f"peer ID {peer_id} does not inline its public key")
    if public_key.get_type() != KeyType.Secp256k1:
        raise PeerIdentityError(f"peer ID {peer_id} has a {public_key.get_type().name} key, not secp256k1")
    uncompressed = coincurve.PublicKey(public_key.to_bytes()).format(compressed=False)
    address: bytes = keccak(uncompressed[1:])[-ADDRESS_BYTES:]
    return address


@functools.lru_cache(maxsize=1024)
def _address_or_none(peer_id: ID) -> bytes | None:
    """Cached: the gossip validators ask this for every message's forwarder."""
    try:
        return address_of_peer(peer_id)
    except PeerIdentityError:
        return None


# --- allowlist --------------------------------------------------------------------------------


class PeerAllowlist:
    """Who may connect: validators (by Ethereum address, read from the peer ID), extra peers
    (by peer ID, e.g. RPC nodes: the local nodes-allowlist file) and the chain's node list (by the
    address of the node key, read from the peer ID as for validators: the NodeAllowlist contract at
    the head, jsc_node/governance/nodes.py). A peer any of the three admits is admitted. The caller
    updates them as they change, then calls ``P2PHost.enforce_allowlist``. ``extra_check``, if
    given, is asked last (a callable the caller owns, for rules that do not fit these sets)."""

    def __init__(
        self,
        validators: Iterable[bytes] = (),
        extra_peers: Iterable[ID] = (),
        extra_check: Callable[[ID], bool] | None = None,
        chain_nodes: Iterable[bytes] = (),
    ) -> None:
        self._validators = frozenset(validators)
        self._extra_peers = frozenset(extra_peers)
        self._chain_nodes = frozenset(chain_nodes)
        self._extra_check = extra_check

    def set_validators(self, addresses: Iterable[bytes]) -> None:
        self._validators = frozenset(addresses)

    def set_extra_peers(self, peer_ids: Iterable[ID]) -> None:
        self._extra_peers = frozenset(peer_ids)

    def set_chain_nodes(self, addresses: Iterable[bytes]) -> None:
        self._chain_nodes = frozenset(addresses)

    @property
    def validators(self) -> frozenset[bytes]:
        return self._validators

    @property
    def extra_peers(self) -> frozenset[ID]:
        return self._extra_peers

    @property
    def chain_nodes(self) -> frozenset[bytes]:
        return self._chain_nodes

    def allows(self, peer_id: ID) -> bool:
        if peer_id in self._extra_peers:
            return True
        address = _address_or_none(peer_id)
        if address in self._validators or address in self._chain_nodes:
            return True
        return self._extra_check is not None and self._extra_check(peer_id)


# --- host -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PeerSummary:
    """One connected peer, for ``admin_peers``."""

    peer_id: str
    address: bytes | None
    """Ethereum address of the peer's key."""
    remote_addrs: tuple[str, ...]
    inbound: bool


@dataclass(frozen=True)
class NodeInfo:
    """This node, for ``admin_nodeInfo``."""

    peer_id: str
    address: bytes
    listen_addrs: tuple[str, ...]
    """Full multiaddrs (``/ip4/…/tcp/…/p2p/<peer id>``): what other nodes use as bootnodes."""


@dataclass
class _Bans:
    until: dict[ID, float] = field(default_factory=dict)

    def add(self, peer_id: ID, seconds: float) -> None:
        self.until[peer_id] = time.monotonic() + seconds

    def active(self, peer_id: ID) -> bool:
        expiry = self.until.get(peer_id)
        if expiry is None:
            return False
        if time.monotonic() >= expiry:
            del self.until[peer_id]
            return False
        return True


class P2PHost:
    """A py-libp2p host: TCP on ``listen_host:listen_port``, Noise, yamux, allowlist gate,
    bootnode redial. Start with ``await nursery.start(host.run)``; cancel to stop."""

    def __init__(
        self,
        secret: bytes,
        allowlist: PeerAllowlist,
        *,
        listen_host: str = DEFAULT_LISTEN_HOST,
        listen_port: int = DEFAULT_LISTEN_PORT,
        bootnodes: Sequence[str] = (),
    ) -> None:
        self.key_pair = key_pair_of(secret)
        self.peer_id: ID = ID.from_pubkey(self.key_pair.public_key)
        self.address = address_of_peer(self.peer_id)
        self.allowlist = allowlist
        self.bans = _Bans()
        # One bootnode list is usually shared by every node of a network: skip our own entry.
        self.bootnodes = [info for info in map(_parse_p2p_addr, bootnodes) if info.peer_id != self.peer_id]
        self._listen_host, self._listen_port = listen_host, listen_port
        try:
            self._listen = multiaddr.Multiaddr(f"/ip4/{listen_host}/tcp/{listen_port}")
        except Exception as exc:  # multiaddr raises its own StringParseError/ValueError
            raise P2PError(f"bad listen address {listen_host}:{listen_port}: {exc}") from exc
        # The static Noise DH key is per run: the handshake signs it with the identity key.
        noise_key = create_x25519_key_pair().private_key
        self.libp2p: Any = new_host(
            key_pair=self.key_pair,
            sec_opt={NOISE_PROTOCOL_ID: NoiseTransport(self.key_pair, noise_privkey=noise_key)},
            muxer_opt={TProtocol(YAMUX_PROTOCOL_ID): Yamux},
            listen_addrs=[self._listen],
            connection_config=ConnectionConfig(
                min_connections=0, low_watermark=0, high_watermark=MAX_PEERS, max_connections=MAX_PEERS
            ),
        )
        self._install_gate()
        self.refused = 0
        """Connections refused by the gate since start (not on the allowlist, or banned)."""

    # -- gate --------------------------------------------------------------------------------

    def admits(self, peer_id: ID) -> bool:
        return peer_id != self.peer_id and not self.bans.active(peer_id) and self.allowlist.allows(peer_id)

    def _install_gate(self) -> None:
        """Wrap the swarm's security upgrade: the remote peer ID is authenticated there, and both
        the inbound and the outbound path treat SecurityUpgradeFailure as "close and forget"."""
        upgrader = self.libp2p.get_network().upgrader
        upgrade_security = upgrader.upgrade_security

        async def gated(raw_conn: Any, is_initiator: bool, peer_id: ID | None = None) -> Any:
            secure_conn = await upgrade_security(raw_conn, is_initiator, peer_id)
            remote: ID = secure_conn.get_remote_peer()
            if not self.admits(remote):
                self.refused += 1
                reason = "banned" if self.bans.active(remote) else "not on the allowlist"
                log.warning(
                    "refused %s peer %s (%s)", "outbound" if is_initiator else "inbound", remote, reason
                )
                await secure_conn.close()
                raise SecurityUpgradeFailure(f"peer {remote} is {reason}")
            return secure_conn

        upgrader.upgrade_security = gated

    async def enforce_allowlist(self) -> list[ID]:
        """Disconnect connected peers the allowlist (or a ban) no longer admits."""
        dropped = [peer for peer in self.connected_peers() if not self.admits(peer)]
        for peer in dropped:
            log.warning("disconnecting peer %s: no longer admitted", peer)
            await self.disconnect(peer)
        return dropped

    async def ban(self, peer_id: ID, seconds: float = DEFAULT_BAN_S, reason: str = "") -> None:
        log.warning("banning peer %s for %.0f s: %s", peer_id, seconds, reason)
        self.bans.add(peer_id, seconds)
        await self.disconnect(peer_id)

    # -- lifecycle ---------------------------------------------------------------------------

    async def run(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        check_port_free(self._listen_host, self._listen_port)
        async with self.libp2p.run([self._listen]), trio.open_nursery() as nursery:
            for bootnode in self.bootnodes:
                nursery.start_soon(self._keep_connected, bootnode)
            log.info("p2p host %s listening on %s", self.peer_id, ", ".join(self.listen_addrs()))
            task_status.started()
            await trio.sleep_forever()

    async def _keep_connected(self, peer_info: Any) -> None:
        delay = BOOTNODE_BACKOFF_INITIAL_S
        while True:
            if self.is_connected(peer_info.peer_id):
                delay = BOOTNODE_BACKOFF_INITIAL_S
                await trio.sleep(BOOTNODE_CHECK_INTERVAL_S)
                continue
            try:
                await self._dial(peer_info)
                log.info("connected to bootnode %s", peer_info.peer_id)
                delay = BOOTNODE_BACKOFF_INITIAL_S
            except P2PError as exc:
                log.info("bootnode %s unreachable (retry in %.1f s): %s", peer_info.peer_id, delay, exc)
                await trio.sleep(delay)
                delay = min(delay * 2, BOOTNODE_BACKOFF_MAX_S)

    async def _dial(self, peer_info: Any) -> None:
        if not self.admits(peer_info.peer_id):
            raise P2PError(f"peer {peer_info.peer_id} is not admitted")
        # py-libp2p 0.8.1 refuses to dial a peer whose last dial failed (its negative cache) and
        # each refusal keeps it there: a node the remote refused once (taken off its allowlist)
        # was never redialled after being listed again. Our own backoff paces redials.
        self.libp2p.get_network().unblock_peer(peer_info.peer_id)
        with trio.move_on_after(CONNECT_TIMEOUT_S) as scope:
            try:
                await self.libp2p.connect(peer_info)
            except Exception as exc:  # py-libp2p raises SwarmException and others from dial
                raise P2PError(f"cannot connect to {peer_info.peer_id}: {exc}") from exc
        if scope.cancelled_caught:
            raise P2PError(f"connecting to {peer_info.peer_id} timed out after {CONNECT_TIMEOUT_S} s")
        if not self.is_connected(peer_info.peer_id):
            raise P2PError(f"connection to {peer_info.peer_id} was closed")

    async def connect(self, address: str) -> ID:
        """Dial a full multiaddr (``/ip4/…/tcp/…/p2p/<peer id>``); raises P2PError."""
        peer_info = _parse_p2p_addr(address)
        await self._dial(peer_info)
        peer_id: ID = peer_info.peer_id
        return peer_id

    async def disconnect(self, peer_id: ID) -> None:
        try:
            await self.libp2p.disconnect(peer_id)
        except Exception as exc:  # closing an already-dead connection raises from the muxer
            log.debug("disconnecting %s: %s", peer_id, exc)

    # -- views (admin_peers, admin_nodeInfo, net_peerCount) ------------------------------------

    def connected_peers(self) -> list[ID]:
        peers: list[ID] = self.libp2p.get_connected_peers()
        return peers

    def is_connected(self, peer_id: ID) -> bool:
        return bool(self.libp2p.get_network().get_connections(peer_id))

    def peer_count(self) -> int:
        return len(self.connected_peers())

    def peers(self) -> list[PeerSummary]:
        summaries = []
        network = self.libp2p.get_network()
        for peer_id in self.connected_peers():
            conns = network.get_connections(peer_id)
            addrs: list[str] = []
            inbound = False
            for conn in conns:
                addrs.extend(str(a) for a in conn.get_transport_addresses())
                inbound = inbound or getattr(conn, "direction", None) == Direction.INBOUND
            summaries.append(PeerSummary(str(peer_id), _address_or_none(peer_id), tuple(addrs), inbound))
        return summaries

    def listen_addrs(self) -> list[str]:
        return [str(addr) for addr in self.libp2p.get_addrs()]

    def node_info(self) -> NodeInfo:
        return NodeInfo(str(self.peer_id), self.address, tuple(self.listen_addrs()))


def check_port_free(host: str, port: int) -> None:
    """py-libp2p listens with SO_REUSEPORT, so a second node on the same port starts without an
    error and the kernel splits inbound connections between the two (dialers then fail on a peer
    ID mismatch). A bind without SO_REUSEPORT fails against any listener: try one first."""
    if port == 0:
        return
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT is no conflict
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise P2PError(f"cannot listen on {host}:{port}: {exc.strerror}") from exc


def _parse_p2p_addr(text: str) -> Any:
    try:
        return info_from_p2p_addr(multiaddr.Multiaddr(text))
    except Exception as exc:  # multiaddr / libp2p raise several unrelated error types here
        raise P2PError(f"not a full multiaddr with /p2p/<peer id>: {text!r} ({exc})") from exc
