"""A small, fast RLP encoder for the shapes consensus builds (bytes, non-negative ints, lists).

pyrlp infers a sedes for every item, which made encoding the largest cost of the consensus
simulation; this encoder produces the same canonical bytes (tested against ``rlp.encode``).
Decoding stays with pyrlp (``rlp.decode(strict=True)``), which checks canonical form.
"""

from __future__ import annotations


def _length_prefix(length: int, offset: int) -> bytes:
    if length < 56:
        return bytes([offset + length])
    encoded = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([offset + 55 + len(encoded)]) + encoded


def encode(item: object) -> bytes:
    """RLP of bytes, a non-negative int, or a list/tuple of those (nested)."""
    if isinstance(item, bytes):
        if len(item) == 1 and item[0] < 0x80:
            return item
        return _length_prefix(len(item), 0x80) + item
    if isinstance(item, int) and not isinstance(item, bool):
        if item < 0:
            raise ValueError(f"RLP cannot encode a negative integer: {item}")
        return encode(item.to_bytes((item.bit_length() + 7) // 8, "big") if item else b"")
    if isinstance(item, (list, tuple)):
        payload = b"".join([encode(child) for child in item])
        return _length_prefix(len(payload), 0xC0) + payload
    raise TypeError(f"RLP cannot encode {type(item).__name__}")
