"""Kyverno ``verifyImages`` policies: load them and evaluate them with Kyverno's semantics.

The package is pure: it reads policies and resources and decides what Kyverno would decide;
registry, transparency-log and key access happen only through the client it is given.

* :mod:`~imagesig.policy.load` reads ``ClusterPolicy`` and ``Policy`` documents (files,
  multi-document streams, directories, dicts), applies the CRD defaults and refuses what
  Kyverno's admission refuses;
* :mod:`~imagesig.policy.model` holds the frozen model they load into;
* :mod:`~imagesig.policy.match` decides whether a rule applies to a resource;
* :mod:`~imagesig.policy.images` extracts and normalises a resource's images and generates
  the pod-controller rules (autogen);
* :mod:`~imagesig.policy.conditions` evaluates preconditions and attestation conditions;
* :mod:`~imagesig.policy.wildcard` is Kyverno's wildcard, in linear time;
* :mod:`~imagesig.policy.engine` evaluates them (:class:`PolicyEvaluator`,
  :class:`AsyncPolicyEvaluator`) into a :class:`~imagesig.policy.report.PolicyReport`, with
  I/O through a :class:`~imagesig.policy.verifier.Verifier` and passes kept in a
  :class:`~imagesig.policy.cache.VerificationCache`; :mod:`~imagesig.policy.admission`
  reads and answers AdmissionReviews.

``import imagesig.policy`` loads nothing heavy; YAML and JMESPath are imported by the
modules that need them.

Kyverno quirks, and the choice made for each:

* ``Convert()`` drops a deprecated ``key``/``issuer`` when the entry has ``attestations``:
  copied, with a load warning.
* The CRD defaults make a policy that sets no action and keeps ``mutateDigest`` invalid
  (Audit with mutateDigest): copied; ``apply_defaults=False`` loads Kyverno's unit-test
  policies.
* The Audit flag of the mutateDigest check carries over from entry to entry: copied.
* One unparsable image hides all images of the resource and the rule silently does not
  apply: :func:`~imagesig.policy.images.rule_images` copies that and reports why; the
  evaluator fixes it, a matching rule fails with "failed to extract images: …".
* Images with the same container name (or extractor ``key``), and extractors with the same
  ``name``, replace each other in Kyverno's maps, hiding images from verification: fixed,
  every image is kept (the ``images`` context variable still shows Kyverno's view).
* JSON pointers of custom extractors are not escaped by Kyverno: fixed (RFC 6901).
* A ``namespaceSelector`` with no namespace labels available: Kyverno once failed open
  (CVE-2025-46342); here it raises unless the caller passes labels (``{}`` for none).
* ``any: []`` never holds, a leading ``*`` in a kinds entry is read as the version, written
  rules named ``autogen-*`` disappear when rules are generated: copied.
* Comparison operators given in another case (``greaterthan``) compare as ``GreaterThan``
  (Kyverno's compare step is case-sensitive and answers false): fixed.
* Kyverno's matcher is exponential on some patterns: the same answers in linear time.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from imagesig.policy.cache import VerificationCache
    from imagesig.policy.engine import AsyncPolicyEvaluator, PolicyEvaluator, evaluate
    from imagesig.policy.load import load_policies, load_policy, policy_from_dict
    from imagesig.policy.model import ClusterPolicy, KyvernoPolicy, Policy
    from imagesig.policy.report import PolicyReport, RuleResult, RuleStatus
    from imagesig.policy.verifier import ClientVerifier, Verifier, VerifierOutcome

__all__ = [
    "AsyncPolicyEvaluator",
    "ClientVerifier",
    "ClusterPolicy",
    "KyvernoPolicy",
    "Policy",
    "PolicyEvaluator",
    "PolicyReport",
    "RuleResult",
    "RuleStatus",
    "VerificationCache",
    "Verifier",
    "VerifierOutcome",
    "evaluate",
    "load_policies",
    "load_policy",
    "policy_from_dict",
]

_LAZY = {
    "AsyncPolicyEvaluator": "imagesig.policy.engine",
    "ClientVerifier": "imagesig.policy.verifier",
    "PolicyEvaluator": "imagesig.policy.engine",
    "PolicyReport": "imagesig.policy.report",
    "RuleResult": "imagesig.policy.report",
    "RuleStatus": "imagesig.policy.report",
    "VerificationCache": "imagesig.policy.cache",
    "Verifier": "imagesig.policy.verifier",
    "VerifierOutcome": "imagesig.policy.verifier",
    "evaluate": "imagesig.policy.engine",
    "ClusterPolicy": "imagesig.policy.model",
    "KyvernoPolicy": "imagesig.policy.model",
    "Policy": "imagesig.policy.model",
    "load_policies": "imagesig.policy.load",
    "load_policy": "imagesig.policy.load",
    "policy_from_dict": "imagesig.policy.load",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
