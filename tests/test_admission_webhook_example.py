"""``examples/admission_webhook.py``: the ASGI callable driven directly with AdmissionReviews.

No server: each test calls the application with an HTTP scope, a ``receive`` that hands over
the request body (in chunks, as servers do) and a ``send`` that collects the response. The
reviews wrap the Kyverno vector pods (``vectors/kyverno/verifydigest-admission``) and a signed
and an unsigned Pod answered by the scripted verifier.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from tests.conftest import shared_dir
from tests.support.fake_verifier import FakeVerifier

from imagesig.policy import AsyncPolicyEvaluator
from imagesig.policy.load import load_policy, policy_from_dict, read_documents
from imagesig.policy.verifier import VerifierOutcome

ROOT = Path(__file__).resolve().parents[1]
VECTORS = shared_dir() / "vectors" / "kyverno" / "verifydigest-admission"
KEY = "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----"
SIGNED, UNSIGNED = "ghcr.io/org/app:v1", "ghcr.io/org/miner:v1"
DIGEST = "sha256:" + "a" * 64
UID = "705ab4f5-6393-11e8-b7cc-42010a800002"


def _load_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "admission_webhook_example", ROOT / "examples" / "admission_webhook.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


webhook = _load_example()


def review(obj: Mapping[str, Any]) -> dict[str, Any]:
    metadata = obj.get("metadata", {})
    return {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": UID,
            "kind": {"group": "", "version": "v1", "kind": obj["kind"]},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "namespace": metadata.get("namespace", ""),
            "name": metadata.get("name", ""),
            "operation": "CREATE",
            "userInfo": {"username": "alice", "groups": ["system:authenticated"]},
            "object": obj,
        },
    }


def pod(*images: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "app", "namespace": "default"},
        "spec": {"containers": [{"name": f"c{i}", "image": ref} for i, ref in enumerate(images)]},
    }


async def call(
    app: Any, body: bytes, *, method: str = "POST", path: str = "/validate", chunk: int = 97
) -> tuple[int, dict[str, Any]]:
    """Call an ASGI app once; return the status and the JSON body."""
    pieces = [body[i : i + chunk] for i in range(0, len(body), chunk)] or [b""]
    messages = [
        {"type": "http.request", "body": piece, "more_body": index < len(pieces) - 1}
        for index, piece in enumerate(pieces)
    ]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": method, "path": path, "headers": []}
    await app(scope, receive, send)
    start, body_message = sent
    assert start["type"] == "http.response.start"
    headers = dict(start["headers"])
    assert headers[b"content-type"] == b"application/json"
    assert int(headers[b"content-length"]) == len(body_message["body"])
    return start["status"], json.loads(body_message["body"])


def key_policy() -> Any:
    return policy_from_dict(
        {
            "apiVersion": "kyverno.io/v1",
            "kind": "ClusterPolicy",
            "metadata": {"name": "signed-images"},
            "spec": {
                "validationFailureAction": "Enforce",
                "rules": [
                    {
                        "name": "check-signature",
                        "match": {"any": [{"resources": {"kinds": ["Pod"]}}]},
                        "verifyImages": [
                            {
                                "imageReferences": ["ghcr.io/org/*"],
                                "attestors": [{"entries": [{"keys": {"publicKeys": KEY}}]}],
                            }
                        ],
                    }
                ],
            },
        }
    )


def signed_app() -> Any:
    verifier = FakeVerifier(
        {SIGNED: DIGEST, UNSIGNED: "sha256:" + "e" * 64},
        decide=lambda r: None if r.image == SIGNED else VerifierOutcome.failed("no signatures"),
    )
    return webhook.create_app(AsyncPolicyEvaluator(key_policy(), verifier=verifier))


async def test_a_signed_pod_is_allowed_and_pinned() -> None:
    status, answer = await call(signed_app(), json.dumps(review(pod(SIGNED))).encode())
    assert status == 200
    assert answer["apiVersion"] == "admission.k8s.io/v1"
    assert answer["kind"] == "AdmissionReview"
    response = answer["response"]
    assert response["uid"] == UID
    assert response["allowed"] is True
    assert response["patchType"] == "JSONPatch"
    patch = json.loads(base64.b64decode(response["patch"]))
    assert {"op": "replace", "path": "/spec/containers/0/image", "value": f"{SIGNED}@{DIGEST}"} in (
        patch
    )


async def test_an_unsigned_pod_is_denied_with_kyverno_message() -> None:
    status, answer = await call(signed_app(), json.dumps(review(pod(SIGNED, UNSIGNED))).encode())
    assert status == 200
    response = answer["response"]
    assert response["allowed"] is False
    assert "blocked due to the following policies" in response["status"]["message"]
    assert UNSIGNED in response["status"]["message"]
    assert "patch" not in response


@pytest.mark.skipif(not VECTORS.is_dir(), reason="Kyverno vectors not present")
@pytest.mark.parametrize(
    ("name", "allowed", "message"),
    [
        ("good-pod.yaml", True, None),
        ("bad-pod.yaml", False, "missing digest for ghcr.io/kyverno/test-verify-image"),
    ],
)
async def test_kyverno_vector_pods(name: str, allowed: bool, message: str | None) -> None:
    policy = load_policy(VECTORS / "policy.yaml")
    ((_, obj),) = read_documents(VECTORS / name)
    verifier = FakeVerifier()
    app = webhook.create_app(AsyncPolicyEvaluator(policy, verifier=verifier))
    status, answer = await call(app, json.dumps(review(obj)).encode())
    assert status == 200
    response = answer["response"]
    assert response["uid"] == UID
    assert response["allowed"] is allowed
    if message is not None:
        assert message in response["status"]["message"]
    assert verifier.calls == 0  # no attestors: nothing to ask a registry


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"{not json", 400),
        (b'{"kind": "Pod"}', 400),
        (b"[]", 400),
        (b'{"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview"}', 400),
        (b'{"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": 1}', 400),
    ],
)
async def test_malformed_bodies_are_refused(body: bytes, status: int) -> None:
    code, answer = await call(signed_app(), body)
    assert code == status
    assert "error" in answer


async def test_a_huge_body_is_refused_without_reading_it_all() -> None:
    body = b" " * (webhook.MAX_BODY_BYTES + 1)
    status, _ = await call(signed_app(), body, chunk=1024 * 1024)
    assert status == 413


async def test_health_and_methods() -> None:
    app = signed_app()
    assert await call(app, b"", method="GET", path="/healthz") == (200, {"status": "ok"})
    status, _ = await call(app, b"", method="GET", path="/validate")
    assert status == 405


async def test_lifespan_closes_the_evaluator() -> None:
    closed: list[bool] = []

    class Evaluator(AsyncPolicyEvaluator):
        async def aclose(self) -> None:
            closed.append(True)
            await super().aclose()

    app = webhook.create_app(Evaluator(key_policy(), verifier=FakeVerifier()))
    incoming = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return incoming.pop(0)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app({"type": "lifespan"}, receive, send)
    assert [m["type"] for m in sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    assert closed == [True]


async def test_the_module_app_reads_policies_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        "apiVersion: kyverno.io/v1\nkind: ClusterPolicy\nmetadata: {name: p}\nspec:\n  rules: []\n"
    )
    monkeypatch.setenv("IMAGESIG_POLICIES", str(policy))
    monkeypatch.setattr(webhook, "_app", None)
    status, answer = await call(webhook.app, json.dumps(review(pod(SIGNED))).encode())
    assert status == 200
    assert answer["response"]["allowed"] is True
    assert webhook._app is not None
