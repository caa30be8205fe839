"""Which senders this node admits: its local account allowlist file and the chain's AccountAllowlist;
and, for the consensus process's peer admission, the local nodes file that perm_*Nodes* edit and
the chain's NodeAllowlist at the head (both at the end of this module).

The local list is Besu's ``--permissions-accounts-config-file`` (enabled by
``--permissions-accounts-config-file-enabled``; default ``permissions_config.toml`` in the data
dir), a TOML file with one key read here (``nodes-allowlist`` and any other key are kept as they
are when the node rewrites the file)::

    accounts-allowlist = ["0xfe3b557e8fb62b89f4916b721be55ceb828dbd73"]

It filters what THIS node admits: eth_sendRawTransaction, transactions gossiped by peers, and the
blocks this node builds (``Executor.local_sender_filter``). It never decides whether a block is
valid: a file differs from node to node, and a chain whose validity depended on it would fork
(the Besu pitfall: onchain checks at import stopped nodes resyncing, besu-docs #659). Only the
chain's list (jsc_node/governance/accounts.py, ``config.jsc.accountsAllowlist``) does that.

The file is reloaded when it changes (its mtime, size and inode, looked at when a sender is
checked and at most every ``WATCH_INTERVAL_S``, as the nodes file's watcher polls,
p2p/permissions.py) and on ``perm_reloadPermissionsFromFile``; a reload that fails
keeps the previous list. ``perm_addAccountsToAllowlist`` / ``perm_removeAccountsFromAllowlist``
edit the list and rewrite the file (atomically: a temp file renamed over it), as Besu's
AllowlistPersistor does, with Besu's refusals (``AllowlistEditError``).
"""

from __future__ import annotations

import json
import logging
import os
import time
import tomllib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Final

from coincurve import PublicKey

from jsc_node.config import NodeConfig
from jsc_node.errors import AllowlistEditError, ConfigError, SenderNotAuthorized
from jsc_node.genesis import GenesisSpec
from jsc_node.governance import accounts, nodes

log = logging.getLogger("jsc_node.permissions")

ACCOUNTS_KEY: Final = "accounts-allowlist"
DEFAULT_FILE_NAME: Final = "permissions_config.toml"
"""Besu's default, in the data dir (PermissionsOptions: DEFAULT_PERMISSIONING_FILE)."""
WATCH_INTERVAL_S: Final = 2.0

# Besu's words (ethereum/api .../response/RpcErrorType.java), all -32000.
ERR_NOT_ENABLED: Final = "Account allowlist has not been enabled"
ERR_EMPTY_ENTRY: Final = "Request contains an empty list of accounts"
ERR_INVALID_ENTRY: Final = "Request contains an invalid account"
ERR_DUPLICATED_ENTRY: Final = "Request contains duplicate accounts"
ERR_EXISTING_ENTRY: Final = "Cannot add an existing account to allowlist"
ERR_ABSENT_ENTRY: Final = "Cannot remove an absent account from allowlist"
ERR_PERSIST_FAILURE: Final = "Unable to persist changes to allowlist configuration file. Changes reverted"
ERR_RELOAD: Final = (
    "Error reloading permissions file. Please use perm_getAccountsAllowlist and "
    "perm_getNodesAllowlist to review the current state of the allowlists"
)
ERR_PERMISSIONING_NOT_ENABLED: Final = "Node/Account allowlist has not been enabled"


def parse_account(entry: object) -> bytes | None:
    """20 bytes from ``0x`` + 40 hex digits (Besu's isValidAccountString: the prefix is required,
    any case), or None."""
    if not isinstance(entry, str) or not entry.startswith("0x") or len(entry) != 42:
        return None
    try:
        return bytes.fromhex(entry[2:])
    except ValueError:
        return None


def _signature(path: Path) -> tuple[int, int, int] | None:
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return (stat.st_mtime_ns, stat.st_size, stat.st_ino)


def _read_document(path: Path) -> dict[str, Any]:
    try:
        text = path.read_bytes().decode()
    except FileNotFoundError as exc:
        raise ConfigError(f"accounts allowlist file not found: {path}") from exc
    except OSError as exc:
        raise ConfigError(f"cannot read accounts allowlist file {path}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"accounts allowlist file {path} is not UTF-8 text: {exc}") from exc
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"accounts allowlist file {path} is not valid TOML: {exc}") from exc


def load_accounts_allowlist(path: Path) -> tuple[bytes, ...]:
    """The addresses of the file's ``accounts-allowlist``, in file order. Raises ConfigError naming
    the file, and the entry when one is bad (an entry listed twice included, as Besu refuses it)."""
    document = _read_document(path)
    if ACCOUNTS_KEY not in document:
        raise ConfigError(f"accounts allowlist file {path} has no {ACCOUNTS_KEY!r} key")
    entries = document[ACCOUNTS_KEY]
    if not isinstance(entries, list):
        raise ConfigError(
            f"accounts allowlist file {path}: {ACCOUNTS_KEY!r} must be a list of 0x-addresses, "
            f"got {type(entries).__name__}"
        )
    found: dict[bytes, None] = {}
    for index, entry in enumerate(entries):
        address = parse_account(entry)
        where = f"accounts allowlist file {path}, entry {index} ({entry!r})"
        if address is None:
            raise ConfigError(f"{where}: not an address (0x and 40 hex digits)")
        if address in found:
            raise ConfigError(f"{where}: listed twice")
        found[address] = None
    return tuple(found)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # a TOML basic string
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise ValueError(f"cannot write a {type(value).__name__} back")


class LocalAccountsAllowlist:
    """The accounts-allowlist of one TOML file, as this node holds it in memory."""

    def __init__(self, path: Path, interval_s: float = WATCH_INTERVAL_S) -> None:
        self.path = path
        self.interval_s = interval_s
        self._seen = _signature(path)
        self._looked = time.monotonic()
        self.accounts: tuple[bytes, ...] = load_accounts_allowlist(path)
        self._set = frozenset(self.accounts)

    def contains(self, address: bytes) -> bool:
        # The file is looked at again when asked, at most every interval_s: no task to run, and an
        # edit counts from the first transaction after it (a stat call, ~2 us, per interval).
        now = time.monotonic()
        if now - self._looked >= self.interval_s:
            self._looked = now
            self.reload_if_changed()
        return address in self._set

    def _set_accounts(self, found: Sequence[bytes]) -> None:
        self.accounts = tuple(found)
        self._set = frozenset(self.accounts)

    def reload(self) -> None:
        """Read the file again; raises ConfigError and keeps the previous list if it is bad."""
        signature = _signature(self.path)
        found = load_accounts_allowlist(self.path)
        self._seen = signature
        if found != self.accounts:
            log.info("accounts allowlist reloaded from %s: %d account(s)", self.path, len(found))
        self._set_accounts(found)

    def reload_if_changed(self) -> None:
        """``reload`` when the file's mtime, size or inode moved; a bad file is logged, not raised."""
        signature = _signature(self.path)
        if signature == self._seen:
            return
        try:
            self.reload()
        except ConfigError as exc:
            self._seen = signature  # say it once per change, not every poll
            log.error("accounts allowlist not reloaded, keeping the previous one: %s", exc)

    # -- perm_addAccountsToAllowlist / perm_removeAccountsFromAllowlist ----------------------

    @staticmethod
    def _validated(entries: Sequence[object]) -> list[bytes]:
        """Besu's inputValidation, in its order: empty, invalid, duplicated."""
        if not entries:
            raise AllowlistEditError(ERR_EMPTY_ENTRY)
        parsed = [parse_account(e) for e in entries]
        addresses = [a for a in parsed if a is not None]
        if len(addresses) != len(parsed):
            raise AllowlistEditError(ERR_INVALID_ENTRY)
        if len(set(addresses)) != len(addresses):
            raise AllowlistEditError(ERR_DUPLICATED_ENTRY)
        return addresses

    def add(self, entries: Sequence[object]) -> None:
        addresses = self._validated(entries)
        self.reload_if_changed()  # edit what is on disk, not a stale copy
        if any(a in self._set for a in addresses):
            raise AllowlistEditError(ERR_EXISTING_ENTRY)
        self._persist([*self.accounts, *addresses])

    def remove(self, entries: Sequence[object]) -> None:
        addresses = self._validated(entries)
        self.reload_if_changed()
        if any(a not in self._set for a in addresses):
            raise AllowlistEditError(ERR_ABSENT_ENTRY)
        gone = set(addresses)
        self._persist([a for a in self.accounts if a not in gone])

    def _persist(self, updated: list[bytes]) -> None:
        """Write ``updated`` as the file's accounts-allowlist (other keys kept, comments are not,
        as Besu's AllowlistPersistor), then hold it; nothing changes if the write fails."""
        try:
            document = _read_document(self.path)
            document[ACCOUNTS_KEY] = ["0x" + a.hex() for a in updated]
            text = "".join(f"{key} = {_toml_value(value)}\n" for key, value in document.items())
            temp = self.path.with_name(f".{self.path.name}.tmp")
            temp.write_text(text)
            os.replace(temp, self.path)
        except (ConfigError, OSError, ValueError) as exc:
            log.error("accounts allowlist file %s not rewritten: %s", self.path, exc)
            raise AllowlistEditError(ERR_PERSIST_FAILURE) from exc
        self._seen = _signature(self.path)
        self._set_accounts(updated)
        log.info("accounts allowlist file %s now lists %d account(s)", self.path, len(updated))


class AccountPermissions:
    """Whom this node admits into its pool (RPC and gossip): the local list, when enabled, and the
    chain's AccountAllowlist at the head, when the genesis names one. Both must allow a sender."""

    def __init__(
        self,
        local: LocalAccountsAllowlist | None,
        chain_read: Callable[[], accounts.StorageRead | None] | None,
    ) -> None:
        self.local = local
        self._chain_read = chain_read
        """Storage reads of the chain's allowlist at the current head, or None (an open chain)."""

    @property
    def active(self) -> bool:
        return self.local is not None or self._chain_read is not None

    def local_problem(self, sender: bytes) -> str | None:
        """The local list's refusal in words, or None (no list, or listed)."""
        if self.local is None or self.local.contains(sender):
            return None
        return f"sender 0x{sender.hex()} is not on this node's accounts allowlist ({self.local.path})"

    # -- perm_* (Besu's answers when the list is off) ----------------------------------------

    def _enabled_local(self) -> LocalAccountsAllowlist:
        if self.local is None:
            raise AllowlistEditError(ERR_NOT_ENABLED)
        return self.local

    def local_accounts(self) -> tuple[bytes, ...]:
        local = self._enabled_local()
        local.reload_if_changed()
        return local.accounts

    def add_local(self, entries: Sequence[object]) -> None:
        self._enabled_local().add(entries)

    def remove_local(self, entries: Sequence[object]) -> None:
        self._enabled_local().remove(entries)

    def reload_local(self) -> None:
        if self.local is None:
            # Besu: PERMISSIONING_NOT_ENABLED (NodeBackend.perm_reload asks here only when neither list is on).
            raise AllowlistEditError(ERR_PERMISSIONING_NOT_ENABLED)
        try:
            self.local.reload()
        except ConfigError as exc:
            log.error("perm_reloadPermissionsFromFile: %s", exc)
            raise AllowlistEditError(ERR_RELOAD) from exc

    def check(self, sender: bytes, *, creates: bool) -> None:
        """Raises SenderNotAuthorized (Besu's -32007) when either list refuses ``sender``."""
        problem = self.local_problem(sender)
        read = None if problem is not None or self._chain_read is None else self._chain_read()
        if read is not None:
            problem = accounts.transaction_problem(read, sender, creates=creates)
        if problem is not None:
            raise SenderNotAuthorized(problem)


def open_account_permissions(
    config: NodeConfig, spec: GenesisSpec, read_at_head: Callable[[], accounts.StorageRead | None]
) -> AccountPermissions:
    """The node's AccountPermissions from its flags and genesis; ``read_at_head`` reads the chain's
    allowlist at the head (``Executor.allowlist_read``). Raises ConfigError when the local list is
    enabled but its file is missing or bad (Besu does not start either)."""
    local = None
    if config.permissions_accounts_config_file_enabled:
        path = config.permissions_accounts_config_file or config.data_path / DEFAULT_FILE_NAME
        local = LocalAccountsAllowlist(path)
        log.info("accounts allowlist from %s: %d account(s)", path, len(local.accounts))
    on_chain = spec.jsc is not None and spec.jsc.accounts_allowlist is not None
    return AccountPermissions(local, read_at_head if on_chain else None)


# --- nodes: the local nodes-allowlist file (perm_*Nodes*) and the chain's NodeAllowlist -------------

NODES_KEY: Final = "nodes-allowlist"
"""The nodes file's key (p2p/permissions.py reads the same file in the consensus process)."""

# Besu's words (RpcErrorType.java: NODE_ALLOWLIST_*), all -32000.
ERR_NODES_NOT_ENABLED: Final = "Node allowlist has not been enabled"
ERR_NODES_EMPTY_ENTRY: Final = "Request contains an empty list of nodes"
ERR_NODES_INVALID_ENTRY: Final = "Request contains an invalid node"
ERR_NODES_DUPLICATED_ENTRY: Final = "Request contains duplicate nodes"
ERR_NODES_EXISTING_ENTRY: Final = "Cannot add an existing node to allowlist"
ERR_NODES_MISSING_ENTRY: Final = "Cannot remove an absent node from allowlist"
ERR_NODES_FIXED_NODE: Final = "Cannot remove a fixed node (bootnode or static node) from allowlist"

_BASE58_ALPHABET: Final = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_BASE58_INDEX: Final = {c: i for i, c in enumerate(_BASE58_ALPHABET)}
# A jsc-node peer ID is an identity multihash (code 0x00, length 37) of the libp2p PublicKey protobuf
# {1: KeyType Secp256k1 (2), 2: the 33-byte compressed key}: the key is inlined, so the ID alone
# names the node's address (p2p/host.py address_of_peer). Checked here byte for byte, without
# libp2p, which the execution process does not import (pyproject.toml, state-execution-side).
_PEER_ID_PREFIX: Final = bytes([0x00, 0x25, 0x08, 0x02, 0x12, 0x21])
_PEER_ID_BYTES: Final = len(_PEER_ID_PREFIX) + 33


def _base58_decode(text: str) -> bytes | None:
    """Bitcoin's base58 (libp2p peer IDs), or None when ``text`` holds another character."""
    number = 0
    for char in text:
        digit = _BASE58_INDEX.get(char)
        if digit is None:
            return None
        number = number * 58 + digit
    body = number.to_bytes((number.bit_length() + 7) // 8, "big") if number else b""
    return b"\x00" * (len(text) - len(text.lstrip("1"))) + body


def peer_id_of_node_entry(entry: object) -> str | None:
    """The peer ID (base58) a nodes-allowlist entry names: a peer ID, or a multiaddr whose last two
    parts are ``/p2p/<peer id>``; None unless it is a jsc-node peer ID (a secp256k1 key inlined, a
    point on the curve). The same entries p2p/permissions.py ``load_nodes_allowlist`` accepts."""
    if not isinstance(entry, str):
        return None
    text = entry.strip()
    if text.startswith("/"):
        parts = text.rstrip("/").split("/")
        if len(parts) < 3 or parts[-2] not in ("p2p", "ipfs"):
            return None
        text = parts[-1]
    raw = _base58_decode(text)
    if raw is None or len(raw) != _PEER_ID_BYTES or not raw.startswith(_PEER_ID_PREFIX):
        return None
    try:
        PublicKey(raw[len(_PEER_ID_PREFIX) :])
    except ValueError:
        return None
    return text


def _load_nodes_entries(path: Path) -> tuple[str, ...]:
    """The file's nodes-allowlist entries as written; ConfigError naming the file and a bad entry."""
    document = _read_document(path)
    if NODES_KEY not in document:
        raise ConfigError(f"nodes allowlist file {path} has no {NODES_KEY!r} key")
    entries = document[NODES_KEY]
    if not isinstance(entries, list):
        raise ConfigError(
            f"nodes allowlist file {path}: {NODES_KEY!r} must be a list of peer IDs or multiaddrs"
        )
    for index, entry in enumerate(entries):
        if peer_id_of_node_entry(entry) is None:
            raise ConfigError(
                f"nodes allowlist file {path}, entry {index} ({entry!r}): not a jsc-node peer ID"
            )
    return tuple(entries)


class LocalNodesAllowlist:
    """The nodes-allowlist of the ``--permissions-nodes-config-file``, for perm_*Nodes*. The consensus
    process watches the same file and admits what it lists (p2p/permissions.py ``watch_allowlist``):
    editing the file here is how an edit reaches the p2p layer, within its poll interval."""

    def __init__(self, path: Path, fixed: Sequence[str] = ()) -> None:
        self.path = path
        self.fixed = frozenset(p for p in (peer_id_of_node_entry(f) for f in fixed) if p is not None)
        """Peer IDs of the bootnodes: Besu refuses to remove a fixed node from the list."""
        self.entries: tuple[str, ...] = _load_nodes_entries(path)

    def reload(self) -> None:
        self.entries = _load_nodes_entries(self.path)

    def _peer_ids(self) -> set[str]:
        return {p for p in (peer_id_of_node_entry(e) for e in self.entries) if p is not None}

    @staticmethod
    def _validated(entries: Sequence[object]) -> list[str]:
        """Besu's order: empty, invalid, duplicated (two entries naming one peer ID included)."""
        if not entries:
            raise AllowlistEditError(ERR_NODES_EMPTY_ENTRY)
        peer_ids = [peer_id_of_node_entry(e) for e in entries]
        found = [p for p in peer_ids if p is not None]
        if len(found) != len(peer_ids):
            raise AllowlistEditError(ERR_NODES_INVALID_ENTRY)
        if len(set(found)) != len(found):
            raise AllowlistEditError(ERR_NODES_DUPLICATED_ENTRY)
        return found

    def add(self, entries: Sequence[object]) -> None:
        peer_ids = self._validated(entries)
        self.refresh()
        if self._peer_ids() & set(peer_ids):
            raise AllowlistEditError(ERR_NODES_EXISTING_ENTRY)
        self._persist([*self.entries, *(str(e).strip() for e in entries)])

    def remove(self, entries: Sequence[object]) -> None:
        peer_ids = set(self._validated(entries))
        self.refresh()
        if peer_ids & self.fixed:
            raise AllowlistEditError(ERR_NODES_FIXED_NODE)
        if not peer_ids <= self._peer_ids():
            raise AllowlistEditError(ERR_NODES_MISSING_ENTRY)
        self._persist([e for e in self.entries if peer_id_of_node_entry(e) not in peer_ids])

    def refresh(self) -> None:
        """``reload``, logging a bad file instead of raising (the previous entries stay)."""
        try:
            self.reload()  # edit what is on disk, not a stale copy
        except ConfigError as exc:
            log.error("nodes allowlist not reloaded, editing the previous one: %s", exc)

    def _persist(self, updated: list[str]) -> None:
        """Write ``updated`` as the file's nodes-allowlist (other keys kept, as Besu's
        AllowlistPersistor); nothing changes if the write fails."""
        try:
            document = _read_document(self.path)
            document[NODES_KEY] = updated
            text = "".join(f"{key} = {_toml_value(value)}\n" for key, value in document.items())
            temp = self.path.with_name(f".{self.path.name}.tmp")
            temp.write_text(text)
            os.replace(temp, self.path)
        except (ConfigError, OSError, ValueError) as exc:
            log.error("nodes allowlist file %s not rewritten: %s", self.path, exc)
            raise AllowlistEditError(ERR_PERSIST_FAILURE) from exc
        self.entries = tuple(updated)
        log.info("nodes allowlist file %s now lists %d node(s)", self.path, len(updated))


class NodePermissions:
    """perm_*Nodes* over the local nodes file, with Besu's answers when it is not enabled."""

    def __init__(self, local: LocalNodesAllowlist | None) -> None:
        self.local = local

    def _enabled_local(self) -> LocalNodesAllowlist:
        if self.local is None:
            raise AllowlistEditError(ERR_NODES_NOT_ENABLED)
        return self.local

    def local_nodes(self) -> tuple[str, ...]:
        local = self._enabled_local()
        local.refresh()
        return local.entries

    def add_local(self, entries: Sequence[object]) -> None:
        self._enabled_local().add(entries)

    def remove_local(self, entries: Sequence[object]) -> None:
        self._enabled_local().remove(entries)

    def reload_local(self) -> None:
        """perm_reloadPermissionsFromFile: read the nodes file again (when there is one); a bad
        file keeps the previous list here, and the consensus process does the same."""
        if self.local is None:
            return
        try:
            self.local.reload()
        except ConfigError as exc:
            log.error("perm_reloadPermissionsFromFile: %s", exc)
            raise AllowlistEditError(ERR_RELOAD) from exc


def open_node_permissions(config: NodeConfig) -> NodePermissions:
    """perm_*Nodes* edit ``--permissions-nodes-config-file`` when it is given (the flag enables the
    file, as it did before perm_*); the bootnodes are its fixed nodes. Raises ConfigError when the
    file is missing or bad (the consensus process refuses it too)."""
    path = config.permissions_nodes_config_file
    return NodePermissions(None if path is None else LocalNodesAllowlist(path, config.bootnodes))


class ChainNodesAllowlist:
    """The chain's NodeAllowlist (contracts/NodeAllowlist.sol) at the head, followed by its storage
    root: ``at_head`` reads the list, ``changed`` reads it only when the root moved since the last
    look (one state-trie walk a commit; the list is read from storage only when it changed)."""

    def __init__(
        self,
        address: bytes,
        storage_root: Callable[[Any, bytes], bytes],
        state_at: Callable[[Any], Any],
    ) -> None:
        self.address = address
        self._storage_root_of = storage_root
        self._state_at = state_at
        self._root: bytes | None = None

    def _storage_root(self, header: Any) -> bytes:
        return self._storage_root_of(header, self.address)

    def at_head(self, head: Any) -> tuple[bytes, ...]:
        self._root = self._storage_root(head)
        state = self._state_at(head)
        return nodes.read_nodes(lambda slot: int(state.get_storage(self.address, slot)))

    def changed(self, head: Any) -> tuple[bytes, ...] | None:
        """The list at ``head`` when the contract's storage changed since the last look, else None."""
        if self._storage_root(head) == self._root:
            return None
        return self.at_head(head)


def open_chain_nodes(
    spec: GenesisSpec, storage_root: Callable[[Any, bytes], bytes], state_at: Callable[[Any], Any]
) -> ChainNodesAllowlist | None:
    """The chain's node allowlist, or None when the genesis has none (``config.jsc.nodesAllowlist``).
    ``storage_root`` is ``Executor.account_storage_root``."""
    if spec.jsc is None or spec.jsc.nodes_allowlist is None:
        return None
    return ChainNodesAllowlist(spec.jsc.nodes_allowlist, storage_root, state_at)
