"""Pluggable signing keys: algorithms, public keys, local keys and cosign's key files.

This package knows nothing about images or registries. :mod:`.base` defines the
:class:`Signer`, :class:`AsyncSigner` and :class:`Verifier` protocols every key source
follows, :class:`SignatureAlgorithm` and :class:`PublicKey`; :mod:`.local` holds
:class:`LocalSigner` (keys in this process); :mod:`.cosign_keys` reads and writes cosign's
encrypted ``cosign.key`` files; :mod:`.uri` turns key references (paths, ``env://``,
``gcpkms://``, plugin schemes) into signers and verifiers; :mod:`.gcpkms` signs with Cloud
KMS keys (loaded, with google-cloud-kms, only when used).

Example::

    from imagesig.signers import LocalSigner, PublicKey, write_key_pair

    signer = LocalSigner.generate()
    write_key_pair("cosign.key", "cosign.pub", signer, password="s3cret")
    signer = LocalSigner.from_file("cosign.key", password="s3cret")
    assert PublicKey.from_file("cosign.pub").verify(signer.sign(b"hello"), b"hello")
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

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
from imagesig.signers.uri import (
    ENTRY_POINT_GROUP,
    SignerProvider,
    SignerRegistration,
    async_signer_from_uri,
    async_verifier_from_uri,
    register_signer,
    registered_schemes,
    reset_signer_registry,
    signer_from_uri,
    signer_scheme,
    unregister_signer,
    verifier_from_uri,
)

if TYPE_CHECKING:
    from imagesig.signers.gcpkms import AsyncGcpKmsSigner, GcpKmsSigner

# Cloud KMS names load on first access, so that importing this package stays light.
_LAZY = {
    "AsyncGcpKmsSigner": "imagesig.signers.gcpkms",
    "GcpKmsSigner": "imagesig.signers.gcpkms",
}

__all__ = [
    "ACCEPTED_SCRYPT_PARAMETERS",
    "COSIGN_PRIVATE_KEY_LABEL",
    "DEFAULT_RSA_KEY_SIZE",
    "DEFAULT_SCRYPT_N",
    "ENTRY_POINT_GROUP",
    "PASSWORD_ENV_VAR",
    "SIGSTORE_PRIVATE_KEY_LABEL",
    "SUPPORTED_RSA_KEY_SIZES",
    "AsyncGcpKmsSigner",
    "AsyncSigner",
    "GcpKmsSigner",
    "LocalSigner",
    "PasswordSource",
    "PublicKey",
    "SignatureAlgorithm",
    "Signer",
    "SignerProvider",
    "SignerRegistration",
    "SupportedPrivateKey",
    "SupportedPublicKey",
    "Verifier",
    "as_async_signer",
    "async_signer_from_uri",
    "async_verifier_from_uri",
    "decrypt_private_key",
    "encrypt_private_key",
    "is_cosign_private_key",
    "register_signer",
    "registered_schemes",
    "reset_signer_registry",
    "resolve_password",
    "signer_from_uri",
    "signer_scheme",
    "unregister_signer",
    "verifier_from_uri",
    "write_key_pair",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'imagesig.signers' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
