"""Read-your-writes against a real `jsc-node run`, as a fast-polling wallet sees it
(tests/integration/ryw_probe.py): once an answer has shown block B, no later "latest" read is
below B, the sender's pending nonce counts B, and one batch reads one head. 0 stale answers.

``RYW_PROBE_TXS`` sets the number of transactions (``make probe`` runs a longer campaign)."""

from __future__ import annotations

import os

from tests.integration.nodeproc import NodeProcess
from tests.integration.ryw_probe import run_probe

PROBE_TXS = int(os.environ.get("RYW_PROBE_TXS", "10"))


def test_no_stale_latest_read_after_a_receipt(node: NodeProcess) -> None:
    result = run_probe(node.url, PROBE_TXS)
    assert result.transactions == PROBE_TXS
    assert result.batches >= PROBE_TXS
    assert result.stale == []
