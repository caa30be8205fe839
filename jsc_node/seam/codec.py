"""The one place where seam messages (jsc_node/seam/messages.py) become frames and back.

A frame is a 4-byte big-endian length and a JSON object (orjson):
- request ``{"id": n, "method": m, "params": {field: value}}``
- answer  ``{"id": n, "result": {field: value}}`` or ``{"id": n, "error": {"type", "message"}}``
- event   ``{"event": name, "params": {field: value}}``

Values follow the dataclass field types: ``int`` and ``bool`` as JSON numbers and booleans (an int
outside orjson's 64-bit range is refused), ``bytes`` as 0x-hex strings, ``tuple[X, ...]`` as
arrays, ``X | None`` as X or null, a nested dataclass as an object. Decoding is strict: a missing,
unknown or mistyped field, an unknown method or event, or a frame that is not such an object
raises SeamError naming what is wrong.
"""

from __future__ import annotations

import dataclasses
import struct
import types
import typing
from dataclasses import dataclass
from typing import Any, TypeVar

import orjson

from jsc_node.errors import InvalidBlock, JscError, SeamError
from jsc_node.seam.messages import EVENTS, REQUESTS, Event, Request, Response

MAX_FRAME_BYTES = 64 * 1024 * 1024
LENGTH = struct.Struct(">I")
# orjson writes integers from -2**63 to 2**64 - 1.
_INT_MIN = -(2**63)
_INT_MAX = 2**64 - 1

# Errors that cross the seam by name, so the consensus side can tell a bad block from a fault.
_ERRORS: dict[str, type[JscError]] = {"InvalidBlock": InvalidBlock}

T = TypeVar("T")


@dataclass(frozen=True)
class Answer:
    """An answer frame before its result is decoded: only the request knows the result's type."""

    id: int
    result: Any
    """The JSON value of ``result`` (decode it with ``decode_result``); None with an error."""
    error: JscError | None


# -- values ---------------------------------------------------------------------------------------


_FIELDS: dict[type, tuple[tuple[str, Any], ...]] = {}


def _fields(cls: type) -> tuple[tuple[str, Any], ...]:
    """(name, type) of each field of a message dataclass, resolved once per class."""
    fields = _FIELDS.get(cls)
    if fields is None:
        hints = typing.get_type_hints(cls)
        fields = _FIELDS[cls] = tuple((f.name, hints[f.name]) for f in dataclasses.fields(cls))
    return fields


def _to_wire(value: Any, tp: Any, where: str) -> Any:
    if tp is bytes:
        if not isinstance(value, bytes):
            raise SeamError(f"{where}: expected bytes, got {type(value).__name__}")
        return "0x" + value.hex()
    if tp is int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise SeamError(f"{where}: expected int, got {type(value).__name__}")
        if not _INT_MIN <= value <= _INT_MAX:
            raise SeamError(f"{where}: {value} does not fit in 64 bits")
        return value
    if tp is bool or tp is str:
        if not isinstance(value, tp):
            raise SeamError(f"{where}: expected {tp.__name__}, got {type(value).__name__}")
        return value
    origin = typing.get_origin(tp)
    if origin is types.UnionType or origin is typing.Union:
        if value is None:
            return None
        (inner,) = (a for a in typing.get_args(tp) if a is not type(None))
        return _to_wire(value, inner, where)
    if origin is tuple:
        if not isinstance(value, tuple):
            raise SeamError(f"{where}: expected a tuple, got {type(value).__name__}")
        item = typing.get_args(tp)[0]
        return [_to_wire(v, item, f"{where}[{i}]") for i, v in enumerate(value)]
    if dataclasses.is_dataclass(tp):
        if type(value) is not tp:
            raise SeamError(f"{where}: expected {getattr(tp, '__name__', tp)}, got {type(value).__name__}")
        return _object_to_wire(value, where)
    raise SeamError(f"{where}: no wire form for {tp!r}")


def _object_to_wire(value: Any, where: str) -> dict[str, Any]:
    return {name: _to_wire(getattr(value, name), tp, f"{where}.{name}") for name, tp in _fields(type(value))}


def _from_wire(value: Any, tp: Any, where: str) -> Any:
    if tp is bytes:
        if not isinstance(value, str) or not value.startswith("0x"):
            raise SeamError(f"{where}: expected 0x-hex, got {_short(value)}")
        try:
            return bytes.fromhex(value[2:])
        except ValueError as exc:
            raise SeamError(f"{where}: bad hex {_short(value)}") from exc
    if tp is int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise SeamError(f"{where}: expected an integer, got {_short(value)}")
        return value
    if tp is bool or tp is str:
        if not isinstance(value, tp):
            raise SeamError(f"{where}: expected {tp.__name__}, got {_short(value)}")
        return value
    origin = typing.get_origin(tp)
    if origin is types.UnionType or origin is typing.Union:
        if value is None:
            return None
        (inner,) = (a for a in typing.get_args(tp) if a is not type(None))
        return _from_wire(value, inner, where)
    if origin is tuple:
        if not isinstance(value, list):
            raise SeamError(f"{where}: expected an array, got {_short(value)}")
        item = typing.get_args(tp)[0]
        return tuple(_from_wire(v, item, f"{where}[{i}]") for i, v in enumerate(value))
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        return _object_from_wire(value, tp, where)
    raise SeamError(f"{where}: no wire form for {tp!r}")


def _object_from_wire(value: Any, cls: type[T], where: str) -> T:
    if not isinstance(value, dict):
        raise SeamError(f"{where}: expected an object, got {_short(value)}")
    fields = _fields(cls)
    unknown = value.keys() - {name for name, _ in fields}
    if unknown:
        raise SeamError(f"{where}: unknown field {sorted(unknown)[0]!r}")
    args = {}
    for name, tp in fields:
        if name not in value:
            raise SeamError(f"{where}: missing field {name!r}")
        args[name] = _from_wire(value[name], tp, f"{where}.{name}")
    return cls(**args)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


# -- frames ---------------------------------------------------------------------------------------


def _frame(message: dict[str, Any]) -> bytes:
    body = orjson.dumps(message)
    if len(body) > MAX_FRAME_BYTES:
        raise SeamError(f"seam frame of {len(body)} bytes exceeds {MAX_FRAME_BYTES}")
    return LENGTH.pack(len(body)) + body


def frame_length(header: bytes) -> int:
    """The body length a frame's 4-byte header announces; SeamError above MAX_FRAME_BYTES."""
    (length,) = LENGTH.unpack(header)
    if length > MAX_FRAME_BYTES:
        raise SeamError(f"seam frame of {length} bytes exceeds {MAX_FRAME_BYTES}")
    return int(length)


def _body(body: bytes) -> dict[str, Any]:
    try:
        message = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise SeamError(f"bad seam frame: {exc}") from exc
    if not isinstance(message, dict):
        raise SeamError(f"bad seam frame: not an object but {type(message).__name__}")
    return message


def _id(message: dict[str, Any]) -> int:
    request_id = message.get("id")
    if not isinstance(request_id, int) or isinstance(request_id, bool):
        raise SeamError(f"bad seam frame: id {_short(request_id)} is not an integer")
    return request_id


def encode_request(request_id: int, request: Request[Response]) -> bytes:
    where = request.method
    return _frame({"id": request_id, "method": where, "params": _object_to_wire(request, where)})


def decode_request(body: bytes) -> tuple[int, Request[Response]]:
    message = _body(body)
    request_id = _id(message)
    method = message.get("method")
    cls = REQUESTS.get(method) if isinstance(method, str) else None
    if cls is None:
        raise SeamError(f"bad seam frame: unknown method {_short(method)}")
    return request_id, _object_from_wire(message.get("params"), cls, str(method))


def encode_result(request_id: int, response: Response) -> bytes:
    return _frame({"id": request_id, "result": _object_to_wire(response, type(response).__name__)})


def encode_error(request_id: int, error: JscError) -> bytes:
    return _frame({"id": request_id, "error": {"type": type(error).__name__, "message": str(error)}})


def encode_event(event: Event) -> bytes:
    return _frame({"event": event.name, "params": _object_to_wire(event, event.name)})


def decode_server_frame(body: bytes) -> Answer | Event:
    """What the consensus side reads: an answer to one of its requests, or an event."""
    message = _body(body)
    if "event" in message:
        name = message["event"]
        cls = EVENTS.get(name) if isinstance(name, str) else None
        if cls is None:
            raise SeamError(f"bad seam frame: unknown event {_short(name)}")
        return _object_from_wire(message.get("params"), cls, str(name))
    request_id = _id(message)
    if "error" in message:
        error = message["error"]
        if not isinstance(error, dict):
            raise SeamError(f"bad seam frame: error {_short(error)} is not an object")
        kind = _ERRORS.get(str(error.get("type")), SeamError)
        return Answer(request_id, None, kind(str(error.get("message", ""))))
    if "result" not in message:
        raise SeamError(f"bad seam frame: answer {request_id} has neither result nor error")
    return Answer(request_id, message["result"], None)


def decode_result(cls: type[T], result: Any) -> T:
    return _object_from_wire(result, cls, cls.__name__)
