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
from collections import Counter
from typing import Any

import pytest
from tests.support.oci_content import RecordingTransport
from tests.support.registry_server import RunningRegistry
from tests.support.signing import (
    async_registry_client,
    push,
    registry_client,
    run_at_once,
    sent_requests,
)

from imagesig import SignatureFormat, TransparencyLogOptions
from imagesig.oci.model import Manifest
from imagesig.signatures.attach import attestation_tag
from imagesig.signatures.intoto import SLSA_PROVENANCE_V1_PREDICATE_TYPE
from imagesig.signers import LocalSigner
from imagesig.testing import RekorServer

BUNDLE = SignatureFormat.BUNDLE
LEGACY = SignatureFormat.LEGACY
ATTESTERS = 8
MANY = 20
PROVENANCE = {"runDetails": {"builder": {"id": "https://ci.example.com/builder"}}}


@pytest.mark.parametrize("fmt", [BUNDLE, LEGACY])
def test_attest_and_verify(
    registry: RunningRegistry,
    tlog: TransparencyLogOptions,
    signer: LocalSigner,
    name: str,
    fmt: SignatureFormat,
) -> None:
    with registry_client(tlog) as client:
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
    with registry_client(tlog) as client:
        reference = push(client, f"{registry.host}/{name}:v1")

    async def scenario() -> Any:
        async with async_registry_client(tlog) as client:
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
    with registry_client(tlog) as client:
        reference = push(client, f"{registry.host}/{name}:v1")

    def attest(number: int) -> None:
        with registry_client(tlog) as own:
            own.attest_image(
                reference, {"n": number}, "https://example.com/n", signer=signer, format=fmt
            )

    run_at_once(ATTESTERS, attest)
    with registry_client(tlog) as client:
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


@pytest.mark.parametrize("fmt", [BUNDLE, LEGACY])
def test_verifying_twenty_attestations_sends_the_minimum_requests(
    registry: RunningRegistry,
    tlog: TransparencyLogOptions,
    rekor: RekorServer,
    signer: LocalSigner,
    name: str,
    fmt: SignatureFormat,
) -> None:
    with registry_client(tlog) as client:
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
    with registry_client(tlog, transport) as client:
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
    sent = sent_requests(transport)
    assert Counter(sent) == Counter(expected)
    assert len(sent) == len(expected)

    # The async client sends the same requests (blobs concurrently).
    async_transport = RecordingTransport()

    async def scenario() -> Any:
        async with async_registry_client(tlog, async_transport) as client:
            return await client.verify_attestations(
                reference, signer.public_key(), predicate_type="vuln"
            )

    assert asyncio.run(scenario()).verified
    assert Counter(sent_requests(async_transport)) == Counter(expected)
