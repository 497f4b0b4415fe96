"""Evaluate Kyverno ``verifyImages`` policies: a resource or AdmissionReview in, a report out.

:class:`PolicyEvaluator` (blocking, with a :class:`~imagesig.Client`) and
:class:`AsyncPolicyEvaluator` (with an :class:`~imagesig.AsyncClient`) run one
implementation, written as a flow (:mod:`imagesig._flow`): the blocking one checks a
resource's images one after another, the async one concurrently. All I/O goes through the
:class:`~imagesig.policy.verifier.Verifier` (by default a
:class:`~imagesig.policy.verifier.ClientVerifier` on the evaluator's client).

What an evaluation does, as Kyverno's admission webhooks do it (kyverno.md §2.3, §2.8):

1. **Verify step**, for every policy in order and every rule (autogen rules included) that
   matches the resource and sees at least one of its images: context variables,
   preconditions (``skip`` "preconditions not met"), variables in the entries, then for each
   ``verifyImages`` entry every image of the rule (see :mod:`imagesig.policy._verify_step`).
   The rule's ``mutateDigest`` patches are applied before the next rule and policy look at
   the resource.
2. **Annotations**: when any image status was recorded, ``kyverno.io/verify-images`` and
   ``kyverno.io/verify-images-scoped`` are written by patches placed before the image
   patches.
3. **Validate step**, on the patched resource, for every rule with ``verifyDigest`` or
   ``required``: "missing digest for …" and "unverified image …" (a ``required`` image
   must have passed *this* policy's and rule's verify step in *this* evaluation).

``DELETE`` and ``CONNECT`` requests give an empty report (Kyverno registers its image
webhooks for ``CREATE`` and ``UPDATE`` only).

Deliberate differences from Kyverno, besides those of the verify step:

* ``required`` never trusts an annotation on the incoming object or, on ``UPDATE``, the old
  object's (Kyverno skips re-verification of unchanged images that its old annotation marks
  verified); with the cache, verifying again costs little;
* a resource whose images cannot all be read (an unparsable reference, a container without
  a name) fails every rule that matches it, "failed to extract images: …" (Kyverno sees no
  images and the rule silently does not apply, admitting the readable images unverified);
* results come in document order (Kyverno's order is that of Go maps, i.e. random);
* only ``variable`` context entries are loaded; the others (``configMap``, ``apiCall``,
  ``imageRegistry``, ``globalReference``) need a cluster and give ``error`` "failed to load
  context: …".

Example::

    policy = imagesig.load_policy("policies/check-image.yaml")
    with PolicyEvaluator(policy) as evaluator:
        report = evaluator.evaluate(pod)
    report.blocked, report.patches
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Final, Literal

import attrs

from imagesig._flow import Flow, Gather, drive_async, drive_sync
from imagesig.errors import ConditionError, PolicyError
from imagesig.policy import _jsonpatch, wildcard
from imagesig.policy._verify_step import (
    Evaluation,
    ImageOutcome,
    Response,
    RuleScope,
    entry_fingerprint,
    needs_substitution,
    substitute_entry,
    verify_image,
)
from imagesig.policy.admission import AdmissionRequest, is_admission_review
from imagesig.policy.cache import VerificationCache
from imagesig.policy.conditions import evaluate_conditions, substitute
from imagesig.policy.images import ExtractedImage, image_matches, rule_images
from imagesig.policy.match import (
    RequestInfo,
    ResourceIdentity,
    match_failures,
    parse_kind_selector,
    selector_matches,
)
from imagesig.policy.model import KyvernoPolicy, Rule, is_enforce
from imagesig.policy.report import (
    CATEGORY_ANNOTATION,
    SEVERITY_ANNOTATION,
    PolicyReport,
    RuleResult,
    RuleStatus,
)
from imagesig.policy.verifier import ClientVerifier, SecretLookup, Verifier
from imagesig.reference import DEFAULT_REGISTRY

if TYPE_CHECKING:
    from imagesig.client import AsyncClient, Client
    from imagesig.signatures.options import TransparencyLogOptions

__all__ = [
    "SCOPED_ANNOTATION",
    "VERIFY_IMAGES_ANNOTATION",
    "AsyncPolicyEvaluator",
    "PolicyEvaluator",
    "evaluate",
]

#: Image statuses of every policy (``{image: pass|fail|skip}``).
VERIFY_IMAGES_ANNOTATION: Final = "kyverno.io/verify-images"
#: Image statuses per policy and rule (``{"version": 1, "policies": {...}}``).
SCOPED_ANNOTATION: Final = "kyverno.io/verify-images-scoped"
#: How many images of one rule the async evaluator verifies at once.
DEFAULT_CONCURRENCY: Final = 16

_SKIPPED_OPERATIONS: Final = ("DELETE", "CONNECT")
# An extraction error quotes the image, which an attacker chooses: keep messages short.
_MAX_REASON: Final = 512
_PASS, _FAIL, _ERROR, _SKIP = RuleStatus.PASS, RuleStatus.FAIL, RuleStatus.ERROR, RuleStatus.SKIP


# ------------------------------------------------------------------------------------------
# what is evaluated


@attrs.frozen
class _Request:
    resource: Mapping[str, Any]
    operation: str
    old_object: Mapping[str, Any] | None
    namespace_labels: Mapping[str, str] | None
    user: RequestInfo | None
    identity: ResourceIdentity | None
    uid: str = ""
    api_version: str = "admission.k8s.io/v1"

    @property
    def kind(self) -> str:
        if self.identity is not None:
            return self.identity.kind
        value = self.resource.get("kind")
        return value if isinstance(value, str) else ""

    @property
    def namespace(self) -> str:
        metadata = self.resource.get("metadata")
        value = metadata.get("namespace") if isinstance(metadata, Mapping) else None
        return value if isinstance(value, str) else ""

    def context(self, resource: Mapping[str, Any]) -> dict[str, Any]:
        user = self.user or RequestInfo()
        identity = self.identity or ResourceIdentity.of(resource)
        metadata = resource.get("metadata")
        name = metadata.get("name") if isinstance(metadata, Mapping) else None
        return {
            "operation": self.operation,
            "object": resource,
            "oldObject": self.old_object,
            "namespace": self.namespace,
            "name": name if isinstance(name, str) else "",
            "uid": self.uid,
            "kind": {"group": identity.group, "version": identity.version, "kind": identity.kind},
            "userInfo": {"username": user.username, "groups": list(user.groups)},
        }


def _request(
    subject: Mapping[str, Any],
    *,
    operation: str | None,
    old_object: Mapping[str, Any] | None,
    namespace_labels: Mapping[str, str] | None,
    user: RequestInfo | None,
    subresource: str,
) -> _Request:
    if not isinstance(subject, Mapping):
        raise TypeError(
            f"a resource or AdmissionReview must be a mapping, not {type(subject).__name__}"
        )
    if is_admission_review(subject):
        review = AdmissionRequest.from_review(subject)
        return _Request(
            resource=review.resource,
            operation=operation or review.operation,
            old_object=old_object if old_object is not None else review.old_object,
            namespace_labels=namespace_labels,
            user=user if user is not None else review.user,
            identity=review.identity,
            uid=review.uid,
            api_version=review.api_version,
        )
    identity = ResourceIdentity.of(subject, subresource) if subresource else None
    return _Request(
        resource=subject,
        operation=operation or "CREATE",
        old_object=old_object,
        namespace_labels=namespace_labels,
        user=user,
        identity=identity,
    )


# ------------------------------------------------------------------------------------------
# policies prepared once


@attrs.frozen
class _CompiledRule:
    rule: Rule
    templated: tuple[bool, ...]
    fingerprints: tuple[str, ...]
    # The only kinds the rule can select, when its match says so plainly (a quick no).
    kinds: frozenset[str] | None = None


def _plain_kinds(rule: Rule) -> frozenset[str] | None:
    """The kinds every ``match`` filter is limited to, or ``None`` when that is not plain."""
    filters = rule.match.filters
    if not filters:
        return None
    kinds: set[str] = set()
    for entry in filters:
        if not entry.resources.kinds:
            return None
        for selector in entry.resources.kinds:
            kind = parse_kind_selector(selector)[2]
            if not kind or wildcard.contains_wildcard(kind):
                return None
            kinds.add(kind)
    return frozenset(kinds)


@attrs.frozen
class _CompiledPolicy:
    policy: KyvernoPolicy
    rules: tuple[_CompiledRule, ...]
    category: str
    severity: str


def _compile(policy: KyvernoPolicy) -> _CompiledPolicy:
    rules = []
    for rule in policy.computed_rules():
        if not rule.verify_images:
            continue
        templated = tuple(needs_substitution(entry) for entry in rule.verify_images)
        fingerprints = tuple(
            "" if variable else entry_fingerprint(entry)
            for entry, variable in zip(rule.verify_images, templated, strict=True)
        )
        rules.append(_CompiledRule(rule, templated, fingerprints, _plain_kinds(rule)))
    return _CompiledPolicy(
        policy,
        tuple(rules),
        policy.annotations.get(CATEGORY_ANNOTATION, ""),
        policy.annotations.get(SEVERITY_ANNOTATION, ""),
    )


def _as_policies(policies: KyvernoPolicy | Iterable[KyvernoPolicy]) -> tuple[KyvernoPolicy, ...]:
    if isinstance(policies, KyvernoPolicy):
        return (policies,)
    result = tuple(policies)
    for policy in result:
        if not isinstance(policy, KyvernoPolicy):
            raise TypeError(f"expected policies, got {type(policy).__name__}")
    return result


# ------------------------------------------------------------------------------------------
# the evaluation


@attrs.define
class _Run:
    """One evaluation in progress."""

    request: _Request
    ev: Evaluation
    resource: Mapping[str, Any]
    results: list[RuleResult] = attrs.field(factory=list)
    patches: list[Mapping[str, Any]] = attrs.field(factory=list)


def _action(policy: KyvernoPolicy, rule: Rule, request: _Request) -> Literal["Audit", "Enforce"]:
    own = rule.failure_action()
    if own is not None:
        return own
    namespace = request.namespace
    for override in policy.spec.validation_failure_action_overrides:
        if override.namespaces is not None and not wildcard.match_any(
            override.namespaces, namespace
        ):
            continue
        if override.namespace_selector is not None:
            labels = request.namespace_labels
            if labels is None or not selector_matches(override.namespace_selector, labels):
                continue
        return "Enforce" if is_enforce(override.action) else "Audit"
    return "Enforce" if policy.enforce else "Audit"


class _EvaluatorBase:
    """Policies compiled once, the verifier, the cache and the evaluation flow."""

    def _setup(
        self,
        policies: KyvernoPolicy | Iterable[KyvernoPolicy],
        *,
        verifier: Verifier | None,
        default_tlog: TransparencyLogOptions | None,
        secrets: SecretLookup | None,
        key_options: Mapping[str, Any] | None,
        cache: VerificationCache | None,
        use_cache: bool,
        default_registry: str,
        enable_default_registry_mutation: bool,
        annotate: bool,
        concurrency: int,
    ) -> None:
        self._policies = _as_policies(policies)
        self._compiled = tuple(_compile(policy) for policy in self._policies)
        self.verifier: Verifier = (
            verifier
            if verifier is not None
            else ClientVerifier(tlog=default_tlog, secrets=secrets, key_options=key_options)
        )
        self.cache: VerificationCache | None = (
            (cache if cache is not None else VerificationCache()) if use_cache else None
        )
        self._default_registry = default_registry
        self._registry_mutation = enable_default_registry_mutation
        self._annotate = annotate
        self._concurrency = max(1, concurrency)

    @property
    def policies(self) -> tuple[KyvernoPolicy, ...]:
        """The policies evaluated, in order."""
        return self._policies

    # -- the flow -------------------------------------------------------------------------

    def _flow(self, request: _Request) -> Flow[PolicyReport]:
        run = _Run(request, Evaluation(self.verifier, self.cache), request.resource)
        if request.operation not in _SKIPPED_OPERATIONS and request.resource:
            kind = request.kind
            for compiled in self._compiled:
                for rule in compiled.rules:
                    if rule.kinds is not None and kind not in rule.kinds:
                        continue
                    applied = yield from self._verify_rule(run, compiled, rule)
                    if applied and compiled.policy.spec.apply_rules == "One":
                        break
            image_patches = list(run.patches)
            annotations = self._annotation_patches(run) if self._annotate else []
            if annotations:
                run.resource = _jsonpatch.apply_patches(run.resource, annotations)
                run.patches = annotations + image_patches
            for compiled in self._compiled:
                for rule in compiled.rules:
                    if rule.kinds is not None and kind not in rule.kinds:
                        continue
                    applied = self._validate_rule(run, compiled, rule.rule)
                    if applied and compiled.policy.spec.apply_rules == "One":
                        break
        return PolicyReport(
            resource=request.resource,
            results=tuple(run.results),
            patches=tuple(run.patches),
            patched_resource=run.resource,
            operation=request.operation,
            uid=request.uid,
            review_api_version=request.api_version,
        )

    def _result(
        self,
        run: _Run,
        compiled: _CompiledPolicy,
        rule: Rule,
        response: Response,
        *,
        step: Literal["verify", "validate"] = "verify",
        image: str | None = None,
    ) -> None:
        policy = compiled.policy
        warn = response.warn or (policy.spec.emit_warning is True and response.status is not _SKIP)
        run.results.append(
            RuleResult(
                policy=policy.name,
                policy_namespace=policy.namespace if policy.is_namespaced else "",
                rule=rule.name,
                status=response.status,
                message=response.message,
                step=step,
                image=image,
                digest=response.digest,
                action=_action(policy, rule, run.request),
                failure_policy=policy.failure_policy,
                emit_warning=warn,
                properties=dict(rule.report_properties),
                category=compiled.category,
                severity=compiled.severity,
            )
        )

    def _applicable(
        self, run: _Run, compiled: _CompiledPolicy, rule: Rule
    ) -> tuple[list[ExtractedImage], dict[str, Any]] | Response | None:
        """The rule's images and context, a response that ends the rule, or ``None``."""
        request = run.request
        try:
            failures = match_failures(
                rule,
                run.resource,
                policy=compiled.policy,
                operation=request.operation,
                namespace_labels=request.namespace_labels,
                user=request.user,
                identity=request.identity,
            )
        except PolicyError as exc:
            return Response(_ERROR, f"failed to match the rule: {exc.message}", warn=True)
        if failures:
            return None
        extraction = rule_images(
            run.resource,
            rule,
            default_registry=self._default_registry,
            enable_default_registry_mutation=self._registry_mutation,
        )
        if extraction.error is not None:
            # Kyverno sees no images and lets the resource through; an image the runtime
            # could still pull next to an unparsable one would go unverified.
            why = extraction.error
            if len(why) > _MAX_REASON:
                why = why[:_MAX_REASON] + "…"
            return Response(_FAIL, f"failed to extract images: {why}", warn=True)
        images = [image for image in extraction.images if image_matches(image, rule.verify_images)]
        if not images:
            return None
        context: dict[str, Any] = {
            "request": request.context(run.resource),
            "images": extraction.context(),
        }
        try:
            _load_context(rule, context)
        except (ConditionError, PolicyError) as exc:
            return Response(_ERROR, f"failed to load context: {exc.message}", warn=True)
        if rule.preconditions is not None:
            try:
                holds, message = evaluate_conditions(rule.preconditions, context)
            except ConditionError as exc:
                return Response(
                    _ERROR, f"failed to evaluate preconditions: {exc.message}", warn=True
                )
            if not holds:
                text = "preconditions not met" + (f"; {message}" if message else "")
                return Response(_SKIP, text)
        return images, context

    def _verify_rule(
        self, run: _Run, compiled: _CompiledPolicy, compiled_rule: _CompiledRule
    ) -> Flow[bool]:
        rule = compiled_rule.rule
        applicable = self._applicable(run, compiled, rule)
        if applicable is None:
            return False
        if isinstance(applicable, Response):
            self._result(run, compiled, rule, applicable)
            return True
        images, context = applicable
        try:
            entries = tuple(
                substitute_entry(entry, context) if variable else entry
                for entry, variable in zip(rule.verify_images, compiled_rule.templated, strict=True)
            )
        except ConditionError as exc:
            message = f"failed to substitute variables: {exc.message}"
            self._result(run, compiled, rule, Response(_ERROR, message, warn=True))
            return True
        scope = RuleScope(compiled.policy, rule, entries, context)
        patches: list[Mapping[str, Any]] = []
        patched: set[str] = set()
        for entry, variable, fingerprint in zip(
            entries, compiled_rule.templated, compiled_rule.fingerprints, strict=True
        ):
            print_ = entry_fingerprint(entry) if variable else fingerprint
            flows = [verify_image(run.ev, scope, entry, print_, image) for image in images]
            outcomes: list[ImageOutcome] = yield Gather(flows, limit=self._concurrency)
            for image, outcome in zip(images, outcomes, strict=True):
                if outcome.patch is not None and image.pointer not in patched:
                    patched.add(image.pointer)
                    patches.append(outcome.patch)
                self._take(run, compiled, rule, image, outcome)
        if patches:
            run.resource = _jsonpatch.apply_patches(run.resource, patches)
            run.patches.extend(patches)
        return True

    def _take(
        self,
        run: _Run,
        compiled: _CompiledPolicy,
        rule: Rule,
        image: ExtractedImage,
        outcome: ImageOutcome,
    ) -> None:
        if outcome.extra is not None:
            self._result(run, compiled, rule, outcome.extra, image=image.reference)
        if outcome.response is not None:
            if outcome.record:
                run.ev.record(
                    compiled.policy, rule.name, outcome.recorded_as, outcome.response.status
                )
            self._result(run, compiled, rule, outcome.response, image=image.reference)

    # -- annotations and the validate step -------------------------------------------------

    def _annotation_patches(self, run: _Run) -> list[Mapping[str, Any]]:
        import json  # noqa: PLC0415 - only when something was recorded

        if not run.ev.statuses:
            return []
        patches: list[Mapping[str, Any]] = []
        metadata = run.resource.get("metadata")
        if not isinstance(metadata, Mapping):
            patches.append(_jsonpatch.patch("add", "/metadata", {}))
            metadata = {}
        if not isinstance(metadata.get("annotations"), Mapping):
            patches.append(_jsonpatch.patch("add", "/metadata/annotations", {}))
        statuses = json.dumps(run.ev.statuses, sort_keys=True, separators=(",", ":"))
        scoped = json.dumps(
            {"policies": run.ev.scoped, "version": 1}, sort_keys=True, separators=(",", ":")
        )
        for key, value in ((VERIFY_IMAGES_ANNOTATION, statuses), (SCOPED_ANNOTATION, scoped)):
            path = f"/metadata/annotations/{_jsonpatch.escape(key)}"
            patches.append(_jsonpatch.patch("add", path, value))
        return patches

    def _validate_rule(self, run: _Run, compiled: _CompiledPolicy, rule: Rule) -> bool:
        if not rule.has_verify_image_checks:
            return False
        applicable = self._applicable(run, compiled, rule)
        if applicable is None:
            return False
        if isinstance(applicable, Response):
            self._result(run, compiled, rule, applicable, step="validate")
            return True
        images, _ = applicable
        response = _validate(run.ev, compiled.policy, rule, images)
        self._result(run, compiled, rule, response, step="validate")
        return True


def _validate(
    ev: Evaluation, policy: KyvernoPolicy, rule: Rule, images: list[ExtractedImage]
) -> Response:
    """Kyverno's validate handler: digests and ``required`` for the rule's images."""
    passed: list[str] = []
    skipped: list[str] = []
    for entry in rule.verify_images:
        for image in images:
            text = image.reference
            if not wildcard.match_any(entry.image_references, text):
                continue
            if entry.verify_digest and not image.info.digest:
                return Response(_FAIL, f"missing digest for {text}", warn=True)
            if not entry.required:
                continue
            status = ev.recorded(policy, rule.name, text)
            if status is None or status == "fail":
                return Response(_FAIL, f"unverified image {text}", warn=True)
            (skipped if status == "skip" else passed).append(text)
    if passed or not skipped:
        if skipped:
            return Response(_PASS, " ".join(["image verified, skipped images:", *skipped]))
        return Response(_PASS, "image verified")
    return Response(_SKIP, " ".join(["image skipped, skipped images:", *skipped]))


def _load_context(rule: Rule, context: dict[str, Any]) -> None:
    """Load a rule's ``context`` entries; only ``variable`` entries need no cluster."""
    from imagesig.policy import _jmespath  # noqa: PLC0415 - only for rules with context

    for entry in rule.context:
        name = entry.get("name")
        if not isinstance(name, str) or not name:
            raise PolicyError("a context entry has no name")
        variable = entry.get("variable")
        if not isinstance(variable, Mapping):
            kinds = sorted(set(entry) - {"name"})
            kind = kinds[0] if kinds else "unknown"
            raise PolicyError(
                f"context entry {name}: {kind} entries need a cluster and are not supported"
            )
        value = substitute(variable["value"], context) if "value" in variable else None
        expression = variable.get("jmesPath")
        if isinstance(expression, str) and expression:
            expression = substitute(expression, context)
            value = _jmespath.search(str(expression), value if value is not None else context)
        if value is None:
            value = substitute(variable.get("default"), context)
        context[name] = value


# ------------------------------------------------------------------------------------------
# the two evaluators


class PolicyEvaluator(_EvaluatorBase):
    """Evaluate policies with a blocking :class:`~imagesig.Client`.

    Args:
        policies: one policy or several, evaluated in order.
        client: the client registries and logs are reached with; default a new
            :class:`~imagesig.Client`, closed by :meth:`close`.
        verifier: answers the verification questions; default a
            :class:`~imagesig.policy.verifier.ClientVerifier` on ``client``.
        tlog: transparency-log options for attestors without a ``rekor`` block (the default
            log and the trusted root); default the client's.
        secrets: looks up Kubernetes Secrets named by ``keys.secret`` and ``k8s://`` keys.
        key_options: options for :func:`~imagesig.signers.verifier_from_uri` (KMS keys).
        cache: the verification cache (see :mod:`imagesig.policy.cache`); default a new one.
        use_cache: ``False`` turns caching off whatever the rules say.
        default_registry: Kyverno's ``defaultRegistry`` setting.
        enable_default_registry_mutation: Kyverno's ``enableDefaultRegistryMutation``.
        annotate: write the ``kyverno.io/verify-images`` annotation patches.
        concurrency: images of one rule verified at once (by the async evaluator).
    """

    def __init__(
        self,
        policies: KyvernoPolicy | Iterable[KyvernoPolicy],
        *,
        client: Client | None = None,
        verifier: Verifier | None = None,
        tlog: TransparencyLogOptions | None = None,
        secrets: SecretLookup | None = None,
        key_options: Mapping[str, Any] | None = None,
        cache: VerificationCache | None = None,
        use_cache: bool = True,
        default_registry: str = DEFAULT_REGISTRY,
        enable_default_registry_mutation: bool = True,
        annotate: bool = True,
        concurrency: int = DEFAULT_CONCURRENCY,
    ) -> None:
        self._client = client
        self._owned: Client | None = None
        self._setup(
            policies,
            verifier=verifier,
            default_tlog=tlog if tlog is not None else (client.tlog if client else None),
            secrets=secrets,
            key_options=key_options,
            cache=cache,
            use_cache=use_cache,
            default_registry=default_registry,
            enable_default_registry_mutation=enable_default_registry_mutation,
            annotate=annotate,
            concurrency=concurrency,
        )

    @property
    def client(self) -> Client:
        """The client I/O goes through (created on first use when none was given)."""
        if self._client is None:
            from imagesig.client import Client  # noqa: PLC0415 - lazy layer

            self._owned = self._client = Client()
        return self._client

    def evaluate(
        self,
        resource: Mapping[str, Any],
        *,
        operation: str | None = None,
        old_object: Mapping[str, Any] | None = None,
        namespace_labels: Mapping[str, str] | None = None,
        user: RequestInfo | None = None,
        subresource: str = "",
    ) -> PolicyReport:
        """Evaluate the policies against a resource or an AdmissionReview.

        Args:
            resource: a Kubernetes object, or an ``admission.k8s.io`` AdmissionReview (its
                uid, operation, user, old object and namespace are used).
            operation: ``CREATE`` (default for a plain resource), ``UPDATE``, ``DELETE`` or
                ``CONNECT``; overrides the review's.
            old_object: the object before an ``UPDATE``.
            namespace_labels: labels of the resource's namespace, needed by
                ``namespaceSelector`` (``{}`` matches against no labels).
            user: who made the request, for ``roles``/``clusterRoles``/``subjects``.
            subresource: the subresource of the request (``ephemeralcontainers``...).

        Returns:
            The report; :attr:`~imagesig.policy.report.PolicyReport.blocked` says whether
            Kyverno would deny the request.

        Raises:
            AdmissionReviewError: an AdmissionReview is malformed.
            TypeError: ``resource`` is not a mapping.
        """
        request = _request(
            resource,
            operation=operation,
            old_object=old_object,
            namespace_labels=namespace_labels,
            user=user,
            subresource=subresource,
        )
        report: PolicyReport = drive_sync(self._flow(request), self.client)
        return report

    def close(self) -> None:
        """Close the client this evaluator created (not one it was given)."""
        if self._owned is not None:
            self._owned.close()
            self._owned = self._client = None

    def __enter__(self) -> PolicyEvaluator:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        names = ", ".join(policy.name for policy in self._policies)
        return f"PolicyEvaluator([{names}], verifier={self.verifier!r})"


class AsyncPolicyEvaluator(_EvaluatorBase):
    """Evaluate policies with an :class:`~imagesig.AsyncClient`; the images of a rule are
    verified concurrently. Arguments as for :class:`PolicyEvaluator`."""

    def __init__(
        self,
        policies: KyvernoPolicy | Iterable[KyvernoPolicy],
        *,
        client: AsyncClient | None = None,
        verifier: Verifier | None = None,
        tlog: TransparencyLogOptions | None = None,
        secrets: SecretLookup | None = None,
        key_options: Mapping[str, Any] | None = None,
        cache: VerificationCache | None = None,
        use_cache: bool = True,
        default_registry: str = DEFAULT_REGISTRY,
        enable_default_registry_mutation: bool = True,
        annotate: bool = True,
        concurrency: int = DEFAULT_CONCURRENCY,
    ) -> None:
        self._client = client
        self._owned: AsyncClient | None = None
        self._setup(
            policies,
            verifier=verifier,
            default_tlog=tlog if tlog is not None else (client.tlog if client else None),
            secrets=secrets,
            key_options=key_options,
            cache=cache,
            use_cache=use_cache,
            default_registry=default_registry,
            enable_default_registry_mutation=enable_default_registry_mutation,
            annotate=annotate,
            concurrency=concurrency,
        )

    @property
    def client(self) -> AsyncClient:
        """The client I/O goes through (created on first use when none was given)."""
        if self._client is None:
            from imagesig.client import AsyncClient  # noqa: PLC0415 - lazy layer

            self._owned = self._client = AsyncClient()
        return self._client

    async def evaluate(
        self,
        resource: Mapping[str, Any],
        *,
        operation: str | None = None,
        old_object: Mapping[str, Any] | None = None,
        namespace_labels: Mapping[str, str] | None = None,
        user: RequestInfo | None = None,
        subresource: str = "",
    ) -> PolicyReport:
        """Evaluate the policies; see :meth:`PolicyEvaluator.evaluate`."""
        request = _request(
            resource,
            operation=operation,
            old_object=old_object,
            namespace_labels=namespace_labels,
            user=user,
            subresource=subresource,
        )
        report: PolicyReport = await drive_async(self._flow(request), self.client)
        return report

    async def aclose(self) -> None:
        """Close the client this evaluator created (not one it was given)."""
        if self._owned is not None:
            await self._owned.aclose()
            self._owned = self._client = None

    async def __aenter__(self) -> AsyncPolicyEvaluator:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        names = ", ".join(policy.name for policy in self._policies)
        return f"AsyncPolicyEvaluator([{names}], verifier={self.verifier!r})"


_CALL_OPTIONS: Final = frozenset(
    {"operation", "old_object", "namespace_labels", "user", "subresource"}
)


def evaluate(
    policies: KyvernoPolicy | Iterable[KyvernoPolicy],
    resource: Mapping[str, Any],
    **options: Any,
) -> PolicyReport:
    """Evaluate policies against one resource or AdmissionReview, once.

    A convenience over :class:`PolicyEvaluator`, whose cache is thrown away afterwards.
    ``options`` are those of :meth:`PolicyEvaluator.evaluate` (``operation``,
    ``namespace_labels``...) and of :class:`PolicyEvaluator` (``client``, ``verifier``,
    ``tlog``...).

    Raises:
        AdmissionReviewError: an AdmissionReview is malformed.
        TypeError: an unknown option.
    """
    call = {key: value for key, value in options.items() if key in _CALL_OPTIONS}
    setup = {key: value for key, value in options.items() if key not in _CALL_OPTIONS}
    with PolicyEvaluator(policies, **setup) as evaluator:
        return evaluator.evaluate(resource, **call)
