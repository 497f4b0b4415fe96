"""Which images a resource runs, as Kyverno sees them, and the generated pod-controller rules.

**Extraction.** Kyverno's built-in extractors read ``initContainers``, ``containers`` and
``ephemeralContainers`` (in that order) of

* a ``Pod`` under ``spec``;
* a ``Deployment``, ``DaemonSet``, ``ReplicaSet``, ``ReplicationController``,
  ``StatefulSet`` or ``Job`` under ``spec.template.spec``;
* a ``CronJob`` under ``spec.jobTemplate.spec.template.spec``.

Other kinds have no images unless the rule's ``imageExtractors`` names their Kind, and a
configured Kind replaces the built-in extractors. Only the Kind is looked at, not the group.
Each image is normalised with :func:`imagesig.reference.kyverno_image_info` and keeps the
JSON pointer of its field, where a later ``mutateDigest`` patch goes. Empty and
whitespace-only values are skipped. A container without a string ``name``, a value that is not
an image reference, or a path through something that is not an object or list makes the
extraction fail: Kyverno then treats the resource as having **no images** and the rule does not
apply (:func:`rule_images` does the same and says why in ``error``).

Deliberate differences, both stricter: Kyverno keeps images in maps keyed by container name
(or by the extractor's ``key``), so a later image with the same key hides an earlier one from
verification, and two extractors with the same ``name`` replace each other's images; here every
extracted image is kept, in document order. JSON pointers escape ``~`` and ``/`` in keys as
RFC 6901 says.

**Autogen.** :func:`compute_rules` adds ``autogen-<rule>`` (DaemonSet, Deployment, Job,
ReplicaSet, ReplicationController, StatefulSet) and ``autogen-cronjob-<rule>`` (CronJob) rules
for every rule that matches Pods, exactly when Kyverno does: no rule in the policy may use
names, selectors or annotations in ``match``/``exclude``, mix Pod with other kinds, generate
resources or patch with JSON patches; the ``pod-policies.kyverno.io/autogen-controllers``
annotation restricts the controllers or, with ``none``, disables autogen. The generated rules
copy ``verifyImages`` and drop ``imageExtractors``; every ``request.object.spec`` (and
``.metadata``, and the ``oldObject`` forms) in them points into the pod template.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import Any, Final

import attrs

from imagesig.errors import ConditionError, ImageExtractionError, InvalidReferenceError
from imagesig.policy import wildcard
from imagesig.policy.model import (
    ImageExtractorConfig,
    ImageVerification,
    KyvernoPolicy,
    MatchResources,
    ResourceFilter,
    Rule,
)
from imagesig.reference import DEFAULT_REGISTRY, KyvernoImageInfo, kyverno_image_info

__all__ = [
    "CONTAINER_GROUPS",
    "POD_CONTROLLERS",
    "ExtractedImage",
    "ImageExtraction",
    "autogen_rules",
    "can_autogen",
    "compute_rules",
    "extract_images",
    "image_matches",
    "json_pointer",
    "rule_images",
]

#: The container lists Kyverno reads, in its order.
CONTAINER_GROUPS: Final = ("initContainers", "containers", "ephemeralContainers")
#: The kinds autogen writes rules for.
POD_CONTROLLERS: Final = frozenset(
    {
        "DaemonSet",
        "Deployment",
        "Job",
        "StatefulSet",
        "ReplicaSet",
        "ReplicationController",
        "CronJob",
    }
)
_NON_CRONJOB_CONTROLLERS: Final = (
    "DaemonSet",
    "Deployment",
    "Job",
    "StatefulSet",
    "ReplicaSet",
    "ReplicationController",
)
_GVK: Final = MappingProxyType(
    {
        "DaemonSet": "apps/v1/DaemonSet",
        "Deployment": "apps/v1/Deployment",
        "Job": "batch/v1/Job",
        "StatefulSet": "apps/v1/StatefulSet",
        "ReplicaSet": "apps/v1/ReplicaSet",
        "ReplicationController": "v1/ReplicationController",
        "CronJob": "batch/v1/CronJob",
        "Pod": "v1/Pod",
    }
)
_POD_TEMPLATE: Final = ("spec", "template", "spec")
_PREFIXES: Final = MappingProxyType(
    {
        "Pod": ("spec",),
        "DaemonSet": _POD_TEMPLATE,
        "Deployment": _POD_TEMPLATE,
        "ReplicaSet": _POD_TEMPLATE,
        "ReplicationController": _POD_TEMPLATE,
        "StatefulSet": _POD_TEMPLATE,
        "Job": _POD_TEMPLATE,
        "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
    }
)
_MAX_RULE_NAME = 63


# ------------------------------------------------------------------------------------------
# extraction


@attrs.frozen(kw_only=True)
class ExtractedImage:
    """One image found in a resource.

    Attributes:
        group: the extractor's name: ``initContainers``, ``containers``,
            ``ephemeralContainers``, or a custom extractor's ``name`` (``custom`` by default);
            Kyverno exposes it as ``images.<group>``.
        key: the container name, the custom extractor's ``key`` field, or the pointer.
        pointer: the JSON pointer of the image field (where a digest patch goes).
        image: the value as found (after the extractor's ``jmesPath``).
        info: Kyverno's normalised view; ``str(info)`` is what patterns are matched against.
        pull_secrets: ``imagePullSecrets`` names found along the path.
    """

    group: str
    key: str
    pointer: str
    image: str
    info: KyvernoImageInfo
    pull_secrets: tuple[str, ...] = ()

    @property
    def reference(self) -> str:
        """Kyverno's normalised image string (``docker.io/nginx:latest``)."""
        return self.info.reference


@attrs.frozen(kw_only=True)
class ImageExtraction:
    """The images a rule sees in a resource.

    Attributes:
        images: every image, in document order; empty when extraction failed.
        error: why extraction failed (Kyverno then sees no images), or ``None``.
    """

    images: tuple[ExtractedImage, ...] = ()
    error: str | None = None

    def context(self) -> dict[str, dict[str, dict[str, Any]]]:
        """The ``images`` variable of Kyverno's context: group, then key, then image fields.

        Like Kyverno's maps, a later image with the same key replaces an earlier one here.
        """
        result: dict[str, dict[str, dict[str, Any]]] = {}
        for image in self.images:
            fields = image.info.to_dict()
            fields["jsonPointer"] = image.pointer
            fields["imagePullSecrets"] = list(image.pull_secrets)
            result.setdefault(image.group, {})[image.key] = fields
        return result


def json_pointer(parts: Iterable[str]) -> str:
    """Build an RFC 6901 JSON pointer from path elements."""
    return "".join("/" + part.replace("~", "~0").replace("/", "~1") for part in parts)


@attrs.frozen
class _Extractor:
    fields: tuple[str, ...]
    key: str
    value: str
    name: str
    jmes_path: str = ""


def _standard_extractors(prefix: tuple[str, ...]) -> tuple[_Extractor, ...]:
    return tuple(
        _Extractor((*prefix, group, "*"), "name", "image", group) for group in CONTAINER_GROUPS
    )


_BUILT_IN: Final = MappingProxyType(
    {kind: _standard_extractors(prefix) for kind, prefix in _PREFIXES.items()}
)


def _configured(config: ImageExtractorConfig) -> _Extractor:
    fields = [part.strip(" ") for part in config.path.split("/")]
    fields = [part for part in fields if part]
    value = config.value
    if not value:
        value = fields.pop()
    return _Extractor(tuple(fields), config.key, value, config.name or "custom", config.jmes_path)


def _extractors(
    kind: str, configs: Mapping[str, Sequence[ImageExtractorConfig]] | None
) -> tuple[_Extractor, ...]:
    if configs is not None and kind in configs:
        chosen = configs[kind]
        if not chosen:
            raise ImageExtractionError(f"no extractors found for {kind}", kind=kind)
        return tuple(_configured(config) for config in chosen)
    return _BUILT_IN.get(kind, ())


@attrs.define
class _Walk:
    extractor: _Extractor
    default_registry: str
    registry_mutation: bool
    found: list[ExtractedImage]

    def run(
        self, node: object, path: list[str], fields: Sequence[str], secrets: tuple[str, ...]
    ) -> None:
        if node is None:
            return
        if fields and fields[0] == "*":
            if isinstance(node, list):
                for index, item in enumerate(node):
                    self.run(item, [*path, str(index)], fields[1:], secrets)
            elif isinstance(node, Mapping):
                for name, item in node.items():
                    self.run(item, [*path, str(name)], fields[1:], secrets)
            else:
                raise ImageExtractionError(
                    f"invalid type at {json_pointer(path)}: expected a list or an object"
                )
            return
        if not isinstance(node, Mapping):
            raise ImageExtractionError(f"invalid image config at {json_pointer(path)}")
        pull_secrets = node.get("imagePullSecrets")
        if isinstance(pull_secrets, list):
            secrets = secrets + tuple(
                entry["name"]
                for entry in pull_secrets
                if isinstance(entry, Mapping) and isinstance(entry.get("name"), str)
            )
        if fields:
            self.run(node.get(fields[0]), [*path, fields[0]], fields[1:], secrets)
            return
        self.leaf(node, path, secrets)

    def leaf(self, node: Mapping[str, Any], path: list[str], secrets: tuple[str, ...]) -> None:
        extractor = self.extractor
        pointer = json_pointer([*path, extractor.value])
        key = pointer
        if extractor.key:
            named = node.get(extractor.key)
            if not isinstance(named, str):
                raise ImageExtractionError(
                    f"invalid key at {json_pointer(path)}: {extractor.key!r} is not a string"
                )
            key = named
        value = node.get(extractor.value)
        if not isinstance(value, str) or not value.strip():
            return
        if extractor.jmes_path:
            value = _apply_jmes_path(extractor.jmes_path, value)
        try:
            info = _image_info(value, self.default_registry, self.registry_mutation)
        except InvalidReferenceError as exc:
            raise ImageExtractionError(
                f"invalid image '{value}' ({exc.message})", pointer=pointer
            ) from exc
        self.found.append(
            ExtractedImage(
                group=extractor.name,
                key=key,
                pointer=pointer,
                image=value,
                info=info,
                pull_secrets=secrets,
            )
        )


@functools.lru_cache(maxsize=4096)
def _image_info(value: str, default_registry: str, mutation: bool) -> KyvernoImageInfo:
    """:func:`kyverno_image_info`, remembered: admission sees the same images again and again
    (the result is frozen; failures are not remembered)."""
    return kyverno_image_info(
        value, default_registry=default_registry, enable_default_registry_mutation=mutation
    )


def _apply_jmes_path(expression: str, value: str) -> str:
    from imagesig.policy import _jmespath  # noqa: PLC0415 - JMESPath only when configured

    try:
        result = _jmespath.search(expression, value)
    except ConditionError as exc:
        raise ImageExtractionError(f"failed to apply jmespath {expression}: {exc}") from exc
    if not isinstance(result, str):
        raise ImageExtractionError(f"jmespath {expression} must produce a string, not {result!r}")
    return result


def extract_images(
    resource: Mapping[str, Any],
    extractors: Mapping[str, Sequence[ImageExtractorConfig]] | None = None,
    *,
    default_registry: str = DEFAULT_REGISTRY,
    enable_default_registry_mutation: bool = True,
) -> tuple[ExtractedImage, ...]:
    """Extract and normalise every image of a resource.

    Args:
        resource: the Kubernetes object (``kind`` decides the extractors).
        extractors: a rule's ``imageExtractors``; a Kind listed there replaces the built-in
            extractors for it.
        default_registry: Kyverno's ``defaultRegistry`` setting.
        enable_default_registry_mutation: Kyverno's ``enableDefaultRegistryMutation``.

    Returns:
        The images in extractor and document order.

    Raises:
        ImageExtractionError: the extraction failed where Kyverno's fails (the rule then sees
            no images at all).
    """
    kind = resource.get("kind")
    found: list[ExtractedImage] = []
    for extractor in _extractors(kind if isinstance(kind, str) else "", extractors):
        walk = _Walk(extractor, default_registry, enable_default_registry_mutation, found)
        walk.run(resource, [], extractor.fields, ())
    return tuple(found)


def rule_images(
    resource: Mapping[str, Any],
    rule: Rule,
    *,
    default_registry: str = DEFAULT_REGISTRY,
    enable_default_registry_mutation: bool = True,
) -> ImageExtraction:
    """The images a rule sees: :func:`extract_images`, with a failure meaning no images.

    Args:
        resource: the Kubernetes object.
        rule: the rule (its ``imageExtractors`` count).
        default_registry: Kyverno's ``defaultRegistry`` setting.
        enable_default_registry_mutation: Kyverno's ``enableDefaultRegistryMutation``.

    Returns:
        The images, or none and the reason when extraction failed.
    """
    try:
        images = extract_images(
            resource,
            rule.image_extractors,
            default_registry=default_registry,
            enable_default_registry_mutation=enable_default_registry_mutation,
        )
    except ImageExtractionError as exc:
        return ImageExtraction(error=exc.message)
    return ImageExtraction(images=images)


def image_matches(image: ExtractedImage | str, entries: Iterable[ImageVerification]) -> bool:
    """Whether an image belongs to a rule: it matches an ``imageReferences`` pattern of any entry.

    Args:
        image: an extracted image, or an already normalised image string.
        entries: the rule's ``verifyImages`` entries.

    Returns:
        ``True`` when any pattern of any entry matches the normalised string.
    """
    text = image.reference if isinstance(image, ExtractedImage) else image
    return any(wildcard.match_any(entry.image_references, text) for entry in entries)


# ------------------------------------------------------------------------------------------
# autogen


def _kind_of(selector: str) -> str:
    """The Kind named by a kinds entry, without group, version or subresource."""
    parts = selector.split("/")
    if len(parts) == 1:
        kind = selector.replace(".", "/", 1)
    elif len(parts) == 2:
        if parts == ["*", "*"]:
            kind = "*/*"
        elif _is_version(parts[0]):
            kind = parts[1].replace(".", "/", 1)
        else:
            kind = f"{parts[0]}/{parts[1]}"
    elif len(parts) == 3:
        kind = f"{parts[1]}/{parts[2]}" if _is_version(parts[0]) else parts[2].replace(".", "/", 1)
    elif len(parts) == 4:
        kind = f"{parts[2]}/{parts[3]}"
    else:
        kind = ""
    return kind.split("/")[0] if kind.count("/") == 1 else kind


def _is_version(text: str) -> bool:
    """Kubernetes' ``v\\d+((alpha|beta)\\d+)?`` or ``*``."""
    if text == "*":
        return True
    if not text.startswith("v") or len(text) < 2:
        return False
    rest = text[1:]
    digits = len(rest) - len(rest.lstrip("0123456789"))
    if digits == 0:
        return False
    rest = rest[digits:]
    if not rest:
        return True
    for stage in ("alpha", "beta"):
        if rest.startswith(stage):
            tail = rest[len(stage) :]
            return bool(tail) and tail.isascii() and tail.isdigit()
    return False


def _contains_kind(kinds: Iterable[str], kind: str) -> bool:
    return any(_kind_of(entry) == kind for entry in kinds)


def _autogen_supported(filters: Iterable[ResourceFilter]) -> tuple[bool, bool]:
    """(no name/selector/annotations/mixed kinds anywhere, some pod or controller kind)."""
    needed = False
    for entry in filters:
        resources = entry.resources
        if (
            resources.name
            or resources.names
            or resources.selector is not None
            or resources.annotations is not None
            or (len(resources.kinds) > 1 and _contains_kind(resources.kinds, "Pod"))
        ):
            return False, needed
        needed = needed or any(kind in POD_CONTROLLERS or kind == "Pod" for kind in resources.kinds)
    return True, needed


def _all_filters(block: MatchResources) -> list[ResourceFilter]:
    return [ResourceFilter(resources=block.resources), *block.any, *block.all]


def _uses_json_patch(rule: Rule) -> bool:
    mutate = rule.other_operations.get("mutate")
    if not isinstance(mutate, Mapping):
        return False
    if mutate.get("patchesJson6902"):
        return True
    foreach = mutate.get("foreach")
    return isinstance(foreach, list) and any(
        isinstance(item, Mapping) and item.get("patchesJson6902") for item in foreach
    )


def can_autogen(policy: KyvernoPolicy) -> tuple[bool, frozenset[str]]:
    """Kyverno's ``CanAutoGen``: whether pod-controller rules can be generated, and for what.

    Args:
        policy: the policy.

    Returns:
        ``(True, POD_CONTROLLERS)`` when they can; ``(False, {"none"})`` for policies that
        generate resources or use JSON patches; ``(False, set())`` otherwise.
    """
    needed = False
    for rule in policy.spec.rules:
        if "generate" in rule.other_operations or _uses_json_patch(rule):
            return False, frozenset({"none"})
        blocks = [rule.match] + ([rule.exclude] if rule.exclude is not None else [])
        for block in blocks:
            supported, wanted = _autogen_supported(_all_filters(block))
            needed = needed or wanted
            if not supported:
                return False, frozenset()
    if not needed:
        return False, frozenset()
    return True, POD_CONTROLLERS


def _rule_name(prefix: str, name: str) -> str:
    return f"{prefix}-{name}"[:_MAX_RULE_NAME]


def _as_gvk(kinds: Iterable[str]) -> tuple[str, ...]:
    return tuple(_GVK.get(kind, kind) for kind in kinds)


def _split_kinds(controllers: str) -> list[str]:
    return sorted(controllers.split(","))


_FilterRewrite = Callable[[tuple[ResourceFilter, ...], Sequence[str]], tuple[ResourceFilter, ...]]


def _with_kinds(entry: ResourceFilter, kinds: Sequence[str]) -> ResourceFilter:
    return attrs.evolve(entry, resources=attrs.evolve(entry.resources, kinds=_as_gvk(kinds)))


def _pod_filters_to(
    filters: tuple[ResourceFilter, ...], kinds: Sequence[str]
) -> tuple[ResourceFilter, ...]:
    return tuple(
        _with_kinds(entry, kinds) if _contains_kind(entry.resources.kinds, "Pod") else entry
        for entry in filters
    )


def _all_filters_to(
    filters: tuple[ResourceFilter, ...], kinds: Sequence[str]
) -> tuple[ResourceFilter, ...]:
    return tuple(_with_kinds(entry, kinds) for entry in filters)


def _rewrite_block(
    block: MatchResources, kinds: Sequence[str], rewrite: _FilterRewrite, *, exclude: bool
) -> MatchResources:
    if block.any:
        return attrs.evolve(block, any=rewrite(block.any, kinds))
    if block.all:
        return attrs.evolve(block, all=rewrite(block.all, kinds))
    if exclude and not block.resources.kinds:
        return block
    return attrs.evolve(block, resources=attrs.evolve(block.resources, kinds=_as_gvk(kinds)))


def _generate(rule: Rule, name: str, kinds: Sequence[str], rewrite: _FilterRewrite) -> Rule:
    exclude = rule.exclude
    if exclude is not None:
        exclude = _rewrite_block(exclude, kinds, rewrite, exclude=True)
    return attrs.evolve(
        rule,
        name=name,
        match=_rewrite_block(rule.match, kinds, rewrite, exclude=False),
        exclude=exclude,
    )


def _for_controllers(rule: Rule, controllers: str) -> Rule | None:
    if rule.is_autogen or not controllers:
        return None
    exclude_kinds = rule.exclude.kinds if rule.exclude is not None else ()
    if not _contains_kind(rule.match.kinds, "Pod") or (
        exclude_kinds and not _contains_kind(exclude_kinds, "Pod")
    ):
        return None
    if controllers == "all":
        controllers = ",".join(_NON_CRONJOB_CONTROLLERS)
    elif controllers != "none":
        chosen = [kind for kind in _split_kinds(controllers) if kind in _NON_CRONJOB_CONTROLLERS]
        if chosen:
            controllers = ",".join(chosen)
    return _generate(
        rule, _rule_name("autogen", rule.name), _split_kinds(controllers), _pod_filters_to
    )


def _for_cronjobs(rule: Rule, controllers: str) -> Rule | None:
    if "CronJob" not in controllers and "all" not in controllers:
        return None
    base = _for_controllers(rule, controllers)
    if base is None:
        return None
    return _generate(base, _rule_name("autogen-cronjob", rule.name), ["CronJob"], _all_filters_to)


def _shift_references(value: Any, replacements: Sequence[tuple[str, str]]) -> Any:
    """Rewrite every string (map keys too) of a rule, as Kyverno's JSON text replacement does."""

    def text(item: str) -> str:
        for old, new in replacements:
            item = item.replace(old, new)
        return item

    def walk(item: Any) -> Any:
        if isinstance(item, str):
            return text(item)
        if attrs.has(type(item)):
            changes = {
                field.alias or field.name: walk(getattr(item, field.name))
                for field in attrs.fields(type(item))
                if field.init
            }
            return type(item)(**changes)
        if isinstance(item, Mapping):
            return {walk(key): walk(entry) for key, entry in item.items()}
        if isinstance(item, list | tuple):
            converted = [walk(entry) for entry in item]
            return tuple(converted) if isinstance(item, tuple) else converted
        return item

    return walk(value)


_POD_SHIFT: Final = (
    ("request.object.spec", "request.object.spec.template.spec"),
    ("request.oldObject.spec", "request.oldObject.spec.template.spec"),
    ("request.object.metadata", "request.object.spec.template.metadata"),
    ("request.oldObject.metadata", "request.oldObject.spec.template.metadata"),
)
_CRONJOB_SHIFT: Final = (
    ("request.object.spec", "request.object.spec.jobTemplate.spec.template.spec"),
    ("request.oldObject.spec", "request.oldObject.spec.jobTemplate.spec.template.spec"),
    ("request.object.metadata", "request.object.spec.jobTemplate.spec.template.metadata"),
    ("request.oldObject.metadata", "request.oldObject.spec.jobTemplate.spec.template.metadata"),
)


def _finish(rule: Rule, replacements: Sequence[tuple[str, str]]) -> Rule:
    # Kyverno rebuilds the rule from a subset of its fields: imageExtractors are not kept.
    shifted: Rule = _shift_references(attrs.evolve(rule, image_extractors=None), replacements)
    return shifted


def autogen_rules(policy: KyvernoPolicy, controllers: str) -> tuple[Rule, ...]:
    """The pod-controller rules for ``controllers`` (a comma list, as in the annotation).

    Args:
        policy: the policy.
        controllers: the controller kinds, comma separated.

    Returns:
        ``autogen-<rule>`` and ``autogen-cronjob-<rule>`` rules, in rule order.
    """
    generated: list[Rule] = []
    without_cronjob = ",".join(kind for kind in _split_kinds(controllers) if kind != "CronJob")
    for rule in policy.spec.rules:
        for_controllers = _for_controllers(rule, without_cronjob)
        if for_controllers is not None:
            generated.append(_finish(for_controllers, _POD_SHIFT))
        for_cronjobs = _for_cronjobs(rule, controllers)
        if for_cronjobs is not None:
            generated.append(_finish(for_cronjobs, _CRONJOB_SHIFT))
    return tuple(generated)


def compute_rules(policy: KyvernoPolicy) -> tuple[Rule, ...]:
    """The rules Kyverno evaluates for a policy: its own plus the generated ones.

    Args:
        policy: the policy.

    Returns:
        The written rules followed by the generated ones. When rules are generated, written
        rules whose names start with ``autogen-`` are left out, as Kyverno leaves them out.
    """
    supported, controllers = can_autogen(policy)
    if not supported:
        controllers = frozenset({"none"})
    annotation = policy.autogen_controllers
    if annotation is not None and supported:
        controllers = frozenset(annotation.split(","))
    joined = ",".join(sorted(controllers))
    if joined == "none":
        return policy.spec.rules
    generated = autogen_rules(policy, joined)
    if not generated:
        return policy.spec.rules
    return tuple(rule for rule in policy.spec.rules if not rule.is_autogen) + generated
