"""Permissioned peering from a nodes-allowlist file, as Besu's ``--permissions-nodes-config-file``.

The file is TOML with one key read here (others, such as Besu's ``accounts-allowlist``, are left
alone)::

    nodes-allowlist = [
      "16Uiu2HAm...",                                  # a peer ID
      "/ip4/10.0.0.5/tcp/30303/p2p/16Uiu2HAm...",     # or a multiaddr ending in /p2p/<peer id>
    ]

The peers listed are admitted besides the current validators (who are always admitted, by
address): RPC nodes and validators-to-be. Besu names nodes by enode URL; a jsc-node peer ID
inlines the same secp256k1 key, so the multiaddr's address part is only informative here (who to
dial is ``--bootnodes``).

``watch_allowlist`` reloads the file when it changes (mtime, size or inode: an editor's atomic
rename counts) and disconnects peers no longer listed. A reload that fails keeps the previous
list: a half-written or mistyped file must not cut an RPC node off, nor admit anyone new.

The chain's node list (the NodeAllowlist contract, ``config.jsc.nodesAllowlist``) lives in the
execution process's state; it pushes the list at the head over the seam when a commit changed the
contract's storage, and when this process subscribes (``NodesAllowlistChanged``). ``ChainNodes``
keeps the latest push and hands it to the network, which admits those node-key addresses besides
the validators and this file and disconnects peers admitted by none of the three (node admission,
never block validity: p2p/host.py ``PeerAllowlist``).
"""

from __future__ import annotations

import logging
import os
import tomllib
from collections.abc import Iterable
from pathlib import Path
from typing import Protocol

import trio

from jsc_node.errors import ConfigError, P2PError, PeerIdentityError
from jsc_node.p2p.host import _parse_p2p_addr, address_of_peer, parse_peer_id

log = logging.getLogger("jsc_node.p2p")

ALLOWLIST_KEY = "nodes-allowlist"
WATCH_INTERVAL_S = 2.0


class ExtraPeersSink(Protocol):
    """What the watcher updates: ``P2PNetwork``."""

    async def set_extra_peers(self, peer_ids: Iterable[str]) -> None: ...


class ChainNodesSink(Protocol):
    """What ``ChainNodes`` updates: ``P2PNetwork``."""

    async def set_chain_nodes(self, addresses: Iterable[bytes]) -> None: ...


class ChainNodes:
    """The chain's node list as pushed by the execution process: ``push`` (from the seam reader,
    which must not block) keeps the latest; ``run`` applies each latest one to the network, in order
    (a push that arrives while one is applied waits; pushes in between are superseded)."""

    def __init__(self) -> None:
        self._latest: tuple[bytes, ...] | None = None
        self._ready = trio.Event()

    def push(self, addresses: Iterable[bytes]) -> None:
        self._latest = tuple(addresses)
        self._ready.set()

    async def run(self, network: ChainNodesSink) -> None:
        while True:
            await self._ready.wait()
            self._ready = trio.Event()
            latest, self._latest = self._latest, None
            if latest is not None:
                log.info("chain's node allowlist at the head: %d node(s)", len(latest))
                await network.set_chain_nodes(latest)


def load_nodes_allowlist(path: Path | None) -> tuple[str, ...]:
    """The peer IDs (base58, deduplicated, in file order) the file admits; no file: none.

    Raises ConfigError naming the file, and the entry when one is bad."""
    if path is None:
        return ()
    try:
        text = path.read_bytes().decode()
    except FileNotFoundError as exc:
        raise ConfigError(f"nodes allowlist file not found: {path}") from exc
    except OSError as exc:
        raise ConfigError(f"cannot read nodes allowlist file {path}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"nodes allowlist file {path} is not UTF-8 text: {exc}") from exc
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"nodes allowlist file {path} is not valid TOML: {exc}") from exc
    if ALLOWLIST_KEY not in document:
        raise ConfigError(f"nodes allowlist file {path} has no {ALLOWLIST_KEY!r} key")
    entries = document[ALLOWLIST_KEY]
    if not isinstance(entries, list):
        raise ConfigError(
            f"nodes allowlist file {path}: {ALLOWLIST_KEY!r} must be a list of peer IDs or "
            f"multiaddrs, got {type(entries).__name__}"
        )
    peers: dict[str, None] = {}
    for index, entry in enumerate(entries):
        peers[_peer_id_of_entry(path, index, entry)] = None
    return tuple(peers)


def _peer_id_of_entry(path: Path, index: int, entry: object) -> str:
    where = f"nodes allowlist file {path}, entry {index} ({entry!r})"
    if not isinstance(entry, str):
        raise ConfigError(f"{where}: expected a string, got {type(entry).__name__}")
    text = entry.strip()
    if text.startswith("enode://"):
        raise ConfigError(f"{where}: enode URLs are not supported; use the peer ID (16Uiu2...)")
    try:
        peer_id = _parse_p2p_addr(text).peer_id if text.startswith("/") else parse_peer_id(text)
    except P2PError as exc:  # PeerIdentityError is one
        raise ConfigError(f"{where}: not a peer ID or a multiaddr ending in /p2p/<peer id>") from exc
    # Any base58 text decodes to an ID; a jsc-node peer ID inlines a secp256k1 key, so reading
    # the key back is what tells a peer ID from a typo.
    try:
        address_of_peer(peer_id)
    except PeerIdentityError as exc:
        raise ConfigError(f"{where}: not a jsc-node peer ID ({exc})") from exc
    return str(peer_id)


def _signature(path: Path) -> tuple[int, int, int] | None:
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return (stat.st_mtime_ns, stat.st_size, stat.st_ino)


async def watch_allowlist(
    path: Path | None, network: ExtraPeersSink, interval_s: float = WATCH_INTERVAL_S
) -> None:
    """Reload ``path`` whenever it changes and hand the peers to ``network``; runs until cancelled.

    The first look always loads (the file may have changed since the node read it at start)."""
    if path is None:
        return
    seen: tuple[int, int, int] | None = None
    first = True
    while True:
        signature = _signature(path)
        if first or signature != seen:
            seen = signature
            try:
                peers = load_nodes_allowlist(path)
            except ConfigError as exc:
                log.error("nodes allowlist not reloaded, keeping the previous one: %s", exc)
            else:
                if not first:
                    log.info("nodes allowlist reloaded from %s: %d peer(s)", path, len(peers))
                await network.set_extra_peers(peers)
            first = False
        await trio.sleep(interval_s)
