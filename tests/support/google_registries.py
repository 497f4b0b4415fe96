"""Fake registries under Google and non-Google host names, for the registry-credential tests."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from contextlib import contextmanager

from tests.support.hostile_registry import HostileRegistry, RecordedRequest
from tests.support.hostile_registry import Response as FakeResponse

from imagesig._http import RetryPolicy

OTHER_HOST = "registry.test"
FAST = RetryPolicy(attempts=2, backoff=0.001, max_backoff=0.01)


def basic(username: str, password: str) -> str:
    """The ``Authorization`` value of HTTP Basic credentials."""
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


def protected(request: RecordedRequest) -> FakeResponse:
    """A registry that wants Basic credentials and then has no such manifest."""
    if request.authorization is None:
        return FakeResponse(401, headers={"WWW-Authenticate": 'Basic realm="registry"'})
    body = json.dumps({"errors": [{"code": "MANIFEST_UNKNOWN", "message": "unknown"}]})
    return FakeResponse(404, headers={"Content-Type": "application/json"}, body=body.encode())


@contextmanager
def protected_registries(google_host: str) -> Iterator[dict[str, HostileRegistry]]:
    """Two :func:`protected` registries, at ``google_host`` and at :data:`OTHER_HOST`."""
    servers = {google_host: HostileRegistry("google"), OTHER_HOST: HostileRegistry("other")}
    for server in servers.values():
        server.start()
        server.route(("GET", "HEAD"), r"/v2/.*", protected)
    yield servers
    for server in servers.values():
        server.close()
