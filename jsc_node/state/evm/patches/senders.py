"""One signature recovery per transaction, installed into py-evm.

py-evm recovers a transaction's sender up to three times: ``validate()`` recovers and then verifies
(a second EC operation), ``.sender`` recovers again, and a block built from pooled transactions
validates them once more. Recovery is ~24% of a transfer's cost (FIELD-NOTES.md). Here both of
py-evm's signature helpers share one bounded cache keyed by the transaction's hash: the keccak of
its signed encoding (type byte and RLP), which covers the signing message and the signature both,
so a cached sender is exactly what recovery would give. The key costs ~2 us (py-evm keeps a decoded
transaction's RLP), where rebuilding the signing message cost ~18 us: a validator's block
validation asks twice per transaction and hits the sender its pool recovered when the transaction
was gossiped. A miss recovers with coincurve directly (~50 us, eth-keys' wrapper ~65 us); a
signature coincurve does not take goes through eth-keys, which raises as before.

Behaviour is unchanged: a signature that does not recover raises the same ValidationError, and a
high-s signature is refused as py-evm's coincurve ``verify_msg`` refused it.
"""

from __future__ import annotations

from typing import Any

import rlp
from coincurve import PublicKey
from eth.vm.forks.berlin.transactions import TypedTransaction
from eth_hash.auto import keccak
from eth_keys.exceptions import BadSignature
from eth_keys.main import KeyAPI
from eth_utils.exceptions import ValidationError

from jsc_node.state.evm.patches.byname import replace_by_name
from jsc_node.state.evm.rules import SECP256K1_HALF_N, SECP256K1_N

IMPORTED_BY = tuple(
    f"eth.vm.forks.{fork}.transactions" for fork in ("frontier", "berlin", "london", "cancun", "prague")
)
"""The forks' transactions modules, which import both helpers by name (later forks inherit them)."""
REPLACES = (
    "eth._utils.transactions:validate_transaction_signature",
    "eth._utils.transactions:extract_transaction_sender",
    *(
        f"{module}:{name}"
        for module in IMPORTED_BY
        for name in ("validate_transaction_signature", "extract_transaction_sender")
    ),
)

CACHE_MAX_ENTRIES = 65_536

keys = KeyAPI()  # picks the coincurve backend when installed, as eth_keys.keys does
_cache: dict[bytes, bytes] = {}
stats = {"recoveries": 0, "hits": 0}


def signed_hash(transaction: Any) -> bytes:
    """keccak of the signed encoding: the transaction hash (a typed transaction's inner payload
    object has no hash of its own, but keeps its type byte and decoded RLP)."""
    if isinstance(transaction, TypedTransaction):
        return bytes(transaction.hash)
    return keccak(getattr(transaction, "_type_byte", b"") + rlp.encode(transaction, cache=True))


def recover_sender(transaction: Any, tx_hash: bytes | None = None) -> bytes:
    """The sender of a signed py-evm transaction; ``tx_hash`` when the caller has it already."""
    key = signed_hash(transaction) if tx_hash is None else tx_hash
    sender = _cache.get(key)
    if sender is not None:
        stats["hits"] += 1
        return sender
    sender = _recover(
        transaction.get_message_for_signing(), transaction.y_parity, transaction.r, transaction.s
    )
    stats["recoveries"] += 1
    if len(_cache) >= CACHE_MAX_ENTRIES:
        for stale in list(_cache)[: CACHE_MAX_ENTRIES // 2]:
            del _cache[stale]
    _cache[key] = sender
    return sender


def _recover(message: bytes, y_parity: int, r: int, s: int) -> bytes:
    if y_parity in (0, 1) and 0 < r < SECP256K1_N and 0 < s < SECP256K1_N:
        signature = r.to_bytes(32, "big") + s.to_bytes(32, "big") + bytes((y_parity,))
        try:
            public = PublicKey.from_signature_and_message(signature, keccak(message), hasher=None)
        except Exception:
            pass  # not recoverable: eth-keys below raises the error py-evm raised
        else:
            return keccak(public.format(compressed=False)[1:])[12:]
    try:
        signature_object = keys.Signature(vrs=(y_parity, r, s))
        return bytes(signature_object.recover_public_key_from_msg(message).to_canonical_address())
    except BadSignature as exc:
        raise ValidationError(f"Bad Signature: {exc}") from exc


def validate_transaction_signature(transaction: Any) -> None:
    if transaction.s > SECP256K1_HALF_N:
        # libsecp256k1 (py-evm's verify_msg under coincurve) accepts only low-s signatures.
        raise ValidationError("Invalid Signature")
    recover_sender(transaction)


def extract_transaction_sender(transaction: Any) -> bytes:
    return recover_sender(transaction)


def install() -> None:
    replace_by_name(REPLACES[0], validate_transaction_signature, IMPORTED_BY)
    replace_by_name(REPLACES[1], extract_transaction_sender, IMPORTED_BY)
