"""Attestations against a real docker-registry 2.8 and an in-process Rekor.

distribution 2.8 has no referrers API, so bundle attestations are found through the
``sha256-<hex>`` tag-schema index, which concurrent attesters update read-modify-write; the
``.att`` image is appended to the same way. Both clients are driven, eight threads attest
one image at once in each format, and the requests a verification of twenty attestations
sends are counted with a recording transport: list once, fetch each referrer manifest and each
envelope once, nothing else.
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from tests.support.oci_content import RecordingTransport, image, repository_name
from tests.support.registry_server import RunningRegistry

from imagesig import AsyncClient, Client, SignatureFormat, TransparencyLogOptions
from imagesig.oci.credentials import StaticKeychain
from imagesig.oci.model import Manifest
from imagesig.reference import ImageReference
from imagesig.signatures.attach import attestation_tag
from imagesig.signatures.intoto import SLSA_PROVENANCE_V1_PREDICATE_TYPE
from imagesig.signers import LocalSigner
from imagesig.testing import RekorServer

BUNDLE = SignatureFormat.BUNDLE
LEGACY = SignatureFormat.LEGACY
ATTESTERS = 8
MANY = 20
PROVENANCE = {"runDetails": {"builder": {"id": "https://ci.example.com/builder"}}}


@pytest.fixture(scope="module")
def rekor() -> Iterator[RekorServer]:
    with RekorServer() as server:
        yield server


@pytest.fixture(scope="module")
def signer() -> LocalSigner:
    return LocalSigner.generate()


@pytest.fixture
def tlog(rekor: RekorServer) -> TransparencyLogOptions:
    return TransparencyLogOptions(rekor_url=rekor.url, trusted_root=rekor.trusted_root())


@pytest.fixture
def name(request: pytest.FixtureRequest) -> str:
    return repository_name(request.node.name)


def new_client(tlog: TransparencyLogOptions, transport: RecordingTransport | None = None) -> Client:
    return Client(
        keychain=StaticKeychain(),
        trust_env=False,
        transport=transport if transport is not None else RecordingTransport(),
        tlog=tlog,
    )


def push(client: Client, reference: str) -> ImageReference:
    parsed = ImageReference.parse(reference)
    content = image(reference)
    for blob in content.blobs:
        client.push_blob(parsed.repository, blob)
    client.push_manifest(parsed.repository, content.manifest, tag=parsed.tag)
    return parsed


@pytest.mark.parametrize("fmt", [BUNDLE, LEGACY])
def test_attest_and_verify(
    registry: RunningRegistry,
    tlog: TransparencyLogOptions,
    signer: LocalSigner,
    name: str,
    fmt: SignatureFormat,
) -> None:
    with new_client(tlog) as client:
        reference = push(client, f"{registry.host}/{name}:v1")
        attested = client.attest_image(
            reference, PROVENANCE, "slsaprovenance1", signer=signer, format=fmt
        )
        client.attest_image(reference, {"scanner": {}}, "vuln", signer=signer, format=fmt)
        result = client.verify_attestations(
            reference, [signer.public_key()], predicate_type="slsaprovenance1"
        )
        tree = client.list_attachments(reference)
    assert result.verified, result.to_dict()
    assert result.image == attested.image
    # Referrers come in the index's order (sorted by digest), not in attestation order.
    assert sorted(check.status.value for check in result.attestations) == [
        "verified",
        "wrong-type",
    ]
    assert attested.log_entry is not None
    (verified,) = result.verified_attestations
    assert verified.log_index == attested.log_entry.log_index
    assert {item.predicate_type for item in tree.attestations} == {
        SLSA_PROVENANCE_V1_PREDICATE_TYPE,
        "https://cosign.sigstore.dev/attestation/vuln/v1",
    }


@pytest.mark.parametrize("fmt", [BUNDLE, LEGACY])
def test_async_client_attest_and_verify(
    registry: RunningRegistry,
    tlog: TransparencyLogOptions,
    signer: LocalSigner,
    name: str,
    fmt: SignatureFormat,
) -> None:
    with new_client(tlog) as client:
        reference = push(client, f"{registry.host}/{name}:v1")

    async def scenario() -> Any:
        async with AsyncClient(
            keychain=StaticKeychain(), trust_env=False, transport=RecordingTransport(), tlog=tlog
        ) as client:
            await client.attest_image(
                reference, PROVENANCE, "slsaprovenance1", signer=signer, format=fmt
            )
            return await client.verify_attestations(
                reference, signer.public_key(), predicate_type="slsaprovenance1"
            )

    result = asyncio.run(scenario())
    assert result.verified
    assert [check.format for check in result.attestations] == [fmt]


@pytest.mark.parametrize("fmt", [BUNDLE, LEGACY])
def test_concurrent_attesters_keep_every_attestation(
    registry: RunningRegistry,
    tlog: TransparencyLogOptions,
    signer: LocalSigner,
    name: str,
    fmt: SignatureFormat,
) -> None:
    """Eight threads, each with its own client, attest one image at once: the ``.att``
    manifest (legacy) or the referrers index tag (bundle) keeps all eight."""
    with new_client(tlog) as client:
        reference = push(client, f"{registry.host}/{name}:v1")
    start = threading.Barrier(ATTESTERS)
    errors: list[BaseException] = []

    def attest(number: int) -> None:
        try:
            with new_client(tlog) as own:
                start.wait()
                own.attest_image(
                    reference, {"n": number}, "https://example.com/n", signer=signer, format=fmt
                )
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=attest, args=(n,)) for n in range(ATTESTERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    with new_client(tlog) as client:
        result = client.verify_attestations(
            reference, [signer.public_key()], predicate_type="https://example.com/n"
        )
        if fmt is LEGACY:
            digest = client.resolve(reference).digest
            manifest = client.get_manifest(reference.repository.with_tag(attestation_tag(digest)))
            assert isinstance(manifest, Manifest)
            assert len(manifest.layers) == ATTESTERS
    assert result.verified
    assert sorted(check.predicate["n"] for check in result.attestations if check.ok) == list(
        range(ATTESTERS)
    )


def _requests(transport: RecordingTransport) -> list[str]:
    return [
        f"{sent.method} {sent.url.path.split('/v2/', 1)[1]} {sent.status}"
        for sent in transport.sent
    ]


@pytest.mark.parametrize("fmt", [BUNDLE, LEGACY])
def test_verifying_twenty_attestations_sends_the_minimum_requests(
    registry: RunningRegistry,
    tlog: TransparencyLogOptions,
    rekor: RekorServer,
    signer: LocalSigner,
    name: str,
    fmt: SignatureFormat,
) -> None:
    with new_client(tlog) as client:
        reference = push(client, f"{registry.host}/{name}:v1")
        attested = [
            client.attest_image(reference, {"n": n}, "vuln", signer=signer, format=fmt)
            for n in range(MANY)
        ]
        digest = client.resolve(reference).digest
        if fmt is LEGACY:
            att = client.get_manifest(reference.repository.with_tag(attestation_tag(digest)))
            assert isinstance(att, Manifest)
            blobs = [layer.digest for layer in att.layers]
        else:
            blobs = []
            for item in attested:
                referrer = client.get_manifest(
                    reference.repository.with_digest(item.attestation.digest)
                )
                assert isinstance(referrer, Manifest)
                blobs.append(referrer.layers[0].digest)
    repo = reference.path
    transport = RecordingTransport()
    rekor.clear_requests()
    with new_client(tlog, transport) as client:
        result = client.verify_attestations(reference, [signer.public_key()], predicate_type="vuln")
    assert result.verified
    assert len(result.attestations) == MANY
    assert all(check.ok for check in result.attestations)
    assert rekor.requests == []  # the proofs travel with the attestations
    expected = [f"HEAD {repo}/manifests/v1 200", f"GET {repo}/referrers/{digest} 404"]
    fallback = f"GET {repo}/manifests/sha256-{digest.hex}"
    att_tag = f"GET {repo}/manifests/{attestation_tag(digest)}"
    if fmt is BUNDLE:
        expected.append(f"{fallback} 200")
        expected.extend(f"GET {repo}/manifests/{item.attestation.digest} 200" for item in attested)
        expected.append(f"{att_tag} 404")
    else:
        expected.extend([f"{fallback} 404", f"{att_tag} 200"])
    expected.extend(f"GET {repo}/blobs/{blob} 200" for blob in blobs)
    sent = _requests(transport)
    assert Counter(sent) == Counter(expected)
    assert len(sent) == len(expected)

    # The async client sends the same requests (blobs concurrently).
    async_transport = RecordingTransport()

    async def scenario() -> Any:
        async with AsyncClient(
            keychain=StaticKeychain(), trust_env=False, transport=async_transport, tlog=tlog
        ) as client:
            return await client.verify_attestations(
                reference, signer.public_key(), predicate_type="vuln"
            )

    assert asyncio.run(scenario()).verified
    assert Counter(_requests(async_transport)) == Counter(expected)
