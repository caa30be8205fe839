"""The JSON-RPC server: one FastAPI app, HTTP POST and WebSocket at ``/``.

HTTP (geth's rules): POST only; a single request or a batch; bodies over
``rpc_max_request_bytes`` (geth: 5 MiB) get HTTP 413 with a JSON-RPC error body; a batch of only
notifications gets an empty 200. GET answers 405 with a hint (health checks should POST
``eth_blockNumber`` or ``eth_syncing``). CORS is off unless ``rpc_http_cors_origins`` lists origins
(``["*"]`` for any).

WebSocket: the same methods, one JSON text (or binary) frame per request or batch, answered as
each finishes (up to WS_MAX_IN_FLIGHT at once per connection), plus ``eth_subscribe`` /
``eth_unsubscribe`` (``rpc/subscriptions.py``). Every frame to the client goes through one bounded
outbound queue per connection: answers wait for room, a notification that finds it full drops the
client (close 1008). At most ``rpc_ws_max_active_connections`` connections at once; more are closed
with 1013.
HTTP filters (``eth_newFilter`` ...) are served on both transports (``rpc/filters.py``).

Namespaces (Besu's ``--rpc-http-api`` / ``--rpc-ws-api``): a POST is answered with
``rpc_http_api``'s namespaces, a WebSocket connection with ``rpc_ws_api``'s, whichever port it came
in on (one app serves both listeners, or one port when they share it). The two dispatchers share
one filter manager, as geth's transports share its filter API.

JSON goes through orjson both ways; no pydantic models sit on the hot path.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from typing import Any, Protocol

from fastapi import FastAPI, WebSocket
from fastapi.responses import Response
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from jsc_node.metrics.registry import WS_CONNECTIONS
from jsc_node.rpc import health
from jsc_node.rpc.auth import (
    ACCESS_SCOPE_KEY,
    Access,
    HttpAuthentication,
    RpcAuthentication,
    admit_websocket,
)
from jsc_node.rpc.codes import too_large_response
from jsc_node.rpc.dispatch import Dispatcher
from jsc_node.rpc.filters import FilterManager
from jsc_node.rpc.guards import BrowserGuards, GuardSettings
from jsc_node.rpc.health import HealthSettings
from jsc_node.rpc.limits import LimitSettings, RpcLimits
from jsc_node.rpc.ports import RpcBackend
from jsc_node.rpc.subscriptions import (
    SLOW_CONSUMER_CLOSE_CODE,
    ConnectionSubscriptions,
    EventHub,
    Outbox,
    Subscription,
)

log = logging.getLogger(__name__)

JSON_MEDIA_TYPE = "application/json"


class RpcSettings(GuardSettings, LimitSettings, HealthSettings, Protocol):
    """The knobs the RPC server reads; ``jsc_node.config.NodeConfig`` satisfies it."""

    @property
    def rpc_http_cors_origins(self) -> Sequence[str]: ...

    @property
    def rpc_max_request_bytes(self) -> int: ...

    @property
    def rpc_http_max_batch_size(self) -> int: ...

    @property
    def rpc_batch_response_max_size(self) -> int: ...

    @property
    def rpc_http_api(self) -> Sequence[str]: ...

    @property
    def rpc_ws_api(self) -> Sequence[str]: ...


def create_app(
    backend: RpcBackend,
    config: RpcSettings,
    hub: EventHub | None = None,
    auth: RpcAuthentication | None = None,
) -> FastAPI:
    """Build the ASGI app serving JSON-RPC over HTTP and WebSocket at ``/``.

    ``hub`` carries the execution side's chain events to subscriptions and filters; without one
    the app makes its own (``app.state.events``), on which nothing is published unless the caller does.
    ``auth`` (``rpc/auth.py``'s ``load_authentication``) makes POSTs and WebSocket handshakes need a JWT.
    """
    events = hub if hub is not None else EventHub()
    filters = FilterManager(events)
    dispatcher = Dispatcher(
        backend,
        max_batch_size=config.rpc_http_max_batch_size,
        max_batch_response_bytes=config.rpc_batch_response_max_size,
        filters=filters,
        apis=config.rpc_http_api,
    )
    ws_dispatcher = Dispatcher(
        backend,
        max_batch_size=config.rpc_http_max_batch_size,
        max_batch_response_bytes=config.rpc_batch_response_max_size,
        filters=filters,
        apis=config.rpc_ws_api,
    )
    limit = config.rpc_max_request_bytes
    app = FastAPI(
        title="jsc-node JSON-RPC",
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
        # FastAPI's OpenTelemetry hooks read os.environ on every request (~25 us); off until the node
        # exports metrics on purpose.
        telemetry={"tracing": False, "metrics": False, "logs": False, "operation_spans": False},
    )
    app.state.dispatcher = dispatcher
    app.state.ws_dispatcher = ws_dispatcher
    app.state.events = events
    gate = ConnectionGate(config.rpc_ws_max_active_connections)

    # JSON-RPC POSTs bypass FastAPI's routing and request objects: that path costs ~10x the dispatch
    # itself (measured: ~110 us vs ~11 us for eth_getBalance). GET, OPTIONS and WebSocket go through
    # FastAPI as usual; CORS (added after, so outside) still wraps these answers.
    app.add_middleware(_JsonRpcPost, dispatcher=dispatcher, limit=limit)
    if auth is not None and auth.guards_posts:
        # Inside CORS (added below, so outside it): a browser can read the 401. It answers /login.
        app.add_middleware(HttpAuthentication, auth=auth)

    # Besu's health endpoints (rpc/health.py): no JWT needed, as Besu's.
    app.add_api_route("/liveness", health.liveness, methods=["GET"])
    app.add_api_route("/readiness", health.readiness_endpoint(backend, config), methods=["GET"])

    @app.get("/")
    async def http_get() -> Response:
        hint = (
            b'{"error":"this is a JSON-RPC 2.0 endpoint: send POST with Content-Type: application/json, '
            b'e.g. {\\"jsonrpc\\":\\"2.0\\",\\"id\\":1,\\"method\\":\\"eth_blockNumber\\",\\"params\\":[]}"}'
        )
        return _json(hint, status_code=405, headers={"Allow": "POST"})

    origins = list(config.rpc_http_cors_origins)
    if origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_methods=["POST", "OPTIONS"],
            allow_headers=["*"],
            max_age=600,
        )

    @app.websocket("/")
    async def ws_rpc(websocket: WebSocket) -> None:
        access = None
        if auth is not None and auth.ws is not None:
            access = await admit_websocket(websocket, auth.ws)
            if access is None:
                return
        await serve_websocket(websocket, ws_dispatcher, events, limit, gate, access)

    # Host, media type and WebSocket Origin are checked before any method runs.
    app.add_middleware(BrowserGuards, settings=config)
    # Outside the guards: every request counts against the limits, refused ones too.
    app.add_middleware(RpcLimits, settings=config)
    return app


WS_MAX_IN_FLIGHT = 16
"""Requests answered at once per WebSocket connection; reading pauses beyond this (back-pressure).
Answers go out as they finish, so a slow ``eth_call`` does not hold up ``eth_blockNumber`` (as geth)."""


WS_TOO_MANY_CONNECTIONS_CLOSE_CODE = 1013
"""Close code (try again later) for a connection over ``rpc_ws_max_active_connections`` (Besu's
``--rpc-ws-max-active-connections``, 80); each holds at most WS_MAX_QUEUED_BYTES of outbound frames
(``rpc/subscriptions.py``), so slow clients hold at most that many times 4 MiB together."""
WS_CLOSE_TIMEOUT_S = 1.0
"""How long a close frame to a dropped client may wait for its socket to drain."""
WS_SHUTDOWN_GRACE_S = 5
"""Seconds uvicorn waits for open connections when the node stops."""


def _retrieve(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.debug("websocket task failed", exc_info=task.exception())


class ConnectionGate:
    """Open WebSocket connections of one listener against its limit (the JSON-RPC port's and the
    chain page's each have one)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.open = 0


async def serve_websocket(
    websocket: WebSocket,
    dispatcher: Dispatcher,
    hub: EventHub,
    limit: int,
    gate: ConnectionGate,
    access: Access | None = None,
) -> None:
    """One WebSocket connection of JSON-RPC: calls, batches and subscriptions through ``dispatcher``
    (also the chain page's, rpc/ui.py, with its read-only dispatcher)."""
    await websocket.accept()
    if gate.open >= gate.limit:
        await websocket.close(WS_TOO_MANY_CONNECTIONS_CLOSE_CODE, f"too many connections (max {gate.limit})")
        return
    gate.open += 1
    WS_CONNECTIONS.inc()
    outbox = Outbox()
    subscriptions = ConnectionSubscriptions(hub, outbox)
    slots = asyncio.Semaphore(WS_MAX_IN_FLIGHT)
    in_flight: set[asyncio.Task[None]] = set()

    async def answer(raw: bytes | str) -> None:
        created: list[Subscription] = []
        try:
            response = await dispatcher.handle_body(raw, subscriptions.methods(created), access)
            if response is not None:
                await outbox.put(response)
            # Only now may notifications flow: the client has (in its queue) the id they carry.
            ConnectionSubscriptions.activate(created)
        except Exception:  # the client went away mid-answer: nothing left to tell it
            log.debug("websocket answer dropped", exc_info=True)
        finally:
            slots.release()

    async def read() -> None:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            text: str | None = message.get("text")
            raw: bytes | str | None = text if text is not None else message.get("bytes")
            if raw is None:
                continue
            if len(raw) > limit:
                await outbox.put(too_large_response(len(raw), limit))
                continue
            await slots.acquire()
            task = asyncio.create_task(answer(raw))
            in_flight.add(task)
            task.add_done_callback(in_flight.discard)

    async def write() -> None:
        while True:
            frame = await outbox.get()
            await websocket.send_text(frame.decode())

    reader = asyncio.create_task(read())
    writer = asyncio.create_task(write())
    overflow = asyncio.create_task(outbox.overflowed.wait())
    try:
        await asyncio.wait((reader, writer, overflow), return_when=asyncio.FIRST_COMPLETED)
    finally:
        subscriptions.close()
        outbox.close()
        gate.open -= 1
        WS_CONNECTIONS.dec()
        tasks = (reader, writer, overflow, *in_flight)
        for task in tasks:
            task.cancel()
            task.add_done_callback(_retrieve)
        # wait, not gather: if this task is cancelled meanwhile, its own CancelledError must surface
        # (a child's, re-raised by gather, is not recognised by the server's cancel scope).
        await asyncio.wait(tasks)
    if outbox.overflowed.is_set():
        log.info(
            "dropped a slow websocket client: over %d queued frames or %d bytes",
            outbox.max_messages,
            outbox.max_bytes,
        )
        # The socket may be full: the close frame gets a moment, then the transport is closed anyway.
        with contextlib.suppress(Exception):
            await asyncio.wait_for(
                websocket.close(SLOW_CONSUMER_CLOSE_CODE, "slow consumer: outbound queue full"),
                WS_CLOSE_TIMEOUT_S,
            )


def server_options(config: RpcSettings) -> dict[str, Any]:
    """``uvicorn.Config`` keyword arguments suited to this app (host/port are the caller's).

    uvloop + httptools are the fast pair measured in FIELD-NOTES; the WebSocket frame cap follows
    the HTTP body cap; per-request access logs would cost more than most answers.
    """
    return {
        "loop": "uvloop",
        "http": "httptools",
        "ws": "websockets-sansio",
        "ws_max_size": config.rpc_max_request_bytes,
        "lifespan": "off",
        "access_log": False,
        "timeout_keep_alive": 30,
        # A dropped WebSocket client that never reads keeps its socket flushing; do not let it hold
        # up the node's shutdown.
        "timeout_graceful_shutdown": WS_SHUTDOWN_GRACE_S,
    }


class _JsonRpcPost:
    """ASGI middleware answering ``POST /`` with the dispatcher; everything else passes through."""

    def __init__(self, app: ASGIApp, dispatcher: Dispatcher, limit: int) -> None:
        self._app = app
        self._dispatcher = dispatcher
        self._limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != "/":
            await self._app(scope, receive, send)
            return
        limit = self._limit
        for name, value in scope["headers"]:
            if name == b"content-length" and value.isdigit() and int(value) > limit:
                await _send(send, 413, too_large_response(int(value), limit))
                return
        body = b""
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > limit:
                await _send(send, 413, too_large_response(None, limit))
                return
        access: Access | None = scope.get(ACCESS_SCOPE_KEY)  # set by rpc/auth.py's HttpAuthentication
        answer = await self._dispatcher.handle_body(body, None, access)
        await _send(send, 200 if access is None else access.http_status(body), answer)


async def _send(send: Send, status: int, body: bytes | None) -> None:
    headers = [(b"content-length", str(len(body or b"")).encode())]
    if body is not None:
        headers.append((b"content-type", JSON_MEDIA_TYPE.encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body or b""})


def _json(content: bytes, status_code: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(content=content, status_code=status_code, media_type=JSON_MEDIA_TYPE, headers=headers)
