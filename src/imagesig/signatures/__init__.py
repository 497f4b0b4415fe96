"""cosign-compatible signature formats, on top of :mod:`imagesig.oci` and :mod:`imagesig.signers`.

The format modules are pure (no I/O) and strict about what they read:

* :mod:`imagesig.signatures.simplesigning` — the payload a tag-based (``.sig``) signature
  signs;
* :mod:`imagesig.signatures.dsse` — DSSE envelopes and their pre-authentication encoding;
* :mod:`imagesig.signatures.intoto` — in-toto statements and cosign's predicate-type names;
* :mod:`imagesig.signatures.bundle` — Sigstore bundles (v0.1 to v0.3).

Every parser keeps the exact bytes it read (``raw``): signatures and transparency-log hashes
are always checked over those bytes, never over a re-serialisation.

On top of them, the operations (loaded on first use, since they need the client):

* :mod:`imagesig.signatures.attach` — where signatures live (``.sig`` tags, OCI referrers),
  writing and discovering them, :func:`triangulate`, :func:`list_signatures`;
* :mod:`imagesig.signatures.sign` — :func:`sign_image`;
* :mod:`imagesig.signatures.verify` — :func:`verify_image`;
* :mod:`imagesig.signatures.attest` — :func:`attest_image`: in-toto attestations, stored as
  bundles or in ``.att`` tags;
* :mod:`imagesig.signatures.verify_attestations` — ``verify_attestations`` (import it from
  :mod:`imagesig` or from that module: here the name is the module's);
* :mod:`imagesig.signatures.predicates` — typed views of SLSA provenance, SBOM and
  vulnerability predicates;
* :mod:`imagesig.signatures.options` and :mod:`imagesig.signatures.result` — the option and
  result types.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from imagesig.signatures.attach import (
        AttachedSignature,
        Attachment,
        AttachmentKind,
        AttachmentStorage,
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

_LAZY = {
    "AttachedSignature": "imagesig.signatures.attach",
    "Attachment": "imagesig.signatures.attach",
    "AttachmentKind": "imagesig.signatures.attach",
    "AttachmentStorage": "imagesig.signatures.attach",
    "AttachmentTree": "imagesig.signatures.attach",
    "AttestResult": "imagesig.signatures.result",
    "AttestationCheck": "imagesig.signatures.result",
    "AttestationStatus": "imagesig.signatures.result",
    "AttestationVerificationResult": "imagesig.signatures.result",
    "attest_image": "imagesig.signatures.attest",
    "list_attachments": "imagesig.signatures.attach",
    "SignResult": "imagesig.signatures.result",
    "SignatureCheck": "imagesig.signatures.result",
    "SignatureFormat": "imagesig.signatures.options",
    "TransparencyLogOptions": "imagesig.signatures.options",
    "VerificationResult": "imagesig.signatures.result",
    "list_signatures": "imagesig.signatures.attach",
    "sign_image": "imagesig.signatures.sign",
    "triangulate": "imagesig.signatures.attach",
    "verify_image": "imagesig.signatures.verify",
}

__all__ = [
    "AttachedSignature",
    "Attachment",
    "AttachmentKind",
    "AttachmentStorage",
    "AttachmentTree",
    "AttestResult",
    "AttestationCheck",
    "AttestationStatus",
    "AttestationVerificationResult",
    "SignResult",
    "SignatureCheck",
    "SignatureFormat",
    "TransparencyLogOptions",
    "VerificationResult",
    "attest_image",
    "list_attachments",
    "list_signatures",
    "sign_image",
    "triangulate",
    "verify_image",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'imagesig.signatures' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(
        {
            *__all__,
            "attach",
            "attest",
            "bundle",
            "dsse",
            "intoto",
            "options",
            "predicates",
            "result",
            "sign",
            "simplesigning",
            "verify",
            "verify_attestations",
        }
    )
