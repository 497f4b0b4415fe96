"""Attestations other tools made, and attestations imagesig made checked by another tool.

* ``bundle-dsse-oci-attestation`` (``shared/vectors/cosign``): a bundle cosign attached to
  go-containerregistry's empty image, holding an in-toto v0.1 statement of cosign's ``custom``
  predicate type, signed keylessly and logged as a Rekor ``dsse`` entry. Its statement and
  subject check out as the vector's README states; attached as a referrer of that image,
  ``verify_attestations`` finds it, reads its statement and predicate type, passes the subject
  check and refuses it only because a key cannot stand in for a certificate identity. Attached
  to another image it fails on the subject, with that reason. Its envelope, written back as
  cosign v2 wrote ``.att`` layers, hashes to the ``envelopeHash`` its log entry records — the
  bytes an ``.att`` layer must hold for its entry to vouch for it.
* sigstore-js (``@sigstore/sign`` + ``@sigstore/oci``, driven by the scripts of
  ``tests/interop/sigstore_js``): a DSSE bundle it attaches is found and verified by
  ``verify_attestations`` (its statement has the predicate type of ``cosign sign``, the only
  one that harness writes, so that type is asked for), and attestations ``attest_image``
  attaches verify with ``@sigstore/verify``, with and without a transparency log. Skipped like
  the other sigstore-js tests when Node or the npm packages are missing.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from tests.support import cosign_vectors
from tests.support.cosign_vectors import (
    EMPTY_IMAGE_DIGEST,
    EMPTY_IMAGE_MANIFEST,
    KEYLESS_REASON,
    VECTORS,
    production_layout_client,
    read,
)
from tests.support.oci_content import repository_name
from tests.support.registry_server import (
    PushedImage,
    RunningRegistry,
    push_test_image,
    start_registry,
)

from imagesig import (
    AttestationStatus,
    Client,
    SignatureFormat,
    TransparencyLogOptions,
    attest_image,
    verify_attestations,
)
from imagesig.oci.credentials import StaticKeychain
from imagesig.oci.model import Manifest
from imagesig.reference import Repository
from imagesig.signatures.attach import AttachmentStorage
from imagesig.signatures.bundle import Bundle
from imagesig.signatures.intoto import (
    COSIGN_CUSTOM_PREDICATE_TYPE,
    COSIGN_SIGN_PREDICATE_TYPE,
    SLSA_PROVENANCE_V1_PREDICATE_TYPE,
    STATEMENT_TYPE_V01,
    Statement,
)
from imagesig.signers import LocalSigner, PublicKey
from imagesig.testing import RekorServer
from imagesig.tlog import TrustedRoot
from imagesig.tlog.verify import ExpectedEntry, verify_log_entry

VECTOR = "bundle-dsse-oci-attestation/oci-attestation.sigstore.json"
REPO = Repository.parse("127.0.0.1:60943/repo")

needs_vectors = pytest.mark.skipif(not VECTORS.is_dir(), reason=f"vectors not found at {VECTORS}")


def leaf_key(bundle: Bundle) -> PublicKey:
    der = bundle.verification_material.leaf_certificate
    assert der is not None
    return PublicKey(x509.load_der_x509_certificate(der).public_key())  # type: ignore[arg-type]


@pytest.fixture
def layout_client(tmp_path: Path) -> Iterator[Client]:
    with production_layout_client(tmp_path) as opened:
        yield opened


def push_manifest(client: Client, raw: bytes, tag: str) -> Manifest:
    return cosign_vectors.push_manifest(client, REPO, raw, tag)


def attach(client: Client, subject: Manifest, bundle: bytes) -> None:
    cosign_vectors.attach_bundle(client, REPO, subject, bundle)


# -- the cosign vector ------------------------------------------------------------------------


@needs_vectors
def test_vector_statement_and_subject_check_out() -> None:
    bundle = Bundle.parse(read(VECTOR))
    envelope = bundle.dsse_envelope
    assert envelope is not None
    assert envelope.payload_type == "application/vnd.in-toto+json"
    statement = Statement.parse(envelope.payload)
    assert statement.type == STATEMENT_TYPE_V01
    assert statement.predicate_type == COSIGN_CUSTOM_PREDICATE_TYPE
    (subject,) = statement.subjects
    assert subject.name == "127.0.0.1:60943/repo"
    assert dict(subject.digest) == {"sha256": EMPTY_IMAGE_DIGEST.removeprefix("sha256:")}
    assert "sha256:" + hashlib.sha256(EMPTY_IMAGE_MANIFEST).hexdigest() == EMPTY_IMAGE_DIGEST
    assert leaf_key(bundle).verify(envelope.signatures[0].sig, envelope.pae_bytes())
    (entry,) = bundle.log_entries()
    body = json.loads(entry.body)
    assert body["kind"] == "dsse"
    assert body["spec"]["payloadHash"]["value"] == hashlib.sha256(envelope.payload).hexdigest()


@needs_vectors
def test_vector_envelope_in_att_layer_form_hashes_to_the_logged_envelope() -> None:
    """An ``.att`` layer must hold the logged bytes; cosign v2's form reproduces them."""
    bundle = Bundle.parse(read(VECTOR))
    envelope = bundle.dsse_envelope
    assert envelope is not None
    (entry,) = bundle.log_entries()
    layer = envelope.to_json()  # go-securesystemslib order, as cosign v2 wrote .att layers
    assert (
        hashlib.sha256(layer).hexdigest()
        == (json.loads(entry.body)["spec"]["envelopeHash"]["value"])
    )
    certificate = bundle.verification_material.leaf_certificate
    assert certificate is not None
    pem = x509.load_der_x509_certificate(certificate).public_bytes(serialization.Encoding.PEM)
    root = TrustedRoot.from_file(VECTORS / "trust" / "trusted_root_pgi.json")
    verified = verify_log_entry(
        entry,
        root,
        ExpectedEntry.dsse(
            signature=envelope.signatures[0].sig,
            public_key_pem=pem,
            payload=envelope.payload,
            envelope=layer,
        ),
    )
    assert (verified.integrated_time, verified.kind) == (1740770291, "dsse")


@needs_vectors
def test_vector_is_found_on_its_image_with_its_statement(layout_client: Client) -> None:
    empty = push_manifest(layout_client, EMPTY_IMAGE_MANIFEST, "empty")
    assert str(empty.digest) == EMPTY_IMAGE_DIGEST
    raw = read(VECTOR)
    attach(layout_client, empty, raw)
    key = leaf_key(Bundle.parse(raw))

    result = layout_client.verify_attestations(
        REPO.with_tag("empty"), [key], predicate_type="custom"
    )
    assert not result.verified
    (check,) = result.attestations
    assert check.format is SignatureFormat.BUNDLE
    assert check.status is AttestationStatus.FAILED
    # The subject matched (that check comes first); a key cannot stand in for the identity.
    assert check.reason == KEYLESS_REASON
    assert check.predicate_type == COSIGN_CUSTOM_PREDICATE_TYPE
    assert check.statement is not None
    assert check.statement.subject_matches(empty.digest)
    assert result.failure_summary().endswith(f"verified: {KEYLESS_REASON}")

    tree = layout_client.list_attachments(REPO.with_tag("empty"))
    (listed,) = tree.attestations
    assert listed.storage is AttachmentStorage.REFERRER
    assert listed.predicate_type == COSIGN_CUSTOM_PREDICATE_TYPE


@needs_vectors
def test_vector_on_another_image_fails_on_the_subject(layout_client: Client) -> None:
    other = push_manifest(layout_client, read("legacy-key-rekor/image-manifest.json"), "other")
    raw = read(VECTOR)
    attach(layout_client, other, raw)
    result = layout_client.verify_attestations(
        REPO.with_tag("other"), [leaf_key(Bundle.parse(raw))], predicate_type="custom"
    )
    assert not result.verified
    (check,) = result.attestations
    assert check.reason == (
        f"the in-toto statement's subject is {EMPTY_IMAGE_DIGEST}, not the verified image "
        f"{other.digest}"
    )
    assert check.predicate_type == COSIGN_CUSTOM_PREDICATE_TYPE


# -- sigstore-js ------------------------------------------------------------------------------

try:  # the harness of tests/interop/test_sigstore_js.py (Node project, installer, helpers)
    from tests.interop.test_sigstore_js import (
        SigstoreJs,
        attach_from_js,
        fetch_bundle,
        sigstore_js,
        verify_in_js,
    )
except ImportError as exc:  # pragma: no cover - only while that harness is missing
    _HARNESS_ERROR = str(exc)

    @pytest.fixture
    def sigstore_js() -> Any:  # type: ignore[no-redef]
        pytest.skip(f"the sigstore-js harness is not available: {_HARNESS_ERROR}")


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRegistry]:
    """A plain-HTTP docker-registry on 127.0.0.1 (no referrers API: the index tag is used)."""
    with start_registry(tmp_path_factory.mktemp("registry-attest-js")) as running:
        yield running


@pytest.fixture
def registry_client(registry: RunningRegistry) -> Iterator[Client]:
    with Client(
        insecure_registries=[registry.host], keychain=StaticKeychain(), trust_env=False
    ) as opened:
        yield opened


@pytest.fixture
def image(registry: RunningRegistry, request: pytest.FixtureRequest) -> PushedImage:
    repository = "attest/" + repository_name(request.node.name)
    with httpx.Client(trust_env=False) as http:
        return push_test_image(
            http, registry.url, repository, layers=(f"{request.node.name}\n".encode(),)
        )


def pinned(registry: RunningRegistry, image: PushedImage) -> str:
    return f"{registry.host}/{image.repository}@{image.digest}"


@pytest.mark.registry
def test_dsse_bundle_from_sigstore_js_is_found_and_verified(
    sigstore_js: SigstoreJs,
    registry: RunningRegistry,
    image: PushedImage,
    registry_client: Client,
) -> None:
    signer = LocalSigner.generate()
    with RekorServer() as rekor:
        attached = attach_from_js(sigstore_js, registry, image, signer, "dsse", rekorURL=rekor.url)
        tlog = TransparencyLogOptions(
            rekor_url=rekor.url, trusted_root=rekor.trusted_root(), offline=True
        )
        result = verify_attestations(
            pinned(registry, image),
            [signer.public_key()],
            predicate_type=COSIGN_SIGN_PREDICATE_TYPE,
            tlog=tlog,
            client=registry_client,
        )
        not_asked = verify_attestations(
            pinned(registry, image),
            [signer.public_key()],
            predicate_type="custom",
            tlog=tlog,
            client=registry_client,
        )
    assert attached["bundle"]["dsseEnvelope"]["payloadType"] == "application/vnd.in-toto+json"
    assert result.verified, result.to_dict()
    (check,) = result.attestations
    assert check.status is AttestationStatus.VERIFIED
    assert check.statement is not None
    assert str(check.statement.subjects[0].digest["sha256"]) == image.digest.split(":")[1]
    assert check.log_index == int(
        attached["bundle"]["verificationMaterial"]["tlogEntries"][0].get("logIndex", "0")
    )
    # The same bundle is an image signature to anyone asking for another type.
    assert not not_asked.verified
    assert not_asked.attestations == ()


@pytest.mark.registry
@pytest.mark.parametrize("logged", [False, True])
def test_attestation_from_imagesig_verifies_in_sigstore_js(
    sigstore_js: SigstoreJs,
    registry: RunningRegistry,
    image: PushedImage,
    registry_client: Client,
    logged: bool,
) -> None:
    signer = LocalSigner.generate()
    predicate = {"runDetails": {"builder": {"id": "https://ci.example.com/builder"}}}
    with RekorServer() as rekor:
        tlog = (
            TransparencyLogOptions(rekor_url=rekor.url, trusted_root=rekor.trusted_root())
            if logged
            else TransparencyLogOptions(upload=False)
        )
        attested = attest_image(
            pinned(registry, image),
            predicate,
            "slsaprovenance1",
            signer=signer,
            tlog=tlog,
            client=registry_client,
        )
        bundle = fetch_bundle(registry, image.repository, str(attested.attestation.digest))
        outcome = verify_in_js(
            sigstore_js,
            bundle,
            signer.public_key().pem,
            image.digest,
            rekor=rekor if logged else None,
        )
        wrong_image = verify_in_js(
            sigstore_js,
            bundle,
            signer.public_key().pem,
            "sha256:" + hashlib.sha256(b"another image").hexdigest(),
        )
    assert outcome["verified"], outcome
    assert outcome["content"] == "dsseEnvelope"
    assert not wrong_image["verified"]
    statement = json.loads(base64.b64decode(json.loads(bundle)["dsseEnvelope"]["payload"]))
    assert statement["predicateType"] == SLSA_PROVENANCE_V1_PREDICATE_TYPE
