"""The pool's journal: what add() acknowledged survives a crash; torn tails and compaction."""

from __future__ import annotations

import asyncio
import os
import signal
import struct
import subprocess
import sys
import textwrap
from pathlib import Path
from unittest import mock

import pytest
from eth_utils import keccak

from jsc_node.errors import InvalidTransaction, StorageError
from jsc_node.state.pool import journal as journal_module
from tests.unit.test_txpool import (
    BLOCK_GAS_LIMIT,
    GWEI,
    FakeReader,
    address,
    key,
    make_pool,
    snapshot,
    tx1559,
    tx_legacy,
)

A = key(0)
B = key(1)
REPO_ROOT = Path(__file__).resolve().parents[2]


def records(path: Path) -> list[bytes]:
    """Parse a journal strictly: it must hold whole records only."""
    data = path.read_bytes()
    out = []
    offset = 0
    while offset < len(data):
        (length,) = struct.unpack_from(">I", data, offset)
        out.append(data[offset + 4 : offset + 4 + length])
        offset += 4 + length
    assert offset == len(data)
    return out


def test_acknowledged_txs_are_back_after_a_crash(tmp_path: Path) -> None:
    journal = tmp_path / "txs.journal"
    first = make_pool(journal=journal)
    hashes = [
        first.add(tx1559(A, nonce=0)),
        first.add(tx1559(A, nonce=1)),
        first.add(tx1559(A, nonce=3)),  # queued
        first.add(tx_legacy(B, nonce=0)),
    ]
    # No close(), no compaction: the process dies here.
    second = make_pool(journal=journal)
    assert second.load_journal() == 4
    assert snapshot(second) == snapshot(first)
    assert second.status() == (3, 1)
    assert all(h in second for h in hashes)
    first.close()
    second.close()


def test_acknowledged_txs_survive_kill_9(tmp_path: Path) -> None:
    journal = tmp_path / "txs.journal"
    child = textwrap.dedent(
        f"""
        import sys
        from pathlib import Path
        from tests.unit.test_txpool import make_pool, tx1559, key
        pool = make_pool(journal=Path({str(journal)!r}))
        for n in range(1000):
            print(pool.add(tx1559(key(n % 7), nonce=n // 7)).hex(), flush=True)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", child], cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    acknowledged = [bytes.fromhex(proc.stdout.readline().strip()) for _ in range(40)]
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    proc.stdout.close()

    pool = make_pool(journal=journal)
    loaded = pool.load_journal()
    assert loaded >= len(acknowledged)
    assert all(h in pool for h in acknowledged)
    pool.close()


def test_add_returns_only_after_fsync(tmp_path: Path) -> None:
    journal = tmp_path / "txs.journal"
    pool = make_pool(journal=journal)
    raw = tx1559()
    sizes_at_fsync: list[int] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        sizes_at_fsync.append(os.fstat(fd).st_size)
        real_fsync(fd)

    with mock.patch.object(journal_module.os, "fsync", side_effect=fsync):
        pool.add(raw)
    assert sizes_at_fsync == [4 + len(raw)]
    assert records(journal) == [raw]
    pool.close()


@pytest.mark.parametrize(
    "tail",
    [
        struct.pack(">I", 200) + b"\x02" * 50,  # record cut short
        b"\x00\x00",  # length prefix cut short
        struct.pack(">I", 0xFFFFFFFF) + b"\x01" * 8,  # corrupt length
    ],
    ids=["torn record", "torn header", "corrupt length"],
)
def test_torn_tail_is_ignored_and_cut_off(tmp_path: Path, tail: bytes) -> None:
    journal = tmp_path / "txs.journal"
    first = make_pool(journal=journal)
    good = [first.add(tx1559(nonce=0)), first.add(tx1559(nonce=1))]
    first.close()
    with open(journal, "ab") as f:
        f.write(tail)

    pool = make_pool(journal=journal)
    assert pool.load_journal() == 2
    assert all(h in pool for h in good)
    assert [keccak(r) for r in records(journal)] == good  # rewritten without the tail
    pool.add(tx1559(nonce=2))  # and appending continues cleanly
    assert len(records(journal)) == 3
    pool.close()


def test_invalid_record_in_the_middle_is_dropped(tmp_path: Path) -> None:
    journal = tmp_path / "txs.journal"
    raws = [tx1559(nonce=0), b"\x02garbage", tx1559(nonce=1)]
    journal.write_bytes(b"".join(struct.pack(">I", len(r)) + r for r in raws))
    pool = make_pool(journal=journal)
    assert pool.load_journal() == 2
    assert records(journal) == [raws[0], raws[2]]
    pool.close()


def test_load_drops_mined_and_replaced_and_compacts(tmp_path: Path) -> None:
    journal = tmp_path / "txs.journal"
    reader = FakeReader()
    first = make_pool(reader, journal)
    first.add(tx1559(A, nonce=0))
    first.add(tx1559(A, nonce=1))
    first.add(tx1559(A, nonce=2))
    replaced = tx1559(B, nonce=0)
    first.add(replaced)
    replacement = tx1559(B, nonce=0, tip=2 * GWEI, fee_cap=4 * GWEI)
    first.add(replacement)
    first.close()
    assert len(records(journal)) == 5

    reader.nonces[address(A)] = 2  # nonces 0 and 1 were mined meanwhile
    pool = make_pool(reader, journal)
    assert pool.load_journal() == 2
    assert pool.status() == (2, 0)
    assert sorted(records(journal)) == sorted([tx1559(A, nonce=2), replacement])
    assert not (tmp_path / "txs.journal.tmp").exists()
    pool.close()


def test_load_without_journal_file_and_without_path(tmp_path: Path) -> None:
    pool = make_pool(journal=tmp_path / "absent.journal")
    assert pool.load_journal() == 0
    assert (tmp_path / "absent.journal").read_bytes() == b""
    assert make_pool().load_journal() == 0
    pool.close()


def test_leftover_temp_file_from_a_crashed_rewrite_is_discarded(tmp_path: Path) -> None:
    journal = tmp_path / "txs.journal"
    first = make_pool(journal=journal)
    h = first.add(tx1559())
    first.close()
    (tmp_path / "txs.journal.tmp").write_bytes(b"half-written")
    pool = make_pool(journal=journal)
    assert pool.load_journal() == 1
    assert h in pool
    assert not (tmp_path / "txs.journal.tmp").exists()
    pool.close()


def test_new_heads_compact_the_journal_only_when_garbage_piles_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(journal_module, "COMPACT_MIN_RECORDS", 4)
    journal = tmp_path / "txs.journal"
    reader = FakeReader()
    pool = make_pool(reader, journal)
    mined = [pool.add(tx1559(A, nonce=n)) for n in range(3)]
    live = tx1559(B, nonce=0)
    pool.add(live)

    with mock.patch.object(journal_module.os, "replace", wraps=os.replace) as replace:
        reader.nonces[address(A)] = 1
        pool.on_new_head(BLOCK_GAS_LIMIT, GWEI, mined[:1])  # 4 records, 3 live: keep
        assert replace.call_count == 0
        reader.nonces[address(A)] = 3
        pool.add(tx1559(B, nonce=1))
        pool.on_new_head(BLOCK_GAS_LIMIT, GWEI, mined[1:])  # 5 records, 2 live: rewrite
        assert replace.call_count == 1
        pool.on_new_head(BLOCK_GAS_LIMIT, GWEI, [])  # nothing new: no rewrite
        assert replace.call_count == 1
    assert records(journal) == [live, tx1559(B, nonce=1)]
    pool.add(tx1559(B, nonce=2))
    assert len(records(journal)) == 3
    pool.close()


def test_journal_write_failure_refuses_the_tx(tmp_path: Path) -> None:
    pool = make_pool(journal=tmp_path / "missing-dir" / "txs.journal")
    with pytest.raises(StorageError, match="cannot append to tx journal"):
        pool.add(tx1559())
    assert len(pool) == 0
    assert pool.status() == (0, 0)


# --- group commit (add_async) -------------------------------------------------------


def test_concurrent_add_async_share_fsyncs_and_return_only_when_durable(tmp_path: Path) -> None:
    journal = tmp_path / "txs.journal"
    pool = make_pool(journal=journal)
    raws = [tx1559(key(n % 10), nonce=n // 10) for n in range(100)]
    durable_when_announced: list[bool] = []
    pool.subscribe(lambda txs: durable_when_announced.append({p.raw for p in txs} <= set(records(journal))))

    async def submit() -> list[bytes]:
        return await asyncio.gather(*(pool.add_async(raw) for raw in raws))

    with mock.patch.object(journal_module.os, "fsync", wraps=os.fsync) as fsync:
        hashes = asyncio.run(submit())
    assert hashes == [keccak(raw) for raw in raws]
    assert fsync.call_count < 10  # group commit: typically 2 (the first tx, then the rest)
    assert sorted(records(journal)) == sorted(raws)
    assert durable_when_announced
    assert all(durable_when_announced)
    assert pool.status() == (100, 0)
    pool.close()


def test_add_async_refusal_is_immediate_and_unjournaled(tmp_path: Path) -> None:
    journal = tmp_path / "txs.journal"
    pool = make_pool(journal=journal)

    async def submit() -> None:
        await pool.add_async(tx1559(nonce=0))
        with pytest.raises(InvalidTransaction, match=r"^already known$"):
            await pool.add_async(tx1559(nonce=0))

    asyncio.run(submit())
    assert records(journal) == [tx1559(nonce=0)]
    pool.close()


def test_add_async_journal_failure_takes_the_txs_back_out(tmp_path: Path) -> None:
    pool = make_pool(journal=tmp_path / "missing-dir" / "txs.journal")

    async def submit() -> list[bytes | BaseException]:
        return await asyncio.gather(
            *(pool.add_async(tx1559(nonce=n)) for n in range(3)), return_exceptions=True
        )

    results = asyncio.run(submit())
    assert all(isinstance(r, StorageError) for r in results)
    assert len(pool) == 0
    assert pool.status() == (0, 0)


def test_add_async_without_journal() -> None:
    pool = make_pool()
    raw = tx1559()
    assert asyncio.run(pool.add_async(raw)) == keccak(raw)
    assert pool.status() == (1, 0)
