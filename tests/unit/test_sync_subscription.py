"""The ``syncing`` subscription end to end inside the execution process: the consensus side's
``set_sync`` seam calls (ExecutionService on a real LevelDB) reach a WebSocket connection's
subscriptions as geth's start and done notifications; progress in between is eth_syncing's only."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import orjson

from jsc_node.config import NodeConfig
from jsc_node.execution_process import ExecutionService, open_node_state
from jsc_node.genesis import load_genesis
from jsc_node.rpc.subscriptions import ConnectionSubscriptions, EventHub, Outbox
from jsc_node.seam.messages import SetSyncRequest, SyncRange
from jsc_node.views import SyncStatusEvent


def test_set_sync_notifies_start_and_done_once_each(tmp_path: Path) -> None:
    config = NodeConfig(data_path=tmp_path / "data")
    (tmp_path / "data").mkdir()
    db, executor, pool, backend = open_node_state(config, load_genesis(None))
    service = ExecutionService(executor, pool, backend)
    hub = EventHub()
    service.on_sync.append(lambda status: hub.publish(SyncStatusEvent(status)))
    outbox = Outbox(max_messages=100, max_bytes=1 << 20)
    subs = ConnectionSubscriptions(hub, outbox, make_id=lambda: "0x1")
    sub = subs.subscribe(["syncing"])
    sub.activate()

    async def go() -> list[Any]:
        statuses: list[Any] = []
        await service.set_sync(SetSyncRequest(SyncRange(0, 0, 40)))
        statuses.append(await backend.syncing())
        await service.set_sync(SetSyncRequest(SyncRange(0, 20, 40)))  # progress: no event
        statuses.append(await backend.syncing())
        await service.set_sync(SetSyncRequest(None))
        statuses.append(await backend.syncing())
        await service.set_sync(SetSyncRequest(None))  # already done: no second "false"
        frames = []
        while len(outbox):
            frames.append(orjson.loads(await outbox.get()))
        return [statuses, frames]

    try:
        statuses, frames = asyncio.run(go())
    finally:
        pool.close()
        db.close()
    assert [s.current_block if s else None for s in statuses] == [0, 20, None]
    assert [f["params"]["result"] for f in frames] == [
        {"syncing": True, "status": {"startingBlock": "0x0", "currentBlock": "0x0", "highestBlock": "0x28"}},
        False,
    ]
    assert all(f["params"]["subscription"] == "0x1" for f in frames)
