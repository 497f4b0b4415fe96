"""Smoke tests for the registry fixtures, driven with plain httpx (no imagesig code)."""

from __future__ import annotations

import base64
import json
import re
import uuid
from typing import Any

import httpx
import pytest
from tests.support.registry_server import (
    OCI_MANIFEST,
    PushedImage,
    RunningRegistry,
    push_test_image,
)
from tests.support.token_server import TokenServer

pytestmark = pytest.mark.registry


def _repo(prefix: str = "smoke") -> str:
    return f"{prefix}/{uuid.uuid4().hex[:12]}"


def _challenge(response: httpx.Response) -> tuple[str, dict[str, str]]:
    scheme, _, params = response.headers["WWW-Authenticate"].partition(" ")
    return scheme.lower(), dict(re.findall(r'(\w+)="([^"]*)"', params))


def _claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _assert_pull(client: httpx.Client, url: str, image: PushedImage) -> None:
    manifest = client.get(
        f"{url}/v2/{image.repository}/manifests/{image.tag}", headers={"Accept": OCI_MANIFEST}
    )
    assert manifest.status_code == 200, manifest.text
    assert manifest.content == image.manifest
    assert manifest.headers["Docker-Content-Digest"] == image.digest
    for digest, data in image.blobs.items():
        blob = client.get(f"{url}/v2/{image.repository}/blobs/{digest}", follow_redirects=True)
        assert blob.status_code == 200, blob.text
        assert blob.content == data


# -- no auth ------------------------------------------------------------------------------------


def test_registry_push_pull_and_list_tags(registry: RunningRegistry) -> None:
    assert registry.url == f"http://{registry.host}"
    assert registry.host.startswith("127.0.0.1:")
    assert registry.auth == "none"
    assert registry.username is None
    assert registry.password is None
    assert registry.token_server is None
    repo = _repo()
    with httpx.Client(timeout=10) as client:
        assert client.get(f"{registry.url}/v2/").status_code == 200
        image = push_test_image(client, registry.url, repo, "v1")
        push_test_image(client, registry.url, repo, "v2")
        _assert_pull(client, registry.url, image)
        tags = client.get(f"{registry.url}/v2/{repo}/tags/list")
        assert tags.status_code == 200
        assert tags.json()["name"] == repo
        assert sorted(tags.json()["tags"]) == ["v1", "v2"]
        by_digest = client.head(
            f"{registry.url}/v2/{repo}/manifests/{image.digest}", headers={"Accept": OCI_MANIFEST}
        )
        assert by_digest.status_code == 200
    assert registry.root.is_dir()
    assert any(registry.root.rglob("data"))  # blobs landed under the storage root


def test_registry_delete_is_enabled(registry: RunningRegistry) -> None:
    repo = _repo()
    with httpx.Client(timeout=10) as client:
        image = push_test_image(client, registry.url, repo, "gone")
        deleted = client.delete(f"{registry.url}/v2/{repo}/manifests/{image.digest}")
        assert deleted.status_code == 202, deleted.text
        missing = client.get(
            f"{registry.url}/v2/{repo}/manifests/{image.digest}", headers={"Accept": OCI_MANIFEST}
        )
        assert missing.status_code == 404


# -- htpasswd -----------------------------------------------------------------------------------


def test_basic_auth_refuses_without_credentials(basic_auth_registry: RunningRegistry) -> None:
    reg = basic_auth_registry
    assert reg.auth == "htpasswd"
    assert reg.username == "alice"
    assert reg.password
    assert reg.users == {"alice": reg.password}
    with httpx.Client(timeout=10) as client:
        anonymous = client.get(f"{reg.url}/v2/")
        assert anonymous.status_code == 401
        scheme, params = _challenge(anonymous)
        assert scheme == "basic"
        assert "realm" in params
        wrong = client.get(f"{reg.url}/v2/", auth=(reg.username, reg.password + "x"))
        assert wrong.status_code == 401
        assert client.post(f"{reg.url}/v2/{_repo()}/blobs/uploads/").status_code == 401


def test_basic_auth_accepts_credentials(basic_auth_registry: RunningRegistry) -> None:
    reg = basic_auth_registry
    assert reg.username is not None
    assert reg.password is not None
    repo = _repo()
    with httpx.Client(timeout=10, auth=(reg.username, reg.password)) as client:
        assert client.get(f"{reg.url}/v2/").status_code == 200
        image = push_test_image(client, reg.url, repo, "v1")
        _assert_pull(client, reg.url, image)
        assert client.get(f"{reg.url}/v2/{repo}/tags/list").json()["tags"] == ["v1"]


# -- token auth ---------------------------------------------------------------------------------


def test_token_registry_challenges_anonymous_clients(
    token_auth_registry: RunningRegistry, token_server: TokenServer
) -> None:
    reg = token_auth_registry
    assert reg.auth == "token"
    assert reg.token_server is token_server
    assert reg.username == "alice"
    assert set(reg.users) == {"alice", "reader"}
    repo = _repo()
    with httpx.Client(timeout=10) as client:
        base = client.get(f"{reg.url}/v2/")
        assert base.status_code == 401
        scheme, params = _challenge(base)
        assert scheme == "bearer"
        assert params["realm"] == token_server.realm
        assert params["service"] == token_server.service
        assert "scope" not in params

        upload = client.post(f"{reg.url}/v2/{repo}/blobs/uploads/")
        assert upload.status_code == 401
        _, params = _challenge(upload)
        name, _, actions = params["scope"].rpartition(":")
        assert name == f"repository:{repo}"
        assert set(actions.split(",")) == {"pull", "push"}  # order varies between requests
        assert "error" not in params
    assert token_server.request_count() == 0  # the registry never calls the token server


def test_token_push_and_pull_with_basic_credentials(
    token_auth_registry: RunningRegistry, token_server: TokenServer
) -> None:
    reg = token_auth_registry
    assert reg.username is not None
    assert reg.password is not None
    repo = _repo()
    with httpx.Client(timeout=10) as client:
        _, challenge = _challenge(client.get(f"{reg.url}/v2/"))
        reply = client.get(
            challenge["realm"],
            params={"service": challenge["service"], "scope": f"repository:{repo}:pull,push"},
            auth=(reg.username, reg.password),
        )
        assert reply.status_code == 200, reply.text
        body = reply.json()
        assert set(body) >= {"token", "access_token", "expires_in", "issued_at"}
        assert body["token"] == body["access_token"]
        assert body["expires_in"] == token_server.token_lifetime
        claims = _claims(body["token"])
        assert claims["sub"] == "alice"
        assert claims["aud"] == token_server.service
        assert claims["iss"] == token_server.issuer
        assert claims["access"] == [
            {"type": "repository", "name": repo, "actions": ["pull", "push"]}
        ]

        client.headers.update(_bearer(body["token"]))
        image = push_test_image(client, reg.url, repo, "v1")
        _assert_pull(client, reg.url, image)
        assert client.get(f"{reg.url}/v2/{repo}/tags/list").json()["tags"] == ["v1"]

    [request] = token_server.requests
    assert request.method == "GET"
    assert request.path == "/token"
    assert request.has_authorization
    assert request.username == "alice"
    assert request.status == 200
    assert request.scopes == (f"repository:{repo}:pull,push",)
    assert reg.password not in repr(token_server.requests)


def test_token_pull_only_user_cannot_push(
    token_auth_registry: RunningRegistry, token_server: TokenServer
) -> None:
    reg = token_auth_registry
    repo = _repo()
    with httpx.Client(timeout=10) as client:
        reply = client.get(
            token_server.realm,
            params={"service": token_server.service, "scope": f"repository:{repo}:pull,push"},
            auth=("reader", reg.users["reader"]),
        )
        assert reply.status_code == 200
        token = reply.json()["token"]
        assert _claims(token)["access"] == [
            {"type": "repository", "name": repo, "actions": ["pull"]}
        ]
        refused = client.post(f"{reg.url}/v2/{repo}/blobs/uploads/", headers=_bearer(token))
        assert refused.status_code in (401, 403)
        assert _challenge(refused)[1]["error"] == "insufficient_scope"


def test_token_anonymous_pull_of_public_repository(
    token_auth_registry: RunningRegistry, token_server: TokenServer
) -> None:
    reg = token_auth_registry
    public, private = _repo("public"), _repo("private")
    alice = token_server.token_for(
        "alice", f"repository:{public}:pull,push", f"repository:{private}:pull,push"
    )
    with httpx.Client(timeout=10, headers=_bearer(alice)) as client:
        public_image = push_test_image(client, reg.url, public, "v1")
        push_test_image(client, reg.url, private, "v1")

    with httpx.Client(timeout=10) as client:
        # repeated scope parameters, no credentials
        reply = client.get(
            token_server.realm,
            params={
                "service": token_server.service,
                "scope": [f"repository:{public}:pull,push", f"repository:{private}:pull"],
            },
        )
        assert reply.status_code == 200
        token = reply.json()["token"]
        assert _claims(token)["access"] == [
            {"type": "repository", "name": public, "actions": ["pull"]}
        ]
        client.headers.update(_bearer(token))
        _assert_pull(client, reg.url, public_image)
        denied = client.get(f"{reg.url}/v2/{private}/manifests/v1")
        assert denied.status_code == 401
        assert _challenge(denied)[1]["error"] == "insufficient_scope"
    [request] = token_server.requests
    assert not request.has_authorization
    assert request.username == ""


def test_token_expired_is_refused(
    token_auth_registry: RunningRegistry, token_server: TokenServer
) -> None:
    reg = token_auth_registry
    repo = _repo()
    scope = f"repository:{repo}:pull,push"
    with httpx.Client(timeout=10, headers=_bearer(token_server.token_for("alice", scope))) as c:
        push_test_image(c, reg.url, repo, "v1")
    # the registry allows 60 s of clock skew after exp, so go well past it
    expired = token_server.token_for("alice", scope, lifetime=-300)
    with httpx.Client(timeout=10) as client:
        refused = client.get(f"{reg.url}/v2/{repo}/tags/list", headers=_bearer(expired))
        assert refused.status_code == 401
        assert _challenge(refused)[1]["error"] == "invalid_token"
        fresh = token_server.token_for("alice", scope)
        assert (
            client.get(f"{reg.url}/v2/{repo}/tags/list", headers=_bearer(fresh)).status_code == 200
        )


def test_token_server_refuses_wrong_password(token_server: TokenServer) -> None:
    with httpx.Client(timeout=10) as client:
        reply = client.get(
            token_server.realm, params={"service": token_server.service}, auth=("alice", "wrong")
        )
        assert reply.status_code == 401
        unknown_service = client.get(token_server.realm, params={"service": "elsewhere"})
        assert unknown_service.status_code == 400
    assert token_server.request_count() == 2
    assert token_server.request_count(status=401) == 1
    assert "wrong" not in repr(token_server.requests)


def test_token_server_refresh_tokens(
    token_auth_registry: RunningRegistry, token_server: TokenServer
) -> None:
    reg = token_auth_registry
    assert reg.password is not None
    repo = _repo()
    with httpx.Client(timeout=10) as client:
        # OAuth2 password grant asking for offline access
        first = client.post(
            token_server.realm,
            data={
                "grant_type": "password",
                "username": "alice",
                "password": reg.password,
                "service": token_server.service,
                "client_id": "imagesig-tests",
                "access_type": "offline",
                "scope": f"repository:{repo}:pull",
            },
        )
        assert first.status_code == 200, first.text
        body = first.json()
        assert body["scope"] == f"repository:{repo}:pull"
        refresh = body["refresh_token"]

        # refresh grant: a new access token for other scopes, same refresh token back
        second = client.post(
            token_server.realm,
            data={
                "grant_type": "refresh_token",
                "refresh_token": refresh,
                "service": token_server.service,
                "client_id": "imagesig-tests",
                "scope": f"repository:{repo}:pull,push",
            },
        )
        assert second.status_code == 200, second.text
        assert second.json()["refresh_token"] == refresh
        assert second.json()["scope"] == f"repository:{repo}:pull,push"
        client.headers.update(_bearer(second.json()["access_token"]))
        push_test_image(client, reg.url, repo, "v1")
        client.headers.pop("Authorization")

        # online password grant: no refresh token
        online = client.post(
            token_server.realm,
            data={
                "grant_type": "password",
                "username": "alice",
                "password": reg.password,
                "service": token_server.service,
                "client_id": "imagesig-tests",
            },
        )
        assert online.status_code == 200
        assert "refresh_token" not in online.json()

        bogus = client.post(
            token_server.realm,
            data={
                "grant_type": "refresh_token",
                "refresh_token": "not-a-token",
                "service": token_server.service,
                "client_id": "imagesig-tests",
            },
        )
        assert bogus.status_code == 400

        # GET with offline_token=true also hands out a refresh token
        offline = client.get(
            token_server.realm,
            params={"service": token_server.service, "offline_token": "true", "client_id": "t"},
            auth=("alice", reg.password),
        )
        assert offline.status_code == 200
        assert offline.json()["refresh_token"]

        token_server.oauth_enabled = False
        assert client.post(token_server.realm, data={"grant_type": "password"}).status_code == 404

    grants = [r.grant_type for r in token_server.requests if r.method == "POST"]
    assert grants == ["password", "refresh_token", "password", "refresh_token", "password"]
    assert token_server.request_count(method="GET") == 1
    recorded = repr(token_server.requests)
    assert reg.password not in recorded
    assert refresh not in recorded
