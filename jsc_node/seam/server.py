"""The execution side of the seam (asyncio): one dispatch table from request type to handler,
requests answered as they finish rather than in turn, and events pushed to the connections that
subscribed to them.

Every request runs in its own task, so a short one (status, transaction relay, sync serving) is
answered while a block is validated; the handlers see to it that block work stays one at a time
(jsc_node/execution_process.py). A handler's JscError goes back as the answer's error; any other
exception is a fault: it is logged and the connection closed, which stops the consensus process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from jsc_node.errors import JscError, SeamError
from jsc_node.seam.codec import (
    LENGTH,
    decode_request,
    encode_error,
    encode_event,
    encode_result,
    frame_length,
)
from jsc_node.seam.messages import EVENTS, REQUESTS, Ack, Event, Request, Response, SubscribeRequest

log = logging.getLogger("jsc_node.seam")

Handler = Callable[[Any], Awaitable[Response]]
"""Takes the request of the type it is registered for, returns that request's ``reply``."""


@dataclass(eq=False)
class _Connection:
    writer: asyncio.StreamWriter
    events: frozenset[str] = field(default_factory=frozenset)
    """Names of the events this connection subscribed to."""


class SeamServer:
    """Serves the seam on a Unix socket. ``snapshot`` gives the events that describe the present,
    sent to a connection when it subscribes (before any later event)."""

    def __init__(
        self,
        path: str,
        handlers: Mapping[type[Request[Response]], Handler],
        snapshot: Callable[[], Iterable[Event]] = tuple,
    ) -> None:
        missing = set(REQUESTS.values()) - set(handlers) - {SubscribeRequest}
        if missing:
            raise SeamError(f"seam server has no handler for {sorted(cls.method for cls in missing)}")
        self.path = path
        self._handlers = dict(handlers)
        self._snapshot = snapshot
        self._server: asyncio.base_events.Server | None = None
        self._connections: set[_Connection] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_unix_server(self._serve, path=self.path)

    async def close(self) -> None:
        """Stop accepting; let requests in flight finish (a commit must reach the pool), then
        close every connection."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        for connection in list(self._connections):
            connection.writer.close()

    # -- events --------------------------------------------------------------------------------

    def wants(self, kind: type[Event]) -> bool:
        return any(kind.name in c.events for c in self._connections)

    def publish(self, event: Event) -> bool:
        """Queue ``event`` on every connection subscribed to it; False when none is."""
        frame: bytes | None = None
        for connection in self._connections:
            if event.name in connection.events and not connection.writer.is_closing():
                frame = frame if frame is not None else encode_event(event)
                connection.writer.write(frame)
        return frame is not None

    async def drain(self) -> None:
        """Wait until the subscribers' socket buffers are below their high-water mark."""
        for connection in list(self._connections):
            if connection.events:
                with contextlib.suppress(ConnectionError):
                    await connection.writer.drain()

    # -- requests ------------------------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connection = _Connection(writer)
        self._connections.add(connection)
        try:
            while True:
                try:
                    header = await reader.readexactly(LENGTH.size)
                except asyncio.IncompleteReadError:
                    return
                request_id, request = decode_request(await reader.readexactly(frame_length(header)))
                if isinstance(request, SubscribeRequest):
                    self._subscribe(connection, request_id, request)
                    continue
                task = asyncio.create_task(self._answer(connection, request_id, request))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
        except SeamError as exc:
            log.warning("closing a seam connection: %s", exc)
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            self._connections.discard(connection)
            writer.close()

    def _subscribe(self, connection: _Connection, request_id: int, request: SubscribeRequest) -> None:
        unknown = [name for name in request.events if name not in EVENTS]
        if unknown:
            connection.writer.write(encode_error(request_id, SeamError(f"unknown event {unknown[0]!r}")))
            return
        wanted = connection.events | frozenset(request.events)
        # No await from here to the answer: no event published meanwhile can come before these.
        for event in self._snapshot():
            if event.name in wanted and event.name not in connection.events:
                connection.writer.write(encode_event(event))
        connection.events = wanted
        connection.writer.write(encode_result(request_id, Ack()))

    async def _answer(self, connection: _Connection, request_id: int, request: Request[Response]) -> None:
        writer = connection.writer
        try:
            frame = encode_result(request_id, await self._handlers[type(request)](request))
        except JscError as exc:
            frame = encode_error(request_id, exc)
        except Exception:
            log.exception("seam request %s failed", request.method)
            writer.close()
            return
        if writer.is_closing():
            return
        writer.write(frame)
        with contextlib.suppress(ConnectionError):
            await writer.drain()
