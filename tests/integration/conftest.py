"""Fixtures that run a real ``docker-registry`` (distribution 2.8) on 127.0.0.1.

Each fixture is session-scoped: under ``pytest -n N`` every xdist worker has its own session, so
its own registry processes, ports and temporary directories. Use a distinct repository name per
test to stay independent of other tests sharing the registry.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest
from tests.support.oci_content import repository_name
from tests.support.registry_server import RunningRegistry, start_registry
from tests.support.signing import rekor, signer, tlog
from tests.support.token_server import TokenServer

__all__ = ["rekor", "signer", "tlog"]  # shared Rekor fixtures (a module may define its own)

_REGISTRY_FIXTURES = frozenset({"registry", "basic_auth_registry", "token_auth_registry"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tag every test that uses a registry fixture with the ``registry`` marker."""
    for item in items:
        if _REGISTRY_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.registry)


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRegistry]:
    """A registry without authentication (deletes enabled)."""
    with start_registry(tmp_path_factory.mktemp("registry-noauth")) as running:
        yield running


@pytest.fixture(scope="session")
def basic_auth_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRegistry]:
    """A registry with htpasswd (HTTP Basic) auth; user ``alice`` with a random password."""
    users = {"alice": secrets.token_urlsafe(16)}
    workdir = tmp_path_factory.mktemp("registry-htpasswd")
    with start_registry(workdir, auth="htpasswd", users=users) as running:
        yield running


@pytest.fixture(scope="session")
def token_auth_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRegistry]:
    """A registry with ``auth: token`` backed by a :class:`TokenServer`.

    Users: ``alice`` may pull, push and delete everywhere; ``reader`` may only pull. Anonymous
    clients may pull repositories under ``public/``. Passwords are random: read them from
    ``registry.users``; ``registry.username``/``registry.password`` are alice's.
    """
    workdir = tmp_path_factory.mktemp("registry-token")
    token_server = TokenServer(
        workdir / "token-signer.pem",
        users={
            "alice": (secrets.token_urlsafe(16), {"*": ["pull", "push", "delete"]}),
            "reader": (secrets.token_urlsafe(16), {"*": ["pull"]}),
        },
        anonymous={"public/*": ["pull"]},
    )
    with token_server, start_registry(workdir, auth="token", token_server=token_server) as running:
        yield running


@pytest.fixture
def token_server(token_auth_registry: RunningRegistry) -> Iterator[TokenServer]:
    """The token server of ``token_auth_registry``, with an empty request log.

    Settings a test changes (``token_lifetime``, ``oauth_enabled``) are restored afterwards.
    """
    server = token_auth_registry.token_server
    assert server is not None
    lifetime, oauth_enabled = server.token_lifetime, server.oauth_enabled
    server.clear_requests()
    try:
        yield server
    finally:
        server.token_lifetime, server.oauth_enabled = lifetime, oauth_enabled
        server.clear_requests()


@pytest.fixture
def name(request: pytest.FixtureRequest) -> str:
    """A repository name of the test's own."""
    return repository_name(request.node.name)
