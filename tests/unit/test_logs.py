"""jsc_node/logs.py: the JSON line format, levels per logger, admin_changeLogLevel's level change,
and the config keys that choose them."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest

from jsc_node import logs
from jsc_node.config import load_config
from jsc_node.errors import ConfigError


@pytest.fixture(autouse=True)
def _restore_levels() -> Iterator[None]:
    names = ["", "jsc_node", "jsc_node.p2p", "jsc_node.consensus", "libp2p", "eth"]
    saved = {name: logging.getLogger(name).level for name in names}
    yield
    for name, level in saved.items():
        logging.getLogger(name).setLevel(level)


def _record(message: str, *args: object, **extra: object) -> logging.LogRecord:
    record = logging.LogRecord("jsc_node.execution", logging.INFO, __file__, 1, message, args, None)
    for key, value in extra.items():
        setattr(record, key, value)
    return record


def test_a_json_line_has_the_keys_and_the_structured_fields() -> None:
    record = _record("committed block %d", 7, block=7, hash="0xab", txs=2, validators=["0x01", "0x02"])
    line = json.loads(logs.JsonFormatter().format(record))
    assert line["message"] == "committed block 7"
    assert line["level"] == "INFO"
    assert line["logger"] == "jsc_node.execution"
    assert line["process"] in {"main", "execution", "consensus"}
    assert line["time"].endswith("Z")
    assert "T" in line["time"]
    assert (line["block"], line["hash"], line["txs"]) == (7, "0xab", 2)
    assert line["validators"] == ["0x01", "0x02"]
    # Nothing of the record's own machinery leaks in as a field.
    assert not {"args", "msg", "levelno", "pathname", "exc_info"} & line.keys()


def test_a_json_line_carries_the_exception_and_odd_values_as_text() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        import sys

        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", None, sys.exc_info())
    record.peer = object()
    line = json.loads(logs.JsonFormatter().format(record))
    assert "ValueError: boom" in line["exception"]
    assert line["peer"].startswith("<object object")


def test_module_levels_parse_and_refuse_bad_parts() -> None:
    assert logs.parse_module_levels("jsc_node.p2p=debug, libp2p=INFO,") == {
        "jsc_node.p2p": "DEBUG",
        "libp2p": "INFO",
    }
    with pytest.raises(ValueError, match="expected logger=LEVEL"):
        logs.parse_module_levels("jsc_node.p2p")
    with pytest.raises(ValueError, match="level must be one of"):
        logs.parse_module_levels("jsc_node.p2p=LOUD")


def test_config_takes_format_and_module_levels_and_refuses_bad_ones() -> None:
    config = load_config(logging_format="JSON", log_module_levels="jsc_node.p2p=DEBUG")
    assert config.logging_format == "json"
    assert config.log_module_levels == {"jsc_node.p2p": "DEBUG"}
    with pytest.raises(ConfigError, match="logging_format"):
        load_config(logging_format="xml")
    with pytest.raises(ConfigError, match="log_module_levels"):
        load_config(log_module_levels="jsc_node.p2p=LOUD")


def test_change_levels_without_names_moves_the_node_and_root_not_the_libraries() -> None:
    logging.getLogger("eth").setLevel(logging.WARNING)
    logging.getLogger("jsc_node.p2p").setLevel(logging.ERROR)
    changed = logs.change_levels(logging.DEBUG)
    assert changed == ("root", "jsc_node")
    assert logging.getLogger().level == logging.DEBUG
    assert logging.getLogger("jsc_node.p2p").getEffectiveLevel() == logging.DEBUG
    assert logging.getLogger("eth").level == logging.WARNING


def test_change_levels_with_names_moves_only_those() -> None:
    logging.getLogger("jsc_node").setLevel(logging.INFO)
    assert logs.change_levels(logging.DEBUG, ["jsc_node.consensus"]) == ("jsc_node.consensus",)
    assert logging.getLogger("jsc_node.consensus").getEffectiveLevel() == logging.DEBUG
    assert logging.getLogger("jsc_node.p2p").getEffectiveLevel() == logging.INFO


def test_besu_level_words() -> None:
    # Besu's AdminChangeLogLevel.VALID_PARAMS, exactly.
    assert set(logs.BESU_LEVELS) == {"OFF", "ERROR", "WARN", "INFO", "DEBUG", "TRACE", "ALL"}
    assert logs.BESU_LEVELS["OFF"] > logging.CRITICAL
