"""A loopback GitHub Actions OIDC token endpoint for tests.

The runner's contract: ``GET $ACTIONS_ID_TOKEN_REQUEST_URL&audience=A`` with
``Authorization: bearer $ACTIONS_ID_TOKEN_REQUEST_TOKEN`` answers ``{"count": N, "value": JWT}``.
:meth:`GitHubOIDCServer.environment` gives the two variables (the URL already has a query, as
the real one does). Faults are set through :attr:`GitHubOIDCServer.statuses` (answers given
in turn before the normal one), :attr:`GitHubOIDCServer.delay` and
:attr:`GitHubOIDCServer.body`. Requests are recorded without the request token.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.support.loopback_http import LoopbackHTTPFake, LoopbackHTTPServer
from tests.support.token_server import TokenSigner

__all__ = ["GitHubOIDCServer", "OIDCRequest"]

ISSUER = "https://token.actions.githubusercontent.com"


@dataclass(frozen=True)
class OIDCRequest:
    """One request the fake received."""

    path: str
    query: dict[str, list[str]]
    authorized: bool
    """Whether ``Authorization: bearer <request token>`` was sent, exactly once."""
    status: int


class _Server(LoopbackHTTPServer):
    fake: GitHubOIDCServer


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self.server.fake._handle(self)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class GitHubOIDCServer(LoopbackHTTPFake):
    """The fake; a context manager that starts and stops it.

    Attributes:
        request_token: the bearer token the runner would export (random per server).
        statuses: statuses to answer with, in turn, before answering normally (``[500]`` =
            one failure then success); a 4xx comes with a JSON ``message`` and no ``value``.
        delay: seconds to wait before every answer (timeouts).
        body: answer 200 with this body instead of a token.
        audience: put this ``aud`` in tokens instead of the one asked for.
        lifetime: seconds tokens live (negative: already expired).
    """

    handler = _Handler
    server_class = _Server

    def __init__(self) -> None:
        super().__init__()
        self.signer = TokenSigner()
        self.request_token = "ghs_" + secrets.token_urlsafe(30)
        self.statuses: list[int] = []
        self.delay = 0.0
        self.body: bytes | None = None
        self.audience: str | None = None
        self.lifetime = 300
        self._lock = threading.Lock()
        self._requests: list[OIDCRequest] = []

    @property
    def url(self) -> str:
        """The request URL, with the query string the real one has."""
        return (
            f"http://127.0.0.1:{self.port}/_apis/distributedtask/hubs/build/token?api-version=2.0"
        )

    def environment(self) -> dict[str, str]:
        """``ACTIONS_ID_TOKEN_REQUEST_URL`` and ``ACTIONS_ID_TOKEN_REQUEST_TOKEN``."""
        return {
            "ACTIONS_ID_TOKEN_REQUEST_URL": self.url,
            "ACTIONS_ID_TOKEN_REQUEST_TOKEN": self.request_token,
            "GITHUB_ACTIONS": "true",
        }

    @property
    def requests(self) -> list[OIDCRequest]:
        with self._lock:
            return list(self._requests)

    def token(self, audience: str) -> str:
        """Mint a token like GitHub's for this workflow run."""
        now = int(time.time())
        claims = {
            "iss": ISSUER,
            "aud": audience,
            "sub": "repo:example/app:ref:refs/heads/main",
            "repository": "example/app",
            "ref": "refs/heads/main",
            "job_workflow_ref": "example/app/.github/workflows/release.yml@refs/heads/main",
            "iat": now,
            "nbf": now - 5,
            "exp": now + self.lifetime,
        }
        return self.signer.sign(claims)

    def _handle(self, handler: _Handler) -> None:
        url = urlsplit(handler.path)
        query = parse_qs(url.query, keep_blank_values=True)
        authorization = handler.headers.get_all("authorization") or []
        authorized = authorization == [f"bearer {self.request_token}"]
        if self.delay:
            time.sleep(self.delay)
        with self._lock:
            forced = self.statuses.pop(0) if self.statuses else None
        if forced is not None:
            status = forced
            message = {"message": f"forced failure {forced}"}
            data = json.dumps(message).encode()
        elif not authorized:
            status, data = 401, json.dumps({"message": "Bad credentials"}).encode()
        elif self.body is not None:
            status, data = 200, self.body
        else:
            audience = (query.get("audience") or [""])[-1]
            value = self.token(self.audience or audience)
            status, data = 200, json.dumps({"count": 1, "value": value}).encode()
        with self._lock:
            self._requests.append(OIDCRequest(url.path, query, authorized, status))
        try:
            handler.send_response(status)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(data)))
            handler.end_headers()
            handler.wfile.write(data)
        except OSError:
            pass  # the client gave up (timeout tests)
