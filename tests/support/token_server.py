"""A loopback token server for registries configured with ``auth: token``.

The registry (distribution 2.8) never contacts this server: it verifies the JWTs we issue offline
against the certificate written to :attr:`TokenServer.cert_path` (its ``rootcertbundle``). So the
token server must be started first, and the registry configured with :attr:`TokenServer.realm`,
:attr:`TokenServer.service`, :attr:`TokenServer.issuer` and :attr:`TokenServer.cert_path`.

Endpoints (all on ``/token``):

* ``GET /token?service=S&scope=T:N:A,A[&scope=...]`` with optional HTTP Basic credentials (no
  credentials = anonymous). Wrong credentials give 401. ``offline_token=true`` adds a
  ``refresh_token`` to the reply.
* ``POST /token`` (OAuth2 form): ``grant_type=password`` (``username``/``password``) or
  ``grant_type=refresh_token`` (``refresh_token``), plus ``service``, ``client_id`` and an optional
  space-separated ``scope``. ``access_type=offline`` on a password grant adds a ``refresh_token``;
  a refresh grant hands the same refresh token back. Set :attr:`TokenServer.oauth_enabled` to
  ``False`` to make POST answer 404 (clients are expected to fall back to GET).

Permissions: each user maps repository-name glob patterns (``fnmatch``, so ``"*"`` matches every
name, including ``/``) to allowed actions; ``"*"`` as an action allows every action. For scope
types other than ``repository`` the pattern is matched against ``"TYPE:NAME"`` (for example
``registry:catalog``). Granted access is the intersection of what was asked and what is allowed;
an empty grant is not an error (the registry answers ``insufficient_scope`` later).

Every request is recorded (:attr:`TokenServer.requests`) without passwords or refresh tokens.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import fnmatch
import hashlib
import hmac
import json
import secrets
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

__all__ = [
    "DEFAULT_ISSUER",
    "DEFAULT_SERVICE",
    "Permissions",
    "RecordedRequest",
    "TokenServer",
    "TokenSigner",
    "UserTable",
    "format_scope",
    "libtrust_key_id",
    "parse_scopes",
]

DEFAULT_SERVICE = "registry.test"
DEFAULT_ISSUER = "imagesig-test-token-issuer"

#: repository-name glob -> allowed actions
Permissions = Mapping[str, Sequence[str]]
#: user name -> (password, permissions)
UserTable = Mapping[str, tuple[str, Permissions]]

# Form/query fields whose values are secrets and must never be recorded.
_SECRET_FIELDS = frozenset({"password", "refresh_token", "client_secret"})
_REDACTED = "<redacted>"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def libtrust_key_id(public_key: ec.EllipticCurvePublicKey) -> str:
    """Key ID as distribution 2.8 (libtrust) computes it for ``kid`` lookups.

    SHA-256 over the DER SubjectPublicKeyInfo, truncated to 240 bits, base32-encoded
    (48 characters) and split into twelve colon-separated groups of four.
    """
    spki = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    encoded = base64.b32encode(hashlib.sha256(spki).digest()[:30]).decode("ascii")
    return ":".join(encoded[i : i + 4] for i in range(0, len(encoded), 4))


class TokenSigner:
    """A fresh P-256 key with a self-signed certificate; signs ES256 JWTs the registry accepts."""

    def __init__(self) -> None:
        self.private_key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "imagesig test token signer")])
        now = dt.datetime.now(dt.timezone.utc)
        self.certificate = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(self.private_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self.private_key, hashes.SHA256())
        )
        self.cert_pem: bytes = self.certificate.public_bytes(serialization.Encoding.PEM)
        self.key_id: str = libtrust_key_id(self.private_key.public_key())

    def sign(
        self, claims: Mapping[str, Any], *, extra_header: Mapping[str, Any] | None = None
    ) -> str:
        """Return a compact JWS (ES256, raw ``r || s`` signature, libtrust ``kid``)."""
        header = {"typ": "JWT", "alg": "ES256", "kid": self.key_id, **(extra_header or {})}
        signing_input = ".".join(
            _b64url(json.dumps(part, separators=(",", ":")).encode()) for part in (header, claims)
        ).encode("ascii")
        der = self.private_key.sign(signing_input, ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der)
        raw = r.to_bytes(32, "big") + s.to_bytes(32, "big")
        return f"{signing_input.decode('ascii')}.{_b64url(raw)}"


def parse_scopes(values: Iterable[str]) -> list[tuple[str, str, list[str]]]:
    """Split scope parameters (repeated and/or space-separated) into ``(type, name, actions)``.

    ``type`` is what precedes the first ``:``, ``actions`` what follows the last one, and the
    name is everything in between (names may contain ``:`` in other registries' scope grammars).
    Malformed entries are skipped.
    """
    parsed: list[tuple[str, str, list[str]]] = []
    for entry in " ".join(values).split():
        typ, _, rest = entry.partition(":")
        name, _, actions = rest.rpartition(":")
        wanted = list(dict.fromkeys(a for a in actions.split(",") if a))
        if typ and name and wanted:
            parsed.append((typ, name, wanted))
    return parsed


def format_scope(access: Sequence[Mapping[str, Any]]) -> str:
    """Render granted access entries as a space-separated scope list (OAuth ``scope`` reply)."""
    return " ".join(f"{a['type']}:{a['name']}:{','.join(a['actions'])}" for a in access)


@dataclass(frozen=True)
class RecordedRequest:
    """One request the token server received. Secrets are replaced by ``"<redacted>"``."""

    method: str
    path: str
    #: query parameters (GET) or form fields (POST), values in order of appearance
    params: Mapping[str, Sequence[str]]
    has_authorization: bool
    #: user name the request authenticated as ("" = anonymous or failed); never the password
    username: str
    status: int
    #: every requested scope entry, split on spaces
    scopes: tuple[str, ...] = field(default=())
    #: the grant type of a POST ("" for GET)
    grant_type: str = ""


@dataclass
class _Reply:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    token_server: TokenServer


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def _dispatch(self, method: str) -> None:
        url = urlsplit(self.path)
        body = self._read_body() if method == "POST" else b""
        ts = self.server.token_server
        reply, username, params = ts._handle(
            method,
            url.path,
            parse_qs(url.query, keep_blank_values=True),
            parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True),
            self.headers.get("Authorization"),
        )
        ts._record(method, url.path, params, self.headers.get("Authorization"), username, reply)
        raw = json.dumps(reply.body).encode()
        self.send_response(reply.status)
        headers = {
            "Content-Type": "application/json",
            "Content-Length": str(len(raw)),
            "Cache-Control": "no-store",
            **reply.headers,
        }
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(raw)

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # skip trailers
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()  # CRLF after each chunk
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet: requests are recorded on the server object instead."""


class TokenServer:
    """Token server on ``127.0.0.1`` (random port) in a daemon thread.

    Use as a context manager, or call :meth:`start` / :meth:`stop`. The certificate is written
    to ``cert_path`` at construction time, so the registry can be configured before or after
    :meth:`start`.
    """

    def __init__(
        self,
        cert_path: Path,
        *,
        users: UserTable | None = None,
        anonymous: Permissions | None = None,
        service: str = DEFAULT_SERVICE,
        issuer: str = DEFAULT_ISSUER,
        token_lifetime: int = 300,
    ) -> None:
        self.cert_path = cert_path
        self.users: dict[str, tuple[str, Permissions]] = dict(users or {})
        self.anonymous: Permissions = dict(anonymous or {})
        self.service = service
        self.issuer = issuer
        #: lifetime in seconds of tokens issued over HTTP (``exp - iat`` and ``expires_in``)
        self.token_lifetime = token_lifetime
        #: when False, ``POST /token`` answers 404 so clients must fall back to GET
        self.oauth_enabled = True
        self.signer = TokenSigner()
        cert_path.parent.mkdir(parents=True, exist_ok=True)
        cert_path.write_bytes(self.signer.cert_pem)
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._refresh_tokens: dict[str, str] = {}  # refresh token -> subject
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> TokenServer:
        if self._httpd is not None:
            return self
        httpd = _Server(("127.0.0.1", 0), _Handler)
        httpd.token_server = self
        thread = threading.Thread(
            target=httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"token-server-{httpd.server_address[1]}",
            daemon=True,
        )
        thread.start()
        self._httpd, self._thread = httpd, thread
        return self

    def stop(self) -> None:
        httpd, thread = self._httpd, self._thread
        self._httpd = self._thread = None
        if httpd is not None:
            httpd.shutdown()
            httpd.server_close()
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> TokenServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("token server is not running")
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        """Base URL, ``http://127.0.0.1:PORT``."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def realm(self) -> str:
        """The token endpoint, ``http://127.0.0.1:PORT/token`` (the registry's ``realm``)."""
        return f"{self.url}/token"

    @property
    def key_id(self) -> str:
        return self.signer.key_id

    # -- request log ---------------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of every request received so far, oldest first."""
        with self._lock:
            return list(self._requests)

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    def request_count(self, *, method: str | None = None, status: int | None = None) -> int:
        """How many requests were received, optionally only those with ``method``/``status``."""
        return sum(
            1
            for r in self.requests
            if (method is None or r.method == method) and (status is None or r.status == status)
        )

    def _record(
        self,
        method: str,
        path: str,
        params: Mapping[str, Sequence[str]],
        authorization: str | None,
        username: str,
        reply: _Reply,
    ) -> None:
        safe = {
            key: [_REDACTED] * len(values) if key in _SECRET_FIELDS else list(values)
            for key, values in params.items()
        }
        record = RecordedRequest(
            method=method,
            path=path,
            params=safe,
            has_authorization=authorization is not None,
            username=username,
            status=reply.status,
            scopes=tuple(" ".join(params.get("scope", [])).split()),
            grant_type=(params.get("grant_type") or [""])[0] if method == "POST" else "",
        )
        with self._lock:
            self._requests.append(record)

    # -- users and grants ----------------------------------------------------------------------

    def add_user(self, name: str, password: str, permissions: Permissions) -> None:
        self.users[name] = (password, dict(permissions))

    def check_password(self, name: str, password: str) -> bool:
        known = self.users.get(name)
        # compare_digest on both branches keeps timing independent of whether the user exists
        expected = known[0] if known is not None else secrets.token_hex(16)
        return hmac.compare_digest(expected.encode(), password.encode()) and known is not None

    def grant(self, subject: str, scopes: Iterable[str]) -> list[dict[str, Any]]:
        """What ``subject`` ("" = anonymous) gets for the requested scope strings."""
        permissions = self.anonymous if not subject else self.users[subject][1]
        access: list[dict[str, Any]] = []
        for typ, name, wanted in parse_scopes(scopes):
            target = name if typ == "repository" else f"{typ}:{name}"
            allowed: set[str] = set()
            for pattern, actions in permissions.items():
                if fnmatch.fnmatchcase(target, pattern):
                    allowed.update(actions)
            granted = wanted if "*" in allowed else [a for a in wanted if a in allowed]
            if granted:
                access.append({"type": typ, "name": name, "actions": granted})
        return access

    def issue(
        self,
        subject: str,
        access: Sequence[Mapping[str, Any]],
        *,
        lifetime: int | None = None,
        now: int | None = None,
        audience: str | None = None,
        issuer: str | None = None,
    ) -> dict[str, Any]:
        """Mint a token directly (no HTTP, not recorded); returns the JSON reply body.

        A negative ``lifetime`` makes an already-expired token; note the registry accepts a
        token up to 60 s after ``exp``, so use at least ``-120`` to see a refusal.
        """
        issued = int(time.time()) if now is None else now
        ttl = self.token_lifetime if lifetime is None else lifetime
        claims = {
            "iss": self.issuer if issuer is None else issuer,
            "sub": subject,
            "aud": self.service if audience is None else audience,  # must be a string in 2.8
            "exp": issued + ttl,
            "nbf": issued,
            "iat": issued,
            "jti": secrets.token_urlsafe(16),
            "access": [dict(a) for a in access],
        }
        token = self.signer.sign(claims)
        issued_at = dt.datetime.fromtimestamp(issued, dt.timezone.utc)
        return {
            "token": token,
            "access_token": token,
            "expires_in": ttl,
            "issued_at": issued_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }

    def token_for(self, subject: str, *scopes: str, lifetime: int | None = None) -> str:
        """Shortcut: a token string for ``subject`` with what it may have of ``scopes``."""
        return str(self.issue(subject, self.grant(subject, scopes), lifetime=lifetime)["token"])

    def _new_refresh_token(self, subject: str) -> str:
        token = secrets.token_urlsafe(32)
        with self._lock:
            self._refresh_tokens[token] = subject
        return token

    def revoke_refresh_tokens(self) -> None:
        with self._lock:
            self._refresh_tokens.clear()

    # -- HTTP ----------------------------------------------------------------------------------

    def _handle(
        self,
        method: str,
        path: str,
        query: dict[str, list[str]],
        form: dict[str, list[str]],
        authorization: str | None,
    ) -> tuple[_Reply, str, dict[str, list[str]]]:
        """Return the reply, the authenticated user name and the parameters to record."""
        if path != "/token":
            return _Reply(404, {"error": "not_found"}), "", query
        if method == "GET":
            reply, user = self._handle_get(query, authorization)
            return reply, user, query
        if not self.oauth_enabled:
            return _Reply(404, {"error": "not_found"}), "", form
        reply, user = self._handle_post(form)
        return reply, user, form

    def _bad_service(self, params: Mapping[str, Sequence[str]]) -> _Reply | None:
        service = params.get("service")
        if service is not None and list(service) != [self.service]:
            return _Reply(400, {"error": "invalid_request", "error_description": "unknown service"})
        return None

    def _handle_get(
        self, query: dict[str, list[str]], authorization: str | None
    ) -> tuple[_Reply, str]:
        user = ""
        if authorization is not None:
            scheme, _, blob = authorization.partition(" ")
            password = ""
            valid = scheme.lower() == "basic"
            if valid:
                try:
                    decoded = base64.b64decode(blob.strip(), validate=True).decode("utf-8")
                except (binascii.Error, UnicodeDecodeError):
                    valid = False
                else:
                    user, _, password = decoded.partition(":")
            if not valid or not self.check_password(user, password):
                challenge = {"WWW-Authenticate": 'Basic realm="imagesig test token server"'}
                return _Reply(401, {"error": "invalid_credentials"}, challenge), ""
        if (bad := self._bad_service(query)) is not None:
            return bad, user
        access = self.grant(user, query.get("scope", []))
        body = self.issue(user, access, lifetime=self.token_lifetime)
        if query.get("offline_token", [""])[0].lower() == "true" and user:
            body["refresh_token"] = self._new_refresh_token(user)
        return _Reply(200, body), user

    def _handle_post(self, form: dict[str, list[str]]) -> tuple[_Reply, str]:
        def first(key: str) -> str:
            return form.get(key, [""])[0]

        grant_type = first("grant_type")
        if grant_type not in {"password", "refresh_token"}:
            return _Reply(400, {"error": "unsupported_grant_type"}), ""
        if not first("client_id") or "service" not in form:
            detail = "client_id and service are required"
            return _Reply(400, {"error": "invalid_request", "error_description": detail}), ""
        if (bad := self._bad_service(form)) is not None:
            return bad, ""

        refresh: str | None = None
        if grant_type == "password":
            user = first("username")
            if not user or not self.check_password(user, first("password")):
                return _Reply(401, {"error": "invalid_grant"}), ""
            if first("access_type") == "offline":
                refresh = self._new_refresh_token(user)
        else:
            refresh = first("refresh_token")
            with self._lock:
                subject = self._refresh_tokens.get(refresh)
            if subject is None or subject not in self.users:
                return _Reply(400, {"error": "invalid_grant"}), ""
            user = subject

        access = self.grant(user, form.get("scope", []))
        body = self.issue(user, access, lifetime=self.token_lifetime)
        body["scope"] = format_scope(access)
        if refresh is not None:
            body["refresh_token"] = refresh
        return _Reply(200, body), user
