"""JSON-RPC over WebSocket against a real node: web3.py subscriptions, raw eth_subscribe, HTTP
filters, and a slow consumer that gets dropped. Every wait is bounded in count and time."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
import websockets
from web3 import AsyncWeb3, Web3, WebSocketProvider
from web3.middleware import ExtraDataToPOAMiddleware

from tests.integration.conftest import DEV_KEY, DEV_KEY_2
from tests.integration.nodeproc import NodeProcess

TOPIC_A = bytes.fromhex("aa" * 32)
TOPIC_B = bytes.fromhex("bb" * 32)
WAIT_S = 30.0


def emitter_init_code(topic: bytes, count: int, data_size: int = 0) -> bytes:
    """Init code that emits ``count`` LOG1(topic) of ``data_size`` zero bytes, then deploys nothing."""
    assert len(topic) == 32
    loop_start = 3
    return (
        bytes([0x61]) + count.to_bytes(2, "big")  # PUSH2 count
        + bytes([0x5B])  # JUMPDEST (offset 3)
        + bytes([0x7F]) + topic  # PUSH32 topic
        + bytes([0x61]) + data_size.to_bytes(2, "big")  # PUSH2 size
        + bytes([0x60, 0x00])  # PUSH1 0 (offset)
        + bytes([0xA1])  # LOG1(offset, size, topic)
        + bytes([0x60, 0x01, 0x90, 0x03])  # counter - 1
        + bytes([0x80, 0x60, loop_start, 0x57])  # DUP1 PUSH1 3 JUMPI
        + bytes([0x00])  # STOP
    )  # fmt: skip


def signed_tx(
    w3: Web3, key: str, data: bytes = b"", gas: int = 200_000, to: str | None = None
) -> tuple[bytes, str]:
    """(raw, hash hex) of a transaction from ``key`` at its next pending nonce."""
    account = w3.eth.account.from_key(key)
    tx: dict[str, Any] = {
        "nonce": w3.eth.get_transaction_count(account.address, "pending"),
        "gas": gas,
        "gasPrice": w3.eth.gas_price * 2,
        "value": 0,
        "data": data,
        "chainId": w3.eth.chain_id,
    }
    if to is not None:
        tx["to"] = to
    signed = account.sign_transaction(tx)
    return bytes(signed.raw_transaction), "0x" + bytes(signed.hash).hex()


def send_and_wait(w3: Web3, key: str, data: bytes = b"", gas: int = 200_000) -> Any:
    raw, tx_hash = signed_tx(w3, key, data, gas, to=None if data else w3.eth.account.from_key(key).address)
    w3.eth.send_raw_transaction(raw)
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=WAIT_S, poll_latency=0.1)
    assert receipt.status == 1
    return receipt


def ws_url(node: NodeProcess) -> str:
    return f"ws://127.0.0.1:{node.ws_port}"


class RawClient:
    """A plain ``websockets`` JSON-RPC client: answers by id, notifications in arrival order."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.next_id = 1
        self.notifications: list[dict[str, Any]] = []

    async def call(self, method: str, *params: Any) -> Any:
        request_id = self.next_id
        self.next_id += 1
        await self.ws.send(
            json.dumps({"jsonrpc": "2.0", "id": request_id, "method": method, "params": list(params)})
        )
        deadline = time.monotonic() + WAIT_S
        for _ in range(100_000):
            frame = json.loads(await asyncio.wait_for(self.ws.recv(), max(deadline - time.monotonic(), 0.01)))
            if frame.get("id") == request_id:
                return frame
            self.notifications.append(frame["params"])
        raise AssertionError(f"no answer to {method}")

    async def result(self, method: str, *params: Any) -> Any:
        answer = await self.call(method, *params)
        assert "error" not in answer, answer
        return answer["result"]

    async def until(self, done: Callable[[list[dict[str, Any]]], bool], at_most: int = 10_000) -> None:
        """Read notifications until ``done(all so far)``; bounded by ``at_most`` frames and WAIT_S."""
        deadline = time.monotonic() + WAIT_S
        for _ in range(at_most):
            if done(self.notifications):
                return
            frame = json.loads(await asyncio.wait_for(self.ws.recv(), max(deadline - time.monotonic(), 0.01)))
            self.notifications.append(frame["params"])
        raise AssertionError("condition not reached")

    def results(self, sub_id: str) -> list[Any]:
        return [n["result"] for n in self.notifications if n["subscription"] == sub_id]


async def in_thread(fn: Callable[..., Any], *args: Any) -> Any:
    return await asyncio.to_thread(fn, *args)


# --- web3.py ---------------------------------------------------------------------------


async def _web3_collect(w3_ws: AsyncWeb3[Any], want: Callable[[list[Any]], bool]) -> list[Any]:
    got: list[Any] = []
    stream: AsyncIterator[Any] = w3_ws.socket.process_subscriptions().__aiter__()
    deadline = time.monotonic() + WAIT_S
    for _ in range(1000):
        if want(got):
            return got
        got.append(await asyncio.wait_for(stream.__anext__(), max(deadline - time.monotonic(), 0.01)))
    raise AssertionError(f"not all notifications arrived: {got}")


def test_web3_subscribes_to_new_heads_and_logs(node: NodeProcess, w3: Web3) -> None:
    async def go() -> None:
        async with AsyncWeb3(WebSocketProvider(ws_url(node))) as w3_ws:
            w3_ws.middleware_onion.inject(ExtraDataToPOAMiddleware, layer=0)
            assert await w3_ws.eth.chain_id == 1337
            heads_id = await w3_ws.eth.subscribe("newHeads")
            logs_id = await w3_ws.eth.subscribe("logs", {"topics": ["0x" + TOPIC_A.hex()]})
            receipt = await in_thread(send_and_wait, w3, DEV_KEY, emitter_init_code(TOPIC_A, 3))

            def seen_all(got: list[Any]) -> bool:
                heads = [g["result"] for g in got if g["subscription"] == heads_id]
                logs = [g["result"] for g in got if g["subscription"] == logs_id]
                return any(h["number"] >= receipt.blockNumber for h in heads) and len(logs) >= 3

            got = await _web3_collect(w3_ws, seen_all)
            heads = [g["result"] for g in got if g["subscription"] == heads_id]
            head = next(h for h in heads if h["number"] == receipt.blockNumber)
            assert head["hash"] == receipt.blockHash
            assert head["miner"] == w3.eth.get_block(receipt.blockNumber)["miner"]
            logs = [g["result"] for g in got if g["subscription"] == logs_id]
            assert [log["logIndex"] for log in logs] == [0, 1, 2]
            assert all(log["transactionHash"] == receipt.transactionHash for log in logs)
            assert all(log["topics"] == [TOPIC_A] for log in logs)
            assert await w3_ws.eth.unsubscribe(heads_id) is True
            assert await w3_ws.eth.unsubscribe(logs_id) is True

    asyncio.run(asyncio.wait_for(go(), 3 * WAIT_S))


def test_every_http_method_answers_over_websocket(node: NodeProcess) -> None:
    async def go() -> None:
        async with websockets.connect(ws_url(node)) as ws:
            client = RawClient(ws)
            assert await client.result("eth_chainId") == "0x539"
            number = await client.result("eth_blockNumber")
            block = await client.result("eth_getBlockByNumber", number, False)
            assert block["number"] == number
            batch = [{"jsonrpc": "2.0", "id": i, "method": "net_version", "params": []} for i in (100, 101)]
            await ws.send(json.dumps(batch))
            answers = json.loads(await asyncio.wait_for(ws.recv(), WAIT_S))
            assert sorted(a["id"] for a in answers) == [100, 101]

    asyncio.run(asyncio.wait_for(go(), 2 * WAIT_S))


# --- raw websockets: subscribe/unsubscribe, topic filters, pending transactions ----------------------


def test_raw_subscriptions(node: NodeProcess, w3: Web3) -> None:
    async def go() -> None:
        async with websockets.connect(ws_url(node)) as ws:
            client = RawClient(ws)
            heads = await client.result("eth_subscribe", "newHeads")
            only_a = await client.result("eth_subscribe", "logs", {"topics": ["0x" + TOPIC_A.hex()]})
            pending = await client.result("eth_subscribe", "newPendingTransactions")
            pending_full = await client.result("eth_subscribe", "newPendingTransactions", True)
            assert len({heads, only_a, pending, pending_full}) == 4
            for sub_id in (heads, only_a, pending, pending_full):
                assert sub_id.startswith("0x")
                assert len(sub_id) <= 34

            raw_b, hash_b = await in_thread(signed_tx, w3, DEV_KEY, emitter_init_code(TOPIC_B, 2))
            await client.result("eth_sendRawTransaction", "0x" + raw_b.hex())
            receipt_b = await in_thread(w3.eth.wait_for_transaction_receipt, hash_b, WAIT_S, 0.1)
            receipt_a = await in_thread(send_and_wait, w3, DEV_KEY, emitter_init_code(TOPIC_A, 2))
            hash_a = "0x" + bytes(receipt_a.transactionHash).hex()

            await client.until(
                lambda _: (
                    len(client.results(only_a)) >= 2
                    and hash_a in client.results(pending)
                    and any(int(h["number"], 16) >= receipt_a.blockNumber for h in client.results(heads))
                )
            )
            logs = client.results(only_a)
            assert {log["transactionHash"] for log in logs} == {hash_a}  # TOPIC_B's logs filtered out
            assert all(log["topics"] == ["0x" + TOPIC_A.hex()] for log in logs)
            assert receipt_b.status == 1
            assert hash_b in client.results(pending)
            full = {tx["hash"]: tx for tx in client.results(pending_full)}
            assert full[hash_b]["blockHash"] is None
            assert full[hash_b]["from"].lower() == w3.eth.account.from_key(DEV_KEY).address.lower()
            header = next(h for h in client.results(heads) if int(h["number"], 16) == receipt_a.blockNumber)
            assert header["hash"] == "0x" + bytes(receipt_a.blockHash).hex()
            assert "transactions" not in header

            # unsubscribe: true once, then geth's error; no more notifications for it
            assert await client.result("eth_unsubscribe", heads) is True
            again = await client.call("eth_unsubscribe", heads)
            assert again["error"] == {"code": -32000, "message": "subscription not found"}
            unknown = await client.call("eth_subscribe", "nope")
            assert unknown["error"] == {"code": -32601, "message": 'no "nope" subscription in eth namespace'}
            client.notifications.clear()
            await in_thread(send_and_wait, w3, DEV_KEY)
            await client.until(lambda _: len(client.results(pending)) >= 1)
            assert client.results(heads) == []

    asyncio.run(asyncio.wait_for(go(), 4 * WAIT_S))


def test_http_filters(node: NodeProcess, w3: Web3) -> None:
    def call(method: str, *params: Any) -> Any:
        body = httpx.post(
            node.url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}, timeout=30
        ).json()
        return body

    by_topic = call("eth_newFilter", {"topics": ["0x" + TOPIC_A.hex()]})["result"]
    blocks = call("eth_newBlockFilter")["result"]
    pending = call("eth_newPendingTransactionFilter")["result"]
    receipt_b = send_and_wait(w3, DEV_KEY_2, emitter_init_code(TOPIC_B, 1))
    receipt_a = send_and_wait(w3, DEV_KEY_2, emitter_init_code(TOPIC_A, 2))
    logs = call("eth_getFilterChanges", by_topic)["result"]
    assert [log["transactionHash"] for log in logs] == ["0x" + bytes(receipt_a.transactionHash).hex()] * 2
    assert call("eth_getFilterChanges", by_topic)["result"] == []
    hashes = call("eth_getFilterChanges", blocks)["result"]
    assert "0x" + bytes(receipt_a.blockHash).hex() in hashes
    assert "0x" + bytes(receipt_b.blockHash).hex() in hashes
    tx_hashes = call("eth_getFilterChanges", pending)["result"]
    assert "0x" + bytes(receipt_b.transactionHash).hex() in tx_hashes
    # eth_getFilterLogs: a filter from block 0 holds the chain's TOPIC_A logs; by_topic's fromBlock
    # defaults to latest (the head only), which an idle block (one a second) may already have passed.
    whole = call("eth_newFilter", {"fromBlock": "0x0", "topics": ["0x" + TOPIC_A.hex()]})["result"]
    history = call("eth_getFilterLogs", whole)["result"]
    assert ["0x" + bytes(receipt_a.transactionHash).hex()] * 2 == [
        log["transactionHash"]
        for log in history
        if log["blockHash"] == "0x" + bytes(receipt_a.blockHash).hex()
    ]
    assert call("eth_uninstallFilter", by_topic)["result"] is True
    assert call("eth_uninstallFilter", by_topic)["result"] is False
    assert call("eth_getFilterChanges", by_topic)["error"] == {"code": -32000, "message": "filter not found"}


# --- a slow consumer is dropped -------------------------------------------------------------------

SLOW_TXS = 6
LOGS_PER_TX = 400
LOG_DATA_BYTES = 1024  # ~2.7 KB of JSON per notification: ~1.1 MB per tx per subscription
SUBS_PER_CLIENT = 2


def _small_receive_buffer_socket(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    # Set before connecting so the advertised window stays small: the kernel cannot soak up megabytes.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 * 1024)
    sock.settimeout(5)
    sock.connect(("127.0.0.1", port))
    sock.setblocking(False)
    return sock


@pytest.mark.slow
def test_slow_consumer_is_dropped_fast_one_is_not(node: NodeProcess, w3: Web3) -> None:
    total = SLOW_TXS * LOGS_PER_TX * SUBS_PER_CLIENT
    criteria = {"topics": ["0x" + TOPIC_B.hex()]}

    async def go() -> None:
        slow_ws = await websockets.connect(
            ws_url(node),
            sock=_small_receive_buffer_socket(node.ws_port),
            max_queue=4,  # the client library stops reading the socket after 4 unread messages
            ping_interval=None,
            max_size=None,
            compression=None,  # zero-filled log data would deflate ~100x and never fill anything
        )
        async with websockets.connect(
            ws_url(node), ping_interval=None, max_size=None, compression=None
        ) as fast_ws:
            slow, fast = RawClient(slow_ws), RawClient(fast_ws)
            for client in (slow, fast):
                for _ in range(SUBS_PER_CLIENT):
                    await client.result("eth_subscribe", "logs", criteria)

            async def fast_reader() -> None:
                await fast.until(lambda got: len(got) >= total, at_most=total + 10)

            reading = asyncio.create_task(fast_reader())
            init_code = emitter_init_code(TOPIC_B, LOGS_PER_TX, LOG_DATA_BYTES)
            for _ in range(SLOW_TXS):  # one per block: each block's burst fits a reading client's queue
                await in_thread(send_and_wait, w3, DEV_KEY, init_code, 5_000_000)
            await asyncio.wait_for(reading, WAIT_S)
            assert len(fast.notifications) == total
            assert await fast.result("eth_chainId") == "0x539"  # still connected

            # The slow client now reads what reached it: the stream ends before the end.
            received = 0
            closed: websockets.ConnectionClosed | None = None
            deadline = time.monotonic() + WAIT_S
            for _ in range(total + 10):
                try:
                    await asyncio.wait_for(slow_ws.recv(), max(deadline - time.monotonic(), 0.01))
                except websockets.ConnectionClosed as exc:
                    closed = exc
                    break
                received += 1
            assert closed is not None, f"slow client still connected after {received} notifications"
            assert received < total
        await slow_ws.close()

    asyncio.run(asyncio.wait_for(go(), 6 * WAIT_S))
    assert "dropped a slow websocket client" in node.logs()
