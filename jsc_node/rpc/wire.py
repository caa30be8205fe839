"""JSON-RPC request bodies into Python, with every request id kept exact.

orjson (the fast path) reads an integer beyond 64 bits as a float, so an id of
18446744073709551617 would come back as 1.8446744073709552e+19. geth keeps the id as the raw JSON
it received (rpc/json.go, ``jsonrpcMessage.ID json.RawMessage``) and echoes it byte for byte. Only
when a parsed id is a float is the body read again by the standard library, which keeps integers
exact; an id outside orjson's integer range is then echoed as raw JSON (``orjson.Fragment``).
"""

from __future__ import annotations

import json
from typing import Any, Final

import orjson

ORJSON_INT_MIN: Final = -(2**63)
ORJSON_INT_MAX: Final = 2**64 - 1
"""orjson reads and writes integers in [-2**63, 2**64 - 1]; beyond, it reads floats and refuses to write."""


def loads_request(body: bytes | str) -> Any:
    """Decode a request or batch body; raises ``orjson.JSONDecodeError`` if it is not JSON."""
    payload = orjson.loads(body)
    if _has_float_id(payload):
        payload = _with_exact_ids(json.loads(body))
    return payload


def _has_float_id(payload: Any) -> bool:
    if isinstance(payload, dict):
        return type(payload.get("id")) is float
    if isinstance(payload, list):
        return any(isinstance(m, dict) and type(m.get("id")) is float for m in payload)
    return False


def _with_exact_ids(payload: Any) -> Any:
    for message in payload if isinstance(payload, list) else [payload]:
        if isinstance(message, dict):
            request_id = message.get("id")
            if type(request_id) is int and not ORJSON_INT_MIN <= request_id <= ORJSON_INT_MAX:
                message["id"] = orjson.Fragment(str(request_id))
    return payload
