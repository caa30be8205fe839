"""The AccountAllowlist system contract (contracts/AccountAllowlist.sol) seen from Python: its
address, its storage layout, and the consensus rule on transaction senders.

contracts/AccountAllowlist.sol's header comment is the layout; this module is the one place that
turns it into slot numbers. Readers take a ``StorageRead`` of the allowlist account (slot ->
value), so they run over any state without py-evm here::

    read = lambda slot: state.get_storage(ALLOWLIST_ADDRESS, slot)
    accounts.transaction_problem(read, sender, creates=tx.to == b"")   # one SLOAD when allowed

The rule (``transaction_problem``) is what every node applies to every transaction of every block
it builds, validates, commits or imports, at the state of the block's parent, when the genesis
policy names the contract (``config.jsc.accountsAllowlist``): a block holding a transaction the
rule refuses is invalid. Only chain state decides, so nodes never disagree on it (a node's local
allowlist file only filters what that node admits: jsc_node/state/permissions.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from functools import cache
from importlib import resources
from typing import Any, Final

from jsc_node.governance.registry import StorageRead as StorageRead
from jsc_node.governance.registry import (
    address_key,
    decode_address_array,
    encode_address_array,
    mapping_slot,
)

ALLOWLIST_ADDRESS: Final = bytes.fromhex("000000000000000000000000000000004a534341")
"""Where every genesis jsc-node writes puts the allowlist: "JSCA" in ASCII, next to the registry."""

# Top-level slots, in the contract's declaration order.
SLOT_ROLES: Final = 0
SLOT_CREATE_RESTRICTED: Final = 1
SLOT_ACCOUNTS: Final = 2
SLOT_ACCOUNT_POSITION: Final = 3
SLOT_ADMINS: Final = 4
SLOT_ADMIN_POSITION: Final = 5

# Role bits of ``roles[address]``.
TRANSACT: Final = 1
CREATE: Final = 2
ADMIN: Final = 4


def roles_slot(address: bytes) -> int:
    return mapping_slot(address_key(address), SLOT_ROLES)


def read_roles(read: StorageRead, address: bytes) -> int:
    return read(roles_slot(address))


def create_restricted(read: StorageRead) -> bool:
    return read(SLOT_CREATE_RESTRICTED) != 0


def is_allowed(read: StorageRead, address: bytes) -> bool:
    """The contract's ``isAllowed``: TRANSACT or ADMIN."""
    return read_roles(read, address) & (TRANSACT | ADMIN) != 0


def can_create(read: StorageRead, address: bytes) -> bool:
    """The contract's ``canCreate``."""
    roles = read_roles(read, address)
    if roles & ADMIN:
        return True
    if not roles & TRANSACT:
        return False
    return bool(roles & CREATE) or not create_restricted(read)


def read_accounts(read: StorageRead) -> tuple[bytes, ...]:
    """Holders of TRANSACT, in the contract's order (admins not among them unless added)."""
    return decode_address_array(read, SLOT_ACCOUNTS)


def read_admins(read: StorageRead) -> tuple[bytes, ...]:
    return decode_address_array(read, SLOT_ADMINS)


def transaction_problem(read: StorageRead, sender: bytes, *, creates: bool) -> str | None:
    """Why a transaction from ``sender`` (a contract creation when ``creates``) may not be in a
    block whose parent state ``read`` reads, in words; None when it may. One storage read for an
    allowed sender, two for a creation by a listed account without CREATE."""
    roles = read_roles(read, sender)
    who = f"0x{sender.hex()}"
    if not roles & (TRANSACT | ADMIN):
        return f"sender {who} is not on the chain's account allowlist"
    if creates and not roles & (ADMIN | CREATE) and create_restricted(read):
        return f"sender {who} may not create contracts (the chain's account allowlist restricts creation)"
    return None


# --- writing the genesis ------------------------------------------------------------------------


def genesis_storage(
    admins: Sequence[bytes], accounts: Iterable[bytes] = (), *, restrict_create: bool = False
) -> dict[int, int]:
    """The allowlist's storage at genesis: ``admins`` (ADMIN) and ``accounts`` (TRANSACT), each list
    in the order given with duplicates dropped; ``restrict_create`` sets ``createRestricted``."""
    if not admins:
        raise ValueError("the account allowlist needs at least one admin")
    admin_list = list(dict.fromkeys(admins))
    account_list = list(dict.fromkeys(accounts))
    storage: dict[int, int] = {}
    roles: dict[bytes, int] = {}
    storage.update(encode_address_array(SLOT_ADMINS, admin_list))
    for i, address in enumerate(admin_list):
        storage[mapping_slot(address_key(address), SLOT_ADMIN_POSITION)] = i + 1
        roles[address] = roles.get(address, 0) | ADMIN
    storage.update(encode_address_array(SLOT_ACCOUNTS, account_list))
    for i, address in enumerate(account_list):
        storage[mapping_slot(address_key(address), SLOT_ACCOUNT_POSITION)] = i + 1
        roles[address] = roles.get(address, 0) | TRANSACT
    for address, value in roles.items():
        storage[roles_slot(address)] = value
    if restrict_create:
        storage[SLOT_CREATE_RESTRICTED] = 1
    return {slot: value for slot, value in storage.items() if value != 0}


@cache
def artifact() -> dict[str, Any]:
    """jsc_node/data/AccountAllowlist.json: contracts/build/AccountAllowlist.json, packaged (a test
    keeps the two equal)."""
    doc: dict[str, Any] = json.loads(
        resources.files("jsc_node").joinpath("data/AccountAllowlist.json").read_text()
    )
    return doc


def runtime_code() -> bytes:
    return bytes.fromhex(artifact()["deployedBytecode"][2:])


def genesis_alloc_entry(
    admins: Sequence[bytes], accounts: Iterable[bytes] = (), *, restrict_create: bool = False
) -> dict[str, Any]:
    """The allowlist's genesis.json alloc entry (nonce 1 as a deployed contract; storage in geth's
    0x + 64 hex digit form)."""
    storage = genesis_storage(admins, accounts, restrict_create=restrict_create)
    return {
        "balance": "0x0",
        "nonce": "0x1",
        "code": "0x" + runtime_code().hex(),
        "storage": {
            "0x" + k.to_bytes(32, "big").hex(): "0x" + v.to_bytes(32, "big").hex()
            for k, v in sorted(storage.items())
        },
    }
