"""jsc_node/procutil.py: the pid lock file (data dir, devnet) and the parent-death signal, on real
processes."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from jsc_node.devnet import devnet_lock
from jsc_node.errors import DataDirLockedError
from jsc_node.procutil import data_dir_lock

HOLD_LOCK = """
import sys, time
from pathlib import Path
from jsc_node.procutil import data_dir_lock
with data_dir_lock(Path(sys.argv[1])):
    print("locked", flush=True)
    time.sleep(60)
"""


def test_data_dir_lock_is_created_names_its_holder_and_refuses_a_second(tmp_path: Path) -> None:
    data = tmp_path / "new" / "data"
    with data_dir_lock(data):
        assert (data / "LOCK").read_text() == str(os.getpid())
        with pytest.raises(DataDirLockedError) as refused, data_dir_lock(data):
            pass
    assert str(refused.value) == f"data dir {data} is in use by another jsc-node process (pid {os.getpid()})"
    with data_dir_lock(data):  # released on the way out
        pass


def test_data_dir_lock_held_by_another_process(tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(
            DataDirLockedError, match=rf"in use by another jsc-node process \(pid {holder.pid}\)"
        ):
            data_dir_lock(tmp_path).__enter__()
    finally:
        holder.kill()
        holder.wait()
    with data_dir_lock(tmp_path):  # the kernel dropped the dead holder's lock
        pass


def test_devnet_lock_words(tmp_path: Path) -> None:
    with devnet_lock(tmp_path):
        assert (tmp_path / "devnet.lock").read_text() == str(os.getpid())
        with pytest.raises(DataDirLockedError) as refused, devnet_lock(tmp_path):
            pass
    assert (
        str(refused.value) == f"a devnet is already running on {tmp_path} (pid {os.getpid()}); stop it first"
    )


def _run(code: str, *prefix: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*prefix, sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )


def test_a_child_whose_parent_is_already_gone_exits() -> None:
    code = "import os, signal; from jsc_node.procutil import die_with_parent; die_with_parent(signal.SIGTERM, {}); print('alive')"
    assert _run(code.format("os.getppid()")).stdout == "alive\n"
    gone = _run(code.format("os.getppid() + 100000"))
    assert (gone.returncode, gone.stdout) == (1, "")


SPAWN_ORPHAN = """
import functools, os, signal, subprocess, sys
from jsc_node.procutil import die_with_parent
child = subprocess.Popen(
    [sys.executable, "-c", "import time; time.sleep(60)"],
    stdout=subprocess.DEVNULL,
    stderr=subprocess.DEVNULL,
    preexec_fn=functools.partial(die_with_parent, signal.SIGKILL, os.getpid()),
)
print(child.pid, flush=True)
os._exit(0)
"""


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def test_a_child_dies_with_its_parent() -> None:
    result = _run(SPAWN_ORPHAN)
    orphan = int(result.stdout)
    deadline = time.monotonic() + 10
    while _running(orphan) and time.monotonic() < deadline:
        time.sleep(0.05)
    alive = _running(orphan)
    if alive:
        os.kill(orphan, 9)
    assert not alive


@pytest.mark.skipif(shutil.which("unshare") is None, reason="needs unshare(1)")
def test_a_supervisor_running_as_pid_1_keeps_its_children() -> None:
    """A container's entrypoint is pid 1: its children's parent pid is 1 while it lives."""
    code = (
        "import functools, os, signal, subprocess, sys\n"
        "from jsc_node.procutil import die_with_parent\n"
        "assert os.getpid() == 1\n"
        "child = subprocess.run([sys.executable, '-c', 'print(\"alive\")'], capture_output=True, text=True,\n"
        "    preexec_fn=functools.partial(die_with_parent, signal.SIGTERM, os.getpid()))\n"
        "print(child.returncode, child.stdout.strip())\n"
    )
    result = _run(code, "unshare", "--pid", "--fork")
    if result.returncode != 0 and "unshare" in result.stderr:
        pytest.skip(f"no pid namespace here: {result.stderr.strip()}")
    assert result.stdout == "0 alive\n"
