"""The OCI data model: descriptors, image manifests and indexes (OCI and Docker schema 2).

Manifests and indexes keep the exact bytes they were parsed from or serialised to
(:attr:`Manifest.raw`), and their :attr:`~Manifest.digest` is always the digest of those
bytes — never of a re-serialisation, which would differ in key order or white space and so
name different content.

Parsing is strict where ambiguity could be exploited: duplicate JSON keys are refused (two
parsers could pick different values), every digest is validated before use, sizes must be
non-negative integers, and the number of descriptors is capped.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any

import attrs

from imagesig.errors import ImageSigError, InvalidManifestError, SizeLimitExceededError
from imagesig.reference import Digest

__all__ = [
    "ARTIFACT_MANIFEST_MEDIA_TYPES",
    "DOCKER_CONFIG",
    "DOCKER_LAYER",
    "DOCKER_MANIFEST",
    "DOCKER_MANIFEST_LIST",
    "INDEX_MEDIA_TYPES",
    "MANIFEST_MEDIA_TYPES",
    "MAX_DESCRIPTORS",
    "OCI_CONFIG",
    "OCI_EMPTY",
    "OCI_EMPTY_JSON",
    "OCI_INDEX",
    "OCI_LAYER",
    "OCI_MANIFEST",
    "Descriptor",
    "Index",
    "Manifest",
    "Platform",
    "parse_manifest",
]

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
OCI_EMPTY_JSON = b"{}"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"

MANIFEST_MEDIA_TYPES = frozenset({OCI_MANIFEST, DOCKER_MANIFEST})
INDEX_MEDIA_TYPES = frozenset({OCI_INDEX, DOCKER_MANIFEST_LIST})
ARTIFACT_MANIFEST_MEDIA_TYPES = MANIFEST_MEDIA_TYPES | INDEX_MEDIA_TYPES

MAX_DESCRIPTORS = 1000
"""Default cap on layers in a manifest or entries in an index (cosign uses 1000 too)."""

_MAX_SIZE = 2**63 - 1

_EMPTY_ANNOTATIONS: Mapping[str, str] = MappingProxyType({})


def _frozen_str_map(value: Mapping[str, str] | None) -> Mapping[str, str]:
    if not value:
        return _EMPTY_ANNOTATIONS
    return MappingProxyType(dict(value))


@attrs.frozen
class Platform:
    """The platform an index entry is for (``os``/``architecture``/``variant``...)."""

    os: str
    architecture: str
    variant: str | None = None
    os_version: str | None = None
    os_features: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form."""
        data: dict[str, Any] = {"architecture": self.architecture, "os": self.os}
        if self.os_version:
            data["os.version"] = self.os_version
        if self.os_features:
            data["os.features"] = list(self.os_features)
        if self.variant:
            data["variant"] = self.variant
        return data

    @classmethod
    def from_dict(cls, data: Any) -> Platform:
        """Build from JSON; raises :class:`InvalidManifestError` if malformed."""
        if not isinstance(data, dict):
            raise InvalidManifestError("platform must be a JSON object")
        return cls(
            os=_str_field(data, "os", required=True) or "",
            architecture=_str_field(data, "architecture", required=True) or "",
            variant=_str_field(data, "variant"),
            os_version=_str_field(data, "os.version"),
            os_features=tuple(_str_list(data.get("os.features"), "os.features")),
        )


@attrs.frozen
class Descriptor:
    """An OCI content descriptor: what a piece of content is, its digest and its size.

    Attributes:
        media_type: the content's media type.
        digest: the content's digest (validated).
        size: the content's size in bytes.
        annotations: string annotations.
        artifact_type: the artifact type of a referrer, when the descriptor names one.
        urls: foreign URLs; imagesig never fetches from these by default.
        platform: for index entries.
        data: embedded content, when the descriptor carries it.
    """

    media_type: str
    digest: Digest
    size: int = attrs.field()
    annotations: Mapping[str, str] = attrs.field(
        default=_EMPTY_ANNOTATIONS, converter=_frozen_str_map, eq=False
    )
    artifact_type: str | None = None
    urls: tuple[str, ...] = ()
    platform: Platform | None = None
    data: bytes | None = None

    @size.validator
    def _check_size(self, _attribute: object, value: int) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _MAX_SIZE:
            raise InvalidManifestError(f"descriptor size must be a non-negative integer: {value!r}")

    @classmethod
    def for_content(
        cls,
        content: bytes,
        media_type: str,
        *,
        annotations: Mapping[str, str] | None = None,
        artifact_type: str | None = None,
    ) -> Descriptor:
        """Describe ``content`` (sha256 digest and length).

        Example:
            >>> Descriptor.for_content(b"{}", OCI_EMPTY).size
            2
        """
        return cls(
            media_type=media_type,
            digest=Digest.from_bytes(content),
            size=len(content),
            annotations=annotations or _EMPTY_ANNOTATIONS,
            artifact_type=artifact_type,
        )

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form, with keys in the order the OCI spec lists them."""
        data: dict[str, Any] = {
            "mediaType": self.media_type,
            "digest": str(self.digest),
            "size": self.size,
        }
        if self.urls:
            data["urls"] = list(self.urls)
        if self.annotations:
            data["annotations"] = dict(self.annotations)
        if self.data is not None:
            data["data"] = base64.b64encode(self.data).decode("ascii")
        if self.platform is not None:
            data["platform"] = self.platform.to_dict()
        if self.artifact_type:
            data["artifactType"] = self.artifact_type
        return data

    @classmethod
    def from_dict(cls, data: Any) -> Descriptor:
        """Build from JSON, validating every field.

        Raises:
            InvalidManifestError: a field is missing or of the wrong type.
            InvalidDigestError: the digest is malformed.
        """
        if not isinstance(data, dict):
            raise InvalidManifestError("descriptor must be a JSON object")
        digest_text = _str_field(data, "digest", required=True) or ""
        size = data.get("size")
        if isinstance(size, bool) or not isinstance(size, int):
            raise InvalidManifestError(f"descriptor {digest_text[:80]!r} has no integer size")
        embedded = data.get("data")
        raw_data: bytes | None = None
        if embedded is not None:
            if not isinstance(embedded, str):
                raise InvalidManifestError("descriptor data must be a base64 string")
            try:
                raw_data = base64.b64decode(embedded, validate=True)
            except binascii.Error as exc:
                raise InvalidManifestError("descriptor data is not valid base64") from exc
        platform = data.get("platform")
        return cls(
            media_type=_str_field(data, "mediaType", required=True) or "",
            digest=Digest.parse(digest_text),
            size=size,
            annotations=_str_map(data.get("annotations"), "annotations"),
            artifact_type=_str_field(data, "artifactType"),
            urls=tuple(_str_list(data.get("urls"), "urls")),
            platform=Platform.from_dict(platform) if platform is not None else None,
            data=raw_data,
        )


def _raw_digest(raw: bytes) -> Digest:
    return Digest.from_bytes(raw)


@attrs.frozen
class Manifest:
    """An image manifest (OCI image manifest or Docker schema 2), with its exact bytes.

    Build new ones with :meth:`build`; parse received bytes with :meth:`parse`.
    """

    media_type: str
    config: Descriptor
    layers: tuple[Descriptor, ...]
    raw: bytes = attrs.field(repr=False)
    subject: Descriptor | None = None
    artifact_type: str | None = None
    annotations: Mapping[str, str] = attrs.field(
        default=_EMPTY_ANNOTATIONS, converter=_frozen_str_map, eq=False
    )
    digest: Digest = attrs.field(
        init=False, default=attrs.Factory(lambda self: _raw_digest(self.raw), takes_self=True)
    )

    @classmethod
    def build(
        cls,
        config: Descriptor,
        layers: Iterable[Descriptor],
        *,
        media_type: str = OCI_MANIFEST,
        subject: Descriptor | None = None,
        artifact_type: str | None = None,
        annotations: Mapping[str, str] | None = None,
    ) -> Manifest:
        """Create a manifest and serialise it once (compact JSON, spec key order).

        Raises:
            InvalidManifestError: ``media_type`` is not an image manifest type.
        """
        if media_type not in MANIFEST_MEDIA_TYPES:
            raise InvalidManifestError(f"not an image manifest media type: {media_type}")
        layers = tuple(layers)
        content = {"config": config.to_dict(), "layers": [layer.to_dict() for layer in layers]}
        return cls(
            media_type=media_type,
            config=config,
            layers=layers,
            raw=_serialise(media_type, content, subject, artifact_type, annotations),
            subject=subject,
            artifact_type=artifact_type,
            annotations=annotations or _EMPTY_ANNOTATIONS,
        )

    @classmethod
    def parse(
        cls, raw: bytes, media_type: str | None = None, *, max_descriptors: int = MAX_DESCRIPTORS
    ) -> Manifest:
        """Parse an image manifest from its exact bytes.

        Args:
            raw: the bytes as received.
            media_type: the ``Content-Type`` it came with, used when the body has none.
            max_descriptors: cap on the number of layers.

        Raises:
            InvalidManifestError: not JSON, duplicate keys, wrong schema or media type.
            SizeLimitExceededError: more layers than ``max_descriptors``.
        """
        result = parse_manifest(raw, media_type, max_descriptors=max_descriptors)
        if not isinstance(result, Manifest):
            raise InvalidManifestError(f"expected an image manifest, got {result.media_type}")
        return result

    def descriptor(self, *, annotations: Mapping[str, str] | None = None) -> Descriptor:
        """Return the descriptor pointing at this manifest."""
        artifact_type = self.artifact_type or (self.config.media_type if self.subject else None)
        return _descriptor_of(self, annotations, artifact_type)

    def to_dict(self) -> dict[str, Any]:
        """Return the parsed JSON of :attr:`raw`."""
        return json.loads(self.raw)  # type: ignore[no-any-return]


@attrs.frozen
class Index:
    """An image index (OCI) or manifest list (Docker), with its exact bytes."""

    media_type: str
    manifests: tuple[Descriptor, ...]
    raw: bytes = attrs.field(repr=False)
    subject: Descriptor | None = None
    artifact_type: str | None = None
    annotations: Mapping[str, str] = attrs.field(
        default=_EMPTY_ANNOTATIONS, converter=_frozen_str_map, eq=False
    )
    digest: Digest = attrs.field(
        init=False, default=attrs.Factory(lambda self: _raw_digest(self.raw), takes_self=True)
    )

    @classmethod
    def build(
        cls,
        manifests: Iterable[Descriptor],
        *,
        media_type: str = OCI_INDEX,
        subject: Descriptor | None = None,
        artifact_type: str | None = None,
        annotations: Mapping[str, str] | None = None,
    ) -> Index:
        """Create an index and serialise it once.

        Raises:
            InvalidManifestError: ``media_type`` is not an index type.
        """
        if media_type not in INDEX_MEDIA_TYPES:
            raise InvalidManifestError(f"not an index media type: {media_type}")
        manifests = tuple(manifests)
        content = {"manifests": [entry.to_dict() for entry in manifests]}
        return cls(
            media_type=media_type,
            manifests=manifests,
            raw=_serialise(media_type, content, subject, artifact_type, annotations),
            subject=subject,
            artifact_type=artifact_type,
            annotations=annotations or _EMPTY_ANNOTATIONS,
        )

    @classmethod
    def parse(
        cls, raw: bytes, media_type: str | None = None, *, max_descriptors: int = MAX_DESCRIPTORS
    ) -> Index:
        """Parse an index from its exact bytes (see :meth:`Manifest.parse`)."""
        result = parse_manifest(raw, media_type, max_descriptors=max_descriptors)
        if not isinstance(result, Index):
            raise InvalidManifestError(f"expected an index, got {result.media_type}")
        return result

    def descriptor(self, *, annotations: Mapping[str, str] | None = None) -> Descriptor:
        """Return the descriptor pointing at this index."""
        return _descriptor_of(self, annotations, self.artifact_type)

    def to_dict(self) -> dict[str, Any]:
        """Return the parsed JSON of :attr:`raw`."""
        return json.loads(self.raw)  # type: ignore[no-any-return]


AnyManifest = Manifest | Index


def _serialise(
    media_type: str,
    content: Mapping[str, Any],
    subject: Descriptor | None,
    artifact_type: str | None,
    annotations: Mapping[str, str] | None,
) -> bytes:
    """Compact JSON of a new manifest or index, keys in the spec's order around ``content``."""
    body: dict[str, Any] = {"schemaVersion": 2, "mediaType": media_type}
    if artifact_type:
        body["artifactType"] = artifact_type
    body.update(content)
    if subject is not None:
        body["subject"] = subject.to_dict()
    if annotations:
        body["annotations"] = dict(annotations)
    return _dump(body)


def _descriptor_of(
    content: AnyManifest, annotations: Mapping[str, str] | None, artifact_type: str | None
) -> Descriptor:
    """The descriptor pointing at ``content``: its media type, digest and size."""
    return Descriptor(
        media_type=content.media_type,
        digest=content.digest,
        size=len(content.raw),
        annotations=annotations or _EMPTY_ANNOTATIONS,
        artifact_type=artifact_type,
    )


def parse_manifest(
    raw: bytes, media_type: str | None = None, *, max_descriptors: int = MAX_DESCRIPTORS
) -> Manifest | Index:
    """Parse manifest or index bytes into the right model.

    The media type is taken from the body's ``mediaType``; if absent, from ``media_type``
    (the ``Content-Type`` it came with); if both are absent, from the body's shape. A body
    whose ``mediaType`` contradicts a manifest/index ``media_type`` given is refused.

    Raises:
        InvalidManifestError: not JSON, duplicate keys, unsupported schema or media type.
        InvalidDigestError: a descriptor's digest is malformed.
        SizeLimitExceededError: more descriptors than ``max_descriptors``.
    """
    body = _load(raw)
    if body.get("schemaVersion") != 2:
        raise InvalidManifestError("unsupported manifest schemaVersion (only 2 is supported)")
    declared = body.get("mediaType")
    if declared is not None and not isinstance(declared, str):
        raise InvalidManifestError("manifest mediaType must be a string")
    header_type = (media_type or "").split(";", 1)[0].strip() or None
    if (
        declared
        and header_type in ARTIFACT_MANIFEST_MEDIA_TYPES
        and declared in ARTIFACT_MANIFEST_MEDIA_TYPES
        and (declared in INDEX_MEDIA_TYPES) != (header_type in INDEX_MEDIA_TYPES)
    ):
        raise InvalidManifestError(f"manifest body says {declared} but was served as {header_type}")
    kind = declared or header_type
    if kind is None or kind not in ARTIFACT_MANIFEST_MEDIA_TYPES:
        if kind is None and "manifests" in body:
            kind = OCI_INDEX
        elif kind is None and "config" in body:
            kind = OCI_MANIFEST
        else:
            raise InvalidManifestError(f"unsupported manifest media type: {str(kind)[:100]}")
    subject = Descriptor.from_dict(body["subject"]) if body.get("subject") is not None else None
    artifact_type = _str_field(body, "artifactType")
    annotations = _str_map(body.get("annotations"), "annotations")
    if kind in INDEX_MEDIA_TYPES:
        entries = _descriptor_list(body.get("manifests"), "manifests", max_descriptors)
        return Index(
            media_type=kind,
            manifests=entries,
            raw=raw,
            subject=subject,
            artifact_type=artifact_type,
            annotations=annotations,
        )
    if "config" not in body:
        raise InvalidManifestError("image manifest has no config descriptor")
    layers = _descriptor_list(body.get("layers", []), "layers", max_descriptors)
    return Manifest(
        media_type=kind,
        config=Descriptor.from_dict(body["config"]),
        layers=layers,
        raw=raw,
        subject=subject,
        artifact_type=artifact_type,
        annotations=annotations,
    )


def _descriptor_list(value: Any, field: str, cap: int) -> tuple[Descriptor, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise InvalidManifestError(f"manifest {field} must be a list")
    if len(value) > cap:
        raise SizeLimitExceededError(
            f"manifest lists {len(value)} {field}, more than the limit of {cap}",
            limit=cap,
        )
    return tuple(Descriptor.from_dict(item) for item in value)


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise InvalidManifestError(f"manifest JSON has a duplicate key {key[:100]!r}")
        result[key] = value
    return result


def _load(raw: bytes) -> dict[str, Any]:
    try:
        body = json.loads(raw, object_pairs_hook=_reject_duplicates)
    except ImageSigError:
        raise
    except (ValueError, RecursionError) as exc:
        raise InvalidManifestError(f"manifest is not valid JSON: {str(exc)[:200]}") from exc
    if not isinstance(body, dict):
        raise InvalidManifestError("manifest must be a JSON object")
    return body


def _dump(body: Mapping[str, Any]) -> bytes:
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _str_field(data: Mapping[str, Any], key: str, *, required: bool = False) -> str | None:
    value = data.get(key)
    if value is None:
        if required:
            raise InvalidManifestError(f"missing required field {key!r}")
        return None
    if not isinstance(value, str):
        raise InvalidManifestError(f"field {key!r} must be a string")
    return value


def _str_map(value: Any, field: str) -> Mapping[str, str]:
    if value is None:
        return _EMPTY_ANNOTATIONS
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise InvalidManifestError(f"{field} must map strings to strings")
    return value


def _str_list(value: Any, field: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise InvalidManifestError(f"{field} must be a list of strings")
    return value
