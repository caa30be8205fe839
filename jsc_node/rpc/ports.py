"""The port the JSON-RPC layer reads and writes through: what ``rpc/`` needs from the execution side.

``ChainReads`` answers questions about the chain, the state, the pool and the node; nothing it does
changes them (``call``, ``estimate_gas``, ``simulate_v1`` and ``build_payload`` execute on scratch
state that is thrown away). ``NodeWrites`` is everything a JSON-RPC client can change: a
transaction into the pool, a validator vote. ``RpcBackend`` is both; the execution side's
``jsc_node.state.backend.NodeBackend`` satisfies it structurally (no import of this module there),
and tests/unit/test_rpc_fake.py gives an in-memory one. The values exchanged are the neutral views of
``jsc_node.views``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

from jsc_node.views import (
    AccessListResultView,
    AccountProofView,
    AttestationView,
    BlockId,
    BlockTraceEntry,
    BlockView,
    BuiltPayloadView,
    CallRequest,
    EthConfigView,
    FeeHistoryView,
    GovernanceEventView,
    LogFilter,
    LogView,
    PayloadAttributes,
    ReceiptView,
    SimulatedBlock,
    SimulateRequest,
    StateOverride,
    SyncStatus,
    TraceConfig,
    TraceView,
    TxPoolContent,
    TxView,
)


class ChainReads(Protocol):
    """What the JSON-RPC layer needs from the execution side. Read-only except ``send_raw_transaction``.

    All methods are coroutines, called from the uvicorn event loop, possibly concurrently. Cheap
    reads can answer from memory; slow work (``call``, ``estimate_gas``, ``get_logs`` over many
    blocks) may run in a thread or process of the implementation's choosing.

    Errors: raise the ``jsc_node.errors`` / this module's exceptions named per method, with geth's
    message. The RPC layer maps them to JSON-RPC codes (``rpc/codes.py``):
    ``BlockNotFound`` -> -32000 (``"header not found"``), ``InvalidTransaction`` -> -32000,
    ``ExecutionReverted`` -> 3 with the revert data, ``ExecutionFailed`` -> -32000,
    ``LogQueryLimitExceeded`` -> -32005, any other ``JscError`` -> -32000 with its message,
    anything else -> -32603 internal error (logged, message hidden).
    "Not found" for blocks/transactions/receipts is ``None``, not an error.
    """

    def read_snapshot(self) -> AbstractContextManager[None]:
        """Inside it, every read answers from one head (the dispatcher wraps each request and each
        batch in one). That head never moves back between requests, and no receipt, log,
        transaction or block above it is shown: once an answer has shown block B, later
        ``latest`` reads are at height >= B and ``pending`` nonces count B (read-your-writes)."""
        ...

    # -- chain facts --------------------------------------------------------

    async def chain_id(self) -> int:
        """The EIP-155 chain id (also answered as ``net_version``)."""
        ...

    async def client_version(self) -> str:
        """``web3_clientVersion``, e.g. ``"jsc-node/v0.1.0/linux-amd64/python3.11.7"``."""
        ...

    async def head_number(self) -> int:
        """Number of the newest committed block (``eth_blockNumber``)."""
        ...

    async def resolve_block(self, block: BlockId) -> int | None:
        """The canonical block number ``block`` names, or ``None`` if there is no such block.

        ``latest``/``pending``/``safe``/``finalized`` -> head (a number names a committed block;
        the pending block itself is ``pending_block``); ``earliest`` -> 0; a number -> itself
        if ``<= head``; a hash -> its number if the block is known (and canonical when
        ``require_canonical``; under QBFT every known block is canonical).
        """
        ...

    async def syncing(self) -> SyncStatus | None:
        """``None`` when not catching up with peers (``eth_syncing`` -> ``false``)."""
        ...

    async def peer_count(self) -> int:
        """Connected consensus/gossip peers."""
        ...

    async def listening(self) -> bool:
        """True while the p2p host accepts connections (``net_listening``)."""
        ...

    # -- blocks and transactions (None when not found) ------------------------

    async def block_by_number(self, number: int, full_txs: bool) -> BlockView | None:
        """The canonical block at ``number``; ``None`` beyond head.

        ``full_txs``: ``transactions`` holds :class:`TxView` (with block fields set) instead of hashes.
        """
        ...

    async def block_by_hash(self, block_hash: bytes, full_txs: bool) -> BlockView | None:
        """The block with this 32-byte hash, or ``None``."""
        ...

    async def pending_block(self, full_txs: bool) -> BlockView:
        """The block this node would build next from its pool (the ``pending`` tag): number
        head + 1, parent the head, the pool's executable transactions in inclusion order; its
        view has ``pending`` set. State reads at ``pending`` answer from its post-state."""
        ...

    async def pending_receipts(self) -> list[ReceiptView]:
        """The receipts of ``pending_block``'s transactions, in order."""
        ...

    async def block_transaction_count(self, number: int) -> int | None:
        """Number of transactions in canonical block ``number``; ``None`` beyond head."""
        ...

    async def transaction_by_hash(self, tx_hash: bytes) -> TxView | None:
        """A mined transaction (block fields set), else a pool transaction (block fields ``None``),
        else ``None``."""
        ...

    async def transaction_by_block_and_index(self, number: int, index: int) -> TxView | None:
        """The ``index``-th transaction of canonical block ``number``; ``None`` if either is out of range."""
        ...

    async def receipt(self, tx_hash: bytes) -> ReceiptView | None:
        """The receipt of a mined transaction; ``None`` if unknown or still pending."""
        ...

    async def block_receipts(self, number: int) -> list[ReceiptView] | None:
        """All receipts of canonical block ``number`` in order (``[]`` for an empty block);
        ``None`` beyond head."""
        ...

    # -- state (BlockNotFound when the block does not exist) ------------------

    async def balance(self, address: bytes, block: BlockId) -> int:
        """Wei held by ``address`` (0 for an unknown account) in the state after ``block``.

        Raises ``BlockNotFound("header not found")`` when ``block`` does not resolve (and
        ``BlockNotFound("hash is not currently canonical")`` for a non-canonical hash with
        ``require_canonical``). The same for every state read below.
        """
        ...

    async def nonce(self, address: bytes, block: BlockId) -> int:
        """The account nonce; for ``pending``, the next nonce counting this node's pool
        transactions from ``address`` (what wallets use for their next transaction)."""
        ...

    async def code(self, address: bytes, block: BlockId) -> bytes:
        """Code at ``address`` (``b""`` if none; an EIP-7702 delegation designator as stored)."""
        ...

    async def storage_at(self, address: bytes, slot: bytes, block: BlockId) -> bytes:
        """The 32-byte value of storage ``slot`` (32 bytes, left-padded), zero bytes if unset."""
        ...

    # -- execution ------------------------------------------------------------

    async def call(self, request: CallRequest, block: BlockId, overrides: StateOverride | None) -> bytes:
        """Execute ``request`` on a scratch copy of the state after ``block`` (plus ``overrides``)
        with that block's successor environment; return the output. Nothing is persisted.

        Raises ``ExecutionReverted(data)`` on REVERT (``data`` the revert bytes, possibly empty);
        ``ExecutionFailed("out of gas")`` etc. for other EVM failures; ``InvalidTransaction`` for
        checks before execution, in geth's words (``"insufficient funds for gas * price + value:
        address 0x.. have 0 want 1000"``, ``"intrinsic gas too low: have 0, want 21000"``,
        ``"nonce too high: ..."``, ``"max fee per gas less than block base fee: ..."``);
        ``BlockNotFound``. Gas is capped by the node's ``rpc_gas_cap``.
        """
        ...

    async def estimate_gas(
        self, request: CallRequest, block: BlockId, overrides: StateOverride | None
    ) -> int:
        """The lowest gas limit with which ``request`` succeeds (binary search as geth does).

        Raises ``ExecutionReverted(data)`` if it reverts even with the cap, ``InvalidTransaction``
        (e.g. ``"gas required exceeds allowance (30000000)"``, ``"insufficient funds for transfer"``),
        ``ExecutionFailed``, ``BlockNotFound``.
        """
        ...

    async def fill_transaction(self, request: CallRequest) -> tuple[bytes, TxView]:
        """``eth_fillTransaction`` (geth ``FillTransaction``): ``request`` with its defaults filled
        on the head (fees as ``eth_maxPriorityFeePerGas`` and twice the head's base fee, the
        pending nonce, the estimate as gas, the chain id), as an unsigned transaction: its
        encoding with v = r = s = 0 and its view (``sender`` the request's ``from``).

        Raises ``InvalidTransaction`` in geth's words (``"both gasPrice and authorizationList
        specified"``, ``"contract creation without any data provided"`` ...) and what
        ``estimate_gas`` raises.
        """
        ...

    async def gas_price(self) -> int:
        """Suggested legacy gas price in wei (``eth_gasPrice``): base fee of the next block plus
        ``max_priority_fee()``, and at least the node's ``min_gas_price``."""
        ...

    async def max_priority_fee(self) -> int:
        """Suggested priority fee in wei (``eth_maxPriorityFeePerGas``)."""
        ...

    async def fee_history(self, count: int, newest: int, percentiles: Sequence[float]) -> FeeHistoryView:
        """Fee data for the ``count`` blocks ending at ``newest`` (both already checked:
        ``1 <= count <= newest + 1``, ``newest <= head``). ``percentiles`` are ascending in [0, 100];
        when empty, ``reward`` is ``None``."""
        ...

    async def get_logs(self, query: LogFilter) -> list[LogView]:
        """Logs matching ``query`` in block order, then log index.

        Raises ``LogQueryLimitExceeded`` when the range or the result count is over the node's limit.
        """
        ...

    # -- pool -----------------------------------------------------------------

    async def txpool_content(self) -> TxPoolContent:
        """Everything in the pool (``txpool_content``); pool ``TxView``s have no block fields."""
        ...

    async def txpool_status(self) -> tuple[int, int]:
        """``(pending, queued)`` counts."""
        ...

    # -- admin (geth/Besu admin_*; the p2p view the consensus process reports) -----

    async def admin_node_info(self) -> dict[str, Any]:
        """This node: libp2p peer ID (``id``), client name, validator ``address``, listen
        multiaddrs and the chain (``protocols.jsc``: network id, genesis and head)."""
        ...

    async def admin_peers(self) -> list[dict[str, Any]]:
        """Connected peers: ``id`` (peer ID), ``address`` (their key's Ethereum address) and
        ``network`` (``remoteAddress``, ``inbound``)."""
        ...

    async def admin_change_log_level(self, level: int, loggers: tuple[str, ...]) -> None:
        """Set ``level`` (Python's) on ``loggers`` (none: the node's own and the root) in every
        process of this node."""
        ...

    async def qbft_pending_votes(self) -> Mapping[bytes, bool]:
        """This node's votes not yet discarded, the registry policy's drop votes among them:
        address -> add."""
        ...

    async def qbft_validators(self, block: BlockId) -> tuple[bytes, ...] | None:
        """The validators of ``block`` (from its extraData), ascending; ``None`` if no such block."""
        ...

    async def qbft_signer_metrics(self, start: int, end: int) -> list[tuple[bytes, int, int]]:
        """(validator, blocks proposed, last block proposed) over blocks ``start..end``."""
        ...

    # -- JSC (the validator registry; every method raises ``NoValidatorRegistry`` when the
    # genesis has no ``config.jsc``) ----------------------------------------------

    async def jsc_validators(self, block: BlockId) -> list[tuple[bytes, AttestationView | None]] | None:
        """The validators of ``block`` (as ``qbft_validators``), each with its attestation in the
        registry's state after that block (``None`` when it has none); ``None`` if no such block."""
        ...

    async def jsc_attestation(self, address: bytes, block: BlockId) -> AttestationView | None:
        """``address``'s attestation after ``block``, ``None`` when it has none. Raises
        ``BlockNotFound`` for an unknown block."""
        ...

    async def jsc_governance_events(self, first: int, last: int) -> list[GovernanceEventView]:
        """The registry's events in blocks ``first..last`` (checked as for ``get_logs``), decoded.
        Raises ``LogQueryLimitExceeded`` as ``get_logs`` does."""
        ...

    # -- debug, proofs, tracing, payload building -------------------------------

    async def raw_header(self, number: int) -> bytes | None:
        """RLP of canonical header ``number`` (``debug_getRawHeader``); ``None`` beyond head."""
        ...

    async def raw_block(self, number: int) -> bytes | None:
        """RLP of canonical block ``number`` (``debug_getRawBlock``); ``None`` beyond head."""
        ...

    async def raw_receipts(self, number: int) -> list[bytes] | None:
        """Consensus encodings (EIP-2718 for typed) of block ``number``'s receipts; ``None`` beyond head."""
        ...

    async def raw_transaction(self, tx_hash: bytes) -> bytes | None:
        """Canonical encoding of a mined or pooled transaction; ``None`` if unknown."""
        ...

    async def trace_transaction(self, tx_hash: bytes, config: TraceConfig) -> TraceView | None:
        """Re-execute a mined transaction (after its block's earlier ones) under a tracer;
        ``None`` if the transaction is not mined."""
        ...

    async def trace_block(self, block: BlockId, config: TraceConfig) -> list[BlockTraceEntry]:
        """Trace every transaction of ``block`` in order (by hash: any known block, canonical or not).

        Raises ``BlockNotFound`` in geth's words: ``"block #5 not found"``, ``"block 0x.. not
        found"``, ``"genesis is not traceable"``."""
        ...

    async def account_proof(self, address: bytes, slots: Sequence[bytes], block: BlockId) -> AccountProofView:
        """EIP-1186 proof of ``address`` and its 32-byte ``slots`` against ``block``'s state root."""
        ...

    async def create_access_list(
        self, request: CallRequest, block: BlockId, overrides: StateOverride | None
    ) -> AccessListResultView:
        """``eth_createAccessList``: the accessed addresses and slots (sender, recipient and
        precompiles left out, as geth does) and the gas used with that list."""
        ...

    async def build_payload(
        self,
        parent_hash: bytes,
        attributes: PayloadAttributes,
        transactions: Sequence[bytes] | None,
        extra_data: bytes,
    ) -> BuiltPayloadView:
        """``testing_buildBlockV1``: build (never commit) a block on ``parent_hash`` from the given
        raw transactions, or from the pool when ``None``. Raises ``InvalidTransaction`` when a given
        transaction does not apply, ``BlockNotFound`` for an unknown parent."""
        ...

    async def fork_config(self) -> EthConfigView:
        """EIP-7910 ``eth_config``: the fork in force at head, and the next and last scheduled."""
        ...

    async def trace_call(
        self, request: CallRequest, block: BlockId, overrides: StateOverride | None, config: TraceConfig
    ) -> TraceView:
        """``debug_traceCall``: ``call`` under a tracer (same state, environment and checks)."""
        ...

    async def simulate_v1(self, request: SimulateRequest, block: BlockId) -> list[SimulatedBlock]:
        """``eth_simulateV1``: execute ``request.blocks`` on top of ``block`` on scratch state (never
        committed). Raises a ``jsc_node.errors.SimulationError`` subclass for a request that cannot
        be simulated (block order, nonce, funds, gas ...), ``BlockNotFound`` for an unknown base."""
        ...


class NodeWrites(Protocol):
    """What a JSON-RPC client may change: the pool (``send_raw_transaction``) and this validator's
    votes (``qbft_*``). Same error conventions as ``ChainReads``."""

    async def send_raw_transaction(self, raw: bytes) -> bytes:
        """Decode, validate and add a signed transaction (the canonical or EIP-4844 network form)
        to the pool; return its 32-byte hash.

        Raises ``InvalidTransaction`` with geth's message: ``"already known"``, ``"nonce too low:
        next nonce 5, tx nonce 3"``, ``"replacement transaction underpriced"``, ``"insufficient
        funds for gas * price + value: ..."``, ``"intrinsic gas too low"``, ``"exceeds block gas
        limit"``, ``"transaction underpriced: ..."``, ``"txpool is full"``, ``"invalid sender"``,
        ``"only replay-protected (EIP-155) transactions allowed over RPC"``, and for bytes that do
        not decode, the decoder's words (``"typed transaction too short"``, ``"rlp: ..."``).
        """
        ...

    # -- PERM (Besu's perm_* API, accounts) -----------------------------------

    async def perm_accounts_allowlist(self) -> tuple[bytes, ...]:
        """The local account allowlist, in file order. Raises ``AllowlistEditError`` ("Account
        allowlist has not been enabled") without --permissions-accounts-config-file-enabled."""
        ...

    async def perm_add_accounts(self, entries: list[Any]) -> None:
        """Add ``entries`` (0x-address strings as the client sent them) to the local list and its
        file; ``AllowlistEditError`` with Besu's words for a refusal (nothing changes then)."""
        ...

    async def perm_remove_accounts(self, entries: list[Any]) -> None:
        """Remove ``entries`` from the local list and its file, as ``perm_add_accounts``."""
        ...

    async def perm_reload(self) -> None:
        """Read the local list's file again (``AllowlistEditError`` if it is bad: the previous list stays)."""
        ...

    # -- QBFT (Besu's qbft_* API) ---------------------------------------------

    async def qbft_propose_vote(self, address: bytes, add: bool) -> None:
        """Record this node's vote to add (True) or drop (False) ``address``; its proposals carry
        it until it is discarded. ``VoteRefused`` (nothing recorded) on a chain with ``config.jsc``
        for an add vote of a non-validator without a valid attestation, or a validator the
        registry policy votes out."""
        ...

    async def qbft_discard_vote(self, address: bytes) -> bool:
        """Withdraw this node's vote about ``address``; False if there was none; ``VoteRefused``
        for a drop vote the registry policy holds."""
        ...


class RpcBackend(ChainReads, NodeWrites, Protocol):
    """The whole port, as ``rpc/app.py`` and ``rpc/dispatch.py`` take it."""
