"""Which fork's rules apply: the ordered ``Fork`` list, the py-evm VM class of each fork (wrapped
with QBFT's header rules, or with an imported chain's unchecked seals), and ``ForkSchedule``, the
one answer to "which fork is this block" from the genesis fork schedule. Code asks
``schedule.fork_of_header(header) >= Fork.CANCUN`` or ``fork_of_vm(vm) >= Fork.PRAGUE`` instead of
probing header fields (``hasattr(header, "requests_hash")``) or VM classes (``issubclass``).
"""

from __future__ import annotations

from collections.abc import Callable
from enum import IntEnum
from typing import Any

from eth.abc import BlockAPI, BlockHeaderAPI
from eth.chains.mainnet import MainnetDAOValidatorVM
from eth.consensus.noproof import NoProofConsensus
from eth.constants import EMPTY_UNCLE_HASH
from eth.vm.base import VM
from eth.vm.forks import (
    ArrowGlacierVM,
    BerlinVM,
    ByzantiumVM,
    CancunVM,
    ConstantinopleVM,
    FrontierVM,
    GrayGlacierVM,
    HomesteadVM,
    IstanbulVM,
    LondonVM,
    MuirGlacierVM,
    ParisVM,
    PetersburgVM,
    PragueVM,
    ShanghaiVM,
    SpuriousDragonVM,
    TangerineWhistleVM,
)
from eth.vm.forks.prague.constants import DEPOSIT_REQUEST_TYPE
from eth_typing import Address
from eth_utils.exceptions import ValidationError

from jsc_node.chainformat import BFT_MIX_HASH, decode_extra_data
from jsc_node.errors import GenesisError, InvalidBlock
from jsc_node.genesis import GenesisSpec
from jsc_node.governance import registry as validator_registry
from jsc_node.governance.errors import decode_registry_error

ZERO_NONCE = b"\x00" * 8
# extraData of a QBFT header grows with validators and seals: 32 + 21·n + 66·n + a few bytes.
QBFT_EXTRA_DATA_MAX_BYTES = 64 * 1024
# Gas of a system call (EIP-4788 / EIP-2935 / EIP-7002's SYSTEM_CALL_GAS).
SYSTEM_CALL_GAS = 30_000_000


class Fork(IntEnum):
    """Ethereum's forks in activation order, so ``fork >= Fork.LONDON`` reads "London rules"."""

    FRONTIER = 0
    HOMESTEAD = 1
    TANGERINE_WHISTLE = 2
    SPURIOUS_DRAGON = 3
    BYZANTIUM = 4
    CONSTANTINOPLE = 5
    PETERSBURG = 6
    ISTANBUL = 7
    MUIR_GLACIER = 8
    BERLIN = 9
    LONDON = 10
    ARROW_GLACIER = 11
    GRAY_GLACIER = 12
    PARIS = 13
    SHANGHAI = 14
    CANCUN = 15
    PRAGUE = 16

    @property
    def key(self) -> str:
        """The fork's name in GenesisSpec and eth_config (``"tangerine_whistle"``)."""
        return self.name.lower()

    @classmethod
    def from_key(cls, key: str) -> Fork:
        return cls[key.upper()]


FORK_VMS: dict[Fork, type[VM]] = {
    Fork.FRONTIER: FrontierVM,
    Fork.HOMESTEAD: HomesteadVM.configure(support_dao_fork=False),
    Fork.TANGERINE_WHISTLE: TangerineWhistleVM,
    Fork.SPURIOUS_DRAGON: SpuriousDragonVM,
    Fork.BYZANTIUM: ByzantiumVM,
    Fork.CONSTANTINOPLE: ConstantinopleVM,
    Fork.PETERSBURG: PetersburgVM,
    Fork.ISTANBUL: IstanbulVM,
    Fork.MUIR_GLACIER: MuirGlacierVM,
    Fork.BERLIN: BerlinVM,
    Fork.LONDON: LondonVM,
    Fork.ARROW_GLACIER: ArrowGlacierVM,
    Fork.GRAY_GLACIER: GrayGlacierVM,
    Fork.PARIS: ParisVM,
    Fork.SHANGHAI: ShanghaiVM,
    Fork.CANCUN: CancunVM,
    Fork.PRAGUE: PragueVM,
}
# py-evm names each VM class's fork ("tangerine-whistle"); its subclasses (QBFT, imported, the
# simulator's) inherit the name.
_FORK_BY_PY_EVM_NAME: dict[str, Fork] = {fork.key.replace("_", "-"): fork for fork in Fork}


def fork_of_vm(vm: VM | type[VM]) -> Fork:
    """The fork whose rules ``vm`` (a VM class or instance) runs."""
    name = vm.fork
    try:
        return _FORK_BY_PY_EVM_NAME[name]
    except KeyError:
        raise ValueError(f"VM {type(vm).__name__} runs fork {name!r}, which jsc-node does not know") from None


def make_qbft_vm(base: type[VM], zero_base_fee: bool, registry: bytes | None = None) -> type[VM]:
    """``base`` with Besu's BFT header rules: difficulty 1, zero nonce, the BFT mixHash, empty
    uncles, no block reward, seals in extraData (so extraData may be long), fee to coinbase.

    With ``registry`` (the genesis's ``config.jsc.registry``) every block starts with the
    ValidatorRegistry's system call (``sync_validator_registry``), in ``block_preprocessing``:
    py-evm's import and every builder and replayer of the node (Executor.build_block, the
    pending block, testing_buildBlockV1, eth_simulateV1, debug_trace*) call it before a block's
    transactions, so each path reaches the same state."""
    fork = fork_of_vm(base)
    has_base_fee = fork >= Fork.LONDON
    is_post_merge = fork >= Fork.PARIS
    base_create = base.create_header_from_parent

    def create_header_from_parent(parent: BlockHeaderAPI, **params: Any) -> BlockHeaderAPI:
        params.pop("difficulty", None)
        params.pop("nonce", None)
        params.pop("mix_hash", None)
        if not is_post_merge:
            params["difficulty"] = 1
        header = base_create(parent, **params)
        fields: dict[str, Any] = {"difficulty": 1, "nonce": ZERO_NONCE, "mix_hash": BFT_MIX_HASH}
        if has_base_fee and zero_base_fee:
            fields["base_fee_per_gas"] = 0
        return header.copy(**fields)

    def validate_header(cls: type[VM], header: BlockHeaderAPI, parent: BlockHeaderAPI) -> None:
        validate_bft_header_fields(header)
        # The generic checks (number, timestamp, gas limit, extraData size) without ParisVM's
        # difficulty-0 rule, which BFT headers break on purpose (Besu: difficulty 1).
        VM.validate_header.__func__(cls, header, parent)

    def validate_gas(cls: type[VM], header: BlockHeaderAPI, parent: BlockHeaderAPI) -> None:
        if has_base_fee and zero_base_fee:
            if header.base_fee_per_gas != 0:
                raise ValidationError(f"zeroBaseFee chain: base fee must be 0, got {header.base_fee_per_gas}")
            VM.validate_gas.__func__(cls, header, parent)
        else:
            base.validate_gas.__func__(cls, header, parent)

    namespace: dict[str, Any] = {
        "extra_data_max_bytes": QBFT_EXTRA_DATA_MAX_BYTES,
        "consensus_class": NoProofConsensus,
        "create_header_from_parent": staticmethod(create_header_from_parent),
        "validate_header": classmethod(validate_header),
        "validate_gas": classmethod(validate_gas),
        "get_block_reward": staticmethod(lambda: 0),
        "get_uncle_reward": staticmethod(lambda block_number, uncle: 0),
        "get_nephew_reward": classmethod(lambda cls: 0),
    }
    if fork >= Fork.PRAGUE:
        # A QBFT chain has no beacon-chain deposit contract (EIP-6110), as Besu's QBFT without
        # depositContractAddress: the deposit request list is always empty. py-evm would re-read
        # and decode every receipt of the block from the trie to find none (5% of a build).
        namespace["process_deposit_request_data"] = _no_deposit_requests
    if registry is not None:
        base_preprocessing = base.block_preprocessing
        at: bytes = registry

        def block_preprocessing(vm: VM, block: BlockAPI) -> None:
            base_preprocessing(vm, block)
            sync_validator_registry(vm, block.header, at)

        namespace["block_preprocessing"] = block_preprocessing
    return type(f"Qbft{base.__name__}", (base,), namespace)


def sync_validator_registry(vm: VM, header: BlockHeaderAPI, registry: bytes) -> bool:
    """The registry's system call (contracts/ValidatorRegistry.sol ``syncValidators``): the
    validators ``header``'s extraData lists become the contract's set, before the block's
    transactions. True when the set changed (the EVM ran).

    An unchanged set (nearly every block) is one storage read, compared with the contract's
    ``validatorSetHash``, and no EVM. A change runs the contract's code as Prague's system calls
    do (py-evm's ``PragueVM.process_withdrawal_request_data``; geth's ``ProcessParentBlockHash``):
    from SYSTEM_ADDRESS, gas price 0, through ``apply_computation``, which neither touches the
    caller's account nor charges it, so no account but the registry changes. A call that fails
    makes the block invalid (InvalidBlock), whichever path runs it.

    A header without extraData (eth_simulateV1's blocks) names no validators: the parent's stay.
    """
    if not header.extra_data:
        return False
    try:
        validators = decode_extra_data(header.extra_data).validators
    except InvalidBlock as exc:
        raise InvalidBlock(f"block {header.block_number}: {exc}") from exc
    state = vm.state
    want = int.from_bytes(validator_registry.validator_set_hash(validators), "big")
    if state.get_storage(registry, validator_registry.SLOT_VALIDATOR_SET_HASH) == want:
        return False
    computation = vm.execute_bytecode(
        origin=Address(validator_registry.SYSTEM_ADDRESS),
        gas_price=0,
        gas=SYSTEM_CALL_GAS,
        to=Address(registry),
        sender=Address(validator_registry.SYSTEM_ADDRESS),
        value=0,
        data=validator_registry.sync_validators_calldata(validators),
        code=state.get_code(registry),
        code_address=Address(registry),
    )
    if computation.is_error:
        reason = decode_registry_error(computation.output) if computation.output else None
        raise InvalidBlock(
            f"block {header.block_number}: the validator registry's system call "
            f"syncValidators({len(validators)} validators) failed: {reason or repr(computation.error)}"
        )
    # What the block's first transaction sees as "original" storage (EIP-2200) and as warm
    # (EIP-2929) is the state after the system call, whichever path runs the transactions next.
    state.lock_changes()
    return True


def _no_deposit_requests(vm: VM, block: BlockAPI) -> None:
    block.block_requests.append(DEPOSIT_REQUEST_TYPE)


def make_imported_vm(base: type[VM]) -> type[VM]:
    """``base`` for a chain imported from elsewhere: its seals (PoW/PoS) are not checked, and a
    PoW block's difficulty is taken as given (it feeds the total difficulty and the merge rule).

    py-evm's import recomputes a PoW header's difficulty from its parent (``configure_header``) and
    then refuses the block if it differs; with no seal to verify, that formula proves nothing, and
    it would refuse chains made by other difficulty rules. Post-merge forks keep their difficulty-0
    rule (ParisVM.validate_header)."""
    base_configure = base.configure_header

    def configure_header(vm: VM, **header_params: Any) -> BlockHeaderAPI:
        header = base_configure(vm, **header_params)
        given = header_params.get("difficulty")
        if given is not None and header.difficulty != given:
            header = header.copy(difficulty=given)
        return header

    namespace: dict[str, Any] = {"consensus_class": NoProofConsensus, "configure_header": configure_header}
    return type(f"Imported{base.__name__}", (base,), namespace)


def validate_bft_header_fields(header: BlockHeaderAPI) -> None:
    if header.difficulty != 1:
        raise ValidationError(f"BFT header difficulty must be 1, got {header.difficulty}")
    if header.nonce != ZERO_NONCE:
        raise ValidationError(f"BFT header nonce must be zero, got 0x{header.nonce.hex()}")
    if header.mix_hash != BFT_MIX_HASH:
        raise ValidationError(f"BFT header mixHash must be 0x{BFT_MIX_HASH.hex()}")
    if header.uncles_hash != EMPTY_UNCLE_HASH:
        raise ValidationError("BFT blocks have no uncles")


class ForkSchedule:
    """Which VM class runs a block, from the genesis fork schedule (block numbers, then times).

    An imported chain whose genesis gives ``terminalTotalDifficulty`` but no ``mergeNetsplitBlock``
    switches to Paris rules at the first PoS header: geth's beacon engine tells a PoS header by its
    difficulty 0 (``IsPoSHeader``), and ``Executor`` checks it against the parent's total difficulty.
    """

    def __init__(self, spec: GenesisSpec) -> None:
        wrap: Callable[[type[VM]], type[VM]]
        if spec.qbft is not None:
            zero = spec.zero_base_fee
            registry = spec.jsc.registry if spec.jsc is not None else None
            wrap = lambda vm: make_qbft_vm(vm, zero, registry)  # noqa: E731
        else:
            wrap = make_imported_vm
        forks = dict(FORK_VMS)
        if spec.qbft is None:
            forks[Fork.HOMESTEAD] = _homestead_with_dao(spec)
        self.by_block: list[tuple[int, type[VM]]] = [(0, wrap(forks[Fork.FRONTIER]))]
        for name, at in spec.block_forks:
            self.by_block.append((at, wrap(forks[Fork.from_key(name)])))
        self.by_block.sort(key=lambda item: item[0])
        self.by_time: list[tuple[int, type[VM]]] = [
            (at, wrap(forks[Fork.from_key(name)])) for name, at in spec.time_forks
        ]
        self.merge_vm: type[VM] | None = None
        merge_by_block = any(name == Fork.PARIS.key for name, _at in spec.block_forks)
        if spec.qbft is None and spec.terminal_total_difficulty is not None and not merge_by_block:
            self.merge_vm = wrap(forks[Fork.PARIS])

    def vm_class(self, number: int, timestamp: int, difficulty: int | None = None) -> type[VM]:
        """``difficulty`` (the header's) matters only for a merge by terminal total difficulty."""
        chosen = self.by_block[0][1]
        for at, vm in self.by_block:
            if number >= at:
                chosen = vm
        if self.merge_vm is not None and difficulty == 0 and fork_of_vm(chosen) < Fork.PARIS:
            chosen = self.merge_vm
        for at, vm in self.by_time:
            if timestamp >= at:
                chosen = vm
        return chosen

    def vm_class_for_header(self, header: BlockHeaderAPI) -> type[VM]:
        return self.vm_class(header.block_number, header.timestamp, header.difficulty)

    def fork_at(self, number: int, timestamp: int, difficulty: int | None = None) -> Fork:
        """The fork of a block with this number, time and (for a merge by total difficulty)
        difficulty."""
        return fork_of_vm(self.vm_class(number, timestamp, difficulty))

    def fork_of_header(self, header: BlockHeaderAPI) -> Fork:
        return fork_of_vm(self.vm_class_for_header(header))


def _homestead_with_dao(spec: GenesisSpec) -> type[VM]:
    """Homestead with geth's ``daoForkBlock``/``daoForkSupport``: the DAO refund at that block and
    the extraData rule on the ten blocks from it (py-evm's MainnetDAOValidatorVM)."""
    config = spec.raw.get("config", {}) if isinstance(spec.raw, dict) else {}
    if config.get("daoForkBlock") is None:
        return FORK_VMS[Fork.HOMESTEAD]
    dao_block = genesis_int(config["daoForkBlock"], "config.daoForkBlock")
    support = bool(config.get("daoForkSupport", False))
    if support:
        forks = dict(spec.block_forks)
        start, end = forks.get(Fork.HOMESTEAD.key), forks.get(Fork.TANGERINE_WHISTLE.key)
        if start is None or dao_block < start or (end is not None and dao_block >= end):
            # py-evm applies the refund in Homestead's header rules only (mainnet: block 1,920,000).
            raise GenesisError("config.daoForkBlock", "supported only within Homestead (before eip150Block)")
    vm: type[VM] = MainnetDAOValidatorVM.configure(support_dao_fork=support, _dao_fork_block_number=dao_block)
    return vm


def genesis_int(value: Any, where: str) -> int:
    """A genesis.json number the GenesisSpec keeps raw (an int, or a string in any base)."""
    try:
        number = int(value, 0) if isinstance(value, str) else int(value)
    except (TypeError, ValueError):
        raise GenesisError(where, f"not a number: {value!r}") from None
    if number < 0:
        raise GenesisError(where, "must not be negative")
    return number


__all__ = [
    "FORK_VMS",
    "Fork",
    "ForkSchedule",
    "fork_of_vm",
    "genesis_int",
    "make_imported_vm",
    "make_qbft_vm",
    "sync_validator_registry",
    "validate_bft_header_fields",
]
