"""The node's logging: one format for every process (plain text, or one JSON object a line with
``--logging-format json``), levels per logger (``--log-module-levels``), and the run-time level
change of ``admin_changeLogLevel`` (Besu's method), which the execution process applies to itself
and passes to the consensus process over the seam (``LogLevelChanged``).

A JSON line holds ``time`` (UTC, ISO 8601 with milliseconds), ``level``, ``process``
(``main``, ``execution`` or ``consensus``), ``pid``, ``logger``, ``message``, then the record's
structured fields: whatever a log call passed in ``extra`` (``block``, ``hash``, ``txs``, ...),
and ``exception`` when there is one. A log pipeline reads the fields; a person reads ``message``.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Iterable, Mapping
from typing import Any, Final

FORMATS: Final = ("plain", "json")

LEVELS: Final = ("DEBUG", "INFO", "WARNING", "ERROR")
"""``--log-level``'s words (and ``--log-module-levels``'s)."""

# admin_changeLogLevel's levels: Besu's words exactly (AdminChangeLogLevel.VALID_PARAMS, log4j
# names), as Python levels. TRACE logs what DEBUG does (Python has nothing finer here); OFF logs
# nothing (above CRITICAL).
BESU_LEVELS: Final[Mapping[str, int]] = {
    "OFF": logging.CRITICAL + 10,
    "ERROR": logging.ERROR,
    "WARN": logging.WARNING,
    "INFO": logging.INFO,
    "DEBUG": logging.DEBUG,
    "TRACE": logging.DEBUG,
    "ALL": 1,
}

NODE_LOGGER: Final = "jsc_node"
"""The parent of every logger of the node's own code."""

# Libraries whose INFO is chatter: they log at WARNING and up unless the level asks for less
# (--log-module-levels or admin_changeLogLevel with their name can still open them).
NOISY_LOGGERS: Final = ("eth", "trie", "libp2p", "uvicorn", "multiaddr", "asyncio")

# Attributes every LogRecord has; anything else on a record came from ``extra`` (a field).
_RECORD_ATTRS: Final = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", None, None)).keys() | {"message", "asctime", "taskName"}
)

_process_name = "main"


def parse_module_levels(text: str) -> dict[str, str]:
    """``"jsc_node.p2p=DEBUG,libp2p=INFO"`` -> {"jsc_node.p2p": "DEBUG", ...}; ValueError naming
    the bad part."""
    levels: dict[str, str] = {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        name, sep, level = part.partition("=")
        name, level = name.strip(), level.strip().upper()
        if not sep or not name:
            raise ValueError(f"{part!r}: expected logger=LEVEL (e.g. jsc_node.p2p=DEBUG)")
        if level not in LEVELS:
            raise ValueError(f"{part!r}: level must be one of {', '.join(LEVELS)}")
        levels[name] = level
    return levels


class JsonFormatter(logging.Formatter):
    """One JSON object a line (see the module docstring for its keys)."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": _iso_utc(record.created),
            "level": record.levelname,
            "process": _process_name,
            "pid": record.process,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _RECORD_ATTRS and not key.startswith("_") and key not in line:
                line[key] = value if _is_json(value) else str(value)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exception"] = record.exc_text
        return json.dumps(line, ensure_ascii=False)


def _is_json(value: Any) -> bool:
    if value is None or isinstance(value, str | int | float | bool):
        return True
    if isinstance(value, list | tuple):
        return all(_is_json(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _is_json(v) for k, v in value.items())
    return False


PLAIN_FORMAT: Final = "%(asctime)s %(levelname)-5s %(name)s [%(process)d] %(message)s"


def _iso_utc(created: float) -> str:
    seconds = int(created)
    millis = int((created - seconds) * 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z"


def setup_logging(
    level: str,
    fmt: str = "plain",
    process: str = "main",
    module_levels: Mapping[str, str] | None = None,
) -> None:
    """Configure the root logger of this process: one stderr handler in ``fmt``, ``level`` for
    the node's loggers, WARNING-and-up for the noisy libraries (unless ``level`` is above that),
    then ``module_levels`` on top."""
    global _process_name
    _process_name = process
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(PLAIN_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    numeric = getattr(logging, level)
    root.setLevel(numeric)
    for noisy in NOISY_LOGGERS:
        logging.getLogger(noisy).setLevel(max(logging.WARNING, numeric))
    for name, module_level in (module_levels or {}).items():
        logging.getLogger(name).setLevel(getattr(logging, module_level))


def change_levels(level: int, loggers: Iterable[str] = ()) -> tuple[str, ...]:
    """admin_changeLogLevel in this process: ``level`` on each named logger, or, with none named,
    on the root and the node's own loggers (every ``jsc_node.*`` logger that has a level of its
    own is reset to follow). The names changed, for the log line."""
    names = tuple(loggers)
    if names:
        for name in names:
            logging.getLogger(name).setLevel(level)
        return names
    logging.getLogger().setLevel(level)
    node = logging.getLogger(NODE_LOGGER)
    node.setLevel(level)
    for name, logger in logging.root.manager.loggerDict.items():
        if name.startswith(NODE_LOGGER + ".") and isinstance(logger, logging.Logger):
            logger.setLevel(logging.NOTSET)
    return ("root", NODE_LOGGER)


__all__ = [
    "BESU_LEVELS",
    "FORMATS",
    "LEVELS",
    "JsonFormatter",
    "change_levels",
    "parse_module_levels",
    "setup_logging",
]
