"""Typed views of the predicates policies inspect most, and cosign's predicate generation.

An attestation's predicate is whatever JSON its producer wrote; policies mostly ask a few
questions of a few kinds. This module reads those kinds into attrs objects:

* :class:`SLSAProvenanceV02` and :class:`SLSAProvenanceV1` — SLSA provenance: the builder id,
  build type, materials (v0.2) or resolved dependencies (v1), invocation parameters (v0.2) or
  external parameters (v1), invocation id and times. Both also answer the version-neutral
  :attr:`~SLSAProvenanceV1.materials` and :attr:`~SLSAProvenanceV1.parameters`;
* :class:`CosignVuln` — cosign's vulnerability-scan predicate: scanner, database, result;
* :class:`CycloneDXBOM` and :class:`SPDXDocument` — the top-level fields of an SBOM;
* :class:`CosignCustom` — cosign's ``custom`` predicate (``Data`` and ``Timestamp``).

Parsing is lenient: a missing field, or one of an unexpected type, reads as empty (``""``,
``None``, ``()``, ``{}``) rather than failing, so that a condition on it fails instead of the
whole evaluation; :func:`parse_predicate` never raises. Every object keeps the predicate it
was read from (``raw``) and :meth:`~SLSAProvenanceV1.to_dict` gives a plain JSON-ready dict
(camelCase keys, as the specifications spell them) for policy conditions.

These views describe content, they do not vouch for it: only read predicates of statements
that :func:`~imagesig.verify_attestations` verified.

:func:`build_predicate` turns a predicate file into a ``(predicateType, predicate)`` pair the
way ``cosign attest --predicate FILE --type T`` does (see its notes for the differences).

Example:
    >>> provenance = parse_predicate(
    ...     "https://slsa.dev/provenance/v1",
    ...     {"runDetails": {"builder": {"id": "https://ci.example.com/builder"}}},
    ... )
    >>> provenance.builder_id
    'https://ci.example.com/builder'
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final, TypeAlias

import attrs

from imagesig.errors import SizeLimitExceededError, StatementError
from imagesig.signatures import _json
from imagesig.signatures.intoto import (
    COSIGN_CUSTOM_PREDICATE_TYPE,
    COSIGN_VULN_PREDICATE_TYPE,
    CYCLONEDX_PREDICATE_TYPE,
    SLSA_PROVENANCE_V02_PREDICATE_TYPE,
    SLSA_PROVENANCE_V1_PREDICATE_TYPE,
    SPDX_PREDICATE_TYPE,
    resolve_predicate_type,
)

if TYPE_CHECKING:
    from imagesig.signatures.intoto import Statement

__all__ = [
    "MAX_PREDICATE_FILE_BYTES",
    "PREDICATE_CLASSES",
    "CosignCustom",
    "CosignVuln",
    "CycloneDXBOM",
    "Predicate",
    "ResourceDescriptor",
    "SLSAProvenanceV02",
    "SLSAProvenanceV1",
    "SPDXDocument",
    "build_predicate",
    "parse_predicate",
    "predicate_of",
]

#: Largest predicate file :func:`build_predicate` reads.
MAX_PREDICATE_FILE_BYTES: Final = 16 * 1024 * 1024
#: Most items (materials, components, packages...) kept from one list.
MAX_ITEMS: Final = 10_000
#: Most ``Key: Value`` lines read from an SPDX tag-value document.
_MAX_TAG_VALUE_LINES = 100_000

_EMPTY: Mapping[str, Any] = MappingProxyType({})


# -- lenient readers ---------------------------------------------------------------------------


def _obj(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else _EMPTY


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _opt_str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _get(value: Any, *path: str) -> Any:
    for key in path:
        value = _obj(value).get(key)
    return value


def _items(value: Any) -> tuple[Any, ...]:
    return tuple(value[:MAX_ITEMS]) if isinstance(value, list) else ()


def _objects(value: Any) -> tuple[Mapping[str, Any], ...]:
    return tuple(item for item in _items(value) if isinstance(item, Mapping))


def _digests(value: Any) -> Mapping[str, str]:
    return MappingProxyType(
        {key: item for key, item in _obj(value).items() if isinstance(item, str)}
    )


def _frozen(value: Any) -> Mapping[str, Any]:
    return MappingProxyType(dict(_obj(value)))


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _drop_empty(document: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in document.items() if value not in (None, "", (), [], {})}


def _plain(value: Any) -> Any:
    """A JSON-ready copy: mappings to dicts, tuples to lists."""
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value


# -- the typed views ---------------------------------------------------------------------------


@attrs.frozen
class ResourceDescriptor:
    """A material (SLSA v0.2) or resolved dependency (SLSA v1).

    Attributes:
        uri: where it came from.
        digest: algorithm → hex digest.
        name: its name (v1).
        download_location: where to download it (v1).
        media_type: its media type (v1).
        annotations: its annotations (v1).
    """

    uri: str = ""
    digest: Mapping[str, str] = attrs.field(default=_EMPTY, converter=_digests)
    name: str = ""
    download_location: str = ""
    media_type: str = ""
    annotations: Mapping[str, Any] = attrs.field(default=_EMPTY, converter=_frozen)

    @classmethod
    def from_json(cls, value: Any) -> ResourceDescriptor:
        """Read one descriptor leniently (unknown and mistyped fields read as empty)."""
        item = _obj(value)
        return cls(
            uri=_str(item.get("uri")),
            digest=item.get("digest"),
            name=_str(item.get("name")),
            download_location=_str(item.get("downloadLocation")),
            media_type=_str(item.get("mediaType")),
            annotations=item.get("annotations"),
        )

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form (empty fields left out)."""
        return _drop_empty(
            {
                "uri": self.uri,
                "digest": dict(self.digest),
                "name": self.name,
                "downloadLocation": self.download_location,
                "mediaType": self.media_type,
                "annotations": _plain(self.annotations),
            }
        )


def _descriptors(value: Any) -> tuple[ResourceDescriptor, ...]:
    return tuple(ResourceDescriptor.from_json(item) for item in _objects(value))


@attrs.frozen
class SLSAProvenanceV02:
    """SLSA provenance v0.2 (predicate type ``https://slsa.dev/provenance/v0.2``).

    Attributes:
        builder_id: ``builder.id``.
        build_type: ``buildType``.
        config_source: ``invocation.configSource`` (``uri`` and ``digest``), ``None`` when
            absent.
        entry_point: ``invocation.configSource.entryPoint``.
        invocation_parameters: ``invocation.parameters``.
        environment: ``invocation.environment``.
        build_config: ``buildConfig``.
        invocation_id: ``metadata.buildInvocationId``.
        started_on: ``metadata.buildStartedOn`` as written.
        finished_on: ``metadata.buildFinishedOn`` as written.
        reproducible: ``metadata.reproducible`` (``None`` when absent).
        materials_list: ``materials``.
        raw: the predicate as read.
    """

    builder_id: str = ""
    build_type: str = ""
    config_source: ResourceDescriptor | None = None
    entry_point: str = ""
    invocation_parameters: Mapping[str, Any] = attrs.field(default=_EMPTY, converter=_frozen)
    environment: Mapping[str, Any] = attrs.field(default=_EMPTY, converter=_frozen)
    build_config: Mapping[str, Any] = attrs.field(default=_EMPTY, converter=_frozen)
    invocation_id: str = ""
    started_on: str | None = None
    finished_on: str | None = None
    reproducible: bool | None = None
    materials_list: tuple[ResourceDescriptor, ...] = ()
    raw: Any = attrs.field(default=None, eq=False, repr=False)

    #: The predicate type this view reads.
    PREDICATE_TYPE: Final = SLSA_PROVENANCE_V02_PREDICATE_TYPE

    @classmethod
    def from_predicate(cls, predicate: Any) -> SLSAProvenanceV02:
        """Read a predicate leniently; never raises."""
        invocation = _get(predicate, "invocation")
        source = _get(invocation, "configSource")
        metadata = _get(predicate, "metadata")
        reproducible = _get(metadata, "reproducible")
        return cls(
            builder_id=_str(_get(predicate, "builder", "id")),
            build_type=_str(_get(predicate, "buildType")),
            config_source=ResourceDescriptor.from_json(source)
            if isinstance(source, Mapping)
            else None,
            entry_point=_str(_get(source, "entryPoint")),
            invocation_parameters=_get(invocation, "parameters"),
            environment=_get(invocation, "environment"),
            build_config=_get(predicate, "buildConfig"),
            invocation_id=_str(_get(metadata, "buildInvocationId")),
            started_on=_opt_str(_get(metadata, "buildStartedOn")),
            finished_on=_opt_str(_get(metadata, "buildFinishedOn")),
            reproducible=reproducible if isinstance(reproducible, bool) else None,
            materials_list=_descriptors(_get(predicate, "materials")),
            raw=predicate,
        )

    @property
    def version(self) -> str:
        """``"0.2"``."""
        return "0.2"

    @property
    def materials(self) -> tuple[ResourceDescriptor, ...]:
        """The inputs of the build (``materials``); v1 calls them resolved dependencies."""
        return self.materials_list

    @property
    def parameters(self) -> Mapping[str, Any]:
        """The parameters the build was invoked with (``invocation.parameters``)."""
        return self.invocation_parameters

    def to_dict(self) -> dict[str, Any]:
        """Return a plain dict for conditions: the fields above under their specification
        names, plus the version-neutral ``version``, ``builderId``, ``buildType``,
        ``materials`` and ``parameters``."""
        return {
            **_provenance_dict(self),
            "configSource": None if self.config_source is None else self.config_source.to_dict(),
            "entryPoint": self.entry_point,
            "environment": _plain(self.environment),
            "buildConfig": _plain(self.build_config),
            "invocationId": self.invocation_id,
            "startedOn": self.started_on,
            "finishedOn": self.finished_on,
            "reproducible": self.reproducible,
        }


@attrs.frozen
class SLSAProvenanceV1:
    """SLSA provenance v1 (predicate type ``https://slsa.dev/provenance/v1``).

    Attributes:
        build_type: ``buildDefinition.buildType``.
        external_parameters: ``buildDefinition.externalParameters``.
        internal_parameters: ``buildDefinition.internalParameters``.
        resolved_dependencies: ``buildDefinition.resolvedDependencies``.
        builder_id: ``runDetails.builder.id``.
        builder_version: ``runDetails.builder.version``.
        builder_dependencies: ``runDetails.builder.builderDependencies``.
        invocation_id: ``runDetails.metadata.invocationId`` (``invocationID`` also read).
        started_on: ``runDetails.metadata.startedOn`` as written.
        finished_on: ``runDetails.metadata.finishedOn`` as written.
        byproducts: ``runDetails.byproducts``.
        raw: the predicate as read.
    """

    build_type: str = ""
    external_parameters: Mapping[str, Any] = attrs.field(default=_EMPTY, converter=_frozen)
    internal_parameters: Mapping[str, Any] = attrs.field(default=_EMPTY, converter=_frozen)
    resolved_dependencies: tuple[ResourceDescriptor, ...] = ()
    builder_id: str = ""
    builder_version: Mapping[str, Any] = attrs.field(default=_EMPTY, converter=_frozen)
    builder_dependencies: tuple[ResourceDescriptor, ...] = ()
    invocation_id: str = ""
    started_on: str | None = None
    finished_on: str | None = None
    byproducts: tuple[ResourceDescriptor, ...] = ()
    raw: Any = attrs.field(default=None, eq=False, repr=False)

    #: The predicate type this view reads.
    PREDICATE_TYPE: Final = SLSA_PROVENANCE_V1_PREDICATE_TYPE

    @classmethod
    def from_predicate(cls, predicate: Any) -> SLSAProvenanceV1:
        """Read a predicate leniently; never raises."""
        definition = _get(predicate, "buildDefinition")
        run = _get(predicate, "runDetails")
        builder = _get(run, "builder")
        metadata = _get(run, "metadata")
        invocation_id = _get(metadata, "invocationId")
        if not isinstance(invocation_id, str):
            invocation_id = _get(metadata, "invocationID")
        return cls(
            build_type=_str(_get(definition, "buildType")),
            external_parameters=_get(definition, "externalParameters"),
            internal_parameters=_get(definition, "internalParameters"),
            resolved_dependencies=_descriptors(_get(definition, "resolvedDependencies")),
            builder_id=_str(_get(builder, "id")),
            builder_version=_get(builder, "version"),
            builder_dependencies=_descriptors(_get(builder, "builderDependencies")),
            invocation_id=_str(invocation_id),
            started_on=_opt_str(_get(metadata, "startedOn")),
            finished_on=_opt_str(_get(metadata, "finishedOn")),
            byproducts=_descriptors(_get(run, "byproducts")),
            raw=predicate,
        )

    @property
    def version(self) -> str:
        """``"1"``."""
        return "1"

    @property
    def materials(self) -> tuple[ResourceDescriptor, ...]:
        """The inputs of the build (``resolvedDependencies``; v0.2's ``materials``)."""
        return self.resolved_dependencies

    @property
    def parameters(self) -> Mapping[str, Any]:
        """The parameters the build was invoked with (``externalParameters``)."""
        return self.external_parameters

    def to_dict(self) -> dict[str, Any]:
        """Return a plain dict for conditions (see :meth:`SLSAProvenanceV02.to_dict`)."""
        return {
            **_provenance_dict(self),
            "externalParameters": _plain(self.external_parameters),
            "internalParameters": _plain(self.internal_parameters),
            "resolvedDependencies": [item.to_dict() for item in self.resolved_dependencies],
            "builderVersion": _plain(self.builder_version),
            "builderDependencies": [item.to_dict() for item in self.builder_dependencies],
            "invocationId": self.invocation_id,
            "startedOn": self.started_on,
            "finishedOn": self.finished_on,
            "byproducts": [item.to_dict() for item in self.byproducts],
        }


def _provenance_dict(view: SLSAProvenanceV02 | SLSAProvenanceV1) -> dict[str, Any]:
    """The version-neutral fields of either provenance view's :meth:`to_dict`."""
    return {
        "predicateType": view.PREDICATE_TYPE,
        "version": view.version,
        "builderId": view.builder_id,
        "buildType": view.build_type,
        "materials": [item.to_dict() for item in view.materials],
        "parameters": _plain(view.parameters),
    }


@attrs.frozen
class CosignVuln:
    """cosign's vulnerability-scan predicate (``https://cosign.sigstore.dev/attestation/vuln/v1``).

    Attributes:
        scanner_uri: ``scanner.uri``.
        scanner_version: ``scanner.version``.
        db_uri: ``scanner.db.uri``.
        db_version: ``scanner.db.version``.
        result: ``scanner.result`` (the scanner's own report, any JSON).
        scan_started_on: ``metadata.scanStartedOn`` as written.
        scan_finished_on: ``metadata.scanFinishedOn`` as written.
        invocation_uri: ``invocation.uri``.
        invocation_event_id: ``invocation.event_id``.
        invocation_builder_id: ``invocation.builder.id``.
        invocation_parameters: ``invocation.parameters`` (any JSON).
        raw: the predicate as read.
    """

    scanner_uri: str = ""
    scanner_version: str = ""
    db_uri: str = ""
    db_version: str = ""
    result: Any = None
    scan_started_on: str | None = None
    scan_finished_on: str | None = None
    invocation_uri: str = ""
    invocation_event_id: str = ""
    invocation_builder_id: str = ""
    invocation_parameters: Any = None
    raw: Any = attrs.field(default=None, eq=False, repr=False)

    #: The predicate type this view reads.
    PREDICATE_TYPE: Final = COSIGN_VULN_PREDICATE_TYPE

    @classmethod
    def from_predicate(cls, predicate: Any) -> CosignVuln:
        """Read a predicate leniently; never raises."""
        scanner = _get(predicate, "scanner")
        invocation = _get(predicate, "invocation")
        metadata = _get(predicate, "metadata")
        return cls(
            scanner_uri=_str(_get(scanner, "uri")),
            scanner_version=_str(_get(scanner, "version")),
            db_uri=_str(_get(scanner, "db", "uri")),
            db_version=_str(_get(scanner, "db", "version")),
            result=_get(scanner, "result"),
            scan_started_on=_opt_str(_get(metadata, "scanStartedOn")),
            scan_finished_on=_opt_str(_get(metadata, "scanFinishedOn")),
            invocation_uri=_str(_get(invocation, "uri")),
            invocation_event_id=_str(_get(invocation, "event_id")),
            invocation_builder_id=_str(_get(invocation, "builder.id"))
            or _str(_get(invocation, "builder", "id")),
            invocation_parameters=_get(invocation, "parameters"),
            raw=predicate,
        )

    def to_dict(self) -> dict[str, Any]:
        """Return a plain dict for conditions (specification names)."""
        return {
            "predicateType": self.PREDICATE_TYPE,
            "scanner": {
                "uri": self.scanner_uri,
                "version": self.scanner_version,
                "db": {"uri": self.db_uri, "version": self.db_version},
                "result": _plain(self.result),
            },
            "metadata": {
                "scanStartedOn": self.scan_started_on,
                "scanFinishedOn": self.scan_finished_on,
            },
            "invocation": {
                "uri": self.invocation_uri,
                "eventId": self.invocation_event_id,
                "builderId": self.invocation_builder_id,
                "parameters": _plain(self.invocation_parameters),
            },
        }


@attrs.frozen
class CycloneDXBOM:
    """The top-level fields of a CycloneDX BOM (``https://cyclonedx.org/bom``).

    Attributes:
        bom_format: ``bomFormat`` (``"CycloneDX"``).
        spec_version: ``specVersion``.
        serial_number: ``serialNumber``.
        version: ``version`` (``None`` when absent or not an integer).
        timestamp: ``metadata.timestamp`` as written.
        component: ``metadata.component`` (what the BOM describes), as read.
        components: ``components``, each as read.
        dependencies: ``dependencies``, each as read.
        raw: the predicate as read.
    """

    bom_format: str = ""
    spec_version: str = ""
    serial_number: str = ""
    version: int | None = None
    timestamp: str | None = None
    component: Mapping[str, Any] = attrs.field(default=_EMPTY, converter=_frozen)
    components: tuple[Mapping[str, Any], ...] = ()
    dependencies: tuple[Mapping[str, Any], ...] = ()
    raw: Any = attrs.field(default=None, eq=False, repr=False)

    #: The predicate type this view reads.
    PREDICATE_TYPE: Final = CYCLONEDX_PREDICATE_TYPE

    @classmethod
    def from_predicate(cls, predicate: Any) -> CycloneDXBOM:
        """Read a predicate leniently; never raises."""
        metadata = _get(predicate, "metadata")
        return cls(
            bom_format=_str(_get(predicate, "bomFormat")),
            spec_version=_str(_get(predicate, "specVersion")),
            serial_number=_str(_get(predicate, "serialNumber")),
            version=_int(_get(predicate, "version")),
            timestamp=_opt_str(_get(metadata, "timestamp")),
            component=_get(metadata, "component"),
            components=_objects(_get(predicate, "components")),
            dependencies=_objects(_get(predicate, "dependencies")),
            raw=predicate,
        )

    @property
    def component_names(self) -> tuple[str, ...]:
        """The ``name`` of every top-level component, in order (unnamed ones left out)."""
        return tuple(name for item in self.components if (name := _str(item.get("name"))))

    def to_dict(self) -> dict[str, Any]:
        """Return a plain dict for conditions: the top-level fields and ``componentCount``."""
        return {
            "predicateType": self.PREDICATE_TYPE,
            "bomFormat": self.bom_format,
            "specVersion": self.spec_version,
            "serialNumber": self.serial_number,
            "version": self.version,
            "timestamp": self.timestamp,
            "component": _plain(self.component),
            "componentCount": len(self.components),
            "componentNames": list(self.component_names),
        }


@attrs.frozen
class SPDXDocument:
    """The top-level fields of an SPDX document (``https://spdx.dev/Document``).

    Reads SPDX JSON (cosign's ``spdxjson``), and also cosign's ``spdx`` attestations, whose
    predicate is the document as a JSON *string*: SPDX JSON in a string, or tag-value text
    (``SPDXVersion: SPDX-2.3`` lines, of which the document-level fields are read).

    Attributes:
        spdx_version: ``spdxVersion``.
        data_license: ``dataLicense``.
        spdx_id: ``SPDXID``.
        name: ``name``.
        document_namespace: ``documentNamespace``.
        created: ``creationInfo.created`` as written.
        creators: ``creationInfo.creators``.
        packages: ``packages``, each as read (JSON only).
        relationships: ``relationships``, each as read (JSON only).
        raw: the predicate as read.
    """

    spdx_version: str = ""
    data_license: str = ""
    spdx_id: str = ""
    name: str = ""
    document_namespace: str = ""
    created: str | None = None
    creators: tuple[str, ...] = ()
    packages: tuple[Mapping[str, Any], ...] = ()
    relationships: tuple[Mapping[str, Any], ...] = ()
    raw: Any = attrs.field(default=None, eq=False, repr=False)

    #: The predicate type this view reads.
    PREDICATE_TYPE: Final = SPDX_PREDICATE_TYPE

    @classmethod
    def from_predicate(cls, predicate: Any) -> SPDXDocument:
        """Read a predicate leniently; never raises."""
        document = predicate
        if isinstance(predicate, str):
            document = _spdx_text(predicate)
        creation = _get(document, "creationInfo")
        return cls(
            spdx_version=_str(_get(document, "spdxVersion")),
            data_license=_str(_get(document, "dataLicense")),
            spdx_id=_str(_get(document, "SPDXID")),
            name=_str(_get(document, "name")),
            document_namespace=_str(_get(document, "documentNamespace")),
            created=_opt_str(_get(creation, "created")),
            creators=tuple(item for item in _items(_get(creation, "creators")) if _str(item)),
            packages=_objects(_get(document, "packages")),
            relationships=_objects(_get(document, "relationships")),
            raw=predicate,
        )

    @property
    def package_names(self) -> tuple[str, ...]:
        """The ``name`` of every package, in order (unnamed ones left out)."""
        return tuple(name for item in self.packages if (name := _str(item.get("name"))))

    def to_dict(self) -> dict[str, Any]:
        """Return a plain dict for conditions: the top-level fields and ``packageCount``."""
        return {
            "predicateType": self.PREDICATE_TYPE,
            "spdxVersion": self.spdx_version,
            "dataLicense": self.data_license,
            "SPDXID": self.spdx_id,
            "name": self.name,
            "documentNamespace": self.document_namespace,
            "created": self.created,
            "creators": list(self.creators),
            "packageCount": len(self.packages),
            "packageNames": list(self.package_names),
        }


_TAG_VALUE_FIELDS = {
    "SPDXVersion": "spdxVersion",
    "DataLicense": "dataLicense",
    "SPDXID": "SPDXID",
    "DocumentName": "name",
    "DocumentNamespace": "documentNamespace",
}


def _spdx_text(text: str) -> Mapping[str, Any]:
    """Read an SPDX document given as text: JSON, else the tag-value document fields."""
    stripped = text.lstrip()
    if stripped.startswith("{"):
        try:
            document = _json.load_json(
                text.encode("utf-8"),
                what="SPDX document",
                max_bytes=MAX_PREDICATE_FILE_BYTES,
                error=StatementError,
            )
        except (StatementError, SizeLimitExceededError, UnicodeEncodeError):
            return _EMPTY  # lenient by contract: a bad document reads as empty
        return _obj(document)
    found: dict[str, Any] = {}
    creation: dict[str, Any] = {"creators": []}
    for number, line in enumerate(text.splitlines()):
        if number >= _MAX_TAG_VALUE_LINES:
            break
        key, sep, value = line.partition(":")
        if not sep:
            continue
        key, value = key.strip(), value.strip()
        if key in _TAG_VALUE_FIELDS and _TAG_VALUE_FIELDS[key] not in found:
            found[_TAG_VALUE_FIELDS[key]] = value
        elif key == "Created" and "created" not in creation:
            creation["created"] = value
        elif key == "Creator" and len(creation["creators"]) < MAX_ITEMS:
            creation["creators"].append(value)
    found["creationInfo"] = creation
    return found


@attrs.frozen
class CosignCustom:
    """cosign's ``custom`` predicate (``https://cosign.sigstore.dev/attestation/v1``).

    Attributes:
        data: ``Data``: the predicate file's text as cosign embedded it.
        timestamp: ``Timestamp`` as written (RFC 3339).
        raw: the predicate as read.
    """

    data: str = ""
    timestamp: str | None = None
    raw: Any = attrs.field(default=None, eq=False, repr=False)

    #: The predicate type this view reads.
    PREDICATE_TYPE: Final = COSIGN_CUSTOM_PREDICATE_TYPE

    @classmethod
    def from_predicate(cls, predicate: Any) -> CosignCustom:
        """Read a predicate leniently; never raises."""
        return cls(
            data=_str(_get(predicate, "Data")),
            timestamp=_opt_str(_get(predicate, "Timestamp")),
            raw=predicate,
        )

    def to_dict(self) -> dict[str, Any]:
        """Return a plain dict for conditions."""
        return {
            "predicateType": self.PREDICATE_TYPE,
            "Data": self.data,
            "Timestamp": self.timestamp,
        }


#: Any of the typed views.
Predicate: TypeAlias = (
    SLSAProvenanceV02 | SLSAProvenanceV1 | CosignVuln | CycloneDXBOM | SPDXDocument | CosignCustom
)

#: Predicate type → the view that reads it.
PREDICATE_CLASSES: Final[Mapping[str, type[Predicate]]] = MappingProxyType(
    {
        SLSA_PROVENANCE_V02_PREDICATE_TYPE: SLSAProvenanceV02,
        SLSA_PROVENANCE_V1_PREDICATE_TYPE: SLSAProvenanceV1,
        COSIGN_VULN_PREDICATE_TYPE: CosignVuln,
        CYCLONEDX_PREDICATE_TYPE: CycloneDXBOM,
        SPDX_PREDICATE_TYPE: SPDXDocument,
        COSIGN_CUSTOM_PREDICATE_TYPE: CosignCustom,
    }
)


def parse_predicate(predicate_type: str, predicate: Any) -> Predicate | None:
    """Read a predicate into its typed view, leniently.

    Args:
        predicate_type: the statement's ``predicateType`` (a URI; short names are not
            resolved here).
        predicate: the statement's predicate as parsed JSON.

    Returns:
        The view for the type, or ``None`` when the type has none. Never raises: a predicate
        of the wrong shape gives a view with empty fields.
    """
    view = PREDICATE_CLASSES.get(predicate_type)
    return None if view is None else view.from_predicate(predicate)


def predicate_of(statement: Statement) -> Predicate | None:
    """The typed view of a statement's predicate (see :func:`parse_predicate`)."""
    return parse_predicate(statement.predicate_type, statement.predicate)


# -- predicate generation, as ``cosign attest`` ------------------------------------------------


def build_predicate(
    content: bytes, predicate_type: str, *, timestamp: datetime | None = None
) -> tuple[str, Any]:
    """Turn a predicate file into the predicate ``cosign attest --type`` would sign.

    * ``custom`` (cosign's default): ``{"Data": <the file as text>, "Timestamp": <now, RFC
      3339 UTC>}``;
    * ``spdx``: the file as one JSON string (cosign's legacy SPDX form);
    * anything else (``spdxjson``, ``cyclonedx``, ``slsaprovenance*``, ``vuln``, ``openvex``,
      ``link`` or a URI): the file must hold a JSON object, used as the predicate. For
      ``slsaprovenance1`` an ``invocationID`` in ``runDetails.metadata`` is renamed
      ``invocationId``, as cosign's SLSA 1.0 model writes it.

    cosign reads the typed kinds through Go structs, which also drops fields their models do
    not know; imagesig keeps the object as given.

    Args:
        content: the predicate file's bytes.
        predicate_type: a cosign short name or a predicate type URI.
        timestamp: the ``custom`` predicate's time; default now.

    Returns:
        ``(predicate type URI, predicate)``.

    Raises:
        StatementError: the type is neither a short name nor a URI; the file is not UTF-8
            (``custom``, ``spdx``) or not a JSON object.
        SizeLimitExceededError: the file is larger than :data:`MAX_PREDICATE_FILE_BYTES` or
            nests too deeply.
    """
    uri = resolve_predicate_type(predicate_type)
    if len(content) > MAX_PREDICATE_FILE_BYTES:
        raise SizeLimitExceededError(
            f"predicate file is {len(content)} bytes, more than the "
            f"{MAX_PREDICATE_FILE_BYTES}-byte cap",
            what="predicate",
            size=len(content),
            limit=MAX_PREDICATE_FILE_BYTES,
        )
    if predicate_type in ("custom", "spdx"):
        try:
            text = content.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise StatementError(f"the {predicate_type} predicate file is not UTF-8") from exc
        if predicate_type == "spdx":
            return uri, text
        when = (timestamp or datetime.now(timezone.utc)).astimezone(timezone.utc)
        return uri, {"Data": text, "Timestamp": when.strftime("%Y-%m-%dT%H:%M:%SZ")}
    document = _json.load_json(
        content, what="predicate file", max_bytes=MAX_PREDICATE_FILE_BYTES, error=StatementError
    )
    if not isinstance(document, dict):
        raise StatementError(
            f"the predicate file must hold a JSON object, not {_kind(document)}",
            field="predicate",
        )
    if predicate_type == "slsaprovenance1":
        metadata = _get(document, "runDetails", "metadata")
        if isinstance(metadata, dict) and "invocationID" in metadata:
            value = metadata.pop("invocationID")
            metadata.setdefault("invocationId", value)
    return uri, document


def _kind(value: Any) -> str:
    return {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number"
    )
