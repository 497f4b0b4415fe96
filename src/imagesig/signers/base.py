"""Signature algorithms, public keys and the protocols every signer follows.

A *signer* holds a private key somewhere (a file, a KMS, a plugin) and turns bytes into a
signature; a *verifier* checks one. Both speak through :class:`PublicKey`, a wrapper
around a ``cryptography`` public key that knows cosign's encodings: the SPKI PEM of
``cosign.pub``, the key id (hex SHA-256 of the DER SPKI) and cosign's key *hint* (standard
base64 of the same digest, as in sigstore bundles).

Algorithms and their hashes follow sigstore's defaults for a key:

| key | default :class:`SignatureAlgorithm` | also allowed |
|---|---|---|
| ECDSA P-256 | ``ECDSA_P256_SHA256`` | |
| ECDSA P-384 | ``ECDSA_P384_SHA384`` | |
| ECDSA P-521 | ``ECDSA_P521_SHA512`` | |
| RSA 2048, 3072, 4096 | ``RSA_PKCS1V15_SHA256`` | ``RSA_PKCS1V15_SHA512``, ``RSA_PSS_*`` |
| Ed25519 | ``ED25519`` (pure) | ``ED25519_PH`` |

Other curves, RSA sizes other than 2048, 3072 and 4096 bits (the sizes cosign's key
validation allows) and other key types raise :class:`UnsupportedAlgorithmError`.

Ed25519 comes in two flavours and cosign uses both. Pure Ed25519 (RFC 8032 §5.1) signs the
message itself; Ed25519ph (RFC 8032 §5.1, ``phflag = 1``, empty context) signs its SHA-512
digest. ``cosign verify --key`` loads an Ed25519 key as *pure*, and so does
:meth:`SignatureAlgorithm.default_for`; but cosign v3 loads an Ed25519 ``cosign.key`` for
*signing* as Ed25519ph by default (a ``hashedrekord`` log entry needs a digest), and only
``sign-blob`` without a transparency-log upload signs pure Ed25519. Pass
``algorithm=SignatureAlgorithm.ED25519_PH`` to sign or verify like the former.
``cryptography`` has no Ed25519ph, so it is done with libsodium through PyNaCl
(``crypto_sign_ed25519ph_*``). Neither library signs or verifies a bare Ed25519ph *digest*,
so :meth:`PublicKey.verify_digest` refuses Ed25519 keys.

ECDSA signatures are produced in ASN.1 DER; verification also accepts the IEEE P1363
``r || s`` form when its length is twice the curve's coordinate size, as sigstore does.
RSA-PSS signs with the longest salt and verifies any salt length (Go's
``PSSSaltLengthAuto``).
"""

from __future__ import annotations

import base64
import enum
import hashlib
import inspect
import os
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol, TypeAlias, TypeVar, cast, runtime_checkable

import attrs
from cryptography.exceptions import InvalidSignature
from cryptography.exceptions import UnsupportedAlgorithm as CryptographyUnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    Prehashed,
    decode_dss_signature,
    encode_dss_signature,
)

from imagesig.errors import KeyFormatError, UnsupportedAlgorithmError
from imagesig.signers._pem import describe_source, first_pem_block, read_key_file

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes, PublicKeyTypes

__all__ = [
    "SUPPORTED_RSA_KEY_SIZES",
    "AsyncSigner",
    "PublicKey",
    "SignatureAlgorithm",
    "Signer",
    "SupportedPrivateKey",
    "SupportedPublicKey",
    "Verifier",
    "as_async_signer",
]

#: RSA modulus sizes accepted anywhere (sigstore's ``ValidatePubKey`` allows exactly these).
SUPPORTED_RSA_KEY_SIZES = (2048, 3072, 4096)

#: The ``cryptography`` public-key types a :class:`PublicKey` can hold.
SupportedPublicKey: TypeAlias = (
    ec.EllipticCurvePublicKey | rsa.RSAPublicKey | ed25519.Ed25519PublicKey
)

#: The ``cryptography`` private-key types signers in this package hold.
SupportedPrivateKey: TypeAlias = (
    ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey
)

_T = TypeVar("_T")
_CURVE_BITS = {"secp256r1": 256, "secp384r1": 384, "secp521r1": 521}
_ED25519_SIGNATURE_BYTES = 64


class SignatureAlgorithm(enum.Enum):
    """A signature scheme together with its hash.

    Values are sigstore's ``--signing-algorithm`` names where those do not fix an RSA size
    (``"ecdsa-sha2-256-nistp256"``, ``"ed25519-ph"``); RSA values leave the size out
    (``"rsa-sign-pkcs1-sha256"``). :meth:`from_flag` also reads sigstore's sized names.
    """

    ECDSA_P256_SHA256 = "ecdsa-sha2-256-nistp256"
    ECDSA_P384_SHA384 = "ecdsa-sha2-384-nistp384"
    ECDSA_P521_SHA512 = "ecdsa-sha2-512-nistp521"
    RSA_PKCS1V15_SHA256 = "rsa-sign-pkcs1-sha256"
    RSA_PKCS1V15_SHA512 = "rsa-sign-pkcs1-sha512"
    RSA_PSS_SHA256 = "rsa-sign-pss-sha256"
    RSA_PSS_SHA512 = "rsa-sign-pss-sha512"
    ED25519 = "ed25519"
    ED25519_PH = "ed25519-ph"

    @property
    def key_type(self) -> str:
        """``"ecdsa"``, ``"rsa"`` or ``"ed25519"``."""
        return _DETAILS[self][0]

    @property
    def hash_name(self) -> str | None:
        """The :mod:`hashlib` name of the hash signed (``"sha256"``...).

        ``None`` for pure Ed25519, which signs the message itself; ``"sha512"`` for
        Ed25519ph, which signs the SHA-512 digest of the message.
        """
        return _DETAILS[self][1]

    @property
    def hash_algorithm(self) -> hashes.HashAlgorithm | None:
        """The ``cryptography`` hash matching :attr:`hash_name` (``None`` for pure Ed25519)."""
        name = self.hash_name
        return None if name is None else _HASHES[name]()

    def fits(self, key: PublicKey | PublicKeyTypes) -> bool:
        """Tell whether this algorithm can be used with ``key``.

        Args:
            key: a :class:`PublicKey` or a ``cryptography`` public key.

        Returns:
            ``True`` when the key type (and for ECDSA the curve) matches and the key is
            supported; an unsupported key never fits.
        """
        raw = key.key if isinstance(key, PublicKey) else key
        key_type = self.key_type
        if isinstance(raw, ec.EllipticCurvePublicKey):
            curve_bits = _CURVE_BITS.get(raw.curve.name)
            return key_type == "ecdsa" and curve_bits == _DETAILS[self][2]
        if isinstance(raw, rsa.RSAPublicKey):
            return key_type == "rsa" and raw.key_size in SUPPORTED_RSA_KEY_SIZES
        if isinstance(raw, ed25519.Ed25519PublicKey):
            return key_type == "ed25519"
        return False

    @classmethod
    def default_for(cls, key: PublicKey | PublicKeyTypes) -> SignatureAlgorithm:
        """Return the algorithm cosign uses by default with ``key``.

        ECDSA by curve (P-256/SHA-256, P-384/SHA-384, P-521/SHA-512), RSA PKCS#1 v1.5 with
        SHA-256, Ed25519 *pure* (what ``cosign verify --key`` expects; cosign signs Ed25519
        as Ed25519ph when it writes to a transparency log, see the module notes).

        Args:
            key: a :class:`PublicKey` or a ``cryptography`` public key.

        Returns:
            The default algorithm.

        Raises:
            UnsupportedAlgorithmError: the key type, curve or RSA size is not supported.
        """
        raw = key.key if isinstance(key, PublicKey) else key
        if isinstance(raw, ec.EllipticCurvePublicKey):
            bits = _CURVE_BITS.get(raw.curve.name)
            for algorithm in (cls.ECDSA_P256_SHA256, cls.ECDSA_P384_SHA384, cls.ECDSA_P521_SHA512):
                if bits == _DETAILS[algorithm][2]:
                    return algorithm
            raise UnsupportedAlgorithmError(
                f"ECDSA curve {raw.curve.name} is not supported; use P-256, P-384 or P-521"
            )
        if isinstance(raw, rsa.RSAPublicKey):
            _check_rsa_size(raw.key_size)
            return cls.RSA_PKCS1V15_SHA256
        if isinstance(raw, ed25519.Ed25519PublicKey):
            return cls.ED25519
        raise UnsupportedAlgorithmError(
            f"{type(raw).__name__} keys are not supported; use ECDSA, RSA or Ed25519"
        )

    @classmethod
    def from_flag(cls, flag: str) -> tuple[SignatureAlgorithm, int | None]:
        """Parse a signing-algorithm name as cosign's ``--signing-algorithm`` takes it.

        Accepts this enum's values and sigstore's sized RSA names
        (``"rsa-sign-pkcs1-3072-sha256"``, ``"rsa-sign-pss-2048-sha256"``).

        Args:
            flag: the name, e.g. ``"ecdsa-sha2-384-nistp384"``.

        Returns:
            The algorithm and the RSA key size the name fixes (``None`` when it fixes none).

        Raises:
            UnsupportedAlgorithmError: the name is unknown or fixes an unsupported size.
        """
        text = flag.strip().lower()
        for algorithm in cls:
            if algorithm.value == text:
                return algorithm, None
        match = re.fullmatch(r"rsa-sign-(pkcs1|pss)-(\d+)-(sha256|sha512)", text)
        if match is not None:
            size = int(match[2])
            _check_rsa_size(size)
            return cls(f"rsa-sign-{match[1]}-{match[3]}"), size
        known = ", ".join(algorithm.value for algorithm in cls)
        raise UnsupportedAlgorithmError(
            f"unknown signing algorithm {flag!r}; known: {known} "
            "(RSA names may carry a size, e.g. rsa-sign-pkcs1-3072-sha256)"
        )


# key type, hash name, ECDSA curve bits
_DETAILS: dict[SignatureAlgorithm, tuple[str, str | None, int | None]] = {
    SignatureAlgorithm.ECDSA_P256_SHA256: ("ecdsa", "sha256", 256),
    SignatureAlgorithm.ECDSA_P384_SHA384: ("ecdsa", "sha384", 384),
    SignatureAlgorithm.ECDSA_P521_SHA512: ("ecdsa", "sha512", 521),
    SignatureAlgorithm.RSA_PKCS1V15_SHA256: ("rsa", "sha256", None),
    SignatureAlgorithm.RSA_PKCS1V15_SHA512: ("rsa", "sha512", None),
    SignatureAlgorithm.RSA_PSS_SHA256: ("rsa", "sha256", None),
    SignatureAlgorithm.RSA_PSS_SHA512: ("rsa", "sha512", None),
    SignatureAlgorithm.ED25519: ("ed25519", None, None),
    SignatureAlgorithm.ED25519_PH: ("ed25519", "sha512", None),
}
_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}
_PSS = frozenset({SignatureAlgorithm.RSA_PSS_SHA256, SignatureAlgorithm.RSA_PSS_SHA512})


def _check_rsa_size(bits: int) -> None:
    if bits not in SUPPORTED_RSA_KEY_SIZES:
        raise UnsupportedAlgorithmError(
            f"RSA keys of {bits} bits are not supported; use 2048, 3072 or 4096 bits"
        )


def _supported_public_key(raw: PublicKeyTypes) -> SupportedPublicKey:
    """Narrow ``raw`` to a supported key, raising UnsupportedAlgorithmError otherwise."""
    SignatureAlgorithm.default_for(raw)
    return cast(SupportedPublicKey, raw)


def narrow_private_key(raw: PrivateKeyTypes, *, source: str | None = None) -> SupportedPrivateKey:
    """Return ``raw`` typed as a supported private key.

    Args:
        raw: a private key as ``cryptography`` loaded it.
        source: the key file name, for messages.

    Returns:
        The same key.

    Raises:
        UnsupportedAlgorithmError: the key type, curve or RSA size is not supported.
    """
    if not isinstance(
        raw, (ec.EllipticCurvePrivateKey, rsa.RSAPrivateKey, ed25519.Ed25519PrivateKey)
    ):
        raise UnsupportedAlgorithmError(
            f"{describe_source(source)} holds a {type(raw).__name__}; "
            "only ECDSA, RSA and Ed25519 keys are supported",
            key=source,
        )
    try:
        SignatureAlgorithm.default_for(raw.public_key())
    except UnsupportedAlgorithmError as exc:
        raise UnsupportedAlgorithmError(
            f"{describe_source(source)}: {exc.message}", key=source
        ) from None
    return raw


@attrs.frozen(eq=False, repr=False)
class PublicKey:
    """A supported public key and the algorithm its signatures use.

    Two keys are equal when their DER encodings are; the algorithm does not count.

    Attributes:
        key: a ``cryptography`` ECDSA (P-256/384/521), RSA (2048/3072/4096) or Ed25519
            public key.
        algorithm: how signatures by this key are made; defaults to
            :meth:`SignatureAlgorithm.default_for` the key.

    Raises:
        UnsupportedAlgorithmError: the key is not supported or ``algorithm`` does not fit it.

    Example::

        key = PublicKey.from_file("cosign.pub")
        if key.verify(signature, payload):
            ...
    """

    key: SupportedPublicKey = attrs.field(converter=_supported_public_key)
    algorithm: SignatureAlgorithm = attrs.field()

    @algorithm.default
    def _default_algorithm(self) -> SignatureAlgorithm:
        return SignatureAlgorithm.default_for(self.key)

    @algorithm.validator
    def _check_algorithm(self, _attribute: object, value: SignatureAlgorithm) -> None:
        if not value.fits(self.key):
            raise UnsupportedAlgorithmError(
                f"algorithm {value.name} does not fit this {_describe_key(self.key)} key"
            )

    @classmethod
    def from_pem(
        cls,
        data: bytes | str,
        *,
        algorithm: SignatureAlgorithm | None = None,
        source: str | None = None,
    ) -> PublicKey:
        """Load the first PEM block of ``data``: ``PUBLIC KEY`` (SPKI) or ``RSA PUBLIC KEY``.

        Args:
            data: PEM text, e.g. the contents of ``cosign.pub``.
            algorithm: see :class:`PublicKey`.
            source: the file name, for messages.

        Returns:
            The key.

        Raises:
            KeyFormatError: no PEM block, another label, or a body that is not a key.
            UnsupportedAlgorithmError: the key is not supported or ``algorithm`` does not fit.
            SizeLimitExceededError: ``data`` is implausibly large for a key.
        """
        block = first_pem_block(data, source=source)
        where = describe_source(source)
        if block.label in ("PUBLIC KEY", "RSA PUBLIC KEY"):
            return cls._from_der(block.der, algorithm, where, source)
        hint = (
            "extract the key first: openssl x509 -pubkey -noout -in FILE"
            if block.label == "CERTIFICATE"
            else None
        )
        raise KeyFormatError(
            f"{where} holds a {block.label!r} PEM block, not a public key",
            hint=hint,
            key=source,
        )

    @classmethod
    def from_der(cls, der: bytes, *, algorithm: SignatureAlgorithm | None = None) -> PublicKey:
        """Load a DER-encoded SubjectPublicKeyInfo.

        Args:
            der: the SPKI bytes.
            algorithm: see :class:`PublicKey`.

        Returns:
            The key.

        Raises:
            KeyFormatError: ``der`` is not an SPKI structure.
            UnsupportedAlgorithmError: the key is not supported or ``algorithm`` does not fit.
        """
        return cls._from_der(der, algorithm, "the key data", None)

    @classmethod
    def from_file(
        cls, path: str | os.PathLike[str], *, algorithm: SignatureAlgorithm | None = None
    ) -> PublicKey:
        """Load a PEM public-key file such as ``cosign.pub``.

        Args:
            path: the file.
            algorithm: see :class:`PublicKey`.

        Returns:
            The key.

        Raises:
            SignerError: the file cannot be read.
            KeyFormatError: the file holds no public key.
            UnsupportedAlgorithmError: the key is not supported or ``algorithm`` does not fit.
            SizeLimitExceededError: the file is implausibly large for a key.
        """
        return cls.from_pem(read_key_file(path), algorithm=algorithm, source=os.fspath(path))

    @classmethod
    def _from_der(
        cls,
        der: bytes,
        algorithm: SignatureAlgorithm | None,
        where: str,
        source: str | None,
    ) -> PublicKey:
        try:
            raw = serialization.load_der_public_key(der)
        except (ValueError, TypeError) as exc:
            raise KeyFormatError(f"{where} is not a DER public key (SPKI)", key=source) from exc
        except CryptographyUnsupportedAlgorithm as exc:  # an unknown key type OID
            raise UnsupportedAlgorithmError(
                f"{where} holds a key type that is not supported", key=source
            ) from exc
        return cls._make(raw, algorithm)

    @classmethod
    def _make(cls, raw: PublicKeyTypes, algorithm: SignatureAlgorithm | None) -> PublicKey:
        key = _supported_public_key(raw)
        return cls(key) if algorithm is None else cls(key, algorithm)

    @property
    def der(self) -> bytes:
        """The DER SubjectPublicKeyInfo."""
        return self.key.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    @property
    def pem(self) -> bytes:
        """The SPKI PEM exactly as cosign writes ``cosign.pub`` (``-----BEGIN PUBLIC KEY-----``,
        64-column base64, final newline)."""
        return self.key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    @property
    def key_id(self) -> str:
        """Lowercase hex SHA-256 of :attr:`der` (how Rekor names its log keys)."""
        return hashlib.sha256(self.der).hexdigest()

    @property
    def cosign_hint(self) -> str:
        """Standard base64 of SHA-256 of :attr:`der`: the ``publicKey.hint`` cosign puts in
        sigstore bundles."""
        return base64.b64encode(hashlib.sha256(self.der).digest()).decode("ascii")

    def public_key(self) -> PublicKey:
        """Return this key, so that a :class:`PublicKey` is itself a :class:`Verifier`."""
        return self

    def verify(
        self, signature: bytes, data: bytes, *, algorithm: SignatureAlgorithm | None = None
    ) -> bool:
        """Check ``signature`` over ``data``.

        Args:
            signature: DER ECDSA (or P1363 ``r || s``), RSA or Ed25519 signature bytes.
            data: the signed bytes.
            algorithm: overrides :attr:`algorithm` for this check.

        Returns:
            ``True`` when the signature is valid; ``False`` for any bad, truncated or
            malformed signature (never an exception).

        Raises:
            UnsupportedAlgorithmError: ``algorithm`` does not fit this key.
        """
        chosen = self._choose(algorithm)
        if chosen is SignatureAlgorithm.ED25519:
            assert isinstance(self.key, ed25519.Ed25519PublicKey)
            try:
                self.key.verify(signature, data)
            except (InvalidSignature, ValueError):
                return False
            return True
        if chosen is SignatureAlgorithm.ED25519_PH:
            assert isinstance(self.key, ed25519.Ed25519PublicKey)
            return _verify_ed25519ph(self.key, signature, data)
        hash_algorithm = chosen.hash_algorithm
        assert hash_algorithm is not None
        return self._verify_hashed(signature, data, chosen, hash_algorithm, hash_algorithm)

    def verify_digest(
        self, signature: bytes, digest: bytes, algorithm: SignatureAlgorithm | None = None
    ) -> bool:
        """Check an ECDSA or RSA ``signature`` over a message of which only ``digest`` is known.

        Args:
            signature: the signature bytes.
            digest: the message digest, made with ``algorithm``'s hash.
            algorithm: overrides :attr:`algorithm` for this check.

        Returns:
            ``True`` when valid; ``False`` for a bad signature or a digest whose length is
            not that of the algorithm's hash.

        Raises:
            UnsupportedAlgorithmError: ``algorithm`` does not fit this key, or the key is
                Ed25519 (neither ``cryptography`` nor libsodium verifies a bare digest).
        """
        chosen = self._choose(algorithm)
        hash_algorithm = chosen.hash_algorithm
        if chosen.key_type == "ed25519" or hash_algorithm is None:
            raise UnsupportedAlgorithmError(
                f"{chosen.name} signatures cannot be verified from a digest; "
                "pass the message to verify() instead"
            )
        if len(digest) != hash_algorithm.digest_size:
            return False
        return self._verify_hashed(
            signature, digest, chosen, Prehashed(hash_algorithm), hash_algorithm
        )

    def _choose(self, algorithm: SignatureAlgorithm | None) -> SignatureAlgorithm:
        if algorithm is None:
            return self.algorithm
        if not algorithm.fits(self.key):
            raise UnsupportedAlgorithmError(
                f"algorithm {algorithm.name} does not fit this {_describe_key(self.key)} key"
            )
        return algorithm

    def _verify_hashed(
        self,
        signature: bytes,
        message: bytes,
        algorithm: SignatureAlgorithm,
        chosen_hash: hashes.HashAlgorithm | Prehashed,
        hash_algorithm: hashes.HashAlgorithm,
    ) -> bool:
        key = self.key
        try:
            if isinstance(key, ec.EllipticCurvePublicKey):
                der = _ecdsa_der(signature, key)
                if der is None:
                    return False
                key.verify(der, message, ec.ECDSA(chosen_hash))
            elif isinstance(key, rsa.RSAPublicKey):
                pad: padding.AsymmetricPadding = (
                    padding.PSS(mgf=padding.MGF1(hash_algorithm), salt_length=padding.PSS.AUTO)
                    if algorithm in _PSS
                    else padding.PKCS1v15()
                )
                key.verify(signature, message, pad, chosen_hash)
            else:  # pragma: no cover - _choose only lets ECDSA and RSA algorithms through
                return False
        except (InvalidSignature, ValueError):
            return False
        return True

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PublicKey):
            return NotImplemented
        return self.der == other.der

    def __hash__(self) -> int:
        return hash(self.der)

    def __repr__(self) -> str:
        return f"PublicKey({self.algorithm.name}, key_id={self.key_id[:16]!r})"


def _describe_key(key: SupportedPublicKey) -> str:
    if isinstance(key, ec.EllipticCurvePublicKey):
        return f"ECDSA {key.curve.name}"
    if isinstance(key, rsa.RSAPublicKey):
        return f"RSA-{key.key_size}"
    return "Ed25519"


def _ecdsa_der(signature: bytes, key: ec.EllipticCurvePublicKey) -> bytes | None:
    """Return ``signature`` as DER: as is when it parses as DER, converted when it is P1363."""
    try:
        decode_dss_signature(signature)
    except ValueError:
        pass
    else:
        return signature
    size = (key.curve.key_size + 7) // 8
    if len(signature) != 2 * size:
        return None
    r = int.from_bytes(signature[:size], "big")
    s = int.from_bytes(signature[size:], "big")
    return encode_dss_signature(r, s)


def _verify_ed25519ph(key: ed25519.Ed25519PublicKey, signature: bytes, data: bytes) -> bool:
    # Lazy: PyNaCl loads libsodium, which only Ed25519ph and cosign key files need.
    from nacl import bindings, exceptions  # noqa: PLC0415

    if len(signature) != _ED25519_SIGNATURE_BYTES:
        return False
    state = bindings.crypto_sign_ed25519ph_state()
    bindings.crypto_sign_ed25519ph_update(state, data)
    try:
        return bool(
            bindings.crypto_sign_ed25519ph_final_verify(state, signature, key.public_bytes_raw())
        )
    except (exceptions.BadSignatureError, exceptions.ValueError):
        return False


@runtime_checkable
class Signer(Protocol):
    """Something that signs bytes with a private key it keeps to itself.

    Implementations: :class:`~imagesig.signers.LocalSigner`, KMS signers, plugins.
    """

    @property
    def name(self) -> str:
        """A readable name for messages (a file name, a KMS key name); never a secret."""

    @property
    def algorithm(self) -> SignatureAlgorithm:
        """The algorithm :meth:`sign` uses."""

    def public_key(self) -> PublicKey:
        """Return the public key that verifies this signer's signatures."""

    def sign(self, data: bytes) -> bytes:
        """Sign ``data`` (the message itself, not a digest) and return the signature."""


@runtime_checkable
class AsyncSigner(Protocol):
    """The async twin of :class:`Signer`; :func:`as_async_signer` adapts a sync one."""

    @property
    def name(self) -> str:
        """A readable name for messages; never a secret."""

    @property
    def algorithm(self) -> SignatureAlgorithm:
        """The algorithm :meth:`sign` uses."""

    async def public_key(self) -> PublicKey:
        """Return the public key that verifies this signer's signatures."""

    async def sign(self, data: bytes) -> bytes:
        """Sign ``data`` and return the signature."""


@runtime_checkable
class Verifier(Protocol):
    """Something that checks signatures; :class:`PublicKey` is one."""

    def public_key(self) -> PublicKey:
        """Return the key signatures are checked against."""

    def verify(self, signature: bytes, data: bytes) -> bool:
        """Return whether ``signature`` is valid over ``data``; never raise for a bad one."""


@attrs.frozen(repr=False)
class _SyncSignerAdapter:
    signer: Signer
    offload: bool

    @property
    def name(self) -> str:
        return self.signer.name

    @property
    def algorithm(self) -> SignatureAlgorithm:
        return self.signer.algorithm

    async def public_key(self) -> PublicKey:
        return await self._call(self.signer.public_key)

    async def sign(self, data: bytes) -> bytes:
        return await self._call(self.signer.sign, data)

    async def _call(self, function: Callable[..., _T], *args: object) -> _T:
        if not self.offload:
            return function(*args)
        import asyncio  # noqa: PLC0415 - loaded already whenever this runs; keeps import light

        return await asyncio.to_thread(function, *args)

    def __repr__(self) -> str:
        return f"as_async_signer({self.signer!r})"


def as_async_signer(signer: Signer | AsyncSigner, *, offload: bool = True) -> AsyncSigner:
    """Return an :class:`AsyncSigner` for ``signer``.

    An async signer is returned unchanged. A sync one is wrapped: with ``offload`` (the
    default) each call runs in a worker thread (``asyncio.to_thread``), so a signer that
    does network I/O does not block the event loop; without it, calls run inline, which is
    cheaper for a local key.

    Args:
        signer: a sync or async signer.
        offload: run a sync signer's calls in a worker thread.

    Returns:
        An async signer with the same name, algorithm and key.
    """
    if inspect.iscoroutinefunction(signer.sign):
        return cast(AsyncSigner, signer)
    return _SyncSignerAdapter(cast(Signer, signer), offload)
