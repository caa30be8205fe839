"""ethereum/tests BlockchainTests through the node's import path (not bare py-evm).

Each fixture becomes a geth-style genesis.json (its ``network`` names the forks, its
``genesisBlockHeader`` the header fields, its ``pre`` the alloc), opened by ``Executor`` on a
fresh LevelDB; its blocks go through ``jsc_node.importer.ChainImporter`` one by one:

- the genesis built from the fixture must hash to the fixture's genesis hash (proves the fields);
- a block with ``expectException`` must be refused, and the head must not move;
- every other block must be accepted;
- the final head must be ``lastblockhash`` and every account of ``postState`` must match
  (balance, nonce, code, storage; accounts not listed are covered by the state root in the head).

``run_all`` runs every fixture file in a process pool (CI has two cores).
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jsc_node.errors import InvalidBlock, JscError
from jsc_node.genesis import parse_genesis
from jsc_node.importer import ChainImporter
from jsc_node.state import startup
from jsc_node.state.evm.executor import Executor
from jsc_node.state.storage.leveldb import LevelDB

REPO = Path(__file__).resolve().parents[2]
# ../shared/conformance next to the repo clone (here and in CI).
CONFORMANCE = REPO.parent / "shared" / "conformance"
FIXTURES = CONFORMANCE / "blockchain-tests"
FIXTURE_CHAIN_ID = 1
TIME_15K = 15_000

# geth ChainConfig keys of each fork, in activation order, by the names the fixtures use.
_BLOCK_KEYS = {
    "Homestead": ("homesteadBlock",),
    "EIP150": ("eip150Block",),
    "EIP158": ("eip155Block", "eip158Block"),
    "Byzantium": ("byzantiumBlock",),
    "Constantinople": ("constantinopleBlock",),
    "ConstantinopleFix": ("petersburgBlock",),
    "Istanbul": ("istanbulBlock",),
    "MuirGlacier": ("muirGlacierBlock",),
    "Berlin": ("berlinBlock",),
    "London": ("londonBlock",),
    "ArrowGlacier": ("arrowGlacierBlock",),
    "GrayGlacier": ("grayGlacierBlock",),
    "Paris": ("mergeNetsplitBlock",),
}
_TIME_KEYS = {"Shanghai": "shanghaiTime", "Cancun": "cancunTime", "Prague": "pragueTime"}
_ORDER = ["Frontier", *_BLOCK_KEYS, *_TIME_KEYS]


def _config_up_to(fork: str) -> dict[str, Any]:
    """geth config with every fork up to and including ``fork`` at block 0 / time 0."""
    config: dict[str, Any] = {"chainId": FIXTURE_CHAIN_ID}
    for name in _ORDER[1 : _ORDER.index(fork) + 1]:
        if name == "ConstantinopleFix":
            config["constantinopleBlock"] = 0
        for key in _BLOCK_KEYS.get(name, ()):
            config[key] = 0
        if name in _TIME_KEYS:
            config[_TIME_KEYS[name]] = 0
        if name == "Paris":
            config["terminalTotalDifficulty"] = 0
    return config


def _activate(config: dict[str, Any], fork: str, at: int) -> dict[str, Any]:
    """``config`` (forks up to the one before ``fork``) with ``fork`` at block/time ``at``."""
    for key in _BLOCK_KEYS.get(fork, ()):
        config[key] = at
    if fork == "ConstantinopleFix" and "constantinopleBlock" not in config:
        config["constantinopleBlock"] = at
    if fork in _TIME_KEYS:
        config[_TIME_KEYS[fork]] = at
    return config


def network_config(network: str) -> dict[str, Any]:
    """The geth ``config`` object for a fixture's ``network`` (py-evm's fixture table)."""
    if network in _ORDER:
        return _config_up_to(network)
    transitions = {
        "FrontierToHomesteadAt5": ("Frontier", "Homestead", 5),
        "HomesteadToEIP150At5": ("Homestead", "EIP150", 5),
        "EIP158ToByzantiumAt5": ("EIP158", "Byzantium", 5),
        "ByzantiumToConstantinopleFixAt5": ("Byzantium", "ConstantinopleFix", 5),
        "BerlinToLondonAt5": ("Berlin", "London", 5),
        "ParisToShanghaiAtTime15k": ("Paris", "Shanghai", TIME_15K),
        "ShanghaiToCancunAtTime15k": ("Shanghai", "Cancun", TIME_15K),
        "CancunToPragueAtTime15k": ("Cancun", "Prague", TIME_15K),
    }
    if network in transitions:
        before, fork, at = transitions[network]
        return _activate(_config_up_to(before), fork, at)
    if network == "HomesteadToDaoAt5":
        return {**_config_up_to("Homestead"), "daoForkBlock": 5, "daoForkSupport": True}
    if network == "ArrowGlacierToParisAtDiffC0000":
        # The merge by total difficulty (no mergeNetsplitBlock): PoS from the block after TD 0xC0000.
        return {**_config_up_to("GrayGlacier"), "terminalTotalDifficulty": 0xC0000}
    raise ValueError(f"unknown fixture network {network!r}")


def genesis_doc(fixture: dict[str, Any]) -> dict[str, Any]:
    """A geth genesis.json for a fixture: its network's forks, header fields and pre-state."""
    header = fixture["genesisBlockHeader"]
    doc: dict[str, Any] = {
        "config": network_config(fixture["network"]),
        "nonce": header["nonce"],
        "timestamp": header["timestamp"],
        "extraData": header["extraData"],
        "gasLimit": header["gasLimit"],
        "difficulty": header["difficulty"],
        "mixHash": header["mixHash"],
        "coinbase": header["coinbase"],
        "alloc": fixture["pre"],
    }
    for key in ("baseFeePerGas", "parentBeaconBlockRoot", "excessBlobGas", "blobGasUsed"):
        if key in header:
            doc[key] = header[key]
    return doc


@dataclass(frozen=True)
class Outcome:
    name: str
    failure: str | None
    """None when the test passed; else why it failed."""


def run_fixture(name: str, fixture: dict[str, Any], workdir: Path) -> Outcome:
    startup.install()  # as `jsc-node import` does (this may run in a pool worker)
    try:
        problem = _run(fixture, workdir)
    except (JscError, AssertionError) as exc:
        problem = f"{type(exc).__name__}: {exc}"
    except Exception as exc:  # a crash in the import path is a failure to report, not to hide
        problem = f"crash {type(exc).__name__}: {exc}"
    return Outcome(name, problem)


def _run(fixture: dict[str, Any], workdir: Path) -> str | None:
    spec = parse_genesis(genesis_doc(fixture))
    db = LevelDB(workdir)
    try:
        executor = Executor(db, spec)
        want_genesis = fixture["genesisBlockHeader"]["hash"]
        if "0x" + executor.genesis.hash.hex() != want_genesis:
            return f"genesis hash 0x{executor.genesis.hash.hex()}, fixture {want_genesis}"
        importer = ChainImporter(executor, spec)
        for i, block in enumerate(fixture["blocks"]):
            raw = bytes.fromhex(block["rlp"][2:])
            head = executor.head.hash
            expected = block.get("expectException")
            try:
                importer.import_block(raw)
            except InvalidBlock as exc:
                if expected is None:
                    return f"block {i} refused: {exc}"
                if executor.head.hash != head or executor.chaindb.get_canonical_head().hash != head:
                    return f"block {i} refused ({expected}) but the head moved"
                continue
            if expected is not None:
                return f"block {i} accepted, expected {expected}"
        last = "0x" + executor.head.hash.hex()
        if last != fixture["lastblockhash"]:
            return f"head {last}, expected {fixture['lastblockhash']}"
        if executor.chaindb.get_canonical_head().hash != executor.head.hash:
            return "stored canonical head differs from the executor's head"
        return _check_post_state(executor, fixture)
    finally:
        db.close()


def _check_post_state(executor: Executor, fixture: dict[str, Any]) -> str | None:
    head = executor.head
    if "postStateHash" in fixture:
        root = "0x" + bytes(head.state_root).hex()
        return (
            None
            if root == fixture["postStateHash"]
            else f"state root {root}, expected {fixture['postStateHash']}"
        )
    state = executor.state_at(head)
    problems: list[str] = []
    for address_hex, account in fixture["postState"].items():
        address = bytes.fromhex(address_hex[2:])
        checks = [
            ("balance", state.get_balance(address), int(account["balance"], 16)),
            ("nonce", state.get_nonce(address), int(account["nonce"], 16)),
            ("code", bytes(state.get_code(address)), bytes.fromhex(account["code"][2:])),
        ]
        for slot, value in account.get("storage", {}).items():
            checks.append((f"storage[{slot}]", state.get_storage(address, int(slot, 16)), int(value, 16)))
        problems.extend(
            f"{address_hex} {what}: got {got!r}, expected {want!r}"
            for what, got, want in checks
            if got != want
        )
    return "; ".join(problems[:5]) if problems else None


def fixture_files(root: Path = FIXTURES) -> list[Path]:
    return sorted(root.rglob("*.json"))


def _run_file(path: Path) -> list[Outcome]:
    outcomes = []
    relative = path.relative_to(FIXTURES) if path.is_relative_to(FIXTURES) else path
    tests = json.loads(path.read_text())
    with tempfile.TemporaryDirectory(prefix="jsc-bt-") as tmp:
        for i, (name, fixture) in enumerate(tests.items()):
            outcomes.append(run_fixture(f"{relative}::{name}", fixture, Path(tmp) / str(i)))
    return outcomes


def run_all(files: list[Path] | None = None, workers: int = 2) -> list[Outcome]:
    """Every fixture of every file; files are spread over ``workers`` processes."""
    files = fixture_files() if files is None else files
    if workers <= 1:
        return [outcome for path in files for outcome in _run_file(path)]
    # Larger files first, so the pool ends together.
    ordered = sorted(files, key=lambda p: p.stat().st_size, reverse=True)
    with ProcessPoolExecutor(max_workers=workers) as pool:
        results = list(pool.map(_run_file, ordered))
    by_name = {outcome.name: outcome for outcomes in results for outcome in outcomes}
    return [by_name[name] for name in sorted(by_name)]


def iter_failures(outcomes: list[Outcome]) -> Iterator[Outcome]:
    return (outcome for outcome in outcomes if outcome.failure is not None)


if __name__ == "__main__":
    started = time.perf_counter()
    results = run_all()
    for failed in iter_failures(results):
        print(f"FAIL {failed.name}: {failed.failure}")
    passed = sum(outcome.failure is None for outcome in results)
    print(f"{passed}/{len(results)} passed in {time.perf_counter() - started:.1f} s")
