"""execution-apis rpc-compat, replayed the way hive's rpc-compat simulator does it.

Import ``chain.rlp`` on ``genesis.json`` with ``jsc-node import``, start ``jsc-node run`` on that
data dir (a genesis without ``config.qbft``: the node serves and does not produce blocks), then POST
every ``>>`` line of every ``<method>/*.io`` file, in sorted order, and compare the answer with the
``<<`` line. hive's rules: error *messages* are ignored; error codes, key sets, array order and hex
case must match exactly; a test marked ``// speconly`` only checks the shape of the result.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.integration.nodeproc import ALL_APIS, NodeProcess

REPO_ROOT = Path(__file__).resolve().parents[2]
FIXTURES = REPO_ROOT.parent / "shared" / "conformance" / "rpc-compat"
IMPORT_TIMEOUT_S = 600


@dataclass(frozen=True)
class Exchange:
    request: str
    expected: str


@dataclass(frozen=True)
class Case:
    name: str
    exchanges: tuple[Exchange, ...]
    spec_only: bool


def available() -> bool:
    return (FIXTURES / "chain.rlp").is_file() and (FIXTURES / "genesis.json").is_file()


def load_cases(root: Path = FIXTURES) -> list[Case]:
    cases = []
    for path in sorted(root.glob("*/*.io")):
        exchanges: list[Exchange] = []
        request: str | None = None
        spec_only = False
        for line in path.read_text().splitlines():
            if line.startswith("//"):
                spec_only = spec_only or "speconly" in line
            elif line.startswith(">>"):
                request = line[2:].strip()
            elif line.startswith("<<") and request is not None:
                exchanges.append(Exchange(request, line[2:].strip()))
                request = None
        cases.append(Case(f"{path.parent.name}/{path.stem}", tuple(exchanges), spec_only))
    return cases


def compare(expected: Any, got: Any, spec_only: bool) -> str | None:
    """None when ``got`` passes; else why not."""
    if isinstance(expected, list):
        if not isinstance(got, list) or len(got) != len(expected):
            return f"batch of {len(expected)} expected, got {_short(got)}"
        for e, g in zip(expected, got, strict=True):
            problem = compare(e, g, spec_only)
            if problem:
                return problem
        return None
    if not isinstance(got, dict):
        return f"not a JSON-RPC response: {_short(got)}"
    if "error" in expected:
        if "error" not in got:
            return f"expected error {expected['error'].get('code')}, got result {_short(got.get('result'))}"
        if got["error"].get("code") != expected["error"].get("code"):
            return f"error code {got['error'].get('code')} ({got['error'].get('message')}), expected {expected['error'].get('code')}"
        return None
    if "error" in got:
        return f"unexpected error {got['error']}"
    if spec_only:
        return _same_shape(expected.get("result"), got.get("result"), "result")
    if got.get("result") != expected.get("result"):
        return _first_difference(expected.get("result"), got.get("result"), "result")
    return None


def _same_shape(expected: Any, got: Any, where: str) -> str | None:
    if expected is None:
        return None
    if type(expected) is not type(got):
        return f"{where}: {type(got).__name__}, expected {type(expected).__name__}"
    if isinstance(expected, dict):
        missing = set(expected) - set(got)
        if missing:
            return f"{where}: missing keys {sorted(missing)}"
        for key in expected:
            problem = _same_shape(expected[key], got[key], f"{where}.{key}")
            if problem:
                return problem
    if isinstance(expected, list) and expected and got:
        return _same_shape(expected[0], got[0], f"{where}[0]")
    return None


def _first_difference(expected: Any, got: Any, where: str) -> str:
    if isinstance(expected, dict) and isinstance(got, dict):
        if set(expected) != set(got):
            return f"{where}: keys {sorted(set(got) ^ set(expected))} differ"
        for key in expected:
            if expected[key] != got[key]:
                return _first_difference(expected[key], got[key], f"{where}.{key}")
    if isinstance(expected, list) and isinstance(got, list):
        if len(expected) != len(got):
            return f"{where}: {len(got)} items, expected {len(expected)}"
        for i, (e, g) in enumerate(zip(expected, got, strict=True)):
            if e != g:
                return _first_difference(e, g, f"{where}[{i}]")
    return f"{where}: got {_short(got)}, expected {_short(expected)}"


def _short(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 160 else text[:157] + "..."


def import_chain(data_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "jsc_node.cli",
            "import",
            "--genesis-file",
            str(FIXTURES / "genesis.json"),
            "--data-path",
            str(data_path),
            str(FIXTURES / "chain.rlp"),
        ],
        capture_output=True,
        text=True,
        timeout=IMPORT_TIMEOUT_S,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"jsc-node import failed ({result.returncode}): {result.stderr.strip()[-2000:]}")


def run(verbose: bool = False) -> tuple[int, int, list[str]]:
    """Replay the whole suite; returns (passed, failed, ["name: why", ...])."""
    cases = load_cases()
    with tempfile.TemporaryDirectory(prefix="rpc-compat-") as tmp:
        data_path = Path(tmp) / "data"
        try:
            import_chain(data_path)
        except (RuntimeError, subprocess.TimeoutExpired) as exc:
            return 0, len(cases), [f"(all): {exc}"]
        # Every namespace, as hive runs clients: the suite has debug_getRaw*, testing_buildBlockV1 ...
        # --rpc-evm-timeout 30: the suite checks answers, not speed. ethSimulate-run-gas-spending
        # takes 1.4 s on an idle machine; a loaded two-core CI run took it past the default 5 s
        # (geth's default too) and got "execution aborted (timeout = 5s)" instead of its result.
        node = NodeProcess(
            data_path,
            extra_args=["--genesis-file", str(FIXTURES / "genesis.json"), "--rpc-evm-timeout", "30"],
            http_api=ALL_APIS,
        ).start()
        failures: list[str] = []
        passed = 0
        try:
            with httpx.Client(timeout=60) as client:
                for case in cases:
                    problem = _replay(client, node.url, case)
                    if problem is None:
                        passed += 1
                    else:
                        failures.append(f"{case.name}: {problem}")
                        if verbose:
                            print(f"FAIL {case.name}: {problem}", flush=True)
        finally:
            node.stop()
    return passed, len(failures), failures


def _replay(client: httpx.Client, url: str, case: Case) -> str | None:
    if not case.exchanges:
        return "no exchanges in file"
    for exchange in case.exchanges:
        try:
            response = client.post(
                url, content=exchange.request, headers={"content-type": "application/json"}
            )
            got = response.json()
        except (httpx.HTTPError, json.JSONDecodeError) as exc:
            return f"transport: {exc}"
        problem = compare(json.loads(exchange.expected), got, case.spec_only)
        if problem:
            return problem
    return None


if __name__ == "__main__":
    passed_count, failed_count, names = run(verbose=True)
    for name in names:
        print(name)
    print(f"rpc-compat: {passed_count} passed, {failed_count} failed")
