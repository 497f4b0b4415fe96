"""The client adapter: how attestor fields become imagesig verification settings."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from imagesig._flow import drive_sync
from imagesig.errors import KeyFormatError
from imagesig.policy.model import (
    Attestor,
    KeylessAttestor,
    Rekor,
    SecretReference,
    StaticKeyAttestor,
)
from imagesig.policy.verifier import (
    ClientVerifier,
    SignatureRequest,
    Verifier,
    VerifierOutcome,
    run_answer,
)
from imagesig.signatures.options import TransparencyLogOptions
from imagesig.signers import LocalSigner, register_signer
from imagesig.testing import RekorServer

DIGEST = "sha256:" + "a" * 64


def request(attestor: Attestor, **extra: Any) -> SignatureRequest:
    return SignatureRequest(
        image="ghcr.io/org/app:v1",
        reference=f"ghcr.io/org/app@{DIGEST}",
        digest=DIGEST,
        attestor=attestor,
        **extra,
    )


def answer(flow: Any) -> Any:
    return drive_sync(run_answer(flow), None)


@pytest.mark.parametrize(
    ("attestor", "extra", "message"),
    [
        (
            Attestor(keyless=KeylessAttestor(subject="*")),
            {},
            "keyless verification not supported yet",
        ),
        (Attestor(), {}, "keyless verification not supported yet"),
        (
            Attestor(keys=StaticKeyAttestor(public_keys="x")),
            {"verifier_type": "Notary"},
            "notary verification not supported yet",
        ),
    ],
)
def test_unsupported_attestors_fail_rather_than_pass(
    attestor: Attestor, extra: dict[str, Any], message: str
) -> None:
    verifier = ClientVerifier()
    outcome = answer(verifier.verify_signatures(request(attestor, **extra)))
    assert outcome == VerifierOutcome.failed(message)
    assert isinstance(verifier, Verifier)


def test_rekor_block_maps_to_transparency_log_options() -> None:
    base = TransparencyLogOptions(rekor_url="http://rekor.local")
    verifier = ClientVerifier(tlog=base)
    assert verifier._tlog_for(None) is base  # no block: a proof from the default log
    assert verifier._tlog_for(Rekor(ignore_tlog=True)).ignore
    assert verifier._tlog_for(Rekor(url="https://log.example")).rekor_url == "https://log.example"
    with RekorServer() as rekor:
        pem = rekor.public_key_pem.decode()
        options = verifier._tlog_for(Rekor(url=rekor.url, pubkey=pem))
    assert options.trusted_root is not None
    assert options.trusted_root.tlogs[0].log_id == rekor.log_id
    assert not options.ignore


def keys_of(verifier: ClientVerifier, keys: StaticKeyAttestor, *, first_only: bool = False) -> Any:
    return drive_sync(verifier._key(keys, first_only=first_only), None)


def test_public_key_sources() -> None:
    signer_a, signer_b = LocalSigner.generate(), LocalSigner.generate()
    pem_a, pem_b = signer_a.public_key().pem.decode(), signer_b.public_key().pem.decode()
    secrets = {("kyverno", "keys"): {"cosign.pub": pem_b}}
    verifier = ClientVerifier(secrets=lambda ns, name: secrets.get((ns, name)))
    assert keys_of(verifier, StaticKeyAttestor(public_keys=pem_a)) == signer_a.public_key()
    both = pem_a + pem_b
    assert (
        keys_of(verifier, StaticKeyAttestor(public_keys=both), first_only=True)
        == signer_a.public_key()
    )
    secret = StaticKeyAttestor(secret=SecretReference(name="keys", namespace="kyverno"))
    assert keys_of(verifier, secret) == signer_b.public_key()
    assert (
        keys_of(verifier, StaticKeyAttestor(public_keys="k8s://kyverno/keys"))
        == signer_b.public_key()
    )
    with pytest.raises(KeyFormatError, match=r"no cosign\.pub"):
        keys_of(verifier, StaticKeyAttestor(public_keys="k8s://kyverno/other"))
    with pytest.raises(KeyFormatError, match="no secret lookup"):
        keys_of(ClientVerifier(), secret)
    with pytest.raises(KeyFormatError, match="neither PEM nor a key URI"):
        keys_of(verifier, StaticKeyAttestor(public_keys="not a key"))
    with pytest.raises(KeyFormatError, match="names no public key"):
        keys_of(verifier, StaticKeyAttestor())


@pytest.fixture
def kms_scheme() -> Iterator[tuple[LocalSigner, list[str]]]:
    signer = LocalSigner.generate()
    asked: list[str] = []

    def factory(reference: str, **options: Any) -> LocalSigner:
        asked.append(reference)
        return signer

    with register_signer("testkms", factory):
        yield signer, asked


def test_kms_keys_are_fetched_once_through_the_provider(
    kms_scheme: tuple[LocalSigner, list[str]],
) -> None:
    signer, asked = kms_scheme
    verifier = ClientVerifier()
    uri = "testkms://keys/cosign"
    for keys in (StaticKeyAttestor(kms=uri), StaticKeyAttestor(public_keys=uri)):
        assert keys_of(verifier, keys) == signer.public_key()
    assert len(asked) == 1


def test_key_errors_become_failed_outcomes() -> None:
    verifier = ClientVerifier()
    outcome = answer(
        verifier.verify_signatures(request(Attestor(keys=StaticKeyAttestor(public_keys="junk"))))
    )
    assert not outcome.verified
    assert "neither PEM nor a key URI" in outcome.message
    assert not outcome.transient


def test_run_answer_accepts_values_and_flows() -> None:
    def flow() -> Any:
        yield from ()
        return 3

    assert drive_sync(run_answer(5), None) == 5
    assert drive_sync(run_answer(flow()), None) == 3
