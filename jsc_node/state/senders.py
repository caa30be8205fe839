"""One signature recovery per transaction, installed into py-evm.

py-evm recovers a transaction's sender up to three times: ``validate()`` recovers and then verifies
(a second EC operation), ``.sender`` recovers again, and a block built from pooled transactions
validates them once more. Recovery is ~24% of a transfer's cost (FIELD-NOTES.md). Here both of
py-evm's signature helpers share one bounded cache keyed by (keccak(signing message), y, r, s):
the key covers the whole signed content, so a cached sender is exactly what recovery would give.

Behaviour is unchanged: a signature that does not recover raises the same ValidationError, and a
high-s signature is refused as py-evm's coincurve ``verify_msg`` refused it.
"""

from __future__ import annotations

import sys
from typing import Any

import eth._utils.transactions as tx_utils
import eth.vm.forks  # noqa: F401  (imports every fork's transactions module, patched below)
from eth_hash.auto import keccak
from eth_keys.exceptions import BadSignature
from eth_keys.main import KeyAPI
from eth_utils.exceptions import ValidationError

SECP256K1_HALF_N = 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0
CACHE_MAX_ENTRIES = 65_536

keys = KeyAPI()  # picks the coincurve backend when installed, as eth_keys.keys does
_cache: dict[tuple[bytes, int, int, int], bytes] = {}
stats = {"recoveries": 0, "hits": 0}


def recover_sender(transaction: Any) -> bytes:
    message = transaction.get_message_for_signing()
    key = (keccak(message), transaction.y_parity, transaction.r, transaction.s)
    sender = _cache.get(key)
    if sender is not None:
        stats["hits"] += 1
        return sender
    try:
        signature = keys.Signature(vrs=(transaction.y_parity, transaction.r, transaction.s))
        sender = bytes(signature.recover_public_key_from_msg(message).to_canonical_address())
    except BadSignature as exc:
        raise ValidationError(f"Bad Signature: {exc}") from exc
    stats["recoveries"] += 1
    if len(_cache) >= CACHE_MAX_ENTRIES:
        for stale in list(_cache)[: CACHE_MAX_ENTRIES // 2]:
            del _cache[stale]
    _cache[key] = sender
    return sender


def validate_transaction_signature(transaction: Any) -> None:
    if transaction.s > SECP256K1_HALF_N:
        # libsecp256k1 (py-evm's verify_msg under coincurve) accepts only low-s signatures.
        raise ValidationError("Invalid Signature")
    recover_sender(transaction)


def extract_transaction_sender(transaction: Any) -> bytes:
    return recover_sender(transaction)


def replace_in_py_evm(name: str, original: Any, replacement: Any) -> None:
    """Point every loaded ``eth.*`` module that imported ``original`` under ``name`` at
    ``replacement`` (py-evm modules import helpers by name, so patching the defining module alone
    misses them)."""
    for module_name, module in list(sys.modules.items()):
        if module_name.startswith("eth.") and module is not None and getattr(module, name, None) is original:
            setattr(module, name, replacement)


def install() -> None:
    original_validate = tx_utils.validate_transaction_signature
    if original_validate is validate_transaction_signature:
        return
    original_extract = tx_utils.extract_transaction_sender
    replace_in_py_evm("validate_transaction_signature", original_validate, validate_transaction_signature)
    replace_in_py_evm("extract_transaction_sender", original_extract, extract_transaction_sender)


install()
