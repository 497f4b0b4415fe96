"""imagesig: sign and verify container images like cosign; enforce Kyverno verifyImages policies.

``import imagesig`` is kept light: the error classes and version load at once, everything
else (clients, stores, references) on first attribute access, and heavy optional
dependencies (google-cloud-kms, grpc, yaml) only inside the features that need them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from imagesig.errors import (
    AttestationVerificationError,
    BlobNotFoundError,
    ContentNotFoundError,
    CredentialError,
    CredentialStoreError,
    DigestMismatchError,
    ImageSigError,
    InvalidDigestError,
    InvalidManifestError,
    InvalidReferenceError,
    LayoutError,
    ManifestNotFoundError,
    PolicyError,
    RegistryAuthError,
    RegistryConnectionError,
    RegistryError,
    RegistryProtocolError,
    RegistryTimeoutError,
    SignerError,
    SizeLimitExceededError,
    StoreError,
    UnsafeAuthRealmError,
    VerificationError,
)

__version__ = "0.1.0.dev0"

_LAZY = {
    "AsyncClient": "imagesig.client",
    "Client": "imagesig.client",
    "Digest": "imagesig.reference",
    "ImageReference": "imagesig.reference",
    "Repository": "imagesig.reference",
    "OCILayoutStore": "imagesig.oci.layout",
    "RegistryStore": "imagesig.oci.registry",
    "AsyncRegistryStore": "imagesig.oci.registry",
    "RetryPolicy": "imagesig._http",
    "StaticKeychain": "imagesig.oci.credentials",
    "RegistryCredential": "imagesig.oci.credentials",
    "AttachedSignature": "imagesig.signatures.attach",
    "AttachmentTree": "imagesig.signatures.attach",
    "AttestResult": "imagesig.signatures.result",
    "AttestationCheck": "imagesig.signatures.result",
    "AttestationStatus": "imagesig.signatures.result",
    "AttestationVerificationResult": "imagesig.signatures.result",
    "attest_image": "imagesig.signatures.attest",
    "list_attachments": "imagesig.signatures.attach",
    "verify_attestations": "imagesig.signatures.verify_attestations",
    "SignResult": "imagesig.signatures.result",
    "SignatureCheck": "imagesig.signatures.result",
    "SignatureFormat": "imagesig.signatures.options",
    "TransparencyLogOptions": "imagesig.signatures.options",
    "VerificationResult": "imagesig.signatures.result",
    "list_signatures": "imagesig.signatures.attach",
    "sign_image": "imagesig.signatures.sign",
    "triangulate": "imagesig.signatures.attach",
    "verify_image": "imagesig.signatures.verify",
    "load_policy": "imagesig.policy.load",
    "PolicyEvaluator": "imagesig.policy.engine",
    "AsyncPolicyEvaluator": "imagesig.policy.engine",
    "PolicyReport": "imagesig.policy.report",
}

if TYPE_CHECKING:
    from imagesig._http import RetryPolicy
    from imagesig.client import AsyncClient, Client
    from imagesig.oci.credentials import RegistryCredential, StaticKeychain
    from imagesig.oci.layout import OCILayoutStore
    from imagesig.oci.registry import AsyncRegistryStore, RegistryStore
    from imagesig.policy.engine import AsyncPolicyEvaluator, PolicyEvaluator
    from imagesig.policy.load import load_policy
    from imagesig.policy.report import PolicyReport
    from imagesig.reference import Digest, ImageReference, Repository
    from imagesig.signatures.attach import (
        AttachedSignature,
        AttachmentTree,
        list_attachments,
        list_signatures,
        triangulate,
    )
    from imagesig.signatures.attest import attest_image
    from imagesig.signatures.options import SignatureFormat, TransparencyLogOptions
    from imagesig.signatures.result import (
        AttestationCheck,
        AttestationStatus,
        AttestationVerificationResult,
        AttestResult,
        SignatureCheck,
        SignResult,
        VerificationResult,
    )
    from imagesig.signatures.sign import sign_image
    from imagesig.signatures.verify import verify_image
    from imagesig.signatures.verify_attestations import verify_attestations

__all__ = [
    "AsyncClient",
    "AsyncPolicyEvaluator",
    "AsyncRegistryStore",
    "AttachedSignature",
    "AttachmentTree",
    "AttestResult",
    "AttestationCheck",
    "AttestationStatus",
    "AttestationVerificationError",
    "AttestationVerificationResult",
    "BlobNotFoundError",
    "Client",
    "ContentNotFoundError",
    "CredentialError",
    "CredentialStoreError",
    "Digest",
    "DigestMismatchError",
    "ImageReference",
    "ImageSigError",
    "InvalidDigestError",
    "InvalidManifestError",
    "InvalidReferenceError",
    "LayoutError",
    "ManifestNotFoundError",
    "OCILayoutStore",
    "PolicyError",
    "PolicyEvaluator",
    "PolicyReport",
    "RegistryAuthError",
    "RegistryConnectionError",
    "RegistryCredential",
    "RegistryError",
    "RegistryProtocolError",
    "RegistryStore",
    "RegistryTimeoutError",
    "Repository",
    "RetryPolicy",
    "SignResult",
    "SignatureCheck",
    "SignatureFormat",
    "SignerError",
    "SizeLimitExceededError",
    "StaticKeychain",
    "StoreError",
    "TransparencyLogOptions",
    "UnsafeAuthRealmError",
    "VerificationError",
    "VerificationResult",
    "__version__",
    "attest_image",
    "list_attachments",
    "list_signatures",
    "load_policy",
    "sign_image",
    "triangulate",
    "verify_attestations",
    "verify_image",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'imagesig' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
