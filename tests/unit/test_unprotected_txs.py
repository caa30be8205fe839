"""Pre-EIP-155 legacy transactions (v = 27/28): refused over RPC unless the node runs with
--rpc-allow-unprotected-txs, admitted from peers, as geth (internal/ethapi SubmitTransaction
refuses them over RPC unless --rpc.allow-unprotected-txs; its pool takes them from the network)."""

from __future__ import annotations

import pytest
import rlp

from jsc_node.errors import InvalidTransaction
from tests.unit.test_txpool import DEV_KEY, address, make_pool, tx_legacy

REFUSAL = "only replay-protected (EIP-155) transactions allowed over RPC"

# The deterministic deployment proxy's published presigned transaction (Arachnid's
# deterministic-deployment-proxy README): nonce 0, 100 gwei, gas 100,000, v = 27, no chain id.
PROXY_DEPLOYMENT_TX = bytes.fromhex(
    "f8a58085174876e800830186a08080b853604580600e600039806000f350fe7fffffffffffffffffffffffff"
    "ffffffffffffffffffffffffffffffffffffffe03601600081602082378035828234f58015156039578182fd"
    "5b8082525050506014600cf31ba0222222222222222222222222222222222222222222222222222222222222"
    "2222a02222222222222222222222222222222222222222222222222222222222222222"
)
PROXY_SIGNER = bytes.fromhex("3fab184622dc19b6109349b94811493bf2a45362")


def test_refused_over_rpc_by_default_pool_unchanged() -> None:
    pool = make_pool()
    with pytest.raises(InvalidTransaction) as refused:
        pool.add(tx_legacy(chain_id=None))
    assert str(refused.value) == REFUSAL
    assert len(pool) == 0


def test_admitted_over_rpc_with_the_flag() -> None:
    pool = make_pool(allow_unprotected_txs=True)
    raw = tx_legacy(chain_id=None)
    assert rlp.decode(raw)[6] in (b"\x1b", b"\x1c")  # v = 27 or 28: no chain id
    tx_hash = pool.add(raw)
    [pooled] = pool.content()["pending"][address(DEV_KEY)].values()
    assert pooled.hash == tx_hash
    assert pooled.sender == address(DEV_KEY)


def test_presigned_proxy_deployment_recovers_its_published_signer() -> None:
    pool = make_pool(allow_unprotected_txs=True, base_fee=10**9)
    pool.add(PROXY_DEPLOYMENT_TX)
    assert list(pool.content()["pending"]) == [PROXY_SIGNER]


def test_admitted_from_peers_without_the_flag() -> None:
    pool = make_pool()
    [result] = pool.add_batch([tx_legacy(chain_id=None)])
    assert isinstance(result, bytes)
    assert len(pool) == 1


def test_protected_legacy_still_checks_its_chain_id_with_the_flag() -> None:
    pool = make_pool(allow_unprotected_txs=True)
    with pytest.raises(InvalidTransaction, match="invalid chain id for signer: have 5 want 1337"):
        pool.add(tx_legacy(chain_id=5))
