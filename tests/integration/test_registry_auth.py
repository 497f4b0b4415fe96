"""Registry authentication against a real docker-registry 2.8: htpasswd and token auth.

Each scenario runs with both ``RegistryStore`` and ``AsyncRegistryStore``. Token-server
traffic is asserted through the server's request log.
"""

from __future__ import annotations

import base64
import contextlib
from collections.abc import AsyncIterator

import httpx
import pytest
from tests.support.oci_content import (
    StoreDriver,
    StoreKind,
    image,
    open_store,
    referrer,
    repository_name,
)
from tests.support.registry_server import RunningRegistry
from tests.support.token_server import TokenServer

from imagesig.errors import ImageSigError, RegistryAuthError
from imagesig.oci.auth import RegistryAuth, RequestScope
from imagesig.oci.credentials import RegistryCredential, StaticKeychain
from imagesig.reference import Digest, Repository


@pytest.fixture(params=["sync", "async"])
def kind(request: pytest.FixtureRequest) -> StoreKind:
    kind: StoreKind = request.param
    return kind


@pytest.fixture
def name(request: pytest.FixtureRequest) -> str:
    return repository_name(request.node.name)


def _keychain(registry: RunningRegistry, user: str, password: str | None = None) -> StaticKeychain:
    return StaticKeychain({registry.host: (user, password or registry.users[user])})


def _basic(user: str, password: str) -> str:
    return base64.b64encode(f"{user}:{password}".encode()).decode()


def _assert_no_secrets(error: ImageSigError, *secrets: str) -> None:
    """No secret in the error's message, diagnostics, context or chained causes."""
    texts = [str(error), error.diagnostics(), repr(error), repr(dict(error.context))]
    cause = error.__cause__ or error.__context__
    while cause is not None:
        texts.append(repr(cause))
        cause = cause.__cause__ or cause.__context__
    for secret in secrets:
        for text in texts:
            assert secret not in text


async def _push_and_pull(store: StoreDriver, repo: Repository, *, tag: str = "v1") -> None:
    """Push an image, then read everything back through the same store."""
    content = image(str(repo))
    descriptor = await store.push(repo, content, tag=tag)
    assert await store.call("resolve", repo.with_tag(tag)) == descriptor
    fetched = await store.call("get_manifest", repo.with_tag(tag))
    assert fetched.raw == content.manifest.raw
    for blob in content.blobs:
        assert await store.call("get_blob", repo, Digest.from_bytes(blob), size=len(blob)) == blob
    assert tag in await store.call("list_tags", repo)


# -- htpasswd (HTTP Basic) ----------------------------------------------------------------------


async def test_basic_auth_with_static_keychain(
    kind: StoreKind, basic_auth_registry: RunningRegistry, name: str
) -> None:
    reg = basic_auth_registry
    repo = Repository(reg.host, name)
    async with open_store(kind, _keychain(reg, "alice")) as store:
        await _push_and_pull(store, repo)
        challenged = store.transport.statuses().count(401)
        store.transport.clear()

        # the challenge is remembered: later requests carry credentials up front
        await _push_and_pull(store, Repository(reg.host, f"{name}/second"), tag="v2")
        digest = Digest.from_bytes(image(str(repo)).blobs[0])
        assert await store.call("mount_blob", Repository(reg.host, f"{name}/mounted"), digest, repo)
    assert challenged == 1
    assert 401 not in store.transport.statuses()


async def test_basic_auth_without_credentials_is_refused(
    kind: StoreKind, basic_auth_registry: RunningRegistry, name: str
) -> None:
    reg = basic_auth_registry
    assert reg.password is not None
    repo = Repository(reg.host, name)
    async with open_store(kind) as store:
        with pytest.raises(RegistryAuthError) as pulling:
            await store.call("get_manifest", repo.with_tag("v1"))
        with pytest.raises(RegistryAuthError) as pushing:
            await store.call("put_blob", repo, b"refused")
    for caught in (pulling, pushing):
        assert reg.host in str(caught.value)
        assert caught.value.context["registry"] == reg.host
        assert caught.value.status_code == 401
        _assert_no_secrets(caught.value, reg.password)


async def test_basic_auth_wrong_password_is_refused(
    kind: StoreKind, basic_auth_registry: RunningRegistry, name: str
) -> None:
    reg = basic_auth_registry
    assert reg.password is not None
    wrong = reg.password[::-1] + "-wrong"
    repo = Repository(reg.host, name)
    async with open_store(kind, _keychain(reg, "alice", wrong)) as store:
        with pytest.raises(RegistryAuthError) as first:
            await store.call("resolve", repo.with_tag("v1"))
        with pytest.raises(RegistryAuthError) as again:  # now with Basic sent up front
            await store.call("put_blob", repo, b"refused")
    # anonymous then Basic; then Basic at once, refused without a second try
    assert store.transport.statuses() == [401, 401, 401]
    for caught in (first, again):
        assert reg.host in str(caught.value)
        assert caught.value.context["registry"] == reg.host
        assert caught.value.status_code == 401
        _assert_no_secrets(caught.value, wrong, reg.password, _basic("alice", wrong))


# -- token auth ---------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def _alice(kind: StoreKind, registry: RunningRegistry) -> AsyncIterator[StoreDriver]:
    async with open_store(kind, _keychain(registry, "alice")) as store:
        yield store


async def test_token_anonymous_pull_of_public_repository(
    kind: StoreKind, token_auth_registry: RunningRegistry, token_server: TokenServer, name: str
) -> None:
    reg = token_auth_registry
    public, private = Repository(reg.host, f"public/{name}"), Repository(reg.host, name)
    content = image(name)
    async with _alice(kind, reg) as alice:
        await alice.push(public, content, tag="v1")
        await alice.push(private, content, tag="v1")
    token_server.clear_requests()

    async with open_store(kind) as anonymous:
        fetched = await anonymous.call("get_manifest", public.with_tag("v1"))
        config = content.blobs[0]
        assert await anonymous.call("get_blob", public, Digest.from_bytes(config)) == config
        assert await anonymous.call("list_tags", public) == ["v1"]
        with pytest.raises(RegistryAuthError) as pushing:
            await anonymous.call("put_blob", public, b"anonymous push")
        with pytest.raises(RegistryAuthError) as private_pull:
            await anonymous.call("get_manifest", private.with_tag("v1"))
    assert fetched.raw == content.manifest.raw
    assert reg.host in str(pushing.value)
    assert reg.host in str(private_pull.value)
    assert token_server.request_count() > 0
    assert not any(request.has_authorization for request in token_server.requests)


async def test_token_push_and_pull_end_to_end(
    kind: StoreKind, token_auth_registry: RunningRegistry, token_server: TokenServer, name: str
) -> None:
    reg = token_auth_registry
    repo = Repository(reg.host, name)
    async with _alice(kind, reg) as store:
        await _push_and_pull(store, repo)
        subject = await store.call("resolve", repo.with_tag("v1"))
        signature = referrer(subject, "application/vnd.example.sig", b"signed")
        await store.push(repo, signature)
        listed = await store.call("referrers", repo, subject.digest)
        digest = Digest.from_bytes(image(str(repo)).blobs[1])
        mounted = Repository(reg.host, f"{name}/mounted")
        assert await store.call("mount_blob", mounted, digest, repo) is True
        assert await store.call("blob_exists", mounted, digest) is True
        await store.call("delete_manifest", repo, signature.manifest.digest)
    assert [d.digest for d in listed] == [signature.manifest.digest]
    assert {r.username for r in token_server.requests} == {"alice"}
    assert token_server.request_count(status=200) == token_server.request_count()


async def test_token_reader_cannot_push(
    kind: StoreKind, token_auth_registry: RunningRegistry, token_server: TokenServer, name: str
) -> None:
    reg = token_auth_registry
    repo = Repository(reg.host, name)
    content = image(name)
    async with _alice(kind, reg) as alice:
        await alice.push(repo, content, tag="v1")
    reader_password = reg.users["reader"]

    async with open_store(kind, _keychain(reg, "reader")) as reader:
        assert (await reader.call("get_manifest", repo.with_tag("v1"))).raw == content.manifest.raw
        with pytest.raises(RegistryAuthError) as pushing:
            await reader.call("put_blob", repo, b"reader's blob")
        with pytest.raises(RegistryAuthError) as tagging:
            await reader.call("put_manifest", repo, content.manifest, tag="v2")
    for caught in (pushing, tagging):
        assert reg.host in str(caught.value)
        assert caught.value.context["registry"] == reg.host
        assert caught.value.status_code in (401, 403)
        _assert_no_secrets(caught.value, reader_password)
    assert "v2" not in await _tags_as_alice(kind, reg, repo)


async def _tags_as_alice(kind: StoreKind, registry: RunningRegistry, repo: Repository) -> list[str]:
    async with _alice(kind, registry) as alice:
        tags: list[str] = await alice.call("list_tags", repo)
        return tags


async def test_token_wrong_password_is_refused_by_the_token_server(
    kind: StoreKind, token_auth_registry: RunningRegistry, token_server: TokenServer, name: str
) -> None:
    reg = token_auth_registry
    assert reg.password is not None
    wrong = reg.password[::-1] + "-wrong"
    async with open_store(kind, _keychain(reg, "alice", wrong)) as store:
        with pytest.raises(RegistryAuthError) as caught:
            await store.call("list_tags", Repository(reg.host, name))
    assert reg.host in str(caught.value)
    assert caught.value.context["registry"] == reg.host
    assert token_server.request_count(status=401) == 1
    _assert_no_secrets(caught.value, wrong, reg.password, _basic("alice", wrong))


async def test_token_is_cached_per_repository_and_upgraded_once_for_push(
    kind: StoreKind, token_auth_registry: RunningRegistry, token_server: TokenServer, name: str
) -> None:
    reg = token_auth_registry
    repo, other = Repository(reg.host, name), Repository(reg.host, f"{name}/other")
    content = image(name)
    async with _alice(kind, reg) as seeding:
        await seeding.push(repo, content, tag="v1")
        await seeding.push(other, content, tag="v1")
    token_server.clear_requests()

    async with _alice(kind, reg) as store:
        await store.call("get_manifest", repo.with_tag("v1"))
        assert [r.scopes for r in token_server.requests] == [(f"repository:{name}:pull",)]
        assert store.transport.statuses().count(401) == 1  # the first request's challenge
        token_server.clear_requests()
        store.transport.clear()

        await store.call("resolve", repo.with_tag("v1"))
        await store.call("get_manifest", repo.with_digest(content.manifest.digest))
        for blob in content.blobs:
            await store.call("get_blob", repo, Digest.from_bytes(blob))
        await store.call("list_tags", repo)
        assert token_server.request_count() == 0

        await store.call("put_blob", repo, b"pushed after pulling")
        assert [r.scopes for r in token_server.requests] == [(f"repository:{name}:pull,push",)]
        token_server.clear_requests()

        await store.call("put_blob", repo, b"pushed again")
        await store.call("put_manifest", repo, content.manifest, tag="v2")
        await store.call("get_manifest", repo.with_tag("v2"))
        assert token_server.request_count() == 0

        await store.call("list_tags", other)
        assert [r.scopes for r in token_server.requests] == [(f"repository:{name}/other:pull",)]
    # tokens, cached or fetched ahead of time, always went up front: no further challenge
    assert 401 not in store.transport.statuses()


async def test_token_refused_by_the_registry_is_fetched_again_once(
    kind: StoreKind, token_auth_registry: RunningRegistry, token_server: TokenServer, name: str
) -> None:
    reg = token_auth_registry
    repo = Repository(reg.host, name)
    async with _alice(kind, reg) as seeding:
        await seeding.push(repo, image(name), tag="v1")

    async with _alice(kind, reg) as store:
        # The token server hands out a token the registry already considers expired (past its
        # 60 s leeway); the client cannot know and caches it.
        token_server.token_lifetime = -300
        with pytest.raises(RegistryAuthError):
            await store.call("list_tags", repo)
        token_server.token_lifetime = 300
        token_server.clear_requests()

        assert await store.call("list_tags", repo) == ["v1"]
        assert token_server.request_count() == 1
        assert await store.call("list_tags", repo) == ["v1"]
        assert token_server.request_count() == 1


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def _send(kind: StoreKind, auth: RegistryAuth, requests: list[httpx.Request]) -> list[int]:
    if kind == "sync":
        with httpx.Client(trust_env=False) as client:
            return [client.send(request, auth=auth).status_code for request in requests]
    async with httpx.AsyncClient(trust_env=False) as async_client:
        return [(await async_client.send(request, auth=auth)).status_code for request in requests]


async def test_token_expired_by_the_clock_is_fetched_again_once(
    kind: StoreKind, token_auth_registry: RunningRegistry, token_server: TokenServer, name: str
) -> None:
    reg = token_auth_registry
    repo = Repository(reg.host, name)
    async with _alice(kind, reg) as seeding:
        await seeding.push(repo, image(name), tag="v1")
    token_server.clear_requests()
    clock = _Clock()
    auth = RegistryAuth(_keychain(reg, "alice").resolve, clock=clock)
    scope = RequestScope(reg.host, name, ("pull",))

    def requests(count: int) -> list[httpx.Request]:
        url = f"{reg.url}/v2/{name}/tags/list"
        return [scope.attach(httpx.Request("GET", url)) for _ in range(count)]

    assert await _send(kind, auth, requests(3)) == [200, 200, 200]
    assert token_server.request_count() == 1
    clock.now += token_server.token_lifetime - 15  # still inside the lifetime
    assert await _send(kind, auth, requests(2)) == [200, 200]
    assert token_server.request_count() == 1

    clock.now += 10  # within the expiry safety margin: counts as expired
    assert await _send(kind, auth, requests(3)) == [200, 200, 200]
    assert token_server.request_count() == 2
    assert auth.token_requests == 2


async def _refresh_token(registry: RunningRegistry, token_server: TokenServer) -> str:
    assert registry.password is not None
    async with httpx.AsyncClient(trust_env=False) as client:
        reply = await client.get(
            token_server.realm,
            params={"service": token_server.service, "offline_token": "true", "client_id": "t"},
            auth=("alice", registry.password),
        )
    assert reply.status_code == 200
    token: str = reply.json()["refresh_token"]
    return token


async def test_identity_token_is_exchanged_with_a_refresh_grant(
    kind: StoreKind, token_auth_registry: RunningRegistry, token_server: TokenServer, name: str
) -> None:
    reg = token_auth_registry
    refresh = await _refresh_token(reg, token_server)
    token_server.clear_requests()
    keychain = StaticKeychain({reg.host: RegistryCredential(identity_token=refresh)})

    async with open_store(kind, keychain) as store:
        await _push_and_pull(store, Repository(reg.host, name))

    requests = token_server.requests
    assert requests
    assert {(r.method, r.grant_type, r.status) for r in requests} == {
        ("POST", "refresh_token", 200)
    }
    assert {r.username for r in requests} == {"alice"}
    assert any(f"repository:{name}:pull,push" in r.scopes for r in requests)


async def test_revoked_identity_token_is_refused_without_leaking_it(
    kind: StoreKind, token_auth_registry: RunningRegistry, token_server: TokenServer, name: str
) -> None:
    reg = token_auth_registry
    revoked = await _refresh_token(reg, token_server)
    token_server.revoke_refresh_tokens()
    keychain = StaticKeychain({reg.host: RegistryCredential(identity_token=revoked)})

    async with open_store(kind, keychain) as store:
        with pytest.raises(RegistryAuthError) as caught:
            await store.call("list_tags", Repository(reg.host, name))
    assert reg.host in str(caught.value)
    assert caught.value.context["registry"] == reg.host
    _assert_no_secrets(caught.value, revoked)
