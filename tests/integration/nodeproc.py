"""Start and stop real `jsc-node run` processes for integration tests (127.0.0.1 only)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from jsc_node.config import RPC_APIS

ALL_APIS = ",".join(RPC_APIS)
READY_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 20.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class NodeProcess:
    data_path: Path
    extra_args: list[str] = field(default_factory=list)
    http_api: str | None = ALL_APIS
    """``--rpc-http-api``: every namespace, so tests reach debug_/qbft_/admin_/txpool_; None = the
    node's default (ETH,NET,WEB3)."""
    ws_api: str | None = ALL_APIS
    """``--rpc-ws-api``, as ``http_api``."""
    http_port: int = field(default_factory=free_port)
    ws_port: int = field(default_factory=free_port)
    p2p_port: int = field(default_factory=free_port)
    env: dict[str, str] = field(default_factory=dict)
    """Added to the test's environment (both of the node's child processes inherit it)."""
    process: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def start(self, wait: bool = True) -> NodeProcess:
        self.log_path = self.data_path.parent / f"{self.data_path.name}-{int(time.time() * 1000)}.log"
        log = open(self.log_path, "wb")  # noqa: SIM115  (the child process writes it until it exits)
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "jsc_node.cli",
                "run",
                "--data-path",
                str(self.data_path),
                "--rpc-http-port",
                str(self.http_port),
                "--rpc-ws-port",
                str(self.ws_port),
                "--p2p-port",
                str(self.p2p_port),
                *(["--rpc-http-api", self.http_api] if self.http_api is not None else []),
                *(["--rpc-ws-api", self.ws_api] if self.ws_api is not None else []),
                *self.extra_args,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **self.env},
        )
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"node exited with {self.process.returncode}:\n{self.logs()}")
            with contextlib.suppress(httpx.HTTPError):
                r = httpx.post(
                    self.url,
                    json={"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []},
                    timeout=1,
                )
                if r.status_code == 200:
                    return
            time.sleep(0.1)
        raise TimeoutError(f"node not ready after {READY_TIMEOUT_S} s:\n{self.logs()}")

    def rpc(self, method: str, *params: object) -> object:
        r = httpx.post(
            self.url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}, timeout=30
        )
        body = r.json()
        if "error" in body:
            raise RuntimeError(f"{method}: {body['error']}")
        return body["result"]

    def wait_for_block(self, number: int, timeout_s: float = 30.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if int(str(self.rpc("eth_blockNumber")), 16) >= number:
                return
            time.sleep(0.1)
        raise TimeoutError(f"block {number} not reached in {timeout_s} s")

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path and self.log_path.exists() else ""

    def stop(self) -> int:
        """SIGTERM and wait: a clean shutdown."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        return int(self.process.returncode)

    def kill9(self) -> None:
        """SIGKILL the node: its two child processes die with it (PR_SET_PDEATHSIG)."""
        assert self.process is not None
        self.process.kill()
        self.process.wait(10)
        # The children get SIGKILL from the kernel when the parent dies; wait until the
        # data dir's LevelDB lock is free (bounded).
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and _children_alive(self.process.pid):
            time.sleep(0.05)


def _children_alive(parent_pid: int) -> bool:
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            stat = (proc / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == parent_pid:
            return True
    return False
