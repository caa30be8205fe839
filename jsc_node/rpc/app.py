"""The JSON-RPC server: one FastAPI app, HTTP POST and WebSocket at ``/``.

HTTP (geth's rules): POST only; a single request or a batch; bodies over
``rpc_max_request_bytes`` (geth: 5 MiB) get HTTP 413 with a JSON-RPC error body; a batch of only
notifications gets an empty 200. GET answers 405 with a hint (health checks should POST
``eth_blockNumber`` or ``eth_syncing``). CORS is off unless ``rpc_http_cors_origins`` lists origins
(``["*"]`` for any).

WebSocket: the same methods, one JSON text (or binary) frame per request or batch. Subscriptions
(``eth_subscribe``) are not served yet and answer -32601.

JSON goes through orjson both ways; no pydantic models sit on the hot path.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from fastapi import FastAPI, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import Response
from starlette.middleware.cors import CORSMiddleware

from jsc_node.rpc.dispatch import Dispatcher, too_large_response
from jsc_node.views import RpcBackend

JSON_MEDIA_TYPE = "application/json"


class RpcSettings(Protocol):
    """The knobs the RPC server reads; ``jsc_node.config.NodeConfig`` satisfies it."""

    @property
    def rpc_http_cors_origins(self) -> Sequence[str]: ...

    @property
    def rpc_max_request_bytes(self) -> int: ...

    @property
    def rpc_max_batch_size(self) -> int: ...


def create_app(backend: RpcBackend, config: RpcSettings) -> FastAPI:
    """Build the ASGI app serving JSON-RPC over HTTP and WebSocket at ``/``."""
    dispatcher = Dispatcher(backend, max_batch_size=config.rpc_max_batch_size)
    limit = config.rpc_max_request_bytes
    app = FastAPI(title="jsc-node JSON-RPC", openapi_url=None, docs_url=None, redoc_url=None)
    app.state.dispatcher = dispatcher
    origins = list(config.rpc_http_cors_origins)
    if origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_methods=["POST", "OPTIONS"],
            allow_headers=["*"],
            max_age=600,
        )

    @app.post("/")
    async def http_rpc(request: Request) -> Response:
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            return _json(too_large_response(int(declared), limit), status_code=413)
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > limit:
                return _json(too_large_response(None, limit), status_code=413)
        answer = await dispatcher.handle_body(bytes(body))
        if answer is None:
            return Response(status_code=200)
        return _json(answer)

    @app.get("/")
    async def http_get() -> Response:
        hint = (
            b'{"error":"this is a JSON-RPC 2.0 endpoint: send POST with Content-Type: application/json, '
            b'e.g. {\\"jsonrpc\\":\\"2.0\\",\\"id\\":1,\\"method\\":\\"eth_blockNumber\\",\\"params\\":[]}"}'
        )
        return _json(hint, status_code=405, headers={"Allow": "POST"})

    @app.websocket("/")
    async def ws_rpc(websocket: WebSocket) -> None:
        await websocket.accept()
        try:
            while True:
                message = await websocket.receive()
                if message["type"] == "websocket.disconnect":
                    return
                text: str | None = message.get("text")
                raw: bytes | str | None = text if text is not None else message.get("bytes")
                if raw is None:
                    continue
                if len(raw) > limit:
                    await websocket.send_text(too_large_response(len(raw), limit).decode())
                    continue
                answer = await dispatcher.handle_body(raw)
                if answer is not None:
                    await websocket.send_text(answer.decode())
        except WebSocketDisconnect:
            return

    return app


def _json(content: bytes, status_code: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(content=content, status_code=status_code, media_type=JSON_MEDIA_TYPE, headers=headers)
