"""The nodes allowlist file (Besu's --permissions-nodes-config-file): what it admits, how each bad
file is refused, and the watcher keeping the last good list."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

import pytest
import trio

from jsc_node.errors import ConfigError
from jsc_node.p2p.host import peer_id_of
from jsc_node.p2p.permissions import load_nodes_allowlist, watch_allowlist

pytestmark = pytest.mark.timeout(30)

REPO = Path(__file__).resolve().parents[2]
PEER_A = str(peer_id_of(b"\x01" * 32))
PEER_B = str(peer_id_of(b"\x02" * 32))


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "permissions_config.toml"
    path.write_text(text)
    return path


def test_peer_ids_and_multiaddrs_in_file_order_without_duplicates(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        f"""# Besu's accounts allowlist may share the file
accounts-allowlist = ["0x0000000000000000000000000000000000000001"]
nodes-allowlist = [
  "{PEER_B}",
  " /ip4/10.0.0.5/tcp/30303/p2p/{PEER_A} ",
  "/dns4/rpc.example/tcp/30303/p2p/{PEER_B}",
]
""",
    )
    assert load_nodes_allowlist(path) == (PEER_B, PEER_A)


def test_empty_list_and_no_file(tmp_path: Path) -> None:
    assert load_nodes_allowlist(write(tmp_path, "nodes-allowlist = []\n")) == ()
    assert load_nodes_allowlist(None) == ()


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("nodes-allowlist = [", "is not valid TOML"),
        ("nodes_allowlist = []\n", "has no 'nodes-allowlist' key"),
        ('nodes-allowlist = "16Uiu2HAm"\n', "must be a list of peer IDs or multiaddrs, got str"),
        (f'nodes-allowlist = ["{PEER_A}", 7]\n', "entry 1 (7): expected a string, got int"),
        (f'nodes-allowlist = ["{PEER_A}", "16Uiu2nope"]\n', "entry 1 ('16Uiu2nope'): not a jsc-node peer ID"),
        ('nodes-allowlist = ["16Uiu2HAm0OIl"]\n', "entry 0 ('16Uiu2HAm0OIl'): not a peer ID or a multiaddr"),
        (
            'nodes-allowlist = ["12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA"]\n',
            "has a Ed25519 key, not secp256k1",
        ),
        (
            'nodes-allowlist = ["/ip4/127.0.0.1/tcp/30303"]\n',
            "entry 0 ('/ip4/127.0.0.1/tcp/30303'): not a peer ID or a multiaddr ending in /p2p/",
        ),
        (
            'nodes-allowlist = ["enode://ab@127.0.0.1:30303"]\n',
            "enode URLs are not supported",
        ),
    ],
)
def test_bad_file_names_the_file_and_the_problem(tmp_path: Path, text: str, problem: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as raised:
        load_nodes_allowlist(path)
    assert str(path) in str(raised.value)
    assert problem in str(raised.value)


def test_missing_and_binary_files(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    with pytest.raises(ConfigError, match=f"nodes allowlist file not found: {re.escape(str(missing))}"):
        load_nodes_allowlist(missing)
    binary = tmp_path / "bin.toml"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ConfigError, match=f"{re.escape(str(binary))} is not UTF-8"):
        load_nodes_allowlist(binary)


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, ...]] = []

    async def set_extra_peers(self, peer_ids: Iterable[str]) -> None:
        self.calls.append(tuple(peer_ids))


def test_watcher_reloads_on_change_and_keeps_the_last_good_list(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = write(tmp_path, f'nodes-allowlist = ["{PEER_A}"]\n')
    sink = Recorder()
    tick_s = 0.01

    async def until(predicate: Callable[[], bool]) -> None:
        with trio.fail_after(5):
            while not predicate():
                await trio.sleep(tick_s)

    def rewrite(text: str) -> None:
        path.write_text(text)
        # Coarse-mtime filesystems: make the change visible even within one timestamp tick.
        stat = path.stat()
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(watch_allowlist, path, sink, tick_s)
            await until(lambda: sink.calls == [(PEER_A,)])
            rewrite(f'nodes-allowlist = ["{PEER_A}", "{PEER_B}"]\n')
            await until(lambda: len(sink.calls) == 2)
            assert sink.calls[-1] == (PEER_A, PEER_B)
            rewrite("nodes-allowlist = [")  # half-written: logged, the previous list stays
            await until(lambda: "keeping the previous one" in caplog.text)
            path.unlink()
            await trio.sleep(tick_s * 5)
            assert len(sink.calls) == 2
            rewrite(f'nodes-allowlist = ["{PEER_B}"]\n')
            await until(lambda: len(sink.calls) == 3)
            assert sink.calls[-1] == (PEER_B,)
            nursery.cancel_scope.cancel()

    trio.run(main)
    assert "not valid TOML" in caplog.text
    assert "not found" in caplog.text


def test_no_file_no_watcher() -> None:
    sink = Recorder()
    trio.run(watch_allowlist, None, sink)  # returns at once
    assert sink.calls == []


def test_a_bad_file_stops_jsc_node_run_with_one_error_line(tmp_path: Path) -> None:
    path = write(tmp_path, 'nodes-allowlist = ["16Uiu2nope"]\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("JSC_")}
    result = subprocess.run(
        [
            sys.executable, "-m", "jsc_node.cli", "run",
            "--data-path", str(tmp_path / "data"),
            "--rpc-http-port", "0", "--rpc-ws-port", "0", "--p2p-port", "0",
            "--permissions-nodes-config-file", str(path),
        ],
        capture_output=True, text=True, env={**env, "PYTHONPATH": str(REPO)}, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.startswith(f"error: nodes allowlist file {path}, entry 0 ('16Uiu2nope'): ")
    assert result.stderr.count("\n") == 1, result.stderr
