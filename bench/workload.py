"""The benchmark's transactions, signed once before anything is timed.

Pure data: imports py-evm only to build and sign transactions (PragueTransactionBuilder, eth-keys
with the coincurve backend) and nothing of jsc_node, so the bare py-evm run sees an unpatched py-evm.

Senders are derived from a fixed seed, so two runs sign byte-identical transactions. Each sender
sends at most ``TXS_PER_SENDER`` (50) transactions per phase: the node's pool keeps at most 64 per
sender (``tx_pool_max_per_sender``), so 2,000 transactions need at least 32 senders; we use 40.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import rlp
from eth.vm.forks.prague.transactions import PragueTransactionBuilder
from eth_hash.auto import keccak
from eth_keys import keys

CHAIN_ID = 1337
GWEI = 10**9
MAX_FEE = 20 * GWEI
TIP = 1 * GWEI
TRANSFER_GAS = 21_000
ERC20_GAS = 100_000
DEPLOY_GAS = 3_000_000
TXS_PER_SENDER = 50
SENDER_BALANCE = 10**24  # 1,000,000 ETH
TOKEN_SUPPLY = 10**30
TOKEN_PER_SENDER = 10**24

ROOT = Path(__file__).resolve().parent.parent
ERC20_ARTIFACT = ROOT / "contracts" / "build" / "ERC20Token.json"
TRANSFER_SELECTOR = bytes.fromhex("a9059cbb")  # transfer(address,uint256)
BALANCE_OF_SELECTOR = bytes.fromhex("70a08231")  # balanceOf(address)


def derive_key(label: str, index: int) -> keys.PrivateKey:
    return keys.PrivateKey(keccak(f"jsc-bench/{label}/{index}".encode()))


def derive_address(label: str, index: int) -> bytes:
    return keccak(f"jsc-bench-recipient/{label}/{index}".encode())[12:]


def contract_address(sender: bytes, nonce: int) -> bytes:
    return keccak(rlp.encode([sender, nonce]))[12:]


def sign_1559(key: keys.PrivateKey, nonce: int, to: bytes, value: int, data: bytes, gas: int) -> bytes:
    unsigned = PragueTransactionBuilder.new_unsigned_dynamic_fee_transaction(
        chain_id=CHAIN_ID,
        nonce=nonce,
        max_priority_fee_per_gas=TIP,
        max_fee_per_gas=MAX_FEE,
        gas=gas,
        to=to,
        value=value,
        data=data,
        access_list=(),
    )
    return bytes(unsigned.as_signed_transaction(key).encode())


def erc20_transfer_data(to: bytes, amount: int) -> bytes:
    return TRANSFER_SELECTOR + to.rjust(32, b"\x00") + amount.to_bytes(32, "big")


def erc20_balance_of_data(owner: bytes) -> bytes:
    return BALANCE_OF_SELECTOR + owner.rjust(32, b"\x00")


def interleave(per_sender: list[list[bytes]]) -> list[bytes]:
    """Round-robin over senders (nonce order within each sender), as many wallets would send."""
    out: list[bytes] = []
    for i in range(max(len(s) for s in per_sender)):
        out.extend(s[i] for s in per_sender if i < len(s))
    return out


@dataclass
class Workload:
    alloc: dict[bytes, int] = field(default_factory=dict)
    """address -> balance funded at genesis (both the bare chain and the node's genesis)."""
    setup: list[bytes] = field(default_factory=list)
    """Untimed: ERC-20 deploy and token distribution to the ERC-20 senders (deployer's nonces)."""
    native: list[bytes] = field(default_factory=list)
    erc20: list[bytes] = field(default_factory=list)
    probe: list[list[bytes]] = field(default_factory=list)
    """Native transfers for the submission-method probe, one list per method (node only)."""
    token: bytes = b""
    deployer: bytes = b""
    read_addresses: list[bytes] = field(default_factory=list)


def build(
    deployer_key_hex: str,
    n_tx: int = 2000,
    n_senders: int = 40,
    probe_methods: int = 4,
    probe_txs: int = 500,
) -> Workload:
    per_sender = -(-n_tx // n_senders)
    if per_sender > TXS_PER_SENDER:
        raise ValueError(f"{n_tx} txs over {n_senders} senders is more than {TXS_PER_SENDER} per sender")
    w = Workload()
    deployer = keys.PrivateKey(bytes.fromhex(deployer_key_hex.removeprefix("0x")))
    w.deployer = deployer.public_key.to_canonical_address()
    artifact = json.loads(ERC20_ARTIFACT.read_text())
    init_code = bytes.fromhex(artifact["bytecode"].removeprefix("0x")) + TOKEN_SUPPLY.to_bytes(32, "big")

    native_keys = [derive_key("native", i) for i in range(n_senders)]
    erc20_keys = [derive_key("erc20", i) for i in range(n_senders)]
    probe_senders = -(-probe_txs // TXS_PER_SENDER)
    probe_keys = [derive_key("probe", i) for i in range(probe_senders)]
    for k in native_keys + erc20_keys + probe_keys:
        w.alloc[k.public_key.to_canonical_address()] = SENDER_BALANCE
    w.alloc[w.deployer] = SENDER_BALANCE

    # Setup: deploy (deployer nonce 0), then fund each ERC-20 sender with tokens.
    w.token = contract_address(w.deployer, 0)
    w.setup.append(sign_1559(deployer, 0, b"", 0, init_code, DEPLOY_GAS))
    for i, k in enumerate(erc20_keys):
        data = erc20_transfer_data(k.public_key.to_canonical_address(), TOKEN_PER_SENDER)
        w.setup.append(sign_1559(deployer, 1 + i, w.token, 0, data, ERC20_GAS))

    def phase(
        label: str, sender_keys: list[keys.PrivateKey], count: int, erc20: bool, first_nonce: int = 0
    ) -> list[bytes]:
        lists: list[list[bytes]] = [[] for _ in sender_keys]
        for n in range(count):
            s = n % len(sender_keys)
            nonce = first_nonce + len(lists[s])
            to = derive_address(label, n)
            if erc20:
                raw = sign_1559(sender_keys[s], nonce, w.token, 0, erc20_transfer_data(to, 1), ERC20_GAS)
            else:
                raw = sign_1559(sender_keys[s], nonce, to, 1, b"", TRANSFER_GAS)
            lists[s].append(raw)
        return interleave(lists)

    w.native = phase("native", native_keys, n_tx, erc20=False)
    w.erc20 = phase("erc20", erc20_keys, n_tx, erc20=True)
    for m in range(probe_methods):
        w.probe.append(phase(f"probe{m}", probe_keys, probe_txs, erc20=False, first_nonce=m * TXS_PER_SENDER))
    w.read_addresses = [k.public_key.to_canonical_address() for k in native_keys[:16]]
    return w


def tx_hash(raw: bytes) -> bytes:
    return keccak(raw)
