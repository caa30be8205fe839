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
from eth.vm.forks.shanghai.withdrawals import Withdrawal
from eth_utils.exceptions import ValidationError

from jsc_node.errors import BlockNotFound, InvalidTransaction
from jsc_node.state.chain import effective_gas_price
from jsc_node.state.evm.executor import apply_transactions
from jsc_node.state.evm.forks import Fork, fork_of_vm
from jsc_node.state.evm.rules import blob_schedule
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
    fork = fork_of_vm(vm_class)
    overlay = Overlay(executor.db)
    atomic = overlay.atomic()
    gas_limit = parent.gas_limit if executor.spec.qbft is not None else geth_gas_limit(parent.gas_limit)
    params: dict[str, Any] = {
        "coinbase": attributes.fee_recipient,
        "timestamp": attributes.timestamp,
        "extra_data": extra_data,
        "gas_limit": gas_limit,
    }
    if fork >= Fork.CANCUN:
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
    applied = apply_transactions(vm, header, candidates, all_must_apply=transactions is not None)
    header = applied.header
    # What the fee recipient earns: each transaction's gas at its tip over the base fee.
    value = 0
    previous_cumulative = 0
    for tx, receipt in zip(applied.transactions, applied.receipts, strict=True):
        tx_gas = receipt.gas_used - previous_cumulative
        previous_cumulative = receipt.gas_used
        value += tx_gas * (effective_gas_price(tx, base_fee) - (base_fee or 0))

    withdrawals = None
    if fork >= Fork.SHANGHAI:
        withdrawals = [
            Withdrawal(w.index, w.validator_index, w.address, w.amount) for w in attributes.withdrawals or ()
        ]
        vm.apply_all_withdrawals(withdrawals)
        header = header.copy(state_root=vm.state.make_state_root())
    filled = vm.set_block_transactions_and_withdrawals(
        vm.get_block(), header, applied.transactions, applied.receipts, withdrawals=withdrawals
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


# --- EIP-7910 eth_config --------------------------------------------------------------

_PRECOMPILES_BY_FORK: Final[tuple[tuple[Fork, tuple[tuple[str, int], ...]], ...]] = (
    (Fork.FRONTIER, (("ECREC", 1), ("SHA256", 2), ("RIPEMD160", 3), ("ID", 4))),
    (Fork.BYZANTIUM, (("MODEXP", 5), ("BN254_ADD", 6), ("BN254_MUL", 7), ("BN254_PAIRING", 8))),
    (Fork.ISTANBUL, (("BLAKE2F", 9),)),
    (Fork.CANCUN, (("KZG_POINT_EVALUATION", 10),)),
    (
        Fork.PRAGUE,
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
BEACON_ROOTS_ADDRESS: Final = bytes.fromhex("000f3df6d732807ef1319fb7b8bb8522d0beac02")  # EIP-4788
HISTORY_STORAGE_ADDRESS: Final = bytes.fromhex("0000f90827f1c53a10cb7a02335b175320002935")  # EIP-2935
WITHDRAWAL_REQUEST_ADDRESS: Final = bytes.fromhex("00000961ef480eb55e80d19ad83579a64c007002")  # EIP-7002
CONSOLIDATION_REQUEST_ADDRESS: Final = bytes.fromhex("0000bbddc7ce488642fb579f8b00f3a590007251")  # EIP-7251


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
    current = executor.schedule.fork_of_header(head)
    current_time = 0
    scheduled: list[tuple[Fork, int]] = []
    for name, at in spec.time_forks:
        if at <= head.timestamp:
            current, current_time = Fork.from_key(name), at
        else:
            scheduled.append((Fork.from_key(name), at))

    def view(fork: Fork, time: int) -> ForkConfigView:
        return ForkConfigView(
            activation_time=time,
            blob_schedule=_blob_schedule(config, fork),
            chain_id=spec.chain_id,
            fork_id=fork_id(genesis_hash, config, spec.timestamp, (head.block_number, time)),
            precompiles=_precompiles(fork),
            system_contracts=_system_contracts(config, fork),
        )

    current_view = view(current, current_time)
    next_fork = view(*scheduled[0]) if scheduled else None
    last_fork = view(*scheduled[-1]) if scheduled else None
    return EthConfigView(current=current_view, next=next_fork, last=last_fork)


def _precompiles(fork: Fork) -> dict[str, bytes]:
    return {
        label: number.to_bytes(20, "big")
        for since, entries in _PRECOMPILES_BY_FORK
        if since <= fork
        for label, number in entries
    }


def _system_contracts(config: dict[str, Any], fork: Fork) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    if fork >= Fork.CANCUN:
        out["BEACON_ROOTS_ADDRESS"] = BEACON_ROOTS_ADDRESS
    if fork >= Fork.PRAGUE:
        deposit = config.get("depositContractAddress") or "0x" + "00" * 20
        out["CONSOLIDATION_REQUEST_PREDEPLOY_ADDRESS"] = CONSOLIDATION_REQUEST_ADDRESS
        out["DEPOSIT_CONTRACT_ADDRESS"] = bytes.fromhex(deposit[2:])
        out["HISTORY_STORAGE_ADDRESS"] = HISTORY_STORAGE_ADDRESS
        out["WITHDRAWAL_REQUEST_PREDEPLOY_ADDRESS"] = WITHDRAWAL_REQUEST_ADDRESS
    return out


def _blob_schedule(config: dict[str, Any], fork: Fork) -> BlobScheduleView | None:
    """The genesis ``blobSchedule`` entry of ``fork`` over the EIP's values (EIP-7840)."""
    default = blob_schedule(fork)
    if default is None:
        return None
    target = default.target_blobs_per_block
    maximum = default.max_blobs_per_block
    fraction = default.base_fee_update_fraction
    given = (config.get("blobSchedule") or {}).get(fork.key)
    if isinstance(given, dict):
        target = _config_int(given.get("target")) or target
        maximum = _config_int(given.get("max")) or maximum
        fraction = _config_int(given.get("baseFeeUpdateFraction")) or fraction
    return BlobScheduleView(target=target, max=maximum, base_fee_update_fraction=fraction)


__all__ = ["build_payload", "eth_config", "fork_id", "geth_gas_limit"]
