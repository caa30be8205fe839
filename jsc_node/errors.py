"""Every error jsc-node raises on purpose.

    JscError
    ├── ConfigError             bad flag, env var or config file
    ├── GenesisError            bad genesis.json (names the field)
    ├── StorageError            LevelDB trouble
    │   ├── DataDirLockedError  another process holds the data dir
    │   └── StoredDataError     a stored value is missing or does not hash to its key (export, verify)
    ├── SeamError               the execution seam failed (peer gone, bad frame)
    ├── InvalidBlock            a block breaks a rule (got/expected where it applies)
    │   └── InvalidSeal
    ├── InvalidTransaction      a transaction is refused by the pool (geth's words)
    │   └── SenderNotAuthorized a sender no account allowlist allows (Besu's -32007)
    ├── AllowlistEditError      perm_add/removeAccounts... refused (Besu's words, -32000)
    ├── ExecutionReverted       eth_call / eth_estimateGas reverted (carries revert data)
    ├── ExecutionFailed         eth_call / eth_estimateGas failed without REVERT
    │   └── CallTimedOut        ... ran past --rpc-evm-timeout
    ├── LogQueryLimitExceeded   eth_getLogs over the node's limits
    ├── SimulationError         eth_simulateV1 refusals (Sim*: nonce, funds, block order ...)
    ├── KeystoreError / DevToolsInputError   CLI tools' bad input
    ├── AttestationError        a validator attestation field breaks its rule (jsc_node/governance)
    ├── NoValidatorRegistry     jsc_* asked of a chain whose genesis has no config.jsc
    ├── VoteRefused             a qbft_* vote the validator-registry policy does not allow (names why)
    ├── DependencyMismatch      a patched library is not as pinned (jsc_node/pins.py)
    │   ├── PinnedVersionMismatch   another version installed (package, found, expected)
    │   └── PatchTargetMissing      an internal a runtime patch replaces is gone (names it)
    ├── BlockNotFound / TransactionNotFound
    ├── ImportFailed            `jsc-node import` stopped at an invalid block (number, hash, reason)
    ├── ExportFailed            `jsc-node export` cannot read its range or write its file
    ├── VerifyFailed            `jsc-node verify` cannot get the chain it checks (not a violation)
    ├── P2PError                the libp2p host or gossip failed (bad multiaddr, listen failure)
    │   ├── PeerIdentityError   a peer ID whose secp256k1 key cannot be read from it
    │   ├── SyncError           a block sync request failed (timeout, reset, bad answer)
    │   └── InvalidGossip       a gossip message breaks its topic's rules (size, shape)
    ├── InvalidMessage          a consensus message breaks a rule (see the consensus section)
    ├── FilterNotFound / FilterLimitExceeded           eth_newFilter and kin
    └── SubscriptionNotFound / UnknownSubscription / SubscriptionLimitExceeded / InvalidFilter
                                eth_subscribe and kin
    InvalidParams (ValueError)  a JSON-RPC parameter breaks its encoding rules (-32602)
    └── ArgumentError           ... of one positional argument (``invalid argument N: ...``)
    MethodNotFound, InvalidRequest (Exception)   raised by the JSON-RPC dispatcher only
    Unauthorized (Exception)    the caller's JWT does not permit the method (rpc/auth.py, -40100)
    UnknownTracer (ValueError)  a debug_trace* tracer this node does not implement

Foreign errors (py-evm, plyvel, rlp) are translated where they enter: ``raise X(...) from exc``.
"""

from __future__ import annotations

from typing import Any


class JscError(Exception):
    """Root of every error jsc-node raises on purpose."""


class GotExpected(JscError):
    """An error that names what was found and what a rule wanted."""

    def __init__(self, what: str, got: Any = None, expected: Any = None) -> None:
        self.what = what
        self.got = got
        self.expected = expected
        if got is None and expected is None:
            super().__init__(what)
        else:
            super().__init__(f"{what}: got {_show(got)}, expected {_show(expected)}")


def _show(value: Any) -> str:
    if isinstance(value, bytes):
        return "0x" + value.hex()
    return repr(value) if isinstance(value, str) else str(value)


class ConfigError(JscError):
    pass


class GenesisError(JscError):
    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        self.problem = problem
        super().__init__(f"genesis field {field!r}: {problem}")


class StorageError(JscError):
    pass


class DataDirLockedError(StorageError):
    pass


class StoredDataError(StorageError):
    """A value a data dir should hold is missing or is not what its key says (its hash)."""


class SeamError(JscError):
    pass


class InvalidBlock(GotExpected):
    pass


class InvalidSeal(InvalidBlock):
    pass


class InvalidTransaction(JscError):
    """Refused by the pool or the executor; the message uses geth's words."""


class SenderNotAuthorized(InvalidTransaction):
    """The sender is on neither this node's local account allowlist nor (when the chain has one)
    the chain's AccountAllowlist: Besu's TX_SENDER_NOT_AUTHORIZED, -32007 over JSON-RPC. ``reason``
    says which list refused it (logged; the RPC message is Besu's fixed words)."""

    MESSAGE = "Sender account not authorized to send transactions"

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(self.MESSAGE)


class AllowlistEditError(JscError):
    """perm_addAccountsToAllowlist and kin refused the request; the message is Besu's
    (RpcErrorType ACCOUNT_ALLOWLIST_*, ALLOWLIST_*), -32000 over JSON-RPC."""


class ExecutionReverted(JscError):
    def __init__(self, data: bytes, reason: str | None = None) -> None:
        self.data = data
        self.reason = reason
        text = "execution reverted"
        if reason:
            text += f": {reason}"
        super().__init__(text)


class BlockNotFound(JscError):
    pass


class TransactionNotFound(JscError):
    pass


class ImportFailed(JscError):
    """``jsc-node import`` stopped at a block that breaks a rule (or does not decode)."""

    def __init__(self, number: int | None, block_hash: bytes | None, reason: str, source: str = "") -> None:
        self.number = number
        self.block_hash = block_hash
        self.reason = reason
        where = "block" if number is None else f"block {number}"
        if block_hash is not None:
            where += f" 0x{block_hash.hex()}"
        if source:
            where += f" ({source})"
        super().__init__(f"import stopped at invalid {where}: {reason}")


class ExportFailed(JscError):
    pass


class VerifyFailed(JscError):
    """``jsc-node verify`` could not fetch or read the chain (a violation is a finding, not this)."""


class ExecutionFailed(JscError):
    """eth_call / eth_estimateGas failed without REVERT (out of gas, invalid opcode, ...);
    the message is geth's ("out of gas", "invalid opcode: INVALID", ...)."""


class CallTimedOut(ExecutionFailed):
    """The call ran past the RPC EVM time limit (geth's words)."""


class LogQueryLimitExceeded(JscError):
    """eth_getLogs asked for too much; the message states the limit."""


class UnknownTracer(ValueError):
    """A ``debug_trace*`` ``tracer`` name this node does not implement; the backend answers it as
    ``ExecutionFailed`` (-32000, geth's ``tracer not found``)."""


class KeystoreError(JscError):
    """A key file, keystore file or password cannot be used."""


class DevToolsInputError(JscError):
    """A validator list, extraData or other input to a dev tool is malformed."""


class AttestationError(JscError):
    """A validator attestation field (corporate number, jurisdiction, region, entity name, document
    hash) breaks the rule the ValidatorRegistry contract applies; the message names the field."""

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        self.problem = problem
        super().__init__(f"{field}: {problem}")


class NoValidatorRegistry(JscError):
    """A ``jsc_*`` method asked of a chain whose genesis has no ``config.jsc`` (-32000)."""

    def __init__(self) -> None:
        super().__init__("no validator registry in this chain's genesis (config.jsc)")


class VoteRefused(JscError):
    """``qbft_proposeValidatorVote`` / ``qbft_discardValidatorVote`` refused by the chain's
    validator-registry policy (``config.jsc``): an add vote for an address without a valid
    attestation, or a change to a vote the policy holds. Nothing is held or withdrawn (-32000)."""

    def __init__(self, address: bytes, problem: str) -> None:
        self.address = address
        self.problem = problem
        super().__init__(problem)


class DependencyMismatch(JscError):
    """A library whose internals jsc-node replaces at run time is not the one it was written for
    (jsc_node/pins.py): the process refuses to start rather than run half-patched."""


class PinnedVersionMismatch(DependencyMismatch):
    def __init__(self, package: str, found: str, expected: str) -> None:
        self.package = package
        self.found = found
        self.expected = expected
        super().__init__(
            f"{package} {found} is installed, but jsc-node patches the internals of {package} {expected}"
            f" (pinned in pyproject.toml): install {package}=={expected}"
        )


class PatchTargetMissing(DependencyMismatch):
    def __init__(self, patch: str, target: str) -> None:
        self.patch = patch
        self.target = target
        super().__init__(f"{patch} cannot be installed: {target} is missing")


# --- p2p ---------------------------------------------------------------------
# Raised by jsc_node/p2p; libp2p's own exceptions are translated where they enter.


class P2PError(JscError):
    pass


class PeerIdentityError(P2PError):
    """A peer ID that does not embed a secp256k1 public key (jsc-node peer IDs always do)."""


class SyncError(P2PError):
    """A block sync request that failed: timeout, reset, malformed answer."""


class InvalidGossip(P2PError, GotExpected):
    """A gossip message that breaks its topic's rules: too large, wrong shape, wrong topic."""


# --- eth_simulateV1 ----------------------------------------------------------
# Raised by jsc_node/state/serve/simulate.py; rpc/codes.py gives each its execution-apis code.


class SimulationError(JscError):
    """A simulation request that cannot be carried out (the whole request fails)."""


class SimNonceTooLow(SimulationError):
    pass


class SimNonceTooHigh(SimulationError):
    pass


class SimInvalidTransaction(SimulationError):
    """A refusal geth gives no code of its own (nonce at 2^64-1, EIP-7623 calldata floor): -32603."""


class SimBaseFeeTooLow(SimulationError):
    """maxFeePerGas below the block's base fee (validation on)."""


class SimTipAboveFeeCap(SimulationError):
    pass


class SimIntrinsicGas(SimulationError):
    """Gas below the intrinsic cost."""


class SimInsufficientFunds(SimulationError):
    pass


class SimBlockGasLimitReached(SimulationError):
    pass


class SimBlockNumberOrder(SimulationError):
    """Block numbers must increase."""


class SimTimestampOrder(SimulationError):
    """Block timestamps must increase."""


class SimSenderNotEOA(SimulationError):
    pass


class SimMaxInitCodeSize(SimulationError):
    pass


class SimClientLimit(SimulationError):
    """Over the node's limits (too many blocks)."""


class SimInvalidParams(SimulationError):
    """A parameter only the simulator can judge (e.g. chainId mismatch, both state and stateDiff)."""


# --- consensus ---------------------------------------------------------------
# Raised by jsc_node/consensus validation; the caller decides to drop, penalise or halt.


class InvalidMessage(GotExpected):
    pass


class MalformedMessage(InvalidMessage):
    """Bytes that do not decode to a consensus message (bad RLP, wrong shape, unknown type)."""


class InvalidSignature(InvalidMessage):
    """A message or commit seal signature that does not recover, or recovers to someone else."""


class NotAValidator(InvalidMessage):
    """The signer is not in the validator set of the message's height."""


class WrongHeight(InvalidMessage):
    """A message for another height than the one being decided."""


class WrongRound(InvalidMessage):
    """A message for a round this state cannot accept (old round, or a round rule broken)."""


class WrongProposer(InvalidMessage):
    """A proposal signed by someone other than the round's proposer."""


class DigestMismatch(InvalidMessage):
    """A prepare, commit or certificate naming another block than the one it must name."""


class InvalidProposalBlock(InvalidMessage):
    """The proposed block does not fit: wrong number, parent or round in its extraData."""


class InvalidJustification(InvalidMessage):
    """A round-change or prepare justification that does not prove what it must (QBFT spec §
    justification: a quorum of round changes, and the prepares of the highest prepared round)."""


class DuplicateMessage(InvalidMessage):
    """A second, different message from one signer for one height/round/type (equivocation)."""


# --- JSON-RPC requests -----------------------------------------------------------
# Raised by jsc_node/rpc while it reads a request; rpc/codes.py gives each its JSON-RPC code.
# InvalidParams is a ValueError as the decoders' own errors are; MethodNotFound and InvalidRequest
# are not JscError: no handler raises them, only the dispatcher.


class InvalidParams(ValueError):
    """A request parameter breaks the encoding rules or a method's preconditions (-32602)."""


class ArgumentError(InvalidParams):
    """An :class:`InvalidParams` tied to one positional argument (geth: ``invalid argument N: ...``)."""

    def __init__(self, index: int, message: str) -> None:
        self.index = index
        super().__init__(f"invalid argument {index}: {message}")


class MethodNotFound(Exception):
    """An unknown method, or one of a namespace the transport does not serve (-32601)."""

    def __init__(self, method: str, message: str | None = None) -> None:
        super().__init__(message or f"the method {method} does not exist/is not available")


class InvalidRequest(Exception):
    """Not a JSON-RPC request object: bad ``jsonrpc``/``id``/``method``, empty or oversized batch (-32600)."""


class Unauthorized(Exception):
    """The request's JWT does not permit the method, or has expired since the WebSocket opened
    (Besu's ``UNAUTHORIZED``, -40100)."""

    def __init__(self) -> None:
        super().__init__("Unauthorized")


class FilterNotFound(JscError):
    """An id that names no installed filter (of the needed kind). geth: -32000 ``filter not found``."""

    def __init__(self) -> None:
        super().__init__("filter not found")


class FilterLimitExceeded(JscError):
    """Too many filters, or a filter dropped results because it was not polled in time (-32005)."""


class SubscriptionNotFound(JscError):
    """``eth_unsubscribe`` of an id this connection does not have (geth: -32000)."""

    def __init__(self) -> None:
        super().__init__("subscription not found")


class UnknownSubscription(JscError):
    """``eth_subscribe`` to a name this node does not serve (geth: -32601)."""

    def __init__(self, name: str) -> None:
        super().__init__(f'no "{name}" subscription in eth namespace')


class SubscriptionLimitExceeded(JscError):
    """Too many subscriptions on one connection (-32005)."""


class InvalidFilter(JscError):
    """Log criteria geth refuses for live logs (``pending``, or a from/to combination it cannot follow)."""
