"""The simple-signing payload: what a cosign signature in the tag-based format signs.

A legacy (``sha256-<hex>.sig``) signature signs the exact bytes of a small JSON document::

    {"critical":{"identity":{"docker-reference":"index.docker.io/library/ubuntu"},
     "image":{"docker-manifest-digest":"sha256:<hex>"},
     "type":"cosign container image signature"},"optional":null}

(one line, no trailing newline). :func:`build` writes those bytes exactly as cosign does: Go's
``encoding/json`` field order, compact, HTML-sensitive characters escaped, ``optional`` is
``null`` without annotations and an object with sorted keys otherwise.

:func:`parse` reads a payload strictly. The signature is always checked over the stored bytes,
never over a re-serialisation, and the parsed fields are what a verifier then compares:

* the size is capped (:data:`MAX_PAYLOAD_BYTES`, the signature cap containers/image applies),
  the nesting depth too, and duplicate keys are refused at every level;
* keys are matched as cosign's Go decoder matches them, case-insensitively, so both read the
  same value; two keys for one field (``"image"`` and ``"Image"``) are refused;
* ``critical.type`` must be exactly ``cosign container image signature`` (case-sensitive, as
  sigstore's payload decoder and containers/image require; cosign's claim check skips it);
* ``critical.image.docker-manifest-digest`` must be a valid digest;
  :meth:`~SimpleSigningPayload.matches` compares it with the verified image digest as cosign
  does (the full ``sha256:<hex>`` text). ``docker-reference`` is kept but not interpreted:
  cosign ignores it, a policy may check it with :meth:`~SimpleSigningPayload.reference`.

Example::

    >>> from imagesig.reference import Digest, Repository
    >>> digest = Digest.from_bytes(b"{}")
    >>> raw = build(Repository.parse("ubuntu"), digest)
    >>> raw[:60]
    b'{"critical":{"identity":{"docker-reference":"index.docker.io'
    >>> parse(raw).matches(digest)
    True
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Final

import attrs

from imagesig.errors import InvalidDigestError, PayloadError
from imagesig.reference import (
    DEFAULT_REGISTRY,
    LEGACY_DEFAULT_REGISTRY,
    MAX_REFERENCE_LENGTH,
    Digest,
    ImageReference,
    Repository,
)
from imagesig.signatures import _json

__all__ = [
    "COSIGN_SIGNATURE_TYPE",
    "MAX_PAYLOAD_BYTES",
    "SIMPLE_SIGNING_MEDIA_TYPE",
    "SimpleSigningPayload",
    "build",
    "cosign_repository_name",
    "parse",
]

#: The only ``critical.type`` cosign writes and accepts.
COSIGN_SIGNATURE_TYPE: Final = "cosign container image signature"
#: Media type of a ``.sig`` layer holding a simple-signing payload.
SIMPLE_SIGNING_MEDIA_TYPE: Final = "application/vnd.dev.cosign.simplesigning.v1+json"
#: Largest payload :func:`parse` reads (containers/image's cap on one signature).
MAX_PAYLOAD_BYTES: Final = 4 * 1024 * 1024

_WHAT = "simple-signing payload"


def cosign_repository_name(repository: Repository | ImageReference) -> str:
    """Name a repository the way cosign writes it into payloads and statement subjects.

    cosign prints names with go-containerregistry, which calls Docker Hub
    ``index.docker.io`` where imagesig (like Docker) says ``docker.io``.

    Args:
        repository: the repository, or a reference whose repository is meant (its tag and
            digest are dropped, as cosign drops them).

    Returns:
        ``registry/path``, e.g. ``index.docker.io/library/ubuntu`` or ``ghcr.io/org/app``.

    Example:
        >>> cosign_repository_name(Repository.parse("ubuntu"))
        'index.docker.io/library/ubuntu'
    """
    repo = repository.repository if isinstance(repository, ImageReference) else repository
    registry = LEGACY_DEFAULT_REGISTRY if repo.registry == DEFAULT_REGISTRY else repo.registry
    return f"{registry}/{repo.path}"


def _frozen_optional(value: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    return None if value is None else MappingProxyType(dict(value))


@attrs.frozen
class SimpleSigningPayload:
    """A parsed or built simple-signing payload.

    Attributes:
        docker_reference: ``critical.identity.docker-reference``, as written (not
            interpreted; see :meth:`reference`).
        docker_manifest_digest: ``critical.image.docker-manifest-digest``.
        type: ``critical.type``; always :data:`COSIGN_SIGNATURE_TYPE` once parsed.
        optional: the ``optional`` object (annotations), or ``None`` for JSON ``null``.
        raw: the exact bytes parsed or built; ``None`` for an instance made by hand.
    """

    docker_reference: str
    docker_manifest_digest: Digest
    type: str = COSIGN_SIGNATURE_TYPE
    optional: Mapping[str, Any] | None = attrs.field(default=None, converter=_frozen_optional)
    raw: bytes | None = attrs.field(default=None, eq=False, repr=False)

    @classmethod
    def for_image(
        cls,
        reference: str | Repository | ImageReference,
        digest: Digest | str,
        annotations: Mapping[str, Any] | None = None,
    ) -> SimpleSigningPayload:
        """Describe the payload cosign would sign for ``digest``.

        Args:
            reference: a :class:`~imagesig.reference.Repository` or
                :class:`~imagesig.reference.ImageReference` (written as cosign names it, see
                :func:`cosign_repository_name`), or a string written verbatim (cosign's
                ``--sign-container-identity``).
            digest: the digest of the exact manifest bytes being signed.
            annotations: the ``-a key=value`` annotations; ``None`` or empty gives
                ``"optional":null``, as cosign writes.

        Returns:
            The payload, with :attr:`raw` set to its bytes.

        Raises:
            InvalidDigestError: ``digest`` is a string that is not a valid digest.
            PayloadError: an annotation value cannot be written as JSON.
        """
        name = reference if isinstance(reference, str) else cosign_repository_name(reference)
        checked = digest if isinstance(digest, Digest) else Digest.parse(digest)
        payload = cls(
            name, checked, COSIGN_SIGNATURE_TYPE, dict(annotations) if annotations else None
        )
        return attrs.evolve(payload, raw=payload.to_json())

    @classmethod
    def parse(cls, raw: bytes, *, max_bytes: int = MAX_PAYLOAD_BYTES) -> SimpleSigningPayload:
        """Parse payload bytes strictly (see the module notes).

        Args:
            raw: the exact layer bytes that were signed.
            max_bytes: largest accepted payload.

        Returns:
            The payload, with :attr:`raw` set to ``raw``.

        Raises:
            SizeLimitExceededError: the payload is larger than ``max_bytes`` or nests too
                deeply.
            PayloadError: it is not UTF-8 JSON, has duplicate or case-ambiguous keys, misses
                a field, has a field of the wrong JSON type, has another ``critical.type``,
                or a malformed manifest digest.
        """
        body = _json.load_json(raw, what=_WHAT, max_bytes=max_bytes, error=PayloadError)
        top = _object(body, "payload")
        fields = _json.go_fields(top, ("critical", "optional"), where=_WHAT, error=PayloadError)
        critical = _object(fields.get("critical"), "critical")
        parts = _json.go_fields(
            critical, ("identity", "image", "type"), where="critical", error=PayloadError
        )
        kind = _string(parts.get("type"), "critical.type")
        if kind != COSIGN_SIGNATURE_TYPE:
            raise PayloadError(
                f"payload critical.type is {kind[:100]!r}, not {COSIGN_SIGNATURE_TYPE!r}",
                field="critical.type",
            )
        identity = _object(parts.get("identity"), "critical.identity")
        reference = _string(
            _json.go_fields(
                identity, ("docker-reference",), where="critical.identity", error=PayloadError
            ).get("docker-reference"),
            "critical.identity.docker-reference",
        )
        if len(reference) > MAX_REFERENCE_LENGTH:
            raise PayloadError(
                f"payload docker-reference is {len(reference)} characters long",
                field="critical.identity.docker-reference",
            )
        image = _object(parts.get("image"), "critical.image")
        digest_text = _string(
            _json.go_fields(
                image, ("docker-manifest-digest",), where="critical.image", error=PayloadError
            ).get("docker-manifest-digest"),
            "critical.image.docker-manifest-digest",
        )
        try:
            digest = Digest.parse(digest_text)
        except InvalidDigestError as exc:
            raise PayloadError(
                f"payload docker-manifest-digest is not a valid digest: {exc.message}",
                field="critical.image.docker-manifest-digest",
            ) from exc
        optional = fields.get("optional")
        if optional is not None and not isinstance(optional, dict):
            raise PayloadError("payload optional must be an object or null", field="optional")
        return cls(reference, digest, kind, optional, bytes(raw))

    def to_json(self) -> bytes:
        """Write the payload as cosign writes it (Go ``encoding/json``, no trailing newline).

        For a parsed payload, :attr:`raw` (what was signed) is the authority; this is its
        re-serialisation and equals it only when the producer wrote cosign's form.

        Returns:
            The payload bytes.

        Raises:
            PayloadError: an ``optional`` value cannot be written as JSON.
        """
        document = {
            "critical": {
                "identity": {"docker-reference": self.docker_reference},
                "image": {"docker-manifest-digest": str(self.docker_manifest_digest)},
                "type": self.type,
            },
            "optional": None if self.optional is None else _json.sorted_tree(self.optional),
        }
        try:
            return _json.encode(document, html_safe=True).encode("utf-8")
        except ValueError as exc:
            raise PayloadError(f"cannot write the payload: {exc}", field="optional") from exc

    def matches(self, image_digest: Digest | str) -> bool:
        """Tell whether the payload names ``image_digest`` (cosign's claim check).

        Args:
            image_digest: the digest of the manifest that was verified.

        Returns:
            ``True`` when ``docker-manifest-digest`` is exactly that digest.
        """
        return str(self.docker_manifest_digest) == str(image_digest)

    def annotations_match(self, required: Mapping[str, Any]) -> bool:
        """Tell whether every required annotation is in ``optional`` with an equal value.

        Values compare as cosign compares them: ``"1"`` does not equal ``1``.

        Args:
            required: the annotations a verifier asks for (``-a key=value``).

        Returns:
            ``True`` when all of them are present and equal (always for an empty mapping).
        """
        have = self.optional or {}
        return all(
            key in have and _json.json_equal(have[key], want) for key, want in required.items()
        )

    def reference(self) -> ImageReference:
        """Parse :attr:`docker_reference` as an image reference, for identity policies.

        Returns:
            The normalised reference (``index.docker.io/library/x`` reads as
            ``docker.io/library/x``).

        Raises:
            InvalidReferenceError: the docker-reference is not a valid reference.
        """
        return ImageReference.parse(self.docker_reference)


def build(
    reference: str | Repository | ImageReference,
    digest: Digest | str,
    annotations: Mapping[str, Any] | None = None,
) -> bytes:
    """Return the exact payload bytes cosign signs for ``digest``.

    Args:
        reference: the repository (see :meth:`SimpleSigningPayload.for_image`).
        digest: the digest of the exact manifest bytes being signed.
        annotations: ``-a key=value`` annotations; ``None`` or empty gives ``"optional":null``.

    Returns:
        The payload bytes, without a trailing newline.

    Raises:
        InvalidDigestError: ``digest`` is a string that is not a valid digest.
        PayloadError: an annotation value cannot be written as JSON.
    """
    payload = SimpleSigningPayload.for_image(reference, digest, annotations)
    assert payload.raw is not None
    return payload.raw


def parse(raw: bytes, *, max_bytes: int = MAX_PAYLOAD_BYTES) -> SimpleSigningPayload:
    """Parse payload bytes strictly; same as :meth:`SimpleSigningPayload.parse`.

    Args:
        raw: the exact layer bytes that were signed.
        max_bytes: largest accepted payload.

    Returns:
        The payload.

    Raises:
        SizeLimitExceededError: the payload is too large or nests too deeply.
        PayloadError: it is malformed or not a cosign signature payload.
    """
    return SimpleSigningPayload.parse(raw, max_bytes=max_bytes)


def _object(value: Any, field: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        shown = "missing" if value is None else "not an object"
        raise PayloadError(f"payload {field} is {shown}", field=field)
    return value


def _string(value: Any, field: str) -> str:
    if not isinstance(value, str):
        shown = "missing" if value is None else "not a string"
        raise PayloadError(f"payload {field} is {shown}", field=field)
    return value
