"""geth/Besu-style genesis.json -> GenesisSpec.

Pure parsing and checking: it imports no py-evm, so both processes can read the same file. Every
problem is a GenesisError naming the field (``config.chainId``, ``alloc.<addr>.balance``, ...).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Final

from jsc_node.chainformat import BFT_MIX_HASH, QbftExtraData, decode_extra_data
from jsc_node.errors import AttestationError, GenesisError, InvalidBlock
from jsc_node.governance import accounts, registry
from jsc_node.governance.identity import validate_jurisdiction_code

# Insecure by design: the key of the one validator of the embedded development chain. Anyone can
# sign its blocks. Never use genesis/dev.json, or this key, for a network that holds value.
DEV_VALIDATOR_KEY = bytes.fromhex("8db6b2ec9f7d485cb5c3f2563da6920419e528dd152312d1697d28a44cc35df7")

# Forks activated by block number, in order (geth's ChainConfig keys).
BLOCK_FORKS: tuple[tuple[str, str], ...] = (
    ("homestead", "homesteadBlock"),
    ("tangerine_whistle", "eip150Block"),
    ("spurious_dragon", "eip158Block"),
    ("byzantium", "byzantiumBlock"),
    ("constantinople", "constantinopleBlock"),
    ("petersburg", "petersburgBlock"),
    ("istanbul", "istanbulBlock"),
    ("muir_glacier", "muirGlacierBlock"),
    ("berlin", "berlinBlock"),
    ("london", "londonBlock"),
    ("arrow_glacier", "arrowGlacierBlock"),
    ("gray_glacier", "grayGlacierBlock"),
    ("paris", "mergeNetsplitBlock"),
)
# Forks activated by timestamp (post-merge).
TIME_FORKS: tuple[tuple[str, str], ...] = (
    ("shanghai", "shanghaiTime"),
    ("cancun", "cancunTime"),
    ("prague", "pragueTime"),
)
UNSUPPORTED_FORKS = ("osakaTime", "bpo1Time", "verkleTime")

# The canonical contracts every genesis jsc-node writes holds (jsc_node/data/predeploys.json says
# where each code comes from). The first four are Prague's system contracts, which geth's dev genesis
# allocates (core/genesis.go DeveloperGenesisBlock); py-evm's Prague writes the parent hash into the
# EIP-2935 contract and the beacon root into the EIP-4788 one before each block when they are there.
BEACON_ROOTS_ADDRESS: Final = bytes.fromhex("000f3df6d732807ef1319fb7b8bb8522d0beac02")
HISTORY_STORAGE_ADDRESS: Final = bytes.fromhex("0000f90827f1c53a10cb7a02335b175320002935")
WITHDRAWAL_QUEUE_ADDRESS: Final = bytes.fromhex("00000961ef480eb55e80d19ad83579a64c007002")
CONSOLIDATION_QUEUE_ADDRESS: Final = bytes.fromhex("0000bbddc7ce488642fb579f8b00f3a590007251")
CREATE2_DEPLOYER_ADDRESS: Final = bytes.fromhex("4e59b44847b379578588920ca78fbf26c0b4956c")
"""Arachnid's deterministic deployment proxy: calldata salt (32 bytes) || init code -> CREATE2."""
MULTICALL3_ADDRESS: Final = bytes.fromhex("ca11bde05977b3631167028862be2a173976ca11")


@dataclass(frozen=True)
class QbftConfig:
    block_period_s: int = 1
    """Seconds between blocks (``blockperiodseconds``)."""
    epoch_length: int = 30000
    """Blocks per voting epoch; votes reset at each epoch boundary (``epochlength``)."""
    request_timeout_s: int = 10
    """Round-0 timeout; round r waits ``request_timeout_s * 2**r`` (``requesttimeoutseconds``)."""
    empty_block_period_s: int = 0
    """No empty block before this many seconds since the last block (``emptyblockperiodseconds``);
    0 means the block period applies to empty blocks too."""


@dataclass(frozen=True)
class Account:
    balance: int = 0
    nonce: int = 0
    code: bytes = b""
    storage: dict[int, int] = field(default_factory=dict)


@dataclass(frozen=True)
class JscPolicy:
    """``config.jsc``: the chain's sovereignty policy, e.g.
    ``{"registry": "0x00000000000000000000000000000000004a5343", "jurisdictions": ["JP"]}``."""

    registry: bytes
    """Address of the ValidatorRegistry system contract (contracts/ValidatorRegistry.sol), which
    ``alloc`` must hold with code."""
    jurisdictions: tuple[str, ...]
    """ISO 3166-1 alpha-2 codes a validator's attestation may name, in the document's order."""
    accounts_allowlist: bytes | None = None
    """``accountsAllowlist``: address of the AccountAllowlist system contract
    (contracts/AccountAllowlist.sol), which ``alloc`` must hold with code; every block's senders
    must be allowed by it at the parent state. None (absent): any account may transact."""


JSC_POLICY_KEYS: Final = ("registry", "jurisdictions", "accountsAllowlist")


@dataclass(frozen=True)
class GenesisSpec:
    chain_id: int
    block_forks: tuple[tuple[str, int], ...]
    """(fork, first block) for forks activated by number, in activation order."""
    time_forks: tuple[tuple[str, int], ...]
    """(fork, first timestamp) for forks activated by time, in activation order."""
    terminal_total_difficulty: int | None
    qbft: QbftConfig | None
    """QBFT settings; None for an imported non-QBFT chain (served, not produced)."""
    zero_base_fee: bool
    """Besu's ``zeroBaseFee``: base fee stays 0, gas is free (permissioned chains)."""
    alloc: dict[bytes, Account]
    gas_limit: int
    base_fee: int | None
    difficulty: int
    timestamp: int
    extra_data: bytes
    mix_hash: bytes
    nonce: bytes
    coinbase: bytes
    parent_beacon_block_root: bytes | None
    raw: dict[str, Any]
    """The parsed document, for eth_config and export."""
    jsc: JscPolicy | None = None
    """``config.jsc``; None for a chain without the validator registry."""

    @property
    def validators(self) -> tuple[bytes, ...]:
        return self.qbft_extra_data.validators if self.qbft else ()

    @property
    def qbft_extra_data(self) -> QbftExtraData:
        return decode_extra_data(self.extra_data)


@cache
def predeploys() -> dict[str, Any]:
    """jsc_node/data/predeploys.json: precompile balances and canonical contracts, with sources."""
    doc: dict[str, Any] = json.loads(resources.files("jsc_node").joinpath("data/predeploys.json").read_text())
    return doc


def predeploy_alloc() -> dict[str, dict[str, str]]:
    """The predeployed accounts as genesis.json alloc entries (keys lowercase hex without 0x, as
    genesis/dev.json writes them): geth's dev-genesis Prague allocation plus the CREATE2 deployer
    and Multicall3, each contract with nonce 1 as on mainnet."""
    doc = predeploys()
    alloc: dict[str, dict[str, str]] = {
        address[2:]: {"balance": doc["precompiles"]["balance"]} for address in doc["precompiles"]["addresses"]
    }
    for contract in doc["contracts"]:
        alloc[contract["address"][2:]] = {
            "balance": contract["balance"],
            "nonce": contract["nonce"],
            "code": contract["code"],
        }
    return alloc


def load_genesis(path: Path | None) -> GenesisSpec:
    """Read a genesis file; ``None`` is the embedded development genesis (genesis/dev.json)."""
    if path is None:
        text = resources.files("jsc_node").joinpath("data/dev.json").read_text()
        source = "embedded dev genesis"
    else:
        try:
            text = Path(path).read_text()
        except FileNotFoundError as exc:
            raise GenesisError("file", f"{path} does not exist") from exc
        except OSError as exc:
            raise GenesisError("file", f"cannot read {path}: {exc}") from exc
        source = str(path)
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise GenesisError("file", f"{source} is not valid JSON: {exc}") from exc
    return parse_genesis(doc)


def parse_genesis(doc: Any) -> GenesisSpec:
    if not isinstance(doc, dict):
        raise GenesisError("(root)", "must be a JSON object")
    config = doc.get("config")
    if not isinstance(config, dict):
        raise GenesisError("config", "missing or not an object")
    chain_id = _int(config.get("chainId"), "config.chainId", required=True)
    if chain_id <= 0:
        raise GenesisError("config.chainId", "must be positive")

    for key in UNSUPPORTED_FORKS:
        if config.get(key) is not None:
            raise GenesisError(f"config.{key}", "fork not supported by this node (rules up to Prague)")

    block_forks = _fork_list(config, BLOCK_FORKS, "Block")
    time_forks = _fork_list(config, TIME_FORKS, "Time")
    ttd = config.get("terminalTotalDifficulty")
    terminal_total_difficulty = None if ttd is None else _int(ttd, "config.terminalTotalDifficulty")

    qbft: QbftConfig | None = None
    if "qbft" in config:
        q = config["qbft"]
        if not isinstance(q, dict):
            raise GenesisError("config.qbft", "must be an object")
        qbft = QbftConfig(
            block_period_s=_int(q.get("blockperiodseconds", 1), "config.qbft.blockperiodseconds"),
            epoch_length=_int(q.get("epochlength", 30000), "config.qbft.epochlength"),
            request_timeout_s=_int(q.get("requesttimeoutseconds", 10), "config.qbft.requesttimeoutseconds"),
            empty_block_period_s=_int(
                q.get("emptyblockperiodseconds", 0), "config.qbft.emptyblockperiodseconds"
            ),
        )
        if qbft.block_period_s < 1:
            raise GenesisError("config.qbft.blockperiodseconds", "must be at least 1")
        if qbft.epoch_length < 1:
            raise GenesisError("config.qbft.epochlength", "must be at least 1")
        if qbft.request_timeout_s < 1:
            raise GenesisError("config.qbft.requesttimeoutseconds", "must be at least 1")
        if qbft.empty_block_period_s < 0:
            raise GenesisError("config.qbft.emptyblockperiodseconds", "must not be negative")
    for other in ("ibft2", "clique", "ethash"):
        if qbft is not None and other in config:
            raise GenesisError(f"config.{other}", "only one consensus section may be given (qbft is set)")

    zero_base_fee = bool(config.get("zeroBaseFee", False))
    extra_data = _data(doc.get("extraData", "0x"), "extraData")
    mix_hash = _data(doc.get("mixHash", "0x" + "00" * 32), "mixHash", length=32)
    if qbft is not None:
        try:
            extra = decode_extra_data(extra_data)
        except InvalidBlock as exc:
            raise GenesisError("extraData", f"not QBFT extraData: {exc}") from exc
        if not extra.validators:
            raise GenesisError("extraData", "QBFT extraData lists no validators")
        if len(set(extra.validators)) != len(extra.validators):
            raise GenesisError("extraData", "validator listed twice")
        if mix_hash != BFT_MIX_HASH:
            raise GenesisError("mixHash", f"a QBFT genesis needs mixHash 0x{BFT_MIX_HASH.hex()}")

    london_block = dict(block_forks).get("london")
    base_fee: int | None = None
    if london_block == 0:
        base_fee = 0 if zero_base_fee else _int(doc.get("baseFeePerGas", 1_000_000_000), "baseFeePerGas")
    elif doc.get("baseFeePerGas") is not None:
        base_fee = _int(doc["baseFeePerGas"], "baseFeePerGas")

    gas_limit = _int(doc.get("gasLimit"), "gasLimit", required=True)
    if gas_limit < 5000:
        raise GenesisError("gasLimit", "must be at least 5000")
    beacon_root = doc.get("parentBeaconBlockRoot")
    alloc = _alloc(doc.get("alloc", {}))
    jsc = None
    if "jsc" in config:
        jsc = _jsc_policy(config["jsc"])
        if qbft is None:
            raise GenesisError("config.jsc", "the validator registry needs a QBFT chain (config.qbft)")
        _validate_registry_genesis(jsc, alloc, decode_extra_data(extra_data).validators)
        _require_prague_at_genesis(time_forks, _int(doc.get("timestamp", 0), "timestamp"))

    return GenesisSpec(
        chain_id=chain_id,
        block_forks=block_forks,
        time_forks=time_forks,
        terminal_total_difficulty=terminal_total_difficulty,
        qbft=qbft,
        zero_base_fee=zero_base_fee,
        alloc=alloc,
        gas_limit=gas_limit,
        base_fee=base_fee,
        difficulty=_int(doc.get("difficulty", 0), "difficulty"),
        timestamp=_int(doc.get("timestamp", 0), "timestamp"),
        extra_data=extra_data,
        mix_hash=mix_hash,
        nonce=_data(doc.get("nonce", "0x0"), "nonce", pad_to=8),
        coinbase=_data(doc.get("coinbase", "0x" + "00" * 20), "coinbase", length=20),
        parent_beacon_block_root=None
        if beacon_root is None
        else _data(beacon_root, "parentBeaconBlockRoot", length=32),
        raw=doc,
        jsc=jsc,
    )


def _jsc_policy(value: Any) -> JscPolicy:
    if not isinstance(value, dict):
        raise GenesisError("config.jsc", 'must be an object: {"registry": "0x...", "jurisdictions": ["JP"]}')
    for key in value:
        if key not in JSC_POLICY_KEYS:
            raise GenesisError(f"config.jsc.{key}", f"unknown key (known: {', '.join(JSC_POLICY_KEYS)})")
    if "registry" not in value:
        raise GenesisError("config.jsc.registry", "is required (the ValidatorRegistry contract's address)")
    registry_address = _data(value["registry"], "config.jsc.registry", length=20)
    codes = value.get("jurisdictions")
    if not isinstance(codes, list) or not codes:
        raise GenesisError(
            "config.jsc.jurisdictions", 'must be a non-empty list of ISO 3166-1 alpha-2 codes, e.g. ["JP"]'
        )
    for i, code in enumerate(codes):
        try:
            validate_jurisdiction_code(code)
        except AttestationError as exc:
            raise GenesisError(f"config.jsc.jurisdictions[{i}]", exc.problem) from None
        if code in codes[:i]:
            raise GenesisError(f"config.jsc.jurisdictions[{i}]", f"{code!r} is listed twice")
    allowlist = None
    if "accountsAllowlist" in value:
        allowlist = _data(value["accountsAllowlist"], "config.jsc.accountsAllowlist", length=20)
        if allowlist == registry_address:
            raise GenesisError(
                "config.jsc.accountsAllowlist", "is the registry's address; the allowlist is its own contract"
            )
    return JscPolicy(registry=registry_address, jurisdictions=tuple(codes), accounts_allowlist=allowlist)


def _validate_registry_genesis(
    policy: JscPolicy, alloc: dict[bytes, Account], validators: Sequence[bytes]
) -> None:
    """The registry's genesis storage must agree with the policy: the contract is there, allows
    every jurisdiction the policy names, and holds a valid attestation in an allowed jurisdiction
    for every genesis validator (else every honest node would vote it out from block 1: a chain
    whose genesis set has none would shrink to nothing). The registry's own validator list is
    overwritten by the chain's system call from block 1 on."""
    where = "0x" + policy.registry.hex()
    account = alloc.get(policy.registry)
    if account is None or not account.code:
        raise GenesisError("config.jsc.registry", f"alloc holds no contract code at {where}")

    def read(slot: int) -> int:
        return account.storage.get(slot, 0)

    for code in policy.jurisdictions:
        if not registry.jurisdiction_allowed(read, code):
            raise GenesisError(
                f"alloc.{where}.storage", f"the registry does not allow jurisdiction {code!r} of config.jsc"
            )
    for validator in validators:
        problem = registry.attestation_problem(read, validator, policy.jurisdictions)
        if problem is not None:
            raise GenesisError(
                f"alloc.{where}.storage",
                f"genesis validator {problem} (every node would vote it out; "
                "`jsc-node genesis new --attestations FILE` writes them)",
            )

    if policy.accounts_allowlist is not None:
        allowlist = alloc.get(policy.accounts_allowlist)
        if allowlist is None or not allowlist.code:
            raise GenesisError(
                "config.jsc.accountsAllowlist",
                f"alloc holds no contract code at 0x{policy.accounts_allowlist.hex()}",
            )
        storage = allowlist.storage
        if not accounts.read_admins(lambda slot: storage.get(slot, 0)):
            # Nobody could ever change the list: a chain frozen on its genesis accounts.
            raise GenesisError(
                f"alloc.0x{policy.accounts_allowlist.hex()}.storage",
                "the account allowlist has no admin (contracts/AccountAllowlist.sol: slot 4)",
            )


def _require_prague_at_genesis(time_forks: Sequence[tuple[str, int]], timestamp: int) -> None:
    """The registry is compiled for Prague (contracts/ValidatorRegistry.sol, solc evmVersion
    prague) and called at every validator-set change: its opcodes must run from block 1."""
    at = dict(time_forks).get("prague")
    if at is None or at > timestamp:
        raise GenesisError(
            "config.pragueTime",
            "the validator registry (config.jsc) needs Prague rules from genesis: set pragueTime to 0 "
            "(and every earlier fork at 0)",
        )


def _fork_list(
    config: dict[str, Any], forks: tuple[tuple[str, str], ...], unit: str
) -> tuple[tuple[str, int], ...]:
    result: list[tuple[str, int]] = []
    last = -1
    for name, key in forks:
        if config.get(key) is None:
            continue
        at = _int(config[key], f"config.{key}")
        if at < last:
            raise GenesisError(f"config.{key}", f"activates before an earlier fork ({at} < {last})")
        last = at
        result.append((name, at))
    return tuple(result)


def _alloc(alloc: Any) -> dict[bytes, Account]:
    if not isinstance(alloc, dict):
        raise GenesisError("alloc", "must be an object of address -> account")
    accounts: dict[bytes, Account] = {}
    for key, entry in alloc.items():
        where = f"alloc.{key}"
        address = _data(key if key.startswith("0x") else "0x" + key, where, length=20)
        if not isinstance(entry, dict):
            raise GenesisError(where, "must be an object")
        storage_doc = entry.get("storage", {})
        if not isinstance(storage_doc, dict):
            raise GenesisError(f"{where}.storage", "must be an object of slot -> value")
        storage = {
            _int(slot, f"{where}.storage"): _int_from_data(value, f"{where}.storage.{slot}")
            for slot, value in storage_doc.items()
        }
        accounts[address] = Account(
            balance=_int(entry.get("balance", 0), f"{where}.balance"),
            nonce=_int(entry.get("nonce", 0), f"{where}.nonce"),
            code=_data(entry.get("code", "0x"), f"{where}.code"),
            storage={k: v for k, v in storage.items() if v != 0},
        )
    return accounts


def _int(value: Any, where: str, required: bool = False) -> int:
    if value is None:
        if required:
            raise GenesisError(where, "is required")
        return 0
    if isinstance(value, bool):
        raise GenesisError(where, f"must be a number, got {value!r}")
    if isinstance(value, int):
        if value < 0:
            raise GenesisError(where, "must not be negative")
        return value
    if isinstance(value, str):
        text = value.strip()
        try:
            number = int(text, 16) if text[:2].lower() == "0x" else int(text, 10)
        except ValueError:
            raise GenesisError(where, f"not a number: {value!r}") from None
        if number < 0:
            raise GenesisError(where, "must not be negative")
        return number
    raise GenesisError(where, f"must be a number or a hex/decimal string, got {type(value).__name__}")


def _int_from_data(value: Any, where: str) -> int:
    return int.from_bytes(_data(value, where), "big") if isinstance(value, str) else _int(value, where)


def _data(value: Any, where: str, length: int | None = None, pad_to: int | None = None) -> bytes:
    if not isinstance(value, str) or not value[:2].lower() == "0x":
        raise GenesisError(where, f"must be a 0x-prefixed hex string, got {value!r}")
    digits = value[2:]
    if len(digits) % 2:
        digits = "0" + digits
    try:
        raw = bytes.fromhex(digits)
    except ValueError:
        raise GenesisError(where, f"not hex: {value!r}") from None
    if pad_to is not None:
        if len(raw) > pad_to:
            raise GenesisError(where, f"longer than {pad_to} bytes")
        raw = raw.rjust(pad_to, b"\x00")
    if length is not None and len(raw) != length:
        raise GenesisError(where, f"must be {length} bytes, got {len(raw)}")
    return raw
