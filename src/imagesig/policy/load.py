"""Load Kyverno ``ClusterPolicy`` and ``Policy`` documents into :mod:`imagesig.policy.model`.

Sources are files, directories (``*.yaml``, ``*.yml``, ``*.json``, recursively; documents of
other kinds are skipped there), YAML/JSON text given as bytes, and already parsed dicts.
YAML is read by :mod:`imagesig.policy._yaml`: safe loader, size, alias and depth limits.

What happens to each policy document, in order:

1. **Schema.** Types are checked field by field against the CRD, and unknown fields in the
   parts imagesig interprets (``spec``, rules, ``match``/``exclude``, ``verifyImages``) are
   refused, as ``kubectl apply`` refuses them: a misspelt ``mutatedigest`` would otherwise be
   ignored and its default used. ``kyverno.io/v2beta1`` has no deprecated single-image
   fields, no bare ``match`` form and no list-form preconditions.
2. **CRD defaults** (``apply_defaults=True``), as the API server applies them before Kyverno
   sees the policy: ``mutateDigest``, ``verifyDigest``, ``required``, ``useCache``,
   ``background``, ``admission`` true; ``validationFailureAction`` ``Audit``;
   ``signatureAlgorithm`` ``sha256`` on ``keys`` and attestor entries (not inside a nested
   ``attestor``, which the CRD does not describe). Kyverno's Go unit tests run without them;
   pass ``apply_defaults=False`` to reproduce those.
3. **Convert().** The deprecated ``image``/``key``/``issuer``/``subject``/``roots``/
   ``annotations`` become ``imageReferences`` and an attestor set, as Kyverno's
   ``Convert()`` does, including its quirk: when the entry also has ``attestations`` the
   synthesised attestor is dropped (a warning says so).
4. **Admission checks** (``validate=True``): what Kyverno's policy validation refuses is
   refused with :class:`~imagesig.errors.PolicyValidationError`, naming the field
   (``spec.rules[0].verifyImages[0].mutateDigest``). See :mod:`imagesig.policy._validate`.

A namespaced ``Policy`` without ``metadata.namespace`` is put in ``default``, where
``kubectl apply`` would put it.

Example::

    policy = load_policy("policies/check-image.yaml")
    policies = load_policies("policies/")
"""

from __future__ import annotations

import copy
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Final, TypeVar

import attrs

from imagesig.errors import PolicyParseError
from imagesig.policy._yaml import MAX_YAML_BYTES, load_yaml_documents
from imagesig.policy.model import (
    AnyAllConditions,
    Attestation,
    Attestor,
    AttestorSet,
    CertificateAttestor,
    ClusterPolicy,
    Condition,
    CTLog,
    DeprecatedImageFields,
    ImageExtractorConfig,
    ImageRegistryCredentials,
    ImageVerification,
    KeylessAttestor,
    KyvernoPolicy,
    LabelSelector,
    LabelSelectorRequirement,
    MatchResources,
    Policy,
    PolicySpec,
    Rekor,
    ResourceDescription,
    ResourceFilter,
    Rule,
    SecretReference,
    StaticKeyAttestor,
    Subject,
    UserInfo,
    ValidateImageVerification,
    ValidationFailureActionOverride,
    WebhookConfiguration,
)

__all__ = [
    "API_GROUP",
    "MAX_POLICY_FILES",
    "SUPPORTED_API_VERSIONS",
    "load_policies",
    "load_policy",
    "parse_policies",
    "policy_from_dict",
    "read_documents",
]

#: The API group of the policies read here.
API_GROUP: Final = "kyverno.io"
#: ``apiVersion`` values accepted.
SUPPORTED_API_VERSIONS: Final = ("kyverno.io/v1", "kyverno.io/v2beta1")
#: Most files read from one directory tree.
MAX_POLICY_FILES: Final = 10_000
_POLICY_KINDS: Final = ("ClusterPolicy", "Policy")
_SUFFIXES: Final = (".yaml", ".yml", ".json")
_DEFAULT_SIGNATURE_ALGORITHM: Final = "sha256"

_T = TypeVar("_T")
PolicySource = str | os.PathLike[str] | bytes | Mapping[str, Any]


# ------------------------------------------------------------------------------------------
# public entry points


def read_documents(
    source: str | os.PathLike[str] | bytes, *, recursive: bool = True
) -> list[tuple[str, Any]]:
    """Read every YAML/JSON document of a file, a directory or a byte string.

    Args:
        source: a path (file or directory) or the bytes of a YAML stream.
        recursive: for a directory, also read its subdirectories.

    Returns:
        ``(source name, document)`` pairs in file and stream order; empty documents left out.

    Raises:
        PolicyParseError: a file is unreadable, too large or not valid YAML.
    """
    if isinstance(source, bytes):
        return [("<bytes>", doc) for doc in load_yaml_documents(source, source="<bytes>")]
    path = Path(source)
    files = _files(path, recursive=recursive) if path.is_dir() else [path]
    documents: list[tuple[str, Any]] = []
    for file in files:
        data = _read_file(file)
        for index, document in enumerate(load_yaml_documents(data, source=str(file))):
            if document is not None:
                documents.append((f"{file}#{index}", document))
    return documents


def parse_policies(
    data: str | bytes,
    *,
    source: str = "<string>",
    apply_defaults: bool = True,
    validate: bool = True,
    skip_other_kinds: bool = False,
) -> list[KyvernoPolicy]:
    """Load the policies of a YAML/JSON stream given as text.

    Args:
        data: the stream.
        source: a name for messages.
        apply_defaults: apply the CRD defaults (see the module docstring).
        validate: refuse what Kyverno's admission refuses.
        skip_other_kinds: skip documents that are not kyverno.io policies instead of failing.

    Returns:
        The policies, in stream order.

    Raises:
        PolicyParseError: malformed YAML or policy, or another kind of document.
        PolicyValidationError: a policy Kyverno would reject.
    """
    documents = [
        (f"{source}#{index}", document)
        for index, document in enumerate(load_yaml_documents(data, source=source))
        if document is not None
    ]
    return _policies(documents, apply_defaults, validate, skip_other_kinds)


def load_policies(
    *sources: PolicySource,
    apply_defaults: bool = True,
    validate: bool = True,
    skip_other_kinds: bool = False,
) -> list[KyvernoPolicy]:
    """Load every policy from files, directories, YAML bytes and dicts.

    Args:
        *sources: paths (a directory is read recursively and documents of other kinds in it
            are skipped), YAML/JSON bytes, or parsed documents (dicts).
        apply_defaults: apply the CRD defaults (see the module docstring).
        validate: refuse what Kyverno's admission refuses.
        skip_other_kinds: skip documents that are not kyverno.io policies in files and
            streams too, instead of failing.

    Returns:
        The policies, in the order given.

    Raises:
        PolicyParseError: a source is unreadable or malformed, or holds another kind.
        PolicyValidationError: a policy Kyverno would reject.
    """
    policies: list[KyvernoPolicy] = []
    for source in sources:
        if isinstance(source, Mapping):
            documents: list[tuple[str, Any]] = [("<dict>", source)]
            skip = skip_other_kinds
        else:
            documents = read_documents(source)
            skip = skip_other_kinds or (not isinstance(source, bytes) and Path(source).is_dir())
        policies.extend(_policies(documents, apply_defaults, validate, skip))
    return policies


def load_policy(
    source: PolicySource, *, apply_defaults: bool = True, validate: bool = True
) -> KyvernoPolicy:
    """Load exactly one policy.

    Args:
        source: a file path, YAML bytes or a parsed document.
        apply_defaults: apply the CRD defaults (see the module docstring).
        validate: refuse what Kyverno's admission refuses.

    Returns:
        The policy.

    Raises:
        PolicyParseError: the source is malformed or does not hold exactly one policy.
        PolicyValidationError: the policy is one Kyverno would reject.
    """
    policies = load_policies(source, apply_defaults=apply_defaults, validate=validate)
    if len(policies) != 1:
        raise PolicyParseError(
            f"expected exactly one policy, found {len(policies)}",
            hint="use load_policies() for files holding several policies",
        )
    return policies[0]


def policy_from_dict(
    document: Mapping[str, Any],
    *,
    source: str = "",
    apply_defaults: bool = True,
    validate: bool = True,
) -> KyvernoPolicy:
    """Build one policy from a parsed ``ClusterPolicy``/``Policy`` document.

    Args:
        document: the document (JSON types only); it is copied, never changed.
        source: a name for messages.
        apply_defaults: apply the CRD defaults (see the module docstring).
        validate: refuse what Kyverno's admission refuses.

    Returns:
        The policy.

    Raises:
        PolicyParseError: the document is not a well-formed kyverno.io policy.
        PolicyValidationError: it is one Kyverno would reject.
    """
    from imagesig.policy._validate import validate_policy  # noqa: PLC0415 - import cycle

    parser = _Parser(source=source, apply_defaults=apply_defaults)
    policy = parser.policy(document)
    if validate:
        validate_policy(policy)
    return policy


# ------------------------------------------------------------------------------------------
# sources


def _files(directory: Path, *, recursive: bool) -> list[Path]:
    pattern = "**/*" if recursive else "*"
    files = sorted(
        path
        for path in directory.glob(pattern)
        if path.suffix in _SUFFIXES
        and path.is_file()
        and not any(part.startswith(".") for part in path.relative_to(directory).parts)
    )
    if len(files) > MAX_POLICY_FILES:
        raise PolicyParseError(
            f"{directory}: more than {MAX_POLICY_FILES} policy files", source=str(directory)
        )
    return files


def _read_file(path: Path) -> bytes:
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_YAML_BYTES + 1)
    except OSError as exc:
        raise PolicyParseError(f"cannot read {path}: {exc.strerror}", source=str(path)) from exc
    return data


def _policies(
    documents: Iterable[tuple[str, Any]], apply_defaults: bool, validate: bool, skip: bool
) -> list[KyvernoPolicy]:
    policies: list[KyvernoPolicy] = []
    for name, document in documents:
        if document is None:
            continue
        if not _is_policy(document):
            if skip:
                continue
            kind = document.get("kind") if isinstance(document, Mapping) else None
            api = document.get("apiVersion") if isinstance(document, Mapping) else None
            raise PolicyParseError(
                f"{name}: not a kyverno.io ClusterPolicy or Policy"
                f" (apiVersion {api!r}, kind {kind!r})",
                source=name,
            )
        policies.append(
            policy_from_dict(
                document, source=name, apply_defaults=apply_defaults, validate=validate
            )
        )
    return policies


def _is_policy(document: object) -> bool:
    if not isinstance(document, Mapping):
        return False
    api = document.get("apiVersion")
    return (
        isinstance(api, str)
        and api.partition("/")[0] == API_GROUP
        and document.get("kind") in _POLICY_KINDS
    )


# ------------------------------------------------------------------------------------------
# the parser


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _type_name(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "object"
    if isinstance(value, list | tuple):
        return "array"
    return type(value).__name__


@attrs.define
class _Parser:
    """Turns one document into the model; knows the version and whether to default."""

    source: str
    apply_defaults: bool
    version: str = "v1"
    warnings: list[str] = attrs.field(factory=list)

    # -- errors and primitive fields --------------------------------------------------------

    def error(self, path: str, message: str) -> PolicyParseError:
        prefix = f"{self.source}: " if self.source else ""
        return PolicyParseError(
            f"{prefix}{path}: {message}" if path else f"{prefix}{message}",
            field_path=path,
            source=self.source or None,
        )

    def fields(self, value: object, path: str, allowed: Iterable[str]) -> Mapping[str, Any]:
        """``value`` as an object with no field outside ``allowed``."""
        if not isinstance(value, Mapping):
            raise self.error(path, f"must be an object, not {_type_name(value)}")
        known = set(allowed)
        for key in value:
            if key not in known:
                raise self.error(_join(path, str(key)), "unknown field")
        return value

    def typed(self, data: Mapping[str, Any], key: str, path: str, kind: type[_T]) -> _T | None:
        value = data.get(key)
        if value is None:
            return None
        good = isinstance(value, kind) and not (kind is int and isinstance(value, bool))
        if kind is int and isinstance(value, float) and value.is_integer():
            value, good = int(value), True
        if not good:
            names = {str: "string", bool: "boolean", int: "integer"}
            raise self.error(
                _join(path, key),
                f"must be {names.get(kind, kind.__name__)}, not {_type_name(value)}",
            )
        return value  # type: ignore[return-value]

    def string(self, data: Mapping[str, Any], key: str, path: str) -> str:
        return self.typed(data, key, path, str) or ""

    def boolean(self, data: Mapping[str, Any], key: str, path: str) -> bool | None:
        return self.typed(data, key, path, bool)

    def integer(self, data: Mapping[str, Any], key: str, path: str) -> int | None:
        return self.typed(data, key, path, int)

    def items(self, data: Mapping[str, Any], key: str, path: str) -> list[tuple[str, Any]]:
        """The entries of an array field with their paths (``[]`` when absent)."""
        value = data.get(key)
        if value is None:
            return []
        where = _join(path, key)
        if not isinstance(value, list | tuple):
            raise self.error(where, f"must be an array, not {_type_name(value)}")
        return [(f"{where}[{index}]", item) for index, item in enumerate(value)]

    def strings(self, data: Mapping[str, Any], key: str, path: str) -> tuple[str, ...]:
        result = []
        for where, item in self.items(data, key, path):
            if not isinstance(item, str):
                raise self.error(where, f"must be a string, not {_type_name(item)}")
            result.append(item)
        return tuple(result)

    def string_map(self, data: Mapping[str, Any], key: str, path: str) -> dict[str, str] | None:
        value = data.get(key)
        if value is None:
            return None
        where = _join(path, key)
        if not isinstance(value, Mapping):
            raise self.error(where, f"must be an object, not {_type_name(value)}")
        for item_key, item in value.items():
            if not isinstance(item, str):
                raise self.error(
                    _join(where, str(item_key)), f"must be a string, not {_type_name(item)}"
                )
        return dict(value)

    def enum(self, data: Mapping[str, Any], key: str, path: str, allowed: Sequence[str]) -> str:
        value = self.string(data, key, path)
        if value and value not in allowed:
            raise self.error(
                _join(path, key),
                f"unsupported value {value!r}: supported values are {', '.join(allowed)}",
            )
        return value

    def default_true(self, data: Mapping[str, Any], key: str, path: str) -> bool:
        value = self.boolean(data, key, path)
        if value is None:
            return self.apply_defaults
        return value

    # -- policy ----------------------------------------------------------------------------

    def policy(self, document: Mapping[str, Any]) -> KyvernoPolicy:
        document = self.fields(document, "", ("apiVersion", "kind", "metadata", "spec", "status"))
        api_version = self.string(document, "apiVersion", "")
        kind = self.string(document, "kind", "")
        if api_version not in SUPPORTED_API_VERSIONS:
            raise self.error(
                "apiVersion",
                f"unsupported {api_version!r}: supported are {', '.join(SUPPORTED_API_VERSIONS)}",
            )
        if kind not in _POLICY_KINDS:
            raise self.error("kind", f"expected ClusterPolicy or Policy, not {kind!r}")
        self.version = api_version.partition("/")[2]
        metadata = document.get("metadata")
        if not isinstance(metadata, Mapping):
            raise self.error("metadata", "a policy needs metadata with a name")
        name = self.string(metadata, "name", "metadata")
        if not name:
            raise self.error("metadata.name", "a policy needs a name")
        namespace = self.string(metadata, "namespace", "metadata")
        if kind == "Policy" and not namespace:
            namespace = "default"
        if "spec" not in document or document["spec"] is None:
            raise self.error("spec", "a policy needs a spec")
        spec = self.spec(document["spec"], "spec")
        policy_class: type[KyvernoPolicy] = ClusterPolicy if kind == "ClusterPolicy" else Policy
        return policy_class(
            api_version=api_version,
            name=name,
            namespace=namespace,
            uid=self.string(metadata, "uid", "metadata"),
            resource_version=self.string(metadata, "resourceVersion", "metadata"),
            annotations=self.string_map(metadata, "annotations", "metadata") or {},
            labels=self.string_map(metadata, "labels", "metadata") or {},
            spec=spec,
            warnings=tuple(self.warnings),
            source=self.source,
        )

    def spec(self, value: object, path: str) -> PolicySpec:
        data = self.fields(
            value,
            path,
            (
                "admission",
                "applyRules",
                "background",
                "emitWarning",
                "failurePolicy",
                "generateExisting",
                "generateExistingOnPolicyUpdate",
                "mutateExistingOnPolicyUpdate",
                "rules",
                "schemaValidation",
                "useServerSideApply",
                "validationFailureAction",
                "validationFailureActionOverrides",
                "webhookConfiguration",
                "webhookTimeoutSeconds",
            ),
        )
        action = self.enum(
            data, "validationFailureAction", path, ("audit", "enforce", "Audit", "Enforce")
        )
        if action in ("audit", "enforce"):
            self.warnings.append(
                f"validationFailureAction {action!r} is deprecated; use {action.capitalize()!r}"
            )
        if not action and self.apply_defaults:
            action = "Audit"
        overrides = []
        for where, item in self.items(data, "validationFailureActionOverrides", path):
            entry = self.fields(item, where, ("action", "namespaces", "namespaceSelector"))
            overrides.append(
                ValidationFailureActionOverride(
                    action=self.enum(
                        entry, "action", where, ("audit", "enforce", "Audit", "Enforce")
                    ),
                    namespaces=(
                        self.strings(entry, "namespaces", where)
                        if entry.get("namespaces") is not None
                        else None
                    ),
                    namespace_selector=self.selector(entry, "namespaceSelector", where),
                )
            )
        webhook = None
        if data.get("webhookConfiguration") is not None:
            where = _join(path, "webhookConfiguration")
            config = self.fields(
                data["webhookConfiguration"],
                where,
                ("failurePolicy", "timeoutSeconds", "matchConditions"),
            )
            webhook = WebhookConfiguration(
                failure_policy=self.enum(config, "failurePolicy", where, ("Ignore", "Fail"))
                or None,
                timeout_seconds=self.integer(config, "timeoutSeconds", where),
                match_conditions=tuple(
                    self.raw_object(item, item_path)
                    for item_path, item in self.items(config, "matchConditions", where)
                ),
            )
        background = self.boolean(data, "background", path)
        admission = self.boolean(data, "admission", path)
        emit_warning = self.boolean(data, "emitWarning", path)
        if self.apply_defaults:
            background = True if background is None else background
            admission = True if admission is None else admission
            emit_warning = False if emit_warning is None else emit_warning
        return PolicySpec(
            rules=tuple(self.rule(item, where) for where, item in self.items(data, "rules", path)),
            validation_failure_action=action,
            validation_failure_action_overrides=tuple(overrides),
            failure_policy=self.enum(data, "failurePolicy", path, ("Ignore", "Fail")) or None,
            webhook_timeout_seconds=self.integer(data, "webhookTimeoutSeconds", path),
            webhook_configuration=webhook,
            background=background,
            admission=admission,
            apply_rules=self.enum(data, "applyRules", path, ("All", "One")) or None,
            emit_warning=emit_warning,
        )

    def raw_object(self, value: object, path: str) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            raise self.error(path, f"must be an object, not {_type_name(value)}")
        return copy.deepcopy(dict(value))

    # -- rules ------------------------------------------------------------------------------

    def rule(self, value: object, path: str) -> Rule:
        data = self.fields(
            value,
            path,
            (
                "celPreconditions",
                "context",
                "exclude",
                "generate",
                "imageExtractors",
                "match",
                "mutate",
                "name",
                "preconditions",
                "reportProperties",
                "skipBackgroundRequests",
                "validate",
                "verifyImages",
            ),
        )
        name = self.string(data, "name", path)
        if "name" not in data:
            raise self.error(_join(path, "name"), "a rule needs a name")
        if data.get("match") is None:
            raise self.error(_join(path, "match"), "a rule needs a match block")
        operations = {
            key: copy.deepcopy(data[key])
            for key in ("mutate", "validate", "generate")
            if data.get(key) not in (None, {})
        }
        extractors = None
        if data.get("imageExtractors") is not None:
            extractors = self.image_extractors(
                data["imageExtractors"], _join(path, "imageExtractors")
            )
        skip_background = self.boolean(data, "skipBackgroundRequests", path)
        return Rule(
            name=name,
            match=self.match(data["match"], _join(path, "match")),
            exclude=(
                None
                if data.get("exclude") is None
                else self.match(data["exclude"], _join(path, "exclude"))
            ),
            preconditions=self.preconditions(
                data.get("preconditions"), _join(path, "preconditions")
            ),
            context=tuple(
                self.raw_object(item, where) for where, item in self.items(data, "context", path)
            ),
            image_extractors=extractors,
            verify_images=tuple(
                self.image_verification(item, where)
                for where, item in self.items(data, "verifyImages", path)
            ),
            other_operations=operations,
            report_properties=self.string_map(data, "reportProperties", path) or {},
            cel_preconditions=tuple(
                self.raw_object(item, where)
                for where, item in self.items(data, "celPreconditions", path)
            ),
            skip_background_requests=True if skip_background is None else skip_background,
        )

    def image_extractors(
        self, value: object, path: str
    ) -> dict[str, tuple[ImageExtractorConfig, ...]]:
        if not isinstance(value, Mapping):
            raise self.error(path, f"must be an object, not {_type_name(value)}")
        result: dict[str, tuple[ImageExtractorConfig, ...]] = {}
        for kind, configs in value.items():
            where = _join(path, str(kind))
            if not isinstance(configs, list | tuple):
                raise self.error(where, f"must be an array, not {_type_name(configs)}")
            entries = []
            for index, item in enumerate(configs):
                item_path = f"{where}[{index}]"
                entry = self.fields(item, item_path, ("path", "value", "name", "key", "jmesPath"))
                if entry.get("path") is None:
                    raise self.error(_join(item_path, "path"), "an image extractor needs a path")
                path_text = self.string(entry, "path", item_path)
                if not any(part.strip(" ") for part in path_text.split("/")):
                    raise self.error(_join(item_path, "path"), "the path names no field")
                entries.append(
                    ImageExtractorConfig(
                        path=path_text,
                        value=self.string(entry, "value", item_path),
                        name=self.string(entry, "name", item_path),
                        key=self.string(entry, "key", item_path),
                        jmes_path=self.string(entry, "jmesPath", item_path),
                    )
                )
            result[str(kind)] = tuple(entries)
        return result

    # -- match / exclude -------------------------------------------------------------------

    def match(self, value: object, path: str) -> MatchResources:
        if self.version == "v1":
            allowed: tuple[str, ...] = (
                "any",
                "all",
                "resources",
                "roles",
                "clusterRoles",
                "subjects",
            )
        else:
            allowed = ("any", "all")
        data = self.fields(value, path, allowed)
        return MatchResources(
            any=tuple(
                self.resource_filter(item, where) for where, item in self.items(data, "any", path)
            ),
            all=tuple(
                self.resource_filter(item, where) for where, item in self.items(data, "all", path)
            ),
            resources=self.resource_description(data.get("resources"), _join(path, "resources")),
            user_info=self.user_info(data, path),
        )

    def resource_filter(self, value: object, path: str) -> ResourceFilter:
        data = self.fields(value, path, ("resources", "roles", "clusterRoles", "subjects"))
        return ResourceFilter(
            resources=self.resource_description(data.get("resources"), _join(path, "resources")),
            user_info=self.user_info(data, path),
        )

    def user_info(self, data: Mapping[str, Any], path: str) -> UserInfo:
        subjects = []
        for where, item in self.items(data, "subjects", path):
            entry = self.fields(item, where, ("kind", "name", "namespace", "apiGroup"))
            subjects.append(
                Subject(
                    kind=self.string(entry, "kind", where),
                    name=self.string(entry, "name", where),
                    namespace=self.string(entry, "namespace", where),
                    api_group=self.string(entry, "apiGroup", where),
                )
            )
        return UserInfo(
            roles=self.strings(data, "roles", path),
            cluster_roles=self.strings(data, "clusterRoles", path),
            subjects=tuple(subjects),
        )

    def resource_description(self, value: object, path: str) -> ResourceDescription:
        if value is None:
            return ResourceDescription()
        data = self.fields(
            value,
            path,
            (
                "kinds",
                "name",
                "names",
                "namespaces",
                "annotations",
                "selector",
                "namespaceSelector",
                "operations",
            ),
        )
        operations = self.strings(data, "operations", path)
        for index, operation in enumerate(operations):
            if operation not in ("CREATE", "CONNECT", "UPDATE", "DELETE"):
                raise self.error(
                    f"{_join(path, 'operations')}[{index}]",
                    f"unsupported value {operation!r}: supported values are"
                    " CREATE, CONNECT, UPDATE, DELETE",
                )
        return ResourceDescription(
            kinds=self.strings(data, "kinds", path),
            name=self.string(data, "name", path),
            names=self.strings(data, "names", path),
            namespaces=self.strings(data, "namespaces", path),
            annotations=self.string_map(data, "annotations", path),
            selector=self.selector(data, "selector", path),
            namespace_selector=self.selector(data, "namespaceSelector", path),
            operations=operations,
        )

    def selector(self, data: Mapping[str, Any], key: str, path: str) -> LabelSelector | None:
        if data.get(key) is None:
            return None
        where = _join(path, key)
        selector = self.fields(data[key], where, ("matchLabels", "matchExpressions"))
        expressions = []
        for item_path, item in self.items(selector, "matchExpressions", where):
            entry = self.fields(item, item_path, ("key", "operator", "values"))
            expressions.append(
                LabelSelectorRequirement(
                    key=self.string(entry, "key", item_path),
                    operator=self.string(entry, "operator", item_path),
                    values=self.strings(entry, "values", item_path),
                )
            )
        return LabelSelector(
            match_labels=self.string_map(selector, "matchLabels", where) or {},
            match_expressions=tuple(expressions),
        )

    # -- conditions ------------------------------------------------------------------------

    def preconditions(self, value: object, path: str) -> AnyAllConditions | None:
        if value is None:
            return None
        if isinstance(value, list | tuple):
            if self.version != "v1":
                raise self.error(path, "must be an object with any/all")
            return AnyAllConditions(
                all=tuple(self.condition(item, f"{path}[{i}]") for i, item in enumerate(value))
            )
        return self.any_all(value, path)

    def any_all(self, value: object, path: str) -> AnyAllConditions:
        data = self.fields(value, path, ("any", "all"))
        blocks: dict[str, tuple[Condition, ...] | None] = {}
        for key in ("any", "all"):
            if data.get(key) is None:
                blocks[key] = None
            else:
                blocks[key] = tuple(
                    self.condition(item, where) for where, item in self.items(data, key, path)
                )
        return AnyAllConditions(any=blocks["any"], all=blocks["all"])

    def condition(self, value: object, path: str) -> Condition:
        data = self.fields(value, path, ("key", "operator", "value", "message"))
        return Condition(
            key=copy.deepcopy(data.get("key")),
            operator=self.string(data, "operator", path),
            value=copy.deepcopy(data.get("value")),
            message=self.string(data, "message", path),
        )

    # -- verifyImages ----------------------------------------------------------------------

    def image_verification(self, value: object, path: str) -> ImageVerification:
        current = (
            "failureAction",
            "type",
            "imageReferences",
            "skipImageReferences",
            "attestors",
            "attestations",
            "repository",
            "mutateDigest",
            "verifyDigest",
            "required",
            "useCache",
            "validate",
            "imageRegistryCredentials",
        )
        deprecated_names = (
            "image",
            "key",
            "roots",
            "subject",
            "issuer",
            "annotations",
            "additionalExtensions",
            "cosignOCI11",
        )
        allowed = current + deprecated_names if self.version == "v1" else current
        data = self.fields(value, path, allowed)
        failure_action = self.enum(data, "failureAction", path, ("Audit", "Enforce")) or None
        attestors = [
            self.attestor_set(item, where, defaults=True)
            for where, item in self.items(data, "attestors", path)
        ]
        attestations = [
            self.attestation(item, where) for where, item in self.items(data, "attestations", path)
        ]
        image_references = list(self.strings(data, "imageReferences", path))
        deprecated = self.deprecated_fields(data, path)
        if deprecated is not None:
            self.convert(deprecated, image_references, attestors, attestations, path)
        validate = None
        if data.get("validate") is not None:
            where = _join(path, "validate")
            block = self.fields(data["validate"], where, ("message", "deny"))
            deny = None
            if block.get("deny") is not None:
                deny_block = self.fields(block["deny"], _join(where, "deny"), ("conditions",))
                deny = copy.deepcopy(deny_block.get("conditions"))
            validate = ValidateImageVerification(
                message=self.string(block, "message", where), deny=deny
            )
        credentials = None
        if data.get("imageRegistryCredentials") is not None:
            where = _join(path, "imageRegistryCredentials")
            block = self.fields(
                data["imageRegistryCredentials"],
                where,
                ("allowInsecureRegistry", "providers", "secrets"),
            )
            providers = self.strings(block, "providers", where)
            for index, provider in enumerate(providers):
                if provider not in ("default", "amazon", "azure", "google", "github"):
                    raise self.error(
                        f"{_join(where, 'providers')}[{index}]",
                        f"unsupported value {provider!r}: supported values are"
                        " default, amazon, azure, google, github",
                    )
            credentials = ImageRegistryCredentials(
                allow_insecure_registry=bool(self.boolean(block, "allowInsecureRegistry", where)),
                providers=providers,
                secrets=self.strings(block, "secrets", where),
            )
        return ImageVerification(
            image_references=tuple(image_references),
            skip_image_references=self.strings(data, "skipImageReferences", path),
            attestors=tuple(attestors),
            attestations=tuple(attestations),
            failure_action=failure_action,  # type: ignore[arg-type]
            type=self.enum(data, "type", path, ("Cosign", "SigstoreBundle", "Notary")),
            repository=self.string(data, "repository", path),
            cosign_oci11=bool(self.boolean(data, "cosignOCI11", path)),
            mutate_digest=self.default_true(data, "mutateDigest", path),
            verify_digest=self.default_true(data, "verifyDigest", path),
            required=self.default_true(data, "required", path),
            use_cache=self.default_true(data, "useCache", path),
            validate=validate,
            image_registry_credentials=credentials,
            deprecated=deprecated,
        )

    def deprecated_fields(self, data: Mapping[str, Any], path: str) -> DeprecatedImageFields | None:
        names = (
            "image",
            "key",
            "roots",
            "subject",
            "issuer",
            "annotations",
            "additionalExtensions",
        )
        if all(data.get(name) in (None, "", {}) for name in names):
            return None
        return DeprecatedImageFields(
            image=self.string(data, "image", path),
            key=self.string(data, "key", path),
            roots=self.string(data, "roots", path),
            subject=self.string(data, "subject", path),
            issuer=self.string(data, "issuer", path),
            annotations=self.string_map(data, "annotations", path) or {},
            additional_extensions=self.string_map(data, "additionalExtensions", path) or {},
        )

    def convert(
        self,
        fields: DeprecatedImageFields,
        image_references: list[str],
        attestors: list[AttestorSet],
        attestations: list[Attestation],
        path: str,
    ) -> None:
        """Kyverno's ``Convert()``: fold the deprecated fields into the current ones."""
        if not fields.image and not fields.key and not fields.issuer:
            return
        if fields.image:
            image_references.append(fields.image)
        if not (fields.annotations or fields.key or fields.issuer):
            return
        if fields.key:
            entry = Attestor(
                annotations=fields.annotations, keys=StaticKeyAttestor(public_keys=fields.key)
            )
        elif fields.issuer:
            entry = Attestor(
                annotations=fields.annotations,
                keyless=KeylessAttestor(
                    issuer=fields.issuer, subject=fields.subject, roots=fields.roots
                ),
            )
        else:
            entry = Attestor(annotations=fields.annotations)
        if attestations:
            # Kyverno appends the set to each attestation of its copy, then overwrites the
            # copy's attestations with the originals: the deprecated key has no effect.
            self.warnings.append(
                f"{path}: the deprecated key/issuer is ignored because the entry has"
                " attestations (Kyverno drops it); give the attestations their own attestors"
            )
            return
        attestors.append(AttestorSet(entries=(entry,)))

    def attestation(self, value: object, path: str) -> Attestation:
        data = self.fields(
            value, path, ("name", "predicateType", "type", "attestors", "conditions")
        )
        predicate_type = self.string(data, "predicateType", path)
        if predicate_type:
            self.warnings.append(
                f"predicateType has been deprecated use 'type: {predicate_type}' instead of"
                f" 'predicateType: {predicate_type}'"
            )
        return Attestation(
            type=self.string(data, "type", path),
            predicate_type=predicate_type,
            name=self.string(data, "name", path),
            attestors=tuple(
                self.attestor_set(item, where, defaults=True)
                for where, item in self.items(data, "attestors", path)
            ),
            conditions=tuple(
                self.any_all(item, where) for where, item in self.items(data, "conditions", path)
            ),
        )

    def attestor_set(self, value: object, path: str, *, defaults: bool) -> AttestorSet:
        data = self.fields(value, path, ("count", "entries"))
        return AttestorSet(
            count=self.integer(data, "count", path),
            entries=tuple(
                self.attestor(item, where, defaults=defaults)
                for where, item in self.items(data, "entries", path)
            ),
        )

    def attestor(self, value: object, path: str, *, defaults: bool) -> Attestor:
        data = self.fields(
            value,
            path,
            (
                "keys",
                "certificates",
                "keyless",
                "attestor",
                "annotations",
                "repository",
                "signatureAlgorithm",
            ),
        )
        default_algorithm = _DEFAULT_SIGNATURE_ALGORITHM if defaults and self.apply_defaults else ""
        nested = None
        if data.get("attestor") is not None:
            # Raw JSON in the CRD: no defaults inside.
            nested = self.attestor_set(data["attestor"], _join(path, "attestor"), defaults=False)
        return Attestor(
            keys=self.static_keys(data.get("keys"), _join(path, "keys"), default_algorithm),
            certificates=self.certificates(data.get("certificates"), _join(path, "certificates")),
            keyless=self.keyless(data.get("keyless"), _join(path, "keyless")),
            attestor=nested,
            annotations=self.string_map(data, "annotations", path) or {},
            repository=self.string(data, "repository", path),
            signature_algorithm=self.string(data, "signatureAlgorithm", path) or default_algorithm,
        )

    def static_keys(
        self, value: object, path: str, default_algorithm: str
    ) -> StaticKeyAttestor | None:
        if value is None:
            return None
        data = self.fields(
            value, path, ("publicKeys", "kms", "secret", "signatureAlgorithm", "rekor", "ctlog")
        )
        secret = None
        if data.get("secret") is not None:
            where = _join(path, "secret")
            block = self.fields(data["secret"], where, ("name", "namespace"))
            for required in ("name", "namespace"):
                if block.get(required) is None:
                    raise self.error(_join(where, required), "required")
            secret = SecretReference(
                name=self.string(block, "name", where),
                namespace=self.string(block, "namespace", where),
            )
        return StaticKeyAttestor(
            public_keys=self.string(data, "publicKeys", path),
            kms=self.string(data, "kms", path),
            secret=secret,
            signature_algorithm=self.string(data, "signatureAlgorithm", path) or default_algorithm,
            rekor=self.rekor(data.get("rekor"), _join(path, "rekor")),
            ctlog=self.ctlog(data.get("ctlog"), _join(path, "ctlog")),
        )

    def certificates(self, value: object, path: str) -> CertificateAttestor | None:
        if value is None:
            return None
        data = self.fields(value, path, ("cert", "certChain", "rekor", "ctlog"))
        return CertificateAttestor(
            cert=self.string(data, "cert", path),
            cert_chain=self.string(data, "certChain", path),
            rekor=self.rekor(data.get("rekor"), _join(path, "rekor")),
            ctlog=self.ctlog(data.get("ctlog"), _join(path, "ctlog")),
        )

    def keyless(self, value: object, path: str) -> KeylessAttestor | None:
        if value is None:
            return None
        data = self.fields(
            value,
            path,
            (
                "issuer",
                "issuerRegExp",
                "subject",
                "subjectRegExp",
                "roots",
                "additionalExtensions",
                "rekor",
                "ctlog",
            ),
        )
        return KeylessAttestor(
            issuer=self.string(data, "issuer", path),
            issuer_regexp=self.string(data, "issuerRegExp", path),
            subject=self.string(data, "subject", path),
            subject_regexp=self.string(data, "subjectRegExp", path),
            roots=self.string(data, "roots", path),
            additional_extensions=self.string_map(data, "additionalExtensions", path) or {},
            rekor=self.rekor(data.get("rekor"), _join(path, "rekor")),
            ctlog=self.ctlog(data.get("ctlog"), _join(path, "ctlog")),
        )

    def rekor(self, value: object, path: str) -> Rekor | None:
        if value is None:
            return None
        data = self.fields(value, path, ("url", "pubkey", "ignoreTlog"))
        return Rekor(
            url=self.string(data, "url", path),
            pubkey=self.string(data, "pubkey", path),
            ignore_tlog=bool(self.boolean(data, "ignoreTlog", path)),
        )

    def ctlog(self, value: object, path: str) -> CTLog | None:
        if value is None:
            return None
        data = self.fields(value, path, ("ignoreSCT", "pubkey", "tsaCertChain"))
        return CTLog(
            ignore_sct=bool(self.boolean(data, "ignoreSCT", path)),
            pubkey=self.string(data, "pubkey", path),
            tsa_cert_chain=self.string(data, "tsaCertChain", path),
        )
