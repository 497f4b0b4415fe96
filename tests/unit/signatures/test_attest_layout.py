"""Attestations end to end on an OCI layout, with an in-process Rekor.

Every test attests real images in a fresh :class:`OCILayoutStore` (one per test) and logs in a
:class:`RekorServer` (one per module), then verifies — and forges what was stored, to check
that each forgery is refused with a reason naming what is wrong. Hand-built attestations (for
the hostile cases) are signed with real keys, so that the check that refuses them is the one
meant. Scenarios from the advisories catalogue are named by their number there: cosign 2
(GHSA-vjxv-45g9-9296), cosign 9 (GHSA-w6c6-c85g-mmv6), sigstore-go 11 (GHSA-cq38-jh5f-37mq),
Kyverno 21 and 22, and the bad-input suite's DSSE items 20 to 23.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import itertools
import json
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import attrs
import pytest
from tests.support.signing import LAYOUT_REPO, digest_of, push_image, run_at_once

from imagesig import (
    AsyncClient,
    AttestationStatus,
    AttestationVerificationError,
    Client,
    OCILayoutStore,
    SignatureFormat,
    TransparencyLogOptions,
    attest_image,
    list_attachments,
    verify_attestations,
)
from imagesig.errors import (
    ManifestNotFoundError,
    SizeLimitExceededError,
    StatementError,
    UnknownLogError,
)
from imagesig.oci.model import OCI_EMPTY, Descriptor, Manifest
from imagesig.reference import Digest, ImageReference
from imagesig.signatures.attach import (
    LOG_BUNDLE_ANNOTATION,
    PREDICATE_TYPE_ANNOTATION,
    SIGNATURE_ANNOTATION,
    AttachmentKind,
    AttachmentStorage,
    attestation_layer,
    attestation_tag,
    bundle_referrer_manifest,
    signature_manifest,
)
from imagesig.signatures.bundle import (
    BUNDLE_MEDIA_TYPE_V02,
    BUNDLE_V03_MEDIA_TYPE,
    Bundle,
    MessageSignature,
    VerificationMaterial,
    cosign_key_hint,
)
from imagesig.signatures.dsse import (
    DSSE_ENVELOPE_MEDIA_TYPE,
    IN_TOTO_PAYLOAD_TYPE,
    Envelope,
    EnvelopeSignature,
    pae,
)
from imagesig.signatures.intoto import (
    COSIGN_CUSTOM_PREDICATE_TYPE,
    COSIGN_SIGN_PREDICATE_TYPE,
    COSIGN_VULN_PREDICATE_TYPE,
    SLSA_PROVENANCE_V1_PREDICATE_TYPE,
    SPDX_PREDICATE_TYPE,
    STATEMENT_TYPE_V01,
    STATEMENT_TYPE_V1,
)
from imagesig.signatures.predicates import SLSAProvenanceV1
from imagesig.signatures.result import AttestationCheck, AttestationVerificationResult
from imagesig.signatures.verify import TLOG_SKIPPED_WARNING
from imagesig.signers import LocalSigner
from imagesig.testing import RekorServer
from imagesig.tlog.client import RekorClient
from imagesig.tlog.entries import LogEntry, dsse_proposed_entry

BUNDLE = SignatureFormat.BUNDLE
LEGACY = SignatureFormat.LEGACY
FORMATS = [BUNDLE, LEGACY]
REPO = LAYOUT_REPO
PROVENANCE = {
    "buildDefinition": {
        "buildType": "https://ci.example.com/build/v1",
        "externalParameters": {"ref": "refs/tags/v1.4", "repository": "team/app"},
        "resolvedDependencies": [
            {"uri": "git+https://git.example.com/team/app", "digest": {"gitCommit": "abc123"}}
        ],
    },
    "runDetails": {"builder": {"id": "https://ci.example.com/builder"}},
}
VULN = {"scanner": {"uri": "pkg:scanner", "version": "1.0", "result": {}}}


# -- fixtures and helpers -------------------------------------------------------------------


def statement(
    digest: Digest | str,
    predicate_type: str = SLSA_PROVENANCE_V1_PREDICATE_TYPE,
    predicate: Any = None,
    *,
    subjects: list[dict[str, Any]] | None = None,
    kind: str = STATEMENT_TYPE_V1,
) -> bytes:
    """A hand-written statement (plain ``json.dumps``: verifiers must not re-serialise)."""
    hex_digest = str(digest).removeprefix("sha256:")
    document = {
        "_type": kind,
        "subject": subjects or [{"name": str(REPO), "digest": {"sha256": hex_digest}}],
        "predicateType": predicate_type,
        "predicate": PROVENANCE if predicate is None else predicate,
    }
    return json.dumps(document).encode()


def envelope(
    signer: LocalSigner, payload: bytes, payload_type: str = IN_TOTO_PAYLOAD_TYPE
) -> Envelope:
    return Envelope(
        payload, payload_type, (EnvelopeSignature(signer.sign(pae(payload_type, payload))),)
    )


def log(rekor: RekorServer, envelope_bytes: bytes, signer: LocalSigner) -> LogEntry:
    """Record an envelope in the Rekor server as a ``dsse`` entry."""
    with RekorClient(rekor.url) as rekor_client:
        return rekor_client.create_entry(
            dsse_proposed_entry(envelope=envelope_bytes, verifiers=[signer.public_key().pem])
        )


def write_att(client: Client, digest: Digest, layers: list[tuple[Descriptor, bytes]]) -> None:
    """Replace the ``.att`` manifest of ``digest`` with these (layer, content) pairs."""
    for _layer, content in layers:
        client.push_blob(REPO, content)
    manifest, config = signature_manifest([layer for layer, _ in layers])
    client.push_blob(REPO, config)
    client.push_manifest(REPO, manifest, tag=attestation_tag(digest))


def att_layers(client: Client, digest: Digest) -> list[tuple[Descriptor, bytes]]:
    manifest = client.get_manifest(REPO.with_tag(attestation_tag(digest)))
    assert isinstance(manifest, Manifest)
    return [(layer, client.get_blob(REPO, layer.digest)) for layer in manifest.layers]


def logged_att(
    client: Client,
    rekor: RekorServer,
    signer: LocalSigner,
    reference: ImageReference,
    payload: bytes,
    *,
    payload_type: str = IN_TOTO_PAYLOAD_TYPE,
    predicate_type: str = SLSA_PROVENANCE_V1_PREDICATE_TYPE,
) -> tuple[Descriptor, bytes]:
    """Sign ``payload``, log it and add it as one more ``.att`` layer; return the layer."""
    built = envelope(signer, payload, payload_type).to_json(style="protobuf")
    entry = log(rekor, built, signer)
    layer = attestation_layer(built, predicate_type, log_bundle=entry.to_cosign_bundle_annotation())
    digest = digest_of(client, reference)
    try:
        existing = att_layers(client, digest)
    except ManifestNotFoundError:
        existing = []
    write_att(client, digest, [*existing, (layer, built)])
    return layer, built


_CREATED = itertools.count()


def attach_bundle(
    client: Client,
    subject: ImageReference,
    bundle: bytes,
    predicate_type: str = SLSA_PROVENANCE_V1_PREDICATE_TYPE,
) -> Manifest:
    """Attach ``bundle`` as one more referrer of ``subject`` (a distinct manifest each time)."""
    descriptor = client.resolve(subject)
    created = datetime(2025, 1, 1, tzinfo=timezone.utc) + timedelta(seconds=next(_CREATED))
    manifest = bundle_referrer_manifest(
        bundle, descriptor, predicate_type=predicate_type, created=created
    )
    client.push_blob(REPO, b"{}")
    client.push_blob(REPO, bundle)
    client.push_manifest(REPO, manifest)
    return manifest


def key_bundle(
    signer: LocalSigner,
    built: Envelope,
    *,
    entries: tuple[Mapping[str, Any], ...] = (),
    media_type: str = BUNDLE_V03_MEDIA_TYPE,
) -> bytes:
    material = VerificationMaterial(
        public_key_hint=cosign_key_hint(signer.public_key().der), tlog_entries=entries
    )
    return Bundle(media_type, material, dsse_envelope=built).to_json()


def referrer_bundles(client: Client, digest: Digest) -> list[tuple[Manifest, bytes]]:
    found = []
    for descriptor in client.referrers(REPO.with_digest(digest)):
        manifest = client.get_manifest(REPO.with_digest(descriptor.digest))
        assert isinstance(manifest, Manifest)
        found.append((manifest, client.get_blob(REPO, manifest.layers[0].digest)))
    return found


def only(result: AttestationVerificationResult) -> AttestationCheck:
    assert len(result.attestations) == 1, result.attestations
    return result.attestations[0]


IGNORE = {"ignore": True}


def ignoring(client: Client) -> TransparencyLogOptions:
    return attrs.evolve(client.tlog, **IGNORE)


# -- the happy paths --------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_attest_then_verify_with_log_proof(
    client: Client, signer: LocalSigner, fmt: SignatureFormat
) -> None:
    reference = push_image(client, "happy")
    digest = digest_of(client, reference)
    attested = client.attest_image(
        reference, PROVENANCE, "slsaprovenance1", signer=signer, format=fmt
    )
    assert attested.image == reference.with_digest(digest)
    assert attested.format is fmt
    assert attested.predicate_type == SLSA_PROVENANCE_V1_PREDICATE_TYPE
    assert attested.log_entry is not None
    assert json.loads(attested.statement) == {
        "_type": STATEMENT_TYPE_V1,
        "subject": [{"name": "registry.example.com/team/app", "digest": {"sha256": digest.hex}}],
        "predicateType": SLSA_PROVENANCE_V1_PREDICATE_TYPE,
        "predicate": PROVENANCE,
    }
    # protobuf JSON: declaration order, no spaces, keys sorted inside the predicate.
    assert attested.statement.startswith(
        b'{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":'
    )
    assert b'"predicate":{"buildDefinition":{"buildType":' in attested.statement

    result = client.verify_attestations(
        reference, [signer.public_key()], predicate_type="slsaprovenance1"
    )
    assert result.verified
    assert bool(result)
    assert result.image == reference.with_digest(digest)
    assert result.predicate_type == SLSA_PROVENANCE_V1_PREDICATE_TYPE
    check = only(result)
    assert check.status is AttestationStatus.VERIFIED
    assert check.ok
    assert check.reason == "verified"
    assert check.format is fmt
    assert check.key_id == signer.public_key().key_id
    assert check.log_index == attested.log_entry.log_index
    assert check.integrated_time == attested.log_entry.integrated_time
    assert check.statement is not None
    assert check.statement.raw == attested.statement
    assert check.predicate == PROVENANCE
    assert result.statements == (check.statement,)
    assert result.predicates() == (PROVENANCE,)
    (provenance,) = result.typed_predicates()
    assert isinstance(provenance, SLSAProvenanceV1)
    assert provenance.builder_id == "https://ci.example.com/builder"
    assert result.verified_key_ids == (signer.public_key().key_id,)
    assert result.warnings == ()
    result.raise_for_failure()


def test_bundle_referrer_carries_the_predicate_type_annotation(
    client: Client, signer: LocalSigner
) -> None:
    reference = push_image(client, "referrer-shape")
    attested = client.attest_image(reference, VULN, "vuln", signer=signer)
    ((manifest, raw),) = referrer_bundles(client, digest_of(client, reference))
    assert manifest.digest == attested.attestation.digest
    document = json.loads(manifest.raw)
    assert (
        document["annotations"]["dev.sigstore.bundle.predicateType"] == COSIGN_VULN_PREDICATE_TYPE
    )
    assert document["annotations"]["dev.sigstore.bundle.content"] == "dsse-envelope"
    assert document["artifactType"] == BUNDLE_V03_MEDIA_TYPE
    bundle = Bundle.parse(raw)
    assert bundle.dsse_envelope is not None
    assert bundle.dsse_envelope.payload == attested.statement
    (entry,) = bundle.tlog_entries
    assert entry["kindVersion"] == {"kind": "dsse", "version": "0.0.1"}
    assert "inclusionProof" in entry


def test_att_layer_has_cosign_shape_and_the_logged_bytes(
    client: Client, signer: LocalSigner
) -> None:
    reference = push_image(client, "att-shape")
    attested = client.attest_image(reference, VULN, "vuln", signer=signer, format=LEGACY)
    digest = digest_of(client, reference)
    manifest = client.get_manifest(REPO.with_tag(attestation_tag(digest)))
    assert isinstance(manifest, Manifest)
    assert manifest.digest == attested.attestation.digest
    document = json.loads(manifest.raw)
    (layer,) = document["layers"]
    assert list(layer) == ["mediaType", "size", "digest", "annotations"]
    assert layer["mediaType"] == DSSE_ENVELOPE_MEDIA_TYPE
    assert list(layer["annotations"]) == [
        SIGNATURE_ANNOTATION,
        LOG_BUNDLE_ANNOTATION,
        PREDICATE_TYPE_ANNOTATION,
    ]
    assert layer["annotations"][SIGNATURE_ANNOTATION] == ""
    assert layer["annotations"][PREDICATE_TYPE_ANNOTATION] == COSIGN_VULN_PREDICATE_TYPE
    content = client.get_blob(REPO, Digest.parse(layer["digest"]))
    # cosign v3's envelope bytes (protobuf struct order), exactly what was logged.
    assert content.startswith(b'{"payload":"')
    assert Envelope.parse(content).payload == attested.statement
    assert attested.log_entry is not None
    body = json.loads(attested.log_entry.body)
    assert body["kind"] == "dsse"
    assert body["spec"]["envelopeHash"]["value"] == hashlib.sha256(content).hexdigest()
    assert body["spec"]["payloadHash"]["value"] == hashlib.sha256(attested.statement).hexdigest()


def test_both_formats_and_signatures_side_by_side(client: Client, signer: LocalSigner) -> None:
    reference = push_image(client, "side-by-side")
    client.sign_image(reference, signer)
    client.sign_image(reference, signer, format=LEGACY)
    client.attest_image(reference, PROVENANCE, "slsaprovenance1", signer=signer)
    client.attest_image(reference, VULN, "vuln", signer=signer, format=LEGACY)
    key = signer.public_key()

    anything = client.verify_attestations(reference, [key])
    assert anything.verified
    assert anything.predicate_type is None
    # Image signatures are DSSE statements too, but not attestations unless asked for.
    assert [(c.format, c.predicate_type) for c in anything.attestations] == [
        (BUNDLE, SLSA_PROVENANCE_V1_PREDICATE_TYPE),
        (LEGACY, COSIGN_VULN_PREDICATE_TYPE),
    ]
    vuln = client.verify_attestations(reference, [key], predicate_type="vuln")
    assert vuln.verified
    assert [c.status for c in vuln.attestations] == [
        AttestationStatus.WRONG_TYPE,
        AttestationStatus.VERIFIED,
    ]
    assert vuln.attestations[0].reason == (
        f"the predicate type is {SLSA_PROVENANCE_V1_PREDICATE_TYPE!r}, not the requested "
        f"{COSIGN_VULN_PREDICATE_TYPE!r}"
    )
    signatures = client.verify_attestations(
        reference, [key], predicate_type=COSIGN_SIGN_PREDICATE_TYPE
    )
    assert signatures.verified
    assert [c.predicate_type for c in signatures.verified_attestations] == [
        COSIGN_SIGN_PREDICATE_TYPE
    ]
    # cosign v3's verify accepts any DSSE bundle on the image: attestations included.
    assert len(client.verify_image(reference, [key]).signatures) == 3


def test_statement_v01_and_securesystemslib_envelopes_are_read(
    client: Client, signer: LocalSigner, rekor: RekorServer
) -> None:
    reference = push_image(client, "v01")
    digest = digest_of(client, reference)
    payload = statement(
        digest, COSIGN_CUSTOM_PREDICATE_TYPE, {"Data": "x"}, kind=STATEMENT_TYPE_V01
    )
    built = envelope(signer, payload).to_json()  # cosign v2's envelope bytes
    assert built.startswith(b'{"payloadType":')
    entry = log(rekor, built, signer)
    write_att(
        client,
        digest,
        [
            (
                attestation_layer(
                    built,
                    COSIGN_CUSTOM_PREDICATE_TYPE,
                    log_bundle=entry.to_cosign_bundle_annotation(),
                ),
                built,
            )
        ],
    )
    check = only(
        client.verify_attestations(reference, [signer.public_key()], predicate_type="custom")
    )
    assert check.ok, check.reason
    assert check.statement is not None
    assert check.statement.type == STATEMENT_TYPE_V01


def test_async_client_attests_verifies_and_lists(
    tmp_path: Path, tlog: TransparencyLogOptions, signer: LocalSigner
) -> None:
    with Client(stores={"*": OCILayoutStore(tmp_path)}, tlog=tlog) as client:
        reference = push_image(client, "async")

    async def scenario() -> tuple[AttestationVerificationResult, int]:
        async with AsyncClient(stores={"*": OCILayoutStore(tmp_path)}, tlog=tlog) as client:
            await client.attest_image(reference, PROVENANCE, "slsaprovenance1", signer=signer)
            await client.attest_image(
                reference, PROVENANCE, "slsaprovenance1", signer=signer, format="legacy"
            )
            tree = await client.list_attachments(reference)
            result = await client.verify_attestations(
                reference, signer.public_key(), predicate_type="slsaprovenance1"
            )
            return result, len(tree.attestations)

    result, listed = asyncio.run(scenario())
    assert result.verified
    assert [c.ok for c in result.attestations] == [True, True]
    assert listed == 2


def test_module_level_helpers_take_a_client(
    client: Client, signer: LocalSigner, tmp_path: Path
) -> None:
    reference = push_image(client, "helpers")
    key_path = tmp_path / "cosign.key"
    key_path.write_bytes(signer.private_pem())
    attested = attest_image(reference, VULN, "vuln", signer=str(key_path), client=client)
    assert attested.format is BUNDLE
    result = verify_attestations(
        reference, [signer.public_key()], predicate_type="vuln", client=client
    )
    assert result.verified
    tree = list_attachments(reference, client=client)
    assert [item.predicate_type for item in tree.attestations] == [COSIGN_VULN_PREDICATE_TYPE]


def test_concurrent_attesters_keep_every_attestation(
    tmp_path: Path, tlog: TransparencyLogOptions, signer: LocalSigner
) -> None:
    """Eight threads, each with its own client, attest one image in both formats at once."""
    with Client(stores={"*": OCILayoutStore(tmp_path)}, tlog=tlog) as client:
        reference = push_image(client, "concurrent")

    def attest(number: int) -> None:
        with Client(stores={"*": OCILayoutStore(tmp_path)}, tlog=tlog) as own:
            fmt = LEGACY if number % 2 else BUNDLE
            own.attest_image(
                reference, {"n": number}, "https://example.com/n", signer=signer, format=fmt
            )

    run_at_once(8, attest)
    with Client(stores={"*": OCILayoutStore(tmp_path)}, tlog=tlog) as client:
        result = client.verify_attestations(
            reference, signer.public_key(), predicate_type="https://example.com/n"
        )
    assert sorted(check.predicate["n"] for check in result.attestations if check.ok) == list(
        range(8)
    )
    assert [c.format for c in result.attestations].count(LEGACY) == 4


def test_replace_drops_the_att_layers_of_the_same_type_only(
    client: Client, signer: LocalSigner
) -> None:
    reference = push_image(client, "replace")
    client.attest_image(reference, {"v": 1}, "vuln", signer=signer, format=LEGACY)
    client.attest_image(reference, PROVENANCE, "slsaprovenance1", signer=signer, format=LEGACY)
    client.attest_image(reference, {"v": 2}, "vuln", signer=signer, format=LEGACY, replace=True)
    result = client.verify_attestations(reference, signer.public_key())
    assert [(c.predicate_type, c.ok) for c in result.attestations] == [
        (SLSA_PROVENANCE_V1_PREDICATE_TYPE, True),
        (COSIGN_VULN_PREDICATE_TYPE, True),
    ]
    assert result.attestations[1].predicate == {"v": 2}
    with pytest.raises(ValueError, match="legacy"):
        client.attest_image(reference, VULN, "vuln", signer=signer, replace=True)


def test_attest_refuses_bad_arguments_before_any_write(
    client: Client, signer: LocalSigner, rekor: RekorServer
) -> None:
    reference = push_image(client, "bad-arguments")
    rekor.clear_requests()
    with pytest.raises(StatementError, match="invalid predicate type"):
        client.attest_image(reference, VULN, "not a type", signer=signer)
    with pytest.raises(TypeError, match="predicate must be"):
        client.attest_image(reference, [1, 2], "vuln", signer=signer)  # type: ignore[arg-type]
    with pytest.raises(StatementError):
        client.attest_image(reference, {"bad": float("nan")}, "vuln", signer=signer)
    # 8 MiB fits a .att layer but not a bundle (cosign's 10 MiB bundle cap after base64).
    large = {"blob": "x" * (8 * 1024 * 1024)}
    with pytest.raises(SizeLimitExceededError, match="bundle layers") as raised:
        client.attest_image(reference, large, "vuln", signer=signer)
    assert raised.value.hint == "use the legacy (.att) format for large predicates"
    assert rekor.requests == []
    assert client.list_attachments(reference).attachments == ()


def test_attest_refuses_an_entry_the_trusted_root_does_not_vouch_for(
    client: Client, signer: LocalSigner, tlog: TransparencyLogOptions
) -> None:
    reference = push_image(client, "unvouched")
    with RekorServer() as stranger:
        wrong_root = attrs.evolve(tlog, trusted_root=stranger.trusted_root())
        for fmt in FORMATS:
            with pytest.raises(UnknownLogError):
                client.attest_image(
                    reference, VULN, "vuln", signer=signer, format=fmt, tlog=wrong_root
                )
    assert client.list_attachments(reference).attachments == ()


# -- transparency log -------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_log_proof_is_required_unless_ignored(
    client: Client, signer: LocalSigner, tlog: TransparencyLogOptions, fmt: SignatureFormat
) -> None:
    reference = push_image(client, "no-log")
    attested = client.attest_image(
        reference, VULN, "vuln", signer=signer, format=fmt, tlog=attrs.evolve(tlog, upload=False)
    )
    assert attested.log_entry is None
    check = only(
        client.verify_attestations(reference, [signer.public_key()], predicate_type="vuln")
    )
    assert check.status is AttestationStatus.FAILED
    assert check.key_id == signer.public_key().key_id
    assert check.statement is not None
    if fmt is BUNDLE:
        assert check.reason == "the bundle carries no transparency-log entry"
    else:
        assert check.reason.startswith("transparency log: no entry in ")
    relaxed = client.verify_attestations(
        reference, [signer.public_key()], predicate_type="vuln", tlog=ignoring(client)
    )
    assert relaxed.verified
    assert TLOG_SKIPPED_WARNING in relaxed.warnings
    assert only(relaxed).log_index is None


@pytest.mark.parametrize("fmt", FORMATS)
def test_offline_verification_uses_only_attached_proofs(
    client: Client, signer: LocalSigner, rekor: RekorServer, fmt: SignatureFormat
) -> None:
    reference = push_image(client, "offline")
    client.attest_image(reference, VULN, "vuln", signer=signer, format=fmt)
    rekor.clear_requests()
    offline = attrs.evolve(client.tlog, offline=True)
    assert client.verify_attestations(reference, [signer.public_key()], tlog=offline).verified
    assert rekor.requests == []


def test_att_layer_without_its_entry_is_found_online_by_envelope_hash(
    client: Client, signer: LocalSigner, rekor: RekorServer
) -> None:
    reference = push_image(client, "online")
    client.attest_image(reference, VULN, "vuln", signer=signer, format=LEGACY)
    digest = digest_of(client, reference)
    ((_layer, content),) = att_layers(client, digest)
    stripped = attestation_layer(content, COSIGN_VULN_PREDICATE_TYPE)
    write_att(client, digest, [(stripped, content)])
    rekor.clear_requests()
    online = only(client.verify_attestations(reference, [signer.public_key()]))
    assert online.ok, online.reason
    assert online.log_index is not None
    search = next(r for r in rekor.requests if r.path == "/api/v1/index/retrieve")
    assert hashlib.sha256(content).hexdigest() in search.body.decode()
    offline = attrs.evolve(client.tlog, offline=True)
    check = only(client.verify_attestations(reference, [signer.public_key()], tlog=offline))
    assert not check.ok
    assert "offline verification does not search the log" in check.reason


def test_log_entry_of_another_attestation_is_refused(client: Client, signer: LocalSigner) -> None:
    """cosign GHSA-ccxc-vr6p-4858 for attestations: an entry vouches for its own envelope only."""
    reference = push_image(client, "spliced")
    client.attest_image(reference, {"n": 1}, "vuln", signer=signer, format=LEGACY)
    client.attest_image(reference, {"n": 2}, "vuln", signer=signer, format=LEGACY)
    digest = digest_of(client, reference)
    (first, _), (_, second_content) = att_layers(client, digest)
    spliced = attestation_layer(
        second_content,
        COSIGN_VULN_PREDICATE_TYPE,
        log_bundle=first.annotations[LOG_BUNDLE_ANNOTATION],
    )
    write_att(client, digest, [(spliced, second_content)])
    check = only(client.verify_attestations(reference, [signer.public_key()]))
    assert not check.ok
    assert check.reason.startswith("transparency log: log entry ")
    assert " records payloadHash sha256:" in check.reason


def test_bundle_entry_of_another_attestation_is_refused(
    client: Client, signer: LocalSigner
) -> None:
    reference = push_image(client, "bundle-spliced")
    client.attest_image(reference, {"n": 1}, "vuln", signer=signer)
    digest = digest_of(client, reference)
    ((_manifest, raw),) = referrer_bundles(client, digest)
    donor = Bundle.parse(raw)
    built = envelope(signer, statement(digest, COSIGN_VULN_PREDICATE_TYPE, {"n": 2}))
    attach_bundle(client, reference, key_bundle(signer, built, entries=donor.tlog_entries))
    result = client.verify_attestations(reference, [signer.public_key()])
    assert [c.ok for c in result.attestations] == [True, False]
    assert result.attestations[1].reason.startswith("transparency log: log entry ")


# -- hostile attestations ---------------------------------------------------------------------


def test_type_x_asked_when_only_type_y_exists_fails_and_says_so(
    client: Client, signer: LocalSigner
) -> None:
    """cosign 2 (CVE-2022-35929), bad-input 22: an empty filtered set is a failure."""
    reference = push_image(client, "only-vuln")
    client.attest_image(reference, VULN, "vuln", signer=signer)
    result = client.verify_attestations(reference, [signer.public_key()], predicate_type="spdx")
    assert not result.verified
    assert [c.status for c in result.attestations] == [AttestationStatus.WRONG_TYPE]
    assert result.verified_attestations == ()
    assert result.statements == ()
    summary = result.failure_summary()
    assert summary == (
        f"no attestation of type {SPDX_PREDICATE_TYPE} found for {result.image}; found only "
        f"{COSIGN_VULN_PREDICATE_TYPE}"
    )
    with pytest.raises(AttestationVerificationError) as raised:
        result.raise_for_failure()
    assert raised.value.attestation_result is result
    assert raised.value.context["predicate_type"] == SPDX_PREDICATE_TYPE
    assert str(raised.value) == summary
    # Nothing attached at all.
    empty = push_image(client, "nothing", tag="2.0")
    none = client.verify_attestations(empty, [signer.public_key()], predicate_type="spdx")
    assert not none.verified
    assert none.failure_summary() == f"no attestations found for {none.image}"


def test_malformed_or_wrong_type_statements_with_valid_signatures_are_refused(
    client: Client, signer: LocalSigner, rekor: RekorServer
) -> None:
    """cosign 9 (GHSA-w6c6-c85g-mmv6): a valid signature does not make a statement valid."""
    reference = push_image(client, "malformed")
    digest = digest_of(client, reference)
    logged_att(client, rekor, signer, reference, b"{}")
    logged_att(client, rekor, signer, reference, statement(digest, "evil"), predicate_type="evil")
    result = client.verify_attestations(reference, [signer.public_key()], predicate_type="custom")
    assert not result.verified
    empty, evil = result.attestations
    assert empty.status is AttestationStatus.FAILED
    assert empty.reason.startswith("the in-toto statement is malformed: in-toto statement _type")
    assert empty.statement is None
    assert evil.status is AttestationStatus.WRONG_TYPE
    assert evil.predicate_type == "evil"
    assert "no attestation of type https://cosign.sigstore.dev/attestation/v1" in (
        result.failure_summary()
    )


@pytest.mark.parametrize("fmt", FORMATS)
def test_payload_type_changed_keeping_the_signature(
    client: Client, signer: LocalSigner, rekor: RekorServer, fmt: SignatureFormat
) -> None:
    """Bad-input 20: the signature covers the payload type (PAE); either change is refused."""
    reference = push_image(client, "payload-type")
    digest = digest_of(client, reference)
    payload = statement(digest)
    signed_other = envelope(signer, payload, "application/json")
    relabelled = Envelope(payload, IN_TOTO_PAYLOAD_TYPE, signed_other.signatures)
    signed_intoto = envelope(signer, payload)
    other_type = Envelope(payload, "application/json", signed_intoto.signatures)
    for built in (relabelled, other_type):
        if fmt is BUNDLE:
            attach_bundle(client, reference, key_bundle(signer, built))
        else:
            raw = built.to_json(style="protobuf")
            existing = att_layers(client, digest) if built is other_type else []
            write_att(client, digest, [*existing, (attestation_layer(raw, "x"), raw)])
    result = client.verify_attestations(reference, [signer.public_key()], tlog=ignoring(client))
    assert not result.verified
    reasons = sorted(check.reason for check in result.attestations)
    assert reasons == [
        "the DSSE payloadType is 'application/json', not 'application/vnd.in-toto+json'",
        "the DSSE signature does not verify with the given key",
    ]


@pytest.mark.parametrize("fmt", FORMATS)
def test_attestation_copied_to_another_image_fails_on_the_subject(
    client: Client, signer: LocalSigner, fmt: SignatureFormat
) -> None:
    """Bad-input 21: a genuine attestation of image A says nothing about image B."""
    first = push_image(client, "subject-a", tag="a")
    second = push_image(client, "subject-b", tag="b")
    client.attest_image(first, VULN, "vuln", signer=signer, format=fmt)
    a, b = digest_of(client, first), digest_of(client, second)
    if fmt is BUNDLE:
        ((_manifest, raw),) = referrer_bundles(client, a)
        attach_bundle(client, second, raw, COSIGN_VULN_PREDICATE_TYPE)
    else:
        write_att(client, b, att_layers(client, a))
    check = only(client.verify_attestations(second, [signer.public_key()], predicate_type="vuln"))
    assert check.status is AttestationStatus.FAILED
    assert check.reason == (
        f"the in-toto statement's subject is sha256:{a.hex}, not the verified image {b}"
    )
    assert check.predicate_type == COSIGN_VULN_PREDICATE_TYPE  # what it claims, shown


def test_subject_and_digest_caps_hold_before_any_signature_check(
    client: Client, signer: LocalSigner
) -> None:
    """sigstore-go 11, bad-input 21: 2 000 subjects, or 33 digests for one subject."""
    reference = push_image(client, "caps")
    digest = digest_of(client, reference)
    many = [{"digest": {"sha256": f"{n:064x}"}} for n in range(1999)]
    many.append({"digest": {"sha256": digest.hex}})
    digests = {f"alg{n}": "00" for n in range(32)} | {"sha256": digest.hex}
    for subjects in (many, [{"digest": digests}]):
        attach_bundle(
            client,
            reference,
            key_bundle(signer, envelope(signer, statement(digest, subjects=subjects))),
        )
    result = client.verify_attestations(reference, [signer.public_key()], tlog=ignoring(client))
    assert [c.status for c in result.attestations] == [AttestationStatus.FAILED] * 2
    assert "2000 subjects, more than the cap of 1024" in result.attestations[0].reason
    assert "33 digests, more than the cap of 32" in result.attestations[1].reason
    assert all(c.key_id is None for c in result.attestations)


def test_statement_cap_is_configurable(client: Client, signer: LocalSigner) -> None:
    reference = push_image(client, "statement-cap")
    client.attest_image(reference, {"blob": "x" * 4000}, "vuln", signer=signer, format=LEGACY)
    assert client.verify_attestations(reference, signer.public_key()).verified
    small = client.verify_attestations(reference, signer.public_key(), max_statement_bytes=1000)
    check = only(small)
    assert not check.ok
    # The .att layer is read under a cap derived from the statement cap, then parsed under it.
    assert "cap" in check.reason
    with pytest.raises(ValueError, match="max_statement_bytes"):
        client.verify_attestations(reference, signer.public_key(), max_statement_bytes=0)


def test_threshold_counts_distinct_keys(
    client: Client, signer: LocalSigner, other_signer: LocalSigner, rekor: RekorServer
) -> None:
    """Bad-input 23: the same key twice (two attestations, or one envelope signed twice)
    does not make two keys."""
    reference = push_image(client, "threshold")
    digest = digest_of(client, reference)
    client.attest_image(reference, VULN, "vuln", signer=signer)
    client.attest_image(reference, VULN, "vuln", signer=signer, format=LEGACY)
    payload = statement(digest, COSIGN_VULN_PREDICATE_TYPE, VULN)
    single = envelope(signer, payload)
    doubled = Envelope(payload, IN_TOTO_PAYLOAD_TYPE, single.signatures * 2)
    raw = doubled.to_json(style="protobuf")
    entry = log(rekor, raw, signer)
    layer = attestation_layer(
        raw, COSIGN_VULN_PREDICATE_TYPE, log_bundle=entry.to_cosign_bundle_annotation()
    )
    write_att(client, digest, [*att_layers(client, digest), (layer, raw)])
    keys = [signer.public_key(), other_signer.public_key()]
    result = client.verify_attestations(reference, keys, predicate_type="vuln", threshold=2)
    assert [c.ok for c in result.attestations] == [True, True, True]
    assert not result.verified
    assert result.verified_key_ids == (signer.public_key().key_id,)
    assert result.failure_summary() == (
        f"attestations of type {COSIGN_VULN_PREDICATE_TYPE} for {result.image} verified with "
        "1 distinct key, fewer than the threshold of 2"
    )
    client.attest_image(reference, VULN, "vuln", signer=other_signer)
    assert client.verify_attestations(reference, keys, predicate_type="vuln", threshold=2).verified
    with pytest.raises(ValueError, match="threshold"):
        client.verify_attestations(reference, keys, threshold=0)


def test_any_one_trusted_signature_of_a_multi_signed_envelope_suffices(
    client: Client, signer: LocalSigner, other_signer: LocalSigner, rekor: RekorServer
) -> None:
    reference = push_image(client, "multi-signed")
    digest = digest_of(client, reference)
    payload = statement(digest)
    both = Envelope(
        payload,
        IN_TOTO_PAYLOAD_TYPE,
        (*envelope(other_signer, payload).signatures, *envelope(signer, payload).signatures),
    )
    raw = both.to_json(style="protobuf")
    with RekorClient(rekor.url) as rekor_client:
        entry = rekor_client.create_entry(
            dsse_proposed_entry(
                envelope=raw,
                verifiers=[other_signer.public_key().pem, signer.public_key().pem],
            )
        )
    write_att(
        client,
        digest,
        [
            (
                attestation_layer(
                    raw,
                    SLSA_PROVENANCE_V1_PREDICATE_TYPE,
                    log_bundle=entry.to_cosign_bundle_annotation(),
                ),
                raw,
            )
        ],
    )
    check = only(client.verify_attestations(reference, [signer.public_key()]))
    assert check.ok, check.reason
    assert check.key_id == signer.public_key().key_id
    wrong = only(client.verify_attestations(reference, [LocalSigner.generate().public_key()]))
    assert wrong.reason == "none of the 2 DSSE signatures verifies with the given key"


def test_hostile_att_layers_are_refused_one_by_one(
    client: Client, signer: LocalSigner, rekor: RekorServer
) -> None:
    """Kyverno 21: garbage in the attestation image fails its own layer, nothing else."""
    reference = push_image(client, "garbage")
    digest = digest_of(client, reference)
    good_layer, good = logged_att(client, rekor, signer, reference, statement(digest))
    not_dsse = b'{"critical":{}}'
    broken = b'{"payload":"!!!","payloadType":"x","signatures":[]}'
    unsigned = json.dumps(
        {
            "payload": base64.b64encode(statement(digest)).decode(),
            "payloadType": IN_TOTO_PAYLOAD_TYPE,
            "signatures": [],
        }
    ).encode()
    write_att(
        client,
        digest,
        [
            (
                Descriptor.for_content(
                    not_dsse, "application/vnd.dev.cosign.simplesigning.v1+json"
                ),
                not_dsse,
            ),
            (attestation_layer(broken, "x"), broken),
            (attestation_layer(unsigned, "x"), unsigned),
            (good_layer, good),
            (good_layer, good),  # the same layer twice: judged once
        ],
    )
    result = client.verify_attestations(reference, [signer.public_key()])
    assert result.verified
    reasons = [check.reason for check in result.attestations]
    assert reasons[0].startswith(
        "the layer's media type is 'application/vnd.dev.cosign.simplesigning"
    )
    assert reasons[1].startswith("the DSSE envelope is malformed: ")
    assert reasons[2] == "the DSSE envelope has no signature"
    assert reasons[3] == "verified"
    assert len(reasons) == 4
    assert "1 duplicate attestation counted once" in result.warnings


def test_hostile_referrers_are_skipped_or_refused(client: Client, signer: LocalSigner) -> None:
    """Kyverno 21 and 22: referrers that are not bundles, bundles too old, 500 certificates,
    33 log entries, message signatures — none crashes, none counts."""
    reference = push_image(client, "hostile-referrers")
    digest = digest_of(client, reference)
    built = envelope(signer, statement(digest))
    # An SBOM artifact (not a bundle) and a message-signature bundle (not an attestation).
    sbom = b'{"spdxVersion":"SPDX-2.3"}'
    client.push_blob(REPO, sbom)
    client.push_blob(REPO, b"{}")
    subject = client.resolve(reference)
    client.push_manifest(
        REPO,
        Manifest.build(
            Descriptor.for_content(b"{}", OCI_EMPTY),
            [Descriptor.for_content(sbom, "application/spdx+json")],
            subject=subject,
            artifact_type="application/spdx+json",
        ),
    )
    message = Bundle(
        BUNDLE_V03_MEDIA_TYPE,
        VerificationMaterial(public_key_hint=""),
        message_signature=MessageSignature("SHA2_256", bytes.fromhex(digest.hex), b"sig"),
    ).to_json()
    attach_bundle(client, reference, message, COSIGN_SIGN_PREDICATE_TYPE)
    attach_bundle(client, reference, key_bundle(signer, built, media_type=BUNDLE_MEDIA_TYPE_V02))
    certificates = json.loads(key_bundle(signer, built))
    certificates["mediaType"] = BUNDLE_MEDIA_TYPE_V02
    certificates["verificationMaterial"] = {
        "x509CertificateChain": {"certificates": [{"rawBytes": "AAAA"}] * 500}
    }
    attach_bundle(client, reference, json.dumps(certificates).encode())
    entries = json.loads(key_bundle(signer, built))
    entry = {"logIndex": "1", "canonicalizedBody": "e30=", "inclusionProof": {}}
    entries["verificationMaterial"]["tlogEntries"] = [entry] * 33
    attach_bundle(client, reference, json.dumps(entries).encode())
    result = client.verify_attestations(reference, [signer.public_key()], tlog=ignoring(client))
    assert not result.verified
    reasons = sorted(check.reason for check in result.attestations)
    assert len(reasons) == 3
    assert "bundle version 0.2.0 is older than 0.3, the oldest accepted on images" in reasons
    assert any("500 items, more than the cap of 12" in reason for reason in reasons)
    assert any("33 items, more than the cap of 32" in reason for reason in reasons)


def test_more_than_one_hundred_attestations_are_refused_as_a_whole(
    client: Client, signer: LocalSigner
) -> None:
    """cosign 4 (GHSA-vfp6-jrw2-99g9): the count is capped before anything is fetched."""
    reference = push_image(client, "endless")
    digest = digest_of(client, reference)
    layers = []
    for n in range(101):
        content = f'{{"n":{n}}}'.encode()
        layers.append((attestation_layer(content, "x"), content))
    write_att(client, digest, layers)
    check = only(client.verify_attestations(reference, [signer.public_key()]))
    assert not check.ok
    assert check.reason == (
        f"the attestation manifest {REPO}:{attestation_tag(digest)} lists 101 attestations, "
        "more than the limit of 100; none of them was examined"
    )


def test_annotations_are_required_on_the_subject(
    client: Client, signer: LocalSigner, rekor: RekorServer
) -> None:
    reference = push_image(client, "annotations")
    digest = digest_of(client, reference)
    subjects = [{"digest": {"sha256": digest.hex}, "annotations": {"env": "prod"}}]
    logged_att(client, rekor, signer, reference, statement(digest, subjects=subjects))
    key = [signer.public_key()]
    assert client.verify_attestations(reference, key, annotations={"env": "prod"}).verified
    check = only(client.verify_attestations(reference, key, annotations={"env": "dev"}))
    assert check.reason == (
        "annotation env is required to be 'dev' but the statement's subject has 'prod'"
    )


def test_wrong_key_and_keyless_bundles(client: Client, signer: LocalSigner) -> None:
    reference = push_image(client, "wrong-key")
    client.attest_image(reference, VULN, "vuln", signer=signer)
    check = only(client.verify_attestations(reference, [LocalSigner.generate().public_key()]))
    assert check.status is AttestationStatus.FAILED
    assert check.reason == "the DSSE signature does not verify with the given key"
    assert check.key_id is None
    assert check.statement is not None  # what it claims is shown, untrusted


# -- results and listing ----------------------------------------------------------------------


def test_result_rendering(client: Client, signer: LocalSigner) -> None:
    reference = push_image(client, "render")
    client.attest_image(reference, {"<x>": 1}, "vuln", signer=signer)
    result = client.verify_attestations(reference, [signer.public_key()], predicate_type="spdx")
    data = result.to_dict()
    assert list(data) == [
        "image",
        "digest",
        "predicate_type",
        "verified",
        "threshold",
        "verified_key_ids",
        "attestations",
        "warnings",
    ]
    assert list(data["attestations"][0]) == [
        "format",
        "status",
        "ok",
        "reason",
        "predicate_type",
        "key_id",
        "location",
        "log_index",
        "integrated_time",
        "statement",
    ]
    assert data["attestations"][0]["statement"]["predicate"] == {"<x>": 1}
    assert "statement" not in result.to_dict(include_statements=False)["attestations"][0]
    assert json.loads(json.dumps(data)) == data
    page = result._repr_html_()
    assert "NOT verified" in page
    assert "https://cosign.sigstore.dev/attestation/vuln/v1" in page
    assert "of type https://spdx.dev/Document" in page
    assert "verified=False" in repr(result)
    assert "predicate_type='https://spdx.dev/Document'" in repr(result)


def test_list_attachments_by_kind_and_storage(client: Client, signer: LocalSigner) -> None:
    reference = push_image(client, "tree")
    digest = digest_of(client, reference)
    client.sign_image(reference, signer)
    client.sign_image(reference, signer, format=LEGACY)
    client.attest_image(reference, PROVENANCE, "slsaprovenance1", signer=signer)
    client.attest_image(reference, VULN, "vuln", signer=signer, format=LEGACY)
    sbom = b'{"spdxVersion":"SPDX-2.3"}'
    client.push_blob(REPO, sbom)
    sbom_manifest, config = signature_manifest([Descriptor.for_content(sbom, "text/spdx+json")])
    client.push_blob(REPO, config)
    client.push_manifest(REPO, sbom_manifest, tag=f"{digest.tag_suffix}.sbom")
    client.push_blob(REPO, b"{}")
    client.push_manifest(
        REPO,
        Manifest.build(
            Descriptor.for_content(b"{}", OCI_EMPTY),
            [Descriptor.for_content(sbom, "application/vnd.cyclonedx+json")],
            subject=client.resolve(reference),
            artifact_type="application/vnd.cyclonedx+json",
        ),
    )
    tree = client.list_attachments(reference)
    assert tree.image == reference.with_digest(digest)
    assert [(a.storage, a.predicate_type) for a in tree.signatures] == [
        (AttachmentStorage.REFERRER, COSIGN_SIGN_PREDICATE_TYPE),
        (AttachmentStorage.TAG, None),
    ]
    assert {(a.storage, a.predicate_type) for a in tree.attestations} == {
        (AttachmentStorage.REFERRER, SLSA_PROVENANCE_V1_PREDICATE_TYPE),
        (AttachmentStorage.TAG, COSIGN_VULN_PREDICATE_TYPE),
    }
    assert sorted((a.storage.value, a.media_type) for a in tree.sboms) == [
        ("referrer", "application/vnd.cyclonedx+json"),
        ("tag", "text/spdx+json"),
    ]
    assert tree.others == ()
    assert tree.warnings == ()
    data = tree.to_dict()
    assert list(data) == [
        "image",
        "digest",
        "signatures",
        "attestations",
        "sboms",
        "other",
        "warnings",
    ]
    assert data["attestations"][0]["kind"] == AttachmentKind.ATTESTATION.value
    assert json.loads(json.dumps(data)) == data
