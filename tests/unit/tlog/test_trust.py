"""Trusted roots: parsing, the shipped public-good root, key overrides, log selection by time."""

from __future__ import annotations

import base64
import copy
import hashlib
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa, x25519
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from imagesig.errors import SizeLimitExceededError, TrustRootError, UnknownLogError
from imagesig.tlog.trust import (
    DEFAULT_REKOR_URL,
    MAX_TRUSTED_ROOT_BYTES,
    TRUSTED_ROOT_MEDIA_TYPE,
    TransparencyLogInstance,
    TrustedRoot,
    load_log_public_key,
    log_id_for_key,
    verify_log_signature,
)

PRODUCTION_LOG_ID = "c0d23d6ad406973f9559f3ba2d1ca01f84147d8ffc5b8445c224f98b9591801d"


def pem_of(key: ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def root_document(
    key: ec.EllipticCurvePrivateKey, *, start: str = "2021-01-01T00:00:00Z", end: str | None = None
) -> dict[str, Any]:
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    valid_for = {"start": start} if end is None else {"start": start, "end": end}
    return {
        "mediaType": TRUSTED_ROOT_MEDIA_TYPE,
        "tlogs": [
            {
                "baseUrl": "https://rekor.example.test",
                "hashAlgorithm": "SHA2_256",
                "publicKey": {
                    "rawBytes": base64.b64encode(der).decode(),
                    "keyDetails": "PKIX_ECDSA_P256_SHA_256",
                    "validFor": valid_for,
                },
                "logId": {"keyId": base64.b64encode(hashlib.sha256(der).digest()).decode()},
            }
        ],
    }


@pytest.fixture(scope="module")
def key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def test_public_good_root_lists_the_production_rekor_log() -> None:
    root = TrustedRoot.public_good()
    (log,) = root.tlogs
    assert log.base_url == "https://rekor.sigstore.dev"
    assert log.log_id.hex() == PRODUCTION_LOG_ID == log_id_for_key(log.public_key).hex()
    assert log.hash_algorithm == "SHA2_256"
    assert log.key_details == "PKIX_ECDSA_P256_SHA_256"
    assert log.valid_from == datetime(2021, 1, 12, 11, 53, 27, tzinfo=timezone.utc)
    assert log.valid_until is None
    assert len(root.certificate_authorities) == 2
    assert root.certificate_authorities[1].subject["commonName"] == "sigstore"
    assert len(root.certificate_authorities[1].certificates) == 2
    assert root.certificate_authorities[0].valid_until is not None
    assert [ct.base_url for ct in root.ctlogs] == [
        "https://ctfe.sigstore.dev/test",
        "https://ctfe.sigstore.dev/2022",
    ]
    assert root.timestamp_authorities == ()


def test_shipped_root_is_the_vector_copy(shared_vectors: Path) -> None:
    shipped = TrustedRoot.public_good()
    vector = TrustedRoot.from_file(shared_vectors / "cosign/trust/trusted_root_pgi.json")
    assert [log.log_id for log in shipped.tlogs] == [log.log_id for log in vector.tlogs]


def test_find_tlog_selects_by_id_and_validity(key: ec.EllipticCurvePrivateKey) -> None:
    root = TrustedRoot.from_json(
        json.dumps(root_document(key, start="2022-01-01T00:00:00Z", end="2023-01-01T00:00:00Z"))
    )
    log_id = log_id_for_key(key.public_key())
    start = int(datetime(2022, 1, 1, tzinfo=timezone.utc).timestamp())
    end = int(datetime(2023, 1, 1, tzinfo=timezone.utc).timestamp())
    assert root.find_tlog(log_id, start).log_id == log_id  # both ends inclusive
    assert root.find_tlog(log_id, end).log_id == log_id
    assert root.find_tlog(log_id, None).log_id == log_id
    for outside in (start - 1, end + 1, 2**53 - 1):
        with pytest.raises(UnknownLogError) as info:
            root.find_tlog(log_id, outside)
        assert info.value.context["check"] == "log-key-validity"
    with pytest.raises(UnknownLogError) as info:
        root.find_tlog(bytes(32), start)
    assert info.value.context["check"] == "log-id"


def test_a_rotated_log_id_picks_the_window_that_covers_the_time(
    key: ec.EllipticCurvePrivateKey,
) -> None:
    document = root_document(key, start="2020-01-01T00:00:00Z", end="2021-01-01T00:00:00Z")
    later = copy.deepcopy(document["tlogs"][0])
    later["baseUrl"] = "https://later.example.test"
    later["publicKey"]["validFor"] = {"start": "2022-01-01T00:00:00Z"}
    document["tlogs"].append(later)
    root = TrustedRoot.from_json(json.dumps(document))
    log_id = log_id_for_key(key.public_key())
    when = int(datetime(2024, 6, 1, tzinfo=timezone.utc).timestamp())
    assert root.find_tlog(log_id, when).base_url == "https://later.example.test"
    with pytest.raises(UnknownLogError):
        root.find_tlog(log_id, int(datetime(2021, 6, 1, tzinfo=timezone.utc).timestamp()))


def test_from_rekor_public_key_trusts_that_key_at_all_times(
    key: ec.EllipticCurvePrivateKey,
) -> None:
    root = TrustedRoot.from_rekor_public_key(pem_of(key))
    (log,) = root.tlogs
    assert log.base_url == DEFAULT_REKOR_URL
    assert (
        log.log_id
        == hashlib.sha256(
            key.public_key().public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        ).digest()
    )
    assert root.find_tlog(log.log_id, 0) is log
    assert root.find_tlog(log.log_id, 2**53 - 1) is log
    other = TrustedRoot.from_rekor_public_key(pem_of(key).decode(), base_url="http://127.0.0.1:1")
    assert other.tlogs[0].base_url == "http://127.0.0.1:1"


def test_production_rekor_pem_has_the_production_log_id(shared_vectors: Path) -> None:
    pem = (shared_vectors / "cosign/trust/rekor-production.pub").read_bytes()
    assert TrustedRoot.from_rekor_public_key(pem).tlogs[0].log_id.hex() == PRODUCTION_LOG_ID


def test_environment_key_file_replaces_the_public_good_root(
    tmp_path: Path, key: ec.EllipticCurvePrivateKey
) -> None:
    path = tmp_path / "rekor.pub"
    path.write_bytes(pem_of(key))
    root = TrustedRoot.from_environment({"SIGSTORE_REKOR_PUBLIC_KEY": str(path)})
    assert [log.log_id for log in root.tlogs] == [log_id_for_key(key.public_key())]
    assert str(path) in root.source


def test_environment_without_the_variable_gives_the_public_good_root() -> None:
    root = TrustedRoot.from_environment({})
    assert root.tlogs[0].log_id.hex() == PRODUCTION_LOG_ID
    assert TrustedRoot.from_environment({"SIGSTORE_REKOR_PUBLIC_KEY": ""}).tlogs[
        0
    ].log_id.hex() == (PRODUCTION_LOG_ID)


def test_environment_reads_os_environ_by_default(
    tmp_path: Path, key: ec.EllipticCurvePrivateKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "rekor.pub"
    path.write_bytes(pem_of(key))
    monkeypatch.setenv("SIGSTORE_REKOR_PUBLIC_KEY", str(path))
    assert TrustedRoot.from_environment().tlogs[0].log_id == log_id_for_key(key.public_key())


def test_environment_key_file_problems_name_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "missing.pub"
    with pytest.raises(TrustRootError, match=r"missing\.pub"):
        TrustedRoot.from_environment({"SIGSTORE_REKOR_PUBLIC_KEY": str(missing)})
    garbage = tmp_path / "garbage.pub"
    garbage.write_bytes(b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")
    with pytest.raises(TrustRootError, match=r"garbage\.pub"):
        TrustedRoot.from_environment({"SIGSTORE_REKOR_PUBLIC_KEY": str(garbage)})
    huge = tmp_path / "huge.pub"
    huge.write_bytes(b"x" * (64 * 1024 + 1))
    with pytest.raises(SizeLimitExceededError):
        TrustedRoot.from_environment({"SIGSTORE_REKOR_PUBLIC_KEY": str(huge)})


def test_non_signing_key_types_are_refused() -> None:
    pem = (
        x25519.X25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    with pytest.raises(TrustRootError, match="X25519"):
        load_log_public_key(pem)
    with pytest.raises(TrustRootError, match="not a valid public key"):
        load_log_public_key(b"\x30\x03\x02\x01\x00")


def test_pkcs1_rsa_keys_load() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1)
    assert load_log_public_key(der).public_numbers() == key.public_numbers()  # type: ignore[union-attr]


def mutate(document: dict[str, Any], path: str, value: object) -> dict[str, Any]:
    changed = copy.deepcopy(document)
    target: Any = changed
    *parents, last = path.split(".")
    for part in parents:
        target = target[int(part)] if part.isdigit() else target[part]
    if value is KeyError:
        del target[last]
    else:
        target[last] = value
    return changed


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        ("mediaType", "application/json", "mediaType"),
        ("tlogs", {}, "tlogs"),
        ("tlogs.0.hashAlgorithm", "SHA2_384", "tlogs[0].hashAlgorithm"),
        ("tlogs.0.baseUrl", 5, "tlogs[0].baseUrl"),
        ("tlogs.0.publicKey", KeyError, "tlogs[0].publicKey"),
        ("tlogs.0.publicKey.rawBytes", "%%%", "tlogs[0].publicKey.rawBytes"),
        (
            "tlogs.0.publicKey.rawBytes",
            base64.b64encode(b"junk").decode(),
            "tlogs[0].publicKey.rawBytes",
        ),
        ("tlogs.0.publicKey.keyDetails", 7, "tlogs[0].publicKey.keyDetails"),
        ("tlogs.0.publicKey.validFor.start", KeyError, "tlogs[0].publicKey.validFor.start"),
        ("tlogs.0.publicKey.validFor.start", "yesterday", "tlogs[0].publicKey.validFor.start"),
        (
            "tlogs.0.publicKey.validFor.start",
            "2021-02-30T00:00:00Z",
            "tlogs[0].publicKey.validFor.start",
        ),
        ("tlogs.0.logId", KeyError, "tlogs[0].logId"),
        ("tlogs.0.logId.keyId", "", "tlogs[0].logId.keyId"),
        (
            "certificateAuthorities",
            [{"certChain": {"certificates": [{}]}}],
            "certificateAuthorities[0]",
        ),
    ],
)
def test_malformed_roots_name_the_file_and_field(
    key: ec.EllipticCurvePrivateKey, tmp_path: Path, path: str, value: object, field: str
) -> None:
    file = tmp_path / "root.json"
    file.write_text(json.dumps(mutate(root_document(key), path, value)))
    with pytest.raises(TrustRootError) as info:
        TrustedRoot.from_file(file)
    assert str(file) in info.value.message
    assert field in info.value.message


def test_unreadable_and_oversized_roots(tmp_path: Path) -> None:
    with pytest.raises(TrustRootError, match="cannot read"):
        TrustedRoot.from_file(tmp_path / "nope.json")
    with pytest.raises(TrustRootError, match="not valid JSON"):
        TrustedRoot.from_json("{")
    with pytest.raises(SizeLimitExceededError):
        TrustedRoot.from_json(b" " * (MAX_TRUSTED_ROOT_BYTES + 1))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2021-01-12T11:53:27.000Z", datetime(2021, 1, 12, 11, 53, 27, tzinfo=timezone.utc)),
        ("2021-01-12T11:53:27Z", datetime(2021, 1, 12, 11, 53, 27, tzinfo=timezone.utc)),
        (
            "2021-01-12T11:53:27.123456789Z",
            datetime(2021, 1, 12, 11, 53, 27, 123456, tzinfo=timezone.utc),
        ),
        ("2021-01-12T13:53:27+02:00", datetime(2021, 1, 12, 11, 53, 27, tzinfo=timezone.utc)),
    ],
)
def test_validity_timestamps_in_every_protojson_form(
    key: ec.EllipticCurvePrivateKey, text: str, expected: datetime
) -> None:
    root = TrustedRoot.from_json(json.dumps(root_document(key, start=text)))
    assert root.tlogs[0].valid_from == expected


def test_to_json_round_trips() -> None:
    root = TrustedRoot.public_good()
    again = TrustedRoot.from_json(root.to_json())
    assert [log.to_dict() for log in again.tlogs] == [log.to_dict() for log in root.tlogs]
    assert [log.to_dict() for log in again.ctlogs] == [log.to_dict() for log in root.ctlogs]
    assert [ca.raw for ca in again.certificate_authorities] == [
        ca.raw for ca in root.certificate_authorities
    ]
    assert root.tlogs[0].to_dict()["publicKey"]["validFor"] == {"start": "2021-01-12T11:53:27Z"}


def test_instance_validity_accepts_datetimes(key: ec.EllipticCurvePrivateKey) -> None:
    log = TransparencyLogInstance(
        base_url="",
        hash_algorithm="SHA2_256",
        public_key=key.public_key(),
        log_id=log_id_for_key(key.public_key()),
        valid_from=datetime(2022, 1, 1, tzinfo=timezone.utc),
    )
    assert log.valid_at(datetime(2022, 1, 2, tzinfo=timezone.utc))
    assert not log.valid_at(datetime(2021, 12, 31, tzinfo=timezone.utc))


def test_ecdsa_signatures_verify_in_der_and_fixed_size_forms(
    key: ec.EllipticCurvePrivateKey,
) -> None:
    der = key.sign(b"data", ec.ECDSA(hashes.SHA256()))
    r, s = decode_dss_signature(der)
    p1363 = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    assert verify_log_signature(key.public_key(), der, b"data")
    assert verify_log_signature(key.public_key(), p1363, b"data")
    assert not verify_log_signature(key.public_key(), der, b"other")
    assert not verify_log_signature(key.public_key(), b"garbage", b"data")


def test_rsa_signatures_verify_with_pkcs1v15_or_pss() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pkcs1 = key.sign(b"data", padding.PKCS1v15(), hashes.SHA256())
    pss = key.sign(
        b"data", padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32), hashes.SHA256()
    )
    assert verify_log_signature(key.public_key(), pkcs1, b"data")
    assert verify_log_signature(key.public_key(), pss, b"data")
    assert not verify_log_signature(key.public_key(), pss, b"other")


def test_ed25519_signs_the_data_itself() -> None:
    key = ed25519.Ed25519PrivateKey.generate()
    assert verify_log_signature(key.public_key(), key.sign(b"data"), b"data")
    assert not verify_log_signature(key.public_key(), key.sign(b"data"), b"datA")


def test_fixed_size_ecdsa_signatures_starting_like_der_still_verify(
    key: ec.EllipticCurvePrivateKey,
) -> None:
    # About 1 in 256 r||s signatures begins with the DER SEQUENCE tag 0x30.
    for i in range(20000):
        data = b"message %d" % i
        r, s = decode_dss_signature(key.sign(data, ec.ECDSA(hashes.SHA256())))
        p1363 = r.to_bytes(32, "big") + s.to_bytes(32, "big")
        if p1363[0] == 0x30:
            assert verify_log_signature(key.public_key(), p1363, data)
            return
    pytest.fail("no signature starting with 0x30 found")


def test_a_root_without_validity_windows_round_trips_through_json() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    root = TrustedRoot.from_rekor_public_key(pem_of(key))
    again = TrustedRoot.from_json(root.to_json())
    assert [t.log_id for t in again.tlogs] == [t.log_id for t in root.tlogs]
    assert again.tlogs[0].valid_from is None
    assert again.find_tlog(root.tlogs[0].log_id, at=0).log_id == root.tlogs[0].log_id
