"""Development-network helpers: the genesis document, validator keys, the well-known dev accounts.

Shared by ``jsc-node genesis new``, the embedded dev genesis and the multi-validator devnet, so all
three describe a chain the same way (geth/Besu genesis.json with a ``qbft`` section).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from jsc_node.chainformat import (
    ADDRESS_BYTES,
    BFT_MIX_HASH,
    QbftExtraData,
    decode_extra_data,
    genesis_extra_data,
)
from jsc_node.errors import AttestationError, DevToolsInputError
from jsc_node.genesis import DEV_VALIDATOR_KEY, predeploy_alloc
from jsc_node.governance import accounts as accounts_contract
from jsc_node.governance import nodes as nodes_contract
from jsc_node.governance import registry as registry_contract
from jsc_node.governance.identity import AttestationFields, attestation_fields

# anvil's and Hardhat's development mnemonic: its first ten accounts are funded in every dev genesis.
# The keys are public knowledge; anything sent to them on a public chain is taken within seconds.
DEV_MNEMONIC = "test test test test test test test test test test test junk"
DEV_ACCOUNT_COUNT = 10
DEV_ACCOUNT_BALANCE_WEI = 10_000 * 10**18

DEFAULT_CHAIN_ID = 1337
DEFAULT_BLOCK_PERIOD_S = 2
# 30M gas, geth's and Besu's default block gas limit.
DEFAULT_GAS_LIMIT = 0x1C9C380
# EIP-1559 INITIAL_BASE_FEE (1 gwei).
DEFAULT_BASE_FEE_WEI = 1_000_000_000
QBFT_EPOCH_LENGTH = 30_000
QBFT_REQUEST_TIMEOUT_S = 10
QBFT_EMPTY_BLOCK_PERIOD_S = 60
# The embedded dev genesis (`make run`): one block a second, with or without transactions, as
# `geth --dev --dev.period 1`, so a wallet waiting for confirmations on an idle chain gets one a
# second instead of one a minute. Files made for a network (`genesis new`, `devnet`) keep 60 s.
DEV_BLOCK_PERIOD_S = 1
DEV_EMPTY_BLOCK_PERIOD_S = 1
# The genesis policy `config.jsc` every file made here carries: validators run in Japan.
DEFAULT_JURISDICTIONS: tuple[str, ...] = ("JP",)

# Every pre-merge fork at block 0, then the timestamp forks at time 0: a dev chain starts on Prague.
_BLOCK_FORKS = (
    "homesteadBlock",
    "eip150Block",
    "eip155Block",
    "eip158Block",
    "byzantiumBlock",
    "constantinopleBlock",
    "petersburgBlock",
    "istanbulBlock",
    "muirGlacierBlock",
    "berlinBlock",
    "londonBlock",
    "arrowGlacierBlock",
    "grayGlacierBlock",
)
_TIME_FORKS = ("shanghaiTime", "cancunTime", "pragueTime")
# EIP-4844 / EIP-7691 blob parameters; geth refuses a Cancun/Prague config without them (EIP-7840).
_BLOB_SCHEDULE = {
    "cancun": {"target": 3, "max": 6, "baseFeeUpdateFraction": 3_338_477},
    "prague": {"target": 6, "max": 9, "baseFeeUpdateFraction": 5_007_716},
}

_README = """\
THESE KEYS ARE NOT FOR PRODUCTION IF YOU SHARE THIS DIRECTORY
=============================================================

`jsc-node genesis new` wrote one secp256k1 private key per validator, unencrypted:

{validators}

Anyone who reads a `key` file can sign as that validator. A shared, copied, committed or
published key is a compromised key: do not use it for a network that holds anything of value.
For production, generate each validator's key on its own host and collect only the addresses.

genesis.json funds the ten well-known development accounts of the mnemonic
"{mnemonic}" (anvil/Hardhat), {balance} ETH each.
Their private keys are public knowledge too.

The validator registry (contracts/ValidatorRegistry.sol, at 0x{registry} as config.jsc says)
holds {attestations}.

Start validator <i> with:

    jsc-node run --genesis-file genesis.json --data-path <dir> \\
        --node-private-key-file validator-<i>/key
"""


@dataclass(frozen=True)
class DevAccount:
    address: str
    """EIP-55 checksummed address."""
    private_key: bytes
    """32-byte secp256k1 key (public knowledge: development use only)."""


@dataclass(frozen=True)
class ValidatorKey:
    index: int
    """Position in generation order: the key lives in ``validator-<index>/key``."""
    address: str
    """EIP-55 checksummed address."""
    private_key: bytes


@cache
def dev_accounts(count: int = DEV_ACCOUNT_COUNT) -> tuple[DevAccount, ...]:
    """The first ``count`` accounts of DEV_MNEMONIC on the BIP-44 Ethereum path m/44'/60'/0'/0/i."""
    from eth_account import Account  # ~0.5 s to import; `jsc-node rlp` never needs it

    Account.enable_unaudited_hdwallet_features()
    accounts = []
    for i in range(count):
        acct = Account.from_mnemonic(DEV_MNEMONIC, account_path=f"m/44'/60'/0'/0/{i}")
        accounts.append(DevAccount(address=str(acct.address), private_key=bytes(acct.key)))
    return tuple(accounts)


def dev_alloc(balance_wei: int = DEV_ACCOUNT_BALANCE_WEI) -> dict[str, dict[str, str]]:
    # Alloc keys as Besu's examples and genesis/dev.json write them: lowercase hex, no 0x.
    return {acct.address.lower()[2:]: {"balance": hex(balance_wei)} for acct in dev_accounts()}


def _with_admin_contract(
    accounts: dict[str, Any], what: str, address: bytes, entry: dict[str, Any], admins: Sequence[bytes]
) -> dict[str, Any]:
    """``accounts`` with an allowlist contract's genesis ``entry`` at ``address`` and a development
    balance for each of its ``admins`` (the validators) that has none: admins pay gas for the list's
    changes. Refused if ``accounts`` already holds ``address``."""
    where = address.hex()
    taken = {a.lower().removeprefix("0x") for a in accounts}
    if where in taken:
        raise DevToolsInputError(f"alloc already holds the {what} address 0x{where}")
    unfunded = [a.hex() for a in admins if a.hex() not in taken]
    return {**accounts, **{a: {"balance": hex(DEV_ACCOUNT_BALANCE_WEI)} for a in unfunded}, where: entry}


def make_genesis(
    validators: list[str],
    chain_id: int = DEFAULT_CHAIN_ID,
    block_period_s: int = DEFAULT_BLOCK_PERIOD_S,
    *,
    alloc: dict[str, dict[str, str]] | None = None,
    timestamp: int = 0,
    gas_limit: int = DEFAULT_GAS_LIMIT,
    base_fee_wei: int = DEFAULT_BASE_FEE_WEI,
    epoch_length: int = QBFT_EPOCH_LENGTH,
    request_timeout_s: int = QBFT_REQUEST_TIMEOUT_S,
    empty_block_period_s: int = QBFT_EMPTY_BLOCK_PERIOD_S,
    predeploys: bool = True,
    registry: bool = True,
    attestations: Sequence[AttestationFields] | None = None,
    jurisdictions: Sequence[str] = DEFAULT_JURISDICTIONS,
    accounts_allowlist: bool = False,
    allowlist_accounts: Sequence[str] = (),
    restrict_create: bool = False,
    nodes_allowlist: bool = False,
    allowlist_nodes: Sequence[str] = (),
) -> dict[str, Any]:
    """A geth/Besu-style QBFT genesis document (a JSON-ready dict).

    ``validators`` are addresses (hex, 0x optional); extraData lists them sorted by byte value, as
    Besu does. ``alloc`` defaults to the ten funded dev accounts (``dev_alloc()``); with
    ``predeploys`` the canonical contracts and precompile balances of ``genesis.predeploy_alloc()``
    are added (an address in ``alloc`` keeps its own entry). With ``registry`` the ValidatorRegistry
    (contracts/ValidatorRegistry.sol) is at ``governance.registry.REGISTRY_ADDRESS`` with ``config.jsc``
    naming it and ``jurisdictions``; ``attestations[i]`` is the Valid attestation of
    ``validators[i]`` in its storage, by default the marked development attestation
    ``governance.registry.dev_attestation(i)``.
    With ``accounts_allowlist`` (needs ``registry``: it is a key of ``config.jsc``) the
    AccountAllowlist (contracts/AccountAllowlist.sol) is at ``governance.accounts.ALLOWLIST_ADDRESS``,
    named by ``config.jsc.accountsAllowlist``: the validators are its admins (who may always
    transact; each without an ``alloc`` entry is funded as a dev account, to pay for the admin
    transactions), ``allowlist_accounts`` are allowed to transact, and ``restrict_create`` makes
    contract creation need the CREATE permission. Off by default: the chain is open.
    With ``nodes_allowlist`` (also a key of ``config.jsc``) the NodeAllowlist
    (contracts/NodeAllowlist.sol) is at ``governance.nodes.NODES_ALLOWLIST_ADDRESS``, named by
    ``config.jsc.nodesAllowlist``: the validators are its admins (funded as above) and every genesis
    node is listed: the validators' node keys and ``allowlist_nodes`` (node-key addresses, e.g. RPC
    nodes). Off by default.
    """
    if (accounts_allowlist or nodes_allowlist) and not registry:
        raise DevToolsInputError("the allowlists are named by config.jsc, which needs the registry")
    if not validators:
        raise DevToolsInputError("a QBFT genesis needs at least one validator")
    if chain_id <= 0:
        raise DevToolsInputError(f"chain id must be positive, got {chain_id}")
    if block_period_s <= 0:
        raise DevToolsInputError(f"block period must be at least 1 second, got {block_period_s}")
    if empty_block_period_s < 0:
        raise DevToolsInputError(f"empty block period must not be negative, got {empty_block_period_s}")
    addresses = sorted({parse_address(v) for v in validators})
    if len(addresses) != len(validators):
        raise DevToolsInputError("validator addresses must be distinct")
    config: dict[str, Any] = {"chainId": chain_id}
    config.update(dict.fromkeys(_BLOCK_FORKS, 0))
    config.update(dict.fromkeys(_TIME_FORKS, 0))
    config["blobSchedule"] = {fork: dict(params) for fork, params in _BLOB_SCHEDULE.items()}
    config["qbft"] = {
        "blockperiodseconds": block_period_s,
        "epochlength": epoch_length,
        "requesttimeoutseconds": request_timeout_s,
        "emptyblockperiodseconds": empty_block_period_s,
    }
    config["zeroBaseFee"] = False
    accounts = dev_alloc() if alloc is None else alloc
    if predeploys:
        taken = {a.lower().removeprefix("0x") for a in accounts}
        accounts = {**accounts, **{a: e for a, e in predeploy_alloc().items() if a not in taken}}
    if registry:
        config["jsc"] = {
            "registry": "0x" + registry_address_hex(),
            "jurisdictions": list(jurisdictions),
        }
        given = [parse_address(v) for v in validators]
        fields = (
            [registry_contract.dev_attestation(i) for i in range(len(given))]
            if attestations is None
            else attestations
        )
        if len(fields) != len(given):
            raise DevToolsInputError(f"{len(fields)} attestations for {len(given)} validators")
        for i, item in enumerate(fields):
            if item.jurisdiction not in jurisdictions:
                raise DevToolsInputError(
                    f"attestation {i}: jurisdiction {item.jurisdiction!r} is not allowed "
                    f"(allowed: {', '.join(jurisdictions)})"
                )
        taken = {a.lower().removeprefix("0x") for a in accounts}
        if registry_address_hex() in taken:
            raise DevToolsInputError(f"alloc already holds the registry address 0x{registry_address_hex()}")
        accounts = {
            **accounts,
            registry_address_hex(): registry_contract.genesis_alloc_entry(
                given, dict(zip(given, fields, strict=True)), jurisdictions
            ),
        }
    if accounts_allowlist:
        admins = [parse_address(v) for v in validators]
        where = accounts_contract.ALLOWLIST_ADDRESS
        config["jsc"]["accountsAllowlist"] = "0x" + where.hex()
        accounts = _with_admin_contract(
            accounts,
            "account allowlist",
            where,
            accounts_contract.genesis_alloc_entry(
                admins, [parse_address(a) for a in allowlist_accounts], restrict_create=restrict_create
            ),
            addresses,
        )
    if nodes_allowlist:
        admins = [parse_address(v) for v in validators]
        where = nodes_contract.NODES_ALLOWLIST_ADDRESS
        config["jsc"]["nodesAllowlist"] = "0x" + where.hex()
        accounts = _with_admin_contract(
            accounts,
            "node allowlist",
            where,
            nodes_contract.genesis_alloc_entry(
                admins, [*admins, *(parse_address(n) for n in allowlist_nodes)]
            ),
            addresses,
        )
    return {
        "config": config,
        "nonce": "0x0",
        "timestamp": hex(timestamp),
        "gasLimit": hex(gas_limit),
        "difficulty": "0x1",
        "mixHash": "0x" + BFT_MIX_HASH.hex(),
        "coinbase": "0x" + "00" * ADDRESS_BYTES,
        "baseFeePerGas": hex(base_fee_wei),
        "extraData": "0x" + genesis_extra_data(addresses).hex(),
        "alloc": accounts,
    }


def registry_address_hex() -> str:
    """The registry's alloc key as genesis/dev.json writes keys: lowercase hex, no 0x."""
    return registry_contract.REGISTRY_ADDRESS.hex()


def load_attestations(
    path: Path, count: int, jurisdictions: Sequence[str] = DEFAULT_JURISDICTIONS
) -> list[AttestationFields]:
    """``genesis new --attestations FILE``: a JSON list of ``count`` objects, the i-th for
    validator-<i>: ``{"entityName", "corporateNumber", "jurisdiction", "region", "documentHash"}``.
    Every field is checked as the contract checks it; an error names the entry and the field."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DevToolsInputError(f"attestations file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DevToolsInputError(f"cannot read attestations file {path}: {exc}") from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DevToolsInputError(f"attestations file {path} is not valid JSON: {exc}") from None
    if not isinstance(doc, list):
        raise DevToolsInputError(
            f"attestations file {path} must be a JSON list (one object per validator), got {type(doc).__name__}"
        )
    if len(doc) != count:
        raise DevToolsInputError(
            f"attestations file {path} has {len(doc)} entries for {count} validators (one per validator, in order)"
        )
    allowed = tuple(jurisdictions)
    try:
        return [attestation_fields(entry, allowed, where=f"attestations[{i}]") for i, entry in enumerate(doc)]
    except AttestationError as exc:
        raise DevToolsInputError(f"attestations file {path}: {exc}") from None


def dev_genesis() -> dict[str, Any]:
    """The embedded development genesis, jsc_node/data/dev.json and genesis/dev.json (a test keeps
    both equal to this): chain 1337, the dev validator alone, 1 s blocks even when idle."""
    from eth_account import Account

    return make_genesis(
        [str(Account.from_key(DEV_VALIDATOR_KEY).address)],
        chain_id=DEFAULT_CHAIN_ID,
        block_period_s=DEV_BLOCK_PERIOD_S,
        empty_block_period_s=DEV_EMPTY_BLOCK_PERIOD_S,
    )


def write_dev_genesis(path: Path) -> None:
    """Write ``dev_genesis()`` as genesis/dev.json is written (2-space JSON, final newline)."""
    path.write_text(json.dumps(dev_genesis(), indent=2) + "\n")


def new_validator_keys(count: int) -> list[ValidatorKey]:
    if count < 1:
        raise DevToolsInputError(f"need at least one validator, got {count}")
    from eth_account import Account

    keys = []
    for i in range(count):
        acct = Account.create()
        keys.append(ValidatorKey(index=i, address=str(acct.address), private_key=bytes(acct.key)))
    return keys


def write_devnet(
    out: Path,
    validators: int,
    chain_id: int,
    block_period_s: int,
    *,
    timestamp: int = 0,
    empty_block_period_s: int = QBFT_EMPTY_BLOCK_PERIOD_S,
    attestations: Sequence[AttestationFields] | None = None,
    accounts_allowlist: bool = False,
    allowlist_accounts: Sequence[str] = (),
    restrict_create: bool = False,
    nodes_allowlist: bool = False,
    allowlist_nodes: Sequence[str] = (),
) -> list[ValidatorKey]:
    """Write ``out/validator-<i>/{key,address}``, ``out/genesis.json`` and ``out/README.md``.

    ``attestations[i]`` is validator-<i>'s attestation in the registry's genesis storage; without
    them each gets the marked development attestation. ``accounts_allowlist`` and the two after it
    are ``make_genesis``'s (the account allowlist contract, off by default), as are
    ``nodes_allowlist`` and ``allowlist_nodes`` (the node allowlist contract, off by default). Refuses a non-empty ``out`` so it never
    overwrites keys.
    """
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise DevToolsInputError(f"{out} exists and is not an empty directory; refusing to overwrite keys")
    from jsc_node.accounts import write_secret

    if attestations is not None and len(attestations) != validators:
        raise DevToolsInputError(f"{len(attestations)} attestations for {validators} validators")
    keys = new_validator_keys(validators)
    genesis = make_genesis(
        [k.address for k in keys],
        chain_id=chain_id,
        block_period_s=block_period_s,
        timestamp=timestamp,
        empty_block_period_s=empty_block_period_s,
        attestations=attestations,
        accounts_allowlist=accounts_allowlist,
        allowlist_accounts=allowlist_accounts,
        restrict_create=restrict_create,
        nodes_allowlist=nodes_allowlist,
        allowlist_nodes=allowlist_nodes,
    )
    out.mkdir(parents=True, exist_ok=True)
    for key in keys:
        key_dir = out / f"validator-{key.index}"
        key_dir.mkdir(mode=0o700)
        # Besu's key file format: 0x-prefixed hex, no newline.
        write_secret(key_dir / "key", "0x" + key.private_key.hex())
        (key_dir / "address").write_text(key.address + "\n")
    (out / "genesis.json").write_text(json.dumps(genesis, indent=2) + "\n")
    listing = "\n".join(f"    validator-{k.index}/key  {k.address}" for k in keys)
    (out / "README.md").write_text(
        _README.format(
            validators=listing,
            mnemonic=DEV_MNEMONIC,
            balance=DEV_ACCOUNT_BALANCE_WEI // 10**18,
            registry=registry_address_hex(),
            attestations="the attestations given to `genesis new --attestations`"
            if attestations is not None
            else 'DEVELOPMENT attestations ("DEVELOPMENT VALIDATOR <i> (not attested)"): nobody\n'
            "checked who runs these validators or where",
        )
    )
    return keys


# --- `jsc-node rlp`: QBFT extraData as text ------------------------------------------------------


def parse_address(text: str) -> bytes:
    """20 bytes from hex, with or without 0x; raises DevToolsInputError naming the bad value."""
    if not isinstance(text, str):
        raise DevToolsInputError(f"address must be a hex string, got {type(text).__name__}")
    digits = text.strip().removeprefix("0x").removeprefix("0X")
    try:
        raw = bytes.fromhex(digits)
    except ValueError as exc:
        raise DevToolsInputError(f"address {text!r} is not hex") from exc
    if len(raw) != ADDRESS_BYTES:
        raise DevToolsInputError(f"address {text!r} is {len(raw)} bytes, expected {ADDRESS_BYTES}")
    return raw


def encode_validators_json(text: str) -> str:
    """A JSON list of validator addresses -> genesis extraData as 0x-hex (order kept, as Besu's
    ``besu rlp encode --type QBFT_EXTRA_DATA``)."""
    try:
        items = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DevToolsInputError(f"input is not valid JSON: {exc}") from exc
    if not isinstance(items, list):
        raise DevToolsInputError(f"input must be a JSON list of addresses, got {type(items).__name__}")
    return "0x" + genesis_extra_data([parse_address(item) for item in items]).hex()


def decode_extra_data_hex(text: str) -> dict[str, Any]:
    """0x-hex extraData -> its fields as a JSON-ready dict (addresses and bytes as 0x-hex)."""
    digits = text.strip().removeprefix("0x").removeprefix("0X")
    try:
        raw = bytes.fromhex(digits)
    except ValueError as exc:
        raise DevToolsInputError("input is not hex") from exc
    data = decode_extra_data(raw)
    return extra_data_fields(data)


def extra_data_fields(data: QbftExtraData) -> dict[str, Any]:
    vote = None
    if data.vote is not None:
        vote = {"recipient": "0x" + data.vote.recipient.hex(), "add": data.vote.add}
    return {
        "vanity": "0x" + data.vanity.hex(),
        "validators": ["0x" + v.hex() for v in data.validators],
        "vote": vote,
        "round": data.round,
        "seals": ["0x" + s.hex() for s in data.seals],
    }
