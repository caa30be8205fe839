"""jsc_node/state/evm/rules.py: each constant against py-evm's own (the executor runs py-evm's, so
a py-evm upgrade that changes one shows here), and a table per function and per check, with
geth's words."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import eth.constants
import pytest
from eth._utils.calculations import fake_exponential as py_evm_fake_exponential
from eth.vm.forks.cancun import constants as cancun
from eth.vm.forks.prague import constants as prague
from eth.vm.forks.prague.state import PragueTransactionExecutor
from eth.vm.forks.prague.transactions import PragueTransactionBuilder
from eth.vm.forks.shanghai import constants as shanghai
from eth.vm.forks.spurious_dragon.constants import EIP170_CODE_SIZE_LIMIT
from hypothesis import given
from hypothesis import strategies as st

from jsc_node.errors import InvalidTransaction, SimIntrinsicGas, SimNonceTooHigh, SimNonceTooLow
from jsc_node.state.evm import rules
from jsc_node.state.evm.forks import Fork

SENDER = bytes.fromhex("f39fd6e51aad88f6f4ce6ab8827279cffb92266a")
SHOWN = "0x" + SENDER.hex()


@pytest.mark.parametrize(
    ("ours", "py_evm"),
    [
        (rules.TX_BASE_GAS, eth.constants.GAS_TX),
        (rules.CALL_STIPEND_GAS, eth.constants.GAS_CALLSTIPEND),
        (rules.MAX_CODE_SIZE_BYTES, EIP170_CODE_SIZE_LIMIT),
        (rules.MAX_INITCODE_SIZE_BYTES, shanghai.MAX_INITCODE_SIZE),
        (rules.INITCODE_WORD_GAS, shanghai.INITCODE_WORD_COST),
        (rules.FLOOR_GAS_PER_TOKEN, prague.TOTAL_COST_FLOOR_PER_TOKEN),
        (rules.TOKENS_PER_NONZERO_BYTE, prague.STANDARD_TOKEN_COST),
        (rules.BLOB_TX_TYPE, cancun.BLOB_TX_TYPE),
        (rules.SET_CODE_TX_TYPE, prague.SET_CODE_TRANSACTION_TYPE),
        (rules.GAS_PER_BLOB, cancun.GAS_PER_BLOB),
        (rules.MIN_BASE_FEE_PER_BLOB_GAS, cancun.MIN_BLOB_BASE_FEE),
        (bytes([rules.VERSIONED_HASH_VERSION_KZG]), cancun.VERSIONED_HASH_VERSION_KZG),
        (rules.CANCUN_BLOB_SCHEDULE.max_blob_gas_per_block, cancun.MAX_BLOB_GAS_PER_BLOCK),
        (rules.CANCUN_BLOB_SCHEDULE.target_blob_gas_per_block, cancun.TARGET_BLOB_GAS_PER_BLOCK),
        (rules.CANCUN_BLOB_SCHEDULE.base_fee_update_fraction, cancun.BLOB_BASE_FEE_UPDATE_FRACTION),
        (rules.PRAGUE_BLOB_SCHEDULE.max_blob_gas_per_block, prague.MAX_BLOB_GAS_PER_BLOCK),
        (rules.PRAGUE_BLOB_SCHEDULE.target_blob_gas_per_block, prague.TARGET_BLOB_GAS_PER_BLOCK),
        (rules.PRAGUE_BLOB_SCHEDULE.base_fee_update_fraction, prague.BLOB_BASE_FEE_UPDATE_FRACTION_PRAGUE),
    ],
)
def test_constants_are_py_evms(ours: object, py_evm: object) -> None:
    assert ours == py_evm


# --- blobs -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("factor", "numerator", "denominator", "expected"),
    [  # EIP-4844's vectors, as geth's TestFakeExponential has them
        (1, 0, 1, 1),
        (38493, 0, 1000, 38493),
        (0, 1234, 2345, 0),
        (1, 2, 1, 6),
        (1, 4, 2, 6),
        (1, 3, 1, 16),
        (1, 6, 2, 18),
        (1, 4, 1, 49),
        (1, 8, 2, 50),
        (10, 8, 2, 542),
        (11, 8, 2, 596),
        (1, 5, 1, 136),
        (1, 5, 2, 11),
        (2, 5, 2, 23),
        (1, 50_000_000, 2_225_652, 5_709_098_764),
        (1, 380_928, 3_338_477, 1),
    ],
)
def test_fake_exponential(factor: int, numerator: int, denominator: int, expected: int) -> None:
    assert rules.fake_exponential(factor, numerator, denominator) == expected


@given(
    st.integers(0, 2**20),
    # numerator / denominator up to 32: blob base fees up to e**32 times the minimum
    st.integers(1, 2**23).flatmap(lambda d: st.tuples(st.integers(0, 32 * d), st.just(d))),
)
def test_fake_exponential_is_py_evms(factor: int, fraction: tuple[int, int]) -> None:
    numerator, denominator = fraction
    assert rules.fake_exponential(factor, numerator, denominator) == py_evm_fake_exponential(
        factor, numerator, denominator
    )


@pytest.mark.parametrize(
    ("fork", "expected"),
    [
        (Fork.FRONTIER, None),
        (Fork.SHANGHAI, None),
        (Fork.CANCUN, rules.CANCUN_BLOB_SCHEDULE),
        (Fork.PRAGUE, rules.PRAGUE_BLOB_SCHEDULE),
    ],
)
def test_blob_schedule_by_fork(fork: Fork, expected: rules.BlobSchedule | None) -> None:
    assert rules.blob_schedule(fork) == expected


def _header(**fields: int) -> Any:
    return SimpleNamespace(**fields)


@pytest.mark.parametrize(
    ("fork", "excess", "expected"),
    [
        (Fork.SHANGHAI, 0, None),  # no blobs before Cancun: no blob base fee
        (Fork.CANCUN, 0, 1),
        (Fork.PRAGUE, 0, 1),
        (Fork.CANCUN, 10_000_000, 19),  # the same excess weighs less under Prague's fraction
        (Fork.PRAGUE, 10_000_000, 7),
    ],
)
def test_blob_base_fee(fork: Fork, excess: int, expected: int | None) -> None:
    assert rules.blob_base_fee(_header(excess_blob_gas=excess), fork) == expected


@pytest.mark.parametrize(
    ("fork", "excess", "used", "expected"),
    [
        (Fork.CANCUN, 0, 3 * rules.GAS_PER_BLOB, 0),  # at Cancun's target: no excess
        (Fork.CANCUN, 0, 4 * rules.GAS_PER_BLOB, rules.GAS_PER_BLOB),
        (Fork.PRAGUE, 0, 4 * rules.GAS_PER_BLOB, 0),  # under Prague's target of 6
        (Fork.PRAGUE, rules.GAS_PER_BLOB, 6 * rules.GAS_PER_BLOB, rules.GAS_PER_BLOB),
    ],
)
def test_excess_blob_gas_follows_the_forks_target(fork: Fork, excess: int, used: int, expected: int) -> None:
    parent = _header(excess_blob_gas=excess, blob_gas_used=used)
    assert rules.excess_blob_gas(parent, fork) == expected
    assert rules.next_blob_base_fee(parent, fork) == rules.fake_exponential(
        1,
        expected,
        rules.blob_schedule(fork).base_fee_update_fraction,  # type: ignore[union-attr]
    )


@pytest.mark.parametrize(
    ("fork", "used", "expected"),
    [
        (Fork.LONDON, 0, 0.0),
        (Fork.CANCUN, 3 * rules.GAS_PER_BLOB, 0.5),
        (Fork.PRAGUE, 9 * rules.GAS_PER_BLOB, 1.0),
    ],
)
def test_blob_gas_used_ratio(fork: Fork, used: int, expected: float) -> None:
    assert rules.blob_gas_used_ratio(_header(blob_gas_used=used), fork) == expected


def test_total_blob_gas_counts_versioned_hashes_of_blob_txs_only() -> None:
    blob_tx = SimpleNamespace(type_id=rules.BLOB_TX_TYPE, blob_versioned_hashes=[b"\x01" * 32] * 3)
    assert rules.total_blob_gas(blob_tx) == 3 * rules.GAS_PER_BLOB
    assert rules.total_blob_gas(SimpleNamespace(type_id=rules.DYNAMIC_FEE_TX_TYPE)) == 0


# --- intrinsic gas and the calldata floor ------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "gas"), [(0, 0), (1, 2), (32, 2), (33, 4), (rules.MAX_INITCODE_SIZE_BYTES, 3072)]
)
def test_initcode_gas_per_started_word(size: int, gas: int) -> None:
    assert rules.initcode_gas(b"\x01" * size) == gas


@pytest.mark.parametrize(
    ("data", "tokens", "floor"),
    [
        (b"", 0, 21_000),
        (b"\x00" * 10, 10, 21_100),
        (b"\x01" * 10, 40, 21_400),
        (b"\x00\x01\x00\xff", 10, 21_100),
    ],
)
def test_calldata_floor(data: bytes, tokens: int, floor: int) -> None:
    assert rules.calldata_tokens(data) == tokens
    assert rules.floor_data_gas(data) == floor
    # py-evm's Prague executor tops a transaction that used nothing up to the same floor.
    assert PragueTransactionExecutor.calc_data_floor_gas(SimpleNamespace(data=data), 0, 0) == floor


def _unsigned(to: bytes, data: bytes) -> Any:
    # As eth_simulateV1 builds its calls: v = r = s = 0.
    return PragueTransactionBuilder.new_transaction(0, 0, 1_000_000, to, 0, data, 0, 0, 0)


def test_intrinsic_gas_counts_init_code_words_only_when_asked() -> None:
    transfer = _unsigned(SENDER, b"")
    assert rules.intrinsic_gas(transfer) == rules.intrinsic_gas(transfer, with_initcode=True) == 21_000
    creation = _unsigned(b"", b"\x01" * 33)
    py_evm = 21_000 + 32_000 + 33 * 16
    assert rules.intrinsic_gas(creation) == py_evm
    assert rules.intrinsic_gas(creation, with_initcode=True) == py_evm + 4


# --- the checks, in geth's words -------------------------------------------------------------


@pytest.mark.parametrize(
    ("tx_nonce", "state_nonce", "error", "message"),
    [
        (3, 3, None, None),
        (2, 3, SimNonceTooLow, f"nonce too low: address {SHOWN}, tx: 2 state: 3"),
        (4, 3, SimNonceTooHigh, f"nonce too high: address {SHOWN}, tx: 4 state: 3"),
    ],
)
def test_validate_nonce(
    tx_nonce: int, state_nonce: int, error: type[Exception] | None, message: str | None
) -> None:
    if error is None:
        rules.validate_nonce(SENDER, tx_nonce, state_nonce, too_low=SimNonceTooLow, too_high=SimNonceTooHigh)
        return
    with pytest.raises(error) as raised:
        rules.validate_nonce(SENDER, tx_nonce, state_nonce, too_low=SimNonceTooLow, too_high=SimNonceTooHigh)
    assert str(raised.value) == message


def test_validate_nonce_defaults_to_invalid_transaction() -> None:
    with pytest.raises(InvalidTransaction, match=r"^nonce too high: "):
        rules.validate_nonce(SENDER, 1, 0)


def test_validate_nonce_not_max() -> None:
    rules.validate_nonce_not_max(SENDER, 2**64 - 2)
    with pytest.raises(InvalidTransaction) as raised:
        rules.validate_nonce_not_max(SENDER, 2**64 - 1)
    assert str(raised.value) == f"nonce has max value: address {SHOWN}, nonce: {2**64 - 1}"


@pytest.mark.parametrize(
    ("fee_cap", "tip", "base_fee", "message"),
    [
        (10, 10, 10, None),
        (
            10,
            11,
            0,
            f"max priority fee per gas higher than max fee per gas: address {SHOWN}, "
            "maxPriorityFeePerGas: 11, maxFeePerGas: 10",
        ),
        (
            9,
            1,
            10,
            f"max fee per gas less than block base fee: address {SHOWN}, maxFeePerGas: 9, baseFee: 10",
        ),
    ],
)
def test_validate_fee_caps(fee_cap: int, tip: int, base_fee: int, message: str | None) -> None:
    if message is None:
        rules.validate_fee_caps(SENDER, fee_cap, tip, base_fee)
        return
    with pytest.raises(InvalidTransaction) as raised:
        rules.validate_fee_caps(SENDER, fee_cap, tip, base_fee)
    assert str(raised.value) == message


@pytest.mark.parametrize(
    ("check", "ok", "refused", "message"),
    [
        (
            lambda n: rules.validate_funds(SENDER, 100, n),
            100,
            101,
            f"insufficient funds for gas * price + value: address {SHOWN} have 100 want 101",
        ),
        (
            lambda n: rules.validate_intrinsic_gas(n, 21_000),
            21_000,
            20_999,
            "intrinsic gas too low: have 20999, want 21000",
        ),
        (
            lambda n: rules.validate_floor_data_gas(n, b"\x01" * 10),
            21_400,
            21_399,
            "insufficient gas for floor data gas cost: have 21399, want 21400",
        ),
        (
            lambda n: rules.validate_initcode_size(b"\x00" * n),
            rules.MAX_INITCODE_SIZE_BYTES,
            rules.MAX_INITCODE_SIZE_BYTES + 1,
            "max initcode size exceeded: code size 49153 limit 49152",
        ),
    ],
    ids=["funds", "intrinsic", "floor", "initcode"],
)
def test_checks_pass_at_the_bound_and_refuse_past_it(check: Any, ok: int, refused: int, message: str) -> None:
    check(ok)
    with pytest.raises(InvalidTransaction) as raised:
        check(refused)
    assert str(raised.value) == message


def test_checks_raise_the_callers_error_class() -> None:
    with pytest.raises(SimIntrinsicGas, match=r"^intrinsic gas too low: have 1, want 21000$"):
        rules.validate_intrinsic_gas(1, 21_000, SimIntrinsicGas)


def test_the_genesis_documents_write_the_blob_schedule_the_rules_apply() -> None:
    # jsc_node/devtools.py writes EIP-7840's blobSchedule into generated genesis files without
    # importing py-evm (genesis new, devnet); it must say what state/evm/rules.py executes.
    from jsc_node.devtools import _BLOB_SCHEDULE

    for fork, schedule in (("cancun", rules.CANCUN_BLOB_SCHEDULE), ("prague", rules.PRAGUE_BLOB_SCHEDULE)):
        assert _BLOB_SCHEDULE[fork] == {
            "target": schedule.target_blobs_per_block,
            "max": schedule.max_blobs_per_block,
            "baseFeeUpdateFraction": schedule.base_fee_update_fraction,
        }
