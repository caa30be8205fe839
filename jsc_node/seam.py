"""The execution seam: request/response between the consensus and execution processes.

Modelled on Ethereum's Engine API: the consensus side asks, the execution side answers.
Transport: a Unix stream socket; each frame is a 4-byte big-endian length and a JSON object
(orjson). Requests ``{"id", "method", "params"}``; answers ``{"id", "result"}`` or
``{"id", "error": {"type", "message"}}``. Bytes travel as 0x-hex strings.

Methods (all params and results are objects):
- ``head``                         -> header summary of the canonical head
- ``header``  {number}             -> header summary, or null beyond head
- ``headers`` {start, count}       -> [header RLP], canonical, from ``start`` up to head
- ``status``                       -> {"pending": txs ready for a block, "head": number,
                                       "votes": {address: add} (qbft_proposeValidatorVote)}
- ``build_block`` {parent, timestamp, coinbase, extra_data} -> {"block", "hash", "number", "tx_count"}
- ``validate_block`` {block}       -> {"hash", "number"} or error InvalidBlock
- ``commit_block``   {block}       -> {"hash", "number"} (atomic; the block becomes head)
- ``remote_txs``     {txs: [raw]}  -> {"accepted": n} (transactions gossiped by peers)
- ``take_txs``       {max}         -> [raw]: transactions accepted over RPC since the last call,
                                     for the consensus process to gossip
- ``set_peers``      {count, listening, node, peers} -> {} (net_peerCount, net_listening,
                                     admin_nodeInfo, admin_peers)
- ``blocks``  {start, count, max_bytes} -> [block RLP]: canonical blocks with their seals, for
                                     block sync's server (at most 128, cut at max_bytes)
- ``set_sync`` {starting, current, highest} or {} -> {} (eth_syncing while catching up)

A header summary is ``{"number", "hash", "parent_hash", "timestamp", "coinbase", "extra_data",
"gas_limit"}``.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from jsc_node.errors import InvalidBlock, JscError, SeamError

MAX_FRAME_BYTES = 64 * 1024 * 1024
_LENGTH = struct.Struct(">I")

Handler = Callable[[dict[str, Any]], Awaitable[Any]]


def encode_frame(message: dict[str, Any]) -> bytes:
    body = orjson.dumps(message)
    if len(body) > MAX_FRAME_BYTES:
        raise SeamError(f"seam frame of {len(body)} bytes exceeds {MAX_FRAME_BYTES}")
    return _LENGTH.pack(len(body)) + body


def decode_body(body: bytes) -> dict[str, Any]:
    try:
        message = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise SeamError(f"bad seam frame: {exc}") from exc
    if not isinstance(message, dict):
        raise SeamError("bad seam frame: not an object")
    return message


def hexb(value: bytes) -> str:
    return "0x" + value.hex()


def unhex(value: str) -> bytes:
    if not isinstance(value, str) or not value.startswith("0x"):
        raise SeamError(f"expected 0x-hex, got {value!r}")
    return bytes.fromhex(value[2:])


# Errors that cross the seam by name, so the consensus side can tell a bad block from a fault.
_ERRORS: dict[str, type[JscError]] = {"InvalidBlock": InvalidBlock}


def error_from_wire(error: dict[str, Any]) -> JscError:
    kind = _ERRORS.get(str(error.get("type")), SeamError)
    return kind(str(error.get("message", "")))


# -- execution side (asyncio) ----------------------------------------------------------------


class SeamServer:
    """Serves seam requests on a Unix socket, one request at a time per connection."""

    def __init__(self, path: str, handlers: dict[str, Handler]) -> None:
        self.path = path
        self.handlers = handlers
        self._server: asyncio.base_events.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_unix_server(self._serve, path=self.path)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    header = await reader.readexactly(_LENGTH.size)
                except asyncio.IncompleteReadError:
                    return
                (length,) = _LENGTH.unpack(header)
                if length > MAX_FRAME_BYTES:
                    return
                request = decode_body(await reader.readexactly(length))
                writer.write(encode_frame(await self._answer(request)))
                await writer.drain()
        except (ConnectionError, SeamError):
            return
        finally:
            writer.close()

    async def _answer(self, request: dict[str, Any]) -> dict[str, Any]:
        request_id = request.get("id")
        handler = self.handlers.get(str(request.get("method")))
        if handler is None:
            return {
                "id": request_id,
                "error": {"type": "SeamError", "message": f"unknown method {request.get('method')!r}"},
            }
        try:
            result = await handler(request.get("params") or {})
        except JscError as exc:
            return {"id": request_id, "error": {"type": type(exc).__name__, "message": str(exc)}}
        return {"id": request_id, "result": result}


# -- consensus side (trio) -------------------------------------------------------------------


class SeamClient:
    """The consensus process's connection to the execution process (trio). Requests are
    serialised: the execution side answers them in order on one connection."""

    def __init__(self, stream: Any) -> None:
        import trio

        self._stream = stream
        self._lock = trio.Lock()
        self._next_id = 0
        self._buffer = bytearray()

    @classmethod
    async def connect(cls, path: str, timeout_s: float = 30.0) -> SeamClient:
        import trio

        with trio.move_on_after(timeout_s):
            while True:
                try:
                    return cls(await trio.open_unix_socket(path))
                except OSError:
                    await trio.sleep(0.05)
        raise SeamError(f"execution process did not open its seam at {path} within {timeout_s:.0f} s")

    async def request(self, method: str, **params: Any) -> Any:
        async with self._lock:
            self._next_id += 1
            await self._stream.send_all(
                encode_frame({"id": self._next_id, "method": method, "params": params})
            )
            answer = decode_body(await self._read_frame())
        if "error" in answer:
            raise error_from_wire(answer["error"])
        return answer.get("result")

    async def _read_exactly(self, n: int) -> bytes:
        while len(self._buffer) < n:
            chunk = await self._stream.receive_some(max(65536, n - len(self._buffer)))
            if not chunk:
                raise SeamError("execution process closed the seam")
            self._buffer += chunk
        data = bytes(self._buffer[:n])
        del self._buffer[:n]
        return data

    async def _read_frame(self) -> bytes:
        (length,) = _LENGTH.unpack(await self._read_exactly(_LENGTH.size))
        if length > MAX_FRAME_BYTES:
            raise SeamError(f"seam frame of {length} bytes exceeds {MAX_FRAME_BYTES}")
        return await self._read_exactly(length)

    async def aclose(self) -> None:
        await self._stream.aclose()
