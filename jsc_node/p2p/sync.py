"""Block sync: request/response over a libp2p stream, for a node that is behind.

Protocol ``/jsc/<chain id>/sync/1``: one request and one answer per stream, each a frame of a
4-byte big-endian length and RLP.

- status   request ``RLP([0])``               answer ``RLP([head number, head hash, genesis hash])``
- blocks   request ``RLP([1, start, count])``  answer ``RLP([block, block, ...])``: canonical
  blocks from ``start`` with their commit seals (as committed), at most ``count`` and
  ``MAX_BLOCKS_PER_REQUEST``, cut short after ``RESPONSE_SOFT_BYTES``; an empty list when the
  server does not hold ``start``.

The server answers from the execution process (``ChainSource``: the seam's ``status``/``blocks``)
with at most ``MAX_CONCURRENT_SERVES`` requests at a time; a malformed request resets the stream.

``Syncer`` is the catch-up driver: woken by the QBFT service (``RequestSync``: peers speak of
later heights) and every ``poll_interval_s``, it asks every connected peer for its status and
fetches the missing blocks from the highest one, in batches, the next batch in flight while one
is imported. Each block goes to ``import_block`` (the consensus service: parent, validator set
and a quorum of commit seals of the validators at that height, then commit through the seam);
a peer that serves an invalid block is banned, and the next peer is tried. Progress goes to the
log (a line every ``PROGRESS_INTERVAL_S``) and to ``report`` (eth_syncing).
"""

from __future__ import annotations

import logging
import struct
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

import rlp
import trio
from libp2p.custom_types import TProtocol
from libp2p.peer.id import ID

from jsc_node.errors import InvalidBlock, JscError, SyncError
from jsc_node.p2p.host import P2PHost

log = logging.getLogger("jsc_node.sync")

STATUS = 0
BLOCKS = 1
MAX_BLOCKS_PER_REQUEST = 128
MAX_REQUEST_BYTES = 64
RESPONSE_SOFT_BYTES = 8 * 1024 * 1024
"""The server stops adding blocks past this; one block may exceed it (a full 100M-gas block of
calldata is ~6 MB)."""
MAX_RESPONSE_BYTES = 64 * 1024 * 1024
REQUEST_TIMEOUT_S = 30.0
STATUS_TIMEOUT_S = 5.0
MAX_CONCURRENT_SERVES = 4
PROGRESS_INTERVAL_S = 2.0
DEFAULT_POLL_INTERVAL_S = 5.0
FIRST_CHECK_S = 1.0
DEFAULT_BATCH = 64
SYNC_BAN_S = 600.0
_LENGTH = struct.Struct(">I")


def protocol_id(chain_id: int) -> TProtocol:
    return TProtocol(f"/jsc/{chain_id}/sync/1")


@dataclass(frozen=True)
class PeerStatus:
    number: int
    hash: bytes
    genesis_hash: bytes


class ChainSource(Protocol):
    """What the server answers from (the execution process, over the seam)."""

    async def status(self) -> PeerStatus: ...

    async def blocks(self, start: int, count: int, max_bytes: int) -> list[bytes]: ...


# --- framing ----------------------------------------------------------------------------------


async def _read_exactly(stream: Any, n: int) -> bytes:
    data = bytearray()
    while len(data) < n:
        try:
            chunk = await stream.read(n - len(data))
        except Exception as exc:  # StreamEOF / StreamReset / StreamError from py-libp2p
            raise SyncError(f"stream closed after {len(data)} of {n} bytes: {type(exc).__name__}") from exc
        if not chunk:
            raise SyncError(f"stream closed after {len(data)} of {n} bytes")
        data += chunk
    return bytes(data)


async def read_frame(stream: Any, limit: int) -> bytes:
    (length,) = _LENGTH.unpack(await _read_exactly(stream, _LENGTH.size))
    if length > limit:
        raise SyncError(f"frame of {length} bytes exceeds the limit of {limit}")
    return await _read_exactly(stream, length)


async def write_frame(stream: Any, body: bytes) -> None:
    await stream.write(_LENGTH.pack(len(body)) + body)


def _uint(item: Any, what: str) -> int:
    if not isinstance(item, bytes) or len(item) > 8 or item[:1] == b"\x00":
        raise SyncError(f"{what} is not a canonical unsigned integer")
    return int.from_bytes(item, "big")


def decode_request(body: bytes) -> tuple[int, int, int]:
    """``(kind, start, count)``; raises SyncError for anything but the two request shapes."""
    try:
        items = rlp.decode(body, strict=True)
    except (rlp.DecodingError, ValueError) as exc:
        raise SyncError(f"request is not RLP: {exc}") from exc
    if not isinstance(items, list) or not items:
        raise SyncError("request must be a non-empty RLP list")
    kind = _uint(items[0], "request kind")
    if kind == STATUS and len(items) == 1:
        return STATUS, 0, 0
    if kind == BLOCKS and len(items) == 3:
        start, count = _uint(items[1], "start"), _uint(items[2], "count")
        if count == 0:
            raise SyncError("count must be at least 1")
        return BLOCKS, start, min(count, MAX_BLOCKS_PER_REQUEST)
    raise SyncError(f"unknown request kind {kind} with {len(items) - 1} arguments")


def decode_status(body: bytes) -> PeerStatus:
    try:
        items = rlp.decode(body, strict=True)
    except (rlp.DecodingError, ValueError) as exc:
        raise SyncError(f"status answer is not RLP: {exc}") from exc
    if not isinstance(items, list) or len(items) != 3 or not all(isinstance(i, bytes) for i in items):
        raise SyncError("status answer must be [number, hash, genesis hash]")
    number, head_hash, genesis_hash = items
    if len(head_hash) != 32 or len(genesis_hash) != 32:
        raise SyncError("status answer hashes must be 32 bytes")
    return PeerStatus(_uint(number, "head number"), head_hash, genesis_hash)


def decode_blocks(body: bytes) -> list[bytes]:
    try:
        items = rlp.decode(body, strict=True)
    except (rlp.DecodingError, ValueError) as exc:
        raise SyncError(f"blocks answer is not RLP: {exc}") from exc
    if not isinstance(items, list) or not all(isinstance(i, bytes) for i in items):
        raise SyncError("blocks answer must be a list of block RLPs")
    return list(items)


# --- server -----------------------------------------------------------------------------------


class SyncServer:
    def __init__(self, host: P2PHost, chain_id: int, source: ChainSource) -> None:
        self.host = host
        self.source = source
        self.protocol = protocol_id(chain_id)
        self._slots = trio.Semaphore(MAX_CONCURRENT_SERVES)
        self.served = 0
        self.refused = 0

    def install(self) -> None:
        self.host.libp2p.set_stream_handler(self.protocol, self._handle)

    async def _handle(self, stream: Any) -> None:
        peer = stream.muxed_conn.peer_id
        try:
            async with self._slots:
                with trio.fail_after(REQUEST_TIMEOUT_S):
                    kind, start, count = decode_request(await read_frame(stream, MAX_REQUEST_BYTES))
                    if kind == STATUS:
                        status = await self.source.status()
                        body = rlp.encode([status.number, status.hash, status.genesis_hash])
                    else:
                        body = rlp.encode(await self.source.blocks(start, count, RESPONSE_SOFT_BYTES))
                    await write_frame(stream, body)
                    self.served += 1
            await stream.close()
        except (SyncError, trio.TooSlowError) as exc:
            self.refused += 1
            log.debug("sync request from %s refused: %s", peer, exc)
            await _reset(stream)
        except JscError as exc:  # the execution side failed to answer
            log.warning("sync request from %s failed: %s", peer, exc)
            await _reset(stream)
        except Exception as exc:  # py-libp2p stream errors while writing/closing
            log.debug("sync stream with %s failed: %s", peer, exc)
            await _reset(stream)


async def _reset(stream: Any) -> None:
    try:
        await stream.reset()
    except Exception as exc:  # already closed/reset by the muxer
        log.debug("resetting sync stream: %s", exc)


# --- client -----------------------------------------------------------------------------------


class SyncClient:
    def __init__(self, host: P2PHost, chain_id: int) -> None:
        self.host = host
        self.protocol = protocol_id(chain_id)

    async def _request(self, peer: ID, body: bytes, timeout_s: float) -> bytes:
        stream: Any = None
        try:
            with trio.fail_after(timeout_s):
                try:
                    stream = await self.host.libp2p.new_stream(peer, [self.protocol])
                except Exception as exc:  # py-libp2p: StreamFailure, SwarmException, ...
                    raise SyncError(f"cannot open a sync stream to {peer}: {exc}") from exc
                await write_frame(stream, body)
                answer = await read_frame(stream, MAX_RESPONSE_BYTES)
        except trio.TooSlowError as exc:
            raise SyncError(f"peer {peer} did not answer within {timeout_s:.0f} s") from exc
        except SyncError:
            raise
        except Exception as exc:  # write on a reset stream
            raise SyncError(f"sync request to {peer} failed: {exc}") from exc
        finally:
            if stream is not None:
                await _reset_or_close(stream)
        return answer

    async def status(self, peer: ID) -> PeerStatus:
        return decode_status(await self._request(peer, rlp.encode([STATUS]), STATUS_TIMEOUT_S))

    async def blocks(self, peer: ID, start: int, count: int) -> list[bytes]:
        body = rlp.encode([BLOCKS, start, count])
        return decode_blocks(await self._request(peer, body, REQUEST_TIMEOUT_S))


async def _reset_or_close(stream: Any) -> None:
    try:
        await stream.close()
    except Exception:  # a closed stream cannot be closed twice; reset is the fallback
        await _reset(stream)


# --- driver -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SyncProgress:
    starting: int
    current: int
    highest: int


class Syncer:
    """Catch-up driver. ``import_block(raw)`` commits one block that extends the local head and
    returns False when the block was held already; it raises ``InvalidBlock`` for a block that
    must not be committed (bad seals, wrong parent, fails execution)."""

    def __init__(
        self,
        client: SyncClient,
        host: P2PHost,
        genesis_hash: bytes,
        local_head: Callable[[], int],
        import_block: Callable[[bytes], Awaitable[bool]],
        report: Callable[[SyncProgress | None], Awaitable[None]] | None = None,
        *,
        poll_interval_s: float = DEFAULT_POLL_INTERVAL_S,
        batch: int = DEFAULT_BATCH,
    ) -> None:
        self.client = client
        self.host = host
        self.genesis_hash = genesis_hash
        self.local_head = local_head
        self.import_block = import_block
        self.report = report
        self.poll_interval_s = poll_interval_s
        self.batch = min(batch, MAX_BLOCKS_PER_REQUEST)
        self._wake = trio.Event()
        self.imported = 0
        self.sessions = 0
        self.progress: SyncProgress | None = None

    def trigger(self) -> None:
        """Peers are ahead (the engine saw a later height): check them now."""
        self._wake.set()

    async def run(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        wait_s = min(FIRST_CHECK_S, self.poll_interval_s)  # a restarted node looks soon
        while True:
            with trio.move_on_after(wait_s):
                await self._wake.wait()
            wait_s = self.poll_interval_s
            self._wake = trio.Event()
            try:
                await self.sync_once()
            except JscError as exc:
                log.warning("sync round failed: %s", exc)

    async def peer_statuses(self) -> list[tuple[ID, PeerStatus]]:
        peers = self.host.connected_peers()
        found: list[tuple[ID, PeerStatus]] = []

        async def ask(peer: ID) -> None:
            try:
                status = await self.client.status(peer)
            except SyncError as exc:
                log.debug("status of %s: %s", peer, exc)
                return
            if status.genesis_hash != self.genesis_hash:
                log.warning("peer %s has another genesis 0x%s", peer, status.genesis_hash.hex())
                return
            found.append((peer, status))

        async with trio.open_nursery() as nursery:
            for peer in peers:
                nursery.start_soon(ask, peer)
        return sorted(found, key=lambda item: item[1].number, reverse=True)

    async def sync_once(self) -> int:
        """Fetch and import until no peer is ahead; returns the blocks imported."""
        imported = 0
        started_at = self.local_head()
        try:
            for _ in range(1_000_000):  # each pass imports >= 1 block or ends the loop
                ahead = [(p, s) for p, s in await self.peer_statuses() if s.number > self.local_head()]
                if not ahead:
                    break
                progressed = False
                for peer, status in ahead:
                    try:
                        got = await self._fetch_from(peer, status.number, started_at)
                    except InvalidBlock as exc:
                        await self.host.ban(peer, SYNC_BAN_S, f"served an invalid block: {exc}")
                        continue
                    except SyncError as exc:
                        log.info("sync from %s stopped: %s", peer, exc)
                        continue
                    imported += got
                    if got:
                        progressed = True
                        break
                if not progressed:
                    break
        finally:
            if self.progress is not None:
                head = self.local_head()
                log.info("sync: done at block %d (%d blocks imported this session)", head, head - started_at)
                self.progress = None
                if self.report is not None:
                    await self.report(None)
        return imported

    async def _fetch_from(self, peer: ID, target: int, started_at: int) -> int:
        """Import blocks from ``peer`` up to ``target``; the next batch is fetched while the
        current one is imported."""
        imported = 0
        last_log = time.monotonic()
        began, began_head = time.monotonic(), self.local_head()
        send, receive = trio.open_memory_channel[list[bytes]](1)
        failure: list[JscError] = []  # raised after the nursery (trio wraps errors in groups)

        async def fetch(next_start: int) -> None:
            async with send:
                try:
                    while next_start <= target:
                        count = min(self.batch, target - next_start + 1)
                        blocks = await self.client.blocks(peer, next_start, count)
                        if not blocks:
                            raise SyncError(f"peer served no block from {next_start} (it claimed {target})")
                        await send.send(blocks)
                        next_start += len(blocks)
                except SyncError as exc:
                    failure.append(exc)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(fetch, self.local_head() + 1)
            async with receive:
                try:
                    async for blocks in receive:
                        for raw in blocks:
                            if await self.import_block(raw):
                                imported += 1
                                self.imported += 1
                        head = self.local_head()
                        self.progress = SyncProgress(started_at, head, max(target, head))
                        if self.report is not None:
                            await self.report(self.progress)
                        now = time.monotonic()
                        if now - last_log >= PROGRESS_INTERVAL_S:
                            last_log = now
                            rate = (head - began_head) / max(now - began, 1e-9)
                            eta = (target - head) / rate if rate > 0 else float("inf")
                            log.info(
                                "sync: block %d of %d (%.0f%%) from %s, %.1f blocks/s, eta %.0f s",
                                head,
                                target,
                                100.0 * head / max(target, 1),
                                peer,
                                rate,
                                eta,
                            )
                except JscError as exc:  # InvalidBlock from import: stop fetching too
                    failure.append(exc)
                    nursery.cancel_scope.cancel()
        if failure and not (imported and isinstance(failure[0], SyncError)):
            raise failure[0]
        if imported:
            self.sessions += 1
        return imported
