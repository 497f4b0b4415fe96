"""Sigstore bundles: one signature with everything needed to verify it offline.

A bundle is the protobuf JSON form of ``dev.sigstore.bundle.v1.Bundle``::

    {"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json",
     "verificationMaterial":{"certificate":{"rawBytes":"<b64 DER>"},
                             "tlogEntries":[{...}],
                             "timestampVerificationData":{"rfc3161Timestamps":[...]}},
     "dsseEnvelope":{"payload":"<b64>","payloadType":"application/vnd.in-toto+json",
                     "signatures":[{"sig":"<b64>"}]}}

cosign v3 attaches one to an image as an OCI referrer (artifact type
:data:`BUNDLE_V03_MEDIA_TYPE`, manifest annotations :data:`BUNDLE_CONTENT_ANNOTATION` and
:data:`BUNDLE_PREDICATE_TYPE_ANNOTATION`).

:meth:`Bundle.parse` reads it as protobuf's JSON parser (which cosign uses through
sigstore-go) does — JSON or proto field names, unknown fields refused, a field or oneof given
twice refused, ``null`` meaning unset, 64-bit integers as strings or numbers, bytes in either
base64 alphabet — and adds sigstore-go's validation and limits:

* media types ``application/vnd.dev.sigstore.bundle.v0.3+json`` (any ``v0.x[.y]`` from 0.1 up
  to, not including, 0.4) and ``application/vnd.dev.sigstore.bundle+json;version=0.1|0.2|0.3``;
* exactly one verification material (public-key hint, certificate or certificate chain); no
  certificate chain from v0.3 on;
* every transparency-log entry carries an inclusion promise (v0.1) or an inclusion proof
  (v0.2 and later) — imagesig asks it of each entry, sigstore-go of at least one;
* exactly one content, a message signature (with a digest of the length its algorithm gives)
  or a DSSE envelope with exactly one signature;
* at most :data:`MAX_BUNDLE_BYTES` (cosign's cap on a bundle layer), :data:`MAX_TLOG_ENTRIES`
  log entries and :data:`MAX_TIMESTAMPS` timestamps, checked before any entry is read.

:meth:`Bundle.to_json` writes protobuf's JSON form: lowerCamelCase names in declaration order,
standard padded base64, 64-bit integers as strings, enums by name, unset and empty fields
omitted, no optional spaces (the Go writer adds a space after every comma in some builds; the
signature inside a bundle never covers the bundle's own bytes, so either form verifies).

Log entries stay in their protobuf JSON form (:attr:`VerificationMaterial.tlog_entries`);
:meth:`Bundle.log_entries` turns them into :class:`imagesig.tlog.entries.LogEntry` objects.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

import attrs

from imagesig.errors import BundleError, SizeLimitExceededError
from imagesig.signatures import _json
from imagesig.signatures.dsse import (
    MAX_SIGNATURE_BYTES,
    MAX_SIGNATURES,
    Envelope,
    EnvelopeSignature,
)

if TYPE_CHECKING:
    from imagesig.tlog.entries import LogEntry

__all__ = [
    "BUNDLE_CONTENT_ANNOTATION",
    "BUNDLE_CONTENT_DSSE_ENVELOPE",
    "BUNDLE_CONTENT_MESSAGE_SIGNATURE",
    "BUNDLE_MEDIA_TYPES",
    "BUNDLE_MEDIA_TYPE_V01",
    "BUNDLE_MEDIA_TYPE_V02",
    "BUNDLE_MEDIA_TYPE_V03_LEGACY",
    "BUNDLE_PREDICATE_TYPE_ANNOTATION",
    "BUNDLE_V03_MEDIA_TYPE",
    "HASH_ALGORITHMS",
    "MAX_BUNDLE_BYTES",
    "MAX_CHAIN_CERTIFICATES",
    "MAX_PROOF_HASHES",
    "MAX_TIMESTAMPS",
    "MAX_TLOG_ENTRIES",
    "Bundle",
    "MessageSignature",
    "VerificationMaterial",
    "cosign_key_hint",
]

#: The media type bundles are written with (and the referrer artifact type cosign uses).
BUNDLE_V03_MEDIA_TYPE: Final = "application/vnd.dev.sigstore.bundle.v0.3+json"
#: Earlier spellings every reader must accept.
BUNDLE_MEDIA_TYPE_V01: Final = "application/vnd.dev.sigstore.bundle+json;version=0.1"
BUNDLE_MEDIA_TYPE_V02: Final = "application/vnd.dev.sigstore.bundle+json;version=0.2"
BUNDLE_MEDIA_TYPE_V03_LEGACY: Final = "application/vnd.dev.sigstore.bundle+json;version=0.3"
#: The exact media types accepted (``...bundle.v0.x.y+json`` patch versions are accepted too).
BUNDLE_MEDIA_TYPES: Final = frozenset(
    {
        BUNDLE_V03_MEDIA_TYPE,
        BUNDLE_MEDIA_TYPE_V01,
        BUNDLE_MEDIA_TYPE_V02,
        BUNDLE_MEDIA_TYPE_V03_LEGACY,
    }
)
#: OCI manifest annotation saying what a referrer bundle holds.
BUNDLE_CONTENT_ANNOTATION: Final = "dev.sigstore.bundle.content"
#: OCI manifest annotation with the in-toto predicate type of a referrer bundle.
BUNDLE_PREDICATE_TYPE_ANNOTATION: Final = "dev.sigstore.bundle.predicateType"
#: :data:`BUNDLE_CONTENT_ANNOTATION` values.
BUNDLE_CONTENT_DSSE_ENVELOPE: Final = "dsse-envelope"
BUNDLE_CONTENT_MESSAGE_SIGNATURE: Final = "message-signature"

#: Largest bundle :meth:`Bundle.parse` reads by default (cosign's bundle-layer cap).
MAX_BUNDLE_BYTES: Final = 10 * 1024 * 1024
#: Most transparency-log entries in one bundle (sigstore-go's limit).
MAX_TLOG_ENTRIES: Final = 32
#: Most RFC 3161 timestamps in one bundle (sigstore-go's limit).
MAX_TIMESTAMPS: Final = 32
#: Most certificates in a chain: a leaf and up to ten intermediates, plus a stray root.
MAX_CHAIN_CERTIFICATES: Final = 12
#: Most hashes in one inclusion proof (a tree of 2**64 leaves needs 64).
MAX_PROOF_HASHES: Final = 64

#: The protobuf ``HashAlgorithm`` names and their digest lengths in bytes.
HASH_ALGORITHMS: Final[Mapping[str, int]] = {
    "SHA2_256": 32,
    "SHA2_384": 48,
    "SHA2_512": 64,
    "SHA3_256": 32,
    "SHA3_384": 48,
}
_UNSPECIFIED = "HASH_ALGORITHM_UNSPECIFIED"
_HASH_ALGORITHM_NUMBERS = {
    1: "SHA2_256",
    2: "SHA2_384",
    3: "SHA2_512",
    4: "SHA3_256",
    5: "SHA3_384",
}
_HASHLIB_NAMES = {
    "SHA2_256": "sha256",
    "SHA2_384": "sha384",
    "SHA2_512": "sha512",
    "SHA3_256": "sha3_256",
    "SHA3_384": "sha3_384",
}

_WHAT = "Sigstore bundle"
_MEDIA_TYPE_RE = re.compile(
    r"application/vnd\.dev\.sigstore\.bundle\.v(0|[1-9][0-9]{0,5})\.(0|[1-9][0-9]{0,5})"
    r"(?:\.(0|[1-9][0-9]{0,5}))?\+json",
    re.ASCII,
)
_LEGACY_VERSIONS = {
    BUNDLE_MEDIA_TYPE_V01: (0, 1, 0),
    BUNDLE_MEDIA_TYPE_V02: (0, 2, 0),
    BUNDLE_MEDIA_TYPE_V03_LEGACY: (0, 3, 0),
}
_INT64_RE = re.compile(r"-?(?:0|[1-9][0-9]{0,18})", re.ASCII)
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


# --- A small protobuf-JSON codec, driven by the message layouts below. ----------------------


@attrs.frozen
class _Repeated:
    item: Any
    cap: int


@attrs.frozen
class _Message:
    fields: tuple[tuple[str, str, Any], ...]  # (JSON name, proto name, kind), declaration order
    oneofs: tuple[frozenset[str], ...] = ()

    def names(self) -> dict[str, str]:
        spellings: dict[str, str] = {}
        for json_name, proto_name, _kind in self.fields:
            spellings[json_name] = json_name
            spellings[proto_name] = json_name
        return spellings


_STRING, _INT64, _BYTES, _HASH_ALGORITHM = "string", "int64", "bytes", "HashAlgorithm"

_CHECKPOINT = _Message((("envelope", "envelope", _STRING),))
_INCLUSION_PROOF = _Message(
    (
        ("logIndex", "log_index", _INT64),
        ("rootHash", "root_hash", _BYTES),
        ("treeSize", "tree_size", _INT64),
        ("hashes", "hashes", _Repeated(_BYTES, MAX_PROOF_HASHES)),
        ("checkpoint", "checkpoint", _CHECKPOINT),
    )
)
_TLOG_ENTRY = _Message(
    (
        ("logIndex", "log_index", _INT64),
        ("logId", "log_id", _Message((("keyId", "key_id", _BYTES),))),
        (
            "kindVersion",
            "kind_version",
            _Message((("kind", "kind", _STRING), ("version", "version", _STRING))),
        ),
        ("integratedTime", "integrated_time", _INT64),
        (
            "inclusionPromise",
            "inclusion_promise",
            _Message((("signedEntryTimestamp", "signed_entry_timestamp", _BYTES),)),
        ),
        ("inclusionProof", "inclusion_proof", _INCLUSION_PROOF),
        ("canonicalizedBody", "canonicalized_body", _BYTES),
    )
)
_CERTIFICATE = _Message((("rawBytes", "raw_bytes", _BYTES),))
_VERIFICATION_MATERIAL = _Message(
    (
        ("publicKey", "public_key", _Message((("hint", "hint", _STRING),))),
        (
            "x509CertificateChain",
            "x509_certificate_chain",
            _Message(
                (("certificates", "certificates", _Repeated(_CERTIFICATE, MAX_CHAIN_CERTIFICATES)),)
            ),
        ),
        ("certificate", "certificate", _CERTIFICATE),
        ("tlogEntries", "tlog_entries", _Repeated(_TLOG_ENTRY, MAX_TLOG_ENTRIES)),
        (
            "timestampVerificationData",
            "timestamp_verification_data",
            _Message(
                (
                    (
                        "rfc3161Timestamps",
                        "rfc3161_timestamps",
                        _Repeated(
                            _Message((("signedTimestamp", "signed_timestamp", _BYTES),)),
                            MAX_TIMESTAMPS,
                        ),
                    ),
                )
            ),
        ),
    ),
    oneofs=(frozenset({"publicKey", "x509CertificateChain", "certificate"}),),
)
_ENVELOPE = _Message(
    (
        ("payload", "payload", _BYTES),
        ("payloadType", "payloadType", _STRING),
        (
            "signatures",
            "signatures",
            _Repeated(
                _Message((("sig", "sig", _BYTES), ("keyid", "keyid", _STRING))), MAX_SIGNATURES
            ),
        ),
    )
)
_BUNDLE = _Message(
    (
        ("mediaType", "media_type", _STRING),
        ("verificationMaterial", "verification_material", _VERIFICATION_MATERIAL),
        (
            "messageSignature",
            "message_signature",
            _Message(
                (
                    (
                        "messageDigest",
                        "message_digest",
                        _Message(
                            (
                                ("algorithm", "algorithm", _HASH_ALGORITHM),
                                ("digest", "digest", _BYTES),
                            )
                        ),
                    ),
                    ("signature", "signature", _BYTES),
                )
            ),
        ),
        ("dsseEnvelope", "dsse_envelope", _ENVELOPE),
    ),
    oneofs=(frozenset({"messageSignature", "dsseEnvelope"}),),
)


def _decode(value: Any, kind: Any, where: str) -> Any:
    """Check one protobuf JSON value and return it decoded (bytes, int, dict, list...)."""
    if isinstance(kind, _Message):
        if not isinstance(value, dict):
            raise BundleError(f"{where} must be an object", field=where)
        fields = _json.proto_fields(
            value, kind.names(), where=where, error=BundleError, oneofs=kind.oneofs
        )
        kinds = {json_name: field_kind for json_name, _proto, field_kind in kind.fields}
        return {
            name: _decode(item, kinds[name], f"{where}.{name}") for name, item in fields.items()
        }
    if isinstance(kind, _Repeated):
        if not isinstance(value, list):
            raise BundleError(f"{where} must be an array", field=where)
        if len(value) > kind.cap:
            raise SizeLimitExceededError(
                f"{where} has {len(value)} items, more than the cap of {kind.cap}",
                what=where,
                size=len(value),
                limit=kind.cap,
            )
        decoded = []
        for index, item in enumerate(value):
            if item is None:
                raise BundleError(f"{where}[{index}] is null", field=f"{where}[{index}]")
            decoded.append(_decode(item, kind.item, f"{where}[{index}]"))
        return decoded
    if kind == _STRING:
        if not isinstance(value, str):
            raise BundleError(f"{where} must be a string", field=where)
        return value
    if kind == _BYTES:
        return _json.decode_base64(value, field=where, error=BundleError)
    if kind == _INT64:
        if isinstance(value, str) and _INT64_RE.fullmatch(value):
            number = int(value)
        elif isinstance(value, int) and not isinstance(value, bool):
            number = value
        else:
            raise BundleError(f"{where} must be a 64-bit integer", field=where)
        if not _INT64_MIN <= number <= _INT64_MAX:
            raise BundleError(f"{where} is out of the 64-bit range", field=where)
        return number
    if kind == _HASH_ALGORITHM:
        name: str | None = None
        if isinstance(value, str) and (value in HASH_ALGORITHMS or value == _UNSPECIFIED):
            name = value
        elif isinstance(value, int) and not isinstance(value, bool):
            name = _UNSPECIFIED if value == 0 else _HASH_ALGORITHM_NUMBERS.get(value)
        if name is None:
            raise BundleError(f"{where} is not a known hash algorithm", field=where)
        return name
    raise AssertionError(f"unknown field kind {kind!r}")  # pragma: no cover


def _encode(value: Any, kind: Any) -> Any:
    """Write a decoded value back in protobuf JSON form; ``None`` means "omit"."""
    if isinstance(kind, _Message):
        document: dict[str, Any] = {}
        for json_name, _proto, field_kind in kind.fields:
            if json_name in value:
                encoded = _encode(value[json_name], field_kind)
                if encoded is not None:
                    document[json_name] = encoded
        return document
    if isinstance(kind, _Repeated):
        return [_encode(item, kind.item) for item in value] or None
    if kind == _BYTES:
        return _json.encode_base64(value) if value else None
    if kind == _INT64:
        return str(value) if value else None
    if kind == _HASH_ALGORITHM:
        return None if value == _UNSPECIFIED else value
    return value or None


# --- The model. --------------------------------------------------------------------------------


def cosign_key_hint(public_key_der: bytes) -> str:
    """Return the key hint cosign writes into bundles signed with a key.

    Args:
        public_key_der: the public key as DER ``SubjectPublicKeyInfo`` (from
            ``key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)``).

    Returns:
        Standard padded base64 of the SHA-256 of ``public_key_der``. cosign verifies with the
        key it is given and ignores the hint; other producers write other hints.
    """
    return base64.b64encode(hashlib.sha256(public_key_der).digest()).decode("ascii")


@attrs.frozen
class MessageSignature:
    """A signature over an artifact's bytes (``messageSignature`` content).

    Attributes:
        digest_algorithm: the protobuf ``HashAlgorithm`` name (``"SHA2_256"``...).
        digest: the artifact digest the bundle claims; an unauthenticated hint that must be
            compared with the real artifact digest before it means anything.
        signature: the raw signature bytes.
    """

    digest_algorithm: str
    digest: bytes
    signature: bytes

    @property
    def hashlib_name(self) -> str:
        """The :mod:`hashlib` name of :attr:`digest_algorithm` (``"sha256"``...)."""
        return _HASHLIB_NAMES[self.digest_algorithm]


def _tlog_entries(value: Iterable[Mapping[str, Any]]) -> tuple[Mapping[str, Any], ...]:
    return tuple(value)


def _byte_tuple(value: Iterable[bytes]) -> tuple[bytes, ...]:
    return tuple(value)


@attrs.frozen
class VerificationMaterial:
    """What verifies a bundle's signature: a key reference or certificates, log entries,
    timestamps.

    Exactly one of :attr:`public_key_hint`, :attr:`certificate` and :attr:`certificate_chain`
    is set.

    Attributes:
        public_key_hint: the public-key identifier (``""`` is a valid, empty hint); ``None``
            when the material is a certificate.
        certificate: the DER leaf certificate (v0.3 form); ``None`` otherwise.
        certificate_chain: the DER certificates of an ``x509CertificateChain``, leaf first
            (v0.1/v0.2 form); empty otherwise.
        tlog_entries: the transparency-log entries in protobuf JSON form (camelCase names,
            base64 bytes, integers as strings), read-only.
        rfc3161_timestamps: the DER RFC 3161 ``TimeStampResp`` values.

    Raises:
        BundleError: from the constructor when not exactly one key or certificate form is set.
    """

    public_key_hint: str | None = None
    certificate: bytes | None = None
    certificate_chain: tuple[bytes, ...] = attrs.field(default=(), converter=_byte_tuple)
    tlog_entries: tuple[Mapping[str, Any], ...] = attrs.field(default=(), converter=_tlog_entries)
    rfc3161_timestamps: tuple[bytes, ...] = attrs.field(default=(), converter=_byte_tuple)

    def __attrs_post_init__(self) -> None:
        forms = (
            self.public_key_hint is not None,
            self.certificate is not None,
            bool(self.certificate_chain),
        )
        if sum(forms) != 1:
            raise BundleError(
                "bundle verification material must be exactly one of a public-key hint, a "
                "certificate and a certificate chain",
                field="verificationMaterial",
            )

    @property
    def leaf_certificate(self) -> bytes | None:
        """The DER signing certificate: :attr:`certificate` or the chain's first, if any."""
        if self.certificate is not None:
            return self.certificate
        return self.certificate_chain[0] if self.certificate_chain else None


def _bundle_version(media_type: str) -> tuple[int, int, int]:
    known = _LEGACY_VERSIONS.get(media_type)
    if known is not None:
        return known
    match = _MEDIA_TYPE_RE.fullmatch(media_type)
    if match is None:
        raise BundleError(
            f"unsupported bundle media type {media_type[:120]!r}",
            field="mediaType",
            hint=f"expected {BUNDLE_V03_MEDIA_TYPE}",
        )
    major, minor, patch = match.groups()
    return int(major), int(minor), int(patch or 0)


@attrs.frozen
class Bundle:
    """A Sigstore bundle.

    Attributes:
        media_type: the bundle's media type.
        verification_material: key or certificates, log entries, timestamps.
        message_signature: the content when the bundle signs an artifact's bytes.
        dsse_envelope: the content when the bundle signs a DSSE envelope (attestations, and
            images signed by cosign v3).
        raw: the exact bytes :meth:`parse` read, ``None`` for a bundle built here.

    Raises:
        BundleError: from the constructor when not exactly one content is set, or the media
            type is unsupported.
    """

    media_type: str
    verification_material: VerificationMaterial
    message_signature: MessageSignature | None = None
    dsse_envelope: Envelope | None = None
    raw: bytes | None = attrs.field(default=None, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        if (self.message_signature is None) == (self.dsse_envelope is None):
            raise BundleError(
                "bundle must have exactly one content: a message signature or a DSSE envelope"
            )
        version = self.version
        if not (0, 1) <= version[:2] < (0, 4):
            raise BundleError(
                f"unsupported bundle version {'.'.join(map(str, version))} "
                f"(media type {self.media_type[:120]!r})",
                field="mediaType",
            )

    @property
    def version(self) -> tuple[int, int, int]:
        """The bundle version as ``(major, minor, patch)``, e.g. ``(0, 3, 0)``."""
        return _bundle_version(self.media_type)

    @property
    def content_annotation(self) -> str:
        """The :data:`BUNDLE_CONTENT_ANNOTATION` value describing this bundle's content."""
        if self.dsse_envelope is not None:
            return BUNDLE_CONTENT_DSSE_ENVELOPE
        return BUNDLE_CONTENT_MESSAGE_SIGNATURE

    @property
    def tlog_entries(self) -> tuple[Mapping[str, Any], ...]:
        """The log entries in protobuf JSON form (see :class:`VerificationMaterial`)."""
        return self.verification_material.tlog_entries

    @property
    def rfc3161_timestamps(self) -> tuple[bytes, ...]:
        """The DER RFC 3161 timestamp responses."""
        return self.verification_material.rfc3161_timestamps

    @classmethod
    def parse(cls, raw: bytes, *, max_bytes: int = MAX_BUNDLE_BYTES) -> Bundle:
        """Parse a bundle strictly; see the module notes for the rules.

        Args:
            raw: the bundle JSON bytes.
            max_bytes: largest accepted bundle.

        Returns:
            The bundle, with :attr:`raw` set to ``raw``.

        Raises:
            SizeLimitExceededError: the bundle is larger than ``max_bytes``, nests too deeply,
                or has more log entries, timestamps, chain certificates, proof hashes or
                envelope signatures than their caps — all checked before any entry is read.
            BundleError: it is not UTF-8 JSON; has a duplicate, unknown or repeated field, a
                value of the wrong type or undecodable base64; has an unsupported media type
                or version; breaks a rule of its version; or lacks a content, a verification
                material, a message digest or signature, or has a DSSE envelope with other
                than one signature.
        """
        body = _json.load_json(raw, what=_WHAT, max_bytes=max_bytes, error=BundleError)
        decoded = _decode(body, _BUNDLE, "bundle")
        version = _bundle_version(decoded.get("mediaType", ""))
        material = _material(decoded.get("verificationMaterial"), version)
        message_signature = None
        envelope = None
        if "messageSignature" in decoded:
            message_signature = _message_signature(decoded["messageSignature"])
        elif "dsseEnvelope" in decoded:
            envelope = _envelope(decoded["dsseEnvelope"])
        else:
            raise BundleError("bundle has no content (messageSignature or dsseEnvelope)")
        return cls(decoded["mediaType"], material, message_signature, envelope, bytes(raw))

    def to_json(self) -> bytes:
        """Write the bundle in protobuf's JSON form (see the module notes).

        Returns:
            Compact JSON bytes.

        Raises:
            BundleError: a stored log entry is not valid protobuf JSON, or a value cannot be
                written as JSON.
        """
        material = self.verification_material
        decoded_material: dict[str, Any] = {}
        if material.public_key_hint is not None:
            decoded_material["publicKey"] = {"hint": material.public_key_hint}
        if material.certificate_chain:
            decoded_material["x509CertificateChain"] = {
                "certificates": [{"rawBytes": der} for der in material.certificate_chain]
            }
        if material.certificate is not None:
            decoded_material["certificate"] = {"rawBytes": material.certificate}
        decoded_material["tlogEntries"] = [
            _decode(entry, _TLOG_ENTRY, f"tlogEntries[{index}]")
            for index, entry in enumerate(material.tlog_entries)
        ]
        if material.rfc3161_timestamps:
            decoded_material["timestampVerificationData"] = {
                "rfc3161Timestamps": [{"signedTimestamp": t} for t in material.rfc3161_timestamps]
            }
        decoded: dict[str, Any] = {
            "mediaType": self.media_type,
            "verificationMaterial": decoded_material,
        }
        if self.message_signature is not None:
            signature = self.message_signature
            decoded["messageSignature"] = {
                "messageDigest": {
                    "algorithm": signature.digest_algorithm,
                    "digest": signature.digest,
                },
                "signature": signature.signature,
            }
        if self.dsse_envelope is not None:
            envelope = self.dsse_envelope
            decoded["dsseEnvelope"] = {
                "payload": envelope.payload,
                "payloadType": envelope.payload_type,
                "signatures": [{"sig": s.sig, "keyid": s.keyid} for s in envelope.signatures],
            }
        try:
            return _json.encode(_encode(decoded, _BUNDLE), html_safe=False).encode("utf-8")
        except ValueError as exc:
            raise BundleError(f"cannot write the bundle: {exc}") from exc

    def log_entries(self) -> tuple[LogEntry, ...]:
        """Return the transparency-log entries as :class:`~imagesig.tlog.entries.LogEntry`.

        Returns:
            One entry per :attr:`tlog_entries` item, in order.

        Raises:
            TransparencyLogError: an entry is malformed for the log package.
            SizeLimitExceededError: an entry's body, promise or proof is over its cap.
        """
        from imagesig.tlog.entries import LogEntry  # noqa: PLC0415 - tlog is optional here

        return tuple(LogEntry.from_bundle_tlog_entry(entry) for entry in self.tlog_entries)


def _material(value: Any, version: tuple[int, int, int]) -> VerificationMaterial:
    if value is None:
        raise BundleError("bundle has no verificationMaterial", field="verificationMaterial")
    hint = value["publicKey"].get("hint", "") if "publicKey" in value else None
    certificate = None
    if "certificate" in value:
        certificate = value["certificate"].get("rawBytes", b"")
        if not certificate:
            raise BundleError("bundle certificate has no rawBytes", field="certificate.rawBytes")
    chain: list[bytes] = []
    if "x509CertificateChain" in value:
        if version >= (0, 3, 0):
            raise BundleError(
                "a v0.3 bundle must carry a single certificate, not an x509CertificateChain",
                field="verificationMaterial.x509CertificateChain",
            )
        chain = [
            item.get("rawBytes", b"")
            for item in value["x509CertificateChain"].get("certificates", [])
        ]
        if not chain or not all(chain):
            raise BundleError(
                "bundle x509CertificateChain has no certificates or an empty one",
                field="verificationMaterial.x509CertificateChain",
            )
    if hint is None and certificate is None and not chain:
        raise BundleError(
            "bundle verificationMaterial has no public key, certificate or certificate chain",
            field="verificationMaterial",
        )
    entries = value.get("tlogEntries", [])
    for index, entry in enumerate(entries):
        _check_entry(entry, index, version)
    timestamps = [
        item.get("signedTimestamp", b"")
        for item in value.get("timestampVerificationData", {}).get("rfc3161Timestamps", [])
    ]
    if not all(timestamps):
        raise BundleError(
            "bundle has an empty RFC 3161 timestamp",
            field="verificationMaterial.timestampVerificationData",
        )
    return VerificationMaterial(
        public_key_hint=hint,
        certificate=certificate,
        certificate_chain=tuple(chain),
        tlog_entries=tuple(_encode(entry, _TLOG_ENTRY) for entry in entries),
        rfc3161_timestamps=tuple(timestamps),
    )


def _check_entry(entry: Mapping[str, Any], index: int, version: tuple[int, int, int]) -> None:
    where = f"bundle.verificationMaterial.tlogEntries[{index}]"
    if version[:2] == (0, 1):
        if "inclusionPromise" not in entry:
            raise BundleError(
                f"{where} has no inclusionPromise, which a v0.1 bundle requires", field=where
            )
    elif "inclusionProof" not in entry:
        raise BundleError(
            f"{where} has no inclusionProof, which bundles from v0.2 on require", field=where
        )
    if not entry.get("canonicalizedBody"):
        raise BundleError(f"{where} has no canonicalizedBody", field=where)


def _message_signature(value: Mapping[str, Any]) -> MessageSignature:
    digest = value.get("messageDigest")
    if digest is None:
        raise BundleError("bundle messageSignature has no messageDigest", field="messageDigest")
    algorithm = digest.get("algorithm", _UNSPECIFIED)
    if algorithm not in HASH_ALGORITHMS:
        raise BundleError(
            "bundle messageDigest has no hash algorithm", field="messageDigest.algorithm"
        )
    data = digest.get("digest", b"")
    if len(data) != HASH_ALGORITHMS[algorithm]:
        raise BundleError(
            f"bundle messageDigest is {len(data)} bytes, not the {HASH_ALGORITHMS[algorithm]} "
            f"of {algorithm}",
            field="messageDigest.digest",
        )
    signature = value.get("signature", b"")
    if not signature:
        raise BundleError("bundle messageSignature has no signature", field="signature")
    if len(signature) > MAX_SIGNATURE_BYTES:
        raise SizeLimitExceededError(
            f"bundle signature is {len(signature)} bytes, more than the cap of "
            f"{MAX_SIGNATURE_BYTES}",
            what="messageSignature.signature",
            size=len(signature),
            limit=MAX_SIGNATURE_BYTES,
        )
    return MessageSignature(algorithm, data, signature)


def _envelope(value: Mapping[str, Any]) -> Envelope:
    if "payload" not in value or "payloadType" not in value:
        raise BundleError(
            "bundle dsseEnvelope needs a payload and a payloadType", field="dsseEnvelope"
        )
    signatures: Sequence[Mapping[str, Any]] = value.get("signatures", [])
    if len(signatures) != 1:
        raise BundleError(
            f"a bundle's DSSE envelope must have exactly one signature, not {len(signatures)}",
            field="dsseEnvelope.signatures",
        )
    decoded = []
    for index, item in enumerate(signatures):
        sig = item.get("sig", b"")
        if not sig or len(sig) > MAX_SIGNATURE_BYTES:
            raise BundleError(
                "bundle dsseEnvelope signature is empty or too large",
                field=f"dsseEnvelope.signatures[{index}].sig",
            )
        decoded.append(EnvelopeSignature(sig, item.get("keyid", "")))
    return Envelope(value["payload"], value["payloadType"], tuple(decoded))
