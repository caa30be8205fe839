"""Every message that crosses the execution seam, as a frozen dataclass with typed fields: the
requests the consensus process sends, the answer each one gets, and the events the execution
process pushes. Bytes are bytes and numbers are ints here; jsc_node/seam/codec.py alone knows
how they look on the wire.

A request names its wire method (``method``) and the class of its answer (``reply``); an event
names itself (``name``). The tables at the bottom are what the codec and the server go by.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Generic, TypeVar


@dataclass(frozen=True)
class Response:
    """An answer of the execution process to one request."""


R = TypeVar("R", bound=Response, covariant=True)


@dataclass(frozen=True)
class Request(Generic[R]):
    """A question of the consensus process; ``reply`` is the class of its answer."""

    method: ClassVar[str]
    reply: ClassVar[type[Response]]


@dataclass(frozen=True)
class Event:
    """Pushed by the execution process, unasked, to the connections that subscribed to it."""

    name: ClassVar[str]


# -- answers --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ack(Response):
    """The request was carried out; there is nothing to tell (set_peers, set_sync, subscribe)."""


@dataclass(frozen=True)
class HeaderSummary(Response):
    """The fields of a header the consensus process reads."""

    number: int
    hash: bytes
    """The header's hash as the execution side's chain knows it (the BFT block hash)."""
    parent_hash: bytes
    timestamp: int
    coinbase: bytes
    extra_data: bytes
    gas_limit: int


@dataclass(frozen=True)
class HeadersReply(Response):
    headers: tuple[bytes, ...]
    """RLP of canonical headers from the requested start on, consecutive; fewer than asked for
    at the head (none past it)."""


@dataclass(frozen=True)
class BuiltBlock(Response):
    block: bytes
    """RLP of the block, unsealed (its extraData has no commit seals yet)."""
    hash: bytes
    number: int
    tx_count: int


@dataclass(frozen=True)
class BlockValid(Response):
    """The block executed and every header field matched; it stays cached for commit_block."""

    hash: bytes
    number: int


@dataclass(frozen=True)
class BlockCommitted(Response):
    """The block is the new head (written in one LevelDB batch)."""

    hash: bytes
    number: int


@dataclass(frozen=True)
class TxsAccepted(Response):
    accepted: int
    """How many of the relayed transactions the pool took (refusals are the sending peer's fault)."""


@dataclass(frozen=True)
class BlocksReply(Response):
    blocks: tuple[bytes, ...]
    """RLP of canonical blocks with their commit seals, consecutive from the requested start;
    empty when that block is not held."""


# -- parts of requests ----------------------------------------------------------------------------


@dataclass(frozen=True)
class P2PNode:
    """This node's libp2p identity (admin_nodeInfo)."""

    id: str
    """The libp2p peer ID (base58)."""
    address: bytes
    """The 20-byte address of the node key."""
    listen_addrs: tuple[str, ...]
    """Full multiaddrs (``/ip4/…/tcp/…/p2p/<peer id>``)."""


@dataclass(frozen=True)
class P2PPeer:
    """A connected peer (admin_peers)."""

    id: str
    address: bytes | None
    """The peer's 20-byte address, None when its peer ID carries no secp256k1 key."""
    remote_addrs: tuple[str, ...]
    inbound: bool


@dataclass(frozen=True)
class SyncRange:
    """eth_syncing's block numbers while the node catches up."""

    starting: int
    current: int
    highest: int


# -- requests -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HeadRequest(Request[HeaderSummary]):
    method = "head"
    reply = HeaderSummary


@dataclass(frozen=True)
class HeadersRequest(Request[HeadersReply]):
    method = "headers"
    reply = HeadersReply

    start: int
    count: int
    """At most this many headers (the execution side caps it at 1,024)."""


@dataclass(frozen=True)
class BuildBlockRequest(Request[BuiltBlock]):
    """Build a block on ``parent`` (which must be the head) from the pool's pending transactions."""

    method = "build_block"
    reply = BuiltBlock

    parent: bytes
    timestamp: int
    coinbase: bytes
    """The proposer's address."""
    extra_data: bytes
    """QBFT extraData without seals (validators, vote, round)."""


@dataclass(frozen=True)
class ValidateBlockRequest(Request[BlockValid]):
    """Execute a proposed block on scratch state; answered with the error InvalidBlock if it breaks a rule."""

    method = "validate_block"
    reply = BlockValid

    block: bytes
    """RLP of the proposed block."""


@dataclass(frozen=True)
class CommitBlockRequest(Request[BlockCommitted]):
    method = "commit_block"
    reply = BlockCommitted

    block: bytes
    """RLP of the block with its commit seals."""


@dataclass(frozen=True)
class RemoteTxsRequest(Request[TxsAccepted]):
    method = "remote_txs"
    reply = TxsAccepted

    txs: tuple[bytes, ...]
    """Raw transactions that peers gossiped (pooled with one journal fsync for the batch)."""


@dataclass(frozen=True)
class BlocksRequest(Request[BlocksReply]):
    """Block sync's server side: canonical blocks with their seals for a peer."""

    method = "blocks"
    reply = BlocksReply

    start: int
    count: int
    """At most this many (the execution side caps it at 128)."""
    max_bytes: int
    """No further block once the answer holds this many bytes (it holds at least one block)."""


@dataclass(frozen=True)
class SetPeersRequest(Request[Ack]):
    """The p2p view for net_peerCount, net_listening, admin_nodeInfo and admin_peers."""

    method = "set_peers"
    reply = Ack

    count: int
    listening: bool
    node: P2PNode | None
    peers: tuple[P2PPeer, ...]


@dataclass(frozen=True)
class SetSyncRequest(Request[Ack]):
    method = "set_sync"
    reply = Ack

    progress: SyncRange | None
    """None once caught up (eth_syncing answers false)."""


@dataclass(frozen=True)
class SubscribeRequest(Request[Ack]):
    """Push these events on this connection from now on. Before the answer come the events that
    describe the present: the pending count and every held vote."""

    method = "subscribe"
    reply = Ack

    events: tuple[str, ...]
    """``Event.name`` of each kind wanted."""


# -- events ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PendingChanged(Event):
    """The pool's count of executable transactions changed (a proposer stops waiting out the
    empty-block period when it is above zero)."""

    name = "pending_changed"

    count: int


@dataclass(frozen=True)
class LocalTxs(Event):
    """Transactions accepted over JSON-RPC, oldest first, for the consensus process to gossip
    (executable or waiting for a nonce gap: peers, and the next proposer, need them either way)."""

    name = "local_txs"

    txs: tuple[bytes, ...]


@dataclass(frozen=True)
class VoteProposed(Event):
    """qbft_proposeValidatorVote, or the registry policy's drop vote for a validator whose
    attestation is no longer valid: put this vote into the blocks this validator proposes."""

    name = "vote_proposed"

    address: bytes
    add: bool
    """True to add ``address`` to the validators, False to drop it."""


@dataclass(frozen=True)
class VoteDiscarded(Event):
    """qbft_discardValidatorVote, or the registry policy withdrawing a vote: withdraw the vote
    about ``address``."""

    name = "vote_discarded"

    address: bytes


@dataclass(frozen=True)
class HeadChanged(Event):
    """A block was committed and the pool has caught up with it."""

    name = "head_changed"

    number: int
    hash: bytes
    pending: int
    """The pool's count of executable transactions at this head."""


@dataclass(frozen=True)
class LogLevelChanged(Event):
    """admin_changeLogLevel: the consensus process sets the same levels as the execution process
    (jsc_node/logs.py change_levels)."""

    name = "log_level_changed"

    level: int
    """A Python logging level (logging.DEBUG is 10)."""
    loggers: tuple[str, ...]
    """Logger names; none: the root and the node's own loggers."""


REQUESTS: dict[str, type[Request[Response]]] = {
    cls.method: cls
    for cls in (
        HeadRequest,
        HeadersRequest,
        BuildBlockRequest,
        ValidateBlockRequest,
        CommitBlockRequest,
        RemoteTxsRequest,
        BlocksRequest,
        SetPeersRequest,
        SetSyncRequest,
        SubscribeRequest,
    )
}

EVENTS: dict[str, type[Event]] = {
    cls.name: cls
    for cls in (PendingChanged, LocalTxs, VoteProposed, VoteDiscarded, HeadChanged, LogLevelChanged)
}
