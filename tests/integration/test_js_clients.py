"""The wallet flows of issue 11's "Done when", run by the real JavaScript clients against one real
`jsc-node run` on the embedded dev genesis (what `make run` starts): viem 2.57, ethers 6.17 and
Foundry's cast 1.7, pinned in tests/clients/package.json and installed once with `npm ci`.

Each flow is a script in tests/clients/ that prints one JSON line; the tests assert on it. The
expected answers are those of geth and anvil (Prague): EIP-7702's delegation code
0xef0100 || address, an authorization of a self-sponsored send signed with nonce+1, a revocation
by delegating to the zero address, Multicall3 at its canonical address, blocks on an idle dev
chain. Every script was also run against anvil 1.7.1 (`--chain-id 1337 --hardfork prague
--block-time 1`, with a Multicall3 build set at the canonical address by anvil_setCode), where
every flow passes (all but the code-hash check, which is about the code in jsc-node's genesis).

The idle-chain flow runs first, alone, so that no other flow's transactions make its blocks; the
other flows then run at once, each from its own dev accounts (they share no nonce)."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from jsc_node.devtools import dev_accounts
from tests.integration.nodeproc import NodeProcess

CLIENTS_DIR = Path(__file__).resolve().parent.parent / "clients"
NPM_CI_TIMEOUT_S = 180.0
SCRIPT_TIMEOUT_S = 90.0
MULTICALL3 = "0xcA11bde05977b3631167028862bE2a173976CA11"
# keccak256 of Multicall3's runtime (3,808 bytes) at that address on mainnet and the chains that
# share it (the hash optimism's Preinstalls publishes).
MULTICALL3_CODE_HASH = "0xd5c15df687b16f2ff992fc8d767b4216323184a2bbc6ee2f9c398c318e770891"

# Dev accounts (anvil's mnemonic) by flow: no two flows that run at once send from one account.
IDLE, VIEM_7702, ETHERS_SPONSOR, ETHERS_AUTHORITY, MULTICALL, CAST, ETHERS_CACHE = 8, 0, 1, 2, 3, 7, 9
# The flows that run together once the idle-chain flow is done: script -> accounts.
FLOWS: dict[str, tuple[int, ...]] = {
    "viem_7702.mjs": (VIEM_7702,),
    "ethers_7702.mjs": (ETHERS_SPONSOR, ETHERS_AUTHORITY),
    "viem_multicall.mjs": (MULTICALL,),
    "cast_auth.mjs": (CAST,),
    "ethers_cache.mjs": (ETHERS_CACHE,),
}


def _key(index: int) -> str:
    return "0x" + dev_accounts()[index].private_key.hex()


def _address(index: int) -> str:
    return dev_accounts()[index].address


def _slot_holding(address: str) -> str:
    """A 32-byte storage word holding ``address`` (as CALLER stores it), 0x-hex lowercase."""
    return "0x" + address.lower().removeprefix("0x").rjust(64, "0")


def _installed() -> bool:
    """node_modules holds exactly what package-lock.json pins: npm's own record of what it
    installed (node_modules/.package-lock.json) has the same entries, less optional packages of
    other platforms. A fresh clone (CI) has no node_modules and always runs npm ci."""
    record = CLIENTS_DIR / "node_modules" / ".package-lock.json"
    if not record.exists():
        return False
    locked = json.loads((CLIENTS_DIR / "package-lock.json").read_text())["packages"]
    present = json.loads(record.read_text())["packages"]
    return all(
        present.get(path) == entry if path in present else entry.get("optional", False)
        for path, entry in locked.items()
        if path
    ) and set(present) <= set(locked)


@pytest.fixture(scope="module")
def npm_ci(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[subprocess.Popen[bytes], Path] | None]:
    """Starts `npm ci` in tests/clients (unless node_modules is already what the lockfile pins),
    so that it runs while the node starts; ``node_bin`` waits for it."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("node and npm not found: the JavaScript client checks (tests/clients) need Node.js 20")
    version = subprocess.run([node, "--version"], capture_output=True, text=True, check=True).stdout.strip()
    if int(version.lstrip("v").split(".")[0]) < 20:
        pytest.skip(f"Node.js {version} found: the JavaScript client checks (tests/clients) need 20 or later")
    if _installed():
        yield None
        return
    log = tmp_path_factory.mktemp("npm") / "npm-ci.log"
    with open(log, "wb") as out:
        # --ignore-scripts: @foundry-rs/cast's postinstall only fetches the binary when its
        # platform package (an optional dependency, which npm ci installs) is missing.
        proc = subprocess.Popen(
            [npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund"],
            cwd=CLIENTS_DIR,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    yield proc, log
    if proc.poll() is None:
        proc.kill()
        proc.wait(10)


@pytest.fixture(scope="module")
def node_bin(npm_ci: tuple[subprocess.Popen[bytes], Path] | None) -> str:
    if npm_ci is not None:
        proc, log = npm_ci
        try:
            proc.wait(NPM_CI_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        assert proc.returncode == 0, f"npm ci in {CLIENTS_DIR} failed ({proc.returncode}):\n{log.read_text()}"
    node = shutil.which("node")
    assert node is not None
    return node


def _run(node_bin: str, script: str, url: str, *accounts: int) -> dict[str, Any]:
    """Runs one flow script; its last stdout line is its JSON result."""
    try:
        done = subprocess.run(
            [node_bin, str(CLIENTS_DIR / script), url, *(_key(i) for i in accounts)],
            cwd=CLIENTS_DIR,
            capture_output=True,
            text=True,
            timeout=SCRIPT_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        output = exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else exc.stdout
        return {
            "ok": False,
            "script": script,
            "stage": "whole script",
            "error": "timed out",
            "details": output,
        }
    lines = done.stdout.strip().splitlines()
    output = f"{script} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    assert done.returncode == 0, output
    assert lines, output
    result: dict[str, Any] = json.loads(lines[-1])
    result["script"] = script
    return result


def _completed(result: dict[str, Any]) -> dict[str, Any]:
    assert result["ok"], (
        f"{result['script']} failed at {result['stage']!r}: {result['error']} ({result['details']})"
    )
    return result


@pytest.fixture(scope="module")
def idle(npm_ci: object, node: NodeProcess, node_bin: str) -> dict[str, Any]:
    # In this order: npm ci starts, then the node starts while npm ci runs.
    return _run(node_bin, "idle_chain.mjs", node.url, IDLE)


@pytest.fixture(scope="module")
def flows(idle: dict[str, Any], node: NodeProcess, node_bin: str) -> dict[str, dict[str, Any]]:
    with ThreadPoolExecutor(len(FLOWS)) as pool:
        futures = {name: pool.submit(_run, node_bin, name, node.url, *accts) for name, accts in FLOWS.items()}
        return {name: future.result() for name, future in futures.items()}


def test_idle_chain_blocks_reach_watchers(idle: dict[str, Any]) -> None:
    # Issue 11 item 4: on an idle dev chain viem's watchBlocks and ethers' provider.on("block")
    # fire without any transaction. Both poll every 4 s by default: viem's two events take about
    # 8 s (one a poll), ethers' about 4 s (one per new block number since its first poll).
    result = _completed(idle)
    for watcher in ("watchBlocks", "providerOnBlock"):
        seen = result[watcher]
        numbers = [e["number"] for e in seen["events"]]
        assert seen["done"], f"{watcher} saw {numbers} in {result['watchMs']} ms on an idle chain"
        assert numbers == sorted(set(numbers)), f"{watcher}: {numbers}"
    assert result["endBlock"] > result["startBlock"]


def test_idle_chain_three_confirmations_within_seconds(idle: dict[str, Any]) -> None:
    # Issue 11 item 4: waitForTransactionReceipt({confirmations: 3}) took 120 s on the dev chain
    # (anvil: 3 s). Three confirmations are the transaction's block and two more; the client's
    # own 4 s polling adds up to one interval.
    confirmations = _completed(idle)["confirmations"]
    assert confirmations["done"], f"not 3 confirmations after {confirmations['elapsedMs']} ms"
    assert confirmations["status"] == "success"
    assert confirmations["headAtResolve"] >= confirmations["blockNumber"] + 2
    assert confirmations["chainSeconds"] <= 6, confirmations
    assert confirmations["elapsedMs"] <= 12_000, confirmations


def test_viem_type4_send_without_gas(flows: dict[str, dict[str, Any]]) -> None:
    # viem's signAuthorization(executor 'self') + sendTransaction({authorizationList}) with no gas:
    # the node's estimate must cover the authorization (25,000) and the delegated code it runs.
    result = _completed(flows["viem_7702.mjs"])
    assert result["status"] == "success", result
    assert result["type"] == "eip7702"
    assert result["authorizationNonce"] == result["txNonce"] + 1
    assert result["code"] == result["expectedCode"]
    # The call ran the delegated code in the EOA's storage: slot 0 holds the caller (the EOA).
    assert result["slot0"] == _slot_holding(result["account"])
    assert int(result["gasUsed"]) <= int(result["gasLimit"])


def test_ethers_type4_sends_without_gas_limit(flows: dict[str, dict[str, Any]]) -> None:
    result = _completed(flows["ethers_7702.mjs"])
    sponsored, revoked = result["sponsored"], result["revoked"]
    # Sponsored: the authority's authorization in the sponsor's transaction.
    assert sponsored["type"] == 4
    assert sponsored["status"] == 1, sponsored
    assert sponsored["code"] == sponsored["expectedCode"]
    assert sponsored["slot0"] == _slot_holding(_address(ETHERS_SPONSOR))
    # Self-sponsored revocation (EIP-7702: delegating to the zero address clears the code).
    assert revoked["type"] == 4
    assert revoked["status"] == 1, revoked
    assert int(revoked["authorizationNonce"]) == revoked["txNonce"] + 1
    assert revoked["code"] == "0x"


def test_cast_send_auth(flows: dict[str, dict[str, Any]]) -> None:
    result = _completed(flows["cast_auth.mjs"])
    assert result["version"].startswith("cast Version: 1.7.")
    assert result["deployStatus"] == "0x1"
    assert result["status"] == "0x1", result
    assert result["type"] == "0x4"
    (auth,) = result["authorizationList"]
    assert auth["address"] == result["delegate"]
    assert auth["chainId"] == "0x539"
    assert int(auth["nonce"], 16) == int(result["txNonce"], 16) + 1
    assert result["code"] == result["expectedCode"]
    assert result["slot0"] == _slot_holding(result["account"])


def test_viem_multicall_on_dev_chain(flows: dict[str, dict[str, Any]]) -> None:
    # Multicall3 is in the dev genesis at its canonical address, so the chain definition every
    # chain in viem's list has (contracts.multicall3 at that address) is the only configuration:
    # no deploy step. (viem's stock `localhost` chain, id 1337, names no Multicall3: viem refuses
    # multicall on it before any request, ChainDoesNotSupportContract.)
    result = _completed(flows["viem_multicall.mjs"])
    assert result["codeHash"] == MULTICALL3_CODE_HASH, f"{result['codeSize']} bytes at {MULTICALL3}"
    via_chain = result["viaChain"]
    assert "error" not in via_chain, via_chain
    chain_id, block_number, balance, no_code = via_chain["value"]
    assert chain_id == {"status": "success", "result": "1337"}, via_chain
    assert block_number["status"] == "success"
    assert balance == {"status": "success", "result": result["balance"]}
    assert no_code["status"] == "failure"
    # One eth_call, to Multicall3, answered every call.
    assert via_chain["ethCalls"] == [MULTICALL3]


def test_viem_read_contract_batching_on_dev_chain(flows: dict[str, dict[str, Any]]) -> None:
    # createPublicClient({batch: {multicall: true}}): three readContract calls made together go
    # out as one eth_call to Multicall3.
    result = _completed(flows["viem_multicall.mjs"])
    batched = result["batched"]
    assert "error" not in batched, batched
    assert batched["ethCalls"] == [MULTICALL3]
    assert batched["value"][:2] == ["1337", result["balance"]]
    assert int(batched["value"][2]) > 0  # block.number


def test_viem_multicall_address_at_the_call(flows: dict[str, dict[str, Any]]) -> None:
    # viem's stock `localhost` chain with multicallAddress given at the call.
    via_address = _completed(flows["viem_multicall.mjs"])["viaAddress"]
    assert "error" not in via_address, via_address
    assert via_address[0] == {"status": "success", "result": "1337"}, via_address
    assert via_address[3]["status"] == "failure"


def test_ethers_deploy_then_send_with_cache_timeout_off(flows: dict[str, dict[str, Any]]) -> None:
    # The client-side fix for ethers' request cache (ethers issue 4549): with cacheTimeout -1 a
    # send made at once after a deploy (not waited for) reads the node's pending nonce, which
    # counts the deploy, and takes the next nonce. (With ethers' defaults the second send gets
    # the deploy's nonce from ethers' cache and the node refuses it, as geth's pool does:
    # "replacement transaction underpriced" while the deploy is pending, "nonce too low" after.)
    no_cache = _completed(flows["ethers_cache.mjs"])["noCache"]
    assert "error" not in no_cache, no_cache
    assert no_cache["sendNonce"] == no_cache["deployNonce"] + 1
    assert no_cache["deployStatus"] == 1
    assert no_cache["sendStatus"] == 1
