"""Process plumbing shared by the supervisors (node.py, devnet.py) and the one-shot commands that
open a data dir (``jsc-node init``, ``import``): an exclusive lock file that names the pid holding
it, and the kernel's parent-death signal. It sits apart from node.py so that devnet.py and
importer.py get these two without importing the node supervisor, and it imports nothing of the
project but errors.py, so any process entry may import it.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import os
from collections.abc import Callable, Iterator
from pathlib import Path

from jsc_node.errors import DataDirLockedError

PR_SET_PDEATHSIG = 1
"""<linux/prctl.h>"""
DATA_DIR_LOCK_FILE = "LOCK"


@contextlib.contextmanager
def pid_lock(lock_path: Path, refusal: Callable[[str], str]) -> Iterator[None]:
    """Hold an exclusive flock on ``lock_path`` (the file then holds this pid) while the block
    runs. If another process holds it: DataDirLockedError(refusal(its pid as written))."""
    handle = open(lock_path, "a+")  # noqa: SIM115  (held while the block runs)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        owner = handle.read().strip() or "unknown"
        handle.close()
        raise DataDirLockedError(refusal(owner)) from None
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    try:
        yield
    finally:
        handle.close()


@contextlib.contextmanager
def data_dir_lock(data_path: Path) -> Iterator[None]:
    """The data dir's own lock (created if missing): one node, ``init`` or ``import`` at a time."""
    data_path.mkdir(parents=True, exist_ok=True)
    with pid_lock(
        data_path / DATA_DIR_LOCK_FILE,
        lambda owner: f"data dir {data_path} is in use by another jsc-node process (pid {owner})",
    ):
        yield


def die_with_parent(signal_number: int, parent_pid: int) -> None:
    """Have the kernel send ``signal_number`` to this process when its parent dies (prctl(2),
    PR_SET_PDEATHSIG), so no child outlives its supervisor. ``parent_pid`` is the parent's pid as
    the parent gave it: if this process has another parent already, the parent died before the
    call (the signal covers only a later death) and this process exits at once. Comparing with
    the parent's own pid, not with 1, keeps a supervisor that runs as pid 1 (a container's
    entrypoint) working."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal_number)
    if os.getppid() != parent_pid:
        os._exit(1)
