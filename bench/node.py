"""Starting, watching and stopping a real ``jsc-node run`` process for the benchmark."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEV_GENESIS = ROOT / "jsc_node" / "data" / "dev.json"
READY_TIMEOUT_S = 90.0
STOP_TIMEOUT_S = 20.0
COMMIT_RE = re.compile(r"committed block (\d+) 0x[0-9a-f]+ txs=(\d+) gas=(\d+) exec=(\d+)ms")
CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_genesis(path: Path, alloc: dict[bytes, int], gas_limit: int) -> None:
    genesis = json.loads(DEV_GENESIS.read_text())
    genesis["gasLimit"] = hex(gas_limit)
    for address, balance in alloc.items():
        genesis["alloc"].setdefault(address.hex(), {"balance": hex(balance)})
    path.write_text(json.dumps(genesis, indent=1))


@dataclass
class Commit:
    number: int
    txs: int
    gas: int
    exec_ms: int


class NodeProcess:
    def __init__(self, tmp: Path, genesis: Path, validator_key: bytes) -> None:
        self.tmp = tmp
        self.data = tmp / "data"
        self.genesis = genesis
        self.key_file = tmp / "validator.key"
        self.key_file.write_text(validator_key.hex() + "\n")
        self.http_port = free_port()
        self.ws_port = free_port()
        self.p2p_port = free_port()
        self.stdout_path = tmp / "node.stdout"
        self.stderr_path = tmp / "node.stderr"
        self.proc: subprocess.Popen[bytes] | None = None
        self.started_s = 0.0

    def start(self) -> None:
        cmd = [
            sys.executable, "-m", "jsc_node.cli", "run",
            "--data-path", str(self.data),
            "--genesis-file", str(self.genesis),
            "--rpc-http-port", str(self.http_port),
            "--rpc-ws-port", str(self.ws_port),
            "--p2p-port", str(self.p2p_port),
            "--node-private-key-file", str(self.key_file),
            # timeline.py samples txpool_status
            "--rpc-http-api", "ETH,NET,WEB3,TXPOOL",
        ]  # fmt: skip
        started = time.perf_counter()
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen(cmd, cwd=ROOT, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"node exited with {self.proc.returncode} before RPC was ready:\n{self.tail()}"
                )
            if b"JSON-RPC" in self.stdout_path.read_bytes():
                self.started_s = time.perf_counter() - started
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"node RPC not ready in {READY_TIMEOUT_S:.0f}s:\n{self.tail()}")

    def stop(self) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return self.proc.returncode

    def tail(self, lines: int = 30) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.stderr_path.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def commits(self) -> list[Commit]:
        text = self.stderr_path.read_text(errors="replace")
        return [Commit(*(int(g) for g in m.groups())) for m in COMMIT_RE.finditer(text)]

    def children(self) -> dict[str, int]:
        """{'execution': pid, 'consensus': pid}: execution is the child holding LevelDB open."""
        assert self.proc is not None
        found: dict[str, int] = {}
        with contextlib.suppress(OSError):
            kids = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()
            for kid in kids:
                pid = int(kid)
                holds_db = False
                with contextlib.suppress(OSError):
                    for fd in Path(f"/proc/{pid}/fd").iterdir():
                        with contextlib.suppress(OSError):
                            if "chaindata" in os.readlink(fd):
                                holds_db = True
                                break
                found["execution" if holds_db else "consensus"] = pid
        return found


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of ``pid`` (all its threads); 0 if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK_TCK
