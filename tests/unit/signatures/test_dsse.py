"""DSSE: the pre-authentication encoding, envelope parsing and each producer's bytes."""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from hypothesis import given
from hypothesis import strategies as st

from imagesig.errors import EnvelopeError, SizeLimitExceededError
from imagesig.signatures.dsse import (
    IN_TOTO_PAYLOAD_TYPE,
    MAX_SIGNATURES,
    Envelope,
    EnvelopeSignature,
    pae,
)

# The test vector of the DSSE protocol specification (protocol.md, "Test Vectors").
SPEC_PAYLOAD_TYPE = "http://example.com/HelloWorld"
SPEC_PAE = b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
SPEC_SIG = (
    "A3JqsQGtVsJ2O2xqrI5IcnXip5GToJ3F+FnZ+O88SjtR6rDAajabZKciJTfUiHqJPcIAriEGAHTVeCUjW2JIZA=="
)
SPEC_ENVELOPE = (
    b'{"payload": "aGVsbG8gd29ybGQ=",\n'
    b' "payloadType": "http://example.com/HelloWorld",\n'
    b' "signatures": [{"sig": "' + SPEC_SIG.encode() + b'"}]}'
)
SPEC_X = 46950820868899156662930047687818585632848591499744589407958293238635476079160
SPEC_Y = 5640078356564379163099075877009565129882514886557779369047442380624545832820
SPEC_D = 97358161215184420915383655311931858321456579547487070936769975997791359926199


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_pae_matches_the_specification_vector() -> None:
    assert pae(SPEC_PAYLOAD_TYPE, b"hello world") == SPEC_PAE


@pytest.mark.parametrize(
    ("payload_type", "payload", "expected"),
    [
        ("", b"", b"DSSEv1 0  0 "),
        (IN_TOTO_PAYLOAD_TYPE, b"{}", b"DSSEv1 28 application/vnd.in-toto+json 2 {}"),
        # lengths count bytes, not characters
        ("t\u00e9", b"\xff" * 10, b"DSSEv1 3 t\xc3\xa9 10 " + b"\xff" * 10),
    ],
)
def test_pae_counts_bytes_in_decimal(payload_type: str, payload: bytes, expected: bytes) -> None:
    assert pae(payload_type, payload) == expected


@given(st.text(max_size=30), st.binary(max_size=200))
def test_pae_is_unambiguous(payload_type: str, payload: bytes) -> None:
    encoded = pae(payload_type, payload)
    head, type_length, rest = encoded.split(b" ", 2)
    assert head == b"DSSEv1"
    type_bytes = rest[: int(type_length)]
    assert type_bytes.decode() == payload_type
    body_length, body = rest[int(type_length) + 1 :].split(b" ", 1)
    assert int(body_length) == len(body)
    assert body == payload


def test_specification_envelope_parses_and_its_signature_verifies() -> None:
    envelope = Envelope.parse(SPEC_ENVELOPE)
    assert envelope.payload == b"hello world"
    assert envelope.payload_type == SPEC_PAYLOAD_TYPE
    assert envelope.raw == SPEC_ENVELOPE
    assert envelope.pae_bytes() == SPEC_PAE
    (signature,) = envelope.signatures
    assert signature.keyid == ""
    key = ec.derive_private_key(SPEC_D, ec.SECP256R1()).public_key()
    assert (key.public_numbers().x, key.public_numbers().y) == (SPEC_X, SPEC_Y)
    r, s = int.from_bytes(signature.sig[:32], "big"), int.from_bytes(signature.sig[32:], "big")
    key.verify(encode_dss_signature(r, s), envelope.pae_bytes(), ec.ECDSA(hashes.SHA256()))


def test_changing_the_payload_type_breaks_the_signature() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    statement = b'{"_type":"https://in-toto.io/Statement/v1"}'
    sig = key.sign(pae(IN_TOTO_PAYLOAD_TYPE, statement), ec.ECDSA(hashes.SHA256()))
    original = Envelope(statement, IN_TOTO_PAYLOAD_TYPE, [EnvelopeSignature(sig)])
    tampered = Envelope.parse(
        original.to_json().replace(IN_TOTO_PAYLOAD_TYPE.encode(), b"application/json")
    )
    assert tampered.payload == statement
    key.public_key().verify(sig, original.pae_bytes(), ec.ECDSA(hashes.SHA256()))
    with pytest.raises(InvalidSignature):
        key.public_key().verify(sig, tampered.pae_bytes(), ec.ECDSA(hashes.SHA256()))
    # the payload alone is never what is signed
    with pytest.raises(InvalidSignature):
        key.public_key().verify(sig, statement, ec.ECDSA(hashes.SHA256()))


@pytest.mark.parametrize(
    "encode",
    [
        base64.b64encode,
        base64.urlsafe_b64encode,
        lambda data: base64.b64encode(data).rstrip(b"="),
        lambda data: base64.urlsafe_b64encode(data).rstrip(b"="),
    ],
)
def test_parse_accepts_standard_and_url_safe_base64(encode: object) -> None:
    payload = b"\xfb\xff\xfe payload needing + and / in base64 \xff"
    sig = b"\xfa\xfb\xfc\xfd\xfe"
    assert callable(encode)
    raw = json.dumps(
        {
            "payloadType": IN_TOTO_PAYLOAD_TYPE,
            "payload": encode(payload).decode(),
            "signatures": [{"sig": encode(sig).decode()}],
        }
    ).encode()
    envelope = Envelope.parse(raw)
    assert envelope.payload == payload
    assert envelope.signatures == (EnvelopeSignature(sig),)


def test_to_json_writes_securesystemslib_bytes_by_default() -> None:
    envelope = Envelope(b"{}", IN_TOTO_PAYLOAD_TYPE, [EnvelopeSignature(b"\x01\x02")])
    assert envelope.to_json() == (
        b'{"payloadType":"application/vnd.in-toto+json","payload":"e30=",'
        b'"signatures":[{"keyid":"","sig":"AQI="}]}'
    )


def test_to_json_writes_the_protobuf_struct_bytes_cosign_v3_attaches() -> None:
    envelope = Envelope(b"{}", IN_TOTO_PAYLOAD_TYPE, [EnvelopeSignature(b"\x01\x02", "k&1")])
    assert envelope.to_json(style="protobuf") == (
        b'{"payload":"e30=","payloadType":"application/vnd.in-toto+json",'
        b'"signatures":[{"sig":"AQI=","keyid":"k\\u00261"}]}'
    )
    assert Envelope(b"{}", IN_TOTO_PAYLOAD_TYPE, [EnvelopeSignature(b"\x01")]).to_protojson() == {
        "payload": "e30=",
        "payloadType": IN_TOTO_PAYLOAD_TYPE,
        "signatures": [{"sig": "AQ=="}],
    }


@given(
    st.binary(max_size=100),
    st.text(max_size=20),
    st.lists(st.tuples(st.binary(min_size=1, max_size=20), st.text(max_size=5)), max_size=3),
)
def test_envelopes_round_trip_in_both_styles(
    payload: bytes, payload_type: str, signatures: list[tuple[bytes, str]]
) -> None:
    envelope = Envelope(payload, payload_type, [EnvelopeSignature(s, k) for s, k in signatures])
    for style in ("securesystemslib", "protobuf"):
        raw = envelope.to_json(style=style)  # type: ignore[arg-type]
        if style == "protobuf" and (not payload or not payload_type or not signatures):
            continue  # empty fields are omitted there, and the reader requires them
        parsed = Envelope.parse(raw)
        assert parsed == envelope
        assert parsed.raw == raw


def test_parse_matches_keys_as_go_does_and_ignores_unknown_fields() -> None:
    raw = b'{"PayloadType":"t","PAYLOAD":"e30=","Signatures":[{"KeyID":"k","Sig":"AQ=="}],"x":1}'
    envelope = Envelope.parse(raw)
    assert envelope == Envelope(b"{}", "t", [EnvelopeSignature(b"\x01", "k")])


@pytest.mark.parametrize(
    "raw",
    [
        b'{"payloadType":"t","payload":"e30=","signatures":[],"payloadtype":"u"}',
        b'{"payloadType":"t","payload":"e30=","payload":"e30=","signatures":[]}',
        b'{"payloadType":"t","payload":"e30=","signatures":[{"sig":"AQ==","SIG":"AQ=="}]}',
    ],
)
def test_parse_refuses_duplicate_and_ambiguous_keys(raw: bytes) -> None:
    with pytest.raises(EnvelopeError, match=r"duplicate|two keys"):
        Envelope.parse(raw)


@pytest.mark.parametrize(
    "raw",
    [
        b"[]",
        b'{"payload":"e30=","signatures":[]}',
        b'{"payloadType":"t","signatures":[]}',
        b'{"payloadType":"t","payload":"e30="}',
        b'{"payloadType":"t","payload":null,"signatures":[]}',
        b'{"payloadType":5,"payload":"e30=","signatures":[]}',
        b'{"payloadType":"t","payload":{"a":1},"signatures":[]}',
        b'{"payloadType":"t","payload":"e30=","signatures":{}}',
        b'{"payloadType":"t","payload":"e30=","signatures":["AQ=="]}',
        b'{"payloadType":"t","payload":"e30=","signatures":[{"keyid":"k"}]}',
        b'{"payloadType":"t","payload":"e30=","signatures":[{"sig":"A+_B"}]}',
        b'{"payloadType":"t","payload":"e3=0","signatures":[]}',
        b'{"payloadType":"t","payload":"e30=","signatures":[{"sig":"AQ==","keyid":7}]}',
    ],
)
def test_parse_refuses_malformed_envelopes(raw: bytes) -> None:
    with pytest.raises(EnvelopeError):
        Envelope.parse(raw)


def test_parse_caps_the_number_of_signatures() -> None:
    signatures = [{"sig": "AQ=="}] * (MAX_SIGNATURES + 1)
    raw = json.dumps({"payloadType": "t", "payload": "", "signatures": signatures}).encode()
    with pytest.raises(SizeLimitExceededError):
        Envelope.parse(raw)
    assert len(Envelope.parse(raw, max_signatures=64).signatures) == MAX_SIGNATURES + 1


def test_parse_caps_the_size() -> None:
    raw = json.dumps({"payloadType": "t", "payload": b64(b"x" * 10_000_000), "signatures": []})
    with pytest.raises(SizeLimitExceededError):
        Envelope.parse(raw.encode(), max_bytes=1024 * 1024)


def test_from_protojson_is_strict_about_field_names() -> None:
    good = {"payload": "e30=", "payloadType": "t", "signatures": [{"sig": "AQ==", "keyid": "k"}]}
    assert Envelope.from_protojson(good) == Envelope(b"{}", "t", [EnvelopeSignature(b"\x01", "k")])
    with pytest.raises(EnvelopeError, match="unknown field"):
        Envelope.from_protojson({**good, "PayloadType": "u"})
    with pytest.raises(EnvelopeError):
        Envelope.from_protojson({"payloadType": "t"})
