"""Keccak-256 for the whole process: eth-hash's ``pysha3`` backend (safe-pysha3, C) instead of its
default, pycryptodome.

py-evm, trie and jsc-node all hash through the one ``eth_hash.auto.keccak`` object; pycryptodome
builds a cffi hashing object per call (~5 us), pysha3 does not (~0.9 us on this machine). A
2,000-transfer ERC-20 block hashes ~26 times per transaction (trie nodes, addresses, storage keys).
Same digests (tests/unit/test_keccak.py). Imports no py-evm: the consensus process installs this
patch alone.
"""

from __future__ import annotations

from typing import Any

import sha3  # safe-pysha3
from eth_hash.auto import keccak
from eth_hash.backends.pysha3 import backend

REPLACES = ("eth_hash.auto:keccak.hasher", "eth_hash.auto:keccak.preimage", "eth_hash.auto:keccak._backend")
"""The auto backend's hasher slots, which eth-hash fills with its chosen backend on first use."""


def _keccak256(data: bytes | bytearray) -> bytes:
    digest: bytes = sha3.keccak_256(data).digest()
    return digest


def install() -> None:
    target: Any = keccak  # eth-hash types its hasher slots as bound methods
    target._backend = backend
    target.hasher = _keccak256
    target.preimage = backend.preimage
