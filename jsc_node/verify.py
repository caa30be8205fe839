"""``jsc-node verify``: check a chain from its genesis without trusting the node that holds it.

The chain comes from a node over JSON-RPC (``debug_getRawBlock``, geth's method: each block's RLP
with its commit seals) or from a data dir's LevelDB (``export.StoredChain``, every stored value
checked against its hash). Either way it is replayed into a scratch data dir built from the
genesis file, each block through ``importer.ChainImporter.apply_block``, the path ``jsc-node
import`` takes:

- the sealed-block rule (``consensus.rules.validate_sealed_block``): number and parent link,
  timestamp, mixHash, coinbase a validator, the validator list in extraData equal to the set
  replayed from genesis (``consensus.validators.ValidatorHistory``), commit seals from a quorum
  of that set;
- on a chain with ``config.jsc``, issue 12's rule on validator votes (``Executor.validate_vote``,
  governance/votes.py), part of execution as on every node: each header vote that adds a validator
  is checked against the registry's attestations in the parent's replayed state. The report says
  ``attestations: checked``, or ``no validator registry on this chain`` without ``config.jsc``;
- the per-block rules of ``BLOCK_RULES`` (a hook for rules beyond execution; none today);
- re-execution (``Executor.validate_block``): every header field execution computes (state root,
  transactions and receipts roots, bloom, gas used, base fee ...) and py-evm's header rules.

The table of validators over time gives each validator's entity, jurisdiction and region as the
registry held them in the replayed state of the block where its stretch of service starts.

Over a data dir it also compares what the node stored with the replay: the canonical hash of each
block; the receipts stored under each block's receipts root (the replay recomputed that root) and
the transaction index of each of its transactions; and, after the last block, the whole state
under its state root (every account, storage and code node present and hashing to its key).

Decisions:
- The state at block N-1 can only come from replaying blocks 0..N-1 (no node is trusted for it),
  so ``--from N`` narrows what is reported as verified, not what is checked: blocks below N are
  fetched, replayed and checked as well, and a violation there is reported (it breaks the range).
- A violation in a block (it fails a rule or does not execute to its header) stops the replay:
  no later block can be executed on a state that is not the chain's. Differences between what a
  data dir stored and the replay (receipts, transaction index, state nodes) do not stop it; every
  one is listed. The report shows the first; ``--json`` lists them all.
"""

from __future__ import annotations

import json
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Protocol

import rlp
from eth.db.schema import SchemaV1
from eth_hash.auto import keccak

from jsc_node.consensus.block import decode_block
from jsc_node.errors import InvalidBlock, StoredDataError, VerifyFailed
from jsc_node.export import StoredChain, TrieReader, indexed_leaves, open_data_dir
from jsc_node.genesis import GenesisSpec
from jsc_node.governance import registry
from jsc_node.importer import (
    CHAINDATA_DIR,
    AppliedBlock,
    BlockRule,
    ChainImporter,
    identify_block,
    invalid_reason,
)
from jsc_node.state.evm.executor import Executor
from jsc_node.state.storage.leveldb import LevelDB

RPC_BATCH_BLOCKS = 32
"""Blocks per JSON-RPC batch: far below geth's and this node's batch limit (1,000 requests) and
the 5 MiB request limit; a batch of 32 full blocks is a few MiB of response."""
RPC_TIMEOUT_S = 30.0
MAX_JSON_VIOLATIONS = 1000
BLANK_ROOT = keccak(rlp.encode(b""))
EMPTY_CODE_HASH = keccak(b"")
DEBUG_API_HINT = (
    "start the node with the DEBUG namespace served, e.g. `jsc-node run --rpc-http-api "
    "ETH,NET,WEB3,DEBUG` (geth: --http.api eth,net,web3,debug)"
)


# --- attestations ------------------------------------------------------------------------------

ATTESTATIONS_CHECKED: Final = "checked"
"""The report's ``attestations`` on a chain with ``config.jsc``: every add vote was checked against
the registry in its parent's state, by execution (``Executor.validate_vote``)."""
NO_REGISTRY: Final = "no validator registry on this chain"
"""The report's ``attestations`` on a chain without ``config.jsc``."""

BLOCK_RULES: tuple[BlockRule, ...] = ()
"""Per-block rules beyond the sealed-block rule and execution (``ChainImporter``'s hook). The
attestation rule is not one: it is in execution, so every node, import and verify apply it."""

AttestationLookup = Callable[[bytes], registry.Attestation | None]


# --- the report ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Violation:
    number: int
    """The block at which it was found."""
    check: str
    """Which check: ``block`` (a rule or execution), ``stored block``, ``stored receipts``,
    ``stored transaction index``, ``stored state``, ``stored head``."""
    reason: str
    block_hash: bytes | None = None
    got: str | None = None
    expected: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "block": self.number,
            "hash": None if self.block_hash is None else "0x" + self.block_hash.hex(),
            "check": self.check,
            "reason": self.reason,
            "got": self.got,
            "expected": self.expected,
        }


@dataclass
class ValidatorService:
    """One stretch of consecutive heights whose validator set held ``address``, with the
    attestation the registry held for it at the stretch's first block (None: no registry on the
    chain, or no attestation)."""

    address: bytes
    first: int
    last: int
    entity: str | None = None
    jurisdiction: str | None = None
    region: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "address": "0x" + self.address.hex(),
            "fromBlock": self.first,
            "toBlock": self.last,
            "entity": self.entity,
            "jurisdiction": self.jurisdiction,
            "region": self.region,
        }


@dataclass
class VerifyReport:
    source: str
    genesis_hash: bytes
    first: int
    last: int
    verified: int = 0
    """Blocks of [max(first, 1), last] that passed every block check (block 0 is the genesis
    file's: compared with it, not counted)."""
    replayed: int = 0
    """Blocks executed into the scratch dir (those below ``first`` too)."""
    txs: int = 0
    elapsed_s: float = 0.0
    head_number: int = 0
    head_hash: bytes = b""
    state_root: bytes = b""
    attestations: str = ATTESTATIONS_CHECKED
    """``checked`` or ``no validator registry on this chain``."""
    validators: list[ValidatorService] = field(default_factory=list)
    violations: list[Violation] = field(default_factory=list)
    _open: dict[bytes, ValidatorService] = field(default_factory=dict, repr=False)

    @property
    def blocks_per_s(self) -> float:
        return self.replayed / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def txs_per_s(self) -> float:
        return self.txs / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def total(self) -> int:
        """Blocks to replay in all (1..last)."""
        return self.last

    def served(
        self,
        height: int,
        validators: Sequence[bytes],
        attestations: Callable[[], AttestationLookup | None] | None = None,
    ) -> None:
        """Record that ``validators`` validated block ``height``. A stretch that starts here takes
        entity, jurisdiction and region from ``attestations()`` (the registry at this block; made
        only when a stretch starts)."""
        lookup: AttestationLookup | None = None
        for address in validators:
            span = self._open.get(address)
            if span is not None and span.last == height - 1:
                span.last = height
                continue
            span = ValidatorService(address, height, height)
            if attestations is not None:
                if lookup is None:
                    lookup = attestations()
                found = lookup(address) if lookup is not None else None
                if found is not None:
                    span.entity, span.jurisdiction, span.region = (
                        found.entity_name,
                        found.jurisdiction,
                        found.region,
                    )
            self.validators.append(span)
            self._open[address] = span

    def summary_line(self) -> str:
        return f"verify: {self.verified} blocks verified, {len(self.violations)} violations"

    def as_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "genesis": "0x" + self.genesis_hash.hex(),
            "fromBlock": self.first,
            "toBlock": self.last,
            "blocksVerified": self.verified,
            "blocksReplayed": self.replayed,
            "transactions": self.txs,
            "elapsedSeconds": round(self.elapsed_s, 3),
            "blocksPerSecond": round(self.blocks_per_s, 1),
            "txPerSecond": round(self.txs_per_s, 1),
            "head": {
                "number": self.head_number,
                "hash": "0x" + self.head_hash.hex(),
                "stateRoot": "0x" + self.state_root.hex(),
            },
            "attestations": self.attestations,
            "validators": [v.as_json() for v in self.validators],
            "violations": [v.as_json() for v in self.violations[:MAX_JSON_VIOLATIONS]],
            "firstViolation": self.violations[0].as_json() if self.violations else None,
        }

    def table(self) -> str:
        lines = [
            f"source          {self.source}",
            f"genesis         0x{self.genesis_hash.hex()}",
            f"blocks          {self.first}..{self.last}: {self.verified} verified "
            f"({self.replayed} replayed from genesis, {self.txs} txs, {self.elapsed_s:.1f} s, "
            f"{self.blocks_per_s:.1f} blocks/s, {self.txs_per_s:.0f} tx/s)",
            f"head            block {self.head_number} 0x{self.head_hash.hex()} "
            f"state 0x{self.state_root.hex()}",
            "attestations    "
            + (
                "checked (every vote adding a validator, against the registry in its parent's state)"
                if self.attestations == ATTESTATIONS_CHECKED
                else self.attestations
            ),
            "",
            "validators over time",
            f"  {'address':<42}  {'blocks':<17}  {'entity':<10}  {'jurisdiction':<12}  region",
        ]
        for v in self.validators:
            lines.append(
                f"  0x{v.address.hex()}  {f'{v.first}..{v.last}':<17}  {v.entity or '-':<10}  "
                f"{v.jurisdiction or '-':<12}  {v.region or '-'}"
            )
        lines.append("")
        if not self.violations:
            lines.append("first violation none")
        else:
            first = self.violations[0]
            block = f"block {first.number}" + (
                f" 0x{first.block_hash.hex()}" if first.block_hash is not None else ""
            )
            lines.append(f"first violation {block}: {first.check}: {first.reason}")
            if first.got is not None or first.expected is not None:
                lines.append(f"  got      {first.got}")
                lines.append(f"  expected {first.expected}")
            if len(self.violations) > 1:
                lines.append(f"  ... and {len(self.violations) - 1} more (--json lists them)")
        return "\n".join(lines)


VerifyProgress = Callable[[VerifyReport], None]


# --- sources ---------------------------------------------------------------------------------


class ChainSource(Protocol):
    """Where the chain under check comes from."""

    description: str

    def head_number(self) -> int: ...

    def blocks(self, first: int, last: int) -> Iterator[tuple[int, bytes]]:
        """(number, block RLP) in order; raises VerifyFailed if it cannot fetch, StoredDataError
        (a violation) if a stored block is not what its hash says."""
        ...

    def after_block(self, applied: AppliedBlock) -> list[Violation]:
        """What the source stored about a replayed block, compared with the replay."""
        ...

    def after_chain(self, executor: Executor) -> list[Violation]:
        """What the source stored about the last replayed block's state."""
        ...


class RpcChain:
    """A node over JSON-RPC: ``eth_blockNumber`` and ``debug_getRawBlock`` in batches."""

    def __init__(self, url: str, timeout_s: float = RPC_TIMEOUT_S, batch: int = RPC_BATCH_BLOCKS) -> None:
        if not url.startswith(("http://", "https://")):
            raise VerifyFailed(f"--rpc-url {url!r} is not an http:// or https:// URL")
        self.url = url
        self.description = url
        self.timeout_s = timeout_s
        self.batch = batch
        self._id = 0

    def _post(self, payload: object) -> Any:
        body = json.dumps(payload).encode()
        request = urllib.request.Request(
            self.url, data=body, headers={"Content-Type": "application/json"}, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                data = response.read()
        except urllib.error.HTTPError as exc:
            raise VerifyFailed(f"{self.url} answered HTTP {exc.code} {exc.reason}") from exc
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise VerifyFailed(f"cannot reach {self.url}: {reason}") from exc
        try:
            return json.loads(data)
        except ValueError as exc:
            raise VerifyFailed(f"{self.url} answered with something that is not JSON") from exc

    def _request(self, method: str, params: list[Any]) -> dict[str, Any]:
        self._id += 1
        return {"jsonrpc": "2.0", "id": self._id, "method": method, "params": params}

    def _result(self, answer: Any, method: str, params: list[Any]) -> Any:
        if not isinstance(answer, dict):
            raise VerifyFailed(f"{self.url}: {method} answered {str(answer)[:200]}")
        error = answer.get("error")
        if error is not None:
            code = error.get("code") if isinstance(error, dict) else None
            message = error.get("message") if isinstance(error, dict) else error
            if code == -32601:  # EIP-1474: method not found / not available
                raise VerifyFailed(f"{self.url} does not serve {method} ({message}): {DEBUG_API_HINT}")
            raise VerifyFailed(f"{self.url}: {method}{tuple(params)} failed: {message} (code {code})")
        return answer.get("result")

    def head_number(self) -> int:
        request = self._request("eth_blockNumber", [])
        result = self._result(self._post(request), "eth_blockNumber", [])
        try:
            return int(result, 16)
        except (TypeError, ValueError) as exc:
            raise VerifyFailed(f"{self.url}: eth_blockNumber answered {result!r}") from exc

    def blocks(self, first: int, last: int) -> Iterator[tuple[int, bytes]]:
        for start in range(first, last + 1, self.batch):
            numbers = list(range(start, min(start + self.batch, last + 1)))
            requests = [self._request("debug_getRawBlock", [hex(n)]) for n in numbers]
            answers = self._post(requests)
            if isinstance(answers, dict):  # the whole batch refused (too large, not served ...)
                self._result(answers, "debug_getRawBlock", [hex(numbers[0])])
                raise VerifyFailed(f"{self.url} answered a batch with one object")
            if not isinstance(answers, list):
                raise VerifyFailed(f"{self.url} answered a batch with {type(answers).__name__}")
            by_id = {a.get("id"): a for a in answers if isinstance(a, dict)}
            for number, request in zip(numbers, requests, strict=True):
                answer = by_id.get(request["id"])
                if answer is None:
                    raise VerifyFailed(f"{self.url} left debug_getRawBlock({number}) of a batch unanswered")
                result = self._result(answer, "debug_getRawBlock", [hex(number)])
                yield number, _hex_bytes(result)

    def after_block(self, applied: AppliedBlock) -> list[Violation]:
        return []

    def after_chain(self, executor: Executor) -> list[Violation]:
        return []


def _hex_bytes(value: object) -> bytes:
    """A served 0x-hex string's bytes; anything else reads as no bytes (the block check then
    reports it as a block that does not decode)."""
    if not isinstance(value, str) or not value.startswith(("0x", "0X")):
        return b""
    try:
        return bytes.fromhex(value[2:])
    except ValueError:
        return b""


class DataDirChain:
    """A data dir's own database (opened by ``export.open_data_dir``), compared with the replay."""

    def __init__(self, chain: StoredChain, description: str) -> None:
        self.chain = chain
        self.description = description
        self.db = chain.db

    def head_number(self) -> int:
        return self.chain.head_number()

    def blocks(self, first: int, last: int) -> Iterator[tuple[int, bytes]]:
        for block in self.chain.blocks(first, last):
            yield block.number, block.rlp

    def after_block(self, applied: AppliedBlock) -> list[Violation]:
        found: list[Violation] = []
        number = applied.number
        header = applied.executed.block.header
        stored_hash = self.chain.canonical_hash(number)
        if stored_hash != applied.hash:
            found.append(
                Violation(
                    number, "stored block", "canonical hash", applied.hash, _h(stored_hash), _h(applied.hash)
                )
            )
        # The replay recomputed this root from the block's transactions: a stored trie whose every
        # node hashes to its key under it holds exactly the replayed receipts.
        try:
            stored = indexed_leaves(
                TrieReader(self.db.get, f"block {number}: stored receipts"), bytes(header.receipt_root)
            )
            replayed = [bytes(r.encode()) for r in applied.executed.receipts]
            if stored != replayed:
                index = next(
                    (i for i, (a, b) in enumerate(zip(stored, replayed, strict=False)) if a != b),
                    min(len(stored), len(replayed)),
                )
                found.append(
                    Violation(
                        number,
                        "stored receipts",
                        f"receipt {index}",
                        applied.hash,
                        _h(stored[index]) if index < len(stored) else "none",
                        _h(replayed[index]) if index < len(replayed) else "none",
                    )
                )
        except StoredDataError as exc:
            found.append(Violation(number, "stored receipts", _strip_block(str(exc), number), applied.hash))
        for index, tx in enumerate(applied.executed.block.transactions):
            value = self.db.get(SchemaV1.make_transaction_hash_to_block_lookup_key(tx.hash))
            got = _tx_location(value)
            if got != (number, index):
                found.append(
                    Violation(
                        number,
                        "stored transaction index",
                        f"transaction 0x{bytes(tx.hash).hex()}",
                        applied.hash,
                        "none" if got is None else f"block {got[0]} index {got[1]}",
                        f"block {number} index {index}",
                    )
                )
        return found

    def after_chain(self, executor: Executor) -> list[Violation]:
        head = executor.head
        number = int(head.block_number)
        found: list[Violation] = []
        stored_head = self.db.get(SchemaV1.make_canonical_head_hash_lookup_key())
        if number == self.chain.head_number() and stored_head != bytes(head.hash):
            found.append(
                Violation(
                    number,
                    "stored head",
                    "canonical head hash",
                    bytes(head.hash),
                    "none" if stored_head is None else _h(stored_head),
                    _h(bytes(head.hash)),
                )
            )
        try:
            walk_state(self.db.get, bytes(head.state_root), f"block {number}: stored state")
        except StoredDataError as exc:
            found.append(Violation(number, "stored state", _strip_block(str(exc), number), bytes(head.hash)))
        return found


def _h(value: bytes) -> str:
    return "0x" + value.hex()


def _strip_block(text: str, number: int) -> str:
    return text.removeprefix(f"block {number}: ")


def _tx_location(value: bytes | None) -> tuple[int, int] | None:
    if value is None:
        return None
    try:
        items = rlp.decode(value)
        return int.from_bytes(items[0], "big"), int.from_bytes(items[1], "big")
    except (rlp.DecodingError, IndexError, TypeError):
        return None


def walk_state(get: Callable[[bytes], bytes | None], state_root: bytes, what: str) -> int:
    """Read the whole state under ``state_root`` with every node checked (``export.TrieReader``):
    the account trie, each account's storage trie, its code. Returns the accounts seen; raises
    StoredDataError at the first node missing or not hashing to its key."""
    accounts = TrieReader(get, what)
    storage = TrieReader(get, what + " (storage)")
    seen_storage: set[bytes] = set()
    count = 0
    for key, value in accounts.leaves(state_root):
        count += 1
        try:
            _nonce, _balance, storage_root, code_hash = rlp.decode(value)
        except (rlp.DecodingError, ValueError) as exc:
            raise StoredDataError(f"{what}: account 0x{key.hex()} does not decode") from exc
        if storage_root != BLANK_ROOT and storage_root not in seen_storage:
            seen_storage.add(storage_root)
            for _ in storage.leaves(storage_root):
                pass
        if code_hash != EMPTY_CODE_HASH:
            TrieReader(get, what + " (code)").node(code_hash)
    return count


# --- the replay ------------------------------------------------------------------------------


def verify_chain(
    source: ChainSource,
    spec: GenesisSpec,
    first: int | None = None,
    last: int | None = None,
    progress: VerifyProgress | None = None,
    rules: Sequence[BlockRule] = BLOCK_RULES,
) -> VerifyReport:
    """Replay ``source``'s blocks 1..last on ``spec``'s genesis in a scratch dir, checking each
    (see the module's docstring). Raises VerifyFailed if the chain cannot be had, or is on
    another genesis; everything found in it is a Violation in the report."""
    from jsc_node.state import startup

    startup.install()
    head = source.head_number()
    start = 0 if first is None else first
    end = head if last is None else last
    if start < 0 or start > end:
        raise VerifyFailed(f"--from {start} is after --to {end}" if start >= 0 else "--from is negative")
    if end > head:
        raise VerifyFailed(f"--to {end} is beyond the head of {source.description} (block {head})")
    with tempfile.TemporaryDirectory(prefix="jsc-verify-") as scratch:
        db = LevelDB(Path(scratch) / CHAINDATA_DIR)
        try:
            executor = Executor(db, spec)
            report = VerifyReport(source.description, bytes(executor.genesis.hash), start, end)
            if spec.jsc is None:
                report.attestations = NO_REGISTRY
            _replay(source, ChainImporter(executor, spec, rules), report, progress)
            head_header = executor.head
            report.head_number = int(head_header.block_number)
            report.head_hash = bytes(head_header.hash)
            report.state_root = bytes(head_header.state_root)
        finally:
            db.close()
    return report


def _replay(
    source: ChainSource, importer: ChainImporter, report: VerifyReport, progress: VerifyProgress | None
) -> None:
    executor = importer.executor
    started = time.perf_counter()
    bft = importer.qbft is not None
    blocks = source.blocks(0, report.last)
    try:
        # Block 0 is the genesis file's (compared, not counted: nothing seals it).
        _check_genesis(next(blocks), executor, bft, report)
        for number, raw in _checked(blocks, report):
            try:
                applied = importer.apply_block(raw)
                if applied is None:  # an earlier block of this chain served again
                    raise InvalidBlock("block number", got=identify_block(raw, bft)[0], expected=number)
            except InvalidBlock as exc:
                got_number, block_hash = identify_block(raw, bft)
                report.violations.append(
                    Violation(
                        number,
                        "block",
                        invalid_reason(exc, got_number, block_hash),
                        block_hash,
                        None if exc.got is None else _show(exc.got),
                        None if exc.expected is None else _show(exc.expected),
                    )
                )
                break
            report.replayed += 1
            report.txs += applied.tx_count
            if number >= report.first:
                report.verified += 1
            if applied.change is not None:
                report.served(number, applied.change.before, _attestations_after(importer, applied))
            report.violations.extend(source.after_block(applied))
            report.elapsed_s = time.perf_counter() - started
            if progress is not None:
                progress(report)
        else:
            report.violations.extend(source.after_chain(executor))
    finally:
        close = getattr(blocks, "close", None)
        if close is not None:
            close()
    report.elapsed_s = time.perf_counter() - started


def _attestations_after(
    importer: ChainImporter, applied: AppliedBlock
) -> Callable[[], AttestationLookup | None] | None:
    """The registry's attestations in the replayed state after ``applied`` (None without
    ``config.jsc``), made on demand."""
    policy = importer.spec.jsc
    if policy is None:
        return None
    executor = importer.executor
    header = applied.executed.block.header

    def lookup() -> AttestationLookup:
        state = executor.state_at(header)

        def read(slot: int) -> int:
            value: int = state.get_storage(policy.registry, slot)
            return value

        return lambda address: registry.read_attestation(read, address)

    return lookup


def _checked(blocks: Iterator[tuple[int, bytes]], report: VerifyReport) -> Iterator[tuple[int, bytes]]:
    """The blocks, ending with a violation where a stored block cannot be read back intact."""
    expected = 1
    while True:
        try:
            item = next(blocks)
        except StopIteration:
            return
        except StoredDataError as exc:
            report.violations.append(Violation(expected, "stored block", _strip_block(str(exc), expected)))
            return
        expected = item[0] + 1
        yield item


def _check_genesis(item: tuple[int, bytes], executor: Executor, bft: bool, report: VerifyReport) -> None:
    _number, raw = item
    try:
        served = decode_block(raw).onchain_hash if bft else keccak(rlp.encode(rlp.decode(raw)[0]))
    except (InvalidBlock, rlp.DecodingError, IndexError) as exc:
        raise VerifyFailed(f"{report.source}: block 0 does not decode: {exc}") from exc
    if served != bytes(executor.genesis.hash):
        raise VerifyFailed(
            f"{report.source} holds a chain with genesis 0x{served.hex()}, the genesis file gives "
            f"0x{bytes(executor.genesis.hash).hex()}: pass the genesis file of that chain"
        )


def _show(value: object) -> str:
    if isinstance(value, bytes):
        return "0x" + value.hex()
    return str(value)


# --- the two modes ---------------------------------------------------------------------------


def verify_rpc(
    url: str,
    spec: GenesisSpec,
    first: int | None = None,
    last: int | None = None,
    progress: VerifyProgress | None = None,
    timeout_s: float = RPC_TIMEOUT_S,
) -> VerifyReport:
    return verify_chain(RpcChain(url, timeout_s), spec, first, last, progress)


def verify_data_dir(
    data_path: Path,
    spec: GenesisSpec,
    first: int | None = None,
    last: int | None = None,
    progress: VerifyProgress | None = None,
) -> VerifyReport:
    from jsc_node.errors import ExportFailed

    try:
        with open_data_dir(data_path) as chain:
            return verify_chain(DataDirChain(chain, str(data_path)), spec, first, last, progress)
    except ExportFailed as exc:
        raise VerifyFailed(str(exc)) from exc
    except StoredDataError as exc:  # the head itself cannot be read: nothing to replay against
        raise VerifyFailed(f"{data_path}: {exc}") from exc


__all__ = [
    "ATTESTATIONS_CHECKED",
    "BLOCK_RULES",
    "NO_REGISTRY",
    "DataDirChain",
    "RpcChain",
    "ValidatorService",
    "VerifyReport",
    "Violation",
    "verify_chain",
    "verify_data_dir",
    "verify_rpc",
    "walk_state",
]
