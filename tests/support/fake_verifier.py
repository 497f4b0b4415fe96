"""A scripted :class:`~imagesig.policy.verifier.Verifier` for policy-evaluation tests.

It answers without I/O and records every question, so tests can assert both the verdict and
what the evaluator asked (which digests, which attestors, how many resolutions).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from imagesig.errors import ManifestNotFoundError
from imagesig.policy.verifier import AttestationRequest, SignatureRequest, VerifierOutcome

__all__ = ["FakeVerifier"]

Decision = Callable[[SignatureRequest], VerifierOutcome | None]


class FakeVerifier:
    """Answers from tables.

    Args:
        digests: normalised image string (a tag) → digest its tag resolves to.
        statements: statements every attestation question gets (already "verified").
        decide: called for every signature/attestation question; ``None`` means "verified".
    """

    def __init__(
        self,
        digests: Mapping[str, str] | None = None,
        *,
        statements: Sequence[Mapping[str, Any]] = (),
        decide: Decision | None = None,
    ) -> None:
        self.digests = dict(digests or {})
        self.statements = tuple(statements)
        self.decide = decide
        self.resolved: list[str] = []
        self.signature_requests: list[SignatureRequest] = []
        self.attestation_requests: list[AttestationRequest] = []
        self._lock = threading.Lock()

    @property
    def calls(self) -> int:
        """Every question asked."""
        return len(self.resolved) + len(self.signature_requests) + len(self.attestation_requests)

    def resolve_digest(self, reference: str) -> str:
        with self._lock:
            self.resolved.append(reference)
        if reference not in self.digests:
            raise ManifestNotFoundError(f"no manifest for {reference}")
        return self.digests[reference]

    def _answer(self, request: SignatureRequest, statements: tuple[Any, ...]) -> VerifierOutcome:
        if self.decide is not None:
            decided = self.decide(request)
            if decided is not None:
                return decided
        return VerifierOutcome.passed(request.digest, statements)

    def verify_signatures(self, request: SignatureRequest) -> VerifierOutcome:
        with self._lock:
            self.signature_requests.append(request)
        return self._answer(request, ())

    def verify_attestations(self, request: AttestationRequest) -> VerifierOutcome:
        with self._lock:
            self.attestation_requests.append(request)
        return self._answer(request, self.statements)
