"""A loopback Google metadata server (plus IAM Credentials' ``generateIdToken``) for tests.

It speaks the metadata server's real protocol, so the unmodified google-auth library talks to
it once pointed here (:func:`point_google_auth_at`, or :meth:`MetadataServer.environment` for a
subprocess):

* ``GET /`` — 200 with ``Metadata-Flavor: Google`` (google-auth's detection ping);
* ``GET /computeMetadata/v1/project/project-id`` — the project id (text);
* ``GET /computeMetadata/v1/universe/universe-domain`` — ``googleapis.com``;
* ``GET /computeMetadata/v1/instance/service-accounts/default/?recursive=true`` — JSON
  ``{"email", "scopes", "aliases"}``;
* ``GET|POST …/default/token[?scopes=…]`` — JSON ``{"access_token", "expires_in", "token_type"}``;
* ``GET|POST …/default/identity?audience=A&format=full`` — the identity JWT as text;
* ``POST /v1/projects/-/serviceAccounts/{email}:generateIdToken`` — IAM Credentials: needs
  ``Authorization: Bearer <access_token>``; JSON ``{"audience", "includeEmail"}`` → ``{"token"}``.

Every ``/computeMetadata/`` request without ``Metadata-Flavor: Google`` gets 403, like the real
server. Faults are set through attributes (:attr:`MetadataServer.identity_status`,
:attr:`MetadataServer.unavailable_for`...). Requests are recorded without any secret.

Identity tokens are ES256 JWTs signed by a fresh key; nothing verifies them, which is what the
library under test promises too.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from tests.support.loopback_http import LoopbackHTTPFake, LoopbackHTTPServer
from tests.support.token_server import TokenSigner

__all__ = [
    "AMBIENT_VARIABLES",
    "MetadataRequest",
    "MetadataServer",
    "clear_ambient_environment",
    "point_google_auth_at",
]

#: Every variable an ambient provider or google-auth looks at; tests start without them.
AMBIENT_VARIABLES = (
    "ACTIONS_ID_TOKEN_REQUEST_URL",
    "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
    "GITHUB_ACTIONS",
    "SIGSTORE_ID_TOKEN",
    "GOOGLE_SERVICE_ACCOUNT_NAME",
    "GOOGLE_APPLICATION_CREDENTIALS",
    "GCE_METADATA_HOST",
    "GCE_METADATA_ROOT",
    "GCE_METADATA_IP",
    "NO_GCE_CHECK",
    "CLOUDSDK_CONFIG",
    "SPIFFE_ENDPOINT_SOCKET",
)

_METADATA_PREFIX = "/computeMetadata/v1/"
_SA_PREFIX = _METADATA_PREFIX + "instance/service-accounts/default/"


@dataclass(frozen=True)
class MetadataRequest:
    """One request the fake received (no header values, so no secrets)."""

    method: str
    path: str
    query: dict[str, list[str]]
    flavor: bool
    """Whether ``Metadata-Flavor: Google`` was sent."""
    authorized: bool
    """Whether ``Authorization: Bearer <the access token>`` was sent."""
    status: int


class _Server(LoopbackHTTPServer):
    fake: MetadataServer


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self.server.fake._handle(self, "GET")

    def do_POST(self) -> None:
        self.server.fake._handle(self, "POST")

    def log_message(self, format: str, *args: Any) -> None:
        pass


class MetadataServer(LoopbackHTTPFake):
    """The fake; a context manager that starts and stops it.

    Attributes:
        service_account_email: the default service account's email.
        project_id: the project.
        access_token: the OAuth2 access token handed out (random per server).
        identity_status: answer identity requests with this status instead (e.g. 403, 404).
        token_status: answer access-token requests with this status instead.
        iam_status: answer ``generateIdToken`` with this status instead.
        unavailable_for: answer this many ``/computeMetadata/`` requests with 503 first
            (a freshly started GKE metadata server), then normally.
        identity_audience: put this ``aud`` in identity tokens instead of the one asked for.
        identity_lifetime: seconds identity tokens live (negative: already expired).
        identity_body: answer identity requests with this body instead of a JWT.
    """

    handler = _Handler
    server_class = _Server
    not_running = "the metadata server is not running"

    def __init__(self) -> None:
        super().__init__()
        self.signer = TokenSigner()
        self.service_account_email = "signer@test-project.iam.gserviceaccount.com"
        self.project_id = "test-project"
        self.access_token = "ya29.test-" + secrets.token_urlsafe(24)
        self.identity_status: int | None = None
        self.token_status: int | None = None
        self.iam_status: int | None = None
        self.unavailable_for = 0
        self.identity_audience: str | None = None
        self.identity_lifetime = 3600
        self.identity_body: str | None = None
        self._lock = threading.Lock()
        self._requests: list[MetadataRequest] = []

    # -- lifecycle: start, stop and ``with`` come from LoopbackHTTPFake ------------------------

    @property
    def host(self) -> str:
        """``127.0.0.1:PORT``, the value for ``GCE_METADATA_HOST`` and ``GCE_METADATA_IP``."""
        return f"127.0.0.1:{self.port}"

    @property
    def iam_idtoken_endpoint(self) -> str:
        """A template like google-auth's ``_IAM_IDTOKEN_ENDPOINT``, served by this fake."""
        return f"http://{self.host}/v1/projects/-/serviceAccounts/{{}}:generateIdToken"

    def environment(self, home: Path) -> dict[str, str]:
        """Variables that point google-auth here and hide any real credentials.

        Args:
            home: an empty directory used as ``HOME`` and ``CLOUDSDK_CONFIG``.
        """
        return {
            "GCE_METADATA_HOST": self.host,
            "GCE_METADATA_IP": self.host,
            "HOME": str(home),
            "CLOUDSDK_CONFIG": str(home),
        }

    @property
    def requests(self) -> list[MetadataRequest]:
        with self._lock:
            return list(self._requests)

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    def requests_to(self, suffix: str) -> list[MetadataRequest]:
        """Requests whose path ends with ``suffix``."""
        return [r for r in self.requests if r.path.endswith(suffix)]

    # -- tokens -----------------------------------------------------------------------------

    def identity_token(self, audience: str, *, lifetime: float | None = None) -> str:
        """Mint an identity token like the metadata server's (``format=full``)."""
        now = int(time.time())
        life = self.identity_lifetime if lifetime is None else lifetime
        claims = {
            "iss": "https://accounts.google.com",
            "aud": audience,
            "azp": "112233445566778899001",
            "sub": "112233445566778899001",
            "email": self.service_account_email,
            "email_verified": True,
            "iat": now - 5,
            "exp": int(now + life),
            "google": {
                "compute_engine": {
                    "project_id": self.project_id,
                    "zone": "europe-west1-b",
                    "instance_name": "test-instance",
                }
            },
        }
        return self.signer.sign(claims)

    # -- the handler ------------------------------------------------------------------------

    def _handle(self, handler: _Handler, method: str) -> None:
        url = urlsplit(handler.path)
        path = unquote(url.path)
        query = parse_qs(url.query, keep_blank_values=True)
        length = int(handler.headers.get("content-length") or 0)
        body = handler.rfile.read(length) if length else b""
        flavor = handler.headers.get("metadata-flavor") == "Google"
        authorized = handler.headers.get("authorization") == f"Bearer {self.access_token}"
        status, content_type, payload = self._answer(method, path, query, body, flavor, authorized)
        with self._lock:
            self._requests.append(MetadataRequest(method, path, query, flavor, authorized, status))
        data = payload.encode() if isinstance(payload, str) else payload
        handler.send_response(status)
        handler.send_header("Metadata-Flavor", "Google")
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def _answer(
        self,
        method: str,
        path: str,
        query: dict[str, list[str]],
        body: bytes,
        flavor: bool,
        authorized: bool,
    ) -> tuple[int, str, str | bytes]:
        text, js = "text/plain", "application/json"
        if path == "/":
            return 200, text, "ok"
        if path.startswith("/v1/projects/-/serviceAccounts/") and path.endswith(":generateIdToken"):
            return self._iam(method, path, body, authorized)
        if not path.startswith(_METADATA_PREFIX):
            return 404, text, "not found"
        if not flavor:
            return 403, text, "Missing required header: Metadata-Flavor"
        with self._lock:
            if self.unavailable_for > 0:
                self.unavailable_for -= 1
                return 503, text, "metadata server is starting"
        alias = f"{_METADATA_PREFIX}instance/service-accounts/{self.service_account_email}/"
        if path.startswith(alias):  # the real server also serves the account by its email
            path = _SA_PREFIX + path[len(alias) :]
        if path == _METADATA_PREFIX + "project/project-id":
            return 200, text, self.project_id
        if path == _METADATA_PREFIX + "universe/universe-domain":
            return 200, text, "googleapis.com"
        if path == _SA_PREFIX:
            info = {
                "email": self.service_account_email,
                "scopes": ["https://www.googleapis.com/auth/cloud-platform"],
                "aliases": ["default"],
            }
            return 200, js, json.dumps(info)
        if path == _SA_PREFIX + "token":
            if self.token_status is not None:
                return self.token_status, text, "access token refused"
            reply = {"access_token": self.access_token, "expires_in": 3599, "token_type": "Bearer"}
            return 200, js, json.dumps(reply)
        if path == _SA_PREFIX + "identity":
            if self.identity_status is not None:
                return self.identity_status, text, "identity refused"
            if self.identity_body is not None:
                return 200, text, self.identity_body
            audience = (query.get("audience") or [""])[0]
            if not audience:
                return 400, text, "non-empty audience parameter required"
            return 200, text, self.identity_token(self.identity_audience or audience)
        return 404, text, "not found"

    def _iam(
        self, method: str, path: str, body: bytes, authorized: bool
    ) -> tuple[int, str, str | bytes]:
        js = "application/json"
        if method != "POST":
            return 405, js, json.dumps({"error": {"code": 405, "status": "METHOD_NOT_ALLOWED"}})
        if not authorized:
            return 401, js, json.dumps({"error": {"code": 401, "status": "UNAUTHENTICATED"}})
        if self.iam_status is not None:
            error = {"code": self.iam_status, "status": "PERMISSION_DENIED", "message": "denied"}
            return self.iam_status, js, json.dumps({"error": error})
        target = path.split("/serviceAccounts/", 1)[1].rsplit(":", 1)[0]
        request = json.loads(body or b"{}")
        now = int(time.time())
        claims = {
            "iss": "https://accounts.google.com",
            "aud": request.get("audience", ""),
            "sub": "998877665544332211009",
            "iat": now,
            "exp": now + 3600,
        }
        if request.get("includeEmail"):
            claims["email"] = target
        return 200, js, json.dumps({"token": self.signer.sign(claims)})


def clear_ambient_environment(monkeypatch: pytest.MonkeyPatch, home: Path) -> None:
    """Remove every ambient-credential variable and give the test an empty ``HOME``.

    Args:
        monkeypatch: the test's monkeypatch (undone after the test).
        home: an empty directory for ``HOME`` (so no gcloud or docker files are found).
    """
    for variable in AMBIENT_VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(home))


def point_google_auth_at(
    server: MetadataServer, monkeypatch: pytest.MonkeyPatch, home: Path
) -> None:
    """Point google-auth, already imported in this process, at ``server`` for one test.

    google-auth reads ``GCE_METADATA_HOST`` when ``google.auth.compute_engine`` is first
    imported, so setting the variable is not enough in a pytest process: the module's copy is
    patched too (and restored by ``monkeypatch``). ``GCE_METADATA_IP`` is read per call. The
    IAM Credentials endpoint is pointed at the fake as well. Under ``pytest -n N`` each worker
    is its own process, so this never leaks into another worker's tests.
    """
    from google.auth import iam  # noqa: PLC0415
    from google.auth.compute_engine import _metadata  # noqa: PLC0415

    clear_ambient_environment(monkeypatch, home)
    for name, value in server.environment(home).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(_metadata, "_GCE_METADATA_HOST", server.host)
    monkeypatch.setattr(iam, "_IAM_IDTOKEN_ENDPOINT", server.iam_idtoken_endpoint)
