"""Whether a rule applies to a resource: Kyverno's ``match`` and ``exclude``.

A rule applies when its ``match`` selects the resource and its ``exclude`` does not:

* ``match.any``: one filter must select it; ``match.all``: every filter; the deprecated bare
  form: its one filter. A filter that says nothing selects nothing ("match cannot be empty").
* ``exclude`` is looked at only after ``match`` succeeded. ``exclude.any`` excludes when one
  filter selects the resource, ``exclude.all`` when every filter does, the bare form when it
  does; an empty exclude block excludes nothing.
* Inside a filter every given attribute must hold, and one entry of a list is enough:
  ``kinds`` (``Kind``, ``version/Kind``, ``group/version/Kind``, ``Kind/subresource``, every
  part a wildcard; a Pod's ``ephemeralcontainers`` requests count as Pod), ``name``/``names``
  (the ``generateName`` when there is no name), ``namespaces`` (a Namespace's own name for a
  Namespace), ``annotations`` (wildcard keys and values), ``selector`` and
  ``namespaceSelector`` (``matchLabels`` may hold wildcards), ``operations``.
* ``roles``, ``clusterRoles`` and ``subjects`` are checked only when the request's user info
  is given (as in admission); without it, ``match`` ignores them and ``exclude`` filters that
  name them never exclude, as in Kyverno's background scans and CLI.
* A namespaced ``Policy`` applies only to resources in its own namespace.

Namespace labels come from the caller. When a rule needs them for a namespaced resource and
none were given, :func:`rule_matches` raises instead of guessing (Kyverno once lost a lister
error here and let rules silently not apply, CVE-2025-46342); pass ``{}`` to match against no
labels, as the Kyverno CLI does.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Final

import attrs

from imagesig.errors import PolicyError
from imagesig.policy import wildcard
from imagesig.policy._validate import selector_problem
from imagesig.policy.model import (
    KyvernoPolicy,
    LabelSelector,
    MatchResources,
    ResourceDescription,
    ResourceFilter,
    Rule,
    Subject,
    UserInfo,
)

__all__ = [
    "RequestInfo",
    "ResourceIdentity",
    "match_failures",
    "parse_kind_selector",
    "rule_matches",
    "selector_matches",
]

_VERSION = re.compile(r"v\d+((alpha|beta)\d+)?|\*", re.ASCII)
_LABEL_NAME = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?", re.ASCII)
_LABEL_PREFIX = re.compile(
    r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*", re.ASCII
)
_MAX_LABEL = 63
_MAX_PREFIX = 253
_POD = ("", "v1", "Pod")
_EPHEMERAL = "ephemeralcontainers"
OPERATIONS: Final = ("CREATE", "UPDATE", "DELETE", "CONNECT")


@attrs.frozen(kw_only=True)
class RequestInfo:
    """Who made an admission request, as Kyverno's ``RequestInfo`` holds it.

    Attributes:
        username: ``userInfo.username``.
        groups: ``userInfo.groups``.
        roles: the ``namespace:name`` Roles bound to the user.
        cluster_roles: the ClusterRoles bound to the user.
    """

    username: str = ""
    groups: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()
    cluster_roles: tuple[str, ...] = ()

    @property
    def is_empty(self) -> bool:
        """Whether nothing is known about the requester."""
        return not (self.username or self.groups or self.roles or self.cluster_roles)


@attrs.frozen(kw_only=True)
class ResourceIdentity:
    """What matching needs to know about the resource besides its content.

    Attributes:
        group: API group (``""`` for the core group); by default from ``apiVersion``.
        version: API version; by default from ``apiVersion``.
        kind: Kind; by default the resource's ``kind``.
        subresource: the subresource of the request (``ephemeralcontainers``...), or ``""``.
    """

    group: str
    version: str
    kind: str
    subresource: str = ""

    @classmethod
    def of(cls, resource: Mapping[str, Any], subresource: str = "") -> ResourceIdentity:
        """Read the group, version and kind from ``apiVersion`` and ``kind``."""
        api_version = resource.get("apiVersion")
        kind = resource.get("kind")
        group, _, version = (api_version if isinstance(api_version, str) else "").rpartition("/")
        return cls(
            group=group,
            version=version,
            kind=kind if isinstance(kind, str) else "",
            subresource=subresource,
        )


def parse_kind_selector(selector: str) -> tuple[str, str, str, str]:
    """Split a ``kinds`` entry into group, version, kind and subresource patterns.

    ``Pod`` is any group and version; ``v1/Pod`` and ``apps/v1/Deployment`` pin them;
    ``Pod/status`` (or ``Pod.status``) names a subresource; ``*/*`` is everything.

    Returns:
        ``(group, version, kind, subresource)``; all ``""`` for more than four parts.
    """
    parts = selector.split("/")
    parts = parts[:-1] + parts[-1].split(".")
    if len(parts) == 1:
        return "*", "*", parts[0], ""
    if len(parts) == 2:
        if parts[0] == "*" and parts[1] == "*":
            return "*", "*", "*", "*"
        if parts[0] == "*" and parts[1].lower() == parts[1]:
            return "*", "*", parts[0], parts[1]
        if _VERSION.fullmatch(parts[0]):
            return "*", parts[0], parts[1], ""
        return "*", "*", parts[0], parts[1]
    if len(parts) == 3:
        if _VERSION.fullmatch(parts[0]):
            return "*", parts[0], parts[1], parts[2]
        return parts[0], parts[1], parts[2], ""
    if len(parts) == 4:
        return parts[0], parts[1], parts[2], parts[3]
    return "", "", "", ""


def _kind_matches(kinds: Sequence[str], identity: ResourceIdentity) -> bool:
    for entry in kinds:
        group, version, kind, subresource = parse_kind_selector(entry)
        if not (
            wildcard.match(group, identity.group)
            and wildcard.match(version, identity.version)
            and wildcard.match(kind, identity.kind)
        ):
            continue
        if wildcard.match(subresource, identity.subresource):
            return True
        if (
            identity.group,
            identity.version,
            identity.kind,
        ) == _POD and identity.subresource == _EPHEMERAL:
            return True
    return False


def _label_key_valid(key: str) -> bool:
    prefix, slash, name = key.rpartition("/")
    if slash and (not prefix or len(prefix) > _MAX_PREFIX or not _LABEL_PREFIX.fullmatch(prefix)):
        return False
    return 0 < len(name) <= _MAX_LABEL and _LABEL_NAME.fullmatch(name) is not None


def _label_value_valid(value: str) -> bool:
    return value == "" or (len(value) <= _MAX_LABEL and _LABEL_NAME.fullmatch(value) is not None)


def _replace_wildcards(selector: LabelSelector, labels: Mapping[str, str]) -> dict[str, str]:
    """Kyverno's ``ReplaceInSelector``: a wildcard pair becomes a label it matches, or zeros."""
    result: dict[str, str] = {}
    for key, value in selector.match_labels.items():
        if not (wildcard.contains_wildcard(key) or wildcard.contains_wildcard(value)):
            result[key] = value
            continue
        for label, label_value in labels.items():
            if wildcard.match(key, label) and wildcard.match(value, label_value):
                result[label] = label_value
                break
        else:
            zeroed_key = key.replace("*", "0").replace("?", "0")
            result[zeroed_key] = value.replace("*", "0").replace("?", "0")
    return result


def selector_matches(selector: LabelSelector, labels: Mapping[str, str]) -> bool:
    """Evaluate a label selector the Kyverno way (wildcards allowed in ``matchLabels``).

    An empty selector matches everything.

    Args:
        selector: the selector.
        labels: the labels it is applied to.

    Returns:
        Whether every requirement holds.

    Raises:
        PolicyError: the selector is invalid (bad operator, values, label key or value).
    """
    problem = selector_problem(selector)
    match_labels = _replace_wildcards(selector, labels)
    if problem is None:
        for key, value in match_labels.items():
            if not _label_key_valid(key):
                problem = f"invalid label key {key!r}"
            elif not _label_value_valid(value):
                problem = f"invalid label value {value!r}"
        for requirement in selector.match_expressions:
            if not _label_key_valid(requirement.key):
                problem = f"invalid label key {requirement.key!r}"
            elif not all(_label_value_valid(value) for value in requirement.values):
                problem = f"invalid label value in {requirement.values!r}"
    if problem is not None:
        raise PolicyError(f"invalid label selector: {problem}")
    if any(labels.get(key) != value for key, value in match_labels.items()):
        return False
    for requirement in selector.match_expressions:
        present = requirement.key in labels
        if requirement.operator == "In":
            holds = present and labels[requirement.key] in requirement.values
        elif requirement.operator == "NotIn":
            holds = not present or labels[requirement.key] not in requirement.values
        elif requirement.operator == "Exists":
            holds = present
        else:
            holds = not present
        if not holds:
            return False
    return True


def _metadata(resource: Mapping[str, Any]) -> Mapping[str, Any]:
    metadata = resource.get("metadata")
    return metadata if isinstance(metadata, Mapping) else {}


def _string_map(value: object) -> dict[str, str]:
    if not isinstance(value, Mapping):
        return {}
    return {str(key): item for key, item in value.items() if isinstance(item, str)}


@attrs.frozen(kw_only=True)
class _Request:
    resource: Mapping[str, Any]
    identity: ResourceIdentity
    operation: str
    namespace_labels: Mapping[str, str] | None
    user: RequestInfo | None

    @property
    def name(self) -> str:
        metadata = _metadata(self.resource)
        name = metadata.get("name")
        if isinstance(name, str) and name:
            return name
        generated = metadata.get("generateName")
        return generated if isinstance(generated, str) else ""

    @property
    def namespace(self) -> str:
        namespace = _metadata(self.resource).get("namespace")
        return namespace if isinstance(namespace, str) else ""

    @property
    def kind(self) -> str:
        kind = self.resource.get("kind")
        return kind if isinstance(kind, str) else ""


def _namespace_of(request: _Request) -> str:
    return request.name if request.kind == "Namespace" else request.namespace


def _selector_failure(selector: LabelSelector, labels: Mapping[str, str], what: str) -> str | None:
    try:
        if selector_matches(selector, labels):
            return None
    except PolicyError as exc:
        return f"failed to parse {what}: {exc.message}"
    return (
        f"{what} does not match labels"
        if what == "namespace selector"
        else f"{what} does not match"
    )


def _description_failures(description: ResourceDescription, request: _Request) -> list[str]:
    if description.operations and request.operation not in description.operations:
        return ["operation does not match"]
    failures: list[str] = []
    if description.kinds and not _kind_matches(description.kinds, request.identity):
        failures.append(f"kind does not match {list(description.kinds)}")
    name = request.name
    if description.name and not wildcard.match(description.name, name):
        failures.append("name does not match")
    if description.names and not wildcard.match_any(description.names, name):
        failures.append("none of the names match")
    if description.namespaces and not wildcard.match_any(
        description.namespaces, _namespace_of(request)
    ):
        failures.append("namespace does not match")
    if description.annotations:
        annotations = _string_map(_metadata(request.resource).get("annotations"))
        if not all(
            any(wildcard.match(key, k) and wildcard.match(value, v) for k, v in annotations.items())
            for key, value in description.annotations.items()
        ):
            failures.append("annotations does not match")
    if description.selector is not None:
        labels = _string_map(_metadata(request.resource).get("labels"))
        failure = _selector_failure(description.selector, labels, "selector")
        if failure is not None:
            failures.append(failure)
    if description.namespace_selector is not None:
        if request.kind == "Namespace":
            failures.append("namespace selector is not applicable for namespace resource")
        elif request.kind or "*" in description.kinds:
            failure = _selector_failure(
                description.namespace_selector, _namespace_labels(request), "namespace selector"
            )
            if failure is not None:
                failures.append(failure)
    return failures


def _namespace_labels(request: _Request) -> Mapping[str, str]:
    if not request.namespace:
        return {}
    if request.namespace_labels is None:
        raise PolicyError(
            f"the labels of namespace {request.namespace!r} are needed to evaluate a"
            " namespaceSelector",
            hint="pass namespace_labels (an empty mapping matches against no labels)",
            namespace=request.namespace,
        )
    return request.namespace_labels


def _subject_matches(subjects: Sequence[Subject], user: RequestInfo) -> bool:
    for subject in subjects:
        if subject.kind == "ServiceAccount":
            account = f"system:serviceaccount:{subject.namespace}:{subject.name}"
            if wildcard.match(account, user.username):
                return True
        elif subject.kind == "Group":
            if any(wildcard.match(subject.name, group) for group in user.groups):
                return True
        elif subject.kind == "User" and wildcard.match(subject.name, user.username):
            return True
    return False


def _user_failures(info: UserInfo, user: RequestInfo) -> list[str]:
    failures = []
    if info.roles and not set(info.roles) & set(user.roles):
        failures.append("user info does not match roles for the given conditionBlock")
    if info.cluster_roles and not set(info.cluster_roles) & set(user.cluster_roles):
        failures.append("user info does not match clustersRoles for the given conditionBlock")
    if info.subjects and not _subject_matches(info.subjects, user):
        failures.append("user info does not match subject for the given conditionBlock")
    return failures


def _filter_failures(entry: ResourceFilter, request: _Request, *, for_match: bool) -> list[str]:
    user = request.user if request.user is not None else RequestInfo()
    user_info = entry.user_info
    if for_match and user.is_empty:
        user_info = UserInfo()
    if entry.resources.is_empty and user_info.is_empty:
        return ["match cannot be empty"] if for_match else ["empty"]
    return _description_failures(entry.resources, request) + _user_failures(user_info, user)


def _match_failures(block: MatchResources, request: _Request) -> list[str]:
    if block.any:
        if any(not _filter_failures(entry, request, for_match=True) for entry in block.any):
            return []
        return ["no resource matched"]
    if block.all:
        return [
            failure
            for entry in block.all
            for failure in _filter_failures(entry, request, for_match=True)
        ]
    bare = ResourceFilter(resources=block.resources, user_info=block.user_info)
    return _filter_failures(bare, request, for_match=True)


def _excluded(block: MatchResources, request: _Request) -> bool:
    if block.is_empty:
        return False
    if block.any:
        return any(not _filter_failures(entry, request, for_match=False) for entry in block.any)
    if block.all:
        return all(not _filter_failures(entry, request, for_match=False) for entry in block.all)
    bare = ResourceFilter(resources=block.resources, user_info=block.user_info)
    return not _filter_failures(bare, request, for_match=False)


def match_failures(
    rule: Rule,
    resource: Mapping[str, Any],
    *,
    policy: KyvernoPolicy | None = None,
    operation: str = "CREATE",
    namespace_labels: Mapping[str, str] | None = None,
    user: RequestInfo | None = None,
    identity: ResourceIdentity | None = None,
) -> list[str]:
    """Why ``rule`` does not apply to ``resource``, in Kyverno's words; empty when it applies.

    Args:
        rule: the rule.
        resource: the Kubernetes object.
        policy: the rule's policy; a namespaced ``Policy`` limits it to its namespace.
        operation: the admission operation (``CREATE``, ``UPDATE``, ``DELETE``, ``CONNECT``).
        namespace_labels: the labels of the resource's namespace; needed only when a
            ``namespaceSelector`` is evaluated for a namespaced resource.
        user: the requester, when known (admission); ``None`` ignores user-info filters in
            ``match`` as Kyverno's background scans do.
        identity: group, version, kind and subresource when they differ from the object's
            (a subresource request); by default read from the object.

    Returns:
        The reasons; an empty list means the rule applies.

    Raises:
        PolicyError: namespace labels are needed and were not given.
    """
    if not isinstance(resource, Mapping) or not resource:
        return ["resource is empty"]
    request = _Request(
        resource=resource,
        identity=identity if identity is not None else ResourceIdentity.of(resource),
        operation=operation,
        namespace_labels=namespace_labels,
        user=user,
    )
    if policy is not None and policy.is_namespaced and policy.namespace != request.namespace:
        return ["policy and resource namespaces mismatch"]
    failures = _match_failures(rule.match, request)
    if not failures and rule.exclude is not None and _excluded(rule.exclude, request):
        failures = ["resource excluded"]
    return failures


def rule_matches(
    rule: Rule,
    resource: Mapping[str, Any],
    *,
    policy: KyvernoPolicy | None = None,
    operation: str = "CREATE",
    namespace_labels: Mapping[str, str] | None = None,
    user: RequestInfo | None = None,
    identity: ResourceIdentity | None = None,
) -> bool:
    """Whether ``rule`` applies to ``resource`` (see :func:`match_failures` for the arguments).

    Raises:
        PolicyError: namespace labels are needed and were not given.
    """
    return not match_failures(
        rule,
        resource,
        policy=policy,
        operation=operation,
        namespace_labels=namespace_labels,
        user=user,
        identity=identity,
    )
