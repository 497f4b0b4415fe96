"""The frozen model of Kyverno ``ClusterPolicy`` / ``Policy`` documents (``verifyImages`` rules).

Field names follow Python style; each class's docstring names the Kyverno field behind every
attribute. :mod:`imagesig.policy.load` builds these from YAML or dicts, after Kyverno's CRD
defaults and its ``Convert()`` of the deprecated single-image fields, and after the checks
Kyverno's admission makes; code that builds them by hand gets no such checks.

Absent and empty are kept apart where Kyverno tells them apart (``annotations: {}`` stops
autogen, ``any: []`` is an ``any`` block that nothing satisfies), so optional blocks are
``None`` when absent.

Mappings are read-only (:class:`types.MappingProxyType`); sequences are tuples.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final, Literal

import attrs

if TYPE_CHECKING:
    from imagesig.policy.report import PolicyReport

__all__ = [
    "AUTOGEN_CONTROLLERS_ANNOTATION",
    "DEFAULT_REKOR_URL",
    "AnyAllConditions",
    "Attestation",
    "Attestor",
    "AttestorSet",
    "CTLog",
    "CertificateAttestor",
    "ClusterPolicy",
    "Condition",
    "DeprecatedImageFields",
    "FailureAction",
    "ImageExtractorConfig",
    "ImageRegistryCredentials",
    "ImageVerification",
    "KeylessAttestor",
    "KyvernoPolicy",
    "LabelSelector",
    "LabelSelectorRequirement",
    "MatchResources",
    "Policy",
    "PolicySpec",
    "Rekor",
    "ResourceDescription",
    "ResourceFilter",
    "Rule",
    "SecretReference",
    "StaticKeyAttestor",
    "Subject",
    "UserInfo",
    "ValidateImageVerification",
    "ValidationFailureActionOverride",
    "WebhookConfiguration",
    "is_enforce",
]

#: Annotation that restricts (or with ``none`` disables) the generated pod-controller rules.
AUTOGEN_CONTROLLERS_ANNOTATION: Final = "pod-policies.kyverno.io/autogen-controllers"
#: The transparency log Kyverno uses for an attestor without a ``rekor`` block.
DEFAULT_REKOR_URL: Final = "https://rekor.sigstore.dev"

#: A per-entry action, as ``failureAction`` allows it.
FailureAction = Literal["Audit", "Enforce"]

_EMPTY_MAP: Mapping[str, str] = MappingProxyType({})
_PEM_END = "-----END PUBLIC KEY-----"


def is_enforce(action: str | None) -> bool:
    """Tell whether a ``validationFailureAction``/``failureAction`` value means Enforce.

    Only ``Enforce`` and the deprecated ``enforce`` do; anything else, empty included, is Audit.
    """
    return action in ("Enforce", "enforce")


def _frozen_map(value: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return _EMPTY_MAP if not value else MappingProxyType(dict(value))


def _optional_map(value: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    return None if value is None else MappingProxyType(dict(value))


# ------------------------------------------------------------------------------------------
# match / exclude


@attrs.frozen(kw_only=True)
class LabelSelectorRequirement:
    """One ``matchExpressions`` entry of a label selector.

    Attributes:
        key: the label key.
        operator: ``In``, ``NotIn``, ``Exists`` or ``DoesNotExist``.
        values: the values (empty for ``Exists``/``DoesNotExist``).
    """

    key: str
    operator: str
    values: tuple[str, ...] = ()


@attrs.frozen(kw_only=True)
class LabelSelector:
    """A Kubernetes label selector; Kyverno lets ``matchLabels`` keys and values hold wildcards.

    Attributes:
        match_labels: ``matchLabels``.
        match_expressions: ``matchExpressions``.
    """

    match_labels: Mapping[str, str] = attrs.field(default=_EMPTY_MAP, converter=_frozen_map)
    match_expressions: tuple[LabelSelectorRequirement, ...] = ()


@attrs.frozen(kw_only=True)
class ResourceDescription:
    """What a resource must look like (``resources`` of a match/exclude filter).

    Inside one description every given attribute must hold; inside a list one entry is
    enough.

    Attributes:
        kinds: ``kinds``: ``Kind``, ``version/Kind``, ``group/version/Kind``, optionally with
            ``/subresource``; every part a wildcard.
        name: deprecated ``name`` (a wildcard), ``""`` when absent.
        names: ``names`` (wildcards).
        namespaces: ``namespaces`` (wildcards).
        annotations: ``annotations`` (wildcard keys and values); ``None`` when absent.
        selector: ``selector`` on the resource's labels; ``None`` when absent.
        namespace_selector: ``namespaceSelector`` on its namespace's labels.
        operations: ``operations`` (``CREATE``, ``UPDATE``, ``DELETE``, ``CONNECT``).
    """

    kinds: tuple[str, ...] = ()
    name: str = ""
    names: tuple[str, ...] = ()
    namespaces: tuple[str, ...] = ()
    annotations: Mapping[str, str] | None = attrs.field(default=None, converter=_optional_map)
    selector: LabelSelector | None = None
    namespace_selector: LabelSelector | None = None
    operations: tuple[str, ...] = ()

    @property
    def is_empty(self) -> bool:
        """Whether no attribute is given (Kyverno's ``IsEmpty``)."""
        return not (
            self.kinds
            or self.name
            or self.names
            or self.namespaces
            or self.annotations
            or self.selector is not None
            or self.namespace_selector is not None
            or self.operations
        )


@attrs.frozen(kw_only=True)
class Subject:
    """An RBAC subject of a match/exclude filter.

    Attributes:
        kind: ``User``, ``Group`` or ``ServiceAccount``.
        name: the name (a wildcard).
        namespace: the service account's namespace.
        api_group: ``apiGroup``.
    """

    kind: str
    name: str
    namespace: str = ""
    api_group: str = ""


@attrs.frozen(kw_only=True)
class UserInfo:
    """Who made the request; only checked when the caller supplies request user info.

    Attributes:
        roles: ``roles`` (``namespace:name``).
        cluster_roles: ``clusterRoles``.
        subjects: ``subjects``.
    """

    roles: tuple[str, ...] = ()
    cluster_roles: tuple[str, ...] = ()
    subjects: tuple[Subject, ...] = ()

    @property
    def is_empty(self) -> bool:
        """Whether nothing is given."""
        return not (self.roles or self.cluster_roles or self.subjects)


@attrs.frozen(kw_only=True)
class ResourceFilter:
    """One entry of ``any``/``all``: a resource description and user info, both required.

    Attributes:
        resources: ``resources``.
        user_info: ``roles``/``clusterRoles``/``subjects``.
    """

    resources: ResourceDescription = ResourceDescription()
    user_info: UserInfo = UserInfo()

    @property
    def is_empty(self) -> bool:
        """Whether neither part says anything ("match cannot be empty")."""
        return self.resources.is_empty and self.user_info.is_empty


@attrs.frozen(kw_only=True)
class MatchResources:
    """A ``match`` or ``exclude`` block.

    Exactly one form is used: ``any`` (one filter is enough), ``all`` (every filter), or the
    deprecated bare form (``resources`` plus user info directly in the block).

    Attributes:
        any: ``any`` filters.
        all: ``all`` filters.
        resources: the bare form's ``resources``.
        user_info: the bare form's ``roles``/``clusterRoles``/``subjects``.
    """

    any: tuple[ResourceFilter, ...] = ()
    all: tuple[ResourceFilter, ...] = ()
    resources: ResourceDescription = ResourceDescription()
    user_info: UserInfo = UserInfo()

    @property
    def is_empty(self) -> bool:
        """Whether the block says nothing at all."""
        return not self.any and not self.all and self.resources.is_empty and self.user_info.is_empty

    @property
    def filters(self) -> tuple[ResourceFilter, ...]:
        """Every filter: ``any``, ``all`` and the bare form when it says something."""
        bare = ResourceFilter(resources=self.resources, user_info=self.user_info)
        return self.any + self.all + (() if bare.is_empty else (bare,))

    @property
    def kinds(self) -> tuple[str, ...]:
        """All kinds named anywhere in the block (Kyverno's ``GetKinds``)."""
        kinds = list(self.resources.kinds)
        for entry in self.all + self.any:
            kinds.extend(entry.resources.kinds)
        return tuple(kinds)


# ------------------------------------------------------------------------------------------
# conditions


@attrs.frozen(kw_only=True)
class Condition:
    """One condition: ``key``, ``operator``, ``value`` and an optional ``message``.

    Attributes:
        key: any JSON value; strings may hold ``{{ }}`` variables.
        operator: the operator as written (matched case-insensitively).
        value: any JSON value; strings may hold ``{{ }}`` variables.
        message: reported when the condition decides the outcome.
    """

    key: Any
    operator: str
    value: Any = None
    message: str = ""


@attrs.frozen(kw_only=True)
class AnyAllConditions:
    """An ``{any: [...], all: [...]}`` block; both parts must hold.

    Attributes:
        any: ``any``: one true condition is enough; ``None`` when absent (then it holds), and
            an empty tuple, like Kyverno's empty list, never holds.
        all: ``all``: every condition must hold; ``None`` or empty holds.
    """

    any: tuple[Condition, ...] | None = None
    all: tuple[Condition, ...] | None = None


# ------------------------------------------------------------------------------------------
# attestors


@attrs.frozen(kw_only=True)
class Rekor:
    """A ``rekor`` block: which transparency log, or none.

    Attributes:
        url: ``url``; Kyverno's CRD does not default it.
        pubkey: ``pubkey``: a PEM key for a private log.
        ignore_tlog: ``ignoreTlog``: verify without a log proof.
    """

    url: str = ""
    pubkey: str = ""
    ignore_tlog: bool = False


@attrs.frozen(kw_only=True)
class CTLog:
    """A ``ctlog`` block (certificate transparency and timestamping).

    Attributes:
        ignore_sct: ``ignoreSCT``.
        pubkey: ``pubkey``.
        tsa_cert_chain: ``tsaCertChain``.
    """

    ignore_sct: bool = False
    pubkey: str = ""
    tsa_cert_chain: str = ""


@attrs.frozen(kw_only=True)
class SecretReference:
    """A Kubernetes Secret holding ``cosign.pub``.

    Attributes:
        name: ``name``.
        namespace: ``namespace``.
    """

    name: str
    namespace: str

    @property
    def uri(self) -> str:
        """The cosign-style ``k8s://namespace/name`` reference."""
        return f"k8s://{self.namespace}/{self.name}"


@attrs.frozen(kw_only=True)
class StaticKeyAttestor:
    """A ``keys`` attestor.

    Attributes:
        public_keys: ``publicKeys``: one or more PEM blocks, a ``k8s://ns/secret`` reference or
            a KMS URI.
        kms: ``kms``: a KMS URI.
        secret: ``secret``.
        signature_algorithm: ``signatureAlgorithm`` (CRD default ``sha256``).
        rekor: ``rekor``; ``None`` means the public log with proofs required.
        ctlog: ``ctlog``.
    """

    public_keys: str = ""
    kms: str = ""
    secret: SecretReference | None = None
    signature_algorithm: str = ""
    rekor: Rekor | None = None
    ctlog: CTLog | None = None

    def expand(self) -> tuple[StaticKeyAttestor, ...]:
        """Split ``publicKeys`` holding several PEM blocks into one attestor per key.

        Kyverno does this before counting (``ExpandStaticKeys``), so with ``count`` unset
        every key must verify. Anything that is not a multi-key PEM comes back unchanged.
        """
        pieces = self.public_keys.split(_PEM_END)[:-1]
        if len(pieces) < 2:
            return (self,)
        # Each key keeps whatever preceded it, like Go's strings.SplitAfter.
        return tuple(attrs.evolve(self, public_keys=piece + _PEM_END) for piece in pieces)


@attrs.frozen(kw_only=True)
class CertificateAttestor:
    """A ``certificates`` attestor.

    Attributes:
        cert: ``cert``: PEM, or base64 of the PEM.
        cert_chain: ``certChain``.
        rekor: ``rekor``.
        ctlog: ``ctlog``.
    """

    cert: str = ""
    cert_chain: str = ""
    rekor: Rekor | None = None
    ctlog: CTLog | None = None


@attrs.frozen(kw_only=True)
class KeylessAttestor:
    """A ``keyless`` attestor (Fulcio certificates).

    Attributes:
        issuer: ``issuer`` (a wildcard).
        issuer_regexp: ``issuerRegExp``.
        subject: ``subject`` (a wildcard, against each SAN).
        subject_regexp: ``subjectRegExp``.
        roots: ``roots``: PEM roots instead of Fulcio's.
        additional_extensions: ``additionalExtensions``.
        rekor: ``rekor``.
        ctlog: ``ctlog``.
    """

    issuer: str = ""
    issuer_regexp: str = ""
    subject: str = ""
    subject_regexp: str = ""
    roots: str = ""
    additional_extensions: Mapping[str, str] = attrs.field(
        default=_EMPTY_MAP, converter=_frozen_map
    )
    rekor: Rekor | None = None
    ctlog: CTLog | None = None


@attrs.frozen(kw_only=True)
class Attestor:
    """One entry of an attestor set; exactly one of the four kinds is set.

    Attributes:
        keys: ``keys``.
        certificates: ``certificates``.
        keyless: ``keyless``.
        attestor: ``attestor``: a nested set with its own ``count``.
        annotations: ``annotations`` every one of which a signature's payload must carry.
        repository: ``repository``: where its signatures are stored instead.
        signature_algorithm: ``signatureAlgorithm`` (CRD default ``sha256``; for ``keys``
            attestors Kyverno uses ``keys.signatureAlgorithm`` instead).
    """

    keys: StaticKeyAttestor | None = None
    certificates: CertificateAttestor | None = None
    keyless: KeylessAttestor | None = None
    attestor: AttestorSet | None = None
    annotations: Mapping[str, str] = attrs.field(default=_EMPTY_MAP, converter=_frozen_map)
    repository: str = ""
    signature_algorithm: str = ""

    @property
    def kind(self) -> Literal["keys", "certificates", "keyless", "attestor", ""]:
        """The Kyverno field name of what is set, ``""`` for the implicit empty attestor."""
        if self.keys is not None:
            return "keys"
        if self.certificates is not None:
            return "certificates"
        if self.keyless is not None:
            return "keyless"
        if self.attestor is not None:
            return "attestor"
        return ""


@attrs.frozen(kw_only=True)
class AttestorSet:
    """An ``attestors[]`` entry: ``count`` of its ``entries`` must verify.

    Attributes:
        count: ``count``; ``None`` (or 0) means every entry.
        entries: ``entries``.
    """

    count: int | None = None
    entries: tuple[Attestor, ...] = ()

    @property
    def required_count(self) -> int:
        """How many entries must verify (Kyverno's ``RequiredCount``)."""
        return self.count if self.count else len(self.entries)


@attrs.frozen(kw_only=True)
class Attestation:
    """An ``attestations[]`` entry: signed in-toto statements of one type and their checks.

    Attributes:
        type: ``type``; when empty the deprecated ``predicateType`` is used.
        predicate_type: deprecated ``predicateType``.
        name: ``name``: the context variable its first predicate is stored under.
        attestors: ``attestors``; empty means Kyverno's implicit empty attestor.
        conditions: ``conditions``: the list is ANDed.
    """

    type: str = ""
    predicate_type: str = ""
    name: str = ""
    attestors: tuple[AttestorSet, ...] = ()
    conditions: tuple[AnyAllConditions, ...] = ()

    @property
    def effective_type(self) -> str:
        """``type``, or ``predicateType`` when ``type`` is empty; ``""`` when neither is set."""
        return self.type or self.predicate_type


# ------------------------------------------------------------------------------------------
# verifyImages


@attrs.frozen(kw_only=True)
class ImageRegistryCredentials:
    """``imageRegistryCredentials``.

    Attributes:
        allow_insecure_registry: ``allowInsecureRegistry``.
        providers: ``providers`` (``default``, ``amazon``, ``azure``, ``google``, ``github``).
        secrets: ``secrets``: ``name`` or ``namespace/name``.
    """

    allow_insecure_registry: bool = False
    providers: tuple[str, ...] = ()
    secrets: tuple[str, ...] = ()


@attrs.frozen(kw_only=True)
class ValidateImageVerification:
    """``validate`` of a ``verifyImages`` entry, checked once all attestations passed.

    Attributes:
        message: ``message``.
        deny: ``deny.conditions``, kept as written (any/all mapping or a list).
    """

    message: str = ""
    deny: Any = None


@attrs.frozen(kw_only=True)
class DeprecatedImageFields:
    """The single-image fields of kyverno.io/v1 as written, before ``Convert()``.

    Attributes:
        image: ``image``.
        key: ``key``.
        roots: ``roots``.
        subject: ``subject``.
        issuer: ``issuer``.
        annotations: ``annotations``.
        additional_extensions: ``additionalExtensions`` (never read by Kyverno).
    """

    image: str = ""
    key: str = ""
    roots: str = ""
    subject: str = ""
    issuer: str = ""
    annotations: Mapping[str, str] = attrs.field(default=_EMPTY_MAP, converter=_frozen_map)
    additional_extensions: Mapping[str, str] = attrs.field(
        default=_EMPTY_MAP, converter=_frozen_map
    )


@attrs.frozen(kw_only=True)
class ImageVerification:
    """A ``verifyImages[]`` entry, after ``Convert()`` folded the deprecated fields in.

    Attributes:
        image_references: ``imageReferences`` (wildcards on Kyverno's normalised image
            string), plus the deprecated ``image``.
        skip_image_references: ``skipImageReferences``.
        attestors: ``attestors``, plus the set built from a deprecated ``key`` or
            ``issuer`` (unless the entry has attestations: Kyverno then drops it).
        attestations: ``attestations``.
        failure_action: ``failureAction``; ``None`` when absent.
        type: ``type`` as written (``""``, ``Cosign``, ``SigstoreBundle`` or ``Notary``).
        repository: ``repository``.
        cosign_oci11: ``cosignOCI11``.
        mutate_digest: ``mutateDigest`` (CRD default true).
        verify_digest: ``verifyDigest`` (CRD default true).
        required: ``required`` (CRD default true).
        use_cache: ``useCache`` (CRD default true).
        validate: ``validate``; ``None`` when absent.
        image_registry_credentials: ``imageRegistryCredentials``.
        deprecated: the deprecated fields as written, ``None`` when none was used.
    """

    image_references: tuple[str, ...] = ()
    skip_image_references: tuple[str, ...] = ()
    attestors: tuple[AttestorSet, ...] = ()
    attestations: tuple[Attestation, ...] = ()
    failure_action: FailureAction | None = None
    type: str = ""
    repository: str = ""
    cosign_oci11: bool = False
    mutate_digest: bool = False
    verify_digest: bool = False
    required: bool = False
    use_cache: bool = False
    validate: ValidateImageVerification | None = None
    image_registry_credentials: ImageRegistryCredentials | None = None
    deprecated: DeprecatedImageFields | None = None

    @property
    def verifier_type(self) -> str:
        """``type``, defaulting to ``Cosign``."""
        return self.type or "Cosign"

    @property
    def has_checks(self) -> bool:
        """Whether the validate step runs for it (``verifyDigest`` or ``required``)."""
        return self.verify_digest or self.required

    @property
    def verifies_signatures(self) -> bool:
        """Whether it has anything to verify (attestors or attestations)."""
        return bool(self.attestors or self.attestations)


@attrs.frozen(kw_only=True)
class ImageExtractorConfig:
    """One ``imageExtractors.<Kind>[]`` entry.

    Attributes:
        path: ``path``: ``/``-separated keys, ``*`` expanding lists and maps.
        value: ``value``: the image field; by default the last ``path`` segment.
        name: ``name``: the group the images appear under (default ``custom``).
        key: ``key``: the field naming each image; by default its JSON pointer.
        jmes_path: ``jmesPath`` applied to the value.
    """

    path: str
    value: str = ""
    name: str = ""
    key: str = ""
    jmes_path: str = ""


# ------------------------------------------------------------------------------------------
# rules and policies


@attrs.frozen(kw_only=True)
class Rule:
    """A policy rule; only ``verifyImages`` rules are evaluated here.

    Attributes:
        name: ``name``.
        match: ``match``.
        exclude: ``exclude``; ``None`` when absent.
        preconditions: ``preconditions`` (the deprecated list form becomes ``all``).
        context: ``context`` entries, as written.
        image_extractors: ``imageExtractors`` by Kind; ``None`` when absent.
        verify_images: ``verifyImages``.
        other_operations: the ``mutate``/``validate``/``generate`` blocks of the rule, as
            written (policies mixing rule types load; only verifyImages rules are evaluated).
        report_properties: ``reportProperties``.
        cel_preconditions: ``celPreconditions``, as written (not evaluated).
        skip_background_requests: ``skipBackgroundRequests`` (CRD default true).
    """

    name: str
    match: MatchResources = MatchResources()
    exclude: MatchResources | None = None
    preconditions: AnyAllConditions | None = None
    context: tuple[Mapping[str, Any], ...] = ()
    image_extractors: Mapping[str, tuple[ImageExtractorConfig, ...]] | None = attrs.field(
        default=None, converter=_optional_map
    )
    verify_images: tuple[ImageVerification, ...] = ()
    other_operations: Mapping[str, Any] = attrs.field(default=_EMPTY_MAP, converter=_frozen_map)
    report_properties: Mapping[str, str] = attrs.field(default=_EMPTY_MAP, converter=_frozen_map)
    cel_preconditions: tuple[Mapping[str, Any], ...] = ()
    skip_background_requests: bool = True

    @property
    def has_verify_images(self) -> bool:
        """Whether the rule has a ``verifyImages`` entry."""
        return bool(self.verify_images)

    @property
    def has_verify_image_checks(self) -> bool:
        """Whether any entry has ``verifyDigest`` or ``required`` (the validate step runs)."""
        return any(entry.has_checks for entry in self.verify_images)

    @property
    def is_autogen(self) -> bool:
        """Whether the name marks a generated pod-controller rule (``autogen-``)."""
        return self.name.startswith("autogen-")

    def failure_action(self) -> FailureAction | None:
        """The rule's own action: Enforce if any entry says so, else the first one given.

        Returns:
            ``None`` when no entry sets ``failureAction`` (the policy's action then applies).
        """
        first: FailureAction | None = None
        for entry in self.verify_images:
            if entry.failure_action == "Enforce":
                return "Enforce"
            if first is None:
                first = entry.failure_action
        return first


@attrs.frozen(kw_only=True)
class ValidationFailureActionOverride:
    """A deprecated ``validationFailureActionOverrides[]`` entry.

    Attributes:
        action: ``action``.
        namespaces: ``namespaces`` (wildcards); ``None`` when absent.
        namespace_selector: ``namespaceSelector``.
    """

    action: str
    namespaces: tuple[str, ...] | None = None
    namespace_selector: LabelSelector | None = None


@attrs.frozen(kw_only=True)
class WebhookConfiguration:
    """``webhookConfiguration``.

    Attributes:
        failure_policy: ``failurePolicy``.
        timeout_seconds: ``timeoutSeconds``.
        match_conditions: ``matchConditions`` (CEL, as written; not evaluated).
    """

    failure_policy: str | None = None
    timeout_seconds: int | None = None
    match_conditions: tuple[Mapping[str, Any], ...] = ()


#: Kyverno's webhook timeout when a policy sets none.
DEFAULT_WEBHOOK_TIMEOUT_SECONDS: Final = 10


@attrs.frozen(kw_only=True)
class PolicySpec:
    """A policy ``spec``.

    Attributes:
        rules: ``rules``, as written (autogen rules are computed, see
            :meth:`KyvernoPolicy.computed_rules`).
        validation_failure_action: ``validationFailureAction`` as written (CRD default
            ``Audit``; ``""`` when absent and defaults were not applied).
        validation_failure_action_overrides: ``validationFailureActionOverrides``.
        failure_policy: ``failurePolicy`` (``Fail``/``Ignore``); ``None`` when absent.
        webhook_timeout_seconds: ``webhookTimeoutSeconds``.
        webhook_configuration: ``webhookConfiguration``.
        background: ``background`` (CRD default true); ``None`` when absent.
        admission: ``admission`` (CRD default true).
        apply_rules: ``applyRules`` (``All``/``One``); ``None`` when absent.
        emit_warning: ``emitWarning`` (CRD default false).
    """

    rules: tuple[Rule, ...] = ()
    validation_failure_action: str = ""
    validation_failure_action_overrides: tuple[ValidationFailureActionOverride, ...] = ()
    failure_policy: str | None = None
    webhook_timeout_seconds: int | None = None
    webhook_configuration: WebhookConfiguration | None = None
    background: bool | None = None
    admission: bool | None = None
    apply_rules: str | None = None
    emit_warning: bool | None = None


@attrs.frozen(kw_only=True)
class KyvernoPolicy:
    """A kyverno.io policy; :class:`ClusterPolicy` and :class:`Policy` are its two kinds.

    Attributes:
        api_version: ``apiVersion`` (``kyverno.io/v1`` or ``kyverno.io/v2beta1``).
        name: ``metadata.name``.
        namespace: ``metadata.namespace`` (``""`` for a ClusterPolicy).
        uid: ``metadata.uid`` (part of Kyverno's cache key).
        resource_version: ``metadata.resourceVersion`` (part of Kyverno's cache key).
        annotations: ``metadata.annotations``.
        labels: ``metadata.labels``.
        spec: the ``spec``.
        warnings: what Kyverno would warn about when the policy is applied.
        source: where it was loaded from (file and document index), for messages.
    """

    kind: str = attrs.field(init=False, default="")
    api_version: str = "kyverno.io/v1"
    name: str
    namespace: str = ""
    uid: str = ""
    resource_version: str = ""
    annotations: Mapping[str, str] = attrs.field(default=_EMPTY_MAP, converter=_frozen_map)
    labels: Mapping[str, str] = attrs.field(default=_EMPTY_MAP, converter=_frozen_map)
    spec: PolicySpec = PolicySpec()
    warnings: tuple[str, ...] = ()
    source: str = attrs.field(default="", eq=False)

    @property
    def key(self) -> str:
        """``namespace/name`` as Kyverno's scoped annotation writes it (``/name`` for a
        ClusterPolicy)."""
        return f"{self.namespace}/{self.name}"

    @property
    def is_namespaced(self) -> bool:
        """Whether it is a namespaced ``Policy``."""
        return self.kind == "Policy"

    @property
    def rules(self) -> tuple[Rule, ...]:
        """The rules as written (no autogen rules)."""
        return self.spec.rules

    @property
    def enforce(self) -> bool:
        """Whether the policy-level action is Enforce."""
        return is_enforce(self.spec.validation_failure_action)

    @property
    def failure_policy(self) -> Literal["Fail", "Ignore"]:
        """``webhookConfiguration.failurePolicy``, else ``failurePolicy``, else ``Fail``."""
        configured = self.spec.webhook_configuration
        value = configured.failure_policy if configured is not None else None
        if value is None:
            value = self.spec.failure_policy
        return "Ignore" if value == "Ignore" else "Fail"

    @property
    def webhook_timeout_seconds(self) -> int:
        """``webhookConfiguration.timeoutSeconds``, else ``webhookTimeoutSeconds``, else 10."""
        configured = self.spec.webhook_configuration
        if configured is not None and configured.timeout_seconds is not None:
            return configured.timeout_seconds
        if self.spec.webhook_timeout_seconds is not None:
            return self.spec.webhook_timeout_seconds
        return DEFAULT_WEBHOOK_TIMEOUT_SECONDS

    @property
    def background(self) -> bool:
        """Whether background scans apply it (absent means true)."""
        return self.spec.background is not False

    @property
    def admission(self) -> bool:
        """Whether admission applies it (absent means true)."""
        return self.spec.admission is not False

    @property
    def autogen_controllers(self) -> str | None:
        """The ``pod-policies.kyverno.io/autogen-controllers`` annotation, ``None`` if absent."""
        return self.annotations.get(AUTOGEN_CONTROLLERS_ANNOTATION)

    def computed_rules(self) -> tuple[Rule, ...]:
        """The rules Kyverno evaluates: these plus the generated pod-controller rules.

        See :func:`imagesig.policy.images.compute_rules`.
        """
        from imagesig.policy.images import compute_rules  # noqa: PLC0415 - import cycle

        return compute_rules(self)

    def evaluate(self, resource: Mapping[str, Any], **options: Any) -> PolicyReport:
        """Evaluate this policy against a resource or an AdmissionReview.

        A shortcut for :func:`imagesig.policy.engine.evaluate` (``client=``, ``verifier=``
        and the options of :meth:`~imagesig.policy.engine.PolicyEvaluator.evaluate`); keep a
        :class:`~imagesig.policy.engine.PolicyEvaluator` to reuse its cache and client.
        """
        from imagesig.policy.engine import evaluate  # noqa: PLC0415 - import cycle

        return evaluate(self, resource, **options)


@attrs.frozen(kw_only=True)
class ClusterPolicy(KyvernoPolicy):
    """A cluster-wide ``ClusterPolicy``."""

    kind: str = attrs.field(init=False, default="ClusterPolicy")


@attrs.frozen(kw_only=True)
class Policy(KyvernoPolicy):
    """A namespaced ``Policy``: it applies only to resources in its own namespace."""

    kind: str = attrs.field(init=False, default="Policy")
