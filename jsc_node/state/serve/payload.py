"""Building a block without committing it (``testing_buildBlockV1``), and the fork facts of
EIP-7910 ``eth_config``.

``build_payload`` is geth's miner for one payload: a header from the parent and the given
attributes (timestamp, fee recipient, prevRandao, beacon root, withdrawals), the block's system
calls, the given transactions (any that does not apply is an error) or the pool's best ones (those
that do not apply are left out), withdrawals, EIP-7685 requests. Everything happens in a throwaway
overlay: the chain and the pool are unchanged.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Sequence
from typing import Any, Final

import rlp
from eth.consensus.context import ConsensusContext
from eth.db.chain import ChainDB
from eth.exceptions import HeaderNotFound
from eth.vm.forks import CancunVM, ShanghaiVM
from eth.vm.forks.shanghai.withdrawals import Withdrawal
from eth.vm.interrupt import EVMMissingData
from eth_utils.exceptions import ValidationError

from jsc_node.errors import BlockNotFound, InvalidTransaction
from jsc_node.state.chain import effective_gas_price
from jsc_node.state.storage.leveldb import Overlay
from jsc_node.views import (
    BlobScheduleView,
    BuiltPayloadView,
    EthConfigView,
    ForkConfigView,
    PayloadAttributes,
    WithdrawalView,
)

# geth's default miner gas ceiling (miner.gaslimit); an imported chain's blocks move toward it.
DESIRED_GAS_LIMIT: Final = 60_000_000
GAS_LIMIT_BOUND_DIVISOR: Final = 1024
MIN_TX_GAS: Final = 21_000


def geth_gas_limit(parent_gas_limit: int, desired: int = DESIRED_GAS_LIMIT) -> int:
    """geth ``core.CalcGasLimit``: one step of at most parent/1024 - 1 toward ``desired``."""
    delta = parent_gas_limit // GAS_LIMIT_BOUND_DIVISOR - 1
    limit = parent_gas_limit
    if limit < desired:
        return min(parent_gas_limit + delta, desired)
    if limit > desired:
        return max(parent_gas_limit - delta, desired)
    return limit


def build_payload(
    executor: Any,
    parent_hash: bytes,
    attributes: PayloadAttributes,
    transactions: Sequence[bytes] | None,
    extra_data: bytes,
    pool_txs: Iterable[Any] = (),
) -> BuiltPayloadView:
    """Build on ``parent_hash``: the given raw ``transactions`` (all must apply), or when
    ``None`` the py-evm txs of ``pool_txs`` (best first; failing ones are left out)."""
    try:
        parent = executor.header_by_hash(parent_hash)
    except HeaderNotFound as exc:
        raise BlockNotFound(f"unknown parent 0x{parent_hash.hex()}") from exc
    number = parent.block_number + 1
    vm_class = executor.schedule.vm_class(number, attributes.timestamp, 0)
    overlay = Overlay(executor.db)
    atomic = overlay.atomic()
    gas_limit = parent.gas_limit if executor.spec.qbft is not None else geth_gas_limit(parent.gas_limit)
    params: dict[str, Any] = {
        "coinbase": attributes.fee_recipient,
        "timestamp": attributes.timestamp,
        "extra_data": extra_data,
        "gas_limit": gas_limit,
    }
    if issubclass(vm_class, CancunVM):
        params["parent_beacon_block_root"] = attributes.parent_beacon_block_root or b"\x00" * 32
    header = vm_class.create_header_from_parent(parent, **params)
    if executor.spec.qbft is None:
        header = header.copy(mix_hash=attributes.prev_randao)
    vm = vm_class(header, ChainDB(atomic), executor.chain_context, ConsensusContext(atomic))
    vm.block_preprocessing(vm.get_block())
    header = vm.get_header().copy(gas_used=0)
    base_fee = getattr(header, "base_fee_per_gas", None)

    if transactions is not None:
        builder = vm_class.get_transaction_builder()
        candidates: Iterable[Any] = [_decode_tx(builder, raw) for raw in transactions]
    else:
        candidates = pool_txs
    included: list[Any] = []
    receipts: list[Any] = []
    value = 0
    failed_senders: set[bytes] = set()
    for tx in candidates:
        sender = tx.sender
        if sender in failed_senders:
            continue
        try:
            if header.gas_limit - header.gas_used < tx.gas:
                raise ValidationError("gas limit reached")
            _check_nonce(vm.state, tx)
            vm.validate_transaction_against_header(header, tx)
            vm.state.lock_changes()
            snapshot = vm.state.snapshot()
            try:
                computation = vm.state.apply_transaction(tx)
            except BaseException:
                vm.state.revert(snapshot)
                raise
        except (ValidationError, EVMMissingData, InvalidTransaction) as exc:
            if transactions is not None:
                raise InvalidTransaction(str(exc)) from exc
            failed_senders.add(sender)
            continue
        receipt = vm.make_receipt(header, tx, computation, vm.state)
        tx_gas = receipt.gas_used - header.gas_used
        header = vm.increment_blob_gas_used(vm.add_receipt_to_header(header, receipt), tx)
        value += tx_gas * (effective_gas_price(tx, base_fee) - (base_fee or 0))
        included.append(tx)
        receipts.append(receipt)

    withdrawals = None
    if issubclass(vm_class, ShanghaiVM):
        withdrawals = [
            Withdrawal(w.index, w.validator_index, w.address, w.amount) for w in attributes.withdrawals or ()
        ]
        vm.apply_all_withdrawals(withdrawals)
        header = header.copy(state_root=vm.state.make_state_root())
    filled = vm.set_block_transactions_and_withdrawals(
        vm.get_block(), header, included, receipts, withdrawals=withdrawals
    )
    processed = vm.block_postprocessing(filled)
    block = vm.mine_block(processed).block
    requests = getattr(processed, "block_requests", None)
    out = block.header
    return BuiltPayloadView(
        parent_hash=bytes(out.parent_hash),
        fee_recipient=bytes(out.coinbase),
        state_root=bytes(out.state_root),
        receipts_root=bytes(out.receipt_root),
        logs_bloom=out.bloom.to_bytes(256, "big"),
        prev_randao=bytes(out.mix_hash),
        block_number=out.block_number,
        gas_limit=out.gas_limit,
        gas_used=out.gas_used,
        timestamp=out.timestamp,
        extra_data=bytes(out.extra_data),
        base_fee_per_gas=base_fee or 0,
        block_hash=bytes(out.hash),
        transactions=tuple(_encode_tx(tx) for tx in block.transactions),
        withdrawals=None
        if withdrawals is None
        else tuple(
            WithdrawalView(w.index, w.validator_index, bytes(w.address), w.amount) for w in withdrawals
        ),
        blob_gas_used=getattr(out, "blob_gas_used", None),
        excess_blob_gas=getattr(out, "excess_blob_gas", None),
        block_value=value,
        # geth leaves out request types with no requests (EIP-7685: type byte + data).
        execution_requests=None if requests is None else tuple(bytes(r) for r in requests if len(r) > 1),
    )


def _decode_tx(builder: Any, raw: bytes) -> Any:
    try:
        return builder.decode(raw)
    except (rlp.DecodingError, rlp.DeserializationError, ValidationError, ValueError) as exc:
        raise InvalidTransaction(f"invalid transaction: {exc}") from exc


def _encode_tx(tx: Any) -> bytes:
    return bytes(tx.encode())


def _check_nonce(state: Any, tx: Any) -> None:
    # geth's words (core/error.go, state_transition.go preCheck).
    have = state.get_nonce(tx.sender)
    if tx.nonce > have:
        raise InvalidTransaction(
            f"nonce too high: address 0x{bytes(tx.sender).hex()}, tx: {tx.nonce} state: {have}"
        )
    if tx.nonce < have:
        raise InvalidTransaction(
            f"nonce too low: address 0x{bytes(tx.sender).hex()}, tx: {tx.nonce} state: {have}"
        )


# --- blob fees (EIP-4844, EIP-7691) ------------------------------------------------------

MIN_BASE_FEE_PER_BLOB_GAS: Final = 1
_CANCUN_BLOBS: Final = (786_432, 3_338_477)  # max blob gas per block, base fee update fraction
_PRAGUE_BLOBS: Final = (1_179_648, 5_007_716)


def _blob_params(header: Any) -> tuple[int, int]:
    return _PRAGUE_BLOBS if hasattr(header, "requests_hash") else _CANCUN_BLOBS


def fake_exponential(factor: int, numerator: int, denominator: int) -> int:
    """EIP-4844 ``fake_exponential``: factor * e ** (numerator / denominator), in integers."""
    i, output, accum = 1, 0, factor * denominator
    while accum > 0:
        output += accum
        accum = (accum * numerator) // (denominator * i)
        i += 1
    return output // denominator


def blob_base_fee(header: Any) -> int:
    """The blob base fee of ``header``'s block (wei); 0 before Cancun, as geth reports it."""
    excess = getattr(header, "excess_blob_gas", None)
    if excess is None:
        return 0
    return fake_exponential(MIN_BASE_FEE_PER_BLOB_GAS, excess, _blob_params(header)[1])


def next_blob_base_fee(header: Any) -> int:
    """The blob base fee of the block after ``header`` (same fork assumed); 0 before Cancun."""
    if getattr(header, "excess_blob_gas", None) is None:
        return 0
    if hasattr(header, "requests_hash"):
        from eth.vm.forks.prague.headers import calc_excess_blob_gas_prague as calc_excess
    else:
        from eth.vm.forks.cancun.headers import calc_excess_blob_gas_cancun as calc_excess
    return fake_exponential(MIN_BASE_FEE_PER_BLOB_GAS, calc_excess(header), _blob_params(header)[1])


def blob_gas_used_ratio(header: Any) -> float:
    used = getattr(header, "blob_gas_used", None)
    if used is None:
        return 0.0
    return float(used / _blob_params(header)[0])


# --- EIP-7910 eth_config --------------------------------------------------------------

_PRECOMPILES_BY_FORK: Final[tuple[tuple[str, tuple[tuple[str, int], ...]], ...]] = (
    ("frontier", (("ECREC", 1), ("SHA256", 2), ("RIPEMD160", 3), ("ID", 4))),
    ("byzantium", (("MODEXP", 5), ("BN254_ADD", 6), ("BN254_MUL", 7), ("BN254_PAIRING", 8))),
    ("istanbul", (("BLAKE2F", 9),)),
    ("cancun", (("KZG_POINT_EVALUATION", 10),)),
    (
        "prague",
        (
            ("BLS12_G1ADD", 0x0B),
            ("BLS12_G1MSM", 0x0C),
            ("BLS12_G2ADD", 0x0D),
            ("BLS12_G2MSM", 0x0E),
            ("BLS12_PAIRING_CHECK", 0x0F),
            ("BLS12_MAP_FP_TO_G1", 0x10),
            ("BLS12_MAP_FP2_TO_G2", 0x11),
        ),
    ),
)
_FORK_ORDER: Final = (
    "frontier",
    "homestead",
    "tangerine_whistle",
    "spurious_dragon",
    "byzantium",
    "constantinople",
    "petersburg",
    "istanbul",
    "muir_glacier",
    "berlin",
    "london",
    "arrow_glacier",
    "gray_glacier",
    "paris",
    "shanghai",
    "cancun",
    "prague",
)
BEACON_ROOTS_ADDRESS: Final = bytes.fromhex("000f3df6d732807ef1319fb7b8bb8522d0beac02")  # EIP-4788
HISTORY_STORAGE_ADDRESS: Final = bytes.fromhex("0000f90827f1c53a10cb7a02335b175320002935")  # EIP-2935
WITHDRAWAL_REQUEST_ADDRESS: Final = bytes.fromhex("00000961ef480eb55e80d19ad83579a64c007002")  # EIP-7002
CONSOLIDATION_REQUEST_ADDRESS: Final = bytes.fromhex("0000bbddc7ce488642fb579f8b00f3a590007251")  # EIP-7251
# EIP-4844 / EIP-7691 defaults when the genesis has no blobSchedule entry.
_DEFAULT_BLOB_SCHEDULE: Final = {"cancun": (3, 6, 3338477), "prague": (6, 9, 5007716)}


def _config_int(value: Any) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, str):
        return int(value, 0)
    return int(value)


def fork_id(genesis_hash: bytes, config: dict[str, Any], genesis_time: int, up_to: tuple[int, int]) -> bytes:
    """EIP-2124 fork hash: CRC32 of the genesis hash and every fork block, then fork time, that
    activated at or before ``up_to`` = (block number, timestamp), as geth gathers them."""
    blocks: set[int] = set()
    times: set[int] = set()
    for key, raw in config.items():
        value = _config_int(raw) if key.endswith(("Block", "Time")) else None
        if value is None:
            continue
        if key.endswith("Block") and value > 0:
            blocks.add(value)
        elif key.endswith("Time") and value > genesis_time:
            times.add(value)
    checksum = zlib.crc32(genesis_hash)
    for block in sorted(blocks):
        if block <= up_to[0]:
            checksum = zlib.crc32(block.to_bytes(8, "big"), checksum)
    for time in sorted(times):
        if time <= up_to[1]:
            checksum = zlib.crc32(time.to_bytes(8, "big"), checksum)
    return checksum.to_bytes(4, "big")


def eth_config(executor: Any, head: Any) -> EthConfigView:
    """The fork in force at ``head`` and, if scheduled, the next and the last (by timestamp)."""
    spec = executor.spec
    config = spec.raw.get("config", {}) if isinstance(spec.raw, dict) else {}
    genesis_hash = bytes(executor.genesis.hash)
    current_name = _fork_name(executor.schedule.vm_class_for_header(head))
    current_time = 0
    scheduled: list[tuple[str, int]] = []
    for name, at in spec.time_forks:
        if at <= head.timestamp:
            current_name, current_time = name, at
        else:
            scheduled.append((name, at))

    def view(name: str, time: int) -> ForkConfigView:
        return ForkConfigView(
            activation_time=time,
            blob_schedule=_blob_schedule(config, name),
            chain_id=spec.chain_id,
            fork_id=fork_id(genesis_hash, config, spec.timestamp, (head.block_number, time)),
            precompiles=_precompiles(name),
            system_contracts=_system_contracts(config, name),
        )

    current = view(current_name, current_time)
    next_fork = view(*scheduled[0]) if scheduled else None
    last_fork = view(*scheduled[-1]) if scheduled else None
    return EthConfigView(current=current, next=next_fork, last=last_fork)


def _fork_name(vm_class: type[Any]) -> str:
    fork = getattr(vm_class, "fork", "frontier")
    return str(fork).replace("-", "_")


def _before_or_at(fork: str, name: str) -> bool:
    order = {n: i for i, n in enumerate(_FORK_ORDER)}
    return order.get(fork, 0) <= order.get(name, 0)


def _precompiles(name: str) -> dict[str, bytes]:
    return {
        label: number.to_bytes(20, "big")
        for fork, entries in _PRECOMPILES_BY_FORK
        if _before_or_at(fork, name)
        for label, number in entries
    }


def _system_contracts(config: dict[str, Any], name: str) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    if _before_or_at("cancun", name):
        out["BEACON_ROOTS_ADDRESS"] = BEACON_ROOTS_ADDRESS
    if _before_or_at("prague", name):
        deposit = config.get("depositContractAddress") or "0x" + "00" * 20
        out["CONSOLIDATION_REQUEST_PREDEPLOY_ADDRESS"] = CONSOLIDATION_REQUEST_ADDRESS
        out["DEPOSIT_CONTRACT_ADDRESS"] = bytes.fromhex(deposit[2:])
        out["HISTORY_STORAGE_ADDRESS"] = HISTORY_STORAGE_ADDRESS
        out["WITHDRAWAL_REQUEST_PREDEPLOY_ADDRESS"] = WITHDRAWAL_REQUEST_ADDRESS
    return out


def _blob_schedule(config: dict[str, Any], name: str) -> BlobScheduleView | None:
    if not _before_or_at("cancun", name):
        return None
    given = (config.get("blobSchedule") or {}).get(name)
    target, maximum, fraction = _DEFAULT_BLOB_SCHEDULE.get(name, _DEFAULT_BLOB_SCHEDULE["prague"])
    if isinstance(given, dict):
        target = _config_int(given.get("target")) or target
        maximum = _config_int(given.get("max")) or maximum
        fraction = _config_int(given.get("baseFeeUpdateFraction")) or fraction
    return BlobScheduleView(target=target, max=maximum, base_fee_update_fraction=fraction)


__all__ = [
    "blob_base_fee",
    "blob_gas_used_ratio",
    "build_payload",
    "eth_config",
    "fake_exponential",
    "fork_id",
    "geth_gas_limit",
    "next_blob_base_fee",
]
