"""eth_call, eth_estimateGas and eth_createAccessList on a request with an EIP-7702 authorization
list or a creation, on a real NodeBackend over LevelDB (the dev chain runs Prague, chain id 1337),
against geth's rules (internal/ethapi/transaction_args.go ``ToMessage``, core/state_transition.go
``preCheck`` and ``IntrinsicGas``):

- every authorization costs 25,000 intrinsic gas (PER_EMPTY_ACCOUNT_COST) whether it applies or not;
- the authorizations are applied before execution, so a call to an EOA that delegates runs the
  delegate's code; one with a wrong nonce, a wrong chain or a bad signature is skipped;
- a creation's init code costs 2 gas a 32-byte word of intrinsic gas (EIP-3860) and is at most
  49,152 bytes.

Before, the three methods ignored the authorization list: 21,000 for a one-authorization transfer
(anvil: 46,001), ``0x`` from a delegated EOA, an empty access list.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eth.vm.forks.prague import constants as prague
from eth_account import Account

from jsc_node.config import NodeConfig
from jsc_node.devtools import dev_accounts
from jsc_node.errors import InvalidTransaction
from jsc_node.execution_process import open_node_state
from jsc_node.genesis import load_genesis
from jsc_node.state.evm import rules
from jsc_node.state.serve import calltx
from jsc_node.views import (
    AccessListEntry,
    AccountOverride,
    AuthorizationView,
    BlockId,
    CallFrameView,
    CallRequest,
    TraceConfig,
)

LATEST = BlockId(tag="latest")
CHAIN_ID = 1337
DEV0 = bytes.fromhex(dev_accounts()[0].address[2:])
DEV1 = bytes.fromhex(dev_accounts()[1].address[2:])
DELEGATE = b"\xde" * 20
"""Where the test puts the delegate's code (a state override)."""
PROBED = b"\xbe" * 20
"""The account the delegate reads the balance of."""
SLOT = 7
# The delegate: SSTORE(7, 42); BALANCE(PROBED); return ADDRESS (the delegating EOA when delegated).
DELEGATE_CODE = (
    bytes.fromhex("602a600755")
    + b"\x73"
    + PROBED
    + bytes.fromhex("3150")
    + bytes.fromhex("3060005260206000f3")
)
OVERRIDES = {DELEGATE: AccountOverride(code=DELEGATE_CODE)}
# The issue's authorization (r = s = 1): it recovers to an address nobody holds the key of, a fresh
# account, so it applies without a refund; it costs its 25,000 either way.
ARBITRARY = AuthorizationView(chain_id=CHAIN_ID, address=DELEGATE, nonce=0, y_parity=0, r=1, s=1)
# No point on secp256k1 has x = 5: this signature recovers nothing and is skipped.
UNRECOVERABLE = AuthorizationView(chain_id=CHAIN_ID, address=DELEGATE, nonce=0, y_parity=0, r=5, s=1)


@pytest.fixture
def node(tmp_path: Path) -> Iterator[Any]:
    (tmp_path / "data").mkdir()
    db, _executor, pool, backend = open_node_state(
        NodeConfig(data_path=tmp_path / "data"), load_genesis(None)
    )
    yield backend
    pool.close()
    db.close()


def _signed(
    key: Any, *, chain_id: int = CHAIN_ID, nonce: int = 0, address: bytes = DELEGATE
) -> AuthorizationView:
    signed = Account.sign_authorization({"chainId": chain_id, "address": address, "nonce": nonce}, key)
    return AuthorizationView(
        chain_id=signed.chain_id,
        address=bytes(signed.address),
        nonce=signed.nonce,
        y_parity=signed.y_parity,
        r=signed.r,
        s=signed.s,
    )


def test_the_per_authorization_gas_is_py_evms() -> None:
    assert rules.PER_EMPTY_ACCOUNT_GAS == prague.PER_EMPTY_ACCOUNT_BASE_COST == 25_000


@pytest.mark.parametrize(
    "auths",
    [(ARBITRARY,), (UNRECOVERABLE,), (ARBITRARY, UNRECOVERABLE), (UNRECOVERABLE, UNRECOVERABLE)],
)
def test_each_authorization_costs_25000_of_intrinsic_gas(
    node: Any, auths: tuple[AuthorizationView, ...]
) -> None:
    request = CallRequest(sender=DEV0, to=DEV1, authorization_list=auths)
    estimate = asyncio.run(node.estimate_gas(request, LATEST, None))
    # geth's IntrinsicGas: 21,000 + 25,000 an authorization; neither a skipped one nor one applied
    # to a fresh account earns a refund.
    assert estimate == 21_000 + 25_000 * len(auths)


def test_the_issue_repro_is_at_least_46000(node: Any) -> None:
    request = CallRequest(
        sender=DEV0,
        to=DEV1,
        authorization_list=(AuthorizationView(chain_id=0x539, address=DEV1, nonce=0, y_parity=0, r=1, s=1),),
    )
    assert asyncio.run(node.estimate_gas(request, LATEST, None)) >= 46_000


def test_a_call_with_a_gas_limit_under_the_authorizations_is_refused(node: Any) -> None:
    request = CallRequest(sender=DEV0, to=DEV1, gas=45_999, authorization_list=(UNRECOVERABLE,))
    with pytest.raises(InvalidTransaction, match=r"^intrinsic gas too low: have 45999, want 46000$"):
        asyncio.run(node.call(request, LATEST, None))


def test_a_call_through_a_delegating_eoa_runs_the_delegates_code(node: Any) -> None:
    eoa = Account.create()
    authority = bytes.fromhex(eoa.address[2:])
    plain = CallRequest(sender=DEV0, to=authority)
    assert asyncio.run(node.call(plain, LATEST, OVERRIDES)) == b""
    delegated = CallRequest(sender=DEV0, to=authority, authorization_list=(_signed(eoa.key),))
    # The delegate's code runs in the EOA's account: ADDRESS is the EOA.
    assert asyncio.run(node.call(delegated, LATEST, OVERRIDES)) == authority.rjust(32, b"\x00")
    # A chain-id-0 authorization is valid on every chain.
    anywhere = CallRequest(sender=DEV0, to=authority, authorization_list=(_signed(eoa.key, chain_id=0),))
    assert asyncio.run(node.call(anywhere, LATEST, OVERRIDES)) == authority.rjust(32, b"\x00")


@pytest.mark.parametrize(
    ("chain_id", "nonce"),
    [(CHAIN_ID, 1), (1, 0)],
    ids=["wrong-nonce", "wrong-chain"],
)
def test_an_authorization_that_does_not_apply_is_skipped(node: Any, chain_id: int, nonce: int) -> None:
    eoa = Account.create()
    authority = bytes.fromhex(eoa.address[2:])
    request = CallRequest(
        sender=DEV0, to=authority, authorization_list=(_signed(eoa.key, chain_id=chain_id, nonce=nonce),)
    )
    assert asyncio.run(node.call(request, LATEST, OVERRIDES)) == b""
    # Skipped, but paid for.
    assert asyncio.run(node.estimate_gas(request, LATEST, OVERRIDES)) == 46_000


def test_the_estimate_of_a_delegated_call_covers_the_delegates_work(node: Any) -> None:
    eoa = Account.create()
    authority = bytes.fromhex(eoa.address[2:])
    request = CallRequest(sender=DEV0, to=authority, authorization_list=(_signed(eoa.key),))
    estimate = asyncio.run(node.estimate_gas(request, LATEST, OVERRIDES))
    # 46,000 intrinsic, a 20,000 SSTORE from zero and a cold BALANCE (2,600) at least.
    assert estimate > 46_000 + 20_000 + 2_600
    tight = CallRequest(
        sender=DEV0, to=authority, gas=estimate, authorization_list=request.authorization_list
    )
    assert asyncio.run(node.call(tight, LATEST, OVERRIDES)) == authority.rjust(32, b"\x00")


def test_the_access_list_of_a_delegated_call_lists_what_the_delegate_touches(node: Any) -> None:
    eoa = Account.create()
    authority = bytes.fromhex(eoa.address[2:])
    request = CallRequest(sender=DEV0, to=authority, authorization_list=(_signed(eoa.key),))
    result = asyncio.run(node.create_access_list(request, LATEST, OVERRIDES))
    assert result.error is None
    # geth's access list tracer: the slots of the running account (the EOA) and the accounts read,
    # by address.
    assert result.access_list == tuple(
        sorted(
            (AccessListEntry(authority, (SLOT.to_bytes(32, "big"),)), AccessListEntry(PROBED, ())),
            key=lambda entry: entry.address,
        )
    )
    assert result.gas_used > 46_000


def test_the_access_list_leaves_out_the_authorities(node: Any) -> None:
    # The recipient reads the authority's balance; geth leaves the authority out of the list.
    eoa = Account.create()
    authority = bytes.fromhex(eoa.address[2:])
    reader = b"\x99" * 20
    overrides = {**OVERRIDES, reader: AccountOverride(code=b"\x73" + authority + b"\x31\x50\x00")}
    request = CallRequest(sender=DEV0, to=reader, authorization_list=(_signed(eoa.key),))
    result = asyncio.run(node.create_access_list(request, LATEST, overrides))
    assert result.error is None
    assert result.access_list == ()
    without = CallRequest(sender=DEV0, to=reader)
    assert asyncio.run(node.create_access_list(without, LATEST, overrides)).access_list == (
        AccessListEntry(authority, ()),
    )


def test_debug_trace_call_traces_the_delegates_code(node: Any) -> None:
    # geth's TraceCall executes the same message as eth_call, authorizations included.
    eoa = Account.create()
    authority = bytes.fromhex(eoa.address[2:])
    request = CallRequest(sender=DEV0, to=authority, authorization_list=(_signed(eoa.key),))
    frame = asyncio.run(node.trace_call(request, LATEST, OVERRIDES, TraceConfig(tracer="callTracer")))
    assert isinstance(frame, CallFrameView)
    assert frame.output == authority.rjust(32, b"\x00")
    assert frame.gas_used > 46_000


def test_a_set_code_request_without_a_recipient_is_refused_with_geths_words(node: Any) -> None:
    request = CallRequest(sender=DEV0, input=b"\x00", authorization_list=(UNRECOVERABLE,))
    words = rf"^EIP-7702 transaction cannot be used to create contract \(sender 0x{DEV0.hex()}\)$"
    for method in (node.call, node.estimate_gas, node.create_access_list):
        with pytest.raises(InvalidTransaction, match=words):
            asyncio.run(method(request, LATEST, None))


def test_an_empty_authorization_list_is_refused_with_geths_words(node: Any) -> None:
    request = CallRequest(sender=DEV0, to=DEV1, authorization_list=())
    with pytest.raises(InvalidTransaction, match=r"^EIP-7702 transaction with empty auth list \(sender 0x"):
        asyncio.run(node.call(request, LATEST, None))


def test_authority_recovers_the_signer_and_nothing_from_a_bad_signature() -> None:
    eoa = Account.create()
    assert calltx.authority(_signed(eoa.key)) == bytes.fromhex(eoa.address[2:])
    assert calltx.authority(UNRECOVERABLE) is None
    high_s = _signed(eoa.key)
    flipped = AuthorizationView(
        high_s.chain_id,
        high_s.address,
        high_s.nonce,
        1 - high_s.y_parity,
        high_s.r,
        rules.SECP256K1_N - high_s.s,
    )
    assert calltx.authority(flipped) is None  # EIP-2: s above N/2 is no signature


# --- creations: EIP-3860 --------------------------------------------------------------------

INITCODE = b"\x00" * 1_000  # STOP: creates an empty account
# geth IntrinsicGas: 53,000 for a creation + 4 a zero byte + 2 a 32-byte word of init code.
CREATE_INTRINSIC = 53_000 + 4 * 1_000 + 2 * 32


def test_a_creations_intrinsic_gas_counts_its_init_code_words(node: Any) -> None:
    request = CallRequest(sender=DEV0, input=INITCODE, gas=CREATE_INTRINSIC - 1)
    with pytest.raises(
        InvalidTransaction,
        match=rf"^intrinsic gas too low: have {CREATE_INTRINSIC - 1}, want {CREATE_INTRINSIC}$",
    ):
        asyncio.run(node.call(request, LATEST, None))
    assert asyncio.run(node.estimate_gas(CallRequest(sender=DEV0, input=INITCODE), LATEST, None)) == (
        CREATE_INTRINSIC
    )


def test_init_code_over_the_limit_is_refused(node: Any) -> None:
    request = CallRequest(sender=DEV0, input=b"\x00" * (rules.MAX_INITCODE_SIZE_BYTES + 1))
    words = r"^max initcode size exceeded: code size 49153 limit 49152$"
    for method in (node.call, node.estimate_gas):
        with pytest.raises(InvalidTransaction, match=words):
            asyncio.run(method(request, LATEST, None))


# --- fees -------------------------------------------------------------------------------------


def test_a_tip_above_the_fee_cap_is_refused_with_geths_words(node: Any) -> None:
    request = CallRequest(sender=DEV0, to=DEV1, max_priority_fee_per_gas=5)
    with pytest.raises(
        InvalidTransaction,
        match=r"^max priority fee per gas higher than max fee per gas: address 0x[0-9a-f]{40}, "
        r"maxPriorityFeePerGas: 5, maxFeePerGas: 0$",
    ):
        asyncio.run(node.call(request, LATEST, None))


def test_the_estimate_is_capped_at_what_the_sender_can_pay(node: Any) -> None:
    # geth's estimator: the limit is at most (balance - value) / fee cap, so a sender that cannot
    # pay the block gas limit at its fee cap still gets an estimate.
    poor = b"\x77" * 20
    fee_cap = 2 * 10**9
    overrides = {poor: AccountOverride(balance=100_000 * fee_cap)}
    request = CallRequest(sender=poor, to=DEV1, max_fee_per_gas=fee_cap, max_priority_fee_per_gas=0)
    assert asyncio.run(node.estimate_gas(request, LATEST, overrides)) == 21_000
    broke = {poor: AccountOverride(balance=20_000 * fee_cap)}
    with pytest.raises(InvalidTransaction, match=r"have 20000, want 21000$"):
        asyncio.run(node.estimate_gas(request, LATEST, broke))
