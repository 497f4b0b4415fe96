"""What the policy evaluator asks of the outside world, and the adapter to imagesig's clients.

The evaluator decides everything Kyverno decides (which images, which attestors, counts,
conditions, patches) and does no I/O itself. Three questions go to a :class:`Verifier`:

* :meth:`~Verifier.resolve_digest`: which digest a tag points at. The evaluator asks once per
  image and evaluation and pins every later check, and the ``mutateDigest`` patch, to that
  answer;
* :meth:`~Verifier.verify_signatures`: does one attestor entry (one key, after Kyverno's
  splitting of multi-key PEM blocks) verify a signature of this digest;
* :meth:`~Verifier.verify_attestations`: which signed in-toto statements about this digest
  does one attestor entry verify.

Each method returns its answer or a *flow* yielding it (:mod:`imagesig._flow`): that is how
one implementation serves the sync and the async client. A verifier that needs no I/O (a
fake in a test, a lookup table) simply returns the answer.

:class:`ClientVerifier` answers them with imagesig's own verification
(:func:`~imagesig.signatures.verify.verify_flow`,
:func:`~imagesig.signatures.verify_attestations.verify_attestations_flow`), run by whichever
client drives the evaluation. How Kyverno's attestor fields map onto it:

* ``keys.publicKeys`` (PEM), ``keys.kms`` and KMS URIs in ``publicKeys`` (``gcpkms://…`` or a
  plugin scheme, through :func:`~imagesig.signers.verifier_from_uri`; the public key is
  fetched once per verifier), ``keys.secret`` and ``k8s://ns/name`` through the ``secrets``
  lookup given (its ``cosign.pub``). Kyverno's precedence: ``publicKeys``, then ``secret``,
  then ``kms``.
* ``rekor``: absent means a proof from the default log is required (the verifier's ``tlog``
  options say which log that is: the public-good one unless configured, e.g. to a private
  log); ``rekor.url`` names the log to search, ``rekor.pubkey`` is the only log key trusted,
  ``rekor.ignoreTlog`` drops the proof requirement (the result says so).
* ``annotations`` must all be in the signed payload with equal values; ``repository`` (the
  attestor's, else the entry's) is where signatures are looked for instead of the image's
  repository.
* ``keyless`` and ``certificates`` entries, the implicit empty attestor of an attestation
  without attestors, and ``type: Notary`` fail with "... not supported yet": an attestor
  imagesig cannot check never passes.
* Registry, Rekor or KMS services that cannot be reached give a *transient* outcome, which
  the evaluator reports as ``error`` (Kyverno's network-error case); every other failure is a
  ``fail``.
"""

from __future__ import annotations

import inspect
import json
import threading
from collections.abc import Callable, Mapping
from typing import Any, Protocol, TypeAlias, TypeVar, runtime_checkable

import attrs

from imagesig._flow import Flow
from imagesig.errors import (
    ImageSigError,
    KeyFormatError,
    KMSUnavailableError,
    RegistryConnectionError,
    RegistryTimeoutError,
    RekorConnectionError,
    RekorTimeoutError,
)
from imagesig.policy.model import Attestor, Rekor, StaticKeyAttestor

__all__ = [
    "AttestationRequest",
    "ClientVerifier",
    "SecretLookup",
    "SignatureRequest",
    "Verifier",
    "VerifierOutcome",
    "run_answer",
]

_T = TypeVar("_T")

#: ``lookup(namespace, name)`` → the Secret's data (values as text or bytes), or ``None``.
SecretLookup: TypeAlias = Callable[[str, str], Mapping[str, str | bytes] | None]

#: The Secret key Kyverno and cosign read a public key from.
SECRET_PUBLIC_KEY = "cosign.pub"  # noqa: S105 - a key name
_PEM_MARKER = "-----BEGIN"
_K8S_SCHEME = "k8s://"
_TRANSIENT = (
    RegistryConnectionError,
    RegistryTimeoutError,
    RekorConnectionError,
    RekorTimeoutError,
    KMSUnavailableError,
)
KEYLESS_UNSUPPORTED = "keyless verification not supported yet"
CERTIFICATES_UNSUPPORTED = "certificate verification not supported yet"
NOTARY_UNSUPPORTED = "notary verification not supported yet"


@attrs.frozen(kw_only=True)
class SignatureRequest:
    """Check one attestor entry against one image digest.

    Attributes:
        image: the image as the policy sees it (Kyverno's normalised string, e.g.
            ``docker.io/nginx:1.25``), for messages.
        reference: what to verify: the normalised image pinned to :attr:`digest`
            (``docker.io/nginx@sha256:…``).
        digest: the digest every check is about (``sha256:…``).
        attestor: the entry: ``keys`` (one key), ``certificates``, ``keyless``, or none of
            them (the empty attestor).
        repository: where the signatures are stored instead of the image's repository
            (the attestor's ``repository``, else the entry's); ``""`` for the image's own.
        verifier_type: the entry's ``type``: ``Cosign``, ``SigstoreBundle`` or ``Notary``.
    """

    image: str
    reference: str
    digest: str
    attestor: Attestor
    repository: str = ""
    verifier_type: str = "Cosign"

    @property
    def annotations(self) -> Mapping[str, str]:
        """The annotations a signature must carry (the attestor's ``annotations``)."""
        return self.attestor.annotations


@attrs.frozen(kw_only=True)
class AttestationRequest(SignatureRequest):
    """Fetch the statements of one type that one attestor entry verifies for one digest.

    Attributes:
        predicate_type: the attestation's ``type`` (or deprecated ``predicateType``); the
            evaluator keeps only statements of exactly this type.
    """

    predicate_type: str


@attrs.frozen(kw_only=True)
class VerifierOutcome:
    """The answer to a :class:`SignatureRequest` or :class:`AttestationRequest`.

    Attributes:
        verified: the entry verified the image.
        digest: the digest that verified (must be the request's).
        message: why it did not verify, as one sentence; ``""`` when it did.
        transient: the failure came from a service that could not be reached (reported as
            ``error``, not ``fail``).
        statements: the verified in-toto statements, as JSON objects (attestations only).
    """

    verified: bool
    digest: str = ""
    message: str = ""
    transient: bool = False
    statements: tuple[Mapping[str, Any], ...] = ()

    @classmethod
    def passed(cls, digest: str, statements: tuple[Mapping[str, Any], ...] = ()) -> VerifierOutcome:
        """A verified outcome for ``digest``."""
        return cls(verified=True, digest=digest, statements=statements)

    @classmethod
    def failed(cls, message: str, *, transient: bool = False) -> VerifierOutcome:
        """A failed outcome saying why."""
        return cls(verified=False, message=message, transient=transient)


@runtime_checkable
class Verifier(Protocol):
    """What the evaluator needs for I/O. Each method returns its answer, or a flow of it."""

    def resolve_digest(self, reference: str) -> Flow[str] | str:
        """The digest (``sha256:…``) the normalised ``reference`` (a tag) points at.

        Raises:
            ImageSigError: the image cannot be resolved.
        """
        ...

    def verify_signatures(
        self, request: SignatureRequest
    ) -> Flow[VerifierOutcome] | VerifierOutcome:
        """Whether the request's attestor entry verifies a signature of its digest."""
        ...

    def verify_attestations(
        self, request: AttestationRequest
    ) -> Flow[VerifierOutcome] | VerifierOutcome:
        """The statements the request's attestor entry verifies for its digest."""
        ...


def run_answer(answer: Flow[_T] | _T) -> Flow[_T]:
    """Turn a verifier's answer (a value or a flow of it) into a flow."""
    if inspect.isgenerator(answer):
        result: _T = yield from answer
        return result
    return answer  # type: ignore[return-value]


# ------------------------------------------------------------------------------------------
# the client adapter


@attrs.frozen
class _KeyCall:
    """Fetch a public key named by a URI; the async driver uses the provider's async path."""

    reference: str
    options: Mapping[str, Any]

    def run_sync(self, env: Any) -> Any:
        from imagesig.signers.uri import verifier_from_uri  # noqa: PLC0415 - lazy providers

        return verifier_from_uri(self.reference, **self.options).public_key()

    async def run_async(self, env: Any) -> Any:
        from imagesig.signers.uri import async_verifier_from_uri  # noqa: PLC0415

        return (await async_verifier_from_uri(self.reference, **self.options)).public_key()


class ClientVerifier:
    """:class:`Verifier` backed by imagesig's verification, run by a ``Client``/``AsyncClient``.

    Args:
        tlog: transparency-log options for attestors without a ``rekor`` block: the default
            log's URL and the trusted root (set them for a private log); ``None`` means
            cosign's defaults (the public-good log, a proof required).
        secrets: looks up Kubernetes Secrets for ``keys.secret`` and ``k8s://`` keys.
        key_options: keyword options for :func:`~imagesig.signers.verifier_from_uri` when a
            key is a URI (for example ``endpoint=`` of a Cloud KMS emulator).
    """

    def __init__(
        self,
        *,
        tlog: Any = None,
        secrets: SecretLookup | None = None,
        key_options: Mapping[str, Any] | None = None,
    ) -> None:
        from imagesig.signatures.options import TransparencyLogOptions  # noqa: PLC0415

        self.tlog: TransparencyLogOptions = tlog if tlog is not None else TransparencyLogOptions()
        self._secrets = secrets
        self._key_options = dict(key_options or {})
        self._lock = threading.Lock()
        self._uri_keys: dict[str, Any] = {}
        self._roots: dict[tuple[str, str], Any] = {}

    def __repr__(self) -> str:
        return f"ClientVerifier(rekor_url={self.tlog.rekor_url!r}, ignore={self.tlog.ignore})"

    # -- the protocol ---------------------------------------------------------------------

    def resolve_digest(self, reference: str) -> Flow[str]:
        """Resolve a tag once through the client's store."""
        from imagesig.signatures.attach import resolve_digest_flow  # noqa: PLC0415

        digest = yield from resolve_digest_flow(_parse(reference))
        return str(digest)

    def verify_signatures(self, request: SignatureRequest) -> Flow[VerifierOutcome]:
        """Verify one attestor entry with :func:`~imagesig.signatures.verify.verify_flow`."""
        from imagesig.signatures.verify import verify_flow  # noqa: PLC0415

        unsupported = _unsupported(request)
        if unsupported is not None:
            return VerifierOutcome.failed(unsupported)
        keys = request.attestor.keys
        assert keys is not None  # _unsupported refused every other kind
        try:
            key = yield from self._key(keys, first_only=False)
            result = yield from verify_flow(
                _target(request),
                (key,),
                annotations=dict(request.annotations),
                tlog=self._tlog_for(keys.rekor),
            )
        except ImageSigError as exc:
            return _failure(exc)
        if not result.verified:
            return VerifierOutcome.failed(_describe(result.failure_summary(), request))
        return VerifierOutcome.passed(str(result.digest))

    def verify_attestations(self, request: AttestationRequest) -> Flow[VerifierOutcome]:
        """Fetch and verify statements with
        :func:`~imagesig.signatures.verify_attestations.verify_attestations_flow`."""
        from imagesig.signatures.verify_attestations import (  # noqa: PLC0415
            verify_attestations_flow,
        )

        unsupported = _unsupported(request)
        if unsupported is not None:
            return VerifierOutcome.failed(unsupported)
        keys = request.attestor.keys
        assert keys is not None
        try:
            # Kyverno does not split multi-key PEM blocks for attestations: the first key counts.
            key = yield from self._key(keys, first_only=True)
            result = yield from verify_attestations_flow(
                _target(request),
                (key,),
                predicate_type=None,
                annotations=dict(request.annotations),
                tlog=self._tlog_for(keys.rekor),
            )
        except ImageSigError as exc:
            return _failure(exc)
        if not result.verified:
            return VerifierOutcome.failed(_describe(result.failure_summary(), request))
        statements = tuple(
            _statement_json(check.statement) for check in result.verified_attestations
        )
        return VerifierOutcome.passed(str(result.digest), statements)

    # -- keys and logs --------------------------------------------------------------------

    def _key(self, keys: StaticKeyAttestor, *, first_only: bool) -> Flow[Any]:
        from imagesig.signers.base import PublicKey  # noqa: PLC0415

        text = keys.public_keys.strip()
        if not text:
            if keys.secret is not None:
                text = keys.secret.uri
            elif keys.kms:
                text = keys.kms.strip()
        if not text:
            raise KeyFormatError("the attestor names no public key, secret or KMS key")
        if _PEM_MARKER in text:
            if first_only:
                text = attrs.evolve(keys, public_keys=text).expand()[0].public_keys
            return PublicKey.from_pem(text, source="the policy")
        if text.startswith(_K8S_SCHEME):
            return self._secret_key(text)
        if "://" in text:
            with self._lock:
                cached = self._uri_keys.get(text)
            if cached is None:
                cached = yield _KeyCall(text, self._key_options)
                with self._lock:
                    cached = self._uri_keys.setdefault(text, cached)
            return cached
        raise KeyFormatError(
            "the public key is neither PEM nor a key URI",
            hint="give a PEM block, a KMS URI (gcpkms://...) or k8s://namespace/secret",
        )

    def _secret_key(self, uri: str) -> Any:
        from imagesig.signers.base import PublicKey  # noqa: PLC0415

        namespace, _, name = uri[len(_K8S_SCHEME) :].partition("/")
        if self._secrets is None:
            raise KeyFormatError(
                f"the key is the Kubernetes Secret {namespace}/{name}, and no secret lookup was"
                " given",
                hint="pass secrets=lambda namespace, name: {...} to the evaluator",
            )
        data = self._secrets(namespace, name)
        value = None if data is None else data.get(SECRET_PUBLIC_KEY)
        if value is None:
            raise KeyFormatError(f"secret {namespace}/{name} has no {SECRET_PUBLIC_KEY}")
        return PublicKey.from_pem(value, source=f"secret {namespace}/{name}")

    def _tlog_for(self, rekor: Rekor | None) -> Any:
        base = self.tlog
        if rekor is None:
            return base
        changes: dict[str, Any] = {}
        if rekor.url:
            changes["rekor_url"] = rekor.url
        if rekor.pubkey:
            changes["trusted_root"] = self._root(rekor.pubkey, rekor.url or base.rekor_url)
        if rekor.ignore_tlog:
            changes["ignore"] = True
        return attrs.evolve(base, **changes) if changes else base

    def _root(self, pubkey: str, url: str) -> Any:
        from imagesig.tlog.trust import TrustedRoot  # noqa: PLC0415

        with self._lock:
            root = self._roots.get((pubkey, url))
        if root is None:
            root = TrustedRoot.from_rekor_public_key(pubkey, base_url=url)
            with self._lock:
                root = self._roots.setdefault((pubkey, url), root)
        return root


def _parse(reference: str) -> Any:
    from imagesig.reference import ImageReference  # noqa: PLC0415

    return ImageReference.parse(reference)


def _target(request: SignatureRequest) -> Any:
    """The reference whose signatures are read: the image's, or the override repository's."""
    from imagesig.reference import Repository  # noqa: PLC0415

    if request.repository:
        return Repository.parse(request.repository).with_digest(request.digest)
    return _parse(request.reference).with_digest(request.digest)


def _unsupported(request: SignatureRequest) -> str | None:
    if request.verifier_type == "Notary":
        return NOTARY_UNSUPPORTED
    kind = request.attestor.kind
    if kind == "certificates":
        return CERTIFICATES_UNSUPPORTED
    if kind in ("keyless", "", "attestor"):
        return KEYLESS_UNSUPPORTED
    return None


def _failure(exc: ImageSigError) -> VerifierOutcome:
    return VerifierOutcome.failed(exc.message, transient=isinstance(exc, _TRANSIENT))


def _describe(summary: str, request: SignatureRequest) -> str:
    if request.repository:
        return f"{summary} (signatures looked for in {request.repository})"
    return summary


def _statement_json(statement: Any) -> Mapping[str, Any]:
    raw = getattr(statement, "raw", None)
    if raw is not None:
        parsed = json.loads(raw)
        if isinstance(parsed, dict):
            return parsed
    return {
        "_type": statement.type,
        "predicateType": statement.predicate_type,
        "subject": [{"name": s.name, "digest": dict(s.digest)} for s in statement.subjects],
        "predicate": statement.predicate,
    }
