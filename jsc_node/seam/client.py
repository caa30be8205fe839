"""The consensus side of the seam (trio): one typed method per request, several requests in flight
on one connection (each answer matched to its request by id), and the execution process's events
handed to listeners.

A reader task owns the receiving half of the socket. Listeners are called from it, in the order
the events were sent, and must not block (keep the latest value or queue, and wake a task): the
same task delivers the answers every request waits for. If the execution process goes away the
reader raises SeamError, which ends the nursery ``SeamClient.open`` runs in: the consensus process
stops rather than run without its execution side.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar, cast

import trio

from jsc_node.errors import JscError, SeamError
from jsc_node.seam.codec import (
    LENGTH,
    Answer,
    decode_result,
    decode_server_frame,
    encode_request,
    frame_length,
)
from jsc_node.seam.messages import (
    Ack,
    BlockCommitted,
    BlocksReply,
    BlocksRequest,
    BlockValid,
    BuildBlockRequest,
    BuiltBlock,
    CommitBlockRequest,
    Event,
    HeadersRequest,
    HeaderSummary,
    HeadRequest,
    P2PNode,
    P2PPeer,
    RemoteTxsRequest,
    Request,
    Response,
    SetPeersRequest,
    SetSyncRequest,
    SubscribeRequest,
    SyncRange,
    TxsAccepted,
    ValidateBlockRequest,
)

R = TypeVar("R", bound=Response)
E = TypeVar("E", bound=Event)

_RECEIVE_BYTES = 65536


class _Call:
    """One request waiting for its answer."""

    __slots__ = ("answer", "done", "reply")

    def __init__(self, reply: type[Response]) -> None:
        self.reply = reply
        self.done = trio.Event()
        self.answer: Answer | JscError | None = None


class SeamClient:
    """The consensus process's connection to the execution process. Use ``SeamClient.open``."""

    def __init__(self, stream: trio.abc.Stream) -> None:
        self._stream = stream
        self._send_lock = trio.Lock()
        self._next_id = 0
        self._calls: dict[int, _Call] = {}
        self._listeners: dict[str, list[Callable[[Any], None]]] = {}
        self._subscribed = False
        self._closed: SeamError | None = None
        self._buffer = bytearray()

    @classmethod
    @asynccontextmanager
    async def open(cls, path: str, timeout_s: float = 30.0) -> AsyncIterator[SeamClient]:
        """Connect (waiting up to ``timeout_s`` for the execution process to listen) and read
        answers and events until the block exits."""
        stream: trio.SocketStream | None = None
        with trio.move_on_after(timeout_s):
            while stream is None:
                try:
                    stream = await trio.open_unix_socket(path)
                except OSError:
                    await trio.sleep(0.05)
        if stream is None:
            raise SeamError(f"execution process did not open its seam at {path} within {timeout_s:.0f} s")
        client = cls(stream)
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(client._read_loop)
                try:
                    yield client
                finally:
                    nursery.cancel_scope.cancel()
        finally:
            client._fail(SeamError("seam closed"))
            await stream.aclose()

    # -- requests ------------------------------------------------------------------------------

    async def call(self, request: Request[R]) -> R:
        """Send ``request`` and wait for its answer; the answer's error is raised (InvalidBlock
        by name, SeamError otherwise)."""
        self._next_id += 1
        request_id = self._next_id
        call = _Call(request.reply)
        frame = encode_request(request_id, request)
        async with self._send_lock:  # send_all is not safe for two tasks at once
            if self._closed is not None:
                raise SeamError(str(self._closed))
            self._calls[request_id] = call
            # A send cut short by a cancellation would leave half a frame on the socket.
            with trio.CancelScope(shield=True):
                try:
                    await self._stream.send_all(frame)
                except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
                    self._calls.pop(request_id, None)
                    raise SeamError(f"seam {request.method}: {exc}") from exc
        # A caller cancelled here leaves its entry: the answer still comes and is dropped.
        await call.done.wait()
        answer = call.answer
        if isinstance(answer, JscError):
            raise SeamError(str(answer))  # the connection failed (one error shared by every waiter)
        assert answer is not None
        if answer.error is not None:
            raise answer.error
        return cast(R, decode_result(call.reply, answer.result))

    async def head(self) -> HeaderSummary:
        return await self.call(HeadRequest())

    async def headers(self, start: int, count: int) -> tuple[bytes, ...]:
        return (await self.call(HeadersRequest(start, count))).headers

    async def build_block(
        self, parent: bytes, timestamp: int, coinbase: bytes, extra_data: bytes
    ) -> BuiltBlock:
        return await self.call(BuildBlockRequest(parent, timestamp, coinbase, extra_data))

    async def validate_block(self, block: bytes) -> BlockValid:
        return await self.call(ValidateBlockRequest(block))

    async def commit_block(self, block: bytes) -> BlockCommitted:
        return await self.call(CommitBlockRequest(block))

    async def remote_txs(self, txs: tuple[bytes, ...]) -> TxsAccepted:
        return await self.call(RemoteTxsRequest(txs))

    async def blocks(self, start: int, count: int, max_bytes: int) -> BlocksReply:
        return await self.call(BlocksRequest(start, count, max_bytes))

    async def set_peers(
        self, count: int, listening: bool, node: P2PNode | None, peers: tuple[P2PPeer, ...]
    ) -> Ack:
        return await self.call(SetPeersRequest(count, listening, node, peers))

    async def set_sync(self, progress: SyncRange | None) -> Ack:
        return await self.call(SetSyncRequest(progress))

    # -- events --------------------------------------------------------------------------------

    def listen(self, listener: Callable[[E], None], *kinds: type[E]) -> None:
        """Hand events of ``kinds`` to ``listener`` (from the reader task: it must not block).
        Register every listener, then ``subscribe`` once."""
        if self._subscribed:
            raise SeamError("seam listeners are registered before subscribing")
        for kind in kinds:
            self._listeners.setdefault(kind.name, []).append(listener)

    async def subscribe(self) -> None:
        """Ask for the events listened to. The execution process first sends the ones that
        describe the present (the pending count, held votes), then every later one."""
        self._subscribed = True
        await self.call(SubscribeRequest(tuple(self._listeners)))

    # -- reading -------------------------------------------------------------------------------

    async def _read_loop(self) -> None:
        try:
            while True:
                message = decode_server_frame(await self._read_frame())
                if isinstance(message, Event):
                    for listener in self._listeners.get(message.name, ()):
                        listener(message)
                    continue
                call = self._calls.pop(message.id, None)
                if call is None:
                    raise SeamError(f"seam answer to unknown request {message.id}")
                call.answer = message
                call.done.set()
        except SeamError as exc:
            self._fail(exc)
            raise
        except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            error = SeamError(f"seam connection lost: {exc}")
            self._fail(error)
            raise error from exc

    def _fail(self, error: SeamError) -> None:
        """Wake every waiting request with ``error``; later ones raise it at once."""
        if self._closed is None:
            self._closed = error
        for call in self._calls.values():
            if not call.done.is_set():
                call.answer = error
                call.done.set()
        self._calls.clear()

    async def _read_exactly(self, n: int) -> bytes:
        while len(self._buffer) < n:
            chunk = await self._stream.receive_some(max(_RECEIVE_BYTES, n - len(self._buffer)))
            if not chunk:
                raise SeamError("execution process closed the seam")
            self._buffer += chunk
        data = bytes(self._buffer[:n])
        del self._buffer[:n]
        return data

    async def _read_frame(self) -> bytes:
        return await self._read_exactly(frame_length(await self._read_exactly(LENGTH.size)))
