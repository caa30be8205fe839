"""jsc_node/node.py adopt_libp2p_logging: py-libp2p's records go through the node's handlers (not
bare lines from Python's last-resort handler), and its TCP dial errors only at DEBUG."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import libp2p  # noqa: F401  (its import detaches the "libp2p" loggers, as in the consensus process)
import pytest

from jsc_node import node
from jsc_node.node import adopt_libp2p_logging


@pytest.fixture(autouse=True)
def _restore() -> Iterator[None]:
    loggers = [logging.getLogger("libp2p"), logging.getLogger("libp2p.transport.tcp")]
    saved = [(lg.level, lg.propagate) for lg in loggers]
    yield
    for lg, (level, propagate) in zip(loggers, saved, strict=True):
        lg.setLevel(level)
        lg.propagate = propagate
    for handler in logging.getLogger().handlers:
        for rule in [f for f in handler.filters if isinstance(f, node._Libp2pRecords)]:
            handler.removeFilter(rule)


def test_libp2p_warnings_reach_the_node_handlers_and_dial_errors_do_not(
    caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LIBP2P_DEBUG", raising=False)
    assert logging.getLogger("libp2p").propagate is False  # what py-libp2p leaves
    adopt_libp2p_logging("INFO")
    chatty = logging.getLogger("libp2p.network.test_chatty")
    chatty.setLevel(logging.INFO)  # as py-libp2p's auto_connector does to its own logger
    with caplog.at_level(logging.INFO):
        logging.getLogger("libp2p.pubsub.gossipsub").warning("mesh degraded")
        logging.getLogger("libp2p.pubsub.gossipsub").info("chatter")
        chatty.info("AUTO_CONNECTOR_STATE: num_connections=0")
        logging.getLogger("libp2p.transport.tcp.tcp").error("Failed to open TCP stream: refused")
        logging.getLogger("jsc_node.p2p").info("bootnode x unreachable")
    messages = [r.getMessage() for r in caplog.records]
    assert "mesh degraded" in messages
    assert "bootnode x unreachable" in messages
    assert "chatter" not in messages
    assert not any("AUTO_CONNECTOR_STATE" in m for m in messages)
    assert not any("Failed to open TCP stream" in m for m in messages)
    assert "Failed to open TCP stream" not in capsys.readouterr().err


def test_dial_errors_show_at_debug(caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LIBP2P_DEBUG", raising=False)
    adopt_libp2p_logging("DEBUG")
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("libp2p.transport.tcp.tcp").error("Failed to open TCP stream: refused")
    assert "Failed to open TCP stream: refused" in [r.getMessage() for r in caplog.records]
