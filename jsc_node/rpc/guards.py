"""Browser-origin defences in front of the JSON-RPC app, as geth has them, with Besu's flag names.

A web page the node's operator visits can reach the node on 127.0.0.1 in three ways that no CORS
setting stops; each is closed here, before any method runs:

- DNS rebinding: a name the attacker controls resolves to 127.0.0.1, so the page is same-origin
  with the node and the browser sends ``Host: <that name>``. ``--host-allowlist`` (Besu's name and
  default, ``localhost,127.0.0.1``; ``*`` for any) lists the host names served; any other name gets
  HTTP 403, on HTTP and on WebSocket handshakes. As geth (node/rpcstack.go
  ``virtualHostHandler``): the port is not compared, and a Host that is an IP address, or no Host
  at all, is always served: rebinding needs a name, and a page at an IP address is that address's.
- "Simple" cross-site requests: a POST with ``Content-Type: text/plain`` (or a form type) needs no
  CORS preflight, so it runs even though the page cannot read the answer. As geth (rpc/http.go
  ``validateRequest``): a POST whose media type is not ``application/json``,
  ``application/json-rpc`` or ``application/jsonrequest`` (parameters such as charset allowed), or
  that has none, gets HTTP 415. OPTIONS (the CORS preflight, ``--rpc-http-cors-origins``) and GET
  are not checked.
- Cross-site WebSocket: browsers do not apply CORS to WebSocket handshakes. As geth's
  ``--ws.origins`` (rpc/websocket.go ``wsHandshakeValidator``): a handshake whose ``Origin`` is not
  allowed by ``--rpc-ws-origins`` gets HTTP 403; unset, only local pages are allowed
  (LOCAL_ORIGINS and ``http://<this machine's hostname>``); ``*`` allows any; a handshake without
  ``Origin`` (web3.py, ethers in Node, wscat: not a browser) is always accepted.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final, Protocol
from urllib.parse import urlsplit

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

from jsc_node.rpc.codes import invalid_content_type_response

log = logging.getLogger(__name__)

ACCEPTED_MEDIA_TYPES: Final = frozenset(
    {"application/json", "application/json-rpc", "application/jsonrequest"}
)
"""geth's acceptedContentTypes (rpc/http.go)."""

LOCAL_ORIGINS: Final = ("http://localhost", "http://127.0.0.1", "http://[::1]")
"""Origins allowed when ``--rpc-ws-origins`` is unset (geth: ``http://localhost`` and the hostname;
the loopback addresses are the same machine's pages under another spelling). Any port."""

ANY: Final = "*"


class GuardSettings(Protocol):
    """The knobs read here; ``jsc_node.config.NodeConfig`` satisfies it."""

    @property
    def host_allowlist(self) -> Sequence[str]: ...

    @property
    def rpc_ws_origins(self) -> Sequence[str]: ...


# --- Host -----------------------------------------------------------------------------------------


def request_hostname(host: str) -> str:
    """The host name of a Host header, lower case, without port and IPv6 brackets."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    if host.count(":") == 1:
        return host.split(":", 1)[0]
    return host  # a name, or a bare IPv6 address (geth: SplitHostPort fails, the whole is the host)


def _is_ip(hostname: str) -> bool:
    try:
        ipaddress.ip_address(hostname)
    except ValueError:
        return False
    return True


def host_allowed(host: str | None, allowlist: Iterable[str]) -> bool:
    """Whether a request with this Host header is served (geth's ``virtualHostHandler``)."""
    if not host:
        return True
    hostname = request_hostname(host)
    if _is_ip(hostname):
        return True
    names = {entry.strip().lower() for entry in allowlist}
    return ANY in names or hostname in names


# --- Content-Type ---------------------------------------------------------------------------------


def content_type_accepted(content_type: str | None) -> bool:
    """Whether a POST with this Content-Type is a JSON-RPC request (geth's ``validateRequest``)."""
    if content_type is None:
        return False
    return content_type.split(";", 1)[0].strip().lower() in ACCEPTED_MEDIA_TYPES


# --- Origin ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OriginRule:
    """One ``--rpc-ws-origins`` entry; an empty part matches anything (geth's ``ruleAllowsOrigin``)."""

    scheme: str
    hostname: str
    port: str

    @classmethod
    def parse(cls, text: str) -> OriginRule | None:
        """geth's ``parseOriginURL``: ``scheme://host[:port]``, or ``host[:port]`` for any scheme;
        ``None`` if it cannot be read."""
        text = text.strip().lower()
        if "://" in text:
            try:
                parts = urlsplit(text)
                port = parts.port
            except ValueError:
                return None
            return cls(parts.scheme, parts.hostname or "", "" if port is None else str(port))
        head, sep, tail = text.rpartition(":")
        if sep and tail.isdigit() and head and not head.endswith(":"):
            return cls("", head.strip("[]"), tail)
        return cls("", text.strip("[]"), "")

    def allows(self, origin: OriginRule) -> bool:
        return (
            (not self.scheme or self.scheme == origin.scheme)
            and (not self.hostname or self.hostname == origin.hostname)
            and (not self.port or self.port == origin.port)
        )


def default_origins() -> list[str]:
    """The origins allowed when ``--rpc-ws-origins`` is unset: local pages (geth's default)."""
    return [*LOCAL_ORIGINS, f"http://{socket.gethostname().lower()}"]


class OriginPolicy:
    """The WebSocket Origin allowlist built from ``--rpc-ws-origins``."""

    def __init__(self, origins: Iterable[str]) -> None:
        entries = [entry.strip() for entry in origins if entry.strip()]
        if not entries:
            entries = default_origins()
        self.allow_all = ANY in entries
        rules = (OriginRule.parse(entry) for entry in entries if entry != ANY)
        self.rules = tuple(rule for rule in rules if rule is not None)

    def allows(self, origin: str | None) -> bool:
        """Whether a handshake carrying this Origin header (``None``: none) is accepted."""
        if origin is None or self.allow_all:
            return True
        if "://" not in origin:  # "null" (a sandboxed or file:// page) and other opaque origins
            return False
        parsed = OriginRule.parse(origin)
        return parsed is not None and any(rule.allows(parsed) for rule in self.rules)


# --- the middleware -------------------------------------------------------------------------------


def _forbidden_body(message: str, field: str, value: str, flag: str) -> bytes:
    return orjson.dumps({"message": message, field: value, "hint": f"list it in {flag} ({ANY} for any)"})


class BrowserGuards:
    """ASGI middleware: the Host check on every HTTP request and WebSocket handshake, the media type
    of every POST, the Origin of every WebSocket handshake; anything else passes through."""

    def __init__(self, app: ASGIApp, settings: GuardSettings) -> None:
        self._app = app
        self._hosts = tuple(settings.host_allowlist)
        self._origins = OriginPolicy(settings.rpc_ws_origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind != "http" and kind != "websocket":
            await self._app(scope, receive, send)
            return
        host = origin = content_type = None
        for name, value in scope["headers"]:
            if name == b"host":
                host = value.decode("latin-1")
            elif name == b"origin":
                origin = value.decode("latin-1")
            elif name == b"content-type":
                content_type = value.decode("latin-1")
        if not host_allowed(host, self._hosts):
            log.debug("refused a request for host %r (--host-allowlist)", host)
            body = _forbidden_body("Host not authorized.", "host", host or "", "--host-allowlist")
            await _refuse(kind, scope, send, 403, body)
            return
        if kind == "http":
            if scope["method"] == "POST" and not content_type_accepted(content_type):
                await _refuse(kind, scope, send, 415, invalid_content_type_response())
                return
        elif not self._origins.allows(origin):
            log.debug("refused a WebSocket handshake from origin %r (--rpc-ws-origins)", origin)
            body = _forbidden_body("Origin not allowed.", "origin", origin or "", "--rpc-ws-origins")
            await _refuse(kind, scope, send, 403, body)
            return
        await self._app(scope, receive, send)


async def _refuse(kind: str, scope: Scope, send: Send, status: int, body: bytes) -> None:
    """An HTTP answer with a JSON body; for a WebSocket handshake, the same as its HTTP answer when
    the server offers the denial-response extension (uvicorn does), else a bare 403."""
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if kind == "http":
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
    elif "websocket.http.response" in scope.get("extensions", {}):
        await send({"type": "websocket.http.response.start", "status": status, "headers": headers})
        await send({"type": "websocket.http.response.body", "body": body})
    else:
        await send({"type": "websocket.close", "code": 1008})
