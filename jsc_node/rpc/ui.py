"""The live chain page (``--ui-port``): the static files of ``jsc_node/ui/`` at ``/`` and, on the
same origin, a READ-ONLY JSON-RPC for them at ``POST /rpc`` and WebSocket ``/ws``.

Why a listener of its own rather than the page calling the node's JSON-RPC port: that port serves
``ETH,NET,WEB3`` by default (the page reads ``qbft_`` and ``jsc_``), may need a JWT or listen
elsewhere, and a page from another port is another origin (CORS and ``--rpc-ws-origins`` would
have to be opened). Same-origin calls work behind any host name an operator puts in front.

What this port may do is fixed here, whatever ``--rpc-http-api`` says: the reads the page makes
(``UI_METHODS``), dispatched through the node's own dispatcher and handlers, so answers are the
same as on the RPC port. Everything else, and in particular every method that changes state
(``eth_sendRawTransaction``, votes, ``admin_``, ``perm_`` edits) or whose cost the caller chooses
(``eth_call``, ``eth_estimateGas``, ``debug_*``, ``eth_getLogs``, filters), gets -32601 naming the
port. ``eth_subscribe`` serves ``newHeads`` only, ``jsc_getGovernanceEvents`` (the registry's
events, the one log query) at most ``UI_LOG_RANGE_MAX`` blocks (-32005 beyond), and a batch at most
``UI_MAX_BATCH`` calls. The host allowlist (``rpc/guards.py``: ``--host-allowlist``, JSON-only
POSTs) and the public-RPC limits (``rpc/limits.py``) apply as on the RPC port. A WebSocket
handshake is accepted from the page's own origin (its Origin names the Host it was sent to, which
the host allowlist admitted) or from an origin ``--rpc-ws-origins`` allows.
"""

from __future__ import annotations

import importlib.resources
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final, Protocol
from urllib.parse import urlsplit

from fastapi import FastAPI, WebSocket
from starlette.requests import Request
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from jsc_node.errors import BlockNotFound, InvalidParams, LogQueryLimitExceeded, MethodNotFound
from jsc_node.rpc.app import JSON_MEDIA_TYPE, ConnectionGate, serve_websocket
from jsc_node.rpc.codes import too_large_response
from jsc_node.rpc.dispatch import METHODS, Connection, Dispatcher, Permits
from jsc_node.rpc.encoding import decode_block_id, optional
from jsc_node.rpc.guards import BrowserGuards, OriginPolicy, request_hostname
from jsc_node.rpc.limits import LimitSettings, RpcLimits
from jsc_node.rpc.ports import RpcBackend
from jsc_node.rpc.subscriptions import EventHub
from jsc_node.views import BlockId

UI_METHODS: Final = frozenset(
    {
        "web3_clientVersion",
        "net_version",
        "net_peerCount",
        "eth_chainId",
        "eth_blockNumber",
        "eth_syncing",
        "eth_getBlockByNumber",
        "eth_getBlockByHash",
        "eth_getTransactionByHash",
        "eth_getTransactionReceipt",
        "eth_getBalance",
        "eth_getTransactionCount",
        "eth_getCode",
        "qbft_getValidatorsByBlockNumber",
        "jsc_getValidators",
        "jsc_getGovernanceEvents",
        "eth_subscribe",
        "eth_unsubscribe",
    }
)
"""Every method the chain page calls; nothing else is served on the UI port. Each answers from
one block, one transaction or one account (the validator set: one storage read per validator),
but ``jsc_getGovernanceEvents``, bounded by UI_LOG_RANGE_MAX."""
UI_SUBSCRIPTIONS: Final = frozenset({"newHeads"})
UI_LOG_RANGE_MAX: Final = 5000
"""Blocks one ``jsc_getGovernanceEvents`` may scan here (Besu's ``--rpc-max-logs-range`` default,
``ApiConfiguration.getMaxLogsRange``): the scan reads every header of the range, so an unbounded
one is an unbounded cost. The page reads the registry's events through it, decoded by the node with
the contract's ABI, rather than through ``eth_getLogs``, which this port does not serve at all."""
UI_MAX_BATCH: Final = 100
"""Calls in one batch on the UI port (the page sends at most 64)."""

UI_FILES: Final = Path(str(importlib.resources.files("jsc_node") / "ui"))
"""The page: index.html, its ES modules and its stylesheet, committed as they are served."""

SECURITY_HEADERS: Final = (
    # Chain data (entity names, event strings) is written by whoever transacts: the page puts it in
    # text nodes only, and this policy forbids any script, style or connection not from this origin.
    (
        b"content-security-policy",
        b"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        b"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-cache"),
)


class UiSettings(LimitSettings, Protocol):
    """The knobs the UI port reads; ``jsc_node.config.NodeConfig`` satisfies it."""

    @property
    def host_allowlist(self) -> Sequence[str]: ...

    @property
    def rpc_ws_origins(self) -> Sequence[str]: ...

    @property
    def rpc_batch_response_max_size(self) -> int: ...


class ReadOnlyDispatcher(Dispatcher):
    """The node's dispatcher, answering only UI_METHODS (with the limits above)."""

    async def call(
        self,
        method: str,
        params: list[Any],
        connection: Connection | None = None,
        permits: Permits | None = None,
    ) -> Any:
        if method not in UI_METHODS:
            raise MethodNotFound(
                method,
                f"the method {method} is not available on the chain page's read-only port "
                "(--ui-port); use the node's JSON-RPC port",
            )
        kind = params[0] if params else None
        if method == "eth_subscribe" and not (isinstance(kind, str) and kind in UI_SUBSCRIPTIONS):
            raise MethodNotFound(
                method,
                f'the chain page\'s port (--ui-port) serves "newHeads" subscriptions only, not {kind!r}',
            )
        if method == "jsc_getGovernanceEvents":
            await self._check_range(params)
        return await super().call(method, params, connection, permits)

    async def _check_range(self, params: list[Any]) -> None:
        backend = self._backend
        head = await backend.head_number()
        ends = []
        for index in (0, 1):
            block = optional(params, index, decode_block_id, BlockId.latest())
            if block.tag == "earliest":
                ends.append(0)
            elif block.tag is not None:
                ends.append(head)
            elif block.number is not None:
                ends.append(block.number)
            else:
                number = await backend.resolve_block(block)
                if number is None:
                    raise BlockNotFound("unknown block")
                ends.append(number)
        first, last = ends
        if first > last:
            raise InvalidParams("invalid block range params")  # as the method itself (geth's words)
        if last - first + 1 > UI_LOG_RANGE_MAX:
            raise LogQueryLimitExceeded(
                f"block range too wide: {last - first + 1} blocks, at most {UI_LOG_RANGE_MAX} on the "
                "chain page's port (--ui-port)"
            )


class _GuardSettings:
    """BrowserGuards' settings for the UI port: its host allowlist; the WebSocket Origin is checked
    by ``_PageOrigin`` instead (the page's own origin, or ``--rpc-ws-origins``)."""

    def __init__(self, host_allowlist: Sequence[str]) -> None:
        self.host_allowlist = host_allowlist
        self.rpc_ws_origins: Sequence[str] = ["*"]


def same_origin(origin: str | None, host: str | None) -> bool:
    """Whether a WebSocket handshake's Origin is the page's own: an http(s) origin naming the
    host and port the handshake was sent to."""
    if origin is None or host is None:
        return False
    try:
        parts = urlsplit(origin)
        port = parts.port
    except ValueError:
        return False
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return False
    default = 443 if parts.scheme == "https" else 80
    host_name = request_hostname(host)
    _, sep, host_port = host.rpartition(":")
    sent_port = int(host_port) if sep and host_port.isdigit() and not host.endswith("]") else default
    return parts.hostname.lower() == host_name and (port or default) == sent_port


class _PageOrigin:
    """ASGI middleware: a WebSocket handshake from another origin than the page's must be one
    ``--rpc-ws-origins`` allows (its default: local pages), else 403 as on the RPC port."""

    def __init__(self, app: ASGIApp, origins: Sequence[str]) -> None:
        self._app = app
        self._policy = OriginPolicy(origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            headers = dict(scope["headers"])
            origin = headers.get(b"origin")
            host = headers.get(b"host")
            origin_text = None if origin is None else origin.decode("latin-1")
            host_text = None if host is None else host.decode("latin-1")
            if not same_origin(origin_text, host_text) and not self._policy.allows(origin_text):
                body = b'{"message":"Origin not allowed.","hint":"open the page from this port, or list the origin in --rpc-ws-origins"}'
                if "websocket.http.response" in scope.get("extensions", {}):
                    headers_out = [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode()),
                    ]
                    await send(
                        {"type": "websocket.http.response.start", "status": 403, "headers": headers_out}
                    )
                    await send({"type": "websocket.http.response.body", "body": body})
                else:
                    await send({"type": "websocket.close", "code": 1008})
                return
        await self._app(scope, receive, send)


class _SecurityHeaders:
    """ASGI middleware adding SECURITY_HEADERS to every HTTP answer."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *SECURITY_HEADERS]}
            await send(message)

        await self._app(scope, receive, with_headers)


def create_ui_app(backend: RpcBackend, config: UiSettings, hub: EventHub, files: Path = UI_FILES) -> FastAPI:
    """The ASGI app of the UI port: ``files`` at ``/``, the read-only JSON-RPC at ``POST /rpc`` and
    WebSocket ``/ws`` (``newHeads`` from ``hub``, the execution side's chain events)."""
    dispatcher = ReadOnlyDispatcher(
        backend,
        max_batch_size=UI_MAX_BATCH,
        max_batch_response_bytes=config.rpc_batch_response_max_size,
        methods={name: METHODS[name] for name in UI_METHODS if name in METHODS},
    )
    limit = config.rpc_max_request_bytes
    gate = ConnectionGate(config.rpc_ws_max_active_connections)
    app = FastAPI(
        title="jsc-node chain page",
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
        telemetry={"tracing": False, "metrics": False, "logs": False, "operation_spans": False},
    )
    app.state.dispatcher = dispatcher

    @app.post("/rpc")
    async def rpc(request: Request) -> Response:
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            return _json(too_large_response(int(declared), limit), 413)
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > limit:
                return _json(too_large_response(None, limit), 413)
        answer = await dispatcher.handle_body(body)
        return _json(answer or b"", 200)

    @app.websocket("/ws")
    async def ws(websocket: WebSocket) -> None:
        await serve_websocket(websocket, dispatcher, hub, limit, gate)

    app.mount("/", StaticFiles(directory=files, html=True), name="page")
    app.add_middleware(_SecurityHeaders)
    app.add_middleware(_PageOrigin, origins=config.rpc_ws_origins)
    # As on the RPC port (rpc/app.py): Host and media type before anything runs, limits outside.
    app.add_middleware(BrowserGuards, settings=_GuardSettings(config.host_allowlist))
    app.add_middleware(RpcLimits, settings=config)
    return app


def _json(body: bytes, status: int) -> Response:
    return Response(content=body, status_code=status, media_type=JSON_MEDIA_TYPE)
