"""Signatures real cosign made, stored where cosign stores them, verified by ``verify_image``.

* ``legacy-key-rekor``: a key-based signature with its offline Rekor bundle. Its layer (payload
  bytes and annotations, taken from containers/image's on-disk copy) is wrapped in a ``.sig``
  manifest next to the signed image manifest in an OCI layout; it must verify with
  ``cosign2.pub`` against the production Rekor key, and fail with any other key.
* ``bundle-dsse-oci-attestation``: a keyless bundle cosign attached to go-containerregistry's
  empty image. Attached as a referrer of that image it is found and its subject matches; a key
  cannot verify a certificate bundle, so the reason must say exactly that. Attached to another
  image it must fail on the subject.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from tests.support import cosign_vectors
from tests.support.cosign_vectors import (
    EMPTY_IMAGE_DIGEST,
    EMPTY_IMAGE_MANIFEST,
    KEYLESS_REASON,
    VECTORS,
    production_layout_client,
    read,
)

from imagesig import Client, SignatureFormat, TransparencyLogOptions
from imagesig.oci.model import Descriptor, Manifest
from imagesig.reference import Repository
from imagesig.signatures.attach import (
    signature_manifest,
    signature_tag,
)
from imagesig.signatures.bundle import Bundle
from imagesig.signatures.intoto import Statement
from imagesig.signers import PublicKey
from imagesig.tlog import TrustedRoot

CONTAINERS_IMAGE_MAGIC = b"\x00sigstore-json\n"
REPO = Repository.parse("192.168.64.2:5000/cosign-signed/key-1")

pytestmark = pytest.mark.skipif(not VECTORS.is_dir(), reason=f"vectors not found at {VECTORS}")


def certificate_key(path: str) -> PublicKey:
    return PublicKey(x509.load_pem_x509_certificate(read(path)).public_key())  # type: ignore[arg-type]


@pytest.fixture
def client(tmp_path: Path) -> Iterator[Client]:
    with production_layout_client(tmp_path) as opened:
        yield opened


def push_manifest(client: Client, raw: bytes, tag: str) -> Manifest:
    return cosign_vectors.push_manifest(client, REPO, raw, tag)


@pytest.fixture
def legacy_signed(client: Client) -> Manifest:
    """The signed image and its ``.sig`` manifest holding cosign's layer, in a layout."""
    image = push_manifest(client, read("legacy-key-rekor/image-manifest.json"), "signed")
    assert str(image.digest) == (
        "sha256:0489474da8ea22426ece86ace6c1c0026ab2fd3cdfbbd62b7e94650266c37d9a"
    )
    wrapped = read("legacy-key-rekor/signature-1.containers-image")
    assert wrapped.startswith(CONTAINERS_IMAGE_MAGIC)
    document = json.loads(wrapped[len(CONTAINERS_IMAGE_MAGIC) :])
    payload = base64.b64decode(document["payload"])
    layer = Descriptor.for_content(
        payload, document["mimeType"], annotations=document["annotations"]
    )
    sig, config = signature_manifest([layer])
    client.push_blob(REPO, payload)
    client.push_blob(REPO, config)
    client.push_manifest(REPO, sig, tag=signature_tag(image.digest))
    return image


def test_legacy_key_rekor_signature_verifies_with_its_key(
    client: Client, legacy_signed: Manifest
) -> None:
    keys = [PublicKey.from_pem(read("legacy-key-rekor/cosign2.pub"))]
    result = client.verify_image(REPO.with_tag("signed"), keys)
    assert result.verified, result.signatures
    (check,) = result.signatures
    assert check.format is SignatureFormat.LEGACY
    assert check.key_id == keys[0].key_id
    assert (check.log_index, check.integrated_time) == (11608800, 1674251859)
    assert result.digest == legacy_signed.digest
    assert result.warnings == ()
    # Also with the production Rekor key alone, as SIGSTORE_REKOR_PUBLIC_KEY would give it.
    rekor_key = TrustedRoot.from_rekor_public_key(read("trust/rekor-production.pub"))
    again = client.verify_image(
        REPO.with_tag("signed"),
        keys,
        tlog=TransparencyLogOptions(trusted_root=rekor_key, offline=True),
    )
    assert again.verified


def test_legacy_key_rekor_signature_fails_with_the_keyless_certificate_key(
    client: Client, legacy_signed: Manifest
) -> None:
    keys = [certificate_key("legacy-keyless/certificate.pem")]
    result = client.verify_image(REPO.with_tag("signed"), keys)
    assert not result.verified
    (check,) = result.signatures
    assert check.reason == "the signature over the payload does not verify with the given key"


def attach(client: Client, subject: Manifest, bundle: bytes) -> None:
    cosign_vectors.attach_bundle(client, REPO, subject, bundle)


def test_cosign_attestation_bundle_is_found_on_its_image(client: Client) -> None:
    empty = push_manifest(client, EMPTY_IMAGE_MANIFEST, "empty")
    assert str(empty.digest) == EMPTY_IMAGE_DIGEST
    bundle = read("bundle-dsse-oci-attestation/oci-attestation.sigstore.json")
    attach(client, empty, bundle)

    (found,) = client.list_signatures(REPO.with_tag("empty"))
    assert found.format is SignatureFormat.BUNDLE
    assert found.error is None
    assert found.content == bundle
    parsed = Bundle.parse(bundle)
    assert parsed.dsse_envelope is not None
    assert Statement.parse(parsed.dsse_envelope.payload).subject_matches(empty.digest)

    key = certificate_key_from_bundle(parsed)
    result = client.verify_image(REPO.with_tag("empty"), [key])
    assert not result.verified
    (check,) = result.signatures
    # The subject matched (that check comes first); a key cannot stand in for the identity.
    assert check.reason == KEYLESS_REASON


def certificate_key_from_bundle(bundle: Bundle) -> PublicKey:
    der = bundle.verification_material.leaf_certificate
    assert der is not None
    return PublicKey(x509.load_der_x509_certificate(der).public_key())  # type: ignore[arg-type]


def test_cosign_attestation_bundle_on_another_image_fails_on_the_subject(client: Client) -> None:
    other = push_manifest(client, read("legacy-key-rekor/image-manifest.json"), "other")
    bundle = read("bundle-dsse-oci-attestation/oci-attestation.sigstore.json")
    attach(client, other, bundle)
    key = certificate_key_from_bundle(Bundle.parse(bundle))
    result = client.verify_image(REPO.with_tag("other"), [key])
    assert not result.verified
    (check,) = result.signatures
    assert check.reason == (
        f"the in-toto statement's subject is {EMPTY_IMAGE_DIGEST}, not the verified image "
        f"{other.digest}"
    )
