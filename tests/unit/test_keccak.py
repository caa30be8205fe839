"""jsc_node/state/evm/patches/keccak.py: the process-wide keccak is pysha3's and gives Keccak-256's digests."""

from __future__ import annotations

from eth_hash.auto import keccak
from eth_hash.backends import pycryptodome

from jsc_node.state.evm.patches.keccak import _keccak256


def test_installed_and_equal_to_the_default_backend() -> None:
    assert keccak.hasher is _keccak256
    assert keccak(b"").hex() == "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
    for data in (b"", b"a", b"\x00" * 31, b"x" * 32, bytes(range(256)) * 40):
        assert keccak(data) == pycryptodome.keccak256(data)
        assert keccak(bytearray(data)) == pycryptodome.keccak256(data)
    pre = keccak.new(b"ab")
    pre.update(b"c")
    assert pre.digest() == pycryptodome.keccak256(b"abc")
