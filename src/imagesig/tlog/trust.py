"""Trusted roots: which transparency logs to believe, with which keys, and when.

A Sigstore *trusted root* (``trusted_root.json``, media type
``application/vnd.dev.sigstore.trustedroot+json;version=0.1``) lists the transparency logs
(Rekor), certificate authorities (Fulcio), certificate-transparency logs and timestamp
authorities a verifier trusts. Each log has a public key, a *log id* (for Rekor v1 the
SHA-256 of the key's DER SubjectPublicKeyInfo) and a validity window: an entry is only
accepted from a log whose key was valid at the entry's integrated time (a retired or
compromised key must not vouch for new entries).

Sources, as cosign reads them:

- :meth:`TrustedRoot.public_good` — the public-good Sigstore root shipped with imagesig;
- :meth:`TrustedRoot.from_file` / :meth:`TrustedRoot.from_json` — any ``trusted_root.json``;
- :meth:`TrustedRoot.from_rekor_public_key` — a single Rekor key (PEM), valid at all times;
- :meth:`TrustedRoot.from_environment` — the PEM file named by ``SIGSTORE_REKOR_PUBLIC_KEY``
  when set (cosign's override for private Rekor instances), else the public-good root.

Certificate authorities and timestamp authorities are kept as lightly parsed records (DER
certificates, subject, validity) for the keyless layers; CT logs are parsed like Rekor logs.

:func:`verify_log_signature` checks a log's signature (a signed entry timestamp or a
checkpoint) with ECDSA (DER, or fixed-size ``r||s``), RSA PKCS#1 v1.5 or PSS, or Ed25519.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import re
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any, TypeAlias

import attrs
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from imagesig.errors import SizeLimitExceededError, TrustRootError, UnknownLogError

__all__ = [
    "DEFAULT_REKOR_URL",
    "MAX_TRUSTED_ROOT_BYTES",
    "TRUSTED_ROOT_MEDIA_TYPE",
    "CertificateAuthority",
    "LogPrivateKey",
    "LogPublicKey",
    "TransparencyLogInstance",
    "TrustedRoot",
    "load_log_public_key",
    "log_id_for_key",
    "verify_log_signature",
]

TRUSTED_ROOT_MEDIA_TYPE = "application/vnd.dev.sigstore.trustedroot+json;version=0.1"
DEFAULT_REKOR_URL = "https://rekor.sigstore.dev"
MAX_TRUSTED_ROOT_BYTES = 4 * 1024 * 1024
"""Largest ``trusted_root.json`` read (the public-good one is about 5 KiB)."""

_MAX_KEY_FILE_BYTES = 64 * 1024
_ENV_REKOR_PUBLIC_KEY = "SIGSTORE_REKOR_PUBLIC_KEY"
_PUBLIC_GOOD_RESOURCE = "trusted_root_public_good.json"

LogPublicKey: TypeAlias = ec.EllipticCurvePublicKey | rsa.RSAPublicKey | ed25519.Ed25519PublicKey
"""Key types a transparency log may sign with."""
LogPrivateKey: TypeAlias = (
    ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey
)
"""Private counterparts of :data:`LogPublicKey` (for local test logs)."""

_TIMESTAMP = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})"
)


def log_id_for_key(public_key: LogPublicKey) -> bytes:
    """Return the Rekor v1 log id of a key: SHA-256 of its DER SubjectPublicKeyInfo."""
    der = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(der).digest()


def load_log_public_key(data: bytes, *, source: str = "public key") -> LogPublicKey:
    """Load a log key from PEM, DER SubjectPublicKeyInfo or DER PKCS#1 (RSA).

    Args:
        data: the encoded key.
        source: what to call it in error messages (a file name or a field path).

    Returns:
        The key.

    Raises:
        TrustRootError: the data is not a public key, or not an ECDSA, RSA or Ed25519 key.
    """
    try:
        if data.lstrip().startswith(b"-----BEGIN"):
            key = serialization.load_pem_public_key(data)
        else:
            key = serialization.load_der_public_key(data)
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise TrustRootError(f"{source} is not a valid public key", source=source) from exc
    if not isinstance(key, (ec.EllipticCurvePublicKey, rsa.RSAPublicKey, ed25519.Ed25519PublicKey)):
        raise TrustRootError(
            f"{source} is a {type(key).__name__}; logs sign with ECDSA, RSA or Ed25519 keys",
            source=source,
        )
    return key


def verify_log_signature(public_key: LogPublicKey, signature: bytes, data: bytes) -> bool:
    """Return whether ``signature`` is the log's signature over ``data``.

    Rekor v1 signs with SHA-256 whatever the key (its signer is loaded for SHA-256): ECDSA
    signatures are ASN.1 DER (a fixed-size ``r||s`` form is accepted too), RSA signatures
    PKCS#1 v1.5 or PSS, and Ed25519 signs ``data`` itself.

    Args:
        public_key: the log's key.
        signature: the signature bytes.
        data: the signed bytes (a canonical SET payload, or a checkpoint's note text).

    Returns:
        ``True`` when the signature verifies.
    """
    try:
        if isinstance(public_key, ed25519.Ed25519PublicKey):
            public_key.verify(signature, data)
        elif isinstance(public_key, ec.EllipticCurvePublicKey):
            _verify_ecdsa(public_key, signature, data)
        else:
            try:
                public_key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
            except InvalidSignature:
                pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
                public_key.verify(signature, data, pss, hashes.SHA256())
    except (InvalidSignature, ValueError):
        return False
    return True


def _verify_ecdsa(public_key: ec.EllipticCurvePublicKey, signature: bytes, data: bytes) -> None:
    """Verify DER, or else a fixed-size ``r||s`` (IEEE P1363) signature."""
    algorithm = ec.ECDSA(hashes.SHA256())
    try:
        public_key.verify(signature, data, algorithm)
    except (InvalidSignature, ValueError):
        width = (public_key.curve.key_size + 7) // 8
        if len(signature) != 2 * width:
            raise
        r = int.from_bytes(signature[:width], "big")
        s = int.from_bytes(signature[width:], "big")
        public_key.verify(encode_dss_signature(r, s), data, algorithm)


def _parse_time(value: object, field: str, source: str) -> datetime:
    """Parse an RFC 3339 timestamp as protojson writes it (``Z`` or offset; 0-9 fraction)."""
    match = _TIMESTAMP.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise TrustRootError(
            f"{source}: {field} is not an RFC 3339 timestamp", source=source, field=field
        )
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    offset = timedelta(0)
    if zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        offset = sign * timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6]))
    try:
        when = datetime(
            int(year),
            int(month),
            int(day),
            int(hour),
            int(minute),
            int(second),
            int((fraction or "0").ljust(6, "0")[:6]),
            tzinfo=timezone(offset),
        )
    except ValueError as exc:
        raise TrustRootError(
            f"{source}: {field} is not a valid date", source=source, field=field
        ) from exc
    return when.astimezone(timezone.utc)


def _describe_time(seconds: int | None) -> str:
    if seconds is None:
        return "(none)"
    try:
        return f"{seconds} ({_format_time(datetime.fromtimestamp(seconds, timezone.utc))})"
    except (OverflowError, ValueError, OSError):
        return str(seconds)


def _format_time(value: datetime) -> str:
    text = value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    if value.microsecond:
        text += f".{value.microsecond:06d}".rstrip("0")
    return text + "Z"


def _b64(value: object, field: str, source: str) -> bytes:
    if not isinstance(value, str) or not value:
        raise TrustRootError(
            f"{source}: {field} must be a non-empty base64 string", source=source, field=field
        )
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise TrustRootError(
            f"{source}: {field} is not valid base64", source=source, field=field
        ) from exc


def _object(value: object, field: str, source: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise TrustRootError(f"{source}: {field} must be an object", source=source, field=field)
    return value


def _list(value: object, field: str, source: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise TrustRootError(f"{source}: {field} must be a list", source=source, field=field)
    return value


def _validity(
    value: object, field: str, source: str, *, required: bool
) -> tuple[datetime | None, datetime | None]:
    if value is None and not required:
        return None, None
    window = _object(value, field, source)
    if "start" not in window:
        raise TrustRootError(
            f"{source}: {field}.start is missing", source=source, field=f"{field}.start"
        )
    start = _parse_time(window["start"], f"{field}.start", source)
    end = _parse_time(window["end"], f"{field}.end", source) if "end" in window else None
    return start, end


@attrs.frozen(eq=False)
class TransparencyLogInstance:
    """One trusted log (Rekor, or a CT log): where it is, its key and when the key is valid.

    Attributes:
        base_url: the log's URL (``https://rekor.sigstore.dev``).
        hash_algorithm: the tree's hash (``SHA2_256``; the only one Rekor uses).
        public_key: the key the log signs entry timestamps and checkpoints with.
        log_id: the log id entries name (SHA-256 of the key's DER SPKI for Rekor v1).
        valid_from: first instant the key may vouch for entries (``None``: no bound).
        valid_until: last instant (``None``: still valid).
        key_details: the key's ``keyDetails`` (``PKIX_ECDSA_P256_SHA_256``...), when known.
    """

    base_url: str
    hash_algorithm: str
    public_key: LogPublicKey
    log_id: bytes
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    key_details: str | None = None

    def valid_at(self, when: int | datetime) -> bool:
        """Return whether the key was valid at ``when`` (Unix seconds or an aware datetime).

        Both ends of the window are inclusive, as in sigstore-go.
        """
        # Compare as Unix seconds: an absurd integrated time must not overflow datetime.
        moment = when.timestamp() if isinstance(when, datetime) else when
        if self.valid_from is not None and moment < self.valid_from.timestamp():
            return False
        return self.valid_until is None or moment <= self.valid_until.timestamp()

    def verify(self, signature: bytes, data: bytes) -> bool:
        """Return whether ``signature`` is this log's signature over ``data``."""
        return verify_log_signature(self.public_key, signature, data)

    def to_dict(self) -> dict[str, Any]:
        """Return the ``trusted_root.json`` form of this log (protojson field names)."""
        der = self.public_key.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        key: dict[str, Any] = {"rawBytes": base64.b64encode(der).decode("ascii")}
        if self.key_details:
            key["keyDetails"] = self.key_details
        if self.valid_from is not None:
            window = {"start": _format_time(self.valid_from)}
            if self.valid_until is not None:
                window["end"] = _format_time(self.valid_until)
            key["validFor"] = window
        return {
            "baseUrl": self.base_url,
            "hashAlgorithm": self.hash_algorithm,
            "publicKey": key,
            "logId": {"keyId": base64.b64encode(self.log_id).decode("ascii")},
        }

    @classmethod
    def from_dict(cls, data: object, *, field: str, source: str) -> TransparencyLogInstance:
        """Parse one ``tlogs[]``/``ctlogs[]`` item of a trusted root.

        Raises:
            TrustRootError: a field is missing or malformed; the message names it.
        """
        item = _object(data, field, source)
        hash_algorithm = item.get("hashAlgorithm")
        if hash_algorithm != "SHA2_256":
            raise TrustRootError(
                f"{source}: {field}.hashAlgorithm must be SHA2_256, not {hash_algorithm!r}",
                source=source,
                field=f"{field}.hashAlgorithm",
            )
        base_url = item.get("baseUrl", "")
        if not isinstance(base_url, str):
            raise TrustRootError(
                f"{source}: {field}.baseUrl must be a string",
                source=source,
                field=f"{field}.baseUrl",
            )
        key = _object(item.get("publicKey"), f"{field}.publicKey", source)
        raw = _b64(key.get("rawBytes"), f"{field}.publicKey.rawBytes", source)
        details = key.get("keyDetails")
        if details is not None and not isinstance(details, str):
            raise TrustRootError(
                f"{source}: {field}.publicKey.keyDetails must be a string",
                source=source,
                field=f"{field}.publicKey.keyDetails",
            )
        public_key = load_log_public_key(raw, source=f"{source}: {field}.publicKey.rawBytes")
        valid_from, valid_until = _validity(
            # Optional in the protobuf schema: a key without a window is valid at any time.
            key.get("validFor"),
            f"{field}.publicKey.validFor",
            source,
            required=False,
        )
        log_id = _b64(
            _object(item.get("logId"), f"{field}.logId", source).get("keyId"),
            f"{field}.logId.keyId",
            source,
        )
        return cls(
            base_url=base_url,
            hash_algorithm=hash_algorithm,
            public_key=public_key,
            log_id=log_id,
            valid_from=valid_from,
            valid_until=valid_until,
            key_details=details,
        )


@attrs.frozen(eq=False)
class CertificateAuthority:
    """A certificate or timestamp authority from a trusted root, lightly parsed.

    Attributes:
        uri: the authority's URL.
        subject: its ``subject`` (``organization``, ``commonName``).
        certificates: the chain as DER, leaf-most first, as listed.
        valid_from: start of the validity window (``None`` when absent).
        valid_until: end of the window (``None``: still valid).
        raw: the item as it was in the file.
    """

    uri: str
    subject: Mapping[str, str]
    certificates: tuple[bytes, ...]
    valid_from: datetime | None
    valid_until: datetime | None
    raw: Mapping[str, Any]

    @classmethod
    def from_dict(cls, data: object, *, field: str, source: str) -> CertificateAuthority:
        """Parse one ``certificateAuthorities[]``/``timestampAuthorities[]`` item.

        Raises:
            TrustRootError: a field is missing or malformed; the message names it.
        """
        item = _object(data, field, source)
        chain = _object(item.get("certChain"), f"{field}.certChain", source)
        certificates = tuple(
            _b64(
                _object(cert, f"{field}.certChain.certificates[{i}]", source).get("rawBytes"),
                f"{field}.certChain.certificates[{i}].rawBytes",
                source,
            )
            for i, cert in enumerate(
                _list(chain.get("certificates"), f"{field}.certChain.certificates", source)
            )
        )
        subject = item.get("subject") or {}
        uri = item.get("uri", "")
        if not isinstance(subject, dict) or not isinstance(uri, str):
            raise TrustRootError(
                f"{source}: {field}.subject/uri are malformed", source=source, field=field
            )
        valid_from, valid_until = _validity(
            item.get("validFor"), f"{field}.validFor", source, required=False
        )
        return cls(
            uri=uri,
            subject=MappingProxyType({str(k): str(v) for k, v in subject.items()}),
            certificates=certificates,
            valid_from=valid_from,
            valid_until=valid_until,
            raw=MappingProxyType(dict(item)),
        )


@attrs.frozen(eq=False)
class TrustedRoot:
    """The logs and authorities a verifier trusts.

    Attributes:
        tlogs: the transparency logs (Rekor).
        certificate_authorities: Fulcio-style CAs.
        ctlogs: certificate-transparency logs.
        timestamp_authorities: RFC 3161 timestamp authorities.
        source: where the root came from (a file name, ``public-good``...), for messages.
    """

    tlogs: tuple[TransparencyLogInstance, ...]
    certificate_authorities: tuple[CertificateAuthority, ...] = ()
    ctlogs: tuple[TransparencyLogInstance, ...] = ()
    timestamp_authorities: tuple[CertificateAuthority, ...] = ()
    source: str = "trusted root"

    @classmethod
    def from_json(cls, data: bytes | str, *, source: str = "trusted root") -> TrustedRoot:
        """Parse a ``trusted_root.json`` document.

        Args:
            data: the JSON text.
            source: what to call it in error messages.

        Returns:
            The trusted root.

        Raises:
            SizeLimitExceededError: the document is larger than :data:`MAX_TRUSTED_ROOT_BYTES`.
            TrustRootError: it is not JSON of that format; the message names the field.
        """
        if len(data) > MAX_TRUSTED_ROOT_BYTES:
            raise SizeLimitExceededError(
                f"{source} is larger than {MAX_TRUSTED_ROOT_BYTES} bytes",
                source=source,
                limit=MAX_TRUSTED_ROOT_BYTES,
            )
        try:
            document = json.loads(data)
        except (ValueError, RecursionError) as exc:
            raise TrustRootError(f"{source} is not valid JSON", source=source) from exc
        root = _object(document, "the document", source)
        media_type = root.get("mediaType")
        if media_type != TRUSTED_ROOT_MEDIA_TYPE:
            raise TrustRootError(
                f"{source}: mediaType is {media_type!r}, expected {TRUSTED_ROOT_MEDIA_TYPE!r}",
                source=source,
                field="mediaType",
            )

        def logs(name: str) -> tuple[TransparencyLogInstance, ...]:
            return tuple(
                TransparencyLogInstance.from_dict(item, field=f"{name}[{i}]", source=source)
                for i, item in enumerate(_list(root.get(name), name, source))
            )

        def authorities(name: str) -> tuple[CertificateAuthority, ...]:
            return tuple(
                CertificateAuthority.from_dict(item, field=f"{name}[{i}]", source=source)
                for i, item in enumerate(_list(root.get(name), name, source))
            )

        return cls(
            tlogs=logs("tlogs"),
            certificate_authorities=authorities("certificateAuthorities"),
            ctlogs=logs("ctlogs"),
            timestamp_authorities=authorities("timestampAuthorities"),
            source=source,
        )

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> TrustedRoot:
        """Read and parse a ``trusted_root.json`` file.

        Raises:
            TrustRootError: the file cannot be read or is malformed.
            SizeLimitExceededError: the file is too large.
        """
        name = os.fspath(path)
        data = _read_capped(Path(name), MAX_TRUSTED_ROOT_BYTES, what="trusted root")
        return cls.from_json(data, source=name)

    @classmethod
    def public_good(cls) -> TrustedRoot:
        """Return the public-good Sigstore trusted root shipped with imagesig.

        Raises:
            TrustRootError: the shipped file is missing or damaged (a broken installation).
        """
        try:
            data = resources.files("imagesig.tlog.data").joinpath(_PUBLIC_GOOD_RESOURCE)
            text = data.read_bytes()
        except OSError as exc:
            raise TrustRootError(
                "the shipped public-good trusted root cannot be read", source="public-good"
            ) from exc
        return cls.from_json(text, source="public-good trusted root")

    @classmethod
    def from_rekor_public_key(
        cls, pem: bytes | str, *, base_url: str = DEFAULT_REKOR_URL
    ) -> TrustedRoot:
        """Trust a single Rekor log given by its PEM public key, at all times.

        The log id is the SHA-256 of the key's DER SubjectPublicKeyInfo, as Rekor v1 computes
        it. This is what cosign does with ``SIGSTORE_REKOR_PUBLIC_KEY``.

        Raises:
            TrustRootError: ``pem`` is not an ECDSA, RSA or Ed25519 public key.
        """
        data = pem.encode() if isinstance(pem, str) else pem
        key = load_log_public_key(data, source="Rekor public key")
        log = TransparencyLogInstance(
            base_url=base_url, hash_algorithm="SHA2_256", public_key=key, log_id=log_id_for_key(key)
        )
        return cls(tlogs=(log,), source="Rekor public key")

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> TrustedRoot:
        """Return the root cosign would use: ``SIGSTORE_REKOR_PUBLIC_KEY`` or the public good.

        Args:
            environ: the environment to read (default :data:`os.environ`).

        Raises:
            TrustRootError: the variable names a file that cannot be read or holds no key.
            SizeLimitExceededError: the file is larger than 64 KiB.
        """
        env = os.environ if environ is None else environ
        path = env.get(_ENV_REKOR_PUBLIC_KEY)
        if not path:
            return cls.public_good()
        data = _read_capped(Path(path), _MAX_KEY_FILE_BYTES, what=_ENV_REKOR_PUBLIC_KEY)
        key = load_log_public_key(data, source=f"{_ENV_REKOR_PUBLIC_KEY} file {path}")
        log = TransparencyLogInstance(
            base_url=DEFAULT_REKOR_URL,
            hash_algorithm="SHA2_256",
            public_key=key,
            log_id=log_id_for_key(key),
        )
        return cls(tlogs=(log,), source=f"{_ENV_REKOR_PUBLIC_KEY}={path}")

    def find_tlog(self, log_id: bytes, at: int | None = None) -> TransparencyLogInstance:
        """Return the trusted log with ``log_id`` whose key was valid at ``at``.

        Args:
            log_id: the log id an entry names.
            at: the entry's integrated time (Unix seconds); ``None`` skips the time check.

        Returns:
            The first matching log.

        Raises:
            UnknownLogError: no log has that id (``check="log-id"``) or none of them had a
                valid key at that time (``check="log-key-validity"``).
        """
        candidates = [log for log in self.tlogs if log.log_id == log_id]
        if not candidates:
            raise UnknownLogError(
                f"no transparency log with id {log_id.hex()} is in the {self.source}",
                check="log-id",
                log_id=log_id.hex(),
                hint="set SIGSTORE_REKOR_PUBLIC_KEY or pass the trusted root of that log",
            )
        for log in candidates:
            if at is None or log.valid_at(at):
                return log
        raise UnknownLogError(
            f"the key of transparency log {log_id.hex()} was not valid at the entry's "
            f"integrated time {_describe_time(at)}",
            check="log-key-validity",
            log_id=log_id.hex(),
            integrated_time=at,
        )

    def to_json(self) -> str:
        """Serialise to ``trusted_root.json`` (authorities as they were read)."""
        document: dict[str, Any] = {"mediaType": TRUSTED_ROOT_MEDIA_TYPE}
        document["tlogs"] = [log.to_dict() for log in self.tlogs]
        if self.certificate_authorities:
            document["certificateAuthorities"] = [
                dict(ca.raw) for ca in self.certificate_authorities
            ]
        if self.ctlogs:
            document["ctlogs"] = [log.to_dict() for log in self.ctlogs]
        if self.timestamp_authorities:
            document["timestampAuthorities"] = [dict(ca.raw) for ca in self.timestamp_authorities]
        return json.dumps(document, indent=2)


def _read_capped(path: Path, limit: int, *, what: str) -> bytes:
    try:
        with path.open("rb") as handle:
            data = handle.read(limit + 1)
    except OSError as exc:
        raise TrustRootError(
            f"cannot read the {what} file {path}: {exc.strerror}", source=str(path)
        ) from exc
    if len(data) > limit:
        raise SizeLimitExceededError(
            f"the {what} file {path} is larger than {limit} bytes", source=str(path), limit=limit
        )
    return data
