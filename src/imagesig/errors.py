"""Every exception imagesig raises.

All of them derive from :class:`ImageSigError`, so ``except imagesig.ImageSigError`` catches
anything the library reports on purpose. Foreign exceptions (httpx, cryptography, grpc,
google-auth, yaml) are wrapped at the layer boundary with ``__cause__`` kept.

The tree::

    ImageSigError
    ├── InvalidReferenceError           (also a ValueError) an image reference broke the grammar
    │   └── InvalidDigestError          a digest string is malformed
    ├── SizeLimitExceededError          a body or a count is larger than its cap
    ├── DigestMismatchError             content does not hash to the digest it was fetched by
    ├── StoreError                      a store could not do what was asked
    │   ├── ContentNotFoundError
    │   │   ├── ManifestNotFoundError   no manifest for that tag or digest
    │   │   └── BlobNotFoundError       no blob with that digest
    │   ├── InvalidManifestError        a manifest or index is not valid JSON of a known type
    │   ├── LayoutError                 an OCI image-layout directory is damaged or unusable
    │   └── RegistryError               the registry failed or answered unexpectedly
    │       ├── RegistryAuthError       credentials were refused or could not be obtained
    │       │   └── UnsafeAuthRealmError  a token realm points somewhere we never send secrets
    │       ├── RegistryTimeoutError    connect/read timed out (after retries)
    │       ├── RegistryConnectionError the registry could not be reached (after retries)
    │       └── RegistryProtocolError   the registry broke the distribution protocol
    ├── CredentialStoreError            a docker config file or credential helper failed
    ├── TransparencyLogError            a transparency-log entry or proof did not verify
    │   ├── LogEntryMismatchError       the entry records another artifact, signature or key
    │   ├── SignedEntryTimestampError   the log's promise (SET) does not verify
    │   ├── InclusionProofError         the Merkle inclusion proof does not lead to the root
    │   ├── CheckpointError             the signed checkpoint is malformed or badly signed
    │   ├── UnknownLogError             no trusted log has that id (or not at that time)
    │   └── MissingLogEntryError        a proof was required and none was found
    ├── RekorError                      the Rekor service failed or answered unexpectedly
    │   ├── RekorConnectionError        Rekor could not be reached (after retries)
    │   └── RekorTimeoutError           Rekor timed out (after retries)
    ├── TrustRootError                  a trusted root is malformed or unusable
    ├── SignatureFormatError            signed content or its carrier is malformed
    │   ├── PayloadError                a simple-signing payload is not what cosign signs
    │   ├── EnvelopeError               a DSSE envelope is malformed
    │   ├── StatementError              an in-toto statement is malformed
    │   └── BundleError                 a Sigstore bundle is malformed or unsupported
    ├── SignerError                     a key could not be loaded or a signer failed
    │   ├── KeyFormatError              key material is malformed or in an unknown format
    │   ├── InvalidPasswordError        the password does not decrypt the private key
    │   ├── PasswordRequiredError       an encrypted key and no password (imagesig never prompts)
    │   ├── UnsupportedAlgorithmError   key type, curve, RSA size or algorithm not supported
    │   └── KeyFileExistsError          a key file exists and overwriting was not allowed
    ├── CredentialError                 (later layers)
    ├── PolicyError                     (later layers)
    └── VerificationError               (later layers)

Messages name the image, repository, registry, key or policy involved and never contain a
token, password or the user-info part of a URL: use :func:`redact_url` when a URL goes into a
message.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

__all__ = [
    "BlobNotFoundError",
    "BundleError",
    "CheckpointError",
    "ContentNotFoundError",
    "CredentialError",
    "CredentialStoreError",
    "DigestMismatchError",
    "EnvelopeError",
    "ImageSigError",
    "InclusionProofError",
    "InvalidDigestError",
    "InvalidManifestError",
    "InvalidPasswordError",
    "InvalidReferenceError",
    "KeyFileExistsError",
    "KeyFormatError",
    "LayoutError",
    "LogEntryMismatchError",
    "ManifestNotFoundError",
    "MissingLogEntryError",
    "PasswordRequiredError",
    "PayloadError",
    "PolicyError",
    "RegistryAuthError",
    "RegistryConnectionError",
    "RegistryError",
    "RegistryProtocolError",
    "RegistryTimeoutError",
    "RekorConnectionError",
    "RekorError",
    "RekorTimeoutError",
    "SignatureFormatError",
    "SignedEntryTimestampError",
    "SignerError",
    "SizeLimitExceededError",
    "StatementError",
    "StoreError",
    "TransparencyLogError",
    "TrustRootError",
    "UnknownLogError",
    "UnsafeAuthRealmError",
    "UnsupportedAlgorithmError",
    "VerificationError",
    "redact_url",
]

# Query parameters that may carry secrets in token-server and upload URLs.
_SECRET_QUERY_KEYS = frozenset(
    {"token", "access_token", "refresh_token", "password", "secret", "sig", "signature"}
)


def redact_url(url: object) -> str:
    """Return ``url`` as text fit for a message: no user-info, secret query values masked.

    Args:
        url: a ``str`` or ``httpx.URL``.

    Returns:
        The URL with ``user:password@`` removed and values of secret-looking query
        parameters replaced by ``***``.
    """
    text = str(url)
    try:
        parts = urlsplit(text)
    except ValueError:
        return "<unparseable URL>"
    netloc = parts.netloc.rpartition("@")[2]
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode(
            [(k, "***" if k.lower() in _SECRET_QUERY_KEYS else v) for k, v in pairs], safe="/:"
        )
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


class ImageSigError(Exception):
    """Base class of every error imagesig raises on purpose.

    Args:
        message: one sentence saying what went wrong, naming the object involved.
        hint: optional advice on how to fix it, shown by :meth:`diagnostics`.
        **context: structured facts (``registry``, ``repository``, ``reference``, ``key``,
            ``policy``...) kept on :attr:`context` for programs; never secrets.
    """

    def __init__(self, message: str, *, hint: str | None = None, **context: Any) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.context: Mapping[str, Any] = {k: v for k, v in context.items() if v is not None}

    def diagnostics(self) -> str:
        """Return a multi-line explanation: the message, the context and any hint."""
        lines = [self.message]
        lines.extend(f"  {key}: {value}" for key, value in sorted(self.context.items()))
        if self.hint:
            lines.append(f"Hint: {self.hint}")
        cause = self.__cause__
        if cause is not None:
            lines.append(f"Caused by: {type(cause).__name__}: {cause}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.message


class InvalidReferenceError(ImageSigError, ValueError):
    """An image reference (or one of its parts) does not follow the reference grammar.

    ``reference`` in :attr:`context` is the input (truncated when long) and ``rule`` names the
    rule it broke.
    """


class InvalidDigestError(InvalidReferenceError):
    """A digest is malformed: unknown algorithm, wrong length, uppercase or non-hex."""


class SizeLimitExceededError(ImageSigError):
    """A response body, file or item count is larger than the cap that bounds it."""


class DigestMismatchError(ImageSigError):
    """Content does not hash to the digest it was requested or described by."""


class StoreError(ImageSigError):
    """A store (registry or OCI layout) could not complete an operation."""


class ContentNotFoundError(StoreError):
    """The requested manifest or blob does not exist."""


class ManifestNotFoundError(ContentNotFoundError):
    """No manifest exists for the tag or digest."""


class BlobNotFoundError(ContentNotFoundError):
    """No blob exists with the digest."""


class InvalidManifestError(StoreError):
    """A manifest or index is not valid JSON of a supported media type."""


class LayoutError(StoreError):
    """An OCI image-layout directory is missing, damaged or of an unsupported version."""


class RegistryError(StoreError):
    """The registry refused or failed a request.

    ``status_code`` is the HTTP status when there was a response; ``errors`` holds the
    distribution error codes the registry returned (``MANIFEST_UNKNOWN``...).
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        errors: tuple[str, ...] = (),
        hint: str | None = None,
        **context: Any,
    ) -> None:
        super().__init__(message, hint=hint, **context)
        self.status_code = status_code
        self.errors = errors


class RegistryAuthError(RegistryError):
    """The registry refused our credentials, or a token could not be obtained."""


class UnsafeAuthRealmError(RegistryAuthError):
    """A ``WWW-Authenticate`` realm points to a link-local, metadata or non-HTTP(S) address."""


class RegistryTimeoutError(RegistryError):
    """Connecting to or reading from the registry timed out, after any retries."""


class RegistryConnectionError(RegistryError):
    """The registry could not be reached, after any retries."""


class RegistryProtocolError(RegistryError):
    """The registry answered in a way the distribution protocol does not allow."""


class CredentialStoreError(ImageSigError):
    """A docker ``config.json`` could not be read or a credential helper failed."""


class TransparencyLogError(ImageSigError):
    """A transparency-log entry, promise or proof did not verify.

    ``context["check"]`` names the check that failed; :mod:`imagesig.tlog.verify` lists
    every name (``"set"``, ``"log-id"``, ``"log-key-validity"``, ``"body-*"``,
    ``"checkpoint-*"``, ``"inclusion-proof"``...).
    """


class LogEntryMismatchError(TransparencyLogError):
    """The log entry records another artifact, signature or key than the one verified."""


class SignedEntryTimestampError(TransparencyLogError):
    """The signed entry timestamp (the log's inclusion promise) does not verify."""


class InclusionProofError(TransparencyLogError):
    """The Merkle inclusion proof does not lead to the claimed root hash."""


class CheckpointError(TransparencyLogError):
    """The signed checkpoint (tree head) is malformed, mismatched or badly signed."""


class UnknownLogError(TransparencyLogError):
    """No trusted transparency log has that log id, or its key was not valid at that time."""


class MissingLogEntryError(TransparencyLogError):
    """A transparency-log proof was required but none was found."""


class RekorError(ImageSigError):
    """The Rekor service refused or failed a request.

    ``status_code`` is the HTTP status when there was a response.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        hint: str | None = None,
        **context: Any,
    ) -> None:
        super().__init__(message, hint=hint, **context)
        self.status_code = status_code


class RekorConnectionError(RekorError):
    """Rekor could not be reached, after any retries."""


class RekorTimeoutError(RekorError):
    """Rekor timed out, after any retries."""


class TrustRootError(ImageSigError):
    """A trusted root (``trusted_root.json`` or a log key) is malformed or unusable."""


class SignatureFormatError(ImageSigError):
    """Signed content, or the structure that carries it, is malformed.

    ``context["field"]`` names the offending field when there is one.
    """


class PayloadError(SignatureFormatError):
    """A simple-signing payload is not valid JSON of the shape cosign signs.

    Duplicate or ambiguous keys, a missing or mistyped field, another ``critical.type`` or a
    bad digest.
    """


class EnvelopeError(SignatureFormatError):
    """A DSSE envelope is malformed: missing field, wrong type or undecodable base64."""


class StatementError(SignatureFormatError):
    """An in-toto statement is malformed or of an unknown ``_type``.

    Also raised for a predicate type name that is neither a known short name nor a URI.
    """


class BundleError(SignatureFormatError):
    """A Sigstore bundle is malformed, of an unsupported media type or version.

    Also raised when it breaks a rule of its version.
    """


class SignerError(ImageSigError):
    """A key could not be loaded or a signer failed."""


class KeyFormatError(SignerError):
    """Key material is malformed or not in a format imagesig reads.

    Raised for a damaged PEM block, an unknown PEM label, an encrypted cosign key whose
    envelope is not what cosign writes (including scrypt parameters cosign refuses) and a
    decrypted key that is not PKCS#8. ``context["key"]`` names the file when there is one.
    """


class InvalidPasswordError(SignerError):
    """The password does not decrypt the private key (or the encrypted key was altered).

    The message names the key file; it never contains the password.
    """


class PasswordRequiredError(SignerError):
    """A private key is encrypted and no password was given.

    Passwords come from an argument, a callback or ``COSIGN_PASSWORD``; imagesig never
    prompts for one.
    """


class UnsupportedAlgorithmError(SignerError):
    """A key type, curve, RSA size or signature algorithm is not supported.

    Also raised when an algorithm is asked for with a key it does not fit.
    """


class KeyFileExistsError(SignerError):
    """A key file is already there and overwriting it was not allowed."""


class CredentialError(ImageSigError):
    """An ambient identity credential could not be found or used."""


class PolicyError(ImageSigError):
    """A policy could not be loaded or evaluated."""


class VerificationError(ImageSigError):
    """Verification failed; raised by ``raise_for_failure()`` on a result."""
