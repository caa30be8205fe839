"""Public-RPC limits in front of the JSON-RPC app: HTTP requests at once, and a per-client call rate.

Node operators expose RPC nodes to the internet; one client must not be able to take the node from
the others. The limits here and where the others live:

- ``--rpc-http-max-active-connections`` (Besu's flag and default, 80): HTTP requests answered at
  once; one more gets HTTP 503 with a JSON-RPC -32005 body, at once, instead of queueing behind
  the others. A connection counts while a request on it is being answered (HTTP/1.1 answers one
  request per connection at a time; uvicorn closes idle keep-alive connections after 30 s).
- ``--rpc-rate-limit`` (off by default; calls per second per client address, IPv6 per /64) with
  ``--rpc-rate-limit-burst``: a token bucket per client, HTTP and WebSocket together, each call of
  a batch costing one token (counted as the ``"method"`` members of the body, without parsing it);
  a batch larger than the burst is refused whole (it could never be served). Over it: HTTP 429
  with ``Retry-After`` and a JSON-RPC -32005 body; over WebSocket, a -32005 error for each call of
  the refused message, the connection staying open. The client's address is the TCP peer's, or,
  for a peer on 127.0.0.1 or ::1 (a reverse proxy on the same machine), its ``X-Forwarded-For``
  (uvicorn's proxy headers, ``FORWARDED_ALLOW_IPS``). Off by default because an address is not a
  client (behind a NAT many users share one) and the benchmarks and tools on the node's own
  machine would be throttled; an operator exposing a node sets it (README, Security).
- Elsewhere: ``--rpc-ws-max-active-connections`` is ``rpc/app.py``'s connection gate; the body cap
  (``rpc_max_request_bytes``, geth's 5 MB, HTTP 413) is ``rpc/app.py``'s; the batch size
  (``--rpc-http-max-batch-size``) and batch response size (``--rpc-batch-response-max-size``) are
  ``rpc/dispatch.py``'s.
"""

from __future__ import annotations

import ipaddress
import math
import time
from collections.abc import Callable
from typing import Any, Final, Protocol

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from jsc_node.rpc.codes import error_response, limit_exceeded_error, limit_exceeded_response

MAX_TRACKED_CLIENTS: Final = 65_536
"""Client buckets kept at most; beyond, the full (idle) ones are dropped, then the oldest."""
METHOD_MEMBER: Final = b'"method"'


class LimitSettings(Protocol):
    """The knobs read here; ``jsc_node.config.NodeConfig`` satisfies it."""

    @property
    def rpc_http_max_active_connections(self) -> int: ...

    @property
    def rpc_ws_max_active_connections(self) -> int: ...

    @property
    def rpc_rate_limit(self) -> float: ...

    @property
    def rpc_rate_limit_burst(self) -> int: ...

    @property
    def rpc_max_request_bytes(self) -> int: ...


def client_key(scope: Scope) -> str | None:
    """Whose bucket a request draws on: its IPv4 address, or its IPv6 /64 (one subscriber's
    allocation); ``None`` for a client without an address (a Unix socket)."""
    client = scope.get("client")
    if not client:
        return None
    host = str(client[0])
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is None:
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address.ipv4_mapped or address) if isinstance(address, ipaddress.IPv6Address) else host


def call_count(body: bytes | str) -> int:
    """Calls in a request body, at least 1: its ``"method"`` members (a parameter spelling the word
    in quotes costs its sender one more token, never another client)."""
    raw = body.encode() if isinstance(body, str) else body
    return max(1, raw.count(METHOD_MEMBER))


class RateLimiter:
    """Token buckets per client: ``rate`` tokens a second up to ``burst``; a call costs one."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.burst = burst if burst > 0 else max(1, math.ceil(rate))
        self._clock = clock
        self._buckets: dict[str, list[float]] = {}  # key -> [tokens, time of last update]

    def take(self, key: str, cost: int) -> float:
        """Charge ``cost`` calls; 0.0 if allowed, else the seconds until they would be (``inf`` for
        a batch larger than the bucket: it would never be; serving it from a full bucket would let
        one request do the work of ``--rpc-http-max-batch-size`` calls)."""
        if cost > self.burst:
            return math.inf
        now = self._clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= MAX_TRACKED_CLIENTS:
                self._prune(now)
            bucket = self._buckets[key] = [float(self.burst), now]
        tokens = min(float(self.burst), bucket[0] + (now - bucket[1]) * self.rate)
        bucket[1] = now
        if tokens >= cost:
            bucket[0] = tokens - cost
            return 0.0
        bucket[0] = tokens
        return (cost - tokens) / self.rate

    def _prune(self, now: float) -> None:
        full = [
            k for k, (tokens, at) in self._buckets.items() if tokens + (now - at) * self.rate >= self.burst
        ]
        for key in full:
            del self._buckets[key]
        if len(self._buckets) >= MAX_TRACKED_CLIENTS:
            oldest = sorted(self._buckets, key=lambda k: self._buckets[k][1])
            for key in oldest[: len(oldest) // 2]:
                del self._buckets[key]


class RpcLimits:
    """ASGI middleware: HTTP requests at once, and the per-client rate (HTTP and WebSocket)."""

    def __init__(self, app: ASGIApp, settings: LimitSettings) -> None:
        self._app = app
        self._max_active = settings.rpc_http_max_active_connections
        self._active = 0
        self._body_limit = settings.rpc_max_request_bytes
        rate = settings.rpc_rate_limit
        self._limiter = RateLimiter(rate, settings.rpc_rate_limit_burst) if rate > 0 else None
        self._rate_words = f"{rate:g} calls per second per client (--rpc-rate-limit)"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "websocket":
            key = client_key(scope) if self._limiter is not None else None
            if key is not None:
                receive = self._limited_ws_receive(key, receive, send)
            await self._app(scope, receive, send)
            return
        if kind != "http":
            await self._app(scope, receive, send)
            return
        if self._active >= self._max_active:
            message = (
                f"too many active connections (max {self._max_active}, --rpc-http-max-active-connections)"
            )
            await _answer(send, 503, limit_exceeded_response(message), [(b"retry-after", b"1")])
            return
        self._active += 1
        try:
            key = client_key(scope) if self._limiter is not None else None
            if key is not None and scope["method"] == "POST":
                body, complete = await _read_body(receive, self._body_limit)
                cost = call_count(body)
                wait = self._take(key, cost)
                if wait:
                    retry = (
                        [] if math.isinf(wait) else [(b"retry-after", str(max(1, math.ceil(wait))).encode())]
                    )
                    await _answer(send, 429, limit_exceeded_response(self._rate_exceeded(cost)), retry)
                    return
                receive = _replay(body, complete, receive)
            await self._app(scope, receive, send)
        finally:
            self._active -= 1

    def _take(self, key: str, cost: int) -> float:
        assert self._limiter is not None
        return self._limiter.take(key, cost)

    def _rate_exceeded(self, cost: int) -> str:
        assert self._limiter is not None
        if cost > self._limiter.burst:
            return (
                f"rate limit exceeded: a batch of {cost} calls is more than the {self._limiter.burst} "
                "a client may make at once (--rpc-rate-limit-burst)"
            )
        return f"rate limit exceeded: {self._rate_words}"

    def _limited_ws_receive(self, key: str, receive: Receive, send: Send) -> Receive:
        async def limited() -> Message:
            while True:
                message = await receive()
                if message["type"] != "websocket.receive":
                    return message
                raw: bytes | str | None = message.get("text")
                if raw is None:
                    raw = message.get("bytes")
                cost = 1 if raw is None else call_count(raw)
                if raw is None or not self._take(key, cost):
                    return message
                # Refused: each call is answered with the error, and the socket reads on.
                answer = _refusal(raw, limit_exceeded_error(self._rate_exceeded(cost)))
                if answer is not None:
                    await send({"type": "websocket.send", "text": answer.decode()})

        return limited


def _refusal(raw: bytes | str, error: dict[str, Any]) -> bytes | None:
    """The answer to a refused WebSocket message: the error for each of its calls, by id (one with
    a null id if it is not JSON); ``None`` if it holds only notifications (nothing is owed)."""
    try:
        payload = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return orjson.dumps(error_response(None, error))
    if isinstance(payload, list):
        answers = [error_response(m["id"], error) for m in payload if isinstance(m, dict) and "id" in m]
        return orjson.dumps(answers) if answers else None
    if isinstance(payload, dict) and "id" not in payload:
        return None
    request_id = payload.get("id") if isinstance(payload, dict) else None
    return orjson.dumps(error_response(request_id, error))


async def _read_body(receive: Receive, limit: int) -> tuple[bytes, bool]:
    """The request body, up to a little over ``limit`` bytes (the app answers an oversized one with
    its 413); ``complete`` is False if the client went away or the body is longer."""
    body = b""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return body, False
        body += message.get("body", b"")
        if not message.get("more_body", False):
            return body, True
        if len(body) > limit:
            return body, False


def _replay(body: bytes, complete: bool, receive: Receive) -> Receive:
    """A ``receive`` that gives the app the body read so far, then the rest from the client."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": not complete}
        return await receive()

    return replay


async def _answer(send: Send, status: int, body: bytes, extra: list[tuple[bytes, bytes]]) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), *extra]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
