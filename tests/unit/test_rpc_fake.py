"""An in-memory RpcBackend for the RPC unit tests, and JSON -> view parsers (geth's shapes).

No tests live here; the other ``test_rpc_*`` modules import from it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import httpx
import orjson

from jsc_node.errors import BlockNotFound, NoValidatorRegistry
from jsc_node.rpc.ports import RpcBackend
from jsc_node.views import (
    AccessListEntry,
    AccessListResultView,
    AccountProofView,
    AuthorizationView,
    BlockId,
    BlockTraceEntry,
    BlockView,
    BuiltPayloadView,
    CallRequest,
    EthConfigView,
    FeeHistoryView,
    ForkConfigView,
    LogFilter,
    LogView,
    PayloadAttributes,
    ReceiptView,
    StateOverride,
    StructTraceView,
    SyncStatus,
    TraceConfig,
    TraceView,
    TxPoolContent,
    TxView,
    WithdrawalView,
)

# --- JSON -> views (the inverse of rpc.encoding's formatters) -----------------


def _b(value: str | None) -> bytes | None:
    return None if value is None else bytes.fromhex(value[2:])


def _bb(value: str) -> bytes:
    return bytes.fromhex(value[2:])


def _i(value: str | None) -> int | None:
    return None if value is None else int(value, 16)


def _ii(value: str) -> int:
    return int(value, 16)


def parse_tx(obj: dict[str, Any]) -> TxView:
    access = obj.get("accessList")
    auths = obj.get("authorizationList")
    blobs = obj.get("blobVersionedHashes")
    return TxView(
        type=_ii(obj["type"]),
        hash=_bb(obj["hash"]),
        sender=_bb(obj["from"]),
        to=_b(obj["to"]),
        nonce=_ii(obj["nonce"]),
        gas=_ii(obj["gas"]),
        value=_ii(obj["value"]),
        input=_bb(obj["input"]),
        gas_price=_ii(obj["gasPrice"]),
        v=_ii(obj["v"]),
        r=_ii(obj["r"]),
        s=_ii(obj["s"]),
        chain_id=_i(obj.get("chainId")),
        max_fee_per_gas=_i(obj.get("maxFeePerGas")),
        max_priority_fee_per_gas=_i(obj.get("maxPriorityFeePerGas")),
        access_list=None
        if access is None
        else tuple(
            AccessListEntry(_bb(e["address"]), tuple(_bb(k) for k in e["storageKeys"])) for e in access
        ),
        max_fee_per_blob_gas=_i(obj.get("maxFeePerBlobGas")),
        blob_versioned_hashes=None if blobs is None else tuple(_bb(h) for h in blobs),
        authorization_list=None
        if auths is None
        else tuple(
            AuthorizationView(
                chain_id=_ii(a["chainId"]),
                address=_bb(a["address"]),
                nonce=_ii(a["nonce"]),
                y_parity=_ii(a["yParity"]),
                r=_ii(a["r"]),
                s=_ii(a["s"]),
            )
            for a in auths
        ),
        block_hash=_b(obj.get("blockHash")),
        block_number=_i(obj.get("blockNumber")),
        block_timestamp=_i(obj.get("blockTimestamp")),
        transaction_index=_i(obj.get("transactionIndex")),
    )


def parse_log(obj: dict[str, Any]) -> LogView:
    return LogView(
        address=_bb(obj["address"]),
        topics=tuple(_bb(t) for t in obj["topics"]),
        data=_bb(obj["data"]),
        block_number=_ii(obj["blockNumber"]),
        block_hash=_bb(obj["blockHash"]),
        block_timestamp=_ii(obj["blockTimestamp"]),
        transaction_hash=_bb(obj["transactionHash"]),
        transaction_index=_ii(obj["transactionIndex"]),
        log_index=_ii(obj["logIndex"]),
        removed=obj["removed"],
    )


def parse_receipt(obj: dict[str, Any]) -> ReceiptView:
    return ReceiptView(
        type=_ii(obj["type"]),
        transaction_hash=_bb(obj["transactionHash"]),
        transaction_index=_ii(obj["transactionIndex"]),
        block_hash=_bb(obj["blockHash"]),
        block_number=_ii(obj["blockNumber"]),
        sender=_bb(obj["from"]),
        to=_b(obj["to"]),
        cumulative_gas_used=_ii(obj["cumulativeGasUsed"]),
        gas_used=_ii(obj["gasUsed"]),
        effective_gas_price=_ii(obj["effectiveGasPrice"]),
        contract_address=_b(obj["contractAddress"]),
        logs=tuple(parse_log(x) for x in obj["logs"]),
        logs_bloom=_bb(obj["logsBloom"]),
        status=_i(obj.get("status")),
        root=_b(obj.get("root")),
        blob_gas_used=_i(obj.get("blobGasUsed")),
        blob_gas_price=_i(obj.get("blobGasPrice")),
    )


def parse_block(obj: dict[str, Any]) -> BlockView:
    txs = obj["transactions"]
    transactions: tuple[bytes, ...] | tuple[TxView, ...]
    if txs and isinstance(txs[0], dict):
        transactions = tuple(parse_tx(t) for t in txs)
    else:
        transactions = tuple(_bb(t) for t in txs)
    withdrawals = obj.get("withdrawals")
    return BlockView(
        number=_ii(obj["number"]),
        hash=_bb(obj["hash"]),
        parent_hash=_bb(obj["parentHash"]),
        nonce=_bb(obj["nonce"]),
        mix_hash=_bb(obj["mixHash"]),
        sha3_uncles=_bb(obj["sha3Uncles"]),
        logs_bloom=_bb(obj["logsBloom"]),
        transactions_root=_bb(obj["transactionsRoot"]),
        state_root=_bb(obj["stateRoot"]),
        receipts_root=_bb(obj["receiptsRoot"]),
        miner=_bb(obj["miner"]),
        difficulty=_ii(obj["difficulty"]),
        extra_data=_bb(obj["extraData"]),
        gas_limit=_ii(obj["gasLimit"]),
        gas_used=_ii(obj["gasUsed"]),
        timestamp=_ii(obj["timestamp"]),
        size=_ii(obj["size"]),
        transactions=transactions,
        uncles=tuple(_bb(u) for u in obj["uncles"]),
        base_fee_per_gas=_i(obj.get("baseFeePerGas")),
        withdrawals_root=_b(obj.get("withdrawalsRoot")),
        withdrawals=None
        if withdrawals is None
        else tuple(
            WithdrawalView(_ii(w["index"]), _ii(w["validatorIndex"]), _bb(w["address"]), _ii(w["amount"]))
            for w in withdrawals
        ),
        blob_gas_used=_i(obj.get("blobGasUsed")),
        excess_blob_gas=_i(obj.get("excessBlobGas")),
        parent_beacon_block_root=_b(obj.get("parentBeaconBlockRoot")),
        requests_hash=_b(obj.get("requestsHash")),
        total_difficulty=_i(obj.get("totalDifficulty")),
    )


def parse_fee_history(obj: dict[str, Any]) -> FeeHistoryView:
    reward = obj.get("reward")
    blob_fees = obj.get("baseFeePerBlobGas")
    blob_ratio = obj.get("blobGasUsedRatio")
    return FeeHistoryView(
        oldest_block=_ii(obj["oldestBlock"]),
        base_fee_per_gas=tuple(_ii(x) for x in obj.get("baseFeePerGas", [])),
        gas_used_ratio=tuple(float(x) for x in obj["gasUsedRatio"]),
        reward=None if reward is None else tuple(tuple(_ii(x) for x in r) for r in reward),
        base_fee_per_blob_gas=None if blob_fees is None else tuple(_ii(x) for x in blob_fees),
        blob_gas_used_ratio=None if blob_ratio is None else tuple(float(x) for x in blob_ratio),
    )


def parse_pool(obj: dict[str, Any]) -> TxPoolContent:
    def side(part: dict[str, Any]) -> dict[bytes, dict[int, TxView]]:
        return {_bb(a): {int(n): parse_tx(tx) for n, tx in txs.items()} for a, txs in part.items()}

    return TxPoolContent(pending=side(obj["pending"]), queued=side(obj["queued"]))


# --- the fake backend ------------------------------------------------------------

ZERO32 = b"\x00" * 32


def make_block(number: int, txs: Sequence[TxView] = (), **fields: Any) -> BlockView:
    """A post-Prague-looking block with sensible defaults."""
    values: dict[str, Any] = {
        "number": number,
        "hash": number.to_bytes(32, "big"),
        "parent_hash": max(number - 1, 0).to_bytes(32, "big"),
        "nonce": b"\x00" * 8,
        "mix_hash": ZERO32,
        "sha3_uncles": bytes.fromhex("1dcc4de8dec75d7aab85b567b6ccd41ad312451b948a7413f0a142fd40d49347"),
        "logs_bloom": b"\x00" * 256,
        "transactions_root": ZERO32,
        "state_root": ZERO32,
        "receipts_root": ZERO32,
        "miner": b"\x11" * 20,
        "difficulty": 0,
        "extra_data": b"",
        "gas_limit": 30_000_000,
        "gas_used": 21_000 * len(txs),
        "timestamp": 1_700_000_000 + number,
        "size": 600,
        "transactions": tuple(txs),
        "base_fee_per_gas": 7,
    }
    values.update(fields)
    return BlockView(**values)


def make_tx(
    nonce: int = 0, *, block: int | None = None, index: int = 0, kind: int = 2, **fields: Any
) -> TxView:
    values: dict[str, Any] = {
        "type": kind,
        "hash": (0xAA00 + nonce).to_bytes(32, "big"),
        "sender": b"\x22" * 20,
        "to": b"\x33" * 20,
        "nonce": nonce,
        "gas": 21_000,
        "value": 1,
        "input": b"",
        "gas_price": 8,
        "v": 1 if kind else 27,
        "r": 5,
        "s": 6,
        "chain_id": 1337 if kind else None,
        "max_fee_per_gas": 10 if kind >= 2 else None,
        "max_priority_fee_per_gas": 1 if kind >= 2 else None,
        "access_list": () if kind >= 1 else None,
    }
    if block is not None:
        values.update(
            block_hash=block.to_bytes(32, "big"),
            block_number=block,
            block_timestamp=1_700_000_000 + block,
            transaction_index=index,
        )
    values.update(fields)
    return TxView(**values)


class AccessSettings:
    """The guard and limit knobs of ``RpcSettings`` (rpc/guards.py, rpc/limits.py), for the tests'
    own settings classes: the node's defaults, but any Host (the test clients' is not localhost)."""

    host_allowlist: tuple[str, ...] = ("*",)
    rpc_ws_origins: tuple[str, ...] = ()
    rpc_http_max_active_connections = 80
    rpc_ws_max_active_connections = 80
    rpc_batch_response_max_size = 25_000_000
    rpc_rate_limit = 0.0
    rpc_rate_limit_burst = 0
    bootnodes: tuple[str, ...] = ()


@dataclass
class FakeBackend:
    """Holds views in dicts. State reads ignore the block (one state) but honour "not found"."""

    chain: int = 1337
    blocks: dict[int, BlockView] = field(default_factory=dict)
    receipts: dict[bytes, ReceiptView] = field(default_factory=dict)
    pool_txs: dict[bytes, TxView] = field(default_factory=dict)
    balances: dict[bytes, int] = field(default_factory=dict)
    nonces: dict[bytes, int] = field(default_factory=dict)
    codes: dict[bytes, bytes] = field(default_factory=dict)
    storage: dict[tuple[bytes, bytes], bytes] = field(default_factory=dict)
    logs: list[LogView] = field(default_factory=list)
    call_handler: Callable[[CallRequest], bytes] = lambda request: b""
    gas_estimate: int = 21_000
    fee_history_view: FeeHistoryView | None = None
    pool: TxPoolContent = field(default_factory=lambda: TxPoolContent(pending={}, queued={}))
    sync: SyncStatus | None = None
    resolved_override: int | None = None
    calls: list[tuple[str, tuple[Any, ...]]] = field(default_factory=list)
    votes: dict[bytes, bool] = field(default_factory=dict)

    def head(self) -> int:
        return max(self.blocks) if self.blocks else 0

    def add_block(self, block: BlockView) -> None:
        self.blocks[block.number] = block

    def read_snapshot(self) -> contextlib.AbstractContextManager[None]:
        # One head for the whole fake: nothing moves while a request is answered.
        return contextlib.nullcontext()

    async def chain_id(self) -> int:
        return self.chain

    async def client_version(self) -> str:
        return "jsc-node/v0.1.0-test"

    async def head_number(self) -> int:
        return self.head()

    async def resolve_block(self, block: BlockId) -> int | None:
        self.calls.append(("resolve_block", (block,)))
        if self.resolved_override is not None:
            return self.resolved_override
        if block.tag is not None:
            return 0 if block.tag == "earliest" else self.head()
        if block.number is not None:
            return block.number if block.number in self.blocks else None
        for number, view in self.blocks.items():
            if view.hash == block.hash:
                return number
        return None

    async def syncing(self) -> SyncStatus | None:
        return self.sync

    async def peer_count(self) -> int:
        return 3

    async def listening(self) -> bool:
        return True

    def _shape(self, block: BlockView, full_txs: bool) -> BlockView:
        if not full_txs and block.transactions and isinstance(block.transactions[0], TxView):
            return replace(
                block, transactions=tuple(t.hash for t in block.transactions if isinstance(t, TxView))
            )
        return block

    async def block_by_number(self, number: int, full_txs: bool) -> BlockView | None:
        block = self.blocks.get(number)
        return None if block is None else self._shape(block, full_txs)

    async def block_by_hash(self, block_hash: bytes, full_txs: bool) -> BlockView | None:
        for block in self.blocks.values():
            if block.hash == block_hash:
                return self._shape(block, full_txs)
        return None

    async def pending_block(self, full_txs: bool) -> BlockView:
        """The next block on the head holding the pool's transactions (NodeBackend builds it)."""
        head = self.head()
        txs = [
            replace(tx, block_hash=b"\xbb" * 32, block_number=head + 1, transaction_index=i)
            for i, tx in enumerate(self.pool_txs.values())
        ]
        block = make_block(
            head + 1, txs, hash=b"\xbb" * 32, parent_hash=head.to_bytes(32, "big"), pending=True
        )
        return self._shape(block, full_txs)

    async def pending_receipts(self) -> list[ReceiptView]:
        return []

    async def block_transaction_count(self, number: int) -> int | None:
        block = self.blocks.get(number)
        return None if block is None else len(block.transactions)

    def _mined(self) -> dict[bytes, TxView]:
        return {
            tx.hash: tx
            for block in self.blocks.values()
            for tx in block.transactions
            if isinstance(tx, TxView)
        }

    async def transaction_by_hash(self, tx_hash: bytes) -> TxView | None:
        return self._mined().get(tx_hash) or self.pool_txs.get(tx_hash)

    async def transaction_by_block_and_index(self, number: int, index: int) -> TxView | None:
        block = self.blocks.get(number)
        if block is None or index >= len(block.transactions):
            return None
        tx = block.transactions[index]
        return tx if isinstance(tx, TxView) else None

    async def receipt(self, tx_hash: bytes) -> ReceiptView | None:
        return self.receipts.get(tx_hash)

    async def block_receipts(self, number: int) -> list[ReceiptView] | None:
        if number not in self.blocks:
            return None
        found = [r for r in self.receipts.values() if r.block_number == number]
        return sorted(found, key=lambda r: r.transaction_index)

    async def _check(self, block: BlockId) -> None:
        if await self.resolve_block(block) is None:
            raise BlockNotFound("header not found")

    async def balance(self, address: bytes, block: BlockId) -> int:
        await self._check(block)
        return self.balances.get(address, 0)

    async def nonce(self, address: bytes, block: BlockId) -> int:
        await self._check(block)
        nonce = self.nonces.get(address, 0)
        if block.tag == "pending":
            nonce += sum(1 for tx in self.pool_txs.values() if tx.sender == address)
        return nonce

    async def code(self, address: bytes, block: BlockId) -> bytes:
        await self._check(block)
        return self.codes.get(address, b"")

    async def storage_at(self, address: bytes, slot: bytes, block: BlockId) -> bytes:
        await self._check(block)
        return self.storage.get((address, slot), ZERO32)

    async def call(self, request: CallRequest, block: BlockId, overrides: StateOverride | None) -> bytes:
        self.calls.append(("call", (request, block, overrides)))
        await self._check(block)
        return self.call_handler(request)

    async def estimate_gas(
        self, request: CallRequest, block: BlockId, overrides: StateOverride | None
    ) -> int:
        self.calls.append(("estimate_gas", (request, block, overrides)))
        await self._check(block)
        self.call_handler(request)
        return self.gas_estimate

    async def fill_transaction(self, request: CallRequest) -> tuple[bytes, TxView]:
        self.calls.append(("fill_transaction", (request,)))
        self.call_handler(request)
        return b"\x02\xc0", make_tx(0, gas=self.gas_estimate, v=0, r=0, s=0)

    async def gas_price(self) -> int:
        return 1_000_000_007

    async def max_priority_fee(self) -> int:
        return 1_000_000_000

    async def fee_history(self, count: int, newest: int, percentiles: Sequence[float]) -> FeeHistoryView:
        self.calls.append(("fee_history", (count, newest, tuple(percentiles))))
        if self.fee_history_view is not None:
            return self.fee_history_view
        return FeeHistoryView(
            oldest_block=newest - count + 1,
            base_fee_per_gas=(7,) * (count + 1),
            gas_used_ratio=(0.5,) * count,
            reward=tuple((1,) * len(percentiles) for _ in range(count)) if percentiles else None,
            base_fee_per_blob_gas=(1,) * (count + 1),
            blob_gas_used_ratio=(0.0,) * count,
        )

    async def send_raw_transaction(self, raw: bytes) -> bytes:
        self.calls.append(("send_raw_transaction", (raw,)))
        return b"\x99" * 32

    async def get_logs(self, query: LogFilter) -> list[LogView]:
        self.calls.append(("get_logs", (query,)))

        def matches(log: LogView) -> bool:
            if not query.from_block <= log.block_number <= query.to_block:
                return False
            if query.addresses and log.address not in query.addresses:
                return False
            if len(query.topics) > len(log.topics):
                return False
            return all(
                want is None or got in want for want, got in zip(query.topics, log.topics, strict=False)
            )

        return [log for log in self.logs if matches(log)]

    async def txpool_content(self) -> TxPoolContent:
        return self.pool

    async def txpool_status(self) -> tuple[int, int]:
        return (
            sum(len(v) for v in self.pool.pending.values()),
            sum(len(v) for v in self.pool.queued.values()),
        )

    # -- admin: a node with no peers ------------------------------------------------------

    async def admin_node_info(self) -> dict[str, Any]:
        return {
            "id": "16Uiu2HAm-fake",
            "name": "jsc-node/fake",
            "protocols": {"jsc": {"network": self.chain}},
        }

    async def admin_peers(self) -> list[dict[str, Any]]:
        return []

    # -- QBFT: one validator, votes in a dict ------------------------------------------

    async def qbft_propose_vote(self, address: bytes, add: bool) -> None:
        self.calls.append(("qbft_propose_vote", (address, add)))
        self.votes[address] = add

    async def qbft_discard_vote(self, address: bytes) -> bool:
        return self.votes.pop(address, None) is not None

    async def qbft_pending_votes(self) -> dict[bytes, bool]:
        return dict(self.votes)

    async def qbft_validators(self, block: BlockId) -> tuple[bytes, ...] | None:
        number = await self.resolve_block(block)
        return None if number is None else (b"\x65" * 20,)

    async def qbft_signer_metrics(self, start: int, end: int) -> list[tuple[bytes, int, int]]:
        numbers = [n for n in self.blocks if start <= n <= end and n > 0]
        return [(b"\x65" * 20, len(numbers), max(numbers))] if numbers else []

    # -- JSC: the fake chain's genesis has no config.jsc ----------------------------------

    async def jsc_validators(self, block: BlockId) -> Any:
        raise NoValidatorRegistry()

    async def jsc_attestation(self, address: bytes, block: BlockId) -> Any:
        raise NoValidatorRegistry()

    async def jsc_governance_events(self, first: int, last: int) -> Any:
        raise NoValidatorRegistry()

    # -- debug, proofs, tracing, payload building: empty answers over the fake chain ------

    async def raw_header(self, number: int) -> bytes | None:
        return None if number not in self.blocks else b"\xc0"

    async def raw_block(self, number: int) -> bytes | None:
        return None if number not in self.blocks else b"\xc0"

    async def raw_receipts(self, number: int) -> list[bytes] | None:
        return None if number not in self.blocks else []

    async def raw_transaction(self, tx_hash: bytes) -> bytes | None:
        return None

    async def trace_transaction(self, tx_hash: bytes, config: TraceConfig) -> TraceView | None:
        return None

    async def trace_block(self, block: BlockId, config: TraceConfig) -> list[BlockTraceEntry]:
        if block.number == 0 or block.tag == "earliest":
            raise BlockNotFound("genesis is not traceable")
        return []

    async def account_proof(self, address: bytes, slots: Sequence[bytes], block: BlockId) -> AccountProofView:
        return AccountProofView(address, (), 0, b"\x00" * 32, 0, b"\x00" * 32, ())

    async def create_access_list(
        self, request: CallRequest, block: BlockId, overrides: StateOverride | None
    ) -> AccessListResultView:
        return AccessListResultView(access_list=(), gas_used=21_000)

    async def build_payload(
        self,
        parent_hash: bytes,
        attributes: PayloadAttributes,
        transactions: Sequence[bytes] | None,
        extra_data: bytes,
    ) -> BuiltPayloadView:
        raise BlockNotFound(f"unknown parent 0x{parent_hash.hex()}")

    async def fork_config(self) -> EthConfigView:
        fork = ForkConfigView(0, None, self.chain, b"\x00" * 4, {}, {})
        return EthConfigView(current=fork, next=None, last=None)

    async def trace_call(
        self, request: CallRequest, block: BlockId, overrides: StateOverride | None, config: TraceConfig
    ) -> TraceView:
        return StructTraceView(
            gas=21_000, failed=False, return_value=self.call_handler(request), struct_logs=()
        )


# --- driving the ASGI app without a server ------------------------------------------


def post(
    app: Any, body: bytes | str, headers: dict[str, str] | None = None, path: str = "/"
) -> httpx.Response:
    """POST ``body`` to the app through httpx's ASGI transport (no sockets)."""

    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
            return await client.post(
                path, content=body, headers=headers or {"content-type": "application/json"}
            )

    return asyncio.run(go())


def request(app: Any, method: str, path: str = "/", headers: dict[str, str] | None = None) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
            return await client.request(method, path, headers=headers)

    return asyncio.run(go())


def rpc(app: Any, method: str, *params: Any, request_id: Any = 1) -> Any:
    """One JSON-RPC call; returns the decoded response object."""
    body = orjson.dumps({"jsonrpc": "2.0", "id": request_id, "method": method, "params": list(params)})
    return post(app, body).json()


def as_backend(fake: FakeBackend) -> RpcBackend:
    """Also a static check (mypy) that the fake satisfies the protocol."""
    return fake
