"""Signing and verification end to end on an OCI layout, with an in-process Rekor.

Every test signs real images in a fresh :class:`OCILayoutStore` (one per test) and logs in a
:class:`RekorServer` (one per worker), then verifies — and tampers with what was stored to
check that each forgery is refused with a reason naming what is wrong. Scenarios from the
advisories catalogue are named by their number there.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import itertools
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import attrs
import pytest
from tests.support.signing import LAYOUT_REPO, digest_of, push_image

from imagesig import (
    AsyncClient,
    Client,
    OCILayoutStore,
    SignatureFormat,
    TransparencyLogOptions,
    VerificationError,
)
from imagesig.errors import (
    ConcurrentUpdateError,
    PasswordRequiredError,
    SignerError,
    SizeLimitExceededError,
    UnknownLogError,
    UnknownSignerSchemeError,
)
from imagesig.oci.model import Descriptor, Manifest
from imagesig.reference import Digest, ImageReference, Repository
from imagesig.signatures.attach import (
    LOG_BUNDLE_ANNOTATION,
    SIGNATURE_ANNOTATION,
    bundle_referrer_manifest,
    signature_layer,
    signature_manifest,
    signature_tag,
)
from imagesig.signatures.bundle import (
    BUNDLE_V03_MEDIA_TYPE,
    Bundle,
    MessageSignature,
    VerificationMaterial,
    cosign_key_hint,
)
from imagesig.signatures.intoto import COSIGN_SIGN_PREDICATE_TYPE
from imagesig.signatures.result import SignatureCheck, VerificationResult
from imagesig.signatures.verify import TLOG_SKIPPED_WARNING
from imagesig.signers import LocalSigner, write_key_pair
from imagesig.testing import RekorServer

BUNDLE = SignatureFormat.BUNDLE
LEGACY = SignatureFormat.LEGACY
FORMATS = [BUNDLE, LEGACY]
REPO = LAYOUT_REPO


# -- fixtures and helpers -------------------------------------------------------------------


def sig_manifest(client: Client, digest: Digest) -> Manifest:
    found = client.get_manifest(REPO.with_tag(signature_tag(digest)))
    assert isinstance(found, Manifest)
    return found


def write_sig_manifest(client: Client, digest: Digest, layers: list[tuple[Descriptor, bytes]]):
    """Replace the ``.sig`` manifest of ``digest`` with these (layer, payload) pairs."""
    for _layer, payload in layers:
        client.push_blob(REPO, payload)
    manifest, config = signature_manifest([layer for layer, _ in layers])
    client.push_blob(REPO, config)
    client.push_manifest(REPO, manifest, tag=signature_tag(digest))


def legacy_layers(client: Client, digest: Digest) -> list[tuple[Descriptor, bytes]]:
    manifest = sig_manifest(client, digest)
    return [(layer, client.get_blob(REPO, layer.digest)) for layer in manifest.layers]


def referrer_bundles(client: Client, digest: Digest) -> list[tuple[Manifest, bytes]]:
    found = []
    for descriptor in client.referrers(REPO.with_digest(digest)):
        manifest = client.get_manifest(REPO.with_digest(descriptor.digest))
        assert isinstance(manifest, Manifest)
        found.append((manifest, client.get_blob(REPO, manifest.layers[0].digest)))
    return found


_CREATED = itertools.count()


def attach_bundle(client: Client, subject: ImageReference, bundle: bytes) -> None:
    """Attach ``bundle`` as one more referrer of ``subject`` (a distinct manifest each time)."""
    descriptor = client.resolve(subject)
    created = datetime(2025, 1, 1, tzinfo=timezone.utc) + timedelta(seconds=next(_CREATED))
    manifest = bundle_referrer_manifest(
        bundle, descriptor, predicate_type=COSIGN_SIGN_PREDICATE_TYPE, created=created
    )
    client.push_blob(REPO, b"{}")
    client.push_blob(REPO, bundle)
    client.push_manifest(REPO, manifest)


def edit_bundle(raw: bytes, edit: Any) -> bytes:
    document = json.loads(raw)
    edit(document)
    return json.dumps(document).encode()


def only(result: VerificationResult) -> SignatureCheck:
    assert len(result.signatures) == 1, result.signatures
    return result.signatures[0]


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


# -- the happy paths --------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_sign_then_verify_with_log_proof(
    client: Client, signer: LocalSigner, fmt: SignatureFormat
) -> None:
    reference = push_image(client, "happy")
    signed = client.sign_image(reference, signer, format=fmt, annotations={"env": "prod"})
    digest = digest_of(client, reference)
    assert signed.image == reference.with_digest(digest)
    assert signed.format is fmt
    assert signed.log_entry is not None

    result = client.verify_image(reference, [signer.public_key()], annotations={"env": "prod"})
    assert result.verified
    assert bool(result)
    assert result.image == reference.with_digest(digest)
    assert result.digest == digest
    check = only(result)
    assert check == SignatureCheck(
        fmt,
        signer.public_key().key_id,
        True,
        "verified",
        check.location,
        log_index=signed.log_entry.log_index,
        integrated_time=signed.log_entry.integrated_time,
    )
    assert result.warnings == ()
    assert result.verified_key_ids == (signer.public_key().key_id,)
    result.raise_for_failure()


def test_both_formats_are_found_and_listed(client: Client, signer: LocalSigner) -> None:
    reference = push_image(client, "both")
    client.sign_image(reference, signer, format=BUNDLE)
    client.sign_image(reference, signer, format=LEGACY)
    result = client.verify_image(reference, signer.public_key())
    assert [check.format for check in result.signatures] == [BUNDLE, LEGACY]
    assert all(check.ok for check in result.signatures)
    listed = client.list_signatures(reference)
    assert [item.format for item in listed] == [BUNDLE, LEGACY]
    assert all(item.error is None and item.content for item in listed)
    digest = digest_of(client, reference)
    assert client.triangulate(reference) == REPO.with_tag(f"sha256-{digest.hex}.sig")
    assert client.triangulate(reference, format="bundle") == REPO.with_tag(f"sha256-{digest.hex}")


def test_referrer_manifest_has_cosign_shape(client: Client, signer: LocalSigner) -> None:
    reference = push_image(client, "shape")
    signed = client.sign_image(reference, signer)
    manifest = client.get_manifest(REPO.with_digest(signed.signature.digest))
    document = json.loads(manifest.raw)
    assert list(document) == [
        "schemaVersion",
        "mediaType",
        "config",
        "layers",
        "annotations",
        "subject",
        "artifactType",
    ]
    assert document["config"] == {
        "mediaType": "application/vnd.oci.empty.v1+json",
        "size": 2,
        "digest": "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
        "artifactType": BUNDLE_V03_MEDIA_TYPE,
    }
    assert [list(layer) for layer in document["layers"]] == [["mediaType", "size", "digest"]]
    assert document["layers"][0]["mediaType"] == BUNDLE_V03_MEDIA_TYPE
    annotations = document["annotations"]
    assert list(annotations) == [
        "dev.sigstore.bundle.content",
        "dev.sigstore.bundle.predicateType",
        "org.opencontainers.image.created",
    ]
    assert annotations["dev.sigstore.bundle.content"] == "dsse-envelope"
    assert annotations["dev.sigstore.bundle.predicateType"] == COSIGN_SIGN_PREDICATE_TYPE
    assert len(annotations["org.opencontainers.image.created"]) == len("2025-02-28T19:18:11Z")
    subject = client.resolve(reference)
    assert document["subject"] == {
        "mediaType": subject.media_type,
        "size": subject.size,
        "digest": str(subject.digest),
    }
    assert document["artifactType"] == BUNDLE_V03_MEDIA_TYPE
    bundle = Bundle.parse(client.get_blob(REPO, manifest.layers[0].digest))
    assert bundle.verification_material.public_key_hint == cosign_key_hint(signer.public_key().der)
    assert len(bundle.tlog_entries) == 1


def test_sig_manifest_has_cosign_shape(client: Client, signer: LocalSigner) -> None:
    reference = push_image(client, "sig-shape")
    signed = client.sign_image(reference, signer, format=LEGACY)
    digest = digest_of(client, reference)
    manifest = sig_manifest(client, digest)
    assert manifest.digest == signed.signature.digest
    document = json.loads(manifest.raw)
    assert list(document) == ["schemaVersion", "mediaType", "config", "layers"]
    (layer,) = document["layers"]
    assert list(layer) == ["mediaType", "size", "digest", "annotations"]
    assert layer["mediaType"] == "application/vnd.dev.cosign.simplesigning.v1+json"
    assert list(layer["annotations"]) == [SIGNATURE_ANNOTATION, LOG_BUNDLE_ANNOTATION]
    config = client.get_blob(REPO, manifest.config.digest)
    assert config == (
        b'{"architecture":"","created":"0001-01-01T00:00:00Z","history":[{"created":'
        b'"0001-01-01T00:00:00Z"}],"os":"","rootfs":{"type":"layers","diff_ids":["'
        + layer["digest"].encode()
        + b'"]},"config":{}}'
    )
    assert len(config) == 233
    payload = client.get_blob(REPO, Digest.parse(layer["digest"]))
    assert payload == (
        b'{"critical":{"identity":{"docker-reference":"registry.example.com/team/app"},'
        b'"image":{"docker-manifest-digest":"' + str(digest).encode() + b'"},"type":'
        b'"cosign container image signature"},"optional":null}'
    )


def test_async_client_signs_and_verifies(
    tmp_path: Path, tlog: TransparencyLogOptions, signer: LocalSigner
) -> None:
    with Client(stores={"*": OCILayoutStore(tmp_path)}, tlog=tlog) as client:
        reference = push_image(client, "async")

    async def scenario() -> VerificationResult:
        async with AsyncClient(stores={"*": OCILayoutStore(tmp_path)}, tlog=tlog) as client:
            await client.sign_image(reference, signer, format=BUNDLE)
            await client.sign_image(reference, signer, format=LEGACY)
            assert len(await client.list_signatures(reference)) == 2
            return await client.verify_image(reference, [signer.public_key()])

    result = asyncio.run(scenario())
    assert result.verified
    assert [check.ok for check in result.signatures] == [True, True]


def test_signer_and_keys_from_files(
    client: Client, signer: LocalSigner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key_path, pub_path = tmp_path / "cosign.key", tmp_path / "cosign.pub"
    write_key_pair(key_path, pub_path, signer, password="s3cret")
    monkeypatch.delenv("COSIGN_PASSWORD", raising=False)
    reference = push_image(client, "files")
    client.sign_image(reference, str(key_path), password="s3cret", format=LEGACY)
    monkeypatch.setenv("COSIGN_PASSWORD", "s3cret")
    client.sign_image(reference, f"file://{key_path}")
    for keys in ([str(pub_path)], [pub_path], [f"file://{pub_path}"], pub_path.read_bytes()):
        result = client.verify_image(reference, keys)
        assert [check.ok for check in result.signatures] == [True, True], keys
    monkeypatch.delenv("COSIGN_PASSWORD")
    with pytest.raises(PasswordRequiredError):
        client.sign_image(reference, key_path)
    with pytest.raises(UnknownSignerSchemeError):
        client.sign_image(reference, "awskms:///arn:aws:kms:us-east-1:1:key/k")


def test_result_rendering_and_raise_for_failure(client: Client, signer: LocalSigner) -> None:
    reference = push_image(client, "render")
    client.sign_image(reference, signer, format=LEGACY)
    result = client.verify_image(reference, [signer.public_key()], annotations={"env": "<x>"})
    assert not result.verified
    data = result.to_dict()
    assert list(data) == ["image", "digest", "verified", "signatures", "warnings"]
    assert list(data["signatures"][0]) == [
        "format",
        "ok",
        "reason",
        "key_id",
        "location",
        "log_index",
        "integrated_time",
    ]
    assert json.loads(json.dumps(data)) == data
    page = result._repr_html_()
    assert "<table>" in page
    assert "NOT verified" in page
    assert "&lt;x&gt;" in page
    assert "verified=False" in repr(result)
    with pytest.raises(VerificationError) as raised:
        result.raise_for_failure()
    assert raised.value.result is result
    assert "annotation env" in str(raised.value)


def test_unsigned_image_is_not_verified(client: Client, signer: LocalSigner) -> None:
    reference = push_image(client, "unsigned")
    result = client.verify_image(reference, [signer.public_key()])
    assert not result.verified
    assert result.signatures == ()
    assert "no signatures found" in result.failure_summary()


def test_tag_is_resolved_once_and_result_is_pinned(
    tmp_path: Path, tlog: TransparencyLogOptions, signer: LocalSigner
) -> None:
    """Kyverno GHSA-m3cq-xcx9-3gvm (catalogue 19/20): verify and report the same digest."""

    class CountingStore(OCILayoutStore):
        resolved = 0

        def resolve(self, reference: ImageReference) -> Descriptor:
            CountingStore.resolved += 1
            return super().resolve(reference)

    with Client(stores={"*": CountingStore(tmp_path)}, tlog=tlog) as client:
        reference = push_image(client, "pinned")
        client.sign_image(reference, signer, format=LEGACY)
        digest = digest_of(client, reference)
        CountingStore.resolved = 0
        result = client.verify_image(reference, signer.public_key())
        assert CountingStore.resolved == 1
        assert result.verified
        assert result.image.digest == digest
        # A digest reference is not resolved at all.
        CountingStore.resolved = 0
        assert client.verify_image(reference.with_digest(digest), signer.public_key()).verified
        assert CountingStore.resolved == 0


# -- transparency log -------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_log_proof_is_required_by_default(
    client: Client, signer: LocalSigner, tlog: TransparencyLogOptions, fmt: SignatureFormat
) -> None:
    reference = push_image(client, "no-log")
    unlogged = attrs.evolve(tlog, upload=False)
    signed = client.sign_image(reference, signer, format=fmt, tlog=unlogged)
    assert signed.log_entry is None
    check = only(client.verify_image(reference, [signer.public_key()]))
    assert not check.ok
    assert check.key_id == signer.public_key().key_id
    if fmt is BUNDLE:
        assert check.reason == "the bundle carries no transparency-log entry"
    else:
        assert check.reason.startswith("transparency log: no entry in ")


@pytest.mark.parametrize("fmt", FORMATS)
def test_ignoring_the_log_is_visible(
    client: Client, signer: LocalSigner, tlog: TransparencyLogOptions, fmt: SignatureFormat
) -> None:
    reference = push_image(client, "ignore")
    client.sign_image(reference, signer, format=fmt, tlog=attrs.evolve(tlog, upload=False))
    result = client.verify_image(
        reference, [signer.public_key()], tlog=attrs.evolve(tlog, ignore=True)
    )
    assert result.verified
    assert TLOG_SKIPPED_WARNING in result.warnings
    assert only(result).log_index is None


@pytest.mark.parametrize("fmt", FORMATS)
def test_offline_verification_uses_only_attached_proofs(
    client: Client, signer: LocalSigner, rekor: RekorServer, fmt: SignatureFormat
) -> None:
    reference = push_image(client, "offline")
    client.sign_image(reference, signer, format=fmt)
    rekor.clear_requests()
    offline = attrs.evolve(client.tlog, offline=True)
    assert client.verify_image(reference, [signer.public_key()], tlog=offline).verified
    assert rekor.requests == []


def test_legacy_signature_without_attached_entry_is_found_online(
    client: Client, signer: LocalSigner, rekor: RekorServer
) -> None:
    reference = push_image(client, "online")
    client.sign_image(reference, signer, format=LEGACY)
    digest = digest_of(client, reference)
    ((layer, payload),) = legacy_layers(client, digest)
    stripped = attrs.evolve(
        layer, annotations={SIGNATURE_ANNOTATION: layer.annotations[SIGNATURE_ANNOTATION]}
    )
    write_sig_manifest(client, digest, [(stripped, payload)])
    rekor.clear_requests()
    online = only(client.verify_image(reference, [signer.public_key()]))
    assert online.ok
    assert online.log_index is not None
    assert next(request.path for request in rekor.requests) == "/api/v1/index/retrieve"
    offline = attrs.evolve(client.tlog, offline=True)
    check = only(client.verify_image(reference, [signer.public_key()], tlog=offline))
    assert not check.ok
    assert "offline verification does not search the log" in check.reason


def test_entry_from_an_untrusted_log_is_refused(
    client: Client, signer: LocalSigner, tlog: TransparencyLogOptions
) -> None:
    reference = push_image(client, "untrusted-log")
    client.sign_image(reference, signer, format=LEGACY)
    with RekorServer() as stranger:
        other_root = attrs.evolve(tlog, trusted_root=stranger.trusted_root())
        check = only(client.verify_image(reference, [signer.public_key()], tlog=other_root))
    assert not check.ok
    assert check.reason.startswith("transparency log: no transparency log with id")


def test_sign_refuses_an_entry_the_trusted_root_does_not_vouch_for(
    client: Client, signer: LocalSigner, tlog: TransparencyLogOptions
) -> None:
    reference = push_image(client, "unvouched")
    with RekorServer() as stranger:
        wrong_root = attrs.evolve(tlog, trusted_root=stranger.trusted_root())
        for fmt in FORMATS:
            with pytest.raises(UnknownLogError):
                client.sign_image(reference, signer, format=fmt, tlog=wrong_root)
    assert client.list_signatures(reference) == []


# -- tampering --------------------------------------------------------------------------------


def test_legacy_payload_byte_changed(client: Client, signer: LocalSigner) -> None:
    reference = push_image(client, "payload-byte")
    client.sign_image(reference, signer, format=LEGACY)
    digest = digest_of(client, reference)
    ((layer, payload),) = legacy_layers(client, digest)
    forged = payload.replace(b"team/app", b"team/apq")
    write_sig_manifest(
        client,
        digest,
        [
            (
                Descriptor.for_content(
                    forged, layer.media_type, annotations=dict(layer.annotations)
                ),
                forged,
            )
        ],
    )
    check = only(client.verify_image(reference, [signer.public_key()]))
    assert not check.ok
    assert check.reason == "the signature over the payload does not verify with the given key"


def refused(result: VerificationResult) -> list[str]:
    return [check.reason for check in result.signatures if not check.ok]


def test_bundle_payload_byte_changed(client: Client, signer: LocalSigner) -> None:
    reference = push_image(client, "bundle-byte")
    client.sign_image(reference, signer)
    ((_manifest, raw),) = referrer_bundles(client, digest_of(client, reference))

    def edit(document: dict[str, Any]) -> None:
        envelope = document["dsseEnvelope"]
        statement = base64.b64decode(envelope["payload"])
        envelope["payload"] = b64(statement.replace(b'"predicate":{}', b'"predicate":{"a":1}'))

    attach_bundle(client, reference, edit_bundle(raw, edit))
    result = client.verify_image(reference, [signer.public_key()])
    assert refused(result) == ["the DSSE signature does not verify with the given key"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_signature_byte_changed(client: Client, signer: LocalSigner, fmt: SignatureFormat) -> None:
    reference = push_image(client, "sig-byte")
    digest = digest_of(client, reference)
    client.sign_image(reference, signer, format=fmt)
    if fmt is LEGACY:
        ((layer, payload),) = legacy_layers(client, digest)
        signature = bytearray(base64.b64decode(layer.annotations[SIGNATURE_ANNOTATION]))
        signature[-1] ^= 1
        forged_annotations = {**layer.annotations, SIGNATURE_ANNOTATION: b64(bytes(signature))}
        write_sig_manifest(
            client, digest, [(attrs.evolve(layer, annotations=forged_annotations), payload)]
        )
        expected = ["the signature over the payload does not verify with the given key"]
    else:
        ((_manifest, raw),) = referrer_bundles(client, digest)

        def edit(document: dict[str, Any]) -> None:
            item = document["dsseEnvelope"]["signatures"][0]
            signature = bytearray(base64.b64decode(item["sig"]))
            signature[-1] ^= 1
            item["sig"] = b64(bytes(signature))

        attach_bundle(client, reference, edit_bundle(raw, edit))
        expected = ["the DSSE signature does not verify with the given key"]
    assert refused(client.verify_image(reference, [signer.public_key()])) == expected


@pytest.mark.parametrize("fmt", FORMATS)
def test_required_annotation_mismatch(
    client: Client, signer: LocalSigner, fmt: SignatureFormat
) -> None:
    reference = push_image(client, "annotations")
    client.sign_image(reference, signer, format=fmt, annotations={"env": "prod", "team": "a"})
    assert client.verify_image(
        reference, [signer.public_key()], annotations={"env": "prod"}
    ).verified
    where = "the statement's subject" if fmt is BUNDLE else "the payload"
    check = only(client.verify_image(reference, [signer.public_key()], annotations={"env": "dev"}))
    assert check.reason == f"annotation env is required to be 'dev' but {where} has 'prod'"
    check = only(client.verify_image(reference, [signer.public_key()], annotations={"tier": "1"}))
    assert check.reason == f"annotation tier=1 is required but {where} does not have it"


def test_signature_moved_to_another_image_legacy(client: Client, signer: LocalSigner) -> None:
    """Catalogue 15: a valid signature of image A copied to image B's ``.sig`` tag."""
    first, second = push_image(client, "moved-a", "a"), push_image(client, "moved-b", "b")
    client.sign_image(first, signer, format=LEGACY)
    a, b = digest_of(client, first), digest_of(client, second)
    write_sig_manifest(client, b, legacy_layers(client, a))
    check = only(client.verify_image(second, [signer.public_key()]))
    assert not check.ok
    assert check.reason == f"the payload signs image {a}, not the verified image {b}"


def test_signature_moved_to_another_image_bundle(client: Client, signer: LocalSigner) -> None:
    """Catalogue 15 for bundles: A's bundle attached as a referrer of B."""
    first, second = push_image(client, "bmoved-a", "a"), push_image(client, "bmoved-b", "b")
    client.sign_image(first, signer)
    a, b = digest_of(client, first), digest_of(client, second)
    ((_manifest, raw),) = referrer_bundles(client, a)
    attach_bundle(client, second, raw)
    check = only(client.verify_image(second, [signer.public_key()]))
    assert not check.ok
    assert (
        check.reason
        == f"the in-toto statement's subject is sha256:{a.hex}, not the verified image {b}"
    )


def test_log_entry_spliced_from_another_signature_legacy(
    client: Client, signer: LocalSigner
) -> None:
    """Catalogues 1/24: sig1 carrying sig2's genuine Rekor bundle is refused."""
    reference = push_image(client, "splice")
    client.sign_image(reference, signer, format=LEGACY, annotations={"n": "1"})
    client.sign_image(reference, signer, format=LEGACY, annotations={"n": "2"})
    digest = digest_of(client, reference)
    (first, payload1), (second, _payload2) = legacy_layers(client, digest)
    spliced = attrs.evolve(
        first,
        annotations={
            SIGNATURE_ANNOTATION: first.annotations[SIGNATURE_ANNOTATION],
            LOG_BUNDLE_ANNOTATION: second.annotations[LOG_BUNDLE_ANNOTATION],
        },
    )
    write_sig_manifest(client, digest, [(spliced, payload1)])
    check = only(client.verify_image(reference, [signer.public_key()]))
    assert not check.ok
    assert check.reason.startswith("transparency log: log entry ")
    assert "records digest" in check.reason or "another signature" in check.reason


def test_log_entry_spliced_from_another_signature_bundle(
    client: Client, signer: LocalSigner
) -> None:
    """Catalogues 1/24: a bundle whose tlogEntries belong to another bundle is refused."""
    first, second = push_image(client, "bsplice-a", "a"), push_image(client, "bsplice-b", "b")
    client.sign_image(first, signer)
    client.sign_image(second, signer)
    ((_manifest_a, raw_a),) = referrer_bundles(client, digest_of(client, first))
    ((_manifest_b, raw_b),) = referrer_bundles(client, digest_of(client, second))
    entries_b = json.loads(raw_b)["verificationMaterial"]["tlogEntries"]

    def edit(document: dict[str, Any]) -> None:
        document["verificationMaterial"]["tlogEntries"] = entries_b

    attach_bundle(client, first, edit_bundle(raw_a, edit))
    # Listed with the genuine bundle (same signature, another entry): judged on its own.
    (reason,) = refused(client.verify_image(first, [signer.public_key()]))
    assert reason.startswith("transparency log: log entry ")
    assert "payloadHash" in reason


def test_payload_type_changed(client: Client, signer: LocalSigner) -> None:
    """Catalogue 20: the envelope's payloadType is changed, the signature kept."""
    reference = push_image(client, "payload-type")
    client.sign_image(reference, signer)
    other = push_image(client, "payload-type-b", "b")
    ((_manifest, raw),) = referrer_bundles(client, digest_of(client, reference))

    def edit(document: dict[str, Any]) -> None:
        document["dsseEnvelope"]["payloadType"] = "application/json"

    forged = edit_bundle(raw, edit)
    attach_bundle(client, other, forged)
    # Also under the right image, so the subject matches and only the type is wrong.
    attach_bundle(client, reference, forged)
    checks = client.verify_image(reference, [signer.public_key()]).signatures
    refused = [check for check in checks if not check.ok]
    assert [check.reason for check in refused] == [
        "the DSSE payloadType is 'application/json', not 'application/vnd.in-toto+json'"
    ]
    # And the signature really does not cover the altered encoding.
    envelope = Bundle.parse(forged).dsse_envelope
    assert envelope is not None
    assert not signer.public_key().verify(envelope.signatures[0].sig, envelope.pae_bytes())


@pytest.mark.parametrize("fmt", FORMATS)
def test_wrong_key(
    client: Client, signer: LocalSigner, other_signer: LocalSigner, fmt: SignatureFormat
) -> None:
    reference = push_image(client, "wrong-key")
    client.sign_image(reference, signer, format=fmt)
    check = only(client.verify_image(reference, [other_signer.public_key()]))
    assert not check.ok
    assert check.key_id is None
    what = "the DSSE signature" if fmt is BUNDLE else "the signature over the payload"
    assert check.reason == f"{what} does not verify with the given key"
    # With both keys it verifies, and says which key did.
    result = client.verify_image(reference, [other_signer, signer.public_key()])
    assert only(result).key_id == signer.public_key().key_id


@pytest.mark.parametrize("fmt", FORMATS)
def test_untrusted_valid_plus_trusted_invalid_does_not_verify(
    client: Client, signer: LocalSigner, other_signer: LocalSigner, fmt: SignatureFormat
) -> None:
    """Catalogue 19: never mix "some signature verified" with "some key is trusted"."""
    reference = push_image(client, "mix")
    digest = digest_of(client, reference)
    client.sign_image(reference, other_signer, format=fmt)  # valid, untrusted key
    if fmt is LEGACY:
        client.sign_image(reference, signer, format=LEGACY, annotations={"x": "y"})
        layers = legacy_layers(client, digest)
        layer, payload = layers[1]
        bad = bytearray(base64.b64decode(layer.annotations[SIGNATURE_ANNOTATION]))
        bad[5] ^= 0xFF
        layers[1] = (
            attrs.evolve(
                layer, annotations={**layer.annotations, SIGNATURE_ANNOTATION: b64(bytes(bad))}
            ),
            payload,
        )
        write_sig_manifest(client, digest, layers)
    else:
        other = push_image(client, "mix-b", "b")
        client.sign_image(other, signer)
        ((_manifest, raw),) = referrer_bundles(client, digest_of(client, other))
        attach_bundle(client, reference, raw)  # trusted key, but signs another image
    result = client.verify_image(reference, [signer.public_key()])
    assert not result.verified
    assert len(result.signatures) == 2
    assert not any(check.ok for check in result.signatures)


def test_too_many_signatures_in_sig_manifest(client: Client, signer: LocalSigner) -> None:
    """Catalogue 4: 101 valid signatures are refused as a whole, before any is read."""
    reference = push_image(client, "many")
    client.sign_image(
        reference, signer, format=LEGACY, tlog=attrs.evolve(client.tlog, upload=False)
    )
    digest = digest_of(client, reference)
    ((layer, payload),) = legacy_layers(client, digest)
    layers = [
        (attrs.evolve(layer, annotations={**layer.annotations, "n": str(i)}), payload)
        for i in range(101)
    ]
    write_sig_manifest(client, digest, layers)
    check = only(
        client.verify_image(
            reference, [signer.public_key()], tlog=attrs.evolve(client.tlog, ignore=True)
        )
    )
    assert not check.ok
    assert "lists 101 signatures, more than the limit of 100" in check.reason
    # 100 are fine.
    write_sig_manifest(client, digest, layers[:100])
    result = client.verify_image(
        reference, [signer.public_key()], tlog=attrs.evolve(client.tlog, ignore=True)
    )
    assert result.verified
    assert len(result.signatures) == 100


def test_too_many_layers_in_sig_manifest(client: Client, signer: LocalSigner) -> None:
    """Catalogues 3/6: 1001 layers are refused when the manifest is read."""
    reference = push_image(client, "layers")
    client.sign_image(reference, signer, format=BUNDLE)
    digest = digest_of(client, reference)
    payload = b"x"
    layers = [
        (
            Descriptor.for_content(
                payload,
                "application/vnd.dev.cosign.simplesigning.v1+json",
                annotations={"n": str(i)},
            ),
            payload,
        )
        for i in range(1001)
    ]
    for _layer, blob in layers[:1]:
        client.push_blob(REPO, blob)
    _manifest, config = signature_manifest([layers[0][0]])
    client.push_blob(REPO, config)
    document = json.loads(_manifest.raw)
    document["layers"] = [
        {
            "mediaType": layer.media_type,
            "size": layer.size,
            "digest": str(layer.digest),
            "annotations": dict(layer.annotations),
        }
        for layer, _blob in layers
    ]
    oversized = Manifest.parse(json.dumps(document).encode(), max_descriptors=2000)
    client.push_manifest(REPO, oversized, tag=signature_tag(digest))
    result = client.verify_image(reference, [signer.public_key()])
    assert result.verified  # the bundle is still judged on its own
    refused = [check for check in result.signatures if check.format is LEGACY]
    assert len(refused) == 1
    assert not refused[0].ok
    assert "1001 layers, more than the limit of 1000" in refused[0].reason
    with pytest.raises(SizeLimitExceededError, match="1000"):
        client.sign_image(reference, signer, format=LEGACY)


def test_too_many_signatures_in_both_places(client: Client, signer: LocalSigner) -> None:
    reference = push_image(client, "both-many")
    unlogged = attrs.evolve(client.tlog, upload=False)
    digest = digest_of(client, reference)
    client.sign_image(reference, signer, format=LEGACY, tlog=unlogged)
    ((layer, payload),) = legacy_layers(client, digest)
    write_sig_manifest(
        client,
        digest,
        [
            (attrs.evolve(layer, annotations={**layer.annotations, "n": str(i)}), payload)
            for i in range(60)
        ],
    )
    for i in range(41):
        client.sign_image(reference, signer, tlog=unlogged, annotations={"n": str(i)})
    check = only(
        client.verify_image(
            reference, [signer.public_key()], tlog=attrs.evolve(unlogged, ignore=True)
        )
    )
    assert "101 signatures are attached to the image, more than the limit of 100" in check.reason


def test_duplicate_signatures_count_once(client: Client, signer: LocalSigner) -> None:
    """Catalogue 23: the same signature twice is one signature, one key."""
    reference = push_image(client, "dup")
    client.sign_image(reference, signer, format=LEGACY)
    digest = digest_of(client, reference)
    ((layer, payload),) = legacy_layers(client, digest)
    write_sig_manifest(client, digest, [(layer, payload), (layer, payload)])
    client.sign_image(reference, signer)
    ((_manifest, raw),) = referrer_bundles(client, digest)
    attach_bundle(client, reference, raw)  # the same bundle under a second referrer
    result = client.verify_image(reference, [signer.public_key()])
    assert result.verified
    assert [check.format for check in result.signatures] == [BUNDLE, LEGACY]
    assert "2 duplicate signatures counted once" in result.warnings
    assert result.verified_key_ids == (signer.public_key().key_id,)


def test_same_signature_is_not_appended_twice(
    client: Client, signer: LocalSigner, tlog: TransparencyLogOptions
) -> None:
    reference = push_image(client, "append-dedupe")
    unlogged = attrs.evolve(tlog, upload=False)
    first = client.sign_image(reference, signer, format=LEGACY, tlog=unlogged)
    second = client.sign_image(reference, signer, format=LEGACY, tlog=unlogged)
    assert first.signature.digest == second.signature.digest
    assert len(sig_manifest(client, digest_of(client, reference)).layers) == 1


def test_message_digest_must_be_the_image_digest(client: Client, signer: LocalSigner) -> None:
    """Catalogue 25: a message-signature bundle over the real manifest, lying messageDigest."""
    reference = push_image(client, "message-digest")
    manifest = client.get_manifest(reference)
    digest = manifest.digest
    signature = signer.sign(manifest.raw)

    def bundle(message_digest: bytes) -> bytes:
        return Bundle(
            BUNDLE_V03_MEDIA_TYPE,
            VerificationMaterial(public_key_hint=cosign_key_hint(signer.public_key().der)),
            message_signature=MessageSignature("SHA2_256", message_digest, signature),
        ).to_json()

    ignore = attrs.evolve(client.tlog, ignore=True)
    attach_bundle(client, reference, bundle(hashlib.sha256(b"something else").digest()))
    check = only(client.verify_image(reference, [signer.public_key()], tlog=ignore))
    assert not check.ok
    assert check.reason.startswith("the bundle's messageDigest is SHA2_256 ")
    assert check.reason.endswith(f"not the verified image {digest}")
    attach_bundle(client, reference, bundle(bytes.fromhex(digest.hex)))
    result = client.verify_image(reference, [signer.public_key()], tlog=ignore)
    assert [check.ok for check in result.signatures] == [False, True]


def test_unreadable_signature_does_not_stop_the_others(client: Client, signer: LocalSigner) -> None:
    reference = push_image(client, "unreadable")
    client.sign_image(reference, signer, format=LEGACY)
    digest = digest_of(client, reference)
    layers = legacy_layers(client, digest)
    missing = Descriptor.for_content(b"never stored", layers[0][0].media_type)
    manifest, config = signature_manifest([missing, layers[0][0]])
    client.push_blob(REPO, config)
    client.push_manifest(REPO, manifest, tag=signature_tag(digest))
    result = client.verify_image(reference, [signer.public_key()])
    assert result.verified
    assert not result.signatures[0].ok
    assert "could not be read" in result.signatures[0].reason


# -- concurrent appenders ---------------------------------------------------------------------


def test_sig_tag_append_redoes_an_update_another_writer_replaced(
    tmp_path: Path, tlog: TransparencyLogOptions, signer: LocalSigner, other_signer: LocalSigner
) -> None:
    """A writer in another process replaces the ``.sig`` manifest right after our write."""
    unlogged = attrs.evolve(tlog, upload=False)

    class RacingStore(OCILayoutStore):
        raced = False

        def put_manifest(
            self, repository: Repository, manifest: Any, *, tag: str | None = None
        ) -> Descriptor:
            written = super().put_manifest(repository, manifest, tag=tag)
            if tag is not None and tag.endswith(".sig") and not self.raced:
                self.raced = True
                # The other writer read the tag before our write: it knows only its own layer.
                payload = b'{"other":"writer"}'
                layer = signature_layer(payload, other_signer.sign(payload))
                theirs, config = signature_manifest([layer])
                self.put_blob(repository, payload)
                self.put_blob(repository, config)
                super().put_manifest(repository, theirs, tag=tag)
            return written

    store = RacingStore(tmp_path)
    with Client(stores={"*": store}, tlog=unlogged) as client:
        reference = push_image(client, "race")
        client.sign_image(reference, signer, format=LEGACY)
        assert store.raced
        layers = sig_manifest(client, digest_of(client, reference)).layers
        assert len(layers) == 2
        assert client.verify_image(
            reference, [signer.public_key()], tlog=attrs.evolve(unlogged, ignore=True)
        ).verified


def test_sig_tag_append_gives_up_after_bounded_attempts(
    tmp_path: Path, tlog: TransparencyLogOptions, signer: LocalSigner
) -> None:
    class AlwaysRacingStore(OCILayoutStore):
        def put_manifest(
            self, repository: Repository, manifest: Any, *, tag: str | None = None
        ) -> Descriptor:
            if tag is not None and tag.endswith(".sig"):
                payload = b'{"other":"writer"}'
                layer = signature_layer(payload, b"sig")
                manifest, config = signature_manifest([layer])
                self.put_blob(repository, payload)
                self.put_blob(repository, config)
            return super().put_manifest(repository, manifest, tag=tag)

    with Client(
        stores={"*": AlwaysRacingStore(tmp_path)}, tlog=attrs.evolve(tlog, upload=False)
    ) as client:
        reference = push_image(client, "always-race")
        with pytest.raises(ConcurrentUpdateError):
            client.sign_image(reference, signer, format=LEGACY)


def test_misbehaving_signer_is_caught(client: Client, signer: LocalSigner) -> None:
    class Garbage:
        name = "garbage"
        algorithm = signer.algorithm

        def public_key(self) -> Any:
            return signer.public_key()

        def sign(self, data: bytes) -> bytes:
            return b"\x30\x00"

    reference = push_image(client, "garbage")
    with pytest.raises(SignerError, match="does not verify"):
        client.sign_image(reference, Garbage())
    assert client.list_signatures(reference) == []
