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
    │   ├── ConcurrentUpdateError       a read-modify-write kept losing to other writers
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
    │   ├── KeyFileExistsError          a key file exists and overwriting was not allowed
    │   ├── UnknownSignerSchemeError    a signer reference names a scheme nobody handles
    │   └── KMSError                    a key-management service refused or failed a request
    │       ├── KMSPermissionError      credentials missing or refused, or an IAM role lacking
    │       ├── KMSKeyNotFoundError     no such key ring, key or key version
    │       ├── KMSKeyStateError        the key or version cannot be used (disabled, destroyed...)
    │       ├── KMSIntegrityError       a request or response failed its CRC32C or identity checks
    │       └── KMSUnavailableError     the service could not be reached (after retries)
    ├── CredentialError                 an ambient identity credential could not be found or used
    │   ├── CredentialNotFoundError     the named provider does not apply in this environment
    │   ├── CredentialPermissionError   the platform refused a credential (a grant is missing)
    │   ├── CredentialProviderError     a provider applies but failed (unreachable, broken...)
    │   └── InvalidIdentityTokenError   token malformed, too long, expired or for another audience
    ├── PolicyError                     a policy could not be loaded or evaluated
    │   ├── PolicyParseError            a policy document is malformed (``.field_path`` says where)
    │   │   └── PolicyValidationError   a well-formed policy that Kyverno's admission would reject
    │   ├── ImageExtractionError        a resource's images could not be extracted
    │   ├── ConditionError              a condition or ``{{ }}`` variable could not be evaluated
    │   └── AdmissionReviewError        an AdmissionReview is malformed or of an unknown version
    └── VerificationError               verification failed; carries the result (``.result``)
        └── AttestationVerificationError  no attestation verified (``.attestation_result``)

Messages name the image, repository, registry, key or policy involved and never contain a
token, password or the user-info part of a URL: use :func:`redact_url` when a URL goes into a
message.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

if TYPE_CHECKING:
    from imagesig.signatures.result import AttestationVerificationResult, VerificationResult

__all__ = [
    "AdmissionReviewError",
    "AttestationVerificationError",
    "BlobNotFoundError",
    "BundleError",
    "CheckpointError",
    "ConcurrentUpdateError",
    "ConditionError",
    "ContentNotFoundError",
    "CredentialError",
    "CredentialNotFoundError",
    "CredentialPermissionError",
    "CredentialProviderError",
    "CredentialStoreError",
    "DigestMismatchError",
    "EnvelopeError",
    "ImageExtractionError",
    "ImageSigError",
    "InclusionProofError",
    "InvalidDigestError",
    "InvalidIdentityTokenError",
    "InvalidManifestError",
    "InvalidPasswordError",
    "InvalidReferenceError",
    "KMSError",
    "KMSIntegrityError",
    "KMSKeyNotFoundError",
    "KMSKeyStateError",
    "KMSPermissionError",
    "KMSUnavailableError",
    "KeyFileExistsError",
    "KeyFormatError",
    "LayoutError",
    "LogEntryMismatchError",
    "ManifestNotFoundError",
    "MissingLogEntryError",
    "PasswordRequiredError",
    "PayloadError",
    "PolicyError",
    "PolicyParseError",
    "PolicyValidationError",
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
    "UnknownSignerSchemeError",
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


class ConcurrentUpdateError(StoreError):
    """A read-modify-write of shared content (a ``.sig`` manifest) kept losing to other writers.

    The distribution API has no conditional write, so an update is re-read after it is
    written and redone when another writer replaced it; this is raised when that did not
    settle within the allowed attempts. Nothing was lost that was there before.
    """


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


class UnknownSignerSchemeError(SignerError):
    """A signer reference is a URI whose scheme no signer factory handles."""


class KMSError(SignerError):
    """A key-management service refused or failed a request.

    ``context["key"]`` names the key (a ``gcpkms://`` URI) and ``context["operation"]`` what
    was being done (``"sign"``, ``"get public key"``...); the original exception (a gRPC or
    ``google.api_core`` error) is kept as ``__cause__``.
    """


class KMSPermissionError(KMSError):
    """Credentials are missing or were refused, or they lack the IAM role the call needs.

    The hint names the role to grant (for Cloud KMS: ``roles/cloudkms.signerVerifier`` to
    sign, ``roles/cloudkms.viewer`` and ``roles/cloudkms.verifier`` to verify).
    """


class KMSKeyNotFoundError(KMSError):
    """The key ring, key or key version does not exist (or is not visible to the caller)."""


class KMSKeyStateError(KMSError):
    """The key or key version exists but cannot be used.

    Raised for a version that is disabled, destroyed, scheduled for destruction or still
    being generated, a key whose purpose is not signing, and a key with no enabled version.
    ``context["state"]`` holds the state the service reported, when there is one.
    """


class KMSIntegrityError(KMSError):
    """A request or response failed its integrity checks, also after the allowed retries.

    Raised when the service says the digest arrived damaged, when a signature or public key
    does not match its CRC32C checksum, when a response names another key version, and when
    a signature does not verify with the key's public key. No signature is returned then.
    """


class KMSUnavailableError(KMSError):
    """The service could not be reached or kept timing out, after the allowed retries."""


class CredentialError(ImageSigError):
    """An ambient identity credential could not be found or used.

    ``context["provider"]`` names the provider (``"github-actions"``, ``"spiffe"``...) and
    ``context["source"]`` where it looked (a file, a socket, a URL without its query) when
    there is one. Messages never contain a token or a request secret.
    """


class CredentialNotFoundError(CredentialError):
    """A provider asked for by name does not apply in this environment."""


class CredentialPermissionError(CredentialError):
    """The platform refused to issue a credential: a permission or binding is missing.

    :meth:`~ImageSigError.diagnostics` names the grant to add (``permissions: id-token:
    write`` on GitHub Actions, the Workload Identity binding on GKE...).
    """


class CredentialProviderError(CredentialError):
    """A provider applies here but failed: unreachable, misconfigured or broken.

    Also raised when an optional dependency it needs is missing (``context["extra"]`` then
    names the ``imagesig[...]`` extra to install).
    """


class InvalidIdentityTokenError(CredentialError):
    """An identity token is malformed, too long, expired or issued for another audience.

    The token itself is never part of the message.
    """


class PolicyError(ImageSigError):
    """A policy could not be loaded or evaluated."""


class PolicyParseError(PolicyError):
    """A policy document is not valid YAML/JSON of the policy schema, or breaks a parser limit.

    Args:
        message: what is wrong, naming the field.
        field_path: where, in Kyverno's notation (``spec.rules[0].verifyImages[1].attestors``);
            ``""`` for the document as a whole.
        hint: optional advice.
        **context: structured facts (``policy``, ``source``...).

    Attributes:
        field_path: the offending field, as given.
    """

    def __init__(
        self, message: str, *, field_path: str = "", hint: str | None = None, **context: Any
    ) -> None:
        super().__init__(message, hint=hint, field_path=field_path or None, **context)
        self.field_path = field_path


class PolicyValidationError(PolicyParseError):
    """A well-formed policy that Kyverno's admission would reject (count above the entries...).

    Args:
        message: every problem, joined.
        field_path: the first problem's field.
        errors: every problem as ``(field_path, message)``, in the order Kyverno checks them.
        hint: optional advice.
        **context: structured facts (``policy``, ``source``...).

    Attributes:
        errors: as given.
    """

    def __init__(
        self,
        message: str,
        *,
        field_path: str = "",
        errors: tuple[tuple[str, str], ...] = (),
        hint: str | None = None,
        **context: Any,
    ) -> None:
        super().__init__(message, field_path=field_path, hint=hint, **context)
        self.errors = errors


class ImageExtractionError(PolicyError):
    """The images of a resource could not be extracted (an unparsable image, a bad extractor)."""


class ConditionError(PolicyError):
    """A condition could not be evaluated: unknown operator, unresolvable ``{{ }}`` variable, or
    a substituted value above the size limit."""


class AdmissionReviewError(PolicyError):
    """An AdmissionReview (or its ``request``) is malformed or of an unknown ``apiVersion``."""


class VerificationError(ImageSigError):
    """Verification failed; raised by ``raise_for_failure()`` on a result.

    Args:
        message: what failed, naming the image.
        result: the verification result that failed (a
            :class:`~imagesig.signatures.result.VerificationResult`), kept on :attr:`result`.
        hint: optional advice.
        **context: structured facts (``image``, ``digest``...).

    Attributes:
        result: the failed result, with every signature's reason; ``None`` when the error
            was raised without one.
    """

    def __init__(
        self,
        message: str,
        *,
        result: VerificationResult | None = None,
        hint: str | None = None,
        **context: Any,
    ) -> None:
        super().__init__(message, hint=hint, **context)
        self.result = result


class AttestationVerificationError(VerificationError):
    """Attestation verification failed; raised by
    :meth:`~imagesig.signatures.result.AttestationVerificationResult.raise_for_failure`.

    Args:
        message: what failed, naming the image and the predicate type asked for.
        attestation_result: the failed result, kept on :attr:`attestation_result`.
        hint: optional advice.
        **context: structured facts (``image``, ``digest``, ``predicate_type``...).

    Attributes:
        attestation_result: the failed result, with every attestation's status and reason
            (:attr:`result`, which holds signature results, is ``None``).
    """

    def __init__(
        self,
        message: str,
        *,
        attestation_result: AttestationVerificationResult | None = None,
        hint: str | None = None,
        **context: Any,
    ) -> None:
        super().__init__(message, hint=hint, **context)
        self.attestation_result = attestation_result
