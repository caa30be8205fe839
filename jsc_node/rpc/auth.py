"""JSON-RPC authentication with JWT, as Besu's (``--rpc-http-authentication-*``,
``--rpc-ws-authentication-*``).

What Besu does, and so this module (hyperledger/besu, ``ethereum/api``):

- The token comes from ``Authorization: Bearer <jwt>`` and nowhere else
  (``AuthenticationUtils.getJwtTokenFromAuthorizationHeaderValue``; the WebSocket service reads the
  same header of the upgrade request, there is no ``token`` query parameter).
- It is verified with the operator's PEM public key and the one configured algorithm
  (``JWTAuthOptionsFactory.createForExternalPublicKeyWithAlgorithm``): the signature, ``exp``,
  ``nbf`` and an ``iat`` not in the future, without leeway. Another algorithm, ``alg: none``
  included, fails. Verification is PyJWT's (with ``cryptography``), not ours.
- A token without ``exp`` is refused (``DefaultAuthenticationService.validateExpiryExists``).
- The ``permissions`` claim lists what the token may call: a method is permitted by ``*:*``, by
  ``<namespace>:*`` or by ``<namespace>:<method>`` (``JsonRpcMethod.getPermissions``), matched
  exactly (Vert.x ``PermissionBasedAuthorization``). A token without the claim is authenticated and
  may call nothing; a claim that is not a list makes the token invalid.
- HTTP: a POST without a valid token gets 401 and ``{"jsonrpc":"2.0","id":null,"error":
  {"code":-40100,"message":"Unauthorized"}}`` before its body is read (``AuthenticationHandler``).
  (Besu sends that 401 only when the header is missing; with an invalid token it answers each call
  -40100, so a batch gets 200. Here any invalid token gets the 401: nothing is executed.) With a
  valid token, a method it does not permit gets -40100 in its response object; a single request
  gets HTTP 401 with it (``JsonRpcObjectExecutor``), a batch 200 with the refusals in their places
  (``JsonRpcArrayExecutor``). An unknown method is -32601 whatever the token (the lookup comes
  first in ``JsonRpcExecutor``).
- WebSocket: Besu accepts the upgrade whatever the token and answers every message -40100. Here the
  handshake itself needs a valid token: without one it is refused with the same 401 before the
  upgrade. Each message is then checked against the token's permissions and its ``exp`` (Besu
  verifies the token again on every message), so a connection outliving its token gets -40100 for
  every call; subscriptions it made keep their notifications, as in Besu.

Besu's other way to get tokens is here too: ``--rpc-http-authentication-credentials-file`` (and
``-ws-``), a TOML of users with bcrypt password hashes and permissions, and ``POST /login``
(``{"username", "password"}`` -> ``{"token"}``, RS256, five minutes) signed with a key pair made at
start (``TomlAuth``, ``DefaultAuthenticationService.login``). Left out:
``--rpc-http-api-methods-no-auth``.
"""

from __future__ import annotations

import asyncio
import logging
import time
import tomllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Protocol

import bcrypt
import jwt
import orjson
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from fastapi import WebSocket
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from jsc_node.errors import ConfigError
from jsc_node.rpc.codes import unauthorized_response

log = logging.getLogger(__name__)

PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey

CURVES: Final[dict[str, type[ec.EllipticCurve]]] = {
    "ES256": ec.SECP256R1,
    "ES384": ec.SECP384R1,
    "ES512": ec.SECP521R1,
}
"""The curve each ECDSA algorithm signs on (RFC 7518 section 3.4); RS* take any RSA key."""

ALGORITHMS: Final = ("RS256", "RS384", "RS512", *CURVES)
"""Besu's --rpc-http-authentication-jwt-algorithm values (config.JwtAlgorithm)."""

BEARER: Final = "bearer "
VERIFIED_CACHE_SIZE: Final = 4096
"""Tokens remembered once verified: a signature check costs 0.2-0.3 ms (RS256, ES256), about 20
times a cheap call's dispatch, and a client sends the same token with every request. Only valid
tokens enter, so a flood of forged ones cannot grow it; ``exp`` is checked on every use."""
UNAUTHORIZED_HEADERS: Final = {"WWW-Authenticate": "Bearer"}
"""RFC 7235 asks a 401 to name the scheme; Besu sends none, clients ignore it."""


def method_permissions(method: str) -> tuple[str, str, str]:
    """The permissions any one of which lets a token call ``method`` (Besu's
    ``JsonRpcMethod.getPermissions``): ``eth_call`` -> ``*:*``, ``eth:*``, ``eth:call``."""
    namespace = method.split("_", 1)[0]
    return ("*:*", f"{namespace}:*", method.replace("_", ":"))


@dataclass(frozen=True)
class Grant:
    """What a verified token allows: its ``permissions`` claim, until its ``exp``."""

    permissions: frozenset[str]
    expires_at: float
    """``exp``, seconds since the epoch; the token is valid while the clock is before it."""

    def permits(self, method: str, now: float | None = None) -> bool:
        if (time.time() if now is None else now) >= self.expires_at:
            return False
        return not self.permissions.isdisjoint(method_permissions(method))


class Access:
    """The permission check one request (HTTP) or one connection (WebSocket) hands the dispatcher
    (``rpc/dispatch.py``'s ``Permits``); it remembers whether it refused a method."""

    def __init__(self, grant: Grant, clock: Callable[[], float] = time.time) -> None:
        self.grant = grant
        self.refused = False
        self._clock = clock

    def __call__(self, method: str) -> bool:
        permitted = self.grant.permits(method, self._clock())
        self.refused = self.refused or not permitted
        return permitted

    def http_status(self, body: bytes) -> int:
        """401 when a single request was refused (Besu's ``JsonRpcObjectExecutor``); a batch
        keeps 200, its refused calls answered -40100 in place (``JsonRpcArrayExecutor``)."""
        return 401 if self.refused and body.lstrip()[:1] != b"[" else 200


@dataclass(frozen=True)
class JwtVerifier:
    """Verifies tokens with one public key and one algorithm."""

    key: PublicKey
    algorithm: str
    _verified: dict[str, Grant] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def load(cls, path: Path, algorithm: str, flag: str) -> JwtVerifier:
        """Read a PEM public key for ``algorithm``; a ``ConfigError`` naming ``flag`` if it cannot
        serve (unreadable, not a PEM public key, an RSA key for ES256, a P-384 key for ES256 ...)."""
        if algorithm not in ALGORITHMS:
            raise ConfigError(f"unknown JWT algorithm {algorithm!r}; valid: {', '.join(ALGORITHMS)}")
        try:
            pem = Path(path).read_bytes()
        except OSError as exc:
            raise ConfigError(f"{flag} {path}: cannot read it ({exc.strerror})") from exc
        try:
            key = load_pem_public_key(pem)
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"{flag} {path}: not a PEM public key (-----BEGIN PUBLIC KEY-----)") from exc
        curve = CURVES.get(algorithm)
        if curve is None:
            if not isinstance(key, rsa.RSAPublicKey):
                raise ConfigError(f"{flag} {path}: {algorithm} needs an RSA public key, got {_kind(key)}")
            return cls(key, algorithm)
        if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, curve):
            raise ConfigError(
                f"{flag} {path}: {algorithm} needs an EC {curve.name} public key, got {_kind(key)}"
            )
        return cls(key, algorithm)

    def verify(self, token: str, now: float | None = None) -> Grant | None:
        """The token's grant, or ``None`` if it is not valid now (see the module docstring)."""
        known = self._verified.get(token)
        if known is not None:
            if (time.time() if now is None else now) < known.expires_at:
                return known
            del self._verified[token]
            return None
        grant = self._decode(token)
        if grant is not None:
            if len(self._verified) >= VERIFIED_CACHE_SIZE:
                del self._verified[next(iter(self._verified))]  # the oldest
            self._verified[token] = grant
        return grant

    def _decode(self, token: str) -> Grant | None:
        try:
            claims = jwt.decode(
                token,
                self.key,
                algorithms=[self.algorithm],
                # Besu sets no audience or issuer, so a token carrying them is not refused for it.
                options={"require": ["exp"], "verify_aud": False},
            )
        except jwt.InvalidTokenError:
            return None
        expires_at = claims["exp"]
        permissions = claims.get("permissions", [])
        if not _is_number(expires_at) or not isinstance(permissions, list):
            return None
        return Grant(frozenset(p for p in permissions if isinstance(p, str)), float(expires_at))

    def verify_header(self, value: str | None) -> Grant | None:
        """The grant of an ``Authorization`` header value (``Bearer <jwt>``), or ``None``."""
        if value is None or value[: len(BEARER)].lower() != BEARER:
            return None
        return self.verify(value[len(BEARER) :].strip())


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _kind(key: Any) -> str:
    if isinstance(key, ec.EllipticCurvePublicKey):
        return f"an EC {key.curve.name} key"
    if isinstance(key, rsa.RSAPublicKey):
        return "an RSA key"
    return f"a {type(key).__name__}"


# --- configuration -------------------------------------------------------------------------------


class AuthSettings(Protocol):
    """The flags read here; ``jsc_node.config.NodeConfig`` satisfies it."""

    @property
    def rpc_http_enabled(self) -> bool: ...

    @property
    def rpc_ws_enabled(self) -> bool: ...

    @property
    def rpc_http_authentication_enabled(self) -> bool: ...

    @property
    def rpc_http_authentication_jwt_public_key_file(self) -> Path | None: ...

    @property
    def rpc_http_authentication_jwt_algorithm(self) -> str: ...

    @property
    def rpc_ws_authentication_enabled(self) -> bool: ...

    @property
    def rpc_ws_authentication_jwt_public_key_file(self) -> Path | None: ...

    @property
    def rpc_ws_authentication_jwt_algorithm(self) -> str: ...

    @property
    def rpc_http_authentication_credentials_file(self) -> Path | None: ...

    @property
    def rpc_ws_authentication_credentials_file(self) -> Path | None: ...

    @property
    def rpc_http_port(self) -> int: ...

    @property
    def rpc_ws_port(self) -> int: ...


@dataclass(frozen=True)
class RpcAuthentication:
    """The verifier of each transport (``None`` where authentication is off), and its ``/login``
    where a credentials file issues the tokens."""

    http: JwtVerifier | None = None
    ws: JwtVerifier | None = None
    http_login: Login | None = None
    ws_login: Login | None = None
    ws_port: int | None = None
    """The WebSocket listener's own port (``None`` when it shares HTTP's): ``/login`` there uses
    the WebSocket's credentials, as Besu's WebSocket service has its own ``/login``."""

    @property
    def guards_posts(self) -> bool:
        return self.http is not None or self.http_login is not None or self.ws_login is not None


def load_authentication(config: AuthSettings) -> RpcAuthentication:
    """Read the files the flags name; a ``ConfigError`` (one line) if a transport cannot verify."""
    http, http_login = _load(
        "rpc-http",
        config.rpc_http_authentication_enabled,
        config.rpc_http_authentication_jwt_public_key_file,
        config.rpc_http_authentication_jwt_algorithm,
        config.rpc_http_authentication_credentials_file,
    )
    ws, ws_login = _load(
        "rpc-ws",
        config.rpc_ws_authentication_enabled,
        config.rpc_ws_authentication_jwt_public_key_file,
        config.rpc_ws_authentication_jwt_algorithm,
        config.rpc_ws_authentication_credentials_file,
    )
    if http is None and ws is not None and not config.rpc_http_enabled:
        # One app serves both listeners (rpc/app.py), so the WebSocket port answers POSTs too; with
        # HTTP off they can only arrive there, and need that listener's token.
        http, http_login = ws, ws_login
    separate = config.rpc_ws_enabled and config.rpc_ws_port != config.rpc_http_port
    return RpcAuthentication(http, ws, http_login, ws_login, config.rpc_ws_port if separate else None)


def authentication_warnings(config: AuthSettings) -> Iterable[str]:
    """What the operator probably did not mean: a key file while its transport's authentication is
    off (Besu ignores it silently), or one transport authenticated while the other listens without."""
    http_auth, ws_auth = config.rpc_http_authentication_enabled, config.rpc_ws_authentication_enabled
    if config.rpc_http_authentication_jwt_public_key_file is not None and not http_auth:
        yield (
            "--rpc-http-authentication-jwt-public-key-file is ignored: "
            "--rpc-http-authentication-enabled is not set, so HTTP JSON-RPC needs no token"
        )
    if config.rpc_ws_authentication_jwt_public_key_file is not None and not ws_auth:
        yield (
            "--rpc-ws-authentication-jwt-public-key-file is ignored: "
            "--rpc-ws-authentication-enabled is not set, so WebSocket JSON-RPC needs no token"
        )
    for transport, name, enabled, credentials in (
        ("rpc-http", "HTTP", http_auth, config.rpc_http_authentication_credentials_file),
        ("rpc-ws", "WebSocket", ws_auth, config.rpc_ws_authentication_credentials_file),
    ):
        if credentials is not None and not enabled:
            yield (
                f"--{transport}-authentication-credentials-file is ignored: "
                f"--{transport}-authentication-enabled is not set, so {name} JSON-RPC needs no token"
            )
    if http_auth and config.rpc_ws_enabled and not ws_auth:
        yield (
            "--rpc-http-authentication-enabled is set but not --rpc-ws-authentication-enabled: "
            "WebSocket JSON-RPC needs no token"
        )
    if ws_auth and config.rpc_http_enabled and not http_auth:
        yield (
            "--rpc-ws-authentication-enabled is set but not --rpc-http-authentication-enabled: "
            "HTTP JSON-RPC needs no token"
        )


def _load(
    transport: str, enabled: bool, key_file: Path | None, algorithm: str, credentials_file: Path | None
) -> tuple[JwtVerifier | None, Login | None]:
    if not enabled:
        return None, None
    key_flag = f"--{transport}-authentication-jwt-public-key-file"
    credentials_flag = f"--{transport}-authentication-credentials-file"
    if key_file is not None and credentials_file is not None:
        # Besu takes both but its /login cannot sign then (it holds only the public key).
        raise ConfigError(
            f"give {key_flag} (tokens you issue) or {credentials_flag} (tokens /login issues), not both"
        )
    if credentials_file is not None:
        credentials = CredentialsFile(credentials_file, credentials_flag)
        credentials.load_users()  # a bad file refuses the start; it is read again at each login
        # Besu: a key pair made at start, RS256 whatever the algorithm flag says
        # (JWTAuthOptionsFactory.createWithGeneratedKeyPair).
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return JwtVerifier(key.public_key(), "RS256"), Login(credentials, key)
    if key_file is None:
        # Besu refuses the same start (JsonRpcHttpOptions.validate: "Unable to authenticate JSON-RPC
        # HTTP endpoint without a supplied credentials file or authentication public key file").
        raise ConfigError(
            f"--{transport}-authentication-enabled needs {key_flag} (the PEM public key tokens are "
            f"verified with) or {credentials_flag} (users who get tokens from /login)"
        )
    return JwtVerifier.load(key_file, algorithm, key_flag), None


# --- the credentials file and /login (Besu's TomlAuth, DefaultAuthenticationService.login) --------

LOGIN_PATH: Final = "/login"
LOGIN_TOKEN_LIFETIME_S: Final = 300
"""Besu: ``new JWTOptions().setExpiresInMinutes(5)``."""
MAX_LOGIN_BODY_BYTES: Final = 64 * 1024


@dataclass(frozen=True)
class CredentialsFile:
    """Besu's credentials TOML: ``[Users.<name>]`` with ``password`` (a bcrypt hash, as Besu's
    ``password hash`` subcommand prints) and ``permissions`` (the token's claim). Read again at
    each login, as Besu does, so an edit needs no restart."""

    path: Path
    flag: str

    def load_users(self) -> dict[str, tuple[bytes, list[str]]]:
        """name -> (bcrypt hash, permissions); a ``ConfigError`` naming the flag and the problem."""
        try:
            document = tomllib.loads(Path(self.path).read_text())
        except OSError as exc:
            raise ConfigError(f"{self.flag} {self.path}: cannot read it ({exc.strerror})") from exc
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{self.flag} {self.path}: not valid TOML: {exc}") from exc
        users = document.get("Users", {})
        if not isinstance(users, dict) or not users:
            raise ConfigError(f"{self.flag} {self.path}: no [Users.<name>] table")
        table: dict[str, tuple[bytes, list[str]]] = {}
        for name, user in users.items():
            where = f"{self.flag} {self.path}: [Users.{name}]"
            password = user.get("password") if isinstance(user, dict) else None
            if not isinstance(password, str) or not password.startswith(("$2a$", "$2b$", "$2y$")):
                raise ConfigError(f"{where}: password must be a bcrypt hash ($2a$/$2b$...)")
            permissions = user.get("permissions", [])
            if not isinstance(permissions, list) or not all(isinstance(p, str) for p in permissions):
                raise ConfigError(f"{where}: permissions must be a list of strings")
            table[name] = (password.encode(), permissions)
        return table

    def check(self, username: str, password: str) -> list[str] | None:
        """The user's permissions if the password matches, else ``None``."""
        try:
            user = self.load_users().get(username)
        except ConfigError as exc:
            log.warning("login refused: %s", exc)
            return None
        if user is None:
            return None
        try:
            return user[1] if bcrypt.checkpw(password.encode(), user[0]) else None
        except ValueError:  # over bcrypt's 72 bytes, or a malformed hash
            return None


@dataclass(frozen=True)
class Login:
    """``POST /login`` of one transport: the credentials, and the key its tokens are signed with."""

    credentials: CredentialsFile
    key: rsa.RSAPrivateKey

    def issue(self, username: str, permissions: list[str], now: float | None = None) -> str:
        """Besu's login token: ``permissions``, ``username``, ``iat``, ``exp`` five minutes later, RS256."""
        issued = int(time.time() if now is None else now)
        claims = {
            "permissions": permissions,
            "username": username,
            "iat": issued,
            "exp": issued + LOGIN_TOKEN_LIFETIME_S,
        }
        return jwt.encode(claims, self.key, algorithm="RS256")

    async def answer(self, body: bytes) -> tuple[int, bytes, str]:
        """(status, body, media type) for a login request body: Besu's answers and words."""
        try:
            request = orjson.loads(body)
        except orjson.JSONDecodeError:
            request = None
        username = request.get("username") if isinstance(request, dict) else None
        password = request.get("password") if isinstance(request, dict) else None
        if not isinstance(username, str) or not isinstance(password, str):
            return 400, b"Authentication failed: username and password are required.", "text/plain"
        # bcrypt costs tens of milliseconds on purpose: off the event loop.
        permissions = await asyncio.to_thread(self.credentials.check, username, password)
        if permissions is None:
            return 401, b"Authentication failed: the username or password is incorrect.", "text/plain"
        return 200, orjson.dumps({"token": self.issue(username, permissions)}), "application/json"


# --- the two transports --------------------------------------------------------------------------


class HttpAuthentication:
    """ASGI middleware: a POST needs a valid bearer token, else 401 and Besu's body, before the
    body is read. A valid token's :class:`Access` goes to the JSON-RPC handler in the scope, under
    ``ACCESS_SCOPE_KEY``. ``POST /login`` is answered here. GET (the 405 hint) and CORS preflights
    pass: they execute nothing."""

    def __init__(self, app: ASGIApp, auth: RpcAuthentication) -> None:
        self._app = app
        self._auth = auth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self._app(scope, receive, send)
            return
        if scope["path"] == LOGIN_PATH:
            await self._login(scope, receive, send)
            return
        verifier = self._auth.http
        if verifier is None:
            await self._app(scope, receive, send)
            return
        grant = verifier.verify_header(_header(scope, b"authorization"))
        if grant is None:
            await _unauthorized()(scope, receive, send)
            return
        await self._app({**scope, ACCESS_SCOPE_KEY: Access(grant)}, receive, send)

    async def _login(self, scope: Scope, receive: Receive, send: Send) -> None:
        server = scope.get("server")
        on_ws_port = server is not None and self._auth.ws_port is not None and server[1] == self._auth.ws_port
        login = self._auth.ws_login if on_ws_port else self._auth.http_login
        if login is None:
            # Besu: DefaultAuthenticationService.handleDisabledLogin.
            await Response(b"Authentication not enabled", 400, media_type="text/plain")(scope, receive, send)
            return
        body = b""
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if len(body) > MAX_LOGIN_BODY_BYTES:
                await Response(b"login request too large", 413, media_type="text/plain")(scope, receive, send)
                return
            if not message.get("more_body", False):
                break
        status, answer, media_type = await login.answer(body)
        await Response(answer, status, media_type=media_type)(scope, receive, send)


ACCESS_SCOPE_KEY: Final = "jsc_node.rpc.auth"
"""ASGI scope key of an authenticated POST's :class:`Access`; absent when HTTP authentication is off."""


async def admit_websocket(websocket: WebSocket, verifier: JwtVerifier) -> Access | None:
    """The connection's :class:`Access`, or ``None`` after refusing the handshake with 401 (the
    server's denial-response extension; uvicorn has it) or, without that, 403."""
    grant = verifier.verify_header(websocket.headers.get("authorization"))
    if grant is not None:
        return Access(grant)
    if "websocket.http.response" in websocket.scope.get("extensions", {}):
        await websocket.send_denial_response(_unauthorized())
    else:
        await websocket.close(code=1008)
    return None


def _unauthorized() -> Response:
    return Response(
        unauthorized_response(), status_code=401, media_type="application/json", headers=UNAUTHORIZED_HEADERS
    )


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            try:
                return str(value.decode("ascii"))
            except UnicodeDecodeError:
                return None
    return None
