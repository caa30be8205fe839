"""The NodeAllowlist system contract (contracts/NodeAllowlist.sol) seen from Python: its address,
its storage layout, and the list of node addresses it admits.

contracts/NodeAllowlist.sol's header comment is the layout; this module is the one place that turns
it into slot numbers. Readers take a ``StorageRead`` of the allowlist account (slot -> value)::

    read = lambda slot: state.get_storage(NODES_ALLOWLIST_ADDRESS, slot)
    nodes.read_nodes(read)      # the node-key addresses listed, in the contract's order

The list is node admission, never block validity: the execution process reads it at the head after
a commit that changed the contract's storage and pushes it over the seam (``NodesAllowlistChanged``);
the consensus process admits those peers besides the validators and its local nodes file
(jsc_node/p2p/host.py ``PeerAllowlist``).

A node is named by the 20-byte address of its node key (the secp256k1 key its peer ID inlines): the
p2p layer reads that address from every peer ID anyway to admit validators, so a listed node costs
one set lookup at the handshake.
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

NODES_ALLOWLIST_ADDRESS: Final = bytes.fromhex("000000000000000000000000000000004a53434e")
"""Where every genesis jsc-node writes puts the node allowlist: "JSCN" in ASCII."""

# Top-level slots, in the contract's declaration order.
SLOT_NODES: Final = 0
SLOT_NODE_POSITION: Final = 1
SLOT_ADMINS: Final = 2
SLOT_ADMIN_POSITION: Final = 3


def is_allowed(read: StorageRead, node: bytes) -> bool:
    """The contract's ``isAllowed``: one storage read."""
    return read(mapping_slot(address_key(node), SLOT_NODE_POSITION)) != 0


def is_admin(read: StorageRead, account: bytes) -> bool:
    return read(mapping_slot(address_key(account), SLOT_ADMIN_POSITION)) != 0


def read_nodes(read: StorageRead) -> tuple[bytes, ...]:
    """The listed node addresses, in the contract's order (``getNodes``)."""
    return decode_address_array(read, SLOT_NODES)


def read_admins(read: StorageRead) -> tuple[bytes, ...]:
    return decode_address_array(read, SLOT_ADMINS)


# --- writing the genesis ------------------------------------------------------------------------


def genesis_storage(admins: Sequence[bytes], nodes: Iterable[bytes] = ()) -> dict[int, int]:
    """The node allowlist's storage at genesis: ``admins`` and ``nodes``, each in the order given
    with duplicates dropped."""
    if not admins:
        raise ValueError("the node allowlist needs at least one admin")
    admin_list = list(dict.fromkeys(admins))
    node_list = list(dict.fromkeys(nodes))
    storage: dict[int, int] = {}
    storage.update(encode_address_array(SLOT_ADMINS, admin_list))
    for i, address in enumerate(admin_list):
        storage[mapping_slot(address_key(address), SLOT_ADMIN_POSITION)] = i + 1
    storage.update(encode_address_array(SLOT_NODES, node_list))
    for i, address in enumerate(node_list):
        storage[mapping_slot(address_key(address), SLOT_NODE_POSITION)] = i + 1
    return {slot: value for slot, value in storage.items() if value != 0}


@cache
def artifact() -> dict[str, Any]:
    """jsc_node/data/NodeAllowlist.json: contracts/build/NodeAllowlist.json, packaged (a test keeps
    the two equal)."""
    doc: dict[str, Any] = json.loads(
        resources.files("jsc_node").joinpath("data/NodeAllowlist.json").read_text()
    )
    return doc


def runtime_code() -> bytes:
    return bytes.fromhex(artifact()["deployedBytecode"][2:])


def genesis_alloc_entry(admins: Sequence[bytes], nodes: Iterable[bytes] = ()) -> dict[str, Any]:
    """The node allowlist's genesis.json alloc entry (nonce 1 as a deployed contract; storage in
    geth's 0x + 64 hex digit form)."""
    storage = genesis_storage(admins, nodes)
    return {
        "balance": "0x0",
        "nonce": "0x1",
        "code": "0x" + runtime_code().hex(),
        "storage": {
            "0x" + k.to_bytes(32, "big").hex(): "0x" + v.to_bytes(32, "big").hex()
            for k, v in sorted(storage.items())
        },
    }
