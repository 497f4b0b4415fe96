"""Signing and verification against a real docker-registry 2.8 and an in-process Rekor.

distribution 2.8 has no referrers API, so bundles are found through the ``sha256-<hex>``
tag-schema index — the path most registries in the field still need. Both clients are driven,
eight threads append to one ``.sig`` manifest at once, and the requests a verification sends
are counted with a recording transport: they must be the minimum for each format.
"""

from __future__ import annotations

import asyncio
from typing import Any

import attrs
import httpx
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
from imagesig.signatures.attach import signature_tag
from imagesig.signers import LocalSigner
from imagesig.testing import RekorServer

BUNDLE = SignatureFormat.BUNDLE
LEGACY = SignatureFormat.LEGACY
APPENDERS = 8


@pytest.mark.parametrize("fmt", [BUNDLE, LEGACY])
def test_sign_and_verify(
    registry: RunningRegistry,
    tlog: TransparencyLogOptions,
    signer: LocalSigner,
    name: str,
    fmt: SignatureFormat,
) -> None:
    with registry_client(tlog) as client:
        reference = push(client, f"{registry.host}/{name}:v1")
        signed = client.sign_image(reference, signer, format=fmt, annotations={"env": "prod"})
        result = client.verify_image(reference, [signer.public_key()], annotations={"env": "prod"})
    assert result.verified
    assert result.image == signed.image
    (check,) = result.signatures
    assert check.format is fmt
    assert signed.log_entry is not None
    assert check.log_index == signed.log_entry.log_index


@pytest.mark.parametrize("fmt", [BUNDLE, LEGACY])
def test_async_client_sign_and_verify(
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
            await client.sign_image(reference, signer, format=fmt)
            return await client.verify_image(reference, signer.public_key())

    result = asyncio.run(scenario())
    assert result.verified
    assert [check.format for check in result.signatures] == [fmt]


def test_concurrent_appenders_keep_every_signature(
    registry: RunningRegistry, tlog: TransparencyLogOptions, signer: LocalSigner, name: str
) -> None:
    """Eight threads, each with its own client, append to one ``.sig`` manifest at once."""
    with registry_client(tlog) as client:
        reference = push(client, f"{registry.host}/{name}:v1")

    def append(number: int) -> None:
        with registry_client(tlog) as own:
            own.sign_image(reference, signer, format=LEGACY, annotations={"n": str(number)})

    run_at_once(APPENDERS, append)
    with registry_client(tlog) as client:
        digest = client.resolve(reference).digest
        manifest = client.get_manifest(reference.repository.with_tag(signature_tag(digest)))
        assert isinstance(manifest, Manifest)
        assert len(manifest.layers) == APPENDERS
        result = client.verify_image(reference, [signer.public_key()])
    assert result.verified
    assert len(result.signatures) == APPENDERS
    assert all(check.ok for check in result.signatures)


@pytest.mark.parametrize("fmt", [BUNDLE, LEGACY])
def test_verify_sends_the_minimum_requests(
    registry: RunningRegistry,
    tlog: TransparencyLogOptions,
    rekor: RekorServer,
    signer: LocalSigner,
    name: str,
    fmt: SignatureFormat,
) -> None:
    with registry_client(tlog) as client:
        reference = push(client, f"{registry.host}/{name}:v1")
        signed = client.sign_image(reference, signer, format=fmt)
    digest = signed.image.digest
    assert digest is not None
    repo = reference.path
    sig = f"{repo}/manifests/{signature_tag(digest)}"
    fallback = f"{repo}/manifests/sha256-{digest.hex}"
    referrers = f"{repo}/referrers/{digest}"
    transport = RecordingTransport()
    rekor.clear_requests()
    with registry_client(tlog, transport) as client:
        first = client.verify_image(reference, [signer.public_key()])
        first_requests = sent_requests(transport)
        transport.clear()
        second = client.verify_image(reference, [signer.public_key()])
        second_requests = sent_requests(transport)
        transport.clear()
        pinned = client.verify_image(reference.with_digest(digest), [signer.public_key()])
        pinned_requests = sent_requests(transport)
    assert first.verified
    assert second.verified
    assert pinned.verified
    assert rekor.requests == []  # the proofs travel with the signatures
    head = f"HEAD {repo}/manifests/v1 200"
    if fmt is BUNDLE:
        referrer = f"{repo}/manifests/{signed.signature.digest}"
        (layer,) = Manifest.parse(_manifest_raw(registry, referrer)).layers
        found = [
            f"GET {fallback} 200",
            f"GET {referrer} 200",
            f"GET {sig} 404",
            f"GET {repo}/blobs/{layer.digest} 200",
        ]
    else:
        (layer,) = Manifest.parse(_manifest_raw(registry, sig)).layers
        found = [f"GET {fallback} 404", f"GET {sig} 200", f"GET {repo}/blobs/{layer.digest} 200"]
    # First verification on a client: the registry is asked once whether it has the
    # referrers API (distribution 2.8 answers 404), then the tag-schema index is read.
    assert first_requests == [head, f"GET {referrers} 404", *found]
    assert second_requests == [head, *found]
    assert pinned_requests == found


def _manifest_raw(registry: RunningRegistry, path: str) -> bytes:
    response = httpx.get(
        f"{registry.url}/v2/{path}",
        headers={"Accept": "application/vnd.oci.image.manifest.v1+json"},
        trust_env=False,
    )
    response.raise_for_status()
    return response.content


def test_verify_a_signature_made_with_upload_off_needs_ignore(
    registry: RunningRegistry, tlog: TransparencyLogOptions, signer: LocalSigner, name: str
) -> None:
    with registry_client(tlog) as client:
        reference = push(client, f"{registry.host}/{name}:v1")
        client.sign_image(reference, signer, tlog=attrs.evolve(tlog, upload=False))
        strict = client.verify_image(reference, [signer.public_key()])
        relaxed = client.verify_image(
            reference, [signer.public_key()], tlog=attrs.evolve(tlog, ignore=True)
        )
    assert not strict.verified
    assert relaxed.verified
    assert relaxed.warnings == ("transparency log verification skipped (--insecure-ignore-tlog)",)
