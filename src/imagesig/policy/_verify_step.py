"""The verify step for one ``verifyImages`` entry and one image (Kyverno's ``Verify``).

Per image, in Kyverno's order:

1. An entry without attestors and attestations has nothing to say (no response).
2. An image outside the entry's ``imageReferences``, or inside its ``skipImageReferences``,
   is ``skip`` ("skipping image reference image …").
3. A passed verification cached for this entry and image string is reused: its digest is
   pinned and its statements are checked against the conditions again.
4. Otherwise the image is pinned: its own digest, or its tag resolved **once per
   evaluation** (every later check and the patch use that answer). The attestor sets must all
   pass (``count`` of the entries, after splitting multi-key PEM blocks; nested ``attestor``
   sets recursively); then every attestation (statements of its type from ``count`` of its
   attestors, each statement meeting the conditions with the predicate merged into the
   context root); then ``validate.deny`` when the rule has one.
5. ``mutateDigest`` pins a tagged image to that digest with a ``replace`` patch that keeps the
   tag (``ghcr.io/org/app:v1@sha256:…``); an entry with nothing to verify reports the pin as
   ``pass`` "mutated image digest" (and records no status for ``required``).

Deliberate differences from Kyverno, all on the side of caution:

* the digest is resolved at most once per image and evaluation, verified, and the same digest
  is patched; a verifier that answers for another digest fails (Kyverno's CVE-2022-47633
  class and the cache-hit re-resolution of kyverno.md §2.9 cannot happen);
* an image whose verification failed is not pinned (Kyverno pins it anyway; the request is
  blocked or audited either way);
* a cache hit re-checks attestation conditions and ``validate.deny`` (kyverno#17173);
* the predicate stored under an attestation's ``name`` is the first statement *of its type*
  (Kyverno takes the first statement of any type);
* error paths name the attestation's attestor set and entry (``.attestations[0].attestors[0]
  .entries[1]``; Kyverno prints the attestation index as the entry index).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any, Final

import attrs

from imagesig._flow import Flow
from imagesig.errors import ConditionError, ImageSigError
from imagesig.policy import wildcard
from imagesig.policy._jsonpatch import patch
from imagesig.policy.cache import CachedVerification, VerificationCache
from imagesig.policy.conditions import evaluate_condition_blocks, evaluate_conditions, substitute
from imagesig.policy.images import ExtractedImage
from imagesig.policy.model import (
    AnyAllConditions,
    Attestation,
    Attestor,
    AttestorSet,
    Condition,
    ImageVerification,
    KyvernoPolicy,
    Rule,
)
from imagesig.policy.report import RuleStatus
from imagesig.policy.verifier import (
    AttestationRequest,
    SignatureRequest,
    Verifier,
    VerifierOutcome,
    run_answer,
)
from imagesig.reference import Digest, KyvernoImageInfo

__all__ = [
    "Evaluation",
    "ImageOutcome",
    "Response",
    "RuleScope",
    "entry_fingerprint",
    "has_variables",
    "needs_substitution",
    "pinned",
    "substitute_entry",
    "verify_image",
]

_CACHE_KEY_VERSION: Final = "imagesig.policy.cache/1"
_PASS, _FAIL, _ERROR, _SKIP = RuleStatus.PASS, RuleStatus.FAIL, RuleStatus.ERROR, RuleStatus.SKIP
_RECORDED = {_PASS: "pass", _SKIP: "skip"}


def _transient(exc: ImageSigError) -> bool:
    from imagesig.policy.verifier import _TRANSIENT  # noqa: PLC0415 - one list of them

    return isinstance(exc, _TRANSIENT)


@attrs.frozen
class Response:
    """A rule response before the evaluator adds the policy's facts."""

    status: RuleStatus
    message: str
    digest: str | None = None
    warn: bool = False


@attrs.frozen
class ImageOutcome:
    """What one entry did for one image."""

    response: Response | None
    extra: Response | None
    patch: Mapping[str, Any] | None
    recorded_as: str
    record: bool = True


@attrs.frozen
class RuleScope:
    """The facts about a rule every image of it shares."""

    policy: KyvernoPolicy
    rule: Rule
    entries: tuple[ImageVerification, ...]
    context: Mapping[str, Any]


@attrs.define
class Evaluation:
    """The state of one evaluation: pinned digests and recorded statuses, nothing shared."""

    verifier: Verifier
    cache: VerificationCache | None
    digests: dict[str, str] = attrs.field(factory=dict)
    scoped: dict[str, dict[str, dict[str, str]]] = attrs.field(factory=dict)
    statuses: dict[str, str] = attrs.field(factory=dict)

    def pin(self, image: ExtractedImage) -> Flow[str]:
        """The digest ``image`` is verified and pinned at: its own, or its tag's (resolved once)."""
        if image.info.digest:
            return image.info.digest
        known = self.digests.get(image.reference)
        if known is not None:
            return known
        answer = yield from run_answer(self.verifier.resolve_digest(image.reference))
        digest = str(Digest.parse(str(answer)))
        # Two flows for the same image may race; the first answer stored is the one used.
        return self.digests.setdefault(image.reference, digest)

    def record(self, policy: KyvernoPolicy, rule: str, image: str, status: RuleStatus) -> None:
        """Record an image's status for ``required`` and the annotations.

        A skip never replaces a pass or fail recorded by another entry of the rule, and a
        pass never replaces a fail (Kyverno lets the last entry win).
        """
        value = _RECORDED.get(status, "fail")
        rules = self.scoped.setdefault(policy.key, {}).setdefault(rule, {})
        previous = rules.get(image)
        if previous == "fail" or (previous == "pass" and value == "skip"):
            value = previous
        rules[image] = value
        self.statuses[image] = value

    def recorded(self, policy: KyvernoPolicy, rule: str, image: str) -> str | None:
        """The status recorded for ``image`` by this policy and rule, if any."""
        return self.scoped.get(policy.key, {}).get(rule, {}).get(image)


def pinned(info: KyvernoImageInfo, digest: str) -> str:
    """Kyverno's string for an image after pinning: ``registry/path@digest``."""
    name = f"{info.registry}/{info.path}" if info.registry else info.path
    return f"{name}@{digest}"


# ------------------------------------------------------------------------------------------
# variables and fingerprints


def has_variables(value: Any, *, skip: frozenset[str] = frozenset()) -> bool:
    """Whether a model value holds ``{{`` anywhere outside the fields named in ``skip``."""
    if isinstance(value, str):
        return "{{" in value
    if attrs.has(type(value)):
        return any(
            has_variables(getattr(value, field.name), skip=skip)
            for field in attrs.fields(type(value))
            if field.name not in skip
        )
    if isinstance(value, Mapping):
        return any(has_variables(k) or has_variables(v) for k, v in value.items())
    if isinstance(value, tuple | list):
        return any(has_variables(item) for item in value)
    return False


# Conditions are evaluated later with the predicate in the context; imageReferences may not
# hold variables at all (policy validation refuses them).
_NOT_SUBSTITUTED: Final = frozenset({"conditions", "validate", "image_references"})


def _substitute(value: Any, context: Mapping[str, Any]) -> Any:
    if isinstance(value, str):
        if "{{" not in value:
            return value
        result = substitute(value, context)
        return result if isinstance(result, str) else json.dumps(result)
    if attrs.has(type(value)):
        changes = {
            field.alias or field.name: _substitute(getattr(value, field.name), context)
            for field in attrs.fields(type(value))
            if field.init and field.name not in _NOT_SUBSTITUTED
        }
        return attrs.evolve(value, **changes)
    if isinstance(value, Mapping):
        return {_substitute(k, context): _substitute(v, context) for k, v in value.items()}
    if isinstance(value, tuple):
        return tuple(_substitute(item, context) for item in value)
    return value


def needs_substitution(entry: ImageVerification) -> bool:
    """Whether :func:`substitute_entry` would change anything in ``entry``."""
    return has_variables(entry, skip=_NOT_SUBSTITUTED)


def substitute_entry(entry: ImageVerification, context: Mapping[str, Any]) -> ImageVerification:
    """Resolve the ``{{ }}`` variables of an entry, except in conditions and ``validate``.

    Raises:
        ConditionError: a variable does not resolve.
    """
    result: ImageVerification = _substitute(entry, context)
    return result


def entry_fingerprint(entry: ImageVerification) -> str:
    """A digest of what an entry verifies: attestors, attestation types and attestors,
    ``repository`` and type (conditions are left out; they are evaluated on every hit)."""
    material = repr(
        (
            entry.attestors,
            tuple((a.effective_type, a.attestors) for a in entry.attestations),
            entry.repository,
            entry.verifier_type,
            entry.cosign_oci11,
        )
    )
    return hashlib.sha256(material.encode()).hexdigest()


# ------------------------------------------------------------------------------------------
# one image


def _skip_message(image: str, scope: RuleScope) -> str:
    return (
        f"skipping image reference image {image}, policy {scope.policy.name}"
        f" ruleName {scope.rule.name}"
    )


def verify_image(
    ev: Evaluation,
    scope: RuleScope,
    entry: ImageVerification,
    fingerprint: str,
    image: ExtractedImage,
) -> Flow[ImageOutcome]:
    """Kyverno's ``Verify`` for one entry and one image (see the module notes)."""
    text = image.reference
    response: Response | None = None
    if entry.verifies_signatures:
        if not wildcard.match_any(entry.image_references, text):
            response = Response(_SKIP, _skip_message(text, scope))
        elif entry.skip_image_references and wildcard.match_any(entry.skip_image_references, text):
            response = Response(_SKIP, _skip_message(text, scope), warn=True)
        else:
            response = yield from _check(ev, scope, entry, fingerprint, image)
    extra: Response | None = None
    operation: Mapping[str, Any] | None = None
    recorded = text
    failed = response is not None and response.status in (_FAIL, _ERROR)
    if entry.mutate_digest and not image.info.digest and not failed:
        try:
            digest = yield from ev.pin(image)
        except ImageSigError as exc:
            extra = Response(_ERROR, f"failed to update digest: {exc.message}", warn=True)
        else:
            operation = patch("replace", image.pointer, f"{text}@{digest}")
            recorded = pinned(image.info, digest)
            if response is None:
                # Kyverno reports the pin itself, but records no status for it.
                mutated = Response(_PASS, "mutated image digest", digest=digest)
                return ImageOutcome(mutated, extra, operation, recorded, record=False)
    return ImageOutcome(response, extra, operation, recorded)


def _check(
    ev: Evaluation,
    scope: RuleScope,
    entry: ImageVerification,
    fingerprint: str,
    image: ExtractedImage,
) -> Flow[Response]:
    text = image.reference
    key = (_CACHE_KEY_VERSION, fingerprint, text)
    use_cache = entry.use_cache and ev.cache is not None
    hit = ev.cache.get(key) if use_cache and ev.cache is not None else None
    if hit is not None and ev.digests.setdefault(text, hit.digest) == hit.digest:
        return _recheck(scope, entry, image, hit)
    try:
        digest = yield from ev.pin(image)
    except ImageSigError as exc:
        status = _ERROR if _transient(exc) else _FAIL
        return Response(status, f"failed to verify image {text}: {exc.message}", warn=True)
    if entry.attestors:
        failure = yield from _attestors(ev, entry, image, digest)
        if failure is not None:
            return failure
    message = f"verified image signatures for {text}"
    statements: dict[int, tuple[Mapping[str, Any], ...]] = {}
    if entry.attestations:
        failure, statements = yield from _attestations(ev, scope, entry, image, digest)
        if failure is not None:
            return failure
        message = f"verified image attestations for {text}"
    denied = _deny(scope, entry, image, statements)
    if denied is not None:
        if denied.status is not _PASS:
            return denied
        message = denied.message
    if use_cache and ev.cache is not None:
        ev.cache.put(key, CachedVerification(digest, statements))
    return Response(_PASS, message, digest=digest)


def _recheck(
    scope: RuleScope, entry: ImageVerification, image: ExtractedImage, hit: CachedVerification
) -> Response:
    """Evaluate conditions and ``validate.deny`` again on cached statements."""
    for index, attestation in enumerate(entry.attestations):
        statements = hit.statements.get(index, ())
        problem = _statement_problem(attestation, statements, image, scope.context)
        if problem is not None:
            return Response(
                _FAIL,
                "image attestations verification failed, verifiedCount: 0, requiredCount: 1,"
                f" error: .attestations[{index}]: {problem}",
                warn=True,
            )
    denied = _deny(scope, entry, image, dict(hit.statements))
    if denied is not None and denied.status is not _PASS:
        return denied
    return Response(_PASS, "verified from cache", digest=hit.digest)


# ------------------------------------------------------------------------------------------
# attestors


def _ask(
    ev: Evaluation,
    entry: ImageVerification,
    image: ExtractedImage,
    digest: str,
    attestor: Attestor,
    *,
    predicate_type: str | None = None,
) -> Flow[VerifierOutcome]:
    fields: dict[str, Any] = {
        "image": image.reference,
        "reference": pinned(image.info, digest),
        "digest": digest,
        "attestor": attestor,
        "repository": attestor.repository or entry.repository,
        "verifier_type": entry.verifier_type,
    }
    try:
        if predicate_type is None:
            answer = ev.verifier.verify_signatures(SignatureRequest(**fields))
        else:
            answer = ev.verifier.verify_attestations(
                AttestationRequest(**fields, predicate_type=predicate_type)
            )
        outcome = yield from run_answer(answer)
    except ImageSigError as exc:
        return VerifierOutcome.failed(exc.message, transient=_transient(exc))
    if outcome.verified and outcome.digest and outcome.digest != digest:
        return VerifierOutcome.failed(
            f"the verifier answered for {outcome.digest}, but {image.reference} is pinned to"
            f" {digest}"
        )
    return outcome


def _expand(entries: Sequence[Attestor]) -> list[Attestor]:
    """Kyverno's ``ExpandStaticKeys``: one entry per key of a multi-key ``publicKeys``."""
    expanded: list[Attestor] = []
    for attestor in entries:
        if attestor.keys is None:
            expanded.append(attestor)
            continue
        expanded.extend(attrs.evolve(attestor, keys=keys) for keys in attestor.keys.expand())
    return expanded


def _attestor_set(
    ev: Evaluation,
    entry: ImageVerification,
    image: ExtractedImage,
    digest: str,
    attestor_set: AttestorSet,
    *,
    path: str,
) -> Flow[tuple[bool, list[str], bool]]:
    entries = _expand(attestor_set.entries)
    required = attestor_set.count or len(entries)
    verified = 0
    errors: list[str] = []
    transient = False
    for index, attestor in enumerate(entries):
        where = f"{path}.entries[{index}]"
        if attestor.attestor is not None:
            ok, nested, nested_transient = yield from _attestor_set(
                ev, entry, image, digest, attestor.attestor, path=f"{where}.attestor"
            )
            if ok:
                verified += 1
            else:
                errors.extend(nested)
                transient = transient or nested_transient
        else:
            outcome = yield from _ask(ev, entry, image, digest, attestor)
            if outcome.verified:
                verified += 1
            else:
                errors.append(f"{where}.{attestor.kind or 'keyless'}: {outcome.message}")
                transient = transient or outcome.transient
        if verified >= required:
            return True, [], False
    return False, errors, transient


def _attestors(
    ev: Evaluation, entry: ImageVerification, image: ExtractedImage, digest: str
) -> Flow[Response | None]:
    for index, attestor_set in enumerate(entry.attestors):
        ok, errors, transient = yield from _attestor_set(
            ev, entry, image, digest, attestor_set, path=f".attestors[{index}]"
        )
        if not ok:
            status = _ERROR if transient else _FAIL
            joined = "; ".join(errors)
            return Response(
                status, f"failed to verify image {image.reference}: {joined}", warn=True
            )
    return None


# ------------------------------------------------------------------------------------------
# attestations


def _statement_problem(
    attestation: Attestation,
    statements: Sequence[Mapping[str, Any]],
    image: ExtractedImage,
    context: Mapping[str, Any],
) -> str | None:
    """Why the statements do not all meet the conditions, or ``None``."""
    if not attestation.conditions:
        return None
    wanted = attestation.effective_type
    base = {**context, "image": image.info.to_dict()}
    for statement in statements:
        predicate = statement.get("predicate")
        merged = {**base, **predicate} if isinstance(predicate, Mapping) else base
        try:
            holds, message = evaluate_condition_blocks(attestation.conditions, merged)
        except ConditionError as exc:
            return (
                "failed to check attestations: failed to substitute variables in attestation"
                f" conditions: {exc.message}"
            )
        if not holds:
            return (
                f"attestation checks failed for {image.reference} and predicate {wanted}: {message}"
            )
    return None


_EMPTY_ATTESTOR_SET: Final = (AttestorSet(entries=(Attestor(),)),)


def _attestations(
    ev: Evaluation,
    scope: RuleScope,
    entry: ImageVerification,
    image: ExtractedImage,
    digest: str,
) -> Flow[tuple[Response | None, dict[int, tuple[Mapping[str, Any], ...]]]]:
    collected: dict[int, tuple[Mapping[str, Any], ...]] = {}
    for index, attestation in enumerate(entry.attestations):
        wanted = attestation.effective_type
        if not wanted:
            return Response(_FAIL, f".attestations[{index}]: missing type", warn=True), {}
        kept: list[Mapping[str, Any]] = []
        for set_index, attestor_set in enumerate(attestation.attestors or _EMPTY_ATTESTOR_SET):
            required = attestor_set.count or len(attestor_set.entries)
            verified = 0
            errors: list[str] = []
            transient = False
            for entry_index, attestor in enumerate(attestor_set.entries):
                where = f".attestations[{index}].attestors[{set_index}].entries[{entry_index}]"
                # Kyverno builds an empty attestor from an entry that only nests a set.
                asked = Attestor() if attestor.attestor is not None else attestor
                outcome = yield from _ask(ev, entry, image, digest, asked, predicate_type=wanted)
                if not outcome.verified:
                    errors.append(f"{where}: {outcome.message}")
                    transient = transient or outcome.transient
                    continue
                statements = tuple(
                    s for s in outcome.statements if s.get("predicateType") == wanted
                )
                if not statements:
                    errors.append(f"{where}: attestions not found for predicate type {wanted}")
                    continue
                problem = _statement_problem(attestation, statements, image, scope.context)
                if problem is not None:
                    errors.append(f"{where}: {problem}")
                    continue
                verified += 1
                kept.extend(statements)
                if verified >= required:
                    break
            if verified < required:
                status = _ERROR if transient else _FAIL
                message = (
                    f"image attestations verification failed, verifiedCount: {verified}, "
                    f"requiredCount: {required}, error: {'; '.join(errors)}"
                )
                return Response(status, message, warn=True), {}
        collected[index] = tuple(kept)
    return None, collected


# ------------------------------------------------------------------------------------------
# validate.deny


def _deny_block(raw: Any) -> AnyAllConditions:
    """``validate.deny.conditions`` as written: an any/all object, or a list (all)."""

    def condition(item: Any) -> Condition:
        if not isinstance(item, Mapping) or "operator" not in item:
            raise ConditionError(f"invalid deny condition {item!r}")
        return Condition(
            key=item.get("key"),
            operator=str(item.get("operator")),
            value=item.get("value"),
            message=str(item.get("message") or ""),
        )

    def conditions(items: Any) -> tuple[Condition, ...] | None:
        if items is None:
            return None
        if not isinstance(items, list | tuple):
            raise ConditionError("deny conditions must be lists")
        return tuple(condition(item) for item in items)

    if isinstance(raw, list | tuple):
        return AnyAllConditions(all=conditions(raw))
    if isinstance(raw, Mapping):
        return AnyAllConditions(any=conditions(raw.get("any")), all=conditions(raw.get("all")))
    raise ConditionError("deny conditions must be an object with any/all or a list")


def _deny(
    scope: RuleScope,
    entry: ImageVerification,
    image: ExtractedImage,
    statements: Mapping[int, Sequence[Mapping[str, Any]]],
) -> Response | None:
    """``validate.deny`` of every entry of the rule, once the attestations passed."""
    denying = [e for e in scope.entries if e.validate is not None and e.validate.deny is not None]
    if not denying:
        return None
    context: dict[str, Any] = {**scope.context, "image": image.info.to_dict()}
    for index, attestation in enumerate(entry.attestations):
        found = statements.get(index, ())
        if attestation.name and found:
            context[attestation.name] = found[0].get("predicate")
    for other in denying:
        assert other.validate is not None
        try:
            holds, detail = evaluate_conditions(_deny_block(other.validate.deny), context)
        except ConditionError as exc:
            return Response(_ERROR, f"failed to evaluate deny conditions: {exc.message}", warn=True)
        if holds:
            message = "; ".join(part for part in (other.validate.message, detail) if part)
            return Response(_FAIL, f"validation in verifyImages failed: {message}", warn=True)
    return Response(_PASS, f"verifyImages validation is passed in {scope.rule.name} rule")
