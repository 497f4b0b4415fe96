"""Property tests for DSSE as attestations use it: PAE, envelope parsing, signature checks.

Random payload types, payloads and base64 alphabets round-trip through both envelope forms
and the bundle form; any single-byte change to the payload type, the payload or the
signature makes verification fail (the signature covers the pre-authentication encoding of
both, so nothing can be relabelled or edited).
"""

from __future__ import annotations

import base64
import json

import attrs
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from imagesig.signatures.bundle import (
    BUNDLE_V03_MEDIA_TYPE,
    Bundle,
    VerificationMaterial,
)
from imagesig.signatures.dsse import Envelope, EnvelopeSignature, pae
from imagesig.signers import LocalSigner

SIGNER = LocalSigner.generate()
KEY = SIGNER.public_key()

payload_types = st.text(
    st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=40
).filter(lambda text: len(text.encode("utf-8")) <= 200)
payloads = st.binary(min_size=1, max_size=300)
alphabets = st.sampled_from(["standard", "urlsafe", "standard-unpadded", "urlsafe-unpadded"])


def encode(data: bytes, alphabet: str) -> str:
    text = (base64.urlsafe_b64encode if "urlsafe" in alphabet else base64.b64encode)(data)
    decoded = text.decode("ascii")
    return decoded.rstrip("=") if "unpadded" in alphabet else decoded


def sign(payload_type: str, payload: bytes) -> Envelope:
    signature = SIGNER.sign(pae(payload_type, payload))
    return Envelope(payload, payload_type, (EnvelopeSignature(signature),))


def verifies(envelope: Envelope) -> bool:
    return any(KEY.verify(s.sig, envelope.pae_bytes()) for s in envelope.signatures)


def flip(data: bytes, position: int, mask: int) -> bytes:
    index = position % len(data)
    return data[:index] + bytes([data[index] ^ mask]) + data[index + 1 :]


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(payload_types, payloads, alphabets)
def test_envelopes_round_trip_in_every_alphabet(
    payload_type: str, payload: bytes, alphabet: str
) -> None:
    signed = sign(payload_type, payload)
    document = {
        "payloadType": payload_type,
        "payload": encode(payload, alphabet),
        "signatures": [{"keyid": "", "sig": encode(signed.signatures[0].sig, alphabet)}],
    }
    parsed = Envelope.parse(json.dumps(document).encode())
    assert parsed == signed
    assert verifies(parsed)
    for style in ("securesystemslib", "protobuf"):
        again = Envelope.parse(signed.to_json(style=style))  # type: ignore[arg-type]
        assert again == signed
        assert verifies(again)
    material = VerificationMaterial(public_key_hint="")
    bundle = Bundle(BUNDLE_V03_MEDIA_TYPE, material, dsse_envelope=signed)
    reread = Bundle.parse(bundle.to_json())
    assert reread.dsse_envelope == signed


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(payload_types, payloads, st.integers(min_value=0), st.integers(min_value=1, max_value=255))
def test_any_single_byte_change_fails_verification(
    payload_type: str, payload: bytes, position: int, mask: int
) -> None:
    signed = sign(payload_type, payload)
    assert verifies(signed)
    signature = signed.signatures[0]
    changed_payload = attrs_evolve(signed, payload=flip(payload, position, mask))
    assert not verifies(changed_payload)
    changed_signature = attrs_evolve(
        signed, signatures=(EnvelopeSignature(flip(signature.sig, position, mask)),)
    )
    assert not verifies(changed_signature)
    raw_type = payload_type.encode("utf-8")
    changed_type = flip(raw_type, position, mask).decode("utf-8", errors="replace")
    if changed_type != payload_type:
        assert not verifies(attrs_evolve(signed, payload_type=changed_type))


def attrs_evolve(envelope: Envelope, **changes: object) -> Envelope:
    return attrs.evolve(envelope, **changes)  # type: ignore[arg-type]


@given(payload_types, payloads)
def test_pae_lengths_are_byte_counts(payload_type: str, payload: bytes) -> None:
    encoded = pae(payload_type, payload)
    raw_type = payload_type.encode("utf-8")
    assert encoded == b"DSSEv1 %d %s %d %s" % (len(raw_type), raw_type, len(payload), payload)
