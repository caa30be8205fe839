"""The JSON-RPC namespaces a transport may serve (Besu's ``--rpc-http-api`` / ``--rpc-ws-api``).

Kept free of the method table's imports: ``config.py`` validates the names at start without pulling
in py-evm.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Final

RPC_APIS: Final = ("ETH", "NET", "WEB3", "TXPOOL", "QBFT", "ADMIN", "DEBUG", "TESTING")
"""Every namespace jsc-node serves, in Besu's spelling."""

DEFAULT_RPC_APIS: Final = ("ETH", "NET", "WEB3")
"""Besu's and geth's default: nothing that votes, administers, traces or builds blocks."""

ALWAYS_SERVED: Final = frozenset({"rpc_modules"})
"""Served whatever the list says (geth registers its ``rpc`` namespace on every transport)."""


def validate_apis(names: Iterable[str]) -> list[str]:
    """Upper-cased, deduplicated names in the given order; raises ``ValueError`` naming an unknown one."""
    apis: list[str] = []
    for raw in names:
        name = raw.strip().upper()
        if name not in RPC_APIS:
            raise ValueError(f"unknown RPC API {raw.strip()!r}; valid: {', '.join(RPC_APIS)}")
        if name not in apis:
            apis.append(name)
    return apis


def namespace(method: str) -> str:
    """The wire namespace of a method name (``eth_call`` -> ``eth``)."""
    return method.split("_", 1)[0]


def is_served(method: str, apis: Collection[str]) -> bool:
    """Whether a transport serving ``apis`` (validated, upper-case names) answers ``method``."""
    return method in ALWAYS_SERVED or namespace(method).upper() in apis
