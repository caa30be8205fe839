"""A 4-validator chain holding the ValidatorRegistry, on a real LevelDB with py-evm executing the
contract: blocks are built and committed by the executor (fake seals: the seal rule is not what is
tested here), calls go through NodeBackend.call as eth_call does."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import rlp
from eth_abi import decode, encode
from eth_account import Account
from eth_hash.auto import keccak
from eth_utils import to_checksum_address

from jsc_node.chainformat import QbftExtraData, encode_extra_data
from jsc_node.config import NodeConfig
from jsc_node.devtools import dev_accounts, make_genesis
from jsc_node.execution_process import open_node_state
from jsc_node.genesis import GenesisSpec, parse_genesis
from jsc_node.governance.identity import AttestationFields
from jsc_node.governance.registry import REGISTRY_ADDRESS
from jsc_node.views import BlockId, CallRequest

ATTESTATION_TUPLE = (
    "(uint8,uint256,string,uint256,string,string,bytes32,uint256,uint256,address[],uint256,address[])"
)


def selector(signature: str) -> bytes:
    return keccak(signature.encode())[:4]


def calldata(signature: str, *args: Any) -> bytes:
    types = signature[signature.index("(") + 1 : -1]
    arg_types = _split_types(types)
    return selector(signature) + encode(arg_types, list(args))


def _split_types(types: str) -> list[str]:
    out: list[str] = []
    depth, start = 0, 0
    for i, c in enumerate(types):
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        elif c == "," and depth == 0:
            out.append(types[start:i])
            start = i + 1
    if types:
        out.append(types[start:])
    return out


def error_data(signature: str, *args: Any) -> bytes:
    """Revert data of a custom error, as the contract returns it."""
    return calldata(signature, *args)


def topic(signature: str) -> bytes:
    return keccak(signature.encode())


@dataclass
class RegistryChain:
    spec: GenesisSpec
    db: Any
    executor: Any
    pool: Any
    backend: Any
    keys: list[bytes]
    """Private keys of the dev accounts; the first four are the validators."""
    nonces: dict[bytes, int] = field(default_factory=dict)

    @property
    def validators(self) -> tuple[bytes, ...]:
        return self.spec.validators

    def address(self, index: int) -> bytes:
        return bytes.fromhex(Account.from_key(self.keys[index]).address[2:])

    def call(
        self, signature: str, *args: Any, sender: bytes | None = None, block: BlockId | None = None
    ) -> bytes:
        request = CallRequest(sender=sender, to=REGISTRY_ADDRESS, input=calldata(signature, *args))
        result: bytes = asyncio.run(self.backend.call(request, block or BlockId(tag="latest"), None))
        return result

    def view(self, signature: str, returns: str, *args: Any, sender: bytes | None = None) -> Any:
        return decode([returns], self.call(signature, *args, sender=sender))[0]

    def storage(self) -> Any:
        state = self.executor.state_at(self.executor.head)
        return lambda slot: state.get_storage(REGISTRY_ADDRESS, slot)

    def send(self, key_index: int, signature: str, *args: Any) -> list[Any]:
        """One transaction in one committed block; returns its receipt's logs (status checked)."""
        [receipt] = self.block([(key_index, calldata(signature, *args))])
        assert receipt.state_root == b"\x01", f"{signature} failed"
        return list(receipt.logs)

    def block(self, txs: list[tuple[int, bytes]]) -> list[Any]:
        sealed, receipts = self.build(txs)
        self.executor.commit_block(sealed)
        self.backend.publish_head()
        return receipts

    def registry_tx(self, key_index: int, data: bytes) -> Any:
        """A call to the registry from key ``key_index`` at its next nonce, decoded."""
        sender = self.address(key_index)
        nonce = self.nonces.get(sender, 0)
        self.nonces[sender] = nonce + 1
        return registry_tx(self.keys[key_index], nonce, data, self.spec.chain_id)

    def build(
        self, txs: list[tuple[int, bytes]], validators: tuple[bytes, ...] | None = None
    ) -> tuple[bytes, list[Any]]:
        """A sealed block on the head holding ``txs`` (key index, calldata to the registry), its
        extraData naming ``validators`` (default: the genesis set), not committed; its receipts."""

        decoded = [self.registry_tx(key_index, data) for key_index, data in txs]
        head = self.executor.head
        named = self.validators if validators is None else validators
        extra = QbftExtraData(b"\x00" * 32, named, None, 0, ())
        built = self.executor.build_block(
            head.hash, head.timestamp + 1, self.validators[0], encode_extra_data(extra), decoded
        )
        assert not built.skipped, built.skipped
        sealed = QbftExtraData(b"\x00" * 32, named, None, 0, (b"\x01" * 65,))
        header = built.block.header.copy(extra_data=encode_extra_data(sealed))
        return bytes(rlp.encode(built.block.copy(header=header))), list(built.receipts)

    def close(self) -> None:
        self.pool.close()
        self.db.close()


def open_registry_chain(
    tmp_path: Path, validators: int = 4, attestations: list[AttestationFields] | None = None
) -> RegistryChain:
    keys = [a.private_key for a in dev_accounts()]
    addresses = [str(Account.from_key(k).address) for k in keys[:validators]]
    doc = make_genesis(addresses, block_period_s=1, empty_block_period_s=1, attestations=attestations)
    spec = parse_genesis(doc)
    data = tmp_path / "data"
    data.mkdir()
    db, executor, pool, backend = open_node_state(NodeConfig(data_path=data), spec)
    return RegistryChain(spec, db, executor, pool, backend, keys)


def registry_tx(key: bytes, nonce: int, data: bytes, chain_id: int = 1337) -> Any:
    """A signed EIP-1559 call to the registry (2M gas), decoded as py-evm's Prague transaction."""
    from eth.vm.forks.prague.transactions import PragueTransactionBuilder

    signed = Account.sign_transaction(
        {
            "chainId": chain_id,
            "nonce": nonce,
            "to": to_checksum_address(REGISTRY_ADDRESS),
            "value": 0,
            "gas": 2_000_000,
            "maxFeePerGas": 10 * 10**9,
            "maxPriorityFeePerGas": 1,
            "type": 2,
            "data": data,
        },
        key,
    )
    return PragueTransactionBuilder.decode(bytes(signed.raw_transaction))
