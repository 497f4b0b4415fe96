"""The checks Kyverno's admission makes on a policy, with Kyverno's messages and field paths.

Only what can be decided without a cluster is checked: which kinds exist and which are
cluster-scoped needs API discovery and is left out. The checks, in Kyverno's order:

* metadata: a ClusterPolicy has no namespace; names up to 63 characters; the autogen
  annotation is not ``all``;
* spec: timeouts between 1 and 30 seconds, deprecated and current webhook settings not both;
  ``admission: false`` not with verifyImages and not together with ``background: false``;
* rules: unique names up to 63 characters; one operation per rule; ``imageExtractors`` only
  with verifyImages; ``match``/``exclude`` shape (any and all not together, not with the bare
  form, selectors with requirements, role and subject formats), a match that cannot select
  anything, a filter without kinds; no ``{{ }}`` in ``match``/``exclude``;
* kinds (the generated pod-controller rules included): ``*`` only alone, never in
  background mode, never with verifyImages;
* preconditions and attestation conditions: known operators; ``{{request.operation}}``
  compared only with ``CREATE``/``UPDATE``/``DELETE``/``CONNECT``;
* verifyImages entries: ``mutateDigest`` false when the action is Audit (the running flag
  is carried from entry to entry, as in Kyverno), at least one image reference and no
  ``{{ }}`` in them, attestor sets with entries and a ``count`` between 1 and the number of
  entries, each attestor of exactly one kind with its required fields, signature algorithms,
  Notary taking certificates only; no ``jmesPath`` extractor with ``mutateDigest``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Final

from imagesig.errors import PolicyValidationError
from imagesig.policy import wildcard
from imagesig.policy.model import (
    AUTOGEN_CONTROLLERS_ANNOTATION,
    AnyAllConditions,
    Attestor,
    AttestorSet,
    ImageVerification,
    KyvernoPolicy,
    LabelSelector,
    MatchResources,
    ResourceDescription,
    Rule,
    UserInfo,
    is_enforce,
)

__all__ = ["CONDITION_OPERATORS", "MAX_NAME_LENGTH", "validate_policy"]

#: Longest policy and rule name.
MAX_NAME_LENGTH: Final = 63
#: Every operator Kyverno knows, deprecated ones included.
CONDITION_OPERATORS: Final = (
    "Equal",
    "Equals",
    "NotEqual",
    "NotEquals",
    "In",
    "AnyIn",
    "AllIn",
    "NotIn",
    "AnyNotIn",
    "AllNotIn",
    "GreaterThanOrEquals",
    "GreaterThan",
    "LessThanOrEquals",
    "LessThan",
    "DurationGreaterThanOrEquals",
    "DurationGreaterThan",
    "DurationLessThanOrEquals",
    "DurationLessThan",
)
_OPERATORS_LOWER = frozenset(operator.lower() for operator in CONDITION_OPERATORS)
_REQUEST_OPERATIONS = ("CREATE", "UPDATE", "DELETE", "CONNECT")
_SIGNATURE_ALGORITHMS = ("", "sha224", "sha256", "sha384", "sha512")
_SELECTOR_OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist")
_SUBJECT_KINDS = ("User", "Group", "ServiceAccount")
# Kyverno's variable pattern; its alternatives never start with the same character, so it
# runs in linear time.
VARIABLE_PATTERN: Final = re.compile(r"(^|[^\\])(\{\{(?:\{[^{}]*\}|[^{}])*\}\})")


# Kyverno's wording, typographic quotes included.
_MUTATE_DIGEST_WITH_AUDIT = "mutateDigest must be set to false for ‘Audit’ failure action"  # noqa: RUF001


class _Errors:
    def __init__(self) -> None:
        self.items: list[tuple[str, str]] = []

    def add(self, path: str, message: str) -> None:
        self.items.append((path, message))


def validate_policy(policy: KyvernoPolicy) -> None:
    """Refuse a policy Kyverno's admission would refuse.

    Args:
        policy: the loaded policy (defaults applied or not, as loaded).

    Raises:
        PolicyValidationError: with every problem found; ``field_path`` is the first one's.
    """
    errors = _Errors()
    _metadata(policy, errors)
    _spec(policy, errors)
    # Kyverno checks kinds and verifyImages on the rules with the generated pod-controller
    # rules added; those copy the written rule's verifyImages and only swap Pod for
    # controller kinds, so checking the written rules finds the same problems and names
    # fields that exist.
    rules = policy.spec.rules
    for index, rule in enumerate(rules):
        _rule(policy, rule, f"spec.rules[{index}]", errors)
    for index, rule in enumerate(rules):
        _kinds(policy, rule, f"spec.rules[{index}]", errors)
    for index, rule in enumerate(rules):
        _verify_images(policy, rule, f"spec.rules[{index}]", errors)
    if errors.items:
        where = f"{policy.source}: " if policy.source else ""
        summary = "; ".join(f"{path}: {message}" for path, message in errors.items)
        raise PolicyValidationError(
            f"{where}{policy.kind} {policy.name!r} would be rejected by Kyverno: {summary}",
            field_path=errors.items[0][0],
            errors=tuple(errors.items),
            policy=policy.name,
            source=policy.source or None,
        )


def _metadata(policy: KyvernoPolicy, errors: _Errors) -> None:
    if policy.kind == "ClusterPolicy" and policy.namespace:
        errors.add("metadata.namespace", "A clusterpolicy should not have the namespace defined")
    if policy.annotations.get(AUTOGEN_CONTROLLERS_ANNOTATION) == "all":
        errors.add(
            "metadata.annotations",
            "Autogen annotation does not support 'all' anymore, remove the annotation or set"
            " it to a valid value",
        )
    if len(policy.name) > MAX_NAME_LENGTH:
        errors.add("name", f"may not be more than {MAX_NAME_LENGTH} bytes")


def _spec(policy: KyvernoPolicy, errors: _Errors) -> None:
    spec = policy.spec
    webhook = spec.webhook_configuration
    if spec.webhook_timeout_seconds is not None:
        if webhook is not None and webhook.timeout_seconds is not None:
            errors.add(
                "spec.webhookTimeoutSeconds",
                "remove the deprecated field and use spec.webhookConfiguration.timeoutSeconds"
                " instead",
            )
        if not 1 <= spec.webhook_timeout_seconds <= 30:
            errors.add(
                "spec.webhookTimeoutSeconds", "the timeout value must be between 1 and 30 seconds"
            )
    if (
        webhook is not None
        and webhook.timeout_seconds is not None
        and not 1 <= webhook.timeout_seconds <= 30
    ):
        errors.add(
            "spec.webhookConfiguration.timeoutSeconds",
            "the timeout value must be between 1 and 30 seconds",
        )
    if spec.failure_policy is not None and webhook is not None and webhook.failure_policy:
        errors.add(
            "spec.failurePolicy",
            "remove the deprecated field and use spec.webhookConfiguration.failurePolicy instead",
        )
    if policy.is_namespaced and spec.validation_failure_action_overrides:
        errors.add(
            "spec.validationFailureActionOverrides",
            "Use of validationFailureActionOverrides is supported only with ClusterPolicy",
        )
    if spec.admission is False:
        if spec.background is False:
            errors.add(
                "spec.admission",
                "disabling both admission and background processing is not allowed",
            )
        elif any(rule.has_verify_images for rule in spec.rules):
            errors.add(
                "spec.admission",
                "disabling admission processing is only allowed with validation policies",
            )
    seen: set[str] = set()
    for index, rule in enumerate(spec.rules):
        if rule.name in seen:
            errors.add(f"spec.rules[{index}].name", f"Duplicate rule name: '{rule.name}'")
        seen.add(rule.name)


def _rule(policy: KyvernoPolicy, rule: Rule, path: str, errors: _Errors) -> None:
    if not rule.name:
        errors.add(f"{path}.name", "a rule needs a name")
    if len(rule.name) > MAX_NAME_LENGTH:
        errors.add(f"{path}.name", f"may not be more than {MAX_NAME_LENGTH} bytes")
    count = len(rule.other_operations) + (1 if rule.has_verify_images else 0)
    if count == 0:
        errors.add(
            path,
            f"No operation defined in the rule '{rule.name}'.(supported operations:"
            " mutate,validate,generate,verifyImages)",
        )
    elif count > 1:
        errors.add(
            path,
            f"Multiple operations defined in the rule '{rule.name}', only one operation"
            " (mutate,validate,generate,verifyImages) is allowed per rule",
        )
    if rule.image_extractors is not None and not rule.has_verify_images:
        errors.add(
            f"{path}.imageExtractors",
            f"Invalid rule spec for rule '{rule.name}', imageExtractors can only be defined for"
            " verifyImages rule",
        )
    _match_exclude_conflict(rule, path, errors)
    _match_block(policy, rule.match, f"{path}.match", errors)
    if rule.exclude is not None:
        _match_block(policy, rule.exclude, f"{path}.exclude", errors)
        if rule.exclude.any and rule.exclude.all:
            errors.add(f"{path}.exclude", "can't specify any and all together")
        elif (rule.exclude.any or rule.exclude.all) and not rule.exclude.resources.is_empty:
            errors.add(f"{path}.exclude", "can't specify any/all together with exclude resources")
    match = rule.match
    if (match.any or match.all) and not match.resources.is_empty:
        errors.add(f"{path}.match", "can't specify any/all together with match resources")
    filters = match.any or match.all
    if filters:
        for index, entry in enumerate(filters):
            where = f"{path}.match.{'any' if match.any else 'all'}[{index}].resources"
            if entry.resources.is_empty:
                errors.add(where, "match resources not specified")
            elif not entry.resources.kinds:
                errors.add(where, _KINDS_REQUIRED)
    elif match.resources.is_empty:
        errors.add(f"{path}.match.resources", "match resources not specified")
    elif not match.resources.kinds:
        errors.add(f"{path}.match.resources", _KINDS_REQUIRED)
    if _has_variables_in_match(rule.match) or (
        rule.exclude is not None and _has_variables_in_match(rule.exclude)
    ):
        errors.add(path, f'rule "{rule.name}" should not have variables in match section')
    if rule.preconditions is not None:
        _conditions(rule.preconditions, f"{path}.preconditions", errors, check_operation=True)


_KINDS_REQUIRED = (
    "at least one element must be specified in a kind block, the kind attribute is mandatory"
    " when working with the resources element"
)


def _match_block(policy: KyvernoPolicy, block: MatchResources, path: str, errors: _Errors) -> None:
    if block.any and block.all:
        errors.add(path, "Can't specify any and all together")
    for name, filters in (("any", block.any), ("all", block.all)):
        for index, entry in enumerate(filters):
            where = f"{path}.{name}[{index}]"
            _user_info(entry.user_info, where, errors)
            _resource_description(policy, entry.resources, f"{where}.resources", errors)
    _user_info(block.user_info, path, errors)
    _resource_description(policy, block.resources, f"{path}.resources", errors)


def _user_info(info: UserInfo, path: str, errors: _Errors) -> None:
    for index, role in enumerate(info.roles):
        if role.count(":") != 1:
            errors.add(f"{path}.roles[{index}]", "Role is expected to be in namespace:name format")
    for index, subject in enumerate(info.subjects):
        where = f"{path}.subjects[{index}]"
        if not subject.kind:
            errors.add(f"{where}.kind", "Required value")
        elif subject.kind not in _SUBJECT_KINDS:
            errors.add(f"{where}.kind", "kind must be 'User', 'Group', or 'ServiceAccount'")
        if not subject.name:
            errors.add(f"{where}.name", "Required value")
        if subject.kind == "ServiceAccount" and not subject.namespace:
            errors.add(f"{where}.namespace", "namespace is required when Kind is ServiceAccount")


def _resource_description(
    policy: KyvernoPolicy, resources: ResourceDescription, path: str, errors: _Errors
) -> None:
    if resources.name and resources.names:
        errors.add(path, "Both name and names can not be specified together")
    for key, selector in (
        ("selector", resources.selector),
        ("namespaceSelector", resources.namespace_selector),
    ):
        if selector is None:
            continue
        problem = selector_problem(selector)
        if problem is not None:
            errors.add(f"{path}.{key}", problem)
        elif (
            key == "selector"
            and not _selector_has_wildcard(selector)
            and not selector.match_labels
            and not selector.match_expressions
        ):
            errors.add(f"{path}.selector", "The requirements are not specified in selector")
    if policy.is_namespaced and resources.namespaces:
        errors.add(f"{path}.namespaces", "Filtering namespaces not allowed in namespaced policies")


def _selector_has_wildcard(selector: LabelSelector) -> bool:
    return any(
        wildcard.contains_wildcard(key) or wildcard.contains_wildcard(value)
        for key, value in selector.match_labels.items()
    )


def selector_problem(selector: LabelSelector) -> str | None:
    """What makes a label selector invalid for Kubernetes, or ``None``.

    Wildcards in ``matchLabels`` are Kyverno's and are not checked here.
    """
    for requirement in selector.match_expressions:
        if requirement.operator not in _SELECTOR_OPERATORS:
            return f"{requirement.operator!r} is not a valid label selector operator"
        if requirement.operator in ("In", "NotIn") and not requirement.values:
            return "values: Required value: must be specified when `operator` is 'In' or 'NotIn'"
        if requirement.operator in ("Exists", "DoesNotExist") and requirement.values:
            return (
                "values: Forbidden: may not be specified when `operator` is 'Exists' or"
                " 'DoesNotExist'"
            )
    return None


def _has_variables(values: Iterable[str]) -> bool:
    return any(VARIABLE_PATTERN.search(value) for value in values)


def _has_variables_in_match(block: MatchResources) -> bool:
    for entry in block.filters:
        resources = entry.resources
        texts = [
            *resources.kinds,
            resources.name,
            *resources.names,
            *resources.namespaces,
            *resources.operations,
            *entry.user_info.roles,
            *entry.user_info.cluster_roles,
        ]
        for selector in (resources.selector, resources.namespace_selector):
            if selector is not None:
                texts.extend(selector.match_labels)
                texts.extend(selector.match_labels.values())
        if resources.annotations:
            texts.extend(resources.annotations)
            texts.extend(resources.annotations.values())
        if _has_variables(texts):
            return True
    return False


def _match_exclude_conflict(rule: Rule, path: str, errors: _Errors) -> None:
    """Kyverno's "Rule is matching an empty set": the exclude block covers the whole match."""
    exclude = rule.exclude
    if exclude is None or exclude.all or rule.match.all:
        return
    if rule.match.any and exclude.any:
        if any(entry in exclude.any for entry in rule.match.any):
            errors.add(path, "Rule is matching an empty set")
        return
    if exclude.is_empty or exclude.any or rule.match.any:
        return
    match_resources, exclude_resources = rule.match.resources, exclude.resources
    match_user, exclude_user = rule.match.user_info, exclude.user_info
    for wanted, given in (
        (exclude_user.roles, match_user.roles),
        (exclude_user.cluster_roles, match_user.cluster_roles),
        (exclude_user.subjects, match_user.subjects),
        (exclude_resources.namespaces, match_resources.namespaces),
        (exclude_resources.kinds, match_resources.kinds),
    ):
        if wanted and (not given or not set(given) <= set(wanted)):
            return
    if exclude_resources.name and not wildcard.match(exclude_resources.name, match_resources.name):
        return
    if exclude_resources.names:
        if match_resources.names and any(
            wildcard.match(excluded, name)
            for name in match_resources.names
            for excluded in exclude_resources.names
        ):
            errors.add(path, "Rule is matching an empty set")
        return
    for match_selector, exclude_selector in (
        (match_resources.selector, exclude_resources.selector),
        (match_resources.namespace_selector, exclude_resources.namespace_selector),
    ):
        if (match_selector is None) != (exclude_selector is None):
            return
        if match_selector is not None and exclude_selector is not None:
            if exclude_selector.match_expressions and (
                not match_selector.match_expressions
                or not set(match_selector.match_expressions)
                <= set(exclude_selector.match_expressions)
            ):
                return
            if exclude_selector.match_labels and (
                not match_selector.match_labels
                or any(
                    exclude_selector.match_labels.get(label) != value
                    for label, value in match_selector.match_labels.items()
                )
            ):
                return
    match_annotations = match_resources.annotations
    exclude_annotations = exclude_resources.annotations
    if (match_annotations is None) != (exclude_annotations is None):
        return
    if match_annotations is not None and dict(match_annotations) != dict(exclude_annotations or {}):
        return
    errors.add(path, "Rule is matching an empty set")


def _conditions(
    block: AnyAllConditions, path: str, errors: _Errors, *, check_operation: bool
) -> None:
    for name, conditions in (("any", block.any), ("all", block.all)):
        for index, condition in enumerate(conditions or ()):
            where = f"{path}.{name}[{index}]"
            if condition.operator.lower() not in _OPERATORS_LOWER:
                errors.add(
                    f"{where}.operator",
                    "entered value of `operator` is invalid. valid values: "
                    + ", ".join(f'"{operator}"' for operator in CONDITION_OPERATORS),
                )
            if not check_operation:
                continue
            if condition.key is None or condition.value is None or not condition.operator:
                errors.add(
                    where,
                    "entered value of `key`, `value` or `operator` is missing or misspelled",
                )
                continue
            if isinstance(condition.key, str) and condition.key.replace(" ", "") == (
                "{{request.operation}}"
            ):
                _operation_values(condition.value, where, errors)


def _operation_values(value: object, path: str, errors: _Errors) -> None:
    allowed = "[CREATE, UPDATE, DELETE, CONNECT]"
    if isinstance(value, str):
        if len(value) >= 4 and value.startswith("{{") and value.endswith("}}"):
            return
        if value not in _REQUEST_OPERATIONS:
            errors.add(
                f"{path}.value",
                f"unknown value '{value}' found under the 'value' field. Only the following"
                f" values are allowed: {allowed}",
            )
    elif isinstance(value, list):
        for index, item in enumerate(value):
            if not isinstance(item, str):
                errors.add(
                    f"{path}.value[{index}]",
                    f"'value[{index}]' found to be of the type {type(item).__name__}. The"
                    " provided values are expected to be strings",
                )
            elif item not in _REQUEST_OPERATIONS:
                errors.add(
                    f"{path}.value[{index}]",
                    f"unknown value '{item}' found under the 'value' field. Only the following"
                    f" values are allowed: {allowed}",
                )
    else:
        errors.add(
            f"{path}.value",
            "'value' field found to be of the type"
            f" {type(value).__name__}. The provided value/values are expected to be either in"
            " the form of a string or list",
        )


def _kinds(policy: KyvernoPolicy, rule: Rule, path: str, errors: _Errors) -> None:
    blocks: list[tuple[str, tuple[str, ...]]] = []
    for name, block in (("match", rule.match), ("exclude", rule.exclude)):
        if block is None:
            continue
        blocks.extend(
            (f"{path}.{name}.any[{i}].kinds", f.resources.kinds) for i, f in enumerate(block.any)
        )
        blocks.extend(
            (f"{path}.{name}.all[{i}].kinds", f.resources.kinds) for i, f in enumerate(block.all)
        )
        blocks.append((f"{path}.{name}.kinds", block.resources.kinds))
    for where, kinds in blocks:
        if "*" not in kinds:
            continue
        if policy.background:
            errors.add(
                where,
                "wildcard policy not allowed in background mode. Set spec.background=false to"
                " disable background mode for this policy rule",
            )
        elif len(kinds) > 1:
            errors.add(where, "wildcard policy can not deal with more than one kind")
        elif rule.has_verify_images:
            errors.add(where, "wildcard policy does not support rule type")


def _verify_images(policy: KyvernoPolicy, rule: Rule, path: str, errors: _Errors) -> None:
    if not rule.has_verify_images:
        return
    audit = not is_enforce(policy.spec.validation_failure_action)
    for index, entry in enumerate(rule.verify_images):
        if entry.failure_action is not None:
            # Kyverno carries this flag over to the following entries.
            audit = entry.failure_action != "Enforce"
        _image_verification(entry, audit, f"{path}.verifyImages[{index}]", errors)
    if (
        rule.image_extractors
        and any(entry.mutate_digest for entry in rule.verify_images)
        and any(c.jmes_path for configs in rule.image_extractors.values() for c in configs)
    ):
        errors.add(
            path,
            "jmespath may not be used in an image extractor when mutating digests with"
            " verify images",
        )
    if _has_variables(
        reference for entry in rule.verify_images for reference in entry.image_references
    ):
        errors.add(path, f'rule "{rule.name}" should not have variables in image reference section')
    for index, entry in enumerate(rule.verify_images):
        for number, attestation in enumerate(entry.attestations):
            for block_index, block in enumerate(attestation.conditions):
                _conditions(
                    block,
                    f"{path}.verifyImages[{index}].attestations[{number}].conditions[{block_index}]",
                    errors,
                    check_operation=False,
                )


def _image_verification(entry: ImageVerification, audit: bool, path: str, errors: _Errors) -> None:
    if audit and entry.mutate_digest:
        errors.add(f"{path}.mutateDigest", _MUTATE_DIGEST_WITH_AUDIT)
    if not entry.image_references:
        errors.add(path, "An image reference is required")
    for index, attestation in enumerate(entry.attestations):
        for number, attestor_set in enumerate(attestation.attestors):
            _attestor_set(attestor_set, f"{path}.attestations[{index}].attestors[{number}]", errors)
    for index, attestor_set in enumerate(entry.attestors):
        _attestor_set(attestor_set, f"{path}.attestors[{index}]", errors)
    if entry.type == "Notary":
        for attestor_set in entry.attestors:
            for attestor in attestor_set.entries:
                if attestor.keyless is not None:
                    errors.add(f"{path}.attestors", "Keyless field is not allowed for type notary")
                if attestor.keys is not None:
                    errors.add(f"{path}.attestors", "Keys field is not allowed for type notary")


def _attestor_set(attestor_set: AttestorSet, path: str, errors: _Errors) -> None:
    if attestor_set.count is not None:
        if attestor_set.count < 1:
            errors.add(f"{path}.count", "should be greater than or equal to 1")
        if attestor_set.count > len(attestor_set.entries):
            errors.add(path, "Count cannot exceed length of entries")
    if not attestor_set.entries:
        errors.add(path, "An entry is required")
    for index, attestor in enumerate(attestor_set.entries):
        _attestor(attestor, f"{path}.entries[{index}]", errors)


def _attestor(attestor: Attestor, path: str, errors: _Errors) -> None:
    kinds = [
        value
        for value in (attestor.keys, attestor.certificates, attestor.keyless, attestor.attestor)
        if value is not None
    ]
    if len(kinds) != 1:
        errors.add(path, "keys, certificates, keyless, or a nested attestor is required")
    if attestor.keys is not None:
        keys = attestor.keys
        if not keys.public_keys and not keys.kms and keys.secret is None:
            errors.add(f"{path}.keys", "A public key, kms key or secret is required")
        if keys.public_keys and keys.signature_algorithm not in _SIGNATURE_ALGORITHMS:
            errors.add(f"{path}.keys", "Invalid signature algorithm provided")
    certificates = attestor.certificates
    if certificates is not None and not certificates.cert and not certificates.cert_chain:
        errors.add(f"{path}.certificates", "cert or certChain required")
    if attestor.keyless is not None:
        keyless = attestor.keyless
        if keyless.rekor is None and not keyless.roots:
            errors.add(f"{path}.keyless", "Either Rekor URL or roots are required")
        if keyless.rekor is not None and not keyless.rekor.url:
            errors.add(f"{path}.keyless", "An URL is required")
    if attestor.attestor is not None:
        _attestor_set(attestor.attestor, f"{path}.attestor", errors)
