"""A minimal keep-alive HTTP/1.1 JSON-RPC client on asyncio streams (127.0.0.1 only).

Lighter than httpx or aiohttp per request, so on this 2-core machine more of the CPU goes to the
node under test rather than to the load generator. One ``Conn`` is one TCP connection, one
request in flight at a time; concurrency is several connections.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import Callable
from typing import Any

import orjson

_ids = itertools.count(1)


class RpcError(Exception):
    pass


class Conn:
    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self._head = (
            f"POST / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n".encode()
        )

    async def open(self) -> Conn:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port, limit=2**24)
        return self

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(OSError):
                await self.writer.wait_closed()
            self.writer = None

    async def post(self, body: bytes) -> bytes:
        try:
            return await self._post(body)
        except (asyncio.IncompleteReadError, ConnectionResetError, BrokenPipeError) as exc:
            # uvicorn closes a keep-alive connection idle for 5 s: reconnect once and resend
            # (what any HTTP client does; a resent eth_sendRawTransaction answers "already known").
            if isinstance(exc, asyncio.IncompleteReadError) and exc.partial:
                raise
            await self.close()
            await self.open()
            return await self._post(body)

    async def _post(self, body: bytes) -> bytes:
        if self.writer is None or self.reader is None:
            await self.open()
        assert self.writer is not None
        assert self.reader is not None
        self.writer.write(self._head + b"Content-Length: %d\r\n\r\n" % len(body) + body)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = head[9:12]
        length = None
        chunked = False
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            lname = name.strip().lower()
            if lname == b"content-length":
                length = int(value.strip())
            elif lname == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
        if chunked:
            data = bytearray()
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).strip(), 16)
                if size == 0:
                    await self.reader.readuntil(b"\r\n")
                    break
                data += await self.reader.readexactly(size + 2)
                del data[-2:]
            payload = bytes(data)
        else:
            payload = await self.reader.readexactly(length or 0)
        if status != b"200":
            raise RpcError(f"HTTP {status.decode()}: {payload[:200]!r}")
        return payload

    async def call(self, method: str, *params: Any) -> Any:
        answer = orjson.loads(await self.post(request(method, *params)))
        if "error" in answer:
            raise RpcError(f"{method}: {answer['error']}")
        return answer["result"]

    async def batch(self, calls: list[tuple[str, tuple[Any, ...]]]) -> list[dict[str, Any]]:
        body = b"[" + b",".join(request(m, *p) for m, p in calls) + b"]"
        answers = orjson.loads(await self.post(body))
        if isinstance(answers, dict):  # a batch-level error
            raise RpcError(f"batch refused: {answers}")
        answers.sort(key=lambda a: a.get("id") or 0)
        return answers


def request(method: str, *params: Any) -> bytes:
    return orjson.dumps({"jsonrpc": "2.0", "id": next(_ids), "method": method, "params": list(params)})


def hx(b: bytes) -> str:
    return "0x" + b.hex()


async def rate(
    port: int, clients: int, make_body: Callable[[int], bytes], seconds: float, max_requests: int
) -> tuple[float, int, int]:
    """Requests/s for ``clients`` connections, each sending one request at a time, until
    ``seconds`` pass or ``max_requests`` are answered. Returns (req/s, answered, errors)."""
    conns = [await Conn(port).open() for _ in range(clients)]
    counter = itertools.count()
    done = 0
    errors = 0
    deadline = time.perf_counter() + seconds

    async def worker(conn: Conn) -> None:
        nonlocal done, errors
        while time.perf_counter() < deadline:
            n = next(counter)
            if n >= max_requests:
                return
            answer = await conn.post(make_body(n))
            if b'"error"' in answer:
                errors += 1
            done += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker(c) for c in conns))
    elapsed = time.perf_counter() - started
    for c in conns:
        await c.close()
    return done / elapsed, done, errors
