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
* :mod:`imagesig.signatures.options` and :mod:`imagesig.signatures.result` — the option and
  result types.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from imagesig.signatures.attach import AttachedSignature, list_signatures, triangulate
    from imagesig.signatures.options import SignatureFormat, TransparencyLogOptions
    from imagesig.signatures.result import SignatureCheck, SignResult, VerificationResult
    from imagesig.signatures.sign import sign_image
    from imagesig.signatures.verify import verify_image

_LAZY = {
    "AttachedSignature": "imagesig.signatures.attach",
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
    "SignResult",
    "SignatureCheck",
    "SignatureFormat",
    "TransparencyLogOptions",
    "VerificationResult",
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
            "bundle",
            "dsse",
            "intoto",
            "options",
            "result",
            "sign",
            "simplesigning",
            "verify",
        }
    )
