"""What an evaluation returns: :class:`PolicyReport`, one per resource, and its renderings.

A report lists one :class:`RuleResult` per response Kyverno's engine would give, in
evaluation order: in the *verify* step one per ``verifyImages`` entry and image that has
something to say (a signature or attestation check, a skip, a failed digest lookup), and in
the *validate* step one per rule that checks ``verifyDigest`` or ``required``. Statuses and
messages use Kyverno's words (``pass``, ``failed to verify image …``, ``missing digest for
…``, ``unverified image …``). Rules that do not apply to the resource, or see none of its
images, give no result at all, as in Kyverno.

Whether Kyverno would block the request:

* a ``fail`` blocks when the rule's action is Enforce (the entries' ``failureAction``, else
  ``validationFailureActionOverrides`` for the namespace, else the policy's
  ``validationFailureAction``);
* an ``error`` blocks when the policy's ``failurePolicy`` is ``Fail`` (the default), even
  under Audit.

The report also carries the JSON patches (``mutateDigest`` pins, after the
``kyverno.io/verify-images`` annotations, in the order Kyverno writes them), the patched
resource, and the warnings an admission response returns. It renders as an
``admission.k8s.io/v1`` AdmissionReview response (:meth:`PolicyReport.to_admission_response`)
and as a ``wgpolicyk8s.io/v1alpha2`` report (:meth:`PolicyReport.to_policy_report`).
"""

from __future__ import annotations

import base64
import enum
import html
import json
import re
import time
from collections.abc import Iterable, Mapping
from typing import Any, Final, Literal

import attrs

__all__ = [
    "CATEGORY_ANNOTATION",
    "POLICY_REPORT_API_VERSION",
    "SEVERITY_ANNOTATION",
    "PolicyReport",
    "RuleResult",
    "RuleStatus",
    "Step",
    "encode_patches",
]

#: The ``apiVersion`` of :meth:`PolicyReport.to_policy_report` documents.
POLICY_REPORT_API_VERSION: Final = "wgpolicyk8s.io/v1alpha2"
_ADMISSION_API_VERSION: Final = "admission.k8s.io/v1"
_PRECONDITIONS_NOT_MET: Final = "preconditions not met"
#: The policy annotation a result's ``category`` comes from.
CATEGORY_ANNOTATION: Final = "policies.kyverno.io/category"
#: The policy annotation a result's ``severity`` comes from.
SEVERITY_ANNOTATION: Final = "policies.kyverno.io/severity"
_NAME_UNSAFE = re.compile(r"[^a-z0-9.-]+")

#: The evaluation step a result comes from.
Step = Literal["verify", "validate"]


class RuleStatus(enum.Enum):
    """A rule response's status, with Kyverno's names.

    Attributes:
        PASS: the check passed.
        FAIL: the check failed (blocks under Enforce).
        WARN: a warning (not produced by verifyImages rules; kept for report summaries).
        ERROR: the check could not be made (blocks when the failure policy is Fail).
        SKIP: the rule or image was skipped (preconditions, ``skipImageReferences``...).
    """

    PASS = "pass"  # noqa: S105 - a status, not a password
    FAIL = "fail"
    WARN = "warn"
    ERROR = "error"
    SKIP = "skip"


# Worst first: what one status stands for when a rule gave several (the CLI's test command).
_SEVERITY_ORDER: Final = (
    RuleStatus.ERROR,
    RuleStatus.FAIL,
    RuleStatus.WARN,
    RuleStatus.PASS,
    RuleStatus.SKIP,
)


@attrs.frozen(kw_only=True)
class RuleResult:
    """One rule response.

    Attributes:
        policy: the policy's name.
        policy_namespace: the namespace of a ``Policy``; ``""`` for a ``ClusterPolicy``.
        rule: the rule's name (``autogen-…`` for generated pod-controller rules).
        status: pass, fail, warn, error or skip.
        message: Kyverno's message.
        step: ``verify`` (signatures, attestations, ``mutateDigest``) or ``validate``
            (``verifyDigest``/``required``).
        image: the image the result is about (Kyverno's normalised string), ``None`` for
            results about the whole rule.
        digest: the digest that verified, for passing signature/attestation checks.
        action: the rule's effective action, ``Audit`` or ``Enforce``.
        failure_policy: the policy's failure policy, ``Fail`` or ``Ignore``.
        emit_warning: whether an admission response carries it as a warning.
        properties: the rule's ``reportProperties``.
        category: the policy's ``policies.kyverno.io/category`` annotation.
        severity: the policy's ``policies.kyverno.io/severity`` annotation.
    """

    policy: str
    policy_namespace: str = ""
    rule: str
    status: RuleStatus
    message: str
    step: Step = "verify"
    image: str | None = None
    digest: str | None = None
    action: Literal["Audit", "Enforce"] = "Audit"
    failure_policy: Literal["Fail", "Ignore"] = "Fail"
    emit_warning: bool = False
    properties: Mapping[str, str] = attrs.field(factory=dict)
    category: str = ""
    severity: str = ""

    @property
    def policy_key(self) -> str:
        """``namespace/name`` for a ``Policy``, the name for a ``ClusterPolicy``."""
        return f"{self.policy_namespace}/{self.policy}" if self.policy_namespace else self.policy

    @property
    def blocking(self) -> bool:
        """Whether this result alone makes Kyverno deny the request."""
        if self.status is RuleStatus.FAIL:
            return self.action == "Enforce"
        return self.status is RuleStatus.ERROR and self.failure_policy == "Fail"

    @property
    def warning(self) -> str:
        """The admission warning for it: ``policy <policy>.<rule>: <message>``."""
        return f"policy {self.policy}.{self.rule}: {self.message}"

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (keys in a fixed order)."""
        return {
            "policy": self.policy_key,
            "rule": self.rule,
            "status": self.status.value,
            "message": self.message,
            "step": self.step,
            "image": self.image,
            "digest": self.digest,
            "action": self.action,
            "failure_policy": self.failure_policy,
            "blocking": self.blocking,
        }


def _metadata(resource: Mapping[str, Any]) -> Mapping[str, Any]:
    metadata = resource.get("metadata")
    return metadata if isinstance(metadata, Mapping) else {}


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _results(value: Iterable[RuleResult]) -> tuple[RuleResult, ...]:
    return tuple(value)


def _patches(value: Iterable[Mapping[str, Any]]) -> tuple[Mapping[str, Any], ...]:
    return tuple(value)


@attrs.frozen(kw_only=True, repr=False)
class PolicyReport:
    """The outcome of evaluating policies against one resource (see the module notes).

    Attributes:
        resource: the resource as given (for an AdmissionReview, its ``request.object``).
        results: every rule response, in evaluation order.
        patches: the JSON patches Kyverno would apply, as dicts: annotation patches first,
            then one ``replace`` per pinned image.
        patched_resource: the resource with :attr:`patches` applied (it shares the parts no
            patch touched with :attr:`resource`: treat both as read-only).
        operation: the admission operation (``CREATE`` when a plain resource was given).
        uid: the AdmissionReview request's ``uid`` (``""`` for a plain resource).
        review_api_version: the AdmissionReview's ``apiVersion`` the response must use.
    """

    resource: Mapping[str, Any]
    results: tuple[RuleResult, ...] = attrs.field(converter=_results)
    patches: tuple[Mapping[str, Any], ...] = attrs.field(default=(), converter=_patches)
    patched_resource: Mapping[str, Any] | None = None
    operation: str = "CREATE"
    uid: str = ""
    review_api_version: str = _ADMISSION_API_VERSION

    # -- what the resource is --------------------------------------------------------------

    @property
    def kind(self) -> str:
        """The resource's ``kind``."""
        return _text(self.resource.get("kind"))

    @property
    def name(self) -> str:
        """The resource's name (or ``generateName``)."""
        metadata = _metadata(self.resource)
        return _text(metadata.get("name")) or _text(metadata.get("generateName"))

    @property
    def namespace(self) -> str:
        """The resource's namespace (``""`` when cluster-scoped or not set)."""
        return _text(_metadata(self.resource).get("namespace"))

    # -- verdicts ------------------------------------------------------------------------

    @property
    def blocked(self) -> bool:
        """Whether Kyverno would deny the request (some result is :attr:`RuleResult.blocking`)."""
        return any(result.blocking for result in self.results)

    @property
    def allowed(self) -> bool:
        """The opposite of :attr:`blocked`."""
        return not self.blocked

    @property
    def image_patches(self) -> tuple[Mapping[str, Any], ...]:
        """The ``mutateDigest`` patches only (no annotation patches)."""
        return tuple(p for p in self.patches if not str(p.get("path", "")).startswith("/metadata"))

    @property
    def warnings(self) -> tuple[str, ...]:
        """The warnings an admission response carries, one per result that emits one."""
        return tuple(result.warning for result in self.results if result.emit_warning)

    def summary(self) -> dict[str, int]:
        """Counts per status: ``{"pass", "fail", "warn", "error", "skip"}``."""
        counts = {status.value: 0 for status in RuleStatus}
        for result in self.results:
            counts[result.status.value] += 1
        return counts

    def results_for(
        self, policy: str | None = None, rule: str | None = None
    ) -> tuple[RuleResult, ...]:
        """The results of one policy (name or ``namespace/name``) and/or rule."""
        return tuple(
            result
            for result in self.results
            if (policy is None or policy in (result.policy, result.policy_key))
            and (rule is None or rule == result.rule)
        )

    def status_of(self, policy: str, rule: str) -> RuleStatus | None:
        """One status for a policy's rule: the worst of its results (error, fail, warn, pass,
        skip in that order); ``None`` when the rule gave no result."""
        statuses = {result.status for result in self.results_for(policy, rule)}
        return next((status for status in _SEVERITY_ORDER if status in statuses), None)

    @property
    def message(self) -> str:
        """Kyverno's denial message, or ``""`` when nothing failed.

        Every policy's fail and error results are listed as YAML ``{policy: {rule:
        message}}`` (one message per rule, the last), after ``resource
        <Kind>/<namespace>/<name> was blocked due to the following policies``.
        """
        import yaml  # noqa: PLC0415 - only when a denial is rendered

        failures: dict[str, dict[str, str]] = {}
        for result in self.results:
            if result.status in (RuleStatus.PASS, RuleStatus.SKIP):
                continue
            if result.message == _PRECONDITIONS_NOT_MET:
                continue
            failures.setdefault(result.policy, {})[result.rule] = result.message
        if not failures:
            return ""
        listing = yaml.safe_dump(failures, default_flow_style=False, sort_keys=True, width=2**16)
        resource = f"{self.kind}/{self.namespace}/{self.name}"
        return f"\n\nresource {resource} was blocked due to the following policies \n\n{listing}"

    # -- renderings ----------------------------------------------------------------------

    def to_admission_response(self, uid: str | None = None) -> dict[str, Any]:
        """The AdmissionReview to answer the request with.

        Denied: ``allowed: false`` and a ``Failure`` status carrying :attr:`message`.
        Allowed: ``allowed: true`` and, when there are patches, ``patchType: JSONPatch`` and
        the base64 of the JSON patch array. Warnings are included either way.

        Args:
            uid: the request's ``uid``; default the one of the AdmissionReview evaluated.

        Returns:
            ``{"apiVersion", "kind": "AdmissionReview", "response": {...}}``.
        """
        from imagesig.policy.admission import admission_response  # noqa: PLC0415

        return admission_response(
            uid if uid is not None else self.uid,
            allowed=self.allowed,
            message=self.message if self.blocked else "",
            patches=self.patches if self.allowed else (),
            warnings=self.warnings,
            api_version=self.review_api_version,
        )

    def to_policy_report(
        self, *, source: str = "imagesig", timestamp: float | None = None
    ) -> dict[str, Any]:
        """The results as a ``wgpolicyk8s.io/v1alpha2`` ``PolicyReport``.

        A namespaced resource gets a ``PolicyReport`` in its namespace, a cluster-scoped one a
        ``ClusterPolicyReport``; the report is named after the resource's ``uid`` when it has
        one (as Kyverno names its per-resource reports).

        Args:
            source: the ``source`` of every result.
            timestamp: the results' time (Unix seconds); default now.
        """
        seconds = int(time.time() if timestamp is None else timestamp)
        metadata = _metadata(self.resource)
        uid = _text(metadata.get("uid"))
        scope: dict[str, Any] = {
            "apiVersion": _text(self.resource.get("apiVersion")),
            "kind": self.kind,
            "name": self.name,
        }
        if self.namespace:
            scope["namespace"] = self.namespace
        if uid:
            scope["uid"] = uid
        name = uid or _NAME_UNSAFE.sub("-", f"{self.kind}-{self.name}".lower()).strip("-.")
        report_metadata: dict[str, Any] = {
            "name": name,
            "labels": {"app.kubernetes.io/managed-by": source},
        }
        if self.namespace:
            report_metadata["namespace"] = self.namespace
        return {
            "apiVersion": POLICY_REPORT_API_VERSION,
            "kind": "PolicyReport" if self.namespace else "ClusterPolicyReport",
            "metadata": report_metadata,
            "scope": scope,
            "results": [_report_result(result, source, seconds) for result in self.results],
            "summary": self.summary(),
        }

    def to_dict(self) -> dict[str, Any]:
        """The JSON form used by ``imagesig policy apply --output json``."""
        return {
            "resource": {"kind": self.kind, "namespace": self.namespace, "name": self.name},
            "allowed": self.allowed,
            "message": self.message if self.blocked else "",
            "results": [result.to_dict() for result in self.results],
            "patches": [dict(p) for p in self.patches],
            "warnings": list(self.warnings),
            "summary": self.summary(),
        }

    def __repr__(self) -> str:
        verdict = "blocked" if self.blocked else "allowed"
        counts = ", ".join(f"{k}={v}" for k, v in self.summary().items() if v)
        return (
            f"PolicyReport({self.kind}/{self.namespace}/{self.name}: {verdict}"
            f"{', ' + counts if counts else ''}, patches={len(self.patches)})"
        )

    def _repr_html_(self) -> str:
        """A small HTML table for Jupyter: the verdict, then one row per result."""
        verdict = "blocked" if self.blocked else "allowed"
        rows = "".join(
            "<tr>"
            + "".join(
                f"<td>{html.escape(cell)}</td>"
                for cell in (
                    result.policy_key,
                    result.rule,
                    result.status.value,
                    result.image or "",
                    result.message,
                )
            )
            + "</tr>"
            for result in self.results
        )
        header = "".join(f"<th>{h}</th>" for h in ("policy", "rule", "status", "image", "message"))
        title = html.escape(f"{self.kind}/{self.namespace}/{self.name}: {verdict}")
        return f"<p><b>{title}</b></p><table><tr>{header}</tr>{rows}</table>"


def _report_result(result: RuleResult, source: str, seconds: int) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "policy": result.policy_key,
        "rule": result.rule,
        "result": result.status.value,
        "message": result.message,
        "scored": True,
        "source": source,
        "timestamp": {"seconds": seconds, "nanos": 0},
    }
    if result.category:
        entry["category"] = result.category
    if result.severity:
        entry["severity"] = result.severity
    properties = dict(result.properties)
    if result.image:
        properties.setdefault("image", result.image)
    if result.digest:
        properties.setdefault("digest", result.digest)
    if properties:
        entry["properties"] = properties
    return entry


def encode_patches(patches: Iterable[Mapping[str, Any]]) -> str:
    """Base64 of the compact JSON patch array, as an AdmissionReview response carries it."""
    text = json.dumps([dict(p) for p in patches], separators=(",", ":"))
    return base64.b64encode(text.encode()).decode("ascii")
