"""What signing and verification return: :class:`SignResult` and :class:`VerificationResult`.

A failed verification is a value, not an exception: :func:`~imagesig.verify_image` returns a
:class:`VerificationResult` whose :attr:`~VerificationResult.verified` is ``False`` and whose
:attr:`~VerificationResult.signatures` say, one by one, why each signature found was refused.
Call :meth:`VerificationResult.raise_for_failure` to turn a failure into a
:class:`~imagesig.errors.VerificationError`.

The result is pinned: :attr:`VerificationResult.image` carries the digest that was verified,
and only that digest is safe to deploy; a tag may point elsewhere by now.

Example:
    >>> result = verify_image("registry.example.com/app:1.4", keys=["cosign.pub"])  # doctest: +SKIP
    >>> result.image  # doctest: +SKIP
    ImageReference(... digest=Digest('sha256', '3a4f...'))
    >>> result.raise_for_failure()  # doctest: +SKIP
"""

from __future__ import annotations

import enum
import html
import json
from typing import TYPE_CHECKING, Any

import attrs

from imagesig.errors import AttestationVerificationError, VerificationError
from imagesig.oci.model import Descriptor
from imagesig.reference import Digest, ImageReference
from imagesig.signatures.options import SignatureFormat
from imagesig.tlog.entries import LogEntry

if TYPE_CHECKING:
    from imagesig.signatures.intoto import Statement
    from imagesig.signatures.predicates import Predicate

__all__ = [
    "VERIFIED_REASON",
    "AttestResult",
    "AttestationCheck",
    "AttestationStatus",
    "AttestationVerificationResult",
    "SignResult",
    "SignatureCheck",
    "VerificationResult",
]

#: :attr:`SignatureCheck.reason` of a signature that passed every check.
VERIFIED_REASON = "verified"


@attrs.frozen
class SignResult:
    """What :func:`~imagesig.sign_image` did.

    Attributes:
        image: the signed image, pinned to the digest that was signed.
        format: where the signature was stored.
        signature: the descriptor of the manifest holding the signature: the referrer
            manifest (bundle format) or the ``sha256-<hex>.sig`` manifest (legacy format)
            as written.
        log_entry: the transparency-log entry recording the signature, verified against the
            trusted root before the signature was attached; ``None`` when nothing was logged.
    """

    image: ImageReference
    format: SignatureFormat
    signature: Descriptor
    log_entry: LogEntry | None


@attrs.frozen
class SignatureCheck:
    """The verdict on one signature found for the image.

    Attributes:
        format: where it was found.
        key_id: hex SHA-256 of the DER public key the signature verified with; ``None`` when
            it verified with none of the keys given (or was refused before that check).
        ok: the signature passed every check.
        reason: ``"verified"`` when :attr:`ok`, otherwise a sentence naming the check that
            failed and what was found.
        location: where it was found: the ``.sig`` tag reference (with the layer digest) or
            the referrer manifest's reference.
        log_index: index of the transparency-log entry that vouched for it, if one did.
        integrated_time: that entry's integration time (Unix seconds), if one did.
    """

    format: SignatureFormat
    key_id: str | None
    ok: bool
    reason: str
    location: str
    log_index: int | None = None
    integrated_time: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form (keys in a fixed order; ``None`` values kept as ``null``)."""
        return {
            "format": self.format.value,
            "ok": self.ok,
            "reason": self.reason,
            "key_id": self.key_id,
            "location": self.location,
            "log_index": self.log_index,
            "integrated_time": self.integrated_time,
        }


def _tuple(value: Any) -> tuple[Any, ...]:
    return tuple(value)


@attrs.frozen(repr=False)
class VerificationResult:
    """The outcome of verifying an image's signatures.

    The image is verified when at least one signature passed every check with one of the
    given keys; a signature that fails never spoils another, and a valid signature by a key
    that was not given never counts.

    Attributes:
        image: the reference asked for, pinned to :attr:`digest` (a tag is resolved once and
            never again).
        digest: the manifest digest whose signatures were checked.
        verified: at least one signature passed every check.
        signatures: one check per distinct signature found, in discovery order (bundles
            first, then ``.sig`` layers); duplicates appear once.
        warnings: things the caller should know although they did not decide the outcome,
            e.g. that transparency-log verification was skipped.
    """

    image: ImageReference
    digest: Digest
    verified: bool
    signatures: tuple[SignatureCheck, ...] = attrs.field(converter=_tuple)
    warnings: tuple[str, ...] = attrs.field(default=(), converter=_tuple)

    def __bool__(self) -> bool:
        return self.verified

    @property
    def verified_key_ids(self) -> tuple[str, ...]:
        """The distinct keys (hex key ids) that verified at least one signature, in order."""
        seen: dict[str, None] = {}
        for check in self.signatures:
            if check.ok and check.key_id is not None:
                seen.setdefault(check.key_id, None)
        return tuple(seen)

    def failure_summary(self) -> str:
        """Return one sentence saying why verification failed (or ``"verified"``)."""
        if self.verified:
            return VERIFIED_REASON
        if not self.signatures:
            return f"no signatures found for {self.image}"
        reasons = "; ".join(dict.fromkeys(check.reason for check in self.signatures))
        count = len(self.signatures)
        noun = "signature" if count == 1 else "signatures"
        return f"none of the {count} {noun} found for {self.image} verified: {reasons}"

    def raise_for_failure(self) -> None:
        """Raise when the image did not verify.

        Raises:
            VerificationError: :attr:`verified` is ``False``; the error carries this result
                as ``.result``.
        """
        if not self.verified:
            raise VerificationError(
                self.failure_summary(),
                result=self,
                image=str(self.image),
                digest=str(self.digest),
            )

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict with a stable shape and key order.

        Returns:
            ``{"image", "digest", "verified", "signatures": [...], "warnings": [...]}``; each
            signature as :meth:`SignatureCheck.to_dict`.
        """
        return {
            "image": str(self.image),
            "digest": str(self.digest),
            "verified": self.verified,
            "signatures": [check.to_dict() for check in self.signatures],
            "warnings": list(self.warnings),
        }

    def __repr__(self) -> str:
        return (
            f"VerificationResult(image={str(self.image)!r}, verified={self.verified}, "
            f"signatures={len(self.signatures)}, warnings={len(self.warnings)})"
        )

    def _repr_html_(self) -> str:
        """A small HTML table for Jupyter: the verdict, then one row per signature."""
        verdict = "verified" if self.verified else "NOT verified"
        colour = "#1a7f37" if self.verified else "#cf222e"
        rows = "".join(
            "<tr>"
            f"<td>{'&#10004;' if check.ok else '&#10008;'}</td>"
            f"<td>{html.escape(check.format.value)}</td>"
            f"<td><code>{html.escape((check.key_id or '')[:16])}</code></td>"
            f"<td>{html.escape(check.reason)}</td>"
            f"<td><code>{html.escape(check.location)}</code></td>"
            f"<td>{'' if check.log_index is None else check.log_index}</td>"
            "</tr>"
            for check in self.signatures
        )
        if not rows:
            rows = '<tr><td colspan="6">no signatures found</td></tr>'
        warnings = "".join(f"<li>{html.escape(text)}</li>" for text in self.warnings)
        return (
            f'<div><p><b style="color:{colour}">{verdict}</b> '
            f"<code>{html.escape(str(self.image))}</code></p>"
            "<table><thead><tr><th></th><th>format</th><th>key</th><th>reason</th>"
            "<th>location</th><th>log index</th></tr></thead>"
            f"<tbody>{rows}</tbody></table>"
            + (f"<ul>{warnings}</ul>" if warnings else "")
            + "</div>"
        )


# -- attestations -----------------------------------------------------------------------------


@attrs.frozen
class AttestResult:
    """What :func:`~imagesig.attest_image` did.

    Attributes:
        image: the attested image, pinned to the digest the statement names.
        format: where the attestation was stored.
        predicate_type: the statement's predicate type (a URI).
        statement: the exact statement bytes that were signed (the DSSE payload).
        attestation: the descriptor of the manifest holding the attestation: the referrer
            manifest (bundle format) or the ``sha256-<hex>.att`` manifest as written (legacy).
        log_entry: the transparency-log ``dsse`` entry recording it, verified against the
            trusted root before anything was attached; ``None`` when nothing was logged.
    """

    image: ImageReference
    format: SignatureFormat
    predicate_type: str
    statement: bytes = attrs.field(repr=False)
    attestation: Descriptor
    log_entry: LogEntry | None


class AttestationStatus(enum.Enum):
    """The verdict on one attestation.

    Attributes:
        VERIFIED: it passed every check and is of the predicate type asked for.
        WRONG_TYPE: it passed every check but its predicate type is not the one asked for.
        FAILED: a check failed (the reason says which).
    """

    VERIFIED = "verified"
    WRONG_TYPE = "wrong-type"
    FAILED = "failed"


@attrs.frozen
class AttestationCheck:
    """The verdict on one attestation found for the image.

    Attributes:
        format: where it was found (``BUNDLE``: a referrer bundle; ``LEGACY``: a layer of the
            ``sha256-<hex>.att`` image).
        status: verified, of the wrong type, or failed.
        reason: ``"verified"`` when verified, otherwise a sentence naming the check that
            failed and what was found.
        location: where it was found (the referrer manifest's reference, or the ``.att`` tag
            with the layer number).
        predicate_type: the statement's predicate type, when the statement could be read.
        statement: the statement, when it could be read — also for failed attestations, to
            show what they claim; trust it only when :attr:`ok`.
        key_id: hex SHA-256 of the DER public key that verified the signature; ``None`` when
            none did (or the attestation was refused before that check).
        log_index: index of the transparency-log entry that vouched for it, if one did.
        integrated_time: that entry's integration time (Unix seconds), if one did.
    """

    format: SignatureFormat
    status: AttestationStatus
    reason: str
    location: str
    predicate_type: str | None = None
    statement: Statement | None = attrs.field(default=None, repr=False)
    key_id: str | None = None
    log_index: int | None = None
    integrated_time: int | None = None

    @property
    def ok(self) -> bool:
        """The attestation is verified and of the type asked for."""
        return self.status is AttestationStatus.VERIFIED

    @property
    def predicate(self) -> Any:
        """The statement's predicate as parsed JSON (``None`` without a statement)."""
        return None if self.statement is None else self.statement.predicate

    def typed_predicate(self) -> Predicate | None:
        """The predicate read into its typed view (:mod:`imagesig.signatures.predicates`).

        Returns:
            The view, or ``None`` when there is no statement or its type has no view.
        """
        if self.statement is None:
            return None
        from imagesig.signatures.predicates import predicate_of  # noqa: PLC0415 - lazy

        return predicate_of(self.statement)

    def to_dict(self, *, include_statement: bool = True) -> dict[str, Any]:
        """Return the JSON form (keys in a fixed order).

        Args:
            include_statement: add ``"statement"``: the statement as parsed JSON (``null``
                when it could not be read).
        """
        document: dict[str, Any] = {
            "format": self.format.value,
            "status": self.status.value,
            "ok": self.ok,
            "reason": self.reason,
            "predicate_type": self.predicate_type,
            "key_id": self.key_id,
            "location": self.location,
            "log_index": self.log_index,
            "integrated_time": self.integrated_time,
        }
        if include_statement:
            raw = None if self.statement is None else self.statement.raw
            document["statement"] = None if raw is None else json.loads(raw)
        return document


def _checks(value: Any) -> tuple[AttestationCheck, ...]:
    return tuple(value)


@attrs.frozen(repr=False)
class AttestationVerificationResult:
    """The outcome of verifying an image's attestations.

    Every attestation found is listed with its own verdict. The image passes when at least
    :attr:`threshold` distinct keys verified attestations of the predicate type asked for;
    attestations of other types never count, and asking for a type of which none exists is a
    failure that says which types were found (cosign GHSA-vjxv-45g9-9296).

    Attributes:
        image: the reference asked for, pinned to :attr:`digest`.
        digest: the manifest digest whose attestations were checked.
        predicate_type: the predicate type asked for (a URI); ``None`` means any type.
        verified: enough attestations of that type verified.
        attestations: one check per distinct attestation found, bundles first, then ``.att``
            layers.
        warnings: what the caller should know although it did not decide the outcome.
        threshold: how many distinct keys had to verify an attestation.
    """

    image: ImageReference
    digest: Digest
    predicate_type: str | None
    verified: bool
    attestations: tuple[AttestationCheck, ...] = attrs.field(converter=_checks)
    warnings: tuple[str, ...] = attrs.field(default=(), converter=_tuple)
    threshold: int = 1

    def __bool__(self) -> bool:
        return self.verified

    @property
    def verified_attestations(self) -> tuple[AttestationCheck, ...]:
        """The attestations that verified and are of the type asked for, in order."""
        return tuple(check for check in self.attestations if check.ok)

    @property
    def statements(self) -> tuple[Statement, ...]:
        """The statements of :attr:`verified_attestations` (the only ones to act on)."""
        return tuple(
            check.statement for check in self.verified_attestations if check.statement is not None
        )

    def predicates(self) -> tuple[Any, ...]:
        """The predicates of :attr:`statements`, as parsed JSON."""
        return tuple(statement.predicate for statement in self.statements)

    def typed_predicates(self) -> tuple[Predicate, ...]:
        """The predicates of :attr:`statements` that have a typed view, read into it."""
        views = (check.typed_predicate() for check in self.verified_attestations)
        return tuple(view for view in views if view is not None)

    @property
    def verified_key_ids(self) -> tuple[str, ...]:
        """The distinct keys (hex key ids) that verified an attestation of the type asked
        for, in order; :attr:`threshold` counts these."""
        seen: dict[str, None] = {}
        for check in self.verified_attestations:
            if check.key_id is not None:
                seen.setdefault(check.key_id, None)
        return tuple(seen)

    def _wanted(self) -> str:
        return "" if self.predicate_type is None else f" of type {self.predicate_type}"

    def failure_summary(self) -> str:
        """Return one sentence saying why verification failed (or ``"verified"``)."""
        if self.verified:
            return VERIFIED_REASON
        if not self.attestations:
            return f"no attestations found for {self.image}"
        wanted = self._wanted()
        if self.predicate_type is not None and not any(
            check.predicate_type == self.predicate_type for check in self.attestations
        ):
            found = [c.predicate_type for c in self.attestations if c.predicate_type is not None]
            unreadable = len(self.attestations) - len(found)
            parts = [", ".join(dict.fromkeys(found))] if found else []
            if unreadable:
                parts.append(f"{unreadable} that could not be read")
            return f"no attestation{wanted} found for {self.image}; found only " + " and ".join(
                parts
            )
        if self.verified_attestations:
            count = len(self.verified_key_ids)
            return (
                f"attestations{wanted} for {self.image} verified with {count} distinct "
                f"key{'' if count == 1 else 's'}, fewer than the threshold of {self.threshold}"
            )
        relevant = [c for c in self.attestations if c.predicate_type in (None, self.predicate_type)]
        if self.predicate_type is None:
            relevant = list(self.attestations)
        reasons = "; ".join(dict.fromkeys(check.reason for check in relevant))
        count = len(relevant)
        noun = "attestation" if count == 1 else "attestations"
        return f"none of the {count} {noun}{wanted} found for {self.image} verified: {reasons}"

    def raise_for_failure(self) -> None:
        """Raise when the image's attestations did not verify.

        Raises:
            AttestationVerificationError: :attr:`verified` is ``False``; the error carries
                this result as ``.attestation_result``.
        """
        if not self.verified:
            raise AttestationVerificationError(
                self.failure_summary(),
                attestation_result=self,
                image=str(self.image),
                digest=str(self.digest),
                predicate_type=self.predicate_type,
            )

    def to_dict(self, *, include_statements: bool = True) -> dict[str, Any]:
        """Return a JSON-ready dict with a stable shape and key order.

        Args:
            include_statements: include each attestation's statement (parsed JSON).

        Returns:
            ``{"image", "digest", "predicate_type", "verified", "threshold",
            "verified_key_ids", "attestations": [...], "warnings": [...]}``; each attestation
            as :meth:`AttestationCheck.to_dict`.
        """
        return {
            "image": str(self.image),
            "digest": str(self.digest),
            "predicate_type": self.predicate_type,
            "verified": self.verified,
            "threshold": self.threshold,
            "verified_key_ids": list(self.verified_key_ids),
            "attestations": [
                check.to_dict(include_statement=include_statements) for check in self.attestations
            ],
            "warnings": list(self.warnings),
        }

    def __repr__(self) -> str:
        return (
            f"AttestationVerificationResult(image={str(self.image)!r}, "
            f"predicate_type={self.predicate_type!r}, verified={self.verified}, "
            f"attestations={len(self.attestations)}, warnings={len(self.warnings)})"
        )

    def _repr_html_(self) -> str:
        """A small HTML table for Jupyter: the verdict, then one row per attestation."""
        verdict = "verified" if self.verified else "NOT verified"
        colour = "#1a7f37" if self.verified else "#cf222e"
        rows = "".join(
            "<tr>"
            f"<td>{'&#10004;' if check.ok else '&#10008;'}</td>"
            f"<td>{html.escape(check.format.value)}</td>"
            f"<td><code>{html.escape(check.predicate_type or '')}</code></td>"
            f"<td><code>{html.escape((check.key_id or '')[:16])}</code></td>"
            f"<td>{html.escape(check.reason)}</td>"
            f"<td><code>{html.escape(check.location)}</code></td>"
            "</tr>"
            for check in self.attestations
        )
        if not rows:
            rows = '<tr><td colspan="6">no attestations found</td></tr>'
        warnings = "".join(f"<li>{html.escape(text)}</li>" for text in self.warnings)
        return (
            f'<div><p><b style="color:{colour}">{verdict}</b> '
            f"<code>{html.escape(str(self.image))}</code>{html.escape(self._wanted())}</p>"
            "<table><thead><tr><th></th><th>format</th><th>predicate type</th><th>key</th>"
            "<th>reason</th><th>location</th></tr></thead>"
            f"<tbody>{rows}</tbody></table>"
            + (f"<ul>{warnings}</ul>" if warnings else "")
            + "</div>"
        )
