"""LocalSigner: a private key held in memory, loaded from a file or generated.

Key files are read by their first PEM block's label:

| label | format |
|---|---|
| ``ENCRYPTED SIGSTORE PRIVATE KEY`` | cosign's encrypted key (see :mod:`.cosign_keys`) |
| ``ENCRYPTED COSIGN PRIVATE KEY`` | the same, as older cosign labelled it |
| ``PRIVATE KEY`` | PKCS#8 |
| ``ENCRYPTED PRIVATE KEY`` | encrypted PKCS#8 (``openssl pkcs8 -topk8``) |
| ``EC PRIVATE KEY`` | SEC1, optionally OpenSSL-encrypted (``Proc-Type`` header) |
| ``RSA PRIVATE KEY`` | PKCS#1, optionally OpenSSL-encrypted |

The password of an encrypted key comes from the ``password`` argument (a value or a
zero-argument callback, called only when the key turns out to be encrypted), else from the
``COSIGN_PASSWORD`` environment variable (even when empty); imagesig never prompts. A wrong
password raises :class:`InvalidPasswordError`, a missing one :class:`PasswordRequiredError`,
and both name the file, never the password.

Signatures: ECDSA in ASN.1 DER with the curve's hash, RSA PKCS#1 v1.5 or PSS (longest salt),
Ed25519 pure or Ed25519ph (through libsodium, see :mod:`.base`).

Example::

    signer = LocalSigner.from_file("cosign.key", password=lambda: vault.read("cosign"))
    signature = signer.sign(payload)
    assert signer.public_key().verify(signature, payload)
"""

from __future__ import annotations

import os

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from imagesig.errors import (
    InvalidPasswordError,
    KeyFormatError,
    SignerError,
    UnsupportedAlgorithmError,
)
from imagesig.signers._password import (
    PASSWORD_ENV_VAR,
    PasswordSource,
    resolve_password,
)
from imagesig.signers._pem import PemBlock, describe_source, first_pem_block, read_key_file
from imagesig.signers.base import (
    SUPPORTED_RSA_KEY_SIZES,
    PublicKey,
    SignatureAlgorithm,
    SupportedPrivateKey,
    narrow_private_key,
)
from imagesig.signers.cosign_keys import (
    COSIGN_PRIVATE_KEY_LABEL,
    SIGSTORE_PRIVATE_KEY_LABEL,
    decrypt_private_key,
    encrypt_private_key,
)

__all__ = ["DEFAULT_RSA_KEY_SIZE", "PASSWORD_ENV_VAR", "LocalSigner", "PasswordSource"]

#: RSA modulus size :meth:`LocalSigner.generate` uses when the algorithm is RSA and no size
#: is given.
DEFAULT_RSA_KEY_SIZE = 3072

_STANDARD_LABELS = frozenset(
    {"PRIVATE KEY", "ENCRYPTED PRIVATE KEY", "EC PRIVATE KEY", "RSA PRIVATE KEY"}
)
_COSIGN_LABELS = frozenset({SIGSTORE_PRIVATE_KEY_LABEL, COSIGN_PRIVATE_KEY_LABEL})
_CURVES: dict[SignatureAlgorithm, type[ec.EllipticCurve]] = {
    SignatureAlgorithm.ECDSA_P256_SHA256: ec.SECP256R1,
    SignatureAlgorithm.ECDSA_P384_SHA384: ec.SECP384R1,
    SignatureAlgorithm.ECDSA_P521_SHA512: ec.SECP521R1,
}


class LocalSigner:
    """Sign with a private key held in this process.

    Args:
        private_key: an ECDSA (P-256/384/521), RSA (2048/3072/4096) or Ed25519 private key.
        algorithm: how to sign; defaults to :meth:`SignatureAlgorithm.default_for` the key.
        name: how messages name this signer (a file name); defaults to the key type and id.

    Raises:
        UnsupportedAlgorithmError: the key is not supported or ``algorithm`` does not fit it.
    """

    __slots__ = ("_algorithm", "_key", "_name", "_public_key")

    def __init__(
        self,
        private_key: SupportedPrivateKey,
        algorithm: SignatureAlgorithm | None = None,
        *,
        name: str | None = None,
    ) -> None:
        key = narrow_private_key(private_key, source=name)
        public = key.public_key()
        self._public_key = PublicKey(public) if algorithm is None else PublicKey(public, algorithm)
        self._key = key
        self._algorithm = self._public_key.algorithm
        self._name = name or f"local {self._algorithm.key_type} key {self._public_key.key_id[:16]}"

    @classmethod
    def generate(
        cls,
        algorithm: SignatureAlgorithm = SignatureAlgorithm.ECDSA_P256_SHA256,
        *,
        rsa_key_size: int | None = None,
    ) -> LocalSigner:
        """Generate a fresh key for ``algorithm``.

        Args:
            algorithm: the algorithm; ECDSA P-256 with SHA-256 (cosign's default) unless told.
            rsa_key_size: modulus size for RSA algorithms: 2048, 3072 or 4096
                (default :data:`DEFAULT_RSA_KEY_SIZE`).

        Returns:
            A signer with a new key, named after its key id.

        Raises:
            UnsupportedAlgorithmError: ``rsa_key_size`` is given for a non-RSA algorithm or
                is not a supported size.
        """
        key: SupportedPrivateKey
        if algorithm.key_type == "rsa":
            size = DEFAULT_RSA_KEY_SIZE if rsa_key_size is None else rsa_key_size
            if size not in SUPPORTED_RSA_KEY_SIZES:
                raise UnsupportedAlgorithmError(
                    f"RSA keys of {size} bits are not supported; use 2048, 3072 or 4096 bits"
                )
            key = rsa.generate_private_key(public_exponent=65537, key_size=size)
        elif rsa_key_size is not None:
            raise UnsupportedAlgorithmError(f"rsa_key_size does not apply to {algorithm.name} keys")
        elif algorithm.key_type == "ecdsa":
            key = ec.generate_private_key(_CURVES[algorithm]())
        else:
            key = ed25519.Ed25519PrivateKey.generate()
        return cls(key, algorithm)

    @classmethod
    def from_pem(
        cls,
        data: bytes | str,
        password: PasswordSource = None,
        *,
        algorithm: SignatureAlgorithm | None = None,
        source: str | None = None,
    ) -> LocalSigner:
        """Load a private key from PEM text (the formats in the module notes).

        Args:
            data: the PEM text.
            password: for encrypted keys: ``bytes``/``str``, a callback returning one, or
                ``None`` to use ``COSIGN_PASSWORD``.
            algorithm: how to sign; defaults to the key's default algorithm.
            source: the file name, used in messages and as the signer's name.

        Returns:
            The signer.

        Raises:
            KeyFormatError: no private-key PEM block, or damaged key data.
            PasswordRequiredError: the key is encrypted and no password is available.
            InvalidPasswordError: the password does not decrypt the key.
            UnsupportedAlgorithmError: the key or ``algorithm`` is not supported.
            SizeLimitExceededError: ``data`` is implausibly large for a key.
        """
        block = first_pem_block(data, source=source)
        where = describe_source(source)
        key: SupportedPrivateKey
        if block.label in _COSIGN_LABELS:
            key = decrypt_private_key(
                data, resolve_password(password, source=source), source=source
            )
        elif block.label in _STANDARD_LABELS:
            key = _load_standard(block, password, where, source)
        else:
            hint = (
                "that is the public key; sign with the private key (cosign.key)"
                if block.label in ("PUBLIC KEY", "RSA PUBLIC KEY")
                else None
            )
            raise KeyFormatError(
                f"{where} holds a {block.label!r} PEM block, not a private key",
                hint=hint,
                key=source,
            )
        return cls(key, algorithm, name=source)

    @classmethod
    def from_file(
        cls,
        path: str | os.PathLike[str],
        password: PasswordSource = None,
        *,
        algorithm: SignatureAlgorithm | None = None,
    ) -> LocalSigner:
        """Load a private-key file such as ``cosign.key``; see :meth:`from_pem`.

        Args:
            path: the file.
            password: as for :meth:`from_pem`.
            algorithm: how to sign; defaults to the key's default algorithm.

        Returns:
            The signer, named after the file.

        Raises:
            SignerError: the file cannot be read.
            KeyFormatError: no private key in the file, or damaged key data.
            PasswordRequiredError: the key is encrypted and no password is available.
            InvalidPasswordError: the password does not decrypt the key.
            UnsupportedAlgorithmError: the key or ``algorithm`` is not supported.
            SizeLimitExceededError: the file is implausibly large for a key.
        """
        name = os.fspath(path)
        return cls.from_pem(read_key_file(name), password, algorithm=algorithm, source=name)

    @property
    def name(self) -> str:
        """The file the key came from, or its type and key id."""
        return self._name

    @property
    def algorithm(self) -> SignatureAlgorithm:
        """The algorithm :meth:`sign` uses."""
        return self._algorithm

    def public_key(self) -> PublicKey:
        """Return the public key, carrying this signer's algorithm."""
        return self._public_key

    def sign(self, data: bytes) -> bytes:
        """Sign ``data``.

        Args:
            data: the message (not a digest).

        Returns:
            DER ECDSA, RSA PKCS#1 v1.5 or PSS, or 64-byte Ed25519/Ed25519ph signature bytes.
        """
        key = self._key
        algorithm = self._algorithm
        if isinstance(key, ed25519.Ed25519PrivateKey):
            if algorithm is SignatureAlgorithm.ED25519_PH:
                return _sign_ed25519ph(key, data)
            return key.sign(data)
        hash_algorithm = algorithm.hash_algorithm
        assert hash_algorithm is not None
        if isinstance(key, ec.EllipticCurvePrivateKey):
            return key.sign(data, ec.ECDSA(hash_algorithm))
        return key.sign(data, _rsa_padding(algorithm, hash_algorithm), hash_algorithm)

    def private_pem(self, password: bytes | str | None = None) -> bytes:
        """Return the private key as PKCS#8 PEM, encrypted when ``password`` is given.

        Args:
            password: a non-empty password for ``ENCRYPTED PRIVATE KEY`` output (the best
                encryption ``cryptography`` offers), or ``None`` for a plain ``PRIVATE KEY``.

        Returns:
            The PEM text.

        Raises:
            SignerError: ``password`` is empty.
        """
        encryption: serialization.KeySerializationEncryption
        if password is None:
            encryption = serialization.NoEncryption()
        else:
            secret = password.encode("utf-8") if isinstance(password, str) else password
            if not secret:
                raise SignerError(
                    "an empty password cannot encrypt a PKCS#8 key; pass None for an "
                    "unencrypted one",
                    key=self._name,
                )
            encryption = serialization.BestAvailableEncryption(secret)
        return self._key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
        )

    def to_cosign_key(self, password: bytes | str) -> bytes:
        """Return the key as a cosign key file (``ENCRYPTED SIGSTORE PRIVATE KEY``).

        Args:
            password: the password; empty is allowed, as in cosign.

        Returns:
            The PEM text, as ``cosign generate-key-pair`` writes it.
        """
        return encrypt_private_key(self._key, password)

    def __repr__(self) -> str:
        return (
            f"LocalSigner({self._algorithm.name}, name={self._name!r}, "
            f"key_id={self._public_key.key_id[:16]!r})"
        )


def _load_standard(
    block: PemBlock, password: PasswordSource, where: str, source: str | None
) -> SupportedPrivateKey:
    """Load a PKCS#8, SEC1 or PKCS#1 block, asking for a password only if it is encrypted."""
    secret = resolve_password(password, source=source) if block.encrypted else None
    try:
        raw: PrivateKeyTypes
        if block.headers:  # OpenSSL's legacy encryption lives in the headers
            raw = serialization.load_pem_private_key(block.to_pem(), password=secret)
        else:
            raw = serialization.load_der_private_key(block.der, password=secret)
    except UnsupportedAlgorithm as exc:
        raise UnsupportedAlgorithmError(
            f"{where} uses a key type or encryption that is not supported", key=source
        ) from exc
    except (ValueError, TypeError) as exc:
        if secret is not None:
            raise InvalidPasswordError(
                f"wrong password for {where} (or the key is damaged)", key=source
            ) from None
        raise KeyFormatError(
            f"the {block.label} block in {where} is not a valid private key", key=source
        ) from exc
    return narrow_private_key(raw, source=source)


def _rsa_padding(
    algorithm: SignatureAlgorithm, hash_algorithm: hashes.HashAlgorithm
) -> padding.AsymmetricPadding:
    if algorithm in (SignatureAlgorithm.RSA_PSS_SHA256, SignatureAlgorithm.RSA_PSS_SHA512):
        return padding.PSS(mgf=padding.MGF1(hash_algorithm), salt_length=padding.PSS.MAX_LENGTH)
    return padding.PKCS1v15()


def _sign_ed25519ph(key: ed25519.Ed25519PrivateKey, data: bytes) -> bytes:
    # Lazy: PyNaCl loads libsodium, which only Ed25519ph and cosign key files need.
    from nacl import bindings  # noqa: PLC0415

    seed = key.private_bytes_raw()
    public = key.public_key().public_bytes_raw()
    state = bindings.crypto_sign_ed25519ph_state()
    bindings.crypto_sign_ed25519ph_update(state, data)
    return bytes(bindings.crypto_sign_ed25519ph_final_create(state, seed + public))
