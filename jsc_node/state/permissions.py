"""Which senders this node admits: its local account allowlist file and the chain's AccountAllowlist.

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

from jsc_node.config import NodeConfig
from jsc_node.errors import AllowlistEditError, ConfigError, SenderNotAuthorized
from jsc_node.genesis import GenesisSpec
from jsc_node.governance import accounts

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
            # Besu: PERMISSIONING_NOT_ENABLED (no nodes list is reloaded through perm_* here).
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
