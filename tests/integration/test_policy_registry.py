"""Kyverno policies evaluated end to end: a real docker-registry, an in-process Rekor, real keys.

Images are pushed and signed (or attested) with imagesig, then Pods, Deployments and
CronJobs are evaluated against ClusterPolicies naming the public keys. Attestors without a
``rekor`` block need a proof from the default log, which the evaluator is told is the local
Rekor. The seed's ``check-image`` policy runs with its ``gcpkms://`` key served by the local
Cloud KMS server.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest
from tests.support.kms_server import FakeKMS
from tests.support.oci_content import image, repository_name
from tests.support.registry_server import RunningRegistry

from imagesig import AsyncClient, Client, SignatureFormat, TransparencyLogOptions
from imagesig.cli import main
from imagesig.oci.credentials import StaticKeychain
from imagesig.oci.model import OCI_CONFIG, OCI_EMPTY_JSON, OCI_LAYER, Descriptor, Manifest
from imagesig.policy import AsyncPolicyEvaluator, PolicyEvaluator, RuleStatus, VerificationCache
from imagesig.policy.load import load_policy, policy_from_dict
from imagesig.policy.model import KyvernoPolicy
from imagesig.reference import ImageReference
from imagesig.signers import LocalSigner, signer_from_uri
from imagesig.signers.gcpkms import ENDPOINT_ENV_VAR
from imagesig.testing import RekorServer

PROVENANCE_TYPE = "https://slsa.dev/provenance/v1"


@pytest.fixture(scope="module")
def rekor() -> Iterator[RekorServer]:
    with RekorServer() as server:
        yield server


@pytest.fixture(scope="module")
def keys() -> tuple[LocalSigner, LocalSigner, LocalSigner]:
    return LocalSigner.generate(), LocalSigner.generate(), LocalSigner.generate()


@pytest.fixture
def tlog(rekor: RekorServer) -> TransparencyLogOptions:
    return TransparencyLogOptions(rekor_url=rekor.url, trusted_root=rekor.trusted_root())


@pytest.fixture
def client(tlog: TransparencyLogOptions) -> Iterator[Client]:
    with Client(keychain=StaticKeychain(), trust_env=False, tlog=tlog) as value:
        yield value


@pytest.fixture
def name(request: pytest.FixtureRequest) -> str:
    return repository_name(request.node.name)


def push(client: Client, reference: str, seed: str | None = None) -> ImageReference:
    parsed = ImageReference.parse(reference)
    content = image(seed or reference)
    for blob in content.blobs:
        client.push_blob(parsed.repository, blob)
    client.push_manifest(parsed.repository, content.manifest, tag=parsed.tag)
    return parsed


def pem(signer: LocalSigner) -> str:
    return signer.public_key().pem.decode()


def cluster_policy(
    entry: dict[str, Any], *, kinds: tuple[str, ...] = ("Pod",), action: str = "Enforce"
) -> KyvernoPolicy:
    return policy_from_dict(
        {
            "apiVersion": "kyverno.io/v1",
            "kind": "ClusterPolicy",
            "metadata": {"name": "signed-images"},
            "spec": {
                "validationFailureAction": action,
                "rules": [
                    {
                        "name": "check-signature",
                        "match": {"any": [{"resources": {"kinds": list(kinds)}}]},
                        "verifyImages": [entry],
                    }
                ],
            },
        }
    )


def key_entry(registry: RunningRegistry, *signers: LocalSigner, **extra: Any) -> dict[str, Any]:
    return {
        "imageReferences": [f"{registry.host}/*"],
        "attestors": [{"entries": [{"keys": {"publicKeys": pem(s)}} for s in signers]}],
        **extra,
    }


def pod(*images: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "app", "namespace": "default"},
        "spec": {"containers": [{"name": f"c{i}", "image": ref} for i, ref in enumerate(images)]},
    }


@pytest.mark.parametrize("fmt", [SignatureFormat.BUNDLE, SignatureFormat.LEGACY])
def test_signed_image_passes_and_is_pinned_to_the_signed_digest(
    registry: RunningRegistry,
    client: Client,
    keys: tuple[LocalSigner, ...],
    name: str,
    fmt: SignatureFormat,
) -> None:
    reference = push(client, f"{registry.host}/{name}:v1")
    signed = client.sign_image(reference, keys[0], format=fmt)
    policy = cluster_policy(key_entry(registry, keys[0]))
    with PolicyEvaluator(policy, client=client) as evaluator:
        report = evaluator.evaluate(pod(str(reference)), namespace_labels={})
    text = f"{registry.host}/{name}:v1"
    assert [(r.status, r.message) for r in report.results] == [
        (RuleStatus.PASS, f"verified image signatures for {text}"),
        (RuleStatus.PASS, "image verified"),
    ]
    assert report.allowed
    assert signed.image.digest is not None
    assert report.image_patches == (
        {
            "op": "replace",
            "path": "/spec/containers/0/image",
            "value": f"{text}@{signed.image.digest}",
        },
    )
    annotations = report.patched_resource["metadata"]["annotations"]  # type: ignore[index]
    pinned = f"{registry.host}/{name}@{signed.image.digest}"
    assert json.loads(annotations["kyverno.io/verify-images"]) == {pinned: "pass"}


def test_unsigned_image_is_denied_with_kyverno_message(
    registry: RunningRegistry, client: Client, keys: tuple[LocalSigner, ...], name: str
) -> None:
    reference = push(client, f"{registry.host}/{name}:v1")
    policy = cluster_policy(key_entry(registry, keys[0]))
    review = {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "u-1",
            "operation": "CREATE",
            "namespace": "default",
            "object": pod(str(reference)),
        },
    }
    with PolicyEvaluator(policy, client=client) as evaluator:
        report = evaluator.evaluate(review, namespace_labels={})
    first = report.results[0]
    assert first.status is RuleStatus.FAIL
    assert first.message.startswith(
        f"failed to verify image {reference}: .attestors[0].entries[0].keys: no signatures found"
    )
    response = report.to_admission_response()["response"]
    assert response["allowed"] is False
    assert (
        "resource Pod/default/app was blocked due to the following policies"
        in (response["status"]["message"])
    )


def test_signature_without_log_proof_is_blocked_naming_the_missing_proof(
    registry: RunningRegistry, client: Client, keys: tuple[LocalSigner, ...], name: str
) -> None:
    reference = push(client, f"{registry.host}/{name}:v1")
    client.sign_image(reference, keys[0], tlog=TransparencyLogOptions(upload=False))
    policy = cluster_policy(key_entry(registry, keys[0]))
    with PolicyEvaluator(policy, client=client) as evaluator:
        report = evaluator.evaluate(pod(str(reference)), namespace_labels={})
        assert report.blocked
        assert "no transparency-log entry" in report.results[0].message
        # ignoreTlog accepts it, as Kyverno's rekor.ignoreTlog does.
    lenient = key_entry(registry, keys[0])
    lenient["attestors"][0]["entries"][0]["keys"]["rekor"] = {"ignoreTlog": True}
    with PolicyEvaluator(cluster_policy(lenient), client=client) as evaluator:
        assert evaluator.evaluate(pod(str(reference)), namespace_labels={}).allowed


def test_wrongly_signed_image_fails(
    registry: RunningRegistry, client: Client, keys: tuple[LocalSigner, ...], name: str
) -> None:
    reference = push(client, f"{registry.host}/{name}:v1")
    client.sign_image(reference, keys[1])
    with PolicyEvaluator(cluster_policy(key_entry(registry, keys[0])), client=client) as evaluator:
        report = evaluator.evaluate(pod(str(reference)), namespace_labels={})
    assert report.blocked
    assert report.results[0].message.startswith(f"failed to verify image {reference}:")


def test_retagged_image_is_never_pinned_unverified(
    registry: RunningRegistry, client: Client, keys: tuple[LocalSigner, ...], name: str
) -> None:
    reference = push(client, f"{registry.host}/{name}:v1", seed="first")
    signed = client.sign_image(reference, keys[0])
    policy = cluster_policy(key_entry(registry, keys[0]))
    cache = VerificationCache()
    with PolicyEvaluator(policy, client=client, cache=cache) as evaluator:
        assert evaluator.evaluate(pod(str(reference)), namespace_labels={}).allowed
        push(client, str(reference), seed="second, unsigned")  # the tag moves
        cached = evaluator.evaluate(pod(str(reference)), namespace_labels={})
    assert cached.results[0].message == "verified from cache"
    assert cached.image_patches[0]["value"] == f"{reference}@{signed.image.digest}"
    with PolicyEvaluator(policy, client=client, use_cache=False) as evaluator:
        fresh = evaluator.evaluate(pod(str(reference)), namespace_labels={})
    assert fresh.blocked
    assert fresh.image_patches == ()


@pytest.mark.parametrize(("count", "allowed"), [(2, True), (None, False), (3, False)])
def test_two_of_three_attestors(
    registry: RunningRegistry,
    client: Client,
    keys: tuple[LocalSigner, ...],
    name: str,
    count: int | None,
    allowed: bool,
) -> None:
    reference = push(client, f"{registry.host}/{name}:v1")
    client.sign_image(reference, keys[0])
    client.sign_image(reference, keys[2])
    entry = key_entry(registry, *keys)
    if count is not None:
        entry["attestors"][0]["count"] = count
    with PolicyEvaluator(cluster_policy(entry), client=client) as evaluator:
        report = evaluator.evaluate(pod(str(reference)), namespace_labels={})
    assert report.allowed is allowed


@pytest.mark.parametrize(("branch", "allowed"), [("main", True), ("prod", False)])
def test_attestation_conditions(
    registry: RunningRegistry,
    client: Client,
    keys: tuple[LocalSigner, ...],
    name: str,
    branch: str,
    allowed: bool,
) -> None:
    reference = push(client, f"{registry.host}/{name}:v1")
    predicate = {"buildType": "https://example.com/build", "repo": {"branch": "main"}}
    client.attest_image(reference, predicate, PROVENANCE_TYPE, signer=keys[0])
    entry = {
        "imageReferences": [f"{registry.host}/*"],
        "attestations": [
            {
                "type": PROVENANCE_TYPE,
                "attestors": [{"entries": [{"keys": {"publicKeys": pem(keys[0])}}]}],
                "conditions": [
                    {"all": [{"key": "{{ repo.branch }}", "operator": "Equals", "value": branch}]}
                ],
            }
        ],
    }
    with PolicyEvaluator(cluster_policy(entry), client=client) as evaluator:
        report = evaluator.evaluate(pod(str(reference)), namespace_labels={})
    assert report.allowed is allowed, report.results
    if allowed:
        assert report.results[0].message == f"verified image attestations for {reference}"


def test_deployment_and_cronjob_through_autogen(
    registry: RunningRegistry, client: Client, keys: tuple[LocalSigner, ...], name: str
) -> None:
    signed = push(client, f"{registry.host}/{name}:signed", seed="signed")
    unsigned = push(client, f"{registry.host}/{name}:unsigned", seed="unsigned")
    client.sign_image(signed, keys[0])
    policy = cluster_policy(key_entry(registry, keys[0]))

    def deployment(ref: ImageReference) -> dict[str, Any]:
        template = {"spec": {"containers": [{"name": "app", "image": str(ref)}]}}
        return {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "d", "namespace": "default"},
            "spec": {"template": template},
        }

    def cronjob(ref: ImageReference) -> dict[str, Any]:
        template = {"spec": {"containers": [{"name": "app", "image": str(ref)}]}}
        return {
            "apiVersion": "batch/v1",
            "kind": "CronJob",
            "metadata": {"name": "c", "namespace": "default"},
            "spec": {"jobTemplate": {"spec": {"template": template}}},
        }

    with PolicyEvaluator(policy, client=client) as evaluator:
        ok = evaluator.evaluate(deployment(signed), namespace_labels={})
        bad = evaluator.evaluate(cronjob(unsigned), namespace_labels={})
    assert ok.allowed
    assert {r.rule for r in ok.results} == {"autogen-check-signature"}
    assert ok.image_patches[0]["path"] == "/spec/template/spec/containers/0/image"
    assert bad.blocked
    assert {r.rule for r in bad.results} == {"autogen-cronjob-check-signature"}


async def test_async_evaluator_verifies_a_pods_images_concurrently(
    registry: RunningRegistry,
    client: Client,
    tlog: TransparencyLogOptions,
    keys: tuple[LocalSigner, ...],
    name: str,
) -> None:
    references = [
        push(client, f"{registry.host}/{name}:v{i}", seed=f"{name}-{i}") for i in range(3)
    ]
    digests = [client.sign_image(ref, keys[0]).image.digest for ref in references]
    policy = cluster_policy(key_entry(registry, keys[0]))
    async_client = AsyncClient(keychain=StaticKeychain(), trust_env=False, tlog=tlog)
    async with async_client, AsyncPolicyEvaluator(policy, client=async_client) as evaluator:
        reports = await asyncio.gather(
            *(evaluator.evaluate(pod(str(ref)), namespace_labels={}) for ref in references),
            evaluator.evaluate(pod(*map(str, references)), namespace_labels={}),
        )
    for ref, digest, report in zip(references, digests, reports, strict=False):
        assert report.image_patches[0]["value"] == f"{ref}@{digest}"
    combined = reports[-1]
    assert combined.allowed
    assert [p["value"] for p in combined.image_patches] == [
        f"{ref}@{digest}" for ref, digest in zip(references, digests, strict=True)
    ]


SEED_POLICY = """\
apiVersion: kyverno.io/v1
kind: ClusterPolicy
metadata:
  name: check-image
spec:
  validationFailureAction: enforce
  background: false
  webhookTimeoutSeconds: 30
  failurePolicy: Fail
  rules:
    - name: check-image
      match:
        resources:
          kinds:
            - Pod
      verifyImages:
      - image: "*"
        key: "gcpkms://projects/shaped-shuttle-342907/locations/global/keyRings/test/cryptoKeys/cosign/versions/1"
"""
SEED_KEY = "projects/shaped-shuttle-342907/locations/global/keyRings/test/cryptoKeys/cosign"


@pytest.fixture
def kms(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeKMS]:
    # A loopback endpoint never consults Application Default Credentials.
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", "/nonexistent/adc.json")
    with FakeKMS() as server:
        monkeypatch.setenv(ENDPOINT_ENV_VAR, f"http://{server.endpoint}")
        yield server


def test_seed_policy_with_a_cloud_kms_key(
    registry: RunningRegistry,
    client: Client,
    kms: FakeKMS,
    keys: tuple[LocalSigner, ...],
    name: str,
    tmp_path: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    uri = kms.add_key(SEED_KEY)
    signed = push(client, f"{registry.host}/{name}:3.15.0", seed="signed")
    unsigned = push(client, f"{registry.host}/{name}:other", seed="other")
    result = client.sign_image(signed, signer_from_uri(uri))
    policy = load_policy(SEED_POLICY.encode())
    with PolicyEvaluator(policy, client=client) as evaluator:
        ok = evaluator.evaluate(pod(str(signed)), namespace_labels={})
        bad = evaluator.evaluate(pod(str(unsigned)), namespace_labels={})
    assert ok.allowed, ok.results
    assert ok.image_patches[0]["value"] == f"{signed}@{result.image.digest}"
    assert bad.blocked
    assert bad.results[0].message.startswith(f"failed to verify image {unsigned}:")

    # The same through the command line.
    policy_file = tmp_path / "policy.yaml"
    policy_file.write_text(SEED_POLICY)
    resource_file = tmp_path / "pod.json"
    resource_file.write_text(json.dumps(pod(str(signed))))
    trusted_root = tmp_path / "trusted_root.json"
    assert client.tlog.trusted_root is not None
    trusted_root.write_text(client.tlog.trusted_root.to_json())
    argv = [
        "policy", "apply", "-p", str(policy_file), "-r", str(resource_file),
        "--trusted-root", str(trusted_root), "--rekor-url", client.tlog.rekor_url,
        "--allow-http-registry", "--output", "json",
    ]  # fmt: skip
    code = main(argv)
    document = json.loads(capsys.readouterr().out)
    assert code == 0, document
    assert document["blocked"] is False
    resource_file.write_text(json.dumps(pod(str(unsigned))))
    assert main(argv) == 1


async def _push_and_sign_many(
    client: AsyncClient, repository: str, count: int, signer: LocalSigner
) -> dict[str, Any]:
    """Push ``count`` images sharing their layers (unique configs) and sign each, concurrently."""
    layer = b"a layer every test image shares\n"
    parsed = ImageReference.parse(f"{repository}:base")
    await client.push_blob(parsed.repository, layer)
    # Every bundle referrer uses the same empty config blob. Pushed first so that concurrent
    # signers find it committed (docker-registry can report a blob that another upload is
    # still linking, and then refuse the manifest that names it).
    await client.push_blob(parsed.repository, OCI_EMPTY_JSON)
    semaphore = asyncio.Semaphore(16)

    async def one(index: int) -> tuple[str, Any]:
        config = json.dumps({"architecture": "amd64", "os": "linux", "seed": index}).encode()
        manifest = Manifest.build(
            Descriptor.for_content(config, OCI_CONFIG), [Descriptor.for_content(layer, OCI_LAYER)]
        )
        reference = ImageReference.parse(f"{repository}:v{index}")
        async with semaphore:
            await client.push_blob(reference.repository, config)
            await client.push_manifest(reference.repository, manifest, tag=reference.tag)
            signed = await client.sign_image(
                reference, signer, tlog=TransparencyLogOptions(upload=False)
            )
        return str(reference), signed.image.digest

    return dict(await asyncio.gather(*(one(index) for index in range(count))))


async def test_200_concurrent_evaluations_each_pin_their_own_signed_digest(
    registry: RunningRegistry,
    tlog: TransparencyLogOptions,
    keys: tuple[LocalSigner, ...],
    name: str,
) -> None:
    entry = key_entry(registry, keys[0])
    entry["attestors"][0]["entries"][0]["keys"]["rekor"] = {"ignoreTlog": True}
    policy = cluster_policy(entry)
    async_client = AsyncClient(keychain=StaticKeychain(), trust_env=False, tlog=tlog)
    async with async_client, AsyncPolicyEvaluator(policy, client=async_client) as evaluator:
        digests = await _push_and_sign_many(async_client, f"{registry.host}/{name}", 200, keys[0])
        references = list(digests)
        reports = await asyncio.gather(
            *(evaluator.evaluate(pod(ref), namespace_labels={}) for ref in references)
        )
    assert len(set(digests.values())) == 200
    for reference, report in zip(references, reports, strict=True):
        assert report.allowed, report.results
        (patch,) = report.image_patches
        assert patch["value"] == f"{reference}@{digests[reference]}"
        assert report.results[0].digest == str(digests[reference])
