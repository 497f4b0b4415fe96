"""Pluggable signing keys: algorithms, public keys, local keys and cosign's key files.

This package knows nothing about images or registries. :mod:`.base` defines the
:class:`Signer`, :class:`AsyncSigner` and :class:`Verifier` protocols every key source
follows, :class:`SignatureAlgorithm` and :class:`PublicKey`; :mod:`.local` holds
:class:`LocalSigner` (keys in this process); :mod:`.cosign_keys` reads and writes cosign's
encrypted ``cosign.key`` files.

Example::

    from imagesig.signers import LocalSigner, PublicKey, write_key_pair

    signer = LocalSigner.generate()
    write_key_pair("cosign.key", "cosign.pub", signer, password="s3cret")
    signer = LocalSigner.from_file("cosign.key", password="s3cret")
    assert PublicKey.from_file("cosign.pub").verify(signer.sign(b"hello"), b"hello")
"""

from __future__ import annotations

from imagesig.signers._password import PASSWORD_ENV_VAR, PasswordSource, resolve_password
from imagesig.signers.base import (
    SUPPORTED_RSA_KEY_SIZES,
    AsyncSigner,
    PublicKey,
    SignatureAlgorithm,
    Signer,
    SupportedPrivateKey,
    SupportedPublicKey,
    Verifier,
    as_async_signer,
)
from imagesig.signers.cosign_keys import (
    ACCEPTED_SCRYPT_PARAMETERS,
    COSIGN_PRIVATE_KEY_LABEL,
    DEFAULT_SCRYPT_N,
    SIGSTORE_PRIVATE_KEY_LABEL,
    decrypt_private_key,
    encrypt_private_key,
    is_cosign_private_key,
    write_key_pair,
)
from imagesig.signers.local import DEFAULT_RSA_KEY_SIZE, LocalSigner

__all__ = [
    "ACCEPTED_SCRYPT_PARAMETERS",
    "COSIGN_PRIVATE_KEY_LABEL",
    "DEFAULT_RSA_KEY_SIZE",
    "DEFAULT_SCRYPT_N",
    "PASSWORD_ENV_VAR",
    "SIGSTORE_PRIVATE_KEY_LABEL",
    "SUPPORTED_RSA_KEY_SIZES",
    "AsyncSigner",
    "LocalSigner",
    "PasswordSource",
    "PublicKey",
    "SignatureAlgorithm",
    "Signer",
    "SupportedPrivateKey",
    "SupportedPublicKey",
    "Verifier",
    "as_async_signer",
    "decrypt_private_key",
    "encrypt_private_key",
    "is_cosign_private_key",
    "resolve_password",
    "write_key_pair",
]
