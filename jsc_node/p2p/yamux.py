"""One ``write`` on a yamux stream goes out whole, before another write on the same stream starts.

py-libp2p 0.8.1's ``YamuxStream.write`` cuts a message into frames (64 KiB at most, and no more
than the peer's window, 256 KiB at first) and takes its stream lock per frame, so two tasks
writing to one stream at once send their frames mixed. Its pubsub writes to a peer's stream from
more than one task (the per-peer send queue, gossip replies to IWANT, the hello), and a large
message (a sealed block of ~580 transfers is ~110 KiB) then reaches the peer as garbage: the
receiver sees a malformed frame and bans an honest validator (seen in bench (e): the syncing
fifth node banned a validator for 600 s). Here each stream gets a lock held for the whole write.
A writer waiting for window space holds it; the window update comes from the connection's reader
task, which never takes this lock. tests/integration/test_p2p_streams.py writes four 600 KiB
messages at once on one stream.

``install()`` runs once at the consensus process's start (jsc_node/consensus_process.py): it checks
first that py-libp2p is the pinned version and still has the method it replaces (jsc_node/pins.py).
"""

from __future__ import annotations

from typing import Any

import trio
from libp2p.stream_muxer.yamux.yamux import YamuxStream

from jsc_node.pins import check_targets, check_versions, patch_path

REPLACES = ("libp2p.stream_muxer.yamux.yamux:YamuxStream.write",)

PY_LIBP2P_WRITE: Any = YamuxStream.write


async def write_whole(self: Any, data: bytes) -> None:
    lock: trio.Lock | None = self.__dict__.get("_whole_write_lock")
    if lock is None:
        lock = self.__dict__["_whole_write_lock"] = trio.Lock()
    async with lock:
        await PY_LIBP2P_WRITE(self, data)


def install() -> None:
    check_versions("libp2p")
    check_targets(patch_path(__name__), REPLACES)
    YamuxStream.write = write_whole  # type: ignore[method-assign]
